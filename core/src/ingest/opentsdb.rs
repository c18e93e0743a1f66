//! OpenTSDB's telnet `put` lines (`put <metric> <timestamp> <value> [<tag>=<value> …]`),
//! parsed line by line as VictoriaMetrics' `-opentsdbListenAddr` parses them, and the JSON
//! data points of its HTTP `/api/put`, the metric as `__name__` and tags as labels. Pure:
//! lines or JSON in, samples added to an `influx::Parsed` batch, or the problem.

use tsdb::Sample;

use super::graphite::parse_float;
use super::influx::Parsed;
use super::tagged_sample::{push_tagged, with_line};
use super::IngestRules;

/// Bits of a timestamp that are zero when it counts seconds (OpenTSDB's `Const.SECOND_MASK`).
const SECOND_MASK: i64 = 0x7FFF_FFFF_0000_0000;

/// One `put` line, borrowed from its text: `__name__` is the metric as sent, the tags become
/// labels. OpenTSDB's rule of at least one tag is not enforced, as VictoriaMetrics does not
/// enforce it.
#[derive(Debug, PartialEq)]
pub struct Row<'a> {
    pub metric: &'a str,
    /// As sent: seconds or milliseconds (see `timestamp_ms`); 0 for "now".
    pub timestamp: i64,
    pub value: f64,
    /// In line order, without those of an empty name or value.
    pub tags: Vec<(&'a str, &'a str)>,
}

/// A timestamp as sent, in milliseconds: seconds unless it has bits above 32 set (it does not
/// fit in 32 bits; OpenTSDB's `SECOND_MASK`), then milliseconds; 0 is the arrival time,
/// `now_ms` in whole seconds.
pub fn timestamp_ms(timestamp: i64, now_ms: i64) -> i64 {
    if timestamp == 0 {
        return now_ms - now_ms.rem_euclid(1000);
    }
    if timestamp & SECOND_MASK == 0 {
        timestamp * 1000
    } else {
        timestamp
    }
}

/// `text` up to its first space, and what follows that space; `None` without a space.
fn next_field(text: &str) -> Option<(&str, &str)> {
    let at = text.find(' ')?;
    Some((&text[..at], &text[at + 1..]))
}

/// Parses one line (without its newline; a trailing `\r` is dropped). `Ok(None)` for an
/// empty line; the problem in words for a malformed one.
pub fn parse_line(raw: &[u8]) -> Result<Option<Row<'_>>, String> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    if raw.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(raw).map_err(|_| "not valid UTF-8".to_string())?;
    // Fields are separated by spaces only (OpenTSDB's and VictoriaMetrics' rule).
    let Some(rest) = text.trim_start_matches(' ').strip_prefix("put ") else {
        return Err("a `put <metric> <timestamp> <value> [tag=value …]` line expected".into());
    };
    let Some((metric, rest)) = next_field(rest.trim_start_matches(' ')) else {
        return Err("no timestamp after the metric".into());
    };
    if metric.is_empty() {
        return Err("the metric is empty".into());
    }
    let Some((timestamp_text, rest)) = next_field(rest.trim_start_matches(' ')) else {
        return Err("no value after the timestamp".into());
    };
    let timestamp = parse_float(timestamp_text).ok_or_else(|| format!("invalid timestamp {timestamp_text:?}"))?;
    // A fraction is cut off (VictoriaMetrics' int64()); what cannot be a time is refused.
    if !timestamp.is_finite() || timestamp.abs() >= (i64::MAX / 1000) as f64 {
        return Err(format!("timestamp {timestamp_text:?} is out of range"));
    }
    let rest = rest.trim_start_matches(' ');
    let (value_text, tags_text) = next_field(rest).unwrap_or((rest, ""));
    let value = parse_float(value_text).ok_or_else(|| format!("invalid value {value_text:?} (a number expected)"))?;
    let mut tags = Vec::new();
    for tag in tags_text.split(' ').filter(|t| !t.is_empty()) {
        let Some((name, value)) = tag.split_once('=') else {
            return Err(format!("the tag {tag:?} has no `=`"));
        };
        if !name.is_empty() && !value.is_empty() {
            tags.push((name, value));
        }
    }
    Ok(Some(Row { metric, timestamp: timestamp.trunc() as i64, value, tags }))
}

/// Adds a line's sample to `parsed` (see `tagged_sample::push_tagged`). `now_ms` stands in
/// for a timestamp of 0. Returns the bytes the sample takes in `parsed` (0 for an empty
/// line), or the problem of a bad line (`parsed` unchanged).
pub fn push_line(parsed: &mut Parsed, raw: &[u8], now_ms: i64, rules: &IngestRules) -> Result<usize, String> {
    let row = match parse_line(raw) {
        Ok(Some(row)) => row,
        Ok(None) => return Ok(0),
        Err(problem) => return Err(with_line(raw, &problem)),
    };
    let sample = Sample { timestamp_ms: timestamp_ms(row.timestamp, now_ms), value: row.value };
    push_tagged(parsed, raw, row.metric, row.tags, sample, rules)
}

/// A JSON number, or a string holding one (VictoriaMetrics reads both).
fn json_number(value: &serde_json::Value) -> Result<f64, String> {
    match value {
        serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| format!("{n} is not a number")),
        serde_json::Value::String(text) => parse_float(text).ok_or_else(|| format!("{text:?} is not a number")),
        other => Err(format!("a number expected, got {other}")),
    }
}

/// Adds one data point of an HTTP `/api/put` body (`{"metric": …, "timestamp": …, "value":
/// …, "tags": {…}}`; `timestamp` may be left out for now, `value` may be a string holding a
/// number, tag values must be strings; a tag with an empty name or value is left out) to
/// `parsed`. Returns the bytes it takes, or the problem (`parsed` unchanged).
pub fn push_json_point(parsed: &mut Parsed, point: &serde_json::Value, now_ms: i64, rules: &IngestRules) -> Result<usize, String> {
    let problem = |what: String| with_line(point.to_string().as_bytes(), &what);
    let Some(object) = point.as_object() else {
        return Err(problem(format!("a data point must be a JSON object, got {}", kind(point))));
    };
    let metric = match object.get("metric") {
        Some(serde_json::Value::String(m)) if !m.is_empty() => m.as_str(),
        _ => return Err(problem("no `metric` (a non-empty string)".into())),
    };
    let timestamp = match object.get("timestamp") {
        None => 0.0,
        Some(t) => json_number(t).map_err(|e| problem(format!("invalid `timestamp`: {e}")))?,
    };
    if !timestamp.is_finite() || timestamp.abs() >= (i64::MAX / 1000) as f64 {
        return Err(problem(format!("`timestamp` {timestamp} is out of range")));
    }
    let value = match object.get("value") {
        None => return Err(problem("no `value`".into())),
        Some(v) => json_number(v).map_err(|e| problem(format!("invalid `value`: {e}")))?,
    };
    let mut tags = Vec::new();
    match object.get("tags") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(map)) => {
            for (name, value) in map {
                let serde_json::Value::String(value) = value else {
                    return Err(problem(format!("the tag {name:?} is not a string")));
                };
                if !name.is_empty() && !value.is_empty() {
                    tags.push((name.as_str(), value.as_str()));
                }
            }
        }
        Some(other) => return Err(problem(format!("`tags` must be an object, got {}", kind(other)))),
    }
    let sample = Sample { timestamp_ms: timestamp_ms(timestamp.trunc() as i64, now_ms), value };
    let raw = point.to_string();
    push_tagged(parsed, raw.as_bytes(), metric, tags, sample, rules)
}

fn kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(raw: &str) -> Result<Option<Row<'_>>, String> {
        parse_line(raw.as_bytes())
    }

    fn some(metric: &'static str, timestamp: i64, value: f64, tags: &[(&'static str, &'static str)]) -> Result<Option<Row<'static>>, String> {
        Ok(Some(Row { metric, timestamp, value, tags: tags.to_vec() }))
    }

    #[test]
    fn lines_parse_as_victoriametrics_reads_them() {
        let cases: &[(&str, Result<Option<Row<'static>>, String>)] = &[
            ("put sys.cpu.user 1700000000 42.5 host=web01 cpu=0", some("sys.cpu.user", 1_700_000_000, 42.5, &[("host", "web01"), ("cpu", "0")])),
            ("put m 1700000000123 1", some("m", 1_700_000_000_123, 1.0, &[])),
            ("  put   m   1700000000   -2e3   a=b  ", some("m", 1_700_000_000, -2000.0, &[("a", "b")])),
            ("put m 1700000000 7 a=b\r", some("m", 1_700_000_000, 7.0, &[("a", "b")])),
            ("put m 1700000000.9 7", some("m", 1_700_000_000, 7.0, &[])),
            ("put m 0 7", some("m", 0, 7.0, &[])),
            ("put m 1 7 empty= =x a=b=c", some("m", 1, 7.0, &[("a", "b=c")])),
            ("put weird/chars-ok:x 1 7", some("weird/chars-ok:x", 1, 7.0, &[])),
            ("", Ok(None)),
            ("\r", Ok(None)),
        ];
        for (line, want) in cases {
            assert_eq!(&row(line), want, "{line:?}");
        }
        for special in ["nan", "NaN", "inf", "-Inf"] {
            let line = format!("put m 1 {special}");
            let parsed = row(&line).unwrap().unwrap();
            let want = parse_float(special).unwrap();
            assert!(parsed.value.to_bits() == want.to_bits() || (parsed.value.is_nan() && want.is_nan()), "{special}");
        }
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, needle) in [
            ("m 1 2", "`put "),
            ("get m 1 2", "`put "),
            ("put", "`put "),
            ("put m", "no timestamp"),
            ("put m 1700000000", "no value"),
            ("put m notatime 1", "invalid timestamp"),
            ("put m nan 1", "out of range"),
            ("put m 1e300 1", "out of range"),
            ("put m 1 x", "invalid value"),
            ("put m 1 2 novalue", "has no `=`"),
            ("put\tm 1 2", "`put "),
        ] {
            let problem = row(line).unwrap_err();
            assert!(problem.contains(needle), "{line:?}: {problem}");
        }
        assert_eq!(parse_line(b"put m 1 \xff").unwrap_err(), "not valid UTF-8");
    }

    #[test]
    fn timestamps_are_seconds_unless_they_pass_32_bits() {
        let now = 1_700_000_000_123;
        assert_eq!(timestamp_ms(1_700_000_000, now), 1_700_000_000_000);
        assert_eq!(timestamp_ms(0xFFFF_FFFF, now), 0xFFFF_FFFF * 1000, "the largest second count");
        assert_eq!(timestamp_ms(0x1_0000_0000, now), 0x1_0000_0000, "past 32 bits: milliseconds");
        assert_eq!(timestamp_ms(1_700_000_000_123, now), 1_700_000_000_123);
        assert_eq!(timestamp_ms(0, now), 1_700_000_000_000, "now, in whole seconds");
    }

    #[test]
    fn samples_get_sorted_labels_and_their_timestamps() {
        let rules = IngestRules::default();
        let mut parsed = Parsed::default();
        assert_eq!(push_line(&mut parsed, b"", 1_700_000_000_123, &rules), Ok(0));
        for line in ["put a.b 100 1 z=1 __name__=x m=2 m=3", "put a.b 101000000000 2 m=3 z=1", "put c 0 4"] {
            assert!(push_line(&mut parsed, line.as_bytes(), 1_700_000_000_123, &rules).unwrap() > 0, "{line}");
        }
        let problem = push_line(&mut parsed, b"put bad", 0, &rules).unwrap_err();
        assert!(problem.starts_with("\"put bad\""), "the line is quoted: {problem}");
        let series = parsed.to_series();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels, tsdb::Labels::from_pairs([("__name__", "a.b"), ("m", "3"), ("z", "1")]));
        let samples: Vec<(i64, f64)> = series[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(samples, vec![(100_000, 1.0), (101_000_000_000, 2.0)]);
        assert_eq!(series[1].labels, tsdb::Labels::from_pairs([("__name__", "c")]));
        assert_eq!(series[1].samples[0].timestamp_ms, 1_700_000_000_000);
        let mut strict = IngestRules { reject_non_finite: true, ..IngestRules::default() };
        strict.label_limits.value_bytes = 4;
        assert!(push_line(&mut parsed, b"put m 1 NaN", 0, &strict).unwrap_err().contains("reject_non_finite"));
        assert!(push_line(&mut parsed, b"put m 1 1 t=toolong", 0, &strict).unwrap_err().contains("max_label_value_bytes"));
    }

    #[test]
    fn json_points_parse_as_victoriametrics_reads_them() {
        let rules = IngestRules::default();
        let mut parsed = Parsed::default();
        let good = serde_json::json!([
            {"metric": "sys.cpu", "timestamp": 1_700_000_000, "value": 1.5, "tags": {"host": "a", "empty": "", "dc": "eu"}},
            {"metric": "sys.cpu", "timestamp": 1_700_000_015_000u64, "value": "2", "tags": {"host": "a", "dc": "eu"}},
            {"metric": "no.time", "value": 3},
        ]);
        for point in good.as_array().unwrap() {
            assert!(push_json_point(&mut parsed, point, 1_700_000_000_123, &rules).unwrap() > 0, "{point}");
        }
        let series = parsed.to_series();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].labels, tsdb::Labels::from_pairs([("__name__", "sys.cpu"), ("dc", "eu"), ("host", "a")]));
        let samples: Vec<(i64, f64)> = series[0].samples.iter().map(|s| (s.timestamp_ms, s.value)).collect();
        assert_eq!(samples, vec![(1_700_000_000_000, 1.5), (1_700_000_015_000, 2.0)]);
        assert_eq!(series[1].samples[0].timestamp_ms, 1_700_000_000_000, "no timestamp: now");
        for (point, needle) in [
            (serde_json::json!({"timestamp": 1, "value": 1}), "no `metric`"),
            (serde_json::json!({"metric": "", "value": 1}), "no `metric`"),
            (serde_json::json!({"metric": "m", "timestamp": 1}), "no `value`"),
            (serde_json::json!({"metric": "m", "value": "x"}), "invalid `value`"),
            (serde_json::json!({"metric": "m", "value": true}), "invalid `value`"),
            (serde_json::json!({"metric": "m", "timestamp": "soon", "value": 1}), "invalid `timestamp`"),
            (serde_json::json!({"metric": "m", "value": 1, "tags": {"a": 1}}), "not a string"),
            (serde_json::json!({"metric": "m", "value": 1, "tags": []}), "must be an object"),
            (serde_json::json!(7), "must be a JSON object"),
        ] {
            let problem = push_json_point(&mut parsed, &point, 0, &rules).unwrap_err();
            assert!(problem.contains(needle), "{point}: {problem}");
        }
        assert_eq!(parsed.samples, 3, "nothing of a bad point is added");
    }
}
