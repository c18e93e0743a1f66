//! One in-memory series: closed XOR chunks, the open chunk, and an out-of-order buffer
//! (also holding same-timestamp overwrites) that wins over chunk data on read; native
//! histograms, once the series has one, in chunks of their own beside them
//! (`HistogramSeries`). A timestamp holds a float or a histogram, never both.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::histograms::HistogramSeries;
use super::started::StartedFloats;
use crate::chunk::{ChunkEncoding, XorAppender, XorChunk};
use crate::model::Labels;

mod append;
mod delete;
mod read;
mod split;
#[cfg(test)]
mod tests;

pub use append::{AppendResult, ChunkRanges};
pub use split::SeriesSplit;

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
    /// The XOR2 chunks of floats with start times; `None` until a float comes with one. A
    /// series whose floats come with start times keeps them here from its first such sample
    /// on; its out-of-order floats lose their start (stored as 0).
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

    /// `(oldest, newest)` timestamp of a float or histogram, or `None` when the series holds
    /// neither.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let histograms = self.histograms().and_then(|h| h.time_range());
        match (self.float_range(), histograms) {
            (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            (floats, histograms) => floats.or(histograms),
        }
    }
}
