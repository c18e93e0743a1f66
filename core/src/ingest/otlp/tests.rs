//! Unit tests of the OTLP translation: naming strategies and suffixes, label sanitizing,
//! resources and `target_info`, each metric type (sums, gauges, histograms, summaries,
//! exponential histograms), temporality, staleness, limits, bodies and exemplars.

use proto::otlp_metrics::*;
use tsdb::{BucketSpan, SeriesSamples};

use super::*;

const T0_NS: u64 = 1_700_000_000_000_000_000;
const T0_MS: i64 = 1_700_000_000_000;
/// Prometheus' default translation (no promotion).
const DEFAULTS: TranslationOptions = TranslationOptions {
    promotion: ResourcePromotion::Only(std::collections::BTreeSet::new()),
    keep_identifying_resource_attributes: false,
    promote_scope_metadata: false,
    native_delta_ingestion: false,
    naming: Naming { strategy: TranslationStrategy::UnderscoreEscapingWithSuffixes, underscore_label_sanitization: true, preserve_multiple_underscores: true },
    convert_histograms_to_nhcb: false,
};

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }) }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn number(value: f64, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint { attributes, time_unix_nano: T0_NS, value: Some(number_data_point::Value::AsDouble(value)), ..Default::default() }
}

fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
    Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() }
}

fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: resource, ..Default::default() }),
            scope_metrics: vec![ScopeMetrics { scope: Some(InstrumentationScope { name: "lib".into(), ..Default::default() }), metrics, ..Default::default() }],
            ..Default::default()
        }],
    }
}

fn translate_one(metrics: Vec<Metric>) -> Result<Translated, OtlpError> {
    translate(&request(vec![s("service.name", "api")], metrics), &IngestRules::default(), &DEFAULTS)
}

/// `{labels}` → float values of every series, for compact assertions.
fn floats(t: &Translated) -> Vec<(String, Vec<(i64, f64)>)> {
    t.series.iter().map(|s| (s.labels.to_string(), s.samples.iter().map(|x| (x.timestamp_ms, x.value)).collect())).collect()
}

fn series<'a>(t: &'a Translated, labels: &str) -> &'a SeriesSamples {
    t.series.iter().find(|s| s.labels.to_string() == labels).unwrap_or_else(|| panic!("no series {labels} in {:?}", floats(t)))
}

#[test]
fn metric_names_get_unit_and_type_suffixes_as_prometheus_default() {
    let cases = [
        ("system.filesystem.usage", "By", NameKind::Gauge, "system_filesystem_usage_bytes"),
        ("http.server.duration", "ms", NameKind::Other, "http_server_duration_milliseconds"),
        ("requests", "1", NameKind::MonotonicCounter, "requests_total"),
        ("requests", "{request}", NameKind::MonotonicCounter, "requests_total"),
        ("cpu.utilization", "1", NameKind::Gauge, "cpu_utilization_ratio"),
        ("queue.fill", "1", NameKind::Other, "queue_fill"),
        ("network.io", "By/s", NameKind::Other, "network_io_bytes_per_second"),
        ("speed", "m/s", NameKind::Gauge, "speed_meters_per_second"),
        ("foo_total", "", NameKind::MonotonicCounter, "foo_total"),
        ("total.foo", "", NameKind::MonotonicCounter, "foo_total"),
        ("latency_seconds", "s", NameKind::Other, "latency_seconds"),
        ("memory.usage", "MiBy", NameKind::Gauge, "memory_usage_mebibytes"),
        ("temperature", "Cel", NameKind::Gauge, "temperature_celsius"),
        ("2xx.responses", "", NameKind::Gauge, "_2xx_responses"),
        ("ns:name-with.chars", "", NameKind::Gauge, "ns:name_with_chars"),
        ("weird", "foo bar", NameKind::Gauge, "weird_foo_bar"),
    ];
    for (name, unit, kind, expected) in cases {
        assert_eq!(Naming::default().metric_name(name, unit, kind).as_deref(), Ok(expected), "{name} [{unit}] {kind:?}");
    }
    assert!(Naming::default().metric_name("...", "", NameKind::Gauge).unwrap_err().contains("empty name"));
}

#[test]
fn label_names_are_sanitized_as_prometheus_default() {
    let cases = [
        ("http.method", Ok("http_method")),
        ("a..b", Ok("a__b")),
        ("_private", Ok("key_private")),
        ("__reserved__", Ok("__reserved__")),
        ("0abc", Ok("key_0abc")),
        ("a.日", Ok("a__")),
    ];
    for (key, expected) in cases {
        assert_eq!(Naming::default().label_name(key).as_deref(), expected.map_err(|e: &str| e.to_string()).as_deref(), "{key}");
    }
    assert!(Naming::default().label_name("").is_err());
    assert!(Naming::default().label_name("ключ").unwrap_err().contains("invalid name"));
}

fn naming(strategy: TranslationStrategy) -> Naming {
    Naming { strategy, ..Naming::default() }
}

#[test]
fn metric_names_follow_each_translation_strategy_as_otlptranslator() {
    use NameKind::{Gauge, MonotonicCounter as Counter, Other};
    use TranslationStrategy::*;
    let cases = [
        // Escaped, no suffixes: runs of other characters become one `_`, runs of `_` stay.
        (UnderscoreEscapingWithoutSuffixes, "metric@@##$$name", "", Gauge, Ok("metric_name")),
        (UnderscoreEscapingWithoutSuffixes, "123metric", "", Gauge, Ok("_123metric")),
        (UnderscoreEscapingWithoutSuffixes, "http.server.duration", "s", Other, Ok("http_server_duration")),
        (UnderscoreEscapingWithoutSuffixes, "requests", "1", Counter, Ok("requests")),
        (UnderscoreEscapingWithoutSuffixes, "a__b", "", Gauge, Ok("a__b")),
        (UnderscoreEscapingWithoutSuffixes, "___", "", Gauge, Ok("___")),
        (UnderscoreEscapingWithoutSuffixes, "@_#_$_%", "", Gauge, Err("normalization for metric \"@_#_$_%\" resulted in invalid name \"_____\"")),
        (UnderscoreEscapingWithoutSuffixes, "@#$%", "", Gauge, Err("normalization for metric \"@#$%\" resulted in empty name")),
        // UTF-8 as sent, with suffixes (moved to the end when the name has them).
        (NoUTF8EscapingWithSuffixes, "http.server.duration", "s", Other, Ok("http.server.duration_seconds")),
        (NoUTF8EscapingWithSuffixes, "otelcol_process_cpu_seconds", "s", Counter, Ok("otelcol_process_cpu_seconds_total")),
        (NoUTF8EscapingWithSuffixes, "requests_total", "", Counter, Ok("requests_total")),
        (NoUTF8EscapingWithSuffixes, "cpu_usage_ratio", "1", Gauge, Ok("cpu_usage_ratio")),
        (NoUTF8EscapingWithSuffixes, "response_time_seconds", "s", Gauge, Ok("response_time_seconds")),
        (NoUTF8EscapingWithSuffixes, "requests.per_second.total", "1/s", Counter, Ok("requests_per_second_total")),
        (NoUTF8EscapingWithSuffixes, "net.io", "By/s", Other, Ok("net.io_bytes_per_second")),
        (NoUTF8EscapingWithSuffixes, "cpu.utilization", "1", Gauge, Ok("cpu.utilization_ratio")),
        (NoUTF8EscapingWithSuffixes, "queue.size", "{items}", Gauge, Ok("queue.size")),
        // As sent.
        (NoTranslation, "métric_with_ñ_chars", "", Gauge, Ok("métric_with_ñ_chars")),
        (NoTranslation, "http.server.duration", "s", Counter, Ok("http.server.duration")),
        (NoTranslation, "___", "", Gauge, Ok("___")),
        (NoTranslation, "", "", Gauge, Err("normalization for metric \"\" resulted in empty name")),
    ];
    for (strategy, name, unit, kind, expected) in cases {
        assert_eq!(naming(strategy).metric_name(name, unit, kind), expected.map(str::to_string).map_err(str::to_string), "{strategy:?} {name} [{unit}] {kind:?}");
    }
}

#[test]
fn label_names_follow_the_strategy_and_the_underscore_options_as_otlptranslator() {
    // (key, escaped and collapsed, escaped with runs kept, each without `key` sanitization)
    let cases = [
        ("label_with_foreign_characters_字符", Ok("label_with_foreign_characters_"), Ok("label_with_foreign_characters___")),
        ("label.name__with&&special##chars", Ok("label_name_with_special_chars"), Ok("label_name__with__special__chars")),
        ("__reserved__label__name__", Ok("__reserved_label_name__"), Ok("__reserved__label__name__")),
        ("trailing_underscores___", Ok("trailing_underscores_"), Ok("trailing_underscores___")),
        ("__label_starting_with_2underscores", Ok("_label_starting_with_2underscores"), Ok("__label_starting_with_2underscores")),
        (".foo", Ok("_foo"), Ok("_foo")),
        ("123label", Ok("key_123label"), Ok("key_123label")),
        ("ようこそ", Err("normalization for label name \"ようこそ\" resulted in invalid name \"_\""), Err("normalization for label name \"ようこそ\" resulted in invalid name \"____\"")),
        ("__", Err("normalization for label name \"__\" resulted in invalid name \"_\""), Err("normalization for label name \"__\" resulted in invalid name \"__\"")),
    ];
    let result = |r: Result<&str, &str>| r.map(str::to_string).map_err(str::to_string);
    for (key, collapsed, kept) in cases {
        let with = |preserve: bool| Naming { strategy: TranslationStrategy::UnderscoreEscapingWithSuffixes, underscore_label_sanitization: false, preserve_multiple_underscores: preserve };
        assert_eq!(with(false).label_name(key), result(collapsed), "{key} collapsed");
        assert_eq!(with(true).label_name(key), result(kept), "{key} kept");
    }
    // `key` sanitization: a single leading `_` (after escaping) gets `key`.
    let sanitizing = |preserve: bool| Naming { underscore_label_sanitization: true, preserve_multiple_underscores: preserve, ..Naming::default() };
    assert_eq!(sanitizing(false).label_name(".foo").as_deref(), Ok("key_foo"));
    assert_eq!(sanitizing(false).label_name("__label_starting_with_2underscores").as_deref(), Ok("key_label_starting_with_2underscores"));
    assert_eq!(sanitizing(true).label_name("__label_starting_with_2underscores").as_deref(), Ok("__label_starting_with_2underscores"));
    // Unescaped strategies keep names as sent; empty or all-`_` names have none.
    for strategy in [TranslationStrategy::NoUTF8EscapingWithSuffixes, TranslationStrategy::NoTranslation] {
        assert_eq!(naming(strategy).label_name("http.request.method").as_deref(), Ok("http.request.method"));
        assert_eq!(naming(strategy).label_name("ようこそ").as_deref(), Ok("ようこそ"));
        assert_eq!(naming(strategy).label_name("__").unwrap_err(), "label name \"__\" contains only underscores");
        assert_eq!(naming(strategy).label_name("").unwrap_err(), "label name is empty");
        // A data point's attribute keys are copied through (promoted and scope ones are not).
        assert_eq!(naming(strategy).point_label_name("__").as_deref(), Ok("__"));
        assert_eq!(naming(strategy).point_label_name("").unwrap_err(), "label name is empty");
    }
    assert!(Naming::default().point_label_name("__").is_err(), "escaped: as label_name");
}

#[test]
fn utf8_strategies_keep_names_in_series_promotions_and_target_info() {
    let options = TranslationOptions { naming: naming(TranslationStrategy::NoUTF8EscapingWithSuffixes), promote_scope_metadata: true, ..TranslationOptions::default() };
    let options = TranslationOptions { promotion: ResourcePromotion::Only(["k8s.pod.name".to_string()].into_iter().collect()), ..options };
    let resource = vec![s("service.name", "api"), s("k8s.pod.name", "p1"), s("host.name", "h1")];
    let sum = metric("http.server.requests", "1", metric::Data::Sum(Sum { data_points: vec![number(3.0, vec![s("http.route", "/x")])], aggregation_temporality: 2, is_monotonic: true }));
    let t = translate(&request(resource, vec![sum]), &IngestRules::default(), &options).unwrap();
    assert_eq!(
        floats(&t),
        vec![
            (r#"{"http.server.requests_total", "http.route"="/x", job="api", "k8s.pod.name"="p1", otel_scope_name="lib"}"#.to_string(), vec![(T0_MS, 3.0)]),
            (r#"target_info{"host.name"="h1", job="api", "k8s.pod.name"="p1"}"#.to_string(), vec![(T0_MS, 1.0)]),
        ]
    );
}

#[test]
fn explicit_histograms_convert_to_custom_bucket_histograms_when_asked() {
    let options = TranslationOptions { convert_histograms_to_nhcb: true, ..TranslationOptions::default() };
    // Buckets 0, 2, 0, 0, 0, 3, 0, 1 (bounds 1..=7): the leading empty one left out, a run
    // of three empty ones a new span, one empty one kept inside.
    let point = HistogramDataPoint {
        time_unix_nano: T0_NS,
        count: 6,
        sum: Some(20.5),
        bucket_counts: vec![0, 2, 0, 0, 0, 3, 0, 1],
        explicit_bounds: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        exemplars: vec![proto::otlp_metrics::Exemplar { time_unix_nano: T0_NS, value: Some(exemplar::Value::AsDouble(5.5)), ..Default::default() }],
        ..Default::default()
    };
    let h = |points: Vec<HistogramDataPoint>, temporality: AggregationTemporality| metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: points, aggregation_temporality: temporality as i32 }));
    let t = translate(&request(vec![s("service.name", "api")], vec![h(vec![point.clone()], AggregationTemporality::Cumulative)]), &IngestRules::default(), &options).unwrap();
    assert_eq!(t.series.len(), 1, "one series, no _bucket/_count/_sum: {:?}", floats(&t));
    let one = series(&t, r#"rpc_duration_seconds{job="api"}"#);
    let expected = FloatHistogram {
        schema: tsdb::model::CUSTOM_BUCKETS_SCHEMA,
        count: 6.0,
        sum: 20.5,
        positive_spans: spans(&[(1, 1), (3, 3)]),
        positive_buckets: vec![2.0, 3.0, 0.0, 1.0],
        custom_values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        ..FloatHistogram::default()
    };
    assert_eq!((one.histograms.len(), one.histograms[0].histogram.as_ref()), (1, &expected));
    assert_eq!((t.histograms, t.samples, t.exemplars), (1, 0, 1), "the exemplar on the histogram's series");
    // A delta point is a gauge histogram (with native_delta_ingestion); no value is a
    // staleness marker; bounds that do not fit the buckets refuse the request.
    let delta = TranslationOptions { native_delta_ingestion: true, ..options.clone() };
    let t = translate(&request(vec![s("service.name", "api")], vec![h(vec![point.clone()], AggregationTemporality::Delta)]), &IngestRules::default(), &delta).unwrap();
    assert_eq!(t.series[0].histograms[0].histogram.counter_reset_hint, tsdb::CounterResetHint::Gauge);
    let stale = HistogramDataPoint { flags: FLAG_NO_RECORDED_VALUE, ..point.clone() };
    let t = translate(&request(vec![s("service.name", "api")], vec![h(vec![stale], AggregationTemporality::Cumulative)]), &IngestRules::default(), &options).unwrap();
    assert!(t.series[0].histograms.is_empty() && tsdb::is_stale_nan(t.series[0].samples[0].value));
    // An explicit +Inf bound is refused, as Prometheus' custom bounds check refuses it.
    let infinite = HistogramDataPoint { explicit_bounds: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, f64::INFINITY], ..point.clone() };
    let refused = translate(&request(vec![s("service.name", "api")], vec![h(vec![infinite], AggregationTemporality::Cumulative)]), &IngestRules::default(), &options).unwrap_err();
    assert!(refused.to_string().contains("last custom bound is +Inf"), "{refused}");
    // Trailing empty buckets are left out.
    let trailing = HistogramDataPoint { bucket_counts: vec![1, 0, 0, 0, 0], explicit_bounds: vec![1.0, 2.0, 3.0, 4.0], count: 1, ..point.clone() };
    let t = translate(&request(vec![s("service.name", "api")], vec![h(vec![trailing], AggregationTemporality::Cumulative)]), &IngestRules::default(), &options).unwrap();
    let stored = &t.series[0].histograms[0].histogram;
    assert_eq!((stored.positive_spans.clone(), stored.positive_buckets.clone()), (spans(&[(0, 1)]), vec![1.0]));
    let unfit = HistogramDataPoint { explicit_bounds: vec![1.0], ..point };
    let refused = translate(&request(vec![s("service.name", "api")], vec![h(vec![unfit], AggregationTemporality::Cumulative)]), &IngestRules::default(), &options).unwrap_err();
    assert!(refused.to_string().contains("cannot convert histogram to native histogram with custom buckets"), "{refused}");
}

#[test]
fn attribute_values_are_stringified_as_the_collector_does() {
    use any_value::Value as V;
    let text = |v: V| naming::value_text(Some(&AnyValue { value: Some(v) }));
    assert_eq!(text(V::BoolValue(true)), "true");
    assert_eq!(text(V::IntValue(-5)), "-5");
    assert_eq!(text(V::DoubleValue(1.5)), "1.5");
    assert_eq!(text(V::DoubleValue(1e-7)), "1e-7");
    assert_eq!(text(V::DoubleValue(1e21)), "1e+21");
    assert_eq!(text(V::DoubleValue(100.0)), "100");
    assert_eq!(text(V::BytesValue(vec![1, 2, 3, 4])), "AQIDBA==");
    let array = ArrayValue { values: vec![AnyValue { value: Some(V::IntValue(1)) }, AnyValue { value: Some(V::StringValue("a<b".into())) }] };
    assert_eq!(text(V::ArrayValue(array)), r#"[1,"a\u003cb"]"#);
    let map = KeyValueList { values: vec![kv("b", V::BoolValue(false)), s("a", "x")] };
    assert_eq!(text(V::KvlistValue(map)), r#"{"a":"x","b":false}"#);
    assert_eq!(naming::value_text(None), "");
}

#[test]
fn resource_becomes_job_instance_and_target_info() {
    let resource = vec![s("service.name", "api"), s("service.namespace", "shop"), s("service.instance.id", "pod-1"), s("host.name", "h1"), s("k8s.pod.uid", "")];
    let gauge = metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![s("job", "overridden"), s("path", "/x")])] }));
    let t = translate(&request(resource, vec![gauge]), &IngestRules::default(), &DEFAULTS).unwrap();
    assert_eq!(
        floats(&t),
        vec![
            (r#"g{instance="pod-1", job="shop/api", path="/x"}"#.to_string(), vec![(T0_MS, 1.0)]),
            (r#"target_info{host_name="h1", instance="pod-1", job="shop/api"}"#.to_string(), vec![(T0_MS, 1.0)]),
        ]
    );
    // Only identifying attributes: no target_info; no job or instance: none either.
    let only_identity = translate(&request(vec![s("service.name", "api")], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }))]), &IngestRules::default(), &DEFAULTS).unwrap();
    assert_eq!(only_identity.series.len(), 1);
    let anonymous = translate(&request(vec![s("host.name", "h1")], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }))]), &IngestRules::default(), &DEFAULTS).unwrap();
    assert_eq!(floats(&anonymous), vec![(r#"g{}"#.to_string(), vec![(T0_MS, 1.0)])]);
}

#[test]
fn target_info_covers_the_data_points_every_half_lookback() {
    let points = vec![number(1.0, vec![]), NumberDataPoint { time_unix_nano: T0_NS + 400 * 1_000_000_000, ..number(2.0, vec![]) }];
    let t = translate(&request(vec![s("service.name", "api"), s("host.name", "h")], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: points }))]), &IngestRules::default(), &DEFAULTS).unwrap();
    let info = series(&t, r#"target_info{host_name="h", job="api"}"#);
    let times: Vec<i64> = info.samples.iter().map(|s| s.timestamp_ms - T0_MS).collect();
    assert_eq!(times, vec![0, 150_000, 300_000, 400_000]);
}

#[test]
fn attributes_that_collide_after_sanitizing_are_joined() {
    let gauge = metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![s("a.b", "2"), s("a_b", "1"), s("__name__", "x"), s("empty", "")])] }));
    let t = translate_one(vec![gauge]).unwrap();
    assert_eq!(t.series[0].labels.to_string(), r#"g{a_b="2;1", job="api"}"#);
    // Told as Prometheus 3.14 tells it, once for the label however many points collide.
    assert_eq!(t.warnings.messages().collect::<Vec<_>>(), [r#"OTLP data point attributes "a.b", "a_b" collide as label "a_b" after name sanitization, values are concatenated with ';'"#]);
    assert_eq!(t.warnings.count(warnings::WarningCategory::LabelNameCollision), 1);
}

#[test]
fn translation_warnings_name_what_was_dropped_or_looks_wrong() {
    let points = || vec![number(1.0, vec![s("k8s.pod", "a"), s("k8s_pod", "b")]), number(2.0, vec![s("k8s.pod", "c"), s("k8s-pod", "d")])];
    let resource = vec![s("service.name", "api"), s("host.name", "h1"), s("host_name", "h2")];
    let mut zero = exponential(0, 0, (0, vec![0]), (0, vec![]));
    zero.sum = Some(3.5);
    let mut stale_zero = zero.clone();
    stale_zero.flags = FLAG_NO_RECORDED_VALUE;
    stale_zero.time_unix_nano += 1_000_000_000;
    let metrics = vec![
        metric("g", "", metric::Data::Gauge(Gauge { data_points: points() })),
        metric("empty.sum", "", metric::Data::Sum(Sum { data_points: vec![], aggregation_temporality: 2, is_monotonic: true })),
        metric("empty.summary", "", metric::Data::Summary(Summary { data_points: vec![] })),
        metric("lat", "s", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![zero, stale_zero], aggregation_temporality: 2 })),
    ];
    let t = translate(&request(resource, metrics), &IngestRules::default(), &DEFAULTS).unwrap();
    let messages: Vec<&str> = t.warnings.messages().collect();
    assert_eq!(
        messages,
        [
            r#"OTLP data point attributes "k8s.pod", "k8s_pod" collide as label "k8s_pod" after name sanitization, values are concatenated with ';'"#,
            "empty data points. empty.sum is dropped",
            "empty data points. empty.summary is dropped",
            "exponential histogram data point has zero count, but non-zero sum: 3.500000",
            r#"OTLP resource attributes "host.name", "host_name" collide as label "host_name" after name sanitization, values are concatenated with ';'"#,
        ]
    );
    use warnings::WarningCategory::*;
    assert_eq!([EmptyDataPoints, LabelNameCollision, HistogramZeroCountNonZeroSum].map(|c| t.warnings.count(c)), [2, 2, 1]);
    // Stored all the same: both gauge points (the second collision on the label is not told
    // again), the histogram, target_info with joined values.
    series(&t, r#"g{job="api", k8s_pod="a;b"}"#);
    series(&t, r#"g{job="api", k8s_pod="d;c"}"#);
    assert_eq!(series(&t, r#"lat_seconds{job="api"}"#).histograms.len(), 1);
    series(&t, r#"target_info{host_name="h1;h2", job="api"}"#);
    // Nothing to say about a clean request.
    let clean = translate_one(vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![s("a", "1")])] }))]).unwrap();
    assert!(clean.warnings.is_empty());
}

#[test]
fn each_number_metric_type() {
    let sum = |monotonic: bool| metric::Data::Sum(Sum { data_points: vec![number(5.0, vec![])], aggregation_temporality: AggregationTemporality::Cumulative as i32, is_monotonic: monotonic });
    let int_point = NumberDataPoint { value: Some(number_data_point::Value::AsInt(-3)), ..number(0.0, vec![]) };
    let t = translate_one(vec![
        metric("requests", "1", sum(true)),
        metric("in.flight", "{request}", sum(false)),
        metric("temp", "Cel", metric::Data::Gauge(Gauge { data_points: vec![int_point] })),
    ])
    .unwrap();
    assert_eq!(
        floats(&t),
        vec![
            (r#"in_flight{job="api"}"#.to_string(), vec![(T0_MS, 5.0)]),
            (r#"requests_total{job="api"}"#.to_string(), vec![(T0_MS, 5.0)]),
            (r#"temp_celsius{job="api"}"#.to_string(), vec![(T0_MS, -3.0)]),
        ]
    );
    assert_eq!((t.samples, t.histograms, t.data_points), (3, 0, 3));
}

#[test]
fn explicit_histogram_becomes_classic_series() {
    let point = HistogramDataPoint {
        time_unix_nano: T0_NS,
        count: 10,
        sum: Some(12.5),
        bucket_counts: vec![1, 2, 3, 4],
        explicit_bounds: vec![0.1, 1.0, 1e-7],
        ..Default::default()
    };
    let h = metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: vec![point], aggregation_temporality: AggregationTemporality::Cumulative as i32 }));
    let t = translate_one(vec![h]).unwrap();
    let name = "rpc_duration_seconds";
    assert_eq!(series(&t, &format!(r#"{name}_sum{{job="api"}}"#)).samples[0].value, 12.5);
    assert_eq!(series(&t, &format!(r#"{name}_count{{job="api"}}"#)).samples[0].value, 10.0);
    for (le, cumulative) in [("0.1", 1.0), ("1", 3.0), ("0.0000001", 6.0), ("+Inf", 10.0)] {
        assert_eq!(series(&t, &format!(r#"{name}_bucket{{job="api", le="{le}"}}"#)).samples[0].value, cumulative, "le={le}");
    }
    // No sum: no _sum series.
    let no_sum = HistogramDataPoint { time_unix_nano: T0_NS, count: 1, bucket_counts: vec![1], ..Default::default() };
    let t = translate_one(vec![metric("h", "", metric::Data::Histogram(Histogram { data_points: vec![no_sum], aggregation_temporality: 2 }))]).unwrap();
    assert!(t.series.iter().all(|s| s.labels.metric_name() != Some("h_sum")));
}

#[test]
fn summary_becomes_quantile_series() {
    let point = SummaryDataPoint {
        time_unix_nano: T0_NS,
        count: 4,
        sum: 8.0,
        quantile_values: vec![summary_data_point::ValueAtQuantile { quantile: 0.5, value: 1.5 }, summary_data_point::ValueAtQuantile { quantile: 0.99, value: 3.0 }],
        ..Default::default()
    };
    let t = translate_one(vec![metric("latency", "ms", metric::Data::Summary(Summary { data_points: vec![point] }))]).unwrap();
    assert_eq!(
        floats(&t),
        vec![
            (r#"latency_milliseconds{job="api", quantile="0.5"}"#.to_string(), vec![(T0_MS, 1.5)]),
            (r#"latency_milliseconds{job="api", quantile="0.99"}"#.to_string(), vec![(T0_MS, 3.0)]),
            (r#"latency_milliseconds_count{job="api"}"#.to_string(), vec![(T0_MS, 4.0)]),
            (r#"latency_milliseconds_sum{job="api"}"#.to_string(), vec![(T0_MS, 8.0)]),
        ]
    );
}

fn exponential(scale: i32, zero_count: u64, positive: (i32, Vec<u64>), negative: (i32, Vec<u64>)) -> ExponentialHistogramDataPoint {
    let count = zero_count + positive.1.iter().sum::<u64>() + negative.1.iter().sum::<u64>();
    ExponentialHistogramDataPoint {
        time_unix_nano: T0_NS,
        count,
        sum: Some(5.0),
        scale,
        zero_count,
        positive: Some(exponential_histogram_data_point::Buckets { offset: positive.0, bucket_counts: positive.1 }),
        negative: Some(exponential_histogram_data_point::Buckets { offset: negative.0, bucket_counts: negative.1 }),
        ..Default::default()
    }
}

fn native(p: &ExponentialHistogramDataPoint) -> Arc<FloatHistogram> {
    match exponential_to_native(p, false).unwrap() {
        Value::Histogram(h) => h,
        Value::Float(v) => panic!("a float {v}, not a histogram"),
    }
}

fn spans(pairs: &[(i32, u32)]) -> Vec<BucketSpan> {
    pairs.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect()
}

#[test]
fn exponential_histogram_maps_buckets_zero_bucket_and_negatives() {
    // OTel index i is Prometheus index i + 1; a gap of more than two empty buckets opens a
    // new span, smaller ones are filled.
    let h = native(&exponential(0, 4, (0, vec![1, 0, 0, 0, 2]), (-1, vec![3])));
    assert_eq!((h.schema, h.zero_count, h.zero_threshold, h.count, h.sum), (0, 4.0, EXPONENTIAL_ZERO_THRESHOLD, 10.0, 5.0));
    assert_eq!((h.positive_spans.clone(), h.positive_buckets.clone()), (spans(&[(1, 1), (3, 1)]), vec![1.0, 2.0]));
    assert_eq!((h.negative_spans.clone(), h.negative_buckets.clone()), (spans(&[(0, 1)]), vec![3.0]));
    assert_eq!(h.counter_reset_hint, tsdb::CounterResetHint::Unknown);
    let h = native(&exponential(3, 0, (0, vec![0, 1, 0, 0, 2, 0]), (0, vec![])));
    assert_eq!((h.schema, h.positive_spans.clone(), h.positive_buckets.clone()), (3, spans(&[(2, 4)]), vec![1.0, 0.0, 0.0, 2.0]));
    assert!(h.negative_spans.is_empty());
}

#[test]
fn exponential_histogram_above_scale_8_is_merged_down() {
    // Scale 10 → schema 8: four neighbours become one; OTel -3..=-1 fall in Prometheus
    // bucket 0 (base^-4, base^0] of scale 10, 0..=2 in bucket 1.
    let h = native(&exponential(10, 0, (-3, vec![1, 2, 3, 4, 5, 6]), (-3, vec![7])));
    assert_eq!(h.schema, 8);
    assert_eq!((h.positive_spans.clone(), h.positive_buckets.clone()), (spans(&[(0, 2)]), vec![6.0, 15.0]));
    assert_eq!((h.negative_spans.clone(), h.negative_buckets.clone()), (spans(&[(0, 1)]), vec![7.0]));
    assert_eq!(h.count, 28.0);
    // Scale 20 merges 4096 neighbours.
    let h = native(&exponential(20, 1, (4095, vec![1, 1]), (0, vec![])));
    assert_eq!((h.schema, h.positive_spans.clone(), h.positive_buckets.clone()), (8, spans(&[(1, 2)]), vec![1.0, 1.0]));
}

#[test]
fn exponential_histogram_problems_are_refused() {
    let mut low = exponential(-5, 0, (0, vec![1]), (0, vec![]));
    let e = exponential_to_native(&low, false).unwrap_err();
    assert!(e.contains("scale must be >= -4, was -5"), "{e}");
    low.scale = 0;
    low.count = 7;
    assert!(exponential_to_native(&low, false).unwrap_err().contains("count"));
    let h = metric("lat", "s", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![low], aggregation_temporality: 2 }));
    match translate_one(vec![h]) {
        Err(OtlpError::InvalidMetric { metric, .. }) => assert_eq!(metric, "lat"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn exponential_histogram_series_is_native() {
    let point = exponential(0, 1, (0, vec![2]), (0, vec![]));
    let t = translate_one(vec![metric("lat", "s", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![point], aggregation_temporality: 2 }))]).unwrap();
    let s = series(&t, r#"lat_seconds{job="api"}"#);
    assert!(s.samples.is_empty());
    assert_eq!(s.histograms.len(), 1);
    assert_eq!((s.histograms[0].timestamp_ms, s.histograms[0].histogram.count), (T0_MS, 3.0));
    assert_eq!((t.samples, t.histograms), (0, 1));
    tsdb::SeriesBatch::try_from_series(&t.series).unwrap();
}

#[test]
fn delta_and_unspecified_temporality_are_refused_like_prometheus_default() {
    for temporality in [AggregationTemporality::Delta, AggregationTemporality::Unspecified] {
        let sum = metric("req", "", metric::Data::Sum(Sum { data_points: vec![number(1.0, vec![])], aggregation_temporality: temporality as i32, is_monotonic: true }));
        let ok = metric("fine", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }));
        let e = translate_one(vec![ok, sum]).unwrap_err();
        assert!(e.to_string().contains("invalid temporality") && e.to_string().contains("req"), "{e}");
    }
    let delta_histogram = metric("h", "", metric::Data::Histogram(Histogram { data_points: vec![], aggregation_temporality: AggregationTemporality::Delta as i32 }));
    assert!(translate_one(vec![delta_histogram]).is_err());
    let no_data = Metric { name: "empty".into(), ..Default::default() };
    assert!(translate_one(vec![no_data]).unwrap_err().to_string().contains("no data"));
}

#[test]
fn native_delta_ingestion_stores_delta_points_as_sent() {
    let options = TranslationOptions { native_delta_ingestion: true, ..DEFAULTS };
    let translate_delta = |metrics| translate(&request(vec![s("service.name", "api")], metrics), &IngestRules::default(), &options);
    let delta = AggregationTemporality::Delta as i32;
    let sum = metric("req", "", metric::Data::Sum(Sum { data_points: vec![number(4.0, vec![])], aggregation_temporality: delta, is_monotonic: true }));
    let point = HistogramDataPoint { time_unix_nano: T0_NS, count: 3, sum: Some(1.5), bucket_counts: vec![1, 2], explicit_bounds: vec![0.5], ..Default::default() };
    let classic = metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: vec![point], aggregation_temporality: delta }));
    let exp = metric("lat", "s", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![exponential(0, 1, (0, vec![2]), (0, vec![]))], aggregation_temporality: delta }));
    let t = translate_delta(vec![sum, classic, exp]).unwrap();
    // Names as for cumulative points (a monotonic sum is still a `_total`); values as sent.
    assert_eq!(series(&t, r#"req_total{job="api"}"#).samples[0].value, 4.0);
    assert_eq!(series(&t, r#"rpc_duration_seconds_bucket{job="api", le="0.5"}"#).samples[0].value, 1.0);
    assert_eq!(series(&t, r#"rpc_duration_seconds_bucket{job="api", le="+Inf"}"#).samples[0].value, 3.0);
    assert_eq!(series(&t, r#"rpc_duration_seconds_count{job="api"}"#).samples[0].value, 3.0);
    let h = &series(&t, r#"lat_seconds{job="api"}"#).histograms[0].histogram;
    assert_eq!((h.count, h.counter_reset_hint), (3.0, tsdb::CounterResetHint::Gauge), "a delta exponential histogram is a gauge histogram");
    // A cumulative one keeps the unknown hint; unspecified temporality is still refused.
    assert_eq!(native(&exponential(0, 1, (0, vec![2]), (0, vec![]))).counter_reset_hint, tsdb::CounterResetHint::Unknown);
    let unspecified = metric("u", "", metric::Data::Sum(Sum { data_points: vec![number(1.0, vec![])], aggregation_temporality: 0, is_monotonic: true }));
    assert!(translate_delta(vec![unspecified]).unwrap_err().to_string().contains("invalid temporality"));
    // Without the option the refusal says how to accept them.
    let sum = metric("req", "", metric::Data::Sum(Sum { data_points: vec![number(4.0, vec![])], aggregation_temporality: delta, is_monotonic: true }));
    assert!(translate_one(vec![sum]).unwrap_err().to_string().contains("otlp.native_delta_ingestion"));
}

#[test]
fn no_recorded_value_flag_is_a_staleness_marker() {
    let stale_number = NumberDataPoint { flags: FLAG_NO_RECORDED_VALUE, ..number(3.0, vec![]) };
    let stale_histogram = HistogramDataPoint { time_unix_nano: T0_NS, count: 2, sum: Some(1.0), bucket_counts: vec![2], explicit_bounds: vec![1.0], flags: FLAG_NO_RECORDED_VALUE, ..Default::default() };
    let stale_exponential = ExponentialHistogramDataPoint { flags: FLAG_NO_RECORDED_VALUE, ..exponential(0, 0, (0, vec![1]), (0, vec![])) };
    let stale_summary = SummaryDataPoint { time_unix_nano: T0_NS, count: 1, sum: 1.0, flags: FLAG_NO_RECORDED_VALUE, ..Default::default() };
    let t = translate_one(vec![
        metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![stale_number] })),
        metric("h", "", metric::Data::Histogram(Histogram { data_points: vec![stale_histogram], aggregation_temporality: 2 })),
        metric("e", "", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![stale_exponential], aggregation_temporality: 2 })),
        metric("s", "", metric::Data::Summary(Summary { data_points: vec![stale_summary] })),
    ])
    .unwrap();
    assert_eq!(t.series.len(), 8);
    for s in &t.series {
        assert!(s.histograms.is_empty());
        assert!(s.samples.iter().all(|x| tsdb::is_stale_nan(x.value)), "{}", s.labels);
    }
}

#[test]
fn label_limits_and_non_finite_rules_apply() {
    let many: Vec<KeyValue> = (0..200).map(|i| s(&format!("l{i}"), "v")).collect();
    let e = translate_one(vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, many)] }))]).unwrap_err();
    assert!(e.to_string().contains("storage.max_labels_per_series"), "{e}");
    let strict = IngestRules { reject_non_finite: true, ..IngestRules::default() };
    let nan = request(vec![], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(f64::NAN, vec![])] }))]);
    assert!(translate(&nan, &strict, &DEFAULTS).unwrap_err().to_string().contains("reject_non_finite"));
    assert!(translate(&nan, &IngestRules::default(), &DEFAULTS).is_ok());
}

#[test]
fn same_series_points_are_ordered_and_the_last_of_a_timestamp_wins() {
    let later = NumberDataPoint { time_unix_nano: T0_NS + 1_000_000_000, ..number(2.0, vec![]) };
    let points = vec![later, number(1.0, vec![]), number(3.0, vec![])];
    let t = translate(&request(vec![], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: points }))]), &IngestRules::default(), &DEFAULTS).unwrap();
    assert_eq!(floats(&t), vec![(r#"g{}"#.to_string(), vec![(T0_MS, 3.0), (T0_MS + 1000, 2.0)])]);
}

#[test]
fn media_types_encodings_and_bodies() {
    let rules = IngestRules::default();
    let body = prost::Message::encode_to_vec(&request(vec![], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }))]));
    assert_eq!(decode_request(Some("application/x-protobuf"), None, &body, &rules, &DEFAULTS).unwrap().samples, 1);
    // OTLP/JSON (`json` has its own tests), plain or gzipped, with or without a charset.
    let json = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asDouble":1}]}}]}]}]}"#;
    assert_eq!(decode_request(Some("application/json"), None, json, &rules, &DEFAULTS).unwrap().samples, 1);
    assert_eq!(decode_request(Some("Application/JSON; charset=utf-8"), None, json, &rules, &DEFAULTS).unwrap().samples, 1);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, json).unwrap();
    assert_eq!(decode_request(Some("application/json"), Some("gzip"), &gz.finish().unwrap(), &rules, &DEFAULTS).unwrap().samples, 1);
    assert!(matches!(decode_request(Some("application/json"), None, &body, &rules, &DEFAULTS), Err(OtlpError::Json(_))));
    let e = decode_request(Some("text/plain"), None, b"{}", &rules, &DEFAULTS).unwrap_err();
    assert!(e.is_unsupported_media() && e.to_string().contains("application/x-protobuf") && e.to_string().contains("application/json"), "{e}");
    assert!(decode_request(None, None, &body, &rules, &DEFAULTS).unwrap_err().is_unsupported_media());
    assert!(decode_request(Some("application/x-protobuf"), Some("snappy"), &body, &rules, &DEFAULTS).unwrap_err().is_unsupported_media());
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &body).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(decode_request(Some("application/x-protobuf"), Some("gzip"), &gz, &rules, &DEFAULTS).unwrap().samples, 1);
    assert!(matches!(decode_request(Some("application/x-protobuf"), Some("gzip"), &body, &rules, &DEFAULTS), Err(OtlpError::Gzip(_))));
    assert!(matches!(decode_request(Some("application/x-protobuf"), None, b"\xff\xff\xff", &rules, &DEFAULTS), Err(OtlpError::Protobuf(_))));
}

const TRACE: [u8; 16] = [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
const TRACE_HEX: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];
const SPAN_HEX: &str = "00f067aa0ba902b7";

fn exemplar(value: f64, t_ns: u64, trace: &[u8], span: &[u8], attributes: Vec<KeyValue>) -> proto::otlp_metrics::Exemplar {
    proto::otlp_metrics::Exemplar {
        filtered_attributes: attributes,
        time_unix_nano: t_ns,
        value: Some(exemplar::Value::AsDouble(value)),
        span_id: span.to_vec(),
        trace_id: trace.to_vec(),
    }
}

/// The exemplars of the series `labels`: (labels, value, timestamp) each.
fn exemplars_of(t: &Translated, labels: &str) -> Vec<(String, f64, i64)> {
    let i = t.series.iter().position(|s| s.labels.to_string() == labels).unwrap_or_else(|| panic!("no series {labels} in {:?}", floats(t)));
    t.series_exemplars[i].iter().map(|e| (e.labels.to_string(), e.value, e.timestamp_ms)).collect()
}

fn cumulative_sum(points: Vec<NumberDataPoint>) -> metric::Data {
    metric::Data::Sum(Sum { data_points: points, aggregation_temporality: AggregationTemporality::Cumulative as i32, is_monotonic: true })
}

#[test]
fn sum_exemplars_ride_on_their_series_with_hex_ids_and_attributes() {
    let int_valued = proto::otlp_metrics::Exemplar { value: Some(exemplar::Value::AsInt(7)), ..exemplar(0.0, T0_NS - 2_000_000_000, &[], &[0; 8], vec![]) };
    let point = NumberDataPoint {
        exemplars: vec![exemplar(1.5, T0_NS - 1_000_000_000, &TRACE, &SPAN, vec![s("user", "u1"), s("blank", "")]), int_valued],
        ..number(5.0, vec![])
    };
    let t = translate_one(vec![metric("requests", "", cumulative_sum(vec![point]))]).unwrap();
    // Ordered by time; an all-zero span ID is no span ID; a label without value is left out.
    assert_eq!(
        exemplars_of(&t, r#"requests_total{job="api"}"#),
        vec![("{}".to_string(), 7.0, T0_MS - 2_000), (format!(r#"{{span_id="{SPAN_HEX}", trace_id="{TRACE_HEX}", user="u1"}}"#), 1.5, T0_MS - 1_000)]
    );
    assert_eq!((t.exemplars, t.exemplars_dropped), (2, 0));
}

#[test]
fn histogram_exemplars_go_to_the_bucket_holding_their_value() {
    let point = HistogramDataPoint {
        time_unix_nano: T0_NS,
        count: 10,
        sum: Some(50.0),
        bucket_counts: vec![1, 2, 3, 4],
        explicit_bounds: vec![0.1, 1.0, 10.0],
        exemplars: [0.05, 0.1, 5.0, 100.0, 0.5].iter().map(|&v| exemplar(v, T0_NS, &TRACE, &[], vec![])).collect(),
        ..Default::default()
    };
    let t = translate_one(vec![metric("rpc.duration", "s", metric::Data::Histogram(Histogram { data_points: vec![point], aggregation_temporality: 2 }))]).unwrap();
    let values = |labels: &str| exemplars_of(&t, labels).into_iter().map(|(_, v, _)| v).collect::<Vec<f64>>();
    assert_eq!(values(r#"rpc_duration_seconds_bucket{job="api", le="0.1"}"#), vec![0.05, 0.1], "a bound holds its own value");
    assert_eq!(values(r#"rpc_duration_seconds_bucket{job="api", le="1"}"#), vec![0.5]);
    assert_eq!(values(r#"rpc_duration_seconds_bucket{job="api", le="10"}"#), vec![5.0]);
    assert_eq!(values(r#"rpc_duration_seconds_bucket{job="api", le="+Inf"}"#), vec![100.0]);
    assert!(values(r#"rpc_duration_seconds_sum{job="api"}"#).is_empty() && values(r#"rpc_duration_seconds_count{job="api"}"#).is_empty());
    assert_eq!(exemplars_of(&t, r#"rpc_duration_seconds_bucket{job="api", le="1"}"#)[0].0, format!(r#"{{trace_id="{TRACE_HEX}"}}"#));
    assert_eq!(t.exemplars, 5);
}

#[test]
fn exponential_histogram_exemplars_ride_on_the_native_series_and_gauge_ones_are_dropped() {
    let point = ExponentialHistogramDataPoint { exemplars: vec![exemplar(2.0, T0_NS, &TRACE, &SPAN, vec![]), exemplar(1.0, T0_NS, &[], &SPAN, vec![])], ..exponential(0, 1, (0, vec![2]), (0, vec![])) };
    let gauge_point = NumberDataPoint { exemplars: vec![exemplar(1.0, T0_NS, &TRACE, &[], vec![])], ..number(1.0, vec![]) };
    let t = translate_one(vec![
        metric("lat", "s", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![point], aggregation_temporality: 2 })),
        metric("temp", "", metric::Data::Gauge(Gauge { data_points: vec![gauge_point] })),
    ])
    .unwrap();
    // One timestamp: ordered by value, as the exemplar buffer takes them.
    assert_eq!(
        exemplars_of(&t, r#"lat_seconds{job="api"}"#),
        vec![(format!(r#"{{span_id="{SPAN_HEX}"}}"#), 1.0, T0_MS), (format!(r#"{{span_id="{SPAN_HEX}", trace_id="{TRACE_HEX}"}}"#), 2.0, T0_MS)]
    );
    assert!(exemplars_of(&t, r#"temp{job="api"}"#).is_empty(), "Prometheus stores no exemplar of a gauge");
    assert_eq!((t.exemplars, t.exemplars_dropped), (2, 1));
}

#[test]
fn long_exemplar_attributes_are_left_out_and_invalid_exemplars_skipped() {
    let long = exemplar(1.0, T0_NS, &TRACE, &SPAN, vec![s("note", &"n".repeat(70))]);
    let fits = exemplar(2.0, T0_NS + 1_000_000, &TRACE, &SPAN, vec![s("note", &"n".repeat(61))]);
    let repeated = exemplar(3.0, T0_NS + 2_000_000, &TRACE, &[], vec![s("trace_id", "other")]);
    let unnamed = exemplar(4.0, T0_NS + 3_000_000, &[], &[], vec![s("", "x")]);
    let point = NumberDataPoint { exemplars: vec![long, fits, repeated, unnamed], ..number(5.0, vec![]) };
    let t = translate_one(vec![metric("requests", "", cumulative_sum(vec![point]))]).unwrap();
    let ids = format!(r#"span_id="{SPAN_HEX}", trace_id="{TRACE_HEX}""#);
    assert_eq!(
        exemplars_of(&t, r#"requests_total{job="api"}"#),
        vec![(format!("{{{ids}}}"), 1.0, T0_MS), (format!("{{note=\"{}\", {ids}}}", "n".repeat(61)), 2.0, T0_MS + 1)],
        "past 128 characters the attributes go, the IDs stay (exactly 128 is kept)"
    );
    assert_eq!((t.exemplars, t.exemplars_dropped), (2, 2), "a repeated name and an empty one are skipped and counted");
    let batch = t.to_batch().unwrap();
    assert_eq!((batch.len(), batch.exemplar_count(), batch.get(0).exemplars().len()), (1, 2, 2));
}

#[test]
fn exemplar_problems_refuse_the_request_as_prometheus() {
    let no_value = proto::otlp_metrics::Exemplar { value: None, ..exemplar(1.0, T0_NS, &TRACE, &[], vec![]) };
    let short_trace = exemplar(1.0, T0_NS, &TRACE[..5], &[], vec![]);
    let long_span = exemplar(1.0, T0_NS, &[], &TRACE, vec![]);
    for (bad, problem) in [(no_value.clone(), "no value"), (short_trace.clone(), "trace_id is 5 bytes, not 16"), (long_span, "span_id is 16 bytes, not 8")] {
        let point = NumberDataPoint { exemplars: vec![bad], ..number(5.0, vec![]) };
        let e = translate_one(vec![metric("requests", "", cumulative_sum(vec![point]))]).unwrap_err();
        assert!(matches!(&e, OtlpError::InvalidMetric { metric, .. } if metric == "requests") && e.to_string().contains(problem), "{e}");
    }
    // A gauge's exemplars are not translated, but IDs of the wrong size fail decoding anyway.
    let gauge = |e: proto::otlp_metrics::Exemplar| metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![NumberDataPoint { exemplars: vec![e], ..number(1.0, vec![]) }] }));
    assert_eq!(translate_one(vec![gauge(no_value)]).unwrap().exemplars_dropped, 1);
    assert!(translate_one(vec![gauge(short_trace)]).is_err());
}

#[test]
fn exemplars_decode_from_the_wire() {
    let point = NumberDataPoint { exemplars: vec![exemplar(1.5, T0_NS, &TRACE, &SPAN, vec![s("user", "u1")])], ..number(5.0, vec![]) };
    let body = prost::Message::encode_to_vec(&request(vec![], vec![metric("requests", "", cumulative_sum(vec![point]))]));
    let t = decode_request(Some("application/x-protobuf"), None, &body, &IngestRules::default(), &DEFAULTS).unwrap();
    assert_eq!(exemplars_of(&t, "requests_total{}"), vec![(format!(r#"{{span_id="{SPAN_HEX}", trace_id="{TRACE_HEX}", user="u1"}}"#), 1.5, T0_MS)]);
}

fn options(promotion: ResourcePromotion) -> TranslationOptions {
    TranslationOptions { promotion, ..TranslationOptions::default() }
}

fn names(list: &[&str]) -> std::collections::BTreeSet<String> {
    list.iter().map(|n| n.to_string()).collect()
}

#[test]
fn promoted_resource_attributes_label_every_series_but_never_override_a_point_label() {
    let resource = vec![s("service.name", "api"), s("k8s.pod.name", "pod-7"), s("cloud.region", "eu"), s("k8s.pod.name", "pod-8"), s("host.name", "h1")];
    let gauge = metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![s("cloud_region", "us")])] }));
    let promotion = options(ResourcePromotion::Only(names(&["k8s.pod.name", "cloud.region", "service.name", "absent"])));
    let t = translate(&request(resource, vec![gauge]), &IngestRules::default(), &promotion).unwrap();
    assert_eq!(
        floats(&t),
        vec![
            // The last of attributes that sanitize alike wins; the point's own label stays.
            (r#"g{cloud_region="us", job="api", k8s_pod_name="pod-8", service_name="api"}"#.to_string(), vec![(T0_MS, 1.0)]),
            (r#"target_info{cloud_region="eu", host_name="h1", job="api", k8s_pod_name="pod-7;pod-8"}"#.to_string(), vec![(T0_MS, 1.0)]),
        ]
    );
}

#[test]
fn promote_all_resource_attributes_but_the_ignored_ones() {
    let resource = vec![s("service.name", "api"), s("service.instance.id", "i-1"), s("host.name", "h1"), s("os.type", "linux")];
    let gauge = metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }));
    let promotion = options(ResourcePromotion::AllExcept(names(&["os.type", "service.instance.id"])));
    let t = translate(&request(resource, vec![gauge]), &IngestRules::default(), &promotion).unwrap();
    assert_eq!(series(&t, r#"g{host_name="h1", instance="i-1", job="api", service_name="api"}"#).samples, vec![Sample { timestamp_ms: T0_MS, value: 1.0 }]);
    // An attribute with no label name refuses the request, naming it.
    let unnamed = request(vec![s("", "x")], vec![metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }))]);
    let e = translate(&unnamed, &IngestRules::default(), &promotion).unwrap_err();
    assert!(matches!(e, OtlpError::InvalidResource(_)) && e.to_string().contains("promoted attribute \"\""), "{e}");
    // Not promoted, it still is a target_info label (refused the same way).
    let e = translate(&unnamed, &IngestRules::default(), &DEFAULTS).unwrap_err();
    assert!(matches!(&e, OtlpError::InvalidMetric { metric, .. } if metric == "target_info"), "{e}");
}

#[test]
fn identifying_attributes_stay_on_target_info_when_kept() {
    let resource = vec![s("service.name", "api"), s("service.namespace", "shop"), s("service.instance.id", "i-1"), s("host.name", "h1")];
    let gauge = metric("g", "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] }));
    let keep = TranslationOptions { keep_identifying_resource_attributes: true, ..TranslationOptions::default() };
    let t = translate(&request(resource, vec![gauge.clone()]), &IngestRules::default(), &keep).unwrap();
    series(&t, r#"target_info{host_name="h1", instance="i-1", job="shop/api", service_instance_id="i-1", service_name="api", service_namespace="shop"}"#);
    series(&t, r#"g{instance="i-1", job="shop/api"}"#);
    // Identifying attributes alone still make no target_info.
    let t = translate(&request(vec![s("service.name", "api")], vec![gauge]), &IngestRules::default(), &keep).unwrap();
    assert_eq!(t.series.len(), 1);
}

#[test]
fn scope_metadata_is_promoted_to_labels_of_the_scope_series_only() {
    let scope = |name: &str, version: &str, attributes: Vec<KeyValue>, metrics: Vec<Metric>| ScopeMetrics {
        scope: Some(InstrumentationScope { name: name.into(), version: version.into(), attributes, ..Default::default() }),
        metrics,
        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
    };
    let gauge = |name: &str, attributes| metric(name, "", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, attributes)] }));
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![s("service.name", "api"), s("host.name", "h1")], ..Default::default() }),
            scope_metrics: vec![
                scope("io.lib", "1.2", vec![s("lib.kind", "http"), s("name", "shadowed")], vec![gauge("a", vec![s("otel_scope_name", "point")])]),
                scope("", "9", vec![s("x", "y")], vec![gauge("b", vec![])]),
                scope("other", "", vec![], vec![gauge("c", vec![])]),
            ],
            ..Default::default()
        }],
    };
    let promote = TranslationOptions { promote_scope_metadata: true, ..TranslationOptions::default() };
    let t = translate(&request, &IngestRules::default(), &promote).unwrap();
    let url = "https://opentelemetry.io/schemas/1.26.0";
    let labels: Vec<String> = t.series.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(
        labels,
        vec![
            format!(r#"a{{job="api", otel_scope_lib_kind="http", otel_scope_name="io.lib", otel_scope_schema_url="{url}", otel_scope_version="1.2"}}"#),
            r#"b{job="api"}"#.to_string(),
            format!(r#"c{{job="api", otel_scope_name="other", otel_scope_schema_url="{url}"}}"#),
            r#"target_info{host_name="h1", job="api"}"#.to_string(),
        ],
        "the scope's name wins over a point label and a scope attribute; an unnamed scope gives none; an empty version no label; target_info none"
    );
    let plain = translate(&request, &IngestRules::default(), &DEFAULTS).unwrap();
    assert_eq!(plain.series[0].labels.to_string(), r#"a{job="api", otel_scope_name="point"}"#, "off by default");
}

#[test]
fn start_times_become_start_timestamps_of_every_series_of_a_point_when_asked() {
    const START_NS: u64 = T0_NS - 90_000_000_000;
    const START_MS: i64 = T0_MS - 90_000;
    let sum = NumberDataPoint { start_time_unix_nano: START_NS, ..number(5.0, vec![]) };
    let no_start = NumberDataPoint { time_unix_nano: T0_NS + 1_000_000, ..number(6.0, vec![]) };
    let stale = NumberDataPoint { start_time_unix_nano: START_NS, time_unix_nano: T0_NS + 2_000_000, flags: FLAG_NO_RECORDED_VALUE, ..number(0.0, vec![]) };
    let classic = HistogramDataPoint { time_unix_nano: T0_NS, start_time_unix_nano: START_NS, count: 2, sum: Some(1.0), bucket_counts: vec![2], explicit_bounds: vec![], ..Default::default() };
    let native = ExponentialHistogramDataPoint { start_time_unix_nano: START_NS, ..exponential(0, 1, (0, vec![2]), (0, vec![])) };
    let metrics = || {
        vec![
            metric("c", "", metric::Data::Sum(Sum { data_points: vec![sum.clone(), no_start.clone(), stale.clone()], aggregation_temporality: 2, is_monotonic: true })),
            metric("h", "", metric::Data::Histogram(Histogram { data_points: vec![classic.clone()], aggregation_temporality: 2 })),
            metric("e", "", metric::Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![native.clone()], aggregation_temporality: 2 })),
        ]
    };
    let rules = IngestRules { read_start_timestamps: true, ..IngestRules::default() };
    let t = translate(&request(vec![s("service.name", "api")], metrics()), &rules, &DEFAULTS).unwrap();
    let starts_of = |labels: &str| {
        let index = t.series.iter().position(|s| s.labels.to_string() == labels).unwrap_or_else(|| panic!("no series {labels}"));
        t.series_starts[index].iter().map(|s| (s.start_ms, s.sample_ms)).collect::<Vec<_>>()
    };
    // The point without a start and the staleness marker have none.
    assert_eq!(starts_of(r#"c_total{job="api"}"#), vec![(START_MS, T0_MS)]);
    for classic_series in [r#"h_bucket{job="api", le="+Inf"}"#, r#"h_count{job="api"}"#, r#"h_sum{job="api"}"#] {
        assert_eq!(starts_of(classic_series), vec![(START_MS, T0_MS)], "{classic_series}");
    }
    assert_eq!(starts_of(r#"e{job="api"}"#), vec![(START_MS, T0_MS)]);
    let batch = t.to_batch().unwrap();
    assert_eq!(batch.iter().map(|s| s.start_timestamps().len()).sum::<usize>(), 5, "the batch carries them");
    // Off (the default): none.
    let off = translate(&request(vec![s("service.name", "api")], metrics()), &IngestRules::default(), &DEFAULTS).unwrap();
    assert!(off.series_starts.iter().all(Vec::is_empty));
}

#[test]
fn type_and_unit_labels_are_the_metrics_type_and_unit_when_asked() {
    let rules = IngestRules { type_and_unit_labels: true, ..IngestRules::default() };
    let cumulative = AggregationTemporality::Cumulative as i32;
    let sum = |monotonic: bool, temporality: i32| metric::Data::Sum(Sum { data_points: vec![number(5.0, vec![s("__type__", "sent")])], aggregation_temporality: temporality, is_monotonic: monotonic });
    let point = HistogramDataPoint { time_unix_nano: T0_NS, count: 1, sum: Some(0.5), bucket_counts: vec![1], ..Default::default() };
    let metrics = vec![
        metric("requests", "1", sum(true, cumulative)),
        metric("in.flight", "{request}", sum(false, cumulative)),
        metric("temp", "Cel", metric::Data::Gauge(Gauge { data_points: vec![number(1.0, vec![])] })),
        metric("rate", "By/s", metric::Data::Gauge(Gauge { data_points: vec![number(2.0, vec![])] })),
        metric("rpc", "ms", metric::Data::Histogram(Histogram { data_points: vec![point], aggregation_temporality: cumulative })),
        metric("sent", "By", sum(true, AggregationTemporality::Delta as i32)),
    ];
    let options = TranslationOptions { native_delta_ingestion: true, ..DEFAULTS };
    let t = translate(&request(vec![s("service.name", "api")], metrics.clone()), &rules, &options).unwrap();
    let names: Vec<String> = t.series.iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(
        names,
        [
            r#"in_flight{__type__="gauge", job="api"}"#,
            r#"rate_bytes_per_second{__type__="gauge", __unit__="bytes_per_second", job="api"}"#,
            r#"requests_total{__type__="counter", job="api"}"#,
            r#"rpc_milliseconds_bucket{__type__="histogram", __unit__="milliseconds", job="api", le="+Inf"}"#,
            r#"rpc_milliseconds_count{__type__="histogram", __unit__="milliseconds", job="api"}"#,
            r#"rpc_milliseconds_sum{__type__="histogram", __unit__="milliseconds", job="api"}"#,
            // A delta sum's type is unknown: the attribute of that name stays.
            r#"sent_bytes_total{__type__="sent", __unit__="bytes", job="api"}"#,
            r#"temp_celsius{__type__="gauge", __unit__="celsius", job="api"}"#,
        ]
    );
    // Off, an attribute named `__type__` is a label like any other.
    let t = translate(&request(vec![s("service.name", "api")], metrics), &IngestRules::default(), &options).unwrap();
    assert_eq!(series(&t, r#"requests_total{__type__="sent", job="api"}"#).samples[0].value, 5.0);
    assert!(t.series.iter().all(|s| s.labels.get("__unit__").is_none()));
}

#[test]
fn unit_labels_are_built_as_otlptranslators_unit_namer() {
    let escaped = naming(TranslationStrategy::UnderscoreEscapingWithSuffixes);
    let utf8 = naming(TranslationStrategy::NoUTF8EscapingWithSuffixes);
    for (unit, want_escaped, want_utf8) in [
        ("s", "seconds", "seconds"),
        ("By/s", "bytes_per_second", "bytes_per_second"),
        ("1", "", ""),
        ("{request}", "", ""),
        ("{packets}/s", "per_second", "per_second"),
        ("%", "percent", "percent"),
        ("m.s", "m_s", "m.s"),
        ("_x_", "x", "x"),
    ] {
        assert_eq!(escaped.unit_label(unit), want_escaped, "{unit}");
        assert_eq!(utf8.unit_label(unit), want_utf8, "{unit}");
    }
}
