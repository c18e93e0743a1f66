//! Targets from `ionos_sd_configs`, as Prometheus' IONOS Cloud discovery finds them: each
//! server of the data center with an IP address is a target (`ionos_sd::servers`). A failed
//! request or a bad answer keeps the last good targets and is logged when the error changes.
//! Executor 0 asks and puts the groups in the shared `AskedGroups`, which every executor reads.

pub mod config;
pub mod servers;

use std::sync::Arc;
use std::time::Duration;

use self::config::IonosSd;
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The API's host: fixed for users (Prometheus has no key for it).
const API_HOST: &str = "api.ionos.com";
/// The largest answer read (a data center's servers at depth 3, thousands of them).
const BODY_BYTES_MAX: usize = 64 << 20;
/// How much of an error answer is quoted.
const ERROR_QUOTED_CHARS: usize = 300;

/// Starts asking every ionos_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.ionos_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The API's origin.
fn api_base() -> Url {
    Url { scheme: Scheme::Https, host: API_HOST.to_string(), port: 443, path_and_query: "/".to_string() }
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &IonosSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let shown = http_get::format_url(&servers_url(&api_base(), sd));
    let entry = Refreshed { mechanism: "ionos_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &api_base(), &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh against the real API.
async fn ask(client: &mut net::client::HttpClient, sd: &IonosSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(client, sd, &api_base()).await
}

/// The server list of `sd`'s data center on the API at `base`'s origin, with the servers' NICs
/// and volumes (`https://api.ionos.com/cloudapi/v6/datacenters/<id>/servers?depth=3` on the
/// real API).
fn servers_url(base: &Url, sd: &IonosSd) -> Url {
    Url { path_and_query: format!("/cloudapi/v6/datacenters/{}/servers?depth=3", sd.datacenter_id), ..base.clone() }
}

/// One refresh against the API at `base` (its origin; the tests' mock): one GET of the server
/// list with the entry's credentials. Any 2xx is taken.
async fn ask_at(client: &mut net::client::HttpClient, sd: &IonosSd, base: &Url) -> Result<Vec<TargetGroup>, String> {
    let location = servers_url(base, sd);
    let shown = http_get::format_url(&location);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", None, timeout).await?;
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if !(200..300).contains(&response.status) {
        let quoted: String = String::from_utf8_lossy(&response.body).trim().chars().take(ERROR_QUOTED_CHARS).collect();
        return Err(format!("GET {shown}: {}: {quoted}", http_get::status_error(response.status)));
    }
    Ok(servers::groups(&servers::servers(&response.body)?, sd.port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    /// One data center's servers behind a bearer token.
    fn api(request: &Seen) -> (u16, String) {
        if request.header("authorization") != Some("Bearer jwt") {
            return (401, r#"{"httpStatus": 401, "messages": [{"errorCode": "315", "message": "Unauthorized"}]}"#.to_string());
        }
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/cloudapi/v6/datacenters/dc-1/servers?depth=3") => (200, r#"{"id": "dc-1/servers", "type": "collection", "items": [
                {"id": "srv-a", "properties": {"name": "web"}, "entities": {"nics": {"items": [{"properties": {"name": "lan", "ips": ["10.7.0.2"]}}]}}},
                {"id": "srv-b", "properties": {"name": "no-ip"}, "entities": {"nics": {"items": []}}}]}"#.to_string()),
            _ => (404, r#"{"httpStatus": 404, "messages": [{"errorCode": "309", "message": "Resource does not exist"}]}"#.to_string()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: i, ionos_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(base: &str, config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let base = Url::parse(base).expect("the mock's URL");
        let sd = &config.jobs[0].ionos_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new(base.host.clone(), base.port, None);
            ask_at(&mut client, sd, &base).await
        })
    }

    #[test]
    fn the_data_centers_servers_are_asked_with_the_token_and_each_with_an_ip_is_a_target() {
        let (base, seen) = serve(api);
        let groups = refresh(&base, &entry("{datacenter_id: dc-1, port: 9100, bearer_token: jwt}")).expect("listed");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets, ["10.7.0.2:9100"]);
        assert_eq!(groups[0].labels.get("__meta_ionos_server_nic_ip_lan").map(String::as_str), Some(",10.7.0.2,"));
        assert_eq!(groups[0].labels.get("__meta_ionos_server_servers_id").map(String::as_str), Some("dc-1/servers"));
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].header("accept"), Some("application/json"));
    }

    #[test]
    fn a_refused_request_fails_the_refresh_naming_the_status_and_answer() {
        let (base, _) = serve(api);
        let error = refresh(&base, &entry("{datacenter_id: dc-1, bearer_token: wrong}")).expect_err("unauthorized");
        assert!(error.starts_with(&format!("GET {base}/cloudapi/v6/datacenters/dc-1/servers?depth=3: server returned HTTP status 401 Unauthorized: ")), "{error}");
        assert!(error.contains("\"Unauthorized\""), "{error}");
        let (base, _) = serve(api);
        let error = refresh(&base, &entry("{datacenter_id: dc-2, bearer_token: jwt}")).expect_err("no such data center");
        assert!(error.contains("404 Not Found") && error.contains("Resource does not exist"), "{error}");
    }
}
