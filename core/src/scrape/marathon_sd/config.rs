//! A `marathon_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`servers` required, `refresh_interval` 30 s), the DC/OS `auth_token` (or
//! `auth_token_file`), exclusive with the other credentials as Prometheus checks, and the
//! HTTP client settings a job has.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Secret, Url};

/// Prometheus' default (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 30_000;
/// What Prometheus appends to a server, as written, to list the apps with their tasks.
pub const APP_LIST_PATH: &str = "/v2/apps/?embed=apps.tasks";

with_client_keys! {
    /// Prometheus' `marathon_sd_config`: the apps of a Marathon cluster, with the HTTP client
    /// settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct MarathonSdSection {
        servers: Vec<String>,
        refresh_interval: Option<String>,
        auth_token: Option<String>,
        auth_token_file: Option<PathBuf>,
    }
}

/// One `marathon_sd_configs` entry, checked.
pub struct MarathonSd {
    /// The servers as written.
    pub servers: Vec<String>,
    /// Each server's app list (`<server>/v2/apps/?embed=apps.tasks`), in `servers`' order.
    pub app_lists: Vec<Url>,
    /// This entry's source name among the asked groups: the entry's position and servers.
    pub source: String,
    /// The servers, for logs.
    pub shown: String,
    /// The DC/OS token sent as `Authorization: token=<token>` (a file is read at every
    /// request, trimmed).
    pub auth_token: Option<Secret>,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for MarathonSd {
    /// The servers and schedule (tokens stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MarathonSd").field("servers", &self.servers).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `marathon_sd_configs` (relative files from `base`).
pub fn resolve(s: MarathonSdSection, base: &Path, position: usize) -> Result<MarathonSd, String> {
    // Prometheus' checks and words, in its order, before the HTTP client's own.
    if s.servers.is_empty() {
        return Err("marathon_sd: must contain at least one Marathon server".into());
    }
    let token = s.auth_token.clone().filter(|t| !t.is_empty());
    let token_file = s.auth_token_file.clone().filter(|f| !f.as_os_str().is_empty());
    if token.is_some() && token_file.is_some() {
        return Err("marathon_sd: at most one of auth_token & auth_token_file must be configured".into());
    }
    if token.is_some() || token_file.is_some() {
        if s.basic_auth.is_some() {
            return Err("marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured".into());
        }
        if s.bearer_token.as_deref().is_some_and(|t| !t.is_empty()) || s.bearer_token_file.as_deref().is_some_and(|f| !f.as_os_str().is_empty()) {
            return Err("marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured".into());
        }
        if s.authorization.is_some() {
            return Err("marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured".into());
        }
    }
    // Prometheus takes any text and fails at each refresh; a server that cannot be asked is
    // refused here at once.
    let mut app_lists = Vec::with_capacity(s.servers.len());
    for server in &s.servers {
        if server.contains(['?', '#']) {
            return Err(format!("marathon_sd: invalid Marathon server URL {server:?}: a query or fragment would swallow the app list's path"));
        }
        app_lists.push(Url::parse(&format!("{server}{APP_LIST_PATH}")).map_err(|e| format!("marathon_sd: invalid Marathon server URL {server:?}: {e}"))?);
    }
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let auth_token = match (token, token_file) {
        (Some(token), _) => Some(Secret::Inline(token)),
        (None, Some(file)) => Some(Secret::File(base.join(file))),
        (None, None) => None,
    };
    let servers = s.servers.clone();
    let https = app_lists.iter().any(|u| u.scheme == Scheme::Https);
    let _ = s.enable_http2;
    let access = client_access(client_sections!(s), https, base)?;
    let shown = servers.join(", ");
    Ok(MarathonSd {
        // The position keeps apart two entries on the same servers that differ in credentials.
        source: format!("marathon #{position} {}", servers.join(",")),
        shown,
        servers,
        app_lists,
        auth_token,
        refresh_ms,
        access,
    })
}

#[cfg(test)]
mod tests {
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, ScrapeConfig, Secret};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: m, marathon_sd_configs: [{entries}]}}]"), std::path::Path::new("/etc/prom"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults_and_its_token() {
        let config = load("{servers: ['http://m1:8080', 'https://m2:8443/marathon']}, {servers: ['http://m1:8080'], refresh_interval: 2m, auth_token_file: token.txt, follow_redirects: false}, {servers: ['http://m1:8080'], auth_token: dcos}").expect("valid");
        let sds = &config.jobs[0].marathon_sd;
        assert_eq!((sds[0].refresh_ms, sds[0].access.follow_redirects), (30_000, true));
        let lists: Vec<(&str, u16, &str)> = sds[0].app_lists.iter().map(|u| (u.host.as_str(), u.port, u.path_and_query.as_str())).collect();
        assert_eq!(lists, [("m1", 8080, "/v2/apps/?embed=apps.tasks"), ("m2", 8443, "/marathon/v2/apps/?embed=apps.tasks")]);
        assert!(sds[0].auth_token.is_none() && matches!(sds[0].access.credentials, Credentials::None));
        assert_eq!((sds[1].refresh_ms, sds[1].access.follow_redirects), (120_000, false));
        assert!(matches!(&sds[1].auth_token, Some(Secret::File(path)) if path == std::path::Path::new("/etc/prom/token.txt")), "{:?}", sds[1].auth_token);
        assert!(matches!(&sds[2].auth_token, Some(Secret::Inline(token)) if token == "dcos"));
        assert!(matches!(sds[2].access.credentials, Credentials::None), "the token is not a bearer token");
        assert_ne!(sds[1].source, sds[2].source);
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 3);
        assert!(!format!("{:?}", sds[2]).contains("dcos"));
    }

    #[test]
    fn bad_entries_are_refused_in_prometheus_words() {
        for (entry, expected) in [
            ("{}", "marathon_sd_configs[0]: marathon_sd: must contain at least one Marathon server"),
            ("{servers: []}", "marathon_sd: must contain at least one Marathon server"),
            ("{servers: [m], auth_token: a, auth_token_file: f}", "marathon_sd: at most one of auth_token & auth_token_file must be configured"),
            ("{servers: ['http://m'], auth_token: a, basic_auth: {username: u}}", "marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured"),
            ("{servers: ['http://m'], auth_token_file: f, bearer_token: b}", "marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured"),
            ("{servers: ['http://m'], auth_token: a, bearer_token_file: b}", "at most one of bearer_token, bearer_token_file, auth_token & auth_token_file"),
            ("{servers: ['http://m'], auth_token: a, authorization: {credentials: c}}", "marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured"),
            ("{servers: ['m:8080']}", "marathon_sd: invalid Marathon server URL \"m:8080\""),
            ("{servers: ['http://m', '']}", "marathon_sd: invalid Marathon server URL \"\""),
            ("{servers: ['http://m/?x=1']}", "a query or fragment"),
            ("{servers: ['http://m'], refresh_interval: 0s}", "refresh_interval"),
            ("{servers: ['http://m'], server: x}", "unknown field"),
            ("{servers: ['http://m'], basic_auth: {username: u}, bearer_token: b}", "at most one of basic_auth"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
        // Empty tokens are no tokens, as Prometheus counts them.
        assert!(load("{servers: ['http://m'], auth_token: '', basic_auth: {username: u}}").is_ok());
    }

    #[test]
    fn the_shown_config_masks_the_tokens() {
        let config = load("{servers: ['http://m:8080'], auth_token: dcostoken1}, {servers: ['http://m:8080'], basic_auth: {username: u, password: dcospass2}}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("marathon_sd_configs:") && yaml.contains("http://m:8080"), "{yaml}");
        assert!(!yaml.contains("dcostoken1") && !yaml.contains("dcospass2"), "{yaml}");
        assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
    }
}
