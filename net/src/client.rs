//! An HTTP/1.1 client (GET, and POST for OAuth2 token requests) for scraping metrics targets, on glommio: one kept-alive
//! connection per target (plain TCP or rustls), the whole request bounded by one deadline,
//! bodies bounded on the wire and again after gzip decompression, and the TLS client
//! configuration Prometheus' `tls_config` describes ([`client_tls_config`]). Requests may go
//! through a [`Proxy`] (Prometheus' `proxy_url`): an HTTP proxy is asked for plain-HTTP
//! targets in absolute form and tunnels TLS targets with `CONNECT`; a SOCKS5 proxy (RFC
//! 1928, RFC 1929 username/password) connects to either; an `https://` proxy is an HTTP proxy
//! spoken to over TLS (a TLS target then runs TLS inside that TLS). A client may also speak plain HTTP
//! over a Unix socket (a Docker daemon's).

use std::cell::Cell;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use crate::io_adapter::TokioIo;

/// The most a response head (status line and header fields, interim responses each) may take.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;
/// The most header fields one response head may have.
const HEADERS_MAX: usize = 256;
/// The most a chunk-size line (with its extensions) may take.
const CHUNK_LINE_MAX: usize = 4096;
/// How much is asked of the socket per read.
const READ_SIZE: usize = 16 * 1024;
/// The system roots used when `tls_config` names no `ca_file`.
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

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

/// What a [`Proxy`] speaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// An HTTP proxy (`http://`): plain requests in absolute form, TLS through `CONNECT`.
    Http,
    /// A SOCKS5 proxy (`socks5://`, `socks5h://`): the target's name is resolved by the proxy.
    Socks5,
    /// An HTTP proxy spoken to over TLS (`https://`, with this configuration; the proxy's
    /// name is checked against its certificate), used as an HTTP proxy.
    Https(ProxyTls),
}

/// The TLS client configuration an `https://` proxy is spoken to with (compared by
/// identity).
#[derive(Clone)]
pub struct ProxyTls(pub Arc<ClientConfig>);

impl PartialEq for ProxyTls {
    fn eq(&self, other: &ProxyTls) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ProxyTls {}

impl std::fmt::Debug for ProxyTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyTls")
    }
}

/// A proxy between the client and its target.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    pub kind: ProxyKind,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The proxy URL's user and password: `Proxy-Authorization: Basic` for an HTTP proxy,
    /// the username/password method for SOCKS5.
    pub user: Option<(String, String)>,
    /// Prometheus' `proxy_connect_header`: sent with `CONNECT` (an HTTP proxy's tunnel) only.
    pub connect_headers: Vec<(String, String)>,
}

impl std::fmt::Debug for Proxy {
    /// The kind and address (the password and the CONNECT header values stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("kind", &self.kind).field("address", &self.address()).field("user", &self.user.as_ref().map(|(user, _)| user)).finish_non_exhaustive()
    }
}

impl Proxy {
    /// `host:port` as shown in messages.
    pub fn address(&self) -> String {
        join_host_port(&self.host, self.port)
    }

    fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        self.user.as_ref().map(|(user, password)| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))))
    }

    fn error(&self, message: impl Into<String>) -> ClientError {
        ClientError::Proxy { proxy: self.address(), message: message.into() }
    }
}

/// `host:port`, an IPv6 address in brackets.
fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
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

/// The socket of one connection, with or without TLS.
enum Conn {
    Plain(TokioIo<TcpStream>),
    Unix(TokioIo<glommio::net::UnixStream>),
    Tls(Box<tokio_rustls::client::TlsStream<TokioIo<TcpStream>>>),
    /// TLS to the target inside a `CONNECT` tunnel through an `https://` proxy.
    TlsInTls(Box<tokio_rustls::client::TlsStream<tokio_rustls::client::TlsStream<TokioIo<TcpStream>>>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Conn::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Conn::Unix(stream) => Pin::new(stream).poll_write(cx, buf),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Conn::Unix(stream) => Pin::new(stream).poll_flush(cx),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Conn::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One target's HTTP/1.1 connection, kept alive between requests when the server allows.
pub struct HttpClient {
    host: String,
    port: u16,
    tls: Option<ClientTls>,
    /// The proxy every connection goes through, if any.
    proxy: Option<Arc<Proxy>>,
    /// The Unix socket connected to instead of `host:port` (plain HTTP; `host` is then only
    /// the Host header's).
    unix_socket: Option<std::path::PathBuf>,
    /// The connection kept from the last response, if it may be reused.
    conn: Option<Conn>,
    /// What the current request is doing, for the timeout's message.
    phase: Cell<&'static str>,
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

    /// A client speaking plain HTTP over the Unix socket at `path` (`host` for the Host
    /// header).
    pub fn unix(path: std::path::PathBuf, host: String) -> HttpClient {
        HttpClient { unix_socket: Some(path), ..HttpClient::new(host, 80, None) }
    }

    /// The same client, connecting through `proxy` (none: directly).
    pub fn with_proxy(mut self, proxy: Option<Arc<Proxy>>) -> HttpClient {
        self.proxy = proxy;
        self
    }

    /// Whether requests go to an HTTP proxy in absolute form (plain HTTP through an HTTP
    /// proxy; TLS goes through a `CONNECT` tunnel instead).
    fn absolute_form(&self) -> Option<&Proxy> {
        self.proxy.as_deref().filter(|p| matches!(p.kind, ProxyKind::Http | ProxyKind::Https(_)) && self.tls.is_none())
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
        self.send(request, timeout, body_bytes_max, None).await
    }

    async fn get_into(&mut self, path_and_query: &str, headers: &[(String, String)], timeout: Duration, body_bytes_max: usize, sink: Option<BodySink<'_>>) -> Result<Response, ClientError> {
        let request = self.request_bytes("GET", path_and_query, headers, None)?;
        self.send(request, timeout, body_bytes_max, sink).await
    }

    async fn send(&mut self, request: Vec<u8>, timeout: Duration, body_bytes_max: usize, mut sink: Option<BodySink<'_>>) -> Result<Response, ClientError> {
        let reused = self.conn.take();
        let deadline = Instant::now() + timeout;
        self.phase.set("starting");
        let exchange = async { Some(self.exchange(reused, &request, deadline, body_bytes_max, &mut sink).await) };
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
    /// it before answering), or on a fresh connection. Returns the connection to keep.
    async fn exchange<S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized>(&self, reused: Option<Conn>, request: &[u8], deadline: Instant, body_max: usize, sink: &mut Option<&mut S>) -> Result<(Response, Option<Conn>), ClientError> {
        if let Some(mut conn) = reused {
            match self.attempt(&mut conn, request, body_max, sink.as_deref_mut()).await {
                Ok((response, keep)) => return Ok((response, keep.then_some(conn))),
                Err((error, true)) => return Err(error),
                // Nothing came back: the server closed the idle connection. One fresh try.
                Err((_, false)) => tracing::debug!(host = %self.host, "kept-alive connection was closed by the server; reconnecting"),
            }
        }
        let mut conn = self.open(deadline).await?;
        match self.attempt(&mut conn, request, body_max, sink.as_deref_mut()).await {
            Ok((response, keep)) => Ok((response, keep.then_some(conn))),
            Err((error, _)) => Err(error),
        }
    }

    /// Connects (to the proxy, if any, which then reaches the target) and does the TLS
    /// handshake if configured.
    async fn open(&self, deadline: Instant) -> Result<Conn, ClientError> {
        if let Some(path) = &self.unix_socket {
            self.phase.set("connecting");
            let stream = glommio::net::UnixStream::connect(path).await.map_err(|e| ClientError::Connect { message: format!("{}: {e}", path.display()) })?;
            return Ok(Conn::Unix(TokioIo(stream)));
        }
        let conn = match self.proxy.as_deref() {
            None => Conn::Plain(TokioIo(self.connect_tcp(&self.host, self.port, deadline, "").await?)),
            Some(proxy) => {
                let stream = self.connect_tcp(&proxy.host, proxy.port, deadline, "the proxy").await.map_err(|e| proxy.error(e.to_string()))?;
                let conn = match &proxy.kind {
                    ProxyKind::Socks5 => Conn::Plain(TokioIo(self.socks5_connect(proxy, stream).await?)),
                    ProxyKind::Http => Conn::Plain(TokioIo(stream)),
                    ProxyKind::Https(ProxyTls(config)) => {
                        self.phase.set("in the TLS handshake with the proxy");
                        let server_name = ServerName::try_from(proxy.host.clone()).map_err(|_| proxy.error(format!("invalid server name {:?}", proxy.host)))?;
                        let stream = tokio_rustls::TlsConnector::from(config.clone()).connect(server_name, TokioIo(stream)).await.map_err(|e| proxy.error(format!("TLS handshake failed: {e}")))?;
                        Conn::Tls(Box::new(stream))
                    }
                };
                if self.tls.is_some() && matches!(proxy.kind, ProxyKind::Http | ProxyKind::Https(_)) {
                    self.http_connect(proxy, conn).await?
                } else {
                    conn
                }
            }
        };
        let Some(tls) = &self.tls else { return Ok(conn) };
        self.phase.set("in the TLS handshake");
        let name = tls.server_name.clone().unwrap_or_else(|| self.host.clone());
        let server_name = ServerName::try_from(name.clone()).map_err(|_| ClientError::Tls(format!("invalid server name {name:?}")))?;
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        let failed = |e: std::io::Error| ClientError::Tls(format!("handshake with {name} failed: {e}"));
        match conn {
            Conn::Plain(io) => Ok(Conn::Tls(Box::new(connector.connect(server_name, io).await.map_err(failed)?))),
            Conn::Tls(to_proxy) => Ok(Conn::TlsInTls(Box::new(connector.connect(server_name, *to_proxy).await.map_err(failed)?))),
            Conn::Unix(_) | Conn::TlsInTls(_) => Err(ClientError::Tls("unexpected connection kind".into())),
        }
    }

    /// Resolves `host` and connects to each address in turn (`what`: "the proxy", or empty
    /// for the target, for the phase shown on a timeout).
    async fn connect_tcp(&self, host: &str, port: u16, deadline: Instant, what: &str) -> Result<TcpStream, ClientError> {
        self.phase.set(if what.is_empty() { "resolving the host" } else { "resolving the proxy" });
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => {
                let name = host.to_string();
                let resolved = glommio::executor().spawn_blocking(move || (name.as_str(), port).to_socket_addrs().map(|a| a.collect::<Vec<_>>())).await;
                let addrs = resolved.map_err(|e| ClientError::Resolve { host: host.to_string(), message: e.to_string() })?;
                if addrs.is_empty() {
                    return Err(ClientError::Resolve { host: host.to_string(), message: "no addresses found".into() });
                }
                addrs
            }
        };
        self.phase.set(if what.is_empty() { "connecting" } else { "connecting to the proxy" });
        let mut failures = Vec::new();
        let mut connected = None;
        for addr in &addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                failures.push(format!("{addr}: no time left"));
                break;
            }
            match TcpStream::connect_timeout(*addr, left).await {
                Ok(stream) => {
                    connected = Some(stream);
                    break;
                }
                Err(glommio::GlommioError::IoError(error) | glommio::GlommioError::EnhancedIoError { source: error, .. }) => failures.push(format!("{addr}: {error}")),
                Err(error) => failures.push(format!("{addr}: {error}")),
            }
        }
        let Some(stream) = connected else { return Err(ClientError::Connect { message: failures.join("; ") }) };
        // glommio leaves Nagle on; the request goes out in one write and must not wait.
        stream.set_nodelay(true).map_err(|source| ClientError::Io { during: "setting TCP_NODELAY", source: source.into() })?;
        Ok(stream)
    }

    /// Asks an HTTP proxy for a tunnel to the target (`CONNECT host:port`, with the proxy's
    /// credentials and `proxy_connect_header`); any status but 200 is an error naming it.
    async fn http_connect(&self, proxy: &Proxy, mut conn: Conn) -> Result<Conn, ClientError> {
        self.phase.set("waiting for the proxy's CONNECT");
        let target = join_host_port(&self.host, self.port);
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        let authorization = proxy.authorization();
        if let Some(authorization) = &authorization {
            request.push_str(&format!("Proxy-Authorization: {authorization}\r\n"));
        }
        // The proxy URL's credentials replace a configured Proxy-Authorization (Go sets it
        // over the CONNECT headers).
        for (name, value) in proxy.connect_headers.iter().filter(|(name, _)| authorization.is_none() || !name.eq_ignore_ascii_case("proxy-authorization")) {
            if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b':' || b == 0x7f) || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(proxy.error(format!("proxy_connect_header {name:?} has an invalid name or value")));
            }
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let sent = async {
            conn.write_all(request.as_bytes()).await?;
            conn.flush().await
        };
        sent.await.map_err(|e| proxy.error(format!("sending CONNECT: {e}")))?;
        let mut wire: Wire<'_, SinkFn<'_>> = Wire { conn: &mut conn, buf: Vec::new(), received: false, sink: None };
        let head = loop {
            let head = wire.head().await.map_err(|e| proxy.error(format!("answering CONNECT {target}: {e}")))?;
            if !(100..=199).contains(&head.status) {
                break head;
            }
        };
        if head.status != 200 {
            let reason = http::StatusCode::from_u16(head.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
            return Err(proxy.error(format!("CONNECT {target} answered {} {reason}", head.status).trim_end().to_string()));
        }
        if !wire.buf.is_empty() {
            return Err(proxy.error(format!("sent {} bytes after its answer to CONNECT {target}, before the TLS handshake", wire.buf.len())));
        }
        Ok(conn)
    }

    /// Asks a SOCKS5 proxy to connect to the target (the name sent as is, for the proxy to
    /// resolve), authenticating with the proxy URL's user when it has one.
    async fn socks5_connect(&self, proxy: &Proxy, stream: TcpStream) -> Result<TcpStream, ClientError> {
        const NO_AUTH: u8 = 0;
        const USER_PASSWORD: u8 = 2;
        self.phase.set("in the SOCKS5 handshake");
        let mut io = TokioIo(stream);
        let io_error = |during: &str, e: std::io::Error| proxy.error(format!("SOCKS5 {during}: {e}"));
        let methods: &[u8] = if proxy.user.is_some() { &[5, 2, NO_AUTH, USER_PASSWORD] } else { &[5, 1, NO_AUTH] };
        io.write_all(methods).await.map_err(|e| io_error("greeting", e))?;
        let mut choice = [0u8; 2];
        io.read_exact(&mut choice).await.map_err(|e| io_error("greeting", e))?;
        if choice[0] != 5 {
            return Err(proxy.error(format!("not a SOCKS5 proxy (it answered version {})", choice[0])));
        }
        match (choice[1], &proxy.user) {
            (NO_AUTH, _) => {}
            (USER_PASSWORD, Some((user, password))) => {
                // As Go's SOCKS client: a user name of 1 to 255 bytes, a password of at most 255.
                if user.is_empty() || user.len() > 255 || password.len() > 255 {
                    return Err(proxy.error("SOCKS5: invalid user name or password (1 to 255 and at most 255 bytes)"));
                }
                let mut request = vec![1, user.len() as u8];
                request.extend_from_slice(user.as_bytes());
                request.push(password.len() as u8);
                request.extend_from_slice(password.as_bytes());
                io.write_all(&request).await.map_err(|e| io_error("authentication", e))?;
                let mut status = [0u8; 2];
                io.read_exact(&mut status).await.map_err(|e| io_error("authentication", e))?;
                if status[0] != 1 {
                    return Err(proxy.error(format!("SOCKS5: unexpected authentication protocol version {}", status[0])));
                }
                if status[1] != 0 {
                    return Err(proxy.error("SOCKS5 authentication failed: the user or password was refused"));
                }
            }
            (0xff, _) => return Err(proxy.error(if proxy.user.is_some() { "SOCKS5: no acceptable authentication method" } else { "SOCKS5: the proxy requires authentication (give a user in proxy_url)" })),
            (other, _) => return Err(proxy.error(format!("SOCKS5: the proxy chose authentication method {other}, which was not offered"))),
        }
        let mut request = vec![5, 1, 0];
        // An IPv4-mapped IPv6 address goes as IPv4, as Go sends it.
        let ip = self.host.parse::<IpAddr>().map(|ip| match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        });
        match ip {
            Ok(IpAddr::V4(ip)) => {
                request.push(1);
                request.extend_from_slice(&ip.octets());
            }
            Ok(IpAddr::V6(ip)) => {
                request.push(4);
                request.extend_from_slice(&ip.octets());
            }
            Err(_) => {
                if self.host.len() > 255 {
                    return Err(proxy.error("SOCKS5: the target's name is longer than 255 bytes"));
                }
                request.push(3);
                request.push(self.host.len() as u8);
                request.extend_from_slice(self.host.as_bytes());
            }
        }
        request.extend_from_slice(&self.port.to_be_bytes());
        io.write_all(&request).await.map_err(|e| io_error("connect request", e))?;
        let mut reply = [0u8; 4];
        io.read_exact(&mut reply).await.map_err(|e| io_error("connect reply", e))?;
        if reply[0] != 5 || reply[2] != 0 {
            return Err(proxy.error(format!("SOCKS5: malformed connect reply (version {}, reserved byte {})", reply[0], reply[2])));
        }
        if reply[1] != 0 {
            let why = match reply[1] {
                1 => "general SOCKS server failure",
                2 => "connection not allowed by ruleset",
                3 => "network unreachable",
                4 => "host unreachable",
                5 => "connection refused",
                6 => "TTL expired",
                7 => "command not supported",
                8 => "address type not supported",
                _ => "unknown error",
            };
            return Err(proxy.error(format!("SOCKS5 connect to {}: {why} (reply {})", join_host_port(&self.host, self.port), reply[1])));
        }
        // The address the proxy bound, then its port: read and ignored.
        let bound = match reply[3] {
            1 => 4,
            4 => 16,
            3 => {
                let mut length = [0u8; 1];
                io.read_exact(&mut length).await.map_err(|e| io_error("connect reply", e))?;
                usize::from(length[0])
            }
            other => return Err(proxy.error(format!("SOCKS5: unknown address type {other} in the connect reply"))),
        };
        let mut rest = vec![0u8; bound + 2];
        io.read_exact(&mut rest).await.map_err(|e| io_error("connect reply", e))?;
        Ok(io.0)
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

    async fn read_response<S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized>(&self, wire: &mut Wire<'_, S>, body_max: usize) -> Result<(Response, bool), ClientError> {
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
        if wire.sink.is_some() && head.headers.get_all(http::header::CONTENT_ENCODING).iter().any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity")) {
            return Err(ClientError::Encoding("a streamed body must not be compressed (the request asks for identity)".into()));
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

struct Head {
    status: u16,
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

/// Undoes the `Content-Encoding` (gzip, or none), bounding the result by `body_max`.
fn decode(headers: &mut http::HeaderMap, body: Vec<u8>, body_max: usize) -> Result<Vec<u8>, ClientError> {
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
type SinkFn<'a> = dyn FnMut(&mut Vec<u8>) -> Result<(), String> + 'a;

/// The read side of one response: bytes read but not yet taken are in `buf`.
struct Wire<'a, S: FnMut(&mut Vec<u8>) -> Result<(), String> + ?Sized> {
    conn: &'a mut Conn,
    buf: Vec<u8>,
    /// Whether any byte of a response arrived (a failure before that may be retried).
    received: bool,
    /// Takes a `200` body as it arrives (none: the body is read whole).
    sink: Option<&'a mut S>,
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
    async fn head(&mut self) -> Result<Head, ClientError> {
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

/// `cert_file` and `key_file` as `tls_config` gives them: both or neither.
pub fn cert_and_key_pair<'a>(cert_file: Option<&'a Path>, key_file: Option<&'a Path>) -> Result<Option<(&'a Path, &'a Path)>, String> {
    match (cert_file, key_file) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(cert), None) => Err(format!("cert_file {} is set without key_file", cert.display())),
        (None, Some(key)) => Err(format!("key_file {} is set without cert_file", key.display())),
    }
}

/// Where a PEM document of a TLS configuration comes from: a file (`ca_file`, ...), or the
/// text itself (Prometheus' inline `ca`, `cert` and `key`; a kubeconfig's `*-data`), named
/// by `what` in messages.
#[derive(Clone, Copy, Debug)]
pub enum Pem<'a> {
    File(&'a Path),
    Inline { what: &'a str, pem: &'a [u8] },
}

impl Pem<'_> {
    /// How messages name it, `file_key` being the key a file is given under.
    fn describe(&self, file_key: &str) -> String {
        match self {
            Pem::File(path) => format!("{file_key} {}", path.display()),
            Pem::Inline { what, .. } => what.to_string(),
        }
    }

    fn certificates(&self, file_key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
        let certs: Result<Vec<CertificateDer<'static>>, _> = match self {
            Pem::File(path) => CertificateDer::pem_file_iter(path).and_then(|certs| certs.collect()),
            Pem::Inline { pem, .. } => CertificateDer::pem_slice_iter(pem).collect(),
        };
        let certs = certs.map_err(|e| format!("cannot read {}: {e}", self.describe(file_key)))?;
        if certs.is_empty() {
            return Err(format!("{} holds no PEM certificate", self.describe(file_key)));
        }
        Ok(certs)
    }

    fn private_key(&self, file_key: &str) -> Result<PrivateKeyDer<'static>, String> {
        let key = match self {
            Pem::File(path) => PrivateKeyDer::from_pem_file(path),
            Pem::Inline { pem, .. } => PrivateKeyDer::from_pem_slice(pem),
        };
        key.map_err(|e| format!("cannot read {}: {e}", self.describe(file_key)))
    }
}

/// A rustls client config as Prometheus' `tls_config` describes one: `ca_file` or inline `ca` (PEM bundle; without it the system roots from /etc/ssl/certs/ca-certificates.crt, or an empty store if that file does not exist), optional client `cert_file`+`key_file` or inline `cert`+`key` (PEM; [`cert_and_key_pair`] turns the two options into this argument, refusing one without the other), `insecure_skip_verify` (accept any server certificate, still checking the handshake's signatures). ALPN "http/1.1". Errors name the file and the problem.
pub fn client_tls_config(ca: Option<Pem<'_>>, cert_and_key: Option<(Pem<'_>, Pem<'_>)>, insecure_skip_verify: bool) -> Result<Arc<ClientConfig>, String> {
    client_tls_config_with_versions(ca, cert_and_key, insecure_skip_verify, TlsVersions::Both)
}

/// The TLS versions a client may speak (rustls speaks 1.2 and 1.3): Prometheus'
/// `min_version: TLS13` or `max_version: TLS12` narrow them to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersions {
    Both,
    Only12,
    Only13,
}

/// As [`client_tls_config`], speaking only `versions`.
pub fn client_tls_config_with_versions(ca: Option<Pem<'_>>, cert_and_key: Option<(Pem<'_>, Pem<'_>)>, insecure_skip_verify: bool, versions: TlsVersions) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in ca.certificates("ca_file")? {
                roots.add(cert).map_err(|e| format!("{}: unusable certificate: {e}", ca.describe("ca_file")))?;
            }
            Arc::new(roots)
        }
        None => system_roots()?,
    };
    let versions: &[&rustls::SupportedProtocolVersion] = match versions {
        TlsVersions::Both => rustls::DEFAULT_VERSIONS,
        TlsVersions::Only12 => &[&rustls::version::TLS12],
        TlsVersions::Only13 => &[&rustls::version::TLS13],
    };
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_protocol_versions(versions).map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = if insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyServerCertificate { algorithms: provider.signature_verification_algorithms }))
    } else {
        builder.with_root_certificates(roots)
    };
    let mut config = match cert_and_key {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = cert.certificates("cert_file")?;
            let private_key = key.private_key("key_file")?;
            builder
                .with_client_auth_cert(chain, private_key)
                .map_err(|e| format!("{} and {} cannot be used together: {e}", cert.describe("cert_file"), key.describe("key_file")))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The system's roots, read from [`SYSTEM_CA_BUNDLE`] once per process (as Go reads its
/// system pool once) and shared by every configuration without a `ca_file`: hundreds of
/// scrape jobs parse the bundle once. An empty store when the file does not exist.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    // Only a good read is kept: a failed one is tried again at the next configuration (a
    // reload), as before the roots were shared.
    static ROOTS: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    if let Some(roots) = ROOTS.get() {
        return Ok(roots.clone());
    }
    let mut roots = RootCertStore::empty();
    let system = Path::new(SYSTEM_CA_BUNDLE);
    if system.exists() {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(system)
            .and_then(|certs| certs.collect::<Result<_, _>>())
            .map_err(|e| format!("cannot read the system CA bundle {SYSTEM_CA_BUNDLE}: {e}"))?;
        // A system bundle may hold a certificate webpki cannot use; skip those.
        roots.add_parsable_certificates(certs);
    }
    Ok(ROOTS.get_or_init(|| Arc::new(roots)).clone())
}

/// `insecure_skip_verify`: any certificate chain and name is accepted, but the handshake's
/// signatures are still checked against the presented certificate.
#[derive(Debug)]
struct AnyServerCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(&self, _end_entity: &CertificateDer<'_>, _intermediates: &[CertificateDer<'_>], _server_name: &ServerName<'_>, _ocsp_response: &[u8], _now: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::sync::mpsc;
    use std::thread::JoinHandle;

    use super::*;

    const LIMIT: usize = 1 << 20;
    const LONG: Duration = Duration::from_secs(10);

    /// Runs `test` on a glommio executor of its own (on this thread).
    fn run<T>(test: impl std::future::Future<Output = T>) -> T {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(test)
    }

    /// A server thread on 127.0.0.1:0 running `serve`; returns the port it listens on.
    fn server<T: Send + 'static>(serve: impl FnOnce(TcpListener) -> T + Send + 'static) -> (u16, JoinHandle<T>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        (port, std::thread::spawn(move || serve(listener)))
    }

    fn accept(listener: &TcpListener) -> StdStream {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_read_timeout(Some(LONG)).expect("timeout");
        stream
    }

    /// One request head, or None when the client closed (or broke) the connection first.
    fn read_request(stream: &mut impl Read) -> Option<String> {
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        Some(String::from_utf8_lossy(&head).into_owned())
    }

    /// Serves one connection: each response in turn, each after reading a request.
    fn serve_one(listener: TcpListener, responses: Vec<Vec<u8>>) -> Vec<String> {
        let mut stream = accept(&listener);
        let mut requests = Vec::new();
        for response in responses {
            requests.push(read_request(&mut stream).expect("request"));
            stream.write_all(&response).expect("respond");
        }
        requests
    }

    fn client(port: u16) -> HttpClient {
        HttpClient::new("127.0.0.1".into(), port, None)
    }

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
    fn close_delimited_body_via_a_resolved_name() {
        let (port, thread) = server(|listener| {
            let mut stream = accept(&listener);
            read_request(&mut stream).expect("request");
            stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end").expect("respond");
        });
        // "localhost" goes through the resolver; ::1 (when it comes first) is refused and 127.0.0.1 tried next.
        let mut client = HttpClient::new("localhost".into(), port, None);
        let response = run(client.get("/metrics", &[], LONG, LIMIT)).expect("get");
        assert_eq!(response.body, b"until the end");
        assert!(!client.has_idle_connection(), "a close-delimited HTTP/1.0 response ends the connection");
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

    #[test]
    fn requests_go_over_a_unix_socket() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("daemon.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let thread = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let request = read_request(&mut stream);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]");
            request
        });
        let mut client = HttpClient::unix(path.clone(), "docker".into());
        let body = run(async { client.get("/containers/json", &[], LONG, LIMIT).await }).expect("over the socket").body;
        assert_eq!(body, b"[]");
        let request = thread.join().expect("server").expect("a request");
        assert!(request.starts_with("GET /containers/json HTTP/1.1\r\nHost: docker\r\n"), "{request}");
        let mut missing = HttpClient::unix(dir.path().join("absent.sock"), "docker".into());
        let error = run(async { missing.get("/", &[], LONG, LIMIT).await }).expect_err("no socket");
        assert!(error.to_string().contains("absent.sock"), "{error}");
    }

    fn http_proxy(port: u16, user: Option<(&str, &str)>, connect_headers: &[(&str, &str)]) -> Option<Arc<Proxy>> {
        Some(Arc::new(Proxy {
            kind: ProxyKind::Http,
            host: "127.0.0.1".into(),
            port,
            user: user.map(|(u, p)| (u.to_string(), p.to_string())),
            connect_headers: connect_headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }))
    }

    #[test]
    fn plain_requests_go_to_an_http_proxy_in_absolute_form() {
        // The target's name does not resolve here: only the proxy may look it up.
        let (port, thread) = server(|listener| serve_one(listener, vec![b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(), b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes".to_vec()]));
        let mut client = HttpClient::new("target.invalid".into(), 9100, None).with_proxy(http_proxy(port, Some(("scraper", "s3cret:x")), &[("X-Tunnel", "only-for-connect")]));
        let bodies = run(async {
            let first = client.get("/metrics?x=1", &[], LONG, LIMIT).await.expect("through the proxy").body;
            let second = client.get("/metrics", &[], LONG, LIMIT).await.expect("kept alive through the proxy").body;
            (first, second)
        });
        assert_eq!(bodies, (b"ok".to_vec(), b"yes".to_vec()));
        let requests = thread.join().expect("proxy");
        assert!(requests[0].starts_with("GET http://target.invalid:9100/metrics?x=1 HTTP/1.1\r\n"), "{}", requests[0]);
        assert!(requests[0].contains("\r\nHost: target.invalid:9100\r\n"), "{}", requests[0]);
        // base64("scraper:s3cret:x")
        assert!(requests[0].contains("\r\nProxy-Authorization: Basic c2NyYXBlcjpzM2NyZXQ6eA==\r\n"), "{}", requests[0]);
        assert!(!requests[0].contains("X-Tunnel"), "connect headers are for CONNECT only: {}", requests[0]);
        assert!(requests[1].starts_with("GET http://target.invalid:9100/metrics HTTP/1.1\r\n"), "{}", requests[1]);
    }

    #[test]
    fn an_unreachable_proxy_is_named() {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let mut client = HttpClient::new("target.invalid".into(), 80, None).with_proxy(http_proxy(port, None, &[]));
        let error = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect_err("nothing listens");
        assert!(matches!(error, ClientError::Proxy { .. }), "{error:?}");
        assert!(error.to_string().starts_with(&format!("proxy 127.0.0.1:{port}: cannot connect")), "{error}");
    }

    /// A SOCKS5 proxy that wants `user`/`password`, checks the target it is asked for,
    /// then answers the HTTP request itself. Returns the requested target and the request.
    fn socks5_server(listener: TcpListener, user: &str, password: &str) -> Result<(String, String), String> {
        let mut stream = accept(&listener);
        let mut greeting = [0u8; 2];
        stream.read_exact(&mut greeting).map_err(|e| e.to_string())?;
        let mut methods = vec![0u8; usize::from(greeting[1])];
        stream.read_exact(&mut methods).map_err(|e| e.to_string())?;
        if greeting[0] != 5 || !methods.contains(&2) {
            return Err(format!("greeting {greeting:?} {methods:?}"));
        }
        stream.write_all(&[5, 2]).map_err(|e| e.to_string())?;
        let mut length = [0u8; 2];
        stream.read_exact(&mut length).map_err(|e| e.to_string())?;
        let mut got_user = vec![0u8; usize::from(length[1])];
        stream.read_exact(&mut got_user).map_err(|e| e.to_string())?;
        stream.read_exact(&mut length[..1]).map_err(|e| e.to_string())?;
        let mut got_password = vec![0u8; usize::from(length[0])];
        stream.read_exact(&mut got_password).map_err(|e| e.to_string())?;
        if got_user != user.as_bytes() || got_password != password.as_bytes() {
            stream.write_all(&[1, 1]).map_err(|e| e.to_string())?;
            return Err("refused credentials".into());
        }
        stream.write_all(&[1, 0]).map_err(|e| e.to_string())?;
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).map_err(|e| e.to_string())?;
        if head[..4] != [5, 1, 0, 3] {
            return Err(format!("connect request {head:?}"));
        }
        let mut name = vec![0u8; usize::from(head[4]) + 2];
        stream.read_exact(&mut name).map_err(|e| e.to_string())?;
        let port = u16::from_be_bytes([name[name.len() - 2], name[name.len() - 1]]);
        let target = format!("{}:{port}", String::from_utf8_lossy(&name[..name.len() - 2]));
        // Bound to a domain name, as some proxies answer.
        stream.write_all(&[5, 0, 0, 3, 5, b'p', b'r', b'o', b'x', b'y', 0x04, 0x38]).map_err(|e| e.to_string())?;
        let request = read_request(&mut stream).ok_or("no request")?;
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsocks").map_err(|e| e.to_string())?;
        Ok((target, request))
    }

    /// A SOCKS5 proxy taking no authentication (`refuse`: it wants some, answering 0xff):
    /// it checks an IPv4 target, answers with an IPv4 bound address, then the HTTP request.
    fn socks5_open_server(listener: TcpListener, refuse: bool) -> Result<String, String> {
        let mut stream = accept(&listener);
        let mut greeting = [0u8; 3];
        stream.read_exact(&mut greeting).map_err(|e| e.to_string())?;
        if greeting != [5, 1, 0] {
            return Err(format!("greeting {greeting:?}"));
        }
        if refuse {
            stream.write_all(&[5, 0xff]).map_err(|e| e.to_string())?;
            return Ok(String::new());
        }
        stream.write_all(&[5, 0]).map_err(|e| e.to_string())?;
        let mut request = [0u8; 10];
        stream.read_exact(&mut request).map_err(|e| e.to_string())?;
        let target = format!("{}.{}.{}.{}:{}", request[4], request[5], request[6], request[7], u16::from_be_bytes([request[8], request[9]]));
        if request[..4] != [5, 1, 0, 1] {
            return Err(format!("connect request {request:?}"));
        }
        stream.write_all(&[5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90]).map_err(|e| e.to_string())?;
        read_request(&mut stream).ok_or("no request")?;
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nopen").map_err(|e| e.to_string())?;
        Ok(target)
    }

    #[test]
    fn a_socks5_proxy_without_authentication_connects_to_an_address() {
        let socks = |port: u16| Some(Arc::new(Proxy { kind: ProxyKind::Socks5, host: "127.0.0.1".into(), port, user: None, connect_headers: Vec::new() }));
        let (port, thread) = server(|listener| socks5_open_server(listener, false));
        // An IPv4-mapped IPv6 address is sent as IPv4.
        let mut client = HttpClient::new("::ffff:10.1.2.3".into(), 9100, None).with_proxy(socks(port));
        let body = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect("through SOCKS5").body;
        assert_eq!(body, b"open");
        assert_eq!(thread.join().expect("proxy"), Ok("10.1.2.3:9100".to_string()));

        let (port, thread) = server(|listener| socks5_open_server(listener, true));
        let mut client = HttpClient::new("10.1.2.3".into(), 9100, None).with_proxy(socks(port));
        let error = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect_err("authentication wanted");
        assert_eq!(error.to_string(), format!("proxy 127.0.0.1:{port}: SOCKS5: the proxy requires authentication (give a user in proxy_url)"));
        assert_eq!(thread.join().expect("proxy"), Ok(String::new()));
        let proxy = Proxy { kind: ProxyKind::Http, host: "p".into(), port: 1, user: Some(("u".into(), "hunter2".into())), connect_headers: vec![("X-Key".into(), "secret-value".into())] };
        let shown = format!("{proxy:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("secret-value") && shown.contains("p:1"), "{shown}");
    }

    #[test]
    fn a_socks5_proxy_connects_by_name_with_a_password() {
        let socks = |port: u16, password: &str| {
            Some(Arc::new(Proxy { kind: ProxyKind::Socks5, host: "127.0.0.1".into(), port, user: Some(("scraper".into(), password.into())), connect_headers: Vec::new() }))
        };
        let (port, thread) = server(|listener| socks5_server(listener, "scraper", "right"));
        let mut client = HttpClient::new("target.invalid".into(), 9100, None).with_proxy(socks(port, "right"));
        let body = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect("through SOCKS5").body;
        assert_eq!(body, b"socks");
        let (target, request) = thread.join().expect("proxy").expect("handshake");
        assert_eq!(target, "target.invalid:9100");
        assert!(request.starts_with("GET /metrics HTTP/1.1\r\n") && !request.contains("Proxy-Authorization"), "{request}");

        let (port, thread) = server(|listener| socks5_server(listener, "scraper", "right"));
        let mut client = HttpClient::new("target.invalid".into(), 9100, None).with_proxy(socks(port, "wrong"));
        let error = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect_err("wrong password");
        assert!(error.to_string().contains("SOCKS5 authentication failed"), "{error}");
        assert_eq!(thread.join().expect("proxy"), Err("refused credentials".to_string()));
    }

    mod tls {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        use rustls::pki_types::PrivatePkcs8KeyDer;

        use super::*;

        struct Ca {
            cert: rcgen::Certificate,
            key: KeyPair,
        }

        fn ca(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(DnType::CommonName, name);
            let key = KeyPair::generate().expect("key");
            Ca { cert: params.self_signed(&key).expect("self-signed"), key }
        }

        fn leaf(ca: &Ca, sans: &[&str]) -> (rcgen::Certificate, KeyPair) {
            let params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
            let key = KeyPair::generate().expect("key");
            (params.signed_by(&key, &ca.cert, &ca.key).expect("signed"), key)
        }

        /// A blocking rustls server answering `connections` connections in turn (those whose
        /// handshake fails are skipped); returns how many got an answer.
        fn tls_server(ca: &Ca, connections: usize) -> (u16, JoinHandle<usize>) {
            tls_server_speaking(ca, connections, rustls::DEFAULT_VERSIONS)
        }

        /// A TLS server speaking only `versions`.
        fn tls_server_speaking(ca: &Ca, connections: usize, versions: &[&'static rustls::SupportedProtocolVersion]) -> (u16, JoinHandle<usize>) {
            let (cert, key) = leaf(ca, &["localhost", "127.0.0.1"]);
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_protocol_versions(versions)
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
                .expect("server config");
            let config = Arc::new(config);
            server(move |listener| {
                let mut answered = 0;
                for _ in 0..connections {
                    let socket = accept(&listener);
                    let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).expect("connection"), socket);
                    if read_request(&mut tls).is_none() {
                        continue;
                    }
                    if tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure").is_ok() {
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                        answered += 1;
                    }
                }
                answered
            })
        }

        /// An HTTP proxy answering one CONNECT with `answer`; after a 200 it relays bytes
        /// between the client and 127.0.0.1:`target_port`. Returns the CONNECT request.
        fn connect_proxy(target_port: u16, answer: &'static [u8]) -> (u16, JoinHandle<String>) {
            server(move |listener| {
                let mut client = accept(&listener);
                let request = read_request(&mut client).expect("CONNECT");
                client.write_all(answer).expect("answer");
                if answer.starts_with(b"HTTP/1.1 200") {
                    let upstream = StdStream::connect(("127.0.0.1", target_port)).expect("target");
                    let (mut from_client, mut to_upstream) = (client.try_clone().expect("clone"), upstream.try_clone().expect("clone"));
                    let forward = std::thread::spawn(move || std::io::copy(&mut from_client, &mut to_upstream));
                    let (mut from_upstream, mut to_client) = (upstream, client);
                    let _ = std::io::copy(&mut from_upstream, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                    let _ = forward.join();
                }
                request
            })
        }

        fn server_config(ca: &Ca) -> Arc<rustls::ServerConfig> {
            let (cert, key) = leaf(ca, &["localhost", "127.0.0.1"]);
            let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
                .expect("server config");
            Arc::new(config)
        }

        /// An `https://` proxy: TLS, then a plain request answered itself, or a CONNECT
        /// answered 200 after which it is the TLS target itself (TLS inside its TLS).
        /// Returns the request heads it read.
        fn tls_proxy(ca: &Ca) -> (u16, JoinHandle<Vec<String>>) {
            let config = server_config(ca);
            server(move |listener| {
                let mut seen = Vec::new();
                for _ in 0..2 {
                    let socket = accept(&listener);
                    let mut outer = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).expect("connection"), socket);
                    let Some(head) = read_request(&mut outer) else { continue };
                    seen.push(head.clone());
                    if head.starts_with("CONNECT ") {
                        outer.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").expect("200");
                        let mut inner = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).expect("connection"), outer);
                        if let Some(head) = read_request(&mut inner) {
                            seen.push(head);
                            let _ = inner.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\ntls inside tls");
                            inner.conn.send_close_notify();
                            let _ = inner.flush();
                        }
                    } else {
                        let _ = outer.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\nvia tls proxy");
                        outer.conn.send_close_notify();
                        let _ = outer.flush();
                    }
                }
                seen
            })
        }

        #[test]
        fn an_https_proxy_is_spoken_to_over_tls() {
            let dir = tempfile::tempdir().expect("tempdir");
            let authority = ca("https proxy CA");
            let ca_path = dir.path().join("ca.pem");
            std::fs::write(&ca_path, authority.cert.pem()).expect("write");
            let config = client_tls_config(Some(Pem::File(&ca_path)), None, false).expect("config");
            let (port, proxy_thread) = tls_proxy(&authority);
            let proxy = Some(Arc::new(Proxy { kind: ProxyKind::Https(ProxyTls(config.clone())), host: "localhost".into(), port, user: Some(("u".into(), "p".into())), connect_headers: Vec::new() }));
            let mut plain = HttpClient::new("target.invalid".into(), 9100, None).with_proxy(proxy.clone());
            let body = run(async { plain.get("/metrics", &[], LONG, LIMIT).await }).expect("plain target through the TLS proxy").body;
            assert_eq!(body, b"via tls proxy");
            let mut secure = HttpClient::new("localhost".into(), 8443, Some(ClientTls { config, server_name: None })).with_proxy(proxy);
            let body = run(async { secure.get("/metrics", &[], LONG, LIMIT).await }).expect("TLS target inside the TLS proxy").body;
            assert_eq!(body, b"tls inside tls");
            let seen = proxy_thread.join().expect("proxy");
            assert!(seen[0].starts_with("GET http://target.invalid:9100/metrics HTTP/1.1\r\n") && seen[0].contains("Proxy-Authorization: Basic dTpw"), "{seen:?}");
            assert!(seen[1].starts_with("CONNECT localhost:8443 HTTP/1.1\r\n") && seen[1].contains("Proxy-Authorization: Basic dTpw"), "{seen:?}");
            assert!(seen[2].starts_with("GET /metrics HTTP/1.1\r\n") && !seen[2].contains("Proxy-Authorization"), "{seen:?}");
        }

        #[test]
        fn tls_goes_through_an_http_proxy_tunnel() {
            let dir = tempfile::tempdir().expect("tempdir");
            let authority = ca("proxy test CA");
            let ca_path = dir.path().join("ca.pem");
            std::fs::write(&ca_path, authority.cert.pem()).expect("write");
            let config = client_tls_config(Some(Pem::File(&ca_path)), None, false).expect("config");
            let (target_port, target) = tls_server(&authority, 1);
            let (proxy_port, proxy) = connect_proxy(target_port, b"HTTP/1.1 200 Connection established\r\n\r\n");
            let mut client = HttpClient::new("localhost".into(), target_port, Some(ClientTls { config: config.clone(), server_name: None })).with_proxy(http_proxy(proxy_port, Some(("u", "p")), &[("X-Tunnel", "yes"), ("proxy-authorization", "Basic replaced")]));
            let body = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect("through the tunnel").body;
            assert_eq!(body, b"secure");
            let connect = proxy.join().expect("proxy");
            assert!(connect.starts_with(&format!("CONNECT localhost:{target_port} HTTP/1.1\r\nHost: localhost:{target_port}\r\n")), "{connect}");
            assert!(connect.contains("\r\nProxy-Authorization: Basic dTpw\r\n") && connect.contains("\r\nX-Tunnel: yes\r\n"), "{connect}");
            assert!(!connect.contains("replaced"), "the URL's credentials replace a configured Proxy-Authorization: {connect}");
            assert_eq!(target.join().expect("target"), 1);

            // A refused tunnel is an error naming the proxy and its answer.
            let (proxy_port, proxy) = connect_proxy(0, b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
            let mut client = HttpClient::new("localhost".into(), 8443, Some(ClientTls { config, server_name: None })).with_proxy(http_proxy(proxy_port, None, &[]));
            let error = run(async { client.get("/metrics", &[], LONG, LIMIT).await }).expect_err("refused");
            assert_eq!(error.to_string(), format!("proxy 127.0.0.1:{proxy_port}: CONNECT localhost:8443 answered 407 Proxy Authentication Required"));
            proxy.join().expect("proxy");
        }

        #[test]
        fn min_and_max_versions_are_kept() {
            let dir = tempfile::tempdir().expect("tempdir");
            let good = ca("versions CA");
            let ca_path = dir.path().join("ca.pem");
            std::fs::write(&ca_path, good.cert.pem()).expect("write");
            // A server speaking TLS 1.2 only: a client kept to 1.3 cannot talk to it, one
            // allowed 1.2 can.
            let (port, thread) = tls_server_speaking(&good, 2, &[&rustls::version::TLS12]);
            let get = |versions: TlsVersions| {
                let config = client_tls_config_with_versions(Some(Pem::File(&ca_path)), None, false, versions).expect("config");
                let mut client = HttpClient::new("127.0.0.1".into(), port, Some(ClientTls { config, server_name: None }));
                run(async move { client.get("/metrics", &[], LONG, LIMIT).await })
            };
            assert!(matches!(get(TlsVersions::Only13), Err(ClientError::Tls(_))), "TLS 1.3 only against a TLS 1.2 server");
            assert_eq!(get(TlsVersions::Only12).expect("TLS 1.2").body, b"secure");
            assert_eq!(thread.join().expect("server"), 1);
        }

        #[test]
        fn verified_refused_and_insecure() {
            let dir = tempfile::tempdir().expect("tempdir");
            let good = ca("client test CA");
            let other = ca("another CA");
            let good_path = dir.path().join("ca.pem");
            let other_path = dir.path().join("other.pem");
            std::fs::write(&good_path, good.cert.pem()).expect("write");
            std::fs::write(&other_path, other.cert.pem()).expect("write");
            let (port, thread) = tls_server(&good, 5);
            let trusting = client_tls_config(Some(Pem::File(&good_path)), None, false).expect("config");
            let good_pem = good.cert.pem();
            let trusting_inline = client_tls_config(Some(Pem::Inline { what: "ca", pem: good_pem.as_bytes() }), None, false).expect("inline config");
            let distrusting = client_tls_config(Some(Pem::File(&other_path)), None, false).expect("config");
            let insecure = client_tls_config(Some(Pem::File(&other_path)), None, true).expect("config");
            let get = |config: &Arc<ClientConfig>, server_name: Option<&str>| {
                let mut client = HttpClient::new("127.0.0.1".into(), port, Some(ClientTls { config: config.clone(), server_name: server_name.map(str::to_string) }));
                run(async move { client.get("/metrics", &[], LONG, LIMIT).await })
            };
            assert_eq!(get(&trusting, None).expect("IP SAN verified").body, b"secure");
            assert_eq!(get(&trusting, Some("localhost")).expect("server_name verified").body, b"secure");
            match get(&distrusting, None) {
                Err(error @ ClientError::Tls(_)) => assert!(error.to_string().contains("certificate"), "{error}"),
                other => panic!("expected a TLS error, got {other:?}"),
            }
            assert_eq!(get(&insecure, Some("wrong.example")).expect("insecure_skip_verify").body, b"secure");
            assert_eq!(get(&trusting_inline, None).expect("inline CA verified").body, b"secure");
            assert_eq!(thread.join().expect("server"), 4);
            let error = client_tls_config(Some(Pem::Inline { what: "ca", pem: b"not PEM" }), None, false).expect_err("no certificate inline");
            assert_eq!(error, "ca holds no PEM certificate");
        }

        #[test]
        fn config_errors_name_the_file() {
            let dir = tempfile::tempdir().expect("tempdir");
            let missing = dir.path().join("missing-ca.pem");
            let error = client_tls_config(Some(Pem::File(&missing)), None, false).expect_err("missing file");
            assert!(error.contains(&missing.display().to_string()), "{error}");
            let empty = dir.path().join("empty.pem");
            std::fs::write(&empty, "not a certificate\n").expect("write");
            let error = client_tls_config(Some(Pem::File(&empty)), None, false).expect_err("no certificate");
            assert!(error.contains(&empty.display().to_string()) && error.contains("no PEM certificate"), "{error}");

            let authority = ca("client test CA");
            let (cert, key) = leaf(&authority, &["scraper"]);
            let (cert_path, key_path) = (dir.path().join("client.crt"), dir.path().join("client.key"));
            std::fs::write(&cert_path, cert.pem()).expect("write");
            std::fs::write(&key_path, key.serialize_pem()).expect("write");
            let config = client_tls_config(None, Some((Pem::File(&cert_path), Pem::File(&key_path))), false).expect("client certificate loads");
            assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
            let error = client_tls_config(None, Some((Pem::File(&cert_path), Pem::File(&missing))), false).expect_err("missing key");
            assert!(error.contains("key_file") && error.contains(&missing.display().to_string()), "{error}");
            assert!(cert_and_key_pair(Some(&cert_path), None).expect_err("cert without key").contains("without key_file"));
            assert_eq!(cert_and_key_pair(None, None), Ok(None));
        }
    }
}
