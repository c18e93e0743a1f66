//! VictoriaMetrics' CSV import (`/api/v1/import/csv?format=2:metric:ask,1:label:ticker,…`):
//! the `format` column descriptors, and each CSV line read with them into a time, label values
//! and metric values, as VictoriaMetrics 1.79 reads them (fields split at commas, `"quoted,
//! fields"` with `""` for a quote, no line breaks inside a field). Pure functions; `api::csv`
//! streams the body and stores the rows.

pub mod go_time_layout;

use std::borrow::Cow;
use std::ops::Range;

use go_time_layout::GoTimeLayout;

/// Highest column position a descriptor may name (VictoriaMetrics' `maxColumnsPerRow`).
pub const COLUMN_POSITION_MAX: usize = 64 * 1024;

/// Characters of a field shown in an error.
const FIELD_SHOWN_CHARS_MAX: usize = 64;

/// How a time column (or an exported `__timestamp__:<format>` field) writes a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeFormat {
    UnixSeconds,
    UnixMilliseconds,
    UnixNanoseconds,
    Rfc3339,
    /// `custom:<Go layout>`.
    Custom(GoTimeLayout),
}

impl TimeFormat {
    /// `unix_s`, `unix_ms`, `unix_ns`, `rfc3339` or `custom:<Go layout>`.
    pub fn parse(text: &str) -> Result<TimeFormat, String> {
        match text {
            "unix_s" => Ok(TimeFormat::UnixSeconds),
            "unix_ms" => Ok(TimeFormat::UnixMilliseconds),
            "unix_ns" => Ok(TimeFormat::UnixNanoseconds),
            "rfc3339" => Ok(TimeFormat::Rfc3339),
            _ => match text.strip_prefix("custom:") {
                Some(layout) => Ok(TimeFormat::Custom(GoTimeLayout::new(layout))),
                None => Err(format!("unknown time format {text:?}: use unix_s, unix_ms, unix_ns, rfc3339 or custom:<Go time layout>")),
            },
        }
    }

    /// The time a field names, in milliseconds since the epoch (nanoseconds truncated toward
    /// zero, as VictoriaMetrics does).
    pub fn parse_ms(&self, field: &str) -> Result<i64, String> {
        let integer = |unit: &str| integer(field).ok_or_else(|| format!("{} is not a unix timestamp in {unit} (an integer)", shown(field)));
        match self {
            TimeFormat::UnixSeconds => {
                integer("seconds")?.checked_mul(1000).ok_or_else(|| format!("the unix timestamp in seconds {} is out of range", shown(field)))
            }
            TimeFormat::UnixMilliseconds => integer("milliseconds"),
            TimeFormat::UnixNanoseconds => Ok(integer("nanoseconds")? / 1_000_000),
            TimeFormat::Rfc3339 => GoTimeLayout::new(go_time_layout::RFC3339).parse_ms(field),
            TimeFormat::Custom(layout) => layout.parse_ms(field),
        }
    }

    /// Appends `timestamp_ms` in this format (times in UTC), as VictoriaMetrics' CSV export
    /// writes it.
    pub fn write(&self, out: &mut String, timestamp_ms: i64) {
        use std::fmt::Write;
        match self {
            TimeFormat::UnixSeconds => {
                let _ = write!(out, "{}", timestamp_ms / 1000);
            }
            TimeFormat::UnixMilliseconds => {
                let _ = write!(out, "{timestamp_ms}");
            }
            TimeFormat::UnixNanoseconds => {
                let _ = write!(out, "{}", timestamp_ms.wrapping_mul(1_000_000));
            }
            TimeFormat::Rfc3339 => GoTimeLayout::new(go_time_layout::RFC3339).format_ms(out, timestamp_ms),
            TimeFormat::Custom(layout) => layout.format_ms(out, timestamp_ms),
        }
    }
}

/// What one CSV column holds.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Column {
    Ignored,
    Time(TimeFormat),
    /// The value of `CsvFormat::label_names[i]`.
    Label(usize),
    /// A sample of `CsvFormat::metric_names[i]`.
    Metric(usize),
}

/// A request's `format`: what each column up to the last one named holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvFormat {
    columns: Vec<Column>,
    /// Label names in column order (a name may repeat: the later column wins).
    label_names: Vec<String>,
    /// Metric names in column order.
    metric_names: Vec<String>,
}

/// One line read with a `CsvFormat`; reused from line to line.
#[derive(Clone, Debug, Default)]
pub struct CsvRow {
    /// The row's time; `None` without a time column and when the time reads 0 (VictoriaMetrics
    /// stamps both with the time of the request).
    pub timestamp_ms: Option<i64>,
    /// A value for every metric name, in `CsvFormat::metric_names` order.
    pub values: Vec<f64>,
    /// A value for every label name, each a range of `text`.
    label_values: Vec<Range<usize>>,
    text: String,
}

impl CsvRow {
    /// The label values, in `CsvFormat::label_names` order (an empty value: no label).
    pub fn label_values(&self) -> impl Iterator<Item = &str> + '_ {
        self.label_values.iter().map(|range| &self.text[range.clone()])
    }
}

impl CsvFormat {
    /// Reads comma-separated `<column_pos>:<time|label|metric>:<time format or name>` entries
    /// (positions from 1, in any order); at least one metric column and at most one time
    /// column. The error names the entry and what is wrong with it.
    pub fn parse(text: &str) -> Result<CsvFormat, String> {
        let mut by_position: Vec<(usize, String, Column)> = Vec::new();
        let mut described = std::collections::HashSet::new();
        let mut has_time = false;
        for (index, entry) in text.split(',').enumerate() {
            let number = index + 1;
            let bad = |problem: String| format!("entry #{number} {entry:?}: {problem}");
            let mut parts = entry.splitn(3, ':');
            let (Some(position), Some(kind), Some(extension)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(bad("must have the form <column_pos>:<time|label|metric>:<time format or name>".to_string()));
            };
            let position: i64 = position.parse().map_err(|_| bad(format!("the column position {position:?} is not a number")))?;
            if position < 1 || position > COLUMN_POSITION_MAX as i64 {
                return Err(bad(format!("the column position must be from 1 to {COLUMN_POSITION_MAX}")));
            }
            let position = position as usize;
            if !described.insert(position) {
                return Err(bad(format!("column {position} is described twice")));
            }
            let (name, column) = match kind {
                "time" if has_time => return Err(bad("a second time column (at most one is allowed)".to_string())),
                "time" => {
                    has_time = true;
                    let format = TimeFormat::parse(extension).map_err(bad)?;
                    if let TimeFormat::Custom(layout) = &format {
                        if !layout.has_year() {
                            return Err(bad(format!(
                                "the time layout {:?} has no year (2006 or 06): every row would be dated in year 0",
                                layout.as_str()
                            )));
                        }
                    }
                    (String::new(), Column::Time(format))
                }
                "label" | "metric" if extension.is_empty() => return Err(bad(format!("the {kind} name is empty"))),
                "label" => (extension.to_string(), Column::Label(0)),
                "metric" => (extension.to_string(), Column::Metric(0)),
                _ => return Err(bad(format!("unknown column type {kind:?}: use time, label or metric"))),
            };
            by_position.push((position, name, column));
        }
        if !by_position.iter().any(|(_, _, c)| matches!(c, Column::Metric(_))) {
            return Err(format!("no metric column in {text:?}: at least one <column_pos>:metric:<name> is needed"));
        }
        by_position.sort_by_key(|(p, _, _)| *p);
        let width = by_position.last().map_or(0, |(p, _, _)| *p);
        let mut format = CsvFormat { columns: vec![Column::Ignored; width], label_names: Vec::new(), metric_names: Vec::new() };
        for (position, name, column) in by_position {
            format.columns[position - 1] = match column {
                Column::Label(_) => {
                    format.label_names.push(name);
                    Column::Label(format.label_names.len() - 1)
                }
                Column::Metric(_) => {
                    format.metric_names.push(name);
                    Column::Metric(format.metric_names.len() - 1)
                }
                other => other,
            };
        }
        Ok(format)
    }

    pub fn label_names(&self) -> &[String] {
        &self.label_names
    }

    pub fn metric_names(&self) -> &[String] {
        &self.metric_names
    }

    /// The time column's format, if the format has one.
    pub fn time_format(&self) -> Option<&TimeFormat> {
        self.columns.iter().find_map(|c| match c {
            Column::Time(format) => Some(format),
            _ => None,
        })
    }

    /// Reads one line (without its line break) into `row`, as VictoriaMetrics does: columns
    /// past the last described one are ignored (but must be well-formed), fewer columns than
    /// the format describes, an unreadable time or metric value (an empty one too) make the
    /// whole row bad. The error names the column and the problem.
    pub fn parse_row(&self, line: &str, row: &mut CsvRow) -> Result<(), String> {
        row.timestamp_ms = None;
        row.values.clear();
        row.label_values.clear();
        row.text.clear();
        let mut rest = line;
        let mut columns = 0;
        // A trailing comma ends the last field; it does not start an empty one.
        while !rest.is_empty() {
            let field = next_field(&mut rest).map_err(|problem| format!("column {}: {problem}", columns + 1))?;
            let Some(column) = self.columns.get(columns) else { continue };
            columns += 1;
            let at = |problem: String| format!("column {columns}: {problem}");
            match column {
                Column::Ignored => {}
                Column::Time(format) => {
                    let timestamp_ms = format.parse_ms(&field).map_err(at)?;
                    row.timestamp_ms = (timestamp_ms != 0).then_some(timestamp_ms);
                }
                Column::Label(_) => {
                    let start = row.text.len();
                    row.text.push_str(&field);
                    row.label_values.push(start..row.text.len());
                }
                Column::Metric(index) => {
                    let value = parse_value(&field).ok_or_else(|| at(format!("the {} value {} is not a number", self.metric_names[*index], shown(&field))))?;
                    row.values.push(value);
                }
            }
        }
        if columns < self.columns.len() {
            return Err(format!("the row has {columns} columns; the format describes {}", self.columns.len()));
        }
        Ok(())
    }
}

/// The next field of `rest` (unquoted), moving `rest` past it and its comma.
fn next_field<'a>(rest: &mut &'a str) -> Result<Cow<'a, str>, String> {
    let line = *rest;
    if !line.starts_with('"') {
        let (field, after) = match memchr::memchr(b',', line.as_bytes()) {
            Some(comma) => (&line[..comma], &line[comma + 1..]),
            None => (line, ""),
        };
        *rest = after;
        return Ok(Cow::Borrowed(field));
    }
    let bytes = line.as_bytes();
    let mut from = 1;
    let mut has_escaped_quote = false;
    loop {
        let Some(quote) = memchr::memchr(b'"', &bytes[from..]).map(|q| from + q) else {
            return Err(format!("the quoted field {} has no closing quote", shown(line)));
        };
        let inner = &line[1..quote];
        match bytes.get(quote + 1) {
            None => {
                *rest = "";
                return Ok(unquote(inner, has_escaped_quote));
            }
            Some(b'"') => {
                has_escaped_quote = true;
                from = quote + 2;
            }
            Some(b',') => {
                *rest = &line[quote + 2..];
                return Ok(unquote(inner, has_escaped_quote));
            }
            Some(_) => return Err(format!("the quoted field {} is followed by text instead of a comma", shown(&line[..=quote]))),
        }
    }
}

fn unquote(inner: &str, has_escaped_quote: bool) -> Cow<'_, str> {
    if has_escaped_quote {
        Cow::Owned(inner.replace("\"\"", "\""))
    } else {
        Cow::Borrowed(inner)
    }
}

/// A metric value as VictoriaMetrics reads it: a decimal number with an optional `-`, a
/// fraction and an exponent (no `+`, no spaces), or `inf`, `infinity`, `nan` in any case with
/// an optional sign; decimals rounded to the nearest float. `5.` and `.5` read as in 1.79.12
/// (earlier 1.79 releases refuse them).
pub fn parse_value(text: &str) -> Option<f64> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let negative = unsigned.len() != text.len();
    let word = unsigned.strip_prefix('+').unwrap_or(unsigned);
    if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity") {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if word.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    let bytes = unsigned.as_bytes();
    let starts_as_number = match bytes {
        [digit, ..] if digit.is_ascii_digit() => true,
        [b'.', digit, ..] => digit.is_ascii_digit(),
        _ => false,
    };
    let number_bytes_only = bytes.iter().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if !starts_as_number || !number_bytes_only {
        return None;
    }
    text.parse::<f64>().ok()
}

/// An integer with an optional `-` (no `+`, no spaces) within 64 bits.
fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn shown(text: &str) -> String {
    let head: String = text.chars().take(FIELD_SHOWN_CHARS_MAX).collect();
    if head.len() < text.len() {
        format!("{head:?}…")
    } else {
        format!("{head:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row as read: (time, label values, metric values), or the problem.
    type Read = Result<(Option<i64>, Vec<String>, Vec<f64>), String>;

    /// The rows of `body` under `format`.
    fn rows(format: &str, body: &str) -> Vec<Read> {
        let format = CsvFormat::parse(format).expect("valid format");
        let mut row = CsvRow::default();
        body.lines()
            .filter(|line| !line.is_empty())
            .map(|line| {
                format.parse_row(line, &mut row)?;
                Ok((row.timestamp_ms, row.label_values().map(str::to_string).collect(), row.values.clone()))
            })
            .collect()
    }

    fn ok(timestamp_ms: Option<i64>, labels: &[&str], values: &[f64]) -> Read {
        Ok((timestamp_ms, labels.iter().map(|l| l.to_string()).collect(), values.to_vec()))
    }

    #[test]
    fn descriptors_map_columns_in_position_order() {
        let format = CsvFormat::parse("2:metric:ask,3:metric:bid,1:label:ticker,4:label:market").expect("valid");
        assert_eq!(format.metric_names(), ["ask", "bid"]);
        assert_eq!(format.label_names(), ["ticker", "market"]);
        assert_eq!(format.columns, vec![Column::Label(0), Column::Metric(0), Column::Metric(1), Column::Label(1)]);
        let format = CsvFormat::parse("1:time:unix_s,3:metric:temperature").expect("a gap");
        assert_eq!(format.columns, vec![Column::Time(TimeFormat::UnixSeconds), Column::Ignored, Column::Metric(0)]);
        let format = CsvFormat::parse("2:time:custom:2006-01-02 15:04:05,1:metric:m,+3:label:l").expect("colons in the layout, a + position");
        assert_eq!(format.columns[1], Column::Time(TimeFormat::Custom(GoTimeLayout::new("2006-01-02 15:04:05"))));
        assert_eq!(format.columns.len(), 3);
    }

    #[test]
    fn malformed_descriptors_are_refused_naming_the_entry() {
        let cases = [
            ("", "entry #1 \"\": must have the form"),
            ("1:time:unix_s", "no metric column"),
            ("1:label:aaa", "no metric column"),
            ("foo:time:unix_s,bar:metric:temp", "entry #1 \"foo:time:unix_s\": the column position \"foo\" is not a number"),
            ("0:metric:aaa", "entry #1 \"0:metric:aaa\": the column position must be from 1 to 65536"),
            ("-123:metric:aaa", "the column position must be from 1"),
            ("65546:metric:aaa", "the column position must be from 1 to 65536"),
            ("1:time:unix_s,2:time:rfc3339,3:metric:aaa", "entry #2 \"2:time:rfc3339\": a second time column"),
            ("1:time:custom:2006,2:time:rfc3339,3:metric:aaa", "a second time column"),
            ("1:time:foobar,2:metric:aaa", "unknown time format \"foobar\": use unix_s, unix_ms, unix_ns, rfc3339 or custom:"),
            ("1:time:,2:metric:aaa", "unknown time format \"\""),
            ("1:time:sss:sss,2:metric:aaa", "unknown time format \"sss:sss\""),
            ("1:time:custom:15:04:05,2:metric:aaa", "the time layout \"15:04:05\" has no year"),
            ("2:label:,1:metric:aaa", "entry #1 \"2:label:\": the label name is empty"),
            ("1:metric:", "the metric name is empty"),
            ("1:metric:aaa,2:aaaa:bbb", "entry #2 \"2:aaaa:bbb\": unknown column type \"aaaa\": use time, label or metric"),
            ("1:metric:a,1:metric:b", "entry #2 \"1:metric:b\": column 1 is described twice"),
            ("1:metric:a,", "entry #2 \"\": must have the form"),
        ];
        for (format, expected) in cases {
            let error = CsvFormat::parse(format).expect_err(format);
            assert!(error.contains(expected), "{format:?}: {error}");
        }
    }

    #[test]
    fn each_time_format_reads_its_column() {
        let cases = [
            ("unix_s", "123", 123_000),
            ("unix_s", "-123", -123_000),
            ("unix_ms", "1439237080123", 1_439_237_080_123),
            ("unix_ms", "-123", -123),
            ("unix_ns", "12343567", 12),
            ("unix_ns", "-12343567", -12),
            ("unix_ns", "1439237080123999999", 1_439_237_080_123),
            ("rfc3339", "2006-01-02T15:04:05Z", 1_136_214_245_000),
            ("rfc3339", "2020-03-11T18:23:46.5+01:00", 1_583_947_426_500),
            ("custom:2006-01-02 15:04:05.999Z", "2015-08-10 20:04:40.123Z", 1_439_237_080_123),
            // (A layout cannot hold a comma: it would end the entry.)
            ("custom:Mon 02 Jan 2006 15:04:05 MST", "Mon 29 Oct 2018 07:50:37 GMT", 1_540_799_437_000),
        ];
        for (time_format, field, expected) in cases {
            let format = format!("1:metric:m,2:time:{time_format}");
            assert_eq!(rows(&format, &format!("1,{field}")), vec![ok(Some(expected), &[], &[1.0])], "{time_format} {field}");
        }
        let refused = [
            ("unix_s", "foobar", "column 2: \"foobar\" is not a unix timestamp in seconds"),
            ("unix_s", "12345678901234567", "column 2: the unix timestamp in seconds \"12345678901234567\" is out of range"),
            ("unix_s", "1.5", "is not a unix timestamp in seconds"),
            ("unix_ms", "+5", "is not a unix timestamp in milliseconds"),
            ("unix_ns", "-", "\"-\" is not a unix timestamp in nanoseconds"),
            // A trailing comma does not start an empty field.
            ("unix_ns", "", "the row has 1 columns; the format describes 2"),
            ("rfc3339", "foobar", "cannot parse \"foobar\" with the Go layout \"2006-01-02T15:04:05Z07:00\""),
            ("custom:2006 Jan", "2015 Foo", "\"Foo\" is not a month name"),
        ];
        for (time_format, field, expected) in refused {
            let error = rows(&format!("1:metric:foo,2:time:{time_format}"), &format!("234,{field}")).remove(0).expect_err(field);
            assert!(error.contains(expected), "{time_format} {field}: {error}");
        }
    }

    #[test]
    fn a_time_of_zero_or_no_time_column_leaves_the_row_undated() {
        assert_eq!(rows("1:metric:m,2:time:unix_s", "1,0"), vec![ok(None, &[], &[1.0])]);
        assert_eq!(rows("1:metric:m,2:time:rfc3339", "1,1970-01-01T00:00:00Z"), vec![ok(None, &[], &[1.0])]);
        assert_eq!(rows("1:metric:m", "1"), vec![ok(None, &[], &[1.0])]);
    }

    #[test]
    fn quoted_fields_hold_commas_and_doubled_quotes() {
        // VictoriaMetrics' own case: two metrics, quoted numbers, a quoted label with `""`.
        let format = "2:metric:bar,1:metric:foo,3:label:foo,4:label:bar,5:time:custom:2006-01-02 15:04:05.999Z";
        assert_eq!(
            rows(format, "\"2.34\",5.6,\"foo\"\",bar\",\"aa\",2015-08-10 20:04:40.123Z"),
            vec![ok(Some(1_439_237_080_123), &["foo\",bar", "aa"], &[2.34, 5.6])]
        );
        assert_eq!(rows("1:label:a,2:label:b,3:metric:m", "\"\",\"x\"\"\",1"), vec![ok(None, &["", "x\""], &[1.0])]);
        assert_eq!(rows("1:label:a,2:metric:m", "a\"b,1"), vec![ok(None, &["a\"b"], &[1.0])], "a quote inside a field is text");
        for (line, expected) in [
            ("\"unclosed,1", "column 1: the quoted field \"\\\"unclosed,1\" has no closing quote"),
            ("\"a\"b,1", "column 1: the quoted field \"\\\"a\\\"\" is followed by text instead of a comma"),
            ("x,1,\"\"a", "column 3: the quoted field"),
            ("x,1,\"a\"\"", "column 3: the quoted field \"\\\"a\\\"\\\"\" has no closing quote"),
        ] {
            let error = rows("1:label:a,2:metric:m", line).remove(0).expect_err(line);
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn bad_metric_values_and_missing_columns_make_the_row_bad() {
        let format = "2:metric:ask,3:metric:bid,1:label:ticker,4:label:market";
        let got = rows(format, "GOOG,1.23,4.56,NYSE\nMSFT,,1.67,NASDAQ\nAAPL,x,2,NASDAQ\nIBM,5,6\nORCL,7,8,NYSE,extra,\"ignored\"\nIBM,5,6,\n");
        assert_eq!(got[0], ok(None, &["GOOG", "NYSE"], &[1.23, 4.56]));
        assert_eq!(got[1], Err("column 2: the ask value \"\" is not a number".to_string()));
        assert_eq!(got[2], Err("column 2: the ask value \"x\" is not a number".to_string()));
        assert_eq!(got[3], Err("the row has 3 columns; the format describes 4".to_string()));
        assert_eq!(got[4], ok(None, &["ORCL", "NYSE"], &[7.0, 8.0]));
        // A trailing comma does not make an empty fourth column (as in VictoriaMetrics).
        assert_eq!(got[5], Err("the row has 3 columns; the format describes 4".to_string()));
        let error = rows("1:metric:m", "1,\"bad\"x").remove(0).expect_err("superfluous columns are read too");
        assert!(error.contains("column 2"), "{error}");
        assert_eq!(rows("3:metric:aaa", "123,456"), vec![Err("the row has 2 columns; the format describes 3".to_string())]);
    }

    #[test]
    fn values_follow_victoriametrics_syntax() {
        let read = [
            ("123", 123.0),
            ("-45.6", -45.6),
            ("1.5e-7", 1.5e-7),
            ("1E3", 1000.0),
            ("2.", 2.0),
            (".5", 0.5),
            ("-.5", -0.5),
            ("inf", f64::INFINITY),
            ("+Inf", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
        ];
        for (text, expected) in read {
            assert_eq!(parse_value(text), Some(expected), "{text}");
        }
        assert!(parse_value("NaN").is_some_and(f64::is_nan) && parse_value("-nan").is_some_and(f64::is_nan));
        for text in ["", "-", ".", "+5", " 5", "5 ", "12foobar", "0x10", "1_000", "e5", "1e", "--1", "nan1", "1,5"] {
            assert_eq!(parse_value(text), None, "{text:?}");
        }
    }
}
