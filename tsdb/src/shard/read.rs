//! Reading a shard: selects (decoded, or encoded and yielding), series and label listings
//! and exemplars, the head's answer merged with every overlapping block's (a block that
//! fails to read is reported and left out); and what it holds (time range, block metas).

use std::collections::BTreeSet;

use super::ShardDb;
use crate::block::{Block, BlockMeta};
use crate::encoded::EncodedSeries;
use crate::error::Error;
use crate::exemplar::SeriesExemplars;
use crate::merge::{merge_encoded_series, merge_series};
use crate::model::{Labels, Matcher, SeriesSamples};
use crate::Querier;

impl ShardDb {
    /// Earliest and latest sample time held (head and blocks), if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let blocks = self.blocks.iter().map(|b| (b.meta.min_time_ms, b.meta.max_time_ms - 1));
        self.head.time_range().into_iter().chain(blocks).reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))
    }

    /// Metas of the open blocks, oldest ULID first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.blocks.iter().map(|b| b.meta.clone()).collect()
    }

    fn blocks_overlapping(&self, mint_ms: i64, maxt_ms: i64) -> impl Iterator<Item = &Block> {
        // Newest first, so newer blocks win ties after the head.
        self.blocks
            .iter()
            .rev()
            .filter(move |b| b.meta.overlaps(mint_ms, maxt_ms))
    }

    /// A block read error is reported and that block's part of the answer left out.
    fn report<T>(block: &Block, result: Result<T, Error>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(error) => {
                tracing::error!(block = %block.dir().display(), %error, "block read failed; its data is missing from this answer");
                None
            }
        }
    }

    /// Series matching all matchers with their samples in `[mint_ms, maxt_ms]`: head and
    /// blocks merged, one sample per timestamp (the head wins, then newer blocks).
    pub fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        let mut sources = vec![self.head.select(matchers, mint_ms, maxt_ms)];
        for b in self.blocks_overlapping(mint_ms, maxt_ms) {
            sources.extend(Self::report(b, b.select(matchers, mint_ms, maxt_ms)));
        }
        merge_sources(sources)
    }

    /// `select` answered encoded (`EncodedSeries`: every source's chunks copied, not
    /// decoded; `EncodedSeries::decode` gives what `select` gives), pausing after every
    /// `SELECT_SERIES_PER_PAUSE` series read from the head or a block: it calls `pause` with
    /// this shard, then yields when glommio asks for it (see `Head::select_yielding`). The
    /// shard owner answers label listings in `pause`, and the executor's other tasks (HTTP
    /// requests, replies from other shards) run when it yields, so neither waits out a select
    /// of many series. The shard cannot change during the select: the caller holds it.
    ///
    /// `sample_budget` is what the query may still load. The select stops and returns `None`
    /// as soon as one source (the head or a block) alone has more samples than that, counted
    /// from chunk headers (`EncodedSeries::samples_at_least`, never more than decoding finds):
    /// the merged answer holds at least as many, so the query would fail its sample limit
    /// anyway (a query of death stops costing the shard there). Otherwise the budget shrinks
    /// by that count of the answer, for the next select of the same query; the exact count
    /// is the evaluation's, after decoding.
    ///
    /// With `last_only` the asker uses only each series' last sample in the range (an instant
    /// selector evaluated at one time): the head may answer a series with just that sample
    /// (`MemSeries::encoded_last_in`), so an instant query at "now" decodes no open chunk.
    /// Blocks answer in full either way; decoding the merged parts and taking the last sample
    /// gives the same answer.
    pub async fn select_yielding(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        last_only: bool,
        sample_budget: &mut usize,
        pause: &mut dyn FnMut(&ShardDb),
    ) -> Option<Vec<EncodedSeries>> {
        let limit = *sample_budget;
        let mut sources = vec![self.head.select_yielding(matchers, mint_ms, maxt_ms, limit, last_only, &mut || pause(self)).await?];
        for b in self.blocks_overlapping(mint_ms, maxt_ms) {
            let from_block = b.select_yielding(matchers, mint_ms, maxt_ms, limit, &mut || pause(self)).await;
            if let Some(from_block) = Self::report(b, from_block) {
                sources.push(from_block?);
            }
        }
        let merged = if sources.len() == 1 { sources.pop().unwrap_or_default() } else { merge_encoded_series(sources) };
        let counted: usize = merged.iter().map(|s| s.samples_at_least(mint_ms, maxt_ms)).sum();
        *sample_budget = sample_budget.saturating_sub(counted);
        Some(merged)
    }

    pub fn series(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<Labels> {
        self.merge_sorted(self.head.series(matchers, mint_ms, maxt_ms), mint_ms, maxt_ms, |b| b.series(matchers, mint_ms, maxt_ms))
    }

    pub fn label_names(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<String> {
        self.merge_sorted(self.head.label_names(matchers, mint_ms, maxt_ms), mint_ms, maxt_ms, |b| {
            b.label_names(matchers, mint_ms, maxt_ms)
        })
    }

    pub fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Vec<String> {
        self.merge_sorted(self.head.label_values(name, matchers, mint_ms, maxt_ms), mint_ms, maxt_ms, |b| {
            b.label_values(name, matchers, mint_ms, maxt_ms)
        })
    }

    /// The children of `prefix` among the values of label `name` read as paths split at
    /// `delimiter` (sorted; nodes end with the delimiter), from the head and every block.
    pub fn label_value_children(
        &self,
        name: &str,
        prefix: &str,
        delimiter: char,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Vec<String> {
        self.merge_sorted(self.head.label_value_children(name, prefix, delimiter, matchers, mint_ms, maxt_ms), mint_ms, maxt_ms, |b| {
            b.label_value_children(name, prefix, delimiter, matchers, mint_ms, maxt_ms)
        })
    }

    /// The head's sorted answer merged with every overlapping block's (sorted, deduplicated);
    /// a block that fails to read is reported and left out.
    fn merge_sorted<T: Ord>(
        &self,
        head: Vec<T>,
        mint_ms: i64,
        maxt_ms: i64,
        from_block: impl Fn(&Block) -> Result<Vec<T>, Error>,
    ) -> Vec<T> {
        let mut blocks = self.blocks_overlapping(mint_ms, maxt_ms).peekable();
        if blocks.peek().is_none() {
            return head;
        }
        let mut all: BTreeSet<T> = head.into_iter().collect();
        for b in blocks {
            all.extend(Self::report(b, from_block(b)).unwrap_or_default());
        }
        all.into_iter().collect()
    }

    /// Exemplars in `[mint_ms, maxt_ms]` of the series matching any matcher set.
    pub fn exemplars(&self, matcher_sets: &[Vec<Matcher>], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesExemplars> {
        self.exemplars.select(matcher_sets, mint_ms, maxt_ms)
    }
}

/// One answer from per-source answers (the head's first): the head's alone needs no merge.
fn merge_sources(mut sources: Vec<Vec<SeriesSamples>>) -> Vec<SeriesSamples> {
    if sources.len() == 1 {
        return sources.pop().unwrap_or_default();
    }
    merge_series(sources)
}

impl Querier for ShardDb {
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        ShardDb::select(self, matchers, mint_ms, maxt_ms)
    }
}
