//! Splitting a series at a boundary (a head cut): the chunks that end before it, kept as
//! they are, and loose data before it; what lies from it on goes to the next head, which
//! takes the closed chunks over (`adopt_closed_chunks`).

use std::sync::Arc;

use super::read::decode_floats;
use super::{HeadChunk, MemSeries};
use crate::block::RawChunk;
use crate::chunk::{ChunkEncoding, XorChunk};
use crate::head::histograms::HistogramSplit;
use crate::model::{HistogramSample, Sample};

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

impl MemSeries {
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
            let (before, before_starts, after, after_starts) = crate::head::started::split_with_starts(all, starts, boundary_ms, |x| x.timestamp_ms);
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
}
