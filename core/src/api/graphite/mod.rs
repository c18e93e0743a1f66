//! VictoriaMetrics' Graphite query surface: the metrics API (`/metrics/find`,
//! `/metrics/expand`, `/metrics/index.json`), the tags API (`/tags…`), and the render API
//! (`/render`, `/functions`), each also under `/graphite/`. Names are Graphite paths
//! (`__name__` as sent by the Graphite line protocol); tags are labels, `name` being
//! `__name__`. Every read honours the request's and the client's read filters.

mod find;
mod render;
mod tags;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};

use super::params::Params;
use super::{Api, ApiError};

/// Paths of the tags API that name an operation, not a tag (`/tags/<tag>` is the rest).
const TAG_OPERATIONS: [&str; 6] = ["/tags/tagSeries", "/tags/tagMultiSeries", "/tags/findSeries", "/tags/autoComplete/tags", "/tags/autoComplete/values", "/tags/delSeries"];

/// `path` without one trailing slash (graphite-web's clients add one: `/metrics/find/`).
fn without_slash(path: &str) -> &str {
    path.strip_suffix('/').filter(|p| !p.is_empty()).unwrap_or(path)
}

/// Whether `route` answers `path` (after `api_path` took off a `/graphite` prefix).
pub fn is_graphite_path(path: &str) -> bool {
    let path = without_slash(path);
    matches!(path, "/metrics/find" | "/metrics/expand" | "/metrics/index.json" | "/tags" | "/render" | "/functions") || path.starts_with("/tags/") || path.starts_with("/functions/")
}

/// Whether `path` changes what is stored (registering or deleting series): a write for
/// `tls.write_allowed_sans`; every other Graphite path is a read.
pub fn is_graphite_write_path(path: &str) -> bool {
    matches!(without_slash(path), "/tags/tagSeries" | "/tags/tagMultiSeries" | "/tags/delSeries")
}

/// The request-metrics label of a path of `is_graphite_path`.
pub fn endpoint_label(path: &str) -> &'static str {
    match path {
        p if p.starts_with("/metrics/") => "graphite_metrics",
        "/render" => "graphite_render",
        p if p.starts_with("/functions") => "graphite_functions",
        _ => "graphite_tags",
    }
}

/// Answers a path of `is_graphite_path`. Reads take GET or POST (a form body is read, as
/// graphite-web and VictoriaMetrics read it); `/tags/delSeries` needs the admin API.
pub async fn route(api: &Api, request: &Request<Bytes>, path: &str) -> Result<Response<Bytes>, ApiError> {
    let method = request.method();
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::method_not_allowed("GET, POST"));
    }
    let params = api.params(request)?;
    let params = &params;
    match without_slash(path) {
        "/metrics/find" => find::handle_find(api, params).await,
        "/metrics/expand" => find::handle_expand(api, params).await,
        "/metrics/index.json" => find::handle_index(api, params).await,
        "/render" => render::handle_render(api, params).await,
        "/functions" => Ok(json(StatusCode::OK, graphite::functions_json(), None)),
        p if p.starts_with("/functions/") => render::handle_function(&p["/functions/".len()..]),
        "/tags" => tags::handle_tags(api, params).await,
        "/tags/tagSeries" => tags::handle_tag_series(params, false),
        "/tags/tagMultiSeries" => tags::handle_tag_series(params, true),
        "/tags/findSeries" => tags::handle_find_series(api, params).await,
        "/tags/autoComplete/tags" => tags::handle_autocomplete_tags(api, params).await,
        "/tags/autoComplete/values" => tags::handle_autocomplete_values(api, params).await,
        "/tags/delSeries" => tags::handle_del_series(api, params).await,
        p => {
            debug_assert!(p.starts_with("/tags/") && !TAG_OPERATIONS.contains(&p));
            tags::handle_tag_values(api, &p["/tags/".len()..], params).await
        }
    }
}

/// A JSON answer, wrapped as `jsonp(…)` (JavaScript) when the request names a callback.
fn json(status: StatusCode, body: String, jsonp: Option<&str>) -> Response<Bytes> {
    match jsonp {
        Some(callback) => answer(status, format!("{callback}({body})"), "text/javascript; charset=utf-8"),
        None => answer(status, body, "application/json"),
    }
}

/// An answer of `body` as `content_type`.
fn answer(status: StatusCode, body: String, content_type: &'static str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

/// The `jsonp` callback: a JavaScript identifier path (`cb`, `jQuery1_2.x`), so the answer
/// cannot be made to run other script; anything else is a 400.
fn jsonp_param(params: &Params) -> Result<Option<&str>, ApiError> {
    match params.get("jsonp") {
        None | Some("") => Ok(None),
        Some(callback) if callback.len() <= 256 && callback.split('.').all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')) => Ok(Some(callback)),
        Some(other) => Err(ApiError::bad_data(format!("invalid parameter \"jsonp\": {other:?} is not a JavaScript function name"))),
    }
}

/// A boolean parameter as Go's `strconv.ParseBool` reads it; absent or empty is false.
fn bool_param(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(false),
        Some(text) => super::admin::parse_go_bool(text).ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"{name}\": {text:?} is not a boolean"))),
    }
}

/// `limit`: a count (absent, empty or not positive: `default`).
fn limit_param(params: &Params, default: usize) -> Result<usize, ApiError> {
    match params.integer("limit").map_err(ApiError::bad_data)? {
        Some(n) if n > 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        _ => Ok(default),
    }
}

/// A time parameter (`from`, `until`) as Graphite writes them (`now`, `-6h`, `now-1d`, Unix
/// seconds, `HH:MM_YYYYMMDD`, …: what Grafana sends), or as the Prometheus API takes them
/// (fractional seconds, RFC 3339).
fn time_param(params: &Params, name: &str, now_ms: i64, default_ms: i64) -> Result<i64, ApiError> {
    match params.get(name) {
        None | Some("") => Ok(default_ms),
        Some(text) => graphite::parse_time(text, now_ms)
            .or_else(|_| super::params::parse_time_ms_at(text, now_ms))
            .map_err(|_| ApiError::bad_data(format!("invalid parameter \"{name}\": cannot parse {text:?} as a time"))),
    }
}

/// A JSON string literal (`api::json`'s escaping).
fn quoted(text: &str) -> String {
    let mut out = String::new();
    super::json::push_json_string(&mut out, text);
    out
}

/// A JSON array of strings (`api::json`'s).
fn string_array<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    super::json::push_string_array(&mut out, items);
    out
}
