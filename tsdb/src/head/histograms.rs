//! One in-memory series' native histograms: closed float histogram chunks, the open chunk,
//! and an out-of-order buffer (also holding same-timestamp overwrites) that wins over chunk
//! data on read. Kept apart from the float chunks (`MemSeries` holds one only once the
//! series has a histogram), so float-only series pay one pointer.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::series::{AppendResult, ChunkRanges};
use super::started::StartedHistograms;
use crate::block::RawChunk;
use crate::chunk::{
    decode_float_histograms_st_kept, decode_histograms_kept, Appendable, ChunkEncoding, FloatHistogramAppender, FloatHistogramIterator, FloatHistogramStIterator,
    HISTOGRAM_SAMPLES_PER_CHUNK_MAX,
};
use crate::encoded::{ChunkBytes, EncodedChunk, EncodedPart};
use crate::model::{FloatHistogram, HistogramSample};

struct ClosedChunk {
    min_t: i64,
    max_t: i64,
    /// Shared with a head cut's block writer and new head (see `XorChunk::bytes`).
    bytes: Arc<[u8]>,
}

pub struct HistogramSeries {
    closed: Vec<ClosedChunk>,
    open: FloatHistogramAppender,
    open_min_t: i64,
    /// The newest in-order histogram (what the open chunk last encoded), for duplicate
    /// checks and last-sample reads without decoding.
    newest: Option<HistogramSample>,
    /// Out-of-order histograms and overwrites, by timestamp; they override chunk data.
    ooo: BTreeMap<i64, Arc<FloatHistogram>>,
    /// Oldest histogram timestamp.
    min_t: i64,
    /// The chunks of histograms with start times; `None` until one comes with a start. From
    /// its first histogram with a start time on, a series keeps its in-order histograms in
    /// float histogram ST chunks (boxed); out-of-order histograms lose their start.
    started: Option<Box<StartedHistograms>>,
}

/// Appends the histograms of a chunk (float histogram, or ST) that `keep` accepts to `out`,
/// and their starts to `starts` when given (kept parallel: 0 for a chunk without starts). The
/// head's own chunks: a malformed one cannot be.
fn decode_histograms(encoding: ChunkEncoding, bytes: &[u8], out: &mut Vec<HistogramSample>, starts: Option<&mut Vec<i64>>, keep: impl Fn(i64) -> bool) {
    match (encoding, starts) {
        (ChunkEncoding::FloatHistogramSt, starts) => {
            decode_float_histograms_st_kept(bytes, out, starts, keep);
        }
        (_, Some(starts)) => {
            decode_histograms_kept(bytes, out, keep);
            starts.resize(out.len(), 0);
        }
        (_, None) => {
            decode_histograms_kept(bytes, out, keep);
        }
    }
}

/// A series' histograms split at a boundary (`HistogramSeries::split_at`); the starts are
/// parallel to their lists, empty for a series without any.
#[derive(Default)]
pub struct HistogramSplit {
    pub kept: Vec<RawChunk>,
    pub before: Vec<HistogramSample>,
    pub before_starts: Vec<i64>,
    pub after: Vec<HistogramSample>,
    pub after_starts: Vec<i64>,
}

impl Default for HistogramSeries {
    fn default() -> Self {
        HistogramSeries {
            closed: Vec::new(),
            open: FloatHistogramAppender::new(crate::chunk::CounterResetHeader::Unknown),
            open_min_t: 0,
            newest: None,
            ooo: BTreeMap::new(),
            min_t: i64::MAX,
            started: None,
        }
    }
}

impl HistogramSeries {
    /// `(oldest, newest)` histogram timestamp, `None` when there is none.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        self.newest.as_ref().map(|n| (self.min_t, n.timestamp_ms))
    }

    pub fn newest(&self) -> Option<&HistogramSample> {
        self.newest.as_ref()
    }

    pub fn has_out_of_order(&self) -> bool {
        !self.ooo.is_empty()
    }

    /// True once a histogram came with a start time.
    pub fn has_starts(&self) -> bool {
        self.started.is_some()
    }

    /// The newest in-order histogram's start, for a series with start times.
    pub fn newest_start(&self) -> Option<i64> {
        self.started.as_ref().map(|s| s.newest_start_ms)
    }

    /// Switches the series to float histogram ST chunks for its later histograms (the open
    /// float histogram chunk is closed first).
    pub fn keep_starts(&mut self) {
        if self.started.is_some() {
            return;
        }
        let full = std::mem::replace(&mut self.open, FloatHistogramAppender::new(crate::chunk::CounterResetHeader::Unknown));
        if let Some(max_t) = full.last_timestamp() {
            self.closed.push(ClosedChunk { min_t: self.open_min_t, max_t, bytes: Arc::from(full.into_bytes()) });
        }
        self.started = Some(Box::default());
    }

    /// `append` of a histogram with its start time: an in-order one is kept with it (the
    /// first switches the series to ST chunks); a start of 0, an out-of-order histogram or an
    /// overwrite take `append` (the start is lost).
    pub fn append_started(&mut self, start_ms: i64, t: i64, h: &Arc<FloatHistogram>, ranges: &mut ChunkRanges) -> AppendResult {
        if start_ms == 0 || self.newest.as_ref().is_some_and(|n| t <= n.timestamp_ms) {
            return self.append(t, h, ranges);
        }
        self.keep_starts();
        if let Some(started) = self.started.as_mut() {
            started.append(start_ms, t, h, ranges);
        }
        self.newest = Some(HistogramSample { timestamp_ms: t, histogram: Arc::clone(h) });
        self.min_t = self.min_t.min(t);
        AppendResult::Appended
    }

    /// Adds `h` at `t` with the float rules: after the newest it is appended (a new chunk
    /// when the open one is full, `h` does not fit its layout, or `t` lies in another of
    /// `ranges` than the open chunk's first); at or before it, the same
    /// histogram already there is a duplicate, another one there is overwritten, and an empty
    /// timestamp takes it as out of order.
    pub fn append(&mut self, t: i64, h: &Arc<FloatHistogram>, ranges: &mut ChunkRanges) -> AppendResult {
        if self.newest.as_ref().is_none_or(|n| t > n.timestamp_ms) {
            if let Some(started) = self.started.as_mut() {
                started.append(0, t, h, ranges);
                self.newest = Some(HistogramSample { timestamp_ms: t, histogram: Arc::clone(h) });
                self.min_t = self.min_t.min(t);
                return AppendResult::Appended;
            }
            let fresh = if self.open.num_samples() == 0 {
                Some(FloatHistogramAppender::after(None, h))
            } else if self.open.is_full(HISTOGRAM_SAMPLES_PER_CHUNK_MAX) || !ranges.same_range(self.open_min_t, t) {
                Some(FloatHistogramAppender::after(Some(&self.open), h))
            } else {
                match self.open.appendable(h) {
                    Appendable::Yes => None,
                    Appendable::Cut(header) => Some(FloatHistogramAppender::new(header)),
                }
            };
            if let Some(fresh) = fresh {
                let full = std::mem::replace(&mut self.open, fresh);
                if let Some(max_t) = full.last_timestamp() {
                    self.closed.push(ClosedChunk { min_t: self.open_min_t, max_t, bytes: Arc::from(full.into_bytes()) });
                }
                self.open_min_t = t;
            }
            self.open.append(t, h);
            self.newest = Some(HistogramSample { timestamp_ms: t, histogram: Arc::clone(h) });
            self.min_t = self.min_t.min(t);
            return AppendResult::Appended;
        }
        match self.value_at(t) {
            Some(old) if old.same_as(h) => AppendResult::Duplicate,
            Some(_) => {
                self.ooo.insert(t, Arc::clone(h));
                AppendResult::Overwritten
            }
            None => {
                self.ooo.insert(t, Arc::clone(h));
                self.min_t = self.min_t.min(t);
                AppendResult::OutOfOrder
            }
        }
    }

    /// The histogram stored at `t`, if any.
    pub fn value_at(&self, t: i64) -> Option<Arc<FloatHistogram>> {
        if let Some(h) = self.ooo.get(&t) {
            return Some(Arc::clone(h));
        }
        let newest = self.newest.as_ref()?;
        if newest.timestamp_ms == t {
            return Some(Arc::clone(&newest.histogram));
        }
        if t > newest.timestamp_ms || t < self.min_t {
            return None;
        }
        match self.chunks_sharable().find(|(min_t, max_t, _, _, _)| *min_t <= t && t <= *max_t)? {
            (_, _, ChunkEncoding::FloatHistogramSt, bytes, _) => FloatHistogramStIterator::new(bytes).find(|s| s.histogram.timestamp_ms == t).map(|s| s.histogram.histogram),
            (_, _, _, bytes, _) => FloatHistogramIterator::new(bytes).find(|s| s.timestamp_ms == t).map(|s| s.histogram),
        }
    }

    /// Every chunk, oldest first, the open ones last: `(min_t, max_t, encoding, bytes, shared
    /// bytes)`, the float histogram chunks then (a series with start times) the ST ones; the
    /// shared bytes hand a closed chunk out without a copy (`None` for an open chunk, which
    /// changes).
    #[allow(clippy::type_complexity)]
    fn chunks_sharable(&self) -> impl Iterator<Item = (i64, i64, ChunkEncoding, &[u8], Option<&Arc<[u8]>>)> + '_ {
        let open = self.open.last_timestamp().map(|max_t| (self.open_min_t, max_t, ChunkEncoding::FloatHistogram, self.open.bytes(), None));
        let closed = self.closed.iter().map(|c| (c.min_t, c.max_t, ChunkEncoding::FloatHistogram, &c.bytes[..], Some(&c.bytes)));
        let started = self.started.as_deref().into_iter().flat_map(StartedHistograms::chunks).map(|(min_t, max_t, bytes, shared)| (min_t, max_t, ChunkEncoding::FloatHistogramSt, bytes, shared));
        closed.chain(open).chain(started)
    }

    /// Histograms in `[mint_ms, maxt_ms]`, time-ordered, out-of-order data merged in.
    pub fn samples_in(&self, mint_ms: i64, maxt_ms: i64) -> Vec<HistogramSample> {
        self.histograms_in(mint_ms, maxt_ms, false).0
    }

    /// `samples_in` with each histogram's start (parallel; 0 for one without, among them every
    /// out-of-order one), `None` for a series that never had a start.
    pub fn samples_with_starts_in(&self, mint_ms: i64, maxt_ms: i64) -> (Vec<HistogramSample>, Option<Vec<i64>>) {
        self.histograms_in(mint_ms, maxt_ms, self.has_starts())
    }

    fn histograms_in(&self, mint_ms: i64, maxt_ms: i64, with_starts: bool) -> (Vec<HistogramSample>, Option<Vec<i64>>) {
        let mut in_order = Vec::new();
        let mut starts = with_starts.then(Vec::new);
        for (_, _, encoding, bytes, _) in self.chunks_sharable().filter(|(min_t, max_t, _, _, _)| *max_t >= mint_ms && *min_t <= maxt_ms) {
            decode_histograms(encoding, bytes, &mut in_order, starts.as_mut(), |t| t >= mint_ms && t <= maxt_ms);
        }
        if self.ooo.is_empty() || mint_ms > maxt_ms {
            return (in_order, starts);
        }
        let in_order_starts = starts.unwrap_or_default();
        let mut merged: BTreeMap<i64, (Arc<FloatHistogram>, i64)> =
            in_order.into_iter().enumerate().map(|(i, s)| (s.timestamp_ms, (s.histogram, in_order_starts.get(i).copied().unwrap_or(0)))).collect();
        for (t, h) in self.ooo.range(mint_ms..=maxt_ms) {
            merged.insert(*t, (Arc::clone(h), 0));
        }
        let starts = with_starts.then(|| merged.values().map(|(_, start_ms)| *start_ms).collect());
        (merged.into_iter().map(|(timestamp_ms, (histogram, _))| HistogramSample { timestamp_ms, histogram }).collect(), starts)
    }

    /// Adds the histograms in `[mint_ms, maxt_ms]` to `part`: chunks wholly inside the range
    /// still encoded (closed ones shared), when there is no out-of-order data; everything else decoded.
    pub fn encode_into(&self, mint_ms: i64, maxt_ms: i64, part: &mut EncodedPart) {
        if !self.ooo.is_empty() {
            let (histograms, starts) = self.samples_with_starts_in(mint_ms, maxt_ms);
            part.histograms = histograms;
            part.histogram_starts = starts.unwrap_or_default();
            return;
        }
        let with_starts = self.has_starts();
        for (min_t, max_t, encoding, bytes, shared) in self.chunks_sharable().filter(|(min_t, max_t, _, _, _)| *max_t >= mint_ms && *min_t <= maxt_ms) {
            if min_t >= mint_ms && max_t <= maxt_ms {
                let bytes = shared.map_or_else(|| ChunkBytes::Owned(bytes.to_vec()), |b| ChunkBytes::Shared(Arc::clone(b)));
                part.chunks.push(EncodedChunk { min_time_ms: min_t, max_time_ms: max_t, encoding, bytes });
            } else {
                decode_histograms(encoding, bytes, &mut part.histograms, with_starts.then_some(&mut part.histogram_starts), |t| t >= mint_ms && t <= maxt_ms);
            }
        }
    }

    /// Splits at `boundary_ms`: whole chunks ending before it (as they are, only when there
    /// is no out-of-order data), the loose histograms before it, and those from it on, each
    /// with its start for a series with start times.
    pub fn split_at(&self, boundary_ms: i64, keep_chunks: bool) -> HistogramSplit {
        let with_starts = self.has_starts();
        if !keep_chunks || !self.ooo.is_empty() {
            let (all, starts) = self.samples_with_starts_in(i64::MIN, i64::MAX);
            let (before, before_starts, after, after_starts) = super::started::split_with_starts(all, starts, boundary_ms, |h| h.timestamp_ms);
            return HistogramSplit { before, before_starts, after, after_starts, ..HistogramSplit::default() };
        }
        let mut split = HistogramSplit::default();
        for (min_t, max_t, encoding, bytes, shared) in self.chunks_sharable() {
            if max_t < boundary_ms {
                let num_samples = u64::from(encoding.num_samples(bytes));
                // A closed chunk's bytes are shared, the open one's copied.
                let bytes = shared.map_or_else(|| Arc::from(bytes), Arc::clone);
                split.kept.push(RawChunk { min_time_ms: min_t, max_time_ms: max_t, num_samples, encoding, bytes });
            } else if min_t >= boundary_ms {
                decode_histograms(encoding, bytes, &mut split.after, with_starts.then_some(&mut split.after_starts), |_| true);
            } else {
                decode_histograms(encoding, bytes, &mut split.before, with_starts.then_some(&mut split.before_starts), |t| t < boundary_ms);
                decode_histograms(encoding, bytes, &mut split.after, with_starts.then_some(&mut split.after_starts), |t| t >= boundary_ms);
            }
        }
        split
    }

    /// The series' histograms without those in `[mint_ms, maxt_ms]`, and how many went.
    pub fn without_range(&self, mint_ms: i64, maxt_ms: i64) -> (HistogramSeries, usize) {
        let (all, starts) = self.samples_with_starts_in(i64::MIN, i64::MAX);
        let mut rebuilt = HistogramSeries::default();
        let mut removed = 0;
        for (i, h) in all.into_iter().enumerate() {
            if h.timestamp_ms >= mint_ms && h.timestamp_ms <= maxt_ms {
                removed += 1;
            } else {
                let start_ms = starts.as_ref().and_then(|s| s.get(i).copied()).unwrap_or(0);
                let result = rebuilt.append_started(start_ms, h.timestamp_ms, &h.histogram, &mut ChunkRanges::default());
                debug_assert_eq!(result, AppendResult::Appended, "kept histograms are strictly increasing");
            }
        }
        (rebuilt, removed)
    }
}
