//! An `ec2_sd_configs` entry (and an `aws_sd_configs` entry's connection settings) as
//! written and as checked: region or endpoint, keys, filters, Prometheus' defaults (`port` 80,
//! 60 s refresh); the HTTP client settings' TLS, proxy and headers are used.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, default_port_80, optional_duration, with_client_keys, ExtraHeaders, FilterSection, Scheme, Secret, Url};
use crate::scrape::proxy::ProxyChoice;

with_client_keys! {
    // `aws_sd_configs` with `role: ec2` builds this section of its own keys.
    pub(crate),
    /// Prometheus' `ec2_sd_config`: the instances of an AWS region, asked with Signature Version
    /// 4; the HTTP client settings' TLS, proxy and `http_headers` are used (credentials are not:
    /// AWS' signature takes the `Authorization` header, as in Prometheus).
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct Ec2SdSection {
        pub(crate) endpoint: String,
        pub(crate) region: String,
        pub(crate) access_key: String,
        pub(crate) secret_key: Option<String>,
        pub(crate) profile: String,
        pub(crate) role_arn: String,
        pub(crate) external_id: String,
        pub(crate) refresh_interval: Option<String>,
        #[serde(default = "default_port_80")]
        pub(crate) port: u16,
        pub(crate) filters: Vec<FilterSection>,
    }
}

/// How often EC2 is asked when `refresh_interval` is not given (Prometheus').
const EC2_SD_REFRESH_DEFAULT_MS: i64 = 60_000;

/// One `ec2_sd_configs` entry, checked.
pub struct Ec2Sd {
    /// This entry's source name among the asked groups: its region or endpoint and position.
    pub source: String,
    /// The region or endpoint, for messages.
    pub shown: String,
    /// Empty: found as `scrape::aws::credentials::region` says.
    pub region: String,
    /// `endpoint` (none: the environment's or EC2's regional one).
    pub endpoint: Option<Url>,
    pub keys: crate::scrape::aws::credentials::Settings,
    pub port: u16,
    /// `filters` in order, each name with its values.
    pub filters: Vec<(String, Vec<String>)>,
    pub refresh_ms: i64,
    pub tls: Result<net::client::ClientTls, String>,
    pub proxy: ProxyChoice,
    pub http_headers: ExtraHeaders,
}

impl std::fmt::Debug for Ec2Sd {
    /// The region and schedule (keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Sd").field("shown", &self.shown).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: Ec2SdSection, base: &Path, position: usize) -> Result<Ec2Sd, String> {
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(EC2_SD_REFRESH_DEFAULT_MS);
    let _ = (s.enable_http2, s.follow_redirects);
    let endpoint = match s.endpoint.as_str() {
        "" => None,
        text => Some(Url::parse(text).map_err(|e| format!("endpoint: {e}"))?),
    };
    // A query would be sent but not signed (AWS would refuse every request).
    if endpoint.as_ref().is_some_and(|url| url.path_and_query.contains('?')) {
        return Err(format!("endpoint {:?}: a query is not allowed", s.endpoint));
    }
    let https = endpoint.as_ref().is_none_or(|url| url.scheme == Scheme::Https);
    let access = client_access(client_sections!(s), https, base)?;
    let mut filters = Vec::new();
    for filter in s.filters {
        // Prometheus' check, in its words.
        if filter.values.is_empty() {
            return Err("EC2 SD configuration filter values cannot be empty".into());
        }
        if filter.name.is_empty() {
            return Err("filters: a filter needs a name".into());
        }
        filters.push((filter.name, filter.values));
    }
    let shown = if s.endpoint.is_empty() { s.region.clone() } else { s.endpoint.clone() };
    let shown = if shown.is_empty() { "(region from the environment)".to_string() } else { shown };
    Ok(Ec2Sd {
        source: format!("ec2 {shown} #{position}"),
        shown,
        region: s.region,
        endpoint,
        keys: crate::scrape::aws::credentials::Settings { access_key: s.access_key, secret_key: s.secret_key.filter(|k| !k.is_empty()).map(Secret::Inline), profile: s.profile, role_arn: s.role_arn, external_id: s.external_id, use_fips_sts_endpoint: false },
        port: s.port,
        filters,
        refresh_ms,
        tls: access.tls,
        proxy: access.proxy,
        http_headers: access.headers,
    })
}
