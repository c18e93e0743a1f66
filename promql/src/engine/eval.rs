//! Step-wise evaluation: every expression is evaluated at each step timestamp; selectors
//! read prefetched series with lookback (left-open windows) and staleness handling;
//! subqueries evaluate their inner expression at aligned steps. This file owns the
//! `Evaluator`, the values passed between nodes and the dispatch on each node (subqueries
//! included); its children run the query, fetch the selects and read their windows.

use std::collections::HashMap;

use std::sync::Arc;

use tsdb::{is_stale_nan, FloatHistogram, HistogramSample, Labels, Querier, Sample};

use super::range_functions::extend_window;
use super::{at_ms, extended_margins, first_step_after, SelectKey, EngineOptions, Error};
use super::annotations::{Annotation, Annotations, Operation};
use super::native_histogram::Notes;
use crate::ast::{Expr, Pos, VectorSelector};

mod fetch;
mod name_removal;
mod query;
mod sample_counting;
mod selector;

use fetch::Select;
pub(super) use fetch::{evaluator, holds_stale};
pub(super) use name_removal::{check_unique, check_unique_hashed, drop_name, StrippedNames, StrippedSeries, METADATA_LABELS, SAME_LABELSET};
pub(super) use query::execute;
pub(super) use sample_counting::Read;
pub(super) use selector::{advance, histogram_window, histograms_within, last_within, without_stale};

/// One element of an instant vector. `drop_name` is Prometheus' delayed `__name__` removal:
/// the name (and `__type__`/`__unit__`) is removed when the query's result is assembled, so
/// that `label_replace(rate(x[1m]), "__name__", ...)` can still read it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Elem {
    pub labels: Labels,
    /// The float value; 0 when `histogram` is set.
    pub value: f64,
    pub drop_name: bool,
    /// A native histogram value instead of a float.
    pub histogram: Option<Arc<FloatHistogram>>,
}

impl Elem {
    pub fn new(labels: Labels, value: f64, drop_name: bool) -> Elem {
        Elem { labels, value, drop_name, histogram: None }
    }

    pub fn with_histogram(labels: Labels, histogram: Arc<FloatHistogram>, drop_name: bool) -> Elem {
        Elem { labels, value: 0.0, drop_name, histogram: Some(histogram) }
    }

    /// This element with other labels and name removal, its value (float or histogram) kept.
    pub fn relabelled(self, labels: Labels, drop_name: bool) -> Elem {
        Elem { labels, drop_name, ..self }
    }
}

/// One series of a range vector, with its pending name removal.
#[derive(Debug, Clone)]
pub(super) struct RangeSeries {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub drop_name: bool,
    /// Native histogram samples, by timestamp (none shares a timestamp with `samples`).
    pub histograms: Vec<HistogramSample>,
}

/// The value of an expression at one step.
pub(super) enum StepValue {
    Scalar(f64),
    String(String),
    Vector(Vec<Elem>),
    Matrix(Vec<RangeSeries>),
}

pub(super) struct Evaluator<'q> {
    pub options: &'q EngineOptions,
    /// The query's own start, end and step (`start()`, `end()`, `step()`, `range()`).
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
    querier: &'q dyn Querier,
    /// Each select of the query (see `SelectKey`), fetched once.
    selects: HashMap<SelectKey, Select>,
    /// Samples fetched so far, against `options.max_samples`.
    loaded: std::cell::Cell<usize>,
    /// Per selector and window edge, the last index found in each series. Steps move forward
    /// in time, so the next edge is usually a few samples further: walking from here touches
    /// one or two cache lines per series instead of a whole binary search.
    cursors: std::cell::RefCell<HashMap<(*const VectorSelector, u8), Vec<usize>>>,
    /// Raised by the caller to stop evaluation (checked once per step).
    cancel: Option<&'q std::sync::atomic::AtomicBool>,
    /// Label sets without their name, remembered for the query (see `StrippedNames`).
    stripped: std::cell::RefCell<StrippedNames>,
    /// Set while a call with MetricsQL's `keep_metric_names` is evaluated: its range function
    /// then marks names for removal instead of stripping them itself (`eval` keeps them), and
    /// its arguments' pending removals are applied at once.
    pub(super) keeping_names: std::cell::Cell<bool>,
    /// Per select, its series' label sets without the name, and whether two of them become
    /// equal that way (computed once, for range functions without delayed name removal).
    stripped_series: std::cell::RefCell<HashMap<SelectKey, std::rc::Rc<StrippedSeries>>>,
    /// Per aggregation node, the groups of the label sets it has seen (see `GroupCache`).
    group_caches: std::cell::RefCell<HashMap<*const crate::ast::Aggregate, super::aggregate::GroupCache>>,
    /// Aggregations evaluated series-major before the steps (see `series_major`).
    precomputed: std::cell::RefCell<super::series_major::Precomputed>,
    /// The grid series-wide nodes evaluate on now: the query's steps, or inside a subquery
    /// its steps (see `series_wide`).
    pub(super) grid: std::cell::Cell<super::series_wide::Grid>,
    /// Series-wide nodes' results per step (see `series_wide`).
    pub(super) series_wide: std::cell::RefCell<super::series_wide::SeriesWideResults>,
    /// Warnings and infos so far.
    annotations: std::cell::RefCell<Annotations>,
    /// Per `quantile`/`limit_ratio` aggregation, the range of its parameter over the steps
    /// (Prometheus checks the lowest and highest value once, not each step's).
    param_ranges: std::cell::RefCell<HashMap<*const crate::ast::Aggregate, ParamRange>>,
    /// Per `rate`/`increase` of a range selector, which of its series may still be reported
    /// as not looking like counters (`None`: none).
    pub(super) non_counters: std::cell::RefCell<HashMap<*const VectorSelector, Option<Vec<bool>>>>,
    /// Sample statistics, when the query asked for them (`None`: nothing is counted).
    pub(super) sample_stats: Option<std::cell::RefCell<super::sample_stats::Counter>>,
    /// The query's expression, below its parentheses (sample statistics count a subquery
    /// there otherwise than one a function reads).
    query_expr: &'q Expr,
}

/// The lowest and highest value an aggregation parameter took, and whether it was NaN.
#[derive(Clone, Copy, Debug)]
pub(super) struct ParamRange {
    pub min: f64,
    pub max: f64,
    pub nan: bool,
}

impl Evaluator<'_> {
    /// Records a warning or info about the expression at `pos`.
    pub(super) fn annotate(&self, annotation: Annotation, pos: Pos) {
        self.annotations.borrow_mut().add(annotation, pos);
    }

    /// Records the notes of native histogram arithmetic as Prometheus reports them (a counter
    /// function over a gauge, `delta` over counters, reconciled bounds): `metric` names the
    /// series, `reconciliation` the operation a bounds reconciliation is reported for (`None`:
    /// the additions and subtractions it happened in).
    pub(super) fn annotate_notes(&self, notes: &Notes, metric: &str, pos: Pos, reconciliation: Option<Operation>) {
        if notes.not_counter {
            self.annotate(Annotation::NotCounter { metric: metric.to_string() }, pos);
        }
        if notes.not_gauge {
            self.annotate(Annotation::NotGauge { metric: metric.to_string() }, pos);
        }
        match reconciliation {
            Some(op) if notes.custom_bounds_reconciled => self.annotate(Annotation::MismatchedCustomBuckets(op), pos),
            Some(_) => {}
            None => {
                if notes.reconciled_in_subtraction {
                    self.annotate(Annotation::MismatchedCustomBuckets(Operation::Subtraction), pos);
                }
                if notes.reconciled_in_addition {
                    self.annotate(Annotation::MismatchedCustomBuckets(Operation::Addition), pos);
                }
            }
        }
    }

    /// Widens the range aggregation `a`'s parameter took by `value`.
    pub(super) fn note_param(&self, a: &crate::ast::Aggregate, value: f64) {
        let mut ranges = self.param_ranges.borrow_mut();
        let range = ranges.entry(a as *const crate::ast::Aggregate).or_insert(ParamRange { min: f64::INFINITY, max: f64::NEG_INFINITY, nan: false });
        if value.is_nan() {
            range.nan = true;
        } else {
            range.min = range.min.min(value);
            range.max = range.max.max(value);
        }
    }

    /// The range aggregation `a`'s parameter took, if it was evaluated.
    pub(super) fn param_range(&self, a: &crate::ast::Aggregate) -> Option<ParamRange> {
        self.param_ranges.borrow().get(&(a as *const crate::ast::Aggregate)).copied()
    }

    pub(super) fn check_cancelled(&self) -> Result<(), Error> {
        match self.cancel {
            Some(flag) if flag.load(std::sync::atomic::Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

impl Evaluator<'_> {
    /// Aggregation `a`'s vector at step `t` if it was evaluated series-major (each step's
    /// vector is handed out once; a second request evaluates step-major).
    fn take_precomputed(&self, a: &crate::ast::Aggregate, t: i64) -> Option<Vec<Elem>> {
        let mut precomputed = self.precomputed.borrow_mut();
        let steps = precomputed.get_mut(&(a as *const crate::ast::Aggregate))?;
        let offset = t - self.start_ms;
        if self.step_ms <= 0 || offset < 0 || offset % self.step_ms != 0 {
            return None;
        }
        steps.get_mut(usize::try_from(offset / self.step_ms).ok()?)?.take()
    }

    /// Evaluates `expr` at `t`. Without delayed name removal, a node's output has its
    /// pending name removal applied right away (as each Prometheus operator and function
    /// does), so what follows sees the labels without `__name__`.
    pub(super) fn eval(&self, expr: &Expr, t: i64) -> Result<StepValue, Error> {
        let value = if let Expr::Call { keep_metric_names: true, .. } = expr {
            let outer = self.keeping_names.replace(true);
            let value = self.eval_node(expr, t);
            self.keeping_names.set(outer);
            match value? {
                StepValue::Vector(v) => StepValue::Vector(v.into_iter().map(|e| Elem { drop_name: false, ..e }).collect()),
                other => other,
            }
        } else {
            self.eval_node(expr, t)?
        };
        // Inside a `keep_metric_names` call the names its arguments' functions drop go now,
        // even with delayed removal, so the modifier keeps only what the call itself would drop.
        if self.options.delayed_name_removal && !self.keeping_names.get() {
            return Ok(value);
        }
        Ok(match value {
            StepValue::Vector(v) if v.iter().any(|e| e.drop_name) => {
                let mut stripped = self.stripped.borrow_mut();
                let v: Vec<Elem> = v
                    .into_iter()
                    .map(|e| if e.drop_name { let labels = stripped.without_name(&e.labels); e.relabelled(labels, false) } else { e })
                    .collect();
                StepValue::Vector(check_unique_hashed(v)?)
            }
            StepValue::Matrix(m) if m.iter().any(|s| s.drop_name) => {
                let mut stripped = self.stripped.borrow_mut();
                StepValue::Matrix(
                    m.into_iter()
                        .map(|s| if s.drop_name { RangeSeries { labels: stripped.without_name(&s.labels), drop_name: false, ..s } } else { s })
                        .collect(),
                )
            }
            other => other,
        })
    }

    fn eval_node(&self, expr: &Expr, t: i64) -> Result<StepValue, Error> {
        Ok(match expr {
            Expr::Number(v) => StepValue::Scalar(*v),
            Expr::String(s) => StepValue::String(s.clone()),
            Expr::Paren(e) => self.eval(e, t)?,
            Expr::VectorSelector(vs) => {
                let elems = if vs.smoothed { self.smoothed_samples(vs, t) } else { self.instant_elems(vs, t) };
                self.count_instant(vs, &elems);
                StepValue::Vector(elems)
            }
            Expr::MatrixSelector { selector, range_ms, .. } => {
                let reference = at_ms(selector.at).unwrap_or(t) - selector.offset_ms;
                let (before, after) = extended_margins(selector, self.options.lookback_delta_ms);
                let mut out = Vec::new();
                let windows = self.windows(selector, reference + after, range_ms + before + after);
                let read = self.window_read(selector);
                for (s, (from, to)) in self.selected(selector).iter().zip(windows) {
                    let mut samples: Vec<Sample> = s.samples[from..to].iter().filter(|p| !is_stale_nan(p.value)).copied().collect();
                    if selector.anchored || selector.smoothed {
                        if !histograms_within(&s.histograms, reference - range_ms - before, reference + after).is_empty() {
                            let modifier = if selector.anchored { "anchored" } else { "smoothed" };
                            return Err(Error::Execution(format!("{modifier} modifier is not supported with histograms")));
                        }
                        samples = extend_window(&samples, reference - range_ms, reference, selector.smoothed);
                    }
                    let histograms = histograms_within(&s.histograms, reference - range_ms, reference).to_vec();
                    self.count_window(&samples, &histograms, reference + after, read);
                    if !samples.is_empty() || !histograms.is_empty() {
                        out.push(RangeSeries { labels: s.labels.clone(), samples, drop_name: false, histograms });
                    }
                }
                StepValue::Matrix(out)
            }
            Expr::Subquery(sq) => {
                let base = at_ms(sq.at).unwrap_or(t) - sq.offset_ms;
                let step = sq.step_ms.unwrap_or(self.options.default_subquery_step_ms);
                let mut series: Vec<RangeSeries> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::new();
                let at = first_step_after(base - sq.range_ms, step);
                // As Prometheus counts: the query's own subquery (an instant query's result) counts
                // what its steps read; one a function reads counts its points, as the function's window.
                let whole_query = self.sample_stats.is_some() && std::ptr::eq(expr, self.query_expr);
                let reading = self.sample_stats.as_ref().map(|counter| {
                    let mut counter = counter.borrow_mut();
                    if !whole_query {
                        counter.enter_subquery();
                    }
                    counter.reading
                });
                let grid = super::series_wide::Grid::new(at, base, step);
                let inner = self.on_grid(grid, || self.subquery_points(sq, at, base, step, &mut series, &mut index));
                if let (Some(counter), Some(reading)) = (&self.sample_stats, reading) {
                    let mut counter = counter.borrow_mut();
                    counter.reading = reading;
                    if !whole_query {
                        counter.leave_subquery();
                    }
                }
                inner?;
                if !whole_query {
                    for s in &series {
                        self.count_window(&s.samples, &s.histograms, base, Read::None);
                    }
                }
                StepValue::Matrix(series)
            }
            Expr::Negate(e) => match self.eval(e, t)? {
                StepValue::Scalar(v) => StepValue::Scalar(-v),
                StepValue::Vector(v) => StepValue::Vector(
                    v.into_iter()
                        .map(|e| match &e.histogram {
                            Some(h) => Elem::with_histogram(e.labels, Arc::new(super::native_histogram::negate(h)), true),
                            None => Elem::new(e.labels, -e.value, true),
                        })
                        .collect(),
                ),
                _ => return Err(Error::Execution("unary minus needs a scalar or instant vector".into())),
            },
            Expr::Binary(b) if b.op == crate::ast::BinaryOp::Default => StepValue::Vector(super::binary::default_at(self, b, t)?),
            Expr::Binary(b) => {
                let (l, r) = (self.eval(&b.lhs, t)?, self.eval(&b.rhs, t)?);
                super::binary::eval_binary(self, b, l, r)?
            }
            Expr::Aggregate(a) => {
                if a.op.reads_whole_grid() {
                    return Ok(StepValue::Vector(super::metricsql_aggregates::range_topk_at(self, a, t)?));
                }
                if let Some(precomputed) = self.take_precomputed(a, t) {
                    return Ok(StepValue::Vector(precomputed));
                }
                let param = match &a.param {
                    Some(p) => Some(self.eval(p, t)?),
                    None => None,
                };
                let StepValue::Vector(input) = self.eval(&a.expr, t)? else {
                    return Err(Error::Execution("aggregation needs an instant vector".into()));
                };
                let mut caches = self.group_caches.borrow_mut();
                let cache = caches.entry(&**a as *const crate::ast::Aggregate).or_default();
                StepValue::Vector(super::aggregate::aggregate(self, a, param, input, cache)?)
            }
            Expr::Call { func, args, arg_pos, .. } => super::functions::call(self, func, args, arg_pos, t)?,
        })
    }
}

impl Evaluator<'_> {
    /// Evaluates subquery `sq`'s expression at `at`, `at + step`, … up to `base`, into `series`.
    fn subquery_points(&self, sq: &crate::ast::Subquery, mut at: i64, base: i64, step: i64, series: &mut Vec<RangeSeries>, index: &mut HashMap<Labels, usize>) -> Result<(), Error> {
        while at <= base {
            self.check_cancelled()?;
            if let Some(counter) = &self.sample_stats {
                counter.borrow_mut().subquery_step(sq as *const crate::ast::Subquery as usize, at, step);
            }
            let points = match self.eval(&sq.expr, at)? {
                StepValue::Vector(v) => v,
                StepValue::Scalar(v) => vec![Elem::new(Labels::default(), v, false)],
                _ => return Err(Error::Execution("subquery needs an instant vector".into())),
            };
            for Elem { labels, value, drop_name, histogram } in points {
                let i = *index.entry(labels.clone()).or_insert_with(|| {
                    series.push(RangeSeries { labels, samples: Vec::new(), drop_name, histograms: Vec::new() });
                    series.len() - 1
                });
                if series[i].samples.last().is_some_and(|p| p.timestamp_ms == at) || series[i].histograms.last().is_some_and(|p| p.timestamp_ms == at) {
                    return Err(Error::Execution(SAME_LABELSET.into()));
                }
                match histogram {
                    Some(histogram) => series[i].histograms.push(HistogramSample { timestamp_ms: at, histogram }),
                    None => series[i].samples.push(Sample { timestamp_ms: at, value }),
                }
            }
            at += step;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tsdb::SeriesSamples;

    #[test]
    fn a_raised_cancel_flag_stops_range_and_subquery_evaluation() {
        use std::sync::atomic::AtomicBool;
        let labels = Labels::from_pairs([("__name__", "x")]);
        let samples = (0..100).map(|i| Sample { timestamp_ms: i * 15_000, value: i as f64 }).collect();
        let querier = crate::MemQuerier { series: vec![SeriesSamples { labels, samples, histograms: Vec::new(), starts: None }] };
        let engine = crate::Engine::new(crate::EngineOptions::default());
        let range = engine.prepare_range("x", 0, 1_000_000, 15_000).map_err(|e| e.to_string());
        let instant = engine.prepare_instant("max_over_time(x[20m:15s])", 1_000_000).map_err(|e| e.to_string());
        for prepared in [range, instant] {
            let prepared = prepared.unwrap_or_else(|e| panic!("{e}"));
            let running = AtomicBool::new(false);
            assert!(prepared.execute_cancellable(&querier, &running).is_ok());
            let cancelled = AtomicBool::new(true);
            assert!(matches!(prepared.execute_cancellable(&querier, &cancelled), Err(Error::Cancelled)));
        }
    }
}
