//! Targets from `triton_sd_configs`, as Prometheus' Triton discovery finds them: each container
//! or compute node Triton's Container Monitor discovery endpoint lists is a target
//! (`triton_sd::discovered`). A failed request or a bad answer keeps the last good targets and
//! is logged when the error changes. Executor 0 asks and puts the groups in the shared
//! `AskedGroups`, which every executor reads.

pub mod config;
pub mod discovered;

use std::sync::Arc;
use std::time::Duration;

use self::config::{Role, TritonSd};
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The largest answer read (thousands of containers).
const BODY_BYTES_MAX: usize = 32 << 20;

/// Starts asking every triton_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.triton_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The discovery URL of `sd` with `scheme` (https; the tests' mock speaks http):
/// `https://<endpoint>:<port>/v<version>/discover` (role container) or `.../gz/discover` (role
/// cn), with `?groups=` when the entry names groups.
fn discovery_url(sd: &TritonSd, scheme: Scheme) -> Url {
    let host = if sd.endpoint.contains(':') && !sd.endpoint.starts_with('[') { format!("[{}]", sd.endpoint) } else { sd.endpoint.clone() };
    Url { scheme, host, port: sd.port, path_and_query: sd.path_and_query.clone() }
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &TritonSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let url = discovery_url(sd, Scheme::Https);
    let shown = http_get::format_url(&url);
    let entry = Refreshed { mechanism: "triton_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &url, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh against the real endpoint.
async fn ask(client: &mut net::client::HttpClient, sd: &TritonSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(client, sd, Scheme::Https).await
}

/// One GET of the discovery endpoint over the entry's `tls_config` and its groups, or why there
/// are none (Prometheus' words). As Prometheus, the answer is read whatever its status.
async fn ask_at(client: &mut net::client::HttpClient, sd: &TritonSd, scheme: Scheme) -> Result<Vec<TargetGroup>, String> {
    let url = discovery_url(sd, scheme);
    let shown = http_get::format_url(&url);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", None, timeout).await?;
    let get = Get { client, url: &url, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await.map_err(|e| format!("an error occurred when requesting targets from the discovery endpoint: {e}"))?;
    match sd.role {
        Role::Container => discovered::containers(&response.body, &sd.dns_suffix, sd.port),
        Role::ComputeNode => discovered::compute_nodes(&response.body, &sd.dns_suffix, sd.port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    fn cmon(request: &Seen) -> (u16, String) {
        match request.path.as_str() {
            "/v1/discover?groups=foo%2Cbar" => (200, r#"{"containers": [{"groups": ["foo"], "server_uuid": "s-1", "vm_alias": "web", "vm_brand": "lx", "vm_image_uuid": "i-1", "vm_uuid": "c-1"}]}"#.to_string()),
            "/v1/gz/discover" => (200, r#"{"cns": [{"server_uuid": "s-1", "server_hostname": "cn01"}]}"#.to_string()),
            _ => (404, "not found".to_string()),
        }
    }

    fn refresh(port: u16, yaml: &str) -> Result<Vec<TargetGroup>, String> {
        let config = ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: t, triton_sd_configs: [{{account: a, dns_suffix: triton.example.com, endpoint: 127.0.0.1, port: {port}, {yaml}}}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid");
        let sd = &config.jobs[0].triton_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new("127.0.0.1".to_string(), port, None);
            ask_at(&mut client, sd, Scheme::Http).await
        })
    }

    #[test]
    fn each_role_asks_its_endpoint_and_lists_targets_on_the_same_port() {
        let (base, seen) = serve(cmon);
        let port = Url::parse(&base).expect("mock URL").port;
        let containers = refresh(port, "groups: [foo, bar]").expect("containers");
        assert_eq!(containers[0].targets, [format!("c-1.triton.example.com:{port}")]);
        assert_eq!(containers[0].labels.get("__meta_triton_machine_alias").map(String::as_str), Some("web"));
        let nodes = refresh(port, "role: cn").expect("compute nodes");
        assert_eq!(nodes[0].labels.get("__meta_triton_machine_alias").map(String::as_str), Some("cn01"));
        let paths: Vec<String> = seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default();
        assert_eq!(paths, ["/v1/discover?groups=foo%2Cbar", "/v1/gz/discover"]);
        // As Prometheus, the status is not read: a 404 page is a bad answer.
        let error = refresh(port, "version: 9").expect_err("not JSON");
        assert!(error.starts_with("an error occurred unmarshaling the discovery response json"), "{error}");
    }
}
