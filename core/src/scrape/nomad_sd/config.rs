//! A `nomad_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`server` http://localhost:4646, `namespace` default, `region` global, `tag_separator`
//! `,`, `allow_stale` true, `refresh_interval` 60 s) and the HTTP client settings a job has.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const SERVER_DEFAULT: &str = "http://localhost:4646";
const NAMESPACE_DEFAULT: &str = "default";
const REGION_DEFAULT: &str = "global";
const TAG_SEPARATOR_DEFAULT: &str = ",";
const REFRESH_DEFAULT_MS: i64 = 60_000;

with_client_keys! {
    /// Prometheus' `nomad_sd_config`: a Nomad server's service registrations, with the HTTP
    /// client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct NomadSdSection {
        server: Option<String>,
        /// Written but empty: no `namespace` (or `region`) parameter is sent, as Nomad's client
        /// leaves it out.
        namespace: Option<String>,
        region: Option<String>,
        tag_separator: Option<String>,
        allow_stale: Option<bool>,
        refresh_interval: Option<String>,
    }
}

/// One `nomad_sd_configs` entry, checked.
pub struct NomadSd {
    /// As written (or the default), for messages.
    pub server: String,
    /// This entry's source name among the asked groups: the server, the entry's position
    /// and a hash of the settings that change the answer.
    pub source: String,
    /// The server's origin: requests go to `/v1/...` there, whatever path `server` has, as
    /// Nomad's client builds its URLs from the address' scheme and host alone.
    pub location: Url,
    pub namespace: String,
    pub region: String,
    pub tag_separator: String,
    pub allow_stale: bool,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for NomadSd {
    /// The server and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NomadSd").field("server", &self.server).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `nomad_sd_configs` (relative files from `base`).
pub fn resolve(s: NomadSdSection, base: &Path, position: usize) -> Result<NomadSd, String> {
    let server = s.server.unwrap_or_else(|| SERVER_DEFAULT.to_string());
    // Prometheus' check and words.
    if server.trim().is_empty() {
        return Err("nomad SD configuration requires a server address".into());
    }
    // Prometheus takes some addresses that no request can use (`host:4646` reads as a URL
    // of scheme `host`); here an address that is not http(s) is refused at once.
    let parsed = Url::parse(&server).map_err(|e| format!("server: {e}"))?;
    let location = Url { path_and_query: "/".to_string(), ..parsed };
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    let access = client_access(sections, location.scheme == Scheme::Https, base)?;
    let namespace = s.namespace.unwrap_or_else(|| NAMESPACE_DEFAULT.to_string());
    let region = s.region.unwrap_or_else(|| REGION_DEFAULT.to_string());
    let tag_separator = s.tag_separator.unwrap_or_else(|| TAG_SEPARATOR_DEFAULT.to_string());
    let allow_stale = s.allow_stale.unwrap_or(true);
    // The position keeps apart two entries on one server that differ only in credentials.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(&namespace, &region, &tag_separator, allow_stale), &mut hasher);
    let source = format!("nomad {server} #{position} {:016x}", std::hash::Hasher::finish(&hasher));
    Ok(NomadSd {
        server,
        source,
        location,
        namespace,
        region,
        tag_separator,
        allow_stale,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, Scheme, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: n, nomad_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_empty_entry_takes_prometheus_defaults() {
        let config = load("{}").expect("valid");
        let sd = &config.jobs[0].nomad_sd[0];
        assert_eq!(sd.server, "http://localhost:4646");
        assert_eq!((sd.location.scheme, sd.location.host.as_str(), sd.location.port, sd.location.path_and_query.as_str()), (Scheme::Http, "localhost", 4646, "/"));
        assert_eq!((sd.namespace.as_str(), sd.region.as_str(), sd.tag_separator.as_str()), ("default", "global", ","));
        assert!(sd.allow_stale && sd.access.follow_redirects);
        assert_eq!(sd.refresh_ms, 60_000);
        assert!(matches!(sd.access.credentials, Credentials::None));
    }

    #[test]
    fn written_settings_are_taken() {
        let config = load("{server: 'https://nomad.example:4747/ui/', namespace: '', region: eu, tag_separator: ';', allow_stale: false, refresh_interval: 15s, follow_redirects: false, basic_auth: {username: u, password: p}}, {server: 'https://nomad.example:4747'}").expect("valid");
        let sds = &config.jobs[0].nomad_sd;
        let sd = &sds[0];
        assert_eq!((sd.location.scheme, sd.location.host.as_str(), sd.location.port, sd.location.path_and_query.as_str()), (Scheme::Https, "nomad.example", 4747, "/"), "the path is not used, as in Nomad's client");
        assert_eq!((sd.namespace.as_str(), sd.region.as_str(), sd.tag_separator.as_str(), sd.allow_stale, sd.refresh_ms, sd.access.follow_redirects), ("", "eu", ";", false, 15_000, false));
        assert!(matches!(sd.access.credentials, Credentials::Basic { .. }));
        assert_ne!(sds[0].source, sds[1].source, "two entries on one server keep their targets apart");
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{server: ''}", "nomad_sd_configs[0]: nomad SD configuration requires a server address"),
            ("{server: '  '}", "requires a server address"),
            ("{server: '172.30.29.23:4646'}", "nomad_sd_configs[0]: server: URL \"172.30.29.23:4646\" must start with http:// or https://"),
            ("{server: 'ftp://nomad:4646'}", "must start with http:// or https://"),
            ("{server: 'http://'}", "has no host"),
            ("{server: 'http://user:pw@nomad:4646'}", "user information is not supported"),
            ("{refresh_interval: soon}", "refresh_interval"),
            ("{datacenter: dc1}", "unknown field"),
            ("{bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
            ("{authorization: {type: Basic, credentials: x}}", "authorization.type Basic is not allowed"),
            ("{proxy_connect_header: {X: [y]}}", "proxy_url or proxy_from_environment"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_entry_secrets() {
        let config = load("{server: 'http://n:4646', basic_auth: {username: u, password: nomadpass}, http_headers: {X-Nomad-Token: {secrets: [nomadtoken]}}}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("nomad_sd_configs:") && yaml.contains("server: http://n:4646"), "{yaml}");
        assert!(!yaml.contains("nomadpass") && !yaml.contains("nomadtoken"), "{yaml}");
        assert!(yaml.contains("password: <secret>"), "{yaml}");
    }
}
