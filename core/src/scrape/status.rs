//! What each target's last scrape did, shared by every executor, for `/api/v1/targets`
//! (Prometheus' answer: `activeTargets` with their labels, URL, health, last error and
//! timing; `droppedTargets` with the labels relabeling dropped), and per job the counts
//! `/metrics` shows (`JobFigures`: targets discovered, active by health, dropped; scrapes
//! and failed scrapes by cause).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;

use super::discovery::{duration_text, DiscoveredLabels, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Up,
    Down,
}

impl Health {
    fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// One active target as the API lists it: the target (its labels, URL and schedule, and
/// where its discovered labels come from) and what its last scrape did.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub target: Arc<Target>,
    pub health: Health,
    pub last_error: String,
    /// When the last scrape started, in nanoseconds since the epoch (0: never).
    pub last_scrape_ns: i64,
    pub last_duration_seconds: f64,
    /// Scrapes since it became active, and of those the failed ones; samples its last
    /// scrape gave (VictoriaMetrics' `/targets` lists them).
    pub scrapes_total: u64,
    pub scrapes_failed: u64,
    pub samples_scraped: u64,
    /// The metadata of its families (`# TYPE`, `# HELP`, `# UNIT`) as its last scrape to
    /// give any had it, for `/api/v1/targets/metadata`.
    pub metadata: Arc<Vec<crate::ingest::MetricMetadata>>,
}

impl TargetStatus {
    /// A target not scraped yet.
    pub fn new(target: Arc<Target>) -> TargetStatus {
        TargetStatus {
            target,
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape_ns: 0,
            last_duration_seconds: 0.0,
            scrapes_total: 0,
            scrapes_failed: 0,
            samples_scraped: 0,
            metadata: Arc::default(),
        }
    }
}

/// Every executor's targets.
#[derive(Debug, Default)]
pub struct Registry {
    active: Mutex<BTreeMap<(String, u64), TargetStatus>>,
    /// Per job: how many targets relabeling dropped, and those listed (at most
    /// `keep_dropped_targets` when the job sets it).
    dropped: Mutex<BTreeMap<String, (usize, Vec<DiscoveredLabels>)>>,
    /// Per configured job: targets discovered (active, dropped and invalid alike) at the
    /// last discovery.
    discovered: Mutex<BTreeMap<String, usize>>,
    /// Per job: its scrapes since the server started (or the job was configured).
    scrapes: Mutex<BTreeMap<String, ScrapeCounts>>,
}

/// Why a scrape failed, for the counts Prometheus keeps of its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrapeFailure {
    /// More samples than `sample_limit` after metric relabeling.
    SampleLimit,
    /// An answer over `body_size_limit`.
    BodySizeLimit,
    /// A series over `label_limit`, `label_name_length_limit` or `label_value_length_limit`.
    LabelLimits,
    /// A native histogram over `native_histogram_bucket_limit` at the coarsest schema.
    BucketLimit,
    /// Anything else: unreachable, timed out, an error status, a malformed answer, ...
    Other,
}

/// One job's scrapes (Prometheus' `prometheus_target_scrapes_exceeded_*` counters and
/// VictoriaMetrics' `vm_promscrape_scrapes_total` / `_failed_total`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScrapeCounts {
    pub scrapes: u64,
    pub failed: u64,
    pub sample_limit: u64,
    pub body_size_limit: u64,
    pub label_limits: u64,
    pub bucket_limit: u64,
}

/// One job's figures for `/metrics`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JobFigures {
    pub job: String,
    pub discovered: usize,
    pub up: usize,
    pub down: usize,
    pub unknown: usize,
    pub dropped: usize,
    pub scrapes: ScrapeCounts,
}

impl Registry {
    pub fn set_active(&self, key: u64, status: TargetStatus) {
        if let Ok(mut active) = self.active.lock() {
            active.insert((status.target.job.name.clone(), key), status);
        }
    }

    pub fn update(&self, job: &str, key: u64, change: impl FnOnce(&mut TargetStatus)) {
        if let Ok(mut active) = self.active.lock() {
            if let Some(status) = active.get_mut(&(job.to_string(), key)) {
                change(status);
            }
        }
    }

    /// Active targets found again from new groups (one lock for all of them).
    pub fn rediscovered(&self, targets: Vec<(u64, Arc<Target>)>) {
        if targets.is_empty() {
            return;
        }
        if let Ok(mut active) = self.active.lock() {
            for (key, target) in targets {
                if let Some(status) = active.get_mut(&(target.job.name.clone(), key)) {
                    status.target = target;
                }
            }
        }
    }

    pub fn remove_active(&self, job: &str, key: u64) {
        if let Ok(mut active) = self.active.lock() {
            active.remove(&(job.to_string(), key));
        }
    }

    /// Every configured job's count of discovered targets (a job no longer configured
    /// leaves, with its scrape counts).
    pub fn set_discovered(&self, counts: BTreeMap<String, usize>) {
        if let Ok(mut scrapes) = self.scrapes.lock() {
            scrapes.retain(|job, _| counts.contains_key(job));
        }
        if let Ok(mut discovered) = self.discovered.lock() {
            *discovered = counts;
        }
    }

    /// Counts one scrape of `job`, failed for `failure` or not.
    pub fn count_scrape(&self, job: &str, failure: Option<ScrapeFailure>) {
        let Ok(mut scrapes) = self.scrapes.lock() else { return };
        let counts = match scrapes.get_mut(job) {
            Some(counts) => counts,
            None => scrapes.entry(job.to_string()).or_default(),
        };
        counts.scrapes += 1;
        let Some(failure) = failure else { return };
        counts.failed += 1;
        match failure {
            ScrapeFailure::SampleLimit => counts.sample_limit += 1,
            ScrapeFailure::BodySizeLimit => counts.body_size_limit += 1,
            ScrapeFailure::LabelLimits => counts.label_limits += 1,
            ScrapeFailure::BucketLimit => counts.bucket_limit += 1,
            ScrapeFailure::Other => {}
        }
    }

    /// The active targets (a copy, taken under the lock), in job and then key order.
    /// The active target of job `pool` scraped at `url` (`/api/v1/targets`' `scrapePool` and
    /// `scrapeUrl`); the first, in label order, when relabeling gave several the same URL.
    pub fn find_active(&self, pool: &str, url: &str) -> Option<TargetStatus> {
        let all = self.active.lock().ok()?;
        all.values().find(|s| s.target.job.name == pool && s.target.url == url).cloned()
    }

    pub fn active_targets(&self) -> Vec<TargetStatus> {
        self.active.lock().map(|all| all.values().cloned().collect()).unwrap_or_default()
    }

    /// Every configured job's figures, by name.
    pub fn job_figures(&self) -> Vec<JobFigures> {
        let mut figures: BTreeMap<String, JobFigures> = match self.discovered.lock() {
            Ok(discovered) => discovered.iter().map(|(job, count)| (job.clone(), JobFigures { job: job.clone(), discovered: *count, ..JobFigures::default() })).collect(),
            Err(_) => BTreeMap::new(),
        };
        if let Ok(active) = self.active.lock() {
            for status in active.values() {
                let Some(f) = figures.get_mut(&status.target.job.name) else { continue };
                match status.health {
                    Health::Up => f.up += 1,
                    Health::Down => f.down += 1,
                    Health::Unknown => f.unknown += 1,
                }
            }
        }
        if let Ok(dropped) = self.dropped.lock() {
            for (job, (count, _)) in dropped.iter() {
                if let Some(f) = figures.get_mut(job) {
                    f.dropped = *count;
                }
            }
        }
        if let Ok(scrapes) = self.scrapes.lock() {
            for (job, counts) in scrapes.iter() {
                if let Some(f) = figures.get_mut(job) {
                    f.scrapes = *counts;
                }
            }
        }
        figures.into_values().collect()
    }

    /// Every job's dropped targets: their count and those listed (a job no longer
    /// configured leaves the list).
    pub fn set_dropped_all(&self, dropped: std::collections::HashMap<String, (usize, Vec<DiscoveredLabels>)>) {
        if let Ok(mut all) = self.dropped.lock() {
            *all = dropped.into_iter().collect();
        }
    }

    /// The `data` of `/api/v1/targets/metadata`, as Prometheus answers it: per active target
    /// whose labels `match_target` matches (all when empty), each family's metadata (`metric`
    /// named; with `metric`, only that family's, unnamed). With a `limit`, no target is
    /// looked at once that many entries are listed (a target's whole list may pass it).
    pub fn target_metadata(&self, match_target: &[tsdb::Matcher], metric: Option<&str>, limit: Option<usize>) -> serde_json::Value {
        let active: Vec<(Arc<Target>, Arc<Vec<crate::ingest::MetricMetadata>>)> = match self.active.lock() {
            Ok(all) => all.values().map(|s| (s.target.clone(), s.metadata.clone())).collect(),
            Err(_) => Vec::new(),
        };
        let mut out = Vec::new();
        for (target, metadata) in active {
            if limit.is_some_and(|limit| out.len() >= limit) {
                break;
            }
            if !target.matches(match_target) {
                continue;
            }
            let labels: serde_json::Map<String, serde_json::Value> = target.labels.iter().map(|(n, v)| (n.clone(), serde_json::Value::from(v.as_str()))).collect();
            for family in metadata.iter().filter(|m| metric.is_none_or(|name| m.family == name)) {
                let mut entry = serde_json::Map::new();
                entry.insert("target".into(), serde_json::Value::Object(labels.clone()));
                if metric.is_none() {
                    entry.insert("metric".into(), family.family.as_str().into());
                }
                entry.insert("type".into(), family.kind.as_str().into());
                entry.insert("help".into(), family.help.as_str().into());
                entry.insert("unit".into(), family.unit.as_str().into());
                out.push(serde_json::Value::Object(entry));
            }
        }
        serde_json::Value::Array(out)
    }

    /// Appends the `data` of `/api/v1/targets` to `out` as JSON: `state` is `active`, `dropped` or
    /// `any` in any case (Prometheus' parameter; empty is `any`, another value lists
    /// neither), `pool` a job name or empty for all. The lists are copied (their `Arc`s)
    /// under the locks and written after, so scrapes are not held up while a large list is
    /// written; each target's discovered labels are made only while it is written.
    pub fn write_json(&self, state: &str, pool: &str, out: &mut Vec<u8>) -> serde_json::Result<()> {
        let state = state.to_ascii_lowercase();
        let (show_active, show_dropped) = match state.as_str() {
            "" | "any" => (true, true),
            "active" => (true, false),
            "dropped" => (false, true),
            _ => (false, false),
        };
        let active: Vec<TargetStatus> = match (show_active, self.active.lock()) {
            (true, Ok(all)) => all.values().filter(|s| pool.is_empty() || s.target.job.name == pool).cloned().collect(),
            _ => Vec::new(),
        };
        // As Prometheus: the counts of every pool (`pool` filters the lists only), and null
        // when dropped targets are not asked for.
        let mut dropped: Vec<DiscoveredLabels> = Vec::new();
        let mut counts: Option<Vec<(String, usize)>> = None;
        if let (true, Ok(all)) = (show_dropped, self.dropped.lock()) {
            counts = Some(all.iter().map(|(job, (count, _))| (job.clone(), *count)).collect());
            for (_, (_, list)) in all.iter().filter(|(job, _)| pool.is_empty() || job.as_str() == pool) {
                dropped.extend(list.iter().cloned());
            }
        }
        let data = TargetsJson { active_targets: ActiveList(&active), dropped_targets: DroppedList(&dropped), dropped_target_counts: counts.as_deref().map(Counts) };
        serde_json::to_writer(out, &data)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TargetsJson<'a> {
    active_targets: ActiveList<'a>,
    dropped_targets: DroppedList<'a>,
    dropped_target_counts: Option<Counts<'a>>,
}

/// Labels as a JSON object, in their order.
struct LabelMap<'a>(&'a [(String, String)]);

impl Serialize for LabelMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, value)| (name, value)))
    }
}

struct Counts<'a>(&'a [(String, usize)]);

impl Serialize for Counts<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(job, count)| (job, count)))
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ActiveJson<'a> {
    discovered_labels: LabelMap<'a>,
    labels: LabelMap<'a>,
    scrape_pool: &'a str,
    scrape_url: &'a str,
    global_url: &'a str,
    last_error: &'a str,
    last_scrape: String,
    last_scrape_duration: f64,
    health: &'static str,
    scrape_interval: String,
    scrape_timeout: String,
}

struct ActiveList<'a>(&'a [TargetStatus]);

impl Serialize for ActiveList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_seq(Some(self.0.len()))?;
        for status in self.0 {
            let target = &status.target;
            let discovered = target.discovered.labels();
            let last_scrape = if status.last_scrape_ns == 0 { "0001-01-01T00:00:00Z".to_string() } else { crate::api::status::rfc3339_nano(status.last_scrape_ns) };
            list.serialize_element(&ActiveJson {
                discovered_labels: LabelMap(&discovered),
                labels: LabelMap(&target.labels),
                scrape_pool: &target.job.name,
                scrape_url: &target.url,
                global_url: &target.url,
                last_error: &status.last_error,
                last_scrape,
                last_scrape_duration: status.last_duration_seconds,
                health: status.health.as_str(),
                scrape_interval: duration_text(target.interval_ms),
                scrape_timeout: duration_text(target.timeout_ms),
            })?;
        }
        list.end()
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DroppedJson<'a> {
    discovered_labels: LabelMap<'a>,
    scrape_pool: &'a str,
}

struct DroppedList<'a>(&'a [DiscoveredLabels]);

impl Serialize for DroppedList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut list = serializer.serialize_seq(Some(self.0.len()))?;
        for target in self.0 {
            let discovered = target.labels();
            list.serialize_element(&DroppedJson { discovered_labels: LabelMap(&discovered), scrape_pool: &target.job.name })?;
        }
        list.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_scrape_times_read_as_go_writes_them() {
        assert_eq!(crate::api::status::rfc3339_nano(1_700_000_000_123_456_789), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(crate::api::status::rfc3339_nano(1_700_000_000_120_000_000), "2023-11-14T22:13:20.12Z");
        assert_eq!(crate::api::status::rfc3339_nano(1_700_000_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(crate::api::status::rfc3339_nano(951_825_600_000_000_001), "2000-02-29T12:00:00.000000001Z");
    }

    #[test]
    fn dropped_counts_cover_every_pool_and_only_when_dropped_targets_are_asked() {
        let registry = Registry::default();
        registry.set_dropped_all([("a".to_string(), (3, Vec::new())), ("b".to_string(), (0, Vec::new()))].into_iter().collect());
        let answer = |state: &str, pool: &str| {
            let mut out = Vec::new();
            registry.write_json(state, pool, &mut out).expect("JSON");
            serde_json::from_slice::<serde_json::Value>(&out).expect("valid JSON")
        };
        let counts = serde_json::json!({"a": 3, "b": 0});
        assert_eq!(answer("", "")["droppedTargetCounts"], counts);
        assert_eq!(answer("Dropped", "b")["droppedTargetCounts"], counts, "the scrapePool filter leaves the counts whole");
        assert_eq!(answer("active", ""), serde_json::json!({"activeTargets": [], "droppedTargets": [], "droppedTargetCounts": null}));
        assert_eq!(answer("other", "")["droppedTargetCounts"], serde_json::Value::Null);
    }

    #[test]
    fn job_figures_count_scrapes_by_cause_and_forget_removed_jobs() {
        let registry = Registry::default();
        registry.set_discovered([("a".to_string(), 4), ("b".to_string(), 0)].into_iter().collect());
        registry.set_dropped_all([("a".to_string(), (1, Vec::new()))].into_iter().collect());
        registry.count_scrape("a", None);
        registry.count_scrape("a", Some(ScrapeFailure::SampleLimit));
        registry.count_scrape("a", Some(ScrapeFailure::Other));
        registry.count_scrape("b", Some(ScrapeFailure::LabelLimits));
        let figures = registry.job_figures();
        assert_eq!(figures.len(), 2);
        assert_eq!((figures[0].job.as_str(), figures[0].discovered, figures[0].dropped), ("a", 4, 1));
        assert_eq!(figures[0].scrapes, ScrapeCounts { scrapes: 3, failed: 2, sample_limit: 1, ..ScrapeCounts::default() });
        assert_eq!(figures[1].scrapes, ScrapeCounts { scrapes: 1, failed: 1, label_limits: 1, ..ScrapeCounts::default() });
        // A reload without job b: its figures go.
        registry.set_discovered([("a".to_string(), 4)].into_iter().collect());
        assert_eq!(registry.job_figures().iter().map(|f| f.job.as_str()).collect::<Vec<_>>(), ["a"]);
        registry.count_scrape("b", None);
        assert_eq!(registry.job_figures().len(), 1, "a scrape of a job that is gone shows nowhere");
    }
}
