//! Prometheus' template functions (`query`, `humanize*`, `stripPort`, `reReplaceAll`, `toTime` …)
//! with the output formats and error texts of Prometheus' template package.

use std::net::IpAddr;
use std::rc::Rc;

use crate::functions::{query_escape, string_arg, CallContext, CallError, CallResult};
use crate::gofmt::{format_float_g, value_string};
use crate::value::{Sample, Value};

const NANOS_PER_SECOND: f64 = 1e9;
const NANOS_PER_MILLI: i64 = 1_000_000;

pub fn call(name: &str, args: &[Value], context: &CallContext<'_>) -> CallResult {
    match name {
        "query" => query(string_arg(&args[0])?, context),
        "first" => match samples_arg(&args[0])?.first() {
            Some(sample) => Ok(Value::Sample(sample.clone())),
            None => Err(CallError::Failed("first() called on vector with no elements".to_string())),
        },
        "label" => {
            let label = string_arg(&args[0])?;
            Ok(Value::Str(sample_arg(&args[1])?.labels.get(label).cloned().unwrap_or_default()))
        }
        "value" => Ok(Value::Float(sample_arg(&args[0])?.value)),
        "strvalue" => Ok(Value::Str(sample_arg(&args[0])?.labels.get("__value__").cloned().unwrap_or_default())),
        "args" => Ok(Value::Map(Rc::new(args.iter().enumerate().map(|(i, a)| (format!("arg{i}"), a.clone())).collect()))),
        "reReplaceAll" => re_replace_all(string_arg(&args[0])?, string_arg(&args[1])?, string_arg(&args[2])?),
        "safeHtml" | "toUpper" | "toLower" | "title" | "stripPort" | "stripDomain" | "graphLink" | "tableLink" | "urlQueryEscape" => string_function(name, string_arg(&args[0])?),
        "match" => {
            let pattern = compile(string_arg(&args[0])?)?;
            Ok(Value::Bool(pattern.is_match(string_arg(&args[1])?)))
        }
        "sortByLabel" => {
            let label = string_arg(&args[0])?;
            let mut sorted: Vec<Rc<Sample>> = samples_arg(&args[1])?.to_vec();
            sorted.sort_by(|a, b| a.labels.get(label).map(String::as_str).unwrap_or("").cmp(b.labels.get(label).map(String::as_str).unwrap_or("")));
            Ok(Value::Samples(Rc::new(sorted)))
        }
        "humanize" => Ok(Value::Str(humanize(to_float(&args[0])?))),
        "humanize1024" => Ok(Value::Str(humanize1024(to_float(&args[0])?))),
        "humanizeDuration" => Ok(Value::Str(humanize_duration(to_float(&args[0])?))),
        "humanizePercentage" => Ok(Value::Str(format!("{}%", format_float_g(to_float(&args[0])? * 100.0, Some(4))))),
        "humanizeTimestamp" => {
            let seconds = to_float(&args[0])?;
            if !seconds.is_finite() {
                return Ok(Value::Str(format_float_g(seconds, Some(4))));
            }
            Ok(Value::Str(value_string(&float_to_time(seconds)?)))
        }
        "toTime" => {
            let seconds = to_float(&args[0])?;
            if !seconds.is_finite() {
                return Err(CallError::Failed("value is NaN or Inf".to_string()));
            }
            float_to_time(seconds)
        }
        "toDuration" => Ok(Value::Duration(float_to_nanos(to_float(&args[0])? * NANOS_PER_SECOND))),
        "now" => Ok(Value::Float(context.now_seconds)),
        "pathPrefix" => Ok(Value::Str(url_path(context.external_url).to_string())),
        "externalURL" => Ok(Value::Str(context.external_url.to_string())),
        "parseDuration" => parse_duration(string_arg(&args[0])?).map(Value::Float),
        other => Err(CallError::Plain(format!("{other:?} is not a defined function"))),
    }
}

fn query(text: &str, context: &CallContext<'_>) -> CallResult {
    match context.answers.get(text) {
        None => Err(CallError::NeedsQuery(text.to_string())),
        Some(Err(message)) => Err(CallError::Failed(message.clone())),
        Some(Ok(samples)) => Ok(Value::Samples(Rc::new(samples.iter().map(|s| Rc::new(Sample { labels: Rc::new(s.labels.clone()), value: s.value })).collect()))),
    }
}

fn samples_arg(value: &Value) -> Result<&[Rc<Sample>], CallError> {
    match value {
        Value::Samples(samples) => Ok(samples),
        other => Err(CallError::Plain(format!("wrong type for value; expected template.queryResult; got {}", other.type_name()))),
    }
}

fn sample_arg(value: &Value) -> Result<&Sample, CallError> {
    match value {
        Value::Sample(sample) => Ok(sample),
        Value::Nil => Err(CallError::Failed("runtime error: invalid memory address or nil pointer dereference".to_string())),
        other => Err(CallError::Plain(format!("wrong type for value; expected *template.sample; got {}", other.type_name()))),
    }
}

/// prometheus/common's ConvertToFloat: numbers as they are, strings through strconv.ParseFloat.
fn to_float(value: &Value) -> Result<f64, CallError> {
    match value {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => parse_go_float(s).ok_or_else(|| CallError::Failed(format!("strconv.ParseFloat: parsing {}: invalid syntax", crate::gofmt::go_quote(s)))),
        Value::Nil => Err(CallError::Failed("can't convert <nil> to float".to_string())),
        other => Err(CallError::Failed(format!("can't convert {} to float", other.type_name()))),
    }
}

/// strconv.ParseFloat's accepted forms that matter here: decimals, exponents, ±Inf, NaN.
fn parse_go_float(text: &str) -> Option<f64> {
    let unsigned = text.trim_start_matches(['+', '-']);
    let lower = unsigned.to_ascii_lowercase();
    if text.len() - unsigned.len() > 1 {
        return None;
    }
    if lower == "inf" || lower == "infinity" || lower == "nan" {
        return text.parse().ok();
    }
    if !lower.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-')) {
        return None;
    }
    text.parse().ok()
}

fn float_to_nanos(nanos: f64) -> i64 {
    // Go's float→int conversion truncates; out-of-range results are saturated here.
    nanos as i64
}

/// Prometheus' floatToTime: seconds → a UTC time, truncated to milliseconds as model.Time does.
fn float_to_time(seconds: f64) -> CallResult {
    let nanos = seconds * NANOS_PER_SECOND;
    if nanos > i64::MAX as f64 || nanos < i64::MIN as f64 {
        return Err(CallError::Failed(format!("{} cannot be represented as a nanoseconds timestamp since it overflows int64", format_float_g(seconds, None))));
    }
    let millis = float_to_nanos(nanos) / NANOS_PER_MILLI;
    Ok(Value::Time(millis.saturating_mul(NANOS_PER_MILLI)))
}

fn scaled(mut value: f64, base: f64, prefixes: &[&str]) -> String {
    let mut prefix = "";
    for p in prefixes {
        if value.abs() < base {
            break;
        }
        prefix = p;
        value /= base;
    }
    format!("{}{prefix}", format_float_g(value, Some(4)))
}

fn humanize(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format_float_g(value, Some(4));
    }
    if value.abs() >= 1.0 {
        return scaled(value, 1000.0, &["k", "M", "G", "T", "P", "E", "Z", "Y"]);
    }
    let (value, prefix) = milli_scaled(value);
    format!("{}{prefix}", format_float_g(value, Some(4)))
}

/// A value below 1 scaled by thousands up to `y` (yocto) until it is at least 1, and the
/// SI prefix it took.
fn milli_scaled(mut value: f64) -> (f64, &'static str) {
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if value.abs() >= 1.0 {
            break;
        }
        prefix = p;
        value *= 1000.0;
    }
    (value, prefix)
}

fn humanize1024(value: f64) -> String {
    if value.abs() <= 1.0 || !value.is_finite() {
        return format_float_g(value, Some(4));
    }
    scaled(value, 1024.0, &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"])
}

/// prometheus/common's HumanizeDuration: "1d 2h 3m 4s" above a second, "123.5ms" below.
fn humanize_duration(value: f64) -> String {
    if !value.is_finite() {
        return format_float_g(value, Some(4));
    }
    if value == 0.0 {
        return format!("{}s", format_float_g(value, Some(4)));
    }
    if value.abs() >= 1.0 {
        let sign = if value < 0.0 { "-" } else { "" };
        let magnitude = value.abs();
        let whole = magnitude as i64;
        let (days, hours, minutes, seconds) = (whole / 86_400, whole / 3600 % 24, whole / 60 % 60, whole % 60);
        return if days != 0 {
            format!("{sign}{days}d {hours}h {minutes}m {seconds}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {minutes}m {seconds}s")
        } else if minutes != 0 {
            format!("{sign}{minutes}m {seconds}s")
        } else {
            format!("{sign}{}s", format_float_g(magnitude, Some(4)))
        };
    }
    let (value, prefix) = milli_scaled(value);
    format!("{}{prefix}s", format_float_g(value, Some(4)))
}

fn compile(pattern: &str) -> Result<regex::Regex, CallError> {
    regex::Regex::new(pattern).map_err(|error| CallError::Failed(format!("error parsing regexp: {error}")))
}

fn re_replace_all(pattern: &str, replacement: &str, text: &str) -> CallResult {
    // The regex crate's `$name` / `${name}` expansion follows Go's rules (longest name, `$$`).
    let regex = regex::Regex::new(pattern).map_err(|error| CallError::Failed(format!("regexp: Compile({}): error parsing regexp: {error}", crate::gofmt::go_quote(pattern))))?;
    Ok(Value::Str(regex.replace_all(text, replacement).into_owned()))
}

fn string_function(name: &str, text: &str) -> CallResult {
    let result = match name {
        "toUpper" => text.to_uppercase(),
        "toLower" => text.to_lowercase(),
        "title" => title(text),
        "stripPort" => strip_port(text),
        "stripDomain" => strip_domain(text),
        "graphLink" => format!("/graph?g0.expr={}&g0.tab=0", query_escape(text)),
        "tableLink" => format!("/graph?g0.expr={}&g0.tab=1", query_escape(text)),
        "urlQueryEscape" => query_escape(text),
        _ => text.to_string(),
    };
    Ok(Value::Str(result))
}

/// cases.Title with NoLower: the first letter of each word upper-cased, the rest untouched.
fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start && c.is_alphanumeric() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !(c.is_alphanumeric() || c == '\'' || c == '’');
    }
    out
}

/// Go's net.SplitHostPort.
fn split_host_port(host_port: &str) -> Option<(&str, &str)> {
    let last_colon = host_port.rfind(':')?;
    let (host, after_host) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let close = bracketed.find(']')? + 1;
        if close + 1 != last_colon {
            return None;
        }
        (&host_port[1..close], close + 1)
    } else {
        let host = &host_port[..last_colon];
        if host.contains(':') {
            return None;
        }
        (host, last_colon)
    };
    if host.contains(['[', ']']) || host_port[after_host + 1..].contains(['[', ']']) {
        return None;
    }
    Some((host, &host_port[last_colon + 1..]))
}

fn strip_port(host_port: &str) -> String {
    split_host_port(host_port).map_or_else(|| host_port.to_string(), |(host, _)| host.to_string())
}

fn strip_domain(host_port: &str) -> String {
    let (host, port) = split_host_port(host_port).unwrap_or((host_port, ""));
    if host.parse::<IpAddr>().is_ok() {
        return host_port.to_string();
    }
    let short = host.split('.').next().unwrap_or(host);
    if port.is_empty() {
        return short.to_string();
    }
    if short.contains(':') {
        format!("[{short}]:{port}")
    } else {
        format!("{short}:{port}")
    }
}

/// The path of an absolute URL ("http://host:9090/path/prefix" → "/path/prefix").
fn url_path(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

/// Prometheus' ParseDurationAllowNegative, in seconds: "1h2m10ms", "-30m", "1y", "0".
fn parse_duration(text: &str) -> Result<f64, CallError> {
    let invalid = || CallError::Failed(format!("not a valid duration string: {}", crate::gofmt::go_quote(text)));
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if body == "0" {
        return Ok(0.0);
    }
    if body.is_empty() {
        return Err(invalid());
    }
    const UNITS: [(&str, u128); 7] = [("y", 365 * 86_400_000), ("w", 7 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("ms", 1), ("m", 60_000), ("s", 1000)];
    let mut total_ms: u128 = 0;
    let mut rest = body;
    let mut last_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(invalid());
        }
        let amount: u128 = rest[..digits].parse().map_err(|_| invalid())?;
        rest = &rest[digits..];
        let (rank, (unit, unit_ms)) = UNITS.iter().enumerate().find(|(_, (unit, _))| rest.starts_with(unit) && !(*unit == "m" && rest.starts_with("ms"))).ok_or_else(invalid)?;
        // Units must appear largest first, each at most once ("ms" ranks below "s").
        let order = match *unit {
            "ms" => 6,
            "s" => 5,
            "m" => 4,
            _ => rank,
        };
        if last_rank != usize::MAX && order <= last_rank {
            return Err(invalid());
        }
        last_rank = order;
        rest = &rest[unit.len()..];
        total_ms = total_ms.checked_add(amount.checked_mul(*unit_ms).ok_or_else(invalid)?).ok_or_else(invalid)?;
    }
    if total_ms > i64::MAX as u128 / 1_000_000 {
        return Err(CallError::Failed("duration out of range".to_string()));
    }
    let seconds = total_ms as f64 / 1000.0;
    Ok(if negative { -seconds } else { seconds })
}

