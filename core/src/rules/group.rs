//! One rule group's evaluation, as Prometheus runs a group: at timestamps aligned to its
//! interval, every rule in order at the timestamp less the query offset; recording rules
//! write their series, alerting rules their `ALERTS`/`ALERTS_FOR_STATE` and alerts due go to
//! the notifier.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tsdb::{HistogramSample, Labels, Sample};

use super::alerting::{Alerts, Found, Holding};
use super::expand::{AlertTemplates, Context};
use super::file::{GroupSpec, RuleKind, RuleSpec};
use super::recording::{recorded, rule_samples, Recorded};
use super::settings::Group;
use super::status::{AlertView, GroupView, Health, RuleView, RuleViewKind};
use crate::api::Api;

/// The settings every group evaluates under (Prometheus' `--rules.*` flags and
/// `--web.external-url`), and where alerts go.
pub struct Evaluator {
    pub api: Rc<Api>,
    pub notifier: Arc<super::notifier::Notifier>,
    pub resend_delay_ms: i64,
    pub outage_tolerance_ms: i64,
    pub grace_period_ms: i64,
    /// Rules of one group evaluated at once at most (`rules.concurrent_evals`; 1: in order).
    pub concurrent_evals: usize,
    pub external_url: String,
    pub external_labels: BTreeMap<String, String>,
    pub status: Arc<super::status::RulesStatus>,
}

/// A group between evaluations.
pub struct GroupRun {
    pub group: Group,
    rules: Vec<RuleRun>,
    /// Restore `for` state after the second evaluation (groups read at start).
    should_restore: bool,
    last_evaluation_ms: Option<i64>,
    /// The timestamp the last evaluation evaluated at (`prometheus_rule_group_last_evaluation_timestamp_seconds`).
    last_timestamp_ms: Option<i64>,
    evaluation_seconds: f64,
    last_samples: usize,
    evaluations: u64,
    failures: u64,
    iterations: u64,
    missed: u64,
    /// Series of the rules a reload removed from the group, marked stale at the next
    /// evaluation (Prometheus' `staleSeries`).
    stale: Vec<Labels>,
    /// Which rules may evaluate at once (`dependencies::batches`).
    batches: Vec<Vec<usize>>,
}

struct RuleRun {
    spec: RuleSpec,
    /// The expression as Prometheus prints it (`/api/v1/rules`' `query`).
    query: String,
    health: Health,
    last_error: Option<String>,
    evaluation_seconds: f64,
    last_evaluation_ms: Option<i64>,
    /// The series written at the last successful evaluation (to mark the missing stale).
    previous: HashSet<Labels>,
    alerting: Option<(Alerts, AlertTemplates)>,
}

impl GroupRun {
    /// A group ready to run; `restore`: restore alerts' `for` state from storage first.
    pub fn new(group: Group, restore: bool) -> Result<GroupRun, String> {
        let mut rules = Vec::with_capacity(group.spec.rules.len());
        for spec in &group.spec.rules {
            let query = promql::parse(&spec.expr).map(|e| promql::printer::print(&e)).map_err(|e| format!("{}: {e}", spec.name()))?;
            let alerting = match &spec.kind {
                RuleKind::Alerting { alert, annotations, .. } => Some((Alerts::new(!restore), AlertTemplates::parse(alert, &spec.labels, annotations)?)),
                RuleKind::Recording { .. } => None,
            };
            rules.push(RuleRun { spec: spec.clone(), query, health: Health::Unknown, last_error: None, evaluation_seconds: 0.0, last_evaluation_ms: None, previous: HashSet::new(), alerting });
        }
        let batches = super::dependencies::batches(&group.spec.rules);
        Ok(GroupRun { group, rules, should_restore: restore, last_evaluation_ms: None, last_timestamp_ms: None, evaluation_seconds: 0.0, last_samples: 0, evaluations: 0, failures: 0, iterations: 0, missed: 0, stale: Vec::new(), batches })
    }

    /// Takes over what the group it replaces on a reload knew (Prometheus' `CopyState`):
    /// the evaluation times, and per rule of the same name and labels (in order) its
    /// health, written series and alerts; the series of its rules with no match here are
    /// marked stale at the next evaluation.
    pub fn take_over(&mut self, mut old: GroupRun) {
        self.last_evaluation_ms = old.last_evaluation_ms;
        self.last_timestamp_ms = old.last_timestamp_ms;
        self.evaluation_seconds = old.evaluation_seconds;
        self.should_restore = old.should_restore;
        let mut taken = vec![false; old.rules.len()];
        for rule in &mut self.rules {
            let Some(at) = old.rules.iter().enumerate().position(|(i, o)| !taken[i] && o.spec.name() == rule.spec.name() && o.spec.labels == rule.spec.labels) else { continue };
            taken[at] = true;
            let previous = &mut old.rules[at];
            rule.health = previous.health;
            rule.last_error = previous.last_error.take();
            rule.evaluation_seconds = previous.evaluation_seconds;
            rule.last_evaluation_ms = previous.last_evaluation_ms;
            rule.previous = std::mem::take(&mut previous.previous);
            if let (Some((alerts, _)), Some((old_alerts, _))) = (&mut rule.alerting, previous.alerting.take()) {
                alerts.take_over(old_alerts);
            }
        }
        self.stale = old.stale;
        for (rule, taken) in old.rules.iter_mut().zip(taken) {
            if !taken {
                self.stale.extend(rule.previous.drain());
            }
        }
    }

    /// The group's timestamp at or before `now_ms`: its interval's grid shifted by an offset
    /// hashed from its file and name, so groups spread over the interval.
    pub fn evaluation_timestamp(&self, now_ms: i64) -> i64 {
        let interval = self.group.interval_ms.max(1);
        let key = Labels::from_pairs([("file", self.group.spec.file.as_str()), ("name", self.group.spec.name.as_str())]);
        let offset = (key.stable_hash() % interval as u64) as i64;
        let adjusted = now_ms - offset;
        adjusted - adjusted.rem_euclid(interval) + offset
    }

    /// Evaluates every rule at `ts_ms`.
    pub async fn evaluate(&mut self, ev: &Evaluator, ts_ms: i64) {
        let started = Instant::now();
        let started_ms = crate::api::params::now_ms();
        let mut samples = 0usize;
        let (interval_ms, offset_ms, limit) = (self.group.interval_ms, self.group.query_offset_ms, self.group.spec.limit);
        if !self.stale.is_empty() {
            let gone = std::mem::take(&mut self.stale);
            if let Err(error) = write(ev, stale_samples(gone, ts_ms - offset_ms), Vec::new()).await {
                tracing::warn!(group = %self.group.spec.name, %error, "writing staleness markers of removed rules failed");
            }
        }
        // One rule after another; with `rules.concurrent_evals`, the rules of one batch
        // (`dependencies::batches`) that many at a time.
        let concurrency = ev.concurrent_evals.max(1);
        let order: Vec<Vec<usize>> = if concurrency > 1 { self.batches.clone() } else { (0..self.rules.len()).map(|i| vec![i]).collect() };
        let group_spec = &self.group.spec;
        for batch in order {
            for chunk in batch.chunks(concurrency) {
                let mut chosen: Vec<&mut RuleRun> = self.rules.iter_mut().enumerate().filter(|(i, _)| chunk.contains(i)).map(|(_, rule)| rule).collect();
                let runs = chosen.iter_mut().map(|rule| run_rule(rule, group_spec, ev, ts_ms, offset_ms, interval_ms, limit)).collect();
                for outcome in crate::join::join_all(runs).await {
                    self.evaluations += 1;
                    match outcome {
                        Ok(written) => samples += written,
                        Err(()) => self.failures += 1,
                    }
                }
            }
        }
        self.iterations += 1;
        self.last_samples = samples;
        self.evaluation_seconds = started.elapsed().as_secs_f64();
        // `/api/v1/rules` shows when it started; the metric, its evaluation timestamp.
        self.last_evaluation_ms = Some(started_ms);
        self.last_timestamp_ms = Some(ts_ms);
        ev.status.put(self.view());
    }

    /// Restores the alerts' `for` state at `ts_ms` from the `ALERTS_FOR_STATE` series of the
    /// outage tolerance before it.
    pub async fn restore(&mut self, ev: &Evaluator, ts_ms: i64) {
        self.should_restore = false;
        for rule in &mut self.rules {
            let (Some((alerts, _)), RuleKind::Alerting { alert, hold_ms, .. }) = (&mut rule.alerting, &rule.spec.kind) else { continue };
            let last = if *hold_ms < ev.grace_period_ms { Vec::new() } else { for_state_series(ev, alert, ts_ms - ev.outage_tolerance_ms, ts_ms).await };
            alerts.restore(ts_ms, *hold_ms, ev.grace_period_ms, |labels| last.iter().find(|(l, _)| l == labels).map(|(_, s)| *s));
        }
        ev.status.put(self.view());
    }

    /// Writes staleness markers for every series the group wrote last (the group is gone).
    pub async fn mark_stale(&mut self, ev: &Evaluator, at_ms: i64) {
        let mut gone = std::mem::take(&mut self.stale);
        for rule in &mut self.rules {
            gone.extend(rule.previous.drain());
        }
        if let Err(error) = write(ev, stale_samples(gone, at_ms), Vec::new()).await {
            tracing::warn!(group = %self.group.spec.name, %error, "writing staleness markers of a removed group failed");
        }
    }

    /// Whether the group is still to restore `for` state.
    pub fn should_restore(&self) -> bool {
        self.should_restore
    }

    /// Counts evaluations skipped because the last one ran late.
    pub fn count_missed(&mut self, missed: u64) {
        self.missed += missed;
    }

    /// What `/api/v1/rules`, `/api/v1/alerts` and `/metrics` show of the group.
    pub fn view(&self) -> GroupView {
        let rules = self.rules.iter().map(|r| r.view()).collect();
        GroupView {
            name: self.group.spec.name.clone(),
            file: self.group.spec.file.clone(),
            interval_seconds: self.group.interval_ms as f64 / 1000.0,
            limit: self.group.spec.limit,
            evaluation_seconds: self.evaluation_seconds,
            last_evaluation_ms: self.last_evaluation_ms,
            last_timestamp_ms: self.last_timestamp_ms,
            last_samples: self.last_samples,
            evaluations: self.evaluations,
            failures: self.failures,
            iterations: self.iterations,
            missed: self.missed,
            rules,
        }
    }
}

impl RuleRun {
    fn view(&self) -> RuleView {
        let kind = match (&self.spec.kind, &self.alerting) {
            (RuleKind::Alerting { hold_ms, keep_firing_for_ms, annotations, .. }, Some((alerts, _))) => RuleViewKind::Alerting {
                hold_seconds: *hold_ms as f64 / 1000.0,
                keep_firing_for_seconds: *keep_firing_for_ms as f64 / 1000.0,
                annotations: annotations.clone(),
                state: alerts.state(),
                alerts: alerts.alerts().into_iter().map(AlertView::of).collect(),
            },
            _ => RuleViewKind::Recording,
        };
        RuleView {
            name: self.spec.name().to_string(),
            query: self.query.clone(),
            labels: self.spec.labels.clone(),
            health: self.health,
            last_error: self.last_error.clone(),
            evaluation_seconds: self.evaluation_seconds,
            last_evaluation_ms: self.last_evaluation_ms,
            kind,
        }
    }
}

/// Evaluates one rule and keeps its health, last error, time and duration; the samples it
/// wrote, or `Err` when it failed (logged, as Prometheus logs it).
async fn run_rule(rule: &mut RuleRun, spec: &GroupSpec, ev: &Evaluator, ts_ms: i64, offset_ms: i64, interval_ms: i64, limit: usize) -> Result<usize, ()> {
    let group = spec.name.as_str();
    let started = Instant::now();
    // As Prometheus: a rule's last evaluation is when it started, by the wall clock.
    rule.last_evaluation_ms = Some(crate::api::params::now_ms());
    let outcome = evaluate_rule(rule, spec, ev, ts_ms, offset_ms, interval_ms, limit).await;
    rule.evaluation_seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(written) => {
            rule.health = Health::Ok;
            rule.last_error = None;
            Ok(written)
        }
        Err(error) => {
            tracing::warn!(group, rule = %rule.spec.name(), %error, "evaluating rule failed");
            rule.health = Health::Err;
            rule.last_error = Some(error);
            Err(())
        }
    }
}

/// Evaluates one rule at `ts_ms` (its query at `ts_ms - offset_ms`) and writes what it
/// gives; the number of samples written. A series the rule stops returning gets a staleness
/// marker.
async fn evaluate_rule(rule: &mut RuleRun, group: &GroupSpec, ev: &Evaluator, ts_ms: i64, offset_ms: i64, interval_ms: i64, limit: usize) -> Result<usize, String> {
    let at_ms = ts_ms - offset_ms;
    let samples = rule_samples(query(ev, group, &rule.spec.expr, at_ms).await?)?;
    let series: Vec<(Labels, Recorded)> = match (&rule.spec.kind, &mut rule.alerting) {
        (RuleKind::Recording { record }, _) => recorded(record, &rule.spec.labels, samples, limit)?,
        (RuleKind::Alerting { alert, hold_ms, keep_firing_for_ms, .. }, Some((alerts, templates))) => {
            let context = Context { external_labels: &ev.external_labels, external_url: &ev.external_url };
            let mut found = Vec::with_capacity(samples.len());
            for (labels, value) in samples {
                let value = match value {
                    Recorded::Float(v) => v,
                    Recorded::Histogram(_) => 0.0,
                };
                let mut map = super::label_map(&labels);
                // Templates' queries are evaluated at the group's timestamp, as Prometheus does.
                let (expanded, annotations) = templates.expand(&map, value, ts_ms, &context, |text| template_query(ev, group, text, ts_ms)).await;
                map.remove("__name__");
                for (name, text) in expanded {
                    if text.is_empty() {
                        map.remove(&name);
                    } else {
                        map.insert(name, text);
                    }
                }
                map.insert("alertname".to_string(), alert.clone());
                found.push(Found { labels: map, annotations, value });
            }
            alerts.update(found, ts_ms, Holding { hold_ms: *hold_ms, keep_firing_for_ms: *keep_firing_for_ms }, limit)?;
            send(ev, alerts.to_send(ts_ms, ev.resend_delay_ms, interval_ms), &rule.query);
            alerts.series().into_iter().map(|(labels, value)| (Labels::from_pairs(labels), Recorded::Float(value))).collect()
        }
        (RuleKind::Alerting { .. }, None) => return Err("alerting rule without its state".to_string()),
    };
    let count = series.len();
    let now: HashSet<Labels> = series.iter().map(|(l, _)| l.clone()).collect();
    let gone: Vec<Labels> = rule.previous.iter().filter(|l| !now.contains(*l)).cloned().collect();
    let mut floats = stale_samples(gone, at_ms);
    let mut histograms = Vec::new();
    for (labels, value) in series {
        match value {
            Recorded::Float(v) => floats.push((labels, Sample { timestamp_ms: at_ms, value: v })),
            Recorded::Histogram(h) => histograms.push((labels, HistogramSample { timestamp_ms: at_ms, histogram: h })),
        }
    }
    rule.previous = now;
    write(ev, floats, histograms).await?;
    Ok(count)
}

fn stale_samples(labels: Vec<Labels>, at_ms: i64) -> Vec<(Labels, Sample)> {
    let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
    labels.into_iter().map(|l| (l, Sample { timestamp_ms: at_ms, value: stale })).collect()
}

async fn write(ev: &Evaluator, floats: Vec<(Labels, Sample)>, histograms: Vec<(Labels, HistogramSample)>) -> Result<(), String> {
    let batch = crate::scrape::scrape_loop::scrape_batch(floats, histograms, Vec::new(), Default::default())?;
    let Some(batch) = batch else { return Ok(()) };
    crate::api::write::append_counted(&ev.api, batch).await.map(|_| ()).map_err(|e| e.message)
}

async fn query(ev: &Evaluator, group: &GroupSpec, expr: &str, at_ms: i64) -> Result<promql::Value, String> {
    let origin = crate::api::QueryOrigin::RuleGroup { file: group.file.clone(), name: group.name.clone() };
    crate::api::query::rule_query(&ev.api, expr, at_ms, origin).await
}

async fn template_query(ev: &Evaluator, group: &GroupSpec, text: String, at_ms: i64) -> Result<Vec<super::expand::QueriedSample>, String> {
    super::expand::queried_samples(query(ev, group, &text, at_ms).await?)
}

/// Hands the alerts due to the notifier as Prometheus' `sendAlerts` makes them.
fn send(ev: &Evaluator, alerts: Vec<super::alerting::Alert>, query: &str) {
    if alerts.is_empty() {
        return;
    }
    let generator_url = format!("{}{}", ev.external_url.trim_end_matches('/'), table_link(query));
    let out = alerts
        .into_iter()
        .map(|a| super::notifier::Alert {
            labels: a.labels,
            annotations: a.annotations,
            starts_at_ms: a.fired_at_ms.unwrap_or(a.active_at_ms),
            ends_at_ms: Some(a.resolved_at_ms.unwrap_or(a.valid_until_ms)),
            generator_url: generator_url.clone(),
        })
        .collect();
    ev.notifier.send(out);
}

/// Prometheus' link to an expression's table view (the expression escaped as Go's
/// `url.QueryEscape` does).
fn table_link(query: &str) -> String {
    format!("/graph?g0.expr={}&g0.tab=1", crate::scrape::discovery::query_escape(query))
}

/// The last sample of each `ALERTS_FOR_STATE` series of `alert` in `[mint_ms, maxt_ms]`
/// (stale markers included), by the series' labels without `__name__`.
async fn for_state_series(ev: &Evaluator, alert: &str, mint_ms: i64, maxt_ms: i64) -> Vec<(BTreeMap<String, String>, (i64, f64))> {
    let matchers = [("__name__", "ALERTS_FOR_STATE"), ("alertname", alert)].map(|(n, v)| tsdb::Matcher::new(tsdb::MatchOp::Equal, n, v));
    let Ok(matchers) = matchers.into_iter().collect::<Result<Vec<_>, _>>() else { return Vec::new() };
    match crate::api::query::select_raw(&ev.api, matchers, mint_ms, maxt_ms).await {
        Ok(series) => series
            .into_iter()
            .filter_map(|s| {
                let last = s.samples.last()?;
                let labels = s.labels.iter().filter(|l| l.name != "__name__").map(|l| (l.name.to_string(), l.value.to_string())).collect();
                Some((labels, (last.timestamp_ms, last.value)))
            })
            .collect(),
        Err(error) => {
            tracing::error!(alert, %error, "failed to restore 'for' state");
            Vec::new()
        }
    }
}

/// Runs `group` until `stop` is closed or sent to, and gives it back (to a group replacing
/// it on a reload). After a start, the `for` state of alerts is restored from
/// `ALERTS_FOR_STATE` once two evaluations have run.
pub async fn run(mut group: GroupRun, ev: Rc<Evaluator>, stop: async_channel::Receiver<()>) -> GroupRun {
    let interval = group.group.interval_ms.max(1);
    let mut ts = group.evaluation_timestamp(crate::api::params::now_ms()) + interval;
    if !sleep_until(ts, &stop).await {
        return group;
    }
    group.evaluate(&ev, ts).await;
    loop {
        let next = ts + interval;
        if !sleep_until(next, &stop).await {
            return group;
        }
        let late = crate::api::params::now_ms() - ts;
        let missed = (late / interval - 1).max(0);
        group.count_missed(missed as u64);
        ts += (missed + 1) * interval;
        group.evaluate(&ev, ts).await;
        if group.should_restore() {
            group.restore(&ev, crate::api::params::now_ms()).await;
        }
    }
}

/// Waits until the wall clock reads `at_ms`; false when told to stop first.
async fn sleep_until(at_ms: i64, stop: &async_channel::Receiver<()>) -> bool {
    let wait = Duration::from_millis((at_ms - crate::api::params::now_ms()).max(0) as u64);
    !super::wait_or_shutdown(wait, stop).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_link_escapes_the_expression_as_go_query_escape_does() {
        assert_eq!(table_link("up{job=\"a b\"} == 0"), "/graph?g0.expr=up%7Bjob%3D%22a+b%22%7D+%3D%3D+0&g0.tab=1");
    }
}
