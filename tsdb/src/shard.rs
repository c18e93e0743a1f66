//! `ShardDb`: one shard's storage as the server sees it. Appends go WAL-first (one group
//! commit for many requests), then into the head; `maintain` cuts the head into blocks,
//! checkpoints the WAL and applies retention; reads merge the head with every block.
//! `delete` removes samples from the head (WAL tombstones record first) and marks them in
//! block tombstones; `clean_tombstones` rewrites blocks without their deleted data.
//! Exemplars go into the same WAL write as their samples and into a bounded buffer.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::block::{self, Block, BlockMeta, BlockSeries, PageCache};
use crate::error::Error;
use crate::exemplar::{Exemplar, ExemplarAdd, ExemplarBuffer, SeriesExemplars};
use crate::head::{AppendResult, ChunkRanges, Head};
use crate::encoded::EncodedSeries;
use crate::merge::{merge_encoded_series, merge_series};
use crate::model::{BatchPart, HistogramSample, Labels, Matcher, SeriesBatch, SeriesSamples};
use crate::wal::checkpoint::{self, CheckpointWriter};
use crate::wal::{Record, Wal, WalOptions};
use crate::Querier;

mod compaction;
mod cut_ranges;

pub use compaction::{CompactionOutcome, COMPACTION_RETRY_DELAY};

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
/// Series and samples per checkpoint record, far below the WAL record size limit.
const CHECKPOINT_SERIES_PER_RECORD: usize = 10_000;
const CHECKPOINT_SAMPLES_PER_RECORD: usize = 100_000;
/// Native histograms per checkpoint record (each a few hundred bytes).
const CHECKPOINT_HISTOGRAMS_PER_RECORD: usize = 10_000;
/// Exemplars per checkpoint record.
const CHECKPOINT_EXEMPLARS_PER_RECORD: usize = 10_000;

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
            max_exemplars: crate::exemplar::EXEMPLARS_PER_SHARD_DEFAULT,
            overlap_settle_ms: block::compact_plan::OVERLAP_SETTLE_MS,
            replay_progress: None,
            start_timestamp_zero_ingestion: false,
            start_timestamp_storage: false,
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
    /// The newest exemplars (`ShardOptions::max_exemplars`), kept in memory only: the WAL
    /// and its checkpoints restore them at open.
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
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// How many series ahead of its use an append prefetches a series record (and half as
/// many, what the record points to).
const PREFETCH_SERIES_AHEAD: usize = 8;

/// Prefetch hints for an append's pass at `position` over its series (`id_at`: the id of
/// the series at a position, if known): the record of the series `PREFETCH_SERIES_AHEAD`
/// later, and what the record points to for the one half as far.
#[inline]
fn prefetch_ahead(head: &Head, position: usize, id_at: impl Fn(usize) -> Option<u32>) {
    if let Some(ahead) = id_at(position + PREFETCH_SERIES_AHEAD) {
        head.prefetch_series(ahead);
    }
    if let Some(ahead) = id_at(position + PREFETCH_SERIES_AHEAD / 2) {
        head.prefetch_series_data(ahead);
    }
}

/// The zero samples `series`' start timestamps ask for (see `StartTimestamp`), floats and
/// native histograms, each time-ordered: a start is taken when it lies before its sample, at
/// or after `watermark` (the head takes nothing older as in order) and after `newest` (what
/// the series held before this entry) and after every sample of the entry before its own.
fn start_zeros(series: crate::BatchSeries<'_>, newest: Option<i64>, watermark: i64) -> (Vec<crate::Sample>, Vec<HistogramSample>) {
    let (mut zeros, mut zero_histograms) = (Vec::new(), Vec::new());
    let mut newest = newest;
    for start in series.start_timestamps() {
        let before_own = |t: i64| t < start.sample_ms;
        let entry_newest = [
            series.samples().iter().map(|s| s.timestamp_ms).filter(|&t| before_own(t)).max(),
            series.histograms().iter().map(|h| h.timestamp_ms).filter(|&t| before_own(t)).max(),
        ];
        let newest_before = entry_newest.into_iter().flatten().chain(newest).max();
        if start.start_ms >= start.sample_ms || start.start_ms < watermark || newest_before.is_some_and(|n| start.start_ms <= n) {
            continue;
        }
        match series.histograms().iter().find(|h| h.timestamp_ms == start.sample_ms) {
            Some(own) => {
                let zero = crate::FloatHistogram {
                    counter_reset_hint: crate::CounterResetHint::CounterReset,
                    schema: own.histogram.schema,
                    zero_threshold: own.histogram.zero_threshold,
                    custom_values: own.histogram.custom_values.clone(),
                    ..crate::FloatHistogram::default()
                };
                zero_histograms.push(HistogramSample { timestamp_ms: start.start_ms, histogram: std::sync::Arc::new(zero) });
            }
            None => zeros.push(crate::Sample { timestamp_ms: start.start_ms, value: 0.0 }),
        }
        newest = Some(start.start_ms);
    }
    (zeros, zero_histograms)
}

fn apply_to_head(head: &mut Head, id: u32, sample: crate::Sample, outcome: &mut AppendOutcome) {
    count_result(head.append(id, sample), outcome);
}

fn apply_started_to_head(head: &mut Head, id: u32, sample: crate::Sample, start_ms: i64, outcome: &mut AppendOutcome) {
    count_result(head.append_started(id, sample, start_ms), outcome);
}

/// The start times `series`' batch entry gives, as `(sample_ms, start_ms)` sorted by sample
/// time, `None` when it gives none other than 0 (`start_timestamp_storage` then stores the
/// entry as any other).
fn entry_starts(series: crate::BatchSeries<'_>) -> Option<Vec<(i64, i64)>> {
    let starts = series.start_timestamps();
    if starts.iter().all(|s| s.start_ms == 0) {
        return None;
    }
    let mut by_sample: Vec<(i64, i64)> = starts.iter().map(|s| (s.sample_ms, s.start_ms)).collect();
    by_sample.sort_unstable();
    Some(by_sample)
}

/// The start of the sample at `t` in `entry_starts`' list, 0 when it has none.
fn start_at(starts: &[(i64, i64)], t: i64) -> i64 {
    starts.binary_search_by_key(&t, |(sample_ms, _)| *sample_ms).map_or(0, |i| starts[i].1)
}

fn apply_histogram_to_head(head: &mut Head, id: u32, sample: &HistogramSample, outcome: &mut AppendOutcome) {
    count_result(head.append_histogram(id, sample), outcome);
}

fn count_result(result: AppendResult, outcome: &mut AppendOutcome) {
    match result {
        AppendResult::Appended => outcome.samples_appended += 1,
        AppendResult::OutOfOrder => {
            outcome.samples_appended += 1;
            outcome.samples_out_of_order += 1;
        }
        AppendResult::Overwritten => {
            outcome.samples_appended += 1;
            outcome.duplicates_overwritten += 1;
        }
        AppendResult::Duplicate => {}
        AppendResult::Conflict => outcome.samples_refused_type_conflict += 1,
    }
}

impl ShardDb {
    /// Opens the shard in `dir` (created if missing): opens its blocks, settles an
    /// interrupted WAL checkpoint, and replays the checkpoint and WAL into the head.
    pub async fn open(dir: &Path, options: ShardOptions) -> Result<ShardDb, Error> {
        debug_assert!(options.block_duration_ms > 0, "block duration is positive");
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        let page_cache = PageCache::new(options.page_cache_bytes);
        let mut blocks = block::open_blocks_in(dir, &page_cache)?;
        let wal_dir = migrate_wal_dir(dir)?;
        // A block counts as written when its directory exists, even if it is damaged now:
        // its rename was the commit point of the checkpoint that names it.
        // A block compacted away since counts too: its data lives on in the block that lists it.
        let merged_away: std::collections::HashSet<String> = blocks
            .iter()
            .flat_map(|b| {
                let c = &b.meta.compaction;
                c.sources.iter().cloned().chain(c.parents.iter().map(|p| p.ulid.clone()))
            })
            .collect();
        let settled = checkpoint::settle(&wal_dir, |ulid| dir.join(ulid).is_dir() || merged_away.contains(ulid))?;
        // Blocks of a cut that never committed: their samples replay from the segments.
        for (first, last) in &settled.uncommitted_blocks {
            let (gone, kept): (Vec<Block>, Vec<Block>) = blocks.into_iter().partition(|b| b.meta.ulid.as_str() >= first.as_str() && b.meta.ulid.as_str() <= last.as_str());
            blocks = kept;
            for b in gone {
                let ulid = b.meta.ulid.clone();
                drop(b);
                tracing::warn!(dir = %dir.display(), block = %ulid, "removing a block of a head cut that never committed");
                block::delete_block(dir, &ulid)?;
            }
        }
        let checkpoint = settled.checkpoint;
        let mut head = Head::with_chunk_ranges(ChunkRanges::new(options.block_duration_ms));
        let mut exemplars = ExemplarBuffer::new(usize::try_from(options.max_exemplars).unwrap_or(usize::MAX).min(u32::MAX as usize));
        // WAL series refs are head ids of the process that wrote them; map them on replay.
        let mut refs: HashMap<u32, u32> = HashMap::new();
        let mut replayed = AppendOutcome::default();
        let mut unknown_refs = 0u64;
        let cut_watermark_ms = blocks.iter().map(|b| b.meta.max_time_ms).max().unwrap_or(i64::MIN);
        let mut replayed_late = 0u64;
        let wal_options = WalOptions {
            segment_bytes: options.wal_segment_bytes,
            fsync_on_commit: options.fsync_on_commit,
            compress: options.wal_compression,
            segment_index_first: checkpoint.as_ref().map_or(1, |(segment, _)| segment + 1),
            replay_progress: options.replay_progress.clone(),
        };
        let mut apply = |record| match record {
            Record::Series(series) => {
                for (r, labels) in series {
                    let (id, _) = head.get_or_create(&labels);
                    refs.insert(r, id);
                }
            }
            Record::Samples(samples) => {
                for (r, sample) in samples {
                    // Late as the live path counts it: a sample written for a known series.
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(sample.timestamp_ms < cut_watermark_ms);
                            apply_to_head(&mut head, id, sample, &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::StartedSamples(samples) => {
                for (r, sample, start_ms) in samples {
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(sample.timestamp_ms < cut_watermark_ms);
                            apply_started_to_head(&mut head, id, sample, start_ms, &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::StartedHistograms(histograms) => {
                for (r, h, start_ms) in histograms {
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(h.timestamp_ms < cut_watermark_ms);
                            count_result(head.append_histogram_started(id, &h, start_ms), &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::Histograms(histograms) => {
                for (r, h) in histograms {
                    match refs.get(&r) {
                        Some(&id) => {
                            replayed_late += u64::from(h.timestamp_ms < cut_watermark_ms);
                            apply_histogram_to_head(&mut head, id, &h, &mut replayed);
                        }
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::Exemplars(recorded) => {
                for (r, e) in recorded {
                    match refs.get(&r) {
                        Some(&id) => _ = exemplars.add(&head.labels_of(id), e),
                        None => unknown_refs += 1,
                    }
                }
            }
            Record::Tombstones(stones) => {
                let mapped: Vec<(u32, i64, i64)> = stones
                    .into_iter()
                    .filter_map(|(r, mint, maxt)| refs.get(&r).map(|&id| (id, mint, maxt)))
                    .collect();
                head.delete_ranges(&mapped);
            }
        };
        if let Some((_, path)) = &checkpoint {
            checkpoint::replay(path, &mut apply)?;
        }
        let wal = Wal::open(&wal_dir, wal_options, &mut apply).await?;
        if unknown_refs > 0 {
            tracing::warn!(dir = %dir.display(), unknown_refs, "WAL replay: samples for series without a series record were skipped");
        }
        tracing::info!(dir = %dir.display(), blocks = blocks.len(), series = head.series_count(), samples = replayed.samples_appended, "shard opened");
        let stats = ShardStats {
            series: head.series_count() as u64,
            ..ShardStats::default()
        };
        Ok(ShardDb {
            dir: dir.to_path_buf(),
            cut_watermark_ms,
            next_ulid_ms: 0,
            late_samples: replayed_late,
            compaction_ranges: block::compaction_ranges(options.block_duration_ms, options.retention_ms),
            options,
            head,
            wal,
            exemplars,
            blocks,
            page_cache,
            stats,
            compaction_in_flight: None,
            compaction_retry_at: None,
        })
    }

    /// The ranges to cut now, each `[lo, hi)` aligned to the block duration, consecutive,
    /// oldest first: the head's oldest range when it is due (once the head's newest sample is
    /// half a block past it, as Prometheus does), when the head holds more than
    /// `max_head_samples`, or always with `force` (then only that one); and with it each
    /// following range that is due too (over the limit also each one behind the watermark),
    /// up to `CUT_RANGES_MAX`, so that a backlog of history is cut with one head split and
    /// one checkpoint.
    fn cut_ranges(&self, force: bool) -> Vec<(i64, i64)> {
        let Some((min_t, max_t)) = self.head.time_range() else {
            return Vec::new();
        };
        let duration = self.options.block_duration_ms;
        let lo = min_t - min_t.rem_euclid(duration);
        let over_limit = self.options.max_head_samples > 0 && self.head.samples_count() > self.options.max_head_samples;
        // Over either limit, every range behind the watermark goes: late samples (an import
        // of history) are what fills a head that way, and cutting them one range per cut
        // would rewrite the big rest of the head each time.
        let late_over_limit = over_limit || self.late_samples > self.late_samples_max();
        let due = |range_hi: i64| max_t >= range_hi.saturating_add(duration / 2);
        // A range behind the watermark holds late samples only: they go with the next regular
        // cut (a block per range then), not one block per late write as they trickle in.
        let regular_due = |hi: i64| if hi <= self.cut_watermark_ms { due(self.cut_watermark_ms.saturating_add(duration)) } else { due(hi) };
        let late_due = |hi: i64| late_over_limit && hi <= self.cut_watermark_ms;
        let first = (lo, lo.saturating_add(duration));
        if !(force || over_limit || late_due(first.1) || regular_due(first.1)) {
            return Vec::new();
        }
        let mut ranges = vec![first];
        while !force && ranges.len() < CUT_RANGES_MAX {
            let previous_hi = ranges[ranges.len() - 1].1;
            let hi = previous_hi.saturating_add(duration);
            if hi == previous_hi || !(regular_due(hi) || late_due(hi)) {
                break;
            }
            ranges.push((previous_hi, hi));
        }
        ranges
    }

    /// True when `maintain` has a block to cut (cheap: a few comparisons).
    /// Late samples held before they are cut early (`LATE_SAMPLES_DIVISOR`); no limit
    /// without `max_head_samples`.
    fn late_samples_max(&self) -> u64 {
        match self.options.max_head_samples {
            0 => u64::MAX,
            max => (max / LATE_SAMPLES_DIVISOR).max(1),
        }
    }

    pub fn cut_due(&self) -> bool {
        !self.cut_ranges(false).is_empty()
    }

    /// Cuts due blocks (at most `CUTS_PER_MAINTAIN_MAX` cuts, each of one or more ranges),
    /// then deletes blocks past retention: by time, then by size.
    pub async fn maintain(&mut self, now_ms: i64) -> Result<MaintainOutcome, Error> {
        let mut outcome = MaintainOutcome::default();
        for _ in 0..CUTS_PER_MAINTAIN_MAX {
            let ranges = self.cut_ranges(false);
            if ranges.is_empty() {
                break;
            }
            outcome.blocks_cut.extend(self.cut_blocks(&ranges).await?.into_iter().map(|meta| meta.ulid));
        }
        outcome.blocks_deleted = self.apply_retention(now_ms)?;
        outcome.blocks_deleted.extend(self.apply_size_retention()?);
        Ok(outcome)
    }

    /// Cuts the head's oldest block range now, whether or not it is due (tests, shutdown).
    pub async fn force_cut(&mut self) -> Result<Option<BlockMeta>, Error> {
        let ranges = self.cut_ranges(true);
        if ranges.is_empty() {
            return Ok(None);
        }
        Ok(self.cut_blocks(&ranges).await?.into_iter().next())
    }

    /// Writes the head's samples before the last range's end as one block per range that
    /// holds any, and replaces the WAL up to now with a checkpoint of what remains. Crash
    /// safety: the checkpoint is written first under a name that ties it to the blocks
    /// (`checkpoint.<N>.<ULID>`, or `.<first ULID>-<last ULID>` for several); it counts only
    /// once the last block's directory exists (the last rename is the commit point), so
    /// replay sees either the old segments or the blocks + checkpoint, never both and never
    /// neither. Blocks of an uncommitted cut are removed: here when a block write fails, at
    /// the next open (`checkpoint::settle`) after a crash.
    async fn cut_blocks(&mut self, ranges: &[(i64, i64)]) -> Result<Vec<BlockMeta>, Error> {
        let Some(&(_, hi)) = ranges.last() else {
            return Ok(Vec::new());
        };
        let watermark = self.cut_watermark_ms;
        // Each step yields to the executor's other tasks now and then (or runs on another
        // thread), so a large cut does not stall the core; the shard itself waits for it.
        let (before, rest) = self.head.split_before(hi).await;
        let parts: Vec<((i64, i64), Vec<BlockSeries>)> = if ranges.len() == 1 {
            vec![(ranges[0], before)]
        } else {
            let ends: Vec<i64> = ranges.iter().map(|r| r.1).collect();
            match on_blocking_thread(move || cut_ranges::partition(before, &ends)).await {
                Some(parts) => ranges.iter().copied().zip(parts).filter(|(_, part)| !part.is_empty()).collect(),
                None => {
                    tracing::warn!(shard_dir = %self.dir.display(), "a head chunk cannot be decoded to split it by range; cutting one range");
                    let (before, rest) = self.head.split_before(ranges[0].1).await;
                    return self.commit_cut(vec![(ranges[0], before)], rest).await;
                }
            }
        };
        let metas = self.commit_cut(parts, rest).await?;
        // Every late sample was behind the old watermark, so in a range cut now.
        if hi >= watermark {
            self.late_samples = 0;
        }
        Ok(metas)
    }

    async fn commit_cut(&mut self, parts: Vec<((i64, i64), Vec<BlockSeries>)>, rest: Head) -> Result<Vec<BlockMeta>, Error> {
        if parts.is_empty() {
            return Ok(Vec::new());
        }
        let ulids = self.next_block_ulids(parts.len());
        self.next_ulid_ms = ulids.last().and_then(|u| block::ulid_time_ms(u)).map_or(self.next_ulid_ms, |ms| ms + 1);
        let wal_dir = self.dir.join(WAL_DIRNAME);
        let finished_segment = self.wal.cut_segment().await?;
        let pending_name = match ulids.as_slice() {
            [first, .., last] => checkpoint::pending_range_name(finished_segment, first, last),
            _ => checkpoint::pending_name(finished_segment, &ulids[0]),
        };
        let mut writer = CheckpointWriter::create(&wal_dir, &pending_name)?;
        write_checkpoint(&rest, &self.exemplars, &mut writer).await?;
        let pending = writer.finish()?;
        let mut written: Vec<(PathBuf, BlockMeta)> = Vec::with_capacity(parts.len());
        for (((lo, hi), series), ulid) in parts.into_iter().zip(&ulids) {
            let (parent, block_ulid) = (self.dir.clone(), ulid.clone());
            match on_blocking_thread(move || block::write_cut_block(&parent, &block_ulid, lo, hi, series)).await {
                Ok(block) => written.push(block),
                Err(error) if !self.dir.join(ulid).is_dir() => {
                    // Not committed: the old segments and the old head stay authoritative;
                    // the blocks this cut already wrote go (the head still holds their data).
                    let tmp = self.dir.join(format!("{ulid}{}", block::TMP_SUFFIX));
                    let _ = std::fs::remove_dir_all(tmp);
                    let mut all_removed = true;
                    for (_, meta) in &written {
                        if let Err(e) = block::delete_block(&self.dir, &meta.ulid) {
                            all_removed = false;
                            tracing::error!(block = %meta.ulid, error = %e, "could not remove a block of a failed cut; the pending WAL checkpoint that names it is kept, so the next open removes it (its samples stay in the head and are cut again)");
                        }
                    }
                    // The pending checkpoint names this cut's blocks by ULID range and its last
                    // block never appeared: while it exists, an open removes whatever of the
                    // range is left. So it goes only once its blocks have gone.
                    if all_removed {
                        if let Err(e) = std::fs::remove_file(&pending) {
                            tracing::warn!(path = %pending.display(), error = %e, "could not remove an unused WAL checkpoint");
                        }
                    }
                    return Err(error);
                }
                Err(error) => {
                    tracing::warn!(block = %ulid, %error, "block renamed into place but a final sync failed; treating it as written");
                    let dir = self.dir.join(ulid);
                    let meta = BlockMeta::read(&dir)?;
                    written.push((dir, meta));
                }
            }
        }
        // Committed: from here on the blocks and the checkpoint hold the data.
        // The old head is dropped last, after the await below: dropping a large head stalls
        // the executor on its own, so it is kept apart from opening the blocks.
        let replaced_head = std::mem::replace(&mut self.head, rest);
        let newest_hi = written.iter().map(|(_, meta)| meta.max_time_ms).max().unwrap_or(i64::MIN);
        self.cut_watermark_ms = self.cut_watermark_ms.max(newest_hi);
        self.stats.series = self.head.series_count() as u64;
        let mut metas = Vec::with_capacity(written.len());
        for (block_dir, meta) in written {
            tracing::info!(shard_dir = %self.dir.display(), block = %meta.ulid, min_time_ms = meta.min_time_ms, max_time_ms = meta.max_time_ms, samples = meta.stats.num_samples, series = meta.stats.num_series, "head cut into a block");
            match Block::open_in(&block_dir, &self.page_cache) {
                Ok(block) => self.blocks.push(block),
                // The data is on disk; it is served again after the next open.
                Err(error) => {
                    tracing::error!(block = %meta.ulid, %error, "a block just written cannot be opened")
                }
            }
            metas.push(meta);
        }
        self.blocks.sort_by(|a, b| a.meta.ulid.cmp(&b.meta.ulid));
        // Renames the checkpoint and deletes the segments it replaces (many, after a large
        // head): file system work for the blocking pool too.
        on_blocking_thread(move || checkpoint::finalize(&wal_dir, finished_segment, &pending)).await?;
        drop(replaced_head);
        Ok(metas)
    }

    /// `count` ULIDs for blocks written from the head now, increasing: block ULIDs increase
    /// strictly within a shard (newer blocks win ties on read), so they are past the newest
    /// block's and past any handed out before (a failed cut's too), a millisecond apart at
    /// least.
    fn next_block_ulids(&self, count: usize) -> Vec<String> {
        let newest_ms = self.blocks.last().and_then(|b| block::ulid_time_ms(&b.meta.ulid)).map_or(0, |ms| ms + 1);
        let first_ms = (now_ms().max(0) as u64).max(newest_ms).max(self.next_ulid_ms);
        (0..count as u64).map(|i| block::new_ulid(first_ms + i)).collect()
    }

    /// Deletes blocks whose range ended before `now_ms - retention`; returns their ULIDs.
    fn apply_retention(&mut self, now_ms: i64) -> Result<Vec<String>, Error> {
        let cutoff = now_ms.saturating_sub(self.options.retention_ms);
        let doomed: std::collections::HashSet<String> = self.blocks.iter().filter(|b| b.meta.max_time_ms < cutoff).map(|b| b.meta.ulid.clone()).collect();
        self.delete_blocks(&doomed, "block past retention deleted")
    }

    /// The byte limit of size retention now: the file system's share when
    /// `retention_disk_fraction` is set and its size can be read, else `retention_bytes`;
    /// None without a limit.
    fn size_limit_bytes(&self) -> Option<u64> {
        let fraction = self.options.retention_disk_fraction;
        if fraction > 0.0 {
            match file_system_bytes(&self.dir) {
                Some(total) => return Some((total as f64 * fraction.min(1.0)) as u64),
                None => tracing::warn!(shard_dir = %self.dir.display(), "cannot read the file system's size; size retention falls back to retention_size"),
            }
        }
        (self.options.retention_bytes > 0).then_some(self.options.retention_bytes)
    }

    /// Size retention as Prometheus applies it (`BeyondSizeRetention`): the WAL's bytes, then
    /// each block's from the newest (by start time) back; from the first block that takes the
    /// sum past the limit, it and every older block are deleted. Returns their ULIDs.
    fn apply_size_retention(&mut self) -> Result<Vec<String>, Error> {
        let Some(limit) = self.size_limit_bytes() else { return Ok(Vec::new()) };
        let mut newest_first: Vec<&Block> = self.blocks.iter().collect();
        newest_first.sort_by_key(|b| std::cmp::Reverse(b.meta.min_time_ms));
        let mut total = block::dir_bytes(&self.wal_dir());
        let mut doomed = std::collections::HashSet::new();
        for (at, b) in newest_first.iter().enumerate() {
            total = total.saturating_add(b.size_bytes());
            if total > limit {
                doomed.extend(newest_first[at..].iter().map(|b| b.meta.ulid.clone()));
                break;
            }
        }
        self.delete_blocks(&doomed, "block past size retention deleted")
    }

    /// The directory of the shard's WAL.
    fn wal_dir(&self) -> PathBuf {
        self.dir.join(WAL_DIRNAME)
    }

    /// Deletes the open blocks named in `doomed`, logging `why` for each; their ULIDs. Stops
    /// at the first failure (the blocks not yet deleted stay open).
    fn delete_blocks(&mut self, doomed: &std::collections::HashSet<String>, why: &str) -> Result<Vec<String>, Error> {
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let mut deleted = Vec::new();
        let mut kept = Vec::with_capacity(self.blocks.len());
        let mut result = Ok(());
        for b in std::mem::take(&mut self.blocks) {
            if result.is_ok() && doomed.contains(&b.meta.ulid) {
                let ulid = b.meta.ulid.clone();
                drop(b);
                match block::delete_block(&self.dir, &ulid) {
                    Ok(()) => {
                        tracing::info!(shard_dir = %self.dir.display(), block = %ulid, "{why}");
                        deleted.push(ulid);
                    }
                    Err(e) => result = Err(e),
                }
            } else {
                kept.push(b);
            }
        }
        self.blocks = kept;
        result.map(|()| deleted)
    }

    /// Deletes the samples in `[mint_ms, maxt_ms]` of every series matching any of
    /// `matcher_sets`. Head: the deletion is logged in the WAL (one tombstones record,
    /// fdatasync per options) and then applied, so it survives a crash; blocks: their
    /// `tombstones` files are rewritten before this returns. Reads never see the samples again.
    pub async fn delete(
        &mut self,
        matcher_sets: &[Vec<Matcher>],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<DeleteOutcome, Error> {
        let mut outcome = DeleteOutcome::default();
        if mint_ms > maxt_ms {
            return Ok(outcome);
        }
        // Which head series lose samples: decided before the WAL write, applied after it.
        let mut stones: Vec<(u32, i64, i64)> = Vec::new();
        for matchers in matcher_sets {
            let ids = self.head.matching_ids(matchers, mint_ms, maxt_ms);
            stones.extend(ids.into_iter().map(|id| (id, mint_ms, maxt_ms)));
        }
        stones.sort_unstable();
        stones.dedup();
        if !stones.is_empty() {
            self.wal.append(&[Record::Tombstones(stones.clone())]).await?;
            self.head.delete_ranges(&stones);
            outcome.head_series = stones.len() as u64;
        }
        for b in self.blocks.iter_mut().filter(|b| b.meta.overlaps(mint_ms, maxt_ms)) {
            for matchers in matcher_sets {
                outcome.block_series += b.delete(matchers, mint_ms, maxt_ms)? as u64;
            }
        }
        if outcome.head_series + outcome.block_series > 0 {
            tracing::info!(shard_dir = %self.dir.display(), head_series = outcome.head_series, block_series = outcome.block_series, mint_ms, maxt_ms, "series data deleted");
        }
        Ok(outcome)
    }

    /// Rewrites every block that has tombstones into a new block without the deleted data
    /// (a new ULID with the old one's time, so block order is kept) and deletes the old
    /// one, reclaiming the space. Returns `(old ULID, new ULID or none when nothing was left)`.
    pub fn clean_tombstones(&mut self) -> Result<Vec<(String, Option<String>)>, Error> {
        let mut cleaned = Vec::new();
        let mut i = 0;
        while i < self.blocks.len() {
            if !self.blocks[i].has_tombstones() {
                i += 1;
                continue;
            }
            let old_ulid = self.blocks[i].meta.ulid.clone();
            let time_ms = block::ulid_time_ms(&old_ulid).unwrap_or_else(|| now_ms().max(0) as u64);
            let new_ulid = block::new_ulid(time_ms);
            let written = block::rewrite_without_tombstones(&self.dir, &self.blocks[i], &new_ulid)?;
            let old = self.blocks.remove(i);
            drop(old);
            block::delete_block(&self.dir, &old_ulid)?;
            let new_name = match written {
                Some((dir, _)) => {
                    self.blocks.push(Block::open_in(&dir, &self.page_cache)?);
                    Some(new_ulid)
                }
                None => None,
            };
            tracing::info!(shard_dir = %self.dir.display(), old = %old_ulid, new = ?new_name, "block rewritten without deleted data");
            cleaned.push((old_ulid, new_name));
            self.blocks.sort_by(|a, b| a.meta.ulid.cmp(&b.meta.ulid));
            // The new block sorts near the old one's place; blocks without tombstones are
            // skipped, so restarting the scan from the same index is enough.
        }
        Ok(cleaned)
    }

    /// Earliest and latest sample time held (head and blocks), if any.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        let blocks = self.blocks.iter().map(|b| (b.meta.min_time_ms, b.meta.max_time_ms - 1));
        self.head.time_range().into_iter().chain(blocks).reduce(|(a0, a1), (b0, b1)| (a0.min(b0), a1.max(b1)))
    }

    /// Metas of the open blocks, oldest ULID first.
    pub fn blocks(&self) -> Vec<BlockMeta> {
        self.blocks.iter().map(|b| b.meta.clone()).collect()
    }

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


    /// Appends owned series (imports, tests, tools): the batch form of each group, then
    /// `append_batches`. An invalid native histogram is an `Error::InvalidHistogram` naming
    /// its series, and nothing is written.
    pub async fn append_group(
        &mut self,
        groups: &[&[SeriesSamples]],
    ) -> Result<Vec<AppendOutcome>, Error> {
        let batches: Vec<SeriesBatch> = groups.iter().map(|g| SeriesBatch::try_from_series(g)).collect::<Result<_, _>>()?;
        let parts: Vec<BatchPart<'_>> = batches.iter().map(BatchPart::whole).collect();
        self.append_batches(&parts).await
    }

    /// Appends several requests' series with one WAL write (group commit), then applies them
    /// to the head; one outcome per group. Each series is looked up once, by its hash and
    /// its borrowed label bytes; a `Labels` is built only for a series that is new. Native
    /// histograms (valid: `SeriesBatch`'s invariant) go into the same WAL write as a
    /// histograms record after the samples record, and into the head after every group's
    /// floats, in that order on replay too.
    pub async fn append_batches(&mut self, groups: &[BatchPart<'_>]) -> Result<Vec<AppendOutcome>, Error> {
        // Series are created in the head only after the WAL write succeeds: a series that
        // exists in the head without its WAL record would lose its samples on replay.
        // New series get the ids the head will assign, in order of first appearance.
        let mut pending: HashMap<u64, Vec<u32>> = HashMap::new();
        let mut new_series: Vec<(u32, Labels)> = Vec::new();
        // In head order; `group_ends[g]` is where group `g`'s samples end.
        let mut samples = Vec::with_capacity(groups.iter().map(BatchPart::sample_count).sum());
        let mut group_ends = Vec::with_capacity(groups.len());
        // Likewise for native histograms (an empty list, not allocated, when none came).
        let mut histograms: Vec<(u32, HistogramSample)> = Vec::with_capacity(groups.iter().map(BatchPart::histogram_count).sum());
        let mut histogram_group_ends = Vec::with_capacity(groups.len());
        // Likewise for exemplars, unless the shard stores none.
        let store_exemplars = self.exemplars.capacity() > 0;
        let mut exemplars: Vec<(u32, Exemplar)> = Vec::with_capacity(if store_exemplars { groups.iter().map(BatchPart::exemplar_count).sum() } else { 0 });
        let mut exemplar_group_ends = Vec::with_capacity(groups.len());
        // Per group: samples refused by the series limit; exemplars refused.
        let mut refused = vec![0u64; groups.len()];
        let mut exemplars_refused = vec![0u64; groups.len()];
        let series_room = match self.options.max_series {
            0 => u64::MAX,
            max => max.saturating_sub(self.head.series_count() as u64),
        };
        let next_id =
            u32::try_from(self.head.series_count()).expect("fewer than 2^32 series per shard");
        // Every hash is probed first, then each series record is prefetched a few series
        // before its labels are compared (see `prefetch`): the cache misses overlap.
        let probes: Vec<Option<u32>> = groups.iter().flat_map(|g| g.series()).map(|s| self.head.probe(s.hash())).collect();
        let mut position = 0;
        let (watermark, mut late) = (self.cut_watermark_ms, 0u64);
        // With start timestamps in the call, the newest timestamp each series got in it so
        // far: a zero is written only after everything the series holds, the samples this
        // call writes before it included.
        let mut newest_in_call: Option<HashMap<u32, i64>> =
            (self.options.start_timestamp_zero_ingestion && groups.iter().any(|g| g.batch.has_start_timestamps())).then(HashMap::new);
        // With start-time storage, the floats of series whose entry carries starts, each with
        // its start (0: none), in head order; `started_group_ends[g]` as `group_ends`.
        let store_starts = self.options.start_timestamp_storage && groups.iter().any(|g| g.batch.has_start_timestamps());
        let mut started_samples: Vec<(u32, crate::Sample, i64)> = Vec::new();
        let mut started_group_ends = Vec::new();
        // Likewise for native histograms.
        let mut started_histograms: Vec<(u32, HistogramSample, i64)> = Vec::new();
        let mut started_histogram_group_ends = Vec::new();
        for ((group, refused), exemplars_refused) in groups.iter().zip(&mut refused).zip(&mut exemplars_refused) {
            // A shard's part of a shared batch is every few series of it, an order the CPU's
            // own prefetcher misses: its incoming series are prefetched too, within the group.
            let scattered = group.indices.is_some();
            for nth in 0..group.series_count() {
                prefetch_ahead(&self.head, position, |p| probes.get(p).copied().flatten());
                if scattered {
                    if let Some(ahead) = group.get(nth + PREFETCH_SERIES_AHEAD) {
                        ahead.prefetch_spans();
                    }
                    if let Some(ahead) = group.get(nth + PREFETCH_SERIES_AHEAD / 2) {
                        ahead.prefetch_text();
                    }
                }
                let Some(series) = group.get(nth) else { break };
                let probed = probes[position];
                position += 1;
                let hash = series.hash();
                let id = match self.head.lookup_probed(probed, hash, series.label_count(), series.label_pairs()) {
                    Some(id) => id,
                    None => {
                        let same_hash = pending.entry(hash).or_default();
                        let known = same_hash
                            .iter()
                            .map(|&k| &new_series[k as usize])
                            .find(|(_, labels)| labels.equals_pairs(series.label_count(), series.label_pairs()));
                        match known {
                            Some((id, _)) => *id,
                            None if new_series.len() as u64 >= series_room => {
                                *refused += (series.samples().len() + series.histograms().len()) as u64;
                                *exemplars_refused += series.exemplars().len() as u64;
                                continue;
                            }
                            None => {
                                let id = next_id + new_series.len() as u32;
                                same_hash.push(new_series.len() as u32);
                                new_series.push((id, series.to_labels()));
                                id
                            }
                        }
                    }
                };
                let series_samples = series.samples();
                if series_samples.first().is_some_and(|s| s.timestamp_ms < watermark) || series_samples.last().is_some_and(|s| s.timestamp_ms < watermark) {
                    late += series_samples.iter().filter(|s| s.timestamp_ms < watermark).count() as u64;
                }
                let starts = if store_starts { entry_starts(series) } else { None };
                if let Some(newest_in_call) = &mut newest_in_call {
                    let newest = newest_in_call.get(&id).copied().max(self.head.newest_timestamp(id));
                    let (zeros, zero_histograms) = start_zeros(series, newest, watermark);
                    // A zero lies before its own sample, so the entry's samples bound it.
                    let entry_newest = series_samples.iter().map(|s| s.timestamp_ms).chain(series.histograms().iter().map(|h| h.timestamp_ms)).max();
                    if let Some(t) = entry_newest {
                        let entry = newest_in_call.entry(id).or_insert(t);
                        *entry = (*entry).max(t);
                    }
                    match starts {
                        Some(_) => started_samples.extend(zeros.into_iter().map(|s| (id, s, 0))),
                        None => samples.extend(zeros.into_iter().map(|s| (id, s))),
                    }
                    match starts {
                        Some(_) => started_histograms.extend(zero_histograms.into_iter().map(|h| (id, h, 0))),
                        None => histograms.extend(zero_histograms.into_iter().map(|h| (id, h))),
                    }
                }
                match &starts {
                    // Every float of such an entry goes with its start (0 for one without),
                    // so that the series' floats are applied in their order.
                    Some(starts) => started_samples.extend(series_samples.iter().map(|s| (id, *s, start_at(starts, s.timestamp_ms)))),
                    None => samples.extend(series_samples.iter().map(|s| (id, *s))),
                }
                if !series.histograms().is_empty() {
                    late += series.histograms().iter().filter(|h| h.timestamp_ms < watermark).count() as u64;
                    match &starts {
                        Some(starts) => started_histograms.extend(series.histograms().iter().map(|h| (id, h.clone(), start_at(starts, h.timestamp_ms)))),
                        None => histograms.extend(series.histograms().iter().map(|h| (id, h.clone()))),
                    }
                }
                if !series.exemplars().is_empty() {
                    if store_exemplars {
                        exemplars.extend(series.exemplars().iter().map(|e| (id, e.clone())));
                    } else {
                        *exemplars_refused += series.exemplars().len() as u64;
                    }
                }
            }
            group_ends.push(samples.len());
            if store_starts {
                started_group_ends.push(started_samples.len());
                started_histogram_group_ends.push(started_histograms.len());
            }
            histogram_group_ends.push(histograms.len());
            exemplar_group_ends.push(exemplars.len());
        }
        let mut records = Vec::with_capacity(4);
        if !new_series.is_empty() {
            records.push(Record::Series(new_series));
        }
        if !samples.is_empty() {
            records.push(Record::Samples(samples));
        }
        if !started_samples.is_empty() {
            records.push(Record::StartedSamples(started_samples));
        }
        if !histograms.is_empty() {
            records.push(Record::Histograms(histograms));
        }
        if !started_histograms.is_empty() {
            records.push(Record::StartedHistograms(started_histograms));
        }
        if !exemplars.is_empty() {
            records.push(Record::Exemplars(exemplars));
        }
        self.wal.append(&records).await?;
        self.late_samples = self.late_samples.saturating_add(late);
        let mut samples: &[(u32, crate::Sample)] = &[];
        let mut started_samples: &[(u32, crate::Sample, i64)] = &[];
        let mut started_histograms: &[(u32, HistogramSample, i64)] = &[];
        let mut histograms: &[(u32, HistogramSample)] = &[];
        let mut exemplars: &[(u32, Exemplar)] = &[];
        for record in &records {
            match record {
                Record::Series(created) => {
                    for (id, labels) in created {
                        let (head_id, is_new) = self.head.get_or_create(labels);
                        debug_assert!(is_new && head_id == *id, "head assigns the ids the WAL recorded");
                    }
                }
                Record::Samples(recorded) => samples = recorded,
                Record::StartedSamples(recorded) => started_samples = recorded,
                Record::Histograms(recorded) => histograms = recorded,
                Record::StartedHistograms(recorded) => started_histograms = recorded,
                Record::Exemplars(recorded) => exemplars = recorded,
                Record::Tombstones(_) => unreachable!("appends write no tombstones"),
            }
        }
        let mut outcomes = Vec::with_capacity(groups.len());
        let mut group_start = 0;
        for ((group_end, refused), exemplars_refused) in group_ends.into_iter().zip(refused).zip(exemplars_refused) {
            let mut outcome = AppendOutcome { samples_refused_series_limit: refused, exemplars_refused, ..AppendOutcome::default() };
            for (position, &(id, sample)) in samples.iter().enumerate().take(group_end).skip(group_start) {
                prefetch_ahead(&self.head, position, |p| samples.get(p).map(|&(ahead, _)| ahead));
                apply_to_head(&mut self.head, id, sample, &mut outcome);
            }
            group_start = group_end;
            outcomes.push(outcome);
        }
        // Floats with start times after the others, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in started_group_ends.into_iter().zip(&mut outcomes) {
            for &(id, sample, start_ms) in &started_samples[group_start..group_end] {
                apply_started_to_head(&mut self.head, id, sample, start_ms, outcome);
            }
            group_start = group_end;
        }
        // Histograms after every float, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in histogram_group_ends.into_iter().zip(&mut outcomes) {
            for (id, h) in &histograms[group_start..group_end] {
                apply_histogram_to_head(&mut self.head, *id, h, outcome);
            }
            group_start = group_end;
        }
        // Histograms with start times after the others, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in started_histogram_group_ends.into_iter().zip(&mut outcomes) {
            for (id, h, start_ms) in &started_histograms[group_start..group_end] {
                count_result(self.head.append_histogram_started(*id, h, *start_ms), outcome);
            }
            group_start = group_end;
        }
        // Exemplars last, as replay applies the records.
        let mut group_start = 0;
        for (group_end, outcome) in exemplar_group_ends.into_iter().zip(&mut outcomes) {
            for (id, e) in &exemplars[group_start..group_end] {
                match self.exemplars.add(&self.head.labels_of(*id), e.clone()) {
                    ExemplarAdd::Added => outcome.exemplars_appended += 1,
                    ExemplarAdd::Duplicate => {}
                    ExemplarAdd::OutOfOrder | ExemplarAdd::Disabled => outcome.exemplars_refused += 1,
                }
            }
            group_start = group_end;
        }
        for outcome in &outcomes {
            self.stats.samples_appended_total += outcome.samples_appended;
            self.stats.samples_out_of_order_total += outcome.samples_out_of_order;
            self.stats.duplicates_overwritten_total += outcome.duplicates_overwritten;
            self.stats.samples_refused_series_limit_total += outcome.samples_refused_series_limit;
            self.stats.samples_refused_type_conflict_total += outcome.samples_refused_type_conflict;
        }
        self.stats.series = self.head.series_count() as u64;
        Ok(outcomes)
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

    /// Syncs the WAL and closes the shard.
    pub async fn close(self) -> Result<(), Error> {
        self.wal.close().await
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

/// The shard's WAL directory, `<dir>/metricstor-wal` (created if missing). A data directory
/// from before the rename has its WAL in `<dir>/wal`: that is renamed (and the shard
/// directory fsynced) when `metricstor-wal` does not exist yet. Then an empty `wal/` is
/// left in place when missing: promtool's read-only open needs one (an empty Prometheus WAL)
/// and fails without it. When both exist, `wal/` is not ours and is left alone.
/// The total size in bytes of the file system holding `dir` (`statvfs`), if it can be read.
fn file_system_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string and `stats` points at writable memory of
    // the struct's size; statvfs only writes it.
    let status = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    // Both are 64-bit on the 64-bit Linux targets this builds for.
    let total = stats.f_blocks.saturating_mul(stats.f_frsize);
    (total > 0).then_some(total)
}

fn migrate_wal_dir(dir: &Path) -> Result<PathBuf, Error> {
    let wal_dir = dir.join(WAL_DIRNAME);
    let legacy = dir.join(WAL_DIRNAME_LEGACY);
    if !wal_dir.exists() && legacy.is_dir() {
        std::fs::rename(&legacy, &wal_dir).map_err(|e| Error::io("rename", &legacy, e))?;
        block::sync_dir(dir)?;
        tracing::info!(from = %legacy.display(), to = %wal_dir.display(), "WAL directory renamed (promtool reads wal/ as a Prometheus WAL)");
    }
    std::fs::create_dir_all(&wal_dir).map_err(|e| Error::io("create", &wal_dir, e))?;
    if !legacy.exists() {
        std::fs::create_dir(&legacy).map_err(|e| Error::io("create", &legacy, e))?;
    }
    Ok(wal_dir)
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

/// Writes the head's content as series records (ids = head ids) then samples records,
/// one series' samples decoded at a time, then the exemplars of the series it keeps. Between every `CUT_SERIES_PER_PAUSE` series of
/// each pass it yields if glommio asks for it, so the executor's other tasks run meanwhile.
async fn write_checkpoint(head: &Head, exemplars: &ExemplarBuffer, writer: &mut CheckpointWriter) -> Result<(), Error> {
    let mut series: Vec<(u32, Labels)> = Vec::new();
    for id in head.series_ids() {
        crate::yield_between_steps(id as usize, crate::CUT_SERIES_PER_PAUSE).await;
        series.push((id, head.labels_of(id)));
        if series.len() >= CHECKPOINT_SERIES_PER_RECORD {
            writer.write(&Record::Series(std::mem::take(&mut series)))?;
        }
    }
    if !series.is_empty() {
        writer.write(&Record::Series(series))?;
    }
    let mut samples: Vec<(u32, crate::Sample)> = Vec::new();
    // A series with start times goes in started-samples records (each series' floats in one
    // kind of record, so in order either way).
    let mut started: Vec<(u32, crate::Sample, i64)> = Vec::new();
    for id in head.series_ids() {
        crate::yield_between_steps(id as usize, crate::CUT_SERIES_PER_PAUSE).await;
        let (series_samples, starts) = head.samples_with_starts_of(id);
        match starts {
            Some(starts) => {
                for (s, start_ms) in series_samples.into_iter().zip(starts) {
                    started.push((id, s, start_ms));
                    if started.len() >= CHECKPOINT_SAMPLES_PER_RECORD {
                        writer.write(&Record::StartedSamples(std::mem::take(&mut started)))?;
                    }
                }
            }
            None => {
                for s in series_samples {
                    samples.push((id, s));
                    if samples.len() >= CHECKPOINT_SAMPLES_PER_RECORD {
                        writer.write(&Record::Samples(std::mem::take(&mut samples)))?;
                    }
                }
            }
        }
    }
    if !samples.is_empty() {
        writer.write(&Record::Samples(samples))?;
    }
    if !started.is_empty() {
        writer.write(&Record::StartedSamples(started))?;
    }
    let mut histograms: Vec<(u32, HistogramSample)> = Vec::new();
    let mut started_histograms: Vec<(u32, HistogramSample, i64)> = Vec::new();
    for id in head.series_ids() {
        crate::yield_between_steps(id as usize, crate::CUT_SERIES_PER_PAUSE).await;
        let (series_histograms, starts) = head.histograms_with_starts_of(id);
        match starts {
            Some(starts) => {
                for (h, start_ms) in series_histograms.into_iter().zip(starts) {
                    started_histograms.push((id, h, start_ms));
                    if started_histograms.len() >= CHECKPOINT_HISTOGRAMS_PER_RECORD {
                        writer.write(&Record::StartedHistograms(std::mem::take(&mut started_histograms)))?;
                    }
                }
            }
            None => {
                for h in series_histograms {
                    histograms.push((id, h));
                    if histograms.len() >= CHECKPOINT_HISTOGRAMS_PER_RECORD {
                        writer.write(&Record::Histograms(std::mem::take(&mut histograms)))?;
                    }
                }
            }
        }
    }
    if !histograms.is_empty() {
        writer.write(&Record::Histograms(histograms))?;
    }
    if !started_histograms.is_empty() {
        writer.write(&Record::StartedHistograms(started_histograms))?;
    }
    // Oldest first, so replay rebuilds the buffer's order. Exemplars of a series the head
    // no longer holds (all its samples went into the block) are not kept across a restart.
    let mut kept: Vec<(u32, Exemplar)> = Vec::new();
    for (n, (series, e)) in exemplars.iter_oldest_first().enumerate() {
        crate::yield_between_steps(n, crate::CUT_SERIES_PER_PAUSE).await;
        let pairs = series.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()));
        if let Some(id) = head.lookup(series.stable_hash(), series.len(), pairs) {
            kept.push((id, e.clone()));
            if kept.len() >= CHECKPOINT_EXEMPLARS_PER_RECORD {
                writer.write(&Record::Exemplars(std::mem::take(&mut kept)))?;
            }
        }
    }
    if !kept.is_empty() {
        writer.write(&Record::Exemplars(kept))?;
    }
    Ok(())
}
