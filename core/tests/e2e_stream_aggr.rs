//! `stream_aggregation`: samples written are aggregated over a 1s interval and the
//! aggregate series are stored under VictoriaMetrics' names; matched inputs are stored only
//! with `keep_input`; an invalid aggregation stops the server at start naming its key; a
//! reload (`/-/reload`, SIGHUP) puts a rewritten file's `relabel_configs` and aggregations in
//! force, and a broken file leaves them as they were.

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

/// The value of the `/metrics` line starting with `series` (name and labels up to where the
/// test's prefix ends).
fn metric_value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find(|line| line.starts_with(series)).and_then(|line| line.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

fn metrics_text(server: &Server) -> String {
    agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body")
}

fn import_now(server: &Server, lines: &[(&str, f64)]) {
    let t = now_ms();
    let text: String = lines.iter().map(|(series, value)| format!("{series} {value} {t}\n")).collect();
    let reply = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
}

#[test]
fn a_reload_puts_new_rules_in_force_and_a_broken_file_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let base = std::fs::read_to_string(&config).expect("read the test config");
    let aggregation = |name: &str, outputs: &str| format!("  - name: {name}\n    match: rl_{name}\n    interval: 1s\n    staleness_interval: 1m\n    without: [instance]\n    outputs: [{outputs}]\n");
    let first = format!("{base}stream_aggregation:\n  configs:\n{}{}", aggregation("kept", "count_samples"), aggregation("changed", "count_samples"));
    std::fs::write(&config, &first).expect("write the first config");
    let server = Server::start(&config);
    import_now(&server, &[("rl_kept{instance=\"a\"}", 1.0), ("rl_changed{instance=\"a\"}", 1.0), ("rl_plain", 1.0)]);
    poll_query(&server, "{__name__=~\"rl_.*:.*\"}", "the first file's aggregates", AGGREGATE_WAIT, |result| {
        (shown(result) == ["rl_changed:1s_without_instance_count_samples{} 1", "rl_kept:1s_without_instance_count_samples{} 1"]).then_some(())
    });
    let kept = "vm_streamaggr_matched_samples_total{outputs=\"count_samples\",name=\"kept\",";
    assert_eq!(metric_value(&metrics_text(&server), kept), Some(1.0));

    // A relabel rule, `changed` with another output, a new aggregation; `kept` as it was.
    let relabel = "relabel_configs:\n- if: '{__name__=\"rl_plain\"}'\n  target_label: reloaded\n  replacement: \"yes\"\n";
    let second = format!("{base}{relabel}stream_aggregation:\n  configs:\n{}{}{}", aggregation("kept", "count_samples"), aggregation("changed", "max"), aggregation("new", "sum_samples"));
    std::fs::write(&config, &second).expect("write the second config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The reload answered after the rules were in force: the next write meets them.
    import_now(&server, &[("rl_kept{instance=\"a\"}", 1.0), ("rl_changed{instance=\"a\"}", 7.0), ("rl_new{instance=\"a\"}", 5.0), ("rl_plain", 2.0)]);
    // (The old output of `changed` stays visible within the lookback.)
    poll_query(&server, "{__name__=~\"rl_(changed|new):.*\"}", "the changed and new aggregations' output", AGGREGATE_WAIT, |result| {
        let want = ["rl_changed:1s_without_instance_count_samples{} 1", "rl_changed:1s_without_instance_max{} 7", "rl_new:1s_without_instance_sum_samples{} 5"];
        (shown(result) == want).then_some(())
    });
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode("rl_plain{reloaded=\"yes\"}"))));
    assert_eq!(shown(answer["data"]["result"].as_array().expect("result")), vec!["rl_plain{reloaded=\"yes\"} 2"], "{answer}");
    let metrics = metrics_text(&server);
    assert_eq!(metric_value(&metrics, kept), Some(2.0), "the unchanged aggregation's counters go on: {metrics}");
    assert_eq!(metric_value(&metrics, "vm_streamaggr_matched_samples_total{outputs=\"max\",name=\"changed\","), Some(1.0), "the changed one starts anew: {metrics}");
    assert_eq!(metric_value(&metrics, "vm_relabel_config_last_reload_successful "), Some(1.0), "{metrics}");
    assert_eq!(metric_value(&metrics, "prometheus_config_last_reload_successful "), Some(1.0), "{metrics}");
    assert_eq!(metric_value(&metrics, "vminsert_streamagg_config_reloads_total "), Some(1.0), "{metrics}");
    // The configuration pages show the sections in force.
    let page = agent().get(&server.url("/config")).call().expect("/config").into_string().expect("body");
    assert!(page.contains("target_label: reloaded") && page.contains("name: new"), "{page}");

    // A broken file: /-/reload names the key; SIGHUP logs it; the rules in force stay.
    let broken = format!("{base}{relabel}stream_aggregation:\n  configs:\n{}", aggregation("kept", "count_samples, foo"));
    std::fs::write(&config, &broken).expect("write the broken config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 400, "{}", reply.body);
    let error: serde_json::Value = serde_json::from_str(&reply.body).expect("a JSON error");
    assert!(error["error"].as_str().is_some_and(|e| e.contains("stream_aggregation.configs[0].outputs[1]: unsupported output \"foo\"")), "{error}");
    server.signal(libc::SIGHUP);
    poll("the failed SIGHUP reload counted", AGGREGATE_WAIT, || {
        let metrics = metrics_text(&server);
        (metric_value(&metrics, "vm_relabel_config_reloads_errors_total ") == Some(2.0)).then_some(metrics)
    });
    // Logged for each: /-/reload's first, then SIGHUP's.
    let failed = "relabel_configs and stream_aggregation not reloaded";
    let by_request = server.log_line(failed, AGGREGATE_WAIT).expect("/-/reload's failure logged");
    let by_signal = server.log_line(failed, AGGREGATE_WAIT).expect("SIGHUP's failure logged");
    assert!(by_request.contains("/-/reload") && by_signal.contains("SIGHUP") && by_signal.contains("configs[0].outputs[1]"), "{by_request}\n{by_signal}");
    let metrics = metrics_text(&server);
    assert_eq!(metric_value(&metrics, "vm_relabel_config_last_reload_successful "), Some(0.0), "{metrics}");
    assert_eq!(metric_value(&metrics, "vminsert_streamagg_config_last_reload_successful "), Some(0.0), "{metrics}");
    assert_eq!(metric_value(&metrics, "prometheus_config_last_reload_successful "), Some(0.0), "Prometheus' gauge covers the file too: {metrics}");
    import_now(&server, &[("rl_new{instance=\"a\"}", 11.0), ("rl_plain", 3.0)]);
    poll_query(&server, "{__name__=~\"rl_new:.*\"}", "the aggregation in force still aggregating", AGGREGATE_WAIT, |result| {
        (shown(result) == ["rl_new:1s_without_instance_sum_samples{} 11"]).then_some(())
    });
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode("rl_plain{reloaded=\"yes\"}"))));
    assert_eq!(shown(answer["data"]["result"].as_array().expect("result")), vec!["rl_plain{reloaded=\"yes\"} 3"], "the relabel rule stays: {answer}");
    assert!(server.stop());
}

#[test]
fn the_periodic_file_check_reloads_a_changed_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let base = format!("{}scrape:\n  config_check_interval_seconds: 1\n", std::fs::read_to_string(&config).expect("read the test config"));
    std::fs::write(&config, &base).expect("write the first config");
    let server = Server::start(&config);
    let relabel = "relabel_configs:\n- if: '{__name__=\"ck_plain\"}'\n  target_label: checked\n  replacement: \"yes\"\n";
    std::fs::write(&config, format!("{base}{relabel}")).expect("write the second config");
    // No signal, no request: the check (every second) sees the new text and reloads it.
    poll("the changed file reloaded by the check", AGGREGATE_WAIT, || {
        let metrics = metrics_text(&server);
        (metric_value(&metrics, "vm_relabel_config_reloads_total ") == Some(1.0)).then_some(())
    });
    import_now(&server, &[("ck_plain", 4.0)]);
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode("ck_plain{checked=\"yes\"}"))));
    assert_eq!(shown(answer["data"]["result"].as_array().expect("result")), vec!["ck_plain{checked=\"yes\"} 4"], "{answer}");
    let metrics = metrics_text(&server);
    assert_eq!(metric_value(&metrics, "vm_relabel_config_reloads_errors_total "), Some(0.0), "{metrics}");
}
