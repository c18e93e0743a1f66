//! Step-wise evaluation: every expression is evaluated at each step timestamp; selectors
//! read prefetched series with lookback (left-open windows) and staleness handling;
//! subqueries evaluate their inner expression at aligned steps.

use std::collections::HashMap;
use std::ops::ControlFlow;

use std::sync::Arc;

use tsdb::{is_stale_nan, FloatHistogram, HistogramSample, Labels, Querier, Sample, SeriesSamples};

use super::range_functions::{extend_window, smoothed_value};
use super::{at_ms, extended_margins, first_step_after, info_key, selector_key, walk_selectors, SelectKey, EngineOptions, Error, InstantSample, PreparedQuery, QueryResult, Value};
use super::annotations::{Annotation, Annotations, Operation};
use super::native_histogram::Notes;
use crate::ast::{Expr, Pos, VectorSelector};

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

/// One select evaluation needs: what it asks, and once fetched its series.
struct Select {
    matchers: Vec<tsdb::Matcher>,
    mint_ms: i64,
    maxt_ms: i64,
    /// Only each series' last sample in the range is read (`Querier::select_last`).
    last_only: bool,
    /// Filled before the steps, except for a select read one series at a time by the
    /// series-major path (`Evaluator::stream`), which never holds it whole.
    fetched: std::cell::OnceCell<Fetched>,
    /// Read by the series-major path: its samples are counted against the limit.
    streamed: std::cell::Cell<bool>,
    /// Its histograms are read for their count and sum (`stats_decoding`).
    stats: bool,
}

/// A select's series, and for each whether it holds a staleness marker (computed once, so
/// range functions scan windows for markers only in those series).
struct Fetched {
    series: Vec<SeriesSamples>,
    has_stale: Vec<bool>,
    /// Whether any series holds a native histogram (known once, not at every step).
    has_histograms: bool,
}

impl Fetched {
    fn new(series: Vec<SeriesSamples>) -> Fetched {
        let has_stale = series.iter().map(|s| holds_stale(&s.samples)).collect();
        let has_histograms = series.iter().any(|s| !s.histograms.is_empty());
        Fetched { series, has_stale, has_histograms }
    }
}

/// Whether `samples` hold a staleness marker.
pub(super) fn holds_stale(samples: &[Sample]) -> bool {
    samples.iter().any(|p| is_stale_nan(p.value))
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
    /// Per select, its series' label sets without the name, and whether two of them become
    /// equal that way (computed once, for range functions without delayed name removal).
    stripped_series: std::cell::RefCell<HashMap<SelectKey, std::rc::Rc<StrippedSeries>>>,
    /// Per aggregation node, the groups of the label sets it has seen (see `GroupCache`).
    group_caches: std::cell::RefCell<HashMap<*const crate::ast::Aggregate, super::aggregate::GroupCache>>,
    /// Aggregations evaluated series-major before the steps (see `series_major`).
    precomputed: std::cell::RefCell<super::series_major::Precomputed>,
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

    /// Counts the samples of instant selector `vs`'s vector at this step (a histogram as its
    /// size); with `@` they count as read at its first evaluation only, as Prometheus reads it once.
    pub(super) fn count_instant(&self, vs: &VectorSelector, elems: &[Elem]) {
        if let Some(counter) = &self.sample_stats {
            let n = elems.iter().map(|e| e.histogram.as_deref().map_or(1, super::sample_stats::histogram_size)).sum();
            let read = match self.window_read(vs) {
                Read::None => 0,
                Read::Whole | Read::New => n,
            };
            counter.borrow_mut().add(n, read);
        }
    }

    /// How range selector `vs`'s windows at this step count as read (call once per step,
    /// before its series): a selector with `@` is read whole at its first evaluation and
    /// never again (Prometheus evaluates it once); others as `Read::New`.
    pub(super) fn window_read(&self, vs: &VectorSelector) -> Read {
        match &self.sample_stats {
            Some(counter) if vs.at.is_some() => {
                if counter.borrow_mut().read_fixed_once(vs as *const VectorSelector as usize) {
                    Read::Whole
                } else {
                    Read::None
                }
            }
            _ => Read::New,
        }
    }

    /// Counts one series' window ending at `window_end`, of a range selector or of a
    /// subquery's points (`Read::None`: what the subquery read is counted inside it): all of
    /// it towards the total, and as read what `read` says.
    pub(super) fn count_window(&self, samples: &[Sample], histograms: &[HistogramSample], window_end: i64, read: Read) {
        let Some(counter) = &self.sample_stats else {
            return;
        };
        let mut counter = counter.borrow_mut();
        let size = |h: &HistogramSample| super::sample_stats::histogram_size(&h.histogram);
        let total = samples.len() as u64 + histograms.iter().map(size).sum::<u64>();
        let reading = counter.reading;
        let read = match read {
            Read::None => 0,
            Read::Whole => total,
            Read::New if reading.first => total,
            Read::New => {
                let after = window_end - reading.step_ms;
                samples.iter().filter(|p| p.timestamp_ms > after).count() as u64 + histograms.iter().filter(|h| h.timestamp_ms > after).map(size).sum::<u64>()
            }
        };
        counter.add(total, read);
    }

    pub(super) fn check_cancelled(&self) -> Result<(), Error> {
        match self.cancel {
            Some(flag) if flag.load(std::sync::atomic::Ordering::Relaxed) => Err(Error::Cancelled),
            _ => Ok(()),
        }
    }
}

/// Which samples of a window count as read (`Evaluator::count_window`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Read {
    /// None (a subquery's points; a selector with `@` read before).
    None,
    /// All of them.
    Whole,
    /// Those the (sub)query's previous step did not read: after `window_end - step`, all at
    /// its first step.
    New,
}

/// Linear steps tried before falling back to a binary search.
const CURSOR_WALK_MAX: usize = 16;

/// First index in `samples` with a timestamp after `bound` (`partition_point(t <= bound)`),
/// starting from `cursor`.
pub(super) fn advance(samples: &[Sample], cursor: &mut usize, bound: i64) -> usize {
    let mut c = (*cursor).min(samples.len());
    if c > 0 && samples[c - 1].timestamp_ms > bound {
        c = samples[..c].partition_point(|p| p.timestamp_ms <= bound);
    } else {
        let mut walked = 0;
        while c < samples.len() && samples[c].timestamp_ms <= bound {
            c += 1;
            walked += 1;
            if walked == CURSOR_WALK_MAX {
                c += samples[c..].partition_point(|p| p.timestamp_ms <= bound);
                break;
            }
        }
    }
    *cursor = c;
    c
}

/// Fetches the query's series and sets up its evaluation. The selects the series-major path
/// may read one series at a time (`series_major::streamable`) are left for it: it fetches
/// them whole only where it declines the aggregation (`fetch_remaining`).
pub(super) fn evaluator<'q>(q: &'q PreparedQuery, querier: &'q dyn Querier, cancel: Option<&'q std::sync::atomic::AtomicBool>) -> Result<Evaluator<'q>, Error> {
    let streamable = if q.options.series_major && !q.instant { super::series_major::streamable(&q.expr) } else { Default::default() };
    let last_only = q.last_sample_selects();
    let stats_selects = super::stats_decoding::stats_selectors(&q.expr);
    let mut selects = HashMap::new();
    walk_selectors(&q.expr, q.start_ms, q.end_ms, &q.options, &mut |key, matchers, mint_ms, maxt_ms| {
        let last_only = last_only.contains(&key);
        let stats = stats_selects.contains(&key);
        let mint_ms = super::stats_read_start(mint_ms, stats);
        let select = Select { matchers: matchers.to_vec(), mint_ms, maxt_ms, last_only, fetched: Default::default(), streamed: Default::default(), stats };
        selects.insert(key, select);
    });
    // An instant query has no step: `step()` is 0 there.
    let step_ms = if q.instant { 0 } else { q.step_ms };
    let ev = Evaluator {
        options: &q.options,
        querier,
        selects,
        loaded: Default::default(),
        start_ms: q.start_ms,
        end_ms: q.end_ms,
        step_ms,
        cursors: Default::default(),
        cancel,
        stripped: Default::default(),
        stripped_series: Default::default(),
        group_caches: Default::default(),
        precomputed: Default::default(),
        annotations: Default::default(),
        param_ranges: Default::default(),
        non_counters: Default::default(),
        sample_stats: q.sample_stats.then(|| super::sample_stats::Counter::new(q.start_ms, q.end_ms, q.step_ms)),
        query_expr: super::functions::unparen(&q.expr),
    };
    for key in ev.selects.keys().filter(|key| !streamable.contains(*key)) {
        ev.fetch(key)?;
    }
    Ok(ev)
}

impl Evaluator<'_> {
    /// Fetches select `key` whole, once, counting its samples against the limit.
    fn fetch(&self, key: &SelectKey) -> Result<(), Error> {
        let Some(select) = self.selects.get(key) else {
            return Ok(());
        };
        if select.fetched.get().is_some() {
            return Ok(());
        }
        let series = select_whole(self.querier, select);
        self.count_loaded(series.iter().map(|s| s.samples.len() + s.histograms.len()).sum())?;
        let _ = select.fetched.set(Fetched::new(series));
        Ok(())
    }

    fn count_loaded(&self, samples: usize) -> Result<(), Error> {
        let loaded = self.loaded.get().saturating_add(samples);
        self.loaded.set(loaded);
        if loaded > self.options.max_samples {
            return Err(Error::TooManySamples);
        }
        Ok(())
    }

    /// Fetches every select the series-major path did not read (it declined the
    /// aggregation, or was off): the step-major evaluation needs them whole.
    pub(super) fn fetch_remaining(&self) -> Result<(), Error> {
        for (key, select) in &self.selects {
            if !select.streamed.get() {
                self.fetch(key)?;
            }
        }
        Ok(())
    }

    /// Hands `vs`'s series to `visit` one at a time (`Querier::select_each`: a select not
    /// fetched yet is decoded series by series, never held whole), counting their samples
    /// against the limit. `Ok(false)` when `visit` broke off: nothing is counted then, and
    /// `fetch_remaining` fetches the select whole for the step-major path.
    pub(super) fn stream(&self, vs: &VectorSelector, visit: &mut tsdb::SeriesVisitor<'_>) -> Result<bool, Error> {
        let Some(select) = self.selects.get(&selector_key(vs)) else {
            return Ok(true);
        };
        if let Some(fetched) = select.fetched.get() {
            let finished = fetched.series.iter().all(|s| visit(&s.labels, &s.samples, &s.histograms, s.starts.as_deref()).is_continue());
            return Ok(finished);
        }
        let room = self.options.max_samples.saturating_sub(self.loaded.get());
        let (mut counted, mut too_many, mut broke_off) = (0usize, false, false);
        self.querier.select_each(&select.matchers, select.mint_ms, select.maxt_ms, &mut |labels, samples, histograms, starts| {
            counted += samples.len() + histograms.len();
            too_many = counted > room;
            broke_off = too_many || visit(labels, samples, histograms, starts).is_break();
            if broke_off {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        if too_many {
            return Err(Error::TooManySamples);
        }
        if broke_off {
            return Ok(false);
        }
        select.streamed.set(true);
        self.count_loaded(counted)?;
        Ok(true)
    }

    /// A select's series whole: fetched before the steps, or (a select the series-major path
    /// read, asked for again) fetched now, its samples counted already.
    fn fetched(&self, key: &SelectKey) -> Option<&Fetched> {
        let select = self.selects.get(key)?;
        Some(select.fetched.get_or_init(|| Fetched::new(select_whole(self.querier, select))))
    }
}

fn select_whole(querier: &dyn Querier, select: &Select) -> Vec<SeriesSamples> {
    let mut series = if select.last_only {
        querier.select_last(&select.matchers, select.mint_ms, select.maxt_ms)
    } else {
        querier.select(&select.matchers, select.mint_ms, select.maxt_ms)
    };
    if select.stats {
        super::stats_decoding::decode_stats(&mut series);
    }
    series
}

/// The last of `samples` (those at or before the reference time) if it lies after
/// `window_start` and is not a staleness marker: what an instant selector sees.
pub(super) fn last_within(samples: &[Sample], window_start: i64) -> Option<Sample> {
    samples.last().copied().filter(|last| last.timestamp_ms > window_start && !is_stale_nan(last.value))
}

/// `window` without its staleness markers: the window itself when `may_hold_stale` is false
/// or it holds none, else a copy in `scratch`.
pub(super) fn without_stale<'a>(window: &'a [Sample], may_hold_stale: bool, scratch: &'a mut Vec<Sample>) -> &'a [Sample] {
    if !may_hold_stale || !holds_stale(window) {
        return window;
    }
    scratch.clear();
    scratch.extend(window.iter().filter(|p| !is_stale_nan(p.value)));
    scratch
}

pub(super) fn execute(q: &PreparedQuery, querier: &dyn Querier, cancel: Option<&std::sync::atomic::AtomicBool>) -> Result<QueryResult, Error> {
    let started = std::time::Instant::now();
    let ev = evaluator(q, querier, cancel)?;
    let mut result = evaluate(q, &ev)?;
    let evaluated_in = started.elapsed();
    // A range query's series in label order.
    if let (Value::Matrix(series), false) = (&mut result.value, q.instant) {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
    }
    if let Some(counter) = ev.sample_stats {
        let samples = counter.into_inner().finish(ev.loaded.get() as u64, result_points(&result.value));
        let result_sort_seconds = (started.elapsed() - evaluated_in).as_secs_f64();
        let timings = super::QueryTimings { inner_eval_seconds: evaluated_in.as_secs_f64(), result_sort_seconds, ..Default::default() };
        result.stats = Some(super::QueryStats { timings, samples });
    }
    Ok(result)
}

/// The points (a histogram as its size) of a query's result.
fn result_points(value: &Value) -> u64 {
    let size = |h: &tsdb::FloatHistogram| super::sample_stats::histogram_size(h);
    match value {
        Value::Scalar { .. } => 1,
        Value::String { .. } => 0,
        Value::Vector(v) => v.iter().map(|s| s.histogram.as_deref().map_or(1, size)).sum(),
        Value::Matrix(m) => m.iter().map(|s| s.samples.len() as u64 + s.histograms.iter().map(|h| size(&h.histogram)).sum::<u64>()).sum(),
    }
}

fn evaluate(q: &PreparedQuery, ev: &Evaluator<'_>) -> Result<QueryResult, Error> {
    if q.instant {
        let value = match ev.eval(&q.expr, q.start_ms)? {
            StepValue::Scalar(v) => Value::Scalar { timestamp_ms: q.start_ms, value: v },
            StepValue::String(s) => Value::String { timestamp_ms: q.start_ms, value: s },
            StepValue::Vector(v) => {
                let v: Vec<InstantSample> = v
                    .into_iter()
                    .map(|e| InstantSample { labels: finish_labels(e.labels, e.drop_name), timestamp_ms: q.start_ms, value: e.value, histogram: e.histogram })
                    .collect();
                let mut seen = std::collections::HashSet::with_capacity(v.len());
                if !v.iter().all(|s| seen.insert(&s.labels)) {
                    return Err(Error::Execution(SAME_LABELSET.into()));
                }
                Value::Vector(v)
            }
            StepValue::Matrix(m) => Value::Matrix(merge_series(
                m.into_iter().map(|s| SeriesSamples { labels: finish_labels(s.labels, s.drop_name), samples: s.samples, histograms: s.histograms, starts: None }).collect(),
            )?),
        };
        let (warnings, infos) = ev.finish_annotations(q);
        return Ok(QueryResult { value, warnings, infos, stats: None });
    }
    if q.options.series_major {
        let mut precomputed = super::series_major::Precomputed::new();
        super::series_major::precompute(ev, &q.expr, &mut precomputed)?;
        *ev.precomputed.borrow_mut() = precomputed;
    }
    ev.fetch_remaining()?;
    let mut series: Vec<SeriesSamples> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut total_points = 0usize;
    let mut t = q.start_ms;
    while t <= q.end_ms {
        ev.check_cancelled()?;
        if let Some(counter) = &ev.sample_stats {
            counter.borrow_mut().set_step(usize::try_from((t - q.start_ms) / q.step_ms).unwrap_or(0));
        }
        let points: Vec<Elem> = match ev.eval(&q.expr, t)? {
            StepValue::Scalar(v) => vec![Elem::new(Labels::default(), v, false)],
            StepValue::Vector(v) => v,
            StepValue::String(_) | StepValue::Matrix(_) => {
                return Err(Error::Execution("range queries need an expression of type scalar or instant vector".into()))
            }
        };
        total_points += points.len();
        if total_points > q.options.max_samples {
            return Err(Error::TooManySamples);
        }
        for e in points {
            let labels = finish_labels(e.labels, e.drop_name);
            let i = *index.entry(labels.clone()).or_insert_with(|| {
                series.push(SeriesSamples { labels, samples: Vec::new(), histograms: Vec::new(), starts: None });
                series.len() - 1
            });
            // Two results with the same final labels at one step.
            if series[i].samples.last().is_some_and(|p| p.timestamp_ms == t) || series[i].histograms.last().is_some_and(|p| p.timestamp_ms == t) {
                return Err(Error::Execution(SAME_LABELSET.into()));
            }
            match e.histogram {
                Some(histogram) => series[i].histograms.push(HistogramSample { timestamp_ms: t, histogram }),
                None => series[i].samples.push(Sample { timestamp_ms: t, value: e.value }),
            }
        }
        t += q.step_ms;
    }
    let (warnings, infos) = ev.finish_annotations(q);
    Ok(QueryResult { value: Value::Matrix(series), warnings, infos, stats: None })
}

impl Evaluator<'_> {
    /// The query's warnings and infos: those evaluation recorded, those of aggregation
    /// parameters over all steps, and `sort` in range evaluations.
    fn finish_annotations(&self, q: &PreparedQuery) -> (Vec<String>, Vec<String>) {
        super::aggregate::annotate_params(self, &q.expr);
        for pos in super::sort_warning::ineffective_sorts(&q.expr, q.start_ms, q.end_ms, q.step_ms, q.options.default_subquery_step_ms) {
            self.annotate(Annotation::SortInRangeQuery, pos);
        }
        self.annotations.borrow().render(&q.query)
    }
}

pub(super) const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// The labels a result element is reported with: pending name removal applied.
pub(super) fn finish_labels(labels: Labels, drop: bool) -> Labels {
    if drop {
        drop_name(labels)
    } else {
        labels
    }
}

/// Merges series that ended up with equal labels (after name removal); overlapping
/// timestamps are Prometheus' "same labelset" error.
pub(super) fn merge_series(all: Vec<SeriesSamples>) -> Result<Vec<SeriesSamples>, Error> {
    let mut out: Vec<SeriesSamples> = Vec::with_capacity(all.len());
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in all {
        match index.get(&s.labels) {
            Some(&i) => {
                let merged = &mut out[i];
                merged.samples.extend(s.samples);
                merged.samples.sort_by_key(|p| p.timestamp_ms);
                merged.histograms.extend(s.histograms);
                merged.histograms.sort_by_key(|p| p.timestamp_ms);
                let mut times: Vec<i64> = merged.samples.iter().map(|p| p.timestamp_ms).chain(merged.histograms.iter().map(|p| p.timestamp_ms)).collect();
                times.sort_unstable();
                if times.windows(2).any(|w| w[0] == w[1]) {
                    return Err(Error::Execution(SAME_LABELSET.into()));
                }
            }
            None => {
                index.insert(s.labels.clone(), out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

impl Evaluator<'_> {
    /// The label sets of `selected(vs)` without `__name__` (in the same order), and whether
    /// two of them are then equal.
    pub(super) fn stripped_series(&self, vs: &VectorSelector) -> std::rc::Rc<StrippedSeries> {
        let key = selector_key(vs);
        if let Some(known) = self.stripped_series.borrow().get(&key) {
            return known.clone();
        }
        let labels: Vec<Labels> = self.selected(vs).iter().map(|s| drop_name(s.labels.clone())).collect();
        let mut seen = std::collections::HashSet::with_capacity(labels.len());
        let collide = !labels.iter().all(|l| seen.insert(l));
        let entry = std::rc::Rc::new(StrippedSeries { labels, collide });
        self.stripped_series.borrow_mut().insert(key, entry.clone());
        entry
    }

    /// For each series of `selected(vs)`, whether it holds a staleness marker.
    pub(super) fn stale_flags(&self, vs: &VectorSelector) -> &[bool] {
        self.fetched(&selector_key(vs)).map_or(&[], |f| f.has_stale.as_slice())
    }

    /// Whether any series of `selected(vs)` holds a native histogram.
    pub(super) fn holds_histograms(&self, vs: &VectorSelector) -> bool {
        self.fetched(&selector_key(vs)).is_some_and(|f| f.has_histograms)
    }

    pub(super) fn selected(&self, vs: &VectorSelector) -> &[SeriesSamples] {
        self.fetched(&selector_key(vs)).map_or(&[], |f| f.series.as_slice())
    }

    /// The info series of the `info()` call with these arguments.
    pub(super) fn info_series(&self, args: &[Expr]) -> &[SeriesSamples] {
        self.fetched(&info_key(args)).map_or(&[], |f| f.series.as_slice())
    }

    /// Runs `f` with the cursors of one window edge (`edge`) of `vs`'s series.
    pub(super) fn with_cursors<R>(&self, vs: &VectorSelector, edge: u8, f: impl FnOnce(&mut Vec<usize>) -> R) -> R {
        let mut map = self.cursors.borrow_mut();
        let cursors = map.entry((vs as *const VectorSelector, edge)).or_insert_with(|| vec![0; self.selected(vs).len()]);
        f(cursors)
    }

    /// `(from, to)` of each series' samples in the left-open window `(end - range, end]`.
    /// Both edges advance in one pass over the series (each series' samples are touched
    /// once per step, which matters when they do not fit in the CPU caches).
    pub(super) fn windows(&self, vs: &VectorSelector, end: i64, range_ms: i64) -> Vec<(usize, usize)> {
        let series = self.selected(vs);
        let key = vs as *const VectorSelector;
        let mut map = self.cursors.borrow_mut();
        let mut from = map.remove(&(key, 1)).unwrap_or_else(|| vec![0; series.len()]);
        let mut to = map.remove(&(key, 2)).unwrap_or_else(|| vec![0; series.len()]);
        let out = series
            .iter()
            .zip(from.iter_mut().zip(to.iter_mut()))
            .map(|(s, (f, t))| (advance(&s.samples, f, end - range_ms), advance(&s.samples, t, end)))
            .collect();
        map.insert((key, 1), from);
        map.insert((key, 2), to);
        out
    }

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

    /// The sample an instant selector sees at `t`: the last one in (ref - lookback, ref].
    pub(super) fn instant_samples(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, Sample)> {
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let window_start = reference - self.options.lookback_delta_ms;
        let mut out = Vec::new();
        let ends: Vec<usize> = self.with_cursors(vs, 0, |c| self.selected(vs).iter().zip(c.iter_mut()).map(|(s, c)| advance(&s.samples, c, reference)).collect());
        for (s, end) in self.selected(vs).iter().zip(ends) {
            if let Some(last) = last_within(&s.samples[..end], window_start) {
                out.push((s.labels.clone(), last));
            }
        }
        out
    }

    /// What an instant selector sees at `t`: per series the newest sample, float or
    /// histogram, in (ref - lookback, ref]; a staleness marker newer than a histogram hides it.
    pub(super) fn instant_elems(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        if !self.holds_histograms(vs) {
            // The float-only path (every step of most queries): one vector, no timestamps kept.
            return self.instant_samples(vs, t).into_iter().map(|(l, s)| Elem::new(l, s.value, false)).collect();
        }
        self.instant_elems_timed(vs, t).into_iter().map(|(e, _)| e).collect()
    }

    /// Per series, the start time of the sample an instant selector sees at `t` (0: that sample
    /// has none), in the order of `instant_elems_timed`.
    pub(super) fn instant_starts(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, i64)> {
        let series = self.selected(vs);
        let mut at = 0;
        self.instant_elems_timed(vs, t)
            .into_iter()
            .map(|(e, sample_ms)| {
                // Elements come in series order: move on to this one's series.
                while series.get(at).is_some_and(|s| !(s.labels.ptr_eq(&e.labels) || s.labels == e.labels)) {
                    at += 1;
                }
                let start = series.get(at).map_or(0, |s| super::start_times::start_of(s, e.histogram.is_some(), sample_ms));
                (e.labels, start)
            })
            .collect()
    }

    /// `instant_elems` with each sample's timestamp.
    pub(super) fn instant_elems_timed(&self, vs: &VectorSelector, t: i64) -> Vec<(Elem, i64)> {
        let floats = self.instant_samples(vs, t);
        let series = self.selected(vs);
        if !self.holds_histograms(vs) {
            return floats.into_iter().map(|(l, s)| (Elem::new(l, s.value, false), s.timestamp_ms)).collect();
        }
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let window_start = reference - self.options.lookback_delta_ms;
        let mut floats = floats.into_iter().peekable();
        let mut out = Vec::new();
        for s in series {
            // `instant_samples` answers in series order; match its answer to this series.
            let float = match floats.peek() {
                Some((l, _)) if l.ptr_eq(&s.labels) || *l == s.labels => floats.next().map(|(_, p)| p),
                _ => None,
            };
            let histogram = histograms_within(&s.histograms, window_start, reference).last();
            // A float (or marker) newer than the histogram wins, and the other way round.
            let newest_float_ms = {
                let end = s.samples.partition_point(|p| p.timestamp_ms <= reference);
                s.samples[..end].last().map(|p| p.timestamp_ms)
            };
            match (float, histogram) {
                (_, Some(h)) if newest_float_ms.is_none_or(|f| f < h.timestamp_ms) => out.push((Elem::with_histogram(s.labels.clone(), h.histogram.clone(), false), h.timestamp_ms)),
                (Some(p), _) => out.push((Elem::new(s.labels.clone(), p.value, false), p.timestamp_ms)),
                _ => {}
            }
        }
        out
    }

    /// What a `smoothed` instant selector sees at `t`: each series' value interpolated at the
    /// reference time from its neighbours within a lookback on either side.
    fn smoothed_samples(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let lookback = self.options.lookback_delta_ms;
        let windows = self.windows(vs, reference + lookback, 2 * lookback);
        let mut out = Vec::new();
        let mut live = Vec::new();
        for (s, (from, to)) in self.selected(vs).iter().zip(windows) {
            live.clear();
            live.extend(s.samples[from..to].iter().filter(|p| !is_stale_nan(p.value)));
            if !s.histograms.is_empty() {
                let histograms = histograms_within(&s.histograms, reference - lookback, reference + lookback);
                // A window of floats and histograms gives nothing (and a warning).
                if !histograms.is_empty() {
                    let report = super::histogram_eval::WindowReport { ev: self, pos: vs.pos, labels: &s.labels };
                    if !live.is_empty() {
                        report.mixed_floats_and_histograms();
                    } else {
                        let mut notes = Notes::default();
                        let value = super::histogram_eval::smoothed_histogram(histograms, reference, &mut notes);
                        report.notes(&notes, None);
                        match value {
                            Ok(Some(h)) => out.push(Elem::with_histogram(s.labels.clone(), Arc::new(h), false)),
                            Ok(None) => {}
                            Err(_) => report.mixed_exponential_and_custom(),
                        }
                    }
                    continue;
                }
            }
            if let Some(value) = smoothed_value(&live, reference) {
                out.push(Elem::new(s.labels.clone(), value, false));
            }
        }
        out
    }

    /// Evaluates `expr` at `t`. Without delayed name removal, a node's output has its
    /// pending name removal applied right away (as each Prometheus operator and function
    /// does), so what follows sees the labels without `__name__`.
    pub(super) fn eval(&self, expr: &Expr, t: i64) -> Result<StepValue, Error> {
        let value = self.eval_node(expr, t)?;
        if self.options.delayed_name_removal {
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
                let inner = self.subquery_points(sq, at, base, step, &mut series, &mut index);
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
            Expr::Binary(b) => {
                let (l, r) = (self.eval(&b.lhs, t)?, self.eval(&b.rhs, t)?);
                super::binary::eval_binary(self, b, l, r)?
            }
            Expr::Aggregate(a) => {
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

/// The histograms of `all` (ordered by time) in the left-open window `(start, end]`.
pub(super) fn histograms_within(all: &[HistogramSample], start: i64, end: i64) -> &[HistogramSample] {
    &all[histogram_window(all, start, end)]
}

/// The indexes in `all` (ordered by time) of the histograms in the left-open window `(start, end]`.
pub(super) fn histogram_window(all: &[HistogramSample], start: i64, end: i64) -> std::ops::Range<usize> {
    let from = all.partition_point(|p| p.timestamp_ms <= start);
    let to = all.partition_point(|p| p.timestamp_ms <= end);
    from..to.max(from)
}

/// The labels that describe what a value means: arithmetic and most functions remove them.
pub(super) const METADATA_LABELS: [&str; 3] = [tsdb::METRIC_NAME_LABEL, "__type__", "__unit__"];

/// Removes `__name__`, `__type__` and `__unit__` (results no longer are the metric they came from).
pub(super) fn drop_name(labels: Labels) -> Labels {
    if !labels.iter().any(|l| METADATA_LABELS.contains(&l.name)) {
        return labels;
    }
    Labels::from_sorted(labels.iter().filter(|l| !METADATA_LABELS.contains(&l.name)))
}

/// One select's series label sets without `__name__`, in order, and whether two of them
/// became equal that way.
pub(super) struct StrippedSeries {
    pub labels: Vec<Labels>,
    pub collide: bool,
}

/// Label sets already stripped of their name in this query, so a series whose name goes at
/// every step costs one lookup per step, not a new label set.
#[derive(Default)]
pub(super) struct StrippedNames {
    by_hash: HashMap<u64, Vec<(Labels, Labels)>, foldhash::fast::FixedState>,
    entries: usize,
}

/// Label sets `StrippedNames` remembers; past this, names are stripped without caching.
const STRIPPED_NAMES_MAX: usize = 1 << 20;

impl StrippedNames {
    fn without_name(&mut self, labels: &Labels) -> Labels {
        let h = labels.stable_hash();
        if let Some(known) = self.by_hash.get(&h) {
            if let Some((_, stripped)) = known.iter().find(|(l, _)| l.ptr_eq(labels) || l == labels) {
                return stripped.clone();
            }
        }
        let stripped = drop_name(labels.clone());
        if self.entries < STRIPPED_NAMES_MAX {
            self.by_hash.entry(h).or_default().push((labels.clone(), stripped.clone()));
            self.entries += 1;
        }
        stripped
    }
}

/// `check_unique` by the label sets' cached hashes (the per-step check after name removal);
/// equal hashes are confirmed by comparing the labels.
pub(super) fn check_unique_hashed(v: Vec<Elem>) -> Result<Vec<Elem>, Error> {
    if v.len() > 1 {
        let mut seen: HashMap<u64, usize, foldhash::fast::FixedState> = HashMap::with_capacity_and_hasher(v.len(), Default::default());
        for (i, e) in v.iter().enumerate() {
            if let Some(&first) = seen.get(&e.labels.stable_hash()) {
                if v[first].labels == e.labels {
                    return Err(Error::Execution(SAME_LABELSET.into()));
                }
                // Two label sets with one hash: settle it the slow way.
                return check_unique(v);
            }
            seen.insert(e.labels.stable_hash(), i);
        }
    }
    Ok(v)
}

/// Prometheus refuses results where two elements ended up with the same labels.
pub(super) fn check_unique(v: Vec<Elem>) -> Result<Vec<Elem>, Error> {
    if v.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(v.len());
        for e in &v {
            if !seen.insert(&e.labels) {
                return Err(Error::Execution(SAME_LABELSET.into()));
            }
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    proptest! {
        /// Whatever order the bounds come in, the cursor answers like a binary search.
        #[test]
        fn advance_matches_partition_point(times in proptest::collection::btree_set(-1000i64..1000, 0..80),
                                           bounds in proptest::collection::vec(-1100i64..1100, 1..40)) {
            let samples: Vec<Sample> = times.iter().map(|&t| Sample { timestamp_ms: t, value: 0.0 }).collect();
            let mut cursor = 0;
            for bound in bounds {
                let expected = samples.partition_point(|p| p.timestamp_ms <= bound);
                prop_assert_eq!(advance(&samples, &mut cursor, bound), expected);
            }
        }
    }
}
