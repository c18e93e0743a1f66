//! Start times in `rate`, `increase`, `irate`, `resets` and `start_timestamp`: the predicates
//! alone, then whole queries over series with start times (values worked out by hand).

use std::sync::Arc;

use tsdb::{CounterResetHint, FloatHistogram, HistogramSample, Labels, Sample, SampleStarts, SeriesSamples};

use super::{is_start_reset, start_overlaps};
use crate::engine::{Engine, EngineOptions, QueryResult, Value};
use crate::promqltest::ScriptStorage;

const S: i64 = 1000;

#[test]
fn resets_and_overlaps_by_start_time() {
    // (previous start, previous time, current start, current time, reset, overlap)
    let cases: &[(i64, i64, i64, i64, bool, bool)] = &[
        (0, 60 * S, 0, 120 * S, false, false),             // no start times
        (10 * S, 60 * S, 10 * S, 120 * S, false, false),   // cumulative, one start
        (10 * S, 60 * S, 90 * S, 120 * S, true, false),    // restarted after the previous sample
        (50 * S, 60 * S, 60 * S, 120 * S, true, false),    // delta: starts at the previous sample
        (0, 60 * S, 60 * S, 120 * S, false, false),        // cumulative of unknown start (OTel)
        (60 * S, 60 * S, 60 * S, 120 * S, false, false),   // the previous start was unknown too
        (70 * S, 60 * S, 60 * S, 120 * S, false, false),   // an invalid previous start is unknown
        (10 * S, 60 * S, 120 * S, 120 * S, false, false),  // start at the sample: unknown
        (10 * S, 60 * S, 130 * S, 120 * S, false, false),  // start after the sample: invalid
        (10 * S, 60 * S, 20 * S, 120 * S, false, true),    // reaches back over the previous sample
        (0, 60 * S, 20 * S, 120 * S, false, true),         // the same after a sample without start
    ];
    for &(previous_start, previous_ms, current_start, current_ms, reset, overlap) in cases {
        let case = (previous_start, previous_ms, current_start, current_ms);
        assert_eq!(is_start_reset(previous_start, previous_ms, current_start, current_ms), reset, "reset {case:?}");
        assert_eq!(start_overlaps(previous_start, previous_ms, current_start), overlap, "overlap {case:?}");
    }
}

/// A series `{__name__=name, case=case}` of floats at (seconds, value, start in ms; 0: none).
fn floats(name: &str, case: &str, points: &[(i64, f64, i64)]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name), ("case", case)]),
        samples: points.iter().map(|&(t, value, _)| Sample { timestamp_ms: t * S, value }).collect(),
        histograms: Vec::new(),
        starts: Some(Box::new(SampleStarts { floats: points.iter().map(|p| p.2).collect(), histograms: Vec::new() })),
    }
}

/// A series of native histograms of `count` observations summing to `count`, at (seconds, count,
/// start in ms).
fn histograms(name: &str, points: &[(i64, f64, i64)]) -> SeriesSamples {
    let histogram = |count: f64| Arc::new(FloatHistogram { count, sum: count, ..FloatHistogram::default() });
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name)]),
        samples: Vec::new(),
        histograms: points.iter().map(|&(t, count, _)| HistogramSample { timestamp_ms: t * S, histogram: histogram(count) }).collect(),
        starts: Some(Box::new(SampleStarts { floats: Vec::new(), histograms: points.iter().map(|p| p.2).collect() })),
    }
}

fn storage(series: Vec<SeriesSamples>) -> ScriptStorage {
    let mut storage = ScriptStorage::default();
    for s in series {
        storage.load(s);
    }
    storage
}

fn engine(use_start_timestamps: bool) -> Engine {
    Engine::new(EngineOptions { use_start_timestamps, ..EngineOptions::default() })
}

fn instant(data: &ScriptStorage, query: &str, t_s: i64, use_start_timestamps: bool) -> QueryResult {
    let prepared = engine(use_start_timestamps).prepare_instant(query, t_s * S).unwrap_or_else(|e| panic!("{query}: {e}"));
    prepared.execute(data).unwrap_or_else(|e| panic!("{query}: {e}"))
}

/// The floats of an instant query's vector, by the `case` label (or the whole labels).
fn values(data: &ScriptStorage, query: &str, t_s: i64, use_start_timestamps: bool) -> Vec<(String, f64)> {
    match instant(data, query, t_s, use_start_timestamps).value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.get("case").map_or_else(|| s.labels.to_string(), str::to_string), s.value)).collect(),
        other => panic!("{query}: expected a vector, got {other:?}"),
    }
}

/// The one histogram an instant query gives.
fn histogram(data: &ScriptStorage, query: &str, t_s: i64) -> FloatHistogram {
    match instant(data, query, t_s, true).value {
        Value::Vector(v) if v.len() == 1 => v[0].histogram.as_deref().cloned().unwrap_or_else(|| panic!("{query}: a float, not a histogram")),
        other => panic!("{query}: expected one histogram, got {other:?}"),
    }
}

fn one(case: &str, value: f64) -> Vec<(String, f64)> {
    vec![(case.to_string(), value)]
}

/// 20, 30, 40 at 2, 3 and 4 minutes; the sample at 3 m restarted at 150 s (no drop in value).
fn restarted() -> SeriesSamples {
    floats("x_total", "restarted", &[(120, 20.0, 30 * S), (180, 30.0, 150 * S), (240, 40.0, 150 * S)])
}

#[test]
fn a_start_after_the_previous_sample_is_a_reset_inside_the_range() {
    let data = storage(vec![restarted()]);
    // Window (60 s, 240 s]: 40 - 20, plus the 20 before the reset = 40; the first start lies
    // before the window, so it extrapolates as usual: 60 s to the left of 120 s sampled (the
    // zero point, 120 s * 20/40 = 60 s, is no closer), none to the right: x 1.5.
    assert_eq!(values(&data, "increase(x_total[3m])", 240, true), one("restarted", 60.0));
    assert_eq!(values(&data, "rate(x_total[3m])", 240, true), one("restarted", 40.0 * (1.5 / 180.0)));
    // Off, the start times are not read: 20, extrapolated x 1.5.
    assert_eq!(values(&data, "increase(x_total[3m])", 240, false), one("restarted", 30.0));
    // A subquery's values have no start times: the same as off.
    assert_eq!(values(&data, "increase(x_total[3m:1m])", 240, true), one("restarted", 30.0));
    // Range queries of aggregations (series-major) read them as well.
    let range = engine(true).prepare_range("sum(increase(x_total[3m]))", 240 * S, 300 * S, 60 * S).and_then(|q| q.execute(&data));
    match range.map(|r| r.value) {
        Ok(Value::Matrix(m)) => assert_eq!(m[0].samples[0], Sample { timestamp_ms: 240 * S, value: 60.0 }),
        other => panic!("expected a matrix, got {other:?}"),
    }
}

#[test]
fn the_first_start_inside_the_range_replaces_extrapolation_to_the_left() {
    // 2, 3, 4 at 2, 3 and 4 minutes, the first with a start (the others with none, which says
    // nothing about resets); window (60 s, 240 s].
    let series = |case: &str, start_ms: i64| floats("y_total", case, &[(120, 2.0, start_ms), (180, 3.0, 0), (240, 4.0, 0)]);
    let data = storage(vec![
        series("inside", 90 * S),
        series("at_range_start", 60 * S),
        series("before_range", 30 * S),
        series("at_sample", 120 * S),
        series("after_sample", 121 * S),
        floats("y_total", "none", &[(120, 2.0, 0), (180, 3.0, 0), (240, 4.0, 0)]),
    ]);
    let got = values(&data, "increase(y_total[3m])", 240, true);
    // Inside: the counter was 0 at 90 s, so 4 - 0 over exactly the 150 s sampled from the start
    // (no extrapolation to the left; none to the right, the last sample ends the window).
    // Otherwise 4 - 2 extrapolated 60 s to the left of 120 s sampled: 3.
    let want: Vec<(String, f64)> =
        [("inside", 4.0), ("at_range_start", 3.0), ("before_range", 3.0), ("at_sample", 3.0), ("after_sample", 3.0), ("none", 3.0)].iter().map(|(c, v)| (c.to_string(), *v)).collect();
    assert_eq!(got, want);
    assert_eq!(values(&data, "increase(y_total[3m])", 240, false).iter().map(|p| p.1).collect::<Vec<_>>(), vec![3.0; 6]);
}

#[test]
fn a_single_sample_gives_a_rate_only_from_a_start_inside_the_range() {
    let data = storage(vec![floats("z_total", "inside", &[(240, 3.0, 150 * S)]), floats("z_total", "outside", &[(240, 3.0, 30 * S)])]);
    // 3 counted from 150 s to 240 s, nothing to extrapolate either way.
    assert_eq!(values(&data, "increase(z_total[3m])", 240, true), one("inside", 3.0));
    assert_eq!(values(&data, "rate(z_total[3m])", 240, true), one("inside", 3.0 / 180.0));
    assert!(values(&data, "increase(z_total[3m])", 240, false).is_empty());
}

#[test]
fn irate_takes_a_reset_by_start_time() {
    // 50 then 90: a restart at 150 s makes 90 the increase over the last 60 s.
    let data = storage(vec![floats("w_total", "a", &[(60, 10.0, 5 * S), (120, 50.0, 5 * S), (180, 90.0, 150 * S)])]);
    assert_eq!(values(&data, "irate(w_total[2m])", 180, true), one("a", 1.5));
    assert_eq!(values(&data, "irate(w_total[2m])", 180, false), one("a", 40.0 / 60.0));
    // idelta reads no start times.
    assert_eq!(values(&data, "idelta(w_total[2m])", 180, true), one("a", 40.0));
}

#[test]
fn resets_counts_restarts_by_start_time() {
    // Restart at 180 s (start after the previous sample), a drop at 240 s, and at 300 s a delta
    // sample (starting at the previous one, which had a start of its own).
    let series = floats("v_total", "a", &[(60, 1.0, 10 * S), (120, 2.0, 10 * S), (180, 3.0, 150 * S), (240, 1.0, 150 * S), (300, 2.0, 240 * S)]);
    let data = storage(vec![series]);
    assert_eq!(values(&data, "resets(v_total[5m])", 300, true), one("a", 3.0));
    assert_eq!(values(&data, "resets(v_total[5m])", 300, false), one("a", 1.0));
    // Anchored at the last sample before the range (60 s), the same three.
    assert_eq!(values(&data, "resets(v_total[4m] anchored)", 300, true), one("a", 3.0));
}

#[test]
fn overlapping_starts_are_warned_about_once_per_metric() {
    let data = storage(vec![
        floats("c_total", "delta", &[(60, 1.0, 30 * S), (120, 1.0, 60 * S), (180, 1.0, 120 * S)]),
        floats("c_total", "cumulative", &[(60, 1.0, 30 * S), (120, 2.0, 30 * S), (180, 3.0, 30 * S)]),
        floats("c_total", "none", &[(60, 1.0, 0), (120, 2.0, 0), (180, 3.0, 0)]),
        floats("c_total", "overlap", &[(60, 1.0, 10 * S), (120, 2.0, 20 * S), (180, 3.0, 30 * S), (240, 4.0, 40 * S), (300, 5.0, 50 * S)]),
        floats("d_total", "overlap_too", &[(60, 1.0, 10 * S), (120, 2.0, 20 * S)]),
    ]);
    let clean = instant(&data, "rate(c_total{case!=\"overlap\"}[3m])", 180, true);
    assert!(clean.warnings.is_empty() && clean.infos.is_empty(), "{clean:?}");
    let warning = "PromQL warning: sample has start time that overlaps with previous sample timestamp for metric \"c_total\"";
    let with = instant(&data, "rate(c_total[3m])", 180, true);
    assert_eq!(with.warnings, vec![format!("{warning} (1:6)")]);
    // Nothing without start times, nor from functions that do not read them.
    assert!(instant(&data, "rate(c_total[3m])", 180, false).warnings.is_empty());
    assert!(instant(&data, "delta(c_total[3m])", 180, true).warnings.is_empty());
    // A range query counts the steps it happened at.
    let range = engine(true).prepare_range("increase(c_total{case=\"overlap\"}[3m])", 180 * S, 300 * S, 60 * S).and_then(|q| q.execute(&data));
    assert_eq!(range.map(|r| r.warnings).map_err(|e| e.to_string()), Ok(vec![format!("{warning} (3 occurrences) (1:10)")]));
    // One per metric name.
    let both = instant(&data, "rate({__name__=~\"[cd]_total\", case=~\"overlap.*\"}[3m])", 180, true);
    assert_eq!(both.warnings.len(), 2, "{both:?}");
}

#[test]
fn start_timestamp_answers_a_selector_only() {
    let mut with_histogram = floats("s", "a", &[(10, 1.0, 9_500), (20, 2.0, 0)]);
    with_histogram.histograms.push(HistogramSample { timestamp_ms: 30 * S, histogram: Arc::new(FloatHistogram::default()) });
    if let Some(starts) = with_histogram.starts.as_mut() {
        starts.histograms.push(25 * S);
    }
    let mut plain = floats("s", "b", &[(10, 1.0, 0)]);
    plain.starts = None;
    let data = storage(vec![with_histogram, plain]);
    // The start of the sample the selector sees: 9.5 s; none (0) at 20 s; the histogram's at 30 s.
    assert_eq!(values(&data, "start_timestamp(s)", 15, true), vec![("a".to_string(), 9.5), ("b".to_string(), 0.0)]);
    assert_eq!(values(&data, "start_timestamp(s{case=\"a\"})", 20, true), one("a", 0.0));
    assert_eq!(values(&data, "start_timestamp((s{case=\"a\"}))", 35, true), one("a", 25.0));
    // The metric name goes, as with timestamp().
    let result = instant(&data, "start_timestamp(s{case=\"a\"})", 15, true);
    assert!(matches!(&result.value, Value::Vector(v) if v[0].labels.get("__name__").is_none()));
    // An expression's values carry no start times; without the option there are none either.
    assert!(values(&data, "start_timestamp(s * 1)", 15, true).is_empty());
    assert!(values(&data, "start_timestamp(s)", 15, false).is_empty());
}

#[test]
fn histograms_read_start_times_like_floats() {
    // Counts 4, 5, 7: the start at 150 s says the counter restarted before 180 s.
    let data = storage(vec![histograms("h", &[(120, 4.0, 30 * S), (180, 5.0, 150 * S), (240, 7.0, 150 * S)])]);
    // 7 - 0 (the first sample is dropped at the reset), extrapolated by 1.5 as for floats.
    let increase = histogram(&data, "increase(h[3m])", 240);
    assert_eq!((increase.count, increase.sum, increase.counter_reset_hint), (10.5, 10.5, CounterResetHint::Gauge));
    // irate over 120 s and 180 s: the 5 after the restart, per second of the 60 s between.
    let irate = histogram(&data, "irate(h[2m])", 180);
    assert_eq!((irate.count, irate.sum), (5.0 / 60.0, 5.0 / 60.0));
    assert_eq!(values(&data, "resets(h[3m])", 240, true), vec![("{}".to_string(), 1.0)]);
    // One histogram whose start lies in the range: its own counts, over 90 s of a 180 s range.
    let single = storage(vec![histograms("g", &[(240, 3.0, 150 * S)])]);
    let rate = histogram(&single, "rate(g[3m])", 240);
    assert_eq!((rate.count, rate.sum), (3.0 / 180.0, 3.0 / 180.0));
    // Overlapping starts of histograms are warned about too.
    let overlapping = storage(vec![histograms("o", &[(60, 1.0, 10 * S), (120, 2.0, 20 * S)])]);
    let warnings = instant(&overlapping, "rate(o[2m])", 120, true).warnings;
    assert_eq!(warnings, vec!["PromQL warning: sample has start time that overlaps with previous sample timestamp for metric \"o\" (1:6)".to_string()]);
}
