//! Proxies between the client and its target (Prometheus' `proxy_url`): [`Proxy`] and what
//! it speaks, an HTTP proxy's `CONNECT` tunnel (with `proxy_connect_header`) and the SOCKS5
//! handshake (RFC 1928, RFC 1929 username/password). The absolute-form request a plain
//! target gets through an HTTP proxy is written with the rest of the request head.

use std::net::IpAddr;
use std::sync::Arc;

use glommio::net::TcpStream;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::conn::Conn;
use super::response::{SinkFn, Wire};
use super::{ClientError, HttpClient};
use crate::io_adapter::TokioIo;

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

    pub(super) fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        self.user.as_ref().map(|(user, password)| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))))
    }

    pub(super) fn error(&self, message: impl Into<String>) -> ClientError {
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

impl HttpClient {
    /// Asks an HTTP proxy for a tunnel to the target (`CONNECT host:port`, with the proxy's
    /// credentials and `proxy_connect_header`); any status but 200 is an error naming it.
    pub(super) async fn http_connect(&self, proxy: &Proxy, mut conn: Conn) -> Result<Conn, ClientError> {
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
    pub(super) async fn socks5_connect(&self, proxy: &Proxy, stream: TcpStream) -> Result<TcpStream, ClientError> {
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
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream as StdStream};
    use std::thread::JoinHandle;

    use rustls::pki_types::PrivatePkcs8KeyDer;

    use super::super::test_support::{accept, ca_in, leaf, read_request, run, serve_one, server, tls_server, Ca, LIMIT, LONG};
    use super::super::{client_tls_config, ClientTls, Pem};
    use super::*;

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
        let (authority, ca_path) = ca_in(dir.path(), "https proxy CA");
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
        let (authority, ca_path) = ca_in(dir.path(), "proxy test CA");
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
}
