//! The HTTP/1.1 connection loop: read a head (header timeout, size limit), read the body
//! (body timeout, size limit), call the handler, write the response; keep-alive and
//! pipelining; protocol errors are answered and the connection closed. A request whose body
//! the handler wants streamed is answered while its body is pumped into a small channel
//! (per-read inactivity timeout, no size limit).

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::body::ChunkedDecoder;
use super::parse::{check_body_limit, parse_head, BodyFraming, Head};
use super::write::{error_response, serialize_response};
use super::ProtocolError;
use crate::listener::{ConnectionStats, ServerLimits};
use crate::{BodyError, Handler, PeerInfo, RequestBody};

/// Bytes read from the socket at a time.
pub const READ_CHUNK_BYTES: usize = 16 * 1024;
/// After an error response, unread request bytes are drained for at most this long so the
/// client sees the response instead of a reset.
pub const ERROR_LINGER_MS: u64 = 500;
/// ... and at most this many bytes. Clients that send the whole body before reading the
/// answer (many do) see a reset unless the rest of their body is read: a body refused
/// early for its encoding or type can be a large import, so this is well above the few
/// hundred KiB a small request could leave unread.
pub const ERROR_LINGER_BYTES_MAX: usize = 64 << 20;
/// Chunks (of up to `READ_CHUNK_BYTES` each) read ahead of a handler taking a streamed body.
pub const STREAMED_BODY_CHUNKS_IN_FLIGHT: usize = 4;

/// What a connection task needs; shared by the connections of one listener.
pub struct ConnectionContext {
    pub handler: Rc<dyn Handler>,
    pub limits: ServerLimits,
    pub stats: std::sync::Arc<ConnectionStats>,
    pub shutdown: async_channel::Receiver<()>,
}

enum ReadOutcome {
    Data,
    Eof,
    TimedOut,
    Shutdown,
}

/// Reads once into `buf`, racing the deadline (and shutdown, when idle).
async fn read_some<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
    shutdown: Option<&async_channel::Receiver<()>>,
) -> ReadOutcome {
    let mut chunk = [0u8; READ_CHUNK_BYTES];
    let read = async {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => (ReadOutcome::Eof, 0),
            Ok(n) => (ReadOutcome::Data, n),
        }
    };
    let timer = async {
        glommio::timer::sleep(deadline.saturating_duration_since(Instant::now())).await;
        (ReadOutcome::TimedOut, 0)
    };
    let shut = async {
        match shutdown {
            Some(rx) => {
                let _ = rx.recv().await;
                (ReadOutcome::Shutdown, 0)
            }
            None => future::pending().await,
        }
    };
    let (outcome, n) = future::or(read, future::or(shut, timer)).await;
    buf.extend_from_slice(&chunk[..n]);
    outcome
}

/// Reads the next request head. `Ok(None)`: close quietly (EOF, idle timeout, shutdown).
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    ctx: &ConnectionContext,
    first_request: bool,
) -> Result<Option<Head>, ProtocolError> {
    let limits = &ctx.limits;
    let waiting_since = Instant::now();
    let mut first_byte_at = (!buf.is_empty()).then(Instant::now);
    loop {
        if !buf.is_empty() {
            // The body limit is checked once the handler said whether it streams the body.
            if let Some(head) = parse_head(buf, u64::MAX)? {
                // A head that completed within one large read can still be over the limit.
                if head.head_len > limits.head_bytes_max {
                    return Err(ProtocolError::new(431, format!("request head exceeds {} bytes", limits.head_bytes_max)));
                }
                return Ok(Some(head));
            }
            if buf.len() > limits.head_bytes_max {
                return Err(ProtocolError::new(431, format!("request head exceeds {} bytes", limits.head_bytes_max)));
            }
        }
        let deadline = match first_byte_at {
            Some(t) => t + Duration::from_millis(limits.header_read_timeout_ms),
            None if first_request => waiting_since + Duration::from_millis(limits.header_read_timeout_ms),
            None => waiting_since + Duration::from_millis(limits.idle_timeout_ms),
        };
        let idle = buf.is_empty();
        match read_some(stream, buf, deadline, idle.then_some(&ctx.shutdown)).await {
            ReadOutcome::Data => {
                first_byte_at.get_or_insert_with(Instant::now);
            }
            ReadOutcome::Eof | ReadOutcome::Shutdown => return Ok(None),
            ReadOutcome::TimedOut if idle => return Ok(None),
            ReadOutcome::TimedOut => {
                ctx.stats.header_timeouts.set(ctx.stats.header_timeouts.get() + 1);
                return Err(ProtocolError::new(408, "request head not received in time"));
            }
        }
    }
}

/// Reads the body described by `framing`, leaving any following bytes in `buf`.
async fn read_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    framing: BodyFraming,
    ctx: &ConnectionContext,
) -> Result<Vec<u8>, ProtocolError> {
    let deadline = Instant::now() + Duration::from_millis(ctx.limits.body_read_timeout_ms);
    let timed_out = |ctx: &ConnectionContext| {
        ctx.stats.body_timeouts.set(ctx.stats.body_timeouts.get() + 1);
        ProtocolError::new(408, "request body not received in time")
    };
    match framing {
        BodyFraming::None => Ok(Vec::new()),
        BodyFraming::ContentLength(length) => {
            let length = length as usize;
            while buf.len() < length {
                match read_some(stream, buf, deadline, None).await {
                    ReadOutcome::Data => {}
                    ReadOutcome::TimedOut => return Err(timed_out(ctx)),
                    ReadOutcome::Eof | ReadOutcome::Shutdown => {
                        return Err(ProtocolError::new(400, "connection closed before the whole body arrived"))
                    }
                }
            }
            let rest = buf.split_off(length);
            Ok(std::mem::replace(buf, rest))
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new(ctx.limits.body_bytes_max as u64);
            loop {
                let used = decoder.feed(buf)?;
                buf.drain(..used);
                if decoder.is_done() {
                    return Ok(decoder.body);
                }
                match read_some(stream, buf, deadline, None).await {
                    ReadOutcome::Data => {}
                    ReadOutcome::TimedOut => return Err(timed_out(ctx)),
                    ReadOutcome::Eof | ReadOutcome::Shutdown => {
                        return Err(ProtocolError::new(400, "connection closed before the whole chunked body arrived"))
                    }
                }
            }
        }
    }
}

/// Answers a protocol error, then drains briefly so the client can read the answer.
async fn fail<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, error: ProtocolError, ctx: &ConnectionContext) {
    ctx.stats.count_protocol_error(error.status);
    let bytes = serialize_response(&error_response(error.status, &error.message), false, true);
    if stream.write_all(&bytes).await.is_err() {
        return;
    }
    let _ = stream.flush().await;
    linger(stream).await;
}

/// Closes our side, then drains unread request bytes briefly so the client, still sending,
/// can read the answer instead of seeing a reset.
async fn linger<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + Duration::from_millis(ERROR_LINGER_MS);
    let mut sink = Vec::new();
    let mut drained = 0usize;
    while drained < ERROR_LINGER_BYTES_MAX {
        sink.clear();
        match read_some(stream, &mut sink, deadline, None).await {
            ReadOutcome::Data => drained += sink.len(),
            _ => break,
        }
    }
}

/// Returns once the client has closed the connection (EOF or an error). Bytes it sends
/// meanwhile (a pipelined request) are kept in `buf` for the next request, up to `keep_max`;
/// past that, reading stops until the response is sent.
async fn wait_until_client_gone<S: AsyncRead + Unpin>(stream: &mut S, buf: &mut Vec<u8>, keep_max: usize) {
    let mut chunk = [0u8; 4096];
    while buf.len() < keep_max {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    std::future::pending::<()>().await
}

/// Sends a streamed body chunked, flushing each chunk. False when the connection must close:
/// the client went away, or the producer failed (then the final chunk is withheld, so the
/// client sees an incomplete response rather than a complete-looking partial one).
async fn send_streamed<S: AsyncWrite + Unpin>(
    stream: &mut S,
    response: &http::Response<Bytes>,
    body: crate::BodyStream,
    head_only: bool,
    close: bool,
) -> bool {
    let head = crate::http1::write::serialize_chunked_head(response, close);
    if stream.write_all(&head).await.is_err() {
        return false;
    }
    if head_only {
        return stream.flush().await.is_ok();
    }
    while let Ok(item) = body.0.recv().await {
        match item {
            Ok(chunk) if chunk.is_empty() => {}
            Ok(chunk) => {
                let frame = crate::http1::write::chunk_frame(&chunk);
                if stream.write_all(&frame).await.is_err() || stream.flush().await.is_err() {
                    return false;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "streamed response failed midway; closing the connection");
                return false;
            }
        }
    }
    stream.write_all(crate::http1::write::LAST_CHUNK).await.is_ok() && stream.flush().await.is_ok()
}

/// How pumping a streamed request body ended.
enum PumpOutcome {
    /// The whole body was read and handed over; the connection may carry another request.
    Complete,
    /// Reading failed (client gone, bad framing, timeout); the handler was sent an `Err`.
    Failed,
    /// The handler dropped the body before its end.
    Abandoned,
}

/// Reads the body described by `framing` (no size limit; each read waits at most the body
/// read timeout) and sends it to the handler chunk by chunk, waiting while the channel is
/// full. Bytes after the body (a pipelined request) stay in `buf`.
async fn pump_body<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    framing: BodyFraming,
    ctx: &ConnectionContext,
    chunks: async_channel::Sender<Result<Bytes, BodyError>>,
) -> PumpOutcome {
    let failed = |message: String| {
        let chunks = chunks.clone();
        async move {
            let _ = chunks.send(Err(BodyError(message))).await;
            PumpOutcome::Failed
        }
    };
    let mut decoder = (framing == BodyFraming::Chunked).then(|| ChunkedDecoder::new(u64::MAX));
    let mut remaining = match framing {
        BodyFraming::ContentLength(length) => length,
        BodyFraming::None | BodyFraming::Chunked => 0,
    };
    loop {
        // Hand over what the buffer holds of the body.
        let (chunk, done) = match decoder.as_mut() {
            Some(decoder) => match decoder.feed(buf) {
                Ok(used) => {
                    buf.drain(..used);
                    (Bytes::from(std::mem::take(&mut decoder.body)), decoder.is_done())
                }
                Err(error) => return failed(format!("invalid chunked request body: {}", error.message)).await,
            },
            None => {
                let take = remaining.min(buf.len() as u64) as usize;
                remaining -= take as u64;
                let chunk = Bytes::copy_from_slice(&buf[..take]);
                buf.drain(..take);
                (chunk, remaining == 0)
            }
        };
        if !chunk.is_empty() && chunks.send(Ok(chunk)).await.is_err() {
            return PumpOutcome::Abandoned;
        }
        if done {
            return PumpOutcome::Complete;
        }
        // An inactivity limit, not a whole-body deadline: a long upload that keeps sending is fine.
        let deadline = Instant::now() + Duration::from_millis(ctx.limits.body_read_timeout_ms);
        match read_some(stream, buf, deadline, None).await {
            ReadOutcome::Data => {}
            ReadOutcome::TimedOut => {
                ctx.stats.body_timeouts.set(ctx.stats.body_timeouts.get() + 1);
                let message = format!("no request body data for {} ms", ctx.limits.body_read_timeout_ms);
                return failed(message).await;
            }
            ReadOutcome::Eof | ReadOutcome::Shutdown => {
                return failed("connection closed before the whole body arrived".to_string()).await
            }
        }
    }
}

/// Serves one request whose body the handler takes as it arrives: the body is pumped while
/// the handler runs. True when the connection may carry another request: the whole body was
/// read and the answer sent on a keep-alive connection. An answer given before the body's end
/// (or after it failed) is sent, then the connection is closed.
async fn serve_streamed<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    head: Head,
    peer: SocketAddr,
    identity: Option<crate::tls::ClientIdentity>,
    ctx: &ConnectionContext,
) -> bool {
    let (framing, keep_alive) = (head.framing, head.keep_alive);
    let head_only = head.request.method == http::Method::HEAD;
    let (chunks, body) = RequestBody::channel(STREAMED_BODY_CHUNKS_IN_FLIGHT);
    let mut request = http::Request::from_parts(head.request, body);
    request.extensions_mut().insert(PeerInfo { addr: peer, identity });
    ctx.stats.requests.set(ctx.stats.requests.get() + 1);
    let mut handling = ctx.handler.clone().handle_streamed(request);
    let pumped = future::or(async { Err(pump_body(stream, buf, framing, ctx, chunks).await) }, async {
        Ok((&mut handling).await)
    })
    .await;
    let (response, body_complete) = match pumped {
        Ok(response) => (response, false),
        // The handler was sent the failure: let it answer (the client may still be there).
        Err(PumpOutcome::Failed) => (handling.await, false),
        Err(outcome) => {
            // As for whole bodies: a client that closes the connection has given up.
            let watched = async { Some((&mut handling).await) };
            let gone = async {
                wait_until_client_gone(stream, buf, ctx.limits.head_bytes_max).await;
                None
            };
            let Some(response) = future::or(watched, gone).await else {
                ctx.stats.abandoned.set(ctx.stats.abandoned.get() + 1);
                return false;
            };
            (response, matches!(outcome, PumpOutcome::Complete))
        }
    };
    let close = !body_complete || !keep_alive || ctx.shutdown.is_closed();
    let sent = send_response(stream, response, head_only, close).await;
    if !body_complete {
        linger(stream).await;
        return false;
    }
    if !sent || close {
        let _ = stream.shutdown().await;
        return false;
    }
    true
}

/// Writes a response (a streamed body chunked); false when the connection must close.
async fn send_response<S: AsyncWrite + Unpin>(stream: &mut S, mut response: http::Response<Bytes>, head_only: bool, close: bool) -> bool {
    if let Some(body) = response.extensions_mut().remove::<crate::BodyStream>() {
        return send_streamed(stream, &response, body, head_only, close).await;
    }
    let bytes = serialize_response(&response, head_only, close);
    stream.write_all(&bytes).await.is_ok() && stream.flush().await.is_ok()
}

/// Serves requests on one connection until it closes, times out, errs or shutdown ends it.
pub async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    identity: Option<crate::tls::ClientIdentity>,
    initial: Vec<u8>,
    ctx: Rc<ConnectionContext>,
) {
    // Bytes already read while sniffing the protocol come first.
    let mut buf: Vec<u8> = initial;
    buf.reserve(READ_CHUNK_BYTES);
    let mut first_request = true;
    loop {
        let head = match read_head(&mut stream, &mut buf, &ctx, first_request).await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(error) => return fail(&mut stream, error, &ctx).await,
        };
        first_request = false;
        buf.drain(..head.head_len);
        let streamed = ctx.handler.wants_streamed_body(&head.request);
        if !streamed {
            if let Err(error) = check_body_limit(head.framing, ctx.limits.body_bytes_max as u64) {
                return fail(&mut stream, error, &ctx).await;
            }
        }
        if head.expect_continue {
            // The client waits for our word before sending the body: a refusal now saves it
            // the upload (the body is never read, so the connection closes).
            let info = PeerInfo { addr: peer, identity: identity.clone() };
            if let Some(response) = ctx.handler.refuse_before_body(&head.request, &info) {
                ctx.stats.requests.set(ctx.stats.requests.get() + 1);
                let head_only = head.request.method == http::Method::HEAD;
                let _ = send_response(&mut stream, response, head_only, true).await;
                let _ = stream.shutdown().await;
                return;
            }
            // Flushed: over TLS the interim response would otherwise sit in the session
            // buffer while the client waits for it before sending the body.
            if stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() || stream.flush().await.is_err() {
                return;
            }
        }
        if streamed {
            if !serve_streamed(&mut stream, &mut buf, head, peer, identity.clone(), &ctx).await {
                return;
            }
            continue;
        }
        let body = match read_body(&mut stream, &mut buf, head.framing, &ctx).await {
            Ok(body) => body,
            Err(error) => return fail(&mut stream, error, &ctx).await,
        };
        let head_only = head.request.method == http::Method::HEAD;
        let mut request = http::Request::from_parts(head.request, Bytes::from(body));
        request.extensions_mut().insert(PeerInfo { addr: peer, identity: identity.clone() });
        ctx.stats.requests.set(ctx.stats.requests.get() + 1);
        // While the handler runs, watch the connection: a client that closes it has given up,
        // and dropping the handler's future cancels its work (e.g. a long query).
        let handling = ctx.handler.clone().handle(request);
        let watched = async { Some(handling.await) };
        let gone = async {
            wait_until_client_gone(&mut stream, &mut buf, ctx.limits.head_bytes_max).await;
            None
        };
        let Some(response) = future::or(watched, gone).await else {
            ctx.stats.abandoned.set(ctx.stats.abandoned.get() + 1);
            return;
        };
        let close = !head.keep_alive || ctx.shutdown.is_closed();
        if !send_response(&mut stream, response, head_only, close).await || close {
            let _ = stream.shutdown().await;
            return;
        }
    }
}
