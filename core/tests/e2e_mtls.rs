//! mTLS end to end with the real binary: `metricstor certs` makes the PKI; an agent's
//! certificate may write but not query, a dashboard's may query but not write, an unknown
//! identity is refused with 403 and a client without a certificate cannot connect.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::*;

fn tls_config(pki: &Path, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(pki.join(format!("{name}.crt"))).unwrap().collect::<Result<_, _>>().unwrap();
            let key = PrivateKeyDer::from_pem_file(pki.join(format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

fn tls_agent(pki: &Path, client: Option<&str>) -> ureq::Agent {
    ureq::AgentBuilder::new().tls_config(tls_config(pki, client)).timeout(Duration::from_secs(20)).build()
}

/// Sends `request` over TLS as `client` and reads until the server closes (bounded).
fn tls_exchange(pki: &Path, client: &str, addr: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(tls_config(pki, Some(client)), name).unwrap();
    let socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Ends at the close (clean or not) or the read timeout.
    while let Ok(n) = tls.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(result: Result<ureq::Response, ureq::Error>) -> Result<(u16, String), String> {
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Ok((r.status(), r.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn client_identities_are_authorized_per_action() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_metricstor"))
        .args(["certs", "--out"])
        .arg(&pki)
        .args(["--client", "agent", "--client", "dashboard", "--client", "stranger"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 2\nstorage:\n  data_dir: {}\ntls:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n  ca_file: {p}/ca.crt\n  require_client_cert: true\n  write_allowed_sans: [agent]\n  read_allowed_sans: [dashboard]\n",
            dir.path().join("data").display(),
            p = pki.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let base = format!("https://{}", server.http_addr);
    let body = v1_request(&[(vec![("__name__", "mtls_metric"), ("job", "x")], vec![(1_000_000, 42.0)])]);
    let write = |client: Option<&str>| {
        status_of(
            tls_agent(&pki, client)
                .post(&format!("{base}/api/v1/write"))
                .set("Content-Type", "application/x-protobuf")
                .set("Content-Encoding", "snappy")
                .send_bytes(&body),
        )
    };
    let query = |client: Option<&str>| status_of(tls_agent(&pki, client).get(&format!("{base}/api/v1/query?query=mtls_metric&time=1000")).call());

    assert_eq!(write(Some("agent")).unwrap().0, 204);
    let (status, text) = query(Some("agent")).unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not allowed to read") && text.contains("agent"), "{text}");
    let (status, text) = query(Some("dashboard")).unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"42\""), "{text}");
    let (status, text) = write(Some("dashboard")).unwrap();
    assert_eq!(status, 403, "{text}");
    assert_eq!(query(Some("stranger")).unwrap().0, 403);
    // OTLP metrics (both paths) are writes too: an empty export is a 200 for the writer only.
    for path in ["/api/v1/otlp/v1/metrics", "/opentelemetry/v1/metrics"] {
        let otlp = |client: Option<&str>| status_of(tls_agent(&pki, client).post(&format!("{base}{path}")).set("Content-Type", "application/x-protobuf").send_bytes(&[]));
        assert_eq!(otlp(Some("agent")).unwrap().0, 200, "{path}");
        let (status, text) = otlp(Some("dashboard")).unwrap();
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("not allowed to write"), "{text}");
    }
    // InfluxDB line-protocol writes too; `/ping` and `/query` (a fixed answer) are open to
    // any verified client, as `/-/healthy` is.
    for path in ["/write", "/api/v2/write"] {
        let influx = |client: Option<&str>| status_of(tls_agent(&pki, client).post(&format!("{base}{path}")).send_string("mtls_influx v=1 1000000\n"));
        assert_eq!(influx(Some("agent")).unwrap().0, 204, "{path}");
        let (status, text) = influx(Some("dashboard")).unwrap();
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("not allowed to write"), "{text}");
    }
    assert_eq!(status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/ping")).call()).unwrap().0, 204);
    assert_eq!(status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/query?q=SHOW+DATABASES")).call()).unwrap().0, 200);
    assert!(query(None).is_err(), "a client without a certificate must not get an answer");
    // Plain HTTP on the TLS port gets no HTTP answer either.
    let plain = raw_exchange(&server.http_addr, b"GET /-/healthy HTTP/1.1\r\n\r\n", Duration::from_secs(5));
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
    // Imports take their body streamed, past the whole-body path, yet pass the same check.
    let import = |client: Option<&str>, path: &str, body: &str| status_of(tls_agent(&pki, client).post(&format!("{base}{path}")).send_string(body));
    let line = "{\"metric\":{\"__name__\":\"mtls_imported\"},\"values\":[7],\"timestamps\":[1000000]}\n";
    assert_eq!(import(Some("agent"), "/api/v1/import", line).unwrap().0, 204);
    let (status, text) = import(Some("dashboard"), "/api/v1/import", line).unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not allowed to write") && text.contains("dashboard"), "{text}");
    assert_eq!(import(Some("stranger"), "/api/v1/import/prometheus", "mtls_text 1 1000000\n").unwrap().0, 403);
    let (_, text) = status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/api/v1/query?query=mtls_imported&time=1000")).call()).unwrap();
    assert!(text.contains("\"7\""), "{text}");
    // A refused client that waits for `100 Continue` gets its 403 instead, before uploading
    // (the 100 MB body is never sent), and the connection closes.
    let answer = tls_exchange(
        &pki,
        "dashboard",
        &server.http_addr,
        b"POST /api/v1/import HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 403") && !answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("not allowed to write"), "{answer}");
    let (_, metrics) = status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/metrics")).call()).unwrap();
    assert!(metrics.contains("metricstor_authz_denied_total{action=\"write\"} 8"), "{metrics}");
    assert!(metrics.contains("metricstor_authz_denied_total{action=\"read\"} 2"), "{metrics}");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("metricstor_tls_handshake_failures_total "))
        .and_then(|v| v.parse().ok())
        .expect("handshake failure counter");
    assert!(failures >= 2, "no-certificate and plaintext clients are counted: {failures}");
    // SIGHUP asks for a TLS reload; the server keeps serving.
    server.signal(libc::SIGHUP);
    assert_eq!(query(Some("dashboard")).unwrap().0, 200);
    assert!(server.stop());
}
