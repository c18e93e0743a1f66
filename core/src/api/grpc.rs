//! The gRPC API over HTTP/2 (`metricstor.v1.Query`, `grpc.health.v1.Health`, and OTLP's
//! `MetricsService/Export`): 5-byte length-prefixed messages (gzip-compressed ones under
//! `grpc-encoding: gzip`), `grpc-status`/`grpc-message` trailers, `grpc-timeout`, a message
//! size limit, and the same query/series/labels/write/OTLP code paths as the HTTP API.

use super::read_filters::ReadFilters;
use crate::ingest::native_histogram::to_proto;
use super::params::now_ms;
use std::time::Duration;

use bytes::Bytes;
use futures_lite::future;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use prost::Message;
use proto::metricstor_v1 as pb;
use tsdb::Labels;

use super::labels::{collect_names, collect_series, collect_values, take_limit};
use super::query::{bounded_timeout, instant_result, range_result, Asked};
use super::{Api, ApiError};
use crate::ingest::remote_write::{decode_write_request, DecodeError};

/// Largest single gRPC message accepted (gRPC's customary default), after decompression.
pub const MESSAGE_BYTES_MAX: usize = 4 << 20;

/// OTLP metrics over gRPC (`opentelemetry.proto.collector.metrics.v1.MetricsService/Export`).
pub const OTLP_EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// gRPC status codes used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Ok = 0,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
}

#[derive(Debug)]
pub struct Status {
    code: Code,
    message: String,
}

impl From<ApiError> for Status {
    fn from(e: ApiError) -> Self {
        let code = match e.status.as_u16() {
            400 | 422 => Code::InvalidArgument,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            413 | 429 => Code::ResourceExhausted,
            503 if e.error_type == "timeout" => Code::DeadlineExceeded,
            503 => Code::Unavailable,
            _ => Code::Internal,
        };
        Status { code, message: e.message }
    }
}

pub fn is_grpc(request: &Request<Bytes>) -> bool {
    has_grpc_content_type(request.headers())
}

/// Whether a request's head says gRPC (asked before its body is read).
pub fn has_grpc_content_type(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/grpc"))
}

/// A gRPC call refused before its body is read, answered as `handle` would refuse it.
pub fn refusal(error: ApiError) -> Response<Bytes> {
    respond(Err(error.into()))
}

/// Splits a request body into messages (`flag u8 | length u32 BE | bytes`). A message
/// flagged compressed is gunzipped when the call's `grpc-encoding` is gzip (what the
/// OpenTelemetry Collector sends by default), at most `MESSAGE_BYTES_MAX` bytes of it.
fn messages<'b>(body: &'b [u8], encoding: Option<&str>) -> Result<Vec<std::borrow::Cow<'b, [u8]>>, Status> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(Status { code: Code::Internal, message: "truncated gRPC message prefix".into() });
        }
        let compressed = rest[0] != 0;
        let length = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if length > MESSAGE_BYTES_MAX {
            return Err(Status { code: Code::ResourceExhausted, message: format!("message of {length} bytes exceeds the limit of {MESSAGE_BYTES_MAX}") });
        }
        if rest.len() < 5 + length {
            return Err(Status { code: Code::Internal, message: "truncated gRPC message".into() });
        }
        let message = &rest[5..5 + length];
        rest = &rest[5 + length..];
        if !compressed {
            out.push(std::borrow::Cow::Borrowed(message));
            continue;
        }
        match encoding {
            Some("gzip") => out.push(std::borrow::Cow::Owned(gunzip_message(message)?)),
            other => {
                return Err(Status {
                    code: Code::Unimplemented,
                    message: format!("a compressed message with grpc-encoding {:?}: only gzip is supported", other.unwrap_or("")),
                })
            }
        }
    }
    Ok(out)
}

fn gunzip_message(message: &[u8]) -> Result<Vec<u8>, Status> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(message)
        .take(MESSAGE_BYTES_MAX as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| Status { code: Code::Internal, message: format!("cannot gunzip a message: {e}") })?;
    if out.len() > MESSAGE_BYTES_MAX {
        return Err(Status { code: Code::ResourceExhausted, message: format!("a message decompresses to more than the limit of {MESSAGE_BYTES_MAX} bytes") });
    }
    Ok(out)
}

fn single<M: Message + Default>(body: &[u8], encoding: Option<&str>) -> Result<M, Status> {
    let parts = messages(body, encoding)?;
    let [only] = parts.as_slice() else {
        return Err(Status { code: Code::InvalidArgument, message: format!("expected exactly one request message, got {}", parts.len()) });
    };
    M::decode(only.as_ref()).map_err(|e| Status { code: Code::InvalidArgument, message: format!("invalid request message: {e}") })
}

/// `grpc-timeout`: an integer and a unit (H, M, S, m, u, n).
pub fn parse_timeout(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

fn labels_pb(labels: &Labels) -> Vec<pb::Label> {
    labels.iter().map(|l| pb::Label { name: l.name.to_string(), value: l.value.to_string() }).collect()
}

fn query_response(result: promql::QueryResult) -> pb::QueryResponse {
    let mut out = pb::QueryResponse { warnings: result.warnings, ..Default::default() };
    match result.value {
        promql::Value::Scalar { timestamp_ms, value } => {
            out.result_type = "scalar".into();
            out.scalar = Some(pb::Point { timestamp_ms, value });
        }
        promql::Value::String { value, .. } => {
            out.result_type = "string".into();
            out.string_value = value;
        }
        promql::Value::Vector(v) => {
            out.result_type = "vector".into();
            out.series = v
                .into_iter()
                .map(|s| match s.histogram {
                    Some(histogram) => pb::Series {
                        labels: labels_pb(&s.labels),
                        points: Vec::new(),
                        histograms: vec![to_proto(&tsdb::HistogramSample { timestamp_ms: s.timestamp_ms, histogram })],
                    },
                    None => pb::Series { labels: labels_pb(&s.labels), points: vec![pb::Point { timestamp_ms: s.timestamp_ms, value: s.value }], histograms: Vec::new() },
                })
                .collect();
        }
        promql::Value::Matrix(m) => {
            out.result_type = "matrix".into();
            out.series = m
                .into_iter()
                .map(|s| pb::Series {
                    labels: labels_pb(&s.labels),
                    points: s.samples.iter().map(|p| pb::Point { timestamp_ms: p.timestamp_ms, value: p.value }).collect(),
                    histograms: s.histograms.iter().map(to_proto).collect(),
                })
                .collect();
        }
    }
    out
}


fn sets(matchers: &[String]) -> Result<Vec<Vec<tsdb::Matcher>>, Status> {
    let mut sets = Vec::new();
    for m in matchers {
        sets.extend(promql::parse_series_selector_alternatives(m).map_err(|e| Status { code: Code::InvalidArgument, message: format!("invalid matcher {m:?}: {e}") })?);
    }
    Ok(sets)
}

fn window(start_ms: i64, end_ms: i64) -> (i64, i64) {
    (if start_ms == 0 { i64::MIN } else { start_ms }, if end_ms == 0 { i64::MAX } else { end_ms })
}

/// Answers one call; every read confined to `confinement` (the client identity's
/// `tls.read_filters`).
async fn dispatch(api: &Api, method: &str, body: &[u8], encoding: Option<&str>, confinement: &ReadFilters, timeout: Duration) -> Result<Vec<u8>, Status> {
    let asked = Asked { filters: confinement.clone(), ..Asked::with_timeout(timeout) };
    let sets = |matchers: &[String]| sets(matchers).map(|s| confinement.join(s));
    Ok(match method {
        "/metricstor.v1.Query/InstantQuery" => {
            let r: pb::InstantQueryRequest = single(body, encoding)?;
            let time_ms = if r.time_ms == 0 { now_ms() } else { r.time_ms };
            query_response(instant_result(api, &r.query, time_ms, &asked).await?).encode_to_vec()
        }
        "/metricstor.v1.Query/RangeQuery" => {
            let r: pb::RangeQueryRequest = single(body, encoding)?;
            query_response(range_result(api, &r.query, r.start_ms, r.end_ms, r.step_ms, &asked).await?).encode_to_vec()
        }
        "/metricstor.v1.Query/Series" => {
            let r: pb::SeriesRequest = single(body, encoding)?;
            if r.matchers.is_empty() {
                return Err(Status { code: Code::InvalidArgument, message: "at least one matcher is required".into() });
            }
            let (mint, maxt) = window(r.start_ms, r.end_ms);
            let (series, _) = take_limit(collect_series(api, sets(&r.matchers)?, mint, maxt).await?, r.limit as usize);
            pb::SeriesResponse { series: series.iter().map(|l| pb::LabelSet { labels: labels_pb(l) }).collect() }.encode_to_vec()
        }
        "/metricstor.v1.Query/LabelNames" => {
            let r: pb::LabelNamesRequest = single(body, encoding)?;
            let (mint, maxt) = window(r.start_ms, r.end_ms);
            let (names, _) = take_limit(collect_names(api, sets(&r.matchers)?, mint, maxt).await?, r.limit as usize);
            pb::LabelNamesResponse { names }.encode_to_vec()
        }
        "/metricstor.v1.Query/LabelValues" => {
            let r: pb::LabelValuesRequest = single(body, encoding)?;
            let (mint, maxt) = window(r.start_ms, r.end_ms);
            let (values, _) = take_limit(collect_values(api, &r.name, sets(&r.matchers)?, mint, maxt).await?, r.limit as usize);
            pb::LabelValuesResponse { values }.encode_to_vec()
        }
        "/metricstor.v1.Query/Write" => {
            let mut written = 0;
            for message in messages(body, encoding)? {
                let decoded = decode_write_request(message.into_owned(), &api.config.storage.ingest_rules()).map_err(|e| match e {
                    DecodeError::Protobuf(problem) => Status { code: Code::InvalidArgument, message: format!("invalid WriteRequest: {problem}") },
                    other => Status { code: Code::InvalidArgument, message: other.to_string() },
                })?;
                api.metrics.add_exemplars_dropped(decoded.exemplars_dropped);
                if !decoded.series.is_empty() {
                    let (samples, exemplars) = api.router.append_with_exemplars(decoded.series).await.map_err(ApiError::from)?;
                    written += samples;
                    api.metrics.add_exemplars_dropped(exemplars.refused);
                }
            }
            api.metrics.add_samples_ingested(written);
            pb::WriteResponse { samples_written: written }.encode_to_vec()
        }
        OTLP_EXPORT => {
            // OTLP over gRPC, as the OpenTelemetry Collector's default `otlp` exporter sends
            // it: each ExportMetricsServiceRequest as one over HTTP (`api::otlp`).
            for message in messages(body, encoding)? {
                let translated = super::otlp::translate(api, &message, Some(crate::ingest::otlp::CONTENT_TYPE_PROTOBUF), None)?;
                super::otlp::store(api, translated, &[]).await?;
            }
            proto::otlp_metrics::ExportMetricsServiceResponse::default().encode_to_vec()
        }
        "/grpc.health.v1.Health/Check" => {
            let _: pb::HealthCheckRequest = single(body, encoding)?;
            pb::HealthCheckResponse { status: 1 }.encode_to_vec()
        }
        other => return Err(Status { code: Code::Unimplemented, message: format!("unknown method {other}") }),
    })
}

fn respond(result: Result<Vec<u8>, Status>) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::OK;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response.headers_mut().insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
    let mut trailers = HeaderMap::new();
    match result {
        Ok(message) => {
            let mut framed = Vec::with_capacity(5 + message.len());
            framed.push(0);
            framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
            framed.extend_from_slice(&message);
            *response.body_mut() = Bytes::from(framed);
            trailers.insert("grpc-status", HeaderValue::from(Code::Ok as i32));
        }
        Err(status) => {
            trailers.insert("grpc-status", HeaderValue::from(status.code as i32));
            // grpc-message is percent-encoded; keep it to visible ASCII.
            let message: String = status.message.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
            if let Ok(v) = HeaderValue::from_str(&message.replace('%', "%25")) {
                trailers.insert("grpc-message", v);
            }
        }
    }
    response.extensions_mut().insert(net::Trailers(trailers));
    response
}

/// Answers one gRPC call.
pub async fn handle(api: &Api, request: &Request<Bytes>) -> Response<Bytes> {
    let path = request.uri().path().to_string();
    if let Err(e) = api.authorize(request.extensions().get::<net::PeerInfo>(), &path) {
        return respond(Err(e.into()));
    }
    let requested = request.headers().get("grpc-timeout").and_then(|v| v.to_str().ok()).and_then(parse_timeout);
    let timeout = bounded_timeout(api, requested);
    let confinement = api.confinement(request);
    let encoding = request.headers().get("grpc-encoding").and_then(|v| v.to_str().ok());
    let call = async { Some(dispatch(api, &path, request.body(), encoding, &confinement, timeout).await) };
    let deadline = async {
        glommio::timer::sleep(timeout).await;
        None
    };
    let result = future::or(call, deadline)
        .await
        .unwrap_or_else(|| Err(Status { code: Code::DeadlineExceeded, message: format!("deadline of {timeout:?} exceeded") }));
    respond(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_and_frames() {
        assert_eq!(parse_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("x"), None);
        assert_eq!(parse_timeout(""), None);
        let body = [0u8, 0, 0, 0, 2, 8, 1, 0, 0, 0, 0, 0];
        assert_eq!(messages(&body, None).ok().map(|m| m.len()), Some(2));
        assert!(messages(&[0, 0, 0, 0, 9, 1], None).is_err());
        assert!(messages(&[1, 0, 0, 0, 0], None).is_err(), "a compressed message without grpc-encoding");
        assert!(messages(&[1, 0, 0, 0, 0], Some("snappy")).is_err(), "an encoding other than gzip");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &[8, 1]).expect("gzip");
        let packed = gz.finish().expect("gzip");
        let mut framed = vec![1u8];
        framed.extend((packed.len() as u32).to_be_bytes());
        framed.extend(&packed);
        framed.extend([0, 0, 0, 0, 1, 7]);
        let parts = messages(&framed, Some("gzip")).expect("gzip messages");
        assert_eq!(parts.iter().map(|m| m.to_vec()).collect::<Vec<_>>(), vec![vec![8, 1], vec![7]]);
    }

    /// A call refused before its body (HTTP/2 asks `refuse_before_body` for every request)
    /// still reads as gRPC: HTTP 200, no message, PERMISSION_DENIED in the trailers.
    #[test]
    fn refusal_before_the_body_is_a_grpc_status() {
        let mut headers = HeaderMap::new();
        assert!(!has_grpc_content_type(&headers));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc+proto"));
        assert!(has_grpc_content_type(&headers));
        let refused = refusal(ApiError::forbidden("client certificate identity (x) is not allowed to write"));
        assert_eq!(refused.status(), StatusCode::OK);
        assert!(refused.body().is_empty());
        let trailers = refused.extensions().get::<net::Trailers>().map(|t| t.0.clone()).unwrap_or_default();
        assert_eq!(trailers.get("grpc-status").and_then(|v| v.to_str().ok()), Some("7"));
        assert!(trailers.get("grpc-message").and_then(|v| v.to_str().ok()).is_some_and(|m| m.contains("not allowed to write")));
    }
}
