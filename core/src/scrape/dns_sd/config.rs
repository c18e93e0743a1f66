//! A `dns_sd_configs` entry as written and as checked: names, record type (SRV by
//! default), the port of record types that carry none, 30 s refresh by default.

use serde::Deserialize;

use crate::scrape::config::optional_duration;

/// Prometheus' `dns_sd_config`: names looked up every `refresh_interval` (30 s by default).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSdSection {
    names: Vec<String>,
    refresh_interval: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    port: u16,
}

/// How often dns_sd names are looked up when `refresh_interval` is not given (Prometheus').
const DNS_SD_REFRESH_DEFAULT_MS: i64 = 30_000;

/// One `dns_sd_configs` entry, checked: each name is a source of its own.
#[derive(Debug, Clone)]
pub struct DnsSd {
    pub names: Vec<String>,
    pub kind: crate::scrape::dns::RecordType,
    /// The targets' port for A, AAAA, MX and NS records (SRV records carry theirs).
    pub port: u16,
    pub refresh_ms: i64,
}

impl DnsSd {
    /// What identifies `name`'s groups among the asked sources.
    pub fn source(&self, name: &str) -> String {
        format!("dns {:?} {} {name}", self.kind, self.port)
    }
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: DnsSdSection) -> Result<DnsSd, String> {
    if s.names.is_empty() || s.names.iter().any(|n| n.trim().is_empty()) {
        return Err("names must hold at least one name, none empty".into());
    }
    let type_text = s.kind.unwrap_or_else(|| "SRV".to_string());
    let kind = crate::scrape::dns::RecordType::parse(&type_text).ok_or_else(|| format!("type {type_text:?} must be SRV, A, AAAA, MX or NS"))?;
    if kind != crate::scrape::dns::RecordType::Srv && s.port == 0 {
        return Err(format!("a port is required for {type_text} records (only SRV records carry one)"));
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(DNS_SD_REFRESH_DEFAULT_MS);
    Ok(DnsSd { names: s.names, kind, port: s.port, refresh_ms })
}
