//! Deleting series data: `delete` logs the head's deletions in the WAL (tombstones record)
//! before applying them and marks block data in block tombstones; `clean_tombstones`
//! rewrites blocks without their deleted data.

use super::{now_ms, DeleteOutcome, ShardDb};
use crate::block::{self, Block};
use crate::error::Error;
use crate::model::Matcher;
use crate::wal::Record;

impl ShardDb {
    /// Deletes the samples in `[mint_ms, maxt_ms]` of every series matching any of
    /// `matcher_sets`. Head: the deletion is logged in the WAL (one tombstones record,
    /// fdatasync per options) and then applied, so it survives a crash; blocks: their
    /// `tombstones` files are rewritten before this returns. Reads never see the samples again.
    pub async fn delete(
        &mut self,
        matcher_sets: &[Vec<Matcher>],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<DeleteOutcome, Error> {
        let mut outcome = DeleteOutcome::default();
        if mint_ms > maxt_ms {
            return Ok(outcome);
        }
        // Which head series lose samples: decided before the WAL write, applied after it.
        let mut stones: Vec<(u32, i64, i64)> = Vec::new();
        for matchers in matcher_sets {
            let ids = self.head.matching_ids(matchers, mint_ms, maxt_ms);
            stones.extend(ids.into_iter().map(|id| (id, mint_ms, maxt_ms)));
        }
        stones.sort_unstable();
        stones.dedup();
        if !stones.is_empty() {
            self.wal.append(&[Record::Tombstones(stones.clone())]).await?;
            self.head.delete_ranges(&stones);
            outcome.head_series = stones.len() as u64;
        }
        for b in self.blocks.iter_mut().filter(|b| b.meta.overlaps(mint_ms, maxt_ms)) {
            for matchers in matcher_sets {
                outcome.block_series += b.delete(matchers, mint_ms, maxt_ms)? as u64;
            }
        }
        if outcome.head_series + outcome.block_series > 0 {
            tracing::info!(shard_dir = %self.dir.display(), head_series = outcome.head_series, block_series = outcome.block_series, mint_ms, maxt_ms, "series data deleted");
        }
        Ok(outcome)
    }

    /// Rewrites every block that has tombstones into a new block without the deleted data
    /// (a new ULID with the old one's time, so block order is kept) and deletes the old
    /// one, reclaiming the space. Returns `(old ULID, new ULID or none when nothing was left)`.
    pub fn clean_tombstones(&mut self) -> Result<Vec<(String, Option<String>)>, Error> {
        let mut cleaned = Vec::new();
        let mut i = 0;
        while i < self.blocks.len() {
            if !self.blocks[i].has_tombstones() {
                i += 1;
                continue;
            }
            let old_ulid = self.blocks[i].meta.ulid.clone();
            let time_ms = block::ulid_time_ms(&old_ulid).unwrap_or_else(|| now_ms().max(0) as u64);
            let new_ulid = block::new_ulid(time_ms);
            let written = block::rewrite_without_tombstones(&self.dir, &self.blocks[i], &new_ulid)?;
            let old = self.blocks.remove(i);
            drop(old);
            block::delete_block(&self.dir, &old_ulid)?;
            let new_name = match written {
                Some((dir, _)) => {
                    self.blocks.push(Block::open_in(&dir, &self.page_cache)?);
                    Some(new_ulid)
                }
                None => None,
            };
            tracing::info!(shard_dir = %self.dir.display(), old = %old_ulid, new = ?new_name, "block rewritten without deleted data");
            cleaned.push((old_ulid, new_name));
            self.blocks.sort_by(|a, b| a.meta.ulid.cmp(&b.meta.ulid));
            // The new block sorts near the old one's place; blocks without tombstones are
            // skipped, so restarting the scan from the same index is enough.
        }
        Ok(cleaned)
    }
}
