//! Float formatting as Go's `strconv.FormatFloat(v, 'f', -1, 64)` with Prometheus' switch
//! to exponent form below 1e-6 and from 1e21 (the API's sample values and `count_values`
//! labels). Also Go's `%g` of a float (`go_float_g`) and a string as Go's `encoding/json`
//! writes it.

/// Appends `text` as a JSON string literal the way Go's `encoding/json` (Go 1.22 and later,
/// which Prometheus 3 is built with) writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped as
/// `\u00XX`/`\u20XX` (HTML-safe), `\b`, `\f`, `\n`, `\r`, `\t` as such, and other control
/// characters as `\u00XX`.
pub fn push_go_json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\u{0}'..='\u{1f}' => {
                let _ = std::fmt::Write::write_fmt(out, format_args!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `%g` (`strconv.FormatFloat(v, 'g', -1, 64)`) of a float64, as Prometheus writes
/// histogram buckets and annotations (and its PuppetDB discovery, parameter labels): the
/// shortest digits that read back, in exponent form (`1e+06`, `1.5e-05`) below 1e-4 and from
/// 1e6 on; `NaN`, `+Inf`, `-Inf`.
pub fn go_float_g(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let exponent = format!("{v:e}").split_once('e').and_then(|(_, e)| e.parse::<i32>().ok()).unwrap_or(0);
    if v != 0.0 && !(-4..6).contains(&exponent) {
        return go_float_e(v);
    }
    format!("{v}")
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: the shortest digits that read back, always in
/// exponent form with a signed exponent of at least two digits (`1e+00`, `1.5e-07`); `NaN`,
/// `+Inf`, `-Inf` (Prometheus writes an alert's value so).
pub fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let scientific = format!("{v:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

pub fn go_float(value: f64) -> String {
    let mut out = String::new();
    push_go_float(&mut out, value);
    out
}

/// Appends `go_float(value)` to `out`. The shortest digits that read back as the same float
/// come from `zmij` (Schubfach; already in the build through serde_json): std's `Display` took
/// a fifth of an executor's time in rendering range answers from the result cache. Its output
/// (`1.0`, `1e+16`, `1.5e-7`) is then laid out the Go way here.
pub fn push_go_float(out: &mut String, value: f64) {
    if value.is_nan() {
        return out.push_str("NaN");
    }
    if value.is_infinite() {
        return out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    }
    let mut buffer = zmij::Buffer::new();
    let Some(decimal) = Decimal::parse(buffer.format_finite(value)) else {
        // Not a layout zmij writes; std's digits are the same shortest ones.
        return push_go_float_std(out, value);
    };
    if decimal.negative {
        out.push('-');
    }
    let digits = decimal.digits();
    if digits.is_empty() {
        return out.push('0');
    }
    let abs = value.abs();
    if (1e-6..1e21).contains(&abs) {
        // Positional: 0.000ddd, ddd000 or dd.dd.
        let point = decimal.point;
        if point <= 0 {
            out.push_str("0.");
            (0..-point).for_each(|_| out.push('0'));
            out.push_str(digits);
        } else if point as usize >= digits.len() {
            out.push_str(digits);
            (digits.len()..point as usize).for_each(|_| out.push('0'));
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        // d.ddde±XX, at least two exponent digits.
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let exponent = decimal.point - 1;
        out.push_str(if exponent < 0 { "e-" } else { "e+" });
        let magnitude = exponent.unsigned_abs();
        if magnitude < 10 {
            out.push('0');
        }
        out.push_str(itoa_u32(magnitude, &mut [0u8; 10]));
    }
}

/// A finite float's text as sign, significant digits and the position of the decimal
/// point: the value is `0.DIGITS × 10^point`.
struct Decimal {
    negative: bool,
    /// Significant digits without leading or trailing zeros (none for zero); the shortest
    /// form has at most 17.
    digits: [u8; 32],
    len: usize,
    point: i32,
}

impl Decimal {
    /// Parses `-?digits(.digits)?(e[+-]?digits)?`.
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.strip_prefix('+').unwrap_or(e).parse::<i32>().ok()?),
            None => (rest, 0),
        };
        let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if integer.is_empty() || !all_digits(integer) || !all_digits(fraction) || integer.len() + fraction.len() > 32 {
            return None;
        }
        let mut decimal = Decimal { negative, digits: [0; 32], len: 0, point: 0 };
        let mut leading_zeros = 0usize;
        for b in integer.bytes().chain(fraction.bytes()) {
            if decimal.len == 0 && b == b'0' {
                leading_zeros += 1;
            } else {
                decimal.digits[decimal.len] = b;
                decimal.len += 1;
            }
        }
        while decimal.len > 0 && decimal.digits[decimal.len - 1] == b'0' {
            decimal.len -= 1;
        }
        decimal.point = i32::try_from(integer.len()).ok()? - i32::try_from(leading_zeros).ok()? + exponent;
        Some(decimal)
    }

    fn digits(&self) -> &str {
        std::str::from_utf8(&self.digits[..self.len]).unwrap_or("")
    }
}

fn itoa_u32(mut n: u32, buffer: &mut [u8; 10]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or("0")
}

/// The same layout from std's formatting (slower: `Display` and an allocation per value).
fn push_go_float_std(out: &mut String, value: f64) {
    use std::fmt::Write;
    let abs = value.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exponent.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exponent),
        };
        let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
        return;
    }
    let _ = write!(out, "{value}");
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`),
/// the inverse of `civil_from_days`.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// (year, month 1-12, day 1-31) of the proleptic Gregorian date `days` after 1970-01-01
/// (Howard Hinnant's `civil_from_days`): one calendar for PromQL's date functions and every
/// RFC 3339 time written.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy_march = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy_march + 2) / 153;
    let day = doy_march - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// OpenMetrics float text (Go's `FormatOpenMetricsFloat`): shortest `%g`, always with a `.` or
/// exponent (`0.0`, `1.0`, `0.25`, `1e-05`), `NaN`, `+Inf`, `-Inf`.
pub fn open_metrics_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let text = if v != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{v}")
    };
    if text.contains(['.', 'e']) { text } else { format!("{text}.0") }
}

#[cfg(test)]
mod tests {

    #[test]
    fn go_float_e_writes_what_go_writes() {
        let cases = [(1.0, "1e+00"), (10.0, "1e+01"), (1_234_567.0, "1.234567e+06"), (1.5e-7, "1.5e-07"), (-0.25, "-2.5e-01"), (0.0, "0e+00"), (1e100, "1e+100"), (f64::NAN, "NaN"), (f64::NEG_INFINITY, "-Inf")];
        for (v, expected) in cases {
            assert_eq!(go_float_e(v), expected, "{v}");
        }
        assert_eq!((go_float_g(1e6), go_float_g(123456.0), go_float_g(1.5e-5)), ("1e+06".to_string(), "123456".to_string(), "1.5e-05".to_string()));
    }

    #[test]
    fn open_metrics_floats() {
        for (v, text) in [(0.0, "0.0"), (1.0, "1.0"), (0.25, "0.25"), (-0.1, "-0.1"), (1e-5, "1e-05"), (f64::NAN, "NaN"), (f64::INFINITY, "+Inf"), (100.0, "100.0"), (1e6, "1e+06"), (123456.5, "123456.5")] {
            assert_eq!(open_metrics_float(v), text);
        }
    }

    use super::*;
    use proptest::prelude::*;

    #[test]
    fn json_strings_are_escaped_as_go_escapes_them() {
        let json = |text: &str| {
            let mut out = String::new();
            push_go_json_string(&mut out, text);
            out
        };
        assert_eq!(json("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(json("<a>&\u{2028}\u{2029}"), r#""\u003ca\u003e\u0026\u2028\u2029""#);
        assert_eq!(json("\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}é"), "\"\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}é\"");
    }

    #[test]
    fn days_from_civil_inverts_civil_from_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in (-1_000_000..1_000_000).step_by(997) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "{year}-{month}-{day}");
        }
    }

    fn std_layout(value: f64) -> String {
        let mut out = String::new();
        if value.is_nan() {
            out.push_str("NaN");
        } else if value.is_infinite() {
            out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            push_go_float_std(&mut out, value);
        }
        out
    }

    #[test]
    fn edges_of_both_layouts() {
        let table: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e-6, "0.000001"),
            (9.99e-7, "9.99e-07"),
            (1e-7, "1e-07"),
            (1.5e-10, "1.5e-10"),
            (5e-324, "5e-324"),
            (123456789.0, "123456789"),
            (1e15, "1000000000000000"),
            (1.5e16, "15000000000000000"),
            (12345678901234567.0, "12345678901234568"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-1.25e300, "-1.25e+300"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for &(value, expected) in table {
            assert_eq!(go_float(value), expected, "{value:e}");
            assert_eq!(std_layout(value), expected, "std: {value:e}");
        }
    }

    #[test]
    // The literals are exact (multiples of the 0.125 spacing of floats there); their
    // shortest forms are shorter, which is the point.
    #[allow(clippy::excessive_precision)]
    fn a_tie_between_two_shortest_forms_goes_to_the_even_digit_as_in_go() {
        // 716372923727511.25 lies exactly between the two 16-digit forms. Prometheus 2.42
        // answers the query `716372923727511.25` with "716372923727511.2"; std writes ...3.
        assert_eq!(go_float(716372923727511.25), "716372923727511.2");
        assert_eq!(go_float(1707315143333333.25), "1707315143333333.2");
    }

    /// `text` is the shortest form of `value` laid out as std lays it out: the same text,
    /// or (a tie between two shortest forms, which std and Go round differently) text of
    /// the same length that reads back as `value`.
    fn check(value: f64) -> Result<(), TestCaseError> {
        let (ours, std) = (go_float(value), std_layout(value));
        if ours != std {
            prop_assert_eq!(ours.len(), std.len(), "{} against {}", ours, std);
            prop_assert_eq!(ours.parse::<f64>().ok().map(f64::to_bits), Some(value.to_bits()), "{}", ours);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// Any float, by its bits (every exponent alike).
        #[test]
        fn any_float_is_written_in_its_shortest_form(bits in any::<u64>()) {
            check(f64::from_bits(bits))?;
        }

        /// Floats as metrics hold them: counters, rates, ratios, near both layout switches.
        #[test]
        fn everyday_floats_are_written_in_their_shortest_form(mantissa in -1_000_000_000i64..1_000_000_000, exponent in -30i32..30) {
            let value = mantissa as f64 * 10f64.powi(exponent);
            check(value)?;
            check(value / 3.0)?;
        }
    }
}
