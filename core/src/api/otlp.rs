//! `POST /api/v1/otlp/v1/metrics` (Prometheus' path) and `POST /opentelemetry/v1/metrics`
//! (VictoriaMetrics'): OTLP/HTTP metrics, protobuf or JSON, translated by `ingest::otlp` and stored
//! like remote_write, exemplars included (same authorization, limits, `extra_label` and error
//! mapping).

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};

use super::{write, Api, ApiError};
use crate::ingest::otlp;

/// Prometheus' OTLP receiver path.
pub const PROMETHEUS_PATH: &str = "/api/v1/otlp/v1/metrics";
/// VictoriaMetrics' OTLP receiver path.
pub const VICTORIAMETRICS_PATH: &str = "/opentelemetry/v1/metrics";
/// VictoriaMetrics' older name for the same endpoint, which it still serves.
pub const VICTORIAMETRICS_PUSH_PATH: &str = "/opentelemetry/api/v1/push";

pub fn is_otlp_metrics_path(path: &str) -> bool {
    path == PROMETHEUS_PATH || path == VICTORIAMETRICS_PATH || path == VICTORIAMETRICS_PUSH_PATH
}

/// Translates (`translate`) and stores one request's metrics; the answer is a 200 with an
/// empty `ExportMetricsServiceResponse` once every owning shard has committed, in the
/// request's encoding (OTLP/HTTP asks the answer's to match).
pub async fn handle_otlp_metrics(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    // Refused under overload before decoding, as remote_write is.
    let super::push::Preamble { extra: extra_labels, .. } = super::push::preamble(api, request)?;
    let header_text = |name| request.headers().get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    let content_type = header_text(header::CONTENT_TYPE);
    let translated = translate(api, request.body(), content_type, header_text(header::CONTENT_ENCODING))?;
    store(api, translated, &extra_labels).await?;
    // An empty ExportMetricsServiceResponse (no partial_success): no bytes in protobuf, `{}` in JSON.
    let (body, answer_type) = if otlp::is_json(content_type) {
        (b"{}".to_vec(), otlp::CONTENT_TYPE_JSON)
    } else {
        (prost::Message::encode_to_vec(&proto::otlp_metrics::ExportMetricsServiceResponse::default()), otlp::CONTENT_TYPE_PROTOBUF)
    };
    let mut response = Response::new(Bytes::from(body));
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(answer_type));
    Ok(response)
}

/// Decodes and translates one `ExportMetricsServiceRequest` (`content_type` and `encoding`
/// as its headers say; over gRPC, protobuf and none) with the config's `otlp:` options,
/// delta points made cumulative first with `otlp.delta_to_cumulative` (the points it drops
/// are counted, the rest stored).
pub(super) fn translate(api: &Api, body: &[u8], content_type: Option<&str>, encoding: Option<&str>) -> Result<otlp::Translated, ApiError> {
    let refused = |e: otlp::OtlpError| if e.is_unsupported_media() { ApiError::unsupported_media(e.to_string()) } else { ApiError::bad_data(e.to_string()) };
    let mut request = otlp::decode_body(content_type, encoding, body).map_err(refused)?;
    if let Some(delta_to_cumulative) = &api.otlp_delta_to_cumulative {
        let dropped = delta_to_cumulative.convert(&mut request, std::time::Instant::now());
        api.metrics.add_otlp_delta_points_dropped(dropped);
    }
    otlp::translate(&request, &api.config.storage.ingest_rules(), &api.config.otlp.translation_options()).map_err(refused)
}

/// The most warnings one request's log line lists (all are counted).
const WARNINGS_LOGGED_MAX: usize = 10;

/// Counts a request's translation warnings and logs them (the first `WARNINGS_LOGGED_MAX`),
/// as Prometheus logs its translation annotations.
fn log_warnings(api: &Api, warnings: &otlp::warnings::Warnings) {
    if warnings.is_empty() {
        return;
    }
    api.metrics.add_otlp_translation_warnings(warnings);
    let all: Vec<&str> = warnings.messages().collect();
    let listed = all[..all.len().min(WARNINGS_LOGGED_MAX)].join(" | ");
    let more = all.len().saturating_sub(WARNINGS_LOGGED_MAX);
    tracing::warn!(warnings = %listed, more, "warnings translating OTLP metrics to Prometheus series");
}

/// Stores a translated request (its exemplars too) with `extra_labels` set, counting the
/// exemplars it dropped.
pub(super) async fn store(api: &Api, translated: otlp::Translated, extra_labels: &[(String, String)]) -> Result<(), ApiError> {
    api.metrics.add_exemplars_dropped(translated.exemplars_dropped);
    log_warnings(api, &translated.warnings);
    if !translated.series.is_empty() {
        let batch = translated.to_batch().map_err(|e| ApiError::bad_data(e.to_string()))?;
        let batch = super::extra_labels::apply_to_batch(batch, extra_labels, &api.config.storage.ingest_rules().label_limits)?;
        write::append_counted(api, batch).await?;
    }
    Ok(())
}
