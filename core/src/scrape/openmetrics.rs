//! Scrape answers in OpenMetrics 1.0 text (`application/openmetrics-text`), read as
//! Prometheus reads them by default, by rewriting them into the Prometheus text format the
//! scrape loop reads:
//! - the body must end with `# EOF` (nothing after it but the final line break);
//! - a sample's timestamp is in seconds (a float) and becomes milliseconds, truncated as
//!   Prometheus truncates it;
//! - an exemplar (` # {labels} value [timestamp]` after the sample) is read as Prometheus'
//!   lexer reads it and kept on its line with its timestamp in milliseconds
//!   (`scrape::exemplar`);
//! - `_created` samples are series like any other (Prometheus ingests them unless its
//!   created-timestamp feature is on);
//! - `# TYPE`, `# HELP` and `# UNIT` stay for `/api/v1/metadata` (`unknown` as the text
//!   format's `untyped`; HELP with its OpenMetrics escapes, read as such for an answer of
//!   `scrape_loop::Format::OpenMetrics`); other comments are refused.
//!
//! Targets are asked for OpenMetrics first unless `scrape_protocols` says otherwise.

/// The body rewritten in the text format, line for line (so that a line number in an error
/// is the target's), or why it is not valid OpenMetrics (the line).
pub fn to_text(body: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the response is not UTF-8 text: {e}"))?;
    // `# EOF` ends the body; only its own line break may follow.
    let Some(content) = text.strip_suffix("# EOF\n").or_else(|| text.strip_suffix("# EOF")).filter(|c| c.is_empty() || c.ends_with('\n')) else {
        return Err(match text.find("# EOF\n") {
            Some(_) => "OpenMetrics: unexpected data after # EOF".to_string(),
            None => "OpenMetrics: the data does not end with # EOF".to_string(),
        });
    };
    let mut out = String::with_capacity(content.len());
    for (index, line) in content.split_terminator('\n').enumerate() {
        let bad = |problem: String| format!("OpenMetrics line {}: {problem}", index + 1);
        if let Some(comment) = line.strip_prefix('#') {
            rewrite_comment(comment, &mut out).map_err(bad)?;
        } else {
            rewrite_sample(line, &mut out).map_err(bad)?;
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// A `# HELP`, `# TYPE` or `# UNIT` line (after its `#`) in the text format's words.
fn rewrite_comment(comment: &str, out: &mut String) -> Result<(), String> {
    let invalid = || "a comment must be # HELP, # TYPE, # UNIT or # EOF followed by a metric name".to_string();
    let rest = comment.strip_prefix(' ').ok_or_else(invalid)?;
    let (keyword, rest) = rest.split_once(' ').ok_or_else(invalid)?;
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Err(invalid());
    }
    // A UTF-8 family name comes quoted; it is written back as it came.
    let (name, after) = crate::ingest::text_format::comment_family(rest).ok_or_else(|| format!("a quoted metric name does not end in # {keyword} {rest}"))?;
    let family = &rest[..rest.len() - after.len()];
    let text = after.strip_prefix(' ').ok_or_else(|| format!("expected text after # {keyword} {rest}"))?;
    if name.is_empty() {
        return Err(invalid());
    }
    match keyword {
        "TYPE" => {
            let kind = match text {
                "unknown" => "untyped",
                "counter" | "gauge" | "histogram" | "gaugehistogram" | "summary" | "info" | "stateset" => text,
                other => return Err(format!("invalid metric type {other:?}")),
            };
            out.push_str(&format!("# TYPE {family} {kind}"));
        }
        // Kept as written: the metadata reads it with OpenMetrics' escapes
        // (`scrape_loop::Format::OpenMetrics`).
        "HELP" => out.push_str(&format!("# HELP {family} {text}")),
        "UNIT" => {
            if !text.is_empty() && !name.strip_suffix(text).is_some_and(|head| head.len() > 1 && head.ends_with('_')) {
                return Err(format!("unit {text:?} not a suffix of metric {family:?}"));
            }
            out.push_str(&format!("# UNIT {family} {text}"));
        }
        _ => return Err(invalid()),
    }
    Ok(())
}

/// A sample line (`name{labels} value [timestamp] [# exemplar]`, single spaces) in the text
/// format: the timestamp in milliseconds, the exemplar's too.
fn rewrite_sample(line: &str, out: &mut String) -> Result<(), String> {
    if line.is_empty() {
        return Err("empty line".into());
    }
    if line.starts_with(char::is_whitespace) {
        return Err("a line must start with a metric name".into());
    }
    let (series, rest) = split_series(line).ok_or_else(|| "a label block does not end".to_string())?;
    // A UTF-8 metric name comes quoted, first inside the braces.
    if series.is_empty() || (series.starts_with('{') && !series.starts_with("{\"")) {
        return Err("a line must start with a metric name".into());
    }
    let rest = rest.strip_prefix(' ').ok_or_else(|| format!("expected one space and a value after {series:?}"))?;
    let (sample, exemplar) = super::exemplar::split(rest);
    let exemplar = exemplar.map(|text| super::exemplar::parse(text, super::exemplar::TimestampUnit::Seconds)).transpose()?;
    let fields: Vec<&str> = sample.split(' ').collect();
    if fields.iter().any(|f| f.is_empty()) || fields.len() > 2 || sample.contains('#') {
        return Err(format!("expected a value and perhaps a timestamp, each after one space, got {sample:?}"));
    }
    let value = fields[0];
    crate::ingest::text_format::parse_value(value).ok_or_else(|| format!("invalid value {value:?}"))?;
    out.push_str(series);
    out.push(' ');
    out.push_str(value);
    if let Some(seconds) = fields.get(1) {
        let seconds: f64 = seconds.parse().ok().filter(|s: &f64| s.is_finite()).ok_or_else(|| format!("invalid timestamp {seconds:?} (seconds expected)"))?;
        // Go's int64(ts * 1000): truncated toward zero.
        out.push(' ');
        out.push_str(&((seconds * 1000.0) as i64).to_string());
    }
    if let Some(e) = exemplar {
        super::exemplar::push(out, e.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())), e.value, e.timestamp_ms);
    }
    Ok(())
}

/// The series part of a sample line (its name and label block) and the rest.
fn split_series(line: &str) -> Option<(&str, &str)> {
    super::scrape_loop::split_series(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> Result<String, String> {
        to_text(body.as_bytes()).map(|t| String::from_utf8(t).unwrap_or_default())
    }

    #[test]
    fn a_body_is_rewritten_as_the_text_format() {
        let body = "# HELP http_requests Requests \\\\ \\\"served\\\".\n# TYPE http_requests counter\n# UNIT http_requests_seconds seconds\nhttp_requests_total{path=\"/a # b\"} 7 1700000000.1239 # {trace_id=\"abc\"} 1 1700000000.5\nhttp_requests_created{path=\"/a # b\"} 1.6999e9\n# TYPE build info\nbuild_info{version=\"1\"} 1\n# TYPE odd unknown\nodd NaN -1.5\n# EOF\n";
        assert_eq!(
            text(body).as_deref(),
            Ok("# HELP http_requests Requests \\\\ \\\"served\\\".\n# TYPE http_requests counter\n# UNIT http_requests_seconds seconds\nhttp_requests_total{path=\"/a # b\"} 7 1700000000123 # {trace_id=\"abc\"} 1.0 1700000000500\nhttp_requests_created{path=\"/a # b\"} 1.6999e9\n# TYPE build info\nbuild_info{version=\"1\"} 1\n# TYPE odd untyped\nodd NaN -1500\n")
        );
        assert_eq!(text("# EOF").as_deref(), Ok(""), "no final line break");
        assert_eq!(text("# HELP a \n# EOF\n").as_deref(), Ok("# HELP a \n"), "an empty help text");
    }

    #[test]
    fn invalid_bodies_are_named_as_prometheus_refuses_them() {
        let error = |body: &str| text(body).expect_err(body);
        assert_eq!(error("a 1\n"), "OpenMetrics: the data does not end with # EOF");
        assert_eq!(error("a 1\n#EOF\n"), "OpenMetrics: the data does not end with # EOF");
        assert_eq!(error("a 1\n# EOF\r\n"), "OpenMetrics: the data does not end with # EOF");
        assert_eq!(error("a 1\n# EOF\nb 2\n"), "OpenMetrics: unexpected data after # EOF");
        assert_eq!(error("a 1\n# EOF\n\n"), "OpenMetrics: unexpected data after # EOF");
        assert_eq!(error("# TYPE a untyped\n# EOF\n"), "OpenMetrics line 1: invalid metric type \"untyped\"");
        assert_eq!(error("a 1\n\nb 2\n# EOF\n"), "OpenMetrics line 2: empty line");
        assert_eq!(error(" my_metric 5\n# EOF\n"), "OpenMetrics line 1: a line must start with a metric name");
        assert!(error("{a=\"b\"} 5\n# EOF\n").contains("must start with a metric name"));
        assert!(error("a  1\n# EOF\n").contains("each after one space"));
        assert!(error("a 1 \n# EOF\n").contains("each after one space"));
        assert!(error("a\t1\n# EOF\n").contains("expected one space"));
        assert!(error("a 1\r\n# EOF\n").contains("line 1"));
        assert!(error("# a comment\n# EOF\n").contains("a comment must be # HELP, # TYPE, # UNIT or # EOF"));
        assert!(error("# HELP a\n# EOF\n").contains("expected text after # HELP a"));
        assert!(error("# UNIT a_bytes seconds\n# EOF\n").contains("unit \"seconds\" not a suffix of metric \"a_bytes\""));
        assert!(error("a 1 12s\n# EOF\n").contains("invalid timestamp \"12s\" (seconds expected)"));
        assert!(error("a 1 # trace\n# EOF\n").contains("a label block must follow '# '"));
        assert!(error("a 1 # {a=\"b\"}  1\n# EOF\n").contains("invalid exemplar"), "two spaces");
        assert!(error("a 1 # {t=\"x\"} one\n# EOF\n").contains("invalid exemplar value \"one\""));
        assert!(error("a 1 # {t=\"x\"} 1 NaN\n# EOF\n").contains("invalid exemplar timestamp"));
        assert!(error("a{b=\"c 1\n# EOF\n").contains("a label block does not end"));
        assert!(error("a\n# EOF\n").contains("expected one space"));
        assert!(error("a 1 2 3\n# EOF\n").contains("each after one space"));
        assert!(to_text(b"\xff\n# EOF\n").is_err());
    }
}
