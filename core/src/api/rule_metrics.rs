//! The rule groups' figures of `/metrics`, under Prometheus' own names
//! (`prometheus_rule_*`, labelled `rule_group="<file>;<name>"`) so that the alerts of the
//! Prometheus monitoring mixin (`PrometheusRuleFailures`, `PrometheusMissingRuleEvaluations`)
//! work unchanged. Left out while no group is configured.

use super::scrape_metrics::sample;
use super::self_metrics::family;
use crate::rules::status::GroupView;

/// Appends the rule group families to `out`.
pub(super) fn write(out: &mut String, groups: &[GroupView]) {
    if groups.is_empty() {
        return;
    }
    let keys: Vec<String> = groups.iter().map(|g| format!("{};{}", g.file, g.name)).collect();
    let mut each = |name: &str, kind: &str, help: &str, value: &dyn Fn(&GroupView) -> String| {
        family(out, name, kind, help);
        for (group, key) in groups.iter().zip(&keys) {
            sample(out, name, &[("rule_group", key)], value(group));
        }
    };
    each("prometheus_rule_evaluations_total", "counter", "Rule evaluations of the group.", &|g| g.evaluations.to_string());
    each("prometheus_rule_evaluation_failures_total", "counter", "Rule evaluations of the group that failed.", &|g| g.failures.to_string());
    each("prometheus_rule_group_iterations_total", "counter", "Evaluations of the group, missed ones included.", &|g| (g.iterations + g.missed).to_string());
    each("prometheus_rule_group_iterations_missed_total", "counter", "Evaluations of the group skipped because the one before ran too long.", &|g| g.missed.to_string());
    each("prometheus_rule_group_interval_seconds", "gauge", "The group's evaluation interval.", &|g| g.interval_seconds.to_string());
    each("prometheus_rule_group_last_duration_seconds", "gauge", "How long the group's last evaluation took.", &|g| g.evaluation_seconds.to_string());
    each("prometheus_rule_group_last_evaluation_timestamp_seconds", "gauge", "The timestamp of the group's last evaluation (0: none yet).", &|g| (g.last_timestamp_ms.unwrap_or(0) as f64 / 1000.0).to_string());
    each("prometheus_rule_group_last_evaluation_samples", "gauge", "Samples the group's last evaluation returned.", &|g| g.last_samples.to_string());
    each("prometheus_rule_group_rules", "gauge", "Rules in the group.", &|g| g.rules.len().to_string());
}
