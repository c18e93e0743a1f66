//! A `eureka_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`server` required, `refresh_interval` 30 s) and the HTTP client settings a job has.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

/// Prometheus' default refresh interval.
const REFRESH_DEFAULT_MS: i64 = 30_000;

with_client_keys! {
    /// Prometheus' `eureka_sd_config`: a Eureka server's registered applications, with the HTTP
    /// client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct EurekaSdSection {
        server: Option<String>,
        refresh_interval: Option<String>,
    }
}

/// One `eureka_sd_configs` entry, checked.
pub struct EurekaSd {
    /// As written, for messages.
    pub server: String,
    /// This entry's source name among the asked groups: the server and the entry's position.
    pub source: String,
    /// `<server>/apps`, as Prometheus appends the path to the server as written.
    pub apps: Url,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for EurekaSd {
    /// The server and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EurekaSd").field("server", &self.server).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `eureka_sd_configs` (relative files from `base`), with
/// Prometheus' messages.
pub fn resolve(s: EurekaSdSection, base: &Path, position: usize) -> Result<EurekaSd, String> {
    let server = s.server.unwrap_or_default();
    if server.is_empty() {
        return Err("eureka_sd: empty or null eureka server".into());
    }
    // A URL without a scheme or host is Prometheus' error; here any scheme but http(s) is
    // one too (no request could be made with it).
    let apps = Url::parse(&format!("{server}/apps")).map_err(|e| format!("eureka_sd: invalid eureka server URL: {e}"))?;
    if server.contains(['?', '#']) {
        return Err("eureka_sd: invalid eureka server URL: a query or fragment would swallow the /apps path".into());
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    let access = client_access(sections, apps.scheme == Scheme::Https, base)?;
    Ok(EurekaSd {
        source: format!("eureka {server} #{position}"),
        server,
        apps,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, Scheme, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: e, eureka_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_asks_apps_under_the_server() {
        let config = load("{server: 'http://eureka:8761/eureka'}, {server: 'https://eureka.example', refresh_interval: 5s, follow_redirects: false, basic_auth: {username: u, password: p}}").expect("valid");
        let sds = &config.jobs[0].eureka_sd;
        let sd = &sds[0];
        assert_eq!((sd.apps.scheme, sd.apps.host.as_str(), sd.apps.port, sd.apps.path_and_query.as_str()), (Scheme::Http, "eureka", 8761, "/eureka/apps"));
        assert_eq!((sd.refresh_ms, sd.access.follow_redirects), (30_000, true));
        assert!(matches!(sd.access.credentials, Credentials::None));
        let sd = &sds[1];
        assert_eq!((sd.apps.scheme, sd.apps.host.as_str(), sd.apps.port, sd.apps.path_and_query.as_str()), (Scheme::Https, "eureka.example", 443, "/apps"));
        assert_eq!((sd.refresh_ms, sd.access.follow_redirects), (5_000, false));
        assert!(matches!(sd.access.credentials, Credentials::Basic { .. }));
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{}", "eureka_sd_configs[0]: eureka_sd: empty or null eureka server"),
            ("{server: ''}", "eureka_sd: empty or null eureka server"),
            ("{server: 'eureka:8761'}", "eureka_sd: invalid eureka server URL"),
            ("{server: 'http://'}", "eureka_sd: invalid eureka server URL"),
            ("{server: 'http://e:8761/?x=1'}", "eureka_sd: invalid eureka server URL"),
            ("{server: 'http://e', refresh_interval: 0s}", "refresh_interval"),
            ("{server: 'http://e', namespace: x}", "unknown field"),
            ("{server: 'http://e', bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_entry_secrets() {
        let config = load("{server: 'http://e:8761/eureka', basic_auth: {username: u, password: eurekapass}}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("eureka_sd_configs:") && yaml.contains("server: http://e:8761/eureka"), "{yaml}");
        assert!(!yaml.contains("eurekapass") && yaml.contains("password: <secret>"), "{yaml}");
    }
}
