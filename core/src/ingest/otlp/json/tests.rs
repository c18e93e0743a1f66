//! OTLP/JSON decoding: every message and value kind against the protobuf value it stands for,
//! the spellings proto3 JSON readers accept, and the refusals, each naming the problem.

use proto::otlp_metrics::*;

use super::decode_json;
use crate::ingest::otlp::OtlpError;

const TRACE: [u8; 16] = [0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36];
const SPAN: [u8; 8] = [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7];

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }) }
}

fn text(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

/// One request with every metric kind, in OTLP/JSON as an SDK's exporter writes it.
const EVERY_KIND: &str = r#"{
  "resourceMetrics": [{
    "resource": {
      "attributes": [
        {"key": "service.name", "value": {"stringValue": "checkout"}},
        {"key": "replicas", "value": {"intValue": "3"}},
        {"key": "canary", "value": {"boolValue": true}},
        {"key": "weight", "value": {"doubleValue": 0.5}},
        {"key": "zones", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": 7}]}}},
        {"key": "owner", "value": {"kvlistValue": {"values": [{"key": "team", "value": {"stringValue": "payments"}}]}}},
        {"key": "blob", "value": {"bytesValue": "AQID"}},
        {"key": "empty", "value": {}}
      ],
      "droppedAttributesCount": 1
    },
    "scopeMetrics": [{
      "scope": {"name": "io.opentelemetry.http", "version": "1.2.0", "attributes": [{"key": "s", "value": {"stringValue": "x"}}]},
      "metrics": [
        {"name": "queue.size", "unit": "{item}", "description": "items waiting",
         "gauge": {"dataPoints": [{"timeUnixNano": "1700000000000000000", "asDouble": 7.5, "attributes": [{"key": "q", "value": {"stringValue": "main"}}]}]}},
        {"name": "http.requests", "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": [{
          "startTimeUnixNano": "1699999990000000000", "timeUnixNano": "1700000000000000000", "asInt": "42", "flags": 0,
          "exemplars": [{"timeUnixNano": "1699999999000000000", "asDouble": 0.25, "traceId": "4BF92F3577B34DA6A3CE929D0E0E4736", "spanId": "00f067aa0ba902b7",
                         "filteredAttributes": [{"key": "user", "value": {"stringValue": "u1"}}]}]}]}},
        {"name": "rpc.duration", "unit": "s", "histogram": {"aggregationTemporality": 2, "dataPoints": [{
          "timeUnixNano": "1700000000000000000", "count": "6", "sum": 4.2, "bucketCounts": ["1", "2", "3"], "explicitBounds": [0.1, 1],
          "min": 0.01, "max": 3}]}},
        {"name": "lat", "unit": "ms", "exponentialHistogram": {"aggregationTemporality": 2, "dataPoints": [{
          "timeUnixNano": "1700000000000000000", "count": "7", "sum": 3, "scale": -1, "zeroCount": "1", "zeroThreshold": 1e-9,
          "positive": {"offset": 2, "bucketCounts": ["1", "2"]}, "negative": {"offset": -1, "bucketCounts": ["3"]}, "flags": 1}]}},
        {"name": "payload", "unit": "By", "summary": {"dataPoints": [{
          "timeUnixNano": "1700000000000000000", "count": "3", "sum": 9, "quantileValues": [{"quantile": 0.5, "value": 2.5}, {"quantile": 1, "value": 4}]}]}}
      ]
    }],
    "schemaUrl": "https://opentelemetry.io/schemas/1.21.0"
  }]
}"#;

fn every_kind() -> ExportMetricsServiceRequest {
    let t = 1_700_000_000_000_000_000;
    let cumulative = AggregationTemporality::Cumulative as i32;
    let metric = |name: &str, unit: &str, data: metric::Data| Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "checkout"),
                    kv("replicas", any_value::Value::IntValue(3)),
                    kv("canary", any_value::Value::BoolValue(true)),
                    kv("weight", any_value::Value::DoubleValue(0.5)),
                    kv(
                        "zones",
                        any_value::Value::ArrayValue(ArrayValue {
                            values: vec![AnyValue { value: Some(any_value::Value::StringValue("a".into())) }, AnyValue { value: Some(any_value::Value::IntValue(7)) }],
                        }),
                    ),
                    kv("owner", any_value::Value::KvlistValue(KeyValueList { values: vec![text("team", "payments")] })),
                    kv("blob", any_value::Value::BytesValue(vec![1, 2, 3])),
                    KeyValue { key: "empty".into(), value: Some(AnyValue { value: None }) },
                ],
                dropped_attributes_count: 1,
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope { name: "io.opentelemetry.http".into(), version: "1.2.0".into(), attributes: vec![text("s", "x")], dropped_attributes_count: 0 }),
                metrics: vec![
                    Metric {
                        description: "items waiting".into(),
                        ..metric(
                            "queue.size",
                            "{item}",
                            metric::Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint {
                                    attributes: vec![text("q", "main")],
                                    time_unix_nano: t,
                                    value: Some(number_data_point::Value::AsDouble(7.5)),
                                    ..Default::default()
                                }],
                            }),
                        )
                    },
                    metric(
                        "http.requests",
                        "",
                        metric::Data::Sum(Sum {
                            data_points: vec![NumberDataPoint {
                                start_time_unix_nano: t - 10_000_000_000,
                                time_unix_nano: t,
                                value: Some(number_data_point::Value::AsInt(42)),
                                exemplars: vec![Exemplar {
                                    filtered_attributes: vec![text("user", "u1")],
                                    time_unix_nano: t - 1_000_000_000,
                                    value: Some(exemplar::Value::AsDouble(0.25)),
                                    span_id: SPAN.to_vec(),
                                    trace_id: TRACE.to_vec(),
                                }],
                                ..Default::default()
                            }],
                            aggregation_temporality: cumulative,
                            is_monotonic: true,
                        }),
                    ),
                    metric(
                        "rpc.duration",
                        "s",
                        metric::Data::Histogram(Histogram {
                            data_points: vec![HistogramDataPoint {
                                time_unix_nano: t,
                                count: 6,
                                sum: Some(4.2),
                                bucket_counts: vec![1, 2, 3],
                                explicit_bounds: vec![0.1, 1.0],
                                min: Some(0.01),
                                max: Some(3.0),
                                ..Default::default()
                            }],
                            aggregation_temporality: cumulative,
                        }),
                    ),
                    metric(
                        "lat",
                        "ms",
                        metric::Data::ExponentialHistogram(ExponentialHistogram {
                            data_points: vec![ExponentialHistogramDataPoint {
                                time_unix_nano: t,
                                count: 7,
                                sum: Some(3.0),
                                scale: -1,
                                zero_count: 1,
                                zero_threshold: 1e-9,
                                positive: Some(exponential_histogram_data_point::Buckets { offset: 2, bucket_counts: vec![1, 2] }),
                                negative: Some(exponential_histogram_data_point::Buckets { offset: -1, bucket_counts: vec![3] }),
                                flags: FLAG_NO_RECORDED_VALUE,
                                ..Default::default()
                            }],
                            aggregation_temporality: cumulative,
                        }),
                    ),
                    metric(
                        "payload",
                        "By",
                        metric::Data::Summary(Summary {
                            data_points: vec![SummaryDataPoint {
                                time_unix_nano: t,
                                count: 3,
                                sum: 9.0,
                                quantile_values: vec![
                                    summary_data_point::ValueAtQuantile { quantile: 0.5, value: 2.5 },
                                    summary_data_point::ValueAtQuantile { quantile: 1.0, value: 4.0 },
                                ],
                                ..Default::default()
                            }],
                        }),
                    ),
                ],
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
        }],
    }
}

#[test]
fn every_message_and_value_kind_decodes_to_its_protobuf() {
    assert_eq!(decode_json(EVERY_KIND.as_bytes()).unwrap(), every_kind());
}

/// lowerCamelCase to the proto field names (`timeUnixNano` → `time_unix_nano`).
fn snake_keys(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let mut in_key = false;
    let mut chars = json.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if c == '"' {
            quoted = !quoted;
            // A key: a quoted text followed (after the closing quote) by a colon.
            in_key = quoted && {
                let rest: String = chars.clone().collect();
                rest.find('"').is_some_and(|end| rest[end + 1..].trim_start().starts_with(':'))
            };
        } else if in_key && c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn proto_field_names_are_read_as_their_camel_case_keys() {
    let snake = snake_keys(EVERY_KIND);
    assert!(snake.contains("\"time_unix_nano\"") && snake.contains("\"resource_metrics\"") && snake.contains("\"service.name\""), "{snake}");
    assert_eq!(decode_json(snake.as_bytes()).unwrap(), every_kind());
}

#[test]
fn numbers_strings_enum_names_nulls_and_unknown_keys() {
    let written = |point: &str, extra: &str| {
        format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"m","sum":{{"dataPoints":[{point}]{extra}}}}}]}}]}}]}}"#)
    };
    let decoded = |point: &str, extra: &str| -> (NumberDataPoint, i32) {
        let request = decode_json(written(point, extra).as_bytes()).unwrap_or_else(|e| panic!("{point} {extra}: {e}"));
        let Some(metric::Data::Sum(sum)) = request.resource_metrics[0].scope_metrics[0].metrics[0].data.clone() else { panic!("no sum") };
        (sum.data_points[0].clone(), sum.aggregation_temporality)
    };
    // 64-bit integers as numbers or strings, exponents that are integral, enums by number or name.
    let (as_strings, delta_by_name) = decoded(r#"{"timeUnixNano":"1700000000000000000","asInt":"-5","flags":"1"}"#, r#","aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA""#);
    let (as_numbers, delta_by_number) = decoded(r#"{"timeUnixNano":1700000000000000000,"asInt":-5,"flags":1}"#, r#","aggregationTemporality":1"#);
    assert_eq!(as_strings, as_numbers);
    assert_eq!((as_strings.time_unix_nano, as_strings.value, as_strings.flags), (1_700_000_000_000_000_000, Some(number_data_point::Value::AsInt(-5)), 1));
    assert_eq!((delta_by_name, delta_by_number), (AggregationTemporality::Delta as i32, AggregationTemporality::Delta as i32));
    assert_eq!(decoded(r#"{"timeUnixNano":"1.7e18","asInt":"1e3"}"#, "").0.value, Some(number_data_point::Value::AsInt(1000)));
    // Doubles' special values are strings.
    for (written, expected) in [(r#""NaN""#, f64::NAN), (r#""Infinity""#, f64::INFINITY), (r#""-Infinity""#, f64::NEG_INFINITY), (r#""2.5""#, 2.5), ("3", 3.0)] {
        let (point, _) = decoded(&format!(r#"{{"asDouble":{written}}}"#), "");
        let Some(number_data_point::Value::AsDouble(v)) = point.value else { panic!("{written}: {:?}", point.value) };
        assert!(v.to_bits() == expected.to_bits() || v == expected, "{written}: {v}");
    }
    // null is the default; keys we do not know are skipped, nested or not.
    let (point, temporality) = decoded(r#"{"timeUnixNano":null,"attributes":null,"asDouble":1,"futureField":{"deep":[1,{"x":null}]}}"#, r#","aggregationTemporality":null,"newKnob":true"#);
    assert_eq!((point.time_unix_nano, point.attributes.len(), temporality), (0, 0, 0));
    assert_eq!(decode_json(b"{}").unwrap(), ExportMetricsServiceRequest::default());
    assert_eq!(decode_json(br#"{"resourceMetrics":null}"#).unwrap(), ExportMetricsServiceRequest::default());
}

#[test]
fn refusals_name_the_problem() {
    let refused = |json: &str| match decode_json(json.as_bytes()) {
        Err(OtlpError::Json(message)) => message,
        other => panic!("{json}: {other:?}"),
    };
    let point = |fields: &str| format!(r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{"name":"m","gauge":{{"dataPoints":[{{{fields}}}]}}}}]}}]}}]}}"#);
    assert!(refused("{\"resourceMetrics\": [").contains("line 1 column"), "{}", refused("{\"resourceMetrics\": ["));
    assert!(refused("[]").contains("expected struct ExportMetricsServiceRequest"), "{}", refused("[]"));
    assert!(refused(&point(r#""asDouble":1,"asInt":"2""#)).contains("metric \"m\": more than one of asDouble and asInt"));
    assert!(refused(&point(r#""timeUnixNano":"-1""#)).contains("out of range"));
    assert!(refused(&point(r#""timeUnixNano":"1.5""#)).contains("not an integer"));
    assert!(refused(&point(r#""timeUnixNano":true"#)).contains("an integer, or a string holding one"));
    assert!(refused(&point(r#""asDouble":"fast""#)).contains("\"fast\" is not a number"));
    assert!(refused(&point(r#""exemplars":[{"traceId":"zz"}]"#)).contains("is not hex"));
    assert!(refused(&point(r#""exemplars":[{"spanId":"abc"}]"#)).contains("odd number of digits"));
    assert!(refused(&point(r#""attributes":[{"key":"k","value":{"stringValue":"a","intValue":1}}]"#)).contains("attribute \"k\": more than one of stringValue"));
    assert!(refused(&point(r#""attributes":[{"key":"k","value":{"bytesValue":"@@"}}]"#)).contains("is not base64"));
    let two_kinds = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"both","gauge":{},"sum":{}}]}]}]}"#;
    assert!(refused(two_kinds).contains("metric \"both\": more than one of gauge, sum"), "{}", refused(two_kinds));
    let temporality = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"aggregationTemporality":"SOMETIMES"}}]}]}]}"#;
    assert!(refused(temporality).contains("unknown aggregationTemporality \"SOMETIMES\""));
    // Nesting is bounded: a deep arrayValue is refused, not a stack overflow.
    let deep = format!(r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"k","value":{}"x"{}}}]}}}}]}}"#, r#"{"arrayValue":{"values":["#.repeat(200), "]}}".repeat(200));
    assert!(refused(&deep).contains("recursion limit"), "{}", refused(&deep));
}

/// A body the OpenTelemetry JS SDK's OTLP/HTTP exporter (0.223.0, JSON by default) sent for a
/// counter, a histogram, a gauge and an up-down counter: 64-bit integers as numbers in
/// `bucketCounts` and `count`, as strings in the times. Translated as the protobuf would be.
#[test]
fn an_opentelemetry_js_export_is_translated() {
    use crate::ingest::otlp::{decode_request, TranslationOptions};
    let body = include_bytes!("opentelemetry_js_0.223.json");
    let translated = decode_request(Some("application/json"), None, body, &crate::ingest::IngestRules::default(), &TranslationOptions::default()).unwrap();
    let value_of = |name: &str, extra: &[(&str, &str)]| -> Vec<f64> {
        translated
            .series
            .iter()
            .filter(|s| s.labels.get("__name__") == Some(name) && s.labels.get("job") == Some("nodeapp") && s.labels.get("instance") == Some("i-1"))
            .filter(|s| extra.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .flat_map(|s| s.samples.iter().map(|p| p.value))
            .collect()
    };
    assert_eq!(value_of("orders_placed_total", &[("region", "eu")]), vec![5.0]);
    assert_eq!(value_of("orders_placed_total", &[("region", "us")]), vec![2.0]);
    assert_eq!(value_of("checkout_duration_seconds_bucket", &[("le", "0")]), vec![0.0]);
    assert_eq!(value_of("checkout_duration_seconds_bucket", &[("le", "5")]), vec![3.0]);
    assert_eq!(value_of("checkout_duration_seconds_bucket", &[("le", "+Inf")]), vec![3.0]);
    assert_eq!(value_of("checkout_duration_seconds_count", &[]), vec![3.0]);
    assert_eq!(value_of("checkout_duration_seconds_sum", &[]), vec![2.02]);
    assert_eq!(value_of("queue_depth", &[("queue", "main")]), vec![12.0]);
    assert_eq!(value_of("sessions_active", &[]), vec![3.0]);
    let timestamps: Vec<i64> = translated.series.iter().flat_map(|s| s.samples.iter().map(|p| p.timestamp_ms)).collect();
    assert!(!timestamps.is_empty() && timestamps.iter().all(|t| *t == 1_796_706_438_590), "{timestamps:?}");
}
