//! The crate's error type: every failure names the offending input.

/// Everything that can go wrong while parsing or evaluating a render request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("cannot parse target {target:?}: {reason} at offset {offset}")]
    Parse { target: String, offset: usize, reason: String },
    #[error("unknown function {0:?}")]
    UnknownFunction(String),
    #[error("wrong argument type for {position} arg of {function}: expected {expected}")]
    ArgType { function: String, position: String, expected: &'static str },
    #[error("missing {position} arg of {function}")]
    MissingArg { function: String, position: String },
    #[error("too many args for {function}: at most {max} allowed")]
    TooManyArgs { function: String, max: usize },
    #[error("bad argument for {function}: {message}")]
    BadArg { function: String, message: String },
    #[error("bad regex {pattern:?}: {message}")]
    BadRegex { pattern: String, message: String },
    #[error("unparsable time {0:?}")]
    Time(String),
    #[error("unparsable interval {0:?}")]
    Interval(String),
    #[error("bad tag expression {text:?}: {reason}")]
    TagExpr { text: String, reason: &'static str },
    #[error("too many points per series: {points} exceed the limit of {limit}")]
    TooManyPoints { points: i64, limit: usize },
    #[error("bad time range: from={from_ms} ms is after until={until_ms} ms")]
    Range { from_ms: i64, until_ms: i64 },
    #[error("expression nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("fetch failed: {0}")]
    Fetch(String),
    #[error("evaluation cancelled")]
    Cancelled,
}

impl Error {
    pub(crate) fn bad_arg(function: &str, message: impl Into<String>) -> Error {
        Error::BadArg { function: function.to_string(), message: message.into() }
    }

    pub(crate) fn regex(pattern: &str, err: regex::Error) -> Error {
        Error::BadRegex { pattern: pattern.to_string(), message: err.to_string() }
    }
}
