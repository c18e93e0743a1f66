//! Where `sort`, `sort_desc`, `sort_by_label(_desc)` are ineffective: in an evaluation over
//! more than one time (a range query, most subqueries), whose answer is a matrix ordered by
//! labels. Prometheus warns there; which evaluations span one time only follows its
//! evaluator: a step-invariant subtree (Prometheus' `StepInvariantExpr`, e.g. everything under
//! `@`) is evaluated once, a subquery over its own aligned steps.

use super::first_step_after;
use crate::ast::{At, Expr, Pos};

/// Functions whose value at one step depends on the step's time beyond their arguments'
/// (Prometheus' `AtModifierUnsafeFunctions`): they never make a subtree step-invariant.
const STEP_DEPENDENT_FUNCTIONS: [&str; 10] = ["days_in_month", "day_of_month", "day_of_week", "day_of_year", "hour", "minute", "month", "year", "predict_linear", "time"];

/// The positions of the sort calls that Prometheus warns about in a query evaluated from
/// `start_ms` to `end_ms` (equal for an instant query) every `step_ms`.
pub(super) fn ineffective_sorts(expr: &Expr, start_ms: i64, end_ms: i64, step_ms: i64, default_subquery_step_ms: i64) -> Vec<Pos> {
    let mut out = Vec::new();
    let span = Span { start_ms, end_ms, step_ms, default_subquery_step_ms };
    visit(expr, span, &mut out);
    out
}

/// The times one evaluation covers.
#[derive(Clone, Copy)]
struct Span {
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
    default_subquery_step_ms: i64,
}

/// `expr` as a child (or the root): a step-invariant subtree that Prometheus wraps is
/// evaluated at the span's start only.
fn visit(expr: &Expr, span: Span, out: &mut Vec<Pos>) {
    let (invariant, wrapped) = step_invariant(expr);
    let span = if invariant && wrapped { Span { end_ms: span.start_ms, ..span } } else { span };
    walk(expr, span, out);
}

fn walk(expr: &Expr, span: Span, out: &mut Vec<Pos>) {
    match expr {
        Expr::Call { func, args, pos, .. } => {
            if matches!(func.name, "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc") && span.start_ms != span.end_ms {
                out.push(*pos);
            }
            args.iter().for_each(|a| visit(a, span, out));
        }
        Expr::Subquery(sq) => {
            let step_ms = sq.step_ms.unwrap_or(span.default_subquery_step_ms).max(1);
            // Prometheus' `subqueryTimeRange`: up to the last step of the enclosing evaluation,
            // from the first aligned step after the range's start.
            let (outer_start, outer_end) = match sq.at {
                Some(At::Time(t)) => (t, t),
                _ => {
                    let last = if span.step_ms > 0 { span.start_ms + (span.end_ms - span.start_ms) / span.step_ms * span.step_ms } else { span.end_ms };
                    (span.start_ms, last)
                }
            };
            let end_ms = outer_end - sq.offset_ms;
            let start_ms = first_step_after(outer_start - sq.offset_ms - sq.range_ms, step_ms);
            let inner = Span { start_ms, end_ms, step_ms, ..span };
            let invariant = step_invariant(&sq.expr).0;
            walk(&sq.expr, if invariant { Span { end_ms: start_ms, ..inner } } else { inner }, out);
        }
        Expr::Aggregate(a) => {
            visit(&a.expr, span, out);
            if let Some(p) = &a.param {
                visit(p, span, out);
            }
        }
        Expr::Binary(b) => {
            visit(&b.lhs, span, out);
            visit(&b.rhs, span, out);
        }
        Expr::Paren(e) | Expr::Negate(e) => walk(e, span, out),
        Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector { .. } => {}
    }
}

/// Whether `expr` is step-invariant, and whether Prometheus would wrap it for a single
/// evaluation (range selectors, subqueries and literals are never wrapped themselves).
fn step_invariant(expr: &Expr) -> (bool, bool) {
    match expr {
        Expr::VectorSelector(vs) => (vs.at.is_some(), vs.at.is_some()),
        Expr::MatrixSelector { selector, .. } => (selector.at.is_some(), false),
        Expr::Subquery(sq) => (sq.at.is_some(), false),
        Expr::Aggregate(a) => step_invariant(&a.expr),
        Expr::Binary(b) => {
            let invariant = step_invariant(&b.lhs).0 && step_invariant(&b.rhs).0;
            (invariant, invariant)
        }
        Expr::Call { func, args, .. } => {
            let mut invariant = !STEP_DEPENDENT_FUNCTIONS.contains(&func.name);
            // `timestamp(x @ t)` is invariant although `timestamp` is not in general.
            let mut timestamp_of_fixed_selector = func.name == "timestamp";
            for arg in args {
                let arg = unparen(arg);
                let arg_invariant = step_invariant(arg).0;
                invariant &= arg_invariant;
                if !arg_invariant || !matches!(arg, Expr::VectorSelector(_)) {
                    timestamp_of_fixed_selector = false;
                }
            }
            let invariant = invariant || timestamp_of_fixed_selector;
            (invariant, invariant)
        }
        Expr::Paren(e) | Expr::Negate(e) => step_invariant(e),
        Expr::Number(_) | Expr::String(_) => (true, false),
    }
}

fn unparen(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(inner) => unparen(inner),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sorts(query: &str, start_ms: i64, end_ms: i64) -> Vec<u32> {
        let expr = crate::parse(query).expect("a valid query");
        ineffective_sorts(&expr, start_ms, end_ms, 60_000, 60_000).into_iter().map(|p| p.0).collect()
    }

    #[test]
    fn sorts_warned_about_where_prometheus_does() {
        assert_eq!(sorts("sort(x)", 0, 0), Vec::<u32>::new());
        assert_eq!(sorts("sort(x)", 0, 60_000), vec![0]);
        assert_eq!(sorts("sum(sort_desc(x))", 0, 60_000), vec![4]);
        // Evaluated once: a step-invariant argument makes the whole call invariant.
        assert_eq!(sorts("sort(x @ 100)", 0, 60_000), Vec::<u32>::new());
        assert_eq!(sorts("sort(vector(1))", 0, 60_000), Vec::<u32>::new());
        assert_eq!(sorts("sort(vector(time()))", 0, 60_000), vec![0]);
        // A subquery evaluates over its own steps, even in an instant query.
        assert_eq!(sorts("max_over_time(sort(x)[5m:1m])", 0, 0), vec![14]);
        assert_eq!(sorts("max_over_time(sort(x)[1m:1m])", 0, 0), Vec::<u32>::new());
    }
}
