//! `ShardDb::stats`: the shard's own counters completed with the WAL's, the page cache's
//! and the open blocks' (counted by compaction level).

use super::{ShardDb, ShardStats, BLOCK_LEVELS_COUNTED};

impl ShardDb {
    pub fn stats(&self) -> ShardStats {
        let cache = self.page_cache.stats();
        ShardStats {
            page_cache_hits_total: cache.hits_total,
            page_cache_misses_total: cache.misses_total,
            page_cache_evictions_total: cache.evictions_total,
            page_cache_bytes: cache.bytes_in_use,
            block_direct_io_fallbacks_total: cache.direct_io_fallbacks_total,
            wal_bytes_written_total: self.wal.stats.bytes_written_total,
            wal_fsyncs_total: self.wal.stats.fsyncs_total,
            blocks: self.blocks.len() as u64,
            blocks_by_level: self.blocks_by_level(),
            exemplars_stored: self.exemplars.len() as u64,
            head_samples: self.head.samples_count(),
            head_late_samples: self.late_samples,
            hourly_series: self.hourly_series.as_ref().map_or(0, |w| w.current()),
            hourly_series_limit: self.hourly_series.as_ref().map_or(0, |w| w.limit()),
            daily_series: self.daily_series.as_ref().map_or(0, |w| w.current()),
            daily_series_limit: self.daily_series.as_ref().map_or(0, |w| w.limit()),
            ..self.stats
        }
    }

    fn blocks_by_level(&self) -> [u64; BLOCK_LEVELS_COUNTED] {
        let mut by_level = [0; BLOCK_LEVELS_COUNTED];
        for b in &self.blocks {
            let slot = (b.meta.compaction.level.max(1) as usize - 1).min(BLOCK_LEVELS_COUNTED - 1);
            by_level[slot] += 1;
        }
        by_level
    }
}
