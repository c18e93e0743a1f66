//! Reading a series: floats and histograms in a range, out-of-order data merged in, with
//! or without their start times, or still encoded for decoding elsewhere (`encoded_in`,
//! `encoded_last_in`).

use std::sync::Arc;

use super::MemSeries;
use crate::chunk::{decode_kept, decode_xor2_kept, ChunkEncoding};
use crate::encoded::{ChunkBytes, EncodedChunk, EncodedPart};
use crate::model::{HistogramSample, Sample};

/// Appends the samples of a float chunk (XOR or XOR2) that `keep` accepts to `out`, and
/// their starts to `starts` when given (kept parallel to `out`: 0 for an XOR chunk's). The
/// head's own chunks: a malformed one cannot be.
pub(super) fn decode_floats(encoding: ChunkEncoding, bytes: &[u8], out: &mut Vec<Sample>, starts: Option<&mut Vec<i64>>, keep: impl Fn(i64) -> bool) {
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

impl MemSeries {
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

    pub(super) fn floats_in(&self, mint_ms: i64, maxt_ms: i64, with_starts: bool) -> (Vec<Sample>, Option<Vec<i64>>) {
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
