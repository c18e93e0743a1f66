//! Binary operators: scalar/scalar, vector/scalar, and vector/vector with Prometheus'
//! matching (on/ignoring, group_left/right with include labels, set operators) and its
//! exact errors for ambiguous matches.

use std::collections::{HashMap, HashSet};

use tsdb::{Label, Labels, METRIC_NAME_LABEL};

use super::eval::{check_unique, drop_name, StepValue};
use super::Error;
use crate::ast::{Binary, BinaryOp, Cardinality, VectorMatching};

/// Arithmetic result, or for comparisons (1.0/0.0 as "true/false").
fn apply(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Atan2 => a.atan2(b),
        BinaryOp::Eq => f64::from(u8::from(a == b)),
        BinaryOp::Ne => f64::from(u8::from(a != b)),
        BinaryOp::Gt => f64::from(u8::from(a > b)),
        BinaryOp::Lt => f64::from(u8::from(a < b)),
        BinaryOp::Ge => f64::from(u8::from(a >= b)),
        BinaryOp::Le => f64::from(u8::from(a <= b)),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => unreachable!("set operators never reach element arithmetic"),
    }
}

/// (value, keep) for one pair of operands, `lhs_value` being what a filter keeps.
fn element(op: BinaryOp, a: f64, b: f64, return_bool: bool, lhs_value: f64) -> (f64, bool) {
    let r = apply(op, a, b);
    if !op.is_comparison() {
        return (r, true);
    }
    if return_bool {
        (r, true)
    } else {
        (lhs_value, r == 1.0)
    }
}

pub(super) fn eval_binary(b: &Binary, l: StepValue, r: StepValue) -> Result<StepValue, Error> {
    let drops_name = !b.op.is_comparison() || b.return_bool;
    Ok(match (l, r) {
        (StepValue::Scalar(x), StepValue::Scalar(y)) => StepValue::Scalar(apply(b.op, x, y)),
        (StepValue::Vector(v), StepValue::Scalar(s)) => StepValue::Vector(check_unique(
            v.into_iter()
                .filter_map(|(labels, x)| {
                    let (value, keep) = element(b.op, x, s, b.return_bool, x);
                    keep.then(|| (if drops_name { drop_name(labels) } else { labels }, value))
                })
                .collect(),
        )?),
        (StepValue::Scalar(s), StepValue::Vector(v)) => StepValue::Vector(check_unique(
            v.into_iter()
                .filter_map(|(labels, x)| {
                    let (value, keep) = element(b.op, s, x, b.return_bool, x);
                    keep.then(|| (if drops_name { drop_name(labels) } else { labels }, value))
                })
                .collect(),
        )?),
        (StepValue::Vector(lhs), StepValue::Vector(rhs)) => {
            let matching = b.matching.clone().unwrap_or(VectorMatching { card: Cardinality::OneToOne, labels: Vec::new(), on: false, include: Vec::new() });
            StepValue::Vector(match b.op {
                BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => set_operation(b.op, &matching, lhs, rhs),
                _ => vector_vector(b, &matching, lhs, rhs)?,
            })
        }
        _ => return Err(Error::Execution("binary operators need scalar or instant vector operands".into())),
    })
}

/// The matching key of a label set.
fn signature(labels: &Labels, matching: &VectorMatching) -> Vec<(String, String)> {
    labels
        .iter()
        .filter(|l| {
            if matching.on {
                matching.labels.iter().any(|n| n == &l.name)
            } else {
                l.name != METRIC_NAME_LABEL && !matching.labels.iter().any(|n| n == &l.name)
            }
        })
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

fn set_operation(op: BinaryOp, matching: &VectorMatching, lhs: Vec<(Labels, f64)>, rhs: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    match op {
        BinaryOp::And => {
            let right: HashSet<_> = rhs.iter().map(|(l, _)| signature(l, matching)).collect();
            lhs.into_iter().filter(|(l, _)| right.contains(&signature(l, matching))).collect()
        }
        BinaryOp::Unless => {
            let right: HashSet<_> = rhs.iter().map(|(l, _)| signature(l, matching)).collect();
            lhs.into_iter().filter(|(l, _)| !right.contains(&signature(l, matching))).collect()
        }
        _ => {
            let left: HashSet<_> = lhs.iter().map(|(l, _)| signature(l, matching)).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|(l, _)| !left.contains(&signature(l, matching))));
            out
        }
    }
}

fn format_sig(sig: &[(String, String)]) -> String {
    let inner: Vec<String> = sig.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn vector_vector(b: &Binary, matching: &VectorMatching, lhs: Vec<(Labels, f64)>, rhs: Vec<(Labels, f64)>) -> Result<Vec<(Labels, f64)>, Error> {
    // group_right: the "many" side is the right one; swap and remember.
    let swapped = matching.card == Cardinality::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Vec<(String, String)>, (Labels, f64)> = HashMap::with_capacity(one.len());
    for (labels, v) in one {
        let sig = signature(&labels, matching);
        if one_by_sig.contains_key(&sig) {
            let side = if swapped { "left" } else { "right" };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{labels}]; many-to-many matching not allowed: matching labels must be unique on one side",
                format_sig(&sig)
            )));
        }
        one_by_sig.insert(sig, (labels, v));
    }
    let drops_name = !b.op.is_comparison() || b.return_bool;
    let mut matched: HashSet<Vec<(String, String)>> = HashSet::new();
    let mut inserted: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for (labels, v) in many {
        let sig = signature(&labels, matching);
        let Some((one_labels, one_value)) = one_by_sig.get(&sig) else { continue };
        let (a, c) = if swapped { (*one_value, v) } else { (v, *one_value) };
        // Ambiguous one-to-one matches are errors even when a filter would drop them.
        if matching.card == Cardinality::OneToOne && !matched.insert(sig) {
            return Err(Error::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let (value, keep) = element(b.op, a, c, b.return_bool, a);
        if !keep {
            continue;
        }
        let result_labels = result_labels(&labels, one_labels, matching, drops_name);
        if matching.card != Cardinality::OneToOne && !inserted.insert(result_labels.clone()) {
            return Err(Error::Execution("multiple matches for labels: grouping labels must ensure unique matches".into()));
        }
        out.push((result_labels, value));
    }
    Ok(out)
}

fn result_labels(many: &Labels, one: &Labels, matching: &VectorMatching, drops_name: bool) -> Labels {
    let mut labels: Vec<Label> = many.iter().cloned().collect();
    if drops_name {
        labels.retain(|l| l.name != METRIC_NAME_LABEL);
    }
    if matching.card == Cardinality::OneToOne {
        if matching.on {
            labels.retain(|l| matching.labels.contains(&l.name));
        } else {
            labels.retain(|l| !matching.labels.contains(&l.name));
        }
    }
    for name in &matching.include {
        labels.retain(|l| &l.name != name);
        if let Some(v) = one.get(name) {
            labels.push(Label { name: name.clone(), value: v.to_string() });
        }
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    Labels::from_sorted(labels)
}
