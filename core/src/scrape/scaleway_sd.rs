//! Targets from `scaleway_sd_configs`, as Prometheus' Scaleway discovery finds them: one zone's
//! Instances or Elastic Metal servers, listed as Scaleway's Go client lists them
//! (`scaleway_sd::instance`, `scaleway_sd::baremetal`). A failed request fails the refresh,
//! which keeps the last good targets. Executor 0 asks and puts the groups in the shared
//! `AskedGroups`, which every executor reads.

pub mod api;
pub mod baremetal;
pub mod config;
pub mod instance;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use self::api::{Answer, Page, PAGES_MAX};
use self::config::{Role, ScalewaySd, SecretKey};
use super::asked_groups::{ask_every_over, spawn_for_each, AskedGroups, Refreshed};
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The largest page read (a page holds 50 servers by default, a few KiB each).
const BODY_BYTES_MAX: usize = 16 << 20;
/// The header that carries the secret key.
const AUTH_TOKEN_HEADER: &str = "X-Auth-Token";

/// Starts asking every scaleway_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.scaleway_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &ScalewaySd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    // As Prometheus: a key file that cannot be read at the start is no discovery at all.
    if let SecretKey::File(_) = &sd.secret_key {
        if let Err(error) = sd.secret_key.read() {
            tracing::error!(job, %error, "scaleway_sd: its targets stay empty");
            return;
        }
    }
    let entry = Refreshed { mechanism: "scaleway_sd", job, shown: &sd.api_url, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.api, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh: the entry's role's lists, then their groups.
async fn ask(client: &mut net::client::HttpClient, sd: &ScalewaySd) -> Result<Vec<TargetGroup>, String> {
    match sd.role {
        Role::Instance => ask_instances(client, sd).await,
        Role::Baremetal => ask_baremetal(client, sd).await,
    }
}

/// The filters of a server list, as each API takes them: the Instance API takes the tags
/// joined by commas, the Bare Metal API one `tags` parameter each.
fn server_filters(sd: &ScalewaySd, order: (&'static str, &'static str), tags_joined: bool) -> Vec<(&'static str, String)> {
    let mut params = Vec::new();
    if !sd.name_filter.is_empty() {
        params.push(("name", sd.name_filter.clone()));
    }
    // The Go client always sends its default order.
    params.push((order.0, order.1.to_string()));
    if !sd.tags_filter.is_empty() {
        if tags_joined {
            params.push(("tags", sd.tags_filter.join(",")));
        } else {
            params.extend(sd.tags_filter.iter().map(|t| ("tags", t.clone())));
        }
    }
    params
}

/// The zone's Instances (role `instance`: `GET <api_url>/instance/v1/zones/<zone>/servers`),
/// with the IPAM addresses of the private NICs of those that have no other address.
async fn ask_instances(client: &mut net::client::HttpClient, sd: &ScalewaySd) -> Result<Vec<TargetGroup>, String> {
    let filters = server_filters(sd, ("order", "creation_date_desc"), true);
    let servers: Vec<instance::Server> = list_all(client, sd, &format!("/instance/v1/zones/{}/servers", sd.zone), &filters, instance::SERVERS_KEY).await?;
    let mut ips = Vec::new();
    for (region, nics) in instance::private_nics_by_region(&servers)? {
        // The Go client's defaults for the parameters it always sends.
        let mut params: Vec<(&str, String)> = vec![("order_by", "created_at_desc".to_string())];
        params.extend(nics.into_iter().map(|id| ("resource_ids", id)));
        params.push(("resource_type", "unknown_type".to_string()));
        params.push(("resource_types", instance::PRIVATE_NIC.to_string()));
        ips.extend(list_all::<instance::IpamIp>(client, sd, &format!("/ipam/v1/regions/{region}/ips"), &params, instance::IPS_KEY).await?);
    }
    Ok(instance::groups(&servers, &instance::private_nic_addresses(&ips), sd.port))
}

/// The zone's Elastic Metal servers, offers and operating systems (role `baremetal`:
/// `/baremetal/v1/zones/<zone>/servers`, `offers` and `os`).
async fn ask_baremetal(client: &mut net::client::HttpClient, sd: &ScalewaySd) -> Result<Vec<TargetGroup>, String> {
    let zone = format!("/baremetal/v1/zones/{}", sd.zone);
    let filters = server_filters(sd, ("order_by", "created_at_asc"), false);
    let servers: Vec<baremetal::Server> = list_all(client, sd, &format!("{zone}/servers"), &filters, baremetal::SERVERS_KEY).await?;
    let offers: Vec<baremetal::Offer> = list_all(client, sd, &format!("{zone}/offers"), &[("subscription_period", "unknown_subscription_period".to_string())], baremetal::OFFERS_KEY).await?;
    let systems: Vec<baremetal::Os> = list_all(client, sd, &format!("{zone}/os"), &[], baremetal::OS_KEY).await?;
    baremetal::groups(&servers, &offers, &systems, sd.port)
}

/// Every page of the list at `<api_url><path>` (items under `key`) with `params`, as the Go
/// client reads them: page 1, then up to the page count the first page gives, stopping at an
/// empty page.
async fn list_all<T: DeserializeOwned>(client: &mut net::client::HttpClient, sd: &ScalewaySd, path: &str, params: &[(&str, String)], key: &str) -> Result<Vec<T>, String> {
    let mut found = Vec::new();
    let mut pages = None;
    let mut page_number: u64 = 1;
    loop {
        let mut query = params.to_vec();
        query.push(("page", page_number.to_string()));
        let page: Page<T> = get_page(client, sd, path, &query, key).await?;
        if page.items.is_empty() {
            return Ok(found);
        }
        let count = *pages.get_or_insert_with(|| api::page_count(&page));
        found.extend(page.items);
        if page_number >= count {
            return Ok(found);
        }
        if page_number >= PAGES_MAX {
            return Err(format!("more than {PAGES_MAX} pages of {path}"));
        }
        page_number += 1;
    }
}

/// GETs one page of the list at `<api_url><path>` with `query`, the secret key as
/// `X-Auth-Token`, and reads it.
async fn get_page<T: DeserializeOwned>(client: &mut net::client::HttpClient, sd: &ScalewaySd, path: &str, query: &[(&str, String)], key: &str) -> Result<Page<T>, String> {
    let location = Url { path_and_query: format!("{}{path}?{}", sd.api.path_and_query, api::query(query)), ..sd.api.clone() };
    let shown = http_get::format_url(&location);
    let failed = |e: String| format!("scaleway-sdk-go: error executing request: {e}");
    // As Prometheus' client: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("application/json", None, timeout).await.map_err(failed)?;
    let token = sd.secret_key.read().map_err(|e| failed(format!("Get {shown:?}: {e}")))?;
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case(AUTH_TOKEN_HEADER));
    headers.push((AUTH_TOKEN_HEADER.to_string(), token));
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await.map_err(failed)?;
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    api::page(&Answer { status: response.status, content_type, body: &response.body }, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    const SECRET: &str = "6d6579e5-a5b9-49fc-a35f-b4feb9b87301";
    const KEYS: &str = "project_id: 8feda53f-15f0-447f-badf-ebe32dad2fc0, access_key: SCW0W8NG6024YHRJ7723";
    const DENIED: &str = r#"{"message": "authentication is denied", "method": "api_key", "reason": "not_found", "type": "denied_authentication"}"#;

    /// `items` (a JSON list) from `from`, at most `count`, as a page of `key` with `total`.
    fn page_of(items: &str, key: &str, from: usize, count: usize, total: Option<usize>) -> String {
        let all: Vec<serde_json::Value> = serde_json::from_str(items).expect("valid");
        let some: Vec<_> = all.into_iter().skip(from).take(count).collect();
        let mut page = serde_json::json!({ key: some });
        if let Some(total) = total {
            page["total_count"] = total.into();
        }
        page.to_string()
    }

    /// The Instances of Prometheus' test behind its secret key, two a page.
    fn instance_api(request: &Seen) -> (u16, String) {
        if request.header("x-auth-token") != Some(SECRET) {
            return (401, DENIED.to_string());
        }
        match request.path.as_str() {
            "/instance/v1/zones/fr-par-1/servers?order=creation_date_desc&page=1" => (200, page_of(instance::tests::SERVERS, "servers", 0, 2, Some(4))),
            "/instance/v1/zones/fr-par-1/servers?order=creation_date_desc&page=2" => (200, page_of(instance::tests::SERVERS, "servers", 2, 2, Some(4))),
            _ => (404, r#"{"message": "bad url"}"#.to_string()),
        }
    }

    /// An Instance with only a private NIC, whose address IPAM knows (Prometheus' test), with
    /// the name and tag filters asked.
    fn ipam_api(request: &Seen) -> (u16, String) {
        if request.header("x-auth-token") != Some(SECRET) {
            return (401, DENIED.to_string());
        }
        match request.path.as_str() {
            "/instance/v1/zones/fr-par-1/servers?name=ipam-only&order=creation_date_desc&page=1&tags=a%2Cb" => (
                200,
                r#"{"servers": [{"id": "78d6aa69-6a5f-47bd-9f1a-3cdde6973d96", "name": "ipam-only", "organization": "cb334986-b054-4725-9d3a-40850fdc6015", "project": "cb334986-b054-4725-9d5a-30850fdc6015",
                    "commercial_type": "DEV1-S", "hostname": "ipam-only", "state": "running", "boot_type": "local", "routed_ip_enabled": true, "public_ip": null, "public_ips": [], "private_ip": null,
                    "private_nics": [{"id": "2d17a5a0-f8e5-4e7f-a029-f7c8d182af53", "server_id": "78d6aa69-6a5f-47bd-9f1a-3cdde6973d96", "state": "available", "zone": "fr-par-1"}], "zone": "fr-par-1"}]}"#
                    .to_string(),
            ),
            "/ipam/v1/regions/fr-par/ips?order_by=created_at_desc&page=1&resource_ids=2d17a5a0-f8e5-4e7f-a029-f7c8d182af53&resource_type=unknown_type&resource_types=instance_private_nic" => (
                200,
                r#"{"ips": [{"id": "b50244c4-b0b1-4cc9-a78c-26034b4967d3", "address": "10.0.0.7/32", "project_id": "cb334986-b054-4725-9d5a-30850fdc6015", "is_ipv6": false,
                    "resource": {"type": "instance_private_nic", "id": "2d17a5a0-f8e5-4e7f-a029-f7c8d182af53"}, "region": "fr-par"}], "total_count": 1}"#
                    .to_string(),
            ),
            _ => (404, r#"{"message": "bad url"}"#.to_string()),
        }
    }

    /// A zone's Elastic Metal servers (one a page), offers and systems, under `/scw`.
    fn baremetal_api(request: &Seen) -> (u16, String) {
        if request.header("x-auth-token") != Some(SECRET) {
            return (401, DENIED.to_string());
        }
        let (path, query) = request.path.split_once('?').unwrap_or((request.path.as_str(), ""));
        match (path, query) {
            ("/scw/baremetal/v1/zones/fr-par-2/servers", "order_by=created_at_asc&page=1&tags=db&tags=prod") => (200, page_of(baremetal::tests::SERVERS, "servers", 0, 1, Some(3))),
            ("/scw/baremetal/v1/zones/fr-par-2/servers", "order_by=created_at_asc&page=2&tags=db&tags=prod") => (200, page_of(baremetal::tests::SERVERS, "servers", 1, 1, Some(3))),
            ("/scw/baremetal/v1/zones/fr-par-2/servers", "order_by=created_at_asc&page=3&tags=db&tags=prod") => (200, page_of(baremetal::tests::SERVERS, "servers", 2, 1, Some(3))),
            ("/scw/baremetal/v1/zones/fr-par-2/offers", "page=1&subscription_period=unknown_subscription_period") => (200, page_of(baremetal::tests::OFFERS, "offers", 0, 9, None)),
            ("/scw/baremetal/v1/zones/fr-par-2/os", "page=1") => (200, page_of(baremetal::tests::SYSTEMS, "os", 0, 9, Some(2))),
            _ => (404, r#"{"message": "bad url"}"#.to_string()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: s, scaleway_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let sd = &config.jobs[0].scaleway_sd[0];
        run(async {
            let mut client = sd.access.client(&sd.api)?;
            ask(&mut client, sd).await
        })
    }

    fn seen_paths(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<String> {
        seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default()
    }

    #[test]
    fn every_page_of_instances_is_listed_with_the_key_and_prometheus_labels() {
        let (base, seen) = serve(instance_api);
        let groups = refresh(&entry(&format!("{{role: instance, {KEYS}, secret_key: {SECRET}, api_url: '{base}'}}"))).expect("two pages");
        assert_eq!(groups.len(), 4);
        for (i, group) in groups.iter().enumerate() {
            let (address, labels) = instance::tests::expected(i);
            assert_eq!((&group.targets[0], &group.labels), (&address, &labels), "Instance {i}");
        }
        assert_eq!(seen_paths(&seen), ["/instance/v1/zones/fr-par-1/servers?order=creation_date_desc&page=1", "/instance/v1/zones/fr-par-1/servers?order=creation_date_desc&page=2"]);
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(seen.iter().all(|s| s.method == "GET" && s.header("authorization").is_none()), "{seen:?}");
    }

    #[test]
    fn an_instance_with_only_a_private_nic_is_found_through_ipam() {
        let (base, seen) = serve(ipam_api);
        let groups = refresh(&entry(&format!("{{role: instance, {KEYS}, secret_key: {SECRET}, api_url: '{base}', name_filter: ipam-only, tags_filter: [a, b], port: 9100}}"))).expect("listed");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets, ["10.0.0.7:9100"]);
        assert_eq!(groups[0].labels.get("__meta_scaleway_instance_private_ipv4").map(String::as_str), Some("10.0.0.7"));
        assert_eq!(seen_paths(&seen).len(), 2);
    }

    #[test]
    fn the_key_can_come_from_a_file_read_for_every_request() {
        let file = std::env::temp_dir().join(format!("scaleway_sd_secret_key_{}", std::process::id()));
        std::fs::write(&file, format!("{SECRET}\n")).expect("written");
        let (base, _) = serve(instance_api);
        let config = entry(&format!("{{role: instance, {KEYS}, secret_key_file: '{}', api_url: '{base}'}}", file.display()));
        assert_eq!(refresh(&config).map(|g| g.len()), Ok(4));
        std::fs::write(&file, "00000000-0000-0000-0000-000000000000").expect("rotated");
        assert_eq!(refresh(&config).err().as_deref(), Some("scaleway-sdk-go: denied authentication: API key does not exist"), "the rotated key is sent");
        std::fs::remove_file(&file).ok();
        let error = refresh(&config).expect_err("no file");
        assert!(error.starts_with(&format!("scaleway-sdk-go: error executing request: Get \"{base}/instance/v1/zones/fr-par-1/servers?order=creation_date_desc&page=1\": unable to read auth token file ")), "{error}");
    }

    #[test]
    fn elastic_metal_servers_are_listed_with_their_offers_and_systems() {
        let (base, seen) = serve(baremetal_api);
        let config = entry(&format!("{{role: baremetal, {KEYS}, secret_key: {SECRET}, api_url: '{base}/scw', zone: fr-par-2, tags_filter: [db, prod], port: 9100}}"));
        let groups = refresh(&config).expect("listed");
        assert_eq!(groups.len(), 3);
        for (i, group) in groups.iter().enumerate() {
            let (address, labels) = baremetal::tests::expected(i, 9100);
            assert_eq!((&group.targets[0], &group.labels), (&address, &labels), "server {i}");
        }
        let paths = seen_paths(&seen);
        assert_eq!(paths.len(), 5, "three pages of servers, one of offers, one of systems: {paths:?}");
    }

    #[test]
    fn a_refused_request_fails_the_refresh_in_the_go_clients_words() {
        let (base, seen) = serve(instance_api);
        let error = refresh(&entry(&format!("{{role: instance, {KEYS}, secret_key: 00000000-0000-0000-0000-000000000000, api_url: '{base}'}}"))).expect_err("refused");
        assert_eq!(error, "scaleway-sdk-go: denied authentication: API key does not exist");
        assert_eq!(seen_paths(&seen).len(), 1, "nothing after a failed page");

        // A zone the API does not serve: its plain error answer.
        let (base, _) = serve(instance_api);
        let error = refresh(&entry(&format!("{{role: instance, {KEYS}, secret_key: {SECRET}, api_url: '{base}', zone: pl-waw-1}}"))).expect_err("not found");
        assert_eq!(error, "scaleway-sdk-go: http error 404 Not Found: bad url");

        // A failure to connect.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let error = refresh(&entry(&format!("{{role: baremetal, {KEYS}, secret_key: {SECRET}, api_url: 'http://{closed}'}}"))).expect_err("refused");
        assert!(error.starts_with(&format!("scaleway-sdk-go: error executing request: Get \"http://{closed}/baremetal/v1/zones/fr-par-1/servers?order_by=created_at_asc&page=1\": ")), "{error}");
    }
}
