//! MetricsQL's transforms of a whole series (VictoriaMetrics' `running_*`, `range_*`,
//! `keep_last_value`, `keep_next_value`, `interpolate`, `remove_resets`,
//! `smooth_exponential`): each reads its argument's values at every step of the grid, through
//! `series_wide`. A NaN value is no value there, a step without one is NaN here, and a NaN
//! result gives nothing; histogram elements are left out, as the float functions do.

use super::super::eval::{Evaluator, StepValue};
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
    name.starts_with("running_") || matches!(name, "range_sum" | "range_min" | "range_max" | "range_avg")
}

/// Transform `name` of `args` at step `t` (the call is told apart by its arguments' address).
pub(in crate::engine) fn call(ev: &Evaluator<'_>, name: &str, args: &[Expr], t: i64) -> Result<StepValue, Error> {
    let (series_arg, scalar_arg) = match (name, args) {
        ("range_quantile", [phi, series]) => (series, Some(phi)),
        ("smooth_exponential", [series, factor]) => (series, Some(factor)),
        (_, [series]) => (series, None),
        _ => return Err(Error::Execution(format!("wrong number of arguments for {name}"))),
    };
    let node = args.as_ptr() as usize;
    let vector = ev.series_wide_at(node, t, |timestamps| {
        let params = match scalar_arg {
            Some(arg) => scalar_steps(ev, arg, timestamps)?,
            None => Vec::new(),
        };
        let (mut series, _) = columns(ev, series_arg, timestamps)?;
        for column in &mut series {
            transform(name, &mut column.values, &params);
            column.drop_name |= drops_name(name);
        }
        Ok(step_vectors(&series, timestamps.len()))
    })?;
    Ok(StepValue::Vector(vector))
}

/// One series' values (NaN: none at that step) transformed in place; `params` holds a scalar
/// argument's value at each step.
fn transform(name: &str, values: &mut [f64], params: &[f64]) {
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
        _ => {}
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
        transform(name, &mut values, params);
        values.iter().map(|v| v.to_string()).collect()
    }

    #[test]
    fn a_query_with_a_transform_or_range_aggregation_reads_other_steps() {
        let reads = |q: &str| crate::parser::parse(q).map(|e| e.reads_other_steps()).map_err(|e| e.to_string());
        assert_eq!(reads("sum(rate(x[5m])) + running_sum(y)"), Ok(true));
        assert_eq!(reads("max_over_time(topk_last(1, x)[5m:])"), Ok(true));
        assert_eq!(reads("topk(1, median(x)) or last_over_time(x[1m])"), Ok(false));
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
        ];
        for (name, values, params, want) in cases {
            assert_eq!(transformed(name, values, params), *want, "{name}");
        }
    }
}
