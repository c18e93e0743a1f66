//! An HTTP/1.1 client (GET, and POST for OAuth2 token requests) for scraping metrics targets,
//! on glommio: one kept-alive connection per target, the whole request bounded by one deadline,
//! bodies bounded on the wire and again after gzip decompression. Over TLS offering `h2`
//! ([`with_http2`]) a server that chooses it is spoken to in HTTP/2 (`http2`).

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future;
use rustls::ClientConfig;
use tokio::io::AsyncWriteExt;

mod conn;
mod http2;
/// Requests may go through a [`Proxy`] (Prometheus' `proxy_url`): an HTTP proxy is asked for
/// plain-HTTP targets in absolute form and tunnels TLS targets with `CONNECT`; a SOCKS5 proxy
/// (RFC 1928, RFC 1929 username/password) connects to either; an `https://` proxy is an HTTP
/// proxy spoken to over TLS (a TLS target then runs TLS inside that TLS).
mod proxy;
mod response;
#[cfg(test)]
mod test_support;
/// The TLS client configuration Prometheus' `tls_config` describes ([`client_tls_config`]).
mod tls_config;

use conn::Conn;
use response::Wire;

pub use proxy::{Proxy, ProxyKind, ProxyTls};
pub use response::HEAD_BYTES_MAX;
pub use tls_config::{cert_and_key_pair, client_tls_config, client_tls_config_with_versions, with_http2, Pem, TlsVersions, SYSTEM_CA_BUNDLE};

/// Why a GET failed; the messages are written to be shown to users after the URL.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The deadline passed; says how long it was and what the client was doing then.
    #[error("timeout after {after:?} while {phase}")]
    Timeout { after: Duration, phase: &'static str },
    #[error("cannot resolve {host}: {message}")]
    Resolve { host: String, message: String },
    /// Every address failed; `message` has each one's error.
    #[error("cannot connect: {message}")]
    Connect { message: String },
    #[error("TLS: {0}")]
    Tls(String),
    /// The proxy refused or failed to reach the target (its address, then why).
    #[error("proxy {proxy}: {message}")]
    Proxy { proxy: String, message: String },
    /// The server's answer is not a well-formed HTTP/1.x response.
    #[error("malformed HTTP response: {0}")]
    Protocol(String),
    /// The consumer of a streamed body refused what arrived (its message).
    #[error("{0}")]
    Stream(String),
    /// `what` is "response body" (on the wire) or "decompressed response body".
    #[error("{what} exceeds the limit of {limit} bytes")]
    BodyTooLarge { what: &'static str, limit: usize },
    /// An unsupported or undecodable `Content-Encoding`.
    #[error("{0}")]
    Encoding(String),
    #[error("{during}: {source}")]
    Io { during: &'static str, source: std::io::Error },
    /// The request itself cannot be sent (a path or header with line breaks, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// TLS for a target: the client configuration and the name to verify, when not the host.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    /// Prometheus' `tls_config.server_name`: the name sent as SNI and checked against the
    /// server's certificate instead of the URL's host.
    pub server_name: Option<String>,
}

/// A complete response. When the body came gzip-compressed it is decompressed here, and
/// `Content-Encoding` and `Content-Length` are removed from `headers` (they described the
/// compressed body).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// What takes a streamed body as it arrives: called with the bytes not taken yet, it takes
/// (drains) what it can use, leaving a partial record for the next call; an error ends the
/// request with [`ClientError::Stream`].
pub type BodySink<'s> = &'s mut dyn FnMut(&mut Vec<u8>) -> Result<(), String>;

/// One target's connection (plain TCP or rustls; HTTP/1.1, or HTTP/2 when its TLS chose it), kept alive between requests when
/// the server allows.
pub struct HttpClient {
    host: String,
    port: u16,
    tls: Option<ClientTls>,
    /// The proxy every connection goes through, if any.
    proxy: Option<Arc<Proxy>>,
    /// The Unix socket connected to instead of `host:port` and any proxy (TLS, if set, is
    /// spoken over it; `host` then serves only the Host header and the TLS server name).
    unix_socket: Option<std::path::PathBuf>,
    /// The connection kept from the last response, if it may be reused.
    conn: Option<Kept>,
    /// What the current request is doing, for the timeout's message.
    phase: Cell<&'static str>,
}

/// A connection kept for the next request.
enum Kept {
    Http1(Conn),
    /// An HTTP/2 connection's handle (its frames driven by a task of its own).
    Http2(h2::client::SendRequest<bytes::Bytes>),
}

impl HttpClient {
    /// `host` is the URL's host (a DNS name, an IPv4 address or an IPv6 address without brackets), used to connect, for the Host header and as the TLS server name unless `tls` names another.
    pub fn new(host: String, port: u16, tls: Option<ClientTls>) -> HttpClient {
        // Tolerate an IPv6 address still in its URL brackets.
        let host = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            Some(inner) => inner.to_string(),
            None => host,
        };
        HttpClient { host, port, tls, proxy: None, unix_socket: None, conn: None, phase: Cell::new("starting") }
    }

    /// A client speaking plain HTTP over the Unix socket at `path` (a Docker daemon's; `host`
    /// for the Host header).
    pub fn unix(path: std::path::PathBuf, host: String) -> HttpClient {
        HttpClient::new(host, 80, None).over_unix_socket(Some(path))
    }

    /// The same client, connecting over the Unix socket at `path` instead of the network:
    /// no proxy is used, TLS (if the client has it) is spoken over the socket, and the host
    /// serves only the Host header and the TLS server name. `None` leaves the client as it is.
    pub fn over_unix_socket(mut self, path: Option<std::path::PathBuf>) -> HttpClient {
        if path.is_some() {
            self.unix_socket = path;
        }
        self
    }

    /// The Unix socket the client connects over, if any.
    pub fn unix_socket(&self) -> Option<&std::path::Path> {
        self.unix_socket.as_deref()
    }

    /// The same client, connecting through `proxy` (none: directly).
    pub fn with_proxy(mut self, proxy: Option<Arc<Proxy>>) -> HttpClient {
        self.proxy = proxy;
        self
    }

    /// Whether requests go to an HTTP proxy in absolute form (plain HTTP through an HTTP
    /// proxy; TLS goes through a `CONNECT` tunnel instead).
    fn absolute_form(&self) -> Option<&Proxy> {
        self.proxy.as_deref().filter(|p| matches!(p.kind, ProxyKind::Http | ProxyKind::Https(_)) && self.tls.is_none() && self.unix_socket.is_none())
    }

    /// Whether a connection is kept open for the next request.
    pub fn has_idle_connection(&self) -> bool {
        self.conn.is_some()
    }

    /// The `Host` header's value: IPv6 addresses in brackets, the port unless it is the
    /// scheme's default (80 plain, 443 TLS).
    pub fn host_header(&self) -> String {
        let host = if self.host.parse::<std::net::Ipv6Addr>().is_ok() { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.tls.is_some() { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// GETs `path_and_query` (e.g. "/metrics?x=1") with `headers` added (the client itself sends Host, and `Accept-Encoding: gzip`; it does not send Connection: close). The whole call (resolve, connect, TLS handshake, write, read head and body) is bounded by `timeout`. A body larger than `body_bytes_max` (on the wire, and again after decompression) is an error. A `Content-Encoding: gzip` body is decompressed (bounded); any other encoding than gzip/identity is an error naming it.
    ///
    /// A header in `headers` named `Host` or `Accept-Encoding` replaces the client's own.
    /// Responses of any status are returned; errors drop the connection.
    pub async fn get(&mut self, path_and_query: &str, headers: &[(String, String)], timeout: Duration, body_bytes_max: usize) -> Result<Response, ClientError> {
        self.get_into(path_and_query, headers, timeout, body_bytes_max, None).await
    }

    /// As [`HttpClient::get`], but a `200` body is given to `sink` as it arrives (a watch that
    /// streams for minutes), and what the sink leaves at the end is the response's `body`;
    /// `pending_bytes_max` bounds what is waiting for the sink. Other statuses are read whole.
    /// The body must not be compressed: send `Accept-Encoding: identity`.
    pub async fn get_streamed(&mut self, path_and_query: &str, headers: &[(String, String)], timeout: Duration, pending_bytes_max: usize, sink: BodySink<'_>) -> Result<Response, ClientError> {
        self.get_into(path_and_query, headers, timeout, pending_bytes_max, Some(sink)).await
    }

    /// POSTs `body` to `path_and_query` (an OAuth2 token request, say), as [`HttpClient::get`]
    /// does a GET; `headers` should name the body's `Content-Type`.
    pub async fn post(&mut self, path_and_query: &str, headers: &[(String, String)], body: &[u8], timeout: Duration, body_bytes_max: usize) -> Result<Response, ClientError> {
        self.with_body("POST", path_and_query, headers, body, timeout, body_bytes_max).await
    }

    /// PUTs `body` to `path_and_query` (an EC2 instance metadata token request), as
    /// [`HttpClient::post`] POSTs.
    pub async fn put(&mut self, path_and_query: &str, headers: &[(String, String)], body: &[u8], timeout: Duration, body_bytes_max: usize) -> Result<Response, ClientError> {
        self.with_body("PUT", path_and_query, headers, body, timeout, body_bytes_max).await
    }

    async fn with_body(&mut self, method: &str, path_and_query: &str, headers: &[(String, String)], body: &[u8], timeout: Duration, body_bytes_max: usize) -> Result<Response, ClientError> {
        let mut request = self.request_bytes(method, path_and_query, headers, Some(body.len()))?;
        request.extend_from_slice(body);
        let authority = self.host_header();
        let parts = http2::RequestParts { method, path_and_query, authority: &authority, headers, body: Some(body) };
        self.send(request, &parts, timeout, body_bytes_max, None).await
    }

    async fn get_into(&mut self, path_and_query: &str, headers: &[(String, String)], timeout: Duration, body_bytes_max: usize, sink: Option<BodySink<'_>>) -> Result<Response, ClientError> {
        let request = self.request_bytes("GET", path_and_query, headers, None)?;
        let authority = self.host_header();
        let parts = http2::RequestParts { method: "GET", path_and_query, authority: &authority, headers, body: None };
        self.send(request, &parts, timeout, body_bytes_max, sink).await
    }

    /// The request (`request`: as HTTP/1.1 bytes; `parts`: for HTTP/2) within `timeout`.
    async fn send(&mut self, request: Vec<u8>, parts: &http2::RequestParts<'_>, timeout: Duration, body_bytes_max: usize, mut sink: Option<BodySink<'_>>) -> Result<Response, ClientError> {
        let reused = self.conn.take();
        let deadline = Instant::now() + timeout;
        self.phase.set("starting");
        let exchange = async { Some(self.exchange(reused, &request, parts, deadline, body_bytes_max, &mut sink).await) };
        let expiry = async {
            glommio::timer::sleep(timeout).await;
            None
        };
        match future::or(exchange, expiry).await {
            Some(Ok((response, keep))) => {
                self.conn = keep;
                Ok(response)
            }
            Some(Err(error)) => Err(error),
            None => Err(ClientError::Timeout { after: timeout, phase: self.phase.get() }),
        }
    }

    /// The request head (`content_length`: a body of that many bytes follows).
    fn request_bytes(&self, method: &str, path_and_query: &str, headers: &[(String, String)], content_length: Option<usize>) -> Result<Vec<u8>, ClientError> {
        let bad = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        if !path_and_query.starts_with('/') || path_and_query.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ClientError::InvalidRequest(format!("path {path_and_query:?} must start with '/' and contain no spaces or control characters")));
        }
        let mut request = match self.absolute_form() {
            Some(_) => format!("{method} http://{}{path_and_query} HTTP/1.1\r\n", self.host_header()).into_bytes(),
            None => format!("{method} {path_and_query} HTTP/1.1\r\n").into_bytes(),
        };
        if let Some(length) = content_length {
            request.extend_from_slice(format!("Content-Length: {length}\r\n").as_bytes());
        }
        let ours = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !ours("host") {
            request.extend_from_slice(format!("Host: {}\r\n", self.host_header()).as_bytes());
        }
        if let Some(authorization) = self.absolute_form().and_then(Proxy::authorization) {
            request.extend_from_slice(format!("Proxy-Authorization: {authorization}\r\n").as_bytes());
        }
        if !ours("accept-encoding") {
            request.extend_from_slice(b"Accept-Encoding: gzip\r\n");
        }
        for (name, value) in headers {
            if name.is_empty() || bad(name) || name.bytes().any(|b| b == b':' || b == b' ' || b == b'\t') || bad(value) {
                return Err(ClientError::InvalidRequest(format!("header {name:?} has an invalid name or value")));
            }
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        Ok(request)
    }

    /// The request on the kept connection (once more on a fresh one if the server had closed
    /// it before answering), or on a fresh connection: in HTTP/2 when its TLS chose `h2`.
    /// Returns the connection to keep.
    async fn exchange(&self, reused: Option<Kept>, request: &[u8], parts: &http2::RequestParts<'_>, deadline: Instant, body_max: usize, sink: &mut Option<BodySink<'_>>) -> Result<(Response, Option<Kept>), ClientError> {
        match reused {
            Some(Kept::Http1(mut conn)) => match self.attempt(&mut conn, request, body_max, sink.as_deref_mut()).await {
                Ok((response, keep)) => return Ok((response, keep.then_some(Kept::Http1(conn)))),
                Err((error, true)) => return Err(error),
                // Nothing came back: the server closed the idle connection. One fresh try.
                Err((_, false)) => tracing::debug!(host = %self.host, "kept-alive connection was closed by the server; reconnecting"),
            },
            Some(Kept::Http2(mut send)) => {
                self.phase.set("waiting for the response");
                match http2::request(&mut send, parts, body_max, sink.as_deref_mut()).await {
                    Ok(response) => return Ok((response, Some(Kept::Http2(send)))),
                    Err((error, true)) => return Err(error),
                    Err((_, false)) => tracing::debug!(host = %self.host, "kept HTTP/2 connection has ended; reconnecting"),
                }
            }
            None => {}
        }
        let mut conn = self.open(deadline).await?;
        if conn.speaks_h2() {
            self.phase.set("in the HTTP/2 handshake");
            let mut send = http2::handshake(conn).await?;
            self.phase.set("waiting for the response");
            return match http2::request(&mut send, parts, body_max, sink.as_deref_mut()).await {
                Ok(response) => Ok((response, Some(Kept::Http2(send)))),
                Err((error, _)) => Err(error),
            };
        }
        match self.attempt(&mut conn, request, body_max, sink.as_deref_mut()).await {
            Ok((response, keep)) => Ok((response, keep.then_some(Kept::Http1(conn)))),
            Err((error, _)) => Err(error),
        }
    }

    /// One request and its response on `conn`. Returns whether the connection may be kept;
    /// an error says whether any response byte had arrived.
    async fn attempt<S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized>(&self, conn: &mut Conn, request: &[u8], body_max: usize, sink: Option<&mut S>) -> Result<(Response, bool), (ClientError, bool)> {
        self.phase.set("sending the request");
        let sent = async {
            conn.write_all(request).await?;
            conn.flush().await
        };
        if let Err(source) = sent.await {
            return Err((ClientError::Io { during: "sending the request", source }, false));
        }
        let mut wire = Wire { conn, buf: Vec::new(), received: false, sink };
        match self.read_response(&mut wire, body_max).await {
            Ok(done) => Ok(done),
            Err(error) => Err((error, wire.received)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::mpsc;

    use super::test_support::{accept, client, read_request, run, serve_one, server, LIMIT, LONG};
    use super::*;

    #[test]
    fn keep_alive_reuses_the_connection() {
        let responses = vec![b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none".to_vec(), b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo".to_vec()];
        let (port, thread) = server(move |listener| {
            let requests = serve_one(listener.try_clone().expect("listener"), responses);
            // Both requests are answered: a second connection would be in the backlog by now.
            listener.set_nonblocking(true).expect("nonblocking");
            (requests.len(), listener.accept().is_ok())
        });
        let mut client = client(port);
        run(async {
            assert_eq!(client.get("/metrics", &[], LONG, LIMIT).await.expect("first").body, b"one");
            assert_eq!(client.get("/metrics", &[], LONG, LIMIT).await.expect("second").body, b"two");
        });
        assert_eq!(thread.join().expect("server"), (2, false), "two requests on one connection, no second connection");
    }

    #[test]
    fn a_kept_connection_closed_by_the_server_is_replaced() {
        let (closed_tx, closed_rx) = mpsc::channel();
        let (port, thread) = server(move |listener| {
            let mut first = accept(&listener);
            read_request(&mut first).expect("request");
            first.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none").expect("respond");
            drop(first); // the idle connection goes away, as servers' idle timeouts do
            closed_tx.send(()).expect("signal");
            let mut second = accept(&listener);
            read_request(&mut second).expect("request");
            second.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo").expect("respond");
        });
        let mut client = client(port);
        run(async {
            assert_eq!(client.get("/metrics", &[], LONG, LIMIT).await.expect("first").body, b"one");
            assert!(client.has_idle_connection());
            closed_rx.recv_timeout(LONG).expect("server closed the first connection");
            assert_eq!(client.get("/metrics", &[], LONG, LIMIT).await.expect("second, on a new connection").body, b"two");
        });
        thread.join().expect("server");
    }

    #[test]
    fn a_silent_server_times_out() {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (port, thread) = server(move |listener| {
            let stream = accept(&listener);
            let _ = done_rx.recv_timeout(LONG);
            drop(stream);
        });
        let mut client = client(port);
        let result = run(client.get("/metrics", &[], Duration::from_millis(300), LIMIT));
        done_tx.send(()).expect("release the server");
        match result {
            Err(error @ ClientError::Timeout { .. }) => assert_eq!(error.to_string(), "timeout after 300ms while waiting for the response"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        thread.join().expect("server");
    }

    #[test]
    fn host_header_and_invalid_requests() {
        assert_eq!(HttpClient::new("example.com".into(), 80, None).host_header(), "example.com");
        assert_eq!(HttpClient::new("example.com".into(), 9100, None).host_header(), "example.com:9100");
        assert_eq!(HttpClient::new("::1".into(), 9100, None).host_header(), "[::1]:9100");
        assert_eq!(HttpClient::new("[::1]".into(), 80, None).host_header(), "[::1]");
        let config = client_tls_config(None, None, true).expect("config");
        let tls = || Some(ClientTls { config: config.clone(), server_name: None });
        assert_eq!(HttpClient::new("10.0.0.1".into(), 443, tls()).host_header(), "10.0.0.1");
        assert_eq!(HttpClient::new("10.0.0.1".into(), 80, tls()).host_header(), "10.0.0.1:80");
        let mut client = HttpClient::new("127.0.0.1".into(), 9, None);
        let bad_header = run(client.get("/metrics", &[("X-A".into(), "1\r\nX-B: 2".into())], LONG, LIMIT));
        assert!(matches!(bad_header, Err(ClientError::InvalidRequest(_))), "{bad_header:?}");
        let bad_path = run(client.get("/a b", &[], LONG, LIMIT));
        assert!(matches!(bad_path, Err(ClientError::InvalidRequest(_))), "{bad_path:?}");
    }

    #[test]
    fn a_post_sends_its_body_with_its_length() {
        let (port, thread) = server(|listener| {
            let mut stream = accept(&listener);
            let mut received = Vec::new();
            let mut chunk = [0u8; 4096];
            while !String::from_utf8_lossy(&received).contains("\r\n\r\ngrant_type=client_credentials") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => received.extend_from_slice(&chunk[..n]),
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntoken!\n");
            String::from_utf8_lossy(&received).into_owned()
        });
        let mut client = client(port);
        let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let response = run(async { client.post("/token", &headers, b"grant_type=client_credentials", LONG, LIMIT).await }).expect("post");
        assert_eq!((response.status, response.body), (200, b"token!\n".to_vec()));
        let request = thread.join().expect("server");
        assert!(request.starts_with("POST /token HTTP/1.1\r\nContent-Length: 29\r\n"), "{request}");
        assert!(request.ends_with("Content-Type: application/x-www-form-urlencoded\r\n\r\ngrant_type=client_credentials"), "{request}");
    }
}
