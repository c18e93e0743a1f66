//! Cutting the head into blocks: which block ranges are due (`cut_ranges`, late samples),
//! `maintain` and `force_cut`, and the crash-safe commit of a cut (its blocks written, the
//! WAL replaced by a checkpoint of what stays in the head). Block ULIDs are handed out here.

use std::path::PathBuf;

use super::head_checkpoint::write_checkpoint;
use super::{cut_ranges, now_ms, on_blocking_thread, MaintainOutcome, ShardDb, CUTS_PER_MAINTAIN_MAX, CUT_RANGES_MAX, LATE_SAMPLES_DIVISOR, WAL_DIRNAME};

/// After a failed cut, how long `cut_due` says no (`maintain`, called each minute anyway,
/// still tries).
pub const CUT_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(30);
use crate::block::{self, Block, BlockMeta, BlockSeries};
use crate::error::Error;
use crate::head::Head;
use crate::wal::checkpoint::{self, CheckpointWriter};

impl ShardDb {
    /// The ranges to cut now, each `[lo, hi)` aligned to the block duration, consecutive,
    /// oldest first: the head's oldest range when it is due (once the head's newest sample is
    /// half a block past it, as Prometheus does, plus `head_cut_delay_ms`), when the head holds more than
    /// `max_head_samples`, or always with `force` (then only that one); and with it each
    /// following range that is due too (over the limit also each one behind the watermark),
    /// up to `CUT_RANGES_MAX`, so that a backlog of history is cut with one head split and
    /// one checkpoint.
    fn cut_ranges(&self, force: bool) -> Vec<(i64, i64)> {
        let Some((min_t, max_t)) = self.head.time_range() else {
            return Vec::new();
        };
        // A sample ahead of the clock makes nothing due before its time comes.
        let max_t = if self.options.bound_by_clock { max_t.min(now_ms()) } else { max_t };
        let duration = self.options.block_duration_ms;
        let lo = min_t - min_t.rem_euclid(duration);
        let over_limit = self.options.max_head_samples > 0 && self.head.samples_count() > self.options.max_head_samples;
        // Over either limit, every range behind the watermark goes: late samples (an import
        // of history) are what fills a head that way, and cutting them one range per cut
        // would rewrite the big rest of the head each time.
        let late_over_limit = over_limit || self.late_samples > self.late_samples_max();
        let due = |range_hi: i64| max_t >= range_hi.saturating_add(duration / 2).saturating_add(self.options.head_cut_delay_ms.max(0));
        // A range behind the watermark holds late samples only: they go with the next regular
        // cut (a block per range then), not one block per late write as they trickle in.
        let regular_due = |hi: i64| if hi <= self.cut_watermark_ms { due(self.cut_watermark_ms.saturating_add(duration)) } else { due(hi) };
        let late_due = |hi: i64| late_over_limit && hi <= self.cut_watermark_ms;
        let first = (lo, lo.saturating_add(duration));
        if !(force || over_limit || late_due(first.1) || regular_due(first.1)) {
            return Vec::new();
        }
        let mut ranges = vec![first];
        while !force && ranges.len() < CUT_RANGES_MAX {
            let previous_hi = ranges[ranges.len() - 1].1;
            let hi = previous_hi.saturating_add(duration);
            if hi == previous_hi || !(regular_due(hi) || late_due(hi)) {
                break;
            }
            ranges.push((previous_hi, hi));
        }
        ranges
    }

    /// Late samples held before they are cut early (`LATE_SAMPLES_DIVISOR`); no limit
    /// without `max_head_samples`.
    fn late_samples_max(&self) -> u64 {
        match self.options.max_head_samples {
            0 => u64::MAX,
            max => (max / LATE_SAMPLES_DIVISOR).max(1),
        }
    }

    /// True when `maintain` has a block to cut (cheap: a few comparisons), and no cut failed
    /// in the last `CUT_RETRY_DELAY`.
    pub fn cut_due(&self) -> bool {
        self.cut_retry_at.is_none_or(|at| std::time::Instant::now() >= at) && !self.cut_ranges(false).is_empty()
    }

    /// Cuts due blocks (at most `CUTS_PER_MAINTAIN_MAX` cuts, each of one or more ranges),
    /// then deletes blocks past retention: by time, then by size. A failed cut is the error,
    /// returned after retention has run all the same (as Prometheus applies retention whether
    /// or not its head compaction failed): on a full disk, size retention is what frees the
    /// space for the next try. Retention may then have deleted blocks the error does not list.
    pub async fn maintain(&mut self, now_ms: i64) -> Result<MaintainOutcome, Error> {
        let mut outcome = MaintainOutcome::default();
        let mut failed_cut = None;
        for _ in 0..CUTS_PER_MAINTAIN_MAX {
            let ranges = self.cut_ranges(false);
            if ranges.is_empty() {
                break;
            }
            match self.cut_blocks(&ranges).await {
                Ok(metas) => {
                    self.cut_retry_at = None;
                    outcome.blocks_cut.extend(metas.into_iter().map(|meta| meta.ulid));
                }
                Err(error) => {
                    self.cut_retry_at = Some(std::time::Instant::now() + CUT_RETRY_DELAY);
                    failed_cut = Some(error);
                    break;
                }
            }
        }
        outcome.blocks_deleted = self.apply_retention(now_ms)?;
        outcome.blocks_deleted.extend(self.apply_size_retention()?);
        match failed_cut {
            Some(error) => Err(error),
            None => Ok(outcome),
        }
    }

    /// Cuts the head's oldest block range now, whether or not it is due (tests, shutdown).
    pub async fn force_cut(&mut self) -> Result<Option<BlockMeta>, Error> {
        let ranges = self.cut_ranges(true);
        if ranges.is_empty() {
            return Ok(None);
        }
        Ok(self.cut_blocks(&ranges).await?.into_iter().next())
    }

    /// Writes the head's samples before the last range's end as one block per range that
    /// holds any, and replaces the WAL up to now with a checkpoint of what remains. Crash
    /// safety: the checkpoint is written first under a name that ties it to the blocks
    /// (`checkpoint.<N>.<ULID>`, or `.<first ULID>-<last ULID>` for several); it counts only
    /// once the last block's directory exists (the last rename is the commit point), so
    /// replay sees either the old segments or the blocks + checkpoint, never both and never
    /// neither. Blocks of an uncommitted cut are removed: here when a block write fails, at
    /// the next open (`checkpoint::settle`) after a crash.
    async fn cut_blocks(&mut self, ranges: &[(i64, i64)]) -> Result<Vec<BlockMeta>, Error> {
        let Some(&(_, hi)) = ranges.last() else {
            return Ok(Vec::new());
        };
        let watermark = self.cut_watermark_ms;
        // Each step yields to the executor's other tasks now and then (or runs on another
        // thread), so a large cut does not stall the core; the shard itself waits for it.
        let (before, rest) = self.head.split_before(hi).await;
        let parts: Vec<((i64, i64), Vec<BlockSeries>)> = if ranges.len() == 1 {
            vec![(ranges[0], before)]
        } else {
            let ends: Vec<i64> = ranges.iter().map(|r| r.1).collect();
            match on_blocking_thread(move || cut_ranges::partition(before, &ends)).await {
                Some(parts) => ranges.iter().copied().zip(parts).filter(|(_, part)| !part.is_empty()).collect(),
                None => {
                    tracing::warn!(shard_dir = %self.dir.display(), "a head chunk cannot be decoded to split it by range; cutting one range");
                    let (before, rest) = self.head.split_before(ranges[0].1).await;
                    return self.commit_cut(vec![(ranges[0], before)], rest).await;
                }
            }
        };
        let metas = self.commit_cut(parts, rest).await?;
        // Every late sample was behind the old watermark, so in a range cut now.
        if hi >= watermark {
            self.late_samples = 0;
        }
        Ok(metas)
    }

    async fn commit_cut(&mut self, parts: Vec<((i64, i64), Vec<BlockSeries>)>, rest: Head) -> Result<Vec<BlockMeta>, Error> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let ulids = self.next_block_ulids(parts.len());
        self.next_ulid_ms = ulids.last().and_then(|u| block::ulid_time_ms(u)).map_or(self.next_ulid_ms, |ms| ms + 1);
        let wal_dir = self.dir.join(WAL_DIRNAME);
        let finished_segment = self.wal.cut_segment().await?;
        let pending_name = match ulids.as_slice() {
            [first, .., last] => checkpoint::pending_range_name(finished_segment, first, last),
            _ => checkpoint::pending_name(finished_segment, &ulids[0]),
        };
        let mut writer = CheckpointWriter::create(&wal_dir, &pending_name)?;
        write_checkpoint(&rest, &self.exemplars, &mut writer).await?;
        let pending = writer.finish()?;
        let mut written: Vec<(PathBuf, BlockMeta)> = Vec::with_capacity(parts.len());
        for (((lo, hi), series), ulid) in parts.into_iter().zip(&ulids) {
            let (parent, block_ulid) = (self.dir.clone(), ulid.clone());
            match on_blocking_thread(move || block::write_cut_block(&parent, &block_ulid, lo, hi, series)).await {
                Ok(block) => written.push(block),
                Err(error) if !self.dir.join(ulid).is_dir() => {
                    // Not committed: the old segments and the old head stay authoritative;
                    // the blocks this cut already wrote go (the head still holds their data).
                    let tmp = self.dir.join(format!("{ulid}{}", block::TMP_SUFFIX));
                    let _ = std::fs::remove_dir_all(tmp);
                    let mut all_removed = true;
                    for (_, meta) in &written {
                        if let Err(e) = block::delete_block(&self.dir, &meta.ulid) {
                            all_removed = false;
                            tracing::error!(block = %meta.ulid, error = %e, "could not remove a block of a failed cut; the pending WAL checkpoint that names it is kept, so the next open removes it (its samples stay in the head and are cut again)");
                        }
                    }
                    // The pending checkpoint names this cut's blocks by ULID range and its last
                    // block never appeared: while it exists, an open removes whatever of the
                    // range is left. So it goes only once its blocks have gone.
                    if all_removed {
                        if let Err(e) = std::fs::remove_file(&pending) {
                            tracing::warn!(path = %pending.display(), error = %e, "could not remove an unused WAL checkpoint");
                        }
                    }
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(block = %ulid, %error, "block renamed into place but a final sync failed; treating it as written");
                    let dir = self.dir.join(ulid);
                    let meta = BlockMeta::read(&dir)?;
                    written.push((dir, meta));
                }
            }
        }
        // Committed: from here on the blocks and the checkpoint hold the data.
        // The old head is dropped last, after the await below: dropping a large head stalls
        // the executor on its own, so it is kept apart from opening the blocks.
        let replaced_head = std::mem::replace(&mut self.head, rest);
        let newest_hi = written.iter().map(|(_, meta)| meta.max_time_ms).max().unwrap_or(i64::MIN);
        self.cut_watermark_ms = self.cut_watermark_ms.max(newest_hi);
        self.stats.series = self.head.series_count() as u64;
        let mut metas = Vec::with_capacity(written.len());
        for (block_dir, meta) in written {
            tracing::info!(shard_dir = %self.dir.display(), block = %meta.ulid, min_time_ms = meta.min_time_ms, max_time_ms = meta.max_time_ms, samples = meta.stats.num_samples, series = meta.stats.num_series, "head cut into a block");
            match Block::open_in(&block_dir, &self.page_cache) {
                Ok(block) => self.blocks.push(block),
                // The data is on disk; it is served again after the next open.
                Err(error) => {
                    tracing::error!(block = %meta.ulid, %error, "a block just written cannot be opened")
                }
            }
            metas.push(meta);
        }
        self.blocks.sort_by(|a, b| a.meta.ulid.cmp(&b.meta.ulid));
        // Renames the checkpoint and deletes the segments it replaces (many, after a large
        // head): file system work for the blocking pool too.
        on_blocking_thread(move || checkpoint::finalize(&wal_dir, finished_segment, &pending)).await?;
        drop(replaced_head);
        Ok(metas)
    }

    /// `count` ULIDs for blocks written from the head now, increasing: block ULIDs increase
    /// strictly within a shard (newer blocks win ties on read), so they are past the newest
    /// block's and past any handed out before (a failed cut's too), a millisecond apart at
    /// least.
    pub(super) fn next_block_ulids(&self, count: usize) -> Vec<String> {
        let newest_ms = self.blocks.last().and_then(|b| block::ulid_time_ms(&b.meta.ulid)).map_or(0, |ms| ms + 1);
        let first_ms = (now_ms().max(0) as u64).max(newest_ms).max(self.next_ulid_ms);
        (0..count as u64).map(|i| block::new_ulid(first_ms + i)).collect()
    }
}
