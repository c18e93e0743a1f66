//! Targets from `docker_sd_configs`, as Prometheus' Docker discovery finds them: every
//! `refresh_interval` (60 s by default) the daemon at `host` is asked for its running
//! containers (`GET /containers/json`, with the entry's `filters`) and its networks (`GET
//! /networks`), and each container's networks and TCP ports become targets with Prometheus'
//! `__meta_docker_*` labels (`targets`). A `unix://` host is spoken to over its socket; an
//! `http://` or `https://` host with the entry's HTTP client settings; `tcp://` as
//! `http://`, without credentials (Prometheus gives its HTTP client settings to http and
//! https hosts only). A failed request keeps the last good targets and is logged when the error
//! changes. Requests are unversioned, so the daemon answers in its own API version.
//!
//! Executor 0 asks the daemons and puts the groups in the shared `AskedGroups` (the source is
//! the entry's host and position), which every executor reads.

pub mod targets;

use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
use super::config::{Credentials, DockerHost, DockerSd, ExtraHeaders, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The largest answer read (thousands of containers fit many times over).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts asking every docker_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.docker_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// A client for the daemon (kept alive between refreshes).
fn client(sd: &DockerSd) -> Result<net::client::HttpClient, String> {
    match &sd.host {
        DockerHost::Unix(path) => Ok(net::client::HttpClient::unix(path.clone(), "docker".into())),
        DockerHost::Http(url) => http_get::client_for(url, &sd.tls, &sd.proxy),
    }
}

/// Asks `sd` now and then every refresh interval until `stopped` closes.
async fn refresh_loop(job: &str, sd: &DockerSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mut client = match client(sd) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, host = %sd.host_text, %error, "docker_sd: its targets stay empty");
            return;
        }
    };
    let entry = Refreshed { mechanism: "docker_sd", job, shown: &sd.host_text, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut client, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// The containers and networks of the daemon, made into target groups.
async fn ask(client: &mut net::client::HttpClient, sd: &DockerSd) -> Result<Vec<TargetGroup>, String> {
    let containers_path = if sd.filters.is_empty() { "/containers/json".to_string() } else { format!("/containers/json?filters={}", super::discovery::query_escape(&sd.filters)) };
    let containers: Vec<targets::Container> = get_json(client, sd, &containers_path).await.map_err(|e| format!("error while listing containers: {e}"))?;
    let networks: Vec<targets::Network> = get_json(client, sd, "/networks").await.map_err(|e| format!("error while computing network labels: {e}"))?;
    Ok(targets::groups(&containers, &networks, sd.port, &sd.host_networking_host, sd.match_first_network))
}

/// One GET of the daemon, its `200` body decoded.
async fn get_json<T: serde::de::DeserializeOwned>(client: &mut net::client::HttpClient, sd: &DockerSd, path_and_query: &str) -> Result<T, String> {
    // As Prometheus: a request may take the whole refresh interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = if sd.client_settings {
        http_get::request_headers("application/json", None, &sd.credentials, &sd.http_headers, timeout).await?
    } else {
        http_get::request_headers("application/json", None, &Credentials::None, &ExtraHeaders::default(), timeout).await?
    };
    let response = match &sd.host {
        DockerHost::Unix(path) => client.get(path_and_query, &headers, timeout, BODY_BYTES_MAX).await.map_err(|e| format!("{}: {e}", path.display()))?,
        DockerHost::Http(base) => {
            let prefix = base.path_and_query.trim_end_matches('/');
            let location = Url { path_and_query: format!("{prefix}{path_and_query}"), ..base.clone() };
            let shown = format!("{}{path_and_query}", sd.host_text.trim_end_matches('/'));
            let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, follow_redirects: sd.follow_redirects, tls: &sd.tls, proxy: &sd.proxy };
            http_get::get(get).await?
        }
    };
    if response.status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(&response.body).ok().and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string));
        let status = http_get::status_error(response.status);
        return Err(match message {
            Some(message) => format!("{status}: {message}"),
            None => status,
        });
    }
    serde_json::from_slice(&response.body).map_err(|e| format!("cannot read the daemon's answer: {e}"))
}
