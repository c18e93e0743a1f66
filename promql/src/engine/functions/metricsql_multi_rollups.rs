//! MetricsQL's rollups that give several series for each input series: `count_values_over_time`
//! (one per distinct value, the value in a label), `quantiles_over_time` (one per φ),
//! `histogram_over_time` (one per VictoriaMetrics bucket, in `vmrange`) and the `rollup*` family (`min`/`max`/`avg`
//! of the samples, of their per-second changes, increases, deltas or intervals; or the
//! `open`/`close`/`low`/`high` candlestick), named in the `rollup` label unless a second
//! argument picks one. Windows are PromQL's `(t - range, t]`; NaN samples and histograms are left out.

use tsdb::{Labels, Sample};

use super::super::annotations::Annotation;
use super::super::eval::{check_unique, Elem, Evaluator, RangeSeries, StepValue};
use super::super::histogram_eval::metric_name;
use super::labels::set_label;
use super::{string_arg, Error};
use crate::ast::{Expr, Pos};

/// The label that tells the `rollup*` family's series apart.
const ROLLUP_LABEL: &str = "rollup";

/// The statistics `rollup`, `rollup_rate` … give, in the order their series come.
const STATISTICS: &[&str] = &["min", "max", "avg"];

/// The parts of `rollup_candlestick`, in the order its series come.
const CANDLESTICK_PARTS: &[&str] = &["open", "close", "low", "high"];

/// The `rollup*` family.
const ROLLUP_FAMILY: &[&str] = &["rollup", "rollup_candlestick", "rollup_delta", "rollup_deriv", "rollup_increase", "rollup_rate", "rollup_scrape_interval"];

pub(in crate::engine) fn handles(name: &str) -> bool {
    matches!(name, "count_values_over_time" | "quantiles_over_time" | "histogram_over_time") || ROLLUP_FAMILY.contains(&name)
}

/// `name(args)` at step `t`; `arg_pos` points annotations at the range argument.
pub(in crate::engine) fn call(ev: &Evaluator<'_>, name: &str, args: &[Expr], arg_pos: &[Pos], t: i64) -> Result<StepValue, Error> {
    let pos = |i: usize| arg_pos.get(i).copied().unwrap_or_default();
    let mut out = Vec::new();
    match (name, args) {
        ("count_values_over_time", [label, range]) => {
            let label = string_arg(ev.eval(label, t)?)?;
            if label.is_empty() {
                return Err(Error::Execution("count_values_over_time: the label name must not be empty".into()));
            }
            for (labels, samples) in float_series(ev, range, t, pos(1))? {
                for (value, count) in counted_values(&samples) {
                    out.push(Elem::new(set_label(&labels, &label, crate::format::go_float_g(value)), count, true));
                }
            }
        }
        // One `vmrange` bucket series per bucket holding a sample of the window.
        ("histogram_over_time", [range]) => {
            for (labels, samples) in float_series(ev, range, t, pos(0))? {
                out.extend(super::super::vm_histogram::histogram_over_window(&labels, &samples));
            }
        }
        // One series per φ (each read at the step), the φ in the label as VictoriaMetrics
        // writes it (`%g`), the name kept as there (a quantile is one of the samples' values);
        // a NaN quantile gives nothing.
        ("quantiles_over_time", [label, phis @ .., range]) if !phis.is_empty() => {
            let label = string_arg(ev.eval(label, t)?)?;
            let phis: Vec<f64> = phis
                .iter()
                .map(|phi| match ev.eval(phi, t)? {
                    StepValue::Scalar(v) => Ok(v),
                    _ => Err(Error::Execution("quantiles_over_time: expected scalar φ arguments".into())),
                })
                .collect::<Result<_, Error>>()?;
            for (labels, samples) in float_series(ev, range, t, pos(args.len() - 1))? {
                let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
                for &phi in &phis {
                    let value = super::super::stats::quantile(phi, &values);
                    if !value.is_nan() {
                        out.push(Elem::new(set_label(&labels, &label, crate::format::go_float_g(phi)), value, false));
                    }
                }
            }
        }
        (_, [range, rest @ ..]) if ROLLUP_FAMILY.contains(&name) && rest.len() <= 1 => {
            let parts = if name == "rollup_candlestick" { CANDLESTICK_PARTS } else { STATISTICS };
            let picked = match rest.first() {
                Some(arg) => Some(string_arg(ev.eval(arg, t)?)?),
                None => None,
            };
            if let Some(picked) = &picked {
                if !parts.contains(&picked.as_str()) {
                    return Err(Error::Execution(format!("unexpected second argument for {name}: {picked:?}; want one of {}", parts.join(", "))));
                }
            }
            // `rollup` and `rollup_candlestick` keep the meaning of the samples, and their name.
            let drop_name = !matches!(name, "rollup" | "rollup_candlestick");
            for (labels, samples) in float_series(ev, range, t, pos(0))? {
                let derived = derived_values(name, &samples);
                for part in parts.iter().filter(|p| picked.as_deref().is_none_or(|picked| picked == **p)) {
                    let Some(value) = summarised(part, &derived).filter(|v| !v.is_nan()) else { continue };
                    // A picked part is not named: the series are those of its input.
                    let labels = if picked.is_some() { labels.clone() } else { set_label(&labels, ROLLUP_LABEL, (*part).to_string()) };
                    out.push(Elem::new(labels, value, drop_name));
                }
            }
        }
        _ => return Err(Error::Execution(format!("wrong number of arguments for {name}"))),
    }
    Ok(StepValue::Vector(check_unique(out)?))
}

/// Each series of the range argument with its float samples that are not NaN (series without
/// any are left out); histogram samples are left out, with Prometheus' info where floats remain.
fn float_series(ev: &Evaluator<'_>, range: &Expr, t: i64, pos: Pos) -> Result<Vec<(Labels, Vec<Sample>)>, Error> {
    let StepValue::Matrix(series) = ev.eval(range, t)? else {
        return Err(Error::Execution("expected a range vector argument".into()));
    };
    let mut out = Vec::with_capacity(series.len());
    for RangeSeries { labels, samples, histograms, .. } in series {
        let samples: Vec<Sample> = samples.into_iter().filter(|s| !s.value.is_nan()).collect();
        if samples.is_empty() {
            continue;
        }
        if !histograms.is_empty() {
            ev.annotate(Annotation::HistogramIgnoredInMixedRange { metric: metric_name(&labels) }, pos);
        }
        out.push((labels, samples));
    }
    Ok(out)
}

/// Each distinct value of the window (by its printed form, so -0 and 0 are two) with how many
/// samples hold it, in order of first appearance.
fn counted_values(samples: &[Sample]) -> Vec<(f64, f64)> {
    let mut counted: Vec<(String, f64, f64)> = Vec::new();
    for s in samples {
        let text = crate::format::go_float_g(s.value);
        match counted.iter_mut().find(|(known, ..)| *known == text) {
            Some((_, _, count)) => *count += 1.0,
            None => counted.push((text, s.value, 1.0)),
        }
    }
    counted.into_iter().map(|(_, value, count)| (value, count)).collect()
}

/// What a `rollup*` function summarises: the samples' values (`rollup`, `rollup_candlestick`),
/// or one value per pair of consecutive samples: the per-second change (`rollup_deriv`; with
/// counter resets taken out, `rollup_rate`), the change (`rollup_delta`; `rollup_increase`
/// with resets taken out) or the seconds between them (`rollup_scrape_interval`). Pairs at one
/// timestamp give no per-second change.
fn derived_values(name: &str, samples: &[Sample]) -> Vec<f64> {
    let pairs = samples.windows(2);
    let seconds = |w: &[Sample]| (w[1].timestamp_ms - w[0].timestamp_ms) as f64 / 1000.0;
    match name {
        "rollup_deriv" => pairs.filter(|w| seconds(w) > 0.0).map(|w| (w[1].value - w[0].value) / seconds(w)).collect(),
        "rollup_rate" => pairs.filter(|w| seconds(w) > 0.0).map(|w| counter_increase(w[0].value, w[1].value) / seconds(w)).collect(),
        "rollup_delta" => pairs.map(|w| w[1].value - w[0].value).collect(),
        "rollup_increase" => pairs.map(|w| counter_increase(w[0].value, w[1].value)).collect(),
        "rollup_scrape_interval" => pairs.map(seconds).collect(),
        _ => samples.iter().map(|s| s.value).collect(),
    }
}

/// A counter's increase from `previous` to `value` as VictoriaMetrics corrects resets: a drop
/// by less than an eighth of `previous` is a dip (no increase), a larger one a restart from zero.
fn counter_increase(previous: f64, value: f64) -> f64 {
    let drop = previous - value;
    match drop {
        d if d <= 0.0 => value - previous,
        d if d * 8.0 < previous => 0.0,
        _ => value,
    }
}

/// `part` (a statistic or candlestick part) of `values`; `None` without values.
fn summarised(part: &str, values: &[f64]) -> Option<f64> {
    let (first, last) = (values.first()?, values.last()?);
    Some(match part {
        "min" | "low" => values.iter().copied().fold(*first, f64::min),
        "max" | "high" => values.iter().copied().fold(*first, f64::max),
        "avg" => values.iter().sum::<f64>() / values.len() as f64,
        "open" => *first,
        "close" => *last,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect()
    }

    #[test]
    fn derived_values_pair_consecutive_samples() {
        let points = samples(&[(0, 10.0), (10_000, 30.0), (10_000, 35.0), (20_000, 5.0), (40_000, 4.0)]);
        assert_eq!(derived_values("rollup_delta", &points), vec![20.0, 5.0, -30.0, -1.0]);
        // 35 → 5 and 5 → 4 drop by more than an eighth: restarts (increases 5 and 4).
        assert_eq!(derived_values("rollup_increase", &points), vec![20.0, 5.0, 5.0, 4.0]);
        assert_eq!(derived_values("rollup_rate", &points), vec![2.0, 0.5, 0.2]);
        // 40 → 38 drops by less than 40/8: a dip, no increase.
        assert_eq!(counter_increase(40.0, 38.0), 0.0);
        assert_eq!(derived_values("rollup_deriv", &points), vec![2.0, -3.0, -0.05]);
        assert_eq!(derived_values("rollup_scrape_interval", &points), vec![10.0, 0.0, 10.0, 20.0]);
        assert!(derived_values("rollup_rate", &points[..1]).is_empty());
    }

    #[test]
    fn parts_of_values() {
        let values = [3.0, 1.0, 5.0, 3.0];
        let got: Vec<Option<f64>> = ["min", "max", "avg", "open", "close", "low", "high"].iter().map(|p| summarised(p, &values)).collect();
        assert_eq!(got, vec![Some(1.0), Some(5.0), Some(3.0), Some(3.0), Some(3.0), Some(1.0), Some(5.0)]);
        assert_eq!(summarised("min", &[]), None);
    }

    #[test]
    fn values_are_counted_by_their_printed_form() {
        let points = samples(&[(0, 2.0), (1, -0.0), (2, 2.0), (3, 0.0)]);
        let counted = counted_values(&points);
        assert_eq!(counted.len(), 3);
        assert_eq!(counted[0], (2.0, 2.0));
    }
}
