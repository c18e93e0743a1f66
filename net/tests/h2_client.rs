//! The client in HTTP/2: against this crate's own TLS server (which chooses `h2` by ALPN when
//! offered), a client offering `h2` (`client::with_http2`) speaks HTTP/2 and keeps the
//! connection for the next request, gets gzip bodies undone and bodies over the limit
//! refused; without the offer it speaks HTTP/1.1 to the same server.

use std::io::Write;
use std::path::Path;
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::time::Duration;

mod common;

use bytes::Bytes;
use net::client::{client_tls_config, with_http2, ClientError, ClientTls, HttpClient, Pem};
use net::{ConnectionStats, Handler, ResponseFuture, ServerLimits, TlsSettings, TlsVersion};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const LONG: Duration = Duration::from_secs(10);

/// Answers with the request's version, method, path, `accept-encoding` and body length;
/// `/gzip` gzip-compressed, `/big` 100 KiB.
struct Echo;

impl Handler for Echo {
    fn handle(self: Rc<Self>, request: http::Request<Bytes>) -> ResponseFuture {
        Box::pin(async move {
            let accept = request.headers().get("accept-encoding").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let custom = request.headers().get("x-scrape").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let text = format!("{:?} {} {} accept={accept} x-scrape={custom} body={}", request.version(), request.method(), request.uri().path(), request.body().len());
            match request.uri().path() {
                "/gzip" => {
                    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    encoder.write_all(text.as_bytes()).expect("gzip");
                    let body = encoder.finish().expect("gzip");
                    http::Response::builder().header("content-encoding", "gzip").body(Bytes::from(body)).expect("response")
                }
                "/big" => http::Response::new(Bytes::from(vec![b'x'; 100 << 10])),
                "/large" => http::Response::new(Bytes::from(vec![b'y'; 10 << 20])),
                _ => http::Response::new(Bytes::from(text)),
            }
        })
    }
}

fn test_ca() -> (rcgen::Certificate, KeyPair) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "h2 client test CA");
    let key = KeyPair::generate().expect("key");
    (params.self_signed(&key).expect("self-signed"), key)
}

/// This crate's server with TLS on 127.0.0.1:0, on a thread of its own.
fn start(dir: &Path) -> (u16, async_channel::Sender<()>, std::thread::JoinHandle<()>, String) {
    start_with(dir, ServerLimits { header_read_timeout_ms: 3_000, ..ServerLimits::default() }, Default::default())
}

/// As `start`, with `limits`, counting connections in `stats`.
fn start_with(dir: &Path, limits: ServerLimits, stats: Arc<ConnectionStats>) -> (u16, async_channel::Sender<()>, std::thread::JoinHandle<()>, String) {
    let (ca, ca_key) = test_ca();
    let params = CertificateParams::new(vec!["localhost".to_string()]).expect("params");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca, &ca_key).expect("signed");
    std::fs::write(dir.join("server.crt"), cert.pem()).expect("write");
    std::fs::write(dir.join("server.key"), key.serialize_pem()).expect("write");
    let settings = TlsSettings { cert_file: dir.join("server.crt"), key_file: dir.join("server.key"), ca_file: None, crl_file: None, require_client_cert: false, min_version: TlsVersion::Tls12 };
    let (addr_tx, addr_rx) = mpsc::channel();
    let (shutdown_tx, shutdown_rx) = async_channel::bounded::<()>(1);
    let thread = common::serve_tls_on_thread(|| Echo, limits, settings, stats, shutdown_rx, addr_tx);
    let port = addr_rx.recv_timeout(Duration::from_secs(30)).expect("started").port();
    (port, shutdown_tx, thread, ca.pem())
}

fn run<T>(test: impl std::future::Future<Output = T>) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(test)
}

#[test]
fn a_client_offering_h2_speaks_http2_and_keeps_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, shutdown, thread, ca_pem) = start(dir.path());
    let config = client_tls_config(Some(Pem::Inline { what: "ca", pem: ca_pem.as_bytes() }), None, false).expect("client config");
    let headers = [("X-Scrape".to_string(), "yes".to_string()), ("Connection".to_string(), "keep-alive".to_string())];
    let (h2_answers, h2_kept, gzip, too_big, posted, h1_answer) = run(async {
        let mut h2 = HttpClient::new("localhost".into(), port, Some(ClientTls { config: with_http2(&config), server_name: None }));
        let first = h2.get("/metrics", &headers, LONG, 1 << 20).await.expect("first");
        let second = h2.get("/again", &[], LONG, 1 << 20).await.expect("second");
        let kept = h2.has_idle_connection();
        let gzip = h2.get("/gzip", &[], LONG, 1 << 20).await.expect("gzip");
        let too_big = h2.get("/big", &[], LONG, 1 << 10).await;
        // Past both receive windows: their updates keep it flowing.
        let large = h2.get("/large", &[], LONG, 16 << 20).await.expect("large").body;
        assert!(large.len() == 10 << 20 && large.iter().all(|&b| b == b'y'), "{} bytes", large.len());
        let posted = h2.post("/token", &[("Content-Type".into(), "text/plain".into())], b"grant", LONG, 1 << 20).await.expect("post");
        let mut h1 = HttpClient::new("localhost".into(), port, Some(ClientTls { config: config.clone(), server_name: None }));
        let plain = h1.get("/metrics", &[], LONG, 1 << 20).await.expect("http/1.1");
        (
            [first, second].map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned())),
            kept,
            (gzip.headers.get("content-encoding").is_none(), String::from_utf8_lossy(&gzip.body).into_owned()),
            too_big,
            String::from_utf8_lossy(&posted.body).into_owned(),
            String::from_utf8_lossy(&plain.body).into_owned(),
        )
    });
    drop(shutdown);
    thread.join().expect("server");
    assert_eq!(h2_answers[0], (200, "HTTP/2.0 GET /metrics accept=gzip x-scrape=yes body=0".to_string()), "HTTP/2, our headers sent (Connection left out)");
    assert_eq!(h2_answers[1].1, "HTTP/2.0 GET /again accept=gzip x-scrape= body=0");
    assert!(h2_kept, "the HTTP/2 connection is kept");
    assert_eq!(gzip, (true, "HTTP/2.0 GET /gzip accept=gzip x-scrape= body=0".to_string()), "gzip undone");
    assert!(matches!(too_big, Err(ClientError::BodyTooLarge { .. })), "{too_big:?}");
    assert_eq!(posted, "HTTP/2.0 POST /token accept=gzip x-scrape= body=5");
    assert_eq!(h1_answer, "HTTP/1.1 GET /metrics accept=gzip x-scrape= body=0", "no offer, no HTTP/2");
}

#[test]
fn a_kept_http2_connection_the_server_closed_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stats: Arc<ConnectionStats> = Default::default();
    let idle = Duration::from_millis(300);
    let limits = ServerLimits { header_read_timeout_ms: 3_000, idle_timeout_ms: idle.as_millis() as u64, ..ServerLimits::default() };
    let (port, shutdown, thread, ca_pem) = start_with(dir.path(), limits, stats.clone());
    let config = client_tls_config(Some(Pem::Inline { what: "ca", pem: ca_pem.as_bytes() }), None, false).expect("client config");
    let answers = run(async {
        let mut client = HttpClient::new("localhost".into(), port, Some(ClientTls { config: with_http2(&config), server_name: None }));
        let first = client.get("/one", &[], LONG, 1 << 20).await.expect("first");
        // The server ends the idle connection (GOAWAY) after its idle timeout.
        glommio::timer::sleep(idle * 3).await;
        let second = client.get("/two", &[], LONG, 1 << 20).await.expect("second, on a new connection");
        [first, second].map(|r| String::from_utf8_lossy(&r.body).into_owned())
    });
    drop(shutdown);
    thread.join().expect("server");
    assert_eq!(answers, ["HTTP/2.0 GET /one accept=gzip x-scrape= body=0", "HTTP/2.0 GET /two accept=gzip x-scrape= body=0"]);
    assert_eq!(stats.accepted.get(), 2, "a second connection");
}
