//! What each target's last scrape did, shared by every executor, for `/api/v1/targets`
//! (Prometheus' answer: `activeTargets` with their labels, URL, health, last error and
//! timing; `droppedTargets` with the labels relabeling dropped).

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
}

impl TargetStatus {
    /// A target not scraped yet.
    pub fn new(target: Arc<Target>) -> TargetStatus {
        TargetStatus { target, health: Health::Unknown, last_error: String::new(), last_scrape_ns: 0, last_duration_seconds: 0.0 }
    }
}

/// Every executor's targets.
#[derive(Debug, Default)]
pub struct Registry {
    active: Mutex<BTreeMap<(String, u64), TargetStatus>>,
    /// Per job: how many targets relabeling dropped, and those listed (at most
    /// `keep_dropped_targets` when the job sets it).
    dropped: Mutex<BTreeMap<String, (usize, Vec<DiscoveredLabels>)>>,
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

    /// Every job's dropped targets: their count and those listed (a job no longer
    /// configured leaves the list).
    pub fn set_dropped_all(&self, dropped: std::collections::HashMap<String, (usize, Vec<DiscoveredLabels>)>) {
        if let Ok(mut all) = self.dropped.lock() {
            *all = dropped.into_iter().collect();
        }
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
}
