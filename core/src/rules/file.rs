//! Prometheus rule files: `groups` of recording and alerting rules, read and checked as
//! Prometheus 3's `rulefmt` checks them (unknown keys refused, one of `record`/`alert`,
//! expressions parsed, names valid under UTF-8 validation, alert templates parsed), each
//! error naming the file, group, rule number and rule.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::api::params::parse_prometheus_duration_ms;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FileSection {
    groups: Vec<GroupSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct GroupSection {
    name: String,
    interval: Option<String>,
    query_offset: Option<String>,
    limit: Option<i64>,
    rules: Vec<RuleSection>,
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RuleSection {
    record: Option<String>,
    alert: Option<String>,
    expr: Option<String>,
    #[serde(rename = "for")]
    hold: Option<String>,
    keep_firing_for: Option<String>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// One group of a rule file, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupSpec {
    /// The file as the configuration names it (after globbing), as `/api/v1/rules` shows it.
    pub file: String,
    pub name: String,
    /// `interval`, or `None` for `global.evaluation_interval`.
    pub interval_ms: Option<i64>,
    /// `query_offset`, or `None` for `global.rule_query_offset`.
    pub query_offset_ms: Option<i64>,
    /// At most this many series (recording) or alerts (alerting) per rule; 0: no limit.
    pub limit: usize,
    pub rules: Vec<RuleSpec>,
}

/// One rule: its expression (as written; parsed when checked) and labels (the group's
/// `labels` with the rule's over them, as Prometheus 3 merges them).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleSpec {
    pub kind: RuleKind,
    pub expr: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RuleKind {
    Recording { record: String },
    Alerting { alert: String, hold_ms: i64, keep_firing_for_ms: i64, annotations: BTreeMap<String, String> },
}

impl RuleSpec {
    /// The rule's name: the recorded metric or the alert.
    pub fn name(&self) -> &str {
        match &self.kind {
            RuleKind::Recording { record } => record,
            RuleKind::Alerting { alert, .. } => alert,
        }
    }
}

/// Reads and checks the rule file `path` (shown as `shown`); an empty file has no groups.
pub fn load(path: &Path, shown: &str) -> Result<Vec<GroupSpec>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read rule file {shown}: {e}"))?;
    parse(&text, shown)
}

/// Parses and checks a rule file's text; every problem found is named, one per line, each
/// starting with the file.
pub fn parse(text: &str, file: &str) -> Result<Vec<GroupSpec>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let section: FileSection = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let mut errors = Vec::new();
    let mut groups: Vec<GroupSpec> = Vec::new();
    for (at, group) in section.groups.into_iter().enumerate() {
        match check_group(group, file) {
            Ok(spec) if groups.iter().any(|g| g.name == spec.name) => errors.push(format!("groupname: {:?} is repeated in the same file", spec.name)),
            Ok(spec) => groups.push(spec),
            Err(mut found) => {
                if found.is_empty() {
                    found.push(format!("group {at}: invalid"));
                }
                errors.extend(found);
            }
        }
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors.iter().map(|e| format!("{file}: {e}")).collect::<Vec<_>>().join("\n"))
    }
}

/// A duration key of a group or rule: Prometheus' durations (`5m`, `1h30m`, `0`).
fn duration(text: Option<&str>, key: &str) -> Result<Option<i64>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => match parse_prometheus_duration_ms(t) {
            Some(ms) if ms >= 0 => Ok(Some(ms)),
            _ => Err(format!("{key}: not a valid duration string: {t:?}")),
        },
    }
}

fn check_group(g: GroupSection, file: &str) -> Result<GroupSpec, Vec<String>> {
    let mut errors = Vec::new();
    if g.name.is_empty() {
        errors.push("Groupname must not be empty".to_string());
    }
    let interval_ms = duration(g.interval.as_deref(), "interval").map_err(|e| vec![format!("group {:?}: {e}", g.name)])?.filter(|&ms| ms > 0);
    let query_offset_ms = duration(g.query_offset.as_deref(), "query_offset").map_err(|e| vec![format!("group {:?}: {e}", g.name)])?;
    for (name, value) in &g.labels {
        label_errors(name, value, &mut errors);
    }
    let mut rules = Vec::new();
    for (at, rule) in g.rules.into_iter().enumerate() {
        let shown = rule.alert.clone().filter(|a| !a.is_empty()).or_else(|| rule.record.clone()).unwrap_or_default();
        match check_rule(rule, &g.labels) {
            Ok(spec) => rules.push(spec),
            Err(found) => errors.extend(found.into_iter().map(|e| format!("group {:?}, rule {}, {shown:?}: {e}", g.name, at + 1))),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let limit = usize::try_from(g.limit.unwrap_or(0)).unwrap_or(0);
    Ok(GroupSpec { file: file.to_string(), name: g.name, interval_ms, query_offset_ms, limit, rules })
}

/// Prometheus 3 validates names under UTF-8: a label name is any non-empty text but
/// `__name__`; a value any text.
fn label_errors(name: &str, _value: &str, errors: &mut Vec<String>) {
    if name.is_empty() || name == "__name__" {
        errors.push(format!("invalid label name: {name}"));
    }
}

fn check_rule(r: RuleSection, group_labels: &BTreeMap<String, String>) -> Result<RuleSpec, Vec<String>> {
    let mut errors = Vec::new();
    let record = r.record.filter(|s| !s.is_empty());
    let alert = r.alert.filter(|s| !s.is_empty());
    match (&record, &alert) {
        (Some(_), Some(_)) => errors.push("only one of 'record' and 'alert' must be set".to_string()),
        (None, None) => errors.push("one of 'record' or 'alert' must be set".to_string()),
        _ => {}
    }
    let expr = r.expr.unwrap_or_default();
    if expr.is_empty() {
        errors.push("field 'expr' must be set in rule".to_string());
    } else if let Err(e) = promql::parse(&expr) {
        errors.push(format!("could not parse expression: {e}"));
    }
    let hold_ms = duration(r.hold.as_deref(), "for").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let keep_firing_for_ms = duration(r.keep_firing_for.as_deref(), "keep_firing_for").unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    if let Some(record) = &record {
        if !r.annotations.is_empty() {
            errors.push("invalid field 'annotations' in recording rule".to_string());
        }
        if hold_ms.unwrap_or(0) != 0 {
            errors.push("invalid field 'for' in recording rule".to_string());
        }
        if keep_firing_for_ms.unwrap_or(0) != 0 {
            errors.push("invalid field 'keep_firing_for' in recording rule".to_string());
        }
        if record.contains('{') || record.contains('}') {
            errors.push(format!("braces present in the recording rule name; should it be in expr?: {record}"));
        }
    }
    for (name, value) in &r.labels {
        label_errors(name, value, &mut errors);
    }
    for name in r.annotations.keys() {
        if name.is_empty() {
            errors.push(format!("invalid annotation name: {name}"));
        }
    }
    if let Some(alert) = &alert {
        let texts = r.labels.iter().map(|(k, v)| ("label", k, v)).chain(r.annotations.iter().map(|(k, v)| ("annotation", k, v)));
        for (what, key, text) in texts {
            if let Err(e) = super::expand::check(alert, text) {
                errors.push(format!("{what} {key:?}: {e}"));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut labels = group_labels.clone();
    labels.extend(r.labels);
    let kind = match (record, alert) {
        (Some(record), _) => RuleKind::Recording { record },
        (None, Some(alert)) => RuleKind::Alerting { alert, hold_ms: hold_ms.unwrap_or(0), keep_firing_for_ms: keep_firing_for_ms.unwrap_or(0), annotations: r.annotations },
        (None, None) => return Err(vec!["one of 'record' or 'alert' must be set".to_string()]),
    };
    Ok(RuleSpec { kind, expr, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "groups:\n- name: g1\n  interval: 30s\n  labels: {team: a}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n    labels: {team: b}\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: page}\n    annotations: {summary: '{{ $labels.instance }} is down'}\n- name: g2\n  query_offset: 1m\n  limit: 10\n  rules: []\n";

    #[test]
    fn a_good_file_gives_its_groups_with_group_labels_under_rule_labels() {
        let groups = parse(GOOD, "r.yml").unwrap();
        assert_eq!(groups.len(), 2);
        let g1 = &groups[0];
        assert_eq!((g1.name.as_str(), g1.interval_ms, g1.query_offset_ms, g1.limit), ("g1", Some(30_000), None, 0));
        assert_eq!(g1.rules[0].kind, RuleKind::Recording { record: "job:up:sum".into() });
        assert_eq!(g1.rules[0].labels.get("team").map(String::as_str), Some("b"));
        let RuleKind::Alerting { alert, hold_ms, keep_firing_for_ms, annotations } = &g1.rules[1].kind else { panic!("alerting") };
        assert_eq!((alert.as_str(), *hold_ms, *keep_firing_for_ms), ("Down", 300_000, 60_000));
        assert_eq!(annotations.get("summary").map(String::as_str), Some("{{ $labels.instance }} is down"));
        assert_eq!(g1.rules[1].labels.get("team").map(String::as_str), Some("a"));
        assert_eq!((groups[1].query_offset_ms, groups[1].limit), (Some(60_000), 10));
        assert!(parse("", "e.yml").unwrap().is_empty());
    }

    #[test]
    fn mistakes_are_named_as_prometheus_names_them() {
        let cases = [
            ("groups:\n- name: g\n  rules:\n  - expr: up\n", "r.yml: group \"g\", rule 1, \"\": one of 'record' or 'alert' must be set"),
            ("groups:\n- name: g\n  rules:\n  - record: a\n    alert: b\n    expr: up\n", "only one of 'record' and 'alert' must be set"),
            ("groups:\n- name: g\n  rules:\n  - record: a\n", "group \"g\", rule 1, \"a\": field 'expr' must be set in rule"),
            ("groups:\n- name: g\n  rules:\n  - record: a\n    expr: sum(\n", "could not parse expression"),
            ("groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    for: 1m\n", "invalid field 'for' in recording rule"),
            ("groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    annotations: {x: y}\n", "invalid field 'annotations' in recording rule"),
            ("groups:\n- name: g\n  rules:\n  - record: 'a{b=\"c\"}'\n    expr: up\n", "braces present in the recording rule name"),
            ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: {__name__: x}\n", "invalid label name: __name__"),
            ("groups:\n- name: g\n  rules: []\n- name: g\n  rules: []\n", "groupname: \"g\" is repeated in the same file"),
            ("groups:\n- rules: []\n", "Groupname must not be empty"),
            ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations: {s: '{{ .Foo'}\n", "annotation \"s\":"),
            ("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: soon\n", "for: not a valid duration string"),
            ("groups:\n- name: g\n  unknown: 1\n  rules: []\n", "unknown"),
        ];
        for (text, expected) in cases {
            let error = parse(text, "r.yml").expect_err(text);
            assert!(error.contains(expected), "{text}: {error}");
            assert!(error.starts_with("r.yml"), "{error}");
        }
    }
}
