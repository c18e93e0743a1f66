//! Step-wise evaluation: every expression is evaluated at each step timestamp; selectors
//! read from the prefetched series with lookback (left-open) and staleness handling.

use std::collections::HashMap;

use tsdb::{is_stale_nan, Labels, Querier, Sample, SeriesSamples};

use super::binary::{binary_scalar, binary_vector_scalar, binary_vector_vector};
use super::{Error, InstantSample, PreparedQuery, QueryResult, Value};
use crate::ast::{Expr, VectorSelector};

/// The value of an expression at one step.
pub(super) enum StepValue {
    Scalar(f64),
    String(String),
    Vector(Vec<(Labels, f64)>),
    Matrix(Vec<SeriesSamples>),
}

struct Context<'a> {
    querier: &'a dyn Querier,
    lookback_ms: i64,
    /// Selected series per selector, fetched once per query.
    fetched: HashMap<*const VectorSelector, Vec<SeriesSamples>>,
    samples_loaded: usize,
    max_samples: usize,
}

pub(super) fn execute(q: &PreparedQuery, querier: &dyn Querier) -> Result<QueryResult, Error> {
    let mut ctx = Context { querier, lookback_ms: q.options.lookback_delta_ms, fetched: HashMap::new(), samples_loaded: 0, max_samples: q.options.max_samples };
    prefetch(&q.expr, q, &mut ctx)?;
    if q.instant {
        let value = match eval(&q.expr, q.start_ms, &ctx)? {
            StepValue::Scalar(v) => Value::Scalar { timestamp_ms: q.start_ms, value: v },
            StepValue::String(s) => Value::String { timestamp_ms: q.start_ms, value: s },
            StepValue::Vector(v) => Value::Vector(
                v.into_iter().map(|(labels, value)| InstantSample { labels, timestamp_ms: q.start_ms, value }).collect(),
            ),
            StepValue::Matrix(m) => Value::Matrix(m),
        };
        return Ok(QueryResult { value, warnings: Vec::new(), infos: Vec::new() });
    }
    // Range query: one series per distinct label set, points in step order.
    let mut series: Vec<SeriesSamples> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut t = q.start_ms;
    while t <= q.end_ms {
        let points: Vec<(Labels, f64)> = match eval(&q.expr, t, &ctx)? {
            StepValue::Scalar(v) => vec![(Labels::default(), v)],
            StepValue::Vector(v) => v,
            StepValue::String(_) | StepValue::Matrix(_) => {
                return Err(Error::Execution("range queries need an expression of type scalar or instant vector".into()))
            }
        };
        for (labels, value) in points {
            let i = *index.entry(labels.clone()).or_insert_with(|| {
                series.push(SeriesSamples { labels, samples: Vec::new() });
                series.len() - 1
            });
            series[i].samples.push(Sample { timestamp_ms: t, value });
        }
        t += q.step_ms;
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(QueryResult { value: Value::Matrix(series), warnings: Vec::new(), infos: Vec::new() })
}

fn prefetch<'a>(expr: &'a Expr, q: &PreparedQuery, ctx: &mut Context<'a>) -> Result<(), Error> {
    let (selector, range_ms) = match expr {
        Expr::VectorSelector(vs) => (vs, ctx.lookback_ms),
        Expr::MatrixSelector { selector, range_ms } => (selector, *range_ms),
        Expr::Paren(e) | Expr::Negate(e) => return prefetch(e, q, ctx),
        Expr::Binary { lhs, rhs, .. } => {
            prefetch(lhs, q, ctx)?;
            return prefetch(rhs, q, ctx);
        }
        Expr::Number(_) | Expr::String(_) => return Ok(()),
    };
    let mint = q.start_ms - selector.offset_ms - range_ms + 1;
    let maxt = q.end_ms - selector.offset_ms;
    let series = ctx.querier.select(&selector.matchers, mint, maxt);
    ctx.samples_loaded += series.iter().map(|s| s.samples.len()).sum::<usize>();
    if ctx.samples_loaded > ctx.max_samples {
        return Err(Error::TooManySamples);
    }
    ctx.fetched.insert(selector as *const VectorSelector, series);
    Ok(())
}

fn selected<'c>(ctx: &'c Context<'_>, vs: &VectorSelector) -> &'c [SeriesSamples] {
    ctx.fetched.get(&(vs as *const VectorSelector)).map(Vec::as_slice).unwrap_or(&[])
}

fn eval(expr: &Expr, t: i64, ctx: &Context<'_>) -> Result<StepValue, Error> {
    Ok(match expr {
        Expr::Number(v) => StepValue::Scalar(*v),
        Expr::String(s) => StepValue::String(s.clone()),
        Expr::Paren(e) => eval(e, t, ctx)?,
        Expr::VectorSelector(vs) => {
            let ref_t = t - vs.offset_ms;
            let window_start = ref_t - ctx.lookback_ms;
            let mut out = Vec::new();
            for s in selected(ctx, vs) {
                // Last sample in (ref_t - lookback, ref_t]; a stale marker there hides the series.
                let end = s.samples.partition_point(|p| p.timestamp_ms <= ref_t);
                if end == 0 {
                    continue;
                }
                let last = s.samples[end - 1];
                if last.timestamp_ms <= window_start || is_stale_nan(last.value) {
                    continue;
                }
                out.push((s.labels.clone(), last.value));
            }
            StepValue::Vector(out)
        }
        Expr::MatrixSelector { selector, range_ms } => {
            let ref_t = t - selector.offset_ms;
            let mut out = Vec::new();
            for s in selected(ctx, selector) {
                let samples: Vec<Sample> = s
                    .samples
                    .iter()
                    .filter(|p| p.timestamp_ms > ref_t - range_ms && p.timestamp_ms <= ref_t && !is_stale_nan(p.value))
                    .copied()
                    .collect();
                if !samples.is_empty() {
                    out.push(SeriesSamples { labels: s.labels.clone(), samples });
                }
            }
            StepValue::Matrix(out)
        }
        Expr::Negate(e) => match eval(e, t, ctx)? {
            StepValue::Scalar(v) => StepValue::Scalar(-v),
            StepValue::Vector(v) => StepValue::Vector(v.into_iter().map(|(l, x)| (drop_name(l), -x)).collect()),
            _ => return Err(Error::Execution("unary minus needs a scalar or instant vector".into())),
        },
        Expr::Binary { op, lhs, rhs, return_bool } => {
            let (l, r) = (eval(lhs, t, ctx)?, eval(rhs, t, ctx)?);
            match (l, r) {
                (StepValue::Scalar(a), StepValue::Scalar(b)) => StepValue::Scalar(binary_scalar(*op, a, b, *return_bool)),
                (StepValue::Vector(v), StepValue::Scalar(s)) => StepValue::Vector(binary_vector_scalar(*op, v, s, false, *return_bool)),
                (StepValue::Scalar(s), StepValue::Vector(v)) => StepValue::Vector(binary_vector_scalar(*op, v, s, true, *return_bool)),
                (StepValue::Vector(a), StepValue::Vector(b)) => StepValue::Vector(binary_vector_vector(*op, a, b, *return_bool)?),
                _ => return Err(Error::Execution("binary operators need scalar or instant vector operands".into())),
            }
        }
    })
}

/// Removes `__name__` (arithmetic results are no longer the metric they came from).
pub(super) fn drop_name(labels: Labels) -> Labels {
    if labels.metric_name().is_none() {
        return labels;
    }
    Labels::from_sorted(labels.into_vec().into_iter().filter(|l| l.name != tsdb::METRIC_NAME_LABEL).collect())
}
