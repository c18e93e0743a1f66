//! MetricsQL's aggregations of one step's values (`median`, `mode`, `geomean`, `distinct`,
//! `sum2`, `mad`) and of one step's members (`any`, `share`, `zscore`), with VictoriaMetrics'
//! meaning: a NaN value is no value there, so NaN elements are left out first, and a group or
//! member whose result is NaN gives nothing.

use super::aggregate::GroupCache;
use super::eval::Elem;
use super::stats;
use super::Error;
use crate::ast::{Aggregate, AggregateOp};

/// Whether `op` is one of the aggregations evaluated here.
pub(super) fn handles(op: AggregateOp) -> bool {
    matches!(
        op,
        AggregateOp::Median
            | AggregateOp::Mode
            | AggregateOp::Geomean
            | AggregateOp::Distinct
            | AggregateOp::Sum2
            | AggregateOp::Mad
            | AggregateOp::Any
            | AggregateOp::Share
            | AggregateOp::Zscore
    )
}

/// `a` over one step's float elements.
pub(super) fn aggregate(a: &Aggregate, input: Vec<Elem>, cache: &mut GroupCache) -> Result<Vec<Elem>, Error> {
    let present: Vec<Elem> = input.into_iter().filter(|e| !e.value.is_nan()).collect();
    let (order, locals) = cache.assign(&present, a);
    let mut members: Vec<Vec<Elem>> = (0..order.len()).map(|_| Vec::new()).collect();
    for (e, local) in present.into_iter().zip(locals) {
        members[local].push(e);
    }
    let mut out = Vec::new();
    for (g, group) in order.into_iter().zip(members) {
        match a.op {
            // The group's first member at this step, labels and all.
            AggregateOp::Any => out.extend(group.into_iter().take(1)),
            AggregateOp::Share => out.extend(shares(group)),
            AggregateOp::Zscore => out.extend(zscores(group)),
            op => {
                let values: Vec<f64> = group.iter().map(|e| e.value).collect();
                // The group's name (kept only by `by (__name__)`) goes if any member's would.
                let drop = group.iter().any(|e| e.drop_name);
                let value = reduce(op, &values)?;
                if !value.is_nan() {
                    out.push(Elem::new(cache.key(g).clone(), value, drop));
                }
            }
        }
    }
    Ok(out)
}

/// One group's value from its (non-NaN) values.
fn reduce(op: AggregateOp, values: &[f64]) -> Result<f64, Error> {
    Ok(match op {
        AggregateOp::Median => stats::quantile(0.5, values),
        AggregateOp::Mode => mode(values),
        AggregateOp::Geomean => values.iter().product::<f64>().powf(1.0 / values.len() as f64),
        AggregateOp::Distinct => distinct_count(values),
        AggregateOp::Sum2 => values.iter().map(|v| v * v).sum(),
        AggregateOp::Mad => median_absolute_deviation(values),
        other => return Err(Error::Execution(format!("{} is not a MetricsQL value aggregation", other.name()))),
    })
}

/// The most frequent value; among equally frequent ones the lowest (VictoriaMetrics sorts
/// and keeps the first longest run).
pub(super) fn mode(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (mut best, mut best_run) = (f64::NAN, 0usize);
    let mut run_start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i] != sorted[run_start] {
            if i - run_start > best_run {
                best_run = i - run_start;
                best = sorted[run_start];
            }
            run_start = i;
        }
    }
    best
}

fn distinct_count(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.dedup();
    sorted.len() as f64
}

/// The median of the distances to the median.
pub(super) fn median_absolute_deviation(values: &[f64]) -> f64 {
    let median = stats::quantile(0.5, values);
    let distances: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    stats::quantile(0.5, &distances)
}

/// Each non-negative member's part of the group's non-negative sum (negative members and
/// a zero sum give nothing).
fn shares(group: Vec<Elem>) -> impl Iterator<Item = Elem> {
    let sum: f64 = group.iter().map(|e| e.value).filter(|v| *v >= 0.0).sum();
    group.into_iter().filter(|e| e.value >= 0.0).filter_map(move |e| {
        let share = e.value / sum;
        (!share.is_nan()).then(|| Elem { value: share, ..e })
    })
}

/// Each member's distance from the group's mean in population standard deviations (a group
/// whose members are all equal gives nothing: 0/0).
fn zscores(group: Vec<Elem>) -> impl Iterator<Item = Elem> {
    let values: Vec<f64> = group.iter().map(|e| e.value).collect();
    let (mean, deviation) = (stats::mean(&values), stats::variance(&values).sqrt());
    group.into_iter().filter_map(move |e| {
        let z = (e.value - mean) / deviation;
        (!z.is_nan()).then(|| Elem { value: z, ..e })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_prefers_the_lowest_of_equally_frequent_values() {
        assert_eq!(mode(&[3.0, 1.0, 3.0, 1.0, 2.0]), 1.0);
        assert_eq!(mode(&[5.0, 2.0, 5.0]), 5.0);
        assert_eq!(mode(&[7.0]), 7.0);
        assert!(mode(&[]).is_nan());
    }

    #[test]
    fn median_absolute_deviation_of_values() {
        // Median 2; distances 1 1 0 2 → median 1.
        assert_eq!(median_absolute_deviation(&[1.0, 3.0, 2.0, 4.0]), 1.0);
        assert_eq!(median_absolute_deviation(&[4.0]), 0.0);
    }

    #[test]
    fn distinct_counts_equal_values_once() {
        assert_eq!(distinct_count(&[1.0, 1.0, 2.0, -0.5]), 3.0);
        assert!(distinct_count(&[]).is_nan());
    }
}
