//! `storage:`: the data directory, head and block sizes, retention, limits on series and
//! labels, and the page cache, with their embedded defaults; and the base-2 byte sizes
//! (`512MiB`) those keys take.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    /// Shards created with a new data directory; 0 = number of executors. Fixed afterwards.
    pub shards: usize,
    /// Blocks whose whole range is older than this are deleted.
    pub retention_days: u64,
    /// Size retention (Prometheus' `--storage.tsdb.retention.size`): while the WAL and the
    /// blocks take more than this, the oldest blocks are deleted. A size with a base-2 unit
    /// as Prometheus writes it (`512MB`, `50GB`, `1TiB`, `B` to `EB`) or a byte count; empty
    /// or 0 = no limit. Each shard keeps to an equal share.
    pub retention_size: String,
    /// Size retention as a percentage (0 to 100) of the file system holding `data_dir`
    /// (Prometheus 3's `storage.tsdb.retention.percentage`), read at each maintenance; it
    /// prevails over `retention_size`. 0 = none.
    pub retention_percentage: f64,
    /// Snapshots (`<data_dir>/snapshots/`, of either snapshot API) older than this are
    /// deleted, checked every minute (VictoriaMetrics' `-snapshotsMaxAge`); 0 = kept until
    /// deleted. Leave a backup the time it needs to copy one.
    pub snapshots_max_age_seconds: u64,
    pub wal_segment_size_mb: u64,
    /// fdatasync the WAL on every group commit (the durability promise of DESIGN §4).
    pub wal_fsync: bool,
    /// Snappy-compress WAL records (Prometheus' `--storage.tsdb.wal-compression`, on by
    /// default there too); replay reads compressed and plain records alike.
    pub wal_compression: bool,
    /// Range of one block: the head is cut into a Prometheus-format block at multiples of it.
    pub block_duration_hours: u64,
    /// Reject NaN/±Inf sample values (opt-in; real exporters emit NaN).
    pub reject_non_finite: bool,
    /// Page cache for block reads, per shard, in MiB (blocks are read with O_DIRECT, so
    /// this is their only cache); 0 disables it.
    pub page_cache_mb: u64,
    /// Samples one shard's head may hold; past it the oldest block range is cut early (the
    /// overlapping blocks that range gets later are merged by compaction). 0 = no limit;
    /// otherwise at least `MAX_HEAD_SAMPLES_MIN`. Default `tsdb::shard::MAX_HEAD_SAMPLES_DEFAULT`.
    pub max_head_samples: u64,
    /// Active series (in the heads) in all: samples of a new series past it are refused (a
    /// 400 naming the limit, after the rest of the write is stored), series that exist go on.
    /// Enforced per shard as an equal share (rounded up). 0 = no limit.
    pub max_series: u64,
    /// VictoriaMetrics' cardinality limiter (`-storage.maxHourlySeries`,
    /// `-storage.maxDailySeries`): distinct series that may take samples within one
    /// wall-clock hour, and within one UTC day; past either, samples of a series not yet seen
    /// in that hour (day) are refused (a 400 naming the limit, after the rest of the write is
    /// stored) until the window turns. Enforced per shard as an equal share (rounded up).
    /// 0 = no limit.
    pub max_hourly_series: u64,
    pub max_daily_series: u64,
    /// Exemplars kept in memory in all (remote_write exemplars, answered by
    /// `/api/v1/query_exemplars`), an equal share per shard (rounded up), each shard's oldest
    /// evicted first; logged in the WAL, so a restart keeps them. 0 = none stored.
    /// Default `MAX_EXEMPLARS_DEFAULT`.
    pub max_exemplars: u64,
    /// A series with more labels (`__name__` included) is refused with a 400, on every
    /// ingestion path; 0 = no limit.
    pub max_labels_per_series: usize,
    /// Longest label name in bytes; 0 = no limit.
    pub max_label_name_bytes: usize,
    /// Longest label value in bytes; 0 = no limit.
    pub max_label_value_bytes: usize,
    /// Queries see, of each series, only the last sample of every interval of this many
    /// seconds (aligned to the epoch), as VictoriaMetrics' `-dedup.minScrapeInterval`: set it
    /// to the scrape interval when an HA pair of Prometheus servers writes the same series.
    /// Stored samples are not changed. 0 = off.
    pub dedup_interval_seconds: f64,
    /// Write each counter's, summary's and histogram's start (created) timestamp as a zero
    /// sample before its first sample, as Prometheus does with
    /// `--enable-feature=created-timestamp-zero-ingestion`: from scrapes (the protobuf
    /// format's `created_timestamp`, OpenMetrics' `_created` lines, which are then not
    /// stored as series), remote_write 2.0 (`start_timestamp`) and OTLP
    /// (`start_time_unix_nano`). A zero is written only when newer than everything its series
    /// holds (see `tsdb::StartTimestamp`). Scrapes then ask for the protobuf format first
    /// unless `scrape_protocols` says otherwise. Off by default, as there.
    pub start_timestamp_zero_ingestion: bool,
    /// Store each sample's start time with it, from the same sources, as Prometheus' `st-storage`
    /// does (its start-time chunk encodings, XOR2 and float histograms with starts), and let
    /// PromQL use them as Prometheus' `use-start-timestamps`: `rate`/`increase`/`irate`/`resets`
    /// see a counter reset by its start time and count a new counter from zero at its start,
    /// and `start_timestamp()` answers them. Off by default, as there.
    pub start_timestamp_storage: bool,
    /// Prometheus 3.14's experimental `--enable-feature=st-synthesis`: a scraped counter,
    /// histogram (classic or native) or summary `_count`/`_sum` that comes without a start
    /// time gets one. Its first sample is not stored but sets the start; later values are
    /// stored less that first one, and after a drop (a reset) counted from zero, started 1 ms
    /// before the sample that showed it. The starts then go where scraped ones go
    /// (`start_timestamp_zero_ingestion`, `start_timestamp_storage`). Off by default, as there.
    pub start_timestamp_synthesis: bool,
    /// Prometheus 3's experimental `--enable-feature=type-and-unit-labels`: series get
    /// `__type__` and `__unit__` labels from their metadata (scrapes' `# TYPE`/`# UNIT` and the
    /// protobuf format's, remote_write 2.0's and OTLP's), replacing any sent, and PromQL's
    /// non-counter info of `rate`/`increase` goes by `__type__`. Off by default, as there.
    pub type_and_unit_labels: bool,
    /// Prometheus' `--enable-feature=delayed-compaction`: each shard waits a random time, up to
    /// a tenth of `block_duration_hours`, drawn at start, past the moment its head range is due
    /// before cutting it into a block, so that shards (and servers started alike) spread
    /// their cuts' disk and CPU load. Off by default, as there.
    pub delayed_compaction: bool,
}

impl StorageConfig {
    /// `dedup_interval_seconds` in milliseconds (0: off).
    pub fn dedup_interval_ms(&self) -> i64 {
        (self.dedup_interval_seconds * 1000.0).round() as i64
    }

    /// How ingested series are validated (`reject_non_finite` and the label limits).
    pub fn ingest_rules(&self) -> crate::ingest::IngestRules {
        crate::ingest::IngestRules {
            reject_non_finite: self.reject_non_finite,
            label_limits: crate::ingest::label_limits::LabelLimits {
                labels_per_series: self.max_labels_per_series,
                name_bytes: self.max_label_name_bytes,
                value_bytes: self.max_label_value_bytes,
            },
            read_start_timestamps: self.reads_start_timestamps(),
            type_and_unit_labels: self.type_and_unit_labels,
        }
    }

    /// Whether writes and scrapes read samples' start times: for zero samples, for storing
    /// them, or both.
    pub fn reads_start_timestamps(&self) -> bool {
        self.start_timestamp_zero_ingestion || self.start_timestamp_storage
    }
}

/// Smallest non-zero `storage.max_head_samples`: below it nearly every append would cut a block.
pub const MAX_HEAD_SAMPLES_MIN: u64 = 10_000;
/// Default `storage.max_exemplars` (all shards together).
pub const MAX_EXEMPLARS_DEFAULT: u64 = 100_000;

impl StorageConfig {
    /// `block_duration_hours` in milliseconds (saturating; validation keeps it positive).
    pub fn block_duration_ms(&self) -> i64 {
        i64::try_from(self.block_duration_hours.saturating_mul(3_600_000)).unwrap_or(i64::MAX)
    }

    /// `retention_days` in milliseconds (saturating).
    pub fn retention_ms(&self) -> i64 {
        i64::try_from(self.retention_days.saturating_mul(86_400_000)).unwrap_or(i64::MAX)
    }

    /// `retention_size` in bytes (0 = no limit); validation has read it.
    pub fn retention_bytes(&self) -> u64 {
        parse_base2_bytes(&self.retention_size).unwrap_or(0)
    }
}

/// A size as Prometheus' `--storage.tsdb.retention.size` reads it (`units.ParseBase2Bytes`):
/// a number (a fraction allowed, `1.5GB`) and a unit, repeated (`1GB512MB`); `B`, `KB`/`KiB`
/// … `EB`/`EiB`, all powers of 1024, a fraction of a byte dropped. A bare whole number is
/// bytes; empty is 0.
pub fn parse_base2_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(bytes) = text.parse::<u64>() {
        return Ok(bytes);
    }
    let bad = || format!("{text:?} is not a size such as 512MB, 50GB or 1TiB");
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(rest.len());
        let unit_len = rest[digits..].find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        let power = match unit {
            "B" => 0,
            "KB" | "KiB" => 1,
            "MB" | "MiB" => 2,
            "GB" | "GiB" => 3,
            "TB" | "TiB" => 4,
            "PB" | "PiB" => 5,
            "EB" | "EiB" => 6,
            _ => return Err(bad()),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') || fraction.len() > 18 {
            return Err(bad());
        }
        let unit_bytes = 1u128 << (10 * power);
        let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
        let fraction_bytes = if fraction.is_empty() { 0 } else { fraction.parse::<u128>().map_err(|_| bad())? * unit_bytes / 10u128.pow(fraction.len() as u32) };
        let bytes = whole.checked_mul(unit_bytes).and_then(|b| b.checked_add(fraction_bytes)).and_then(|b| u64::try_from(b).ok()).ok_or_else(bad)?;
        total = total.checked_add(bytes).ok_or_else(bad)?;
        rest = &rest[digits + unit_len..];
    }
    Ok(total)
}

/// `bytes` as Go's `units.Base2Bytes` writes it: the largest whole unit parts, `50GiB`,
/// `1GiB512MiB`, `0B`.
pub fn format_base2_bytes(bytes: u64) -> String {
    if bytes == 0 {
        return "0B".to_string();
    }
    let mut out = String::new();
    let mut left = bytes;
    for (power, unit) in [(6, "EiB"), (5, "PiB"), (4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB"), (0, "B")] {
        let size = 1u64 << (10 * power);
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

impl StorageConfig {
    /// What `/api/v1/status/runtimeinfo` shows as `storageRetention`, as Prometheus joins
    /// its limits: `15d`, `15d or 50GiB`, `15d or 80%`.
    pub fn retention_text(&self) -> String {
        let mut text = format!("{}d", self.retention_days);
        let bytes = self.retention_bytes();
        if bytes > 0 {
            text.push_str(&format!(" or {}", format_base2_bytes(bytes)));
        }
        if self.retention_percentage > 0.0 {
            text.push_str(&format!(" or {}%", self.retention_percentage));
        }
        text
    }
}

/// Default `storage.page_cache_mb` (per shard), `tsdb::block::PAGE_CACHE_BYTES_DEFAULT`.
pub const PAGE_CACHE_MB_DEFAULT: u64 = tsdb::block::PAGE_CACHE_BYTES_DEFAULT >> 20;
/// Largest `storage.page_cache_mb` accepted (64 GiB per shard).
pub const PAGE_CACHE_MB_MAX: u64 = 65_536;

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
            shards: 0,
            retention_days: 15,
            retention_size: String::new(),
            retention_percentage: 0.0,
            snapshots_max_age_seconds: 0,
            wal_segment_size_mb: 128,
            wal_fsync: true,
            wal_compression: true,
            block_duration_hours: 2,
            reject_non_finite: false,
            page_cache_mb: PAGE_CACHE_MB_DEFAULT,
            max_head_samples: tsdb::shard::MAX_HEAD_SAMPLES_DEFAULT,
            max_series: 0,
            max_hourly_series: 0,
            max_daily_series: 0,
            max_exemplars: MAX_EXEMPLARS_DEFAULT,
            max_labels_per_series: crate::ingest::label_limits::LABELS_PER_SERIES_MAX,
            max_label_name_bytes: crate::ingest::label_limits::LABEL_NAME_BYTES_MAX,
            max_label_value_bytes: crate::ingest::label_limits::LABEL_VALUE_BYTES_MAX,
            dedup_interval_seconds: 0.0,
            start_timestamp_zero_ingestion: false,
            start_timestamp_storage: false,
            start_timestamp_synthesis: false,
            type_and_unit_labels: false,
            delayed_compaction: false,
        }
    }
}
