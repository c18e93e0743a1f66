//! A `uyuni_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`server`, `username` and `password` required, `entitlement` monitoring_entitled,
//! `separator` a comma, `refresh_interval` 1 m) and the HTTP client settings a job has.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const ENTITLEMENT_DEFAULT: &str = "monitoring_entitled";
const SEPARATOR_DEFAULT: &str = ",";
/// Where Uyuni serves its XML-RPC API under the server's URL.
const API_PATH: &str = "/rpc/api";

with_client_keys! {
    /// Prometheus' `uyuni_sd_config`: the monitored systems of an Uyuni (SUSE Manager) server,
    /// with the HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct UyuniSdSection {
        server: Option<String>,
        username: Option<String>,
        password: Option<String>,
        entitlement: Option<String>,
        separator: Option<String>,
        refresh_interval: Option<String>,
    }
}

/// One `uyuni_sd_configs` entry, checked.
pub struct UyuniSd {
    /// This entry's source name among the asked groups: the API URL and the entry's position.
    pub source: String,
    /// `<server>/rpc/api`.
    pub api: Url,
    pub username: String,
    pub password: String,
    pub entitlement: String,
    /// Between a system's group names in `__meta_uyuni_groups`.
    pub separator: String,
    pub refresh_ms: i64,
    /// How its requests are secured and sent (the API's own login authorizes them).
    pub access: ClientAccess,
}

impl std::fmt::Debug for UyuniSd {
    /// The API, user and schedule (the password stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UyuniSd").field("api", &crate::scrape::http_get::format_url(&self.api)).field("username", &self.username).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `uyuni_sd_configs` (relative files from `base`), with
/// Prometheus' messages.
pub fn resolve(s: UyuniSdSection, base: &Path, position: usize) -> Result<UyuniSd, String> {
    let server = s.server.unwrap_or_default();
    if server.is_empty() {
        return Err("Uyuni SD configuration requires server host".into());
    }
    if server.contains(['?', '#']) {
        return Err("Uyuni Server URL is not valid: a query or fragment would swallow the API's path".into());
    }
    // As Go's path.Join: the API path after the server's own, one slash between.
    let server_url = Url::parse(&server).map_err(|e| format!("Uyuni Server URL is not valid: {e}"))?;
    let api = Url { path_and_query: crate::scrape::discovery::join_path(&server_url.path_and_query, API_PATH), ..server_url };
    let username = s.username.unwrap_or_default();
    if username.is_empty() {
        return Err("Uyuni SD configuration requires a username".into());
    }
    let password = s.password.unwrap_or_default();
    if password.is_empty() {
        return Err("Uyuni SD configuration requires a password".into());
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let access = client_access(client_sections!(s), api.scheme == Scheme::Https, base)?;
    Ok(UyuniSd {
        source: format!("uyuni {} #{position}", crate::scrape::http_get::format_url(&api)),
        api,
        username,
        password,
        entitlement: s.entitlement.filter(|e| !e.is_empty()).unwrap_or_else(|| ENTITLEMENT_DEFAULT.to_string()),
        separator: s.separator.filter(|e| !e.is_empty()).unwrap_or_else(|| SEPARATOR_DEFAULT.to_string()),
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::ScrapeConfig;

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: u, uyuni_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load("{server: 'https://uyuni.example.com', username: admin, password: pw}, {server: 'http://127.0.0.1:8080/base/', username: u, password: p, entitlement: e, separator: ';', refresh_interval: 5m}").expect("valid");
        let sds = &config.jobs[0].uyuni_sd;
        assert_eq!((sds[0].api.path_and_query.as_str(), sds[0].entitlement.as_str(), sds[0].separator.as_str(), sds[0].refresh_ms), ("/rpc/api", "monitoring_entitled", ",", 60_000));
        assert_eq!((sds[1].api.path_and_query.as_str(), sds[1].entitlement.as_str(), sds[1].separator.as_str(), sds[1].refresh_ms), ("/base/rpc/api", "e", ";", 300_000));
        assert!(!format!("{:?}", sds[0]).contains("pw"));
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn bad_entries_are_refused_with_prometheus_messages() {
        for (entry, expected) in [
            ("{username: u, password: p}", "uyuni_sd_configs[0]: Uyuni SD configuration requires server host"),
            ("{server: 'https://u', password: p}", "Uyuni SD configuration requires a username"),
            ("{server: 'https://u', username: u}", "Uyuni SD configuration requires a password"),
            ("{server: 'uyuni.example.com', username: u, password: p}", "Uyuni Server URL is not valid"),
            ("{server: 'https://u', username: u, password: p, token: t}", "unknown field"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_password() {
        let config = load("{server: 'https://u', username: admin, password: uyunipass}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("uyuni_sd_configs:") && yaml.contains("username: admin"), "{yaml}");
        assert!(!yaml.contains("uyunipass"), "{yaml}");
    }
}
