//! The scrape configuration: the `global` and `scrape_configs` sections of a Prometheus
//! configuration file named by `scrape.config_file` (VictoriaMetrics' `-promscrape.config`),
//! read with Prometheus' keys and defaults and checked once at start-up, with its
//! `rule_files` and `alerting` (`rules::settings`). An unknown key inside a scrape config (a
//! service discovery this project does not have, say) is an error naming it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::api::params::parse_prometheus_duration_ms;
use crate::ingest::label_limits::LabelLimits;

/// Declares a section that takes, after its own keys, the HTTP client keys every job and
/// every HTTP-speaking discovery entry takes (`client_sections!` moves them out again):
/// serde cannot flatten them into one struct under `deny_unknown_fields`. The client keys
/// are private to the section's module unless a visibility comes first (`pub(crate),`), as
/// for a section another is built of (`aws_sd_configs`' of `ec2_sd_configs`').
macro_rules! with_client_keys {
    ($client_vis:vis, $(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
            $client_vis basic_auth: Option<$crate::scrape::config::BasicAuthSection>,
            $client_vis authorization: Option<$crate::scrape::config::AuthorizationSection>,
            $client_vis bearer_token: Option<String>,
            $client_vis bearer_token_file: Option<std::path::PathBuf>,
            $client_vis tls_config: Option<$crate::scrape::config::TlsSection>,
            $client_vis http_headers: std::collections::BTreeMap<String, $crate::scrape::config::HeaderSection>,
            /// Prometheus' proxy settings (see `scrape::proxy`).
            $client_vis proxy_url: Option<String>,
            $client_vis no_proxy: Option<String>,
            $client_vis proxy_from_environment: bool,
            $client_vis proxy_connect_header: std::collections::BTreeMap<String, Vec<String>>,
            $client_vis oauth2: Option<$crate::scrape::config::OAuth2Section>,
            /// Scrape jobs and Alertmanager entries offer HTTP/2 to TLS servers unless it is
            /// false (`ClientAccess::offer_http2_unless_off`); service discoveries speak HTTP/1.1 either way.
            $client_vis enable_http2: Option<bool>,
            $client_vis follow_redirects: Option<bool>,
        }
    };
    ($(#[$meta:meta])* $vis:vis struct $name:ident { $($(#[$field_meta:meta])* $field_vis:vis $field:ident: $ty:ty,)* }) => {
        $crate::scrape::config::with_client_keys! { , $(#[$meta])* $vis struct $name { $($(#[$field_meta])* $field_vis $field: $ty,)* } }
    };
}

/// The `ClientSections` of a job's or discovery entry's section `$s`, moved out of it: the
/// sections all have these keys, which serde cannot flatten into one under
/// `deny_unknown_fields`. `$basic_auth` when the entry makes its own (Consul's
/// `username`/`password`).
macro_rules! client_sections {
    ($s:ident) => {
        $crate::scrape::config::client_sections!($s, $s.basic_auth)
    };
    ($s:ident, $basic_auth:expr) => {
        $crate::scrape::config::ClientSections {
            basic_auth: $basic_auth,
            authorization: $s.authorization,
            bearer_token: $s.bearer_token,
            bearer_token_file: $s.bearer_token_file,
            tls_config: $s.tls_config,
            http_headers: $s.http_headers,
            proxy_url: $s.proxy_url,
            no_proxy: $s.no_proxy,
            proxy_from_environment: $s.proxy_from_environment,
            proxy_connect_header: $s.proxy_connect_header,
            oauth2: $s.oauth2,
            follow_redirects: $s.follow_redirects,
        }
    };
}

pub(crate) use {client_sections, with_client_keys};

mod client;
pub mod env_expand;
mod files;
mod job;
mod protocols;

pub use client::{ClientAccess, Credentials, ExtraHeaders, Scheme, Secret, Url};
pub(crate) use client::{client_access, AuthorizationSection, BasicAuthSection, ClientSections, HeaderSection, OAuth2Section, TlsSection};
pub use files::files_checksum;
pub use job::{HistogramScraping, ScrapeJob, ScrapeSchedule};
pub use protocols::AnswerFormat;

use files::{jobs_from_files, written_jobs};
use job::{check_name_schemes, resolve_job, Globals, JobSection};
use protocols::{accept_header, PROTO_FIRST_PROTOCOLS};

/// Prometheus' default scrape interval and timeout.
const INTERVAL_DEFAULT_MS: i64 = 60_000;
const TIMEOUT_DEFAULT_MS: i64 = 10_000;
/// How often file_sd files are re-read when `refresh_interval` is not given (Prometheus').
const FILE_SD_REFRESH_DEFAULT_MS: i64 = 300_000;
/// The largest response body read when a job sets no `body_size_limit` (VictoriaMetrics'
/// `-promscrape.maxScrapeSize` default): a target cannot make the server hold gigabytes.
pub const BODY_BYTES_DEFAULT: usize = 16 << 20;

/// Sections of Prometheus' configuration file that are not read here (VictoriaMetrics ignores
/// them too), with what that means for someone who wrote them.
const UNREAD_SECTIONS: [(&str, &str); 6] = [
    ("remote_write", "nothing is forwarded to those endpoints; they can read from Metricstor through remote read, /federate or the query API"),
    ("remote_read", "queries answer from Metricstor's own storage only"),
    ("storage", "Metricstor's own configuration file has the storage settings (storage: and its max_exemplars)"),
    ("otlp", "Metricstor's own configuration file has the OTLP settings (otlp:)"),
    ("tracing", "Metricstor exports no traces"),
    ("runtime", "Go runtime settings have no counterpart here"),
];

/// The sections of `text` (a Prometheus configuration) in `UNREAD_SECTIONS` that are present
/// and not empty, with their meaning.
fn unread_sections(text: &str) -> Vec<(&'static str, &'static str)> {
    let Ok(root) = serde_saphyr::from_str::<std::collections::BTreeMap<String, serde_json::Value>>(text) else { return Vec::new() };
    UNREAD_SECTIONS.into_iter().filter(|(section, _)| root.get(*section).is_some_and(|v| !v.is_null() && v != &serde_json::json!([]) && v != &serde_json::json!({}))).collect()
}

/// The top-level sections of the configuration file read here: other sections of such a file
/// (`remote_write`, `remote_read`, ...) are ignored, as VictoriaMetrics ignores them, and
/// logged (`unread_sections`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FileRoot {
    global: GlobalSection,
    scrape_configs: Vec<JobSection>,
    /// More files of `scrape_configs` (Prometheus 2.43's key; `*` in the last path element).
    scrape_config_files: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GlobalSection {
    scrape_interval: Option<String>,
    scrape_timeout: Option<String>,
    external_labels: BTreeMap<String, String>,
    sample_limit: Option<u64>,
    body_size_limit: Option<String>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    target_limit: Option<u64>,
    keep_dropped_targets: Option<u64>,
    scrape_failure_log_file: Option<PathBuf>,
    scrape_protocols: Option<Vec<String>>,
    scrape_native_histograms: Option<bool>,
    always_scrape_classic_histograms: Option<bool>,
    convert_classic_histograms_to_nhcb: Option<bool>,
    /// `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes` written
    /// with the other scrape series.
    extra_scrape_metrics: Option<bool>,
    query_log_file: Option<PathBuf>,
    /// The jobs' defaults of their own keys of these names (Prometheus 3's).
    metric_name_validation_scheme: Option<String>,
    metric_name_escaping_scheme: Option<String>,
}

/// `static_configs` (of a job, or of an `alertmanagers` entry).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StaticSection {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` (of a job, or of an `alertmanagers` entry).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FileSdSection {
    files: Vec<String>,
    refresh_interval: Option<String>,
}

/// Prometheus' defaults of the keys whose default is not the type's (80: docker_sd's,
/// dockerswarm_sd's and ec2_sd's `port`).
pub(crate) fn default_port_80() -> u16 {
    80
}

pub(crate) fn default_true() -> bool {
    true
}

/// A Docker or EC2 `filters` entry: containers or instances matching any of `values` for `name`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FilterSection {
    pub(crate) name: String,
    pub(crate) values: Vec<String>,
}

/// A `static_configs` entry or one target group of a file_sd file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs` entry: file patterns (`*` allowed in the last path element) read
/// every `refresh_ms`, and sooner when a file changes.
#[derive(Debug, Clone)]
pub struct FileSd {
    pub patterns: Vec<PathBuf>,
    pub refresh_ms: i64,
}

/// Every scrape job and the labels added to every scraped series.
#[derive(Debug, Default)]
pub struct ScrapeConfig {
    pub jobs: Vec<Arc<ScrapeJob>>,
    /// `global.external_labels`: set on every scraped series that lacks them (as
    /// VictoriaMetrics' scraper does).
    pub external_labels: Vec<(String, String)>,
    /// The server's options it was read under; a reload reads the file under the same again.
    pub server: ServerOptions,
    /// `rule_files` with `global.evaluation_interval`/`rule_query_offset`, and `alerting`.
    pub rules: Arc<crate::rules::settings::RuleSettings>,
    /// `global.query_log_file` (relative names from the file's directory): where every
    /// query is logged (`api::QueryLog`).
    pub query_log_file: Option<PathBuf>,
}

/// What the server's own configuration changes in the scrape jobs it reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// The label limits relabeling checks against (`storage.max_label_*`).
    pub label_limits: LabelLimits,
    /// `storage.start_timestamp_zero_ingestion` or `start_timestamp_storage`
    /// (`StorageConfig::reads_start_timestamps`): start timestamps are read from the answers
    /// (`scrape::start_timestamps`), so `global.scrape_protocols` defaults to the protobuf
    /// format first (Prometheus' `DefaultProtoFirstScrapeProtocols`, as its
    /// `created-timestamp-zero-ingestion` sets it): a job without `scrape_protocols` of its
    /// own asks for it unless `global.scrape_protocols` is set.
    pub read_start_timestamps: bool,
    /// `scrape.expand_external_labels` (Prometheus' `expand-external-labels`): `$NAME` and
    /// `${NAME}` in `global.external_labels` values are replaced by environment variables
    /// (`env_expand`); an unset or empty one gives nothing, with a warning.
    pub expand_external_labels: bool,
}

impl ScrapeConfig {
    /// Reads and checks `path`; an error names the file, the job and the key.
    /// Each section of Prometheus' file that is not read here is logged once per reading,
    /// with what its absence means (`unread_sections`).
    pub fn load(path: &Path, server: ServerOptions) -> Result<ScrapeConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let config = ScrapeConfig::from_yaml_with_options(&text, base, server).map_err(|e| format!("{}: {e}", path.display()))?;
        for (section, meaning) in unread_sections(&text) {
            tracing::warn!(file = %path.display(), section, "this section of the Prometheus configuration is not read: {meaning}");
        }
        Ok(config)
    }

    /// Parses a Prometheus configuration's text; relative file names are taken from `base`
    /// (the configuration file's directory, as Prometheus takes them).
    pub fn from_yaml(text: &str, base: &Path, limits: LabelLimits) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml_with_options(text, base, ServerOptions { label_limits: limits, ..ServerOptions::default() })
    }

    /// As [`ScrapeConfig::from_yaml`], under the server's options.
    pub fn from_yaml_with_options(text: &str, base: &Path, server: ServerOptions) -> Result<ScrapeConfig, String> {
        let limits = server.label_limits;
        let root: FileRoot = if text.trim().is_empty() { FileRoot::default() } else { serde_saphyr::from_str(text).map_err(|e| e.to_string())? };
        let global_interval = optional_duration(root.global.scrape_interval.as_deref(), "global.scrape_interval")?.unwrap_or(INTERVAL_DEFAULT_MS);
        let global_timeout = optional_duration(root.global.scrape_timeout.as_deref(), "global.scrape_timeout")?.unwrap_or(TIMEOUT_DEFAULT_MS.min(global_interval));
        if global_timeout > global_interval {
            return Err("global.scrape_timeout must not be greater than global.scrape_interval".into());
        }
        let mut jobs: Vec<Arc<ScrapeJob>> = Vec::new();
        let mut written = written_jobs(text).into_iter();
        let mut sections: Vec<(String, PathBuf, JobSection, serde_json::Value)> =
            root.scrape_configs.into_iter().enumerate().map(|(i, s)| (format!("scrape_configs[{i}]"), base.to_path_buf(), s, written.next().unwrap_or_default())).collect();
        sections.extend(jobs_from_files(&root.scrape_config_files, base)?);
        let non_empty = |scheme: &Option<String>| scheme.clone().filter(|s| !s.is_empty());
        let global_validation = non_empty(&root.global.metric_name_validation_scheme);
        let global_escaping = non_empty(&root.global.metric_name_escaping_scheme);
        check_name_schemes(global_validation.as_deref(), global_escaping.as_deref()).map_err(|e| format!("global: {e}"))?;
        if let Some(protocols) = &root.global.scrape_protocols {
            accept_header(protocols, "underscores").map_err(|e| format!("global: {e}"))?;
        }
        // As Prometheus' feature flag changes the default of `global.scrape_protocols`.
        let global_protocols = root.global.scrape_protocols.clone().or_else(|| server.read_start_timestamps.then(|| PROTO_FIRST_PROTOCOLS.map(String::from).to_vec()));
        for (place, job_base, section, written) in sections {
            let name = section.job_name.clone();
            if name.is_empty() {
                return Err(format!("{place}: job_name is required"));
            }
            if jobs.iter().any(|j| j.name == name) {
                return Err(format!("{place}: job_name {name:?} is used twice"));
            }
            let g = &root.global;
            let globals = Globals {
                interval_ms: global_interval,
                timeout_ms: global_timeout,
                sample_limit: g.sample_limit,
                body_size_limit: g.body_size_limit.clone(),
                label_limit: g.label_limit,
                label_name_length_limit: g.label_name_length_limit,
                label_value_length_limit: g.label_value_length_limit,
                target_limit: g.target_limit,
                keep_dropped_targets: g.keep_dropped_targets,
                scrape_failure_log_file: g.scrape_failure_log_file.as_ref().filter(|f| !f.as_os_str().is_empty()).map(|f| base.join(f)),
                scrape_protocols: global_protocols.clone(),
                scrape_native_histograms: g.scrape_native_histograms,
                always_scrape_classic_histograms: g.always_scrape_classic_histograms,
                convert_classic_histograms_to_nhcb: g.convert_classic_histograms_to_nhcb,
                extra_scrape_metrics: g.extra_scrape_metrics,
                metric_name_validation_scheme: global_validation.clone(),
                metric_name_escaping_scheme: global_escaping.clone(),
            };
            let mut job = resolve_job(section, &globals, &job_base, limits).map_err(|e| format!("{place} (job {name:?}): {e}"))?;
            job.shown_yaml = super::shown_config::shown_yaml(&written, &job);
            jobs.push(Arc::new(job));
        }
        let mut external_labels = Vec::new();
        for (name, value) in root.global.external_labels {
            if !valid_label_name(&name) {
                return Err(format!("global.external_labels: {name:?} is not a valid label name"));
            }
            let value = if server.expand_external_labels {
                let (expanded, empty) = env_expand::expand(&value, |name| std::env::var(name).ok());
                for variable in empty {
                    tracing::warn!(label = %name, %variable, "global.external_labels: empty environment variable");
                }
                expanded
            } else {
                value
            };
            if !value.is_empty() {
                external_labels.push((name, value));
            }
        }
        let rules = crate::rules::settings::RuleSettings::from_config_text(text, base)?;
        let query_log_file = root.global.query_log_file.filter(|f| !f.as_os_str().is_empty()).map(|f| base.join(f));
        Ok(ScrapeConfig { jobs, external_labels, server, rules: Arc::new(rules), query_log_file })
    }
}

/// A job that only discovers: the service discoveries of `sections` (a JSON object of
/// `*_sd_configs` keys, as an `alertmanagers` entry of `alerting` holds them) under the name
/// `name`, resolved as a scrape job's, so that the discoveries' askers can serve it
/// (`scrape::start_asking`) though nothing scrapes it.
pub(crate) fn discovery_job(name: &str, mut sections: serde_json::Map<String, serde_json::Value>, base: &Path) -> Result<ScrapeJob, String> {
    sections.insert("job_name".into(), serde_json::Value::String(name.to_string()));
    let section: JobSection = serde_json::from_value(serde_json::Value::Object(sections)).map_err(|e| e.to_string())?;
    let globals = Globals { interval_ms: INTERVAL_DEFAULT_MS, timeout_ms: TIMEOUT_DEFAULT_MS, ..Globals::default() };
    resolve_job(section, &globals, base, LabelLimits::default())
}

/// One `file_sd_configs` entry: its file patterns (relative names from `base`; JSON or YAML
/// files, `*` only in the last path element) and refresh interval.
pub(crate) fn resolve_file_sd(section: &FileSdSection, base: &Path) -> Result<FileSd, String> {
    if section.files.is_empty() {
        return Err("file_sd_configs: files must not be empty".into());
    }
    let mut patterns = Vec::new();
    for file in &section.files {
        let path = base.join(file);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !(name.ends_with(".json") || name.ends_with(".yml") || name.ends_with(".yaml")) {
            return Err(format!("file_sd_configs: {file:?} must end in .json, .yml or .yaml"));
        }
        if path.parent().is_some_and(|p| p.to_string_lossy().contains('*')) {
            return Err(format!("file_sd_configs: {file:?}: only the last path element may hold *"));
        }
        patterns.push(path);
    }
    let refresh_ms = optional_duration(section.refresh_interval.as_deref(), "file_sd_configs.refresh_interval")?.unwrap_or(FILE_SD_REFRESH_DEFAULT_MS);
    Ok(FileSd { patterns, refresh_ms })
}

pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn optional_duration(text: Option<&str>, key: &str) -> Result<Option<i64>, String> {
    match text {
        None => Ok(None),
        Some(t) => match parse_prometheus_duration_ms(t.trim()) {
            Some(ms) if ms > 0 => Ok(Some(ms)),
            _ => Err(format!("{key}: {t:?} is not a positive duration such as 15s or 1m")),
        },
    }
}

#[cfg(test)]
mod tests;
