//! Tests of the protobuf exposition reader: families into text lines, native histograms and exemplars.

use super::*;
use crate::ingest::label_limits::LabelLimits;
use dto::{Bucket, BucketSpan, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, Quantile, Summary};
use tsdb::{CounterResetHint, Labels};

const NATIVE: ProtobufOptions = ProtobufOptions { native_histograms: true, classic_histograms_too: false, utf8_names: false, exemplars: true };
const NATIVE_AND_CLASSIC: ProtobufOptions = ProtobufOptions { native_histograms: true, classic_histograms_too: true, utf8_names: false, exemplars: true };
const CLASSIC_ONLY: ProtobufOptions = ProtobufOptions { native_histograms: false, classic_histograms_too: false, utf8_names: false, exemplars: true };

fn body(families: &[MetricFamily]) -> Vec<u8> {
    let mut out = Vec::new();
    for family in families {
        family.encode_length_delimited(&mut out).expect("a Vec grows as needed");
    }
    out
}

fn family(name: &str, metric_type: MetricType, metric: Vec<Metric>) -> MetricFamily {
    MetricFamily { name: name.into(), help: String::new(), r#type: metric_type as i32, metric, unit: String::new() }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<LabelPair> {
    pairs.iter().map(|(name, value)| LabelPair { name: (*name).into(), value: (*value).into() }).collect()
}

fn spans(pairs: &[(i32, u32)]) -> Vec<BucketSpan> {
    pairs.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect()
}

fn histogram_metric(label_pairs: &[(&str, &str)], histogram: Histogram) -> Metric {
    Metric { label: labels(label_pairs), histogram: Some(histogram), ..Metric::default() }
}

fn decode(families: &[MetricFamily], options: ProtobufOptions) -> (String, Vec<NativeHistogramLine>) {
    let exposition = to_text(&body(families), options).expect("a valid exposition");
    (String::from_utf8(exposition.text).expect("the text is UTF-8"), exposition.histograms)
}

fn error(families: &[MetricFamily], options: ProtobufOptions) -> String {
    to_text(&body(families), options).expect_err("an invalid exposition")
}

/// A native integer histogram with classic buckets too: schema 3, a zero bucket, bucket
/// counts 1, 2, 0, 3 at indexes -2, -1, 1, 2 (the empty one at index 1) and 4 at negative
/// index 0; count 12.
fn native_integer(bucket: Vec<Bucket>) -> Histogram {
    Histogram {
        sample_count: 12,
        sample_sum: 42.5,
        bucket,
        schema: 3,
        zero_threshold: 0.001,
        zero_count: 2,
        positive_span: spans(&[(-2, 2), (1, 2)]),
        positive_delta: vec![1, 1, -2, 3],
        negative_span: spans(&[(0, 1)]),
        negative_delta: vec![4],
        ..Histogram::default()
    }
}

/// `native_integer` as stored: the empty bucket compacted away.
fn native_integer_stored() -> FloatHistogram {
    FloatHistogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 3,
        zero_threshold: 0.001,
        zero_count: 2.0,
        count: 12.0,
        sum: 42.5,
        positive_spans: vec![tsdb::BucketSpan { offset: -2, length: 2 }, tsdb::BucketSpan { offset: 2, length: 1 }],
        positive_buckets: vec![1.0, 2.0, 3.0],
        negative_spans: vec![tsdb::BucketSpan { offset: 0, length: 1 }],
        negative_buckets: vec![4.0],
        custom_values: Vec::new(),
    }
}

fn classic_buckets() -> Vec<Bucket> {
    vec![Bucket { cumulative_count: 3, upper_bound: 0.5, ..Bucket::default() }, Bucket { cumulative_count: 9, upper_bound: 10.0, ..Bucket::default() }]
}

#[test]
fn empty_body_gives_nothing() {
    let exposition = to_text(b"", NATIVE).expect("an empty body is an empty exposition");
    assert!(exposition.text.is_empty());
    assert!(exposition.histograms.is_empty());
}

#[test]
fn exemplars_are_given_as_prometheus_parser_gives_them() {
    let at = |ms: i64| Some(dto::Timestamp { seconds: ms.div_euclid(1000), nanos: (ms.rem_euclid(1000) * 1_000_000 + 999) as i32 });
    let exemplar = |trace: &str, value: f64, timestamp| dto::Exemplar { label: labels(&[("trace_id", trace)]), value, timestamp };
    let counter = |e: dto::Exemplar| Metric { counter: Some(Counter { value: 1.0, exemplar: Some(e), created_timestamp: None }), ..Metric::default() };
    // A name the text format cannot write plain rides quoted.
    let quoted_name = dto::Exemplar { label: labels(&[("trace id", "x")]), value: 1.0, timestamp: None };
    let requests = family("requests_total", MetricType::Counter, vec![counter(exemplar("c\"1", 0.5, at(1_500))), counter(exemplar("c2", 2.0, None)), counter(quoted_name)]);
    let bucket = |upper_bound: f64, cumulative_count: u64, exemplar: Option<dto::Exemplar>| Bucket { cumulative_count, upper_bound, exemplar, ..Bucket::default() };
    let buckets = || vec![bucket(1.0, 1, Some(exemplar("b1", 0.5, None))), bucket(2.0, 3, Some(exemplar("b2", 1.5, at(-2_500))))];
    // With an exemplar list the native histogram takes those of it with a timestamp;
    // without one, its buckets' with a timestamp.
    let listed = Histogram { exemplars: vec![exemplar("n1", 1.0, at(3_000)), exemplar("n2", 2.0, None)], bucket: buckets(), ..native_integer(Vec::new()) };
    let unlisted = Histogram { bucket: buckets(), ..native_integer(Vec::new()) };
    let latency = family("lat", MetricType::Histogram, vec![histogram_metric(&[("a", "1")], listed), histogram_metric(&[("a", "2")], unlisted)]);
    let (text, histograms) = decode(&[requests.clone(), latency.clone()], NATIVE);
    assert_eq!(
        text,
        "# TYPE requests_total counter\n\
         requests_total 1.0 # {trace_id=\"c\\\"1\"} 0.5 1500\n\
         requests_total 1.0 # {trace_id=\"c2\"} 2.0\n\
         requests_total 1.0 # {\"trace id\"=\"x\"} 1.0\n\
         # TYPE lat histogram\n"
    );
    let native: Vec<Vec<(String, Option<i64>)>> = histograms.iter().map(|h| h.exemplars.iter().map(|e| (e.labels[0].1.clone(), e.timestamp_ms)).collect()).collect();
    assert_eq!(native, vec![vec![("n1".to_string(), Some(3_000))], vec![("b2".to_string(), Some(-2_500))]]);
    // Read as classic, each bucket's own exemplar rides on its line, with or without time.
    let (text, histograms) = decode(&[latency], CLASSIC_ONLY);
    assert!(histograms.is_empty());
    assert!(text.contains("lat_bucket{a=\"1\",le=\"1.0\"} 1.0 # {trace_id=\"b1\"} 0.5\nlat_bucket{a=\"1\",le=\"2.0\"} 3.0 # {trace_id=\"b2\"} 1.5 -2500\nlat_bucket{a=\"1\",le=\"+Inf\"} 12.0\n"), "{text}");
    // The lines read back through the scrape's exemplar reader.
    let line = text.lines().find(|l| l.contains("b2")).unwrap_or_default();
    let (_, rest) = crate::scrape::scrape_loop::split_series(line).unwrap_or_default();
    let read = super::super::exemplar::parse(super::super::exemplar::split(rest).1.unwrap_or_default(), super::super::exemplar::TimestampUnit::Milliseconds);
    assert_eq!(read.map(|e| (e.labels, e.value, e.timestamp_ms)), Ok((vec![("trace_id".to_string(), "b2".to_string())], 1.5, Some(-2_500))));
}

#[test]
fn utf8_names_are_refused_unless_allowed_then_written_quoted() {
    let utf8 = ProtobufOptions { utf8_names: true, ..CLASSIC_ONLY };
    let requests = family("http.requests_total", MetricType::Counter, vec![Metric { label: labels(&[("http.route", "/a"), ("code", "200")]), counter: Some(Counter { value: 2.0, exemplar: None, created_timestamp: None }), ..Metric::default() }]);
    assert!(error(std::slice::from_ref(&requests), CLASSIC_ONLY).contains("invalid metric name: \"http.requests_total\""));
    let (text, _) = decode(&[requests], utf8);
    assert_eq!(text, "# TYPE \"http.requests_total\" counter\n{\"http.requests_total\",\"http.route\"=\"/a\",code=\"200\"} 2.0\n");
    let latency = family("rpc.seconds", MetricType::Histogram, vec![histogram_metric(&[], Histogram { sample_count: 1, bucket: vec![Bucket { cumulative_count: 1, upper_bound: 1.0, ..Bucket::default() }], ..Histogram::default() })]);
    let (text, _) = decode(&[latency], utf8);
    assert!(text.contains("{\"rpc.seconds_count\"} 1.0\n") && text.contains("{\"rpc.seconds_bucket\",le=\"1.0\"} 1.0\n"), "{text}");
    // Each line reads back with its UTF-8 names.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let parsed = crate::ingest::text_format::parse_line(line, 1, 0, &LabelLimits::default());
        assert!(parsed.as_ref().is_ok_and(|p| p.as_ref().is_some_and(|(l, _)| l.metric_name().is_some_and(|n| n.starts_with("rpc.seconds_")))), "{line}: {parsed:?}");
    }
    let native = family("n.h", MetricType::Histogram, vec![histogram_metric(&[("a.b", "1")], native_integer(Vec::new()))]);
    let (_, histograms) = decode(&[native], ProtobufOptions { utf8_names: true, ..NATIVE });
    assert_eq!(histograms[0].series, "{\"n.h\",\"a.b\"=\"1\"}");
    let empty_name = family("x", MetricType::Gauge, vec![Metric { label: labels(&[("", "v")]), gauge: Some(Gauge { value: 1.0 }), ..Metric::default() }]);
    assert!(error(&[empty_name], utf8).contains("invalid label name \"\""));
}

#[test]
fn counters_gauges_and_untyped_series() {
    let mut requests = family("http_requests_total", MetricType::Counter, vec![
        Metric { label: labels(&[("path", "/a"), ("code", "200")]), counter: Some(Counter { value: 1027.0, ..Counter::default() }), timestamp_ms: 1_700_000_000_123, ..Metric::default() },
        Metric { counter: Some(Counter { value: 3.5, ..Counter::default() }), ..Metric::default() },
    ]);
    requests.help = "Requests \\ \"served\".\nAll of them.".into();
    let mut temperature = family("temperature_celsius", MetricType::Gauge, vec![Metric { label: labels(&[("room", "b")]), gauge: Some(Gauge { value: -0.25 }), ..Metric::default() }]);
    temperature.unit = "celsius".into();
    let odd = family("odd", MetricType::Untyped, vec![
        Metric { untyped: Some(dto::Untyped { value: f64::NAN }), timestamp_ms: -5, ..Metric::default() },
        // A missing value reads as 0, as Go's getters read it.
        Metric { label: labels(&[("x", "y")]), ..Metric::default() },
    ]);
    let empty = family("no_metrics", MetricType::Gauge, Vec::new());
    let (text, histograms) = decode(&[requests, empty, temperature, odd], NATIVE);
    assert_eq!(
        text,
        "# HELP http_requests_total Requests \\\\ \\\"served\\\".\\nAll of them.\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{path=\"/a\",code=\"200\"} 1027.0 1700000000123\n\
         http_requests_total 3.5\n\
         # UNIT temperature_celsius celsius\n\
         # TYPE temperature_celsius gauge\n\
         temperature_celsius{room=\"b\"} -0.25\n\
         # TYPE odd untyped\n\
         odd NaN -5\n\
         odd{x=\"y\"} 0.0\n"
    );
    assert!(histograms.is_empty());
}

#[test]
fn summary_gives_count_sum_then_quantiles() {
    let summary = Summary { sample_count: 7, sample_sum: 12.5, quantile: vec![Quantile { quantile: 0.5, value: 1.0 }, Quantile { quantile: 0.99, value: 4.25 }, Quantile { quantile: 1e-5, value: 0.0 }], created_timestamp: None };
    let rpc = family("rpc_seconds", MetricType::Summary, vec![
        Metric { label: labels(&[("service", "a")]), summary: Some(summary), timestamp_ms: 1000, ..Metric::default() },
        Metric { label: labels(&[("service", "b")]), summary: Some(Summary { sample_count: 0, sample_sum: 0.0, quantile: Vec::new(), created_timestamp: None }), ..Metric::default() },
    ]);
    let (text, _) = decode(&[rpc], NATIVE);
    assert_eq!(
        text,
        "# TYPE rpc_seconds summary\n\
         rpc_seconds_count{service=\"a\"} 7.0 1000\n\
         rpc_seconds_sum{service=\"a\"} 12.5 1000\n\
         rpc_seconds{service=\"a\",quantile=\"0.5\"} 1.0 1000\n\
         rpc_seconds{service=\"a\",quantile=\"0.99\"} 4.25 1000\n\
         rpc_seconds{service=\"a\",quantile=\"1e-05\"} 0.0 1000\n\
         rpc_seconds_count{service=\"b\"} 0.0\n\
         rpc_seconds_sum{service=\"b\"} 0.0\n"
    );
}

#[test]
fn classic_histograms_with_and_without_inf_bucket() {
    let without_inf = Histogram { sample_count: 10, sample_sum: 7.5, bucket: classic_buckets(), ..Histogram::default() };
    // Buckets after +Inf are not read.
    let with_inf = Histogram {
        sample_count: 4,
        sample_sum: 1.0,
        bucket: vec![Bucket { cumulative_count: 1, upper_bound: 1.0, ..Bucket::default() }, Bucket { cumulative_count: 4, upper_bound: f64::INFINITY, ..Bucket::default() }, Bucket { cumulative_count: 99, upper_bound: 1e6, ..Bucket::default() }],
        ..Histogram::default()
    };
    // Float counts override the integer ones where > 0.
    let float_counts = Histogram {
        sample_count: 1,
        sample_count_float: 2.5,
        sample_sum: -3.0,
        bucket: vec![Bucket { cumulative_count: 1, cumulative_count_float: 1.5, upper_bound: 1e6, exemplar: None }, Bucket { cumulative_count: 2, cumulative_count_float: 0.0, upper_bound: 1e7, exemplar: None }],
        ..Histogram::default()
    };
    let latency = family("latency_seconds", MetricType::Histogram, vec![
        histogram_metric(&[("a", "1")], without_inf),
        Metric { timestamp_ms: 2000, ..histogram_metric(&[], with_inf) },
        histogram_metric(&[("a", "3")], float_counts),
        // No histogram at all: _count, _sum and the +Inf bucket, all 0.
        Metric { label: labels(&[("a", "4")]), ..Metric::default() },
    ]);
    let (text, histograms) = decode(&[latency], NATIVE);
    assert_eq!(
        text,
        "# TYPE latency_seconds histogram\n\
         latency_seconds_count{a=\"1\"} 10.0\n\
         latency_seconds_sum{a=\"1\"} 7.5\n\
         latency_seconds_bucket{a=\"1\",le=\"0.5\"} 3.0\n\
         latency_seconds_bucket{a=\"1\",le=\"10.0\"} 9.0\n\
         latency_seconds_bucket{a=\"1\",le=\"+Inf\"} 10.0\n\
         latency_seconds_count 4.0 2000\n\
         latency_seconds_sum 1.0 2000\n\
         latency_seconds_bucket{le=\"1.0\"} 1.0 2000\n\
         latency_seconds_bucket{le=\"+Inf\"} 4.0 2000\n\
         latency_seconds_count{a=\"3\"} 2.5\n\
         latency_seconds_sum{a=\"3\"} -3.0\n\
         latency_seconds_bucket{a=\"3\",le=\"1e+06\"} 1.5\n\
         latency_seconds_bucket{a=\"3\",le=\"1e+07\"} 2.0\n\
         latency_seconds_bucket{a=\"3\",le=\"+Inf\"} 2.5\n\
         latency_seconds_count{a=\"4\"} 0.0\n\
         latency_seconds_sum{a=\"4\"} 0.0\n\
         latency_seconds_bucket{a=\"4\",le=\"+Inf\"} 0.0\n"
    );
    assert!(histograms.is_empty());
}

#[test]
fn native_integer_histogram() {
    let latency = family("latency_seconds", MetricType::Histogram, vec![Metric { timestamp_ms: 1234, ..histogram_metric(&[("job", "a"), ("x", "q\"")], native_integer(classic_buckets())) }]);
    let (text, histograms) = decode(&[latency], NATIVE);
    // Classic buckets are not read without `classic_histograms_too`.
    assert_eq!(text, "# TYPE latency_seconds histogram\n");
    assert_eq!(histograms, vec![NativeHistogramLine { series: "latency_seconds{job=\"a\",x=\"q\\\"\"}".into(), timestamp_ms: Some(1234), histogram: native_integer_stored(), exemplars: Vec::new(), start_ms: None }]);
}

#[test]
fn native_float_histogram() {
    let histogram = Histogram {
        sample_count_float: 7.5,
        sample_sum: 3.25,
        schema: 0,
        zero_count_float: 0.5,
        positive_span: spans(&[(1, 3)]),
        positive_count: vec![2.0, 0.0, 5.0],
        // The integer flavour's fields are ignored in a float histogram.
        positive_delta: vec![9],
        negative_span: spans(&[(-1, 1)]),
        negative_count: vec![0.25],
        ..Histogram::default()
    };
    let sizes = family("sizes", MetricType::Histogram, vec![histogram_metric(&[], histogram)]);
    let (text, histograms) = decode(&[sizes], NATIVE_AND_CLASSIC);
    assert_eq!(text, "# TYPE sizes histogram\n");
    let expected = FloatHistogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 0,
        zero_threshold: 0.0,
        zero_count: 0.5,
        count: 7.5,
        sum: 3.25,
        positive_spans: vec![tsdb::BucketSpan { offset: 1, length: 1 }, tsdb::BucketSpan { offset: 1, length: 1 }],
        positive_buckets: vec![2.0, 5.0],
        negative_spans: vec![tsdb::BucketSpan { offset: -1, length: 1 }],
        negative_buckets: vec![0.25],
        custom_values: Vec::new(),
    };
    assert_eq!(histograms, vec![NativeHistogramLine { series: "sizes".into(), timestamp_ms: None, histogram: expected, exemplars: Vec::new(), start_ms: None }]);
}

#[test]
fn gauge_histogram_has_the_gauge_reset_hint() {
    let queue = family("queue_depth", MetricType::GaugeHistogram, vec![histogram_metric(&[("q", "1")], native_integer(Vec::new()))]);
    let (text, histograms) = decode(&[queue], NATIVE);
    assert_eq!(text, "# TYPE queue_depth gaugehistogram\n");
    let expected = FloatHistogram { counter_reset_hint: CounterResetHint::Gauge, ..native_integer_stored() };
    assert_eq!(histograms, vec![NativeHistogramLine { series: "queue_depth{q=\"1\"}".into(), timestamp_ms: None, histogram: expected, exemplars: Vec::new(), start_ms: None }]);
}

#[test]
fn native_histogram_read_as_classic_when_native_histograms_are_off() {
    let latency = family("latency_seconds", MetricType::Histogram, vec![histogram_metric(&[("a", "1")], native_integer(Vec::new())), histogram_metric(&[("a", "2")], native_integer(classic_buckets()))]);
    let (text, histograms) = decode(&[latency], CLASSIC_ONLY);
    assert_eq!(
        text,
        "# TYPE latency_seconds histogram\n\
         latency_seconds_count{a=\"1\"} 12.0\n\
         latency_seconds_sum{a=\"1\"} 42.5\n\
         latency_seconds_bucket{a=\"1\",le=\"+Inf\"} 12.0\n\
         latency_seconds_count{a=\"2\"} 12.0\n\
         latency_seconds_sum{a=\"2\"} 42.5\n\
         latency_seconds_bucket{a=\"2\",le=\"0.5\"} 3.0\n\
         latency_seconds_bucket{a=\"2\",le=\"10.0\"} 9.0\n\
         latency_seconds_bucket{a=\"2\",le=\"+Inf\"} 12.0\n"
    );
    assert!(histograms.is_empty());
}

#[test]
fn classic_histograms_too_gives_both_when_there_are_classic_buckets() {
    let latency = || family("latency_seconds", MetricType::Histogram, vec![histogram_metric(&[("a", "1")], native_integer(classic_buckets())), histogram_metric(&[("a", "2")], native_integer(Vec::new()))]);
    let native = |a: &str| NativeHistogramLine { series: format!("latency_seconds{{a=\"{a}\"}}"), timestamp_ms: None, histogram: native_integer_stored(), exemplars: Vec::new(), start_ms: None };

    let (text, histograms) = decode(&[latency()], NATIVE_AND_CLASSIC);
    // The second metric has no classic buckets, so no classic series.
    assert_eq!(
        text,
        "# TYPE latency_seconds histogram\n\
         latency_seconds_count{a=\"1\"} 12.0\n\
         latency_seconds_sum{a=\"1\"} 42.5\n\
         latency_seconds_bucket{a=\"1\",le=\"0.5\"} 3.0\n\
         latency_seconds_bucket{a=\"1\",le=\"10.0\"} 9.0\n\
         latency_seconds_bucket{a=\"1\",le=\"+Inf\"} 12.0\n"
    );
    assert_eq!(histograms, vec![native("1"), native("2")]);

    let (text, histograms) = decode(&[latency()], NATIVE);
    assert_eq!(text, "# TYPE latency_seconds histogram\n");
    assert_eq!(histograms, vec![native("1"), native("2")]);
}

#[test]
fn empty_native_histogram_is_marked_by_a_no_op_span() {
    let no_op = Histogram { positive_span: spans(&[(0, 0)]), ..Histogram::default() };
    let empty = family("empty", MetricType::Histogram, vec![histogram_metric(&[("with", "span")], no_op), histogram_metric(&[("without", "span")], Histogram::default())]);
    let (text, histograms) = decode(&[empty], NATIVE);
    // Without the span it is an empty classic histogram.
    assert_eq!(
        text,
        "# TYPE empty histogram\n\
         empty_count{without=\"span\"} 0.0\n\
         empty_sum{without=\"span\"} 0.0\n\
         empty_bucket{without=\"span\",le=\"+Inf\"} 0.0\n"
    );
    assert_eq!(histograms, vec![NativeHistogramLine { series: "empty{with=\"span\"}".into(), timestamp_ms: None, histogram: FloatHistogram::default(), exemplars: Vec::new(), start_ms: None }]);
}

#[test]
fn zero_bucket_alone_makes_a_native_histogram() {
    // A zero threshold or an integer zero count marks a native histogram; a float zero
    // count alone does not (Prometheus' `isNativeHistogram`).
    let threshold = Histogram { zero_threshold: 0.5, ..Histogram::default() };
    let zero_count = Histogram { sample_count: 2, zero_count: 2, ..Histogram::default() };
    let float_zero_count = Histogram { sample_count_float: 2.0, zero_count_float: 2.0, ..Histogram::default() };
    let h = family("h", MetricType::Histogram, vec![histogram_metric(&[("m", "1")], threshold), histogram_metric(&[("m", "2")], zero_count), histogram_metric(&[("m", "3")], float_zero_count)]);
    let (text, histograms) = decode(&[h], NATIVE);
    assert_eq!(text, "# TYPE h histogram\nh_count{m=\"3\"} 2.0\nh_sum{m=\"3\"} 0.0\nh_bucket{m=\"3\",le=\"+Inf\"} 2.0\n");
    assert_eq!(
        histograms,
        vec![
            NativeHistogramLine { series: "h{m=\"1\"}".into(), timestamp_ms: None, histogram: FloatHistogram { zero_threshold: 0.5, ..FloatHistogram::default() }, exemplars: Vec::new(), start_ms: None },
            NativeHistogramLine { series: "h{m=\"2\"}".into(), timestamp_ms: None, histogram: FloatHistogram { zero_count: 2.0, count: 2.0, ..FloatHistogram::default() }, exemplars: Vec::new(), start_ms: None },
        ]
    );
}

#[test]
fn schemas_past_8_are_reduced() {
    // Schema 9 buckets 1 and 2 fall into schema 8 bucket 1.
    let fine = Histogram { sample_count: 3, schema: 9, positive_span: spans(&[(1, 2)]), positive_delta: vec![1, 1], ..Histogram::default() };
    let (_, histograms) = decode(&[family("fine", MetricType::Histogram, vec![histogram_metric(&[], fine)])], NATIVE);
    let expected = FloatHistogram { schema: 8, count: 3.0, positive_spans: vec![tsdb::BucketSpan { offset: 1, length: 1 }], positive_buckets: vec![3.0], ..FloatHistogram::default() };
    assert_eq!(histograms, vec![NativeHistogramLine { series: "fine".into(), timestamp_ms: None, histogram: expected, exemplars: Vec::new(), start_ms: None }]);
}

#[test]
fn label_values_are_escaped_and_read_back() {
    let awkward = [("quote", "say \"hi\""), ("backslash", "C:\\dir\\"), ("newline", "two\nlines"), ("all", "\\\"\n\\n"), ("hash", "a # b } c"), ("empty", "")];
    let g = family("g", MetricType::Gauge, vec![Metric { label: labels(&awkward), gauge: Some(Gauge { value: 1.0 }), ..Metric::default() }]);
    let (text, _) = decode(&[g], NATIVE);
    let line = "g{quote=\"say \\\"hi\\\"\",backslash=\"C:\\\\dir\\\\\",newline=\"two\\nlines\",all=\"\\\\\\\"\\n\\\\n\",hash=\"a # b } c\",empty=\"\"} 1.0";
    assert_eq!(text, format!("# TYPE g gauge\n{line}\n"));
    let (read, sample) = crate::ingest::text_format::parse_line(line, 1, 0, &LabelLimits::default()).expect("the line parses").expect("a sample line");
    let mut pairs: Vec<(&str, &str)> = awkward.to_vec();
    pairs.push(("__name__", "g"));
    assert_eq!(read, Labels::from_pairs(pairs));
    assert_eq!(sample.value, 1.0);
}

#[test]
fn values_read_back_to_the_same_bits() {
    let awkward = [0.0, -0.0, 1.0, -1.5, 0.1, 1.0 / 3.0, 1e300, -1e300, 1e-300, 5e-324, -5e-324, f64::MAX, f64::MIN, f64::MIN_POSITIVE, f64::EPSILON, 1e15, 1e16, 1e17, 123456789012345680.0, 2f64.powi(53) + 2.0, f64::INFINITY, f64::NEG_INFINITY];
    for value in awkward {
        let mut text = String::new();
        push_value(&mut text, value);
        let read = crate::ingest::text_format::parse_value(&text).unwrap_or_else(|| panic!("{text:?} does not parse"));
        assert_eq!(read.to_bits(), value.to_bits(), "{value:e} written as {text:?}");
    }
    let mut nan = String::new();
    push_value(&mut nan, f64::NAN);
    assert!(crate::ingest::text_format::parse_value(&nan).is_some_and(f64::is_nan));
}

#[test]
fn a_name_given_an_empty_value_is_no_label_as_in_prometheus() {
    // Prometheus' label builder deletes every label of a name that has an empty value:
    // `a` goes with its "x" (written once, empty, for honor_labels); duplicates of an
    // emptied name are no conflict.
    let h = Histogram { sample_count: 1, ..Histogram::default() };
    let metric = histogram_metric(&[("a", "x"), ("c", "1"), ("a", ""), ("b", ""), ("b", "")], h.clone());
    let (text, _) = decode(&[family("h", MetricType::Histogram, vec![metric])], NATIVE);
    assert_eq!(text, "# TYPE h histogram\nh_count{a=\"\",c=\"1\",b=\"\"} 1.0\nh_sum{a=\"\",c=\"1\",b=\"\"} 0.0\nh_bucket{a=\"\",c=\"1\",b=\"\",le=\"+Inf\"} 1.0\n");
    // Emptying the name or the bucket bound would lose it: refused.
    for reserved in ["__name__", "le"] {
        let metric = histogram_metric(&[(reserved, "")], h.clone());
        assert_eq!(error(&[family("h", MetricType::Histogram, vec![metric])], NATIVE), format!("label {reserved:?} of metric \"h\" has an empty value"));
    }
}

#[test]
fn a_span_at_the_end_of_the_index_range_is_read_as_prometheus_reads_it() {
    // Go's int32 indexes wrap; nothing here may panic on them (debug builds check).
    let h = Histogram { sample_count: 2, schema: 0, positive_span: vec![BucketSpan { offset: i32::MAX, length: 1 }, BucketSpan { offset: i32::MAX, length: 1 }], positive_delta: vec![1, 0], ..Histogram::default() };
    let (_, histograms) = decode(&[family("h", MetricType::Histogram, vec![histogram_metric(&[], h)])], NATIVE);
    assert_eq!(histograms.len(), 1);
    assert_eq!(histograms[0].histogram.positive_buckets, vec![1.0, 1.0]);
}

#[test]
fn refused_names_and_labels() {
    let gauge = |name: &str, pairs: &[(&str, &str)]| family(name, MetricType::Gauge, vec![Metric { label: labels(pairs), gauge: Some(Gauge { value: 1.0 }), ..Metric::default() }]);
    assert_eq!(error(&[gauge("", &[])], NATIVE), "invalid metric name: \"\"");
    assert_eq!(error(&[gauge("a.b", &[])], NATIVE), "invalid metric name: \"a.b\"");
    assert_eq!(error(&[gauge("a\nb 1", &[])], NATIVE), "invalid metric name: \"a\\nb 1\"");
    assert_eq!(error(&[gauge("9a", &[])], NATIVE), "invalid metric name: \"9a\"");
    assert_eq!(error(&[gauge("ok:name", &[("a-b", "1")])], NATIVE), "invalid label name \"a-b\" for metric \"ok:name\"");
    assert_eq!(error(&[gauge("ok", &[("a:b", "1")])], NATIVE), "invalid label name \"a:b\" for metric \"ok\"");
    assert_eq!(error(&[gauge("ok", &[("", "1")])], NATIVE), "invalid label name \"\" for metric \"ok\"");
    assert_eq!(error(&[gauge("ok", &[("a", "1"), ("a", "2")])], NATIVE), "label name \"a\" is not unique for metric \"ok\"");
    assert_eq!(error(&[gauge("ok", &[("__name__", "other")])], NATIVE), "label name \"__name__\" is not unique for metric \"ok\"");
    // A family without metrics is skipped before its name is looked at.
    let (text, _) = decode(&[family("a.b", MetricType::Gauge, Vec::new())], NATIVE);
    assert_eq!(text, "");

    let quantile_label = Metric { label: labels(&[("quantile", "x")]), summary: Some(Summary { sample_count: 1, sample_sum: 1.0, quantile: vec![Quantile { quantile: 0.5, value: 1.0 }], created_timestamp: None }), ..Metric::default() };
    assert_eq!(error(&[family("s", MetricType::Summary, vec![quantile_label])], NATIVE), "label name \"quantile\" is not unique for metric \"s\"");
    let le_label = histogram_metric(&[("le", "1")], Histogram::default());
    assert_eq!(error(&[family("h", MetricType::Histogram, vec![le_label.clone()])], NATIVE), "label name \"le\" is not unique for metric \"h\"");
    // A native histogram has no `le` label of its own; its classic series would.
    let native_le = histogram_metric(&[("le", "1")], native_integer(classic_buckets()));
    let (_, histograms) = decode(&[family("h", MetricType::Histogram, vec![native_le.clone()])], NATIVE);
    assert_eq!(histograms, vec![NativeHistogramLine { series: "h{le=\"1\"}".into(), timestamp_ms: None, histogram: native_integer_stored(), exemplars: Vec::new(), start_ms: None }]);
    assert_eq!(error(&[family("h", MetricType::Histogram, vec![native_le])], NATIVE_AND_CLASSIC), "label name \"le\" is not unique for metric \"h\"");
}

#[test]
fn unknown_metric_type_is_refused() {
    let mut odd = family("odd", MetricType::Gauge, vec![Metric::default()]);
    odd.r#type = 9;
    assert_eq!(error(&[odd], NATIVE), "unknown metric type for metric \"odd\": 9");
}

#[test]
fn truncated_bodies_are_refused() {
    let whole = body(&[family("g", MetricType::Gauge, vec![Metric { gauge: Some(Gauge { value: 1.0 }), ..Metric::default() }])]);
    let cut = to_text(&whole[..whole.len() - 1], NATIVE).expect_err("a message cut short");
    assert_eq!(cut, format!("protobuf message 1 (byte 0): length {} exceeds the {} bytes left", whole.len() - 1, whole.len() - 2));
    let mut two = whole.clone();
    two.push(0x80);
    let cut_length = to_text(&two, NATIVE).expect_err("a length cut short");
    assert!(cut_length.starts_with(&format!("protobuf message 2 (byte {}): invalid length: ", whole.len())), "{cut_length}");
    // A length that fits but a message that does not decode.
    let garbage = to_text(&[2, 0x0a, 0x05], NATIVE).expect_err("a string cut short");
    assert!(garbage.starts_with("protobuf message 1 (byte 0): "), "{garbage}");
}

#[test]
fn native_histograms_prometheus_refuses() {
    let mismatch = Histogram { positive_span: spans(&[(0, 3)]), positive_delta: vec![1, 1], ..Histogram::default() };
    assert_eq!(error(&[family("h", MetricType::Histogram, vec![histogram_metric(&[], mismatch.clone())])], NATIVE), "histogram \"h\": positive side: spans require 3 buckets, have 2");
    let negative = Histogram { sample_count_float: 1.0, negative_span: spans(&[(0, 1)]), negative_count: vec![1.0, 2.0], ..Histogram::default() };
    assert_eq!(error(&[family("h", MetricType::Histogram, vec![histogram_metric(&[], negative)])], NATIVE), "histogram \"h\": negative side: spans require 1 buckets, have 2");
    // Read as classic, the native part is not looked at.
    assert!(to_text(&body(&[family("h", MetricType::Histogram, vec![histogram_metric(&[], mismatch)])]), CLASSIC_ONLY).is_ok());

    let bad_count = Histogram { sample_count: 5, ..native_integer(Vec::new()) };
    let expected = crate::ingest::native_histogram::HistogramDecodeError::CountMismatch { count: 5, in_buckets: 12 };
    assert_eq!(error(&[family("h", MetricType::Histogram, vec![histogram_metric(&[("a", "b")], bad_count)])], NATIVE), format!("native histogram h{{a=\"b\"}}: {expected}"));
    let bad_schema = Histogram { schema: -5, ..native_integer(Vec::new()) };
    assert!(error(&[family("h", MetricType::Histogram, vec![histogram_metric(&[], bad_schema)])], NATIVE).starts_with("native histogram h: histogram schema -5 is invalid"));
}

#[test]
fn text_many_times_the_body_is_refused() {
    // Each bucket repeats the metric's labels: 400 buckets of a 100 kB label would be
    // 40 MB of text from a body of about 105 kB.
    let long = "v".repeat(100_000);
    let bucket = (0..400).map(|i| Bucket { cumulative_count: i, upper_bound: i as f64, ..Bucket::default() }).collect();
    let h = family("h", MetricType::Histogram, vec![histogram_metric(&[("long", &long)], Histogram { sample_count: 400, bucket, ..Histogram::default() })]);
    let whole = body(&[h]);
    let refused = to_text(&whole, NATIVE).expect_err("too much text");
    assert_eq!(refused, format!("the exposition as text exceeds {} bytes (32 times the body plus 16777216)", whole.len() * 32 + (16 << 20)));
}

/// `family` as a length-delimited message with a start timestamp for each of its
/// metrics given one in `starts`, at the field its type keeps it in (appended to the
/// metric: protobuf merges it into the metric's counter, summary or histogram), which
/// `proto::client_model` cannot write.
fn body_with_starts(family: &MetricFamily, starts: &[Option<dto::Timestamp>]) -> Vec<u8> {
    use prost::encoding::{encode_key, encode_varint, WireType};
    let (kind_field, start_field) = match MetricType::try_from(family.r#type) {
        Ok(MetricType::Counter) => (3, 3),
        Ok(MetricType::Summary) => (4, 4),
        Ok(MetricType::Histogram | MetricType::GaugeHistogram) => (7, 15),
        other => panic!("no start timestamp in a {other:?} family"),
    };
    let mut message = MetricFamily { metric: Vec::new(), ..family.clone() }.encode_to_vec();
    for (index, metric) in family.metric.iter().enumerate() {
        let mut bytes = metric.encode_to_vec();
        if let Some(start) = starts.get(index).copied().flatten() {
            let mut kind = Vec::new();
            prost::encoding::message::encode(start_field, &start, &mut kind);
            encode_key(kind_field, WireType::LengthDelimited, &mut bytes);
            encode_varint(kind.len() as u64, &mut bytes);
            bytes.extend(kind);
        }
        encode_key(4, WireType::LengthDelimited, &mut message);
        encode_varint(bytes.len() as u64, &mut message);
        message.extend(bytes);
    }
    let mut out = Vec::new();
    encode_varint(message.len() as u64, &mut out);
    out.extend(message);
    out
}

/// Each line of an exposition's text with its start timestamp.
fn lines_with_starts(exposition: &Exposition) -> Vec<(String, Option<i64>)> {
    let text = String::from_utf8(exposition.text.clone()).expect("the text is UTF-8");
    let mut starts = exposition.starts.reader();
    text.lines().enumerate().map(|(index, line)| (line.to_string(), starts.start_of(index))).collect()
}

#[test]
fn start_timestamps_are_read_for_every_series_of_their_metric() {
    let at = |seconds: i64, nanos: i32| Some(dto::Timestamp { seconds, nanos });
    let counter = |a: &str, value: f64| Metric { label: labels(&[("a", a)]), counter: Some(Counter { value, exemplar: None, created_timestamp: None }), ..Metric::default() };
    let counters = family("c_total", MetricType::Counter, vec![counter("1", 1.0), counter("2", 2.0), counter("3", 3.0)]);
    let summary = family("s", MetricType::Summary, vec![Metric { summary: Some(Summary { sample_count: 2, sample_sum: 3.0, quantile: vec![Quantile { quantile: 0.5, value: 1.0 }], created_timestamp: None }), ..Metric::default() }]);
    let classic = family("h", MetricType::Histogram, vec![histogram_metric(&[], Histogram { sample_count: 9, bucket: classic_buckets(), ..Histogram::default() })]);
    let gauge_histogram = family("gh", MetricType::GaugeHistogram, vec![histogram_metric(&[], Histogram { sample_count: 9, bucket: classic_buckets(), ..Histogram::default() })]);
    let native = family("n", MetricType::Histogram, vec![histogram_metric(&[], native_integer(Vec::new()))]);
    let gauge = family("g", MetricType::Gauge, vec![Metric { gauge: Some(Gauge { value: 1.0 }), ..Metric::default() }]);
    let whole = [
        // Milliseconds as Prometheus computes them: the nanoseconds truncated; a zero
        // timestamp is none, as is an absent one.
        body_with_starts(&counters, &[at(1_700_000_000, 123_999_999), None, at(0, 0)]),
        body_with_starts(&summary, &[at(-2, 500_000_000)]),
        body_with_starts(&classic, &[at(1_600_000_000, 0)]),
        body_with_starts(&gauge_histogram, &[at(1_600_000_001, 0)]),
        body_with_starts(&native, &[at(1_500_000_000, 1_000_000)]),
        body(&[gauge]),
    ]
    .concat();
    let exposition = to_text_with_starts(&whole, NATIVE).expect("a valid exposition");
    let line = |text: &str, start: Option<i64>| (text.to_string(), start);
    assert_eq!(
        lines_with_starts(&exposition),
        vec![
            line("# TYPE c_total counter", None),
            line("c_total{a=\"1\"} 1.0", Some(1_700_000_000_123)),
            line("c_total{a=\"2\"} 2.0", None),
            line("c_total{a=\"3\"} 3.0", None),
            line("# TYPE s summary", None),
            line("s_count 2.0", Some(-1_500)),
            line("s_sum 3.0", Some(-1_500)),
            line("s{quantile=\"0.5\"} 1.0", Some(-1_500)),
            line("# TYPE h histogram", None),
            line("h_count 9.0", Some(1_600_000_000_000)),
            line("h_sum 0.0", Some(1_600_000_000_000)),
            line("h_bucket{le=\"0.5\"} 3.0", Some(1_600_000_000_000)),
            line("h_bucket{le=\"10.0\"} 9.0", Some(1_600_000_000_000)),
            line("h_bucket{le=\"+Inf\"} 9.0", Some(1_600_000_000_000)),
            line("# TYPE gh gaugehistogram", None),
            line("gh_count 9.0", Some(1_600_000_001_000)),
            line("gh_sum 0.0", Some(1_600_000_001_000)),
            line("gh_bucket{le=\"0.5\"} 3.0", Some(1_600_000_001_000)),
            line("gh_bucket{le=\"10.0\"} 9.0", Some(1_600_000_001_000)),
            line("gh_bucket{le=\"+Inf\"} 9.0", Some(1_600_000_001_000)),
            line("# TYPE n histogram", None),
            line("# TYPE g gauge", None),
            line("g 1.0", None),
        ]
    );
    assert_eq!(exposition.histograms.iter().map(|h| (h.series.as_str(), h.start_ms)).collect::<Vec<_>>(), vec![("n", Some(1_500_000_000_001))]);
    // Its classic series, when kept, share its start.
    let both = to_text_with_starts(&body_with_starts(&family("n", MetricType::Histogram, vec![histogram_metric(&[], native_integer(classic_buckets()))]), &[at(5, 0)]), NATIVE_AND_CLASSIC).expect("valid");
    assert!(lines_with_starts(&both).iter().filter(|(l, _)| !l.starts_with('#')).all(|(_, start)| *start == Some(5_000)), "{:?}", lines_with_starts(&both));
    assert_eq!(both.histograms[0].start_ms, Some(5_000));
    // Unasked, none are read and the text is the same.
    let plain = to_text(&whole, NATIVE).expect("a valid exposition");
    assert_eq!((plain.text, plain.starts.is_empty(), plain.histograms[0].start_ms), (exposition.text, true, None));
}

#[test]
fn a_start_timestamp_of_the_wrong_wire_type_fails_the_answer_as_in_prometheus() {
    use prost::encoding::{encode_key, encode_varint, WireType};
    // A counter whose field 3 (`created_timestamp`) is a number instead of a Timestamp
    // message: Prometheus' decoder refuses the family (wrong wire type), and so do we,
    // whether or not start timestamps are read.
    let mut metric = Metric { counter: Some(Counter { value: 4.0, exemplar: None, created_timestamp: None }), ..Metric::default() }.encode_to_vec();
    let odd_counter = [0x18, 0x05];
    encode_key(3, WireType::LengthDelimited, &mut metric);
    encode_varint(odd_counter.len() as u64, &mut metric);
    metric.extend(odd_counter);
    let mut message = family("c_total", MetricType::Counter, Vec::new()).encode_to_vec();
    encode_key(4, WireType::LengthDelimited, &mut message);
    encode_varint(metric.len() as u64, &mut message);
    message.extend(metric);
    let mut whole = Vec::new();
    encode_varint(message.len() as u64, &mut whole);
    whole.extend(message);
    let error = to_text_with_starts(&whole, NATIVE).expect_err("a wrong wire type");
    assert!(error.contains("invalid wire type"), "{error}");
    assert!(to_text(&whole, NATIVE).is_err(), "the same without starts");
    // Seconds past what milliseconds hold wrap, as Go's int64 arithmetic does.
    let far = to_text_with_starts(&body_with_starts(&family("c", MetricType::Counter, vec![Metric { counter: Some(Counter::default()), ..Metric::default() }]), &[Some(dto::Timestamp { seconds: i64::MAX / 100, nanos: 0 })]), NATIVE).expect("valid");
    assert_eq!(far.starts.iter().map(|(_, start)| start).collect::<Vec<_>>(), vec![(i64::MAX / 100).wrapping_mul(1000)]);
}

#[test]
fn a_converted_histogram_takes_its_metrics_start() {
    let classic = family("h", MetricType::Histogram, vec![histogram_metric(&[("a", "1")], Histogram { sample_count: 9, bucket: classic_buckets(), ..Histogram::default() }), histogram_metric(&[("a", "2")], Histogram { sample_count: 9, bucket: classic_buckets(), ..Histogram::default() })]);
    let exposition = to_text_with_starts(&body_with_starts(&classic, &[Some(dto::Timestamp { seconds: 7, nanos: 0 }), None]), ProtobufOptions { classic_histograms_too: true, ..NATIVE }).expect("valid");
    let answer = crate::scrape::scrape_loop::Answer { text: exposition.text, format: crate::scrape::scrape_loop::Format::OpenMetrics, histograms: exposition.histograms };
    let (converted, starts) = crate::scrape::nhcb::convert_with_starts(answer, &exposition.starts, true, true).expect("converted");
    assert_eq!(converted.histograms.iter().map(|h| (h.series.as_str(), h.start_ms)).collect::<Vec<_>>(), vec![("h{a=\"1\"}", Some(7_000)), ("h{a=\"2\"}", None)]);
    // The classic series kept beside them keep their starts, on their new lines.
    let kept = lines_with_starts(&Exposition { text: converted.text, histograms: Vec::new(), starts });
    assert_eq!(kept.iter().filter(|(_, start)| *start == Some(7_000)).count(), 5, "{kept:?}");
    assert!(kept.iter().filter(|(l, _)| l.contains("a=\"2\"")).all(|(_, start)| start.is_none()), "{kept:?}");
}
