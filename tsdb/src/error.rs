//! The storage error type: every I/O failure names the file and the operation.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{operation} {path}: {source}")]
    Io {
        operation: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{operation} {path}: {message}")]
    Glommio {
        operation: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("WAL record of {bytes} bytes exceeds the {bytes_max}-byte limit ({path})")]
    RecordTooLarge {
        path: PathBuf,
        bytes: usize,
        bytes_max: usize,
    },
    /// A file on disk does not hold what its format promises (bad magic, checksum, bounds).
    #[error("corrupt {path}: {message}")]
    Corrupt { path: PathBuf, message: String },
    /// A native histogram that breaks `FloatHistogram::validate`: refused before anything
    /// of its batch is written.
    #[error("invalid native histogram at {timestamp_ms} in series {series}: {message}")]
    InvalidHistogram {
        series: String,
        timestamp_ms: i64,
        message: String,
    },
    #[error("short write to {path}: {written} of {wanted} bytes")]
    ShortWrite {
        path: PathBuf,
        written: usize,
        wanted: usize,
    },
}

impl Error {
    pub fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            message: message.into(),
        }
    }

    pub fn io(operation: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            operation,
            path: path.into(),
            source,
        }
    }

    pub fn glommio(
        operation: &'static str,
        path: impl Into<PathBuf>,
        error: glommio::GlommioError<()>,
    ) -> Self {
        Error::Glommio {
            operation,
            path: path.into(),
            message: error.to_string(),
        }
    }
}
