//! End-to-end: exemplars over remote_write 1.0 and 2.0 into the real binary, answered by
//! `/api/v1/query_exemplars` (GET and POST) in Prometheus' JSON, kept across a restart; an
//! over-long or out-of-order exemplar is skipped and counted while its samples are stored.

mod support;

use prost::Message;
use proto::remote_write_v1 as v1;
use proto::remote_write_v2 as v2;
use support::*;

const V2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    // Milliseconds too, so the JSON timestamps show them.
    (now / 60_000) * 60_000 - 600_000 + 479
}

/// A timestamp as the API writes it (seconds, a JSON number).
fn ts(ms: i64) -> serde_json::Value {
    serde_json::from_str(&seconds(ms)).expect("a number")
}

fn seconds(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

fn encoded(query: &str) -> String {
    percent_encode(query)
}

fn label(name: &str, value: &str) -> v1::Label {
    v1::Label { name: name.into(), value: value.into() }
}

/// `e2e_ex{job="a"}`: samples at `t0` and `t0 + 15 s`, an exemplar with each, and one whose
/// labels are 129 characters long.
fn v1_body(t0: i64) -> Vec<u8> {
    let exemplar = |trace: &str, value: f64, t: i64| v1::Exemplar { labels: vec![label("trace_id", trace)], value, timestamp: t };
    let request = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: vec![label("__name__", "e2e_ex"), label("job", "a")],
            samples: vec![v1::Sample { value: 1.0, timestamp: t0 }, v1::Sample { value: 2.0, timestamp: t0 + 15_000 }],
            exemplars: vec![exemplar("abc", 1.5, t0), exemplar("def", 2.5, t0 + 15_000), exemplar(&"x".repeat(121), 3.0, t0 + 15_001)],
            ..Default::default()
        }],
        ..Default::default()
    };
    snappy(&request.encode_to_vec())
}

fn v2_body(t0: i64) -> Vec<u8> {
    let request = v2::Request {
        symbols: vec!["".into(), "__name__".into(), "e2e_ex2".into(), "job".into(), "b".into(), "trace_id".into(), "ghi".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![v2::Sample { value: 7.0, timestamp: t0, start_timestamp: 0 }],
            exemplars: vec![v2::Exemplar { labels_refs: vec![5, 6], value: 0.25, timestamp: t0 }],
            ..Default::default()
        }],
    };
    snappy(&request.encode_to_vec())
}

fn exemplars(server: &Server, query: &str, t0: i64) -> serde_json::Value {
    let url = server.url(&format!("/api/v1/query_exemplars?query={}&start={}&end={}", encoded(query), seconds(t0 - 60_000), seconds(t0 + 60_000)));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{query}: {body}");
    assert_eq!(body["status"], "success", "{body}");
    body["data"].clone()
}

fn metric_sum(server: &Server, name: &str) -> f64 {
    let text = agent().get(&server.url("/metrics")).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn assert_all_there(server: &Server, t0: i64) {
    let expected_v1 = serde_json::json!([{
        "seriesLabels": {"__name__": "e2e_ex", "job": "a"},
        "exemplars": [
            {"labels": {"trace_id": "abc"}, "value": "1.5", "timestamp": ts(t0)},
            {"labels": {"trace_id": "def"}, "value": "2.5", "timestamp": ts(t0 + 15_000)},
        ],
    }]);
    assert_eq!(exemplars(server, r#"e2e_ex{job="a"}"#, t0), expected_v1);
    let expected_v2 = serde_json::json!([{
        "seriesLabels": {"__name__": "e2e_ex2", "job": "b"},
        "exemplars": [{"labels": {"trace_id": "ghi"}, "value": "0.25", "timestamp": ts(t0)}],
    }]);
    // Selectors anywhere in the query: inside a range, a function, both sides of an operator.
    let both = exemplars(server, "sum(rate(e2e_ex[5m])) / on() group_left rate(e2e_ex2[5m])", t0);
    assert_eq!(both, serde_json::json!([expected_v1[0], expected_v2[0]]));
    // The range applies: only the second exemplar of e2e_ex from t0 + 10 s on.
    let url = server.url(&format!("/api/v1/query_exemplars?query=e2e_ex&start={}&end={}", seconds(t0 + 10_000), seconds(t0 + 60_000)));
    let (_, late) = get_json(&url);
    assert_eq!(late["data"][0]["exemplars"], serde_json::json!([expected_v1[0]["exemplars"][1]]), "{late}");
    // POST with a form body.
    let form = format!("query={}&start={}&end={}", encoded("e2e_ex2"), seconds(t0 - 60_000), seconds(t0 + 60_000));
    let reply = post_plain(&server.url("/api/v1/query_exemplars"), "application/x-www-form-urlencoded", form.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(body["data"], expected_v2);
    assert_eq!(exemplars(server, "no_such_metric", t0), serde_json::json!([]));
    assert_eq!(exemplars(server, "1 + 1", t0), serde_json::Value::Null, "no selector: null, as Prometheus");
    let (status, bad) = get_json(&server.url("/api/v1/query_exemplars?query=sum(%28"));
    assert_eq!((status, &bad["errorType"]), (400, &serde_json::json!("bad_data")), "{bad}");
}

#[test]
fn exemplars_are_stored_queried_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&config);
    let t0 = base_ms();

    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_body(t0));
    assert_eq!(reply.status, 204, "an over-long exemplar is skipped, not a 400: {}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Exemplars-Written"), Some("2"));
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some("2"));
    let reply = post(&server.url("/api/v1/write"), V2_CONTENT_TYPE, &v2_body(t0));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Exemplars-Written"), Some("1"));
    // The samples of the series with the skipped exemplar are stored.
    let (status, samples) = get_json(&server.url(&format!("/api/v1/query?query=e2e_ex&time={}", seconds(t0 + 15_000))));
    assert_eq!(status, 200);
    assert_eq!(samples["data"]["result"][0]["value"][1], "2", "{samples}");

    // An exemplar older than its series' newest is out of order: skipped and counted.
    let stale = v1::WriteRequest {
        timeseries: vec![v1::TimeSeries {
            labels: vec![label("__name__", "e2e_ex"), label("job", "a")],
            samples: vec![v1::Sample { value: 3.0, timestamp: t0 + 30_000 }],
            exemplars: vec![v1::Exemplar { labels: vec![label("trace_id", "old")], value: 9.0, timestamp: t0 + 1 }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &snappy(&stale.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Exemplars-Written"), Some("0"));
    assert_eq!(metric_sum(&server, "metricstor_exemplars_dropped_total"), 2.0, "the over-long one and the out-of-order one");
    assert_eq!(metric_sum(&server, "metricstor_exemplars_stored"), 3.0);

    assert_all_there(&server, t0);
    assert!(server.stop(), "clean shutdown");
    let server = Server::start(&config);
    assert_all_there(&server, t0);
    assert_eq!(metric_sum(&server, "metricstor_exemplars_stored"), 3.0, "replayed from the WAL");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn max_exemplars_zero_stores_none() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config_with(dir.path(), "  cores: 1\n", "  max_exemplars: 0\n");
    let server = Server::start(&config);
    let t0 = base_ms();
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_body(t0));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Exemplars-Written"), Some("0"));
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some("2"));
    assert_eq!(exemplars(&server, "e2e_ex", t0), serde_json::json!([]));
    assert_eq!(metric_sum(&server, "metricstor_exemplars_dropped_total"), 3.0);
    assert!(server.stop(), "clean shutdown");
}
