//! HTTP/2 to a target whose TLS handshake chose `h2` by ALPN (offered with
//! [`with_http2`](super::with_http2), as Prometheus' `enable_http2` offers it): the handshake
//! over the connection, its frames driven by a task of this executor, and one request on a
//! stream of it, the answer's body bounded and gzip undone as over HTTP/1.1. The connection
//! is kept for the next request.

use bytes::Bytes;
use h2::client::SendRequest;

use super::conn::Conn;
use super::response::{decode, refuse_compressed_stream};
use super::{ClientError, Response};

/// What one request sends.
pub(super) struct RequestParts<'a> {
    pub method: &'a str,
    pub path_and_query: &'a str,
    /// `:authority` (the `Host` header's value).
    pub authority: &'a str,
    /// Header fields as given (connection-specific ones are left out, `Host` becomes the
    /// authority).
    pub headers: &'a [(String, String)],
    pub body: Option<&'a [u8]>,
}

/// Header fields HTTP/2 forbids (RFC 9113 §8.2.2) or carries otherwise (`Host`).
const NOT_SENT: [&str; 6] = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host"];

/// The receive window of a stream and of the connection: a scrape of megabytes must not
/// wait a round trip per 64 KiB (HTTP/2's default), so as Go's client, 4 MiB.
const RECEIVE_WINDOW_BYTES: u32 = 4 << 20;

/// The HTTP/2 handshake on `conn`; its frames are then driven by a task of this executor
/// until the connection ends (the returned handle and every stream dropped, or an error).
/// An answer's header block is bounded as an HTTP/1.1 head is (`HEAD_BYTES_MAX`).
pub(super) async fn handshake(conn: Conn) -> Result<SendRequest<Bytes>, ClientError> {
    let (send, connection) = h2::client::Builder::new()
        .initial_window_size(RECEIVE_WINDOW_BYTES)
        .initial_connection_window_size(RECEIVE_WINDOW_BYTES)
        .max_header_list_size(super::HEAD_BYTES_MAX as u32)
        .handshake(conn)
        .await
        .map_err(|e| ClientError::Protocol(format!("HTTP/2 handshake: {e}")))?;
    glommio::spawn_local(async move {
        if let Err(error) = connection.await {
            tracing::debug!(%error, "HTTP/2 client connection ended");
        }
    })
    .detach();
    Ok(send)
}

/// One request on `send`'s connection and its whole answer (a `200` body handed to `sink` as
/// it arrives, when given; `body_max` then bounds what waits for it). An error says whether
/// the connection had taken the request (if not, it was gone: a fresh one may be tried).
pub(super) async fn request(
    send: &mut SendRequest<Bytes>,
    parts: &RequestParts<'_>,
    body_max: usize,
    mut sink: Option<&mut super::response::SinkFn<'_>>,
) -> Result<Response, (ClientError, bool)> {
    let not_taken = |e: h2::Error| (ClientError::Protocol(format!("HTTP/2: {e}")), false);
    let taken = |e: h2::Error| (ClientError::Protocol(format!("HTTP/2: {e}")), true);
    let request = build(parts).map_err(|e| (e, false))?;
    let mut ready = send.clone().ready().await.map_err(not_taken)?;
    let (answer, mut stream) = ready.send_request(request, parts.body.is_none()).map_err(not_taken)?;
    if let Some(body) = parts.body {
        stream.send_data(Bytes::copy_from_slice(body), true).map_err(taken)?;
    }
    // No answer because the connection broke or was going away (or the stream was refused):
    // nothing was processed, so a fresh connection may be tried, as over HTTP/1.1 when no
    // byte of a response came.
    let answer = answer.await.map_err(|e| {
        let unanswered = e.is_io() || e.is_go_away() || e.reason() == Some(h2::Reason::REFUSED_STREAM);
        (ClientError::Protocol(format!("HTTP/2: {e}")), !unanswered)
    })?;
    let (head, mut body) = answer.into_parts();
    let status = head.status.as_u16();
    let mut headers = head.headers;
    if status != 200 {
        sink = None;
    }
    if sink.is_some() {
        refuse_compressed_stream(&headers).map_err(|e| (e, true))?;
    }
    let declared = headers.get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > body_max as u64) {
        return Err((ClientError::BodyTooLarge { what: "response body", limit: body_max }, true));
    }
    let mut received = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(taken)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if received.len() + chunk.len() > body_max {
            return Err((ClientError::BodyTooLarge { what: "response body", limit: body_max }, true));
        }
        received.extend_from_slice(&chunk);
        if let Some(sink) = sink.as_mut() {
            sink(&mut received).map_err(|e| (ClientError::Stream(e), true))?;
        }
    }
    let received = decode(&mut headers, received, body_max).map_err(|e| (e, true))?;
    Ok(Response { status, headers, body: received })
}

/// The `http::Request` of `parts` (header names checked; `HeaderName` keeps them in the lower
/// case HTTP/2 wants).
fn build(parts: &RequestParts<'_>) -> Result<http::Request<()>, ClientError> {
    let authority = parts.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("host")).map_or(parts.authority, |(_, v)| v.as_str());
    let uri = format!("https://{authority}{}", parts.path_and_query);
    let mut request = http::Request::builder().method(parts.method).uri(uri);
    let ours = |name: &str| parts.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !ours("accept-encoding") {
        request = request.header(http::header::ACCEPT_ENCODING, "gzip");
    }
    if let Some(body) = parts.body {
        request = request.header(http::header::CONTENT_LENGTH, body.len());
    }
    for (name, value) in parts.headers {
        if NOT_SENT.iter().any(|n| name.eq_ignore_ascii_case(n)) {
            continue;
        }
        let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| ClientError::InvalidRequest(format!("header {name:?} has an invalid name")))?;
        let value = http::HeaderValue::from_str(value).map_err(|_| ClientError::InvalidRequest(format!("header {name:?} has an invalid value")))?;
        request = request.header(name, value);
    }
    request.body(()).map_err(|e| ClientError::InvalidRequest(e.to_string()))
}
