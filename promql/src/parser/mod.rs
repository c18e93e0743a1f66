//! PromQL parser: nom for lexemes (`lexemes`), recursive descent with precedence climbing
//! for expressions. Errors carry `line:col` like Prometheus' (`1:14: parse error: ...`).

pub mod lexemes;

use tsdb::{MatchOp, Matcher, METRIC_NAME_LABEL};

use crate::ast::{BinaryOp, Expr, ValueType, VectorSelector};
use lexemes::{duration, label_identifier, metric_identifier, number, string_literal};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: parse error: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Deepest nesting accepted, so hostile input cannot exhaust the stack.
pub const NESTING_DEPTH_MAX: usize = 256;

struct Parser<'a> {
    input: &'a str,
    rest: &'a str,
    depth: usize,
}

type Result<T> = std::result::Result<T, ParseError>;

/// Parses a PromQL expression.
pub fn parse(input: &str) -> Result<Expr> {
    let mut p = Parser { input, rest: input, depth: 0 };
    p.skip_space();
    if p.rest.is_empty() {
        return Err(p.error_at(0, "no expression found in input"));
    }
    let expr = p.expr(0)?;
    p.skip_space();
    if !p.rest.is_empty() {
        return Err(p.error(format!("unexpected {}", p.describe_next())));
    }
    Ok(expr)
}

/// Parses a series selector (`match[]` of the series/labels APIs) into its matchers.
pub fn parse_series_selector(input: &str) -> Result<Vec<Matcher>> {
    match parse(input)? {
        Expr::VectorSelector(vs) if vs.offset_ms == 0 => Ok(vs.matchers),
        _ => Err(ParseError { line: 1, column: 1, message: format!("invalid series selector {input:?}: expected a vector selector") }),
    }
}

impl<'a> Parser<'a> {
    fn offset(&self) -> usize {
        self.input.len() - self.rest.len()
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let before = &self.input[..offset.min(self.input.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ParseError { line, column, message: message.into() }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.offset(), message)
    }

    fn describe_next(&self) -> String {
        match self.rest.chars().next() {
            None => "end of input".into(),
            Some(_) => {
                let token: String = self.rest.chars().take_while(|c| !c.is_whitespace()).take(12).collect();
                format!("{:?}", if token.is_empty() { self.rest.chars().next().map(String::from).unwrap_or_default() } else { token })
            }
        }
    }

    /// Skips whitespace and `#` comments.
    fn skip_space(&mut self) {
        loop {
            let trimmed = self.rest.trim_start();
            if let Some(comment) = trimmed.strip_prefix('#') {
                self.rest = comment.find('\n').map_or("", |i| &comment[i..]);
            } else {
                self.rest = trimmed;
                return;
            }
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if let Some(rest) = self.rest.strip_prefix(token) {
            self.rest = rest;
            true
        } else {
            false
        }
    }

    /// Eats a keyword (case-insensitive, not followed by an identifier character).
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        self.skip_space();
        let n = keyword.len();
        if self.rest.len() >= n
            && self.rest.is_char_boundary(n)
            && self.rest[..n].eq_ignore_ascii_case(keyword)
            && !self.rest[n..].starts_with(lexemes::is_metric_char)
        {
            self.rest = &self.rest[n..];
            true
        } else {
            false
        }
    }

    fn peek_binary_op(&mut self) -> Option<(BinaryOp, usize)> {
        self.skip_space();
        let ops: [(&str, BinaryOp); 12] = [
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            (">=", BinaryOp::Ge),
            ("<=", BinaryOp::Le),
            (">", BinaryOp::Gt),
            ("<", BinaryOp::Lt),
            ("+", BinaryOp::Add),
            ("-", BinaryOp::Sub),
            ("*", BinaryOp::Mul),
            ("/", BinaryOp::Div),
            ("%", BinaryOp::Mod),
            ("^", BinaryOp::Pow),
        ];
        ops.iter().find(|(text, _)| self.rest.starts_with(text)).map(|(text, op)| (*op, text.len()))
    }

    /// Precedence climbing: parses operators binding at least as tight as `min_precedence`.
    fn expr(&mut self, min_precedence: u8) -> Result<Expr> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.error(format!("expression nested deeper than {NESTING_DEPTH_MAX} levels")));
        }
        let mut lhs = self.unary()?;
        while let Some((op, len)) = self.peek_binary_op() {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            let op_offset = self.offset();
            self.rest = &self.rest[len..];
            let return_bool = self.eat_keyword("bool");
            if return_bool && !op.is_comparison() {
                return Err(self.error_at(op_offset, "bool modifier can only be used on comparison operators"));
            }
            let next_min = if op.right_associative() { precedence } else { precedence + 1 };
            let rhs = self.expr(next_min)?;
            lhs = self.check_binary(op, lhs, rhs, return_bool, op_offset)?;
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn check_binary(&self, op: BinaryOp, lhs: Expr, rhs: Expr, return_bool: bool, at: usize) -> Result<Expr> {
        for side in [&lhs, &rhs] {
            if !matches!(side.value_type(), ValueType::Scalar | ValueType::Vector) {
                return Err(self.error_at(at, format!("binary expression must contain only scalar and instant vector types, got {}", side.value_type().name())));
            }
        }
        if op.is_comparison() && !return_bool && lhs.value_type() == ValueType::Scalar && rhs.value_type() == ValueType::Scalar {
            return Err(self.error_at(at, "comparisons between scalars must use BOOL modifier"));
        }
        Ok(Expr::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs), return_bool })
    }

    fn unary(&mut self) -> Result<Expr> {
        self.skip_space();
        if self.eat("-") {
            // Unary minus binds like `*`: -a^b is -(a^b).
            let operand = self.expr(BinaryOp::Pow.precedence())?;
            if let Expr::Number(v) = operand {
                return Ok(Expr::Number(-v));
            }
            if !matches!(operand.value_type(), ValueType::Scalar | ValueType::Vector) {
                return Err(self.error("unary expression only allowed on expressions of type scalar or instant vector"));
            }
            return Ok(Expr::Negate(Box::new(operand)));
        }
        if self.eat("+") {
            return self.expr(BinaryOp::Pow.precedence());
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr> {
        let start = self.offset();
        let mut expr = self.primary()?;
        if self.eat("[") {
            let Expr::VectorSelector(selector) = expr else {
                return Err(self.error_at(start, "ranges only allowed for vector selectors (subqueries are not supported yet)"));
            };
            self.skip_space();
            let range_ms = self.duration_value()?;
            if range_ms <= 0 {
                return Err(self.error("range must be positive"));
            }
            if !self.eat("]") {
                return Err(self.error(format!("unexpected {} in range, expected \"]\"", self.describe_next())));
            }
            expr = Expr::MatrixSelector { selector, range_ms };
        }
        if self.eat_keyword("offset") {
            let negative = self.eat("-");
            self.skip_space();
            let d = self.duration_value()?;
            let d = if negative { -d } else { d };
            expr = match expr {
                Expr::VectorSelector(mut vs) => {
                    vs.offset_ms = d;
                    Expr::VectorSelector(vs)
                }
                Expr::MatrixSelector { mut selector, range_ms } => {
                    selector.offset_ms = d;
                    Expr::MatrixSelector { selector, range_ms }
                }
                _ => return Err(self.error_at(start, "offset modifier must be preceded by an instant vector selector or range vector selector")),
            };
        }
        Ok(expr)
    }

    fn duration_value(&mut self) -> Result<i64> {
        match duration(self.rest) {
            Ok((rest, ms)) => {
                self.rest = rest;
                Ok(ms)
            }
            Err(_) => Err(self.error(format!("unexpected {}, expected duration", self.describe_next()))),
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        self.skip_space();
        let start = self.offset();
        let Some(first) = self.rest.chars().next() else {
            return Err(self.error("unexpected end of input"));
        };
        if first == '(' {
            self.rest = &self.rest[1..];
            let inner = self.expr(0)?;
            if !self.eat(")") {
                return Err(self.error(format!("unexpected {}, expected \")\"", self.describe_next())));
            }
            return Ok(Expr::Paren(Box::new(inner)));
        }
        if matches!(first, '"' | '\'' | '`') {
            let (rest, value) = string_literal(self.rest).map_err(|(at, m)| self.error_at(start + at, m))?;
            self.rest = rest;
            return Ok(Expr::String(value));
        }
        if first == '{' {
            return self.selector(None, start);
        }
        if first.is_ascii_digit() || first == '.' {
            if let Ok((rest, v)) = number(self.rest) {
                self.rest = rest;
                return Ok(Expr::Number(v));
            }
        }
        if let Ok((rest, ident)) = metric_identifier(self.rest) {
            if let Ok((_, v)) = number(self.rest) {
                if ident.eq_ignore_ascii_case("inf") || ident.eq_ignore_ascii_case("nan") {
                    self.rest = rest;
                    return Ok(Expr::Number(v));
                }
            }
            self.rest = rest;
            let after = self.rest.trim_start();
            if after.starts_with('(') || ["by", "without"].iter().any(|k| after.starts_with(k)) && is_aggregation(ident) {
                return Err(self.error_at(start, format!("function or aggregation {ident:?} is not supported yet")));
            }
            return self.selector(Some(ident.to_string()), start);
        }
        Err(self.error(format!("unexpected {}", self.describe_next())))
    }

    fn selector(&mut self, name: Option<String>, start: usize) -> Result<Expr> {
        let mut matchers = Vec::new();
        if let Some(n) = &name {
            matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, n.clone()).map_err(|e| self.error(e.to_string()))?);
        }
        let mut bare_name: Option<String> = None;
        if self.eat("{") {
            loop {
                self.skip_space();
                if self.eat("}") {
                    break;
                }
                let at = self.offset();
                let label = if matches!(self.rest.chars().next(), Some('"' | '\'' | '`')) {
                    let (rest, value) = string_literal(self.rest).map_err(|(o, m)| self.error_at(at + o, m))?;
                    self.rest = rest;
                    value
                } else if let Ok((rest, ident)) = label_identifier(self.rest) {
                    self.rest = rest;
                    ident.to_string()
                } else {
                    return Err(self.error(format!("unexpected {} in label matching, expected label matching operator", self.describe_next())));
                };
                self.skip_space();
                let op = if self.eat("=~") {
                    MatchOp::RegexMatch
                } else if self.eat("!~") {
                    MatchOp::RegexNoMatch
                } else if self.eat("!=") {
                    MatchOp::NotEqual
                } else if self.eat("=") {
                    MatchOp::Equal
                } else if self.rest.starts_with([',', '}']) {
                    // A bare quoted string is the metric name (`{"my.metric"}`).
                    if bare_name.is_some() || name.is_some() {
                        return Err(self.error_at(at, "metric name must not be set twice"));
                    }
                    bare_name = Some(label.clone());
                    matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, label).map_err(|e| self.error(e.to_string()))?);
                    if !self.eat(",") && !self.rest.starts_with('}') {
                        return Err(self.error("expected \",\" or \"}\""));
                    }
                    continue;
                } else {
                    return Err(self.error(format!("unexpected {} in label matching, expected label matching operator", self.describe_next())));
                };
                self.skip_space();
                let value_at = self.offset();
                let (rest, value) = string_literal(self.rest).map_err(|_| {
                    self.error_at(value_at, format!("unexpected {} in label matching, expected string", self.describe_next()))
                })?;
                self.rest = rest;
                if label == METRIC_NAME_LABEL && name.is_some() {
                    return Err(self.error_at(at, "metric name must not be set twice"));
                }
                let matcher = Matcher::new(op, label, value).map_err(|e| self.error_at(value_at, format!("invalid regular expression: {e}")))?;
                matchers.push(matcher);
                self.skip_space();
                if self.eat(",") {
                    continue;
                }
                if !self.rest.starts_with('}') {
                    return Err(self.error(format!("unexpected {} in label matching, expected \",\" or \"}}\"", self.describe_next())));
                }
            }
        }
        if matchers.iter().all(|m| m.matches_empty()) {
            return Err(self.error_at(start, "vector selector must contain at least one non-empty matcher"));
        }
        Ok(Expr::VectorSelector(VectorSelector { name: name.or(bare_name), matchers, offset_ms: 0 }))
    }
}

fn is_aggregation(ident: &str) -> bool {
    matches!(
        ident,
        "sum" | "avg" | "min" | "max" | "count" | "group" | "stddev" | "stdvar" | "topk" | "bottomk" | "quantile" | "count_values" | "limitk" | "limit_ratio"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn selector_matchers(q: &str) -> Vec<String> {
        match parse(q).unwrap() {
            Expr::VectorSelector(vs) => vs.matchers.iter().map(|m| m.to_string()).collect(),
            other => panic!("not a selector: {other:?}"),
        }
    }

    #[test]
    fn selectors_with_all_matchers() {
        assert_eq!(selector_matchers("up"), vec!["__name__=\"up\""]);
        assert_eq!(
            selector_matchers(r#"http_requests_total{job="api", code=~"5..", path!="/", method!~'GET|HEAD',}"#),
            vec!["__name__=\"http_requests_total\"", "job=\"api\"", "code=~\"5..\"", "path!=\"/\"", "method!~\"GET|HEAD\""]
        );
        assert_eq!(selector_matchers(r#"{"my.metric", "a.b"="c"}"#), vec!["__name__=\"my.metric\"", "a.b=\"c\""]);
        assert_eq!(selector_matchers("{__name__=~\"e2e_.*\"} # comment"), vec!["__name__=~\"e2e_.*\""]);
    }

    #[test]
    fn precedence_and_associativity() {
        let p = |q| parse(q).unwrap();
        let n = |v| Box::new(Expr::Number(v));
        assert_eq!(p("1 + 2 * 3"), Expr::Binary { op: BinaryOp::Add, lhs: n(1.0), rhs: Box::new(Expr::Binary { op: BinaryOp::Mul, lhs: n(2.0), rhs: n(3.0), return_bool: false }), return_bool: false });
        assert_eq!(p("2 ^ 3 ^ 2"), Expr::Binary { op: BinaryOp::Pow, lhs: n(2.0), rhs: Box::new(Expr::Binary { op: BinaryOp::Pow, lhs: n(3.0), rhs: n(2.0), return_bool: false }), return_bool: false });
        assert_eq!(p("-2 ^ 2"), Expr::Negate(Box::new(Expr::Binary { op: BinaryOp::Pow, lhs: n(2.0), rhs: n(2.0), return_bool: false })));
        assert!(matches!(p("1 - 2 - 3"), Expr::Binary { op: BinaryOp::Sub, lhs, .. } if matches!(*lhs, Expr::Binary { op: BinaryOp::Sub, .. })));
        assert!(matches!(p("foo[5m] offset -1h"), Expr::MatrixSelector { range_ms: 300_000, selector } if selector.offset_ms == -3_600_000));
        assert!(matches!(p("1 > bool 2"), Expr::Binary { return_bool: true, .. }));
    }

    #[test]
    fn errors_have_positions_and_messages() {
        let table: &[(&str, &str)] = &[
            ("up{", "1:4: parse error: unexpected end of input in label matching"),
            ("up{job=}", "1:8: parse error: unexpected \"}\" in label matching, expected string"),
            ("{job=~\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
            ("1 > 2", "comparisons between scalars must use BOOL modifier"),
            ("up )", "1:4: parse error: unexpected \")\""),
            ("up[5m] + 1", "range vector"),
            ("", "no expression found"),
            ("foo{a=~\"(\"}", "invalid regular expression"),
            ("sum(up)", "not supported yet"),
        ];
        for (q, expected) in table {
            let err = parse(q).unwrap_err().to_string();
            assert!(err.contains(expected), "{q:?}: {err}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let q = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&q).unwrap_err().to_string().contains("nested deeper"));
    }

    #[test]
    fn series_selector_for_match_params() {
        assert_eq!(parse_series_selector("{job=\"a\"}").unwrap().len(), 1);
        assert!(parse_series_selector("1 + 1").is_err());
    }
}
