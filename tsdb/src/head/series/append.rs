//! Appending to a series: floats (with or without start times) and native histograms, in
//! order, out of order or as overwrites, and the block ranges (`ChunkRanges`) that keep a
//! head chunk from crossing a block boundary.

use std::sync::Arc;

use super::{HeadChunk, MemSeries};
use crate::chunk::{ChunkEncoding, Xor2Iterator, XorIterator, SAMPLES_PER_CHUNK_MAX};
use crate::model::FloatHistogram;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendResult {
    Appended,
    /// Older than the newest sample; kept in the out-of-order buffer.
    OutOfOrder,
    /// Same timestamp and same value bits: nothing to do.
    Duplicate,
    /// Same timestamp, different value: the new value wins.
    Overwritten,
    /// The timestamp holds a sample of the other kind (a float where a histogram is
    /// written, or the reverse): the new one is refused, the stored one stays.
    Conflict,
}

/// Block ranges for aligning head chunks (`MemSeries::append_aligned`): `[k·d, (k+1)·d)` for a
/// block duration `d` (none when 0), with the last range met cached, as most appends fall in
/// the range of the one before.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChunkRanges {
    duration_ms: i64,
    lo: i64,
    hi: i64,
}

impl ChunkRanges {
    pub fn new(duration_ms: i64) -> Self {
        ChunkRanges { duration_ms: duration_ms.max(0), lo: 0, hi: 0 }
    }

    /// Whether `a` and `b` (`a` < `b`) lie in one range.
    #[inline]
    pub fn same_range(&mut self, a: i64, b: i64) -> bool {
        if self.duration_ms == 0 || (self.lo <= a && b < self.hi) {
            return true;
        }
        let d = self.duration_ms;
        let range = b.div_euclid(d);
        if let Some(lo) = range.checked_mul(d) {
            (self.lo, self.hi) = (lo, lo.saturating_add(d));
        }
        a.div_euclid(d) == range
    }
}

impl MemSeries {
    /// Adds a native histogram with the float rules (see `HistogramSeries::append`); a float
    /// already at `t` makes it a `Conflict`.
    pub fn append_histogram(&mut self, t: i64, h: &Arc<FloatHistogram>) -> AppendResult {
        self.append_histogram_aligned(t, h, &mut ChunkRanges::default())
    }

    /// `append_histogram` whose chunks do not cross one of `ranges` (see `append_aligned`).
    pub fn append_histogram_aligned(&mut self, t: i64, h: &Arc<FloatHistogram>, ranges: &mut ChunkRanges) -> AppendResult {
        if self.float_at(t).is_some() {
            return AppendResult::Conflict;
        }
        self.rare.get_or_insert_with(Box::default).histograms.get_or_insert_with(Box::default).append(t, h, ranges)
    }

    /// `append_histogram_aligned` of a histogram with its start time
    /// (`HistogramSeries::append_started`); a float already at `t` makes it a `Conflict`.
    pub fn append_histogram_started(&mut self, start_ms: i64, t: i64, h: &Arc<FloatHistogram>, ranges: &mut ChunkRanges) -> AppendResult {
        if self.float_at(t).is_some() {
            return AppendResult::Conflict;
        }
        self.rare.get_or_insert_with(Box::default).histograms.get_or_insert_with(Box::default).append_started(start_ms, t, h, ranges)
    }

    /// Switches the series' native histograms to chunks with start times (a head cut's new
    /// head, for a series that had switched: see `keep_starts`).
    pub fn keep_histogram_starts(&mut self) {
        self.rare.get_or_insert_with(Box::default).histograms.get_or_insert_with(Box::default).keep_starts();
    }

    /// The float stored at `t`, if any.
    fn float_at(&self, t: i64) -> Option<f64> {
        if self.newest().is_none_or(|(last_t, _)| t > last_t) {
            return None;
        }
        self.ooo().and_then(|m| m.get(&t).copied()).or_else(|| self.in_order_value_at(t))
    }

    pub fn append(&mut self, t: i64, v: f64) -> AppendResult {
        self.append_aligned(t, v, &mut ChunkRanges::default())
    }

    /// `append`, also closing the open chunk before a sample in another of `ranges`' ranges
    /// than the chunk's first, so that no chunk crosses a block boundary: a head cut (or a
    /// cut of many ranges at once) then hands every chunk to a block as it is, without
    /// decoding it.
    #[inline]
    pub fn append_aligned(&mut self, t: i64, v: f64, ranges: &mut ChunkRanges) -> AppendResult {
        if self.histograms().is_some_and(|h| h.value_at(t).is_some()) {
            return AppendResult::Conflict;
        }
        if self.newest().is_none_or(|(last_t, _)| t > last_t) {
            // A series with start times appends to its XOR2 chunks (its XOR one is empty).
            if self.open.num_samples() == 0 {
                if let Some(started) = self.rare.as_deref_mut().and_then(|r| r.started.as_mut()) {
                    started.append(0, t, v, ranges);
                    self.min_t = self.min_t.min(t);
                    return AppendResult::Appended;
                }
            }
            let count = self.open.num_samples();
            if count >= SAMPLES_PER_CHUNK_MAX || (count > 0 && !ranges.same_range(self.open_min_t, t)) {
                let full = std::mem::take(&mut self.open);
                let (min_t, max_t) = (self.open_min_t, full.last().map_or(self.open_min_t, |(t, _)| t));
                let mut closed = Vec::with_capacity(self.closed.len() + 1);
                closed.extend(std::mem::take(&mut self.closed).into_vec());
                closed.push(HeadChunk { min_t, max_t, chunk: full.into_chunk() });
                self.closed = closed.into_boxed_slice();
            }
            if self.open.num_samples() == 0 {
                self.open_min_t = t;
            }
            self.open.append(t, v);
            self.min_t = self.min_t.min(t);
            return AppendResult::Appended;
        }
        // At or before the newest sample: compare with what is stored at `t`.
        let existing = self.ooo().and_then(|m| m.get(&t).copied()).or_else(|| self.in_order_value_at(t));
        match existing {
            Some(old) if old.to_bits() == v.to_bits() => AppendResult::Duplicate,
            Some(_) => {
                self.ooo_mut().insert(t, v);
                AppendResult::Overwritten
            }
            None => {
                self.ooo_mut().insert(t, v);
                self.min_t = self.min_t.min(t);
                AppendResult::OutOfOrder
            }
        }
    }

    /// `append_aligned` for a float with its start time: an in-order one is kept with it in
    /// the series' XOR2 chunks (the first one cuts the open XOR chunk and switches the
    /// series to XOR2 for good). A start of 0 (none), and an out-of-order float or overwrite,
    /// take `append_aligned` (the start is lost: the out-of-order buffer keeps values only).
    pub fn append_started(&mut self, start_ms: i64, t: i64, v: f64, ranges: &mut ChunkRanges) -> AppendResult {
        if start_ms == 0 || self.newest().is_some_and(|(last_t, _)| t <= last_t) || self.histograms().is_some_and(|h| h.value_at(t).is_some()) {
            return self.append_aligned(t, v, ranges);
        }
        self.keep_starts();
        let rare = self.rare.get_or_insert_with(Box::default);
        rare.started.get_or_insert_with(Box::default).append(start_ms, t, v, ranges);
        self.min_t = self.min_t.min(t);
        AppendResult::Appended
    }

    /// Switches the series to XOR2 chunks for its later floats, as its first float with a
    /// start does (a head cut's new head calls it for a series that had switched, so that
    /// the switch outlives the cut even when the next float has no start).
    pub fn keep_starts(&mut self) {
        if self.started().is_none() {
            self.close_open_chunk();
            self.rare.get_or_insert_with(Box::default).started = Some(Box::default());
        }
    }

    /// Moves the open XOR chunk, when it holds samples, to the closed ones.
    fn close_open_chunk(&mut self) {
        let full = std::mem::take(&mut self.open);
        let Some((max_t, _)) = full.last() else {
            return;
        };
        let mut closed = Vec::with_capacity(self.closed.len() + 1);
        closed.extend(std::mem::take(&mut self.closed).into_vec());
        closed.push(HeadChunk { min_t: self.open_min_t, max_t, chunk: full.into_chunk() });
        self.closed = closed.into_boxed_slice();
    }

    fn in_order_value_at(&self, t: i64) -> Option<f64> {
        if let Some((_, last_v)) = self.newest().filter(|(last_t, _)| *last_t == t) {
            return Some(last_v);
        }
        match self.float_chunks().find(|(min_t, max_t, _, _, _)| *min_t <= t && t <= *max_t)? {
            (_, _, ChunkEncoding::Xor2, bytes, _) => Xor2Iterator::new(bytes).find(|s| s.sample.timestamp_ms == t).map(|s| s.sample.value),
            (_, _, _, bytes, _) => XorIterator::new(bytes).find(|s| s.timestamp_ms == t).map(|s| s.value),
        }
    }
}
