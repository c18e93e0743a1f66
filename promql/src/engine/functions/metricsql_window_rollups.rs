//! More of MetricsQL's rollups, with VictoriaMetrics' arithmetic over PromQL's window
//! `(end - range, end]`: the Prometheus forms (`changes_prometheus`, `delta_prometheus`,
//! `increase_prometheus`, `rate_prometheus`: the window's own samples, no extrapolation, as
//! VictoriaMetrics computes them), `outlier_iqr_over_time`, `timestamp_with_name`, the
//! Hoeffding bounds and Prometheus 2's `holt_winters`; and two calls that are not one value per
//! window of stale-free samples: `stale_samples_over_time` and `aggr_over_time`.

use tsdb::{is_stale_nan, Sample};

use super::super::eval::{check_unique, histogram_window, Elem, Evaluator, StepValue};
use super::super::{at_ms, Error};
use super::labels::set_label;
use super::metricsql_rollups::{increase_pure, RollupWindow};
use super::{string_arg, unparen};
use crate::ast::{Expr, Pos};
use crate::functions::Function;

/// The rollups of one range argument evaluated by `value` (the Hoeffding bounds also take φ).
pub(in crate::engine) const ONE_ARGUMENT_NAMES: &[&str] =
    &["changes_prometheus", "delta_prometheus", "increase_prometheus", "outlier_iqr_over_time", "rate_prometheus", "timestamp_with_name"];

/// VictoriaMetrics' relative tolerance under which two values count as one in
/// `changes_prometheus` (float noise, not a change).
const CHANGE_TOLERANCE_RELATIVE: f64 = 1e-12;

/// The rollups `aggr_over_time` may name: VictoriaMetrics' list, less those this engine does
/// not have (`iqr_over_time`). Each is computed as this engine computes it alone.
const AGGREGABLE_NAMES: &[&str] = &[
    "absent_over_time",
    "ascent_over_time",
    "avg_over_time",
    "changes",
    "count_over_time",
    "decreases_over_time",
    "default_rollup",
    "delta",
    "deriv",
    "deriv_fast",
    "descent_over_time",
    "distinct_over_time",
    "first_over_time",
    "geomean_over_time",
    "idelta",
    "ideriv",
    "increase",
    "increase_pure",
    "increases_over_time",
    "integrate",
    "irate",
    "lag",
    "last_over_time",
    "lifetime",
    "mad_over_time",
    "max_over_time",
    "median_over_time",
    "min_over_time",
    "mode_over_time",
    "present_over_time",
    "range_over_time",
    "rate",
    "rate_over_sum",
    "resets",
    "scrape_interval",
    "stale_samples_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "sum2_over_time",
    "sum_over_time",
    "tfirst_over_time",
    "timestamp",
    "timestamp_with_name",
    "tlast_change_over_time",
    "tlast_over_time",
    "tmax_over_time",
    "tmin_over_time",
    "zscore_over_time",
];

/// Rollup `name` over the window's float samples (NaN samples already left out); `None` when
/// the window gives no value or `name` is none of this module's.
pub(in crate::engine) fn value(name: &str, samples: &[Sample], window: RollupWindow) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let value = match name {
        "changes_prometheus" => changes_noticed(samples),
        "delta_prometheus" if samples.len() >= 2 => last.value - first.value,
        "increase_prometheus" if samples.len() >= 2 => increase_pure(samples),
        // The increase per second of the whole range, not of the sampled part.
        "rate_prometheus" if samples.len() >= 2 && window.end_ms > window.start_ms => increase_pure(samples) / seconds(window.end_ms - window.start_ms),
        "outlier_iqr_over_time" => outlier_iqr(samples)?,
        "timestamp_with_name" => seconds(last.timestamp_ms),
        "hoeffding_bound_lower" => {
            let (bound, mean) = hoeffding(samples, window.param);
            mean - bound
        }
        "hoeffding_bound_upper" => {
            let (bound, mean) = hoeffding(samples, window.param);
            mean + bound
        }
        _ => return None,
    };
    (!value.is_nan()).then_some(value)
}

/// How often the value changed: a value counts as a change from the last value counted (the
/// first sample's at first) when it differs by more than float noise.
fn changes_noticed(samples: &[Sample]) -> f64 {
    let mut previous = samples[0].value;
    let mut changes = 0;
    for s in &samples[1..] {
        if s.value != previous && (s.value - previous).abs() >= CHANGE_TOLERANCE_RELATIVE * s.value.abs() {
            changes += 1;
            previous = s.value;
        }
    }
    f64::from(changes)
}

/// The last value when it lies more than 1.5 interquartile ranges below the first quartile or
/// above the third; `None` otherwise or with fewer than two samples.
fn outlier_iqr(samples: &[Sample]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let (q25, q75) = (super::super::stats::quantile(0.25, &values), super::super::stats::quantile(0.75, &values));
    let margin = 1.5 * (q75 - q25);
    let last = *values.last()?;
    (last > q75 + margin || last < q25 - margin).then_some(last)
}

/// (Hoeffding's bound for confidence `phi`, the window's mean): the bound is 0 for one sample,
/// equal samples or φ ≤ 0, infinite for φ ≥ 1, and otherwise the range of the values times
/// sqrt(ln(1 / (1 - φ)) / 2n).
fn hoeffding(samples: &[Sample], phi: f64) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().map(|s| s.value).sum::<f64>() / n;
    let (min, max) = samples.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), s| (lo.min(s.value), hi.max(s.value)));
    let range = max - min;
    if samples.len() == 1 || range <= 0.0 {
        return (0.0, mean);
    }
    if phi >= 1.0 {
        return (f64::INFINITY, mean);
    }
    if phi <= 0.0 {
        return (0.0, mean);
    }
    (range * ((1.0 / (1.0 - phi)).ln() / (2.0 * n)).sqrt(), mean)
}

/// Holt's double exponential smoothing of the window's samples (NaN left out) with smoothing
/// factor `sf` and trend factor `tf`, each in [0, 1] (outside: no value, not an error, as
/// VictoriaMetrics has it). It starts from the first sample with the trend to the second, so
/// two samples or more give Prometheus' `holt_winters`; one sample gives itself.
pub(in crate::engine) fn holt_winters(samples: &[Sample], (sf, tf): (f64, f64)) -> Option<f64> {
    if !(0.0..=1.0).contains(&sf) || !(0.0..=1.0).contains(&tf) {
        return None;
    }
    let mut values = samples.iter().map(|s| s.value).filter(|v| !v.is_nan());
    let mut smoothed = values.next()?;
    let mut rest = values.peekable();
    let Some(&second) = rest.peek() else { return Some(smoothed) };
    let mut trend = second - smoothed;
    for v in rest {
        let next = sf * v + (1.0 - sf) * (smoothed + trend);
        trend = tf * (next - smoothed) + (1.0 - tf) * trend;
        smoothed = next;
    }
    (!smoothed.is_nan()).then_some(smoothed)
}

/// `stale_samples_over_time(m[d])`: for each series with samples in the window, how many of
/// them are stale markers (which every other rollup leaves out). A range vector that is no
/// plain selector (a subquery) holds no stale markers: 0 for each series it has there.
pub(super) fn stale_samples(ev: &Evaluator<'_>, func: &Function, args: &[Expr], t: i64) -> Result<StepValue, Error> {
    let drop_name = !func.keeps_metric_name();
    let Expr::MatrixSelector { selector, range_ms, .. } = unparen(&args[0]) else {
        let StepValue::Matrix(series) = ev.eval(&args[0], t)? else {
            return Err(Error::Execution(format!("expected a range vector argument to {}", func.name)));
        };
        let out = series.into_iter().filter(|s| !s.samples.is_empty() || !s.histograms.is_empty()).map(|s| Elem::new(s.labels, 0.0, s.drop_name || drop_name)).collect();
        return Ok(StepValue::Vector(out));
    };
    let reference = at_ms(selector.at).unwrap_or(t) - selector.offset_ms;
    let windows = ev.windows(selector, reference, *range_ms);
    let mut out = Vec::new();
    let read = ev.window_read(selector);
    for (s, (from, to)) in ev.selected(selector).iter().zip(windows) {
        let histograms = &s.histograms[histogram_window(&s.histograms, reference - range_ms, reference)];
        let window = &s.samples[from..to];
        if ev.sample_stats.is_some() {
            ev.count_window(window, histograms, reference, read);
        }
        if window.is_empty() && histograms.is_empty() {
            continue;
        }
        let stale = window.iter().filter(|x| is_stale_nan(x.value)).count();
        out.push(Elem::new(s.labels.clone(), stale as f64, drop_name));
    }
    Ok(StepValue::Vector(out))
}

/// `aggr_over_time("name", m[d])`: rollup `name` of `m[d]`, each series labelled
/// `rollup="name"`, without its metric name (as VictoriaMetrics gives it).
pub(super) fn aggr_over_time(ev: &Evaluator<'_>, args: &[Expr], arg_pos: &[Pos], t: i64) -> Result<StepValue, Error> {
    let name = string_arg(ev.eval(&args[0], t)?)?;
    let Some(func) = AGGREGABLE_NAMES.contains(&name.as_str()).then(|| aggregable(&name)).flatten() else {
        return Err(Error::Execution(format!("{name:?} cannot be used in aggr_over_time(); expecting the quoted name of a rollup function such as \"max_over_time\"")));
    };
    // The range argument as the named rollup's only argument.
    let StepValue::Vector(v) = super::call(ev, func, &args[1..], arg_pos.get(1..).unwrap_or_default(), t)? else {
        return Err(Error::Execution(format!("aggr_over_time(): {name} gave no instant vector")));
    };
    let out: Vec<Elem> = v
        .into_iter()
        .map(|e| {
            let labels = set_label(&e.labels, "rollup", name.clone());
            e.relabelled(labels, true)
        })
        .collect();
    Ok(StepValue::Vector(check_unique(out)?))
}

/// The function `aggr_over_time` computes for a name it may take: VictoriaMetrics' rollup
/// `timestamp` is the last sample's time (PromQL's `timestamp` takes an instant vector).
fn aggregable(name: &str) -> Option<&'static Function> {
    crate::functions::lookup(if name == "timestamp" { "tlast_over_time" } else { name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect()
    }

    fn at(name: &str, points: &[(i64, f64)], param: f64) -> Option<f64> {
        value(name, &samples(points), RollupWindow { start_ms: 0, end_ms: 60_000, param })
    }

    #[test]
    fn every_aggregable_name_is_a_rollup_of_one_range_argument() {
        for name in AGGREGABLE_NAMES {
            let func = aggregable(name).unwrap_or_else(|| panic!("{name} is unknown"));
            assert_eq!((func.arg_types.first(), func.min_args), (Some(&crate::ast::ValueType::Matrix), 1), "{name}");
        }
        assert!(AGGREGABLE_NAMES.windows(2).all(|w| w[0] < w[1]), "sorted, so that a duplicate shows");
    }

    #[test]
    fn prometheus_forms_read_the_window_alone() {
        let points = [(10_000, 5.0), (20_000, 9.0), (30_000, 2.0), (40_000, 2.0), (50_000, 4.0)];
        // 5 → 9 → 2 → 4: three changes; delta 4 − 5; the drop 9 → 2 a restart, +9.
        assert_eq!(at("changes_prometheus", &points, 0.0), Some(3.0));
        assert_eq!(at("delta_prometheus", &points, 0.0), Some(-1.0));
        assert_eq!(at("increase_prometheus", &points, 0.0), Some(8.0));
        assert_eq!(at("rate_prometheus", &points, 0.0), Some(8.0 / 60.0));
        for name in ["delta_prometheus", "increase_prometheus", "rate_prometheus"] {
            assert_eq!(at(name, &[(10_000, 5.0)], 0.0), None, "{name}");
        }
        assert_eq!(at("changes_prometheus", &[(10_000, 5.0)], 0.0), Some(0.0));
    }

    #[test]
    fn changes_prometheus_ignores_float_noise() {
        let noisy = [(10_000, 1.0), (20_000, 1.0 + 1e-15), (30_000, 2.0)];
        assert_eq!(at("changes_prometheus", &noisy, 0.0), Some(1.0));
    }

    #[test]
    fn outlier_iqr_gives_the_last_value_only_when_it_is_far_out() {
        // 1 2 3 4 100: q25 2, q75 4, margin 3: 100 > 7.
        let far = [(10_000, 1.0), (20_000, 2.0), (30_000, 3.0), (40_000, 4.0), (50_000, 100.0)];
        assert_eq!(at("outlier_iqr_over_time", &far, 0.0), Some(100.0));
        let near = [(10_000, 1.0), (20_000, 2.0), (30_000, 3.0), (40_000, 4.0), (50_000, 5.0)];
        assert_eq!(at("outlier_iqr_over_time", &near, 0.0), None);
        assert_eq!(at("outlier_iqr_over_time", &[(10_000, 1.0)], 0.0), None);
    }

    #[test]
    fn hoeffding_bounds_around_the_mean() {
        // Mean 2, range 2, n 3: 2 · sqrt(ln(1/0.1) / 6).
        let points = [(10_000, 1.0), (20_000, 2.0), (30_000, 3.0)];
        let bound = 2.0 * (10f64.ln() / 6.0).sqrt();
        assert_eq!(at("hoeffding_bound_upper", &points, 0.9), Some(2.0 + bound));
        assert_eq!(at("hoeffding_bound_lower", &points, 0.9), Some(2.0 - bound));
        assert_eq!(at("hoeffding_bound_upper", &points, 1.0), Some(f64::INFINITY));
        assert_eq!(at("hoeffding_bound_lower", &points, 0.0), Some(2.0));
        assert_eq!(at("hoeffding_bound_lower", &[(10_000, 7.0)], 0.5), Some(7.0));
    }

    #[test]
    fn holt_winters_matches_double_exponential_smoothing_from_two_samples() {
        let points = samples(&[(10_000, 1.0), (20_000, 4.0), (30_000, 3.0), (40_000, 8.0)]);
        let ours = holt_winters(&points, (0.3, 0.6));
        let prometheus = super::super::super::range_functions::double_exponential_smoothing(&points, 0.3, 0.6);
        assert!(ours.is_some());
        assert!((ours.unwrap_or_default() - prometheus.unwrap_or_default()).abs() < 1e-12, "{ours:?} {prometheus:?}");
        assert_eq!(holt_winters(&points[..1], (0.3, 0.6)), Some(1.0));
        assert_eq!(holt_winters(&points, (1.5, 0.6)), None);
        assert_eq!(holt_winters(&[], (0.5, 0.5)), None);
    }
}
