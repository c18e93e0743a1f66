//! The Docker Engine API as docker_sd and dockerswarm_sd ask it: one client per entry (over
//! the daemon's unix socket, or HTTP(S) with the entry's client settings) and JSON GETs whose
//! non-`200` answers become errors carrying the daemon's `message`. Requests are unversioned,
//! so the daemon answers in its own API version.

use std::time::Duration;

pub mod config;

use self::config::{DockerDaemon, DockerHost};
use super::config::{Credentials, ExtraHeaders, Url};
use super::http_get::{self, Get};

/// The largest answer read (thousands of containers, tasks or nodes fit many times over).
const BODY_BYTES_MAX: usize = 64 << 20;

/// A client for the daemon (kept alive between refreshes).
pub fn client(daemon: &DockerDaemon) -> Result<net::client::HttpClient, String> {
    match &daemon.host {
        DockerHost::Unix(path) => Ok(net::client::HttpClient::unix(path.clone(), "docker".into())),
        DockerHost::Http(url) => daemon.access.client(url),
    }
}

/// One GET of the daemon, its `200` body decoded; the request may take `timeout`.
pub async fn get_json<T: serde::de::DeserializeOwned>(client: &mut net::client::HttpClient, daemon: &DockerDaemon, timeout: Duration, path_and_query: &str) -> Result<T, String> {
    let headers = if daemon.client_settings {
        daemon.access.request_headers("application/json", None, timeout).await?
    } else {
        http_get::request_headers("application/json", None, &Credentials::None, &ExtraHeaders::default(), timeout).await?
    };
    let response = match &daemon.host {
        DockerHost::Unix(path) => client.get(path_and_query, &headers, timeout, BODY_BYTES_MAX).await.map_err(|e| format!("{}: {e}", path.display()))?,
        DockerHost::Http(base) => {
            let prefix = base.path_and_query.trim_end_matches('/');
            let location = Url { path_and_query: format!("{prefix}{path_and_query}"), ..base.clone() };
            let shown = format!("{}{path_and_query}", daemon.host_text.trim_end_matches('/'));
            let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &daemon.access };
            http_get::get(get).await?
        }
    };
    if response.status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(&response.body).ok().and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string));
        let status = http_get::status_error(response.status);
        return Err(match message {
            Some(message) => format!("{status}: {message}"),
            None => status,
        });
    }
    serde_json::from_slice(&response.body).map_err(|e| format!("cannot read the daemon's answer: {e}"))
}

/// `path` with `filters` (Docker's filter JSON, empty for none) as its `filters` query.
pub fn with_filters(path: &str, filters: &str) -> String {
    if filters.is_empty() {
        path.to_string()
    } else {
        format!("{path}?filters={}", super::discovery::query_escape(filters))
    }
}
