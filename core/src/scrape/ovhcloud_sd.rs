//! Targets from `ovhcloud_sd_configs`, as Prometheus' OVHcloud discovery finds them: each
//! server of the service is a target (`ovhcloud_sd::servers`), asked with requests signed with
//! the entry's application and consumer keys (`ovhcloud_sd::api`). A failed clock or list fails
//! the refresh, which keeps the last good targets. Executor 0 asks and puts the groups in the
//! shared `AskedGroups`, which every executor reads.

pub mod api;
pub mod config;
pub mod servers;

use std::sync::Arc;
use std::time::Duration;

use self::config::OvhcloudSd;
use super::asked_groups::{ask_every_over, spawn_for_each, AskedGroups, Refreshed};
use super::config::{ScrapeConfig, TargetGroup, Url};

/// The most servers one refresh reads (two requests each): a bound on a list that never ends.
const SERVERS_MAX: usize = 10_000;

/// Starts asking every ovhcloud_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.ovhcloud_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &OvhcloudSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let shown = format!("{}{}", sd.endpoint, sd.service.api_path());
    let entry = Refreshed { mechanism: "ovhcloud_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.base, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh against the entry's endpoint.
async fn ask(client: &mut net::client::HttpClient, sd: &OvhcloudSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(client, sd, &sd.base).await
}

/// One refresh against the API at `base` (the endpoint, or the tests' mock): the API's
/// clock (`GET <endpoint>/auth/time`), the service's server names (`GET /vps` or
/// `/dedicated/server`), then each server's target. A server whose details or addresses
/// cannot be read is left out and logged, as Prometheus does.
async fn ask_at(client: &mut net::client::HttpClient, sd: &OvhcloudSd, base: &Url) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus, which makes a new Go client each refresh: the clock is read once a refresh.
    let clock = api::server_clock(client, sd, base).await?;
    let names: Vec<String> = api::get(client, sd, base, sd.service.api_path(), Some(clock)).await?;
    if names.len() > SERVERS_MAX {
        return Err(format!("{} servers listed, more than the {SERVERS_MAX} read", names.len()));
    }
    let mut groups = Vec::with_capacity(names.len());
    for name in &names {
        match server(client, sd, base, clock, name).await {
            Ok(group) => groups.push(group),
            Err(error) => tracing::warn!(source = %sd.source, server = %name, %error, "ovhcloud_sd: could not get the details of a server; it is left out"),
        }
    }
    Ok(groups)
}

/// One server's target: its details and IP list (`GET <service>/<name>` and `.../ips`).
async fn server(client: &mut net::client::HttpClient, sd: &OvhcloudSd, base: &Url, clock: api::ServerClock, name: &str) -> Result<TargetGroup, String> {
    // As Prometheus: the name escaped as a query component (a space as `+`).
    let escaped = super::discovery::query_escape(name);
    let details = api::get_body(client, sd, base, &api::join_path(sd.service.api_path(), &[&escaped]), Some(clock)).await?;
    let ips: Vec<String> = api::get(client, sd, base, &api::join_path(sd.service.api_path(), &[&escaped, "ips"]), Some(clock)).await?;
    servers::target(sd.service, &details, &ips)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    const APPLICATION_KEY: &str = "TDPKJdwZwAQPwKX2";
    const APPLICATION_SECRET: &str = "9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk";
    const CONSUMER_KEY: &str = "5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY";
    /// What the mock's `/auth/time` says.
    const SERVER_TIME_S: i64 = 1_700_000_000;

    /// Why `request` is not signed as the Go client signs it, if it is not.
    fn unsigned(request: &Seen) -> Option<String> {
        let timestamp = request.header("x-ovh-timestamp")?;
        let timestamp_s: i64 = timestamp.parse().ok()?;
        // The mock's clock stands still: a request comes at most a few seconds after the clock was read.
        if !(SERVER_TIME_S..SERVER_TIME_S + 10).contains(&timestamp_s) {
            return Some(format!("timestamp {timestamp_s} is not the API's time"));
        }
        let url = format!("http://{}{}", request.header("host").unwrap_or(""), request.path);
        let expected = api::signature(APPLICATION_SECRET, CONSUMER_KEY, "GET", &url, "", timestamp_s);
        (request.header("x-ovh-consumer") != Some(CONSUMER_KEY) || request.header("x-ovh-signature") != Some(expected.as_str())).then(|| format!("bad signature for {url}"))
    }

    /// Prometheus' test data: the answers of `/vps/...` and `/dedicated/server/...`.
    fn answer(path: &str) -> Option<&'static str> {
        Some(match path {
            "/vps" => r#"["abc"]"#,
            "/vps/abc" => r#"{"offerType": "ssd", "monitoringIpBlocks": [], "displayName": "abc", "zone": "zone", "cluster": "cluster_test", "slaMonitoring": false, "name": "abc", "vcore": 1,
                "state": "running", "keymap": null, "netbootMode": "local", "memoryLimit": 2048,
                "model": {"name": "vps-value-1-2-40", "availableOptions": [], "maximumAdditionnalIp": 16, "offer": "VPS abc", "disk": 40, "version": "2019v1", "vcore": 1, "memory": 2048, "datacenter": []}}"#,
            "/vps/abc/ips" => r#"["192.0.2.1/32", "2001:0db1:0000:0000:0000:0000:0000:0001/64"]"#,
            "/dedicated/server" => r#"["abcde"]"#,
            "/dedicated/server/abcde" => r#"{"ip": "1.2.3.4", "newUpgradeSystem": true, "commercialRange": "Advance-1 Gen 2", "rack": "TESTRACK", "rescueMail": null, "supportLevel": "pro", "bootId": 1,
                "linkSpeed": 123, "professionalUse": false, "monitoring": true, "noIntervention": false, "name": "abcde", "rootDevice": null, "state": "test", "datacenter": "gra3",
                "os": "debian11_64", "reverse": "abcde-rev", "serverId": 1234}"#,
            "/dedicated/server/abcde/ips" => r#"["1.2.3.4/32", "2001:0db8:0000:0000:0000:0000:0000:0001/64"]"#,
            _ => return None,
        })
    }

    /// The API behind the test keys, with Prometheus' test data: `/auth/time` unsigned,
    /// everything else signed with the API's time.
    fn ovh_api(request: &Seen) -> (u16, String) {
        if request.header("x-ovh-application") != Some(APPLICATION_KEY) {
            return (400, "bad application key".to_string());
        }
        if request.path == "/auth/time" {
            if request.header("x-ovh-signature").is_some() {
                return (400, r#"{"message": "/auth/time is asked unsigned"}"#.to_string());
            }
            return (200, SERVER_TIME_S.to_string());
        }
        if let Some(why) = unsigned(request) {
            return (400, format!(r#"{{"class": "Client::BadRequest", "message": "{why}"}}"#));
        }
        match answer(&request.path) {
            Some(body) => (200, body.to_string()),
            None => (404, format!(r#"{{"class": "Client::NotFound", "message": "The requested object ({}) does not exist"}}"#, request.path)),
        }
    }

    fn entry(service: &str, endpoint: &str, secret: &str) -> ScrapeConfig {
        let yaml = format!("scrape_configs: [{{job_name: o, ovhcloud_sd_configs: [{{service: {service}, endpoint: '{endpoint}', application_key: {APPLICATION_KEY}, application_secret: {secret}, consumer_key: {CONSUMER_KEY}}}]}}]");
        ScrapeConfig::from_yaml(&yaml, std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let sd = &config.jobs[0].ovhcloud_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new(sd.base.host.clone(), sd.base.port, None);
            ask_at(&mut client, sd, &sd.base).await
        })
    }

    /// A target as Prometheus labels it: its address among the labels, empty values dropped.
    fn labels_of(group: &TargetGroup) -> BTreeMap<String, String> {
        let mut labels = group.labels.clone();
        labels.insert("__address__".to_string(), group.targets[0].clone());
        labels
    }

    fn expected(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn service_vps_signs_every_request_and_labels_the_server_as_prometheus_does() {
        let (base, seen) = serve(ovh_api);
        let groups = refresh(&entry("vps", &base, APPLICATION_SECRET)).expect("the VPS");
        // Prometheus' TestOvhCloudVpsRefresh.
        let want = expected(&[
            ("__address__", "192.0.2.1"),
            ("__meta_ovhcloud_vps_ipv4", "192.0.2.1"),
            ("__meta_ovhcloud_vps_ipv6", ""),
            ("__meta_ovhcloud_vps_cluster", "cluster_test"),
            ("__meta_ovhcloud_vps_datacenter", "[]"),
            ("__meta_ovhcloud_vps_disk", "40"),
            ("__meta_ovhcloud_vps_display_name", "abc"),
            ("__meta_ovhcloud_vps_maximum_additional_ip", "16"),
            ("__meta_ovhcloud_vps_memory", "2048"),
            ("__meta_ovhcloud_vps_memory_limit", "2048"),
            ("__meta_ovhcloud_vps_model_name", "vps-value-1-2-40"),
            ("__meta_ovhcloud_vps_name", "abc"),
            ("__meta_ovhcloud_vps_netboot_mode", "local"),
            ("__meta_ovhcloud_vps_offer", "VPS abc"),
            ("__meta_ovhcloud_vps_offer_type", "ssd"),
            ("__meta_ovhcloud_vps_state", "running"),
            ("__meta_ovhcloud_vps_vcore", "1"),
            ("__meta_ovhcloud_vps_model_vcore", "1"),
            ("__meta_ovhcloud_vps_version", "2019v1"),
            ("__meta_ovhcloud_vps_zone", "zone"),
            ("instance", "abc"),
        ]);
        assert_eq!(groups.len(), 1);
        assert_eq!(labels_of(&groups[0]), want);
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["/auth/time", "/vps", "/vps/abc", "/vps/abc/ips"]);
        assert!(seen.iter().all(|s| s.method == "GET" && s.header("accept") == Some("application/json")), "{seen:?}");
        assert!(seen[0].header("x-ovh-consumer").is_none() && seen[0].header("x-ovh-timestamp").is_none(), "the clock is asked unsigned");
        assert!(seen[1..].iter().all(|s| unsigned(s).is_none()), "{seen:?}");
    }

    #[test]
    fn service_dedicated_server_labels_the_server_as_prometheus_does() {
        let (base, seen) = serve(ovh_api);
        let groups = refresh(&entry("dedicated_server", &base, APPLICATION_SECRET)).expect("the server");
        // Prometheus' TestOvhcloudDedicatedServerRefresh.
        let want = expected(&[
            ("__address__", "1.2.3.4"),
            ("__meta_ovhcloud_dedicated_server_commercial_range", "Advance-1 Gen 2"),
            ("__meta_ovhcloud_dedicated_server_datacenter", "gra3"),
            ("__meta_ovhcloud_dedicated_server_ipv4", "1.2.3.4"),
            ("__meta_ovhcloud_dedicated_server_ipv6", ""),
            ("__meta_ovhcloud_dedicated_server_link_speed", "123"),
            ("__meta_ovhcloud_dedicated_server_name", "abcde"),
            ("__meta_ovhcloud_dedicated_server_no_intervention", "false"),
            ("__meta_ovhcloud_dedicated_server_os", "debian11_64"),
            ("__meta_ovhcloud_dedicated_server_rack", "TESTRACK"),
            ("__meta_ovhcloud_dedicated_server_reverse", "abcde-rev"),
            ("__meta_ovhcloud_dedicated_server_server_id", "1234"),
            ("__meta_ovhcloud_dedicated_server_state", "test"),
            ("__meta_ovhcloud_dedicated_server_support_level", "pro"),
            ("instance", "abcde"),
        ]);
        assert_eq!(groups.len(), 1);
        assert_eq!(labels_of(&groups[0]), want);
        let paths: Vec<String> = seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default();
        assert_eq!(paths, ["/auth/time", "/dedicated/server", "/dedicated/server/abcde", "/dedicated/server/abcde/ips"]);
    }

    /// Three VPS: one whose details are missing, one whose addresses are all unreadable.
    fn partly_broken_api(request: &Seen) -> (u16, String) {
        match request.path.as_str() {
            "/api/auth/time" => (200, SERVER_TIME_S.to_string()),
            "/api/vps" => (200, r#"["gone", "abc", "no ip"]"#.to_string()),
            "/api/vps/no+ip" => (200, r#"{"name": "no ip"}"#.to_string()),
            "/api/vps/no+ip/ips" => (200, r#"["0.0.0.0", "10.0.0.0/8"]"#.to_string()),
            path => match path.strip_prefix("/api").and_then(answer) {
                Some(body) => (200, body.to_string()),
                None => (404, r#"{"class": "Client::NotFound", "message": "The requested object (serviceName = gone) does not exist"}"#.to_string()),
            },
        }
    }

    #[test]
    fn a_server_that_cannot_be_read_is_left_out_and_the_others_kept() {
        let (base, seen) = serve(partly_broken_api);
        let groups = refresh(&entry("vps", &format!("{base}/api"), APPLICATION_SECRET)).expect("the readable VPS");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["192.0.2.1"]);
        let paths: Vec<String> = seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default();
        assert_eq!(paths, ["/api/auth/time", "/api/vps", "/api/vps/gone", "/api/vps/abc", "/api/vps/abc/ips", "/api/vps/no+ip", "/api/vps/no+ip/ips"]);
    }

    #[test]
    fn a_refused_list_fails_the_refresh_in_the_go_clients_words() {
        let (base, seen) = serve(ovh_api);
        let error = refresh(&entry("vps", &base, "wrongsecret")).expect_err("a bad signature");
        assert_eq!(error, format!("OVHcloud API error (status code 400): Client::BadRequest: \"bad signature for {base}/vps\""));
        assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 2, "the clock, then the list");

        // A clock that cannot be read fails the refresh before the list is asked.
        fn no_clock(_: &Seen) -> (u16, String) {
            (503, "Service Unavailable".to_string())
        }
        let (base, seen) = serve(no_clock);
        let error = refresh(&entry("dedicated_server", &base, APPLICATION_SECRET)).expect_err("no clock");
        assert_eq!(error, "OVHcloud API error (status code 503): \"Service Unavailable\"");
        assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 1);
    }
}
