//! VictoriaMetrics as a peer: started on a free port with its own data directory, killed
//! when dropped, and its export read as text for comparison.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{agent, free_port, START_DEADLINE};

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
    start_victoriametrics_with(binary, dir, &[])
}

/// `start_victoriametrics` with more command-line flags (`extra`).
pub fn start_victoriametrics_with(binary: &str, dir: &Path, extra: &[&str]) -> (KillOnDrop, String, PathBuf) {
    let port = free_port();
    let log = dir.join("victoria-metrics.log");
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log handle");
    let child = Command::new(binary)
        .args([format!("-storageDataPath={}", dir.join("vm-data").display()), format!("-httpListenAddr=127.0.0.1:{port}"), "-retentionPeriod=100y".to_string()])
        .args(extra)
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
