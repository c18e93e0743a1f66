//! Function calls: dispatch by name, instant-vector math, date functions, label
//! manipulation, sorting, `absent*`, `histogram_quantile`, and the range-vector family
//! (whose windows come from the argument's range, offset and `@`), and MetricsQL's label
//! functions and whole-series transforms. This file owns the
//! dispatch and the argument helpers; its children hold the label helpers, the quantile
//! helpers and the range-vector family.

use std::f64::consts::PI;

use regex::Regex;
use tsdb::{Labels, METRIC_NAME_LABEL};

use super::annotations::Annotation;
use super::classic_histogram::bucket_fraction;
use super::native_histogram::Notes;
use super::{series_wide, vm_histogram};
use super::eval::{check_unique, Elem, Evaluator, StepValue};
use super::stats::{go_max, go_min};
use super::{at_ms, Error};
use crate::ast::{Expr, Pos};
use crate::functions::Function;

mod labels;
mod metricsql_labels;
mod metricsql_multi_rollups;
mod metricsql_transforms;
pub(super) mod metricsql_rollups;
pub(super) mod metricsql_window_rollups;
mod metricsql_value_transforms;
mod quantiles;
mod range;
mod timezone;

use labels::{absent_labels, expand, natural_cmp, numeric_cmp, set_label};
use quantiles::invalid_quantile;
use range::range_call;
pub(super) use range::{looks_like_non_counter, possible_non_counter, range_value, RangeArgs, RangeKind};

/// An instant vector argument's float elements: the functions that compute on values
/// leave native histograms out, as Prometheus does.
fn vector_arg(v: StepValue) -> Result<Vec<Elem>, Error> {
    let mut v = any_vector_arg(v)?;
    v.retain(|e| e.histogram.is_none());
    Ok(v)
}

/// An instant vector argument with its histogram elements (for functions that keep or read them).
fn any_vector_arg(v: StepValue) -> Result<Vec<Elem>, Error> {
    match v {
        StepValue::Vector(v) => Ok(v),
        _ => Err(Error::Execution("expected an instant vector argument".into())),
    }
}

fn scalar_arg(v: StepValue) -> Result<f64, Error> {
    match v {
        StepValue::Scalar(s) => Ok(s),
        _ => Err(Error::Execution("expected a scalar argument".into())),
    }
}

fn string_arg(v: StepValue) -> Result<String, Error> {
    match v {
        StepValue::String(s) => Ok(s),
        _ => Err(Error::Execution("expected a string argument".into())),
    }
}

/// The innermost expression below parentheses.
pub(super) fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(inner) => unparen(inner),
        other => other,
    }
}

/// (start, end) of the window a range argument covers at step `t`.
pub(super) fn range_window(arg: &Expr, t: i64) -> (i64, i64) {
    match unparen(arg) {
        Expr::MatrixSelector { selector, range_ms, .. } => {
            let end = at_ms(selector.at).unwrap_or(t) - selector.offset_ms;
            (end - range_ms, end)
        }
        Expr::Subquery(sq) => {
            let end = at_ms(sq.at).unwrap_or(t) - sq.offset_ms;
            (end - sq.range_ms, end)
        }
        _ => (t, t),
    }
}

fn map_values(v: Vec<Elem>, f: impl Fn(f64) -> f64) -> Vec<Elem> {
    v.into_iter().map(|e| Elem::new(e.labels, f(e.value), e.drop_name)).collect()
}

/// Civil date parts of a Unix time in seconds: (year, month, day, weekday 0=Sunday, day of year, hour, minute).
fn civil(seconds: f64) -> (i64, i64, i64, i64, i64, i64, i64) {
    let secs = seconds.floor() as i64;
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = crate::format::civil_from_days(days);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let day_of_year = cumulative[(month - 1) as usize] + day + i64::from(leap && month > 2);
    let weekday = (days + 4).rem_euclid(7);
    (year, month, day, weekday, day_of_year, of_day / 3600, of_day % 3600 / 60)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn sort_by_value(mut v: Vec<Elem>, descending: bool) -> Vec<Elem> {
    v.sort_by(|Elem { value: a, .. }, Elem { value: b, .. }| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if descending => b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal),
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
    v
}

pub(super) fn call(ev: &Evaluator<'_>, func: &Function, args: &[Expr], arg_pos: &[Pos], t: i64) -> Result<StepValue, Error> {
    let name = func.name;
    let arg = |i: usize| ev.eval(&args[i], t);
    let pos = |i: usize| arg_pos.get(i).copied().unwrap_or_default();
    let result: Vec<Elem> = match name {
        "info" => return super::info::evaluate(ev, args, t),
        // Several arguments held as one (`functions::ARGUMENT_LIST`): one vector of them all.
        "__argument_list" => {
            let mut all = Vec::new();
            for i in 0..args.len() {
                match arg(i)? {
                    StepValue::Scalar(v) => all.push(Elem::new(Labels::default(), v, false)),
                    StepValue::Vector(v) => all.extend(v),
                    _ => return Err(Error::Execution("expected scalar or instant vector arguments".into())),
                }
            }
            return Ok(StepValue::Vector(all));
        }
        "time" => return Ok(StepValue::Scalar(t as f64 / 1000.0)),
        "pi" => return Ok(StepValue::Scalar(PI)),
        "vector" => return Ok(StepValue::Vector(vec![Elem::new(Labels::default(), scalar_arg(arg(0)?)?, false)])),
        "scalar" => {
            // Histograms are not counted: one float among them is the scalar.
            let v = vector_arg(arg(0)?)?;
            return Ok(StepValue::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN }));
        }
        "start" => return Ok(StepValue::Scalar(ev.start_ms as f64 / 1000.0)),
        "end" => return Ok(StepValue::Scalar(ev.end_ms as f64 / 1000.0)),
        "step" => return Ok(StepValue::Scalar(ev.step_ms as f64 / 1000.0)),
        // `Ni` as a number is made seconds when the query is prepared (`resolve_durations`).
        "__step_multiple" => return Err(Error::Execution("a number of steps (Ni) left unresolved".into())),
        "range" => return Ok(StepValue::Scalar((ev.end_ms - ev.start_ms) as f64 / 1000.0)),
        "min_of" | "max_of" => {
            let (a, b) = (scalar_arg(arg(0)?)?, scalar_arg(arg(1)?)?);
            return Ok(StepValue::Scalar(if name == "min_of" { go_min(a, b) } else { go_max(a, b) }));
        }
        "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "sin" | "cos" | "tan" | "asin" | "acos" | "atan"
        | "sinh" | "cosh" | "tanh" | "asinh" | "acosh" | "atanh" | "deg" | "rad" => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "sqrt" => f64::sqrt,
                "ln" => f64::ln,
                "log2" => f64::log2,
                "log10" => f64::log10,
                "sgn" => |x| if x > 0.0 { 1.0 } else if x < 0.0 { -1.0 } else { x },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => f64::to_degrees,
                _ => f64::to_radians,
            };
            map_values(vector_arg(arg(0)?)?, f)
        }
        "round" => {
            let to_nearest = if args.len() > 1 { scalar_arg(arg(1)?)? } else { 1.0 };
            let inverse = 1.0 / to_nearest;
            map_values(vector_arg(arg(0)?)?, |x| (x * inverse + 0.5).floor() / inverse)
        }
        "clamp" => {
            let (lo, hi) = (scalar_arg(arg(1)?)?, scalar_arg(arg(2)?)?);
            if hi < lo {
                Vec::new()
            } else {
                map_values(vector_arg(arg(0)?)?, |x| go_max(lo, go_min(hi, x)))
            }
        }
        "clamp_min" => {
            let lo = scalar_arg(arg(1)?)?;
            map_values(vector_arg(arg(0)?)?, |x| go_max(lo, x))
        }
        "clamp_max" => {
            let hi = scalar_arg(arg(1)?)?;
            map_values(vector_arg(arg(0)?)?, |x| go_min(hi, x))
        }
        "timestamp" => match unparen(&args[0]) {
            Expr::VectorSelector(vs) => {
                // As Prometheus counts it: one float per series, histograms too.
                let elems: Vec<Elem> = ev.instant_elems_timed(vs, t).into_iter().map(|(e, at)| Elem::new(e.labels, at as f64 / 1000.0, false)).collect();
                ev.count_instant(vs, &elems);
                elems
            }
            _ => any_vector_arg(arg(0)?)?.into_iter().map(|e| Elem::new(e.labels, t as f64 / 1000.0, e.drop_name)).collect(),
        },
        "start_timestamp" => match unparen(&args[0]) {
            Expr::VectorSelector(vs) if ev.options.use_start_timestamps => {
                ev.instant_starts(vs, t).into_iter().map(|(labels, start_ms)| Elem::new(labels, start_ms as f64 / 1000.0, false)).collect()
            }
            Expr::VectorSelector(_) => Vec::new(),
            // Only a selector's samples carry start times; an expression's values have none.
            _ => {
                any_vector_arg(arg(0)?)?;
                Vec::new()
            }
        },
        "year" | "month" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute" => {
            let input = if args.is_empty() { vec![Elem::new(Labels::default(), t as f64 / 1000.0, false)] } else { vector_arg(arg(0)?)? };
            input
                .into_iter()
                .map(|Elem { labels: l, value: x, drop_name, .. }| {
                    if x.is_nan() || x.is_infinite() {
                        return Elem::new(l, x, drop_name);
                    }
                    let (y, mo, d, wd, yd, h, mi) = civil(x);
                    let v = match name {
                        "year" => y,
                        "month" => mo,
                        "day_of_month" => d,
                        "day_of_week" => wd,
                        "day_of_year" => yd,
                        "days_in_month" => days_in_month(y, mo),
                        "hour" => h,
                        _ => mi,
                    };
                    Elem::new(l, v as f64, drop_name)
                })
                .collect()
        }
        "absent" => {
            if !any_vector_arg(arg(0)?)?.is_empty() {
                return Ok(StepValue::Vector(Vec::new()));
            }
            let vs = match unparen(&args[0]) {
                Expr::VectorSelector(vs) => Some(vs),
                _ => None,
            };
            return Ok(StepValue::Vector(vec![Elem::new(absent_labels(vs), 1.0, false)]));
        }
        "absent_over_time" => {
            let StepValue::Matrix(m) = arg(0)? else { return Err(Error::Execution("expected a range vector".into())) };
            if !m.is_empty() {
                return Ok(StepValue::Vector(Vec::new()));
            }
            let vs = match unparen(&args[0]) {
                Expr::MatrixSelector { selector, .. } => Some(selector),
                _ => None,
            };
            return Ok(StepValue::Vector(vec![Elem::new(absent_labels(vs), 1.0, false)]));
        }
        "label_replace" => {
            let v = any_vector_arg(arg(0)?)?;
            let (dst, replacement, src, pattern) = (string_arg(arg(1)?)?, string_arg(arg(2)?)?, string_arg(arg(3)?)?, string_arg(arg(4)?)?);
            let re = Regex::new(&format!("^(?s:{pattern})$"))
                .map_err(|e| Error::Execution(format!("invalid regular expression in label_replace(): {pattern}: {e}")))?;
            if dst.is_empty() {
                return Err(Error::Execution(format!("invalid destination label name in label_replace(): {dst}")));
            }
            let out: Vec<Elem> = v
                .into_iter()
                .map(|e| match re.captures(e.labels.get(&src).unwrap_or("")) {
                    // Setting the name makes it a named metric again.
                    Some(caps) => {
                        let (labels, drop_name) = (set_label(&e.labels, &dst, expand(&replacement, &caps)), e.drop_name && dst != METRIC_NAME_LABEL);
                        e.relabelled(labels, drop_name)
                    }
                    None => e,
                })
                .collect();
            return Ok(StepValue::Vector(check_unique(out)?));
        }
        "label_join" => {
            let v = any_vector_arg(arg(0)?)?;
            let (dst, sep) = (string_arg(arg(1)?)?, string_arg(arg(2)?)?);
            let mut sources = Vec::new();
            for i in 3..args.len() {
                sources.push(string_arg(arg(i)?)?);
            }
            let out: Vec<Elem> = v
                .into_iter()
                .map(|e| {
                    let joined: Vec<&str> = sources.iter().map(|s| e.labels.get(s).unwrap_or("")).collect();
                    let (labels, drop_name) = (set_label(&e.labels, &dst, joined.join(&sep)), e.drop_name && dst != METRIC_NAME_LABEL);
                    e.relabelled(labels, drop_name)
                })
                .collect();
            return Ok(StepValue::Vector(check_unique(out)?));
        }
        "sort" | "sort_desc" => return Ok(StepValue::Vector(sort_by_value(vector_arg(arg(0)?)?, name == "sort_desc"))),
        "sort_by_label" | "sort_by_label_desc" | "sort_by_label_numeric" | "sort_by_label_numeric_desc" => {
            let mut v = any_vector_arg(arg(0)?)?;
            let mut keys = Vec::new();
            for i in 1..args.len() {
                keys.push(string_arg(arg(i)?)?);
            }
            // MetricsQL's numeric variants read signs and fractions too ("-1" < "0.5" < "2").
            let compare = if name.starts_with("sort_by_label_numeric") { numeric_cmp } else { natural_cmp };
            v.sort_by(|Elem { labels: a, .. }, Elem { labels: b, .. }| {
                let by_keys = keys.iter().map(|k| compare(a.get(k).unwrap_or(""), b.get(k).unwrap_or(""))).find(|o| o.is_ne());
                let ordering = by_keys.unwrap_or_else(|| a.cmp(b));
                if name.ends_with("_desc") { ordering.reverse() } else { ordering }
            });
            return Ok(StepValue::Vector(v));
        }
        "histogram_quantile" => {
            let q = scalar_arg(arg(0)?)?;
            if invalid_quantile(q) {
                ev.annotate(Annotation::InvalidQuantile(q), pos(0));
            }
            let input = any_vector_arg(arg(1)?)?;
            // VictoriaMetrics' histograms (`vmrange` buckets, or a third argument) take its meaning.
            let bounds_label = if args.len() > 2 { Some(string_arg(arg(2)?)?) } else { None };
            let (vm, input) = if bounds_label.is_some() || vm_histogram::has_vmrange(&input) {
                vm_histogram::histograms(input, bounds_label.is_some())
            } else {
                (Vec::new(), input)
            };
            let vm = vm_histogram::quantiles(q, vm, bounds_label.as_deref());
            if bounds_label.is_some() {
                return Ok(StepValue::Vector(check_unique(vm)?));
            }
            let input = ev.split_annotated(input, pos(1));
            let natives = input.natives.into_iter().map(|(l, h)| {
                let v = ev.native_quantile(q, &l, &h, pos(1));
                Elem::new(l, v, true)
            });
            let classic = input.classic.into_iter().map(|(l, b)| {
                let v = ev.classic_quantile(q, &l, b, pos(1), t);
                Elem::new(l, v, true)
            });
            check_unique(natives.chain(classic).chain(vm).collect())?
        }
        // MetricsQL's `histogram_quantiles("label", φ1, …, φN, buckets)`: VictoriaMetrics'
        // quantiles, the φ written as `%g`.
        "histogram_quantiles" if matches!(args.first(), Some(Expr::String(_))) => {
            let label = string_arg(arg(0)?)?;
            let Some(last) = args.len().checked_sub(1) else { return Err(Error::Execution("histogram_quantiles needs its arguments".into())) };
            let input = any_vector_arg(arg(last)?)?;
            let (vm, _) = vm_histogram::histograms(input, true);
            let mut out = Vec::new();
            for i in 1..last {
                let q = scalar_arg(arg(i)?)?;
                let text = crate::format::go_float_g(q);
                out.extend(vm_histogram::quantiles(q, vm.clone(), None).into_iter().map(|e| {
                    let labels = set_label(&e.labels, &label, text.clone());
                    e.relabelled(labels, true)
                }));
            }
            check_unique(out)?
        }
        "histogram_quantiles" => {
            let input = any_vector_arg(arg(0)?)?;
            let label = string_arg(arg(1)?)?;
            let mut qs = Vec::new();
            for i in 2..args.len() {
                let q = scalar_arg(arg(i)?)?;
                if invalid_quantile(q) {
                    ev.annotate(Annotation::InvalidQuantile(q), pos(i));
                }
                qs.push(q);
            }
            let (vm, input) = if vm_histogram::has_vmrange(&input) { vm_histogram::histograms(input, false) } else { (Vec::new(), input) };
            let input = ev.split_annotated(input, pos(0));
            let mut out = Vec::new();
            for q in qs {
                let text = crate::format::open_metrics_float(q);
                for e in vm_histogram::quantiles(q, vm.clone(), None) {
                    let labels = set_label(&e.labels, &label, text.clone());
                    out.push(e.relabelled(labels, true));
                }
                for (labels, h) in &input.natives {
                    out.push(Elem::new(set_label(labels, &label, text.clone()), ev.native_quantile(q, labels, h, pos(0)), true));
                }
                for (labels, buckets) in &input.classic {
                    out.push(Elem::new(set_label(labels, &label, text.clone()), ev.classic_quantile(q, labels, buckets.clone(), pos(0), t), true));
                }
            }
            check_unique(out)?
        }
        "histogram_fraction" => {
            let (lower, upper) = (scalar_arg(arg(0)?)?, scalar_arg(arg(1)?)?);
            let input = ev.split_annotated(any_vector_arg(arg(2)?)?, pos(2));
            let natives = input.natives.into_iter().map(|(l, h)| {
                let mut notes = Notes::default();
                let v = super::native_histogram::fraction_noting(lower, upper, &h, &mut notes);
                if notes.nan_observations {
                    ev.annotate(Annotation::FractionNaNs { metric: ev.input_metric(&l) }, pos(2));
                }
                Elem::new(l, v, true)
            });
            let classic = input.classic.into_iter().map(|(l, b)| Elem::new(l, bucket_fraction(lower, upper, b), true));
            natives.chain(classic).collect()
        }
        "histogram_count" | "histogram_sum" => super::histogram_eval::histogram_function(name, any_vector_arg(arg(0)?)?).unwrap_or_default(),
        // Native histograms as Prometheus reads them; float `le`/`vmrange` buckets (which
        // Prometheus leaves out) as VictoriaMetrics does.
        "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            let input = any_vector_arg(arg(0)?)?;
            let (vm, natives) = vm_histogram::histograms(input, true);
            let mut out = super::histogram_eval::histogram_function(name, natives).unwrap_or_default();
            out.extend(vm_histogram::moments(name, vm));
            check_unique(out)?
        }
        "histogram_share" => {
            let le = scalar_arg(arg(0)?)?;
            let bounds_label = if args.len() > 2 { Some(string_arg(arg(2)?)?) } else { None };
            let (vm, _) = vm_histogram::histograms(any_vector_arg(arg(1)?)?, true);
            check_unique(vm_histogram::shares(le, vm, bounds_label.as_deref()))?
        }
        // Over the whole grid, as VictoriaMetrics reads the whole range (`series_wide`).
        "prometheus_buckets" | "buckets_limit" => {
            let (limit_arg, buckets_arg) = match args {
                [buckets] => (None, buckets),
                [limit, buckets] => (Some(limit), buckets),
                _ => return Err(Error::Execution(format!("wrong number of arguments for {name}"))),
            };
            let vector = ev.series_wide_at(args.as_ptr() as usize, t, |timestamps| {
                let (columns, _) = series_wide::columns(ev, buckets_arg, timestamps)?;
                let out = match limit_arg {
                    None => vm_histogram::prometheus_buckets(columns),
                    Some(limit) => {
                        // Read at the first step, as VictoriaMetrics reads it.
                        let first_step = timestamps.get(..1).unwrap_or_default();
                        let limit = series_wide::scalar_steps(ev, limit, first_step)?.first().copied().unwrap_or(f64::NAN).trunc();
                        if limit.is_nan() || limit < 1.0 {
                            return Err(Error::Execution(format!("buckets_limit: limit must be greater than 0; got {}", crate::format::go_float_g(limit))));
                        }
                        // Saturates: a limit above any bucket count keeps every bucket.
                        vm_histogram::buckets_limit(limit as usize, columns)
                    }
                };
                Ok(series_wide::step_vectors(&out, timestamps.len()))
            })?;
            return Ok(StepValue::Vector(vector));
        }
        "stale_samples_over_time" => return metricsql_window_rollups::stale_samples(ev, func, args, t),
        "aggr_over_time" => return metricsql_window_rollups::aggr_over_time(ev, args, arg_pos, t),
        _ if metricsql_value_transforms::handles(name) => return metricsql_value_transforms::call(ev, name, args, t),
        _ if metricsql_labels::handles(name) => return metricsql_labels::call(ev, name, args, t),
        _ if metricsql_transforms::handles(name) => return metricsql_transforms::call(ev, name, args, t),
        _ if metricsql_multi_rollups::handles(name) => return metricsql_multi_rollups::call(ev, name, args, arg_pos, t),
        _ => return range_call(ev, func, args, arg_pos, t),
    };
    let result = if func.keeps_metric_name() {
        result
    } else {
        result
            .into_iter()
            .map(|e| {
                let labels = e.labels.clone();
                e.relabelled(labels, true)
            })
            .collect()
    };
    Ok(StepValue::Vector(result))
}
