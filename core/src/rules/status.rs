//! What the rule groups show of themselves, shared by every executor: the groups' last
//! evaluations, each rule's health and alerts, kept by the evaluating executor after each
//! evaluation and read by `/api/v1/rules`, `/api/v1/alerts` and `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::alerting::{Alert, AlertState};

/// A rule's health, as `/api/v1/rules` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct GroupView {
    pub name: String,
    pub file: String,
    pub interval_seconds: f64,
    pub limit: usize,
    pub evaluation_seconds: f64,
    /// When the last evaluation started (wall clock); `None` before the first.
    pub last_evaluation_ms: Option<i64>,
    /// The timestamp the last evaluation evaluated at.
    pub last_timestamp_ms: Option<i64>,
    pub last_samples: usize,
    pub evaluations: u64,
    pub failures: u64,
    pub iterations: u64,
    pub missed: u64,
    pub rules: Vec<RuleView>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RuleView {
    pub name: String,
    pub query: String,
    pub labels: BTreeMap<String, String>,
    pub health: Health,
    pub last_error: Option<String>,
    pub evaluation_seconds: f64,
    pub last_evaluation_ms: Option<i64>,
    pub kind: RuleViewKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleViewKind {
    Recording,
    Alerting { hold_seconds: f64, keep_firing_for_seconds: f64, annotations: BTreeMap<String, String>, state: AlertState, alerts: Vec<AlertView> },
}

/// A pending or firing alert as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertView {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub active_at_ms: i64,
    pub keep_firing_since_ms: Option<i64>,
    pub value: f64,
}

impl AlertView {
    pub fn of(a: &Alert) -> AlertView {
        AlertView { labels: a.labels.clone(), annotations: a.annotations.clone(), state: a.state, active_at_ms: a.active_at_ms, keep_firing_since_ms: a.keep_firing_since_ms, value: a.value }
    }
}

/// Every group's view by (file, name): Prometheus lists groups in that order.
#[derive(Debug, Default)]
pub struct RulesStatus {
    groups: Mutex<BTreeMap<(String, String), GroupView>>,
}

impl RulesStatus {
    /// Sets a group's view (after an evaluation, or when it starts).
    pub fn put(&self, view: GroupView) {
        if let Ok(mut groups) = self.groups.lock() {
            groups.insert((view.file.clone(), view.name.clone()), view);
        }
    }

    /// Keeps only the groups of `keys` (those of the configuration in force).
    pub fn retain(&self, keys: &[(String, String)]) {
        if let Ok(mut groups) = self.groups.lock() {
            groups.retain(|key, _| keys.contains(key));
        }
    }

    /// Every group's view, by file then name.
    pub fn groups(&self) -> Vec<GroupView> {
        self.groups.lock().map(|g| g.values().cloned().collect()).unwrap_or_default()
    }
}
