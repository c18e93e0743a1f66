//! Targets from `docker_sd_configs`, as Prometheus' Docker discovery finds them: the daemon at
//! `host` is asked for its running containers and networks, and each container's networks and
//! TCP ports become targets with Prometheus' `__meta_docker_*` labels (`targets`). A failed
//! request keeps the last good targets and is logged when the error changes. Executor 0 asks
//! the daemons; the groups go in `AskedGroups` (the source is the entry's host and position).

pub mod config;
pub mod targets;

use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
use self::config::DockerSd;
use super::config::{ScrapeConfig, TargetGroup};
use super::docker_api::{self, get_json};

/// Starts asking every docker_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.docker_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes. Requests go through `docker_api`, unversioned: a `unix://` host is spoken
/// to over its socket; an `http://` or `https://` host with the entry's HTTP client settings;
/// `tcp://` as `http://`, without credentials (Prometheus gives its HTTP client settings to
/// http and https hosts only).
async fn refresh_loop(job: &str, sd: &DockerSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mut client = match docker_api::client(&sd.daemon) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, host = %sd.daemon.host_text, %error, "docker_sd: its targets stay empty");
            return;
        }
    };
    let entry = Refreshed { mechanism: "docker_sd", job, shown: &sd.daemon.host_text, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut client, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// The containers (`GET /containers/json`, with the entry's `filters`) and networks (`GET
/// /networks`) of the daemon, made into target groups.
async fn ask(client: &mut net::client::HttpClient, sd: &DockerSd) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus: a request may take the whole refresh interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let containers_path = docker_api::with_filters("/containers/json", &sd.filters);
    let containers: Vec<targets::Container> = get_json(client, &sd.daemon, timeout, &containers_path).await.map_err(|e| format!("error while listing containers: {e}"))?;
    let networks: Vec<targets::Network> = get_json(client, &sd.daemon, timeout, "/networks").await.map_err(|e| format!("error while computing network labels: {e}"))?;
    Ok(targets::groups(&containers, &networks, sd.port, &sd.host_networking_host, sd.match_first_network))
}
