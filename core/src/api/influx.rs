//! VictoriaMetrics' InfluxDB surface, so Telegraf and other Influx writers need no change:
//! `POST /write`, `/api/v2/write`, `/influx/write`, `/influx/api/v2/write` (line protocol,
//! parsed whole by `ingest::influx`, stored like remote_write, 204), `/ping` and
//! `/influx/ping` (204), `/influx/health` (InfluxDB 2's health answer), and `/query`, `/influx/query` (the fixed database list
//! VictoriaMetrics answers, for the `SHOW DATABASES` / `CREATE DATABASE` writers send).

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};

use super::params::{now_ms, Params};
use super::{json_response, write, Api, ApiError};
use crate::ingest::influx::{self, InfluxError, LineOptions, Precision};
use crate::ingest::MAX_DECOMPRESSED_BYTES;

const WRITE_PATHS: [&str; 4] = ["/write", "/api/v2/write", "/influx/write", "/influx/api/v2/write"];
const QUERY_PATHS: [&str; 2] = ["/query", "/influx/query"];
const PING_PATHS: [&str; 2] = ["/ping", "/influx/ping"];
/// InfluxDB 2's health check, as VictoriaMetrics answers it (some clients ask it first).
const HEALTH_PATH: &str = "/influx/health";
const HEALTH_JSON: &str = r#"{"name":"influxdb","message":"ready for queries and writes","status":"pass","checks":[],"version":"1.8.0"}"#;

/// The version Influx clients are told (VictoriaMetrics says 1.8.0; some clients need one).
const VERSION_HEADER: &str = "x-influxdb-version";
const VERSION: &str = "1.8.0";

/// VictoriaMetrics' answer to any `/query` (its default `-influx.databaseNames`).
const DATABASES_JSON: &str = r#"{"results":[{"statement_id":0,"series":[{"name":"databases","columns":["name"],"values":[["_internal"]]}]}]}"#;

pub fn is_write_path(path: &str) -> bool {
    WRITE_PATHS.contains(&path)
}

/// Whether `route` answers `path`.
pub fn is_influx_path(path: &str) -> bool {
    is_write_path(path) || QUERY_PATHS.contains(&path) || PING_PATHS.contains(&path) || path == HEALTH_PATH
}

/// The request-metrics label of an Influx path (`is_influx_path`).
pub fn endpoint_label(path: &str) -> &'static str {
    if is_write_path(path) {
        "influx_write"
    } else if PING_PATHS.contains(&path) || path == HEALTH_PATH {
        "health"
    } else {
        "influx_query"
    }
}

/// Answers a path of `is_influx_path`: writes take POST, queries GET or POST, pings GET or
/// HEAD; other methods get 405.
pub async fn route(api: &Api, request: &Request<Bytes>, path: &str) -> Result<Response<Bytes>, ApiError> {
    let method = request.method();
    if is_write_path(path) {
        if method != Method::POST {
            return Err(ApiError::method_not_allowed("POST"));
        }
        return handle_write(api, request).await;
    }
    if QUERY_PATHS.contains(&path) {
        if method != Method::GET && method != Method::POST {
            return Err(ApiError::method_not_allowed("GET, POST"));
        }
        return Ok(with_version(json_response(StatusCode::OK, DATABASES_JSON)));
    }
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed("GET, HEAD"));
    }
    if path == HEALTH_PATH {
        return Ok(with_version(json_response(StatusCode::OK, HEALTH_JSON)));
    }
    // As InfluxDB and VictoriaMetrics: 204, or 200 when asked `verbose=true`.
    let params = Params::from_request(request.uri().query(), None).map_err(ApiError::bad_data)?;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = if params.get("verbose") == Some("true") { StatusCode::OK } else { StatusCode::NO_CONTENT };
    Ok(with_version(response))
}

/// Parses the whole body first, so a bad line refuses the request with nothing of it
/// stored (VictoriaMetrics skips bad lines and stores the rest; a 400 tells the sender).
async fn handle_write(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let super::push::Preamble { params, rules, extra } = super::push::preamble(api, request)?;
    let body = super::body_encoding::decompressed_body(request, "line protocol", MAX_DECOMPRESSED_BYTES)?;
    let options = LineOptions {
        precision: Precision::from_param(params.get("precision")),
        db: params.get("db"),
        extra_labels: &extra,
        now_ms: now_ms(),
        rules,
        parsed_bytes_max: influx::PARSED_BYTES_MAX,
    };
    let (parsed, skipped) = influx::parse_skipping_bad_lines(&body, &options).map_err(|e| match e {
        InfluxError::Line { .. } => ApiError::bad_data(e.to_string()),
        InfluxError::TooLarge { .. } => ApiError::payload_too_large(e.to_string()),
    })?;
    let samples = parsed.samples;
    if parsed.series_count() > 0 {
        write::append_counted(api, parsed.into_batch()).await?;
    }
    // Bad lines were skipped and the good ones stored (as VictoriaMetrics does); the 400
    // says so, naming the first bad line.
    if let Some(skipped) = skipped {
        return Err(ApiError::bad_data(format!(
            "{}; {} bad line{} skipped, the request's other lines stored ({} samples)",
            skipped.first,
            skipped.lines,
            if skipped.lines == 1 { "" } else { "s" },
            samples
        )));
    }
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(with_version(response))
}

fn with_version(mut response: Response<Bytes>) -> Response<Bytes> {
    response.headers_mut().insert(VERSION_HEADER, header::HeaderValue::from_static(VERSION));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_methods_and_labels() {
        for path in WRITE_PATHS {
            assert!(is_influx_path(path) && is_write_path(path), "{path}");
            assert_eq!(endpoint_label(path), "influx_write");
        }
        assert_eq!(endpoint_label("/influx/query"), "influx_query");
        assert_eq!(endpoint_label("/ping"), "health");
        for path in ["/api/v1/write", "/api/v1/query", "/influx", "/write/", "/api/v2/query"] {
            assert!(!is_influx_path(path), "{path}");
        }
    }
}
