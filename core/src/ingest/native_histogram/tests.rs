//! Unit tests of the native histogram decoding: integer and float histograms to absolute
//! float buckets, reset hints, schema merging, every refusal with its message, and the
//! proto round trip (also as a property).

use proptest::prelude::*;
use proto::remote_write_v1::histogram::{Count, ResetHint, ZeroCount};
use proto::remote_write_v1::{BucketSpan as ProtoSpan, Histogram};
use tsdb::{BucketSpan, CounterResetHint, FloatHistogram, HistogramSample};

use super::{from_proto, to_proto, HistogramDecodeError as E, Side};

fn ps(offset: i32, length: u32) -> ProtoSpan {
    ProtoSpan { offset, length }
}

fn bs(offset: i32, length: u32) -> BucketSpan {
    BucketSpan { offset, length }
}

fn int(count: u64) -> Histogram {
    Histogram { count: Some(Count::CountInt(count)), ..Histogram::default() }
}

fn float(count: f64) -> Histogram {
    Histogram { count: Some(Count::CountFloat(count)), ..Histogram::default() }
}

/// Debug text compares NaN sums as equal, which `PartialEq` would not.
fn assert_decodes(name: &str, proto: &Histogram, expected: &FloatHistogram) {
    let sample = from_proto(proto).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(sample.timestamp_ms, proto.timestamp, "{name}");
    assert_eq!(format!("{:?}", sample.histogram), format!("{expected:?}"), "{name}");
}

#[test]
fn integer_histograms_decode_to_absolute_float_buckets() {
    let cases: Vec<(&str, Histogram, FloatHistogram)> = vec![
        (
            "exponential, both sides, zero bucket",
            Histogram {
                sum: 12.5,
                schema: 1,
                zero_threshold: 0.001,
                zero_count: Some(ZeroCount::ZeroCountInt(2)),
                positive_spans: vec![ps(-2, 2), ps(1, 2)],
                positive_deltas: vec![1, 2, -1, 0],
                negative_spans: vec![ps(0, 1)],
                negative_deltas: vec![4],
                reset_hint: ResetHint::No as i32,
                timestamp: 1_000,
                ..int(14)
            },
            FloatHistogram {
                counter_reset_hint: CounterResetHint::NotCounterReset,
                schema: 1,
                zero_threshold: 0.001,
                zero_count: 2.0,
                count: 14.0,
                sum: 12.5,
                positive_spans: vec![bs(-2, 2), bs(1, 2)],
                positive_buckets: vec![1.0, 3.0, 2.0, 2.0],
                negative_spans: vec![bs(0, 1)],
                negative_buckets: vec![4.0],
                ..FloatHistogram::default()
            },
        ),
        (
            "NaN sum: count may exceed the buckets; absent zero count is 0",
            Histogram { sum: f64::NAN, positive_spans: vec![ps(0, 2)], positive_deltas: vec![1, 1], timestamp: -5, ..int(5) },
            FloatHistogram { count: 5.0, sum: f64::NAN, positive_spans: vec![bs(0, 2)], positive_buckets: vec![1.0, 2.0], ..FloatHistogram::default() },
        ),
        (
            "custom buckets (NHCB)",
            Histogram { sum: 7.0, schema: -53, positive_spans: vec![ps(0, 2), ps(1, 1)], positive_deltas: vec![3, -1, 4], custom_values: vec![0.1, 0.5, 1.0], ..int(11) },
            FloatHistogram {
                schema: -53,
                count: 11.0,
                sum: 7.0,
                positive_spans: vec![bs(0, 2), bs(1, 1)],
                positive_buckets: vec![3.0, 2.0, 6.0],
                custom_values: vec![0.1, 0.5, 1.0],
                ..FloatHistogram::default()
            },
        ),
        ("empty", int(0), FloatHistogram::default()),
    ];
    for (name, proto, expected) in &cases {
        assert_decodes(name, proto, expected);
    }
}

#[test]
fn float_histograms_decode_unchanged() {
    let cases: Vec<(&str, Histogram, FloatHistogram)> = vec![
        (
            "exponential, count not tied to the buckets",
            Histogram {
                sum: -3.25,
                schema: -4,
                zero_threshold: 1e-9,
                zero_count: Some(ZeroCount::ZeroCountFloat(0.5)),
                positive_spans: vec![ps(3, 1)],
                positive_counts: vec![1.5],
                negative_spans: vec![ps(-1, 1), ps(0, 1)],
                negative_counts: vec![0.25, 0.75],
                timestamp: 7,
                ..float(10.5)
            },
            FloatHistogram {
                schema: -4,
                zero_threshold: 1e-9,
                zero_count: 0.5,
                count: 10.5,
                sum: -3.25,
                positive_spans: vec![bs(3, 1)],
                positive_buckets: vec![1.5],
                negative_spans: vec![bs(-1, 1), bs(0, 1)],
                negative_buckets: vec![0.25, 0.75],
                ..FloatHistogram::default()
            },
        ),
        (
            "NaN bucket and count pass, as in Prometheus",
            Histogram { schema: 8, positive_spans: vec![ps(0, 1)], positive_counts: vec![f64::NAN], ..float(f64::NAN) },
            FloatHistogram { schema: 8, count: f64::NAN, positive_spans: vec![bs(0, 1)], positive_buckets: vec![f64::NAN], ..FloatHistogram::default() },
        ),
        (
            "custom buckets (NHCB), -Inf first bound, +Inf bucket populated",
            Histogram {
                sum: 2.0,
                schema: -53,
                reset_hint: ResetHint::Gauge as i32,
                positive_spans: vec![ps(0, 1), ps(1, 1)],
                positive_counts: vec![1.0, 2.0],
                custom_values: vec![f64::NEG_INFINITY, 5.0],
                ..float(3.0)
            },
            FloatHistogram {
                counter_reset_hint: CounterResetHint::Gauge,
                schema: -53,
                count: 3.0,
                sum: 2.0,
                positive_spans: vec![bs(0, 1), bs(1, 1)],
                positive_buckets: vec![1.0, 2.0],
                custom_values: vec![f64::NEG_INFINITY, 5.0],
                ..FloatHistogram::default()
            },
        ),
    ];
    for (name, proto, expected) in &cases {
        assert_decodes(name, proto, expected);
    }
}

#[test]
fn reset_hints_map_by_number_both_ways() {
    let hints = [(0, CounterResetHint::Unknown), (1, CounterResetHint::CounterReset), (2, CounterResetHint::NotCounterReset), (3, CounterResetHint::Gauge)];
    for (number, hint) in hints {
        for proto in [Histogram { reset_hint: number, ..int(0) }, Histogram { reset_hint: number, ..float(0.0) }] {
            let sample = from_proto(&proto).unwrap();
            assert_eq!(sample.histogram.counter_reset_hint, hint, "reset_hint {number}");
            assert_eq!(to_proto(&sample).reset_hint, number, "{hint:?}");
        }
    }
    for number in [4, -1, i32::MAX] {
        assert_eq!(from_proto(&Histogram { reset_hint: number, ..int(0) }), Err(E::UnknownResetHint(number)));
    }
}

#[test]
fn reserved_schemas_are_merged_down_to_8() {
    // At schema s bucket i ends at 2^(i/2^s), so from s to 8 bucket i lands in ceil(i / 2^(s-8)).
    let cases: Vec<(&str, Histogram, FloatHistogram)> = vec![
        (
            "schema 10, integer: indexes -1 0 1 | 4 5 land in 0 0 1 | 1 2",
            Histogram { schema: 10, positive_spans: vec![ps(-1, 3), ps(2, 2)], positive_deltas: vec![1, 1, 1, 1, 1], ..int(15) },
            FloatHistogram { schema: 8, count: 15.0, positive_spans: vec![bs(0, 3)], positive_buckets: vec![3.0, 7.0, 5.0], ..FloatHistogram::default() },
        ),
        (
            "schema 9, float: indexes 1 and 20 land in 1 and 10, a gap remains",
            Histogram { schema: 9, positive_spans: vec![ps(1, 1), ps(18, 1)], positive_counts: vec![0.5, 1.5], ..float(2.0) },
            FloatHistogram { schema: 8, count: 2.0, positive_spans: vec![bs(1, 1), bs(8, 1)], positive_buckets: vec![0.5, 1.5], ..FloatHistogram::default() },
        ),
        (
            "schema 52, integer negative side: indexes -5 and 5 land in 0 and 1",
            Histogram { schema: 52, negative_spans: vec![ps(-5, 1), ps(9, 1)], negative_deltas: vec![2, 1], ..int(5) },
            FloatHistogram { schema: 8, count: 5.0, negative_spans: vec![bs(0, 2)], negative_buckets: vec![2.0, 3.0], ..FloatHistogram::default() },
        ),
    ];
    for (name, proto, expected) in &cases {
        assert_decodes(name, proto, expected);
    }
}

#[test]
fn every_refusal_names_its_cause() {
    let nhcb = |count: f64| Histogram { schema: -53, custom_values: vec![1.0, 2.0], ..float(count) };
    // Three spans of i32::MAX put bucket 1 far past what a 32-bit offset reaches at schema 8.
    let far = 3 * i64::from(i32::MAX);
    let cases: Vec<(&str, Histogram, E)> = vec![
        ("int with positive_counts", Histogram { positive_counts: vec![1.0], ..int(1) }, E::MixedCounts("count_int with positive_counts")),
        ("int with negative_counts", Histogram { negative_counts: vec![1.0], ..int(1) }, E::MixedCounts("count_int with negative_counts")),
        ("int with float zero count", Histogram { zero_count: Some(ZeroCount::ZeroCountFloat(1.0)), ..int(1) }, E::MixedCounts("count_int with zero_count_float")),
        ("float with positive_deltas", Histogram { positive_deltas: vec![1], ..float(1.0) }, E::MixedCounts("count_float with positive_deltas")),
        ("float with negative_deltas", Histogram { negative_deltas: vec![1], ..float(1.0) }, E::MixedCounts("count_float with negative_deltas")),
        ("float with int zero count", Histogram { zero_count: Some(ZeroCount::ZeroCountInt(1)), ..float(1.0) }, E::MixedCounts("count_float with zero_count_int")),
        ("reset hint 4", Histogram { reset_hint: 4, ..float(0.0) }, E::UnknownResetHint(4)),
        ("schema 53", Histogram { schema: 53, ..int(0) }, E::InvalidSchema(53)),
        ("schema -5", Histogram { schema: -5, ..float(0.0) }, E::InvalidSchema(-5)),
        ("schema -52", Histogram { schema: -52, ..float(0.0) }, E::InvalidSchema(-52)),
        (
            "negative offset after the first positive span",
            Histogram { positive_spans: vec![ps(-3, 1), ps(-1, 1)], positive_deltas: vec![1, 0], ..int(2) },
            E::SpanNegativeOffset { side: Side::Positive, span_number: 2, offset: -1 },
        ),
        (
            "negative offset after the first negative span",
            Histogram { negative_spans: vec![ps(0, 1), ps(0, 0), ps(-2, 1)], negative_counts: vec![1.0, 1.0], ..float(2.0) },
            E::SpanNegativeOffset { side: Side::Negative, span_number: 3, offset: -2 },
        ),
        (
            "negative offset while merging a reserved schema",
            Histogram { schema: 12, positive_spans: vec![ps(0, 1), ps(-1, 1)], positive_counts: vec![1.0, 1.0], ..float(2.0) },
            E::SpanNegativeOffset { side: Side::Positive, span_number: 2, offset: -1 },
        ),
        (
            "negative first offset with custom buckets",
            Histogram { positive_spans: vec![ps(-1, 1)], positive_counts: vec![1.0], ..nhcb(1.0) },
            E::SpanNegativeOffset { side: Side::Positive, span_number: 1, offset: -1 },
        ),
        (
            "positive spans longer than the counts",
            Histogram { positive_spans: vec![ps(0, 2), ps(3, 1)], positive_deltas: vec![1, 0], ..int(2) },
            E::SpansBucketsMismatch { side: Side::Positive, spanned: 3, given: 2 },
        ),
        (
            "negative counts without spans",
            Histogram { negative_counts: vec![1.0], ..float(1.0) },
            E::SpansBucketsMismatch { side: Side::Negative, spanned: 0, given: 1 },
        ),
        (
            "spans shorter than the counts while merging a reserved schema",
            Histogram { schema: 20, negative_spans: vec![ps(0, 1)], negative_deltas: vec![1, 1], ..int(3) },
            E::SpansBucketsMismatch { side: Side::Negative, spanned: 1, given: 2 },
        ),
        (
            "custom bucket spans longer than the counts",
            Histogram { positive_spans: vec![ps(0, 2)], positive_counts: vec![1.0], ..nhcb(1.0) },
            E::SpansBucketsMismatch { side: Side::Positive, spanned: 2, given: 1 },
        ),
        (
            "delta decoding overflows",
            Histogram { negative_spans: vec![ps(0, 3)], negative_deltas: vec![1, i64::MAX, 1], ..int(0) },
            E::DeltaOverflow { side: Side::Negative, bucket_number: 2 },
        ),
        (
            "merged bucket index beyond 32 bits",
            Histogram { schema: 9, positive_spans: vec![ps(i32::MAX, 0), ps(i32::MAX, 0), ps(i32::MAX, 1)], positive_counts: vec![1.0], ..float(1.0) },
            E::BucketIndexOutOfRange { side: Side::Positive, index: ((far - 1) >> 1) + 1 },
        ),
        (
            "negative absolute count after delta decoding",
            Histogram { positive_spans: vec![ps(0, 3)], positive_deltas: vec![2, -3, 5], ..int(6) },
            E::NegativeBucketCount { side: Side::Positive, bucket_number: 2, count: -1.0 },
        ),
        (
            "negative float count on the negative side",
            Histogram { negative_spans: vec![ps(0, 2)], negative_counts: vec![1.0, -0.5], ..float(1.0) },
            E::NegativeBucketCount { side: Side::Negative, bucket_number: 2, count: -0.5 },
        ),
        (
            "negative integer count with custom buckets",
            Histogram { schema: -53, custom_values: vec![1.0], positive_spans: vec![ps(0, 1)], positive_deltas: vec![-1], ..int(0) },
            E::NegativeBucketCount { side: Side::Positive, bucket_number: 1, count: -1.0 },
        ),
        ("negative zero count", Histogram { zero_count: Some(ZeroCount::ZeroCountFloat(-1.0)), ..float(0.0) }, E::NegativeZeroCount(-1.0)),
        ("negative count", float(-2.0), E::NegativeCount(-2.0)),
        (
            "integer count above the buckets with a real sum",
            Histogram { sum: 1.0, zero_count: Some(ZeroCount::ZeroCountInt(1)), positive_spans: vec![ps(0, 1)], positive_deltas: vec![3], ..int(5) },
            E::CountMismatch { count: 5, in_buckets: 4 },
        ),
        (
            "integer count below the buckets with a real sum",
            Histogram { negative_spans: vec![ps(0, 2)], negative_deltas: vec![2, 0], ..int(3) },
            E::CountMismatch { count: 3, in_buckets: 4 },
        ),
        (
            "integer count below the buckets with a NaN sum",
            Histogram { sum: f64::NAN, positive_spans: vec![ps(0, 2)], positive_deltas: vec![2, 0], ..int(3) },
            E::CountTooSmall { count: 3, in_buckets: 4 },
        ),
        ("NaN custom bound", Histogram { custom_values: vec![1.0, f64::NAN], ..nhcb(0.0) }, E::CustomBoundNaN { bound_number: 2 }),
        ("only custom bound NaN", Histogram { custom_values: vec![f64::NAN], ..nhcb(0.0) }, E::CustomBoundNaN { bound_number: 1 }),
        (
            "repeated custom bound",
            Histogram { custom_values: vec![0.5, 1.0, 1.0], ..nhcb(0.0) },
            E::CustomBoundsNotIncreasing { bound_number: 3, previous: 1.0, current: 1.0 },
        ),
        ("explicit +Inf custom bound", Histogram { custom_values: vec![1.0, f64::INFINITY], ..nhcb(0.0) }, E::CustomBoundInfinite),
        (
            "spans past the custom buckets",
            Histogram { positive_spans: vec![ps(1, 3)], positive_counts: vec![1.0, 1.0, 1.0], ..nhcb(3.0) },
            E::CustomBoundsTooFew { bounds: 2, spans_reach: 4 },
        ),
        ("custom buckets with a zero count", Histogram { zero_count: Some(ZeroCount::ZeroCountFloat(1.0)), ..nhcb(1.0) }, E::CustomBucketsZeroCount(1.0)),
        (
            "integer custom buckets with a zero count",
            Histogram { schema: -53, zero_count: Some(ZeroCount::ZeroCountInt(2)), ..int(2) },
            E::CustomBucketsZeroCount(2.0),
        ),
        ("custom buckets with a zero threshold", Histogram { zero_threshold: 0.001, ..nhcb(0.0) }, E::CustomBucketsZeroThreshold(0.001)),
        ("custom buckets with negative spans", Histogram { negative_spans: vec![ps(0, 0)], ..nhcb(0.0) }, E::CustomBucketsNegativeSpans),
        ("custom buckets with negative counts", Histogram { negative_counts: vec![1.0], ..nhcb(1.0) }, E::CustomBucketsNegativeBuckets),
        ("exponential schema with custom bounds", Histogram { schema: 3, custom_values: vec![1.0], ..int(0) }, E::ExponentialWithCustomBounds { schema: 3, bounds: 1 }),
    ];
    for (name, proto, expected) in &cases {
        assert_eq!(from_proto(proto).as_ref(), Err(expected), "{name}");
    }
}

#[test]
fn messages_say_what_is_wrong() {
    let cases = [
        (E::SpansBucketsMismatch { side: Side::Positive, spanned: 3, given: 2 }, "histogram positive spans cover 3 buckets but 2 counts were given"),
        (E::MixedCounts("count_int with positive_counts"), "histogram has both integer and float bucket counts: count_int with positive_counts"),
        (E::NegativeBucketCount { side: Side::Negative, bucket_number: 2, count: -1.0 }, "histogram negative bucket number 2 has negative observation count -1"),
        (E::CountMismatch { count: 5, in_buckets: 4 }, "histogram count 5 differs from the 4 observations in its buckets (they must be equal unless the sum is NaN)"),
        (E::UnknownResetHint(7), "histogram reset hint 7 is not one of 0 (UNKNOWN), 1 (YES), 2 (NO), 3 (GAUGE)"),
        (E::CustomBoundsTooFew { bounds: 2, spans_reach: 4 }, "histogram has 2 custom bounds (so 2 + 1 buckets) but its spans reach 4 buckets"),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
}

#[test]
fn float_histograms_round_trip_through_proto() {
    let cases = [
        FloatHistogram {
            counter_reset_hint: CounterResetHint::CounterReset,
            schema: 3,
            zero_threshold: 0.25,
            zero_count: 1.5,
            count: 9.75,
            sum: -4.5,
            positive_spans: vec![bs(-4, 2), bs(3, 1)],
            positive_buckets: vec![1.0, 2.25, 3.0],
            negative_spans: vec![bs(1, 1)],
            negative_buckets: vec![2.0],
            custom_values: vec![],
        },
        FloatHistogram { counter_reset_hint: CounterResetHint::Gauge, schema: -2, count: 0.5, sum: 1e300, ..FloatHistogram::default() },
        FloatHistogram {
            counter_reset_hint: CounterResetHint::NotCounterReset,
            schema: -53,
            count: 6.0,
            sum: 3.5,
            // Buckets 0, 2 and 3, the last being (2.5, +Inf].
            positive_spans: vec![bs(0, 1), bs(1, 2)],
            positive_buckets: vec![1.0, 2.0, 3.0],
            custom_values: vec![0.5, 1.0, 2.5],
            ..FloatHistogram::default()
        },
    ];
    for histogram in cases {
        let sample = HistogramSample { timestamp_ms: 1_700_000_000_123, histogram: histogram.into() };
        let proto = to_proto(&sample);
        assert_eq!(proto.count, Some(Count::CountFloat(sample.histogram.count)));
        assert_eq!(proto.zero_count, Some(ZeroCount::ZeroCountFloat(sample.histogram.zero_count)));
        assert!(proto.positive_deltas.is_empty() && proto.negative_deltas.is_empty());
        assert_eq!(proto.timestamp, 1_700_000_000_123);
        assert_eq!(from_proto(&proto), Ok(sample));
    }
}

/// Valid exponential float histograms: offsets after the first are gaps (non-negative),
/// bucket counts as many as the spans cover and never negative.
fn valid_side() -> impl Strategy<Value = (Vec<BucketSpan>, Vec<f64>)> {
    (-20i32..20, prop::collection::vec((0i32..5, 0u32..4), 0..4)).prop_flat_map(|(first_offset, shape)| {
        let spans: Vec<BucketSpan> = shape.iter().enumerate().map(|(i, &(gap, length))| bs(if i == 0 { first_offset } else { gap }, length)).collect();
        let buckets = spans.iter().map(|s| s.length as usize).sum::<usize>();
        (Just(spans), prop::collection::vec(0.0f64..1e9, buckets))
    })
}

proptest! {
    #[test]
    fn any_valid_float_histogram_round_trips(
        schema in -4i32..=8, hint in 0u8..4, zero_threshold in 0.0f64..1.0, zero_count in 0.0f64..1e6,
        count in 0.0f64..1e12, sum in -1e12f64..1e12, (positive_spans, positive_buckets) in valid_side(),
        (negative_spans, negative_buckets) in valid_side(), timestamp_ms in any::<i64>(),
    ) {
        let histogram = FloatHistogram {
            counter_reset_hint: CounterResetHint::from_u8(hint).unwrap(),
            schema, zero_threshold, zero_count, count, sum, positive_spans, negative_spans, positive_buckets, negative_buckets,
            custom_values: vec![],
        };
        let sample = HistogramSample { timestamp_ms, histogram: histogram.into() };
        prop_assert_eq!(from_proto(&to_proto(&sample)), Ok(sample));
    }
}

#[test]
fn a_histogram_without_a_count_reads_as_an_empty_integer_histogram_as_in_prometheus() {
    let decoded = from_proto(&Histogram { timestamp: 5, ..Histogram::default() }).map_err(|e| e.to_string());
    assert_eq!(decoded.map(|s| (s.timestamp_ms, s.histogram.count, s.histogram.positive_buckets.is_empty())), Ok((5, 0.0, true)));
    // Buckets without a count still fail the count check.
    let unbalanced = Histogram { positive_spans: vec![ProtoSpan { offset: 0, length: 1 }], positive_deltas: vec![2], ..Histogram::default() };
    assert!(from_proto(&unbalanced).is_err());
}
