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
}

impl ChunkEncoding {
    /// The encoding of byte `byte`, if Metricstor reads it (integer histograms, 2, are
    /// converted before they are stored and never written).
    pub fn from_u8(byte: u8) -> Option<ChunkEncoding> {
        match byte {
            1 => Some(ChunkEncoding::Xor),
            3 => Some(ChunkEncoding::FloatHistogram),
            _ => None,
        }
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
