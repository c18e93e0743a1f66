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
