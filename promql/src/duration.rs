//! Duration expressions (Prometheus 3): arithmetic in ranges, subquery steps and offsets
//! (`foo[5m + 1m]`, `x[1h:step() * 2]`, `offset (1h / 2)`, `min_of(range(), 1h)`). The tree
//! keeps the written form so it prints back unchanged; `to_ms` evaluates it once the query's
//! step and range are known (`Engine::prepare_*`).

use crate::ast::BinaryOp;

/// Largest duration magnitude in seconds: what fits in int64 nanoseconds, Prometheus' bound.
pub const DURATION_SECONDS_MAX: f64 = 9_223_372_036.854_775;

/// One node of a duration expression. Values are seconds, as in Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub enum DurationExpr {
    /// A literal, in seconds; `unit` when it was written as a duration (`5m`) rather than a
    /// number of seconds (`300`). A leading minus on a literal is folded into it.
    Number { seconds: f64, unit: bool },
    /// `step()`: the step of a range query, 0 for an instant query.
    Step,
    /// `range()`: end minus start of a range query, 0 for an instant query.
    Range,
    /// MetricsQL's left-out lookbehind window (`rate(x)`), only as a range selector's range:
    /// the engine resolves it to the step of the grid the selector is evaluated on (the
    /// query's, or a subquery's), at least the lookback delta. It prints as nothing.
    Omitted,
    /// MetricsQL's `5i`: that many steps of the grid evaluated (a range query's step, a
    /// subquery's inside one; an instant query's is the lookback delta, as VictoriaMetrics'
    /// default step is 5 minutes). Replaced by its value before evaluation
    /// (`with_step_multiples`).
    StepMultiple(f64),
    /// `min_of(a, b)`.
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `max_of(a, b)`.
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
    /// Unary minus on anything but a literal (unary plus is dropped).
    Negate(Box<DurationExpr>),
    /// Parentheses, kept so the expression prints back as written.
    Paren(Box<DurationExpr>),
    /// `+ - * / % ^` only (never comparisons, set operators or `atan2`).
    Binary { op: BinaryOp, lhs: Box<DurationExpr>, rhs: Box<DurationExpr> },
}

/// Go's `math.Min`/`math.Max`: NaN wins.
fn go_extreme(a: f64, b: f64, want_min: bool) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if want_min { a.min(b) } else { a.max(b) }
}

impl DurationExpr {
    /// Whether `op` may appear in a duration expression.
    pub fn allows(op: BinaryOp) -> bool {
        matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Pow)
    }

    /// Whether the value is known without a query (no `step()` or `range()`).
    pub fn is_constant(&self) -> bool {
        match self {
            DurationExpr::Number { .. } => true,
            DurationExpr::Step | DurationExpr::Range | DurationExpr::Omitted | DurationExpr::StepMultiple(_) => false,
            DurationExpr::Negate(e) | DurationExpr::Paren(e) => e.is_constant(),
            DurationExpr::MinOf(a, b) | DurationExpr::MaxOf(a, b) => a.is_constant() && b.is_constant(),
            DurationExpr::Binary { lhs, rhs, .. } => lhs.is_constant() && rhs.is_constant(),
        }
    }

    /// The value in seconds, given the query's step and range in milliseconds.
    pub fn seconds(&self, step_ms: i64, range_ms: i64) -> Result<f64, String> {
        Ok(match self {
            DurationExpr::Number { seconds, .. } => *seconds,
            DurationExpr::Step | DurationExpr::Omitted => step_ms as f64 / 1000.0,
            DurationExpr::StepMultiple(n) => n * step_ms as f64 / 1000.0,
            DurationExpr::Range => range_ms as f64 / 1000.0,
            DurationExpr::MinOf(a, b) => go_extreme(a.seconds(step_ms, range_ms)?, b.seconds(step_ms, range_ms)?, true),
            DurationExpr::MaxOf(a, b) => go_extreme(a.seconds(step_ms, range_ms)?, b.seconds(step_ms, range_ms)?, false),
            DurationExpr::Negate(e) => -e.seconds(step_ms, range_ms)?,
            DurationExpr::Paren(e) => e.seconds(step_ms, range_ms)?,
            DurationExpr::Binary { op, lhs, rhs } => {
                let (l, r) = (lhs.seconds(step_ms, range_ms)?, rhs.seconds(step_ms, range_ms)?);
                match op {
                    BinaryOp::Add => l + r,
                    BinaryOp::Sub => l - r,
                    BinaryOp::Mul => l * r,
                    BinaryOp::Div if r == 0.0 => return Err("division by zero".into()),
                    BinaryOp::Div => l / r,
                    BinaryOp::Mod if r == 0.0 => return Err("modulo by zero".into()),
                    BinaryOp::Mod => l % r,
                    BinaryOp::Pow => l.powf(r),
                    other => return Err(format!("unexpected duration expression operator {:?}", other.as_str())),
                }
            }
        })
    }

    /// The duration in milliseconds (truncated, as Prometheus converts it). Ranges and steps
    /// must be positive (`allow_negative` false); offsets may be negative or zero.
    /// This expression with each `StepMultiple` replaced by its seconds on a grid of
    /// `grid_step_ms`.
    pub fn with_step_multiples(&self, grid_step_ms: i64) -> DurationExpr {
        let inner = |e: &DurationExpr| Box::new(e.with_step_multiples(grid_step_ms));
        match self {
            DurationExpr::StepMultiple(n) => DurationExpr::Number { seconds: n * grid_step_ms as f64 / 1000.0, unit: true },
            DurationExpr::MinOf(a, b) => DurationExpr::MinOf(inner(a), inner(b)),
            DurationExpr::MaxOf(a, b) => DurationExpr::MaxOf(inner(a), inner(b)),
            DurationExpr::Negate(e) => DurationExpr::Negate(inner(e)),
            DurationExpr::Paren(e) => DurationExpr::Paren(inner(e)),
            DurationExpr::Binary { op, lhs, rhs } => DurationExpr::Binary { op: *op, lhs: inner(lhs), rhs: inner(rhs) },
            other => other.clone(),
        }
    }

    pub fn to_ms(&self, step_ms: i64, range_ms: i64, allow_negative: bool) -> Result<i64, String> {
        let seconds = self.seconds(step_ms, range_ms)?;
        if !seconds.is_finite() {
            return Err("duration is NaN or infinite".into());
        }
        if seconds.abs() > DURATION_SECONDS_MAX {
            return Err("duration is out of range".into());
        }
        let ms = (seconds * 1000.0).trunc() as i64;
        if !allow_negative && ms <= 0 {
            return Err("duration must be greater than 0".into());
        }
        Ok(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(seconds: f64) -> Box<DurationExpr> {
        Box::new(DurationExpr::Number { seconds, unit: true })
    }

    fn bin(op: BinaryOp, lhs: Box<DurationExpr>, rhs: Box<DurationExpr>) -> Box<DurationExpr> {
        Box::new(DurationExpr::Binary { op, lhs, rhs })
    }

    #[test]
    fn arithmetic_step_and_range() {
        let table: &[(DurationExpr, i64)] = &[
            (*bin(BinaryOp::Add, n(1560.0), n(240.0)), 1_800_000),
            (*bin(BinaryOp::Mod, n(5400.0), n(3600.0)), 1_800_000),
            (*bin(BinaryOp::Pow, n(2.0), n(3.0)), 8_000),
            (DurationExpr::MinOf(Box::new(DurationExpr::Step), n(3600.0)), 10_000),
            (DurationExpr::MaxOf(Box::new(DurationExpr::Range), n(1.0)), 60_000),
            (*bin(BinaryOp::Add, Box::new(DurationExpr::Step), n(0.0015)), 10_001),
        ];
        for (expr, want) in table {
            assert_eq!(expr.to_ms(10_000, 60_000, false), Ok(*want), "{expr:?}");
        }
    }

    #[test]
    fn errors_name_the_cause() {
        assert_eq!(bin(BinaryOp::Div, n(60.0), n(0.0)).to_ms(0, 0, true), Err("division by zero".into()));
        assert_eq!(bin(BinaryOp::Mod, n(60.0), n(0.0)).to_ms(0, 0, true), Err("modulo by zero".into()));
        assert_eq!(bin(BinaryOp::Sub, n(60.0), n(120.0)).to_ms(0, 0, false), Err("duration must be greater than 0".into()));
        assert_eq!(bin(BinaryOp::Sub, n(60.0), n(120.0)).to_ms(0, 0, true), Ok(-60_000));
        assert_eq!(DurationExpr::Step.to_ms(0, 0, false), Err("duration must be greater than 0".into()));
        assert_eq!(bin(BinaryOp::Pow, n(10.0), n(30.0)).to_ms(0, 0, true), Err("duration is out of range".into()));
        assert_eq!(bin(BinaryOp::Pow, n(10.0), n(400.0)).to_ms(0, 0, true), Err("duration is NaN or infinite".into()));
        assert!(!DurationExpr::MinOf(n(1.0), Box::new(DurationExpr::Range)).is_constant());
    }
}
