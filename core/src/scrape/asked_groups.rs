//! Target groups found by asking something over the network (http_sd URLs, dns_sd names),
//! shared by every executor: executor 0 asks and stores each source's last good groups, so a
//! source is asked once per refresh however many cores there are. It also counts each
//! discovery's requests and failures per job (`RefreshCounts`, for `/metrics`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::config::TargetGroup;

/// The groups each source last gave, by job name and source (an http_sd URL, a dns_sd
/// name with its record type and port), and a version that changes whenever they do.
/// Executor 0 stores them here; every executor reads them when it rediscovers, and
/// rediscovers when the version changes, so a reload that keeps a source keeps its groups
/// meanwhile.
/// Groups are shared (`Arc`), so a source that keeps most of its groups from one answer
/// to the next (Kubernetes, Consul) is compared by pointer for those, and every executor
/// reads them without copying.
#[derive(Debug, Default)]
pub struct AskedGroups {
    version: AtomicU64,
    groups: Mutex<GroupsBySource>,
    /// By (mechanism, job): how its requests went.
    refreshes: Mutex<BTreeMap<(&'static str, String), RefreshCounts>>,
}

/// How one job's requests of one discovery mechanism went since the server started
/// (Prometheus' `prometheus_sd_refresh_failures_total` and `_duration_seconds`): a
/// refresh for the polling discoveries, each list, watch or long poll for Kubernetes,
/// Consul, Kuma and ZooKeeper.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct RefreshCounts {
    pub requests: u64,
    pub failures: u64,
    /// Requests timed (the polling ones: a watch's length says nothing) and their seconds.
    pub timed: u64,
    pub seconds: f64,
}

/// Groups by (job name, source).
type GroupsBySource = HashMap<(String, String), Vec<Arc<TargetGroup>>>;

impl AskedGroups {
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The last good groups of `job`'s `source` (none before its first good answer).
    pub fn groups(&self, job: &str, source: &str) -> Vec<Arc<TargetGroup>> {
        self.groups.lock().map(|g| g.get(&(job.to_string(), source.to_string())).cloned().unwrap_or_default()).unwrap_or_default()
    }

    /// A group equal to the one at the same place before keeps that one's `Arc`, so what
    /// was made of it (`relabeled::RelabeledGroups`) is not made again: an http_sd or dns_sd
    /// answer that repeats the last is no change.
    pub fn store(&self, job: &str, source: &str, mut groups: Vec<Arc<TargetGroup>>) {
        let Ok(mut all) = self.groups.lock() else { return };
        let key = (job.to_string(), source.to_string());
        if let Some(before) = all.get(&key) {
            for (group, earlier) in groups.iter_mut().zip(before) {
                if !Arc::ptr_eq(group, earlier) && **group == **earlier {
                    *group = earlier.clone();
                }
            }
        }
        if all.get(&key) != Some(&groups) {
            all.insert(key, groups);
            self.version.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Forgets the groups of sources not in `sources` (a reload removed them), and the
    /// request counts of jobs that have no source left.
    pub fn keep_only(&self, sources: &HashSet<(String, String)>) {
        let Ok(mut all) = self.groups.lock() else { return };
        let before = all.len();
        all.retain(|key, _| sources.contains(key));
        if all.len() != before {
            self.version.fetch_add(1, Ordering::AcqRel);
        }
        drop(all);
        let jobs: HashSet<&str> = sources.iter().map(|(job, _)| job.as_str()).collect();
        if let Ok(mut counts) = self.refreshes.lock() {
            counts.retain(|(_, job), _| jobs.contains(job.as_str()));
        }
    }

    /// Counts one request of `job`'s `mechanism` discovery (named as Prometheus' metrics
    /// name it: `http`, `ec2`, `kubernetes`; a `_sd` suffix is left out), failed or not, and
    /// how long it took when that means something (`None` for a watch or a long poll).
    pub fn note_refresh(&self, mechanism: &'static str, job: &str, failed: bool, took: Option<std::time::Duration>) {
        let mechanism = mechanism.strip_suffix("_sd").unwrap_or(mechanism);
        let Ok(mut counts) = self.refreshes.lock() else { return };
        let counts = counts.entry((mechanism, job.to_string())).or_default();
        counts.requests += 1;
        counts.failures += u64::from(failed);
        if let Some(took) = took {
            counts.timed += 1;
            counts.seconds += took.as_secs_f64();
        }
    }

    /// Every (mechanism, job)'s counts, in order.
    pub fn refresh_counts(&self) -> Vec<((&'static str, String), RefreshCounts)> {
        self.refreshes.lock().map(|counts| counts.iter().map(|(key, c)| (key.clone(), *c)).collect()).unwrap_or_default()
    }
}

/// The last error of a request asked again and again (a discovery's), so that a failure is
/// logged when it changes and a recovery once; the caller logs, with its own context.
#[derive(Debug, Default)]
pub struct ErrorLog(Option<String>);

impl ErrorLog {
    /// Notes a failure: true when it is not the one noted last (to be logged).
    pub fn failed(&mut self, error: &str) -> bool {
        if self.0.as_deref() == Some(error) {
            return false;
        }
        self.0 = Some(error.to_string());
        true
    }

    /// Notes an answer: true when a failure was noted before it (a recovery, to be logged).
    pub fn answered(&mut self) -> bool {
        self.0.take().is_some()
    }
}

/// Runs `work` unless `stopped` closes first (a reload or shutdown); None when it closed,
/// before or while the work finished: the answer is then no longer wanted (a newer loop may
/// own its source).
pub async fn unless_stopped<T>(work: impl std::future::Future<Output = T>, stopped: &async_channel::Receiver<()>) -> Option<T> {
    let done = futures_lite::future::or(async { Some(work.await) }, async {
        let _ = stopped.recv().await;
        None
    })
    .await;
    done.filter(|_| !stopped.is_closed())
}

/// One request of a discovery entry's source, borrowing its client and the entry.
pub type AskOnce<C, E> = for<'c> fn(&'c mut C, &'c E) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<TargetGroup>, String>> + 'c>>;

/// A discovery entry asked every `refresh` (http_sd, docker_sd): `mechanism` and `shown`
/// name it in logs, `source` is where its groups are kept.
pub struct Refreshed<'a> {
    pub mechanism: &'static str,
    pub job: &'a str,
    pub shown: &'a str,
    pub source: &'a str,
    pub refresh: std::time::Duration,
}

/// Asks with `ask` now and then every refresh until `stopped` closes: an answer replaces the
/// source's groups, a failure keeps the last good ones; a changed failure and a recovery
/// are logged once.
pub async fn ask_every<C, E>(entry: Refreshed<'_>, client: &mut C, sd: &E, ask: AskOnce<C, E>, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let Refreshed { mechanism, job, shown, source, refresh } = entry;
    let mut errors = ErrorLog::default();
    loop {
        let started = std::time::Instant::now();
        let Some(answer) = unless_stopped(ask(client, sd), stopped).await else { return };
        results.note_refresh(mechanism, job, answer.is_err(), Some(started.elapsed()));
        match answer {
            Ok(groups) => {
                if errors.answered() {
                    tracing::info!(job, mechanism, source = shown, groups = groups.len(), "discovery answers again");
                }
                results.store(job, source, groups.into_iter().map(Arc::new).collect());
            }
            Err(error) => {
                if errors.failed(&error) {
                    tracing::warn!(job, mechanism, source = shown, %error, "discovery request failed; its last good targets are kept");
                }
            }
        }
        if !sleep_unless_stopped(refresh, stopped).await {
            return;
        }
    }
}

/// One entry's refresh loop: the job's name, the entry, where its groups go, and the
/// reload's stop.
pub type EntryLoop<E> = for<'a> fn(&'a str, &'a E, &'a AskedGroups, &'a async_channel::Receiver<()>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>;

/// `ask_every` over one client for `origin`'s server, with `access`'s TLS and proxy settings
/// (kept alive between refreshes). When no client can be made (no TLS settings for https, a
/// proxy that cannot be used), says why once and the entry finds nothing.
pub async fn ask_every_over<E>(entry: Refreshed<'_>, origin: &super::config::Url, access: &super::config::ClientAccess, sd: &E, ask: AskOnce<net::client::HttpClient, E>, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mut client = match access.client(origin) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job = entry.job, mechanism = entry.mechanism, source = entry.shown, %error, "discovery cannot ask its server: its targets stay empty");
            return;
        }
    };
    ask_every(entry, &mut client, sd, ask, results, stopped).await;
}

/// Spawns on this executor `run` for every entry `entries` gives of every job of `config`
/// (a discovery's entries: http_sd, docker_sd, ec2_sd, gce_sd); each ends when `stopped`
/// closes (a reload or shutdown).
pub fn spawn_for_each<E: 'static>(config: &std::sync::Arc<super::config::ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>, entries: fn(&super::config::ScrapeJob) -> &[E], run: EntryLoop<E>) {
    for (j, job) in config.jobs.iter().enumerate() {
        for i in 0..entries(job).len() {
            let (config, results, stopped) = (config.clone(), results.clone(), stopped.clone());
            glommio::spawn_local(async move {
                let Some(job) = config.jobs.get(j) else { return };
                if let Some(entry) = entries(job).get(i) {
                    run(&job.name, entry, &results, &stopped).await;
                }
            })
            .detach();
        }
    }
}

/// Sleeps `duration`; false when `stopped` closed meanwhile.
pub async fn sleep_unless_stopped(duration: std::time::Duration, stopped: &async_channel::Receiver<()>) -> bool {
    unless_stopped(glommio::timer::sleep(duration), stopped).await.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_changes_only_when_groups_do_and_removed_sources_are_forgotten() {
        let asked = AskedGroups::default();
        let groups = vec![Arc::new(TargetGroup { targets: vec!["a:1".into()], labels: Default::default() })];
        asked.store("job", "http://sd/", groups.clone());
        let v = asked.version();
        let again = vec![Arc::new((*groups[0]).clone())];
        asked.store("job", "http://sd/", again);
        assert_eq!(asked.version(), v, "the same answer again is no change");
        assert!(Arc::ptr_eq(&asked.groups("job", "http://sd/")[0], &groups[0]), "an equal group keeps its Arc");
        assert_eq!(asked.groups("job", "http://sd/"), groups);
        assert!(asked.groups("other", "http://sd/").is_empty());
        asked.keep_only(&HashSet::from([("job".to_string(), "http://sd/".to_string())]));
        assert_eq!(asked.version(), v, "nothing forgotten");
        asked.keep_only(&HashSet::new());
        assert!(asked.groups("job", "http://sd/").is_empty());
        assert!(asked.version() > v);
    }

    #[test]
    fn refreshes_are_counted_per_mechanism_and_job_and_forgotten_with_the_job() {
        let asked = AskedGroups::default();
        asked.note_refresh("http_sd", "a", false, Some(std::time::Duration::from_millis(250)));
        asked.note_refresh("http_sd", "a", true, Some(std::time::Duration::from_millis(250)));
        asked.note_refresh("kubernetes", "b", true, None);
        let counts = asked.refresh_counts();
        assert_eq!(counts, vec![(("http", "a".to_string()), RefreshCounts { requests: 2, failures: 1, timed: 2, seconds: 0.5 }), (("kubernetes", "b".to_string()), RefreshCounts { requests: 1, failures: 1, timed: 0, seconds: 0.0 })]);
        asked.keep_only(&HashSet::from([("b".to_string(), "source".to_string())]));
        assert_eq!(asked.refresh_counts().len(), 1, "job a has no source left");
    }

    #[test]
    fn an_error_log_tells_a_changed_failure_and_a_recovery_once() {
        let mut log = ErrorLog::default();
        assert!(!log.answered(), "nothing failed yet");
        assert!(log.failed("refused"));
        assert!(!log.failed("refused"), "the same failure again is not told");
        assert!(log.failed("timeout"));
        assert!(log.answered());
        assert!(!log.answered(), "a recovery is told once");
        assert!(log.failed("timeout"), "a failure after a recovery is told again");
    }
}
