//! Relabeling of every series written, before it is stored: Prometheus' `relabel_config`
//! (its YAML keys, defaults and action semantics; VictoriaMetrics single-node's
//! `-relabelConfig`), configured as `relabel_configs:` and applied by the shard router to
//! every ingestion path alike; scrape jobs use the same rules. VictoriaMetrics' extensions are
//! read too, so its relabeling files work as they are: `if` (series selectors a series must
//! match for the rule to apply; `keep` drops a series that does not), `regex` as a list of
//! alternatives, and the actions `replace_all`, `labelmap_all`, `keep_if_equal`,
//! `drop_if_equal`, `keep_if_contains`, `drop_if_contains`, `keep_metrics`, `drop_metrics` and
//! `graphite` (`match` and `labels`), and `{{label}}` references in `replace`'s replacement.
//! Action names are read in any case, as both read them.

use std::sync::atomic::{AtomicU64, Ordering};

use regex::Regex;
use serde::{Deserialize, Serialize};
use tsdb::SeriesBatch;

use super::label_limits::{self, LabelLimits};

/// One rule as written in the YAML (Prometheus' keys and defaults, and VictoriaMetrics'
/// `if`, `match` and `labels`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    /// VictoriaMetrics' `if`: one series selector or a list of them; the rule applies to a
    /// series matching any.
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_selectors: Option<Selectors>,
    pub source_labels: Vec<String>,
    pub separator: String,
    pub target_label: String,
    /// A list (VictoriaMetrics) is read as its items joined by `|`.
    #[serde(deserialize_with = "regex_text")]
    pub regex: String,
    pub modulus: u64,
    pub replacement: String,
    pub action: Action,
    /// `action: graphite`'s template of dot-separated names, each `*` a part without dots.
    #[serde(rename = "match", skip_serializing_if = "String::is_empty")]
    pub graphite_match: String,
    /// `action: graphite`'s labels to set, their values with `$N` (`${N}`) for the Nth `*`
    /// and `$0` for the whole name.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// The rules of a YAML list (a relabeling file's text); none for text of only comments and
/// blank lines.
pub fn configs_from_yaml(text: &str) -> Result<Vec<RelabelConfig>, String> {
    if text.lines().all(|line| line.trim().is_empty() || line.trim_start().starts_with('#')) {
        return Ok(Vec::new());
    }
    serde_saphyr::from_str::<Vec<RelabelConfig>>(text).map_err(|e| e.to_string())
}

/// VictoriaMetrics' `if`: a series selector, or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Selectors {
    One(String),
    Many(Vec<String>),
}

impl Selectors {
    fn texts(&self) -> &[String] {
        match self {
            Selectors::One(one) => std::slice::from_ref(one),
            Selectors::Many(many) => many,
        }
    }

    /// The matcher sets a series may match any of: each selector's, one per alternative of
    /// MetricsQL's `or` filters. A text that is no plain selector (an expression, an offset or
    /// `@`) is an error naming it.
    pub fn alternatives(&self) -> Result<Vec<Vec<tsdb::Matcher>>, String> {
        let mut alternatives = Vec::new();
        for text in self.texts() {
            match promql::parse(text) {
                Ok(promql::ast::Expr::VectorSelector(selector)) if selector.offset_ms == 0 && selector.at.is_none() => {
                    alternatives.extend(selector.alternatives().map(<[tsdb::Matcher]>::to_vec));
                }
                Ok(_) => return Err(format!("{text:?} is not a series selector")),
                Err(e) => return Err(format!("{text:?} does not parse: {e}")),
            }
        }
        Ok(alternatives)
    }
}

/// `regex` as a string, or (VictoriaMetrics) a list of alternatives joined by `|`. A plain
/// YAML integer is read as its digits (`regex: 200`); a plain float or boolean is refused,
/// naming the fix, since the YAML reader gives its value, not how it was written (`1.50`,
/// `off`): quoted, it is read as written.
fn regex_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl<'de> serde::de::Visitor<'de> for Text {
        type Value = String;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a regex (text) or a list of them")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<String, E> {
            Err(E::custom(format!("regex {v} is a YAML number: quote it ('...') so that it is read as written")))
        }
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
            Err(E::custom(format!("regex reads as the YAML boolean {v}: quote it ('...') so that it is read as written")))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
            Ok(String::new())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
            struct Item(String);
            impl<'de> Deserialize<'de> for Item {
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
                    d.deserialize_any(Text).map(Item)
                }
            }
            let mut alternatives = Vec::new();
            while let Some(Item(item)) = seq.next_element()? {
                alternatives.push(item);
            }
            Ok(alternatives.join("|"))
        }
    }
    deserializer.deserialize_any(Text)
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
            if_selectors: None,
            graphite_match: String::new(),
            labels: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
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
    /// VictoriaMetrics: every match of the (unanchored) regex in the joined source values
    /// replaced, into `target_label`.
    #[serde(rename = "replace_all")]
    ReplaceAll,
    /// VictoriaMetrics: every match of the (unanchored) regex in each label name replaced.
    #[serde(rename = "labelmap_all")]
    LabelMapAll,
    /// VictoriaMetrics: kept (dropped) when the source labels' values are all equal.
    #[serde(rename = "keep_if_equal")]
    KeepIfEqual,
    #[serde(rename = "drop_if_equal")]
    DropIfEqual,
    /// VictoriaMetrics: kept (dropped) when `target_label`'s value holds every source label's
    /// value (as a substring).
    #[serde(rename = "keep_if_contains")]
    KeepIfContains,
    #[serde(rename = "drop_if_contains")]
    DropIfContains,
    /// VictoriaMetrics: `keep` (`drop`) over the metric name.
    #[serde(rename = "keep_metrics")]
    KeepMetrics,
    #[serde(rename = "drop_metrics")]
    DropMetrics,
    /// VictoriaMetrics: labels set from the parts of a Graphite-style name (`match`, `labels`).
    Graphite,
}

impl TryFrom<String> for Action {
    type Error = String;

    /// An action named in any case, as Prometheus and VictoriaMetrics read it.
    fn try_from(name: String) -> Result<Action, String> {
        const ALL: [(&str, Action); 20] = [
            ("replace", Action::Replace),
            ("keep", Action::Keep),
            ("drop", Action::Drop),
            ("keepequal", Action::KeepEqual),
            ("dropequal", Action::DropEqual),
            ("hashmod", Action::HashMod),
            ("labelmap", Action::LabelMap),
            ("labeldrop", Action::LabelDrop),
            ("labelkeep", Action::LabelKeep),
            ("lowercase", Action::Lowercase),
            ("uppercase", Action::Uppercase),
            ("replace_all", Action::ReplaceAll),
            ("labelmap_all", Action::LabelMapAll),
            ("keep_if_equal", Action::KeepIfEqual),
            ("drop_if_equal", Action::DropIfEqual),
            ("keep_if_contains", Action::KeepIfContains),
            ("drop_if_contains", Action::DropIfContains),
            ("keep_metrics", Action::KeepMetrics),
            ("drop_metrics", Action::DropMetrics),
            ("graphite", Action::Graphite),
        ];
        let lower = name.to_ascii_lowercase();
        ALL.iter().find(|(n, _)| *n == lower).map(|(_, a)| *a).ok_or_else(|| {
            format!("unknown relabel action {name:?}; one of {}", ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
        })
    }
}

/// One rule's effect in `Relabeler::steps`: the rule, the labels after it (sorted, empty
/// values left out; none once a rule has dropped them), and whether they are still kept.
#[derive(Debug)]
pub struct RelabelStep<'a> {
    pub rule: &'a RelabelConfig,
    pub output: Vec<(String, String)>,
    pub keep: bool,
}

/// A rule ready to run: its regex compiled, anchored at both ends as Prometheus anchors it
/// (unanchored for `replace_all` and `labelmap_all`, which replace every match); its `if`
/// selectors' matchers (any alternative matching applies the rule); `graphite`'s template.
#[derive(Debug)]
struct Rule {
    config: RelabelConfig,
    regex: Regex,
    if_alternatives: Vec<Vec<tsdb::Matcher>>,
    graphite: Option<GraphiteTemplate>,
    /// With `if` and no regex of its own: `keep` and `drop` go by `if` alone.
    by_if_alone: bool,
    /// The replacement holds `{{label}}` references (filled per series).
    label_references: bool,
}

/// `action: graphite`'s `match` as an anchored regex (each `*` the shortest part without
/// dots that lets the rest match), and its labels' value templates.
#[derive(Debug)]
struct GraphiteTemplate {
    name: Regex,
    labels: Vec<(String, String)>,
}

impl GraphiteTemplate {
    fn new(template: &str, labels: &std::collections::BTreeMap<String, String>) -> Result<GraphiteTemplate, String> {
        let pattern: Vec<String> = template.split('*').map(regex::escape).collect();
        let name = Regex::new(&format!("^{}$", pattern.join("([^.]*?)"))).map_err(|e| format!("invalid match {template:?}: {e}"))?;
        Ok(GraphiteTemplate { name, labels: labels.iter().map(|(n, v)| (n.clone(), v.clone())).collect() })
    }

    /// The labels to set for metric name `name`; none when it does not match.
    fn labels_for(&self, name: &str) -> Option<Vec<(String, String)>> {
        let captures = self.name.captures(name)?;
        let part = |n: usize| captures.get(n).map_or("", |m| m.as_str());
        Some(self.labels.iter().map(|(label, value)| (label.clone(), expand_numbered(value, part))).collect())
    }
}

/// `template` with `$N` and `${N}` replaced by `part(N)` (Graphite relabeling's references:
/// digits only, so `$1a` is part 1 then `a`); another `$` is kept.
fn expand_numbered<'a>(template: &str, part: impl Fn(usize) -> &'a str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (digits, consumed) = match after.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) if end > 0 && braced[..end].bytes().all(|b| b.is_ascii_digit()) => (&braced[..end], end + 2),
                _ => ("", 0),
            },
            None => {
                let end = after.bytes().take_while(u8::is_ascii_digit).count();
                (&after[..end], end)
            }
        };
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(part(n)),
            Err(_) => out.push('$'),
        }
        rest = &after[consumed..];
    }
    out.push_str(rest);
    out
}

/// The configured rules, compiled once, and how many series they dropped.
#[derive(Debug, Default)]
pub struct Relabeler {
    rules: Vec<Rule>,
    limits: LabelLimits,
    /// Shared with the relabelers a reload puts in this one's place (`counting_on`), so the
    /// counts go on across reloads.
    dropped: std::sync::Arc<DroppedCounts>,
}

/// Series and samples a relabeler dropped.
#[derive(Debug, Default)]
struct DroppedCounts {
    series: AtomicU64,
    samples: AtomicU64,
}

impl Relabeler {
    /// Compiles and checks `configs` as Prometheus checks them; an error names the rule
    /// (`relabel_configs[i]`) and the problem.
    pub fn new(configs: &[RelabelConfig], limits: LabelLimits) -> Result<Relabeler, String> {
        let mut rules = Vec::with_capacity(configs.len());
        for (i, config) in configs.iter().enumerate() {
            let problem = |text: &str| format!("relabel_configs[{i}] (action {:?}): {text}", config.action);
            let unanchored = matches!(config.action, Action::ReplaceAll | Action::LabelMapAll);
            let pattern = if unanchored { config.regex.clone() } else { format!("^(?:{})$", config.regex) };
            let regex = Regex::new(&pattern).map_err(|e| problem(&format!("invalid regex {:?}: {e}", config.regex)))?;
            let needs_target = matches!(
                config.action,
                Action::Replace | Action::HashMod | Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual | Action::ReplaceAll | Action::KeepIfContains | Action::DropIfContains
            );
            if needs_target && config.target_label.is_empty() {
                return Err(problem("needs a target_label"));
            }
            let if_alternatives = match &config.if_selectors {
                Some(selectors) => selectors.alternatives().map_err(|e| problem(&format!("if: {e}")))?,
                None => Vec::new(),
            };
            let regex_given = config.regex != RelabelConfig::default().regex;
            let graphite_given = !config.graphite_match.is_empty() || !config.labels.is_empty();
            if graphite_given && config.action != Action::Graphite {
                return Err(problem("match and labels go only with action graphite"));
            }
            match config.action {
                Action::ReplaceAll if config.source_labels.is_empty() => return Err(problem("needs source_labels")),
                Action::KeepIfEqual | Action::DropIfEqual if config.source_labels.len() < 2 => return Err(problem("needs at least two source_labels")),
                Action::KeepIfEqual | Action::DropIfEqual if !config.target_label.is_empty() || regex_given => {
                    return Err(problem("takes no target_label or regex"));
                }
                Action::KeepIfContains | Action::DropIfContains if config.source_labels.is_empty() => return Err(problem("needs source_labels")),
                Action::KeepIfContains | Action::DropIfContains if regex_given => return Err(problem("takes no regex")),
                Action::KeepMetrics | Action::DropMetrics if !config.source_labels.is_empty() => {
                    return Err(problem("takes no source_labels (it reads the metric name)"));
                }
                Action::KeepMetrics | Action::DropMetrics if !regex_given && config.if_selectors.is_none() => return Err(problem("needs a regex or if")),
                Action::Graphite if config.graphite_match.is_empty() || config.labels.is_empty() => return Err(problem("needs match and labels")),
                Action::Graphite if !config.source_labels.is_empty() || !config.target_label.is_empty() || regex_given => {
                    return Err(problem("takes only match and labels (no source_labels, target_label or regex)"));
                }
                _ => {}
            }
            let graphite = match config.action {
                Action::Graphite => Some(GraphiteTemplate::new(&config.graphite_match, &config.labels).map_err(|e| problem(&e))?),
                _ => None,
            };
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
            let by_if_alone = !if_alternatives.is_empty() && !regex_given;
            let label_references = config.replacement.contains("{{");
            rules.push(Rule { config: config.clone(), regex, if_alternatives, graphite, by_if_alone, label_references });
        }
        Ok(Relabeler { rules, limits, dropped: Default::default() })
    }

    /// This relabeler counting what it drops on `previous`'s counts (a reload's new rules
    /// go on with the counts of those they replace).
    pub fn counting_on(self, previous: &Relabeler) -> Relabeler {
        Relabeler { dropped: previous.dropped.clone(), ..self }
    }

    /// The rules as configured, in order.
    pub fn configs(&self) -> impl Iterator<Item = &RelabelConfig> {
        self.rules.iter().map(|rule| &rule.config)
    }

    /// Series and samples (floats and histograms) not stored because of the rules.
    pub fn dropped(&self) -> (u64, u64) {
        (self.dropped.series.load(Ordering::Relaxed), self.dropped.samples.load(Ordering::Relaxed))
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
        self.dropped.series.fetch_add(series_dropped, Ordering::Relaxed);
        self.dropped.samples.fetch_add(samples_dropped, Ordering::Relaxed);
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

/// `replacement` with each `{{name}}` replaced by that label's value (VictoriaMetrics'
/// label references in `replace`'s replacement; an unclosed `{{` is kept as written).
fn fill_label_references(replacement: &str, labels: &[(String, String)]) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut rest = replacement;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        out.push_str(get(labels, &after[..close]));
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

/// Whether the values of `names` are all the same (VictoriaMetrics' `keep_if_equal`).
fn all_equal(labels: &[(String, String)], names: &[String]) -> bool {
    names.windows(2).all(|pair| get(labels, &pair[0]) == get(labels, &pair[1]))
}

/// Whether `target`'s value holds the value of each of `names` as a substring
/// (VictoriaMetrics' `keep_if_contains`, for lists such as Consul's tags: `,a,b,`).
fn contains_all(labels: &[(String, String)], target: &str, names: &[String]) -> bool {
    let text = get(labels, target);
    names.iter().all(|name| text.contains(get(labels, name)))
}

impl Rule {
    /// The source labels' values joined by the separator (one label read in place).
    fn source<'l>(&self, labels: &'l [(String, String)]) -> std::borrow::Cow<'l, str> {
        match self.config.source_labels.as_slice() {
            [one] => std::borrow::Cow::Borrowed(get(labels, one)),
            many => std::borrow::Cow::Owned(many.iter().map(|n| get(labels, n)).collect::<Vec<_>>().join(&self.config.separator)),
        }
    }

    /// Whether the series matches the rule's `if` (every series when it has none).
    fn applies_to(&self, labels: &[(String, String)]) -> bool {
        self.if_alternatives.is_empty() || self.if_alternatives.iter().any(|matchers| matchers.iter().all(|m| m.matches(get(labels, &m.name))))
    }

    /// Every source label's value joined by the separator, read from the metric name for
    /// `keep_metrics` and `drop_metrics`.
    fn matched_text<'l>(&self, labels: &'l [(String, String)]) -> std::borrow::Cow<'l, str> {
        match self.config.action {
            Action::KeepMetrics | Action::DropMetrics => std::borrow::Cow::Borrowed(get(labels, "__name__")),
            _ => self.source(labels),
        }
    }

    fn apply(&self, labels: &mut Vec<(String, String)>, memo: &mut RuleMemo) -> bool {
        let c = &self.config;
        if !self.applies_to(labels) {
            // As VictoriaMetrics: a series outside `if` is dropped by `keep`, left alone by
            // every other action.
            return !matches!(c.action, Action::Keep | Action::KeepMetrics);
        }
        let by_if_alone = self.by_if_alone;
        match c.action {
            Action::Drop | Action::DropMetrics if by_if_alone => return false,
            Action::Keep | Action::KeepMetrics if by_if_alone => return true,
            Action::Drop | Action::DropMetrics => return !memo.is_match(&self.regex, &self.matched_text(labels)),
            Action::Keep | Action::KeepMetrics => return memo.is_match(&self.regex, &self.matched_text(labels)),
            Action::KeepIfEqual => return all_equal(labels, &c.source_labels),
            Action::DropIfEqual => return !all_equal(labels, &c.source_labels),
            Action::KeepIfContains => return contains_all(labels, &c.target_label, &c.source_labels),
            Action::DropIfContains => return !contains_all(labels, &c.target_label, &c.source_labels),
            Action::ReplaceAll => {
                let value = self.source(labels).into_owned();
                let replaced = self.regex.replace_all(&value, c.replacement.as_str()).into_owned();
                if replaced != value {
                    set(labels, &c.target_label, replaced);
                }
            }
            Action::LabelMapAll => {
                // Set again one by one, so that two names renamed alike leave one label (the
                // later in the series' order) and a name renamed to nothing leaves none.
                let renamed: Vec<(String, String)> = labels
                    .drain(..)
                    .map(|(name, value)| match self.regex.replace_all(&name, c.replacement.as_str()) {
                        std::borrow::Cow::Owned(renamed) => (renamed, value),
                        std::borrow::Cow::Borrowed(_) => (name, value),
                    })
                    .collect();
                for (name, value) in renamed {
                    if !name.is_empty() {
                        set(labels, &name, value);
                    }
                }
            }
            Action::Graphite => {
                let labels_set = self.graphite.as_ref().and_then(|g| g.labels_for(get(labels, "__name__")));
                for (name, value) in labels_set.into_iter().flatten().filter(|(name, _)| !name.is_empty()) {
                    set(labels, &name, value);
                }
            }
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
                match self.label_references {
                    true => captures.expand(&fill_label_references(&c.replacement, labels), &mut replaced),
                    false => captures.expand(&c.replacement, &mut replaced),
                }
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
    fn victoriametrics_if_applies_a_rule_only_to_the_series_it_selects() {
        let r = rules("- if: '{__name__=~\"node_.*\", env!=\"dev\"}'\n  target_label: team\n  replacement: infra\n");
        assert_eq!(run(&r, &[("__name__", "node_load1"), ("env", "prod")]), owned(&[("__name__", "node_load1"), ("env", "prod"), ("team", "infra")]));
        assert_eq!(run(&r, &[("__name__", "node_load1"), ("env", "dev")]), owned(&[("__name__", "node_load1"), ("env", "dev")]));
        // A list is any of them; keep drops what it does not select, drop drops what it does.
        let r = rules("- action: keep\n  if: ['up', 'http_requests_total{code=\"500\"}']\n");
        assert!(run(&r, &[("__name__", "up")]).is_some());
        assert!(run(&r, &[("__name__", "http_requests_total"), ("code", "500")]).is_some());
        assert_eq!(run(&r, &[("__name__", "http_requests_total"), ("code", "200")]), None);
        let r = rules("- action: drop\n  if: '{job=\"noisy\"}'\n");
        assert_eq!(run(&r, &[("__name__", "x"), ("job", "noisy")]), None);
        assert!(run(&r, &[("__name__", "x"), ("job", "calm")]).is_some());
        // `or` between filters: any alternative.
        let r = rules("- action: drop\n  if: 'x{job=\"noisy\" or env=\"dev\"}'\n");
        assert_eq!(run(&r, &[("__name__", "x"), ("env", "dev")]), None);
        assert_eq!(run(&r, &[("__name__", "x"), ("job", "noisy")]), None);
        assert!(run(&r, &[("__name__", "y"), ("env", "dev")]).is_some(), "each alternative has the name");
        assert!(run(&r, &[("__name__", "x"), ("job", "calm")]).is_some());
        // With a regex of its own, keep also needs it to match.
        let r = rules("- action: keep\n  if: '{job=\"a\"}'\n  source_labels: [env]\n  regex: prod\n");
        assert!(run(&r, &[("job", "a"), ("env", "prod")]).is_some());
        assert_eq!(run(&r, &[("job", "a"), ("env", "dev")]), None);
    }

    #[test]
    fn victoriametrics_actions_behave_as_there() {
        // A regex given as a list is its items as alternatives.
        let r = rules("- action: drop_metrics\n  regex: ['go_.*', 'process_.*']\n");
        assert_eq!(run(&r, &[("__name__", "go_gc_duration_seconds")]), None);
        assert_eq!(run(&r, &[("__name__", "process_open_fds")]), None);
        assert!(run(&r, &[("__name__", "up")]).is_some());
        let r = rules("- action: keep_metrics\n  regex: up|scrape_.*\n");
        assert!(run(&r, &[("__name__", "scrape_samples_scraped")]).is_some());
        assert_eq!(run(&r, &[("__name__", "node_load1")]), None);
        let r = rules("- action: replace_all\n  source_labels: [path]\n  target_label: path\n  regex: '/'\n  replacement: '_'\n");
        assert_eq!(run(&r, &[("path", "/a/b/c")]), owned(&[("path", "_a_b_c")]));
        let r = rules("- action: labelmap_all\n  regex: '\\.'\n  replacement: '_'\n");
        assert_eq!(run(&r, &[("k8s.pod.name", "p")]), owned(&[("k8s_pod_name", "p")]));
        // Two names renamed alike leave one label, the later; a name renamed away, none.
        assert_eq!(run(&r, &[("a.b", "1"), ("a_b", "2")]), owned(&[("a_b", "2")]));
        let r = rules("- action: labelmap_all\n  regex: '.*'\n  replacement: ''\n");
        assert_eq!(run(&r, &[("x", "1")]), owned(&[]));
        let r = rules("- action: keep_if_equal\n  source_labels: [a, b, c]\n");
        assert!(run(&r, &[("a", "1"), ("b", "1"), ("c", "1")]).is_some());
        assert_eq!(run(&r, &[("a", "1"), ("b", "1"), ("c", "2")]), None);
        let r = rules("- action: drop_if_equal\n  source_labels: [a, b]\n");
        assert_eq!(run(&r, &[("a", "1"), ("b", "1")]), None);
        assert!(run(&r, &[("a", "1"), ("b", "2")]).is_some());
        let r = rules("- action: keep_if_contains\n  target_label: __meta_consul_tags\n  source_labels: [__meta_required]\n");
        assert!(run(&r, &[("__meta_consul_tags", ",prod,web,"), ("__meta_required", "web")]).is_some());
        assert_eq!(run(&r, &[("__meta_consul_tags", ",prod,"), ("__meta_required", "web")]), None);
        let r = rules("- action: drop_if_contains\n  target_label: tags\n  source_labels: [t]\n");
        assert_eq!(run(&r, &[("tags", "a,b"), ("t", "b")]), None);
        // Graphite names split into labels; a name that does not match is left as it is.
        let r = rules("- action: graphite\n  match: 'servers.*.cpu.*'\n  labels:\n    __name__: 'cpu_${2}'\n    host: '$1'\n    path: '$0'\n");
        assert_eq!(
            run(&r, &[("__name__", "servers.web1.cpu.user")]),
            owned(&[("__name__", "cpu_user"), ("host", "web1"), ("path", "servers.web1.cpu.user")])
        );
        assert_eq!(run(&r, &[("__name__", "servers.web1.mem.used")]), owned(&[("__name__", "servers.web1.mem.used")]));
        assert_eq!(run(&r, &[("__name__", "servers.a.b.cpu.user")]), owned(&[("__name__", "servers.a.b.cpu.user")]), "a * holds no dot");
        // `{{label}}` in a replacement is that label's value, before the regex's groups.
        let r = rules("- source_labels: [instance]\n  regex: '([^:]+):.*'\n  target_label: id\n  replacement: '{{job}}/$1/{{missing}}x{{open'\n");
        assert_eq!(run(&r, &[("instance", "h:9"), ("job", "api")]), owned(&[("id", "api/h/x{{open"), ("instance", "h:9"), ("job", "api")]));
        // Action names in any case, as both Prometheus and VictoriaMetrics read them.
        let r = rules("- action: LabelDrop\n  regex: x\n");
        assert_eq!(run(&r, &[("x", "1"), ("y", "2")]), owned(&[("y", "2")]));
    }

    #[test]
    fn scalars_of_any_yaml_type_are_read_as_text() {
        // Unquoted numbers and booleans are text in a rule, as Prometheus reads them.
        let r = rules("- source_labels: [code]\n  regex: 200\n  action: keep\n- target_label: flag\n  replacement: true\n- action: keep\n  source_labels: [code]\n  regex: [200, 5.., '1.50']\n");
        assert_eq!(run(&r, &[("code", "200")]), owned(&[("code", "200"), ("flag", "true")]));
        assert_eq!(run(&r, &[("code", "404")]), None);
        // A float or boolean would not read as written: refused, naming the fix.
        for yaml in ["- source_labels: [v]\n  regex: 1.50\n", "- source_labels: [v]\n  regex: off\n", "- source_labels: [v]\n  regex: [a, yes]\n"] {
            let error = serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).expect_err(yaml).to_string();
            assert!(error.contains("quote it"), "{yaml}: {error}");
        }
        // Quoted, as written.
        let r = rules("- source_labels: [v]\n  regex: '1.50'\n  action: keep\n");
        assert!(run(&r, &[("v", "1.50")]).is_some());
    }

    #[test]
    fn numbered_references_expand_digits_only() {
        let parts = ["whole", "one", "two"];
        let part = |n: usize| parts.get(n).copied().unwrap_or("");
        assert_eq!(expand_numbered("$1-${2}x-$1a-$9-$-${x}", part), "one-twox-onea--$-${x}");
        assert_eq!(expand_numbered("$0", part), "whole");
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
        refuse("- action: keep_if_equal\n  source_labels: [a]\n", "at least two source_labels");
        refuse("- action: replace_all\n  target_label: a\n", "needs source_labels");
        refuse("- action: drop_metrics\n", "needs a regex or if");
        refuse("- action: keep_metrics\n  source_labels: [a]\n  regex: x\n", "takes no source_labels");
        refuse("- action: graphite\n  match: 'a.*'\n", "needs match and labels");
        refuse("- target_label: a\n  match: 'a.*'\n", "only with action graphite");
        refuse("- action: keep\n  if: 'rate(x[5m])'\n", "not a series selector");
        refuse("- action: keep\n  if: '{a='\n", "does not parse");
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
