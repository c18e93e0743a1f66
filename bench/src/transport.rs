//! The write transports, one connection per sender thread with one request in flight:
//! HTTP/1.1 keep-alive (ureq, the default) or HTTP/2 (`h2` on a single-threaded tokio
//! runtime: prior-knowledge h2c on http://, ALPN `h2` on https://). Every answer is
//! classified as accepted (with the remote_write written-count headers when the server sends
//! them), rejected (429/503: back-pressure) or failed; nothing panics on what the server sends.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rustls::ClientConfig;

/// How long one request may take before it counts as failed.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes of an error answer kept for the report.
const ERROR_BODY_BYTES_MAX: usize = 512;

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub url: String,
}

pub fn parse_url(url: &str) -> Result<Target, String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!("{url:?}: only http:// and https:// URLs"));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| format!("{url:?}: unclosed '['"))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("{url:?}: bad port {p:?}"))?,
        None if https => 443,
        None => 80,
    };
    Ok(Target { https, host: host.to_string(), port, url: url.to_string() })
}

/// What a server says it stored of an accepted request (`X-Prometheus-Remote-Write-*-Written`;
/// remote_write 2.0 servers send them, Prometheus 2.x does not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub samples: Option<u64>,
    pub histograms: Option<u64>,
}

impl Written {
    fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Written {
        let number = |name| header(name).and_then(|v| v.trim().parse().ok());
        Written { samples: number(proto::SAMPLES_WRITTEN_HEADER), histograms: number(proto::HISTOGRAMS_WRITTEN_HEADER) }
    }
}

/// What became of one request.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted(Written),
    /// 429 or 503: the server asks the sender to slow down.
    Rejected(u16),
    Failed(String),
}

fn classify(status: u16, body: &str, written: Written) -> Outcome {
    match status {
        200..=299 => Outcome::Accepted(written),
        429 | 503 => Outcome::Rejected(status),
        _ => Outcome::Failed(format!("HTTP {status}: {}", body.trim())),
    }
}

/// The remote_write headers of a run.
#[derive(Clone, Copy)]
pub struct WriteHeaders {
    pub content_type: &'static str,
    pub version: &'static str,
}

pub enum Sender {
    Http1 { agent: ureq::Agent, url: String },
    Http2(H2Sender),
}

impl Sender {
    pub fn new(target: &Target, http2: bool, tls: Option<Arc<ClientConfig>>) -> Result<Sender, String> {
        if http2 {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
                .map_err(|e| format!("cannot start the HTTP/2 runtime: {e}"))?;
            return Ok(Sender::Http2(H2Sender { runtime, target: target.clone(), tls, connection: None }));
        }
        let mut builder = ureq::AgentBuilder::new().timeout(REQUEST_TIMEOUT).max_idle_connections_per_host(1);
        if let Some(tls) = tls {
            builder = builder.tls_config(tls);
        }
        Ok(Sender::Http1 { agent: builder.build(), url: target.url.clone() })
    }

    pub fn post(&mut self, body: &Bytes, headers: WriteHeaders) -> Outcome {
        match self {
            Sender::Http1 { agent, url } => {
                let result = agent
                    .post(url)
                    .set("Content-Type", headers.content_type)
                    .set("Content-Encoding", "snappy")
                    .set("X-Prometheus-Remote-Write-Version", headers.version)
                    .send_bytes(body);
                match result {
                    Ok(response) => {
                        // Reading the answer to its end returns the connection for keep-alive.
                        let status = response.status();
                        let written = Written::from_headers(|name| response.header(name));
                        let text = read_limited(response);
                        classify(status, &text, written)
                    }
                    Err(ureq::Error::Status(status, response)) => classify(status, &read_limited(response), Written::default()),
                    Err(e) => Outcome::Failed(e.to_string()),
                }
            }
            Sender::Http2(h2) => h2.post(body.clone(), headers),
        }
    }
}

fn read_limited(response: ureq::Response) -> String {
    let mut text = Vec::new();
    let mut reader = response.into_reader();
    let _ = reader.by_ref().take(ERROR_BODY_BYTES_MAX as u64).read_to_end(&mut text);
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    String::from_utf8_lossy(&text).into_owned()
}

/// One HTTP/2 connection, re-established after a failure.
pub struct H2Sender {
    runtime: tokio::runtime::Runtime,
    target: Target,
    tls: Option<Arc<ClientConfig>>,
    connection: Option<h2::client::SendRequest<Bytes>>,
}

impl H2Sender {
    fn post(&mut self, body: Bytes, headers: WriteHeaders) -> Outcome {
        let H2Sender { runtime, target, tls, connection } = self;
        runtime.block_on(async {
            let send = match connection {
                Some(send) => send.clone(),
                None => match h2_connect(target, tls.as_ref()).await {
                    Ok(send) => connection.insert(send).clone(),
                    Err(e) => return Outcome::Failed(e),
                },
            };
            match tokio::time::timeout(REQUEST_TIMEOUT, h2_request(send, &target.url, body, headers)).await {
                Ok(Ok((status, text, written))) => classify(status, &text, written),
                Ok(Err(e)) => {
                    *connection = None;
                    Outcome::Failed(e)
                }
                Err(_) => {
                    *connection = None;
                    Outcome::Failed(format!("no answer within {REQUEST_TIMEOUT:?}"))
                }
            }
        })
    }
}

async fn h2_connect(target: &Target, tls: Option<&Arc<ClientConfig>>) -> Result<h2::client::SendRequest<Bytes>, String> {
    let tcp = tokio::net::TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connect {}:{}: {e}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    let handshake_error = |e: h2::Error| format!("HTTP/2 handshake: {e}");
    if !target.https {
        let (send, connection) = h2::client::handshake(tcp).await.map_err(handshake_error)?;
        tokio::spawn(connection);
        return Ok(send);
    }
    let tls = tls.ok_or("https needs --ca-file")?;
    let name = rustls::pki_types::ServerName::try_from(target.host.clone()).map_err(|e| format!("server name {:?}: {e}", target.host))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await.map_err(|e| format!("TLS handshake: {e}"))?;
    if stream.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err("the server did not negotiate HTTP/2 (ALPN h2)".into());
    }
    let (send, connection) = h2::client::handshake(stream).await.map_err(handshake_error)?;
    tokio::spawn(connection);
    Ok(send)
}

async fn h2_request(send: h2::client::SendRequest<Bytes>, url: &str, body: Bytes, headers: WriteHeaders) -> Result<(u16, String, Written), String> {
    let h2_error = |e: h2::Error| format!("HTTP/2: {e}");
    let mut send = send.ready().await.map_err(h2_error)?;
    let request = http::Request::post(url)
        .header("content-type", headers.content_type)
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", headers.version)
        .body(())
        .map_err(|e| format!("bad request: {e}"))?;
    let (response, mut stream) = send.send_request(request, false).map_err(h2_error)?;
    stream.send_data(body, true).map_err(h2_error)?;
    let response = response.await.map_err(h2_error)?;
    let status = response.status().as_u16();
    let written = Written::from_headers(|name| response.headers().get(name).and_then(|v| v.to_str().ok()));
    let mut recv = response.into_body();
    let mut text = Vec::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.map_err(h2_error)?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        let room = ERROR_BODY_BYTES_MAX.saturating_sub(text.len());
        text.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok((status, String::from_utf8_lossy(&text).into_owned(), written))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = parse_url("http://127.0.0.1:9101/api/v1/write").unwrap();
        assert_eq!((t.https, t.host.as_str(), t.port), (false, "127.0.0.1", 9101));
        let t = parse_url("https://[::1]/api/v1/write").unwrap();
        assert_eq!((t.https, t.host.as_str(), t.port), (true, "::1", 443));
        let t = parse_url("http://localhost?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("localhost", 80));
        for bad in ["ftp://x", "http://", "http://h:port/", "https://[::1/x"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn outcomes() {
        let none = Written::default();
        assert_eq!(classify(204, "", none), Outcome::Accepted(none));
        assert_eq!(classify(429, "slow down", none), Outcome::Rejected(429));
        assert_eq!(classify(503, "", none), Outcome::Rejected(503));
        assert_eq!(classify(400, "bad\n", none), Outcome::Failed("HTTP 400: bad".into()));
        let headers = [("X-Prometheus-Remote-Write-Samples-Written", "7"), ("X-Prometheus-Remote-Write-Histograms-Written", " 2")];
        let written = Written::from_headers(|name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v));
        assert_eq!(written, Written { samples: Some(7), histograms: Some(2) });
        assert_eq!(Written::from_headers(|_| Some("x")), none, "unparsable counts are absent");
    }
}
