//! The Graphite plaintext protocol (`metric.path[;tag=v…] value [timestamp]`), parsed line by
//! line as VictoriaMetrics' `-graphiteListenAddr` parses it: `__name__` is the path as sent,
//! tags become labels, timestamps are seconds (a fraction cut off; none, 0 or -1 is the
//! arrival time). Pure: lines in, samples added to an `influx::Parsed` batch, or the problem.

use tsdb::Sample;

use super::influx::Parsed;
use super::tagged_sample::{push_tagged, with_line};
use super::IngestRules;

/// Longest line read from a socket (VictoriaMetrics' `maxLineSize` for Graphite, and its
/// `-influx.maxLineSize` default): a longer one is skipped to its newline.
pub const LINE_BYTES_MAX: usize = 256 * 1024;

/// One line, borrowed from its text.
#[derive(Debug, PartialEq)]
pub struct Row<'a> {
    pub path: &'a str,
    /// In line order; tags with an empty name or value are left out (as VictoriaMetrics).
    pub tags: Vec<(&'a str, &'a str)>,
    pub value: f64,
    /// Whole seconds; `None` when the line has none, or 0 or -1 (VictoriaMetrics: "now").
    pub timestamp_s: Option<i64>,
}

/// Graphite separates fields by spaces or tabs (carbon-c-relay accepts both).
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_blanks(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// Splits at the last space or tab: (before, after). `None` when there is none.
fn split_last_blank(s: &str) -> Option<(&str, &str)> {
    let at = s.bytes().rposition(is_blank)?;
    Some((&s[..at], &s[at + 1..]))
}

/// A number as VictoriaMetrics' float parser reads it (also `nan`, `inf`, `-Inf`, …).
pub(super) fn parse_float(text: &str) -> Option<f64> {
    text.parse::<f64>().ok()
}

/// Parses one line (without its newline; a trailing `\r` is dropped). `Ok(None)` for a blank
/// line; the problem in words for a malformed one.
pub fn parse_line(raw: &[u8]) -> Result<Option<Row<'_>>, String> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let text = std::str::from_utf8(raw).map_err(|_| "not valid UTF-8".to_string())?;
    let line = trim_blanks(text);
    if line.is_empty() {
        return Ok(None);
    }
    // From the right, as VictoriaMetrics: the last field, the one before it, and the rest
    // (which may hold blanks) is the path with its tags.
    let Some((rest, last)) = split_last_blank(line) else {
        return Err("no value: `metric.path value [timestamp]` expected".into());
    };
    let rest = rest.trim_end_matches([' ', '\t']);
    let (path_and_tags, value_text, timestamp_text) = match split_last_blank(rest) {
        Some((head, value)) => (trim_blanks(head), value, Some(last)),
        None => (rest, last, None),
    };
    let (path, tags_text) = match path_and_tags.split_once(';') {
        Some((path, tags)) => (path, Some(tags)),
        None => (path_and_tags, None),
    };
    if path.is_empty() {
        return Err("the metric path is empty".into());
    }
    let mut tags = Vec::new();
    for tag in tags_text.into_iter().flat_map(|t| t.split(';')) {
        // A tag without `=` has an empty value and is left out, as one with an empty name.
        let (name, value) = tag.split_once('=').unwrap_or((tag, ""));
        if !name.is_empty() && !value.is_empty() {
            tags.push((name, value));
        }
    }
    let timestamp_s = match timestamp_text {
        None => None,
        Some(text) => {
            let seconds = parse_float(text).ok_or_else(|| format!("invalid timestamp {text:?} (seconds expected)"))?;
            // Seconds with a fraction: the fraction is cut off (VictoriaMetrics' int64()).
            if !seconds.is_finite() || seconds.abs() >= (i64::MAX / 1000) as f64 {
                return Err(format!("timestamp {text:?} is out of range"));
            }
            match seconds.trunc() as i64 {
                0 | -1 => None,
                s => Some(s),
            }
        }
    };
    let value = parse_float(value_text).ok_or_else(|| format!("invalid value {value_text:?} (a number expected)"))?;
    Ok(Some(Row { path, tags, value, timestamp_s }))
}

/// Adds a line's sample to `parsed` (see `tagged_sample::push_tagged`). `now_ms` stands in
/// for a missing timestamp, cut to whole seconds. Returns the bytes the sample takes in
/// `parsed` (0 for a blank line), or the problem of a bad line (`parsed` unchanged).
pub fn push_line(parsed: &mut Parsed, raw: &[u8], now_ms: i64, rules: &IngestRules) -> Result<usize, String> {
    let row = match parse_line(raw) {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(0),
        Err(problem) => return Err(with_line(raw, &problem)),
    };
    let timestamp_ms = match row.timestamp_s {
        Some(seconds) => seconds * 1000,
        None => now_ms - now_ms.rem_euclid(1000),
    };
    push_tagged(parsed, raw, row.path, row.tags, Sample { timestamp_ms, value: row.value }, rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(raw: &str) -> Result<Option<Row<'_>>, String> {
        parse_line(raw.as_bytes())
    }

    fn some(path: &str, tags: &[(&'static str, &'static str)], value: f64, timestamp_s: Option<i64>) -> Result<Option<Row<'static>>, String> {
        // Leaked: table tests only.
        let path: &'static str = Box::leak(path.to_string().into_boxed_str());
        Ok(Some(Row { path, tags: tags.to_vec(), value, timestamp_s }))
    }

    #[test]
    fn lines_parse_as_victoriametrics_reads_them() {
        let cases: &[(&str, Result<Option<Row<'static>>, String>)] = &[
            ("foo.bar.baz 123 1700000000", some("foo.bar.baz", &[], 123.0, Some(1_700_000_000))),
            ("foo.bar 1.5", some("foo.bar", &[], 1.5, None)),
            ("foo\t-2e3\t1700000000", some("foo", &[], -2000.0, Some(1_700_000_000))),
            ("  foo  \t 7   1700000000  \t", some("foo", &[], 7.0, Some(1_700_000_000))),
            ("foo 7 1700000000\r", some("foo", &[], 7.0, Some(1_700_000_000))),
            ("foo 7 1700000000.999", some("foo", &[], 7.0, Some(1_700_000_000))),
            ("foo 7 0", some("foo", &[], 7.0, None)),
            ("foo 7 -1", some("foo", &[], 7.0, None)),
            ("foo 7 -1.5", some("foo", &[], 7.0, None)),
            ("foo 7 1e9", some("foo", &[], 7.0, Some(1_000_000_000))),
            ("foo;env=prod;dc=eu 7 1700000000", some("foo", &[("env", "prod"), ("dc", "eu")], 7.0, Some(1_700_000_000))),
            ("foo;empty=;=x;novalue;a=b=c 7", some("foo", &[("a", "b=c")], 7.0, None)),
            ("foo; 7", some("foo", &[], 7.0, None)),
            ("path with blanks 7 1700000000", some("path with blanks", &[], 7.0, Some(1_700_000_000))),
            ("weird/chars-ok:x 7", some("weird/chars-ok:x", &[], 7.0, None)),
            ("", Ok(None)),
            (" \t ", Ok(None)),
            ("\r", Ok(None)),
        ];
        for (line, want) in cases {
            assert_eq!(&row(line), want, "{line:?}");
        }
        for special in ["nan", "NaN", "inf", "+Inf", "-inf", "Infinity"] {
            let line = format!("m {special} 1700000000");
            let parsed = row(&line).unwrap().unwrap();
            let want = parse_float(special).unwrap();
            assert!(parsed.value.to_bits() == want.to_bits() || (parsed.value.is_nan() && want.is_nan()), "{special}");
        }
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, needle) in [
            ("foo", "no value"),
            ("foo bar", "invalid value"),
            ("foo 1 notatime", "invalid timestamp"),
            ("foo 1 nan", "out of range"),
            ("foo 1 1e300", "out of range"),
            (";a=b 1 2", "path is empty"),
            ("foo 1,5 2", "invalid value"),
        ] {
            let problem = row(line).unwrap_err();
            assert!(problem.contains(needle), "{line:?}: {problem}");
        }
        assert_eq!(parse_line(b"foo \xff 1").unwrap_err(), "not valid UTF-8");
    }

    fn push(parsed: &mut Parsed, line: &str, rules: &IngestRules) -> Result<usize, String> {
        push_line(parsed, line.as_bytes(), 1_700_000_000_123, rules)
    }

    #[test]
    fn samples_get_sorted_labels_and_millisecond_timestamps() {
        let rules = IngestRules::default();
        let mut parsed = Parsed::default();
        assert_eq!(push(&mut parsed, "", &rules), Ok(0));
        assert!(parsed.is_empty());
        for line in ["a.b;z=1;__name__=x;m=2;m=3 1 100", "a.b;m=3;z=1 2 101", "a.b;m=3;z=1 3", "c 4 1700000000.5"] {
            assert!(push(&mut parsed, line, &rules).unwrap() > 0, "{line}");
        }
        assert!(push(&mut parsed, "bad", &rules).is_err());
        let series = parsed.to_series();
        let shown: Vec<(String, Vec<(i64, f64)>)> = series.iter().map(|s| (format!("{:?}", s.labels), s.samples.iter().map(|x| (x.timestamp_ms, x.value)).collect())).collect();
        assert_eq!(series.len(), 2, "{shown:?}");
        assert_eq!(series[0].labels, tsdb::Labels::from_pairs([("__name__", "a.b"), ("m", "3"), ("z", "1")]));
        let samples: Vec<(i64, f64)> = series[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(samples, vec![(100_000, 1.0), (101_000, 2.0), (1_700_000_000_000, 3.0)], "no timestamp: now in whole seconds");
        assert_eq!(series[1].labels, tsdb::Labels::from_pairs([("__name__", "c")]));
        assert_eq!(series[1].samples[0].timestamp_ms, 1_700_000_000_000);
        assert_eq!(parsed.samples, 4);
    }

    #[test]
    fn ingest_rules_apply() {
        let mut rules = IngestRules { reject_non_finite: true, ..IngestRules::default() };
        rules.label_limits.value_bytes = 4;
        let mut parsed = Parsed::default();
        assert!(push(&mut parsed, "m NaN 1", &rules).unwrap_err().contains("reject_non_finite"));
        assert!(push(&mut parsed, "m;t=toolong 1 1", &rules).unwrap_err().contains("max_label_value_bytes"));
        assert!(push(&mut parsed, "mmmmm 1 1", &rules).is_err(), "the path is a label value too");
        assert!(parsed.is_empty());
        assert!(push(&mut parsed, "m;t=ok 1 1", &rules).is_ok());
        let long = format!("{} 1 1", "x".repeat(500));
        let problem = push(&mut parsed, &long, &rules).unwrap_err();
        assert!(problem.len() < 300 && problem.contains('…'), "{problem}");
    }
}
