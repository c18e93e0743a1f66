//! The InfluxDB line protocol (`measurement[,tag=v…] field=v[,…] [timestamp]`), parsed as
//! VictoriaMetrics single-node parses it for `/write` and `/api/v2/write`: one series per
//! numeric field, named `{measurement}_{field}`, tags as labels, the `db` parameter as a `db`
//! label. Pure: a whole body in, its series out in one compact buffer (label text, spans and
//! one flat sample list: no allocation per series), or the first bad line's number and problem.

use std::borrow::Cow;

use tsdb::{Sample, SeriesBatch, SeriesSamples, TextSpan, METRIC_NAME_LABEL};

use super::label_limits;
use super::IngestRules;

/// Between the measurement and the field name in a metric name (VictoriaMetrics'
/// `-influxMeasurementFieldSeparator` default).
pub const MEASUREMENT_FIELD_SEPARATOR: &str = "_";
/// The label the `db` query parameter sets (VictoriaMetrics' `-influxDBLabel` default).
pub const DB_LABEL: &str = "db";
/// What one request's parsed series may take in memory, counted as their label bytes plus
/// `SERIES_OVERHEAD_BYTES` per series and `SAMPLE_BYTES` per sample. A line's tags are
/// copied into the series of each of its fields, so a small body could otherwise claim
/// gigabytes; it also keeps the write batch's text far below its 4 GiB bound.
pub const PARSED_BYTES_MAX: usize = 1 << 30;
/// Approximate memory of one parsed series besides its label text (`Labels`' two buffers
/// and the sample vector).
const SERIES_OVERHEAD_BYTES: usize = 128;
const SAMPLE_BYTES: usize = std::mem::size_of::<Sample>();
/// Characters of a bad line quoted in its error.
const LINE_SHOWN_CHARS_MAX: usize = 96;
/// Characters of a name or value quoted in the problem.
const NAME_SHOWN_CHARS_MAX: usize = 64;

/// How the timestamps of a request are read (the `precision` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// No (or an unknown) `precision`: guessed from the magnitude, as VictoriaMetrics does
    /// (≥ 1e17 ns, ≥ 1e14 µs, ≥ 1e11 ms, else s), since writers send any of them.
    Guess,
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
}

impl Precision {
    /// From the `precision` parameter of a v1 (`ns`, `u`, `ms`, `s`, `m`, `h`) or v2 (`ns`,
    /// `us`, `ms`, `s`) write; anything else guesses, as VictoriaMetrics does.
    pub fn from_param(value: Option<&str>) -> Precision {
        match value {
            Some("ns") => Precision::Nanoseconds,
            Some("u" | "us" | "µ") => Precision::Microseconds,
            Some("ms") => Precision::Milliseconds,
            Some("s") => Precision::Seconds,
            Some("m") => Precision::Minutes,
            Some("h") => Precision::Hours,
            _ => Precision::Guess,
        }
    }

    /// Milliseconds per unit, for the coarse units (the fine ones divide instead).
    fn coarse_ms(self) -> Option<i64> {
        match self {
            Precision::Seconds => Some(1_000),
            Precision::Minutes => Some(60_000),
            Precision::Hours => Some(3_600_000),
            _ => None,
        }
    }

    /// A line's timestamp in milliseconds. No timestamp, or 0, means the request's arrival
    /// (`now_ms`, cut down to whole units of a coarse precision), as in VictoriaMetrics.
    fn to_ms(self, timestamp: Option<i64>, now_ms: i64) -> Option<i64> {
        let ts = match timestamp {
            None | Some(0) => return Some(self.coarse_ms().map_or(now_ms, |unit| now_ms - now_ms.rem_euclid(unit))),
            Some(ts) => ts,
        };
        match self {
            Precision::Guess if ts >= 100_000_000_000_000_000 => Some(ts / 1_000_000),
            Precision::Guess if ts >= 100_000_000_000_000 => Some(ts / 1_000),
            Precision::Guess if ts >= 100_000_000_000 => Some(ts),
            Precision::Guess => ts.checked_mul(1_000),
            Precision::Nanoseconds => Some(ts / 1_000_000),
            Precision::Microseconds => Some(ts / 1_000),
            Precision::Milliseconds => Some(ts),
            Precision::Seconds | Precision::Minutes | Precision::Hours => ts.checked_mul(self.coarse_ms()?),
        }
    }
}

/// What a request's lines are parsed under.
#[derive(Clone, Copy, Debug)]
pub struct LineOptions<'a> {
    pub precision: Precision,
    /// The `db` query parameter: a `db` label on every series of a line without a `db` tag.
    pub db: Option<&'a str>,
    /// `extra_label` pairs (validated by the caller): set after the tags and `db`, replacing
    /// those of the same name; the metric name is set last (VictoriaMetrics' order).
    pub extra_labels: &'a [(String, String)],
    /// The arrival time: the timestamp of lines without one.
    pub now_ms: i64,
    pub rules: IngestRules,
    /// `PARSED_BYTES_MAX` (smaller in tests).
    pub parsed_bytes_max: usize,
}

/// The series of one request, in line order (one per numeric field; consecutive lines of
/// one series at rising timestamps share an entry), held compactly: every series' label text
/// in one buffer, its labels as spans, its samples a range of one list.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    text: Vec<u8>,
    spans: Vec<(TextSpan, TextSpan)>,
    entries: Vec<Entry>,
    sample_list: Vec<Sample>,
    pub samples: u64,
    /// String fields that do not hold a number, skipped (they have no sample value).
    pub string_fields_skipped: u64,
}

/// One series of `Parsed`: its label spans and its samples, as ranges.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    spans: (u32, u32),
    samples: (u32, u32),
}

impl Parsed {
    pub fn series_count(&self) -> usize {
        self.entries.len()
    }

    /// The write batch (the label text moves, no copy).
    pub fn into_batch(self) -> SeriesBatch {
        let Parsed { text, spans, entries, sample_list, .. } = self;
        let built: Result<SeriesBatch, std::convert::Infallible> = SeriesBatch::build(text, |builder| {
            for e in &entries {
                builder.push_series(&spans[e.spans.0 as usize..e.spans.1 as usize], &sample_list[e.samples.0 as usize..e.samples.1 as usize]);
            }
            Ok(())
        });
        built.unwrap_or_else(|never| match never {})
    }

    /// The series as owned `SeriesSamples` (tests, fuzzing).
    pub fn to_series(&self) -> Vec<SeriesSamples> {
        let text = |span: TextSpan| String::from_utf8_lossy(&self.text[span.start as usize..span.end as usize]).into_owned();
        self.entries
            .iter()
            .map(|e| SeriesSamples {
                labels: tsdb::Labels::from_sorted(self.spans[e.spans.0 as usize..e.spans.1 as usize].iter().map(|&(n, v)| tsdb::Label::new(text(n), text(v)))),
                samples: self.sample_list[e.samples.0 as usize..e.samples.1 as usize].to_vec(),
                histograms: Vec::new(),
                starts: None,
            })
            .collect()
    }

    /// Whether nothing was parsed into it.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Panics unless what was parsed is consistent (the fuzz targets' check of every parser
    /// filling a `Parsed`): each sample counted, each series named with its samples rising in
    /// time, and the write batch made of it holding exactly these series (building it runs
    /// the batch builder's and `Labels::from_sorted`'s debug checks: sorted, unique,
    /// non-empty labels).
    pub fn assert_consistent(self) {
        let series = self.to_series();
        let samples: usize = series.iter().map(|s| s.samples.len()).sum();
        assert_eq!(samples as u64, self.samples, "every sample is counted");
        for s in &series {
            assert!(s.labels.get("__name__").is_some_and(|n| !n.is_empty()), "every series is named");
            assert!(s.samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "samples rise in time");
        }
        assert_eq!(self.into_batch().to_series(), series, "the batch holds what was parsed");
    }

    /// Adds one sample of the series labelled `pairs` (sorted by name, names unique, values
    /// not empty): to the last series when it has these labels and an older newest sample,
    /// else as a new series. Returns the bytes it takes, as `PARSED_BYTES_MAX` counts them.
    pub(crate) fn push_sample<'p, I: Iterator<Item = (&'p str, &'p str)>>(&mut self, pairs: impl Fn() -> I, sample: Sample) -> usize {
        self.samples += 1;
        let extends_last = self.sample_list.last().is_some_and(|s| s.timestamp_ms < sample.timestamp_ms) && self.last_has_labels(pairs());
        if extends_last {
            self.sample_list.push(sample);
            if let Some(last) = self.entries.last_mut() {
                last.samples.1 = self.sample_list.len() as u32;
            }
            return SAMPLE_BYTES;
        }
        let (text_start, spans_start) = (self.text.len(), self.spans.len() as u32);
        for (name, value) in pairs() {
            let name_start = self.text.len() as u32;
            self.text.extend_from_slice(name.as_bytes());
            let value_start = self.text.len() as u32;
            self.text.extend_from_slice(value.as_bytes());
            self.spans.push((TextSpan { start: name_start, end: value_start }, TextSpan { start: value_start, end: self.text.len() as u32 }));
        }
        let samples_start = self.sample_list.len() as u32;
        self.sample_list.push(sample);
        self.entries.push(Entry { spans: (spans_start, self.spans.len() as u32), samples: (samples_start, self.sample_list.len() as u32) });
        self.text.len() - text_start + SERIES_OVERHEAD_BYTES
    }

    /// Whether the last series has exactly these labels.
    fn last_has_labels<'p>(&self, pairs: impl Iterator<Item = (&'p str, &'p str)>) -> bool {
        let Some(last) = self.entries.last() else { return false };
        let mut own = self.spans[last.spans.0 as usize..last.spans.1 as usize].iter();
        for (name, value) in pairs {
            match own.next() {
                Some(&(n, v)) if &self.text[n.start as usize..n.end as usize] == name.as_bytes() && &self.text[v.start as usize..v.end as usize] == value.as_bytes() => {}
                _ => return false,
            }
        }
        own.next().is_none()
    }

    /// What to truncate to so as to take back what a line added (`rollback`).
    fn mark(&self) -> (usize, usize, usize, usize, Option<Entry>, u64, u64) {
        (self.text.len(), self.spans.len(), self.entries.len(), self.sample_list.len(), self.entries.last().copied(), self.samples, self.string_fields_skipped)
    }

    fn rollback(&mut self, mark: (usize, usize, usize, usize, Option<Entry>, u64, u64)) {
        let (text, spans, entries, samples, last, count, strings) = mark;
        self.text.truncate(text);
        self.spans.truncate(spans);
        self.entries.truncate(entries);
        self.sample_list.truncate(samples);
        if let (Some(last), Some(now)) = (last, self.entries.last_mut()) {
            *now = last;
        }
        (self.samples, self.string_fields_skipped) = (count, strings);
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InfluxError {
    #[error("line {line} ({text:?}): {problem}")]
    Line { line: usize, text: String, problem: String },
    #[error("the request's lines up to line {line} make series taking more than {bytes_max} bytes (each field of a line is a series with all of the line's tags); send them in smaller requests")]
    TooLarge { line: usize, bytes_max: usize },
}

/// Parses a whole body; the first bad line is the error (see `parse_skipping_bad_lines` for
/// what the HTTP handler stores).
pub fn parse(body: &[u8], options: &LineOptions<'_>) -> Result<Parsed, InfluxError> {
    parse_lines(body, options, &mut |bad| Err(bad))
}

/// Lines that did not parse, skipped: how many, and the first one's error.
#[derive(Debug, PartialEq)]
pub struct Skipped {
    pub lines: usize,
    pub first: InfluxError,
}

/// Parses a whole body, skipping bad lines (as VictoriaMetrics stores a request's good lines
/// and drops its bad ones; Telegraf does not resend a batch answered with 400, so refusing
/// all of it would lose the good lines). A request too large to hold is still an error.
pub fn parse_skipping_bad_lines(body: &[u8], options: &LineOptions<'_>) -> Result<(Parsed, Option<Skipped>), InfluxError> {
    let mut skipped: Option<Skipped> = None;
    let parsed = parse_lines(body, options, &mut |bad| {
        match &mut skipped {
            Some(s) => s.lines += 1,
            None => skipped = Some(Skipped { lines: 1, first: bad }),
        }
        Ok(())
    })?;
    Ok((parsed, skipped))
}

/// The parse loop: a bad line goes to `on_bad_line`, which refuses the request (its error is
/// returned) or lets it be skipped.
fn parse_lines(body: &[u8], options: &LineOptions<'_>, on_bad_line: &mut dyn FnMut(InfluxError) -> Result<(), InfluxError>) -> Result<Parsed, InfluxError> {
    let mut parsed = Parsed::default();
    let mut parsed_bytes = 0usize;
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match parse_line_into(&mut parsed, &mut parsed_bytes, index + 1, raw, options) {
            Ok(()) => {}
            Err(bad @ InfluxError::Line { .. }) => on_bad_line(bad)?,
            Err(too_large @ InfluxError::TooLarge { .. }) => return Err(too_large),
        }
    }
    Ok(parsed)
}

/// Parses one line (numbered `line`, without its newline) into `parsed`, whose series take
/// `parsed_bytes` so far (see `PARSED_BYTES_MAX`). Blank and comment lines add nothing. A
/// line is added whole or not at all: on `InfluxError::Line` (skip it) or
/// `InfluxError::TooLarge` (`parsed` is full: write it out, or give up) `parsed` is as before.
/// For streams read a line at a time (`socket_ingest`); `parse` is this over a whole body.
pub fn parse_line_into(parsed: &mut Parsed, parsed_bytes: &mut usize, line: usize, raw: &[u8], options: &LineOptions<'_>) -> Result<(), InfluxError> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err(bad_line(line, &String::from_utf8_lossy(raw), "not valid UTF-8".into()));
    };
    // A line of blanks is skipped too (VictoriaMetrics refuses it).
    if text.trim_matches([' ', '\t']).is_empty() || text.starts_with('#') {
        return Ok(());
    }
    let row = match parse_row(text) {
        Ok(row) => Ok(row),
        // A line starting with a space has an empty measurement (VictoriaMetrics); when it
        // does not parse so, it is read as InfluxDB reads it, leading blanks ignored (the
        // `influx` CLI's INSERT sends " measurement,tag=v field=1").
        Err(_) if text.starts_with(' ') => parse_row(text.trim_start_matches(' ')),
        Err(problem) => Err(problem),
    };
    let row = row.map_err(|problem| bad_line(line, text, problem))?;
    let Some(timestamp_ms) = options.precision.to_ms(row.timestamp, options.now_ms) else {
        let problem = format!("timestamp {} is out of range in precision {:?}", row.timestamp.unwrap_or(0), options.precision);
        return Err(bad_line(line, text, problem));
    };
    // A line is stored whole or not at all: a field refused after others of its line
    // were pushed takes them back.
    let (mark, bytes) = (parsed.mark(), *parsed_bytes);
    let pushed = push_row(parsed, parsed_bytes, row, timestamp_ms, options);
    if pushed.is_err() {
        parsed.rollback(mark);
        *parsed_bytes = bytes;
    }
    match pushed {
        Ok(()) => Ok(()),
        Err(RowProblem::Invalid(problem)) => Err(bad_line(line, text, problem)),
        Err(RowProblem::TooLarge) => Err(InfluxError::TooLarge { line, bytes_max: options.parsed_bytes_max }),
    }
}

fn bad_line(line: usize, text: &str, problem: String) -> InfluxError {
    InfluxError::Line { line, text: clipped(text, LINE_SHOWN_CHARS_MAX), problem }
}

/// `text` cut to `chars_max` characters (marked with `…`), so a hostile line cannot turn
/// its 400 into megabytes.
fn clipped(text: &str, chars_max: usize) -> String {
    match text.char_indices().nth(chars_max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// A name or value quoted in a problem (shortened).
fn shown(text: &str) -> String {
    format!("{:?}", clipped(text, NAME_SHOWN_CHARS_MAX))
}

/// One field's value.
#[derive(Debug, PartialEq)]
enum FieldValue {
    Number(f64),
    /// A string that does not hold a number.
    Text,
}

/// A line's fields (key, value), in line order.
type Fields<'a> = Vec<(Cow<'a, str>, FieldValue)>;

/// One line, unescaped.
#[derive(Debug)]
struct Row<'a> {
    measurement: Cow<'a, str>,
    tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    fields: Fields<'a>,
    timestamp: Option<i64>,
}

/// Splits `s` at the first of `stops` that no backslash escapes (a backslash escapes the
/// byte after it, whatever it is, so `\\,` ends at the comma): the text before it, and
/// the stop with the text after it.
fn split_unescaped<'a>(s: &'a str, stops: &[u8]) -> (&'a str, Option<(u8, &'a str)>) {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            // Stops are ASCII, so `i` is a character boundary here.
            b if stops.contains(&b) => return (&s[..i], Some((b, &s[i + 1..]))),
            _ => i += 1,
        }
    }
    (s, None)
}

/// Removes the backslash of `\ `, `\,`, `\=` and `\\`; any other backslash stays, as in
/// VictoriaMetrics (and InfluxDB, which escapes only those).
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(e @ (' ' | ',' | '=' | '\\')) => out.push(e),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Parses one non-blank, non-comment line; the problem in words when it is malformed.
fn parse_row(line: &str) -> Result<Row<'_>, String> {
    let (head, rest) = split_unescaped(line, b" ");
    let Some((_, rest)) = rest else {
        return Err("no fields: the measurement and tags must be followed by a space and field=value pairs".into());
    };
    let (measurement, mut tags_text) = split_unescaped(head, b",");
    let mut tags = Vec::new();
    while let Some((_, text)) = tags_text {
        let (tag, next) = split_unescaped(text, b",");
        let (key, value) = split_unescaped(tag, b"=");
        let Some((_, value)) = value else {
            return Err(format!("tag {} has no value (tag=value expected)", shown(&unescape(tag))));
        };
        let (key, value) = (unescape(key), unescape(value));
        // As VictoriaMetrics: a tag with an empty key or value is left out.
        if !key.is_empty() && !value.is_empty() {
            tags.push((key, value));
        }
        tags_text = next;
    }
    let (fields, rest) = parse_fields(rest.trim_start_matches(' '))?;
    let timestamp_text = rest.trim_matches(' ');
    let timestamp = if timestamp_text.is_empty() {
        None
    } else {
        Some(timestamp_text.parse::<i64>().map_err(|_| format!("invalid timestamp {} (an integer expected)", shown(timestamp_text)))?)
    };
    Ok(Row { measurement: unescape(measurement), tags, fields, timestamp })
}

/// Parses the field set at the start of `s`; returns the fields and what follows the space
/// that ends them (empty when the line ends with them).
fn parse_fields(mut s: &str) -> Result<(Fields<'_>, &str), String> {
    let mut fields = Vec::new();
    loop {
        // A key ends at its `=`; an unescaped space or comma before it leaves the field
        // without a value.
        let (key, after) = split_unescaped(s, b"= ,");
        let key_text = unescape(key);
        let Some((b'=', after)) = after else {
            return Err(match (s.is_empty(), fields.is_empty()) {
                (true, true) => "no fields after the measurement and tags".into(),
                (true, false) => "the field set ends with a comma".into(),
                (false, _) => format!("field {} has no value (field=value expected)", shown(&key_text)),
            });
        };
        if key_text.is_empty() {
            return Err("a field has an empty key".into());
        }
        let (value, stop, rest) = if let Some(quoted) = after.strip_prefix('"') {
            let end = closing_quote(quoted).ok_or_else(|| format!("the string value of field {} has no closing quote", shown(&key_text)))?;
            let rest = &quoted[end + 1..];
            let value = FieldValue::from_string(&quoted[..end]);
            match rest.as_bytes().first() {
                None => (value, None, ""),
                Some(b',') => (value, Some(b','), &rest[1..]),
                Some(b' ') => (value, Some(b' '), &rest[1..]),
                Some(_) => return Err(format!("unexpected text after the string value of field {}", shown(&key_text))),
            }
        } else {
            let (text, next) = split_unescaped(after, b", ");
            let value = FieldValue::parse(text).map_err(|problem| format!("field {}: {problem}", shown(&key_text)))?;
            match next {
                None => (value, None, ""),
                Some((stop, rest)) => (value, Some(stop), rest),
            }
        };
        fields.push((key_text, value));
        match stop {
            Some(b',') => s = rest,
            _ => return Ok((fields, rest)),
        }
    }
}

/// The index of the quote ending a string value (`s` starts after its opening quote);
/// `\"` and `\\` are escapes inside it.
fn closing_quote(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

impl FieldValue {
    /// An unquoted value: a float, an integer (`-3i`), an unsigned integer (`3u`) or a
    /// boolean (`t`, `true`, …: 1; `f`, `false`, …: 0).
    fn parse(text: &str) -> Result<FieldValue, String> {
        if text.is_empty() {
            return Err("empty value".into());
        }
        let number = if let Some(digits) = text.strip_suffix('i') {
            digits.parse::<i64>().map(|n| n as f64).map_err(|_| format!("invalid integer {}", shown(text)))?
        } else if let Some(digits) = text.strip_suffix('u') {
            digits.parse::<u64>().map(|n| n as f64).map_err(|_| format!("invalid unsigned integer {}", shown(text)))?
        } else {
            match text {
                "t" | "T" | "true" | "True" | "TRUE" => 1.0,
                "f" | "F" | "false" | "False" | "FALSE" => 0.0,
                _ => text.parse::<f64>().map_err(|_| format!("invalid value {} (a number, an integer like 3i or 3u, a boolean or a quoted string expected)", shown(text)))?,
            }
        };
        Ok(FieldValue::Number(number))
    }

    /// A quoted value: a number written as a string is that number (some agents send
    /// numbers so, and VictoriaMetrics reads them); any other text has no sample value.
    fn from_string(raw: &str) -> FieldValue {
        raw.parse::<f64>().map_or(FieldValue::Text, FieldValue::Number)
    }
}

/// Why a row's series were refused.
enum RowProblem {
    Invalid(String),
    TooLarge,
}

/// `pairs` sorted by name, of one name the last kept, `__name__` left out (the caller puts
/// the metric name in at its place).
pub(crate) fn sorted_unique_without_name<'a>(mut pairs: Vec<(&'a str, &'a str)>) -> Vec<(&'a str, &'a str)> {
    // Stable: of one name, the last stays.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut unique: Vec<(&str, &str)> = Vec::with_capacity(pairs.len());
    for pair in pairs {
        if unique.last().is_some_and(|last| last.0 == pair.0) {
            unique.pop();
        }
        unique.push(pair);
    }
    unique.retain(|(name, _)| *name != METRIC_NAME_LABEL);
    unique
}

/// Adds a row's series: one per numeric field, labelled by the tags, then `db`, then the
/// extra labels (a later one replaces an earlier one of the same name), and named last.
fn push_row(parsed: &mut Parsed, parsed_bytes: &mut usize, row: Row<'_>, timestamp_ms: i64, options: &LineOptions<'_>) -> Result<(), RowProblem> {
    let has_db_tag = row.tags.iter().any(|(k, _)| k == DB_LABEL);
    let mut base: Vec<(&str, &str)> = row.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    if let Some(db) = options.db.filter(|db| !db.is_empty() && !has_db_tag) {
        base.push((DB_LABEL, db));
    }
    base.extend(options.extra_labels.iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (n.as_str(), v.as_str())));
    // The field's name replaces any `__name__`.
    let unique = sorted_unique_without_name(base);
    let name_at = unique.partition_point(|(name, _)| *name < METRIC_NAME_LABEL);
    let (before, after) = unique.split_at(name_at);
    let mut metric_name = String::new();
    for (key, value) in &row.fields {
        let value = match value {
            FieldValue::Number(v) => *v,
            FieldValue::Text => {
                parsed.string_fields_skipped += 1;
                continue;
            }
        };
        metric_name.clear();
        if !row.measurement.is_empty() {
            metric_name.push_str(&row.measurement);
            metric_name.push_str(MEASUREMENT_FIELD_SEPARATOR);
        }
        metric_name.push_str(key);
        let pairs = || before.iter().copied().chain(std::iter::once((METRIC_NAME_LABEL, metric_name.as_str()))).chain(after.iter().copied());
        if let Some(problem) = label_limits::problem(&options.rules.label_limits, pairs().map(|(n, v)| (n.as_bytes(), v.as_bytes()))) {
            return Err(RowProblem::Invalid(format!("series {}: {problem}", shown(&metric_name))));
        }
        if options.rules.reject_non_finite && !value.is_finite() {
            return Err(RowProblem::Invalid(format!("field {} has the non-finite value {value} (storage.reject_non_finite is on)", shown(key))));
        }
        *parsed_bytes += parsed.push_sample(pairs, Sample { timestamp_ms, value });
        if *parsed_bytes > options.parsed_bytes_max {
            return Err(RowProblem::TooLarge);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
