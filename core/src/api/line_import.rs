//! `/api/v1/import` (VictoriaMetrics' JSON lines) and `/api/v1/import/prometheus` (the text
//! format, timestamps optional), streamed: lines are gathered into runs, parsed and stored in
//! body order, memory staying near a few runs and batches whatever the body's size. A bad line
//! is a 400 naming it: the lines before it are stored, it and those after are not (as
//! VictoriaMetrics does).

use std::collections::VecDeque;

use bytes::Bytes;
use http::Response;
use tsdb::{SeriesBatch, SeriesSamples};

use super::body_encoding::StreamDecoder;
use super::migrate::{drive_import, StreamStop, StreamedImport, IMPORT_BATCH_SAMPLES_MAX, IMPORT_BATCH_SERIES_MAX, IMPORT_LINE_BYTES_MAX};
use super::params::{now_ms, Params};
use super::{extra_labels, write, Api, ApiError};
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::line_splitter::LineSplitter;
use crate::ingest::{json_lines, text_format, DecodeError};

/// Bytes of whole lines one parse job takes: a few milliseconds of a core (JSON lines parse
/// at a few hundred MB/s).
pub const PARSE_RUN_BYTES: usize = 1 << 20;

/// Runs parsed at once on the executor's blocking threads (`runtime::QUERY_THREADS_PER_EXECUTOR`,
/// shared with query evaluation), while this core splits the body and the shards append
/// the batches parsed before.
pub const PARSES_IN_FLIGHT_MAX: usize = 2;

/// How the lines of one request are read.
#[derive(Clone, Copy)]
struct LineFormat {
    /// The text exposition format; otherwise VictoriaMetrics' JSON lines.
    prometheus_text: bool,
    /// The time of a text-format sample without a timestamp: the request's `timestamp`
    /// parameter, or its arrival.
    now_ms: i64,
    limits: LabelLimits,
}

/// Whole lines gathered for one parse job: each line's text followed by `\n`, and the
/// number of the first.
#[derive(Default)]
struct LineRun {
    first_line: usize,
    text: Vec<u8>,
}

/// A line that does not parse (or is too long), and its number.
struct BadLine {
    error: DecodeError,
    line: usize,
}

type Stop = StreamStop<BadLine>;

/// One run, parsed.
struct Parsed {
    /// The run's series up to its end or its first bad line, in body order.
    series: Vec<SeriesSamples>,
    /// Their samples.
    samples: usize,
    /// Why the run stopped before its end (`series` holds the lines before).
    stop: Option<Stop>,
}

/// One request's import: the line splitter, the run being gathered, the runs being parsed
/// and the writes landing.
struct LineImport<'a> {
    api: &'a Api,
    format: LineFormat,
    extra_labels: Vec<(String, String)>,
    lines: LineSplitter,
    run: LineRun,
    /// Runs being parsed, oldest first; their batches are stored in this order, so each
    /// shard gets a series' samples in body order.
    parsing: VecDeque<glommio::task::JoinHandle<Parsed>>,
    /// Series parsed and not yet sent, gathered across runs into batches of up to
    /// `IMPORT_BATCH_*` (a run's own series may be few: a JSON line can hold a long history).
    pending: Vec<SeriesSamples>,
    pending_samples: usize,
    /// The batches sent before, which the shards may still be appending.
    landing: write::Landing<'a>,
}

/// Imports the body's lines (the text format when `prometheus_text`, else JSON lines). This
/// core splits the body into numbered lines as it arrives (a compressed body decoded a step at
/// a time) and gathers whole lines into runs of about `PARSE_RUN_BYTES`. The text
/// format's runs are parsed by the executor's blocking threads, `PARSES_IN_FLIGHT_MAX` at a
/// time, while this core reads on; JSON lines' runs here (measured faster, `parse_run`).
/// Parsed series are sent in batches of up to `IMPORT_BATCH_*` while the next runs parse, in
/// body order.
pub async fn handle_import(
    api: &Api,
    body: net::RequestBody,
    prometheus_text: bool,
    decoder: Option<StreamDecoder>,
    extra_labels: Vec<(String, String)>,
    params: &Params,
) -> Result<Response<Bytes>, ApiError> {
    let now_ms = if prometheus_text { default_time_ms(params)? } else { now_ms() };
    let format = LineFormat { prometheus_text, now_ms, limits: api.config.storage.ingest_rules().label_limits };
    let import = LineImport {
        api,
        format,
        extra_labels,
        lines: LineSplitter::new(IMPORT_LINE_BYTES_MAX),
        run: LineRun::default(),
        parsing: VecDeque::new(),
        pending: Vec::new(),
        pending_samples: 0,
        landing: write::Landing::default(),
    };
    drive_import(import, body, decoder).await
}

impl StreamedImport for LineImport<'_> {
    type Problem = BadLine;

    /// Takes the next bytes of the body, sending every run that fills to be parsed.
    async fn take_chunk(&mut self, chunk: &[u8]) -> Result<(), Stop> {
        self.split(chunk)?;
        self.parse_if_full().await
    }

    /// The end of the body: a last line without a newline is a line too.
    async fn take_end(&mut self) -> Result<(), Stop> {
        let run = &mut self.run;
        let result = self.lines.finish(|number, raw| {
            gather(run, number, raw);
            Ok(())
        });
        result.map_err(|error| Stop::Problem(BadLine { error, line: self.lines.line_number() }))
    }

    /// Parses and stores the gathered run and every run still parsing, and waits until every
    /// batch sent has landed.
    async fn finish(&mut self) -> Result<(), Stop> {
        self.parse_run().await?;
        while !self.parsing.is_empty() {
            self.store_oldest().await?;
        }
        while !self.pending.is_empty() {
            self.send_pending(IMPORT_BATCH_SERIES_MAX, IMPORT_BATCH_SAMPLES_MAX).await?;
        }
        self.landing.landed().await.map_err(Stop::Store)
    }

    /// The 400 for an import stopped by `stop`, after storing the lines before it (a run
    /// gathered before `stop` may hold an earlier bad line: that one is the problem then).
    async fn refuse(mut self, stop: Stop) -> ApiError {
        let stop = match self.finish().await {
            Ok(()) => stop,
            Err(earlier) => earlier,
        };
        let last = self.lines.line_number();
        ApiError::bad_data(match stop {
            Stop::Problem(BadLine { error, line }) => format!("{error}; the lines before line {line} were imported, none from it on"),
            Stop::Decode(failure) => format!("{failure}; {} before it", lines_imported(last)),
            Stop::Body(error) => format!("the request body failed after line {last}: {error}; {}", lines_imported(last)),
            Stop::Store(error) => return error,
        })
    }
}

/// The time of text-format lines without one: VictoriaMetrics' `timestamp` parameter (Unix
/// milliseconds), else (absent, 0 or less, as VictoriaMetrics reads it) the request's arrival.
fn default_time_ms(params: &Params) -> Result<i64, ApiError> {
    let given = match params.get("timestamp").filter(|t| !t.is_empty()) {
        None => 0,
        Some(text) => text
            .parse::<i64>()
            .map_err(|_| ApiError::bad_data(format!("invalid parameter \"timestamp\": {text:?} is not an integer (Unix milliseconds)")))?,
    };
    Ok(if given > 0 { given } else { now_ms() })
}

/// Which complete lines an import stopped after `last` stored.
fn lines_imported(last: usize) -> String {
    match last {
        0 => "no line was imported".into(),
        1 => "line 1 was imported".into(),
        _ => format!("lines 1 to {last} were imported"),
    }
}

impl LineImport<'_> {
    /// Adds the lines `bytes` completes to the run being gathered; a line over
    /// `IMPORT_LINE_BYTES_MAX` stops the import.
    fn split(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        let run = &mut self.run;
        let result = self.lines.feed(bytes, |number, raw| {
            gather(run, number, raw);
            Ok(())
        });
        result.map_err(|error| Stop::Problem(BadLine { error, line: self.lines.line_number() }))
    }

    /// Sends the run to be parsed once it holds `PARSE_RUN_BYTES`.
    async fn parse_if_full(&mut self) -> Result<(), Stop> {
        if self.run.text.len() >= PARSE_RUN_BYTES {
            self.parse_run().await?;
        }
        Ok(())
    }

    /// Starts parsing the gathered run (if any) on a blocking thread, once fewer than
    /// `PARSES_IN_FLIGHT_MAX` runs are, storing the oldest runs' batches to make room.
    async fn parse_run(&mut self) -> Result<(), Stop> {
        if self.run.text.is_empty() {
            return Ok(());
        }
        while self.parsing.len() >= PARSES_IN_FLIGHT_MAX {
            self.store_oldest().await?;
        }
        let run = std::mem::take(&mut self.run);
        let format = self.format;
        if !format.prometheus_text {
            // JSON lines parse here, between the shards' appends: measured on 2 cores (40M
            // samples in 4,000 lines, bench/RESULTS.md "session 31"), parsing them on the
            // blocking threads took up to a tenth longer, while the text format's short
            // lines (3M samples) imported in a quarter less time.
            let parsed = parse(&run, format);
            self.parsing.push_back(glommio::spawn_local(async move { parsed }).detach());
            return Ok(());
        }
        let job = glommio::executor().spawn_blocking(move || parse(&run, format));
        // Spawned, so the job is handed to the blocking thread now, not when first awaited.
        self.parsing.push_back(glommio::spawn_local(job).detach());
        Ok(())
    }

    /// Waits for the oldest run's parse and adds its series to those pending, sending each
    /// batch that fills to the shards, in order; the last lands while the next runs parse.
    async fn store_oldest(&mut self) -> Result<(), Stop> {
        let Some(job) = self.parsing.pop_front() else { return Ok(()) };
        let Some(parsed) = job.await else {
            return Err(Stop::Body("parsing a run of lines was cancelled".into()));
        };
        self.pending.extend(parsed.series);
        self.pending_samples += parsed.samples;
        let mut stored = Ok(());
        while stored.is_ok() && (self.pending.len() >= IMPORT_BATCH_SERIES_MAX || self.pending_samples >= IMPORT_BATCH_SAMPLES_MAX) {
            stored = self.send_pending(IMPORT_BATCH_SERIES_MAX, IMPORT_BATCH_SAMPLES_MAX).await;
        }
        // The lines before a bad one are all stored.
        while stored.is_ok() && parsed.stop.is_some() && !self.pending.is_empty() {
            stored = self.send_pending(IMPORT_BATCH_SERIES_MAX, IMPORT_BATCH_SAMPLES_MAX).await;
        }
        let stored = stored.and(parsed.stop.map_or(Ok(()), Err));
        if stored.is_err() {
            // Nothing after the problem is stored: the runs gathered after it are dropped
            // (their parsing ends on its own, unused), and so is the run being gathered.
            self.parsing.clear();
            self.run = LineRun::default();
        }
        stored
    }

    /// Sends the oldest pending series, up to `series_max` of them or the first to reach
    /// `samples_max` samples, as one batch with the request's `extra_label`s.
    async fn send_pending(&mut self, series_max: usize, samples_max: usize) -> Result<(), Stop> {
        let (mut count, mut samples) = (0, 0);
        while count < self.pending.len() && count < series_max && samples < samples_max {
            samples += self.pending[count].samples.len();
            count += 1;
        }
        if count == 0 {
            return Ok(());
        }
        let mut series: Vec<SeriesSamples> = self.pending.drain(..count).collect();
        self.pending_samples -= samples;
        let limits = self.format.limits;
        if !self.extra_labels.is_empty() {
            for s in &mut series {
                s.labels = extra_labels::apply_to_labels(&s.labels, &self.extra_labels, &limits).map_err(Stop::Store)?;
            }
        }
        let batch = SeriesBatch::from_series(&series);
        drop(series);
        let (api, outside) = (self.api, self.landing.outside_bounds());
        let write = async move { write::append_imported(api, batch, &outside).await.map(drop) };
        self.landing.start(write).await.map_err(Stop::Store)
    }

}

/// Adds line `number` to `run`.
fn gather(run: &mut LineRun, number: usize, raw: &[u8]) {
    if run.text.is_empty() {
        run.first_line = number;
    }
    run.text.extend_from_slice(raw);
    run.text.push(b'\n');
}

/// Parses a run's lines (on a blocking thread), stopping at the first bad one.
fn parse(run: &LineRun, format: LineFormat) -> Parsed {
    let mut parsed = Parsed { series: Vec::new(), samples: 0, stop: None };
    let mut rest = run.text.as_slice();
    let mut number = run.first_line;
    while let Some(end) = memchr::memchr(b'\n', rest) {
        if let Err(error) = parse_line(format, &rest[..end], number, &mut parsed.series, &mut parsed.samples) {
            parsed.stop = Some(Stop::Problem(BadLine { error, line: number }));
            break;
        }
        rest = &rest[end + 1..];
        number += 1;
    }
    parsed
}

/// Parses line `number` onto `series` (a text-format sample joins the series before it
/// when it has the same labels).
fn parse_line(format: LineFormat, raw: &[u8], number: usize, series: &mut Vec<SeriesSamples>, samples: &mut usize) -> Result<(), DecodeError> {
    let text = std::str::from_utf8(raw)
        .map_err(|_| DecodeError::InvalidSeries { series: format!("line {number}"), problem: "the line is not valid UTF-8".to_string() })?;
    if format.prometheus_text {
        if let Some((labels, sample)) = text_format::parse_import_line(text, number, format.now_ms, &format.limits)? {
            *samples += 1;
            text_format::push_sample(series, labels, sample);
        }
    } else if let Some(parsed) = json_lines::parse_line(text, number, &format.limits)? {
        if !parsed.samples.is_empty() {
            *samples += parsed.samples.len();
            series.push(parsed);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_of(first_line: usize, lines: &[&str]) -> LineRun {
        let mut run = LineRun::default();
        for (i, line) in lines.iter().enumerate() {
            gather(&mut run, first_line + i, line.as_bytes());
        }
        run
    }

    fn json_format() -> LineFormat {
        LineFormat { prometheus_text: false, now_ms: 0, limits: LabelLimits::default() }
    }

    fn json_line(name: &str, samples: usize) -> String {
        let values: Vec<String> = (0..samples).map(|i| i.to_string()).collect();
        let timestamps: Vec<String> = (0..samples).map(|i| (1_000 + i).to_string()).collect();
        format!(r#"{{"metric":{{"__name__":"{name}"}},"values":[{}],"timestamps":[{}]}}"#, values.join(","), timestamps.join(","))
    }

    #[test]
    fn a_bad_line_stops_the_run_with_its_number_and_the_lines_before_are_kept() {
        let (a, b) = (json_line("a", 2), json_line("b", 3));
        let parsed = parse(&run_of(41, &[&a, "", &b, "{not json", &a]), json_format());
        match parsed.stop {
            Some(Stop::Problem(BadLine { line, error })) => assert!(line == 44 && error.to_string().contains("line 44"), "line {line}: {error}"),
            _ => panic!("expected the bad line to stop the run"),
        }
        assert_eq!((parsed.series.len(), parsed.samples), (2, 5), "the two series before the bad line");
        let whole = parse(&run_of(1, &[&a, &b]), json_format());
        assert!(whole.stop.is_none());
        assert_eq!((whole.series.len(), whole.samples), (2, 5));
    }

    #[test]
    fn text_format_samples_of_one_series_join_and_lines_without_time_take_the_arrival() {
        let format = LineFormat { prometheus_text: true, now_ms: 7_000, limits: LabelLimits::default() };
        let parsed = parse(&run_of(1, &["# HELP m x", "m{a=\"1\"} 1 1000", "m{a=\"1\"} 2 2000", "n 5"]), format);
        assert!(parsed.stop.is_none());
        assert_eq!((parsed.series.len(), parsed.samples), (2, 3));
        assert_eq!(parsed.series[0].samples.len(), 2);
        assert_eq!(parsed.series[1].samples[0].timestamp_ms, 7_000);
    }
}
