//! VictoriaMetrics-compatible JSON-lines export/import format: one series per line,
//! `{"metric":{...},"values":[...],"timestamps":[...]}` with millisecond timestamps.
//! Non-finite values are written as the bare tokens `NaN`, `Inf`, `-Inf`, and a staleness
//! marker as `null` (as VictoriaMetrics' export writes its NaNs, markers included), so an
//! export imports back unchanged; on import these and VictoriaMetrics' other spellings
//! (`nan`, `inf`, `Infinity`, `-infinity`, `Null`, …) are accepted bare or quoted.

use std::fmt::Write;

use tsdb::{Labels, Sample, SeriesSamples, METRIC_NAME_LABEL};

use super::label_limits::LabelLimits;
use super::DecodeError;

/// Appends one series as a JSON line.
pub fn write_line(out: &mut String, series: &SeriesSamples) {
    out.push_str("{\"metric\":{");
    for (i, l) in series.labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(&l.name).unwrap_or_default());
        out.push(':');
        out.push_str(&serde_json::to_string(&l.value).unwrap_or_default());
    }
    out.push_str("},\"values\":[");
    for (i, s) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if s.value.to_bits() == tsdb::STALE_NAN_BITS {
            out.push_str("null");
        } else if s.value.is_nan() {
            out.push_str("NaN");
        } else if s.value.is_infinite() {
            out.push_str(if s.value > 0.0 { "Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{}", s.value);
        }
    }
    out.push_str("],\"timestamps\":[");
    for (i, s) in series.samples.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{}", s.timestamp_ms);
    }
    out.push_str("]}\n");
}

fn bad(line: usize, problem: impl Into<String>) -> DecodeError {
    DecodeError::InvalidSeries { series: format!("line {line}"), problem: problem.into() }
}

/// Parses a `"values":[...]` array body, accepting bare non-finite tokens.
fn parse_values(text: &str, line: usize) -> Result<Vec<f64>, DecodeError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|token| {
            let t = token.trim().trim_matches('"');
            let (negative, magnitude) = match t.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, t.strip_prefix('+').unwrap_or(t)),
            };
            match magnitude {
                "null" | "Null" if !negative => Ok(f64::from_bits(tsdb::STALE_NAN_BITS)),
                "NaN" | "nan" => Ok(f64::NAN),
                "Inf" | "inf" | "Infinity" | "infinity" => Ok(if negative { f64::NEG_INFINITY } else { f64::INFINITY }),
                _ => t.parse::<f64>().map_err(|_| bad(line, format!("invalid value {t:?}"))),
            }
        })
        .collect()
}

/// Parses one import line (numbered `line` in errors) under the label `limits`; `None` for
/// a blank one.
pub fn parse_line(raw: &str, line: usize, limits: &LabelLimits) -> Result<Option<SeriesSamples>, DecodeError> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    // Take the values array out so the rest is plain JSON.
    let key = "\"values\":";
    let start = raw.find(key).ok_or_else(|| bad(line, "missing \"values\""))?;
    let open = start + key.len() + raw[start + key.len()..].find('[').ok_or_else(|| bad(line, "\"values\" is not an array"))?;
    let close = open + raw[open..].find(']').ok_or_else(|| bad(line, "unterminated \"values\" array"))?;
    let values = parse_values(&raw[open + 1..close], line)?;
    let rest = format!("{}[]{}", &raw[..open], &raw[close + 1..]);
    let parsed: serde_json::Value = serde_json::from_str(&rest).map_err(|e| bad(line, format!("invalid JSON: {e}")))?;
    let metric = parsed["metric"].as_object().ok_or_else(|| bad(line, "missing \"metric\" object"))?;
    let mut pairs = Vec::with_capacity(metric.len());
    for (name, value) in metric {
        let value = value.as_str().ok_or_else(|| bad(line, format!("label {name} is not a string")))?;
        if name.is_empty() {
            return Err(bad(line, "empty label name"));
        }
        pairs.push((name.clone(), value.to_string()));
    }
    if let Some(problem) = super::label_limits::problem(limits, pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
        return Err(bad(line, problem));
    }
    let labels = Labels::from_pairs(pairs);
    if labels.get(METRIC_NAME_LABEL).is_none() {
        return Err(bad(line, "missing metric name (__name__)"));
    }
    let timestamps = parsed["timestamps"].as_array().ok_or_else(|| bad(line, "missing \"timestamps\" array"))?;
    if timestamps.len() != values.len() {
        return Err(bad(line, format!("{} values but {} timestamps", values.len(), timestamps.len())));
    }
    let mut samples = Vec::with_capacity(values.len());
    for (t, v) in timestamps.iter().zip(values) {
        let t = t.as_i64().ok_or_else(|| bad(line, format!("timestamp {t} is not an integer of milliseconds")))?;
        samples.push(Sample { timestamp_ms: t, value: v });
    }
    samples.sort_by_key(|s| s.timestamp_ms);
    Ok(Some(SeriesSamples { labels, samples, histograms: Vec::new() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A whole body through `parse_line`, as the streamed import does line by line (tests only).
    fn parse_lines(body: &[u8]) -> Result<Vec<SeriesSamples>, DecodeError> {
        let text = std::str::from_utf8(body).map_err(|_| bad(0, "body is not valid UTF-8"))?;
        let mut out = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            if let Some(series) = parse_line(raw, index + 1, &LabelLimits::default())? {
                out.push(series);
            }
        }
        Ok(out)
    }

    #[test]
    fn round_trip_with_non_finite_values() {
        let series = SeriesSamples {
            labels: Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]),
            samples: vec![Sample { timestamp_ms: 1, value: 1.5 }, Sample { timestamp_ms: 2, value: f64::NAN }, Sample { timestamp_ms: 3, value: f64::NEG_INFINITY }],
            histograms: Vec::new(),
        };
        let mut text = String::new();
        write_line(&mut text, &series);
        assert_eq!(text, "{\"metric\":{\"__name__\":\"up\",\"job\":\"a\\\"b\"},\"values\":[1.5,NaN,-Inf],\"timestamps\":[1,2,3]}\n");
        let parsed = parse_lines(text.as_bytes()).unwrap();
        assert_eq!(parsed[0].labels, series.labels);
        assert_eq!(parsed[0].samples[0], series.samples[0]);
        assert!(parsed[0].samples[1].value.is_nan());
    }

    #[test]
    fn staleness_markers_round_trip_as_null_and_victoriametrics_spellings_are_read() {
        let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
        let series = SeriesSamples {
            labels: Labels::from_pairs([("__name__", "up")]),
            samples: vec![Sample { timestamp_ms: 1, value: 1.0 }, Sample { timestamp_ms: 2, value: stale }, Sample { timestamp_ms: 3, value: f64::NAN }],
            histograms: Vec::new(),
        };
        let mut text = String::new();
        write_line(&mut text, &series);
        assert!(text.contains("\"values\":[1,null,NaN]"), "{text}");
        let parsed = parse_lines(text.as_bytes()).unwrap();
        let bits: Vec<u64> = parsed[0].samples.iter().map(|s| s.value.to_bits()).collect();
        assert_eq!(bits[1], tsdb::STALE_NAN_BITS, "null is a staleness marker");
        assert!(parsed[0].samples[2].value.is_nan() && bits[2] != tsdb::STALE_NAN_BITS, "NaN stays a plain NaN");
        // VictoriaMetrics' export as written by 1.79 (null after the first value) and the
        // spellings its import accepts.
        let line = b"{\"metric\":{\"__name__\":\"x\"},\"values\":[1,null,\"Null\",\"nan\",inf,\"-Infinity\",\"+inf\"],\"timestamps\":[1,2,3,4,5,6,7]}\n";
        let values: Vec<f64> = parse_lines(line).unwrap()[0].samples.iter().map(|s| s.value).collect();
        assert_eq!((values[1].to_bits(), values[2].to_bits()), (tsdb::STALE_NAN_BITS, tsdb::STALE_NAN_BITS));
        assert!(values[3].is_nan());
        assert_eq!(&values[4..], &[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
        assert!(parse_lines(b"{\"metric\":{\"__name__\":\"x\"},\"values\":[-null],\"timestamps\":[1]}\n").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse_lines(b"{\"metric\":{\"__name__\":\"x\"},\"values\":[1,2],\"timestamps\":[1]}\n").unwrap_err();
        assert!(err.to_string().contains("line 1") && err.to_string().contains("2 values but 1 timestamps"), "{err}");
        let err = parse_lines(b"\n{\"metric\":{\"job\":\"x\"},\"values\":[1],\"timestamps\":[1]}").unwrap_err();
        assert!(err.to_string().contains("line 2") && err.to_string().contains("metric name"), "{err}");
        let long = format!("{{\"metric\":{{\"__name__\":\"x\",\"v\":\"{}\"}},\"values\":[1],\"timestamps\":[1]}}", "a".repeat(16 * 1024 + 1));
        let err = parse_lines(long.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("line 1") && err.to_string().contains("16385 bytes"), "{err}");
    }
}
