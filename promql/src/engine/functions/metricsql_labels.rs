//! MetricsQL's label manipulation functions (`label_set`, `label_del`, `label_keep`,
//! `label_copy`, `label_move`, `label_uppercase`, `label_lowercase`, `label_value`,
//! `label_match`, `label_mismatch`, `label_transform`, `label_graphite_group`,
//! `drop_common_labels`, over every step's series at once, `label_map`, `labels_equal`),
//! `union` and `now`, each over one
//! step's vectors. Series keep their name unless a function changes it, as in VictoriaMetrics.

use std::collections::{HashMap, HashSet};

use regex::Regex;
use tsdb::{Labels, METRIC_NAME_LABEL};

use super::super::eval::{check_unique, Elem, Evaluator, StepValue};
use super::super::series_wide::{columns, step_vectors, Column};
use super::super::Error;
use super::labels::{expand, set_label};
use super::{any_vector_arg, scalar_arg, string_arg};
use crate::ast::Expr;

/// The functions this module evaluates.
pub(super) fn handles(name: &str) -> bool {
    matches!(
        name,
        "label_set"
            | "label_del"
            | "label_keep"
            | "label_copy"
            | "label_move"
            | "label_uppercase"
            | "label_lowercase"
            | "label_value"
            | "label_match"
            | "label_mismatch"
            | "label_transform"
            | "label_graphite_group"
            | "drop_common_labels"
            | "label_map"
            | "labels_equal"
            | "union"
            | "now"
    )
}

/// `name`'s value at step `t`.
pub(super) fn call(ev: &Evaluator<'_>, name: &str, args: &[Expr], t: i64) -> Result<StepValue, Error> {
    let strings_from = |first: usize| -> Result<Vec<String>, Error> { args[first..].iter().map(|a| string_arg(ev.eval(a, t)?)).collect() };
    let out = match name {
        "now" => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
            return Ok(StepValue::Scalar(now));
        }
        "union" => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for arg in args {
                for e in any_vector_arg(ev.eval(arg, t)?)? {
                    // The first series of a label set wins (compared as they will be output).
                    if seen.insert(output_labels(&e)) {
                        out.push(e);
                    }
                }
            }
            return Ok(StepValue::Vector(out));
        }
        // Over the whole grid, as VictoriaMetrics reads the whole range: a label goes when
        // every series of the range has it with one value, so a step where fewer series are
        // present keeps the labels that tell them from the others (`series_wide`).
        "drop_common_labels" => {
            let steps = ev.series_wide_at(args.as_ptr() as usize, t, |timestamps| {
                let mut series = Vec::new();
                for arg in args {
                    series.extend(columns(ev, arg, timestamps)?.0);
                }
                Ok(step_vectors(&drop_common_labels(series), timestamps.len()))
            })?;
            return Ok(StepValue::Vector(check_unique(steps)?));
        }
        "label_set" => {
            let pairs = pairs_of(name, strings_from(1)?)?;
            let mut out = any_vector_arg(ev.eval(&args[0], t)?)?;
            for (label, value) in &pairs {
                out = out.into_iter().map(|e| with_label(e, label, value.clone())).collect();
            }
            out
        }
        "label_copy" | "label_move" => {
            let pairs = pairs_of(name, strings_from(1)?)?;
            let mut out = any_vector_arg(ev.eval(&args[0], t)?)?;
            for (source, destination) in &pairs {
                out = out
                    .into_iter()
                    .map(|e| {
                        // A missing source leaves the destination alone.
                        let Some(value) = e.labels.get(source).filter(|v| !v.is_empty()).map(str::to_string) else { return e };
                        let e = with_label(e, destination, value);
                        if name == "label_move" && source != destination { with_label(e, source, String::new()) } else { e }
                    })
                    .collect();
            }
            out
        }
        "label_del" | "label_keep" => {
            let listed = strings_from(1)?;
            let keep = name == "label_keep";
            any_vector_arg(ev.eval(&args[0], t)?)?
                .into_iter()
                .map(|e| {
                    let labels = Labels::from_pairs(e.labels.iter().filter(|l| listed.iter().any(|n| n == l.name) == keep).map(|l| (l.name.to_string(), l.value.to_string())));
                    let drop_name = e.drop_name && labels.get(METRIC_NAME_LABEL).is_some();
                    e.relabelled(labels, drop_name)
                })
                .collect()
        }
        // Each listed value of `label` becomes the one after it; a series without the label
        // has the value "" (which a pair may map too), and a value mapped to "" removes it.
        "label_map" => {
            let label = string_arg(ev.eval(&args[1], t)?)?;
            let map: HashMap<String, String> = pairs_of(name, strings_from(2)?)?.into_iter().collect();
            any_vector_arg(ev.eval(&args[0], t)?)?
                .into_iter()
                .map(|e| match map.get(output_labels(&e).get(&label).unwrap_or("")) {
                    Some(value) => with_label(e, &label, value.clone()),
                    None => e,
                })
                .collect()
        }
        // The series whose listed labels all have one value (a missing label's being "").
        "labels_equal" => {
            let listed = strings_from(1)?;
            let input = any_vector_arg(ev.eval(&args[0], t)?)?;
            let equal = |e: &Elem| {
                let labels = output_labels(e);
                let mut values = listed.iter().map(|l| labels.get(l).unwrap_or(""));
                let first = values.next().unwrap_or("");
                values.all(|v| v == first)
            };
            return Ok(StepValue::Vector(input.into_iter().filter(equal).collect()));
        }
        "label_uppercase" | "label_lowercase" => {
            let listed = strings_from(1)?;
            let mut out = any_vector_arg(ev.eval(&args[0], t)?)?;
            for label in &listed {
                out = out
                    .into_iter()
                    .map(|e| {
                        let Some(value) = e.labels.get(label) else { return e };
                        let changed = if name == "label_uppercase" { value.to_uppercase() } else { value.to_lowercase() };
                        with_label(e, label, changed)
                    })
                    .collect();
            }
            out
        }
        "label_value" => {
            let label = string_arg(ev.eval(&args[1], t)?)?;
            // A value that is no number gives no point, as VictoriaMetrics' NaN is none.
            let parsed = |e: &Elem| e.labels.get(&label).and_then(|v| v.trim().parse::<f64>().ok()).filter(|v| !v.is_nan());
            let input = any_vector_arg(ev.eval(&args[0], t)?)?;
            let out = input.into_iter().filter(|e| e.histogram.is_none()).filter_map(|e| parsed(&e).map(|v| Elem::new(e.labels, v, true)));
            return Ok(StepValue::Vector(out.collect()));
        }
        "label_match" | "label_mismatch" => {
            let (label, pattern) = (string_arg(ev.eval(&args[1], t)?)?, string_arg(ev.eval(&args[2], t)?)?);
            let re = Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| Error::Execution(format!("invalid regular expression in {name}(): {pattern}: {e}")))?;
            let want_match = name == "label_match";
            let input = any_vector_arg(ev.eval(&args[0], t)?)?;
            return Ok(StepValue::Vector(input.into_iter().filter(|e| re.is_match(e.labels.get(&label).unwrap_or("")) == want_match).collect()));
        }
        "label_transform" => {
            let (label, pattern, replacement) = (string_arg(ev.eval(&args[1], t)?)?, string_arg(ev.eval(&args[2], t)?)?, string_arg(ev.eval(&args[3], t)?)?);
            // Every match anywhere in the value is replaced (label_replace's is anchored).
            let re = Regex::new(&format!("(?s:{pattern})")).map_err(|e| Error::Execution(format!("invalid regular expression in {name}(): {pattern}: {e}")))?;
            any_vector_arg(ev.eval(&args[0], t)?)?
                .into_iter()
                .map(|e| {
                    let Some(value) = e.labels.get(&label).filter(|v| re.is_match(v)) else { return e };
                    let replaced = re.replace_all(value, |caps: &regex::Captures<'_>| expand(&replacement, caps)).into_owned();
                    with_label(e, &label, replaced)
                })
                .collect()
        }
        "label_graphite_group" => {
            let group_args = args.get(1..).unwrap_or_default();
            let mut groups = Vec::with_capacity(group_args.len());
            for arg in group_args {
                let group = scalar_arg(ev.eval(arg, t)?)?;
                if !group.is_finite() {
                    return Err(Error::Execution(format!("{name}(): a group number must be a finite number, got {group}")));
                }
                // A negative or too large group number stands for an empty part.
                groups.push(usize::try_from(group as i64).ok());
            }
            any_vector_arg(ev.eval(&args[0], t)?)?
                .into_iter()
                .map(|e| {
                    let parts: Vec<&str> = e.labels.get(METRIC_NAME_LABEL).unwrap_or("").split('.').collect();
                    let picked: Vec<&str> = groups.iter().map(|g| g.and_then(|g| parts.get(g).copied()).unwrap_or("")).collect();
                    let joined = picked.join(".");
                    with_label(e, METRIC_NAME_LABEL, joined)
                })
                .collect()
        }
        _ => return Err(Error::Execution(format!("{name} is no label function"))),
    };
    Ok(StepValue::Vector(check_unique(out)?))
}

/// The labels `e` will be output with (its name gone when its removal is pending).
fn output_labels(e: &Elem) -> Labels {
    shown_labels(&e.labels, e.drop_name)
}

/// `labels` as they will be output: without the name when it is to be dropped.
fn shown_labels(labels: &Labels, drop_name: bool) -> Labels {
    if !drop_name {
        return labels.clone();
    }
    Labels::from_pairs(labels.iter().filter(|l| l.name != METRIC_NAME_LABEL).map(|l| (l.name.to_string(), l.value.to_string())))
}

/// `e` with `label` set to `value` (an empty value removes it); setting the name makes the
/// series a named one again.
fn with_label(e: Elem, label: &str, value: String) -> Elem {
    let drop_name = e.drop_name && label != METRIC_NAME_LABEL;
    let labels = set_label(&e.labels, label, value);
    e.relabelled(labels, drop_name)
}

/// `(name, value)` or `(source, destination)` pairs from a flat list of strings.
fn pairs_of(function: &str, strings: Vec<String>) -> Result<Vec<(String, String)>, Error> {
    if !strings.len().is_multiple_of(2) {
        return Err(Error::Execution(format!("{function}() needs its label arguments in pairs, got {}", strings.len())));
    }
    let mut pairs = Vec::with_capacity(strings.len() / 2);
    let mut strings = strings.into_iter();
    while let (Some(a), Some(b)) = (strings.next(), strings.next()) {
        pairs.push((a, b));
    }
    Ok(pairs)
}

/// The series with every `label="value"` pair they all share removed (the name included).
fn drop_common_labels(series: Vec<Column>) -> Vec<Column> {
    let shown: Vec<Labels> = series.iter().map(|c| shown_labels(&c.labels, c.drop_name)).collect();
    let mut counts: HashMap<(String, String), usize> = HashMap::new();
    for labels in &shown {
        for l in labels.iter() {
            *counts.entry((l.name.to_string(), l.value.to_string())).or_default() += 1;
        }
    }
    let common: HashSet<&str> = counts.iter().filter(|(_, &n)| n == series.len()).map(|((name, _), _)| name.as_str()).collect();
    series
        .into_iter()
        .zip(&shown)
        .map(|(column, labels)| {
            let labels = Labels::from_pairs(labels.iter().filter(|l| !common.contains(l.name)).map(|l| (l.name.to_string(), l.value.to_string())));
            Column { labels, drop_name: false, ..column }
        })
        .collect()
}
