//! Go's `fmt` as templates see it: `Sprint`/`Sprintln` of values, `Sprintf` verbs with flags,
//! width and precision, and Go's float formatting (`%v`/`%g` shortest, `%e` with `e+06` exponents).

use crate::timefmt::{format_duration, format_time_default};
use crate::value::Value;

/// fmt.Sprint of one value (`%v`).
pub fn value_string(value: &Value) -> String {
    match value {
        Value::Nil => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float_g(*f, None),
        Value::Str(s) => s.clone(),
        Value::StrMap(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
            format!("map[{}]", entries.join(" "))
        }
        Value::Map(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{}", value_string(v))).collect();
            format!("map[{}]", entries.join(" "))
        }
        Value::List(items) => format!("[{}]", items.iter().map(value_string).collect::<Vec<_>>().join(" ")),
        Value::Sample(sample) => format!("&{{{} {}}}", value_string(&Value::StrMap(sample.labels.clone())), format_float_g(sample.value, None)),
        Value::Samples(samples) => format!("[{}]", samples.iter().map(|s| value_string(&Value::Sample(s.clone()))).collect::<Vec<_>>().join(" ")),
        Value::Time(nanos) => format_time_default(*nanos),
        Value::Duration(nanos) => format_duration(*nanos),
        Value::Data(data) => format!("{{{} {} {} {}}}", value_string(&Value::StrMap(data.labels.clone())), value_string(&Value::StrMap(data.external_labels.clone())), data.external_url, format_float_g(data.value, None)),
    }
}

/// fmt.Sprint: operands joined, with a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&value_string(arg));
    }
    out
}

/// fmt.Sprintln: operands always separated by spaces, newline appended.
pub fn sprintln(args: &[Value]) -> String {
    let parts: Vec<String> = args.iter().map(value_string).collect();
    format!("{}\n", parts.join(" "))
}

/// Decimal digits (no trailing zeros) and decimal-point position of |v| (finite, non-zero):
/// shortest round-trip when `significant` is None, else rounded to that many digits.
fn decimal_digits(v: f64, significant: Option<usize>) -> (Vec<u8>, i32) {
    let text = match significant {
        None => format!("{:e}", v.abs()),
        Some(n) => format!("{:.*e}", n.max(1) - 1, v.abs()),
    };
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exponent + 1)
}

fn special_float(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".to_string())
    } else if v.is_infinite() {
        Some(if v > 0.0 { "+Inf" } else { "-Inf" }.to_string())
    } else {
        None
    }
}

/// `%e` layout of given digits with `fraction_digits` after the point.
fn layout_e(negative: bool, digits: &[u8], point: i32, fraction_digits: usize, is_zero: bool) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push(digits.first().map_or('0', |&d| d as char));
    if fraction_digits > 0 {
        out.push('.');
        for i in 1..=fraction_digits {
            out.push(digits.get(i).map_or('0', |&d| d as char));
        }
    }
    let exponent = if is_zero { 0 } else { point - 1 };
    out.push('e');
    out.push(if exponent < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exponent.abs()));
    out
}

/// `%f` layout of given digits with `fraction_digits` after the point.
fn layout_f(negative: bool, digits: &[u8], point: i32, fraction_digits: usize) -> String {
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if point > 0 {
        for i in 0..point as usize {
            out.push(digits.get(i).map_or('0', |&d| d as char));
        }
    } else {
        out.push('0');
    }
    if fraction_digits > 0 {
        out.push('.');
        for i in 1..=fraction_digits as i32 {
            let index = point + i - 1;
            out.push(if index < 0 { '0' } else { digits.get(index as usize).map_or('0', |&d| d as char) });
        }
    }
    out
}

/// Go's `%g` (precision None = shortest, which `%v` uses).
pub fn format_float_g(v: f64, precision: Option<usize>) -> String {
    if let Some(special) = special_float(v) {
        return special;
    }
    let negative = v.is_sign_negative();
    if v == 0.0 {
        return if negative { "-0" } else { "0" }.to_string();
    }
    let (digits, point) = decimal_digits(v, precision.map(|p| p.max(1)));
    let count = digits.len() as i32;
    let (mut shown, exponent_threshold) = match precision {
        None => (count, 6),
        Some(p) => {
            let p = p.max(1) as i32;
            let threshold = if p > count && count >= point { count } else { p };
            (p, threshold)
        }
    };
    let exponent = point - 1;
    if exponent < -4 || exponent >= exponent_threshold {
        shown = shown.min(count);
        return layout_e(negative, &digits, point, (shown - 1).max(0) as usize, false);
    }
    if shown > point {
        shown = count;
    }
    layout_f(negative, &digits, point, (shown - point).max(0) as usize)
}

/// Go's `%e` with the given precision (default 6).
pub fn format_float_e(v: f64, precision: usize) -> String {
    if let Some(special) = special_float(v) {
        return special;
    }
    let negative = v.is_sign_negative();
    if v == 0.0 {
        return layout_e(negative, b"0", 1, precision, true);
    }
    let (digits, point) = decimal_digits(v, Some(precision + 1));
    layout_e(negative, &digits, point, precision, false)
}

/// Go's `%f` with the given precision (default 6).
pub fn format_float_f(v: f64, precision: usize) -> String {
    if let Some(special) = special_float(v) {
        return special;
    }
    format!("{v:.precision$}")
}

/// Go's strconv.Quote (the `%q` verb).
pub fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// fmt.Sprintf with the common verbs; mismatches print as Go does (`%!d(string=x)`).
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '0' => spec.zero = true,
                ' ' => spec.space = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = read_count(&mut chars, args, &mut next_arg);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.precision = Some(read_count(&mut chars, args, &mut next_arg).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next_arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next_arg += 1;
        out.push_str(&format_one(verb, &spec, arg));
    }
    if next_arg < args.len() {
        let extra: Vec<String> = args[next_arg..].iter().map(|a| format!("{}={}", a.type_name(), value_string(a))).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn read_count(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, args: &[Value], next_arg: &mut usize) -> Option<usize> {
    if chars.peek() == Some(&'*') {
        chars.next();
        let count = match args.get(*next_arg) {
            Some(Value::Int(i)) => usize::try_from(*i).ok().filter(|&c| c <= COUNT_MAX),
            _ => None,
        };
        *next_arg += 1;
        return count;
    }
    let mut count: Option<usize> = None;
    while let Some(digit) = chars.peek().and_then(|d| d.to_digit(10)) {
        count = Some(count.unwrap_or(0).saturating_mul(10).saturating_add(digit as usize));
        chars.next();
    }
    // Go refuses widths and precisions above 1e6; here they count as not given.
    count.filter(|&c| c <= COUNT_MAX)
}

/// The largest width or precision taken (Go's `tooLarge` bound).
const COUNT_MAX: usize = 1_000_000;

fn bad_verb(verb: char, arg: &Value) -> String {
    match arg {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", arg.type_name(), value_string(arg)),
    }
}

fn format_one(verb: char, spec: &Spec, arg: &Value) -> String {
    let body = match (verb, arg) {
        ('v', Value::Nil) => "<nil>".to_string(),
        ('T', _) => arg.type_name().to_string(),
        (_, Value::Nil) => return bad_verb(verb, arg),
        ('v' | 't', Value::Bool(b)) => b.to_string(),
        ('v' | 'd', Value::Int(i)) => signed(spec, *i < 0, i.unsigned_abs().to_string()),
        ('x' | 'X' | 'o' | 'b', Value::Int(i)) => {
            let magnitude = i.unsigned_abs();
            let digits = match (verb, spec.sharp) {
                ('x', false) => format!("{magnitude:x}"),
                ('x', true) => format!("0x{magnitude:x}"),
                ('X', false) => format!("{magnitude:X}"),
                ('X', true) => format!("0X{magnitude:X}"),
                ('o', false) => format!("{magnitude:o}"),
                ('o', true) => format!("0{magnitude:o}"),
                _ => format!("{magnitude:b}"),
            };
            signed(spec, *i < 0, digits)
        }
        ('c', Value::Int(i)) => u32::try_from(*i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}').to_string(),
        ('q', Value::Int(i)) => format!("'{}'", u32::try_from(*i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}')),
        ('v' | 'g' | 'G', Value::Float(f)) => signed_float(spec, *f, format_float_g(f.abs(), spec.precision)),
        ('e' | 'E', Value::Float(f)) => signed_float(spec, *f, format_float_e(f.abs(), spec.precision.unwrap_or(6))),
        ('f' | 'F', Value::Float(f)) => signed_float(spec, *f, format_float_f(f.abs(), spec.precision.unwrap_or(6))),
        ('s' | 'v', Value::Str(s)) => truncate(s, spec.precision),
        ('q', Value::Str(s)) => go_quote(&truncate(s, spec.precision)),
        ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('X', Value::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
        ('s' | 'v', Value::Time(_) | Value::Duration(_) | Value::StrMap(_) | Value::Map(_) | Value::List(_) | Value::Sample(_) | Value::Samples(_) | Value::Data(_)) => value_string(arg),
        ('q', Value::Time(_) | Value::Duration(_)) => go_quote(&value_string(arg)),
        _ => return bad_verb(verb, arg),
    };
    let (verb_upper, body) = if matches!(verb, 'E' | 'G') { (true, body.to_uppercase()) } else { (false, body) };
    let _ = verb_upper;
    pad(spec, body, matches!(arg, Value::Int(_) | Value::Float(_)) && !matches!(verb, 'c' | 'q'))
}

fn truncate(s: &str, precision: Option<usize>) -> String {
    match precision {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    }
}

fn signed(spec: &Spec, negative: bool, digits: String) -> String {
    if negative {
        format!("-{digits}")
    } else if spec.plus {
        format!("+{digits}")
    } else if spec.space {
        format!(" {digits}")
    } else {
        digits
    }
}

fn signed_float(spec: &Spec, value: f64, magnitude_text: String) -> String {
    if value.is_nan() {
        return if spec.plus { "+NaN".to_string() } else if spec.space { " NaN".to_string() } else { "NaN".to_string() };
    }
    let unsigned = magnitude_text.trim_start_matches('+').to_string();
    if value.is_infinite() && value > 0.0 {
        return format!("+{unsigned}");
    }
    signed(spec, value.is_sign_negative(), unsigned)
}

fn pad(spec: &Spec, body: String, numeric: bool) -> String {
    let Some(width) = spec.width else { return body };
    let length = body.chars().count();
    if length >= width {
        return body;
    }
    let fill = width - length;
    if spec.minus {
        return format!("{body}{}", " ".repeat(fill));
    }
    if spec.zero && numeric && !body.ends_with("Inf") && !body.ends_with("NaN") {
        let sign_length = if body.starts_with(['-', '+', ' ']) { 1 } else { 0 };
        return format!("{}{}{}", &body[..sign_length], "0".repeat(fill), &body[sign_length..]);
    }
    if spec.zero && !numeric {
        return format!("{}{body}", "0".repeat(fill));
    }
    format!("{}{body}", " ".repeat(fill))
}
