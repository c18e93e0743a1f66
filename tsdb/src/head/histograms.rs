//! One in-memory series' native histograms: closed float histogram chunks, the open chunk,
//! and an out-of-order buffer (also holding same-timestamp overwrites) that wins over chunk
//! data on read. Kept apart from the float chunks (`MemSeries` holds one only once the
//! series has a histogram), so float-only series pay one pointer.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::series::{AppendResult, ChunkRanges};
use crate::block::RawChunk;
use crate::chunk::{decode_histograms_kept, Appendable, ChunkEncoding, FloatHistogramAppender, FloatHistogramIterator, HISTOGRAM_SAMPLES_PER_CHUNK_MAX};
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

    /// Adds `h` at `t` with the float rules: after the newest it is appended (a new chunk
    /// when the open one is full, `h` does not fit its layout, or `t` lies in another of
    /// `ranges` than the open chunk's first); at or before it, the same
    /// histogram already there is a duplicate, another one there is overwritten, and an empty
    /// timestamp takes it as out of order.
    pub fn append(&mut self, t: i64, h: &Arc<FloatHistogram>, ranges: &mut ChunkRanges) -> AppendResult {
        if self.newest.as_ref().is_none_or(|n| t > n.timestamp_ms) {
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
        let bytes: &[u8] = match self.closed.iter().find(|c| c.min_t <= t && t <= c.max_t) {
            Some(c) => &c.bytes,
            None if self.open_min_t <= t => self.open.bytes(),
            None => return None,
        };
        FloatHistogramIterator::new(bytes).find(|s| s.timestamp_ms == t).map(|s| s.histogram)
    }

    /// Every chunk, oldest first, the open one last: `(min_t, max_t, bytes)`.
    fn chunks(&self) -> impl Iterator<Item = (i64, i64, &[u8])> + '_ {
        self.chunks_sharable().map(|(min_t, max_t, bytes, _)| (min_t, max_t, bytes))
    }

    /// `chunks` with each closed chunk's shared bytes, to hand out without a copy (`None` for
    /// the open chunk, which changes).
    fn chunks_sharable(&self) -> impl Iterator<Item = (i64, i64, &[u8], Option<&Arc<[u8]>>)> + '_ {
        let open = self.newest.as_ref().filter(|_| self.open.num_samples() > 0).map(|n| (self.open_min_t, n.timestamp_ms, self.open.bytes(), None));
        self.closed.iter().map(|c| (c.min_t, c.max_t, &c.bytes[..], Some(&c.bytes))).chain(open)
    }

    /// Histograms in `[mint_ms, maxt_ms]`, time-ordered, out-of-order data merged in.
    pub fn samples_in(&self, mint_ms: i64, maxt_ms: i64) -> Vec<HistogramSample> {
        let mut in_order = Vec::new();
        for (_, _, bytes) in self.chunks().filter(|(min_t, max_t, _)| *max_t >= mint_ms && *min_t <= maxt_ms) {
            // The head's own chunks: a malformed one cannot be.
            decode_histograms_kept(bytes, &mut in_order, |t| t >= mint_ms && t <= maxt_ms);
        }
        if self.ooo.is_empty() || mint_ms > maxt_ms {
            return in_order;
        }
        let mut merged: BTreeMap<i64, Arc<FloatHistogram>> = in_order.into_iter().map(|s| (s.timestamp_ms, s.histogram)).collect();
        for (t, h) in self.ooo.range(mint_ms..=maxt_ms) {
            merged.insert(*t, Arc::clone(h));
        }
        merged.into_iter().map(|(timestamp_ms, histogram)| HistogramSample { timestamp_ms, histogram }).collect()
    }

    /// Adds the histograms in `[mint_ms, maxt_ms]` to `part`: chunks wholly inside the range
    /// still encoded (closed ones shared), when there is no out-of-order data; everything else decoded.
    pub fn encode_into(&self, mint_ms: i64, maxt_ms: i64, part: &mut EncodedPart) {
        if !self.ooo.is_empty() {
            part.histograms = self.samples_in(mint_ms, maxt_ms);
            return;
        }
        for (min_t, max_t, bytes, shared) in self.chunks_sharable().filter(|(min_t, max_t, _, _)| *max_t >= mint_ms && *min_t <= maxt_ms) {
            if min_t >= mint_ms && max_t <= maxt_ms {
                let bytes = shared.map_or_else(|| ChunkBytes::Owned(bytes.to_vec()), |b| ChunkBytes::Shared(Arc::clone(b)));
                part.chunks.push(EncodedChunk { min_time_ms: min_t, max_time_ms: max_t, encoding: ChunkEncoding::FloatHistogram, bytes });
            } else {
                decode_histograms_kept(bytes, &mut part.histograms, |t| t >= mint_ms && t <= maxt_ms);
            }
        }
    }

    /// Splits at `boundary_ms`: whole chunks ending before it (as they are, only when there
    /// is no out-of-order data), the loose histograms before it, and those from it on.
    pub fn split_at(&self, boundary_ms: i64, keep_chunks: bool) -> (Vec<RawChunk>, Vec<HistogramSample>, Vec<HistogramSample>) {
        if !keep_chunks || !self.ooo.is_empty() {
            let mut all = self.samples_in(i64::MIN, i64::MAX);
            let after = all.split_off(all.partition_point(|h| h.timestamp_ms < boundary_ms));
            return (Vec::new(), all, after);
        }
        let (mut kept, mut before, mut after) = (Vec::new(), Vec::new(), Vec::new());
        for (min_t, max_t, bytes, shared) in self.chunks_sharable() {
            if max_t < boundary_ms {
                let num_samples = u64::from(crate::chunk::xor_num_samples(bytes));
                // A closed chunk's bytes are shared, the open one's copied.
                let bytes = shared.map_or_else(|| Arc::from(bytes), Arc::clone);
                kept.push(RawChunk { min_time_ms: min_t, max_time_ms: max_t, num_samples, encoding: ChunkEncoding::FloatHistogram, bytes });
            } else if min_t >= boundary_ms {
                after.extend(FloatHistogramIterator::new(bytes));
            } else {
                for h in FloatHistogramIterator::new(bytes) {
                    if h.timestamp_ms < boundary_ms { before.push(h) } else { after.push(h) }
                }
            }
        }
        (kept, before, after)
    }

    /// The series' histograms without those in `[mint_ms, maxt_ms]`, and how many went.
    pub fn without_range(&self, mint_ms: i64, maxt_ms: i64) -> (HistogramSeries, usize) {
        let all = self.samples_in(i64::MIN, i64::MAX);
        let mut rebuilt = HistogramSeries::default();
        let mut removed = 0;
        for h in all {
            if h.timestamp_ms >= mint_ms && h.timestamp_ms <= maxt_ms {
                removed += 1;
            } else {
                let result = rebuilt.append(h.timestamp_ms, &h.histogram, &mut ChunkRanges::default());
                debug_assert_eq!(result, AppendResult::Appended, "kept histograms are strictly increasing");
            }
        }
        (rebuilt, removed)
    }
}
