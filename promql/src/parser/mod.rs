//! PromQL parser: nom for lexemes (`lexemes`), recursive descent with precedence climbing
//! for expressions. Errors carry `line:col` like Prometheus' (`1:14: parse error: ...`).

mod call;
mod duration;
mod fill;
pub mod lexemes;
pub mod with_templates;

use tsdb::{MatchOp, Matcher, METRIC_NAME_LABEL};

use crate::ast::{AggregateOp, At, Binary, BinaryOp, Cardinality, DurationExpr, Expr, Pos, Subquery, ValueType, VectorMatching, VectorSelector};
use lexemes::{duration, identifier, number, string_literal, IdentifierKind};

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
pub const NESTING_DEPTH_MAX: usize = 100;

/// Most binary operators one expression may hold. A chain such as `a + b + c + …` is parsed
/// in a loop, not nested, but it makes a tree as deep as it is long, which evaluation,
/// printing and dropping all walk recursively: 5,000 terms (10 KB of query) overflowed an
/// evaluation thread's stack and took the server down. With this bound and
/// [`NESTING_DEPTH_MAX`] no tree is deeper than about 1,300 levels.
pub const BINARY_OPERATORS_MAX: usize = 1000;

struct Parser<'a> {
    input: &'a str,
    rest: &'a str,
    depth: usize,
    /// Binary operators parsed so far, refused past `BINARY_OPERATORS_MAX`.
    binary_operators: usize,
    /// Set while parsing `info()`'s label-selector argument, which may match empty values
    /// only (`{data=~".*"}`); taken by the next selector.
    label_selector_next: bool,
    /// Set while parsing the right operand of `==`/`!=`, where MetricsQL takes a list of
    /// numbers (`code == (300, 301)`); taken by the next primary expression.
    number_list_next: bool,
    /// Set before `aggr_over_time`'s arguments, whose first may be a list of strings
    /// (`("min_over_time", "rate")`); taken by the next primary expression.
    string_list_next: bool,
}

type Result<T> = std::result::Result<T, ParseError>;

/// Parses a PromQL expression, with MetricsQL's `WITH` templates expanded first
/// (`with_templates`). An expanded query's own errors quote the expanded text.
pub fn parse(input: &str) -> Result<Expr> {
    with_templates_expanded(input, parse_promql)
}

/// Runs `parse` on `input` with its `WITH` templates expanded (on `input` itself when it has
/// none); a template mistake is positioned in `input`, a parse error of an expansion quotes it.
fn with_templates_expanded<T>(input: &str, parse: impl FnOnce(&str) -> Result<T>) -> Result<T> {
    match with_templates::expand(input) {
        Ok(None) => parse(input),
        Ok(Some(expanded)) => parse(&expanded).map_err(|e| ParseError {
            message: format!("{} (in the query as its WITH templates expand: {expanded})", e.message),
            ..e
        }),
        Err(e) => {
            let (line, column) = line_and_column(input, e.offset);
            Err(ParseError { line, column, message: e.message })
        }
    }
}

/// The 1-based line and column (in characters) of byte `offset` of `input`.
fn line_and_column(input: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(input.len());
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    let before = &input[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses a PromQL expression as it is.
fn parse_promql(input: &str) -> Result<Expr> {
    let mut p = Parser { input, rest: input, depth: 0, binary_operators: 0, label_selector_next: false, number_list_next: false, string_list_next: false };
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

/// Parses a series selector (`match[]` of the series/labels APIs) into its matchers. One
/// with MetricsQL's `or` filters is refused: `parse_series_selector_alternatives` reads it.
pub fn parse_series_selector(input: &str) -> Result<Vec<Matcher>> {
    selector_matchers(input, parse(input)?)
}

/// Parses a series selector into the matcher sets whose series it unites: one, or one per
/// alternative of MetricsQL's `or` filters (`{a="1" or b="2"}`).
pub fn parse_series_selector_alternatives(input: &str) -> Result<Vec<Vec<Matcher>>> {
    match parse(input)? {
        Expr::VectorSelector(vs) if vs.offset_ms == 0 && vs.at.is_none() => Ok(std::iter::once(vs.matchers).chain(vs.or_matchers).collect()),
        _ => Err(not_a_selector(input)),
    }
}

/// Parses a series selector that only narrows another one, so its matchers may all match
/// the empty value (`{team!="a"}`): VictoriaMetrics' `extra_filters` read parameter.
pub fn parse_narrowing_selector(input: &str) -> Result<Vec<Matcher>> {
    with_templates_expanded(input, parse_narrowing_selector_as_is)
}

fn parse_narrowing_selector_as_is(input: &str) -> Result<Vec<Matcher>> {
    let mut p = Parser { input, rest: input, depth: 0, binary_operators: 0, label_selector_next: false, number_list_next: false, string_list_next: false };
    p.skip_space();
    // Only a selector opening with `{` may leave out the name; one with a name has a
    // non-empty matcher anyway.
    p.label_selector_next = p.rest.starts_with('{');
    let expr = p.expr(0)?;
    p.skip_space();
    if !p.rest.is_empty() {
        return Err(p.error(format!("unexpected {}", p.describe_next())));
    }
    selector_matchers(input, expr)
}

fn selector_matchers(input: &str, expr: Expr) -> Result<Vec<Matcher>> {
    match expr {
        Expr::VectorSelector(vs) if !vs.or_matchers.is_empty() => {
            Err(ParseError { line: 1, column: 1, message: format!("invalid series selector {input:?}: \"or\" between label filters is not allowed here") })
        }
        Expr::VectorSelector(vs) if vs.offset_ms == 0 && vs.at.is_none() => Ok(vs.matchers),
        _ => Err(not_a_selector(input)),
    }
}

fn not_a_selector(input: &str) -> ParseError {
    ParseError { line: 1, column: 1, message: format!("invalid series selector {input:?}: expected a vector selector") }
}

/// `expr` without the parentheses around it.
fn unparen(mut expr: &Expr) -> &Expr {
    while let Expr::Paren(inner) = expr {
        expr = inner;
    }
    expr
}

/// `vector(scalar)`: MetricsQL's reading of a scalar where PromQL takes only vectors.
pub(super) fn as_vector(scalar: Expr) -> Expr {
    match crate::functions::lookup("vector") {
        Some(func) => call_node(func, vec![scalar], Pos::default()),
        None => scalar,
    }
}

/// A call the parser puts in for MetricsQL's conversions, its arguments all at `pos`.
fn call_node(func: &'static crate::functions::Function, args: Vec<Expr>, pos: Pos) -> Expr {
    let arg_pos = vec![pos; args.len()];
    Expr::Call { func, args, pos, arg_pos, keep_metric_names: false }
}

/// MetricsQL's implicit subquery of `expr` stepping one step of the grid evaluated (`1i`),
/// over `range_ms` (or `range_expr`): `(a + b)[1h]` is `(a + b)[1h:1i]`.
fn one_step_subquery(expr: Expr, range_ms: i64, range_expr: Option<DurationExpr>) -> Expr {
    Expr::Subquery(Box::new(Subquery { expr, range_ms, range_expr, step_ms: Some(0), step_expr: Some(DurationExpr::StepMultiple(1.0)), offset_ms: 0, offset_expr: None, at: None }))
}

/// MetricsQL's implicit `default_rollup(m[d])` around a range vector written where an instant
/// vector is wanted (`m + n[5m]`, `sum(x[5m])`, `abs(x[5m])`): each series' last sample in the
/// window. Anything else is returned as it is.
fn default_rolled_up(expr: Expr) -> Expr {
    match (expr.value_type(), crate::functions::lookup("default_rollup")) {
        (ValueType::Matrix, Some(func)) => call_node(func, vec![expr], Pos::default()),
        _ => expr,
    }
}

/// What MetricsQL reads where an instant vector is wanted: a range vector's last samples
/// ([`default_rolled_up`]), a scalar as a series without labels ([`as_vector`]), anything
/// else as it is (a string stays, for the type check to name).
pub(super) fn series_of(expr: Expr) -> Expr {
    match expr.value_type() {
        ValueType::Scalar => as_vector(expr),
        _ => default_rolled_up(expr),
    }
}

/// Whether `expr` is an instant vector other than a selector or subquery: MetricsQL takes
/// `offset` and `@` after it (`sum(x) offset 1d`) for each selector and subquery inside.
fn is_other_vector(expr: &Expr) -> bool {
    !matches!(expr, Expr::VectorSelector(_) | Expr::MatrixSelector { .. } | Expr::Subquery(_)) && expr.value_type() == ValueType::Vector
}

/// Whether `expr` reads the evaluation time itself, not only through its selectors and
/// subqueries: `time()`, the date functions without an argument (`hour()`, …), and
/// `timezone_offset`. Subqueries are not entered (their own modifiers shift what they read).
fn reads_evaluation_time(expr: &Expr) -> bool {
    const DATE_FUNCTIONS: &[&str] = &["day_of_month", "day_of_week", "day_of_year", "days_in_month", "hour", "minute", "month", "year"];
    match expr {
        Expr::Call { func, args, .. } => {
            func.name == "time" || func.name == "timezone_offset" || (args.is_empty() && DATE_FUNCTIONS.contains(&func.name)) || args.iter().any(reads_evaluation_time)
        }
        Expr::Paren(e) | Expr::Negate(e) => reads_evaluation_time(e),
        Expr::Binary(b) => reads_evaluation_time(&b.lhs) || reads_evaluation_time(&b.rhs),
        Expr::Aggregate(a) => reads_evaluation_time(&a.expr) || a.param.as_ref().is_some_and(reads_evaluation_time),
        Expr::VectorSelector(_) | Expr::MatrixSelector { .. } | Expr::Subquery(_) | Expr::Number(_) | Expr::String(_) => false,
    }
}

/// MetricsQL's `offset` or `@` after an expression that reads the evaluation time itself
/// (`time() @ 100`, `(time() - m) offset 1h`): VictoriaMetrics evaluates the whole expression
/// at the time the modifier gives. Here that is a subquery of one point (`[1ms:1ms]`, the
/// modifier going on it) read back by `default_rollup`; a scalar is made a vector for it.
/// Other expressions are returned as they are (the modifier goes on each selector).
fn evaluated_as_a_whole(expr: Expr) -> Expr {
    if !reads_evaluation_time(&expr) {
        return expr;
    }
    let Some(default_rollup) = crate::functions::lookup("default_rollup") else { return expr };
    let inner = series_of(expr);
    let point = Expr::Subquery(Box::new(Subquery { expr: inner, range_ms: 1, range_expr: None, step_ms: Some(1), step_expr: None, offset_ms: 0, offset_expr: None, at: None }));
    call_node(default_rollup, vec![point], Pos::default())
}

/// Adds an offset to each selector and subquery in `expr` (not inside a subquery: shifting it
/// shifts what it evaluates).
fn push_offset(expr: &mut Expr, ms: i64, written: Option<&DurationExpr>) {
    each_modifier_slot(expr, &mut |own_ms, own_expr, _| {
        if own_expr.is_none() && written.is_none() {
            *own_ms = own_ms.saturating_add(ms);
            return;
        }
        let as_expr = |ms: i64, e: Option<&DurationExpr>| e.cloned().unwrap_or(DurationExpr::Number { seconds: ms as f64 / 1000.0, unit: true });
        let sum = DurationExpr::Binary {
            op: BinaryOp::Add,
            lhs: Box::new(DurationExpr::Paren(Box::new(as_expr(*own_ms, own_expr.as_ref())))),
            rhs: Box::new(DurationExpr::Paren(Box::new(as_expr(ms, written)))),
        };
        *own_expr = Some(sum);
    });
}

/// Sets `@` on each selector and subquery in `expr` that has none of its own.
fn push_at(expr: &mut Expr, at: At) {
    each_modifier_slot(expr, &mut |_, _, own_at| {
        own_at.get_or_insert(at);
    });
}

/// Calls `visit` with the offset (ms and as written) and `@` of each selector and subquery in
/// `expr`, not descending into subqueries.
fn each_modifier_slot(expr: &mut Expr, visit: &mut impl FnMut(&mut i64, &mut Option<DurationExpr>, &mut Option<At>)) {
    match expr {
        Expr::VectorSelector(vs) | Expr::MatrixSelector { selector: vs, .. } => visit(&mut vs.offset_ms, &mut vs.offset_expr, &mut vs.at),
        Expr::Subquery(sq) => visit(&mut sq.offset_ms, &mut sq.offset_expr, &mut sq.at),
        Expr::Paren(e) | Expr::Negate(e) => each_modifier_slot(e, visit),
        Expr::Binary(b) => {
            each_modifier_slot(&mut b.lhs, visit);
            each_modifier_slot(&mut b.rhs, visit);
        }
        Expr::Aggregate(a) => {
            each_modifier_slot(&mut a.expr, visit);
            if let Some(p) = &mut a.param {
                each_modifier_slot(p, visit);
            }
        }
        Expr::Call { args, .. } => args.iter_mut().for_each(|a| each_modifier_slot(a, visit)),
        Expr::Number(_) | Expr::String(_) => {}
    }
}

/// Whether `text` starts with `keyword` (ASCII case-insensitive) not followed by an identifier
/// character. Safe on any UTF-8: the slice is taken only at a character boundary.
fn starts_with_keyword(text: &str, keyword: &str) -> bool {
    match (text.get(..keyword.len()), text.get(keyword.len()..)) {
        (Some(head), Some(tail)) => head.eq_ignore_ascii_case(keyword) && !tail.starts_with(lexemes::is_metric_char),
        _ => false,
    }
}

impl<'a> Parser<'a> {
    fn offset(&self) -> usize {
        self.input.len() - self.rest.len()
    }

    /// One level deeper; refused past `NESTING_DEPTH_MAX` (callers decrement on success).
    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > NESTING_DEPTH_MAX {
            return Err(self.error(format!("expression nested deeper than {NESTING_DEPTH_MAX} levels")));
        }
        Ok(())
    }

    fn error_at(&self, offset: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = line_and_column(self.input, offset);
        ParseError { line, column, message: message.into() }
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.offset(), message)
    }

    fn describe_next(&self) -> String {
        match self.rest.chars().next() {
            None => "end of input".into(),
            Some(c) => {
                let token: String = if lexemes::is_metric_char(c) {
                    self.rest.chars().take_while(|c| lexemes::is_metric_char(*c)).collect()
                } else {
                    c.to_string()
                };
                format!("{token:?}")
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

    fn expect(&mut self, token: &str, context: &str) -> Result<()> {
        if self.eat(token) {
            return Ok(());
        }
        Err(self.error(format!("unexpected {} {context}, expected {token:?}", self.describe_next())))
    }

    fn peek_keyword(&mut self, keyword: &str) -> bool {
        self.skip_space();
        starts_with_keyword(self.rest, keyword)
    }

    /// Eats a keyword (case-insensitive, not followed by an identifier character).
    fn eat_keyword(&mut self, keyword: &str) -> bool {
        if self.peek_keyword(keyword) {
            self.rest = &self.rest[keyword.len()..];
            true
        } else {
            false
        }
    }

    fn peek_binary_op(&mut self) -> Option<(BinaryOp, usize)> {
        self.skip_space();
        let symbols: [(&str, BinaryOp); 14] = [
            ("==", BinaryOp::Eq),
            ("!=", BinaryOp::Ne),
            (">=", BinaryOp::Ge),
            ("<=", BinaryOp::Le),
            ("</", BinaryOp::TrimUpper),
            (">/", BinaryOp::TrimLower),
            (">", BinaryOp::Gt),
            ("<", BinaryOp::Lt),
            ("+", BinaryOp::Add),
            ("-", BinaryOp::Sub),
            ("*", BinaryOp::Mul),
            ("/", BinaryOp::Div),
            ("%", BinaryOp::Mod),
            ("^", BinaryOp::Pow),
        ];
        if let Some((text, op)) = symbols.iter().find(|(text, _)| self.rest.starts_with(text)) {
            return Some((*op, text.len()));
        }
        let words: [(&str, BinaryOp); 7] = [
            ("and", BinaryOp::And),
            ("or", BinaryOp::Or),
            ("unless", BinaryOp::Unless),
            ("atan2", BinaryOp::Atan2),
            ("ifnot", BinaryOp::IfNot),
            ("if", BinaryOp::If),
            ("default", BinaryOp::Default),
        ];
        words.iter().find(|(w, _)| self.peek_keyword(w)).map(|(w, op)| (*op, w.len()))
    }

    /// `(a, b, ...)` label lists of by/without/on/ignoring/group_*.
    fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect("(", "in grouping opts")?;
        let mut labels = Vec::new();
        loop {
            self.skip_space();
            if self.eat(")") {
                return Ok(labels);
            }
            let at = self.offset();
            if matches!(self.rest.chars().next(), Some('"' | '\'' | '`')) {
                let (rest, value) = string_literal(self.rest).map_err(|(o, m)| self.error_at(at + o, m))?;
                self.rest = rest;
                labels.push(value);
            } else if let Some((rest, ident)) = identifier(self.rest, IdentifierKind::Label) {
                self.rest = rest;
                labels.push(ident.into_owned());
            } else {
                return Err(self.error(format!("unexpected {} in grouping opts, expected label", self.describe_next())));
            }
            if !self.eat(",") {
                self.expect(")", "in grouping opts")?;
                return Ok(labels);
            }
        }
    }

    /// Precedence climbing: parses operators binding at least as tight as `min_precedence`.
    fn expr(&mut self, min_precedence: u8) -> Result<Expr> {
        self.enter()?;
        self.skip_space();
        let start = Pos::at(self.offset());
        let mut lhs = self.unary()?;
        while let Some((op, len)) = self.peek_binary_op() {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            let op_offset = self.offset();
            self.binary_operators += 1;
            if self.binary_operators > BINARY_OPERATORS_MAX {
                return Err(self.error(format!("more than {BINARY_OPERATORS_MAX} binary operators in one expression")));
            }
            self.rest = &self.rest[len..];
            let return_bool = self.eat_keyword("bool");
            if return_bool && !op.is_comparison() {
                return Err(self.error_at(op_offset, "bool modifier can only be used on comparison operators"));
            }
            let mut matching = None;
            let on = self.peek_keyword("on");
            if on || self.peek_keyword("ignoring") {
                self.rest = &self.rest[if on { 2 } else { 8 }..];
                let labels = self.label_list()?;
                matching = Some(VectorMatching { labels, on, ..VectorMatching::one_to_one() });
            }
            let left = self.peek_keyword("group_left");
            if left || self.peek_keyword("group_right") {
                if op.is_set() || op.is_metricsql_filter() {
                    return Err(self.error(format!("no grouping allowed for \"{}\" operation", op.as_str())));
                }
                self.rest = &self.rest[if left { 10 } else { 11 }..];
                self.skip_space();
                // MetricsQL's `group_left(*)`: all the labels of the "one" side.
                let include_all = self.rest.strip_prefix('(').is_some_and(|r| r.trim_start().strip_prefix('*').is_some_and(|r| r.trim_start().starts_with(')')));
                let include = if include_all {
                    self.expect("(", "in grouping opts")?;
                    self.expect("*", "in grouping opts")?;
                    self.expect(")", "in grouping opts")?;
                    Vec::new()
                } else if self.rest.starts_with('(') {
                    self.label_list()?
                } else {
                    Vec::new()
                };
                // MetricsQL's `prefix "p"` for the copied labels' names.
                let include_prefix = if self.eat_keyword("prefix") {
                    self.joined_strings("after prefix")?
                } else {
                    String::new()
                };
                let m = matching.get_or_insert_with(VectorMatching::one_to_one);
                m.card = if left { Cardinality::ManyToOne } else { Cardinality::OneToMany };
                m.include = include;
                m.include_all = include_all;
                m.include_prefix = include_prefix;
            }
            let fill = self.fill_modifiers()?;
            if !fill.is_empty() {
                matching.get_or_insert_with(VectorMatching::one_to_one).fill = fill;
            }
            let next_min = if op.right_associative() { precedence } else { precedence + 1 };
            self.number_list_next = matches!(op, BinaryOp::Eq | BinaryOp::Ne) && !return_bool;
            let rhs = self.expr(next_min);
            self.number_list_next = false;
            let rhs = rhs?;
            lhs = self.check_binary(Binary { op, lhs, rhs, return_bool, matching, keep_metric_names: false, pos: start }, op_offset)?;
            // MetricsQL: `a / b keep_metric_names` keeps the names of this operation's result.
            if self.peek_keyword("keep_metric_names") {
                if let Expr::Binary(b) = &mut lhs {
                    self.rest = &self.rest["keep_metric_names".len()..];
                    b.keep_metric_names = true;
                }
            }
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn check_binary(&self, b: Binary, at: usize) -> Result<Expr> {
        let Binary { op, lhs, rhs, return_bool, matching, keep_metric_names, pos } = b;
        // MetricsQL's `q == (C1, …, CN)`: `q == C1 or … or q == CN`; `q != (…)`: `q != C1 and …`.
        if let Some(args) = rhs.argument_list() {
            if matches!(op, BinaryOp::Eq | BinaryOp::Ne) && matching.is_none() {
                let join = if op == BinaryOp::Eq { BinaryOp::Or } else { BinaryOp::And };
                let mut joined: Option<Expr> = None;
                for constant in args {
                    let comparison = self.check_binary(Binary { op, lhs: lhs.clone(), rhs: constant.clone(), return_bool, matching: None, keep_metric_names, pos }, at)?;
                    joined = Some(match joined {
                        None => comparison,
                        Some(before) => self.check_binary(Binary { op: join, lhs: before, rhs: comparison, return_bool: false, matching: None, keep_metric_names: false, pos }, at)?,
                    });
                }
                // Parenthesised: the joined comparisons stay one operand (`… and y`).
                return joined.map(|e| Expr::Paren(Box::new(e))).ok_or_else(|| self.error_at(at, "empty list of numbers"));
            }
        }
        if lhs.argument_list().is_some() || rhs.argument_list().is_some() {
            return Err(self.error_at(at, "a list of numbers (C1, …, CN) may only be compared with == or !="));
        }
        // MetricsQL: string literals joined by `+` are one string (`"foo" + 'bar'`), and string
        // literals compare in byte order: 1 where true; with `bool` 0 where false, else nothing.
        if let (Expr::String(l), Expr::String(r)) = (unparen(&lhs), unparen(&rhs)) {
            if op == BinaryOp::Add {
                return Ok(Expr::String(format!("{l}{r}")));
            }
            if op.is_comparison() {
                let holds = match op {
                    BinaryOp::Eq => l == r,
                    BinaryOp::Ne => l != r,
                    BinaryOp::Gt => l > r,
                    BinaryOp::Lt => l < r,
                    BinaryOp::Ge => l >= r,
                    _ => l <= r,
                };
                if return_bool {
                    return Ok(Expr::Number(if holds { 1.0 } else { 0.0 }));
                }
                // `1 == 1` or `0 == 1`, read as MetricsQL reads scalar comparisons.
                let truth = Binary { op: BinaryOp::Eq, lhs: Expr::Number(if holds { 1.0 } else { 0.0 }), rhs: Expr::Number(1.0), return_bool: false, matching: None, keep_metric_names: false, pos };
                return self.check_binary(truth, at);
            }
        }
        // MetricsQL reads a scalar as a series without labels, so it takes what PromQL only takes
        // between vectors: a comparison of scalars without `bool` (`3 >= 2` is 3, `1 > 2` nothing),
        // a set operator with a scalar (`1 or x`) and `if`/`ifnot`/`default` after one. A range
        // vector operand is rolled up (`default_rolled_up`) first.
        let (mut lhs, mut rhs) = (default_rolled_up(lhs), default_rolled_up(rhs));
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        let scalars_as_vectors = matching.is_none()
            && ((op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar)
                || (op.is_set() && [lt, rt].iter().all(|t| matches!(t, ValueType::Scalar | ValueType::Vector)) && (lt, rt) != (ValueType::Vector, ValueType::Vector))
                || (op.is_metricsql_filter() && lt == ValueType::Scalar && rt != ValueType::String));
        if scalars_as_vectors {
            for side in [&mut lhs, &mut rhs] {
                if side.value_type() == ValueType::Scalar {
                    *side = as_vector(std::mem::replace(side, Expr::Number(0.0)));
                }
            }
        }
        for side in [&lhs, &rhs] {
            if !matches!(side.value_type(), ValueType::Scalar | ValueType::Vector) {
                return Err(self.error_at(at, "binary expression must contain only scalar and instant vector types"));
            }
        }
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        let both_vectors = lt == ValueType::Vector && rt == ValueType::Vector;
        if op.is_comparison() && !return_bool && lt == ValueType::Scalar && rt == ValueType::Scalar {
            return Err(self.error_at(at, "comparisons between scalars must use BOOL modifier"));
        }
        if op.is_metricsql_filter() {
            if lt != ValueType::Vector {
                return Err(self.error_at(at, format!("\"{}\" needs an instant vector on its left", op.as_str())));
            }
            if return_bool {
                return Err(self.error_at(at, "bool modifier can only be used on comparison operators"));
            }
        }
        if op.is_set() && !both_vectors {
            return Err(self.error_at(at, format!("set operator \"{}\" not allowed in binary scalar expression", op.as_str())));
        }
        if matching.as_ref().is_some_and(|m| !m.fill.is_empty()) {
            if !both_vectors {
                return Err(self.error_at(at, "filling in missing series only allowed between instant vectors"));
            }
            if op.is_set() || op.is_metricsql_filter() {
                return Err(self.error_at(at, "filling in missing series not allowed for set operators"));
            }
        }
        if matching.is_some() && !both_vectors {
            return Err(self.error_at(at, "vector matching only allowed between instant vectors"));
        }
        let matching = if both_vectors {
            let mut m = matching.unwrap_or_else(VectorMatching::one_to_one);
            if op.is_set() || op.is_metricsql_filter() {
                m.card = Cardinality::ManyToMany;
            }
            if m.on && m.card != Cardinality::OneToOne {
                if let Some(dup) = m.include.iter().find(|l| m.labels.contains(l)) {
                    return Err(self.error_at(at, format!("label \"{dup}\" must not occur in ON and GROUP clause at once")));
                }
            }
            Some(m)
        } else {
            None
        };
        Ok(Expr::Binary(Box::new(Binary { op, lhs, rhs, return_bool, matching, keep_metric_names, pos })))
    }

    fn unary(&mut self) -> Result<Expr> {
        self.skip_space();
        let at = self.offset();
        let negative = if self.eat("-") {
            true
        } else if self.eat("+") {
            false
        } else {
            return self.postfix();
        };
        self.number_list_next = false;
        // Unary operators bind like `*`: -a^b is -(a^b).
        let operand = self.expr(BinaryOp::Pow.precedence())?;
        if !matches!(operand.value_type(), ValueType::Scalar | ValueType::Vector) {
            return Err(self.error_at(at, "unary expression only allowed on expressions of type scalar or instant vector"));
        }
        Ok(match (negative, operand) {
            (false, e) => e,
            (true, Expr::Number(v)) => Expr::Number(-v),
            (true, e) => Expr::Negate(Box::new(e)),
        })
    }

    fn postfix(&mut self) -> Result<Expr> {
        let start = self.offset();
        let mut expr = self.primary()?;
        loop {
            // Range errors point at the bracket, as Prometheus' do.
            self.skip_space();
            let bracket = self.offset();
            if self.eat("[") {
                let (range_ms, range_expr) = self.bracket_duration()?;
                if self.eat(":") {
                    self.skip_space();
                    let (step_ms, step_expr) = if self.rest.starts_with(']') {
                        (None, None)
                    } else {
                        let (ms, e) = self.bracket_duration()?;
                        (Some(ms), e)
                    };
                    self.expect("]", "in subquery selector")?;
                    if expr.value_type() != ValueType::Vector {
                        return Err(self.error_at(start, format!("subquery is only allowed on instant vector, got {} instead", expr.value_type().name())));
                    }
                    expr = Expr::Subquery(Box::new(Subquery { expr, range_ms, range_expr, step_ms, step_expr, offset_ms: 0, offset_expr: None, at: None }));
                } else {
                    self.expect("]", "in range")?;
                    // MetricsQL: a range after any other instant vector is a subquery stepping
                    // one step of the grid (`(a + b)[1h]` is `(a + b)[1h:1i]`).
                    if !matches!(expr, Expr::VectorSelector(_)) && expr.value_type() == ValueType::Vector {
                        expr = one_step_subquery(expr, range_ms, range_expr);
                        continue;
                    }
                    let Expr::VectorSelector(selector) = expr else {
                        return Err(self.error_at(bracket, "ranges only allowed for vector selectors"));
                    };
                    if selector.offset_ms != 0 || selector.offset_expr.is_some() {
                        return Err(self.error_at(bracket, "no offset modifiers allowed before range"));
                    }
                    if selector.at.is_some() {
                        return Err(self.error_at(bracket, "no @ modifiers allowed before range"));
                    }
                    expr = Expr::MatrixSelector { selector, range_ms, range_expr };
                }
                continue;
            }
            if self.eat_keyword("offset") {
                let (ms, offset_expr) = self.offset_duration()?;
                expr = evaluated_as_a_whole(expr);
                if is_other_vector(&expr) {
                    push_offset(&mut expr, ms, offset_expr.as_ref());
                    continue;
                }
                let slot = self.modifier_target(&mut expr, start, "offset")?;
                if *slot.0 != 0 || slot.2.is_some() {
                    return Err(self.error("offset may not be set multiple times"));
                }
                *slot.0 = ms;
                *slot.2 = offset_expr;
                continue;
            }
            if let Some(keyword) = ["anchored", "smoothed"].into_iter().find(|k| self.peek_keyword(k)) {
                let at = self.offset();
                self.rest = &self.rest[keyword.len()..];
                self.set_extended(&mut expr, keyword == "anchored", at)?;
                continue;
            }
            if self.eat("@") {
                self.skip_space();
                let at = if self.rest.starts_with('(') {
                    self.at_expression()?
                } else if self.eat_keyword("start") {
                    self.expect("(", "in @")?;
                    self.expect(")", "in @")?;
                    At::Start
                } else if self.eat_keyword("end") {
                    self.expect("(", "in @")?;
                    self.expect(")", "in @")?;
                    At::End
                } else {
                    let negative = self.eat("-");
                    self.skip_space();
                    let seconds = if let Ok((rest, ms)) = duration(self.rest) {
                        self.rest = rest;
                        ms as f64 / 1000.0
                    } else {
                        let (rest, seconds) = number(self.rest).map_err(|_| self.error("expected a timestamp, start() or end() after @"))?;
                        self.rest = rest;
                        seconds
                    };
                    let seconds = if negative { -seconds } else { seconds };
                    if !seconds.is_finite() {
                        return Err(self.error("timestamp out of bounds for @ modifier"));
                    }
                    At::Time((seconds * 1000.0).round() as i64)
                };
                expr = evaluated_as_a_whole(expr);
                if is_other_vector(&expr) {
                    push_at(&mut expr, at);
                    continue;
                }
                let slot = self.modifier_target(&mut expr, start, "@")?;
                if slot.1.is_some() {
                    return Err(self.error("@ <timestamp> may not be set multiple times"));
                }
                *slot.1 = Some(at);
                continue;
            }
            return Ok(expr);
        }
    }

    /// MetricsQL's `@ (expression)`: `start()`, `end()`, numbers (seconds) and durations joined
    /// by `+` and `-`, with parentheses; at most one `start()`/`end()`, added.
    fn at_expression(&mut self) -> Result<At> {
        Ok(match self.at_sum(0)? {
            (None, ms) => At::Time(ms),
            (Some(end), ms) => At::Shifted { end, ms },
        })
    }

    /// A sum of `@` terms: the `start()` (false) or `end()` (true) it holds, and the rest in ms.
    fn at_sum(&mut self, depth: usize) -> Result<(Option<bool>, i64)> {
        if depth > NESTING_DEPTH_MAX {
            return Err(self.error(format!("expression nested deeper than {NESTING_DEPTH_MAX} levels")));
        }
        let mut base: Option<bool> = None;
        let mut total: i64 = 0;
        let mut negative = false;
        loop {
            self.skip_space();
            let term_at = self.offset();
            let (term_base, term_ms) = if self.eat("(") {
                let inner = self.at_sum(depth + 1)?;
                self.expect(")", "in @ expression")?;
                inner
            } else if self.eat_keyword("start") || self.peek_keyword("end") {
                let end = self.eat_keyword("end");
                self.expect("(", "in @ expression")?;
                self.expect(")", "in @ expression")?;
                (Some(end), 0)
            } else if let Ok((rest, ms)) = duration(self.rest) {
                self.rest = rest;
                (None, ms)
            } else if let Ok((rest, seconds)) = number(self.rest) {
                self.rest = rest;
                if !(seconds * 1000.0).is_finite() || (seconds * 1000.0).abs() >= i64::MAX as f64 {
                    return Err(self.error_at(term_at, "timestamp out of bounds for @ modifier"));
                }
                (None, (seconds * 1000.0).round() as i64)
            } else {
                return Err(self.error(format!("unexpected {} in @ expression, expected start(), end(), a number or a duration", self.describe_next())));
            };
            if let Some(b) = term_base {
                if base.is_some() || negative {
                    return Err(self.error_at(term_at, "an @ expression may add one start() or end(), not subtract it or use two"));
                }
                base = Some(b);
            }
            let term = if negative { term_ms.checked_neg() } else { Some(term_ms) };
            total = term.and_then(|t| total.checked_add(t)).ok_or_else(|| self.error_at(term_at, "timestamp out of bounds for @ modifier"))?;
            self.skip_space();
            if self.eat("+") {
                negative = false;
            } else if self.rest.starts_with('-') {
                self.rest = &self.rest[1..];
                negative = true;
            } else {
                return Ok((base, total));
            }
        }
    }

    /// Applies `anchored` (or `smoothed`) to a vector or range selector.
    fn set_extended(&self, expr: &mut Expr, anchored: bool, at: usize) -> Result<()> {
        let name = if anchored { "anchored" } else { "smoothed" };
        let vs = match expr {
            Expr::VectorSelector(vs) | Expr::MatrixSelector { selector: vs, .. } => vs,
            Expr::Subquery(_) => return Err(self.error_at(at, format!("{name} modifier is not supported for subqueries"))),
            _ => return Err(self.error_at(at, format!("{name} modifier must follow a vector or range selector"))),
        };
        if (anchored && vs.smoothed) || (!anchored && vs.anchored) {
            return Err(self.error_at(at, "anchored and smoothed modifiers cannot be used together"));
        }
        if anchored {
            vs.anchored = true;
        } else {
            vs.smoothed = true;
        }
        Ok(())
    }

    /// The offset and `@` slots a modifier applies to.
    #[allow(clippy::type_complexity)]
    fn modifier_target<'e>(&self, expr: &'e mut Expr, start: usize, what: &str) -> Result<(&'e mut i64, &'e mut Option<At>, &'e mut Option<DurationExpr>)> {
        match expr {
            Expr::VectorSelector(vs) => Ok((&mut vs.offset_ms, &mut vs.at, &mut vs.offset_expr)),
            Expr::MatrixSelector { selector, .. } => Ok((&mut selector.offset_ms, &mut selector.at, &mut selector.offset_expr)),
            Expr::Subquery(sq) => Ok((&mut sq.offset_ms, &mut sq.at, &mut sq.offset_expr)),
            _ => Err(self.error_at(start, format!("{what} modifier must be preceded by an instant vector selector or range vector selector or a subquery"))),
        }
    }

    fn primary(&mut self) -> Result<Expr> {
        self.skip_space();
        let start = self.offset();
        let number_list = std::mem::take(&mut self.number_list_next);
        let string_list = std::mem::take(&mut self.string_list_next);
        let Some(first) = self.rest.chars().next() else {
            return Err(self.error("unexpected end of input"));
        };
        if first == '(' {
            self.rest = &self.rest[1..];
            let mut inner = self.expr(0)?;
            if self.eat(",") {
                return self.union_of(inner, start, number_list, string_list);
            }
            self.expect(")", "in paren expression")?;
            // MetricsQL's `(a + b) keep_metric_names`: the operation (or call) inside keeps its
            // result's names; the parentheses are then only the modifier's.
            if self.peek_keyword("keep_metric_names") {
                let slot = match &mut inner {
                    Expr::Binary(b) => &mut b.keep_metric_names,
                    Expr::Call { keep_metric_names, .. } => keep_metric_names,
                    _ => return Err(self.error("keep_metric_names must follow a function call or a binary operation")),
                };
                self.rest = &self.rest["keep_metric_names".len()..];
                *slot = true;
                return Ok(inner);
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
            // A duration where a number is expected means its seconds (`predict_linear(x, 1h)`).
            if let Ok((rest, ms)) = duration(self.rest) {
                if !rest.starts_with(lexemes::is_metric_char) {
                    self.rest = rest;
                    return Ok(Expr::Number(ms as f64 / 1000.0));
                }
            }
            // MetricsQL's `2i` as a number: two steps of the grid, in seconds.
            if let Ok((rest, steps)) = number(self.rest) {
                if let Some(after) = rest.strip_prefix('i').filter(|after| !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')) {
                    self.rest = after;
                    return Ok(call_node(&crate::functions::STEP_MULTIPLE, vec![Expr::Number(steps)], Pos::at(start)));
                }
            }
            if let Ok((rest, v)) = lexemes::number_with_multiplier(self.rest) {
                self.rest = rest;
                return Ok(Expr::Number(v));
            }
        }
        // Grafana's `$__interval` and `$__rate_interval`, as MetricsQL reads them: `1i`.
        if let Some(rest) = lexemes::after_grafana_interval(self.rest) {
            self.rest = rest;
            return Ok(call_node(&crate::functions::STEP_MULTIPLE, vec![Expr::Number(1.0)], Pos::at(start)));
        }
        if let Some((rest, ident)) = identifier(self.rest, IdentifierKind::Metric) {
            if ident.eq_ignore_ascii_case("inf") || ident.eq_ignore_ascii_case("nan") {
                self.rest = rest;
                return Ok(Expr::Number(if ident.eq_ignore_ascii_case("inf") { f64::INFINITY } else { f64::NAN }));
            }
            let after = rest.trim_start();
            if let Some(op) = AggregateOp::from_name(&ident.to_ascii_lowercase()) {
                let keyword_next = ["by", "without"].iter().any(|k| starts_with_keyword(after, k));
                if after.starts_with('(') || keyword_next {
                    self.rest = rest;
                    return self.aggregate(op, start);
                }
            }
            // Keywords Prometheus never reads as a metric name (its grammar's
            // `metric_identifier` leaves them out): `x + on` or `x + +bool` are errors there.
            if ["on", "ignoring", "group_left", "group_right", "bool", "atan2"].iter().any(|k| ident.eq_ignore_ascii_case(k)) {
                return Err(self.error(format!("unexpected <{}>", ident.to_ascii_lowercase())));
            }
            if after.starts_with('(') {
                self.rest = rest;
                return self.call(&ident, start);
            }
            self.rest = rest;
            return self.selector(Some(ident.into_owned()), start);
        }
        Err(self.error(format!("unexpected {}", self.describe_next())))
    }

    /// A string literal, or MetricsQL's string literals joined by `+` as one
    /// (`{job="api" + "-v2"}`, `prefix "node_" + "x_"`); `context` names where, for errors.
    fn joined_strings(&mut self, context: &str) -> Result<String> {
        self.skip_space();
        let at = self.offset();
        let (rest, mut value) = string_literal(self.rest).map_err(|_| self.error_at(at, format!("unexpected {} {context}, expected string", self.describe_next())))?;
        self.rest = rest;
        while self.eat("+") {
            self.skip_space();
            let at = self.offset();
            let (rest, more) = string_literal(self.rest).map_err(|_| self.error_at(at, format!("unexpected {} after + {context}, expected string", self.describe_next())))?;
            self.rest = rest;
            value.push_str(&more);
        }
        Ok(value)
    }

    /// MetricsQL's `(q1, q2, …)`, after its first expression and comma: `union(q1, q2, …)`, the
    /// series of them all (a trailing comma allowed). Numbers only, where `number_list` allows
    /// them (after `==`/`!=`), are held as one `functions::ARGUMENT_LIST` call for
    /// `check_binary` to compare with each; so are strings only where `string_list` allows
    /// them (`aggr_over_time`'s first argument).
    fn union_of(&mut self, first: Expr, start: usize, number_list: bool, string_list: bool) -> Result<Expr> {
        let mut args = vec![default_rolled_up(first)];
        loop {
            self.skip_space();
            if self.eat(")") {
                break;
            }
            args.push(default_rolled_up(self.expr(0)?));
            if !self.eat(",") {
                self.expect(")", "in paren expression")?;
                break;
            }
        }
        // A list of strings is an argument (`aggr_over_time(("min_over_time", "rate"), m[d])`).
        if (number_list && args.iter().all(|a| matches!(a, Expr::Number(_)))) || (string_list && args.iter().all(|a| matches!(a, Expr::String(_)))) {
            return Ok(call_node(&crate::functions::ARGUMENT_LIST, args, Pos::at(start)));
        }
        // Scalars in the list are series without labels (`(1, 2)`, `(up, 0)`).
        let args: Vec<Expr> = args.into_iter().map(series_of).collect();
        if let Some(other) = args.iter().find(|a| a.value_type() != ValueType::Vector) {
            return Err(self.error_at(start, format!("expected instant vectors in a list (q1, q2, …), got {}", other.value_type().name())));
        }
        let Some(func) = crate::functions::lookup("union") else {
            return Err(self.error_at(start, "unknown function with name \"union\""));
        };
        Ok(call_node(func, args, Pos::at(start)))
    }

    /// MetricsQL's `{__graphite__="a.*.c"}`: the metric names the Graphite glob names (`=`),
    /// or the others (`!=`), as a regular expression matcher on `__name__`.
    fn graphite_matcher(&self, op: MatchOp, glob: &str, value_at: usize) -> Result<Matcher> {
        let negated = match op {
            MatchOp::Equal => false,
            MatchOp::NotEqual => true,
            MatchOp::RegexMatch | MatchOp::RegexNoMatch => {
                return Err(self.error_at(value_at, format!("{} takes a Graphite glob with = or !=, not a regular expression", crate::graphite_glob::GRAPHITE_LABEL)))
            }
        };
        crate::graphite_glob::name_matcher(glob, negated).map_err(|e| self.error_at(value_at, e))
    }

    fn selector(&mut self, name: Option<String>, start: usize) -> Result<Expr> {
        let mut matchers = self.name_matchers(&name)?;
        let mut bare_name: Option<String> = None;
        // MetricsQL's `or` between filters: the alternatives finished so far.
        let mut finished: Vec<Vec<Matcher>> = Vec::new();
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
                } else if let Some((rest, ident)) = identifier(self.rest, IdentifierKind::Label) {
                    self.rest = rest;
                    ident.into_owned()
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
                    // MetricsQL takes the written name again (`m{"m"}`), nothing else.
                    if bare_name.is_some() || name.as_ref().is_some_and(|n| *n != label) {
                        return Err(self.error_at(at, "metric name must not be set twice"));
                    }
                    bare_name = Some(label.clone());
                    matchers.push(Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, label).map_err(|e| self.error(e.to_string()))?);
                    if self.eat_keyword("or") {
                        self.next_alternative(&name, &mut matchers, &mut finished, &mut bare_name)?;
                    } else if !self.eat(",") && !self.rest.starts_with('}') {
                        return Err(self.error("expected \",\" or \"}\""));
                    }
                    continue;
                } else {
                    return Err(self.error(format!("unexpected {} in label matching, expected label matching operator", self.describe_next())));
                };
                self.skip_space();
                let value_at = self.offset();
                let value = self.joined_strings("in label matching")?;
                // MetricsQL takes the written name again (`m{__name__="m"}`), nothing else.
                let same_name = op == MatchOp::Equal && name.as_deref() == Some(value.as_str());
                if label == METRIC_NAME_LABEL && name.is_some() && !same_name {
                    return Err(self.error_at(at, "metric name must not be set twice"));
                }
                let matcher = if label == crate::graphite_glob::GRAPHITE_LABEL {
                    self.graphite_matcher(op, &value, value_at)?
                } else {
                    Matcher::new(op, label, value).map_err(|e| self.error_at(value_at, format!("invalid regular expression: {e}")))?
                };
                matchers.push(matcher);
                self.skip_space();
                if self.eat(",") {
                    continue;
                }
                if self.eat_keyword("or") {
                    self.next_alternative(&name, &mut matchers, &mut finished, &mut bare_name)?;
                    continue;
                }
                if !self.rest.starts_with('}') {
                    return Err(self.error(format!("unexpected {} in label matching, expected \",\" or \"}}\"", self.describe_next())));
                }
            }
        }
        let label_selector = std::mem::take(&mut self.label_selector_next);
        if !finished.is_empty() {
            finished.push(matchers);
            matchers = finished.remove(0);
        }
        let or_matchers = finished;
        let all_match_empty = |set: &[Matcher]| set.iter().all(|m| m.matches_empty());
        if !label_selector && (all_match_empty(&matchers) || or_matchers.iter().any(|set| all_match_empty(set))) {
            return Err(self.error_at(start, "vector selector must contain at least one non-empty matcher"));
        }
        Ok(Expr::VectorSelector(VectorSelector { name, matchers, or_matchers, offset_ms: 0, offset_expr: None, at: None, anchored: false, smoothed: false, pos: Pos::at(start) }))
    }

    /// After MetricsQL's `or` in label filters: the filters so far are one alternative, and
    /// the next starts with the metric name's matcher, if the selector names one.
    fn next_alternative(&mut self, name: &Option<String>, matchers: &mut Vec<Matcher>, finished: &mut Vec<Vec<Matcher>>, bare_name: &mut Option<String>) -> Result<()> {
        let named = self.name_matchers(name)?;
        finished.push(std::mem::replace(matchers, named));
        *bare_name = None;
        self.peek_after_or()
    }

    /// The matcher of a selector's written name (none without one).
    fn name_matchers(&self, name: &Option<String>) -> Result<Vec<Matcher>> {
        name.iter().map(|n| Matcher::new(MatchOp::Equal, METRIC_NAME_LABEL, n.clone()).map_err(|e| self.error(e.to_string()))).collect()
    }

    /// `or` must be followed by a filter, not by the end of the braces.
    fn peek_after_or(&mut self) -> Result<()> {
        self.skip_space();
        match self.rest.chars().next() {
            None | Some('}' | ',') => Err(self.error(format!("unexpected {} after \"or\" in label filters, expected a label filter", self.describe_next()))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
