//! Reading one response off a connection: its head (interim responses skipped), the body
//! framed by Content-Length, chunked coding (trailers dropped) or the close, each bounded,
//! a `200` body fed to a streaming sink as it arrives, gzip undone (bounded again), and
//! whether the connection may be kept.

use std::io::Read;

use tokio::io::AsyncReadExt;

use super::conn::Conn;
use super::{ClientError, HttpClient, Response};

/// The most a response head (status line and header fields, interim responses each) may take.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;
/// The most header fields one response head may have.
const HEADERS_MAX: usize = 256;
/// The most a chunk-size line (with its extensions) may take.
const CHUNK_LINE_MAX: usize = 4096;
/// How much is asked of the socket per read.
const READ_SIZE: usize = 16 * 1024;

impl HttpClient {
    pub(super) async fn read_response<S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized>(&self, wire: &mut Wire<'_, S>, body_max: usize) -> Result<(Response, bool), ClientError> {
        self.phase.set("waiting for the response");
        let head = loop {
            let head = wire.head().await?;
            match head.status {
                101 => return Err(ClientError::Protocol("unexpected 101 Switching Protocols".into())),
                100..=199 => continue, // interim (100 Continue, 103 Early Hints): the final one follows
                _ => break head,
            }
        };
        self.phase.set("reading the response body");
        if head.status != 200 {
            wire.sink = None;
        }
        if wire.sink.is_some() {
            refuse_compressed_stream(&head.headers)?;
        }
        let framing = framing(&head)?;
        if let Framing::Length(length) = framing {
            if length > body_max as u64 {
                return Err(ClientError::BodyTooLarge { what: "response body", limit: body_max });
            }
        }
        let body = match framing {
            Framing::Empty => Vec::new(),
            Framing::Length(length) => {
                let mut body = wire.exact(length as usize).await?;
                wire.feed(&mut body)?;
                body
            }
            Framing::Chunked => wire.chunked(body_max).await?,
            Framing::UntilClose => wire.until_close(body_max).await?,
        };
        let closes = head.headers.get_all(http::header::CONNECTION).iter().any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))));
        // Bytes past the body mean the server and we disagree about framing: start afresh.
        let keep = head.http11 && !closes && framing != Framing::UntilClose && wire.buf.is_empty();
        let mut headers = head.headers;
        let body = decode(&mut headers, body, body_max)?;
        Ok((Response { status: head.status, headers, body }, keep))
    }
}

pub(super) struct Head {
    pub(super) status: u16,
    http11: bool,
    headers: http::HeaderMap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    UntilClose,
}

fn framing(head: &Head) -> Result<Framing, ClientError> {
    if head.status == 204 || head.status == 304 {
        return Ok(Framing::Empty);
    }
    let mut codings = Vec::new();
    for value in head.headers.get_all(http::header::TRANSFER_ENCODING) {
        let value = value.to_str().map_err(|_| ClientError::Protocol("Transfer-Encoding is not text".into()))?;
        codings.extend(value.split(',').map(|c| c.trim().to_ascii_lowercase()).filter(|c| !c.is_empty()));
    }
    if !codings.is_empty() {
        // Transfer-Encoding wins over Content-Length (RFC 9112 §6.3).
        return match codings.as_slice() {
            [only] if only == "chunked" => Ok(Framing::Chunked),
            _ => Err(ClientError::Protocol(format!("unsupported Transfer-Encoding {:?}", codings.join(", ")))),
        };
    }
    let mut length = None;
    for value in head.headers.get_all(http::header::CONTENT_LENGTH) {
        for part in value.to_str().unwrap_or("").split(',') {
            let part = part.trim();
            let parsed = if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) { part.parse::<u64>().ok() } else { None };
            let Some(parsed) = parsed else { return Err(ClientError::Protocol(format!("invalid Content-Length {:?}", String::from_utf8_lossy(value.as_bytes())))) };
            if length.is_some_and(|l| l != parsed) {
                return Err(ClientError::Protocol("conflicting Content-Length values".into()));
            }
            length = Some(parsed);
        }
    }
    Ok(match length {
        Some(0) => Framing::Empty,
        Some(length) => Framing::Length(length),
        None => Framing::UntilClose,
    })
}

/// A body to be streamed to a sink must come as it is: any `Content-Encoding` but identity
/// is an error.
pub(super) fn refuse_compressed_stream(headers: &http::HeaderMap) -> Result<(), ClientError> {
    if headers.get_all(http::header::CONTENT_ENCODING).iter().any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity")) {
        return Err(ClientError::Encoding("a streamed body must not be compressed (the request asks for identity)".into()));
    }
    Ok(())
}

/// Undoes the `Content-Encoding` (gzip, or none), bounding the result by `body_max`.
pub(super) fn decode(headers: &mut http::HeaderMap, body: Vec<u8>, body_max: usize) -> Result<Vec<u8>, ClientError> {
    let mut gzip_layers = 0;
    for value in headers.get_all(http::header::CONTENT_ENCODING) {
        let value = value.to_str().map_err(|_| ClientError::Encoding("Content-Encoding is not text".into()))?;
        for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip_layers += 1;
            } else if !coding.eq_ignore_ascii_case("identity") {
                return Err(ClientError::Encoding(format!("unsupported Content-Encoding {coding:?} (only gzip is accepted)")));
            }
        }
    }
    if gzip_layers == 0 {
        return Ok(body);
    }
    if gzip_layers > 1 {
        return Err(ClientError::Encoding("unsupported Content-Encoding: gzip applied more than once".into()));
    }
    headers.remove(http::header::CONTENT_ENCODING);
    headers.remove(http::header::CONTENT_LENGTH);
    if body.is_empty() {
        return Ok(body);
    }
    let mut decoded = Vec::new();
    flate2::read::MultiGzDecoder::new(body.as_slice())
        .take(body_max as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|e| ClientError::Encoding(format!("invalid gzip body: {e}")))?;
    if decoded.len() > body_max {
        return Err(ClientError::BodyTooLarge { what: "decompressed response body", limit: body_max });
    }
    Ok(decoded)
}

/// The function a `Wire`'s sink is (named for a `Wire` built without one).
pub(super) type SinkFn<'a> = dyn FnMut(&mut Vec<u8>) -> Result<(), String> + 'a;

/// The read side of one response: bytes read but not yet taken are in `buf`.
pub(super) struct Wire<'a, S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized> {
    pub(super) conn: &'a mut Conn,
    pub(super) buf: Vec<u8>,
    /// Whether any byte of a response arrived (a failure before that may be retried).
    pub(super) received: bool,
    /// Takes a `200` body as it arrives (none: the body is read whole).
    pub(super) sink: Option<&'a mut S>,
}

impl<S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized> Wire<'_, S> {
    /// Gives the body read so far to the sink, if there is one.
    fn feed(&mut self, body: &mut Vec<u8>) -> Result<(), ClientError> {
        match self.sink.as_mut() {
            Some(sink) => sink(body).map_err(ClientError::Stream),
            None => Ok(()),
        }
    }

    /// Reads more into `buf`; 0 at the end of the stream.
    async fn fill(&mut self, during: &'static str) -> Result<usize, ClientError> {
        self.buf.reserve(READ_SIZE);
        let n = self.conn.read_buf(&mut self.buf).await.map_err(|source| ClientError::Io { during, source })?;
        self.received |= n > 0;
        Ok(n)
    }

    /// One response head (interim or final), taken out of `buf`.
    pub(super) async fn head(&mut self) -> Result<Head, ClientError> {
        loop {
            if !self.buf.is_empty() {
                let mut fields = vec![httparse::EMPTY_HEADER; HEADERS_MAX];
                let mut response = httparse::Response::new(&mut fields);
                match response.parse(&self.buf) {
                    Ok(httparse::Status::Complete(used)) => {
                        let status = response.code.unwrap_or(0);
                        let http11 = response.version == Some(1);
                        let mut headers = http::HeaderMap::with_capacity(response.headers.len());
                        for field in response.headers.iter() {
                            let name = http::HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| ClientError::Protocol(format!("invalid header name {:?}", field.name)))?;
                            let value = http::HeaderValue::from_bytes(field.value).map_err(|_| ClientError::Protocol(format!("invalid value of header {:?}", field.name)))?;
                            headers.append(name, value);
                        }
                        self.buf.drain(..used);
                        return Ok(Head { status, http11, headers });
                    }
                    Ok(httparse::Status::Partial) => {}
                    Err(httparse::Error::TooManyHeaders) => return Err(ClientError::Protocol(format!("more than {HEADERS_MAX} header fields"))),
                    Err(error) => {
                        let start = String::from_utf8_lossy(&self.buf[..self.buf.len().min(40)]).into_owned();
                        return Err(ClientError::Protocol(format!("{error} (response starts with {start:?})")));
                    }
                }
                if self.buf.len() > HEAD_BYTES_MAX {
                    return Err(ClientError::Protocol(format!("response head larger than {} KiB", HEAD_BYTES_MAX / 1024)));
                }
            }
            if self.fill("reading the response head").await? == 0 {
                let message = if self.buf.is_empty() { "the server closed the connection without a response".to_string() } else { "the server closed the connection in the middle of the response head".to_string() };
                return Err(ClientError::Protocol(message));
            }
        }
    }

    /// Exactly `length` body bytes.
    async fn exact(&mut self, length: usize) -> Result<Vec<u8>, ClientError> {
        let mut body = Vec::with_capacity(length.min(1 << 20));
        self.take_into(&mut body, length).await?;
        Ok(body)
    }

    /// Moves exactly `n` bytes to `out`: those already in `buf`, then straight from the socket.
    async fn take_into(&mut self, out: &mut Vec<u8>, n: usize) -> Result<(), ClientError> {
        let from_buf = n.min(self.buf.len());
        out.extend_from_slice(&self.buf[..from_buf]);
        self.buf.drain(..from_buf);
        let mut left = n - from_buf;
        while left > 0 {
            out.reserve(left.min(READ_SIZE));
            let got = (&mut *self.conn).take(left as u64).read_buf(out).await.map_err(|source| ClientError::Io { during: "reading the response body", source })?;
            if got == 0 {
                return Err(ClientError::Protocol(format!("the server closed the connection {left} bytes before the end of the body")));
            }
            left -= got;
        }
        Ok(())
    }

    /// A line ending in LF (CR before it dropped), of at most `max` bytes, taken out of `buf`.
    async fn line(&mut self, max: usize, what: &str) -> Result<Vec<u8>, ClientError> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > max {
                return Err(ClientError::Protocol(format!("{what} longer than {max} bytes")));
            }
            if self.fill("reading the response body").await? == 0 {
                return Err(ClientError::Protocol(format!("the server closed the connection in the middle of the chunked body ({what})")));
            }
        }
    }

    /// A chunked body (extensions ignored, trailers read and dropped), at most `body_max` bytes.
    async fn chunked(&mut self, body_max: usize) -> Result<Vec<u8>, ClientError> {
        let mut body = Vec::new();
        loop {
            let line = self.line(CHUNK_LINE_MAX, "chunk-size line").await?;
            let size_end = line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(line.len());
            let rest = &line[size_end..];
            let rest_ok = rest.iter().find(|b| **b != b' ' && **b != b'\t').is_none_or(|b| *b == b';');
            if size_end == 0 || size_end > 16 || !rest_ok {
                return Err(ClientError::Protocol(format!("invalid chunk-size line {:?}", String::from_utf8_lossy(&line[..line.len().min(40)]))));
            }
            // At most 16 hex digits, all checked above: fits a u64.
            let size = u64::from_str_radix(&String::from_utf8_lossy(&line[..size_end]), 16).map_err(|e| ClientError::Protocol(format!("invalid chunk size: {e}")))?;
            if size == 0 {
                break;
            }
            if size > (body_max - body.len()) as u64 {
                return Err(ClientError::BodyTooLarge { what: "response body", limit: body_max });
            }
            self.take_into(&mut body, size as usize).await?;
            self.feed(&mut body)?;
            let end = self.line(2, "end of chunk").await?;
            if !end.is_empty() {
                return Err(ClientError::Protocol("chunk data longer than its chunk size".into()));
            }
        }
        let mut trailer_bytes = 0;
        loop {
            let line = self.line(HEAD_BYTES_MAX, "trailer field").await?;
            if line.is_empty() {
                return Ok(body);
            }
            trailer_bytes += line.len() + 2;
            if trailer_bytes > HEAD_BYTES_MAX {
                return Err(ClientError::Protocol(format!("trailer fields larger than {} KiB", HEAD_BYTES_MAX / 1024)));
            }
        }
    }

    /// The body up to the end of the stream, at most `body_max` bytes.
    async fn until_close(&mut self, body_max: usize) -> Result<Vec<u8>, ClientError> {
        let mut body = std::mem::take(&mut self.buf);
        loop {
            self.feed(&mut body)?;
            if body.len() > body_max {
                return Err(ClientError::BodyTooLarge { what: "response body", limit: body_max });
            }
            body.reserve(READ_SIZE);
            let read = (&mut *self.conn).take((body_max - body.len()) as u64 + 1).read_buf(&mut body).await;
            match read {
                Ok(0) => return Ok(body),
                Ok(_) => {}
                // TLS servers often close without close_notify; the body was delimited by the close anyway.
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(body),
                Err(source) => return Err(ClientError::Io { during: "reading the response body", source }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::mpsc;

    use super::super::test_support::{accept, client, read_request, run, serve_one, server, LIMIT, LONG};
    use super::*;

    #[test]
    fn a_streamed_body_reaches_the_sink_before_the_response_ends() {
        // The server sends one chunked line, then waits for the client to say it saw it
        // before sending the second line and the end: the sink must run in between.
        let (seen_tx, seen_rx) = mpsc::channel::<()>();
        let (port, handle) = server(move |listener| {
            let mut stream = accept(&listener);
            read_request(&mut stream).expect("request");
            stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n").expect("first");
            let waited = seen_rx.recv_timeout(LONG).is_ok();
            stream.write_all(b"8\r\nsecond\np\r\n0\r\n\r\n").expect("rest");
            waited
        });
        let lines = run(async move {
            let mut lines = Vec::new();
            let mut sink = |pending: &mut Vec<u8>| -> Result<(), String> {
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    lines.push(String::from_utf8_lossy(&line).trim_end().to_string());
                    let _ = seen_tx.send(());
                }
                Ok(())
            };
            let response = client(port).get_streamed("/watch", &[], LONG, 64, &mut sink).await.expect("streamed");
            assert_eq!(response.body, b"p", "what the sink left is the body");
            lines
        });
        assert_eq!(lines, vec!["first", "second"]);
        assert!(handle.join().expect("server"), "the sink saw the first line while the response was still open");
    }

    #[test]
    fn a_streamed_error_answer_is_read_whole_and_a_refusing_sink_ends_the_request() {
        let (port, _handle) = server(|listener| serve_one(listener, vec![b"HTTP/1.1 410 Gone\r\nContent-Length: 4\r\n\r\ngone".to_vec(), b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad".to_vec()]));
        run(async move {
            let mut client = client(port);
            let mut calls = 0;
            let mut sink = |_: &mut Vec<u8>| -> Result<(), String> {
                calls += 1;
                Err("not JSON".to_string())
            };
            let gone = client.get_streamed("/a", &[], LONG, 64, &mut sink).await.expect("410 read whole");
            assert_eq!((gone.status, gone.body.as_slice()), (410, &b"gone"[..]));
            let refused = client.get_streamed("/b", &[], LONG, 64, &mut sink).await;
            assert!(matches!(&refused, Err(ClientError::Stream(m)) if m == "not JSON"), "{refused:?}");
            assert_eq!(calls, 1, "the sink saw only the 200 body");
        });
    }

    #[test]
    fn content_length_body_after_an_interim_response() {
        let response = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello".to_vec();
        let (port, thread) = server(move |listener| serve_one(listener, vec![response]));
        let mut client = client(port);
        let response = run(client.get("/metrics?x=1", &[("X-Scrape".into(), "yes".into())], LONG, LIMIT)).expect("get");
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"hello");
        assert_eq!(response.headers.get("content-type").map(|v| v.as_bytes()), Some(&b"text/plain"[..]));
        assert!(client.has_idle_connection());
        let requests = thread.join().expect("server");
        let request = &requests[0];
        assert!(request.starts_with("GET /metrics?x=1 HTTP/1.1\r\n"), "{request}");
        assert!(request.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")), "{request}");
        assert!(request.contains("\r\nAccept-Encoding: gzip\r\n"), "{request}");
        assert!(request.contains("\r\nX-Scrape: yes\r\n"), "{request}");
        assert!(!request.to_ascii_lowercase().contains("connection:"), "{request}");
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec();
        let (port, thread) = server(move |listener| serve_one(listener, vec![response]));
        let mut client = client(port);
        let response = run(client.get("/metrics", &[], LONG, LIMIT)).expect("get");
        assert_eq!((response.status, response.body.as_slice()), (200, &b"hello, world"[..]));
        assert!(client.has_idle_connection());
        thread.join().expect("server");
    }

    #[test]
    fn gzip_bodies_are_decompressed_and_bounded() {
        let plain = "metric_total{a=\"b\"} 1\n".repeat(1000);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(plain.as_bytes()).expect("gzip");
        let gzipped = encoder.finish().expect("gzip");
        let mut gzip_response = format!("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", gzipped.len()).into_bytes();
        gzip_response.extend_from_slice(&gzipped);
        let brotli = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nxyz".to_vec();
        let (port, thread) = server(move |listener| {
            // The first response is kept alive; the decompressed-size error drops the connection.
            let kept = serve_one(listener.try_clone().expect("listener"), vec![gzip_response.clone(), gzip_response]).len();
            kept + serve_one(listener, vec![brotli]).len()
        });
        let mut client = client(port);
        run(async {
            let response = client.get("/metrics", &[], LONG, LIMIT).await.expect("get");
            assert_eq!(response.body, plain.as_bytes());
            assert!(response.headers.get("content-encoding").is_none());
            let limit = gzipped.len() + 100;
            match client.get("/metrics", &[], LONG, limit).await {
                Err(error @ ClientError::BodyTooLarge { what: "decompressed response body", .. }) => assert!(error.to_string().contains(&limit.to_string()), "{error}"),
                other => panic!("expected BodyTooLarge after decompression, got {other:?}"),
            }
            match client.get("/metrics", &[], LONG, LIMIT).await {
                Err(error @ ClientError::Encoding(_)) => assert!(error.to_string().contains("\"br\""), "{error}"),
                other => panic!("expected an Encoding error, got {other:?}"),
            }
        });
        assert_eq!(thread.join().expect("server"), 3);
    }

    #[test]
    fn error_statuses_are_responses() {
        let response = b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 9\r\n\r\nnot found".to_vec();
        let (port, thread) = server(move |listener| serve_one(listener, vec![response]));
        let mut client = client(port);
        let response = run(client.get("/metrics", &[], LONG, LIMIT)).expect("get");
        assert_eq!((response.status, response.body.as_slice()), (404, &b"not found"[..]));
        assert!(!client.has_idle_connection(), "Connection: close is honoured");
        thread.join().expect("server");
    }

    #[test]
    fn bodies_over_the_limit_are_errors() {
        let length = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".iter().chain([b'x'; 100].iter()).copied().collect::<Vec<u8>>();
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n".to_vec();
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n123456789012345".to_vec();
        let (port, thread) = server(move |listener| {
            for response in [length, chunked, close] {
                let mut stream = accept(&listener);
                read_request(&mut stream).expect("request");
                let _ = stream.write_all(&response);
            }
        });
        let mut client = client(port);
        run(async {
            for framing in ["Content-Length", "chunked", "close-delimited"] {
                match client.get("/metrics", &[], LONG, 10).await {
                    Err(error @ ClientError::BodyTooLarge { what: "response body", limit: 10 }) => assert_eq!(error.to_string(), "response body exceeds the limit of 10 bytes"),
                    other => panic!("{framing}: expected BodyTooLarge, got {other:?}"),
                }
                assert!(!client.has_idle_connection());
            }
        });
        thread.join().expect("server");
    }

    #[test]
    fn malformed_responses_are_protocol_errors() {
        let (port, thread) = server(|listener| {
            for response in [&b"SSH-2.0-OpenSSH\r\n\r\n"[..], b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"] {
                let mut stream = accept(&listener);
                read_request(&mut stream).expect("request");
                let _ = stream.write_all(response);
            }
        });
        let mut client = client(port);
        run(async {
            for _ in 0..3 {
                let result = client.get("/metrics", &[], LONG, LIMIT).await;
                assert!(matches!(result, Err(ClientError::Protocol(_))), "{result:?}");
            }
        });
        thread.join().expect("server");
    }
}
