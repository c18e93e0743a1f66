//! VictoriaMetrics' CSV endpoints: `/api/v1/import/csv?format=…` stores rows read with the
//! request's column descriptors, a bad row skipped and the others stored as VictoriaMetrics
//! does; `/api/v1/export/csv?format=…` writes one line per sample.

use std::cell::Cell;
use std::collections::HashMap;
use std::fmt::Write;
use std::rc::Rc;

use bytes::Bytes;
use http::{Response, StatusCode};
use tsdb::{Labels, Sample, SeriesBatch, SeriesSamples, METRIC_NAME_LABEL};

use super::body_encoding::StreamDecoder;
use super::migrate::{self, ImportStop, IMPORT_BATCH_SAMPLES_MAX, IMPORT_BATCH_SERIES_MAX};
use super::params::{now_ms, Params};
use super::{write, Api, ApiError};
use crate::ingest::csv_import::{CsvFormat, CsvRow, TimeFormat};
use crate::ingest::label_limits::{self, LabelLimits};
use crate::ingest::line_splitter::LineSplitter;

/// Bytes one CSV line may hold (VictoriaMetrics' limit for its line-oriented imports); a
/// longer line ends the import with a 400.
pub const CSV_LINE_BYTES_MAX: usize = 256 << 10;

/// `/api/v1/import/csv`: a malformed or missing `format` is a 400 before anything is read.
/// Lines are read with the request's column descriptors (`ingest::csv_import`) as the body
/// streams in (gzip too) and stored batch by batch, batches landing while the next rows are
/// read (`write::Landing`). A bad row (unreadable time or value, too few columns, labels past
/// the limits) is skipped and counted, as VictoriaMetrics does, and after the body a 400
/// names the first and says the others were stored. A body that fails (or a line over
/// `CSV_LINE_BYTES_MAX`) ends the import with a 400: the good rows before it were stored.
pub async fn handle_import(
    api: &Api,
    mut body: net::RequestBody,
    params: &Params,
    mut decoder: Option<StreamDecoder>,
    extra_labels: Vec<(String, String)>,
) -> Result<Response<Bytes>, ApiError> {
    let format = match params.get("format") {
        None | Some("") => {
            return Err(ApiError::bad_data(
                "missing parameter \"format\": it describes the columns, e.g. format=2:metric:ask,3:metric:bid,1:label:ticker,4:time:unix_s",
            ))
        }
        Some(text) => CsvFormat::parse(text).map_err(|e| ApiError::bad_data(format!("invalid parameter \"format\": {e}")))?,
    };
    let mut rows = CsvRows::new(format, extra_labels, api.config.storage.ingest_rules().label_limits, now_ms());
    let mut lines = LineSplitter::new(CSV_LINE_BYTES_MAX);
    loop {
        let (fed, at_end) = match body.next_chunk().await {
            Some(Ok(chunk)) => {
                let mut feed = |plain: &[u8]| lines.feed(plain, |number, line| rows.take(number, line));
                let fed = match &mut decoder {
                    Some(decoder) => migrate::decode_into(decoder, &chunk, &mut feed),
                    None => feed(&chunk).map_err(ImportStop::Line),
                };
                (fed, false)
            }
            Some(Err(error)) => {
                rows.finish(api).await?;
                let last = lines.line_number();
                return Err(rows.stopped(format!("the request body failed after line {last}: {error}; {}", good_rows_imported(last))));
            }
            None => {
                let ended = match &mut decoder {
                    Some(decoder) => migrate::decode_end(decoder, &mut |plain| lines.feed(plain, |number, line| rows.take(number, line))),
                    None => Ok(()),
                };
                (ended.and_then(|()| lines.finish(|number, line| rows.take(number, line)).map_err(ImportStop::Line)), true)
            }
        };
        match fed {
            Ok(()) => {}
            Err(ImportStop::Line(error)) => {
                rows.finish(api).await?;
                let line = lines.line_number();
                return Err(rows.stopped(format!("{error}; the good rows before line {line} were imported, none from it on")));
            }
            Err(ImportStop::Decode(failure)) => {
                rows.finish(api).await?;
                let last = lines.line_number();
                return Err(rows.stopped(format!("{failure}; {} before it", good_rows_imported(last))));
            }
        }
        if at_end {
            break;
        }
        if rows.is_full() {
            rows.store(api).await?;
        }
    }
    rows.finish(api).await?;
    if let Some(first) = &rows.first_bad {
        let skipped = rows.bad_rows;
        return Err(ApiError::bad_data(format!(
            "{first}; {skipped} bad row{} skipped, the request's other rows stored ({} samples)",
            if skipped == 1 { "" } else { "s" },
            rows.stored_samples.get()
        )));
    }
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

/// Which rows an import stopped after line `last` stored.
fn good_rows_imported(last: usize) -> String {
    match last {
        0 => "no row was imported".into(),
        1 => "the good rows of line 1 were imported".into(),
        _ => format!("the good rows of lines 1 to {last} were imported"),
    }
}

/// Rows read but not yet stored, and what the request has skipped.
struct CsvRows<'a> {
    format: CsvFormat,
    extra_labels: Vec<(String, String)>,
    limits: LabelLimits,
    /// The time of rows without one.
    now_ms: i64,
    /// The line being read (its buffers reused).
    row: CsvRow,
    series: Vec<SeriesSamples>,
    samples: usize,
    /// Where each series of `series` is, by key: the metric's index and the row's label values.
    index: HashMap<Vec<u8>, usize, foldhash::fast::RandomState>,
    key: Vec<u8>,
    /// The series of each of the current row's values.
    row_series: Vec<usize>,
    /// The batches sent before, which the shards may still be appending.
    landing: write::Landing<'a>,
    /// Samples the shards stored, added as each batch lands.
    stored_samples: Rc<Cell<u64>>,
    bad_rows: usize,
    /// The first bad row: its line and problem.
    first_bad: Option<String>,
}

impl<'a> CsvRows<'a> {
    fn new(format: CsvFormat, extra_labels: Vec<(String, String)>, limits: LabelLimits, now_ms: i64) -> CsvRows<'a> {
        CsvRows {
            format,
            extra_labels,
            limits,
            now_ms,
            row: CsvRow::default(),
            series: Vec::new(),
            samples: 0,
            index: HashMap::default(),
            key: Vec::new(),
            row_series: Vec::new(),
            landing: write::Landing::default(),
            stored_samples: Rc::default(),
            bad_rows: 0,
            first_bad: None,
        }
    }

    /// Adds line `number`'s samples to the batch, all or none: a bad row is counted (the first
    /// remembered) and skipped. Empty lines are skipped silently, as VictoriaMetrics does.
    /// Never fails (the line splitter's type).
    fn take(&mut self, number: usize, line: &[u8]) -> Result<(), crate::ingest::DecodeError> {
        if line.is_empty() {
            return Ok(());
        }
        if let Err(problem) = self.read_row(line) {
            self.bad_rows += 1;
            if self.first_bad.is_none() {
                self.first_bad = Some(format!("line {number}: {problem}"));
            }
            return Ok(());
        }
        let timestamp_ms = self.row.timestamp_ms.unwrap_or(self.now_ms);
        for (&series, &value) in self.row_series.iter().zip(&self.row.values) {
            self.series[series].samples.push(Sample { timestamp_ms, value });
        }
        self.samples += self.row_series.len();
        Ok(())
    }

    /// Reads `line` into `row` and finds (or adds) the series of each of its values.
    fn read_row(&mut self, line: &[u8]) -> Result<(), String> {
        let text = std::str::from_utf8(line).map_err(|_| "the line is not valid UTF-8".to_string())?;
        self.format.parse_row(text, &mut self.row)?;
        self.row_series.clear();
        for metric in 0..self.format.metric_names().len() {
            self.key.clear();
            self.key.extend_from_slice(&(metric as u32).to_le_bytes());
            for value in self.row.label_values() {
                self.key.extend_from_slice(&(value.len() as u32).to_le_bytes());
                self.key.extend_from_slice(value.as_bytes());
            }
            let series = match self.index.get(self.key.as_slice()) {
                Some(&series) => series,
                None => {
                    let labels = self.labels_of(metric)?;
                    self.series.push(SeriesSamples { labels, samples: Vec::new(), histograms: Vec::new(), starts: None });
                    self.index.insert(self.key.clone(), self.series.len() - 1);
                    self.series.len() - 1
                }
            };
            self.row_series.push(series);
        }
        Ok(())
    }

    /// The labels of the current row's `metric` value: its name, the row's labels (empty
    /// values dropped, the later of a repeated name kept), the request's `extra_label`s over
    /// them; past the label limits, the problem.
    fn labels_of(&self, metric: usize) -> Result<Labels, String> {
        let name = (METRIC_NAME_LABEL, self.format.metric_names()[metric].as_str());
        let own = self.format.label_names().iter().map(String::as_str).zip(self.row.label_values());
        let extra = self.extra_labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let labels = Labels::from_pairs(std::iter::once(name).chain(own).chain(extra));
        match label_limits::problem(&self.limits, labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()))) {
            Some(problem) => Err(format!("series {labels} has {problem}")),
            None => Ok(labels),
        }
    }

    fn is_full(&self) -> bool {
        self.series.len() >= IMPORT_BATCH_SERIES_MAX || self.samples >= IMPORT_BATCH_SAMPLES_MAX
    }

    /// Sends the batch (if any) to the shards and empties it; it lands while the next rows
    /// are read, adding what the shards stored to `stored_samples`.
    async fn store(&mut self, api: &'a Api) -> Result<(), ApiError> {
        // A series whose only rows turned out bad holds no samples.
        self.series.retain(|s| !s.samples.is_empty());
        self.index.clear();
        if self.series.is_empty() {
            return Ok(());
        }
        for series in &mut self.series {
            // Stable: of two rows at one time, the later stays the later.
            series.samples.sort_by_key(|s| s.timestamp_ms);
        }
        let batch = SeriesBatch::from_series(&self.series);
        self.series.clear();
        self.samples = 0;
        let (stored, outside) = (self.stored_samples.clone(), self.landing.outside_bounds());
        self.landing
            .start(async move {
                let samples = write::append_imported(api, batch, &outside).await?;
                stored.set(stored.get() + samples);
                Ok(())
            })
            .await
    }

    /// Stores the batch (if any) and waits until every batch sent has landed.
    async fn finish(&mut self, api: &'a Api) -> Result<(), ApiError> {
        self.store(api).await?;
        self.landing.landed().await
    }

    /// The 400 of an import that stopped early, saying how many bad rows were skipped before.
    fn stopped(&self, message: String) -> ApiError {
        match &self.first_bad {
            None => ApiError::bad_data(message),
            Some(first) => ApiError::bad_data(format!("{message} ({} bad rows skipped before it, the first {first})", self.bad_rows)),
        }
    }
}

/// One field of an exported line.
#[derive(Clone, Debug, PartialEq)]
enum ExportField {
    /// `__value__`.
    Value,
    /// `__timestamp__`: milliseconds.
    TimestampMs,
    /// `__timestamp__:<format>`.
    Time(TimeFormat),
    /// Any other name (`__name__` too): the series' label, empty when it has none.
    Label(String),
}

/// `/api/v1/export/csv`: `format` (required) lists the fields of each line, one line per
/// sample; series are chosen by `match[]`, `start`, `end` and paged as for `/api/v1/export`.
/// A time format the import does not know is a 400 (VictoriaMetrics writes
/// `Unsupported timeFormat=…` into every line).
pub async fn handle_export(api: &Api, params: &Params) -> Result<Response<Bytes>, ApiError> {
    let fields = match params.get("format") {
        None | Some("") => {
            return Err(ApiError::bad_data(
                "missing parameter \"format\": it lists the fields of each line, e.g. format=__name__,__value__,__timestamp__:unix_s",
            ))
        }
        Some(text) => export_fields(text)?,
    };
    migrate::stream_export(api, params, "text/csv; charset=utf-8", move |out, series| write_rows(out, &fields, series)).await
}

fn export_fields(text: &str) -> Result<Vec<ExportField>, ApiError> {
    text.split(',')
        .map(|name| match name {
            "__value__" => Ok(ExportField::Value),
            "__timestamp__" => Ok(ExportField::TimestampMs),
            _ => match name.strip_prefix("__timestamp__:") {
                Some(format) => TimeFormat::parse(format)
                    .map(ExportField::Time)
                    .map_err(|e| ApiError::bad_data(format!("invalid parameter \"format\": field {name:?}: {e}"))),
                None => Ok(ExportField::Label(name.to_string())),
            },
        })
        .collect()
}

/// Appends one line per sample of `series`, `fields` in order.
fn write_rows(out: &mut String, fields: &[ExportField], series: &SeriesSamples) {
    let mut time = String::new();
    for sample in &series.samples {
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match field {
                ExportField::Value => push_value(out, sample.value),
                ExportField::TimestampMs => {
                    let _ = write!(out, "{}", sample.timestamp_ms);
                }
                ExportField::Time(format) => {
                    time.clear();
                    format.write(&mut time, sample.timestamp_ms);
                    push_field(out, &time);
                }
                ExportField::Label(name) => push_field(out, series.labels.get(name).unwrap_or("")),
            }
        }
        out.push('\n');
    }
}

/// A value as VictoriaMetrics writes it: the shortest decimal that reads back exactly, never
/// an exponent; `NaN`, `+Inf`, `-Inf`; negative zero as `0`.
fn push_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value == 0.0 {
        out.push('0');
    } else {
        let _ = write!(out, "{value}");
    }
}

/// A text field as VictoriaMetrics writes it: as it is, or, when it holds `"`, `,` or a line
/// break, quoted with JSON escapes (`\"`, `\\`, `\n`, `\u003c` for `<`, `\u0027` for `'`, …).
fn push_field(out: &mut String, text: &str) {
    if !text.contains(['"', ',', '\n']) {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            '\'' => out.push_str("\\u0027"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(format: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> String {
        let fields = export_fields(format).expect("valid format");
        let series = SeriesSamples {
            labels: Labels::from_pairs(labels.iter().copied()),
            samples: samples.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect(),
            histograms: Vec::new(),
            starts: None,
        };
        let mut out = String::new();
        write_rows(&mut out, &fields, &series);
        out
    }

    #[test]
    fn export_lines_follow_the_format() {
        let labels = [("__name__", "ask"), ("ticker", "GOOG"), ("market", "a,b")];
        assert_eq!(
            lines("__name__,__value__,__timestamp__:unix_s,ticker,market,missing", &labels, &[(1_439_237_080_123, 1.23), (1_439_237_081_000, -0.0)]),
            "ask,1.23,1439237080,GOOG,\"a,b\",\n\
             ask,0,1439237081,GOOG,\"a,b\",\n"
        );
        assert_eq!(
            lines("__timestamp__,__timestamp__:unix_ms,__timestamp__:unix_ns,__timestamp__:rfc3339", &labels, &[(-1, 1.0)]),
            "-1,-1,-1000000,1969-12-31T23:59:59Z\n"
        );
        assert_eq!(
            lines("__timestamp__:custom:2006-01-02 15:04:05.000,__timestamp__:custom:\"Jan 2\"", &labels, &[(1_439_237_080_123, 1.0)]),
            "2015-08-10 20:04:40.123,\"\\\"Aug 10\\\"\"\n"
        );
        assert_eq!(lines("__value__", &labels, &[]), "", "a series without samples writes nothing");
    }

    #[test]
    fn values_and_text_are_written_as_victoriametrics_writes_them() {
        let values = [(1.5e-7, "0.00000015"), (1e21, "1000000000000000000000"), (0.1, "0.1"), (-45.6, "-45.6"), (f64::NAN, "NaN"), (f64::INFINITY, "+Inf"), (f64::NEG_INFINITY, "-Inf"), (123.0, "123")];
        for (value, expected) in values {
            let mut out = String::new();
            push_value(&mut out, value);
            assert_eq!(out, expected);
        }
        let texts = [
            ("plain", "plain"),
            ("a<b'c\\d\te\r", "a<b'c\\d\te\r"),
            ("a,b", "\"a,b\""),
            ("Q\"uote,d", "\"Q\\\"uote,d\""),
            ("x\n<'\\\t\r\u{1}é", "\"x\\n\\u003c\\u0027\\\\\\t\\r\\u0001é\""),
        ];
        for (text, expected) in texts {
            let mut out = String::new();
            push_field(&mut out, text);
            assert_eq!(out, expected, "{text:?}");
        }
    }

    #[test]
    fn unknown_time_formats_are_refused() {
        let error = export_fields("__name__,__timestamp__:bogus").expect_err("bogus");
        assert!(error.message.contains("field \"__timestamp__:bogus\": unknown time format \"bogus\""), "{}", error.message);
        assert_eq!(export_fields("__timestamp__:custom:15:04,,x").expect("valid").len(), 3);
    }

    #[test]
    fn rows_are_grouped_into_series_and_bad_rows_counted() {
        let format = CsvFormat::parse("1:label:ticker,2:metric:ask,3:metric:bid,4:time:unix_s").expect("valid");
        let extra = vec![("dc".to_string(), "eu".to_string())];
        let mut rows = CsvRows::new(format, extra, LabelLimits::default(), 7);
        let body = ["GOOG,1,2,10", "", "GOOG,3,4,5", "MSFT,,1,5", "MSFT,5,6", "\"\",7,8,0", "GOOG,\u{0}x,1,1"];
        for (i, line) in body.iter().enumerate() {
            rows.take(i + 1, line.as_bytes()).expect("never fails");
        }
        rows.take(8, b"\xff,1,2,3").expect("never fails");
        assert_eq!(rows.bad_rows, 4);
        assert_eq!(rows.first_bad.as_deref(), Some("line 4: column 2: the ask value \"\" is not a number"));
        let got: Vec<(String, Vec<(i64, f64)>)> =
            rows.series.iter().map(|s| (s.labels.to_string(), s.samples.iter().map(|x| (x.timestamp_ms, x.value)).collect())).collect();
        assert_eq!(
            got,
            vec![
                ("ask{dc=\"eu\", ticker=\"GOOG\"}".to_string(), vec![(10_000, 1.0), (5_000, 3.0)]),
                ("bid{dc=\"eu\", ticker=\"GOOG\"}".to_string(), vec![(10_000, 2.0), (5_000, 4.0)]),
                ("ask{dc=\"eu\"}".to_string(), vec![(7, 7.0)]),
                ("bid{dc=\"eu\"}".to_string(), vec![(7, 8.0)]),
            ]
        );
        assert_eq!(rows.samples, 6);
    }

    #[test]
    fn a_series_past_the_label_limits_is_a_bad_row() {
        let format = CsvFormat::parse("1:label:a,2:label:b,3:metric:m").expect("valid");
        let limits = LabelLimits { labels_per_series: 2, ..LabelLimits::default() };
        let mut rows = CsvRows::new(format, Vec::new(), limits, 7);
        rows.take(1, b"x,,1").expect("never fails");
        rows.take(2, b"x,y,2").expect("never fails");
        assert_eq!(rows.series.len(), 1);
        assert_eq!(rows.bad_rows, 1);
        let first = rows.first_bad.clone().unwrap_or_default();
        assert!(first.starts_with("line 2: series m{a=\"x\", b=\"y\"} has more than 2 labels"), "{first}");
    }
}
