//! MetricsQL's aggregations of one step's values (`median`, `mode`, `geomean`, `distinct`,
//! `sum2`, `mad`), of one step's members (`any`, `share`, `zscore`) and of whole series
//! (`topk_avg` …, ranked over all steps, `range_topk_at`), with VictoriaMetrics' meaning: a
//! NaN value is no value there, so NaN elements are left out first, and a group or member
//! whose result is NaN gives nothing.

use super::aggregate::GroupCache;
use super::annotations::Annotation;
use super::eval::{Elem, Evaluator};
use super::series_wide::{columns, scalar_steps, step_vectors, Column};
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

/// The value `topk_avg` … rank a series' values over all steps by (NaN: none).
fn range_rank(op: AggregateOp, values: &[f64]) -> f64 {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
        return f64::NAN;
    }
    match op {
        AggregateOp::TopkAvg | AggregateOp::BottomkAvg => present.iter().sum::<f64>() / present.len() as f64,
        AggregateOp::TopkMax | AggregateOp::BottomkMax => present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        AggregateOp::TopkMin | AggregateOp::BottomkMin => present.iter().copied().fold(f64::INFINITY, f64::min),
        AggregateOp::TopkMedian | AggregateOp::BottomkMedian => stats::quantile(0.5, &present),
        _ => present[present.len() - 1],
    }
}

/// How many of `members` series a step's `k` keeps (NaN or below 1: none).
fn kept_count(k: f64, members: usize) -> usize {
    if k.is_nan() || k < 1.0 {
        0
    } else {
        (k as usize).min(members)
    }
}

/// `topk_avg(k, q, "other")` … at step `t`: each group's series ranked by their value over all
/// the grid's steps (`range_rank`); at each step the `k` (that step's) best keep their values,
/// and with an other label a series named by it (`"label"` or `"label=value"`, on the group's
/// labels) holds the sum of the rest. Evaluated for every step at once (`series_wide_at`).
pub(super) fn range_topk_at(ev: &Evaluator<'_>, a: &Aggregate, t: i64) -> Result<Vec<Elem>, Error> {
    ev.series_wide_at(a as *const Aggregate as usize, t, |timestamps| {
        let Some(param) = &a.param else {
            return Err(Error::Execution(format!("{} needs a scalar parameter", a.op.name())));
        };
        let ks = scalar_steps(ev, param, timestamps)?;
        let (series, histograms_left_out) = columns(ev, &a.expr, timestamps)?;
        if histograms_left_out {
            ev.annotate(Annotation::HistogramIgnoredInAggregation(a.op.name()), a.pos);
        }
        let mut cache = GroupCache::default();
        let mut groups: Vec<Vec<Column>> = Vec::new();
        for column in series {
            let g = cache.group_of(&column.labels, a);
            if g >= groups.len() {
                groups.resize_with(g + 1, Vec::new);
            }
            groups[g].push(column);
        }
        let top = matches!(a.op, AggregateOp::TopkAvg | AggregateOp::TopkMax | AggregateOp::TopkMin | AggregateOp::TopkMedian | AggregateOp::TopkLast);
        let mut out: Vec<Column> = Vec::new();
        for (g, members) in groups.into_iter().enumerate() {
            let mut ranked: Vec<(f64, Column)> = members.into_iter().map(|c| (range_rank(a.op, &c.values), c)).collect();
            // Worst first, so the kept ones are the last `k` (VictoriaMetrics' order).
            ranked.sort_by(|(x, _), (y, _)| if top { x.total_cmp(y) } else { y.total_cmp(x) });
            let n = ranked.len();
            if let Some(other) = &a.other_label {
                let values: Vec<f64> = (0..timestamps.len())
                    .map(|step| {
                        let rest = n - kept_count(ks[step], n);
                        let present: Vec<f64> = ranked[..rest].iter().map(|(_, c)| c.values[step]).filter(|v| !v.is_nan()).collect();
                        if present.is_empty() { f64::NAN } else { present.iter().sum() }
                    })
                    .collect();
                let (name, value) = other.split_once('=').unwrap_or((other.as_str(), other.as_str()));
                let key = cache.key(g);
                let labels = tsdb::Labels::from_pairs(key.iter().map(|l| (l.name.to_string(), l.value.to_string())).chain([(name.to_string(), value.to_string())]));
                out.push(Column { labels, drop_name: false, values });
            }
            for (position, (_, mut column)) in ranked.into_iter().enumerate() {
                for (step, value) in column.values.iter_mut().enumerate() {
                    if position < n - kept_count(ks[step], n) {
                        *value = f64::NAN;
                    }
                }
                out.push(column);
            }
        }
        Ok(step_vectors(&out, timestamps.len()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_other_label_is_printed_and_parsed_back() {
        for query in ["topk_avg(2, x, \"rest=other\")", "bottomk_last by (job) (1, x)", "median without (i) (x)"] {
            let parsed = crate::parser::parse(query).map_err(|e| e.to_string());
            let printed = parsed.clone().map(|e| crate::printer::print(&e));
            assert_eq!(printed, Ok(query.to_string()));
            let reparsed = printed.and_then(|p| crate::parser::parse(&p).map_err(|e| e.to_string()));
            assert_eq!(reparsed, parsed);
        }
        for refused in ["topk_avg(2, x, 3)", "topk_avg(x)", "topk_avg(1, x, \"a\", \"b\")", "median(1, x)"] {
            assert!(crate::parser::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn range_ranks_leave_nan_steps_out() {
        let values = [f64::NAN, 4.0, 1.0, f64::NAN, 7.0, f64::NAN];
        assert_eq!(range_rank(AggregateOp::TopkAvg, &values), 4.0);
        assert_eq!(range_rank(AggregateOp::BottomkMax, &values), 7.0);
        assert_eq!(range_rank(AggregateOp::TopkMin, &values), 1.0);
        assert_eq!(range_rank(AggregateOp::TopkMedian, &values), 4.0);
        assert_eq!(range_rank(AggregateOp::BottomkLast, &values), 7.0);
        assert!(range_rank(AggregateOp::TopkLast, &[f64::NAN]).is_nan());
        assert_eq!((kept_count(f64::NAN, 3), kept_count(0.5, 3), kept_count(2.9, 3), kept_count(9.0, 3)), (0, 0, 2, 3));
    }

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
