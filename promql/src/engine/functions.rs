//! Function calls: dispatch by name, instant-vector math, date functions, label
//! manipulation, sorting, `absent*`, `histogram_quantile`, and the range-vector family
//! (whose windows come from the argument's range, offset and `@`).

use std::f64::consts::PI;

use regex::Regex;
use tsdb::{Label, Labels, MatchOp, Sample, METRIC_NAME_LABEL};

use super::annotations::Annotation;
use super::classic_histogram::{bucket_fraction, bucket_quantile_noting, split_histograms, ForcedMonotonicity, HistogramInput};
use super::histogram_eval::{metric_name, WindowReport};
use super::native_histogram::Notes;
use super::eval::{check_unique, Elem, Evaluator, RangeSeries, StepValue};
use super::range_functions::{anchored_start, changes, double_exponential_smoothing, extended_rate, extrapolated_rate, instant_value, linear_regression, over_time, resets};
use super::start_times::{self, WindowStarts};
use super::stats::{go_max, go_min};
use super::{at_ms, extended_margins, Error};
use crate::ast::{Expr, Pos, VectorSelector};
use crate::functions::Function;

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

/// Labels `absent()` reports: equality matchers on labels matched exactly once.
fn absent_labels(vs: Option<&VectorSelector>) -> Labels {
    let Some(vs) = vs else { return Labels::default() };
    let mut pairs = Vec::new();
    for m in &vs.matchers {
        if m.name == METRIC_NAME_LABEL || m.op != MatchOp::Equal {
            continue;
        }
        if vs.matchers.iter().filter(|o| o.name == m.name).count() == 1 {
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    Labels::from_pairs(pairs)
}

/// Go's `regexp.Expand`: `$1`, `${1}`, `$name`, `${name}`, `$$`.
fn expand(template: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, after) = if let Some(r) = rest.strip_prefix('{') {
            match r.find('}') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => {
                    out.push('$');
                    continue;
                }
            }
        } else {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        let value = match name.parse::<usize>() {
            Ok(n) => caps.get(n),
            Err(_) => caps.name(name),
        };
        out.push_str(value.map_or("", |m| m.as_str()));
        rest = after;
    }
    out.push_str(rest);
    out
}

fn set_label(labels: &Labels, name: &str, value: String) -> Labels {
    let mut pairs: Vec<Label> = labels.iter().filter(|l| l.name != name).map(tsdb::LabelRef::to_label).collect();
    if !value.is_empty() {
        pairs.push(Label { name: name.to_string(), value });
    }
    Labels::from_pairs(pairs.into_iter().map(|l| (l.name, l.value)))
}

/// Natural order: digit runs compare as numbers ("1.2.3" < "1.11.3"), the rest as text.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a, b);
    loop {
        match (x.is_empty(), y.is_empty()) {
            (true, true) => return std::cmp::Ordering::Equal,
            (true, false) => return std::cmp::Ordering::Less,
            (false, true) => return std::cmp::Ordering::Greater,
            _ => {}
        }
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (dx, dy) = (digits(x), digits(y));
        let ordering = if dx > 0 && dy > 0 {
            let (nx, ny) = (x[..dx].trim_start_matches('0'), y[..dy].trim_start_matches('0'));
            nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny)).then_with(|| dx.cmp(&dy))
        } else {
            let cx = x.chars().next().unwrap_or_default();
            let cy = y.chars().next().unwrap_or_default();
            cx.cmp(&cy)
        };
        if ordering.is_ne() {
            return ordering;
        }
        let step_x = if dx > 0 && dy > 0 { dx } else { x.chars().next().map_or(0, char::len_utf8) };
        let step_y = if dx > 0 && dy > 0 { dy } else { y.chars().next().map_or(0, char::len_utf8) };
        x = &x[step_x..];
        y = &y[step_y..];
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

/// Whether `q` is no quantile (Prometheus warns and answers ±Inf or NaN).
fn invalid_quantile(q: f64) -> bool {
    q.is_nan() || !(0.0..=1.0).contains(&q)
}

impl Evaluator<'_> {
    /// `input` split into native and classic histograms, with the warnings about what was left
    /// out recorded at `pos` (the vector argument).
    fn split_annotated(&self, input: Vec<Elem>, pos: Pos) -> HistogramInput {
        let mut split = split_histograms(input, self.options.delayed_name_removal);
        for w in split.warnings.drain(..) {
            self.annotate(w, pos);
        }
        split
    }

    /// The metric name annotations about a histogram function's input name: Prometheus has
    /// removed it already unless name removal is delayed.
    fn input_metric(&self, labels: &Labels) -> String {
        if self.options.delayed_name_removal { metric_name(labels) } else { String::new() }
    }

    /// A native histogram's quantile, its NaN observations noted at `pos`.
    fn native_quantile(&self, q: f64, labels: &Labels, h: &tsdb::FloatHistogram, pos: Pos) -> f64 {
        let mut notes = Notes::default();
        let value = super::native_histogram::quantile_noting(q, h, &mut notes);
        if notes.quantile_in_nan_observations {
            self.annotate(Annotation::QuantileNaNResult { metric: self.input_metric(labels) }, pos);
        }
        if notes.nan_observations {
            self.annotate(Annotation::QuantileNaNSkew { metric: self.input_metric(labels) }, pos);
        }
        value
    }

    /// A classic histogram's quantile, a flattened decrease noted at `pos`.
    fn classic_quantile(&self, q: f64, labels: &Labels, buckets: Vec<(f64, f64)>, pos: Pos, t: i64) -> f64 {
        let (value, forced) = bucket_quantile_noting(q, buckets);
        if let Some(ForcedMonotonicity { min_bucket, max_bucket, max_diff }) = forced {
            self.annotate(Annotation::ForcedMonotonicity { metric: self.input_metric(labels), t_ms: t, min_bucket, max_bucket, max_diff }, pos);
        }
        value
    }
}

pub(super) fn call(ev: &Evaluator<'_>, func: &Function, args: &[Expr], arg_pos: &[Pos], t: i64) -> Result<StepValue, Error> {
    let name = func.name;
    let arg = |i: usize| ev.eval(&args[i], t);
    let pos = |i: usize| arg_pos.get(i).copied().unwrap_or_default();
    let result: Vec<Elem> = match name {
        "info" => return super::info::evaluate(ev, args, t),
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
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = any_vector_arg(arg(0)?)?;
            let mut keys = Vec::new();
            for i in 1..args.len() {
                keys.push(string_arg(arg(i)?)?);
            }
            v.sort_by(|Elem { labels: a, .. }, Elem { labels: b, .. }| {
                let by_keys = keys.iter().map(|k| natural_cmp(a.get(k).unwrap_or(""), b.get(k).unwrap_or(""))).find(|o| o.is_ne());
                let ordering = by_keys.unwrap_or_else(|| a.cmp(b));
                if name == "sort_by_label_desc" { ordering.reverse() } else { ordering }
            });
            return Ok(StepValue::Vector(v));
        }
        "histogram_quantile" => {
            let q = scalar_arg(arg(0)?)?;
            if invalid_quantile(q) {
                ev.annotate(Annotation::InvalidQuantile(q), pos(0));
            }
            let input = ev.split_annotated(any_vector_arg(arg(1)?)?, pos(1));
            let natives = input.natives.into_iter().map(|(l, h)| {
                let v = ev.native_quantile(q, &l, &h, pos(1));
                Elem::new(l, v, true)
            });
            let classic = input.classic.into_iter().map(|(l, b)| {
                let v = ev.classic_quantile(q, &l, b, pos(1), t);
                Elem::new(l, v, true)
            });
            check_unique(natives.chain(classic).collect())?
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
            let input = ev.split_annotated(input, pos(0));
            let mut out = Vec::new();
            for q in qs {
                let text = crate::format::open_metrics_float(q);
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
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => super::histogram_eval::histogram_function(name, any_vector_arg(arg(0)?)?).unwrap_or_default(),
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

/// Functions whose main argument is a range vector.
/// The range functions with their own arithmetic; the rest are `*_over_time`.
#[derive(Clone, Copy)]
pub(super) enum RangeKind {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    Resets,
    Changes,
    DoubleExponentialSmoothing,
    OverTime,
}

impl RangeKind {
    pub(super) fn of(name: &str) -> RangeKind {
        match name {
            "rate" => RangeKind::Rate,
            "increase" => RangeKind::Increase,
            "delta" => RangeKind::Delta,
            "irate" => RangeKind::Irate,
            "idelta" => RangeKind::Idelta,
            "deriv" => RangeKind::Deriv,
            "predict_linear" => RangeKind::PredictLinear,
            "resets" => RangeKind::Resets,
            "changes" => RangeKind::Changes,
            "double_exponential_smoothing" => RangeKind::DoubleExponentialSmoothing,
            _ => RangeKind::OverTime,
        }
    }
}

/// What a range function needs besides the window's samples: the range's edges, the
/// evaluation step, and the scalar arguments (`quantile_over_time`'s φ, `predict_linear`'s
/// horizon, `double_exponential_smoothing`'s factors; zero for the others).
#[derive(Clone, Copy)]
pub(super) struct RangeArgs {
    pub start: i64,
    pub end: i64,
    pub t: i64,
    pub param: f64,
    pub factors: (f64, f64),
}

/// The value of range function `name` (of kind `kind`) over one window of samples; `None`
/// when the window gives no value.
pub(super) fn range_value(kind: RangeKind, name: &str, samples: &[Sample], a: RangeArgs) -> Option<f64> {
    match kind {
        RangeKind::Rate => extrapolated_rate(samples, a.start, a.end, true, true),
        RangeKind::Increase => extrapolated_rate(samples, a.start, a.end, true, false),
        RangeKind::Delta => extrapolated_rate(samples, a.start, a.end, false, false),
        RangeKind::Irate => instant_value(samples, true),
        RangeKind::Idelta => instant_value(samples, false),
        RangeKind::Deriv => (samples.len() >= 2).then(|| linear_regression(samples, samples[0].timestamp_ms).0),
        RangeKind::PredictLinear => (samples.len() >= 2).then(|| {
            // The intercept is at the evaluation step, even under `@`.
            let (slope, intercept) = linear_regression(samples, a.t);
            intercept + slope * a.param
        }),
        RangeKind::Resets => Some(resets(samples)),
        RangeKind::Changes => Some(changes(samples)),
        RangeKind::DoubleExponentialSmoothing => double_exponential_smoothing(samples, a.factors.0, a.factors.1),
        RangeKind::OverTime => over_time(name, samples, a.param),
    }
}

/// Suffixes of names that counters (and the counters of classic histograms) have.
const COUNTER_SUFFIXES: [&str; 4] = ["_total", "_sum", "_count", "_bucket"];

/// Whether `rate`/`increase` over a series of these labels earns Prometheus' info that the
/// metric might not be a counter: it has a name, not one of a counter.
pub(super) fn looks_like_non_counter(labels: &Labels) -> bool {
    labels.get(METRIC_NAME_LABEL).is_some_and(|n| !n.is_empty() && !COUNTER_SUFFIXES.iter().any(|s| n.ends_with(s)))
}

impl Evaluator<'_> {
    /// For each series of `vs`, whether a `rate`/`increase` over it is still to be reported as
    /// perhaps not of a counter (`None`: no such series left). Taken for one step's loop and
    /// given back with `put_non_counters`, so the per-series check is one flag.
    fn take_non_counters(&self, vs: &VectorSelector) -> Option<Vec<bool>> {
        let key = vs as *const VectorSelector;
        if let Some(known) = self.non_counters.borrow_mut().get_mut(&key) {
            return known.take();
        }
        let flags: Vec<bool> = self.selected(vs).iter().map(|s| looks_like_non_counter(&s.labels)).collect();
        flags.contains(&true).then_some(flags)
    }

    fn put_non_counters(&self, vs: &VectorSelector, flags: Option<Vec<bool>>) {
        let flags = flags.filter(|f| f.contains(&true));
        self.non_counters.borrow_mut().insert(vs as *const VectorSelector, flags);
    }
}

fn range_call(ev: &Evaluator<'_>, func: &Function, args: &[Expr], arg_pos: &[Pos], t: i64) -> Result<StepValue, Error> {
    let name = func.name;
    let (matrix_index, param) = match name {
        "quantile_over_time" => (1, scalar_arg(ev.eval(&args[0], t)?)?),
        "predict_linear" => (0, scalar_arg(ev.eval(&args[1], t)?)?),
        _ => (0, 0.0),
    };
    let mut factors = (0.0, 0.0);
    if name == "double_exponential_smoothing" {
        factors = (scalar_arg(ev.eval(&args[1], t)?)?, scalar_arg(ev.eval(&args[2], t)?)?);
        if !(factors.0 > 0.0 && factors.0 < 1.0) {
            return Err(Error::Execution(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {:.6}", factors.0)));
        }
        if !(factors.1 > 0.0 && factors.1 < 1.0) {
            return Err(Error::Execution(format!("invalid trend factor. Expected: 0 < tf < 1, got: {:.6}", factors.1)));
        }
    }
    let (start, end) = range_window(&args[matrix_index], t);
    // Annotations point at the first argument; Prometheus evaluates a subquery there into a
    // range selector of no position (so `1:1`).
    let from_subquery = matches!(unparen(&args[matrix_index]), Expr::Subquery(_));
    let report_pos = if from_subquery && matrix_index == 0 { Pos::default() } else { arg_pos.first().copied().unwrap_or_default() };
    let out = range_call_values(ev, func, args, matrix_index, RangeArgs { start, end, t, param, factors }, report_pos)?;
    // `quantile_over_time` of a window with floats (every window that gave a value) warns of
    // a φ outside [0, 1].
    if name == "quantile_over_time" && invalid_quantile(param) && !out.is_empty() {
        ev.annotate(Annotation::InvalidQuantile(param), report_pos);
    }
    Ok(StepValue::Vector(out))
}

/// `range_call`'s vector: the function over each series' window.
fn range_call_values(ev: &Evaluator<'_>, func: &Function, args: &[Expr], matrix_index: usize, range_args: RangeArgs, report_pos: Pos) -> Result<Vec<Elem>, Error> {
    let name = func.name;
    let RangeArgs { start, end, t, param, factors } = range_args;
    // Resolved once per step, not once per series: the per-series work is the arithmetic.
    let kind = RangeKind::of(name);
    let drop_name = !func.keeps_metric_name();
    let compute = |samples: &[Sample]| range_value(kind, name, samples, range_args);
    let counter_function = matches!(kind, RangeKind::Rate | RangeKind::Increase);
    let mut out = Vec::new();
    // A plain range selector: compute on windows of the fetched series, without copying them.
    if let Expr::MatrixSelector { selector, range_ms, .. } = unparen(&args[matrix_index]) {
        let reference = at_ms(selector.at).unwrap_or(t) - selector.offset_ms;
        let (before, after) = extended_margins(selector, ev.options.lookback_delta_ms);
        let extended = selector.anchored || selector.smoothed;
        // Anchored/smoothed windows also hold the samples around the range's edges.
        let compute_extended = |samples: &[Sample]| match name {
            "rate" => extended_rate(samples, start, end, selector.smoothed, true, true),
            "increase" => extended_rate(samples, start, end, selector.smoothed, true, false),
            "delta" => extended_rate(samples, start, end, selector.smoothed, false, false),
            "changes" => anchored_start(samples, start).map(|i| changes(&samples[i..])),
            "resets" => anchored_start(samples, start).map(|i| resets(&samples[i..])),
            _ => None,
        };
        let mut filtered = Vec::new();
        // Start times, where this function reads them and a series has them (`start_times`).
        let read_starts = ev.options.use_start_timestamps && start_times::reads_start_times(kind);
        let mut filtered_starts = Vec::new();
        let windows = ev.windows(selector, reference + after, range_ms + before + after);
        let read = ev.window_read(selector);
        let stale = ev.stale_flags(selector);
        // Without delayed name removal the name goes here, from label sets stripped once per
        // query rather than once per step.
        let stripped = (drop_name && !ev.options.delayed_name_removal).then(|| ev.stripped_series(selector));
        // Series whose names do not look like counters', not reported yet.
        let mut non_counters = if counter_function { ev.take_non_counters(selector) } else { None };
        for (i, (s, (from, to))) in ev.selected(selector).iter().zip(windows).enumerate() {
            let may_hold_stale = stale.get(i).copied().unwrap_or(true);
            let window = super::eval::without_stale(&s.samples[from..to], may_hold_stale, &mut filtered);
            let starts = if read_starts { start_times::series_starts(s) } else { None };
            let float_starts = starts.map(|st| start_times::starts_without_stale(&s.samples[from..to], &st.floats[from..to], may_hold_stale, &mut filtered_starts));
            if ev.sample_stats.is_some() {
                let in_window = super::eval::histogram_window(&s.histograms, reference - range_ms - before, reference + after);
                ev.count_window(window, &s.histograms[in_window], reference + after, read);
            }
            if !s.histograms.is_empty() {
                // An extended window reaches past the range like the floats' window does.
                let in_window = super::eval::histogram_window(&s.histograms, reference - range_ms - before, reference + after);
                let window_starts = starts.map(|st| WindowStarts { floats: float_starts.unwrap_or_default(), histograms: &st.histograms[in_window.clone()] });
                let histograms = &s.histograms[in_window];
                if !histograms.is_empty() {
                    let labels = match &stripped {
                        Some(st) => st.labels[i].clone(),
                        None => s.labels.clone(),
                    };
                    let drop = stripped.is_none() && drop_name;
                    let report = WindowReport { ev, pos: report_pos, labels: &s.labels };
                    let value = if extended {
                        super::histogram_eval::extended_range_value(name, window, histograms, start, end, selector.smoothed, &report, window_starts)
                    } else {
                        super::histogram_eval::range_value_with_histograms(kind, name, window, histograms, RangeArgs { start, end, t, param, factors }, &report, window_starts)
                    };
                    if let Some(e) = value.map(|v| v.into_elem(labels, drop)) {
                        out.push(e);
                    }
                    continue;
                }
            }
            if window.is_empty() {
                continue;
            }
            let value = match float_starts.and_then(|starts| start_times::window_value(kind, window, starts, (start, end), extended)) {
                Some((value, overlap)) => {
                    if overlap {
                        ev.annotate(Annotation::StartTimeOverlap { metric: metric_name(&s.labels) }, report_pos);
                    }
                    value
                }
                None if extended => compute_extended(window),
                None => compute(window),
            };
            if let Some(v) = value {
                if let Some(flags) = &mut non_counters {
                    if flags[i] {
                        flags[i] = false;
                        ev.annotate(Annotation::PossibleNonCounter { metric: metric_name(&s.labels) }, report_pos);
                    }
                }
                match &stripped {
                    Some(st) => out.push(Elem::new(st.labels[i].clone(), v, false)),
                    None => out.push(Elem::new(s.labels.clone(), v, drop_name)),
                }
            }
        }
        if counter_function {
            ev.put_non_counters(selector, non_counters);
        }
        if stripped.as_ref().is_some_and(|st| st.collide) {
            out = super::eval::check_unique_hashed(out)?;
        }
        return Ok(out);
    }
    let StepValue::Matrix(series) = ev.eval(&args[matrix_index], t)? else {
        return Err(Error::Execution(format!("expected a range vector argument to {name}")));
    };
    let from_subquery = matches!(unparen(&args[matrix_index]), Expr::Subquery(_));
    for RangeSeries { labels, samples, drop_name, mut histograms } in series {
        let drop = drop_name || !func.keeps_metric_name();
        if !histograms.is_empty() {
            if from_subquery {
                super::histogram_eval::forget_reset_hints(&mut histograms);
            }
            let report = WindowReport { ev, pos: report_pos, labels: &labels };
            // A range vector that is no plain selector (a subquery) has no start times.
            if let Some(v) = super::histogram_eval::range_value_with_histograms(kind, name, &samples, &histograms, RangeArgs { start, end, t, param, factors }, &report, None) {
                out.push(v.into_elem(labels, drop));
            }
            continue;
        }
        if let Some(v) = compute(&samples) {
            if counter_function && looks_like_non_counter(&labels) {
                ev.annotate(Annotation::PossibleNonCounter { metric: metric_name(&labels) }, report_pos);
            }
            out.push(Elem::new(labels, v, drop));
        }
    }
    Ok(out)
}
