//! Opening a shard: its blocks, the WAL directory's move from `wal/` (`migrate_wal_dir`),
//! settling an interrupted head cut's checkpoint, and replaying the checkpoint and WAL
//! into the head and exemplar buffer; and `close`, which syncs the WAL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::append::{apply_histogram_to_head, apply_started_to_head, apply_to_head, count_result};
use super::{AppendOutcome, ShardDb, ShardOptions, ShardStats, WAL_DIRNAME, WAL_DIRNAME_LEGACY};
use crate::block::{self, Block, PageCache};
use crate::error::Error;
use crate::exemplar::ExemplarBuffer;
use crate::head::{ChunkRanges, Head};
use crate::wal::checkpoint;
use crate::wal::{Record, Wal, WalOptions};

impl ShardDb {
    /// Opens the shard in `dir` (created if missing): opens its blocks, settles an
    /// interrupted WAL checkpoint, and replays the checkpoint and WAL into the head.
    pub async fn open(dir: &Path, options: ShardOptions) -> Result<ShardDb, Error> {
        debug_assert!(options.block_duration_ms > 0, "block duration is positive");
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let page_cache = PageCache::new(options.page_cache_bytes);
        let mut blocks = block::open_blocks_in(dir, &page_cache)?;
        let wal_dir = migrate_wal_dir(dir)?;
        // A block counts as written when its directory exists, even if it is damaged now:
        // its rename was the commit point of the checkpoint that names it.
        // A block compacted away since counts too: its data lives on in the block that lists it.
        let merged_away: std::collections::HashSet<String> = blocks
            .iter()
            .flat_map(|b| {
                let c = &b.meta.compaction;
                c.sources.iter().cloned().chain(c.parents.iter().map(|p| p.ulid.clone()))
            })
            .collect();
        let settled = checkpoint::settle(&wal_dir, |ulid| dir.join(ulid).is_dir() || merged_away.contains(ulid))?;
        // Blocks of a cut that never committed: their samples replay from the segments.
        for (first, last) in &settled.uncommitted_blocks {
            let (gone, kept): (Vec<Block>, Vec<Block>) = blocks.into_iter().partition(|b| b.meta.ulid.as_str() >= first.as_str() && b.meta.ulid.as_str() <= last.as_str());
            blocks = kept;
            for b in gone {
                let ulid = b.meta.ulid.clone();
                drop(b);
                tracing::warn!(dir = %dir.display(), block = %ulid, "removing a block of a head cut that never committed");
                block::delete_block(dir, &ulid)?;
            }
        }
        let checkpoint = settled.checkpoint;
        let mut head = Head::with_chunk_ranges(ChunkRanges::new(options.block_duration_ms));
        let mut exemplars = ExemplarBuffer::new(usize::try_from(options.max_exemplars).unwrap_or(usize::MAX).min(u32::MAX as usize));
        // WAL series refs are head ids of the process that wrote them; map them on replay.
        let mut refs: HashMap<u32, u32> = HashMap::new();
        let mut replayed = AppendOutcome::default();
        let mut unknown_refs = 0u64;
        let cut_watermark_ms = blocks.iter().map(|b| b.meta.max_time_ms).max().unwrap_or(i64::MIN);
        let mut replayed_late = 0u64;
        let wal_options = WalOptions {
            segment_bytes: options.wal_segment_bytes,
            fsync_on_commit: options.fsync_on_commit,
            compress: options.wal_compression,
            segment_index_first: checkpoint.as_ref().map_or(1, |(segment, _)| segment + 1),
            replay_progress: options.replay_progress.clone(),
        };
        let mut apply = |record| match record {
            Record::Series(series) => {
                for (r, labels) in series {
                    let (id, _) = head.get_or_create(&labels);
                    refs.insert(r, id);
                }
            }
            Record::Samples(samples) => {
                for (r, sample) in samples {
                    // Late as the live path counts it: a sample written for a known series.
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(sample.timestamp_ms < cut_watermark_ms);
                            apply_to_head(&mut head, id, sample, &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::StartedSamples(samples) => {
                for (r, sample, start_ms) in samples {
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(sample.timestamp_ms < cut_watermark_ms);
                            apply_started_to_head(&mut head, id, sample, start_ms, &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::StartedHistograms(histograms) => {
                for (r, h, start_ms) in histograms {
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(h.timestamp_ms < cut_watermark_ms);
                            count_result(head.append_histogram_started(id, &h, start_ms), &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::Histograms(histograms) => {
                for (r, h) in histograms {
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(h.timestamp_ms < cut_watermark_ms);
                            apply_histogram_to_head(&mut head, id, &h, &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::Exemplars(recorded) => {
                for (r, e) in recorded {
                    match refs.get(&r) {
                        Some(&id) => _ = exemplars.add(&head.labels_of(id), e),
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::Tombstones(stones) => {
                let mapped: Vec<(u32, i64, i64)> = stones
                    .into_iter()
                    .filter_map(|(r, mint, maxt)| refs.get(&r).map(|&id| (id, mint, maxt)))
                    .collect();
                head.delete_ranges(&mapped);
            }
        };
        if let Some((_, path)) = &checkpoint {
            checkpoint::replay(path, &mut apply)?;
        }
        let wal = Wal::open(&wal_dir, wal_options, &mut apply).await?;
        if unknown_refs > 0 {
            tracing::warn!(dir = %dir.display(), unknown_refs, "WAL replay: samples for series without a series record were skipped");
        }
        tracing::info!(dir = %dir.display(), blocks = blocks.len(), series = head.series_count(), samples = replayed.samples_appended, "shard opened");
        let stats = ShardStats {
            series: head.series_count() as u64,
            ..ShardStats::default()
        };
        Ok(ShardDb {
            dir: dir.to_path_buf(),
            cut_watermark_ms,
            next_ulid_ms: 0,
            late_samples: replayed_late,
            compaction_ranges: block::compaction_ranges(options.block_duration_ms, options.retention_ms),
            hourly_series: super::series_window::SeriesWindowLimit::new(options.max_hourly_series, super::series_window::HOUR_MS),
            daily_series: super::series_window::SeriesWindowLimit::new(options.max_daily_series, super::series_window::DAY_MS),
            options,
            head,
            wal,
            exemplars,
            blocks,
            page_cache,
            stats,
            compaction_in_flight: None,
            compaction_retry_at: None,
            cut_retry_at: None,
        })
    }

    /// Syncs the WAL and closes the shard.
    pub async fn close(self) -> Result<(), Error> {
        self.wal.close().await
    }
}

/// The shard's WAL directory, `<dir>/metricstor-wal` (created if missing). A data directory
/// from before the rename has its WAL in `<dir>/wal`: that is renamed (and the shard
/// directory fsynced) when `metricstor-wal` does not exist yet. Then an empty `wal/` is
/// left in place when missing: promtool's read-only open needs one (an empty Prometheus WAL)
/// and fails without it. When both exist, `wal/` is not ours and is left alone.
fn migrate_wal_dir(dir: &Path) -> Result<PathBuf, Error> {
    let wal_dir = dir.join(WAL_DIRNAME);
    let legacy = dir.join(WAL_DIRNAME_LEGACY);
    if !wal_dir.exists() && legacy.is_dir() {
        std::fs::rename(&legacy, &wal_dir).map_err(|e| Error::io("rename", &legacy, e))?;
        block::sync_dir(dir)?;
        tracing::info!(from = %legacy.display(), to = %wal_dir.display(), "WAL directory renamed (promtool reads wal/ as a Prometheus WAL)");
    }
    std::fs::create_dir_all(&wal_dir).map_err(|e| Error::io("create", &wal_dir, e))?;
    if !legacy.exists() {
        std::fs::create_dir(&legacy).map_err(|e| Error::io("create", &legacy, e))?;
    }
    Ok(wal_dir)
}
