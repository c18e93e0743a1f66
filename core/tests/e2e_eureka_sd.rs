//! End-to-end: the real binary discovers scrape targets with `eureka_sd_configs` from a
//! mock Eureka server on loopback, scrapes the target its relabeling keeps, and shows the
//! `__meta_eureka_*` labels in `/api/v1/targets`; a server that starts failing keeps the last
//! good targets.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// The mock serves two applications, one instance on a mock exporter; relabeling keeps the
/// target that points at the exporter, which `/api/v1/targets` shows with the instance ID as
/// its `instance`. The request carries the entry's basic auth and no Accept.
#[test]
fn eureka_sd_finds_instances_and_keeps_them_when_the_server_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("eureka_probe 1\n");
    let eureka = Exporter::start("");
    let apps = format!(
        r#"<applications>
  <versions__delta>1</versions__delta>
  <apps__hashcode>UP_3_</apps__hashcode>
  <application>
    <name>PAYMENTS</name>
    <instance>
      <instanceId>payments-1:payments:{port}</instanceId>
      <hostName>127.0.0.1</hostName>
      <app>PAYMENTS</app>
      <ipAddr>127.0.0.1</ipAddr>
      <status>UP</status>
      <port enabled="true">{port}</port>
      <securePort enabled="false">443</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
      <metadata><team>pay</team><management.port>{port}</management.port></metadata>
      <vipAddress>payments</vipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
    </instance>
    <instance>
      <instanceId>payments-2:payments:8080</instanceId>
      <hostName>10.3.2.1</hostName>
      <port enabled="true">8080</port>
    </instance>
  </application>
  <application>
    <name>GATEWAY</name>
    <instance><instanceId>gw-1</instanceId><hostName>10.3.2.9</hostName></instance>
  </application>
</applications>"#,
        port = exporter.port
    );
    let xml = ["Content-Type: application/xml"];
    eureka.route("/eureka/apps", 200, &xml, &apps);
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: eureka\n  eureka_sd_configs:\n\
             \x20 - {{server: 'http://{server}/eureka', refresh_interval: 1s, basic_auth: {{username: prom, password: s3cret}}}}\n\
             \x20 relabel_configs:\n\
             \x20 - {{source_labels: [__address__], regex: '127\\.0\\.0\\.1:{port}', action: keep}}\n\
             \x20 - {{source_labels: [__meta_eureka_app_name], target_label: app}}\n",
            server = eureka.address(),
            port = exporter.port
        ));
    let server = Server::start(&config);

    let instance = format!("payments-1:payments:{}", exporter.port);
    let found = poll_query(&server, "eureka_probe", "the payments instance scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(found, json!({"__name__": "eureka_probe", "app": "PAYMENTS", "instance": instance, "job": "eureka"}));

    // The other instances are discovered too, and dropped by relabeling.
    let targets = poll_targets(&server, WAIT, |t| {
        t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 1 && a[0]["health"] == "up") && t["data"]["droppedTargets"].as_array().is_some_and(|d| d.len() == 2)
    });
    let discovered = &targets["data"]["activeTargets"][0]["discoveredLabels"];
    let port = exporter.port.to_string();
    for (name, value) in [
        ("__address__", exporter.address().as_str()),
        ("instance", instance.as_str()),
        ("__meta_eureka_app_name", "PAYMENTS"),
        ("__meta_eureka_app_instance_hostname", "127.0.0.1"),
        ("__meta_eureka_app_instance_ip_addr", "127.0.0.1"),
        ("__meta_eureka_app_instance_status", "UP"),
        ("__meta_eureka_app_instance_port", port.as_str()),
        ("__meta_eureka_app_instance_port_enabled", "true"),
        ("__meta_eureka_app_instance_secure_port", "443"),
        ("__meta_eureka_app_instance_secure_port_enabled", "false"),
        ("__meta_eureka_app_instance_country_id", "1"),
        ("__meta_eureka_app_instance_id", instance.as_str()),
        ("__meta_eureka_app_instance_vip_address", "payments"),
        ("__meta_eureka_app_instance_datacenterinfo_name", "MyOwn"),
        ("__meta_eureka_app_instance_metadata_team", "pay"),
        ("__meta_eureka_app_instance_metadata_management_port", port.as_str()),
    ] {
        assert_eq!(discovered[name].as_str(), Some(value), "{name} in {discovered}");
    }
    let heads = eureka.request_heads();
    let head = heads.iter().find(|h| h.starts_with("GET /eureka/apps ")).expect("/eureka/apps asked");
    // base64("prom:s3cret")
    assert!(head.contains("Authorization: Basic cHJvbTpzM2NyZXQ="), "{head}");
    assert!(!head.to_ascii_lowercase().contains("\naccept:"), "no Accept, as Prometheus: {head}");

    // The server fails: the last good targets stay.
    eureka.route("/eureka/apps", 503, &xml, "");
    eureka.wait_asked("GET /eureka/apps ", eureka.times_asked("GET /eureka/apps "), 3, WAIT);
    let (status, targets) = get_json(&server.url("/api/v1/targets"));
    assert_eq!(status, 200);
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["labels"]["instance"], instance.as_str());
    assert!(server.wait_log("non 2xx status '503' response during eureka service discovery", WAIT), "the failure is logged");
    assert!(server.stop(), "clean shutdown");
}
