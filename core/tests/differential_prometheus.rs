//! Differential test against real Prometheus (Debian's 2.42, remote-write receiver on): the
//! same data is pushed to both, then a varied set of instant and range queries is asked of
//! both through the HTTP API; results must be equal series for series, within a relative
//! float tolerance. Runs when METRICSTOR_PROMETHEUS_BIN is set (`.ci/run` sets it).

mod support;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const STEP_MS: i64 = 15_000;
const SAMPLES_PER_SERIES: i64 = 180; // 45 minutes

/// A small deterministic generator (no rand dependency needed for test data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

type Series = (Vec<(String, String)>, Vec<(i64, f64)>);

/// Sorted by name, as remote_write requires.
fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    out.sort();
    out
}

/// Counters (one with a reset), gauges and a classic histogram over 45 minutes.
fn dataset(base_ms: i64) -> Vec<Series> {
    let mut rng = Lcg(42);
    let mut out = Vec::new();
    let ts = |k: i64| base_ms + k * STEP_MS;
    for job in ["api", "web"] {
        for instance in ["a:9090", "b:9090", "c:9090"] {
            for code in ["200", "500"] {
                let mut value = 0.0;
                let mut samples = Vec::new();
                for k in 0..SAMPLES_PER_SERIES {
                    value += (rng.next() * 10.0).floor() + if code == "200" { 5.0 } else { 0.0 };
                    // One counter resets half way.
                    if job == "web" && instance == "b:9090" && code == "200" && k == 90 {
                        value = 3.0;
                    }
                    samples.push((ts(k), value));
                }
                out.push((
                    labels(&[("__name__", "http_requests_total"), ("job", job), ("instance", instance), ("code", code)]),
                    samples,
                ));
            }
            let samples = (0..SAMPLES_PER_SERIES).map(|k| (ts(k), 20.0 + 5.0 * (k as f64 / 20.0).sin() + rng.next())).collect();
            out.push((labels(&[("__name__", "temperature_celsius"), ("job", job), ("instance", instance)]), samples));
        }
        // Classic histogram: cumulative buckets growing at different speeds.
        let bounds = ["0.1", "0.5", "1", "5", "+Inf"];
        let mut counts = [0.0f64; 5];
        let mut per_bucket: Vec<Vec<(i64, f64)>> = vec![Vec::new(); 5];
        for k in 0..SAMPLES_PER_SERIES {
            let mut cumulative = 0.0;
            for (i, c) in counts.iter_mut().enumerate() {
                *c += (rng.next() * 4.0).floor() + 1.0;
                cumulative += *c;
                per_bucket[i].push((ts(k), cumulative));
            }
        }
        for (i, samples) in per_bucket.into_iter().enumerate() {
            out.push((
                labels(&[("__name__", "request_duration_seconds_bucket"), ("job", job), ("le", bounds[i])]),
                samples,
            ));
        }
    }
    // Info-style metric for group_left joins.
    for (job, team) in [("api", "core"), ("web", "frontend")] {
        let samples = (0..SAMPLES_PER_SERIES).map(|k| (ts(k), 1.0)).collect();
        out.push((labels(&[("__name__", "job_info"), ("job", job), ("team", team)]), samples));
    }
    out
}

fn push(url: &str, data: &[Series]) -> Reply {
    let borrowed: Vec<support::SeriesInput<'_>> = data
        .iter()
        .map(|(l, s)| (l.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(), s.clone()))
        .collect();
    post(url, "application/x-protobuf", &v1_request(&borrowed))
}

const INSTANT_QUERIES: &[&str] = &[
    "http_requests_total",
    "rate(http_requests_total[5m])",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (rate(http_requests_total[5m]))",
    "sum(rate(http_requests_total{code=\"500\"}[5m])) / sum(rate(http_requests_total[5m]))",
    "avg by (job) (temperature_celsius)",
    "max by (instance) (temperature_celsius)",
    "min(temperature_celsius)",
    "count by (job) (http_requests_total)",
    "stddev by (job) (temperature_celsius)",
    "topk(3, rate(http_requests_total[5m]))",
    "bottomk(2, temperature_celsius)",
    "quantile(0.9, temperature_celsius)",
    "count_values(\"code_count\", count by (code) (http_requests_total))",
    "histogram_quantile(0.9, sum by (le, job) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, rate(request_duration_seconds_bucket[10m]))",
    "rate(http_requests_total[5m]) * on (job) group_left (team) job_info",
    "temperature_celsius > 22",
    "temperature_celsius > bool 22",
    "http_requests_total{code=\"500\"} and on (instance) temperature_celsius > 21",
    "temperature_celsius unless on (instance) temperature_celsius{instance=\"a:9090\"}",
    "temperature_celsius{job=\"api\"} or temperature_celsius{instance=\"c:9090\"}",
    "delta(temperature_celsius[10m])",
    "deriv(temperature_celsius[10m])",
    "predict_linear(temperature_celsius[10m], 600)",
    "avg_over_time(temperature_celsius[10m])",
    "max_over_time(temperature_celsius[10m])",
    "min_over_time(temperature_celsius[10m])",
    "sum_over_time(temperature_celsius[3m])",
    "count_over_time(temperature_celsius[7m])",
    "stddev_over_time(temperature_celsius[10m])",
    "quantile_over_time(0.75, temperature_celsius[10m])",
    "last_over_time(temperature_celsius[10m])",
    "changes(temperature_celsius[10m])",
    "resets(http_requests_total[30m])",
    "max_over_time(rate(http_requests_total[5m])[20m:1m])",
    "avg_over_time(sum by (job) (temperature_celsius)[15m:30s])",
    "temperature_celsius offset 10m",
    "rate(http_requests_total[5m] offset 5m)",
    "label_replace(temperature_celsius, \"host\", \"$1\", \"instance\", \"(.*):.*\")",
    "label_join(temperature_celsius, \"id\", \"/\", \"job\", \"instance\")",
    "clamp(temperature_celsius, 20, 24)",
    "round(temperature_celsius, 0.5)",
    "abs(-temperature_celsius)",
    "sqrt(temperature_celsius) + ln(temperature_celsius) - exp(temperature_celsius / 10)",
    "timestamp(temperature_celsius)",
    "absent(nonexistent_metric{job=\"x\"})",
    "absent_over_time(temperature_celsius[5m])",
    "scalar(sum(temperature_celsius)) * 2",
    "vector(1) + 2",
    "time() - timestamp(temperature_celsius)",
    "sort_desc(sum by (instance) (temperature_celsius))",
    "sum by (job) (rate(http_requests_total[5m])) > on (job) group_left sum by (job) (rate(http_requests_total{code=\"500\"}[5m]))",
    "-temperature_celsius % 7",
    "2 ^ 3 ^ 2",
    "temperature_celsius ^ 2 / 100",
    "{__name__=~\"temp.*|job_info\", job=\"api\"}",
    "http_requests_total{instance!~\"a.*\", code!=\"500\"}",
    "group by (job) (http_requests_total)",
    "avg(rate(http_requests_total[5m])) by (code)",
    // Name removal as Prometheus does it by default (each function drops the name at once).
    "sum by (__name__) (rate(http_requests_total[5m]))",
    "label_replace(rate(http_requests_total{code=\"200\"}[5m]), \"n\", \"$1\", \"__name__\", \"(.*)\")",
    "count by (__name__) (-temperature_celsius)",
];

const RANGE_QUERIES: &[&str] = &[
    "rate(http_requests_total[5m])",
    "sum by (job) (rate(http_requests_total[2m]))",
    "temperature_celsius",
    "avg_over_time(temperature_celsius[5m])",
    "histogram_quantile(0.95, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "max_over_time(rate(http_requests_total[5m])[10m:1m])",
    "topk(2, temperature_celsius)",
    "temperature_celsius > 23",
];

/// `result` keyed by its canonical label set.
fn by_labels(result: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for series in result.as_array().into_iter().flatten() {
        let metric: BTreeMap<String, String> = series["metric"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
            .collect();
        out.insert(format!("{metric:?}"), series.clone());
    }
    out
}

fn close(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_nan() && y.is_nan() => true,
        (Ok(x), Ok(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-12),
        _ => false,
    }
}

fn points_close(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Array(a), Value::Array(b)) if a.len() == 2 && b.len() == 2 && a[0].is_number() => {
            a[0].as_f64() == b[0].as_f64() && close(a[1].as_str().unwrap_or(""), b[1].as_str().unwrap_or(""))
        }
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| points_close(x, y)),
        _ => ours == theirs,
    }
}

/// Compares the `data` of two successful answers; returns a description of the first
/// difference.
fn compare(query: &str, ours: &Value, theirs: &Value) -> Result<(), String> {
    if ours["status"] != "success" || theirs["status"] != "success" {
        return Err(format!("{query}: ours {ours} / Prometheus {theirs}"));
    }
    let (od, td) = (&ours["data"], &theirs["data"]);
    if od["resultType"] != td["resultType"] {
        return Err(format!("{query}: resultType {} vs {}", od["resultType"], td["resultType"]));
    }
    match td["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            if points_close(&od["result"], &td["result"]) {
                Ok(())
            } else {
                Err(format!("{query}: {} vs {}", od["result"], td["result"]))
            }
        }
        _ => {
            let (o, t) = (by_labels(&od["result"]), by_labels(&td["result"]));
            if o.len() != t.len() {
                return Err(format!("{query}: {} series vs {} (Prometheus)\nours: {}\ntheirs: {}", o.len(), t.len(), od["result"], td["result"]));
            }
            for (key, theirs) in &t {
                let Some(ours) = o.get(key) else {
                    return Err(format!("{query}: Prometheus has {key}, we do not\nours: {}", od["result"]));
                };
                let field = if theirs.get("values").is_some() { "values" } else { "value" };
                if !points_close(&ours[field], &theirs[field]) {
                    return Err(format!("{query}: {key}: {} vs {} (Prometheus)", ours[field], theirs[field]));
                }
            }
            Ok(())
        }
    }
}

fn query_json(base: &str, path_and_query: &str) -> Value {
    let url = format!("{base}{path_and_query}");
    match agent().get(&url).call() {
        Ok(r) => serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default(),
        Err(ureq::Error::Status(_, r)) => serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default(),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

fn encode(q: &str) -> String {
    let mut out = String::new();
    for b in q.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Evaluation times never fall on sample timestamps, so the left-open range of Prometheus 3.x
/// (our semantics) and the closed range of 2.x give the same answers. Without
/// METRICSTOR_PROMETHEUS_BIN it says why it did not run.
#[test]
fn same_answers_as_prometheus() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the differential test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(&prom_config, "global:\n  scrape_interval: 1h\n").unwrap();
    let _prometheus = KillOnDrop(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("prom-data").display()))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent().get(&format!("{prom}/-/ready")).call().is_err() {
        assert!(Instant::now() < deadline, "Prometheus not ready within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }

    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // Off the minute grid (by 7 s), so subquery steps never land on a sample either.
    let base_ms = (now_ms - 46 * 60_000) / 60_000 * 60_000 + 7_000;
    let data = dataset(base_ms);
    let reply = push(&server.url("/api/v1/write"), &data);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = push(&format!("{prom}/api/v1/write"), &data);
    assert_eq!(reply.status, 204, "Prometheus: {}", reply.body);

    let ours = format!("http://{}", server.http_addr);
    // Between samples: 7.5 s after one, 7.5 s before the next.
    let eval_ms = base_ms + 170 * STEP_MS + STEP_MS / 2;
    let eval = format!("{}.{:03}", eval_ms / 1000, eval_ms % 1000);
    // Both hold the data: a guard against comparing two empty answers.
    let sanity = query_json(&prom, &format!("/api/v1/query?query=temperature_celsius&time={eval}"));
    assert_eq!(sanity["data"]["result"].as_array().map(Vec::len), Some(6), "Prometheus holds the pushed data: {sanity}");
    let mut failures = Vec::new();
    for q in INSTANT_QUERIES {
        let path = format!("/api/v1/query?query={}&time={eval}", encode(q));
        let (o, t) = (query_json(&ours, &path), query_json(&prom, &path));
        if let Err(e) = compare(q, &o, &t) {
            failures.push(e);
        }
    }
    let start_ms = base_ms + 20 * STEP_MS + 3_500;
    let end_ms = base_ms + 175 * STEP_MS;
    for q in RANGE_QUERIES {
        let path = format!(
            "/api/v1/query_range?query={}&start={}.{:03}&end={}.{:03}&step=37",
            encode(q),
            start_ms / 1000,
            start_ms % 1000,
            end_ms / 1000,
            end_ms % 1000
        );
        let (o, t) = (query_json(&ours, &path), query_json(&prom, &path));
        if let Err(e) = compare(q, &o, &t) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{} of {} queries differ from Prometheus:\n{}", failures.len(), INSTANT_QUERIES.len() + RANGE_QUERIES.len(), failures.join("\n\n"));
    assert!(server.stop());
}
