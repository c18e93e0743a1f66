//! Prometheus 3.14's start time synthesis (`st-synthesis`; `storage.start_timestamp_synthesis`):
//! a scraped counter, histogram or summary count and sum that comes without a start time
//! gets one, its first sample setting the start and every later one counted from it.

use std::collections::HashMap;

use tsdb::{FloatHistogram, Labels, METRIC_NAME_LABEL};

/// Scrapes after which a series no longer seen loses its state (the series cache's entries
/// are kept as long).
const KEEP_SCRAPES: u64 = 10;

/// What synthesis made of one sample.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Synthesized<T> {
    /// The series' first sample: it sets the start time and is not stored.
    First,
    /// The value to store (counted from the first sample, or as scraped after a reset) and its
    /// start time.
    Counted { value: T, start_ms: i64 },
}

/// The reference point of one series: where its count started and what it was then.
#[derive(Debug)]
struct SeriesState {
    start_ms: i64,
    /// The scrape that last saw it.
    seen: u64,
    values: Values,
}

#[derive(Debug)]
enum Values {
    /// The last value, and the value subtracted (the first one; 0 after a reset).
    Float { previous: f64, origin: f64 },
    /// The last histogram, and the one subtracted (none after a reset).
    Histogram { previous: Box<FloatHistogram>, origin: Option<Box<FloatHistogram>> },
}

/// Each synthesized series' state, kept across scrapes by its final labels.
#[derive(Debug, Default)]
pub(super) struct StartSynthesis {
    series: HashMap<Labels, SeriesState, foldhash::fast::RandomState>,
}

impl StartSynthesis {
    /// A float sample of a cumulative series at `t_ms` in scrape `generation`. A value below
    /// the last one is a reset: from then on values count from zero, started 1 ms before it
    /// (the latest the reset can have happened), as Prometheus guesses.
    pub(super) fn float(&mut self, labels: &Labels, t_ms: i64, value: f64, generation: u64) -> Synthesized<f64> {
        let Some(SeriesState { start_ms, seen, values: Values::Float { previous, origin } }) = self.series.get_mut(labels) else {
            self.series.insert(labels.clone(), SeriesState { start_ms: t_ms, seen: generation, values: Values::Float { previous: value, origin: value } });
            return Synthesized::First;
        };
        *seen = generation;
        if value < *previous {
            *origin = 0.0;
            *start_ms = t_ms - 1;
        }
        *previous = value;
        Synthesized::Counted { value: value - *origin, start_ms: *start_ms }
    }

    /// A native histogram sample of a cumulative series, as `float` does: a reset is what
    /// Prometheus' `DetectReset` finds, after which histograms are stored as scraped.
    /// `Counted`'s value is `None` when the histogram is stored unchanged.
    pub(super) fn histogram(&mut self, labels: &Labels, t_ms: i64, histogram: &FloatHistogram, generation: u64) -> Synthesized<Option<FloatHistogram>> {
        let Some(SeriesState { start_ms, seen, values: Values::Histogram { previous, origin } }) = self.series.get_mut(labels) else {
            let first = Box::new(histogram.clone());
            self.series.insert(labels.clone(), SeriesState { start_ms: t_ms, seen: generation, values: Values::Histogram { previous: first.clone(), origin: Some(first) } });
            return Synthesized::First;
        };
        *seen = generation;
        if promql::histogram_layout::detect_reset(previous, histogram) {
            *origin = None;
            *start_ms = t_ms - 1;
        }
        **previous = histogram.clone();
        // Histograms that cannot be subtracted (the layout changed from exponential to custom
        // buckets without a reset being seen) are stored as scraped.
        let value = origin.as_deref().and_then(|origin| promql::histogram_layout::sub_compacted(histogram, origin));
        Synthesized::Counted { value, start_ms: *start_ms }
    }

    /// Forgets the series not seen for `KEEP_SCRAPES` scrapes up to `generation`.
    pub(super) fn forget_unseen(&mut self, generation: u64) {
        self.series.retain(|_, state| state.seen + KEEP_SCRAPES >= generation);
    }
}

/// Whether a series is one whose start synthesis makes: its metric name belongs to the family
/// the last `# TYPE` line named (`family`, of type `kind`), as Prometheus'
/// `isSeriesPartOfFamily` decides, and that family is a counter or a histogram, or a summary
/// and the series is its `_count` or `_sum`.
pub(super) fn is_cumulative(labels: &Labels, family: &str, kind: &str) -> bool {
    let Some(name) = labels.get(METRIC_NAME_LABEL) else { return false };
    let family_of = |suffixes: &[&str]| suffixes.iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name);
    match kind {
        "counter" => family_of(&["_total"]) == family.strip_suffix("_total").unwrap_or(family),
        "histogram" => family_of(&["_bucket", "_sum", "_count"]) == family,
        "summary" => ["_sum", "_count"].iter().any(|suffix| name.strip_suffix(suffix) == Some(family)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use tsdb::{BucketSpan, CounterResetHint};

    use super::*;

    fn labels(name: &str) -> Labels {
        Labels::from_pairs(vec![(METRIC_NAME_LABEL.to_string(), name.to_string()), ("job".to_string(), "a".to_string())])
    }

    #[test]
    fn floats_count_from_the_first_sample_and_from_zero_after_a_reset() {
        let mut synthesis = StartSynthesis::default();
        let requests = labels("requests_total");
        assert_eq!(synthesis.float(&requests, 1_000, 100.0, 1), Synthesized::First);
        assert_eq!(synthesis.float(&requests, 2_000, 130.0, 2), Synthesized::Counted { value: 30.0, start_ms: 1_000 });
        assert_eq!(synthesis.float(&requests, 3_000, 130.0, 3), Synthesized::Counted { value: 30.0, start_ms: 1_000 });
        // The target restarted: counted from zero, started just before this sample.
        assert_eq!(synthesis.float(&requests, 4_000, 5.0, 4), Synthesized::Counted { value: 5.0, start_ms: 3_999 });
        assert_eq!(synthesis.float(&requests, 5_000, 9.0, 5), Synthesized::Counted { value: 9.0, start_ms: 3_999 });
        // Another series has its own reference point.
        assert_eq!(synthesis.float(&labels("other_total"), 5_000, 7.0, 5), Synthesized::First);
        // Unseen for more than the kept scrapes, a series starts again.
        synthesis.forget_unseen(5 + KEEP_SCRAPES);
        assert_eq!(synthesis.float(&requests, 6_000, 10.0, 6), Synthesized::Counted { value: 10.0, start_ms: 3_999 });
        synthesis.forget_unseen(6 + KEEP_SCRAPES + 1);
        assert_eq!(synthesis.float(&requests, 7_000, 11.0, 17), Synthesized::First);
    }

    fn histogram(count: f64, buckets: Vec<f64>) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: CounterResetHint::Unknown,
            schema: 0,
            zero_threshold: 0.0,
            zero_count: 0.0,
            count,
            sum: count * 2.0,
            positive_spans: vec![BucketSpan { offset: 0, length: buckets.len() as u32 }],
            positive_buckets: buckets,
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn histograms_subtract_the_first_and_are_kept_whole_after_a_reset() {
        let mut synthesis = StartSynthesis::default();
        let latency = labels("latency_seconds");
        assert_eq!(synthesis.histogram(&latency, 1_000, &histogram(3.0, vec![1.0, 2.0]), 1), Synthesized::First);
        // The first bucket did not move: compacted away.
        let Synthesized::Counted { value: Some(counted), start_ms } = synthesis.histogram(&latency, 2_000, &histogram(5.0, vec![1.0, 4.0]), 2) else { panic!("counted") };
        assert_eq!((start_ms, counted.count, counted.sum, counted.positive_buckets.clone()), (1_000, 2.0, 4.0, vec![2.0]));
        assert_eq!(counted.positive_spans, vec![BucketSpan { offset: 1, length: 1 }]);
        // A bucket went down: a reset, stored as scraped from then on.
        assert_eq!(synthesis.histogram(&latency, 3_000, &histogram(2.0, vec![1.0, 1.0]), 3), Synthesized::Counted { value: None, start_ms: 2_999 });
        assert_eq!(synthesis.histogram(&latency, 4_000, &histogram(4.0, vec![2.0, 2.0]), 4), Synthesized::Counted { value: None, start_ms: 2_999 });
        // A float sample under the same labels is another stream: it starts again.
        assert_eq!(synthesis.float(&latency, 5_000, 1.0, 5), Synthesized::First);
    }

    #[test]
    fn cumulative_series_are_told_by_their_family() {
        let cases = [
            ("requests_total", "requests", "counter", true),
            ("requests_total", "requests_total", "counter", true),
            ("requests", "requests", "counter", true),
            ("requests_created", "requests", "counter", false),
            ("latency_bucket", "latency", "histogram", true),
            ("latency_count", "latency", "histogram", true),
            ("latency", "latency", "histogram", true),
            ("rpc_count", "rpc", "summary", true),
            ("rpc_sum", "rpc", "summary", true),
            ("rpc", "rpc", "summary", false),
            ("temperature", "temperature", "gauge", false),
            ("queue_bucket", "queue", "gaugehistogram", false),
            ("other_total", "requests", "counter", false),
            ("requests_total", "requests", "unknown", false),
        ];
        for (name, family, kind, expected) in cases {
            assert_eq!(is_cumulative(&labels(name), family, kind), expected, "{name} in {family} ({kind})");
        }
    }
}
