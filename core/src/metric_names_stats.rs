//! How often queries read each metric name, and when last (VictoriaMetrics' metric names
//! usage tracker, `/api/v1/status/metric_names_stats`): every series a select returns (PromQL
//! queries, rules, exports, federation, remote read, Graphite renders) counts once for its
//! `__name__`, so names nobody reads can be found and dropped at the source. Shared by every
//! core behind one lock, taken once per select; kept in `data_dir` across restarts, written
//! every `SAVE_EVERY` when they changed (a `Saver` thread) and at a clean shutdown.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

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

/// How often changed counts are written to `data_dir`, so a crash loses at most this much
/// of them.
pub const SAVE_EVERY: Duration = Duration::from_secs(300);

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
    /// Bumped by every change, so a save can tell whether there is anything new to write.
    #[serde(skip)]
    changes: u64,
}

#[derive(Debug, Default)]
pub struct MetricNamesStats {
    state: Mutex<State>,
}

impl MetricNamesStats {
    /// Counts from nothing, starting at `now_s`.
    pub fn new(now_s: u64) -> Self {
        MetricNamesStats { state: Mutex::new(State { since_s: now_s, ..State::default() }) }
    }

    /// The counts saved at `path`; new ones from `now_s` when there is no file, or (with the
    /// reason, for the log) when it cannot be read. New counts are due to be written (their
    /// start, `statsCollectedSince`, is kept across restarts even before a name is read).
    pub fn load(path: &Path, now_s: u64) -> (Self, Option<String>) {
        let fresh = || {
            let stats = Self::new(now_s);
            stats.lock().changes = 1;
            stats
        };
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (fresh(), None),
            Err(e) => return (fresh(), Some(format!("cannot read {}: {e}; counting from now", path.display()))),
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
            Err(e) => (fresh(), Some(format!("{} is not a metric names stats file ({e}); counting from now", path.display()))),
        }
    }

    /// Writes the counts to `path` when they changed since `saved` (the change count of the
    /// last save, which this updates; 0 for counts as loaded), through a temporary file
    /// synced and renamed over it, so a crash leaves the old file or the new one. The counts
    /// are copied under the lock and encoded outside it, so selects wait only for the copy.
    pub fn save_if_changed(&self, path: &Path, saved: &mut u64) -> Result<(), String> {
        let (changes, text) = {
            let state = self.lock();
            if state.changes == *saved {
                return Ok(());
            }
            (state.changes, State { since_s: state.since_s, names: state.names.clone(), bytes: 0, changes: 0 })
        };
        let text = serde_json::to_vec(&text).map_err(|e| format!("cannot encode the metric names stats: {e}"))?;
        let temporary = path.with_extension("json.tmp");
        let written = std::fs::File::create(&temporary).and_then(|mut file| {
            std::io::Write::write_all(&mut file, &text)?;
            file.sync_all()
        });
        written.map_err(|e| format!("cannot write {}: {e}", temporary.display()))?;
        std::fs::rename(&temporary, path).map_err(|e| format!("cannot rename {} to {}: {e}", temporary.display(), path.display()))?;
        *saved = changes;
        Ok(())
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
        state.changes += 1;
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
        let mut state = self.lock();
        let changes = state.changes + 1;
        *state = State { since_s: now_s, changes, ..State::default() };
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

/// The thread that writes the counts every `every` while they change; `stop` ends it and
/// writes what changed since.
pub struct Saver {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Saver {
    /// Starts saving `stats` to `path` every `every`; a failed save is logged and tried
    /// again at the next.
    pub fn start(stats: Arc<MetricNamesStats>, path: std::path::PathBuf, every: Duration) -> Result<Saver, String> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("metric-names-saver".into())
            .spawn(move || {
                let mut saved = 0;
                loop {
                    let last = !matches!(stopped.recv_timeout(every), Err(mpsc::RecvTimeoutError::Timeout));
                    if let Err(e) = stats.save_if_changed(&path, &mut saved) {
                        tracing::warn!("the metric names stats are not kept: {e}");
                    }
                    if last {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the metric names saver thread: {e}"))?;
        Ok(Saver { stop, thread })
    }

    /// Writes what changed since the last save and ends the thread.
    pub fn stop(self) {
        drop(self.stop);
        if self.thread.join().is_err() {
            tracing::warn!("the metric names saver thread panicked; the counts since its last save are not kept");
        }
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
        let mut saved = 0;
        stats.save_if_changed(&path, &mut saved).expect("saved");
        let (loaded, warning) = MetricNamesStats::load(&path, 999);
        assert_eq!(warning, None);
        assert_eq!(loaded.snapshot(), stats.snapshot(), "the same counts and the same start");
        // Nothing changed since: nothing is written.
        std::fs::remove_file(&path).expect("remove");
        stats.save_if_changed(&path, &mut saved).expect("nothing to save");
        assert!(!path.exists(), "unchanged counts were written again");
        // Counts as loaded are what the file holds: not written again either.
        let mut loaded_saved = 0;
        loaded.save_if_changed(&path, &mut loaded_saved).expect("nothing to save");
        assert!(!path.exists(), "counts as loaded were written again");

        stats.reset(200);
        let (since, names) = stats.snapshot();
        assert_eq!((since, names.len()), (200, 0));
    }

    #[test]
    fn the_saver_writes_changed_counts_while_running_and_at_its_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let stats = Arc::new(MetricNamesStats::new(10));
        let saver = Saver::start(stats.clone(), path.clone(), Duration::from_millis(20)).expect("started");
        stats.record(["up", "up"].into_iter(), 11);
        // Written while running, without a stop (as a crash would find it).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let on_disk = loop {
            let (loaded, _) = MetricNamesStats::load(&path, 0);
            if loaded.get("up").requests == 2 {
                break loaded;
            }
            assert!(std::time::Instant::now() < deadline, "the counts were not written within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(on_disk.snapshot().0, 10, "the start of counting is kept");
        // What changes just before the stop is written by it.
        stats.record(["late"].into_iter(), 12);
        saver.stop();
        let (loaded, _) = MetricNamesStats::load(&path, 0);
        assert_eq!((loaded.get("up").requests, loaded.get("late").requests), (2, 1));
        assert!(!path.with_extension("json.tmp").exists(), "the temporary file is renamed over the counts");
    }

    #[test]
    fn a_missing_or_broken_file_starts_from_now() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        let (stats, warning) = MetricNamesStats::load(&path, 50);
        assert_eq!((stats.snapshot().0, warning), (50, None));
        // Written even before a name is read, so that the start is kept.
        stats.save_if_changed(&path, &mut 0).expect("saved");
        assert_eq!(MetricNamesStats::load(&path, 99).0.snapshot().0, 50);
        std::fs::remove_file(&path).expect("remove");
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
