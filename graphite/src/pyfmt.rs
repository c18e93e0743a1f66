//! Numbers written the way graphite-web's Python writes them: `repr` of a float (`1.0`,
//! `1e+16`, `nan`) for the csv and raw answers and legend values, and `%`-formatting of one
//! float (`%d`, `%.2f`, `%g`, `%s` ...) for templates such as aliasQuery's newName.

/// Python's `repr(float)`: the shortest text that reads back to the same float, with a
/// trailing `.0` on whole numbers and an exponent (`1e+16`, `1.5e-05`) outside 1e-4..1e16.
pub(crate) fn repr(v: f64) -> String {
    if v.is_nan() {
        return "nan".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let exponent = decimal_exponent(v);
    if !(-4..16).contains(&exponent) {
        // Rust's `{:e}` is also the shortest round-trip text: `1.5e-5` -> `1.5e-05`.
        return python_exponent(&format!("{v:e}"));
    }
    let text = format!("{v}");
    if text.contains('.') {
        text
    } else {
        text + ".0"
    }
}

/// The exponent of `v` in scientific notation after shortest round-trip rounding (0 for 0).
fn decimal_exponent(v: f64) -> i32 {
    let text = format!("{v:e}");
    text.rsplit_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0)
}

/// Rewrites Rust's exponent suffix (`e16`, `e-5`) as Python writes it (`e+16`, `e-05`).
fn python_exponent(text: &str) -> String {
    let Some((mantissa, exp)) = text.rsplit_once('e') else { return text.to_string() };
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// One `%` conversion's flags, width and precision.
#[derive(Default, Clone, Copy)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alternate: bool,
    width: usize,
    precision: Option<usize>,
}

/// Widths and precisions above this are refused rather than allocated.
const FORMAT_WIDTH_MAX: usize = 1000;

/// Python's `template % value` for one float value. Fails as Python does when the template
/// has no conversion or more than one, or a conversion that a float cannot take.
pub(crate) fn percent_format(template: &str, value: f64) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut used = false;
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.left = true,
                '0' => spec.zero = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '#' => spec.alternate = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars)?.unwrap_or(0);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(digits(&mut chars)?.unwrap_or(0));
        }
        while chars.peek().is_some_and(|c| matches!(c, 'h' | 'l' | 'L')) {
            chars.next();
        }
        let conversion = chars.next().ok_or("incomplete format")?;
        if conversion == '%' {
            out.push('%');
            continue;
        }
        if used {
            return Err("not enough arguments for format string".into());
        }
        used = true;
        let body = convert(conversion, value, &spec)?;
        out.push_str(&body);
    }
    if !used {
        return Err("not all arguments converted during string formatting".into());
    }
    Ok(out)
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<Option<usize>, String> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        chars.next();
        let next = n.unwrap_or(0) * 10 + d as usize;
        if next > FORMAT_WIDTH_MAX {
            return Err(format!("width or precision above {FORMAT_WIDTH_MAX}"));
        }
        n = Some(next);
    }
    if chars.peek() == Some(&'*') {
        return Err("'*' widths need more arguments".into());
    }
    Ok(n)
}

fn convert(conversion: char, value: f64, spec: &Spec) -> Result<String, String> {
    let upper = conversion.is_ascii_uppercase();
    let digits = match conversion {
        's' | 'r' | 'a' => {
            let mut text = repr(value);
            if let Some(p) = spec.precision {
                text = text.chars().take(p).collect();
            }
            return Ok(pad(String::new(), text, spec, false));
        }
        'd' | 'i' | 'u' => {
            if !value.is_finite() {
                return Err(format!("cannot convert float {} to integer", repr(value)));
            }
            let mut text = format!("{}", value.trunc().abs());
            if let Some(p) = spec.precision {
                text = format!("{text:0>p$}");
            }
            text
        }
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' if !value.is_finite() => {
            let text = if value.is_nan() { "nan" } else { "inf" };
            let text = if upper { text.to_ascii_uppercase() } else { text.to_string() };
            let sign = sign_of(value, spec);
            return Ok(pad(sign, text, &Spec { zero: false, ..*spec }, false));
        }
        'f' | 'F' => fixed(value.abs(), spec.precision.unwrap_or(6), spec.alternate),
        'e' | 'E' => exponential(value.abs(), spec.precision.unwrap_or(6), spec.alternate),
        'g' | 'G' => general(value.abs(), spec.precision.unwrap_or(6), spec.alternate),
        other => return Err(format!("unsupported format character {other:?} for a float")),
    };
    let digits = if upper { digits.to_ascii_uppercase() } else { digits };
    let sign = if matches!(conversion, 'd' | 'i' | 'u') {
        // Python converts to int first: -0.5 becomes 0, without a sign.
        sign_of(if value.trunc() == 0.0 { 0.0 } else { value }, spec)
    } else {
        sign_of(value, spec)
    };
    Ok(pad(sign, digits, spec, true))
}

fn sign_of(value: f64, spec: &Spec) -> String {
    if value.is_sign_negative() && !value.is_nan() {
        "-".into()
    } else if spec.plus {
        "+".into()
    } else if spec.space {
        " ".into()
    } else {
        String::new()
    }
}

/// Pads `sign + body` to the width: left-justified, zero-filled after the sign (numbers
/// only), or right-justified with spaces.
fn pad(sign: String, body: String, spec: &Spec, numeric: bool) -> String {
    let len = sign.chars().count() + body.chars().count();
    let fill = spec.width.saturating_sub(len);
    if spec.left {
        format!("{sign}{body}{}", " ".repeat(fill))
    } else if spec.zero && numeric {
        format!("{sign}{}{body}", "0".repeat(fill))
    } else {
        format!("{}{sign}{body}", " ".repeat(fill))
    }
}

fn fixed(v: f64, precision: usize, alternate: bool) -> String {
    let text = format!("{v:.precision$}");
    if alternate && precision == 0 {
        text + "."
    } else {
        text
    }
}

fn exponential(v: f64, precision: usize, alternate: bool) -> String {
    let text = python_exponent(&format!("{v:.precision$e}"));
    if alternate && precision == 0 {
        text.replacen('e', ".e", 1)
    } else {
        text
    }
}

/// `%g`: exponential when the exponent is below -4 or not below the precision, trailing
/// zeros dropped unless `#` was given.
fn general(v: f64, precision: usize, alternate: bool) -> String {
    let p = precision.max(1);
    let rounded = format!("{v:.prec$e}", prec = p - 1);
    let exponent: i64 = rounded.rsplit_once('e').and_then(|(_, e)| e.parse().ok()).unwrap_or(0);
    let text = if exponent < -4 || exponent >= p as i64 {
        python_exponent(&rounded)
    } else {
        let decimals = (p as i64 - 1 - exponent).max(0) as usize;
        format!("{v:.decimals$}")
    };
    if alternate {
        if text.contains('.') {
            return text;
        }
        return match text.split_once('e') {
            Some((m, e)) => format!("{m}.e{e}"),
            None => text + ".",
        };
    }
    match text.split_once('e') {
        Some((m, e)) => format!("{}e{e}", strip_zeros(m)),
        None => strip_zeros(&text).to_string(),
    }
}

fn strip_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reprs_match_python() {
        // Each pair is Python 3's repr() of the float.
        let cases = [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-2.0, "-2.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (1e300, "1e+300"),
            (-1.25e-7, "-1.25e-07"),
            (123456789.125, "123456789.125"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (v, want) in cases {
            assert_eq!(repr(v), want, "{v}");
        }
    }

    #[test]
    fn percent_formats_match_python() {
        // Each expected text is what Python 3 gives for `template % value`.
        let cases = [
            ("Channel %d MHz", 2412.7, "Channel 2412 MHz"),
            ("%d", -3.9, "-3"),
            ("%5d|%-5d|", 42.0, ""),
            ("%05.1f", 2.25, "002.2"),
            ("%.2f", 0.125, "0.12"),
            ("%f", 1.5, "1.500000"),
            ("%+d", 3.9, "+3"),
            ("% d", 3.0, " 3"),
            ("%e", 12.5, "1.250000e+01"),
            ("%.1E", 0.000123, "1.2E-04"),
            ("%g", 1234567.0, "1.23457e+06"),
            ("%g", 0.0001, "0.0001"),
            ("%g", 0.00001, "1e-05"),
            ("%g", 100.0, "100"),
            ("%#g", 1.0, "1.00000"),
            ("%.3g", 2.5, "2.5"),
            ("%s", 3.0, "3.0"),
            ("%r%%", 0.5, "0.5%"),
            ("%.2s", 0.5, "0."),
            ("%8.3f", -1.0, "  -1.000"),
            ("%-8.3f|", -1.0, "-1.000  |"),
            ("%f", f64::INFINITY, "inf"),
            ("%.3d", 7.0, "007"),
            ("%d", -0.5, "0"),
            ("%f", -0.0, "-0.000000"),
        ];
        for (template, v, want) in cases {
            if want.is_empty() {
                // Two conversions for one value.
                assert!(percent_format(template, v).is_err(), "{template}");
                continue;
            }
            assert_eq!(percent_format(template, v).as_deref(), Ok(want), "{template} % {v}");
        }
    }

    #[test]
    fn percent_format_errors() {
        for template in ["no conversion", "%x", "%c", "%", "%*d", "%(name)s", "%5000d"] {
            assert!(percent_format(template, 1.0).is_err(), "{template}");
        }
        assert!(percent_format("%d", f64::INFINITY).is_err());
        assert_eq!(percent_format("100%% %d", 1.0).as_deref(), Ok("100% 1"));
    }
}
