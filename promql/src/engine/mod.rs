//! The evaluation engine. `prepare_*` parses and type-checks a query and computes every
//! selector's exact time range (`selects`); `execute` evaluates synchronously over any
//! `Querier` that can answer those selects (the server prefetches them from its shards).

mod binary;
mod eval;

use tsdb::{Labels, Matcher, Querier, SeriesSamples};

use crate::ast::{Expr, ValueType};
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
    /// Instant queries return range vectors as matrices; range queries never do.
    instant: bool,
    options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Engine { options }
    }

    pub fn prepare_instant(&self, query: &str, time_ms: i64) -> Result<PreparedQuery, Error> {
        let expr = parse(query).map_err(Error::Parse)?;
        Ok(PreparedQuery { expr, start_ms: time_ms, end_ms: time_ms, step_ms: 1, instant: true, options: self.options.clone() })
    }

    pub fn prepare_range(&self, query: &str, start_ms: i64, end_ms: i64, step_ms: i64) -> Result<PreparedQuery, Error> {
        let expr = parse(query).map_err(Error::Parse)?;
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
        Ok(PreparedQuery { expr, start_ms, end_ms, step_ms, instant: false, options: self.options.clone() })
    }
}

impl PreparedQuery {
    /// Every selector with the exact range evaluation will read, deduplicated.
    pub fn selects(&self) -> Vec<SelectRequest> {
        let mut out: Vec<SelectRequest> = Vec::new();
        collect_selects(&self.expr, self.start_ms, self.end_ms, self.options.lookback_delta_ms, &mut out);
        out
    }

    pub fn execute(&self, querier: &dyn Querier) -> Result<QueryResult, Error> {
        eval::execute(self, querier)
    }
}

fn collect_selects(expr: &Expr, start_ms: i64, end_ms: i64, lookback_ms: i64, out: &mut Vec<SelectRequest>) {
    let request = match expr {
        // Left-open windows: (t - lookback, t] and (t - range, t].
        Expr::VectorSelector(vs) => SelectRequest {
            matchers: vs.matchers.clone(),
            mint_ms: start_ms - vs.offset_ms - lookback_ms + 1,
            maxt_ms: end_ms - vs.offset_ms,
        },
        Expr::MatrixSelector { selector, range_ms } => SelectRequest {
            matchers: selector.matchers.clone(),
            mint_ms: start_ms - selector.offset_ms - range_ms + 1,
            maxt_ms: end_ms - selector.offset_ms,
        },
        Expr::Paren(e) | Expr::Negate(e) => return collect_selects(e, start_ms, end_ms, lookback_ms, out),
        Expr::Binary { lhs, rhs, .. } => {
            collect_selects(lhs, start_ms, end_ms, lookback_ms, out);
            return collect_selects(rhs, start_ms, end_ms, lookback_ms, out);
        }
        Expr::Number(_) | Expr::String(_) => return,
    };
    if !out.contains(&request) {
        out.push(request);
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
