//! MetricsQL's aggregations of one step's values (`median`, `mode`, `geomean`, `distinct`,
//! `sum2`, `mad`), of one step's members (`any`, `share`, `zscore`) and of whole series
//! (`topk_avg` …, ranked over all steps, `range_topk_at`), with VictoriaMetrics' meaning: a
//! NaN value is no value there, so NaN elements are left out first, and a group or member
//! whose result is NaN gives nothing. `quantiles` gives one series per φ, `histogram` (over
//! the whole grid) one per bucket (`vm_histogram`); the outlier
//! aggregations (`outliersk`, `outliers_mad`, `outliers_iqr`) keep or drop whole series.

use super::aggregate::GroupCache;
use super::annotations::Annotation;
use super::eval::{Elem, Evaluator, StepValue};
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
            | AggregateOp::Quantiles
    )
}

/// `a` over one step's float elements; `param`: the parameter's value at the step (for
/// `quantiles`, a vector of the φs).
pub(super) fn aggregate(a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>, cache: &mut GroupCache) -> Result<Vec<Elem>, Error> {
    let phis: Vec<f64> = match (a.op, param) {
        (AggregateOp::Quantiles, Some(StepValue::Vector(phis))) => phis.iter().map(|e| e.value).collect(),
        (AggregateOp::Quantiles, _) => return Err(Error::Execution("quantiles needs its φ arguments".into())),
        _ => Vec::new(),
    };
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
            AggregateOp::Quantiles => {
                let values: Vec<f64> = group.iter().map(|e| e.value).collect();
                let drop = group.iter().any(|e| e.drop_name);
                out.extend(quantiles(cache.key(g), a.other_label.as_deref().unwrap_or_default(), &phis, &values, drop));
            }
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

/// `a`'s argument over the grid `timestamps`, its float series gathered per group (in order
/// of first appearance), with the group cache that names the groups.
fn grouped_columns(ev: &Evaluator<'_>, a: &Aggregate, timestamps: &[i64]) -> Result<(GroupCache, Vec<Vec<Column>>), Error> {
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
    // MetricsQL's `limit N`: the first groups only.
    if let Some(limit) = a.limit {
        groups.truncate(limit);
    }
    Ok((cache, groups))
}

/// `topk_avg(k, q, "other")` … at step `t`: each group's series ranked by their value over all
/// the grid's steps (`range_rank`); at each step the `k` (that step's) best keep their values,
/// and with an other label a series named by it (`"label"` or `"label=value"`, on the group's
/// labels) holds the sum of the rest. Evaluated for every step at once (`series_wide_at`).
/// The outlier aggregations, evaluated the same way, are handed to `outliers_at`.
pub(super) fn range_topk_at(ev: &Evaluator<'_>, a: &Aggregate, t: i64) -> Result<Vec<Elem>, Error> {
    if matches!(a.op, AggregateOp::OutliersK | AggregateOp::OutliersMad | AggregateOp::OutliersIqr) {
        return outliers_at(ev, a, t);
    }
    if a.op == AggregateOp::Histogram {
        return ev.series_wide_at(a as *const Aggregate as usize, t, |timestamps| {
            let (cache, groups) = grouped_columns(ev, a, timestamps)?;
            let groups = groups.into_iter().enumerate().map(|(g, members)| (cache.key(g).clone(), members)).collect();
            Ok(step_vectors(&super::vm_histogram::histogram_of_groups(groups, timestamps.len()), timestamps.len()))
        });
    }
    ev.series_wide_at(a as *const Aggregate as usize, t, |timestamps| {
        let Some(param) = &a.param else {
            return Err(Error::Execution(format!("{} needs a scalar parameter", a.op.name())));
        };
        let ks = scalar_steps(ev, param, timestamps)?;
        let (cache, groups) = grouped_columns(ev, a, timestamps)?;
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

/// `outliersk(k, q)`, `outliers_mad(tolerance, q)` and `outliers_iqr(q)` at step `t`: per group,
/// the series that stand out from the others over the whole grid keep all their values, the
/// rest give nothing. Each step's median (and spread) is over the group's values at that step.
fn outliers_at(ev: &Evaluator<'_>, a: &Aggregate, t: i64) -> Result<Vec<Elem>, Error> {
    ev.series_wide_at(a as *const Aggregate as usize, t, |timestamps| {
        let params = match &a.param {
            Some(param) => scalar_steps(ev, param, timestamps)?,
            None => Vec::new(),
        };
        let (_, groups) = grouped_columns(ev, a, timestamps)?;
        let mut out: Vec<Column> = Vec::new();
        for members in groups {
            let step_values = |step: usize| -> Vec<f64> { members.iter().map(|c| c.values[step]).filter(|v| !v.is_nan()).collect() };
            let medians: Vec<f64> = (0..timestamps.len()).map(|step| stats::quantile(0.5, &step_values(step))).collect();
            match a.op {
                AggregateOp::OutliersK => out.extend(farthest_from_median(members, &medians, &params)),
                AggregateOp::OutliersMad => {
                    // Allowed distance from the median at each step: the step's tolerance times
                    // its median absolute deviation.
                    let allowed: Vec<f64> = (0..timestamps.len())
                        .map(|step| {
                            let distances: Vec<f64> = step_values(step).iter().map(|v| (v - medians[step]).abs()).collect();
                            stats::quantile(0.5, &distances) * params.get(step).copied().unwrap_or(f64::NAN)
                        })
                        .collect();
                    out.extend(members.into_iter().filter(|c| c.values.iter().zip(&medians).zip(&allowed).any(|((v, m), d)| (v - m).abs() > *d)));
                }
                _ => {
                    // Tukey's fences: 1.5 interquartile ranges below the 25th or above the 75th
                    // percentile of the step's values.
                    let fences: Vec<(f64, f64)> = (0..timestamps.len())
                        .map(|step| {
                            let values = step_values(step);
                            let (q25, q75) = (stats::quantile(0.25, &values), stats::quantile(0.75, &values));
                            let margin = 1.5 * (q75 - q25);
                            (q25 - margin, q75 + margin)
                        })
                        .collect();
                    out.extend(members.into_iter().filter(|c| c.values.iter().zip(&fences).any(|(v, (low, high))| v < low || v > high)));
                }
            }
        }
        Ok(step_vectors(&out, timestamps.len()))
    })
}

/// `outliersk`: the group's series ranked by the sum of their squared distances from each
/// step's median (steps where the series has no value add nothing); at each step the `k`
/// (that step's) farthest keep their values.
fn farthest_from_median(members: Vec<Column>, medians: &[f64], ks: &[f64]) -> Vec<Column> {
    let score = |c: &Column| -> f64 { c.values.iter().zip(medians).map(|(v, m)| (v - m) * (v - m)).filter(|d| !d.is_nan()).sum() };
    let mut ranked: Vec<(f64, Column)> = members.into_iter().map(|c| (score(&c), c)).collect();
    // Nearest first, so the kept ones are the last `k`.
    ranked.sort_by(|(x, _), (y, _)| x.total_cmp(y));
    let n = ranked.len();
    ranked
        .into_iter()
        .enumerate()
        .map(|(position, (_, mut column))| {
            for (step, value) in column.values.iter_mut().enumerate() {
                if position < n - kept_count(ks.get(step).copied().unwrap_or(f64::NAN), n) {
                    *value = f64::NAN;
                }
            }
            column
        })
        .collect()
}

/// `quantiles("label", φ1, …, q)` of one group's (non-NaN) values: one element per φ, the
/// group's labels with `label` set to the φ as VictoriaMetrics writes it (`%g`); NaN
/// quantiles give nothing.
fn quantiles(key: &tsdb::Labels, label: &str, phis: &[f64], values: &[f64], drop_name: bool) -> Vec<Elem> {
    phis.iter()
        .filter_map(|&phi| {
            let value = stats::quantile(phi, values);
            if value.is_nan() {
                return None;
            }
            let pairs = key.iter().filter(|l| l.name != label).map(|l| (l.name.to_string(), l.value.to_string()));
            let labels = tsdb::Labels::from_pairs(pairs.chain([(label.to_string(), crate::format::go_float_g(phi))]));
            Some(Elem::new(labels, value, drop_name))
        })
        .collect()
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
        for refused in ["topk_avg(2, x, 3)", "topk_avg(x)", "topk_avg(1, x, \"a\", \"b\")", "median(\"a\", x)"] {
            assert!(crate::parser::parse(refused).is_err(), "{refused}");
        }
        // A scalar among several arguments is a series (VictoriaMetrics' `median(1, x)`).
        assert_eq!(crate::parser::parse("median(1, x)").map(|e| crate::printer::print(&e)), Ok("median(vector(1), x)".to_string()));
    }

    #[test]
    fn outliers_quantiles_and_limit_offset_are_printed_and_parsed_back() {
        for query in [
            "quantiles(\"phi\", 0.5, 0.9, x)",
            "quantiles by (g) (\"phi\", 0.1, scalar(y) / 2, x)",
            "outliersk(2, x)",
            "outliers_iqr without (i) (x)",
            "outliers_mad by (g) (3, x)",
            "limit_offset(1, 2, x)",
            "quantiles_over_time(\"q\", 0.5, 0.9, x[5m])",
            "quantiles_over_time(\"q\", 0.5, x[1i])",
            "sum by (job) (x) limit 10",
            "quantiles by (g) (\"q\", 0.5, x) limit 1",
            "topk_max(1, x, \"rest\") limit 2",
            "sum(x) limit 3 + count(y)",
            "avg(u, v, w)",
            "sum by (i) (u, rate(v[1m])) limit 1",
            "outliers_iqr(u, v)",
        ] {
            let parsed = crate::parser::parse(query).map_err(|e| e.to_string());
            let printed = parsed.clone().map(|e| crate::printer::print(&e));
            assert_eq!(printed, Ok(query.to_string()));
            let reparsed = printed.and_then(|p| crate::parser::parse(&p).map_err(|e| e.to_string()));
            assert_eq!(reparsed, parsed);
        }
        // `limit 0` is no limit; the limit goes after the grouping.
        let unlimited = crate::parser::parse("sum(x) by (job) limit 0").map(|e| crate::printer::print(&e)).map_err(|e| e.to_string());
        assert_eq!(unlimited, Ok("sum by (job) (x)".to_string()));
        assert_eq!(crate::parser::parse("sum(x) limit 2").map(|e| matches!(e, crate::ast::Expr::Aggregate(a) if a.limit == Some(2))), Ok(true));
        // The internal argument list is not a function a query can name.
        assert!(crate::parser::parse("__argument_list(1, x)").is_err());
    }

    #[test]
    fn outlier_aggregations_and_limit_offset_read_other_steps() {
        let reads = |q: &str| crate::parser::parse(q).map(|e| e.reads_other_steps()).map_err(|e| e.to_string());
        assert_eq!(reads("outliersk(1, x)"), Ok(true));
        assert_eq!(reads("sum(outliers_mad(2, x))"), Ok(true));
        assert_eq!(reads("outliers_iqr(x)"), Ok(true));
        assert_eq!(reads("limit_offset(1, 0, x)"), Ok(true));
        assert_eq!(reads("quantiles(\"q\", 0.5, x)"), Ok(false));
    }

    #[test]
    fn outliersk_ranks_by_squared_distance_from_each_steps_median() {
        let column = |values: &[f64]| Column { labels: tsdb::Labels::default(), drop_name: false, values: values.to_vec() };
        let medians = [2.0, 2.0];
        // Scores: 0, 2.25 (its gap adds nothing) and 1 + 1.
        let members = vec![column(&[2.0, 2.0]), column(&[f64::NAN, 0.5]), column(&[1.0, 3.0])];
        let kept: Vec<Vec<String>> = farthest_from_median(members, &medians, &[1.0, 2.0]).iter().map(|c| c.values.iter().map(|v| v.to_string()).collect()).collect();
        // Nearest first; k 1 keeps the farthest at the first step, k 2 the two farthest at the second.
        assert_eq!(kept, vec![vec!["NaN", "NaN"], vec!["NaN", "3"], vec!["NaN", "0.5"]]);
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
