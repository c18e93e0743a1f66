//! `ShardDb`: one shard's storage as the server sees it. Appends go WAL-first (one group
//! commit for many requests), then into the head; `maintain` cuts the head into blocks,
//! checkpoints the WAL and applies retention; reads merge the head with every block.

use std::path::PathBuf;
use std::rc::Rc;

use crate::block::{self, Block, PageCache};
use crate::exemplar::ExemplarBuffer;
use crate::head::Head;
use crate::wal::Wal;

mod append;
mod compaction;
mod cut;
mod cut_ranges;
/// `delete` removes samples from the head (WAL tombstones record first) and marks them in
/// block tombstones; `clean_tombstones` rewrites blocks without their deleted data.
mod delete;
mod head_checkpoint;
mod open;
mod read;
mod retention;
pub mod series_window;
mod snapshot;
mod stats;

pub use compaction::{CompactionOutcome, COMPACTION_RETRY_DELAY};
pub use cut::CUT_RETRY_DELAY;

/// Prometheus' default block range.
pub const BLOCK_DURATION_MS_DEFAULT: i64 = 2 * 3600 * 1000;
/// Prometheus' default retention.
pub const RETENTION_MS_DEFAULT: i64 = 15 * 24 * 3600 * 1000;
/// Cuts made by one `maintain` call, so one call's pause stays bounded (the next call
/// continues a backlog).
pub const CUTS_PER_MAINTAIN_MAX: usize = 4;
/// Ranges one cut takes at most (`cut_ranges`): 256 two-hour ranges are 21 days of history.
pub const CUT_RANGES_MAX: usize = 256;
/// Default `max_head_samples` per shard: about 100 MiB of XOR chunks at ~2 bytes/sample,
/// far above a 2 h range of a typical shard, so only an unusually dense head is cut early.
pub const MAX_HEAD_SAMPLES_DEFAULT: u64 = 50_000_000;
/// Late samples (behind the cut watermark: an import of history, a backfill) are cut early,
/// without waiting for the next regular cut, once there are more than
/// `max_head_samples / LATE_SAMPLES_DIVISOR` of them: left in the head they would hold
/// memory (and WAL) that live data needs, up to the whole `max_head_samples`.
pub const LATE_SAMPLES_DIVISOR: u64 = 16;
/// Metricstor's WAL directory inside a shard directory. Not `wal/`: Prometheus tools
/// (`promtool tsdb dump`) read `wal/` as a Prometheus WAL, which ours is not.
pub const WAL_DIRNAME: &str = "metricstor-wal";
/// Where data directories written before the rename keep their WAL (moved at open).
pub const WAL_DIRNAME_LEGACY: &str = "wal";

#[derive(Clone, Debug)]
pub struct ShardOptions {
    pub wal_segment_bytes: u64,
    pub fsync_on_commit: bool,
    /// Snappy-compress WAL records (`storage.wal_compression`).
    pub wal_compression: bool,
    /// Range of one block; the head is cut at multiples of it (Prometheus' alignment).
    pub block_duration_ms: i64,
    /// Blocks whose whole range is older than this (relative to `maintain`'s clock) are deleted.
    pub retention_ms: i64,
    /// Size retention (Prometheus' `--storage.tsdb.retention.size`): while the WAL and the
    /// blocks take more bytes than this, the oldest blocks are deleted. 0 = no limit.
    pub retention_bytes: u64,
    /// Size retention as a share of the file system holding the shard (Prometheus'
    /// `storage.tsdb.retention.percentage`, divided among the shards): a fraction in (0, 1]
    /// of its total size, measured at each `maintain`; it prevails over `retention_bytes`
    /// unless the size cannot be read. 0 = none.
    pub retention_disk_fraction: f64,
    /// Capacity of the shard's block page cache (`block::PageCache`); 0 disables caching.
    pub page_cache_bytes: u64,
    /// When the head holds more samples than this, its oldest range is cut early (the
    /// blocks that range later gets overlap and are merged by compaction). 0 = no limit.
    pub max_head_samples: u64,
    /// Series the head may hold: samples of a new series past it are refused (counted in
    /// `AppendOutcome::samples_refused_series_limit`), existing series go on. 0 = no limit.
    pub max_series: u64,
    /// Distinct series that may take samples within one wall-clock hour, and within one UTC
    /// day (VictoriaMetrics' cardinality limiter, `series_window`): past either, samples of
    /// a series not yet seen in that window are refused (counted in
    /// `AppendOutcome::samples_refused_hourly_limit`, `_daily_limit`). 0 = no limit.
    pub max_hourly_series: u64,
    pub max_daily_series: u64,
    /// Exemplars the shard keeps (its `ExemplarBuffer`'s capacity); 0 stores none.
    pub max_exemplars: u64,
    /// Overlapping blocks are merged into their largest only once the newest of them is this
    /// old (`block::compact_plan::OVERLAP_SETTLE_MS`); 0 merges them at once.
    pub overlap_settle_ms: u64,
    /// Counts the WAL segments opening has to replay and has replayed (start-up status).
    pub replay_progress: Option<std::sync::Arc<crate::wal::ReplayProgress>>,
    /// A sample's start time in a batch (`SeriesBatchBuilder::push_start_timestamps`) is
    /// written as a zero sample before it (Prometheus' created-timestamp zero ingestion).
    pub start_timestamp_zero_ingestion: bool,
    /// A sample's start time in a batch is stored with the sample (Prometheus' `st-storage`)
    /// and answered in `SeriesSamples::starts`: the WAL logs it (started samples records,
    /// `tsdb/docs/wal.md`), the head keeps the series' floats in XOR2 chunks (its native
    /// histograms in float histogram ST chunks) from its first start on, blocks get those
    /// chunks. An out-of-order sample loses its start. Checked
    /// once per append call; off, nothing is stored or costs more than without starts.
    pub start_timestamp_storage: bool,
    /// How much later than due the head's regular cut waits (Prometheus' delayed compaction:
    /// `random_head_cut_delay_ms` gives each shard its own, so that shards, and servers, do
    /// not all cut at once). Measured in sample time, as due is: the range is cut once the
    /// head's newest sample is half a block plus this past its end. Cuts over
    /// `max_head_samples`, of late samples and forced ones do not wait. 0 = none.
    pub head_cut_delay_ms: i64,
    /// Holds writes to the wall clock, as VictoriaMetrics does: samples (floats and native
    /// histograms) older than `retention_ms` or more than `FUTURE_SAMPLES_MAX_MS` ahead of
    /// the clock are refused before the WAL (`AppendOutcome::samples_refused_too_old`,
    /// `_too_new`), and the head's cut goes by its newest sample no later than the clock. So
    /// one sample from a broken clock neither lands in a block that retention deletes at
    /// once nor makes every live range due (and every later sample late). Off for tools
    /// and tests that write synthetic times.
    pub bound_by_clock: bool,
}

/// How far ahead of the wall clock a sample may lie under `ShardOptions::bound_by_clock`
/// (VictoriaMetrics' bound: two days).
pub const FUTURE_SAMPLES_MAX_MS: i64 = 2 * 24 * 3600 * 1000;

/// Prometheus' upper bound of the delayed compaction's delay, in percent of the block range.
pub const HEAD_CUT_DELAY_MAX_PERCENT: i64 = 10;

/// A random head cut delay in `[0, block_duration_ms × HEAD_CUT_DELAY_MAX_PERCENT / 100)`, as
/// Prometheus draws its compaction delay when the feature is on (0 for a range too short).
pub fn random_head_cut_delay_ms(block_duration_ms: i64) -> i64 {
    let bound = block_duration_ms.saturating_mul(HEAD_CUT_DELAY_MAX_PERCENT) / 100;
    if bound <= 0 {
        return 0;
    }
    (block::random_u64() % bound as u64) as i64
}

impl Default for ShardOptions {
    fn default() -> Self {
        ShardOptions {
            wal_segment_bytes: 64 << 20,
            fsync_on_commit: true,
            wal_compression: true,
            block_duration_ms: BLOCK_DURATION_MS_DEFAULT,
            retention_ms: RETENTION_MS_DEFAULT,
            retention_bytes: 0,
            retention_disk_fraction: 0.0,
            page_cache_bytes: block::PAGE_CACHE_BYTES_DEFAULT,
            max_head_samples: MAX_HEAD_SAMPLES_DEFAULT,
            max_series: 0,
            max_hourly_series: 0,
            max_daily_series: 0,
            max_exemplars: crate::exemplar::EXEMPLARS_PER_SHARD_DEFAULT,
            overlap_settle_ms: block::compact_plan::OVERLAP_SETTLE_MS,
            replay_progress: None,
            start_timestamp_zero_ingestion: false,
            start_timestamp_storage: false,
            head_cut_delay_ms: 0,
            bound_by_clock: false,
        }
    }
}

/// What one `maintain` call did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaintainOutcome {
    pub blocks_cut: Vec<String>,
    pub blocks_deleted: Vec<String>,
}

/// What one `delete` call removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Head series that lost samples.
    pub head_series: u64,
    /// Block series that got a new tombstone interval (summed over blocks).
    pub block_series: u64,
}

/// What happened to one group's samples. Native histogram samples count as samples in
/// every field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub samples_appended: u64,
    pub samples_out_of_order: u64,
    pub duplicates_overwritten: u64,
    /// Samples not stored because their series is new and the head holds
    /// `ShardOptions::max_series` series.
    pub samples_refused_series_limit: u64,
    /// Samples not stored because their timestamp already holds a sample of the other kind
    /// (a float where a histogram came, or the reverse); the stored one stays.
    pub samples_refused_type_conflict: u64,
    /// Samples not stored under `ShardOptions::bound_by_clock`: older than the retention
    /// allows.
    pub samples_refused_too_old: u64,
    /// Likewise: more than `FUTURE_SAMPLES_MAX_MS` ahead of the clock.
    pub samples_refused_too_new: u64,
    /// Samples not stored because their series was not yet seen in this hour, or this day,
    /// and the hour's (day's) series limit was reached (`ShardOptions::max_hourly_series`,
    /// `max_daily_series`).
    pub samples_refused_hourly_limit: u64,
    pub samples_refused_daily_limit: u64,
    /// Exemplars stored.
    pub exemplars_appended: u64,
    /// Exemplars refused: out of order, of a series refused by the series limit, or with
    /// exemplar storage off. (A duplicate of the stored one is neither.)
    pub exemplars_refused: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub series: u64,
    pub samples_appended_total: u64,
    pub samples_out_of_order_total: u64,
    pub duplicates_overwritten_total: u64,
    pub samples_refused_series_limit_total: u64,
    pub samples_refused_type_conflict_total: u64,
    pub samples_refused_too_old_total: u64,
    pub samples_refused_too_new_total: u64,
    pub samples_refused_hourly_limit_total: u64,
    pub samples_refused_daily_limit_total: u64,
    /// Series seen in the current hour and day by the cardinality limiter, and its limits
    /// (0: no limit).
    pub hourly_series: u64,
    pub hourly_series_limit: u64,
    pub daily_series: u64,
    pub daily_series_limit: u64,
    pub wal_bytes_written_total: u64,
    pub wal_fsyncs_total: u64,
    pub blocks: u64,
    /// Block page cache (see `block::PageCacheStats`).
    pub page_cache_hits_total: u64,
    pub page_cache_misses_total: u64,
    pub page_cache_evictions_total: u64,
    pub page_cache_bytes: u64,
    pub block_direct_io_fallbacks_total: u64,
    /// Compactions committed (a new block swapped in for its parents).
    pub compactions_total: u64,
    /// Compactions that failed (an error writing or committing); retried later.
    pub compactions_failed_total: u64,
    /// Compactions whose result was thrown away because a parent changed meanwhile.
    pub compactions_discarded_total: u64,
    /// Wall time spent merging, summed over finished compactions.
    pub compaction_seconds_total: f64,
    /// Open blocks per compaction level: index `i` counts level `i + 1`; the last slot
    /// counts every level from `BLOCK_LEVELS_COUNTED` up.
    pub blocks_by_level: [u64; BLOCK_LEVELS_COUNTED],
    /// Exemplars in the shard's buffer now.
    pub exemplars_stored: u64,
    /// Samples (floats and histograms) in the head.
    pub head_samples: u64,
    /// Of those, about how many lie behind the newest range cut (see `LATE_SAMPLES_DIVISOR`).
    pub head_late_samples: u64,
}

/// Levels `ShardStats::blocks_by_level` tells apart.
pub const BLOCK_LEVELS_COUNTED: usize = 8;


pub struct ShardDb {
    dir: PathBuf,
    options: ShardOptions,
    head: Head,
    wal: Wal,
    /// The newest exemplars (`ShardOptions::max_exemplars`), kept in memory only: they go
    /// into the same WAL write as their samples, and the WAL and its checkpoints restore them
    /// at open.
    exemplars: ExemplarBuffer,
    /// Open blocks sorted by ULID (creation order); later blocks win ties on read.
    blocks: Vec<Block>,
    /// Shared by every block of the shard; a dropped block's pages leave it.
    page_cache: Rc<PageCache>,
    stats: ShardStats,
    /// Compaction ranges from the block duration and retention (`block::compaction_ranges`).
    compaction_ranges: Vec<i64>,
    /// The planned compaction whose result has not been finished yet (at most one).
    compaction_in_flight: Option<block::CompactionJob>,
    /// Set by a failed compaction: no plan before this instant.
    compaction_retry_at: Option<std::time::Instant>,
    /// Set by a failed cut: `cut_due` says no before this instant, so that a lasting
    /// failure (a full disk) is not retried after every request group, each try encoding the
    /// whole due part of the head again; `maintain` (each minute) still tries.
    cut_retry_at: Option<std::time::Instant>,
    /// End of the newest range cut so far (from the blocks at open). Samples behind it came
    /// late; they wait in the head for the next regular cut instead of each late write
    /// cutting a block of its own.
    cut_watermark_ms: i64,
    /// The millisecond after the newest block ULID handed out by this process, committed or
    /// not: a failed cut's blocks that could not be removed are named by a kept pending
    /// checkpoint's ULID range, which no later block may fall into.
    next_ulid_ms: u64,
    /// Samples appended behind `cut_watermark_ms` since the last cut that reached it (an
    /// estimate: overwrites and duplicates count too; in a series whose first and last
    /// samples are both past the watermark, none is counted); see `LATE_SAMPLES_DIVISOR`.
    late_samples: u64,
    /// The cardinality limiter's windows (`ShardOptions::max_hourly_series`,
    /// `max_daily_series`); none without a limit.
    hourly_series: Option<series_window::SeriesWindowLimit>,
    daily_series: Option<series_window::SeriesWindowLimit>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs `work` on glommio's blocking thread pool and waits for it without blocking the
/// executor (its other tasks run meanwhile). A panic in `work` is raised again here, as if
/// it had run on this thread. Tests' faults armed on this thread go with the work and come
/// back with it (meanwhile this thread has none).
async fn on_blocking_thread<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
    let faults = crate::fault::carry();
    let (outcome, faults) = glommio::executor()
        .spawn_blocking(move || {
            crate::fault::land(faults);
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            (outcome, crate::fault::carry())
        })
        .await;
    crate::fault::land(faults);
    outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
