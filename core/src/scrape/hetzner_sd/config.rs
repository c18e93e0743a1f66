//! A `hetzner_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`role` hcloud or robot, required; `port` 80; `refresh_interval` 60 s; `label_selector`,
//! which only the hcloud role sends) and the HTTP client settings a job has, whose
//! `authorization` (or `bearer_token`) carries the Cloud API token and whose `basic_auth`
//! the Robot webservice user.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;

with_client_keys! {
    /// Prometheus' `hetzner_sd_config`: the servers of a Hetzner Cloud project (role
    /// hcloud) or of a Robot account (role robot), with the HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct HetznerSdSection {
        role: Option<String>,
        port: Option<i64>,
        refresh_interval: Option<String>,
        label_selector: Option<String>,
    }
}

/// Which of Hetzner's APIs an entry lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The Cloud API's servers (and networks, for their private addresses).
    Hcloud,
    /// The Robot webservice's dedicated servers.
    Robot,
}

impl Role {
    /// The role's name, as written and as the `__meta_hetzner_role` label says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Hcloud => "hcloud",
            Role::Robot => "robot",
        }
    }
}

/// One `hetzner_sd_configs` entry, checked.
pub struct HetznerSd {
    /// This entry's source name among the asked groups: the entry's position, role and port.
    pub source: String,
    pub role: Role,
    /// Every target's port (the server's public IPv4 is its host).
    pub port: u16,
    pub refresh_ms: i64,
    /// The Cloud API's label selector for the servers listed ("" for all); the robot role
    /// has none and ignores it, as Prometheus does.
    pub label_selector: String,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for HetznerSd {
    /// The role, port, selector and schedule (the token and password stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HetznerSd").field("role", &self.role).field("port", &self.port).field("label_selector", &self.label_selector).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `hetzner_sd_configs` (relative files from `base`).
pub fn resolve(s: HetznerSdSection, base: &Path, position: usize) -> Result<HetznerSd, String> {
    // Prometheus' words for a missing role and for any other (an empty one included).
    let role = match s.role.as_deref() {
        None => return Err("role missing (one of: robot, hcloud)".into()),
        Some("hcloud") => Role::Hcloud,
        Some("robot") => Role::Robot,
        Some(other) => return Err(format!("unknown role {other:?}")),
    };
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus writes any int (a negative one as a huge unsigned number); here a port no
    // target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let label_selector = s.label_selector.clone().unwrap_or_default();
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    // Both APIs are https.
    let access = client_access(sections, true, base)?;
    Ok(HetznerSd {
        // The position keeps apart two entries that differ only in their credentials.
        source: format!("hetzner #{position} {} port {port}", role.as_str()),
        role,
        port,
        refresh_ms,
        label_selector,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::Role;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: h, hetzner_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_its_credentials() {
        let config = load(
            "{role: hcloud, authorization: {credentials: htoken}}, {role: robot, port: 9100, refresh_interval: 2m, basic_auth: {username: u, password: p}, follow_redirects: false}, {role: hcloud, bearer_token: t2, label_selector: 'env=prod'}",
        )
        .expect("valid");
        let sds = &config.jobs[0].hetzner_sd;
        assert_eq!((sds[0].role, sds[0].port, sds[0].refresh_ms, sds[0].access.follow_redirects, sds[0].label_selector.as_str()), (Role::Hcloud, 80, 60_000, true, ""));
        assert!(matches!(&sds[0].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[0]);
        assert_eq!((sds[1].role, sds[1].port, sds[1].refresh_ms, sds[1].access.follow_redirects), (Role::Robot, 9100, 120_000, false));
        assert!(matches!(&sds[1].access.credentials, Credentials::Basic { username, .. } if username == "u"), "{:?}", sds[1]);
        assert!(matches!(&sds[2].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[2]);
        assert_eq!(sds[2].label_selector, "env=prod");
        assert_ne!(sds[0].source, sds[2].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 3);
        let debug = format!("{:?}", sds);
        assert!(!debug.contains("htoken") && !debug.contains("t2") && !debug.contains("password: p"), "{debug}");
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{}", "hetzner_sd_configs[0]: role missing (one of: robot, hcloud)"),
            ("{role: ''}", "unknown role \"\""),
            ("{role: cloud}", "unknown role \"cloud\""),
            ("{role: hcloud, port: -1}", "port -1 is not between 0 and 65535"),
            ("{role: robot, port: 70000}", "not between 0 and 65535"),
            ("{role: hcloud, refresh_interval: soon}", "refresh_interval"),
            ("{role: hcloud, server: x}", "unknown field"),
            ("{role: hcloud, bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
            ("{role: robot, basic_auth: {username: u, password: p}, authorization: {credentials: b}}", "at most one"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_token_and_the_password() {
        let config = load("{role: hcloud, authorization: {credentials: htoken1}}, {role: robot, basic_auth: {username: robo, password: rpass2}, port: 9100}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("hetzner_sd_configs:") && yaml.contains("port: 9100") && yaml.contains("username: robo"), "{yaml}");
        assert!(!yaml.contains("htoken1") && !yaml.contains("rpass2"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
    }
}
