//! VictoriaMetrics' values: an int64 mantissa per row and one decimal scale per block, read
//! as floats bit for bit as VictoriaMetrics reads them (its export of the same block gives the
//! same floats), with three reserved mantissas for +Inf, -Inf and the staleness marker.

use tsdb::STALE_NAN_BITS;

const MANTISSA_INF: i64 = i64::MAX;
const MANTISSA_STALE_NAN: i64 = i64::MAX - 1;
const MANTISSA_NEG_INF: i64 = i64::MIN;

/// Appends `mantissa × 10^scale` for each mantissa to `out`.
pub fn append_floats(out: &mut Vec<f64>, mantissas: &[i64], scale: i16) {
    out.reserve(mantissas.len());
    // All zeros are zeros whatever the scale (VictoriaMetrics short-cuts them: with a scale
    // past 308 they would otherwise be 0 × Inf = NaN).
    if mantissas.iter().all(|m| *m == 0) {
        out.resize(out.len() + mantissas.len(), 0.0);
        return;
    }
    let exponent = i32::from(scale);
    // A negative scale divides by the power (more exact than multiplying by its inverse).
    let power = go_pow10(exponent.abs());
    for &mantissa in mantissas {
        let value = match mantissa {
            MANTISSA_INF => f64::INFINITY,
            MANTISSA_NEG_INF => f64::NEG_INFINITY,
            MANTISSA_STALE_NAN => f64::from_bits(STALE_NAN_BITS),
            m if exponent == 0 => m as f64,
            m if exponent < 0 => m as f64 / power,
            m => m as f64 * power,
        };
        out.push(value);
    }
}

/// 10^n for n ≥ 0 computed as Go's `math.Pow10` computes it (VictoriaMetrics' conversion
/// uses it): a power of 10^32 times a power of ten below 32, each a correctly rounded
/// literal, so the product can differ from the correctly rounded 10^n in the last bit; +Inf
/// past 308.
fn go_pow10(n: i32) -> f64 {
    const BELOW_32: [f64; 32] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
    ];
    const OF_32: [f64; 10] = [1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288];
    match usize::try_from(n) {
        Ok(n) if n <= 308 => OF_32[n / 32] * BELOW_32[n % 32],
        Ok(_) => f64::INFINITY,
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(mantissas: &[i64], scale: i16) -> Vec<f64> {
        let mut out = Vec::new();
        append_floats(&mut out, mantissas, scale);
        out
    }

    #[test]
    fn scales_multiply_or_divide_by_powers_of_ten() {
        assert_eq!(floats(&[15, -3, 7], 0), vec![15.0, -3.0, 7.0]);
        assert_eq!(floats(&[15, -3, 123_456_789], -1), vec![1.5, -0.3, 12_345_678.9]);
        assert_eq!(floats(&[1, 5], 3), vec![1000.0, 5000.0]);
        assert_eq!(floats(&[123_456], -5), vec![1.23456]);
        // Large integers above 2^53 round as Go's int64 → float64 conversion does.
        assert_eq!(floats(&[9_007_199_254_740_993], 0), vec![9_007_199_254_740_992.0]);
        assert_eq!(floats(&[1_234_567_890_123], 6), vec![1.234567890123e18]);
    }

    #[test]
    fn reserved_mantissas_are_infinities_and_the_staleness_marker() {
        let got = floats(&[MANTISSA_INF, MANTISSA_NEG_INF, MANTISSA_STALE_NAN, 25], -1);
        assert_eq!(got[..2], [f64::INFINITY, f64::NEG_INFINITY]);
        assert_eq!(got[2].to_bits(), STALE_NAN_BITS);
        assert_eq!(got[3], 2.5);
    }

    #[test]
    fn extreme_scales_follow_go() {
        assert_eq!(floats(&[0, 0], 400), vec![0.0, 0.0], "all zeros short-cut");
        let past = floats(&[0, 1, -1], 400);
        assert!(past[0].is_nan() && past[1] == f64::INFINITY && past[2] == f64::NEG_INFINITY, "{past:?}");
        let tiny = floats(&[1, -1], -400);
        assert_eq!(tiny[0].to_bits(), 0.0f64.to_bits());
        assert_eq!(tiny[1].to_bits(), (-0.0f64).to_bits());
        assert_eq!(floats(&[1], i16::MIN), vec![0.0]);
    }

    #[test]
    fn powers_match_go_bit_for_bit() {
        // Bits of Go 1.19's math.Pow10(n): below 10^23 every power is exact; for 78 of the
        // n up to 308 (10^33 the first) the two-table product is one bit off the correctly
        // rounded power, and VictoriaMetrics' floats follow Go's.
        for n in 0..=22 {
            assert_eq!(go_pow10(n), format!("1e{n}").parse::<f64>().expect("literal"), "10^{n}");
        }
        for (n, go_bits) in [(23, 0x44b5_2d02_c7e1_4af6u64), (33, 0x46c8_a6e3_2246_c99d), (100, 0x54b2_49ad_2594_c37d), (304, 0x7f0d_2a1b_e404_8f91)] {
            assert_eq!(go_pow10(n).to_bits(), go_bits, "10^{n}");
        }
        assert_ne!(go_pow10(33), 1e33, "Go's 10^33 is not the correctly rounded one");
        assert_eq!(go_pow10(309), f64::INFINITY);
    }
}
