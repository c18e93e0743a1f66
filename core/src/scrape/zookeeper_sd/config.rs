//! A `serverset_sd_configs` or `nerve_sd_configs` entry as written and as checked:
//! Prometheus' keys (`servers`, `paths`, `timeout`, 10 s by default) and its refusals. No
//! HTTP client keys: ZooKeeper is spoken over plain TCP.

use std::path::Path;

use serde::Deserialize;

use super::member::Kind;
use crate::scrape::config::optional_duration;

/// Prometheus' default session timeout (`DefaultServersetSDConfig`, `DefaultNerveSDConfig`).
const TIMEOUT_DEFAULT_MS: i64 = 10_000;
/// ZooKeeper's client port, added to a server written without one (as go-zookeeper does).
const PORT_DEFAULT: u16 = 2181;

/// Prometheus' `ServersetSDConfig` and `NerveSDConfig` (the same keys).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZookeeperSdSection {
    servers: Option<Vec<String>>,
    paths: Option<Vec<String>>,
    timeout: Option<String>,
}

/// One entry, checked.
#[derive(Debug)]
pub struct ZookeeperSd {
    /// This entry's source name among the asked groups: its kind, position, servers and paths.
    pub source: String,
    pub kind: Kind,
    /// `host:port` each.
    pub servers: Vec<String>,
    /// Each begins with `/`; every node under it (itself included) is read.
    pub paths: Vec<String>,
    /// The session timeout asked for.
    pub timeout_ms: i64,
}

/// Checks entry `position` of a job's `serverset_sd_configs`.
pub fn resolve_serverset(s: ZookeeperSdSection, base: &Path, position: usize) -> Result<ZookeeperSd, String> {
    resolve(Kind::Serverset, s, base, position)
}

/// Checks entry `position` of a job's `nerve_sd_configs`.
pub fn resolve_nerve(s: ZookeeperSdSection, base: &Path, position: usize) -> Result<ZookeeperSd, String> {
    resolve(Kind::Nerve, s, base, position)
}

fn resolve(kind: Kind, s: ZookeeperSdSection, _base: &Path, position: usize) -> Result<ZookeeperSd, String> {
    let name = kind.name();
    let servers = s.servers.unwrap_or_default();
    if servers.is_empty() {
        return Err(format!("{name} SD config must contain at least one Zookeeper server"));
    }
    let paths = s.paths.unwrap_or_default();
    if paths.is_empty() {
        return Err(format!("{name} SD config must contain at least one path"));
    }
    if let Some(path) = paths.iter().find(|p| !p.starts_with('/')) {
        return Err(format!("{name} SD config paths must begin with '/': {path}"));
    }
    let timeout_ms = optional_duration(s.timeout.as_deref(), "timeout")?.unwrap_or(TIMEOUT_DEFAULT_MS);
    // The handshake carries the timeout in ms as a 32-bit int.
    if timeout_ms > i64::from(i32::MAX) {
        return Err(format!("timeout {timeout_ms}ms does not fit ZooKeeper's 32-bit milliseconds"));
    }
    let servers: Vec<String> = servers.into_iter().map(|s| if s.contains(':') { s } else { format!("{s}:{PORT_DEFAULT}") }).collect();
    Ok(ZookeeperSd { source: format!("{name} #{position} {} {}", servers.join(","), paths.join(",")), kind, servers, paths, timeout_ms })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;

    fn load(key: &str, entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: z, {key}: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_default_timeout_and_zookeepers_default_port() {
        let config = load("serverset_sd_configs", "{servers: ['zk1:2181', zk2], paths: [/aurora/web, /aurora/db]}, {servers: ['[::1]:2182'], paths: [/], timeout: 2s}").expect("valid");
        let sds = &config.jobs[0].serverset_sd;
        assert_eq!(sds[0].servers, ["zk1:2181", "zk2:2181"]);
        assert_eq!(sds[0].paths, ["/aurora/web", "/aurora/db"]);
        assert_eq!((sds[0].timeout_ms, sds[1].timeout_ms), (10_000, 2_000));
        assert_eq!(sds[1].servers, ["[::1]:2182"]);
        assert_ne!(sds[0].source, sds[1].source);
        let nerve = load("nerve_sd_configs", "{servers: ['zk1:2181'], paths: [/nerve/services/web/services]}").expect("valid");
        assert_eq!(nerve.jobs[0].nerve_sd[0].kind, super::Kind::Nerve);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("serverset_sd_configs:") && yaml.contains("/aurora/db"), "{yaml}");
    }

    #[test]
    fn bad_entries_are_refused_in_prometheus_words() {
        for (key, entry, expected) in [
            ("serverset_sd_configs", "{paths: [/a]}", "serverset_sd_configs[0]: serverset SD config must contain at least one Zookeeper server"),
            ("serverset_sd_configs", "{servers: [zk], paths: []}", "serverset SD config must contain at least one path"),
            ("serverset_sd_configs", "{servers: [zk], paths: [/a, b]}", "serverset SD config paths must begin with '/': b"),
            ("nerve_sd_configs", "{servers: []}", "nerve_sd_configs[0]: nerve SD config must contain at least one Zookeeper server"),
            ("nerve_sd_configs", "{servers: [zk]}", "nerve SD config must contain at least one path"),
            ("nerve_sd_configs", "{servers: [zk], paths: [a]}", "nerve SD config paths must begin with '/': a"),
            ("nerve_sd_configs", "{servers: [zk], paths: [/a], timeout: soon}", "timeout"),
            ("nerve_sd_configs", "{servers: [zk], paths: [/a], timeout: 30d}", "32-bit"),
            ("serverset_sd_configs", "{servers: [zk], paths: [/a], tls_config: {}}", "unknown field"),
            ("serverset_sd_configs", "{servers: [zk], paths: [/a], refresh_interval: 1m}", "unknown field"),
        ] {
            let error = load(key, entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }
}
