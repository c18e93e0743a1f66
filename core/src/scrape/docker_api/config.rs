//! How docker_sd and dockerswarm_sd entries reach their daemon, checked: the `host`
//! (`unix://`, `tcp://`, `http://` or `https://`) with the HTTP client settings Prometheus
//! gives the latter two, and `filters` as the Docker API's JSON.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::scrape::config::{client_access, ClientAccess, ClientSections, FilterSection, Scheme, Url};

/// Where a Docker daemon listens.
#[derive(Debug, Clone)]
pub enum DockerHost {
    /// `unix:///path`: plain HTTP over the socket.
    Unix(PathBuf),
    /// `http://`, `https://` (with the entry's HTTP client settings) or `tcp://` (as http).
    Http(Url),
}

/// How a Docker daemon is reached and spoken to (docker_sd's and dockerswarm_sd's `host`
/// and HTTP client settings), checked.
pub struct DockerDaemon {
    /// As written, for messages.
    pub host_text: String,
    pub host: DockerHost,
    /// Whether the credentials and `http_headers` are sent: for `http://` and `https://`
    /// hosts only, as Prometheus gives its HTTP client settings to those alone.
    pub client_settings: bool,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
}

/// A Docker daemon's `host` and HTTP client settings, as docker_sd and dockerswarm_sd take
/// them: `unix://` (settings unused), `tcp://` (as `http://`, settings unused), `http://` or
/// `https://`.
pub(crate) fn resolve_docker_daemon(host_text: String, sections: ClientSections, base: &Path) -> Result<DockerDaemon, String> {
    if host_text.is_empty() {
        return Err("host missing".into());
    }
    let lower = host_text.to_ascii_lowercase();
    let host = if let Some(path) = lower.strip_prefix("unix://").map(|_| &host_text["unix://".len()..]) {
        if path.is_empty() {
            return Err(format!("host {:?}: no socket path", host_text));
        }
        DockerHost::Unix(PathBuf::from(path))
    } else if lower.starts_with("tcp://") {
        DockerHost::Http(Url::parse(&format!("http://{}", &host_text["tcp://".len()..])).map_err(|e| format!("host: {e}"))?)
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        DockerHost::Http(Url::parse(&host_text).map_err(|e| format!("host: {e}"))?)
    } else {
        return Err(format!("host {:?}: use unix://, tcp://, http:// or https://", host_text));
    };
    let https = matches!(&host, DockerHost::Http(url) if url.scheme == Scheme::Https);
    let access = client_access(sections, https, base)?;
    Ok(DockerDaemon {
        client_settings: lower.starts_with("http://") || lower.starts_with("https://"),
        host_text,
        host,
        access,
    })
}

/// Docker's filter form of `filters`: each name with all its values, in the order given
/// (`{"name": ["value", ...]}`), or empty when there is none to send.
pub(crate) fn docker_filters(sections: Vec<FilterSection>) -> Result<String, String> {
    let mut filters: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for filter in sections {
        if filter.name.is_empty() {
            return Err("filters: a filter needs a name".into());
        }
        // As Prometheus adds them, value by value: a filter without values is not sent.
        if !filter.values.is_empty() {
            filters.entry(filter.name).or_default().extend(filter.values);
        }
    }
    if filters.is_empty() {
        return Ok(String::new());
    }
    serde_json::to_string(&filters).map_err(|e| format!("filters: {e}"))
}
