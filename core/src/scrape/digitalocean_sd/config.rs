//! A `digitalocean_sd_configs` entry as written and as checked: Prometheus' keys and
//! defaults (`role` droplets or databases, `port` 80, `refresh_interval` 60 s) and the HTTP
//! client settings a job has, whose `authorization` (or `bearer_token`) carries the API token.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;

/// What an entry lists, as Prometheus' `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Droplets (virtual machines): `GET /v2/droplets`.
    Droplets,
    /// Managed database clusters: `GET /v2/databases`.
    Databases,
}

impl Role {
    /// Prometheus' name of the role.
    pub fn name(self) -> &'static str {
        match self {
            Role::Droplets => "droplets",
            Role::Databases => "databases",
        }
    }
}

with_client_keys! {
    /// Prometheus' `digitalocean_sd_config`: a DigitalOcean account's droplets, with the HTTP
    /// client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct DigitalOceanSdSection {
        role: Option<String>,
        port: Option<i64>,
        refresh_interval: Option<String>,
    }
}

/// One `digitalocean_sd_configs` entry, checked.
pub struct DigitalOceanSd {
    /// This entry's source name among the asked groups: the entry's position, role and port.
    pub source: String,
    pub role: Role,
    /// Every target's port (a droplet's public IPv4 or a cluster's host is its host).
    pub port: u16,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for DigitalOceanSd {
    /// The port and schedule (the token stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigitalOceanSd").field("role", &self.role).field("port", &self.port).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `digitalocean_sd_configs` (relative files from `base`).
pub fn resolve(s: DigitalOceanSdSection, base: &Path, position: usize) -> Result<DigitalOceanSd, String> {
    let role = match s.role.as_deref() {
        None | Some("droplets") => Role::Droplets,
        Some("databases") => Role::Databases,
        // Prometheus' words for an empty one and an unknown one.
        Some("") => return Err("role missing (one of: droplets, databases)".into()),
        Some(other) => return Err(format!("unknown DigitalOcean SD role {other:?}")),
    };
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus writes any int (a negative one as a huge unsigned number); here a port no
    // target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    // The API is https.
    let access = client_access(sections, true, base)?;
    Ok(DigitalOceanSd {
        // The position keeps apart two entries that differ only in their token.
        source: format!("digitalocean #{position} {} port {port}", role.name()),
        role,
        port,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: d, digitalocean_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_its_token() {
        let config = load("{authorization: {credentials: dotoken}}, {role: droplets, port: 9100, refresh_interval: 2m, bearer_token: t2, follow_redirects: false}").expect("valid");
        let sds = &config.jobs[0].digitalocean_sd;
        assert_eq!((sds[0].port, sds[0].refresh_ms, sds[0].access.follow_redirects), (80, 60_000, true));
        assert!(matches!(&sds[0].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[0]);
        assert_eq!((sds[1].port, sds[1].refresh_ms, sds[1].access.follow_redirects), (9100, 120_000, false));
        assert!(matches!(&sds[1].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[1]);
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
        assert_eq!((sds[0].role, sds[1].role), (super::Role::Droplets, super::Role::Droplets));
        let databases = load("{role: databases, port: 9273}").expect("valid");
        assert_eq!(databases.jobs[0].digitalocean_sd[0].role, super::Role::Databases);
        let none = load("{}").expect("valid");
        assert!(matches!(none.jobs[0].digitalocean_sd[0].access.credentials, Credentials::None));
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{role: ''}", "digitalocean_sd_configs[0]: role missing (one of: droplets, databases)"),
            ("{role: apps}", "unknown DigitalOcean SD role \"apps\""),
            ("{port: -1}", "port -1 is not between 0 and 65535"),
            ("{port: 70000}", "not between 0 and 65535"),
            ("{refresh_interval: soon}", "refresh_interval"),
            ("{server: x}", "unknown field"),
            ("{bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
            ("{bearer_token: a, authorization: {credentials: b}}", "at most one"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_token() {
        let config = load("{authorization: {credentials: dotoken1}}, {bearer_token: dotoken2, port: 9100}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("digitalocean_sd_configs:") && yaml.contains("port: 9100"), "{yaml}");
        assert!(!yaml.contains("dotoken1") && !yaml.contains("dotoken2"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
    }
}
