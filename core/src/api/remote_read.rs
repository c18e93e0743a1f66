//! `POST /api/v1/read`: Prometheus remote read. Answers SAMPLES (snappy `ReadResponse`) or,
//! when the client accepts it, STREAMED_XOR_CHUNKS: frames of `uvarint length | CRC32C
//! (big-endian) | ChunkedReadResponse` carrying Prometheus XOR chunks, one series per frame.

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use prost::Message;
use proto::remote_read::{self as rr, ChunkEncoding, MatcherType, ResponseType};
use proto::remote_write_v1 as v1;
use tsdb::chunk::{encode_histogram_chunks, XorAppender, SAMPLES_PER_CHUNK_MAX};
use tsdb::{MatchOp, Matcher, SeriesSamples};

use super::params::Params;
use crate::ingest::snappy::{unsnappy, UnsnappyError};
use super::read_filters::ReadFilters;
use super::{Api, ApiError};
use crate::shard::messages::Select;
use crate::shard::SubmitError;

/// Most queries in one remote read request.
pub const QUERIES_PER_REQUEST_MAX: usize = 64;

fn matchers(query: &rr::Query) -> Result<Vec<Matcher>, ApiError> {
    query
        .matchers
        .iter()
        .map(|m| {
            let op = match MatcherType::try_from(m.r#type) {
                Ok(MatcherType::Eq) => MatchOp::Equal,
                Ok(MatcherType::Neq) => MatchOp::NotEqual,
                Ok(MatcherType::Re) => MatchOp::RegexMatch,
                Ok(MatcherType::Nre) => MatchOp::RegexNoMatch,
                Err(_) => return Err(ApiError::bad_data(format!("unknown matcher type {}", m.r#type))),
            };
            Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| ApiError::bad_data(format!("invalid regex in matcher {}: {e}", m.name)))
        })
        .collect()
}

fn wire_labels(series: &SeriesSamples) -> Vec<v1::Label> {
    series.labels.iter().map(|l| v1::Label { name: l.name.to_string(), value: l.value.to_string() }).collect()
}

/// A series' chunks for a streamed answer: its floats as XOR chunks and its native
/// histograms as float histogram chunks (each of at most 120 samples), ordered by time.
fn series_chunks(series: &SeriesSamples) -> Vec<rr::Chunk> {
    let mut chunks = xor_chunks(series);
    if !series.histograms.is_empty() {
        chunks.extend(encode_histogram_chunks(&series.histograms, SAMPLES_PER_CHUNK_MAX).into_iter().map(|c| rr::Chunk {
            min_time_ms: c.min_time_ms,
            max_time_ms: c.max_time_ms,
            r#type: ChunkEncoding::FloatHistogram as i32,
            data: c.bytes,
        }));
        chunks.sort_by_key(|c| c.min_time_ms);
    }
    chunks
}

/// Encodes a series' samples as Prometheus XOR chunks of at most 120 samples.
fn xor_chunks(series: &SeriesSamples) -> Vec<rr::Chunk> {
    series
        .samples
        .chunks(SAMPLES_PER_CHUNK_MAX as usize)
        .map(|part| {
            let mut appender = XorAppender::default();
            for s in part {
                appender.append(s.timestamp_ms, s.value);
            }
            rr::Chunk {
                min_time_ms: part[0].timestamp_ms,
                max_time_ms: part[part.len() - 1].timestamp_ms,
                r#type: ChunkEncoding::Xor as i32,
                data: appender.into_bytes(),
            }
        })
        .collect()
}

fn push_frame(out: &mut Vec<u8>, message: &[u8]) {
    let mut length = message.len() as u64;
    while length >= 0x80 {
        out.push((length as u8) | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
    out.extend_from_slice(&crc32c::crc32c(message).to_be_bytes());
    out.extend_from_slice(message);
}

/// The largest decoded read request (Prometheus reads at most 32 MiB of a request's body):
/// a few bytes of snappy may declare gigabytes, which are refused before any is allocated.
const READ_REQUEST_BYTES_MAX: usize = 32 << 20;

pub async fn handle_read(api: &Api, request: &Request<Bytes>) -> Result<Response<Bytes>, ApiError> {
    let raw = unsnappy(request.body(), READ_REQUEST_BYTES_MAX).map_err(|e| match e {
        UnsnappyError::TooLarge { declared } => {
            ApiError::payload_too_large(format!("the read request decompresses to {declared} bytes, at most {READ_REQUEST_BYTES_MAX}"))
        }
        UnsnappyError::Malformed(error) => ApiError::bad_data(format!("snappy decompression failed: {error}")),
    })?;
    let read = rr::ReadRequest::decode(raw.as_slice()).map_err(|e| ApiError::bad_data(format!("protobuf decoding failed: {e}")))?;
    if read.queries.len() > QUERIES_PER_REQUEST_MAX {
        return Err(ApiError::bad_data(format!("{} queries in one request, at most {QUERIES_PER_REQUEST_MAX}", read.queries.len())));
    }
    let mut selects = Vec::with_capacity(read.queries.len());
    for q in &read.queries {
        selects.push(Select::all(matchers(q)?, q.start_timestamp_ms, q.end_timestamp_ms));
    }
    // `extra_label`/`extra_filters` in the URL and the client identity's read filters confine
    // every query (`read_filters`).
    let url_params = Params::from_request(request.uri().query(), None).map_err(ApiError::bad_data)?.confined_to(api.confinement(request));
    let filters = ReadFilters::from_params(&url_params)?;
    // As Prometheus' `--storage.remote.read-sample-limit`: a read past it is a 400.
    let limit = api.config.server.max_samples_per_query;
    let results = api.router.select_decoded(selects, filters.alternatives(), limit).await.map_err(|error| match error {
        SubmitError::TooManySamples => ApiError::bad_data(format!(
            "exceeded sample limit ({limit}, server.max_samples_per_query): read a narrower time range or fewer series"
        )),
        other => other.into(),
    })?;
    let streamed = read.accepted_response_types.contains(&(ResponseType::StreamedXorChunks as i32));
    let mut response = if streamed {
        let mut body = Vec::new();
        for (index, mut series) in results.into_iter().enumerate() {
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            for s in &series {
                let frame = rr::ChunkedReadResponse {
                    chunked_series: vec![rr::ChunkedSeries { labels: wire_labels(s), chunks: series_chunks(s) }],
                    query_index: index as i64,
                };
                push_frame(&mut body, &frame.encode_to_vec());
            }
        }
        let mut r = Response::new(Bytes::from(body));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse"),
        );
        r
    } else {
        let message = rr::ReadResponse {
            results: results
                .into_iter()
                .map(|mut series| {
                    series.sort_by(|a, b| a.labels.cmp(&b.labels));
                    rr::QueryResult {
                        timeseries: series
                            .iter()
                            .map(|s| v1::TimeSeries {
                                labels: wire_labels(s),
                                samples: s.samples.iter().map(|p| v1::Sample { value: p.value, timestamp: p.timestamp_ms }).collect(),
                                histograms: s.histograms.iter().map(crate::ingest::native_histogram::to_proto).collect(),
                                ..Default::default()
                            })
                            .collect(),
                    }
                })
                .collect(),
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&message.encode_to_vec())
            .map_err(|e| ApiError::internal(format!("snappy compression failed: {e}")))?;
        let mut r = Response::new(Bytes::from(body));
        r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/x-protobuf"));
        r.headers_mut().insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("snappy"));
        r
    };
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}
