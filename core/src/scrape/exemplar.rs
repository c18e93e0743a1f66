//! Exemplars of scraped samples, kept as Prometheus 3 keeps them with its exemplar storage
//! (here whenever `storage.max_exemplars` is above 0): from OpenMetrics and protobuf answers,
//! with their series' final labels, an untimed one repeating itself until it changes. Between
//! an answer's decoder and the scrape loop an exemplar rides on its sample's text line after
//! ` # `, in OpenMetrics' form with the timestamp in milliseconds.

use tsdb::{Exemplar, Labels};

use crate::ingest::text_format::{is_legacy_label_name, parse_value, push_escaped_label_value, push_name, push_value, LabelPairs};

/// An exemplar as an answer gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapedExemplar {
    pub labels: LabelPairs,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// How an exemplar's timestamp is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimestampUnit {
    /// OpenMetrics: seconds, a float (truncated to milliseconds as Go's `int64(ts * 1000)`,
    /// one out of that range read as Go on amd64 reads it, the least `i64`).
    Seconds,
    /// The rewritten lines: whole milliseconds.
    Milliseconds,
}

/// Splits what follows a sample line's series text into the sample part (value and
/// timestamp) and its exemplar's text after ` # `, if any (a value or timestamp holds no
/// `#`, so the first ` # ` starts the exemplar).
pub fn split(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once(" # ") {
        Some((sample, exemplar)) => (sample, Some(exemplar)),
        None => (rest, None),
    }
}

/// Reads an exemplar's text after ` # ` as Prometheus' OpenMetrics lexer reads it: `{`,
/// `name="value"` pairs (a name plain, `[a-zA-Z_][a-zA-Z0-9_]*`, or quoted) separated by `,`
/// with no spaces, `}`, then one space and the value, perhaps one space and the timestamp,
/// and nothing more.
pub fn parse(text: &str, unit: TimestampUnit) -> Result<ScrapedExemplar, String> {
    let invalid = |problem: &str| format!("invalid exemplar {text:?}: {problem}");
    let mut rest = text.strip_prefix('{').ok_or_else(|| invalid("a label block must follow '# '"))?;
    let mut labels = LabelPairs::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            rest = after;
            break;
        }
        let (name, after) = if rest.starts_with('"') {
            quoted(rest).ok_or_else(|| invalid("a quoted label name does not end"))?
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            let name = &rest[..end];
            if !is_legacy_label_name(name) {
                return Err(invalid("expected a label name"));
            }
            (name.to_string(), &rest[end..])
        };
        let after = after.strip_prefix('=').ok_or_else(|| invalid(&format!("expected '=' after label {name:?}")))?;
        if !after.starts_with('"') {
            return Err(invalid(&format!("the value of label {name:?} must be quoted")));
        }
        let (value, after) = quoted(after).ok_or_else(|| invalid("a label value does not end"))?;
        labels.push((name, value));
        rest = match after.strip_prefix(',') {
            Some(next) => next,
            None if after.starts_with('}') => after,
            None => return Err(invalid("expected ',' or '}' after a label")),
        };
    }
    let rest = rest.strip_prefix(' ').ok_or_else(|| invalid("expected one space and a value after the labels"))?;
    let mut fields = rest.split(' ');
    let value = fields.next().filter(|v| !v.is_empty()).ok_or_else(|| invalid("missing value"))?;
    let value = parse_value(value).ok_or_else(|| format!("invalid exemplar value {value:?}"))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(ts) => Some(match unit {
            TimestampUnit::Seconds => {
                let seconds = ts.parse::<f64>().ok().filter(|t| t.is_finite()).ok_or_else(|| format!("invalid exemplar timestamp {ts:?}"))?;
                let ms = (seconds * 1000.0).trunc();
                if (i64::MIN as f64..i64::MAX as f64).contains(&ms) { ms as i64 } else { i64::MIN }
            }
            TimestampUnit::Milliseconds => ts.parse::<i64>().map_err(|_| format!("invalid exemplar timestamp {ts:?}"))?,
        }),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the exemplar"));
    }
    Ok(ScrapedExemplar { labels, value, timestamp_ms })
}

/// A quoted string at the start of `text` with its escapes read (`\\`, `\"`, `\n`; another
/// escaped character kept with its backslash), and the rest after its closing quote; `None`
/// when it does not end on this line.
fn quoted(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((out, &body[at + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                escaped @ ('\\' | '"') => out.push(escaped),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

/// Appends ` # {labels} value [timestamp_ms]` to a line (before its line break), a name that
/// is not a legacy label name quoted.
pub fn push<'a>(line: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>, value: f64, timestamp_ms: Option<i64>) {
    line.push_str(" # {");
    for (i, (name, label_value)) in labels.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        push_name(line, name, is_legacy_label_name(name));
        line.push_str("=\"");
        push_escaped_label_value(line, label_value);
        line.push('"');
    }
    line.push_str("} ");
    push_value(line, value);
    if let Some(ts) = timestamp_ms {
        line.push(' ');
        line.push_str(&ts.to_string());
    }
}

impl ScrapedExemplar {
    /// The exemplar as stored: its timestamp `default_ms` when it has none (then it repeats
    /// itself while its labels and value stay the same); `None` when it has neither (a native
    /// histogram's), when its labels and values are over 128 characters (which Prometheus'
    /// storage refuses), or when a label name is empty or repeated (which Prometheus keeps,
    /// and no label set here can hold). Labels with empty values are dropped, as there.
    pub fn stored(&self, default_ms: Option<i64>) -> Option<Exemplar> {
        let timestamp_ms = self.timestamp_ms.or(default_ms)?;
        let mut pairs: Vec<(&[u8], &[u8])> = self.labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        let stored = crate::ingest::remote_write::exemplar_from(&mut pairs, self.value, timestamp_ms)?;
        Some(Exemplar { own_timestamp: self.timestamp_ms.is_some(), ..stored })
    }
}

/// Orders one series' exemplars as its store checks them (time, then value with NaN after
/// every number, then the labels' hash), so that several at one timestamp (a native
/// histogram's) are all taken.
pub fn sort_for_store(exemplars: &mut [Exemplar]) {
    let hash = |labels: &Labels| labels.stable_hash();
    exemplars.sort_by(|a, b| a.timestamp_ms.cmp(&b.timestamp_ms).then(a.value.total_cmp(&b.value)).then(hash(&a.labels).cmp(&hash(&b.labels))));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> LabelPairs {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_exemplar_reads_back_as_written() {
        let mut line = String::from("a_total 3");
        push(&mut line, [("trace_id", "x\"y\\z\nw"), ("span_id", "1")], 0.25, Some(1_700_000_000_123));
        assert_eq!(line, "a_total 3 # {trace_id=\"x\\\"y\\\\z\\nw\",span_id=\"1\"} 0.25 1700000000123");
        let (sample, exemplar) = split(&line["a_total".len()..]);
        assert_eq!(sample, " 3");
        let read = parse(exemplar.unwrap_or(""), TimestampUnit::Milliseconds);
        assert_eq!(read, Ok(ScrapedExemplar { labels: pairs(&[("trace_id", "x\"y\\z\nw"), ("span_id", "1")]), value: 0.25, timestamp_ms: Some(1_700_000_000_123) }));
        // No labels, no timestamp; OpenMetrics seconds truncated as Go truncates them.
        assert_eq!(parse("{} NaN", TimestampUnit::Milliseconds).map(|e| (e.labels.len(), e.value.is_nan(), e.timestamp_ms)), Ok((0, true, None)));
        assert_eq!(parse("{a=\"b\"} 1 1700000000.1239", TimestampUnit::Seconds).map(|e| e.timestamp_ms), Ok(Some(1_700_000_000_123)));
        assert_eq!(parse("{a=\"b\"} 1 -0.0019", TimestampUnit::Seconds).map(|e| e.timestamp_ms), Ok(Some(-1)));
        // Out of the i64 range: the least, as Go on amd64 converts it.
        assert_eq!(parse("{a=\"b\"} 1 1e300", TimestampUnit::Seconds).map(|e| e.timestamp_ms), Ok(Some(i64::MIN)));
        // Quoted names, UTF-8 ones written quoted; a trailing comma, as Prometheus' lexer takes it.
        let mut line = String::new();
        push(&mut line, [("trace.id", "1"), ("ok", "2")], 1.0, None);
        assert_eq!(line, " # {\"trace.id\"=\"1\",ok=\"2\"} 1.0");
        assert_eq!(parse(&line[3..], TimestampUnit::Milliseconds).map(|e| e.labels), Ok(pairs(&[("trace.id", "1"), ("ok", "2")])));
        assert_eq!(parse("{\"a\\\"b\"=\"c\",} 2", TimestampUnit::Seconds).map(|e| e.labels), Ok(pairs(&[("a\"b", "c")])));
    }

    #[test]
    fn malformed_exemplars_are_named() {
        let error = |text: &str, unit| parse(text, unit).unwrap_err();
        assert!(error("a=\"b\"} 1", TimestampUnit::Seconds).contains("a label block must follow '# '"));
        assert!(error("{a=\"b} 1", TimestampUnit::Seconds).contains("a label value does not end"));
        assert!(error("{a=b} 1", TimestampUnit::Seconds).contains("the value of label \"a\" must be quoted"));
        assert!(error("{a b=\"c\"} 1", TimestampUnit::Seconds).contains("expected '=' after label \"a\""));
        assert!(error("{1a=\"c\"} 1", TimestampUnit::Seconds).contains("expected a label name"));
        assert!(error("{a=\"b\"}", TimestampUnit::Seconds).contains("expected one space and a value"));
        // What Prometheus' lexer refuses: other spacing, no comma, anything after.
        for text in ["{a=\"b\"}  1", "{a=\"b\"}1", " {a=\"b\"} 1", "{ a=\"b\"} 1", "{a = \"b\"} 1", "{a=\"b\" c=\"d\"} 1", "{a=\"b\"} 1 ", "{a=\"b\"} 1\t2"] {
            assert!(parse(text, TimestampUnit::Seconds).is_err(), "{text:?}");
        }
        assert!(error("{a=\"b\"} one", TimestampUnit::Seconds).contains("invalid exemplar value \"one\""));
        assert!(error("{a=\"b\"} 1 NaN", TimestampUnit::Seconds).contains("invalid exemplar timestamp"));
        assert!(error("{a=\"b\"} 1 1.5", TimestampUnit::Milliseconds).contains("invalid exemplar timestamp"));
        assert!(error("{a=\"b\"} 1 2 3", TimestampUnit::Seconds).contains("unexpected \"3\""));
    }

    #[test]
    fn stored_exemplars_take_a_default_time_and_storage_rules() {
        let exemplar = |labels: &[(&str, &str)], ts: Option<i64>| ScrapedExemplar { labels: pairs(labels), value: 2.0, timestamp_ms: ts };
        let stored = exemplar(&[("trace_id", "t"), ("empty", "")], None).stored(Some(5)).map(|e| (e.labels.to_string(), e.timestamp_ms));
        assert_eq!(stored, Some(("{trace_id=\"t\"}".to_string(), 5)));
        assert_eq!(exemplar(&[("trace_id", "t")], Some(7)).stored(Some(5)).map(|e| (e.timestamp_ms, e.own_timestamp)), Some((7, true)));
        assert_eq!(exemplar(&[("trace_id", "t")], None).stored(Some(5)).map(|e| e.own_timestamp), Some(false), "given its sample's time");
        assert_eq!(exemplar(&[("trace_id", "t")], None).stored(None), None, "a native histogram's needs its own time");
        assert_eq!(exemplar(&[("a", "1"), ("a", "2")], Some(1)).stored(None), None, "a name repeated");
        assert_eq!(exemplar(&[("t", &"x".repeat(127))], Some(1)).stored(None).map(|e| e.label_chars()), Some(128));
        assert_eq!(exemplar(&[("t", &"x".repeat(128))], Some(1)).stored(None), None, "over 128 characters");
    }

    #[test]
    fn exemplars_sort_by_time_then_value() {
        let stored = |ts: i64, value: f64| ScrapedExemplar { labels: pairs(&[("t", "x")]), value, timestamp_ms: Some(ts) }.stored(None).expect("valid");
        let mut list = vec![stored(2, 1.0), stored(1, 9.0), stored(2, 0.5)];
        sort_for_store(&mut list);
        assert_eq!(list.iter().map(|e| (e.timestamp_ms, e.value)).collect::<Vec<_>>(), vec![(1, 9.0), (2, 0.5), (2, 1.0)]);
        // NaN values sort after every number (a total order: many at one time never panic the
        // sort, as a partial comparison could).
        let mut many: Vec<Exemplar> = (0..64).map(|i| stored(7, if i % 2 == 0 { f64::NAN } else { f64::from(i) })).collect();
        sort_for_store(&mut many);
        assert!(many[..32].iter().all(|e| !e.value.is_nan()) && many[32..].iter().all(|e| e.value.is_nan()));
        assert!(many[..32].windows(2).all(|w| w[0].value < w[1].value));
    }
}
