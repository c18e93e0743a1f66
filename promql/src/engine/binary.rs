//! Binary operators: scalar/scalar, vector/scalar and one-to-one vector/vector matching
//! on all labels but the metric name (modifiers `on`/`ignoring`/`group_*`: issue 4).

use std::collections::HashMap;

use tsdb::Labels;

use super::eval::drop_name;
use super::Error;
use crate::ast::BinaryOp;

/// Applies an arithmetic op, or a comparison as 1/0.
fn apply(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Mod => a % b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Eq => f64::from(u8::from(a == b)),
        BinaryOp::Ne => f64::from(u8::from(a != b)),
        BinaryOp::Gt => f64::from(u8::from(a > b)),
        BinaryOp::Lt => f64::from(u8::from(a < b)),
        BinaryOp::Ge => f64::from(u8::from(a >= b)),
        BinaryOp::Le => f64::from(u8::from(a <= b)),
    }
}

pub(super) fn binary_scalar(op: BinaryOp, a: f64, b: f64, _return_bool: bool) -> f64 {
    apply(op, a, b)
}

/// `vector op scalar` (or `scalar op vector` when `scalar_left`).
pub(super) fn binary_vector_scalar(op: BinaryOp, v: Vec<(Labels, f64)>, s: f64, scalar_left: bool, return_bool: bool) -> Vec<(Labels, f64)> {
    v.into_iter()
        .filter_map(|(labels, x)| {
            let (a, b) = if scalar_left { (s, x) } else { (x, s) };
            let r = apply(op, a, b);
            if op.is_comparison() {
                if return_bool {
                    Some((drop_name(labels), r))
                } else if r == 1.0 {
                    // A filter keeps the vector element's own value and labels.
                    Some((labels, x))
                } else {
                    None
                }
            } else {
                Some((drop_name(labels), r))
            }
        })
        .collect()
}

/// One-to-one matching on the label set without `__name__`.
pub(super) fn binary_vector_vector(op: BinaryOp, lhs: Vec<(Labels, f64)>, rhs: Vec<(Labels, f64)>, return_bool: bool) -> Result<Vec<(Labels, f64)>, Error> {
    let mut right: HashMap<Labels, f64> = HashMap::with_capacity(rhs.len());
    for (labels, v) in rhs {
        let key = drop_name(labels.clone());
        if right.insert(key, v).is_some() {
            return Err(Error::Execution(format!(
                "found duplicate series for the match group {} on the right hand-side of the operation: many-to-many matching not allowed: matching labels must be unique on one side",
                drop_name(labels)
            )));
        }
    }
    let mut seen: HashMap<Labels, ()> = HashMap::new();
    let mut out = Vec::new();
    for (labels, a) in lhs {
        let key = drop_name(labels.clone());
        let Some(&b) = right.get(&key) else { continue };
        if seen.insert(key.clone(), ()).is_some() {
            return Err(Error::Execution(format!("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right) for {key}")));
        }
        let r = apply(op, a, b);
        if op.is_comparison() {
            if return_bool {
                out.push((key, r));
            } else if r == 1.0 {
                out.push((labels, a));
            }
        } else {
            out.push((key, r));
        }
    }
    Ok(out)
}
