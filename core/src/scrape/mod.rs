//! Scraping Prometheus targets, as VictoriaMetrics single-node does with
//! `-promscrape.config`: `scrape.config_file` names a Prometheus configuration whose
//! `scrape_configs` (static and file_sd targets, relabeling, authentication, TLS) this
//! module runs. Every executor discovers the same targets and scrapes those whose key falls
//! to it, on its own thread; the scraped series go through the same write path as a
//! remote_write request. `/api/v1/targets` lists the targets from `status::Registry`.

pub mod config;
pub mod discovery;
pub mod scrape_loop;
pub mod status;

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

pub use config::ScrapeConfig;
use discovery::{Discovered, Target};
use scrape_loop::ScrapeContext;
use status::{Health, Registry, TargetStatus};

use crate::api::Api;

/// How often file_sd files are checked for changes between their refreshes.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// A running target loop: dropping `stop` ends it quietly (shutdown); a message ends it with
/// staleness markers (target gone).
struct Running {
    stop: async_channel::Sender<()>,
    task: glommio::task::JoinHandle<()>,
    job: String,
}

/// Every job's targets now, with the errors met reading file_sd files (`caches`: one per
/// job, holding each file's last good groups).
fn discover(config: &ScrapeConfig, caches: &mut [discovery::FileSdCache]) -> (Vec<Discovered>, Vec<String>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (job, cache) in config.jobs.iter().zip(caches.iter_mut()) {
        let (mut groups, file_errors) = cache.read(&job.file_sd);
        errors.extend(file_errors.into_iter().map(|e| format!("job {:?}: {e}", job.name)));
        groups.splice(0..0, job.static_groups.iter().cloned());
        found.extend(discovery::targets(job, &groups));
    }
    (found, errors)
}

/// Runs this executor's share of the scrape targets until `shutdown` closes.
pub async fn serve(api: Rc<Api>, config: Arc<ScrapeConfig>, registry: Arc<Registry>, executor: usize, executors: usize, shutdown: async_channel::Receiver<()>) {
    if config.jobs.is_empty() {
        return;
    }
    let context = Rc::new(ScrapeContext { api, registry: registry.clone(), external_labels: Arc::new(config.external_labels.clone()) });
    let uses_files = config.jobs.iter().any(|j| !j.file_sd.is_empty());
    let refresh = config.jobs.iter().flat_map(|j| j.file_sd.iter().map(|f| f.refresh_ms)).min().unwrap_or(i64::MAX);
    let fingerprint = || config.jobs.iter().map(|j| discovery::fingerprint(&j.file_sd)).collect::<Vec<_>>();
    let mut running: HashMap<u64, Running> = HashMap::new();
    let mut last_errors: Vec<String> = Vec::new();
    let mut last_fingerprint = fingerprint();
    let mut since_refresh_ms: i64 = 0;
    let mut caches: Vec<discovery::FileSdCache> = config.jobs.iter().map(|_| discovery::FileSdCache::default()).collect();
    let mut last_invalid: Vec<String> = Vec::new();
    loop {
        let (found, errors) = discover(&config, &mut caches);
        // One executor reports what every executor sees alike.
        if executor == 0 {
            if errors != last_errors {
                for error in &errors {
                    tracing::warn!(%error, "scrape target discovery");
                }
                last_errors = errors;
            }
            let mut dropped: HashMap<String, Vec<Vec<(String, String)>>> = config.jobs.iter().map(|j| (j.name.clone(), Vec::new())).collect();
            let mut invalid = Vec::new();
            for d in &found {
                match d {
                    Discovered::Dropped { job, discovered } => dropped.entry(job.clone()).or_default().push(discovered.clone()),
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
            for (job, list) in dropped {
                registry.set_dropped(&job, list);
            }
        }
        let mut wanted: HashMap<u64, Target> = HashMap::new();
        for d in found {
            if let Discovered::Active(target) = d {
                if target.key % executors.max(1) as u64 == executor as u64 {
                    wanted.entry(target.key).or_insert(target);
                }
            }
        }
        let gone: Vec<u64> = running.keys().filter(|k| !wanted.contains_key(k)).copied().collect();
        for key in gone {
            if let Some(r) = running.remove(&key) {
                // The loop writes its staleness markers and ends on its own (a dropped
                // JoinHandle detaches the task, it does not cancel it).
                let _ = r.stop.try_send(());
                registry.remove_active(&r.job, key);
            }
        }
        for (key, target) in wanted {
            if running.contains_key(&key) {
                continue;
            }
            registry.set_active(
                key,
                TargetStatus {
                    job: target.job.name.clone(),
                    discovered: target.discovered.clone(),
                    labels: target.labels.clone(),
                    url: target.url.clone(),
                    interval_ms: target.interval_ms,
                    timeout_ms: target.timeout_ms,
                    health: Health::Unknown,
                    last_error: String::new(),
                    last_scrape_ms: 0,
                    last_duration_seconds: 0.0,
                },
            );
            let (stop, stopped) = async_channel::bounded(1);
            let job = target.job.name.clone();
            let task = glommio::spawn_local(scrape_loop::run(context.clone(), Arc::new(target), stopped)).detach();
            running.insert(key, Running { stop, task, job });
        }
        if !uses_files {
            let _ = shutdown.recv().await;
            break;
        }
        // Re-read the files when they change, and every refresh interval anyway.
        let stopping = loop {
            let tick = futures_lite::future::or(async { glommio::timer::sleep(FILE_CHECK_INTERVAL).await; false }, async { shutdown.recv().await.is_err() }).await;
            if tick {
                break true;
            }
            since_refresh_ms += FILE_CHECK_INTERVAL.as_millis() as i64;
            let now = fingerprint();
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
    // Shutdown: the loops end without staleness markers (Prometheus writes none either).
    let tasks: Vec<_> = running.into_values().map(|r| r.task).collect();
    for task in tasks {
        let _ = task.await;
    }
}
