//! End-to-end: `/api/v1/features` answers Prometheus 3's categories and feature names from
//! the running server's configuration; browsers' cross-origin calls (`server.cors_origin`).

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
        let at_s = import_sample(&server, "delayed_probe", -3.0, 60) / 1000;
        let query = percent_encode(r#"label_replace(abs(delayed_probe), "was", "$1", "__name__", "(.+)")"#);
        let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={query}&time={at_s}")));
        let metric = &answer["data"]["result"][0]["metric"];
        let expected = if delayed { serde_json::json!({"was": "delayed_probe"}) } else { serde_json::json!({}) };
        assert_eq!(*metric, expected, "delayed {delayed}: {answer}");
        assert_eq!(answer["data"]["result"][0]["value"][1], "3", "{answer}");
        let (_, features) = get_json(&server.url("/api/v1/features"));
        assert_eq!(features["data"]["promql"]["delayed_name_removal"], delayed, "{features}");
        assert!(server.stop(), "clean stop");
    }
}

/// A browser page may call the API as it may call Prometheus' (`server.cors_origin`, its
/// `--web.cors.origin`): every origin by default, only those the pattern matches otherwise;
/// a preflight `OPTIONS` is answered 204 with the CORS headers.
#[test]
fn cross_origin_calls_are_allowed_as_prometheus_allows_them() {
    let header = |response: &ureq::Response, name: &str| response.header(name).map(str::to_string);
    let dir = tempfile::tempdir().expect("tempdir");
    let open = Server::start(&write_config_with(dir.path(), "  cores: 1\n", ""));
    let answer = agent().get(&open.url("/api/v1/query?query=1")).set("Origin", "https://dashboards.example").call().expect("query");
    assert_eq!(header(&answer, "access-control-allow-origin").as_deref(), Some("*"));
    assert_eq!(header(&answer, "access-control-allow-methods").as_deref(), Some("GET, POST, OPTIONS"));
    assert_eq!(header(&answer, "vary").as_deref(), Some("Origin"));
    let preflight = agent().request("OPTIONS", &open.url("/api/v1/query_range")).set("Origin", "https://dashboards.example").set("Access-Control-Request-Method", "POST").call().expect("preflight");
    assert_eq!(preflight.status(), 204);
    assert_eq!(header(&preflight, "access-control-allow-headers").as_deref(), Some("Accept, Authorization, Content-Type, Origin"));
    assert_eq!(header(&preflight, "access-control-allow-origin").as_deref(), Some("*"));
    // Outside the API (and without an Origin), no CORS headers.
    let metrics = agent().get(&open.url("/metrics")).set("Origin", "https://dashboards.example").call().expect("metrics");
    assert_eq!(header(&metrics, "access-control-allow-origin"), None);
    assert!(open.stop(), "clean shutdown");

    let dir = tempfile::tempdir().expect("tempdir");
    let listed = Server::start(&write_config_with(dir.path(), "  cores: 1\n  cors_origin: 'https://(grafana|perses)\\.example'\n", ""));
    let from = |origin: &str| header(&agent().get(&listed.url("/api/v1/labels")).set("Origin", origin).call().expect("labels"), "access-control-allow-origin");
    assert_eq!(from("https://perses.example").as_deref(), Some("https://perses.example"));
    assert_eq!(from("https://perses.example.evil"), None, "fully anchored");
    assert!(listed.stop(), "clean shutdown");
}
