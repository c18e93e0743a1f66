//! Shared test support: start the real `metricstor` binary on free ports with a temporary
//! data directory, find its port from the start-up log, talk HTTP, stop it by PID; the services
//! it talks to, faked, in the children (`exporter`, `fake_dns`, `fake_kubernetes`, `mock_http`)
//! and VictoriaMetrics as a peer (`victoriametrics`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use prost::Message;
use proto::remote_write_v1 as v1;

mod exporter;
mod fake_dns;
mod fake_kubernetes;
mod mock_http;
mod victoriametrics;

#[allow(unused_imports)]
pub use exporter::Exporter;
#[allow(unused_imports)]
pub use fake_dns::{FakeDns, FakeRecord};
#[allow(unused_imports)]
pub use fake_kubernetes::FakeKubernetes;
#[allow(unused_imports)]
pub use mock_http::{mock_api, Answer, MockAlertmanager, Request};
#[allow(unused_imports)]
pub use victoriametrics::{exact_export, start_victoriametrics, start_victoriametrics_with, KillOnDrop};

pub const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Child,
    pub http_addr: String,
    pub grpc_addr: String,
    pub data_dir: PathBuf,
    log: mpsc::Receiver<String>,
    /// The log lines up to the listening lines (read while starting).
    start_log: Vec<String>,
}

pub fn write_config(dir: &Path, extra_server: &str) -> PathBuf {
    write_config_with(dir, &format!("  cores: 2\n  header_read_timeout_seconds: 2\n{extra_server}"), "")
}

/// The `storage` line test configurations get unless they set `retention_days`: a retention
/// reaching back to 1970, since many tests write synthetic times near it and the server
/// refuses samples older than its retention.
pub const RETENTION_FROM_1970: &str = "  retention_days: 36500\n";

/// `dir/config.yaml` with loopback listeners on free ports, data in `dir/data`, and the
/// given lines (each `  key: value\n`) in the `server` and `storage` sections (and
/// [`RETENTION_FROM_1970`] unless they set `retention_days`).
pub fn write_config_with(dir: &Path, server_lines: &str, storage_lines: &str) -> PathBuf {
    write_config_at(dir, "127.0.0.1:0", "127.0.0.1:0", server_lines, storage_lines)
}

/// As [`write_config_with`], listening on the given HTTP and gRPC addresses.
pub fn write_config_at(dir: &Path, http_addr: &str, grpc_addr: &str, server_lines: &str, storage_lines: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    let retention = if storage_lines.contains("retention_days:") { "" } else { RETENTION_FROM_1970 };
    let text = format!(
        "server:\n  http_addr: {http_addr}\n  grpc_addr: {grpc_addr}\n{server_lines}storage:\n  data_dir: {}\n{retention}{storage_lines}",
        dir.join("data").display()
    );
    std::fs::write(&path, text).expect("write test config");
    path
}

/// `metricstor certs --out dir/pki --client …`: a development PKI with those clients (each
/// `NAME.crt`/`NAME.key`, the certificate's SAN and CN its name); returns its directory.
pub fn make_pki(dir: &Path, clients: &[&str]) -> PathBuf {
    make_pki_with_revoked(dir, clients, &[])
}

/// As [`make_pki`], with `revoked` clients too, named in the CA's revocation list `ca.crl`.
pub fn make_pki_with_revoked(dir: &Path, clients: &[&str], revoked: &[&str]) -> PathBuf {
    let pki = dir.join("pki");
    let mut command = Command::new(env!("CARGO_BIN_EXE_metricstor"));
    command.args(["certs", "--out"]).arg(&pki);
    for client in clients {
        command.args(["--client", client]);
    }
    for client in revoked {
        command.args(["--revoked", client]);
    }
    let made = command.output().expect("run metricstor certs");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    pki
}

/// `dir/config.yaml` for a server on loopback (2 cores) whose ports speak mutual TLS with
/// `pki`'s server certificate, client certificates required, data in `dir/data`, and
/// `tls_lines` (each `  key: value\n`) added to the `tls` section.
pub fn write_mtls_config(dir: &Path, pki: &Path, tls_lines: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    let text = format!(
        "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 2\nstorage:\n  data_dir: {}\n{RETENTION_FROM_1970}tls:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n  ca_file: {p}/ca.crt\n  require_client_cert: true\n{tls_lines}",
        dir.join("data").display(),
        p = pki.display()
    );
    std::fs::write(&path, text).expect("write test config");
    path
}

impl Server {
    /// Starts the binary with `config` and waits (bounded) for its listening line.
    pub fn start(config: &Path) -> Server {
        Server::start_with_env(config, &[])
    }

    /// As [`Server::start`], with environment variables set (an empty value removes one).
    pub fn start_with_env(config: &Path, env: &[(&str, &str)]) -> Server {
        let (mut child, log) = spawn_logged(config, env);
        let deadline = Instant::now() + START_DEADLINE;
        let (mut http_addr, mut grpc_addr): (Option<String>, Option<String>) = (None, None);
        let mut start_log = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match log.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("metricstor did not report its listener within {START_DEADLINE:?}");
                }
            };
            start_log.push(line.clone());
            if let Some(rest) = line.split("listening for HTTP/1.1 and HTTP/2").nth(1) {
                let after = rest.split("://").nth(1).expect("address after the scheme");
                http_addr = Some(after.chars().take_while(|c| !c.is_whitespace()).collect());
            } else if let Some(rest) = line.split("listening for gRPC").nth(1) {
                let after = rest.split(" on ").nth(1).expect("address after on");
                grpc_addr = Some(after.chars().take_while(|c| !c.is_whitespace()).collect());
            }
            if let (Some(http), Some(grpc)) = (&http_addr, &grpc_addr) {
                let data_dir = config.parent().expect("config has a parent").join("data");
                return Server { child, http_addr: http.clone(), grpc_addr: grpc.clone(), data_dir, log, start_log };
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.http_addr, path)
    }

    /// Waits (bounded by `limit`) for a log line containing `needle`; false at the deadline.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> bool {
        wait_for_line(&self.log, needle, limit)
    }

    /// The first line logged while starting (up to the listening lines) that contains `needle`.
    pub fn start_log_line(&self, needle: &str) -> Option<&str> {
        self.start_log.iter().map(String::as_str).find(|line| line.contains(needle))
    }

    /// Waits (bounded by `limit`) for a log line containing `needle` and returns it.
    pub fn log_line(&self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            match self.log.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends a signal to the server's PID (only the process this test started).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on the PID of our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// SIGTERM and wait (bounded) for a clean exit; returns the exit status success.
    pub fn stop(mut self) -> bool {
        self.signal(libc::SIGTERM);
        self.wait_exit(Duration::from_secs(30))
    }

    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        self.wait_exit(Duration::from_secs(30));
    }

    /// Waits (bounded) for the server to exit on its own (after `/-/quit`, say); whether
    /// its exit status is success. Kills it and fails the test past `limit`.
    pub fn exits_within(mut self, limit: Duration) -> bool {
        self.wait_exit(limit)
    }

    fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("metricstor did not exit within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Starts the binary with `config`, reads its log until a line contains `needle` (or
/// `limit` passes) and SIGKILLs it there; true when the line was seen. For crash points
/// that come before the listener is up (start-up maintenance) or at a logged event.
pub fn kill_at_log(config: &Path, needle: &str, limit: Duration) -> bool {
    let (mut child, log) = spawn_logged(config, &[]);
    let seen = wait_for_line(&log, needle, limit);
    // SAFETY: kill(2) on the PID of our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
    seen
}

/// Starts the binary with `config` (info logging); its stderr lines are echoed to the test's
/// output and sent on the returned channel.
fn spawn_logged(config: &Path, env: &[(&str, &str)]) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_metricstor"));
    command.arg("--config").arg(config).env("RUST_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped());
    for (name, value) in env {
        if value.is_empty() {
            command.env_remove(name);
        } else {
            command.env(name, value);
        }
    }
    let mut child = command.spawn().expect("start metricstor");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (tx, log) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[metricstor] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, log)
}

/// Reads `log` until a line contains `needle`; false when `limit` passes first.
fn wait_for_line(log: &mpsc::Receiver<String>, needle: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        match log.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) if line.contains(needle) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build()
}

pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The reply of a request, error statuses included; a transport failure fails the test
/// naming `what`.
pub fn reply_or_status(what: &str, result: Result<ureq::Response, ureq::Error>) -> Reply {
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => reply_of(r),
        Err(e) => panic!("{what} failed: {e}"),
    }
}

fn reply_of(r: ureq::Response) -> Reply {
    let status = r.status();
    let headers = r.headers_names().into_iter().map(|n| {
        let v = r.header(&n).unwrap_or("").to_string();
        (n, v)
    }).collect();
    Reply { status, headers, body: r.into_string().unwrap_or_default() }
}

/// POSTs a snappy body with a content type.
pub fn post(url: &str, content_type: &str, body: &[u8]) -> Reply {
    let result = agent().post(url).set("Content-Type", content_type).set("Content-Encoding", "snappy").send_bytes(body);
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => reply_of(r),
        Err(e) => panic!("POST {url} failed: {e}"),
    }
}

/// Stores `series value` (text format) at the whole second `seconds_ago` before now through
/// the Prometheus text import, asserting it was taken; returns that time in ms.
pub fn import_sample(server: &Server, series: &str, value: f64, seconds_ago: i64) -> i64 {
    let at_ms = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64 / 1000 - seconds_ago) * 1000;
    let stored = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", format!("{series} {value} {at_ms}\n").as_bytes());
    assert_eq!(stored.status, 204, "{}", stored.body);
    at_ms
}

/// POSTs a body as it is (no Content-Encoding) with a content type: imports.
pub fn post_plain(url: &str, content_type: &str, body: &[u8]) -> Reply {
    match agent().post(url).set("Content-Type", content_type).send_bytes(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => reply_of(r),
        Err(e) => panic!("POST {url} failed: {e}"),
    }
}

/// GETs a JSON endpoint; returns (status, parsed body).
pub fn get_json(url: &str) -> (u16, serde_json::Value) {
    match agent().get(url).call() {
        Ok(r) => (r.status(), serde_json::from_str(&r.into_string().expect("body")).expect("JSON body")),
        Err(ureq::Error::Status(code, r)) => (code, serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default()),
        Err(e) => panic!("GET {url} failed: {e}"),
    }
}

pub fn snappy(raw: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(raw).expect("snappy compress")
}

/// One series of a remote_write 1.0 request: its label pairs (sorted by name) and its
/// `(timestamp ms, value)` samples.
/// A range query's series: labels, and (timestamp ms, value as rendered) samples.
pub type MatrixSeries = (serde_json::Value, Vec<(i64, String)>);

/// The series of a matrix answer (`/api/v1/query` of a range selector), sorted by labels.
pub fn matrix_series(body: &serde_json::Value) -> Vec<MatrixSeries> {
    let mut out: Vec<MatrixSeries> = body["data"]["result"]
        .as_array()
        .expect("matrix")
        .iter()
        .map(|s| {
            let samples = s["values"]
                .as_array()
                .expect("values")
                .iter()
                .map(|p| ((p[0].as_f64().expect("time") * 1000.0).round() as i64, p[1].as_str().expect("value").to_string()))
                .collect();
            (s["metric"].clone(), samples)
        })
        .collect();
    out.sort_by_key(|(labels, _)| labels.to_string());
    out
}

pub type SeriesInput<'a> = (Vec<(&'a str, &'a str)>, Vec<(i64, f64)>);

pub fn v1_request(series: &[SeriesInput<'_>]) -> Vec<u8> {
    let request = v1::WriteRequest {
        timeseries: series
            .iter()
            .map(|(labels, samples)| v1::TimeSeries {
                labels: labels.iter().map(|(n, v)| v1::Label { name: n.to_string(), value: v.to_string() }).collect(),
                samples: samples.iter().map(|(t, v)| v1::Sample { timestamp: *t, value: *v }).collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    snappy(&request.encode_to_vec())
}

/// Raw request over a socket, for inputs a client library refuses to send. Returns the
/// response text (status line first) read until the server closes or `limit` passes.
pub fn raw_exchange(addr: &str, request: &[u8], limit: Duration) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(limit)).expect("set timeout");
    stream.write_all(request).expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A remote_write 1.0 body: `series` series `{__name__=metric, i="0"...}`, one sample per
/// minute over `[from_ms, from_ms + span_ms)`, each valued its minute since the epoch.
pub fn per_minute_body(metric: &str, series: usize, from_ms: i64, span_ms: i64) -> Vec<u8> {
    const MINUTE_MS: i64 = 60_000;
    let names: Vec<String> = (0..series).map(|i| i.to_string()).collect();
    let input: Vec<SeriesInput<'_>> = names
        .iter()
        .map(|i| {
            let samples = (0..span_ms / MINUTE_MS).map(|k| from_ms + k * MINUTE_MS).map(|t| (t, (t / MINUTE_MS) as f64)).collect();
            (vec![("__name__", metric), ("i", i.as_str())], samples)
        })
        .collect();
    v1_request(&input)
}

/// Series of `metric` (by label `i`) → timestamps, from `/api/v1/export`; a timestamp
/// exported twice fails the test.
pub fn exported_by_i(server: &Server, metric: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<i64>> {
    exported_by_label(server, metric, "i")
}

/// Series matching `selector` (URL-ready) → timestamps, keyed by the value of `label`, from
/// `/api/v1/export` (a series may span several lines); a timestamp exported twice fails the
/// test.
pub fn exported_by_label(server: &Server, selector: &str, label: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<i64>> {
    let text = agent()
        .get(&server.url(&format!("/api/v1/export?match[]={selector}")))
        .call()
        .expect("export")
        .into_string()
        .expect("body");
    let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<i64>> = Default::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let key = v["metric"][label].as_str().unwrap_or_else(|| panic!("label {label}")).to_string();
        let ts = out.entry(key).or_default();
        for t in v["timestamps"].as_array().expect("timestamps") {
            assert!(ts.insert(t.as_i64().expect("timestamp")), "a sample exported twice");
        }
    }
    out
}

/// Per shard directory under `data`, the `meta.json` of each committed block (the
/// ULID-named directories; `.tmp` and other entries are left out).
pub fn block_metas(data: &Path) -> Vec<Vec<serde_json::Value>> {
    let mut shards = Vec::new();
    for shard in std::fs::read_dir(data).expect("ls data").filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        let mut metas = Vec::new();
        for entry in std::fs::read_dir(shard.path()).expect("ls shard").filter_map(Result::ok) {
            if entry.file_name().len() != 26 {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(entry.path().join("meta.json")) else { continue };
            metas.push(serde_json::from_str::<serde_json::Value>(&text).expect("meta.json"));
        }
        shards.push(metas);
    }
    shards
}

/// Busy-waits `ms` milliseconds (crash points a few ms into work the server started).
pub fn spin(ms: u64) {
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {
        std::thread::yield_now();
    }
}

/// Unix time `seconds` as UTC `YYYY-MM-DDThh:mm:ss`.
pub fn utc_seconds_text(seconds: i64) -> String {
    let (year, month, day) = promql::format::civil_from_days(seconds.div_euclid(86_400));
    let rest = seconds.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// A loopback port free right now, for a peer (e.g. Prometheus) that needs a fixed listen
/// address: bound to port 0, then released.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    listener.local_addr().expect("local addr").port()
}

/// Runs the server with `config`, which must make it refuse to start: waits (bounded) for
/// it to exit, asserts it failed, and returns what it wrote to stderr.
pub fn start_refused(config: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_metricstor"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start metricstor");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        let _ = tx.send(text);
    });
    let Ok(text) = rx.recv_timeout(START_DEADLINE) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("metricstor kept running with the refused configuration {}", config.display());
    };
    let status = child.wait().expect("wait for metricstor");
    assert!(!status.success(), "metricstor exited successfully with {}: {text}", config.display());
    text
}

/// An HTTP/2 answer: status, headers, body and trailers.
pub struct H2Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
    pub trailers: Option<http::HeaderMap>,
}

/// POSTs `body` to `path` with `headers` over plaintext HTTP/2 with prior knowledge (h2c) at
/// `addr`. Bounded: the answer must come within 120 s.
pub fn h2_call(addr: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> H2Answer {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut client = client.ready().await.expect("ready");
        let mut request = http::Request::builder().method("POST").uri(format!("http://{addr}{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let (response, mut send) = client.send_request(request.body(()).expect("request"), false).expect("send");
        // h2 sends the body as the server's flow-control windows allow.
        send.send_data(bytes::Bytes::from(body), true).expect("data");
        let response = tokio::time::timeout(Duration::from_secs(120), response).await.expect("answered in time").expect("response");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let mut stream = response.into_body();
        let mut body = Vec::new();
        while let Some(chunk) = stream.data().await {
            let chunk = chunk.expect("response body");
            let _ = stream.flow_control().release_capacity(chunk.len());
            body.extend_from_slice(&chunk);
        }
        let trailers = stream.trailers().await.expect("trailers");
        H2Answer { status, headers, body, trailers }
    })
}

/// POSTs `body` to `path` over h2c at `addr`: (status, body as text).
pub fn h2_post(addr: &str, path: &str, body: Vec<u8>) -> (u16, String) {
    let answer = h2_call(addr, path, &[], body);
    (answer.status, String::from_utf8_lossy(&answer.body).into_owned())
}

/// `text` with every byte but ASCII letters and digits percent-encoded: safe in a URL's
/// query whatever it holds.
/// Runs `command` to its end with its output captured (a little: the pipes are read once it
/// has exited); past `limit` it is killed and the test fails, naming `what`. Its exit status,
/// standard output and standard error.
pub fn output_within(mut command: Command, limit: Duration, what: &str) -> (std::process::ExitStatus, String, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_else(|e| panic!("wait for {what}: {e}")) {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} took over {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{what}'s output: {e}"));
    (status, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

pub fn percent_encode(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// A server config in `dir` whose scrape configuration is `scrape_yaml`, written to
/// `dir/prometheus.yml` (Prometheus' form: `global`, `scrape_configs`).
pub fn write_scrape_config(dir: &Path, scrape_yaml: impl AsRef<str>) -> PathBuf {
    let scrape_file = dir.join("prometheus.yml");
    std::fs::write(&scrape_file, scrape_yaml.as_ref()).expect("scrape config");
    let config = write_config(dir, "");
    add_scrape_config(&config, &scrape_file);
    config
}

/// What a polling test's `accept` answers: `true`, or `Some` (so that it can use `?`).
pub trait Taken {
    fn taken(self) -> bool;
}

impl Taken for bool {
    fn taken(self) -> bool {
        self
    }
}

impl<T> Taken for Option<T> {
    fn taken(self) -> bool {
        self.is_some()
    }
}

/// `/api/v1/targets` every 100 ms until `accept` takes it; fails after `limit`.
pub fn poll_targets<T: Taken>(server: &Server, limit: Duration, accept: impl Fn(&serde_json::Value) -> T) -> serde_json::Value {
    let deadline = Instant::now() + limit;
    loop {
        let (status, body) = get_json(&server.url("/api/v1/targets"));
        if status == 200 && accept(&body).taken() {
            return body;
        }
        assert!(Instant::now() < deadline, "targets not as expected within {limit:?}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Appends a `scrape:` section naming `scrape_file` to the config at `config`.
/// Appends `section` (top-level YAML: `relabel_configs:`, `otlp:`, …) to the test config.
pub fn append_to_config(config: &Path, section: &str) {
    std::fs::OpenOptions::new()
        .append(true)
        .open(config)
        .and_then(|mut f| std::io::Write::write_all(&mut f, section.as_bytes()))
        .expect("append to the test config");
}

pub fn add_scrape_config(config: &Path, scrape_file: &Path) {
    let mut text = std::fs::read_to_string(config).expect("read test config");
    text.push_str(&format!("scrape:\n  config_file: {}\n", scrape_file.display()));
    std::fs::write(config, text).expect("write test config");
}

/// Asks `accept` every 100 ms until it answers `Some`; fails after `limit` saying `what`
/// did not happen.
pub fn poll<T>(what: &str, limit: Duration, accept: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = accept() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Asks `server`'s instant query API for `query` every 100 ms until `accept` takes the
/// result array; fails after `limit` saying `what` did not happen.
pub fn poll_query<T>(server: &Server, query: &str, what: &str, limit: Duration, accept: impl Fn(&[serde_json::Value]) -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    let encoded: String = percent_encode(query);
    loop {
        let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={encoded}")));
        if status == 200 {
            if let Some(found) = body["data"]["result"].as_array().and_then(|r| accept(r)) {
                return found;
            }
        }
        assert!(Instant::now() < deadline, "{what} within {limit:?}; last answer to {query}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The head of the next request on a test server's connection (its lines up to the blank
/// one); None when the client closed it.
pub(crate) fn read_request_head(reader: &mut impl BufRead) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if line == "\r\n" {
            return Some(head);
        }
        head.push_str(&line);
    }
}
