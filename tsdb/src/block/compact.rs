//! The compaction executor: merges parent blocks into one new block, series by series in
//! label order (a k-way walk over the parents' sorted indexes), so memory holds one series'
//! samples plus the new index. Equal timestamps keep the newer block's sample (higher ULID,
//! as reads do); tombstones are applied. Chunks are copied undecoded when no tombstone and
//! no overlap touches the series. The result is left in `<ULID>.tmp/`: the shard commits it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::index_format::IndexSeries;
use super::meta::{BlockCompaction, BlockMeta, BlockParent};
use super::reader::Block;
use super::stream_writer::{RawChunk, StreamBlockWriter};
use super::tombstones::Tombstones;
use super::writer::{CHUNKS_DIRNAME, TMP_SUFFIX};
use crate::chunk::XorIterator;
use crate::error::Error;
use crate::merge::merge_samples;
use crate::model::{Labels, Sample};

/// One planned compaction: everything the merge thread needs (it is `Send` and reads the
/// parents from disk, so the shard keeps serving meanwhile).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionJob {
    pub shard_dir: PathBuf,
    /// The new block's ULID.
    pub ulid: String,
    /// Parent ULIDs, oldest first (later parents win equal timestamps).
    pub parents: Vec<String>,
}

/// A finished merge, written but not committed.
#[derive(Debug)]
pub struct CompactionOutput {
    pub job: CompactionJob,
    /// The tombstones applied per parent (in `job.parents` order): the shard commits only if
    /// each parent still has exactly these, so a delete made meanwhile is never lost.
    pub tombstones_applied: Vec<Tombstones>,
    /// The new block's meta, or `None` when the parents held no live data (nothing written).
    pub meta: Option<BlockMeta>,
    /// Bytes of the parents' chunk segments and of the new block's.
    pub chunk_bytes_in: u64,
    pub chunk_bytes_out: u64,
    pub seconds: f64,
}

/// One parent's walk over its series in label order.
struct Cursor {
    block: Block,
    ids: Vec<u32>,
    next: usize,
    current: Option<(u32, IndexSeries)>,
}

impl Cursor {
    fn advance(&mut self) -> Result<(), Error> {
        self.current = match self.ids.get(self.next) {
            Some(&id) => Some((id, self.block.index_series(id)?)),
            None => None,
        };
        self.next += 1;
        Ok(())
    }
}

fn chunk_dir_bytes(block_dir: &Path) -> u64 {
    let dir = block_dir.join(CHUNKS_DIRNAME);
    std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// The lineage of a block made from `parents`: level one above the highest, sources united.
pub fn merged_lineage(parents: &[BlockMeta]) -> BlockCompaction {
    let mut sources: Vec<String> = parents.iter().flat_map(|p| p.compaction.sources.iter().cloned()).collect();
    sources.sort();
    sources.dedup();
    BlockCompaction {
        level: parents.iter().map(|p| p.compaction.level).max().unwrap_or(0) + 1,
        sources,
        parents: parents
            .iter()
            .map(|p| BlockParent { ulid: p.ulid.clone(), min_time_ms: p.min_time_ms, max_time_ms: p.max_time_ms })
            .collect(),
    }
}

impl CompactionJob {
    /// Merges the parents into `<shard_dir>/<ulid>.tmp/` (fsynced, not renamed). On error
    /// the temporary directory is removed.
    pub fn run(self) -> Result<CompactionOutput, Error> {
        let tmp = self.shard_dir.join(format!("{}{TMP_SUFFIX}", self.ulid));
        let result = self.merge();
        if result.is_err() && tmp.exists() {
            if let Err(e) = std::fs::remove_dir_all(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %e, "could not remove a failed compaction's directory");
            }
        }
        result
    }

    fn merge(self) -> Result<CompactionOutput, Error> {
        let started = Instant::now();
        debug_assert!(!self.parents.is_empty(), "a compaction has parents");
        debug_assert!(self.parents.windows(2).all(|w| w[0] < w[1]), "parents are sorted by ULID");
        let mut cursors = Vec::with_capacity(self.parents.len());
        let mut chunk_bytes_in = 0;
        for ulid in &self.parents {
            let block = Block::open(&self.shard_dir.join(ulid))?;
            chunk_bytes_in += chunk_dir_bytes(block.dir());
            let ids = block.series_ids()?;
            let mut cursor = Cursor { block, ids, next: 0, current: None };
            cursor.advance()?;
            cursors.push(cursor);
        }
        let metas: Vec<BlockMeta> = cursors.iter().map(|c| c.block.meta.clone()).collect();
        let tombstones_applied: Vec<Tombstones> = cursors.iter().map(|c| c.block.tombstones().clone()).collect();
        let min_time_ms = metas.iter().map(|m| m.min_time_ms).min().unwrap_or(0);
        let max_time_ms = metas.iter().map(|m| m.max_time_ms).max().unwrap_or(1);
        let mut writer = StreamBlockWriter::create(&self.shard_dir, &self.ulid, min_time_ms, max_time_ms)?;
        loop {
            let Some(labels) = cursors.iter().filter_map(|c| c.current.as_ref().map(|(_, s)| &s.labels)).min().cloned() else {
                break;
            };
            // Parents holding this series, oldest first.
            let mut parts: Vec<(usize, u32, IndexSeries)> = Vec::new();
            for (i, c) in cursors.iter_mut().enumerate() {
                if c.current.as_ref().is_some_and(|(_, s)| s.labels == labels) {
                    if let Some((id, s)) = c.current.take() {
                        parts.push((i, id, s));
                    }
                    c.advance()?;
                }
            }
            write_series(&mut writer, &cursors, labels, parts)?;
        }
        let meta = if writer.num_series() == 0 {
            let tmp = writer.tmp_dir().to_path_buf();
            drop(writer);
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
            None
        } else {
            Some(writer.finish(merged_lineage(&metas))?.1)
        };
        let chunk_bytes_out = if meta.is_some() { chunk_dir_bytes(&self.shard_dir.join(format!("{}{TMP_SUFFIX}", self.ulid))) } else { 0 };
        Ok(CompactionOutput {
            job: self,
            tombstones_applied,
            meta,
            chunk_bytes_in,
            chunk_bytes_out,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Writes one series from its parts (`(cursor index, series id, index entry)`, oldest parent
/// first): chunks copied as they are when nothing is deleted and no two chunks overlap in
/// time, else decoded, filtered, merged (newest parent wins a timestamp) and re-encoded.
fn write_series(writer: &mut StreamBlockWriter, cursors: &[Cursor], labels: Labels, parts: Vec<(usize, u32, IndexSeries)>) -> Result<(), Error> {
    let untouched = parts.iter().all(|(i, id, _)| cursors[*i].block.tombstones().intervals(*id).is_empty());
    let mut chunks: Vec<(usize, super::index_format::ChunkMeta)> =
        parts.iter().flat_map(|(i, _, s)| s.chunks.iter().map(move |c| (*i, *c))).collect();
    chunks.sort_by_key(|(_, c)| (c.min_time_ms, c.max_time_ms));
    let disjoint = chunks.windows(2).all(|w| w[0].1.max_time_ms < w[1].1.min_time_ms);
    if untouched && disjoint {
        let mut raw = Vec::with_capacity(chunks.len());
        for (i, c) in chunks {
            let xor = cursors[i].block.read_chunk(c.chunk_ref)?;
            let num_samples = match xor.get(..2) {
                Some(h) => u64::from(u16::from_be_bytes([h[0], h[1]])),
                None => 0,
            };
            raw.push(RawChunk { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms, num_samples, xor });
        }
        return writer.add_raw_chunks(labels, &raw);
    }
    // Newest parent first: `merge_samples` keeps the first source's sample on a tie.
    let mut sources: Vec<Vec<Sample>> = Vec::with_capacity(parts.len());
    for (i, id, s) in parts.iter().rev() {
        let block = &cursors[*i].block;
        let deleted = block.tombstones().intervals(*id);
        let mut samples = Vec::new();
        for c in &s.chunks {
            if Tombstones::covers(deleted, c.min_time_ms, c.max_time_ms) {
                continue;
            }
            let bytes = block.read_chunk(c.chunk_ref)?;
            let mut it = XorIterator::new(&bytes);
            samples.extend(it.by_ref().filter(|x| !Tombstones::is_deleted(deleted, x.timestamp_ms)));
            if it.error() {
                return Err(Error::corrupt(
                    block.dir().join(CHUNKS_DIRNAME),
                    format!("XOR chunk {:#x} of {} is malformed", c.chunk_ref, s.labels),
                ));
            }
        }
        // Chunks of one series in one block do not overlap, but keep the merge input sorted
        // whatever wrote the block.
        if !samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms) {
            samples = merge_samples(samples.into_iter().map(|s| vec![s]).collect());
        }
        sources.push(samples);
    }
    let merged = merge_samples(sources);
    writer.add_samples(labels, &merged)
}
