//! Recording and alerting rules: the `rule_files` of the Prometheus configuration file named
//! by `scrape.config_file`, evaluated in process as Prometheus evaluates them (`group`), their
//! alerts' templates (`expand`, over the `template` crate), what they show (`status`), and the
//! alerts sent to Alertmanagers (`notifier`). `serve` keeps one task per group.

pub mod alerting;
pub mod dependencies;
pub mod expand;
pub mod file;
pub mod group;
pub mod notifier;
pub mod recording;
pub mod settings;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use group::{Evaluator, GroupRun};
use settings::{Group, RuleSettings};

use crate::api::Api;

/// How often the configuration in force is checked for a reload.
const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// A group's running task and how to stop it.
struct Running {
    group: Group,
    stop: async_channel::Sender<()>,
    task: glommio::Task<GroupRun>,
}

/// Evaluates this executor's share of the configuration's rule groups until `shutdown`:
/// each group runs on the executor its file and name hash to (`placement`), so rule
/// evaluation spreads over the cores as scraping does. Executor 0 also sends the alerts.
/// On a reload (SIGHUP, `/-/reload`, the file check) a group whose file, name and settings
/// did not change runs on; a changed one is replaced by one that takes over its state; a
/// removed one marks its series stale.
pub async fn serve(api: Rc<Api>, shared: Arc<crate::scrape::SharedConfig>, status: Arc<status::RulesStatus>, notifier: Arc<notifier::Notifier>, (executor, executors): (usize, usize), shutdown: async_channel::Receiver<()>) {
    let sending = (executor == 0).then(|| glommio::spawn_local(notifier.clone().run(shutdown.clone())));
    let mine = |settings: &RuleSettings| -> RuleSettings { RuleSettings { groups: settings.groups.iter().filter(|g| placement(g, executors) == executor).cloned().collect(), ..settings.clone() } };
    // Rules read what every shard holds: wait until all are open.
    while !api.startup.is_ready() {
        if wait_or_shutdown(Duration::from_millis(100), &shutdown).await {
            if let Some(sending) = sending {
                sending.await;
            }
            return;
        }
    }
    let (mut generation, config) = shared.snapshot();
    let mut evaluator = Rc::new(evaluator_of(&api, &config, notifier.clone(), status.clone()));
    if executor == 0 {
        notifier.apply((*config.rules.alerting).clone(), evaluator.external_labels.clone());
    }
    let mut running: HashMap<(String, String), Running> = HashMap::new();
    start_groups(&mine(&config.rules), &mut running, &evaluator, true, &mut HashMap::new());
    status.retain(&config.rules.groups.iter().map(Group::key).collect::<Vec<_>>());
    loop {
        if wait_or_shutdown(RELOAD_CHECK_INTERVAL, &shutdown).await {
            break;
        }
        let (now_generation, config) = shared.snapshot();
        if now_generation == generation {
            continue;
        }
        generation = now_generation;
        let fresh = Rc::new(evaluator_of(&api, &config, notifier.clone(), status.clone()));
        let settings_changed = fresh.external_labels != evaluator.external_labels || fresh.external_url != evaluator.external_url;
        if settings_changed {
            evaluator = fresh;
        }
        if executor == 0 {
            notifier.apply((*config.rules.alerting).clone(), evaluator.external_labels.clone());
        }
        let settings = mine(&config.rules);
        // Stop every group that changed or went (all of them when the settings changed).
        let wanted: HashMap<(String, String), &Group> = settings.groups.iter().map(|g| (g.key(), g)).collect();
        let mut stopped: HashMap<(String, String), GroupRun> = HashMap::new();
        let keys: Vec<(String, String)> = running.keys().cloned().collect();
        for key in keys {
            let unchanged = !settings_changed && wanted.get(&key).is_some_and(|g| **g == running[&key].group);
            if unchanged {
                continue;
            }
            if let Some(old) = running.remove(&key) {
                old.stop.close();
                let mut group = old.task.await;
                if wanted.contains_key(&key) {
                    stopped.insert(key, group);
                } else {
                    group.mark_stale(&evaluator, crate::api::params::now_ms()).await;
                }
            }
        }
        start_groups(&settings, &mut running, &evaluator, false, &mut stopped);
        status.retain(&config.rules.groups.iter().map(Group::key).collect::<Vec<_>>());
        tracing::info!(executor, groups = running.len(), "rule groups reloaded");
    }
    for (_, old) in running.drain() {
        old.stop.close();
        old.task.await;
    }
    if let Some(sending) = sending {
        sending.await;
    }
}

/// The executor a group runs on: a hash of its file and name (another than the one that
/// offsets its evaluations), so a group stays where it is across reloads.
fn placement(group: &Group, executors: usize) -> usize {
    let key = tsdb::Labels::from_pairs([("rule_file", group.spec.file.as_str()), ("rule_group", group.spec.name.as_str())]);
    (key.stable_hash() % executors.max(1) as u64) as usize
}

/// Starts every group of `settings` not running yet; one replacing a stopped group of the
/// same key takes over its state.
fn start_groups(settings: &RuleSettings, running: &mut HashMap<(String, String), Running>, evaluator: &Rc<Evaluator>, restore: bool, stopped: &mut HashMap<(String, String), GroupRun>) {
    for group in &settings.groups {
        let key = group.key();
        if running.contains_key(&key) {
            continue;
        }
        let mut run = match GroupRun::new(group.clone(), restore) {
            Ok(run) => run,
            Err(error) => {
                tracing::error!(group = %group.spec.name, file = %group.spec.file, %error, "rule group not started");
                continue;
            }
        };
        if let Some(old) = stopped.remove(&key) {
            run.take_over(old);
        }
        evaluator.status.put(run.view());
        let (stop, stop_rx) = async_channel::bounded(1);
        let task = glommio::spawn_local(group::run(run, evaluator.clone(), stop_rx));
        running.insert(key, Running { group: group.clone(), stop, task });
    }
}

/// The evaluation settings of the server's configuration and the scrape configuration in force.
fn evaluator_of(api: &Rc<Api>, config: &crate::scrape::config::ScrapeConfig, notifier: Arc<notifier::Notifier>, status: Arc<status::RulesStatus>) -> Evaluator {
    let rules = &api.config.rules;
    let external_labels: BTreeMap<String, String> = config.external_labels.iter().cloned().collect();
    Evaluator {
        api: api.clone(),
        notifier,
        resend_delay_ms: (rules.alert_resend_delay_seconds * 1000) as i64,
        outage_tolerance_ms: (rules.alert_for_outage_tolerance_seconds * 1000) as i64,
        grace_period_ms: (rules.alert_for_grace_period_seconds * 1000) as i64,
        concurrent_evals: rules.concurrent_evals.max(1),
        external_url: external_url(&api.config),
        external_labels,
        status,
    }
}

/// A label set as the name → value map templates and rule labels work on.
fn label_map(labels: &tsdb::Labels) -> BTreeMap<String, String> {
    labels.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect()
}

/// `rules.external_url`, or `http://<host name>:<http port>` as Prometheus' default.
pub fn external_url(config: &crate::config::Config) -> String {
    let configured = config.rules.external_url.trim();
    if !configured.is_empty() {
        return configured.trim_end_matches('/').to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let host = if host.is_empty() { "localhost".to_string() } else { host };
    let port = config.server.http_addr.rsplit(':').next().unwrap_or("9090");
    format!("http://{host}:{port}")
}

/// Waits `wait`; true when `shutdown` (a message or its closing) came first.
pub(crate) async fn wait_or_shutdown(wait: Duration, shutdown: &async_channel::Receiver<()>) -> bool {
    let slept = async {
        glommio::timer::sleep(wait).await;
        false
    };
    let stopped = async {
        let _ = shutdown.recv().await;
        true
    };
    futures_lite::future::or(stopped, slept).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(file: &str, name: &str) -> Group {
        let spec = file::GroupSpec { file: file.into(), name: name.into(), interval_ms: None, query_offset_ms: None, limit: 0, rules: Vec::new() };
        Group { spec, interval_ms: 60_000, query_offset_ms: 0 }
    }

    #[test]
    fn groups_spread_over_the_executors_and_stay_put() {
        let groups: Vec<Group> = (0..32).map(|i| group("rules.yml", &format!("g{i}"))).collect();
        let counts = groups.iter().fold([0usize; 4], |mut counts, g| {
            counts[placement(g, 4)] += 1;
            counts
        });
        assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
        assert_eq!(placement(&groups[3], 4), placement(&group("rules.yml", "g3"), 4));
        assert!(groups.iter().all(|g| placement(g, 1) == 0));
    }
}
