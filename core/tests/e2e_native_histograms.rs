//! End-to-end: native histograms over remote_write 1.0 (integer) and 2.0 (float, custom
//! buckets) into the real binary, read back through the Prometheus API as Prometheus renders
//! them (`histogram`, `histograms`), through PromQL's histogram functions, after a restart,
//! and refused with a 400 naming the problem when malformed.

mod support;

use prost::Message;
use proto::remote_write_v1::{self as v1, histogram};
use proto::remote_write_v2 as v2;
use support::*;

const V2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
const STEP_MS: i64 = 15_000;

fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now / 60_000) * 60_000 - 3_600_000
}

fn query(server: &Server, path: &str, query: &str, params: &str) -> serde_json::Value {
    let encoded: String = percent_encode(query);
    let (status, body) = get_json(&server.url(&format!("{path}?query={encoded}&{params}")));
    assert_eq!(status, 200, "{query}: {body}");
    body["data"].clone()
}

fn seconds(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// Integer histogram `i` of the counter: schema 0, buckets (0.5,1] and (1,2] holding i and 2i.
fn counter_histogram(t0: i64, i: i64) -> v1::Histogram {
    v1::Histogram {
        count: Some(histogram::Count::CountInt(3 * i as u64)),
        sum: 5.0 * i as f64,
        schema: 0,
        zero_count: Some(histogram::ZeroCount::ZeroCountInt(0)),
        positive_spans: vec![v1::BucketSpan { offset: 0, length: 2 }],
        // Deltas: first absolute, then the difference.
        positive_deltas: vec![i, i],
        timestamp: t0 + i * STEP_MS,
        ..Default::default()
    }
}

fn v1_histograms(name: &str, histograms: Vec<v1::Histogram>) -> Vec<u8> {
    let request = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: vec![v1::Label { name: "__name__".into(), value: name.into() }, v1::Label { name: "job".into(), value: "a".into() }],
            histograms,
            ..Default::default()
        }],
        ..Default::default()
    };
    snappy(&request.encode_to_vec())
}

fn assert_counter_readable(server: &Server, t0: i64) {
    let at = seconds(t0 + 9 * STEP_MS);
    let data = query(server, "/api/v1/query", "e2e_hist", &format!("time={at}"));
    assert_eq!(data["resultType"], "vector", "{data}");
    let h = &data["result"][0]["histogram"];
    assert_eq!(h[1]["count"], "27", "{data}");
    assert_eq!(h[1]["sum"], "45", "{data}");
    // Schema 0: bucket 0 is (0.5, 1], bucket 1 is (1, 2]; upper bounds inclusive (rule 0).
    assert_eq!(h[1]["buckets"], serde_json::json!([[0, "0.5", "1", "9"], [0, "1", "2", "18"]]), "{data}");
    assert!(data["result"][0].get("value").is_none(), "{data}");

    // 3 observations per 15 s.
    let rate = query(server, "/api/v1/query", "histogram_count(rate(e2e_hist[1m]))", &format!("time={at}"));
    let per_second: f64 = rate["result"][0]["value"][1].as_str().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    assert!((per_second - 0.2).abs() < 1e-9, "{rate}");
    assert!(rate["result"][0]["metric"].get("__name__").is_none(), "{rate}");

    let sums = query(server, "/api/v1/query_range", "histogram_sum(e2e_hist)", &format!("start={}&end={at}&step=15", seconds(t0)));
    let values: Vec<&str> = sums["result"][0]["values"].as_array().map(|v| v.iter().filter_map(|p| p[1].as_str()).collect()).unwrap_or_default();
    assert_eq!(values, ["0", "5", "10", "15", "20", "25", "30", "35", "40", "45"], "{sums}");

    let raw = query(server, "/api/v1/query_range", "e2e_hist", &format!("start={}&end={at}&step=15", seconds(t0)));
    let series = &raw["result"][0];
    assert!(series.get("values").is_none(), "a series of histograms only has no values: {raw}");
    assert_eq!(series["histograms"].as_array().map(Vec::len), Some(10), "{raw}");
    assert_eq!(series["histograms"][4][1]["count"], "12", "{raw}");
}

#[test]
fn native_histograms_are_stored_queried_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&config);
    let t0 = base_ms();

    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_histograms("e2e_hist", (0..10).map(|i| counter_histogram(t0, i)).collect()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_counter_readable(&server, t0);

    // 2.0: a float gauge histogram with custom bounds (1, 5) and a +Inf bucket.
    let request = v2::Request {
        symbols: vec!["".into(), "__name__".into(), "e2e_nhcb".into(), "job".into(), "b".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            histograms: vec![v1::Histogram {
                count: Some(histogram::Count::CountFloat(10.0)),
                sum: 20.0,
                schema: -53,
                positive_spans: vec![v1::BucketSpan { offset: 0, length: 3 }],
                positive_counts: vec![4.0, 4.0, 2.0],
                custom_values: vec![1.0, 5.0],
                reset_hint: histogram::ResetHint::Gauge as i32,
                timestamp: t0,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let reply = post(&server.url("/api/v1/write"), V2_CONTENT_TYPE, &snappy(&request.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some("0"));
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Histograms-Written"), Some("1"));
    let at = format!("time={}", seconds(t0));
    // Half of the 10 observations: 4 in (-Inf, 1], the 5th is a quarter into (1, 5].
    let median = query(&server, "/api/v1/query", "histogram_quantile(0.5, e2e_nhcb)", &at);
    assert_eq!(median["result"][0]["value"][1], "2", "{median}");
    // Adding a float to a histogram is not defined: no result, and Prometheus' info says why.
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query=e2e_nhcb%20%2B%201&{at}")));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"], serde_json::json!([]), "{body}");
    let infos = body["infos"].as_array().cloned().unwrap_or_default();
    assert!(infos.iter().any(|w| w.as_str().is_some_and(|w| w.contains("incompatible sample types encountered for binary operator \"+\": histogram + float"))), "{body}");
    let fraction = query(&server, "/api/v1/query", "histogram_fraction(0, 1, e2e_nhcb)", &at);
    assert_eq!(fraction["result"][0]["value"][1], "0.4", "{fraction}");

    // Malformed: the spans cover 2 buckets, 1 count given. Nothing of the request is stored.
    let mut bad = counter_histogram(t0, 11);
    bad.positive_deltas = vec![1];
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_histograms("e2e_hist", vec![bad]));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("spans cover 2 buckets but 1 counts were given") && reply.body.contains("e2e_hist"), "{}", reply.body);

    // A float where a histogram is stored is refused (the histogram stays) and counted.
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&[(vec![("__name__", "e2e_hist"), ("job", "a")], vec![(t0 + 9 * STEP_MS, 1.0)])]));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some("0"));
    let metrics = agent().get(&server.url("/metrics")).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
    let refused: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("metricstor_shard_samples_refused_type_conflict_total{"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum();
    assert_eq!(refused, 1.0, "{metrics}");
    assert_counter_readable(&server, t0);

    // A histogram whose sum is the staleness marker ends the series.
    let mut stale = counter_histogram(t0, 10);
    stale.sum = f64::from_bits(tsdb::STALE_NAN_BITS);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_histograms("e2e_hist", vec![stale]));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let after = query(&server, "/api/v1/query", "e2e_hist", &format!("time={}", seconds(t0 + 10 * STEP_MS)));
    assert_eq!(after["result"], serde_json::json!([]), "{after}");

    // Formats without native histograms leave them out: the VictoriaMetrics export lists only
    // the float series, federation only series whose newest sample is a float.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&[(vec![("__name__", "e2e_float"), ("job", "a")], vec![(now_ms - 10_000, 3.0)])]));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let mut recent = counter_histogram(now_ms - 10_000, 0);
    recent.timestamp = now_ms - 10_000;
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_histograms("e2e_recent_hist", vec![recent]));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let get_text = |path: &str| agent().get(&server.url(path)).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
    let exported = get_text("/api/v1/export?match[]=%7B__name__%3D~%22e2e_.%2A%22%7D");
    // e2e_hist's one float is the staleness marker its stale histogram became.
    let hist_line = exported.lines().find(|l| l.contains("\"e2e_hist\"")).unwrap_or_default();
    assert!(exported.contains("\"e2e_float\"") && hist_line.contains("\"values\":[null]") && !exported.contains("e2e_recent_hist"), "{exported}");
    let federated = get_text("/federate?match[]=%7B__name__%3D~%22e2e_.%2A%22%7D");
    assert!(federated.contains("e2e_float{") && !federated.contains("e2e_recent_hist"), "{federated}");

    assert!(server.stop(), "clean shutdown");
    let server = Server::start(&config);
    assert_counter_readable(&server, t0);
    let median = query(&server, "/api/v1/query", "histogram_quantile(0.5, e2e_nhcb)", &at);
    assert_eq!(median["result"][0]["value"][1], "2", "after the restart: {median}");
    assert!(server.stop(), "clean shutdown");
}
