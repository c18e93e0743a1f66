//! The Prometheus text exposition format for `/api/v1/import/prometheus`: `name{l="v"} value
//! [timestamp_ms]` lines, `#` comments; samples without a timestamp get the import time.

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

/// Parses one `{a="b",c="d"}` block starting after `{`; returns labels and the rest after `}`.
pub(crate) fn parse_label_block(mut rest: &str, line: usize) -> Result<(LabelPairs, &str), DecodeError> {
    let mut pairs = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((pairs, r));
        }
        let eq = rest.find('=').ok_or_else(|| bad(line, "expected label=\"value\""))?;
        let name = rest[..eq].trim().trim_matches('"').to_string();
        rest = rest[eq + 1..].trim_start();
        let body = rest.strip_prefix('"').ok_or_else(|| bad(line, format!("value of label {name} must be quoted")))?;
        let mut value = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break i,
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => return Err(bad(line, "unterminated label value")),
                },
                Some((_, c)) => value.push(c),
                None => return Err(bad(line, "unterminated label value")),
            }
        };
        pairs.push((name, value));
        rest = body[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses one exposition line (numbered `line` in errors); `None` for a blank line or a
/// comment. A sample without a timestamp gets `now_ms`.
pub fn parse_line(raw: &str, line: usize, now_ms: i64, limits: &LabelLimits) -> Result<Option<(Labels, Sample)>, DecodeError> {
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
        let (more, after) = parse_label_block(r, line)?;
        pairs.extend(more);
        rest = after;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or_else(|| bad(line, "missing value"))?;
    let value = parse_value(value_text).ok_or_else(|| bad(line, format!("invalid value {value_text:?}")))?;
    let timestamp_ms = match fields.next() {
        Some(t) => t.parse::<i64>().map_err(|_| bad(line, format!("invalid timestamp {t:?} (milliseconds expected)")))?,
        None => now_ms,
    };
    if let Some(problem) = super::label_limits::problem(limits, pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
        return Err(bad(line, problem));
    }
    let labels = Labels::from_pairs(pairs);
    if labels.get(METRIC_NAME_LABEL).is_none() {
        return Err(bad(line, "missing metric name"));
    }
    Ok(Some((labels, Sample { timestamp_ms, value })))
}

/// The names of the labels a line exposes with an empty value (`instance=""`): such a label
/// is no label once stored, yet with `honor_labels` it keeps the target's label of that name
/// away, as in Prometheus (a Pushgateway exposes `instance=""` for groups pushed without one).
pub(crate) fn empty_label_names(raw: &str) -> Vec<String> {
    let l = raw.trim();
    let name_end = l.find(|c: char| c == '{' || c.is_whitespace()).unwrap_or(l.len());
    let Some(block) = l[name_end..].strip_prefix('{') else { return Vec::new() };
    match parse_label_block(block, 0) {
        Ok((pairs, _)) => pairs.into_iter().filter(|(_, v)| v.is_empty()).map(|(n, _)| n).collect(),
        Err(_) => Vec::new(),
    }
}

/// Adds a sample to `out`: to its last series when the labels match, else as a new series.
pub fn push_sample(out: &mut Vec<SeriesSamples>, labels: Labels, sample: Sample) {
    match out.last_mut() {
        Some(last) if last.labels == labels => last.samples.push(sample),
        _ => out.push(SeriesSamples { labels, samples: vec![sample], histograms: Vec::new() }),
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
}
