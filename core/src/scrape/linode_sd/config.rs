//! A `linode_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`port` 80, `tag_separator` ",", no `region` filter, `refresh_interval` 60 s) and the HTTP
//! client settings a job has, whose `authorization` (or `bearer_token`) carries the API token.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
const TAG_SEPARATOR_DEFAULT: &str = ",";

with_client_keys! {
    /// Prometheus' `linode_sd_config`: a Linode account's instances, with the HTTP client
    /// settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct LinodeSdSection {
        port: Option<i64>,
        tag_separator: Option<String>,
        region: Option<String>,
        refresh_interval: Option<String>,
    }
}

/// One `linode_sd_configs` entry, checked.
pub struct LinodeSd {
    /// This entry's source name among the asked groups: the entry's position and port.
    pub source: String,
    /// Every target's port (the instance's public IPv4 is its host).
    pub port: u16,
    /// Joins (and ends) the tag, extra address and IPv6 range lists in labels.
    pub tag_separator: String,
    /// Only instances (and addresses, ranges) of this region when not empty.
    pub region: String,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for LinodeSd {
    /// The port, filter and schedule (the token stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinodeSd").field("port", &self.port).field("tag_separator", &self.tag_separator).field("region", &self.region).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `linode_sd_configs` (relative files from `base`).
pub fn resolve(s: LinodeSdSection, base: &Path, position: usize) -> Result<LinodeSd, String> {
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus writes any int (a negative one as a huge unsigned number); here a port no
    // target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let tag_separator = s.tag_separator.clone().unwrap_or_else(|| TAG_SEPARATOR_DEFAULT.to_string());
    let region = s.region.clone().unwrap_or_default();
    let _ = s.enable_http2;
    // The API is https.
    let access = client_access(client_sections!(s), true, base)?;
    Ok(LinodeSd {
        // The position keeps apart two entries that differ only in their token or region.
        source: format!("linode #{position} port {port}"),
        port,
        tag_separator,
        region,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: l, linode_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_its_token() {
        let config = load("{authorization: {credentials: ltoken}}, {port: 9100, tag_separator: '|', region: us-east, refresh_interval: 2m, bearer_token: t2, follow_redirects: false}").expect("valid");
        let sds = &config.jobs[0].linode_sd;
        assert_eq!((sds[0].port, sds[0].tag_separator.as_str(), sds[0].region.as_str(), sds[0].refresh_ms, sds[0].access.follow_redirects), (80, ",", "", 60_000, true));
        assert!(matches!(&sds[0].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[0]);
        assert_eq!((sds[1].port, sds[1].tag_separator.as_str(), sds[1].region.as_str(), sds[1].refresh_ms, sds[1].access.follow_redirects), (9100, "|", "us-east", 120_000, false));
        assert!(matches!(&sds[1].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[1]);
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
        // An empty separator is taken as written, as Prometheus takes it.
        let empty = load("{tag_separator: ''}").expect("valid");
        assert_eq!(empty.jobs[0].linode_sd[0].tag_separator, "");
        assert!(matches!(empty.jobs[0].linode_sd[0].access.credentials, Credentials::None));
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{port: -1}", "linode_sd_configs[0]: port -1 is not between 0 and 65535"),
            ("{port: 70000}", "not between 0 and 65535"),
            ("{refresh_interval: soon}", "refresh_interval"),
            ("{role: instances}", "unknown field"),
            ("{bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
            ("{bearer_token: a, authorization: {credentials: b}}", "at most one"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_and_debug_mask_the_token() {
        let config = load("{authorization: {credentials: ltoken1}}, {bearer_token: ltoken2, port: 9100}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("linode_sd_configs:") && yaml.contains("port: 9100"), "{yaml}");
        assert!(!yaml.contains("ltoken1") && !yaml.contains("ltoken2"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
        let debug = format!("{:?}", config.jobs[0].linode_sd);
        assert!(!debug.contains("ltoken"), "{debug}");
    }
}
