//! What target relabeling made of the groups the network sources gave (http_sd, dns_sd,
//! Consul, Kubernetes), shared by every executor: a source keeps the same `Arc` for a group
//! that did not change (`AskedGroups`), so when a few of 20,000 Kubernetes targets change,
//! only those are relabeled again, once for all executors, instead of every target on every
//! executor at every change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::{ScrapeJob, TargetGroup};
use super::discovery::{self, Discovered};

/// One group's targets, and the round in which they were last asked for.
#[derive(Debug)]
struct Relabeled {
    /// Held so that the key's addresses stay theirs.
    _job: Arc<ScrapeJob>,
    _group: Arc<TargetGroup>,
    targets: Arc<[Discovered]>,
    used: u64,
}

/// The relabeled targets of the groups asked for lately, keyed by the addresses of the job and
/// group `Arc`s they came from (held, so the addresses cannot be reused); those no longer
/// asked for are forgotten.
#[derive(Debug, Default)]
pub struct RelabeledGroups {
    /// Counted up by executor 0 each time it rediscovers.
    round: AtomicU64,
    entries: Mutex<HashMap<(usize, usize), Relabeled>>,
}

impl RelabeledGroups {
    /// The targets `job` makes of each of `groups` (relabeled now unless some executor
    /// already did), in order; the lock is taken once to look up and once to add.
    pub fn targets(&self, job: &Arc<ScrapeJob>, groups: &[Arc<TargetGroup>]) -> Vec<Arc<[Discovered]>> {
        let key = |group: &Arc<TargetGroup>| (Arc::as_ptr(job) as usize, Arc::as_ptr(group) as usize);
        let round = self.round.load(Ordering::Acquire);
        let mut found: Vec<Option<Arc<[Discovered]>>> = match self.entries.lock() {
            Ok(mut entries) => groups
                .iter()
                .map(|group| {
                    let entry = entries.get_mut(&key(group))?;
                    entry.used = entry.used.max(round);
                    Some(entry.targets.clone())
                })
                .collect(),
            Err(_) => vec![None; groups.len()],
        };
        // Relabeled outside the lock: another executor may do the same meanwhile, and one
        // of the two equal answers is kept.
        let mut made = Vec::new();
        for (group, slot) in groups.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                let targets: Arc<[Discovered]> = discovery::targets(job, [group]).into();
                made.push((group, targets.clone()));
                *slot = Some(targets);
            }
        }
        if !made.is_empty() {
            if let Ok(mut entries) = self.entries.lock() {
                for (group, targets) in made {
                    let entry = entries.entry(key(group)).or_insert_with(|| Relabeled { _job: job.clone(), _group: group.clone(), targets, used: round });
                    entry.used = entry.used.max(round);
                }
            }
        }
        found.into_iter().flatten().collect()
    }

    /// Starts a round of discovery (executor 0's): what it asks for is kept.
    pub fn begin_round(&self) {
        self.round.fetch_add(1, Ordering::AcqRel);
    }

    /// Ends the round: forgets the groups nobody asked for in it (no longer given by their
    /// source, or of a job a reload replaced).
    pub fn forget_unused(&self) {
        let round = self.round.load(Ordering::Acquire);
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, entry| entry.used >= round);
        }
    }

    /// How many groups' targets are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::config::ScrapeConfig;

    fn job(relabel: &str) -> Arc<ScrapeJob> {
        let text = format!("scrape_configs: [{{job_name: j, relabel_configs: [{relabel}]}}]");
        ScrapeConfig::from_yaml(&text, std::path::Path::new("/tmp"), Default::default()).unwrap().jobs.remove(0)
    }

    fn group(address: &str) -> Arc<TargetGroup> {
        Arc::new(TargetGroup { targets: vec![address.to_string()], labels: Default::default() })
    }

    fn one(relabeled: &RelabeledGroups, job: &Arc<ScrapeJob>, group: &Arc<TargetGroup>) -> Arc<[Discovered]> {
        let mut found = relabeled.targets(job, std::slice::from_ref(group));
        assert_eq!(found.len(), 1);
        found.remove(0)
    }

    #[test]
    fn a_group_is_relabeled_once_and_forgotten_when_no_longer_asked_for() {
        let relabeled = RelabeledGroups::default();
        let job = job("{source_labels: [__address__], regex: 'drop.*', action: drop}");
        let (kept, dropped) = (group("keep:1"), group("drop:1"));
        relabeled.begin_round();
        let first = one(&relabeled, &job, &kept);
        assert!(matches!(&first[..], [Discovered::Active(t)] if t.host == "keep"));
        assert!(matches!(&one(&relabeled, &job, &dropped)[..], [Discovered::Dropped(_)]));
        relabeled.forget_unused();
        assert_eq!(relabeled.len(), 2);
        relabeled.begin_round();
        let again = one(&relabeled, &job, &kept);
        assert!(Arc::ptr_eq(&first, &again), "the same group is not relabeled again");
        // An equal group in a new Arc (a source's new answer) is relabeled, as a changed one.
        let fresh = one(&relabeled, &job, &group("keep:1"));
        assert!(!Arc::ptr_eq(&first, &fresh));
        relabeled.forget_unused();
        assert_eq!(relabeled.len(), 2, "the dropped group, not asked for in this round, is forgotten");
        // The same group for a job replaced by a reload is relabeled with the new job.
        let reloaded = self::job("{source_labels: [__address__], regex: 'keep.*', action: drop}");
        relabeled.begin_round();
        assert!(matches!(&one(&relabeled, &reloaded, &kept)[..], [Discovered::Dropped(_)]));
        relabeled.forget_unused();
        assert_eq!(relabeled.len(), 1);
    }
}
