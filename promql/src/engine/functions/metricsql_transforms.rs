//! MetricsQL's transforms of a whole series (VictoriaMetrics' `running_*`, `range_*` incl.
//! `range_normalize`, `range_zscore`, `range_mad`, `range_trim_*` and
//! `range_linear_regression`, `keep_last_value`, `keep_next_value`, `interpolate`,
//! `remove_resets`, `smooth_exponential`): each reads its argument's values at every step of the grid, through
//! `series_wide`. A NaN value is no value there, a step without one is NaN here, and a NaN
//! result gives nothing; histogram elements are left out, as the float functions do.

use super::super::eval::{Evaluator, StepValue, SAME_LABELSET};
use super::super::series_wide::{columns, scalar_steps, step_vectors};
use super::super::stats;
use super::Error;
use crate::ast::Expr;

pub(in crate::engine) fn handles(name: &str) -> bool {
    crate::functions::SERIES_WIDE_FUNCTIONS.contains(&name)
}

/// Whether the result loses the metric name: the running family and the `range_*` built on it
/// (VictoriaMetrics resets the name there and keeps it for the others).
fn drops_name(name: &str) -> bool {
    name.starts_with("running_")
        || matches!(
            name,
            "range_sum" | "range_min" | "range_max" | "range_avg" | "range_zscore" | "range_mad" | "range_trim_outliers" | "range_trim_spikes" | "range_trim_zscore"
        )
}

/// Transform `name` of `args` at step `t` (the call is told apart by its arguments' address).
pub(in crate::engine) fn call(ev: &Evaluator<'_>, name: &str, args: &[Expr], t: i64) -> Result<StepValue, Error> {
    if let ("limit_offset", [limit, offset, series]) = (name, args) {
        return limit_offset(ev, [limit, offset], series, t);
    }
    let (series_args, scalar_arg) = match (name, args) {
        ("range_quantile" | "range_trim_outliers" | "range_trim_spikes" | "range_trim_zscore", [scalar, series]) => (std::slice::from_ref(series), Some(scalar)),
        ("smooth_exponential", [series, factor]) => (std::slice::from_ref(series), Some(factor)),
        // range_normalize(q1, q2, …): the series of every argument, each on its own.
        ("range_normalize", [_, ..]) => (args, None),
        (_, [series]) => (std::slice::from_ref(series), None),
        _ => return Err(Error::Execution(format!("wrong number of arguments for {name}"))),
    };
    let node = args.as_ptr() as usize;
    let vector = ev.series_wide_at(node, t, |timestamps| {
        let params = match scalar_arg {
            Some(arg) => scalar_steps(ev, arg, timestamps)?,
            None => Vec::new(),
        };
        let mut series = Vec::new();
        for arg in series_args {
            series.extend(columns(ev, arg, timestamps)?.0);
        }
        if series_args.len() > 1 {
            let mut seen = std::collections::HashSet::new();
            if !series.iter().all(|c| seen.insert(&c.labels)) {
                return Err(Error::Execution(SAME_LABELSET.into()));
            }
        }
        for column in &mut series {
            transform(name, &mut column.values, &params, timestamps);
            column.drop_name |= drops_name(name);
        }
        Ok(step_vectors(&series, timestamps.len()))
    })?;
    Ok(StepValue::Vector(vector))
}

/// `limit_offset(limit, offset, q)` at step `t`: `q`'s series with a value somewhere on the
/// grid, in the order they first appear, the first `offset` skipped and at most `limit` of the
/// rest kept whole. Both counts are read at the first step (NaN or below 0: 0), as
/// VictoriaMetrics reads them.
fn limit_offset(ev: &Evaluator<'_>, counts: [&Expr; 2], series: &Expr, t: i64) -> Result<StepValue, Error> {
    // The call is told apart by its arguments' address, as the other transforms' are.
    let node = std::ptr::from_ref(counts[0]) as usize;
    let vector = ev.series_wide_at(node, t, |timestamps| {
        let first_step = timestamps.get(..1).unwrap_or_default();
        let [limit, offset] = counts.map(|count| scalar_steps(ev, count, first_step).map(|v| series_count(v.first().copied().unwrap_or(f64::NAN))));
        let (limit, offset) = (limit?, offset?);
        let (columns, _) = columns(ev, series, timestamps)?;
        let kept: Vec<_> = columns.into_iter().skip(offset).take(limit).collect();
        Ok(step_vectors(&kept, timestamps.len()))
    })?;
    Ok(StepValue::Vector(vector))
}

/// A count of series from a scalar: its integer part, NaN and below 0 as 0.
fn series_count(v: f64) -> usize {
    if v.is_nan() || v < 0.0 { 0 } else { v as usize }
}

/// One series' values (NaN: none at that step) transformed in place; `params` holds a scalar
/// argument's value at each step, `timestamps` the steps' times in ms.
fn transform(name: &str, values: &mut [f64], params: &[f64], timestamps: &[i64]) {
    let present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if present.is_empty() {
        return;
    }
    match name {
        "running_sum" | "running_min" | "running_max" | "running_avg" => running(name, values),
        "range_sum" | "range_min" | "range_max" | "range_avg" => {
            running(&name.replacen("range", "running", 1), values);
            let last = values.last().copied().unwrap_or(f64::NAN);
            values.fill(last);
        }
        "range_first" => values.fill(present[0]),
        "range_last" => values.fill(present[present.len() - 1]),
        "range_median" => values.fill(stats::quantile(0.5, &present)),
        // The quantile of the first step, as VictoriaMetrics reads it.
        "range_quantile" => values.fill(stats::quantile(params.first().copied().unwrap_or(f64::NAN), &present)),
        "range_stdvar" => values.fill(stats::variance(&present)),
        "range_stddev" => values.fill(stats::variance(&present).sqrt()),
        "keep_last_value" => {
            let mut last = f64::NAN;
            for v in values.iter_mut() {
                if v.is_nan() { *v = last } else { last = *v }
            }
        }
        "keep_next_value" => {
            let mut next = f64::NAN;
            for v in values.iter_mut().rev() {
                if v.is_nan() { *v = next } else { next = *v }
            }
        }
        "interpolate" => interpolate(values),
        "remove_resets" => remove_resets(values),
        "smooth_exponential" => smooth_exponential(values, params),
        "range_normalize" => {
            let (min, max) = present.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let spread = max - min;
            // An infinite spread gives nothing; a constant series is 0/0 at every step.
            values.iter_mut().for_each(|v| *v = if spread.is_infinite() { f64::NAN } else { (*v - min) / spread });
        }
        "range_zscore" => {
            let (mean, deviation) = (stats::mean(&present), stats::variance(&present).sqrt());
            values.iter_mut().for_each(|v| *v = (*v - mean) / deviation);
        }
        "range_mad" => values.fill(median_absolute_deviation(&present)),
        // Each takes its scalar argument at the first step, as VictoriaMetrics reads it.
        "range_trim_outliers" => {
            let distance_max = params.first().copied().unwrap_or(f64::NAN) * median_absolute_deviation(&present);
            let median = stats::quantile(0.5, &present);
            values.iter_mut().filter(|v| (**v - median).abs() > distance_max).for_each(|v| *v = f64::NAN);
        }
        "range_trim_spikes" => {
            let half = params.first().copied().unwrap_or(f64::NAN) / 2.0;
            let (lowest, highest) = (stats::quantile(half, &present), stats::quantile(1.0 - half, &present));
            values.iter_mut().filter(|v| **v < lowest || **v > highest).for_each(|v| *v = f64::NAN);
        }
        "range_trim_zscore" => {
            let z_max = params.first().copied().unwrap_or(f64::NAN).abs();
            let (mean, deviation) = (stats::mean(&present), stats::variance(&present).sqrt());
            values.iter_mut().filter(|v| (**v - mean).abs() / deviation > z_max).for_each(|v| *v = f64::NAN);
        }
        "range_linear_regression" => linear_regression_line(values, timestamps),
        _ => {}
    }
}

/// The median of the distances from the median.
fn median_absolute_deviation(present: &[f64]) -> f64 {
    let median = stats::quantile(0.5, present);
    let distances: Vec<f64> = present.iter().map(|v| (v - median).abs()).collect();
    stats::quantile(0.5, &distances)
}

/// Every step (gaps included) set to the least-squares line through the series' values, x in
/// seconds from the first step; a constant series stays at its value. VictoriaMetrics takes
/// the slope as 0 where the x spread is under 1e-6.
fn linear_regression_line(values: &mut [f64], timestamps: &[i64]) {
    let first_ms = timestamps.first().copied().unwrap_or_default();
    let x = |i: usize| (timestamps.get(i).copied().unwrap_or(first_ms) - first_ms) as f64 / 1000.0;
    let points: Vec<(f64, f64)> = values.iter().enumerate().filter(|(_, v)| !v.is_nan()).map(|(i, &v)| (x(i), v)).collect();
    let Some(&(_, first_value)) = points.first() else { return };
    let (slope, intercept) = if points.iter().all(|&(_, v)| v == first_value) {
        (0.0, first_value)
    } else {
        let n = points.len() as f64;
        let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), &(x, y)| (sx + x, sy + y));
        let (sxy, sxx) = points.iter().fold((0.0, 0.0), |(sxy, sxx), &(x, y)| (sxy + x * y, sxx + x * x));
        let x_spread = sxx - sx * sx / n;
        let slope = if x_spread.abs() >= 1e-6 { (sxy - sx * sy / n) / x_spread } else { 0.0 };
        (slope, sy / n - slope * sx / n)
    };
    for (i, v) in values.iter_mut().enumerate() {
        *v = intercept + slope * x(i);
    }
}

/// From the first value on, each step holds the sum, minimum, maximum or mean of the values
/// so far (steps without a value repeat the one before).
fn running(name: &str, values: &mut [f64]) {
    let Some(first) = values.iter().position(|v| !v.is_nan()) else { return };
    let mut acc = values[first];
    let mut count = 1.0;
    for v in &mut values[first + 1..] {
        if !v.is_nan() {
            count += 1.0;
            acc = match name {
                "running_sum" => acc + *v,
                "running_min" => if acc < *v { acc } else { *v },
                "running_max" => if acc > *v { acc } else { *v },
                _ => acc + (*v - acc) / count,
            };
        }
        *v = acc;
    }
}

/// Steps without a value between two with one get the straight line between them; those
/// before the first value and after the last stay empty.
fn interpolate(values: &mut [f64]) {
    let mut i = 0;
    while i < values.len() {
        if !values[i].is_nan() || i == 0 || values[i - 1].is_nan() {
            i += 1;
            continue;
        }
        let Some(gap) = values[i..].iter().position(|v| !v.is_nan()) else { return };
        let end = i + gap;
        let mut value = values[i - 1];
        let delta = (values[end] - value) / (gap + 1) as f64;
        for v in &mut values[i..end] {
            value += delta;
            *v = value;
        }
        i = end;
    }
}

/// A counter's decreases taken out: after a drop the values go on from where they were. A drop
/// by less than an eighth of the value before is a partial reset (only the drop is added
/// back), as VictoriaMetrics reads it; a larger one a reset to zero.
fn remove_resets(values: &mut [f64]) {
    let Some(first) = values.iter().position(|v| !v.is_nan()) else { return };
    let mut correction = 0.0;
    let mut previous = values[first];
    for v in &mut values[first..] {
        if v.is_nan() {
            continue;
        }
        let drop = previous - *v;
        if drop > 0.0 {
            correction += if drop * 8.0 < previous { drop } else { previous };
        }
        previous = *v;
        *v += correction;
    }
}

/// Exponential smoothing with each step's factor (NaN: 1; clamped to [0, 1]) from the first
/// finite value on; an infinite value repeats the average, steps without a value stay empty.
fn smooth_exponential(values: &mut [f64], factors: &[f64]) {
    let Some(first) = values.iter().position(|v| !v.is_nan() && !v.is_infinite()) else { return };
    let mut average = values[first];
    for (i, v) in values.iter_mut().enumerate().skip(first + 1) {
        if v.is_nan() {
            continue;
        }
        if v.is_infinite() {
            *v = average;
            continue;
        }
        let factor = factors.get(i).copied().unwrap_or(f64::NAN);
        let factor = if factor.is_nan() { 1.0 } else { factor.clamp(0.0, 1.0) };
        average = average * (1.0 - factor) + *v * factor;
        *v = average;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N: f64 = f64::NAN;

    /// A transform, its input values, the scalar argument per step and the values it gives.
    type Case = (&'static str, &'static [f64], &'static [f64], &'static [&'static str]);

    fn transformed(name: &str, values: &[f64], params: &[f64]) -> Vec<String> {
        let mut values = values.to_vec();
        let timestamps: Vec<i64> = (0..values.len() as i64).map(|i| i * 10_000).collect();
        transform(name, &mut values, params, &timestamps);
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_query_with_a_transform_or_range_aggregation_reads_other_steps() {
        let reads = |q: &str| crate::parser::parse(q).map(|e| e.reads_other_steps()).map_err(|e| e.to_string());
        assert_eq!(reads("sum(rate(x[5m])) + running_sum(y)"), Ok(true));
        assert_eq!(reads("max_over_time(topk_last(1, x)[5m:])"), Ok(true));
        assert_eq!(reads("topk(1, median(x)) or last_over_time(x[1m])"), Ok(false));
        assert_eq!(reads("1 + range_linear_regression(range_trim_spikes(0.1, x))"), Ok(true));
        assert_eq!(reads("rollup_rate(x[5m])"), Ok(false));
    }

    #[test]
    fn transforms_of_a_series_with_gaps() {
        let cases: &[Case] = &[
            ("running_sum", &[N, 1.0, N, 2.0], &[], &["NaN", "1", "1", "3"]),
            ("running_avg", &[2.0, N, 4.0, 6.0], &[], &["2", "2", "3", "4"]),
            ("running_min", &[3.0, 1.0, 2.0], &[], &["3", "1", "1"]),
            ("range_max", &[N, 3.0, 1.0], &[], &["3", "3", "3"]),
            ("range_first", &[N, 3.0, 1.0, N], &[], &["3", "3", "3", "3"]),
            ("keep_last_value", &[N, 1.0, N, N, 2.0, N], &[], &["NaN", "1", "1", "1", "2", "2"]),
            ("keep_next_value", &[N, 1.0, N, 2.0, N], &[], &["1", "1", "2", "2", "NaN"]),
            ("interpolate", &[N, 1.0, N, N, 4.0, N], &[], &["NaN", "1", "2", "3", "4", "NaN"]),
            ("remove_resets", &[10.0, 20.0, 5.0, 18.0, N, 17.0], &[], &["10", "20", "25", "38", "NaN", "38"]),
            ("smooth_exponential", &[N, 2.0, 4.0, f64::INFINITY, N, 0.0], &[N, N, 0.5, 0.5, 0.5, 2.0], &["NaN", "2", "3", "3", "NaN", "0"]),
            ("range_quantile", &[1.0, 2.0, 3.0], &[0.25, 0.9, 0.9], &["1.5", "1.5", "1.5"]),
            ("range_normalize", &[2.0, N, 6.0, 4.0], &[], &["0", "NaN", "1", "0.5"]),
            ("range_normalize", &[3.0, 3.0], &[], &["NaN", "NaN"]),
            ("range_normalize", &[3.0, f64::INFINITY], &[], &["NaN", "NaN"]),
            // Mean 4, population deviation 2.
            ("range_zscore", &[2.0, N, 6.0, 2.0, 6.0], &[], &["-1", "NaN", "1", "-1", "1"]),
            // Median 3.5, distances 2.5 0.5 0.5 96.5: median 1.5; outliers lie over 2 · 1.5 from 3.5.
            ("range_mad", &[1.0, 3.0, 4.0, N, 100.0], &[], &["1.5", "1.5", "1.5", "1.5", "1.5"]),
            ("range_trim_outliers", &[1.0, 3.0, 4.0, N, 100.0], &[2.0, 50.0], &["1", "3", "4", "NaN", "NaN"]),
            // φ 0.5: the 0.25 and 0.75 quantiles of 1..5 are 2 and 4.
            ("range_trim_spikes", &[1.0, 2.0, 3.0, 4.0, 5.0], &[0.5], &["NaN", "2", "3", "4", "NaN"]),
            ("range_trim_zscore", &[2.0, 6.0, 2.0, 6.0, 4.0], &[-0.9], &["NaN", "NaN", "NaN", "NaN", "4"]),
            // x 0, 10, 20, 30 s: the line through 0@0 and 20@20 s, every step on it.
            ("range_linear_regression", &[0.0, N, 20.0, N], &[], &["0", "10", "20", "30"]),
            ("range_linear_regression", &[N, 4.0, N], &[], &["4", "4", "4"]),
        ];
        for (name, values, params, want) in cases {
            assert_eq!(transformed(name, values, params), *want, "{name}");
        }
    }
}
