//! Chunk encodings. Only XOR (Gorilla) for floats so far, bit-compatible with Prometheus'
//! `chunkenc.XORChunk` so the same bytes can go into Prometheus-format blocks.

pub mod bits;
pub mod xor;

pub use xor::{XorAppender, XorChunk, XorIterator};

/// Samples per chunk before a new one is cut (Prometheus' target).
pub const SAMPLES_PER_CHUNK_MAX: u16 = 120;
