//! One connection's socket ([`Conn`]: plain TCP, a Unix socket, TLS over either, or TLS inside an
//! `https://` proxy's TLS; whether its TLS chose HTTP/2) and opening it: resolving the host, connecting to each of its
//! addresses in turn within the deadline, reaching the target through a proxy, and the
//! TLS handshake.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use glommio::net::TcpStream;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{ClientError, ClientTls, HttpClient, ProxyKind, ProxyTls};
use crate::io_adapter::TokioIo;

/// The socket of one connection, with or without TLS.
pub(super) enum Conn {
    Plain(TokioIo<TcpStream>),
    Unix(TokioIo<glommio::net::UnixStream>),
    TlsUnix(Box<tokio_rustls::client::TlsStream<TokioIo<glommio::net::UnixStream>>>),
    Tls(Box<tokio_rustls::client::TlsStream<TokioIo<TcpStream>>>),
    /// TLS to the target inside a `CONNECT` tunnel through an `https://` proxy.
    TlsInTls(Box<tokio_rustls::client::TlsStream<tokio_rustls::client::TlsStream<TokioIo<TcpStream>>>>),
}

impl Conn {
    /// Whether the TLS handshake chose HTTP/2 (ALPN `h2`).
    pub(super) fn speaks_h2(&self) -> bool {
        let chose = |protocol: Option<&[u8]>| protocol == Some(b"h2".as_slice());
        match self {
            Conn::Tls(stream) => chose(stream.get_ref().1.alpn_protocol()),
            Conn::TlsInTls(stream) => chose(stream.get_ref().1.alpn_protocol()),
            Conn::TlsUnix(stream) => chose(stream.get_ref().1.alpn_protocol()),
            Conn::Plain(_) | Conn::Unix(_) => false,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Conn::Unix(stream) => Pin::new(stream).poll_read(cx, buf),
            Conn::TlsUnix(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
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
            Conn::TlsUnix(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Conn::Unix(stream) => Pin::new(stream).poll_flush(cx),
            Conn::TlsUnix(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Conn::Unix(stream) => Pin::new(stream).poll_shutdown(cx),
            Conn::TlsUnix(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            Conn::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            Conn::TlsInTls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}

impl HttpClient {
    /// Connects (to the proxy, if any, which then reaches the target) and does the TLS
    /// handshake if configured.
    pub(super) async fn open(&self, deadline: Instant) -> Result<Conn, ClientError> {
        if let Some(path) = &self.unix_socket {
            self.phase.set("connecting to the Unix socket");
            let stream = TokioIo(glommio::net::UnixStream::connect(path).await.map_err(|e| ClientError::Connect { message: format!("{}: {e}", path.display()) })?);
            return match &self.tls {
                None => Ok(Conn::Unix(stream)),
                Some(tls) => Ok(Conn::TlsUnix(Box::new(self.tls_handshake(tls, stream).await?))),
            };
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
        match conn {
            Conn::Plain(io) => Ok(Conn::Tls(Box::new(self.tls_handshake(tls, io).await?))),
            Conn::Tls(to_proxy) => Ok(Conn::TlsInTls(Box::new(self.tls_handshake(tls, *to_proxy).await?))),
            Conn::Unix(_) | Conn::TlsUnix(_) | Conn::TlsInTls(_) => Err(ClientError::Tls("unexpected connection kind".into())),
        }
    }

    /// The TLS handshake with the target over `io`, naming it by `tls.server_name` or else
    /// the host.
    async fn tls_handshake<IO: AsyncRead + AsyncWrite + Unpin>(&self, tls: &ClientTls, io: IO) -> Result<tokio_rustls::client::TlsStream<IO>, ClientError> {
        self.phase.set("in the TLS handshake");
        let name = tls.server_name.clone().unwrap_or_else(|| self.host.clone());
        let server_name = ServerName::try_from(name.clone()).map_err(|_| ClientError::Tls(format!("invalid server name {name:?}")))?;
        let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
        connector.connect(server_name, io).await.map_err(|e| ClientError::Tls(format!("handshake with {name} failed: {e}")))
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
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::test_support::{accept, read_request, run, server, LIMIT, LONG};
    use super::*;

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

    #[test]
    fn tls_and_plain_http_go_over_a_unix_socket_past_the_proxy() {
        use std::sync::Arc;

        use super::super::test_support::{ca_in, server_config};
        use super::super::{client_tls_config, Pem, Proxy};

        let dir = tempfile::tempdir().expect("tempdir");
        let (authority, ca_path) = ca_in(dir.path(), "unix socket CA");
        let server_config = server_config(&authority, &["localhost"], rustls::DEFAULT_VERSIONS);
        let path = dir.path().join("exporter.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        // The first connection speaks TLS, the second plain HTTP; each request head is kept.
        let thread = std::thread::spawn(move || {
            let (socket, _) = listener.accept().expect("accept");
            let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(server_config).expect("connection"), socket);
            let secure = read_request(&mut tls);
            let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure");
            tls.conn.send_close_notify();
            let _ = tls.flush();
            let (mut socket, _) = listener.accept().expect("accept");
            let plain = read_request(&mut socket);
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain");
            (secure, plain)
        });
        // A proxy nothing listens for: were it used, the requests would fail.
        let proxy = Some(Arc::new(Proxy { kind: ProxyKind::Http, host: "127.0.0.1".into(), port: 9, user: None, connect_headers: Vec::new() }));
        let config = client_tls_config(Some(Pem::File(&ca_path)), None, false).expect("config");
        let mut secure = HttpClient::new("localhost".into(), 9100, Some(ClientTls { config, server_name: None })).with_proxy(proxy.clone()).over_unix_socket(Some(path.clone()));
        assert_eq!(secure.unix_socket(), Some(path.as_path()));
        assert_eq!(run(secure.get("/metrics", &[], LONG, LIMIT)).expect("TLS over the socket, verified as localhost").body, b"secure");
        let mut plain = HttpClient::new("localhost".into(), 9100, None).with_proxy(proxy).over_unix_socket(Some(path));
        assert_eq!(run(plain.get("/metrics", &[], LONG, LIMIT)).expect("plain HTTP over the socket").body, b"plain");
        let (secure_head, plain_head) = thread.join().expect("server");
        for head in [secure_head.expect("a TLS request"), plain_head.expect("a plain request")] {
            // Origin form (not a proxy's absolute form), the Host header from the address.
            assert!(head.starts_with("GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\n"), "{head}");
        }
        assert!(HttpClient::new("localhost".into(), 80, None).over_unix_socket(None).unix_socket().is_none());
    }
}
