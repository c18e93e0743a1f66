//! The body of a POST to Alertmanager's `/api/v2/alerts`: a JSON list of `PostableAlert`s as
//! Prometheus writes them (`annotations` left out when empty, `endsAt` and `startsAt` always,
//! in RFC3339 UTC with milliseconds, `generatorURL` left out when empty, `labels` always).

use serde_json::{Map, Value};

use super::Alert;
use crate::api::status::rfc3339;

/// Go's zero time as `strfmt.DateTime` writes it: an alert without an end (Alertmanager
/// reads it as unset).
const ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// The JSON list of `alerts`.
pub fn alerts_body(alerts: &[Alert]) -> Vec<u8> {
    let list: Vec<Value> = alerts.iter().map(postable_alert).collect();
    // Writing a Value built of maps and strings cannot fail.
    serde_json::to_vec(&list).unwrap_or_else(|_| b"[]".to_vec())
}

fn postable_alert(alert: &Alert) -> Value {
    let mut object = Map::new();
    if !alert.annotations.is_empty() {
        object.insert("annotations".into(), string_map(&alert.annotations));
    }
    object.insert("endsAt".into(), Value::String(alert.ends_at_ms.map_or_else(|| ZERO_TIME.to_string(), rfc3339)));
    object.insert("startsAt".into(), Value::String(rfc3339(alert.starts_at_ms)));
    if !alert.generator_url.is_empty() {
        object.insert("generatorURL".into(), Value::String(alert.generator_url.clone()));
    }
    object.insert("labels".into(), string_map(&alert.labels));
    Value::Object(object)
}

fn string_map(map: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(map.iter().map(|(name, value)| (name.clone(), Value::String(value.clone()))).collect())
}
