//! Lexical pieces parsed with nom: identifiers, numbers (decimal, exponent, hex, Inf,
//! NaN), strings (double, single and back quotes with Go escapes), durations (`1h30m`).

use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::character::complete::{char, digit1, hex_digit1, one_of};
use nom::combinator::{opt, recognize};
use nom::sequence::{pair, preceded, tuple};
use nom::IResult;
use std::borrow::Cow;

pub fn is_metric_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

pub fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn metric_identifier(input: &str) -> IResult<&str, &str> {
    recognize(pair(take_while1(is_metric_start), take_while(is_metric_char)))(input)
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn label_identifier(input: &str) -> IResult<&str, &str> {
    recognize(pair(
        take_while1(|c: char| c.is_ascii_alphabetic() || c == '_'),
        take_while(|c: char| c.is_ascii_alphanumeric() || c == '_'),
    ))(input)
}

/// What an identifier names: a metric or function name may hold `:`, a label name may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentifierKind {
    Metric,
    Label,
}

fn is_identifier_start(c: char, kind: IdentifierKind) -> bool {
    c.is_alphabetic() || c == '_' || (c == ':' && kind == IdentifierKind::Metric)
}

fn is_identifier_char(c: char, kind: IdentifierKind) -> bool {
    is_identifier_start(c, kind) || c.is_ascii_digit() || c == '.'
}

/// The character a MetricsQL escape stands for (the text after its `\`), and the escape's
/// length: `\xHH` (the code point HH), `\uHHHH`, or any printable character as itself.
fn escaped_char(after_backslash: &str) -> Option<(char, usize)> {
    let hex = |digits: &str| u32::from_str_radix(digits, 16).ok().and_then(char::from_u32);
    match after_backslash.chars().next()? {
        'x' | 'X' => after_backslash.get(1..3).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit())).and_then(hex).map(|c| (c, 3)),
        'u' | 'U' => after_backslash.get(1..5).filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit())).and_then(hex).map(|c| (c, 5)),
        c if !c.is_control() && (c == ' ' || !c.is_whitespace()) => Some((c, c.len_utf8())),
        _ => None,
    }
}

/// MetricsQL's identifiers, a superset of PromQL's: letters of any script, `.` after the
/// first character (`node.cpu_seconds`), and any character escaped with `\` (`foo\-bar`,
/// `\x2E`, `\u6E29`). The text after it and the name, its escapes undone; `None` when
/// `input` does not start with one.
pub fn identifier(input: &str, kind: IdentifierKind) -> Option<(&str, Cow<'_, str>)> {
    let mut end = 0;
    let mut escaped = false;
    while let Some(c) = input[end..].chars().next() {
        if (end == 0 && is_identifier_start(c, kind)) || (end > 0 && is_identifier_char(c, kind)) {
            end += c.len_utf8();
        } else if let Some((_, len)) = (c == '\\').then(|| escaped_char(&input[end + 1..])).flatten() {
            end += 1 + len;
            escaped = true;
        } else {
            break;
        }
    }
    if end == 0 {
        return None;
    }
    let text = &input[..end];
    if !escaped {
        return Some((&input[end..], Cow::Borrowed(text)));
    }
    let mut name = String::with_capacity(end);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        match (c == '\\').then(|| escaped_char(&rest[1..])).flatten() {
            Some((unescaped, len)) => {
                name.push(unescaped);
                rest = &rest[1 + len..];
            }
            None => {
                name.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    Some((&input[end..], Cow::Owned(name)))
}

/// Grafana's interval variables, sent unreplaced, which MetricsQL reads as one step of the
/// grid (`1i`).
pub const GRAFANA_INTERVAL_VARIABLES: [&str; 2] = ["$__interval", "$__rate_interval"];

/// The text after one of [`GRAFANA_INTERVAL_VARIABLES`] at the start of `input` (not
/// followed by a name character: `$__interval_ms` is none).
pub fn after_grafana_interval(input: &str) -> Option<&str> {
    GRAFANA_INTERVAL_VARIABLES.iter().find_map(|variable| input.strip_prefix(variable).filter(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_')))
}

fn decimal(input: &str) -> IResult<&str, &str> {
    recognize(tuple((
        alt((recognize(pair(digit1, opt(pair(char('.'), opt(digit1))))), recognize(pair(char('.'), digit1)))),
        opt(tuple((one_of("eE"), opt(one_of("+-")), digit1))),
    )))(input)
}

/// MetricsQL's `0b1011` and `0o17`: the value, and what follows the digits.
fn binary_or_octal(input: &str) -> Option<(&str, f64)> {
    let radix = match input.get(..2)? {
        "0b" | "0B" => 2,
        "0o" | "0O" => 8,
        _ => return None,
    };
    let digits_end = input[2..].find(|c: char| !c.is_digit(radix)).map_or(input.len(), |i| i + 2);
    let value = u64::from_str_radix(&input[2..digits_end], radix).ok()?;
    Some((&input[digits_end..], value as f64))
}

/// MetricsQL's digit separators (`1_000_000`, `1_2.5_0`): a decimal number whose digits
/// may have single `_`s between them, and its value. `None` when it has none.
fn decimal_with_separators(input: &str) -> Option<(&str, f64)> {
    let bytes = input.as_bytes();
    let mut end = 0;
    let mut separated = false;
    let mut seen_dot = false;
    while end < bytes.len() {
        match bytes[end] {
            b'0'..=b'9' => end += 1,
            b'_' if end > 0 && bytes[end - 1].is_ascii_digit() && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) => {
                separated = true;
                end += 1;
            }
            b'.' if !seen_dot && bytes.get(end + 1).is_some_and(u8::is_ascii_digit) => {
                seen_dot = true;
                end += 1;
            }
            _ => break,
        }
    }
    if !separated {
        return None;
    }
    let text: String = input[..end].chars().filter(|c| *c != '_').collect();
    Some((&input[end..], text.parse().ok()?))
}

/// A number literal's text and value.
pub fn number(input: &str) -> IResult<&str, f64> {
    if let Some((rest, value)) = binary_or_octal(input).or_else(|| decimal_with_separators(input)) {
        return Ok((rest, value));
    }
    if let Ok((rest, hex)) = preceded(alt((nom::bytes::complete::tag("0x"), nom::bytes::complete::tag("0X"))), hex_digit1::<&str, nom::error::Error<&str>>)(input) {
        if let Ok(v) = u64::from_str_radix(hex, 16) {
            return Ok((rest, v as f64));
        }
    }
    if let Ok((rest, _)) = tag_no_case::<&str, &str, nom::error::Error<&str>>("inf")(input) {
        if !rest.starts_with(is_metric_char) {
            return Ok((rest, f64::INFINITY));
        }
    }
    if let Ok((rest, _)) = tag_no_case::<&str, &str, nom::error::Error<&str>>("nan")(input) {
        if !rest.starts_with(is_metric_char) {
            return Ok((rest, f64::NAN));
        }
    }
    let (rest, text) = decimal(input)?;
    match text.parse::<f64>() {
        Ok(v) => Ok((rest, v)),
        Err(_) => Err(nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Float))),
    }
}

/// MetricsQL's number suffixes, any case: powers of 1000 (`K`, `KB`, `MB`, `G`, `GB`, `T`, `TB`)
/// and of 1024 (`Ki`, `KiB`, `Mi`, `MiB`, `Gi`, `GiB`, `Ti`, `TiB`). A bare `m` is left out:
/// in PromQL `5m` is a duration; `number_with_multiplier` reads a capital `M` as a million.
const NUMBER_MULTIPLIERS: [(&str, f64); 15] = [
    ("kib", 1024.0),
    ("ki", 1024.0),
    ("kb", 1e3),
    ("k", 1e3),
    ("mib", 1_048_576.0),
    ("mi", 1_048_576.0),
    ("mb", 1e6),
    ("gib", 1_073_741_824.0),
    ("gi", 1_073_741_824.0),
    ("gb", 1e9),
    ("g", 1e9),
    ("tib", 1_099_511_627_776.0),
    ("ti", 1_099_511_627_776.0),
    ("tb", 1e12),
    ("t", 1e12),
];

/// A number literal, optionally with MetricsQL's multiplier suffix (`512Mi`, `1.5K`, `10GB`).
pub fn number_with_multiplier(input: &str) -> IResult<&str, f64> {
    let (rest, value) = number(input)?;
    // Only a decimal number takes a suffix (not `0x1f`, `Inf`, `NaN`).
    if !input.starts_with(|c: char| c.is_ascii_digit() || c == '.') || input.starts_with("0x") || input.starts_with("0X") {
        return Ok((rest, value));
    }
    let word_end = rest.find(|c: char| !is_metric_char(c)).unwrap_or(rest.len());
    let word = rest[..word_end].to_ascii_lowercase();
    let multiplier = match &rest[..word_end] {
        // A capital `M` is a million; a small one stays minutes.
        "M" => Some(1e6),
        _ => NUMBER_MULTIPLIERS.iter().find(|(suffix, _)| *suffix == word).map(|(_, m)| *m),
    };
    match multiplier {
        Some(m) => Ok((&rest[word_end..], value * m)),
        None => Ok((rest, value)),
    }
}

/// A duration like `5m`, `1h30m`, `500ms`: the text and milliseconds.
pub fn duration(input: &str) -> IResult<&str, i64> {
    const UNITS: [(&str, i64); 7] = [
        ("ms", 1),
        ("s", 1_000),
        ("m", 60_000),
        ("h", 3_600_000),
        ("d", 86_400_000),
        ("w", 604_800_000),
        ("y", 31_536_000_000),
    ];
    let mut rest = input;
    let mut total: i64 = 0;
    let mut parts = 0;
    while let Ok((mut after_digits, digits)) = digit1::<&str, nom::error::Error<&str>>(rest) {
        // MetricsQL's fractional parts (`1.5m`, `0.5d`), to whole milliseconds.
        let mut fraction = "";
        if let Some(Ok((after, decimals))) = after_digits.strip_prefix('.').map(digit1::<&str, nom::error::Error<&str>>) {
            fraction = decimals;
            after_digits = after;
        }
        // Units in any case, as MetricsQL reads them (`1H30M` is not one: a capital `M` alone
        // is MetricsQL's million, `5M`).
        let Some((unit, scale)) = UNITS.iter().find(|(u, _)| {
            after_digits.get(..u.len()).is_some_and(|written| written.eq_ignore_ascii_case(u) && written != "M")
                && !after_digits[u.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
        }) else {
            break;
        };
        let too_large = || nom::Err::Error(nom::error::Error::new(rest, nom::error::ErrorKind::TooLarge));
        let n: i64 = digits.parse().map_err(|_| too_large())?;
        let fraction_ms = if fraction.is_empty() {
            0
        } else {
            let part: f64 = format!("0.{fraction}").parse().map_err(|_| too_large())?;
            (part * *scale as f64).trunc() as i64
        };
        total = n
            .checked_mul(*scale)
            .and_then(|v| v.checked_add(fraction_ms))
            .and_then(|v| total.checked_add(v))
            .ok_or_else(too_large)?;
        rest = &after_digits[unit.len()..];
        parts += 1;
    }
    if parts == 0 {
        return Err(nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Digit)));
    }
    Ok((rest, total))
}

/// A quoted string; returns the unescaped value. Errors carry the failing position.
/// As in Go, `\xNN` and octal escapes are single bytes (so `"\xc3\xa9"` is "é"); a literal
/// whose bytes are not valid UTF-8 (`"\xff"`) is an error, since label names and values
/// must be UTF-8.
pub fn string_literal(input: &str) -> Result<(&str, String), (usize, String)> {
    let mut chars = input.char_indices();
    let Some((_, quote)) = chars.next() else { return Err((0, "expected string".into())) };
    if !matches!(quote, '"' | '\'' | '`') {
        return Err((0, "expected string".into()));
    }
    let mut out: Vec<u8> = Vec::new();
    let push = |out: &mut Vec<u8>, c: char| out.extend_from_slice(c.encode_utf8(&mut [0u8; 4]).as_bytes());
    while let Some((i, c)) = chars.next() {
        if c == quote {
            let rest = &input[i + c.len_utf8()..];
            return String::from_utf8(out).map(|text| (rest, text)).map_err(|_| (0, "invalid UTF-8 in string literal".to_string()));
        }
        if quote == '`' || c != '\\' {
            if c == '\n' && quote != '`' {
                return Err((i, "unterminated quoted string".into()));
            }
            push(&mut out, c);
            continue;
        }
        let Some((j, e)) = chars.next() else { break };
        match e {
            'a' => out.push(0x07),
            'b' => out.push(0x08),
            'f' => out.push(0x0c),
            'n' => out.push(b'\n'),
            'r' => out.push(b'\r'),
            't' => out.push(b'\t'),
            'v' => out.push(0x0b),
            '\\' => out.push(b'\\'),
            '"' | '\'' if e == quote => push(&mut out, e),
            'x' | 'u' | 'U' | '0'..='7' => {
                let (len, radix) = match e {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    _ => (3, 8),
                };
                let start = if radix == 8 { j } else { j + 1 };
                let digits = input.get(start..start + len).ok_or((j, "unterminated escape sequence".to_string()))?;
                let code = u32::from_str_radix(digits, radix).map_err(|_| (j, format!("invalid escape sequence \\{e}{digits}")))?;
                match e {
                    'x' => out.push(code as u8),
                    'u' | 'U' => {
                        let ch = char::from_u32(code).ok_or((j, format!("invalid Unicode code point in escape \\{e}{digits}")))?;
                        push(&mut out, ch);
                    }
                    _ => {
                        let byte = u8::try_from(code).map_err(|_| (j, format!("octal escape value > 255: \\{digits}")))?;
                        out.push(byte);
                    }
                }
                for _ in 0..(if radix == 8 { len - 1 } else { len }) {
                    chars.next();
                }
            }
            other => return Err((j, format!("unknown escape sequence '{other}'"))),
        }
    }
    Err((input.len(), "unterminated quoted string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let table: &[(&str, f64)] = &[("1", 1.0), ("1.5", 1.5), (".5", 0.5), ("1e3", 1000.0), ("2.5E-1", 0.25), ("0x1F", 31.0), ("Inf", f64::INFINITY), ("inf", f64::INFINITY)];
        for (text, expected) in table {
            assert_eq!(number(text), Ok(("", *expected)), "{text}");
        }
        assert!(number("NaN").unwrap().1.is_nan());
        // MetricsQL's binary, octal and separated forms.
        let more: &[(&str, f64, &str)] = &[("0b1011", 11.0, ""), ("0o17 ", 15.0, " "), ("1_234", 1234.0, ""), ("1_2_34.56_78", 1234.5678, ""), ("1_000)", 1000.0, ")")];
        for (text, expected, rest) in more {
            assert_eq!(number(text), Ok((*rest, *expected)), "{text}");
        }
        assert_eq!(number("1__0"), Ok(("__0", 1.0)), "a doubled separator ends the number");
        assert_eq!(number("1_"), Ok(("_", 1.0)));
        assert!(number("info").is_err() || number("info").unwrap().0 != "o");
    }

    #[test]
    fn durations() {
        assert_eq!(duration("5m").unwrap(), ("", 300_000));
        assert_eq!(duration("1h30m]").unwrap(), ("]", 5_400_000));
        assert_eq!(duration("500ms").unwrap(), ("", 500));
        assert!(duration("m").is_err());
        // MetricsQL's fractional parts.
        assert_eq!(duration("1.5m]").unwrap(), ("]", 90_000));
        assert_eq!(duration("0.5d1h").unwrap(), ("", 46_800_000));
        assert_eq!(duration("13.4ms").unwrap(), ("", 13));
        assert_eq!(duration("1.5").map(|(rest, _)| rest).ok(), None, "a number without unit is no duration");
    }

    #[test]
    fn strings() {
        assert_eq!(string_literal(r#""a\"b\n" x"#).unwrap(), (" x", "a\"b\n".to_string()));
        assert_eq!(string_literal("'it\\'s'").unwrap(), ("", "it's".to_string()));
        assert_eq!(string_literal("`raw\\n`").unwrap(), ("", "raw\\n".to_string()));
        // \x and octal escapes are bytes, combined into UTF-8 as Go does; invalid UTF-8 is an error.
        assert_eq!(string_literal(r#""\xc3\xa9\u00e9\303\251""#).unwrap(), ("", "ééé".to_string()));
        assert!(string_literal(r#""\xff""#).is_err());
        assert!(string_literal(r#""\400""#).is_err());
        assert_eq!(string_literal(r#""\u00e9\x41\101""#).unwrap(), ("", "éAA".to_string()));
        assert!(string_literal("\"open").is_err());
    }

    #[test]
    fn metricsql_multipliers_scale_decimal_numbers() {
        for (text, expected) in [("512Mi", 536_870_912.0), ("1.5K", 1500.0), ("10GB", 1e10), ("2kib", 2048.0), ("3T", 3e12), ("1Ti", 1_099_511_627_776.0), ("7", 7.0)] {
            assert_eq!(number_with_multiplier(text), Ok(("", expected)), "{text}");
        }
        // Not a suffix: left for the parser to refuse or read.
        assert_eq!(number_with_multiplier("5Mx"), Ok(("Mx", 5.0)));
        assert_eq!(number_with_multiplier("5M"), Ok(("", 5e6)), "a capital M is a million");
        assert_eq!(number_with_multiplier("5m"), Ok(("m", 5.0)), "a small m is no multiplier");
        assert_eq!(number_with_multiplier("0x1fK"), Ok(("K", 31.0)), "hex takes none");
    }
}
