//! The evaluation engine. `prepare_*` parses and type-checks a query, resolves `@ start()`/
//! `@ end()`, and computes every selector's exact time range (`selects`); `execute`
//! evaluates synchronously over any `Querier` that can answer those selects.

mod aggregate;
mod annotations;
mod binary;
mod classic_histogram;
mod eval;
mod functions;
mod histogram_eval;
mod info;
mod metricsql_aggregates;
pub(crate) mod native_histogram;
mod range_functions;
mod sample_stats;
mod series_major;
mod series_wide;
mod sort_warning;
mod start_times;
mod stats;
mod stats_decoding;
pub(crate) mod vm_histogram;

use tsdb::{Labels, Matcher, Querier, SeriesSamples};

pub use sample_stats::{QueryStats, QueryTimings, SampleStats};

use crate::ast::{At, DurationExpr, Expr, ValueType, VectorSelector};
use crate::parser::{parse, ParseError};

/// A native histogram's buckets as Prometheus' API lists them: (boundary rule, lower, upper,
/// count) from the lowest bucket up, buckets without observations left out. The rule is 0
/// for an inclusive upper bound only, 1 for an inclusive lower bound only, 2 for neither, 3
/// for both.
pub fn histogram_buckets_for_api(h: &tsdb::FloatHistogram) -> Vec<(u8, f64, f64, f64)> {
    native_histogram::buckets(h).into_iter().filter(|b| b.count != 0.0).map(|b| (b.boundary_rule(), b.lower, b.upper, b.count)).collect()
}

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub lookback_delta_ms: i64,
    pub max_samples: usize,
    pub default_subquery_step_ms: i64,
    /// Prometheus' `promql-delayed-name-removal` (off by default there, on in its test
    /// scripts): `__name__` is removed at the end of evaluation instead of by each operator
    /// or function, so e.g. `sum by (__name__) (rate(x[5m]))` keeps the names.
    pub delayed_name_removal: bool,
    /// Range queries evaluate `sum`/`avg`/`count`/`group`/`min`/`max`/`stdvar`/`stddev` over a
    /// selector or a range function of one series-major (`series_major`); the same results
    /// as step-major evaluation, which `false` keeps for everything (for comparison).
    pub series_major: bool,
    /// Prometheus' experimental `use-start-timestamps` (off by default there, on in its test
    /// scripts): `rate`, `increase`, `irate` and `resets` read the start time of each sample
    /// of a range selector (a reset where a start lies after the previous sample; the first
    /// sample's start instead of extrapolating to the left) and `start_timestamp(selector)`
    /// answers them; off, series' start times are ignored and `start_timestamp` is empty.
    pub use_start_timestamps: bool,
    /// Prometheus' experimental `type-and-unit-labels`: whether `rate`/`increase` over a
    /// series is reported as perhaps not of a counter goes by its `__type__` label (not
    /// `counter` or `histogram`) instead of its name's suffix.
    pub type_and_unit_labels: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lookback_delta_ms: 300_000, max_samples: 50_000_000, default_subquery_step_ms: 60_000, delayed_name_removal: false, series_major: true, use_start_timestamps: false, type_and_unit_labels: false }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Parse(ParseError),
    #[error("{0}")]
    Execution(String),
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
    /// The caller's cancellation flag was raised (timeout, client gone).
    #[error("query cancelled during expression evaluation")]
    Cancelled,
}

/// One selector with the inclusive time range evaluation will read.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectRequest {
    pub matchers: Vec<Matcher>,
    pub mint_ms: i64,
    pub maxt_ms: i64,
    /// Evaluation uses only each series' last sample in the range (`Querier::select_last`).
    pub last_only: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub timestamp_ms: i64,
    /// The float value; 0 (and meaningless) when `histogram` is set.
    pub value: f64,
    /// A native histogram value instead of a float.
    pub histogram: Option<std::sync::Arc<tsdb::FloatHistogram>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar { timestamp_ms: i64, value: f64 },
    String { timestamp_ms: i64, value: String },
    Vector(Vec<InstantSample>),
    Matrix(Vec<SeriesSamples>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct QueryResult {
    pub value: Value,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// Sample counts and timings, for a query prepared `with_sample_stats`.
    pub stats: Option<QueryStats>,
}

#[derive(Clone)]
pub struct Engine {
    options: EngineOptions,
}

/// A parsed, checked query with its evaluation window.
pub struct PreparedQuery {
    /// The query text, which annotations give positions in.
    query: String,
    expr: Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    /// Instant queries may return range vectors; range queries never do.
    instant: bool,
    options: EngineOptions,
    /// Count samples for `QueryResult::stats` (`stats` on the query API); off, no counting.
    sample_stats: bool,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    /// This engine with another lookback delta (a query's own `lookback_delta`).
    pub fn with_lookback_delta(&self, lookback_delta_ms: i64) -> Engine {
        Engine { options: EngineOptions { lookback_delta_ms, ..self.options.clone() } }
    }

    pub fn prepare_instant(&self, query: &str, time_ms: i64) -> Result<PreparedQuery, Error> {
        let mut expr = parse(query).map_err(Error::Parse)?;
        resolve_at(&mut expr, time_ms, time_ms);
        // An instant query has no step and no range: `step()` and `range()` are 0, and a
        // left-out window is the lookback delta.
        resolve_durations(&mut expr, 0, 0, self.options.lookback_delta_ms, &self.options)?;
        check_extended_selectors(&expr)?;
        Ok(PreparedQuery { query: query.to_string(), expr, start_ms: time_ms, end_ms: time_ms, step_ms: 1, instant: true, options: self.options.clone(), sample_stats: false })
    }

    pub fn prepare_range(&self, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<PreparedQuery, Error> {
        let mut expr = parse(query).map_err(Error::Parse)?;
        let t = expr.value_type();
        if !matches!(t, ValueType::Scalar | ValueType::Vector) {
            return Err(Error::Parse(ParseError {
                line: 1,
                column: 1,
                message: format!("invalid expression type \"{}\" for range query, must be Scalar or instant Vector", t.name()),
            }));
        }
        if step_ms <= 0 || end_ms < start_ms {
            return Err(Error::Execution("range query needs end >= start and a positive step".into()));
        }
        resolve_at(&mut expr, start_ms, end_ms);
        resolve_durations(&mut expr, step_ms, end_ms - start_ms, step_ms, &self.options)?;
        check_extended_selectors(&expr)?;
        Ok(PreparedQuery { query: query.to_string(), expr, start_ms, end_ms, step_ms, instant: false, options: self.options.clone(), sample_stats: false })
    }
}

/// Replaces `@ start()`/`@ end()` with the query's times.
fn resolve_at(expr: &mut Expr, start_ms: i64, end_ms: i64) {
    let fix = |at: &mut Option<At>| match at {
        Some(At::Start) => *at = Some(At::Time(start_ms)),
        Some(At::End) => *at = Some(At::Time(end_ms)),
        Some(At::Shifted { end, ms }) => *at = Some(At::Time((if *end { end_ms } else { start_ms }).saturating_add(*ms))),
        _ => {}
    };
    match expr {
        Expr::VectorSelector(vs) | Expr::MatrixSelector { selector: vs, .. } => fix(&mut vs.at),
        Expr::Subquery(sq) => {
            fix(&mut sq.at);
            resolve_at(&mut sq.expr, start_ms, end_ms);
        }
        Expr::Paren(e) | Expr::Negate(e) => resolve_at(e, start_ms, end_ms),
        Expr::Binary(b) => {
            resolve_at(&mut b.lhs, start_ms, end_ms);
            resolve_at(&mut b.rhs, start_ms, end_ms);
        }
        Expr::Aggregate(a) => {
            resolve_at(&mut a.expr, start_ms, end_ms);
            if let Some(p) = &mut a.param {
                resolve_at(p, start_ms, end_ms);
            }
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|a| resolve_at(a, start_ms, end_ms)),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// Evaluates every duration expression (ranges, subquery steps, offsets) now that the
/// query's step and range are known; errors name the expression, as Prometheus refuses them.
/// `grid_step_ms`: the step of the grid evaluated here (the query's, then each subquery's;
/// an instant query's is the lookback delta, as VictoriaMetrics' default step is 5 minutes),
/// which MetricsQL's `5i` counts in; a left-out window (`rate(x)`) is that step, at least the
/// lookback delta.
fn resolve_durations(expr: &mut Expr, step_ms: i64, range_ms: i64, grid_step_ms: i64, options: &EngineOptions) -> Result<(), Error> {
    let resolve = |target: &mut i64, e: &Option<DurationExpr>, allow_negative: bool| -> Result<(), Error> {
        if let Some(DurationExpr::Omitted) = e {
            *target = grid_step_ms.max(options.lookback_delta_ms);
        } else if let Some(e) = e {
            let e = &e.with_step_multiples(grid_step_ms);
            *target = e.to_ms(step_ms, range_ms, allow_negative).map_err(|message| {
                let mut written = String::new();
                crate::printer::write_duration(&mut written, e);
                Error::Parse(ParseError { line: 1, column: 1, message: format!("invalid duration expression {written:?}: {message}") })
            })?;
        }
        Ok(())
    };
    let inner = |e: &mut Expr| resolve_durations(e, step_ms, range_ms, grid_step_ms, options);
    match expr {
        Expr::VectorSelector(vs) => resolve(&mut vs.offset_ms, &vs.offset_expr, true),
        Expr::MatrixSelector { selector, range_ms: r, range_expr } => {
            resolve(r, range_expr, false)?;
            resolve(&mut selector.offset_ms, &selector.offset_expr, true)
        }
        Expr::Subquery(sq) => {
            resolve(&mut sq.range_ms, &sq.range_expr, false)?;
            if sq.step_expr.is_some() {
                let mut step = 0;
                resolve(&mut step, &sq.step_expr, false)?;
                sq.step_ms = Some(step);
            }
            resolve(&mut sq.offset_ms, &sq.offset_expr, true)?;
            let subquery_step_ms = sq.step_ms.unwrap_or(options.default_subquery_step_ms);
            resolve_durations(&mut sq.expr, step_ms, range_ms, subquery_step_ms, options)
        }
        Expr::Paren(e) | Expr::Negate(e) => inner(e),
        Expr::Binary(b) => {
            inner(&mut b.lhs)?;
            inner(&mut b.rhs)
        }
        Expr::Aggregate(a) => {
            inner(&mut a.expr)?;
            match &mut a.param {
                Some(p) => inner(p),
                None => Ok(()),
            }
        }
        // MetricsQL's `Ni` as a number: N steps of this grid, in seconds.
        Expr::Call { func, args, .. } if std::ptr::eq(*func, &crate::functions::STEP_MULTIPLE) => {
            let steps = match args.as_slice() {
                [Expr::Number(n)] => *n,
                _ => return Err(Error::Execution("a number of steps (Ni) takes one number".into())),
            };
            *expr = Expr::Number(steps * grid_step_ms as f64 / 1000.0);
            Ok(())
        }
        Expr::Call { args, .. } => args.iter_mut().try_for_each(inner),
        Expr::Number(_) | Expr::String(_) => Ok(()),
    }
}

fn at_ms(at: Option<At>) -> Option<i64> {
    match at {
        Some(At::Time(t)) => Some(t),
        _ => None,
    }
}

/// How far an `anchored` (left edge within a lookback before the range) or `smoothed` (both
/// edges interpolated with neighbours up to a lookback away) range selector reads beyond its
/// range: (before, after) in milliseconds.
pub(crate) fn extended_margins(vs: &VectorSelector, lookback_ms: i64) -> (i64, i64) {
    if vs.anchored {
        (lookback_ms, 0)
    } else if vs.smoothed {
        (lookback_ms, lookback_ms)
    } else {
        (0, 0)
    }
}

/// Functions that accept `anchored` range selectors, and those that accept `smoothed` ones
/// (Prometheus' `AnchoredSafeFunctions`/`SmoothedSafeFunctions`), sorted for the error text.
const ANCHORED_FUNCTIONS: [&str; 5] = ["changes", "delta", "increase", "rate", "resets"];
const SMOOTHED_FUNCTIONS: [&str; 3] = ["delta", "increase", "rate"];

/// Refuses `anchored`/`smoothed` range selectors passed to functions that cannot use them
/// (their windows hold samples outside the range).
fn check_extended_selectors(expr: &Expr) -> Result<(), Error> {
    if let Expr::Call { func, args, .. } = expr {
        for arg in args {
            let mut arg = arg;
            while let Expr::Paren(inner) = arg {
                arg = inner;
            }
            let Expr::MatrixSelector { selector, .. } = arg else { continue };
            let (name, allowed): (&str, &[&str]) = if selector.anchored {
                ("anchored", &ANCHORED_FUNCTIONS)
            } else if selector.smoothed {
                ("smoothed", &SMOOTHED_FUNCTIONS)
            } else {
                continue;
            };
            if !allowed.contains(&func.name) {
                return Err(Error::Execution(format!("{name} modifier can only be used with: {} - not with {}", allowed.join(", "), func.name)));
            }
        }
    }
    expr.children().into_iter().try_for_each(check_extended_selectors)
}

/// Where a select starts: a selector read for histogram stats also reads the sample at the
/// window's (open) start, as Prometheus' seek there does, to compare the first one with.
pub(crate) fn stats_read_start(mint_ms: i64, stats: bool) -> i64 {
    if stats { mint_ms - 1 } else { mint_ms }
}

/// First subquery step time: the smallest multiple of `step` strictly after `after`.
pub(crate) fn first_step_after(after: i64, step: i64) -> i64 {
    after.div_euclid(step) * step + step
}

/// Identifies fetched series: a selector's address, or an `info()` call's argument list
/// (the info series it joins).
pub(crate) type SelectKey = (usize, SelectKind);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SelectKind {
    Selector,
    Info,
}

pub(crate) fn selector_key(vs: &VectorSelector) -> SelectKey {
    (vs as *const VectorSelector as usize, SelectKind::Selector)
}

pub(crate) fn info_key(args: &[Expr]) -> SelectKey {
    (args.as_ptr() as usize, SelectKind::Info)
}

/// Calls `visit(key, matchers, mint, maxt)` for every select evaluation needs, with the
/// window evaluation over `[start, end]` reads (offset, `@`, lookback or range, enclosing
/// subqueries applied): each selector (once per alternative of MetricsQL's `or` filters,
/// with the same key), and the info series of each `info()` call.
pub(crate) fn walk_selectors(expr: &Expr, start: i64, end: i64, options: &EngineOptions, visit: &mut impl FnMut(SelectKey, &[Matcher], i64, i64)) {
    let reference = |at: Option<At>, offset: i64| match at_ms(at) {
        Some(t) => (t - offset, t - offset),
        None => (start - offset, end - offset),
    };
    match expr {
        Expr::VectorSelector(vs) => {
            let (s, e) = reference(vs.at, vs.offset_ms);
            // A smoothed selector interpolates towards the next sample, up to a lookback later.
            let after = if vs.smoothed { options.lookback_delta_ms } else { 0 };
            vs.alternatives().for_each(|matchers| visit(selector_key(vs), matchers, s - options.lookback_delta_ms + 1, e + after));
        }
        Expr::MatrixSelector { selector, range_ms, .. } => {
            let (s, e) = reference(selector.at, selector.offset_ms);
            let (before, after) = extended_margins(selector, options.lookback_delta_ms);
            selector.alternatives().for_each(|matchers| visit(selector_key(selector), matchers, s - range_ms - before + 1, e + after));
        }
        Expr::Subquery(sq) => {
            let (s, e) = reference(sq.at, sq.offset_ms);
            let step = sq.step_ms.unwrap_or(options.default_subquery_step_ms);
            walk_selectors(&sq.expr, first_step_after(s - sq.range_ms, step), e, options, visit);
        }
        Expr::Paren(e) | Expr::Negate(e) => walk_selectors(e, start, end, options, visit),
        Expr::Binary(b) => {
            walk_selectors(&b.lhs, start, end, options, visit);
            walk_selectors(&b.rhs, start, end, options, visit);
        }
        Expr::Aggregate(a) => {
            walk_selectors(&a.expr, start, end, options, visit);
            if let Some(p) = &a.param {
                walk_selectors(p, start, end, options, visit);
            }
        }
        Expr::Call { func, args, .. } if func.name == "info" => {
            // The label selector argument only describes the info series: no select of its own.
            if let Some(first) = args.first() {
                walk_selectors(first, start, end, options, visit);
                let (at, offset) = info::info_reference(first);
                let (s, e) = reference(at.map(At::Time), offset);
                let matchers = info::InfoSpec::new(args).select_matchers();
                visit(info_key(args), &matchers, s - options.lookback_delta_ms + 1, e);
            }
        }
        Expr::Call { args, .. } => args.iter().for_each(|a| walk_selectors(a, start, end, options, visit)),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

impl PreparedQuery {
    /// Every selector with the exact range evaluation will read, deduplicated (one that
    /// needs all samples and one that needs only the last of the same range are one select
    /// of all samples).
    pub fn selects(&self) -> Vec<SelectRequest> {
        let last_only = self.last_sample_selects();
        let stats = stats_decoding::stats_selectors(&self.expr);
        let mut out: Vec<SelectRequest> = Vec::new();
        walk_selectors(&self.expr, self.start_ms, self.end_ms, &self.options, &mut |key, matchers, mint_ms, maxt_ms| {
            let last_only = last_only.contains(&key);
            let mint_ms = stats_read_start(mint_ms, stats.contains(&key));
            match out.iter_mut().find(|r| r.matchers.as_slice() == matchers && r.mint_ms == mint_ms && r.maxt_ms == maxt_ms) {
                Some(known) => known.last_only &= last_only,
                None => out.push(SelectRequest { matchers: matchers.to_vec(), mint_ms, maxt_ms, last_only }),
            }
        });
        out
    }

    /// The selects evaluation reads only the last sample of, in each series: in an instant
    /// query, the instant selectors outside subqueries (each evaluated at one time; a
    /// smoothed one also reads the sample after; one read for histogram stats compares with
    /// the samples before).
    pub(crate) fn last_sample_selects(&self) -> std::collections::HashSet<SelectKey> {
        fn walk(expr: &Expr, out: &mut std::collections::HashSet<SelectKey>) {
            match expr {
                Expr::VectorSelector(vs) if !vs.smoothed => {
                    out.insert(selector_key(vs));
                }
                Expr::Subquery(_) | Expr::VectorSelector(_) | Expr::MatrixSelector { .. } | Expr::Number(_) | Expr::String(_) => {}
                // `info()` reads its own select of info series beside its argument's.
                Expr::Call { func, .. } if func.name == "info" => {}
                _ => expr.children().into_iter().for_each(|child| walk(child, out)),
            }
        }
        let mut out = std::collections::HashSet::new();
        if self.instant {
            walk(&self.expr, &mut out);
            for key in stats_decoding::stats_selectors(&self.expr) {
                out.remove(&key);
            }
        }
        out
    }

    /// The query's text.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// This query counting samples for `QueryResult::stats`.
    pub fn with_sample_stats(mut self) -> PreparedQuery {
        self.sample_stats = true;
        self
    }

    pub fn execute(&self, querier: &dyn Querier) -> Result<QueryResult, Error> {
        eval::execute(self, querier, None)
    }

    /// Like `execute`, but stops with `Error::Cancelled` soon after `cancel` becomes true
    /// (checked at every step of a range query and of a subquery).
    pub fn execute_cancellable(&self, querier: &dyn Querier, cancel: &std::sync::atomic::AtomicBool) -> Result<QueryResult, Error> {
        eval::execute(self, querier, Some(cancel))
    }
}

/// An in-memory `Querier` over fixed series, for tests and the script runner.
#[derive(Default, Debug, Clone)]
pub struct MemQuerier {
    pub series: Vec<SeriesSamples>,
}

impl Querier for MemQuerier {
    fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.series
            .iter()
            .filter(|s| matchers.iter().all(|m| m.matches(s.labels.get(&m.name).unwrap_or(""))))
            .filter_map(|s| {
                let samples: Vec<_> = s.samples.iter().filter(|p| p.timestamp_ms >= mint_ms && p.timestamp_ms <= maxt_ms).copied().collect();
                (!samples.is_empty()).then(|| SeriesSamples { labels: s.labels.clone(), samples, histograms: Vec::new(), starts: None })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select_ranges(prepared: &PreparedQuery) -> Vec<(i64, i64)> {
        prepared.selects().iter().map(|s| (s.mint_ms, s.maxt_ms)).collect()
    }

    #[test]
    fn duration_expressions_resolve_with_the_query_step_and_range() {
        let engine = Engine::new(EngineOptions::default());
        // step() = 10 s, range() = 60 s: the window is 10 s before each step.
        let q = engine.prepare_range("count_over_time(x[step()])", 60_000, 120_000, 10_000).unwrap();
        assert_eq!(select_ranges(&q), vec![(50_001, 120_000)]);
        let q = engine.prepare_range("x offset min_of(range(), 8s)", 60_000, 120_000, 10_000).unwrap();
        assert_eq!(select_ranges(&q), vec![(60_000 - 8_000 - 300_000 + 1, 112_000)]);
        let q = engine.prepare_range("sum_over_time(x[1m:step()*2])", 60_000, 120_000, 10_000).unwrap();
        assert!(format!("{:?}", q.expr).contains("step_ms: Some(20000)"));
        // An instant query has step() = range() = 0: fine for offsets, not for ranges.
        assert!(engine.prepare_instant("x offset range()", 60_000).is_ok());
        let err = engine.prepare_instant("rate(x[step()])", 60_000).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("invalid duration expression \"step()\": duration must be greater than 0"), "{err}");
        let err = engine.prepare_range("sum_over_time(x[1m:1m / (step() - 10)])", 0, 60_000, 10_000).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("division by zero"), "{err}");
    }

    #[test]
    fn extended_selectors_widen_their_selects_and_refuse_unsafe_functions() {
        let engine = Engine::new(EngineOptions::default());
        let q = engine.prepare_instant("increase(x[1m] anchored)", 600_000).unwrap();
        assert_eq!(select_ranges(&q), vec![(600_000 - 60_000 - 300_000 + 1, 600_000)]);
        let q = engine.prepare_instant("rate(x[1m] smoothed)", 600_000).unwrap();
        assert_eq!(select_ranges(&q), vec![(600_000 - 60_000 - 300_000 + 1, 900_000)]);
        let q = engine.prepare_instant("x smoothed", 600_000).unwrap();
        assert_eq!(select_ranges(&q), vec![(300_001, 900_000)]);
        let error = |q: &str| engine.prepare_instant(q, 0).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(error("deriv(x[3m] smoothed)"), "smoothed modifier can only be used with: delta, increase, rate - not with deriv");
        assert_eq!(
            error("max_over_time((x[3m] anchored))"),
            "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with max_over_time"
        );
        assert_eq!(error("resets(x[3m] anchored)"), "");
    }

    #[test]
    fn info_adds_one_select_for_its_info_series() {
        let engine = Engine::new(EngineOptions::default());
        let q = engine.prepare_range("info(x offset 1m, {__name__=~\".+_info\", data!=\"\"})", 600_000, 900_000, 60_000).unwrap();
        let selects = q.selects();
        let shown: Vec<(String, i64, i64)> =
            selects.iter().map(|s| (s.matchers.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(","), s.mint_ms, s.maxt_ms)).collect();
        assert_eq!(
            shown,
            vec![
                ("__name__=\"x\"".to_string(), 240_001, 840_000),
                ("data!=\"\",__name__=~\".+_info\"".to_string(), 240_001, 840_000),
            ]
        );
    }

    /// Answers `select_last` with only each series' last sample in the range, as a shard may.
    struct LastOnly(MemQuerier);

    impl Querier for LastOnly {
        fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
            self.0.select(matchers, mint_ms, maxt_ms)
        }

        fn select_last(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
            let mut series = self.0.select(matchers, mint_ms, maxt_ms);
            for s in &mut series {
                s.samples.drain(..s.samples.len().saturating_sub(1));
            }
            series
        }
    }

    #[test]
    fn instant_selectors_of_instant_queries_ask_for_last_samples_only() {
        let engine = Engine::new(EngineOptions::default());
        let last_only = |q: &str| -> Vec<bool> { engine.prepare_instant(q, 600_000).unwrap().selects().iter().map(|s| s.last_only).collect() };
        assert_eq!(last_only("x + on() group_left rate(y[5m])"), vec![true, false]);
        // The same range read whole by a range selector: one select of all samples.
        assert_eq!(last_only("x + on() group_left count_over_time(x[5m])"), vec![false]);
        assert_eq!(last_only("max_over_time(x[2m:30s])"), vec![false], "a subquery evaluates at many times");
        assert_eq!(last_only("x smoothed"), vec![false], "smoothing reads the sample after");
        assert_eq!(last_only("timestamp(x offset 1m) > x @ 100"), vec![true, true]);
        let range = engine.prepare_range("x", 0, 600_000, 60_000).unwrap();
        assert!(range.selects().iter().all(|s| !s.last_only));
    }

    proptest::proptest! {
        /// Instant queries answer the same when the last-only selects return only the last
        /// sample in range.
        #[test]
        fn last_sample_selects_answer_as_whole_ones(
            specs in proptest::collection::vec((0usize..2, 0usize..3, proptest::collection::vec((1i64..90, -5i32..50, 0u8..12), 0..30)), 1..8),
            at in 0i64..600,
        ) {
            let mut series = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for (name, pod, points) in specs {
                let labels = Labels::from_pairs([("__name__", ["x", "y"][name]), ("pod", ["a", "b", "c"][pod])]);
                if !seen.insert(labels.clone()) {
                    continue;
                }
                let mut t = 0;
                let samples = points
                    .into_iter()
                    .map(|(gap, v, special)| {
                        t += gap * 1000;
                        let value = match special { 0 => f64::from_bits(tsdb::STALE_NAN_BITS), 1 => f64::NAN, _ => f64::from(v) };
                        tsdb::Sample { timestamp_ms: t, value }
                    })
                    .collect();
                series.push(SeriesSamples { labels, samples, histograms: Vec::new(), starts: None });
            }
            let whole = MemQuerier { series };
            let last = LastOnly(whole.clone());
            let engine = Engine::new(EngineOptions { lookback_delta_ms: 120_000, ..EngineOptions::default() });
            for query in [
                "x", "sum by (pod) (x)", "timestamp(x)", "absent(y)", "x offset 30s + on(pod) y", "x @ 200 * 2",
                "count_over_time(x[2m]) + on(pod) x", "max_over_time(y[3m:20s]) - on(pod) y", "sort_desc(topk(2, {__name__=~\".+\"}))",
                "y and on(pod) changes(y[2m]) > 0",
            ] {
                let q = engine.prepare_instant(query, at * 1000).unwrap();
                let a = q.execute(&whole).map(|r| format!("{:?}", r.value)).map_err(|e| e.to_string());
                let b = q.execute(&last).map(|r| format!("{:?}", r.value)).map_err(|e| e.to_string());
                proptest::prop_assert_eq!(a, b, "{}", query);
            }
        }
    }

}
