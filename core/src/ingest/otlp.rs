//! OpenTelemetry metrics (OTLP/HTTP `ExportMetricsServiceRequest`, protobuf or JSON) into series, as
//! Prometheus 3.x translates them (see `translate`), with names translated and resource
//! attributes promoted as configured (`otlp:`). Delta temporality is refused unless
//! `otlp.native_delta_ingestion` or `otlp.delta_to_cumulative` is set. Pure; no I/O.

mod context;
pub mod delta_to_cumulative;
mod exemplars;
mod json;
mod naming;
pub mod warnings;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use proto::otlp_metrics::{
    exponential_histogram_data_point::Buckets, metric::Data, number_data_point, AggregationTemporality, ExponentialHistogramDataPoint,
    ExportMetricsServiceRequest, HistogramDataPoint, KeyValue, Metric, FLAG_NO_RECORDED_VALUE,
};
use proto::remote_write_v1::{histogram as proto_histogram, BucketSpan as ProtoSpan, Histogram as ProtoHistogram};
use tsdb::{Exemplar, FloatHistogram, HistogramSample, Labels, Sample, SeriesBatch, SeriesSamples, StartTimestamp, TextSpan, METRIC_NAME_LABEL, METRIC_TYPE_LABEL, METRIC_UNIT_LABEL, STALE_NAN_BITS};

use context::{point_labels, set_label, LabelMap, ResourceLabels, ScopeLabels, IDENTIFYING_ATTRIBUTES};
pub use context::{ResourcePromotion, TranslationOptions};
pub use naming::{NameKind, Naming, TranslationStrategy};

use super::{IngestRules, MAX_DECOMPRESSED_BYTES};

/// OTLP/HTTP's binary protobuf `Content-Type`.
pub const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
/// OTLP/HTTP's JSON `Content-Type` (`json`).
pub const CONTENT_TYPE_JSON: &str = "application/json";
/// Exponential histograms get Prometheus' fixed zero threshold (OTLP's own is not used yet,
/// as in Prometheus).
pub const EXPONENTIAL_ZERO_THRESHOLD: f64 = 1e-128;
/// `target_info` gets a sample every half lookback delta (5m) across the request's data
/// points, so it is found wherever they are.
pub const TARGET_INFO_INTERVAL_NS: u64 = 150 * 1_000_000_000;
/// Most `target_info` samples one resource may need (7 days of data points at the interval
/// above); a wider request is refused rather than expanded without bound.
pub const TARGET_INFO_SAMPLES_MAX: u64 = 7 * 24 * 24 + 1;

const TARGET_INFO: &str = "target_info";

/// Why an OTLP request was refused: `is_unsupported_media` ones map to 415, the rest to 400.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum OtlpError {
    #[error("unsupported content type {0:?}: OTLP protobuf (application/x-protobuf) or OTLP/JSON (application/json) is accepted")]
    UnsupportedMediaType(String),
    #[error("unsupported content encoding {0:?}: only gzip or no compression is accepted")]
    UnsupportedEncoding(String),
    #[error("gzip decompression failed: {0}")]
    Gzip(String),
    #[error("decompressed body is larger than the limit of {MAX_DECOMPRESSED_BYTES} bytes")]
    TooLarge,
    #[error("protobuf decoding of ExportMetricsServiceRequest failed: {0}")]
    Protobuf(String),
    #[error("OTLP/JSON decoding of ExportMetricsServiceRequest failed: {0}")]
    Json(String),
    #[error("metric {metric:?}: {problem}")]
    InvalidMetric { metric: String, problem: String },
    #[error("invalid series {series}: {problem}")]
    InvalidSeries { series: String, problem: String },
    #[error("resource: {0}")]
    InvalidResource(String),
    #[error("scope {scope:?}: {problem}")]
    InvalidScope { scope: String, problem: String },
    #[error("the translated series' labels take {0} bytes, more than one write batch holds (4 GiB)")]
    BatchTooLarge(usize),
    #[error("invalid write batch: {0}")]
    InvalidBatch(String),
}

impl OtlpError {
    pub fn is_unsupported_media(&self) -> bool {
        matches!(self, OtlpError::UnsupportedMediaType(_) | OtlpError::UnsupportedEncoding(_))
    }
}

/// The series of one request, ready for the shards (`to_batch`).
#[derive(Debug, Default)]
pub struct Translated {
    pub series: Vec<SeriesSamples>,
    /// The exemplars of each of `series` (same index), ordered by time, then value, then
    /// label hash (the order the shards' exemplar buffers accept them in).
    pub series_exemplars: Vec<Vec<Exemplar>>,
    /// The start timestamps of each of `series` (same index; empty unless
    /// `storage.start_timestamp_zero_ingestion` is on): a point's `start_time_unix_nano`.
    pub series_starts: Vec<Vec<StartTimestamp>>,
    /// Float samples (staleness markers included).
    pub samples: u64,
    pub histograms: u64,
    /// OTLP data points translated (a histogram point makes several samples).
    pub data_points: u64,
    /// Exemplars in `series_exemplars` (the shards may still refuse some as out of order).
    pub exemplars: u64,
    /// Exemplars skipped: invalid by remote_write's rules (an empty or repeated label name),
    /// or on a gauge (Prometheus stores none for gauges).
    pub exemplars_dropped: u64,
    /// What was stored anyway (or dropped) but the sender should hear about.
    pub warnings: warnings::Warnings,
}

impl Translated {
    /// The write batch of the series, each with its native histograms (validated once more
    /// by the batch) and exemplars.
    pub fn to_batch(&self) -> Result<SeriesBatch, OtlpError> {
        debug_assert_eq!(self.series.len(), self.series_exemplars.len(), "one exemplar list per series");
        let text_bytes: usize = self.series.iter().flat_map(|s| s.labels.iter()).map(|l| l.name.len() + l.value.len()).sum();
        if u32::try_from(text_bytes).is_err() {
            return Err(OtlpError::BatchTooLarge(text_bytes));
        }
        let mut text = Vec::with_capacity(text_bytes);
        let mut spans = Vec::new();
        let span_of = |text: &mut Vec<u8>, s: &str| {
            let start = text.len() as u32;
            text.extend_from_slice(s.as_bytes());
            TextSpan { start, end: text.len() as u32 }
        };
        for s in &self.series {
            for l in s.labels.iter() {
                let name = span_of(&mut text, l.name);
                spans.push((name, span_of(&mut text, l.value)));
            }
        }
        SeriesBatch::build(text, |builder| {
            let mut rest = spans.as_slice();
            for (index, (s, exemplars)) in self.series.iter().zip(&self.series_exemplars).enumerate() {
                let (labels, tail) = rest.split_at(s.labels.len());
                builder.push_series_with_histograms(labels, &s.samples, &s.histograms)?;
                if !exemplars.is_empty() {
                    builder.push_exemplars(exemplars);
                }
                if let Some(starts) = self.series_starts.get(index).filter(|s| !s.is_empty()) {
                    builder.push_start_timestamps(starts);
                }
                rest = tail;
            }
            Ok(())
        })
        .map_err(|e: tsdb::Error| OtlpError::InvalidBatch(e.to_string()))
    }
}

/// Checks the media type and encoding, decompresses, decodes and translates one body.
pub fn decode_request(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    rules: &IngestRules,
    options: &TranslationOptions,
) -> Result<Translated, OtlpError> {
    translate(&decode_body(content_type, content_encoding, body)?, rules, options)
}

/// Whether a `Content-Type` is OTLP/JSON's (`application/json`, parameters aside), whose
/// answer is JSON too.
pub fn is_json(content_type: Option<&str>) -> bool {
    media_type(content_type).as_deref() == Some(CONTENT_TYPE_JSON)
}

fn media_type(content_type: Option<&str>) -> Option<String> {
    content_type.and_then(|t| t.split(';').next()).map(|t| t.trim().to_ascii_lowercase())
}

/// Checks the media type (protobuf or JSON) and encoding, decompresses and decodes one body.
pub fn decode_body(content_type: Option<&str>, content_encoding: Option<&str>, body: &[u8]) -> Result<ExportMetricsServiceRequest, OtlpError> {
    let decode: fn(&[u8]) -> Result<ExportMetricsServiceRequest, OtlpError> = match media_type(content_type).as_deref() {
        Some(CONTENT_TYPE_PROTOBUF) => decode_protobuf,
        Some(CONTENT_TYPE_JSON) => json::decode_json,
        _ => return Err(OtlpError::UnsupportedMediaType(content_type.unwrap_or("").to_string())),
    };
    let encoding = content_encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("" | "identity") => decode(body),
        Some("gzip" | "x-gzip") => decode(&gunzip(body)?),
        Some(_) => Err(OtlpError::UnsupportedEncoding(content_encoding.unwrap_or("").to_string())),
    }
}

fn decode_protobuf(raw: &[u8]) -> Result<ExportMetricsServiceRequest, OtlpError> {
    <ExportMetricsServiceRequest as prost::Message>::decode(raw).map_err(|e| OtlpError::Protobuf(e.to_string()))
}

fn gunzip(body: &[u8]) -> Result<Vec<u8>, OtlpError> {
    let mut raw = Vec::new();
    let limit = MAX_DECOMPRESSED_BYTES as u64 + 1;
    flate2::read::GzDecoder::new(body).take(limit).read_to_end(&mut raw).map_err(|e| OtlpError::Gzip(e.to_string()))?;
    if raw.len() as u64 >= limit {
        return Err(OtlpError::TooLarge);
    }
    Ok(raw)
}

/// One translated point of a series.
#[derive(Clone, Debug)]
enum Value {
    Float(f64),
    Histogram(Arc<FloatHistogram>),
}

/// One series being built: (time, arrival, value) points and its exemplars.
#[derive(Default)]
struct SeriesPoints {
    points: Vec<(At, u64, Value)>,
    exemplars: Vec<Exemplar>,
}

/// A data point's time and start time (`start_time_unix_nano`), in ms; 0 when not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct At {
    timestamp_ms: i64,
    start_ms: i64,
}

/// The `At` of a point's `time_unix_nano` and `start_time_unix_nano`.
fn at(time_unix_nano: u64, start_time_unix_nano: u64) -> At {
    At { timestamp_ms: timestamp_ms(time_unix_nano), start_ms: timestamp_ms(start_time_unix_nano) }
}

/// Series being built, by label set.
#[derive(Default)]
struct SeriesMap {
    series: BTreeMap<LabelMap, SeriesPoints>,
    arrivals: u64,
}

impl SeriesMap {
    fn push(&mut self, labels: LabelMap, at: At, value: Value) {
        self.push_with_exemplars(labels, at, value, Vec::new());
    }

    fn push_with_exemplars(&mut self, labels: LabelMap, at: At, value: Value, exemplars: Vec<Exemplar>) {
        self.arrivals += 1;
        let series = self.series.entry(labels).or_default();
        series.points.push((at, self.arrivals, value));
        series.exemplars.extend(exemplars);
    }
}

/// The labels a data point's resource and scope give its series, and the translation's
/// options.
struct PointContext<'a> {
    resource: &'a ResourceLabels,
    scope: Option<&'a ScopeLabels>,
    options: &'a TranslationOptions,
    /// `IngestRules::type_and_unit_labels`: series get `__type__`/`__unit__` of their metric.
    type_and_unit_labels: bool,
}

/// Translates a decoded request as Prometheus 3.x does: gauges and sums as samples,
/// explicit-bucket histograms as classic `_bucket`/`_count`/`_sum` series (with
/// `otlp.convert_histograms_to_nhcb` native histograms with custom buckets), exponential
/// histograms as native histograms, summaries as `quantile` series; resource identity as
/// `job`/`instance`, the rest of the resource as `target_info`; exemplars on the series
/// Prometheus puts them on; resource attributes and scope metadata promoted to labels and
/// names translated (`otlp.translation_strategy`, see `naming`) as configured (`otlp:`). The
/// first problem refuses the whole request (Prometheus rolls its append back on any
/// translation error).
pub fn translate(request: &ExportMetricsServiceRequest, rules: &IngestRules, options: &TranslationOptions) -> Result<Translated, OtlpError> {
    let mut map = SeriesMap::default();
    let mut counts = Translated::default();
    for resource_metrics in &request.resource_metrics {
        let attributes = resource_metrics.resource.as_ref().map_or(&[][..], |r| r.attributes.as_slice());
        let resource = ResourceLabels::of(attributes, &options.promotion, &options.naming).map_err(OtlpError::InvalidResource)?;
        let mut span_ns: Option<(u64, u64)> = None;
        for scope_metrics in &resource_metrics.scope_metrics {
            let scope = ScopeLabels::of(scope_metrics, options.promote_scope_metadata, &options.naming).map_err(|problem| OtlpError::InvalidScope {
                scope: scope_metrics.scope.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
                problem,
            })?;
            let context = PointContext { resource: &resource, scope: scope.as_ref(), options, type_and_unit_labels: rules.type_and_unit_labels };
            for metric in &scope_metrics.metrics {
                translate_metric(metric, &context, &mut map, &mut counts, &mut span_ns)?;
            }
        }
        if let Some((earliest, latest)) = span_ns {
            add_target_info(attributes, &resource, options, (earliest, latest), &mut map, &mut counts.warnings)?;
        }
    }
    finish(map, counts, rules)
}

fn timestamp_ms(unix_nano: u64) -> i64 {
    unix_nano as i64 / 1_000_000
}

fn stale_or(flags: u32, value: f64) -> f64 {
    if flags & FLAG_NO_RECORDED_VALUE != 0 { f64::from_bits(STALE_NAN_BITS) } else { value }
}

fn with_name(base: &LabelMap, name: &str, extra: Option<(&str, String)>) -> LabelMap {
    let mut labels = base.clone();
    if let Some((label, value)) = extra {
        set_label(&mut labels, label.to_string(), value);
    }
    labels.insert(METRIC_NAME_LABEL.to_string(), name.to_string());
    labels
}

fn widen(span_ns: &mut Option<(u64, u64)>, timestamps: impl Iterator<Item = u64>) {
    for t in timestamps {
        *span_ns = Some(span_ns.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
    }
}

/// Translates one metric's points into `map`. Delta temporality is refused unless
/// `otlp.native_delta_ingestion` stores delta points as sent (exponential histograms then as
/// gauge histograms) or `otlp.delta_to_cumulative` has turned them into cumulative points
/// first (`delta_to_cumulative`).
fn translate_metric(metric: &Metric, context: &PointContext<'_>, map: &mut SeriesMap, counts: &mut Translated, span_ns: &mut Option<(u64, u64)>) -> Result<(), OtlpError> {
    let invalid = |problem: String| OtlpError::InvalidMetric { metric: metric.name.clone(), problem };
    let Some(data) = &metric.data else {
        return Err(invalid("no data: the metric is neither a gauge, sum, histogram, exponential histogram nor summary".into()));
    };
    let temporality = match data {
        Data::Sum(s) => Some(s.aggregation_temporality),
        Data::Histogram(h) => Some(h.aggregation_temporality),
        Data::ExponentialHistogram(h) => Some(h.aggregation_temporality),
        Data::Gauge(_) | Data::Summary(_) => None,
    };
    let delta = temporality == Some(AggregationTemporality::Delta as i32);
    let accepted = |t: i32| t == AggregationTemporality::Cumulative as i32 || (delta && context.options.native_delta_ingestion);
    if let Some(t) = temporality.filter(|&t| !accepted(t)) {
        let which = AggregationTemporality::try_from(t).map_or_else(|_| format!("unknown ({t})"), |t| format!("{t:?}").to_lowercase());
        let hint = if delta { " (set otlp.native_delta_ingestion to store delta points as sent)" } else { "" };
        return Err(invalid(format!(
            "invalid temporality and type combination: {which} aggregation temporality is not accepted, only cumulative{hint}"
        )));
    }
    let kind = match data {
        Data::Gauge(_) => NameKind::Gauge,
        Data::Sum(s) if s.is_monotonic => NameKind::MonotonicCounter,
        _ => NameKind::Other,
    };
    let family = context.options.naming.metric_name(&metric.name, &metric.unit, kind).map_err(invalid)?;
    // Under `type_and_unit_labels` Prometheus' type of the metric (unknown, so none, for delta
    // points) and its unit as a suffix would name it, set over any attribute of those names.
    let type_and_unit = context.type_and_unit_labels.then(|| (metric_type(data, delta), context.options.naming.unit_label(&metric.unit)));
    let labels_of = |attributes: &[KeyValue], warnings: &mut warnings::Warnings| {
        let collisions = (warnings, warnings::AttributeSource::DataPoint);
        let mut labels = point_labels(attributes, &[METRIC_NAME_LABEL], context.resource, context.scope, &context.options.naming, collisions).map_err(invalid)?;
        if let Some((kind, unit)) = &type_and_unit {
            if let Some(kind) = kind {
                labels.insert(METRIC_TYPE_LABEL.to_string(), kind.to_string());
            }
            if !unit.is_empty() {
                labels.insert(METRIC_UNIT_LABEL.to_string(), unit.clone());
            }
        }
        Ok::<_, OtlpError>(labels)
    };
    // Exemplars go where Prometheus puts them: sums' on their series, histogram buckets' on
    // the bucket holding their value, exponential histograms' on the native series;
    // gauges' nowhere (counted as dropped).
    let exemplars_of = |exemplars: &[proto::otlp_metrics::Exemplar], counts: &mut Translated| {
        let converted = exemplars::convert(exemplars).map_err(invalid)?;
        counts.exemplars_dropped += converted.invalid;
        Ok::<_, OtlpError>(converted.kept)
    };
    let points = match data {
        Data::Gauge(g) => g.data_points.len(),
        Data::Sum(s) => s.data_points.len(),
        Data::Histogram(h) => h.data_points.len(),
        Data::ExponentialHistogram(h) => h.data_points.len(),
        Data::Summary(s) => s.data_points.len(),
    };
    if points == 0 {
        counts.warnings.empty_data_points(&metric.name);
        return Ok(());
    }
    match data {
        Data::Gauge(g) => {
            for p in &g.data_points {
                exemplars::check_ids(&p.exemplars).map_err(invalid)?;
                counts.exemplars_dropped += p.exemplars.len() as u64;
            }
            number_points(&g.data_points, &family, labels_of, |_, _| Ok(Vec::new()), map, counts, span_ns)?
        }
        Data::Sum(s) => number_points(&s.data_points, &family, labels_of, exemplars_of, map, counts, span_ns)?,
        Data::Histogram(h) if context.options.convert_histograms_to_nhcb => {
            widen(span_ns, h.data_points.iter().map(|p| p.time_unix_nano));
            for p in &h.data_points {
                warn_zero_count_non_zero_sum(&mut counts.warnings, false, p.flags, p.count, p.sum);
                let value = explicit_to_custom_buckets(p, delta).map_err(invalid)?;
                let labels = with_name(&labels_of(&p.attributes, &mut counts.warnings)?, &family, None);
                counts.data_points += 1;
                let exemplars = exemplars_of(&p.exemplars, counts)?;
                map.push_with_exemplars(labels, at(p.time_unix_nano, p.start_time_unix_nano), value, exemplars);
            }
        }
        Data::Histogram(h) => {
            widen(span_ns, h.data_points.iter().map(|p| p.time_unix_nano));
            for p in &h.data_points {
                let base = labels_of(&p.attributes, &mut counts.warnings)?;
                let t = at(p.time_unix_nano, p.start_time_unix_nano);
                counts.data_points += 1;
                if let Some(sum) = p.sum {
                    map.push(with_name(&base, &format!("{family}_sum"), None), t, Value::Float(stale_or(p.flags, sum)));
                }
                map.push(with_name(&base, &format!("{family}_count"), None), t, Value::Float(stale_or(p.flags, p.count as f64)));
                let bucket = format!("{family}_bucket");
                let buckets = p.explicit_bounds.len().min(p.bucket_counts.len());
                // Per bucket (the last one `+Inf`), the exemplars whose value it holds (no
                // list at all for the usual point without exemplars).
                let mut bucket_exemplars: Vec<Vec<Exemplar>> = Vec::new();
                for e in exemplars_of(&p.exemplars, counts)? {
                    if bucket_exemplars.is_empty() {
                        bucket_exemplars.resize_with(buckets + 1, Vec::new);
                    }
                    bucket_exemplars[exemplars::bucket_of(e.value, &p.explicit_bounds[..buckets])].push(e);
                }
                let mut bucket_exemplars = bucket_exemplars.into_iter();
                let mut cumulative = 0u64;
                for (bound, count) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                    cumulative = cumulative.wrapping_add(*count);
                    let labels = with_name(&base, &bucket, Some(("le", naming::bound_text(*bound))));
                    map.push_with_exemplars(labels, t, Value::Float(stale_or(p.flags, cumulative as f64)), bucket_exemplars.next().unwrap_or_default());
                }
                let labels = with_name(&base, &bucket, Some(("le", "+Inf".into())));
                map.push_with_exemplars(labels, t, Value::Float(stale_or(p.flags, p.count as f64)), bucket_exemplars.next().unwrap_or_default());
            }
        }
        Data::ExponentialHistogram(h) => {
            widen(span_ns, h.data_points.iter().map(|p| p.time_unix_nano));
            for p in &h.data_points {
                warn_zero_count_non_zero_sum(&mut counts.warnings, true, p.flags, p.count, p.sum);
                let value = exponential_to_native(p, delta).map_err(invalid)?;
                let labels = with_name(&labels_of(&p.attributes, &mut counts.warnings)?, &family, None);
                counts.data_points += 1;
                let exemplars = exemplars_of(&p.exemplars, counts)?;
                map.push_with_exemplars(labels, at(p.time_unix_nano, p.start_time_unix_nano), value, exemplars);
            }
        }
        Data::Summary(s) => {
            widen(span_ns, s.data_points.iter().map(|p| p.time_unix_nano));
            for p in &s.data_points {
                let base = labels_of(&p.attributes, &mut counts.warnings)?;
                let t = at(p.time_unix_nano, p.start_time_unix_nano);
                counts.data_points += 1;
                map.push(with_name(&base, &format!("{family}_sum"), None), t, Value::Float(stale_or(p.flags, p.sum)));
                map.push(with_name(&base, &format!("{family}_count"), None), t, Value::Float(stale_or(p.flags, p.count as f64)));
                for q in &p.quantile_values {
                    let labels = with_name(&base, &family, Some(("quantile", naming::bound_text(q.quantile))));
                    map.push(labels, t, Value::Float(stale_or(p.flags, q.value)));
                }
            }
        }
    }
    Ok(())
}

/// Warns of a native histogram point (exponential, or explicit-bucket made one) that has a
/// value, a zero count and a non-zero sum, as Prometheus does (it stores it as sent).
fn warn_zero_count_non_zero_sum(warnings: &mut warnings::Warnings, exponential: bool, flags: u32, count: u64, sum: Option<f64>) {
    let sum = sum.unwrap_or(0.0);
    if flags & FLAG_NO_RECORDED_VALUE == 0 && count == 0 && sum != 0.0 {
        warnings.zero_count_non_zero_sum(exponential, sum);
    }
}

/// Prometheus' metric type of an OTLP metric: a monotonic sum is a counter, another sum a
/// gauge; delta sums and histograms have none (`None`: unknown).
fn metric_type(data: &Data, delta: bool) -> Option<&'static str> {
    match data {
        _ if delta => None,
        Data::Gauge(_) => Some("gauge"),
        Data::Sum(s) => Some(if s.is_monotonic { "counter" } else { "gauge" }),
        Data::Histogram(_) | Data::ExponentialHistogram(_) => Some("histogram"),
        Data::Summary(_) => Some("summary"),
    }
}

fn number_points(
    points: &[proto::otlp_metrics::NumberDataPoint],
    family: &str,
    labels_of: impl Fn(&[KeyValue], &mut warnings::Warnings) -> Result<LabelMap, OtlpError>,
    exemplars_of: impl Fn(&[proto::otlp_metrics::Exemplar], &mut Translated) -> Result<Vec<Exemplar>, OtlpError>,
    map: &mut SeriesMap,
    counts: &mut Translated,
    span_ns: &mut Option<(u64, u64)>,
) -> Result<(), OtlpError> {
    widen(span_ns, points.iter().map(|p| p.time_unix_nano));
    for p in points {
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(v)) => v,
            Some(number_data_point::Value::AsInt(v)) => v as f64,
            None => 0.0,
        };
        let labels = with_name(&labels_of(&p.attributes, &mut counts.warnings)?, family, None);
        counts.data_points += 1;
        let exemplars = exemplars_of(&p.exemplars, counts)?;
        map.push_with_exemplars(labels, at(p.time_unix_nano, p.start_time_unix_nano), Value::Float(stale_or(p.flags, value)), exemplars);
    }
    Ok(())
}

/// An exponential histogram point as a native histogram: OTel scale is Prometheus' schema
/// (scales above 8 merged down to 8), OTel bucket index `i` (upper bound base^(i+1)) is
/// Prometheus index `i + 1` (upper bound base^(i+1)), the zero threshold Prometheus' fixed
/// one. A point flagged as having no value is a float staleness marker. A delta point's
/// histogram is a gauge histogram (each point its own interval's observations, as
/// Prometheus marks them), so no reset is read between two of them.
fn exponential_to_native(p: &ExponentialHistogramDataPoint, delta: bool) -> Result<Value, String> {
    if p.scale < tsdb::model::EXPONENTIAL_SCHEMA_MIN {
        return Err(format!("cannot convert exponential to native histogram: scale must be >= {}, was {}", tsdb::model::EXPONENTIAL_SCHEMA_MIN, p.scale));
    }
    if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
        return Ok(Value::Float(f64::from_bits(STALE_NAN_BITS)));
    }
    let schema_max = tsdb::model::EXPONENTIAL_SCHEMA_MAX;
    let (schema, scale_down) = if p.scale > schema_max { (schema_max, (p.scale - schema_max) as u32) } else { (p.scale, 0) };
    let layout = |buckets: Option<&Buckets>| buckets.map_or(Ok((Vec::new(), Vec::new())), |b| bucket_layout(&b.bucket_counts, i64::from(b.offset), scale_down, 1));
    let (positive_spans, positive_deltas) = layout(p.positive.as_ref())?;
    let (negative_spans, negative_deltas) = layout(p.negative.as_ref())?;
    let h = ProtoHistogram {
        count: Some(proto_histogram::Count::CountInt(p.count)),
        sum: p.sum.unwrap_or(0.0),
        schema,
        zero_threshold: EXPONENTIAL_ZERO_THRESHOLD,
        zero_count: Some(proto_histogram::ZeroCount::ZeroCountInt(p.zero_count)),
        negative_spans,
        negative_deltas,
        positive_spans,
        positive_deltas,
        timestamp: timestamp_ms(p.time_unix_nano),
        reset_hint: if delta { proto_histogram::ResetHint::Gauge as i32 } else { proto_histogram::ResetHint::Unknown as i32 },
        ..Default::default()
    };
    super::native_histogram::from_proto(&h).map(|sample: HistogramSample| Value::Histogram(sample.histogram)).map_err(|e| e.to_string())
}

/// An explicit-bucket histogram point as a native histogram with custom buckets, as
/// Prometheus' `convert_histograms_to_nhcb` makes it: the bounds are its custom values (the
/// last bucket `+Inf`), bucket `i` is index `i`, count and sum as sent; a delta point's is a
/// gauge histogram. A point flagged as having no value is a float staleness marker.
fn explicit_to_custom_buckets(p: &HistogramDataPoint, delta: bool) -> Result<Value, String> {
    if p.flags & FLAG_NO_RECORDED_VALUE != 0 {
        return Ok(Value::Float(f64::from_bits(STALE_NAN_BITS)));
    }
    let (positive_spans, positive_deltas) = bucket_layout(&p.bucket_counts, 0, 0, 0)?;
    let h = ProtoHistogram {
        count: Some(proto_histogram::Count::CountInt(p.count)),
        sum: p.sum.unwrap_or(0.0),
        schema: tsdb::model::CUSTOM_BUCKETS_SCHEMA,
        zero_count: Some(proto_histogram::ZeroCount::ZeroCountInt(0)),
        positive_spans,
        positive_deltas,
        custom_values: p.explicit_bounds.clone(),
        timestamp: timestamp_ms(p.time_unix_nano),
        reset_hint: if delta { proto_histogram::ResetHint::Gauge as i32 } else { proto_histogram::ResetHint::Unknown as i32 },
        ..Default::default()
    };
    super::native_histogram::from_proto(&h).map(|sample: HistogramSample| Value::Histogram(sample.histogram)).map_err(|e| format!("cannot convert histogram to native histogram with custom buckets: {e}"))
}

/// Dense bucket counts (the first at `offset`) as Prometheus spans and count deltas:
/// `2^scale_down` neighbours merged into one, indexes moved by `index_shift` (1 for OTel's
/// exponential buckets, whose index `i` is Prometheus' `i + 1`), empty buckets left out
/// except runs of up to two between filled ones (client_golang's layout).
fn bucket_layout(counts: &[u64], offset: i64, scale_down: u32, index_shift: i64) -> Result<(Vec<ProtoSpan>, Vec<i64>), String> {
    let shift = scale_down.min(63);
    let mut merged: Vec<(i64, u64)> = Vec::new();
    for (i, &count) in counts.iter().enumerate() {
        let index = ((offset + i as i64) >> shift) + index_shift;
        match merged.last_mut() {
            Some((last, total)) if *last == index => *total = total.checked_add(count).ok_or("bucket counts overflow 64 bits when merged")?,
            _ => merged.push((index, count)),
        }
    }
    let mut spans: Vec<ProtoSpan> = Vec::new();
    let mut deltas = Vec::new();
    let (mut previous_index, mut previous_count) = (None::<i64>, 0i64);
    for (index, count) in merged.into_iter().filter(|&(_, c)| c > 0) {
        let count = i64::try_from(count).map_err(|_| format!("bucket count {count} does not fit a signed 64-bit count"))?;
        let out_of_range = || format!("bucket index {index} does not fit in 32 bits");
        match previous_index {
            None => spans.push(ProtoSpan { offset: i32::try_from(index).map_err(|_| out_of_range())?, length: 0 }),
            Some(previous) => {
                let gap = index - previous - 1;
                if gap > 2 {
                    spans.push(ProtoSpan { offset: i32::try_from(gap).map_err(|_| out_of_range())?, length: 0 });
                } else {
                    let span = spans.last_mut().expect("a bucket was placed before this one");
                    for _ in 0..gap {
                        span.length += 1;
                        deltas.push(-previous_count);
                        previous_count = 0;
                    }
                }
            }
        }
        spans.last_mut().expect("a span was opened above").length += 1;
        deltas.push(count - previous_count);
        previous_count = count;
        previous_index = Some(index);
    }
    Ok((spans, deltas))
}

/// `target_info` for a resource with attributes beyond the identifying ones and at least
/// `job` or `instance`: value 1 from the earliest to the latest data point. Its labels are
/// the resource's attributes (the identifying ones only when `keep_identifying`), `job` and
/// `instance`; neither scope labels nor (again) promoted ones.
fn add_target_info(
    attributes: &[KeyValue],
    resource: &ResourceLabels,
    options: &TranslationOptions,
    (earliest_ns, latest_ns): (u64, u64),
    map: &mut SeriesMap,
    warnings: &mut warnings::Warnings,
) -> Result<(), OtlpError> {
    if attributes.iter().all(|kv| IDENTIFYING_ATTRIBUTES.contains(&kv.key.as_str())) {
        return Ok(());
    }
    let invalid = |problem: String| OtlpError::InvalidMetric { metric: TARGET_INFO.into(), problem };
    let ignored: &[&str] = if options.keep_identifying_resource_attributes { &[] } else { &IDENTIFYING_ATTRIBUTES };
    let collisions = (warnings, warnings::AttributeSource::Resource);
    let mut labels = point_labels(attributes, ignored, &resource.identity_only(), None, &options.naming, collisions).map_err(invalid)?;
    if !labels.contains_key("job") && !labels.contains_key("instance") {
        return Ok(());
    }
    labels.insert(METRIC_NAME_LABEL.to_string(), TARGET_INFO.to_string());
    let samples = (latest_ns - earliest_ns) / TARGET_INFO_INTERVAL_NS + 1;
    if samples > TARGET_INFO_SAMPLES_MAX {
        return Err(invalid(format!(
            "the resource's data points span {}s, more than the {}s its target_info series may cover",
            (latest_ns - earliest_ns) / 1_000_000_000,
            (TARGET_INFO_SAMPLES_MAX - 1) * (TARGET_INFO_INTERVAL_NS / 1_000_000_000)
        )));
    }
    let mut t = earliest_ns;
    while t < latest_ns {
        map.push(labels.clone(), at(t, 0), Value::Float(1.0));
        t += TARGET_INFO_INTERVAL_NS;
    }
    map.push(labels, at(latest_ns, 0), Value::Float(1.0));
    Ok(())
}

/// Orders each series' points by time (the last of one timestamp wins) and its exemplars
/// as the exemplar buffers accept them, applies the label limits and `reject_non_finite`,
/// and splits floats from histograms.
fn finish(map: SeriesMap, mut counts: Translated, rules: &IngestRules) -> Result<Translated, OtlpError> {
    for (labels, SeriesPoints { mut points, mut exemplars }) in map.series {
        let pairs = || labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
        let labels = Labels::from_pairs(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        if let Some(problem) = super::label_limits::problem(&rules.label_limits, pairs()) {
            return Err(OtlpError::InvalidSeries { series: labels.to_string(), problem });
        }
        points.sort_by_key(|&(at, arrival, _)| (at.timestamp_ms, arrival));
        let mut series = SeriesSamples { labels, samples: Vec::new(), histograms: Vec::new(), starts: None };
        let mut starts = Vec::new();
        for (i, (at, _, value)) in points.iter().enumerate() {
            let timestamp_ms = &at.timestamp_ms;
            if points.get(i + 1).is_some_and(|next| next.0.timestamp_ms == *timestamp_ms) {
                continue;
            }
            // As Prometheus' appender takes a start: both times non-zero; and, as this
            // project's remote_write 2.0 path, none for a staleness marker.
            let stale = matches!(value, Value::Float(v) if tsdb::is_stale_nan(*v));
            if rules.read_start_timestamps && at.start_ms != 0 && at.timestamp_ms != 0 && !stale {
                starts.push(StartTimestamp { start_ms: at.start_ms, sample_ms: at.timestamp_ms });
            }
            match value {
                Value::Float(v) => {
                    if rules.reject_non_finite && !v.is_finite() && !tsdb::is_stale_nan(*v) {
                        return Err(OtlpError::InvalidSeries {
                            series: series.labels.to_string(),
                            problem: format!("non-finite value {v} at {timestamp_ms} (storage.reject_non_finite is on)"),
                        });
                    }
                    series.samples.push(Sample { timestamp_ms: *timestamp_ms, value: *v });
                }
                Value::Histogram(h) => series.histograms.push(HistogramSample { timestamp_ms: *timestamp_ms, histogram: h.clone() }),
            }
        }
        exemplars.sort_by(|a, b| {
            (a.timestamp_ms.cmp(&b.timestamp_ms)).then(a.value.total_cmp(&b.value)).then_with(|| a.labels.stable_hash().cmp(&b.labels.stable_hash()))
        });
        counts.samples += series.samples.len() as u64;
        counts.histograms += series.histograms.len() as u64;
        counts.exemplars += exemplars.len() as u64;
        counts.series.push(series);
        counts.series_exemplars.push(exemplars);
        counts.series_starts.push(starts);
    }
    Ok(counts)
}
