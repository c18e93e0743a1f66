//! Routes series to their owning shard (stable hash of the sorted labels mod shard count)
//! and requests to shard queues. Bounded queues: a full queue is reported, never grown.

use async_channel::{Sender, TrySendError};
use futures_channel::oneshot;
use tsdb::{EncodedSeries, Labels, Matcher, SeriesBatch, SeriesExemplars, SeriesSamples};

use std::sync::Arc;

use super::history::{settled_before_ms, HistoryGeneration};
use super::messages::{AppendAck, Select, ShardRequest, ShardStatsSnapshot};
use crate::ingest::MetricMetadata;
use crate::metric_names_stats::MetricNamesStats;
use crate::write_rules::{InForce, WriteRules};

/// Why a request could not be handed to a shard.
/// Exemplars of one write, summed over its shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExemplarCounts {
    pub stored: u64,
    /// Out of order, of a series refused by the series limit, or not stored at all
    /// (`storage.max_exemplars: 0`).
    pub refused: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error("shard {shard} queue is full")]
    QueueFull { shard: usize },
    #[error("shard {shard} is shutting down")]
    ShuttingDown { shard: usize },
    #[error("shard {shard} failed: {message}")]
    Failed { shard: usize, message: String },
    /// A shard stopped a query's selects at the query's sample limit (the engine's own
    /// words for the same limit).
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// Some of a write's samples belong to series that a series limit refused: new series
    /// past `storage.max_series` (`refused`), series not yet seen this hour or day past
    /// `storage.max_hourly_series` (`hourly`) or `max_daily_series` (`daily`); the rest
    /// (`appended`) are stored.
    #[error("{}; {} stored", series_limits(*refused, *hourly, *daily), samples(*appended))]
    SeriesLimit { refused: u64, hourly: u64, daily: u64, appended: u64 },
    /// Some of a write's samples lie outside the times the store takes: older than
    /// `storage.retention_days` (retention would delete them at once) or more than two days
    /// ahead of the server's clock (a sender's broken clock); the rest (`appended`) are stored.
    #[error("{}; {} stored", outside_time_bounds(*too_old, *too_new), samples(*appended))]
    OutsideTimeBounds { too_old: u64, too_new: u64, appended: u64 },
}

/// "1 sample", "2 samples": a count of samples in an answer's words.
pub fn samples(count: u64) -> String {
    if count == 1 { "1 sample".to_string() } else { format!("{count} samples") }
}

/// Which series limits refused how many samples, in an answer's words.
fn series_limits(refused: u64, hourly: u64, daily: u64) -> String {
    let mut parts = Vec::new();
    if refused > 0 {
        parts.push(format!("{} of new series not stored: the series limit (storage.max_series) is reached", samples(refused)));
    }
    if hourly > 0 {
        parts.push(format!("{} not stored: their series are past the series written this hour that storage.max_hourly_series allows", samples(hourly)));
    }
    if daily > 0 {
        parts.push(format!("{} not stored: their series are past the series written this day (UTC) that storage.max_daily_series allows", samples(daily)));
    }
    parts.join("; ")
}

/// Why samples outside the store's time bounds were not stored, counted by bound: the first
/// half of every such answer (writes add what they stored, imports that the rest was).
pub fn outside_time_bounds(too_old: u64, too_new: u64) -> String {
    format!(
        "{} not stored: {too_old} older than storage.retention_days allows, {too_new} more than {} days ahead of the server's clock",
        samples(too_old + too_new),
        tsdb::shard::FUTURE_SAMPLES_MAX_MS / 86_400_000
    )
}

impl SubmitError {
    /// Samples a refused write still stored (series limit, time bounds); none otherwise.
    pub fn samples_appended(&self) -> u64 {
        match self {
            SubmitError::SeriesLimit { appended, .. } | SubmitError::OutsideTimeBounds { appended, .. } => *appended,
            _ => 0,
        }
    }
}

/// Shard of a label set: stable xxh3 hash mod shard count (DESIGN §3).
pub fn shard_for(labels: &Labels, shard_count: usize) -> usize {
    shard_of_hash(labels.stable_hash(), shard_count)
}

/// Shard of a series by its stable label hash (`Labels::stable_hash`, `BatchSeries::hash`).
pub fn shard_of_hash(stable_hash: u64, shard_count: usize) -> usize {
    debug_assert!(shard_count > 0, "there is always at least one shard");
    (stable_hash % shard_count as u64) as usize
}

/// Indices of `batch`'s series per shard (`[shard]`), in batch order.
pub fn split_by_shard(batch: &SeriesBatch, shard_count: usize) -> Vec<Vec<u32>> {
    let mut parts: Vec<Vec<u32>> = (0..shard_count).map(|_| Vec::new()).collect();
    for (index, series) in batch.iter().enumerate() {
        parts[shard_of_hash(series.hash(), shard_count)].push(index as u32);
    }
    parts
}

/// One per executor: senders to every shard's queue, and the server's history generation
/// (moved here by writes into the settled past and by deletes).
#[derive(Clone)]
pub struct ShardRouter {
    senders: Vec<Sender<ShardRequest>>,
    history: Arc<HistoryGeneration>,
    /// `relabel_configs` (applied to every batch before it is split by shard) and
    /// `stream_aggregation` (fed every batch after relabeling) in force, shared by every
    /// executor and replaced by a reload; `in_force` is this router's copy, taken again
    /// when the shared generation moved.
    write_rules: Arc<WriteRules>,
    in_force: std::cell::RefCell<InForce>,
    /// Where each selected series' metric name is counted (`server.track_metric_names_stats`).
    name_stats: Option<Arc<MetricNamesStats>>,
}

impl ShardRouter {
    pub fn new(senders: Vec<Sender<ShardRequest>>, history: Arc<HistoryGeneration>) -> Self {
        assert!(!senders.is_empty(), "a router needs at least one shard");
        ShardRouter { senders, history, write_rules: Arc::default(), in_force: Default::default(), name_stats: None }
    }

    /// This router counting the metric names of the series its selects return in `stats`.
    pub fn with_name_stats(self, stats: Option<Arc<MetricNamesStats>>) -> Self {
        ShardRouter { name_stats: stats, ..self }
    }

    /// The metric names' read counts, when they are kept.
    pub fn name_stats(&self) -> Option<&Arc<MetricNamesStats>> {
        self.name_stats.as_ref()
    }

    /// This router applying the relabeling and stream aggregation `rules` hold in force to
    /// every write.
    pub fn with_write_rules(self, rules: Arc<WriteRules>) -> Self {
        let in_force = std::cell::RefCell::new(rules.in_force());
        ShardRouter { write_rules: rules, in_force, ..self }
    }

    pub fn write_rules(&self) -> &Arc<WriteRules> {
        &self.write_rules
    }

    /// The rules in force: this router's copy, taken again after a reload.
    fn rules_in_force(&self) -> std::cell::Ref<'_, InForce> {
        let generation = self.write_rules.generation();
        if self.in_force.borrow().generation != generation {
            *self.in_force.borrow_mut() = self.write_rules.in_force();
        }
        self.in_force.borrow()
    }

    /// A shard whose write queue is full now, if any: a write arriving then would almost
    /// surely be refused (its series spread over every shard), so callers can refuse it
    /// before paying for its decoding.
    pub fn full_shard(&self) -> Option<usize> {
        self.senders.iter().position(|s| s.is_full())
    }

    pub fn history(&self) -> &Arc<HistoryGeneration> {
        &self.history
    }

    pub fn shard_count(&self) -> usize {
        self.senders.len()
    }

    fn try_send(&self, shard: usize, request: ShardRequest) -> Result<(), SubmitError> {
        self.senders[shard].try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => SubmitError::QueueFull { shard },
            TrySendError::Closed(_) => SubmitError::ShuttingDown { shard },
        })
    }

    /// Sends queries even when the queue is full (they are bounded by query concurrency, not
    /// by the write queue), waiting for room.
    async fn send(&self, shard: usize, request: ShardRequest) -> Result<(), SubmitError> {
        self.senders[shard].send(request).await.map_err(|_| SubmitError::ShuttingDown { shard })
    }

    /// Splits series by owner, enqueues every part (all or nothing per shard queue), and waits
    /// until every owner has committed its part to the WAL. The parts share the batch (one
    /// `Arc`); each is the indices of its series.
    pub async fn append(&self, batch: SeriesBatch) -> Result<u64, SubmitError> {
        self.append_with_exemplars(batch).await.map(|(samples, _)| samples)
    }

    /// `append`, also counting the batch's exemplars: what the shards stored and refused.
    pub async fn append_with_exemplars(&self, batch: SeriesBatch) -> Result<(u64, ExemplarCounts), SubmitError> {
        // The copy is not held across the await: a reload meanwhile reaches the next batch.
        let batch = {
            let rules = self.rules_in_force();
            let batch = rules.relabeler.apply_to_batch(batch);
            match &rules.stream_aggr {
                Some(aggregators) => aggregators.push(batch, unix_now_ms()),
                None => batch,
            }
        };
        self.store(batch).await
    }

    /// Stores stream aggregation's output: neither relabeled nor aggregated again (as
    /// VictoriaMetrics stores it).
    pub async fn append_aggregates(&self, batch: SeriesBatch) -> Result<u64, SubmitError> {
        self.store(batch).await.map(|(samples, _)| samples)
    }

    async fn store(&self, batch: SeriesBatch) -> Result<(u64, ExemplarCounts), SubmitError> {
        if batch.is_empty() {
            return Ok((0, ExemplarCounts::default()));
        }
        let settled_before = settled_before_ms(unix_now_ms());
        let rewrites_history = batch.samples().iter().any(|sample| sample.timestamp_ms < settled_before);
        let parts = split_by_shard(&batch, self.shard_count());
        let batch = Arc::new(batch);
        // Bumped once the owners answered (the samples are visible), failed or not: a shard
        // that failed may still have applied part of the request.
        let _bump = rewrites_history.then(|| BumpOnDrop(&self.history));
        // Counted the same way, for every write: coalesced queries rely on it (`writes_answered`).
        let _counted = WriteCountOnDrop(&self.history);
        let mut pending = Vec::new();
        for (shard, part) in parts.into_iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            let (reply, rx) = oneshot::channel();
            if let Err(error) = self.try_send(shard, ShardRequest::Append { batch: Arc::clone(&batch), series: part, reply }) {
                // The parts already queued will be applied: wait for them, so the history
                // bump comes after them.
                for (_, rx) in pending {
                    let _ = rx.await;
                }
                return Err(error);
            }
            pending.push((shard, rx));
        }
        // Every owner's reply is awaited, also after a failure, so the write is counted (and
        // history bumped) only once no part of it can still become visible.
        let (mut appended, mut refused, mut too_old, mut too_new, mut hourly, mut daily) = (0, 0, 0, 0, 0, 0);
        let mut exemplars = ExemplarCounts::default();
        let mut first_error = None;
        for (shard, rx) in pending {
            match rx.await {
                Ok(Ok(AppendAck {
                    samples_appended,
                    samples_refused,
                    samples_too_old,
                    samples_too_new,
                    samples_refused_hourly,
                    samples_refused_daily,
                    exemplars_appended,
                    exemplars_refused,
                })) => {
                    appended += samples_appended;
                    refused += samples_refused;
                    hourly += samples_refused_hourly;
                    daily += samples_refused_daily;
                    too_old += samples_too_old;
                    too_new += samples_too_new;
                    exemplars.stored += exemplars_appended;
                    exemplars.refused += exemplars_refused;
                }
                Ok(Err(message)) => _ = first_error.get_or_insert(SubmitError::Failed { shard, message }),
                Err(_) => _ = first_error.get_or_insert(SubmitError::ShuttingDown { shard }),
            }
        }
        match first_error {
            Some(error) => Err(error),
            None if refused + hourly + daily > 0 => Err(SubmitError::SeriesLimit { refused, hourly, daily, appended }),
            None if too_old + too_new > 0 => Err(SubmitError::OutsideTimeBounds { too_old, too_new, appended }),
            None => Ok((appended, exemplars)),
        }
    }

    /// Every shard's exemplars in `[mint_ms, maxt_ms]` of the series matching any matcher
    /// set (a series lives on one shard, so the lists only need joining), sorted by series.
    pub async fn exemplars(&self, matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<Vec<SeriesExemplars>, SubmitError> {
        let mut all: Vec<SeriesExemplars> = self
            .scatter(|reply| ShardRequest::Exemplars { matcher_sets: matcher_sets.clone(), mint_ms, maxt_ms, reply })
            .await?
            .into_iter()
            .flatten()
            .collect();
        all.sort_by(|a, b| a.series.cmp(&b.series));
        Ok(all)
    }

    /// Scatters the same request to every shard and gathers the replies in shard order.
    async fn scatter<T>(&self, make: impl Fn(oneshot::Sender<T>) -> ShardRequest) -> Result<Vec<T>, SubmitError> {
        let mut pending = Vec::with_capacity(self.shard_count());
        for shard in 0..self.shard_count() {
            let (reply, rx) = oneshot::channel();
            self.send(shard, make(reply)).await?;
            pending.push((shard, rx));
        }
        let mut out = Vec::with_capacity(pending.len());
        for (shard, rx) in pending {
            out.push(rx.await.map_err(|_| SubmitError::ShuttingDown { shard })?);
        }
        Ok(out)
    }

    /// Runs all `selects` on every shard; result `[i]` holds select `i`'s series from all
    /// shards, their chunks still encoded (`EncodedSeries::decode`). With `filters`
    /// (alternatives of matchers, see `api::read_filters`), select `i` holds only the series
    /// that also match one alternative, each once: the shards unite the alternatives, so a
    /// series matching two is loaded and counted once. A shard whose part would exceed
    /// `sample_limit` samples stops there, and the answer is `TooManySamples` (`usize::MAX`:
    /// no limit). The metric name of every series returned is counted in `name_stats`.
    pub async fn select(&self, selects: &[Select], filters: &[Vec<Matcher>], sample_limit: usize) -> Result<Vec<Vec<EncodedSeries>>, SubmitError> {
        let count = selects.len();
        let alternatives = filters.len().max(1);
        let asked = filtered_selects(selects, filters);
        let per_shard = self.scatter(|reply| ShardRequest::Select { selects: asked.clone(), alternatives, sample_limit, reply }).await?;
        let mut merged: Vec<Vec<EncodedSeries>> = (0..count).map(|_| Vec::new()).collect();
        for shard_result in per_shard {
            let shard_result = shard_result.ok_or(SubmitError::TooManySamples)?;
            for (i, series) in shard_result.into_iter().enumerate() {
                merged[i].extend(series);
            }
        }
        if let Some(stats) = &self.name_stats {
            stats.record(merged.iter().flatten().filter_map(|series| series.labels.metric_name()), crate::metric_names_stats::now_s());
        }
        Ok(merged)
    }

    /// `select`, decoded here: result `[i]` holds select `i`'s series with their samples in
    /// its range. `TooManySamples` also when the decoded answer holds more than `sample_limit`.
    pub async fn select_decoded(&self, selects: Vec<Select>, filters: &[Vec<Matcher>], sample_limit: usize) -> Result<Vec<Vec<SeriesSamples>>, SubmitError> {
        let ranges: Vec<(i64, i64)> = selects.iter().map(|s| (s.mint_ms, s.maxt_ms)).collect();
        let encoded = self.select(&selects, filters, sample_limit).await?;
        let mut loaded = 0usize;
        let mut decoded = Vec::with_capacity(encoded.len());
        for (series, (mint_ms, maxt_ms)) in encoded.iter().zip(ranges) {
            let samples = tsdb::encoded::decode_all(series, mint_ms, maxt_ms);
            loaded = loaded.saturating_add(samples.iter().map(|s| s.samples.len()).sum());
            if loaded > sample_limit {
                return Err(SubmitError::TooManySamples);
            }
            decoded.push(samples);
        }
        Ok(decoded)
    }

    pub async fn series(&self, select: Select) -> Result<Vec<Labels>, SubmitError> {
        let mut all: Vec<Labels> = self
            .scatter(|reply| ShardRequest::Series { select: select.clone(), reply })
            .await?
            .into_iter()
            .flatten()
            .collect();
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// How many series with samples in `[mint_ms, maxt_ms]` match any of `matcher_sets`
    /// (every series when there are none): each shard counts its own (a series lives on one
    /// shard), so no labels cross cores.
    pub async fn series_count(&self, matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<usize, SubmitError> {
        Ok(self.scatter(|reply| ShardRequest::SeriesCount { matcher_sets: matcher_sets.clone(), mint_ms, maxt_ms, reply }).await?.into_iter().sum())
    }

    pub async fn label_names(&self, select: Select) -> Result<Vec<String>, SubmitError> {
        let lists = self.scatter(|reply| ShardRequest::LabelNames { select: select.clone(), reply }).await?;
        Ok(merge_sorted_unique(lists))
    }

    pub async fn label_values(&self, name: &str, select: Select) -> Result<Vec<String>, SubmitError> {
        let lists = self
            .scatter(|reply| ShardRequest::LabelValues { name: name.to_string(), select: select.clone(), reply })
            .await?;
        Ok(merge_sorted_unique(lists))
    }

    /// For each prefix, its children among label `name`'s values read as paths split at
    /// `delimiter` (sorted, each once; nodes end with the delimiter), from every shard.
    pub async fn label_value_children(&self, name: &str, prefixes: Vec<String>, delimiter: char, select: Select) -> Result<Vec<Vec<String>>, SubmitError> {
        let per_shard = self
            .scatter(|reply| ShardRequest::LabelValueChildren { name: name.to_string(), prefixes: prefixes.clone(), delimiter, select: select.clone(), reply })
            .await?;
        let mut per_prefix: Vec<Vec<Vec<String>>> = prefixes.iter().map(|_| Vec::with_capacity(per_shard.len())).collect();
        for lists in per_shard {
            for (children, list) in per_prefix.iter_mut().zip(lists) {
                children.push(list);
            }
        }
        Ok(per_prefix.into_iter().map(merge_sorted_unique).collect())
    }

    /// Records metadata on the shards responsible for each family. Best effort: a full queue
    /// drops the update (senders resend metadata periodically).
    pub fn put_metadata(&self, entries: Vec<MetricMetadata>) {
        let shard_count = self.shard_count();
        let mut parts: Vec<Vec<MetricMetadata>> = (0..shard_count).map(|_| Vec::new()).collect();
        for m in entries {
            let shard = (xxh3_of(&m.family) % shard_count as u64) as usize;
            parts[shard].push(m);
        }
        for (shard, entries) in parts.into_iter().enumerate() {
            if !entries.is_empty() {
                let _ = self.try_send(shard, ShardRequest::PutMetadata { entries });
            }
        }
    }

    /// Metadata from every shard, sorted by family.
    pub async fn metadata(&self, metric: Option<String>) -> Result<Vec<MetricMetadata>, SubmitError> {
        let mut all: Vec<MetricMetadata> =
            self.scatter(|reply| ShardRequest::Metadata { metric: metric.clone(), reply }).await?.into_iter().flatten().collect();
        all.sort_by(|a, b| a.family.cmp(&b.family));
        Ok(all)
    }

    /// Deletes `[mint_ms, maxt_ms]` of the series matching any set, on every shard; returns
    /// once every shard made its part durable.
    pub async fn delete_series(&self, matcher_sets: Vec<Vec<tsdb::Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<(), SubmitError> {
        let _bump = BumpOnDrop(&self.history);
        let results = self
            .scatter(|reply| ShardRequest::DeleteSeries { matcher_sets: matcher_sets.clone(), mint_ms, maxt_ms, reply })
            .await?;
        for (shard, result) in results.into_iter().enumerate() {
            result.map_err(|message| SubmitError::Failed { shard, message })?;
        }
        Ok(())
    }

    /// Rewrites every shard's blocks that have tombstones.
    pub async fn clean_tombstones(&self) -> Result<(), SubmitError> {
        let results = self.scatter(|reply| ShardRequest::CleanTombstones { reply }).await?;
        for (shard, result) in results.into_iter().enumerate() {
            result.map_err(|message| SubmitError::Failed { shard, message })?;
        }
        Ok(())
    }

    /// Every shard writes its part of a snapshot into `root` (see `ShardRequest::Snapshot`).
    pub async fn snapshot(&self, root: &std::path::Path, skip_head: bool) -> Result<(), SubmitError> {
        let results = self.scatter(|reply| ShardRequest::Snapshot { root: root.to_path_buf(), skip_head, reply }).await?;
        for (shard, result) in results.into_iter().enumerate() {
            result.map_err(|message| SubmitError::Failed { shard, message })?;
        }
        Ok(())
    }

    /// Each shard's cardinality figures over the series matching any of `matcher_sets`
    /// (every series when there are none) with samples in `[mint_ms, maxt_ms]`.
    pub async fn cardinality(&self, matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64) -> Result<Vec<super::messages::ShardCardinality>, SubmitError> {
        self.scatter(|reply| ShardRequest::Cardinality { matcher_sets: matcher_sets.clone(), mint_ms, maxt_ms, reply }).await
    }

    pub async fn stats(&self) -> Result<Vec<ShardStatsSnapshot>, SubmitError> {
        self.scatter(|reply| ShardRequest::Stats { reply }).await
    }

    /// Earliest and latest sample time over all shards (none when all are empty).
    pub async fn time_range(&self) -> Result<Option<(i64, i64)>, SubmitError> {
        let ranges = self.scatter(|reply| ShardRequest::TimeRange { reply }).await?;
        Ok(ranges.into_iter().flatten().reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1))))
    }

    /// Every shard's open blocks, ordered by time (then ULID).
    pub async fn blocks(&self) -> Result<Vec<tsdb::block::BlockMeta>, SubmitError> {
        let mut all: Vec<tsdb::block::BlockMeta> = self.scatter(|reply| ShardRequest::Blocks { reply }).await?.into_iter().flatten().collect();
        all.sort_by(|a, b| (a.min_time_ms, a.max_time_ms, &a.ulid).cmp(&(b.min_time_ms, b.max_time_ms, &b.ulid)));
        Ok(all)
    }
}

/// Bumps the history generation when dropped: after the awaited replies, or when the request
/// future is abandoned midway (the shards may have applied it anyway).
struct BumpOnDrop<'a>(&'a HistoryGeneration);

impl Drop for BumpOnDrop<'_> {
    fn drop(&mut self) {
        self.0.bump();
    }
}

/// Counts a write request as answered when dropped (after its owners replied).
struct WriteCountOnDrop<'a>(&'a HistoryGeneration);

impl Drop for WriteCountOnDrop<'_> {
    fn drop(&mut self) {
        self.0.count_write();
    }
}

fn unix_now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn xxh3_of(text: &str) -> u64 {
    tsdb::model::stable_hash_of(std::iter::once((text.as_bytes(), &b""[..])))
}

fn merge_sorted_unique(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut all: Vec<String> = lists.into_iter().flatten().collect();
    all.sort();
    all.dedup();
    all
}

/// Each select once per alternative of `filters`, its matchers joined with the
/// alternative's, in order (the alternatives of the first select, then of the next); the
/// selects themselves when there are no filters.
pub fn filtered_selects(selects: &[Select], filters: &[Vec<Matcher>]) -> Vec<Select> {
    if filters.is_empty() {
        return selects.to_vec();
    }
    selects
        .iter()
        .flat_map(|select| filters.iter().map(move |alternative| Select { matchers: select.matchers.iter().chain(alternative).cloned().collect(), ..select.clone() }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filtered_selects_ask_each_select_once_per_alternative_in_order() {
        let m = |name: &str, value: &str| Matcher::new(tsdb::MatchOp::Equal, name, value).expect("matcher");
        let selects = vec![Select::all(vec![m("__name__", "x")], 0, 100), Select { last_only: true, ..Select::all(vec![m("__name__", "y")], 5, 50) }];
        let filters = vec![vec![m("team", "a")], vec![m("i", "1")]];
        let shown: Vec<String> = filtered_selects(&selects, &filters)
            .iter()
            .map(|s| format!("{:?} {} {} {}", s.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>(), s.mint_ms, s.maxt_ms, s.last_only))
            .collect();
        assert_eq!(
            shown,
            vec![
                r#"["__name__=\"x\"", "team=\"a\""] 0 100 false"#,
                r#"["__name__=\"x\"", "i=\"1\""] 0 100 false"#,
                r#"["__name__=\"y\"", "team=\"a\""] 5 50 true"#,
                r#"["__name__=\"y\"", "i=\"1\""] 5 50 true"#,
            ]
        );
        assert_eq!(filtered_selects(&selects, &[]).len(), 2, "no filters: the selects as they are");
    }

    #[test]
    fn routing_is_stable_and_in_range() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        for count in 1..16 {
            let shard = shard_for(&labels, count);
            assert!(shard < count);
            assert_eq!(shard, shard_for(&labels.clone(), count));
        }
    }

    #[test]
    fn a_batch_splits_by_the_labels_shard() {
        let series: Vec<SeriesSamples> = (0..50)
            .map(|i| SeriesSamples { labels: Labels::from_pairs([("__name__", "up".to_string()), ("pod", format!("p{i}"))]), samples: vec![], histograms: Vec::new(), starts: None })
            .collect();
        let parts = split_by_shard(&SeriesBatch::from_series(&series), 7);
        assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 50);
        for (shard, part) in parts.iter().enumerate() {
            assert!(part.windows(2).all(|w| w[0] < w[1]), "batch order kept");
            assert!(part.iter().all(|&i| shard_for(&series[i as usize].labels, 7) == shard));
        }
    }

    #[test]
    fn merge_dedups() {
        let merged = merge_sorted_unique(vec![vec!["a".into(), "c".into()], vec!["b".into(), "a".into()]]);
        assert_eq!(merged, vec!["a", "b", "c"]);
    }
}

#[cfg(test)]
mod queue_tests {
    use super::*;

    #[test]
    fn a_full_shard_queue_is_reported_not_waited_on() {
        let (tx, rx) = async_channel::bounded(1);
        let router = ShardRouter::new(vec![tx.clone()], Arc::default());
        let (reply, _keep) = oneshot::channel();
        tx.try_send(ShardRequest::Stats { reply }).unwrap();
        let series = vec![SeriesSamples { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }], histograms: Vec::new(), starts: None }];
        let result = futures_lite::future::block_on(router.append(SeriesBatch::from_series(&series)));
        assert!(matches!(result, Err(SubmitError::QueueFull { shard: 0 })), "{result:?}");
        drop(rx);
    }

    #[test]
    fn an_answered_write_is_counted_after_its_owner_replied() {
        let (tx, rx) = async_channel::bounded(1);
        let history: Arc<HistoryGeneration> = Arc::default();
        let router = ShardRouter::new(vec![tx], history.clone());
        let owner = std::thread::spawn({
            let history = history.clone();
            move || {
                let request = rx.recv_blocking().expect("the append arrives");
                // Not counted while the owner has not answered.
                let counted_before_reply = history.writes_answered();
                if let ShardRequest::Append { reply, .. } = request {
                    let _ = reply.send(Ok(AppendAck { samples_appended: 1, ..AppendAck::default() }));
                }
                counted_before_reply
            }
        });
        let series = vec![SeriesSamples { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }], histograms: Vec::new(), starts: None }];
        let result = futures_lite::future::block_on(router.append(SeriesBatch::from_series(&series)));
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(owner.join().expect("owner thread"), 0);
        assert_eq!(history.writes_answered(), 1);
    }

    #[test]
    fn full_shard_names_the_first_full_queue_and_none_when_there_is_room() {
        let (tx0, _rx0) = async_channel::bounded(1);
        let (tx1, _rx1) = async_channel::bounded(1);
        let router = ShardRouter::new(vec![tx0, tx1.clone()], Arc::default());
        assert_eq!(router.full_shard(), None);
        let (reply, _keep) = oneshot::channel();
        tx1.try_send(ShardRequest::Stats { reply }).unwrap();
        assert_eq!(router.full_shard(), Some(1));
    }
}
