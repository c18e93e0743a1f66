//! Sample statistics (`stats` on the query API) against Prometheus' `TestQueryStatistics`
//! (`promql/engine_test.go`): its data and queries, its expected totals and samples read, each
//! also per step; where our engine counts otherwise, our value and the reason beside them.

use promql::promqltest::{parse_script, Command, ScriptStorage};
use promql::{Engine, EngineOptions, SampleStats};

const LOAD: &str = r#"
load 10s
  metricWith1SampleEvery10Seconds 1+1x100
  metricWith3SampleEvery10Seconds{a="1",b="1"} 1+1x100
  metricWith3SampleEvery10Seconds{a="2",b="2"} 1+1x100
  metricWith3SampleEvery10Seconds{a="3",b="2"} 1+1x100
  metricWith1HistogramEvery10Seconds {{schema:1 count:5 sum:20 buckets:[1 2 1 1]}}+{{schema:1 count:10 sum:5 buckets:[1 2 3 4]}}x100
"#;

/// Where we count otherwise than Prometheus: our total, per-step totals and samples read, and why.
struct Ours {
    total: u64,
    per_step: &'static [(i64, u64)],
    read: u64,
    read_per_step: &'static [(i64, u64)],
    why: &'static str,
}

struct Case {
    query: &'static str,
    start_s: i64,
    end_s: i64,
    /// 0: an instant query at `start_s`.
    step_s: i64,
    /// Prometheus' `TotalSamples`, `TotalSamplesPerStep`, `SamplesRead` and `SamplesReadPerStep`.
    total: u64,
    per_step: &'static [(i64, u64)],
    read: u64,
    read_per_step: &'static [(i64, u64)],
    ours: Option<Ours>,
}

fn storage() -> ScriptStorage {
    let mut storage = ScriptStorage::default();
    for command in parse_script(LOAD) {
        if let Command::Load { series } = command {
            series.into_iter().for_each(|s| storage.load(s));
        }
    }
    storage
}

fn stats_of(storage: &ScriptStorage, options: EngineOptions, query: &str, start_s: i64, end_s: i64, step_s: i64) -> SampleStats {
    let engine = Engine::new(options);
    let prepared = if step_s == 0 {
        engine.prepare_instant(query, start_s * 1000)
    } else {
        engine.prepare_range(query, start_s * 1000, end_s * 1000, step_s * 1000)
    };
    let result = prepared.unwrap_or_else(|e| panic!("{query}: {e}")).with_sample_stats().execute(storage).unwrap_or_else(|e| panic!("{query}: {e}"));
    result.stats.unwrap_or_else(|| panic!("{query}: no stats")).samples
}

#[test]
fn sample_counts_match_prometheus_test_query_statistics() {
    let storage = storage();
    let mut wrong = Vec::new();
    for case in CASES {
        let got = stats_of(&storage, EngineOptions::default(), case.query, case.start_s, case.end_s, case.step_s);
        let (total, per_step, read, read_per_step) = match &case.ours {
            Some(ours) => {
                assert!(!ours.why.is_empty());
                (ours.total, ours.per_step, ours.read, ours.read_per_step)
            }
            None => (case.total, case.per_step, case.read, case.read_per_step),
        };
        let got_tuple = (got.total_queryable_samples, got.total_queryable_samples_per_step.as_slice(), got.samples_read, got.samples_read_per_step.as_slice());
        if got_tuple != (total, per_step, read, read_per_step) {
            wrong.push(format!(
                "{} @ {}..{} step {}: got total {} per step {:?} read {} per step {:?}; want total {} per step {:?} read {} per step {:?}",
                case.query,
                case.start_s,
                case.end_s,
                case.step_s,
                got.total_queryable_samples,
                got.total_queryable_samples_per_step,
                got.samples_read,
                got.samples_read_per_step,
                total,
                per_step,
                read,
                read_per_step
            ));
        }
    }
    assert!(wrong.is_empty(), "{} of {} cases differ:\n{}", wrong.len(), CASES.len(), wrong.join("\n"));
}

#[test]
fn series_major_and_step_major_evaluation_count_the_same() {
    let storage = storage();
    let series_major = EngineOptions { series_major: true, ..EngineOptions::default() };
    let step_major = EngineOptions { series_major: false, ..EngineOptions::default() };
    for query in [
        "sum(rate(metricWith3SampleEvery10Seconds[1m]))",
        "sum by (b) (metricWith3SampleEvery10Seconds)",
        "max(count_over_time(metricWith3SampleEvery10Seconds[35s]))",
        "avg(metricWith1SampleEvery10Seconds offset 30s)",
        "sum(rate(metricWith1HistogramEvery10Seconds[1m]))",
        "sum(rate(metricWith3SampleEvery10Seconds[1m] @ 100))",
        "min(metricWith3SampleEvery10Seconds @ 150)",
    ] {
        for (start_s, end_s, step_s) in [(201, 220, 5), (100, 400, 60), (0, 30, 7)] {
            let a = stats_of(&storage, series_major.clone(), query, start_s, end_s, step_s);
            let b = stats_of(&storage, step_major.clone(), query, start_s, end_s, step_s);
            assert_eq!(a.total_queryable_samples_per_step, b.total_queryable_samples_per_step, "{query} {start_s}..{end_s}/{step_s}");
            assert_eq!((a.total_queryable_samples, a.samples_read), (b.total_queryable_samples, b.samples_read), "{query}");
            assert_eq!(a.samples_read_per_step, b.samples_read_per_step, "{query} {start_s}..{end_s}/{step_s}");
            assert!(a.total_queryable_samples > 0 || start_s == 0, "{query}");
        }
    }
}

#[test]
fn peak_samples_are_the_fetched_samples_plus_the_result_points() {
    let storage = storage();
    let options = EngineOptions::default;
    // The test storage answers an instant selector with its whole lookback window (3 samples
    // by 21 s; a shard would send the last one only) and the result holds 1.
    assert_eq!(stats_of(&storage, options(), "metricWith1SampleEvery10Seconds", 21, 21, 0).peak_samples, 3 + 1);
    // A range selector over 1m fetches 6 samples per series; the result holds them again.
    assert_eq!(stats_of(&storage, options(), "metricWith3SampleEvery10Seconds[1m]", 200, 200, 0).peak_samples, 3 * 6 + 3 * 6);
    // sum(rate(x[1m])) over 3 steps: the select reads (140, 220], 8 samples per series,
    // and the result is one series of 3 points.
    assert_eq!(stats_of(&storage, options(), "sum(rate(metricWith3SampleEvery10Seconds[1m]))", 200, 220, 10).peak_samples, 3 * 8 + 3);
    // A number fetches nothing: its one point.
    assert_eq!(stats_of(&storage, options(), "1", 21, 21, 0).peak_samples, 1);
}

/// MetricsQL's `default` after a comparison with a scalar reads the compared selector once
/// per step, as the selector alone does (it notes the series the comparison filters away
/// from the same evaluation).
#[test]
fn default_after_a_scalar_comparison_reads_its_selector_once() {
    let storage = storage();
    let options = EngineOptions::default;
    for (start_s, end_s, step_s) in [(201, 220, 5), (100, 400, 60), (21, 21, 0)] {
        let alone = stats_of(&storage, options(), "metricWith3SampleEvery10Seconds", start_s, end_s, step_s);
        for query in ["(metricWith3SampleEvery10Seconds > 100) default 0", "(7 < metricWith3SampleEvery10Seconds) default -1"] {
            let filled = stats_of(&storage, options(), query, start_s, end_s, step_s);
            assert!(alone.total_queryable_samples > 0, "{query}");
            assert_eq!(filled.total_queryable_samples, alone.total_queryable_samples, "{query} {start_s}..{end_s}/{step_s}");
            assert_eq!(filled.samples_read, alone.samples_read, "{query} {start_s}..{end_s}/{step_s}");
        }
    }
}

/// Without `with_sample_stats` nothing is counted or reported.
#[test]
fn stats_are_absent_unless_asked_for() {
    let storage = storage();
    let engine = Engine::new(EngineOptions::default());
    let result = engine.prepare_instant("metricWith1SampleEvery10Seconds", 21_000).unwrap().execute(&storage).unwrap();
    assert!(result.stats.is_none());
}

const CASES: &[Case] = &[
    Case { query: "\"literal string\"", start_s: 21, end_s: 21, step_s: 0, total: 0, per_step: &[(21000, 0)], read: 0, read_per_step: &[(21000, 0)], ours: None },
    Case { query: "1", start_s: 21, end_s: 21, step_s: 0, total: 0, per_step: &[(21000, 0)], read: 0, read_per_step: &[(21000, 0)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "metricWith1HistogramEvery10Seconds", start_s: 21, end_s: 21, step_s: 0, total: 13, per_step: &[(21000, 13)], read: 13, read_per_step: &[(21000, 13)], ours: None },
    Case { query: "timestamp(metricWith1SampleEvery10Seconds)", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "timestamp(metricWith1HistogramEvery10Seconds)", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds", start_s: 22, end_s: 22, step_s: 0, total: 1, per_step: &[(22000, 1)], read: 1, read_per_step: &[(22000, 1)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds offset 10s", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds @ 15", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds{a=\"1\"}", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds{a=\"1\"} @ 19", start_s: 21, end_s: 21, step_s: 0, total: 1, per_step: &[(21000, 1)], read: 1, read_per_step: &[(21000, 1)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds{a=\"1\"}[20s] @ 19", start_s: 21, end_s: 21, step_s: 0, total: 2, per_step: &[(21000, 2)], read: 2, read_per_step: &[(21000, 2)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds", start_s: 21, end_s: 21, step_s: 0, total: 3, per_step: &[(21000, 3)], read: 3, read_per_step: &[(21000, 3)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds[60s]", start_s: 201, end_s: 201, step_s: 0, total: 6, per_step: &[(201000, 6)], read: 6, read_per_step: &[(201000, 6)], ours: None },
    Case { query: "metricWith1HistogramEvery10Seconds[60s]", start_s: 201, end_s: 201, step_s: 0, total: 78, per_step: &[(201000, 78)], read: 78, read_per_step: &[(201000, 78)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[60s])[20s:5s]", start_s: 201, end_s: 201, step_s: 0, total: 24, per_step: &[(201000, 24)], read: 8, read_per_step: &[(201000, 8)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[61s])[20s:5s]", start_s: 201, end_s: 201, step_s: 0, total: 26, per_step: &[(201000, 26)], read: 8, read_per_step: &[(201000, 8)], ours: None },
    Case { query: "max_over_time(metricWith1HistogramEvery10Seconds[60s])[20s:5s]", start_s: 201, end_s: 201, step_s: 0, total: 312, per_step: &[(201000, 312)], read: 104, read_per_step: &[(201000, 104)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds[60s] @ 30", start_s: 201, end_s: 201, step_s: 0, total: 4, per_step: &[(201000, 4)], read: 4, read_per_step: &[(201000, 4)], ours: None },
    Case { query: "metricWith1HistogramEvery10Seconds[60s] @ 30", start_s: 201, end_s: 201, step_s: 0, total: 52, per_step: &[(201000, 52)], read: 52, read_per_step: &[(201000, 52)], ours: None },
    Case { query: "sum(max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))", start_s: 201, end_s: 201, step_s: 0, total: 12, per_step: &[(201000, 12)], read: 12, read_per_step: &[(201000, 12)], ours: None },
    Case { query: "sum by (b) (max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30))", start_s: 201, end_s: 201, step_s: 0, total: 12, per_step: &[(201000, 12)], read: 12, read_per_step: &[(201000, 12)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds[60s] offset 10s", start_s: 201, end_s: 201, step_s: 0, total: 6, per_step: &[(201000, 6)], read: 6, read_per_step: &[(201000, 6)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds[60s]", start_s: 201, end_s: 201, step_s: 0, total: 18, per_step: &[(201000, 18)], read: 18, read_per_step: &[(201000, 18)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[60s])", start_s: 201, end_s: 201, step_s: 0, total: 6, per_step: &[(201000, 6)], read: 6, read_per_step: &[(201000, 6)], ours: None },
    Case { query: "absent_over_time(metricWith1SampleEvery10Seconds[60s])", start_s: 201, end_s: 201, step_s: 0, total: 6, per_step: &[(201000, 6)], read: 6, read_per_step: &[(201000, 6)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s])", start_s: 201, end_s: 201, step_s: 0, total: 18, per_step: &[(201000, 18)], read: 18, read_per_step: &[(201000, 18)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds[60s:5s]", start_s: 201, end_s: 201, step_s: 0, total: 12, per_step: &[(201000, 12)], read: 12, read_per_step: &[(201000, 12)], ours: None },
    Case { query: "metricWith1SampleEvery10Seconds[60s:5s] offset 10s", start_s: 201, end_s: 201, step_s: 0, total: 12, per_step: &[(201000, 12)], read: 12, read_per_step: &[(201000, 12)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", start_s: 201, end_s: 201, step_s: 0, total: 36, per_step: &[(201000, 36)], read: 36, read_per_step: &[(201000, 36)], ours: None },
    Case { query: "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))", start_s: 201, end_s: 201, step_s: 0, total: 72, per_step: &[(201000, 72)], read: 72, read_per_step: &[(201000, 72)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds{a=\"1\"}", start_s: 201, end_s: 220, step_s: 5, total: 4, per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], read: 4, read_per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds{a=\"1\"}", start_s: 204, end_s: 223, step_s: 5, total: 4, per_step: &[(204000, 1), (209000, 1), (214000, 1), (219000, 1)], read: 4, read_per_step: &[(204000, 1), (209000, 1), (214000, 1), (219000, 1)], ours: None },
    Case { query: "metricWith1HistogramEvery10Seconds", start_s: 204, end_s: 223, step_s: 5, total: 52, per_step: &[(204000, 13), (209000, 13), (214000, 13), (219000, 13)], read: 52, read_per_step: &[(204000, 13), (209000, 13), (214000, 13), (219000, 13)], ours: None },
    Case { query: "timestamp(metricWith1SampleEvery10Seconds)", start_s: 201, end_s: 220, step_s: 5, total: 4, per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], read: 4, read_per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], ours: None },
    Case { query: "timestamp(metricWith1HistogramEvery10Seconds)", start_s: 201, end_s: 220, step_s: 5, total: 4, per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], read: 4, read_per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds{a=\"1\"}[10s])", start_s: 991, end_s: 1021, step_s: 10, total: 2, per_step: &[(991000, 1), (1001000, 1), (1011000, 0), (1021000, 0)], read: 2, read_per_step: &[(991000, 1), (1001000, 1), (1011000, 0), (1021000, 0)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds{a=\"1\"} offset 10s", start_s: 201, end_s: 220, step_s: 5, total: 4, per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], read: 4, read_per_step: &[(201000, 1), (206000, 1), (211000, 1), (216000, 1)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s] @ 30)", start_s: 201, end_s: 220, step_s: 5, total: 48, per_step: &[(201000, 12), (206000, 12), (211000, 12), (216000, 12)], read: 12, read_per_step: &[(201000, 12), (206000, 0), (211000, 0), (216000, 0)], ours: None },
    Case { query: "metricWith3SampleEvery10Seconds", start_s: 201, end_s: 220, step_s: 5, total: 12, per_step: &[(201000, 3), (206000, 3), (211000, 3), (216000, 3)], read: 12, read_per_step: &[(201000, 3), (206000, 3), (211000, 3), (216000, 3)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s])", start_s: 201, end_s: 220, step_s: 5, total: 72, per_step: &[(201000, 18), (206000, 18), (211000, 18), (216000, 18)], read: 21, read_per_step: &[(201000, 18), (206000, 0), (211000, 3), (216000, 0)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", start_s: 201, end_s: 216, step_s: 5, total: 144, per_step: &[(201000, 36), (206000, 36), (211000, 36), (216000, 36)], read: 45, read_per_step: &[(201000, 36), (206000, 3), (211000, 3), (216000, 3)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s:5s])", start_s: 201, end_s: 220, step_s: 5, total: 144, per_step: &[(201000, 36), (206000, 36), (211000, 36), (216000, 36)], read: 45, read_per_step: &[(201000, 36), (206000, 3), (211000, 3), (216000, 3)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[60s:5s])", start_s: 201, end_s: 220, step_s: 5, total: 48, per_step: &[(201000, 12), (206000, 12), (211000, 12), (216000, 12)], read: 15, read_per_step: &[(201000, 12), (206000, 1), (211000, 1), (216000, 1)], ours: None },
    Case { query: "sum by (b) (max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))", start_s: 201, end_s: 220, step_s: 5, total: 48, per_step: &[(201000, 12), (206000, 12), (211000, 12), (216000, 12)], read: 15, read_per_step: &[(201000, 12), (206000, 1), (211000, 1), (216000, 1)], ours: None },
    Case { query: "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s]))", start_s: 201, end_s: 220, step_s: 5, total: 288, per_step: &[(201000, 72), (206000, 72), (211000, 72), (216000, 72)], read: 90, read_per_step: &[(201000, 72), (206000, 6), (211000, 6), (216000, 6)], ours: None },
    Case { query: "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))", start_s: 201, end_s: 216, step_s: 5, total: 192, per_step: &[(201000, 48), (206000, 48), (211000, 48), (216000, 48)], read: 60, read_per_step: &[(201000, 48), (206000, 4), (211000, 4), (216000, 4)], ours: None },
    Case { query: "sum(max_over_time(metricWith3SampleEvery10Seconds[60s:5s])) + sum(max_over_time(metricWith1SampleEvery10Seconds[60s:5s]))", start_s: 201, end_s: 220, step_s: 5, total: 192, per_step: &[(201000, 48), (206000, 48), (211000, 48), (216000, 48)], read: 60, read_per_step: &[(201000, 48), (206000, 4), (211000, 4), (216000, 4)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[20s:10s])", start_s: 201, end_s: 201, step_s: 0, total: 2, per_step: &[(201000, 2)], read: 2, read_per_step: &[(201000, 2)], ours: None },
    Case { query: "sum_over_time(metricWith1SampleEvery10Seconds[30s:30s])", start_s: 90, end_s: 90, step_s: 0, total: 1, per_step: &[(90000, 1)], read: 1, read_per_step: &[(90000, 1)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[30s:2m])", start_s: 240, end_s: 240, step_s: 0, total: 1, per_step: &[(240000, 1)], read: 1, read_per_step: &[(240000, 1)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[30s:10s])", start_s: 201, end_s: 231, step_s: 30, total: 6, per_step: &[(201000, 3), (231000, 3)], read: 6, read_per_step: &[(201000, 3), (231000, 3)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[20s:10s])", start_s: 201, end_s: 261, step_s: 10, total: 14, per_step: &[(201000, 2), (211000, 2), (221000, 2), (231000, 2), (241000, 2), (251000, 2), (261000, 2)], read: 8, read_per_step: &[(201000, 2), (211000, 1), (221000, 1), (231000, 1), (241000, 1), (251000, 1), (261000, 1)], ours: None },
    Case { query: "max_over_time(metricWith1SampleEvery10Seconds[30s:10s])", start_s: 201, end_s: 261, step_s: 60, total: 6, per_step: &[(201000, 3), (261000, 3)], read: 6, read_per_step: &[(201000, 3), (261000, 3)], ours: None },
    Case { query: "histogram_count(max_over_time(metricWith1HistogramEvery10Seconds[20s:10s]))", start_s: 201, end_s: 201, step_s: 0, total: 26, per_step: &[(201000, 26)], read: 26, read_per_step: &[(201000, 26)], ours: None },
    Case { query: "avg_over_time(metricWith1HistogramEvery10Seconds[2m:1m])", start_s: 120, end_s: 240, step_s: 60, total: 78, per_step: &[(120000, 26), (180000, 26), (240000, 26)], read: 52, read_per_step: &[(120000, 26), (180000, 13), (240000, 13)], ours: None },
    Case { query: "max_over_time(metricWith3SampleEvery10Seconds[60s:10s])", start_s: 200, end_s: 400, step_s: 30, total: 126, per_step: &[(200000, 18), (230000, 18), (260000, 18), (290000, 18), (320000, 18), (350000, 18), (380000, 18)], read: 72, read_per_step: &[(200000, 18), (230000, 9), (260000, 9), (290000, 9), (320000, 9), (350000, 9), (380000, 9)], ours: None },
    Case { query: "predict_linear(metricWith1SampleEvery10Seconds[60s] @ 100, 60)", start_s: 100, end_s: 300, step_s: 100, total: 18, per_step: &[(100000, 6), (200000, 6), (300000, 6)], read: 6, read_per_step: &[(100000, 6), (200000, 0), (300000, 0)], ours: None },
    Case { query: "sum_over_time(metricWith3SampleEvery10Seconds[20s:10s] @ 200)", start_s: 250, end_s: 250, step_s: 0, total: 6, per_step: &[(250000, 6)], read: 6, read_per_step: &[(250000, 6)], ours: None },
    Case { query: "sum_over_time(metricWith1SampleEvery10Seconds[20s:10s] offset 1m)", start_s: 240, end_s: 240, step_s: 0, total: 2, per_step: &[(240000, 2)], read: 2, read_per_step: &[(240000, 2)], ours: None },
    Case { query: "sum_over_time(metricWith3SampleEvery10Seconds[1m:10s] @ 200 offset 1m)", start_s: 300, end_s: 300, step_s: 0, total: 18, per_step: &[(300000, 18)], read: 18, read_per_step: &[(300000, 18)], ours: None },
    Case { query: "sum_over_time(max_over_time(metricWith3SampleEvery10Seconds[60s] @ 300)[5m:1m] @ 600)[10m:2m]", start_s: 800, end_s: 800, step_s: 0, total: 75, per_step: &[(800000, 75)], read: 18, read_per_step: &[(800000, 18)], ours: None },
    Case { query: "rate(sum_over_time(metricWith1SampleEvery10Seconds[30s])[1m:30s])", start_s: 240, end_s: 240, step_s: 0, total: 2, per_step: &[(240000, 2)], read: 6, read_per_step: &[(240000, 6)], ours: None },
];
