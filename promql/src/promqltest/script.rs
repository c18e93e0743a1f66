//! Parsing of the test-script format: blocks of a command line plus indented lines,
//! series notation with value sequences (`1+2x3`, `_x2`, `stale`), and eval expectations.

use tsdb::{Label, Labels, Sample, SeriesSamples, STALE_NAN_BITS};

use crate::parser::lexemes::{duration, label_identifier, metric_identifier, string_literal};

#[derive(Debug, Clone)]
pub enum Expected {
    Fail,
    Scalar(f64),
    String(String),
    /// Series with one value per step (`None`: no point).
    Series { series: Vec<(Labels, Vec<Option<f64>>)>, ordered: bool },
}

#[derive(Debug, Clone)]
pub struct Case {
    pub line: usize,
    pub query: String,
    pub start_ms: i64,
    /// (end, step) for range evaluations.
    pub range: Option<(i64, i64)>,
    pub expected: Expected,
}

#[derive(Debug)]
pub enum Command {
    /// Float series, and placeholders (value 0) at the steps of samples this project does not
    /// model (native histograms, NHCB conversions, series with start timestamps): a case that
    /// reads any of those is skipped.
    Load { series: Vec<SeriesSamples>, unsupported: Vec<SeriesSamples> },
    Clear,
    Eval(Case),
    /// Something this runner does not support (native histograms, unknown commands).
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

/// A number in series notation (no hex: `0x59` means 0 repeated 59 more times).
fn number(text: &str) -> Option<f64> {
    match text {
        "stale" => Some(f64::from_bits(STALE_NAN_BITS)),
        t if t.contains(['x', 'X']) => None,
        t => t.parse::<f64>().ok(),
    }
}

/// Expands value notation into one entry per step (`None`: no sample). `None` overall for
/// unsupported values (native histograms).
pub fn parse_values(text: &str) -> Option<Vec<Option<f64>>> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if token.contains("{{") || token.contains("}}") {
            return None;
        }
        if token == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = token.strip_prefix("_x") {
            out.extend(std::iter::repeat_n(None, n.parse().ok()?));
            continue;
        }
        if let Some(v) = number(token) {
            out.push(Some(v));
            continue;
        }
        let (expr, times) = token.rsplit_once('x')?;
        let times: usize = times.parse().ok()?;
        // Find the operator: a +/- not at the start and not part of an exponent.
        let bytes = expr.as_bytes();
        let op_at = (1..bytes.len()).rev().find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E'));
        let (start, delta) = match op_at {
            Some(i) => {
                let d = number(&expr[i + 1..])?;
                (number(&expr[..i])?, if bytes[i] == b'-' { -d } else { d })
            }
            None => (number(expr)?, 0.0),
        };
        if start.to_bits() == STALE_NAN_BITS {
            out.extend(std::iter::repeat_n(Some(start), times + 1));
            continue;
        }
        let mut v = start;
        for _ in 0..=times {
            out.push(Some(v));
            v += delta;
        }
    }
    Some(out)
}

/// One step of a series line: no sample, a float, or a native histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    Empty,
    Float(f64),
    Histogram,
}

/// Like `parse_values`, but native histograms (`{{...}}`, `{{..}}xN`, `{{..}}+{{..}}xN`) become
/// `Slot::Histogram` steps instead of making the whole line unsupported.
pub fn parse_slots(text: &str) -> Option<Vec<Slot>> {
    // Each `{{...}}` becomes the token `H` so that whitespace splitting works.
    let mut flat = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        flat.push_str(&rest[..i]);
        let end = rest[i..].find("}}")? + i + 2;
        flat.push('H');
        rest = &rest[end..];
    }
    flat.push_str(rest);
    let mut out = Vec::new();
    for token in flat.split_whitespace() {
        if token.starts_with('H') {
            let times = match token.rsplit_once('x') {
                Some((_, n)) => n.parse::<usize>().ok()? + 1,
                None => 1,
            };
            out.extend(std::iter::repeat_n(Slot::Histogram, times));
            continue;
        }
        out.extend(parse_values(token)?.into_iter().map(|v| v.map_or(Slot::Empty, Slot::Float)));
    }
    Some(out)
}

/// The series of a `load` block. With `with_nhcb`, classic `_bucket`/`_count`/`_sum` series also
/// produce a native histogram series under the base name (recorded as unsupported).
fn parse_load(body: &[&str], step_ms: i64, with_nhcb: bool) -> Command {
    let mut series = Vec::new();
    let mut unsupported = Vec::new();
    // Start timestamps (`metric@st ...` lines) are not modelled: the whole block is unsupported.
    let has_start_timestamps = body.iter().any(|l| parse_series_notation(l).is_some_and(|(_, rest)| rest.starts_with("@st")));
    for l in body {
        let Some((labels, values)) = parse_series_notation(l) else { continue };
        if values.starts_with("@st") {
            continue;
        }
        let Some(slots) = parse_slots(values) else { continue };
        let at = |k: usize| k as i64 * step_ms;
        let floats: Vec<Sample> =
            slots.iter().enumerate().filter_map(|(k, s)| if let Slot::Float(v) = s { Some(Sample { timestamp_ms: at(k), value: *v }) } else { None }).collect();
        let others: Vec<Sample> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| has_start_timestamps && **s != Slot::Empty || **s == Slot::Histogram)
            .map(|(k, _)| Sample { timestamp_ms: at(k), value: 0.0 })
            .collect();
        if with_nhcb {
            if let Some(base) = nhcb_base(&labels) {
                let stamps = floats.iter().map(|s| Sample { timestamp_ms: s.timestamp_ms, value: 0.0 }).collect();
                unsupported.push(SeriesSamples { labels: base, samples: stamps, histograms: Vec::new() });
            }
        }
        if !others.is_empty() {
            unsupported.push(SeriesSamples { labels: labels.clone(), samples: others, histograms: Vec::new() });
        }
        if !has_start_timestamps {
            series.push(SeriesSamples { labels, samples: floats, histograms: Vec::new() });
        }
    }
    Command::Load { series, unsupported }
}

/// The labels of the NHCB series a classic histogram series is converted into.
fn nhcb_base(labels: &Labels) -> Option<Labels> {
    let name = labels.metric_name()?;
    let base = ["_bucket", "_count", "_sum"].iter().find_map(|suffix| name.strip_suffix(suffix))?;
    if name.ends_with("_bucket") && labels.get("le").is_none() {
        return None;
    }
    Some(Labels::from_sorted(
        labels
            .iter()
            .filter(|l| l.name != "le")
            .map(|l| if l.name == "__name__" { Label { name: l.name.to_string(), value: base.to_string() } } else { l.to_label() })
            .collect::<Vec<Label>>(),
    ))
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
    for l in body {
        if let Some(directive) = l.strip_prefix("expect ") {
            let directive = directive.trim();
            if directive.starts_with("fail") {
                fail = true;
            } else if directive == "ordered" {
                ordered = true;
            } else if let Some(s) = directive.strip_prefix("string ") {
                match string_literal(s.trim()) {
                    Ok((_, v)) => string = Some(v),
                    Err(_) => return Command::Skip("bad expected string".into()),
                }
            } else if directive.starts_with("range vector") {
                return Command::Skip("instant range-vector results are not compared yet".into());
            }
            // warn/info/no_warn/no_info annotations are not checked.
            continue;
        }
        if let Some(v) = number(l.trim()) {
            scalar = Some(v);
        } else if let Some((labels, values)) = parse_series_notation(l) {
            let Some(values) = parse_values(values) else { return Command::Skip("native histogram expectation".into()) };
            series.push((labels, values));
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
    Command::Eval(Case { line: line_number, query: query.to_string(), start_ms, range, expected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation() {
        let v = parse_values("1 _ 0+10x2 5-1x1 _x2 stale 3x2").unwrap();
        let flat: Vec<Option<f64>> = v.iter().map(|x| x.filter(|f| !f.is_nan())).collect();
        assert_eq!(flat, vec![Some(1.0), None, Some(0.0), Some(10.0), Some(20.0), Some(5.0), Some(4.0), None, None, None, Some(3.0), Some(3.0), Some(3.0)]);
        assert!(v[9].unwrap().to_bits() == STALE_NAN_BITS);
        assert_eq!(parse_values("1e3+1e3x1").unwrap(), vec![Some(1000.0), Some(2000.0)]);
        assert!(parse_values("{{schema:1}}").is_none());
    }

    #[test]
    fn histogram_slots_and_nhcb_placeholders() {
        let slots = parse_slots("1 {{schema:1 sum:3 count:2 buckets:[1 1]}}x2 _ {{count:1}}+{{count:1}}x1 2").unwrap();
        use Slot::*;
        assert_eq!(slots, vec![Float(1.0), Histogram, Histogram, Histogram, Empty, Histogram, Histogram, Float(2.0)]);
        let Command::Load { series, unsupported } = parse_load(&["h_bucket{le=\"1\", a=\"x\"} 1 2", "mixed 1 {{count:1}}"], 60_000, true) else {
            panic!("a load block is a load command");
        };
        assert_eq!(series.len(), 2);
        assert_eq!(series[1].samples.len(), 1, "the float sample of the mixed series stays");
        let names: Vec<String> = unsupported.iter().map(|s| s.labels.to_string()).collect();
        assert!(names.contains(&"h{a=\"x\"}".to_string()), "{names:?}");
        assert_eq!(unsupported.iter().find(|s| s.labels.metric_name() == Some("mixed")).map(|s| s.samples[0].timestamp_ms), Some(60_000));
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
