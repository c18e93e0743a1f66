//! The one place where failures become HTTP statuses: Prometheus' errorType → status
//! table (bad_data 400, execution 422, canceled 499, timeout 503, internal 500, not_found 404).

use bytes::Bytes;
use http::{header, Response, StatusCode};

use super::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: &'static str,
    pub message: String,
    /// Extra response headers (`Allow`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    fn new(status: StatusCode, error_type: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error_type, message: message.into(), headers: Vec::new() }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_data", message)
    }

    pub fn execution(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "execution", message)
    }

    pub fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 502: a request this server made on the client's behalf (to a scrape target) failed.
    pub fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "unavailable", message)
    }

    pub fn not_found(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no endpoint {path}"))
    }

    /// 404 for a thing the request names that does not exist (a snapshot, say).
    pub fn no_such(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A verified client whose identity may not do this (mTLS allow-lists).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 413: a body, or what it decompresses or parses to, past a bound.
    pub fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "bad_data", message)
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_data", message)
    }

    pub fn method_not_allowed(allowed: &'static str) -> Self {
        let mut e = Self::new(StatusCode::METHOD_NOT_ALLOWED, "bad_data", format!("method not allowed; use {allowed}"));
        e.headers.push((header::ALLOW, allowed.to_string()));
        e
    }

    /// 429 with `Retry-After`, so remote_write senders back off and retry.
    pub fn overloaded(message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "unavailable", message);
        e.headers.push((header::RETRY_AFTER, "1".to_string()));
        e
    }

    pub fn into_response(self) -> Response<Bytes> {
        let mut response = super::json_response(self.status, json::error(self.error_type, &self.message));
        for (name, value) in self.headers {
            if let Ok(value) = header::HeaderValue::from_str(&value) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

impl From<crate::shard::SubmitError> for ApiError {
    fn from(error: crate::shard::SubmitError) -> Self {
        use crate::shard::SubmitError;
        match error {
            SubmitError::QueueFull { .. } => ApiError::overloaded(error.to_string()),
            SubmitError::ShuttingDown { .. } => ApiError::unavailable(error.to_string()),
            // ENOSPC (or the short O_DIRECT write that precedes it): retryable for senders (5xx).
            SubmitError::Failed { ref message, .. } if message.contains("os error 28") || message.contains("short write") => {
                let mut e = ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "unavailable",
                    format!("cannot write the WAL (disk full?); samples for that shard were not stored, retry later: {error}"),
                );
                e.headers.push((header::RETRY_AFTER, "10".to_string()));
                e
            }
            SubmitError::Failed { .. } => ApiError::internal(error.to_string()),
            SubmitError::TooManySamples => ApiError::execution(error.to_string()),
            // Not worth retrying (the limit still holds); the written count tells remote
            // write 2.0 senders what was stored.
            SubmitError::SeriesLimit { appended, .. } | SubmitError::OutsideTimeBounds { appended, .. } => {
                let mut e = ApiError::bad_data(error.to_string());
                e.headers.push((header::HeaderName::from_static(super::write::SAMPLES_WRITTEN_HEADER), appended.to_string()));
                e
            }
        }
    }
}
