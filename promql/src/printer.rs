//! Renders a syntax tree back to canonical PromQL (as `/api/v1/format_query` returns it):
//! durations in largest units, `by`/`without` before the arguments, strings double-quoted,
//! duration expressions, `anchored`/`smoothed` and `fill*` modifiers as written.

use std::fmt::Write;

use tsdb::{MatchOp, METRIC_NAME_LABEL};

use crate::ast::{AggregateOp, At, Cardinality, DurationExpr, Expr, VectorSelector};

/// `1h30m`, `5m`, `500ms`, `0s`.
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let (sign, mut rest) = if ms < 0 { ("-", -(ms as i128)) } else { ("", ms as i128) };
    let mut out = String::from(sign);
    for (unit, size) in [("y", 31_536_000_000i128), ("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if rest >= size {
            let _ = write!(out, "{}{unit}", rest / size);
            rest %= size;
        }
    }
    out
}

/// `s` as a double-quoted string with Go's escapes (`strconv.Quote` for the text PromQL meets).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as PromQL prints it: the shortest digits, never an exponent; `NaN`, `±Inf`.
pub(crate) fn format_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

fn is_plain_label(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn label_name(name: &str) -> String {
    if is_plain_label(name) { name.to_string() } else { quote(name) }
}

fn at_modifier(out: &mut String, at: Option<At>) {
    match at {
        Some(At::Time(t)) => {
            let _ = write!(out, " @ {:.3}", t as f64 / 1000.0);
        }
        Some(At::Start) => out.push_str(" @ start()"),
        Some(At::End) => out.push_str(" @ end()"),
        Some(At::Shifted { end, ms }) => {
            let base = if end { "end()" } else { "start()" };
            let _ = write!(out, " @ ({base} {} {})", if ms < 0 { '-' } else { '+' }, format_number(ms.unsigned_abs() as f64 / 1000.0));
        }
        None => {}
    }
}

fn offset_modifier(out: &mut String, offset_ms: i64, offset_expr: Option<&DurationExpr>) {
    match offset_expr {
        // The parser only produces operands here; anything else is parenthesised so that the
        // operators stay inside the offset.
        Some(e @ DurationExpr::Binary { .. }) => {
            out.push_str(" offset (");
            write_duration(out, e);
            out.push(')');
        }
        Some(e) => {
            out.push_str(" offset ");
            write_duration(out, e);
        }
        None if offset_ms != 0 => {
            let _ = write!(out, " offset {}", format_duration(offset_ms));
        }
        None => {}
    }
}

fn extended_modifier(out: &mut String, vs: &VectorSelector) {
    if vs.anchored {
        out.push_str(" anchored");
    } else if vs.smoothed {
        out.push_str(" smoothed");
    }
}

/// A duration expression as written (literals with units print as durations).
pub fn write_duration(out: &mut String, expr: &DurationExpr) {
    match expr {
        DurationExpr::Number { seconds, unit: true } if seconds.is_finite() => out.push_str(&format_duration((seconds * 1000.0).round() as i64)),
        DurationExpr::Number { seconds, .. } => out.push_str(&format_number(*seconds)),
        DurationExpr::Step => out.push_str("step()"),
        DurationExpr::Range => out.push_str("range()"),
        DurationExpr::Omitted => {}
        DurationExpr::StepMultiple(n) => {
            let _ = write!(out, "{}i", format_number(*n));
        }
        DurationExpr::MinOf(a, b) | DurationExpr::MaxOf(a, b) => {
            out.push_str(if matches!(expr, DurationExpr::MinOf(..)) { "min_of(" } else { "max_of(" });
            write_duration(out, a);
            out.push_str(", ");
            write_duration(out, b);
            out.push(')');
        }
        DurationExpr::Negate(e) => {
            out.push('-');
            write_duration(out, e);
        }
        DurationExpr::Paren(e) => {
            out.push('(');
            write_duration(out, e);
            out.push(')');
        }
        DurationExpr::Binary { op, lhs, rhs } => {
            write_duration(out, lhs);
            let _ = write!(out, " {} ", op.as_str());
            write_duration(out, rhs);
        }
    }
}

fn range_text(range_ms: i64, range_expr: Option<&DurationExpr>) -> String {
    match range_expr {
        Some(e) => {
            let mut out = String::new();
            write_duration(&mut out, e);
            out
        }
        None => format_duration(range_ms),
    }
}

fn selector(out: &mut String, vs: &VectorSelector) {
    let name_is_plain = vs.name.as_deref().is_some_and(|n| {
        let mut c = n.chars();
        c.next().is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':') && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
    });
    let is_name = |m: &tsdb::Matcher| name_is_plain && m.name == METRIC_NAME_LABEL && m.op == MatchOp::Equal && Some(m.value.as_str()) == vs.name.as_deref();
    let several = !vs.or_matchers.is_empty();
    // Each alternative of MetricsQL's `or` filters, without the name written before the braces
    // (kept in an alternative that has nothing else, so none is left empty).
    let shown: Vec<String> = vs
        .alternatives()
        .map(|set| {
            let only_name = set.iter().all(is_name);
            set.iter()
                .filter(|m| !is_name(m) || (several && only_name))
                .map(|m| format!("{}{}{}", label_name(&m.name), m.op.as_str(), quote(&m.value)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect();
    let filters = shown.join(" or ");
    if name_is_plain {
        out.push_str(vs.name.as_deref().unwrap_or_default());
        if !filters.is_empty() {
            let _ = write!(out, "{{{filters}}}");
        }
    } else {
        let _ = write!(out, "{{{filters}}}");
    }
}

fn labels_list(labels: &[String]) -> String {
    labels.iter().map(|l| label_name(l)).collect::<Vec<_>>().join(", ")
}

/// A binary operation without its `keep_metric_names`.
fn write_binary(out: &mut String, b: &crate::ast::Binary) {
    write_expr(out, &b.lhs);
    let _ = write!(out, " {}", b.op.as_str());
    if b.return_bool {
        out.push_str(" bool");
    }
    if let Some(m) = &b.matching {
        let explicit = m.on || !m.labels.is_empty();
        if explicit {
            let _ = write!(out, " {}({})", if m.on { "on" } else { "ignoring" }, labels_list(&m.labels));
        }
        match m.card {
            Cardinality::ManyToOne | Cardinality::OneToMany => {
                out.push_str(if m.card == Cardinality::ManyToOne { " group_left" } else { " group_right" });
                if m.include_all {
                    out.push_str("(*)");
                } else if !m.include.is_empty() {
                    let _ = write!(out, "({})", labels_list(&m.include));
                }
                if !m.include_prefix.is_empty() {
                    let _ = write!(out, " prefix {}", quote(&m.include_prefix));
                }
            }
            Cardinality::OneToOne | Cardinality::ManyToMany => {}
        }
        match (m.fill.lhs, m.fill.rhs) {
            (Some(l), Some(r)) if l.to_bits() == r.to_bits() => {
                let _ = write!(out, " fill({})", format_number(l));
            }
            (l, r) => {
                if let Some(l) = l {
                    let _ = write!(out, " fill_left({})", format_number(l));
                }
                if let Some(r) = r {
                    let _ = write!(out, " fill_right({})", format_number(r));
                }
            }
        }
    }
    out.push(' ');
    write_expr(out, &b.rhs);
}

/// Canonical PromQL for `expr`.
pub fn print(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr);
    out
}

fn write_expr(out: &mut String, expr: &Expr) {
    match expr {
        Expr::Number(v) => out.push_str(&format_number(*v)),
        Expr::String(s) => out.push_str(&quote(s)),
        Expr::VectorSelector(vs) => {
            selector(out, vs);
            at_modifier(out, vs.at);
            extended_modifier(out, vs);
            offset_modifier(out, vs.offset_ms, vs.offset_expr.as_ref());
        }
        Expr::MatrixSelector { selector: vs, range_ms, range_expr } => {
            selector(out, vs);
            // MetricsQL's left-out window prints as it was written: not at all.
            if !matches!(range_expr, Some(DurationExpr::Omitted)) {
                let _ = write!(out, "[{}]", range_text(*range_ms, range_expr.as_ref()));
            }
            extended_modifier(out, vs);
            at_modifier(out, vs.at);
            offset_modifier(out, vs.offset_ms, vs.offset_expr.as_ref());
        }
        Expr::Subquery(sq) => {
            // MetricsQL's implicit subqueries (`rate(a - b)`) hold operations written without
            // parentheses: they need them to read back as the subquery's expression.
            if matches!(sq.expr, Expr::Binary(_) | Expr::Negate(_)) {
                out.push('(');
                write_expr(out, &sq.expr);
                out.push(')');
            } else {
                write_expr(out, &sq.expr);
            }
            let step = match (&sq.step_expr, sq.step_ms) {
                (Some(e), _) => range_text(0, Some(e)),
                (None, Some(ms)) => format_duration(ms),
                (None, None) => String::new(),
            };
            let _ = write!(out, "[{}:{step}]", range_text(sq.range_ms, sq.range_expr.as_ref()));
            at_modifier(out, sq.at);
            offset_modifier(out, sq.offset_ms, sq.offset_expr.as_ref());
        }
        Expr::Paren(e) => {
            out.push('(');
            write_expr(out, e);
            out.push(')');
        }
        Expr::Negate(e) => {
            out.push('-');
            write_expr(out, e);
        }
        Expr::Binary(b) if b.keep_metric_names => {
            // Parenthesised so that the modifier reads back onto this operation.
            out.push('(');
            write_binary(out, b);
            out.push_str(") keep_metric_names");
        }
        Expr::Binary(b) => write_binary(out, b),
        Expr::Aggregate(a) => {
            out.push_str(a.op.name());
            if a.without || !a.grouping.is_empty() {
                let _ = write!(out, " {} ({}) ", if a.without { "without" } else { "by" }, labels_list(&a.grouping));
            }
            out.push('(');
            if a.op == AggregateOp::Quantiles {
                if let Some(label) = &a.other_label {
                    out.push_str(&quote(label));
                    out.push_str(", ");
                }
            }
            if let Some(p) = &a.param {
                write_expr(out, p);
                out.push_str(", ");
            }
            write_expr(out, &a.expr);
            if let (Some(label), false) = (&a.other_label, a.op == AggregateOp::Quantiles) {
                out.push_str(", ");
                out.push_str(&quote(label));
            }
            out.push(')');
            if let Some(limit) = a.limit {
                let _ = write!(out, " limit {limit}");
            }
        }
        // MetricsQL's `Ni` as a number.
        Expr::Call { func, args, .. } if std::ptr::eq(*func, &crate::functions::STEP_MULTIPLE) => {
            if let [Expr::Number(n)] = args.as_slice() {
                let _ = write!(out, "{}i", format_number(*n));
            }
        }
        // Several arguments held as one: written as they were, comma-separated.
        Expr::Call { func, args, .. } if std::ptr::eq(*func, &crate::functions::ARGUMENT_LIST) => {
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, arg);
            }
        }
        Expr::Call { func, args, keep_metric_names, .. } => {
            out.push_str(func.name);
            out.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, arg);
            }
            out.push(')');
            if *keep_metric_names {
                out.push_str(" keep_metric_names");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;
    use proptest::prelude::*;

    #[test]
    fn canonical_forms() {
        let table: &[(&str, &str)] = &[
            ("sum(rate(foo{job=\"a\"}[5m])) by (job)", "sum by (job) (rate(foo{job=\"a\"}[5m]))"),
            ("foo offset 90m", "foo offset 1h30m"),
            ("a*on(x)group_left(y)b", "a * on(x) group_left(y) b"),
            ("x[1h:]", "x[1h:]"),
            ("{\"my.metric\", a='b'}", "{__name__=\"my.metric\", a=\"b\"}"),
            ("topk(3, x) @ 100", "topk(3, x @ 100.000)"),
            ("1 > bool 2", "1 > bool 2"),
            ("foo[26m+4m]", "foo[26m + 4m]"),
            ("foo[-5m+1800]", "foo[-5m + 1800]"),
            ("x offset -step()*2", "x offset -step() * 2"),
            ("x[1h:max_of(STEP(),5s)] offset (1h/2)", "x[1h:max_of(step(), 5s)] offset (1h / 2)"),
            ("x offset -(min_of(range(), 2s)-5)", "x offset -(min_of(range(), 2s) - 5)"),
            ("x offset +90m", "x offset 1h30m"),
            ("rate(x[5m] offset 1m anchored @ 10)", "rate(x[5m] anchored @ 10.000 offset 1m)"),
            ("x offset 5m SMOOTHED @ 10", "x @ 10.000 smoothed offset 5m"),
            ("a+fill_right(1)fill_left(-2)b", "a + fill_left(-2) fill_right(1) b"),
            ("a*on(x)group_left fill(1m)b", "a * on(x) group_left fill(60) b"),
        ];
        for (input, expected) in table {
            let printed = match parse(input) {
                Ok(e) => print(&e),
                Err(e) => e.to_string(),
            };
            if *input == "topk(3, x) @ 100" {
                // MetricsQL: `@` after any expression reaches each selector inside it.
                assert_eq!(printed, "topk(3, x @ 100.000)");
                continue;
            }
            assert_eq!(printed, *expected, "{input}");
        }
    }

    /// MetricsQL's functions whose arguments are not all of one kind print as they parse.
    #[test]
    fn metricsql_calls_round_trip() {
        for source in [
            "aggr_over_time(\"max_over_time\", foo[5m])",
            "hoeffding_bound_upper(0.9, foo[5m])",
            "holt_winters(foo[5m], 0.5, 0.1)",
            "rate_prometheus(foo[5m]) keep_metric_names",
            "stale_samples_over_time(foo[5m:1m])",
            "timestamp_with_name(foo[1m])",
            "bitmap_xor(foo, 3)",
            "rand() + rand_normal(2) + rand_exponential(3)",
            "timezone_offset(\"Europe/Berlin\")",
            "label_map(foo, \"a\", \"x\", \"y\")",
            "labels_equal(drop_empty_series(foo), \"a\", \"b\")",
        ] {
            let ast = parse(source).unwrap_or_else(|e| panic!("{source}: {e}"));
            let printed = print(&ast);
            assert_eq!(parse(&printed).as_ref(), Ok(&ast), "{source} printed as {printed}");
        }
    }

    fn atom() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("foo".to_string()),
            Just("bar{a=\"1\", b!~\"x|y\"}".to_string()),
            Just("1.5".to_string()),
            Just("rate(foo[5m])".to_string()),
            Just("foo offset -1h".to_string()),
            Just("foo @ 123.456".to_string()),
            Just("max_over_time(foo[1h:5m])".to_string()),
            Just("{\"odd.name\"}".to_string()),
            Just("rate(foo[5m * 2])".to_string()),
            Just("rate(foo[step() + 1m])".to_string()),
            Just("foo offset (1h / 2)".to_string()),
            Just("foo offset -step()".to_string()),
            Just("max_over_time(foo[1h:min_of(step(), 5m)] offset -(1m - 5))".to_string()),
            Just("foo[(5m)] @ 10".to_string()),
            Just("foo[-2 ^ 2 + 10]".to_string()),
            Just("increase(foo[5m] anchored)".to_string()),
            Just("foo smoothed offset 1m".to_string()),
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        atom().prop_recursive(4, 32, 3, |inner| {
            prop_oneof![
                (inner.clone(), prop_oneof![Just("+"), Just("*"), Just("^"), Just("/ on(a) group_left(b)"), Just("> bool"), Just("and"), Just("or ignoring(a)"), Just("+ fill(0)"), Just("/ on(a) group_left(b) fill_right(-Inf) fill_left(1)")], inner.clone())
                    .prop_map(|(l, op, r)| format!("{l} {op} {r}")),
                inner.clone().prop_map(|e| format!("({e})")),
                inner.clone().prop_map(|e| format!("-{e}")),
                inner.clone().prop_map(|e| format!("sum without (a, b) ({e})")),
                inner.clone().prop_map(|e| format!("topk(2, {e})")),
                inner.clone().prop_map(|e| format!("abs({e})")),
            ]
        })
    }

    proptest! {
        #[test]
        fn parse_print_parse_is_identity(source in expr()) {
            // Only well-typed sources are interesting; the generator can build ill-typed ones.
            if let Ok(ast) = parse(&source) {
                let printed = print(&ast);
                let reparsed = parse(&printed);
                prop_assert!(reparsed.is_ok(), "{source} printed as {printed}: {reparsed:?}");
                prop_assert_eq!(reparsed.unwrap(), ast, "{} printed as {}", source, printed);
            }
        }
    }
}
