//! Running a prepared query: the evaluator set up, the expression evaluated once (instant) or
//! at each step (range, after the series-major aggregations), and the result assembled with
//! name removal applied, same-labelset errors, annotations and sample statistics.

use std::collections::HashMap;

use tsdb::{HistogramSample, Labels, Querier, Sample, SeriesSamples};

use super::{drop_name, evaluator, Elem, Evaluator, StepValue, SAME_LABELSET};
use super::super::{Error, InstantSample, PreparedQuery, QueryResult, Value};
use super::super::annotations::Annotation;

pub(in crate::engine) fn execute(q: &PreparedQuery, querier: &dyn Querier, cancel: Option<&std::sync::atomic::AtomicBool>) -> Result<QueryResult, Error> {
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
        let timings = super::super::QueryTimings { inner_eval_seconds: evaluated_in.as_secs_f64(), result_sort_seconds, ..Default::default() };
        result.stats = Some(super::super::QueryStats { timings, samples });
    }
    Ok(result)
}

/// The points (a histogram as its size) of a query's result.
fn result_points(value: &Value) -> u64 {
    let size = |h: &tsdb::FloatHistogram| super::super::sample_stats::histogram_size(h);
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
        let mut precomputed = super::super::series_major::Precomputed::new();
        super::super::series_major::precompute(ev, &q.expr, &mut precomputed)?;
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
        super::super::aggregate::annotate_params(self, &q.expr);
        for pos in super::super::sort_warning::ineffective_sorts(&q.expr, q.start_ms, q.end_ms, q.step_ms, q.options.default_subquery_step_ms) {
            self.annotate(Annotation::SortInRangeQuery, pos);
        }
        self.annotations.borrow().render(&q.query)
    }
}

/// The labels a result element is reported with: pending name removal applied.
pub(in crate::engine) fn finish_labels(labels: Labels, drop: bool) -> Labels {
    if drop {
        drop_name(labels)
    } else {
        labels
    }
}

/// Merges series that ended up with equal labels (after name removal); overlapping
/// timestamps are Prometheus' "same labelset" error.
pub(in crate::engine) fn merge_series(all: Vec<SeriesSamples>) -> Result<Vec<SeriesSamples>, Error> {
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
