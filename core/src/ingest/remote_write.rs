//! remote_write 1.0 (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`)
//! decoding and validation per the spec: UTF-8, non-empty sorted unique label names,
//! `__name__` present; NaN/±Inf and stale markers kept bit-exact (opt-in rejection).
//! 1.0 is walked in place (`protowire`): label text stays in the decompressed body, which
//! becomes the `SeriesBatch`'s buffer; 2.0 is decoded by prost, its symbols copied once.

use prost::Message;
use proto::remote_write_v2 as v2;
use tsdb::{Label, Labels, Sample, SeriesBatch, SeriesBatchBuilder, TextSpan, METRIC_NAME_LABEL};

use super::protowire::{Fields, WireError};

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

impl From<WireError> for DecodeError {
    fn from(e: WireError) -> Self {
        DecodeError::Protobuf(e.to_string())
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
    /// Series with at least one sample.
    pub series: SeriesBatch,
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
        Protocol::V1 => decode_write_request(raw, reject_non_finite)?,
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

/// Per-series scratch space, reused across a request's series (no allocation per series).
#[derive(Default)]
struct SeriesScratch {
    /// Every label as sent, empty values included (validation sees them).
    labels: Vec<(TextSpan, TextSpan)>,
    /// The labels kept: those with a value.
    kept: Vec<(TextSpan, TextSpan)>,
    samples: Vec<Sample>,
}

impl SeriesScratch {
    fn clear(&mut self) {
        self.labels.clear();
        self.kept.clear();
        self.samples.clear();
    }
}

fn span_of(text: &[u8], slice: &[u8]) -> TextSpan {
    // An absent field's default (`&[]`) is not a sub-slice of `text`.
    if slice.is_empty() {
        return TextSpan { start: 0, end: 0 };
    }
    let start = Fields::offset_in(text, slice);
    TextSpan { start: start as u32, end: (start + slice.len()) as u32 }
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8], DecodeError> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(bytes),
        Err(_) => Err(DecodeError::Protobuf(format!("invalid string value in {what}: data is not UTF-8 encoded"))),
    }
}

/// Validates a remote_write 1.0 `WriteRequest` (the HTTP body after snappy, or a gRPC
/// `Write` message) by walking its wire format: no allocation per label or sample. A wire
/// error anywhere wins over an invalid series (as with a full decode first); otherwise the
/// first invalid series in request order is reported.
pub fn decode_write_request(raw: Vec<u8>, reject_non_finite: bool) -> Result<Decoded, DecodeError> {
    let mut out = Decoded::default();
    let mut first_invalid: Option<DecodeError> = None;
    let mut scratch = SeriesScratch::default();
    let series = SeriesBatch::build(raw, |batch| {
        let text = batch.text();
        for field in Fields::new(text) {
            match field? {
                (1, value) => {
                    let counts = walk_time_series(text, value.bytes(1)?, &mut scratch)?;
                    out.histograms_dropped += counts.histograms;
                    out.exemplars_dropped += counts.exemplars;
                    if first_invalid.is_none() {
                        if let Err(e) = push_valid_series(batch, &mut scratch, reject_non_finite, &mut out.samples) {
                            first_invalid = Some(e);
                        }
                    }
                }
                (3, value) => {
                    if let Some(m) = walk_metadata(value.bytes(3)?)? {
                        out.metadata.push(m);
                    }
                }
                _ => {} // unknown fields are skipped, as protobuf requires
            }
        }
        Ok::<(), DecodeError>(())
    })?;
    out.series = series;
    match first_invalid {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

#[derive(Default)]
struct DroppedCounts {
    histograms: u64,
    exemplars: u64,
}

/// One `TimeSeries` into `scratch` (labels as spans of `text`, samples).
fn walk_time_series(text: &[u8], message: &[u8], scratch: &mut SeriesScratch) -> Result<DroppedCounts, DecodeError> {
    scratch.clear();
    let mut counts = DroppedCounts::default();
    for field in Fields::new(message) {
        match field? {
            (1, value) => {
                let label = value.bytes(1)?;
                let (mut name, mut label_value): (&[u8], &[u8]) = (&[], &[]);
                for field in Fields::new(label) {
                    match field? {
                        (1, v) => name = v.bytes(1)?,
                        (2, v) => label_value = v.bytes(2)?,
                        _ => {}
                    }
                }
                // One ASCII scan of the whole message (tags and short lengths are ASCII too)
                // covers both strings in the common case; otherwise each is checked.
                if !label.is_ascii() {
                    utf8(name, "Label.name")?;
                    utf8(label_value, "Label.value")?;
                }
                scratch.labels.push((span_of(text, name), span_of(text, label_value)));
            }
            (2, value) => {
                let mut sample = Sample { timestamp_ms: 0, value: 0.0 };
                for field in Fields::new(value.bytes(2)?) {
                    match field? {
                        (1, v) => sample.value = f64::from_bits(v.fixed64(1)?),
                        (2, v) => sample.timestamp_ms = v.varint(2)? as i64,
                        _ => {}
                    }
                }
                scratch.samples.push(sample);
            }
            (3, value) => {
                value.bytes(3)?;
                counts.exemplars += 1;
            }
            (4, value) => {
                value.bytes(4)?;
                counts.histograms += 1;
            }
            _ => {}
        }
    }
    Ok(counts)
}

/// One `MetricMetadata`; `None` when it names no family.
fn walk_metadata(message: &[u8]) -> Result<Option<MetricMetadata>, DecodeError> {
    let (mut kind, mut family, mut help, mut unit): (i32, &[u8], &[u8], &[u8]) = (0, &[], &[], &[]);
    for field in Fields::new(message) {
        match field? {
            (1, v) => kind = v.varint(1)? as i32,
            (2, v) => family = v.bytes(2)?,
            (4, v) => help = v.bytes(4)?,
            (5, v) => unit = v.bytes(5)?,
            _ => {}
        }
    }
    let text = |bytes, what| utf8(bytes, what).map(|b| String::from_utf8_lossy(b).into_owned());
    let (family, help, unit) = (text(family, "MetricMetadata.metric_family_name")?, text(help, "MetricMetadata.help")?, text(unit, "MetricMetadata.unit")?);
    Ok((!family.is_empty()).then(|| MetricMetadata { family, kind: type_name(kind).into(), help, unit }))
}

/// Validates the series in `scratch` and adds it to the batch when it has samples.
fn push_valid_series(batch: &mut SeriesBatchBuilder<'_>, scratch: &mut SeriesScratch, reject_non_finite: bool, samples: &mut u64) -> Result<(), DecodeError> {
    let text = batch.text();
    let bytes = move |s: TextSpan| &text[s.start as usize..s.end as usize];
    check_labels(scratch.labels.iter().map(|&(n, v)| (bytes(n), bytes(v))))?;
    scratch.kept.extend(scratch.labels.iter().filter(|(_, v)| v.end > v.start));
    check_samples(scratch.kept.iter().map(|&(n, v)| (bytes(n), bytes(v))), &scratch.samples, reject_non_finite)?;
    if !scratch.samples.is_empty() {
        *samples += scratch.samples.len() as u64;
        batch.push_series(&scratch.kept, &scratch.samples);
    }
    Ok(())
}

fn decode_v2(raw: &[u8], reject_non_finite: bool) -> Result<Decoded, DecodeError> {
    let request = v2::Request::decode(raw).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    let symbols = &request.symbols;
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(DecodeError::Protobuf("symbols[0] must be the empty string".into()));
    }
    // The symbol table becomes the batch's text, each symbol copied once.
    let mut text = Vec::with_capacity(symbols.iter().map(String::len).sum());
    let mut symbol_spans = Vec::with_capacity(symbols.len());
    for s in symbols {
        let start = text.len() as u32;
        text.extend_from_slice(s.as_bytes());
        symbol_spans.push(TextSpan { start, end: text.len() as u32 });
    }
    let mut out = Decoded::default();
    let mut scratch = SeriesScratch::default();
    let series = SeriesBatch::build(text, |batch| {
        for (index, ts) in request.timeseries.iter().enumerate() {
            scratch.clear();
            if ts.labels_refs.len() % 2 != 0 {
                return Err(DecodeError::InvalidSeries {
                    series: format!("#{index}"),
                    problem: format!("labels_refs has odd length {}", ts.labels_refs.len()),
                });
            }
            let span = |r: u32| {
                symbol_spans.get(r as usize).copied().ok_or_else(|| DecodeError::InvalidSeries {
                    series: format!("#{index}"),
                    problem: format!("label reference {r} is outside the symbol table ({} symbols)", symbols.len()),
                })
            };
            for pair in ts.labels_refs.chunks_exact(2) {
                scratch.labels.push((span(pair[0])?, span(pair[1])?));
            }
            if let Some(m) = &ts.metadata {
                let pairs = ts.labels_refs.chunks_exact(2).map(|p| (symbols[p[0] as usize].as_str(), symbols[p[1] as usize].as_str()));
                let family = pairs.filter(|(n, v)| *n == METRIC_NAME_LABEL && !v.is_empty()).map(|(_, v)| v).next();
                let symbol = |r: u32| symbols.get(r as usize).cloned().unwrap_or_default();
                // A series without a name fails validation below; its metadata goes with it.
                if let Some(family) = family {
                    if m.r#type != 0 || m.help_ref != 0 || m.unit_ref != 0 {
                        out.metadata.push(MetricMetadata { family: family.to_string(), kind: type_name(m.r#type).into(), help: symbol(m.help_ref), unit: symbol(m.unit_ref) });
                    }
                }
            }
            scratch.samples.extend(ts.samples.iter().map(|s| Sample { timestamp_ms: s.timestamp, value: s.value }));
            out.histograms_dropped += ts.histograms.len() as u64;
            out.exemplars_dropped += ts.exemplars.len() as u64;
            push_valid_series(batch, &mut scratch, reject_non_finite, &mut out.samples)?;
        }
        Ok(())
    })?;
    out.series = series;
    Ok(out)
}

/// `{name="value", …}` of the labels as sent, for error messages.
fn series_text<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> String {
    let inner: Vec<String> =
        pairs.map(|(n, v)| format!("{}={:?}", String::from_utf8_lossy(n), String::from_utf8_lossy(v))).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Spec rules: non-empty names, strictly ascending (sorted, unique), `__name__` present.
/// Labels with empty values are dropped by the caller (an empty value means "absent").
fn check_labels<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone) -> Result<(), DecodeError> {
    let invalid = |problem: String| DecodeError::InvalidSeries { series: series_text(pairs.clone()), problem };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut previous: Option<&[u8]> = None;
    let mut named = false;
    for (name, value) in pairs.clone() {
        if name.is_empty() {
            return Err(invalid("empty label name".into()));
        }
        if let Some(previous) = previous {
            if previous == name {
                return Err(invalid(format!("duplicate label name {:?}", text(name))));
            }
            if previous > name {
                return Err(invalid(format!("labels are not sorted by name ({:?} before {:?})", text(previous), text(name))));
            }
        }
        previous = Some(name);
        named |= name == METRIC_NAME_LABEL.as_bytes() && !value.is_empty();
    }
    if !named {
        return Err(invalid("missing metric name (__name__ label)".into()));
    }
    Ok(())
}

/// With `reject_non_finite`, refuses NaN and ±Inf other than the stale marker; `kept` are
/// the series' labels (for the message).
fn check_samples<'a>(kept: impl Iterator<Item = (&'a [u8], &'a [u8])>, samples: &[Sample], reject_non_finite: bool) -> Result<(), DecodeError> {
    if !reject_non_finite {
        return Ok(());
    }
    let Some(bad) = samples.iter().find(|s| !s.value.is_finite() && !tsdb::is_stale_nan(s.value)) else {
        return Ok(());
    };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let labels = Labels::from_sorted(kept.map(|(n, v)| Label { name: text(n), value: text(v) }).collect());
    Err(DecodeError::InvalidSeries {
        series: labels.to_string(),
        problem: format!("non-finite value {} at {} (storage.reject_non_finite is on)", bad.value, bad.timestamp_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proto::remote_write_v1 as v1;

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
        let s = decoded.series.get(0).samples();
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
        assert_eq!(decoded.series.get(0).to_labels().get("job"), Some("x"));
        let mut bad = request.clone();
        bad.timeseries[0].labels_refs = vec![1, 9];
        let body = snap::raw::Encoder::new().compress_vec(&bad.encode_to_vec()).unwrap();
        let err = decode_request(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"), None, &body, false).unwrap_err();
        assert!(err.to_string().contains("outside the symbol table"), "{err}");
    }

    /// A protobuf field `number` holding `payload` (length-delimited).
    fn len_field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped_and_groups_refused() {
        // Field 15 as varint, fixed64, length-delimited and fixed32.
        let unknown: Vec<u8> = [&[0x78, 0x96, 0x01][..], &[0x79, 1, 2, 3, 4, 5, 6, 7, 8], &[0x7a, 2, b'x', b'y'], &[0x7d, 1, 2, 3, 4]].concat();
        let label = |n: &str, v: &str| [len_field(1, n.as_bytes()), unknown.clone(), len_field(2, v.as_bytes())].concat();
        let sample = [vec![0x09], 2.5f64.to_bits().to_le_bytes().to_vec(), unknown.clone(), vec![0x10, 7]].concat();
        let series = [len_field(1, &label("__name__", "up")), unknown.clone(), len_field(1, &label("job", "a")), len_field(2, &sample), len_field(3, b""), len_field(4, b"")].concat();
        let request = [unknown.clone(), len_field(1, &series), unknown.clone()].concat();
        let decoded = decode_write_request(request.clone(), false).expect("unknown fields are skipped");
        assert_eq!(decoded.series.to_series()[0].labels, Labels::from_pairs([("__name__", "up"), ("job", "a")]));
        assert_eq!(decoded.series.get(0).samples(), &[Sample { timestamp_ms: 7, value: 2.5 }]);
        assert_eq!((decoded.exemplars_dropped, decoded.histograms_dropped), (1, 1));
        for bad in [&[0x7b, 0x7c][..], &[0x7f], &[0x0a, 0x05, 1]] {
            let garbage = [request.clone(), bad.to_vec()].concat();
            assert!(matches!(decode_write_request(garbage, false), Err(DecodeError::Protobuf(_))), "{bad:x?}");
        }
        let wrong_wire_type = [len_field(1, &[0x08, 0x01])].concat(); // Label field 1 as a varint
        assert!(matches!(decode_write_request(len_field(1, &wrong_wire_type), false), Err(DecodeError::Protobuf(_))));
        let not_utf8 = len_field(1, &len_field(1, &[len_field(1, b"__name__"), len_field(2, &[0xff])].concat()));
        assert!(matches!(decode_write_request(not_utf8, false), Err(DecodeError::Protobuf(_))));
    }

    #[test]
    fn a_wire_error_wins_over_an_earlier_invalid_series() {
        let invalid = v1_body(vec![label("job", "a")], vec![(1, 1.0)]);
        let raw = snap::raw::Decoder::new().decompress_vec(&invalid).unwrap();
        assert!(matches!(decode_write_request(raw.clone(), false), Err(DecodeError::InvalidSeries { .. })));
        assert!(matches!(decode_write_request([raw, vec![0x0b]].concat(), false), Err(DecodeError::Protobuf(_))));
    }

    #[test]
    fn v1_metadata_is_collected() {
        let request = v1::WriteRequest {
            metadata: vec![
                v1::MetricMetadata { r#type: 1, metric_family_name: "up".into(), help: "h".into(), unit: "u".into() },
                v1::MetricMetadata { r#type: 2, metric_family_name: "".into(), ..Default::default() },
            ],
            ..Default::default()
        };
        let decoded = decode_write_request(request.encode_to_vec(), false).unwrap();
        assert_eq!(decoded.metadata, vec![MetricMetadata { family: "up".into(), kind: "counter".into(), help: "h".into(), unit: "u".into() }]);
    }

    /// What the walker must produce: prost's decode, then the spec rules on owned strings.
    fn reference(request: &v1::WriteRequest) -> Result<Vec<tsdb::SeriesSamples>, ()> {
        let mut out = Vec::new();
        for ts in &request.timeseries {
            let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
            let valid = names.iter().all(|n| !n.is_empty())
                && names.windows(2).all(|w| w[0] < w[1])
                && ts.labels.iter().any(|l| l.name == "__name__" && !l.value.is_empty());
            if !valid {
                return Err(());
            }
            if !ts.samples.is_empty() {
                let labels = Labels::from_sorted(ts.labels.iter().filter(|l| !l.value.is_empty()).map(|l| Label::new(&l.name, &l.value)).collect());
                let samples = ts.samples.iter().map(|s| Sample { timestamp_ms: s.timestamp, value: s.value }).collect();
                out.push(tsdb::SeriesSamples { labels, samples });
            }
        }
        Ok(out)
    }

    fn arb_request() -> impl Strategy<Value = v1::WriteRequest> {
        let name = prop_oneof![Just("__name__".to_string()), Just(String::new()), "[a-c_]{1,3}", "[a-zé]{1,8}"];
        let value = prop_oneof![Just(String::new()), "[a-z0-9é.:]{1,12}"];
        let labels = prop::collection::vec((name, value), 0..6).prop_map(|mut pairs| {
            // Mostly valid sets (sorted, unique), some left as generated.
            if pairs.len() % 3 != 0 {
                pairs.sort();
                pairs.dedup_by(|a, b| a.0 == b.0);
            }
            pairs.into_iter().map(|(name, value)| v1::Label { name, value }).collect::<Vec<_>>()
        });
        let samples = prop::collection::vec((any::<i64>(), any::<f64>()), 0..3)
            .prop_map(|s| s.into_iter().map(|(timestamp, value)| v1::Sample { value, timestamp }).collect::<Vec<_>>());
        let series = (labels, samples).prop_map(|(labels, samples)| v1::TimeSeries { labels, samples, ..Default::default() });
        prop::collection::vec(series, 0..5).prop_map(|timeseries| v1::WriteRequest { timeseries, metadata: vec![] })
    }

    proptest! {
        /// The walker accepts and refuses what prost + the rules do, keeps the same series
        /// and samples (bit-exact) and hashes each label set as `Labels::stable_hash`.
        #[test]
        fn walker_matches_prost_decoding(request in arb_request()) {
            let walked = decode_write_request(request.encode_to_vec(), false);
            match reference(&request) {
                Ok(expected) => {
                    let decoded = walked.expect("valid requests decode");
                    let got = decoded.series.to_series();
                    prop_assert_eq!(&got, &expected);
                    for (s, e) in decoded.series.iter().zip(&expected) {
                        prop_assert_eq!(s.hash(), e.labels.stable_hash());
                    }
                    prop_assert_eq!(decoded.samples as usize, expected.iter().map(|s| s.samples.len()).sum::<usize>());
                }
                Err(()) => {
                    let refused = matches!(walked, Err(DecodeError::InvalidSeries { .. }));
                    prop_assert!(refused, "{:?}", walked);
                }
            }
        }
    }
}
