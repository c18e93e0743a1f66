//! A `docker_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`port` 80, `host_networking_host` localhost, `match_first_network` true, 60 s refresh).

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_sections, default_port_80, default_true, optional_duration, with_client_keys, FilterSection};
use crate::scrape::docker_api::config::{docker_filters, resolve_docker_daemon, DockerDaemon};

with_client_keys! {
    /// Prometheus' `docker_sd_config`: the containers of a Docker daemon, with the HTTP client
    /// settings a job has (used for `http://` and `https://` hosts).
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct DockerSdSection {
        host: String,
        #[serde(default = "default_port_80")]
        port: u16,
        filters: Vec<FilterSection>,
        #[serde(default = "docker_sd_default_host_networking_host")]
        host_networking_host: String,
        refresh_interval: Option<String>,
        #[serde(default = "default_true")]
        match_first_network: bool,
    }
}

fn docker_sd_default_host_networking_host() -> String {
    "localhost".into()
}

/// How often a Docker daemon is asked when `refresh_interval` is not given (Prometheus').
const DOCKER_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// One `docker_sd_configs` entry, checked.
pub struct DockerSd {
    pub daemon: DockerDaemon,
    /// This entry's source name among the asked groups: the host and the entry's position.
    pub source: String,
    pub port: u16,
    /// `filters` as the Docker API's JSON (`{"name": ["value", ...]}`), empty for none.
    pub filters: String,
    pub host_networking_host: String,
    pub refresh_ms: i64,
    pub match_first_network: bool,
}

impl std::fmt::Debug for DockerSd {
    /// The host and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerSd").field("host", &self.daemon.host_text).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: DockerSdSection, base: &Path, position: usize) -> Result<DockerSd, String> {
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(DOCKER_SD_REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let source = format!("docker {} #{position}", s.host);
    let daemon = resolve_docker_daemon(s.host, client_sections!(s), base)?;
    Ok(DockerSd {
        daemon,
        source,
        port: s.port,
        filters: docker_filters(s.filters)?,
        host_networking_host: s.host_networking_host,
        refresh_ms,
        match_first_network: s.match_first_network,
    })
}
