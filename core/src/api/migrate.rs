//! Migration endpoints: `/api/v1/export` (VictoriaMetrics-compatible JSON lines for every
//! series matching `match[]` within `start`/`end`), `/api/v1/import` (the same format) and
//! `/api/v1/import/prometheus` (text exposition format with optional timestamps).

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use tsdb::{Labels, SeriesSamples};

use super::labels::{match_sets, window};
use super::params::Params;
use super::{Api, ApiError};
use crate::ingest::{json_lines, text_format};
use crate::shard::messages::Select;

/// Series sent to the shards per append during an import, so one request never builds one
/// enormous batch.
pub const IMPORT_BATCH_SERIES_MAX: usize = 5_000;

pub async fn handle_export(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let sets = match_sets(params)?;
    if sets.is_empty() {
        return Err(ApiError::bad_data("missing match[] parameter"));
    }
    let w = window(params)?;
    let selects: Vec<Select> = sets.into_iter().map(|matchers| Select { matchers, mint_ms: w.mint_ms, maxt_ms: w.maxt_ms }).collect();
    // Several match[] may select the same series: keep each once.
    let mut by_labels: BTreeMap<Labels, SeriesSamples> = BTreeMap::new();
    for series in api.router.select(selects).await?.into_iter().flatten() {
        by_labels.entry(series.labels.clone()).or_insert(series);
    }
    let mut body = String::new();
    for series in by_labels.values() {
        json_lines::write_line(&mut body, series);
    }
    let mut response = Response::new(Bytes::from(body));
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/stream+json"));
    Ok(response)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub async fn handle_import(api: &Api, request: &Request<Bytes>, prometheus_text: bool) -> Result<Response<Bytes>, ApiError> {
    let series = if prometheus_text {
        text_format::parse_text(request.body(), now_ms())
    } else {
        json_lines::parse_lines(request.body())
    }
    .map_err(|e| ApiError::bad_data(e.to_string()))?;
    let mut imported = 0u64;
    let mut batch = Vec::new();
    for s in series {
        if s.samples.is_empty() {
            continue;
        }
        batch.push(s);
        if batch.len() >= IMPORT_BATCH_SERIES_MAX {
            imported += api.router.append(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        imported += api.router.append(batch).await?;
    }
    api.metrics.add_samples_ingested(imported);
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}
