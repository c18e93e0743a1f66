//! Counter resets between histograms (Prometheus' `DetectReset`), the unextrapolated increase
//! over a window (`histogramRate`), and interpolation between two samples.

use tsdb::{CounterResetHint, FloatHistogram, HistogramSample};

use super::arithmetic::{mul, raw_add, raw_sub, zero_count_for_larger_threshold};
use super::bounds::{exponential_bound, upper_bound};
use super::layout::{compact, reduce_entries, reduce_resolution};
use super::{expand, Entry, HistogramError, Notes};
use crate::engine::start_times::is_start_reset;

/// Whether `current` follows a counter reset after `previous`: the hint decides when it says
/// reset or not-reset; otherwise (unknown, gauge) a lower count, zero count or bucket count (after
/// bringing `previous` to `current`'s schema and zero bucket), a bucket gone, a higher resolution,
/// a narrower zero bucket or other custom bounds whose common buckets shrank mean a reset.
pub(crate) fn detect_reset(previous: &FloatHistogram, current: &FloatHistogram) -> bool {
    match current.counter_reset_hint {
        CounterResetHint::CounterReset => return true,
        CounterResetHint::NotCounterReset => return false,
        CounterResetHint::Unknown | CounterResetHint::Gauge => {}
    }
    if current.count < previous.count {
        return true;
    }
    if current.uses_custom_buckets() {
        if !previous.uses_custom_buckets() {
            return true;
        }
        if current.custom_values != previous.custom_values {
            return common_buckets_shrank(previous, current);
        }
    }
    if current.schema > previous.schema || current.zero_threshold < previous.zero_threshold {
        return true;
    }
    let (previous_zero, threshold) = zero_count_for_larger_threshold(previous, current.zero_threshold);
    if threshold != current.zero_threshold || current.zero_count < previous_zero {
        return true;
    }
    let side = |spans_c, counts_c, spans_p, counts_p| -> bool {
        let beyond = |entries: Vec<Entry>| -> Vec<Entry> {
            if current.uses_custom_buckets() || current.zero_threshold == 0.0 {
                return entries;
            }
            entries.into_iter().skip_while(|e| exponential_bound(e.index, current.schema) <= current.zero_threshold).collect()
        };
        let now = beyond(expand(spans_c, counts_c));
        let before = beyond(reduce_entries(expand(spans_p, counts_p), previous.schema, current.schema, false));
        bucket_decreased(&now, &before)
    };
    side(&current.positive_spans, &current.positive_buckets, &previous.positive_spans, &previous.positive_buckets)
        || side(&current.negative_spans, &current.negative_buckets, &previous.negative_spans, &previous.negative_buckets)
}

/// Whether a bucket of `before` is missing (and populated) or smaller in `now`.
fn bucket_decreased(now: &[Entry], before: &[Entry]) -> bool {
    let mut at = 0;
    for p in before {
        while at < now.len() && now[at].index < p.index {
            at += 1;
        }
        match now.get(at) {
            Some(c) if c.index == p.index => {
                if c.value < p.value {
                    return true;
                }
            }
            _ => {
                if p.value != 0.0 {
                    return true;
                }
            }
        }
    }
    false
}

/// For custom buckets with different bounds: whether, at any bound both have, the counts
/// gathered since the previous common bound are lower now.
fn common_buckets_shrank(previous: &FloatHistogram, current: &FloatHistogram) -> bool {
    let uppers = |h: &FloatHistogram| -> Vec<(f64, f64)> {
        expand(&h.positive_spans, &h.positive_buckets).iter().map(|e| (upper_bound(e.index, h.schema, &h.custom_values), e.value)).collect()
    };
    let (now, before) = (uppers(current), uppers(previous));
    let (mut now_at, mut before_at) = (0, 0);
    let gather = |buckets: &[(f64, f64)], at: &mut usize, bound: f64| -> f64 {
        let mut sum = 0.0;
        while *at < buckets.len() && buckets[*at].0 <= bound {
            sum += buckets[*at].1;
            *at += 1;
        }
        sum
    };
    let (a, b) = (&current.custom_values, &previous.custom_values);
    let (mut i, mut j) = (0, 0);
    while i <= a.len() && j <= b.len() {
        let now_bound = a.get(i).copied().unwrap_or(f64::INFINITY);
        let before_bound = b.get(j).copied().unwrap_or(f64::INFINITY);
        if now_bound == before_bound {
            if gather(&now, &mut now_at, now_bound) < gather(&before, &mut before_at, now_bound) {
                return true;
            }
            (i, j) = (i + 1, j + 1);
        } else if now_bound < before_bound {
            i += 1;
        } else {
            j += 1;
        }
    }
    false
}

/// The increase from the first to the last histogram of a window, unextrapolated (Prometheus'
/// `histogramRate`): with `is_counter`, counter resets add back the histogram before each reset
/// (a reset right after the first sample drops the first sample), all at the lowest schema in
/// the window; without, last minus first (`delta`). A gauge histogram, compacted; `rate`,
/// `increase` and `delta` multiply it by their extrapolation factor, `irate`/`idelta` pass the
/// last two samples.
#[cfg(test)]
pub(crate) fn increase(points: &[HistogramSample], is_counter: bool) -> Result<FloatHistogram, HistogramError> {
    increase_noting(points, is_counter, &mut Notes::default())
}

pub(crate) fn increase_noting(points: &[HistogramSample], is_counter: bool, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    increase_with(points, is_counter, notes, |_| false)
}

/// `increase_noting` of histograms that carry start times (`starts[i]` of `points[i]`, 0: none):
/// a counter also resets where a start says so (Prometheus' `use-start-timestamps`).
pub(crate) fn increase_with_starts_noting(points: &[HistogramSample], starts: &[i64], is_counter: bool, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    let start = |i: usize| starts.get(i).copied().unwrap_or(0);
    increase_with(points, is_counter, notes, |i| is_start_reset(start(i - 1), points[i - 1].timestamp_ms, start(i), points[i].timestamp_ms))
}

/// `increase_noting` with `reset_by_start(i)` telling whether `points[i]` (i >= 1) restarted its
/// count after `points[i - 1]` whatever the buckets say (never, without start times).
fn increase_with(points: &[HistogramSample], is_counter: bool, notes: &mut Notes, reset_by_start: impl Fn(usize) -> bool) -> Result<FloatHistogram, HistogramError> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else { return Err(HistogramError::TooFewSamples(0)) };
    if points.len() < 2 {
        return Err(HistogramError::TooFewSamples(points.len()));
    }
    let (first, last) = (&*first.histogram, &*last.histogram);
    if is_counter && (first.counter_reset_hint == CounterResetHint::Gauge || last.counter_reset_hint == CounterResetHint::Gauge) {
        notes.not_counter = true;
    }
    let mut previous = first.clone();
    if is_counter {
        let second = &*points[1].histogram;
        if reset_by_start(1) || detect_reset(first, second) {
            previous = FloatHistogram { schema: second.schema, custom_values: second.custom_values.clone(), ..FloatHistogram::default() };
        }
    }
    let uses_custom = previous.uses_custom_buckets();
    if last.uses_custom_buckets() != uses_custom {
        return Err(HistogramError::MixedExponentialAndCustom);
    }
    let mut min_schema = last.schema.min(previous.schema);
    if is_counter {
        for p in &points[1..points.len() - 1] {
            let h = &*p.histogram;
            if h.counter_reset_hint == CounterResetHint::Gauge {
                notes.not_counter = true;
            }
            min_schema = min_schema.min(h.schema);
            if h.uses_custom_buckets() != uses_custom {
                return Err(HistogramError::MixedExponentialAndCustom);
            }
        }
    }
    let last_reduced = if min_schema == last.schema {
        last.clone()
    } else {
        // Prometheus' `CopyToSchema` does not carry the hint over.
        FloatHistogram { counter_reset_hint: CounterResetHint::Unknown, ..reduce_resolution(last, min_schema)? }
    };
    let mut h = raw_sub(&last_reduced, &previous, notes)?;
    if is_counter {
        for (i, p) in points.iter().enumerate().skip(1) {
            let current = &*p.histogram;
            if reset_by_start(i) || detect_reset(&previous, current) {
                h = raw_add(&h, &previous, notes)?;
            }
            previous = current.clone();
        }
    } else if first.counter_reset_hint != CounterResetHint::Gauge || last.counter_reset_hint != CounterResetHint::Gauge {
        notes.not_gauge = true;
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    Ok(compact(&h))
}

/// The histogram at time `t` between samples `h1` at `t1` and `h2` at `t2`, linearly (as
/// `smoothed` selectors and rates interpolate); with `is_counter`, a reset in between makes it
/// `h2` scaled as if counted up from zero. Not compacted.
#[cfg(test)]
pub(crate) fn interpolate(h1: &FloatHistogram, t1: i64, h2: &FloatHistogram, t2: i64, t: i64, is_counter: bool) -> Result<FloatHistogram, HistogramError> {
    interpolate_noting(h1, t1, h2, t2, t, is_counter, &mut Notes::default())
}

pub(crate) fn interpolate_noting(h1: &FloatHistogram, t1: i64, h2: &FloatHistogram, t2: i64, t: i64, is_counter: bool, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    if t == t1 {
        return Ok(h1.clone());
    }
    if t == t2 {
        return Ok(h2.clone());
    }
    let fraction = (t - t1) as f64 / (t2 - t1) as f64;
    if is_counter && detect_reset(h1, h2) {
        return Ok(mul(h2, fraction));
    }
    let difference = mul(&raw_sub(h2, h1, notes)?, fraction);
    raw_add(&difference, h1, notes)
}
