//! `/opentsdb/api/put` (as vmagent serves OpenTSDB's HTTP `/api/put` on its main port) and
//! `/api/put` (OpenTSDB's own path, for its clients pointed at this port): a
//! JSON data point or an array of them, optionally gzipped, parsed whole by
//! `ingest::opentsdb::push_json_point` and written in one batch, with `extra_label`s set.
//! A bad point is skipped and the others stored, as VictoriaMetrics does; the answer is
//! then a 400 naming the first bad point and what was stored, else a 204.

use bytes::Bytes;
use http::{Request, Response, StatusCode};

use super::params::Params;
use super::{extra_labels, influx, write, Api, ApiError};
use crate::ingest::influx::Parsed;
use crate::ingest::opentsdb;

/// The paths answered.
pub const PUT_PATHS: [&str; 2] = ["/opentsdb/api/put", "/api/put"];

pub fn is_put_path(path: &str) -> bool {
    PUT_PATHS.contains(&path)
}

pub async fn handle_put(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    // As remote_write: refuse under overload before decoding.
    if let Some(shard) = api.router.full_shard() {
        return Err(crate::shard::SubmitError::QueueFull { shard }.into());
    }
    let params = Params::from_request(request.uri().query(), None).map_err(ApiError::bad_data)?;
    let rules = api.config.storage.ingest_rules();
    let extra = extra_labels::from_params(&params, &rules.label_limits)?;
    let gunzipped;
    let body: &[u8] = if super::body_is_gzip(request.headers(), "OpenTSDB JSON")? {
        gunzipped = influx::gunzip(request.body())?;
        &gunzipped
    } else {
        request.body()
    };
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_data(format!("the body is not JSON: {e}")))?;
    let points = match &json {
        serde_json::Value::Array(points) => points.as_slice(),
        serde_json::Value::Object(_) => std::slice::from_ref(&json),
        _ => return Err(ApiError::bad_data("the body must be a JSON data point (an object) or an array of them")),
    };
    let now_ms = super::params::now_ms();
    let mut parsed = Parsed::default();
    let (mut bad, mut first_problem) = (0usize, None);
    for point in points {
        if let Err(problem) = opentsdb::push_json_point(&mut parsed, point, now_ms, &rules) {
            bad += 1;
            first_problem.get_or_insert(problem);
        }
    }
    let samples = parsed.samples;
    if !parsed.is_empty() {
        let batch = extra_labels::apply_to_batch(parsed.into_batch(), &extra, &rules.label_limits)?;
        write::append_counted(api, batch).await?;
    }
    if let Some(first) = first_problem {
        return Err(ApiError::bad_data(format!(
            "{first}; {bad} bad data point{} skipped, the request's other points stored ({samples} samples)",
            if bad == 1 { "" } else { "s" }
        )));
    }
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
