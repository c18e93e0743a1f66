//! Which rules of a group may evaluate at once, as Prometheus 3's `concurrent-rule-eval`
//! decides: a rule depends on the earlier rules of its group that its selectors read.

use promql::ast::{Expr, VectorSelector};
use tsdb::{MatchOp, Matcher};

use super::file::{RuleKind, RuleSpec};

/// Batches of rule indexes, in evaluation order; the rules of one batch may evaluate at once.
/// A rule depends on an earlier rule of its group whose name one of its selectors' metric name
/// matcher matches (or, for a selector of `ALERTS` or `ALERTS_FOR_STATE`, on an earlier alerting
/// rule its `alertname` matcher matches). A selector without a metric name matcher makes the
/// whole group sequential. The batches are: every rule depending on none (together), then each
/// rule with both dependencies and dependents (alone, in order), then the rules nothing depends
/// on (together).
pub fn batches(rules: &[RuleSpec]) -> Vec<Vec<usize>> {
    let sequential = || (0..rules.len()).map(|i| vec![i]).collect();
    if rules.len() <= 1 {
        return sequential();
    }
    // depends_on[i]: the earlier rules rule i reads.
    let mut depends_on: Vec<Vec<usize>> = vec![Vec::new(); rules.len()];
    for (i, rule) in rules.iter().enumerate() {
        let Ok(expr) = promql::parse(&rule.expr) else { return sequential() };
        let mut selectors = Vec::new();
        collect_selectors(&expr, &mut selectors);
        for selector in selectors {
            let Some(name) = name_matcher(selector) else { return sequential() };
            let reads_alerts = name.matches("ALERTS") || name.matches("ALERTS_FOR_STATE");
            let alertname = selector.matchers.iter().find(|m| m.name == "alertname");
            for (j, other) in rules[..i].iter().enumerate() {
                let is_alerting = matches!(other.kind, RuleKind::Alerting { .. });
                let reads = name.matches(other.name()) || (reads_alerts && is_alerting && alertname.is_none_or(|m| m.matches(other.name())));
                if reads && !depends_on[i].contains(&j) {
                    depends_on[i].push(j);
                }
            }
        }
    }
    let has_dependents = |j: usize| depends_on.iter().any(|d| d.contains(&j));
    let independent: Vec<usize> = (0..rules.len()).filter(|&i| depends_on[i].is_empty()).collect();
    let middle: Vec<usize> = (0..rules.len()).filter(|&i| !depends_on[i].is_empty() && has_dependents(i)).collect();
    let last: Vec<usize> = (0..rules.len()).filter(|&i| !depends_on[i].is_empty() && !has_dependents(i)).collect();
    let mut out = Vec::new();
    if !independent.is_empty() {
        out.push(independent);
    }
    out.extend(middle.into_iter().map(|i| vec![i]));
    if !last.is_empty() {
        out.push(last);
    }
    out
}

fn collect_selectors<'a>(expr: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match expr {
        Expr::VectorSelector(selector) => out.push(selector),
        Expr::MatrixSelector { selector, .. } => out.push(selector),
        _ => {
            for child in expr.children() {
                collect_selectors(child, out);
            }
        }
    }
}

/// The selector's metric name matcher: its written name, or a `__name__` matcher (none
/// for MetricsQL's `or` filters without a written name, whose alternatives may name others).
fn name_matcher(selector: &VectorSelector) -> Option<Matcher> {
    match &selector.name {
        Some(name) => Matcher::new(MatchOp::Equal, "__name__", name.clone()).ok(),
        None if !selector.or_matchers.is_empty() => None,
        None => selector.matchers.iter().find(|m| m.name == "__name__").cloned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn record(name: &str, expr: &str) -> RuleSpec {
        RuleSpec { kind: RuleKind::Recording { record: name.into() }, expr: expr.into(), labels: BTreeMap::new() }
    }

    fn alert(name: &str, expr: &str) -> RuleSpec {
        RuleSpec { kind: RuleKind::Alerting { alert: name.into(), hold_ms: 0, keep_firing_for_ms: 0, annotations: BTreeMap::new() }, expr: expr.into(), labels: BTreeMap::new() }
    }

    #[test]
    fn independent_rules_share_a_batch_and_chains_keep_their_order() {
        let rules = [
            record("job:requests:rate1m", "sum by (job) (rate(requests_total[1m]))"),
            record("job:errors:rate1m", "sum by (job) (rate(errors_total[1m]))"),
            record("job:error_ratio", "job:errors:rate1m / job:requests:rate1m"),
            alert("HighErrors", "job:error_ratio > 0.1"),
            record("cluster:requests:rate1m", "sum(rate(requests_total[1m]))"),
        ];
        assert_eq!(batches(&rules), vec![vec![0, 1, 4], vec![2], vec![3]]);
    }

    #[test]
    fn alerts_series_depend_on_the_alerting_rules_they_name() {
        let rules = [alert("A", "up == 0"), alert("B", "up == 2"), record("a_firing", "count(ALERTS{alertname=\"A\"})"), record("any_firing", "count(ALERTS)")];
        // Rule 2 reads only A; rule 3 reads every alerting rule before it.
        assert_eq!(batches(&rules), vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn a_selector_without_a_metric_name_makes_the_group_sequential() {
        let rules = [record("a", "sum(up)"), record("b", "count({job=\"x\"})"), record("c", "sum(up)")];
        assert_eq!(batches(&rules), vec![vec![0], vec![1], vec![2]]);
        let regex = [record("a", "sum(up)"), record("b", "count({__name__=~\"a|z\"})")];
        assert_eq!(batches(&regex), vec![vec![0], vec![1]], "a name regex matching an earlier rule makes a dependency");
        assert_eq!(batches(&[record("a", "up")]), vec![vec![0]]);
    }
}
