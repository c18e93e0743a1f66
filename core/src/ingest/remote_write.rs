//! remote_write 1.0 (`prometheus.WriteRequest`) and 2.0 (`io.prometheus.write.v2.Request`)
//! decoding and validation per the spec: UTF-8, non-empty sorted unique label names,
//! `__name__` present; NaN/±Inf and stale markers kept bit-exact (opt-in rejection).
//! Both are walked in place (`protowire`): label text stays in the decompressed body, which
//! becomes the `SeriesBatch`'s buffer; no allocation per label or sample.

use tsdb::{Exemplar, HistogramSample, Label, Labels, Sample, EXEMPLAR_LABELS_CHARS_MAX, SeriesBatch, SeriesBatchBuilder, TextSpan, METRIC_NAME_LABEL};

use super::label_limits::LabelLimits;
use super::protowire::{Fields, WireError};
use super::snappy::UnsnappyError;

mod v1;
mod v2;

pub use v1::decode_write_request;

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
    #[error("unsupported content encoding {0:?}; snappy (Prometheus) or zstd (vmagent) is accepted")]
    UnsupportedEncoding(String),
    #[error("snappy decompression failed: {0}")]
    Snappy(String),
    #[error("zstd decompression failed: {0}")]
    Zstd(String),
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
    /// Native histogram samples of those series (stored beside the float samples).
    pub histograms: u64,
    /// Valid exemplars of those series (in the batch; the shards may still refuse some).
    pub exemplars: u64,
    /// Exemplars skipped as invalid (labels over `tsdb::EXEMPLAR_LABELS_CHARS_MAX`
    /// characters, an empty or repeated label name, text that is not UTF-8), as Prometheus
    /// skips them: the request and its samples go on.
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

/// The validation settings a request is decoded under (from `storage` in the config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IngestRules {
    /// Refuse NaN and ±Inf values other than the stale marker (`storage.reject_non_finite`).
    pub reject_non_finite: bool,
    pub label_limits: LabelLimits,
    /// Read samples' start times into the batch (`tsdb::StartTimestamp`), for the shards
    /// to write as zero samples (`storage.start_timestamp_zero_ingestion`) or store with
    /// the samples (`storage.start_timestamp_storage`); `StorageConfig::reads_start_timestamps`.
    pub read_start_timestamps: bool,
    /// Label series with `__type__`/`__unit__` from their metadata
    /// (`storage.type_and_unit_labels`): remote_write 2.0's and OTLP's.
    pub type_and_unit_labels: bool,
}

/// Decodes and validates one request body.
pub fn decode_request(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    rules: &IngestRules,
) -> Result<(Protocol, Decoded), DecodeError> {
    let protocol = protocol_for(content_type)?;
    let zstd = match content_encoding.map(str::trim) {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("snappy") => false,
        Some(e) if e.eq_ignore_ascii_case("zstd") => true,
        Some(other) => return Err(DecodeError::UnsupportedEncoding(other.to_string())),
    };
    // vmagent's own protocol is the same request compressed with zstd. A vmagent may send a
    // body queued on disk before a restart under the other encoding's header: a body that
    // does not decode as its header says is read the other way, as VictoriaMetrics reads it.
    let raw = if zstd || body.starts_with(&ZSTD_MAGIC) {
        match unzstd(body) {
            Ok(raw) => raw,
            Err(zstd_error) => decompress(body).map_err(|snappy_error| if zstd { zstd_error } else { snappy_error })?,
        }
    } else {
        decompress(body)?
    };
    let decoded = match protocol {
        Protocol::V1 => decode_write_request(raw, rules)?,
        Protocol::V2 => v2::decode(raw, rules)?,
    };
    Ok((protocol, decoded))
}

/// The first bytes of a zstd frame (its magic number, little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The largest window a zstd frame may declare: vmagent's blocks are at most 8 MiB
/// (`-remoteWrite.maxBlockSize`), and a frame's window is at most its content.
const ZSTD_WINDOW_BYTES_MAX: u64 = 64 << 20;

fn unzstd(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    super::zstd::unzstd_into(&mut out, body, MAX_DECOMPRESSED_BYTES, ZSTD_WINDOW_BYTES_MAX, &mut ruzstd::decoding::FrameDecoder::new()).map_err(DecodeError::Zstd)?;
    Ok(out)
}

fn decompress(body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    super::snappy::unsnappy(body, MAX_DECOMPRESSED_BYTES).map_err(|e| match e {
        UnsnappyError::TooLarge { declared } => DecodeError::TooLarge(declared),
        UnsnappyError::Malformed(error) => DecodeError::Snappy(error),
    })
}

/// Per-series scratch space, reused across a request's series (no allocation per series).
#[derive(Default)]
struct SeriesScratch {
    /// Every label as sent, empty values included (validation sees them).
    labels: Vec<(TextSpan, TextSpan)>,
    /// The labels kept: those with a value.
    kept: Vec<(TextSpan, TextSpan)>,
    samples: Vec<Sample>,
    /// Native histogram samples (most series have none: nothing is allocated then).
    histograms: Vec<HistogramSample>,
    /// The first reason a histogram of the series was refused, reported with its labels.
    histogram_problem: Option<String>,
    /// 2.0: the series' label references (name, value, name, value, …).
    refs: Vec<u32>,
    /// The series' valid exemplars (most series have none: nothing is allocated then).
    exemplars: Vec<Exemplar>,
    /// Exemplars of the series skipped as invalid.
    exemplars_invalid: u64,
    /// 2.0: the start timestamps given with the series' samples (most series have none).
    starts: Vec<tsdb::StartTimestamp>,
}

impl SeriesScratch {
    fn clear(&mut self) {
        self.refs.clear();
        self.labels.clear();
        self.kept.clear();
        self.samples.clear();
        self.histograms.clear();
        self.histogram_problem = None;
        self.exemplars.clear();
        self.exemplars_invalid = 0;
        self.starts.clear();
    }

    /// Keeps an exemplar (label pairs as sent) when it is valid, else counts it.
    fn push_exemplar<'a>(&mut self, pairs: &mut Vec<(&'a [u8], &'a [u8])>, value: f64, timestamp_ms: i64) {
        match exemplar_from(pairs, value, timestamp_ms) {
            Some(e) => self.exemplars.push(e),
            None => self.exemplars_invalid += 1,
        }
    }
}

/// An exemplar from its label pairs as sent (sorted here), or `None` when Prometheus would
/// refuse it: a name that is empty or repeated, text that is not UTF-8, or names and values
/// over `EXEMPLAR_LABELS_CHARS_MAX` characters together. Labels with an empty value are
/// dropped, as a series' are.
pub(crate) fn exemplar_from(pairs: &mut Vec<(&[u8], &[u8])>, value: f64, timestamp_ms: i64) -> Option<Exemplar> {
    pairs.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut chars = 0;
    for (i, &(name, label_value)) in pairs.iter().enumerate() {
        let (name, label_value) = (std::str::from_utf8(name).ok()?, std::str::from_utf8(label_value).ok()?);
        if name.is_empty() || (i > 0 && pairs[i - 1].0 == name.as_bytes()) {
            return None;
        }
        chars += name.chars().count() + label_value.chars().count();
    }
    if chars > EXEMPLAR_LABELS_CHARS_MAX {
        return None;
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let labels = Labels::from_sorted(pairs.iter().filter(|(_, v)| !v.is_empty()).map(|&(n, v)| Label { name: text(n), value: text(v) }));
    Some(Exemplar { labels, value, timestamp_ms, own_timestamp: true })
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

/// One `Sample` message (1.0 and 2.0 share its fields: 1 value, 2 timestamp). With
/// `start`, 2.0's `start_timestamp` (field 3) is read into it in the same pass; without, the
/// field is skipped as unknown (1.0 has none).
fn walk_sample(message: &[u8], mut start: Option<&mut i64>) -> Result<Sample, DecodeError> {
    let mut sample = Sample { timestamp_ms: 0, value: 0.0 };
    for field in Fields::new(message) {
        match field? {
            (1, v) => sample.value = f64::from_bits(v.fixed64(1)?),
            (2, v) => sample.timestamp_ms = v.varint(2)? as i64,
            (3, v) => {
                if let Some(start) = start.as_deref_mut() {
                    *start = v.varint(3)? as i64;
                }
            }
            _ => {}
        }
    }
    Ok(sample)
}

/// One `Histogram` message (1.0 and 2.0 share it) into `scratch`: a histogram sample, or a
/// float staleness marker when its sum is one (how Prometheus marks a histogram series
/// stale). A histogram that breaks Prometheus' rules is remembered as the series' problem.
/// Returns its 2.0 start timestamp (`(start, timestamp)`) when it has one and was kept
/// as a histogram.
fn walk_histogram(message: &[u8], scratch: &mut SeriesScratch) -> Result<Option<(i64, i64)>, DecodeError> {
    let h = <proto::remote_write_v1::Histogram as prost::Message>::decode(message).map_err(|e| DecodeError::Protobuf(format!("invalid Histogram: {e}")))?;
    if tsdb::is_stale_nan(h.sum) {
        scratch.samples.push(Sample { timestamp_ms: h.timestamp, value: f64::from_bits(tsdb::STALE_NAN_BITS) });
        return Ok(None);
    }
    match super::native_histogram::from_proto(&h) {
        Ok(sample) => {
            scratch.histograms.push(sample);
            Ok(Some((h.start_timestamp, h.timestamp)))
        }
        Err(e) => {
            scratch.histogram_problem.get_or_insert_with(|| format!("{e} (at {})", h.timestamp));
            Ok(None)
        }
    }
}

/// Samples and native histograms of the series a request stored.
#[derive(Default)]
struct StoredCounts {
    samples: u64,
    histograms: u64,
    exemplars: u64,
    exemplars_dropped: u64,
}

/// Validates the series in `scratch` and adds it to the batch when it has samples.
fn push_valid_series(batch: &mut SeriesBatchBuilder<'_>, scratch: &mut SeriesScratch, rules: &IngestRules, counts: &mut StoredCounts) -> Result<(), DecodeError> {
    let text = batch.text();
    let bytes = move |s: TextSpan| &text[s.start as usize..s.end as usize];
    check_labels(scratch.labels.iter().map(|&(n, v)| (bytes(n), bytes(v))), &rules.label_limits)?;
    scratch.kept.extend(scratch.labels.iter().filter(|(_, v)| v.end > v.start));
    let histogram_problem = scratch.histogram_problem.take();
    let scratch = &*scratch;
    let kept_pairs = || scratch.kept.iter().map(|&(n, v)| (bytes(n), bytes(v)));
    if let Some(problem) = histogram_problem {
        return Err(DecodeError::InvalidSeries { series: series_text(kept_pairs()), problem });
    }
    check_samples(kept_pairs(), &scratch.samples, rules.reject_non_finite)?;
    counts.exemplars_dropped += scratch.exemplars_invalid;
    // A series sent with exemplars only is created too, as Prometheus does.
    if scratch.samples.is_empty() && scratch.histograms.is_empty() && scratch.exemplars.is_empty() {
        return Ok(());
    }
    counts.samples += scratch.samples.len() as u64;
    counts.histograms += scratch.histograms.len() as u64;
    counts.exemplars += scratch.exemplars.len() as u64;
    if scratch.histograms.is_empty() {
        batch.push_series(&scratch.kept, &scratch.samples);
    } else {
        // Valid by `from_proto`'s checks; the batch checks its own invariant once more.
        batch
            .push_series_with_histograms(&scratch.kept, &scratch.samples, &scratch.histograms)
            .map_err(|e| DecodeError::InvalidSeries { series: series_text(kept_pairs()), problem: e.to_string() })?;
    }
    if !scratch.exemplars.is_empty() {
        batch.push_exemplars(&scratch.exemplars);
    }
    // Filled only under `storage.start_timestamp_zero_ingestion` (2.0's walk).
    if !scratch.starts.is_empty() {
        batch.push_start_timestamps(&scratch.starts);
    }
    Ok(())
}

/// Labels and characters of a series shown in an error message; the rest is elided, so a
/// hostile series cannot turn its 400 into a megabyte of text.
const SERIES_TEXT_LABELS_MAX: usize = 8;
const SERIES_TEXT_CHARS_MAX: usize = 64;

/// `{name="value", …}` of the labels as sent, for error messages (shortened).
fn series_text<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> String {
    let clip = |b: &[u8]| {
        let text = String::from_utf8_lossy(b);
        match text.char_indices().nth(SERIES_TEXT_CHARS_MAX) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.into_owned(),
        }
    };
    let mut inner = Vec::new();
    let mut total = 0usize;
    for (n, v) in pairs {
        if inner.len() < SERIES_TEXT_LABELS_MAX {
            inner.push(format!("{}={:?}", clip(n), clip(v)));
        }
        total += 1;
    }
    if total > inner.len() {
        inner.push(format!("… {} more", total - inner.len()));
    }
    format!("{{{}}}", inner.join(", "))
}

/// Spec rules: non-empty names, strictly ascending (sorted, unique), `__name__` present;
/// and the label limits (`label_limits`).
/// Labels with empty values are dropped by the caller (an empty value means "absent").
fn check_labels<'a>(pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone, limits: &LabelLimits) -> Result<(), DecodeError> {
    let invalid = |problem: String| DecodeError::InvalidSeries { series: series_text(pairs.clone()), problem };
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut previous: Option<&[u8]> = None;
    let mut named = false;
    if let Some(problem) = super::label_limits::problem(limits, pairs.clone()) {
        return Err(invalid(problem));
    }
    for (name, value) in pairs.clone() {
        if name.is_empty() {
            return Err(invalid("empty label name".into()));
        }
        if let Some(previous) = previous {
            // One word-wise comparison per name: a `memcmp` call each cost 6% of a write.
            match tsdb::model::short_bytes_cmp(previous, name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err(invalid(format!("duplicate label name {:?}", text(name)))),
                std::cmp::Ordering::Greater => {
                    return Err(invalid(format!("labels are not sorted by name ({:?} before {:?})", text(previous), text(name))))
                }
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
    let labels = Labels::from_sorted(kept.map(|(n, v)| Label { name: text(n), value: text(v) }).collect::<Vec<Label>>());
    Err(DecodeError::InvalidSeries {
        series: labels.to_string(),
        problem: format!("non-finite value {} at {} (storage.reject_non_finite is on)", bad.value, bad.timestamp_ms),
    })
}

/// Helpers shared by the 1.0 and 2.0 walkers' tests.
#[cfg(test)]
mod test_support {
    use proptest::prelude::*;
    use tsdb::{Labels, Sample, SeriesSamples};

    use super::{DecodeError, Decoded, IngestRules};

    /// The spec's rules on one series' label pairs, on owned strings (the walkers' model):
    /// non-empty names, strictly ascending, a non-empty `__name__`. `Err` when broken, else
    /// the series with empty values dropped, or `None` when it has no samples.
    pub fn reference_series(pairs: &[(&str, &str)], samples: impl Iterator<Item = (i64, f64)>) -> Result<Option<SeriesSamples>, ()> {
        let valid = pairs.iter().all(|(n, _)| !n.is_empty())
            && pairs.windows(2).all(|w| w[0].0 < w[1].0)
            && pairs.iter().any(|(n, v)| *n == "__name__" && !v.is_empty());
        if !valid {
            return Err(());
        }
        let samples: Vec<Sample> = samples.map(|(timestamp_ms, value)| Sample { timestamp_ms, value }).collect();
        if samples.is_empty() {
            return Ok(None);
        }
        let labels = Labels::from_sorted(pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (*n, *v)));
        Ok(Some(SeriesSamples { labels, samples, histograms: Vec::new(), starts: None }))
    }

    /// A walked request holds exactly the model's series and samples (bit-exact through
    /// `SeriesSamples`' equality), and each series' hash is `Labels::stable_hash`.
    pub fn check_walked(decoded: &Decoded, expected: &[SeriesSamples]) -> Result<(), TestCaseError> {
        prop_assert_eq!(&decoded.series.to_series(), expected);
        for (s, e) in decoded.series.iter().zip(expected) {
            prop_assert_eq!(s.hash(), e.labels.stable_hash());
        }
        prop_assert_eq!(decoded.samples as usize, expected.iter().map(|s| s.samples.len()).sum::<usize>());
        Ok(())
    }

    /// A protobuf field `number` holding `payload` (length-delimited, payload < 128 bytes).
    pub fn len_field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, payload.len() as u8];
        out.extend_from_slice(payload);
        out
    }

    /// Feeds `decode` every truncation of `raw` and every byte of it replaced by a few
    /// telling values: each must come back as a value or an error, never a panic.
    pub fn damaged_bodies_never_panic(raw: &[u8], decode: impl Fn(Vec<u8>, &IngestRules) -> Result<Decoded, DecodeError>) {
        let strict = IngestRules { reject_non_finite: true, ..IngestRules::default() };
        for len in 0..raw.len() {
            let _ = decode(raw[..len].to_vec(), &strict);
        }
        for at in 0..raw.len() {
            for byte in [0x00, 0x01, 0x7f, 0x80, 0xc3, 0xff] {
                let mut bad = raw.to_vec();
                bad[at] = byte;
                let _ = decode(bad, &IngestRules::default());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
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

    /// vmagent's protocol: the request compressed with zstd, under `Content-Encoding: zstd`
    /// or, queued before a vmagent restart, under the other encoding's header.
    #[test]
    fn zstd_bodies_are_read_as_vmagent_sends_them() {
        let body = v1_body(vec![label("__name__", "up"), label("job", "a")], vec![(1, 1.0), (2, 2.0)]);
        let plain = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
        let zstd = ruzstd::encoding::compress_to_vec(plain.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
        assert!(zstd.starts_with(&ZSTD_MAGIC));
        for (encoding, sent) in [(Some("zstd"), &zstd), (Some(" ZSTD "), &zstd), (Some("snappy"), &zstd), (None, &zstd), (Some("zstd"), &body)] {
            let (_, decoded) = decode_request(None, encoding, sent, &IngestRules::default()).unwrap_or_else(|e| panic!("{encoding:?}: {e}"));
            assert_eq!((decoded.samples, decoded.series.get(0).samples()[1].value), (2, 2.0), "{encoding:?}");
        }
        // Neither zstd nor snappy: the error names the declared encoding's failure.
        let err = decode_request(None, Some("zstd"), b"\x28\xb5\x2f\xfd\x00garbage", &IngestRules::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Zstd(_)), "{err}");
        let err = decode_request(None, Some("zstd"), &zstd[..zstd.len() - 4], &IngestRules::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Zstd(_)), "{err}");
        let err = decode_request(None, None, &zstd[..zstd.len() - 4], &IngestRules::default()).unwrap_err();
        assert!(matches!(err, DecodeError::Snappy(_)), "{err}");
        assert!(decode_request(None, Some("br"), &zstd, &IngestRules::default()).unwrap_err().to_string().contains("snappy (Prometheus) or zstd (vmagent)"));
    }

    #[test]
    fn v1_round_trip_keeps_stale_marker_bits() {
        let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
        let body = v1_body(vec![label("__name__", "up"), label("job", "a")], vec![(1, 1.0), (2, f64::NAN), (3, stale), (4, f64::INFINITY)]);
        let (protocol, decoded) = decode_request(None, Some("snappy"), &body, &IngestRules::default()).unwrap();
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
            (vec![label("__name__", "up"), label(&"n".repeat(1025), "v")], "a label name of 1025 bytes"),
            (vec![label("__name__", "up"), label("v", &"x".repeat(16 * 1024 + 1))], "has 16385 bytes"),
        ];
        for (labels, expected) in table {
            let err = decode_request(None, None, &v1_body(labels, vec![(1, 1.0)]), &IngestRules::default()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expected) && text.contains("invalid series"), "{text}");
        }
    }

    /// A hostile series (100k labels, each value long) gets a 400 whose message names the
    /// limit and stays short.
    #[test]
    fn a_series_with_too_many_labels_is_refused_with_a_short_message() {
        let mut labels = vec![label("__name__", "many")];
        labels.extend((0..100_000).map(|i| label(&format!("l{i:06}"), &"v".repeat(200))));
        let err = decode_request(None, None, &v1_body(labels, vec![(1, 1.0)]), &IngestRules::default()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("more than 128 labels"), "{}", &text[..text.len().min(500)]);
        assert!(text.contains("more}") || text.contains("… "), "the label list is elided: {}", &text[..text.len().min(500)]);
        assert!(text.len() < 2_000, "message of {} bytes", text.len());
        let at_limit: Vec<_> = std::iter::once(label("__name__", "ok"))
            .chain((1..128).map(|i| label(&format!("l{i:03}"), "v")))
            .collect();
        assert!(decode_request(None, None, &v1_body(at_limit, vec![(1, 1.0)]), &IngestRules::default()).is_ok(), "exactly the limit is accepted");
    }

    #[test]
    fn garbage_and_truncation_are_errors() {
        let body = v1_body(vec![label("__name__", "up")], vec![(1, 1.0)]);
        assert!(matches!(decode_request(None, None, &body[..body.len() - 3], &IngestRules::default()), Err(DecodeError::Snappy(_))));
        let garbage = snap::raw::Encoder::new().compress_vec(&[0xff, 0xff, 0xff, 0x01, 0x02]).unwrap();
        assert!(matches!(decode_request(None, None, &garbage, &IngestRules::default()), Err(DecodeError::Protobuf(_))));
        assert!(decode_request(None, Some("gzip"), &body, &IngestRules::default()).unwrap_err().is_unsupported_media());
    }

    #[test]
    fn reject_non_finite_is_opt_in() {
        let body = v1_body(vec![label("__name__", "up")], vec![(1, f64::NAN)]);
        assert!(decode_request(None, None, &body, &IngestRules::default()).is_ok());
        assert!(decode_request(None, None, &body, &IngestRules { reject_non_finite: true, ..IngestRules::default() }).is_err());
    }

}
