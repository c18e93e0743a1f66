//! `snapshot`: a point-in-time copy of the shard's data as a shard directory, its blocks
//! hard-linked and the head written as one more block (as Prometheus' snapshots do).

use std::path::Path;

use super::{on_blocking_thread, ShardDb, WAL_DIRNAME_LEGACY};
use crate::block;
use crate::error::Error;

impl ShardDb {
    /// Writes a point-in-time copy of this shard's data into `dest` (created): every block
    /// hard-linked (`block::link_block`), and unless `skip_head`, the head's samples as one
    /// more block over the head's time range, as Prometheus' snapshots do. `dest` is then a
    /// shard directory a server can open (without a WAL; with the empty `wal/` that
    /// promtool's read-only open needs). Returns the ULIDs written, the head's block (if
    /// any) last.
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
        let (series, _) = self.head.split_before(i64::MAX).await;
        let ulid = self.next_block_ulids(1).remove(0);
        let (parent, block_ulid) = (dest.to_path_buf(), ulid.clone());
        on_blocking_thread(move || block::write_cut_block(&parent, &block_ulid, lo, hi.saturating_add(1), series)).await?;
        written.push(ulid);
        Ok(written)
    }
}
