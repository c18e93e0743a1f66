//! The New Relic infrastructure agent's endpoints under `/newrelic` (point the agent's
//! `COLLECTOR_URL` at `http://host:9101/newrelic`), as VictoriaMetrics serves them: metric
//! events, and the answers the agent expects from its connect check and inventory calls.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use tsdb::Sample;

use super::push::{self, ParsedBytes, Preamble, Skipped};
use super::{json_response, Api, ApiError};
use crate::ingest::influx::Parsed;
use crate::ingest::newrelic;
use crate::ingest::tagged_sample::push_tagged;

/// The largest decompressed body: the agent sends well under 1 MiB; JSON read into values
/// takes many times its size, so this stays small.
const BODY_BYTES_MAX: usize = 16 << 20;

/// Whether `route` answers `path`; all of them are authorized as writes (the agent's).
pub fn is_newrelic_path(path: &str) -> bool {
    path == "/newrelic" || path.starts_with("/newrelic/")
}

/// Answers a path under `/newrelic`: metric events (`/newrelic/infra/v2/metrics/events/bulk`,
/// gzip, deflate or zstd as the agent sends), parsed by `ingest::newrelic`, stored and
/// answered 202; and the answers the agent expects from its connect check (`/newrelic`) and
/// inventory calls (`/newrelic/inventory/deltas`).
pub async fn route(api: &Api, request: &Request<Bytes>, path: &str) -> Result<Response<Bytes>, ApiError> {
    match path.trim_end_matches('/') {
        "/newrelic/infra/v2/metrics/events/bulk" if request.method() == Method::POST => {
            let preamble = push::preamble(api, request)?;
            let body = super::body_encoding::decompressed_body(request, "New Relic events", BODY_BYTES_MAX)?;
            let events = newrelic::parse(&body, super::params::now_ms()).map_err(ApiError::bad_data)?;
            store(api, preamble, &events).await?;
            Ok(json_response(StatusCode::ACCEPTED, r#"{"status":"ok"}"#))
        }
        "/newrelic/infra/v2/metrics/events/bulk" => Err(ApiError::method_not_allowed("POST")),
        "/newrelic" if request.method() == Method::GET || request.method() == Method::POST => Ok(json_response(StatusCode::ACCEPTED, r#"{"status":"ok"}"#)),
        "/newrelic" => Err(ApiError::method_not_allowed("GET, POST")),
        "/newrelic/inventory/deltas" if request.method() == Method::POST => {
            Ok(json_response(StatusCode::ACCEPTED, r#"{"payload":{"version": 1, "state": {}, "reset": "false"}}"#))
        }
        "/newrelic/inventory/deltas" => Err(ApiError::method_not_allowed("POST")),
        _ => Err(ApiError::not_found(path)),
    }
}

/// Stores `events` with the request's `extra_label`s. A sample refused by the label limits or
/// the non-finite rule is skipped and the others stored; the answer is then a 400 naming it.
async fn store(api: &Api, preamble: Preamble, events: &[newrelic::Event]) -> Result<(), ApiError> {
    let Preamble { rules, extra, .. } = preamble;
    let mut parsed = Parsed::default();
    let mut parsed_bytes = ParsedBytes::default();
    let mut skipped = Skipped::default();
    for event in events {
        let tags: Vec<(&str, &str)> = event.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        for (name, value) in &event.samples {
            let sample = Sample { timestamp_ms: event.timestamp_ms, value: *value };
            match push_tagged(&mut parsed, name.as_bytes(), name, tags.clone(), sample, &rules) {
                Ok(bytes) => parsed_bytes.add(bytes)?,
                Err(problem) => skipped.add(problem),
            }
        }
    }
    let samples = parsed.samples;
    push::store(api, parsed, &extra, &rules).await?;
    skipped.answer("sample", samples)
}
