//! Native histograms on the wire: a remote_write `Histogram` (integer or float flavour) into a
//! `tsdb::HistogramSample`, refused where Prometheus refuses it on append (its `Validate()`,
//! after merging schemas 9..=52 down to 8 as its remote_write handler does), and a stored
//! histogram back into the float flavour for remote read's SAMPLES answers.

use std::fmt;
use std::ops::AddAssign;
use std::sync::Arc;

use proto::remote_write_v1::histogram::{Count, ResetHint, ZeroCount};
use proto::remote_write_v1::{BucketSpan as ProtoSpan, Histogram};
use tsdb::model::{CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN};
use tsdb::{BucketSpan, CounterResetHint, FloatHistogram, HistogramSample};

/// Exponential schemas `EXPONENTIAL_SCHEMA_MAX + 1 ..= this` are reserved for finer
/// resolutions than Prometheus stores; its remote_write handler (3.7+) accepts them and merges
/// buckets down to `EXPONENTIAL_SCHEMA_MAX`. Anything finer is refused.
pub const REDUCIBLE_SCHEMA_MAX: i32 = 52;

/// Which half of the bucket layout a problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Positive,
    Negative,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Positive => "positive",
            Side::Negative => "negative",
        })
    }
}

/// Why a protobuf histogram was refused. Numbers in messages are 1-based ("bucket number 2"),
/// as Prometheus counts them.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HistogramDecodeError {
    /// The flavour is chosen by the count oneof; another field of the other flavour was set.
    #[error("histogram has both integer and float bucket counts: {0}")]
    MixedCounts(&'static str),
    #[error("histogram reset hint {0} is not one of 0 (UNKNOWN), 1 (YES), 2 (NO), 3 (GAUGE)")]
    UnknownResetHint(i32),
    #[error("histogram schema {0} is invalid: exponential schemas run from -4 to 8 (9 to 52 are reduced to 8), custom buckets use -53")]
    InvalidSchema(i32),
    #[error("histogram {side} span number {span_number} has negative offset {offset}")]
    SpanNegativeOffset { side: Side, span_number: usize, offset: i32 },
    #[error("histogram {side} spans cover {spanned} buckets but {given} counts were given")]
    SpansBucketsMismatch { side: Side, spanned: u64, given: usize },
    #[error("histogram {side} bucket number {bucket_number} overflows a 64-bit count after delta decoding")]
    DeltaOverflow { side: Side, bucket_number: usize },
    /// Reducing a reserved schema to 8 met a bucket index that does not fit a span offset.
    #[error("histogram {side} bucket index {index} does not fit in 32 bits")]
    BucketIndexOutOfRange { side: Side, index: i64 },
    #[error("histogram {side} bucket number {bucket_number} has negative observation count {count}")]
    NegativeBucketCount { side: Side, bucket_number: usize, count: f64 },
    #[error("histogram zero bucket has negative observation count {0}")]
    NegativeZeroCount(f64),
    #[error("histogram observation count {0} is negative")]
    NegativeCount(f64),
    #[error("histogram count {count} differs from the {in_buckets} observations in its buckets (they must be equal unless the sum is NaN)")]
    CountMismatch { count: u64, in_buckets: u128 },
    #[error("histogram count {count} is less than the {in_buckets} observations in its buckets")]
    CountTooSmall { count: u64, in_buckets: u128 },
    #[error("histogram custom bound number {bound_number} is NaN")]
    CustomBoundNaN { bound_number: usize },
    #[error("histogram custom bounds must strictly increase, but bound number {bound_number} is {current} after {previous}")]
    CustomBoundsNotIncreasing { bound_number: usize, previous: f64, current: f64 },
    #[error("histogram's last custom bound is +Inf; the +Inf bucket must stay implicit")]
    CustomBoundInfinite,
    #[error("histogram has {bounds} custom bounds (so {bounds} + 1 buckets) but its spans reach {spans_reach} buckets")]
    CustomBoundsTooFew { bounds: usize, spans_reach: u64 },
    #[error("histogram with custom buckets has zero count {0}; it must be 0")]
    CustomBucketsZeroCount(f64),
    #[error("histogram with custom buckets has zero threshold {0}; it must be 0")]
    CustomBucketsZeroThreshold(f64),
    #[error("histogram with custom buckets has negative spans")]
    CustomBucketsNegativeSpans,
    #[error("histogram with custom buckets has negative bucket counts")]
    CustomBucketsNegativeBuckets,
    #[error("histogram with exponential schema {schema} has {bounds} custom bounds")]
    ExponentialWithCustomBounds { schema: i32, bounds: usize },
    /// The storage model's own invariants (`FloatHistogram::validate`); the checks above are
    /// meant to catch everything first, so this names a gap between the two.
    #[error("histogram is invalid: {0}")]
    Invalid(String),
}

use HistogramDecodeError as E;

/// A remote_write histogram as stored: integer counts become floats (delta-decoded first),
/// reserved schemas 9..=52 are reduced to 8, and everything Prometheus would refuse on append
/// is refused here with the reason.
pub fn from_proto(h: &Histogram) -> Result<HistogramSample, HistogramDecodeError> {
    let counter_reset_hint = reset_hint_from_proto(h.reset_hint)?;
    let mut histogram = match h.count {
        // No count at all reads as an integer histogram with count 0, as in Prometheus (an
        // empty histogram, or a bad one that the count check below refuses).
        None => integer_from_proto(h, 0)?,
        Some(Count::CountInt(count)) => integer_from_proto(h, count)?,
        Some(Count::CountFloat(count)) => float_from_proto(h, count)?,
    };
    histogram.counter_reset_hint = counter_reset_hint;
    histogram.validate().map_err(E::Invalid)?;
    Ok(HistogramSample { timestamp_ms: h.timestamp, histogram: Arc::new(histogram) })
}

/// A stored histogram in remote_write's float flavour (what Prometheus' remote read sends
/// for float histograms): float count and zero count, absolute `*_counts`, no deltas.
pub fn to_proto(sample: &HistogramSample) -> Histogram {
    let h = &*sample.histogram;
    Histogram {
        count: Some(Count::CountFloat(h.count)),
        sum: h.sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(ZeroCount::ZeroCountFloat(h.zero_count)),
        negative_spans: spans_to_proto(&h.negative_spans),
        negative_deltas: Vec::new(),
        negative_counts: h.negative_buckets.clone(),
        positive_spans: spans_to_proto(&h.positive_spans),
        positive_deltas: Vec::new(),
        positive_counts: h.positive_buckets.clone(),
        reset_hint: reset_hint_to_proto(h.counter_reset_hint) as i32,
        timestamp: sample.timestamp_ms,
        custom_values: h.custom_values.clone(),
        start_timestamp: 0,
    }
}

fn reset_hint_from_proto(value: i32) -> Result<CounterResetHint, HistogramDecodeError> {
    Ok(match ResetHint::try_from(value) {
        Ok(ResetHint::Unknown) => CounterResetHint::Unknown,
        Ok(ResetHint::Yes) => CounterResetHint::CounterReset,
        Ok(ResetHint::No) => CounterResetHint::NotCounterReset,
        Ok(ResetHint::Gauge) => CounterResetHint::Gauge,
        Err(_) => return Err(E::UnknownResetHint(value)),
    })
}

fn reset_hint_to_proto(hint: CounterResetHint) -> ResetHint {
    match hint {
        CounterResetHint::Unknown => ResetHint::Unknown,
        CounterResetHint::CounterReset => ResetHint::Yes,
        CounterResetHint::NotCounterReset => ResetHint::No,
        CounterResetHint::Gauge => ResetHint::Gauge,
    }
}

/// One side's spans with its absolute bucket counts (`i64` for integer histograms, so that
/// negative counts after delta decoding can be named; `f64` for float ones).
struct Buckets<T> {
    spans: Vec<BucketSpan>,
    counts: Vec<T>,
}

trait BucketCount: Copy + PartialOrd + AddAssign + Default {
    fn as_f64(self) -> f64;
}

impl BucketCount for i64 {
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl BucketCount for f64 {
    fn as_f64(self) -> f64 {
        self
    }
}

fn integer_from_proto(h: &Histogram, count: u64) -> Result<FloatHistogram, HistogramDecodeError> {
    if !h.positive_counts.is_empty() {
        return Err(E::MixedCounts("count_int with positive_counts"));
    }
    if !h.negative_counts.is_empty() {
        return Err(E::MixedCounts("count_int with negative_counts"));
    }
    // Prometheus reads an absent zero count as 0; so do we.
    let zero_count = match h.zero_count {
        None => 0,
        Some(ZeroCount::ZeroCountInt(z)) => z,
        Some(ZeroCount::ZeroCountFloat(_)) => return Err(E::MixedCounts("count_int with zero_count_float")),
    };
    let mut schema = h.schema;
    let mut positive = Buckets { spans: spans_from_proto(&h.positive_spans), counts: absolute_counts(Side::Positive, &h.positive_deltas)? };
    let mut negative = Buckets { spans: spans_from_proto(&h.negative_spans), counts: absolute_counts(Side::Negative, &h.negative_deltas)? };
    reduce_reserved_schema(&mut schema, &mut positive, &mut negative)?;
    check_layout(schema, zero_count as f64, h.zero_threshold, &positive, &negative, &h.custom_values)?;

    // Every count is non-negative now, so the sum cannot wrap in 128 bits.
    let in_buckets: u128 = u128::from(zero_count) + positive.counts.iter().chain(&negative.counts).map(|&c| c as u128).sum::<u128>();
    if h.sum.is_nan() {
        // A NaN observation lands in no bucket, so only then may the count exceed them.
        if in_buckets > u128::from(count) {
            return Err(E::CountTooSmall { count, in_buckets });
        }
    } else if in_buckets != u128::from(count) {
        return Err(E::CountMismatch { count, in_buckets });
    }

    Ok(FloatHistogram {
        schema,
        zero_threshold: h.zero_threshold,
        zero_count: zero_count as f64,
        count: count as f64,
        sum: h.sum,
        positive_buckets: positive.counts.iter().map(|&c| c as f64).collect(),
        positive_spans: positive.spans,
        negative_buckets: negative.counts.iter().map(|&c| c as f64).collect(),
        negative_spans: negative.spans,
        custom_values: h.custom_values.clone(),
        ..FloatHistogram::default()
    })
}

fn float_from_proto(h: &Histogram, count: f64) -> Result<FloatHistogram, HistogramDecodeError> {
    if !h.positive_deltas.is_empty() {
        return Err(E::MixedCounts("count_float with positive_deltas"));
    }
    if !h.negative_deltas.is_empty() {
        return Err(E::MixedCounts("count_float with negative_deltas"));
    }
    let zero_count = match h.zero_count {
        None => 0.0,
        Some(ZeroCount::ZeroCountFloat(z)) => z,
        Some(ZeroCount::ZeroCountInt(_)) => return Err(E::MixedCounts("count_float with zero_count_int")),
    };
    let mut schema = h.schema;
    let mut positive = Buckets { spans: spans_from_proto(&h.positive_spans), counts: h.positive_counts.clone() };
    let mut negative = Buckets { spans: spans_from_proto(&h.negative_spans), counts: h.negative_counts.clone() };
    reduce_reserved_schema(&mut schema, &mut positive, &mut negative)?;
    check_layout(schema, zero_count, h.zero_threshold, &positive, &negative, &h.custom_values)?;
    // Float histograms come from aggregation and rounding, so Prometheus does not tie the
    // count to the buckets; it only refuses a negative one (NaN passes, as there).
    if count < 0.0 {
        return Err(E::NegativeCount(count));
    }

    Ok(FloatHistogram {
        schema,
        zero_threshold: h.zero_threshold,
        zero_count,
        count,
        sum: h.sum,
        positive_spans: positive.spans,
        positive_buckets: positive.counts,
        negative_spans: negative.spans,
        negative_buckets: negative.counts,
        custom_values: h.custom_values.clone(),
        ..FloatHistogram::default()
    })
}

fn spans_from_proto(spans: &[ProtoSpan]) -> Vec<BucketSpan> {
    spans.iter().map(|s| BucketSpan { offset: s.offset, length: s.length }).collect()
}

fn spans_to_proto(spans: &[BucketSpan]) -> Vec<ProtoSpan> {
    spans.iter().map(|s| ProtoSpan { offset: s.offset, length: s.length }).collect()
}

/// Delta-encoded counts (each relative to the previous bucket) to absolute ones. Negative
/// results are kept for now: Prometheus checks signs after merging reserved schemas.
fn absolute_counts(side: Side, deltas: &[i64]) -> Result<Vec<i64>, HistogramDecodeError> {
    let mut current: i64 = 0;
    deltas
        .iter()
        .enumerate()
        .map(|(i, &delta)| {
            current = current.checked_add(delta).ok_or(E::DeltaOverflow { side, bucket_number: i + 1 })?;
            Ok(current)
        })
        .collect()
}

/// Schemas 9..=52 merge into schema 8 (what Prometheus' remote_write handler does before
/// appending); others are left for `check_layout` to accept or refuse.
fn reduce_reserved_schema<T: BucketCount>(schema: &mut i32, positive: &mut Buckets<T>, negative: &mut Buckets<T>) -> Result<(), HistogramDecodeError> {
    if !(EXPONENTIAL_SCHEMA_MAX + 1..=REDUCIBLE_SCHEMA_MAX).contains(&*schema) {
        return Ok(());
    }
    let shift = (*schema - EXPONENTIAL_SCHEMA_MAX) as u32;
    *positive = reduce_resolution(Side::Positive, positive, shift)?;
    *negative = reduce_resolution(Side::Negative, negative, shift)?;
    *schema = EXPONENTIAL_SCHEMA_MAX;
    Ok(())
}

/// Merges each run of `2^shift` buckets into one: bucket `i` (upper bound `2^(i/2^s)`) lands
/// in bucket `ceil(i / 2^shift)` of the coarser schema, spans rebuilt around the result.
fn reduce_resolution<T: BucketCount>(side: Side, from: &Buckets<T>, shift: u32) -> Result<Buckets<T>, HistogramDecodeError> {
    check_spans(side, from)?;
    let fits_i32 = |index: i64| i32::try_from(index).map_err(|_| E::BucketIndexOutOfRange { side, index });
    let mut to = Buckets { spans: Vec::new(), counts: Vec::with_capacity(from.counts.len()) };
    let mut counts = from.counts.iter();
    let mut index: i64 = 0;
    let mut last_target: i64 = 0;
    for span in &from.spans {
        index = index.checked_add(i64::from(span.offset)).ok_or(E::BucketIndexOutOfRange { side, index })?;
        for _ in 0..span.length {
            let count = *counts.next().expect("check_spans: the spans cover exactly the counts");
            let target = ((index - 1) >> shift) + 1;
            match to.spans.last_mut() {
                None => {
                    to.spans.push(BucketSpan { offset: fits_i32(target)?, length: 1 });
                    to.counts.push(count);
                }
                Some(_) if target == last_target => *to.counts.last_mut().expect("a span holds at least one count") += count,
                Some(last) if target == last_target + 1 => {
                    last.length += 1;
                    to.counts.push(count);
                }
                Some(_) => {
                    debug_assert!(target > last_target, "offsets after the first span are non-negative (check_spans)");
                    to.spans.push(BucketSpan { offset: fits_i32(target - last_target - 1)?, length: 1 });
                    to.counts.push(count);
                }
            }
            last_target = target;
            index = index.checked_add(1).ok_or(E::BucketIndexOutOfRange { side, index })?;
        }
    }
    Ok(to)
}

/// Prometheus' `Validate()` less the count rule, which differs between the flavours.
fn check_layout<T: BucketCount>(schema: i32, zero_count: f64, zero_threshold: f64, positive: &Buckets<T>, negative: &Buckets<T>, custom_values: &[f64]) -> Result<(), HistogramDecodeError> {
    if schema == CUSTOM_BUCKETS_SCHEMA {
        check_custom_bounds(custom_values, positive)?;
        if zero_count != 0.0 {
            return Err(E::CustomBucketsZeroCount(zero_count));
        }
        if zero_threshold != 0.0 {
            return Err(E::CustomBucketsZeroThreshold(zero_threshold));
        }
        if !negative.spans.is_empty() {
            return Err(E::CustomBucketsNegativeSpans);
        }
        if !negative.counts.is_empty() {
            return Err(E::CustomBucketsNegativeBuckets);
        }
    } else if (EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&schema) {
        check_spans(Side::Positive, positive)?;
        check_spans(Side::Negative, negative)?;
        check_non_negative(Side::Negative, &negative.counts)?;
        // NaN passes, as in Prometheus.
        if zero_count < 0.0 {
            return Err(E::NegativeZeroCount(zero_count));
        }
        if !custom_values.is_empty() {
            return Err(E::ExponentialWithCustomBounds { schema, bounds: custom_values.len() });
        }
    } else {
        return Err(E::InvalidSchema(schema));
    }
    check_non_negative(Side::Positive, &positive.counts)
}

/// Offsets after the first are gaps and cannot be negative; the lengths add up to the counts.
fn check_spans<T>(side: Side, buckets: &Buckets<T>) -> Result<(), HistogramDecodeError> {
    if let Some((n, span)) = buckets.spans.iter().enumerate().skip(1).find(|(_, s)| s.offset < 0) {
        return Err(E::SpanNegativeOffset { side, span_number: n + 1, offset: span.offset });
    }
    spans_cover_counts(side, buckets)
}

fn spans_cover_counts<T>(side: Side, buckets: &Buckets<T>) -> Result<(), HistogramDecodeError> {
    let spanned: u64 = buckets.spans.iter().map(|s| u64::from(s.length)).sum();
    if spanned != buckets.counts.len() as u64 {
        return Err(E::SpansBucketsMismatch { side, spanned, given: buckets.counts.len() });
    }
    Ok(())
}

/// NaN counts pass (NaN < 0 is false), as in Prometheus.
fn check_non_negative<T: BucketCount>(side: Side, counts: &[T]) -> Result<(), HistogramDecodeError> {
    match counts.iter().position(|&c| c < T::default()) {
        Some(i) => Err(E::NegativeBucketCount { side, bucket_number: i + 1, count: counts[i].as_f64() }),
        None => Ok(()),
    }
}

/// Custom bounds: no NaN, strictly increasing, +Inf never explicit; the spans (whose first
/// offset is an index too, so cannot be negative either) stay within the `bounds + 1` buckets.
fn check_custom_bounds<T>(bounds: &[f64], positive: &Buckets<T>) -> Result<(), HistogramDecodeError> {
    for (i, &bound) in bounds.iter().enumerate() {
        if bound.is_nan() {
            return Err(E::CustomBoundNaN { bound_number: i + 1 });
        }
        if i > 0 && bound <= bounds[i - 1] {
            return Err(E::CustomBoundsNotIncreasing { bound_number: i + 1, previous: bounds[i - 1], current: bound });
        }
    }
    if bounds.last() == Some(&f64::INFINITY) {
        return Err(E::CustomBoundInfinite);
    }
    if let Some((n, span)) = positive.spans.iter().enumerate().find(|(_, s)| s.offset < 0) {
        return Err(E::SpanNegativeOffset { side: Side::Positive, span_number: n + 1, offset: span.offset });
    }
    spans_cover_counts(Side::Positive, positive)?;
    let spans_reach: u64 = positive.spans.iter().fold(0u64, |reach, s| reach.saturating_add(s.offset as u64 + u64::from(s.length)));
    if spans_reach > bounds.len() as u64 + 1 {
        return Err(E::CustomBoundsTooFew { bounds: bounds.len(), spans_reach });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
