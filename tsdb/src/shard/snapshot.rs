//! `snapshot`: a point-in-time copy of the shard's data as a shard directory, its blocks
//! hard-linked and the head written as blocks of its own (Prometheus' snapshots write the
//! head as one block; here it is cut at fixed time windows and each piece named by its
//! content, so the part of the head that did not change is the same files in the next
//! snapshot and an incremental backup does not send it again).

use std::path::Path;

use super::{cut_ranges, on_blocking_thread, ShardDb, WAL_DIRNAME_LEGACY};
use crate::block::{self, BlockSeries};
use crate::error::Error;
use crate::head::Head;

/// The head is written as blocks covering `block_duration_ms / SNAPSHOT_HEAD_WINDOWS_PER_BLOCK`
/// each (30 minutes with 2-hour blocks), aligned to multiples of that window: all but the
/// newest window or two no longer change, so a backup taken after another one sends about
/// one window of the head again rather than all of it, while a head of 1.5 block durations
/// is at most 7 blocks.
pub const SNAPSHOT_HEAD_WINDOWS_PER_BLOCK: i64 = 4;

/// A head spanning more windows than this (late samples far behind the rest wait in the head
/// for the next cut) gets windows doubled until it does not, so that a snapshot writes and,
/// where samples carry start times, splits the head a bounded number of times.
pub const SNAPSHOT_HEAD_WINDOWS_MAX: i64 = 64;

/// The window for a head over `[lo, hi]`: the block duration's quarter, doubled until at most
/// `SNAPSHOT_HEAD_WINDOWS_MAX` aligned windows cover the head (a usual head is not affected,
/// and the windows stay aligned to the same grid for the same span).
fn head_window_ms(block_duration_ms: i64, lo: i64, hi: i64) -> i64 {
    let mut window_ms = (block_duration_ms / SNAPSHOT_HEAD_WINDOWS_PER_BLOCK).max(1);
    let span = hi.saturating_sub(lo);
    while span / window_ms + 2 > SNAPSHOT_HEAD_WINDOWS_MAX && window_ms < i64::MAX / 2 {
        window_ms *= 2;
    }
    window_ms
}

impl ShardDb {
    /// Writes a point-in-time copy of this shard's data into `dest` (created): every block
    /// hard-linked (`block::link_block`), and unless `skip_head`, the head's samples as
    /// blocks over aligned windows of `SNAPSHOT_HEAD_WINDOWS_PER_BLOCK`ths of the block
    /// duration (larger for a head of late samples far apart, `head_window_ms`), each
    /// clamped to the head's range and named by its content
    /// (`block::write_content_named_block`) and by its start or, when that is older, the
    /// time just after the newest linked block's. `dest` is then a shard directory a server
    /// can open (without a WAL; with the empty `wal/` that promtool's read-only open needs).
    /// Returns the ULIDs written, the head's blocks (oldest first) last.
    pub async fn snapshot(&self, dest: &Path, skip_head: bool) -> Result<Vec<String>, Error> {
        let promtool_wal = dest.join(WAL_DIRNAME_LEGACY);
        std::fs::create_dir_all(&promtool_wal).map_err(|e| Error::io("create", &promtool_wal, e))?;
        let mut written = Vec::with_capacity(self.blocks.len() + 1);
        // Linked before the first await: no cut, compaction or retention of this shard can
        // change the set in between.
        for b in &self.blocks {
            block::link_block(b.dir(), dest, &b.meta.ulid)?;
            written.push(b.meta.ulid.clone());
        }
        if skip_head {
            return Ok(written);
        }
        let Some((lo, hi)) = self.head.time_range() else {
            return Ok(written);
        };
        let window_ms = head_window_ms(self.options.block_duration_ms, lo, hi);
        let first_start = lo.div_euclid(window_ms).saturating_mul(window_ms);
        let mut windows = vec![(first_start, first_start.saturating_add(window_ms))];
        while let Some(&(_, end)) = windows.last().filter(|(_, end)| *end <= hi) {
            windows.push((end, end.saturating_add(window_ms)));
        }
        let (series, _) = self.head.split_before(i64::MAX).await;
        let ends: Vec<i64> = windows.iter().map(|w| w.1).collect();
        let parts = match on_blocking_thread(move || cut_ranges::partition(series, &ends)).await {
            Some(parts) => parts,
            // Start times (or a chunk that does not decode) keep `partition` from splitting
            // loose samples: one head split per window instead, each from what the last left.
            None => self.split_by_window(&windows).await,
        };
        // The head wins ties over every block on read, and newer blocks (by ULID) over older
        // ones: the head's blocks are named after every linked block so that the snapshot
        // answers as the shard did. A window's name time is its start, unless that is older.
        let after_linked_ms = self.blocks.iter().filter_map(|b| block::ulid_time_ms(&b.meta.ulid)).max().map_or(0, |ms| ms + 1);
        for ((start, end), series) in windows.into_iter().zip(parts) {
            if series.is_empty() {
                continue;
            }
            let (min_ms, max_ms) = (start.max(lo), end.min(hi.saturating_add(1)));
            let name_ms = (min_ms.max(0) as u64).max(after_linked_ms);
            let parent = dest.to_path_buf();
            written.push(on_blocking_thread(move || block::write_content_named_block(&parent, name_ms, min_ms, max_ms, series)).await?);
        }
        Ok(written)
    }

    /// The head's data per window (consecutive, ascending, the first starting at or before
    /// the head's oldest sample), one `Head::split_before` per window.
    async fn split_by_window(&self, windows: &[(i64, i64)]) -> Vec<Vec<BlockSeries>> {
        let mut parts = Vec::with_capacity(windows.len());
        let mut rest: Option<Head> = None;
        for &(_, end) in windows {
            let (series, after) = rest.as_ref().unwrap_or(&self.head).split_before(end).await;
            parts.push(series.into_iter().filter(BlockSeries::holds_data).collect());
            rest = Some(after);
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: i64 = 3_600_000;

    #[test]
    fn windows_are_a_quarter_block_unless_the_head_spans_too_many() {
        assert_eq!(head_window_ms(2 * HOUR_MS, 0, 3 * HOUR_MS), HOUR_MS / 2);
        assert_eq!(head_window_ms(2 * HOUR_MS, 10, 10), HOUR_MS / 2);
        // 40 days: 1,920 half hours; 16 h windows are the first to cover it in 62.
        let wide = head_window_ms(2 * HOUR_MS, 0, 40 * 24 * HOUR_MS);
        assert_eq!(wide, 16 * HOUR_MS);
        assert!(40 * 24 * HOUR_MS / wide + 2 <= SNAPSHOT_HEAD_WINDOWS_MAX);
        assert!(head_window_ms(2 * HOUR_MS, i64::MIN / 2, i64::MAX / 2) > 0, "no overflow");
        assert_eq!(head_window_ms(0, 0, 10), 1, "a block duration too small for quarters");
    }
}
