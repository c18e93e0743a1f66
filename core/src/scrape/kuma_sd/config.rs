//! A `kuma_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`server` required, `client_id` this host's name, `refresh_interval` 15 s, `fetch_timeout`
//! 2 m), the MADS endpoint `<server path>/v3/discovery:monitoringassignments?fetch-timeout=<d>`
//! as Prometheus builds it, and the HTTP client settings a job has.

use std::path::Path;

use serde::Deserialize;

use crate::api::params::parse_prometheus_duration_ms;
use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

/// Prometheus' defaults (its `DefaultKumaSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 15_000;
const FETCH_TIMEOUT_DEFAULT_MS: i64 = 120_000;
/// What a request may take beyond the fetch timeout the server is told (Prometheus' margin
/// for connecting and sending).
const FETCH_MARGIN_MS: i64 = 15_000;
/// The client id when none is written and this host's name cannot be read (Prometheus').
const CLIENT_ID_FALLBACK: &str = "prometheus";
/// The MADS resource endpoint under the server's path (xDS v3, resource type
/// `monitoringassignments`).
const ENDPOINT_PATH: &str = "v3/discovery:monitoringassignments";

with_client_keys! {
    /// Prometheus' `kuma_sd_config`: the targets a Kuma control plane assigns to this client,
    /// with the HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct KumaSdSection {
        server: Option<String>,
        client_id: Option<String>,
        refresh_interval: Option<String>,
        fetch_timeout: Option<String>,
    }
}

/// One `kuma_sd_configs` entry, checked.
pub struct KumaSd {
    /// The MADS endpoint as Prometheus writes it, for messages.
    pub shown: String,
    /// This entry's source name among the asked groups: the server and the entry's position.
    pub source: String,
    /// Where the discovery requests are POSTed (with the `fetch-timeout` query).
    pub endpoint: Url,
    /// The node id sent to the control plane.
    pub client_id: String,
    pub refresh_ms: i64,
    /// How long the server may hold a request before it answers that nothing changed.
    pub fetch_timeout_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl KumaSd {
    /// The most one request may take: the fetch timeout and Prometheus' margin.
    pub fn request_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis((self.fetch_timeout_ms + FETCH_MARGIN_MS) as u64)
    }
}

impl std::fmt::Debug for KumaSd {
    /// The endpoint, client id and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KumaSd").field("endpoint", &self.shown).field("client_id", &self.client_id).field("refresh_ms", &self.refresh_ms).field("fetch_timeout_ms", &self.fetch_timeout_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `kuma_sd_configs` (relative files from `base`), with
/// Prometheus' messages.
pub fn resolve(s: KumaSdSection, base: &Path, position: usize) -> Result<KumaSd, String> {
    let server = s.server.unwrap_or_default();
    if server.is_empty() {
        return Err("kuma SD server must not be empty: ".into());
    }
    let scheme = url_scheme(&server).ok_or_else(|| format!("kuma SD server must not be empty and have a scheme: {server}"))?;
    // Prometheus refuses these when it starts the discovery; here at once.
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("kuma_sd: invalid xDS server URL protocol. must be either 'http' or 'https'".into());
    }
    let parsed = Url::parse(&server)?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let fetch_timeout_ms = match s.fetch_timeout.as_deref() {
        None => FETCH_TIMEOUT_DEFAULT_MS,
        Some(text) => parse_prometheus_duration_ms(text.trim()).filter(|ms| *ms >= 0).ok_or_else(|| format!("fetch_timeout: {text:?} is not a duration such as 30s or 2m"))?,
    };
    let client_id = s.client_id.filter(|id| !id.is_empty()).unwrap_or_else(host_name);
    let endpoint = Url { path_and_query: endpoint_path(&parsed.path_and_query, fetch_timeout_ms), ..parsed };
    let shown = crate::scrape::http_get::format_url(&endpoint);
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    let access = client_access(sections, endpoint.scheme == Scheme::Https, base)?;
    Ok(KumaSd {
        // The position keeps apart two entries on one server (another client id, say).
        source: format!("kuma {shown} #{position}"),
        shown,
        endpoint,
        client_id,
        refresh_ms,
        fetch_timeout_ms,
        access,
    })
}

/// The scheme of an absolute URL with a host (`scheme://host...`), as Go's URL parser finds
/// them; None for a relative or opaque one (`127.0.0.1`, `kuma:5676`).
fn url_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    let authority = rest.strip_prefix("//")?;
    let host = authority.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    (valid && !host.is_empty()).then_some(scheme)
}

/// The server's path with `v3/discovery:monitoringassignments` joined as Go's `path.Join`
/// joins them (cleaned), and the query replaced by `fetch-timeout` in Prometheus' duration
/// format, as Prometheus builds the endpoint.
fn endpoint_path(path_and_query: &str, fetch_timeout_ms: i64) -> String {
    let path = path_and_query.split('?').next().unwrap_or("");
    format!("{}?fetch-timeout={}", crate::scrape::discovery::join_path(path, ENDPOINT_PATH), crate::scrape::discovery::duration_text(fetch_timeout_ms))
}

/// This host's name (Prometheus uses its FQDN, found from it by DNS, or its name when that
/// fails), or Prometheus' fallback when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|name| name.trim().to_string()).filter(|name| !name.is_empty()).unwrap_or_else(|| CLIENT_ID_FALLBACK.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: k, kuma_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load("{server: 'http://kuma-control-plane.kuma-system.svc:5676'}").expect("valid");
        let sd = &config.jobs[0].kuma_sd[0];
        assert_eq!((sd.endpoint.scheme, sd.endpoint.host.as_str(), sd.endpoint.port), (Scheme::Http, "kuma-control-plane.kuma-system.svc", 5676));
        assert_eq!(sd.endpoint.path_and_query, "/v3/discovery:monitoringassignments?fetch-timeout=2m");
        assert_eq!(sd.shown, "http://kuma-control-plane.kuma-system.svc:5676/v3/discovery:monitoringassignments?fetch-timeout=2m");
        assert_eq!((sd.refresh_ms, sd.fetch_timeout_ms, sd.request_timeout().as_secs()), (15_000, 120_000, 135));
        assert_eq!(sd.client_id, host_name());
        assert!(!sd.client_id.is_empty());
        assert!(matches!(sd.access.credentials, Credentials::None));
        assert!(sd.access.follow_redirects);
    }

    #[test]
    fn written_settings_are_taken() {
        let config = load("{server: 'https://cp:5676/kuma/?x=1', client_id: test-id, refresh_interval: 10s, fetch_timeout: 90s, tls_config: {insecure_skip_verify: true}, bearer_token: t}, {server: 'https://cp:5676/kuma/', fetch_timeout: 0s}").expect("valid");
        let sds = &config.jobs[0].kuma_sd;
        assert_eq!((sds[0].endpoint.scheme, sds[0].endpoint.path_and_query.as_str()), (Scheme::Https, "/kuma/v3/discovery:monitoringassignments?fetch-timeout=1m30s"));
        assert_eq!((sds[0].client_id.as_str(), sds[0].refresh_ms, sds[0].fetch_timeout_ms), ("test-id", 10_000, 90_000));
        assert!(matches!(&sds[0].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"), "{:?}", sds[0]);
        assert_eq!((sds[1].endpoint.path_and_query.as_str(), sds[1].request_timeout().as_secs()), ("/kuma/v3/discovery:monitoringassignments?fetch-timeout=0s", 15));
        assert_ne!(sds[0].source, sds[1].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn the_endpoint_path_is_joined_as_go_joins_it() {
        assert_eq!(endpoint_path("/a//b/./c/../", 1000), "/a/b/v3/discovery:monitoringassignments?fetch-timeout=1s");
        assert_eq!(endpoint_path("/../..", 1000), "/v3/discovery:monitoringassignments?fetch-timeout=1s");
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{}", "kuma_sd_configs[0]: kuma SD server must not be empty: "),
            ("{server: ''}", "kuma SD server must not be empty: "),
            ("{server: '127.0.0.1'}", "kuma SD server must not be empty and have a scheme: 127.0.0.1"),
            ("{server: 'kuma:5676'}", "kuma SD server must not be empty and have a scheme: kuma:5676"),
            ("{server: 'http://'}", "must not be empty and have a scheme"),
            ("{server: 'grpc://127.0.0.1:5676'}", "invalid xDS server URL protocol. must be either 'http' or 'https'"),
            ("{server: 'http://cp', refresh_interval: 0s}", "refresh_interval"),
            ("{server: 'http://cp', fetch_timeout: soon}", "fetch_timeout"),
            ("{server: 'http://cp', role: x}", "unknown field"),
            ("{server: 'http://cp', bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_entry_secrets() {
        let config = load("{server: 'http://cp:5676', basic_auth: {username: u, password: kumapass}}, {server: 'http://cp:5676', authorization: {credentials: kumatoken}}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("kuma_sd_configs:") && yaml.contains("server: http://cp:5676"), "{yaml}");
        assert!(!yaml.contains("kumapass") && !yaml.contains("kumatoken"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
        assert!(!format!("{:?}", config.jobs[0].kuma_sd[1]).contains("kumatoken"));
    }
}
