//! Shared test support: start the real `metricstor` binary on free ports with a temporary
//! data directory, find its port from the start-up log, talk HTTP, stop it by PID.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use prost::Message;
use proto::remote_write_v1 as v1;

pub const START_DEADLINE: Duration = Duration::from_secs(60);

pub struct Server {
    pub child: Child,
    pub http_addr: String,
    pub grpc_addr: String,
    pub data_dir: PathBuf,
    log: mpsc::Receiver<String>,
}

pub fn write_config(dir: &Path, extra_server: &str) -> PathBuf {
    write_config_with(dir, &format!("  cores: 2\n  header_read_timeout_seconds: 2\n{extra_server}"), "")
}

/// `dir/config.yaml` with loopback listeners on free ports, data in `dir/data`, and the
/// given lines (each `  key: value\n`) in the `server` and `storage` sections.
pub fn write_config_with(dir: &Path, server_lines: &str, storage_lines: &str) -> PathBuf {
    let path = dir.join("config.yaml");
    let text = format!(
        "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n{server_lines}storage:\n  data_dir: {}\n{storage_lines}",
        dir.join("data").display()
    );
    std::fs::write(&path, text).expect("write test config");
    path
}

/// `metricstor certs --out dir/pki --client …`: a development PKI with those clients (each
/// `NAME.crt`/`NAME.key`, the certificate's SAN and CN its name); returns its directory.
pub fn make_pki(dir: &Path, clients: &[&str]) -> PathBuf {
    let pki = dir.join("pki");
    let mut command = Command::new(env!("CARGO_BIN_EXE_metricstor"));
    command.args(["certs", "--out"]).arg(&pki);
    for client in clients {
        command.args(["--client", client]);
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
        "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 2\nstorage:\n  data_dir: {}\ntls:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n  ca_file: {p}/ca.crt\n  require_client_cert: true\n{tls_lines}",
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
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match log.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("metricstor did not report its listener within {START_DEADLINE:?}");
                }
            };
            if let Some(rest) = line.split("listening for HTTP/1.1 and HTTP/2").nth(1) {
                let after = rest.split("://").nth(1).expect("address after the scheme");
                http_addr = Some(after.chars().take_while(|c| !c.is_whitespace()).collect());
            } else if let Some(rest) = line.split("listening for gRPC").nth(1) {
                let after = rest.split(" on ").nth(1).expect("address after on");
                grpc_addr = Some(after.chars().take_while(|c| !c.is_whitespace()).collect());
            }
            if let (Some(http), Some(grpc)) = (&http_addr, &grpc_addr) {
                let data_dir = config.parent().expect("config has a parent").join("data");
                return Server { child, http_addr: http.clone(), grpc_addr: grpc.clone(), data_dir, log };
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

/// A peer process this test started (Prometheus, a VictoriaMetrics tool): killed and reaped
/// when dropped, by its own handle.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// VictoriaMetrics (`binary`) on a free loopback port with an empty data directory under
/// `dir` and its local zone UTC (its CSV export writes times in it), once `/health` answers:
/// (the process, its base URL, its log).
pub fn start_victoriametrics(binary: &str, dir: &Path) -> (KillOnDrop, String, PathBuf) {
    let port = free_port();
    let log = dir.join("victoria-metrics.log");
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log handle");
    let child = Command::new(binary)
        .args([format!("-storageDataPath={}", dir.join("vm-data").display()), format!("-httpListenAddr=127.0.0.1:{port}"), "-retentionPeriod=100y".to_string()])
        .env("TZ", "UTC")
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start VictoriaMetrics");
    let process = KillOnDrop(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + START_DEADLINE;
    while agent().get(&format!("{url}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "VictoriaMetrics did not answer; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    (process, url, log)
}

/// A JSON-lines export (VictoriaMetrics' or ours; a series may span several lines) as
/// series → (timestamp, value bits) in time order, each series' labels passed through `edit`
/// and then written as JSON. NaN and ±Inf are bare or quoted tokens (VictoriaMetrics 1.79
/// writes a NaN after a series' first value as `null`, later versions ±Inf as `"Infinity"`);
/// every NaN reads as one (JSON cannot tell a staleness marker from another NaN: tests check
/// markers by query).
pub fn exact_export(text: &str, edit: impl Fn(&mut std::collections::BTreeMap<String, String>)) -> std::collections::BTreeMap<String, Vec<(i64, u64)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(i64, u64)>> = Default::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let open = line.find("\"values\":[").expect("a values array") + "\"values\":[".len();
        let close = open + line[open..].find(']').expect("the end of the values");
        let values: Vec<u64> = line[open..close]
            .split(',')
            .map(|token| match token.trim().trim_matches('"') {
                "NaN" | "null" => f64::NAN.to_bits(),
                "Inf" | "+Inf" | "Infinity" => f64::INFINITY.to_bits(),
                "-Inf" | "-Infinity" => f64::NEG_INFINITY.to_bits(),
                number => number.parse::<f64>().unwrap_or_else(|_| panic!("value {number:?}")).to_bits(),
            })
            .collect();
        let rest: serde_json::Value = serde_json::from_str(&format!("{}{}", &line[..open], &line[close..])).expect("JSON line");
        let mut labels: std::collections::BTreeMap<String, String> = serde_json::from_value(rest["metric"].clone()).expect("labels");
        edit(&mut labels);
        let timestamps = rest["timestamps"].as_array().expect("timestamps");
        assert_eq!(timestamps.len(), values.len(), "{line}");
        let points = out.entry(serde_json::to_string(&labels).expect("labels")).or_default();
        points.extend(timestamps.iter().map(|t| t.as_i64().expect("timestamp")).zip(values));
    }
    for points in out.values_mut() {
        points.sort_by_key(|p| p.0);
    }
    out
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


/// A scrape target on a loopback port: answers every GET (HTTP/1.1, kept alive) with
/// `body`'s text at that moment, or with the answer `route` set for the request's path and
/// query, and records each request's head. Its threads end with the test process.
pub struct Exporter {
    pub port: u16,
    pub body: std::sync::Arc<std::sync::Mutex<String>>,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    routes: Routes,
}

/// An exporter's set answers: path and query → (status, extra header lines, body).
type Routes = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (u16, String, Vec<u8>)>>>;

impl Exporter {
    pub fn start(initial: &str) -> Exporter {
        use std::sync::{Arc, Mutex};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind exporter");
        let port = listener.local_addr().expect("exporter address").port();
        let body = Arc::new(Mutex::new(initial.to_string()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes: Routes = Arc::default();
        let (served, recorded, routed) = (body.clone(), requests.clone(), routes.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (served, recorded, routed) = (served.clone(), recorded.clone(), routed.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(match stream.try_clone() {
                        Ok(s) => s,
                        Err(_) => return,
                    });
                    let mut stream = stream;
                    while let Some(head) = read_request_head(&mut reader) {
                        let path = head.split(' ').nth(1).unwrap_or("").to_string();
                        recorded.lock().map(|mut r| r.push(head)).ok();
                        // A routed path and query also answers requests that add query
                        // parameters after it (a Consul blocking query's index and wait).
                        let route = routed.lock().ok().and_then(|r| r.get(&path).cloned().or_else(|| r.iter().find(|(key, _)| key.contains('?') && path.strip_prefix(key.as_str()).is_some_and(|rest| rest.starts_with('&'))).map(|(_, v)| v.clone())));
                        let answer = match route {
                            Some((status, headers, body)) => [format!("HTTP/1.1 {status} Routed\r\n{headers}Content-Length: {}\r\n\r\n", body.len()).into_bytes(), body].concat(),
                            None => {
                                let text = served.lock().map(|b| b.clone()).unwrap_or_default();
                                format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{text}", text.len()).into_bytes()
                            }
                        };
                        if stream.write_all(&answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Exporter { port, body, requests, routes }
    }

    /// Answers GETs of `path_and_query` (and of it with more query parameters after it) with
    /// `status`, `headers` (each `Name: value`) and `body`.
    pub fn route(&self, path_and_query: &str, status: u16, headers: &[&str], body: &str) {
        self.route_bytes(path_and_query, status, headers, body.as_bytes());
    }

    /// `route` with a body that need not be text (a protobuf answer).
    pub fn route_bytes(&self, path_and_query: &str, status: u16, headers: &[&str], body: &[u8]) {
        let header_lines: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        if let Ok(mut routes) = self.routes.lock() {
            routes.insert(path_and_query.to_string(), (status, header_lines, body.to_vec()));
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set_body(&self, text: &str) {
        if let Ok(mut body) = self.body.lock() {
            *body = text.to_string();
        }
    }

    /// The heads of the requests seen so far.
    pub fn request_heads(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests so far began with `prefix` (`"GET /v1/x "`).
    pub fn times_asked(&self, prefix: &str) -> usize {
        self.request_heads().iter().filter(|h| h.starts_with(prefix)).count()
    }

    /// Waits until `more` requests beginning with `prefix` came after the `before` counted
    /// (`times_asked`); fails after `limit`.
    pub fn wait_asked(&self, prefix: &str, before: usize, more: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.times_asked(prefix) < before + more {
            assert!(Instant::now() < deadline, "{prefix:?} not asked {more} more times within {limit:?}: {:?}", self.request_heads());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `text` with every byte but ASCII letters and digits percent-encoded: safe in a URL's
/// query whatever it holds.
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

/// A DNS server on a loopback UDP port for dns_sd tests: answers every query for a name it
/// knows (lower case, with the root dot) with the records `set` gave it, other names with
/// NXDOMAIN. Its thread ends with the test process.
pub struct FakeDns {
    pub port: u16,
    records: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<FakeRecord>>>>,
}

/// A record `FakeDns` answers with.
#[derive(Clone, Debug)]
pub enum FakeRecord {
    Srv { target: String, port: u16 },
    A(std::net::Ipv4Addr),
}

impl FakeDns {
    pub fn start() -> FakeDns {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind fake DNS");
        let port = socket.local_addr().expect("fake DNS address").port();
        let records: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<FakeRecord>>>> = std::sync::Arc::default();
        let known = records.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buffer) {
                if let Some(answer) = fake_dns_answer(&buffer[..n], &known) {
                    let _ = socket.send_to(&answer, from);
                }
            }
        });
        FakeDns { port, records }
    }

    /// Answers `name` (e.g. "_node._tcp.test.") with `records` from now on.
    pub fn set(&self, name: &str, records: Vec<FakeRecord>) {
        if let Ok(mut all) = self.records.lock() {
            all.insert(name.to_ascii_lowercase(), records);
        }
    }
}

fn fake_dns_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// The answer to one query: the question echoed, then the records (or NXDOMAIN).
fn fake_dns_answer(query: &[u8], known: &std::sync::Mutex<std::collections::HashMap<String, Vec<FakeRecord>>>) -> Option<Vec<u8>> {
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        name.push_str(std::str::from_utf8(query.get(at..at + len)?).ok()?);
        name.push('.');
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question = query.get(12..at + 4)?;
    let records = known.lock().ok()?.get(&name.to_ascii_lowercase()).cloned();
    let wanted: Vec<FakeRecord> = records.clone().unwrap_or_default().into_iter().filter(|r| matches!((r, qtype), (FakeRecord::Srv { .. }, 33) | (FakeRecord::A(_), 1))).collect();
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    let rcode = if records.is_some() { 0 } else { 3 };
    out.extend_from_slice(&[0x81, 0x80 | rcode, 0, 1]);
    out.extend_from_slice(&(wanted.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for record in wanted {
        out.extend_from_slice(&[0xC0, 12]);
        let mut data = Vec::new();
        let kind: u16 = match &record {
            FakeRecord::Srv { target, port } => {
                data.extend_from_slice(&[0, 10, 0, 5]);
                data.extend_from_slice(&port.to_be_bytes());
                fake_dns_name(&mut data, target);
                33
            }
            FakeRecord::A(ip) => {
                data.extend_from_slice(&ip.octets());
                1
            }
        };
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 30]);
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(&data);
    }
    Some(out)
}

/// A Kubernetes API server on a loopback port for kubernetes_sd tests: lists the objects it
/// holds (`GET <collection>?limit=…`, in pages of `set_page_size` objects with `continue`
/// tokens) and streams watch events (`GET <collection>?watch=1&…`, chunked JSON lines) for
/// what `apply` changes after the watch opened; `end_watches` ends the open watches as a
/// server's timeout does, `expire_watches` with a `410 Gone` error event; a `forbid`den
/// collection answers 403. Collections are paths such as `/api/v1/pods` or
/// `/api/v1/namespaces/a/pods`. It records each request's head. Its threads end with the
/// test process.
pub struct FakeKubernetes {
    pub port: u16,
    state: std::sync::Arc<std::sync::Mutex<FakeKubernetesState>>,
}

#[derive(Default)]
struct FakeKubernetesState {
    version: u64,
    /// Collection path → "namespace/name" → object.
    objects: std::collections::HashMap<String, std::collections::BTreeMap<String, serde_json::Value>>,
    /// Open watches: collection path and the sender of their event lines (None: expire).
    watches: Vec<(String, mpsc::Sender<Option<String>>)>,
    heads: Vec<String>,
    /// Objects per list page (0: all in one).
    page_size: usize,
    forbidden: std::collections::HashSet<String>,
    /// Collections whose watches end at once, without an event.
    short_watches: std::collections::HashSet<String>,
}

impl FakeKubernetes {
    pub fn start() -> FakeKubernetes {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake Kubernetes");
        let port = listener.local_addr().expect("fake Kubernetes address").port();
        let state: std::sync::Arc<std::sync::Mutex<FakeKubernetesState>> = std::sync::Arc::default();
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || fake_kubernetes_connection(stream, &state));
            }
        });
        FakeKubernetes { port, state }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Adds, changes (`ADDED`, `MODIFIED`) or removes (`DELETED`) `object` in `collection`,
    /// giving it the next resource version and telling the open watches.
    pub fn apply(&self, collection: &str, event: &str, object: serde_json::Value) {
        self.change(collection, event, object, true);
    }

    /// As `apply`, without telling the open watches: only a new list sees the change.
    pub fn apply_unwatched(&self, collection: &str, event: &str, object: serde_json::Value) {
        self.change(collection, event, object, false);
    }

    fn change(&self, collection: &str, event: &str, mut object: serde_json::Value, tell: bool) {
        let Ok(mut state) = self.state.lock() else { return };
        state.version += 1;
        object["metadata"]["resourceVersion"] = serde_json::Value::String(state.version.to_string());
        let key = format!("{}/{}", object["metadata"]["namespace"].as_str().unwrap_or(""), object["metadata"]["name"].as_str().unwrap_or(""));
        let objects = state.objects.entry(collection.to_string()).or_default();
        if event == "DELETED" {
            objects.remove(&key);
        } else {
            objects.insert(key, object.clone());
        }
        if !tell {
            return;
        }
        let line = serde_json::json!({"type": event, "object": object}).to_string();
        state.watches.retain(|(path, sender)| path != collection || sender.send(Some(line.clone())).is_ok());
    }

    /// Ends every open watch with a `410 Gone` error event (the client must list again).
    pub fn expire_watches(&self) {
        if let Ok(mut state) = self.state.lock() {
            for (_, sender) in state.watches.drain(..) {
                let _ = sender.send(None);
            }
        }
    }

    /// Ends every open watch normally (the client opens another from its last version).
    pub fn end_watches(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.watches.clear();
        }
    }

    pub fn set_page_size(&self, objects: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.page_size = objects;
        }
    }

    /// Watches of `collection` end as soon as they open, without an event (a proxy that does
    /// not hold them open).
    pub fn end_watches_at_once(&self, collection: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.short_watches.insert(collection.to_string());
        }
    }

    /// Lists and watches of `collection` are answered 403 Forbidden.
    pub fn forbid(&self, collection: &str) {
        if let Ok(mut state) = self.state.lock() {
            state.forbidden.insert(collection.to_string());
        }
    }

    /// How many watches are open now.
    pub fn open_watches(&self) -> usize {
        self.state.lock().map(|s| s.watches.len()).unwrap_or(0)
    }

    /// The heads of the requests seen so far.
    pub fn request_heads(&self) -> Vec<String> {
        self.state.lock().map(|s| s.heads.clone()).unwrap_or_default()
    }
}

/// The head of the next request on a test server's connection (its lines up to the blank
/// one); None when the client closed it.
fn read_request_head(reader: &mut impl BufRead) -> Option<String> {
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

/// Serves one connection of `FakeKubernetes` (requests one after another).
fn fake_kubernetes_connection(stream: std::net::TcpStream, state: &std::sync::Mutex<FakeKubernetesState>) {
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    while let Some(head) = read_request_head(&mut reader) {
        let target = head.split(' ').nth(1).unwrap_or("").to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let (path, watch) = (path.to_string(), query.split('&').any(|p| p == "watch=1"));
        let offset: usize = query.split('&').find_map(|p| p.strip_prefix("continue=")).and_then(|c| c.parse().ok()).unwrap_or(0);
        let (sender, events) = mpsc::channel();
        let list = {
            let Ok(mut state) = state.lock() else { return };
            state.heads.push(head);
            if state.forbidden.contains(&path) {
                Some((403, serde_json::json!({"kind": "Status", "status": "Failure", "message": format!("forbidden: cannot list {path}"), "reason": "Forbidden", "code": 403}).to_string()))
            } else if watch && state.short_watches.contains(&path) {
                Some((200, String::new()))
            } else if watch {
                state.watches.push((path.clone(), sender));
                None
            } else {
                let items: Vec<serde_json::Value> = state.objects.get(&path).map(|o| o.values().cloned().collect()).unwrap_or_default();
                let size = if state.page_size == 0 { items.len().max(1) } else { state.page_size };
                let page: Vec<serde_json::Value> = items.iter().skip(offset).take(size).cloned().collect();
                let next = if offset + size < items.len() { (offset + size).to_string() } else { String::new() };
                Some((200, serde_json::json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": state.version.to_string(), "continue": next}, "items": page}).to_string()))
            }
        };
        if let Some((status, body)) = list {
            let answer = format!("HTTP/1.1 {status} Answer\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            if stream.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").is_err() {
            return;
        }
        // Events until the watch is expired (or the client goes); a watch is not reused.
        while let Ok(event) = events.recv() {
            let line = match event {
                Some(line) => line,
                None => serde_json::json!({"type": "ERROR", "object": {"kind": "Status", "status": "Failure", "message": "too old resource version", "reason": "Expired", "code": 410}}).to_string(),
            };
            let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        let _ = stream.write_all(b"0\r\n\r\n");
    }
}

/// One request a mock API saw: method, path (without the query), query, headers (names in
/// lower case) and body.
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// A mock Alertmanager (on `mock_api`): records the path and body of every POST and
/// answers 200.
pub struct MockAlertmanager {
    pub port: u16,
    posts: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl MockAlertmanager {
    pub fn start() -> MockAlertmanager {
        let posts: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
        let recorded = posts.clone();
        let port = mock_api(move |_, request| {
            if request.method == "POST" {
                recorded.lock().map(|mut r| r.push((request.path.clone(), request.body.clone()))).ok();
            }
            Some((200, Vec::new(), String::new()))
        });
        MockAlertmanager { port, posts }
    }

    /// Every alert posted so far to `path`, in the order received.
    pub fn alerts(&self, path: &str) -> Vec<serde_json::Value> {
        let posts = self.posts.lock().map(|p| p.clone()).unwrap_or_default();
        posts.iter().filter(|(at, _)| at == path).filter_map(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok()).flat_map(|b| b.as_array().cloned().unwrap_or_default()).collect()
    }
}

/// A mock answer: status, extra header lines (`Name: value`) and body.
pub type Answer = (u16, Vec<String>, String);

/// A mock API on a loopback port (HTTP/1.1, kept alive, bodies read by their length): each
/// request is answered by `answer(own port, request)`, 404 where it answers None. Unlike
/// `Exporter`, it sees methods and bodies and ignores the query unless `answer` looks at it,
/// for APIs asked differently by the two clients (Consul's blocking parameters, Docker's
/// negotiated version prefix, AWS' POSTed actions). Its threads end with the test process.
pub fn mock_api(answer: impl Fn(u16, &Request) -> Option<Answer> + Send + Sync + 'static) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind mock API");
    let port = listener.local_addr().expect("mock API address").port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || serve_mock(stream, port, &*answer));
        }
    });
    port
}

fn serve_mock(stream: std::net::TcpStream, port: u16, answer: &dyn Fn(u16, &Request) -> Option<Answer>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(read_half) = stream.try_clone() else { return };
    let (mut reader, mut stream) = (BufReader::new(read_half), stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.trim_end().split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length: usize = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = Request { method, path: path.to_string(), query: query.to_string(), headers, body: String::from_utf8_lossy(&body).into_owned() };
        let (status, extra, text) = answer(port, &request).unwrap_or((404, Vec::new(), format!("no mock answer for {} {}", request.method, target)));
        let extra: String = extra.iter().map(|h| format!("{h}\r\n")).collect();
        // A HEAD answer (Docker's client pings with one) has the length but not the body.
        let body = if request.method == "HEAD" { "" } else { text.as_str() };
        let reply = format!("HTTP/1.1 {status} Mock\r\n{extra}Content-Length: {}\r\n\r\n{body}", text.len());
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
