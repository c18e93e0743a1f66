//! `/api/v1/status/self_metrics`: the server's own metrics as Prometheus 3 answers them for
//! its UI, a JSON array of `io.prometheus.client.MetricFamily` messages in the protobuf JSON
//! mapping, built from the `/metrics` exposition so both always show the same figures.

use super::ApiError;
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::text_format;

/// One family as the exposition gives it.
struct Family {
    name: String,
    help: Option<String>,
    kind: &'static str,
    /// Each metric's labels (its name among them) and value.
    metrics: Vec<(tsdb::Labels, f64)>,
}

/// The families of `exposition` (the `/metrics` exposition) whose names fully match `pattern`
/// (`metric_name_pattern`; all when empty), as the JSON array, each family in the protobuf
/// JSON mapping:
/// `{"name","help","type":"COUNTER","metric":[{"label":[…],"counter":{"value"}}]}`.
pub fn families_json(exposition: &str, pattern: Option<&str>) -> Result<String, ApiError> {
    let filter = match pattern.filter(|p| !p.is_empty()) {
        Some(p) => Some(regex::Regex::new(&format!("^(?:{p})$")).map_err(|e| ApiError::bad_data(format!("invalid metric_name_pattern: {e}")))?),
        None => None,
    };
    let families = read_families(exposition)?;
    let mut out = String::from("[");
    for family in families.iter().filter(|f| filter.as_ref().is_none_or(|r| r.is_match(&f.name))) {
        if out.len() > 1 {
            out.push(',');
        }
        push_family(&mut out, family);
    }
    out.push(']');
    Ok(out)
}

/// The families of `exposition`. That exposition has counters and gauges only; a family of
/// another type is written untyped.
fn read_families(exposition: &str) -> Result<Vec<Family>, ApiError> {
    let mut families: Vec<Family> = Vec::new();
    let limits = LabelLimits::default();
    for (number, line) in exposition.lines().enumerate() {
        if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
            let Some((name, after)) = text_format::comment_family(rest) else { continue };
            let family = family_named(&mut families, &name);
            if line.starts_with("# HELP ") {
                family.help = Some(unescape_help(after.trim_start()));
            } else {
                family.kind = match after.trim() {
                    "counter" => "COUNTER",
                    "gauge" => "GAUGE",
                    _ => "UNTYPED",
                };
            }
            continue;
        }
        let parsed = text_format::parse_line(line, number + 1, 0, &limits).map_err(|e| ApiError::internal(format!("cannot read the server's own metrics: {e}")))?;
        let Some((labels, sample)) = parsed else { continue };
        let name = labels.metric_name().unwrap_or_default().to_string();
        family_named(&mut families, &name).metrics.push((labels, sample.value));
    }
    Ok(families)
}

/// The family called `name`, added (untyped, no help) when it is new.
fn family_named<'a>(families: &'a mut Vec<Family>, name: &str) -> &'a mut Family {
    let at = match families.iter().position(|f| f.name == name) {
        Some(at) => at,
        None => {
            families.push(Family { name: name.to_string(), help: None, kind: "UNTYPED", metrics: Vec::new() });
            families.len() - 1
        }
    };
    &mut families[at]
}

/// A `# HELP` text as written: `\\` and `\n` are its escapes.
fn unescape_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some('\\')) => {
                out.push('\\');
                chars.next();
            }
            ('\\', Some('n')) => {
                out.push('\n');
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

fn push_family(out: &mut String, family: &Family) {
    out.push_str("{\"name\":");
    super::json::push_json_string(out, &family.name);
    if let Some(help) = &family.help {
        out.push_str(",\"help\":");
        super::json::push_json_string(out, help);
    }
    out.push_str(",\"type\":\"");
    out.push_str(family.kind);
    out.push_str("\",\"metric\":[");
    let field = match family.kind {
        "COUNTER" => "counter",
        "GAUGE" => "gauge",
        _ => "untyped",
    };
    for (i, (labels, value)) in family.metrics.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('{');
        let mut others = labels.iter().filter(|l| l.name != tsdb::METRIC_NAME_LABEL).peekable();
        if others.peek().is_some() {
            out.push_str("\"label\":[");
            for (j, label) in others.enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"name\":");
                super::json::push_json_string(out, label.name);
                out.push_str(",\"value\":");
                super::json::push_json_string(out, label.value);
                out.push('}');
            }
            out.push_str("],");
        }
        out.push('"');
        out.push_str(field);
        out.push_str("\":{\"value\":");
        push_proto_json_double(out, *value);
        out.push_str("}}");
    }
    out.push_str("]}");
}

/// A double in the protobuf JSON mapping: a number, or the strings `"NaN"`, `"Infinity"`,
/// `"-Infinity"`.
fn push_proto_json_double(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("\"NaN\"");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
    } else {
        promql::format::push_go_float(out, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPOSITION: &str = "# HELP a_total Things done.\n# TYPE a_total counter\na_total 3\n\
        # HELP b Open \\\\ now\\nand then.\n# TYPE b gauge\nb{shard=\"0\"} 1.5\nb{shard=\"1\",x=\"q\\\"\"} NaN\n\
        # shard statistics unavailable: gone\nc +Inf\n";

    #[test]
    fn families_are_written_in_the_protobuf_json_mapping() {
        let json = families_json(EXPOSITION, None).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"[{"name":"a_total","help":"Things done.","type":"COUNTER","metric":[{"counter":{"value":3}}]},"#,
                r#"{"name":"b","help":"Open \\ now\nand then.","type":"GAUGE","metric":[{"label":[{"name":"shard","value":"0"}],"gauge":{"value":1.5}},"#,
                r#"{"label":[{"name":"shard","value":"1"},{"name":"x","value":"q\""}],"gauge":{"value":"NaN"}}]},"#,
                r#"{"name":"c","type":"UNTYPED","metric":[{"untyped":{"value":"Infinity"}}]}]"#
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.as_array().map(Vec::len), Some(3));
    }

    #[test]
    fn the_pattern_must_match_the_whole_name() {
        assert_eq!(families_json(EXPOSITION, Some("a_.*")).unwrap().matches("\"name\":\"a_total\"").count(), 1);
        assert_eq!(families_json(EXPOSITION, Some("a")).unwrap(), "[]");
        assert_eq!(families_json(EXPOSITION, Some("b|c")).unwrap().matches("\"type\"").count(), 2);
        assert_eq!(families_json(EXPOSITION, Some("")).unwrap().matches("\"type\"").count(), 3);
        let err = families_json(EXPOSITION, Some("(")).unwrap_err();
        assert!(err.message.contains("invalid metric_name_pattern"), "{}", err.message);
    }
}
