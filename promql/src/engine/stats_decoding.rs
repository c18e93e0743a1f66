//! Selectors whose histograms Prometheus reads for their count and sum only (its
//! `HistogramStatsIterator`): those under `histogram_count`, `histogram_sum` or `histogram_avg`,
//! unless a subquery, a function needing buckets or a trim operator lies in between; such a
//! read drops the buckets and decides unknown counter reset hints (`decode_stats`).

use std::collections::HashSet;
use std::sync::Arc;

use tsdb::{CounterResetHint, FloatHistogram, SeriesSamples};

use super::native_histogram::detect_reset;
use super::{selector_key, SelectKey};
use crate::ast::{BinaryOp, Expr};

/// The selects of the selectors read that way.
pub(super) fn stats_selectors(expr: &Expr) -> HashSet<SelectKey> {
    let mut out = HashSet::new();
    walk(expr, Context::Buckets, &mut out);
    out
}

/// What the expressions above a node ask of its histograms.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    /// Nothing yet: the buckets are read.
    Buckets,
    /// Under `histogram_count`/`_sum`/`_avg`: count and sum only.
    Stats,
    /// Under a subquery, `histogram_quantile(s)`/`histogram_fraction` or a trim: the buckets
    /// are needed whatever lies further up or down.
    NeedsBuckets,
}

fn walk(expr: &Expr, context: Context, out: &mut HashSet<SelectKey>) {
    match expr {
        Expr::VectorSelector(vs) | Expr::MatrixSelector { selector: vs, .. } => {
            if context == Context::Stats {
                out.insert(selector_key(vs));
            }
        }
        Expr::Subquery(sq) => walk(&sq.expr, Context::NeedsBuckets, out),
        Expr::Call { func, args, .. } => {
            let context = match func.name {
                _ if context == Context::NeedsBuckets => context,
                "histogram_count" | "histogram_sum" | "histogram_avg" => Context::Stats,
                "histogram_quantile" | "histogram_quantiles" | "histogram_fraction" => Context::NeedsBuckets,
                _ => context,
            };
            args.iter().for_each(|a| walk(a, context, out));
        }
        Expr::Binary(b) => {
            let context = if matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower) { Context::NeedsBuckets } else { context };
            walk(&b.lhs, context, out);
            walk(&b.rhs, context, out);
        }
        _ => expr.children().into_iter().for_each(|child| walk(child, context, out)),
    }
}

/// Rewrites `series` (one select, read from its first sample on) as the stats read gives them:
/// each histogram without buckets, and an unknown hint replaced by what comparing with the
/// histogram read before it says (reset or not; none for the first), which is how e.g.
/// `histogram_count(sum(x))` can see conflicting hints where `sum(x)` sees none.
pub(super) fn decode_stats(series: &mut [SeriesSamples]) {
    for s in series {
        let mut previous: Option<Arc<FloatHistogram>> = None;
        for p in &mut s.histograms {
            let h = &p.histogram;
            let hint = match (h.counter_reset_hint, &previous) {
                (CounterResetHint::Unknown, Some(before)) if detect_reset(before, h) => CounterResetHint::CounterReset,
                (CounterResetHint::Unknown, Some(_)) => CounterResetHint::NotCounterReset,
                (hint, _) => hint,
            };
            let stats = FloatHistogram { counter_reset_hint: hint, schema: h.schema, count: h.count, sum: h.sum, ..FloatHistogram::default() };
            previous = Some(std::mem::replace(&mut p.histogram, Arc::new(stats)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promqltest::notation::parse_histogram;
    use tsdb::{HistogramSample, Labels};

    fn selectors(query: &str) -> usize {
        stats_selectors(&crate::parse(query).expect("a valid query")).len()
    }

    #[test]
    fn read_for_stats_only_under_count_sum_avg() {
        assert_eq!(selectors("histogram_count(sum(x))"), 1);
        assert_eq!(selectors("histogram_avg(rate(x[5m])) + histogram_sum(y)"), 2);
        assert_eq!(selectors("sum(x)"), 0);
        assert_eq!(selectors("histogram_count(max_over_time(x[5m:1m]))"), 0);
        assert_eq!(selectors("histogram_count(x </ 5)"), 0);
    }

    #[test]
    fn unknown_hints_are_decided_against_the_histogram_before() {
        let h = |text: &str, t: i64| HistogramSample { timestamp_ms: t, histogram: Arc::new(parse_histogram(text).expect("valid notation").0) };
        let mut series = vec![SeriesSamples {
            labels: Labels::default(),
            samples: Vec::new(),
            histograms: vec![h("{{count:5 sum:5 buckets:[5]}}", 0), h("{{count:6 sum:6 buckets:[6]}}", 1), h("{{count:2 sum:2 buckets:[2]}}", 2), h("{{count:1 counter_reset_hint:gauge buckets:[1]}}", 3)],
            starts: None,
        }];
        decode_stats(&mut series);
        let hints: Vec<CounterResetHint> = series[0].histograms.iter().map(|p| p.histogram.counter_reset_hint).collect();
        use CounterResetHint::*;
        assert_eq!(hints, vec![Unknown, NotCounterReset, CounterReset, Gauge]);
        assert!(series[0].histograms.iter().all(|p| p.histogram.positive_buckets.is_empty()));
        assert_eq!(series[0].histograms[1].histogram.count, 6.0);
    }
}
