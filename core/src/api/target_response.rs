//! VictoriaMetrics' `/target_response`: what a scrape target answers when asked as its
//! scrapes ask it (the job's headers, credentials, TLS, proxy, timeout and body limit),
//! fetched now on the client's behalf and passed on with the target's Content-Type, for
//! finding out why a scrape fails or what it reads. VictoriaMetrics names targets by an
//! id of its own; here the target is named as `/api/v1/targets` lists it, by `scrapePool`
//! and `scrapeUrl` (an `id` is a 400 saying so).

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use super::params::Params;
use super::{Api, ApiError};
use crate::scrape::status::TargetStatus;

/// The active target the request names by `scrapePool` and `scrapeUrl`; a 400 naming a
/// missing parameter (or VictoriaMetrics' `id`), a 404 when no active target matches.
pub(super) fn named_target(api: &Api, params: &Params) -> Result<TargetStatus, ApiError> {
    if let Some(id) = params.get("id").filter(|id| !id.is_empty()) {
        return Err(ApiError::bad_data(format!("there are no target ids here (id={id}): name the target by scrapePool and scrapeUrl, as /api/v1/targets lists them")));
    }
    let given = |name: &str| params.get(name).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::bad_data(format!("missing parameter {name:?}: name the target by scrapePool and scrapeUrl, as /api/v1/targets lists them")));
    let (pool, url) = (given("scrapePool")?, given("scrapeUrl")?);
    api.scrape_targets.find_active(pool, url).ok_or_else(|| ApiError::no_such(format!("no active target of scrape pool {pool:?} is scraped at {url:?}")))
}

/// The target's answer now: its body with its Content-Type (the text format's when it
/// gives none); a 502 naming why there is none (an error status, a refused connection, a
/// timeout, a body past the job's limit).
pub(super) async fn handle(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let target = named_target(api, params)?.target;
    let (content_type, body) = crate::scrape::scrape_loop::fetch_once(&target).await.map_err(|e| ApiError::bad_gateway(format!("cannot fetch the response of {}: {e}", target.url)))?;
    let mut response = Response::new(Bytes::from(body));
    let content_type = if content_type.is_empty() { "text/plain; charset=utf-8".to_string() } else { content_type };
    let value = HeaderValue::from_str(&content_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    response.headers_mut().insert(header::CONTENT_TYPE, value);
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}
