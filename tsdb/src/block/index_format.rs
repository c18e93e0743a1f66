//! The block `index` file, Prometheus index format v2 (`tsdb/docs/block.md`): symbol
//! table, 16-byte-aligned series (id = offset / 16) with delta-encoded chunk metas, label
//! indices, postings (incl. the all-series `""=""` list), label and postings offset
//! tables and the TOC, every section checksummed with CRC32C.

use crate::model::Labels;

/// Encoding builds the file in memory.
mod encode;
/// The reader keeps resident only the decoded symbols, the decoded postings offset table
/// (label name → value → offset, which also answers label listings) and the all-series
/// postings offset, read at open as exact ranges that bypass the page cache; series entries
/// and postings lists are read on demand through the block's page cache (file
/// `INDEX_CACHE_FILE`), every read bounds- and checksum-checked. `IndexReader::new` reads an
/// index held in memory instead (tests, fuzzing).
mod reader;
#[cfg(test)]
mod tests;

pub use encode::encode_index;
pub use reader::{IndexReader, PostingsIds, INDEX_CACHE_FILE};

pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
pub const INDEX_VERSION_2: u8 = 2;
/// Series entries are aligned so that a 4-byte id (`offset / 16`) addresses 64 GiB.
pub const SERIES_ALIGN_BYTES: usize = 16;
const TOC_BYTES: usize = 6 * 8 + 4;
const HEADER_BYTES: usize = 5;

/// Where one chunk of a series lives and which samples it spans (both bounds inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// `segment index << 32 | offset in the segment` (segment index 0 is `chunks/000001`).
    pub chunk_ref: u64,
}

/// A series as stored in the index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSeries {
    pub labels: Labels,
    pub chunks: Vec<ChunkMeta>,
}
