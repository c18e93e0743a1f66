//! curl (built with nghttp2) against the real binary: HTTP/2 with prior knowledge on the
//! plaintext port, HTTP/2 negotiated by ALPN over mutual TLS with a client certificate, the
//! same request without a certificate refused, and a query sent unencoded (`curl -g`).
//! Skips, saying why, where curl is missing or lacks HTTP/2 (`.ci/run` installs it).

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// `curl ARGS -w '%{http_version} %{http_code}'`: (exit success, "version code").
fn curl(args: &[&str]) -> (bool, String) {
    let output = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--max-time", "30", "-w", "%{http_version} %{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    (output.status.success(), String::from_utf8_lossy(&output.stdout).trim().to_string())
}

fn curl_has_http2() -> bool {
    Command::new("curl").arg("-V").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
}

#[test]
fn curl_speaks_http2_prior_knowledge_and_over_mutual_tls() {
    if !curl_has_http2() {
        eprintln!("SKIPPED: curl with HTTP/2 support is not installed (bash .ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let plain = Server::start(&write_config(dir.path(), ""));
    let (ok, answer) = curl(&["--http2-prior-knowledge", &plain.url("/api/v1/query?query=vector(1)")]);
    assert!(ok && answer == "2 200", "h2c prior knowledge: {answer}");
    let (ok, answer) = curl(&["--http1.1", &plain.url("/api/v1/query?query=vector(1)")]);
    assert!(ok && answer == "1.1 200", "HTTP/1.1 on the same port: {answer}");
    assert!(plain.stop());

    let tls_dir = tempfile::tempdir().unwrap();
    let pki = tls_dir.path().join("pki");
    let made = Command::new(env!("CARGO_BIN_EXE_metricstor")).args(["certs", "--out"]).arg(&pki).args(["--client", "dashboard"]).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let config = tls_dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 2\nstorage:\n  data_dir: {}\n{RETENTION_FROM_1970}tls:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n  ca_file: {p}/ca.crt\n  require_client_cert: true\n",
            tls_dir.path().join("data").display(),
            p = pki.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let url = format!("https://{}/api/v1/query?query=vector(1)", server.http_addr);
    let file = |name: &str| Path::new(&pki).join(name).display().to_string();
    let (ca, cert, key) = (file("ca.crt"), file("dashboard.crt"), file("dashboard.key"));
    let (ok, answer) = curl(&["--http2", "--cacert", &ca, "--cert", &cert, "--key", &key, &url]);
    assert!(ok && answer == "2 200", "HTTP/2 over mTLS (ALPN h2): {answer}");
    let (ok, answer) = curl(&["--http1.1", "--cacert", &ca, "--cert", &cert, "--key", &key, &url]);
    assert!(ok && answer == "1.1 200", "HTTP/1.1 over mTLS: {answer}");
    let (ok, answer) = curl(&["--http2", "--cacert", &ca, &url]);
    assert!(!ok, "a client without a certificate must be refused, got {answer}");
    assert!(server.stop());
}

/// A query typed into a shell as Prometheus' documentation shows it, `curl -g` sending the
/// braces, quotes and `>` unencoded: answered as when encoded (Go's servers accept it too).
#[test]
fn curl_sends_an_unencoded_query() {
    if Command::new("curl").arg("-V").output().is_err() {
        eprintln!("SKIPPED: curl is not installed (bash .ci/run installs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let body = v1_request(&[(vec![("__name__", "raw_q"), ("job", "api \"x\"")], vec![(1_000_000, 3.0)])]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let output = Command::new("curl")
        .args(["-sS", "-g", "--http1.1", "--max-time", "30"])
        .arg(server.url(r#"/api/v1/query?query=raw_q{job="api \"x\""}>2&time=1000"#).replace(' ', "%20"))
        .output()
        .expect("run curl");
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    let body: serde_json::Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(body["status"], "success", "{answer}");
    assert_eq!(body["data"]["result"][0]["metric"]["job"], "api \"x\"", "{answer}");
    assert_eq!(body["data"]["result"][0]["value"][1], "3", "{answer}");
    assert!(server.stop());
}
