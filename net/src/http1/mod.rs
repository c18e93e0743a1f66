//! HTTP/1.1: request-head parsing (`parse`), body framing (`body`), response writing
//! (`write`) and the per-connection loop (`server`).

pub mod body;
pub mod parse;
pub mod server;
pub mod write;

/// A protocol error: answered with `status` and the connection closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {message}")]
pub struct ProtocolError {
    pub status: u16,
    pub message: String,
}

impl ProtocolError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ProtocolError { status, message: message.into() }
    }
}
