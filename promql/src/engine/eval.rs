//! Step-wise evaluation: every expression is evaluated at each step timestamp; selectors
//! read prefetched series with lookback (left-open windows) and staleness handling;
//! subqueries evaluate their inner expression at aligned steps.

use std::collections::HashMap;

use tsdb::{is_stale_nan, Labels, Querier, Sample, SeriesSamples};

use super::{at_ms, first_step_after, walk_selectors, EngineOptions, Error, InstantSample, PreparedQuery, QueryResult, Value};
use crate::ast::{Expr, VectorSelector};

/// The value of an expression at one step.
pub(super) enum StepValue {
    Scalar(f64),
    String(String),
    Vector(Vec<(Labels, f64)>),
    Matrix(Vec<SeriesSamples>),
}

pub(super) struct Evaluator<'q> {
    pub options: &'q EngineOptions,
    /// Series of each selector, fetched once per query (keyed by the selector's address).
    fetched: HashMap<*const VectorSelector, Vec<SeriesSamples>>,
}

pub(super) fn execute(q: &PreparedQuery, querier: &dyn Querier) -> Result<QueryResult, Error> {
    let mut fetched = HashMap::new();
    let mut loaded = 0usize;
    let mut too_many = false;
    walk_selectors(&q.expr, q.start_ms, q.end_ms, &q.options, &mut |vs, mint, maxt| {
        if too_many {
            return;
        }
        let series = querier.select(&vs.matchers, mint, maxt);
        loaded += series.iter().map(|s| s.samples.len()).sum::<usize>();
        too_many = loaded > q.options.max_samples;
        fetched.insert(vs as *const VectorSelector, series);
    });
    if too_many {
        return Err(Error::TooManySamples);
    }
    let ev = Evaluator { options: &q.options, fetched };
    if q.instant {
        let value = match ev.eval(&q.expr, q.start_ms)? {
            StepValue::Scalar(v) => Value::Scalar { timestamp_ms: q.start_ms, value: v },
            StepValue::String(s) => Value::String { timestamp_ms: q.start_ms, value: s },
            StepValue::Vector(v) => {
                Value::Vector(v.into_iter().map(|(labels, value)| InstantSample { labels, timestamp_ms: q.start_ms, value }).collect())
            }
            StepValue::Matrix(m) => Value::Matrix(m),
        };
        return Ok(QueryResult { value, warnings: Vec::new(), infos: Vec::new() });
    }
    let mut series: Vec<SeriesSamples> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut t = q.start_ms;
    while t <= q.end_ms {
        let points: Vec<(Labels, f64)> = match ev.eval(&q.expr, t)? {
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

impl Evaluator<'_> {
    fn selected(&self, vs: &VectorSelector) -> &[SeriesSamples] {
        self.fetched.get(&(vs as *const VectorSelector)).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The sample an instant selector sees at `t`: the last one in (ref - lookback, ref].
    pub(super) fn instant_samples(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, Sample)> {
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let window_start = reference - self.options.lookback_delta_ms;
        let mut out = Vec::new();
        for s in self.selected(vs) {
            let end = s.samples.partition_point(|p| p.timestamp_ms <= reference);
            if end == 0 {
                continue;
            }
            let last = s.samples[end - 1];
            if last.timestamp_ms <= window_start || is_stale_nan(last.value) {
                continue;
            }
            out.push((s.labels.clone(), last));
        }
        out
    }

    pub(super) fn eval(&self, expr: &Expr, t: i64) -> Result<StepValue, Error> {
        Ok(match expr {
            Expr::Number(v) => StepValue::Scalar(*v),
            Expr::String(s) => StepValue::String(s.clone()),
            Expr::Paren(e) => self.eval(e, t)?,
            Expr::VectorSelector(vs) => StepValue::Vector(self.instant_samples(vs, t).into_iter().map(|(l, s)| (l, s.value)).collect()),
            Expr::MatrixSelector { selector, range_ms } => {
                let reference = at_ms(selector.at).unwrap_or(t) - selector.offset_ms;
                let mut out = Vec::new();
                for s in self.selected(selector) {
                    let from = s.samples.partition_point(|p| p.timestamp_ms <= reference - range_ms);
                    let to = s.samples.partition_point(|p| p.timestamp_ms <= reference);
                    let samples: Vec<Sample> = s.samples[from..to].iter().filter(|p| !is_stale_nan(p.value)).copied().collect();
                    if !samples.is_empty() {
                        out.push(SeriesSamples { labels: s.labels.clone(), samples });
                    }
                }
                StepValue::Matrix(out)
            }
            Expr::Subquery(sq) => {
                let base = at_ms(sq.at).unwrap_or(t) - sq.offset_ms;
                let step = sq.step_ms.unwrap_or(self.options.default_subquery_step_ms);
                let mut series: Vec<SeriesSamples> = Vec::new();
                let mut index: HashMap<Labels, usize> = HashMap::new();
                let mut at = first_step_after(base - sq.range_ms, step);
                while at <= base {
                    let points = match self.eval(&sq.expr, at)? {
                        StepValue::Vector(v) => v,
                        StepValue::Scalar(v) => vec![(Labels::default(), v)],
                        _ => return Err(Error::Execution("subquery needs an instant vector".into())),
                    };
                    for (labels, value) in points {
                        let i = *index.entry(labels.clone()).or_insert_with(|| {
                            series.push(SeriesSamples { labels, samples: Vec::new() });
                            series.len() - 1
                        });
                        series[i].samples.push(Sample { timestamp_ms: at, value });
                    }
                    at += step;
                }
                StepValue::Matrix(series)
            }
            Expr::Negate(e) => match self.eval(e, t)? {
                StepValue::Scalar(v) => StepValue::Scalar(-v),
                StepValue::Vector(v) => StepValue::Vector(check_unique(v.into_iter().map(|(l, x)| (drop_name(l), -x)).collect())?),
                _ => return Err(Error::Execution("unary minus needs a scalar or instant vector".into())),
            },
            Expr::Binary(b) => {
                let (l, r) = (self.eval(&b.lhs, t)?, self.eval(&b.rhs, t)?);
                super::binary::eval_binary(b, l, r)?
            }
            Expr::Aggregate(a) => {
                let param = match &a.param {
                    Some(p) => Some(self.eval(p, t)?),
                    None => None,
                };
                let StepValue::Vector(input) = self.eval(&a.expr, t)? else {
                    return Err(Error::Execution("aggregation needs an instant vector".into()));
                };
                StepValue::Vector(super::aggregate::aggregate(a, param, input)?)
            }
            Expr::Call { func, args } => super::functions::call(self, func, args, t)?,
        })
    }
}

/// Removes `__name__` (arithmetic results are no longer the metric they came from).
pub(super) fn drop_name(labels: Labels) -> Labels {
    if labels.metric_name().is_none() {
        return labels;
    }
    Labels::from_sorted(labels.into_vec().into_iter().filter(|l| l.name != tsdb::METRIC_NAME_LABEL).collect())
}

/// Prometheus refuses results where two elements ended up with the same labels.
pub(super) fn check_unique(v: Vec<(Labels, f64)>) -> Result<Vec<(Labels, f64)>, Error> {
    if v.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(v.len());
        for (labels, _) in &v {
            if !seen.insert(labels) {
                return Err(Error::Execution("vector cannot contain metrics with the same labelset".into()));
            }
        }
    }
    Ok(v)
}
