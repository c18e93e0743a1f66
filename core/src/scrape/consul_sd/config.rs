//! A `consul_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`server` localhost:8500, `tag_separator` `,`, `allow_stale` true, 30 s refresh), its
//! `username`/`password` and `token`, and the HTTP client settings a job has.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, BasicAuthSection, ClientAccess, Scheme, Url};

with_client_keys! {
    /// Prometheus' `consul_sd_config`: a Consul agent's catalog, with the HTTP client settings a
    /// job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ConsulSdSection {
        server: Option<String>,
        path_prefix: String,
        token: Option<String>,
        datacenter: String,
        namespace: String,
        partition: String,
        tag_separator: Option<String>,
        scheme: Option<String>,
        username: Option<String>,
        password: Option<String>,
        allow_stale: Option<bool>,
        refresh_interval: Option<String>,
        services: Vec<String>,
        tags: Vec<String>,
        node_meta: BTreeMap<String, String>,
        filter: String,
        health_filter: String,
    }
}

/// How often a Consul catalog is read when `refresh_interval` is not given (Prometheus').
const CONSUL_SD_REFRESH_DEFAULT_MS: i64 = 30_000;

/// One `consul_sd_configs` entry, checked.
pub struct ConsulSd {
    /// `scheme://server/path_prefix`, as shown in messages.
    pub base_url: String,
    /// This entry's source name among the asked groups: the base URL and a hash of every
    /// setting that changes the answer (two entries on one server stay apart).
    pub source: String,
    pub location: Url,
    pub token: Option<String>,
    /// Empty: the agent's own (asked at `/v1/agent/self`).
    pub datacenter: String,
    pub namespace: String,
    pub partition: String,
    pub tag_separator: String,
    pub allow_stale: bool,
    pub refresh_ms: i64,
    pub services: Vec<String>,
    pub tags: Vec<String>,
    pub node_meta: Vec<(String, String)>,
    pub filter: String,
    pub health_filter: String,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for ConsulSd {
    /// The server and schedule (the token and credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulSd").field("base_url", &self.base_url).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: ConsulSdSection, base: &Path, position: usize) -> Result<ConsulSd, String> {
    let mut scheme = s.scheme.unwrap_or_else(|| "http".to_string());
    let mut server = s.server.unwrap_or_else(|| "localhost:8500".to_string());
    // As Consul's client reads its address: an `http://` or `https://` prefix sets the scheme.
    if let Some((prefix, rest)) = server.split_once("://") {
        match prefix.to_ascii_lowercase().as_str() {
            "http" => {}
            "https" => scheme = "https".to_string(),
            other => return Err(format!("server {server:?}: unknown scheme {other:?}")),
        }
        server = rest.to_string();
    }
    if server.trim().is_empty() {
        return Err("server must not be empty".into());
    }
    if s.token.as_deref().is_some_and(|t| !t.is_empty()) && (s.authorization.is_some() || s.bearer_token.is_some() || s.bearer_token_file.is_some()) {
        return Err("at most one of token, authorization and bearer_token(_file) may be set".into());
    }
    let prefix = s.path_prefix.trim_end_matches('/');
    let prefix = if prefix.is_empty() || prefix.starts_with('/') { prefix.to_string() } else { format!("/{prefix}") };
    let base_url = format!("{scheme}://{server}{prefix}");
    let location = Url::parse(&format!("{base_url}/")).map_err(|e| format!("scheme and server: {e}"))?;
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(CONSUL_SD_REFRESH_DEFAULT_MS);
    // As Prometheus: `username`/`password` are basic auth when either is not empty.
    let (username, password) = (s.username.unwrap_or_default(), s.password.unwrap_or_default());
    let basic_auth = match (username.is_empty() && password.is_empty(), s.basic_auth) {
        (false, Some(_)) => return Err("at most one of username/password and basic_auth may be set".into()),
        (false, None) => Some(BasicAuthSection { username, password: Some(password), password_file: None }),
        (true, basic) => basic,
    };
    let _ = s.enable_http2;
    let access = client_access(
        client_sections!(s, basic_auth),
        location.scheme == Scheme::Https,
        base,
    )?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    // The token (an ACL sees its own services) and the entry's position keep apart entries
    // on one server that differ in credentials.
    std::hash::Hash::hash(&(&s.datacenter, &s.namespace, &s.partition, &s.services, &s.tags, &s.node_meta, &s.filter, &s.health_filter, s.allow_stale, &s.tag_separator, &s.token), &mut hasher);
    let source = format!("{base_url} #{position} {:016x}", std::hash::Hasher::finish(&hasher));
    Ok(ConsulSd {
        base_url,
        source,
        location,
        token: s.token.filter(|t| !t.is_empty()),
        datacenter: s.datacenter,
        namespace: s.namespace,
        partition: s.partition,
        tag_separator: s.tag_separator.unwrap_or_else(|| ",".to_string()),
        allow_stale: s.allow_stale.unwrap_or(true),
        refresh_ms,
        services: s.services,
        tags: s.tags,
        node_meta: s.node_meta.into_iter().collect(),
        filter: s.filter,
        health_filter: s.health_filter,
        access,
    })
}
