//! Relabeling of every series written, before it is stored: Prometheus' `relabel_config`
//! (its YAML keys, defaults and action semantics; VictoriaMetrics single-node's
//! `-relabelConfig`), configured as `relabel_configs:` and applied by the shard router to
//! every ingestion path alike. A series a rule drops (`drop`, `keep`, `dropequal`,
//! `keepequal`), or one left without a label, is not stored and is counted.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;
use serde::{Deserialize, Serialize};
use tsdb::SeriesBatch;

/// One rule as written in the YAML (Prometheus' keys and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: String,
    pub regex: String,
    pub modulus: u64,
    pub replacement: String,
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: ";".to_string(),
            target_label: String::new(),
            regex: "(.*)".to_string(),
            modulus: 0,
            replacement: "$1".to_string(),
            action: Action::Replace,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    #[default]
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

/// A rule ready to run: its regex compiled, anchored at both ends as Prometheus anchors it.
#[derive(Debug)]
struct Rule {
    config: RelabelConfig,
    regex: Regex,
}

/// The configured rules, compiled once, and how many series they dropped.
#[derive(Debug, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
    series_dropped: AtomicU64,
    samples_dropped: AtomicU64,
}

impl Relabeler {
    /// Compiles and checks `configs` as Prometheus checks them; an error names the rule
    /// (`relabel_configs[i]`) and the problem.
    pub fn new(configs: &[RelabelConfig]) -> Result<Relabeler, String> {
        let mut rules = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let problem = |text: &str| format!("relabel_configs[{i}] (action {:?}): {text}", config.action);
            let regex = Regex::new(&format!("^(?:{})$", config.regex)).map_err(|e| problem(&format!("invalid regex {:?}: {e}", config.regex)))?;
            let needs_target = matches!(config.action, Action::Replace | Action::HashMod | Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual);
            if needs_target && config.target_label.is_empty() {
                return Err(problem("needs a target_label"));
            }
            match config.action {
                Action::HashMod => {
                    return Err(problem("hashmod is not supported when relabeling written series (it shards scrape targets)"));
                }
                Action::KeepEqual | Action::DropEqual if config.source_labels.is_empty() => {
                    return Err(problem("needs source_labels"));
                }
                Action::LabelDrop | Action::LabelKeep if !config.source_labels.is_empty() || !config.target_label.is_empty() => {
                    return Err(problem("takes only a regex (no source_labels or target_label)"));
                }
                _ => {}
            }
            rules.push(Rule { config: config.clone(), regex });
        }
        Ok(Relabeler { rules, series_dropped: AtomicU64::new(0), samples_dropped: AtomicU64::new(0) })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Series and samples (floats and histograms) not stored because of the rules.
    pub fn dropped(&self) -> (u64, u64) {
        (self.series_dropped.load(Ordering::Relaxed), self.samples_dropped.load(Ordering::Relaxed))
    }

    /// `batch` with the rules applied to every series (the batch itself without rules).
    pub fn apply_to_batch(&self, batch: SeriesBatch) -> SeriesBatch {
        if self.rules.is_empty() {
            return batch;
        }
        let (mut series_dropped, mut samples_dropped) = (0u64, 0u64);
        let mut labels: Vec<(String, String)> = Vec::new();
        let relabeled = batch.relabeled(|series, out| {
            labels.clear();
            labels.extend(series.label_pairs().map(|(n, v)| (String::from_utf8_lossy(n).into_owned(), String::from_utf8_lossy(v).into_owned())));
            let kept = self.apply(&mut labels) && !labels.is_empty();
            if kept {
                out.extend(labels.drain(..).map(|(n, v)| (n.into_bytes(), v.into_bytes())));
            } else {
                series_dropped += 1;
                samples_dropped += (series.samples().len() + series.histograms().len()) as u64;
            }
            kept
        });
        self.series_dropped.fetch_add(series_dropped, Ordering::Relaxed);
        self.samples_dropped.fetch_add(samples_dropped, Ordering::Relaxed);
        relabeled
    }

    /// Runs every rule over `labels` (sorted or not; names unique); false when a rule
    /// drops the series.
    pub fn apply(&self, labels: &mut Vec<(String, String)>) -> bool {
        for rule in &self.rules {
            if !rule.apply(labels) {
                return false;
            }
        }
        labels.retain(|(_, v)| !v.is_empty());
        true
    }
}

fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
    labels.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("")
}

/// Sets `name` to `value`; an empty value removes the label.
fn set(labels: &mut Vec<(String, String)>, name: &str, value: String) {
    match labels.iter().position(|(n, _)| n == name) {
        Some(i) if value.is_empty() => {
            labels.remove(i);
        }
        Some(i) => labels[i].1 = value,
        None if value.is_empty() => {}
        None => labels.push((name.to_string(), value)),
    }
}

impl Rule {
    fn apply(&self, labels: &mut Vec<(String, String)>) -> bool {
        let c = &self.config;
        let value = c.source_labels.iter().map(|n| get(labels, n)).collect::<Vec<_>>().join(&c.separator);
        match c.action {
            Action::Drop => return !self.regex.is_match(&value),
            Action::Keep => return self.regex.is_match(&value),
            Action::DropEqual => return get(labels, &c.target_label) != value,
            Action::KeepEqual => return get(labels, &c.target_label) == value,
            Action::Replace => {
                let Some(captures) = self.regex.captures(&value) else { return true };
                let mut target = String::new();
                captures.expand(&c.target_label, &mut target);
                if target.is_empty() {
                    return true;
                }
                let mut replaced = String::new();
                captures.expand(&c.replacement, &mut replaced);
                set(labels, &target, replaced);
            }
            Action::Lowercase => set(labels, &c.target_label, value.to_lowercase()),
            Action::Uppercase => set(labels, &c.target_label, value.to_uppercase()),
            Action::LabelMap => {
                let mut mapped = Vec::new();
                for (name, v) in labels.iter() {
                    if let Some(captures) = self.regex.captures(name) {
                        let mut new_name = String::new();
                        captures.expand(&c.replacement, &mut new_name);
                        mapped.push((new_name, v.clone()));
                    }
                }
                for (name, v) in mapped {
                    if !name.is_empty() {
                        set(labels, &name, v);
                    }
                }
            }
            Action::LabelDrop => labels.retain(|(name, _)| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|(name, _)| self.regex.is_match(name)),
            Action::HashMod => {} // refused by `Relabeler::new`
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Relabeler {
        let configs: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).expect("yaml");
        Relabeler::new(&configs).expect("valid rules")
    }

    fn run(r: &Relabeler, pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        let mut labels: Vec<(String, String)> = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let kept = r.apply(&mut labels);
        labels.sort();
        kept.then_some(labels)
    }

    fn owned(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        let mut v: Vec<(String, String)> = pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        v.sort();
        Some(v)
    }

    #[test]
    fn replace_with_captures_templates_and_deletion() {
        let r = rules(
            "- source_labels: [instance]\n  regex: '([^:]+):\\d+'\n  target_label: host\n- source_labels: [job, host]\n  separator: '/'\n  target_label: 'j_${1}'\n  regex: '(api)/(.*)'\n  replacement: '$2'\n- source_labels: [unused]\n  target_label: env\n  replacement: prod\n- source_labels: [pod]\n  regex: '.*'\n  target_label: pod\n  replacement: ''\n",
        );
        assert_eq!(
            run(&r, &[("__name__", "up"), ("instance", "web-1:9100"), ("job", "api"), ("pod", "p")]),
            owned(&[("__name__", "up"), ("env", "prod"), ("host", "web-1"), ("instance", "web-1:9100"), ("j_api", "web-1"), ("job", "api")])
        );
        // No match: nothing replaced (the default replacement needs the default regex to match).
        let r = rules("- source_labels: [instance]\n  regex: 'x(.*)'\n  target_label: host\n");
        assert_eq!(run(&r, &[("__name__", "up"), ("instance", "web")]), owned(&[("__name__", "up"), ("instance", "web")]));
    }

    #[test]
    fn keep_drop_and_their_equal_forms() {
        let r = rules("- source_labels: [__name__]\n  regex: 'go_.*|process_.*'\n  action: drop\n");
        assert_eq!(run(&r, &[("__name__", "go_goroutines")]), None);
        assert!(run(&r, &[("__name__", "up")]).is_some());
        // The regex is anchored: `go_` inside a name does not match.
        assert!(run(&r, &[("__name__", "my_go_x")]).is_some());
        let r = rules("- source_labels: [env]\n  regex: prod|staging\n  action: keep\n");
        assert_eq!(run(&r, &[("__name__", "up")]), None, "a missing label is the empty string");
        assert!(run(&r, &[("__name__", "up"), ("env", "prod")]).is_some());
        let r = rules("- source_labels: [a]\n  target_label: b\n  action: keepequal\n");
        assert!(run(&r, &[("__name__", "x"), ("a", "1"), ("b", "1")]).is_some());
        assert_eq!(run(&r, &[("__name__", "x"), ("a", "1"), ("b", "2")]), None);
        let r = rules("- source_labels: [a]\n  target_label: b\n  action: dropequal\n");
        assert_eq!(run(&r, &[("__name__", "x"), ("a", "1"), ("b", "1")]), None);
    }

    #[test]
    fn label_map_drop_keep_and_case() {
        let r = rules(
            "- regex: '__meta_(.+)'\n  action: labelmap\n  replacement: 'm_$1'\n- regex: 'replica|__meta_.*'\n  action: labeldrop\n- source_labels: [dc]\n  target_label: dc\n  action: uppercase\n",
        );
        assert_eq!(
            run(&r, &[("__name__", "up"), ("__meta_zone", "z1"), ("replica", "a"), ("dc", "eu")]),
            owned(&[("__name__", "up"), ("dc", "EU"), ("m_zone", "z1")])
        );
        let r = rules("- regex: '__name__|job'\n  action: labelkeep\n");
        assert_eq!(run(&r, &[("__name__", "up"), ("job", "a"), ("instance", "i")]), owned(&[("__name__", "up"), ("job", "a")]));
    }

    #[test]
    fn invalid_rules_are_refused_naming_them() {
        let refuse = |yaml: &str, needle: &str| {
            let configs: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).expect("yaml");
            let err = Relabeler::new(&configs).expect_err(yaml);
            assert!(err.contains(needle), "{yaml}: {err}");
        };
        refuse("- source_labels: [a]\n  regex: '('\n", "relabel_configs[0]");
        refuse("- source_labels: [a]\n  target_label: ''\n", "needs a target_label");
        refuse("- {target_label: c}\n- source_labels: [a]\n  target_label: b\n  modulus: 4\n  action: hashmod\n", "relabel_configs[1]");
        refuse("- target_label: b\n  action: keepequal\n", "needs source_labels");
        refuse("- source_labels: [a]\n  action: labeldrop\n", "takes only a regex");
        assert!(serde_saphyr::from_str::<Vec<RelabelConfig>>("- action: nonsense\n").is_err());
        assert!(serde_saphyr::from_str::<Vec<RelabelConfig>>("- sourcelabels: [a]\n").is_err());
    }

    #[test]
    fn batches_lose_dropped_series_and_count_them() {
        let r = rules("- source_labels: [__name__]\n  regex: 'debug_.*'\n  action: drop\n- regex: replica\n  action: labeldrop\n");
        let series = vec![
            tsdb::SeriesSamples {
                labels: tsdb::Labels::from_pairs([("__name__", "up"), ("replica", "a")]),
                samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }],
                histograms: Vec::new(),
            },
            tsdb::SeriesSamples {
                labels: tsdb::Labels::from_pairs([("__name__", "debug_x")]),
                samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }, tsdb::Sample { timestamp_ms: 2, value: 2.0 }],
                histograms: Vec::new(),
            },
        ];
        let out = r.apply_to_batch(SeriesBatch::from_series(&series)).to_series();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels, tsdb::Labels::from_pairs([("__name__", "up")]));
        assert_eq!(out[0].samples, series[0].samples);
        assert_eq!(r.dropped(), (1, 2));
    }
}
