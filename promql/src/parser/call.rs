//! Function calls and aggregations: argument lists, `by`/`without` before or after the
//! arguments, parameters, and type checking against the function table.

use super::{Parser, Result};
use crate::ast::{Aggregate, AggregateOp, DurationExpr, Expr, Pos, ValueType};
use crate::functions;

impl Parser<'_> {
    /// `( expr, ... )` and where each argument starts. `label_selector_at`: the argument that
    /// is a bare label selector.
    fn arguments(&mut self, label_selector_at: Option<usize>) -> Result<(Vec<Expr>, Vec<Pos>)> {
        self.expect("(", "in call")?;
        let (mut args, mut starts) = (Vec::new(), Vec::new());
        if self.eat(")") {
            return Ok((args, starts));
        }
        loop {
            self.label_selector_next = label_selector_at == Some(args.len());
            self.skip_space();
            let start = self.offset();
            let arg = self.expr(0);
            self.label_selector_next = false;
            let arg = arg?;
            starts.push(Pos::at(self.start_inside_parens(&arg, start)));
            args.push(arg);
            if self.eat(",") {
                // MetricsQL takes a trailing comma (`f(a, b,)`).
                if self.eat(")") {
                    return Ok((args, starts));
                }
                continue;
            }
            self.expect(")", "in argument list")?;
            return Ok((args, starts));
        }
    }

    /// Where `expr`, written at `start`, begins once its enclosing parentheses are taken
    /// away: Prometheus drops them from arguments, so annotations point inside.
    fn start_inside_parens(&self, mut expr: &Expr, mut start: usize) -> usize {
        while let Expr::Paren(inner) = expr {
            let mut rest = self.input.get(start + 1..).unwrap_or("");
            loop {
                let trimmed = rest.trim_start();
                match trimmed.strip_prefix('#') {
                    Some(comment) => rest = comment.find('\n').map_or("", |i| &comment[i..]),
                    None => {
                        rest = trimmed;
                        break;
                    }
                }
            }
            start = self.input.len() - rest.len();
            expr = inner;
        }
        start
    }

    fn check_type(&self, expr: &Expr, want: ValueType, what: &str, at: usize) -> Result<()> {
        let got = expr.value_type();
        if got != want {
            return Err(self.error_at(at, format!("expected type {} in {what}, got {}", want.name(), got.name())));
        }
        Ok(())
    }

    pub(super) fn call(&mut self, name: &str, start: usize) -> Result<Expr> {
        // MetricsQL's function names are read in any case (`Rate(x)`, `ABS(x)`).
        let Some(func) = functions::lookup(name).or_else(|| functions::lookup(&name.to_ascii_lowercase())) else {
            return Err(self.error_at(start, format!("unknown function with name {name:?}")));
        };
        // info()'s second argument selects info series by labels only.
        let label_selector_at = (func.name == "info").then_some(1);
        self.string_list_next = func.name == "aggr_over_time";
        let (args, arg_pos) = self.arguments(label_selector_at)?;
        self.string_list_next = false;
        if let Some(arg) = label_selector_at.and_then(|i| args.get(i)) {
            match arg {
                Expr::VectorSelector(vs) if vs.name.is_some() => {
                    return Err(self.error_at(start, "expected label selectors only, got vector selector instead"));
                }
                Expr::VectorSelector(_) => {}
                _ => return Err(self.error_at(start, "expected label selectors only")),
            }
        }
        if args.len() < func.min_args || func.max_args.is_some_and(|max| args.len() > max) {
            let expected = match func.max_args {
                Some(max) if max == func.min_args => format!("{max}"),
                Some(max) => format!("{} to {max}", func.min_args),
                None => format!("at least {}", func.min_args),
            };
            return Err(self.error_at(
                start,
                format!("expected {expected} argument(s) in call to {name:?}, got {}", args.len()),
            ));
        }
        let mut args = args;
        // MetricsQL's `aggr_over_time(("min_over_time", "max_over_time"), m[d])`: checked with the
        // first name, then one call per name, united (each result has its own `rollup` label).
        let mut more_rollups = Vec::new();
        if func.name == "aggr_over_time" {
            if let Some(names) = args.first().and_then(Expr::argument_list) {
                if !names.iter().all(|n| matches!(n, Expr::String(_))) {
                    return Err(self.error_at(start, "expected quoted rollup function names in aggr_over_time()'s list"));
                }
                let mut names = names.to_vec();
                more_rollups = names.split_off(1);
                args[0] = names.remove(0);
            }
        }
        let arg_count = args.len();
        // MetricsQL's `histogram_quantiles("label", φ…, buckets)`: a string first.
        let metricsql_quantiles = func.name == "histogram_quantiles" && matches!(args.first(), Some(Expr::String(_)));
        for (i, arg) in args.iter_mut().enumerate() {
            let want = if metricsql_quantiles {
                functions::Function::metricsql_histogram_quantiles_arg(i, arg_count)
            } else {
                func.arg_type_in(i, arg_count).unwrap_or(ValueType::Vector)
            };
            // MetricsQL leaves a range function's window out (`rate(x)`): one step of the grid
            // it is evaluated on (`1i`), or for a function that needs two samples in its
            // window that step but at least the lookback delta (`DurationExpr::Omitted`).
            if want == ValueType::Matrix && matches!(arg, Expr::VectorSelector(_)) {
                if let Expr::VectorSelector(selector) = std::mem::replace(arg, Expr::Number(0.0)) {
                    let window = if needs_two_samples(func.name) { DurationExpr::Omitted } else { DurationExpr::StepMultiple(1.0) };
                    *arg = Expr::MatrixSelector { selector, range_ms: 0, range_expr: Some(window) };
                }
            } else if want == ValueType::Matrix && arg.value_type() == ValueType::Vector {
                // MetricsQL: any other instant vector is a subquery stepping one step of the grid
                // (`rate(sum(x))` is `rate(sum(x)[1i:1i])`). VictoriaMetrics' rollups also read
                // the point before the window; PromQL's window reads two steps for that.
                let steps = if needs_two_samples(func.name) { 2.0 } else { 1.0 };
                let inner = std::mem::replace(arg, Expr::Number(0.0));
                *arg = super::one_step_subquery(inner, 0, Some(DurationExpr::StepMultiple(steps)));
            } else if want == ValueType::Vector {
                // MetricsQL takes a range vector as its last sample, and a scalar as a series
                // without labels (`union(x, 0)`, `floor(time() / 60)`, `abs(1)`).
                *arg = super::series_of(std::mem::replace(arg, Expr::Number(0.0)));
            }
            self.check_type(arg, want, &format!("call to function {name:?}"), start)?;
        }
        // MetricsQL: `rate(x[5m]) keep_metric_names`.
        let keep_metric_names = self.eat_keyword("keep_metric_names");
        if !more_rollups.is_empty() {
            let mut calls = vec![Expr::Call { func, args: args.clone(), pos: Pos::at(start), arg_pos: arg_pos.clone(), keep_metric_names }];
            for name in more_rollups {
                let mut args = args.clone();
                args[0] = name;
                calls.push(Expr::Call { func, args, pos: Pos::at(start), arg_pos: arg_pos.clone(), keep_metric_names });
            }
            let Some(union) = functions::lookup("union") else {
                return Err(self.error_at(start, "unknown function with name \"union\""));
            };
            return Ok(super::call_node(union, calls, Pos::at(start)));
        }
        Ok(Expr::Call { func, args, pos: Pos::at(start), arg_pos, keep_metric_names })
    }

    fn grouping(&mut self) -> Result<Option<(Vec<String>, bool)>> {
        if self.eat_keyword("by") {
            return Ok(Some((self.label_list()?, false)));
        }
        if self.eat_keyword("without") {
            return Ok(Some((self.label_list()?, true)));
        }
        Ok(None)
    }

    pub(super) fn aggregate(&mut self, op: AggregateOp, start: usize) -> Result<Expr> {
        let before = self.grouping()?;
        let (mut args, mut starts) = self.arguments(None)?;
        let after = self.grouping()?;
        if before.is_some() && after.is_some() {
            return Err(self.error_at(start, "aggregation must only contain one grouping clause"));
        }
        let (grouping, without) = before.or(after).unwrap_or_default();
        let limit = self.aggregate_limit()?;
        if op == AggregateOp::Quantiles {
            return self.quantiles(args, starts, grouping, without, limit, start);
        }
        let other_label = if op.accepts_other_label() && args.len() == 3 {
            starts.pop();
            match args.pop() {
                Some(Expr::String(label)) => Some(label),
                _ => return Err(self.error_at(start, format!("expected a string literal as the third argument of {}", op.name()))),
            }
        } else {
            None
        };
        let wanted = if op.param_type().is_some() { 2 } else { 1 };
        // Series of any kind for the aggregations VictoriaMetrics gives several arguments (a
        // scalar is one without labels: `sum(up, 1)`); instant vectors only for the others.
        // Anything else keeps PromQL's arity error.
        if wanted == 1 && args.len() > 1 {
            let args: Vec<Expr> = if op.takes_scalars_among_several() { args.into_iter().map(super::series_of).collect() } else { args };
            if let Some(other) = args.iter().find(|arg| arg.value_type() != ValueType::Vector) {
                return Err(self.error_at(start, format!("wrong number of arguments for aggregate expression provided, expected 1, got {} (the aggregation of several takes series, not a {})", args.len(), other.value_type().name())));
            }
            return self.aggregate_of_several(op, args, starts, grouping, without, limit, start);
        }
        if args.len() != wanted {
            return Err(self.error_at(start, format!("wrong number of arguments for aggregate expression provided, expected {wanted}, got {}", args.len())));
        }
        let Some(expr) = args.pop() else {
            return Err(self.error_at(start, "aggregation without an expression"));
        };
        let expr_pos = starts.pop().unwrap_or_default();
        let expr = super::series_of(expr);
        self.check_type(&expr, ValueType::Vector, "aggregation expression", start)?;
        let param = args.pop();
        let param_pos = starts.pop().unwrap_or_default();
        if let (Some(p), Some(t)) = (&param, op.param_type()) {
            self.check_type(p, t, &format!("aggregation parameter of {}", op.name()), start)?;
        }
        Ok(Expr::Aggregate(Box::new(Aggregate { op, expr, param, other_label, grouping, without, limit, pos: Pos::at(start), param_pos, expr_pos })))
    }

    /// MetricsQL's `avg(q1, q2, …)` for an aggregation without a parameter (PromQL refuses
    /// it): the aggregation over all the arguments' series together, held as one
    /// `functions::ARGUMENT_LIST` call (their elements one after another) in `Aggregate::expr`.
    #[allow(clippy::too_many_arguments)]
    fn aggregate_of_several(&self, op: AggregateOp, args: Vec<Expr>, starts: Vec<Pos>, grouping: Vec<String>, without: bool, limit: Option<usize>, start: usize) -> Result<Expr> {
        debug_assert!(args.iter().all(|arg| arg.value_type() == ValueType::Vector), "only instant vectors are aggregated together");
        let expr_pos = starts.first().copied().unwrap_or_default();
        let expr = Expr::Call { func: &functions::ARGUMENT_LIST, args, pos: expr_pos, arg_pos: starts, keep_metric_names: false };
        let aggregate = Aggregate { op, expr, param: None, other_label: None, grouping, without, limit, pos: Pos::at(start), param_pos: Pos::default(), expr_pos };
        Ok(Expr::Aggregate(Box::new(aggregate)))
    }

    /// MetricsQL's `limit N` after an aggregation: a decimal count of groups (0: no limit).
    fn aggregate_limit(&mut self) -> Result<Option<usize>> {
        if !self.eat_keyword("limit") {
            return Ok(None);
        }
        self.skip_space();
        let at = self.offset();
        let digits = self.rest.len() - self.rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let followed_by_name = self.rest[digits..].starts_with(super::lexemes::is_metric_char);
        let limit = match self.rest[..digits].parse::<usize>() {
            Ok(limit) if !followed_by_name => limit,
            _ => return Err(self.error_at(at, format!("expected a non-negative integer after limit, got {}", self.describe_next()))),
        };
        self.rest = &self.rest[digits..];
        Ok((limit > 0).then_some(limit))
    }

    /// MetricsQL's `quantiles("label", φ1, …, φN, q)`: the label (a string literal), at least
    /// one scalar φ, held as one `functions::ARGUMENT_LIST` call, and the vector last.
    fn quantiles(&self, mut args: Vec<Expr>, mut starts: Vec<Pos>, grouping: Vec<String>, without: bool, limit: Option<usize>, start: usize) -> Result<Expr> {
        if args.len() < 3 {
            return Err(self.error_at(start, format!("wrong number of arguments for aggregate expression provided, expected at least 3, got {}", args.len())));
        }
        let (Some(expr), Some(expr_pos)) = (args.pop(), starts.pop()) else {
            return Err(self.error_at(start, "aggregation without an expression"));
        };
        self.check_type(&expr, ValueType::Vector, "aggregation expression", start)?;
        let mut args = args.into_iter();
        let Some(Expr::String(label)) = args.next() else {
            return Err(self.error_at(start, "expected a string literal as the first argument of quantiles"));
        };
        let phis: Vec<Expr> = args.collect();
        for phi in &phis {
            self.check_type(phi, ValueType::Scalar, "aggregation parameter of quantiles", start)?;
        }
        let param_pos = starts.get(1).copied().unwrap_or_default();
        let arg_pos = starts.get(1..).unwrap_or_default().to_vec();
        let param = Expr::Call { func: &functions::ARGUMENT_LIST, args: phis, pos: param_pos, arg_pos, keep_metric_names: false };
        let op = AggregateOp::Quantiles;
        Ok(Expr::Aggregate(Box::new(Aggregate { op, expr, param: Some(param), other_label: Some(label), grouping, without, limit, pos: Pos::at(start), param_pos, expr_pos })))
    }
}

/// Range functions that give nothing for a window of one sample (or, as VictoriaMetrics'
/// `default_rollup` and `last_over_time`, read the last sample of a scrape interval): their
/// left-out window is the step but at least the lookback delta, where VictoriaMetrics widens
/// it to the scrape interval for `rate` and `default_rollup` (and reads the sample before the
/// window for the others).
fn needs_two_samples(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "irate"
            | "increase"
            | "delta"
            | "idelta"
            | "deriv"
            | "predict_linear"
            | "changes"
            | "resets"
            | "double_exponential_smoothing"
            | "holt_winters"
            | "last_over_time"
            | "default_rollup"
            | "deriv_fast"
            | "ideriv"
            | "increase_pure"
            | "lag"
            | "lifetime"
            | "integrate"
            | "scrape_interval"
            | "increases_over_time"
            | "decreases_over_time"
            | "ascent_over_time"
            | "descent_over_time"
            | "rollup_rate"
            | "rollup_deriv"
            | "rollup_delta"
            | "rollup_increase"
            | "rollup_scrape_interval"
    )
}
