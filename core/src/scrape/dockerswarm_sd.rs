//! Targets from `dockerswarm_sd_configs`, as Prometheus' Docker Swarm discovery finds them:
//! the Swarm manager at `host` is asked for the entry's `role` (`services`, `tasks` or `nodes`)
//! and the answer becomes targets with Prometheus' `__meta_dockerswarm_*` labels. A failed
//! request keeps the last good targets and is logged when the error changes. Executor 0 asks
//! the managers; the groups go in `AskedGroups` (source: the entry's host, role and position).

pub mod config;
pub mod nodes;
pub mod objects;
pub mod services;
pub mod tasks;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
use self::config::{DockerSwarmSd, SwarmRole};
use super::config::{ScrapeConfig, TargetGroup};
use super::docker_api::{self, get_json, with_filters};
use super::docker_sd::targets::Network;

/// What every label of this discovery starts with (the network labels take it too).
const LABEL_PREFIX: &str = "__meta_dockerswarm_";

/// Starts asking every dockerswarm_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.dockerswarm_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes. The daemon is spoken to as docker_sd speaks to it (`docker_api`).
async fn refresh_loop(job: &str, sd: &DockerSwarmSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mut client = match docker_api::client(&sd.daemon) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, host = %sd.daemon.host_text, %error, "dockerswarm_sd: its targets stay empty");
            return;
        }
    };
    let entry = Refreshed { mechanism: "dockerswarm_sd", job, shown: &sd.daemon.host_text, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut client, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// The role's listings, made into target groups (Prometheus' error messages) by the modules
/// `services`, `tasks` and `nodes`. Role `services` asks `GET /services` with the entry's
/// `filters` and `GET /networks`; role `tasks` asks `GET /tasks` with the filters, then
/// `/services`, `/nodes` and `/networks` unfiltered for their labels; role `nodes` asks `GET
/// /nodes` with the filters.
async fn ask(client: &mut net::client::HttpClient, sd: &DockerSwarmSd) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus: a request may take the whole refresh interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let daemon = &sd.daemon;
    match sd.role {
        SwarmRole::Services => {
            let listed: Vec<objects::Service> = get_json(client, daemon, timeout, &with_filters("/services", &sd.filters)).await.map_err(|e| format!("error while listing swarm services: {e}"))?;
            let networks: Vec<Network> = get_json(client, daemon, timeout, "/networks").await.map_err(|e| format!("error while computing swarm network labels: {e}"))?;
            services::groups(&listed, &networks, sd.port)
        }
        SwarmRole::Tasks => {
            let listed: Vec<objects::Task> = get_json(client, daemon, timeout, &with_filters("/tasks", &sd.filters)).await.map_err(|e| format!("error while listing swarm services: {e}"))?;
            let services: Vec<objects::Service> = get_json(client, daemon, timeout, "/services").await.map_err(|e| format!("error while computing services labels and ports: {e}"))?;
            let nodes: Vec<objects::Node> = get_json(client, daemon, timeout, "/nodes").await.map_err(|e| format!("error while computing nodes labels and ports: error while listing swarm nodes: {e}"))?;
            let networks: Vec<Network> = get_json(client, daemon, timeout, "/networks").await.map_err(|e| format!("error while computing swarm network labels: {e}"))?;
            tasks::groups(&listed, &services, &nodes, &networks, sd.port)
        }
        SwarmRole::Nodes => {
            let listed: Vec<objects::Node> = get_json(client, daemon, timeout, &with_filters("/nodes", &sd.filters)).await.map_err(|e| format!("error while listing swarm nodes: {e}"))?;
            Ok(nodes::groups(&listed, sd.port))
        }
    }
}

/// A target's labels: `own`, then each of `layers` over them in order (a later layer wins a
/// name, as Prometheus copies its maps over the target's label set).
fn merged(mut own: BTreeMap<String, String>, layers: &[Option<&BTreeMap<String, String>>]) -> BTreeMap<String, String> {
    for layer in layers.iter().flatten() {
        own.extend(layer.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    own
}

/// The fixtures' shared reading: the JSON answers under `testdata/` (the shapes and facts of
/// a real swarm, as Prometheus' own tests use them) and the expected targets written as
/// blocks of an address line and its `  name=value` lines, sorted by name.
#[cfg(test)]
mod fixtures {
    use super::TargetGroup;

    pub fn decode<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_json::from_str(text).expect("the fixture is JSON of the Docker API's shape")
    }

    /// Each group as the expectation files write a target (one address per group).
    pub fn rendered(groups: &[TargetGroup]) -> Vec<String> {
        let mut lines = Vec::new();
        for group in groups {
            assert_eq!(group.targets.len(), 1, "one target per group");
            lines.push(group.targets[0].clone());
            lines.extend(group.labels.iter().map(|(k, v)| format!("  {k}={v}")));
        }
        lines
    }

    pub fn expected(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }
}
