//! `convert_classic_histograms_to_nhcb`: the classic histograms of a scrape answer (the
//! `_bucket{le}`, `_count` and `_sum` series of a `histogram` family, one histogram per label
//! set) become native histograms with custom buckets (schema -53), as Prometheus 3's
//! `NHCBParser` and `convertnhcb` make them.

use std::collections::HashSet;

use tsdb::model::CUSTOM_BUCKETS_SCHEMA;
use tsdb::{BucketSpan, CounterResetHint, FloatHistogram, Labels, METRIC_NAME_LABEL};

use super::exemplar::ScrapedExemplar;
use super::protobuf::NativeHistogramLine;
use super::scrape_loop::{Answer, Format};
use super::start_timestamps::LineStarts;
use crate::ingest::text_format::series_text;
use crate::ingest::label_limits::LabelLimits;

/// A timestamp no line can have: a series without its own gets this from the parser.
const NO_TIMESTAMP: i64 = i64::MIN;

/// The answer with its classic histograms converted (and their series kept only when
/// `keep_classic`: `always_scrape_classic_histograms`). `from_protobuf`: the answer's text came
/// from `protobuf::to_text`. The exemplars of a histogram's series go to the converted
/// histogram (where only those with a timestamp are kept); a text or OpenMetrics answer's
/// classic series kept beside it lose theirs, as Prometheus' converter takes them, while a
/// protobuf answer's keep them.
pub fn convert(answer: Answer, keep_classic: bool, from_protobuf: bool) -> Result<Answer, String> {
    convert_with_starts(answer, &LineStarts::default(), keep_classic, from_protobuf).map(|(answer, _)| answer)
}

/// As [`convert`], for an answer whose lines have start timestamps (`starts`, by line of its
/// text); gives the starts by line of the converted text. A histogram takes the start of its
/// first classic series, and so do its classic series when kept (Prometheus' `NHCBParser`).
pub fn convert_with_starts(answer: Answer, starts: &LineStarts, keep_classic: bool, from_protobuf: bool) -> Result<(Answer, LineStarts), String> {
    let text = String::from_utf8(answer.text).map_err(|e| format!("the response is not UTF-8 text: {e}"))?;
    let limits = LabelLimits::default();
    // A protobuf histogram read as native is not converted (its classic series, given for
    // `always_scrape_classic_histograms`, are not a second histogram).
    let native: HashSet<(String, Vec<(String, String)>)> = answer
        .histograms
        .iter()
        .filter_map(|h| crate::ingest::text_format::parse_line(&format!("{} 0", h.series), 0, 0, &limits).ok().flatten())
        .map(|(labels, _)| (labels.metric_name().unwrap_or("").to_string(), group_key(&labels)))
        .collect();
    let mut converted = Converted { histograms: answer.histograms, native, from_protobuf };
    let mut out = Lines { text: String::with_capacity(text.len()), count: 0, starts: LineStarts::default() };
    let mut line_starts = starts.reader();
    let mut family: Option<Family> = None;
    let mut collecting: Option<Collecting> = None;
    for (index, line) in text.lines().enumerate() {
        let line_start = line_starts.start_of(index);
        let trimmed = line.trim();
        // Blank lines are skipped, as Prometheus' text parser skips them; comments end a
        // histogram.
        if trimmed.starts_with('#') {
            converted.finish(collecting.take())?;
            if let Some(kind) = type_line(trimmed) {
                family = kind.map(|(name, gauge)| Family { name: name.to_string(), gauge }).filter(|f| !f.gauge || from_protobuf);
            }
        }
        let (sample_text, exemplar) = without_exemplar(trimmed, answer.format);
        // A line the scrape loop would refuse (or skip) is left for it.
        let parsed = if trimmed.is_empty() || trimmed.starts_with('#') { None } else { crate::ingest::text_format::parse_line(sample_text, 0, NO_TIMESTAMP, &limits).ok().flatten() };
        let Some((labels, sample)) = parsed else {
            out.push(line, line_start);
            continue;
        };
        // As Prometheus' `differentMetric`: a series of another base name (suffix cut) or
        // other labels (`le` aside) ends the histogram being collected; in a protobuf answer
        // each message's histogram is its own (each begins with its `_count`).
        let name = labels.metric_name().unwrap_or("");
        let base = ["_bucket", "_count", "_sum"].iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name);
        let key = group_key(&labels);
        let part = family.as_ref().and_then(|f| classic_part(&labels, f, from_protobuf));
        let next_message = from_protobuf && matches!(part, Some(Part::Count));
        if collecting.as_ref().is_some_and(|c| family.is_none() || c.base != base || c.key != key || next_message) {
            converted.finish(collecting.take())?;
        }
        let (Some(part), Some(family)) = (part, family.as_ref()) else {
            out.push(line, line_start);
            continue;
        };
        let group = collecting.get_or_insert_with(|| Collecting { series: series_text(&family.name, key.iter().map(|(n, v)| (n.as_str(), v.as_str()))), base: base.to_string(), key, histogram: ClassicHistogram::default(), timestamp_ms: None, gauge: family.gauge, exemplars: Vec::new(), start_ms: line_start });
        group.timestamp_ms = (sample.timestamp_ms != NO_TIMESTAMP).then_some(sample.timestamp_ms);
        if let Some(e) = exemplar.and_then(|text| super::exemplar::parse(text, super::exemplar::TimestampUnit::Milliseconds).ok()) {
            group.exemplars.push(e);
        }
        match part {
            Part::Bucket(le) => group.histogram.buckets.push((le, sample.value)),
            Part::NanBound => {
                group.histogram.error.get_or_insert_with(|| "bucket boundary must not be NaN".to_string());
            }
            Part::Count => group.histogram.count = Some(sample.value),
            Part::Sum => group.histogram.sum = sample.value,
        }
        if keep_classic {
            out.push(if from_protobuf { line } else { sample_text }, group.start_ms);
        }
    }
    converted.finish(collecting.take())?;
    Ok((Answer { text: out.text.into_bytes(), format: answer.format, histograms: converted.histograms }, out.starts))
}

/// The converted text and the starts of its lines.
struct Lines {
    text: String,
    /// Lines in `text`.
    count: usize,
    starts: LineStarts,
}

impl Lines {
    fn push(&mut self, line: &str, start_ms: Option<i64>) {
        self.text.push_str(line);
        self.text.push('\n');
        if let Some(start_ms) = start_ms {
            self.starts.push(self.count, start_ms);
        }
        self.count += 1;
    }
}

/// The histograms of the answer so far.
struct Converted {
    histograms: Vec<NativeHistogramLine>,
    /// The (name, labels) of the answer's native histograms.
    native: HashSet<(String, Vec<(String, String)>)>,
    from_protobuf: bool,
}

impl Converted {
    /// Converts a collected histogram and adds it; one that breaks a rule is dropped (its
    /// classic series dropped with it unless they are kept), or fails the answer when it came
    /// in protobuf, as there. One the answer has as native is left out.
    fn finish(&mut self, collecting: Option<Collecting>) -> Result<(), String> {
        let Some(group) = collecting else { return Ok(()) };
        let family = group.base.clone();
        if self.native.contains(&(family, group.key)) {
            return Ok(());
        }
        match group.histogram.into_native(group.gauge) {
            Ok(histogram) => self.histograms.push(NativeHistogramLine { series: group.series, timestamp_ms: group.timestamp_ms, histogram, exemplars: group.exemplars, start_ms: group.start_ms }),
            Err(problem) if self.from_protobuf => return Err(format!("histogram {}: converting to native histogram with custom buckets: {problem}", group.series)),
            Err(_) => {}
        }
        Ok(())
    }
}

/// A `histogram` family named by the last `# TYPE` line; a `gaugehistogram` too for protobuf
/// answers, whose conversion Prometheus does in its protobuf parser, the result marked as a
/// gauge.
struct Family {
    name: String,
    gauge: bool,
}

/// `Some(Some((name, gauge)))` for a `# TYPE` line of a histogram family, `Some(None)` for
/// one of another type, `None` for other comments.
fn type_line(line: &str) -> Option<Option<(std::borrow::Cow<'_, str>, bool)>> {
    let (name, kind) = super::scrape_loop::type_comment(line)?;
    Some(match kind {
        "histogram" => Some((name, false)),
        "gaugehistogram" => Some((name, true)),
        _ => None,
    })
}

/// Which part of a classic histogram a series is.
enum Part {
    Bucket(f64),
    /// A bucket bounded by NaN: in a protobuf answer it fails the conversion, as there.
    NanBound,
    Count,
    Sum,
}

/// The part `labels` holds of `family`'s histogram, if any: its name is the family's with a
/// suffix, and a bucket has a numeric `le` (text answers leave a NaN one alone).
fn classic_part(labels: &Labels, family: &Family, from_protobuf: bool) -> Option<Part> {
    let name = labels.metric_name()?;
    let suffix = name.strip_prefix(family.name.as_str())?;
    match suffix {
        "_bucket" => match labels.get("le")?.parse::<f64>().ok()? {
            le if le.is_nan() => from_protobuf.then_some(Part::NanBound),
            le => Some(Part::Bucket(le)),
        },
        "_count" => Some(Part::Count),
        "_sum" => Some(Part::Sum),
        _ => None,
    }
}

/// The labels of a histogram's series apart from the name and `le`, in order.
fn group_key(labels: &Labels) -> Vec<(String, String)> {
    labels.iter().filter(|l| l.name != METRIC_NAME_LABEL && l.name != "le").map(|l| (l.name.to_string(), l.value.to_string())).collect()
}


/// One histogram being collected from its classic series: a run of series of the same labels
/// (`le` aside).
struct Collecting {
    /// The name its series share, suffix cut.
    base: String,
    key: Vec<(String, String)>,
    series: String,
    histogram: ClassicHistogram,
    /// The own timestamp of its last series, if that had one.
    timestamp_ms: Option<i64>,
    gauge: bool,
    /// The exemplars of its series.
    exemplars: Vec<ScrapedExemplar>,
    /// The start timestamp of its first series, if that had one.
    start_ms: Option<i64>,
}

/// A line without the exemplar it may end with (only rewritten OpenMetrics and protobuf
/// answers carry them), and the exemplar's text.
fn without_exemplar(line: &str, format: Format) -> (&str, Option<&str>) {
    if format != Format::OpenMetrics || line.starts_with('#') {
        return (line, None);
    }
    let Some((series, rest)) = super::scrape_loop::split_series(line) else { return (line, None) };
    let (sample, exemplar) = super::exemplar::split(rest);
    (&line[..series.len() + sample.len()], exemplar)
}

/// A classic histogram's parts as `convertnhcb.TempHistogram` gathers them: buckets as
/// they came, checked once sorted (the same outcome as its checks on each insertion, without
/// its quadratic inserts).
#[derive(Default)]
struct ClassicHistogram {
    /// (bound, cumulative count) in the order given.
    buckets: Vec<(f64, f64)>,
    count: Option<f64>,
    sum: f64,
    /// A rule broken on the way (a NaN bound).
    error: Option<String>,
}

impl ClassicHistogram {
    /// The native histogram with custom buckets, or the rule this one breaks: bucket counts
    /// must be cumulative and not negative, a repeated bound is ignored, the `_count` (else
    /// the last bucket) is the count and must equal the `+Inf` bucket (added when missing).
    /// Counts that are all whole numbers make an integer histogram (compacted keeping runs of
    /// up to 2 empty buckets), others a float one (empty buckets dropped).
    fn into_native(mut self, gauge: bool) -> Result<FloatHistogram, String> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if let Some((le, count)) = self.buckets.iter().find(|(_, count)| *count < 0.0) {
            return Err(format!("bucket count must be non-negative: le={le}, count={count}"));
        }
        if let Some(count) = self.count.filter(|c| *c < 0.0) {
            return Err(format!("count must be non-negative: count={count}"));
        }
        // Sorted by bound, the first of a repeated bound kept (a stable sort keeps their order).
        self.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.buckets.dedup_by(|later, first| later.0 == first.0);
        if let Some(pair) = self.buckets.windows(2).find(|pair| pair[1].1 < pair[0].1) {
            return Err(format!("count is not cumulative: {} < {}", pair[1].1, pair[0].1));
        }
        let count = self.count.or(self.buckets.last().map(|(_, c)| *c)).unwrap_or(0.0);
        if self.buckets.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
            // Go appends it unchecked; its `Validate` then refuses the negative bucket a
            // count below the last bucket makes.
            if let Some((le, last)) = self.buckets.last().filter(|(_, last)| count < *last) {
                return Err(format!("bucket le=+Inf would hold a negative count: count={count} < le={le} count={last}"));
            }
            self.buckets.push((f64::INFINITY, count));
        }
        let last = self.buckets.last().map_or(0.0, |(_, c)| *c);
        if count != last {
            return Err(format!("count mismatch: count={count} != le=+Inf count={last}"));
        }
        // Go's test: the count survives a round trip through int64.
        let whole = |v: f64| v.round() == v && v.abs() < 9.223_372_036_854_776e18;
        let integer = whole(count) && self.buckets.iter().all(|(_, c)| whole(*c));
        let mut previous = 0.0;
        let counts: Vec<f64> = self
            .buckets
            .iter()
            .map(|(_, cumulative)| {
                let own = cumulative - previous;
                previous = *cumulative;
                own
            })
            .collect();
        let histogram = FloatHistogram {
            counter_reset_hint: if gauge { CounterResetHint::Gauge } else { CounterResetHint::Unknown },
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum: self.sum,
            positive_spans: vec![BucketSpan { offset: 0, length: counts.len() as u32 }],
            positive_buckets: counts,
            custom_values: self.buckets[..self.buckets.len() - 1].iter().map(|(le, _)| *le).collect(),
            ..FloatHistogram::default()
        };
        let histogram = if integer { promql::histogram_layout::compact_keeping(&histogram, 2) } else { promql::histogram_layout::compact(&histogram) };
        histogram.validate()?;
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(text: &str) -> Answer {
        Answer { text: text.as_bytes().to_vec(), format: Format::Text, histograms: Vec::new() }
    }

    fn converted(text: &str, keep_classic: bool) -> (String, Vec<NativeHistogramLine>) {
        let out = convert(answer(text), keep_classic, false).expect("converted");
        (String::from_utf8(out.text).unwrap_or_default(), out.histograms)
    }

    fn nhcb(bounds: &[f64], spans: &[(i32, u32)], counts: &[f64], count: f64, sum: f64) -> FloatHistogram {
        FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count,
            sum,
            positive_spans: spans.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect(),
            positive_buckets: counts.to_vec(),
            custom_values: bounds.to_vec(),
            ..FloatHistogram::default()
        }
    }

    const BODY: &str = "# HELP h Latency.\n# TYPE h histogram\nh_bucket{path=\"/a\",le=\"0.1\"} 1\nh_bucket{path=\"/a\",le=\"0.5\"} 3\nh_bucket{path=\"/a\",le=\"+Inf\"} 4\nh_sum{path=\"/a\"} 1.5\nh_count{path=\"/a\"} 4\nh_bucket{path=\"/b\",le=\"1\"} 2\nh_count{path=\"/b\"} 2\nh_sum{path=\"/b\"} 0.5\n# TYPE g gauge\ng 1\n";

    #[test]
    fn classic_histograms_become_custom_bucket_histograms_per_label_set() {
        let (text, histograms) = converted(BODY, false);
        assert_eq!(text, "# HELP h Latency.\n# TYPE h histogram\n# TYPE g gauge\ng 1\n");
        let expected = vec![
            NativeHistogramLine { series: "h{path=\"/a\"}".into(), timestamp_ms: None, histogram: nhcb(&[0.1, 0.5], &[(0, 3)], &[1.0, 2.0, 1.0], 4.0, 1.5), exemplars: Vec::new(), start_ms: None },
            NativeHistogramLine { series: "h{path=\"/b\"}".into(), timestamp_ms: None, histogram: nhcb(&[1.0], &[(0, 1)], &[2.0], 2.0, 0.5), exemplars: Vec::new(), start_ms: None },
        ];
        assert_eq!(histograms, expected);
        // Kept beside them with always_scrape_classic_histograms.
        let (text, kept) = converted(BODY, true);
        assert_eq!(text, BODY);
        assert_eq!(kept, expected);
    }

    #[test]
    fn empty_buckets_are_compacted_as_prometheus_compacts_them() {
        // Whole counts: runs of up to two empty buckets stay inside a span, longer ones split it.
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"3\"} 1\nh_bucket{le=\"4\"} 2\nh_bucket{le=\"5\"} 2\nh_bucket{le=\"6\"} 2\nh_bucket{le=\"7\"} 2\nh_bucket{le=\"8\"} 3\nh_count 3\nh_sum 9\n";
        let (_, histograms) = converted(body, false);
        assert_eq!(histograms[0].histogram, nhcb(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[(0, 4), (3, 1)], &[1.0, 0.0, 0.0, 1.0, 1.0], 3.0, 9.0));
        // A fractional count: every empty bucket goes.
        let (_, histograms) = converted("# TYPE h histogram\nh_bucket{le=\"1\"} 0.5\nh_bucket{le=\"2\"} 0.5\nh_bucket{le=\"+Inf\"} 1.5\nh_count 1.5\nh_sum 1\n", false);
        assert_eq!(histograms[0].histogram, nhcb(&[1.0, 2.0], &[(0, 1), (1, 1)], &[0.5, 1.0], 1.5, 1.0));
    }

    #[test]
    fn broken_histograms_are_dropped_in_text_and_fail_a_protobuf_answer() {
        for body in [
            // Each begins with its `_count`, as a protobuf answer's text does.
            "# TYPE h histogram\nh_count 3\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"2\"} 2\n",
            "# TYPE h histogram\nh_count 2\nh_bucket{le=\"+Inf\"} 1\n",
            "# TYPE h histogram\nh_count 0\nh_bucket{le=\"1\"} -1\n",
            // No +Inf bucket and a count below the last bucket: its +Inf bucket would be
            // negative, which Prometheus' validation refuses.
            "# TYPE h histogram\nh_count 3\nh_bucket{le=\"1\"} 5\n",
        ] {
            let (text, histograms) = converted(body, false);
            assert_eq!((text.as_str(), histograms.len()), ("# TYPE h histogram\n", 0), "{body}");
            let refused = convert(answer(body), false, true).expect_err(body);
            assert!(refused.starts_with("histogram h: converting to native histogram with custom buckets: "), "{refused}");
        }
    }

    #[test]
    fn a_histogram_ends_where_prometheus_ends_it() {
        // A blank line does not end it; a series of its name and labels that is not one of
        // its parts passes through without ending it; another label set does.
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n\nh_bucket{le=\"x\"} 9\nh{} 9\nh_bucket{le=\"2\"} 2\nh_count 2\nh_sum 3\nh_count{a=\"b\"} 0\n";
        let (text, histograms) = converted(body, false);
        assert_eq!(text, "# TYPE h histogram\n\nh_bucket{le=\"x\"} 9\nh{} 9\n");
        assert_eq!(histograms.iter().map(|h| (h.series.as_str(), h.histogram.count, h.histogram.sum)).collect::<Vec<_>>(), vec![("h", 2.0, 3.0), ("h{a=\"b\"}", 0.0, 0.0)]);
        assert_eq!(histograms[0].histogram.custom_values, vec![1.0, 2.0]);
        // Buckets out of order are sorted; a repeated bound keeps its first count.
        let (_, histograms) = converted("# TYPE h histogram\nh_bucket{le=\"2\"} 3\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1\"} 2\nh_count 3\n", false);
        assert_eq!(histograms[0].histogram, nhcb(&[1.0, 2.0], &[(0, 2)], &[1.0, 2.0], 3.0, 0.0));
    }

    #[test]
    fn protobuf_answers_convert_each_classic_histogram_and_no_native_one() {
        use proto::client_model::{Bucket, BucketSpan as Span, Histogram, Metric, MetricFamily, MetricType};
        use prost::Message;
        let bucket = |upper_bound: f64, cumulative_count: u64| Bucket { cumulative_count, upper_bound, ..Bucket::default() };
        // A native histogram with broken classic buckets, and two classic messages of the
        // same labels.
        let native = Histogram { sample_count: 3, schema: 0, positive_span: vec![Span { offset: 0, length: 1 }], positive_delta: vec![3], bucket: vec![bucket(1.0, 9), bucket(2.0, 3)], ..Histogram::default() };
        let classic = |count: u64| Histogram { sample_count: count, bucket: vec![bucket(1.0, count)], ..Histogram::default() };
        let families = [
            MetricFamily { name: "n".into(), r#type: MetricType::Histogram as i32, metric: vec![Metric { histogram: Some(native), ..Metric::default() }], ..MetricFamily::default() },
            MetricFamily { name: "c".into(), r#type: MetricType::Histogram as i32, metric: vec![Metric { histogram: Some(classic(1)), ..Metric::default() }, Metric { histogram: Some(classic(2)), ..Metric::default() }], ..MetricFamily::default() },
        ];
        let mut body = Vec::new();
        for f in families {
            f.encode_length_delimited(&mut body).expect("encode");
        }
        let options = crate::scrape::protobuf::ProtobufOptions { native_histograms: true, classic_histograms_too: true, utf8_names: false, exemplars: true };
        let exposition = crate::scrape::protobuf::to_text(&body, options).expect("decoded");
        let out = convert(Answer { text: exposition.text, format: Format::OpenMetrics, histograms: exposition.histograms }, false, true).expect("converted");
        let got: Vec<(&str, i32, f64)> = out.histograms.iter().map(|h| (h.series.as_str(), h.histogram.schema, h.histogram.count)).collect();
        assert_eq!(got, vec![("n", 0, 3.0), ("c", CUSTOM_BUCKETS_SCHEMA, 1.0), ("c", CUSTOM_BUCKETS_SCHEMA, 2.0)]);
        assert_eq!(String::from_utf8(out.text).unwrap_or_default(), "# TYPE n histogram\n# TYPE c histogram\n");
        // A NaN bound fails a protobuf answer (a text one leaves the series alone).
        let nan = "# TYPE h histogram\nh_count 1\nh_bucket{le=\"NaN\"} 1\n";
        assert!(convert(answer(nan), false, true).is_err_and(|e| e.contains("bucket boundary must not be NaN")));
        let (text, histograms) = converted(nan, false);
        assert_eq!((text.as_str(), histograms.len()), ("# TYPE h histogram\nh_bucket{le=\"NaN\"} 1\n", 1));
    }

    #[test]
    fn exemplars_of_a_histograms_series_go_to_the_converted_histogram() {
        let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {trace_id=\"a\"} 0.5 1000\nh_bucket{le=\"+Inf\"} 2 # {trace_id=\"b\"} 3\nh_count 2\n# TYPE c counter\nc_total 1 # {trace_id=\"c\"} 1\n";
        let om = |text: &str| Answer { text: text.as_bytes().to_vec(), format: Format::OpenMetrics, histograms: Vec::new() };
        let traces = |out: &Answer| out.histograms.iter().map(|h| h.exemplars.iter().map(|e| (e.labels[0].1.clone(), e.timestamp_ms)).collect::<Vec<_>>()).collect::<Vec<_>>();
        // A text answer's classic series kept beside it lose theirs (another family keeps its own).
        let out = convert(om(body), true, false).expect("converted");
        assert_eq!(traces(&out), vec![vec![("a".to_string(), Some(1000)), ("b".to_string(), None)]]);
        assert_eq!(String::from_utf8(out.text).unwrap_or_default(), "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n# TYPE c counter\nc_total 1 # {trace_id=\"c\"} 1\n");
        // A protobuf answer's keep theirs (its messages give `_count` first).
        let protobuf = "# TYPE h histogram\nh_count 2\nh_bucket{le=\"1\"} 1 # {trace_id=\"a\"} 0.5 1000\nh_bucket{le=\"+Inf\"} 2 # {trace_id=\"b\"} 3\n";
        let out = convert(om(protobuf), true, true).expect("converted");
        assert_eq!(traces(&out), vec![vec![("a".to_string(), Some(1000)), ("b".to_string(), None)]]);
        assert!(String::from_utf8(out.text).unwrap_or_default().contains("h_bucket{le=\"1\"} 1 # {trace_id=\"a\"} 0.5 1000\n"));
        // In the text format ` # ` is no exemplar: such a line is left for the scrape to refuse.
        let (text, histograms) = converted("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2 # {trace_id=\"b\"} 3\nh_count 2\n", false);
        assert_eq!((text.as_str(), histograms[0].exemplars.len()), ("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2 # {trace_id=\"b\"} 3\n", 0));
    }

    #[test]
    fn utf8_names_convert_and_read_back() {
        let (_, histograms) = converted("# TYPE \"my.lat\" histogram\n{\"my.lat_bucket\",\"http.route\"=\"/a\",le=\"+Inf\"} 2\n{\"my.lat_count\",\"http.route\"=\"/a\"} 2\n", false);
        assert_eq!(histograms.iter().map(|h| h.series.as_str()).collect::<Vec<_>>(), vec!["{\"my.lat\",\"http.route\"=\"/a\"}"]);
        let parsed = crate::ingest::text_format::parse_line(&format!("{} 0", histograms[0].series), 0, 0, &LabelLimits::default());
        assert_eq!(parsed.map(|p| p.map(|(labels, _)| labels.to_string())), Ok(Some("{\"my.lat\", \"http.route\"=\"/a\"}".to_string())));
        assert_eq!(series_text("plain_name", []), "plain_name");
        assert_eq!(series_text("a:b", [("x", "1")]), "a:b{x=\"1\"}");
    }

    #[test]
    fn only_histogram_families_and_their_own_series_are_converted() {
        // Another family's `_bucket`, a bucket without a numeric `le`, an untyped family
        // and a gauge histogram in text stay as they are.
        let body = "# TYPE h histogram\nh_bucket{le=\"x\"} 1\nother_bucket{le=\"1\"} 1\nh_count 1\n# TYPE u untyped\nu_bucket{le=\"1\"} 1\nu_count 1\n# TYPE gh gaugehistogram\ngh_bucket{le=\"1\"} 1\ngh_gcount 1\n";
        let (text, histograms) = converted(body, false);
        assert_eq!(text, "# TYPE h histogram\nh_bucket{le=\"x\"} 1\nother_bucket{le=\"1\"} 1\n# TYPE u untyped\nu_bucket{le=\"1\"} 1\nu_count 1\n# TYPE gh gaugehistogram\ngh_bucket{le=\"1\"} 1\ngh_gcount 1\n");
        assert_eq!(histograms.iter().map(|h| h.series.as_str()).collect::<Vec<_>>(), vec!["h"]);
        // In a protobuf answer a gauge histogram converts, marked as a gauge.
        let out = convert(answer("# TYPE gh gaugehistogram\ngh_count 2\ngh_sum 1\ngh_bucket{le=\"1\"} 2\ngh_bucket{le=\"+Inf\"} 2\n"), false, true).expect("converted");
        assert_eq!(out.histograms[0].histogram.counter_reset_hint, CounterResetHint::Gauge);
        assert_eq!(out.histograms[0].histogram.custom_values, vec![1.0]);
    }

    #[test]
    fn own_timestamps_and_escaped_labels_carry_over() {
        let (_, histograms) = converted("# TYPE h histogram\nh_bucket{a=\"q\\\"x\\\\\",le=\"+Inf\"} 1 1000\nh_count{a=\"q\\\"x\\\\\"} 1 1000\n", false);
        assert_eq!((histograms[0].series.as_str(), histograms[0].timestamp_ms), ("h{a=\"q\\\"x\\\\\"}", Some(1000)));
        // The series text reads back to the same labels.
        let line = format!("{} 0", histograms[0].series);
        let parsed = crate::ingest::text_format::parse_line(&line, 0, 0, &LabelLimits::default()).expect("parsed").expect("a series");
        assert_eq!(parsed.0.get("a"), Some("q\"x\\"));
    }

    #[test]
    fn a_histogram_and_its_kept_series_take_the_start_of_its_first_series() {
        let body = "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n# TYPE g gauge\ng 1\n";
        let mut starts = LineStarts::default();
        for (line, start_ms) in [(1, 10), (2, 20), (4, 40)] {
            starts.push(line, start_ms);
        }
        let with = |keep_classic: bool| {
            let (out, starts) = convert_with_starts(answer(body), &starts, keep_classic, false).expect("converted");
            let text = String::from_utf8(out.text).unwrap_or_default();
            let mut reader = starts.reader();
            let lines: Vec<(String, Option<i64>)> = text.lines().enumerate().map(|(index, line)| (line.to_string(), reader.start_of(index))).collect();
            (lines, out.histograms.iter().map(|h| h.start_ms).collect::<Vec<_>>())
        };
        let line = |text: &str, start_ms: Option<i64>| (text.to_string(), start_ms);
        assert_eq!(with(false), (vec![line("# TYPE h histogram", None), line("# TYPE g gauge", None), line("g 1", Some(40))], vec![Some(10)]));
        assert_eq!(
            with(true),
            (vec![line("# TYPE h histogram", None), line("h_bucket{le=\"+Inf\"} 2", Some(10)), line("h_count 2", Some(10)), line("# TYPE g gauge", None), line("g 1", Some(40))], vec![Some(10)])
        );
    }
}
