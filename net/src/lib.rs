//! `net` is the transport: TCP on glommio, our own HTTP/1.1 server (later TLS, HTTP/2,
//! gRPC framing). It hands complete requests to a [`Handler`] and writes back its
//! responses; requests the handler asks for ([`Handler::wants_streamed_body`]) get their
//! body as a [`RequestBody`] read while the handler runs. It knows nothing about metrics,
//! PromQL or storage.

pub mod accept;
pub mod balance;
pub mod client;
pub mod http1;
pub mod http2;
pub mod io_adapter;
pub mod listener;
pub mod raw_stream;
pub mod rewind;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future;

pub use accept::{accept_until_shutdown, OpenConnections, OpenSlot, StartConnection};
pub use balance::Balance;
pub use listener::{accept_loop, ConnectionStats, Counter, ServerLimits};
pub use raw_stream::RawStream;
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

/// Why a streamed request body ended early: the client went away, broke the framing, or
/// sent nothing for the body read timeout. The connection (HTTP/1.1) or stream (HTTP/2) is
/// closed after the handler's answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// A request body read while the handler runs, for requests the handler asked to stream
/// ([`Handler::wants_streamed_body`]). Not bounded by the body size limit; each wait for
/// more data is bounded by the body read timeout instead. The reader holds back the client:
/// no more than a few chunks are read ahead of what the handler has taken.
pub struct RequestBody(BodySource);

enum BodySource {
    /// HTTP/1.1: the connection task reads the socket and sends chunks; it ends the body by
    /// dropping the sender, after an `Err` when it failed.
    Channel(async_channel::Receiver<Result<Bytes, BodyError>>),
    /// HTTP/2: the stream's DATA frames, their flow-control capacity released as taken; a
    /// read that times out counts in the listener's `body_timeouts`, as over HTTP/1.1.
    H2 { stream: h2::RecvStream, read_timeout: Duration, finished: bool, stats: std::sync::Arc<listener::ConnectionStats> },
}

impl RequestBody {
    /// A body fed through a channel holding at most `depth` chunks; the sender ends it by
    /// being dropped (after an `Err` item if it failed).
    pub fn channel(depth: usize) -> (async_channel::Sender<Result<Bytes, BodyError>>, RequestBody) {
        let (tx, rx) = async_channel::bounded(depth.max(1));
        (tx, RequestBody(BodySource::Channel(rx)))
    }

    pub(crate) fn from_h2(stream: h2::RecvStream, read_timeout: Duration, stats: std::sync::Arc<listener::ConnectionStats>) -> RequestBody {
        RequestBody(BodySource::H2 { stream, read_timeout, finished: false, stats })
    }

    /// The next chunk of the body; `None` at its end. After an `Err` the body ends.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, BodyError>> {
        match &mut self.0 {
            BodySource::Channel(chunks) => chunks.recv().await.ok(),
            BodySource::H2 { stream, read_timeout, finished, stats } => {
                if *finished {
                    return None;
                }
                let timeout = *read_timeout;
                let data = future::or(async { Some(stream.data().await) }, async {
                    glommio::timer::sleep(timeout).await;
                    None
                });
                let item = match data.await {
                    Some(Some(Ok(chunk))) => {
                        let _ = stream.flow_control().release_capacity(chunk.len());
                        Ok(chunk)
                    }
                    Some(None) => {
                        *finished = true;
                        return None;
                    }
                    Some(Some(Err(error))) => Err(BodyError(format!("request body stream failed: {error}"))),
                    None => {
                        stats.body_timeouts.set(stats.body_timeouts.get() + 1);
                        Err(BodyError(format!("no request body data for {} ms", timeout.as_millis())))
                    }
                };
                *finished = item.is_err();
                Some(item)
            }
        }
    }
}

/// The application side of the server. One instance per executor, shared by its connections.
pub trait Handler: 'static {
    /// Answers one complete request (headers and whole body already read and bounded).
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture;

    /// Whether this request's body should be streamed to [`Handler::handle_streamed`] rather
    /// than read whole (and bounded by the body size limit) for [`Handler::handle`]. Asked once
    /// the head is read, before any of the body.
    fn wants_streamed_body(&self, _request: &http::request::Parts) -> bool {
        false
    }

    /// A final answer given before any of the body is read (e.g. a 403 for a client identity
    /// that may not use the path); `None` (the default) lets the request go on. Asked once
    /// the head is read. HTTP/1.1 asks only for requests that announced their body with
    /// `Expect: 100-continue`: then no `100 Continue` is sent and the connection closes after
    /// the answer. HTTP/2 asks for every request: the answer is followed by
    /// RST_STREAM(NO_ERROR), which stops the upload, and the connection's other streams go on.
    fn refuse_before_body(&self, _request: &http::request::Parts, _peer: &PeerInfo) -> Option<http::Response<Bytes>> {
        None
    }

    /// Answers a request whose body arrives while this runs (see [`RequestBody`]). Only
    /// called for requests [`Handler::wants_streamed_body`] accepted. An answer given before
    /// the whole body was taken closes the connection (HTTP/1.1) or resets the stream with
    /// NO_ERROR (HTTP/2) afterwards.
    fn handle_streamed(self: Rc<Self>, _request: http::Request<RequestBody>) -> ResponseFuture {
        Box::pin(async {
            let mut response = http::Response::new(Bytes::from_static(b"this handler does not take streamed request bodies\n"));
            *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            response
        })
    }
}
