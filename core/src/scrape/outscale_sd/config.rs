//! An `outscale_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`region` eu-west-2, `endpoint` `https://api.<region>.outscale.com/api/v1`, `access_key`
//! with `secret_key` or `secret_key_file`, `port` 80, `refresh_interval` 60 s) and the HTTP
//! client settings a job has (its TLS, proxy and `http_headers` are used; requests are
//! signed with the access key, not sent with the client's credentials).

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Secret, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
const REGION_DEFAULT: &str = "eu-west-2";

with_client_keys! {
    /// Prometheus' `outscale_sd_config`: the virtual machines of an OUTSCALE account, with the
    /// HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct OutscaleSdSection {
        endpoint: Option<String>,
        region: Option<String>,
        access_key: Option<String>,
        secret_key: Option<String>,
        secret_key_file: Option<std::path::PathBuf>,
        port: Option<i64>,
        refresh_interval: Option<String>,
    }
}

/// One `outscale_sd_configs` entry, checked.
pub struct OutscaleSd {
    /// This entry's source name among the asked groups: the endpoint and the entry's position.
    pub source: String,
    /// The region, also every target's `__meta_outscale_vm_region`.
    pub region: String,
    /// The API's base (`…/api/v1`); calls go to `<endpoint>/<Operation>`.
    pub endpoint: Url,
    /// As written or defaulted, for messages.
    pub endpoint_text: String,
    pub access_key: String,
    /// Read at every refresh (a file is read again, trimmed).
    pub secret_key: Secret,
    pub port: u16,
    pub refresh_ms: i64,
    /// TLS, proxy and `http_headers` of its requests.
    pub access: ClientAccess,
}

impl std::fmt::Debug for OutscaleSd {
    /// The endpoint, key ID and schedule (the secret stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutscaleSd").field("endpoint", &self.endpoint_text).field("access_key", &self.access_key).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `outscale_sd_configs` (relative files from `base`),
/// with Prometheus' messages.
pub fn resolve(s: OutscaleSdSection, base: &Path, position: usize) -> Result<OutscaleSd, String> {
    let region = s.region.unwrap_or_else(|| REGION_DEFAULT.to_string());
    if region.is_empty() {
        return Err("outscale SD configuration requires a region".into());
    }
    let access_key = s.access_key.unwrap_or_default();
    if access_key.is_empty() {
        return Err("outscale SD configuration requires access_key".into());
    }
    let secret_key = match (s.secret_key.filter(|k| !k.is_empty()), s.secret_key_file.filter(|f| !f.as_os_str().is_empty())) {
        (None, None) => return Err("one of secret_key & secret_key_file must be configured".into()),
        (Some(_), Some(_)) => return Err("at most one of secret_key & secret_key_file must be configured".into()),
        (Some(key), None) => Secret::Inline(key),
        (None, Some(file)) => Secret::File(base.join(file)),
    };
    let endpoint_text = s.endpoint.filter(|e| !e.is_empty()).unwrap_or_else(|| format!("https://api.{region}.outscale.com/api/v1"));
    if endpoint_text.contains(['?', '#']) {
        return Err(format!("endpoint {endpoint_text:?}: a query or fragment would swallow the operation's path"));
    }
    let endpoint = Url::parse(&endpoint_text).map_err(|e| format!("endpoint: {e}"))?;
    let port = s.port.unwrap_or(PORT_DEFAULT);
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let access = client_access(client_sections!(s), endpoint.scheme == Scheme::Https, base)?;
    Ok(OutscaleSd { source: format!("outscale {endpoint_text} #{position} port {port}"), region, endpoint, endpoint_text, access_key, secret_key, port, refresh_ms, access })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{ScrapeConfig, Secret};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: o, outscale_sd_configs: [{entries}]}}]"), std::path::Path::new("/etc/prom"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load("{access_key: AK, secret_key: SK}, {region: cloudgouv-eu-west-1, access_key: AK, secret_key_file: sk.txt, port: 9100, refresh_interval: 5m}, {endpoint: 'http://127.0.0.1:4566/api/v1', access_key: AK, secret_key: SK}").expect("valid");
        let sds = &config.jobs[0].outscale_sd;
        assert_eq!((sds[0].region.as_str(), sds[0].endpoint_text.as_str(), sds[0].port, sds[0].refresh_ms), ("eu-west-2", "https://api.eu-west-2.outscale.com/api/v1", 80, 60_000));
        assert_eq!(sds[0].endpoint.path_and_query, "/api/v1");
        assert_eq!((sds[1].endpoint_text.as_str(), sds[1].port, sds[1].refresh_ms), ("https://api.cloudgouv-eu-west-1.outscale.com/api/v1", 9100, 300_000));
        assert!(matches!(&sds[1].secret_key, Secret::File(f) if f == std::path::Path::new("/etc/prom/sk.txt")));
        assert_eq!((sds[2].endpoint.host.as_str(), sds[2].endpoint.port), ("127.0.0.1", 4566));
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 3);
        assert!(!format!("{:?}", sds[0]).contains("SK"));
    }

    #[test]
    fn bad_entries_are_refused_with_prometheus_messages() {
        for (entry, expected) in [
            ("{region: '', access_key: AK, secret_key: SK}", "outscale_sd_configs[0]: outscale SD configuration requires a region"),
            ("{secret_key: SK}", "outscale SD configuration requires access_key"),
            ("{access_key: AK}", "one of secret_key & secret_key_file must be configured"),
            ("{access_key: AK, secret_key: SK, secret_key_file: f}", "at most one of secret_key & secret_key_file must be configured"),
            ("{access_key: AK, secret_key: SK, endpoint: 'ftp://x'}", "endpoint"),
            ("{access_key: AK, secret_key: SK, endpoint: 'https://x/api?a=1'}", "query or fragment"),
            ("{access_key: AK, secret_key: SK, port: -1}", "not between 0 and 65535"),
            ("{access_key: AK, secret_key: SK, role: vm}", "unknown field"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_secret_key() {
        let config = load("{access_key: AK, secret_key: oscsecret}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("outscale_sd_configs:") && yaml.contains("access_key: AK"), "{yaml}");
        assert!(!yaml.contains("oscsecret"), "{yaml}");
    }
}
