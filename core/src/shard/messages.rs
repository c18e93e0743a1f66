//! The one message enum that crosses executors towards a shard owner, with a oneshot
//! reply channel per request. Everything here is owned, `Send` data.

use futures_channel::oneshot;
use std::sync::Arc;

use tsdb::{EncodedSeries, Labels, Matcher, SeriesBatch, SeriesExemplars};

use crate::ingest::MetricMetadata;

/// A select request: matchers and an inclusive time range in milliseconds.
#[derive(Clone, Debug)]
pub struct Select {
    pub matchers: Vec<Matcher>,
    pub mint_ms: i64,
    pub maxt_ms: i64,
    /// The asker uses only each series' last sample in the range
    /// (`ShardDb::select_yielding`); listings ignore it.
    pub last_only: bool,
}

impl Select {
    /// Every sample of the matching series in `[mint_ms, maxt_ms]`.
    pub fn all(matchers: Vec<Matcher>, mint_ms: i64, maxt_ms: i64) -> Select {
        Select { matchers, mint_ms, maxt_ms, last_only: false }
    }
}

/// What a shard has done so far (its `ShardDb` statistics), for `/metrics`.
#[derive(Clone, Debug, Default)]
pub struct ShardStatsSnapshot {
    pub shard: usize,
    pub stats: tsdb::ShardStats,
}

/// One shard's cardinality: series per metric name and per label pair, and label values.
#[derive(Clone, Debug, Default)]
pub struct ShardCardinality {
    pub shard: usize,
    pub series: u64,
    pub series_by_metric: std::collections::HashMap<String, u64>,
    pub series_by_pair: std::collections::HashMap<(String, String), u64>,
}

/// Result of appending one request's sub-batch.
#[derive(Clone, Debug, Default)]
pub struct AppendAck {
    pub samples_appended: u64,
    /// Samples of new series refused by the series limit (`storage.max_series`).
    pub samples_refused: u64,
    /// Samples older than the retention allows (`tsdb::ShardOptions::bound_by_clock`).
    pub samples_too_old: u64,
    /// Samples more than `tsdb::shard::FUTURE_SAMPLES_MAX_MS` ahead of the clock.
    pub samples_too_new: u64,
    /// Samples of series refused by the cardinality limiter: not yet seen this hour
    /// (`storage.max_hourly_series`) or this day (`storage.max_daily_series`).
    pub samples_refused_hourly: u64,
    pub samples_refused_daily: u64,
    /// Exemplars stored in the shard's buffer.
    pub exemplars_appended: u64,
    /// Exemplars refused (out of order, their series refused, or none stored).
    pub exemplars_refused: u64,
}

pub enum ShardRequest {
    /// Append one request's series to this shard: the series at `series` (indices) of the
    /// request's batch, which every shard of the request shares. The reply comes after the
    /// WAL commit.
    Append { batch: Arc<SeriesBatch>, series: Vec<u32>, reply: oneshot::Sender<Result<AppendAck, String>> },
    /// Several selects at once (one PromQL query's selectors), answered in order with the
    /// series' chunks still encoded (the asker decodes them, off the shard's core).
    /// `None` when the shard stopped because the selects would load more than
    /// `sample_limit` samples (see `ShardDb::select_yielding`). `alternatives` (at least 1)
    /// consecutive selects are one asked select under read filters (one per alternative,
    /// `ShardRouter::select`): the shard answers their union, each series once and counted
    /// once toward the limit.
    Select { selects: Vec<Select>, alternatives: usize, sample_limit: usize, reply: oneshot::Sender<Option<Vec<Vec<EncodedSeries>>>> },
    Series { select: Select, reply: oneshot::Sender<Vec<Labels>> },
    /// How many series with samples in `[mint_ms, maxt_ms]` match any of `matcher_sets`
    /// (every series when there are none), counted where they live.
    SeriesCount { matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64, reply: oneshot::Sender<usize> },
    /// Exemplars in `[mint_ms, maxt_ms]` of the series matching any matcher set (for
    /// `/api/v1/query_exemplars`).
    Exemplars { matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64, reply: oneshot::Sender<Vec<SeriesExemplars>> },
    LabelNames { select: Select, reply: oneshot::Sender<Vec<String>> },
    LabelValues { name: String, select: Select, reply: oneshot::Sender<Vec<String>> },
    /// For each prefix, its children among label `name`'s values read as paths split at
    /// `delimiter` (Graphite's tree: nodes end with the delimiter), answered in order.
    LabelValueChildren { name: String, prefixes: Vec<String>, delimiter: char, select: Select, reply: oneshot::Sender<Vec<Vec<String>>> },
    Stats { reply: oneshot::Sender<ShardStatsSnapshot> },
    /// Earliest and latest sample time this shard holds (none when empty).
    TimeRange { reply: oneshot::Sender<Option<(i64, i64)>> },
    /// The metadata of the blocks the shard has open (`/api/v1/status/tsdb/blocks`).
    Blocks { reply: oneshot::Sender<Vec<tsdb::block::BlockMeta>> },
    /// Cardinality figures of this shard's series that match any of `matcher_sets` (every
    /// series when there are none) and hold samples in `[mint_ms, maxt_ms]`, for
    /// `/api/v1/status/tsdb`.
    Cardinality { matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64, reply: oneshot::Sender<ShardCardinality> },
    /// Latest metadata of metric families this shard is responsible for (by family name hash).
    PutMetadata { entries: Vec<MetricMetadata> },
    /// Deletes `[mint_ms, maxt_ms]` of every series matching any matcher set; the reply
    /// comes once the deletion is durable (WAL record, block tombstone files).
    DeleteSeries { matcher_sets: Vec<Vec<Matcher>>, mint_ms: i64, maxt_ms: i64, reply: oneshot::Sender<Result<(), String>> },
    /// Rewrites this shard's blocks that have tombstones without the deleted data.
    CleanTombstones { reply: oneshot::Sender<Result<(), String>> },
    /// Writes this shard's blocks (hard links) and, unless `skip_head`, its head (as a
    /// block) into `shard-<i>` under the snapshot directory `root`.
    Snapshot { root: std::path::PathBuf, skip_head: bool, reply: oneshot::Sender<Result<(), String>> },
    /// Metadata held by this shard, optionally for one metric family.
    Metadata { metric: Option<String>, reply: oneshot::Sender<Vec<MetricMetadata>> },
}
