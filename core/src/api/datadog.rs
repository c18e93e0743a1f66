//! The Datadog agent's endpoints under `/datadog/` (point the agent's `dd_url` at
//! `http://host:9101/datadog`), as VictoriaMetrics serves them: series submissions,
//! distribution sketches, and the answers the agent expects from its other calls.

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use tsdb::Sample;

use super::push::{self, ParsedBytes, Preamble, Skipped};
use super::{json_response, Api, ApiError};
use crate::ingest::datadog::{self, Series};
use crate::ingest::influx::Parsed;
use crate::ingest::tagged_sample::push_tagged;

/// The largest decompressed body (VictoriaMetrics' `-datadog.maxInsertRequestSize`).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Whether `route` answers `path`; every such path is authorized as a write (the agent's
/// identity), its other calls included.
pub fn is_datadog_path(path: &str) -> bool {
    path.starts_with("/datadog/")
}

/// Answers a path under `/datadog/` (a trailing `/`, which older agents add, is ignored):
/// series submissions (v1 JSON, v2 JSON or protobuf), answered 202 `{"status":"ok"}`;
/// distribution sketches (`/api/beta/sketches`, stored as quantile, sum, count, min and max
/// series), answered 202 without a body; and the answers the agent expects from its other
/// calls (`validate`, `check_run`, `intake`, `metadata`).
pub async fn route(api: &Api, request: &Request<Bytes>, path: &str) -> Result<Response<Bytes>, ApiError> {
    let path = path.trim_end_matches('/');
    let method = request.method();
    let ok_json = |status: StatusCode, body: &'static str| Ok(json_response(status, body.to_string()));
    match path {
        "/datadog/api/v1/series" | "/datadog/api/v2/series" if method == Method::POST => {
            let preamble = push::preamble(api, request)?;
            let series = parse(request, path == "/datadog/api/v1/series")?;
            store(api, preamble, series).await?;
            ok_json(StatusCode::ACCEPTED, r#"{"status":"ok"}"#)
        }
        "/datadog/api/v1/series" | "/datadog/api/v2/series" => Err(ApiError::method_not_allowed("POST")),
        "/datadog/api/beta/sketches" if method == Method::POST => {
            let preamble = push::preamble(api, request)?;
            let body = super::body_encoding::decompressed_body(request, "Datadog payloads", BODY_BYTES_MAX)?;
            let series = datadog::parse_sketches(&body).map_err(ApiError::bad_data)?;
            store(api, preamble, series).await?;
            let mut response = Response::new(Bytes::new());
            *response.status_mut() = StatusCode::ACCEPTED;
            Ok(response)
        }
        "/datadog/api/beta/sketches" => Err(ApiError::method_not_allowed("POST")),
        // What the agent asks besides its metrics, answered as accepted (and not stored), each
        // for the method the agent uses.
        "/datadog/api/v1/validate" if method == Method::GET => ok_json(StatusCode::OK, r#"{"valid":true}"#),
        "/datadog/api/v1/validate" => Err(ApiError::method_not_allowed("GET")),
        "/datadog/api/v1/check_run" if method == Method::POST => ok_json(StatusCode::ACCEPTED, r#"{"status":"ok"}"#),
        "/datadog/intake" | "/datadog/api/v1/metadata" if method == Method::POST => ok_json(StatusCode::OK, "{}"),
        "/datadog/api/v1/check_run" | "/datadog/intake" | "/datadog/api/v1/metadata" => Err(ApiError::method_not_allowed("POST")),
        _ => Err(ApiError::not_found(path)),
    }
}

/// The request's body, decompressed as its `Content-Encoding` says (gzip, deflate or zstd, as
/// the agent sends; at most `BODY_BYTES_MAX`), parsed as the path's version and content type.
fn parse(request: &Request<Bytes>, v1: bool) -> Result<Vec<Series>, ApiError> {
    let body = super::body_encoding::decompressed_body(request, "Datadog payloads", BODY_BYTES_MAX)?;
    let now_ms = super::params::now_ms();
    let protobuf = request.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/x-protobuf"));
    let parsed = match (v1, protobuf) {
        (true, _) => datadog::parse_v1(&body, now_ms),
        (false, true) => datadog::parse_v2_protobuf(&body, now_ms),
        (false, false) => datadog::parse_v2_json(&body, now_ms),
    };
    parsed.map_err(ApiError::bad_data)
}

/// Stores `series` with the request's `extra_label`s. Points with a problem (no metric, a
/// label limit, a non-finite value under `storage.reject_non_finite`) are skipped and the
/// others stored; the answer is then a 400 naming the first problem.
async fn store(api: &Api, preamble: Preamble, series: Vec<Series>) -> Result<(), ApiError> {
    let Preamble { rules, extra, .. } = preamble;
    let mut parsed = Parsed::default();
    let mut parsed_bytes = ParsedBytes::default();
    let mut skipped = Skipped::default();
    for s in &series {
        let metric = s.metric();
        let tags: Vec<(&str, &str)> = s.labels.iter().skip(1).map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if metric.is_empty() {
            skipped.add_many(s.points.len().max(1), format!("a series without a metric name (tags {tags:?})"));
            continue;
        }
        // A label limit refuses every point of the series alike; a non-finite value (under
        // storage.reject_non_finite) only its point.
        for &(timestamp_ms, value) in &s.points {
            match push_tagged(&mut parsed, metric.as_bytes(), metric, tags.clone(), Sample { timestamp_ms, value }, &rules) {
                Ok(bytes) => parsed_bytes.add(bytes)?,
                Err(problem) => skipped.add(problem),
            }
        }
    }
    let samples = parsed.samples;
    push::store(api, parsed, &extra, &rules).await?;
    skipped.answer("point", samples)
}
