//! A `puppetdb_sd_configs` entry as written and as checked: Prometheus' keys and defaults
//! (`url` and `query` required, `include_parameters` false, `port` 80, `refresh_interval`
//! 60 s), the query endpoint `<url path>/pdb/query/v4` as Prometheus joins it, and the HTTP
//! client settings a job has.

use std::path::Path;

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, optional_duration, with_client_keys, ClientAccess, Scheme, Url};

/// Prometheus' defaults (its `DefaultSDConfig`).
const REFRESH_DEFAULT_MS: i64 = 60_000;
const PORT_DEFAULT: i64 = 80;
/// Where PuppetDB answers PQL queries, under the entry's URL path.
const QUERY_PATH: &str = "pdb/query/v4";

with_client_keys! {
    /// Prometheus' `puppetdb_sd_config`: the resources a PQL query finds in PuppetDB, with the
    /// HTTP client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct PuppetDbSdSection {
        url: Option<String>,
        query: Option<String>,
        include_parameters: Option<bool>,
        port: Option<i64>,
        refresh_interval: Option<String>,
    }
}

/// One `puppetdb_sd_configs` entry, checked.
pub struct PuppetDbSd {
    /// The query endpoint as Prometheus writes it (`<url>/pdb/query/v4`), for messages.
    pub shown: String,
    /// This entry's source name among the asked groups: the endpoint and query (Prometheus'
    /// pseudo-URL), the entry's position and a hash of the settings that change the targets.
    pub source: String,
    /// The query endpoint the PQL query is POSTed to.
    pub endpoint: Url,
    pub query: String,
    pub include_parameters: bool,
    /// Every target's port (the resource's certname is its host).
    pub port: u16,
    pub refresh_ms: i64,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

impl std::fmt::Debug for PuppetDbSd {
    /// The endpoint, query and schedule (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PuppetDbSd").field("endpoint", &self.shown).field("query", &self.query).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Checks entry `position` of a job's `puppetdb_sd_configs` (relative files from `base`),
/// with Prometheus' messages.
pub fn resolve(s: PuppetDbSdSection, base: &Path, position: usize) -> Result<PuppetDbSd, String> {
    let url = s.url.unwrap_or_default();
    if url.is_empty() {
        return Err("URL is missing".into());
    }
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err("URL scheme must be 'http' or 'https'".into());
    }
    let parsed = Url::parse(&url).map_err(|e| if e.contains("has no host") { "host is missing in URL".to_string() } else { e })?;
    let query = s.query.unwrap_or_default();
    if query.is_empty() {
        return Err("query missing".into());
    }
    let port = s.port.unwrap_or(PORT_DEFAULT);
    // Prometheus writes any int (a negative one as a huge unsigned number); here a port no
    // target could have is refused at once.
    let port = u16::try_from(port).map_err(|_| format!("port {port} is not between 0 and 65535"))?;
    let endpoint = Url { path_and_query: query_endpoint(&parsed.path_and_query), ..parsed };
    let shown = crate::scrape::http_get::format_url(&endpoint);
    let refresh_ms = optional_duration(s.refresh_interval.as_deref(), "refresh_interval")?.unwrap_or(REFRESH_DEFAULT_MS);
    let _ = s.enable_http2;
    let sections = client_sections!(s);
    let access = client_access(sections, endpoint.scheme == Scheme::Https, base)?;
    let include_parameters = s.include_parameters.unwrap_or(false);
    // The position keeps apart two entries that differ only in credentials.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(include_parameters, port), &mut hasher);
    let source = format!("puppetdb {shown}?query={query} #{position} {:016x}", std::hash::Hasher::finish(&hasher));
    Ok(PuppetDbSd {
        shown,
        source,
        endpoint,
        query,
        include_parameters,
        port,
        refresh_ms,
        access,
    })
}

/// `path_and_query` with `pdb/query/v4` joined to its path as Go's `path.Join` joins them
/// (cleaned: no empty, `.` or `..` segments, no trailing slash); its query kept.
fn query_endpoint(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    };
    let mut joined = crate::scrape::discovery::join_path(path, QUERY_PATH);
    if let Some(query) = query {
        joined.push('?');
        joined.push_str(query);
    }
    joined
}

#[cfg(test)]
mod tests {
    use super::query_endpoint;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{Credentials, Scheme, ScrapeConfig};

    fn load(entries: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: p, puppetdb_sd_configs: [{entries}]}}]"), std::path::Path::new("/tmp"), LabelLimits::default())
    }

    #[test]
    fn an_entry_takes_prometheus_defaults() {
        let config = load("{url: 'https://puppetdb.example', query: 'resources { type = \"Class\" }'}").expect("valid");
        let sd = &config.jobs[0].puppetdb_sd[0];
        assert_eq!((sd.endpoint.scheme, sd.endpoint.host.as_str(), sd.endpoint.port, sd.endpoint.path_and_query.as_str()), (Scheme::Https, "puppetdb.example", 443, "/pdb/query/v4"));
        assert_eq!(sd.shown, "https://puppetdb.example/pdb/query/v4");
        assert_eq!(sd.query, "resources { type = \"Class\" }");
        assert_eq!((sd.include_parameters, sd.port, sd.refresh_ms, sd.access.follow_redirects), (false, 80, 60_000, true));
        assert!(matches!(sd.access.credentials, Credentials::None));
    }

    #[test]
    fn written_settings_are_taken() {
        let config = load("{url: 'http://pdb:8080/puppetdb/', query: q, include_parameters: true, port: 9100, refresh_interval: 15s, follow_redirects: false, basic_auth: {username: u, password: p}}, {url: 'http://pdb:8080/puppetdb/', query: q}").expect("valid");
        let sds = &config.jobs[0].puppetdb_sd;
        let sd = &sds[0];
        assert_eq!((sd.endpoint.scheme, sd.endpoint.host.as_str(), sd.endpoint.port, sd.endpoint.path_and_query.as_str()), (Scheme::Http, "pdb", 8080, "/puppetdb/pdb/query/v4"));
        assert_eq!((sd.include_parameters, sd.port, sd.refresh_ms, sd.access.follow_redirects), (true, 9100, 15_000, false));
        assert!(matches!(sd.access.credentials, Credentials::Basic { .. }));
        assert_ne!(sds[0].source, sds[1].source, "two entries on one server keep their targets apart");
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 2);
    }

    #[test]
    fn the_endpoint_is_joined_as_prometheus_joins_it() {
        // Prometheus' TestPuppetSlashInURL, and cleaned paths.
        for (url, endpoint) in [
            ("https://puppetserver", "https://puppetserver/pdb/query/v4"),
            ("https://puppetserver/", "https://puppetserver/pdb/query/v4"),
            ("http://puppetserver:8080/", "http://puppetserver:8080/pdb/query/v4"),
            ("http://puppetserver:8080", "http://puppetserver:8080/pdb/query/v4"),
            ("http://p/a//b/./c/../", "http://p/a/b/pdb/query/v4"),
            ("http://p/db?x=1", "http://p/db/pdb/query/v4?x=1"),
        ] {
            let config = load(&format!("{{url: '{url}', query: q}}")).expect("valid");
            assert_eq!(config.jobs[0].puppetdb_sd[0].shown, endpoint, "{url}");
        }
        assert_eq!(query_endpoint("/../.."), "/pdb/query/v4");
    }

    #[test]
    fn bad_entries_are_refused_naming_the_cause() {
        for (entry, expected) in [
            ("{query: q}", "puppetdb_sd_configs[0]: URL is missing"),
            ("{url: '', query: q}", "URL is missing"),
            ("{url: 'http://pdb:8080'}", "puppetdb_sd_configs[0]: query missing"),
            ("{url: 'http://pdb:8080', query: ''}", "query missing"),
            ("{url: 'ftp://pdb', query: q}", "URL scheme must be 'http' or 'https'"),
            ("{url: 'pdb:8080', query: q}", "URL scheme must be 'http' or 'https'"),
            ("{url: 'http://', query: q}", "host is missing in URL"),
            ("{url: 'http://u:p@pdb', query: q}", "user information is not supported"),
            ("{url: 'http://pdb', query: q, port: -1}", "port -1 is not between 0 and 65535"),
            ("{url: 'http://pdb', query: q, port: 65536}", "not between 0 and 65535"),
            ("{url: 'http://pdb', query: q, refresh_interval: soon}", "refresh_interval"),
            ("{url: 'http://pdb', query: q, server: x}", "unknown field"),
            ("{url: 'http://pdb', query: q, bearer_token: a, bearer_token_file: b}", "bearer_token and bearer_token_file are exclusive"),
        ] {
            let error = load(entry).err().unwrap_or_else(|| panic!("{entry} loaded"));
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }

    #[test]
    fn the_shown_config_masks_the_entry_secrets() {
        let config = load("{url: 'http://pdb:8080', query: q, basic_auth: {username: u, password: pdbpass}}, {url: 'http://pdb:8080', query: q, bearer_token: pdbbearer}, {url: 'http://pdb:8080', query: q, authorization: {credentials: pdbtoken}}").expect("valid");
        let yaml = &config.jobs[0].shown_yaml;
        assert!(yaml.contains("puppetdb_sd_configs:") && yaml.contains("url: http://pdb:8080") && yaml.contains("query: q"), "{yaml}");
        for secret in ["pdbpass", "pdbbearer", "pdbtoken"] {
            assert!(!yaml.contains(secret), "{secret} shown in {yaml}");
        }
        assert_eq!(yaml.matches("<secret>").count(), 3, "{yaml}");
    }
}
