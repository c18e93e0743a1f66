//! Scrape answers in OpenMetrics 1.0 text (`application/openmetrics-text`), read as
//! Prometheus reads them by default, by rewriting them into the Prometheus text format the
//! scrape loop reads:
//! - the body must end with `# EOF` (nothing after it but the final line break);
//! - a sample's timestamp is in seconds (a float) and becomes milliseconds, truncated as
//!   Prometheus truncates it;
//! - an exemplar (` # {labels} value [timestamp]` after the sample) is checked for its form
//!   and left out (Prometheus keeps scraped exemplars only with its exemplar storage
//!   feature, off by default);
//! - `_created` samples are series like any other (Prometheus ingests them unless its
//!   created-timestamp feature is on);
//! - `# TYPE` and `# HELP` stay for `/api/v1/metadata` (`unknown` as the text format's
//!   `untyped`; `gaugehistogram`, `info` and `stateset` as they are); `# UNIT` and other
//!   comments are left out.
//!
//! Targets are asked for the text format first (the `Accept` header), so this serves
//! targets that answer OpenMetrics only.

/// The body rewritten in the text format, or why it is not valid OpenMetrics (the line).
pub fn to_text(body: &[u8]) -> Result<Vec<u8>, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("the response is not UTF-8 text: {e}"))?;
    let mut out = String::with_capacity(text.len());
    let mut ended = false;
    for (index, line) in text.split('\n').enumerate() {
        let bad = |problem: String| format!("OpenMetrics line {}: {problem}", index + 1);
        if ended {
            if line.is_empty() {
                continue;
            }
            return Err(bad("unexpected data after # EOF".into()));
        }
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim_start();
            if comment == "EOF" {
                ended = true;
                continue;
            }
            let (keyword, rest) = comment.split_once([' ', '\t']).unwrap_or((comment, ""));
            match keyword {
                "TYPE" => {
                    let (family, kind) = rest.trim_start().split_once([' ', '\t']).map_or((rest.trim(), ""), |(f, k)| (f, k.trim()));
                    let kind = match kind {
                        "unknown" => "untyped",
                        "counter" | "gauge" | "histogram" | "gaugehistogram" | "summary" | "info" | "stateset" => kind,
                        other => return Err(bad(format!("invalid metric type {other:?}"))),
                    };
                    out.push_str(&format!("# TYPE {family} {kind}\n"));
                }
                "HELP" => {
                    out.push_str(line);
                    out.push('\n');
                }
                _ => {}
            }
            continue;
        }
        let (series, rest) = split_series(line).ok_or_else(|| bad("a label block does not end".into()))?;
        // The value and timestamp hold no `#`: what follows one is the exemplar.
        let (sample, exemplar) = match rest.split_once('#') {
            Some((sample, exemplar)) => (sample, Some(exemplar)),
            None => (rest, None),
        };
        if let Some(exemplar) = exemplar {
            check_exemplar(exemplar).map_err(bad)?;
        }
        let mut fields = sample.split_whitespace();
        let value = fields.next().ok_or_else(|| bad("missing value".into()))?;
        let timestamp_ms = match fields.next() {
            None => None,
            Some(seconds) => {
                let seconds: f64 = seconds.parse().ok().filter(|s: &f64| s.is_finite()).ok_or_else(|| bad(format!("invalid timestamp {seconds:?} (seconds expected)")))?;
                // Go's int64(ts * 1000): truncated toward zero.
                Some((seconds * 1000.0) as i64)
            }
        };
        if let Some(extra) = fields.next() {
            return Err(bad(format!("unexpected {extra:?} after the timestamp")));
        }
        out.push_str(series.trim_end());
        out.push(' ');
        out.push_str(value);
        if let Some(ms) = timestamp_ms {
            out.push(' ');
            out.push_str(&ms.to_string());
        }
        out.push('\n');
    }
    if !ended {
        return Err("OpenMetrics: the data does not end with # EOF".into());
    }
    Ok(out.into_bytes())
}

/// The series part of a sample line (its name and label block) and the rest.
fn split_series(line: &str) -> Option<(&str, &str)> {
    super::scrape_loop::split_series(line)
}

/// An exemplar after a sample's `#`: a label block, a value, perhaps a timestamp.
fn check_exemplar(text: &str) -> Result<(), String> {
    let text = text.trim_start();
    if !text.starts_with('{') {
        return Err(format!("invalid exemplar {text:?}: a label block must follow '#'"));
    }
    let (_, rest) = split_series(text).ok_or_else(|| format!("invalid exemplar {text:?}: its label block does not end"))?;
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or_else(|| format!("invalid exemplar {text:?}: missing value"))?;
    crate::ingest::text_format::parse_value(value).ok_or_else(|| format!("invalid exemplar value {value:?}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<f64>().map_err(|_| format!("invalid exemplar timestamp {ts:?}"))?;
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the exemplar"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> Result<String, String> {
        to_text(body.as_bytes()).map(|t| String::from_utf8(t).unwrap_or_default())
    }

    #[test]
    fn a_body_is_rewritten_as_the_text_format() {
        let body = "# HELP http_requests Requests \\\\ served.\n# TYPE http_requests counter\n# UNIT http_requests_seconds seconds\nhttp_requests_total{path=\"/a # b\"} 7 1700000000.1239 # {trace_id=\"abc\"} 1 1700000000.5\nhttp_requests_created{path=\"/a # b\"} 1.6999e9\n# TYPE build info\nbuild_info{version=\"1\"} 1\n# TYPE odd unknown\nodd NaN -1.5\n# EOF\n";
        assert_eq!(
            text(body).as_deref(),
            Ok("# HELP http_requests Requests \\\\ served.\n# TYPE http_requests counter\nhttp_requests_total{path=\"/a # b\"} 7 1700000000123\nhttp_requests_created{path=\"/a # b\"} 1.6999e9\n# TYPE build info\nbuild_info{version=\"1\"} 1\n# TYPE odd untyped\nodd NaN -1500\n")
        );
        assert_eq!(text("# EOF").as_deref(), Ok(""), "no final line break");
    }

    #[test]
    fn invalid_bodies_are_named() {
        let error = |body: &str| text(body).expect_err(body);
        assert_eq!(error("a 1\n"), "OpenMetrics: the data does not end with # EOF");
        assert_eq!(error("a 1\n# EOF\nb 2\n"), "OpenMetrics line 3: unexpected data after # EOF");
        assert_eq!(error("# TYPE a untyped\n# EOF\n"), "OpenMetrics line 1: invalid metric type \"untyped\"");
        assert!(error("a 1 12s\n# EOF\n").contains("invalid timestamp \"12s\" (seconds expected)"));
        assert!(error("a 1 # trace\n# EOF\n").contains("a label block must follow '#'"));
        assert!(error("a 1 # {t=\"x\"} one\n# EOF\n").contains("invalid exemplar value \"one\""));
        assert!(error("a{b=\"c 1\n# EOF\n").contains("a label block does not end"));
        assert!(error("a\n# EOF\n").contains("missing value"));
        assert!(error("a 1 2 3\n# EOF\n").contains("unexpected \"3\""));
        assert!(to_text(b"\xff\n# EOF\n").is_err());
    }
}
