//! A `triton_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`role` container or cn, `account`, `dns_suffix` and `endpoint` required, `groups`,
//! `port` 9163, `refresh_interval` 60 s, `version` 1) and its `tls_config`, the only HTTP
//! client setting Prometheus' Triton discovery takes.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, optional_duration, ClientAccess, ClientSections, TlsSection};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 9163;
const VERSION_DEFAULT: i64 = 1;

/// Prometheus' `triton_sd_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TritonSdSection {
    account: Option<String>,
    role: Option<String>,
    dns_suffix: Option<String>,
    endpoint: Option<String>,
    groups: Vec<String>,
    port: Option<i64>,
    refresh_interval: Option<String>,
    tls_config: Option<TlsSection>,
    version: Option<i64>,
}

/// What an entry lists, as Prometheus' `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Containers (`/v<version>/discover`).
    Container,
    /// Compute nodes (`/v<version>/gz/discover`).
    ComputeNode,
}

/// One `triton_sd_configs` entry, checked.
pub struct TritonSd {
    /// This entry's source name among the asked groups: the discovery URL and the entry's position.
    pub source: String,
    pub role: Role,
    /// The discovery endpoint's host (it is asked at `port`, as Prometheus asks it).
    pub endpoint: String,
    /// The path and query asked: `/v<version>/discover` or `/v<version>/gz/discover`, with
    /// `?groups=` when groups are given.
    pub path_and_query: String,
    pub dns_suffix: String,
    /// The discovery endpoint's port and every target's.
    pub port: u16,
    pub refresh_ms: i64,
    /// The TLS settings of its requests (always https).
    pub access: ClientAccess,
}

impl std::fmt::Debug for TritonSd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TritonSd").field("role", &self.role).field("endpoint", &self.endpoint).field("path_and_query", &self.path_and_query).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `triton_sd_configs` (relative files from `base`), with
/// Prometheus' messages.
pub fn resolve(s: TritonSdSection, base: &Path, position: usize) -> Result<TritonSd, String> {
    let role = match s.role.as_deref() {
        None | Some("container") => Role::Container,
        Some("cn") => Role::ComputeNode,
        Some(_) => return Err("triton SD configuration requires role to be 'container' or 'cn'".into()),
    };
    if s.account.unwrap_or_default().is_empty() {
        return Err("triton SD configuration requires an account".into());
    }
    let dns_suffix = s.dns_suffix.unwrap_or_default();
    if dns_suffix.is_empty() {
        return Err("triton SD configuration requires a dns_suffix".into());
    }
    let endpoint = s.endpoint.unwrap_or_default();
    if endpoint.is_empty() {
        return Err("triton SD configuration requires an endpoint".into());
    }
    if endpoint.contains(|c: char| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace() || c.is_control()) {
        return Err(format!("endpoint {endpoint:?} must be a host name or address (it is asked as https://<endpoint>:<port>/...)"));
    }
    // A zero or negative interval is refused here (Prometheus: "requires RefreshInterval to
    // be a positive integer").
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let port = s.port.unwrap_or(PORT_DEFAULT);
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let version = s.version.unwrap_or(VERSION_DEFAULT);
    let path = match role {
        Role::Container => format!("/v{version}/discover"),
        Role::ComputeNode => format!("/v{version}/gz/discover"),
    };
    let path_and_query = if s.groups.is_empty() { path } else { format!("{path}?groups={}", crate::scrape::discovery::query_escape(&s.groups.join(","))) };
    let access = client_access(ClientSections { tls_config: s.tls_config, ..ClientSections::default() }, true, base)?;
    Ok(TritonSd { source: format!("triton {endpoint}:{port}{path_and_query} #{position}"), role, endpoint, path_and_query, dns_suffix, port, refresh_ms, access })
}

#[cfg(test)]
mod tests {
    use super::Role;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: t, triton_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load("{account: a, dns_suffix: triton.example.com, endpoint: cmon.example.com}, {account: a, role: cn, dns_suffix: d, endpoint: 127.0.0.1, port: 443, version: 2, groups: [foo, 'b r'], refresh_interval: 1s, tls_config: {insecure_skip_verify: true}}").expect("valid");
        let sds = &config.jobs[0].triton_sd;
        assert_eq!((sds[0].role, sds[0].port, sds[0].refresh_ms, sds[0].path_and_query.as_str()), (Role::Container, 9163, 60_000, "/v1/discover"));
        assert_eq!((sds[1].role, sds[1].port, sds[1].refresh_ms, sds[1].path_and_query.as_str()), (Role::ComputeNode, 443, 1_000, "/v2/gz/discover?groups=foo%2Cb+r"));
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn bad_entries_are_refused_with_prometheus_messages() {
        for (entry, expected) in [
            ("{role: vm, account: a, dns_suffix: d, endpoint: e}", "triton_sd_configs[0]: triton SD configuration requires role to be 'container' or 'cn'"),
            ("{dns_suffix: d, endpoint: e}", "triton SD configuration requires an account"),
            ("{account: a, endpoint: e}", "triton SD configuration requires a dns_suffix"),
            ("{account: a, dns_suffix: d}", "triton SD configuration requires an endpoint"),
            ("{account: a, dns_suffix: d, endpoint: e, refresh_interval: 0s}", "refresh_interval: \"0s\" is not a positive duration"),
            ("{account: a, dns_suffix: d, endpoint: 'https://e/'}", "must be a host name or address"),
            ("{account: a, dns_suffix: d, endpoint: e, bearer_token: t}", "unknown field"),
            ("{account: a, dns_suffix: d, endpoint: e, tls_config: {cert_file: c}}", "must be set together"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }
}
