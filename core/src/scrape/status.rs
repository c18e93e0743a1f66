//! What each target's last scrape did, shared by every executor, for `/api/v1/targets`
//! (Prometheus' answer: `activeTargets` with their labels, URL, health, last error and
//! timing; `droppedTargets` with the labels relabeling dropped).

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::discovery::{duration_text, DroppedTarget};

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

/// One active target as the API lists it.
#[derive(Debug, Clone)]
pub struct TargetStatus {
    pub job: String,
    pub discovered: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub url: String,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub health: Health,
    pub last_error: String,
    pub last_scrape_ms: i64,
    pub last_duration_seconds: f64,
}

/// Every executor's targets.
#[derive(Debug, Default)]
pub struct Registry {
    active: Mutex<BTreeMap<(String, u64), TargetStatus>>,
    /// Per job: how many targets relabeling dropped, and the discovered labels of those
    /// listed (at most `keep_dropped_targets` when the job sets it).
    dropped: Mutex<BTreeMap<String, (usize, Vec<DroppedTarget>)>>,
}

impl Registry {
    pub fn set_active(&self, key: u64, status: TargetStatus) {
        if let Ok(mut active) = self.active.lock() {
            active.insert((status.job.clone(), key), status);
        }
    }

    pub fn update(&self, job: &str, key: u64, change: impl FnOnce(&mut TargetStatus)) {
        if let Ok(mut active) = self.active.lock() {
            if let Some(status) = active.get_mut(&(job.to_string(), key)) {
                change(status);
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
    pub fn set_dropped_all(&self, dropped: std::collections::HashMap<String, (usize, Vec<DroppedTarget>)>) {
        if let Ok(mut all) = self.dropped.lock() {
            *all = dropped.into_iter().collect();
        }
    }

    /// The `data` of `/api/v1/targets`: `state` is `active`, `dropped` or `any` in any case
    /// (Prometheus' parameter; empty is `any`, another value lists neither), `pool` a job
    /// name or empty for all.
    pub fn to_json(&self, state: &str, pool: &str) -> serde_json::Value {
        let state = state.to_ascii_lowercase();
        let (show_active, show_dropped) = match state.as_str() {
            "" | "any" => (true, true),
            "active" => (true, false),
            "dropped" => (false, true),
            _ => (false, false),
        };
        use serde_json::{json, Map, Value};
        let labels = |list: &[(String, String)]| Value::Object(list.iter().map(|(n, v)| (n.clone(), Value::String(v.clone()))).collect::<Map<_, _>>());
        let mut active = Vec::new();
        if show_active {
            if let Ok(all) = self.active.lock() {
                for status in all.values().filter(|s| pool.is_empty() || s.job == pool) {
                    let last_scrape = if status.last_scrape_ms == 0 { "0001-01-01T00:00:00Z".to_string() } else { crate::api::status::rfc3339(status.last_scrape_ms) };
                    active.push(json!({
                        "discoveredLabels": labels(&status.discovered),
                        "labels": labels(&status.labels),
                        "scrapePool": status.job,
                        "scrapeUrl": status.url,
                        "globalUrl": status.url,
                        "lastError": status.last_error,
                        "lastScrape": last_scrape,
                        "lastScrapeDuration": status.last_duration_seconds,
                        "health": status.health.as_str(),
                        "scrapeInterval": duration_text(status.interval_ms),
                        "scrapeTimeout": duration_text(status.timeout_ms),
                    }));
                }
            }
        }
        let mut dropped = Vec::new();
        let mut counts = Map::new();
        if let Ok(all) = self.dropped.lock() {
            for (job, (count, list)) in all.iter().filter(|(job, _)| pool.is_empty() || job.as_str() == pool) {
                counts.insert(job.clone(), json!(count));
                if show_dropped {
                    dropped.extend(list.iter().map(|d| json!({ "discoveredLabels": labels(&d.labels()), "scrapePool": job })));
                }
            }
        }
        json!({ "activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts })
    }
}
