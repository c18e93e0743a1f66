//! Aggregations over vectors holding histograms: `sum`/`avg` add them, the aggregations
//! that count take both kinds, and the others leave histograms out with an info.

use std::collections::HashSet;
use std::sync::Arc;

use tsdb::Labels;

use super::super::aggregate::GroupCache;
use super::super::annotations::{Annotation, Operation};
use super::super::eval::{Elem, Evaluator, StepValue};
use super::super::Error;
use super::{metric_name, Accumulator};
use crate::ast::{Aggregate, AggregateOp};

/// An aggregation over a vector holding histograms. `sum`/`avg` add histograms (a group of
/// floats and histograms gives nothing, with a warning), `count`/`group`/`limitk`/
/// `limit_ratio` take both, the others leave histograms out (with an info).
pub(in crate::engine) fn aggregate_with_histograms(ev: &Evaluator<'_>, a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>, cache: &mut GroupCache) -> Result<Vec<Elem>, Error> {
    match a.op {
        AggregateOp::Count | AggregateOp::Group | AggregateOp::Limitk | AggregateOp::LimitRatio => super::super::aggregate::aggregate_floats(a, param, input, cache),
        AggregateOp::Sum | AggregateOp::Avg => {
            let (histograms, floats): (Vec<Elem>, Vec<Elem>) = input.into_iter().partition(|e| e.histogram.is_some());
            let float_out = super::super::aggregate::aggregate_floats(a, param, floats, cache)?;
            let (order, locals) = cache.assign(&histograms, a);
            // Per group: its accumulator (from its first histogram), whether a histogram
            // could not be added (e.g. exponential with custom buckets: the group gives
            // nothing, as in Prometheus), and its pending name removal.
            let mut groups: Vec<(Option<Accumulator>, bool, bool)> = (0..order.len()).map(|_| (None, false, false)).collect();
            for (e, local) in histograms.iter().zip(locals) {
                let group = &mut groups[local];
                if let Some(h) = &e.histogram {
                    match &mut group.0 {
                        None => group.0 = Some(Accumulator::new(a.op == AggregateOp::Avg, h)),
                        // After a failure the group's other histograms are not looked at.
                        Some(_) if group.1 => {}
                        Some(acc) => {
                            if acc.add(h).is_err() {
                                group.1 = true;
                                ev.annotate(Annotation::MixedExponentialCustom { metric: metric_name(&e.labels) }, a.expr_pos);
                            }
                        }
                    }
                }
                group.2 |= e.drop_name;
            }
            let histogram_keys: HashSet<Labels> = order.iter().map(|&g| cache.keys[g].clone()).collect();
            let float_keys: HashSet<&Labels> = float_out.iter().map(|e| &e.labels).collect();
            let mut histogram_out = Vec::new();
            for (g, (acc, failed, drop)) in order.into_iter().zip(groups) {
                let key = cache.keys[g].clone();
                let Some(acc) = acc else { continue };
                let notes = acc.notes();
                // A group of floats and histograms gives nothing.
                if float_keys.contains(&key) {
                    ev.annotate(Annotation::MixedFloatsHistogramsInAggregation, a.expr_pos);
                    continue;
                }
                if notes.custom_bounds_reconciled {
                    ev.annotate(Annotation::MismatchedCustomBuckets(Operation::Aggregation), a.expr_pos);
                }
                if failed {
                    continue;
                }
                if notes.counter_reset_collision {
                    ev.annotate(Annotation::CounterResetCollision(Operation::Aggregation), a.expr_pos);
                }
                histogram_out.push(Elem::with_histogram(key, Arc::new(acc.finish()), drop));
            }
            let mut out: Vec<Elem> = float_out.into_iter().filter(|e| !histogram_keys.contains(&e.labels)).collect();
            out.extend(histogram_out);
            Ok(out)
        }
        op => {
            let ignored = match op {
                AggregateOp::Min | AggregateOp::Max | AggregateOp::Stddev | AggregateOp::Stdvar | AggregateOp::Quantile => Some(a.expr_pos),
                // MetricsQL's read values too.
                op if super::super::metricsql_aggregates::handles(op) => Some(a.expr_pos),
                // Only once there is something to keep: k below 1 gives nothing at all.
                AggregateOp::Topk | AggregateOp::Bottomk if matches!(&param, Some(StepValue::Scalar(k)) if *k >= 1.0) => Some(a.pos),
                _ => None,
            };
            if let Some(pos) = ignored {
                ev.annotate(Annotation::HistogramIgnoredInAggregation(op.name()), pos);
            }
            super::super::aggregate::aggregate_floats(a, param, input.into_iter().filter(|e| e.histogram.is_none()).collect(), cache)
        }
    }
}
