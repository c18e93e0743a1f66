//! Chunk encodings. Only XOR (Gorilla) for floats so far, bit-compatible with Prometheus'
//! `chunkenc.XORChunk` so the same bytes can go into Prometheus-format blocks.

pub mod bits;
pub mod xor;

pub use xor::{decode_kept, xor_num_samples, XorAppender, XorChunk, XorIterator};

/// Samples per chunk before a new one is cut (Prometheus' target).
pub const SAMPLES_PER_CHUNK_MAX: u16 = 120;

/// Samples per chunk in blocks written by compaction: adjacent chunks of a series are
/// joined up to this many. Each chunk costs about 20 bytes of its own (record header,
/// CRC, a full first timestamp and value, an index entry), so sparse series (24 samples
/// per 2 h at a 5-minute interval) and 120-sample chunks alike take less room per sample;
/// reading a short range decodes at most this many samples per chunk.
pub const COMPACTED_SAMPLES_PER_CHUNK_MAX: u16 = 240;
