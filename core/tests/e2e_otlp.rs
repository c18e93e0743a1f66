//! End-to-end: OTLP metrics into the real binary (HTTP protobuf and JSON on both paths, and gRPC), read
//! back through PromQL as Prometheus 3.x names them, with exemplars, the `otlp:` options
//! (promoted attributes, delta handling, name translation) and the refusals of bad input.

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
    let encoded: String = percent_encode(query);
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={encoded}&time={}", at_ms as f64 / 1000.0)));
    assert_eq!(status, 200, "{query}: {body}");
    body["data"]["result"].as_array().expect("result array").iter().map(|r| (r["metric"].clone(), r["value"][1].clone())).collect()
}

fn value(server: &Server, query: &str, at_ms: i64) -> String {
    let result = instant(server, query, at_ms);
    assert_eq!(result.len(), 1, "{query}: {result:?}");
    result[0].1.as_str().expect("value string").to_string()
}

/// OTLP/HTTP protobuf and JSON on both paths (plain and gzip), read back through PromQL as
/// Prometheus 3.x names them; another media type gets 415, a broken body or delta temporality
/// gets 400 and stores nothing, stored data stays.
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

    // extra_label, as VictoriaMetrics takes it on its OTLP path (under /prometheus/ too).
    let body = request(vec![metric("extra.gauge", "", metric::Data::Gauge(Gauge { data_points: vec![gauge_point(t0, 3.0)] }))]);
    let reply = post_otlp(&server.url("/prometheus/opentelemetry/v1/metrics?extra_label=dc=eu"), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(value(&server, r#"extra_gauge{dc="eu",job="checkout"}"#, t0), "3");
    let reply = post_otlp(&server.url("/opentelemetry/v1/metrics?extra_label=dc"), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 400, "{}", reply.body);
    // VictoriaMetrics' older name for its path.
    let reply = post_otlp(&server.url("/opentelemetry/api/v1/push?extra_label=dc=us"), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(value(&server, r#"extra_gauge{dc="us",job="checkout"}"#, t0), "3");

    // NoRecordedValue: a staleness marker ends the series.
    let stale = NumberDataPoint { flags: FLAG_NO_RECORDED_VALUE, ..gauge_point(t0 + 30_000, 0.0) };
    let body = request(vec![metric("queue.size", "{item}", metric::Data::Gauge(Gauge { data_points: vec![stale] }))]);
    assert_eq!(post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &body).status, 200);
    assert_eq!(value(&server, "queue_size", t0 + 29_000), "8");
    assert!(instant(&server, "queue_size", t0 + 31_000).is_empty());

    // OTLP/JSON, plain and gzipped on both paths, answered in JSON; a broken one is a 400
    // naming where it broke; another media type a 415 naming both.
    let json = |name: &str, t_ms: i64, value: f64| {
        format!(
            r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"checkout"}}}}]}},
               "scopeMetrics":[{{"metrics":[{{"name":"{name}","unit":"s","sum":{{"aggregationTemporality":2,"isMonotonic":true,
               "dataPoints":[{{"timeUnixNano":"{}","asDouble":{value},"attributes":[{{"key":"route","value":{{"stringValue":"/pay"}}}}]}}]}}}}]}}]}}]}}"#,
            ns(t_ms)
        )
    };
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/json", false, json("json.latency", t0, 1.5).as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!((reply.header("content-type"), reply.body.as_str()), (Some("application/json"), "{}"));
    let reply = post_otlp(&server.url(VICTORIAMETRICS_PATH), "application/json; charset=utf-8", true, json("json.latency", t0 + 15_000, 2.5).as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(value(&server, r#"json_latency_seconds_total{job="checkout",route="/pay"}"#, t0), "1.5");
    assert_eq!(value(&server, r#"json_latency_seconds_total{job="checkout",route="/pay"}"#, t0 + 15_000), "2.5");
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/json", false, br#"{"resourceMetrics":[{"scopeMetrics":"#);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("OTLP/JSON") && reply.body.contains("line 1 column"), "{}", reply.body);
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "text/plain", false, br#"{"resourceMetrics":[]}"#);
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert!(reply.body.contains("application/x-protobuf") && reply.body.contains("application/json"), "{}", reply.body);

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
    assert!(reply.body.contains("set otlp.native_delta_ingestion"), "today's hint, with otlp.delta_to_cumulative off: {}", reply.body);
    assert!(instant(&server, "fine", t0).is_empty());
    assert_eq!(value(&server, r#"http_requests_total{http_method="GET"}"#, t0), "42");

    // Only POST.
    let (status, _) = get_json(&server.url(PROMETHEUS_PATH));
    assert_eq!(status, 405);
    assert!(server.stop());
}

/// `[{name: value}]` of `/api/v1/series?match[]=selector`, sorted by their text.
fn series_labels(server: &Server, selector: &str, t0: i64) -> Vec<serde_json::Value> {
    let url = server.url(&format!("/api/v1/series?match[]={}&start={}&end={}", encoded(selector), seconds(t0 - 60_000), seconds(t0 + 60_000)));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{selector}: {body}");
    let mut found = body["data"].as_array().expect("series array").clone();
    found.sort_by_key(|labels| labels.to_string());
    found
}

fn query_exemplars(server: &Server, query: &str, t0: i64) -> serde_json::Value {
    let url = server.url(&format!("/api/v1/query_exemplars?query={}&start={}&end={}", encoded(query), seconds(t0 - 60_000), seconds(t0 + 60_000)));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{query}: {body}");
    body["data"].clone()
}

fn encoded(text: &str) -> String {
    percent_encode(text)
}

fn seconds(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// A timestamp as the API writes it (seconds, a JSON number).
fn ts(ms: i64) -> serde_json::Value {
    serde_json::from_str(&seconds(ms)).expect("a number")
}

fn metric_total(server: &Server, name: &str) -> f64 {
    let text = agent().get(&server.url("/metrics")).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

const TRACE: [u8; 16] = [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const SPAN_HEX: &str = "00f067aa0ba902b7";

fn exemplar(value: f64, t_ms: i64, span: &[u8], attributes: Vec<KeyValue>) -> Exemplar {
    Exemplar { filtered_attributes: attributes, time_unix_nano: ns(t_ms), value: Some(exemplar::Value::AsDouble(value)), span_id: span.to_vec(), trace_id: TRACE.to_vec() }
}

/// Exemplars are answered by `/api/v1/query_exemplars`; the `otlp:` options promote resource
/// attributes and scope metadata to labels (seen in `/api/v1/series`).
#[test]
fn otlp_exemplars_and_promoted_attributes_are_stored_and_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let otlp_section = "otlp:\n  promote_resource_attributes: [k8s.pod.name, deployment.environment]\n  keep_identifying_resource_attributes: true\n  promote_scope_metadata: true\n";
    append_to_config(&config, otlp_section);
    let server = Server::start(&config);
    let t0 = base_ms();
    let cumulative = AggregationTemporality::Cumulative as i32;

    let orders = NumberDataPoint {
        attributes: vec![s("http.method", "POST")],
        exemplars: vec![
            exemplar(3.0, t0 - 500, &SPAN, vec![s("user", "u1")]),
            // A filtered attribute named like an ID label: skipped and counted, never a 400.
            exemplar(4.0, t0 - 400, &[], vec![s("trace_id", "other")]),
        ],
        ..gauge_point(t0, 42.0)
    };
    let histogram_point = HistogramDataPoint {
        time_unix_nano: ns(t0),
        count: 6,
        sum: Some(9.5),
        bucket_counts: vec![1, 2, 3],
        explicit_bounds: vec![0.1, 1.0],
        exemplars: vec![exemplar(0.5, t0 - 300, &SPAN, vec![]), exemplar(7.0, t0 - 200, &[], vec![])],
        ..Default::default()
    };
    let exponential_point = ExponentialHistogramDataPoint {
        time_unix_nano: ns(t0),
        count: 3,
        sum: Some(3.0),
        scale: 0,
        zero_count: 1,
        positive: Some(exponential_histogram_data_point::Buckets { offset: 0, bucket_counts: vec![2] }),
        exemplars: vec![exemplar(1.5, t0 - 100, &SPAN, vec![])],
        ..Default::default()
    };
    // The point's own label wins over the promoted resource attribute; a gauge's exemplar is
    // not stored (as Prometheus), only counted.
    let gauge = NumberDataPoint { attributes: vec![s("deployment.environment", "canary")], exemplars: vec![exemplar(1.0, t0, &[], vec![])], ..gauge_point(t0, 7.0) };
    let body = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![s("service.name", "checkout"), s("service.instance.id", "pod-1"), s("k8s.pod.name", "checkout-7f9"), s("deployment.environment", "prod"), s("host.name", "h1")],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "io.checkout".into(), version: "2.0".into(), attributes: vec![s("team", "pay")], ..Default::default() }),
                metrics: vec![
                    metric("orders", "", metric::Data::Sum(Sum { data_points: vec![orders], aggregation_temporality: cumulative, is_monotonic: true })),
                    metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: vec![histogram_point], aggregation_temporality: cumulative })),
                    metric("lat", "ms", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![exponential_point], aggregation_temporality: cumulative })),
                    metric("queue.size", "{item}", metric::Data::Gauge(Gauge { data_points: vec![gauge] })),
                ],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);

    // Every series of the resource and scope carries the promoted and scope labels.
    let common = serde_json::json!({
        "deployment_environment": "prod", "instance": "pod-1", "job": "checkout", "k8s_pod_name": "checkout-7f9",
        "otel_scope_name": "io.checkout", "otel_scope_version": "2.0", "otel_scope_schema_url": "https://opentelemetry.io/schemas/1.26.0", "otel_scope_team": "pay",
    });
    let with = |extra: serde_json::Value| {
        let mut labels = common.clone();
        labels.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        labels
    };
    let orders_labels = with(serde_json::json!({"__name__": "orders_total", "http_method": "POST"}));
    assert_eq!(series_labels(&server, "orders_total", t0), vec![orders_labels.clone()]);
    assert_eq!(series_labels(&server, "queue_size", t0), vec![with(serde_json::json!({"__name__": "queue_size", "deployment_environment": "canary"}))]);
    assert_eq!(value(&server, r#"orders_total{k8s_pod_name="checkout-7f9",otel_scope_name="io.checkout"}"#, t0), "42");
    // target_info: the resource's attributes, the identifying ones kept; no scope labels.
    assert_eq!(
        series_labels(&server, "target_info", t0),
        vec![serde_json::json!({
            "__name__": "target_info", "deployment_environment": "prod", "host_name": "h1", "instance": "pod-1", "job": "checkout",
            "k8s_pod_name": "checkout-7f9", "service_instance_id": "pod-1", "service_name": "checkout",
        })]
    );

    // Exemplars: the sum's on its series (hex IDs, filtered attributes), the histogram's on
    // the bucket holding each value, the exponential histogram's on its native series.
    assert_eq!(
        query_exemplars(&server, "orders_total", t0),
        serde_json::json!([{
            "seriesLabels": orders_labels,
            "exemplars": [{"labels": {"span_id": SPAN_HEX, "trace_id": TRACE_HEX, "user": "u1"}, "value": "3", "timestamp": ts(t0 - 500)}],
        }])
    );
    let bucket = |le: &str| with(serde_json::json!({"__name__": "rpc_duration_seconds_bucket", "le": le}));
    assert_eq!(
        query_exemplars(&server, r#"rpc_duration_seconds_bucket{le="1"}"#, t0),
        serde_json::json!([{"seriesLabels": bucket("1"), "exemplars": [{"labels": {"span_id": SPAN_HEX, "trace_id": TRACE_HEX}, "value": "0.5", "timestamp": ts(t0 - 300)}]}])
    );
    assert_eq!(
        query_exemplars(&server, r#"rpc_duration_seconds_bucket{le="+Inf"}"#, t0),
        serde_json::json!([{"seriesLabels": bucket("+Inf"), "exemplars": [{"labels": {"trace_id": TRACE_HEX}, "value": "7", "timestamp": ts(t0 - 200)}]}])
    );
    assert_eq!(query_exemplars(&server, r#"rpc_duration_seconds_bucket{le="0.1"}"#, t0), serde_json::json!([]));
    assert_eq!(query_exemplars(&server, "rpc_duration_seconds_count", t0), serde_json::json!([]));
    assert_eq!(
        query_exemplars(&server, "lat_milliseconds", t0),
        serde_json::json!([{
            "seriesLabels": with(serde_json::json!({"__name__": "lat_milliseconds"})),
            "exemplars": [{"labels": {"span_id": SPAN_HEX, "trace_id": TRACE_HEX}, "value": "1.5", "timestamp": ts(t0 - 100)}],
        }])
    );
    assert_eq!(query_exemplars(&server, "queue_size", t0), serde_json::json!([]));
    assert_eq!(metric_total(&server, "metricstor_exemplars_stored"), 4.0);
    assert_eq!(metric_total(&server, "metricstor_exemplars_dropped_total"), 2.0, "the one with a repeated label name and the gauge's");
    assert!(server.stop());
}

/// A contradictory `otlp:` section stops the server naming the option.
#[test]
fn contradictory_otlp_options_stop_the_server_naming_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let section = "otlp:\n  promote_all_resource_attributes: true\n  promote_resource_attributes: [k8s.pod.name]\n";
    append_to_config(&config, section);
    let text = start_refused(&config);
    assert!(text.contains("otlp.promote_resource_attributes") && text.contains("otlp.promote_all_resource_attributes"), "{text}");
}

/// With `otlp.native_delta_ingestion` delta points are stored as sent and summed over time.
#[test]
fn native_delta_ingestion_stores_delta_points_summed_by_sum_over_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    append_to_config(&config, "otlp:\n  native_delta_ingestion: true\n");
    let server = Server::start(&config);
    let t0 = base_ms();
    let delta = AggregationTemporality::Delta as i32;
    // Three 10 s intervals' increases of a monotonic delta sum, and one delta exponential
    // histogram point.
    let points: Vec<_> = [(0, 4.0), (10_000, 1.0), (20_000, 5.0)].iter().map(|&(dt, v)| gauge_point(t0 + dt, v)).collect();
    let exponential_point = ExponentialHistogramDataPoint {
        time_unix_nano: ns(t0),
        count: 3,
        sum: Some(3.0),
        zero_count: 1,
        positive: Some(exponential_histogram_data_point::Buckets { offset: 0, bucket_counts: vec![2] }),
        ..Default::default()
    };
    let body = request(vec![
        metric("orders", "", metric::Data::Sum(Sum { data_points: points, aggregation_temporality: delta, is_monotonic: true })),
        metric("lat", "ms", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![exponential_point], aggregation_temporality: delta })),
    ]);
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(value(&server, "sum_over_time(orders_total[1m])", t0 + 20_000), "10");
    assert_eq!(value(&server, "orders_total", t0 + 20_000), "5");
    assert_eq!(value(&server, "histogram_count(lat_milliseconds)", t0), "3");
    // Unspecified temporality is refused even so, and stores nothing.
    let unspecified = request(vec![metric("other", "", metric::Data::Sum(Sum { data_points: vec![gauge_point(t0, 1.0)], aggregation_temporality: 0, is_monotonic: true }))]);
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &unspecified);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(instant(&server, "other_total", t0).is_empty());
}

/// With `otlp.delta_to_cumulative` delta points become cumulative counters and histograms
/// (`increase` reads their total).
#[test]
fn delta_to_cumulative_turns_delta_points_into_running_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let both = std::fs::read_to_string(&config).expect("config") + "otlp:\n  delta_to_cumulative: true\n  native_delta_ingestion: true\n";
    let refused = dir.path().join("both.yml");
    std::fs::write(&refused, both).expect("write");
    let text = start_refused(&refused);
    assert!(text.contains("otlp.delta_to_cumulative") && text.contains("otlp.native_delta_ingestion"), "{text}");

    // Start times stored with the samples: `increase` counts from each stream's start.
    let config = write_config_with(dir.path(), "  cores: 2\n", "  start_timestamp_storage: true\notlp:\n  delta_to_cumulative: true\n");
    let server = Server::start(&config);
    let t0 = base_ms();
    let delta = AggregationTemporality::Delta as i32;
    let post = |metrics: Vec<Metric>| {
        let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &request(metrics));
        assert_eq!(reply.status, 200, "{}", reply.body);
    };
    // Three requests, each one 10 s interval's increase of a monotonic delta sum.
    for (start, increase) in [(0, 4.0), (10_000, 1.0), (20_000, 5.0)] {
        let point = NumberDataPoint { start_time_unix_nano: ns(t0 + start), ..gauge_point(t0 + start + 10_000, increase) };
        post(vec![metric("orders", "", metric::Data::Sum(Sum { data_points: vec![point], aggregation_temporality: delta, is_monotonic: true }))]);
    }
    let totals: Vec<String> = [10_000, 20_000, 30_000].iter().map(|dt| value(&server, "orders_total", t0 + dt)).collect();
    assert_eq!(totals, ["4", "5", "10"], "running sums");
    assert_eq!(value(&server, "increase(orders_total[1m])", t0 + 30_000), "10");
    // A point not newer than the stream's last is dropped and counted; the request succeeds.
    let late = NumberDataPoint { start_time_unix_nano: ns(t0), ..gauge_point(t0 + 5_000, 100.0) };
    post(vec![metric("orders", "", metric::Data::Sum(Sum { data_points: vec![late], aggregation_temporality: delta, is_monotonic: true }))]);
    assert_eq!(value(&server, "orders_total", t0 + 30_000), "10");
    let text = agent().get(&server.url("/metrics")).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
    assert!(text.lines().any(|l| l == r#"metricstor_otlp_delta_points_dropped_total{reason="out_of_order"} 1"#), "{text}");
    assert!(text.lines().any(|l| l == r#"metricstor_otlp_delta_points_dropped_total{reason="stream_limit"} 0"#), "{text}");

    // Two delta exponential histogram points: a cumulative native histogram.
    for (start, zero_count, positive) in [(0, 1, vec![2]), (10_000, 0, vec![1, 1])] {
        let point = ExponentialHistogramDataPoint {
            start_time_unix_nano: ns(t0 + start),
            time_unix_nano: ns(t0 + start + 10_000),
            count: zero_count + positive.iter().sum::<u64>(),
            sum: Some(3.0),
            zero_count,
            positive: Some(exponential_histogram_data_point::Buckets { offset: 0, bucket_counts: positive }),
            ..Default::default()
        };
        post(vec![metric("lat", "ms", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![point], aggregation_temporality: delta }))]);
    }
    assert_eq!(value(&server, "histogram_count(lat_milliseconds)", t0 + 10_000), "3");
    assert_eq!(value(&server, "histogram_count(lat_milliseconds)", t0 + 20_000), "5");
    assert_eq!(value(&server, "histogram_sum(lat_milliseconds)", t0 + 20_000), "6");
    assert_eq!(value(&server, "histogram_count(increase(lat_milliseconds[1m]))", t0 + 20_000), "5");
    assert!(server.stop());
}

/// `otlp.translation_strategy: NoUTF8EscapingWithSuffixes` keeps OTel's dotted names (with
/// suffixes), which PromQL selects by quoting them and the APIs list as they are;
/// `convert_histograms_to_nhcb` stores an explicit histogram as one custom-bucket series
/// whose quantile is the classic one's.
#[test]
fn utf8_names_and_custom_bucket_histograms_when_configured() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    append_to_config(&config, "otlp:\n  translation_strategy: NoUTF8EscapingWithSuffixes\n  convert_histograms_to_nhcb: true\n");
    let server = Server::start(&config);
    let t0 = base_ms();
    let point = NumberDataPoint { attributes: vec![s("http.route", "/pay")], ..gauge_point(t0, 7.0) };
    let histogram_point = HistogramDataPoint { time_unix_nano: ns(t0), count: 4, sum: Some(1.5), bucket_counts: vec![1, 2, 1], explicit_bounds: vec![0.1, 0.5], ..Default::default() };
    let body = request(vec![
        metric("http.server.requests", "1", metric::Data::Sum(Sum { data_points: vec![point], aggregation_temporality: AggregationTemporality::Cumulative as i32, is_monotonic: true })),
        metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: vec![histogram_point], aggregation_temporality: AggregationTemporality::Cumulative as i32 })),
    ]);
    let reply = post_otlp(&server.url(PROMETHEUS_PATH), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let counter = instant(&server, r#"{"http.server.requests_total", "http.route"="/pay"}"#, t0);
    assert_eq!(counter.len(), 1, "{counter:?}");
    assert_eq!((counter[0].0["__name__"].as_str(), counter[0].0["http.route"].as_str(), counter[0].1.as_str()), (Some("http.server.requests_total"), Some("/pay"), Some("7")));
    let (status, names) = get_json(&server.url("/api/v1/label/__name__/values"));
    assert_eq!(status, 200, "{names}");
    assert!(names["data"].as_array().is_some_and(|n| n.iter().any(|v| v == "http.server.requests_total") && n.iter().any(|v| v == "rpc.duration_seconds")), "{names}");
    // One histogram series: no _bucket, _count or _sum.
    assert!(instant(&server, r#"{__name__=~"rpc.duration_seconds_.*"}"#, t0).is_empty());
    assert_eq!(value(&server, r#"histogram_count({"rpc.duration_seconds"})"#, t0), "4");
    // Half of 4 observations: the 2nd, the first of the two in (0.1, 0.5], so the quantile
    // is interpolated halfway into that bucket.
    let median = value(&server, r#"histogram_quantile(0.5, {"rpc.duration_seconds"})"#, t0);
    assert!(median.parse::<f64>().is_ok_and(|q| (q - 0.3).abs() < 1e-12), "{median}");
    assert!(server.stop(), "clean shutdown");
}

/// One gRPC call over h2c to `addr`: `message` framed (gzip-compressed with `grpc-encoding:
/// gzip` when asked); returns the HTTP status, the `grpc-status` trailer (or header, for a
/// trailers-only answer) and the answer's message bytes.
fn grpc_call(addr: &str, path: &str, message: &[u8], gzip: bool) -> (u16, Option<String>, Vec<u8>) {
    let (flag, payload) = if gzip {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, message).expect("gzip");
        (1u8, encoder.finish().expect("gzip"))
    } else {
        (0u8, message.to_vec())
    };
    let mut framed = vec![flag];
    framed.extend((payload.len() as u32).to_be_bytes());
    framed.extend(payload);
    let mut headers = vec![("content-type", "application/grpc"), ("te", "trailers")];
    if gzip {
        headers.push(("grpc-encoding", "gzip"));
    }
    let answer = h2_call(addr, path, &headers, framed);
    let grpc_status = |map: &http::HeaderMap| map.get("grpc-status").and_then(|v| v.to_str().ok()).map(str::to_string);
    let status = answer.trailers.as_ref().and_then(grpc_status).or_else(|| grpc_status(&answer.headers));
    (answer.status, status, answer.body.get(5..).map(<[u8]>::to_vec).unwrap_or_default())
}

/// OTLP over gRPC on the gRPC port (`MetricsService/Export`, as the OpenTelemetry
/// Collector's default `otlp` exporter sends it, gzip-compressed or not): stored as over
/// HTTP, answered with an empty `ExportMetricsServiceResponse`; a broken message is
/// INVALID_ARGUMENT.
#[test]
fn otlp_over_grpc_is_stored_as_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    const EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    for (gzip, value) in [(true, 1.5), (false, 2.5)] {
        let body = request(vec![metric("grpc_queue_depth", "", metric::Data::Gauge(Gauge { data_points: vec![gauge_point(t0 + if gzip { 0 } else { 15_000 }, value)] }))]);
        let (status, grpc_status, answer) = grpc_call(&server.grpc_addr, EXPORT, &body, gzip);
        assert_eq!((status, grpc_status.as_deref()), (200, Some("0")), "gzip {gzip}");
        assert!(ExportMetricsServiceResponse::decode(answer.as_slice()).is_ok());
    }
    assert_eq!(value(&server, "sum_over_time(grpc_queue_depth{job=\"checkout\"}[1m])", t0 + 30_000), "4");
    let (_, grpc_status, _) = grpc_call(&server.grpc_addr, EXPORT, &[0xff, 0xff], false);
    assert_eq!(grpc_status.as_deref(), Some("3"), "INVALID_ARGUMENT");
    assert!(server.stop());
}

/// Translation warnings (Prometheus 3.14's): a metric without data points is dropped and
/// the rest stored; each warning is logged and counted by category in `/metrics`.
#[test]
fn translation_warnings_are_logged_and_counted_by_category() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let colliding = NumberDataPoint { attributes: vec![s("k8s.pod", "a"), s("k8s_pod", "b")], ..gauge_point(t0, 4.0) };
    let body = request(vec![metric("kept", "", metric::Data::Gauge(Gauge { data_points: vec![colliding] })), metric("nothing.here", "", metric::Data::Gauge(Gauge { data_points: vec![] }))]);
    let reply = post_otlp(&server.url("/api/v1/otlp/v1/metrics"), "application/x-protobuf", false, &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(value(&server, "kept{k8s_pod=\"a;b\"}", t0), "4");
    let logged = server.log_line("warnings translating OTLP metrics", std::time::Duration::from_secs(10)).expect("a warning logged");
    assert!(logged.contains("empty data points. nothing.here is dropped") && logged.contains(r#"collide as label "k8s_pod""#), "{logged}");
    for category in ["empty_data_points", "label_name_collision"] {
        assert_eq!(metric_total(&server, &format!("metricstor_otlp_translation_warnings_total{{category=\"{category}\"}}")), 1.0, "{category}");
    }
    assert_eq!(metric_total(&server, "metricstor_otlp_translation_warnings_total{category=\"histogram_zero_count_non_zero_sum\"}"), 0.0);
    assert!(server.stop());
}
