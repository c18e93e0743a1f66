//! One in-memory series: closed XOR chunks, the open chunk, and an out-of-order buffer
//! (also holding same-timestamp overwrites) that wins over chunk data on read; native
//! histograms, once the series has one, in chunks of their own beside them
//! (`HistogramSeries`). A timestamp holds a float or a histogram, never both. A series
//! whose floats come with start times keeps them, from its first such sample on, in XOR2
//! chunks (`StartedFloats`); its out-of-order floats lose their start (stored as 0).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::histograms::{HistogramSeries, HistogramSplit};
use super::started::StartedFloats;
use crate::block::RawChunk;
use crate::chunk::{decode_kept, decode_xor2_kept, ChunkEncoding, Xor2Iterator, XorAppender, XorChunk, XorIterator, SAMPLES_PER_CHUNK_MAX};
use crate::encoded::{ChunkBytes, EncodedChunk, EncodedPart};
use crate::model::{FloatHistogram, HistogramSample, Labels, Sample};

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

/// A series' data before a boundary and from it on (`MemSeries::split_at`).
#[derive(Default)]
pub struct SeriesSplit {
    /// Whole chunks ending before the boundary, time-ordered, not overlapping (of one kind:
    /// a series holding both kinds there gives loose samples and histograms instead).
    pub chunks: Vec<RawChunk>,
    /// Loose samples and histograms before the boundary, after every kept chunk.
    pub samples: Vec<Sample>,
    /// The start times of `samples`, parallel to it; empty for a series without any.
    pub sample_starts: Vec<i64>,
    pub histograms: Vec<HistogramSample>,
    /// The start times of `histograms`, parallel to it; empty for a series without any.
    pub histogram_starts: Vec<i64>,
    /// From the boundary on: whole closed float chunks (taken as they are, before
    /// `samples_after` in time), then loose samples.
    pub chunks_after: Vec<HeadChunk>,
    pub samples_after: Vec<Sample>,
    /// The start times of `samples_after`, parallel to it; empty for a series without any.
    pub sample_starts_after: Vec<i64>,
    pub histograms_after: Vec<HistogramSample>,
    /// The start times of `histograms_after`, parallel to it; empty for a series without any.
    pub histogram_starts_after: Vec<i64>,
}

/// A series' floats split at a boundary (`MemSeries::split_floats_at`).
#[derive(Default)]
struct FloatSplit {
    kept: Vec<RawChunk>,
    before: Vec<Sample>,
    before_starts: Vec<i64>,
    chunks_after: Vec<HeadChunk>,
    after: Vec<Sample>,
    after_starts: Vec<i64>,
}

/// Appends the samples of a float chunk (XOR or XOR2) that `keep` accepts to `out`, and
/// their starts to `starts` when given (kept parallel to `out`: 0 for an XOR chunk's). The
/// head's own chunks: a malformed one cannot be.
fn decode_floats(encoding: ChunkEncoding, bytes: &[u8], out: &mut Vec<Sample>, starts: Option<&mut Vec<i64>>, keep: impl Fn(i64) -> bool) {
    match (encoding, starts) {
        (ChunkEncoding::Xor2, starts) => {
            decode_xor2_kept(bytes, out, starts, keep);
        }
        (_, Some(starts)) => {
            decode_kept(bytes, out, keep);
            starts.resize(out.len(), 0);
        }
        (_, None) => {
            decode_kept(bytes, out, keep);
        }
    }
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

/// A closed float chunk of a head series with its time span (`SeriesSplit::chunks_after`).
pub struct HeadChunk {
    min_t: i64,
    max_t: i64,
    chunk: XorChunk,
}

impl HeadChunk {
    /// Oldest and newest sample timestamps.
    pub fn span(&self) -> (i64, i64) {
        (self.min_t, self.max_t)
    }
}

/// A series record, 104 bytes (the head keeps one per series, so every field counts): the
/// newest timestamp and value are the open chunk appender's own (it keeps both to encode
/// the next sample), and the newest timestamp is also the series' (out-of-order samples are
/// never newer). In-order samples exist exactly when the open chunk holds one: a chunk is
/// cut only right before an append to the next.
pub struct MemSeries {
    /// Shared with every select answering this series (a reference-count increment).
    pub labels: Labels,
    /// Full chunks, oldest first. A boxed slice: no spare capacity, 16 bytes; a cut every
    /// `SAMPLES_PER_CHUNK_MAX` samples copies the few entries.
    closed: Box<[HeadChunk]>,
    open: XorAppender,
    open_min_t: i64,
    /// Oldest float sample timestamp (`i64::MAX` when empty).
    min_t: i64,
    /// What few series hold: out-of-order samples, native histograms. One box for both, so
    /// the common case (neither) costs 8 bytes per series.
    rare: Option<Box<RareParts>>,
}

/// A series' out-of-order floats and native histograms (`MemSeries::rare`).
#[derive(Default)]
struct RareParts {
    /// Out-of-order samples and overwrites, by timestamp; they override chunk samples. Empty
    /// when there are none.
    ooo: BTreeMap<i64, f64>,
    /// Native histograms; `None` until the series gets one. Boxed: a series whose rare
    /// parts are only out-of-order floats or started floats would otherwise carry its 320
    /// bytes.
    histograms: Option<Box<HistogramSeries>>,
    /// The XOR2 chunks of floats with start times; `None` until a float comes with one.
    started: Option<Box<StartedFloats>>,
}

impl MemSeries {
    pub fn new(labels: Labels) -> Self {
        MemSeries {
            labels,
            closed: Box::default(),
            open: XorAppender::default(),
            open_min_t: 0,
            min_t: i64::MAX,
            rare: None,
        }
    }

    /// The out-of-order floats, `None` when there are none.
    fn ooo(&self) -> Option<&BTreeMap<i64, f64>> {
        self.rare.as_deref().map(|r| &r.ooo).filter(|m| !m.is_empty())
    }

    fn ooo_mut(&mut self) -> &mut BTreeMap<i64, f64> {
        &mut self.rare.get_or_insert_with(Box::default).ooo
    }

    /// The native histograms, `None` until the series has one.
    fn histograms(&self) -> Option<&HistogramSeries> {
        self.rare.as_deref()?.histograms.as_deref()
    }

    /// The newest in-order float sample's timestamp and value (no float sample is newer),
    /// `None` when the series has no float. A series with start times has an empty XOR
    /// open chunk (cut when it switched): its newest float is the XOR2 chunks'.
    fn newest(&self) -> Option<(i64, f64)> {
        self.open.last().or_else(|| self.started_newest())
    }

    fn started_newest(&self) -> Option<(i64, f64)> {
        self.started()?.newest.map(|(t, v, _)| (t, v))
    }

    /// The floats kept with start times, `None` until the series has one.
    fn started(&self) -> Option<&StartedFloats> {
        self.rare.as_deref()?.started.as_deref()
    }

    /// True once the series has stored a float with a start time (its floats then answer
    /// with starts, 0 for those without one).
    pub fn has_starts(&self) -> bool {
        self.started().is_some()
    }

    /// Every float chunk, oldest first: `(min_t, max_t, encoding, bytes, shared bytes)`, the
    /// closed XOR chunks, the open XOR chunk, then the closed XOR2 chunks and the open XOR2
    /// chunk of a series with start times (shared bytes `None` for an open chunk).
    #[allow(clippy::type_complexity)]
    fn float_chunks(&self) -> impl Iterator<Item = (i64, i64, ChunkEncoding, &[u8], Option<&Arc<[u8]>>)> + '_ {
        let closed = self.closed.iter().map(|c| (c.min_t, c.max_t, ChunkEncoding::Xor, &c.chunk.bytes[..], Some(&c.chunk.bytes)));
        let open = self.open.last().map(|(last_t, _)| (self.open_min_t, last_t, ChunkEncoding::Xor, self.open.bytes(), None));
        let started = self.started().into_iter().flat_map(StartedFloats::chunks).map(|(min_t, max_t, bytes, shared)| (min_t, max_t, ChunkEncoding::Xor2, bytes, shared));
        closed.chain(open).chain(started)
    }

    /// `(oldest, newest)` float sample timestamp.
    fn float_range(&self) -> Option<(i64, i64)> {
        self.newest().map(|(max_t, _)| (self.min_t, max_t))
    }

    /// True when the series holds native histograms.
    pub fn has_histograms(&self) -> bool {
        self.histograms().is_some()
    }

    pub fn labels(&self) -> Labels {
        self.labels.clone()
    }

    /// Prefetch hints for what a lookup's `Labels::equals_pairs` and `append` read after this
    /// record: the label set and the open chunk's last bytes.
    #[inline]
    pub fn prefetch_data(&self) {
        self.labels.prefetch();
        self.open.prefetch_tail();
    }

    pub fn is_empty(&self) -> bool {
        self.time_range().is_none()
    }

    pub fn overlaps(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        self.time_range().is_some_and(|(min_t, max_t)| min_t <= maxt_ms && max_t >= mint_ms)
    }

    pub fn within(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        self.time_range().is_some_and(|(min_t, max_t)| min_t >= mint_ms && max_t <= maxt_ms)
    }

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

    /// Splits the series at `boundary_ms`: before it, whole chunks that end before it (as
    /// they are, not decoded) followed by loose samples and histograms; and what lies from it
    /// on. With out-of-order data held, or with both floats and histograms (a block wants one
    /// time-ordered chunk list of both), that kind is decoded and merged first.
    pub fn split_at(&self, boundary_ms: i64) -> SeriesSplit {
        let Some(histograms) = self.histograms() else {
            let FloatSplit { kept, before, before_starts, chunks_after, after, after_starts } = self.split_floats_at(boundary_ms, true);
            return SeriesSplit {
                chunks: kept,
                samples: before,
                sample_starts: before_starts,
                chunks_after,
                samples_after: after,
                sample_starts_after: after_starts,
                ..SeriesSplit::default()
            };
        };
        let floats = self.newest().is_some();
        let FloatSplit { mut kept, before, before_starts, chunks_after, after, after_starts } = self.split_floats_at(boundary_ms, !floats || histograms.time_range().is_none());
        let HistogramSplit { kept: hist_chunks, before: histograms, before_starts: histogram_starts, after: histograms_after, after_starts: histogram_starts_after } =
            histograms.split_at(boundary_ms, !floats);
        kept.extend(hist_chunks);
        SeriesSplit {
            chunks: kept,
            samples: before,
            sample_starts: before_starts,
            histograms,
            histogram_starts,
            chunks_after,
            samples_after: after,
            sample_starts_after: after_starts,
            histograms_after,
            histogram_starts_after,
        }
    }

    /// The floats before `boundary_ms` (whole chunks, then loose samples) and from it on
    /// (whole closed chunks, then loose samples: the open chunk's, which the head that takes
    /// them appends again so that it has an open chunk to go on with).
    fn split_floats_at(&self, boundary_ms: i64, keep_chunks: bool) -> FloatSplit {
        let with_starts = self.has_starts();
        if self.ooo().is_some() || !keep_chunks {
            let (all, starts) = self.floats_in(i64::MIN, i64::MAX, with_starts);
            let (before, before_starts, after, after_starts) = super::started::split_with_starts(all, starts, boundary_ms, |x| x.timestamp_ms);
            return FloatSplit { before, before_starts, after, after_starts, ..FloatSplit::default() };
        }
        let mut split = FloatSplit::default();
        for (min_t, max_t, encoding, bytes, shared) in self.float_chunks() {
            if max_t < boundary_ms {
                // A closed chunk's bytes are shared, the open one's copied.
                let num_samples = u64::from(encoding.num_samples(bytes));
                let bytes = shared.map_or_else(|| Arc::from(bytes), Arc::clone);
                split.kept.push(RawChunk { min_time_ms: min_t, max_time_ms: max_t, num_samples, encoding, bytes });
            } else if min_t >= boundary_ms {
                match shared {
                    // Whole closed XOR chunks go over as they are while nothing loose precedes them.
                    Some(shared) if encoding == ChunkEncoding::Xor && split.after.is_empty() => {
                        split.chunks_after.push(HeadChunk { min_t, max_t, chunk: XorChunk { bytes: Arc::clone(shared) } });
                    }
                    _ => decode_floats(encoding, bytes, &mut split.after, with_starts.then_some(&mut split.after_starts), |_| true),
                }
            } else {
                decode_floats(encoding, bytes, &mut split.before, with_starts.then_some(&mut split.before_starts), |t| t < boundary_ms);
                decode_floats(encoding, bytes, &mut split.after, with_starts.then_some(&mut split.after_starts), |t| t >= boundary_ms);
            }
        }
        split
    }

    /// Takes `chunks` (closed float chunks, time-ordered) as this series' oldest floats, for a
    /// series that holds no float yet; returns how many samples they hold. The samples that
    /// follow them are appended as usual (the newest in-order sample is always in the open
    /// chunk).
    pub fn adopt_closed_chunks(&mut self, chunks: Vec<HeadChunk>) -> u64 {
        debug_assert!(self.newest().is_none() && self.closed.is_empty(), "adopting into a series without floats");
        let Some(first) = chunks.first() else {
            return 0;
        };
        self.min_t = self.min_t.min(first.min_t);
        let samples = chunks.iter().map(|c| u64::from(c.chunk.num_samples())).sum();
        self.closed = chunks.into_boxed_slice();
        samples
    }

    /// `(oldest, newest)` timestamp of a float or histogram, or `None` when the series holds
    /// neither.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let histograms = self.histograms().and_then(|h| h.time_range());
        match (self.float_range(), histograms) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (floats, histograms) => floats.or(histograms),
        }
    }

    /// Deletes the samples in `[mint_ms, maxt_ms]` by rebuilding the series from what is left
    /// (deletes are rare; the rebuilt chunks hold everything in order, no out-of-order
    /// buffer). Returns how many samples were removed.
    pub fn delete_range(&mut self, mint_ms: i64, maxt_ms: i64) -> usize {
        if !self.overlaps(mint_ms, maxt_ms) {
            return 0;
        }
        let mut removed_histograms = 0;
        let histograms = self.rare.as_mut().and_then(|r| r.histograms.take()).and_then(|h| {
            let (kept, removed) = h.without_range(mint_ms, maxt_ms);
            removed_histograms = removed;
            kept.time_range().is_some().then(|| Box::new(kept))
        });
        let (all, starts) = self.samples_with_starts_in(i64::MIN, i64::MAX);
        let before = all.len();
        let mut rebuilt = MemSeries::new(std::mem::take(&mut self.labels));
        for (i, x) in all
            .into_iter()
            .enumerate()
            .filter(|(_, x)| x.timestamp_ms < mint_ms || x.timestamp_ms > maxt_ms)
        {
            let start_ms = starts.as_ref().and_then(|s| s.get(i).copied()).unwrap_or(0);
            let result = rebuilt.append_started(start_ms, x.timestamp_ms, x.value, &mut ChunkRanges::default());
            debug_assert_eq!(result, AppendResult::Appended, "kept samples are strictly increasing");
        }
        let removed = before - rebuilt.samples_in(i64::MIN, i64::MAX).len();
        if histograms.is_some() {
            rebuilt.rare.get_or_insert_with(Box::default).histograms = histograms;
        }
        *self = rebuilt;
        removed + removed_histograms
    }

    /// What `samples_in` gives, for decoding elsewhere (`EncodedPart::decode`): the chunks
    /// wholly inside `[mint_ms, maxt_ms]` copied, still encoded; the in-range samples of
    /// chunks only partly inside it decoded; the out-of-order samples in the range.
    pub fn encoded_in(&self, mint_ms: i64, maxt_ms: i64) -> EncodedPart {
        let mut part = EncodedPart::default();
        let with_starts = self.has_starts();
        for (min_t, max_t, encoding, bytes, shared) in self.float_chunks().filter(|(min_t, max_t, _, _, _)| *max_t >= mint_ms && *min_t <= maxt_ms) {
            if min_t >= mint_ms && max_t <= maxt_ms {
                let bytes = shared.map_or_else(|| ChunkBytes::Owned(bytes.to_vec()), |b| ChunkBytes::Shared(Arc::clone(b)));
                part.chunks.push(EncodedChunk { min_time_ms: min_t, max_time_ms: max_t, encoding, bytes });
            } else {
                decode_floats(encoding, bytes, &mut part.samples, with_starts.then_some(&mut part.sample_starts), |t| t >= mint_ms && t <= maxt_ms);
            }
        }
        if let Some(ooo) = self.ooo().filter(|_| mint_ms <= maxt_ms) {
            part.overrides = ooo.range(mint_ms..=maxt_ms).map(|(t, v)| Sample { timestamp_ms: *t, value: *v }).collect();
        }
        if let Some(histograms) = self.histograms() {
            histograms.encode_into(mint_ms, maxt_ms, &mut part);
        }
        part
    }

    /// `encoded_in` for a reader that uses only the last sample in the range (an instant
    /// selector evaluated at one time): that sample alone when it is the newest in-order
    /// sample and no out-of-order data lies in the range (what an instant query at "now"
    /// meets), without decoding the open chunk; otherwise all of `encoded_in`.
    pub fn encoded_last_in(&self, mint_ms: i64, maxt_ms: i64) -> EncodedPart {
        if let Some(histograms) = self.histograms() {
            // The newest histogram alone when it is the series' newest sample and nothing
            // out of order could be later in the range.
            let newest = histograms.newest().filter(|n| !histograms.has_out_of_order() && n.timestamp_ms >= mint_ms && n.timestamp_ms <= maxt_ms);
            return match newest {
                Some(n) if self.newest().is_none_or(|(t, _)| t < n.timestamp_ms) => {
                    let histogram_starts = histograms.newest_start().map(|start_ms| vec![start_ms]).unwrap_or_default();
                    EncodedPart { histograms: vec![n.clone()], histogram_starts, ..EncodedPart::default() }
                }
                _ => self.encoded_in(mint_ms, maxt_ms),
            };
        }
        let ooo_in_range = self.ooo().is_some_and(|ooo| mint_ms <= maxt_ms && ooo.range(mint_ms..=maxt_ms).next().is_some());
        if let Some((last_t, last_v)) = self.newest().filter(|(last_t, _)| !ooo_in_range && *last_t >= mint_ms && *last_t <= maxt_ms) {
            let last = Sample { timestamp_ms: last_t, value: last_v };
            let sample_starts = self.started().and_then(|s| s.newest).map(|(_, _, start_ms)| vec![start_ms]).unwrap_or_default();
            return EncodedPart { samples: vec![last], sample_starts, ..EncodedPart::default() };
        }
        self.encoded_in(mint_ms, maxt_ms)
    }

    /// `histograms_in` with each histogram's start (parallel), `None` for a series without any.
    pub fn histograms_with_starts_in(&self, mint_ms: i64, maxt_ms: i64) -> (Vec<HistogramSample>, Option<Vec<i64>>) {
        self.histograms().map_or_else(|| (Vec::new(), None), |h| h.samples_with_starts_in(mint_ms, maxt_ms))
    }

    /// Native histograms in `[mint_ms, maxt_ms]`, time-ordered, out-of-order data merged in.
    pub fn histograms_in(&self, mint_ms: i64, maxt_ms: i64) -> Vec<HistogramSample> {
        self.histograms().map_or_else(Vec::new, |h| h.samples_in(mint_ms, maxt_ms))
    }

    /// Float samples in `[mint_ms, maxt_ms]`, time-ordered, out-of-order data merged in.
    pub fn samples_in(&self, mint_ms: i64, maxt_ms: i64) -> Vec<Sample> {
        self.floats_in(mint_ms, maxt_ms, false).0
    }

    /// `samples_in` with each sample's start time (parallel; 0 for one without, among them
    /// every out-of-order sample), `None` for a series that never had a start.
    pub fn samples_with_starts_in(&self, mint_ms: i64, maxt_ms: i64) -> (Vec<Sample>, Option<Vec<i64>>) {
        self.floats_in(mint_ms, maxt_ms, self.has_starts())
    }

    fn floats_in(&self, mint_ms: i64, maxt_ms: i64, with_starts: bool) -> (Vec<Sample>, Option<Vec<i64>>) {
        let mut in_order = Vec::new();
        let mut starts = with_starts.then(Vec::new);
        for (_, _, encoding, bytes, _) in self.float_chunks().filter(|(min_t, max_t, _, _, _)| *max_t >= mint_ms && *min_t <= maxt_ms) {
            decode_floats(encoding, bytes, &mut in_order, starts.as_mut(), |t| t >= mint_ms && t <= maxt_ms);
        }
        let Some(ooo) = self.ooo().filter(|_| mint_ms <= maxt_ms) else {
            return (in_order, starts);
        };
        let extra: Vec<Sample> = ooo
            .range(mint_ms..=maxt_ms)
            .map(|(t, v)| Sample {
                timestamp_ms: *t,
                value: *v,
            })
            .collect();
        if extra.is_empty() {
            return (in_order, starts);
        }
        let mut merged = Vec::with_capacity(in_order.len() + extra.len());
        // Out-of-order samples have no start: 0.
        let mut merged_starts = starts.as_ref().map(|_| Vec::with_capacity(in_order.len() + extra.len()));
        let start_at = |i: usize| starts.as_ref().and_then(|s| s.get(i).copied()).unwrap_or(0);
        let (mut i, mut j) = (0, 0);
        while i < in_order.len() || j < extra.len() {
            let (sample, start_ms) = match (in_order.get(i), extra.get(j)) {
                (Some(a), Some(b)) if a.timestamp_ms == b.timestamp_ms => {
                    i += 1;
                    j += 1;
                    (*b, 0)
                }
                (Some(a), Some(b)) if a.timestamp_ms < b.timestamp_ms => {
                    i += 1;
                    (*a, start_at(i - 1))
                }
                (_, Some(b)) => {
                    j += 1;
                    (*b, 0)
                }
                (Some(a), None) => {
                    i += 1;
                    (*a, start_at(i - 1))
                }
                (None, None) => unreachable!("loop condition guarantees one side remains"),
            };
            merged.push(sample);
            if let Some(merged_starts) = &mut merged_starts {
                merged_starts.push(start_ms);
            }
        }
        (merged, merged_starts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head keeps one record per series: its size is a memory budget, not an accident.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_series_record_stays_104_bytes() {
        assert_eq!(std::mem::size_of::<MemSeries>(), 104);
        // Out-of-order and started floats are the common rare parts: they do not pay for a
        // histogram series.
        assert_eq!(std::mem::size_of::<RareParts>(), 40);
    }

    #[test]
    fn out_of_order_duplicates_and_overwrites() {
        let mut s = MemSeries::new(Labels::default());
        for t in [10, 20, 30] {
            assert_eq!(s.append(t, t as f64), AppendResult::Appended);
        }
        assert_eq!(s.append(15, 1.5), AppendResult::OutOfOrder);
        assert_eq!(s.append(20, 20.0), AppendResult::Duplicate);
        assert_eq!(s.append(30, 99.0), AppendResult::Overwritten);
        assert_eq!(s.append(15, 1.5), AppendResult::Duplicate);
        assert_eq!(
            s.append(5, f64::from_bits(crate::STALE_NAN_BITS)),
            AppendResult::OutOfOrder
        );
        let got: Vec<(i64, u64)> = s
            .samples_in(0, 100)
            .iter()
            .map(|x| (x.timestamp_ms, x.value.to_bits()))
            .collect();
        let expected: Vec<(i64, u64)> = vec![
            (5, crate::STALE_NAN_BITS),
            (10, 10f64.to_bits()),
            (15, 1.5f64.to_bits()),
            (20, 20f64.to_bits()),
            (30, 99f64.to_bits()),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn chunks_are_cut_and_read_across() {
        let mut s = MemSeries::new(Labels::default());
        for t in 0..1000 {
            s.append(t, t as f64);
        }
        assert_eq!(s.closed.len(), 1000 / SAMPLES_PER_CHUNK_MAX as usize);
        let got = s.samples_in(100, 130);
        assert_eq!(got.len(), 31);
        assert_eq!(got.first().map(|x| x.timestamp_ms), Some(100));
        assert_eq!(s.append(500, 7.0), AppendResult::Overwritten);
        assert_eq!(s.samples_in(500, 500)[0].value, 7.0);
    }

    #[test]
    fn splits_and_selects_share_closed_chunks_instead_of_copying_them() {
        let mut s = MemSeries::new(Labels::default());
        for t in 0..1000 {
            s.append(t, t as f64);
        }
        let per_chunk = i64::from(SAMPLES_PER_CHUNK_MAX);
        // The boundary between the second and third closed chunks.
        let SeriesSplit { chunks, chunks_after, samples_after, .. } = s.split_at(2 * per_chunk);
        assert_eq!(chunks.len(), 2);
        for (kept, closed) in chunks.iter().zip(s.closed.iter()) {
            assert!(Arc::ptr_eq(&kept.bytes, &closed.chunk.bytes), "a block's chunk is the head's, not a copy");
        }
        assert_eq!(chunks_after.len(), s.closed.len() - 2);
        for (after, closed) in chunks_after.iter().zip(s.closed.iter().skip(2)) {
            assert!(Arc::ptr_eq(&after.chunk.bytes, &closed.chunk.bytes), "the new head's chunk is the old one's");
        }
        // The open chunk's samples are appended again by the new head.
        assert_eq!(samples_after.len(), usize::from(s.open.num_samples()));
        // A select's answer shares them too; the open chunk is copied.
        let part = s.encoded_in(i64::MIN, i64::MAX);
        assert_eq!(part.chunks.len(), s.closed.len() + 1);
        for (answered, closed) in part.chunks.iter().zip(s.closed.iter()) {
            assert!(matches!(&answered.bytes, ChunkBytes::Shared(b) if Arc::ptr_eq(b, &closed.chunk.bytes)), "a select's chunk is the head's");
        }
        assert!(matches!(part.chunks.last().map(|c| &c.bytes), Some(ChunkBytes::Owned(_))));
    }

    #[test]
    fn delete_range_rebuilds_without_the_range() {
        let mut s = MemSeries::new(Labels::default());
        for t in 0..300 {
            s.append(t, t as f64);
        }
        s.append(-5, 1.0); // out of order
        assert_eq!(s.delete_range(100, 199), 100);
        let got: Vec<i64> = s.samples_in(i64::MIN, i64::MAX).iter().map(|x| x.timestamp_ms).collect();
        let want: Vec<i64> = std::iter::once(-5).chain(0..100).chain(200..300).collect();
        assert_eq!(got, want);
        assert_eq!(s.delete_range(1000, 2000), 0, "nothing in range");
        assert_eq!(s.delete_range(i64::MIN, i64::MAX), 201);
        assert_eq!(s.time_range(), None);
        assert_eq!(s.append(50, 5.0), AppendResult::Appended, "an emptied series takes new samples");
    }

    proptest::proptest! {
        /// Any stream (in order, out of order, duplicates, stale markers) reads back as a
        /// last-write-wins map from timestamp to value bits.
        #[test]
        fn matches_last_write_wins_model(stream in proptest::collection::vec((0i64..400, 0u8..4), 0..600)) {
            let mut s = MemSeries::new(Labels::default());
            let mut model = std::collections::BTreeMap::new();
            for (t, kind) in stream {
                let v = match kind { 0 => 1.0, 1 => f64::from_bits(crate::STALE_NAN_BITS), 2 => f64::NAN, _ => t as f64 * 0.5 };
                let result = s.append(t, v);
                let previous = model.insert(t, v.to_bits());
                let expected = match previous {
                    Some(bits) if bits == v.to_bits() => AppendResult::Duplicate,
                    Some(_) => AppendResult::Overwritten,
                    None if s.newest().is_some_and(|(last_t, _)| last_t > t) => AppendResult::OutOfOrder,
                    None => AppendResult::Appended,
                };
                proptest::prop_assert_eq!(result, expected, "t={}", t);
            }
            let got: Vec<(i64, u64)> = s.samples_in(i64::MIN, i64::MAX).iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect();
            let want: Vec<(i64, u64)> = model.into_iter().collect();
            proptest::prop_assert_eq!(got, want);
        }
    }

    fn test_histogram(level: u8, wide: bool) -> Arc<FloatHistogram> {
        let level = f64::from(level);
        let (spans, buckets) = if wide {
            (vec![crate::BucketSpan { offset: 0, length: 2 }], vec![level, 1.0])
        } else {
            (vec![crate::BucketSpan { offset: 0, length: 1 }], vec![level])
        };
        Arc::new(FloatHistogram { count: buckets.iter().sum(), sum: level, positive_spans: spans, positive_buckets: buckets, ..FloatHistogram::default() })
    }

    #[derive(Clone, Debug, PartialEq)]
    enum Stored {
        F(u64),
        H(Arc<FloatHistogram>),
    }

    proptest::proptest! {
        /// Floats and histograms mixed in one series, in any order: each kind follows the
        /// last-write-wins rules, a write of the other kind at a held timestamp is a
        /// `Conflict` that changes nothing; reads, splits, deletes and encoded reads agree
        /// with that model.
        #[test]
        fn floats_and_histograms_follow_one_model(
            stream in proptest::collection::vec((0i64..300, 0u8..6, 0u8..4), 0..400),
            boundary in 0i64..320, (del_lo, del_len) in (0i64..300, 0i64..60),
        ) {
            let mut s = MemSeries::new(Labels::default());
            let mut model: BTreeMap<i64, Stored> = BTreeMap::new();
            for (t, kind, level) in stream {
                let (result, value) = if kind < 3 {
                    let v = if kind == 0 { f64::from_bits(crate::STALE_NAN_BITS) } else { f64::from(level) };
                    (s.append(t, v), Stored::F(v.to_bits()))
                } else {
                    let h = test_histogram(level, kind == 5);
                    (s.append_histogram(t, &h), Stored::H(h))
                };
                let same = |a: &Stored, b: &Stored| match (a, b) {
                    (Stored::F(x), Stored::F(y)) => x == y,
                    (Stored::H(x), Stored::H(y)) => x.same_as(y),
                    _ => false,
                };
                let expected = match model.get(&t) {
                    Some(old) if std::mem::discriminant(old) != std::mem::discriminant(&value) => AppendResult::Conflict,
                    Some(old) if same(old, &value) => AppendResult::Duplicate,
                    Some(_) => AppendResult::Overwritten,
                    None => result,
                };
                proptest::prop_assert_eq!(result, expected, "t={}", t);
                if !model.contains_key(&t) {
                    proptest::prop_assert!(matches!(result, AppendResult::Appended | AppendResult::OutOfOrder), "a new timestamp is stored: {:?}", result);
                }
                if result != AppendResult::Conflict {
                    model.insert(t, value);
                }
            }
            let read = |s: &MemSeries, lo: i64, hi: i64| -> Result<BTreeMap<i64, Stored>, proptest::test_runner::TestCaseError> {
                let mut m: BTreeMap<i64, Stored> = s.samples_in(lo, hi).iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
                for h in s.histograms_in(lo, hi) {
                    proptest::prop_assert!(m.insert(h.timestamp_ms, Stored::H(h.histogram)).is_none(), "a timestamp holds one kind");
                }
                Ok(m)
            };
            let norm = |m: BTreeMap<i64, Stored>| -> Vec<(i64, String)> {
                m.into_iter().map(|(t, v)| (t, match v { Stored::F(b) => format!("f{b}"), Stored::H(h) => format!("h{}/{:?}", h.count, h.positive_buckets) })).collect()
            };
            proptest::prop_assert_eq!(norm(read(&s, i64::MIN, i64::MAX)?), norm(model.clone()));
            proptest::prop_assert_eq!(s.time_range(), model.keys().next().map(|lo| (*lo, *model.keys().last().unwrap_or(lo))));
            // Encoded, decoded: the same.
            let part = s.encoded_in(i64::MIN, i64::MAX);
            let (floats, histograms) = part.decode_both(i64::MIN, i64::MAX).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
            let mut decoded: BTreeMap<i64, Stored> = floats.iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
            decoded.extend(histograms.into_iter().map(|h| (h.timestamp_ms, Stored::H(h.histogram))));
            proptest::prop_assert_eq!(norm(decoded), norm(model.clone()));
            // Split: before and after the boundary, nothing lost.
            let split = s.split_at(boundary);
            let mut before: BTreeMap<i64, Stored> = split.samples.iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
            before.extend(split.histograms.iter().map(|h| (h.timestamp_ms, Stored::H(Arc::clone(&h.histogram)))));
            for c in &split.chunks {
                proptest::prop_assert!(c.max_time_ms < boundary);
                match c.encoding {
                    ChunkEncoding::Xor => before.extend(crate::chunk::XorIterator::new(&c.bytes).map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits())))),
                    ChunkEncoding::FloatHistogram => before.extend(crate::chunk::FloatHistogramIterator::new(&c.bytes).map(|h| (h.timestamp_ms, Stored::H(h.histogram)))),
                    ChunkEncoding::Xor2 | ChunkEncoding::FloatHistogramSt => proptest::prop_assert!(false, "the head writes no start-time chunks"),
                }
            }
            let mut after: BTreeMap<i64, Stored> = split.samples_after.iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
            after.extend(split.histograms_after.iter().map(|h| (h.timestamp_ms, Stored::H(Arc::clone(&h.histogram)))));
            proptest::prop_assert_eq!(norm(before), norm(model.range(..boundary).map(|(t, v)| (*t, v.clone())).collect()));
            proptest::prop_assert_eq!(norm(after), norm(model.range(boundary..).map(|(t, v)| (*t, v.clone())).collect()));
            // Delete a range of both kinds.
            let removed = s.delete_range(del_lo, del_lo + del_len);
            let gone = model.range(del_lo..=del_lo + del_len).count();
            proptest::prop_assert_eq!(removed, gone);
            model.retain(|t, _| *t < del_lo || *t > del_lo + del_len);
            proptest::prop_assert_eq!(norm(read(&s, i64::MIN, i64::MAX)?), norm(model));
        }
    }

    #[test]
    fn the_newest_sample_alone_answers_a_last_only_read_when_nothing_else_can_be_later() {
        let mut s = MemSeries::new(Labels::default());
        for t in (0..300).map(|i| i * 10) {
            s.append(t, t as f64);
        }
        let last_only = |s: &MemSeries, mint, maxt| s.encoded_last_in(mint, maxt);
        // The newest sample (2990) in range: it alone, nothing decoded or copied.
        let part = last_only(&s, 2_500, 3_000);
        assert_eq!((part.chunks.len(), part.samples.clone()), (0, vec![Sample { timestamp_ms: 2_990, value: 2_990.0 }]));
        // Not in range: the whole answer.
        assert_eq!(last_only(&s, 100, 2_000), s.encoded_in(100, 2_000));
        // Out-of-order data in range might be the last there: the whole answer.
        s.append(2_995, 1.0);
        s.append(2_985, 7.0);
        assert_eq!(last_only(&s, 2_980, 3_000), s.encoded_in(2_980, 3_000));
        assert_eq!(last_only(&s, 2_996, 3_000), s.encoded_in(2_996, 3_000));
    }

    proptest::proptest! {
        /// Floats with and without start times, in any order: an in-order float keeps its
        /// start (the series switching to XOR2 at its first), an out-of-order one or an
        /// overwrite is stored with 0, a duplicate changes nothing; reads, encoded reads,
        /// last-only reads, splits and deletes agree with that model.
        #[test]
        fn started_floats_follow_one_model(
            stream in proptest::collection::vec((0i64..300, 0i64..4, 0u8..3), 0..300),
            boundary in 0i64..320, (del_lo, del_len) in (0i64..300, 0i64..60),
        ) {
            let mut s = MemSeries::new(Labels::default());
            let mut model: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
            for (t, start, level) in stream {
                let v = f64::from(level);
                let start_ms = if start == 0 { 0 } else { 1_000 + start };
                let result = s.append_started(start_ms, t, v, &mut ChunkRanges::new(100));
                match result {
                    AppendResult::Appended if model.keys().next_back().is_none_or(|last| t > *last) => { model.insert(t, (v.to_bits(), start_ms)); }
                    AppendResult::OutOfOrder | AppendResult::Overwritten => { model.insert(t, (v.to_bits(), 0)); }
                    AppendResult::Duplicate => proptest::prop_assert_eq!(model.get(&t).map(|m| m.0), Some(v.to_bits())),
                    other => proptest::prop_assert!(false, "unexpected {:?} at {}", other, t),
                }
            }
            let with_starts = |samples: Vec<Sample>, starts: Option<Vec<i64>>| -> Vec<(i64, u64, i64)> {
                samples.iter().enumerate().map(|(i, x)| (x.timestamp_ms, x.value.to_bits(), starts.as_ref().map_or(0, |st| st[i]))).collect()
            };
            let want: Vec<(i64, u64, i64)> = model.iter().map(|(t, (bits, start))| (*t, *bits, *start)).collect();
            let (samples, starts) = s.samples_with_starts_in(i64::MIN, i64::MAX);
            proptest::prop_assert_eq!(with_starts(samples, starts), want.clone());
            // Encoded (whole range and a partial one), decoded with starts.
            for (lo, hi) in [(i64::MIN, i64::MAX), (37, 211)] {
                let (samples, _, starts) = s.encoded_in(lo, hi).decode_with_starts(lo, hi).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
                let got = with_starts(samples, starts.map(|st| st.floats));
                proptest::prop_assert_eq!(got, want.iter().copied().filter(|(t, _, _)| *t >= lo && *t <= hi).collect::<Vec<_>>());
                let (last, _, last_starts) = s.encoded_last_in(lo, hi).decode_with_starts(lo, hi).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
                let last = with_starts(last, last_starts.map(|st| st.floats)).last().copied();
                proptest::prop_assert_eq!(last, want.iter().copied().rfind(|(t, _, _)| *t >= lo && *t <= hi));
            }
            // Split: kept chunks and loose samples before, adopted chunks and loose samples after.
            let split = s.split_at(boundary);
            let (mut before, mut before_starts) = (Vec::new(), Vec::new());
            for c in &split.chunks {
                proptest::prop_assert!(c.max_time_ms < boundary);
                proptest::prop_assert!(crate::chunk::decode_chunk_kept_with_starts(c.encoding, &c.bytes, (&mut before, &mut before_starts), (&mut Vec::new(), &mut Vec::new()), |_| true));
            }
            let loose_starts = |samples: &[Sample], starts: &[i64]| if starts.is_empty() { vec![0; samples.len()] } else { starts.to_vec() };
            before_starts.extend(loose_starts(&split.samples, &split.sample_starts));
            before.extend(split.samples.iter().copied());
            let (mut after, mut after_starts) = (Vec::new(), Vec::new());
            for c in &split.chunks_after {
                after.extend(c.chunk.iter());
                after_starts.resize(after.len(), 0);
            }
            after_starts.extend(loose_starts(&split.samples_after, &split.sample_starts_after));
            after.extend(split.samples_after.iter().copied());
            proptest::prop_assert_eq!(with_starts(before, Some(before_starts)), want.iter().copied().filter(|(t, _, _)| *t < boundary).collect::<Vec<_>>());
            proptest::prop_assert_eq!(with_starts(after, Some(after_starts)), want.iter().copied().filter(|(t, _, _)| *t >= boundary).collect::<Vec<_>>());
            // Delete: the rest keeps its starts.
            s.delete_range(del_lo, del_lo + del_len);
            let (samples, starts) = s.samples_with_starts_in(i64::MIN, i64::MAX);
            proptest::prop_assert_eq!(with_starts(samples, starts), want.iter().copied().filter(|(t, _, _)| *t < del_lo || *t > del_lo + del_len).collect::<Vec<_>>());
        }
    }

    proptest::proptest! {
        /// Decoded, a last-only read ends with the same sample as the whole read, for any
        /// stream (out-of-order data, overwrites, stale markers) and range.
        #[test]
        fn a_last_only_read_ends_with_the_last_sample(
            stream in proptest::collection::vec((0i64..400, 0u8..4), 0..300),
            mint in 0i64..420, len in 0i64..420,
        ) {
            let mut s = MemSeries::new(Labels::default());
            for (t, kind) in stream {
                let v = match kind { 0 => 1.0, 1 => f64::from_bits(crate::STALE_NAN_BITS), 2 => f64::NAN, _ => t as f64 * 0.5 };
                s.append(t, v);
            }
            let last = |part: EncodedPart| part.decode(mint, mint + len).ok().and_then(|samples| samples.last().map(|x| (x.timestamp_ms, x.value.to_bits())));
            proptest::prop_assert_eq!(last(s.encoded_last_in(mint, mint + len)), last(s.encoded_in(mint, mint + len)));
        }
    }

    proptest::proptest! {
        /// Splitting gives exactly the samples before and from the boundary; kept chunks are
        /// whole, end before it and come first, in order.
        #[test]
        fn split_at_partitions_the_samples(
            times in proptest::collection::vec(0i64..2_000, 0..400),
            sorted in proptest::prelude::any::<bool>(),
            boundary in 0i64..2_100,
        ) {
            let mut times = times;
            if sorted {
                // Strictly increasing: no out-of-order buffer, so chunks are kept whole.
                times.sort_unstable();
                times.dedup();
            }
            let mut s = MemSeries::new(Labels::default());
            for (i, t) in times.iter().enumerate() {
                s.append(*t, i as f64);
            }
            let all = s.samples_in(i64::MIN, i64::MAX);
            let SeriesSplit { chunks: kept, samples: before, chunks_after, samples_after, .. } = s.split_at(boundary);
            let mut got: Vec<Sample> = Vec::new();
            for c in &kept {
                proptest::prop_assert!(c.max_time_ms < boundary);
                let samples: Vec<Sample> = crate::chunk::XorIterator::new(&c.bytes).collect();
                proptest::prop_assert_eq!(samples.len() as u64, c.num_samples);
                proptest::prop_assert_eq!((samples.first().map(|x| x.timestamp_ms), samples.last().map(|x| x.timestamp_ms)), (Some(c.min_time_ms), Some(c.max_time_ms)));
                got.extend(samples);
            }
            got.extend(before);
            // From the boundary on: whole closed chunks first, then loose samples.
            let mut after: Vec<Sample> = Vec::new();
            for c in &chunks_after {
                let samples: Vec<Sample> = c.chunk.iter().collect();
                proptest::prop_assert!(c.min_t >= boundary);
                proptest::prop_assert_eq!((samples.first().map(|x| x.timestamp_ms), samples.last().map(|x| x.timestamp_ms)), (Some(c.min_t), Some(c.max_t)));
                after.extend(samples);
            }
            proptest::prop_assert!(chunks_after.is_empty() || !samples_after.is_empty(), "the open chunk's samples follow adopted chunks");
            after.extend(samples_after);
            let want_before: Vec<Sample> = all.iter().copied().filter(|x| x.timestamp_ms < boundary).collect();
            let want_after: Vec<Sample> = all.iter().copied().filter(|x| x.timestamp_ms >= boundary).collect();
            let bits = |v: &[Sample]| v.iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect::<Vec<_>>();
            proptest::prop_assert_eq!(bits(&got), bits(&want_before));
            proptest::prop_assert_eq!(bits(&after), bits(&want_after));
        }
    }
}
