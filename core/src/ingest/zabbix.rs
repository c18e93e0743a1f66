//! Zabbix connectors' item values (Zabbix 6.4 and later stream them as newline-delimited
//! JSON, its real-time export format), read as VictoriaMetrics reads them: each numeric value
//! (`type` 0, float, or 3, unsigned) is a sample of the series named by the item's `name`,
//! labeled `host` and `hostname` (the host's technical and visible names), `tag_<tag>` per
//! item tag, and optionally `group_<group>` per host group; `clock` seconds plus `ns`
//! nanoseconds is its time. Values of other types (text, log, character) are not samples.

use serde_json::Value;

/// How a Zabbix item's host groups and tags become labels (VictoriaMetrics'
/// `-zabbixconnector.*` flags; all off by default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ZabbixLabels {
    /// Each host group `g` becomes a label `group_g` with this value (`None`: groups are not
    /// labels).
    pub groups_value: Option<String>,
    /// A tag without a value becomes a label with this one (`None`: it is left out).
    pub empty_tags_value: Option<String>,
    /// The values of a tag given more than once are joined with this (`None`: the last
    /// counts).
    pub duplicate_tags_separator: Option<String>,
}

/// One numeric item value: its metric (the item's name), its other labels in the order
/// read, and its time and value.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemValue {
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub timestamp_ms: i64,
    pub value: f64,
}

/// Reads one line: `Ok(None)` for a blank line or a value of a type that is not numeric, the
/// problem for a line that is not an item value.
pub fn parse_line(line: &str, labels: &ZabbixLabels) -> Result<Option<ItemValue>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let json: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(item) = json else {
        return Err("an item value must be a JSON object".into());
    };
    match item.get("type").and_then(Value::as_i64) {
        Some(0 | 3) => {}
        Some(_) => return Ok(None),
        None => return Err("no integer \"type\"".into()),
    }
    let text = |object: &serde_json::Map<String, Value>, key: &str, what: &str| -> Result<String, String> {
        match object.get(key) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text.clone()),
            _ => Err(format!("no {what}")),
        }
    };
    let Some(Value::Object(host)) = item.get("host") else {
        return Err("no \"host\" object".into());
    };
    let mut out = ItemValue {
        metric: text(&item, "name", "item \"name\"")?,
        labels: vec![("host".into(), text(host, "host", "\"host\".\"host\"")?), ("hostname".into(), text(host, "name", "\"host\".\"name\"")?)],
        timestamp_ms: 0,
        value: 0.0,
    };
    out.value = match item.get("value") {
        Some(Value::Number(number)) => number.as_f64().ok_or("a \"value\" out of range")?,
        _ => return Err("no numeric \"value\"".into()),
    };
    let integer = |key: &str| item.get(key).and_then(Value::as_i64).ok_or_else(|| format!("no integer \"{key}\""));
    let (clock, ns) = (integer("clock")?, integer("ns")?);
    out.timestamp_ms = clock.checked_mul(1000).and_then(|ms| ms.checked_add(ns / 1_000_000)).ok_or_else(|| format!("\"clock\" {clock} is out of range"))?;
    if let Some(value) = &labels.groups_value {
        let Some(Value::Array(groups)) = item.get("groups") else {
            return Err("no \"groups\" array".into());
        };
        for group in groups.iter().filter_map(Value::as_str).filter(|g| !g.is_empty()) {
            out.labels.push((format!("group_{group}"), value.clone()));
        }
    }
    let Some(Value::Array(tags)) = item.get("item_tags") else {
        return Err("no \"item_tags\" array".into());
    };
    let mut tag_labels: Vec<(String, String)> = Vec::new();
    for tag in tags {
        let Some(name) = tag.get("tag").and_then(Value::as_str).filter(|n| !n.is_empty()) else { continue };
        let value = match (tag.get("value").and_then(Value::as_str).unwrap_or(""), &labels.empty_tags_value) {
            ("", None) => continue,
            ("", Some(empty)) => empty.as_str(),
            (value, _) => value,
        };
        let name = format!("tag_{name}");
        match (&labels.duplicate_tags_separator, tag_labels.iter_mut().find(|(n, _)| *n == name)) {
            (Some(separator), Some((_, joined))) => {
                joined.push_str(separator);
                joined.push_str(value);
            }
            _ => tag_labels.push((name, value.to_string())),
        }
    }
    out.labels.extend(tag_labels);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item value as a Zabbix 7 connector sends it (its documentation's example, with
    /// tags and groups added).
    const LINE: &str = r#"{"host":{"host":"web-01","name":"Web server 1"},"groups":["Linux servers","Web"],"item_tags":[{"tag":"component","value":"cpu"},{"tag":"env","value":"prod"},{"tag":"env","value":"eu"},{"tag":"bare","value":""}],"itemid":44457,"name":"CPU utilization","clock":1700000000,"ns":123456789,"value":12.5,"type":0}"#;

    fn pairs(labels: &[(&str, &str)]) -> Vec<(String, String)> {
        labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn numeric_values_become_samples_labeled_as_victoriametrics_labels_them() {
        let value = parse_line(LINE, &ZabbixLabels::default()).expect("an item value").expect("numeric");
        assert_eq!(value.metric, "CPU utilization");
        assert_eq!((value.timestamp_ms, value.value), (1_700_000_000_123, 12.5));
        // A tag given twice: both kept in order here, the last counts when stored.
        assert_eq!(value.labels, pairs(&[("host", "web-01"), ("hostname", "Web server 1"), ("tag_component", "cpu"), ("tag_env", "prod"), ("tag_env", "eu")]));

        let all = ZabbixLabels { groups_value: Some("1".into()), empty_tags_value: Some("true".into()), duplicate_tags_separator: Some(",".into()) };
        let value = parse_line(&format!("{LINE}\r"), &all).expect("an item value").expect("numeric");
        assert_eq!(
            value.labels,
            pairs(&[
                ("host", "web-01"),
                ("hostname", "Web server 1"),
                ("group_Linux servers", "1"),
                ("group_Web", "1"),
                ("tag_component", "cpu"),
                ("tag_env", "prod,eu"),
                ("tag_bare", "true"),
            ])
        );
        // An unsigned value (type 3) as large as Zabbix allows.
        let unsigned = LINE.replace(r#""value":12.5,"type":0"#, r#""value":18446744073709551615,"type":3"#);
        assert_eq!(parse_line(&unsigned, &ZabbixLabels::default()).expect("an item value").expect("numeric").value, 18_446_744_073_709_551_615.0);
    }

    #[test]
    fn other_types_and_blank_lines_are_not_samples_and_bad_lines_are_named() {
        let none = ZabbixLabels::default();
        for kind in [1, 2, 4] {
            let text = LINE.replace(r#""value":12.5,"type":0"#, &format!(r#""value":"some text","type":{kind}"#));
            assert_eq!(parse_line(&text, &none), Ok(None), "type {kind}");
        }
        assert_eq!(parse_line("  ", &none), Ok(None));
        let bad = |from: &str, to: &str| parse_line(&LINE.replace(from, to), &none).expect_err("a bad line");
        assert!(bad(r#""type":0"#, r#""type":"0""#).contains("\"type\""));
        assert!(bad(r#""host":"web-01","#, "").contains("\"host\".\"host\""));
        assert!(bad(r#""name":"CPU utilization","#, "").contains("item \"name\""));
        assert!(bad(r#""value":12.5"#, r#""value":"12.5""#).contains("numeric \"value\""));
        assert!(bad(r#""ns":123456789,"#, "").contains("\"ns\""));
        assert!(bad(r#""clock":1700000000"#, r#""clock":9223372036854775807"#).contains("out of range"));
        assert!(bad(r#""item_tags":"#, r#""tags":"#).contains("\"item_tags\""));
        assert!(parse_line("{not json", &none).expect_err("bad").starts_with("not JSON"));
        assert!(parse_line("[1]", &none).expect_err("bad").contains("object"));
        let groups = ZabbixLabels { groups_value: Some("1".into()), ..ZabbixLabels::default() };
        assert!(parse_line(&LINE.replace(r#""groups":["Linux servers","Web"],"#, ""), &groups).expect_err("bad").contains("\"groups\""));
    }
}
