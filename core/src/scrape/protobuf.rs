//! Prometheus' delimited protobuf exposition (`MetricFamily` messages, each after its varint
//! length) read as Prometheus' `ProtobufParser` reads it: every float series it yields
//! becomes a text-format line (metadata as OpenMetrics comments) for the scrape loop's text
//! path, and every native histogram it yields a `NativeHistogramLine`, validated as
//! Prometheus validates it on append and compacted as its parser compacts it.

use std::collections::HashSet;
use std::fmt::Write as _;

use prost::Message;
use proto::client_model::{self as dto, MetricType};
use proto::remote_write_v1 as rw;

use super::exemplar::ScrapedExemplar;
use super::start_timestamps::LineStarts;
use crate::ingest::text_format::{is_legacy_label_name, is_legacy_metric_name, push_escaped_label_value, push_name, push_value};
use tsdb::FloatHistogram;

/// The text (and the native histograms, at 8 bytes a bucket) may be this many times the
/// body's size (plus `TEXT_BYTES_ALLOWANCE`): each classic bucket and quantile repeats its
/// metric's labels, so a small body with many labels and many buckets could otherwise ask
/// for far more memory than it occupies.
const TEXT_BYTES_PER_BODY_BYTE_MAX: usize = 32;
/// Text allowed whatever the body's size.
const TEXT_BYTES_ALLOWANCE: usize = 16 << 20;

/// What the job asks of histograms.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtobufOptions {
    /// `scrape_native_histograms`: a native histogram is kept as one (else read as classic).
    pub native_histograms: bool,
    /// `always_scrape_classic_histograms`: a native histogram with classic buckets gives its classic series too.
    pub classic_histograms_too: bool,
    /// `metric_name_validation_scheme: utf8` (Prometheus 3's default): metric and label
    /// names may be any UTF-8, written quoted in the text (else they must be legacy names).
    pub utf8_names: bool,
    /// Exemplars are written after their series' lines, as OpenMetrics writes them (a scrape
    /// reads them there); without, they are left out (the plain text format has none).
    pub exemplars: bool,
}

/// A native histogram sample of the exposition.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeHistogramLine {
    /// The series as the text format writes it, without value: `name{a="x",b="y"}` (label values escaped as in the text format; `name` alone when there are no labels).
    pub series: String,
    /// Its own timestamp (ms), when the message has a non-zero `timestamp_ms`.
    pub timestamp_ms: Option<i64>,
    pub histogram: FloatHistogram,
    /// Its exemplars, each with a timestamp.
    pub exemplars: Vec<ScrapedExemplar>,
    /// Its start timestamp (ms), when read and given (`to_text_with_starts`).
    pub start_ms: Option<i64>,
}

#[derive(Debug, Default)]
pub struct Exposition {
    /// Float series in the Prometheus text format, one per line, with the families' metadata as OpenMetrics-flavoured comments.
    pub text: Vec<u8>,
    pub histograms: Vec<NativeHistogramLine>,
    /// The start timestamps of the text's series lines (`to_text_with_starts` only).
    pub starts: LineStarts,
}

/// Decodes a delimited protobuf exposition; an error names the family (and problem), as Prometheus' parser words it where practical.
pub fn to_text(body: &[u8], options: ProtobufOptions) -> Result<Exposition, String> {
    decode(body, options, false)
}

/// As [`to_text`], with the metrics' start timestamps (under
/// `storage.start_timestamp_zero_ingestion`), read as Prometheus' parser reads them: a
/// counter's, summary's or (gauge) histogram's `created_timestamp` (Prometheus'
/// `StartTimestamp`: seconds × 1000 + nanos / 10⁶, 0 or absent for none) for each of its
/// series lines (its quantiles, `_sum`, `_count`, buckets: `Exposition::starts`) and its
/// native histogram (`NativeHistogramLine::start_ms`). The field is decoded either way (as
/// Prometheus' decoder has it): one of the wrong wire type fails the family, as there.
pub fn to_text_with_starts(body: &[u8], options: ProtobufOptions) -> Result<Exposition, String> {
    decode(body, options, true)
}

fn decode(body: &[u8], options: ProtobufOptions, read_starts: bool) -> Result<Exposition, String> {
    let text_bytes_max = body.len().saturating_mul(TEXT_BYTES_PER_BODY_BYTE_MAX).saturating_add(TEXT_BYTES_ALLOWANCE);
    let mut out = Output { text: Vec::new(), text_bytes_max, line: String::new(), histograms: Vec::new(), histogram_bytes: 0, lines: 0, start_ms: 0, starts: LineStarts::default(), exemplars: options.exemplars };
    let mut rest = body;
    let mut message_number = 0usize;
    while !rest.is_empty() {
        message_number += 1;
        let at_byte = body.len() - rest.len();
        let length = prost::encoding::decode_varint(&mut rest).map_err(|e| format!("protobuf message {message_number} (byte {at_byte}): invalid length: {e}"))?;
        let length = usize::try_from(length).ok().filter(|&l| l <= rest.len()).ok_or_else(|| format!("protobuf message {message_number} (byte {at_byte}): length {length} exceeds the {} bytes left", rest.len()))?;
        let (message, after) = rest.split_at(length);
        rest = after;
        let family = dto::MetricFamily::decode(message).map_err(|e| format!("protobuf message {message_number} (byte {at_byte}): {e}"))?;
        let starts = if read_starts { metric_starts(&family) } else { Vec::new() };
        write_family(&family, &starts, options, &mut out)?;
    }
    Ok(Exposition { text: out.text, histograms: out.histograms, starts: out.starts })
}

/// Each metric's start timestamp (ms, 0 for none) of `family`, picked by the family's type
/// as Prometheus' `StartTimestamp` picks it (a gauge's or untyped metric's none).
fn metric_starts(family: &dto::MetricFamily) -> Vec<i64> {
    let Ok(metric_type) = MetricType::try_from(family.r#type) else { return Vec::new() };
    let start_of: fn(&dto::Metric) -> Option<dto::Timestamp> = match metric_type {
        MetricType::Counter => |m| m.counter.as_ref().and_then(|c| c.created_timestamp),
        MetricType::Summary => |m| m.summary.as_ref().and_then(|s| s.created_timestamp),
        MetricType::Histogram | MetricType::GaugeHistogram => |m| m.histogram.as_ref().and_then(|h| h.created_timestamp),
        MetricType::Gauge | MetricType::Untyped => return Vec::new(),
    };
    family.metric.iter().map(|m| start_of(m).map_or(0, |t| timestamp_ms(&t))).collect()
}

/// A `google.protobuf.Timestamp` in milliseconds as Go computes it from seconds and
/// nanoseconds (int64 arithmetic, wrapping; the division truncated).
fn timestamp_ms(t: &dto::Timestamp) -> i64 {
    t.seconds.wrapping_mul(1000).wrapping_add(i64::from(t.nanos / 1_000_000))
}

/// What `to_text` builds, with the bound on the text.
struct Output {
    text: Vec<u8>,
    text_bytes_max: usize,
    /// The line being written (kept to reuse its allocation).
    line: String,
    histograms: Vec<NativeHistogramLine>,
    /// What `histograms` holds, counted against `text_bytes_max` with the text.
    histogram_bytes: usize,
    /// Lines in `text`.
    lines: usize,
    /// The start timestamp of the metric being written (0: none), given to its series.
    start_ms: i64,
    starts: LineStarts,
    /// Whether exemplars are written (`ProtobufOptions::exemplars`).
    exemplars: bool,
}

impl Output {
    /// Appends `self.line` (which ends with its newline) to the text, within the bound.
    fn push_line(&mut self) -> Result<(), String> {
        if self.text.len() + self.histogram_bytes + self.line.len() > self.text_bytes_max {
            return Err(format!("the exposition as text exceeds {} bytes ({TEXT_BYTES_PER_BODY_BYTE_MAX} times the body plus {TEXT_BYTES_ALLOWANCE})", self.text_bytes_max));
        }
        self.text.extend_from_slice(self.line.as_bytes());
        self.lines += 1;
        Ok(())
    }

    /// One float series line: `name` + `suffix`, the metric's `labels` (text between braces,
    /// possibly empty) and the `magic` label, the value and the metric's own timestamp.
    fn series(&mut self, name: &str, suffix: &str, labels: &str, magic: Option<(&str, &str)>, value: f64, timestamp_ms: i64) -> Result<(), String> {
        self.start_series(name, suffix, labels, magic, value, timestamp_ms);
        self.end_series(None)
    }

    /// Ends the line `start_series` began, with its exemplar if any (a counter's or a classic
    /// bucket's, as Prometheus' parser gives them; see `scrape::exemplar`), and appends it.
    fn end_series(&mut self, exemplar: Option<&dto::Exemplar>) -> Result<(), String> {
        if let Some(e) = exemplar.filter(|_| self.exemplars).map(scraped_exemplar) {
            super::exemplar::push(&mut self.line, e.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), e.value, e.timestamp_ms);
        }
        self.line.push('\n');
        self.push_line()?;
        self.starts.push(self.lines - 1, self.start_ms);
        Ok(())
    }

    /// `series` without its end.
    fn start_series(&mut self, name: &str, suffix: &str, labels: &str, magic: Option<(&str, &str)>, value: f64, timestamp_ms: i64) {
        self.line.clear();
        // A UTF-8 name goes quoted, first inside the braces (the text format 1.0.0).
        let quoted = !is_legacy_metric_name(name);
        if quoted {
            self.line.push_str("{\"");
            push_escaped_label_value(&mut self.line, name);
            push_escaped_label_value(&mut self.line, suffix);
            self.line.push('"');
        } else {
            self.line.push_str(name);
            self.line.push_str(suffix);
        }
        if !labels.is_empty() || magic.is_some() || quoted {
            if quoted {
                if !labels.is_empty() {
                    self.line.push(',');
                }
            } else {
                self.line.push('{');
            }
            self.line.push_str(labels);
            if let Some((magic_name, magic_value)) = magic {
                if !labels.is_empty() || quoted {
                    self.line.push(',');
                }
                self.line.push_str(magic_name);
                self.line.push_str("=\"");
                push_escaped_label_value(&mut self.line, magic_value);
                self.line.push('"');
            }
            self.line.push('}');
        }
        self.line.push(' ');
        push_value(&mut self.line, value);
        // Prometheus reads 0 as "no timestamp": proto3 cannot tell it from unset.
        if timestamp_ms != 0 {
            let _ = write!(self.line, " {timestamp_ms}");
        }
    }
}

/// An exemplar of the answer as the scrape reads it: its timestamp in milliseconds (as Go
/// computes it from seconds and nanoseconds).
fn scraped_exemplar(e: &dto::Exemplar) -> ScrapedExemplar {
    let timestamp_ms = e.timestamp.as_ref().map(timestamp_ms);
    ScrapedExemplar { labels: e.label.iter().map(|pair| (pair.name.clone(), pair.value.clone())).collect(), value: e.value, timestamp_ms }
}

/// A native histogram's exemplars as Prometheus' parser gives them: those of its list that
/// have a timestamp, or when the list is empty those of its buckets that have one.
fn native_exemplars(h: &dto::Histogram) -> Vec<ScrapedExemplar> {
    let timed = |e: &&dto::Exemplar| e.timestamp.is_some();
    let chosen: Vec<&dto::Exemplar> = if h.exemplars.is_empty() { h.bucket.iter().filter_map(|b| b.exemplar.as_ref()).filter(timed).collect() } else { h.exemplars.iter().filter(timed).collect() };
    chosen.into_iter().map(scraped_exemplar).collect()
}

/// Writes `family`'s series; `starts` holds each metric's start timestamp (0: none), or is
/// empty when none are read.
fn write_family(family: &dto::MetricFamily, starts: &[i64], options: ProtobufOptions, out: &mut Output) -> Result<(), String> {
    // Prometheus skips a family without metrics before it looks at its name or type.
    if family.metric.is_empty() {
        return Ok(());
    }
    let name = family.name.as_str();
    if name.is_empty() || (!options.utf8_names && !is_legacy_metric_name(name)) {
        return Err(format!("invalid metric name: {name:?}"));
    }
    let metric_type = MetricType::try_from(family.r#type).map_err(|_| format!("unknown metric type for metric {name:?}: {}", family.r#type))?;
    write_metadata(family, metric_type, out)?;
    for (index, metric) in family.metric.iter().enumerate() {
        out.start_ms = starts.get(index).copied().unwrap_or(0);
        match metric_type {
            MetricType::Counter => {
                let labels = labels_text(name, metric, None, options.utf8_names)?;
                out.start_series(name, "", &labels, None, metric.counter.as_ref().map_or(0.0, |c| c.value), metric.timestamp_ms);
                out.end_series(metric.counter.as_ref().and_then(|c| c.exemplar.as_ref()))?;
            }
            MetricType::Gauge => {
                let labels = labels_text(name, metric, None, options.utf8_names)?;
                out.series(name, "", &labels, None, metric.gauge.as_ref().map_or(0.0, |g| g.value), metric.timestamp_ms)?;
            }
            MetricType::Untyped => {
                let labels = labels_text(name, metric, None, options.utf8_names)?;
                out.series(name, "", &labels, None, metric.untyped.as_ref().map_or(0.0, |u| u.value), metric.timestamp_ms)?;
            }
            MetricType::Summary => write_summary(name, metric, options.utf8_names, out)?,
            MetricType::Histogram | MetricType::GaugeHistogram => write_histogram(name, metric, metric_type == MetricType::GaugeHistogram, options, out)?,
        }
    }
    Ok(())
}

/// A family name as a comment writes it: quoted when it is not a legacy name.
fn family_text(name: &str) -> String {
    let mut text = String::new();
    push_name(&mut text, name, is_legacy_metric_name(name));
    text
}

/// `# HELP`, `# UNIT` and `# TYPE`, in the order Prometheus' parser gives them.
fn write_metadata(family: &dto::MetricFamily, metric_type: MetricType, out: &mut Output) -> Result<(), String> {
    let name = &family_text(&family.name);
    if !family.help.is_empty() {
        out.line.clear();
        let _ = write!(out.line, "# HELP {name} ");
        push_escaped_label_value(&mut out.line, &family.help);
        out.line.push('\n');
        out.push_line()?;
    }
    // A unit is metadata only and has no escapes: one that would break the line is left out
    // rather than let it start another.
    if !family.unit.is_empty() && !family.unit.contains('\n') {
        out.line.clear();
        let _ = writeln!(out.line, "# UNIT {name} {}", family.unit);
        out.push_line()?;
    }
    let kind = match metric_type {
        MetricType::Counter => "counter",
        MetricType::Gauge => "gauge",
        MetricType::Summary => "summary",
        MetricType::Untyped => "untyped",
        MetricType::Histogram => "histogram",
        MetricType::GaugeHistogram => "gaugehistogram",
    };
    out.line.clear();
    let _ = writeln!(out.line, "# TYPE {name} {kind}");
    out.push_line()
}

/// `_count`, `_sum`, then one series per quantile (the order of Prometheus' parser).
fn write_summary(name: &str, metric: &dto::Metric, utf8_names: bool, out: &mut Output) -> Result<(), String> {
    let absent = dto::Summary::default();
    let summary = metric.summary.as_ref().unwrap_or(&absent);
    let labels = labels_text(name, metric, if summary.quantile.is_empty() { None } else { Some("quantile") }, utf8_names)?;
    out.series(name, "_count", &labels, None, summary.sample_count as f64, metric.timestamp_ms)?;
    out.series(name, "_sum", &labels, None, summary.sample_sum, metric.timestamp_ms)?;
    for quantile in &summary.quantile {
        let q = promql::format::open_metrics_float(quantile.quantile);
        out.series(name, "", &labels, Some(("quantile", &q)), quantile.value, metric.timestamp_ms)?;
    }
    Ok(())
}

/// A native histogram, its classic series, or both, as `options` and the message decide.
fn write_histogram(name: &str, metric: &dto::Metric, gauge: bool, options: ProtobufOptions, out: &mut Output) -> Result<(), String> {
    let absent = dto::Histogram::default();
    let histogram = metric.histogram.as_ref().unwrap_or(&absent);
    if options.native_histograms && is_native(histogram) {
        let labels = labels_text(name, metric, None, options.utf8_names)?;
        let series = match (is_legacy_metric_name(name), labels.is_empty()) {
            (true, true) => name.to_string(),
            (true, false) => format!("{name}{{{labels}}}"),
            (false, _) => {
                let mut series = String::from("{");
                push_name(&mut series, name, false);
                if !labels.is_empty() {
                    series.push(',');
                    series.push_str(&labels);
                }
                series.push('}');
                series
            }
        };
        let native = native_histogram(name, &series, histogram, gauge)?;
        let exemplars = native_exemplars(histogram);
        // What each exemplar holds in memory: itself and two strings per label.
        let exemplar_bytes: usize = exemplars.iter().map(|e| std::mem::size_of::<ScrapedExemplar>() + e.labels.iter().map(|(n, v)| 2 * std::mem::size_of::<String>() + n.len() + v.len()).sum::<usize>()).sum();
        out.histogram_bytes += series.len() + 8 * (native.positive_buckets.len() + native.negative_buckets.len()) + exemplar_bytes;
        if out.text.len() + out.histogram_bytes > out.text_bytes_max {
            return Err(format!("the exposition as text exceeds {} bytes ({TEXT_BYTES_PER_BODY_BYTE_MAX} times the body plus {TEXT_BYTES_ALLOWANCE})", out.text_bytes_max));
        }
        let start_ms = (out.start_ms != 0).then_some(out.start_ms);
        out.histograms.push(NativeHistogramLine { series, timestamp_ms: (metric.timestamp_ms != 0).then_some(metric.timestamp_ms), histogram: native, exemplars, start_ms });
        // The classic series too only when asked and when there are classic buckets.
        if !options.classic_histograms_too || histogram.bucket.is_empty() {
            return Ok(());
        }
    }
    let labels = labels_text(name, metric, Some("le"), options.utf8_names)?;
    // Go's getters: a float count of exactly 0 means unset.
    let count = if histogram.sample_count_float != 0.0 { histogram.sample_count_float } else { histogram.sample_count as f64 };
    out.series(name, "_count", &labels, None, count, metric.timestamp_ms)?;
    out.series(name, "_sum", &labels, None, histogram.sample_sum, metric.timestamp_ms)?;
    for bucket in &histogram.bucket {
        let cumulative = if bucket.cumulative_count_float != 0.0 { bucket.cumulative_count_float } else { bucket.cumulative_count as f64 };
        let le = promql::format::open_metrics_float(bucket.upper_bound);
        out.start_series(name, "_bucket", &labels, Some(("le", &le)), cumulative, metric.timestamp_ms);
        out.end_series(bucket.exemplar.as_ref())?;
        // Buckets after +Inf are not read (Prometheus stops there).
        if bucket.upper_bound == f64::INFINITY {
            return Ok(());
        }
    }
    out.series(name, "_bucket", &labels, Some(("le", "+Inf")), count, metric.timestamp_ms)
}

/// Prometheus' `isNativeHistogram`: any span, a zero bucket with a width, or observations in
/// it (the integer zero count only, as there). An empty native histogram signals itself with
/// a no-op span.
fn is_native(h: &dto::Histogram) -> bool {
    !h.positive_span.is_empty() || !h.negative_span.is_empty() || h.zero_threshold > 0.0 || h.zero_count > 0
}

/// The native histogram of a message: float flavour when its float count or float zero count
/// is set (the other flavour's fields are then ignored, as in Prometheus), else integer;
/// refused where Prometheus' parser or append refuses it; compacted as its parser does.
fn native_histogram(name: &str, series: &str, h: &dto::Histogram, gauge: bool) -> Result<FloatHistogram, String> {
    let float = h.sample_count_float > 0.0 || h.zero_count_float > 0.0;
    let (positive_counts, negative_counts) = if float { (h.positive_count.len(), h.negative_count.len()) } else { (h.positive_delta.len(), h.negative_delta.len()) };
    check_spans_cover(name, "positive", &h.positive_span, positive_counts)?;
    check_spans_cover(name, "negative", &h.negative_span, negative_counts)?;
    let spans = |spans: &[dto::BucketSpan]| spans.iter().map(|s| rw::BucketSpan { offset: s.offset, length: s.length }).collect();
    let (count, zero_count) = if float {
        (rw::histogram::Count::CountFloat(h.sample_count_float), rw::histogram::ZeroCount::ZeroCountFloat(h.zero_count_float))
    } else {
        (rw::histogram::Count::CountInt(h.sample_count), rw::histogram::ZeroCount::ZeroCountInt(h.zero_count))
    };
    let message = rw::Histogram {
        count: Some(count),
        sum: h.sample_sum,
        schema: h.schema,
        zero_threshold: h.zero_threshold,
        zero_count: Some(zero_count),
        negative_spans: spans(&h.negative_span),
        negative_deltas: if float { Vec::new() } else { h.negative_delta.clone() },
        negative_counts: if float { h.negative_count.clone() } else { Vec::new() },
        positive_spans: spans(&h.positive_span),
        positive_deltas: if float { Vec::new() } else { h.positive_delta.clone() },
        positive_counts: if float { h.positive_count.clone() } else { Vec::new() },
        reset_hint: if gauge { rw::histogram::ResetHint::Gauge } else { rw::histogram::ResetHint::Unknown } as i32,
        timestamp: 0,
        custom_values: Vec::new(),
        start_timestamp: 0,
    };
    let sample = crate::ingest::native_histogram::from_proto(&message).map_err(|e| format!("native histogram {series}: {e}"))?;
    Ok(promql::histogram_layout::compact(&sample.histogram))
}

/// Prometheus' `checkNativeHistogramConsistency` for one side: its spans must cover exactly
/// the counts given.
fn check_spans_cover(name: &str, side: &str, spans: &[dto::BucketSpan], counts: usize) -> Result<(), String> {
    let spanned: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
    if spanned != counts as u64 {
        return Err(format!("histogram {name:?}: {side} side: spans require {spanned} buckets, have {counts}"));
    }
    Ok(())
}

/// The metric's labels as the text format writes them between braces (`a="x",b="y"`, empty
/// when none), with `magic` (`le`, `quantile`) reserved for the label the caller adds. As in
/// Prometheus, a name given an empty value anywhere is no label at all (every value of it
/// goes); it is written once, empty, so that it still keeps a target label of its name away
/// under `honor_labels`. Refused: a name taken twice (the metric name counts as `__name__`,
/// the magic label as itself), and the metric name or the magic label emptied (Prometheus
/// then loses the name, or every bucket its bound). Names must be legacy names unless
/// `utf8_names`, which writes other (non-empty) ones quoted.
fn labels_text(family: &str, metric: &dto::Metric, magic: Option<&str>, utf8_names: bool) -> Result<String, String> {
    let emptied: HashSet<&str> = metric.label.iter().filter(|pair| pair.value.is_empty()).map(|pair| pair.name.as_str()).collect();
    let reserved = [Some(tsdb::METRIC_NAME_LABEL), magic];
    if let Some(name) = reserved.into_iter().flatten().find(|name| emptied.contains(name)) {
        return Err(format!("label {name:?} of metric {family:?} has an empty value"));
    }
    let mut seen: HashSet<&str> = reserved.into_iter().flatten().collect();
    let mut text = String::new();
    for pair in &metric.label {
        let legacy = is_legacy_label_name(&pair.name);
        if !legacy && (!utf8_names || pair.name.is_empty()) {
            return Err(format!("invalid label name {:?} for metric {family:?}", pair.name));
        }
        let emptied = emptied.contains(pair.name.as_str());
        if !seen.insert(&pair.name) {
            if emptied {
                continue;
            }
            return Err(format!("label name {:?} is not unique for metric {family:?}", pair.name));
        }
        if !text.is_empty() {
            text.push(',');
        }
        push_name(&mut text, &pair.name, legacy);
        text.push_str("=\"");
        if !emptied {
            push_escaped_label_value(&mut text, &pair.value);
        }
        text.push('"');
    }
    Ok(text)
}


#[cfg(test)]
mod tests;
