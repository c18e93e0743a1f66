//! Parsing of the test-script format: blocks of a command line plus indented lines, series
//! lines in the value notation (`notation`), loads (with `load_with_nhcb`'s conversion of
//! classic histograms, `nhcb`) and eval expectations.

use tsdb::{HistogramSample, Label, Labels, Sample, SampleStarts, SeriesSamples};

use super::expect_annotations::AnnotationExpectations;
use super::nhcb::convert_classic_histograms;
use super::notation::{parse_sequence, SeqValue};
use super::start_notation::parse_start_offsets;
use crate::parser::lexemes::{duration, label_identifier, metric_identifier, string_literal};

#[derive(Debug, Clone)]
pub enum Expected {
    Fail,
    Scalar(f64),
    String(String),
    /// Series with one value per step (an instant vector: one value).
    Series { series: Vec<(Labels, Vec<SeqValue>)>, ordered: bool },
}

impl Expected {
    /// Whether any expected value is a native histogram.
    pub fn has_histograms(&self) -> bool {
        match self {
            Expected::Series { series, .. } => series.iter().flat_map(|(_, values)| values).any(|v| matches!(v, SeqValue::Histogram { .. })),
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Case {
    pub line: usize,
    pub query: String,
    pub start_ms: i64,
    /// (end, step) for range evaluations.
    pub range: Option<(i64, i64)>,
    /// `expect range vector from S to E step D` of an instant evaluation: (S, E, D); the query is
    /// evaluated at E and its range-vector result compared point by point.
    pub range_vector: Option<(i64, i64, i64)>,
    pub expected: Expected,
    /// `expect warn|info|no_warn|no_info` lines.
    pub annotations: AnnotationExpectations,
}

#[derive(Debug)]
pub enum Command {
    /// Series with their float and native histogram samples, and the start times a `metric@st`
    /// line before a series line gives its samples.
    Load { series: Vec<SeriesSamples> },
    Clear,
    Eval(Case),
    /// Something this runner does not support (unknown commands, unparsable lines).
    Skip(String),
}

pub enum Outcome {
    Pass,
    Fail(String),
    Skip,
}

fn parse_time_ms(text: &str) -> Option<i64> {
    if let Ok(("", ms)) = duration(text) {
        return Some(ms);
    }
    text.parse::<f64>().ok().map(|s| (s * 1000.0).round() as i64)
}

/// `metric{a="b"}` or `{a="b"}` at the start of `text`; returns labels and the rest.
pub fn parse_series_notation(text: &str) -> Option<(Labels, &str)> {
    let mut rest = text.trim_start();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Ok((r, name)) = metric_identifier(rest) {
        pairs.push(("__name__".into(), name.to_string()));
        rest = r;
    }
    if let Some(r) = rest.strip_prefix('{') {
        rest = r.trim_start();
        loop {
            if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            }
            let (r, name) = if rest.starts_with('"') {
                let (r, n) = string_literal(rest).ok()?;
                (r, n)
            } else {
                let (r, n) = label_identifier(rest).ok()?;
                (r, n.to_string())
            };
            let r = r.trim_start();
            if r.starts_with(',') || r.starts_with('}') {
                // A bare quoted name is the metric name.
                pairs.push(("__name__".into(), name));
                rest = r.strip_prefix(',').unwrap_or(r).trim_start();
                continue;
            }
            let r = r.strip_prefix('=')?.trim_start();
            let (r, value) = string_literal(r).ok()?;
            pairs.push((name, value));
            let r = r.trim_start();
            rest = r.strip_prefix(',').unwrap_or(r).trim_start();
        }
    } else if pairs.is_empty() {
        return None;
    }
    let labels = Labels::from_sorted({
        let mut v: Vec<Label> = pairs.into_iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| Label { name: n, value: v }).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    });
    Some((labels, rest))
}

/// A scalar expectation: a number or `stale` (no hex: `0x59` is series notation).
fn number(text: &str) -> Option<f64> {
    match text {
        "stale" => Some(f64::from_bits(tsdb::STALE_NAN_BITS)),
        t if t.contains(['x', 'X']) => None,
        t => t.parse::<f64>().ok(),
    }
}

/// The series of a `load` block: floats into `samples`, native histograms into `histograms`,
/// start times from the `metric@st` line just before a series line (offsets from each sample's
/// time; the line must name the same series and give as many steps). With `with_nhcb`, classic
/// `_bucket`/`_count`/`_sum` series also become native histograms with custom buckets under the
/// base name.
fn parse_load(body: &[&str], step_ms: i64, with_nhcb: bool) -> Command {
    let mut series = Vec::new();
    // The start-time line waiting for its series line: its labels and offsets.
    let mut pending: Option<(Labels, Vec<Option<i64>>)> = None;
    for l in body {
        let Some((labels, values)) = parse_series_notation(l) else { continue };
        if let Some(offsets) = values.strip_prefix("@st") {
            if pending.is_some() {
                return Command::Skip(format!("@st line without a series line after it: {l:?}"));
            }
            match parse_start_offsets(offsets) {
                Ok(offsets) => pending = Some((labels, offsets)),
                Err(why) => return Command::Skip(why),
            }
            continue;
        }
        let Ok(values) = parse_sequence(values) else { continue };
        let offsets = match pending.take() {
            Some((st_labels, _)) if st_labels != labels => return Command::Skip(format!("@st line for another series than {l:?}")),
            Some((_, offsets)) if offsets.len() != values.len() => {
                return Command::Skip(format!("@st line has {} values but the series line {l:?} has {}", offsets.len(), values.len()))
            }
            Some((_, offsets)) => Some(offsets),
            None => None,
        };
        let mut loaded = SeriesSamples { labels, samples: Vec::new(), histograms: Vec::new(), starts: None };
        let mut starts = SampleStarts::default();
        for (k, v) in values.into_iter().enumerate() {
            let timestamp_ms = k as i64 * step_ms;
            // No offset: the sample has no start (0, as Prometheus' appender takes it).
            let start = offsets.as_ref().and_then(|o| o[k]).map_or(0, |offset| timestamp_ms + offset);
            match v {
                SeqValue::Omitted => {}
                SeqValue::Float(value) => {
                    loaded.samples.push(Sample { timestamp_ms, value });
                    starts.floats.push(start);
                }
                SeqValue::Histogram { histogram, .. } => {
                    loaded.histograms.push(HistogramSample { timestamp_ms, histogram });
                    starts.histograms.push(start);
                }
            }
        }
        if offsets.is_some() {
            loaded.starts = Some(Box::new(starts));
        }
        series.push(loaded);
    }
    if pending.is_some() {
        return Command::Skip("@st line without a series line after it".into());
    }
    if with_nhcb {
        let converted = convert_classic_histograms(&series);
        series.extend(converted);
    }
    Command::Load { series }
}

/// Splits a script into commands.
pub fn parse_script(text: &str) -> Vec<Command> {
    let lines: Vec<&str> = text.lines().collect();
    let mut commands = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        if line.is_empty() || line.starts_with('#') {
            i += 1;
            continue;
        }
        let line_number = i + 1;
        let mut body = Vec::new();
        i += 1;
        // The body: following indented lines, up to an empty or comment line.
        while i < lines.len() {
            let raw = lines[i];
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') || !raw.starts_with([' ', '\t']) {
                break;
            }
            body.push(l);
            i += 1;
        }
        commands.push(parse_command(line, &body, line_number));
    }
    commands
}

fn parse_command(line: &str, body: &[&str], line_number: usize) -> Command {
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    match word {
        "clear" => Command::Clear,
        "load" | "load_with_nhcb" => {
            let Some(step) = parse_time_ms(rest.trim()) else { return Command::Skip(format!("bad load step {rest:?}")) };
            parse_load(body, step, word == "load_with_nhcb")
        }
        w if w.starts_with("eval") => parse_eval(w, rest, body, line_number),
        other => Command::Skip(format!("unsupported command {other}")),
    }
}

fn parse_eval(word: &str, rest: &str, body: &[&str], line_number: usize) -> Command {
    let mut fail = word == "eval_fail";
    let mut ordered = word == "eval_ordered";
    let rest = rest.trim();
    let (start_ms, range, query) = if let Some(r) = rest.strip_prefix("instant at ") {
        let (t, q) = r.trim().split_once(char::is_whitespace).unwrap_or((r, ""));
        let Some(t) = parse_time_ms(t) else { return Command::Skip(format!("bad time {t:?}")) };
        (t, None, q.trim())
    } else if let Some(r) = rest.strip_prefix("range from ") {
        let parts: Vec<&str> = r.splitn(6, char::is_whitespace).collect();
        if parts.len() < 6 || parts[1] != "to" || parts[3] != "step" {
            return Command::Skip(format!("bad range eval {rest:?}"));
        }
        let (Some(s), Some(e), Some(st)) = (parse_time_ms(parts[0]), parse_time_ms(parts[2]), parse_time_ms(parts[4])) else {
            return Command::Skip(format!("bad range eval {rest:?}"));
        };
        (s, Some((e, st)), parts[5].trim())
    } else {
        return Command::Skip(format!("unsupported eval {rest:?}"));
    };
    let mut series = Vec::new();
    let mut scalar = None;
    let mut string = None;
    let mut range_vector = None;
    let mut annotations = AnnotationExpectations::default();
    for l in body {
        if let Some(directive) = l.strip_prefix("expect ") {
            let directive = directive.trim();
            if let Some(read) = annotations.add_line(directive) {
                if let Err(e) = read {
                    return Command::Skip(e);
                }
            } else if directive.starts_with("fail") {
                fail = true;
            } else if directive == "ordered" {
                ordered = true;
            } else if let Some(s) = directive.strip_prefix("string ") {
                match string_literal(s.trim()) {
                    Ok((_, v)) => string = Some(v),
                    Err(_) => return Command::Skip("bad expected string".into()),
                }
            } else if let Some(r) = directive.strip_prefix("range vector") {
                let words: Vec<&str> = r.split_whitespace().collect();
                let spec = match words.as_slice() {
                    ["from", from, "to", to, "step", step] => parse_time_ms(from).zip(parse_time_ms(to)).zip(parse_time_ms(step)).map(|((f, t), s)| (f, t, s)),
                    _ => None,
                };
                match (spec, range) {
                    (Some(spec), None) if spec.0 <= spec.1 => range_vector = Some(spec),
                    _ => return Command::Skip(format!("bad range vector expectation {l:?}")),
                }
            }
            continue;
        }
        if let Some(v) = number(l.trim()) {
            scalar = Some(v);
        } else if let Some((labels, values)) = parse_series_notation(l) {
            match parse_sequence(values) {
                Ok(values) => series.push((labels, values)),
                Err(e) => return Command::Skip(format!("unparsed expectation {l:?}: {e}")),
            }
        } else {
            return Command::Skip(format!("unparsed expectation {l:?}"));
        }
    }
    let expected = if fail {
        Expected::Fail
    } else if let Some(s) = string {
        Expected::String(s)
    } else if let Some(v) = scalar {
        Expected::Scalar(v)
    } else {
        Expected::Series { series, ordered }
    };
    Command::Eval(Case { line: line_number, query: query.to_string(), start_ms, range, range_vector, expected, annotations })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(body: &[&str], with_nhcb: bool) -> Vec<SeriesSamples> {
        match parse_load(body, 60_000, with_nhcb) {
            Command::Load { series } => series,
            other => panic!("a load block is a load command, got {other:?}"),
        }
    }

    #[test]
    fn loads_put_floats_and_histograms_in_their_lists() {
        let series = load(&["mixed 1 {{count:2 buckets:[2]}}x1 _ stale", "h_bucket{le=\"1\", a=\"x\"} 1 2"], false);
        assert!(series.iter().all(|s| s.starts.is_none()));
        let mixed = &series[0];
        assert_eq!(mixed.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), vec![0, 240_000]);
        assert_eq!(mixed.histograms.iter().map(|h| (h.timestamp_ms, h.histogram.count)).collect::<Vec<_>>(), vec![(60_000, 2.0), (120_000, 2.0)]);
        assert_eq!(series.len(), 2, "without load_with_nhcb no conversion");
        let series = load(&["h_bucket{le=\"1\", a=\"x\"} 1 2", "h_bucket{le=\"+Inf\", a=\"x\"} 3 4"], true);
        let converted = series.iter().find(|s| s.labels.to_string() == "h{a=\"x\"}").expect("the converted series");
        assert_eq!(converted.histograms.len(), 2);
        assert_eq!(converted.histograms[1].histogram.positive_buckets, vec![2.0, 2.0]);
    }

    #[test]
    fn start_time_lines_give_the_next_series_its_starts() {
        let series = load(&["a 1 2", "b@st _ -30s 1ms", "b 1 2 {{count:3}}", "c 5"], false);
        assert_eq!(series.len(), 3);
        assert!(series[0].starts.is_none() && series[2].starts.is_none());
        let starts = series[1].starts.as_deref().expect("b has start times");
        // Offsets from each sample's time (0, 1 m, 2 m); `_` gives no start.
        assert_eq!(starts.floats, vec![0, 30_000]);
        assert_eq!(starts.histograms, vec![120_001]);
        // A start line must name the next series, give as many steps, and be followed by one.
        for body in [&["b@st 0 0", "c 1 2"][..], &["b@st 0", "b 1 2"], &["b@st 0"], &["b@st 0", "b@st 0", "b 1"], &["b@st 1q", "b 1"]] {
            assert!(matches!(parse_load(body, 60_000, false), Command::Skip(_)), "{body:?}");
        }
    }

    #[test]
    fn expectations_with_histograms_and_range_vectors() {
        let body = ["expect range vector from 1m to 2m step 60s", "m{a=\"1\"} 1 _", "m{a=\"2\"} {{count:1 counter_reset_hint:not_reset}} {{count:2}}"];
        let Command::Eval(case) = parse_eval("eval", "instant at 2m m[2m]", &body, 7) else { panic!("an eval command") };
        assert_eq!(case.range_vector, Some((60_000, 120_000, 60_000)));
        assert!(case.expected.has_histograms());
        let Expected::Series { series, .. } = &case.expected else { panic!("series expected") };
        assert_eq!(series[0].1, vec![SeqValue::Float(1.0), SeqValue::Omitted]);
        assert!(matches!(&series[1].1[0], SeqValue::Histogram { hint_set: true, .. }));
        assert!(matches!(&series[1].1[1], SeqValue::Histogram { hint_set: false, .. }));
        assert!(matches!(parse_eval("eval", "instant at 1m m", &["{} {{count:1"], 1), Command::Skip(_)));
        assert!(matches!(parse_eval("eval", "instant at 1m m", &["expect range vector from 2m to 1m step 1m"], 1), Command::Skip(_)));
        let Command::Eval(case) = parse_eval("eval", "instant at 1m 1", &["stale"], 1) else { panic!("an eval command") };
        assert!(matches!(case.expected, Expected::Scalar(v) if v.to_bits() == tsdb::STALE_NAN_BITS));
    }

    #[test]
    fn series_notation() {
        let (l, rest) = parse_series_notation(r#"http_requests{job="api", instance="0"} 1 2"#).unwrap();
        assert_eq!(l.get("job"), Some("api"));
        assert_eq!(l.metric_name(), Some("http_requests"));
        assert_eq!(rest.trim(), "1 2");
        let (l, _) = parse_series_notation("{} 3").unwrap();
        assert!(l.is_empty());
    }
}
