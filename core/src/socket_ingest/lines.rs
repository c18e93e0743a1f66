//! From bytes off a socket to stored samples: `LineReader` cuts a stream's chunks into lines
//! (a line may span chunks; one longer than `graphite::LINE_BYTES_MAX` is skipped to its
//! newline), `LineSink` parses each into a batch and writes the batch through the
//! executor's `ShardRouter` every `FLUSH_SAMPLES`/`FLUSH_BYTES` and at the end of each chunk.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use crate::api::Api;
use crate::ingest::influx::{self, InfluxError, LineOptions, Parsed, Precision};
use crate::ingest::{graphite, opentsdb};

use super::stats::{Protocol, Transport};

/// A batch is written once it holds this many samples…
pub const FLUSH_SAMPLES: u64 = 10_000;
/// …or its series take this many bytes (as `influx::PARSED_BYTES_MAX` counts them).
pub const FLUSH_BYTES: usize = 4 << 20;
/// What one line may add to a batch (an Influx line's tags are copied into each of its
/// fields' series): a line past it is skipped, so a batch stays below this plus `FLUSH_BYTES`.
pub const BATCH_BYTES_MAX: usize = 64 << 20;
/// How long a write waits for a full shard queue to make room before it is sent anyway
/// (and refused, counted) — the sender is held back meanwhile, as TCP backpressure.
const QUEUE_ROOM_WAIT_MAX: Duration = Duration::from_secs(10);
/// At most one warning per this interval per listener kind and executor for bad lines.
const BAD_LINE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Lets a warning through at most once per interval; one per listener kind and executor,
/// shared by its connections and datagram loop, so that many senders of bad lines (or one
/// that reconnects for each) cannot flood the log.
#[derive(Debug, Default)]
pub struct WarningGate(std::cell::Cell<Option<Instant>>);

impl WarningGate {
    /// Whether a warning may be logged now (then the next waits `interval`).
    pub fn pass(&self, interval: Duration) -> bool {
        let now = Instant::now();
        let due = self.0.get().is_none_or(|at| now.duration_since(at) >= interval);
        if due {
            self.0.set(Some(now));
        }
        due
    }
}

/// What `LineReader::next` found in the chunk.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// A whole line inside the chunk (its newline and a `\r` before it cut off).
    Line(Range<usize>),
    /// A line that began in earlier chunks: `LineReader::joined` holds it.
    Joined,
    /// A line longer than the limit, dropped (what follows it up to its newline too).
    TooLong,
    /// The chunk is used up; the start of a line may wait for the next.
    NeedMore,
}

/// Cuts a stream's chunks into lines, holding at most one unfinished line of at most
/// `line_bytes_max` bytes.
#[derive(Debug)]
pub struct LineReader {
    partial: Vec<u8>,
    /// `partial` is a whole line handed out as `Piece::Joined`; cleared at the next call.
    joined: bool,
    /// Inside a line already refused as too long: drop bytes until its newline.
    skipping: bool,
    line_bytes_max: usize,
}

fn without_cr(line: &[u8]) -> usize {
    line.len() - usize::from(line.ends_with(b"\r"))
}

impl LineReader {
    pub fn new(line_bytes_max: usize) -> Self {
        LineReader { partial: Vec::new(), joined: false, skipping: false, line_bytes_max }
    }

    /// The next piece of `chunk` from `*position` on (which it advances).
    pub fn next(&mut self, chunk: &[u8], position: &mut usize) -> Piece {
        if self.joined {
            self.partial.clear();
            self.joined = false;
        }
        loop {
            let start = (*position).min(chunk.len());
            let rest = &chunk[start..];
            let Some(end) = memchr::memchr(b'\n', rest) else {
                *position = chunk.len();
                if self.skipping || rest.is_empty() {
                    return Piece::NeedMore;
                }
                if self.partial.len() + rest.len() > self.line_bytes_max {
                    self.partial.clear();
                    self.skipping = true;
                    return Piece::TooLong;
                }
                self.partial.extend_from_slice(rest);
                return Piece::NeedMore;
            };
            *position = start + end + 1;
            if std::mem::take(&mut self.skipping) {
                // The rest of a line already counted as too long.
                continue;
            }
            let line = &rest[..end];
            if self.partial.len() + line.len() > self.line_bytes_max {
                self.partial.clear();
                return Piece::TooLong;
            }
            if self.partial.is_empty() {
                return Piece::Line(start..start + without_cr(line));
            }
            self.partial.extend_from_slice(line);
            self.partial.truncate(without_cr(&self.partial));
            self.joined = true;
            return Piece::Joined;
        }
    }

    /// The line of the last `Piece::Joined`.
    pub fn joined(&self) -> &[u8] {
        &self.partial
    }

    /// At the end of the stream: the last line when it had no newline (and was not too long).
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.joined || self.skipping || self.partial.is_empty() {
            return None;
        }
        let length = without_cr(&self.partial);
        self.partial.truncate(length);
        self.joined = true;
        Some(&self.partial)
    }
}

/// What became of a line handed to `LineSink::push`.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Added,
    Skipped,
    /// The batch is too full for this line: flush, then push it again.
    FlushFirst,
}

/// Parses the lines of one connection (or datagram) into a batch and writes it out.
pub struct LineSink<'a> {
    api: &'a Api,
    protocol: Protocol,
    transport: Transport,
    peer: SocketAddr,
    batch: Parsed,
    batch_bytes: usize,
    /// Lines seen since the last flush (counted in `/metrics` there), and in all (an Influx
    /// error names its line by this number).
    lines: u64,
    line_number: u64,
    lines_skipped: u64,
    /// The stamp of lines without a timestamp (set at each read).
    now_ms: i64,
    /// The listener's gate for bad-line warnings on this executor.
    bad_line_warnings: &'a WarningGate,
    /// OpenTSDB `version` commands read and not answered yet.
    version_requests: usize,
}

impl<'a> LineSink<'a> {
    pub fn new(api: &'a Api, protocol: Protocol, transport: Transport, peer: SocketAddr, bad_line_warnings: &'a WarningGate) -> Self {
        LineSink { api, protocol, transport, peer, batch: Parsed::default(), batch_bytes: 0, lines: 0, line_number: 0, lines_skipped: 0, now_ms: 0, bad_line_warnings, version_requests: 0 }
    }

    /// How many OpenTSDB `version` commands were read since the last call (each is answered
    /// with one line; over UDP they are dropped).
    pub fn take_version_requests(&mut self) -> usize {
        std::mem::take(&mut self.version_requests)
    }

    /// The sender of the lines that follow (UDP: each datagram's).
    pub fn set_peer(&mut self, peer: SocketAddr) {
        self.peer = peer;
    }

    /// The arrival time of the chunk being read (the timestamp of lines without one).
    pub fn set_now_ms(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// Parses one line into the batch.
    pub fn push(&mut self, raw: &[u8]) -> Pushed {
        // OpenTSDB's telnet `version` command (tcollector sends it every minute to check that
        // the server is alive): answered after the read (`take_version_requests`), not a line.
        if self.protocol == Protocol::OpenTsdb && raw.strip_suffix(b"\r").unwrap_or(raw).trim_ascii() == b"version" {
            self.lines += 1;
            self.line_number += 1;
            self.version_requests += 1;
            return Pushed::Skipped;
        }
        let rules = self.api.config.storage.ingest_rules();
        let result = match self.protocol {
            Protocol::Graphite => graphite::push_line(&mut self.batch, raw, self.now_ms, &rules).map(|bytes| self.batch_bytes += bytes),
            Protocol::OpenTsdb => opentsdb::push_line(&mut self.batch, raw, self.now_ms, &rules).map(|bytes| self.batch_bytes += bytes),
            Protocol::Influx => {
                let options = LineOptions {
                    // No `precision` or `db` on a socket: timestamps are guessed from their
                    // size, and there is no `db` label (as VictoriaMetrics).
                    precision: Precision::Guess,
                    db: None,
                    extra_labels: &[],
                    now_ms: self.now_ms,
                    rules,
                    parsed_bytes_max: BATCH_BYTES_MAX,
                };
                let number = usize::try_from(self.line_number + 1).unwrap_or(usize::MAX);
                match influx::parse_line_into(&mut self.batch, &mut self.batch_bytes, number, raw, &options) {
                    Ok(()) => Ok(()),
                    Err(InfluxError::TooLarge { .. }) if !self.batch.is_empty() => return Pushed::FlushFirst,
                    Err(error) => Err(error.to_string()),
                }
            }
        };
        self.lines += 1;
        self.line_number += 1;
        match result {
            Ok(()) => Pushed::Added,
            Err(problem) => {
                self.skip(&problem);
                Pushed::Skipped
            }
        }
    }

    /// Counts a line dropped for its length.
    pub fn too_long(&mut self) {
        self.lines += 1;
        self.line_number += 1;
        self.skip(&format!("a line longer than {} bytes, skipped to its newline", graphite::LINE_BYTES_MAX));
    }

    fn skip(&mut self, problem: &str) {
        self.lines_skipped += 1;
        if self.bad_line_warnings.pass(BAD_LINE_LOG_INTERVAL) {
            tracing::warn!(peer = %self.peer, protocol = self.protocol.name(), transport = self.transport.name(), %problem, "bad line skipped (for 10 s, later ones on this listener and core are only counted: metricstor_socket_lines_skipped_total)");
        }
    }

    /// Whether the batch holds samples to write.
    pub fn has_batch(&self) -> bool {
        !self.batch.is_empty()
    }

    /// Whether the batch should be written before more lines are added.
    pub fn is_full(&self) -> bool {
        self.batch.samples >= FLUSH_SAMPLES || self.batch_bytes >= FLUSH_BYTES
    }

    /// Writes the batch through the router (relabeling, series limit, owners' WALs) and
    /// counts the lines; waits for a full shard queue to make room first, holding back the
    /// sender rather than refusing (a socket cannot be told to retry).
    pub async fn flush(&mut self) {
        if let Some(taken) = self.take_batch() {
            taken.write(self.api).await;
        }
    }

    /// Counts the lines seen in `/metrics` and takes the batch to be written
    /// (`TakenBatch::write`), leaving an empty one; `None` when it holds nothing.
    pub fn take_batch(&mut self) -> Option<TakenBatch> {
        let stats = &self.api.metrics.socket;
        stats.add_lines(self.protocol, self.transport, std::mem::take(&mut self.lines));
        stats.add_lines_skipped(self.protocol, self.transport, std::mem::take(&mut self.lines_skipped));
        if self.batch.is_empty() {
            return None;
        }
        self.batch_bytes = 0;
        Some(TakenBatch { batch: std::mem::take(&mut self.batch), protocol: self.protocol, transport: self.transport, peer: self.peer })
    }
}

/// A sink's batch taken to be written (`LineSink::take_batch`), so the sink parses on
/// meanwhile.
pub struct TakenBatch {
    batch: Parsed,
    protocol: Protocol,
    transport: Transport,
    peer: SocketAddr,
}

impl TakenBatch {
    /// Writes the batch (see `LineSink::flush`).
    pub async fn write(self, api: &Api) {
        let stats = &api.metrics.socket;
        let samples = self.batch.samples;
        let deadline = Instant::now() + QUEUE_ROOM_WAIT_MAX;
        while api.router.full_shard().is_some() && Instant::now() < deadline {
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        if let Err(error) = crate::api::write::append_submitted(api, self.batch.into_batch()).await {
            // Under the series limit or the time bounds the other samples were stored; the
            // rest are counted as refused.
            let refused = samples.saturating_sub(error.samples_appended());
            stats.add_samples_refused(self.protocol, self.transport, refused);
            tracing::warn!(peer = %self.peer, protocol = self.protocol.name(), transport = self.transport.name(), %error, refused, "socket lines not stored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_gate_passes_once_per_interval() {
        let gate = WarningGate::default();
        assert!(gate.pass(Duration::from_secs(3600)), "the first warning passes");
        assert!(!gate.pass(Duration::from_secs(3600)), "a second within the interval does not");
        assert!(gate.pass(Duration::ZERO), "once the interval has passed, one passes again");
    }

    /// Every line of `input` fed in pieces of `piece` bytes, then the end of the stream:
    /// lines as text, "TOO LONG" for lines dropped.
    fn lines(input: &[u8], piece: usize, line_bytes_max: usize) -> Vec<String> {
        let mut reader = LineReader::new(line_bytes_max);
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            let mut position = 0;
            loop {
                match reader.next(chunk, &mut position) {
                    Piece::Line(range) => out.push(String::from_utf8_lossy(&chunk[range]).into_owned()),
                    Piece::Joined => out.push(String::from_utf8_lossy(reader.joined()).into_owned()),
                    Piece::TooLong => out.push("TOO LONG".into()),
                    Piece::NeedMore => break,
                }
            }
        }
        if let Some(last) = reader.finish() {
            out.push(String::from_utf8_lossy(last).into_owned());
        }
        out
    }

    #[test]
    fn lines_come_out_whole_in_any_split() {
        let input = "first\r\n\nthird line\nlast without newline";
        let expected: Vec<String> = input.lines().map(str::to_string).collect();
        for piece in 1..=input.len() {
            assert_eq!(lines(input.as_bytes(), piece, 64), expected, "pieces of {piece}");
        }
        assert_eq!(lines(b"a\n", 1, 64), vec!["a"]);
        assert!(lines(b"", 1, 64).is_empty());
        assert_eq!(lines(b"x\r", 1, 64), vec!["x"], "a last line's \\r goes too");
    }

    #[test]
    fn a_long_line_is_skipped_to_its_newline_and_reading_goes_on() {
        for piece in [1, 3, 7, 100] {
            assert_eq!(lines(b"ok\n0123456789abcdef\nnext\n", piece, 8), vec!["ok", "TOO LONG", "next"], "pieces of {piece}");
            assert_eq!(lines(b"12345678\n123456789", piece, 8), vec!["12345678", "TOO LONG"], "pieces of {piece}");
            assert_eq!(lines(b"0123456789abcdef0123456789\n\nz", piece, 8), vec!["TOO LONG", "", "z"], "pieces of {piece}");
        }
    }
}
