//! The compaction executor: merges parent blocks into one new block, series by series in
//! label order (a k-way walk over the parents' sorted indexes), so memory holds one series'
//! samples plus the new index. The result is left in `<ULID>.tmp/`: the shard commits it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::index_format::IndexSeries;
use super::meta::{BlockCompaction, BlockMeta, BlockParent};
use super::reader::Block;
use super::stream_writer::{RawChunk, StreamBlockWriter};
use super::tombstones::Tombstones;
use super::writer::{CHUNKS_DIRNAME, TMP_SUFFIX};
use crate::chunk::{decode_chunk_kept, decode_chunk_kept_with_starts, ChunkEncoding, XorAppender, COMPACTED_SAMPLES_PER_CHUNK_MAX};
use crate::error::Error;
use crate::merge::{merge_mixed, merge_samples, merge_started};
use crate::model::{HistogramSample, Labels, Sample, SampleStarts};

/// Page cache of each parent block during a merge (its series entries and chunks are read
/// once, in order, so a page of each serves many neighbouring series).
const MERGE_CACHE_BYTES_PER_PARENT: u64 = 4 * super::PAGE_BYTES as u64;

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
            // A merge reads each parent's index and chunks once, in order: a few pages of
            // cache per parent serve neighbouring series without holding the shard's cache
            // size again.
            let block = Block::open_in(&self.shard_dir.join(ulid), &super::PageCache::new(MERGE_CACHE_BYTES_PER_PARENT))?;
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
/// first). When nothing is deleted and no two chunks overlap in time, runs of adjacent
/// chunks that fit in `COMPACTED_SAMPLES_PER_CHUNK_MAX` samples together are joined into
/// one (mostly by copying their bits) and every other chunk is copied undecoded (float
/// histogram chunks are never joined); else the samples and histograms are decoded, filtered
/// by the tombstones, merged (the newest parent, with the higher ULID, wins a timestamp
/// whichever kind it holds there, as reads do) and re-encoded.
fn write_series(writer: &mut StreamBlockWriter, cursors: &[Cursor], labels: Labels, parts: Vec<(usize, u32, IndexSeries)>) -> Result<(), Error> {
    let untouched = parts.iter().all(|(i, id, _)| cursors[*i].block.tombstones().intervals(*id).is_empty());
    let mut chunks: Vec<(usize, super::index_format::ChunkMeta)> =
        parts.iter().flat_map(|(i, _, s)| s.chunks.iter().map(move |c| (*i, *c))).collect();
    chunks.sort_by_key(|(_, c)| (c.min_time_ms, c.max_time_ms));
    let disjoint = chunks.windows(2).all(|w| w[0].1.max_time_ms < w[1].1.min_time_ms);
    if untouched && disjoint {
        let mut out = Vec::with_capacity(chunks.len());
        let mut run: Vec<(usize, RawChunk)> = Vec::new();
        let mut run_samples = 0;
        for (i, c) in chunks {
            let (encoding, bytes) = cursors[i].block.read_chunk(c.chunk_ref)?;
            let num_samples = u64::from(encoding.num_samples(&bytes));
            let chunk = RawChunk { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms, num_samples, encoding, bytes: bytes.into() };
            if encoding != ChunkEncoding::Xor {
                join_chunks(cursors, &labels, std::mem::take(&mut run), &mut out)?;
                run_samples = 0;
                out.push(chunk);
                continue;
            }
            if run_samples + num_samples > u64::from(COMPACTED_SAMPLES_PER_CHUNK_MAX) {
                join_chunks(cursors, &labels, std::mem::take(&mut run), &mut out)?;
                run_samples = 0;
            }
            run_samples += num_samples;
            run.push((i, chunk));
        }
        join_chunks(cursors, &labels, run, &mut out)?;
        return writer.add_raw_chunks(labels, &out);
    }
    // Newest parent first: the merges keep the first source's sample on a tie.
    let mut sources: Vec<(Vec<Sample>, Vec<HistogramSample>)> = Vec::with_capacity(parts.len());
    // Each source's start times (parallel to its two lists), from its first chunk with them on.
    let mut source_starts: Vec<Option<Box<SampleStarts>>> = Vec::with_capacity(parts.len());
    for (i, id, s) in parts.iter().rev() {
        let block = &cursors[*i].block;
        let deleted = block.tombstones().intervals(*id);
        let (mut samples, mut histograms) = (Vec::new(), Vec::new());
        let mut starts: Option<Box<SampleStarts>> = None;
        for c in &s.chunks {
            if Tombstones::covers(deleted, c.min_time_ms, c.max_time_ms) {
                continue;
            }
            let (encoding, bytes) = block.read_chunk(c.chunk_ref)?;
            let keep = |t: i64| !Tombstones::is_deleted(deleted, t);
            if encoding.has_start_times() && starts.is_none() {
                starts = Some(Box::new(SampleStarts { floats: vec![0; samples.len()], histograms: vec![0; histograms.len()] }));
            }
            let decoded = match starts.as_deref_mut() {
                Some(SampleStarts { floats, histograms: histogram_starts }) => {
                    decode_chunk_kept_with_starts(encoding, &bytes, (&mut samples, floats), (&mut histograms, histogram_starts), keep)
                }
                None => decode_chunk_kept(encoding, &bytes, &mut samples, &mut histograms, keep),
            };
            if !decoded {
                return Err(Error::corrupt(
                    block.dir().join(CHUNKS_DIRNAME),
                    format!("{encoding:?} chunk {:#x} of {} is malformed", c.chunk_ref, s.labels),
                ));
            }
        }
        // Chunks of one series in one block do not overlap, but keep the merge input sorted
        // whatever wrote the block (a series with start times: `merge_started` sorts).
        if starts.is_some() {
            sources.push((samples, histograms));
            source_starts.push(starts);
            continue;
        }
        source_starts.push(None);
        if !samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms) {
            samples = merge_samples(samples.into_iter().map(|s| vec![s]).collect());
        }
        if !histograms.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms) {
            histograms.sort_by_key(|h| h.timestamp_ms);
            histograms.dedup_by_key(|h| h.timestamp_ms);
        }
        sources.push((samples, histograms));
    }
    if source_starts.iter().any(Option::is_some) {
        let started = sources.into_iter().zip(source_starts).map(|((samples, histograms), starts)| (samples, histograms, starts)).collect();
        let (samples, histograms, starts) = merge_started(started);
        return match starts {
            Some(starts) => writer.add_series_with_starts(labels, &samples, &histograms, &starts),
            None => writer.add_series(labels, &samples, &histograms),
        };
    }
    if sources.iter().all(|(_, h)| h.is_empty()) {
        let merged = merge_samples(sources.into_iter().map(|(s, _)| s).collect());
        return writer.add_samples(labels, &merged);
    }
    let (samples, histograms) = merge_mixed(sources);
    writer.add_series(labels, &samples, &histograms)
}

/// Adds a run of adjacent, time-ordered chunks (each with its parent's cursor index) to
/// `out`: a lone chunk as it is, several joined into one by copying their bits
/// (`XorAppender::append_chunk`; the last chunk's tail is copied undecoded, as a lone chunk
/// is).
fn join_chunks(cursors: &[Cursor], labels: &Labels, mut run: Vec<(usize, RawChunk)>, out: &mut Vec<RawChunk>) -> Result<(), Error> {
    if run.len() <= 1 {
        out.extend(run.pop().map(|(_, c)| c));
        return Ok(());
    }
    let malformed = |i: usize, c: &RawChunk| {
        Error::corrupt(cursors[i].block.dir().join(CHUNKS_DIRNAME), format!("XOR chunk of {labels} at {} is malformed", c.min_time_ms))
    };
    let (Some((_, first)), Some((last_cursor, last))) = (run.first(), run.last()) else {
        return Ok(());
    };
    let mut joined = XorAppender::default();
    for (i, c) in &run[..run.len() - 1] {
        if !joined.append_chunk(&c.bytes) {
            return Err(malformed(*i, c));
        }
    }
    let Some(joined) = joined.into_chunk_with(&last.bytes) else {
        return Err(malformed(*last_cursor, last));
    };
    out.push(RawChunk {
        min_time_ms: first.min_time_ms,
        max_time_ms: last.max_time_ms,
        num_samples: u64::from(joined.num_samples()),
        encoding: ChunkEncoding::Xor,
        bytes: joined.bytes,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{commit_tmp, new_ulid, write_block};
    use crate::model::{MatchOp, Matcher};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// One input sample: series index, timestamp, value kind, raw bits, target block.
    type Input = (usize, i64, u8, u64, usize);
    /// A tombstone: block, series index, first and last deleted timestamp.
    type Stone = (usize, usize, i64, i64);

    fn value(kind: u8, bits: u64, t: i64) -> f64 {
        match kind % 4 {
            0 => f64::from_bits(bits),
            1 => f64::from_bits(crate::STALE_NAN_BITS),
            2 => f64::NAN,
            _ => t as f64 * 0.5,
        }
    }

    fn series_labels(i: usize) -> Labels {
        Labels::from_pairs([("__name__", "m".to_string()), ("s", i.to_string())])
    }

    /// Writes the input as `blocks` blocks (each covering its own samples' span, so they may
    /// overlap or not), applies the tombstones, compacts them all and checks the result
    /// against a model: per timestamp the newest block's live sample, bits exact.
    fn check_compaction(inputs: &[Input], blocks: usize, stones: &[Stone]) -> Result<(), TestCaseError> {
        let dir = tempfile::tempdir().expect("tempdir");
        // Per block, per series: timestamp → bits (a later input replaces an earlier one).
        let mut per_block: Vec<BTreeMap<usize, BTreeMap<i64, u64>>> = vec![BTreeMap::new(); blocks];
        for &(s, t, kind, bits, b) in inputs {
            per_block[b % blocks].entry(s).or_default().insert(t, value(kind, bits, t).to_bits());
        }
        let mut ulids = Vec::new();
        let mut model: BTreeMap<usize, BTreeMap<i64, u64>> = BTreeMap::new();
        for (b, series) in per_block.iter().enumerate() {
            let ts: Vec<i64> = series.values().flat_map(|m| m.keys().copied()).collect();
            let (Some(&lo), Some(&hi)) = (ts.iter().min(), ts.iter().max()) else {
                continue;
            };
            let ulid = new_ulid(1000 + b as u64);
            let input: Vec<(Labels, Vec<Sample>)> = series
                .iter()
                .map(|(s, m)| (series_labels(*s), m.iter().map(|(t, v)| Sample { timestamp_ms: *t, value: f64::from_bits(*v) }).collect()))
                .collect();
            let (path, _) = write_block(dir.path(), &ulid, lo, hi + 1, input).expect("write");
            let mut block = Block::open(&path).expect("open");
            let mut deleted: Vec<(usize, i64, i64)> = Vec::new();
            for &(sb, s, a, len) in stones {
                if sb % blocks == b {
                    let m = Matcher::new(MatchOp::Equal, "s", s.to_string()).expect("matcher");
                    block.delete(&[m], a, a + len).expect("delete");
                    deleted.push((s, a, a + len));
                }
            }
            for (s, m) in series {
                for (t, v) in m {
                    if !deleted.iter().any(|&(ds, a, z)| ds == *s && a <= *t && *t <= z) {
                        model.entry(*s).or_default().insert(*t, *v);
                    }
                }
            }
            ulids.push(ulid);
        }
        if ulids.is_empty() {
            return Ok(());
        }
        let new = new_ulid(5000);
        let job = CompactionJob { shard_dir: dir.path().to_path_buf(), ulid: new.clone(), parents: ulids.clone() };
        let out = job.run().expect("compaction");
        model.retain(|_, m| !m.is_empty());
        let Some(meta) = out.meta else {
            prop_assert!(model.is_empty(), "no block only when nothing is left");
            let tmp = dir.path().join(format!("{new}{TMP_SUFFIX}"));
            prop_assert!(!tmp.exists(), "nothing left behind");
            return Ok(());
        };
        prop_assert_eq!(meta.compaction.level, 2);
        prop_assert_eq!(&meta.compaction.parents.iter().map(|p| p.ulid.clone()).collect::<Vec<_>>(), &ulids);
        let mut sources = ulids.clone();
        sources.sort();
        prop_assert_eq!(&meta.compaction.sources, &sources);
        let path = commit_tmp(dir.path(), &meta.ulid).expect("commit");
        let merged = Block::open(&path).expect("open merged");
        prop_assert_eq!(&merged.meta, &meta, "meta.json is what the writer returned");
        let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
        let got = merged.select(&[all], i64::MIN, i64::MAX).expect("select");
        let got: BTreeMap<Labels, Vec<(i64, u64)>> =
            got.into_iter().map(|s| (s.labels, s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect())).collect();
        let want: BTreeMap<Labels, Vec<(i64, u64)>> =
            model.iter().map(|(s, m)| (series_labels(*s), m.iter().map(|(t, v)| (*t, *v)).collect())).collect();
        prop_assert_eq!(&got, &want);
        let samples: usize = want.values().map(Vec::len).sum();
        prop_assert_eq!(meta.stats.num_samples, samples as u64);
        prop_assert_eq!(meta.stats.num_series, want.len() as u64);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Random streams (in and out of order, duplicates, NaN, stale markers) split over
        /// 1–4 possibly overlapping blocks with random tombstones compact to the expected merge.
        #[test]
        fn compaction_equals_the_newest_block_wins_merge(
            inputs in proptest::collection::vec((0usize..4, 0i64..3_000, any::<u8>(), any::<u64>(), 0usize..4), 0..600),
            blocks in 1usize..5,
            stones in proptest::collection::vec((0usize..4, 0usize..4, 0i64..3_000, 0i64..500), 0..4),
            by_time in any::<bool>(),
        ) {
            // Half the cases put samples in blocks by time slot (adjacent blocks, the chunk
            // copy path), the others wherever the input says (overlapping blocks).
            let inputs: Vec<Input> = if by_time {
                inputs.into_iter().map(|(s, t, k, b, _)| (s, t, k, b, (t / 750) as usize)).collect()
            } else {
                inputs
            };
            check_compaction(&inputs, blocks, &stones)?;
        }
    }

    #[test]
    fn adjacent_blocks_copy_chunks_and_overlap_merges_newest_first() {
        // Same series in two blocks, same timestamp 100: the newer block's value wins.
        let inputs = vec![(0, 100, 0, 1.0f64.to_bits(), 0), (0, 100, 0, 2.0f64.to_bits(), 1), (0, 50, 0, 3.0f64.to_bits(), 1)];
        check_compaction(&inputs, 2, &[]).expect("overlap");
        // Everything deleted: no block is written.
        check_compaction(&[(1, 10, 3, 0, 0), (1, 20, 3, 0, 1)], 2, &[(0, 1, 0, 100), (1, 1, 0, 100)]).expect("all deleted");
    }

    /// Compacts blocks `parents` under `dir` into a new block and commits it.
    fn compact_now(dir: &Path, ulid: u64, parents: Vec<String>) -> (String, CompactionOutput) {
        let ulid = new_ulid(ulid);
        let out = CompactionJob { shard_dir: dir.to_path_buf(), ulid: ulid.clone(), parents }.run().expect("compact");
        commit_tmp(dir, &ulid).expect("commit");
        (ulid, out)
    }

    #[test]
    fn adjacent_chunks_are_joined_then_copied_as_they_are() {
        // Four adjacent blocks of 240 samples: two cut chunks of 120 each.
        let dir = tempfile::tempdir().expect("tempdir");
        let mut blocks = Vec::new();
        for b in 0..4i64 {
            let samples: Vec<Sample> = (b * 240..(b + 1) * 240).map(|t| Sample { timestamp_ms: t, value: (t * t) as f64 }).collect();
            let ulid = new_ulid(10 + b as u64);
            write_block(dir.path(), &ulid, b * 240, (b + 1) * 240, vec![(series_labels(0), samples)]).expect("write");
            blocks.push(ulid);
        }
        // Pairs of 120-sample chunks are joined into 240-sample chunks, which take less room.
        let (left, out) = compact_now(dir.path(), 20, blocks[..2].to_vec());
        let meta = out.meta.expect("a block");
        assert_eq!((meta.stats.num_chunks, meta.stats.num_samples), (2, 480));
        assert!(out.chunk_bytes_out < out.chunk_bytes_in, "{} bytes in, {} out", out.chunk_bytes_in, out.chunk_bytes_out);
        let (right, _) = compact_now(dir.path(), 21, blocks[2..].to_vec());
        // Full chunks are copied: the same chunk bytes, one segment header less.
        let (all, out) = compact_now(dir.path(), 22, vec![left, right]);
        let meta = out.meta.expect("a block");
        assert_eq!((meta.stats.num_chunks, meta.stats.num_samples), (4, 960));
        assert_eq!(out.chunk_bytes_in, out.chunk_bytes_out + 8, "copied as they are");
        let merged = Block::open(&dir.path().join(&all)).expect("open");
        let got = merged.select(&[], i64::MIN, i64::MAX).expect("select");
        let want: Vec<Sample> = (0..960).map(|t| Sample { timestamp_ms: t, value: (t * t) as f64 }).collect();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, want);
    }

    #[test]
    fn lineage_takes_the_highest_level_and_unites_sources() {
        let meta = |ulid: &str, level, sources: &[&str]| BlockMeta {
            ulid: ulid.into(),
            min_time_ms: 0,
            max_time_ms: 10,
            stats: Default::default(),
            compaction: BlockCompaction { level, sources: sources.iter().map(|s| s.to_string()).collect(), parents: Vec::new() },
            version: 1,
        };
        let l = merged_lineage(&[meta("b", 2, &["x", "y"]), meta("c", 1, &["c"])]);
        assert_eq!(l.level, 3);
        assert_eq!(l.sources, vec!["c", "x", "y"]);
        assert_eq!(l.parents.iter().map(|p| p.ulid.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        let json = String::from_utf8(meta("z", 1, &[]).to_json()).expect("utf8");
        assert!(!json.contains("parents"), "no parents key for a cut block: {json}");
    }
}
