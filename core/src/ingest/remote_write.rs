//! remote_write 1.0 (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`)
//! decoding and validation per the spec: UTF-8, non-empty sorted unique label names,
//! `__name__` present; NaN/±Inf and stale markers kept bit-exact (opt-in rejection).

use prost::Message;
use proto::{remote_write_v1 as v1, remote_write_v2 as v2};
use tsdb::{Label, Labels, Sample, SeriesSamples, METRIC_NAME_LABEL};

/// Upper bound on a decompressed body, checked against snappy's length header before
/// allocating, so a tiny body cannot claim gigabytes.
pub const MAX_DECOMPRESSED_BYTES: usize = 512 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// Why a body was refused. `UnsupportedMediaType` maps to 415, the rest to 400.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DecodeError {
    #[error("unsupported content type {0:?}; expected application/x-protobuf (remote_write 1.0) or application/x-protobuf;proto=io.prometheus.write.v2.Request (2.0)")]
    UnsupportedMediaType(String),
    #[error("unsupported content encoding {0:?}; only snappy is accepted")]
    UnsupportedEncoding(String),
    #[error("snappy decompression failed: {0}")]
    Snappy(String),
    #[error("decompressed body would be {0} bytes, more than the limit of {MAX_DECOMPRESSED_BYTES}")]
    TooLarge(usize),
    #[error("protobuf decoding failed: {0}")]
    Protobuf(String),
    #[error("invalid series {series}: {problem}")]
    InvalidSeries { series: String, problem: String },
}

impl DecodeError {
    pub fn is_unsupported_media(&self) -> bool {
        matches!(self, DecodeError::UnsupportedMediaType(_) | DecodeError::UnsupportedEncoding(_))
    }
}

/// Metadata of a metric family, as remote_write senders report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricMetadata {
    pub family: String,
    /// Prometheus' type name: counter, gauge, histogram, gaugehistogram, summary, info, stateset, unknown.
    pub kind: String,
    pub help: String,
    pub unit: String,
}

/// Prometheus' lower-case name of a metric type number (shared by 1.0 and 2.0 enums).
fn type_name(t: i32) -> &'static str {
    match t {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

/// The validated content of one request.
#[derive(Debug, Default)]
pub struct Decoded {
    pub series: Vec<SeriesSamples>,
    pub metadata: Vec<MetricMetadata>,
    pub samples: u64,
    /// Native histograms and exemplars are counted but not stored yet.
    pub histograms_dropped: u64,
    pub exemplars_dropped: u64,
}

/// Chooses the protocol from `Content-Type` (absent means 1.0, as old senders do).
pub fn protocol_for(content_type: Option<&str>) -> Result<Protocol, DecodeError> {
    let Some(raw) = content_type else { return Ok(Protocol::V1) };
    let mut parts = raw.split(';').map(str::trim);
    let media = parts.next().unwrap_or("").to_ascii_lowercase();
    if media != "application/x-protobuf" {
        return Err(DecodeError::UnsupportedMediaType(raw.to_string()));
    }
    let mut protocol = Protocol::V1;
    for param in parts {
        let Some((key, value)) = param.split_once('=') else { continue };
        if key.trim().eq_ignore_ascii_case("proto") {
            protocol = match value.trim().trim_matches('"') {
                "prometheus.WriteRequest" => Protocol::V1,
                "io.prometheus.write.v2.Request" => Protocol::V2,
                _ => return Err(DecodeError::UnsupportedMediaType(raw.to_string())),
            };
        }
    }
    Ok(protocol)
}

/// Decodes and validates one request body.
pub fn decode_request(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    reject_non_finite: bool,
) -> Result<(Protocol, Decoded), DecodeError> {
    let protocol = protocol_for(content_type)?;
    if let Some(encoding) = content_encoding {
        if !encoding.trim().eq_ignore_ascii_case("snappy") {
            return Err(DecodeError::UnsupportedEncoding(encoding.to_string()));
        }
    }
    let raw = decompress(body)?;
    let decoded = match protocol {
        Protocol::V1 => decode_v1(&raw, reject_non_finite)?,
        Protocol::V2 => decode_v2(&raw, reject_non_finite)?,
    };
    Ok((protocol, decoded))
}

fn decompress(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let len = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(DecodeError::TooLarge(len));
    }
    snap::raw::Decoder::new().decompress_vec(body).map_err(|e| DecodeError::Snappy(e.to_string()))
}

fn decode_v1(raw: &[u8], reject_non_finite: bool) -> Result<Decoded, DecodeError> {
    let request = v1::WriteRequest::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    decode_write_request(request, reject_non_finite)
}

/// Validates an already-decoded remote_write 1.0 request (also used by the gRPC `Write`).
pub fn decode_write_request(request: v1::WriteRequest, reject_non_finite: bool) -> Result<Decoded, DecodeError> {
    let mut out = Decoded { series: Vec::with_capacity(request.timeseries.len()), ..Decoded::default() };
    for m in request.metadata {
        if !m.metric_family_name.is_empty() {
            out.metadata.push(MetricMetadata { family: m.metric_family_name, kind: type_name(m.r#type).into(), help: m.help, unit: m.unit });
        }
    }
    for ts in request.timeseries {
        let pairs: Vec<(String, String)> = ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        let labels = validate_labels(pairs)?;
        let samples = convert_samples(&labels, ts.samples.iter().map(|s| (s.timestamp, s.value)), reject_non_finite)?;
        out.histograms_dropped += ts.histograms.len() as u64;
        out.exemplars_dropped += ts.exemplars.len() as u64;
        push_series(&mut out, labels, samples);
    }
    Ok(out)
}

fn decode_v2(raw: &[u8], reject_non_finite: bool) -> Result<Decoded, DecodeError> {
    let request = v2::Request::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let symbols = &request.symbols;
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(DecodeError::Protobuf("symbols[0] must be the empty string".into()));
    }
    let mut out = Decoded { series: Vec::with_capacity(request.timeseries.len()), ..Decoded::default() };
    for (index, ts) in request.timeseries.iter().enumerate() {
        if ts.labels_refs.len() % 2 != 0 {
            return Err(DecodeError::InvalidSeries {
                series: format!("#{index}"),
                problem: format!("labels_refs has odd length {}", ts.labels_refs.len()),
            });
        }
        let mut pairs = Vec::with_capacity(ts.labels_refs.len() / 2);
        for pair in ts.labels_refs.chunks_exact(2) {
            let symbol = |r: u32| {
                symbols.get(r as usize).cloned().ok_or_else(|| DecodeError::InvalidSeries {
                    series: format!("#{index}"),
                    problem: format!("label reference {r} is outside the symbol table ({} symbols)", symbols.len()),
                })
            };
            pairs.push((symbol(pair[0])?, symbol(pair[1])?));
        }
        let labels = validate_labels(pairs)?;
        if let Some(m) = &ts.metadata {
            let text = |r: u32| symbols.get(r as usize).cloned().unwrap_or_default();
            if let Some(family) = labels.metric_name() {
                if m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0 {
                    out.metadata.push(MetricMetadata { family: family.to_string(), kind: type_name(m.r#type).into(), help: text(m.help_ref), unit: text(m.unit_ref) });
                }
            }
        }
        let samples = convert_samples(&labels, ts.samples.iter().map(|s| (s.timestamp, s.value)), reject_non_finite)?;
        out.histograms_dropped += ts.histograms.len() as u64;
        out.exemplars_dropped += ts.exemplars.len() as u64;
        push_series(&mut out, labels, samples);
    }
    Ok(out)
}

fn push_series(out: &mut Decoded, labels: Labels, samples: Vec<Sample>) {
    if samples.is_empty() {
        return;
    }
    out.samples += samples.len() as u64;
    out.series.push(SeriesSamples { labels, samples });
}

fn series_text(pairs: &[(String, String)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Spec rules: non-empty names, strictly ascending (sorted, unique), `__name__` present.
/// Labels with empty values are dropped (an empty value means "absent" in Prometheus).
fn validate_labels(pairs: Vec<(String, String)>) -> Result<Labels, DecodeError> {
    let invalid = |problem: String| DecodeError::InvalidSeries { series: series_text(&pairs), problem };
    for (i, (name, _)) in pairs.iter().enumerate() {
        if name.is_empty() {
            return Err(invalid("empty label name".into()));
        }
        if i > 0 {
            let previous = &pairs[i - 1].0;
            if previous == name {
                return Err(invalid(format!("duplicate label name {name:?}")));
            }
            if previous > name {
                return Err(invalid(format!("labels are not sorted by name ({previous:?} before {name:?})")));
            }
        }
    }
    if !pairs.iter().any(|(n, v)| n == METRIC_NAME_LABEL && !v.is_empty()) {
        return Err(invalid("missing metric name (__name__ label)".into()));
    }
    let labels: Vec<Label> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| Label { name: n, value: v }).collect();
    Ok(Labels::from_sorted(labels))
}

fn convert_samples(
    labels: &Labels,
    samples: impl Iterator<Item = (i64, f64)>,
    reject_non_finite: bool,
) -> Result<Vec<Sample>, DecodeError> {
    let mut out = Vec::with_capacity(samples.size_hint().0);
    for (timestamp_ms, value) in samples {
        if reject_non_finite && !value.is_finite() && !tsdb::is_stale_nan(value) {
            return Err(DecodeError::InvalidSeries {
                series: labels.to_string(),
                problem: format!("non-finite value {value} at {timestamp_ms} (storage.reject_non_finite is on)"),
            });
        }
        out.push(Sample { timestamp_ms, value });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(n: &str, v: &str) -> v1::Label {
        v1::Label { name: n.into(), value: v.into() }
    }

    fn v1_body(labels: Vec<v1::Label>, samples: Vec<(i64, f64)>) -> Vec<u8> {
        let request = v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels,
                samples: samples.into_iter().map(|(t, v)| v1::Sample { value: v, timestamp: t }).collect(),
                ..Default::default()
            }],
            ..Default::default()
        };
        snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap()
    }

    #[test]
    fn content_type_selects_protocol() {
        assert_eq!(protocol_for(None).unwrap(), Protocol::V1);
        assert_eq!(protocol_for(Some("application/x-protobuf")).unwrap(), Protocol::V1);
        assert_eq!(protocol_for(Some("application/x-protobuf;proto=prometheus.WriteRequest")).unwrap(), Protocol::V1);
        assert_eq!(protocol_for(Some("application/x-protobuf; proto=io.prometheus.write.v2.Request")).unwrap(), Protocol::V2);
        assert!(protocol_for(Some("application/json")).unwrap_err().is_unsupported_media());
        assert!(protocol_for(Some("application/x-protobuf;proto=foo.Bar")).unwrap_err().is_unsupported_media());
    }

    #[test]
    fn v1_round_trip_keeps_stale_marker_bits() {
        let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
        let body = v1_body(vec![label("__name__", "up"), label("job", "a")], vec![(1, 1.0), (2, f64::NAN), (3, stale), (4, f64::INFINITY)]);
        let (protocol, decoded) = decode_request(None, Some("snappy"), &body, false).unwrap();
        assert_eq!(protocol, Protocol::V1);
        assert_eq!(decoded.samples, 4);
        let s = &decoded.series[0].samples;
        assert_eq!(s[2].value.to_bits(), tsdb::STALE_NAN_BITS);
        assert!(s[1].value.is_nan() && !tsdb::is_stale_nan(s[1].value));
        assert_eq!(s[3].value, f64::INFINITY);
    }

    #[test]
    fn invalid_label_sets_are_named() {
        let table: Vec<(Vec<v1::Label>, &str)> = vec![
            (vec![label("job", "a"), label("__name__", "up")], "not sorted"),
            (vec![label("__name__", "up"), label("job", "a"), label("job", "b")], "duplicate label name"),
            (vec![label("job", "a")], "missing metric name"),
            (vec![label("", "x"), label("__name__", "up")], "empty label name"),
        ];
        for (labels, expected) in table {
            let err = decode_request(None, None, &v1_body(labels, vec![(1, 1.0)]), false).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected) && text.contains("invalid series"), "{text}");
        }
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let body = v1_body(vec![label("__name__", "up")], vec![(1, 1.0)]);
        assert!(matches!(decode_request(None, None, &body[..body.len() - 3], false), Err(DecodeError::Snappy(_))));
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff, 0xff, 0xff, 0x01, 0x02]).unwrap();
        assert!(matches!(decode_request(None, None, &garbage, false), Err(DecodeError::Protobuf(_))));
        assert!(decode_request(None, Some("gzip"), &body, false).unwrap_err().is_unsupported_media());
    }

    #[test]
    fn reject_non_finite_is_opt_in() {
        let body = v1_body(vec![label("__name__", "up")], vec![(1, f64::NAN)]);
        assert!(decode_request(None, None, &body, false).is_ok());
        assert!(decode_request(None, None, &body, true).is_err());
    }

    #[test]
    fn v2_resolves_symbols_and_checks_refs() {
        let request = v2::Request {
            symbols: vec!["".into(), "__name__".into(), "up".into(), "job".into(), "x".into()],
            timeseries: vec![v2::TimeSeries {
                labels_refs: vec![1, 2, 3, 4],
                samples: vec![v2::Sample { value: 2.5, timestamp: 10, ..Default::default() }],
                ..Default::default()
            }],
        };
        let body = snap::raw::Encoder::new().compress_vec(&request.encode_to_vec()).unwrap();
        let (protocol, decoded) =
            decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, false).unwrap();
        assert_eq!(protocol, Protocol::V2);
        assert_eq!(decoded.series[0].labels.get("job"), Some("x"));
        let mut bad = request.clone();
        bad.timeseries[0].labels_refs = vec![1, 9];
        let body = snap::raw::Encoder::new().compress_vec(&bad.encode_to_vec()).unwrap();
        let err = decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, false).unwrap_err();
        assert!(err.to_string().contains("outside the symbol table"), "{err}");
    }
}
