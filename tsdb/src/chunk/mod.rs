//! Chunk encodings, bit-compatible with Prometheus' `chunkenc` so the same bytes go into
//! Prometheus-format blocks: XOR (Gorilla) for floats (`XORChunk`) and float histograms
//! (`FloatHistogramChunk`), and their variants that carry a start time per sample (`XOR2Chunk`,
//! `FloatHistogramSTChunk`).

pub mod bits;
pub mod float_histogram;
pub mod float_histogram_st;
pub mod start_times;
pub mod varbit;
pub mod xor;
pub mod xor2;

#[cfg(test)]
mod prometheus_cross_check;

pub use float_histogram::{
    decode_histograms_kept, encode_histogram_chunks, Appendable, CounterResetHeader, EncodedHistogramChunk, FloatHistogramAppender, FloatHistogramIterator,
    HISTOGRAM_SAMPLES_PER_CHUNK_MAX,
};
pub use float_histogram_st::{decode_float_histograms_st_kept, float_histogram_st_num_samples, FloatHistogramStAppender, FloatHistogramStIterator, HISTOGRAM_ST_SAMPLES_MAX};
pub use start_times::{StartedHistogram, StartedSample, FIRST_START_CHANGE_INDEX_MAX};
pub use xor::{decode_kept, xor_num_samples, XorAppender, XorChunk, XorIterator};
pub use xor2::{decode_xor2_kept, xor2_num_samples, Xor2Appender, Xor2Iterator, XOR2_HEADER_BYTES};

use crate::model::{HistogramSample, Sample};

/// A chunk's encoding, numbered as Prometheus' `chunkenc.Encoding` (the byte before a
/// chunk's data in a block's chunk segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum ChunkEncoding {
    /// Float samples (`EncXOR`).
    #[default]
    Xor = 1,
    /// Float native histograms (`EncFloatHistogram`).
    FloatHistogram = 3,
    /// Float samples with start times (`EncXOR2`).
    Xor2 = 4,
    /// Float native histograms with start times (`EncFloatHistogramST`).
    FloatHistogramSt = 6,
}

impl ChunkEncoding {
    /// The encoding of byte `byte`, if Metricstor reads it (integer histograms, 2 and their
    /// start-time variant 5, are converted before they are stored and never written).
    pub fn from_u8(byte: u8) -> Option<ChunkEncoding> {
        match byte {
            1 => Some(ChunkEncoding::Xor),
            3 => Some(ChunkEncoding::FloatHistogram),
            4 => Some(ChunkEncoding::Xor2),
            6 => Some(ChunkEncoding::FloatHistogramSt),
            _ => None,
        }
    }

    /// True for the encodings of native histograms, false for those of floats.
    pub fn holds_histograms(self) -> bool {
        match self {
            ChunkEncoding::Xor | ChunkEncoding::Xor2 => false,
            ChunkEncoding::FloatHistogram | ChunkEncoding::FloatHistogramSt => true,
        }
    }

    /// True for the encodings that carry a start time per sample.
    pub fn has_start_times(self) -> bool {
        match self {
            ChunkEncoding::Xor | ChunkEncoding::FloatHistogram => false,
            ChunkEncoding::Xor2 | ChunkEncoding::FloatHistogramSt => true,
        }
    }

    /// The sample count in the header of a chunk of this encoding (0 when too short).
    pub fn num_samples(self, bytes: &[u8]) -> u16 {
        match self {
            ChunkEncoding::Xor | ChunkEncoding::FloatHistogram => xor_num_samples(bytes),
            ChunkEncoding::Xor2 => xor2_num_samples(bytes),
            ChunkEncoding::FloatHistogramSt => float_histogram_st_num_samples(bytes),
        }
    }
}

/// Appends the samples of a chunk of any encoding whose timestamp `keep` accepts, floats to
/// `floats` and histograms to `histograms`, in order; false when the bytes are malformed.
/// Start times are not kept: a caller that keeps them uses `decode_xor2_kept` and
/// `decode_float_histograms_st_kept`.
pub fn decode_chunk_kept(encoding: ChunkEncoding, bytes: &[u8], floats: &mut Vec<Sample>, histograms: &mut Vec<HistogramSample>, keep: impl Fn(i64) -> bool) -> bool {
    match encoding {
        ChunkEncoding::Xor => decode_kept(bytes, floats, keep),
        ChunkEncoding::Xor2 => decode_xor2_kept(bytes, floats, None, keep),
        ChunkEncoding::FloatHistogram => decode_histograms_kept(bytes, histograms, keep),
        ChunkEncoding::FloatHistogramSt => decode_float_histograms_st_kept(bytes, histograms, None, keep),
    }
}

/// `decode_chunk_kept` that also appends each decoded sample's start time to `float_starts`
/// or `histogram_starts`, parallel to what it appends to `floats` and `histograms` (0 for a
/// chunk of an encoding without start times).
pub fn decode_chunk_kept_with_starts(
    encoding: ChunkEncoding,
    bytes: &[u8],
    (floats, float_starts): (&mut Vec<Sample>, &mut Vec<i64>),
    (histograms, histogram_starts): (&mut Vec<HistogramSample>, &mut Vec<i64>),
    keep: impl Fn(i64) -> bool,
) -> bool {
    match encoding {
        ChunkEncoding::Xor => {
            let decoded = decode_kept(bytes, floats, keep);
            float_starts.resize(floats.len(), 0);
            decoded
        }
        ChunkEncoding::Xor2 => decode_xor2_kept(bytes, floats, Some(float_starts), keep),
        ChunkEncoding::FloatHistogram => {
            let decoded = decode_histograms_kept(bytes, histograms, keep);
            histogram_starts.resize(histograms.len(), 0);
            decoded
        }
        ChunkEncoding::FloatHistogramSt => decode_float_histograms_st_kept(bytes, histograms, Some(histogram_starts), keep),
    }
}

/// Samples per chunk before a new one is cut (Prometheus' target).
pub const SAMPLES_PER_CHUNK_MAX: u16 = 120;

/// Samples per chunk in blocks written by compaction: adjacent chunks of a series are
/// joined up to this many. Each chunk costs about 20 bytes of its own (record header,
/// CRC, a full first timestamp and value, an index entry), so sparse series (24 samples
/// per 2 h at a 5-minute interval) and 120-sample chunks alike take less room per sample;
/// reading a short range decodes at most this many samples per chunk.
pub const COMPACTED_SAMPLES_PER_CHUNK_MAX: u16 = 240;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_are_numbered_as_prometheus_numbers_them() {
        let known: Vec<(u8, ChunkEncoding)> = (0..=255u8).filter_map(|b| ChunkEncoding::from_u8(b).map(|e| (b, e))).collect();
        use ChunkEncoding as E;
        assert_eq!(known, vec![(1, E::Xor), (3, E::FloatHistogram), (4, E::Xor2), (6, E::FloatHistogramSt)], "integer histograms (2, 5) are not read");
        for (byte, encoding) in known {
            assert_eq!(encoding as u8, byte);
        }
        assert!(!E::Xor2.holds_histograms() && E::FloatHistogramSt.holds_histograms());
        assert!(E::Xor2.has_start_times() && !E::FloatHistogram.has_start_times());
    }

    #[test]
    fn counts_and_decoding_follow_each_encoding() {
        let h = crate::model::FloatHistogram { counter_reset_hint: crate::model::CounterResetHint::Gauge, count: 1.0, sum: 1.0, ..Default::default() };
        let mut gauge = FloatHistogramStAppender::new(CounterResetHeader::Gauge);
        let mut plain = FloatHistogramAppender::new(CounterResetHeader::Gauge);
        for t in 0..3 {
            gauge.append(t + 100, t, &h);
            plain.append(t, &h);
        }
        // The reset bits sit atop the 14-bit count: read as 16 bits they would be 49155.
        assert_eq!(xor_num_samples(gauge.bytes()), 0xC003);
        assert_eq!(ChunkEncoding::FloatHistogramSt.num_samples(gauge.bytes()), 3);
        assert_eq!(ChunkEncoding::FloatHistogram.num_samples(plain.bytes()), 3);
        let mut xor2 = Xor2Appender::default();
        xor2.append(5, 10, 1.5);
        let (mut floats, mut histograms) = (Vec::new(), Vec::new());
        assert!(decode_chunk_kept(ChunkEncoding::Xor2, xor2.bytes(), &mut floats, &mut histograms, |_| true));
        assert!(decode_chunk_kept(ChunkEncoding::FloatHistogramSt, gauge.bytes(), &mut floats, &mut histograms, |t| t > 0));
        assert_eq!(floats, vec![Sample { timestamp_ms: 10, value: 1.5 }]);
        assert_eq!(histograms.iter().map(|h| h.timestamp_ms).collect::<Vec<_>>(), vec![1, 2]);
        assert!(!decode_chunk_kept(ChunkEncoding::Xor2, &xor2.bytes()[..4], &mut floats, &mut histograms, |_| true));
        assert!(!decode_chunk_kept(ChunkEncoding::FloatHistogramSt, &gauge.bytes()[..2], &mut floats, &mut histograms, |_| true));
    }
}
