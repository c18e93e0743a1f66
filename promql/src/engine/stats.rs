//! Numeric kernels shared by aggregations and `*_over_time`: compensated summation,
//! quantiles with linear interpolation, variance, Go-style min/max NaN handling.

/// Kahan-Babuška compensated sum (what Prometheus uses for sum/avg).
#[derive(Default, Clone, Copy)]
pub struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    pub fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if self.sum.abs() >= v.abs() {
            self.c += (self.sum - t) + v;
        } else {
            self.c += (v - t) + self.sum;
        }
        self.sum = t;
    }

    pub fn value(&self) -> f64 {
        // Inf + -Inf compensation would turn an infinite sum into NaN.
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

pub fn sum(values: &[f64]) -> f64 {
    let mut k = KahanSum::default();
    values.iter().for_each(|v| k.add(*v));
    k.value()
}

/// Mean, falling back to an incremental mean when the plain sum overflows.
pub fn mean(values: &[f64]) -> f64 {
    let mut m = Mean::default();
    values.iter().for_each(|v| m.add(*v));
    m.value()
}

/// `mean` fed one value at a time (in the same order, the same result).
#[derive(Default, Clone, Copy)]
pub struct Mean {
    sum: KahanSum,
    count: u64,
    /// The incremental mean, for when the plain sum overflows.
    incremental: f64,
    any_infinite_or_nan: bool,
}

impl Mean {
    pub fn add(&mut self, v: f64) {
        self.sum.add(v);
        self.count += 1;
        let n = self.count as f64;
        self.incremental += v / n - self.incremental / n;
        self.any_infinite_or_nan |= !v.is_finite();
    }

    pub fn value(&self) -> f64 {
        if self.count == 0 {
            return f64::NAN;
        }
        let s = self.sum.value();
        if s.is_finite() || self.any_infinite_or_nan {
            s / self.count as f64
        } else {
            self.incremental
        }
    }
}

/// Population variance (Welford).
pub fn variance(values: &[f64]) -> f64 {
    let mut w = Welford::default();
    values.iter().for_each(|v| w.add(*v));
    w.variance()
}

/// Welford's running mean and sum of squared deviations.
#[derive(Default, Clone, Copy)]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
}

impl Welford {
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        let delta = v - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (v - self.mean);
    }

    pub fn variance(&self) -> f64 {
        if self.count == 0 {
            f64::NAN
        } else {
            self.m2 / self.count as f64
        }
    }
}

/// One step of Prometheus' min/max over values in order: `v` replaces `best` when it is
/// better, or when `best` is NaN (so NaN loses to any number).
pub fn extreme_step(best: f64, v: f64, want_min: bool) -> f64 {
    if (if want_min { v < best } else { v > best }) || best.is_nan() {
        v
    } else {
        best
    }
}

/// Prometheus' quantile: φ<0 → -Inf, φ>1 → +Inf, linear interpolation between ranks.
pub fn quantile(phi: f64, values: &[f64]) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    let mut sorted = values.to_vec();
    // Go's sort.Float64s order: NaN first.
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or_else(|| b.is_nan().cmp(&a.is_nan())));
    let n = sorted.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0) as usize;
    let upper = (lower + 1).min(sorted.len() - 1);
    let weight = rank - rank.floor();
    sorted[lower] * (1.0 - weight) + sorted[upper] * weight
}

/// Go's math.Min/Max semantics: NaN wins.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels() {
        assert_eq!(sum(&[1.0, 1e100, 1.0, -1e100]), 2.0);
        assert_eq!(quantile(0.5, &[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert_eq!(quantile(2.0, &[1.0]), f64::INFINITY);
        assert_eq!(variance(&[1.0, 3.0]), 1.0);
        assert_eq!(mean(&[f64::MAX, f64::MAX]), f64::MAX);
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(extreme_step(f64::NAN, 2.0, true), 2.0);
        assert_eq!(extreme_step(1.0, f64::NAN, false), 1.0);
        assert!(mean(&[]).is_nan());
        assert!(variance(&[]).is_nan());
    }

    proptest::proptest! {
        /// The incremental mean matches the textbook incremental formula over a whole slice
        /// (the path taken when the plain sum overflows) bit for bit.
        #[test]
        fn mean_falls_back_like_the_slice_formula(values in proptest::collection::vec(proptest::prop_oneof![-1e308f64..1e308, proptest::num::f64::ANY], 1..40)) {
            let mut m = 0.0;
            for (i, v) in values.iter().enumerate() {
                m += v / (i + 1) as f64 - m / (i + 1) as f64;
            }
            let s = sum(&values);
            let expected = if s.is_finite() || values.iter().any(|v| !v.is_finite()) { s / values.len() as f64 } else { m };
            let got = mean(&values);
            proptest::prop_assert!(got.to_bits() == expected.to_bits() || (got.is_nan() && expected.is_nan()));
        }
    }
}
