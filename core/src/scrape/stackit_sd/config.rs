//! A `stackit_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`project`, `region` eu01, `endpoint`, `port` 80, `refresh_interval` 60 s, the service
//! account key and private key inline or in files, `credentials_file_path`) and the HTTP
//! client settings a job has (which carry the credentials when no service account key is set).

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
const REGION_DEFAULT: &str = "eu01";

with_client_keys! {
    /// Prometheus' `stackit_sd_config`: one STACKIT project's servers, with the HTTP client
    /// settings a job has.
    #[derive(Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct StackitSdSection {
        project: Option<String>,
        refresh_interval: Option<String>,
        port: Option<i64>,
        region: Option<String>,
        endpoint: Option<String>,
        service_account_key: Option<String>,
        private_key: Option<String>,
        service_account_key_path: Option<String>,
        private_key_path: Option<String>,
        credentials_file_path: Option<String>,
    }
}

impl std::fmt::Debug for StackitSdSection {
    /// The project and where it is asked (keys and credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackitSdSection").field("project", &self.project).field("region", &self.region).field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

/// Where the service account key flow finds its keys (as STACKIT's Go SDK looks for them).
#[derive(Clone)]
pub struct KeySources {
    /// The service account key (JSON), inline or in a file.
    pub service_account_key: KeyText,
    /// The private key (PEM), when the entry names one.
    pub private_key: Option<KeyText>,
    /// The SDK's credentials file, when the entry names one.
    pub credentials_file: Option<PathBuf>,
}

/// A key written inline or read from a file at each use (so a rotated file is picked up).
#[derive(Clone)]
pub enum KeyText {
    Inline(String),
    File(PathBuf),
}

/// One `stackit_sd_configs` entry, checked.
pub struct StackitSd {
    /// This entry's source name among the asked groups: the project, port and position.
    pub source: String,
    pub project: String,
    /// Every target's port (a server's first public IP, else a private one, is its host).
    pub port: u16,
    pub refresh_ms: i64,
    /// The IaaS API's URL as written (or made of the region), and split for requests.
    pub endpoint: String,
    pub base: Url,
    /// The service account key flow's keys, when a service account key is set; otherwise
    /// requests carry the HTTP client settings' credentials.
    pub keys: Option<KeySources>,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for StackitSd {
    /// The project, endpoint and schedule (keys and credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackitSd").field("project", &self.project).field("endpoint", &self.endpoint).field("port", &self.port).field("refresh_ms", &self.refresh_ms).field("key_flow", &self.keys.is_some()).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `stackit_sd_configs` (relative files from `base`), with
/// Prometheus' messages.
pub fn resolve(s: StackitSdSection, base: &Path, position: usize) -> Result<StackitSd, String> {
    let region = s.region.unwrap_or_else(|| REGION_DEFAULT.to_string());
    let written = s.endpoint.unwrap_or_default();
    if written.is_empty() && region.is_empty() {
        return Err("stackit_sd: endpoint and region missing".into());
    }
    let endpoint = if written.is_empty() { format!("https://iaas.api.{region}.stackit.cloud") } else { written };
    let parsed = Url::parse(&endpoint).map_err(|e| format!("stackit_sd: invalid endpoint {endpoint:?}: {e}"))?;
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus writes any int; here a port no target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let text = |inline: Option<String>, file: Option<String>| match (inline.filter(|t| !t.is_empty()), file.filter(|f| !f.is_empty())) {
        (Some(text), _) => Some(KeyText::Inline(text)),
        (None, Some(file)) => Some(KeyText::File(base.join(file))),
        (None, None) => None,
    };
    // As Prometheus: the key flow only when a service account key is set.
    let keys = text(s.service_account_key, s.service_account_key_path).map(|service_account_key| KeySources {
        service_account_key,
        private_key: text(s.private_key, s.private_key_path),
        credentials_file: s.credentials_file_path.filter(|p| !p.is_empty()).map(|p| base.join(p)),
    });
    let project = s.project.unwrap_or_default();
    let _ = s.enable_http2;
    let access = client_access(client_sections!(s), parsed.scheme == Scheme::Https, base)?;
    Ok(StackitSd { source: format!("stackit {project} #{position} port {port}"), project, port, refresh_ms, endpoint, base: parsed, keys, access })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: s, stackit_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load("{project: p1, bearer_token: t}, {project: p2, region: eu02, port: 9100, refresh_interval: 2m, service_account_key_path: sa.json, private_key: PEM}, {project: p3, endpoint: 'http://127.0.0.1:8080/'}").expect("valid");
        let sds = &config.jobs[0].stackit_sd;
        assert_eq!((sds[0].endpoint.as_str(), sds[0].port, sds[0].refresh_ms), ("https://iaas.api.eu01.stackit.cloud", 80, 60_000));
        assert!(sds[0].keys.is_none() && matches!(&sds[0].access.credentials, Credentials::Typed { kind, .. } if kind == "Bearer"));
        assert_eq!((sds[1].endpoint.as_str(), sds[1].port, sds[1].refresh_ms), ("https://iaas.api.eu02.stackit.cloud", 9100, 120_000));
        let keys = sds[1].keys.as_ref().expect("the key flow");
        assert!(matches!(&keys.service_account_key, super::KeyText::File(path) if path == std::path::Path::new("/tmp/sa.json")));
        assert!(matches!(&keys.private_key, Some(super::KeyText::Inline(pem)) if pem == "PEM"));
        assert_eq!((sds[2].base.host.as_str(), sds[2].base.port), ("127.0.0.1", 8080));
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 3);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{project: p, region: ''}", "stackit_sd_configs[0]: stackit_sd: endpoint and region missing"),
            ("{project: p, endpoint: 'ftp://x'}", "stackit_sd: invalid endpoint \"ftp://x\""),
            ("{project: p, port: 70000}", "not between 0 and 65535"),
            ("{project: p, refresh_interval: soon}", "refresh_interval"),
            ("{project: p, role: vms}", "unknown field"),
            ("{project: p, bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_and_debug_mask_the_keys() {
        let config = load("{project: p, service_account_key: '{\"credentials\": {}}', private_key: 'SECRETPEM', bearer_token: tok1}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("stackit_sd_configs:") && yaml.contains("project: p"), "{yaml}");
        assert!(!yaml.contains("SECRETPEM") && !yaml.contains("credentials\\\": {}") && !yaml.contains("tok1"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 3, "{yaml}");
        let debug = format!("{:?}", config.jobs[0].stackit_sd[0]);
        assert!(debug.contains("iaas.api.eu01") && !debug.contains("SECRETPEM") && !debug.contains("tok1"), "{debug}");
    }
}
