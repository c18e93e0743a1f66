//! A `scaleway_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`role` instance or baremetal, `zone` fr-par-1, `api_url` https://api.scaleway.com,
//! `port` 80, `refresh_interval` 60 s), the checks Prometheus and Scaleway's Go client make
//! at load (mandatory keys, key and ID formats, the zone's form), and the HTTP client settings
//! a job has. The secret key is sent as `X-Auth-Token`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
const ZONE_DEFAULT: &str = "fr-par-1";
const API_URL_DEFAULT: &str = "https://api.scaleway.com";
/// The zones Scaleway's Go client (the version Prometheus builds with) names when a zone is
/// refused.
const KNOWN_ZONES: &str = "fr-par-1, fr-par-2, fr-par-3, nl-ams-1, nl-ams-2, nl-ams-3, pl-waw-1, pl-waw-2, pl-waw-3, it-mil-1";

with_client_keys! {
    /// Prometheus' `scaleway_sd_config`: a Scaleway project's Instances or Elastic Metal
    /// servers in one zone, with the HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ScalewaySdSection {
        role: Option<String>,
        project_id: Option<String>,
        api_url: Option<String>,
        zone: Option<String>,
        access_key: Option<String>,
        secret_key: Option<String>,
        secret_key_file: Option<PathBuf>,
        name_filter: Option<String>,
        tags_filter: Option<Vec<String>>,
        refresh_interval: Option<String>,
        port: Option<i64>,
    }
}

/// What an entry lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Instances (`/instance/v1/zones/<zone>/servers`).
    Instance,
    /// Elastic Metal servers (`/baremetal/v1/zones/<zone>/servers`).
    Baremetal,
}

/// Where the secret key sent as `X-Auth-Token` comes from.
pub enum SecretKey {
    Inline(String),
    /// Read again (and trimmed) for every request, as Prometheus reads it.
    File(PathBuf),
}

impl SecretKey {
    /// The token to send now.
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretKey::Inline(key) => Ok(key.clone()),
            SecretKey::File(path) => std::fs::read_to_string(path).map(|t| t.trim().to_string()).map_err(|e| format!("unable to read auth token file {}: {e}", path.display())),
        }
    }
}

/// One `scaleway_sd_configs` entry, checked.
pub struct ScalewaySd {
    /// This entry's source name among the asked groups: the entry's position, role and port.
    pub source: String,
    pub role: Role,
    /// The zone listed (`fr-par-1`).
    pub zone: String,
    /// The API's origin, and the path its requests' paths follow (empty, or without a
    /// trailing slash).
    pub api: Url,
    /// `api_url` as written, for logs.
    pub api_url: String,
    pub secret_key: SecretKey,
    /// Asked for servers of this name only when not empty.
    pub name_filter: String,
    /// Asked for servers with these tags only when not empty.
    pub tags_filter: Vec<String>,
    /// Every target's port.
    pub port: u16,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for ScalewaySd {
    /// The role, zone, filters and schedule (the secret key stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScalewaySd")
            .field("role", &self.role)
            .field("zone", &self.zone)
            .field("api_url", &self.api_url)
            .field("name_filter", &self.name_filter)
            .field("tags_filter", &self.tags_filter)
            .field("port", &self.port)
            .field("refresh_ms", &self.refresh_ms)
            .finish_non_exhaustive()
    }
}

/// Whether `text` is a UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hexadecimal digits).
fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5 && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `text` is a Scaleway access key (`SCW` and 17 capitals or digits).
fn is_access_key(text: &str) -> bool {
    text.strip_prefix("SCW").is_some_and(|rest| rest.len() == 17 && rest.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
}

/// Whether `text` has a zone's form (`fr-par-1`: two letters, three to seven, one or two
/// digits), as Scaleway's Go client checks it.
pub(super) fn is_zone(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    let letters = |p: &str, min: usize, max: usize| (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() == 3 && letters(parts[0], 2, 2) && letters(parts[1], 3, 7) && (1..=2).contains(&parts[2].len()) && parts[2].bytes().all(|b| b.is_ascii_digit())
}

/// The scheme, host and port of `api_url`, and its path (none, or without a trailing slash),
/// as the Go client takes it: requests go to `api_url` followed by their path.
fn api_base(api_url: &str) -> Result<Url, String> {
    // The Go client's words.
    if api_url.is_empty() {
        return Err(format!("scaleway-sdk-go: invalid API url '{api_url}'"));
    }
    if api_url.ends_with('/') {
        return Err(format!("scaleway-sdk-go: invalid API url '{api_url}' it should not have a trailing slash"));
    }
    let mut url = Url::parse(api_url).map_err(|e| format!("scaleway-sdk-go: invalid API url '{api_url}': {e}"))?;
    if url.path_and_query.contains('?') {
        return Err(format!("scaleway-sdk-go: invalid API url '{api_url}': a query cannot be followed by a request's path"));
    }
    // Url::parse gives "/" for no path at all.
    if url.path_and_query == "/" {
        url.path_and_query = String::new();
    }
    Ok(url)
}

/// Checks entry `position` of a job's `scaleway_sd_configs` (relative files from `base`), in
/// Prometheus' order and words.
pub fn resolve(s: ScalewaySdSection, base: &Path, position: usize) -> Result<ScalewaySd, String> {
    let role = match s.role.as_deref() {
        None | Some("") => return Err("role missing (one of: instance, baremetal)".into()),
        Some("instance") => Role::Instance,
        Some("baremetal") => Role::Baremetal,
        Some(other) => return Err(format!("unknown role {other:?}")),
    };
    let project_id = s.project_id.clone().unwrap_or_default();
    if project_id.is_empty() {
        return Err("project_id is mandatory".into());
    }
    let secret_key = match (s.secret_key.clone().filter(|k| !k.is_empty()), s.secret_key_file.clone().filter(|f| !f.as_os_str().is_empty())) {
        (None, None) => return Err("one of secret_key & secret_key_file must be configured".into()),
        (Some(_), Some(_)) => return Err("at most one of secret_key & secret_key_file must be configured".into()),
        (Some(key), None) => SecretKey::Inline(key),
        (None, Some(file)) => SecretKey::File(base.join(file)),
    };
    let access_key = s.access_key.clone().unwrap_or_default();
    if access_key.is_empty() {
        return Err("access_key is mandatory".into());
    }
    // What Scaleway's Go client checks when Prometheus makes one at load.
    if !is_access_key(&access_key) {
        return Err(format!("scaleway-sdk-go: invalid access key format '{access_key}', expected SCWXXXXXXXXXXXXXXXXX format"));
    }
    // The Go client checks a placeholder UUID for a key in a file. Its message would also
    // show the key, which stays out of this one.
    if let SecretKey::Inline(key) = &secret_key {
        if !is_uuid(key) {
            return Err("scaleway-sdk-go: invalid secret key format, expected a UUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx".into());
        }
    }
    if !is_uuid(&project_id) {
        return Err(format!("scaleway-sdk-go: invalid project ID format '{project_id}', expected a UUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"));
    }
    let zone = s.zone.clone().unwrap_or_else(|| ZONE_DEFAULT.to_string());
    if zone.is_empty() {
        return Err("scaleway-sdk-go: default zone cannot be empty".into());
    }
    if !is_zone(&zone) {
        return Err(format!("scaleway-sdk-go: invalid default zone format '{zone}', available zones are: {KNOWN_ZONES}"));
    }
    let api_url = s.api_url.clone().unwrap_or_else(|| API_URL_DEFAULT.to_string());
    let api = api_base(&api_url)?;
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus writes any int (a negative one as a huge unsigned number); here a port no
    // target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let name_filter = s.name_filter.clone().unwrap_or_default();
    let tags_filter = s.tags_filter.clone().unwrap_or_default();
    let _ = s.enable_http2;
    let https = api.scheme == crate::scrape::config::Scheme::Https;
    let access = client_access(client_sections!(s), https, base)?;
    let role_name = match role {
        Role::Instance => "instance",
        Role::Baremetal => "baremetal",
    };
    Ok(ScalewaySd {
        // The position keeps apart two entries that differ only in their keys or filters.
        source: format!("scaleway #{position} {role_name} {zone} port {port}"),
        role,
        zone,
        api,
        api_url,
        secret_key,
        name_filter,
        tags_filter,
        port,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    /// The keys of Prometheus' tests.
    pub const KEYS: &str = "project_id: 8feda53f-15f0-447f-badf-ebe32dad2fc0, access_key: SCW0W8NG6024YHRJ7723";
    pub const SECRET: &str = "6d6579e5-a5b9-49fc-a35f-b4feb9b87301";

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: s, scaleway_sd_configs: [{entries}]}}]"), Path::new("/etc/prom"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load(&format!(
            "{{role: instance, {KEYS}, secret_key: {SECRET}}}, \
             {{role: baremetal, {KEYS}, secret_key_file: key, zone: nl-ams-1, api_url: 'http://127.0.0.1:8080/scw', name_filter: web, tags_filter: [a, b], port: 9100, refresh_interval: 2m, follow_redirects: false, authorization: {{credentials: x}}}}"
        ))
        .expect("valid");
        let sds = &config.jobs[0].scaleway_sd;
        let first = &sds[0];
        assert_eq!((first.role, first.zone.as_str(), first.api_url.as_str(), first.port, first.refresh_ms, first.access.follow_redirects), (Role::Instance, "fr-par-1", "https://api.scaleway.com", 80, 60_000, true));
        assert_eq!((first.api.host.as_str(), first.api.port, first.api.path_and_query.as_str()), ("api.scaleway.com", 443, ""));
        assert!(matches!(&first.secret_key, SecretKey::Inline(k) if k == SECRET));
        assert!(first.name_filter.is_empty() && first.tags_filter.is_empty());
        assert!(matches!(first.access.credentials, Credentials::None));
        let second = &sds[1];
        assert_eq!((second.role, second.zone.as_str(), second.port, second.refresh_ms, second.access.follow_redirects), (Role::Baremetal, "nl-ams-1", 9100, 120_000, false));
        assert_eq!((second.api.host.as_str(), second.api.port, second.api.path_and_query.as_str()), ("127.0.0.1", 8080, "/scw"));
        assert!(matches!(&second.secret_key, SecretKey::File(f) if f == Path::new("/etc/prom/key")));
        assert_eq!((second.name_filter.as_str(), second.tags_filter.clone()), ("web", vec!["a".to_string(), "b".to_string()]));
        assert!(matches!(&second.access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"));
        assert_ne!(first.source, second.source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn bad_entries_are_refused_in_prometheus_words() {
        let secret = format!("secret_key: {SECRET}");
        for (entry, expected) in [
            (format!("{{{KEYS}, {secret}}}"), "scaleway_sd_configs[0]: role missing (one of: instance, baremetal)".to_string()),
            (format!("{{role: '', {KEYS}, {secret}}}"), "role missing (one of: instance, baremetal)".into()),
            (format!("{{role: servers, {KEYS}, {secret}}}"), "unknown role \"servers\"".into()),
            (format!("{{role: instance, access_key: SCW0W8NG6024YHRJ7723, {secret}}}"), "project_id is mandatory".into()),
            (format!("{{role: instance, {KEYS}}}"), "one of secret_key & secret_key_file must be configured".into()),
            (format!("{{role: instance, {KEYS}, {secret}, secret_key_file: f}}"), "at most one of secret_key & secret_key_file must be configured".into()),
            (format!("{{role: instance, project_id: 8feda53f-15f0-447f-badf-ebe32dad2fc0, {secret}}}"), "access_key is mandatory".into()),
            (format!("{{role: instance, project_id: 8feda53f-15f0-447f-badf-ebe32dad2fc0, access_key: AKIA, {secret}}}"), "scaleway-sdk-go: invalid access key format 'AKIA', expected SCWXXXXXXXXXXXXXXXXX format".into()),
            (format!("{{role: instance, {KEYS}, secret_key: not-a-uuid}}"), "scaleway-sdk-go: invalid secret key format, expected a UUID".into()),
            (format!("{{role: instance, project_id: p1, access_key: SCW0W8NG6024YHRJ7723, {secret}}}"), "scaleway-sdk-go: invalid project ID format 'p1'".into()),
            (format!("{{role: instance, {KEYS}, {secret}, zone: ''}}"), "scaleway-sdk-go: default zone cannot be empty".into()),
            (format!("{{role: instance, {KEYS}, {secret}, zone: par1}}"), "scaleway-sdk-go: invalid default zone format 'par1', available zones are: fr-par-1, fr-par-2".into()),
            (format!("{{role: instance, {KEYS}, {secret}, api_url: 'https://api.scaleway.com/'}}"), "it should not have a trailing slash".into()),
            (format!("{{role: instance, {KEYS}, {secret}, api_url: 'api.scaleway.com'}}"), "scaleway-sdk-go: invalid API url 'api.scaleway.com'".into()),
            (format!("{{role: instance, {KEYS}, {secret}, port: 70000}}"), "port 70000 is not between 0 and 65535".into()),
            (format!("{{role: instance, {KEYS}, {secret}, refresh_interval: soon}}"), "refresh_interval".into()),
            (format!("{{role: instance, {KEYS}, {secret}, region: fr-par}}"), "unknown field".into()),
            (format!("{{role: instance, {KEYS}, {secret}, bearer_token: a, bearer_token_file: b}}"), "bearer_token and bearer_token_file are exclusive".into()),
        ] {
            let error = load(&entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(&expected), "{entry}: {error}");
            assert!(!error.contains("not-a-uuid"), "the secret key is not shown: {error}");
        }
    }

    #[test]
    fn the_shown_config_and_debug_mask_the_secret_key() {
        let config = load(&format!("{{role: instance, {KEYS}, secret_key: {SECRET}}}, {{role: baremetal, {KEYS}, secret_key_file: key, port: 9100}}")).expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("scaleway_sd_configs:") && yaml.contains("port: 9100") && yaml.contains("SCW0W8NG6024YHRJ7723"), "{yaml}");
        assert!(!yaml.contains(SECRET), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 1, "{yaml}");
        let debug = format!("{:?}", config.jobs[0].scaleway_sd);
        assert!(!debug.contains(SECRET) && debug.contains("Instance"), "{debug}");
    }

    #[test]
    fn formats_are_checked_as_the_go_client_checks_them() {
        assert!(is_uuid(SECRET) && is_uuid("00000000-0000-0000-0000-00000000000A"));
        assert!(!is_uuid("6d6579e5a5b949fca35fb4feb9b87301") && !is_uuid("6d6579e5-a5b9-49fc-a35f-b4feb9b8730g"));
        assert!(is_access_key("SCW0W8NG6024YHRJ7723") && !is_access_key("SCW0w8NG6024YHRJ7723") && !is_access_key("SCW0W8NG6024YHRJ772"));
        for zone in ["fr-par-1", "nl-ams-12", "xx-abcdefg-0"] {
            assert!(is_zone(zone), "{zone}");
        }
        for zone in ["fr-par", "fr-pa-1", "fr-par-123", "FR-par-1", "fr-abcdefgh-1", "fr-par-1-"] {
            assert!(!is_zone(zone), "{zone}");
        }
    }
}
