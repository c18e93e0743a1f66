//! Binary operators: scalar/scalar, vector/scalar, and vector/vector with Prometheus'
//! matching (on/ignoring, group_left/right with include labels, set operators) and its
//! exact errors for ambiguous matches. As in Prometheus, one step of an operator reports at
//! most one annotation: that of the last pair of operands that gave one (incompatible
//! sample types, a histogram layout or counter reset conflict, reconciled custom buckets).

use std::collections::{HashMap, HashSet};

use std::sync::Arc;

use tsdb::{FloatHistogram, Label, Labels, METRIC_NAME_LABEL};

use super::annotations::Annotation;
use super::eval::{Elem, Evaluator, StepValue, METADATA_LABELS};
use super::histogram_eval::{histogram_binary, BinaryValue, Operand};
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
        // Trimming applies to histograms only: a float operand is dropped (`element`).
        BinaryOp::TrimUpper | BinaryOp::TrimLower => f64::NAN,
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless | BinaryOp::If | BinaryOp::IfNot | BinaryOp::Default => {
            unreachable!("set and filter operators never reach element arithmetic")
        }
    }
}

/// What trimming two floats gives: nothing, and an info.
fn trimmed_floats(op: BinaryOp) -> Annotation {
    Annotation::IncompatibleTypes { lhs: "float", op, rhs: "float" }
}

/// (value, keep) for one pair of float operands, `lhs_value` being what a filter keeps.
/// Trimming (`trimmed_floats`) keeps nothing.
fn element(op: BinaryOp, a: f64, b: f64, return_bool: bool, lhs_value: f64) -> (f64, bool) {
    if matches!(op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
        return (lhs_value, false);
    }
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

pub(super) fn eval_binary(ev: &Evaluator<'_>, b: &Binary, l: StepValue, r: StepValue) -> Result<StepValue, Error> {
    eval_binary_keeping(ev, b, l, r, Failed::Dropped)
}

/// What a comparison without `bool` does with an element it does not hold for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// Filtered away, as PromQL does.
    Dropped,
    /// Kept under its result labels with the value NaN, as VictoriaMetrics' comparisons leave
    /// a series they filter: MetricsQL's `default` fills those (`default_at`).
    Valueless,
}

fn eval_binary_keeping(ev: &Evaluator<'_>, b: &Binary, l: StepValue, r: StepValue, failed: Failed) -> Result<StepValue, Error> {
    // Arithmetic and `bool` comparisons change what the value means: the name goes (delayed).
    let drops_name = (b.op.is_arithmetic() || b.return_bool) && !b.keep_metric_names;
    // The annotation of the last pair of operands that gave one.
    let mut last: Option<Annotation> = None;
    if b.op.is_metricsql_filter() {
        return metricsql_filter(b, l, r).map(StepValue::Vector);
    }
    let value = match (l, r) {
        (StepValue::Scalar(x), StepValue::Scalar(y)) => StepValue::Scalar(apply(b.op, x, y)),
        (StepValue::Vector(v), StepValue::Scalar(s)) => StepValue::Vector(vector_scalar::<false>(b, v, s, drops_name, failed, &mut last)),
        (StepValue::Scalar(s), StepValue::Vector(v)) => StepValue::Vector(vector_scalar::<true>(b, v, s, drops_name, failed, &mut last)),
        (StepValue::Vector(lhs), StepValue::Vector(rhs)) => {
            let matching = b.matching.clone().unwrap_or_else(VectorMatching::one_to_one);
            StepValue::Vector(match b.op {
                BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => set_operation(b.op, &matching, lhs, rhs),
                _ => vector_vector(b, &matching, lhs, rhs, failed, &mut last)?,
            })
        }
        _ => return Err(Error::Execution("binary operators need scalar or instant vector operands".into())),
    };
    if let Some(annotation) = last {
        ev.annotate(annotation, b.pos);
    }
    Ok(value)
}

/// MetricsQL's `if` and `ifnot` at one step: the left elements that the right operand has a
/// value for (not: has none), matched as `and` matches; a scalar right operand has a value
/// unless it is NaN, and so does a right element. `default` needs the whole grid
/// (`default_at`) and never comes here.
fn metricsql_filter(b: &Binary, l: StepValue, r: StepValue) -> Result<Vec<Elem>, Error> {
    let StepValue::Vector(left) = l else {
        return Err(Error::Execution(format!("\"{}\" needs an instant vector on its left", b.op.as_str())));
    };
    let keep_when_present = match b.op {
        BinaryOp::If => true,
        BinaryOp::IfNot => false,
        _ => return Err(Error::Execution(format!("\"{}\" is evaluated over the whole grid", b.op.as_str()))),
    };
    match r {
        StepValue::Scalar(s) => Ok(if s.is_nan() != keep_when_present { left } else { Vec::new() }),
        StepValue::Vector(right) => {
            // `and`/`unless` over the right elements that have a value.
            let matching = b.matching.clone().unwrap_or_else(VectorMatching::one_to_one);
            let with_values: Vec<Elem> = right.into_iter().filter(|e| e.histogram.is_some() || !e.value.is_nan()).collect();
            let op = if keep_when_present { BinaryOp::And } else { BinaryOp::Unless };
            Ok(set_operation(op, &matching, left, with_values))
        }
        _ => Err(Error::Execution(format!("\"{}\" needs a scalar or an instant vector on its right", b.op.as_str()))),
    }
}

/// MetricsQL's `q default r` at step `t`, computed for the whole grid the first time a step
/// asks (`series_wide_at`): `q`'s elements, and for each series `q` has at another step of the
/// grid but not at this one (or only as NaN), the value of `r` there (a scalar, or the element
/// of `r` with the same matching key), under the series' labels. When `q` has no series on the
/// whole grid, `r`'s elements (a scalar: one element without labels), as VictoriaMetrics gives.
pub(super) fn default_at(ev: &Evaluator<'_>, b: &Binary, t: i64) -> Result<Vec<Elem>, Error> {
    ev.series_wide_at(b as *const Binary as usize, t, |timestamps| {
        let matching = b.matching.clone().unwrap_or_else(VectorMatching::one_to_one);
        // A comparison without `bool` on the left keeps the elements it does not hold for,
        // valueless (VictoriaMetrics keeps the series it filters, so `(x > 0) default 0` is 0
        // for a series x never exceeds 0).
        let filter = match super::functions::unparen(&b.lhs) {
            crate::ast::Expr::Binary(comparison) if comparison.op.is_comparison() && !comparison.return_bool => Some(comparison),
            _ => None,
        };
        let mut steps = Vec::with_capacity(timestamps.len());
        for &at in timestamps {
            ev.check_cancelled()?;
            let left = match filter {
                Some(comparison) => {
                    let (l, r) = (ev.eval(&comparison.lhs, at)?, ev.eval(&comparison.rhs, at)?);
                    eval_binary_keeping(ev, comparison, l, r, Failed::Valueless)?
                }
                None => ev.eval(&b.lhs, at)?,
            };
            let StepValue::Vector(left) = left else {
                return Err(Error::Execution("\"default\" needs an instant vector on its left".into()));
            };
            steps.push((left, ev.eval(&b.rhs, at)?));
        }
        let has_value = |e: &Elem| e.histogram.is_some() || !e.value.is_nan();
        // The left operand's series on the grid, in order of first appearance: those with a
        // value, and those a comparison left valueless.
        let mut series: Vec<(Labels, bool)> = Vec::new();
        let mut known: HashSet<Labels> = HashSet::new();
        for e in steps.iter().flat_map(|(left, _)| left.iter()).filter(|e| filter.is_some() || has_value(e)) {
            if !known.contains(&e.labels) {
                known.insert(e.labels.clone());
                series.push((e.labels.clone(), e.drop_name));
            }
        }
        let mut out = Vec::with_capacity(steps.len());
        for (left, right) in steps {
            if series.is_empty() {
                out.push(match right {
                    StepValue::Scalar(v) if !v.is_nan() => vec![Elem::new(Labels::from_pairs(Vec::<(String, String)>::new()), v, false)],
                    StepValue::Vector(v) => v,
                    _ => Vec::new(),
                });
                continue;
            }
            let mut filled: Vec<Elem> = left.into_iter().filter(|e| has_value(e)).collect();
            let present: HashSet<Labels> = filled.iter().map(|e| e.labels.clone()).collect();
            for (labels, drop_name) in series.iter().filter(|(labels, _)| !present.contains(labels)) {
                let value = match &right {
                    StepValue::Scalar(v) => Some(*v),
                    StepValue::Vector(r) => {
                        let key = signature(labels, &matching);
                        r.iter().find(|e| e.histogram.is_none() && !e.value.is_nan() && signature(&e.labels, &matching) == key).map(|e| e.value)
                    }
                    _ => None,
                };
                if let Some(v) = value.filter(|v| !v.is_nan()) {
                    filled.push(Elem::new(labels.clone(), v, *drop_name));
                }
            }
            out.push(filled);
        }
        Ok(out)
    })
}

/// Vector `op` scalar (`SCALAR_LEFT`: scalar `op` vector), element by element; a filter keeps
/// the vector's value.
fn vector_scalar<const SCALAR_LEFT: bool>(b: &Binary, v: Vec<Elem>, s: f64, drops_name: bool, failed: Failed, last: &mut Option<Annotation>) -> Vec<Elem> {
    if matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower) && v.iter().any(|e| e.histogram.is_none()) {
        *last = Some(trimmed_floats(b.op));
    }
    v.into_iter()
        .filter_map(|e| {
            if e.histogram.is_some() {
                let (lhs, rhs) = if SCALAR_LEFT { (Operand::Float(s), Operand::of(&e)) } else { (Operand::of(&e), Operand::Float(s)) };
                let (value, annotation) = histogram_binary(b.op, lhs, rhs, b.return_bool);
                if annotation.is_some() {
                    *last = annotation;
                }
                return Some(value?.into_elem(e.labels, e.drop_name || drops_name));
            }
            let (x, y) = if SCALAR_LEFT { (s, e.value) } else { (e.value, s) };
            let (value, keep) = element(b.op, x, y, b.return_bool, e.value);
            if !keep && failed == Failed::Valueless && b.op.is_comparison() {
                return Some(Elem::new(e.labels, f64::NAN, e.drop_name || drops_name));
            }
            keep.then(|| Elem::new(e.labels, value, e.drop_name || drops_name))
        })
        .collect()
}

/// Whether label `name` takes part in matching: listed in `on (...)`, or, with `ignoring
/// (...)`, neither listed nor the metric name.
fn matches_on(matching: &VectorMatching, name: &str) -> bool {
    let listed = matching.labels.iter().any(|n| n == name);
    if matching.on { listed } else { !listed && name != METRIC_NAME_LABEL }
}

/// The matching key of a label set.
fn signature(labels: &Labels, matching: &VectorMatching) -> Vec<(String, String)> {
    labels
        .iter()
        .filter(|l| matches_on(matching, l.name))
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn set_operation(op: BinaryOp, matching: &VectorMatching, lhs: Vec<Elem>, rhs: Vec<Elem>) -> Vec<Elem> {
    match op {
        BinaryOp::And => {
            let right: HashSet<_> = rhs.iter().map(|e| signature(&e.labels, matching)).collect();
            lhs.into_iter().filter(|e| right.contains(&signature(&e.labels, matching))).collect()
        }
        BinaryOp::Unless => {
            let right: HashSet<_> = rhs.iter().map(|e| signature(&e.labels, matching)).collect();
            lhs.into_iter().filter(|e| !right.contains(&signature(&e.labels, matching))).collect()
        }
        _ => {
            let left: HashSet<_> = lhs.iter().map(|e| signature(&e.labels, matching)).collect();
            let mut out = lhs;
            out.extend(rhs.into_iter().filter(|e| !left.contains(&signature(&e.labels, matching))));
            out
        }
    }
}

fn format_sig(sig: &[(String, String)]) -> String {
    let inner: Vec<String> = sig.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// A match group's key: the (name, value) pairs `on`/`ignoring` select.
type Signature = Vec<(String, String)>;

/// The labels a fill value stands in with: the matching labels of the present operand
/// (Prometheus' `MatchLabels`: `on` keeps those, `ignoring` drops those and the name).
fn fill_labels(labels: &Labels, matching: &VectorMatching) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| matches_on(matching, l.name)))
}

/// One-to-one and many-to-one/one-to-many matching, with `fill*` values standing in for a
/// missing operand. As in Prometheus, after the `group_right` swap `fill.rhs` fills the
/// "one" side and `fill.lhs` the "many" side.
fn vector_vector(b: &Binary, matching: &VectorMatching, lhs: Vec<Elem>, rhs: Vec<Elem>, failed: Failed, last: &mut Option<Annotation>) -> Result<Vec<Elem>, Error> {
    let fill = matching.fill;
    if (lhs.is_empty() && rhs.is_empty()) || ((lhs.is_empty() || rhs.is_empty()) && fill.is_empty()) {
        return Ok(Vec::new());
    }
    // group_right: the "many" side is the right one; swap and remember.
    let swapped = matching.card == Cardinality::OneToMany;
    let (many, one) = if swapped { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Signature, usize> = HashMap::with_capacity(one.len());
    let mut ones: Vec<(Signature, Labels, f64, Option<Arc<FloatHistogram>>)> = Vec::with_capacity(one.len());
    for Elem { labels, value: v, histogram, .. } in one {
        let sig = signature(&labels, matching);
        if one_by_sig.contains_key(&sig) {
            let side = if swapped { "left" } else { "right" };
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{labels}]; many-to-many matching not allowed: matching labels must be unique on one side",
                format_sig(&sig)
            )));
        }
        one_by_sig.insert(sig.clone(), ones.len());
        ones.push((sig, labels, v, histogram));
    }
    // Arithmetic removes the name at once (as Prometheus does even with delayed name removal);
    // `bool` comparisons remove it later; filtering comparisons keep what the left side had.
    let drops_name_now = b.op.is_arithmetic() && !b.keep_metric_names;
    let mut matched: HashSet<Signature> = HashSet::new();
    let mut inserted: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    // `only_unmatched`: a fill row for a "one" element, skipped when it found its partner.
    let mut combine = |many_labels: &Labels, many_value: Operand<'_>, many_drop: bool, one_labels: &Labels, one_value: Operand<'_>, sig: &Signature, only_unmatched: bool| {
        if only_unmatched && matched.contains(sig) {
            return Ok(());
        }
        let (a, c) = if swapped { (one_value, many_value) } else { (many_value, one_value) };
        // Ambiguous one-to-one matches are errors even when a filter would drop them.
        if !matched.insert(sig.clone()) && matching.card == Cardinality::OneToOne {
            return Err(Error::Execution("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()));
        }
        let value = match (a, c) {
            (Operand::Float(a), Operand::Float(c)) => {
                let (value, keep) = element(b.op, a, c, b.return_bool, a);
                if !keep && matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
                    *last = Some(trimmed_floats(b.op));
                }
                if !keep && failed == Failed::Valueless && b.op.is_comparison() {
                    // Not a result: exempt from the uniqueness check below.
                    out.push(Elem::new(result_labels(many_labels, one_labels, matching, drops_name_now), f64::NAN, many_drop && !drops_name_now));
                    return Ok(());
                }
                keep.then_some(BinaryValue::Float(value))
            }
            _ => {
                let (value, annotation) = histogram_binary(b.op, a, c, b.return_bool);
                if annotation.is_some() {
                    *last = annotation;
                }
                value
            }
        };
        let Some(value) = value else {
            return Ok(());
        };
        let result_labels = result_labels(many_labels, one_labels, matching, drops_name_now);
        if matching.card != Cardinality::OneToOne && !inserted.insert(result_labels.clone()) {
            return Err(Error::Execution("multiple matches for labels: grouping labels must ensure unique matches".into()));
        }
        out.push(value.into_elem(result_labels, (b.return_bool && !b.keep_metric_names) || (many_drop && !drops_name_now)));
        Ok(())
    };
    for e in &many {
        let sig = signature(&e.labels, matching);
        match one_by_sig.get(&sig) {
            Some(&i) => {
                let one = &ones[i];
                let one_value = one.3.as_ref().map_or(Operand::Float(one.2), Operand::Histogram);
                combine(&e.labels, Operand::of(e), e.drop_name, &one.1, one_value, &sig, false)?
            }
            None => {
                let Some(fill_value) = fill.rhs else { continue };
                combine(&e.labels, Operand::of(e), e.drop_name, &fill_labels(&e.labels, matching), Operand::Float(fill_value), &sig, false)?;
            }
        }
    }
    if let Some(fill_value) = fill.lhs {
        for (sig, labels, v, histogram) in &ones {
            let one_value = histogram.as_ref().map_or(Operand::Float(*v), Operand::Histogram);
            combine(&fill_labels(labels, matching), Operand::Float(fill_value), false, labels, one_value, sig, true)?;
        }
    }
    Ok(out)
}

fn result_labels(many: &Labels, one: &Labels, matching: &VectorMatching, drops_name: bool) -> Labels {
    let mut labels: Vec<Label> = many.to_vec();
    if drops_name {
        labels.retain(|l| !METADATA_LABELS.contains(&l.name.as_str()));
    }
    if matching.card == Cardinality::OneToOne {
        if matching.on {
            labels.retain(|l| matching.labels.contains(&l.name));
        } else {
            labels.retain(|l| !matching.labels.contains(&l.name));
        }
    }
    // MetricsQL's `group_left(*)`: the "one" side's labels but its name and the `on` labels.
    let copied: Vec<&str> = if matching.include_all {
        one.iter().map(|l| l.name).filter(|n| *n != tsdb::METRIC_NAME_LABEL && !(matching.on && matching.labels.iter().any(|o| o == n))).collect()
    } else {
        matching.include.iter().map(String::as_str).collect()
    };
    for name in copied {
        // With MetricsQL's `prefix`, a copied label is named so; one the "one" side lacks
        // still removes the label of its own name, as VictoriaMetrics does.
        let target = if matching.include_prefix.is_empty() { name.to_string() } else { format!("{}{name}", matching.include_prefix) };
        match one.get(name) {
            Some(v) => {
                labels.retain(|l| l.name != target);
                labels.push(Label { name: target, value: v.to_string() });
            }
            None => labels.retain(|l| l.name != name),
        }
    }
    labels.sort_by(|a, b| a.name.cmp(&b.name));
    Labels::from_sorted(labels)
}
