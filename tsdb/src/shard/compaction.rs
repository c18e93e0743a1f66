//! `ShardDb`'s side of block compaction: planning a job over the open blocks, taking its
//! result back (commit, or discard when a parent changed meanwhile) and the retry delay
//! after a failure. The merge itself is `block::compact`, run wherever the caller likes.

use super::{now_ms, ShardDb};
use crate::block::{self, Block};
use crate::error::Error;

/// After a failed compaction, no new one is planned for this long, so a persistent failure
/// (a damaged parent, a full disk) is retried now and then instead of after every append.
pub const COMPACTION_RETRY_DELAY: std::time::Duration = std::time::Duration::from_secs(300);

/// What finishing one compaction did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactionOutcome {
    /// The new block (none when no live data was left) replaced these parents.
    Committed { ulid: Option<String>, parents: Vec<String> },
    /// A parent changed (tombstones, retention, a rewrite) while merging: result thrown away.
    Discarded,
}

impl ShardDb {
    /// Plans the next compaction (`block::compact_plan`) unless one is in flight; the job is
    /// then in flight until `finish_compaction` takes its result. The job is `Send`: run it
    /// on another thread while this shard keeps serving, since blocks never change in place.
    pub fn plan_compaction(&mut self) -> Option<block::CompactionJob> {
        if self.compaction_in_flight.is_some() || self.compaction_retry_at.is_some_and(|at| std::time::Instant::now() < at) {
            return None;
        }
        let plan_blocks: Vec<block::PlanBlock> = self
            .blocks
            .iter()
            .map(|b| block::PlanBlock {
                ulid: b.meta.ulid.clone(),
                min_time_ms: b.meta.min_time_ms,
                max_time_ms: b.meta.max_time_ms,
                num_series: b.meta.stats.num_series,
                num_samples: b.meta.stats.num_samples,
                num_tombstone_series: b.tombstones().series_count() as u64,
            })
            .collect();
        let mut parents = block::compact_plan::plan(&plan_blocks, &self.compaction_ranges, (now_ms().max(0) as u64).saturating_sub(self.options.overlap_settle_ms));
        if parents.is_empty() {
            return None;
        }
        parents.sort();
        // The new block takes the newest parent's time, so it sorts where its parents did
        // among the other blocks and ties between overlapping blocks resolve as before.
        let time_ms = parents
            .iter()
            .filter_map(|u| block::ulid_time_ms(u))
            .max()
            .unwrap_or_else(|| now_ms().max(0) as u64);
        let job = block::CompactionJob { shard_dir: self.dir.clone(), ulid: block::new_ulid(time_ms), parents };
        self.compaction_in_flight = Some(job.clone());
        Some(job)
    }

    /// True while a planned compaction's result has not been finished.
    pub fn compaction_in_flight(&self) -> bool {
        self.compaction_in_flight.is_some()
    }

    /// Takes a compaction's result: commits it (rename `<ULID>.tmp` → `<ULID>`, swap the new
    /// block in for its parents, delete the parents) when every parent is still open with
    /// the tombstones the merge applied; otherwise throws it away (`Discarded`), so a delete
    /// or retention that came meanwhile is never undone. An error is counted and returned;
    /// the parents stay, and a later plan retries.
    pub fn finish_compaction(
        &mut self,
        result: Result<block::CompactionOutput, Error>,
    ) -> Result<CompactionOutcome, Error> {
        let in_flight = self.compaction_in_flight.take();
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                let parent_gone = in_flight.as_ref().is_some_and(|job| !self.parents_unchanged(&job.parents, None));
                if parent_gone {
                    self.stats.compactions_discarded_total += 1;
                    tracing::info!(shard_dir = %self.dir.display(), %error, "compaction failed after a parent went away; discarded");
                    return Ok(CompactionOutcome::Discarded);
                }
                self.compaction_failed();
                tracing::error!(shard_dir = %self.dir.display(), %error, "compaction failed; retried later");
                return Err(error);
            }
        };
        debug_assert!(in_flight.as_ref().is_none_or(|job| *job == output.job), "the result is the in-flight job's");
        self.stats.compaction_seconds_total += output.seconds;
        let job = &output.job;
        let tmp = self.dir.join(format!("{}{}", job.ulid, block::TMP_SUFFIX));
        if !self.parents_unchanged(&job.parents, Some(&output.tombstones_applied)) {
            if output.meta.is_some() {
                if let Err(e) = std::fs::remove_dir_all(&tmp) {
                    tracing::warn!(path = %tmp.display(), error = %e, "could not remove a discarded compaction's directory");
                }
            }
            self.stats.compactions_discarded_total += 1;
            tracing::info!(shard_dir = %self.dir.display(), block = %job.ulid, parents = ?job.parents, "a parent changed during compaction; result discarded");
            return Ok(CompactionOutcome::Discarded);
        }
        let new_block = match &output.meta {
            None => None,
            Some(_) => {
                // The new block reads through the shard's one bounded page cache.
                let committed = block::commit_tmp(&self.dir, &job.ulid).and_then(|dir| Block::open_in(&dir, &self.page_cache));
                match committed {
                    Ok(b) => Some(b),
                    Err(error) if self.dir.join(&job.ulid).is_dir() => {
                        // Renamed (so the parents go at the next open) but not servable now:
                        // keep serving the parents until then.
                        self.compaction_failed();
                        tracing::error!(block = %job.ulid, %error, "a compacted block cannot be opened; its parents are served until restart");
                        return Err(error);
                    }
                    Err(error) => {
                        let _ = std::fs::remove_dir_all(&tmp);
                        self.compaction_failed();
                        tracing::error!(shard_dir = %self.dir.display(), block = %job.ulid, %error, "compaction commit failed; retried later");
                        return Err(error);
                    }
                }
            }
        };
        let parents: std::collections::HashSet<&String> = job.parents.iter().collect();
        let (gone, kept): (Vec<Block>, Vec<Block>) = std::mem::take(&mut self.blocks).into_iter().partition(|b| parents.contains(&b.meta.ulid));
        self.blocks = kept;
        let ulid = new_block.as_ref().map(|b| b.meta.ulid.clone());
        if let Some(b) = new_block {
            self.blocks.push(b);
            self.blocks.sort_by(|a, b| a.meta.ulid.cmp(&b.meta.ulid));
        }
        drop(gone);
        for parent in &job.parents {
            // A parent left behind is deleted at the next open (the new block names it).
            if let Err(error) = block::delete_block(&self.dir, parent) {
                tracing::warn!(block = %parent, %error, "could not delete a compacted block's parent; deleted at the next open");
            }
        }
        self.stats.compactions_total += 1;
        tracing::info!(
            shard_dir = %self.dir.display(),
            block = ?ulid,
            parents = ?job.parents,
            level = output.meta.as_ref().map_or(0, |m| m.compaction.level),
            samples = output.meta.as_ref().map_or(0, |m| m.stats.num_samples),
            chunk_bytes_in = output.chunk_bytes_in,
            chunk_bytes_out = output.chunk_bytes_out,
            seconds = output.seconds,
            "blocks compacted"
        );
        Ok(CompactionOutcome::Committed { ulid, parents: job.parents.clone() })
    }

    fn compaction_failed(&mut self) {
        self.stats.compactions_failed_total += 1;
        self.compaction_retry_at = Some(std::time::Instant::now() + COMPACTION_RETRY_DELAY);
    }

    /// True when every parent is still open (and, given `tombstones`, has exactly those).
    fn parents_unchanged(&self, parents: &[String], tombstones: Option<&[block::Tombstones]>) -> bool {
        parents.iter().enumerate().all(|(i, ulid)| {
            self.blocks.iter().any(|b| {
                b.meta.ulid == *ulid && tombstones.is_none_or(|t| t.get(i).is_some_and(|t| t == b.tombstones()))
            })
        })
    }

    /// Plans, runs and finishes one compaction on the calling thread (tests, tools); `None`
    /// when nothing is due or one is in flight.
    pub fn compact_once(&mut self) -> Result<Option<CompactionOutcome>, Error> {
        match self.plan_compaction() {
            Some(job) => self.finish_compaction(job.run()).map(Some),
            None => Ok(None),
        }
    }
}
