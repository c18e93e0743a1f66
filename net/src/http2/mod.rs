//! HTTP/2 with the `h2` crate: prior-knowledge h2c on plaintext ports (detected by the
//! connection preface) and ALPN `h2` on TLS, each stream served by the same `Handler` as
//! HTTP/1.1.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_lite::future;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::http1::parse::{check_body_limit, BodyFraming};
use crate::http1::server::ConnectionContext;
use crate::http1::write::error_response;
use crate::tls::ClientIdentity;
use crate::{PeerInfo, RequestBody, ResponseFuture};

/// The client connection preface every HTTP/2 connection starts with.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Default bound on concurrent streams per connection.
pub const CONCURRENT_STREAMS_MAX: u32 = 100;

/// Serves one HTTP/2 connection until the client closes it, it idles out or shutdown.
pub async fn serve_h2<S: AsyncRead + AsyncWrite + Unpin + 'static>(io: S, peer: SocketAddr, identity: Option<ClientIdentity>, ctx: Rc<ConnectionContext>) {
    let mut builder = h2::server::Builder::new();
    builder
        .max_concurrent_streams(ctx.limits.h2_concurrent_streams_max)
        .initial_window_size(1 << 20)
        .initial_connection_window_size(4 << 20)
        .max_header_list_size(ctx.limits.head_bytes_max as u32);
    let handshake_timeout = Duration::from_millis(ctx.limits.header_read_timeout_ms);
    let handshake = future::or(async { Some(builder.handshake::<_, Bytes>(io).await) }, async {
        glommio::timer::sleep(handshake_timeout).await;
        None
    });
    let mut connection = match handshake.await {
        Some(Ok(c)) => c,
        Some(Err(error)) => {
            tracing::debug!(%peer, %error, "HTTP/2 handshake failed");
            return;
        }
        None => return,
    };
    let idle = Duration::from_millis(ctx.limits.idle_timeout_ms);
    loop {
        let next = future::or(async { connection.accept().await.map(Some) }, async {
            future::or(
                async {
                    glommio::timer::sleep(idle).await;
                },
                async {
                    let _ = ctx.shutdown.recv().await;
                },
            )
            .await;
            Some(None)
        })
        .await;
        match next {
            Some(Some(Ok((request, respond)))) => {
                let ctx = ctx.clone();
                let identity = identity.clone();
                glommio::spawn_local(async move { serve_stream(request, respond, peer, identity, ctx).await }).detach();
            }
            Some(Some(Err(error))) => {
                tracing::debug!(%peer, %error, "HTTP/2 connection error");
                return;
            }
            // Idle or shutting down: let streams in flight finish, then close.
            Some(None) => {
                connection.graceful_shutdown();
                while let Some(Ok((_, mut respond))) = connection.accept().await {
                    respond.send_reset(h2::Reason::REFUSED_STREAM);
                }
                return;
            }
            None => return,
        }
    }
}

/// Sends a streamed body as DATA frames, each only as large as the peer's flow-control
/// window allows, so a slow reader holds back the producer instead of filling our memory.
/// A producer error resets the stream (the client sees a failure, not a short success).
async fn send_streamed(mut send: h2::SendStream<Bytes>, stream: crate::BodyStream, peer: SocketAddr) {
    while let Ok(item) = stream.0.recv().await {
        let mut chunk = match item {
            Ok(chunk) => chunk,
            Err(error) => {
                tracing::warn!(%peer, %error, "streamed response failed midway; resetting the stream");
                send.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            }
        };
        while !chunk.is_empty() {
            send.reserve_capacity(chunk.len());
            // Capacity already granted is used at once; `poll_capacity` only wakes on a change.
            let mut granted = send.capacity();
            while granted == 0 {
                match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
                    Some(Ok(_)) => granted = send.capacity(),
                    // The stream was reset or the connection closed: the client is gone.
                    Some(Err(_)) | None => return,
                }
            }
            let part = chunk.split_to(granted.min(chunk.len()));
            if send.send_data(part, false).is_err() {
                return;
            }
        }
    }
    let _ = send.send_data(Bytes::new(), true);
}

/// Serves one stream. The request is first offered to `Handler::refuse_before_body`. The body
/// is read with flow-control capacity released as it arrives, bounded by the body limit, then
/// handed to the `Handler`; a body the handler wants streamed is handed over as the stream
/// itself (capacity released as the handler takes each chunk, no size limit). An answer given
/// before the body is done (refusal, 413, 408, a streamed handler's early answer) ends the
/// stream with RST_STREAM(NO_ERROR) so the client stops sending, and the connection stays open.
async fn serve_stream(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    peer: SocketAddr,
    identity: Option<ClientIdentity>,
    ctx: Rc<ConnectionContext>,
) {
    let (parts, mut body) = request.into_parts();
    let peer_info = PeerInfo { addr: peer, identity };
    // HTTP/2 needs no `Expect: 100-continue` to answer before the body (RFC 9113 §8.1), so
    // every request is asked. Once the answer is complete and the last handle on the stream
    // (`body` here) is dropped, h2 resets the stream with NO_ERROR (`maybe_cancel` in its
    // streams.rs): the client stops uploading, and the connection's other streams go on.
    if let Some(response) = ctx.handler.refuse_before_body(&parts, &peer_info) {
        ctx.stats.requests.set(ctx.stats.requests.get() + 1);
        send_answer(response, respond, peer).await;
        return;
    }
    let deadline = Duration::from_millis(ctx.limits.body_read_timeout_ms);
    if ctx.handler.wants_streamed_body(&parts) {
        let mut request = http::Request::from_parts(parts, RequestBody::from_h2(body, deadline, ctx.stats.clone()));
        request.extensions_mut().insert(peer_info);
        ctx.stats.requests.set(ctx.stats.requests.get() + 1);
        let handling = ctx.handler.clone().handle_streamed(request);
        if let Some(response) = answer_unless_reset(handling, &mut respond, &ctx).await {
            send_answer(response, respond, peer).await;
        }
        return;
    }
    let mut data = BytesMut::new();
    let body_max = ctx.limits.body_bytes_max;
    // h2 has checked the declared content-length (digits only) and resets a stream whose
    // DATA does not add up to it, so a declared length past the limit is answered at once by
    // HTTP/1.1's own check, without reading.
    let declared = parts.headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let read = async {
        if let Some(length) = declared {
            check_body_limit(BodyFraming::ContentLength(length), body_max as u64).map_err(|e| (e.status, e.message))?;
        }
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| (400, format!("body stream failed: {e}")))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            if data.len() + chunk.len() > body_max {
                return Err((413, format!("request body exceeds the limit of {body_max} bytes")));
            }
            data.extend_from_slice(&chunk);
        }
        Ok(())
    };
    let outcome = future::or(async { Some(read.await) }, async {
        glommio::timer::sleep(deadline).await;
        None
    })
    .await;
    let response = match outcome {
        Some(Ok(())) => {
            let mut request = http::Request::from_parts(parts, data.freeze());
            request.extensions_mut().insert(peer_info);
            ctx.stats.requests.set(ctx.stats.requests.get() + 1);
            // A client that resets the stream has given up: dropping the handler's future
            // cancels its work (e.g. a long query).
            let handling = ctx.handler.clone().handle(request);
            match answer_unless_reset(handling, &mut respond, &ctx).await {
                Some(response) => response,
                None => return,
            }
        }
        Some(Err((status, message))) => {
            ctx.stats.count_protocol_error(status);
            error_response(status, &message)
        }
        None => {
            ctx.stats.body_timeouts.set(ctx.stats.body_timeouts.get() + 1);
            ctx.stats.count_protocol_error(408);
            error_response(408, "request body not received in time")
        }
    };
    // An answer sent before the body ended (413, 408) is followed by RST_STREAM(NO_ERROR)
    // when `body` is dropped on return, as for a refusal above.
    send_answer(response, respond, peer).await;
}

/// The handler's answer, or `None` when the client reset the stream first: it has given up,
/// and dropping the handler's future cancels its work (e.g. a long query).
async fn answer_unless_reset(
    handling: ResponseFuture,
    respond: &mut h2::server::SendResponse<Bytes>,
    ctx: &ConnectionContext,
) -> Option<http::Response<Bytes>> {
    let reset = async {
        let _ = std::future::poll_fn(|cx| respond.poll_reset(cx)).await;
        None
    };
    let answer = future::or(async { Some(handling.await) }, reset).await;
    if answer.is_none() {
        ctx.stats.abandoned.set(ctx.stats.abandoned.get() + 1);
    }
    answer
}

/// Sends a response: head, then its body (streamed, or whole with any trailers).
async fn send_answer(response: http::Response<Bytes>, mut respond: h2::server::SendResponse<Bytes>, peer: SocketAddr) {
    let (mut parts, body) = response.into_parts();
    let trailers = parts.extensions.remove::<crate::Trailers>();
    if let Some(stream) = parts.extensions.remove::<crate::BodyStream>() {
        let mut head = http::Response::from_parts(parts, ());
        head.headers_mut().remove(http::header::CONNECTION);
        head.headers_mut().remove(http::header::TRANSFER_ENCODING);
        head.headers_mut().remove(http::header::CONTENT_LENGTH);
        match respond.send_response(head, false) {
            Ok(send) => send_streamed(send, stream, peer).await,
            Err(error) => tracing::debug!(%peer, %error, "HTTP/2 response not sent"),
        }
        return;
    }
    let mut head = http::Response::from_parts(parts, ());
    // Connection-specific headers are illegal in HTTP/2.
    head.headers_mut().remove(http::header::CONNECTION);
    head.headers_mut().remove(http::header::TRANSFER_ENCODING);
    let end_of_stream = body.is_empty() && trailers.is_none();
    match respond.send_response(head, end_of_stream) {
        Ok(mut send) if !end_of_stream => {
            if !body.is_empty() {
                let _ = send.send_data(body, trailers.is_none());
            }
            if let Some(crate::Trailers(map)) = trailers {
                let _ = send.send_trailers(map);
            }
        }
        Ok(_) => {}
        Err(error) => tracing::debug!(%peer, %error, "HTTP/2 response not sent"),
    }
}
