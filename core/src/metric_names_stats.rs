//! How often queries read each metric name, and when last (VictoriaMetrics' metric names
//! usage tracker, `/api/v1/status/metric_names_stats`): every series a select returns (PromQL
//! queries, rules, exports, federation, remote read, Graphite renders) counts once for its
//! `__name__`, so names nobody reads can be found and dropped at the source. Shared by every
//! core behind one lock, taken once per select; kept in `data_dir` across clean restarts.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Memory the counts may take (each name's bytes and `ENTRY_BYTES`): past it, names not yet
/// tracked are not counted (those tracked still are), as VictoriaMetrics stops at its size
/// limit.
pub const BYTES_MAX: u64 = 64 << 20;

/// What a tracked name takes beside its bytes (the map's entry, the counts, the string's
/// header).
pub const ENTRY_BYTES: usize = 64;

/// The memory `name`'s counts take.
fn entry_bytes(name: &str) -> u64 {
    (name.len() + ENTRY_BYTES) as u64
}

/// The file in `data_dir` the counts are kept in across restarts.
pub const FILE_NAME: &str = "metric_names_stats.json";

/// The time the counts are stamped with: Unix seconds now.
pub fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// One name's reads: how many series of it selects returned, and the last time (Unix
/// seconds) one did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameStat {
    pub requests: u64,
    pub last_request_s: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// When counting began (the first start, or the last reset), Unix seconds.
    since_s: u64,
    names: HashMap<String, NameStat>,
    /// What `names` takes (`entry_bytes` of each).
    #[serde(skip)]
    bytes: u64,
}

#[derive(Debug, Default)]
pub struct MetricNamesStats {
    state: Mutex<State>,
}

impl MetricNamesStats {
    /// Counts from nothing, starting at `now_s`.
    pub fn new(now_s: u64) -> Self {
        MetricNamesStats { state: Mutex::new(State { since_s: now_s, names: HashMap::new(), bytes: 0 }) }
    }

    /// The counts saved at `path`; new ones from `now_s` when there is no file, or (with the
    /// reason, for the log) when it cannot be read.
    pub fn load(path: &Path, now_s: u64) -> (Self, Option<String>) {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::new(now_s), None),
            Err(e) => return (Self::new(now_s), Some(format!("cannot read {}: {e}; counting from now", path.display()))),
        };
        match serde_json::from_slice::<State>(&text) {
            Ok(mut state) => {
                // Within the budget (a file written under a larger one keeps what fits).
                let mut bytes = 0;
                state.names.retain(|name, _| {
                    bytes += entry_bytes(name);
                    bytes <= BYTES_MAX
                });
                state.bytes = state.names.keys().map(|name| entry_bytes(name)).sum();
                (MetricNamesStats { state: Mutex::new(state) }, None)
            }
            Err(e) => (Self::new(now_s), Some(format!("{} is not a metric names stats file ({e}); counting from now", path.display()))),
        }
    }

    /// Writes the counts to `path` (through a temporary file renamed over it, so a crash
    /// leaves the old file or the new one).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let text = {
            let state = self.lock();
            serde_json::to_vec(&*state).map_err(|e| format!("cannot encode the metric names stats: {e}"))?
        };
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, text).map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
        std::fs::rename(&temporary, path).map_err(|e| format!("cannot rename {} to {}: {e}", temporary.display(), path.display()))
    }

    /// Counts one read of a series for each name in `names` (a name may repeat: each
    /// series counts), at `now_s`.
    pub fn record<'a>(&self, names: impl Iterator<Item = &'a str>, now_s: u64) {
        // A select's series come sorted by labels, the name first: runs of one name are
        // counted by comparing with the last, and hashed once per run.
        let mut counted: HashMap<&str, u64> = HashMap::new();
        let mut run: Option<(&str, u64)> = None;
        for name in names {
            match &mut run {
                Some((last, count)) if *last == name => *count += 1,
                _ => {
                    if let Some((last, count)) = run.replace((name, 1)) {
                        *counted.entry(last).or_default() += count;
                    }
                }
            }
        }
        if let Some((last, count)) = run {
            *counted.entry(last).or_default() += count;
        }
        if counted.is_empty() {
            return;
        }
        let mut state = self.lock();
        for (name, reads) in counted {
            if !state.names.contains_key(name) {
                if state.bytes + entry_bytes(name) > BYTES_MAX {
                    continue;
                }
                state.bytes += entry_bytes(name);
            }
            let stat = state.names.entry(name.to_string()).or_default();
            stat.requests += reads;
            stat.last_request_s = now_s;
        }
    }

    /// Forgets every count; counting starts again at `now_s`.
    pub fn reset(&self, now_s: u64) {
        *self.lock() = State { since_s: now_s, names: HashMap::new(), bytes: 0 };
    }

    /// When counting began (Unix seconds), and every name's counts.
    pub fn snapshot(&self) -> (u64, HashMap<String, NameStat>) {
        let state = self.lock();
        (state.since_s, state.names.clone())
    }

    /// About how much memory the counts take: each name's bytes and `ENTRY_BYTES`.
    pub fn approximate_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// The counts of `name` (zero for a name never read).
    pub fn get(&self, name: &str) -> NameStat {
        self.lock().names.get(name).copied().unwrap_or_default()
    }

    /// The state; a panic while it was held left whole counts (each update is a few
    /// additions), so a poisoned lock is used as it is.
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_counted_per_series_and_survive_a_save() {
        let stats = MetricNamesStats::new(100);
        stats.record(["up", "up", "node_load1"].into_iter(), 110);
        // Runs and returns of a name add up alike.
        stats.record(["a", "b", "b", "a", "a"].into_iter(), 111);
        assert_eq!((stats.get("a").requests, stats.get("b").requests), (3, 2));
        stats.record(["up"].into_iter(), 120);
        stats.record(std::iter::empty(), 130);
        assert_eq!(stats.get("up"), NameStat { requests: 3, last_request_s: 120 });
        assert_eq!(stats.get("node_load1"), NameStat { requests: 1, last_request_s: 110 });
        assert_eq!(stats.get("never"), NameStat::default());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        stats.save(&path).expect("saved");
        let (loaded, warning) = MetricNamesStats::load(&path, 999);
        assert_eq!(warning, None);
        assert_eq!(loaded.snapshot(), stats.snapshot(), "the same counts and the same start");

        stats.reset(200);
        let (since, names) = stats.snapshot();
        assert_eq!((since, names.len()), (200, 0));
    }

    #[test]
    fn a_missing_or_broken_file_starts_from_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let (stats, warning) = MetricNamesStats::load(&path, 50);
        assert_eq!((stats.snapshot().0, warning), (50, None));
        std::fs::write(&path, b"{not json").expect("write");
        let (stats, warning) = MetricNamesStats::load(&path, 60);
        assert_eq!(stats.snapshot().0, 60);
        assert!(warning.is_some_and(|w| w.contains("not a metric names stats file")));
    }

    #[test]
    fn past_the_limit_only_names_already_tracked_are_counted() {
        let stats = MetricNamesStats::new(0);
        // Names of 36 bytes: 100 bytes each with the entry.
        let names: Vec<String> = (0..BYTES_MAX / 100).map(|i| format!("m{i:035}")).collect();
        stats.record(names.iter().map(String::as_str), 1);
        assert_eq!(stats.approximate_bytes(), BYTES_MAX / 100 * 100);
        stats.record(["m00000000000000000000000000000000000", "new_name_that_does_not_fit_any_more"].into_iter(), 2);
        let (_, tracked) = stats.snapshot();
        assert_eq!(tracked.len() as u64, BYTES_MAX / 100);
        assert_eq!(tracked.get("m00000000000000000000000000000000000"), Some(&NameStat { requests: 2, last_request_s: 2 }));
        assert!(!tracked.contains_key("new_name_that_does_not_fit_any_more"));
    }
}
