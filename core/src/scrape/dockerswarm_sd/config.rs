//! A `dockerswarm_sd_configs` entry as written and as checked: a Swarm manager's services,
//! tasks or nodes (`role`), Prometheus' defaults (`port` 80, 60 s refresh).

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_sections, default_port_80, optional_duration, with_client_keys, FilterSection};
use crate::scrape::docker_api::config::{docker_filters, resolve_docker_daemon, DockerDaemon};

with_client_keys! {
    /// Prometheus' `dockerswarm_sd_config`: the services, tasks or nodes of a Docker Swarm
    /// manager, with the HTTP client settings a job has (used for `http://` and `https://` hosts).
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct DockerSwarmSdSection {
        host: String,
        role: String,
        #[serde(default = "default_port_80")]
        port: u16,
        filters: Vec<FilterSection>,
        refresh_interval: Option<String>,
    }
}

/// How often a Docker Swarm manager is asked when `refresh_interval` is not given
/// (Prometheus').
const DOCKERSWARM_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// What a `dockerswarm_sd_configs` entry lists, one kind of target each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwarmRole {
    /// A target per service virtual IP and published TCP port.
    Services,
    /// A target per task network address and service TCP port, and per published task port.
    Tasks,
    /// A target per node.
    Nodes,
}

/// One `dockerswarm_sd_configs` entry, checked.
pub struct DockerSwarmSd {
    pub daemon: DockerDaemon,
    /// This entry's source name among the asked groups: the host, role and the entry's position.
    pub source: String,
    pub role: SwarmRole,
    /// The port of targets that have none of their own (and of every node).
    pub port: u16,
    /// `filters` as the Docker API's JSON (`{"name": ["value", ...]}`), empty for none; sent
    /// with the role's own listing only.
    pub filters: String,
    pub refresh_ms: i64,
}

impl std::fmt::Debug for DockerSwarmSd {
    /// The host, role and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerSwarmSd").field("host", &self.daemon.host_text).field("role", &self.role).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: DockerSwarmSdSection, base: &Path, position: usize) -> Result<DockerSwarmSd, String> {
    if s.host.is_empty() {
        return Err("host missing".into());
    }
    // Prometheus' messages.
    let role = match s.role.as_str() {
        "services" => SwarmRole::Services,
        "tasks" => SwarmRole::Tasks,
        "nodes" => SwarmRole::Nodes,
        "" => return Err("role missing (one of: tasks, services, nodes)".into()),
        other => return Err(format!("invalid role {other}, expected tasks, services, or nodes")),
    };
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(DOCKERSWARM_SD_REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let source = format!("dockerswarm {} {} #{position}", s.host, s.role);
    let daemon = resolve_docker_daemon(s.host, client_sections!(s), base)?;
    Ok(DockerSwarmSd { daemon, source, role, port: s.port, filters: docker_filters(s.filters)?, refresh_ms })
}
