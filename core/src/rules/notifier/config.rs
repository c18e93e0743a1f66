//! The `alerting:` section of a Prometheus configuration file, read with Prometheus' keys and
//! defaults (`AlertingConfig`, `AlertmanagerConfig`): the global `alert_relabel_configs` and
//! the `alertmanagers` list, each entry found by `static_configs`, `file_sd_configs` or any
//! network discovery a scrape job takes, and asked with the HTTP client keys a scrape job
//! has or signed with `sigv4`. Other top-level keys are ignored.

use std::path::Path;

use serde::Deserialize;

use crate::api::params::parse_prometheus_duration_ms;
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::relabel::{RelabelConfig, Relabeler};
use super::sigv4::{Sigv4Section, Sigv4Signer};
use crate::scrape::config::{client_access, client_sections, resolve_file_sd, with_client_keys, ClientAccess, FileSd, FileSdSection, Scheme, ScrapeJob, StaticSection, TargetGroup};

/// Prometheus' default `timeout` of a request to an Alertmanager.
pub const TIMEOUT_DEFAULT_MS: i64 = 10_000;
/// The only Alertmanager API Prometheus 3 speaks.
const API_VERSION_V2: &str = "v2";

/// Whether `key` names a network discovery of an `alertmanagers` entry (any `*_sd_configs`
/// but `file_sd_configs`): such keys are resolved as a scrape job's
/// (`scrape::config::discovery_job`, which refuses one a job does not take) and asked by the
/// scrape discoveries' askers on executor 0 under the entry's own name.
fn is_discovery_key(key: &str) -> bool {
    key.ends_with("_sd_configs") && key != "file_sd_configs"
}

/// The other keys of an `alertmanagers` entry: its own and the HTTP client keys.
const ENTRY_KEYS: [&str; 22] = [
    "static_configs",
    "sigv4",
    "file_sd_configs",
    "scheme",
    "path_prefix",
    "timeout",
    "api_version",
    "relabel_configs",
    "alert_relabel_configs",
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "http_headers",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "oauth2",
    "enable_http2",
    "follow_redirects",
];

/// The whole file, of which only `alerting` is read.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileRoot {
    alerting: Option<AlertingSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct AlertingSection {
    alert_relabel_configs: Vec<RelabelConfig>,
    alertmanagers: Vec<AlertmanagerSection>,
}

/// The keys of each `alertmanagers` entry, read first to name an unsupported discovery
/// before serde's generic "unknown field" message.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeysRoot {
    alerting: Option<KeysAlerting>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeysAlerting {
    alertmanagers: Vec<serde_json::Map<String, serde_json::Value>>,
}

with_client_keys! {
    /// One `alertmanagers` entry as written (Prometheus' `alertmanager_config`); its
    /// network discoveries are read apart (`entries`), and unknown keys refused there.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default)]
    struct AlertmanagerSection {
        static_configs: Vec<StaticSection>,
        file_sd_configs: Vec<FileSdSection>,
        scheme: Option<String>,
        path_prefix: String,
        timeout: Option<String>,
        api_version: Option<String>,
        relabel_configs: Vec<RelabelConfig>,
        alert_relabel_configs: Vec<RelabelConfig>,
        sigv4: Option<Sigv4Section>,
    }
}

/// The checked `alerting` section: no Alertmanager sets when it is absent or empty.
#[derive(Debug, Clone, Default)]
pub struct AlertingConfig {
    /// `alerting.alert_relabel_configs`: applied to every alert before it is queued.
    pub alert_relabeler: std::sync::Arc<Relabeler>,
    pub alertmanager_sets: Vec<std::sync::Arc<AlertmanagerSet>>,
}

/// One `alertmanagers` entry, checked: how its Alertmanagers are found and asked.
pub struct AlertmanagerSet {
    pub static_groups: Vec<TargetGroup>,
    pub file_sd: Vec<FileSd>,
    /// The initial `__scheme__` of its targets.
    pub scheme: Scheme,
    /// The initial `__alerts_path__`: `path_prefix` joined with `/api/v2/alerts`.
    pub alerts_path: String,
    pub timeout_ms: i64,
    /// `relabel_configs`: over the discovered Alertmanagers.
    pub target_relabeler: Relabeler,
    /// `alert_relabel_configs`: over the alerts sent to these Alertmanagers only.
    pub alert_relabeler: Relabeler,
    /// Credentials, TLS, headers and proxy of its requests.
    pub access: ClientAccess,
    /// `sigv4`: its posts signed for AWS (then `access` has no credentials).
    pub sigv4: Option<Sigv4Signer>,
    /// Its network discoveries, as a job only discovering (`None`: static and file only).
    pub discovery: Option<std::sync::Arc<ScrapeJob>>,
}

impl std::fmt::Debug for AlertmanagerSet {
    /// Where its Alertmanagers come from (credentials and TLS keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerSet").field("static_groups", &self.static_groups).field("file_sd", &self.file_sd).field("scheme", &self.scheme).field("alerts_path", &self.alerts_path).field("timeout_ms", &self.timeout_ms).finish_non_exhaustive()
    }
}

/// Reads the `alerting` section of the whole configuration file `text` (relative file names
/// taken from `base`); an unknown key inside it is an error naming it.
pub fn alerting_from_file(text: &str, base: &Path) -> Result<AlertingConfig, String> {
    let entries = entries(text)?;
    let root: FileRoot = serde_saphyr::from_str(text).map_err(|e| format!("alerting: {e}"))?;
    let section = root.alerting.unwrap_or_default();
    let alert_relabeler = Relabeler::new(&section.alert_relabel_configs, LabelLimits::default()).map_err(|e| format!("alerting: {}", e.replacen("relabel_configs", "alert_relabel_configs", 1)))?;
    let mut alertmanager_sets = Vec::with_capacity(section.alertmanagers.len());
    for (i, entry) in section.alertmanagers.into_iter().enumerate() {
        let discovery = entries.get(i).map(|keys| discovery_of(keys, i, base)).transpose().map_err(|e| format!("alerting.alertmanagers[{i}]: {e}"))?.flatten();
        let set = resolve_alertmanager_set(entry, base, discovery).map_err(|e| format!("alerting.alertmanagers[{i}]: {e}"))?;
        alertmanager_sets.push(std::sync::Arc::new(set));
    }
    Ok(AlertingConfig { alert_relabeler: std::sync::Arc::new(alert_relabeler), alertmanager_sets })
}

/// Each `alertmanagers` entry's keys and values, after checking that every key is one an
/// entry takes.
fn entries(text: &str) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, String> {
    let Ok(root) = serde_saphyr::from_str::<KeysRoot>(text) else { return Ok(Vec::new()) };
    let entries = root.alerting.unwrap_or_default().alertmanagers;
    for (i, entry) in entries.iter().enumerate() {
        if let Some(key) = entry.keys().find(|key| !ENTRY_KEYS.contains(&key.as_str()) && !is_discovery_key(key)) {
            return Err(format!("alerting.alertmanagers[{i}]: unknown field `{key}`"));
        }
    }
    Ok(entries)
}

/// The entry's network discoveries as a job of its own (`alerting/config-N`, after
/// Prometheus' `config-N`); none when it has only static and file ones.
fn discovery_of(keys: &serde_json::Map<String, serde_json::Value>, at: usize, base: &Path) -> Result<Option<std::sync::Arc<ScrapeJob>>, String> {
    let sections: serde_json::Map<String, serde_json::Value> = keys.iter().filter(|(key, _)| is_discovery_key(key)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if sections.is_empty() {
        return Ok(None);
    }
    let job = crate::scrape::config::discovery_job(&format!("{DISCOVERY_JOB_PREFIX}{at}"), sections, base)?;
    Ok(Some(std::sync::Arc::new(job)))
}

/// The names the entries' discovery jobs go by in the discoveries' shared state.
pub const DISCOVERY_JOB_PREFIX: &str = "alerting/config-";

fn resolve_alertmanager_set(mut s: AlertmanagerSection, base: &Path, discovery: Option<std::sync::Arc<ScrapeJob>>) -> Result<AlertmanagerSet, String> {
    match s.api_version.as_deref() {
        None | Some(API_VERSION_V2) => {}
        Some(other) => return Err(format!("expected Alertmanager api version to be one of [v2] but got {other}")),
    }
    let scheme_text = s.scheme.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| "http".to_string());
    let scheme = Scheme::parse(&scheme_text).ok_or_else(|| format!("scheme {scheme_text:?} must be http or https"))?;
    let timeout_ms = match s.timeout.as_deref() {
        None => TIMEOUT_DEFAULT_MS,
        Some(text) => parse_prometheus_duration_ms(text).filter(|ms| *ms > 0).ok_or_else(|| format!("timeout {text:?} is not a duration above zero"))?,
    };
    let target_relabeler = Relabeler::new(&s.relabel_configs, LabelLimits::default())?;
    let alert_relabeler = Relabeler::new(&s.alert_relabel_configs, LabelLimits::default()).map_err(|e| e.replacen("relabel_configs", "alert_relabel_configs", 1))?;
    let static_groups: Vec<TargetGroup> = s.static_configs.iter().map(|g| TargetGroup { targets: g.targets.clone(), labels: g.labels.clone() }).collect();
    // As Prometheus: without relabeling, a static target must be an address, not a URL.
    if s.relabel_configs.is_empty() {
        if let Some(url) = static_groups.iter().flat_map(|g| &g.targets).find(|t| t.contains('/')) {
            return Err(format!("{url:?} is not a valid hostname"));
        }
    }
    let file_sd = s.file_sd_configs.iter().map(|f| resolve_file_sd(f, base)).collect::<Result<Vec<_>, _>>()?;
    let alerts_path = alerts_path(&s.path_prefix);
    let authorized = s.basic_auth.is_some() || s.authorization.is_some() || s.bearer_token.is_some() || s.bearer_token_file.is_some() || s.oauth2.is_some();
    if authorized && s.sigv4.is_some() {
        return Err("at most one of basic_auth, authorization, oauth2, & sigv4 must be configured".into());
    }
    let sigv4 = s.sigv4.take().map(Sigv4Signer::new).transpose().map_err(|e| format!("sigv4: {e}"))?;
    let mut access = client_access(client_sections!(s), scheme == Scheme::Https, base)?;
    access.offer_http2_unless_off(s.enable_http2);
    Ok(AlertmanagerSet { static_groups, file_sd, scheme, alerts_path, timeout_ms, target_relabeler, alert_relabeler, access, sigv4, discovery })
}

/// Prometheus' `path.Join("/", prefix, "/api/v2/alerts")`: one slash between parts, `.` and
/// `..` resolved, no trailing slash.
pub fn alerts_path(prefix: &str) -> String {
    let joined = format!("/{prefix}/api/{API_VERSION_V2}/alerts");
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}
