//! The New Relic infrastructure agent's metric events (`/infra/v2/metrics/events/bulk`), read
//! as VictoriaMetrics reads them into events of labeled samples. Pure: bytes in, owned events
//! out; a malformed body is refused whole.

use serde_json::Value;

/// One event: its samples share its labels and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub labels: Vec<(String, String)>,
    /// (name, value), in the event's order.
    pub samples: Vec<(String, f64)>,
    pub timestamp_ms: i64,
}

/// Most events one request may make, and most samples (an empty event is three bytes of
/// JSON and much more in memory; the agent sends far fewer per request).
pub const EVENTS_PER_REQUEST_MAX: usize = 1_000_000;
pub const SAMPLES_PER_REQUEST_MAX: usize = 10_000_000;

/// Parses a bulk events body: a JSON array of posts, each with an `Events` array. In an
/// event, every number field is a sample named by its key (`timestamp` aside: seconds when
/// below 2^32, else milliseconds; none or 0 is now), every non-empty string field is a label
/// on each of the event's samples, and other fields are ignored.
pub fn parse(body: &[u8], now_ms: i64) -> Result<Vec<Event>, String> {
    let json: Value = serde_json::from_slice(body).map_err(|e| format!("invalid New Relic events JSON: {e}"))?;
    let Value::Array(posts) = json else {
        return Err("invalid New Relic events JSON: the body must be an array of posts".into());
    };
    let mut events = Vec::new();
    let mut samples = 0usize;
    for post in &posts {
        let Value::Object(post) = post else {
            return Err("invalid New Relic events JSON: a post must be an object".into());
        };
        let Some(list) = post.get("Events") else { continue };
        let Value::Array(list) = list else {
            return Err("invalid New Relic events JSON: `Events` must be an array".into());
        };
        for event in list {
            let Value::Object(fields) = event else {
                return Err("invalid New Relic events JSON: an event must be an object".into());
            };
            let mut parsed = Event { labels: Vec::new(), samples: Vec::new(), timestamp_ms: 0 };
            for (key, value) in fields.iter().filter(|(key, _)| !key.is_empty()) {
                match value {
                    Value::String(text) if !text.is_empty() => parsed.labels.push((key.clone(), text.clone())),
                    Value::Number(number) => {
                        let Some(number) = number.as_f64() else { continue };
                        if key == "timestamp" {
                            if !number.is_finite() || number.abs() >= (i64::MAX / 1000) as f64 {
                                return Err(format!("invalid New Relic events JSON: the timestamp {number} is out of range"));
                            }
                            parsed.timestamp_ms = if number < 4_294_967_296.0 { (number * 1000.0) as i64 } else { number as i64 };
                        } else {
                            parsed.samples.push((key.clone(), number));
                        }
                    }
                    _ => {}
                }
            }
            if parsed.timestamp_ms == 0 {
                parsed.timestamp_ms = now_ms;
            }
            samples += parsed.samples.len();
            if events.len() >= EVENTS_PER_REQUEST_MAX || samples > SAMPLES_PER_REQUEST_MAX {
                return Err(format!(
                    "the request makes more than {EVENTS_PER_REQUEST_MAX} events or {SAMPLES_PER_REQUEST_MAX} samples: send it in smaller requests"
                ));
            }
            events.push(parsed);
        }
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_123;

    #[test]
    fn events_become_samples_named_by_their_keys() {
        let body = br#"[{"EntityID": 1, "IsAgent": true, "Events": [
            {"eventType": "SystemSample", "timestamp": 1700000000, "entityKey": "host1",
             "cpuPercent": 25.5, "memoryFreeBytes": 1024, "empty": "", "nested": {"a": 1}, "flag": true},
            {"eventType": "ProcessSample", "timestamp": 1700000010123, "cpuPercent": 3},
            {"eventType": "NetworkSample", "receiveBytesPerSecond": 7}
        ]}, {"Other": []}]"#;
        let events = parse(body, NOW).unwrap();
        assert_eq!(events.len(), 3);
        let labels = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        let first = &events[0];
        let mut first_labels = first.labels.clone();
        first_labels.sort();
        assert_eq!(first_labels, labels(&[("entityKey", "host1"), ("eventType", "SystemSample")]));
        let mut samples = first.samples.clone();
        samples.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(samples, vec![("cpuPercent".to_string(), 25.5), ("memoryFreeBytes".to_string(), 1024.0)]);
        assert_eq!(first.timestamp_ms, 1_700_000_000_000, "seconds below 2^32");
        assert_eq!(events[1].timestamp_ms, 1_700_000_010_123, "milliseconds past it");
        assert_eq!(events[2].timestamp_ms, NOW, "no timestamp: now");
        for (body, needle) in [(&b"{}"[..], "array of posts"), (b"[1]", "post must be an object"), (b"[{\"Events\": 1}]", "must be an array"), (b"[{\"Events\": [1]}]", "event must be an object"), (b"nope", "invalid")] {
            let problem = parse(body, NOW).unwrap_err();
            assert!(problem.contains(needle), "{problem}");
        }
    }
}
