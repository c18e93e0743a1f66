//! An `ionos_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`datacenter_id` required, `port` 80, `refresh_interval` 60 s) and the HTTP client
//! settings a job has, whose `basic_auth` or `authorization`/`bearer_token` carries the
//! IONOS Cloud credentials.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;

with_client_keys! {
    /// Prometheus' `ionos_sd_config`: the servers of one IONOS Cloud data center, with the HTTP
    /// client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct IonosSdSection {
        datacenter_id: Option<String>,
        port: Option<i64>,
        refresh_interval: Option<String>,
    }
}

/// One `ionos_sd_configs` entry, checked.
pub struct IonosSd {
    /// This entry's source name among the asked groups: the data center and the entry's position.
    pub source: String,
    pub datacenter_id: String,
    /// Every target's port (a server's first IP address is its host).
    pub port: u16,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for IonosSd {
    /// The data center and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IonosSd").field("datacenter_id", &self.datacenter_id).field("port", &self.port).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `ionos_sd_configs` (relative files from `base`), with
/// Prometheus' messages.
pub fn resolve(s: IonosSdSection, base: &Path, position: usize) -> Result<IonosSd, String> {
    let datacenter_id = s.datacenter_id.unwrap_or_default();
    if datacenter_id.is_empty() {
        return Err("datacenter id can't be empty".into());
    }
    // The ID is a path segment of every request.
    if datacenter_id.contains(|c: char| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control()) {
        return Err(format!("datacenter_id {datacenter_id:?} holds a character that cannot be in a URL path (/, ?, #, %, a space or a control character)"));
    }
    let port = s.port.unwrap_or(PORT_DEFAULT);
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    // The API is https.
    let access = client_access(client_sections!(s), true, base)?;
    Ok(IonosSd { source: format!("ionos {datacenter_id} #{position} port {port}"), datacenter_id, port, refresh_ms, access })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: i, ionos_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_its_credentials() {
        let config = load("{datacenter_id: 8feda53f, basic_auth: {username: u, password: p}}, {datacenter_id: dc2, port: 9100, refresh_interval: 2m, bearer_token: jwt}").expect("valid");
        let sds = &config.jobs[0].ionos_sd;
        assert_eq!((sds[0].datacenter_id.as_str(), sds[0].port, sds[0].refresh_ms), ("8feda53f", 80, 60_000));
        assert!(matches!(&sds[0].access.credentials, Credentials::Basic { username, .. } if username == "u"));
        assert_eq!((sds[1].datacenter_id.as_str(), sds[1].port, sds[1].refresh_ms), ("dc2", 9100, 120_000));
        assert!(matches!(&sds[1].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"));
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{}", "ionos_sd_configs[0]: datacenter id can't be empty"),
            ("{datacenter_id: ''}", "datacenter id can't be empty"),
            ("{datacenter_id: 'a/b'}", "cannot be in a URL path"),
            ("{datacenter_id: d, port: 70000}", "not between 0 and 65535"),
            ("{datacenter_id: d, refresh_interval: soon}", "refresh_interval"),
            ("{datacenter_id: d, region: x}", "unknown field"),
            ("{datacenter_id: d, bearer_token: a, basic_auth: {username: u}}", "at most one"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_credentials() {
        let config = load("{datacenter_id: d, basic_auth: {username: u, password: ionospass}}, {datacenter_id: e, bearer_token: ionosjwt}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("ionos_sd_configs:") && yaml.contains("datacenter_id: d"), "{yaml}");
        assert!(!yaml.contains("ionospass") && !yaml.contains("ionosjwt"), "{yaml}");
    }
}
