//! An alerting rule's alerts between evaluations, as Prometheus keeps them: a new alert is
//! pending, fires once it has been active for `for`, keeps firing for `keep_firing_for`
//! after its expression stops returning it, and is kept 15 minutes once resolved so that
//! Alertmanager hears of the resolution; the `ALERTS` and `ALERTS_FOR_STATE` series, when to
//! (re)send each alert, and the restoring of `for` state after a restart.

use std::collections::{BTreeMap, HashMap};

/// How long a resolved alert is kept (and resent as resolved): Prometheus' 15 minutes.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

pub type LabelMap = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The sample's labels without `__name__`, the rule's (expanded) labels and `alertname`.
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub state: AlertState,
    pub value: f64,
    pub active_at_ms: i64,
    pub fired_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub last_sent_at_ms: Option<i64>,
    pub valid_until_ms: i64,
    pub keep_firing_since_ms: Option<i64>,
}

/// One alert the expression returned this evaluation, its templates expanded.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub labels: LabelMap,
    pub annotations: LabelMap,
    pub value: f64,
}

/// What an alerting rule holds between evaluations.
#[derive(Clone, Debug, Default)]
pub struct Alerts {
    active: HashMap<LabelMap, Alert>,
    /// Whether `ALERTS`/`ALERTS_FOR_STATE` are written: not until `for` state was restored
    /// after a start, as Prometheus holds them back.
    pub restored: bool,
}

/// The timing settings of an alerting rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Holding {
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
}

impl Alerts {
    pub fn new(restored: bool) -> Alerts {
        Alerts { active: HashMap::new(), restored }
    }

    /// Takes one evaluation at `ts_ms`: new alerts start pending, alerts still returned take
    /// the new value and annotations, pending ones held long enough fire, and those no longer
    /// returned resolve (a firing one after `keep_firing_for`). More than `limit` (0: any)
    /// active alerts clears them all and fails, as Prometheus does.
    pub fn update(&mut self, found: Vec<Found>, ts_ms: i64, holding: Holding, limit: usize) -> Result<(), String> {
        let mut returned: HashMap<LabelMap, Found> = HashMap::with_capacity(found.len());
        for alert in found {
            if returned.contains_key(&alert.labels) {
                return Err("vector contains metrics with the same labelset after applying alert labels".to_string());
            }
            returned.insert(alert.labels.clone(), alert);
        }
        for (labels, alert) in &returned {
            match self.active.get_mut(labels) {
                Some(known) if known.state != AlertState::Inactive => {
                    known.value = alert.value;
                    known.annotations = alert.annotations.clone();
                }
                _ => {
                    let new = Alert {
                        labels: labels.clone(),
                        annotations: alert.annotations.clone(),
                        state: AlertState::Pending,
                        value: alert.value,
                        active_at_ms: ts_ms,
                        fired_at_ms: None,
                        resolved_at_ms: None,
                        last_sent_at_ms: None,
                        valid_until_ms: 0,
                        keep_firing_since_ms: None,
                    };
                    self.active.insert(labels.clone(), new);
                }
            }
        }
        let mut active_or_pending = 0usize;
        self.active.retain(|labels, a| {
            if returned.contains_key(labels) {
                a.keep_firing_since_ms = None;
            } else {
                let mut keep_firing = false;
                if a.state == AlertState::Firing && holding.keep_firing_for_ms > 0 {
                    let since = *a.keep_firing_since_ms.get_or_insert(ts_ms);
                    keep_firing = ts_ms - since < holding.keep_firing_for_ms;
                }
                let forget = a.state == AlertState::Pending || a.resolved_at_ms.is_some_and(|at| ts_ms - at > RESOLVED_RETENTION_MS);
                if a.state != AlertState::Inactive && !keep_firing {
                    a.state = AlertState::Inactive;
                    a.resolved_at_ms = Some(ts_ms);
                }
                if forget {
                    return false;
                }
                if !keep_firing {
                    return true;
                }
            }
            active_or_pending += 1;
            if a.state == AlertState::Pending && ts_ms - a.active_at_ms >= holding.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at_ms = Some(ts_ms);
            }
            true
        });
        if limit > 0 && active_or_pending > limit {
            self.active.clear();
            return Err(format!("exceeded limit of {limit} with {active_or_pending} alerts"));
        }
        Ok(())
    }

    /// The `ALERTS` (1, with `alertstate`) and `ALERTS_FOR_STATE` (the active time in
    /// seconds) samples of the pending and firing alerts, once restored.
    pub fn series(&self) -> Vec<(LabelMap, f64)> {
        if !self.restored {
            return Vec::new();
        }
        let mut out = Vec::new();
        for a in self.alerts() {
            let mut alerts = a.labels.clone();
            alerts.insert("__name__".into(), "ALERTS".into());
            alerts.insert("alertstate".into(), a.state.as_str().into());
            out.push((alerts, 1.0));
            let mut for_state = a.labels.clone();
            for_state.insert("__name__".into(), "ALERTS_FOR_STATE".into());
            out.push((for_state, (a.active_at_ms.div_euclid(1000)) as f64));
        }
        out
    }

    /// The pending and firing alerts, sorted by labels.
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut alerts: Vec<&Alert> = self.active.values().filter(|a| a.state != AlertState::Inactive).collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        alerts
    }

    /// The rule's state: that of its most advanced alert.
    pub fn state(&self) -> AlertState {
        self.active.values().map(|a| a.state).max().unwrap_or(AlertState::Inactive)
    }

    /// The alerts to send at `ts_ms` (Prometheus' `sendAlerts`): firing ones not sent for
    /// `resend_delay_ms`, and resolved ones not sent since they resolved. Each is marked sent
    /// and valid for four times the larger of the resend delay and the group's interval.
    pub fn to_send(&mut self, ts_ms: i64, resend_delay_ms: i64, interval_ms: i64) -> Vec<Alert> {
        let mut out = Vec::new();
        for a in self.active.values_mut() {
            if !needs_sending(a, ts_ms, resend_delay_ms) {
                continue;
            }
            a.last_sent_at_ms = Some(ts_ms);
            a.valid_until_ms = ts_ms + 4 * resend_delay_ms.max(interval_ms);
            out.push(a.clone());
        }
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Moves each alert's active time as Prometheus restores `for` state after a start at
    /// `ts_ms`: `last` gives, for an alert's labels, the last `ALERTS_FOR_STATE` sample
    /// within the outage tolerance (time, value in seconds; none, or a stale marker, leaves
    /// the alert as it is). A rule whose `for` is shorter than the grace period is not restored.
    pub fn restore(&mut self, ts_ms: i64, hold_ms: i64, grace_ms: i64, last: impl Fn(&LabelMap) -> Option<(i64, f64)>) {
        self.restored = true;
        if hold_ms < grace_ms {
            return;
        }
        for a in self.active.values_mut() {
            let Some((down_at_ms, value)) = last(&a.labels) else { continue };
            if tsdb::is_stale_nan(value) || !value.is_finite() {
                continue;
            }
            // Both as Prometheus takes them: whole seconds.
            let down_at_ms = down_at_ms.div_euclid(1000) * 1000;
            let mut restored_ms = (value as i64) * 1000;
            let remaining_ms = hold_ms - (down_at_ms - restored_ms);
            if remaining_ms <= 0 {
                // Held long enough before the outage: fires at the next evaluation.
            } else if remaining_ms < grace_ms {
                restored_ms = ts_ms + grace_ms - hold_ms;
            } else {
                restored_ms += ts_ms - down_at_ms;
            }
            a.active_at_ms = restored_ms;
        }
    }

    /// Takes over the alerts of the rule this one replaces on a reload.
    pub fn take_over(&mut self, old: Alerts) {
        self.active = old.active;
        self.restored = self.restored || old.restored;
    }
}

fn needs_sending(a: &Alert, ts_ms: i64, resend_delay_ms: i64) -> bool {
    if a.state == AlertState::Pending {
        return false;
    }
    if let Some(resolved) = a.resolved_at_ms {
        if a.last_sent_at_ms.is_none_or(|sent| sent < resolved) {
            return true;
        }
    }
    a.last_sent_at_ms.is_none_or(|sent| sent + resend_delay_ms < ts_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(instance: &str) -> Found {
        Found { labels: [("alertname", "Down"), ("instance", instance)].map(|(k, v)| (k.to_string(), v.to_string())).into(), annotations: LabelMap::new(), value: 0.0 }
    }

    const FIVE_MINUTES: Holding = Holding { hold_ms: 300_000, keep_firing_for_ms: 0 };

    #[test]
    fn an_alert_is_pending_until_held_for_its_duration_then_fires_and_resolves() {
        let mut alerts = Alerts::new(true);
        alerts.update(vec![found("a")], 0, FIVE_MINUTES, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Pending);
        assert!(alerts.to_send(0, 60_000, 60_000).is_empty(), "pending alerts are not sent");
        alerts.update(vec![found("a")], 240_000, FIVE_MINUTES, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Pending);
        alerts.update(vec![found("a")], 300_000, FIVE_MINUTES, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Firing);
        let sent = alerts.to_send(300_000, 60_000, 30_000);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].valid_until_ms, 300_000 + 240_000);
        assert!(alerts.to_send(330_000, 60_000, 30_000).is_empty(), "not resent within the resend delay");
        assert_eq!(alerts.to_send(360_001, 60_000, 30_000).len(), 1);
        let series = alerts.series();
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].0.get("alertstate").map(String::as_str), Some("firing"));
        assert_eq!(series[1], (found("a").labels.into_iter().chain([("__name__".to_string(), "ALERTS_FOR_STATE".to_string())]).collect(), 0.0));
        alerts.update(vec![], 400_000, FIVE_MINUTES, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Inactive);
        assert!(alerts.series().is_empty());
        let resolved = alerts.to_send(400_000, 60_000, 30_000);
        assert_eq!(resolved[0].resolved_at_ms, Some(400_000), "a resolution is sent at once");
        alerts.update(vec![], 400_000 + RESOLVED_RETENTION_MS + 1, FIVE_MINUTES, 0).unwrap();
        assert!(alerts.active.is_empty(), "forgotten after the retention");
    }

    #[test]
    fn a_pending_alert_that_goes_away_is_forgotten_and_a_returning_one_starts_again() {
        let mut alerts = Alerts::new(true);
        alerts.update(vec![found("a")], 0, FIVE_MINUTES, 0).unwrap();
        alerts.update(vec![], 60_000, FIVE_MINUTES, 0).unwrap();
        assert!(alerts.active.is_empty());
        alerts.update(vec![found("a")], 120_000, FIVE_MINUTES, 0).unwrap();
        assert_eq!(alerts.alerts()[0].active_at_ms, 120_000);
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert_after_it_stops_being_returned() {
        let holding = Holding { hold_ms: 0, keep_firing_for_ms: 120_000 };
        let mut alerts = Alerts::new(true);
        alerts.update(vec![found("a")], 0, holding, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Firing, "no `for`: fires at once");
        alerts.update(vec![], 60_000, holding, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Firing);
        assert_eq!(alerts.alerts()[0].keep_firing_since_ms, Some(60_000));
        alerts.update(vec![], 179_999, holding, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Firing);
        alerts.update(vec![], 180_000, holding, 0).unwrap();
        assert_eq!(alerts.state(), AlertState::Inactive);
    }

    #[test]
    fn duplicates_and_the_limit_fail_the_evaluation() {
        let mut alerts = Alerts::new(true);
        let error = alerts.update(vec![found("a"), found("a")], 0, FIVE_MINUTES, 0).unwrap_err();
        assert!(error.contains("same labelset"), "{error}");
        let error = alerts.update(vec![found("a"), found("b")], 0, FIVE_MINUTES, 1).unwrap_err();
        assert_eq!(error, "exceeded limit of 1 with 2 alerts");
        assert!(alerts.alerts().is_empty());
    }

    #[test]
    fn restoring_moves_the_active_time_as_prometheus_does() {
        let hold = 3_600_000;
        let grace = 600_000;
        let restore = |active_s: f64, down_ms: i64, now_ms: i64| {
            let mut alerts = Alerts::new(false);
            alerts.update(vec![found("a")], now_ms, Holding { hold_ms: hold, keep_firing_for_ms: 0 }, 0).unwrap();
            assert!(alerts.series().is_empty(), "nothing written before restoring");
            alerts.restore(now_ms, hold, grace, |_| Some((down_ms, active_s)));
            assert!(alerts.restored);
            alerts.alerts()[0].active_at_ms
        };
        // Pending 30 minutes before a 10 minute outage: 30 more to go after it.
        assert_eq!(restore(0.0, 1_800_000, 2_400_000), 600_000);
        // Held long enough already: keeps its old time.
        assert_eq!(restore(0.0, 3_700_000, 3_800_000), 0);
        // 5 minutes left, less than the grace period: fires 10 minutes after the start.
        assert_eq!(restore(0.0, 3_300_000, 4_000_000), 4_000_000 + grace - hold);
        // A stale marker leaves it as it is.
        let mut alerts = Alerts::new(false);
        alerts.update(vec![found("a")], 5_000, FIVE_MINUTES, 0).unwrap();
        alerts.restore(5_000, hold, grace, |_| Some((1_000, f64::from_bits(tsdb::STALE_NAN_BITS))));
        assert_eq!(alerts.alerts()[0].active_at_ms, 5_000);
    }
}
