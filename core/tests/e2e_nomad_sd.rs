//! End-to-end: the real binary discovers scrape targets with `nomad_sd_configs` from a mock
//! Nomad server on loopback, scrapes the target its relabeling keeps, and shows the
//! `__meta_nomad_*` labels in `/api/v1/targets`; a server that starts failing keeps the last
//! good targets.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// The query Nomad's client sends for `namespace: apps, region: eu-west` (and stale reads).
const QUERY: &str = "namespace=apps&region=eu-west&stale=";

/// The mock serves two services, one registration on a mock exporter; relabeling keeps the
/// target that points at the exporter. Every request carries the entry's namespace, region
/// and stale parameters.
#[test]
fn nomad_sd_finds_registrations_and_keeps_them_when_the_server_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("nomad_probe 1\n");
    let nomad = Exporter::start("");
    let json = ["Content-Type: application/json; charset=utf-8"];
    let services = json!([{"Namespace": "apps", "Services": [{"ServiceName": "billing", "Tags": ["metrics"]}, {"ServiceName": "cache", "Tags": null}]}]);
    let billing = json!([
        {"ID": "_nomad-task-5d1e-group-billing-billing-http", "ServiceName": "billing", "Namespace": "apps", "NodeID": "node-7",
         "Datacenter": "dc-west", "JobID": "billing", "AllocID": "5d1e", "Tags": ["metrics", "team-pay"], "Address": "127.0.0.1",
         "Port": exporter.port, "CreateIndex": 40, "ModifyIndex": 41},
        {"ID": "_nomad-task-9f00-group-billing-billing-http", "ServiceName": "billing", "Namespace": "apps", "NodeID": "node-8",
         "Datacenter": "dc-west", "Tags": ["metrics"], "Address": "10.9.8.7", "Port": 9100}
    ]);
    let cache = json!([{"ID": "_nomad-task-77aa-group-cache-redis-db", "ServiceName": "cache", "Namespace": "apps", "NodeID": "node-7",
                        "Datacenter": "dc-west", "Tags": null, "Address": "10.9.8.6", "Port": 6379}]);
    nomad.route(&format!("/v1/services?{QUERY}"), 200, &json, &services.to_string());
    nomad.route(&format!("/v1/service/billing?{QUERY}"), 200, &json, &billing.to_string());
    nomad.route(&format!("/v1/service/cache?{QUERY}"), 200, &json, &cache.to_string());
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: nomad\n  nomad_sd_configs:\n\
             \x20 - {{server: 'http://{server}', namespace: apps, region: eu-west, refresh_interval: 1s, tag_separator: ';'}}\n\
             \x20 relabel_configs:\n\
             \x20 - {{source_labels: [__address__], regex: '127\\.0\\.0\\.1:{port}', action: keep}}\n\
             \x20 - {{source_labels: [__meta_nomad_service], target_label: service}}\n\
             \x20 - {{source_labels: [__meta_nomad_dc], target_label: dc}}\n",
            server = nomad.address(),
            port = exporter.port
        ));
    let server = Server::start(&config);

    let found = poll_query(&server, "nomad_probe", "the billing registration scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(found, json!({"__name__": "nomad_probe", "service": "billing", "dc": "dc-west", "instance": exporter.address(), "job": "nomad"}));

    // The other registrations are discovered too, and dropped by relabeling.
    let targets = poll_targets(&server, WAIT, |t| {
        t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 1 && a[0]["health"] == "up") && t["data"]["droppedTargets"].as_array().is_some_and(|d| d.len() == 2)
    });
    let discovered = &targets["data"]["activeTargets"][0]["discoveredLabels"];
    let port = exporter.port.to_string();
    for (name, value) in [
        ("__address__", exporter.address().as_str()),
        ("__meta_nomad_address", "127.0.0.1"),
        ("__meta_nomad_dc", "dc-west"),
        ("__meta_nomad_namespace", "apps"),
        ("__meta_nomad_node_id", "node-7"),
        ("__meta_nomad_service", "billing"),
        ("__meta_nomad_service_address", "127.0.0.1"),
        ("__meta_nomad_service_id", "_nomad-task-5d1e-group-billing-billing-http"),
        ("__meta_nomad_service_port", port.as_str()),
        ("__meta_nomad_tags", ";metrics;team-pay;"),
    ] {
        assert_eq!(discovered[name].as_str(), Some(value), "{name} in {discovered}");
    }
    let nomad_labels = discovered.as_object().map(|m| m.keys().filter(|k| k.starts_with("__meta_nomad_")).count()).unwrap_or(0);
    assert_eq!(nomad_labels, 9, "exactly Prometheus' labels: {discovered}");
    for path in ["/v1/services", "/v1/service/billing", "/v1/service/cache"] {
        assert!(nomad.times_asked(&format!("GET {path}?{QUERY} ")) > 0, "{path} never asked with {QUERY}: {:?}", nomad.request_heads());
    }

    // One service's registrations start failing: the whole refresh fails and the last good
    // targets stay.
    nomad.route(&format!("/v1/service/cache?{QUERY}"), 500, &json, "rpc error: No cluster leader");
    let failed = format!("GET /v1/service/cache?{QUERY} ");
    nomad.wait_asked(&failed, nomad.times_asked(&failed), 3, WAIT);
    let (status, targets) = get_json(&server.url("/api/v1/targets"));
    assert_eq!(status, 200);
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["labels"]["service"], "billing");
    assert!(server.wait_log("Unexpected response code: 500", WAIT), "the failure is logged");
    assert!(server.stop(), "clean shutdown");
}
