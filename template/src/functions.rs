//! The function table: which names exist (an unknown one is a parse error), their arities,
//! and Go's builtins (`eq`, `index`, `len`, `printf`, `html` …). Prometheus' own are in `prometheus.rs`.

use std::cmp::Ordering;

use crate::gofmt::{sprint, sprintf, sprintln};
use crate::prometheus;
use crate::value::Value;

/// Why a function call failed.
pub enum CallError {
    /// The function returned an error: reported as "error calling NAME: …".
    Failed(String),
    /// A call-site problem reported as is ("wrong type for value; …").
    Plain(String),
    /// `query` was called with a text that has no answer yet.
    NeedsQuery(String),
}

/// What functions may read besides their arguments.
pub struct CallContext<'a> {
    pub external_url: &'a str,
    pub now_seconds: f64,
    pub answers: &'a crate::QueryAnswers,
}

pub type CallResult = Result<Value, CallError>;

/// (name, minimum args, maximum args or None for variadic).
const FUNCTIONS: &[(&str, usize, Option<usize>)] = &[
    ("and", 1, None),
    ("or", 1, None),
    ("not", 1, Some(1)),
    ("len", 1, Some(1)),
    ("index", 1, None),
    ("slice", 1, None),
    ("print", 0, None),
    ("printf", 1, None),
    ("println", 0, None),
    ("eq", 1, None),
    ("ne", 2, Some(2)),
    ("lt", 2, Some(2)),
    ("le", 2, Some(2)),
    ("gt", 2, Some(2)),
    ("ge", 2, Some(2)),
    ("html", 0, None),
    ("js", 0, None),
    ("urlquery", 0, None),
    ("query", 1, Some(1)),
    ("first", 1, Some(1)),
    ("label", 2, Some(2)),
    ("value", 1, Some(1)),
    ("strvalue", 1, Some(1)),
    ("args", 0, None),
    ("reReplaceAll", 3, Some(3)),
    ("safeHtml", 1, Some(1)),
    ("match", 2, Some(2)),
    ("title", 1, Some(1)),
    ("toUpper", 1, Some(1)),
    ("toLower", 1, Some(1)),
    ("graphLink", 1, Some(1)),
    ("tableLink", 1, Some(1)),
    ("sortByLabel", 2, Some(2)),
    ("stripPort", 1, Some(1)),
    ("stripDomain", 1, Some(1)),
    ("humanize", 1, Some(1)),
    ("humanize1024", 1, Some(1)),
    ("humanizeDuration", 1, Some(1)),
    ("humanizePercentage", 1, Some(1)),
    ("humanizeTimestamp", 1, Some(1)),
    ("toTime", 1, Some(1)),
    ("toDuration", 1, Some(1)),
    ("now", 0, Some(0)),
    ("pathPrefix", 0, Some(0)),
    ("externalURL", 0, Some(0)),
    ("parseDuration", 1, Some(1)),
    ("urlQueryEscape", 1, Some(1)),
];

/// Prometheus' own template functions (its `templateFunctions` map, beside Go's builtins),
/// by name: what `/api/v1/features` lists under `templating_functions`.
pub fn prometheus_function_names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(name, _, _)| *name).skip_while(|name| *name != "query")
}

pub fn is_function(name: &str) -> bool {
    FUNCTIONS.iter().any(|(known, _, _)| *known == name)
}

/// Go's arity check: "wrong number of args for NAME: want N got M".
pub fn check_arity(name: &str, given: usize) -> Result<(), String> {
    let Some((_, min, max)) = FUNCTIONS.iter().find(|(known, _, _)| *known == name) else {
        return Err(format!("{name:?} is not a defined function"));
    };
    match max {
        Some(max) if given != *max || given < *min => Err(format!("wrong number of args for {name}: want {max} got {given}")),
        None if given < *min => Err(format!("wrong number of args for {name}: want at least {min} got {given}")),
        _ => Ok(()),
    }
}

pub fn call(name: &str, args: &[Value], context: &CallContext<'_>) -> CallResult {
    match name {
        "not" => Ok(Value::Bool(!args[0].is_true())),
        "len" => length(&args[0]),
        "index" => index(&args[0], &args[1..]),
        "slice" => slice(&args[0], &args[1..]),
        "print" => Ok(Value::Str(sprint(args))),
        "println" => Ok(Value::Str(sprintln(args))),
        "printf" => Ok(Value::Str(sprintf(string_arg(&args[0])?, &args[1..]))),
        "eq" => equal_any(&args[0], &args[1..]),
        "ne" => equal_any(&args[0], &args[1..]).map(|equal| Value::Bool(!equal.is_true())),
        "lt" => less(&args[0], &args[1]).map(Value::Bool),
        "le" => less_or_equal(&args[0], &args[1]).map(Value::Bool),
        "gt" => less_or_equal(&args[0], &args[1]).map(|le| Value::Bool(!le)),
        "ge" => less(&args[0], &args[1]).map(|lt| Value::Bool(!lt)),
        "html" => Ok(Value::Str(html_escape(&escaper_text(args)))),
        "js" => Ok(Value::Str(js_escape(&escaper_text(args)))),
        "urlquery" => Ok(Value::Str(query_escape(&escaper_text(args)))),
        _ => prometheus::call(name, args, context),
    }
}

/// The escapers' input: fmt.Sprint of the arguments, with a missing value printed as the
/// template prints it (`<no value>`).
fn escaper_text(args: &[Value]) -> String {
    let printable: Vec<Value> = args.iter().map(|arg| if let Value::Nil = arg { Value::Str("<no value>".to_string()) } else { arg.clone() }).collect();
    sprint(&printable)
}

/// A `string` parameter: Go rejects other types.
pub fn string_arg(value: &Value) -> Result<&str, CallError> {
    match value {
        Value::Str(s) => Ok(s),
        other => Err(CallError::Plain(format!("wrong type for value; expected string; got {}", other.type_name()))),
    }
}

fn length(value: &Value) -> CallResult {
    let length = match value {
        Value::Str(s) => s.len(),
        Value::StrMap(m) => m.len(),
        Value::Map(m) => m.len(),
        Value::List(l) => l.len(),
        Value::Samples(s) => s.len(),
        Value::Nil => return Err(CallError::Failed("len of nil pointer".to_string())),
        other => return Err(CallError::Failed(format!("len of type {}", other.type_name()))),
    };
    Ok(Value::Int(length as i64))
}

fn int_index(value: &Value) -> Result<i64, CallError> {
    match value {
        Value::Int(i) => Ok(*i),
        Value::Nil => Err(CallError::Failed("cannot index slice/array with nil".to_string())),
        other => Err(CallError::Failed(format!("cannot index slice/array with type {}", other.type_name()))),
    }
}

fn index(item: &Value, indices: &[Value]) -> CallResult {
    let mut current = item.clone();
    for key in indices {
        current = match (&current, key) {
            (Value::StrMap(map), Value::Str(k)) => Value::Str(map.get(k).cloned().unwrap_or_default()),
            (Value::Map(map), Value::Str(k)) => map.get(k).cloned().unwrap_or(Value::Nil),
            (Value::StrMap(_) | Value::Map(_), other) => return Err(CallError::Failed(format!("value has type {}; should be string", other.type_name()))),
            (Value::List(_) | Value::Samples(_) | Value::Str(_), _) => {
                let position = int_index(key)?;
                let length = match &current {
                    Value::List(l) => l.len(),
                    Value::Samples(s) => s.len(),
                    Value::Str(s) => s.len(),
                    _ => 0,
                };
                if position < 0 || position as usize >= length {
                    return Err(CallError::Failed(format!("index out of range: {position}")));
                }
                let position = position as usize;
                match &current {
                    Value::List(l) => l[position].clone(),
                    Value::Samples(s) => Value::Sample(s[position].clone()),
                    Value::Str(s) => Value::Int(i64::from(s.as_bytes()[position])),
                    _ => Value::Nil,
                }
            }
            (Value::Nil, _) => return Err(CallError::Failed("index of untyped nil".to_string())),
            (other, _) => return Err(CallError::Failed(format!("can't index item of type {}", other.type_name()))),
        };
    }
    Ok(current)
}

fn slice(item: &Value, indices: &[Value]) -> CallResult {
    if indices.len() > 3 {
        return Err(CallError::Failed(format!("too many slice indexes: {}", indices.len())));
    }
    let length = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Samples(s) => s.len(),
        Value::Nil => return Err(CallError::Failed("slice of untyped nil".to_string())),
        other => return Err(CallError::Failed(format!("can't slice item of type {}", other.type_name()))),
    };
    if indices.len() == 3 && matches!(item, Value::Str(_)) {
        return Err(CallError::Failed("cannot 3-index slice a string".to_string()));
    }
    let mut bounds = [0, length, length];
    for (i, index) in indices.iter().enumerate() {
        let position = int_index(index)?;
        if position < 0 || position as usize > length {
            return Err(CallError::Failed(format!("index out of range: {position}")));
        }
        bounds[i] = position as usize;
    }
    if bounds[0] > bounds[1] {
        return Err(CallError::Failed(format!("invalid slice index: {} > {}", bounds[0], bounds[1])));
    }
    let (start, end) = (bounds[0], bounds[1]);
    Ok(match item {
        Value::Str(s) => Value::Str(String::from_utf8_lossy(&s.as_bytes()[start..end]).into_owned()),
        Value::List(l) => Value::List(std::rc::Rc::new(l[start..end].to_vec())),
        Value::Samples(s) => Value::Samples(std::rc::Rc::new(s[start..end].to_vec())),
        _ => Value::Nil,
    })
}

/// The comparable kinds of Go's `eq`/`lt`: bool, integer, float, string.
fn comparable(value: &Value) -> bool {
    matches!(value, Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_))
}

fn same_kind(a: &Value, b: &Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn equal_any(first: &Value, others: &[Value]) -> CallResult {
    if others.is_empty() {
        return Err(CallError::Failed("missing argument for comparison".to_string()));
    }
    if !comparable(first) && !matches!(first, Value::Nil) {
        return Err(CallError::Failed("invalid type for comparison".to_string()));
    }
    for other in others {
        if !same_kind(first, other) {
            if matches!(first, Value::Nil) || matches!(other, Value::Nil) {
                continue;
            }
            if !comparable(other) {
                return Err(CallError::Failed("invalid type for comparison".to_string()));
            }
            return Err(CallError::Failed("incompatible types for comparison".to_string()));
        }
        if first == other {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ordering(a: &Value, b: &Value) -> Result<Ordering, CallError> {
    if !comparable(a) || !comparable(b) || matches!(a, Value::Bool(_)) || matches!(b, Value::Bool(_)) {
        return Err(CallError::Failed("invalid type for comparison".to_string()));
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Greater)),
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        _ => Err(CallError::Failed("incompatible types for comparison".to_string())),
    }
}

fn less(a: &Value, b: &Value) -> Result<bool, CallError> {
    if let (Value::Float(x), Value::Float(y)) = (a, b) {
        return Ok(x < y);
    }
    Ok(ordering(a, b)? == Ordering::Less)
}

fn less_or_equal(a: &Value, b: &Value) -> Result<bool, CallError> {
    if let (Value::Float(x), Value::Float(y)) = (a, b) {
        return Ok(x <= y);
    }
    Ok(ordering(a, b)? != Ordering::Greater)
}

/// Go's template.HTMLEscapeString.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's template.JSEscapeString.
fn js_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 || ((c as u32) >= 0x7f && c.is_control()) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Go's url.QueryEscape.
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}
