//! The range-vector family: each function's kind and arithmetic over one window of
//! samples, and its call, whose windows come from the argument's range, offset and `@`
//! (plain selectors read in place, with start times, histograms and the non-counter info).

use tsdb::{Labels, Sample, METRIC_NAME_LABEL, METRIC_TYPE_LABEL};

use super::super::annotations::Annotation;
use super::super::histogram_eval::{metric_name, WindowReport};
use super::super::eval::{Elem, Evaluator, RangeSeries, StepValue};
use super::super::range_functions::{anchored_start, changes, double_exponential_smoothing, extended_rate, extrapolated_rate, instant_value, linear_regression, over_time, resets};
use super::super::start_times::{self, WindowStarts};
use super::super::{at_ms, extended_margins, Error};
use super::{invalid_quantile, metricsql_rollups, range_window, scalar_arg, unparen};
use crate::ast::{Expr, Pos, VectorSelector};
use crate::functions::Function;

/// The range functions with their own arithmetic; the rest are `*_over_time`.
#[derive(Clone, Copy)]
pub(in crate::engine) enum RangeKind {
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
    HoltWinters,
    OverTime,
}

impl RangeKind {
    pub(in crate::engine) fn of(name: &str) -> RangeKind {
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
            "holt_winters" => RangeKind::HoltWinters,
            _ => RangeKind::OverTime,
        }
    }
}

/// What a range function needs besides the window's samples: the range's edges, the
/// evaluation step, and the scalar arguments (`quantile_over_time`'s φ, `predict_linear`'s
/// horizon, `double_exponential_smoothing`'s factors; zero for the others).
#[derive(Clone, Copy)]
pub(in crate::engine) struct RangeArgs {
    pub start: i64,
    pub end: i64,
    pub t: i64,
    pub param: f64,
    pub factors: (f64, f64),
}

/// The value of range function `name` (of kind `kind`) over one window of samples; `None`
/// when the window gives no value.
pub(in crate::engine) fn range_value(kind: RangeKind, name: &str, samples: &[Sample], a: RangeArgs) -> Option<f64> {
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
        RangeKind::HoltWinters => super::metricsql_window_rollups::holt_winters(samples, a.factors),
        RangeKind::OverTime => over_time(name, samples, a.param, (a.start, a.end)),
    }
}

/// Suffixes of names that counters (and the counters of classic histograms) have.
const COUNTER_SUFFIXES: [&str; 4] = ["_total", "_sum", "_count", "_bucket"];

/// Whether `rate`/`increase` over a series of these labels earns Prometheus' info that the
/// metric might not be a counter: it has a name, and that name is not one of a counter or,
/// `by_type_label` (`EngineOptions::type_and_unit_labels`), its `__type__` is neither
/// `counter` nor `histogram` (absent included).
pub(in crate::engine) fn looks_like_non_counter(labels: &Labels, by_type_label: bool) -> bool {
    let Some(name) = labels.get(METRIC_NAME_LABEL).filter(|n| !n.is_empty()) else { return false };
    if by_type_label {
        return !matches!(labels.get(METRIC_TYPE_LABEL), Some("counter" | "histogram"));
    }
    !COUNTER_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The info for a series `looks_like_non_counter` picked, in the words of the check made.
pub(in crate::engine) fn possible_non_counter(labels: &Labels, by_type_label: bool) -> Annotation {
    let metric = metric_name(labels);
    match by_type_label {
        true => Annotation::PossibleNonCounterType { metric, type_label: labels.get(METRIC_TYPE_LABEL).unwrap_or_default().to_string() },
        false => Annotation::PossibleNonCounter { metric },
    }
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
        let flags: Vec<bool> = self.selected(vs).iter().map(|s| looks_like_non_counter(&s.labels, self.options.type_and_unit_labels)).collect();
        flags.contains(&true).then_some(flags)
    }

    fn put_non_counters(&self, vs: &VectorSelector, flags: Option<Vec<bool>>) {
        let flags = flags.filter(|f| f.contains(&true));
        self.non_counters.borrow_mut().insert(vs as *const VectorSelector, flags);
    }
}

/// Functions whose main argument is a range vector.
pub(super) fn range_call(ev: &Evaluator<'_>, func: &Function, args: &[Expr], arg_pos: &[Pos], t: i64) -> Result<StepValue, Error> {
    let name = func.name;
    let (matrix_index, param) = match name {
        "quantile_over_time" | "hoeffding_bound_lower" | "hoeffding_bound_upper" => (1, scalar_arg(ev.eval(&args[0], t)?)?),
        "predict_linear" => (0, scalar_arg(ev.eval(&args[1], t)?)?),
        _ if metricsql_rollups::takes_scalar_argument(name) => (0, scalar_arg(ev.eval(&args[1], t)?)?),
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
    // Prometheus 2's holt_winters as MetricsQL has it: a factor outside [0, 1] gives no value.
    if name == "holt_winters" {
        factors = (scalar_arg(ev.eval(&args[1], t)?)?, scalar_arg(ev.eval(&args[2], t)?)?);
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
        let stripped = (drop_name && !ev.options.delayed_name_removal && !ev.keeping_names.get()).then(|| ev.stripped_series(selector));
        // Series whose names do not look like counters', not reported yet.
        let mut non_counters = if counter_function { ev.take_non_counters(selector) } else { None };
        for (i, (s, (from, to))) in ev.selected(selector).iter().zip(windows).enumerate() {
            let may_hold_stale = stale.get(i).copied().unwrap_or(true);
            let window = super::super::eval::without_stale(&s.samples[from..to], may_hold_stale, &mut filtered);
            let starts = if read_starts { start_times::series_starts(s) } else { None };
            let float_starts = starts.map(|st| start_times::starts_without_stale(&s.samples[from..to], &st.floats[from..to], may_hold_stale, &mut filtered_starts));
            if ev.sample_stats.is_some() {
                let in_window = super::super::eval::histogram_window(&s.histograms, reference - range_ms - before, reference + after);
                ev.count_window(window, &s.histograms[in_window], reference + after, read);
            }
            if !s.histograms.is_empty() {
                // An extended window reaches past the range like the floats' window does.
                let in_window = super::super::eval::histogram_window(&s.histograms, reference - range_ms - before, reference + after);
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
                        super::super::histogram_eval::extended_range_value(name, window, histograms, start, end, selector.smoothed, &report, window_starts)
                    } else {
                        super::super::histogram_eval::range_value_with_histograms(kind, name, window, histograms, RangeArgs { start, end, t, param, factors }, &report, window_starts)
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
                        ev.annotate(possible_non_counter(&s.labels, ev.options.type_and_unit_labels), report_pos);
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
            out = super::super::eval::check_unique_hashed(out)?;
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
                super::super::histogram_eval::forget_reset_hints(&mut histograms);
            }
            let report = WindowReport { ev, pos: report_pos, labels: &labels };
            // A range vector that is no plain selector (a subquery) has no start times.
            if let Some(v) = super::super::histogram_eval::range_value_with_histograms(kind, name, &samples, &histograms, RangeArgs { start, end, t, param, factors }, &report, None) {
                out.push(v.into_elem(labels, drop));
            }
            continue;
        }
        if let Some(v) = compute(&samples) {
            if counter_function && looks_like_non_counter(&labels, ev.options.type_and_unit_labels) {
                ev.annotate(possible_non_counter(&labels, ev.options.type_and_unit_labels), report_pos);
            }
            out.push(Elem::new(labels, v, drop));
        }
    }
    Ok(out)
}
