//! End-to-end: start timestamps from remote_write 2.0 and OTLP under
//! `storage.start_timestamp_zero_ingestion` (Prometheus' `created-timestamp-zero-ingestion`):
//! each becomes one zero sample before its counter's first sample, none again while the
//! counter lives, a new one after a reset, and none at all with the option off (the default);
//! and the metadata labels of `storage.type_and_unit_labels` from remote_write 2.0.

mod support;

use prost::Message;
use proto::otlp_metrics as otlp;
use proto::remote_write_v1::{histogram, Histogram};
use proto::remote_write_v2 as v2;
use support::*;

const V2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";

fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now / 60_000) * 60_000 - 3_600_000
}

fn server(dir: &std::path::Path, zero_ingestion: bool) -> Server {
    let storage = if zero_ingestion { "  start_timestamp_zero_ingestion: true\n" } else { "" };
    Server::start(&write_config_with(dir, "  cores: 2\n", storage))
}

/// A server storing start times with the samples (`storage.start_timestamp_storage`), or not.
fn storing_server(dir: &std::path::Path, store: bool) -> Server {
    let storage = if store { "  start_timestamp_storage: true\n" } else { "" };
    Server::start(&write_config_with(dir, "  cores: 2\n", storage))
}

/// One 2.0 request: counter `rw_counter` with (timestamp, value, start) samples, and when
/// `histogram_at` is given, native histogram `rw_histogram` with one histogram (timestamp,
/// start) of count 3.
fn v2_body(samples: &[(i64, f64, i64)], histogram_at: Option<(i64, i64)>) -> Vec<u8> {
    let mut timeseries = vec![v2::TimeSeries {
        labels_refs: vec![1, 2],
        samples: samples.iter().map(|&(timestamp, value, start_timestamp)| v2::Sample { value, timestamp, start_timestamp }).collect(),
        ..Default::default()
    }];
    if let Some((timestamp, start_timestamp)) = histogram_at {
        let h = Histogram {
            count: Some(histogram::Count::CountInt(3)),
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(0)),
            sum: 4.5,
            schema: 0,
            positive_spans: vec![proto::remote_write_v1::BucketSpan { offset: 0, length: 1 }],
            positive_deltas: vec![3],
            timestamp,
            start_timestamp,
            ..Default::default()
        };
        timeseries.push(v2::TimeSeries { labels_refs: vec![1, 3], histograms: vec![h], ..Default::default() });
    }
    let request = v2::Request { symbols: vec!["".into(), "__name__".into(), "rw_counter".into(), "rw_histogram".into()], timeseries };
    snappy(&request.encode_to_vec())
}

/// Posts a 2.0 request; the samples the answer says were written (zeros not counted, as
/// Prometheus does not count them) must be `samples`.
fn write_v2(server: &Server, body: &[u8], samples: &str) {
    let reply = post(&server.url("/api/v1/write"), V2_CONTENT_TYPE, body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some(samples), "{:?}", reply.headers);
}

/// Every (timestamp, value) `/api/v1/export` gives for `selector` (one series expected).
fn exported(server: &Server, selector: &str) -> Vec<(i64, f64)> {
    let text = agent().get(&server.url(&format!("/api/v1/export?match[]={}", percent_encode(selector)))).call().expect("export").into_string().expect("body");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        let times = v["timestamps"].as_array().expect("timestamps");
        let values = v["values"].as_array().expect("values");
        out.extend(times.iter().zip(values).map(|(t, v)| (t.as_i64().expect("timestamp"), v.as_f64().expect("a number"))));
    }
    out.sort_by_key(|&(t, _)| t);
    out
}

/// The single value of `query` at `at_ms` as the API writes it.
fn value_at(server: &Server, query: &str, at_ms: i64) -> Option<String> {
    let url = server.url(&format!("/api/v1/query?query={}&time={}", percent_encode(query), at_ms as f64 / 1000.0));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{body}");
    body["data"]["result"].as_array().expect("result").first().map(|s| s["value"][1].as_str().expect("value").to_string())
}

/// The values of `query`'s single series in a range query from `start_ms` to `end_ms` every
/// 15 s, as the API writes them.
fn range_values(server: &Server, query: &str, start_ms: i64, end_ms: i64) -> Vec<String> {
    let url = server.url(&format!("/api/v1/query_range?query={}&start={}&end={}&step=15", percent_encode(query), start_ms as f64 / 1000.0, end_ms as f64 / 1000.0));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{body}");
    let series = body["data"]["result"].as_array().expect("result");
    series.first().map_or_else(Vec::new, |s| s["values"].as_array().expect("values").iter().map(|v| v[1].as_str().expect("value").to_string()).collect())
}

#[test]
fn remote_write_2_start_timestamps_become_one_zero_sample_per_counter_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on = server(dir.path(), true);
    let t0 = base_ms();
    let start = t0 - 60_000;
    write_v2(&on, &v2_body(&[(t0, 5.0, start), (t0 + 15_000, 7.0, start)], Some((t0, t0 - 30_000))), "2");
    // With the zero, the increase over two minutes is the counter's whole 7; without it,
    // 3 (2, extrapolated at most half an interval back).
    assert_eq!(value_at(&on, "increase(rw_counter[2m])", t0 + 15_000).as_deref(), Some("7"));
    // The same start again: the counter lives on, no new zero.
    write_v2(&on, &v2_body(&[(t0 + 30_000, 9.0, start)], None), "1");
    // A reset: a new start after the last sample.
    write_v2(&on, &v2_body(&[(t0 + 45_000, 1.0, t0 + 40_000)], None), "1");
    assert_eq!(exported(&on, "rw_counter"), vec![(start, 0.0), (t0, 5.0), (t0 + 15_000, 7.0), (t0 + 30_000, 9.0), (t0 + 40_000, 0.0), (t0 + 45_000, 1.0)]);
    // The histogram's zero: an empty histogram at its start.
    assert_eq!(value_at(&on, "histogram_count(rw_histogram)", t0 - 30_000).as_deref(), Some("0"));
    assert_eq!(value_at(&on, "histogram_count(rw_histogram)", t0).as_deref(), Some("3"));
    assert_eq!(value_at(&on, "histogram_count(rw_histogram)", t0 - 30_001), None, "nothing before the start");
    assert!(on.stop(), "clean stop");

    let dir = tempfile::tempdir().expect("tempdir");
    let off = server(dir.path(), false);
    write_v2(&off, &v2_body(&[(t0, 5.0, start), (t0 + 15_000, 7.0, start)], Some((t0, t0 - 30_000))), "2");
    assert_eq!(exported(&off, "rw_counter"), vec![(t0, 5.0), (t0 + 15_000, 7.0)], "off by default: no zero");
    assert_eq!(value_at(&off, "increase(rw_counter[2m])", t0 + 15_000).as_deref(), Some("3"));
    assert_eq!(value_at(&off, "histogram_count(rw_histogram)", t0 - 30_000), None);
    assert!(off.stop(), "clean stop");
}

/// Under `storage.start_timestamp_storage` each sample keeps its start time: PromQL sees a
/// reset that only the start shows, `start_timestamp()` answers it, and both survive a
/// restart (WAL replay); no zero samples are written. Off (the default), neither.
#[test]
fn start_times_stored_with_samples_drive_promql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on = storing_server(dir.path(), true);
    let t0 = base_ms();
    let first_start = t0 - 60_000;
    let restart = t0 + 40_000;
    let samples = [(t0, 10.0, first_start), (t0 + 15_000, 20.0, first_start), (t0 + 30_000, 30.0, first_start), (t0 + 45_000, 35.0, restart)];
    let body = v2_body(&samples, Some((t0, t0 - 30_000)));
    write_v2(&on, &body, "4");
    let seconds = |ms: i64| (ms / 1000).to_string();
    let check = |server: &Server| {
        assert_eq!(exported(server, "rw_counter"), samples.iter().map(|&(t, v, _)| (t, v)).collect::<Vec<_>>(), "no zero samples");
        // The counter rose from 30 to 35, yet its start moved past the sample before: a reset.
        assert_eq!(value_at(server, "resets(rw_counter[1m])", t0 + 45_000).as_deref(), Some("1"));
        // An aggregation in a range query reads the series one at a time (series-major), the
        // start times with them.
        assert_eq!(range_values(server, "sum(resets(rw_counter[1m]))", t0 + 45_000, t0 + 60_000), ["1", "1"]);
        assert_eq!(value_at(server, "start_timestamp(rw_counter)", t0 + 20_000), Some(seconds(first_start)));
        assert_eq!(value_at(server, "start_timestamp(rw_counter)", t0 + 45_000), Some(seconds(restart)));
        assert_eq!(value_at(server, "start_timestamp(rw_histogram)", t0), Some(seconds(t0 - 30_000)));
        assert_eq!(value_at(server, "start_timestamp(rw_counter * 1)", t0 + 45_000), None, "an expression carries no start");
    };
    check(&on);
    assert!(on.stop(), "clean stop");
    let replayed = storing_server(dir.path(), true);
    check(&replayed);
    assert!(replayed.stop(), "clean stop");

    let dir = tempfile::tempdir().expect("tempdir");
    let off = storing_server(dir.path(), false);
    write_v2(&off, &body, "4");
    assert_eq!(value_at(&off, "resets(rw_counter[1m])", t0 + 45_000).as_deref(), Some("0"));
    assert_eq!(range_values(&off, "sum(resets(rw_counter[1m]))", t0 + 45_000, t0 + 60_000), ["0", "0"]);
    assert_eq!(value_at(&off, "start_timestamp(rw_counter)", t0 + 45_000), None);
    assert!(off.stop(), "clean stop");
}

#[test]
fn otlp_start_times_become_zero_samples_or_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let on = server(dir.path(), true);
    let t0 = base_ms();
    let ns = |ms: i64| ms as u64 * 1_000_000;
    let point = |t: i64, value: f64| otlp::NumberDataPoint {
        time_unix_nano: ns(t),
        start_time_unix_nano: ns(t0 - 120_000),
        value: Some(otlp::number_data_point::Value::AsDouble(value)),
        ..Default::default()
    };
    let body = otlp::ExportMetricsServiceRequest {
        resource_metrics: vec![otlp::ResourceMetrics {
            scope_metrics: vec![otlp::ScopeMetrics {
                metrics: vec![otlp::Metric {
                    name: "otel.requests".into(),
                    data: Some(otlp::metric::Data::Sum(otlp::Sum { data_points: vec![point(t0, 3.0), point(t0 + 15_000, 4.0)], aggregation_temporality: 2, is_monotonic: true })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    let reply = post_plain(&on.url("/api/v1/otlp/v1/metrics"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(exported(&on, "otel_requests_total"), vec![(t0 - 120_000, 0.0), (t0, 3.0), (t0 + 15_000, 4.0)]);
    assert!(on.stop(), "clean stop");

    // Stored with the samples instead: no zero, the start answered by start_timestamp().
    let dir = tempfile::tempdir().expect("tempdir");
    let storing = storing_server(dir.path(), true);
    let reply = post_plain(&storing.url("/api/v1/otlp/v1/metrics"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(exported(&storing, "otel_requests_total"), vec![(t0, 3.0), (t0 + 15_000, 4.0)]);
    assert_eq!(value_at(&storing, "start_timestamp(otel_requests_total)", t0 + 15_000), Some(((t0 - 120_000) / 1000).to_string()));
    assert!(storing.stop(), "clean stop");
}

/// `storage.type_and_unit_labels`: remote_write 2.0 metadata becomes `__type__`/`__unit__`
/// (selectable, dropped by `rate` with the name), and `rate` over a series typed `gauge`
/// gets Prometheus' info naming its `__type__`; the features endpoint says it is on.
#[test]
fn type_and_unit_labels_from_remote_write_2_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config_with(dir.path(), "  cores: 2\n", "  type_and_unit_labels: true\n"));
    let base = base_ms();
    let samples: Vec<v2::Sample> = (0..5).map(|i| v2::Sample { value: i as f64, timestamp: base + i * 15_000, start_timestamp: 0 }).collect();
    let series = |labels_refs: Vec<u32>, r#type: i32, unit_ref: u32| v2::TimeSeries {
        labels_refs,
        samples: samples.clone(),
        metadata: Some(v2::Metadata { r#type, help_ref: 0, unit_ref }),
        ..Default::default()
    };
    let request = v2::Request {
        symbols: ["", "__name__", "io_seconds_total", "queue_depth", "seconds"].map(String::from).to_vec(),
        timeseries: vec![series(vec![1, 2], 1, 4), series(vec![1, 3], 2, 0)],
    };
    write_v2(&server, &snappy(&request.encode_to_vec()), "10");
    let at = (base + 60_000) as f64 / 1000.0;
    let query = |q: &str| {
        let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}&time={at}", percent_encode(q))));
        assert_eq!(status, 200, "{q}: {body}");
        body
    };
    let counters = query(r#"{__type__="counter", __unit__="seconds"}"#);
    assert_eq!(counters["data"]["result"][0]["metric"], serde_json::json!({"__name__": "io_seconds_total", "__type__": "counter", "__unit__": "seconds"}), "{counters}");
    let rate = query("rate(io_seconds_total[1m])");
    assert_eq!(rate["data"]["result"][0]["metric"], serde_json::json!({}), "the metadata labels go with the name: {rate}");
    assert!(rate.get("infos").is_none(), "a counter by its __type__: {rate}");
    let gauge_rate = query("rate(queue_depth[1m])");
    assert_eq!(
        gauge_rate["infos"],
        serde_json::json!(["PromQL info: metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got \"gauge\": \"queue_depth\" (1:6)"]),
        "{gauge_rate}"
    );
    let (_, features) = get_json(&server.url("/api/v1/features"));
    assert_eq!((features["data"]["promql"]["type_and_unit_labels"].as_bool(), features["data"]["scrape"]["type_and_unit_labels"].as_bool()), (Some(true), Some(true)), "{features}");
    assert!(server.stop());
}
