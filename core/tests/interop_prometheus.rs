//! Interop with real Prometheus (Debian's 2.42): Prometheus scrapes itself and remote_writes
//! to Metricstor; `up` and `prometheus_build_info` become queryable here, and promtool can
//! query us; Prometheus also reads from us (remote read), federates from us, and remote_writes
//! the native histograms and exemplars it scrapes, which we render and evaluate as it does;
//! and we scrape its TLS `/metrics` in HTTP/2 (Go's server) and HTTP/1.1. Runs when METRICSTOR_PROMETHEUS_BIN / METRICSTOR_PROMTOOL_BIN are set
//! (`.ci/run` installs the package and sets them); otherwise it says why it skipped.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Starts Prometheus with `config` on `port`, its data under `dir`; killed when dropped.
fn start_prometheus(binary: &str, config: &std::path::Path, port: u16, dir: &std::path::Path) -> KillOnDrop {
    start_prometheus_with(binary, config, port, dir, &[])
}

/// `start_prometheus` with more flags (e.g. `--enable-feature=...`).
fn start_prometheus_with(binary: &str, config: &std::path::Path, port: u16, dir: &std::path::Path, flags: &[&str]) -> KillOnDrop {
    let child = Command::new(binary)
        .args(flags)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--storage.tsdb.path={}", dir.join("prom-data").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    KillOnDrop(child)
}

/// Asks Prometheus' query API `url` every 250 ms until `accept` takes the answer's JSON;
/// fails after 60 s saying `what` did not arrive.
fn poll_prometheus<T>(url: &str, what: &str, accept: impl Fn(&serde_json::Value) -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = agent().get(url).call() {
            let body: serde_json::Value = serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default();
            if let Some(found) = accept(&body) {
                return found;
            }
        }
        assert!(Instant::now() < deadline, "Prometheus did not return {what} within 60 s");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn series_count(server: &Server, query: &str) -> usize {
    let url = server.url(&format!("/api/v1/query?query={query}"));
    let (status, body) = get_json(&url);
    if status != 200 {
        return 0;
    }
    body["data"]["result"].as_array().map(|a| a.len()).unwrap_or(0)
}

#[test]
fn prometheus_remote_write_and_promtool_query() {
    let (Ok(prometheus), Ok(promtool)) = (std::env::var("METRICSTOR_PROMETHEUS_BIN"), std::env::var("METRICSTOR_PROMTOOL_BIN")) else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN and METRICSTOR_PROMTOOL_BIN (bash .ci/run does) to run the Prometheus interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\nremote_write:\n  - url: {}\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
            server.url("/api/v1/write")
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus(&prometheus, &prom_config, prom_port, dir.path());

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if series_count(&server, "up") >= 1 && series_count(&server, "prometheus_build_info") >= 1 {
            break;
        }
        assert!(Instant::now() < deadline, "up and prometheus_build_info did not arrive via remote_write within 90 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    let (_, body) = get_json(&server.url("/api/v1/query?query=up"));
    let up = &body["data"]["result"][0];
    assert_eq!(up["metric"]["job"], "prometheus", "{body}");
    assert_eq!(up["value"][1], "1", "{body}");

    let output = Command::new(&promtool)
        .args(["query", "instant", &format!("http://{}", server.http_addr), "up"])
        .output()
        .expect("run promtool");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "promtool failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("up{") && stdout.contains("=> 1"), "promtool output: {stdout}");

    // The other promtool query commands, each through our API.
    let addr = format!("http://{}", server.http_addr);
    let promtool_out = |args: &[&str]| {
        let output = Command::new(&promtool).arg("query").args(args).output().expect("run promtool");
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        assert!(output.status.success(), "promtool {args:?} failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));
        stdout
    };
    let range = promtool_out(&["range", "--step=1s", &addr, "up"]);
    assert!(range.contains("up{") && range.contains("1 @["), "promtool query range output: {range}");
    let series = promtool_out(&["series", "--match=up", &addr]);
    assert!(series.contains("__name__=\"up\"") && series.contains("job=\"prometheus\""), "promtool query series output: {series}");
    let labels = promtool_out(&["labels", &addr, "job"]);
    assert!(labels.lines().any(|l| l.trim() == "prometheus"), "promtool query labels output: {labels}");
    assert!(server.stop());
}

#[test]
fn prometheus_remote_read_from_metricstor() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the remote read interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let samples: Vec<(i64, f64)> = (0..10).map(|i| (now_ms - 60_000 + i * 5_000, 40.0 + i as f64)).collect();
    let body = v1_request(&[(vec![("__name__", "interop_remote_read"), ("job", "rr")], samples)]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(&prom_config, format!("remote_read:\n  - url: {}\n    read_recent: true\n", server.url("/api/v1/read"))).unwrap();
    let _prometheus = start_prometheus(&prometheus, &prom_config, prom_port, dir.path());
    let url = format!("http://127.0.0.1:{prom_port}/api/v1/query?query=interop_remote_read&time={}", now_ms as f64 / 1000.0);
    let value = poll_prometheus(&url, "the remote-read series", |body| body["data"]["result"][0]["value"][1].as_str().map(str::to_string));
    assert_eq!(value, "49", "Prometheus sees the latest sample through remote read");
    assert!(server.stop());
}

/// The client_model exposition messages (io.prometheus.client), for a scrape target serving
/// a native histogram in the protobuf format Prometheus negotiates when native histograms are on.
mod exposition {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct LabelPair {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct BucketSpan {
        #[prost(sint32, optional, tag = "1")]
        pub offset: Option<i32>,
        #[prost(uint32, optional, tag = "2")]
        pub length: Option<u32>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Histogram {
        #[prost(uint64, optional, tag = "1")]
        pub sample_count: Option<u64>,
        #[prost(double, optional, tag = "2")]
        pub sample_sum: Option<f64>,
        #[prost(sint32, optional, tag = "5")]
        pub schema: Option<i32>,
        #[prost(double, optional, tag = "6")]
        pub zero_threshold: Option<f64>,
        #[prost(uint64, optional, tag = "7")]
        pub zero_count: Option<u64>,
        #[prost(message, repeated, tag = "9")]
        pub negative_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "10")]
        pub negative_delta: Vec<i64>,
        #[prost(message, repeated, tag = "12")]
        pub positive_span: Vec<BucketSpan>,
        #[prost(sint64, repeated, tag = "13")]
        pub positive_delta: Vec<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "7")]
        pub histogram: Option<Histogram>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub help: Option<String>,
        /// 4: HISTOGRAM.
        #[prost(int32, optional, tag = "3")]
        pub r#type: Option<i32>,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }
}

/// A scrape target on a free port serving one native histogram family (protobuf, delimited)
/// that grows with every scrape; the thread ends with the test process.
fn serve_native_histogram_target() -> u16 {
    use prost::Message;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind target");
    let port = listener.local_addr().expect("target address").port();
    std::thread::spawn(move || {
        let mut scrape: i64 = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            scrape += 1;
            let n = scrape;
            let span = |offset, length| exposition::BucketSpan { offset: Some(offset), length: Some(length) };
            let family = exposition::MetricFamily {
                name: Some("interop_nh_seconds".into()),
                help: Some("A native histogram for the interop test.".into()),
                r#type: Some(4),
                metric: vec![exposition::Metric {
                    label: vec![exposition::LabelPair { name: Some("path".into()), value: Some("/x".into()) }],
                    histogram: Some(exposition::Histogram {
                        // zero n, positive n, 2n, 2n, 3n (deltas n, n, 0, n), negative n, n.
                        sample_count: Some((11 * n) as u64),
                        sample_sum: Some(7.5 * n as f64),
                        schema: Some(1),
                        zero_threshold: Some(0.001),
                        zero_count: Some(n as u64),
                        positive_span: vec![span(-1, 3), span(2, 1)],
                        positive_delta: vec![n, n, 0, n],
                        negative_span: vec![span(0, 2)],
                        negative_delta: vec![n, 0],
                    }),
                }],
            };
            let body = family.encode_length_delimited_to_vec();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, head.as_bytes());
            let _ = std::io::Write::write_all(&mut stream, &body);
        }
    });
    port
}

/// Real Prometheus (native histograms on) scrapes a native histogram and remote_writes it
/// to Metricstor (`send_native_histograms`): the histograms we store render in our API exactly
/// as Prometheus renders its own copy (count, sum, every bucket and its boundary rule), and
/// the histogram functions agree.
#[test]
fn prometheus_remote_writes_native_histograms() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the native histogram interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let target = serve_native_histogram_target();
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: nh\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\nremote_write:\n  - url: {}\n    send_native_histograms: true\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
            server.url("/api/v1/write")
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus_with(&prometheus, &prom_config, prom_port, dir.path(), &["--enable-feature=native-histograms"]);
    // Wait until we hold at least 3 of its histograms, then compare at the time of our newest.
    let deadline = Instant::now() + Duration::from_secs(90);
    let newest_ms = loop {
        let (_, body) = get_json(&server.url("/api/v1/query?query=count_over_time(interop_nh_seconds%5B1h%5D)"));
        let stored = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        if stored >= 3.0 {
            let (_, body) = get_json(&server.url("/api/v1/query?query=timestamp(interop_nh_seconds)"));
            let seconds = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).expect("a timestamp");
            break (seconds * 1000.0).round() as i64;
        }
        assert!(Instant::now() < deadline, "Prometheus did not remote_write 3 native histograms within 90 s: {body}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let at = format!("{}", newest_ms as f64 / 1000.0);
    for query in ["interop_nh_seconds", "histogram_count(interop_nh_seconds)", "histogram_sum(interop_nh_seconds)", "histogram_count(rate(interop_nh_seconds[1h]))"] {
        let encoded: String = query.bytes().map(|b| if b.is_ascii_alphanumeric() || b == b'_' { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        let path = format!("/api/v1/query?query={encoded}&time={at}");
        let theirs = poll_prometheus(&format!("http://127.0.0.1:{prom_port}{path}"), query, |body| body["data"]["result"].as_array().filter(|r| !r.is_empty()).cloned());
        let (status, ours) = get_json(&server.url(&path));
        assert_eq!(status, 200, "{query}: {ours}");
        let ours = ours["data"]["result"].as_array().cloned().unwrap_or_default();
        // The same series (Prometheus adds job and instance on scrape) with the same value.
        let strip = |r: &Vec<serde_json::Value>| r.iter().map(|s| (s["metric"].clone(), s.get("value").cloned(), s.get("histogram").cloned())).collect::<Vec<_>>();
        assert_eq!(strip(&ours), strip(&theirs), "{query}");
        if query == "interop_nh_seconds" {
            // Zero bucket, 4 positive and 2 negative buckets, none empty.
            let buckets = theirs[0]["histogram"][1]["buckets"].as_array().map_or(0, Vec::len);
            assert_eq!(buckets, 7, "{theirs:?}");
        }
    }
    assert!(server.stop());
}

/// A scrape target on a free port serving an OpenMetrics counter whose every scrape carries a
/// new exemplar (`trace_id` = `t<scrape>`, value and timestamp of that scrape).
fn serve_exemplar_target() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind target");
    let port = listener.local_addr().expect("target address").port();
    std::thread::spawn(move || {
        let mut scrape: u64 = 0;
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            scrape += 1;
            let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as f64 / 1000.0).unwrap_or(0.0);
            let body = format!(
                "# TYPE interop_ex_requests counter\n# HELP interop_ex_requests Requests.\ninterop_ex_requests_total{{path=\"/x\"}} {scrape} # {{trace_id=\"t{scrape}\"}} {}.5 {now_s:.3}\n# EOF\n",
                scrape
            );
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut stream, head.as_bytes());
            let _ = std::io::Write::write_all(&mut stream, body.as_bytes());
        }
    });
    port
}

/// Real Prometheus (exemplar storage on) scrapes exemplars and remote_writes them
/// (`send_exemplars`): `/api/v1/query_exemplars` answers the ones it sent exactly as
/// Prometheus answers its own copy.
#[test]
fn prometheus_remote_writes_exemplars() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the exemplar interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let target = serve_exemplar_target();
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ex\n    static_configs:\n      - targets: ['127.0.0.1:{target}']\nremote_write:\n  - url: {}\n    send_exemplars: true\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n",
            server.url("/api/v1/write")
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus_with(&prometheus, &prom_config, prom_port, dir.path(), &["--enable-feature=exemplar-storage"]);
    let path = "/api/v1/query_exemplars?query=interop_ex_requests_total&start=0&end=9999999999";
    // At least 3 of its exemplars here; then every one we hold is one Prometheus holds, and
    // the first 3 are the same exemplars.
    let deadline = Instant::now() + Duration::from_secs(90);
    let ours = loop {
        let (_, body) = get_json(&server.url(path));
        let held = body["data"][0]["exemplars"].as_array().map_or(0, Vec::len);
        if held >= 3 {
            break body;
        }
        assert!(Instant::now() < deadline, "Prometheus did not remote_write 3 exemplars within 90 s: {body}");
        std::thread::sleep(Duration::from_millis(250));
    };
    let theirs = poll_prometheus(&format!("http://127.0.0.1:{prom_port}{path}"), "its exemplars", |body| {
        body["data"][0]["exemplars"].as_array().filter(|e| e.len() >= 3).map(|_| body.clone())
    });
    assert_eq!(ours["data"][0]["seriesLabels"], theirs["data"][0]["seriesLabels"], "{ours} {theirs}");
    assert_eq!(ours["data"][0]["seriesLabels"]["job"], "ex");
    let (mine, prom) = (ours["data"][0]["exemplars"].as_array().expect("ours"), theirs["data"][0]["exemplars"].as_array().expect("theirs"));
    for e in mine {
        assert!(prom.contains(e), "{e} is not among Prometheus' exemplars {theirs}");
    }
    assert_eq!(mine[..3], prom[..3], "the first exemplars differ");
    assert_eq!(mine[0]["labels"]["trace_id"], "t1", "{ours}");
    assert!(server.stop());
}

/// Prometheus federating from Metricstor (`/federate`, `honor_labels: true`): it scrapes the
/// newest samples with their own timestamps and labels, and a series without `instance`
/// stays without one.
#[test]
fn prometheus_federates_from_metricstor() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the federation interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 / 1000 * 1000;
    let body = v1_request(&[
        (vec![("__name__", "interop_fed"), ("instance", "node-1:9100"), ("job", "node")], vec![(now_ms - 20_000, 1.0), (now_ms - 10_000, 42.5)]),
        (vec![("__name__", "interop_fed"), ("job", "batch")], vec![(now_ms - 15_000, 7.0)]),
        (vec![("__name__", "interop_not_federated"), ("job", "node")], vec![(now_ms - 10_000, 1.0)]),
    ]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params:\n      'match[]': ['{{__name__=\"interop_fed\"}}']\n    static_configs:\n      - targets: ['{}']\n",
            server.http_addr
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus(&prometheus, &prom_config, prom_port, dir.path());
    let url = format!("http://127.0.0.1:{prom_port}/api/v1/query?query=%7B__name__%3D~%22interop_.*%22%7D&time={}", now_ms as f64 / 1000.0);
    let result = poll_prometheus(&url, "the federated series", |body| {
        body["data"]["result"].as_array().is_some_and(|a| a.len() >= 2).then(|| body["data"]["result"].clone())
    });
    let mut got: Vec<(String, String)> = result
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["metric"].to_string(), s["value"][1].as_str().unwrap_or_default().to_string()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (r#"{"__name__":"interop_fed","instance":"node-1:9100","job":"node"}"#.to_string(), "42.5".to_string()),
            (r#"{"__name__":"interop_fed","job":"batch"}"#.to_string(), "7".to_string()),
        ],
        "{result}"
    );
    assert!(server.stop());
}

#[test]
fn prometheus_remote_write_over_mutual_tls() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the mTLS interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let made = Command::new(env!("CARGO_BIN_EXE_metricstor")).args(["certs", "--out"]).arg(&pki).args(["--client", "prometheus"]).output().unwrap();
    assert!(made.status.success());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 2\nstorage:\n  data_dir: {}\n{RETENTION_FROM_1970}tls:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n  ca_file: {p}/ca.crt\n  require_client_cert: true\n  write_allowed_sans: [prometheus]\n",
            dir.path().join("data").display(),
            p = pki.display()
        ),
    )
    .unwrap();
    let server = Server::start(&config);
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{prom_port}']\nremote_write:\n  - url: https://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n    tls_config:\n      ca_file: {p}/ca.crt\n      cert_file: {p}/prometheus.crt\n      key_file: {p}/prometheus.key\n",
            server.http_addr,
            p = pki.display()
        ),
    )
    .unwrap();
    let _prometheus = start_prometheus(&prometheus, &prom_config, prom_port, dir.path());
    // Read back over mTLS too (read_allowed_sans is empty: any verified client may query).
    let reader = {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(pki.join("ca.crt")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let chain: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(pki.join("prometheus.crt")).unwrap().collect::<Result<_, _>>().unwrap();
        let key = rustls::pki_types::PrivateKeyDer::from_pem_file(pki.join("prometheus.key")).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .unwrap();
        ureq::AgentBuilder::new().tls_config(std::sync::Arc::new(config)).build()
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let url = format!("https://{}/api/v1/query?query=up", server.http_addr);
        if let Ok(r) = reader.get(&url).call() {
            let body: serde_json::Value = serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default();
            if body["data"]["result"][0]["value"][1] == "1" {
                break;
            }
        }
        assert!(Instant::now() < deadline, "Prometheus did not remote_write over mTLS within 90 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(server.stop());
}

/// Starts Metricstor scraping by `our_file` and Prometheus (with `flags`) by `prom_file`, and
/// waits until each has scraped `jobs` jobs `scrapes` times; returns both and their base URLs.
fn scrape_side_by_side(prometheus: &str, dir: &std::path::Path, prom_file: &std::path::Path, our_file: &std::path::Path, flags: &[&str], jobs: usize, scrapes: usize) -> (Server, KillOnDrop, String, String) {
    let config = write_config(dir, "");
    add_scrape_config(&config, our_file);
    let server = Server::start(&config);
    let prom_port = free_port();
    let killer = start_prometheus_with(prometheus, prom_file, prom_port, dir, flags);
    let prom = format!("http://127.0.0.1:{prom_port}");
    let ours = format!("http://{}", server.http_addr);
    for base in [&prom, &ours] {
        let url = format!("{base}/api/v1/query?query=count_over_time(up%5B1m%5D)%20%3E%3D%20{scrapes}");
        poll_prometheus(&url, &format!("{scrapes} scrapes of {jobs} jobs"), |body| body["data"]["result"].as_array().filter(|r| r.len() == jobs).map(|_| ()));
    }
    (server, killer, prom, ours)
}

/// The label sets of `match` at `base` (Prometheus' or ours), each as sorted JSON text.
fn series_of(base: &str, matcher: &str) -> Vec<String> {
    let encoded: String = percent_encode(matcher);
    let (status, body) = get_json(&format!("{base}/api/v1/series?match[]={encoded}"));
    assert_eq!(status, 200, "{body}");
    let mut list: Vec<String> = body["data"].as_array().cloned().unwrap_or_default().iter().map(|s| s.to_string()).collect();
    list.sort();
    list
}

/// The value of each series of `query` at its latest sample, keyed by its labels.
fn values_of(base: &str, query: &str) -> Vec<(String, String)> {
    let encoded: String = percent_encode(query);
    let (_, body) = get_json(&format!("{base}/api/v1/query?query={encoded}"));
    let mut list: Vec<(String, String)> = body["data"]["result"].as_array().cloned().unwrap_or_default().iter().map(|s| (s["metric"].to_string(), s["value"][1].as_str().unwrap_or("").to_string())).collect();
    list.sort();
    list
}

/// Prometheus and Metricstor scrape the same target with the same configuration file: the
/// series each stores (the target's own, with the target labels merged, an exposed `job`
/// and `instance` kept as `exported_…` or honoured; `up` and the `scrape_*` series; what
/// metric relabeling drops) are the same label sets, and the target's values the same.
#[test]
fn metricstor_scrapes_what_prometheus_scrapes() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the scrape interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start(concat!(
        "# HELP interop_requests_total Requests \\\\ served.\\nSecond line.\n# TYPE interop_requests_total counter\n",
        "interop_requests_total{path=\"/a\\\"b\\\\c\",job=\"inner\",instance=\"x\"} 7\n",
        "interop_requests_total{path=\"/d\"} 1.5e3\n",
        "# TYPE interop_latency_seconds histogram\n",
        "interop_latency_seconds_bucket{le=\"0.1\"} 3\ninterop_latency_seconds_bucket{le=\"+Inf\"} 5\n",
        "interop_latency_seconds_sum 0.75\ninterop_latency_seconds_count 5\n",
        "interop_gauge{kind=\"nan\"} NaN\ninterop_gauge{kind=\"inf\"} +Inf\ninterop_gauge{kind=\"empty\",other=\"\"} -2\n",
        // Only \\, \" and \n are escapes: the backslashes before t and q stay.
        "interop_gauge{kind=\"escapes\",v=\"a\\tb\\\\c\\qd\\n\"} 3\n",
        "interop_dropped 1\n",
        // As a Pushgateway exposes a group pushed without an instance: with honor_labels
        // the empty label keeps the target's `instance` away.
        "interop_pushed{instance=\"\"} 4\n",
    ));
    let scrape_file = dir.path().join("prometheus.yml");
    std::fs::write(
        &scrape_file,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n\
             - job_name: app\n  static_configs:\n  - targets: ['{addr}']\n    labels: {{env: interop, empty: ''}}\n  metric_relabel_configs:\n  - {{source_labels: [__name__], regex: interop_dropped, action: drop}}\n  - {{source_labels: [path], regex: '/d', target_label: path_kind, replacement: short}}\n\
             - job_name: honored\n  honor_labels: true\n  metrics_path: /other\n  params: {{x: ['1']}}\n  static_configs:\n  - targets: ['{addr}']\n",
            addr = exporter.address()
        ),
    )
    .unwrap();
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);
    let prom_port = free_port();
    let _prometheus = start_prometheus(&prometheus, &scrape_file, prom_port, dir.path());
    let prom = format!("http://127.0.0.1:{prom_port}");
    let ours = format!("http://{}", server.http_addr);
    // Both have scraped both jobs twice when each stores two samples of every `up`.
    for base in [&prom, &ours] {
        poll_prometheus(&format!("{base}/api/v1/query?query=count_over_time(up%5B1m%5D)"), "two scrapes of both jobs", |body| {
            let result = body["data"]["result"].as_array()?;
            (result.len() == 2 && result.iter().all(|s| s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(|n| n >= 2.0))).then_some(())
        });
    }
    let matcher = "{job=~\"app|honored|inner\"}";
    let theirs = series_of(&prom, matcher);
    assert!(theirs.len() > 20, "{theirs:?}");
    assert_eq!(series_of(&ours, matcher), theirs);
    let query = "{__name__=~\"interop_.*|up\"}";
    assert_eq!(values_of(&ours, query), values_of(&prom, query));
    // The families' TYPE and HELP, as /api/v1/metadata answers them.
    let metadata = |base: &str| {
        let (status, body) = get_json(&format!("{base}/api/v1/metadata"));
        assert_eq!(status, 200, "{body}");
        let mut families: Vec<(String, String)> = body["data"].as_object().cloned().unwrap_or_default().into_iter().filter(|(f, _)| f.starts_with("interop_")).map(|(f, v)| (f, v.to_string())).collect();
        families.sort();
        families
    };
    let theirs = metadata(&prom);
    assert!(theirs.len() >= 2, "{theirs:?}");
    assert_eq!(metadata(&ours), theirs);
    // The exporter was asked for /other?x=1 by both.
    let heads = exporter.request_heads();
    assert!(heads.iter().filter(|h| h.starts_with("GET /other?x=1 HTTP/1.1")).count() >= 4, "{heads:?}");
    assert!(server.stop());
}

/// A protobuf answer covering every family type: a counter with labels needing escapes, a
/// gauge, an untyped value, a summary, a classic-only histogram (no
/// `+Inf` bucket) and a histogram with native and classic buckets.
fn protobuf_families() -> Vec<u8> {
    use prost::Message;
    use proto::client_model::*;
    let label = |name: &str, value: &str| LabelPair { name: name.into(), value: value.into() };
    let family = |name: &str, kind: MetricType, metric: Vec<Metric>| MetricFamily { name: name.into(), help: format!("{name} \\ help\nline \"two\"."), r#type: kind as i32, metric, unit: String::new() };
    let bucket = |upper_bound: f64, cumulative_count: u64| Bucket { cumulative_count, upper_bound, ..Bucket::default() };
    let families = [
        family("pbi_requests_total", MetricType::Counter, vec![Metric { label: vec![label("path", "/a\"b\\c\nd"), label("code", "200")], counter: Some(Counter { value: 7.0, ..Counter::default() }), ..Metric::default() }, Metric { label: vec![label("path", "/e"), label("code", "500")], counter: Some(Counter { value: 1.5e3, ..Counter::default() }), ..Metric::default() }]),
        family("pbi_temperature", MetricType::Gauge, vec![Metric { gauge: Some(Gauge { value: -2.25 }), ..Metric::default() }]),
        family("pbi_untyped", MetricType::Untyped, vec![Metric { untyped: Some(Untyped { value: 0.1 }), ..Metric::default() }]),
        family("pbi_rpc_seconds", MetricType::Summary, vec![Metric { summary: Some(Summary { sample_count: 9, sample_sum: 1.25, quantile: vec![Quantile { quantile: 0.5, value: 0.1 }, Quantile { quantile: 0.99, value: 0.5 }], created_timestamp: None }), ..Metric::default() }]),
        family("pbi_size_bytes", MetricType::Histogram, vec![Metric { histogram: Some(Histogram { sample_count: 5, sample_sum: 900.0, bucket: vec![bucket(100.0, 2), bucket(1000.0, 4)], ..Histogram::default() }), ..Metric::default() }]),
        family(
            "pbi_latency_seconds",
            MetricType::Histogram,
            vec![Metric {
                label: vec![label("path", "/x")],
                histogram: Some(Histogram {
                    sample_count: 11,
                    sample_sum: 7.5,
                    bucket: vec![bucket(0.5, 3), bucket(1.0, 6), bucket(f64::INFINITY, 11)],
                    schema: 1,
                    zero_threshold: 0.001,
                    zero_count: 1,
                    positive_span: vec![BucketSpan { offset: -1, length: 3 }, BucketSpan { offset: 2, length: 1 }],
                    positive_delta: vec![1, 1, 0, 1],
                    negative_span: vec![BucketSpan { offset: 0, length: 2 }],
                    negative_delta: vec![1, 0],
                    ..Histogram::default()
                }),
                ..Metric::default()
            }],
        ),
        // A float histogram (an empty bucket among them, compacted away) and a gauge
        // histogram. (An empty native histogram marked by a no-op span is not compared:
        // Prometheus 2.42 reads it as classic, 3.x as native, as we do.)
        family(
            "pbi_ratio",
            MetricType::Histogram,
            vec![Metric {
                histogram: Some(Histogram {
                    sample_count_float: 4.5,
                    sample_sum: 2.25,
                    schema: 2,
                    zero_threshold: 0.01,
                    zero_count_float: 0.5,
                    positive_span: vec![BucketSpan { offset: 0, length: 3 }],
                    positive_count: vec![1.5, 0.0, 2.5],
                    ..Histogram::default()
                }),
                ..Metric::default()
            }],
        ),
        family("pbi_queue_depth", MetricType::GaugeHistogram, vec![Metric { histogram: Some(Histogram { sample_count: 3, sample_sum: 12.0, schema: 0, positive_span: vec![BucketSpan { offset: 2, length: 2 }], positive_delta: vec![2, -1], ..Histogram::default() }), ..Metric::default() }]),
    ];
    let mut body = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut body).expect("encode a family");
    }
    body
}

/// Prometheus (native histograms on, which makes it ask for the protobuf format) and
/// Metricstor (`scrape_native_histograms: true`) scrape the same protobuf answer: the same
/// series, the same float values, native histograms rendered alike, the same metadata.
#[test]
fn metricstor_scrapes_protobuf_answers_as_prometheus_does() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the protobuf scrape interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start("");
    exporter.route_bytes("/metrics", 200, &["Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"], &protobuf_families());
    let job = format!("scrape_configs:\n- job_name: pb\n  static_configs:\n  - targets: ['{}']\n", exporter.address());
    // Prometheus 2.42 knows no scrape_native_histograms (its feature flag does that).
    let prom_file = dir.path().join("prometheus.yml");
    std::fs::write(&prom_file, format!("global:\n  scrape_interval: 1s\n{job}")).unwrap();
    let our_file = dir.path().join("ours.yml");
    std::fs::write(&our_file, format!("global:\n  scrape_interval: 1s\n  scrape_native_histograms: true\n{job}")).unwrap();
    let (server, _prometheus, prom, ours) = scrape_side_by_side(&prometheus, dir.path(), &prom_file, &our_file, &["--enable-feature=native-histograms"], 1, 2);
    let matcher = "{__name__=~\"pbi_.*\"}";
    let theirs = series_of(&prom, matcher);
    assert_eq!(theirs.len(), 16, "{theirs:?}");
    assert_eq!(series_of(&ours, matcher), theirs);
    // Values and histograms (timestamps left out: each scraped at its own time).
    let results = |base: &str| {
        let encoded: String = percent_encode(matcher);
        let (status, body) = get_json(&format!("{base}/api/v1/query?query={encoded}"));
        assert_eq!(status, 200, "{body}");
        let mut list: Vec<String> = body["data"]["result"].as_array().cloned().unwrap_or_default().iter().map(|s| format!("{} {} {}", s["metric"], s["value"][1], s["histogram"][1])).collect();
        list.sort();
        list
    };
    let theirs = results(&prom);
    assert!(theirs.iter().any(|r| r.contains("\"buckets\"")), "a native histogram: {theirs:?}");
    assert_eq!(results(&ours), theirs);
    let metadata = |base: &str| {
        let (status, body) = get_json(&format!("{base}/api/v1/metadata"));
        assert_eq!(status, 200, "{body}");
        let mut families: Vec<(String, String)> = body["data"].as_object().cloned().unwrap_or_default().into_iter().filter(|(f, _)| f.starts_with("pbi_")).map(|(f, v)| (f, v.to_string())).collect();
        families.sort();
        families
    };
    let theirs = metadata(&prom);
    assert_eq!(theirs.len(), 8, "{theirs:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while metadata(&ours) != theirs {
        assert!(Instant::now() < deadline, "our metadata {:?} is Prometheus' {theirs:?}", metadata(&ours));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.stop());
}

/// A protobuf answer with exemplars at `at_ms`: a counter's, and two of a classic
/// histogram's buckets (one without a timestamp).
fn protobuf_exemplar_families(at_ms: i64) -> Vec<u8> {
    use prost::Message;
    use proto::client_model::*;
    let label = |name: &str, value: &str| LabelPair { name: name.into(), value: value.into() };
    let time = Some(Timestamp { seconds: at_ms.div_euclid(1000), nanos: (at_ms.rem_euclid(1000) * 1_000_000) as i32 });
    let exemplar = |trace: &str, value: f64, timestamp: Option<Timestamp>| Some(Exemplar { label: vec![label("trace_id", trace)], value, timestamp });
    let families = [
        MetricFamily { name: "pbx_requests_total".into(), help: String::new(), r#type: MetricType::Counter as i32, metric: vec![Metric { label: vec![label("code", "200")], counter: Some(Counter { value: 7.0, exemplar: exemplar("pc", 0.5, time), created_timestamp: None }), ..Metric::default() }], unit: String::new() },
        MetricFamily {
            name: "pbx_latency_seconds".into(),
            help: String::new(),
            r#type: MetricType::Histogram as i32,
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count: 4,
                    sample_sum: 2.0,
                    bucket: vec![Bucket { cumulative_count: 1, upper_bound: 0.5, exemplar: exemplar("pb1", 0.25, time), ..Bucket::default() }, Bucket { cumulative_count: 3, upper_bound: 1.0, exemplar: exemplar("pb2", 0.75, None), ..Bucket::default() }],
                    ..Histogram::default()
                }),
                ..Metric::default()
            }],
            unit: String::new(),
        },
    ];
    let mut body = Vec::new();
    for f in families {
        f.encode_length_delimited(&mut body).expect("encode a family");
    }
    body
}

/// Every exemplar `/api/v1/query_exemplars` holds for `query` at `base`, one line each
/// (series labels, exemplar labels, value, and the timestamp, or `scrape time` for an
/// exemplar that had none: those differ between the two scrapers), sorted.
fn exemplars_of(base: &str, query: &str, untimed: &[&str]) -> Vec<String> {
    let (status, body) = get_json(&format!("{base}/api/v1/query_exemplars?query={}&start=0&end=9999999999", percent_encode(query)));
    assert_eq!(status, 200, "{body}");
    let mut lines: Vec<String> = Vec::new();
    for series in body["data"].as_array().cloned().unwrap_or_default() {
        for e in series["exemplars"].as_array().cloned().unwrap_or_default() {
            let trace = e["labels"]["trace_id"].as_str().unwrap_or("");
            let at = if untimed.contains(&trace) { "scrape time".to_string() } else { e["timestamp"].to_string() };
            lines.push(format!("{} {} {} {at}", series["seriesLabels"], e["labels"], e["value"]));
        }
    }
    lines.sort();
    lines
}

/// Prometheus (exemplar storage on) and Metricstor scrape the same OpenMetrics and protobuf
/// answers with exemplars: both keep the same exemplars on the same series (one without a
/// timestamp once, at the first scrape's time, though every scrape repeats it; an empty
/// label dropped; one over 128 characters by neither). No
/// gauge carries one: Prometheus 2.42 fails such an OpenMetrics scrape, 2.43 and later (and
/// we) take exemplars on any series.
#[test]
fn metricstor_keeps_scraped_exemplars_as_prometheus_does() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the scraped exemplar interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start("");
    let at_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64) - 60_000;
    let at_s = format!("{}.{:03}", at_ms / 1000, at_ms % 1000);
    let long = "x".repeat(130);
    let openmetrics = format!(
        "# TYPE omx_requests counter\nomx_requests_total{{code=\"200\"}} 5 # {{trace_id=\"oc\",span_id=\"s1\"}} 1.5 {at_s}\nomx_requests_total{{code=\"500\"}} 2 # {{trace_id=\"untimed\"}} 2\n\
         # TYPE omx_latency_seconds histogram\nomx_latency_seconds_bucket{{le=\"0.5\"}} 1 # {{trace_id=\"ob1\",span_id=\"\"}} 0.25 {at_s}\nomx_latency_seconds_bucket{{le=\"1.0\"}} 3 # {{trace_id=\"long\",x=\"{long}\"}} 0.75 {at_s}\nomx_latency_seconds_bucket{{le=\"+Inf\"}} 4\nomx_latency_seconds_sum 2.0\nomx_latency_seconds_count 4\n\
         # TYPE omx_temperature gauge\nomx_temperature 21.5\n# EOF\n"
    );
    exporter.route("/om", 200, &["Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"], &openmetrics);
    exporter.route_bytes("/pb", 200, &["Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"], &protobuf_exemplar_families(at_ms));
    let scrape_file = dir.path().join("prometheus.yml");
    let addr = exporter.address();
    std::fs::write(&scrape_file, format!("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: om\n  metrics_path: /om\n  static_configs: [{{targets: ['{addr}']}}]\n- job_name: pb\n  metrics_path: /pb\n  static_configs: [{{targets: ['{addr}']}}]\n")).unwrap();
    // Native histograms on makes Prometheus 2.42 read protobuf answers at all.
    let (server, _prometheus, prom, ours) = scrape_side_by_side(&prometheus, dir.path(), &scrape_file, &scrape_file, &["--enable-feature=exemplar-storage,native-histograms"], 2, 3);
    let query = "{job=~\"om|pb\"}";
    let untimed = ["untimed", "pb2"];
    let theirs = exemplars_of(&prom, query, &untimed);
    assert_eq!(theirs.len(), 6, "{theirs:#?}");
    assert!(theirs.iter().any(|l| l.contains("untimed") && l.ends_with("scrape time")), "{theirs:#?}");
    assert_eq!(exemplars_of(&ours, query, &untimed), theirs);
    assert!(server.stop());
}

/// Metricstor scrapes a Go HTTP/2 server: Prometheus serving its `/metrics` over TLS
/// (`--web.config.file`), which chooses `h2` when offered. One job offers HTTP/2 (the
/// default), one does not; both scrape it.
#[test]
fn metricstor_scrapes_a_tls_prometheus_over_http2_and_http1() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the HTTP/2 scrape interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), &[]);
    let web_config = dir.path().join("web.yml");
    std::fs::write(&web_config, format!("tls_server_config:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n", p = pki.display())).unwrap();
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(&prom_config, "global:\n  scrape_interval: 1m\nscrape_configs: []\n").unwrap();
    let web_flag = format!("--web.config.file={}", web_config.display());
    let _prometheus = start_prometheus_with(&prometheus, &prom_config, prom_port, dir.path(), &[&web_flag]);
    let scrape_dir = dir.path().join("scraper");
    std::fs::create_dir_all(&scrape_dir).unwrap();
    let config = write_scrape_config(&scrape_dir, format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
         - job_name: h2\n  scheme: https\n  tls_config: {{ca_file: '{p}/ca.crt'}}\n  static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n\
         - job_name: h1\n  scheme: https\n  enable_http2: false\n  tls_config: {{ca_file: '{p}/ca.crt'}}\n  static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]\n",
        p = pki.display()
    ));
    let server = Server::start(&config);
    let jobs = poll_query(&server, "count by (job) (prometheus_build_info)", "Prometheus' own series scraped by both jobs", Duration::from_secs(60), |r| {
        let mut jobs: Vec<String> = r.iter().filter_map(|s| s["metric"]["job"].as_str().map(str::to_string)).collect();
        jobs.sort();
        (jobs.len() == 2).then_some(jobs)
    });
    assert_eq!(jobs, ["h1", "h2"]);
    let (_, up) = get_json(&server.url("/api/v1/query?query=up"));
    assert!(up["data"]["result"].as_array().is_some_and(|r| r.len() == 2 && r.iter().all(|s| s["value"][1] == "1")), "{up}");
    assert!(server.stop());
}
