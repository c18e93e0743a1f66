//! The evaluation engine. `prepare_*` parses and type-checks a query, resolves `@ start()`/
//! `@ end()`, and computes every selector's exact time range (`selects`); `execute`
//! evaluates synchronously over any `Querier` that can answer those selects.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod histogram;
mod range_functions;
mod stats;

use tsdb::{Labels, Matcher, Querier, SeriesSamples};

use crate::ast::{At, Expr, ValueType, VectorSelector};
use crate::parser::{parse, ParseError};

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub lookback_delta_ms: i64,
    pub max_samples: usize,
    pub default_subquery_step_ms: i64,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lookback_delta_ms: 300_000, max_samples: 50_000_000, default_subquery_step_ms: 60_000 }
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
}

#[derive(Clone, Debug, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    pub timestamp_ms: i64,
    pub value: f64,
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
}

pub struct Engine {
    options: EngineOptions,
}

/// A parsed, checked query with its evaluation window.
pub struct PreparedQuery {
    expr: Expr,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    /// Instant queries may return range vectors; range queries never do.
    instant: bool,
    options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    pub fn prepare_instant(&self, query: &str, time_ms: i64) -> Result<PreparedQuery, Error> {
        let mut expr = parse(query).map_err(Error::Parse)?;
        resolve_at(&mut expr, time_ms, time_ms);
        Ok(PreparedQuery { expr, start_ms: time_ms, end_ms: time_ms, step_ms: 1, instant: true, options: self.options.clone() })
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
        Ok(PreparedQuery { expr, start_ms, end_ms, step_ms, instant: false, options: self.options.clone() })
    }
}

/// Replaces `@ start()`/`@ end()` with the query's times.
fn resolve_at(expr: &mut Expr, start_ms: i64, end_ms: i64) {
    let fix = |at: &mut Option<At>| match at {
        Some(At::Start) => *at = Some(At::Time(start_ms)),
        Some(At::End) => *at = Some(At::Time(end_ms)),
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

fn at_ms(at: Option<At>) -> Option<i64> {
    match at {
        Some(At::Time(t)) => Some(t),
        _ => None,
    }
}

/// First subquery step time: the smallest multiple of `step` strictly after `after`.
pub(crate) fn first_step_after(after: i64, step: i64) -> i64 {
    after.div_euclid(step) * step + step
}

/// Calls `visit(selector, mint, maxt)` for every selector, with the window evaluation over
/// `[start, end]` reads (offset, `@`, lookback or range, enclosing subqueries applied).
pub(crate) fn walk_selectors<'e>(expr: &'e Expr, start: i64, end: i64, options: &EngineOptions, visit: &mut impl FnMut(&'e VectorSelector, i64, i64)) {
    let reference = |at: Option<At>, offset: i64| match at_ms(at) {
        Some(t) => (t - offset, t - offset),
        None => (start - offset, end - offset),
    };
    match expr {
        Expr::VectorSelector(vs) => {
            let (s, e) = reference(vs.at, vs.offset_ms);
            visit(vs, s - options.lookback_delta_ms + 1, e);
        }
        Expr::MatrixSelector { selector, range_ms } => {
            let (s, e) = reference(selector.at, selector.offset_ms);
            visit(selector, s - range_ms + 1, e);
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
        Expr::Call { args, .. } => args.iter().for_each(|a| walk_selectors(a, start, end, options, visit)),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

impl PreparedQuery {
    /// Every selector with the exact range evaluation will read, deduplicated.
    pub fn selects(&self) -> Vec<SelectRequest> {
        let mut out: Vec<SelectRequest> = Vec::new();
        walk_selectors(&self.expr, self.start_ms, self.end_ms, &self.options, &mut |vs, mint_ms, maxt_ms| {
            let request = SelectRequest { matchers: vs.matchers.clone(), mint_ms, maxt_ms };
            if !out.contains(&request) {
                out.push(request);
            }
        });
        out
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
                (!samples.is_empty()).then(|| SeriesSamples { labels: s.labels.clone(), samples })
            })
            .collect()
    }
}
