//! End-to-end: OTLP/HTTP protobuf metrics into the real binary on both paths (plain and
//! gzip), read back through PromQL as Prometheus 3.x names them; OTLP/JSON gets 415, a
//! broken body or delta temporality gets 400 and stores nothing, stored data stays.

mod support;

use prost::Message;
use proto::otlp_metrics::*;
use support::*;

const PROMETHEUS_PATH: &str = "/api/v1/otlp/v1/metrics";
const VICTORIAMETRICS_PATH: &str = "/opentelemetry/v1/metrics";

fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now / 60_000) * 60_000 - 3_600_000
}

fn ns(ms: i64) -> u64 {
    ms as u64 * 1_000_000
}

fn s(key: &str, value: &str) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }) }
}

fn gauge_point(t_ms: i64, value: f64) -> NumberDataPoint {
    NumberDataPoint { time_unix_nano: ns(t_ms), value: Some(number_data_point::Value::AsDouble(value)), ..Default::default() }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() }
}

fn request(metrics: Vec<Metric>) -> Vec<u8> {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![s("service.name", "checkout"), s("service.instance.id", "pod-1"), s("host.name", "h1")], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn post_otlp(url: &str, content_type: &str, gzip: bool, body: &[u8]) -> Reply {
    let mut call = agent().post(url).set("Content-Type", content_type);
    let body = if gzip {
        call = call.set("Content-Encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, body).expect("gzip");
        encoder.finish().expect("gzip")
    } else {
        body.to_vec()
    };
    let reply = match call.send_bytes(&body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("POST {url} failed: {e}"),
    };
    let status = reply.status();
    let content_type = reply.header("Content-Type").unwrap_or("").to_string();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut reply.into_reader(), &mut bytes).expect("reply body");
    Reply { status, body: String::from_utf8_lossy(&bytes).into_owned(), headers: vec![("content-type".into(), content_type)] }
}

/// The instant vector of `query` at `at_ms`: (labels, value) per series.
fn instant(server: &Server, query: &str, at_ms: i64) -> Vec<(serde_json::Value, serde_json::Value)> {
    let encoded: String = query.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={encoded}&time={}", at_ms as f64 / 1000.0)));
    assert_eq!(status, 200, "{query}: {body}");
    body["data"]["result"].as_array().expect("result array").iter().map(|r| (r["metric"].clone(), r["value"][1].clone())).collect()
}

fn value(server: &Server, query: &str, at_ms: i64) -> String {
    let result = instant(server, query, at_ms);
    assert_eq!(result.len(), 1, "{query}: {result:?}");
    result[0].1.as_str().expect("value string").to_string()
}

#[test]
fn otlp_metrics_are_translated_stored_and_queried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let cumulative = AggregationTemporality::Cumulative as i32;
    let requests_point = NumberDataPoint { attributes: vec![s("http.method", "GET")], ..gauge_point(t0, 42.0) };
    let histogram_point = HistogramDataPoint { time_unix_nano: ns(t0), count: 6, sum: Some(4.2), bucket_counts: vec![1, 2, 3], explicit_bounds: vec![0.1, 1.0], ..Default::default() };
    let exponential_point = ExponentialHistogramDataPoint {
        time_unix_nano: ns(t0),
        count: 4,
        sum: Some(3.0),
        scale: 0,
        zero_count: 1,
        positive: Some(exponential_histogram_data_point::Buckets { offset: 0, bucket_counts: vec![1, 2] }),
        ..Default::default()
    };
    let summary_point = SummaryDataPoint {
        time_unix_nano: ns(t0),
        count: 3,
        sum: 9.0,
        quantile_values: vec![summary_data_point::ValueAtQuantile { quantile: 0.5, value: 2.5 }],
        ..Default::default()
    };
    let body = request(vec![
        metric("queue.size", "{item}", metric::Data::Gauge(Gauge { data_points: vec![gauge_point(t0, 7.0)] })),
        metric("http.requests", "", metric::Data::Sum(Sum { data_points: vec![requests_point], aggregation_temporality: cumulative, is_monotonic: true })),
        metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: vec![histogram_point], aggregation_temporality: cumulative })),
        metric("lat", "ms", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![exponential_point], aggregation_temporality: cumulative })),
        metric("payload", "By", metric::Data::Summary(Summary { data_points: vec![summary_point] })),
    ]);
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/x-protobuf"));
    assert!(reply.body.is_empty(), "an empty ExportMetricsServiceResponse: {:?}", reply.body);

    assert_eq!(value(&server, r#"queue_size{job="checkout",instance="pod-1"}"#, t0), "7");
    assert_eq!(value(&server, r#"http_requests_total{http_method="GET"}"#, t0), "42");
    assert_eq!(value(&server, r#"rpc_duration_seconds_bucket{le="1"}"#, t0), "3");
    assert_eq!(value(&server, r#"rpc_duration_seconds_bucket{le="+Inf"}"#, t0), "6");
    assert_eq!(value(&server, "rpc_duration_seconds_sum", t0), "4.2");
    assert_eq!(value(&server, "histogram_count(lat_milliseconds)", t0), "4");
    assert_eq!(value(&server, "histogram_sum(lat_milliseconds)", t0), "3");
    assert_eq!(value(&server, r#"payload_bytes{quantile="0.5"}"#, t0), "2.5");
    assert_eq!(value(&server, "payload_bytes_count", t0), "3");
    let info = instant(&server, "target_info", t0);
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].0, serde_json::json!({"__name__": "target_info", "host_name": "h1", "instance": "pod-1", "job": "checkout"}));

    // Gzip on VictoriaMetrics' path.
    let body = request(vec![metric("queue.size", "{item}", metric::Data::Gauge(Gauge { data_points: vec![gauge_point(t0 + 15_000, 8.0)] }))]);
    let reply = post_otlp(&server.url(VICTORIAMETRICS_PATH), "application/x-protobuf", true, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(value(&server, "queue_size", t0 + 15_000), "8");

    // NoRecordedValue: a staleness marker ends the series.
    let stale = NumberDataPoint { flags: FLAG_NO_RECORDED_VALUE, ..gauge_point(t0 + 30_000, 0.0) };
    let body = request(vec![metric("queue.size", "{item}", metric::Data::Gauge(Gauge { data_points: vec![stale] }))]);
    assert_eq!(post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &body).status, 200);
    assert_eq!(value(&server, "queue_size", t0 + 29_000), "8");
    assert!(instant(&server, "queue_size", t0 + 31_000).is_empty());

    // OTLP/JSON: 415 naming protobuf.
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/json", false, br#"{"resourceMetrics":[]}"#);
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert!(reply.body.contains("protobuf"), "{}", reply.body);

    // Garbage: 400; delta temporality: 400 naming the metric, nothing of the request stored.
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, b"\x0a\xff\xff\xff\xff\x0f");
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = post_otlp(&server.url(VICTORIAMETRICS_PATH), "application/x-protobuf", true, b"not gzip at all");
    assert_eq!(reply.status, 400, "{}", reply.body);
    let delta = metric("delta.requests", "", metric::Data::Sum(Sum { data_points: vec![gauge_point(t0, 1.0)], aggregation_temporality: AggregationTemporality::Delta as i32, is_monotonic: true }));
    let fine = metric("fine", "", metric::Data::Gauge(Gauge { data_points: vec![gauge_point(t0, 1.0)] }));
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &request(vec![fine, delta]));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("delta.requests") && reply.body.contains("temporality"), "{}", reply.body);
    assert!(instant(&server, "fine", t0).is_empty());
    assert_eq!(value(&server, r#"http_requests_total{http_method="GET"}"#, t0), "42");

    // Only POST.
    let (status, _) = get_json(&server.url(PROMETHEUS_PATH));
    assert_eq!(status, 405);
    assert!(server.stop());
}
