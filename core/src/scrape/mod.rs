//! Scraping Prometheus targets, as VictoriaMetrics single-node does with `-promscrape.config`:
//! this module runs the `scrape_configs` of the Prometheus configuration `scrape.config_file`
//! names. Every executor discovers the same targets and scrapes those whose job and labels
//! fall to it, on its own thread; the scraped series go through the same write path as a
//! remote_write request. `/api/v1/targets` lists the targets from `status::Registry`.

pub mod asked_groups;
pub mod aws;
pub mod aws_sd;
pub mod azure_sd;
/// The scrape configuration: `scrape_configs` with static, file_sd, http_sd, docker_sd,
/// dockerswarm_sd, ec2_sd, gce_sd, dns_sd, consul_sd, kubernetes_sd, nomad_sd, eureka_sd,
/// puppetdb_sd, digitalocean_sd, openstack_sd, linode_sd, azure_sd, hetzner_sd, scaleway_sd,
/// vultr_sd, marathon_sd, ionos_sd, outscale_sd, triton_sd, uyuni_sd, kuma_sd, ovhcloud_sd,
/// stackit_sd, serverset_sd, nerve_sd and oci_sd targets, relabeling, authentication and TLS.
pub mod config;
pub mod consul_sd;
pub mod digitalocean_sd;
pub mod discovery;
pub mod dns;
pub mod dns_sd;
pub mod docker_api;
pub mod docker_sd;
pub mod dockerswarm_sd;
pub mod eureka_sd;
pub mod ec2_sd;
pub mod exemplar;
#[cfg(test)]
pub mod fake_api;
pub mod gce_sd;
pub mod google_auth;
pub mod hetzner_sd;
pub mod http_get;
pub mod http_sd;
pub mod ionos_sd;
pub mod kubeconfig;
pub mod kubernetes_sd;
pub mod kuma_sd;
pub mod linode_sd;
pub mod marathon_sd;
pub mod nhcb;
pub mod nomad_sd;
pub mod openstack_sd;
pub mod oauth2;
pub mod oci_sd;
pub mod outscale_sd;
pub mod openmetrics;
pub mod ovhcloud_sd;
pub mod protobuf;
pub mod puppetdb_sd;
pub mod proxy;
pub mod relabeled;
pub mod targets_text;
pub mod scaleway_sd;
pub mod scrape_loop;
pub mod shown_config;
pub mod stackit_sd;
pub mod start_timestamps;
pub mod status;
pub mod triton_sd;
pub mod uyuni_sd;
pub mod vultr_sd;
pub mod zookeeper_sd;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use config::ScrapeConfig;
use discovery::{Discovered, Target};
use scrape_loop::ScrapeContext;
use status::{Registry, TargetStatus};

use crate::api::Api;

/// How often file_sd files are checked for changes between their refreshes (and a
/// reloaded configuration picked up).
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// The scrape configuration in force, shared by every executor: replaced by a reload
/// (SIGHUP or `/-/reload`), which each executor's `serve` picks up within
/// `FILE_CHECK_INTERVAL`.
#[derive(Debug)]
pub struct SharedConfig {
    /// The configuration in force and its generation (0 at start, one more per reload).
    current: std::sync::RwLock<(u64, Arc<ScrapeConfig>)>,
    /// `scrape.config_file` and the label limits its relabeling checks against.
    path: Option<std::path::PathBuf>,
    limits: crate::ingest::label_limits::LabelLimits,
    /// What the http_sd URLs (and dns_sd names) last answered: asked by executor 0, read
    /// by all.
    asked: Arc<asked_groups::AskedGroups>,
    /// What relabeling made of those groups, relabeled once for all executors.
    relabeled: relabeled::RelabeledGroups,
    /// The resolver configuration dns_sd lookups read (`scrape.resolv_conf`).
    resolv_conf: Arc<std::path::Path>,
    /// `config::files_checksum` of the files the configuration in force was read from
    /// (None: unknown, no file, or they could not be read).
    loaded_checksum: std::sync::Mutex<Option<[u8; 32]>>,
    /// Whether the last reload succeeded, and when the configuration in force was read (ms
    /// since the epoch; at start-up, the first read).
    last_reload: std::sync::Mutex<(bool, i64)>,
}

impl SharedConfig {
    pub fn new(initial: Arc<ScrapeConfig>, path: Option<std::path::PathBuf>, limits: crate::ingest::label_limits::LabelLimits, resolv_conf: std::path::PathBuf) -> SharedConfig {
        let loaded_checksum = std::sync::Mutex::new(path.as_deref().and_then(|p| config::files_checksum(p).ok()));
        let last_reload = std::sync::Mutex::new((true, crate::api::params::now_ms()));
        SharedConfig { current: std::sync::RwLock::new((0, initial)), path, limits, asked: Arc::default(), relabeled: Default::default(), resolv_conf: resolv_conf.into(), loaded_checksum, last_reload }
    }

    /// Whether the configuration's files now differ from those the configuration in force
    /// was read from (Prometheus 3's `auto-reload-config` check). Files that cannot be read
    /// count as changed, so the reload tells why.
    pub fn files_changed(&self) -> bool {
        let Some(path) = &self.path else { return false };
        let now = config::files_checksum(path).ok();
        now.is_none() || self.loaded_checksum.lock().map(|loaded| *loaded != now).unwrap_or(true)
    }

    /// What the network discoveries last found, shared with the notifier (whose
    /// Alertmanagers' discoveries are asked with the jobs').
    pub fn asked(&self) -> Arc<asked_groups::AskedGroups> {
        self.asked.clone()
    }

    /// Each discovery mechanism's request counts per job (`/metrics`).
    pub fn refresh_counts(&self) -> Vec<((&'static str, String), asked_groups::RefreshCounts)> {
        self.asked.refresh_counts()
    }

    /// The configuration in force and its generation.
    pub fn snapshot(&self) -> (u64, Arc<ScrapeConfig>) {
        self.current.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// Reads `scrape.config_file` again; a file with a mistake keeps the configuration in
    /// force and the error names it. `Ok(None)` when no file is configured.
    pub fn reload(&self) -> Result<Option<usize>, String> {
        let Some(path) = &self.path else { return Ok(None) };
        // The server's own settings do not reload: the file is read again under those the
        // configuration in force was read under.
        let server = config::ServerOptions { label_limits: self.limits, ..self.snapshot().1.server };
        // Taken before reading: a file changed meanwhile is read again at the next check.
        let checksum = config::files_checksum(path).ok();
        let config = ScrapeConfig::load(path, server)?;
        let jobs = config.jobs.len();
        if let Ok(mut current) = self.current.write() {
            *current = (current.0 + 1, Arc::new(config));
        }
        if let Ok(mut loaded) = self.loaded_checksum.lock() {
            *loaded = checksum;
        }
        Ok(Some(jobs))
    }

    /// Whether the last reload succeeded, and when the configuration in force was read (ms);
    /// None without a file to reload. Part of Prometheus'
    /// `prometheus_config_last_reload_successful` and
    /// `prometheus_config_last_reload_success_timestamp_seconds`.
    pub fn last_reload(&self) -> Option<(bool, i64)> {
        self.configured().then(|| self.last_reload.lock().map(|r| *r).unwrap_or((false, 0)))
    }

    fn note_reload(&self, succeeded: bool) {
        if let Ok(mut last) = self.last_reload.lock() {
            *last = if succeeded { (true, crate::api::params::now_ms()) } else { (false, last.1) };
        }
    }

    /// Whether scraping can ever run (a file is configured).
    fn configured(&self) -> bool {
        self.path.is_some()
    }
}

/// A running target loop: dropping `handle` ends it quietly (shutdown, or its series handed
/// over); `handle.remove()` ends it with staleness markers (target gone). Its target (as
/// last discovered) is `handle.target()`: a new target with the same job and labels (and so
/// the same placement hash) takes its series.
struct Running {
    handle: scrape_loop::LoopHandle,
    /// Gives the loop's tracked series when it ends quietly.
    task: glommio::task::JoinHandle<scrape_loop::Handover>,
}

/// Reloads the scrape configuration and logs what came of it (`trigger`: what asked); a
/// failure raises the reload-failed notification, a success ends it.
pub fn log_reload(shared: &SharedConfig, notifications: &crate::notifications::Notifications, trigger: &str) -> Result<(), String> {
    let outcome = shared.reload();
    if !matches!(outcome, Ok(None)) {
        shared.note_reload(outcome.is_ok());
    }
    match outcome {
        Ok(Some(jobs)) => {
            tracing::info!(trigger, jobs, "scrape configuration reloaded; targets follow within 5 s");
            notifications.delete(crate::notifications::RELOAD_FAILED);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(error) => {
            tracing::error!(trigger, %error, "scrape configuration not reloaded; the one in force stays");
            notifications.add(crate::notifications::RELOAD_FAILED);
            Err(error)
        }
    }
}

/// Every job's targets now, in parts (per job its static and file_sd targets, then those of
/// each group its network sources gave, relabeled once for all executors by `relabeled`),
/// with the errors met reading file_sd files (`caches`: one per job, holding each file's last
/// good groups; `asked`: what the http_sd URLs, dns_sd names, Consul and Kubernetes
/// discoveries last gave).
fn discover(config: &ScrapeConfig, caches: &mut [discovery::FileSdCache], asked: &asked_groups::AskedGroups, relabeled: &relabeled::RelabeledGroups) -> (Vec<Arc<[Discovered]>>, Vec<String>) {
    let mut found: Vec<Arc<[Discovered]>> = Vec::new();
    let mut errors = Vec::new();
    for (job, cache) in config.jobs.iter().zip(caches.iter_mut()) {
        let (mut groups, file_errors) = cache.read(&job.file_sd);
        errors.extend(file_errors.into_iter().map(|e| format!("job {:?}: {e}", job.name)));
        groups.splice(0..0, job.static_groups.iter().cloned());
        let groups: Vec<Arc<config::TargetGroup>> = groups.into_iter().map(Arc::new).collect();
        found.push(discovery::targets(job, &groups).into());
        for source in asked_sources(job) {
            found.extend(relabeled.targets(job, &asked.groups(&job.name, &source)));
        }
    }
    (found, errors)
}

/// The names under which `job`'s network sources keep their groups in `AskedGroups` (one
/// place, so that what is stored and what is read cannot name them differently): an
/// http_sd URL, a dns_sd name with its type and port, a Consul entry's base URL and settings,
/// a Kubernetes entry's API server and settings.
pub(crate) fn asked_sources(job: &config::ScrapeJob) -> Vec<String> {
    let mut sources: Vec<String> = job.http_sd.iter().map(|sd| sd.url.clone()).collect();
    sources.extend(job.dns_sd.iter().flat_map(|sd| sd.names.iter().map(|name| sd.source(name))));
    // Every other discovery's entries name their source themselves.
    macro_rules! entry_sources {
        ($($field:ident),* $(,)?) => {
            $(sources.extend(job.$field.iter().map(|sd| sd.source.clone()));)*
        };
    }
    entry_sources!(
        docker_sd,
        dockerswarm_sd,
        ec2_sd,
        aws_sd,
        gce_sd,
        consul_sd,
        kubernetes_sd,
        nomad_sd,
        eureka_sd,
        puppetdb_sd,
        digitalocean_sd,
        openstack_sd,
        azure_sd,
        linode_sd,
        vultr_sd,
        hetzner_sd,
        scaleway_sd,
        marathon_sd,
        ionos_sd,
        outscale_sd,
        triton_sd,
        uyuni_sd,
        kuma_sd,
        ovhcloud_sd,
        stackit_sd,
        serverset_sd,
        nerve_sd,
        oci_sd,
    );
    sources
}

/// Starts asking the network sources of `config` (http_sd URLs, dns_sd names, Consul catalogs, Kubernetes API servers) on this executor, after
/// forgetting the groups of sources it no longer has; they are asked until the returned
/// sender is dropped (a reload or shutdown). None when there is none.
fn start_asking(config: &Arc<ScrapeConfig>, asked: &Arc<asked_groups::AskedGroups>, resolv_conf: &Arc<std::path::Path>) -> Option<async_channel::Sender<()>> {
    // The Alertmanagers' network discoveries are asked as jobs of their own (not scraped).
    let discovering = config.rules.alerting.alertmanager_sets.iter().filter_map(|set| set.discovery.clone());
    let config = &Arc::new(ScrapeConfig { jobs: config.jobs.iter().cloned().chain(discovering).collect(), ..Default::default() });
    let sources: std::collections::HashSet<(String, String)> = config.jobs.iter().flat_map(|j| asked_sources(j).into_iter().map(|source| (j.name.clone(), source))).collect();
    asked.keep_only(&sources);
    if sources.is_empty() {
        return None;
    }
    let (stop, stopped) = async_channel::bounded::<()>(1);
    http_sd::start(config, asked, &stopped);
    docker_sd::start(config, asked, &stopped);
    dockerswarm_sd::start(config, asked, &stopped);
    ec2_sd::start(config, asked, &stopped);
    aws_sd::start(config, asked, &stopped);
    gce_sd::start(config, asked, &stopped);
    dns_sd::start(config, asked, resolv_conf, &stopped);
    consul_sd::start(config, asked, &stopped);
    kubernetes_sd::start(config, asked, &stopped);
    nomad_sd::start(config, asked, &stopped);
    eureka_sd::start(config, asked, &stopped);
    puppetdb_sd::start(config, asked, &stopped);
    digitalocean_sd::start(config, asked, &stopped);
    openstack_sd::start(config, asked, &stopped);
    azure_sd::start(config, asked, &stopped);
    linode_sd::start(config, asked, &stopped);
    vultr_sd::start(config, asked, &stopped);
    hetzner_sd::start(config, asked, &stopped);
    scaleway_sd::start(config, asked, &stopped);
    marathon_sd::start(config, asked, &stopped);
    ionos_sd::start(config, asked, &stopped);
    outscale_sd::start(config, asked, &stopped);
    triton_sd::start(config, asked, &stopped);
    uyuni_sd::start(config, asked, &stopped);
    kuma_sd::start(config, asked, &stopped);
    ovhcloud_sd::start(config, asked, &stopped);
    stackit_sd::start(config, asked, &stopped);
    zookeeper_sd::start(config, asked, &stopped);
    oci_sd::start(config, asked, &stopped);
    Some(stop)
}

/// Runs this executor's share of the scrape targets until `shutdown` closes.
pub async fn serve(api: Rc<Api>, shared: Arc<SharedConfig>, registry: Arc<Registry>, executor: usize, executors: usize, shutdown: async_channel::Receiver<()>) {
    if !shared.configured() {
        return;
    }
    let (mut generation, mut config) = shared.snapshot();
    let mut context = Rc::new(ScrapeContext { api: api.clone(), registry: registry.clone(), external_labels: Arc::new(config.external_labels.clone()), forced_errors: Default::default() });
    let fingerprint = |config: &ScrapeConfig| config.jobs.iter().map(|j| discovery::fingerprint(&j.file_sd)).collect::<Vec<_>>();
    let mut running: HashMap<u64, Running> = HashMap::new();
    let mut last_errors: Vec<String> = Vec::new();
    let mut last_fingerprint = fingerprint(&config);
    let mut since_refresh_ms: i64 = 0;
    let mut caches: Vec<discovery::FileSdCache> = config.jobs.iter().map(|_| discovery::FileSdCache::default()).collect();
    let mut last_invalid: Vec<String> = Vec::new();
    // Set when a reload replaced the configuration: every loop restarts with its new job.
    let mut restart_all = false;
    // Executor 0 asks the http_sd URLs for all (until this sender is dropped).
    let mut asking = if executor == 0 { start_asking(&config, &shared.asked, &shared.resolv_conf) } else { None };
    loop {
        let asked_version = shared.asked.version();
        if executor == 0 {
            shared.relabeled.begin_round();
        }
        let (parts, errors) = discover(&config, &mut caches, &shared.asked, &shared.relabeled);
        if executor == 0 {
            shared.relabeled.forget_unused();
        }
        let found: Vec<&Discovered> = parts.iter().flat_map(|part| part.iter()).collect();
        // One executor reports what every executor sees alike.
        if executor == 0 {
            if errors != last_errors {
                for error in &errors {
                    tracing::warn!(%error, "scrape target discovery");
                }
                last_errors = errors;
            }
            let mut discovered: std::collections::BTreeMap<String, usize> = config.jobs.iter().map(|j| (j.name.clone(), 0)).collect();
            for d in &found {
                let job = match d {
                    Discovered::Active(target) => &target.job.name,
                    Discovered::Dropped(target) => &target.job.name,
                    Discovered::Invalid { job, .. } => job,
                };
                if let Some(count) = discovered.get_mut(job) {
                    *count += 1;
                }
            }
            registry.set_discovered(discovered);
            let mut dropped: HashMap<String, Vec<discovery::DiscoveredLabels>> = config.jobs.iter().map(|j| (j.name.clone(), Vec::new())).collect();
            let keep_dropped: HashMap<&str, usize> = config.jobs.iter().map(|j| (j.name.as_str(), j.keep_dropped_targets)).collect();
            let mut invalid = Vec::new();
            for d in &found {
                match d {
                    Discovered::Dropped(target) => match dropped.get_mut(target.job.name.as_str()) {
                        Some(list) => list.push(target.clone()),
                        None => dropped.entry(target.job.name.clone()).or_default().push(target.clone()),
                    },
                    // Logged (once while it lasts), not listed: as Prometheus treats them.
                    Discovered::Invalid { job, discovered, error } => invalid.push(format!("job {job:?}: target {discovered:?}: {error}")),
                    Discovered::Active(_) => {}
                }
            }
            if invalid != last_invalid {
                for error in invalid.iter().filter(|e| !last_invalid.contains(e)) {
                    tracing::warn!(%error, "scrape target skipped: its labels do not make a target");
                }
                last_invalid = invalid;
            }
            // keep_dropped_targets: the count stays whole, the list is cut.
            let dropped = dropped
                .into_iter()
                .map(|(job, mut list)| {
                    let count = list.len();
                    match keep_dropped.get(job.as_str()) {
                        Some(&keep) if keep > 0 => list.truncate(keep),
                        _ => {}
                    }
                    (job, (count, list))
                })
                .collect();
            registry.set_dropped_all(dropped);
        }
        // target_limit: a job with more active targets than it allows fails them all.
        let mut active_per_job: HashMap<&str, std::collections::HashSet<u64>> = HashMap::new();
        for d in &found {
            if let Discovered::Active(target) = d {
                active_per_job.entry(target.job.name.as_str()).or_default().insert(target.key);
            }
        }
        let forced: HashMap<String, String> = config
            .jobs
            .iter()
            .filter_map(|job| {
                let count = active_per_job.get(job.name.as_str()).map_or(0, |keys| keys.len());
                (job.target_limit > 0 && count > job.target_limit).then(|| (job.name.clone(), format!("target_limit exceeded (number of targets: {count}, limit: {})", job.target_limit)))
            })
            .collect();
        if executor == 0 {
            for (job, error) in forced.iter().filter(|(job, _)| !context.forced_errors.borrow().contains_key(*job)) {
                tracing::warn!(job, %error, "every target of the job fails until it has fewer targets");
            }
        }
        *context.forced_errors.borrow_mut() = forced;
        let mut wanted: HashMap<u64, &Arc<Target>> = HashMap::new();
        for d in found {
            if let Discovered::Active(target) = d {
                if target.placement % executors.max(1) as u64 == executor as u64 {
                    // Targets with one key have the same labels and URL; as Prometheus, the
                    // last one found is listed with its discovered labels.
                    wanted.insert(target.key, target);
                }
            }
        }
        let gone: Vec<u64> = running.keys().filter(|k| !wanted.contains_key(k) || restart_all).copied().collect();
        // New targets by job and labels: one that replaces a gone target with the same
        // labels (its interval, timeout or URL changed) takes over its series.
        let mut successors: HashMap<u64, u64> = HashMap::new();
        for (key, target) in &wanted {
            if !running.contains_key(key) {
                successors.entry(target.placement).or_insert(*key);
            }
        }
        let mut handed_over: HashMap<u64, scrape_loop::Handover> = HashMap::new();
        for key in gone {
            if let Some(r) = running.remove(&key) {
                let old = r.handle.target();
                registry.remove_active(&old.job.name, key);
                let successor = if wanted.contains_key(&key) {
                    Some(key)
                } else {
                    let same = successors.get(&old.placement).copied().filter(|k| wanted.get(k).is_some_and(|t| t.job.name == old.job.name && t.labels == old.labels));
                    if same.is_some() {
                        // One successor takes one predecessor's series.
                        successors.remove(&old.placement);
                    }
                    same
                };
                if let Some(successor) = successor {
                    // Restarted with its new job, or replaced by a target with the same
                    // labels: ends quietly and hands its series to the new loop, whose first
                    // scrape marks stale what it no longer writes.
                    drop(r.handle);
                    handed_over.insert(successor, r.task.await.unwrap_or_default());
                } else {
                    // Gone: the loop writes its staleness markers and ends on its own (a
                    // dropped JoinHandle detaches the task, it does not cancel it).
                    r.handle.remove();
                }
            }
        }
        restart_all = false;
        let mut rediscovered = Vec::new();
        for (key, target) in wanted {
            if let Some(r) = running.get(&key) {
                // The same target from a new group (its labels before relabeling may
                // differ): listed with those, as Prometheus does, and the old group let go.
                if !Arc::ptr_eq(&r.handle.target(), target) {
                    r.handle.set_target(Arc::clone(target));
                    rediscovered.push((key, Arc::clone(target)));
                }
                continue;
            }
            registry.set_active(key, TargetStatus::new(Arc::clone(target)));
            let (handle, inbox) = scrape_loop::loop_link(Arc::clone(target));
            let inherited = handed_over.remove(&key).unwrap_or_default();
            let task = glommio::spawn_local(scrape_loop::run(context.clone(), inbox, inherited)).detach();
            running.insert(key, Running { handle, task });
        }
        registry.rediscovered(rediscovered);
        // Rediscover when a file changes, its refresh interval passes, or a reload lands.
        let refresh = config.jobs.iter().flat_map(|j| j.file_sd.iter().map(|f| f.refresh_ms)).min().unwrap_or(i64::MAX);
        let stopping = loop {
            let tick = futures_lite::future::or(async { glommio::timer::sleep(FILE_CHECK_INTERVAL).await; false }, async { shutdown.recv().await.is_err() }).await;
            if tick {
                break true;
            }
            let (now_generation, now_config) = shared.snapshot();
            if now_generation != generation {
                generation = now_generation;
                config = now_config;
                context = Rc::new(ScrapeContext { api: api.clone(), registry: registry.clone(), external_labels: Arc::new(config.external_labels.clone()), forced_errors: Default::default() });
                caches = config.jobs.iter().map(|_| discovery::FileSdCache::default()).collect();
                last_fingerprint = fingerprint(&config);
                since_refresh_ms = 0;
                restart_all = true;
                if executor == 0 {
                    drop(asking.take());
                    asking = start_asking(&config, &shared.asked, &shared.resolv_conf);
                }
                break false;
            }
            if shared.asked.version() != asked_version {
                break false;
            }
            if refresh == i64::MAX {
                continue;
            }
            since_refresh_ms += FILE_CHECK_INTERVAL.as_millis() as i64;
            let now = fingerprint(&config);
            if now != last_fingerprint || since_refresh_ms >= refresh {
                last_fingerprint = now;
                since_refresh_ms = 0;
                break false;
            }
        };
        if stopping {
            break;
        }
    }
    drop(asking);
    // Shutdown: the loops end without staleness markers (Prometheus writes none either).
    let tasks: Vec<_> = running.into_values().map(|r| r.task).collect();
    for task in tasks {
        let _ = task.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload reads the file again under the server's options the configuration in
    /// force was read under (`storage.start_timestamp_zero_ingestion`'s default protocols).
    #[test]
    fn a_reload_keeps_the_servers_options() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("prometheus.yml");
        std::fs::write(&path, "scrape_configs: [{job_name: a}]").expect("scrape file");
        let server = config::ServerOptions { read_start_timestamps: true, ..config::ServerOptions::default() };
        let initial = ScrapeConfig::load(&path, server).expect("valid");
        let shared = SharedConfig::new(Arc::new(initial), Some(path.clone()), server.label_limits, dir.path().join("resolv.conf"));
        std::fs::write(&path, "scrape_configs: [{job_name: b}]").expect("scrape file");
        assert_eq!(shared.reload(), Ok(Some(1)));
        let (generation, config) = shared.snapshot();
        assert_eq!((generation, config.jobs[0].name.as_str(), config.server.read_start_timestamps), (1, "b", true));
        assert!(config.jobs[0].accept.starts_with("application/vnd.google.protobuf;"), "{}", config.jobs[0].accept);
    }

    /// The compiler ties each discovery's section, resolving and `ScrapeJob` field together,
    /// but not the two lists here: every network discovery field of `ScrapeJob` (read from
    /// its source) must name its sources in `asked_sources`, and its module be started by
    /// `start_asking`, or its targets would silently never be found.
    #[test]
    fn every_network_discovery_is_named_and_started() {
        let job_source = include_str!("config/job.rs");
        let this_source = include_str!("mod.rs");
        let between = |text: &'static str, from: &str, to: &str| -> &'static str {
            let start = text.find(from).unwrap_or_else(|| panic!("{from} not found"));
            let end = text[start..].find(to).map_or(text.len(), |at| start + at);
            &text[start..end]
        };
        let asked = between(this_source, "pub(crate) fn asked_sources(", "\n}\n");
        let started = between(this_source, "fn start_asking(", "\n}\n");
        let fields: Vec<(&str, &str)> = job_source
            .lines()
            .filter_map(|line| line.trim().strip_prefix("pub ")?.split_once(": Vec<crate::scrape::"))
            .filter(|(field, _)| field.ends_with("_sd"))
            .filter_map(|(field, path)| Some((field, path.split("::").next()?)))
            .collect();
        assert!(fields.len() >= 29, "the ScrapeJob fields were not read: {fields:?}");
        for (field, module) in fields {
            assert!(asked.contains(&format!("{field},")) || asked.contains(&format!("job.{field}.")), "asked_sources does not name {field}");
            assert!(started.contains(&format!("{module}::start(")), "start_asking does not start {module} (for {field})");
        }
    }
}
