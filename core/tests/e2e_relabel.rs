//! `relabel_configs`: every series written is relabeled before it is stored, whatever path
//! it came by (remote_write, import, OTLP share the router); dropped series are counted on
//! `/metrics`; an invalid rule stops the server at start naming it.

mod support;

use support::*;

const RULES: &str = "relabel_configs:
  - source_labels: [__name__]
    regex: 'debug_.*'
    action: drop
  - regex: replica
    action: labeldrop
  - source_labels: [instance]
    regex: '([^:]+):\\d+'
    target_label: host
";

fn config_with(dir: &std::path::Path, section: &str) -> std::path::PathBuf {
    let config = write_config(dir, "");
    append_to_config(&config, section);
    config
}

#[test]
fn written_series_are_relabeled_and_dropped_ones_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config_with(dir.path(), RULES));
    let body = v1_request(&[
        (vec![("__name__", "rl_up"), ("instance", "web-1:9100"), ("replica", "a")], vec![(1_000_000, 1.0)]),
        (vec![("__name__", "debug_noise"), ("instance", "web-1:9100")], vec![(1_000_000, 1.0), (1_015_000, 2.0)]),
    ]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    // The written count is what was stored.
    assert_eq!(reply.header("x-prometheus-remote-write-samples-written"), Some("1"));
    let reply = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", b"rl_text{instance=\"db:5432\",replica=\"b\"} 3 1000000\ndebug_more 1 1000000\n");
    assert_eq!(reply.status, 204, "{}", reply.body);

    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=%7B__name__%3D~%22rl_.%2B%7Cdebug_.%2B%22%7D&start=900&end=1100"));
    let mut series: Vec<String> = answer["data"].as_array().expect("list").iter().map(|s| s.to_string()).collect();
    series.sort();
    assert_eq!(
        series,
        vec![
            r#"{"__name__":"rl_text","host":"db","instance":"db:5432"}"#.to_string(),
            r#"{"__name__":"rl_up","host":"web-1","instance":"web-1:9100"}"#.to_string(),
        ],
        "{answer}"
    );
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body");
    assert!(metrics.contains("\nmetricstor_relabel_dropped_series_total 2\n"), "{metrics}");
    assert!(metrics.contains("\nmetricstor_relabel_dropped_samples_total 3\n"), "{metrics}");
    assert!(server.stop());
}

/// A VictoriaMetrics `-relabelConfig` file's extensions, as they are: `if`, regex lists,
/// `drop_metrics`, `graphite`, `replace_all`.
#[test]
fn victoriametrics_relabeling_extensions_are_applied_to_writes() {
    let dir = tempfile::tempdir().unwrap();
    let rules = "relabel_configs:
  - action: drop_metrics
    regex: [go_.*, process_.*]
  - if: '{env=\"dev\"}'
    target_label: tier
    replacement: test
  - action: graphite
    match: 'servers.*.cpu.*'
    labels:
      __name__: 'cpu_$2'
      host: '$1'
  - action: replace_all
    source_labels: [path]
    target_label: path
    regex: '/'
    replacement: '_'
";
    let server = Server::start(&config_with(dir.path(), rules));
    let text = "go_goroutines 1 1000000\nvm_up{env=\"dev\",path=\"/a/b\"} 1 1000000\nvm_up{env=\"prod\"} 1 1000000\nservers.web1.cpu.user 5 1000000\n";
    let reply = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=%7B__name__%3D~%22.%2B%22%7D&start=900&end=1100"));
    let mut series: Vec<String> = answer["data"].as_array().expect("list").iter().map(|s| s.to_string()).collect();
    series.sort();
    assert_eq!(
        series,
        vec![
            r#"{"__name__":"cpu_user","host":"web1"}"#.to_string(),
            r#"{"__name__":"vm_up","env":"dev","path":"_a_b","tier":"test"}"#.to_string(),
            r#"{"__name__":"vm_up","env":"prod"}"#.to_string(),
        ],
        "{answer}"
    );
    assert!(server.stop());
}

#[test]
fn an_invalid_rule_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), "relabel_configs:\n  - source_labels: [a]\n    target_label: b\n  - source_labels: [a]\n    regex: '(unclosed'\n    action: drop\n");
    let stderr = start_refused(&config);
    assert!(stderr.contains("relabel_configs[1]") && stderr.contains("invalid regex"), "{stderr}");
}
