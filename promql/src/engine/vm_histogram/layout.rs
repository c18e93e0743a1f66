//! VictoriaMetrics' histogram bucket layout (its `metrics` library's `Histogram`, MetricsQL's
//! `histogram()` and `histogram_over_time()`): 18 log-spaced buckets per decade from 1e-9 to
//! 1e18, a lower bucket `0...1.000e-09` and an upper one `1.000e+18...+Inf`, each named by a
//! `vmrange="<lower>...<upper>"` label whose bounds are written as Go's `%.3e`.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The decade of the lowest bucket bound (1e-9) and of the highest (1e18).
const E10_MIN: i32 = -9;
const E10_MAX: i32 = 18;
const BUCKETS_PER_DECADE: usize = 18;
/// The log-spaced buckets between 1e-9 and 1e18.
const DECIMAL_BUCKETS: usize = (E10_MAX - E10_MIN) as usize * BUCKETS_PER_DECADE;

/// 10^(1/18) as Go's `math.Pow(10, 1.0/18)` gives it (bit for bit): the bounds are products of
/// it, so a last-bit difference from another `pow` could change how a bound is written.
const BUCKET_MULTIPLIER_BITS: u64 = 0x3ff2_2ef4_8683_80ca;

/// Which bucket a value falls in: below 1e-9 (zero included), one of the log-spaced ones
/// (its index from 1e-9 up), or from 1e18 up (+Inf included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bucket {
    Lower,
    Decimal(usize),
    Upper,
}

impl Bucket {
    /// The bucket holding `v`; `None` for NaN and negative values, which VictoriaMetrics'
    /// histograms do not count. A bucket holds its upper bound and not its lower one (as `le`
    /// buckets do), except that 1e-9 itself is in the first log-spaced bucket.
    pub fn of(v: f64) -> Option<Bucket> {
        if v.is_nan() || v < 0.0 {
            return None;
        }
        let position = (go_log10(v) - f64::from(E10_MIN)) * BUCKETS_PER_DECADE as f64;
        if position < 0.0 {
            return Some(Bucket::Lower);
        }
        if position >= DECIMAL_BUCKETS as f64 {
            return Some(Bucket::Upper);
        }
        // `position` lies in [0, DECIMAL_BUCKETS): the cast truncates it to its bucket.
        let mut index = position as usize;
        if position == index as f64 && index > 0 {
            // A bound (10^n) belongs to the bucket below it.
            index -= 1;
        }
        Some(Bucket::Decimal(index))
    }

    /// The bucket's `vmrange` label value, e.g. `1.000e+00...1.136e+00`.
    pub fn vmrange(self) -> String {
        let bounds = bounds();
        match self {
            Bucket::Lower => format!("0...{}", bounds[0]),
            Bucket::Decimal(i) => format!("{}...{}", bounds[i], bounds[i + 1]),
            Bucket::Upper => format!("{}...+Inf", go_exp3(10f64.powi(E10_MAX))),
        }
    }
}

/// The written bounds of the log-spaced buckets: 1e-9, then each the one before times the
/// multiplier (as VictoriaMetrics computes them, so the rounding is the same).
fn bounds() -> &'static [String] {
    static BOUNDS: OnceLock<Vec<String>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        let multiplier = f64::from_bits(BUCKET_MULTIPLIER_BITS);
        let mut v = 1e-9;
        let mut out = Vec::with_capacity(DECIMAL_BUCKETS + 1);
        out.push(go_exp3(v));
        for _ in 0..DECIMAL_BUCKETS {
            v *= multiplier;
            out.push(go_exp3(v));
        }
        out
    })
}

/// `v` as Go's `%.3e` writes it: `1.136e+02`, `1.000e-09` (a sign and at least two exponent digits).
pub(in crate::engine) fn go_exp3(v: f64) -> String {
    if !v.is_finite() {
        return crate::format::go_float_g(v);
    }
    let text = format!("{v:.3e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            let exponent: i32 = exponent.parse().unwrap_or(0);
            let sign = if exponent < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs())
        }
        None => text,
    }
}

/// Go's `math.Log10`: log2 through `Frexp` (exact at powers of two) times log10(2). Bucket
/// edges depend on its last bit (10^n must land exactly on an edge), so it is computed the way
/// Go does rather than with the platform's `log10`.
fn go_log10(x: f64) -> f64 {
    go_log2(x) * std::f64::consts::LOG10_2
}

fn go_log2(x: f64) -> f64 {
    let (fraction, exponent) = frexp(x);
    if fraction == 0.5 {
        return f64::from(exponent - 1);
    }
    fraction.ln() * std::f64::consts::LOG2_E + f64::from(exponent)
}

/// `x` as fraction × 2^exponent with the fraction in [0.5, 1) (0, infinities and NaN as they are).
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, shift) = if x.abs() < f64::MIN_POSITIVE { (x * (1u64 << 52) as f64, -52) } else { (x, 0) };
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (fraction, biased - 1022 + shift)
}

/// One histogram's counts per bucket (VictoriaMetrics' `metrics.Histogram`, less its sum).
#[derive(Debug, Clone, Default)]
pub struct VmHistogram {
    counts: BTreeMap<Bucket, u64>,
}

impl VmHistogram {
    /// Counts `v` (NaN and negative values are not counted).
    pub fn update(&mut self, v: f64) {
        if let Some(bucket) = Bucket::of(v) {
            *self.counts.entry(bucket).or_default() += 1;
        }
    }

    /// The buckets that hold a value, lowest first: their `vmrange` and count.
    pub fn buckets(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        self.counts.iter().map(|(bucket, &count)| (bucket.vmrange(), count as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_buckets_victoriametrics_puts_them_in() {
        // (value, vmrange); the indices agree with VictoriaMetrics' Go code run on these values.
        let cases: &[(f64, &str)] = &[
            (0.0, "0...1.000e-09"),
            (1e-10, "0...1.000e-09"),
            (1e-9, "1.000e-09...1.136e-09"),
            (1.0, "8.799e-01...1.000e+00"),
            (1.1, "1.000e+00...1.136e+00"),
            (1.15, "1.136e+00...1.292e+00"),
            (1.5, "1.468e+00...1.668e+00"),
            (100.0, "8.799e+01...1.000e+02"),
            (123.0, "1.136e+02...1.292e+02"),
            (999.0, "8.799e+02...1.000e+03"),
            (1e17, "8.799e+16...1.000e+17"),
            (1e18, "1.000e+18...+Inf"),
            (f64::INFINITY, "1.000e+18...+Inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(Bucket::of(v).map(Bucket::vmrange).as_deref(), Some(want), "{v}");
        }
        assert_eq!(Bucket::of(-1.0), None);
        assert_eq!(Bucket::of(f64::NAN), None);
        assert_eq!(Bucket::of(-0.0), Some(Bucket::Lower));
    }

    #[test]
    fn every_power_of_ten_is_the_top_of_a_bucket() {
        for e in E10_MIN + 1..E10_MAX {
            let Some(Bucket::Decimal(i)) = Bucket::of(10f64.powi(e)) else { panic!("10^{e} outside the log-spaced buckets") };
            assert_eq!(i + 1, (e - E10_MIN) as usize * BUCKETS_PER_DECADE, "10^{e}");
            assert!(Bucket::Decimal(i).vmrange().ends_with(&go_exp3(10f64.powi(e))), "10^{e}");
        }
    }

    #[test]
    fn bounds_are_written_as_go_writes_them() {
        let bounds = bounds();
        assert_eq!(bounds.len(), DECIMAL_BUCKETS + 1);
        assert_eq!((bounds[0].as_str(), bounds[1].as_str(), bounds[18].as_str()), ("1.000e-09", "1.136e-09", "1.000e-08"));
        assert_eq!(bounds[DECIMAL_BUCKETS], "1.000e+18");
        assert_eq!(go_exp3(0.0), "0.000e+00");
        assert_eq!(go_exp3(123456.0), "1.235e+05");
        // The multiplier is 10^(1/18) within the last bit.
        let multiplier = f64::from_bits(BUCKET_MULTIPLIER_BITS);
        assert!((multiplier.powi(18) - 10.0).abs() < 1e-13);
    }

    #[test]
    fn frexp_splits_normal_and_subnormal_numbers() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
        assert_eq!(go_log10(1.0), 0.0);
    }

    #[test]
    fn a_histogram_counts_per_bucket_lowest_first() {
        let mut h = VmHistogram::default();
        for v in [1.5, 0.0, 1.5, f64::NAN, -3.0, 1e20] {
            h.update(v);
        }
        let got: Vec<(String, f64)> = h.buckets().collect();
        assert_eq!(got, vec![("0...1.000e-09".to_string(), 1.0), ("1.468e+00...1.668e+00".to_string(), 2.0), ("1.000e+18...+Inf".to_string(), 1.0)]);
    }
}
