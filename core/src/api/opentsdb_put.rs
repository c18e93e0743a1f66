//! `/opentsdb/api/put` (as vmagent serves OpenTSDB's HTTP `/api/put` on its main port) and
//! `/api/put` (OpenTSDB's own path, for its clients pointed at this port): JSON data points,
//! a bad point skipped and the others stored, as VictoriaMetrics does.

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::push::{self, ParsedBytes, Preamble, Skipped};
use super::{Api, ApiError};
use crate::ingest::influx::Parsed;
use crate::ingest::opentsdb;

/// The paths answered.
pub const PUT_PATHS: [&str; 2] = ["/opentsdb/api/put", "/api/put"];

pub fn is_put_path(path: &str) -> bool {
    PUT_PATHS.contains(&path)
}

/// A JSON data point or an array of them, optionally gzipped, parsed whole by
/// `ingest::opentsdb::push_json_point` and written in one batch, with `extra_label`s set. A
/// bad point is skipped and the others stored, as VictoriaMetrics does; the answer is then a
/// 400 naming the first bad point and what was stored, else a 204.
pub async fn handle_put(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let Preamble { rules, extra, .. } = push::preamble(api, request)?;
    let body = super::body_encoding::decompressed_body(request, "OpenTSDB JSON", crate::ingest::MAX_DECOMPRESSED_BYTES)?;
    let json: serde_json::Value = serde_json::from_slice(&body).map_err(|e| ApiError::bad_data(format!("the body is not JSON: {e}")))?;
    let points = match &json {
        serde_json::Value::Array(points) => points.as_slice(),
        serde_json::Value::Object(_) => std::slice::from_ref(&json),
        _ => return Err(ApiError::bad_data("the body must be a JSON data point (an object) or an array of them")),
    };
    let now_ms = super::params::now_ms();
    let mut parsed = Parsed::default();
    let mut parsed_bytes = ParsedBytes::default();
    let mut skipped = Skipped::default();
    for point in points {
        match opentsdb::push_json_point(&mut parsed, point, now_ms, &rules) {
            Ok(bytes) => parsed_bytes.add(bytes)?,
            Err(problem) => skipped.add(problem),
        }
    }
    let samples = parsed.samples;
    push::store(api, parsed, &extra, &rules).await?;
    skipped.answer("bad data point", samples)?;
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
