//! OTLP/JSON (`application/json`): an `ExportMetricsServiceRequest` in the proto3 JSON mapping
//! with OTLP's deviations (trace and span IDs in hex, not base64), read straight into the
//! protobuf types the translation takes. Lenient as the collector's reader, which Prometheus
//! uses: keys in lowerCamelCase or as the proto field names, 64-bit integers as strings or
//! numbers, enums as numbers or names, `null` as the default, unknown keys skipped.

use base64::Engine;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use proto::otlp_metrics as pb;

use super::OtlpError;

/// Decodes one request body.
pub(super) fn decode_json(raw: &[u8]) -> Result<pb::ExportMetricsServiceRequest, OtlpError> {
    let request: ExportMetricsServiceRequest = serde_json::from_slice(raw).map_err(|e| OtlpError::Json(e.to_string()))?;
    request.into_protobuf().map_err(OtlpError::Json)
}

/// An integer field: a JSON number (integral) or a string of one, as proto3 JSON writes
/// 64-bit integers; `null` is 0.
#[derive(Default, Clone, Copy)]
struct Int<T>(T);

impl<'de, T: TryFrom<i128> + Default> Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IntVisitor<T>(std::marker::PhantomData<T>);
        impl<T: TryFrom<i128> + Default> IntVisitor<T> {
            fn fit<E: de::Error>(v: i128) -> Result<Int<T>, E> {
                T::try_from(v).map(Int).map_err(|_| E::custom(format!("integer {v} out of range for its field")))
            }
        }
        impl<'de, T: TryFrom<i128> + Default> Visitor<'de> for IntVisitor<T> {
            type Value = Int<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer, or a string holding one")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int<T>, E> {
                Self::fit(i128::from(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int<T>, E> {
                Self::fit(i128::from(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Int<T>, E> {
                integral(v).map_or_else(|| Err(E::custom(format!("{v} is not an integer"))), Self::fit)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int<T>, E> {
                match v.parse::<i128>() {
                    Ok(n) => Self::fit(n),
                    Err(_) => v.parse::<f64>().ok().and_then(integral).map_or_else(|| Err(E::custom(format!("{v:?} is not an integer"))), Self::fit),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Int<T>, E> {
                Ok(Int(T::default()))
            }
        }
        deserializer.deserialize_any(IntVisitor(std::marker::PhantomData))
    }
}

/// `v` as an integer, when it is one (`1e3` is, `1.5` is not).
fn integral(v: f64) -> Option<i128> {
    (v.is_finite() && v.fract() == 0.0 && v.abs() < 1.7e38).then_some(v as i128)
}

/// A double field: a JSON number, or a string: `"NaN"`, `"Infinity"`, `"-Infinity"` or a
/// number; `null` is 0.
#[derive(Default, Clone, Copy)]
struct Float(f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FloatVisitor;
        impl Visitor<'_> for FloatVisitor {
            type Value = Float;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number, or a string holding one (\"NaN\", \"Infinity\", \"-Infinity\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Float, E> {
                Ok(Float(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Float, E> {
                Ok(Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Float, E> {
                match v {
                    "NaN" => Ok(Float(f64::NAN)),
                    "Infinity" => Ok(Float(f64::INFINITY)),
                    "-Infinity" => Ok(Float(f64::NEG_INFINITY)),
                    _ => v.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(Float).ok_or_else(|| E::custom(format!("{v:?} is not a number"))),
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<Float, E> {
                Ok(Float(0.0))
            }
        }
        deserializer.deserialize_any(FloatVisitor)
    }
}

/// A trace or span ID: hex, in either case (OTLP's deviation from proto3's base64).
#[derive(Default)]
struct HexId(Vec<u8>);

impl<'de> Deserialize<'de> for HexId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        if text.len() % 2 != 0 {
            return Err(de::Error::custom(format!("trace or span ID {text:?} is not hex: an odd number of digits")));
        }
        text.as_bytes()
            .chunks(2)
            .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
            .collect::<Option<Vec<u8>>>()
            .map(HexId)
            .ok_or_else(|| de::Error::custom(format!("trace or span ID {text:?} is not hex")))
    }
}

/// A `bytes` field: base64, standard or URL-safe, padded or not (proto3 JSON).
#[derive(Default)]
struct Base64(Vec<u8>);

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(&text).ok())
            .map(Base64)
            .ok_or_else(|| de::Error::custom(format!("bytesValue {text:?} is not base64")))
    }
}

/// `aggregationTemporality`: its number (as OTLP/JSON asks) or its name.
#[derive(Default, Clone, Copy)]
struct Temporality(i32);

impl<'de> Deserialize<'de> for Temporality {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(Int<i32>),
            Name(String),
        }
        Ok(Temporality(match Option::<Written>::deserialize(deserializer)? {
            None => 0,
            Some(Written::Number(n)) => n.0,
            Some(Written::Name(name)) => match name.as_str() {
                "AGGREGATION_TEMPORALITY_UNSPECIFIED" => pb::AggregationTemporality::Unspecified as i32,
                "AGGREGATION_TEMPORALITY_DELTA" => pb::AggregationTemporality::Delta as i32,
                "AGGREGATION_TEMPORALITY_CUMULATIVE" => pb::AggregationTemporality::Cumulative as i32,
                _ => return Err(de::Error::custom(format!("unknown aggregationTemporality {name:?}"))),
            },
        }))
    }
}

// The messages, each field optional (absent or `null`: the protobuf default).

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportMetricsServiceRequest {
    #[serde(alias = "resource_metrics")]
    resource_metrics: Option<Vec<ResourceMetrics>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceMetrics {
    resource: Option<Resource>,
    #[serde(alias = "scope_metrics")]
    scope_metrics: Option<Vec<ScopeMetrics>>,
    #[serde(alias = "schema_url")]
    schema_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScopeMetrics {
    scope: Option<InstrumentationScope>,
    metrics: Option<Vec<Metric>>,
    #[serde(alias = "schema_url")]
    schema_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InstrumentationScope {
    name: Option<String>,
    version: Option<String>,
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "dropped_attributes_count")]
    dropped_attributes_count: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metric {
    name: Option<String>,
    description: Option<String>,
    unit: Option<String>,
    gauge: Option<Gauge>,
    sum: Option<Sum>,
    histogram: Option<Histogram>,
    #[serde(alias = "exponential_histogram")]
    exponential_histogram: Option<ExponentialHistogram>,
    summary: Option<Summary>,
    metadata: Option<Vec<KeyValue>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Gauge {
    #[serde(alias = "data_points")]
    data_points: Option<Vec<NumberDataPoint>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Sum {
    #[serde(alias = "data_points")]
    data_points: Option<Vec<NumberDataPoint>>,
    #[serde(alias = "aggregation_temporality")]
    aggregation_temporality: Option<Temporality>,
    #[serde(alias = "is_monotonic")]
    is_monotonic: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Histogram {
    #[serde(alias = "data_points")]
    data_points: Option<Vec<HistogramDataPoint>>,
    #[serde(alias = "aggregation_temporality")]
    aggregation_temporality: Option<Temporality>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExponentialHistogram {
    #[serde(alias = "data_points")]
    data_points: Option<Vec<ExponentialHistogramDataPoint>>,
    #[serde(alias = "aggregation_temporality")]
    aggregation_temporality: Option<Temporality>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    #[serde(alias = "data_points")]
    data_points: Option<Vec<SummaryDataPoint>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NumberDataPoint {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "as_double")]
    as_double: Option<Float>,
    #[serde(alias = "as_int")]
    as_int: Option<Int<i64>>,
    exemplars: Option<Vec<Exemplar>>,
    flags: Option<Int<u32>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistogramDataPoint {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    count: Option<Int<u64>>,
    sum: Option<Float>,
    #[serde(alias = "bucket_counts")]
    bucket_counts: Option<Vec<Int<u64>>>,
    #[serde(alias = "explicit_bounds")]
    explicit_bounds: Option<Vec<Float>>,
    exemplars: Option<Vec<Exemplar>>,
    flags: Option<Int<u32>>,
    min: Option<Float>,
    max: Option<Float>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExponentialHistogramDataPoint {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    count: Option<Int<u64>>,
    sum: Option<Float>,
    scale: Option<Int<i32>>,
    #[serde(alias = "zero_count")]
    zero_count: Option<Int<u64>>,
    positive: Option<Buckets>,
    negative: Option<Buckets>,
    flags: Option<Int<u32>>,
    exemplars: Option<Vec<Exemplar>>,
    min: Option<Float>,
    max: Option<Float>,
    #[serde(alias = "zero_threshold")]
    zero_threshold: Option<Float>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Buckets {
    offset: Option<Int<i32>>,
    #[serde(alias = "bucket_counts")]
    bucket_counts: Option<Vec<Int<u64>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryDataPoint {
    attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "start_time_unix_nano")]
    start_time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    count: Option<Int<u64>>,
    sum: Option<Float>,
    #[serde(alias = "quantile_values")]
    quantile_values: Option<Vec<ValueAtQuantile>>,
    flags: Option<Int<u32>>,
}

#[derive(Deserialize)]
struct ValueAtQuantile {
    quantile: Option<Float>,
    value: Option<Float>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Exemplar {
    #[serde(alias = "filtered_attributes")]
    filtered_attributes: Option<Vec<KeyValue>>,
    #[serde(alias = "time_unix_nano")]
    time_unix_nano: Option<Int<u64>>,
    #[serde(alias = "as_double")]
    as_double: Option<Float>,
    #[serde(alias = "as_int")]
    as_int: Option<Int<i64>>,
    #[serde(alias = "span_id")]
    span_id: Option<HexId>,
    #[serde(alias = "trace_id")]
    trace_id: Option<HexId>,
}

#[derive(Deserialize)]
struct KeyValue {
    key: Option<String>,
    value: Option<AnyValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnyValue {
    #[serde(alias = "string_value")]
    string_value: Option<String>,
    #[serde(alias = "bool_value")]
    bool_value: Option<bool>,
    #[serde(alias = "int_value")]
    int_value: Option<Int<i64>>,
    #[serde(alias = "double_value")]
    double_value: Option<Float>,
    #[serde(alias = "array_value")]
    array_value: Option<ArrayValue>,
    #[serde(alias = "kvlist_value")]
    kvlist_value: Option<KeyValueList>,
    #[serde(alias = "bytes_value")]
    bytes_value: Option<Base64>,
}

#[derive(Deserialize)]
struct ArrayValue {
    values: Option<Vec<AnyValue>>,
}

#[derive(Deserialize)]
struct KeyValueList {
    values: Option<Vec<KeyValue>>,
}

// Into the protobuf types. A oneof written twice is refused, as proto3 JSON readers do.

/// The one of a oneof's alternatives that was written, if any; `what` names them all.
fn one_of<T, const N: usize>(what: &str, written: [Option<T>; N]) -> Result<Option<T>, String> {
    let mut written = written.into_iter().flatten();
    let first = written.next();
    if written.next().is_some() {
        return Err(format!("more than one of {what} is set"));
    }
    Ok(first)
}

fn int<T: Default>(value: Option<Int<T>>) -> T {
    value.unwrap_or_default().0
}

fn float(value: Option<Float>) -> f64 {
    value.unwrap_or_default().0
}

fn optional_float(value: Option<Float>) -> Option<f64> {
    value.map(|f| f.0)
}

fn integers<T: Default>(values: Option<Vec<Int<T>>>) -> Vec<T> {
    values.unwrap_or_default().into_iter().map(|v| v.0).collect()
}

fn attributes(list: Option<Vec<KeyValue>>) -> Result<Vec<pb::KeyValue>, String> {
    list.unwrap_or_default().into_iter().map(KeyValue::into_protobuf).collect()
}

/// Converts each of `items`.
fn each<T, U>(items: Option<Vec<T>>, convert: impl Fn(T) -> Result<U, String>) -> Result<Vec<U>, String> {
    items.unwrap_or_default().into_iter().map(convert).collect()
}

impl ExportMetricsServiceRequest {
    fn into_protobuf(self) -> Result<pb::ExportMetricsServiceRequest, String> {
        Ok(pb::ExportMetricsServiceRequest { resource_metrics: each(self.resource_metrics, ResourceMetrics::into_protobuf)? })
    }
}

impl ResourceMetrics {
    fn into_protobuf(self) -> Result<pb::ResourceMetrics, String> {
        let resource = match self.resource {
            Some(r) => Some(pb::Resource { attributes: attributes(r.attributes)?, dropped_attributes_count: int(r.dropped_attributes_count) }),
            None => None,
        };
        Ok(pb::ResourceMetrics { resource, scope_metrics: each(self.scope_metrics, ScopeMetrics::into_protobuf)?, schema_url: self.schema_url.unwrap_or_default() })
    }
}

impl ScopeMetrics {
    fn into_protobuf(self) -> Result<pb::ScopeMetrics, String> {
        let scope = match self.scope {
            Some(s) => Some(pb::InstrumentationScope {
                name: s.name.unwrap_or_default(),
                version: s.version.unwrap_or_default(),
                attributes: attributes(s.attributes)?,
                dropped_attributes_count: int(s.dropped_attributes_count),
            }),
            None => None,
        };
        Ok(pb::ScopeMetrics { scope, metrics: each(self.metrics, Metric::into_protobuf)?, schema_url: self.schema_url.unwrap_or_default() })
    }
}

impl Metric {
    fn into_protobuf(self) -> Result<pb::Metric, String> {
        use pb::metric::Data;
        let name = self.name.unwrap_or_default();
        let in_metric = |problem: String| format!("metric {name:?}: {problem}");
        let data = one_of(
            "gauge, sum, histogram, exponentialHistogram and summary",
            [
                self.gauge.map(|g| each(g.data_points, NumberDataPoint::into_protobuf).map(|data_points| Data::Gauge(pb::Gauge { data_points }))),
                self.sum.map(|s| {
                    each(s.data_points, NumberDataPoint::into_protobuf).map(|data_points| {
                        Data::Sum(pb::Sum { data_points, aggregation_temporality: s.aggregation_temporality.unwrap_or_default().0, is_monotonic: s.is_monotonic.unwrap_or_default() })
                    })
                }),
                self.histogram.map(|h| {
                    each(h.data_points, HistogramDataPoint::into_protobuf)
                        .map(|data_points| Data::Histogram(pb::Histogram { data_points, aggregation_temporality: h.aggregation_temporality.unwrap_or_default().0 }))
                }),
                self.exponential_histogram.map(|h| {
                    each(h.data_points, ExponentialHistogramDataPoint::into_protobuf).map(|data_points| {
                        Data::ExponentialHistogram(pb::ExponentialHistogram { data_points, aggregation_temporality: h.aggregation_temporality.unwrap_or_default().0 })
                    })
                }),
                self.summary.map(|s| each(s.data_points, SummaryDataPoint::into_protobuf).map(|data_points| Data::Summary(pb::Summary { data_points }))),
            ],
        )
        .map_err(in_metric)?
        .transpose()
        .map_err(in_metric)?;
        let metadata = attributes(self.metadata).map_err(in_metric)?;
        Ok(pb::Metric { name, description: self.description.unwrap_or_default(), unit: self.unit.unwrap_or_default(), data, metadata })
    }
}

impl NumberDataPoint {
    fn into_protobuf(self) -> Result<pb::NumberDataPoint, String> {
        use pb::number_data_point::Value;
        Ok(pb::NumberDataPoint {
            attributes: attributes(self.attributes)?,
            start_time_unix_nano: int(self.start_time_unix_nano),
            time_unix_nano: int(self.time_unix_nano),
            value: one_of("asDouble and asInt", [self.as_double.map(|v| Value::AsDouble(v.0)), self.as_int.map(|v| Value::AsInt(v.0))])?,
            exemplars: each(self.exemplars, Exemplar::into_protobuf)?,
            flags: int(self.flags),
        })
    }
}

impl HistogramDataPoint {
    fn into_protobuf(self) -> Result<pb::HistogramDataPoint, String> {
        Ok(pb::HistogramDataPoint {
            attributes: attributes(self.attributes)?,
            start_time_unix_nano: int(self.start_time_unix_nano),
            time_unix_nano: int(self.time_unix_nano),
            count: int(self.count),
            sum: optional_float(self.sum),
            bucket_counts: integers(self.bucket_counts),
            explicit_bounds: self.explicit_bounds.unwrap_or_default().into_iter().map(|f| f.0).collect(),
            exemplars: each(self.exemplars, Exemplar::into_protobuf)?,
            flags: int(self.flags),
            min: optional_float(self.min),
            max: optional_float(self.max),
        })
    }
}

impl ExponentialHistogramDataPoint {
    fn into_protobuf(self) -> Result<pb::ExponentialHistogramDataPoint, String> {
        let buckets = |b: Option<Buckets>| b.map(|b| pb::exponential_histogram_data_point::Buckets { offset: int(b.offset), bucket_counts: integers(b.bucket_counts) });
        Ok(pb::ExponentialHistogramDataPoint {
            attributes: attributes(self.attributes)?,
            start_time_unix_nano: int(self.start_time_unix_nano),
            time_unix_nano: int(self.time_unix_nano),
            count: int(self.count),
            sum: optional_float(self.sum),
            scale: int(self.scale),
            zero_count: int(self.zero_count),
            positive: buckets(self.positive),
            negative: buckets(self.negative),
            flags: int(self.flags),
            exemplars: each(self.exemplars, Exemplar::into_protobuf)?,
            min: optional_float(self.min),
            max: optional_float(self.max),
            zero_threshold: float(self.zero_threshold),
        })
    }
}

impl SummaryDataPoint {
    fn into_protobuf(self) -> Result<pb::SummaryDataPoint, String> {
        Ok(pb::SummaryDataPoint {
            attributes: attributes(self.attributes)?,
            start_time_unix_nano: int(self.start_time_unix_nano),
            time_unix_nano: int(self.time_unix_nano),
            count: int(self.count),
            sum: float(self.sum),
            quantile_values: self
                .quantile_values
                .unwrap_or_default()
                .into_iter()
                .map(|q| pb::summary_data_point::ValueAtQuantile { quantile: float(q.quantile), value: float(q.value) })
                .collect(),
            flags: int(self.flags),
        })
    }
}

impl Exemplar {
    fn into_protobuf(self) -> Result<pb::Exemplar, String> {
        use pb::exemplar::Value;
        Ok(pb::Exemplar {
            filtered_attributes: attributes(self.filtered_attributes)?,
            time_unix_nano: int(self.time_unix_nano),
            value: one_of("an exemplar's asDouble and asInt", [self.as_double.map(|v| Value::AsDouble(v.0)), self.as_int.map(|v| Value::AsInt(v.0))])?,
            span_id: self.span_id.unwrap_or_default().0,
            trace_id: self.trace_id.unwrap_or_default().0,
        })
    }
}

impl KeyValue {
    fn into_protobuf(self) -> Result<pb::KeyValue, String> {
        let key = self.key.unwrap_or_default();
        let value = self.value.map(AnyValue::into_protobuf).transpose().map_err(|problem| format!("attribute {key:?}: {problem}"))?;
        Ok(pb::KeyValue { key, value })
    }
}

impl AnyValue {
    fn into_protobuf(self) -> Result<pb::AnyValue, String> {
        use pb::any_value::Value;
        let array = match self.array_value {
            Some(a) => Some(Value::ArrayValue(pb::ArrayValue { values: each(a.values, AnyValue::into_protobuf)? })),
            None => None,
        };
        let kvlist = match self.kvlist_value {
            Some(l) => Some(Value::KvlistValue(pb::KeyValueList { values: attributes(l.values)? })),
            None => None,
        };
        let value = one_of(
            "stringValue, boolValue, intValue, doubleValue, arrayValue, kvlistValue and bytesValue",
            [
                self.string_value.map(Value::StringValue),
                self.bool_value.map(Value::BoolValue),
                self.int_value.map(|v| Value::IntValue(v.0)),
                self.double_value.map(|v| Value::DoubleValue(v.0)),
                array,
                kvlist,
                self.bytes_value.map(|b| Value::BytesValue(b.0)),
            ],
        )?;
        Ok(pb::AnyValue { value })
    }
}

#[cfg(test)]
mod tests;
