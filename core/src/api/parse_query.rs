//! `/api/v1/parse_query`: the query's syntax tree as JSON, in the shape Prometheus' web UI
//! (tree view, explain) consumes: one object per node with a `type` field
//! (`aggregation`, `binaryExpr`, `call`, `matrixSelector`, `vectorSelector`, `subquery`,
//! `numberLiteral`, `stringLiteral`, `parenExpr`, `unaryExpr`).

use promql::ast::{Aggregate, At, Binary, Cardinality, DurationExpr, Expr, Subquery, ValueType, VectorSelector};
use serde_json::{json, Value};
use tsdb::METRIC_NAME_LABEL;

/// The JSON tree of `expr`.
pub fn translate(expr: &Expr) -> Value {
    match expr {
        Expr::Number(v) => json!({"type": "numberLiteral", "val": number_text(*v)}),
        Expr::String(s) => json!({"type": "stringLiteral", "val": s}),
        Expr::VectorSelector(vs) => {
            let mut node = selector_fields(vs);
            node["type"] = json!("vectorSelector");
            node
        }
        Expr::MatrixSelector { selector, range_ms, range_expr } => {
            let mut node = selector_fields(selector);
            node["type"] = json!("matrixSelector");
            node["range"] = json!(range_ms);
            node["rangeExpr"] = duration(range_expr.as_ref());
            node
        }
        Expr::Subquery(sq) => subquery(sq),
        Expr::Paren(inner) => json!({"type": "parenExpr", "expr": translate(inner)}),
        Expr::Negate(inner) => json!({"type": "unaryExpr", "op": "-", "expr": translate(inner)}),
        Expr::Binary(b) => binary(b),
        Expr::Aggregate(a) => aggregation(a),
        Expr::Call { func, args, .. } => {
            let variadic: i64 = match func.max_args {
                None => -1,
                Some(max) => max.saturating_sub(func.min_args) as i64,
            };
            json!({
                "type": "call",
                "func": {
                    "name": func.name,
                    "argTypes": func.arg_types.iter().map(|t| type_name(*t)).collect::<Vec<_>>(),
                    "variadic": variadic,
                    "returnType": type_name(func.return_type),
                },
                "args": args.iter().map(translate).collect::<Vec<_>>(),
            })
        }
    }
}

/// A duration expression (`[5m * 2]`, `offset (1h + step())`): `durationExpr` nodes with
/// `op`, `lhs`, `rhs` and `wrapped` (parenthesised), literals as `numberLiteral` with
/// `duration` (written with a unit); null when the duration was a plain literal.
fn duration(expr: Option<&DurationExpr>) -> Value {
    match expr {
        None => Value::Null,
        Some(e) => duration_node(e, false),
    }
}

fn duration_node(e: &DurationExpr, wrapped: bool) -> Value {
    let node = |op: &str, lhs: Value, rhs: Value| json!({"type": "durationExpr", "op": op, "lhs": lhs, "rhs": rhs, "wrapped": wrapped});
    match e {
        DurationExpr::Number { seconds, unit } => json!({"type": "numberLiteral", "val": number_text(*seconds), "duration": unit}),
        DurationExpr::Step => node("step", Value::Null, Value::Null),
        DurationExpr::Range => node("range", Value::Null, Value::Null),
        // MetricsQL's left-out window (`rate(x)`), which Prometheus' tree has no node for.
        DurationExpr::Omitted => node("omitted", Value::Null, Value::Null),
        // MetricsQL's `5i`: steps of the grid.
        DurationExpr::StepMultiple(n) => node("steps", json!({"type": "numberLiteral", "val": number_text(*n), "duration": false}), Value::Null),
        DurationExpr::MinOf(a, b) => node("min_of", duration_node(a, false), duration_node(b, false)),
        DurationExpr::MaxOf(a, b) => node("max_of", duration_node(a, false), duration_node(b, false)),
        DurationExpr::Negate(x) => node("-", Value::Null, duration_node(x, false)),
        DurationExpr::Paren(x) => duration_node(x, true),
        DurationExpr::Binary { op, lhs, rhs } => node(op.as_str(), duration_node(lhs, false), duration_node(rhs, false)),
    }
}

/// Value type names as Prometheus' parser spells them in this API.
fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::String => "string",
        ValueType::Vector => "vector",
        ValueType::Matrix => "matrix",
    }
}

/// Shortest round-trip decimal without exponent; infinities signed, as Go's
/// `FormatFloat(v, 'f', -1, 64)` writes them.
fn number_text(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

fn at_fields(at: Option<At>) -> (Value, Value) {
    match at {
        None => (Value::Null, Value::Null),
        Some(At::Time(ms)) => (json!(ms), Value::Null),
        Some(At::Start) => (Value::Null, json!("start")),
        Some(At::End) => (Value::Null, json!("end")),
        // MetricsQL's `@ (end() - 10m)`: the base and the shift in milliseconds.
        Some(At::Shifted { end, ms }) => (json!(ms), json!(if end { "end" } else { "start" })),
    }
}

/// Fields shared by vector and matrix selectors. The metric-name matcher implied by a
/// written name comes last, where Prometheus' parser puts it. MetricsQL's `or` filters add
/// `orMatchers`, one list per alternative after the first.
fn selector_fields(vs: &VectorSelector) -> Value {
    let listed = |set: &[tsdb::Matcher]| {
        let mut matchers: Vec<&tsdb::Matcher> = set.iter().collect();
        if let Some(name) = &vs.name {
            if let Some(pos) = matchers.iter().position(|m| m.name == METRIC_NAME_LABEL && m.op.as_str() == "=" && &m.value == name) {
                let implied = matchers.remove(pos);
                matchers.push(implied);
            }
        }
        matchers.iter().map(|m| json!({"name": m.name, "value": m.value, "type": m.op.as_str()})).collect::<Vec<_>>()
    };
    let (timestamp, start_or_end) = at_fields(vs.at);
    let mut fields = json!({
        "name": vs.name.as_deref().unwrap_or(""),
        "offset": vs.offset_ms,
        "offsetExpr": duration(vs.offset_expr.as_ref()),
        "matchers": listed(&vs.matchers),
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
        "anchored": vs.anchored,
        "smoothed": vs.smoothed,
    });
    if !vs.or_matchers.is_empty() {
        fields["orMatchers"] = vs.or_matchers.iter().map(|set| listed(set)).collect::<Vec<_>>().into();
    }
    fields
}

fn subquery(sq: &Subquery) -> Value {
    let (timestamp, start_or_end) = at_fields(sq.at);
    json!({
        "type": "subquery",
        "expr": translate(&sq.expr),
        "range": sq.range_ms,
        "rangeExpr": duration(sq.range_expr.as_ref()),
        "offset": sq.offset_ms,
        "offsetExpr": duration(sq.offset_expr.as_ref()),
        "step": sq.step_ms.unwrap_or(0),
        "stepExpr": duration(sq.step_expr.as_ref()),
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
    })
}

fn binary(b: &Binary) -> Value {
    let mut matching = match &b.matching {
        None => Value::Null,
        Some(m) => json!({
            "card": match m.card {
                Cardinality::OneToOne => "one-to-one",
                Cardinality::ManyToOne => "many-to-one",
                Cardinality::OneToMany => "one-to-many",
                Cardinality::ManyToMany => "many-to-many",
            },
            "labels": m.labels,
            "on": m.on,
            "include": if m.include_all { vec!["*".to_string()] } else { m.include.clone() },
            "fillValues": {"lhs": m.fill.lhs, "rhs": m.fill.rhs},
        }),
    };
    // MetricsQL's additions, present only where used: `prefix` and `keep_metric_names`.
    if let Some(m) = b.matching.as_ref().filter(|m| !m.include_prefix.is_empty()) {
        matching["includePrefix"] = json!(m.include_prefix);
    }
    let mut node = json!({
        "type": "binaryExpr",
        "op": b.op.as_str(),
        "lhs": translate(&b.lhs),
        "rhs": translate(&b.rhs),
        "matching": matching,
        "bool": b.return_bool,
    });
    if b.keep_metric_names {
        node["keepMetricNames"] = json!(true);
    }
    node
}

fn aggregation(a: &Aggregate) -> Value {
    let mut node = json!({
        "type": "aggregation",
        "op": a.op.name(),
        "expr": translate(&a.expr),
        "param": a.param.as_ref().map(translate).unwrap_or(Value::Null),
        "grouping": a.grouping,
        "without": a.without,
    });
    // MetricsQL's additions, present only where used so a PromQL tree keeps Prometheus' shape:
    // several arguments (`avg(q1, q2)`: `expr` is the first, `args` all of them), several φs
    // (`quantiles`: `param` the first, `params` all), the label it or `topk_avg` … writes, and
    // `limit N`.
    if let Some(args) = a.expr.argument_list() {
        node["expr"] = args.first().map(translate).unwrap_or(Value::Null);
        node["args"] = json!(args.iter().map(translate).collect::<Vec<_>>());
    }
    if let Some(params) = a.param.as_ref().and_then(Expr::argument_list) {
        node["param"] = params.first().map(translate).unwrap_or(Value::Null);
        node["params"] = json!(params.iter().map(translate).collect::<Vec<_>>());
    }
    if let Some(label) = &a.other_label {
        node["label"] = json!(label);
    }
    if let Some(limit) = a.limit {
        node["limit"] = json!(limit);
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Value {
        match promql::parse(q) {
            Ok(expr) => translate(&expr),
            Err(e) => panic!("{q}: {e}"),
        }
    }

    #[test]
    fn metricsql_aggregations_show_every_argument_their_label_and_limit() {
        let t = tree(r#"quantiles by (job) ("phi", 0.5, 0.9, x) limit 3"#);
        assert_eq!(t["op"], "quantiles");
        assert_eq!(t["param"]["val"], "0.5");
        assert_eq!(t["params"][1]["val"], "0.9");
        assert_eq!(t["label"], "phi");
        assert_eq!(t["limit"], 3);
        assert_eq!(t["expr"]["name"], "x");
        let t = tree("avg(a, b)");
        assert_eq!((t["expr"]["name"].clone(), t["args"][1]["name"].clone()), (json!("a"), json!("b")));
        let plain = tree("sum by (job) (x)");
        assert!(plain.get("limit").is_none() && plain.get("args").is_none() && plain.get("label").is_none());
    }

    #[test]
    fn selectors_carry_matchers_offset_and_at() {
        let t = tree(r#"rate(http_requests_total{job="api",code=~"5.."}[5m] offset 1m @ 100)"#);
        assert_eq!(t["type"], "call");
        assert_eq!(t["func"]["name"], "rate");
        assert_eq!(t["func"]["argTypes"], json!(["matrix"]));
        assert_eq!(t["func"]["variadic"], 0);
        assert_eq!(t["func"]["returnType"], "vector");
        let m = &t["args"][0];
        assert_eq!(m["type"], "matrixSelector");
        assert_eq!(m["name"], "http_requests_total");
        assert_eq!(m["range"], 300_000);
        assert_eq!(m["offset"], 60_000);
        assert_eq!(m["timestamp"], 100_000);
        assert_eq!(m["startOrEnd"], Value::Null);
        let matchers = m["matchers"].as_array().map(Vec::len);
        assert_eq!(matchers, Some(3));
        assert_eq!(m["matchers"][2], json!({"name": "__name__", "value": "http_requests_total", "type": "="}));
        assert_eq!(m["matchers"][1], json!({"name": "code", "value": "5..", "type": "=~"}));
    }

    #[test]
    fn binary_aggregation_subquery_and_literals() {
        let t = tree(r#"sum without (instance) (a) / on (job) group_left (team) -b"#);
        assert_eq!(t["type"], "binaryExpr");
        assert_eq!(t["op"], "/");
        assert_eq!(t["bool"], false);
        assert_eq!(t["matching"]["card"], "many-to-one");
        assert_eq!(t["matching"]["labels"], json!(["job"]));
        assert_eq!(t["matching"]["on"], true);
        assert_eq!(t["matching"]["include"], json!(["team"]));
        assert_eq!(t["lhs"]["type"], "aggregation");
        assert_eq!(t["lhs"]["op"], "sum");
        assert_eq!(t["lhs"]["without"], true);
        assert_eq!(t["lhs"]["grouping"], json!(["instance"]));
        assert_eq!(t["lhs"]["param"], Value::Null);
        assert_eq!(t["rhs"]["type"], "unaryExpr");
        assert_eq!(t["rhs"]["expr"]["type"], "vectorSelector");

        let s = tree("max_over_time((x > bool 1)[1h:30s] @ end())");
        let sq = &s["args"][0];
        assert_eq!(sq["type"], "subquery");
        assert_eq!(sq["range"], 3_600_000);
        assert_eq!(sq["step"], 30_000);
        assert_eq!(sq["startOrEnd"], "end");
        assert_eq!(sq["expr"]["type"], "parenExpr");
        assert_eq!(sq["expr"]["expr"]["bool"], true);
        assert_eq!(sq["expr"]["expr"]["matching"], Value::Null);

        assert_eq!(tree("1e3")["val"], "1000");
        assert_eq!(tree("Inf")["val"], "+Inf");
        assert_eq!(tree("0.25")["val"], "0.25");
        assert_eq!(tree(r#""x""#), json!({"type": "stringLiteral", "val": "x"}));
        assert_eq!(tree("label_join(a, \"d\", \",\", \"s\")")["func"]["variadic"], -1);
        assert_eq!(tree("topk(3, a)")["param"]["val"], "3");
    }

    #[test]
    fn experimental_modifiers_and_duration_expressions() {
        let t = tree("rate(x[5m] anchored)");
        assert_eq!(t["args"][0]["anchored"], true);
        assert_eq!(t["args"][0]["smoothed"], false);
        let t = tree("a + fill_left(0) fill_right(2) b");
        assert_eq!(t["matching"]["fillValues"], json!({"lhs": 0.0, "rhs": 2.0}));
        let t = tree("x[5m * 2]");
        assert_eq!(t["range"], 600_000);
        assert_eq!(t["rangeExpr"]["type"], "durationExpr");
        assert_eq!(t["rangeExpr"]["op"], "*");
        assert_eq!(t["rangeExpr"]["lhs"], json!({"type": "numberLiteral", "val": "300", "duration": true}));
        assert_eq!(t["rangeExpr"]["rhs"]["duration"], false);
        let t = tree("x offset (1h + step())");
        assert_eq!(t["offsetExpr"]["wrapped"], true);
        assert_eq!(t["offsetExpr"]["rhs"]["op"], "step");
        assert_eq!(tree("x[5m]")["rangeExpr"], Value::Null);
    }
}
