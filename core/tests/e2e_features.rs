//! End-to-end: `/api/v1/features` answers Prometheus 3's categories and feature names from
//! the running server's configuration.

mod support;

use support::*;

#[test]
fn features_name_what_the_server_supports_and_has_switched_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config_with(dir.path(), "  cores: 1\n", "  start_timestamp_zero_ingestion: true\n  max_exemplars: 0\n"));
    for path in ["/api/v1/features", "/prometheus/api/v1/features"] {
        let (status, body) = get_json(&server.url(path));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "success", "{body}");
        let data = &body["data"];
        assert_eq!(data["api"]["search"], true, "{data}");
        assert_eq!(data["api"]["remote_write_receiver"], true, "{data}");
        assert_eq!(data["scrape"]["start_timestamp_zero_ingestion"], true, "{data}");
        assert_eq!(data["tsdb"]["exemplar_storage"], false, "{data}");
        assert_eq!(data["tsdb"]["native_histograms"], true, "{data}");
        assert_eq!(data["promql_functions"]["histogram_quantile"], true, "{data}");
        assert_eq!(data["promql_functions"]["start_timestamp"], false, "{data}");
        assert_eq!(data["promql_operators"]["limitk"], true, "{data}");
        assert_eq!(data["promql"]["anchored"], true, "{data}");
        assert_eq!(data["service_discovery_providers"]["kubernetes"], true, "{data}");
        assert_eq!(data["prometheus"]["agent_mode"], false, "{data}");
    }
    assert!(server.stop(), "clean stop");
}

/// `server.promql_delayed_name_removal` (Prometheus 3's `promql-delayed-name-removal`): a
/// function that drops the metric name drops it only at the end of the expression, so
/// `label_replace` still sees it; off, it is gone at once. The features say which.
#[test]
fn delayed_name_removal_follows_the_setting() {
    for delayed in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = Server::start(&write_config(dir.path(), &format!("  promql_delayed_name_removal: {delayed}\n")));
        let written = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", b"delayed_probe -3 1700000000000\n");
        assert_eq!(written.status, 204, "{}", written.body);
        let query = percent_encode(r#"label_replace(abs(delayed_probe), "was", "$1", "__name__", "(.+)")"#);
        let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={query}&time=1700000000")));
        let metric = &answer["data"]["result"][0]["metric"];
        let expected = if delayed { serde_json::json!({"was": "delayed_probe"}) } else { serde_json::json!({}) };
        assert_eq!(*metric, expected, "delayed {delayed}: {answer}");
        assert_eq!(answer["data"]["result"][0]["value"][1], "3", "{answer}");
        let (_, features) = get_json(&server.url("/api/v1/features"));
        assert_eq!(features["data"]["promql"]["delayed_name_removal"], delayed, "{features}");
        assert!(server.stop(), "clean stop");
    }
}
