//! The value notation of test scripts, as Prometheus' series-description lexer and grammar read
//! it: floats and expansions (`1 _ 0+10x2 5-1x1 _x2 stale`) and native histograms
//! (`{{schema:0 sum:5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 1] n_buckets:[1]
//! offset:1 n_offset:2 custom_values:[1 2] counter_reset_hint:gauge}}`, `{{..}}x3`,
//! `{{..}}+{{..}}x3`, `{{..}}-{{..}}x3`).

use std::sync::Arc;

use tsdb::{BucketSpan, CounterResetHint, FloatHistogram, STALE_NAN_BITS};

use crate::engine::native_histogram::{raw_add, raw_sub, Notes};

/// One step of a series line.
#[derive(Clone, Debug, PartialEq)]
pub enum SeqValue {
    /// `_`: no sample at this step.
    Omitted,
    Float(f64),
    /// A native histogram; `hint_set` when the notation named a `counter_reset_hint` (an
    /// expectation then compares hints, otherwise not).
    Histogram { histogram: Arc<FloatHistogram>, hint_set: bool },
}

/// Expands a value sequence into one entry per step.
pub fn parse_sequence(text: &str) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            let (first, hint_set, after) = histogram_at(rest)?;
            rest = after;
            if let Some(after) = rest.strip_prefix('x') {
                let (times, after) = count_at(after)?;
                let value = SeqValue::Histogram { histogram: Arc::new(first), hint_set };
                out.extend(std::iter::repeat_n(value, times + 1));
                rest = after;
            } else if let Some(op) = rest.chars().next().filter(|c| *c == '+' || *c == '-') {
                let (increment, hint_set, after) = histogram_at(&rest[1..])?;
                let after = after.strip_prefix('x').ok_or_else(|| format!("expected `x` after {{{{..}}}}{op}{{{{..}}}} in {text:?}"))?;
                let (times, after) = count_at(after)?;
                out.extend(histogram_series(first, &increment, times, op == '-', hint_set)?);
                rest = after;
            } else {
                out.push(SeqValue::Histogram { histogram: Arc::new(first), hint_set });
            }
            if !rest.is_empty() && !rest.starts_with(char::is_whitespace) {
                return Err(format!("unexpected {:?} after a histogram", rest.chars().next().unwrap_or(' ')));
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            out.extend(float_item(&rest[..end])?);
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(out)
}

/// Exactly one histogram in notation (`{{...}}`) and whether it named a counter reset hint.
pub fn parse_histogram(text: &str) -> Result<(FloatHistogram, bool), String> {
    let (h, hint_set, rest) = histogram_at(text.trim())?;
    if !rest.trim().is_empty() {
        return Err(format!("unexpected {rest:?} after the histogram"));
    }
    Ok((h, hint_set))
}

/// `base`, then `times` more steps each adding (`subtract`: subtracting) `increment` to the
/// previous one, with Prometheus' `Add`/`Sub`; every step carries the increment's hint flag.
fn histogram_series(base: FloatHistogram, increment: &FloatHistogram, times: usize, subtract: bool, hint_set: bool) -> Result<Vec<SeqValue>, String> {
    let mut out = Vec::with_capacity(times + 1);
    let mut current = Arc::new(base);
    out.push(SeqValue::Histogram { histogram: current.clone(), hint_set });
    for _ in 0..times {
        if current.schema > increment.schema {
            return Err(format!("error combining histograms: cannot merge from schema {} to {}", increment.schema, current.schema));
        }
        let notes = &mut Notes::default();
        let next = if subtract { raw_sub(&current, increment, notes) } else { raw_add(&current, increment, notes) };
        current = Arc::new(next.map_err(|e| format!("error combining histograms: {e}"))?);
        out.push(SeqValue::Histogram { histogram: current.clone(), hint_set });
    }
    Ok(out)
}

/// A decimal repeat count at the start of `text`.
fn count_at(text: &str) -> Result<(usize, &str), String> {
    let end = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let times = text[..end].parse().map_err(|_| format!("expected a repeat count at {text:?}"))?;
    Ok((times, &text[end..]))
}

/// A histogram `{{...}}` at the start of `text`: it, whether it named a hint, and the rest.
fn histogram_at(text: &str) -> Result<(FloatHistogram, bool, &str), String> {
    let body = text.strip_prefix("{{").ok_or_else(|| format!("expected `{{{{` at {text:?}"))?;
    let end = body.find("}}").ok_or_else(|| format!("histogram description not closed: {text:?}"))?;
    let (h, hint_set) = histogram_body(&body[..end])?;
    Ok((h, hint_set, &body[end + 2..]))
}

/// The `key:value` items between `{{` and `}}`.
fn histogram_body(body: &str) -> Result<(FloatHistogram, bool), String> {
    let mut h = FloatHistogram::default();
    let mut seen: Vec<String> = Vec::new();
    let (mut buckets, mut offset, mut negative_buckets, mut negative_offset) = (Vec::new(), 0, Vec::new(), 0);
    let mut hint_set = false;
    let mut rest = body.trim_start();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or_else(|| format!("missing `:` for histogram descriptor in {rest:?}"))?;
        let key = rest[..colon].to_ascii_lowercase();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            return Err(format!("bad histogram descriptor found: {key:?}"));
        }
        if seen.contains(&key) {
            return Err(format!("duplicate key \"{key}\" in histogram"));
        }
        rest = &rest[colon + 1..];
        let value_end = if rest.starts_with('[') { rest.find(']').map(|i| i + 1).ok_or_else(|| format!("`[` not closed in {rest:?}"))? } else { rest.find(char::is_whitespace).unwrap_or(rest.len()) };
        let value = &rest[..value_end];
        rest = rest[value_end..].trim_start();
        match key.as_str() {
            "schema" => h.schema = integer(value)?,
            "sum" => h.sum = number(value)?,
            "count" => h.count = number(value)?,
            "z_bucket" => h.zero_count = number(value)?,
            "z_bucket_w" => h.zero_threshold = number(value)?,
            "custom_values" => h.custom_values = list(value)?,
            "buckets" => buckets = list(value)?,
            "offset" => offset = integer(value)?,
            "n_buckets" => negative_buckets = list(value)?,
            "n_offset" => negative_offset = integer(value)?,
            "counter_reset_hint" => {
                hint_set = true;
                h.counter_reset_hint = match value.to_ascii_lowercase().as_str() {
                    "unknown" => CounterResetHint::Unknown,
                    "reset" => CounterResetHint::CounterReset,
                    "not_reset" => CounterResetHint::NotCounterReset,
                    "gauge" => CounterResetHint::Gauge,
                    other => return Err(format!("error parsing counter_reset_hint: unknown value {other:?}")),
                };
            }
            other => return Err(format!("bad histogram descriptor found: {other:?}")),
        }
        seen.push(key);
    }
    let span = |offset: i32, count: usize| if count == 0 { Vec::new() } else { vec![BucketSpan { offset, length: count as u32 }] };
    h.positive_spans = span(offset, buckets.len());
    h.positive_buckets = buckets;
    h.negative_spans = span(negative_offset, negative_buckets.len());
    h.negative_buckets = negative_buckets;
    Ok((h, hint_set))
}

/// `[1 2 3]`: numbers separated by spaces.
fn list(text: &str) -> Result<Vec<f64>, String> {
    let inner = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or_else(|| format!("expected [..] but got {text:?}"))?;
    let values: Vec<f64> = inner.split_whitespace().map(number).collect::<Result<_, _>>()?;
    if values.is_empty() {
        return Err(format!("empty bucket list {text:?}"));
    }
    Ok(values)
}

fn integer(text: &str) -> Result<i32, String> {
    text.parse().map_err(|_| format!("expected an integer but got {text:?}"))
}

/// A number as Prometheus' parser reads one: Go integer literals (`0x1f`), floats, `Inf`, `NaN`.
fn number(text: &str) -> Result<f64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let radix = |prefix: &str, radix: u32| digits.strip_prefix(prefix).and_then(|d| i64::from_str_radix(d, radix).ok());
    if let Some(v) = radix("0x", 16).or_else(|| radix("0X", 16)) {
        return Ok(if negative { -(v as f64) } else { v as f64 });
    }
    text.parse::<f64>().map_err(|_| format!("expected a number but got {text:?}"))
}

/// One float item: `1`, `_`, `_x3`, `stale`, `1+2x3`, `5-1x2`, `3x2`.
fn float_item(token: &str) -> Result<Vec<SeqValue>, String> {
    let bad = || format!("bad series value {token:?}");
    if token == "_" {
        return Ok(vec![SeqValue::Omitted]);
    }
    if let Some(n) = token.strip_prefix("_x") {
        return Ok(vec![SeqValue::Omitted; n.parse().map_err(|_| bad())?]);
    }
    if let Some(v) = plain_number(token) {
        return Ok(vec![SeqValue::Float(v)]);
    }
    let (expr, times) = token.rsplit_once('x').ok_or_else(bad)?;
    let times: usize = times.parse().map_err(|_| bad())?;
    // The operator: a +/- not at the start and not part of an exponent.
    let bytes = expr.as_bytes();
    let op_at = (1..bytes.len()).rev().find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
    let (start, delta) = match op_at {
        Some(i) => {
            let d = plain_number(&expr[i + 1..]).ok_or_else(bad)?;
            (plain_number(&expr[..i]).ok_or_else(bad)?, if bytes[i] == b'-' { -d } else { d })
        }
        None => (plain_number(expr).ok_or_else(bad)?, 0.0),
    };
    if start.to_bits() == STALE_NAN_BITS {
        return Ok(vec![SeqValue::Float(start); times + 1]);
    }
    let mut out = Vec::with_capacity(times + 1);
    let mut v = start;
    for _ in 0..=times {
        out.push(SeqValue::Float(v));
        v += delta;
    }
    Ok(out)
}

/// A number in series notation (no hex: `0x59` means 0 repeated 59 more times), or `stale`.
fn plain_number(text: &str) -> Option<f64> {
    match text {
        "stale" => Some(f64::from_bits(STALE_NAN_BITS)),
        t if t.contains(['x', 'X']) => None,
        t => t.parse::<f64>().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(values: &[SeqValue]) -> Vec<Option<f64>> {
        values
            .iter()
            .map(|v| match v {
                SeqValue::Float(f) => Some(*f),
                SeqValue::Omitted => None,
                SeqValue::Histogram { .. } => panic!("a histogram among floats"),
            })
            .collect()
    }

    fn histogram(v: &SeqValue) -> (&FloatHistogram, bool) {
        match v {
            SeqValue::Histogram { histogram, hint_set } => (histogram, *hint_set),
            other => panic!("expected a histogram, got {other:?}"),
        }
    }

    #[test]
    fn float_notation() {
        let v = parse_sequence("1 _ 0+10x2 5-1x1 _x2 stale 3x2 1e3+1e3x1 -2").unwrap();
        let flat: Vec<Option<f64>> = floats(&v).into_iter().map(|x| x.filter(|f| !f.is_nan())).collect();
        let want = [Some(1.0), None, Some(0.0), Some(10.0), Some(20.0), Some(5.0), Some(4.0), None, None, None, Some(3.0), Some(3.0), Some(3.0), Some(1000.0), Some(2000.0), Some(-2.0)];
        assert_eq!(flat, want);
        assert_eq!(floats(&v)[9].map(f64::to_bits), Some(STALE_NAN_BITS));
        assert!(parse_sequence("1 two").is_err());
    }

    #[test]
    fn every_histogram_field() {
        let (h, hint_set) = parse_histogram("{{schema:1 sum:-5.5 count:4 z_bucket:1 z_bucket_w:0.001 buckets:[1 2 ] offset:-2 n_buckets:[3] n_offset:2 counter_reset_hint:gauge}}").unwrap();
        let want = FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: 1,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 4.0,
            sum: -5.5,
            positive_spans: vec![BucketSpan { offset: -2, length: 2 }],
            negative_spans: vec![BucketSpan { offset: 2, length: 1 }],
            positive_buckets: vec![1.0, 2.0],
            negative_buckets: vec![3.0],
            custom_values: Vec::new(),
        };
        assert_eq!((h, hint_set), (want, true));
        let (h, hint_set) = parse_histogram("{{schema:-53 custom_values:[-2 3] sum:Inf count:NaN}}").unwrap();
        assert_eq!((h.schema, h.custom_values.clone(), h.sum, hint_set), (-53, vec![-2.0, 3.0], f64::INFINITY, false));
        assert!(h.count.is_nan());
        assert_eq!(parse_histogram("{{}}").unwrap().0, FloatHistogram::default());
        assert_eq!(parse_histogram("{{ }}").unwrap().0, FloatHistogram::default());
    }

    #[test]
    fn histogram_notation_errors_are_named() {
        let err = |text: &str| parse_sequence(text).unwrap_err();
        assert!(err("{{count:1 count:2}}").contains("duplicate key \"count\""));
        assert!(err("{{bogus:1}}").contains("bad histogram descriptor"));
        assert!(err("{{count 1}}").contains("missing `:`"));
        assert!(err("{{count:1").contains("not closed"));
        assert!(err("{{counter_reset_hint:sometimes}}").contains("unknown value"));
        assert!(err("{{buckets:[1 2}}").contains("not closed"));
        assert!(err("{{count:1}}+{{count:1}}").contains("expected `x`"));
        assert!(err("{{count:1}}y").contains("after a histogram"));
        assert!(parse_sequence("{{schema:0 count:1}}+{{schema:1 count:1}}x2").is_ok(), "an increment of higher resolution is merged down");
        assert!(err("{{schema:1 count:1}}+{{schema:0 count:1}}x2").contains("cannot merge from schema 0 to 1"));
    }

    #[test]
    fn histogram_expansions() {
        let v = parse_sequence("1 {{count:1 buckets:[1]}}x2 _ {{sum:1 count:2 buckets:[1 1]}}+{{sum:2 count:1 buckets:[0 1] counter_reset_hint:gauge}}x2 2").unwrap();
        assert_eq!(v.len(), 9);
        assert_eq!(v[0], SeqValue::Float(1.0));
        assert!(v[1..=3].iter().all(|s| histogram(s).0.count == 1.0));
        assert_eq!(v[4], SeqValue::Omitted);
        let steps: Vec<(f64, f64, Vec<f64>, bool)> = v[5..8].iter().map(histogram).map(|(h, set)| (h.count, h.sum, h.positive_buckets.clone(), set)).collect();
        assert_eq!(steps, vec![(2.0, 1.0, vec![1.0, 1.0], true), (3.0, 3.0, vec![1.0, 2.0], true), (4.0, 5.0, vec![1.0, 3.0], true)], "the increment's hint flag applies to every step");
        assert_eq!(histogram(&v[6]).0.counter_reset_hint, CounterResetHint::Gauge, "unknown + gauge is a gauge");
        assert_eq!(v[8], SeqValue::Float(2.0));
        let down = parse_sequence("{{count:5 buckets:[5]}}-{{count:1 buckets:[1]}}x2").unwrap();
        let counts: Vec<f64> = down.iter().map(|v| histogram(v).0.positive_buckets[0]).collect();
        assert_eq!(counts, vec![5.0, 4.0, 3.0]);
        assert_eq!(histogram(&down[2]).0.counter_reset_hint, CounterResetHint::Unknown, "Sub keeps the hint rules of Add");
    }
}
