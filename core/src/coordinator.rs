//! The read-path coordinator: the executor that received a query prepares it, scatters
//! every selector (with its exact time range) to all shards at once, gathers the series,
//! and evaluates synchronously over the prefetched data.

use tsdb::{Matcher, Querier, SeriesSamples};

use crate::shard::messages::Select;
use crate::shard::{ShardRouter, SubmitError};

/// Series fetched for one query, keyed by the selects the engine announced.
pub struct PrefetchedQuerier {
    entries: Vec<(Select, Vec<SeriesSamples>)>,
}

impl PrefetchedQuerier {
    /// Fetches every select from every shard in one scatter; a shard stops (and the fetch
    /// fails with `TooManySamples`) once the selects would load more than `sample_limit`.
    pub async fn fetch(router: &ShardRouter, selects: Vec<Select>, sample_limit: usize) -> Result<Self, SubmitError> {
        let results = router.select(selects.clone(), sample_limit).await?;
        Ok(PrefetchedQuerier { entries: selects.into_iter().zip(results).collect() })
    }

    pub fn samples_loaded(&self) -> usize {
        self.entries.iter().flat_map(|(_, series)| series.iter()).map(|s| s.samples.len()).sum()
    }
}

impl Querier for PrefetchedQuerier {
    /// Answers from the prefetched select with the same matchers whose range covers the
    /// asked one, trimmed to the asked range. The engine only asks what it announced.
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        let covering = self
            .entries
            .iter()
            .find(|(s, _)| s.matchers.as_slice() == matchers && s.mint_ms <= mint_ms && s.maxt_ms >= maxt_ms);
        let Some((select, series)) = covering else {
            debug_assert!(false, "engine asked for a select it did not announce: {matchers:?} [{mint_ms}, {maxt_ms}]");
            return Vec::new();
        };
        if select.mint_ms == mint_ms && select.maxt_ms == maxt_ms {
            return series.clone();
        }
        series
            .iter()
            .filter_map(|s| {
                let samples: Vec<_> =
                    s.samples.iter().filter(|p| p.timestamp_ms >= mint_ms && p.timestamp_ms <= maxt_ms).copied().collect();
                (!samples.is_empty()).then(|| SeriesSamples { labels: s.labels.clone(), samples })
            })
            .collect()
    }
}
