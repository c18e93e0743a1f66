//! The Datadog agent's series submissions (`/datadog/api/v1/series`: JSON;
//! `/datadog/api/v2/series`: JSON or the agent's protobuf `MetricPayload`) and distribution
//! sketches (`/api/beta/sketches`), read into labeled series as VictoriaMetrics reads them.
//! Pure: bytes in, owned series out; a malformed body is refused whole.

use serde::Deserialize;

use super::protowire::{Fields, Value, Varints, WireError};

/// Most series one request may make, and most points: a protobuf series or point can be two
/// bytes on the wire and much more in memory, so a body within its byte limit is bounded
/// here too (agents send far fewer per request).
pub const SERIES_PER_REQUEST_MAX: usize = 1_000_000;
pub const POINTS_PER_REQUEST_MAX: usize = 10_000_000;

/// The problem when a request passes `SERIES_PER_REQUEST_MAX` or `POINTS_PER_REQUEST_MAX`.
fn check_request_size(series: usize, points: usize) -> Result<(), String> {
    if series > SERIES_PER_REQUEST_MAX || points > POINTS_PER_REQUEST_MAX {
        return Err(format!(
            "the request makes more than {SERIES_PER_REQUEST_MAX} series or {POINTS_PER_REQUEST_MAX} points: send it in smaller requests"
        ));
    }
    Ok(())
}

/// One submitted series, labels in submission order (`__name__` first). `__name__` is its
/// metric, sanitized as Datadog does (`sanitize_name`); v1's `host` and `device` fields, v2's
/// resources (`type` = `name`) and `source_type_name`, and each tag `name:value` become labels
/// (a tag without `:` has the value `no_label_value`; a tag named `host` becomes
/// `exported_host`; an empty value is left out).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Vec<(String, String)>,
    /// (timestamp ms, value), in submission order.
    pub points: Vec<(i64, f64)>,
}

impl Series {
    /// The metric name (sanitized), empty when the submission had none.
    pub fn metric(&self) -> &str {
        self.labels.first().map_or("", |(_, v)| v.as_str())
    }
}

/// Datadog's metric-name sanitizing (VictoriaMetrics' `-datadog.sanitizeMetricName`, on by
/// default): runs of characters outside `[0-9a-zA-Z_.]` become one `_`, runs of `_` one
/// `_`, and an `_` just before or after a `.` is dropped.
pub fn sanitize_name(name: &str) -> String {
    let mut collapsed = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' };
        if c == '_' && collapsed.ends_with('_') {
            continue;
        }
        collapsed.push(c);
    }
    let mut out = String::with_capacity(collapsed.len());
    let mut after_dot = false;
    for c in collapsed.chars() {
        match c {
            '.' => {
                if out.ends_with('_') {
                    out.pop();
                }
                out.push('.');
                after_dot = true;
                continue;
            }
            '_' if after_dot => {}
            c => out.push(c),
        }
        after_dot = false;
    }
    out
}

/// A tag `name:value` split at its first `:`; without one, the value `no_label_value`.
pub fn split_tag(tag: &str) -> (&str, &str) {
    tag.split_once(':').unwrap_or((tag, "no_label_value"))
}

/// Adds the labels of `tags` (a `host` tag becomes `exported_host`, as the series' own host
/// is a label already), leaving out empty values.
fn push_tags(labels: &mut Vec<(String, String)>, tags: &[String]) {
    for tag in tags {
        let (name, value) = split_tag(tag);
        let name = if name == "host" { "exported_host" } else { name };
        push_label(labels, name, value);
    }
}

fn push_label(labels: &mut Vec<(String, String)>, name: &str, value: &str) {
    if !name.is_empty() && !value.is_empty() {
        labels.push((name.to_string(), value.to_string()));
    }
}

/// A timestamp in seconds as milliseconds; 0 or less is now.
fn seconds_to_ms(seconds: i64, now_ms: i64) -> i64 {
    if seconds <= 0 {
        now_ms - now_ms.rem_euclid(1000)
    } else {
        seconds.saturating_mul(1000)
    }
}

/// A JSON array of at most `SERIES_PER_REQUEST_MAX` items (or `null`), refused as soon as it
/// holds more: an empty series is three bytes of JSON and a hundred in memory, so the count
/// is checked while the array is read, not after.
fn at_most_series_per_request<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Vec<T>>, D::Error> {
    struct Bounded<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Bounded<T> {
        type Value = Option<Vec<T>>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "an array of at most {SERIES_PER_REQUEST_MAX} series")
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                if out.len() == SERIES_PER_REQUEST_MAX {
                    return Err(serde::de::Error::custom(format!("more than {SERIES_PER_REQUEST_MAX} series in one request: send it in smaller requests")));
                }
                out.push(item);
            }
            Ok(Some(out))
        }
    }
    deserializer.deserialize_any(Bounded(std::marker::PhantomData))
}

#[derive(Deserialize)]
struct V1Request {
    #[serde(default, deserialize_with = "at_most_series_per_request")]
    series: Option<Vec<V1Series>>,
}

#[derive(Deserialize)]
struct V1Series {
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    host: Option<String>,
    #[serde(default)]
    device: Option<String>,
    /// `[timestamp seconds (float), value]`; a `null` value is left out.
    #[serde(default)]
    points: Option<Vec<(f64, Option<f64>)>>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// Parses a `/api/v1/series` JSON body. Timestamps are seconds as a float, cut to
/// milliseconds; 0 or less is now.
pub fn parse_v1(body: &[u8], now_ms: i64) -> Result<Vec<Series>, String> {
    let request: V1Request = serde_json::from_slice(body).map_err(|e| format!("invalid Datadog v1 series JSON: {e}"))?;
    let mut out = Vec::new();
    for s in request.series.unwrap_or_default() {
        let mut labels = vec![("__name__".to_string(), sanitize_name(s.metric.as_deref().unwrap_or("")))];
        push_label(&mut labels, "host", s.host.as_deref().unwrap_or(""));
        push_label(&mut labels, "device", s.device.as_deref().unwrap_or(""));
        push_tags(&mut labels, s.tags.as_deref().unwrap_or(&[]));
        let mut points = Vec::new();
        for (timestamp, value) in s.points.unwrap_or_default() {
            let Some(value) = value else { continue };
            if !timestamp.is_finite() || timestamp.abs() >= (i64::MAX / 1000) as f64 {
                return Err(format!("invalid Datadog v1 series JSON: the timestamp {timestamp} is out of range"));
            }
            let timestamp_ms = if timestamp <= 0.0 { seconds_to_ms(0, now_ms) } else { (timestamp * 1000.0) as i64 };
            points.push((timestamp_ms, value));
        }
        out.push(Series { labels, points });
    }
    check_request_size(out.len(), out.iter().map(|s| s.points.len()).sum())?;
    Ok(out)
}

#[derive(Deserialize)]
struct V2Request {
    #[serde(default, deserialize_with = "at_most_series_per_request")]
    series: Option<Vec<V2Series>>,
}

#[derive(Deserialize)]
struct V2Series {
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    points: Option<Vec<V2Point>>,
    #[serde(default)]
    resources: Option<Vec<V2Resource>>,
    #[serde(default)]
    source_type_name: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct V2Point {
    #[serde(default)]
    timestamp: Option<i64>,
    #[serde(default)]
    value: Option<f64>,
}

#[derive(Deserialize, Default)]
struct V2Resource {
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// One v2 series as decoded, before its labels are made.
#[derive(Default)]
struct V2Parts {
    metric: String,
    points: Vec<(i64, f64)>,
    resources: Vec<(String, String)>,
    source_type_name: String,
    tags: Vec<String>,
}

impl V2Parts {
    fn into_series(self, now_ms: i64) -> Series {
        let mut labels = vec![("__name__".to_string(), sanitize_name(&self.metric))];
        for (kind, name) in &self.resources {
            push_label(&mut labels, kind, name);
        }
        push_tags(&mut labels, &self.tags);
        push_label(&mut labels, "source_type_name", &self.source_type_name);
        let points = self.points.into_iter().map(|(seconds, value)| (seconds_to_ms(seconds, now_ms), value)).collect();
        Series { labels, points }
    }
}

/// Parses a `/api/v2/series` JSON body.
pub fn parse_v2_json(body: &[u8], now_ms: i64) -> Result<Vec<Series>, String> {
    let request: V2Request = serde_json::from_slice(body).map_err(|e| format!("invalid Datadog v2 series JSON: {e}"))?;
    let series = request.series.as_deref().unwrap_or(&[]);
    check_request_size(series.len(), series.iter().map(|s| s.points.as_ref().map_or(0, Vec::len)).sum())?;
    Ok(request
        .series
        .unwrap_or_default()
        .into_iter()
        .map(|s| {
            V2Parts {
                metric: s.metric.unwrap_or_default(),
                // A point without a value is left out; one without a timestamp is now.
                points: s.points.unwrap_or_default().into_iter().filter_map(|p| Some((p.timestamp.unwrap_or(0), p.value?))).collect(),
                resources: s.resources.unwrap_or_default().into_iter().map(|r| (r.kind.unwrap_or_default(), r.name.unwrap_or_default())).collect(),
                source_type_name: s.source_type_name.unwrap_or_default(),
                tags: s.tags.unwrap_or_default(),
            }
            .into_series(now_ms)
        })
        .collect())
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("invalid Datadog v2 series protobuf: {what} is not valid UTF-8"))
}

fn wire(error: WireError) -> String {
    format!("invalid Datadog v2 series protobuf: {error}")
}

/// Parses a `/api/v2/series` protobuf body (the agent's `MetricPayload`: `series` = 1;
/// in a `MetricSeries`, `resources` = 1, `metric` = 2, `tags` = 3, `points` = 4,
/// `source_type_name` = 7; a `Point` is `value` = 1 (double), `timestamp` = 2; a
/// `Resource` is `type` = 1, `name` = 2). Other fields are skipped.
pub fn parse_v2_protobuf(body: &[u8], now_ms: i64) -> Result<Vec<Series>, String> {
    let mut out = Vec::new();
    let mut points = 0usize;
    for field in Fields::new(body) {
        let (1, value) = field.map_err(wire)? else { continue };
        check_request_size(out.len() + 1, points)?;
        let mut parts = V2Parts::default();
        for field in Fields::new(value.bytes(1).map_err(wire)?) {
            match field.map_err(wire)? {
                (1, v) => {
                    let (mut kind, mut name) = (String::new(), String::new());
                    for field in Fields::new(v.bytes(1).map_err(wire)?) {
                        match field.map_err(wire)? {
                            (1, v) => kind = utf8(v.bytes(1).map_err(wire)?, "a resource type")?,
                            (2, v) => name = utf8(v.bytes(2).map_err(wire)?, "a resource name")?,
                            _ => {}
                        }
                    }
                    parts.resources.push((kind, name));
                }
                (2, v) => parts.metric = utf8(v.bytes(2).map_err(wire)?, "the metric")?,
                (3, v) => parts.tags.push(utf8(v.bytes(3).map_err(wire)?, "a tag")?),
                (4, v) => {
                    let (mut value, mut timestamp) = (0.0, 0);
                    for field in Fields::new(v.bytes(4).map_err(wire)?) {
                        match field.map_err(wire)? {
                            (1, v) => value = f64::from_bits(v.fixed64(1).map_err(wire)?),
                            (2, v) => timestamp = v.varint(2).map_err(wire)? as i64,
                            _ => {}
                        }
                    }
                    points += 1;
                    check_request_size(out.len(), points)?;
                    parts.points.push((timestamp, value));
                }
                (7, v) => parts.source_type_name = utf8(v.bytes(7).map_err(wire)?, "source_type_name")?,
                _ => {}
            }
        }
        out.push(parts.into_series(now_ms));
    }
    Ok(out)
}

/// The quantiles a sketch is summarized by, and their label values.
const SKETCH_QUANTILES: [(f64, &str); 5] = [(0.5, "0.5"), (0.75, "0.75"), (0.9, "0.9"), (0.95, "0.95"), (0.99, "0.99")];

/// Datadog's sketch bins (its agent's default configuration): relative accuracy 1/128, so a
/// bin's upper bound is `GAMMA` times its lower bound, and bin keys are offset so that the
/// smallest tracked magnitude, 1e-9, has a small positive key.
const SKETCH_EPSILON: f64 = 1.0 / 128.0;
const SKETCH_GAMMA: f64 = 1.0 + 2.0 * SKETCH_EPSILON;
/// A key's magnitude past which it stands for ±infinity.
const SKETCH_KEY_LIMIT: i32 = (1 << 15) - 1;

fn sketch_bias() -> i32 {
    let gamma_ln = (2.0 * SKETCH_EPSILON).ln_1p();
    1 - (1e-9f64.ln() / gamma_ln).floor() as i32
}

/// The lower bound of the values in bin `key` (negative keys: negative values).
fn sketch_bin_lower_bound(key: i32, bias: i32) -> f64 {
    if key <= -SKETCH_KEY_LIMIT {
        return f64::NEG_INFINITY;
    }
    if key >= SKETCH_KEY_LIMIT {
        return f64::INFINITY;
    }
    match key {
        0 => 0.0,
        k if k < 0 => -sketch_bin_lower_bound(-k, bias),
        k => SKETCH_GAMMA.powi(k - bias),
    }
}

/// One `Dogsketch`: a distribution's summary over one interval.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DogSketch {
    pub timestamp_s: i64,
    pub count: i64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    /// Bin keys and their counts, in key order.
    pub keys: Vec<i32>,
    pub counts: Vec<u32>,
}

impl DogSketch {
    /// The value at quantile `q`, interpolated inside the bin that holds its rank, as
    /// Datadog's sparse-sketch code estimates it (the first bin starts at `min`).
    pub fn quantile(&self, q: f64) -> f64 {
        // No (or a nonsensical negative) count: nothing to estimate.
        if self.count <= 0 {
            return 0.0;
        }
        if q <= 0.0 {
            return self.min;
        }
        if q >= 1.0 {
            return self.max;
        }
        if self.keys.len() != self.counts.len() {
            return 0.0;
        }
        let bias = sketch_bias();
        let rank = (q * (self.count as f64 - 1.0)).round_ties_even();
        let mut seen = 0.0;
        for (i, (&key, &n)) in self.keys.iter().zip(&self.counts).enumerate() {
            // An empty bin holds no rank (and would divide by zero).
            if n == 0 {
                continue;
            }
            seen += f64::from(n);
            if seen <= rank {
                continue;
            }
            let weight = (seen - rank) / f64::from(n);
            let upper = sketch_bin_lower_bound(key, bias) * SKETCH_GAMMA;
            let lower = if i == 0 { self.min } else { sketch_bin_lower_bound(key, bias) };
            return lower * weight + upper * (1.0 - weight);
        }
        self.max
    }
}

/// Parses a `/api/beta/sketches` protobuf body (`SketchPayload`: `sketches` = 1; a `Sketch`
/// is `metric` = 1, `host` = 2, `tags` = 4, `dogsketches` = 7; a `Dogsketch` is `ts` = 1,
/// `cnt` = 2, `min` = 3, `max` = 4, `sum` = 6, `k` = 7 (sint32), `n` = 8, packed or not)
/// into the series that summarize each sketch, as in VictoriaMetrics:
/// `metric{quantile="0.5"|"0.75"|"0.9"|"0.95"|"0.99"}` (each estimated from the sketch's bins
/// as Datadog's own code does) and `metric.sum`, `metric.count`, `metric.min`, `metric.max`,
/// with `host` and the tags as labels (a `host` tag becomes `exported_host`, as for series; a
/// sketch without data makes no series).
pub fn parse_sketches(body: &[u8]) -> Result<Vec<Series>, String> {
    let wire = |e: WireError| format!("invalid Datadog sketch protobuf: {e}");
    let text = |bytes: &[u8], what: &str| String::from_utf8(bytes.to_vec()).map_err(|_| format!("invalid Datadog sketch protobuf: {what} is not valid UTF-8"));
    let mut out = Vec::new();
    // Each dogsketch becomes a point in each of its sketch's nine series.
    let mut points = 0usize;
    for field in Fields::new(body) {
        let (1, value) = field.map_err(wire)? else { continue };
        let (mut metric, mut host, mut tags, mut sketches) = (String::new(), String::new(), Vec::new(), Vec::new());
        for field in Fields::new(value.bytes(1).map_err(wire)?) {
            match field.map_err(wire)? {
                (1, v) => metric = text(v.bytes(1).map_err(wire)?, "the metric")?,
                (2, v) => host = text(v.bytes(2).map_err(wire)?, "the host")?,
                (4, v) => tags.push(text(v.bytes(4).map_err(wire)?, "a tag")?),
                (7, v) => {
                    points += 9;
                    check_request_size(out.len() + 9, points)?;
                    sketches.push(parse_dogsketch(v.bytes(7).map_err(wire)?).map_err(wire)?);
                }
                _ => {}
            }
        }
        // A sketch without data makes no series.
        if sketches.is_empty() {
            continue;
        }
        check_request_size(out.len() + 9, points)?;
        let metric = sanitize_name(&metric);
        let labels = |name: String, quantile: Option<&str>| {
            let mut labels = vec![("__name__".to_string(), name)];
            push_label(&mut labels, "host", &host);
            if let Some(q) = quantile {
                push_label(&mut labels, "quantile", q);
            }
            push_tags(&mut labels, &tags);
            labels
        };
        for (q, label) in SKETCH_QUANTILES {
            out.push(Series { labels: labels(metric.clone(), Some(label)), points: sketch_points(&sketches, |d| d.quantile(q)) });
        }
        let parts: [(&str, SketchField); 4] = [("sum", |d| d.sum), ("count", |d| d.count as f64), ("min", |d| d.min), ("max", |d| d.max)];
        for (suffix, value) in parts {
            out.push(Series { labels: labels(format!("{metric}.{suffix}"), None), points: sketch_points(&sketches, value) });
        }
    }
    Ok(out)
}

/// Reads one figure of a sketch.
type SketchField = fn(&DogSketch) -> f64;

/// One point per sketch: its time (ms) and `value` of it.
fn sketch_points(sketches: &[DogSketch], value: impl Fn(&DogSketch) -> f64) -> Vec<(i64, f64)> {
    sketches.iter().map(|d| (d.timestamp_s.saturating_mul(1000), value(d))).collect()
}

fn parse_dogsketch(message: &[u8]) -> Result<DogSketch, WireError> {
    let mut d = DogSketch::default();
    for field in Fields::new(message) {
        match field? {
            (1, v) => d.timestamp_s = v.varint(1)? as i64,
            (2, v) => d.count = v.varint(2)? as i64,
            (3, v) => d.min = f64::from_bits(v.fixed64(3)?),
            (4, v) => d.max = f64::from_bits(v.fixed64(4)?),
            (6, v) => d.sum = f64::from_bits(v.fixed64(6)?),
            // sint32: zigzag.
            (7, Value::Len(packed)) => {
                for k in Varints::new(packed) {
                    d.keys.push(unzigzag(k?));
                }
            }
            (7, v) => d.keys.push(unzigzag(v.varint(7)?)),
            (8, Value::Len(packed)) => {
                for n in Varints::new(packed) {
                    d.counts.push(n? as u32);
                }
            }
            (8, v) => d.counts.push(v.varint(8)? as u32),
            _ => {}
        }
    }
    Ok(d)
}

fn unzigzag(v: u64) -> i32 {
    ((v >> 1) as i64 ^ -((v & 1) as i64)) as i32
}

#[cfg(test)]
mod tests;
