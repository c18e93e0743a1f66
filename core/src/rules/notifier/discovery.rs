//! The Alertmanagers of one `alertmanagers` entry, found as Prometheus finds them
//! (`AlertmanagerFromGroup`): each target of its static, file_sd and network discovery
//! groups (the last asked by the scrape discoveries' askers) labeled with
//! `__address__`, `__scheme__` and `__alerts_path__`, its `relabel_configs` run over them,
//! and the URL `scheme://address/path` made of what is left (the same URL once only).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use super::config::AlertmanagerSet;
use crate::ingest::relabel::get;
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{fingerprint, FileSdCache};

/// The label naming the path alerts are posted to (Prometheus').
const ALERTS_PATH_LABEL: &str = "__alerts_path__";

/// The Alertmanagers of one entry, as last found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoundAlertmanagers {
    /// The URLs alerts are posted to, in discovery order.
    pub active: Vec<String>,
    /// The URLs (before relabeling) of the targets its `relabel_configs` dropped.
    pub dropped: Vec<String>,
}

/// The file_sd state of one entry: its last good groups per file, and what its files looked
/// like when last read.
#[derive(Debug, Default)]
pub struct FileSdState {
    cache: FileSdCache,
    last_fingerprint: Option<Vec<(PathBuf, u64, Option<SystemTime>)>>,
    last_read_ms: i64,
}

impl FileSdState {
    /// Whether the entry's files must be read again at `now_ms`: never read, changed on disk,
    /// or their refresh interval passed.
    pub fn stale(&self, set: &AlertmanagerSet, now_ms: i64) -> bool {
        if set.file_sd.is_empty() {
            return self.last_fingerprint.is_none();
        }
        let refresh_ms = set.file_sd.iter().map(|f| f.refresh_ms).min().unwrap_or(i64::MAX);
        self.last_fingerprint.as_ref() != Some(&fingerprint(&set.file_sd)) || now_ms.saturating_sub(self.last_read_ms) >= refresh_ms
    }

    /// The entry's Alertmanagers now: its static groups, its files read again, and what its
    /// network discoveries last gave (`network`).
    pub fn find(&mut self, set: &AlertmanagerSet, now_ms: i64, network: &[std::sync::Arc<TargetGroup>]) -> FoundAlertmanagers {
        let fingerprint_before = fingerprint(&set.file_sd);
        let (file_groups, errors) = self.cache.read(&set.file_sd);
        for error in errors {
            tracing::warn!(error = %error, "alertmanager file_sd");
        }
        self.last_fingerprint = Some(fingerprint_before);
        self.last_read_ms = now_ms;
        alertmanagers_from_groups(set, set.static_groups.iter().chain(file_groups.iter()).chain(network.iter().map(|g| g.as_ref())))
    }
}

/// The Alertmanagers of `groups` under `set`'s scheme, path and relabeling (a group holding
/// an address with a `/` after relabeling is left out whole, as Prometheus leaves it).
pub fn alertmanagers_from_groups<'a>(set: &AlertmanagerSet, groups: impl IntoIterator<Item = &'a TargetGroup>) -> FoundAlertmanagers {
    let mut found = FoundAlertmanagers::default();
    let mut seen = BTreeSet::new();
    for group in groups {
        match group_alertmanagers(set, group) {
            Ok((active, dropped)) => {
                found.dropped.extend(dropped);
                for url in active {
                    if seen.insert(url.clone()) {
                        found.active.push(url);
                    }
                }
            }
            Err(error) => tracing::warn!(error = %error, "creating discovered Alertmanagers failed"),
        }
    }
    found
}

/// One group's active and dropped Alertmanager URLs.
fn group_alertmanagers(set: &AlertmanagerSet, group: &TargetGroup) -> Result<(Vec<String>, Vec<String>), String> {
    let (mut active, mut dropped) = (Vec::new(), Vec::new());
    for address in &group.targets {
        let mut labels = vec![("__address__".to_string(), address.clone()), ("__scheme__".to_string(), set.scheme.as_str().to_string()), (ALERTS_PATH_LABEL.to_string(), set.alerts_path.clone())];
        // Group labels where the target has none of its own (a target sets only its
        // address), so a group's `__scheme__` overrides the entry's, as in Prometheus.
        for (name, value) in &group.labels {
            if name == "__address__" {
                continue;
            }
            match labels.iter_mut().find(|(n, _)| n == name) {
                Some(label) => label.1 = value.clone(),
                None => labels.push((name.clone(), value.clone())),
            }
        }
        let before = url_of(&labels);
        if !set.target_relabeler.apply(&mut labels) {
            dropped.push(before);
            continue;
        }
        let address = get(&labels, "__address__");
        if address.contains('/') {
            return Err(format!("{address:?} is not a valid hostname"));
        }
        active.push(url_of(&labels));
    }
    Ok((active, dropped))
}

/// The URL Prometheus makes of an Alertmanager's labels (`scheme://address/path`).
fn url_of(labels: &[(String, String)]) -> String {
    let path = get(labels, ALERTS_PATH_LABEL);
    let slash = if path.starts_with('/') || path.is_empty() { "" } else { "/" };
    format!("{}://{}{slash}{path}", get(labels, "__scheme__"), get(labels, "__address__"))
}
