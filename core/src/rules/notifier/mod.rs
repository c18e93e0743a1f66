//! Sending alerts to Alertmanagers, as Prometheus' notifier does: alerts get the external
//! labels they lack and the global `alert_relabel_configs`, wait in one bounded queue (the
//! oldest dropped when full), and one task on executor 0 posts them in batches to every
//! Alertmanager found by the `alerting:` section (`config`, `discovery`, `sending`, `sigv4`).

pub mod config;
pub mod discovery;
pub mod metrics;
pub mod sending;
pub mod sigv4;
pub mod wire;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

pub use config::{alerting_from_file, AlertingConfig, AlertmanagerSet};
use discovery::{FileSdState, FoundAlertmanagers};
use metrics::NotifierCounts;

use crate::ingest::relabel::Relabeler;

/// Alerts waiting to be sent at most (Prometheus' `--alertmanager.notification-queue-capacity`
/// default); the oldest are dropped beyond it.
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

/// The alerts queue and the Alertmanagers to send them to, shared by the rule evaluators
/// (`send`) and the sending task (`run`); see the module doc.
pub struct Notifier {
    state: Mutex<NotifierState>,
    /// Wakes the sending task when alerts are queued (one pending wake is enough).
    work_sender: async_channel::Sender<()>,
    work_receiver: async_channel::Receiver<()>,
}

/// Everything behind the notifier's lock.
struct NotifierState {
    config: Arc<AlertingConfig>,
    external_labels: Arc<BTreeMap<String, String>>,
    /// Bumped by every `apply`, so that a discovery begun under an older configuration is
    /// not stored over a newer one, and the sending task drops its old connections.
    generation: u64,
    queue: VecDeque<Alert>,
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
        let state = NotifierState { config: Arc::new(AlertingConfig::default()), external_labels: Arc::default(), generation: 0, queue: VecDeque::new(), file_sd: Vec::new(), found: Vec::new(), counts, asked: None, asked_version: 0 };
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

    /// Takes a reloaded configuration: its Alertmanagers found now; queued alerts stay.
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
        state.forget_vanished_alertmanagers();
        drop(state);
        // Queued alerts may now have somewhere to go.
        let _ = self.work_sender.try_send(());
    }

    /// Queues `alerts` for every Alertmanager, each with the external labels it lacks and
    /// the global `alert_relabel_configs` applied (an alert they drop is not sent); nothing
    /// happens when no Alertmanagers are configured.
    pub fn send(&self, alerts: Vec<Alert>) {
        let (config, external_labels) = {
            let state = self.lock();
            (state.config.clone(), state.external_labels.clone())
        };
        if config.alertmanager_sets.is_empty() {
            return;
        }
        let alerts = relabel_alerts(&config.alert_relabeler, &external_labels, alerts);
        if alerts.is_empty() {
            return;
        }
        let mut state = self.lock();
        state.enqueue(alerts);
        drop(state);
        let _ = self.work_sender.try_send(());
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

    /// A copy of the counters and gauges now.
    pub fn counts(&self) -> NotifierCounts {
        let state = self.lock();
        NotifierCounts { queue_length: state.queue.len(), alertmanagers_discovered: state.found.iter().map(|f| f.active.len()).sum(), ..state.counts.clone() }
    }

    /// The state, even if a thread panicked holding it (every update leaves it whole).
    fn lock(&self) -> MutexGuard<'_, NotifierState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl NotifierState {
    /// Appends `alerts`, dropping the oldest (queued or, past the capacity, of `alerts`
    /// itself) beyond `QUEUE_ALERTS_MAX`, as Prometheus does.
    fn enqueue(&mut self, mut alerts: Vec<Alert>) {
        let mut dropped = 0;
        if alerts.len() > QUEUE_ALERTS_MAX {
            let excess = alerts.len() - QUEUE_ALERTS_MAX;
            alerts.drain(..excess);
            dropped += excess;
        }
        let overflow = (self.queue.len() + alerts.len()).saturating_sub(QUEUE_ALERTS_MAX);
        self.queue.drain(..overflow);
        dropped += overflow;
        self.queue.extend(alerts);
        if dropped > 0 {
            tracing::warn!(count = dropped, "alert notification queue full, dropping alerts");
            self.counts.dropped += dropped as u64;
        }
        debug_assert!(self.queue.len() <= QUEUE_ALERTS_MAX, "the alert queue holds at most QUEUE_ALERTS_MAX alerts");
    }

    /// Counters for every Alertmanager found now (zero for a new one), none for the others.
    fn forget_vanished_alertmanagers(&mut self) {
        let active: std::collections::BTreeSet<&String> = self.found.iter().flat_map(|f| &f.active).collect();
        self.counts.per_alertmanager.retain(|url, _| active.contains(url));
        for url in active {
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
