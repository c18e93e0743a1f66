//! Duration expressions where Prometheus 3 accepts them: ranges and subquery steps
//! (`[5m * 2]`, `[1h:step()]`, a full expression) and offsets (`offset (1h / 2)`,
//! `offset -step()`: one signed operand, so `x offset 1m + 1` adds 1 to `x offset 1m`).

use super::{starts_with_keyword, Parser, Result};
use crate::ast::BinaryOp;
use crate::duration::{DurationExpr, DURATION_SECONDS_MAX};
use crate::parser::lexemes::{duration, number};

/// Whether a written literal (in seconds) is a usable duration.
fn literal_in_range(seconds: f64) -> bool {
    seconds.is_finite() && seconds.abs() <= DURATION_SECONDS_MAX
}

/// A literal's milliseconds, rounded as Prometheus converts literals.
fn literal_ms(seconds: f64) -> i64 {
    (seconds * 1000.0).round() as i64
}

impl Parser<'_> {
    fn peek_duration_op(&mut self) -> Option<BinaryOp> {
        self.skip_space();
        let op = match self.rest.chars().next()? {
            '+' => BinaryOp::Add,
            '-' => BinaryOp::Sub,
            '*' => BinaryOp::Mul,
            '/' => BinaryOp::Div,
            '%' => BinaryOp::Mod,
            '^' => BinaryOp::Pow,
            _ => return None,
        };
        Some(op)
    }

    /// Precedence climbing over `+ - * / % ^` (`^` right-associative, unary minus binding
    /// like `*`), as for ordinary expressions.
    fn duration_expr(&mut self, min_precedence: u8) -> Result<DurationExpr> {
        self.enter()?;
        let mut lhs = self.duration_unary()?;
        while let Some(op) = self.peek_duration_op() {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            let op_offset = self.offset();
            self.rest = &self.rest[1..];
            let next_min = if op.right_associative() { precedence } else { precedence + 1 };
            let rhs = self.duration_expr(next_min)?;
            if let DurationExpr::Number { seconds, .. } = rhs {
                if seconds == 0.0 && op == BinaryOp::Div {
                    return Err(self.error_at(op_offset, "division by zero"));
                }
                if seconds == 0.0 && op == BinaryOp::Mod {
                    return Err(self.error_at(op_offset, "modulo by zero"));
                }
            }
            lhs = DurationExpr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn duration_unary(&mut self) -> Result<DurationExpr> {
        self.skip_space();
        let at = self.offset();
        let negative = if self.eat("-") {
            true
        } else if self.eat("+") {
            false
        } else {
            return self.duration_operand();
        };
        let operand = self.duration_expr(BinaryOp::Pow.precedence())?;
        self.negate_duration(negative, operand, at)
    }

    /// Applies a unary sign: folded into a literal, a `Negate` node otherwise.
    fn negate_duration(&self, negative: bool, operand: DurationExpr, at: usize) -> Result<DurationExpr> {
        match (negative, operand) {
            (false, e) => Ok(e),
            (true, DurationExpr::Number { seconds, unit }) => {
                if !literal_in_range(-seconds) {
                    return Err(self.error_at(at, "duration out of range"));
                }
                Ok(DurationExpr::Number { seconds: -seconds, unit })
            }
            (true, e) => Ok(DurationExpr::Negate(Box::new(e))),
        }
    }

    /// A literal, `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)` or `( expr )`.
    fn duration_operand(&mut self) -> Result<DurationExpr> {
        self.skip_space();
        let start = self.offset();
        if self.eat("(") {
            let inner = self.duration_expr(0)?;
            self.expect(")", "in duration expression")?;
            return Ok(DurationExpr::Paren(Box::new(inner)));
        }
        for (keyword, node) in [("step", DurationExpr::Step), ("range", DurationExpr::Range)] {
            if starts_with_keyword(self.rest, keyword) {
                self.rest = &self.rest[keyword.len()..];
                self.expect("(", &format!("in {keyword}()"))?;
                self.expect(")", &format!("in {keyword}()"))?;
                return Ok(node);
            }
        }
        for keyword in ["min_of", "max_of"] {
            if starts_with_keyword(self.rest, keyword) {
                self.rest = &self.rest[keyword.len()..];
                let context = format!("in {keyword}()");
                self.expect("(", &context)?;
                let a = Box::new(self.duration_expr(0)?);
                self.expect(",", &context)?;
                let b = Box::new(self.duration_expr(0)?);
                self.expect(")", &context)?;
                return Ok(if keyword == "min_of" { DurationExpr::MinOf(a, b) } else { DurationExpr::MaxOf(a, b) });
            }
        }
        // Grafana's `$__interval` and `$__rate_interval`, as MetricsQL reads them: one step (`1i`).
        if let Some(rest) = super::lexemes::after_grafana_interval(self.rest) {
            self.rest = rest;
            return Ok(DurationExpr::StepMultiple(1.0));
        }
        let literal = if let Ok((rest, ms)) = duration(self.rest) {
            self.rest = rest;
            DurationExpr::Number { seconds: ms as f64 / 1000.0, unit: true }
        } else if let Ok((rest, seconds)) = number(self.rest) {
            // MetricsQL's `5i`: steps of the grid evaluated.
            // (`:` may follow: `x[5i:1i]`.)
            if let Some(after) = rest.strip_prefix('i').filter(|after| !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')) {
                self.rest = after;
                if !(seconds.is_finite() && seconds > 0.0) {
                    return Err(self.error_at(start, "a number of steps must be positive"));
                }
                return Ok(DurationExpr::StepMultiple(seconds));
            }
            self.rest = rest;
            DurationExpr::Number { seconds, unit: false }
        } else {
            return Err(self.error(format!("unexpected {}, expected number, duration, step(), or range()", self.describe_next())));
        };
        if let DurationExpr::Number { seconds, .. } = literal {
            if !literal_in_range(seconds) {
                return Err(self.error_at(start, "duration out of range"));
            }
        }
        Ok(literal)
    }

    /// A range or subquery step: `(milliseconds, expression)`. A plain literal must be
    /// positive here; an expression is checked when evaluated, as Prometheus does.
    pub(super) fn bracket_duration(&mut self) -> Result<(i64, Option<DurationExpr>)> {
        self.skip_space();
        let start = self.offset();
        match self.duration_expr(0)? {
            DurationExpr::Number { seconds, .. } => {
                let ms = literal_ms(seconds);
                if ms <= 0 {
                    return Err(self.error_at(start, "duration must be greater than 0"));
                }
                Ok((ms, None))
            }
            e => Ok((e.is_constant().then(|| e.to_ms(0, 0, false).ok()).flatten().unwrap_or(0), Some(e))),
        }
    }

    /// The operand of `offset`: a signed literal, `step()`, `range()`, `min_of`/`max_of` or a
    /// parenthesised expression. Operators after it belong to the enclosing expression.
    pub(super) fn offset_duration(&mut self) -> Result<(i64, Option<DurationExpr>)> {
        self.skip_space();
        let at = self.offset();
        let negative = if self.eat("-") {
            true
        } else {
            self.eat("+");
            false
        };
        self.skip_space();
        let before = self.offset();
        let operand = match self.duration_operand() {
            // Nothing usable at all after `offset`: say what may follow it.
            Err(_) if self.offset() == before => {
                return Err(self.error(format!("unexpected {} in offset, expected number, duration, step(), or range()", self.describe_next())));
            }
            other => other?,
        };
        match self.negate_duration(negative, operand, at)? {
            DurationExpr::Number { seconds, .. } => Ok((literal_ms(seconds), None)),
            e => Ok((e.is_constant().then(|| e.to_ms(0, 0, true).ok()).flatten().unwrap_or(0), Some(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::Expr;
    use crate::parser::parse;

    fn range_of(q: &str) -> (i64, bool) {
        match parse(q).unwrap() {
            Expr::Call { args, .. } => match &args[0] {
                Expr::MatrixSelector { range_ms, range_expr, .. } => (*range_ms, range_expr.is_some()),
                Expr::Subquery(sq) => (sq.range_ms, sq.range_expr.is_some()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ranges_accept_arithmetic() {
        let table: &[(&str, i64, bool)] = &[
            ("rate(x[5m])", 300_000, false),
            ("rate(x[1800])", 1_800_000, false),
            ("rate(x[26m+4m])", 1_800_000, true),
            ("rate(x[2m*(10+5)])", 1_800_000, true),
            ("rate(x[-5m+35m])", 1_800_000, true),
            ("rate(x[30m1s-30m1s % 1m])", 1_800_000, true),
            ("rate(x[24m+((1.5*2m)+2m)])", 1_740_000, true),
            ("rate(x[(5m)])", 300_000, true),
            ("rate(x[step()])", 0, true),
            ("rate(x[1+(STep()-5)*2])", 0, true),
            ("max_over_time(x[29s+1s:5s+5s])", 30_000, true),
        ];
        for (q, ms, is_expr) in table {
            assert_eq!(range_of(q), (*ms, *is_expr), "{q}");
        }
    }

    #[test]
    fn offsets_take_one_signed_operand() {
        let offset = |q: &str| match parse(q).unwrap() {
            Expr::VectorSelector(vs) => (vs.offset_ms, vs.offset_expr.is_some()),
            Expr::Binary(b) => match b.lhs {
                Expr::VectorSelector(vs) => (vs.offset_ms, vs.offset_expr.is_some()),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        assert_eq!(offset("x offset (100 + 2)"), (102_000, true));
        assert_eq!(offset("x offset 100 + 2"), (100_000, false));
        assert_eq!(offset("x offset -2 ^ 2"), (-2_000, false));
        assert_eq!(offset("x offset (-2 ^ 2)"), (-4_000, true));
        assert_eq!(offset("x offset -step() * 2"), (0, true));
        assert_eq!(offset("x offset +min_of(step(), 1s) ^ 0"), (0, true));
        assert_eq!(offset("x offset -(min_of(1m, 2s) - 5)"), (3_000, true));
    }

    #[test]
    fn bad_durations_are_errors_not_panics() {
        let table: &[(&str, &str)] = &[
            ("x[0s]", "duration must be greater than 0"),
            ("x[-5m]", "duration must be greater than 0"),
            ("x[1m/0]", "division by zero"),
            ("x[1m%0]", "modulo by zero"),
            ("x[1m+]", "expected number, duration, step(), or range()"),
            ("x[foo()]", "expected number, duration, step(), or range()"),
            ("x[min_of(1m)]", "expected \",\""),
            ("x[Inf]", "duration out of range"),
            ("x[1m:0]", "duration must be greater than 0"),
            ("x offset (1m", "expected \")\""),
            ("x offset foo", "in offset"),
            ("x[step(]", "in step()"),
        ];
        for (q, want) in table {
            let err = parse(q).unwrap_err().to_string();
            assert!(err.contains(want), "{q}: {err}");
        }
        for q in ["x[\u{e9}]", "x[1m+\u{7d0}]", "x offset -\u{618}", "x[(((((", "x[min_of(step(), \u{e9}"] {
            assert!(parse(q).is_err(), "{q}");
        }
        let deep = format!("x[{}1m{}]", "(".repeat(5000), ")".repeat(5000));
        assert!(parse(&deep).unwrap_err().to_string().contains("nested deeper"));
    }
}
