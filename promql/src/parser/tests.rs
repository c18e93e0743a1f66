//! Tests of the PromQL parser: matchers, precedence, modifiers, positions and the errors it names.

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
fn graphite_selectors_match_metric_names_by_glob() {
    assert_eq!(selector_matchers(r#"{__graphite__="a.*.{b,c}"}"#), vec![r#"__name__=~"a\\.[^\\.]*\\.(?:b|c)""#]);
    assert_eq!(selector_matchers(r#"foo{__graphite__!="x.y", job="j"}"#), vec!["__name__=\"foo\"", r#"__name__!~"x\\.y""#, "job=\"j\""]);
    let matcher = match parse(r#"{__graphite__="srv.*.cpu"}"#).unwrap() {
        Expr::VectorSelector(vs) => vs.matchers[0].clone(),
        other => panic!("not a selector: {other:?}"),
    };
    assert!(matcher.matches("srv.web1.cpu"));
    assert!(!matcher.matches("srv.web1.disk.cpu"));
    assert!(!matcher.matches("srv.web1.cpu.idle"));
    let err = parse(r#"{__graphite__=~"a.*"}"#).unwrap_err().to_string();
    assert!(err.contains("__graphite__ takes a Graphite glob with = or !="), "{err}");
}

#[test]
fn precedence_and_associativity() {
    let p = |q| parse(q).unwrap();
    let n = Expr::Number;
    let bin = |op, lhs: Expr, rhs: Expr| Expr::Binary(Box::new(Binary { op, lhs, rhs, return_bool: false, matching: None, keep_metric_names: false, pos: Pos::default() }));
    assert_eq!(p("1 + 2 * 3"), bin(BinaryOp::Add, n(1.0), bin(BinaryOp::Mul, n(2.0), n(3.0))));
    assert_eq!(p("2 ^ 3 ^ 2"), bin(BinaryOp::Pow, n(2.0), bin(BinaryOp::Pow, n(3.0), n(2.0))));
    assert_eq!(p("-2 ^ 2"), Expr::Negate(Box::new(bin(BinaryOp::Pow, n(2.0), n(2.0)))));
    assert!(matches!(p("1 - 2 - 3"), Expr::Binary(b) if b.op == BinaryOp::Sub && matches!(&b.lhs, Expr::Binary(inner) if inner.op == BinaryOp::Sub)));
    assert!(matches!(p("foo[5m] offset -1h"), Expr::MatrixSelector { range_ms: 300_000, selector, .. } if selector.offset_ms == -3_600_000));
    assert!(matches!(p("1 > bool 2"), Expr::Binary(b) if b.return_bool));
    assert!(matches!(p("sum by (job) (rate(x[5m]))"), Expr::Aggregate(a) if a.grouping == vec!["job"] && !a.without));
    assert!(matches!(p("topk(3, x) without (a)"), Expr::Aggregate(a) if a.without && a.param.is_some()));
    assert!(matches!(p("a * on(x) group_left(y) b"), Expr::Binary(b) if b.matching.as_ref().is_some_and(|m| m.on && m.include == vec!["y"])));
    assert!(matches!(p("x[1h:5m] offset 1m @ 100"), Expr::Subquery(s) if s.step_ms == Some(300_000) && s.offset_ms == 60_000));
    assert!(matches!(p("a or b and c"), Expr::Binary(b) if b.op == BinaryOp::Or));
}

#[test]
fn errors_have_positions_and_messages() {
    let table: &[(&str, &str)] = &[
        ("up{", "1:4: parse error: unexpected end of input in label matching"),
        ("up{job=}", "1:8: parse error: unexpected \"}\" in label matching, expected string"),
        ("{job=~\"\"}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ("up )", "1:4: parse error: unexpected \")\""),
        ("", "no expression found"),
        ("foo{a=~\"(\"}", "invalid regular expression"),
        ("sum(up, \"a\")", "wrong number of arguments for aggregate expression provided, expected 1, got 2 (the aggregation of several takes series, not a string)"),
        ("nosuchfn(up)", "unknown function with name \"nosuchfn\""),
        ("sum by (a) (up) by (b)", "aggregation must only contain one grouping clause"),
        ("info(x, y)", "expected label selectors only, got vector selector instead"),
        ("info(x, sum({a=\"b\"}))", "expected label selectors only"),
        ("info(x, {a=\"b\"}, {c=\"d\"})", "expected 1 to 2 argument(s)"),
        ("info(x, {a=~\".*\"} + {b=~\".*\"})", "vector selector must contain at least one non-empty matcher"),
        // Prometheus 3.14's words and positions (the bracket) for ranges after modifiers.
        ("some_metric @ start() [5m]", "1:23: parse error: no @ modifiers allowed before range"),
        ("some_metric @ end()[5m]", "1:20: parse error: no @ modifiers allowed before range"),
        ("some_metric offset step()[5m]", "1:26: parse error: no offset modifiers allowed before range"),
        ("some_metric offset 1m @ 10 [5m]", "1:28: parse error: no offset modifiers allowed before range"),
        // A range after any other instant vector is a MetricsQL subquery; a scalar's is refused.
        ("(1 + 2)[5m]", "1:8: parse error: ranges only allowed for vector selectors"),
    ];
    for (q, expected) in table {
        let err = parse(q).unwrap_err().to_string();
        assert!(err.contains(expected), "{q:?}: {err}");
    }
}

#[test]
fn info_label_selectors_may_match_empty_values() {
    assert!(parse("info(x, {data=~\".*\"})").is_ok());
    assert!(parse("info(x, {__name__=~\".+_info\", data=~\".+\"})").is_ok());
    assert!(parse("info({data=~\".*\"})").is_err());
    assert!(parse("{data=~\".*\"}").is_err());
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let q = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&q).unwrap_err().to_string().contains("nested deeper"));
}

#[test]
fn long_operator_chains_are_bounded_in_length() {
    let chain = |terms: usize| vec!["x"; terms].join(" + ");
    assert!(parse(&chain(BINARY_OPERATORS_MAX + 1)).is_ok());
    let err = parse(&chain(BINARY_OPERATORS_MAX + 2)).err().map(|e| e.to_string());
    assert!(err.as_deref().is_some_and(|e| e.contains("more than 1000 binary operators")), "{err:?}");
    // Counted over the whole expression, not per chain or per nesting level: 500 + 1 + 500
    // operators are too many, 500 + 1 + 499 are not.
    let halves = format!("({}) or ({})", chain(501), chain(501));
    assert!(parse(&halves).is_err_and(|e| e.to_string().contains("binary operators")));
    let halves = format!("({}) or ({})", chain(501), chain(500));
    assert!(parse(&halves).is_ok());
}

/// Found by the promql_parse fuzz target: a multi-byte character right after an aggregation
/// name was sliced mid-character while looking for `by`/`without`.
#[test]
fn vector_matching_keywords_are_not_metric_names() {
    // Found by CI's fuzz run: `la++on` parsed (unary plus on a metric named `on`) and
    // printed as `la + on`, which does not parse. Prometheus refuses both.
    for q in ["la++on", "la + on", "on", "-bool", "x * +ignoring", "GROUP_LEFT", "atan2"] {
        assert!(parse(q).is_err(), "{q} must be an error");
    }
    for q in ["x + on(job) y", "x > bool 1", "x atan2 y", "sum by (on, bool) (x)", "{__name__=\"on\"}", "x{on=\"1\"}", "fill + offset"] {
        assert!(parse(q).is_ok(), "{q} must parse");
    }
    // A metric really named like a keyword prints in a form that parses back.
    for q in ["{__name__=\"on\"}", "{\"bool\"}", "rate({__name__=\"group_left\"}[5m])"] {
        let printed = crate::printer::print(&parse(q).expect("parses"));
        assert!(parse(&printed).is_ok(), "{q} printed as {printed} does not parse");
    }
}

#[test]
fn multibyte_text_after_identifiers_is_an_error_not_a_panic() {
    for q in ["max[6h:\u{618}\u{7d0}4rm]ove", "max\u{7d0}", "sum b\u{7d0}", "rate(x[5m]) \u{e9}", "x{a=\"\u{e9}\"} bo\u{7d0}"] {
        let _ = parse(q);
    }
    assert!(parse("max\u{7d0}(x)").is_err());
    assert!(parse("sum by (a) (x)").is_ok());
}

#[test]
fn anchored_and_smoothed_modifiers() {
    let selector = |q: &str| match parse(q).unwrap() {
        Expr::VectorSelector(vs) => vs,
        Expr::Call { mut args, .. } => match args.remove(0) {
            Expr::MatrixSelector { selector, .. } => selector,
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(selector("rate(x[5m] anchored)").anchored);
    assert!(selector("rate(x anchored [5m])").anchored);
    assert!(selector("x @ 10 smoothed offset 1m").smoothed);
    // Only after an expression: a metric may still be called that.
    assert!(matches!(parse("anchored + smoothed"), Ok(Expr::Binary(_))));
    let table: &[(&str, &str)] = &[
        ("x[5m:1m] anchored", "anchored modifier is not supported for subqueries"),
        ("x[5m:1m] smoothed", "smoothed modifier is not supported for subqueries"),
        ("x anchored smoothed", "anchored and smoothed modifiers cannot be used together"),
        ("sum(x) smoothed", "smoothed modifier must follow a vector or range selector"),
    ];
    for (q, expected) in table {
        let err = parse(q).unwrap_err().to_string();
        assert!(err.contains(expected), "{q:?}: {err}");
    }
}

#[test]
fn positions_of_what_annotations_point_at() {
    let start = |p: Pos| p.0;
    let Expr::Call { pos, arg_pos, .. } = parse("sort( rate(x[5m]))").unwrap() else { panic!("a call") };
    assert_eq!((start(pos), arg_pos.iter().map(|p| start(*p)).collect::<Vec<_>>()), (0, vec![6]));
    let Expr::Aggregate(a) = parse("quantile by (a) (1.5, -x)").unwrap() else { panic!("an aggregation") };
    assert_eq!((start(a.pos), start(a.param_pos), start(a.expr_pos)), (0, 17, 22));
    // A binary expression starts where its left operand does, parentheses and unary
    // minus included; positions count bytes.
    let Expr::Binary(b) = parse("  (a) + b * c").unwrap() else { panic!("a binary expression") };
    assert_eq!(start(b.pos), 2);
    let Expr::Binary(b) = parse("-a + b").unwrap() else { panic!("a binary expression") };
    assert_eq!(start(b.pos), 0);
    let Expr::Binary(b) = parse("x{a=\"é\"} + b * c").unwrap() else { panic!("a binary expression") };
    let Expr::Binary(rhs) = &b.rhs else { panic!("a binary right operand") };
    assert_eq!(start(rhs.pos), 12);
    assert_eq!(Pos(8).line_col("\"é\"\n + b * c"), Some((2, 4)));
    assert_eq!(Pos(9).line_col("x"), None);
    // Arguments lose their parentheses (as in Prometheus), binary operands do not.
    let Expr::Call { arg_pos, .. } = parse("rate( ( # why\n (x[5m])))").unwrap() else { panic!("a call") };
    assert_eq!(start(arg_pos[0]), 16);
    let Expr::Aggregate(a) = parse("sum((a) + b)").unwrap() else { panic!("an aggregation") };
    assert_eq!(start(a.expr_pos), 4);
    // Positions never make expressions unequal.
    assert_eq!(parse("sum(x)").unwrap(), parse("sum (  x )").unwrap());
}

#[test]
fn series_selector_for_match_params() {
    assert_eq!(parse_series_selector("{job=\"a\"}").unwrap().len(), 1);
    assert!(parse_series_selector("1 + 1").is_err());
}

#[test]
fn metricsql_number_multipliers_and_durations_stay_apart() {
    let value = |q: &str| match crate::parser::parse(q) {
        Ok(crate::ast::Expr::Binary(b)) => match b.rhs {
            crate::ast::Expr::Number(v) => v,
            other => panic!("{q}: {other:?}"),
        },
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(value("x > 512Mi"), 536_870_912.0);
    assert_eq!(value("x > 1.5KB"), 1500.0);
    assert_eq!(value("x > 5m"), 300.0, "a duration's seconds, as in Prometheus 3");
    assert_eq!(value("x > 5ms"), 0.005);
    assert_eq!(value("x > 5M"), 5e6, "a capital M is a million, as in MetricsQL");
    // MetricsQL's units in any case, but a capital M: `1H30S` is 1h30s.
    assert_eq!(value("x > 1H30S"), 3630.0);
    assert_eq!(value("x > 2MS"), 0.002);
    assert!(crate::parser::parse("x > 1H30M").is_err(), "30M is no duration part");
}


#[test]
fn metricsql_or_filters_are_alternatives_each_with_the_name() {
    let alternatives = |q: &str| match parse(q).unwrap() {
        Expr::VectorSelector(vs) => vs.alternatives().map(|set| set.iter().map(|m| m.to_string()).collect::<Vec<_>>()).collect::<Vec<_>>(),
        other => panic!("not a selector: {other:?}"),
    };
    assert_eq!(
        alternatives(r#"up{job="a", i="1" or job="b"}"#),
        vec![vec!["__name__=\"up\"", "job=\"a\"", "i=\"1\""], vec!["__name__=\"up\"", "job=\"b\""]]
    );
    assert_eq!(alternatives(r#"{a="1" OR __name__=~"x|y"}"#), vec![vec!["a=\"1\""], vec!["__name__=~\"x|y\""]]);
    // A label named `or` is still a label.
    assert_eq!(alternatives(r#"{or="x" or or="y"}"#), vec![vec!["or=\"x\""], vec!["or=\"y\""]]);
    assert_eq!(crate::printer::print(&parse(r#"up{job="a",i="1" or job="b"}"#).unwrap()), r#"up{job="a", i="1" or job="b"}"#);
    assert_eq!(crate::printer::print(&parse(r#"rate({a="1" or b="2"}[5m])"#).unwrap()), r#"rate({a="1" or b="2"}[5m])"#);
    // Each alternative needs a non-empty matcher; `or` needs a filter after it.
    for bad in [r#"{a="1" or b=""}"#, r#"{a="1" or}"#, r#"{a="1" or , b="2"}"#] {
        assert!(parse(bad).is_err(), "{bad}");
    }
    assert!(parse(r#"up{a="" or b=""}"#).is_ok(), "the name is a non-empty matcher in each");
    assert_eq!(parse_series_selector_alternatives(r#"{a="1" or b="2"}"#).map(|sets| sets.len()), Ok(2));
    let refused = parse_series_selector(r#"{a="1" or b="2"}"#).unwrap_err().to_string();
    assert!(refused.contains("\"or\" between label filters is not allowed here"), "{refused}");
}

#[test]
fn metricsql_reads_scalars_as_series_where_promql_takes_only_vectors() {
    let shown = |q: &str| crate::printer::print(&parse(q).unwrap());
    assert_eq!(shown("3 >= 2"), "vector(3) >= vector(2)");
    assert_eq!(shown("1 or x"), "vector(1) or x");
    assert_eq!(shown("1 default 2"), "vector(1) default vector(2)");
    assert_eq!(shown("1 > bool 2"), "1 > bool 2", "bool keeps PromQL's scalar answer");
    assert_eq!(shown("x > 2"), "x > 2");
    assert_eq!(shown(r#""foo" + ('bar')"#), r#""foobar""#);
    assert_eq!(shown(r#"m{__name__="m", a="b"}"#), r#"m{a="b"}"#);
    assert!(parse(r#"m{__name__="n"}"#).is_err());
    assert!(parse(r#""a" - "b""#).is_err());
    // Where a function or an aggregation wants a vector, too; a scalar argument stays one.
    assert_eq!(shown("floor(time() / 60)"), "floor(vector(time() / 60))");
    assert_eq!(shown("round(time(), 60)"), "round(vector(time()), 60)");
    assert_eq!(shown("sum(1)"), "sum(vector(1))");
    assert_eq!(shown("topk(2, 5)"), "topk(2, vector(5))");
    assert_eq!(shown("sum(up, 1)"), "sum(up, vector(1))", "one of several");
    assert_eq!(shown("sum without (a) (x, 2 + 2)"), "sum without (a) (x, vector(2 + 2))");
    assert!(parse(r#"abs("a")"#).is_err(), "a string is no series");
}

#[test]
fn metricsql_implicit_rollups_and_subqueries() {
    let shown = |q: &str| crate::printer::print(&parse(q).unwrap());
    assert_eq!(shown("up[5m] + 1"), "default_rollup(up[5m]) + 1");
    assert_eq!(shown("sum(x[5m])"), "sum(default_rollup(x[5m]))");
    assert_eq!(shown("abs(x[5m])"), "abs(default_rollup(x[5m]))");
    assert_eq!(shown("rate(sum(up))"), "rate(sum(up)[2i:1i])");
    assert_eq!(shown("max_over_time(rate(x[5m]))"), "max_over_time(rate(x[5m])[1i:1i])");
    // An operation inside one is parenthesised, so the text reads back (found by fuzzing).
    assert_eq!(shown("max_over_time(foo[1h:5m] offset -1m @ 1-0)"), "max_over_time((default_rollup(foo[1h:5m] @ 1.000 offset -1m) - 0)[1i:1i])");
    assert_eq!(shown("rate(-x)"), "rate((-x)[2i:1i])");
    for query in ["max_over_time(foo[1h:5m] offset -1m @ 1-0)", "rate(-x)", "rate(a - b)"] {
        let parsed = parse(query).unwrap();
        assert_eq!(parse(&crate::printer::print(&parsed)).map(|e| crate::printer::print(&e)), Ok(crate::printer::print(&parsed)), "{query}");
    }
    // A scalar is no series: still refused where a range is wanted.
    assert!(parse("rate(1)").is_err());
    assert!(parse(r#"rate("a")"#).is_err());
}

#[test]
fn modifiers_after_an_expression_of_the_evaluation_time_take_it_whole() {
    let shown = |q: &str| parse(q).map(|e| crate::printer::print(&e));
    assert_eq!(shown("time() @ 100").as_deref(), Ok("default_rollup(vector(time())[1ms:1ms] @ 100.000)"));
    assert_eq!(shown("(time() - m) offset 1h").as_deref(), Ok("default_rollup((time() - m)[1ms:1ms] offset 1h)"));
    assert_eq!(shown("hour() @ end()").as_deref(), Ok("default_rollup(hour()[1ms:1ms] @ end())"));
    // Otherwise the modifier goes on each selector, and a function of a value is no clock.
    assert_eq!(shown("sum(m) @ 100").as_deref(), Ok("sum(m @ 100.000)"));
    assert_eq!(shown("hour(m) offset 1h").as_deref(), Ok("hour(m offset 1h)"));
    for query in ["time() @ 100", "(time() - m) offset 1h", "minute() @ start()"] {
        let printed = shown(query).unwrap();
        assert_eq!(shown(&printed), Ok(printed.clone()), "{query} reads back");
    }
    // A number or string has no time to shift.
    assert!(parse("1 @ 100").is_err());
    assert!(parse(r#""a" offset 1m"#).is_err());
}

#[test]
fn keep_metric_names_after_an_operation_prints_and_reads_back() {
    for (query, printed) in [
        ("x / a keep_metric_names", "(x / a) keep_metric_names"),
        ("(a + b) keep_metric_names * c", "(a + b) keep_metric_names * c"),
        ("(abs(x)) keep_metric_names", "abs(x) keep_metric_names"),
    ] {
        let parsed = parse(query).unwrap();
        assert_eq!(crate::printer::print(&parsed), printed, "{query}");
        assert_eq!(parse(printed).unwrap(), parsed, "{query} reads back");
    }
    assert!(parse("(x) keep_metric_names").is_err());
}

#[test]
fn metricsql_identifiers_escape_any_character_and_print_back_quoted() {
    let names = |q: &str| match parse(q).unwrap() {
        Expr::VectorSelector(vs) => vs.matchers.iter().map(|m| (m.name.clone(), m.value.clone())).collect::<Vec<_>>(),
        other => panic!("{q}: {other:?}"),
    };
    let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
    assert_eq!(names(r#"foo\-bar{a\.b="x"}"#), [pair("__name__", "foo-bar"), pair("a.b", "x")]);
    assert_eq!(names(r#"\x2E\x2ef\oo{b\xEF\ar="aa"}"#), [pair("__name__", "..foo"), pair("b\u{ef}ar", "aa")]);
    assert_eq!(names(r#"\u6E29度{房间="x"}"#), [pair("__name__", "温度"), pair("房间", "x")]);
    assert_eq!(names("node.cpu.seconds"), [pair("__name__", "node.cpu.seconds")]);
    assert_eq!(names(r#"m{job="api" + "-v2"}"#), [pair("__name__", "m"), pair("job", "api-v2")]);
    // A backslash before nothing printable is no escape.
    assert!(parse("foo\\").is_err());
    assert!(parse("foo\\\u{7}").is_err());
    // Every form prints as text that parses back to the same query.
    for q in [r#"foo\-bar{a\.b="x"}"#, r#"sum by (b\|a, c.d) (温度)"#, r#"r\a\te(m\ n[5m])"#, "node.cpu.seconds offset 5m"] {
        let printed = crate::printer::print(&parse(q).unwrap());
        assert_eq!(crate::printer::print(&parse(&printed).unwrap()), printed, "{q} printed as {printed}");
    }
    assert_eq!(crate::printer::print(&parse(r#"r\a\te(m\ n[5m])"#).unwrap()), r#"rate({__name__="m n"}[5m])"#);
    // The name written again inside the braces is the same name.
    assert!(parse(r#"m{"m"}"#).is_ok());
    assert!(parse(r#"m{"n"}"#).is_err());
}

#[test]
fn metricsql_string_comparisons_fold_to_numbers_or_nothing() {
    let print = |q: &str| crate::printer::print(&parse(q).unwrap());
    assert_eq!(print(r#""a" < bool "b""#), "1");
    assert_eq!(print(r#""a" == bool 'b'"#), "0");
    // Without bool a comparison of scalars is MetricsQL's filter of a series without labels.
    assert_eq!(parse(r#""a" < "b""#).unwrap().value_type(), crate::ast::ValueType::Vector);
    assert!(parse(r#""a" - "b""#).is_err(), "only + and comparisons take two strings");
}

#[test]
fn grafana_interval_variables_are_one_step() {
    let printed = crate::printer::print(&parse("rate(m[$__rate_interval:5m] offset $__interval)").unwrap());
    assert_eq!(printed, "rate(m[1i:5m] offset 1i)");
    assert!(parse("m[$__intervalx]").is_err());
    // Where a number is wanted: N steps in seconds, printed back as written.
    assert_eq!(crate::printer::print(&parse("rate(m[$__interval]) * $__interval").unwrap()), "rate(m[1i]) * 1i");
    assert_eq!(crate::printer::print(&parse("x > 2.5i").unwrap()), "x > 2.5i");
    assert!(parse("x > 2ix").is_err());
    assert!(parse("__step_multiple(2)").is_err(), "no query names the internal function");
}
