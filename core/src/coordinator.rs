//! The read-path coordinator: the executor that received a query prepares it, scatters
//! every selector (with its exact time range) to all shards at once, and gathers the
//! series with their chunks still encoded; the evaluation thread decodes each select as
//! the engine asks for it, so decoding never runs on a shard's core.

use std::ops::ControlFlow;

use tsdb::encoded::DecodeScratch;
use tsdb::{EncodedSeries, Labels, Matcher, Querier, Sample, SeriesSamples};

use crate::shard::messages::Select;
use crate::shard::{ShardRouter, SubmitError};

/// Series fetched for one query, keyed by the selects the engine announced.
pub struct PrefetchedQuerier {
    entries: Vec<(Select, Vec<EncodedSeries>)>,
}

impl PrefetchedQuerier {
    /// Fetches every select from every shard in one scatter; a shard stops (and the fetch
    /// fails with `TooManySamples`) once the selects would load more than `sample_limit`.
    /// The exact limit is the engine's, on the decoded samples.
    pub async fn fetch(router: &ShardRouter, selects: Vec<Select>, sample_limit: usize) -> Result<Self, SubmitError> {
        let results = router.select(selects.clone(), sample_limit).await?;
        Ok(PrefetchedQuerier { entries: selects.into_iter().zip(results).collect() })
    }

    /// Samples fetched, at least (counted from chunk headers: see
    /// `EncodedSeries::samples_at_least`).
    pub fn samples_loaded(&self) -> usize {
        self.entries
            .iter()
            .flat_map(|(select, series)| series.iter().map(|s| s.samples_at_least(select.mint_ms, select.maxt_ms)))
            .sum()
    }

    /// The prefetched select with the same matchers whose range covers the asked one. The
    /// engine only asks what it announced.
    fn covering(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Option<&[EncodedSeries]> {
        let covering = self
            .entries
            .iter()
            .find(|(s, _)| s.matchers.as_slice() == matchers && s.mint_ms <= mint_ms && s.maxt_ms >= maxt_ms);
        debug_assert!(covering.is_some(), "engine asked for a select it did not announce: {matchers:?} [{mint_ms}, {maxt_ms}]");
        covering.map(|(_, series)| series.as_slice())
    }
}

impl Querier for PrefetchedQuerier {
    /// Decodes the prefetched select with the same matchers whose range covers the asked
    /// one, to the asked range. The engine only asks what it announced.
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        let Some(series) = self.covering(matchers, mint_ms, maxt_ms) else {
            return Vec::new();
        };
        tsdb::encoded::decode_all(series, mint_ms, maxt_ms)
    }

    /// Decodes one series at a time into the same buffers (`EncodedSeries::decode_into`):
    /// the select is never held decoded whole.
    fn select_each(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64, visit: &mut dyn FnMut(&Labels, &[Sample]) -> ControlFlow<()>) {
        let Some(series) = self.covering(matchers, mint_ms, maxt_ms) else {
            return;
        };
        let (mut samples, mut scratch) = (Vec::new(), DecodeScratch::default());
        for s in series {
            s.decode_into(mint_ms, maxt_ms, &mut samples, &mut scratch);
            if !samples.is_empty() && visit(&s.labels, &samples).is_break() {
                break;
            }
        }
    }
}
