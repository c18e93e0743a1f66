//! Add, Sub, Kahan sums, means and scaling, with cases of Prometheus' TestFloatHistogramAdd,
//! TestFloatHistogramSub, TestFloatHistogramMul and TestFloatHistogramDiv.

use tsdb::{CounterResetHint, FloatHistogram};

use super::super::{add, add_noting, compact, div, equals, mul, negate, raw_sub, sub, sub_noting, HistogramError, HistogramMean, HistogramSum, Notes};
use super::{custom, exponential, h};

/// Equal to `want` compacted, -0 and 0 counting as the same (as Go's `require.Equal` has them).
fn same(got: &FloatHistogram, want: &FloatHistogram) -> bool {
    let unsigned_zero = |h: &FloatHistogram| {
        let mut h = h.clone();
        for v in [&mut h.zero_count, &mut h.count, &mut h.sum].into_iter().chain(h.positive_buckets.iter_mut()).chain(h.negative_buckets.iter_mut()) {
            *v += 0.0;
        }
        h
    };
    equals(&unsigned_zero(got), &unsigned_zero(&compact(want)))
}

/// (name, a, b, a + b, custom bounds reconciled).
fn addition_cases() -> Vec<(&'static str, FloatHistogram, FloatHistogram, FloatHistogram, bool)> {
    let e = exponential;
    vec![
        (
            "same bucket layout",
            e(0, 0.01, 11.0, 30.0, 2.345, (&[(-2, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])),
            e(0, 0.01, 8.0, 21.0, 1.234, (&[(-2, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]), (&[(3, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(0, 0.01, 19.0, 51.0, 3.579, (&[(-2, 2), (1, 3)], &[1.0, 0.0, 5.0, 7.0, 13.0]), (&[(3, 2), (3, 2)], &[4.0, 2.0, 9.0, 10.0])),
            false,
        ),
        (
            "non-overlapping spans",
            e(0, 0.001, 11.0, 30.0, 2.345, (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])),
            e(0, 0.001, 8.0, 21.0, 1.234, (&[(0, 2), (3, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0]), (&[(-9, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(0, 0.001, 19.0, 51.0, 3.579, (&[(-2, 4), (0, 6)], &[1.0, 0.0, 5.0, 4.0, 3.0, 4.0, 7.0, 2.0, 3.0, 6.0]), (&[(-9, 2), (3, 2), (5, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0, 3.0, 1.0, 5.0, 6.0])),
            false,
        ),
        (
            "overlapping spans",
            e(0, 0.01, 11.0, 30.0, 2.345, (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])),
            e(0, 0.01, 8.0, 21.0, 1.234, (&[(-1, 4), (0, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]), (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(0, 0.01, 19.0, 51.0, 3.579, (&[(-2, 4), (0, 4)], &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0]), (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0])),
            false,
        ),
        (
            "schema change",
            e(0, 0.01, 8.0, 21.0, 1.234, (&[(-1, 4), (0, 3)], &[5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]), (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(1, 0.01, 11.0, 30.0, 2.345, (&[(-4, 3), (5, 5)], &[1.0, 0.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0]), (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0])),
            e(0, 0.01, 19.0, 51.0, 3.579, (&[(-2, 5), (0, 3)], &[1.0, 5.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0]), (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0])),
            false,
        ),
        (
            "larger zero bucket in first histogram",
            e(0, 1.0, 17.0, 21.0, 1.234, (&[(1, 2), (0, 3)], &[2.0, 3.0, 6.0, 2.0, 5.0]), (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(0, 0.01, 11.0, 30.0, 2.345, (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])),
            e(0, 1.0, 29.0, 51.0, 3.579, (&[(1, 2), (0, 3)], &[2.0, 6.0, 10.0, 9.0, 5.0]), (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0])),
            false,
        ),
        (
            "larger zero threshold in first histogram ends up inside a populated bucket of second histogram",
            e(0, 0.2, 17.0, 21.0, 1.234, (&[(1, 2), (0, 3)], &[2.0, 3.0, 6.0, 2.0, 5.0]), (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(0, 0.01, 11.0, 30.0, 2.345, (&[(-2, 2), (2, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])),
            e(0, 0.25, 29.0, 51.0, 3.579, (&[(-1, 1), (1, 5)], &[0.0, 2.0, 6.0, 10.0, 9.0, 5.0]), (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0])),
            false,
        ),
        (
            "schema change combined with larger zero bucket in second histogram",
            e(0, 0.01, 8.0, 21.0, 1.234, (&[(-2, 5), (0, 3)], &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 2.0, 5.0]), (&[(4, 2), (1, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(1, 0.25, 12.0, 30.0, 2.345, (&[(-3, 2), (5, 5)], &[1.0, 0.0, 3.0, 2.0, 2.0, 3.0, 4.0]), (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0])),
            e(0, 0.25, 22.0, 51.0, 3.579, (&[(-1, 7)], &[6.0, 4.0, 2.0, 6.0, 10.0, 9.0, 5.0]), (&[(3, 3), (1, 3)], &[3.0, 2.0, 1.0, 4.0, 9.0, 6.0])),
            false,
        ),
        (
            "custom buckets with partial intersection",
            custom(10.0, 100.0, (&[(0, 3)], &[2.0, 3.0, 5.0]), &[1.0, 2.5]),
            custom(8.0, 80.0, (&[(0, 4)], &[1.0, 2.0, 3.0, 2.0]), &[1.0, 2.0, 3.0]),
            custom(18.0, 180.0, (&[(0, 2)], &[3.0, 15.0]), &[1.0]),
            true,
        ),
        (
            "different custom bucket layout - intersection and rollup",
            custom(6.0, 2.345, (&[(0, 1), (1, 1)], &[1.0, 5.0]), &[2.0, 4.0]),
            custom(220.0, 1.234, (&[(0, 2), (1, 1), (0, 2)], &[10.0, 20.0, 40.0, 50.0, 100.0]), &[1.0, 2.0, 3.0, 4.0, 5.0]),
            custom(226.0, 3.579, (&[(0, 3)], &[31.0, 40.0, 155.0]), &[2.0, 4.0]),
            true,
        ),
        (
            "custom buckets with no common boundaries except +Inf",
            custom(3.0, 50.0, (&[(0, 2)], &[1.0, 2.0]), &[1.5]),
            custom(30.0, 40.0, (&[(0, 2)], &[10.0, 20.0]), &[2.5]),
            custom(33.0, 90.0, (&[(0, 1)], &[33.0]), &[]),
            true,
        ),
    ]
}

#[test]
fn addition_in_either_order_and_as_a_kahan_sum() {
    for (name, a, b, want, reconciled) in addition_cases() {
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut notes = Notes::default();
            let got = add_noting(x, y, &mut notes).unwrap();
            assert!(same(&got, &want), "{name}: got {got:?}");
            assert_eq!(notes.custom_bounds_reconciled, reconciled, "{name}");
            let mut sum = HistogramSum::new(x);
            sum.add(y).unwrap();
            assert_eq!(sum.notes().custom_bounds_reconciled, reconciled, "{name}");
            let got = sum.finish();
            assert!(same(&got, &want), "{name} (Kahan): got {got:?}");
        }
    }
}

#[test]
fn exponential_and_custom_buckets_do_not_mix() {
    let exp = h("{{schema:0 count:1 buckets:[1]}}");
    let nhcb = h("{{schema:-53 count:1 custom_values:[1] buckets:[1]}}");
    assert_eq!(add(&exp, &nhcb), Err(HistogramError::MixedExponentialAndCustom));
    assert_eq!(sub(&nhcb, &exp), Err(HistogramError::MixedExponentialAndCustom));
    let mut sum = HistogramSum::new(&exp);
    assert_eq!(sum.add(&nhcb), Err(HistogramError::MixedExponentialAndCustom));
    assert!(equals(&sum.finish(), &exp), "a refused addend leaves the sum as it was");
    let mut mean = HistogramMean::new(&nhcb);
    assert!(mean.add(&exp).is_err());
}

#[test]
fn counter_reset_hints_of_sums() {
    use CounterResetHint::*;
    let with = |hint| FloatHistogram { counter_reset_hint: hint, ..h("{{count:1 buckets:[1]}}") };
    // (a, b, hint of a + b, collision): Prometheus' adjustCounterReset.
    let cases = [
        (Gauge, Gauge, Gauge, false),
        (Gauge, CounterReset, Gauge, false),
        (NotCounterReset, Gauge, Gauge, false),
        (Unknown, NotCounterReset, Unknown, false),
        (CounterReset, Unknown, Unknown, false),
        (NotCounterReset, NotCounterReset, NotCounterReset, false),
        (CounterReset, NotCounterReset, Unknown, true),
        (NotCounterReset, CounterReset, Unknown, true),
    ];
    for (a, b, want, collision) in cases {
        let mut notes = Notes::default();
        let got = add_noting(&with(a), &with(b), &mut notes).unwrap();
        assert_eq!((got.counter_reset_hint, notes.counter_reset_collision), (want, collision), "{a:?} + {b:?}");
        assert_eq!(sub(&with(a), &with(b)).unwrap().counter_reset_hint, Gauge, "the `-` operator makes a gauge");
        assert_eq!(raw_sub(&with(a), &with(b), &mut Notes::default()).unwrap().counter_reset_hint, want, "Sub itself adjusts like Add");
    }
    // Sums and means note a collision between any two inputs, like Prometheus' aggregation.
    let mut sum = HistogramSum::new(&with(CounterReset));
    sum.add(&with(Unknown)).unwrap();
    assert!(!sum.notes().counter_reset_collision);
    sum.add(&with(NotCounterReset)).unwrap();
    assert!(sum.notes().counter_reset_collision);
}

/// (name, a, b, a - b): Prometheus' TestFloatHistogramSub; b - a is the negation.
fn subtraction_cases() -> Vec<(&'static str, FloatHistogram, FloatHistogram, FloatHistogram)> {
    let e = exponential;
    vec![
        (
            "same bucket layout",
            e(0, 0.01, 11.0, 30.0, 23.0, (&[(-2, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), (&[(3, 2), (3, 2)], &[3.0, 1.0, 5.0, 6.0])),
            e(0, 0.01, 8.0, 21.0, 12.0, (&[(-2, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]), (&[(3, 2), (3, 2)], &[1.0, 1.0, 4.0, 4.0])),
            e(0, 0.01, 3.0, 9.0, 11.0, (&[(-2, 2), (1, 3)], &[1.0, 0.0, 1.0, 1.0, 1.0]), (&[(3, 2), (3, 2)], &[2.0, 0.0, 1.0, 2.0])),
        ),
        (
            "schema change",
            e(0, 0.01, 8.0, 59.0, 1.234, (&[(-2, 5), (0, 3)], &[2.0, 5.0, 4.0, 2.0, 3.0, 6.0, 7.0, 5.0]), (&[(3, 3), (1, 3)], &[4.0, 10.0, 1.0, 4.0, 14.0, 7.0])),
            e(1, 0.01, 2.0, 19.0, 0.345, (&[(-4, 3), (5, 5)], &[1.0, 0.0, 0.0, 1.0, 2.0, 2.0, 3.0, 4.0]), (&[(6, 3), (6, 4)], &[3.0, 0.5, 0.5, 2.0, 3.0, 2.0, 4.0])),
            e(0, 0.01, 6.0, 40.0, 0.889, (&[(-2, 5), (0, 3)], &[1.0, 5.0, 4.0, 2.0, 2.0, 2.0, 0.0, 5.0]), (&[(3, 3), (1, 3)], &[1.0, 9.0, 1.0, 4.0, 9.0, 1.0])),
        ),
        (
            "same custom bucket layout",
            custom(15.0, 23.0, (&[(0, 2), (1, 3)], &[1.0, 0.0, 3.0, 4.0, 7.0]), &[1.0, 2.0, 3.0, 4.0, 5.0]),
            custom(11.0, 12.0, (&[(0, 2), (1, 3)], &[0.0, 0.0, 2.0, 3.0, 6.0]), &[1.0, 2.0, 3.0, 4.0, 5.0]),
            custom(4.0, 11.0, (&[(0, 2), (1, 3)], &[1.0, 0.0, 1.0, 1.0, 1.0]), &[1.0, 2.0, 3.0, 4.0, 5.0]),
        ),
        (
            "different custom bucket layout - with intersection and rollup",
            custom(220.0, 9.9, (&[(0, 2), (1, 1), (0, 2)], &[10.0, 20.0, 40.0, 50.0, 100.0]), &[1.0, 2.0, 3.0, 4.0, 5.0]),
            custom(6.0, 4.4, (&[(0, 1), (1, 1)], &[1.0, 5.0]), &[2.0, 4.0]),
            custom(214.0, 5.5, (&[(0, 3)], &[29.0, 40.0, 145.0]), &[2.0, 4.0]),
        ),
    ]
}

#[test]
fn subtraction_both_ways() {
    for (name, a, b, want) in subtraction_cases() {
        let got = sub(&a, &b).unwrap();
        assert!(same(&got, &want), "{name}: got {got:?}");
        assert_eq!(got.counter_reset_hint, CounterResetHint::Gauge, "{name}");
        let got = sub(&b, &a).unwrap();
        assert!(same(&got, &negate(&want)), "{name} reversed: got {got:?}");
    }
    let mut notes = Notes::default();
    let (_, a, b, _) = subtraction_cases().pop().expect("cases");
    sub_noting(&a, &b, &mut notes).unwrap();
    assert!(notes.custom_bounds_reconciled);
}

#[test]
fn scaling() {
    let base = exponential(0, 0.01, 5.5, 3493.3, 2349209.324, (&[(-2, 1), (2, 3)], &[1.0, 3.3, 4.2, 0.1]), (&[(3, 2), (3, 2)], &[3.1, 3.0, 1.234e5, 1000.0]));
    let got = mul(&base, 2.0);
    assert!(equals(&got, &exponential(0, 0.01, 11.0, 6986.6, 4698418.648, (&[(-2, 1), (2, 3)], &[2.0, 6.6, 8.4, 0.2]), (&[(3, 2), (3, 2)], &[6.2, 6.0, 2.468e5, 2000.0]))));
    assert_eq!(got.counter_reset_hint, CounterResetHint::Unknown);
    let got = mul(&base, -1.0);
    assert_eq!((got.count, got.positive_buckets[0], got.counter_reset_hint), (-3493.3, -1.0, CounterResetHint::Gauge), "a negative factor makes a gauge");
    assert!(equals(&negate(&base), &got));
    let zero = mul(&base, 0.0);
    assert_eq!((zero.positive_spans.len(), zero.positive_buckets[1]), (2, 0.0), "multiplying keeps the layout");
    assert!(compact(&zero).positive_buckets.is_empty());
    let got = div(&base, 2.0);
    assert_eq!((got.count, got.zero_count, got.negative_buckets[2]), (1746.65, 2.75, 61700.0));
    let got = div(&base, 0.0);
    assert_eq!((got.count, got.zero_count, got.sum), (f64::INFINITY, f64::INFINITY, f64::INFINITY));
    assert!(got.positive_buckets.is_empty() && got.positive_spans.is_empty() && got.negative_buckets.is_empty(), "dividing by zero drops the buckets");
    assert_eq!(div(&base, -2.0).counter_reset_hint, CounterResetHint::Gauge);
    assert!(div(&FloatHistogram::default(), 0.0).count.is_nan(), "0/0");
}

#[test]
fn means_divide_kahan_sums_and_survive_overflow() {
    let mut mean = HistogramMean::new(&h("{{sum:3 count:1 buckets:[1]}}"));
    mean.add(&h("{{sum:6 count:2 buckets:[2]}}")).unwrap();
    mean.add(&h("{{sum:9 count:6 z_bucket:2 buckets:[3 1] n_buckets:[1]}}")).unwrap();
    let got = mean.finish();
    assert!(equals(&got, &h("{{sum:6 count:3 z_bucket:0.6666666666666666 buckets:[2 0.3333333333333333] n_buckets:[0.3333333333333333]}}")), "{got:?}");
    // A sum past f64::MAX switches to the incremental mean, which stays finite.
    let big = h("{{sum:1e308 count:1e308 buckets:[1e308]}}");
    let mut mean = HistogramMean::new(&big);
    mean.add(&big).unwrap();
    mean.add(&big).unwrap();
    let got = mean.finish();
    for v in [got.count, got.sum, got.positive_buckets[0]] {
        assert!((v - 1e308).abs() <= 1e308 * 1e-15, "{got:?}");
    }
    let mut sum = HistogramSum::new(&big);
    sum.add(&big).unwrap();
    assert_eq!(sum.finish().count, f64::INFINITY);
}

#[test]
fn kahan_sums_keep_small_addends() {
    // Plain addition loses the 1s against 1e16; the compensated sum keeps them.
    let terms = ["{{sum:1e16 count:1e16 buckets:[1e16]}}", "{{sum:1 count:1 buckets:[1]}}", "{{sum:-1e16 count:-1e16 buckets:[-1e16]}}", "{{sum:1 count:1 buckets:[1]}}"];
    let mut sum = HistogramSum::new(&h(terms[0]));
    let mut plain = h(terms[0]);
    for t in &terms[1..] {
        sum.add(&h(t)).unwrap();
        plain = add(&plain, &h(t)).unwrap();
    }
    let got = sum.finish();
    assert_eq!((got.sum, got.count, got.positive_buckets.clone()), (2.0, 2.0, vec![2.0]));
    assert_ne!(plain.sum, 2.0, "the case needs compensation");
}
