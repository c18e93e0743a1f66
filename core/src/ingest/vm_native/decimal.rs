//! VictoriaMetrics' values: an int64 mantissa per row and one decimal scale per block, read
//! as floats bit for bit as VictoriaMetrics reads them (its export of the same block gives the
//! same floats), with three reserved mantissas for +Inf, -Inf and the staleness marker; and
//! floats turned into mantissas and a scale as VictoriaMetrics 1.79 turns them (its
//! `AppendFloatToDecimal`), so an exported value reads back as VictoriaMetrics' own would.

use tsdb::STALE_NAN_BITS;

const MANTISSA_INF: i64 = i64::MAX;
const MANTISSA_STALE_NAN: i64 = i64::MAX - 1;
const MANTISSA_NEG_INF: i64 = i64::MIN;
/// The ordinary mantissas lie between these; the reserved ones outside.
const MANTISSA_MAX: i64 = i64::MAX - 2;
const MANTISSA_MIN: i64 = i64::MIN + 1;

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

/// 10^n computed as Go's `math.Pow10` computes it (VictoriaMetrics' conversions use it): a
/// power of 10^32 times (for n < 0: divided by) a power of ten below 32, each a correctly
/// rounded literal, so the result can differ from the correctly rounded 10^n in the last
/// bit; +Inf past 308, 0 below -323.
fn go_pow10(n: i32) -> f64 {
    const BELOW_32: [f64; 32] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
    ];
    const OF_32: [f64; 10] = [1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288];
    const OF_MINUS_32: [f64; 11] = [1e0, 1e-32, 1e-64, 1e-96, 1e-128, 1e-160, 1e-192, 1e-224, 1e-256, 1e-288, 1e-320];
    match n {
        0..=308 => OF_32[n as usize / 32] * BELOW_32[n as usize % 32],
        -323..=-1 => OF_MINUS_32[n.unsigned_abs() as usize / 32] / BELOW_32[n.unsigned_abs() as usize % 32],
        309.. => f64::INFINITY,
        _ => 0.0,
    }
}

/// Appends a mantissa for each of `values` to `out` and returns their common decimal scale,
/// as VictoriaMetrics 1.79 converts a block's floats: each float to the shortest (mantissa,
/// exponent) its conversion finds, then all brought to the smallest exponent that leaves
/// every mantissa within int64 (digits of the most precise value are dropped otherwise).
/// Infinities and the staleness marker take the reserved mantissas; a zero of either sign
/// is 0. A NaN other than the staleness marker has no mantissa (VictoriaMetrics drops them
/// on ingestion): it comes out as a huge negative number, so callers leave NaNs out.
pub fn append_mantissas(out: &mut Vec<i64>, values: &[f64]) -> i16 {
    let start = out.len();
    if values.iter().all(|v| v.to_bits() == 0) {
        out.resize(start + values.len(), 0);
        return 0;
    }
    if values.iter().all(|v| v.to_bits() == 1f64.to_bits()) {
        out.resize(start + values.len(), 1);
        return 0;
    }
    let mut exponents = Vec::with_capacity(values.len());
    let mut scale = i16::MAX;
    for &value in values {
        let (mantissa, exponent) = from_float(value);
        out.push(mantissa);
        exponents.push(exponent);
        if exponent < scale && !is_reserved(mantissa) {
            scale = exponent;
        }
    }
    // Exponent arithmetic wraps at 16 bits, as VictoriaMetrics' does (a block of only
    // reserved mantissas gets an odd but harmless scale that way).
    let mut raise = 0i16;
    for (&mantissa, &exponent) in out[start..].iter().zip(&exponents) {
        let over = exponent.wrapping_sub(scale).wrapping_sub(up_exponent_max(mantissa));
        raise = raise.max(over);
    }
    scale = scale.wrapping_add(raise);
    for (mantissa, &exponent) in out[start..].iter_mut().zip(&exponents) {
        if is_reserved(*mantissa) {
            continue;
        }
        let mut shift = exponent.wrapping_sub(scale);
        while shift > 0 {
            *mantissa = mantissa.wrapping_mul(10);
            shift -= 1;
        }
        while shift < 0 {
            *mantissa /= 10;
            shift += 1;
        }
    }
    scale
}

fn is_reserved(mantissa: i64) -> bool {
    !(MANTISSA_MIN..=MANTISSA_MAX).contains(&mantissa)
}

/// How many powers of ten `mantissa` can be multiplied by within int64 (any number for 0 and
/// the reserved mantissas).
fn up_exponent_max(mantissa: i64) -> i16 {
    if mantissa == 0 || is_reserved(mantissa) {
        return 1024;
    }
    let Some(magnitude) = mantissa.checked_abs() else { return 0 };
    let mut limit = i64::MAX;
    let mut powers = 0;
    while powers < 18 && magnitude <= limit / 10 {
        limit /= 10;
        powers += 1;
    }
    powers
}

/// One float as (mantissa, exponent) with the mantissa as small as the conversion finds.
fn from_float(value: f64) -> (i64, i16) {
    if value == 0.0 {
        return (0, 0);
    }
    if value.to_bits() == STALE_NAN_BITS {
        return (MANTISSA_STALE_NAN, 0);
    }
    if value.is_infinite() {
        return (if value > 0.0 { MANTISSA_INF } else { MANTISSA_NEG_INF }, 0);
    }
    if value > 0.0 {
        let (mantissa, exponent) = positive_to_decimal(value);
        return (mantissa.min(MANTISSA_MAX), exponent);
    }
    let (mantissa, exponent) = positive_to_decimal(-value);
    (mantissa.wrapping_neg().max(MANTISSA_MIN), exponent)
}

/// Go's float64 → uint64 conversion on amd64 (where the VictoriaMetrics binaries run): NaN
/// and anything from 2^64 up give 2^63, where Rust's `as` saturates.
fn go_float_to_u64(value: f64) -> u64 {
    if value.is_nan() || value >= 18_446_744_073_709_551_616.0 {
        1 << 63
    } else {
        value as u64
    }
}

fn positive_to_decimal(value: f64) -> (i64, i16) {
    let whole = go_float_to_u64(value);
    if whole as f64 != value {
        return fraction_to_decimal(value);
    }
    if whole < 1 << 55 && !whole.is_multiple_of(10) {
        return (whole as i64, 0);
    }
    // Digits past the 53 significant bits are noise: dropped, then trailing zeros too.
    let (mut digits, mut exponent) = (whole, 0i16);
    while digits >= 1 << 55 {
        digits /= 10;
        exponent += 1;
    }
    if !digits.is_multiple_of(10) {
        return (digits as i64, exponent);
    }
    digits /= 10;
    exponent += 1;
    while digits != 0 && digits.is_multiple_of(10) {
        digits /= 10;
        exponent += 1;
    }
    (digits as i64, exponent)
}

/// A positive float that is not a whole number below 2^64: brought near 1 when far from it,
/// then multiplied by 100 until its fraction is negligible beside its whole part (within one
/// part in 10^12; 10^15 for values above 10^6).
fn fraction_to_decimal(mut value: f64) -> (i64, i16) {
    let mut exponent = 0i16;
    let mut precision = 1e12;
    if !(1e-6..=1e6).contains(&value) {
        if value > 1e6 {
            precision = 1e15;
        }
        let binary_exponent = go_frexp_exponent(value).clamp(-1022, 1023);
        exponent = (f64::from(binary_exponent) * std::f64::consts::LOG10_2) as i16;
        value *= go_pow10(-i32::from(exponent));
    }
    while value < precision {
        let whole = value.trunc();
        let fraction = value - whole;
        if fraction * precision < whole {
            value = whole;
            break;
        }
        if (1.0 - fraction) * precision < whole {
            value = whole + 1.0;
            break;
        }
        value *= 100.0;
        exponent = exponent.wrapping_sub(2);
    }
    let digits = go_float_to_u64(value);
    if !digits.is_multiple_of(10) {
        return (digits as i64, exponent);
    }
    ((digits / 10) as i64, exponent.wrapping_add(1))
}

/// The binary exponent Go's `math.Frexp` gives a positive finite `value` (value = f × 2^exp
/// with f in [0.5, 1)), subnormals included.
fn go_frexp_exponent(value: f64) -> i32 {
    let (normal, shift) = if value < f64::MIN_POSITIVE { (value * (1u64 << 52) as f64, -52) } else { (value, 0) };
    let biased = ((normal.to_bits() >> 52) & 0x7ff) as i32;
    shift + biased - 1022
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

    #[test]
    fn floats_become_the_mantissas_victoriametrics_makes() {
        // (block, scale, mantissas, bits read back) as VictoriaMetrics 1.79.12's
        // AppendFloatToDecimal and ToFloat give them (Go 1.19, amd64).
        let stale = f64::from_bits(STALE_NAN_BITS);
        type Case<'a> = (&'a [f64], i16, &'a [i64], &'a [u64]);
        let cases: &[Case] = &[
            (&[1.5], -1, &[15], &[0x3ff8_0000_0000_0000]),
            // Lossy: one scale for the block, so 2^53 loses the digits 1e21 has no room for.
            (&[9_007_199_254_740_992.0, 1e21, -4.5e18], 3, &[9_007_199_254_740, 1_000_000_000_000_000_000, -4_500_000_000_000_000], &[0x433f_ffff_ffff_fc20, 0x444b_1ae4_d6e2_ef50, 0xc3cf_399b_1438_a100]),
            (&[9_007_199_254_740_992.0, 123_456_789_012_345.0], 0, &[9_007_199_254_740_992, 123_456_789_012_345], &[0x4340_0000_0000_0000, 0x42dc_1221_8377_de40]),
            (&[0.1], -1, &[1], &[0x3fb9_9999_9999_999a]),
            (&[-45.6, 3.0], -1, &[-456, 30], &[0xc046_cccc_cccc_cccd, 0x4008_0000_0000_0000]),
            (&[1e-7], -7, &[1], &[0x3e7a_d7f2_9abc_af48]),
            (&[123_456_789.123], -3, &[123_456_789_123], &[0x419d_6f34_547d_f3b6]),
            (&[9_007_199_254_740_992.0], 0, &[9_007_199_254_740_992], &[0x4340_0000_0000_0000]),
            (&[1e21], 20, &[10], &[0x444b_1ae4_d6e2_ef50]),
            (&[18_446_744_073_709_551_616.0], 3, &[18_446_744_073_709_548], &[0x43ef_ffff_ffff_fffe]),
            (&[5e-324], -335, &[494_065_645_841], &[0]),
            (&[f64::MAX], 293, &[1_797_693_134_862_315], &[0x7fef_ffff_ffff_fffb]),
            (&[0.1, 1e15], -1, &[1, 10_000_000_000_000_000], &[0x3fb9_9999_9999_999a, 0x430c_6bf5_2634_0000]),
            (&[f64::INFINITY, f64::NEG_INFINITY, stale], -1024, &[MANTISSA_INF, MANTISSA_NEG_INF, MANTISSA_STALE_NAN], &[0x7ff0_0000_0000_0000, 0xfff0_0000_0000_0000, STALE_NAN_BITS]),
            (&[stale], -1024, &[MANTISSA_STALE_NAN], &[STALE_NAN_BITS]),
            (&[-0.0, 1.0], 0, &[0, 1], &[0, 0x3ff0_0000_0000_0000]),
            (&[std::f64::consts::PI, std::f64::consts::E], -12, &[3_141_592_653_589, 2_718_281_828_459], &[0x4009_21fb_5444_261e, 0x4005_bf0a_8b14_5703]),
            (&[1e-300, 1e300], 282, &[0, 1_000_000_000_000_000_000], &[0, 0x7e37_e43c_8800_759c]),
            (&[100.0, 2500.0, 1e10], 2, &[1, 25, 100_000_000], &[0x4059_0000_0000_0000, 0x40a3_8800_0000_0000, 0x4202_a05f_2000_0000]),
            (&[1.0 / 3.0], -12, &[333_333_333_333], &[0x3fd5_5555_5555_3de1]),
            (&[-1e-5, 12.25], -5, &[-1, 1_225_000], &[0xbee4_f8b5_88e3_68f1, 0x4028_8000_0000_0000]),
        ];
        for &(values, scale, mantissas, bits) in cases {
            let mut got = Vec::new();
            assert_eq!(append_mantissas(&mut got, values), scale, "{values:?}");
            assert_eq!(got, mantissas, "{values:?}");
            let back: Vec<u64> = floats(&got, scale).iter().map(|f| f.to_bits()).collect();
            assert_eq!(back, bits, "{values:?}");
        }
        let mut zeros = vec![7];
        assert_eq!(append_mantissas(&mut zeros, &[0.0, 0.0]), 0);
        assert_eq!(zeros, vec![7, 0, 0], "appended after what was there");
    }

    #[test]
    fn negative_powers_match_go() {
        // Bits of Go 1.19's math.Pow10(-5).
        assert_eq!(go_pow10(-5).to_bits(), 0x3ee4_f8b5_88e3_68f1);
        assert_eq!(go_pow10(-323), 1e-320 / 1e3);
        assert_eq!(go_pow10(-324), 0.0);
    }
}
