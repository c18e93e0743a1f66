//! Methods templates may call on `*time.Time` and `*time.Duration` values
//! (`(now | toTime).Format "2006"`, `.Add`, `.UnixMilli`, `(1800 | toDuration).String`).

use crate::functions::{string_arg, CallError, CallResult};
use crate::timefmt::{civil, format_duration, format_time, format_time_default};
use crate::value::Value;

const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// The method's result, or None when the receiver has no such method.
pub fn call(receiver: &Value, name: &str, args: &[Value]) -> Option<CallResult> {
    let arity = match (receiver, name) {
        (Value::Time(_), "Format" | "Add" | "Sub" | "Before" | "After" | "Equal") => 1,
        (Value::Time(_), "Unix" | "UnixMilli" | "UnixMicro" | "UnixNano" | "UTC" | "Local" | "String" | "Year" | "YearDay" | "Day" | "Hour" | "Minute" | "Second" | "Nanosecond") => 0,
        (Value::Duration(_), "String" | "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds" | "Nanoseconds" | "Abs") => 0,
        _ => return None,
    };
    if args.len() != arity {
        return Some(Err(CallError::Plain(format!("wrong number of args for {name}: want {arity} got {}", args.len()))));
    }
    Some(match receiver {
        Value::Time(nanos) => time_method(*nanos, name, args),
        Value::Duration(nanos) => Ok(duration_method(*nanos, name)),
        _ => return None,
    })
}

fn duration_arg(value: &Value) -> Result<i64, CallError> {
    match value {
        Value::Duration(nanos) | Value::Int(nanos) => Ok(*nanos),
        other => Err(CallError::Plain(format!("wrong type for value; expected time.Duration; got {}", other.type_name()))),
    }
}

fn time_arg(value: &Value) -> Result<i64, CallError> {
    match value {
        Value::Time(nanos) => Ok(*nanos),
        other => Err(CallError::Plain(format!("wrong type for value; expected time.Time; got {}", other.type_name()))),
    }
}

fn time_method(nanos: i64, name: &str, args: &[Value]) -> CallResult {
    let fields = civil(nanos);
    Ok(match name {
        "Format" => Value::Str(format_time(nanos, string_arg(&args[0])?)),
        "Add" => Value::Time(nanos.saturating_add(duration_arg(&args[0])?)),
        "Sub" => Value::Duration(nanos.saturating_sub(time_arg(&args[0])?)),
        "Before" => Value::Bool(nanos < time_arg(&args[0])?),
        "After" => Value::Bool(nanos > time_arg(&args[0])?),
        "Equal" => Value::Bool(nanos == time_arg(&args[0])?),
        "Unix" => Value::Int(nanos.div_euclid(NANOS_PER_SECOND)),
        "UnixMilli" => Value::Int(nanos.div_euclid(1_000_000)),
        "UnixMicro" => Value::Int(nanos.div_euclid(1_000)),
        "UnixNano" => Value::Int(nanos),
        "UTC" | "Local" => Value::Time(nanos),
        "Year" => Value::Int(fields.year),
        "YearDay" => Value::Int(i64::from(fields.year_day)),
        "Day" => Value::Int(i64::from(fields.day)),
        "Hour" => Value::Int(i64::from(fields.hour)),
        "Minute" => Value::Int(i64::from(fields.minute)),
        "Second" => Value::Int(i64::from(fields.second)),
        "Nanosecond" => Value::Int(i64::from(fields.nanosecond)),
        _ => Value::Str(format_time_default(nanos)),
    })
}

fn duration_method(nanos: i64, name: &str) -> Value {
    match name {
        "Seconds" => Value::Float(nanos as f64 / 1e9),
        "Minutes" => Value::Float(nanos as f64 / 6e10),
        "Hours" => Value::Float(nanos as f64 / 3.6e12),
        "Milliseconds" => Value::Int(nanos / 1_000_000),
        "Microseconds" => Value::Int(nanos / 1_000),
        "Nanoseconds" => Value::Int(nanos),
        "Abs" => Value::Duration(nanos.saturating_abs()),
        _ => Value::Str(format_duration(nanos)),
    }
}
