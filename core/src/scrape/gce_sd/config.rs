//! A `gce_sd_configs` entry as written and as checked: a Compute Engine project's zone with
//! Prometheus' defaults (`port` 80, `tag_separator` `,`, 60 s refresh).

use serde::Deserialize;

use crate::scrape::config::optional_duration;

/// Prometheus' `gce_sd_config`: the instances of a Compute Engine project's zone, asked with
/// Google's Application Default Credentials (Prometheus gives it no HTTP client settings).
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GceSdSection {
    project: String,
    zone: String,
    filter: String,
    refresh_interval: Option<String>,
    port: u16,
    tag_separator: String,
}

impl Default for GceSdSection {
    /// Prometheus' defaults.
    fn default() -> Self {
        GceSdSection { project: String::new(), zone: String::new(), filter: String::new(), refresh_interval: None, port: 80, tag_separator: ",".into() }
    }
}

/// How often Compute Engine is asked when `refresh_interval` is not given (Prometheus').
const GCE_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// One `gce_sd_configs` entry, checked.
#[derive(Debug, Clone)]
pub struct GceSd {
    /// This entry's source name among the asked groups: its project, zone and position.
    pub source: String,
    pub project: String,
    pub zone: String,
    pub filter: String,
    pub refresh_ms: i64,
    pub port: u16,
    pub tag_separator: String,
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: GceSdSection, position: usize) -> Result<GceSd, String> {
    // Prometheus' checks, in its words.
    if s.project.is_empty() {
        return Err("GCE SD configuration requires a project".into());
    }
    if s.zone.is_empty() {
        return Err("GCE SD configuration requires a zone".into());
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(GCE_SD_REFRESH_DEFAULT_MS);
    Ok(GceSd { source: format!("gce {}/{} #{position}", s.project, s.zone), project: s.project, zone: s.zone, filter: s.filter, refresh_ms, port: s.port, tag_separator: s.tag_separator })
}
