//! An `http_sd_configs` entry as written and as checked: a URL answering a JSON list of
//! target groups (asked every 60 s by default), with the HTTP client settings a job has.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

with_client_keys! {
    /// Prometheus' `http_sd_config`: a URL answering a JSON list of target groups, with the
    /// HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct HttpSdSection {
        url: String,
        refresh_interval: Option<String>,
    }
}

/// How often an http_sd URL is asked again when `refresh_interval` is not given (Prometheus').
const HTTP_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// One `http_sd_configs` entry, checked.
pub struct HttpSd {
    /// As written (it is also the `__meta_url` label of its targets).
    pub url: String,
    pub location: Url,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for HttpSd {
    /// The URL and schedule (credentials and TLS keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSd").field("url", &self.url).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: HttpSdSection, base: &Path) -> Result<HttpSd, String> {
    if s.url.is_empty() {
        return Err("url is required".into());
    }
    let location = Url::parse(&s.url)?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(HTTP_SD_REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let access = client_access(
        client_sections!(s),
        location.scheme == Scheme::Https,
        base,
    )?;
    Ok(HttpSd { url: s.url, location, refresh_ms, access })
}
