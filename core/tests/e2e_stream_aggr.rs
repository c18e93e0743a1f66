//! `stream_aggregation`: samples written are aggregated over a 1s interval and the
//! aggregate series are stored under VictoriaMetrics' names; matched inputs are stored only
//! with `keep_input`; an invalid aggregation stops the server at start naming its key.

mod support;

use std::time::Duration;

use support::*;

/// Within this the aggregate of a 1s interval must be queryable (a flush a second, plus a
/// loaded machine's slack).
const AGGREGATE_WAIT: Duration = Duration::from_secs(20);

fn config_with(dir: &std::path::Path, section: &str) -> std::path::PathBuf {
    let config = write_config(dir, "");
    append_to_config(&config, section);
    config
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// The instant query's series as `name{labels} value` lines, sorted.
fn shown(result: &[serde_json::Value]) -> Vec<String> {
    let mut lines: Vec<String> = result
        .iter()
        .map(|s| {
            let metric = s["metric"].as_object().cloned().unwrap_or_default();
            let name = metric.get("__name__").and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let labels: Vec<String> = metric.iter().filter(|(k, _)| *k != "__name__").map(|(k, v)| format!("{k}={v}")).collect();
            format!("{name}{{{}}} {}", labels.join(","), s["value"][1].as_str().unwrap_or_default())
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn counters_are_aggregated_by_job_and_matched_inputs_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let section = "stream_aggregation:
  configs:
  - match: 'sa_requests_total'
    interval: 1s
    staleness_interval: 1m
    ignore_first_sample_interval: 0s
    by: [job]
    outputs: [total]
";
    let server = Server::start(&config_with(dir.path(), section));
    let t = now_ms() / 1000 * 1000 - 2000;
    // api: a 10 → 15 (+5, first value 10 counted by `total`), b 5: 20; db: c 7.
    let text = format!(
        "sa_requests_total{{job=\"api\",instance=\"a\"}} 10 {t}\nsa_requests_total{{job=\"api\",instance=\"b\"}} 5 {t}\nsa_requests_total{{job=\"db\",instance=\"c\"}} 7 {t}\nsa_other{{job=\"api\"}} 1 {t}\n"
    );
    let reply = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = post(
        &server.url("/api/v1/write"),
        "application/x-protobuf",
        &v1_request(&[(vec![("__name__", "sa_requests_total"), ("instance", "a"), ("job", "api")], vec![(t + 1000, 15.0)])]),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);

    let aggregated = poll_query(&server, "{__name__=~\"sa_requests_total:.*\"}", "the aggregates reach 20 and 7", AGGREGATE_WAIT, |result| {
        let lines = shown(result);
        (lines == ["sa_requests_total:1s_by_job_total{job=\"api\"} 20", "sa_requests_total:1s_by_job_total{job=\"db\"} 7"]).then_some(lines)
    });
    assert_eq!(aggregated.len(), 2);
    // The matched inputs were not stored; the series no aggregation matched was.
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode("{__name__=~\"sa_requests_total|sa_other\"}"))));
    assert_eq!(shown(answer["data"]["result"].as_array().expect("result")), vec!["sa_other{job=\"api\"} 1"], "{answer}");
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body");
    assert!(metrics.contains("\nmetricstor_stream_aggr_input_samples_dropped_total 4\n"), "{metrics}");
    assert!(metrics.contains("\nmetricstor_stream_aggr_samples_aggregated_total 4\n"), "{metrics}");
    assert!(server.stop());
}

#[test]
fn keep_input_stores_the_inputs_too() {
    let dir = tempfile::tempdir().unwrap();
    let section = "stream_aggregation:
  keep_input: true
  configs:
  - match: '{__name__=\"sa_kept\"}'
    interval: 1s
    staleness_interval: 1m
    without: [instance]
    outputs: [count_samples, max]
";
    // Staleness longer than the interval: with VictoriaMetrics' default (the interval), an
    // output series whose samples came over an interval before the first flush (which comes
    // at the end of the first whole interval) is forgotten unwritten.
    let server = Server::start(&config_with(dir.path(), section));
    let t = now_ms() / 1000 * 1000 - 2000;
    let text = format!("sa_kept{{instance=\"a\"}} 1 {t}\nsa_kept{{instance=\"b\"}} 4 {t}\nsa_kept{{instance=\"a\"}} 2 {}\n", t + 1000);
    let reply = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    poll_query(&server, "{__name__=~\"sa_kept:.*\"}", "the aggregates of one write", AGGREGATE_WAIT, |result| {
        (shown(result) == ["sa_kept:1s_without_instance_count_samples{} 3", "sa_kept:1s_without_instance_max{} 4"]).then_some(())
    });
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode("sa_kept"))));
    assert_eq!(shown(answer["data"]["result"].as_array().expect("result")), vec!["sa_kept{instance=\"a\"} 2", "sa_kept{instance=\"b\"} 4"], "{answer}");
    assert!(server.stop());
}

#[test]
fn dedup_interval_aggregates_each_series_last_sample() {
    let dir = tempfile::tempdir().unwrap();
    let section = "stream_aggregation:
  configs:
  - match: sa_dedup
    interval: 2s
    dedup_interval: 1s
    staleness_interval: 1m
    without: [instance]
    outputs: [count_samples]
";
    let server = Server::start(&config_with(dir.path(), section));
    let t = now_ms() / 1000 * 1000 - 2000;
    // a's two samples are one after de-duplication: 2 samples counted, not 3.
    let text = format!("sa_dedup{{instance=\"a\"}} 1 {t}\nsa_dedup{{instance=\"b\"}} 4 {t}\nsa_dedup{{instance=\"a\"}} 2 {}\n", t + 1000);
    let reply = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    poll_query(&server, "{__name__=~\"sa_dedup:.*\"}", "the de-duplicated count", AGGREGATE_WAIT, |result| (shown(result) == ["sa_dedup:2s_without_instance_count_samples{} 2"]).then_some(()));
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body");
    assert!(metrics.contains("\nmetricstor_stream_aggr_dedup_dropped_samples_total 1\n"), "{metrics}");
    assert!(server.stop());
}

#[test]
fn an_invalid_aggregation_stops_the_server_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), "stream_aggregation:\n  configs:\n  - interval: 1m\n    outputs: [total, foo]\n");
    let stderr = start_refused(&config);
    assert!(stderr.contains("stream_aggregation") && stderr.contains("configs[0].outputs[1]: unsupported output \"foo\""), "{stderr}");
}
