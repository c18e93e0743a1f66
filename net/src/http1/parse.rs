//! Request-head parsing with `httparse`: method, target, version, headers, and the framing
//! decisions (Content-Length vs chunked, keep-alive, `Expect: 100-continue`) with limits.

use super::ProtocolError;

/// Most headers in one request.
pub const HEADERS_MAX: usize = 100;

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    ContentLength(u64),
    Chunked,
}

/// A parsed request head.
#[derive(Debug)]
pub struct Head {
    pub request: http::request::Parts,
    pub framing: BodyFraming,
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// Bytes of the buffer the head occupied.
    pub head_len: usize,
}

/// The request target as a URI. Bytes that `http::Uri` refuses but clients send unencoded
/// (`"`, `<`, `>` and UTF-8 in a query typed into curl or a browser: `up{job="api"}`,
/// `rate(x[5m]) > 0`) are percent-encoded first, as Go's and VictoriaMetrics' servers accept
/// them; query parameters and path segments are percent-decoded later, so the meaning is
/// unchanged. Anything still invalid is a 400 naming the target.
fn request_target(path: &str) -> Result<http::Uri, ProtocolError> {
    let invalid = || ProtocolError::new(400, format!("invalid request target {path:?}"));
    if let Ok(uri) = path.parse() {
        return Ok(uri);
    }
    let lenient = |b: u8| matches!(b, b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}') || b >= 0x80;
    if !path.bytes().any(lenient) {
        return Err(invalid());
    }
    let mut encoded = String::with_capacity(path.len() + 16);
    for b in path.bytes() {
        if lenient(b) {
            encoded.push_str(&format!("%{b:02X}"));
        } else {
            encoded.push(char::from(b));
        }
    }
    encoded.parse().map_err(|_| invalid())
}

/// Parses a head from the start of `buf`. `Ok(None)`: incomplete, read more (the caller
/// enforces the size limit on what it buffered). A Content-Length over `body_bytes_max` is a
/// 413 (`u64::MAX` leaves that to a later [`check_body_limit`]).
pub fn parse_head(buf: &[u8], body_bytes_max: u64) -> Result<Option<Head>, ProtocolError> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ProtocolError::new(431, format!("more than {HEADERS_MAX} header fields")))
        }
        Err(e) => return Err(ProtocolError::new(400, format!("malformed request: {e}"))),
    };
    let method = req.method.ok_or_else(|| ProtocolError::new(400, "missing method"))?;
    let path = req.path.ok_or_else(|| ProtocolError::new(400, "missing request target"))?;
    let minor = req.version.ok_or_else(|| ProtocolError::new(400, "missing HTTP version"))?;
    let method = http::Method::from_bytes(method.as_bytes()).map_err(|_| ProtocolError::new(400, "invalid method"))?;
    let uri = request_target(path)?;
    let version = if minor == 1 { http::Version::HTTP_11 } else { http::Version::HTTP_10 };

    let mut builder = http::Request::builder().method(method).uri(uri).version(version);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut expect_continue = false;
    let mut hosts = 0usize;
    for h in req.headers.iter() {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            if hosts > 1 {
                return Err(ProtocolError::new(400, "more than one Host header"));
            }
            if !h.value.iter().all(|b| is_host_byte(*b)) {
                return Err(ProtocolError::new(400, format!("malformed Host header {:?}", String::from_utf8_lossy(h.value))));
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).map_err(|_| ProtocolError::new(400, "invalid Content-Length"))?;
            let value = parse_content_length(text).ok_or_else(|| ProtocolError::new(400, format!("invalid Content-Length {text:?}")))?;
            if content_length.is_some_and(|previous| previous != value) {
                return Err(ProtocolError::new(400, "conflicting Content-Length headers"));
            }
            content_length = Some(value);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let text = std::str::from_utf8(h.value).map_err(|_| ProtocolError::new(400, "invalid Transfer-Encoding"))?;
            let last = text.rsplit(',').next().unwrap_or("").trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(ProtocolError::new(501, format!("unsupported Transfer-Encoding {text:?}")));
            }
            chunked = true;
        } else if name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|b| *b == b',') {
                let token = String::from_utf8_lossy(token);
                let token = token.trim();
                connection_close |= token.eq_ignore_ascii_case("close");
                connection_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if h.value.eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(ProtocolError::new(417, "only Expect: 100-continue is supported"));
            }
        }
        let header_name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ProtocolError::new(400, format!("invalid header name {name:?}")))?;
        let header_value = http::HeaderValue::from_bytes(h.value)
            .map_err(|_| ProtocolError::new(400, format!("invalid value for header {name}")))?;
        builder = builder.header(header_name, header_value);
    }
    if hosts == 0 && version == http::Version::HTTP_11 {
        return Err(ProtocolError::new(400, "missing required Host header (HTTP/1.1 requests must send one)"));
    }
    if chunked && content_length.is_some() {
        return Err(ProtocolError::new(400, "both Content-Length and Transfer-Encoding: chunked"));
    }
    let framing = match (chunked, content_length) {
        (true, _) => BodyFraming::Chunked,
        (false, Some(0)) | (false, None) => BodyFraming::None,
        (false, Some(n)) => BodyFraming::ContentLength(n),
    };
    check_body_limit(framing, body_bytes_max)?;
    let keep_alive = match version {
        http::Version::HTTP_11 => !connection_close,
        _ => connection_keep_alive && !connection_close,
    };
    let (request, ()) = builder.body(()).map_err(|e| ProtocolError::new(400, format!("invalid request: {e}")))?.into_parts();
    Ok(Some(Head { request, framing, keep_alive, expect_continue: expect_continue && framing != BodyFraming::None, head_len }))
}

/// Bytes a Host value may hold (RFC 3986's authority: unreserved, sub-delims, `:`, `%` and the
/// brackets of an IPv6 literal). An empty value is allowed (RFC 9112 section 3.2).
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%[]".contains(&b)
}

/// A declared Content-Length over `body_bytes_max` is refused (413) before any body is read.
/// The server checks this itself, after routing, since streamed bodies have no size limit.
pub fn check_body_limit(framing: BodyFraming, body_bytes_max: u64) -> Result<(), ProtocolError> {
    match framing {
        BodyFraming::ContentLength(n) if n > body_bytes_max => {
            Err(ProtocolError::new(413, format!("request body of {n} bytes exceeds the limit of {body_bytes_max} bytes")))
        }
        _ => Ok(()),
    }
}

/// Decimal digits only: `str::parse` also takes a leading `+`, which other parsers in front
/// of us may read differently (request smuggling).
fn parse_content_length(text: &str) -> Option<u64> {
    let digits = text.trim_matches(|c| c == ' ' || c == '\t');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<Option<Head>, ProtocolError> {
        parse_head(text.as_bytes(), 1 << 20)
    }

    #[test]
    fn unencoded_query_characters_are_accepted_with_their_meaning() {
        let target = |text: &str| parse(text).map(|h| h.expect("complete head").request.uri.to_string()).map_err(|e| e.status);
        // Already valid targets are kept as sent.
        assert_eq!(target("GET /api/v1/query?query=up%7Bjob%3D%22a%22%7D HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/api/v1/query?query=up%7Bjob%3D%22a%22%7D".into()));
        assert_eq!(target("GET /api/v1/query?query=a[5m] HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/api/v1/query?query=a[5m]".into()));
        // What curl -g or a browser sends for up{job="a"} > 0 and a UTF-8 value.
        assert_eq!(
            target("GET /api/v1/query?query=up{job=\"a\"}>0 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Ok("/api/v1/query?query=up%7Bjob=%22a%22%7D%3E0".into())
        );
        assert_eq!(target("GET /q?x=\u{fc}<1 HTTP/1.1\r\nHost: x\r\n\r\n"), Ok("/q?x=%C3%BC%3C1".into()));
        // Still not a request target: a 400 naming it.
        let err = parse("GET http://[::1/x\"y HTTP/1.1\r\nHost: x\r\n\r\n").unwrap_err();
        assert_eq!(err.status, 400);
        assert!(err.message.contains("invalid request target"), "{}", err.message);
    }

    #[test]
    fn framing_table() {
        let table: &[(&str, Result<BodyFraming, u16>)] = &[
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", Ok(BodyFraming::None)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::ContentLength(5))),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Ok(BodyFraming::ContentLength(5))),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", Err(400)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", Ok(BodyFraming::None)),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n\r\n", Err(413)),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", Ok(BodyFraming::Chunked)),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", Err(501)),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", Err(400)),
            ("GARBAGE\r\n\r\n", Err(400)),
            ("GET / HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n", Err(400)),
        ];
        for (text, expected) in table {
            let got = parse(text).map(|h| h.expect("complete head").framing).map_err(|e| e.status);
            assert_eq!(&got, expected, "{text:?}");
        }
    }

    #[test]
    fn host_header_rules() {
        let status = |text: &str| parse(text).map(|h| h.is_some()).map_err(|e| (e.status, e.message));
        // HTTP/1.1 needs exactly one Host (RFC 9112 section 3.2); HTTP/1.0 may leave it out.
        let missing = status("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n").unwrap_err();
        assert_eq!(missing.0, 400);
        assert!(missing.1.contains("missing required Host header"), "{}", missing.1);
        assert_eq!(status("GET / HTTP/1.0\r\n\r\n"), Ok(true));
        let twice = status("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n").unwrap_err();
        assert_eq!(twice, (400, "more than one Host header".to_string()));
        assert_eq!(status("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n").unwrap_err().0, 400);
        // Names, addresses with ports, IPv6 literals and an empty value are accepted.
        for host in ["metricstor.example:9090", "127.0.0.1:8428", "[::1]:9090", "", "xn--bcher-kva.example"] {
            assert_eq!(status(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")), Ok(true), "{host:?}");
        }
        for host in ["a b", "a/b", "user@a", "a\"b", "a<b"] {
            let err = status(&format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n")).unwrap_err();
            assert_eq!(err.0, 400, "{host:?}");
            assert!(err.1.starts_with("malformed Host header"), "{host:?}: {}", err.1);
        }
    }

    #[test]
    fn keep_alive_rules() {
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(!parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(!parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap().keep_alive);
        assert!(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap().keep_alive);
    }

    #[test]
    fn partial_head_asks_for_more() {
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn too_many_headers_is_431() {
        let mut text = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..(HEADERS_MAX + 1) {
            text.push_str(&format!("x-h{i}: v\r\n"));
        }
        text.push_str("\r\n");
        assert_eq!(parse(&text).unwrap_err().status, 431);
    }

    proptest! {
        #[test]
        fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_head(&bytes, 1 << 20);
        }

        #[test]
        fn never_panics_on_mutated_requests(index in 0usize..80, byte in any::<u8>()) {
            let mut bytes = b"POST /api/v1/write?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n".to_vec();
            let i = index % bytes.len();
            bytes[i] = byte;
            let _ = parse_head(&bytes, 1 << 20);
        }
    }
}
