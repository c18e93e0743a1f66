//! `net` is the transport: TCP on glommio, our own HTTP/1.1 server (later TLS, HTTP/2,
//! gRPC framing). It hands complete requests to a [`Handler`] and writes back its
//! responses. It knows nothing about metrics, PromQL or storage.

pub mod http1;
pub mod http2;
pub mod io_adapter;
pub mod listener;
pub mod rewind;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;

use bytes::Bytes;

pub use listener::{accept_loop, ConnectionStats, Counter, ServerLimits};
pub use tls::{ClientIdentity, ReloadingConfig, TlsSettings, TlsVersion};

/// A response future produced on the executor that owns the connection (`!Send` is fine).
pub type ResponseFuture = Pin<Box<dyn Future<Output = http::Response<Bytes>>>>;

/// Who sent a request; attached to every request as an `http` extension.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The verified client certificate's identity, on TLS connections that presented one.
    pub identity: Option<tls::ClientIdentity>,
}

/// Trailers a handler wants sent after the response body (attach as a response extension).
/// HTTP/2 only; this is where gRPC puts `grpc-status`.
#[derive(Clone, Debug, Default)]
pub struct Trailers(pub http::HeaderMap);

/// A response body produced while it is sent (attach as a response extension; the
/// response's own body is then ignored). HTTP/1.1 sends it chunked, HTTP/2 as DATA frames
/// paced by flow control. The channel is the backpressure: the producer waits while the
/// client reads slowly, and a send fails once the client has gone, which is the producer's
/// signal to stop. An `Err` item ends the response abruptly (HTTP/1.1: the connection closes
/// without the final chunk; HTTP/2: the stream is reset), so a client never mistakes a
/// failed export for a complete one.
#[derive(Clone, Debug)]
pub struct BodyStream(pub async_channel::Receiver<Result<Bytes, String>>);

impl BodyStream {
    /// A stream and its producer side, holding at most `depth` chunks in flight.
    pub fn channel(depth: usize) -> (async_channel::Sender<Result<Bytes, String>>, BodyStream) {
        let (tx, rx) = async_channel::bounded(depth.max(1));
        (tx, BodyStream(rx))
    }
}

/// The application side of the server. One instance per executor, shared by its connections.
pub trait Handler: 'static {
    /// Answers one complete request (headers and whole body already read and bounded).
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture;
}
