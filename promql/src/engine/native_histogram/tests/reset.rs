//! Counter resets (cases of Prometheus' TestFloatHistogramDetectReset), `increase` as
//! `histogramRate` computes it, and interpolation.

use std::sync::Arc;

use tsdb::{CounterResetHint, FloatHistogram, HistogramSample};

use super::super::{detect_reset, equals, increase, increase_noting, interpolate, HistogramError, Notes};
use super::{custom, exponential, h, NONE};

#[test]
fn counter_resets_as_prometheus_detects_them() {
    let e = exponential;
    let base = || e(0, 0.01, 5.5, 3493.3, 2349209.324, (&[(-2, 2), (1, 3)], &[1.0, 1.23, 3.3, 4.2, 0.1]), (&[(3, 2), (3, 2)], &[3.1, 3.0, 1.234e5, 1000.0]));
    let with = |f: &dyn Fn(&mut FloatHistogram)| {
        let mut h = base();
        f(&mut h);
        h
    };
    let high_res = || e(1, 0.01, 5.5, 3493.3, 2349209.324, (&[(-5, 4), (2, 6)], &[0.4, 0.6, 1.0, 0.23, 2.0, 1.3, 1.2, 3.0, 0.05, 0.05]), (&[(5, 4), (6, 4)], &[2.0, 1.1, 2.0, 1.0, 0.234e5, 1e5, 500.0, 500.0]));
    // (name, previous, current, reset).
    let cases: Vec<(&str, FloatHistogram, FloatHistogram, bool)> = vec![
        ("zero values", FloatHistogram::default(), FloatHistogram::default(), false),
        ("no buckets to some buckets", FloatHistogram::default(), base(), false),
        ("some buckets to no buckets", base(), FloatHistogram::default(), true),
        ("one bucket disappears", base(), with(&|h| {
            h.positive_spans = super::spans(&[(-2, 1), (2, 3)]);
            h.positive_buckets = vec![1.0, 3.3, 4.2, 0.1];
        }), true),
        ("an unpopulated bucket disappears", with(&|h| h.positive_buckets[1] = 0.0), with(&|h| {
            h.positive_spans = super::spans(&[(-2, 1), (2, 3)]);
            h.positive_buckets = vec![1.0, 3.3, 4.2, 0.1];
        }), false),
        ("zero count goes up", base(), with(&|h| h.zero_count = 6.0), false),
        ("zero count goes down", base(), with(&|h| h.zero_count = 5.0), true),
        ("count goes down", base(), with(&|h| h.count = 3493.2), true),
        ("sum goes down", base(), with(&|h| h.sum = 1.0), false),
        ("one positive bucket goes down", base(), with(&|h| h.positive_buckets[3] = 4.1), true),
        ("one negative bucket goes down", base(), with(&|h| h.negative_buckets[2] = 1.0), true),
        ("zero threshold decreases", base(), with(&|h| h.zero_threshold = 0.009), true),
        ("zero threshold increases without touching any existing buckets", base(), with(&|h| h.zero_threshold = 0.011), false),
        ("zero threshold increases enough to cover existing buckets", base(), with(&|h| {
            h.zero_threshold = 1.0;
            h.zero_count = 7.73;
            h.positive_spans = super::spans(&[(1, 3)]);
            h.positive_buckets = vec![3.3, 4.2, 0.1];
        }), false),
        ("zero threshold increases into the middle of an existing bucket", base(), with(&|h| h.zero_threshold = 0.3), true),
        ("schema increases without any other changes", base(), high_res(), true),
        ("schema decreases without any other changes", high_res(), base(), false),
        ("schema decreases and a bucket goes up", high_res(), with(&|h| h.positive_buckets[2] = 4.3), false),
        ("schema decreases and a bucket goes down", high_res(), with(&|h| h.positive_buckets[2] = 2.3), true),
        ("one custom bucket goes down", custom(3493.3, 1.0, (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]), &[1.0, 2.0, 3.0]), custom(3493.3, 1.0, (&[(0, 1), (2, 3)], &[1.0, 3.3, 4.1, 0.1]), &[1.0, 2.0, 3.0]), true),
        (
            "mismatched custom bounds - no reset when all buckets increase",
            custom(200.0, 1000.0, (&[(0, 4)], &[20.0, 35.0, 40.0, 50.0]), &[0.0, 1.0, 2.0, 3.0]),
            custom(200.0, 1000.0, (&[(0, 5)], &[25.0, 15.0, 40.0, 50.0, 70.0]), &[0.0, 0.5, 1.0, 2.0, 3.0]),
            false,
        ),
        (
            "mismatched custom bounds - reset in middle bucket",
            custom(100.0, 500.0, (&[(1, 4)], &[10.0, 15.0, 20.0, 25.0]), &[0.0, 1.0, 3.0, 5.0]),
            custom(100.0, 500.0, (&[(1, 5)], &[10.0, 16.0, 10.0, 5.0, 25.0]), &[0.0, 1.0, 2.0, 3.0, 5.0]),
            true,
        ),
        (
            "mismatched custom bounds - reset in last bucket",
            custom(100.0, 500.0, (&[(1, 3)], &[10.0, 20.0, 20.0]), &[0.0, 1.0, 2.0]),
            custom(100.0, 500.0, (&[(1, 4)], &[100.0, 200.0, 8.0, 7.0]), &[0.0, 1.0, 2.0, 3.0]),
            true,
        ),
        (
            "mismatched custom bounds - no common bounds",
            custom(100.0, 500.0, (&[(1, 3)], &[10.0, 20.0, 30.0]), &[4.0, 5.0, 6.0]),
            custom(100.0, 500.0, (&[(1, 3)], &[15.0, 25.0, 35.0]), &[1.0, 2.0, 3.0]),
            false,
        ),
        (
            "reset detected with mismatched custom bounds and split bucket spans",
            custom(200.0, 1000.0, (&[(0, 2), (1, 3)], &[10.0, 20.0, 30.0, 40.0, 50.0]), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]),
            custom(200.0, 1000.0, (&[(0, 3), (1, 2)], &[15.0, 25.0, 35.0, 25.0, 60.0]), &[0.0, 1.0, 3.0, 4.0, 5.0, 7.0]),
            true,
        ),
        (
            "no reset with mismatched custom bounds and split bucket spans",
            custom(300.0, 1500.0, (&[(0, 2), (2, 3)], &[10.0, 20.0, 30.0, 40.0, 50.0]), &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            custom(300.0, 1500.0, (&[(0, 3), (1, 2)], &[12.0, 25.0, 45.0, 75.0, 95.0]), &[0.0, 0.5, 1.0, 3.0, 5.0, 7.0]),
            false,
        ),
        (
            "reset when a populated bucket following an empty one disappears",
            e(0, 0.001, 0.0, 10.0, 0.0, (&[(0, 1)], &[5.0]), (&[(1, 2)], &[0.0, 5.0])),
            e(0, 0.001, 0.0, 20.0, 0.0, (&[(0, 1)], &[20.0]), NONE),
            true,
        ),
        ("exponential after custom", custom(1.0, 1.0, (&[(0, 1)], &[1.0]), &[1.0]), h("{{count:2 buckets:[2]}}"), true),
        ("custom after exponential", h("{{count:2 buckets:[2]}}"), custom(3.0, 1.0, (&[(0, 1)], &[3.0]), &[1.0]), true),
    ];
    for (name, previous, current, want) in cases {
        assert_eq!(detect_reset(&previous, &current), want, "{name}");
    }
}

#[test]
fn hints_decide_resets_they_know() {
    let lower = h("{{count:1 buckets:[1]}}");
    let higher = h("{{count:5 buckets:[5]}}");
    let hinted = |h: &FloatHistogram, hint| FloatHistogram { counter_reset_hint: hint, ..h.clone() };
    assert!(detect_reset(&lower, &hinted(&higher, CounterResetHint::CounterReset)));
    assert!(!detect_reset(&higher, &hinted(&lower, CounterResetHint::NotCounterReset)));
    assert!(detect_reset(&higher, &hinted(&lower, CounterResetHint::Gauge)), "gauges are compared like unknowns");
}

fn window(notations: &[&str]) -> Vec<HistogramSample> {
    notations.iter().enumerate().map(|(i, n)| HistogramSample { timestamp_ms: i as i64 * 60_000, histogram: Arc::new(h(n)) }).collect()
}

#[test]
fn increase_adds_back_what_resets_lost() {
    // (window, is_counter, expected): counter resets add the histogram before them.
    let cases: &[(&[&str], bool, &str)] = &[
        (&["{{sum:4 count:4 buckets:[4]}}", "{{sum:6 count:6 buckets:[6]}}"], true, "{{sum:2 count:2 buckets:[2]}}"),
        (&["{{sum:4 count:4 buckets:[4]}}", "{{sum:6 count:6 buckets:[6]}}", "{{sum:2 count:2 buckets:[2]}}", "{{sum:5 count:5 buckets:[5]}}"], true, "{{sum:7 count:7 buckets:[7]}}"),
        // A reset right after the first sample: the first sample is ignored.
        (&["{{sum:6 count:6 buckets:[6]}}", "{{sum:2 count:2 buckets:[2]}}", "{{sum:5 count:5 buckets:[5]}}"], true, "{{sum:5 count:5 buckets:[5]}}"),
        // Not a counter: last minus first, resets or not.
        (&["{{sum:6 count:6 buckets:[6]}}", "{{sum:2 count:2 buckets:[2]}}", "{{sum:5 count:5 buckets:[5]}}"], false, "{{sum:-1 count:-1 buckets:[-1]}}"),
        // The lowest schema in the window wins: schema 1 bucket 1 goes into schema 0 bucket 1.
        (&["{{schema:1 count:1 buckets:[1] offset:1}}", "{{schema:0 count:2 buckets:[2] offset:1}}", "{{schema:0 count:4 buckets:[4] offset:1}}"], true, "{{schema:0 count:3 buckets:[3] offset:1}}"),
        // A higher resolution later on counts as a reset.
        (&["{{schema:1 count:1 buckets:[1] offset:1}}", "{{schema:0 count:2 buckets:[2] offset:1}}", "{{schema:1 count:4 buckets:[1 3] offset:1}}"], true, "{{schema:0 count:5 buckets:[5] offset:1}}"),
        // Custom buckets with other bounds reduce to the common ones.
        (&["{{schema:-53 count:2 custom_values:[1 2] buckets:[1 1]}}", "{{schema:-53 count:5 custom_values:[2] buckets:[4 1]}}"], true, "{{schema:-53 count:3 custom_values:[2] buckets:[2 1]}}"),
    ];
    for (points, is_counter, want) in cases {
        let got = increase(&window(points), *is_counter).unwrap();
        assert!(equals(&got, &h(want)), "{points:?}: got {got:?}");
        assert_eq!(got.counter_reset_hint, CounterResetHint::Gauge);
    }
}

#[test]
fn increase_refuses_mixed_schemas_and_notes_hints() {
    let mixed = window(&["{{count:1 buckets:[1]}}", "{{count:2 buckets:[2]}}", "{{schema:-53 count:3 custom_values:[1] buckets:[3]}}"]);
    assert_eq!(increase(&mixed, true), Err(HistogramError::MixedExponentialAndCustom));
    // Custom buckets after exponential ones are a reset: a first sample dropped for it does not count.
    let dropped = window(&["{{count:9 buckets:[9]}}", "{{schema:-53 count:2 custom_values:[1] buckets:[2]}}", "{{schema:-53 count:3 custom_values:[1] buckets:[3]}}"]);
    assert!(equals(&increase(&dropped, true).unwrap(), &h("{{schema:-53 count:3 custom_values:[1] buckets:[3]}}")));
    assert_eq!(increase(&window(&["{{count:1}}"]), true), Err(HistogramError::TooFewSamples(1)));
    let mut notes = Notes::default();
    increase_noting(&window(&["{{count:1 counter_reset_hint:gauge}}", "{{count:2 counter_reset_hint:gauge}}"]), true, &mut notes).unwrap();
    assert!(notes.not_counter && !notes.not_gauge);
    let mut notes = Notes::default();
    increase_noting(&window(&["{{count:1}}", "{{count:2}}"]), false, &mut notes).unwrap();
    assert!(notes.not_gauge && !notes.not_counter);
}

#[test]
fn interpolation() {
    let (a, b) = (h("{{sum:2 count:2 buckets:[2]}}"), h("{{sum:6 count:4 buckets:[2 2]}}"));
    let got = interpolate(&a, 0, &b, 10, 5, true).unwrap();
    assert!(equals(&got, &h("{{sum:4 count:3 buckets:[2 1]}}")), "{got:?}");
    assert!(equals(&interpolate(&a, 0, &b, 10, 0, true).unwrap(), &a));
    assert!(equals(&interpolate(&a, 0, &b, 10, 10, true).unwrap(), &b));
    // A counter reset in between: counted up from zero to `b`.
    let reset = h("{{sum:1 count:1 buckets:[1]}}");
    assert!(equals(&interpolate(&b, 0, &reset, 10, 5, true).unwrap(), &h("{{sum:0.5 count:0.5 buckets:[0.5]}}")));
    let gauge = interpolate(&b, 0, &reset, 10, 5, false).unwrap();
    assert_eq!((gauge.count, gauge.sum), (2.5, 3.5));
}
