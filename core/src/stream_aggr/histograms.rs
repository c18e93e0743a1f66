//! The two value summaries stream aggregation outputs read, as VictoriaMetrics computes them:
//! its log-scale histogram with `vmrange` buckets (18 per decade from 1e-9 to 1e18;
//! `histogram_bucket`), and a reservoir of at most 1000 samples for `quantiles(...)`,
//! replaced by the same xorshift sequence (seed 1), so the same inputs give the same answer.

use std::sync::OnceLock;

const E10_MIN: i32 = -9;
const E10_MAX: i32 = 18;
const BUCKETS_PER_DECIMAL: usize = 18;
const BUCKETS_COUNT: usize = (E10_MAX - E10_MIN) as usize * BUCKETS_PER_DECIMAL;

/// VictoriaMetrics' histogram: counts by `vmrange` bucket.
#[derive(Debug, Clone, Default)]
pub struct VmHistogram {
    /// `[bucket]`, allocated at the first sample inside the range.
    buckets: Vec<u64>,
    /// Samples below 1e-9 (zero included) and from 1e18 up.
    lower: u64,
    upper: u64,
}

impl VmHistogram {
    /// Counts `v`; NaN and negative values are not counted.
    pub fn update(&mut self, v: f64) {
        if v.is_nan() || v < 0.0 {
            return;
        }
        let index = (go_log10(v) - f64::from(E10_MIN)) * BUCKETS_PER_DECIMAL as f64;
        if index < 0.0 {
            self.lower += 1;
        } else if index >= BUCKETS_COUNT as f64 {
            self.upper += 1;
        } else {
            let mut whole = index as usize;
            // A value on a bucket's upper bound belongs to that bucket.
            if index == whole as f64 && whole > 0 {
                whole -= 1;
            }
            if self.buckets.is_empty() {
                self.buckets = vec![0; BUCKETS_COUNT];
            }
            self.buckets[whole] += 1;
        }
    }

    /// The non-empty buckets, lowest first: `(vmrange, count)`.
    pub fn non_zero_buckets(&self) -> Vec<(&'static str, u64)> {
        let ranges = bucket_ranges();
        let mut out = Vec::new();
        if self.lower > 0 {
            out.push((ranges.lower.as_str(), self.lower));
        }
        for (i, &count) in self.buckets.iter().enumerate() {
            if count > 0 {
                out.push((ranges.buckets[i].as_str(), count));
            }
        }
        if self.upper > 0 {
            out.push((ranges.upper.as_str(), self.upper));
        }
        out
    }
}

/// Go's `math.Log10` (log2 of the fraction and exponent, scaled), which the bucket index
/// is computed from.
fn go_log10(x: f64) -> f64 {
    go_log2(x) * (std::f64::consts::LN_2 / std::f64::consts::LN_10)
}

fn go_log2(x: f64) -> f64 {
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return f64::INFINITY;
    }
    let (fraction, exponent) = frexp(x);
    if fraction == 0.5 {
        return f64::from(exponent - 1);
    }
    fraction.ln() * (1.0 / std::f64::consts::LN_2) + f64::from(exponent)
}

/// `x` as fraction in [0.5, 1) times 2^exponent (x finite, above 0).
fn frexp(x: f64) -> (f64, i32) {
    let (mut x, mut bias) = (x, 0);
    if x < f64::MIN_POSITIVE {
        x *= (1u64 << 52) as f64;
        bias = -52;
    }
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1022 + bias;
    let fraction = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (fraction, exponent)
}

struct BucketRanges {
    lower: String,
    upper: String,
    buckets: Vec<String>,
}

/// The `vmrange` texts: `%.3e` bounds, each bucket's upper bound the next one's lower.
fn bucket_ranges() -> &'static BucketRanges {
    static RANGES: OnceLock<BucketRanges> = OnceLock::new();
    RANGES.get_or_init(|| {
        let multiplier = 10f64.powf(1.0 / BUCKETS_PER_DECIMAL as f64);
        let mut v = 10f64.powi(E10_MIN);
        let mut start = go_e3(v);
        let mut buckets = Vec::with_capacity(BUCKETS_COUNT);
        for _ in 0..BUCKETS_COUNT {
            v *= multiplier;
            let end = go_e3(v);
            buckets.push(format!("{start}...{end}"));
            start = end;
        }
        BucketRanges { lower: format!("0...{}", go_e3(10f64.powi(E10_MIN))), upper: format!("{}...+Inf", go_e3(10f64.powi(E10_MAX))), buckets }
    })
}

/// Go's `%.3e`: three decimals and an exponent of at least two digits with its sign.
pub fn go_e3(v: f64) -> String {
    let text = format!("{v:.3e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let sign = if exponent < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exponent.abs())
        }
        None => text,
    }
}

/// Samples kept for quantiles at most; past that, a kept one is replaced at random.
const RESERVOIR_SAMPLES_MAX: usize = 1000;

/// VictoriaMetrics' (valyala's) fast histogram: a bounded reservoir with min and max.
#[derive(Debug, Clone)]
pub struct Reservoir {
    min: f64,
    max: f64,
    count: u64,
    samples: Vec<f64>,
    rng: u32,
}

impl Default for Reservoir {
    fn default() -> Self {
        Reservoir { min: f64::INFINITY, max: f64::NEG_INFINITY, count: 0, samples: Vec::new(), rng: 1 }
    }
}

impl Reservoir {
    pub fn update(&mut self, v: f64) {
        if v > self.max {
            self.max = v;
        }
        if v < self.min {
            self.min = v;
        }
        self.count += 1;
        if self.samples.len() < RESERVOIR_SAMPLES_MAX {
            self.samples.push(v);
            return;
        }
        let n = ((u64::from(self.next_u32()) * (self.count as u32 as u64)) >> 32) as usize;
        if n < self.samples.len() {
            self.samples[n] = v;
        }
    }

    /// xorshift32, as fastrand.
    fn next_u32(&mut self) -> u32 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x
    }

    /// The value at each `phi` (0: the minimum, 1: the maximum).
    pub fn quantiles(&self, phis: &[f64]) -> Vec<f64> {
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        phis.iter()
            .map(|&phi| {
                if sorted.is_empty() || phi.is_nan() {
                    f64::NAN
                } else if phi <= 0.0 {
                    self.min
                } else if phi >= 1.0 {
                    self.max
                } else {
                    let index = (phi * (sorted.len() - 1) as f64 + 0.5) as usize;
                    sorted[index.min(sorted.len() - 1)]
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmrange_texts_are_gos() {
        let ranges = bucket_ranges();
        assert_eq!(ranges.lower, "0...1.000e-09");
        assert_eq!(ranges.upper, "1.000e+18...+Inf");
        assert_eq!(ranges.buckets[0], "1.000e-09...1.136e-09");
        assert_eq!(ranges.buckets.len(), 486);
        assert_eq!(go_e3(123.0), "1.230e+02");
    }

    #[test]
    fn values_fall_into_victoriametrics_buckets() {
        let mut h = VmHistogram::default();
        for v in [0.0, 1.0, 1.0, 1.1, 10.0, 1e20, -1.0, f64::NAN] {
            h.update(v);
        }
        // 1 is the upper bound of the bucket below it (as 10 is); 1.1 lies in 1.000..1.136.
        assert_eq!(
            h.non_zero_buckets(),
            vec![("0...1.000e-09", 1), ("8.799e-01...1.000e+00", 2), ("1.000e+00...1.136e+00", 1), ("8.799e+00...1.000e+01", 1), ("1.000e+18...+Inf", 1)]
        );
    }

    #[test]
    fn quantiles_pick_like_the_fast_histogram() {
        let mut r = Reservoir::default();
        for v in [5.0, 1.0, 4.0, 2.0, 3.0] {
            r.update(v);
        }
        // index = phi*(n-1)+0.5, truncated.
        assert_eq!(r.quantiles(&[0.0, 0.5, 0.9, 1.0, 0.1]), vec![1.0, 3.0, 5.0, 5.0, 1.0]);
        assert!(Reservoir::default().quantiles(&[0.5])[0].is_nan());
        let mut big = Reservoir::default();
        for i in 0..5000 {
            big.update(f64::from(i));
        }
        assert_eq!(big.samples.len(), RESERVOIR_SAMPLES_MAX);
        assert_eq!(big.quantiles(&[0.0, 1.0]), vec![0.0, 4999.0]);
    }
}
