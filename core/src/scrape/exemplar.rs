//! Exemplars of scraped samples, kept as Prometheus keeps them with its exemplar storage
//! (here whenever `storage.max_exemplars` is above 0, the default):
//! - they come in OpenMetrics answers (at most one per sample, after ` # `) and protobuf
//!   ones (a counter's, a classic bucket's, a native histogram's list or else its buckets');
//!   the text format has none;
//! - a float sample's exemplar without a timestamp takes the sample's; a native histogram's
//!   without one is dropped, as Prometheus drops it;
//! - an exemplar goes with its series' final labels (the target's merged in, metric
//!   relabeling applied); one Prometheus' storage would refuse (names and values over 128
//!   characters, a name empty or repeated) is left out, and none ever fails a scrape.
//!
//! Between an answer's decoder (`openmetrics::to_text`, `protobuf::to_text`) and the scrape
//! loop an exemplar rides on its sample's text line, in answers of
//! `scrape_loop::Format::OpenMetrics`, as ` # {labels} value [timestamp]`: OpenMetrics'
//! form, with the timestamp in milliseconds instead of seconds.

use tsdb::Exemplar;

use crate::ingest::text_format::{parse_label_block, parse_value, push_escaped_label_value, push_value, LabelPairs};

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
    /// OpenMetrics: seconds, a float (truncated to milliseconds as Go's `int64(ts * 1000)`).
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

/// Reads an exemplar's text (`{labels} value [timestamp]`, after ` # `).
pub fn parse(text: &str, unit: TimestampUnit) -> Result<ScrapedExemplar, String> {
    let text = text.trim_start();
    let block = text.strip_prefix('{').ok_or_else(|| format!("invalid exemplar {text:?}: a label block must follow '#'"))?;
    let (labels, rest) = parse_label_block(block, 0).map_err(|e| format!("invalid exemplar {text:?}: {}", label_problem(e)))?;
    if labels.iter().any(|(name, _)| !is_label_name(name)) {
        return Err(format!("invalid exemplar {text:?}: invalid label name"));
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next().ok_or_else(|| format!("invalid exemplar {text:?}: missing value"))?;
    let value = parse_value(value).ok_or_else(|| format!("invalid exemplar value {value:?}"))?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(ts) => Some(match unit {
            TimestampUnit::Seconds => {
                let seconds = ts.parse::<f64>().ok().filter(|t| t.is_finite()).ok_or_else(|| format!("invalid exemplar timestamp {ts:?}"))?;
                (seconds * 1000.0) as i64
            }
            TimestampUnit::Milliseconds => ts.parse::<i64>().map_err(|_| format!("invalid exemplar timestamp {ts:?}"))?,
        }),
    };
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the exemplar"));
    }
    Ok(ScrapedExemplar { labels, value, timestamp_ms })
}

/// The problem a label block parse names, without its line prefix.
fn label_problem(error: crate::ingest::DecodeError) -> String {
    match error {
        crate::ingest::DecodeError::InvalidSeries { problem, .. } => problem,
        other => other.to_string(),
    }
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: the names an exemplar's text can carry without quoting.
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_') && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Appends ` # {labels} value [timestamp_ms]` to a line (before its line break). Names must
/// pass `is_label_name`.
pub fn push<'a>(line: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>, value: f64, timestamp_ms: Option<i64>) {
    line.push_str(" # {");
    for (i, (name, label_value)) in labels.into_iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(name);
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
    /// The exemplar as stored, its timestamp `default_ms` when it has none; `None` when it
    /// has neither (a native histogram's) or when Prometheus' storage would refuse it.
    pub fn stored(&self, default_ms: Option<i64>) -> Option<Exemplar> {
        let timestamp_ms = self.timestamp_ms.or(default_ms)?;
        let mut pairs: Vec<(&[u8], &[u8])> = self.labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        crate::ingest::remote_write::exemplar_from(&mut pairs, self.value, timestamp_ms)
    }
}

/// Orders one series' exemplars as its store checks them (time, then value, then the labels'
/// hash), so that several at one timestamp (a native histogram's) are all taken.
pub fn sort_for_store(exemplars: &mut [Exemplar]) {
    exemplars.sort_by(|a, b| {
        a.timestamp_ms.cmp(&b.timestamp_ms).then(a.value.partial_cmp(&b.value).unwrap_or(std::cmp::Ordering::Equal)).then(a.labels.stable_hash().cmp(&b.labels.stable_hash()))
    });
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
    }

    #[test]
    fn malformed_exemplars_are_named() {
        let error = |text: &str, unit| parse(text, unit).unwrap_err();
        assert!(error("a=\"b\"} 1", TimestampUnit::Seconds).contains("a label block must follow '#'"));
        assert!(error("{a=\"b} 1", TimestampUnit::Seconds).contains("unterminated label value"));
        assert!(error("{a=b} 1", TimestampUnit::Seconds).contains("must be quoted"));
        assert!(error("{a b=\"c\"} 1", TimestampUnit::Seconds).contains("invalid label name"));
        assert!(error("{a=\"b\"}", TimestampUnit::Seconds).contains("missing value"));
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
        assert_eq!(exemplar(&[("trace_id", "t")], Some(7)).stored(Some(5)).map(|e| e.timestamp_ms), Some(7));
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
    }
}
