//! End-to-end: the real binary discovers scrape targets with `puppetdb_sd_configs` from a
//! mock PuppetDB on loopback (two resources, one on a mock exporter's address), POSTing the
//! PQL query as JSON to `<url>/pdb/query/v4`; keeps by relabeling the target that points at
//! the exporter, scrapes it, and shows the `__meta_puppetdb_*` labels (parameters included)
//! in `/api/v1/targets`; a PuppetDB that starts failing keeps the last good targets.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// The PQL query of the entry, as written in the YAML (single-quoted) and as sent.
const QUERY: &str = r#"resources { type = "Class" and title = "Prometheus::Node_exporter" }"#;

/// One request PuppetDB saw: its head (request line and headers) and body.
#[derive(Clone, Debug)]
struct Seen {
    head: String,
    body: String,
}

/// A PuppetDB on a loopback port: answers every request (HTTP/1.1, kept alive) with the
/// status, content type and body set at that moment, and records each request.
struct MockPuppetDb {
    port: u16,
    answer: Arc<Mutex<(u16, String, String)>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl MockPuppetDb {
    fn start() -> MockPuppetDb {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind puppetdb");
        let port = listener.local_addr().expect("puppetdb address").port();
        let answer = Arc::new(Mutex::new((404, "text/plain".to_string(), String::new())));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (answering, recording) = (answer.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (answering, recording) = (answering.clone(), recording.clone());
                std::thread::spawn(move || serve(stream, &answering, &recording));
            }
        });
        MockPuppetDb { port, answer, seen }
    }

    fn set(&self, status: u16, content_type: &str, body: &str) {
        *self.answer.lock().expect("answer") = (status, content_type.to_string(), body.to_string());
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Serves one connection's requests one after another, each body read by its length.
fn serve(stream: std::net::TcpStream, answer: &Mutex<(u16, String, String)>, seen: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(WAIT));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let length = head.lines().find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")).and_then(|(_, v)| v.trim().parse::<usize>().ok())).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().map(|mut s| s.push(Seen { head, body: String::from_utf8_lossy(&body).into_owned() })).ok();
        let (status, content_type, text) = answer.lock().map(|a| a.clone()).unwrap_or((500, String::new(), String::new()));
        let reply = format!("HTTP/1.1 {status} Mock\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{text}", text.len());
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

#[test]
fn puppetdb_sd_finds_resources_and_keeps_them_when_puppetdb_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("puppet_probe 1\n");
    let puppetdb = MockPuppetDb::start();
    let resources = json!([
        {"certname": "127.0.0.1", "environment": "production", "exported": false, "file": "/etc/puppetlabs/code/site/profile/manifests/monitoring.pp",
         "line": 12, "parameters": {"scrape": true, "job": "node", "interval": 15, "collectors": ["cpu", "meminfo"], "labels": {"rack": "r7"}, "unset": null},
         "resource": "5f3c8e2a9d", "tags": ["class", "prometheus::node_exporter", "profile::monitoring"], "title": "Prometheus::Node_exporter", "type": "Class"},
        {"certname": "db-2.example.org", "environment": "production", "exported": false, "file": null, "parameters": {},
         "resource": "77b0c1d2e3", "tags": ["class"], "title": "Prometheus::Node_exporter", "type": "Class"}
    ]);
    puppetdb.set(200, "application/json; charset=utf-8", &resources.to_string());
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: puppet\n  puppetdb_sd_configs:\n\
             \x20 - {{url: 'http://127.0.0.1:{pdb}/puppetdb/', query: '{QUERY}', include_parameters: true, port: {port}, refresh_interval: 1s}}\n\
             \x20 relabel_configs:\n\
             \x20 - {{source_labels: [__address__], regex: '127\\.0\\.0\\.1:{port}', action: keep}}\n\
             \x20 - {{source_labels: [__meta_puppetdb_environment], target_label: env}}\n\
             \x20 - {{source_labels: [__meta_puppetdb_parameter_labels_rack], target_label: rack}}\n",
            pdb = puppetdb.port,
            port = exporter.port
        ));
    let server = Server::start(&config);

    let found = poll_query(&server, "puppet_probe", "the node exporter resource scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(found, json!({"__name__": "puppet_probe", "env": "production", "rack": "r7", "instance": exporter.address(), "job": "puppet"}));

    // The other resource is discovered too, and dropped by relabeling.
    let targets = poll_targets(&server, WAIT, |t| {
        t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 1 && a[0]["health"] == "up") && t["data"]["droppedTargets"].as_array().is_some_and(|d| d.len() == 1)
    });
    let discovered = &targets["data"]["activeTargets"][0]["discoveredLabels"];
    let expected = [
        ("__address__", exporter.address()),
        ("__meta_puppetdb_query", QUERY.to_string()),
        ("__meta_puppetdb_certname", "127.0.0.1".to_string()),
        ("__meta_puppetdb_environment", "production".to_string()),
        ("__meta_puppetdb_exported", "false".to_string()),
        ("__meta_puppetdb_file", "/etc/puppetlabs/code/site/profile/manifests/monitoring.pp".to_string()),
        ("__meta_puppetdb_resource", "5f3c8e2a9d".to_string()),
        ("__meta_puppetdb_tags", ",class,prometheus::node_exporter,profile::monitoring,".to_string()),
        ("__meta_puppetdb_title", "Prometheus::Node_exporter".to_string()),
        ("__meta_puppetdb_type", "Class".to_string()),
        ("__meta_puppetdb_parameter_scrape", "true".to_string()),
        ("__meta_puppetdb_parameter_job", "node".to_string()),
        ("__meta_puppetdb_parameter_interval", "15".to_string()),
        ("__meta_puppetdb_parameter_collectors", "cpu,meminfo".to_string()),
        ("__meta_puppetdb_parameter_labels_rack", "r7".to_string()),
    ];
    for (name, value) in &expected {
        assert_eq!(discovered[name].as_str(), Some(value.as_str()), "{name} in {discovered}");
    }
    let puppetdb_labels = discovered.as_object().map(|m| m.keys().filter(|k| k.starts_with("__meta_puppetdb_")).count()).unwrap_or(0);
    assert_eq!(puppetdb_labels, expected.len() - 1, "exactly Prometheus' labels: {discovered}");
    let dropped = &targets["data"]["droppedTargets"][0]["discoveredLabels"];
    assert_eq!(dropped["__address__"].as_str(), Some(format!("db-2.example.org:{}", exporter.port).as_str()), "{dropped}");

    // Every request: a POST of the query as JSON to the joined path, asking for JSON.
    let seen = puppetdb.seen();
    assert!(!seen.is_empty());
    for request in &seen {
        assert!(request.head.starts_with("POST /puppetdb/pdb/query/v4 HTTP/1.1\r\n"), "{}", request.head);
        let head = request.head.to_ascii_lowercase();
        assert!(head.contains("\r\ncontent-type: application/json\r\n") && head.contains("\r\naccept: application/json\r\n"), "{}", request.head);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&request.body).ok(), Some(json!({"query": QUERY})), "{}", request.body);
    }

    // PuppetDB starts failing: the last good targets stay, and the failure is logged.
    puppetdb.set(503, "text/plain", "PuppetDB is shutting down");
    let asked_before = puppetdb.seen().len();
    let deadline = Instant::now() + WAIT;
    while puppetdb.seen().len() < asked_before + 3 {
        assert!(Instant::now() < deadline, "PuppetDB was not asked again");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.wait_log("server returned HTTP status 503 Service Unavailable", WAIT), "the failure is logged");
    let (status, targets) = get_json(&server.url("/api/v1/targets"));
    assert_eq!(status, 200);
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["discoveredLabels"]["__meta_puppetdb_certname"], "127.0.0.1");
    assert!(server.stop(), "clean shutdown");
}
