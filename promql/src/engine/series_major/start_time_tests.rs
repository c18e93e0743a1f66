//! Series-major evaluation over series with start times (`use_start_timestamps` on): the same
//! answers, warnings and infos as the step-major path, with resets seen by start times alone,
//! starts inside ranges, overlapping starts, staleness markers and native histograms; and the
//! select read series by series, never held whole.

use std::cell::Cell;
use std::sync::Arc;

use proptest::prelude::*;
use tsdb::{FloatHistogram, HistogramSample, Labels, Matcher, Querier, Sample, SampleStarts, SeriesSamples, STALE_NAN_BITS};

use crate::engine::{Engine, EngineOptions, QueryResult, Value};
use crate::promqltest::ScriptStorage;

/// Aggregations of the counter functions that read start times, and a few around them.
const QUERIES: [&str; 12] = [
    "sum(rate(x_total[1m]))",
    "avg by (job) (increase(x_total[90s]))",
    "count(irate(x_total[1m]))",
    "sum by (job) (resets(x_total[2m]))",
    "max by (job) (rate(x_total[30s]))",
    "stddev(increase(x_total[1m] offset 20s))",
    "sum by (job) (increase(x_total[2m] @ 300))",
    "min(irate(x_total[45s]))",
    "sum(delta(x_total[1m]))",
    "sum(rate({__name__=~\".+_total\"}[1m]))",
    "sum(increase(h_total[2m]))",
    "sum by (job) (resets(h_total[2m]))",
];

/// How a sample's start time relates to the samples before it.
fn start_of(kind: u8, t_ms: i64, previous_ms: i64, previous_start: i64) -> i64 {
    match kind {
        0 => 0,                                           // none
        1 => previous_start,                              // cumulative, as before (0 after none)
        2 => previous_ms + (t_ms - previous_ms) / 2,      // restarted after the previous sample
        3 => previous_ms,                                 // delta
        4 => previous_ms - 1_500,                         // reaches back over the previous sample
        _ => t_ms,                                        // unknown (at the sample)
    }
}

/// Series `x_total{job, pod}` of counters with start times (restarts with and without a drop in
/// value, staleness markers) and, optionally, `h_total{job, pod}` of histograms with them.
fn series() -> impl Strategy<Value = Vec<SeriesSamples>> {
    let points = proptest::collection::vec((1i64..30, 0i32..20, 0u8..8, 0u8..12), 0..40);
    let one = (0usize..2, 0usize..4, any::<bool>(), points);
    proptest::collection::vec(one, 1..8).prop_map(|specs| {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (job, pod, histogram, points) in specs {
            let name = if histogram { "h_total" } else { "x_total" };
            let labels = Labels::from_pairs([("__name__", name.to_string()), ("job", format!("j{job}")), ("pod", format!("{name}-{pod}"))]);
            if !seen.insert(labels.clone()) {
                continue;
            }
            let (mut t, mut value, mut previous_start) = (0i64, 0.0f64, 0i64);
            let (mut samples, mut histograms, mut starts) = (Vec::new(), Vec::new(), Vec::new());
            for (gap_s, increment, start_kind, special) in points {
                let previous_ms = t;
                // Whole seconds, like the steps: window edges fall on samples.
                t += gap_s * 1000;
                value = match special {
                    0 => 0.0,                   // restarted with a drop in value
                    1 => value / 2.0,           // a drop without a start saying so
                    _ => value + f64::from(increment),
                };
                let start = start_of(start_kind, t, previous_ms, previous_start);
                previous_start = start;
                starts.push(start);
                if histogram {
                    let h = FloatHistogram { count: value, sum: value * 2.0, ..FloatHistogram::default() };
                    histograms.push(HistogramSample { timestamp_ms: t, histogram: Arc::new(h) });
                } else if special == 2 {
                    samples.push(Sample { timestamp_ms: t, value: f64::from_bits(STALE_NAN_BITS) });
                } else {
                    samples.push(Sample { timestamp_ms: t, value });
                }
            }
            let starts = if histogram { SampleStarts { floats: Vec::new(), histograms: starts } } else { SampleStarts { floats: starts, histograms: Vec::new() } };
            out.push(SeriesSamples { labels, samples, histograms, starts: Some(Box::new(starts)) });
        }
        out
    })
}

/// `ScriptStorage` counting the selects asked whole and the series handed out one at a time.
#[derive(Default)]
struct Counting {
    data: ScriptStorage,
    whole: Cell<usize>,
    one_at_a_time: Cell<usize>,
}

impl Querier for Counting {
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.whole.set(self.whole.get() + 1);
        self.data.select(matchers, mint_ms, maxt_ms)
    }

    fn select_each(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64, visit: &mut tsdb::SeriesVisitor<'_>) {
        for s in self.data.select(matchers, mint_ms, maxt_ms) {
            self.one_at_a_time.set(self.one_at_a_time.get() + 1);
            if visit(&s.labels, &s.samples, &s.histograms, s.starts.as_deref()).is_break() {
                break;
            }
        }
    }
}

fn counting(series: Vec<SeriesSamples>) -> Counting {
    let mut data = ScriptStorage::default();
    for s in series {
        data.load(s);
    }
    Counting { data, ..Counting::default() }
}

/// A result's values as (labels, timestamp, bits) with every NaN as one, and its warnings and
/// infos sorted; or the error's text.
type Answer = Result<(Vec<(String, i64, u64)>, Vec<String>, Vec<String>), String>;

fn answer(result: Result<QueryResult, crate::engine::Error>) -> Answer {
    let result = result.map_err(|e| e.to_string())?;
    let bits = |v: f64| if v.is_nan() { f64::NAN } else { v }.to_bits();
    let values = match result.value {
        Value::Matrix(m) => m.into_iter().flat_map(|s| s.samples.into_iter().map(move |p| (s.labels.to_string(), p.timestamp_ms, bits(p.value)))).collect(),
        Value::Vector(v) => v.into_iter().map(|s| (s.labels.to_string(), 0, bits(s.value))).collect(),
        other => return Err(format!("neither a matrix nor a vector: {other:?}")),
    };
    let (mut warnings, mut infos) = (result.warnings, result.infos);
    warnings.sort();
    infos.sort();
    Ok((values, warnings, infos))
}

fn engine(series_major: bool, use_start_timestamps: bool) -> Engine {
    Engine::new(EngineOptions { series_major, use_start_timestamps, lookback_delta_ms: 60_000, ..EngineOptions::default() })
}

fn range(query: &str, (start, step): (i64, i64), data: &Counting, series_major: bool) -> Answer {
    let q = engine(series_major, true).prepare_range(query, start, start + 20 * step, step).map_err(|e| e.to_string())?;
    answer(q.execute(data))
}

fn instant(query: &str, t: i64, data: &Counting, series_major: bool) -> Answer {
    let q = engine(series_major, true).prepare_instant(query, t).map_err(|e| e.to_string())?;
    answer(q.execute(data))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// With start times in use, series-major evaluation answers exactly what step-major
    /// evaluation answers, range and instant queries alike.
    #[test]
    fn series_major_matches_step_major_with_start_times(series in series(), start in 0i64..30, step in 1i64..8) {
        let (start, step) = (start * 1000, step * 1000);
        let data = counting(series);
        for query in QUERIES {
            prop_assert_eq!(range(query, (start, step), &data, true), range(query, (start, step), &data, false), "{}", query);
            let t = start + 10 * step;
            prop_assert_eq!(instant(query, t, &data, true), instant(query, t, &data, false), "{} at {}", query, t);
        }
    }
}

/// Two counters restarted without a drop in value: only their start times tell.
fn restarted_by_start_only() -> Vec<SeriesSamples> {
    (0..2)
        .map(|pod| {
            // Rising throughout; restarted at 95 s, between the samples at 90 and 105 s.
            let points: Vec<(i64, f64, i64)> = (1..=12).map(|k| (k * 15_000, k as f64 * 10.0 + f64::from(pod), if k <= 6 { 1 } else { 95_000 })).collect();
            SeriesSamples {
                labels: Labels::from_pairs([("__name__", "x_total".to_string()), ("job", "j".to_string()), ("pod", format!("p{pod}"))]),
                samples: points.iter().map(|&(timestamp_ms, value, _)| Sample { timestamp_ms, value }).collect(),
                histograms: Vec::new(),
                starts: Some(Box::new(SampleStarts { floats: points.iter().map(|p| p.2).collect(), histograms: Vec::new() })),
            }
        })
        .collect()
}

#[test]
fn counter_functions_over_start_times_stream_series_by_series() {
    for query in ["sum(rate(x_total[1m]))", "sum by (job) (increase(x_total[1m]))", "avg(irate(x_total[1m]))", "sum(resets(x_total[2m]))"] {
        let data = counting(restarted_by_start_only());
        let streamed = range(query, (60_000, 15_000), &data, true);
        assert_eq!((data.whole.get(), data.one_at_a_time.get()), (0, 2), "{query}: series by series, never whole");
        let step_major = range(query, (60_000, 15_000), &data, false);
        assert_eq!(streamed, step_major, "{query}");
        // The start times count: without them the restart is no reset (the value keeps
        // rising), so the answers differ.
        let q = engine(true, false).prepare_range(query, 60_000, 360_000, 15_000).expect("query parses");
        assert_ne!(answer(q.execute(&data)), streamed, "{query}: start times read");
    }
}
