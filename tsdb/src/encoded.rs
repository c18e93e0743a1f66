//! A select's answer as the storage holds it: per series and source (the head, then the
//! blocks), the XOR chunks lying wholly inside the range still encoded, the in-range samples
//! of chunks only partly inside it decoded, and beside them the head's out-of-order samples
//! and the blocks' deleted intervals. A shard answers with these: for a long range its
//! executor only copies compressed bytes (about 1.3 bytes per sample instead of 16 decoded)
//! and the decoding (`EncodedSeries::decode`) runs where the samples are used, on the PromQL
//! evaluation thread; for a short one (an instant query's lookback, a chunk holding hours)
//! the shards decode the few samples it needs, in parallel, instead of shipping whole chunks
//! to one evaluation thread (measured: shipping them made `count by (job) (up)` over 20k
//! series 50% slower). Native histograms travel the same way: float histogram chunks beside
//! the XOR ones (`EncodedChunk::encoding`), decoded histograms beside decoded samples; a
//! timestamp holds a float or a histogram, never both, and across sources the earlier one
//! wins whichever kind it holds. Start times (Prometheus' `st-storage`) travel in the XOR2
//! and float histogram ST chunks and beside the decoded samples (`EncodedPart::sample_starts`);
//! `EncodedSeries::decode` and `decode_both_into` answer them, `decode_into` does not.

use std::sync::Arc;

use crate::chunk::{decode_chunk_kept, decode_chunk_kept_with_starts, ChunkEncoding};
use crate::merge::{merge_mixed, merge_samples, merge_started, StartedSource};
use crate::model::{HistogramSample, Labels, Sample, SampleStarts, SeriesSamples};

/// One encoded chunk (header included) with the time range of its samples: XOR (floats) or
/// float histogram, as `encoding` says.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub encoding: ChunkEncoding,
    pub bytes: ChunkBytes,
}

/// An encoded chunk's bytes in an answer: a closed head chunk's own (shared, no copy: the
/// head never changes a closed chunk), or a copy (a head's open chunk, a block's chunk read
/// through the page cache).
#[derive(Clone, Debug)]
pub enum ChunkBytes {
    Shared(Arc<[u8]>),
    Owned(Vec<u8>),
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            ChunkBytes::Shared(bytes) => bytes,
            ChunkBytes::Owned(bytes) => bytes,
        }
    }
}

impl PartialEq for ChunkBytes {
    fn eq(&self, other: &ChunkBytes) -> bool {
        **self == **other
    }
}

impl From<Vec<u8>> for ChunkBytes {
    fn from(bytes: Vec<u8>) -> ChunkBytes {
        ChunkBytes::Owned(bytes)
    }
}

impl EncodedChunk {
    /// Samples in the chunk, from its header.
    pub fn num_samples(&self) -> usize {
        usize::from(self.encoding.num_samples(&self.bytes))
    }
}

/// One source's data for a series: time-ordered chunks, those of one encoding not
/// overlapping each other; decoded samples and histograms (in the range, time-ordered, at
/// timestamps no chunk holds: from chunks only partly in the range); samples that override
/// floats (the head's out-of-order buffer: these win on equal timestamps); and deleted
/// intervals (a block's tombstones) that hide chunk samples of both kinds. No timestamp holds
/// both a float and a histogram within a part.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EncodedPart {
    pub chunks: Vec<EncodedChunk>,
    pub samples: Vec<Sample>,
    pub overrides: Vec<Sample>,
    pub deleted: Vec<(i64, i64)>,
    pub histograms: Vec<HistogramSample>,
    /// The start times of `samples`, parallel to it, for a series with start times; empty
    /// otherwise (every start 0). Overrides have none.
    pub sample_starts: Vec<i64>,
    /// The start times of `histograms`, as `sample_starts`.
    pub histogram_starts: Vec<i64>,
}

impl EncodedPart {
    /// True when the part holds nothing to decode.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.samples.is_empty() && self.overrides.is_empty() && self.histograms.is_empty()
    }

    /// True when the part holds native histograms (decoded or in chunks).
    pub fn has_histograms(&self) -> bool {
        !self.histograms.is_empty() || self.chunks.iter().any(|c| c.encoding.holds_histograms())
    }

    /// True when the part holds start times (chunks with them, or decoded samples' starts).
    pub fn has_start_times(&self) -> bool {
        !self.sample_starts.is_empty() || !self.histogram_starts.is_empty() || self.chunks.iter().any(|c| c.encoding.has_start_times())
    }

    /// The part's floats and histograms in `[mint_ms, maxt_ms]` with their start times, as
    /// `decode_both` (overrides win on equal timestamps, with start 0). `Err` when a chunk is
    /// malformed.
    pub fn decode_with_starts(&self, mint_ms: i64, maxt_ms: i64) -> Result<StartedSource, MalformedChunk> {
        let deleted = |t: i64| self.deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi);
        let in_range = |t: i64| t >= mint_ms && t <= maxt_ms;
        let (mut floats, mut float_starts, mut histograms, mut histogram_starts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for c in self.chunks.iter().filter(|c| c.max_time_ms >= mint_ms && c.min_time_ms <= maxt_ms) {
            let keep = |t: i64| in_range(t) && !deleted(t);
            if !decode_chunk_kept_with_starts(c.encoding, &c.bytes, (&mut floats, &mut float_starts), (&mut histograms, &mut histogram_starts), keep) {
                return Err(MalformedChunk { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms });
            }
        }
        let start_at = |list: &[i64], i: usize| list.get(i).copied().unwrap_or(0);
        for (i, s) in self.samples.iter().enumerate().filter(|(_, s)| in_range(s.timestamp_ms)) {
            floats.push(*s);
            float_starts.push(start_at(&self.sample_starts, i));
        }
        for (i, h) in self.histograms.iter().enumerate().filter(|(_, h)| in_range(h.timestamp_ms)) {
            histograms.push(h.clone());
            histogram_starts.push(start_at(&self.histogram_starts, i));
        }
        // Overrides first: they win on equal timestamps.
        let overrides: Vec<Sample> = self.overrides.iter().filter(|s| in_range(s.timestamp_ms)).copied().collect();
        let override_starts = vec![0; overrides.len()];
        let own = SampleStarts { floats: float_starts, histograms: histogram_starts };
        Ok(merge_started(vec![
            (overrides, Vec::new(), Some(Box::new(SampleStarts { floats: override_starts, histograms: Vec::new() }))),
            (floats, histograms, Some(Box::new(own))),
        ]))
    }

    /// A lower bound of the samples this part holds in `[mint_ms, maxt_ms]`, from headers
    /// only: chunks wholly inside the range that no deleted interval touches count fully,
    /// the others not at all. Used to stop a query of death early without decoding, so it must never
    /// count more than decoding would find.
    pub fn samples_at_least(&self, mint_ms: i64, maxt_ms: i64) -> usize {
        let in_chunks: usize = self
            .chunks
            .iter()
            .filter(|c| c.min_time_ms >= mint_ms && c.max_time_ms <= maxt_ms)
            .filter(|c| !self.deleted.iter().any(|&(lo, hi)| lo <= c.max_time_ms && hi >= c.min_time_ms))
            .map(EncodedChunk::num_samples)
            .sum();
        let in_range = |s: &&Sample| s.timestamp_ms >= mint_ms && s.timestamp_ms <= maxt_ms;
        let decoded = self.samples.iter().filter(in_range).count();
        let histograms = self.histograms.iter().filter(|h| h.timestamp_ms >= mint_ms && h.timestamp_ms <= maxt_ms).count();
        // An override may replace a chunk sample of the same timestamp: the larger of the two
        // counts is a bound.
        let overrides = self.overrides.iter().filter(in_range).count();
        (in_chunks + decoded + histograms).max(overrides)
    }

    /// The part's floats and histograms in `[mint_ms, maxt_ms]`, each time-ordered,
    /// overrides merged in. `Err` when a chunk is malformed.
    pub fn decode_both(&self, mint_ms: i64, maxt_ms: i64) -> Result<(Vec<Sample>, Vec<HistogramSample>), MalformedChunk> {
        let samples = self.decode(mint_ms, maxt_ms)?;
        let deleted = |t: i64| self.deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi);
        let keep = |t: i64| t >= mint_ms && t <= maxt_ms && !deleted(t);
        let mut from_chunks = Vec::new();
        for c in self.chunks.iter().filter(|c| c.encoding.holds_histograms() && c.max_time_ms >= mint_ms && c.min_time_ms <= maxt_ms) {
            if !decode_chunk_kept(c.encoding, &c.bytes, &mut Vec::new(), &mut from_chunks, keep) {
                return Err(MalformedChunk { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms });
            }
        }
        let loose = self.histograms.iter().filter(|h| h.timestamp_ms >= mint_ms && h.timestamp_ms <= maxt_ms).cloned();
        let mut histograms: Vec<HistogramSample> = from_chunks.into_iter().chain(loose).collect();
        if !histograms.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms) {
            histograms.sort_by_key(|h| h.timestamp_ms);
            histograms.dedup_by_key(|h| h.timestamp_ms);
        }
        Ok((samples, histograms))
    }

    /// The part's samples in `[mint_ms, maxt_ms]`, time-ordered, overrides merged in.
    /// `Err` when a chunk is malformed.
    pub fn decode(&self, mint_ms: i64, maxt_ms: i64) -> Result<Vec<Sample>, MalformedChunk> {
        let in_range = |t: i64| t >= mint_ms && t <= maxt_ms;
        let mut from_chunks = Vec::with_capacity(self.samples_at_least(i64::MIN, i64::MAX));
        self.decode_chunks_into(mint_ms, maxt_ms, &mut from_chunks)?;
        let in_range_of = |list: &[Sample]| list.iter().filter(|s| in_range(s.timestamp_ms)).copied().collect::<Vec<_>>();
        // Overrides first: they win on equal timestamps; chunk and decoded samples never share one.
        Ok(merge_samples(vec![in_range_of(&self.overrides), from_chunks, in_range_of(&self.samples)]))
    }

    /// Appends the samples of the chunks in `[mint_ms, maxt_ms]` that no deleted interval
    /// hides, chunk after chunk; `Err` names the first malformed chunk.
    fn decode_chunks_into(&self, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>) -> Result<(), MalformedChunk> {
        self.decode_float_chunks_into(mint_ms, maxt_ms, out, None)
    }

    /// `decode_chunks_into`, with each sample's start time appended to `starts` (parallel to
    /// `out`) when given.
    fn decode_float_chunks_into(&self, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>, mut starts: Option<&mut Vec<i64>>) -> Result<(), MalformedChunk> {
        let deleted = |t: i64| self.deleted.iter().any(|&(lo, hi)| t >= lo && t <= hi);
        for c in self.chunks.iter().filter(|c| !c.encoding.holds_histograms() && c.max_time_ms >= mint_ms && c.min_time_ms <= maxt_ms) {
            let keep = |t: i64| t >= mint_ms && t <= maxt_ms && !deleted(t);
            let decoded = match starts.as_deref_mut() {
                Some(starts) => decode_chunk_kept_with_starts(c.encoding, &c.bytes, (out, starts), (&mut Vec::new(), &mut Vec::new()), keep),
                None => decode_chunk_kept(c.encoding, &c.bytes, out, &mut Vec::new(), keep),
            };
            if !decoded {
                return Err(MalformedChunk { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms });
            }
        }
        Ok(())
    }
}

/// A chunk whose bytes do not decode (named by its time range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MalformedChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
}

/// One series' data from every source that holds it, in priority order: on equal
/// timestamps the earlier part wins (the head, then newer blocks).
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedSeries {
    pub labels: Labels,
    pub parts: Vec<EncodedPart>,
}

impl EncodedSeries {
    /// See `EncodedPart::samples_at_least`; the parts may hold the same timestamps, so the
    /// largest part's bound is the series' bound.
    pub fn samples_at_least(&self, mint_ms: i64, maxt_ms: i64) -> usize {
        self.parts.iter().map(|p| p.samples_at_least(mint_ms, maxt_ms)).max().unwrap_or(0)
    }

    /// True when some part holds native histograms.
    pub fn has_histograms(&self) -> bool {
        self.parts.iter().any(EncodedPart::has_histograms)
    }

    /// The series' samples and histograms in `[mint_ms, maxt_ms]`, one per timestamp (of
    /// either kind, the earliest part's); `None` when there are none. A part with a
    /// malformed chunk is reported and left out; the others still answer.
    pub fn decode(&self, mint_ms: i64, maxt_ms: i64) -> Option<SeriesSamples> {
        if self.parts.iter().any(EncodedPart::has_start_times) {
            return self.decode_started(mint_ms, maxt_ms);
        }
        if self.has_histograms() {
            return self.decode_mixed(mint_ms, maxt_ms);
        }
        let lists = self.decoded_parts(|part| part.decode(mint_ms, maxt_ms));
        let samples = merge_samples(lists);
        (!samples.is_empty()).then(|| SeriesSamples { labels: self.labels.clone(), samples, histograms: Vec::new(), starts: None })
    }

    /// Every part decoded by `decode`, in order; a part with a malformed chunk is reported
    /// and left out.
    fn decoded_parts<T>(&self, decode: impl Fn(&EncodedPart) -> Result<T, MalformedChunk>) -> Vec<T> {
        let mut lists = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            match decode(part) {
                Ok(decoded) => lists.push(decoded),
                Err(bad) => tracing::error!(
                    series = %self.labels,
                    chunk_min_time_ms = bad.min_time_ms,
                    chunk_max_time_ms = bad.max_time_ms,
                    "damaged chunk; this source of the series left out of the answer"
                ),
            }
        }
        lists
    }

    /// `decode` for a series with start times: each kept sample with its own part's start.
    fn decode_started(&self, mint_ms: i64, maxt_ms: i64) -> Option<SeriesSamples> {
        let lists = self.decoded_parts(|part| part.decode_with_starts(mint_ms, maxt_ms));
        let (samples, histograms, starts) = merge_started(lists);
        (!samples.is_empty() || !histograms.is_empty()).then(|| SeriesSamples { labels: self.labels.clone(), samples, histograms, starts })
    }

    fn decode_mixed(&self, mint_ms: i64, maxt_ms: i64) -> Option<SeriesSamples> {
        let lists = self.decoded_parts(|part| part.decode_both(mint_ms, maxt_ms));
        let (samples, histograms) = merge_mixed(lists);
        (!samples.is_empty() || !histograms.is_empty()).then(|| SeriesSamples { labels: self.labels.clone(), samples, histograms, starts: None })
    }
}

/// Buffers `EncodedSeries::decode_into` reuses from one series to the next.
#[derive(Debug, Default)]
pub struct DecodeScratch {
    chunks: Vec<Sample>,
    part: Vec<Sample>,
    merged: Vec<Sample>,
    /// For a series with start times (`decode_both_into`): the chunks' starts, then each
    /// list's samples paired with their starts.
    chunk_starts: Vec<i64>,
    started: [Vec<(Sample, i64)>; 4],
}

impl EncodedSeries {
    /// `decode`'s samples written into `out` (emptied first; left empty where `decode` gives
    /// `None`), in buffers kept from the last series: decoding many series one at a time
    /// then allocates nothing, and no page is touched for the first time per series.
    ///
    /// Only the floats: a series with native histograms gives the floats `decode` gives.
    pub fn decode_into(&self, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>, scratch: &mut DecodeScratch) {
        out.clear();
        if self.has_histograms() || !self.decode_ordered_into(mint_ms, maxt_ms, out, scratch) {
            // A malformed chunk, or a list out of time order: `decode`, which reports the
            // damage and sorts, decides.
            out.clear();
            if let Some(decoded) = self.decode(mint_ms, maxt_ms) {
                out.extend_from_slice(&decoded.samples);
            }
        }
    }

    /// `decode_into` with the native histograms and the start times too: `histograms` and
    /// `starts` (both emptied first) get what `decode` answers; true when that has start
    /// times (`SeriesSamples::starts` is `Some`), false with `starts` left empty. A series
    /// without histograms or start times takes `decode_into`'s path, and one with start times
    /// but no histograms a path of its own in the same reused buffers.
    pub fn decode_both_into(
        &self,
        mint_ms: i64,
        maxt_ms: i64,
        (out, histograms): (&mut Vec<Sample>, &mut Vec<HistogramSample>),
        starts: &mut SampleStarts,
        scratch: &mut DecodeScratch,
    ) -> bool {
        histograms.clear();
        starts.floats.clear();
        starts.histograms.clear();
        let started = self.parts.iter().any(EncodedPart::has_start_times);
        let has_histograms = self.has_histograms();
        if !started && !has_histograms {
            self.decode_into(mint_ms, maxt_ms, out, scratch);
            return false;
        }
        out.clear();
        if !has_histograms && self.decode_started_ordered_into(mint_ms, maxt_ms, out, &mut starts.floats, scratch) {
            // As `SampleStarts::answer`: starts all 0 are no start times.
            if starts.floats.iter().any(|&s| s != 0) {
                return true;
            }
            starts.floats.clear();
            return false;
        }
        // A malformed chunk, a list out of time order or histograms: `decode` decides.
        out.clear();
        starts.floats.clear();
        let Some(decoded) = self.decode(mint_ms, maxt_ms) else { return false };
        out.extend_from_slice(&decoded.samples);
        histograms.extend(decoded.histograms);
        let Some(decoded_starts) = decoded.starts else { return false };
        starts.floats.extend_from_slice(&decoded_starts.floats);
        starts.histograms.extend_from_slice(&decoded_starts.histograms);
        true
    }

    /// `decode_ordered_into` for a series with start times and no histograms: the floats into
    /// `out` and their starts, parallel, into `starts` (overrides start at 0, as in
    /// `EncodedPart::decode_with_starts`). False, with both in any state, when a chunk is
    /// malformed or a list is not strictly ordered.
    fn decode_started_ordered_into(&self, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>, starts: &mut Vec<i64>, scratch: &mut DecodeScratch) -> bool {
        // The usual series (one source, chunks alone): nothing to merge.
        if let [part] = self.parts.as_slice() {
            if part.samples.is_empty() && part.overrides.is_empty() {
                return part.decode_float_chunks_into(mint_ms, maxt_ms, out, Some(starts)).is_ok() && strictly_ordered(out);
            }
        }
        let [chunks, part_list, merged, series] = &mut scratch.started;
        series.clear();
        for part in &self.parts {
            scratch.chunks.clear();
            scratch.chunk_starts.clear();
            if part.decode_float_chunks_into(mint_ms, maxt_ms, &mut scratch.chunks, Some(&mut scratch.chunk_starts)).is_err() || !strictly_ordered(&scratch.chunks) {
                return false;
            }
            let (Some(loose), Some(overrides)) = (ordered_range(&part.samples, mint_ms, maxt_ms), ordered_range(&part.overrides, mint_ms, maxt_ms)) else {
                return false;
            };
            debug_assert_eq!(scratch.chunks.len(), scratch.chunk_starts.len(), "a chunk's start times are parallel to its samples");
            chunks.clear();
            chunks.extend(scratch.chunks.iter().copied().zip(scratch.chunk_starts.iter().copied()));
            let start_at = |i: usize| part.sample_starts.get(i).copied().unwrap_or(0);
            merged.clear();
            merged.extend(loose.clone().map(|i| (part.samples[i], start_at(i))));
            // Within a part: overrides, then chunks, then decoded samples (`decode_with_starts`).
            merge_ordered_by(chunks, merged, part_list, |p| p.0.timestamp_ms);
            if !overrides.is_empty() {
                chunks.clear();
                chunks.extend(part.overrides[overrides].iter().map(|&s| (s, 0)));
                merge_ordered_by(chunks, part_list, merged, |p| p.0.timestamp_ms);
                std::mem::swap(part_list, merged);
            }
            // Across parts: the earlier part wins.
            merge_ordered_by(series, part_list, merged, |p| p.0.timestamp_ms);
            std::mem::swap(series, merged);
        }
        out.extend(series.iter().map(|p| p.0));
        starts.extend(series.iter().map(|p| p.1));
        true
    }

    /// `decode` by linear merges, for parts whose lists are each strictly time-ordered (then
    /// a merge keeping the earlier list's sample on equal timestamps is exactly
    /// `merge_samples`' sort and deduplication). False, with `out` in any state, when a chunk
    /// is malformed or a list is not strictly ordered.
    fn decode_ordered_into(&self, mint_ms: i64, maxt_ms: i64, out: &mut Vec<Sample>, scratch: &mut DecodeScratch) -> bool {
        for part in &self.parts {
            scratch.chunks.clear();
            if part.decode_chunks_into(mint_ms, maxt_ms, &mut scratch.chunks).is_err() {
                return false;
            }
            let (Some(samples), Some(overrides)) = (ordered_in_range(&part.samples, mint_ms, maxt_ms), ordered_in_range(&part.overrides, mint_ms, maxt_ms))
            else {
                return false;
            };
            if !strictly_ordered(&scratch.chunks) {
                return false;
            }
            // Within a part: overrides, then chunks, then decoded samples (`EncodedPart::decode`).
            merge_ordered(&scratch.chunks, samples, &mut scratch.part);
            if !overrides.is_empty() {
                merge_ordered(overrides, &scratch.part, &mut scratch.merged);
                std::mem::swap(&mut scratch.part, &mut scratch.merged);
            }
            // Across parts: the earlier part wins.
            merge_ordered(out, &scratch.part, &mut scratch.merged);
            std::mem::swap(out, &mut scratch.merged);
        }
        true
    }
}

fn strictly_ordered(samples: &[Sample]) -> bool {
    samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms)
}

/// The samples of a strictly time-ordered list in `[mint_ms, maxt_ms]`; `None` when the list
/// is not strictly ordered.
fn ordered_in_range(samples: &[Sample], mint_ms: i64, maxt_ms: i64) -> Option<&[Sample]> {
    ordered_range(samples, mint_ms, maxt_ms).map(|range| &samples[range])
}

/// Where `ordered_in_range`'s samples lie in `samples`.
fn ordered_range(samples: &[Sample], mint_ms: i64, maxt_ms: i64) -> Option<std::ops::Range<usize>> {
    if !strictly_ordered(samples) {
        return None;
    }
    let from = samples.partition_point(|s| s.timestamp_ms < mint_ms);
    let to = samples.partition_point(|s| s.timestamp_ms <= maxt_ms);
    Some(from..to.max(from))
}

/// Merges two strictly time-ordered lists into `out` (emptied first), `first`'s sample kept
/// where both hold a timestamp.
fn merge_ordered(first: &[Sample], second: &[Sample], out: &mut Vec<Sample>) {
    merge_ordered_by(first, second, out, |s| s.timestamp_ms);
}

/// `merge_ordered` of lists of anything with a timestamp (`time_ms`).
fn merge_ordered_by<T: Copy>(first: &[T], second: &[T], out: &mut Vec<T>, time_ms: impl Fn(&T) -> i64) {
    out.clear();
    out.reserve(first.len() + second.len());
    let (mut i, mut j) = (0, 0);
    while i < first.len() && j < second.len() {
        let (a, b) = (first[i], second[j]);
        let (a_ms, b_ms) = (time_ms(&a), time_ms(&b));
        if a_ms <= b_ms {
            out.push(a);
            i += 1;
            if a_ms == b_ms {
                j += 1;
            }
        } else {
            out.push(b);
            j += 1;
        }
    }
    out.extend_from_slice(&first[i..]);
    out.extend_from_slice(&second[j..]);
}

/// Decodes every series of `series` in the range (series left with no sample are dropped).
pub fn decode_all(series: &[EncodedSeries], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
    series.iter().filter_map(|s| s.decode(mint_ms, maxt_ms)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::XorAppender;
    use proptest::prelude::*;

    fn chunk(points: &[(i64, f64)]) -> EncodedChunk {
        let mut a = XorAppender::default();
        for &(t, v) in points {
            a.append(t, v);
        }
        EncodedChunk { min_time_ms: points[0].0, max_time_ms: points[points.len() - 1].0, encoding: ChunkEncoding::Xor, bytes: a.bytes().to_vec().into() }
    }

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { timestamp_ms: t, value: v }).collect()
    }

    #[test]
    fn overrides_win_deleted_intervals_hide_and_the_range_trims() {
        let part = EncodedPart {
            chunks: vec![chunk(&[(10, 1.0), (20, 2.0), (30, 3.0)]), chunk(&[(40, 4.0), (50, 5.0)])],
            samples: Vec::new(),
            overrides: samples(&[(20, 20.0), (35, 35.0)]),
            deleted: vec![(40, 40)],
            histograms: Vec::new(),
            ..EncodedPart::default()
        };
        assert_eq!(part.decode(15, 50), Ok(samples(&[(20, 20.0), (30, 3.0), (35, 35.0), (50, 5.0)])));
        // Decoded samples (from chunks partly in a range) merge in time order; overrides win.
        let mixed = EncodedPart { samples: samples(&[(60, 6.0), (70, 7.0)]), overrides: samples(&[(70, 70.0)]), ..part.clone() };
        assert_eq!(mixed.decode(45, 100), Ok(samples(&[(50, 5.0), (60, 6.0), (70, 70.0)])));
        assert_eq!(mixed.samples_at_least(i64::MIN, i64::MAX), 5);
        assert_eq!(part.decode(0, 9), Ok(Vec::new()));
        // Headers count whole chunks in the range that no deletion touches.
        assert_eq!(part.samples_at_least(i64::MIN, i64::MAX), 3);
        let plain = EncodedPart { deleted: Vec::new(), ..part.clone() };
        assert_eq!(plain.samples_at_least(i64::MIN, i64::MAX), 5);
        assert_eq!(plain.samples_at_least(15, 60), 2);
        // Overrides count only where no chunk is counted (they may replace chunk samples).
        assert_eq!(plain.samples_at_least(31, 39), 1);
    }

    #[test]
    fn earlier_parts_win_and_a_malformed_part_is_left_out() {
        let labels = Labels::from_pairs([("__name__", "m")]);
        let head = EncodedPart { chunks: vec![chunk(&[(10, 1.0), (20, 2.0)])], ..Default::default() };
        let block = EncodedPart { chunks: vec![chunk(&[(5, 0.5), (10, 9.0)])], ..Default::default() };
        let series = EncodedSeries { labels: labels.clone(), parts: vec![head.clone(), block] };
        let decoded = series.decode(i64::MIN, i64::MAX).map(|s| s.samples);
        assert_eq!(decoded, Some(samples(&[(5, 0.5), (10, 1.0), (20, 2.0)])));
        let mut broken = chunk(&[(1, 1.0), (2, 2.0), (3, 3.0)]);
        broken.bytes = broken.bytes[..4].to_vec().into();
        let series = EncodedSeries { labels, parts: vec![EncodedPart { chunks: vec![broken], ..Default::default() }, head] };
        assert_eq!(series.decode(i64::MIN, i64::MAX).map(|s| s.samples), Some(samples(&[(10, 1.0), (20, 2.0)])));
    }

    #[test]
    fn time_ordered_parts_are_merged_without_the_general_path() {
        // A head part (with an override and a loose sample) over two block parts, as a
        // select over a block boundary returns them.
        let head = EncodedPart {
            chunks: vec![chunk(&[(40, 4.0), (50, 5.0)])],
            samples: samples(&[(60, 6.0)]),
            overrides: samples(&[(50, 55.0)]),
            deleted: Vec::new(),
            histograms: Vec::new(),
            ..EncodedPart::default()
        };
        let newer = EncodedPart { chunks: vec![chunk(&[(20, 2.0), (30, 3.0)])], ..Default::default() };
        let older = EncodedPart { chunks: vec![chunk(&[(0, 0.0), (10, 1.0), (20, 9.0)])], deleted: vec![(0, 0)], ..Default::default() };
        let series = EncodedSeries { labels: Labels::from_pairs([("__name__", "m")]), parts: vec![head, newer, older] };
        let (mut out, mut scratch) = (Vec::new(), DecodeScratch::default());
        assert!(series.decode_ordered_into(5, 100, &mut out, &mut scratch));
        assert_eq!(out, samples(&[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0), (50, 55.0), (60, 6.0)]));
        assert_eq!(series.decode(5, 100).map(|s| s.samples), Some(out));
    }

    #[test]
    fn time_ordered_parts_with_start_times_are_merged_without_the_general_path() {
        let mut a = crate::chunk::Xor2Appender::default();
        for (start, t) in [(1, 10), (1, 20), (25, 30)] {
            a.append(start, t, t as f64);
        }
        let head = EncodedPart {
            chunks: vec![EncodedChunk { min_time_ms: 10, max_time_ms: 30, encoding: ChunkEncoding::Xor2, bytes: a.bytes().to_vec().into() }],
            samples: samples(&[(40, 4.0)]),
            sample_starts: vec![35],
            overrides: samples(&[(20, 22.0)]),
            ..EncodedPart::default()
        };
        let block = EncodedPart { chunks: vec![chunk(&[(0, 0.0), (10, 9.0)])], ..Default::default() };
        let series = EncodedSeries { labels: Labels::from_pairs([("__name__", "m")]), parts: vec![head, block] };
        let (mut out, mut starts, mut scratch) = (Vec::new(), Vec::new(), DecodeScratch::default());
        assert!(series.decode_started_ordered_into(0, 100, &mut out, &mut starts, &mut scratch));
        assert_eq!(out, samples(&[(0, 0.0), (10, 10.0), (20, 22.0), (30, 30.0), (40, 4.0)]));
        assert_eq!(starts, vec![0, 1, 0, 25, 35]);
        let decoded = series.decode(0, 100).expect("samples in range");
        assert_eq!((decoded.samples, decoded.starts.map(|s| s.floats)), (out, Some(starts)));
    }

    proptest! {
        /// The header-only count never exceeds what decoding finds, for any range.
        #[test]
        fn samples_at_least_is_a_lower_bound(
            times in proptest::collection::btree_set(0i64..1000, 1..300),
            overrides in proptest::collection::btree_map(0i64..1000, -5.0f64..5.0, 0..20),
            loose in proptest::collection::btree_set(1000i64..2000, 0..20),
            deleted in proptest::collection::vec((0i64..1000, 0i64..50), 0..3),
            mint in 0i64..1000, len in 0i64..1000,
        ) {
            let points: Vec<(i64, f64)> = times.iter().map(|&t| (t, t as f64)).collect();
            let part = EncodedPart {
                chunks: points.chunks(120).map(chunk).collect(),
                samples: loose.iter().map(|&t| Sample { timestamp_ms: t, value: 0.0 }).collect(),
                overrides: overrides.iter().map(|(&t, &v)| Sample { timestamp_ms: t, value: v }).collect(),
                deleted: deleted.iter().map(|&(lo, n)| (lo, lo + n)).collect(),
                histograms: Vec::new(),
                ..EncodedPart::default()
            };
            let maxt = mint + len;
            let decoded = part.decode(mint, maxt).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert!(part.samples_at_least(mint, maxt) <= decoded.len());
        }

        /// `decode_into` gives exactly `decode`'s samples (values as bits), series after
        /// series in the same buffers: parts overlapping in time, overrides, loose samples
        /// before and after the chunks, deleted intervals, lists out of order (`decode`
        /// sorts them), malformed chunks.
        #[test]
        fn decode_into_gives_what_decode_gives(
            parts in proptest::collection::vec((
                proptest::collection::btree_set(0i64..400, 0..150),
                proptest::collection::vec((0i64..400, 0u8..4), 0..8),
                proptest::collection::vec((0i64..400, 0u8..4), 0..8),
                proptest::collection::vec((0i64..400, 0i64..30), 0..2),
                any::<bool>(), any::<bool>(),
            ), 0..4),
            ranges in proptest::collection::vec((0i64..400, 0i64..400), 1..4),
        ) {
            let value = |t: i64, kind: u8| match kind {
                0 => f64::NAN,
                1 => f64::from_bits(crate::STALE_NAN_BITS),
                _ => t as f64 * f64::from(kind),
            };
            let series = EncodedSeries {
                labels: Labels::from_pairs([("__name__", "m")]),
                parts: parts
                    .iter()
                    .enumerate()
                    .map(|(p, (times, loose, overrides, deleted, sorted, broken))| {
                        let points: Vec<(i64, f64)> = times.iter().map(|&t| (t, t as f64 + p as f64)).collect();
                        let mut chunks: Vec<EncodedChunk> = points.chunks(50).map(chunk).collect();
                        if *broken {
                            if let Some(c) = chunks.last_mut() {
                                c.bytes = c.bytes[..4].to_vec().into();
                            }
                        }
                        let list = |pairs: &Vec<(i64, u8)>| {
                            let mut l: Vec<Sample> = pairs.iter().map(|&(t, k)| Sample { timestamp_ms: t, value: value(t, k) }).collect();
                            if *sorted {
                                l.sort_by_key(|s| s.timestamp_ms);
                                l.dedup_by_key(|s| s.timestamp_ms);
                            }
                            l
                        };
                        EncodedPart { chunks, samples: list(loose), overrides: list(overrides), deleted: deleted.iter().map(|&(lo, n)| (lo, lo + n)).collect(), histograms: Vec::new(), ..EncodedPart::default() }
                    })
                    .collect(),
            };
            let bits = |list: &[Sample]| list.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>();
            let (mut out, mut scratch) = (Vec::new(), DecodeScratch::default());
            for (mint, len) in ranges {
                let expected = series.decode(mint, mint + len).map(|s| s.samples).unwrap_or_default();
                series.decode_into(mint, mint + len, &mut out, &mut scratch);
                prop_assert_eq!(bits(&out), bits(&expected));
            }
        }

        /// `decode_both_into` gives exactly `decode`'s samples and start times, series after
        /// series in the same buffers: XOR2 chunks beside plain XOR ones, loose samples with
        /// and without their starts, overrides (start 0), parts overlapping in time, deleted
        /// intervals, lists out of order, malformed chunks, starts all 0 (none).
        #[test]
        fn decode_both_into_gives_what_decode_gives_with_start_times(
            parts in proptest::collection::vec((
                proptest::collection::btree_map(0i64..400, 0u8..4, 0..150),
                proptest::collection::vec((0i64..400, 0u8..4), 0..8),
                proptest::collection::vec((0i64..400, 0u8..4), 0..4),
                proptest::collection::vec((0i64..400, 0i64..30), 0..2),
                (any::<bool>(), any::<bool>(), 0u8..3),
            ), 1..4),
            ranges in proptest::collection::vec((0i64..400, 0i64..400), 1..4),
        ) {
            // Start kinds: 0 none, else `t - kind` (restarted just before the sample).
            let start = |t: i64, kind: u8| if kind == 0 { 0 } else { t - i64::from(kind) };
            let series = EncodedSeries {
                labels: Labels::from_pairs([("__name__", "m")]),
                parts: parts
                    .iter()
                    .enumerate()
                    .map(|(p, (times, loose, overrides, deleted, (sorted, broken, chunk_kind)))| {
                        let points: Vec<(i64, u8)> = times.iter().map(|(&t, &k)| (t, k)).collect();
                        let mut chunks: Vec<EncodedChunk> = points
                            .chunks(50)
                            .map(|run| match chunk_kind {
                                // Plain XOR: starts 0.
                                0 => chunk(&run.iter().map(|&(t, _)| (t, t as f64)).collect::<Vec<_>>()),
                                _ => {
                                    let mut a = crate::chunk::Xor2Appender::default();
                                    for &(t, k) in run {
                                        a.append(start(t, k), t, t as f64 + p as f64);
                                    }
                                    EncodedChunk { min_time_ms: run[0].0, max_time_ms: run[run.len() - 1].0, encoding: ChunkEncoding::Xor2, bytes: a.bytes().to_vec().into() }
                                }
                            })
                            .collect();
                        if *broken {
                            if let Some(c) = chunks.last_mut() {
                                c.bytes = c.bytes[..4].to_vec().into();
                            }
                        }
                        let list = |pairs: &Vec<(i64, u8)>| {
                            let mut l: Vec<(i64, u8)> = pairs.clone();
                            if *sorted {
                                l.sort_by_key(|&(t, _)| t);
                                l.dedup_by_key(|&mut (t, _)| t);
                            }
                            l
                        };
                        let (loose, overrides) = (list(loose), list(overrides));
                        EncodedPart {
                            chunks,
                            samples: loose.iter().map(|&(t, _)| Sample { timestamp_ms: t, value: -(t as f64) }).collect(),
                            // The loose samples' starts, or none (every start 0) in every other part.
                            sample_starts: if p % 2 == 0 { loose.iter().map(|&(t, k)| start(t, k)).collect() } else { Vec::new() },
                            overrides: overrides.iter().map(|&(t, _)| Sample { timestamp_ms: t, value: 0.5 }).collect(),
                            deleted: deleted.iter().map(|&(lo, n)| (lo, lo + n)).collect(),
                            ..EncodedPart::default()
                        }
                    })
                    .collect(),
            };
            let bits = |list: &[Sample]| list.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>();
            let (mut out, mut histograms, mut starts, mut scratch) = (Vec::new(), Vec::new(), SampleStarts::default(), DecodeScratch::default());
            for (mint, len) in ranges {
                let expected = series.decode(mint, mint + len);
                let started = series.decode_both_into(mint, mint + len, (&mut out, &mut histograms), &mut starts, &mut scratch);
                prop_assert_eq!(bits(&out), bits(&expected.as_ref().map(|s| s.samples.clone()).unwrap_or_default()));
                prop_assert!(histograms.is_empty());
                let expected_starts = expected.and_then(|s| s.starts).map(|s| *s);
                prop_assert_eq!(started, expected_starts.is_some());
                prop_assert_eq!(starts.clone(), expected_starts.unwrap_or_default());
            }
        }
    }
}
