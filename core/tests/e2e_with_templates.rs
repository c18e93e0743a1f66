//! End-to-end: MetricsQL's `WITH` templates in the query APIs of the real binary (the same
//! answer as the query written out), `keep_metric_names`, VictoriaMetrics' `/expand-with-exprs`
//! page and JSON, series-wide functions kept out of the range cache, and `or` between label
//! filters in queries and `match[]`.

mod support;

use std::time::Duration;

use support::*;

fn url_with(server: &Server, path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", percent_encode(v))).collect();
    server.url(&format!("{path}?{}", query.join("&")))
}

/// The sorted `(labels, value)` pairs of an instant query's vector.
fn vector(server: &Server, query: &str) -> Vec<(String, String)> {
    let (status, body) = get_json(&url_with(server, "/api/v1/query", &[("query", query)]));
    assert_eq!(status, 200, "{query}: {body}");
    let mut out: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{query}: no result in {body}"))
        .iter()
        .map(|s| (s["metric"].to_string(), s["value"][1].as_str().unwrap_or_default().to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn queries_with_templates_answer_as_the_query_written_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    for (series, value) in [
        (r#"node_free{job="cacher",instance="a"}"#, 30.0),
        (r#"node_total{job="cacher",instance="a"}"#, 120.0),
        (r#"node_free{job="cacher",instance="b"}"#, 10.0),
        (r#"node_total{job="cacher",instance="b"}"#, 40.0),
        (r#"node_free{job="other",instance="c"}"#, 1.0),
        (r#"node_total{job="other",instance="c"}"#, 2.0),
    ] {
        import_sample(&server, series, value, 10);
    }
    poll_query(&server, "count(node_total)", "the samples readable", Duration::from_secs(10), |r| (r.len() == 1 && r[0]["value"][1] == "3").then_some(()));

    let templated = r#"WITH (
        commonFilters = {job="cacher"},
        used(free, total) = (total - free) / total * 100  # percent used
    ) sort(used(node_free{commonFilters}, node_total{commonFilters}))"#;
    let written_out = r#"sort((node_total{job="cacher"} - node_free{job="cacher"}) / node_total{job="cacher"} * 100)"#;
    let answer = vector(&server, templated);
    assert_eq!(answer, vector(&server, written_out));
    assert_eq!(answer.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["75", "75"]);
    let grouped = vector(&server, r#"WITH (by_job = job, t = node_total) sum(t) by (by_job)"#);
    assert_eq!(grouped, vector(&server, "sum(node_total) by (job)"));
    assert_eq!(grouped.len(), 2);

    // keep_metric_names keeps the name the call would drop, not one an inner call dropped.
    let names = |q: &str| vector(&server, q).into_iter().map(|(labels, _)| serde_json::from_str::<serde_json::Value>(&labels).ok().and_then(|l| l["__name__"].as_str().map(str::to_string))).collect::<Vec<_>>();
    assert_eq!(names(r#"abs(node_total{job="other"}) keep_metric_names"#), [Some("node_total".to_string())]);
    assert_eq!(names(r#"abs(abs(node_total{job="other"})) keep_metric_names"#), [None]);
    assert_eq!(names(r#"abs(node_total{job="other"})"#), [None]);

    // The range API reads them too.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    let range = |q: &str| {
        let (status, body) = get_json(&url_with(&server, "/api/v1/query_range", &[("query", q), ("start", &(now - 60).to_string()), ("end", &now.to_string()), ("step", "15")]));
        assert_eq!(status, 200, "{q}: {body}");
        body["data"]["result"].clone()
    };
    assert_eq!(range(r#"WITH (j = "cacher") sum(node_free{job=j})"#), range(r#"sum(node_free{job="cacher"})"#));

    // A mistake in the templates is a 400 pointing into the query as written.
    let (status, body) = get_json(&url_with(&server, "/api/v1/query", &[("query", "WITH (f(a) = a) f(1, 2)")]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("1:17") && e.contains("takes 1 arguments, got 2")), "{body}");
    assert!(server.stop());
}

#[test]
fn expand_with_exprs_shows_the_expanded_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let query = r#"WITH (f = {job="api"}, r(m) = rate(m[5m])) sum(r(http_requests_total{f})) by (code)"#;

    let (status, answer) = get_json(&url_with(&server, "/expand-with-exprs", &[("query", query), ("format", "json")]));
    assert_eq!((status, &answer), (200, &serde_json::json!({"status": "success", "expr": r#"sum by (code) (rate(http_requests_total{job="api"}[5m]))"#})));
    let (status, answer) = get_json(&url_with(&server, "/expand-with-exprs", &[("query", "WITH (x = ) x"), ("format", "json")]));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("no expression")), "{answer}");
    let (status, answer) = get_json(&url_with(&server, "/expand-with-exprs", &[("format", "json")]));
    assert_eq!(status, 400, "{answer}");

    // The page: the form keeps the query, the expansion follows, escaped.
    let page = agent().get(&url_with(&server, "/expand-with-exprs", &[("query", query)])).call().expect("the page");
    assert_eq!(page.content_type(), "text/html");
    let html = page.into_string().expect("body");
    assert!(html.contains("<textarea name=\"query\" rows=\"12\">WITH (f = {job=&quot;api&quot;}"), "{html}");
    assert!(html.contains("sum by (code) (rate(http_requests_total{job=&quot;api&quot;}[5m]))</textarea>"), "{html}");
    let reply = reply_or_status("the page", agent().get(&url_with(&server, "/expand-with-exprs", &[("query", "WITH (x = 1) x(2)")])).call());
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("takes no arguments"), "{}", reply.body);
    let reply = reply_or_status("patch", agent().request("PATCH", &server.url("/expand-with-exprs")).call());
    assert_eq!((reply.status, reply.header("Allow")), (405, Some("GET, POST")));
    assert!(server.stop());
}

/// MetricsQL's series-wide functions read the query's other steps, so the range cache (on
/// by default) must not serve one range's points for another: `running_sum` starts afresh
/// at each query's start.
#[test]
fn series_wide_functions_are_evaluated_for_each_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let base = now / 60 * 60 - 3600;
    let mut lines = String::new();
    for i in 0..20 {
        lines.push_str(&format!("counter_x 1 {}\n", (base + i * 60) * 1000));
    }
    let stored = post_plain(&server.url("/api/v1/import/prometheus"), "text/plain", lines.as_bytes());
    assert_eq!(stored.status, 204, "{}", stored.body);
    let range = |start: i64, end: i64| {
        let url = url_with(&server, "/api/v1/query_range", &[("query", "running_sum(counter_x)"), ("start", &start.to_string()), ("end", &end.to_string()), ("step", "60")]);
        let (status, body) = get_json(&url);
        assert_eq!(status, 200, "{body}");
        body["data"]["result"][0]["values"].as_array().map(|points| points.iter().map(|p| p[1].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>()).unwrap_or_default()
    };
    let sums = |n: usize| (1..=n).map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(range(base, base + 300), sums(6));
    // Overlapping the first range: counted from its own start, not taken from the first answer.
    assert_eq!(range(base + 120, base + 600), sums(9));
    assert_eq!(range(base + 120, base + 600), sums(9), "asked again");
    assert!(server.stop());
}

#[test]
fn or_filters_unite_series_in_queries_and_match_lists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    for (series, value) in [
        (r#"req{job="api",code="200"}"#, 30.0),
        (r#"req{job="api",code="500"}"#, 3.0),
        (r#"req{job="web",code="200"}"#, 15.0),
        (r#"other{job="web"}"#, 1.0),
    ] {
        import_sample(&server, series, value, 10);
    }
    poll_query(&server, "count(req)", "the samples readable", Duration::from_secs(10), |r| (r.len() == 1 && r[0]["value"][1] == "3").then_some(()));

    // A series both alternatives match is counted once.
    let answer = vector(&server, r#"req{code="200" or job="web"}"#);
    assert_eq!(answer.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>(), ["30", "15"], "{answer:?}");
    assert_eq!(vector(&server, r#"sum(req{code="500" or job="web"})"#)[0].1, "18");
    assert_eq!(vector(&server, r#"count({__name__="other" or __name__="req", code="500"})"#)[0].1, "2");

    let (status, body) = get_json(&url_with(&server, "/api/v1/series", &[("match[]", r#"{code="500" or __name__="other"}"#)]));
    assert_eq!(status, 200, "{body}");
    let mut names: Vec<String> = body["data"].as_array().expect("series").iter().map(|s| format!("{}/{}", s["__name__"], s["job"])).collect();
    names.sort();
    assert_eq!(names, [r#""other"/"web""#, r#""req"/"api""#]);
    let (status, body) = get_json(&url_with(&server, "/api/v1/label/code/values", &[("match[]", r#"req{job="web" or code="500"}"#)]));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], serde_json::json!(["200", "500"]));
    assert!(server.stop());
}
