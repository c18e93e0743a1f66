//! Prometheus 3.x's OTLP naming (its `otlptranslator`): how OTel metric and attribute names
//! become Prometheus names by `otlp.translation_strategy` and the `otlp.label_name_*` options
//! (`Naming`), and attribute values as label values, stringified as the OpenTelemetry
//! collector does (`value_text`).

use proto::otlp_metrics::{any_value, AnyValue};

/// What kind of series a metric name is built for (decides the `_total` and `_ratio`
/// suffixes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Gauge,
    MonotonicCounter,
    /// Non-monotonic sums, histograms and summaries: unit suffixes only.
    Other,
}

/// OTel units → Prometheus unit words (UCUM case-sensitive codes); others pass as they are.
fn main_unit_word(unit: &str) -> &str {
    match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        other => other,
    }
}

/// The denominator of `x/y` units (`By/s` → `per_second`).
fn per_unit_word(unit: &str) -> &str {
    match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        other => other,
    }
}

fn is_metric_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == ':'
}

/// (main, per) unit suffixes; annotations in braces (`{requests}`) give none.
fn unit_suffixes(unit: &str) -> (String, String) {
    let mut parts = unit.splitn(2, '/');
    let main = parts.next().unwrap_or("").trim();
    let main = if main.is_empty() || main.contains(['{', '}']) { String::new() } else { main_unit_word(main).to_string() };
    let per = match parts.next() {
        Some(per) if !per.is_empty() => {
            let per = per.trim();
            if per.is_empty() || per.contains(['{', '}']) { String::new() } else { format!("per_{}", per_unit_word(per)) }
        }
        _ => String::new(),
    };
    (main, per)
}

/// Invalid characters → `_`, runs of `_` collapsed, a leading `_` dropped.
fn clean_unit(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    for c in unit.chars().map(|c| if is_metric_char(c) { c } else { '_' }) {
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out.strip_prefix('_').map(str::to_string).unwrap_or(out)
}

/// Prometheus' `otlp.translation_strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TranslationStrategy {
    /// The default: metric names get unit and type suffixes, characters outside the legacy
    /// name rules become `_`.
    #[default]
    UnderscoreEscapingWithSuffixes,
    /// Escaped as `UnderscoreEscapingWithSuffixes`, no suffixes.
    UnderscoreEscapingWithoutSuffixes,
    /// Names kept as sent (UTF-8), suffixes added.
    NoUTF8EscapingWithSuffixes,
    /// Names kept as sent, no suffixes.
    NoTranslation,
}

impl TranslationStrategy {
    /// Every strategy by its configuration name.
    pub const ALL: [(&'static str, TranslationStrategy); 4] = [
        ("UnderscoreEscapingWithSuffixes", TranslationStrategy::UnderscoreEscapingWithSuffixes),
        ("UnderscoreEscapingWithoutSuffixes", TranslationStrategy::UnderscoreEscapingWithoutSuffixes),
        ("NoUTF8EscapingWithSuffixes", TranslationStrategy::NoUTF8EscapingWithSuffixes),
        ("NoTranslation", TranslationStrategy::NoTranslation),
    ];

    /// The strategy of a configuration name.
    pub fn named(name: &str) -> Option<TranslationStrategy> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, strategy)| *strategy)
    }

    fn escapes(self) -> bool {
        matches!(self, TranslationStrategy::UnderscoreEscapingWithSuffixes | TranslationStrategy::UnderscoreEscapingWithoutSuffixes)
    }

    fn adds_suffixes(self) -> bool {
        matches!(self, TranslationStrategy::UnderscoreEscapingWithSuffixes | TranslationStrategy::NoUTF8EscapingWithSuffixes)
    }
}

/// How OTel metric and attribute names become Prometheus names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Naming {
    pub strategy: TranslationStrategy,
    /// `otlp.label_name_underscore_sanitization` (on by default, as in Prometheus): escaped
    /// label names with a single leading `_` get `key` (`_x` → `key_x`).
    pub underscore_label_sanitization: bool,
    /// `otlp.label_name_preserve_multiple_underscores` (on by default, as in Prometheus):
    /// escaped label names keep runs of `_` (else each run becomes one).
    pub preserve_multiple_underscores: bool,
}

impl Default for Naming {
    /// Prometheus' defaults.
    fn default() -> Self {
        Naming { strategy: TranslationStrategy::default(), underscore_label_sanitization: true, preserve_multiple_underscores: true }
    }
}

impl Naming {
    /// The `__unit__` value of an OTel unit under `type_and_unit_labels` (Prometheus'
    /// `UnitNamer`): its words as a name suffix would have them (`By/s` →
    /// `bytes_per_second`, `1` and `{requests}` → empty), escaped as names are.
    pub fn unit_label(&self, unit: &str) -> String {
        let (mut main, mut per) = unit_suffixes(unit);
        if self.strategy.escapes() {
            (main, per) = (clean_unit(&main), clean_unit(&per));
        }
        let joined = match (main.is_empty(), per.is_empty()) {
            (false, false) => format!("{main}_{per}"),
            (false, true) => main,
            (true, _) => per,
        };
        let joined = joined.strip_prefix('_').unwrap_or(&joined);
        joined.strip_suffix('_').unwrap_or(joined).to_string()
    }

    /// The Prometheus metric family name of an OTel metric, or why it has none.
    pub fn metric_name(&self, name: &str, unit: &str, kind: NameKind) -> Result<String, String> {
        let suffixes = self.strategy.adds_suffixes();
        let out = match (self.strategy.escapes(), suffixes) {
            (true, true) => escaped_name_with_suffixes(name, unit, kind),
            (true, false) => escaped_name(name),
            (false, _) => {
                let out = if suffixes { name_with_suffixes(name, unit, kind) } else { name.to_string() };
                if out.is_empty() {
                    return Err(format!("normalization for metric {name:?} resulted in empty name"));
                }
                return Ok(out);
            }
        };
        if out.is_empty() {
            return Err(format!("normalization for metric {name:?} resulted in empty name"));
        }
        if out != name && out.chars().all(|c| c == '_') {
            return Err(format!("normalization for metric {name:?} resulted in invalid name {out:?}"));
        }
        Ok(out)
    }

    /// The Prometheus label name of an attribute key, or why it has none. Escaped: every
    /// character outside `[A-Za-z0-9_]` becomes `_` (with `preserve_multiple_underscores`
    /// off, every run of them and of `_` one `_`, a `__reserved__` name's inside alone), a
    /// leading digit gets `key_`, and with `underscore_label_sanitization` a single leading
    /// `_` gets `key`. Unescaped: as sent. A name that is empty or all `_` has none.
    pub fn label_name(&self, key: &str) -> Result<String, String> {
        if key.is_empty() {
            return Err("label name is empty".into());
        }
        if !self.strategy.escapes() {
            if key.chars().all(|c| c == '_') {
                return Err(format!("label name {key:?} contains only underscores"));
            }
            return Ok(key.to_string());
        }
        let mut out = if self.preserve_multiple_underscores { key.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect() } else { collapsed_label_name(key) };
        if out.starts_with(|c: char| c.is_ascii_digit()) {
            out.insert_str(0, "key_");
        } else if self.underscore_label_sanitization && out.starts_with('_') && !out.starts_with("__") {
            out.insert_str(0, "key");
        }
        if out.chars().all(|c| c == '_') {
            return Err(format!("normalization for label name {key:?} resulted in invalid name {out:?}"));
        }
        Ok(out)
    }
}

impl Naming {
    /// The label name of a data point's attribute key: as `label_name` when names are
    /// escaped; else the key as sent (only an empty one has none), as Prometheus copies point
    /// attributes straight through when UTF-8 is allowed.
    pub fn point_label_name(&self, key: &str) -> Result<String, String> {
        if self.strategy.escapes() {
            return self.label_name(key);
        }
        if key.is_empty() {
            return Err("label name is empty".into());
        }
        Ok(key.to_string())
    }
}

/// A label name with each run of characters outside `[A-Za-z0-9]` (`_` included) as one
/// `_`; a `__reserved__` name (4 characters or more) keeps its `__` ends around its inside.
fn collapsed_label_name(key: &str) -> String {
    let reserved = key.len() >= 4 && key.starts_with("__") && key.ends_with("__");
    let inside = if reserved { &key[2..key.len() - 2] } else { key };
    let mut out = String::with_capacity(key.len());
    if reserved {
        out.push_str("__");
    }
    for c in inside.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') || (reserved && out.len() == 2) {
            out.push('_');
        }
    }
    if reserved {
        out.push_str("__");
    }
    out
}

/// `UnderscoreEscapingWithoutSuffixes`: runs of characters outside `[A-Za-z0-9:_]` become
/// one `_` (runs of `_` stay), a leading digit gets `_`.
fn escaped_name(name: &str) -> String {
    let tokens: Vec<&str> = name.split(|c: char| !(is_metric_char(c) || c == '_')).filter(|t| !t.is_empty()).collect();
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `NoUTF8EscapingWithSuffixes`: the name as sent with its unit (`_<unit>` unless it ends
/// so already), per-unit, `_total` and `_ratio` suffixes, each of the last three moved to
/// the end when the name has it already.
fn name_with_suffixes(name: &str, unit: &str, kind: NameKind) -> String {
    // Go's `trimSuffixAndDelimiter`: the suffix and the character before it.
    let trimmed = |name: &str, suffix: &str| -> String {
        if name.ends_with(suffix) && name.len() > suffix.len() + 1 {
            let cut = name.len() - suffix.len() - 1;
            // The delimiter is one character, which may take more than one byte.
            let cut = name[..name.len() - suffix.len()].char_indices().next_back().map_or(cut, |(at, _)| at);
            name[..cut].to_string()
        } else {
            name.to_string()
        }
    };
    let ratio = unit == "1" && kind == NameKind::Gauge;
    let total = kind == NameKind::MonotonicCounter;
    let mut out = name.to_string();
    if ratio {
        out = trimmed(&out, "ratio");
    }
    if total {
        out = trimmed(&out, "total");
    }
    let (main, per) = unit_suffixes(unit);
    if !per.is_empty() {
        out = trimmed(&out, &per);
    }
    if !main.is_empty() && !out.ends_with(&main) {
        out = format!("{out}_{main}");
    }
    for (add, suffix) in [(!per.is_empty(), per.as_str()), (total, "total"), (ratio, "ratio")] {
        if add {
            out = format!("{out}_{suffix}");
        }
    }
    out
}

/// `UnderscoreEscapingWithSuffixes`: name tokens (runs of `[A-Za-z0-9:]`) with the unit's
/// and the type's tokens added, joined by `_`.
fn escaped_name_with_suffixes(name: &str, unit: &str, kind: NameKind) -> String {
    let mut tokens: Vec<String> = name.split(|c: char| !is_metric_char(c)).filter(|t| !t.is_empty()).map(str::to_string).collect();
    let (main, per) = unit_suffixes(unit);
    let (mut main, per) = (clean_unit(&main), clean_unit(&per));
    if tokens.contains(&main) {
        main.clear();
    }
    let per = if per == "per_" {
        String::new()
    } else {
        let per = per.strip_suffix('_').unwrap_or(&per).to_string();
        if tokens.contains(&per) { String::new() } else { per }
    };
    if !per.is_empty() {
        if let Some(trimmed) = main.strip_suffix('_') {
            main = trimmed.to_string();
        }
    }
    if !main.is_empty() {
        tokens.push(main);
    }
    if !per.is_empty() {
        tokens.push(per);
    }
    if kind == NameKind::MonotonicCounter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == NameKind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// An attribute value as a label value, stringified as the OpenTelemetry collector's
/// `pcommon.Value.AsString` does: strings as they are, numbers and booleans as text, bytes in
/// base64, arrays and maps as JSON.
pub fn value_text(value: Option<&AnyValue>) -> String {
    let mut out = String::new();
    match value.and_then(|v| v.value.as_ref()) {
        None => {}
        Some(any_value::Value::StringValue(s)) => out.push_str(s),
        Some(other) => push_scalar_or_json(&mut out, other, false),
    }
    out
}

fn push_scalar_or_json(out: &mut String, value: &any_value::Value, in_json: bool) {
    use any_value::Value as V;
    match value {
        V::StringValue(s) if in_json => promql::format::push_go_json_string(out, s),
        V::StringValue(s) => out.push_str(s),
        V::BoolValue(b) => out.push_str(if *b { "true" } else { "false" }),
        V::IntValue(i) => out.push_str(&i.to_string()),
        V::DoubleValue(d) => out.push_str(&float_text(*d)),
        V::BytesValue(b) if in_json => {
            out.push('"');
            out.push_str(&base64(b));
            out.push('"');
        }
        V::BytesValue(b) => out.push_str(&base64(b)),
        V::ArrayValue(array) => {
            out.push('[');
            for (i, v) in array.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_any(out, v);
            }
            out.push(']');
        }
        V::KvlistValue(list) => {
            // Go's JSON encoding of a map: keys sorted, the last of equal keys kept.
            let mut entries: std::collections::BTreeMap<&str, &AnyValue> = std::collections::BTreeMap::new();
            let empty = AnyValue::default();
            for kv in &list.values {
                entries.insert(&kv.key, kv.value.as_ref().unwrap_or(&empty));
            }
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                promql::format::push_go_json_string(out, k);
                out.push(':');
                push_json_any(out, v);
            }
            out.push('}');
        }
    }
}

fn push_json_any(out: &mut String, value: &AnyValue) {
    match &value.value {
        None => out.push_str("null"),
        Some(v) => push_scalar_or_json(out, v, true),
    }
}

/// A double as ECMAScript prints numbers (Go's shortest 'f', exponent form below 1e-6 and
/// from 1e21, exponent without leading zeros), as the collector stringifies attributes.
fn float_text(value: f64) -> String {
    if !value.is_finite() {
        return format!("json: unsupported value: {}", promql::format::go_float(value));
    }
    let text = promql::format::go_float(value);
    match text.find("e-0") {
        Some(at) if text.len() == at + 4 => format!("{}e-{}", &text[..at], &text[at + 3..]),
        _ => text,
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A bucket bound or quantile as a label value (Go's shortest 'f' form, never an exponent).
pub fn bound_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{value}")
    }
}
