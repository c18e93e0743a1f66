//! OTLP exemplars as Prometheus 3.x stores them: labels `trace_id` and `span_id` (lowercase
//! hex, when set) and the filtered attributes (left out when they would take the labels past
//! `EXEMPLAR_LABELS_CHARS_MAX` characters), the value, the time in milliseconds. One that
//! breaks remote_write's exemplar rules anyway is skipped and counted; only what Prometheus
//! refuses a request for (no value, an ID of the wrong size) refuses it.

use proto::otlp_metrics::{exemplar, Exemplar as OtlpExemplar};
use tsdb::{Exemplar, Label, Labels, EXEMPLAR_LABELS_CHARS_MAX};

use super::naming::value_text;

pub(super) const TRACE_ID_LABEL: &str = "trace_id";
pub(super) const SPAN_ID_LABEL: &str = "span_id";
/// OTLP's trace and span ID sizes; an empty ID means none.
const TRACE_ID_BYTES: usize = 16;
const SPAN_ID_BYTES: usize = 8;

/// A data point's exemplars: those kept, and how many were skipped as invalid.
#[derive(Debug, Default)]
pub(super) struct PointExemplars {
    pub kept: Vec<Exemplar>,
    pub invalid: u64,
}

/// Refuses IDs of the wrong size, as OTLP decoding in Prometheus (the collector's `pdata`)
/// refuses the whole request for them.
pub(super) fn check_ids(exemplars: &[OtlpExemplar]) -> Result<(), String> {
    for e in exemplars {
        for (what, id, size) in [(TRACE_ID_LABEL, &e.trace_id, TRACE_ID_BYTES), (SPAN_ID_LABEL, &e.span_id, SPAN_ID_BYTES)] {
            if !id.is_empty() && id.len() != size {
                return Err(format!("an exemplar's {what} is {} bytes, not {size}", id.len()));
            }
        }
    }
    Ok(())
}

/// A data point's exemplars as Prometheus stores them, or why the point is refused (an ID
/// of the wrong size, an exemplar without a value: Prometheus refuses the request for those).
pub(super) fn convert(exemplars: &[OtlpExemplar]) -> Result<PointExemplars, String> {
    check_ids(exemplars)?;
    let mut out = PointExemplars { kept: Vec::with_capacity(exemplars.len()), invalid: 0 };
    for e in exemplars {
        let value = match e.value {
            Some(exemplar::Value::AsDouble(v)) => v,
            Some(exemplar::Value::AsInt(v)) => v as f64,
            None => return Err("an exemplar has no value (neither as_double nor as_int)".into()),
        };
        match labels_of(e) {
            Some(labels) => out.kept.push(Exemplar { labels, value, timestamp_ms: super::timestamp_ms(e.time_unix_nano), own_timestamp: true }),
            None => out.invalid += 1,
        }
    }
    Ok(out)
}

/// The index of the first of `bounds` at or above `value` (its classic histogram bucket),
/// `bounds.len()` (the `+Inf` bucket) when there is none.
pub(super) fn bucket_of(value: f64, bounds: &[f64]) -> usize {
    bounds.iter().position(|&bound| value <= bound).unwrap_or(bounds.len())
}

/// An ID as a label value: lowercase hex, `None` when empty or all zero (not set).
fn id_text(id: &[u8]) -> Option<String> {
    if id.iter().all(|&b| b == 0) {
        return None;
    }
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    Some(id.iter().flat_map(|&b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect())
}

fn chars(name: &str, value: &str) -> usize {
    name.chars().count() + value.chars().count()
}

/// The exemplar's labels, or `None` when remote_write would skip an exemplar with them: a
/// name that is empty or repeated, or names and values over `EXEMPLAR_LABELS_CHARS_MAX`
/// characters together. Labels with an empty value are dropped, as a series' are.
fn labels_of(e: &OtlpExemplar) -> Option<Labels> {
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(2 + e.filtered_attributes.len());
    for (name, id) in [(TRACE_ID_LABEL, &e.trace_id), (SPAN_ID_LABEL, &e.span_id)] {
        if let Some(text) = id_text(id) {
            pairs.push((name.to_string(), text));
        }
    }
    let attributes: Vec<(String, String)> = e.filtered_attributes.iter().map(|kv| (kv.key.clone(), value_text(kv.value.as_ref()))).collect();
    let total: usize = pairs.iter().chain(&attributes).map(|(n, v)| chars(n, v)).sum();
    // Prometheus keeps the IDs and leaves the attributes out rather than lose the exemplar.
    if total <= EXEMPLAR_LABELS_CHARS_MAX {
        pairs.extend(attributes);
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    if pairs.iter().enumerate().any(|(i, (name, _))| name.is_empty() || (i > 0 && pairs[i - 1].0 == *name)) {
        return None;
    }
    if pairs.iter().map(|(n, v)| chars(n, v)).sum::<usize>() > EXEMPLAR_LABELS_CHARS_MAX {
        return None;
    }
    Some(Labels::from_sorted(pairs.into_iter().filter(|(_, v)| !v.is_empty()).map(|(name, value)| Label { name, value })))
}
