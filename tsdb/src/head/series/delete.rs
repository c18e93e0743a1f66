//! `MemSeries::delete_range`: removes a time range's floats and histograms by rebuilding
//! the series from what is left.

use super::{AppendResult, ChunkRanges, MemSeries};

impl MemSeries {
    /// Deletes the samples in `[mint_ms, maxt_ms]` by rebuilding the series from what is left
    /// (deletes are rare; the rebuilt chunks hold everything in order, no out-of-order
    /// buffer). Returns how many samples were removed.
    pub fn delete_range(&mut self, mint_ms: i64, maxt_ms: i64) -> usize {
        if !self.overlaps(mint_ms, maxt_ms) {
            return 0;
        }
        let mut removed_histograms = 0;
        let histograms = self.rare.as_mut().and_then(|r| r.histograms.take()).and_then(|h| {
            let (kept, removed) = h.without_range(mint_ms, maxt_ms);
            removed_histograms = removed;
            kept.time_range().is_some().then(|| Box::new(kept))
        });
        let (all, starts) = self.samples_with_starts_in(i64::MIN, i64::MAX);
        let before = all.len();
        let mut rebuilt = MemSeries::new(std::mem::take(&mut self.labels));
        for (i, x) in all
            .into_iter()
            .enumerate()
            .filter(|(_, x)| x.timestamp_ms < mint_ms || x.timestamp_ms > maxt_ms)
        {
            let start_ms = starts.as_ref().and_then(|s| s.get(i).copied()).unwrap_or(0);
            let result = rebuilt.append_started(start_ms, x.timestamp_ms, x.value, &mut ChunkRanges::default());
            debug_assert_eq!(result, AppendResult::Appended, "kept samples are strictly increasing");
        }
        let removed = before - rebuilt.samples_in(i64::MIN, i64::MAX).len();
        if histograms.is_some() {
            rebuilt.rare.get_or_insert_with(Box::default).histograms = histograms;
        }
        *self = rebuilt;
        removed + removed_histograms
    }
}
