//! A select's answer as the storage holds it: per series and source (the head, then the
//! blocks), the XOR chunks lying wholly inside the range still encoded, the in-range samples
//! of chunks only partly inside it decoded, and beside them the head's out-of-order samples
//! and the blocks' deleted intervals. Native histograms and start times travel the same way.

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
    /// otherwise (every start 0). Overrides have none. Start times (Prometheus' `st-storage`)
    /// travel here beside the decoded samples and in the XOR2 and float histogram ST chunks.
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
/// timestamps the earlier part wins (the head, then newer blocks), whichever kind (float or
/// histogram) it holds.
///
/// A shard answers with these: for a long range its executor only copies compressed bytes
/// (about 1.3 bytes per sample instead of 16 decoded) and the decoding (`decode`) runs where
/// the samples are used, on the PromQL evaluation thread; for a short one (an instant query's
/// lookback, a chunk holding hours) the shards decode the few samples it needs, in parallel,
/// instead of shipping whole chunks to one evaluation thread (measured: shipping them made
/// `count by (job) (up)` over 20k series 50% slower).
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
    /// Only the floats, without start times: a series with native histograms gives the floats
    /// `decode` gives.
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
mod tests;
