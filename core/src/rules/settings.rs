//! The rule settings of a Prometheus configuration file: `rule_files` (globs, relative to
//! the file's directory, `*` and `?` in the last element) with every group they hold,
//! `global.evaluation_interval` (1m) and `global.rule_query_offset` (0), read as Prometheus
//! reads them, and its `alerting` section (`rules::notifier`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::file::{self, GroupSpec};
use crate::api::params::parse_prometheus_duration_ms;

/// Prometheus' default `global.evaluation_interval`.
pub const EVALUATION_INTERVAL_DEFAULT_MS: i64 = 60_000;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Root {
    global: GlobalSection,
    rule_files: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct GlobalSection {
    evaluation_interval: Option<String>,
    rule_query_offset: Option<String>,
}

/// Every rule group to evaluate, with the global settings resolved into each.
#[derive(Clone, Debug, Default)]
pub struct RuleSettings {
    pub groups: Vec<Group>,
    /// The rule files read (after globbing), for the reload checksum and `/api/v1/status/config`.
    pub files: Vec<PathBuf>,
    /// Where alerts go (`alerting`).
    pub alerting: Arc<super::notifier::AlertingConfig>,
}

/// A group with its interval and query offset settled.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub spec: GroupSpec,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
}

impl Group {
    /// Prometheus' key of a group: its file and name.
    pub fn key(&self) -> (String, String) {
        (self.spec.file.clone(), self.spec.name.clone())
    }
}

impl RuleSettings {
    /// Reads the rule settings of a configuration's `text` (relative names from `base`).
    pub fn from_config_text(text: &str, base: &Path) -> Result<RuleSettings, String> {
        if text.trim().is_empty() {
            return Ok(RuleSettings::default());
        }
        let root: Root = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        let interval_ms = positive(root.global.evaluation_interval.as_deref(), "global.evaluation_interval")?.unwrap_or(EVALUATION_INTERVAL_DEFAULT_MS);
        let query_offset_ms = match root.global.rule_query_offset.as_deref().map(str::trim) {
            None | Some("") => 0,
            Some(t) => parse_prometheus_duration_ms(t).filter(|&ms| ms >= 0).ok_or_else(|| format!("global.rule_query_offset: {t:?} is not a duration such as 1m"))?,
        };
        let files = rule_file_paths(&root.rule_files, base)?;
        let mut groups: Vec<Group> = Vec::new();
        for path in &files {
            let shown = path.display().to_string();
            for spec in file::load(path, &shown)? {
                let group = Group { interval_ms: spec.interval_ms.unwrap_or(interval_ms), query_offset_ms: spec.query_offset_ms.unwrap_or(query_offset_ms), spec };
                groups.push(group);
            }
        }
        let alerting = super::notifier::alerting_from_file(text, base)?;
        Ok(RuleSettings { groups, files, alerting: Arc::new(alerting) })
    }
}

fn positive(text: Option<&str>, key: &str) -> Result<Option<i64>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => match parse_prometheus_duration_ms(t) {
            Some(ms) if ms > 0 => Ok(Some(ms)),
            _ => Err(format!("{key}: {t:?} is not a positive duration such as 1m")),
        },
    }
}

/// The files `rule_files` names now, in the order named, each pattern's matches sorted (as
/// Go's `filepath.Glob`); a pattern without wildcards that names no file matches nothing,
/// as in Prometheus.
pub fn rule_file_paths(patterns: &[String], base: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let path = base.join(pattern);
        if path.parent().is_some_and(|p| p.to_string_lossy().contains(['*', '?', '['])) {
            return Err(format!("rule_files: {pattern:?}: only the last path element may hold wildcards"));
        }
        for file in crate::scrape::discovery::expand(std::slice::from_ref(&path)).into_iter().filter(|f| f.is_file()) {
            if !out.contains(&file) {
                out.push(file);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_take_the_global_interval_and_offset_unless_they_set_their_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::write(dir.path().join("rules/a.yml"), "groups:\n- name: a\n  rules: [{record: r, expr: up}]\n- name: b\n  interval: 10s\n  query_offset: 0s\n  rules: []\n").unwrap();
        std::fs::write(dir.path().join("rules/b.yml"), "groups:\n- name: c\n  rules: []\n").unwrap();
        std::fs::write(dir.path().join("rules/skip.txt"), "not yaml: [").unwrap();
        let text = "global:\n  evaluation_interval: 30s\n  rule_query_offset: 1m\nrule_files: ['rules/*.yml', 'missing.yml']\nscrape_configs: []\n";
        let settings = RuleSettings::from_config_text(text, dir.path()).unwrap();
        let seen: Vec<(&str, i64, i64)> = settings.groups.iter().map(|g| (g.spec.name.as_str(), g.interval_ms, g.query_offset_ms)).collect();
        assert_eq!(seen, vec![("a", 30_000, 60_000), ("b", 10_000, 0), ("c", 30_000, 60_000)]);
        assert_eq!(settings.files.len(), 2);
        assert!(settings.groups[0].spec.file.ends_with("rules/a.yml"));
        let defaults = RuleSettings::from_config_text("rule_files: []\n", dir.path()).unwrap();
        assert!(defaults.groups.is_empty());
    }

    #[test]
    fn a_bad_rule_file_or_setting_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.yml"), "groups:\n- name: g\n  rules: [{record: r}]\n").unwrap();
        let error = RuleSettings::from_config_text("rule_files: [bad.yml]\n", dir.path()).unwrap_err();
        assert!(error.contains("bad.yml: group \"g\", rule 1, \"r\": field 'expr' must be set in rule"), "{error}");
        let error = RuleSettings::from_config_text("global: {evaluation_interval: 0s}\n", dir.path()).unwrap_err();
        assert!(error.contains("global.evaluation_interval"), "{error}");
        let error = RuleSettings::from_config_text("rule_files: ['*/x.yml']\n", dir.path()).unwrap_err();
        assert!(error.contains("only the last path element"), "{error}");
    }
}
