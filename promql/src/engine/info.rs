//! `info(v [, {label selectors}])` (Prometheus 3, experimental): adds the data labels of
//! info series (`target_info` by default) that share `v`'s identifying labels (`instance`,
//! `job`). The info series are one extra select (`info_select`), evaluated like an instant
//! selector at the time `v`'s first selector reads (its `@` and offsets).

use std::collections::{BTreeMap, HashMap, HashSet};

use tsdb::{is_stale_nan, Label, Labels, MatchOp, Matcher, METRIC_NAME_LABEL};

use super::eval::{check_unique, Elem, Evaluator, StepValue};
use super::{at_ms, Error};
use crate::ast::{Expr, Subquery};

/// The labels info series are joined on (Prometheus hard-codes them too).
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];
/// The info metric used when the call names none.
const DEFAULT_INFO_METRIC: &str = "target_info";

/// What the optional label selector asks for: `__name__` matchers choose the info metrics,
/// the others choose (and restrict the copied) data labels.
pub(crate) struct InfoSpec {
    /// The effective `__name__` matchers (see `effective_name_matchers`).
    pub name_matchers: Vec<Matcher>,
    pub data_matchers: Vec<Matcher>,
}

fn must_matcher(op: MatchOp, value: &str) -> Vec<Matcher> {
    // Constant, valid patterns: construction cannot fail.
    Matcher::new(op, METRIC_NAME_LABEL, value.to_string()).into_iter().collect()
}

/// Prometheus' `effectiveInfoNameMatchers`: the given matchers when one is positive (`=`,
/// `=~`); only negative ones get `=~".+_info"` in front; none means `target_info`.
fn effective_name_matchers(given: Vec<Matcher>) -> Vec<Matcher> {
    if given.iter().any(|m| matches!(m.op, MatchOp::Equal | MatchOp::RegexMatch)) {
        return given;
    }
    if given.is_empty() {
        return must_matcher(MatchOp::Equal, DEFAULT_INFO_METRIC);
    }
    let mut out = must_matcher(MatchOp::RegexMatch, ".+_info");
    out.extend(given);
    out
}

impl InfoSpec {
    pub fn new(args: &[Expr]) -> InfoSpec {
        let (names, data): (Vec<Matcher>, Vec<Matcher>) = match args.get(1) {
            Some(Expr::VectorSelector(vs)) => vs.matchers.iter().cloned().partition(|m| m.name == METRIC_NAME_LABEL),
            _ => (Vec::new(), Vec::new()),
        };
        InfoSpec { name_matchers: effective_name_matchers(names), data_matchers: data }
    }

    /// The matchers of the info series select.
    pub fn select_matchers(&self) -> Vec<Matcher> {
        self.data_matchers.iter().chain(&self.name_matchers).cloned().collect()
    }

    /// Whether a series is itself one of the requested info metrics (it is then not enriched).
    fn is_info_series(&self, labels: &Labels) -> bool {
        let name = labels.get(METRIC_NAME_LABEL).unwrap_or("");
        self.name_matchers.iter().all(|m| m.matches(name))
    }
}

/// Prometheus' reference time for the info series: the first selector in `expr`, its `@`
/// (or the innermost enclosing subquery's) and the offsets up to that anchor.
/// Returns (`@` time, offset ms).
pub(crate) fn info_reference(expr: &Expr) -> (Option<i64>, i64) {
    fn find<'e>(expr: &'e Expr, path: &mut Vec<&'e Subquery>) -> Option<(Option<i64>, i64)> {
        let vs = match expr {
            Expr::VectorSelector(vs) | Expr::MatrixSelector { selector: vs, .. } => vs,
            Expr::Subquery(sq) => {
                path.push(sq);
                let found = find(&sq.expr, path);
                path.pop();
                return found;
            }
            other => return other.children().into_iter().find_map(|c| find(c, path)),
        };
        let (mut at, mut offset) = (at_ms(vs.at), vs.offset_ms);
        for sq in path.iter().rev() {
            if at.is_some() {
                break;
            }
            offset += sq.offset_ms;
            at = at_ms(sq.at);
        }
        Some((at, offset))
    }
    find(expr, &mut Vec::new()).unwrap_or((None, 0))
}

/// `name` plus the identifying labels `labels` has: what a base and an info series share.
fn signature(name: &str, labels: &Labels) -> Vec<(String, String)> {
    let mut sig = vec![(METRIC_NAME_LABEL.to_string(), name.to_string())];
    for l in IDENTIFYING_LABELS {
        if let Some(v) = labels.get(l).filter(|v| !v.is_empty()) {
            sig.push((l.to_string(), v.to_string()));
        }
    }
    sig
}

/// Evaluates `info(args...)` at step `t`.
pub(super) fn evaluate(ev: &Evaluator<'_>, args: &[Expr], t: i64) -> Result<StepValue, Error> {
    let StepValue::Vector(base) = ev.eval(&args[0], t)? else {
        return Err(Error::Execution("info() needs an instant vector".into()));
    };
    if base.is_empty() {
        return Ok(StepValue::Vector(Vec::new()));
    }
    let spec = InfoSpec::new(args);
    let (at, offset) = info_reference(&args[0]);
    let reference = at.unwrap_or(t) - offset;
    let window_start = reference - ev.options.lookback_delta_ms;

    // The identifying label values of the series to enrich: info series must carry one of
    // them for each such label (Prometheus selects them with these as regex matchers).
    let mut wanted: HashMap<&str, HashSet<&str>> = HashMap::new();
    for e in base.iter().filter(|e| !spec.is_info_series(&e.labels)) {
        for l in IDENTIFYING_LABELS {
            if let Some(v) = e.labels.get(l).filter(|v| !v.is_empty()) {
                wanted.entry(l).or_default().insert(v);
            }
        }
    }
    // The info samples current at the reference time, one per signature (the newest wins).
    let mut by_signature: HashMap<Vec<(String, String)>, (&Labels, i64)> = HashMap::new();
    let mut info_names: Vec<&str> = Vec::new();
    if !wanted.is_empty() {
        for s in ev.info_series(args) {
            if !wanted.iter().all(|(l, values)| s.labels.get(l).is_some_and(|v| values.contains(v))) {
                continue;
            }
            let end = s.samples.partition_point(|p| p.timestamp_ms <= reference);
            let last_float = end.checked_sub(1).map(|i| s.samples[i]);
            // Info series carry their data in labels; a histogram sample there is an error.
            if let Some(h) = super::eval::histograms_within(&s.histograms, window_start, reference).last() {
                if last_float.is_none_or(|f| f.timestamp_ms < h.timestamp_ms) {
                    return Err(Error::Execution("info sample should be float".into()));
                }
            }
            let Some(last) = last_float else { continue };
            if last.timestamp_ms <= window_start || is_stale_nan(last.value) {
                continue;
            }
            let name = s.labels.get(METRIC_NAME_LABEL).unwrap_or("");
            if !info_names.contains(&name) {
                info_names.push(name);
            }
            let sig = signature(name, &s.labels);
            match by_signature.get(&sig) {
                Some((_, existing)) if *existing > last.timestamp_ms => {}
                Some((labels, existing)) if *existing == last.timestamp_ms => {
                    return Err(Error::Execution(format!(
                        "found duplicate series for info metric: existing {labels} @ {existing}, new {} @ {}",
                        s.labels, last.timestamp_ms
                    )));
                }
                _ => {
                    by_signature.insert(sig, (&s.labels, last.timestamp_ms));
                }
            }
        }
    }
    info_names.sort_unstable();
    let data_labels: HashSet<&str> = spec.data_matchers.iter().map(|m| m.name.as_str()).collect();
    let all_accept_empty = spec.data_matchers.iter().all(|m| m.matches(""));

    let mut out = Vec::with_capacity(base.len());
    for e in base {
        if spec.is_info_series(&e.labels) {
            out.push(e);
            continue;
        }
        let mut added: BTreeMap<&str, &str> = BTreeMap::new();
        let mut matched_any = false;
        for name in &info_names {
            let Some((info_labels, _)) = by_signature.get(&signature(name, &e.labels)) else { continue };
            matched_any = true;
            for l in info_labels.iter() {
                if l.name == METRIC_NAME_LABEL || (!data_labels.is_empty() && !data_labels.contains(l.name)) {
                    continue;
                }
                if added.get(l.name).is_some_and(|v| *v != l.value) {
                    return Err(Error::Execution(format!("conflicting label: {}", l.name)));
                }
                if e.labels.get(l.name).is_none() {
                    added.insert(l.name, l.value);
                }
            }
        }
        // Without a matching info series, a data matcher that needs a value drops the series.
        if !matched_any && !all_accept_empty {
            continue;
        }
        let labels = if added.is_empty() {
            e.labels
        } else {
            let mut all: Vec<Label> = e.labels.to_vec();
            all.extend(added.into_iter().map(|(name, value)| Label { name: name.to_string(), value: value.to_string() }));
            all.sort_by(|a, b| a.name.cmp(&b.name));
            Labels::from_sorted(all)
        };
        out.push(Elem::new(labels, e.value, e.drop_name));
    }
    Ok(StepValue::Vector(check_unique(out)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn args(q: &str) -> Vec<Expr> {
        match parse(q).unwrap() {
            Expr::Call { args, .. } => args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn name_matchers_default_to_target_info() {
        let names = |q: &str| InfoSpec::new(&args(q)).name_matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>();
        assert_eq!(names("info(x)"), vec!["__name__=\"target_info\""]);
        assert_eq!(names("info(x, {data=~\".+\"})"), vec!["__name__=\"target_info\""]);
        assert_eq!(names("info(x, {__name__!=\"a_info\"})"), vec!["__name__=~\".+_info\"", "__name__!=\"a_info\""]);
        assert_eq!(names("info(x, {__name__=~\"b.+\", __name__!=\"a_info\"})"), vec!["__name__=~\"b.+\"", "__name__!=\"a_info\""]);
        let spec = InfoSpec::new(&args("info(x, {__name__=\"build_info\", version=~\"v.*\"})"));
        assert_eq!(spec.select_matchers().len(), 2);
    }

    #[test]
    fn reference_time_follows_the_first_selector() {
        assert_eq!(info_reference(&args("info(x @ 60 offset 1m)")[0]), (Some(60_000), 60_000));
        assert_eq!(info_reference(&args("info(last_over_time((x offset 1m)[10m:1m] @ 180))")[0]), (Some(180_000), 60_000));
        assert_eq!(info_reference(&args("info(last_over_time(x[5m:1m] offset 6m))")[0]), (None, 360_000));
        assert_eq!(info_reference(&args("info(vector(1))")[0]), (None, 0));
    }
}
