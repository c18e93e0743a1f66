//! An `ovhcloud_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`endpoint` ovh-eu, `refresh_interval` 60 s; `application_key`, `application_secret`,
//! `consumer_key` and `service` required) and the endpoint's URL as OVH's Go client maps a
//! name (`ovh-eu`, `ovh-ca`, ...) or takes a URL. Prometheus has no HTTP client keys here.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, optional_duration, ClientAccess, ClientSections, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const ENDPOINT_DEFAULT: &str = "ovh-eu";

/// The endpoint names OVH's Go client knows, and their URLs (its `Endpoints`).
pub const ENDPOINTS: [(&str, &str); 7] = [
    ("ovh-eu", "https://eu.api.ovh.com/1.0"),
    ("ovh-ca", "https://ca.api.ovh.com/1.0"),
    ("ovh-us", "https://api.us.ovhcloud.com/1.0"),
    ("kimsufi-eu", "https://eu.api.kimsufi.com/1.0"),
    ("kimsufi-ca", "https://ca.api.kimsufi.com/1.0"),
    ("soyoustart-eu", "https://eu.api.soyoustart.com/1.0"),
    ("soyoustart-ca", "https://ca.api.soyoustart.com/1.0"),
];

/// What an entry lists, as Prometheus' `service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Virtual private servers: `GET /vps`.
    Vps,
    /// Dedicated servers: `GET /dedicated/server`.
    DedicatedServer,
}

impl Service {
    /// Prometheus' name of the service.
    pub fn name(self) -> &'static str {
        match self {
            Service::Vps => "vps",
            Service::DedicatedServer => "dedicated_server",
        }
    }

    /// The API path that lists the servers' names (each server is a path below it).
    pub fn api_path(self) -> &'static str {
        match self {
            Service::Vps => "/vps",
            Service::DedicatedServer => "/dedicated/server",
        }
    }
}

/// Prometheus' `ovhcloud_sd_config`, as written.
#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OvhcloudSdSection {
    endpoint: Option<String>,
    application_key: Option<String>,
    application_secret: Option<String>,
    consumer_key: Option<String>,
    refresh_interval: Option<String>,
    service: Option<String>,
}

impl std::fmt::Debug for OvhcloudSdSection {
    /// The endpoint and service (the secret and the consumer key stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvhcloudSdSection").field("endpoint", &self.endpoint).field("service", &self.service).finish_non_exhaustive()
    }
}

/// One `ovhcloud_sd_configs` entry, checked.
pub struct OvhcloudSd {
    /// This entry's source name among the asked groups: the entry's position and service.
    pub source: String,
    pub service: Service,
    /// The API's URL as the Go client holds it (no trailing slash): the start of every URL
    /// that is signed.
    pub endpoint: String,
    /// `endpoint` split for requests.
    pub base: Url,
    pub application_key: String,
    pub application_secret: String,
    pub consumer_key: String,
    pub refresh_ms: i64,
    /// How its requests are sent: as Go's default client, through the environment's proxy.
    pub access: ClientAccess,
}

impl std::fmt::Debug for OvhcloudSd {
    /// The endpoint, service and schedule (the secret and the consumer key stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvhcloudSd").field("service", &self.service).field("endpoint", &self.endpoint).field("application_key", &self.application_key).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// The URL of endpoint `name`, as OVH's Go client reads it: a name it knows, or (holding a
/// `/`) a URL. Refused here, at load, where the Go client would fail every refresh.
pub fn endpoint_url(name: &str) -> Result<String, String> {
    if name.ends_with('/') {
        return Err("endpoint name cannot have a trailing slash".into());
    }
    if name.contains('/') {
        return Ok(name.to_string());
    }
    match ENDPOINTS.iter().find(|(known, _)| *known == name) {
        Some((_, url)) => Ok(url.to_string()),
        None => Err(format!("unknown endpoint '{name}', consider checking 'Endpoints' list or using an URL")),
    }
}

/// Checks entry `position` of a job's `ovhcloud_sd_configs`, with Prometheus' messages.
pub fn resolve(s: OvhcloudSdSection, base: &Path, position: usize) -> Result<OvhcloudSd, String> {
    let endpoint_name = s.endpoint.unwrap_or_else(|| ENDPOINT_DEFAULT.to_string());
    if endpoint_name.is_empty() {
        return Err("endpoint can not be empty".into());
    }
    let application_key = s.application_key.unwrap_or_default();
    if application_key.is_empty() {
        return Err("application key can not be empty".into());
    }
    let application_secret = s.application_secret.unwrap_or_default();
    if application_secret.is_empty() {
        return Err("application secret can not be empty".into());
    }
    let consumer_key = s.consumer_key.unwrap_or_default();
    if consumer_key.is_empty() {
        return Err("consumer key can not be empty".into());
    }
    let service = match s.service.as_deref().unwrap_or("") {
        "vps" => Service::Vps,
        "dedicated_server" => Service::DedicatedServer,
        other => return Err(format!("unknown service: {other}")),
    };
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let endpoint = endpoint_url(&endpoint_name)?;
    let parsed = Url::parse(&endpoint).map_err(|e| format!("endpoint: {e}"))?;
    if parsed.path_and_query.contains('?') {
        return Err(format!("endpoint {endpoint:?}: a query cannot come before the API's paths"));
    }
    // Go's default client: the environment's proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY), the
    // system's roots, redirects followed.
    let sections = ClientSections { proxy_from_environment: true, ..ClientSections::default() };
    let access = client_access(sections, parsed.scheme == crate::scrape::config::Scheme::Https, base)?;
    Ok(OvhcloudSd {
        // The position keeps apart two entries that differ only in their keys.
        source: format!("ovhcloud #{position} {} {endpoint}", service.name()),
        service,
        endpoint,
        base: parsed,
        application_key,
        application_secret,
        consumer_key,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Scheme, ScrapeConfig};

    use super::Service;

    const KEYS: &str = "application_key: TDPKJdwZwAQPwKX2, application_secret: 9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk, consumer_key: 5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY";

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: o, ovhcloud_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_the_go_clients_endpoints() {
        let config = load(&format!("{{service: vps, {KEYS}}}, {{service: dedicated_server, endpoint: ovh-us, refresh_interval: 2m, {KEYS}}}, {{service: vps, endpoint: 'http://127.0.0.1:8080/api', {KEYS}}}")).expect("valid");
        let sds = &config.jobs[0].ovhcloud_sd;
        assert_eq!((sds[0].service, sds[0].endpoint.as_str(), sds[0].refresh_ms), (Service::Vps, "https://eu.api.ovh.com/1.0", 60_000));
        assert_eq!((sds[0].base.scheme, sds[0].base.host.as_str(), sds[0].base.port, sds[0].base.path_and_query.as_str()), (Scheme::Https, "eu.api.ovh.com", 443, "/1.0"));
        assert_eq!((sds[1].service, sds[1].endpoint.as_str(), sds[1].refresh_ms), (Service::DedicatedServer, "https://api.us.ovhcloud.com/1.0", 120_000));
        assert_eq!((sds[2].endpoint.as_str(), sds[2].base.port, sds[2].base.path_and_query.as_str()), ("http://127.0.0.1:8080/api", 8080, "/api"));
        assert_eq!(sds[0].application_key, "TDPKJdwZwAQPwKX2");
        assert!(sds[0].access.follow_redirects);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 3);
        for (name, url) in super::ENDPOINTS {
            assert_eq!(super::endpoint_url(name).as_deref(), Ok(url));
        }
    }

    #[test]
    fn bad_entries_are_refused_in_prometheus_and_the_go_clients_words() {
        for (entry, expected) in [
            (format!("{{service: vps, endpoint: '', {KEYS}}}"), "ovhcloud_sd_configs[0]: endpoint can not be empty"),
            ("{service: vps, application_secret: s, consumer_key: c}".to_string(), "application key can not be empty"),
            ("{service: vps, application_key: k, consumer_key: c}".to_string(), "application secret can not be empty"),
            ("{service: vps, application_key: k, application_secret: s}".to_string(), "consumer key can not be empty"),
            (format!("{{{KEYS}}}"), "unknown service: "),
            (format!("{{service: cloud, {KEYS}}}"), "unknown service: cloud"),
            (format!("{{service: vps, endpoint: ovh-mars, {KEYS}}}"), "unknown endpoint 'ovh-mars', consider checking 'Endpoints' list or using an URL"),
            (format!("{{service: vps, endpoint: 'https://eu.api.ovh.com/1.0/', {KEYS}}}"), "endpoint name cannot have a trailing slash"),
            (format!("{{service: vps, endpoint: 'eu.api.ovh.com/1.0', {KEYS}}}"), "must start with http:// or https://"),
            (format!("{{service: vps, refresh_interval: soon, {KEYS}}}"), "refresh_interval"),
            (format!("{{service: vps, bearer_token: t, {KEYS}}}"), "unknown field"),
        ] {
            let error = load(&entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_and_debug_mask_the_secret_and_the_consumer_key() {
        let config = load(&format!("{{service: vps, {KEYS}}}")).expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("ovhcloud_sd_configs:") && yaml.contains("application_key: TDPKJdwZwAQPwKX2"), "{yaml}");
        assert!(!yaml.contains("9ufkBmLaTQ9nz5yMUlg79taH0GNnzDjk") && !yaml.contains("5mBuy6SUQcRw2ZUxg0cG68BoDKpED4KY"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
        let debug = format!("{:?}", config.jobs[0].ovhcloud_sd[0]);
        assert!(debug.contains("eu.api.ovh.com") && !debug.contains("9ufkBm") && !debug.contains("5mBuy6"), "{debug}");
    }
}
