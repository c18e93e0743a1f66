//! Comparing results with expectations as Prometheus' test harness does (`compareResult`,
//! `compareNativeHistogram`): floats within a relative 1e-6, histograms compacted and compared
//! field by field with that tolerance, counter reset hints only where the script named one.

use tsdb::{CounterResetHint, FloatHistogram, Labels, SeriesSamples};

use super::notation::SeqValue;
use super::Outcome;
use crate::engine::native_histogram::{compact, spans_match};
use crate::engine::InstantSample;

/// Prometheus' `almost.Equal` with epsilon 1e-6 (NaN equals NaN).
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

/// Whether `got` is the `expected` histogram: both compacted, the same schema, bounds, zero
/// threshold and layout, counts and sum within tolerance, and the hint if `hint_set`.
pub fn histograms_match(expected: &FloatHistogram, got: &FloatHistogram, hint_set: bool) -> bool {
    let (e, g) = (compact(expected), compact(got));
    let buckets_match = |a: &[f64], b: &[f64]| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| almost_equal(*x, *y));
    e.schema == g.schema
        && almost_equal(e.count, g.count)
        && almost_equal(e.sum, g.sum)
        && (!e.uses_custom_buckets() || e.custom_values == g.custom_values)
        && e.zero_threshold == g.zero_threshold
        && almost_equal(e.zero_count, g.zero_count)
        && spans_match(&e.negative_spans, &g.negative_spans)
        && buckets_match(&e.negative_buckets, &g.negative_buckets)
        && spans_match(&e.positive_spans, &g.positive_spans)
        && buckets_match(&e.positive_buckets, &g.positive_buckets)
        && (!hint_set || e.counter_reset_hint == g.counter_reset_hint)
}

/// A histogram in test notation (Prometheus' `TestExpression`), for failure messages.
pub fn notation(h: &FloatHistogram) -> String {
    let h = compact(h);
    let mut parts: Vec<String> = Vec::new();
    let mut field = |present: bool, text: String| {
        if present {
            parts.push(text);
        }
    };
    field(h.schema != 0, format!("schema:{}", h.schema));
    field(h.count != 0.0, format!("count:{}", h.count));
    field(h.sum != 0.0, format!("sum:{}", h.sum));
    field(h.zero_count != 0.0, format!("z_bucket:{}", h.zero_count));
    field(h.zero_threshold != 0.0, format!("z_bucket_w:{}", h.zero_threshold));
    field(h.uses_custom_buckets(), format!("custom_values:{:?}", h.custom_values));
    let hint = match h.counter_reset_hint {
        CounterResetHint::Unknown => None,
        CounterResetHint::CounterReset => Some("reset"),
        CounterResetHint::NotCounterReset => Some("not_reset"),
        CounterResetHint::Gauge => Some("gauge"),
    };
    field(hint.is_some(), format!("counter_reset_hint:{}", hint.unwrap_or("")));
    for (spans, counts, offset_key, buckets_key) in [(&h.positive_spans, &h.positive_buckets, "offset", "buckets"), (&h.negative_spans, &h.negative_buckets, "n_offset", "n_buckets")] {
        let list = |c: &[f64]| c.iter().map(f64::to_string).collect::<Vec<_>>().join(" ");
        match spans.as_slice() {
            [] => {}
            [one] => {
                field(one.offset != 0, format!("{offset_key}:{}", one.offset));
                field(true, format!("{buckets_key}:[{}]", list(counts)));
            }
            many => field(true, format!("{buckets_key}:{many:?}{:?}", counts)),
        }
    }
    format!("{{{{{}}}}}", parts.join(" "))
}

fn describe(value: &SeqValue) -> String {
    match value {
        SeqValue::Omitted => "_".into(),
        SeqValue::Float(f) => f.to_string(),
        SeqValue::Histogram { histogram, .. } => notation(histogram),
    }
}

/// An instant vector against expected series (each with one value).
pub fn compare_vector(expected: &[(Labels, Vec<SeqValue>)], ordered: bool, got: &[InstantSample]) -> Outcome {
    let mut seen = vec![false; expected.len()];
    for (position, sample) in got.iter().enumerate() {
        let shown = || sample.histogram.as_deref().map_or_else(|| sample.value.to_string(), notation);
        let Some(at) = expected.iter().position(|(labels, _)| *labels == sample.labels) else {
            return Outcome::Fail(format!("unexpected metric {} in result, has value {}", sample.labels, shown()));
        };
        if ordered && at != position {
            return Outcome::Fail(format!("expected metric {} at position {} but was at {}", sample.labels, at + 1, position + 1));
        }
        let want = expected[at].1.first().unwrap_or(&SeqValue::Omitted);
        let matches = match (want, &sample.histogram) {
            (SeqValue::Histogram { histogram, hint_set }, Some(h)) => histograms_match(histogram, h, *hint_set),
            (SeqValue::Histogram { .. }, None) | (SeqValue::Float(_) | SeqValue::Omitted, Some(_)) => false,
            (SeqValue::Float(f), None) => almost_equal(*f, sample.value),
            (SeqValue::Omitted, None) => almost_equal(0.0, sample.value),
        };
        if !matches {
            return Outcome::Fail(format!("expected {} for {} but got {}", describe(want), sample.labels, shown()));
        }
        seen[at] = true;
    }
    match seen.iter().position(|s| !s) {
        Some(at) => Outcome::Fail(format!("expected metric {} not found (got {} series)", expected[at].0, got.len())),
        None => Outcome::Pass,
    }
}

/// A matrix against expected series whose values are at `start`, `start + step`, ... up to `end`
/// (`_` for no point): every series and point must be there, nothing else.
pub fn compare_matrix(expected: &[(Labels, Vec<SeqValue>)], got: &[SeriesSamples], start_ms: i64, end_ms: i64, step_ms: i64) -> Outcome {
    let mut seen = vec![false; expected.len()];
    for series in got {
        let Some(at) = expected.iter().position(|(labels, _)| *labels == series.labels) else {
            return Outcome::Fail(format!("unexpected metric {} in result, with {} floats and {} histograms", series.labels, series.samples.len(), series.histograms.len()));
        };
        seen[at] = true;
        let (mut floats, mut histograms) = (Vec::new(), Vec::new());
        for (i, value) in expected[at].1.iter().enumerate() {
            let t = start_ms + i as i64 * step_ms;
            if t > end_ms {
                return Outcome::Fail(format!("expected {} points for {}, but query time range cannot return this many points", expected[at].1.len(), series.labels));
            }
            match value {
                SeqValue::Omitted => {}
                SeqValue::Float(f) => floats.push((t, *f)),
                SeqValue::Histogram { histogram, hint_set } => histograms.push((t, histogram, *hint_set)),
            }
        }
        if floats.len() != series.samples.len() || histograms.len() != series.histograms.len() {
            let got_floats: Vec<(i64, f64)> = series.samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
            let got_histograms: Vec<String> = series.histograms.iter().map(|h| format!("{}@{}", notation(&h.histogram), h.timestamp_ms)).collect();
            return Outcome::Fail(format!(
                "expected {} float points and {} histogram points for {}, but got floats {got_floats:?} and histograms {got_histograms:?}",
                floats.len(),
                histograms.len(),
                series.labels
            ));
        }
        for ((t, f), got) in floats.iter().zip(&series.samples) {
            if *t != got.timestamp_ms || !almost_equal(*f, got.value) {
                return Outcome::Fail(format!("expected float {f} at {t} for {}, got {} at {}", series.labels, got.value, got.timestamp_ms));
            }
        }
        for ((t, h, hint_set), got) in histograms.iter().zip(&series.histograms) {
            if *t != got.timestamp_ms || !histograms_match(h, &got.histogram, *hint_set) {
                return Outcome::Fail(format!("expected {} at {t} for {}, got {} at {}", notation(h), series.labels, notation(&got.histogram), got.timestamp_ms));
            }
        }
    }
    match seen.iter().position(|s| !s) {
        Some(at) => Outcome::Fail(format!("expected metric {} not found", expected[at].0)),
        None => Outcome::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::notation::{parse_histogram, parse_sequence};
    use std::sync::Arc;
    use tsdb::{HistogramSample, Sample};

    fn h(text: &str) -> FloatHistogram {
        parse_histogram(text).unwrap().0
    }

    #[test]
    fn histograms_compare_compacted_with_tolerance() {
        let expected = h("{{count:3 sum:5 buckets:[1 2]}}");
        assert!(!histograms_match(&expected, &h("{{count:3 sum:5 buckets:[1 0 0] n_buckets:[0]}}"), false), "other buckets");
        assert!(histograms_match(&expected, &h("{{count:3.000000001 sum:5 buckets:[1 2 0]}}"), false), "empty buckets and tiny differences do not count");
        assert!(!histograms_match(&expected, &h("{{count:3 sum:5 buckets:[1 2.1]}}"), false));
        assert!(!histograms_match(&expected, &h("{{schema:1 count:3 sum:5 buckets:[1 2]}}"), false));
        assert!(!histograms_match(&expected, &h("{{count:3 sum:5 z_bucket_w:0.1 buckets:[1 2]}}"), false));
        assert!(!histograms_match(&expected, &h("{{count:3 sum:5 offset:1 buckets:[1 2]}}"), false));
        let gauge = h("{{count:3 sum:5 buckets:[1 2] counter_reset_hint:gauge}}");
        assert!(histograms_match(&expected, &gauge, false), "a hint the script did not name is not compared");
        assert!(!histograms_match(&gauge, &expected, true));
        let custom = h("{{schema:-53 count:1 custom_values:[1] buckets:[1]}}");
        assert!(!histograms_match(&custom, &h("{{schema:-53 count:1 custom_values:[2] buckets:[1]}}"), false));
        assert_eq!(notation(&gauge), "{{count:3 sum:5 counter_reset_hint:gauge buckets:[1 2]}}");
    }

    fn expect(lines: &[(&str, &str)]) -> Vec<(Labels, Vec<SeqValue>)> {
        lines.iter().map(|(l, v)| (crate::promqltest::script::parse_series_notation(l).unwrap().0, parse_sequence(v).unwrap())).collect()
    }

    #[test]
    fn vectors_compare_floats_and_histograms_by_labels() {
        let sample = |l: &str, value: f64, histogram: Option<&str>| InstantSample { labels: crate::promqltest::script::parse_series_notation(l).unwrap().0, timestamp_ms: 0, value, histogram: histogram.map(|t| Arc::new(h(t))) };
        let want = expect(&[("a", "1"), ("b", "{{count:2}}")]);
        let got = [sample("b", 0.0, Some("{{count:2}}")), sample("a", 1.0, None)];
        assert!(matches!(compare_vector(&want, false, &got), Outcome::Pass));
        assert!(matches!(compare_vector(&want, true, &got), Outcome::Fail(_)), "out of order");
        let float_for_histogram = [sample("a", 1.0, None), sample("b", 2.0, None)];
        assert!(matches!(compare_vector(&want, false, &float_for_histogram), Outcome::Fail(m) if m.contains("expected {{count:2}}")));
        assert!(matches!(compare_vector(&want, false, &got[..1]), Outcome::Fail(m) if m.contains("not found")));
        assert!(matches!(compare_vector(&want[..1], false, &got), Outcome::Fail(m) if m.contains("unexpected metric")));
    }

    #[test]
    fn matrices_compare_point_by_point() {
        let labels = crate::promqltest::script::parse_series_notation("m").unwrap().0;
        let hs = |t: i64, text: &str| HistogramSample { timestamp_ms: t, histogram: Arc::new(h(text)) };
        let got = [SeriesSamples { labels, samples: vec![Sample { timestamp_ms: 0, value: 1.0 }], histograms: vec![hs(120, "{{count:1}}")], starts: None }];
        let pass = |values: &str, end: i64| matches!(compare_matrix(&expect(&[("m", values)]), &got, 0, end, 60), Outcome::Pass);
        assert!(pass("1 _ {{count:1}}", 120));
        assert!(!pass("1 _ {{count:1}}", 60), "more points than the range has");
        assert!(!pass("1 {{count:1}}", 120), "wrong timestamp");
        assert!(!pass("1 _ {{count:2}}", 120));
        assert!(!pass("1 1 {{count:1}}", 120), "a missing point");
        assert!(matches!(compare_matrix(&[], &got, 0, 120, 60), Outcome::Fail(_)));
        assert!(matches!(compare_matrix(&[], &[], 0, 120, 60), Outcome::Pass));
    }
}
