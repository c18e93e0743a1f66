//! Aggregation operators over one step's vector: grouping by/without, and sum, avg, min,
//! max, count, group, stddev, stdvar, topk, bottomk, quantile, count_values, limitk.

use std::collections::HashMap;

use tsdb::{Label, Labels, METRIC_NAME_LABEL};

use super::eval::StepValue;
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
    if k >= 9.223372036854775807e18 {
        return Err(Error::Execution(format!("Scalar value {k} overflows int64")));
    }
    Ok(if k < 1.0 { 0 } else { k as usize })
}

pub(super) fn aggregate(a: &Aggregate, param: Option<StepValue>, input: Vec<(Labels, f64)>) -> Result<Vec<(Labels, f64)>, Error> {
    // Parameters are checked even when there is nothing to aggregate.
    if matches!(a.op, AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk) {
        k_param(&param, a.op)?;
    }
    // Groups in order of first appearance.
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<(Labels, f64)>> = HashMap::new();
    for (labels, v) in input {
        let key = group_labels(&labels, a);
        groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        if let Some(g) = groups.get_mut(&group_labels(&labels, a)) {
            g.push((labels, v));
        }
    }
    let mut out = Vec::new();
    for key in order {
        let members = groups.remove(&key).unwrap_or_default();
        let values: Vec<f64> = members.iter().map(|(_, v)| *v).collect();
        match a.op {
            AggregateOp::Sum => out.push((key, stats::sum(&values))),
            AggregateOp::Avg => out.push((key, stats::mean(&values))),
            AggregateOp::Count => out.push((key, values.len() as f64)),
            AggregateOp::Group => out.push((key, 1.0)),
            AggregateOp::Min | AggregateOp::Max => {
                let mut best = values[0];
                for &v in &values[1..] {
                    let better = if a.op == AggregateOp::Min { v < best } else { v > best };
                    if better || best.is_nan() {
                        best = v;
                    }
                }
                out.push((key, best));
            }
            AggregateOp::Stdvar => out.push((key, stats::variance(&values))),
            AggregateOp::Stddev => out.push((key, stats::variance(&values).sqrt())),
            AggregateOp::Quantile => out.push((key, stats::quantile(scalar_param(&param, a.op)?, &values))),
            AggregateOp::Topk | AggregateOp::Bottomk => {
                let k = k_param(&param, a.op)?;
                let mut members = members;
                let top = a.op == AggregateOp::Topk;
                // NaN sorts last in both directions.
                members.sort_by(|(_, x), (_, y)| match (x.is_nan(), y.is_nan()) {
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
                    let mut labels: Vec<Label> = key.iter().filter(|l| &l.name != label).cloned().collect();
                    labels.push(Label { name: label.clone(), value: text });
                    out.push((Labels::from_pairs(labels.into_iter().map(|l| (l.name, l.value))), count));
                }
            }
            AggregateOp::LimitRatio => return Err(Error::Execution("limit_ratio is not supported yet".into())),
        }
    }
    Ok(out)
}
