//! Response serialization: status line, the handler's headers, our framing headers, and
//! the body, in one buffer so it leaves in one write (DESIGN §9 pitfall 6).

use bytes::Bytes;

/// Status line and the handler's headers (framing headers are ours, so theirs are dropped).
fn push_status_and_headers(out: &mut Vec<u8>, response: &http::Response<Bytes>) {
    let status = response.status();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Unknown").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        if name == http::header::CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING || name == http::header::CONNECTION {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Serializes `response`. `head_only` for HEAD requests; `close` adds `connection: close`.
pub fn serialize_response(response: &http::Response<Bytes>, head_only: bool, close: bool) -> Vec<u8> {
    let status = response.status();
    let body = response.body();
    let no_body = head_only || status.as_u16() == 204 || status.as_u16() == 304 || status.is_informational();
    let mut out = Vec::with_capacity(128 + if no_body { 0 } else { body.len() });
    push_status_and_headers(&mut out, response);
    if status.as_u16() != 204 && status.as_u16() != 304 && !status.is_informational() {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !no_body {
        out.extend_from_slice(body);
    }
    out
}

/// The head of a response whose body follows in chunks (`transfer-encoding: chunked`).
pub fn serialize_chunked_head(response: &http::Response<Bytes>, close: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    push_status_and_headers(&mut out, response);
    out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One chunk of a chunked body: size in hex, CRLF, data, CRLF. `data` must not be empty
/// (an empty chunk is the end of the body: `LAST_CHUNK`).
pub fn chunk_frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The end of a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A plain-text error response for protocol failures.
pub fn error_response(status: u16, message: &str) -> http::Response<Bytes> {
    let mut response = http::Response::new(Bytes::from(format!("{message}\n")));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
    response
        .headers_mut()
        .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_headers_are_ours() {
        let mut r = http::Response::new(Bytes::from_static(b"hi"));
        r.headers_mut().insert("content-length", http::HeaderValue::from_static("999"));
        let text = String::from_utf8(serialize_response(&r, false, true)).unwrap();
        assert_eq!(text, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi");
    }

    #[test]
    fn chunked_head_and_frames() {
        let mut r = http::Response::new(Bytes::new());
        r.headers_mut().insert("content-length", http::HeaderValue::from_static("5"));
        r.headers_mut().insert("content-type", http::HeaderValue::from_static("application/stream+json"));
        let head = String::from_utf8(serialize_chunked_head(&r, false)).unwrap();
        assert_eq!(head, "HTTP/1.1 200 OK\r\ncontent-type: application/stream+json\r\ntransfer-encoding: chunked\r\n\r\n");
        assert_eq!(chunk_frame(&[b'a'; 26]), [b"1a\r\n".as_slice(), &[b'a'; 26], b"\r\n"].concat());
        // What we frame, our own chunked decoder reads back.
        let mut wire = chunk_frame(b"hello ");
        wire.extend_from_slice(&chunk_frame(b"world"));
        wire.extend_from_slice(LAST_CHUNK);
        let mut decoder = crate::http1::body::ChunkedDecoder::new(u64::MAX);
        let used = decoder.feed(&wire).map_err(|e| format!("{e:?}"));
        assert_eq!(used, Ok(wire.len()));
        assert!(decoder.is_done());
        assert_eq!(decoder.body, b"hello world");
    }

    #[test]
    fn no_body_for_204_and_head() {
        let mut r = http::Response::new(Bytes::from_static(b"x"));
        *r.status_mut() = http::StatusCode::NO_CONTENT;
        assert_eq!(serialize_response(&r, false, false), b"HTTP/1.1 204 No Content\r\n\r\n");
        let r = http::Response::new(Bytes::from_static(b"abc"));
        assert_eq!(serialize_response(&r, true, false), b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n");
    }
}
