//! The write path's reloadable rules: the configuration file's `relabel_configs` and
//! `stream_aggregation`, shared by every executor's router. A reload (SIGHUP, `/-/reload`)
//! reads the file again and compiles both sections; only when both compile do they replace
//! those in force, together. A router checks the generation (one atomic load) per batch and
//! takes the new rules under the read lock only when it moved.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;
use crate::ingest::label_limits::LabelLimits;
use crate::ingest::relabel::Relabeler;
use crate::stream_aggr::{Counters, Replaced, StreamAggregators};

/// The rules in force, and since which generation (0 at start, one more per reload that
/// replaced them).
#[derive(Clone, Debug, Default)]
pub struct InForce {
    pub generation: u64,
    pub relabeler: Arc<Relabeler>,
    pub stream_aggr: Option<Arc<StreamAggregators>>,
}

/// Where a reload reads the rules from.
#[derive(Debug)]
pub struct ReloadSource {
    /// The configuration file (`--config`).
    pub path: PathBuf,
    /// The configuration read at start: its other sections stay in force until a restart.
    pub started_with: Arc<Config>,
    /// `storage`'s label limits the rules are checked against (not reloaded).
    pub limits: LabelLimits,
}

/// What a reload put in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub relabel_rules: usize,
    pub aggregations: Replaced,
    /// Other sections of the file that differ from those read at start (not applied).
    pub restart_needed_for: Vec<&'static str>,
}

/// Reload attempts and how the last went: VictoriaMetrics' `*_config_reloads_total`,
/// `*_config_reloads_errors_total`, `*_config_last_reload_successful`,
/// `*_config_last_reload_success_timestamp_seconds`, shown under each section's prefix (the
/// two sections reload together, so one count serves both).
#[derive(Debug)]
struct ReloadCounts {
    reloads: AtomicU64,
    errors: AtomicU64,
    /// Whether the last attempt succeeded, and when the rules in force were read (ms).
    last: Mutex<(bool, i64)>,
}

impl ReloadCounts {
    fn new(now_ms: i64) -> ReloadCounts {
        ReloadCounts { reloads: AtomicU64::new(0), errors: AtomicU64::new(0), last: Mutex::new((true, now_ms)) }
    }

    fn note(&self, succeeded: bool, now_ms: i64) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        if !succeeded {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = if succeeded { (true, now_ms) } else { (false, last.1) };
    }

    fn write_text(&self, out: &mut String, prefix: &str, what: &str) {
        use std::fmt::Write;
        let (succeeded, read_at_ms) = *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (suffix, kind, help, value) in [
            ("reloads_total", "counter", "Reloads of", self.reloads.load(Ordering::Relaxed)),
            ("reloads_errors_total", "counter", "Failed reloads of", self.errors.load(Ordering::Relaxed)),
            ("last_reload_successful", "gauge", "Whether the last reload succeeded, of", u64::from(succeeded)),
            ("last_reload_success_timestamp_seconds", "gauge", "When the rules in force were read, of", (read_at_ms / 1000) as u64),
        ] {
            let _ = writeln!(out, "# HELP {prefix}_{suffix} {help} {what} (SIGHUP, /-/reload).\n# TYPE {prefix}_{suffix} {kind}\n{prefix}_{suffix} {value}");
        }
    }
}

/// `relabel_configs` and `stream_aggregation` in force, shared by every executor.
#[derive(Debug)]
pub struct WriteRules {
    generation: AtomicU64,
    in_force: RwLock<InForce>,
    /// None: no configuration file, nothing to reload.
    source: Option<ReloadSource>,
    reloads: ReloadCounts,
    /// Stream aggregation's totals, counted by every set a reload makes.
    stream_aggr_totals: Arc<Counters>,
    /// Whether stream aggregation was ever in force (its totals are shown from then on).
    stream_aggr_seen: AtomicBool,
    /// Woken by a reload, for executor 0's flushers to follow the aggregations in force.
    aggregations_changed: (async_channel::Sender<()>, async_channel::Receiver<()>),
    /// One reload at a time (SIGHUP comes on the main thread, `/-/reload` on any executor).
    reloading: Mutex<()>,
    /// A checksum of the file's text as last put in force (at start, then each reload that
    /// replaced the rules), for `file_changed`; None: unread.
    loaded_checksum: Mutex<Option<u64>>,
    /// The two sections as the last reload that replaced the rules read them (None: as read
    /// at start), for the configuration pages.
    reloaded_sections: RwLock<Option<Arc<ReloadedSections>>>,
}

/// The reloadable sections of a configuration file, as read.
#[derive(Debug)]
struct ReloadedSections {
    relabel_configs: Vec<crate::ingest::relabel::RelabelConfig>,
    stream_aggregation: crate::stream_aggr::StreamAggregationSection,
}

impl Default for WriteRules {
    fn default() -> Self {
        WriteRules::new(Arc::default(), None, None)
    }
}

impl WriteRules {
    /// The rules read at start; `source` where a reload reads them again.
    pub fn new(relabeler: Arc<Relabeler>, stream_aggr: Option<Arc<StreamAggregators>>, source: Option<ReloadSource>) -> WriteRules {
        let now_ms = crate::api::params::now_ms();
        let stream_aggr_totals = stream_aggr.as_ref().map(|set| set.counters.clone()).unwrap_or_default();
        let loaded_checksum = source.as_ref().and_then(|source| file_checksum(&source.path));
        WriteRules {
            generation: AtomicU64::new(0),
            stream_aggr_seen: AtomicBool::new(stream_aggr.is_some()),
            in_force: RwLock::new(InForce { generation: 0, relabeler, stream_aggr }),
            source,
            reloads: ReloadCounts::new(now_ms),
            stream_aggr_totals,
            aggregations_changed: async_channel::bounded(1),
            loaded_checksum: Mutex::new(loaded_checksum),
            reloading: Mutex::new(()),
            reloaded_sections: RwLock::new(None),
        }
    }

    /// `started_with` with the sections in force: `relabel_configs` and
    /// `stream_aggregation` as the last successful reload read them. The other sections
    /// stay as read at start, as they do in force (`/config`, `/api/v1/status/config`).
    pub fn config_in_force(&self, started_with: &Config) -> Config {
        let mut config = started_with.clone();
        if let Some(sections) = self.reloaded_sections.read().unwrap_or_else(std::sync::PoisonError::into_inner).as_ref() {
            config.relabel_configs.clone_from(&sections.relabel_configs);
            config.stream_aggregation.clone_from(&sections.stream_aggregation);
        }
        config
    }

    /// The generation of the rules in force (a router's check per batch).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The rules in force.
    pub fn in_force(&self) -> InForce {
        self.in_force.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Receives a message after each reload that put rules in force.
    pub fn aggregations_changed(&self) -> &async_channel::Receiver<()> {
        &self.aggregations_changed.1
    }

    /// Whether the last reload succeeded, and when the rules in force were read (ms); None
    /// without a file to reload.
    pub fn last_reload(&self) -> Option<(bool, i64)> {
        self.source.as_ref()?;
        Some(*self.reloads.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The configuration file a reload reads, if any.
    pub fn path(&self) -> Option<&std::path::Path> {
        self.source.as_ref().map(|s| s.path.as_path())
    }

    /// Reads the configuration file again and puts its `relabel_configs` and
    /// `stream_aggregation` in force, as of `now_ms`; with a mistake in the file or either
    /// section the rules in force stay and the error names the file or the key.
    /// `Ok(None)` when there is no file to read.
    pub fn reload(&self, now_ms: i64) -> Result<Option<Reloaded>, String> {
        let Some(source) = &self.source else { return Ok(None) };
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let outcome = self.read_and_replace(source, now_ms);
        // The sections reload together: a failure in either keeps both as they were.
        self.reloads.note(outcome.is_ok(), now_ms);
        outcome.map(Some)
    }

    /// Whether the configuration file's text differs from the one last put in force (or can
    /// no longer be read): `scrape.config_check_interval_seconds`' test.
    pub fn file_changed(&self) -> bool {
        let Some(source) = &self.source else { return false };
        let now = file_checksum(&source.path);
        now.is_none() || *self.loaded_checksum.lock().unwrap_or_else(std::sync::PoisonError::into_inner) != now
    }

    fn read_and_replace(&self, source: &ReloadSource, now_ms: i64) -> Result<Reloaded, String> {
        let path = source.path.display();
        let text = std::fs::read_to_string(&source.path).map_err(|e| format!("cannot read config file {path}: {e}"))?;
        let checksum = checksum_of(&text);
        let config = Config::from_yaml(&text).map_err(|e| format!("invalid config file {path}: {e}"))?;
        let relabeler = Relabeler::new(&config.relabel_configs, source.limits)?;
        let compiled = config.stream_aggregation.compile(source.limits).map_err(|e| format!("stream_aggregation.{e}"))?;
        let relabel_rules = config.relabel_configs.len();
        let mut in_force = self.in_force.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (stream_aggr, aggregations) = StreamAggregators::replacing(in_force.stream_aggr.as_deref(), &config.stream_aggregation, compiled, now_ms, self.stream_aggr_totals.clone());
        let generation = in_force.generation + 1;
        *in_force = InForce { generation, relabeler: Arc::new(relabeler.counting_on(&in_force.relabeler)), stream_aggr: stream_aggr.map(Arc::new) };
        if in_force.stream_aggr.is_some() {
            self.stream_aggr_seen.store(true, Ordering::Relaxed);
        }
        self.generation.store(generation, Ordering::Release);
        drop(in_force);
        *self.loaded_checksum.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(checksum);
        let restart_needed_for = sections_changed(&source.started_with, &config);
        let sections = ReloadedSections { relabel_configs: config.relabel_configs, stream_aggregation: config.stream_aggregation };
        *self.reloaded_sections.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(sections));
        // Full: a wake-up is already pending, and the flushers read what is in force then.
        let _ = self.aggregations_changed.0.try_send(());
        Ok(Reloaded { relabel_rules, aggregations, restart_needed_for })
    }

    /// `relabel_configs`' and stream aggregation's metrics in Prometheus' text format.
    pub fn write_text(&self, out: &mut String) {
        use std::fmt::Write;
        let in_force = self.in_force();
        let (series_dropped, samples_dropped) = in_force.relabeler.dropped();
        let _ = writeln!(out, "# HELP metricstor_relabel_dropped_series_total Series of writes not stored because relabel_configs dropped them (counted per write).\n# TYPE metricstor_relabel_dropped_series_total counter\nmetricstor_relabel_dropped_series_total {series_dropped}");
        let _ = writeln!(out, "# HELP metricstor_relabel_dropped_samples_total Samples (floats and native histograms) not stored because relabel_configs dropped their series.\n# TYPE metricstor_relabel_dropped_samples_total counter\nmetricstor_relabel_dropped_samples_total {samples_dropped}");
        self.reloads.write_text(out, "vm_relabel_config", "relabel_configs");
        self.reloads.write_text(out, "vminsert_streamagg_config", "stream_aggregation");
        if self.stream_aggr_seen.load(Ordering::Relaxed) {
            self.stream_aggr_totals.write_text(out);
        }
        if let Some(set) = &in_force.stream_aggr {
            let path = self.path().map(|p| p.display().to_string()).unwrap_or_default();
            crate::stream_aggr::metrics::write_per_aggregation(out, set, &path);
        }
    }
}

/// A checksum of the file at `path`, None when it cannot be read.
fn file_checksum(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok().map(|text| checksum_of(&text))
}

fn checksum_of(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// The sections of `now` other than `relabel_configs` and `stream_aggregation` that differ
/// from `before`'s.
fn sections_changed(before: &Config, now: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut compare = |name: &'static str, same: bool| {
        if !same {
            changed.push(name);
        }
    };
    compare("server", before.server == now.server);
    compare("storage", before.storage == now.storage);
    compare("tls", before.tls == now.tls);
    compare("otlp", before.otlp == now.otlp);
    compare("zabbix_connector", before.zabbix_connector == now.zabbix_connector);
    compare("scrape", before.scrape == now.scrape);
    compare("rules", before.rules == now.rules);
    changed
}

/// Reloads the rules and logs what came of it (`trigger`: what asked); a failure raises the
/// reload-failed notification, a success ends it.
pub fn log_reload(rules: &WriteRules, notifications: &crate::notifications::Notifications, trigger: &str) -> Result<(), String> {
    match rules.reload(crate::api::params::now_ms()) {
        Ok(Some(reloaded)) => {
            let Replaced { kept, started, stopped } = reloaded.aggregations;
            tracing::info!(trigger, relabel_rules = reloaded.relabel_rules, aggregations_kept = kept, aggregations_started = started, aggregations_stopped = stopped, "relabel_configs and stream_aggregation reloaded");
            if !reloaded.restart_needed_for.is_empty() {
                let sections = reloaded.restart_needed_for.join(", ");
                tracing::warn!(trigger, sections, "these sections of the configuration file changed; a reload applies only relabel_configs and stream_aggregation, the others need a restart");
            }
            notifications.delete(crate::notifications::WRITE_RULES_RELOAD_FAILED);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(error) => {
            tracing::error!(trigger, %error, "relabel_configs and stream_aggregation not reloaded; those in force stay");
            notifications.add(crate::notifications::WRITE_RULES_RELOAD_FAILED);
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests;
