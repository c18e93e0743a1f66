//! End-to-end: a scraped counter's created time, given in the protobuf format (its
//! `created_timestamp`) and in OpenMetrics (its `_created` line), as stored with
//! `storage.start_timestamp_zero_ingestion` (Prometheus' `created-timestamp-zero-ingestion`),
//! with `storage.start_timestamp_storage`, and without either; and start times synthesized
//! for counters without them (`storage.start_timestamp_synthesis`).

mod support;

use std::time::Duration;

use support::*;

const WAIT: Duration = Duration::from_secs(60);

/// The counter's value: not 0, so its zero is told from its samples.
const VALUE: f64 = 7.0;

/// client_model's messages with the start timestamp `proto::client_model` leaves out (field
/// numbers as its `metrics.proto`).
mod with_start {
    use proto::client_model::{LabelPair, Timestamp};

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Counter {
        #[prost(double, tag = "1")]
        pub value: f64,
        #[prost(message, optional, tag = "3")]
        pub start_timestamp: Option<Timestamp>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Metric {
        #[prost(message, repeated, tag = "1")]
        pub label: Vec<LabelPair>,
        #[prost(message, optional, tag = "3")]
        pub counter: Option<Counter>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct MetricFamily {
        #[prost(string, tag = "1")]
        pub name: String,
        #[prost(int32, tag = "3")]
        pub r#type: i32,
        #[prost(message, repeated, tag = "4")]
        pub metric: Vec<Metric>,
    }
}

/// A protobuf answer: `pb_requests_total{code="200"}` created at `created_ms` (its
/// nanoseconds past the millisecond, which Prometheus truncates).
fn protobuf_body(created_ms: i64) -> Vec<u8> {
    use prost::Message;
    let start = proto::client_model::Timestamp { seconds: created_ms.div_euclid(1000), nanos: (created_ms.rem_euclid(1000) * 1_000_000 + 999) as i32 };
    let family = with_start::MetricFamily {
        name: "pb_requests_total".into(),
        r#type: proto::client_model::MetricType::Counter as i32,
        metric: vec![with_start::Metric { label: vec![proto::client_model::LabelPair { name: "code".into(), value: "200".into() }], counter: Some(with_start::Counter { value: VALUE, start_timestamp: Some(start) }) }],
    };
    let mut body = Vec::new();
    family.encode_length_delimited(&mut body).expect("encode the family");
    body
}

/// An OpenMetrics answer: `om_requests_total{code="200"}` and its `_created` line
/// (`created_ms` in whole seconds, which a float holds exactly).
fn openmetrics_body(created_ms: i64) -> String {
    assert_eq!(created_ms % 1000, 0, "whole seconds");
    format!("# TYPE om_requests counter\nom_requests_total{{code=\"200\"}} {VALUE}\nom_requests_created{{code=\"200\"}} {}\n# EOF\n", created_ms / 1000)
}

/// The samples (time, value) of the one series `selector` picks, from `/api/v1/export`.
fn exported(server: &Server, selector: &str) -> Vec<(i64, f64)> {
    let text = agent().get(&server.url(&format!("/api/v1/export?match[]={}", percent_encode(selector)))).call().expect("export").into_string().expect("export body");
    let series = exact_export(&text, |labels| {
        labels.remove("instance");
    });
    assert!(series.len() <= 1, "one series for {selector}: {series:?}");
    series.into_values().next().unwrap_or_default().into_iter().map(|(t, bits)| (t, f64::from_bits(bits))).collect()
}

/// The export of `selector` once `ready` takes it (polled every 100 ms); fails after `WAIT`
/// saying `what` did not come.
fn exported_once(server: &Server, selector: &str, what: &str, ready: impl Fn(&[(i64, f64)]) -> bool) -> Vec<(i64, f64)> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let samples = exported(server, selector);
        if ready(&samples) {
            return samples;
        }
        assert!(std::time::Instant::now() < deadline, "{selector}: {what} within {WAIT:?}, have {samples:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The export of `selector` once it holds `scrapes` samples of the counter's value.
fn after_scrapes(server: &Server, selector: &str, scrapes: usize) -> Vec<(i64, f64)> {
    exported_once(server, selector, &format!("{scrapes} scrapes"), |samples| samples.iter().filter(|(_, v)| *v == VALUE).count() >= scrapes)
}

/// Starts a server scraping the exporter's `/<prefix>/pb` and `/<prefix>/om` every second,
/// with `storage_lines` in its configuration.
fn scraping_server(dir: &std::path::Path, exporter: &Exporter, prefix: &str, storage_lines: &str) -> Server {
    let scrape_file = dir.join("prometheus.yml");
    let target = exporter.address();
    std::fs::write(
        &scrape_file,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: pb\n  metrics_path: /{prefix}/pb\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: om\n  metrics_path: /{prefix}/om\n  static_configs: [{{targets: ['{target}']}}]\n"
        ),
    )
    .expect("scrape config");
    let config = write_config_with(dir, "  cores: 2\n  header_read_timeout_seconds: 2\n", storage_lines);
    add_scrape_config(&config, &scrape_file);
    Server::start(&config)
}

/// A server with `storage.start_timestamp_zero_ingestion` stores one zero sample at the
/// created time before the first scraped sample and no other however often it scrapes, keeps
/// no `_created` series and asks for the protobuf format first; a server without it stores no
/// zero and keeps `_created` as a series. Checked through `/api/v1/export` and the target's
/// request heads.
#[test]
fn created_timestamps_become_one_zero_sample_before_the_first_scraped_one() {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    // Two minutes back: before the first scrape, after nothing the new series holds.
    let om_created_ms = (now_ms - 120_000) / 1000 * 1000;
    let pb_created_ms = now_ms - 120_000 + 7;
    const PROTOBUF: &str = "Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    const OPENMETRICS: &str = "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8";
    let exporter = Exporter::start("");
    for prefix in ["on", "off"] {
        exporter.route_bytes(&format!("/{prefix}/pb"), 200, &[PROTOBUF], &protobuf_body(pb_created_ms));
        exporter.route(&format!("/{prefix}/om"), 200, &[OPENMETRICS], &openmetrics_body(om_created_ms));
    }
    let (on_dir, off_dir) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let on = scraping_server(on_dir.path(), &exporter, "on", "  start_timestamp_zero_ingestion: true\n");
    let off = scraping_server(off_dir.path(), &exporter, "off", "");

    // With the option: the zero at the created time, then only the scraped value, after
    // three scrapes still one zero.
    for (selector, created_ms) in [("pb_requests_total", pb_created_ms), ("om_requests_total", om_created_ms)] {
        let samples = after_scrapes(&on, selector, 3);
        assert_eq!(samples.first(), Some(&(created_ms, 0.0)), "{selector}: {samples:?}");
        assert_eq!(samples.iter().filter(|(_, v)| *v == 0.0).count(), 1, "{selector}: {samples:?}");
        assert!(samples[1..].iter().all(|&(t, v)| v == VALUE && t > created_ms), "{selector}: {samples:?}");
    }
    assert!(exported(&on, "om_requests_created").is_empty(), "a _created line is no series with the option");

    // Without it: no zero; OpenMetrics' `_created` is a series of its own.
    for selector in ["pb_requests_total", "om_requests_total"] {
        let samples = after_scrapes(&off, selector, 2);
        assert!(samples.iter().all(|(_, v)| *v == VALUE), "{selector}: {samples:?}");
    }
    let created_s = (om_created_ms / 1000) as f64;
    exported_once(&off, "om_requests_created", "the _created series", |samples| samples.iter().any(|(_, v)| *v == created_s));

    // The option asks for the protobuf format first; without it OpenMetrics comes first.
    let heads = exporter.request_heads();
    let accept_for = |path: &str| heads.iter().filter(|h| h.starts_with(&format!("GET {path} "))).filter_map(|h| h.split("\r\n").find_map(|l| l.strip_prefix("Accept: ")).map(str::to_string)).next().unwrap_or_default();
    assert!(accept_for("/on/om").starts_with("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0"), "{heads:?}");
    assert!(accept_for("/off/om").starts_with("application/openmetrics-text;version=1.0.0"), "{heads:?}");
    assert!(on.stop(), "clean shutdown");
    assert!(off.stop(), "clean shutdown");
}

/// Under `storage.start_timestamp_storage` a scraped counter's created time is stored with
/// each of its samples: `start_timestamp()` answers it, no zero sample is written and no
/// `_created` series kept.
#[test]
fn created_timestamps_are_stored_with_the_scraped_samples() {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let om_created_ms = (now_ms - 120_000) / 1000 * 1000;
    let pb_created_ms = now_ms - 120_000 + 7;
    let exporter = Exporter::start("");
    exporter.route_bytes("/st/pb", 200, &["Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"], &protobuf_body(pb_created_ms));
    exporter.route("/st/om", 200, &["Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"], &openmetrics_body(om_created_ms));
    let dir = tempfile::tempdir().expect("tempdir");
    let server = scraping_server(dir.path(), &exporter, "st", "  start_timestamp_storage: true\n");
    for (selector, created_ms) in [("pb_requests_total", pb_created_ms), ("om_requests_total", om_created_ms)] {
        let samples = after_scrapes(&server, selector, 2);
        assert!(samples.iter().all(|(_, v)| *v == VALUE), "no zero sample: {selector}: {samples:?}");
        let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode(&format!("start_timestamp({selector})")))));
        assert_eq!(status, 200, "{body}");
        let answered = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
        assert_eq!(answered, Some(created_ms as f64 / 1000.0), "{selector}: {body}");
    }
    assert!(exported(&server, "om_requests_created").is_empty(), "a _created line is no series");
    assert!(server.stop(), "clean shutdown");
}

/// Under `storage.start_timestamp_synthesis` (Prometheus' `st-synthesis`) a scraped counter
/// without a start time gets one: its first sample is not stored but sets the start, later
/// ones are stored less its value, and with `storage.start_timestamp_storage` the start is
/// what `start_timestamp()` answers. A gauge of the same answer is stored as scraped.
#[test]
fn start_times_are_synthesized_for_counters_that_come_without() {
    let exporter = Exporter::start("");
    let text = |requests: u32| format!("# TYPE syn_requests counter\nsyn_requests_total {requests}\n# TYPE syn_temperature gauge\nsyn_temperature 100\n");
    for job in ["pb", "om"] {
        exporter.route(&format!("/syn/{job}"), 200, &["Content-Type: text/plain; version=0.0.4"], &text(100));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let server = scraping_server(dir.path(), &exporter, "syn", "  start_timestamp_synthesis: true\n  start_timestamp_storage: true\n");
    let (_, flags) = get_json(&server.url("/api/v1/status/flags"));
    assert!(flags["data"]["enable-feature"].as_str().unwrap_or("").split(',').any(|f| f == "st-synthesis"), "{flags}");
    // The first scrape's time, from the gauge stored as scraped.
    let first_scrape_ms = exported_once(&server, "syn_temperature{job=\"pb\"}", "the gauge", |s| !s.is_empty())[0].0;
    assert!(exported(&server, "syn_temperature{job=\"pb\"}").iter().all(|(_, v)| *v == 100.0));
    // The counter grows by 30; its stored samples count from the first scrape's 100.
    let counted = exported_once(&server, "syn_requests_total{job=\"pb\"}", "a stored counter sample", |s| !s.is_empty());
    assert!(counted.iter().all(|&(t, v)| t > first_scrape_ms && v == 0.0), "the first sample is not stored, the next ones less it: {counted:?}");
    exporter.route("/syn/pb", 200, &["Content-Type: text/plain; version=0.0.4"], &text(130));
    let grown = exported_once(&server, "syn_requests_total{job=\"pb\"}", "the grown counter", |s| s.iter().any(|(_, v)| *v == 30.0));
    assert!(grown.iter().all(|(_, v)| *v == 0.0 || *v == 30.0), "{grown:?}");
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode("start_timestamp(syn_requests_total{job=\"pb\"})"))));
    assert_eq!(status, 200, "{body}");
    let answered = body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<f64>().ok());
    assert_eq!(answered, Some(first_scrape_ms as f64 / 1000.0), "the start is the first scrape's time: {body}");
    assert!(server.stop(), "clean shutdown");
}
