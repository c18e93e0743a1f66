//! The Prometheus text exposition format for `/api/v1/import/prometheus`: `name{l="v"} value
//! [timestamp_ms]` lines, `#` comments; samples without a timestamp get the import time. Also
//! the lines `/api/v1/export?format=prometheus` writes, which that import reads back.

use std::fmt::Write as _;

use tsdb::{Labels, Sample, SeriesSamples, METRIC_NAME_LABEL};

use super::label_limits::LabelLimits;
use super::DecodeError;

fn bad(line: usize, problem: impl Into<String>) -> DecodeError {
    DecodeError::InvalidSeries { series: format!("line {line}"), problem: problem.into() }
}

/// Appends a label value with the text format's escapes (backslash, double quote, line
/// feed); OpenMetrics escapes `# HELP` text the same way.
pub(crate) fn push_escaped_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

pub(crate) fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

/// A sample value that `parse_value` reads back to the same number (NaN reads
/// back as the canonical NaN; its payload does not survive text).
pub(crate) fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value == f64::INFINITY {
        out.push_str("+Inf");
    } else if value == f64::NEG_INFINITY {
        out.push_str("-Inf");
    } else {
        // Debug is the shortest text that parses back to the same bits (`1e300`, `-0.0`).
        let _ = write!(out, "{value:?}");
    }
}

/// Label pairs as parsed, before they are checked and sorted.
pub(crate) type LabelPairs = Vec<(String, String)>;

/// The names the text format writes without quotes (the checks live with `Labels`, whose
/// `Display` quotes the others too).
pub(crate) use tsdb::model::{is_legacy_label_name, is_legacy_metric_name};

/// Appends a name as the text format 1.0.0 writes it: as it is when `plain`, else quoted
/// with the label value escapes.
pub(crate) fn push_name(out: &mut String, name: &str, plain: bool) {
    if plain {
        out.push_str(name);
    } else {
        out.push('"');
        push_escaped_label_value(out, name);
        out.push('"');
    }
}

/// A quoted string at the start of `text` (after its `"`) with its escapes read, and the
/// rest after the closing quote. As Prometheus' and VictoriaMetrics' parsers read them,
/// only `\\`, `\"` and `\n` are escapes; a backslash before any other character stays
/// (`\t` is a backslash and a `t`).
fn quoted_string(text: &str, line: usize) -> Result<(String, &str), DecodeError> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    loop {
        match chars.next() {
            Some((i, '"')) => return Ok((value, &text[i + 1..])),
            Some((_, '\\')) => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, c @ ('\\' | '"'))) => value.push(c),
                Some((_, c)) => {
                    value.push('\\');
                    value.push(c);
                }
                None => return Err(bad(line, "unterminated quoted string")),
            },
            Some((_, c)) => value.push(c),
            None => return Err(bad(line, "unterminated quoted string")),
        }
    }
}

/// Parses one label block starting after `{`: `name="value"` pairs, a name plain or quoted
/// (the text format 1.0.0's UTF-8 names), and perhaps a lone quoted string, the metric name
/// (`{"my.metric",a="b"}`). Returns the pairs, that name, and the rest after `}`.
fn parse_label_block(mut rest: &str, line: usize) -> Result<(LabelPairs, Option<String>, &str), DecodeError> {
    let mut pairs = Vec::new();
    let mut metric_name = None;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((pairs, metric_name, r));
        }
        let name = if let Some(after_quote) = rest.strip_prefix('"') {
            let (name, after) = quoted_string(after_quote, line)?;
            let after = after.trim_start();
            if after.starts_with([',', '}']) {
                if metric_name.is_some() {
                    return Err(bad(line, "the metric name is given twice"));
                }
                metric_name = Some(name);
                rest = after.strip_prefix(',').unwrap_or(after);
                continue;
            }
            rest = after;
            name
        } else {
            let eq = rest.find('=').ok_or_else(|| bad(line, "expected label=\"value\""))?;
            let name = rest[..eq].trim();
            if name.contains(['"', ',', '}']) {
                return Err(bad(line, "expected label=\"value\""));
            }
            rest = &rest[eq..];
            name.to_string()
        };
        rest = rest.strip_prefix('=').ok_or_else(|| bad(line, format!("expected '=' after label {name}")))?.trim_start();
        let body = rest.strip_prefix('"').ok_or_else(|| bad(line, format!("value of label {name} must be quoted")))?;
        let (value, after) = quoted_string(body, line).map_err(|_| bad(line, "unterminated label value"))?;
        pairs.push((name, value));
        rest = after.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses one exposition line (numbered `line` in errors); `None` for a blank line or a
/// comment. A sample without a timestamp gets `now_ms`. Names outside the legacy rules are
/// read quoted, as the text format 1.0.0 writes them: the metric name inside the braces.
pub fn parse_line(raw: &str, line: usize, now_ms: i64, limits: &LabelLimits) -> Result<Option<(Labels, Sample)>, DecodeError> {
    parse_line_skipping(raw, line, now_ms, limits, false)
}

/// `parse_line` for `/api/v1/import/prometheus`: what follows a `#` after the series (an
/// OpenMetrics exemplar, a comment) is skipped, as VictoriaMetrics' import skips it. A scrape
/// refuses such a line, as Prometheus' text parser does.
pub fn parse_import_line(raw: &str, line: usize, now_ms: i64, limits: &LabelLimits) -> Result<Option<(Labels, Sample)>, DecodeError> {
    parse_line_skipping(raw, line, now_ms, limits, true)
}

fn parse_line_skipping(raw: &str, line: usize, now_ms: i64, limits: &LabelLimits, skip_trailing_comment: bool) -> Result<Option<(Labels, Sample)>, DecodeError> {
    let l = raw.trim();
    if l.is_empty() || l.starts_with('#') {
        return Ok(None);
    }
    let name_end = l.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(l.len());
    let name = &l[..name_end];
    let mut pairs = Vec::new();
    if !name.is_empty() {
        pairs.push((METRIC_NAME_LABEL.to_string(), name.to_string()));
    }
    let mut rest = &l[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let (more, braced_name, after) = parse_label_block(r, line)?;
        if let Some(braced_name) = braced_name {
            if !name.is_empty() {
                return Err(bad(line, "the metric name is given twice"));
            }
            pairs.push((METRIC_NAME_LABEL.to_string(), braced_name));
        }
        pairs.extend(more);
        rest = after;
    }
    let rest = match rest.find('#') {
        Some(at) if skip_trailing_comment => &rest[..at],
        _ => rest,
    };
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or_else(|| bad(line, "missing value"))?;
    let value = parse_value(value_text).ok_or_else(|| bad(line, format!("invalid value {value_text:?}")))?;
    let timestamp_ms = match fields.next() {
        Some(t) => t.parse::<i64>().map_err(|_| bad(line, format!("invalid timestamp {t:?} (milliseconds expected)")))?,
        None => now_ms,
    };
    if let Some(extra) = fields.next() {
        return Err(bad(line, format!("unexpected {extra:?} after the timestamp (a line is a series, a value and an optional timestamp)")));
    }
    if let Some(problem) = super::label_limits::problem(limits, pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
        return Err(bad(line, problem));
    }
    // As Prometheus' append refuses it (a name in the braces and a `__name__` label too).
    if let Some((name, _)) = pairs.iter().enumerate().find_map(|(i, (name, _))| pairs[..i].iter().find(|(earlier, _)| earlier == name)) {
        return Err(bad(line, format!("label name {name:?} is not unique")));
    }
    let labels = Labels::from_pairs(pairs);
    if labels.get(METRIC_NAME_LABEL).is_none() {
        return Err(bad(line, "missing metric name"));
    }
    Ok(Some((labels, Sample { timestamp_ms, value })))
}

/// The labels of one series written as the text format writes a series, without value:
/// `name`, `name{a="x",…}`, `{__name__="name",a="x"}` or `{"name",a="x"}` (empty text or
/// `{}`: no labels); a problem is named. Pairs in the order written, the name first when it
/// stands before the braces.
pub fn parse_series_labels(text: &str) -> Result<LabelPairs, String> {
    let problem = |error: DecodeError| match error {
        DecodeError::InvalidSeries { problem, .. } => problem,
        other => other.to_string(),
    };
    let text = text.trim();
    let name_end = text.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(text.len());
    let name = &text[..name_end];
    let mut pairs = Vec::new();
    if !name.is_empty() {
        pairs.push((METRIC_NAME_LABEL.to_string(), name.to_string()));
    }
    let mut rest = text[name_end..].trim_start();
    if let Some(block) = rest.strip_prefix('{') {
        let (more, braced_name, after) = parse_label_block(block, 1).map_err(problem)?;
        if let Some(braced_name) = braced_name {
            if !name.is_empty() {
                return Err("the metric name is given twice".into());
            }
            pairs.insert(0, (METRIC_NAME_LABEL.to_string(), braced_name));
        }
        pairs.extend(more);
        rest = after.trim();
    }
    if !rest.is_empty() {
        return Err(format!("unexpected {rest:?} after the series"));
    }
    if let Some(name) = pairs.iter().enumerate().find_map(|(i, (name, _))| pairs[..i].iter().any(|(earlier, _)| earlier == name).then_some(name)) {
        return Err(format!("label name {name:?} is not unique"));
    }
    Ok(pairs)
}

/// The family name at the start of a `# TYPE`/`# HELP`/`# UNIT` comment's rest (plain, or
/// quoted as the text format 1.0.0 writes a UTF-8 name) and what follows it.
pub(crate) fn comment_family(rest: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    if let Some(after_quote) = rest.strip_prefix('"') {
        let (name, after) = quoted_string(after_quote, 0).ok()?;
        return Some((std::borrow::Cow::Owned(name), after));
    }
    let end = rest.find([' ', '\t']).unwrap_or(rest.len());
    Some((std::borrow::Cow::Borrowed(&rest[..end]), &rest[end..]))
}

/// The names of the labels a line exposes with an empty value (`instance=""`): such a label
/// is no label once stored, yet with `honor_labels` it keeps the target's label of that name
/// away, as in Prometheus (a Pushgateway exposes `instance=""` for groups pushed without one).
pub(crate) fn empty_label_names(raw: &str) -> Vec<String> {
    let l = raw.trim();
    let name_end = l.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(l.len());
    let Some(block) = l[name_end..].strip_prefix('{') else { return Vec::new() };
    match parse_label_block(block, 0) {
        Ok((pairs, _, _)) => pairs.into_iter().filter(|(_, v)| v.is_empty()).map(|(n, _)| n).collect(),
        Err(_) => Vec::new(),
    }
}

/// `name{a="x",...}` with the text format's escapes (just `name` without labels); a name
/// outside the legacy rules quoted as the text format 1.0.0 writes it (the metric name first
/// inside the braces), a label name outside them too.
pub(crate) fn series_text<'a>(name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let legacy_name = is_legacy_metric_name(name);
    let mut labels = labels.into_iter().peekable();
    if labels.peek().is_none() && legacy_name {
        return name.to_string();
    }
    let mut text = String::new();
    if legacy_name {
        text.push_str(name);
        text.push('{');
    } else {
        text.push('{');
        push_name(&mut text, name, false);
    }
    for (i, (label, value)) in labels.enumerate() {
        if i > 0 || !legacy_name {
            text.push(',');
        }
        push_name(&mut text, label, is_legacy_label_name(label));
        text.push_str("=\"");
        push_escaped_label_value(&mut text, value);
        text.push('"');
    }
    text.push('}');
    text
}

/// Appends one `series_text value timestamp_ms` line per float sample of `series`, as
/// VictoriaMetrics' `/api/v1/export?format=prometheus` writes them. Staleness markers are
/// left out: the text format cannot tell one from a NaN that was written.
pub fn write_lines(out: &mut String, series: &SeriesSamples) {
    let name = series.labels.metric_name().unwrap_or("");
    let head = series_text(name, series.labels.iter().filter(|l| l.name != METRIC_NAME_LABEL).map(|l| (l.name, l.value)));
    for sample in series.samples.iter().filter(|s| !tsdb::is_stale_nan(s.value)) {
        out.push_str(&head);
        out.push(' ');
        promql::format::push_go_float(out, sample.value);
        let _ = writeln!(out, " {}", sample.timestamp_ms);
    }
}

/// Adds a sample to `out`: to its last series when the labels match, else as a new series.
pub fn push_sample(out: &mut Vec<SeriesSamples>, labels: Labels, sample: Sample) {
    match out.last_mut() {
        Some(last) if last.labels == labels => last.samples.push(sample),
        _ => out.push(SeriesSamples { labels, samples: vec![sample], histograms: Vec::new(), starts: None }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole body through `parse_line`, as the streamed import does line by line (tests
    /// only); consecutive samples of one series are kept together.
    fn parse_text(body: &[u8], now_ms: i64) -> Result<Vec<SeriesSamples>, DecodeError> {
        let text = std::str::from_utf8(body).map_err(|_| bad(0, "body is not valid UTF-8"))?;
        let mut out: Vec<SeriesSamples> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if let Some((labels, sample)) = parse_line(raw, index + 1, now_ms, &LabelLimits::default())? {
                push_sample(&mut out, labels, sample);
            }
        }
        Ok(out)
    }

    #[test]
    fn only_backslash_quote_and_newline_are_escapes_as_prometheus_reads_them() {
        let value = |line: &str| parse_line(line, 1, 0, &LabelLimits::default()).map(|parsed| parsed.and_then(|(labels, _)| labels.get("a").map(str::to_string)));
        assert_eq!(value(r#"m{a="x\\y\"z\nw"} 1"#), Ok(Some("x\\y\"z\nw".to_string())));
        // An unknown escape keeps its backslash (Prometheus' lvalReplacer, VictoriaMetrics'
        // unescapeValue): four characters, not three.
        assert_eq!(value(r#"m{a="x\ty"} 1"#), Ok(Some("x\\ty".to_string())));
        assert_eq!(value(r#"m{a="\\t"} 1"#), Ok(Some("\\t".to_string())), "an escaped backslash, then a t");
        assert_eq!(value(r#"m{"a\u"="é\é"} 1"#).map(|_| ()), Ok(()));
        let names = parse_line(r#"{"m\.x","b\u"="1"} 1"#, 1, 0, &LabelLimits::default()).map(|p| p.map(|(labels, _)| labels.iter().map(|l| l.name.to_string()).collect::<Vec<_>>()));
        assert_eq!(names, Ok(Some(vec!["__name__".to_string(), "b\\u".to_string()])));
    }

    #[test]
    fn quoted_utf8_names_are_read_as_the_text_format_1_0_0_writes_them() {
        let read = |line: &str| parse_line(line, 1, 0, &LabelLimits::default()).map(|parsed| parsed.map(|(labels, sample)| (labels.to_string(), sample.value)));
        let series = r#"{"my.metric", "http.route"="/a", job="x"}"#.to_string();
        assert_eq!(read(r#"{"my.metric","http.route"="/a",job="x"} 1"#), Ok(Some((series.clone(), 1.0))));
        assert_eq!(read(r#"{ "my.metric" , "http.route" = "/a", job="x" } 1"#), Ok(Some((series, 1.0))), "spaces around tokens");
        assert_eq!(read(r#"{"my.metric"} 2"#).map(|p| p.map(|(l, _)| l)), Ok(Some(r#"{"my.metric"}"#.to_string())));
        assert_eq!(read(r#"plain{"a\"b=c"="v"} 3"#).map(|p| p.map(|(l, _)| l)), Ok(Some(r#"plain{"a\"b=c"="v"}"#.to_string())), "a quoted name may hold = and \"");
        let error = |line: &str| read(line).map(|_| ()).unwrap_err().to_string();
        assert!(error(r#"plain{"my.metric"} 1"#).contains("the metric name is given twice"));
        assert!(error(r#"{"a","b"} 1"#).contains("the metric name is given twice"));
        assert!(error(r#"{"my.metric} 1"#).contains("unterminated"));
        assert!(error(r#"{"x"="1"} 1"#).contains("missing metric name"));
        assert!(error(r#"{"m",__name__="x"} 1"#).contains("label name \"__name__\" is not unique"));
        assert!(error(r#"m{a="1",a="2"} 1"#).contains("label name \"a\" is not unique"));
        // A comment's family, plain or quoted.
        assert_eq!(comment_family(r#""my metric" counter"#).map(|(n, rest)| (n.into_owned(), rest)), Some(("my metric".to_string(), " counter")));
        assert_eq!(comment_family("plain\tcounter").map(|(n, rest)| (n.into_owned(), rest)), Some(("plain".to_string(), "\tcounter")));
    }

    #[test]
    fn text_after_the_timestamp_is_refused_unless_an_imported_comment() {
        let read = |line: &str| parse_import_line(line, 3, 42, &LabelLimits::default()).map(|parsed| parsed.map(|(_, sample)| (sample.timestamp_ms, sample.value)));
        // A scrape's line refuses an exemplar or comment, as Prometheus' text parser does.
        assert!(parse_line("m 1 2000 # {a=\"b\"} 1", 3, 42, &LabelLimits::default()).is_err());
        assert!(parse_line("m 1 2000 3000", 3, 42, &LabelLimits::default()).is_err());
        assert_eq!(read("m 1 2000"), Ok(Some((2_000, 1.0))));
        assert_eq!(read(r##"m{a="#x"} 1 2000 # {trace_id="abc"} 1 2.5"##), Ok(Some((2_000, 1.0))), "an exemplar is skipped");
        assert_eq!(read("m 1 # no timestamp"), Ok(Some((42, 1.0))));
        let error = read("m 1 2000 3000").map(|_| ()).unwrap_err().to_string();
        assert!(error.contains("line 3") && error.contains("unexpected \"3000\" after the timestamp"), "{error}");
        assert!(read(r#"m{a="b"} 1 2 x"#).is_err());
    }

    #[test]
    fn written_lines_read_back_as_they_were() {
        let labels = Labels::from_pairs([("__name__", "rt"), ("job", "a\\b\"c\nd"), ("http.route", "/x")]);
        let samples = vec![
            Sample { timestamp_ms: 1_000, value: 1.5 },
            Sample { timestamp_ms: 2_000, value: f64::from_bits(tsdb::STALE_NAN_BITS) },
            Sample { timestamp_ms: 3_000, value: f64::INFINITY },
            Sample { timestamp_ms: 4_000, value: 1e300 },
            Sample { timestamp_ms: 5_000, value: -0.0 },
        ];
        let mut text = String::new();
        write_lines(&mut text, &SeriesSamples { labels: labels.clone(), samples: samples.clone(), histograms: Vec::new(), starts: None });
        assert_eq!(text.lines().count(), 4, "the staleness marker is left out: {text}");
        assert!(text.starts_with("rt{\"http.route\"=\"/x\",job=\"a\\\\b\\\"c\\nd\"} 1.5 1000\n"), "{text}");
        let read = parse_text(text.as_bytes(), 0).unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].labels, labels);
        let kept: Vec<Sample> = samples.into_iter().filter(|s| !tsdb::is_stale_nan(s.value)).collect();
        assert_eq!(read[0].samples.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>(), kept.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>());
        // A name outside the legacy rules goes quoted inside the braces.
        let mut text = String::new();
        let dotted = Labels::from_pairs([("__name__", "my.metric"), ("job", "a")]);
        write_lines(&mut text, &SeriesSamples { labels: dotted.clone(), samples: vec![Sample { timestamp_ms: 1, value: 2.0 }], histograms: Vec::new(), starts: None });
        assert_eq!(text, "{\"my.metric\",job=\"a\"} 2 1\n");
        assert_eq!(parse_text(text.as_bytes(), 0).unwrap()[0].labels, dotted);
    }

    #[test]
    fn parses_exposition_lines() {
        let text = b"# HELP x help\n# TYPE x counter\nx{job=\"a\",path=\"/q\\\"\"} 1.5 1000\nx{job=\"a\",path=\"/q\\\"\"} 2 2000\ny 7\n";
        let series = parse_text(text, 99).unwrap();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels.get("path"), Some("/q\""));
        assert_eq!(series[0].samples.len(), 2);
        assert_eq!(series[1].samples[0], Sample { timestamp_ms: 99, value: 7.0 });
        assert!(parse_text(b"x{job=a} 1", 0).unwrap_err().to_string().contains("quoted"));
        assert!(parse_text(b"x 1 notatime", 0).unwrap_err().to_string().contains("line 1"));
        let many: Vec<String> = (0..200).map(|i| format!("l{i:03}=\"v\"")).collect();
        let line = format!("x{{{}}} 1", many.join(","));
        let err = parse_text(format!("y 1\n{line}\n").as_bytes(), 0).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("more than 128 labels"), "{err}");
    }

    #[test]
    fn one_series_reads_in_each_written_form() {
        let pairs = |list: &[(&str, &str)]| list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<LabelPairs>();
        assert_eq!(parse_series_labels(""), Ok(Vec::new()));
        assert_eq!(parse_series_labels("{}"), Ok(Vec::new()));
        assert_eq!(parse_series_labels(" up "), Ok(pairs(&[("__name__", "up")])));
        assert_eq!(parse_series_labels(r#"up{a="x\"y", b="2"}"#), Ok(pairs(&[("__name__", "up"), ("a", "x\"y"), ("b", "2")])));
        assert_eq!(parse_series_labels(r#"{"my.metric", "a.b"="1"}"#), Ok(pairs(&[("__name__", "my.metric"), ("a.b", "1")])));
        assert!(parse_series_labels(r#"up{a="1"} 5"#).is_err_and(|e| e.contains("after the series")));
        assert!(parse_series_labels(r#"up{__name__="up"}"#).is_err_and(|e| e.contains("not unique")));
        assert!(parse_series_labels(r#"up{a=1}"#).is_err_and(|e| e.contains("quoted")));
    }
}
