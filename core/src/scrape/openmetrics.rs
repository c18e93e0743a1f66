//! Scrape answers in OpenMetrics 1.0 text (`application/openmetrics-text`), read as
//! Prometheus reads them by default, by rewriting them into the Prometheus text format the
//! scrape loop reads. Targets are asked for OpenMetrics first unless `scrape_protocols` says
//! otherwise (or start timestamps are read: then the protobuf format first, as Prometheus asks).

use super::start_timestamps::{CreatedPairing, LineStarts};

/// The body rewritten in the text format, line for line (so that a line number in an error
/// is the target's), or why it is not valid OpenMetrics (the line). The body must end with
/// `# EOF` (nothing after it but the final line break). `_created` samples are series like any
/// other (Prometheus ingests them unless its created-timestamp feature is on).
pub fn to_text(body: &[u8]) -> Result<Vec<u8>, String> {
    rewrite(body, None)
}

/// As [`to_text`], reading start timestamps as Prometheus' `created-timestamp-zero-ingestion`
/// reads them (under `storage.start_timestamp_zero_ingestion`): a counter's, summary's or
/// histogram's `_created` line is left out (an empty line in its place keeps the line numbers)
/// and its value starts the series it pairs with (see
/// `scrape::start_timestamps::CreatedPairing`); the starts are given by line of the text.
pub fn to_text_with_starts(body: &[u8]) -> Result<(Vec<u8>, LineStarts), String> {
    let mut pairing = CreatedPairing::default();
    let text = rewrite(body, Some(&mut pairing))?;
    Ok((text, pairing.finish()))
}

/// `to_text`, and with `pairing` the `_created` lines read as starts.
fn rewrite<'a>(body: &'a [u8], mut pairing: Option<&mut CreatedPairing<'a>>) -> Result<Vec<u8>, String> {
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
            let (family, kind) = rewrite_comment(comment, &mut out).map_err(bad)?;
            if let Some(pairing) = pairing.as_deref_mut() {
                pairing.comment(&family, kind);
            }
        } else {
            let line_start = out.len();
            let (series, value) = rewrite_sample(line, &mut out).map_err(bad)?;
            if let Some(pairing) = pairing.as_deref_mut() {
                if pairing.sample(index, series, value).map_err(bad)? {
                    out.truncate(line_start);
                }
            }
        }
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// A `# HELP`, `# TYPE` or `# UNIT` line (after its `#`) in the text format's words, kept for
/// `/api/v1/metadata` (`unknown` as the text format's `untyped`; HELP with its OpenMetrics
/// escapes, read as such for an answer of `scrape_loop::Format::OpenMetrics`); other comments
/// are refused. Gives the family's name and, for `# TYPE`, its type.
fn rewrite_comment<'c>(comment: &'c str, out: &mut String) -> Result<(std::borrow::Cow<'c, str>, Option<&'c str>), String> {
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
    let mut given_kind = None;
    match keyword {
        "TYPE" => {
            let kind = match text {
                "unknown" => "untyped",
                "counter" | "gauge" | "histogram" | "gaugehistogram" | "summary" | "info" | "stateset" => text,
                other => return Err(format!("invalid metric type {other:?}")),
            };
            out.push_str(&format!("# TYPE {family} {kind}"));
            given_kind = Some(text);
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
    Ok((name, given_kind))
}

/// A sample line (`name{labels} value [timestamp] [# exemplar]`, single spaces) in the text
/// format: the timestamp, in seconds (a float), becomes milliseconds, truncated as Prometheus
/// truncates it; the exemplar (` # {labels} value [timestamp]`) is read as Prometheus' lexer
/// reads it and kept on its line with its timestamp in milliseconds (`scrape::exemplar`).
/// Gives its series text (name and label block) and value.
fn rewrite_sample<'l>(line: &'l str, out: &mut String) -> Result<(&'l str, f64), String> {
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
    let number = crate::ingest::text_format::parse_value(value).ok_or_else(|| format!("invalid value {value:?}"))?;
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
    Ok((series, number))
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

    /// Each line of `to_text_with_starts`' text with its start timestamp.
    fn with_starts(body: &str) -> Result<Vec<(String, Option<i64>)>, String> {
        let (text, starts) = to_text_with_starts(body.as_bytes())?;
        let text = String::from_utf8(text).unwrap_or_default();
        let mut reader = starts.reader();
        Ok(text.lines().enumerate().map(|(index, line)| (line.to_string(), reader.start_of(index))).collect())
    }

    fn line(text: &str, start_ms: Option<i64>) -> (String, Option<i64>) {
        (text.to_string(), start_ms)
    }

    #[test]
    fn created_lines_start_the_series_of_their_labels() {
        // A counter with labels: each `_created` follows its series. A blank line keeps
        // the line numbers.
        let counter = "# TYPE a counter\na_total{x=\"1\"} 1\na_created{x=\"1\"} 1700000000.5\na_total{x=\"2\"} 2 # {t=\"e\"} 1\na_created{x=\"2\"} 1.7e9\n# EOF\n";
        assert_eq!(
            with_starts(counter),
            Ok(vec![
                line("# TYPE a counter", None),
                line("a_total{x=\"1\"} 1", Some(1_700_000_000_500)),
                line("", None),
                line("a_total{x=\"2\"} 2 # {t=\"e\"} 1.0", Some(1_700_000_000_000)),
                line("", None),
            ])
        );
        // A histogram's buckets (whatever their `le`), `_count` and `_sum` share one.
        let histogram = "# TYPE h histogram\nh_bucket{p=\"/\",le=\"1\"} 1\nh_bucket{p=\"/\",le=\"+Inf\"} 2\nh_count{p=\"/\"} 2\nh_sum{p=\"/\"} 3\nh_created{p=\"/\"} 1600000000\n# EOF\n";
        let got = with_starts(histogram).unwrap_or_default();
        assert_eq!(got.iter().map(|(_, start)| *start).collect::<Vec<_>>(), vec![None, Some(1_600_000_000_000), Some(1_600_000_000_000), Some(1_600_000_000_000), Some(1_600_000_000_000), None]);
        // A summary's quantiles, `_sum` and `_count`.
        let summary = "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns{quantile=\"0.9\"} 2\ns_sum 2\ns_count 3\ns_created 1.5\n# EOF\n";
        let got = with_starts(summary).unwrap_or_default();
        assert_eq!(got.iter().map(|(_, start)| *start).collect::<Vec<_>>(), vec![None, Some(1_500), Some(1_500), Some(1_500), Some(1_500), None]);
        // Without start timestamps asked, `_created` lines are series as before.
        let plain = String::from_utf8(to_text(counter.as_bytes()).unwrap_or_default()).unwrap_or_default();
        assert!(plain.contains("a_created{x=\"1\"} 1700000000.5\n") && plain.contains("a_created{x=\"2\"} 1.7e9\n"), "{plain}");
    }

    #[test]
    fn a_created_line_out_of_place_starts_nothing_as_in_prometheus() {
        // The first `_created` line after a series decides: another label set's leaves it
        // without a start, and one before it is not looked back at. Unmatched, a `_created`
        // line is still no series.
        let body = "# TYPE a counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 2\na_created{x=\"1\"} 10\na_created{x=\"2\"} 20\na_created{x=\"3\"} 30\na_total{x=\"3\"} 3\n# EOF\n";
        let got = with_starts(body).unwrap_or_default();
        assert_eq!(got.iter().map(|(_, start)| *start).collect::<Vec<_>>(), vec![None, Some(10_000), None, None, None, None, None]);
        assert_eq!(got.iter().filter(|(l, _)| l.is_empty()).count(), 3);
        // A comment ends the search; so does the end.
        let got = with_starts("# TYPE a counter\na_total 1\n# HELP a Requests.\na_created 10\n# EOF\n").unwrap_or_default();
        assert_eq!(got, vec![line("# TYPE a counter", None), line("a_total 1", None), line("# HELP a Requests.", None), line("", None)]);
        // A pairing found is remembered for the same labels (Prometheus' cache): a `_count`
        // after its histogram's `_created` gets its start, until a gauge's series comes.
        let got = with_starts("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_created 5\nh_count 1\n# TYPE g gauge\ng 1\n# TYPE h histogram\nh_sum 1\n# EOF\n").unwrap_or_default();
        assert_eq!(got.iter().map(|(_, start)| *start).collect::<Vec<_>>(), vec![None, Some(5_000), None, Some(5_000), None, None, None, None]);
        // The series' name is cut to the family's: a family named with its `_total` pairs
        // nothing, as there.
        let got = with_starts("# TYPE a_total counter\na_total 1\na_created 10\n# EOF\n").unwrap_or_default();
        assert_eq!(got, vec![line("# TYPE a_total counter", None), line("a_total 1", None), line("", None)]);
    }

    #[test]
    fn created_lines_of_other_types_stay_series_and_bad_ones_fail_or_start_nothing() {
        // A gauge's, an unknown family's and a line before any # TYPE are series.
        let body = "x_created 1\n# TYPE g gauge\ng_created 2\n# TYPE u unknown\nu_created 3\n# EOF\n";
        assert_eq!(with_starts(body).map(|lines| lines.iter().all(|(l, start)| !l.is_empty() && start.is_none())), Ok(true));
        // A value that is no time starts nothing (Go's conversion of it is undefined).
        let got = with_starts("# TYPE a counter\na_total 1\na_created NaN\n# EOF\n").unwrap_or_default();
        assert_eq!(got, vec![line("# TYPE a counter", None), line("a_total 1", None), line("", None)]);
        // A `_created` line whose labels do not read fails the answer, as it would as a series.
        let error = with_starts("# TYPE a counter\na_total 1\na_created{x=1} 5\n# EOF\n").unwrap_err();
        assert!(error.starts_with("OpenMetrics line 3: ") && error.contains("must be quoted"), "{error}");
        // Quoted UTF-8 names pair as plain ones do.
        let got = with_starts("# TYPE \"a.b\" counter\n{\"a.b_total\",\"x.y\"=\"1\"} 1\n{\"a.b_created\",\"x.y\"=\"1\"} 2\n# EOF\n").unwrap_or_default();
        assert_eq!(got.iter().map(|(_, start)| *start).collect::<Vec<_>>(), vec![None, Some(2_000), None]);
    }
}
