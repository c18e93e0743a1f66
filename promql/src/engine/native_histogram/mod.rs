//! Native histogram math as PromQL needs it, over `tsdb::FloatHistogram`: arithmetic with schema
//! and zero-bucket reconciliation, counter resets and `increase`, quantiles, fractions, variance,
//! Kahan sums and means, the bucket list the HTTP API renders and the text `count_values` uses.
//! Semantics follow Prometheus 3 (`model/histogram/float_histogram.go`, `promql/quantile.go`,
//! `promql/functions.go`) result for result; counts compare by bit pattern where Prometheus does.

mod arithmetic;
mod bounds;
mod layout;
mod quantile;
mod reset;
mod text;
mod trim;

pub(crate) use arithmetic::{add_noting, div, mul, negate, raw_add, raw_sub, sub_noting, HistogramMean, HistogramSum};
pub(crate) use layout::{compact, compact_keeping, equals, reduce_resolution, spans_match};
pub(crate) use quantile::{buckets, fraction_noting, quantile_noting, stddev, stdvar, Bucket};
pub(crate) use reset::{detect_reset, increase_noting, increase_with_starts_noting, interpolate_noting};
// The forms without annotations: the engine calls the `_noting` ones; tests call these.
#[cfg(test)]
pub(crate) use {
    arithmetic::{add, sub},
    quantile::{fraction, quantile},
    reset::{increase, interpolate},
};
pub(crate) use text::display;
pub(crate) use trim::trim;

use tsdb::BucketSpan;

/// Why two histograms could not be combined.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HistogramError {
    /// One histogram has exponential buckets, the other custom bounds (Prometheus'
    /// `ErrHistogramsIncompatibleSchema`; PromQL turns it into a warning and drops the result).
    #[error("cannot apply this operation on histograms with a mix of exponential and custom bucket schemas")]
    MixedExponentialAndCustom,
    /// A resolution can only be lowered, and only between exponential schemas.
    #[error("cannot reduce resolution from schema {from} to {to}")]
    ReduceResolution { from: i32, to: i32 },
    /// `increase` needs two histograms to subtract.
    #[error("increase of native histograms needs at least 2 samples, got {0}")]
    TooFewSamples(usize),
}

/// What Prometheus reports as annotations beside a result; the functions that can cause one take
/// `&mut Notes` (`*_noting`) and only ever set flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Notes {
    /// Custom bounds differed and were reduced to the bounds both have (an info).
    pub custom_bounds_reconciled: bool,
    /// The same, told apart by the operation it happened in (Prometheus names it): an addition
    /// or Kahan sum, a subtraction.
    pub reconciled_in_addition: bool,
    pub reconciled_in_subtraction: bool,
    /// One input was marked as a counter reset, another as not (a warning).
    pub counter_reset_collision: bool,
    /// A counter function (`rate`, `increase`) met a histogram marked as a gauge (a warning).
    pub not_counter: bool,
    /// `delta` met histograms not marked as gauges (a warning).
    pub not_gauge: bool,
    /// The histogram holds NaN observations that may skew a quantile or fraction (an info).
    pub nan_observations: bool,
    /// The quantile fell among NaN observations and is NaN (an info).
    pub quantile_in_nan_observations: bool,
}

/// One bucket of a side of a histogram while it is being combined: its index in the current
/// schema, its count, and the Kahan compensation of the count (0 outside Kahan sums).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    index: i32,
    value: f64,
    comp: f64,
}

/// The buckets of spans/counts as entries in index order (empty buckets kept). Indexes wrap
/// at the ends of `i32` as Go's do (a histogram may start a span at `i32::MAX`).
fn expand(spans: &[BucketSpan], counts: &[f64]) -> Vec<Entry> {
    let mut out = Vec::with_capacity(counts.len());
    let mut index: i32 = 0;
    let mut counts = counts.iter();
    for (n, span) in spans.iter().enumerate() {
        index = if n == 0 { span.offset } else { index.wrapping_add(span.offset) };
        for _ in 0..span.length {
            let Some(&value) = counts.next() else { return out };
            out.push(Entry { index, value, comp: 0.0 });
            index = index.wrapping_add(1);
        }
    }
    out
}

/// Spans and counts of entries in index order: consecutive indexes share a span.
fn collapse(entries: &[Entry]) -> (Vec<BucketSpan>, Vec<f64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut next_index = 0;
    for e in entries {
        match spans.last_mut() {
            Some(last) if e.index == next_index => last.length += 1,
            Some(_) => spans.push(BucketSpan { offset: e.index.wrapping_sub(next_index), length: 1 }),
            None => spans.push(BucketSpan { offset: e.index, length: 1 }),
        }
        next_index = e.index.wrapping_add(1);
    }
    (spans, entries.iter().map(|e| e.value).collect())
}

/// Kahan-Neumaier step as Prometheus' `kahansum.Inc`: adds `inc` to `sum`, the lost low-order
/// part to `c`; an infinite sum clears the compensation.
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

#[cfg(test)]
mod tests;
