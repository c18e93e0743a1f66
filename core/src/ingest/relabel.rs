//! Relabeling of every series written, before it is stored: Prometheus' `relabel_config`
//! (its YAML keys, defaults and action semantics; VictoriaMetrics single-node's
//! `-relabelConfig`), configured as `relabel_configs:` and applied by the shard router to
//! every ingestion path alike.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;
use serde::{Deserialize, Serialize};
use tsdb::SeriesBatch;

use super::label_limits::{self, LabelLimits};

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

/// One rule's effect in `Relabeler::steps`: the rule, the labels after it (sorted, empty
/// values left out; none once a rule has dropped them), and whether they are still kept.
#[derive(Debug)]
pub struct RelabelStep<'a> {
    pub rule: &'a RelabelConfig,
    pub output: Vec<(String, String)>,
    pub keep: bool,
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
    limits: LabelLimits,
    series_dropped: AtomicU64,
    samples_dropped: AtomicU64,
}

impl Relabeler {
    /// Compiles and checks `configs` as Prometheus checks them; an error names the rule
    /// (`relabel_configs[i]`) and the problem.
    pub fn new(configs: &[RelabelConfig], limits: LabelLimits) -> Result<Relabeler, String> {
        let mut rules = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let problem = |text: &str| format!("relabel_configs[{i}] (action {:?}): {text}", config.action);
            let regex = Regex::new(&format!("^(?:{})$", config.regex)).map_err(|e| problem(&format!("invalid regex {:?}: {e}", config.regex)))?;
            let needs_target = matches!(config.action, Action::Replace | Action::HashMod | Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual);
            if needs_target && config.target_label.is_empty() {
                return Err(problem("needs a target_label"));
            }
            match config.action {
                Action::HashMod if config.modulus == 0 => {
                    return Err(problem("needs a modulus above 0"));
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
        Ok(Relabeler { rules, limits, series_dropped: AtomicU64::new(0), samples_dropped: AtomicU64::new(0) })
    }

    /// Series and samples (floats and histograms) not stored because of the rules.
    pub fn dropped(&self) -> (u64, u64) {
        (self.series_dropped.load(Ordering::Relaxed), self.samples_dropped.load(Ordering::Relaxed))
    }

    /// `batch` with the rules applied to every series (the batch itself without rules). A
    /// series a rule drops (`drop`, `keep`, `dropequal`, `keepequal`), one left without a
    /// label, or one the rules take past the label limits (`storage.max_labels_per_series` and
    /// the name/value lengths) is not stored and is counted (`dropped`).
    pub fn apply_to_batch(&self, batch: SeriesBatch) -> SeriesBatch {
        if self.rules.is_empty() {
            return batch;
        }
        let (mut series_dropped, mut samples_dropped) = (0u64, 0u64);
        // One series' labels at a time, the Strings reused from series to series; and per
        // rule what its regex said of each text seen in this batch (a batch repeats label
        // names and metric names over and over).
        let mut labels: Vec<(String, String)> = Vec::new();
        let mut memo = self.new_memo();
        let relabeled = batch.relabeled(|series, sink| {
            let count = series.label_count();
            labels.truncate(count);
            for (i, (name, value)) in series.label_pairs().enumerate() {
                let (name, value) = (String::from_utf8_lossy(name), String::from_utf8_lossy(value));
                match labels.get_mut(i) {
                    Some((n, v)) => {
                        n.clear();
                        n.push_str(&name);
                        v.clear();
                        v.push_str(&value);
                    }
                    None => labels.push((name.into_owned(), value.into_owned())),
                }
            }
            let kept = self.apply_memoized(&mut labels, &mut memo)
                && !labels.is_empty()
                && label_limits::problem(&self.limits, labels.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()))).is_none();
            if kept {
                for (name, value) in &labels {
                    sink.push(name.as_bytes(), value.as_bytes());
                }
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
        self.apply_memoized(labels, &mut self.new_memo())
    }

    /// Each rule's effect on `labels` in turn (Prometheus' `/api/v1/targets/relabel_steps`).
    pub fn steps(&self, mut labels: Vec<(String, String)>) -> Vec<RelabelStep<'_>> {
        let mut keep = true;
        let mut steps = Vec::with_capacity(self.rules.len());
        for rule in &self.rules {
            keep = keep && rule.apply(&mut labels, &mut RuleMemo::default());
            let mut output: Vec<(String, String)> = if keep { labels.iter().filter(|(_, v)| !v.is_empty()).cloned().collect() } else { Vec::new() };
            output.sort();
            steps.push(RelabelStep { rule: &rule.config, output, keep });
        }
        steps
    }

    /// One empty memo per rule.
    fn new_memo(&self) -> Vec<RuleMemo> {
        self.rules.iter().map(|_| RuleMemo::default()).collect()
    }

    fn apply_memoized(&self, labels: &mut Vec<(String, String)>, memo: &mut [RuleMemo]) -> bool {
        for (rule, memo) in self.rules.iter().zip(memo) {
            if !rule.apply(labels, memo) {
                return false;
            }
        }
        labels.retain(|(_, v)| !v.is_empty());
        true
    }
}

/// Texts remembered per rule and batch at most (a batch of high-cardinality values then
/// costs a bounded map and plain regex runs past it).
const MEMO_ENTRIES_MAX: usize = 4096;

/// Texts one rule's regex was asked about, with the answer, for the actions that only ask
/// whether it matches; bounded.
#[derive(Default)]
struct RuleMemo(std::collections::HashMap<Box<str>, bool, foldhash::fast::RandomState>);

impl RuleMemo {
    fn is_match(&mut self, regex: &Regex, text: &str) -> bool {
        if let Some(&known) = self.0.get(text) {
            return known;
        }
        let matched = regex.is_match(text);
        if self.0.len() < MEMO_ENTRIES_MAX {
            self.0.insert(text.into(), matched);
        }
        matched
    }
}

/// The value of `name` in `labels`, empty when absent (also scrape discovery's).
pub(crate) fn get<'a>(labels: &'a [(String, String)], name: &str) -> &'a str {
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
    /// The source labels' values joined by the separator (one label read in place).
    fn source<'l>(&self, labels: &'l [(String, String)]) -> std::borrow::Cow<'l, str> {
        match self.config.source_labels.as_slice() {
            [one] => std::borrow::Cow::Borrowed(get(labels, one)),
            many => std::borrow::Cow::Owned(many.iter().map(|n| get(labels, n)).collect::<Vec<_>>().join(&self.config.separator)),
        }
    }

    fn apply(&self, labels: &mut Vec<(String, String)>, memo: &mut RuleMemo) -> bool {
        let c = &self.config;
        match c.action {
            Action::Drop => return !memo.is_match(&self.regex, &self.source(labels)),
            Action::Keep => return memo.is_match(&self.regex, &self.source(labels)),
            Action::DropEqual => return get(labels, &c.target_label) != self.source(labels),
            Action::KeepEqual => return get(labels, &c.target_label) == self.source(labels),
            Action::Replace => {
                let value = self.source(labels).into_owned();
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
            Action::Lowercase => {
                let value = self.source(labels).to_lowercase();
                set(labels, &c.target_label, value);
            }
            Action::Uppercase => {
                let value = self.source(labels).to_uppercase();
                set(labels, &c.target_label, value);
            }
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
            Action::LabelDrop => labels.retain(|(name, _)| !memo.is_match(&self.regex, name)),
            Action::LabelKeep => labels.retain(|(name, _)| memo.is_match(&self.regex, name)),
            Action::HashMod => {
                // Prometheus' hash, so that scrapers sharded with it split targets as
                // Prometheus servers would: the last 8 bytes of the MD5 sum, big-endian, modulo.
                let sum = <md5::Md5 as md5::Digest>::digest(self.source(labels).as_bytes());
                let mut tail = [0u8; 8];
                tail.copy_from_slice(&sum[8..]);
                set(labels, &c.target_label, (u64::from_be_bytes(tail) % c.modulus).to_string());
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Relabeler {
        let configs: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).expect("yaml");
        Relabeler::new(&configs, LabelLimits::default()).expect("valid rules")
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
    fn hashmod_gives_prometheus_numbers() {
        // Expected values: Prometheus' own relabel tests ("baz", "foo\nbar" modulo 1000) and
        // Python's hashlib for the last 8 bytes of the MD5 sum, big-endian, modulo.
        let r = rules("- source_labels: [c]\n  target_label: d\n  modulus: 1000\n  action: hashmod\n");
        assert_eq!(run(&r, &[("c", "baz")]), owned(&[("c", "baz"), ("d", "976")]));
        assert_eq!(run(&r, &[("c", "foo\nbar")]), owned(&[("c", "foo\nbar"), ("d", "734")]));
        let r = rules("- source_labels: [job, __address__]\n  target_label: __tmp_shard\n  modulus: 7\n  action: hashmod\n- source_labels: [__tmp_shard]\n  regex: '2'\n  action: keep\n");
        assert_eq!(run(&r, &[("job", "api"), ("__address__", "web-1:9100")]), owned(&[("__address__", "web-1:9100"), ("__tmp_shard", "2"), ("job", "api")]));
        let r = rules("- source_labels: [__address__]\n  target_label: shard\n  modulus: 3\n  action: hashmod\n");
        assert_eq!(run(&r, &[("__address__", "web-1:9100")]), owned(&[("__address__", "web-1:9100"), ("shard", "0")]));
    }

    #[test]
    fn invalid_rules_are_refused_naming_them() {
        let refuse = |yaml: &str, needle: &str| {
            let configs: Vec<RelabelConfig> = serde_saphyr::from_str(yaml).expect("yaml");
            let err = Relabeler::new(&configs, LabelLimits::default()).expect_err(yaml);
            assert!(err.contains(needle), "{yaml}: {err}");
        };
        refuse("- source_labels: [a]\n  regex: '('\n", "relabel_configs[0]");
        refuse("- source_labels: [a]\n  target_label: ''\n", "needs a target_label");
        refuse("- {target_label: c}\n- source_labels: [a]\n  target_label: b\n  action: hashmod\n", "relabel_configs[1] (action HashMod): needs a modulus above 0");
        refuse("- source_labels: [a]\n  modulus: 4\n  action: hashmod\n", "needs a target_label");
        refuse("- target_label: b\n  action: keepequal\n", "needs source_labels");
        refuse("- source_labels: [a]\n  action: labeldrop\n", "takes only a regex");
        assert!(serde_saphyr::from_str::<Vec<RelabelConfig>>("- action: nonsense\n").is_err());
        assert!(serde_saphyr::from_str::<Vec<RelabelConfig>>("- sourcelabels: [a]\n").is_err());
    }

    #[test]
    fn a_series_the_rules_take_past_the_label_limits_is_dropped_and_counted() {
        let configs: Vec<RelabelConfig> = serde_saphyr::from_str("- source_labels: [a]\n  target_label: b\n- source_labels: [a]\n  target_label: c\n").expect("yaml");
        let r = Relabeler::new(&configs, LabelLimits { labels_per_series: 3, ..LabelLimits::default() }).expect("valid");
        let series = vec![
            tsdb::SeriesSamples { labels: tsdb::Labels::from_pairs([("__name__", "x"), ("a", "1")]), samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }], histograms: Vec::new(), starts: None },
            tsdb::SeriesSamples { labels: tsdb::Labels::from_pairs([("__name__", "y")]), samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }], histograms: Vec::new(), starts: None },
        ];
        let out = r.apply_to_batch(SeriesBatch::from_series(&series)).to_series();
        // x gains b and c (four labels, past three); y's source is empty, so nothing is set.
        assert_eq!(out.iter().map(|s| s.labels.clone()).collect::<Vec<_>>(), vec![tsdb::Labels::from_pairs([("__name__", "y")])]);
        assert_eq!(r.dropped(), (1, 1));
    }

    #[test]
    fn batches_lose_dropped_series_and_count_them() {
        let r = rules("- source_labels: [__name__]\n  regex: 'debug_.*'\n  action: drop\n- regex: replica\n  action: labeldrop\n");
        let series = vec![
            tsdb::SeriesSamples {
                labels: tsdb::Labels::from_pairs([("__name__", "up"), ("replica", "a")]),
                samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }],
                histograms: Vec::new(),
                starts: None,
            },
            tsdb::SeriesSamples {
                labels: tsdb::Labels::from_pairs([("__name__", "debug_x")]),
                samples: vec![tsdb::Sample { timestamp_ms: 1, value: 1.0 }, tsdb::Sample { timestamp_ms: 2, value: 2.0 }],
                histograms: Vec::new(),
                starts: None,
            },
        ];
        let out = r.apply_to_batch(SeriesBatch::from_series(&series)).to_series();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels, tsdb::Labels::from_pairs([("__name__", "up")]));
        assert_eq!(out[0].samples, series[0].samples);
        assert_eq!(r.dropped(), (1, 2));
    }
}
