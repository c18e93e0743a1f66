//! A series' float samples stored with their start times (Prometheus' `st-storage`): closed
//! XOR2 chunks and the open one. A series moves its in-order floats here at its first sample
//! with a start (its open XOR chunk is cut first, as Prometheus cuts on an encoding change)
//! and keeps them here from then on, 0 standing for a sample without a start. Native
//! histograms do the same in float histogram ST chunks (`StartedHistograms`).

use std::sync::Arc;

use super::series::ChunkRanges;
use crate::chunk::{Appendable, CounterResetHeader, FloatHistogramStAppender, Xor2Appender, HISTOGRAM_SAMPLES_PER_CHUNK_MAX, SAMPLES_PER_CHUNK_MAX};
use crate::model::FloatHistogram;

/// Splits time-ordered `values` and their parallel `starts` (when the series has any) at
/// `boundary_ms`: (values before, their starts, values at or after, their starts); the
/// start lists are empty for a series without starts.
pub fn split_with_starts<T>(mut before: Vec<T>, starts: Option<Vec<i64>>, boundary_ms: i64, timestamp_ms: impl Fn(&T) -> i64) -> (Vec<T>, Vec<i64>, Vec<T>, Vec<i64>) {
    let at = before.partition_point(|v| timestamp_ms(v) < boundary_ms);
    let after = before.split_off(at);
    let (before_starts, after_starts) = match starts {
        Some(mut before_starts) => {
            let after_starts = before_starts.split_off(at);
            (before_starts, after_starts)
        }
        None => (Vec::new(), Vec::new()),
    };
    (before, before_starts, after, after_starts)
}

/// A closed XOR2 chunk with its time span.
pub struct StartedChunk {
    pub min_t: i64,
    pub max_t: i64,
    /// Shared with a select's answer and a head cut's block writer.
    pub bytes: Arc<[u8]>,
}

/// The XOR2 chunks of a series' floats (`MemSeries`' rare parts hold one once it has a start).
#[derive(Default)]
pub struct StartedFloats {
    /// Full chunks, oldest first, all newer than the series' XOR chunks.
    pub closed: Vec<StartedChunk>,
    pub open: Xor2Appender,
    pub open_min_t: i64,
    /// The newest in-order sample: timestamp, value and start (the XOR2 appender keeps the
    /// last value that was not a staleness marker, not the last one).
    pub newest: Option<(i64, f64, i64)>,
}

impl StartedFloats {
    /// Appends a sample newer than every one held, cutting the open chunk when it is full or
    /// `t` lies in another of `ranges` than its first sample.
    pub fn append(&mut self, start_ms: i64, t: i64, v: f64, ranges: &mut ChunkRanges) {
        let count = self.open.num_samples();
        if count >= SAMPLES_PER_CHUNK_MAX || (count > 0 && !ranges.same_range(self.open_min_t, t)) {
            let full = std::mem::take(&mut self.open);
            if let Some(max_t) = full.last_timestamp() {
                self.closed.push(StartedChunk { min_t: self.open_min_t, max_t, bytes: Arc::from(full.into_bytes()) });
            }
        }
        if self.open.num_samples() == 0 {
            self.open_min_t = t;
        }
        self.open.append(start_ms, t, v);
        self.newest = Some((t, v, start_ms));
    }

    /// Every chunk, oldest first, the open one last: `(min_t, max_t, bytes, shared bytes)`
    /// (`None` for the open chunk, which changes).
    pub fn chunks(&self) -> impl Iterator<Item = (i64, i64, &[u8], Option<&Arc<[u8]>>)> + '_ {
        let open = self.newest.filter(|_| self.open.num_samples() > 0).map(|(t, _, _)| (self.open_min_t, t, self.open.bytes(), None));
        self.closed.iter().map(|c| (c.min_t, c.max_t, &c.bytes[..], Some(&c.bytes))).chain(open)
    }
}

/// The float histogram ST chunks of a series' native histograms (its `HistogramSeries`
/// holds one once a histogram came with a start), as `StartedFloats` for floats.
pub struct StartedHistograms {
    /// Full chunks, oldest first, all newer than the series' float histogram chunks.
    pub closed: Vec<StartedChunk>,
    pub open: FloatHistogramStAppender,
    pub open_min_t: i64,
    /// The start of the newest in-order histogram.
    pub newest_start_ms: i64,
}

impl Default for StartedHistograms {
    fn default() -> Self {
        StartedHistograms { closed: Vec::new(), open: FloatHistogramStAppender::new(CounterResetHeader::Unknown), open_min_t: 0, newest_start_ms: 0 }
    }
}

impl StartedHistograms {
    /// Appends `h` at `t` (newer than every histogram held) with its start: a new chunk when
    /// the open one is full, `h` does not fit its layout, or `t` lies in another of `ranges`.
    pub fn append(&mut self, start_ms: i64, t: i64, h: &FloatHistogram, ranges: &mut ChunkRanges) {
        let fresh = if self.open.num_samples() == 0 {
            Some(FloatHistogramStAppender::after(None, h))
        } else if self.open.is_full(HISTOGRAM_SAMPLES_PER_CHUNK_MAX) || !ranges.same_range(self.open_min_t, t) {
            Some(FloatHistogramStAppender::after(Some(&self.open), h))
        } else {
            match self.open.appendable(h) {
                Appendable::Yes => None,
                Appendable::Cut(header) => Some(FloatHistogramStAppender::new(header)),
            }
        };
        if let Some(fresh) = fresh {
            let full = std::mem::replace(&mut self.open, fresh);
            if let Some(max_t) = full.last_timestamp() {
                self.closed.push(StartedChunk { min_t: self.open_min_t, max_t, bytes: Arc::from(full.into_bytes()) });
            }
            self.open_min_t = t;
        }
        self.open.append(start_ms, t, h);
        self.newest_start_ms = start_ms;
    }

    /// Every chunk, oldest first, the open one last, as `StartedFloats::chunks`.
    pub fn chunks(&self) -> impl Iterator<Item = (i64, i64, &[u8], Option<&Arc<[u8]>>)> + '_ {
        let open = self.open.last_timestamp().map(|t| (self.open_min_t, t, self.open.bytes(), None));
        self.closed.iter().map(|c| (c.min_t, c.max_t, &c.bytes[..], Some(&c.bytes))).chain(open)
    }
}
