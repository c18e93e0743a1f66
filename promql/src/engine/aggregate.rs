//! Aggregation operators over one step's vector: grouping by/without, and sum, avg, min,
//! max, count, group, stddev, stdvar, topk, bottomk, quantile, count_values, limitk.

use std::collections::HashMap;

use tsdb::{Label, Labels, METRIC_NAME_LABEL};

use super::eval::{Elem, StepValue};
use super::stats;
use super::Error;
use crate::ast::{Aggregate, AggregateOp};

fn group_labels(labels: &Labels, a: &Aggregate) -> Labels {
    let kept: Vec<Label> = labels
        .iter()
        .filter(|l| {
            if a.without {
                l.name != METRIC_NAME_LABEL && !a.grouping.contains(&l.name)
            } else {
                a.grouping.contains(&l.name)
            }
        })
        .cloned()
        .collect();
    Labels::from_sorted(kept)
}

fn scalar_param(param: &Option<StepValue>, op: AggregateOp) -> Result<f64, Error> {
    match param {
        Some(StepValue::Scalar(v)) => Ok(*v),
        _ => Err(Error::Execution(format!("{} needs a scalar parameter", op.name()))),
    }
}

fn k_param(param: &Option<StepValue>, op: AggregateOp) -> Result<usize, Error> {
    let k = scalar_param(param, op)?;
    if k.is_nan() {
        return Err(Error::Execution(format!("Parameter value is NaN for {}", op.name())));
    }
    if k >= i64::MAX as f64 {
        return Err(Error::Execution(format!("Scalar value {k} overflows int64")));
    }
    Ok(if k < 1.0 { 0 } else { k as usize })
}

/// The fraction of the label space `limit_ratio` keeps a series at: its Prometheus label hash
/// (xxHash64 over `name 0xff value 0xff` ...) scaled to [0, 1].
fn ratio_offset(labels: &Labels) -> f64 {
    let mut bytes = Vec::with_capacity(64);
    for l in labels.iter() {
        bytes.extend_from_slice(l.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(l.value.as_bytes());
        bytes.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&bytes, 0) as f64 / u64::MAX as f64
}

pub(super) fn aggregate(a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>) -> Result<Vec<Elem>, Error> {
    // Parameters are checked even when there is nothing to aggregate.
    if matches!(a.op, AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk) {
        k_param(&param, a.op)?;
    }
    if a.op == AggregateOp::LimitRatio {
        let r = scalar_param(&param, a.op)?;
        if r.is_nan() {
            return Err(Error::Execution("Ratio value is NaN".into()));
        }
        let r = r.clamp(-1.0, 1.0);
        return Ok(input
            .into_iter()
            .filter(|e| {
                let offset = ratio_offset(&e.labels);
                if r >= 0.0 { offset < r } else { offset >= 1.0 + r }
            })
            .collect());
    }
    // Groups in order of first appearance, found by borrowed label signatures (one `Labels`
    // is built per group, not per element).
    let mut keys: Vec<Labels> = Vec::new();
    let mut group_of: Vec<usize> = Vec::with_capacity(input.len());
    {
        let mut index: HashMap<Vec<&str>, usize> = HashMap::new();
        for e in &input {
            let signature: Vec<&str> = e
                .labels
                .iter()
                .filter(|l| if a.without { l.name != METRIC_NAME_LABEL && !a.grouping.contains(&l.name) } else { a.grouping.contains(&l.name) })
                .flat_map(|l| [l.name.as_str(), l.value.as_str()])
                .collect();
            let next = keys.len();
            let g = *index.entry(signature).or_insert(next);
            if g == next {
                keys.push(group_labels(&e.labels, a));
            }
            group_of.push(g);
        }
    }
    let mut grouped: Vec<Vec<Elem>> = keys.iter().map(|_| Vec::new()).collect();
    for (e, g) in input.into_iter().zip(group_of) {
        grouped[g].push(e);
    }
    let order = keys;
    let mut groups: HashMap<Labels, Vec<Elem>> = order.iter().cloned().zip(grouped).collect();
    let mut out = Vec::new();
    for key in order {
        let members = groups.remove(&key).unwrap_or_default();
        let values: Vec<f64> = members.iter().map(|e| e.value).collect();
        // The group's name (kept only by `by (__name__)`) goes if any member's would.
        let drop = members.iter().any(|e| e.drop_name);
        let key = (key, drop);
        match a.op {
            AggregateOp::Sum => out.push(Elem::new(key.0.clone(), stats::sum(&values), key.1)),
            AggregateOp::Avg => out.push(Elem::new(key.0.clone(), stats::mean(&values), key.1)),
            AggregateOp::Count => out.push(Elem::new(key.0.clone(), values.len() as f64, key.1)),
            AggregateOp::Group => out.push(Elem::new(key.0.clone(), 1.0, key.1)),
            AggregateOp::Min | AggregateOp::Max => {
                let mut best = values[0];
                for &v in &values[1..] {
                    let better = if a.op == AggregateOp::Min { v < best } else { v > best };
                    if better || best.is_nan() {
                        best = v;
                    }
                }
                out.push(Elem::new(key.0.clone(), best, key.1));
            }
            AggregateOp::Stdvar => out.push(Elem::new(key.0.clone(), stats::variance(&values), key.1)),
            AggregateOp::Stddev => out.push(Elem::new(key.0.clone(), stats::variance(&values).sqrt(), key.1)),
            AggregateOp::Quantile => out.push(Elem::new(key.0.clone(), stats::quantile(scalar_param(&param, a.op)?, &values), key.1)),
            AggregateOp::Topk | AggregateOp::Bottomk => {
                let k = k_param(&param, a.op)?;
                let mut members = members;
                let top = a.op == AggregateOp::Topk;
                // NaN sorts last in both directions.
                members.sort_by(|Elem { value: x, .. }, Elem { value: y, .. }| match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => y.partial_cmp(x).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
                });
                out.extend(members.into_iter().take(k));
            }
            AggregateOp::Limitk => {
                let k = k_param(&param, a.op)?;
                out.extend(members.into_iter().take(k));
            }
            AggregateOp::CountValues => {
                let Some(StepValue::String(label)) = &param else {
                    return Err(Error::Execution("count_values needs a string parameter".into()));
                };
                if label.is_empty() || !label.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())) {
                    return Err(Error::Execution(format!("invalid label name {label:?}")));
                }
                let mut counts: Vec<(String, f64)> = Vec::new();
                for v in &values {
                    let text = crate::format::go_float(*v);
                    match counts.iter_mut().find(|(t, _)| *t == text) {
                        Some((_, c)) => *c += 1.0,
                        None => counts.push((text, 1.0)),
                    }
                }
                for (text, count) in counts {
                    let mut labels: Vec<Label> = key.0.iter().filter(|l| &l.name != label).cloned().collect();
                    labels.push(Label { name: label.clone(), value: text });
                    out.push(Elem::new(Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value))), count, key.1));
                }
            }
            AggregateOp::LimitRatio => unreachable!("limit_ratio returns before grouping"),
        }
    }
    Ok(out)
}
