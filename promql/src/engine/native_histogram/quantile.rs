//! Reading a distribution off a histogram: the bucket list (as the HTTP API renders it),
//! `histogram_quantile`, `histogram_fraction`, `histogram_stddev`/`histogram_stdvar`.
//! Exponential buckets interpolate on a log scale, custom buckets and the zero bucket linearly.

use tsdb::FloatHistogram;

use super::bounds::bucket_range;
use super::{expand, kahan_inc, Notes};

/// One bucket with its bounds; whether each bound belongs to the bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Bucket {
    pub lower: f64,
    pub upper: f64,
    pub count: f64,
    pub lower_inclusive: bool,
    pub upper_inclusive: bool,
}

impl Bucket {
    /// The first element of a bucket in Prometheus' JSON: 0 upper bound inclusive only, 1 lower
    /// only, 2 neither, 3 both.
    pub(crate) fn boundary_rule(&self) -> u8 {
        match (self.lower_inclusive, self.upper_inclusive) {
            (false, true) => 0,
            (true, false) => 1,
            (false, false) => 2,
            (true, true) => 3,
        }
    }
}

/// All buckets from the lowest to the highest: negative ones from the most negative, the zero
/// bucket if it has observations, then positive ones; bounds inside the zero bucket are moved to
/// its edge (Prometheus' `AllBucketIterator`). Empty buckets are included; the JSON API leaves
/// them out.
pub(crate) fn buckets(h: &FloatHistogram) -> Vec<Bucket> {
    let custom = h.uses_custom_buckets();
    let threshold = h.zero_threshold;
    let bucket = |index: i32, count: f64, positive: bool| -> Bucket {
        let (mut lower, mut upper) = bucket_range(index, positive, h.schema, &h.custom_values);
        let (lower_inclusive, upper_inclusive) = if custom { (index == 0, true) } else { (lower < 0.0, upper > 0.0) };
        if lower > 0.0 && lower < threshold {
            lower = threshold;
        } else if upper < 0.0 && upper > -threshold {
            upper = -threshold;
        }
        Bucket { lower, upper, count, lower_inclusive, upper_inclusive }
    };
    let negative = expand(&h.negative_spans, &h.negative_buckets);
    let positive = expand(&h.positive_spans, &h.positive_buckets);
    let mut out: Vec<Bucket> = negative.iter().rev().map(|e| bucket(e.index, e.value, false)).collect();
    if h.zero_count > 0.0 && !custom {
        out.push(Bucket { lower: -threshold, upper: threshold, count: h.zero_count, lower_inclusive: true, upper_inclusive: true });
    }
    out.extend(positive.iter().map(|e| bucket(e.index, e.value, true)));
    out
}

/// `histogram_quantile(q, h)`: NaN without observations or for NaN `q`, ±Inf for `q` outside
/// [0, 1]; otherwise interpolated in the bucket where the rank falls (from the top for
/// `q >= 0.5` unless NaN observations make the sum NaN).
#[cfg(test)]
pub(crate) fn quantile(q: f64, h: &FloatHistogram) -> f64 {
    quantile_noting(q, h, &mut Notes::default())
}

pub(crate) fn quantile_noting(q: f64, h: &FloatHistogram, notes: &mut Notes) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let custom = h.uses_custom_buckets();
    let forward = h.sum.is_nan() || q < 0.5;
    let mut all = buckets(h);
    let mut rank = if forward { q * h.count } else { (1.0 - q) * h.count };
    if !forward {
        all.reverse();
    }
    let (mut bucket, mut count, mut visited) = (Bucket::default(), 0.0, 0);
    for b in &all {
        bucket = *b;
        visited += 1;
        if b.count == 0.0 {
            continue;
        }
        count += b.count;
        if count >= rank {
            break;
        }
    }
    if !custom && bucket.lower < 0.0 && bucket.upper > 0.0 {
        // In the zero bucket: a histogram with buckets on one side only bounds it by 0.
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                return bucket.upper;
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            return bucket.lower;
        }
    }
    count = count.min(h.count);
    if count < rank {
        if h.sum.is_nan() {
            notes.quantile_in_nan_observations = true;
            return f64::NAN;
        }
        return bucket.upper;
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    if h.sum.is_nan() {
        let observed: f64 = count + all[visited..].iter().map(|b| b.count).sum::<f64>();
        if observed < h.count {
            notes.nan_observations = true;
        }
    }
    let fraction = rank / bucket.count;
    if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        return bucket.lower + (bucket.upper - bucket.lower) * fraction;
    }
    let (log_lower, log_upper) = (bucket.lower.abs().log2(), bucket.upper.abs().log2());
    if bucket.lower > 0.0 {
        return (log_lower + (log_upper - log_lower) * fraction).exp2();
    }
    -(log_upper + (log_lower - log_upper) * (1.0 - fraction)).exp2()
}

/// `histogram_fraction(lower, upper, h)`: the share of observations between the bounds,
/// interpolating inside the buckets they cut. NaN without observations or for a NaN bound, 0
/// for `lower >= upper`.
#[cfg(test)]
pub(crate) fn fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    fraction_noting(lower, upper, h, &mut Notes::default())
}

pub(crate) fn fraction_noting(lower: f64, upper: f64, h: &FloatHistogram, notes: &mut Notes) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let all = buckets(h);
    let linear_everywhere = h.uses_custom_buckets();
    let (mut count, mut rank) = (0.0, 0.0);
    let (mut lower_rank, mut upper_rank): (Option<f64>, Option<f64>) = (None, None);
    let mut visited = 0;
    for b in &all {
        let mut b = *b;
        visited += 1;
        count += b.count;
        let zero_bucket = b.lower <= 0.0 && b.upper >= 0.0;
        if zero_bucket {
            if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
                b.lower = 0.0;
            } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
                b.upper = 0.0;
            }
        }
        let interpolate = |v: f64| -> f64 {
            if linear_everywhere || zero_bucket {
                if b.lower == f64::NEG_INFINITY {
                    // Nothing can be said about where in an infinitely wide bucket v falls.
                    return b.count;
                }
                return rank + b.count * (v - b.lower) / (b.upper - b.lower);
            }
            let (log_lower, log_upper, log_v) = (b.lower.abs().log2(), b.upper.abs().log2(), v.abs().log2());
            let below = if v > 0.0 { (log_v - log_lower) / (log_upper - log_lower) } else { 1.0 - (log_v - log_upper) / (log_lower - log_upper) };
            rank + b.count * below
        };
        if lower_rank.is_none() && b.lower >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && b.lower >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && b.lower < lower && b.upper > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && b.lower < upper && b.upper > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank += b.count;
    }
    if h.sum.is_nan() {
        count += all[visited..].iter().map(|b| b.count).sum::<f64>();
        if count < h.count {
            notes.nan_observations = true;
        }
    } else {
        count = h.count;
    }
    // A rank past the observations (or not found) is all of them; a NaN rank stays NaN.
    let capped = |rank: Option<f64>| match rank {
        Some(r) if r > count => count,
        Some(r) => r,
        None => count,
    };
    let (lower_rank, upper_rank) = (capped(lower_rank), capped(upper_rank));
    (upper_rank - lower_rank) / h.count
}

/// `histogram_stdvar(h)`: the variance of the observations, each bucket's observations taken at
/// its midpoint (geometric mean of the bounds for exponential buckets, 0 in the zero bucket,
/// arithmetic mean for custom buckets) around `sum / count`.
pub(crate) fn stdvar(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let custom = h.uses_custom_buckets();
    let (mut variance, mut c) = (0.0, 0.0);
    for b in buckets(h) {
        if b.count == 0.0 {
            continue;
        }
        let midpoint = if custom {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let geometric = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 {
                -geometric
            } else {
                geometric
            }
        };
        let delta = midpoint - mean;
        (variance, c) = kahan_inc(b.count * delta * delta, variance, c);
    }
    (variance + c) / h.count
}

/// `histogram_stddev(h)`: the square root of `stdvar`.
pub(crate) fn stddev(h: &FloatHistogram) -> f64 {
    stdvar(h).sqrt()
}
