//! Sending alerts to Alertmanagers, as Prometheus 3.10+ does: alerts get the external labels
//! they lack and the global `alert_relabel_configs`, then each entry's own, and wait in one
//! bounded queue per Alertmanager (the oldest dropped when full; an entry's own while it has
//! none yet), which a task of its own posts, so that a slow or dead Alertmanager delays no
//! other (`config`, `discovery`, `sending`, `sigv4`).

pub mod config;
pub mod discovery;
pub mod metrics;
pub mod sending;
pub mod sigv4;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

pub use config::{alerting_from_file, AlertingConfig, AlertmanagerSet};
use discovery::{FileSdState, FoundAlertmanagers};
use metrics::NotifierCounts;

use crate::ingest::relabel::Relabeler;

/// Alerts waiting to be sent to one Alertmanager at most (Prometheus'
/// `--alertmanager.notification-queue-capacity` default); the oldest are dropped beyond it.
pub const QUEUE_ALERTS_MAX: usize = 10_000;
/// Alerts in one request to an Alertmanager at most (Prometheus 3's default batch size).
pub const BATCH_ALERTS_MAX: usize = 256;

/// One alert as the rule manager hands it over (Prometheus' `notifier.Alert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at_ms: i64,
    /// None: no end known (sent as Go's zero time, which Alertmanager reads as unset).
    pub ends_at_ms: Option<i64>,
    pub generator_url: String,
}

/// The alert queues and the Alertmanagers to send them to, shared by the rule evaluators
/// (`send`) and the sending tasks (`run`); see the module doc.
pub struct Notifier {
    state: Mutex<NotifierState>,
    /// Wakes the supervising task when the Alertmanagers may have changed (one pending wake
    /// is enough).
    work_sender: async_channel::Sender<()>,
    work_receiver: async_channel::Receiver<()>,
}

/// One Alertmanager of one `alertmanagers` entry: the entry's index and the URL posted to.
/// Two entries finding the same URL each have a queue; their counts share the URL.
pub(crate) type QueueKey = (usize, String);

/// The alerts waiting for one Alertmanager, and the wake of the task that posts them.
struct AlertmanagerQueue {
    alerts: VecDeque<Alert>,
    wake: async_channel::Sender<()>,
    woken: async_channel::Receiver<()>,
}

impl AlertmanagerQueue {
    fn new() -> AlertmanagerQueue {
        let (wake, woken) = async_channel::bounded(1);
        AlertmanagerQueue { alerts: VecDeque::new(), wake, woken }
    }

    /// `enqueue_bounded` into this queue, then wakes its task; how many were dropped.
    fn enqueue(&mut self, alerts: Vec<Alert>) -> usize {
        let dropped = enqueue_bounded(&mut self.alerts, alerts);
        let _ = self.wake.try_send(());
        dropped
    }
}

/// Appends `alerts` to `queue`, dropping the oldest (queued or, past the capacity, of `alerts`
/// itself) beyond `QUEUE_ALERTS_MAX`, as Prometheus does; how many were dropped.
fn enqueue_bounded(queue: &mut VecDeque<Alert>, mut alerts: Vec<Alert>) -> usize {
    let mut dropped = 0;
    if alerts.len() > QUEUE_ALERTS_MAX {
        let excess = alerts.len() - QUEUE_ALERTS_MAX;
        alerts.drain(..excess);
        dropped += excess;
    }
    let overflow = (queue.len() + alerts.len()).saturating_sub(QUEUE_ALERTS_MAX);
    queue.drain(..overflow);
    dropped += overflow;
    queue.extend(alerts);
    debug_assert!(queue.len() <= QUEUE_ALERTS_MAX, "an Alertmanager's queue holds at most QUEUE_ALERTS_MAX alerts");
    dropped
}

/// Everything behind the notifier's lock.
struct NotifierState {
    config: Arc<AlertingConfig>,
    external_labels: Arc<BTreeMap<String, String>>,
    /// Bumped by every `apply`, so that a discovery begun under an older configuration is
    /// not stored over a newer one, and the sending tasks drop their old connections.
    generation: u64,
    /// One per active Alertmanager of each entry.
    queues: BTreeMap<QueueKey, AlertmanagerQueue>,
    /// Per entry with no Alertmanager found yet: its alerts, until one is found (the
    /// supervisor is woken to look at once, as discoveries may just have found one).
    waiting: BTreeMap<usize, VecDeque<Alert>>,
    /// Per `alertmanagers` entry, in the configuration's order.
    file_sd: Vec<FileSdState>,
    found: Vec<FoundAlertmanagers>,
    counts: NotifierCounts,
    /// What the scrape discoveries' askers last found, for entries with network
    /// discoveries (`discover_from`), and its version when last looked at.
    asked: Option<Arc<crate::scrape::asked_groups::AskedGroups>>,
    asked_version: u64,
}

impl Notifier {
    /// A notifier sending to `config`'s Alertmanagers (static ones known at once, file_sd
    /// files read now), with `external_labels` added to alerts lacking them.
    pub fn new(config: AlertingConfig, external_labels: BTreeMap<String, String>) -> Notifier {
        let (work_sender, work_receiver) = async_channel::bounded(1);
        let counts = NotifierCounts { queue_capacity: QUEUE_ALERTS_MAX, ..NotifierCounts::default() };
        let state = NotifierState { config: Arc::new(AlertingConfig::default()), external_labels: Arc::default(), generation: 0, queues: BTreeMap::new(), waiting: BTreeMap::new(), file_sd: Vec::new(), found: Vec::new(), counts, asked: None, asked_version: 0 };
        let notifier = Notifier { state: Mutex::new(state), work_sender, work_receiver };
        notifier.apply(config, external_labels);
        notifier
    }

    /// Reads the groups of entries with network discoveries from `asked`, where the scrape
    /// discoveries' askers keep what they find (the server's, set once at start).
    pub fn discover_from(&self, asked: Arc<crate::scrape::asked_groups::AskedGroups>) {
        self.lock().asked = Some(asked);
        self.refresh_discovery(crate::api::params::now_ms());
    }

    /// Takes a reloaded configuration: its Alertmanagers found now; an Alertmanager found
    /// again at the same entry keeps its queue.
    pub fn apply(&self, config: AlertingConfig, external_labels: BTreeMap<String, String>) {
        let now_ms = crate::api::params::now_ms();
        let asked = self.lock().asked.clone();
        let mut file_sd: Vec<FileSdState> = config.alertmanager_sets.iter().map(|_| FileSdState::default()).collect();
        let found: Vec<FoundAlertmanagers> = config.alertmanager_sets.iter().zip(file_sd.iter_mut()).map(|(set, files)| files.find(set, now_ms, &network_groups(set, asked.as_deref()))).collect();
        let mut state = self.lock();
        state.config = Arc::new(config);
        state.external_labels = Arc::new(external_labels);
        state.generation += 1;
        state.file_sd = file_sd;
        state.found = found;
        state.follow_found_alertmanagers();
        drop(state);
        let _ = self.work_sender.try_send(());
    }

    /// Queues `alerts` for every Alertmanager, each with the external labels it lacks, the
    /// global `alert_relabel_configs` and then its entry's applied (an alert they drop is not
    /// sent there); an entry with no Alertmanager found yet keeps them until one is. Nothing
    /// happens when no Alertmanager is configured.
    pub fn send(&self, alerts: Vec<Alert>) {
        // Relabeled under the lock, so that a reload cannot come between the entries the
        // alerts were relabeled for and the queues they go to.
        let mut state = self.lock();
        let config = state.config.clone();
        if config.alertmanager_sets.is_empty() {
            return;
        }
        let alerts = relabel_alerts(&config.alert_relabeler, &state.external_labels, alerts);
        if alerts.is_empty() {
            return;
        }
        let mut dropped = 0;
        let mut waiting = false;
        for (entry, set) in config.alertmanager_sets.iter().enumerate() {
            let relabeled = relabel_alerts(&set.alert_relabeler, &BTreeMap::new(), alerts.clone());
            if relabeled.is_empty() {
                continue;
            }
            let mut queues = state.queues.range_mut((entry, String::new())..(entry + 1, String::new())).peekable();
            if queues.peek().is_none() {
                waiting = true;
                dropped += enqueue_bounded(state.waiting.entry(entry).or_default(), relabeled);
                continue;
            }
            for (_, queue) in queues {
                dropped += queue.enqueue(relabeled.clone());
            }
        }
        if dropped > 0 {
            tracing::warn!(count = dropped, "alert notification queue full, dropping alerts");
            state.counts.dropped += dropped as u64;
        }
        drop(state);
        if waiting {
            let _ = self.work_sender.try_send(());
        }
    }

    /// `/api/v1/alertmanagers`' data: the active and dropped Alertmanagers' URLs.
    pub fn alertmanagers_json(&self) -> serde_json::Value {
        let state = self.lock();
        let listed = |urls: Vec<&String>| urls.into_iter().map(|url| serde_json::json!({ "url": url })).collect::<Vec<_>>();
        let active = listed(state.found.iter().flat_map(|f| &f.active).collect());
        let dropped = listed(state.found.iter().flat_map(|f| &f.dropped).collect());
        serde_json::json!({ "activeAlertmanagers": active, "droppedAlertmanagers": dropped })
    }

    /// The notifier's series (`prometheus_notifications_*`) in the text exposition format.
    pub fn metrics_text(&self) -> String {
        self.counts().text()
    }

    /// A copy of the counters and gauges now; the queue length is the longest queue's.
    pub fn counts(&self) -> NotifierCounts {
        let state = self.lock();
        let queue_length = state.queues.values().map(|q| q.alerts.len()).chain(state.waiting.values().map(VecDeque::len)).max().unwrap_or(0);
        NotifierCounts { queue_length, alertmanagers_discovered: state.found.iter().map(|f| f.active.len()).sum(), ..state.counts.clone() }
    }

    /// The state, even if a thread panicked holding it (every update leaves it whole).
    fn lock(&self) -> MutexGuard<'_, NotifierState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl NotifierState {
    /// A queue for every Alertmanager found now (those of a vanished one are counted
    /// dropped: Prometheus stops its loop), the waiting alerts of an entry moved to the queues
    /// of the Alertmanagers it now has, and counters for every URL found now (zero for a new
    /// one, a vanished one forgotten, as in Prometheus).
    fn follow_found_alertmanagers(&mut self) {
        let keys: BTreeSet<QueueKey> = self.found.iter().enumerate().flat_map(|(entry, f)| f.active.iter().map(move |url| (entry, url.clone()))).collect();
        let mut dropped = 0;
        self.queues.retain(|key, queue| {
            let kept = keys.contains(key);
            if !kept {
                dropped += queue.alerts.len();
            }
            kept
        });
        let entries = self.config.alertmanager_sets.len();
        self.waiting.retain(|entry, queue| {
            let kept = *entry < entries;
            if !kept {
                dropped += queue.len();
            }
            kept
        });
        for key in &keys {
            self.queues.entry(key.clone()).or_insert_with(AlertmanagerQueue::new);
        }
        let found_now: Vec<usize> = self.waiting.keys().copied().filter(|entry| keys.iter().any(|(e, _)| e == entry)).collect();
        for entry in found_now {
            let Some(waiting) = self.waiting.remove(&entry) else { continue };
            let alerts: Vec<Alert> = waiting.into();
            for (_, queue) in self.queues.range_mut((entry, String::new())..(entry + 1, String::new())) {
                dropped += queue.enqueue(alerts.clone());
            }
        }
        self.counts.dropped += dropped as u64;
        let urls: BTreeSet<&String> = keys.iter().map(|(_, url)| url).collect();
        self.counts.per_alertmanager.retain(|url, _| urls.contains(url));
        for url in urls {
            self.counts.per_alertmanager.entry(url.clone()).or_default();
        }
    }
}

/// `alerts` with the labels of `external_labels` each lacks (or has empty) added and
/// `relabeler` run over their labels; those it drops are left out (Prometheus' `relabelAlerts`).
pub fn relabel_alerts(relabeler: &Relabeler, external_labels: &BTreeMap<String, String>, alerts: Vec<Alert>) -> Vec<Alert> {
    let mut kept = Vec::with_capacity(alerts.len());
    for mut alert in alerts {
        for (name, value) in external_labels {
            if alert.labels.get(name).is_none_or(|v| v.is_empty()) {
                alert.labels.insert(name.clone(), value.clone());
            }
        }
        let mut labels: Vec<(String, String)> = std::mem::take(&mut alert.labels).into_iter().collect();
        if relabeler.apply(&mut labels) {
            alert.labels = labels.into_iter().collect();
            kept.push(alert);
        }
    }
    kept
}

/// The groups `set`'s network discoveries last gave (none without them or `asked`).
pub(crate) fn network_groups(set: &AlertmanagerSet, asked: Option<&crate::scrape::asked_groups::AskedGroups>) -> Vec<Arc<crate::scrape::config::TargetGroup>> {
    let (Some(job), Some(asked)) = (&set.discovery, asked) else { return Vec::new() };
    crate::scrape::asked_sources(job).iter().flat_map(|source| asked.groups(&job.name, source)).collect()
}
