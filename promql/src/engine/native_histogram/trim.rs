//! Trimming a histogram at a value (Prometheus' `TrimBuckets`, the `</` and `>/` operators):
//! buckets beyond the value go, the bucket it cuts keeps its interpolated share, and count and sum
//! are recomputed from bucket midpoints when anything was cut.

use tsdb::FloatHistogram;

use super::bounds::bucket_range;
use super::layout::compact;
use super::{expand, Bucket};

/// `h </ rhs` (`keep_below`: observations above `rhs` removed) or `h >/ rhs` (below removed).
pub(crate) fn trim(h: &FloatHistogram, rhs: f64, keep_below: bool) -> FloatHistogram {
    let mut out = h.clone();
    let custom = h.uses_custom_buckets();
    let (mut count, mut sum, mut trimmed) = (0.0, 0.0, false);
    let mut populated = [false, false]; // negative, positive
    for positive in [true, false] {
        let counts = if positive { &mut out.positive_buckets } else { &mut out.negative_buckets };
        let entries = if positive { expand(&h.positive_spans, &h.positive_buckets) } else { expand(&h.negative_spans, &h.negative_buckets) };
        for (i, e) in entries.iter().enumerate() {
            if e.value == 0.0 {
                continue;
            }
            populated[usize::from(positive)] = true;
            let (lower, upper) = bucket_range(e.index, positive, h.schema, &h.custom_values);
            let b = Bucket { lower, upper, count: e.value, ..Bucket::default() };
            let whole = if keep_below { upper <= rhs } else { lower >= rhs };
            let cut = if keep_below { lower < rhs } else { upper > rhs };
            if whole {
                count += b.count;
                sum += midpoint(lower, upper, positive, custom) * b.count;
            } else if cut {
                let (kept, kept_midpoint) = trim_bucket(&b, rhs, keep_below, positive, custom);
                count += kept;
                sum += kept_midpoint * kept;
                if counts[i] != kept {
                    counts[i] = kept;
                    trimmed = true;
                }
            } else {
                counts[i] = 0.0;
                trimmed = true;
            }
        }
    }
    if h.zero_count > 0.0 {
        let (kept, kept_midpoint) = trim_zero_bucket(h, rhs, populated[0], populated[1], keep_below);
        if out.zero_count != kept {
            out.zero_count = kept;
            trimmed = true;
        }
        sum += kept_midpoint * kept;
        count += kept;
    }
    if !trimmed {
        return out;
    }
    out.count = count;
    out.sum = sum;
    compact(&out)
}

/// Where the observations of [lower, upper] are taken to lie: the arithmetic mean for linear
/// (custom) buckets, the geometric mean for exponential ones; half the finite bound, or the
/// finite bound, next to an infinite one.
fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        return if upper > 0.0 { upper / 2.0 } else { upper };
    }
    if upper.is_infinite() {
        return lower;
    }
    if linear {
        return (lower + upper) / 2.0;
    }
    let geometric = (lower * upper).abs().sqrt();
    if positive {
        geometric
    } else {
        -geometric
    }
}

/// The share of bucket `b` at or below `v` (strictly inside it): linear, or on a log scale.
fn fraction_below(b: &Bucket, v: f64, linear: bool) -> f64 {
    if linear {
        return (v - b.lower) / (b.upper - b.lower);
    }
    let (log_lower, log_upper, log_v) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
    if v > 0.0 {
        (log_v - log_lower) / (log_upper - log_lower)
    } else {
        1.0 - (log_v - log_upper) / (log_lower - log_upper)
    }
}

/// The count a bucket cut at `rhs` keeps, and where those observations lie.
fn trim_bucket(b: &Bucket, rhs: f64, keep_below: bool, positive: bool, linear: bool) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return trim_infinite_bucket(b, rhs, keep_below);
    }
    let below = if rhs <= b.lower {
        0.0
    } else if rhs >= b.upper {
        b.count
    } else {
        b.count * fraction_below(b, rhs, linear)
    };
    if keep_below {
        (below, midpoint(b.lower, rhs, positive, linear))
    } else {
        (b.count - below, midpoint(rhs, b.upper, positive, linear))
    }
}

/// A cut bucket with an infinite bound: nothing is known about where in it observations lie, so
/// it is kept or dropped whole, except that a first custom bucket with a positive upper bound is
/// taken to start at 0.
fn trim_infinite_bucket(b: &Bucket, rhs: f64, keep_below: bool) -> (f64, f64) {
    let finite_or_zero = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        if keep_below {
            if rhs >= b.upper {
                return (b.count, 0.0);
            }
            if rhs > 0.0 && b.upper > 0.0 && b.upper.is_finite() {
                return (b.count * rhs / b.upper, rhs / 2.0);
            }
            if b.upper <= 0.0 {
                return (b.count, rhs);
            }
            return (0.0, finite_or_zero(b.upper));
        }
        if rhs <= b.lower {
            return (b.count, 0.0);
        }
        if rhs >= 0.0 && b.upper > rhs && b.upper.is_finite() {
            return (b.count * (1.0 - rhs / b.upper), (rhs + b.upper) / 2.0);
        }
        return (0.0, finite_or_zero(b.upper));
    }
    if keep_below {
        return (0.0, finite_or_zero(b.lower));
    }
    if rhs >= b.lower {
        return (b.count, rhs);
    }
    (0.0, finite_or_zero(b.lower))
}

/// The zero bucket's share on the kept side of `rhs`, linearly; a histogram with buckets on one
/// side only has its zero bucket end at 0 on the other.
fn trim_zero_bucket(h: &FloatHistogram, rhs: f64, has_negative: bool, has_positive: bool, keep_below: bool) -> (f64, f64) {
    let (mut lower, mut upper) = (-h.zero_threshold, h.zero_threshold);
    if has_negative && !has_positive {
        upper = 0.0;
    }
    if has_positive && !has_negative {
        lower = 0.0;
    }
    let (share, kept_midpoint) = if keep_below {
        if rhs <= lower {
            return (0.0, 0.0);
        }
        if rhs >= upper {
            return (h.zero_count, (lower + upper) / 2.0);
        }
        ((rhs - lower) / (upper - lower), (lower + rhs) / 2.0)
    } else {
        if rhs <= lower {
            return (h.zero_count, (lower + upper) / 2.0);
        }
        if rhs >= upper {
            return (0.0, 0.0);
        }
        ((upper - rhs) / (upper - lower), (rhs + upper) / 2.0)
    };
    (h.zero_count * share, kept_midpoint)
}
