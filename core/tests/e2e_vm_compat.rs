//! What configurations written for VictoriaMetrics single-node expect of its HTTP surface:
//! every path also under `/prometheus/`, `/health`, a page at `/`, and `extra_label=name=value` on
//! remote_write and both imports (set on every stored series, replacing a label of that name;
//! a malformed one is a 400 that stores nothing); imports by PUT as well as POST.

mod support;

use support::*;

#[test]
fn prometheus_prefix_health_and_extra_labels() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));

    // A browser at the root gets a page naming the server, as Prometheus' and VictoriaMetrics' do.
    let root = agent().get(&server.url("/")).call().expect("GET /");
    assert_eq!(root.header("content-type"), Some("text/html; charset=utf-8"));
    let page = root.into_string().unwrap();
    assert!(page.contains("<h1>Metricstor ") && page.contains("href=\"metrics\""), "{page}");
    let health = agent().get(&server.url("/health")).call().expect("GET /health");
    assert_eq!((health.status(), health.into_string().unwrap()), (200, "OK".to_string()));
    let ready = agent().get(&server.url("/ready")).call().expect("GET /ready");
    assert_eq!((ready.status(), ready.into_string().unwrap()), (200, "OK".to_string()));
    assert_eq!(get_json(&server.url("/prometheus/api/v1/status/buildinfo")).0, 200);
    // Only a whole `/prometheus/` segment is a prefix.
    assert_eq!(get_json(&server.url("/prometheusx/api/v1/status/buildinfo")).0, 404);

    // remote_write under the prefix; `dc` replaces the series' own value, `env` is added.
    let body = v1_request(&[(vec![("__name__", "vmc_up"), ("dc", "own"), ("job", "a")], vec![(1_000_000, 1.0), (1_015_000, 2.0)])]);
    let reply = post(&server.url("/prometheus/api/v1/write?extra_label=dc=eu&extra_label=env=prod"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("x-prometheus-remote-write-samples-written"), Some("2"));
    let (_, answer) = get_json(&server.url("/prometheus/api/v1/query?query=vmc_up&time=1015"));
    let result = answer["data"]["result"].as_array().expect("vector");
    assert_eq!(result.len(), 1, "{answer}");
    assert_eq!(result[0]["metric"], serde_json::json!({"__name__": "vmc_up", "dc": "eu", "env": "prod", "job": "a"}), "{answer}");
    assert_eq!(result[0]["value"][1], "2");

    // Both imports.
    let lines = "{\"metric\":{\"__name__\":\"vmc_json\",\"job\":\"b\"},\"values\":[1,2],\"timestamps\":[1000000,1015000]}\n";
    let reply = post_plain(&server.url("/api/v1/import?extra_label=src=vmctl"), "application/json", lines.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let text = "vmc_text{job=\"c\",src=\"mine\"} 7 1015000\n";
    let reply = post_plain(&server.url("/prometheus/api/v1/import/prometheus?extra_label=src=vmctl"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let (_, answer) = get_json(&server.url("/api/v1/query?query=%7Bsrc%3D%22vmctl%22%7D&time=1015"));
    let mut got: Vec<String> = answer["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| format!("{} {} {}", s["metric"]["__name__"].as_str().unwrap_or(""), s["metric"]["job"].as_str().unwrap_or(""), s["value"][1]))
        .collect();
    got.sort();
    assert_eq!(got, vec!["vmc_json b \"2\"", "vmc_text c \"7\""], "{answer}");

    // `curl -T file URL` imports with PUT, as VictoriaMetrics takes it; other methods are a 405.
    let put = agent().put(&server.url("/api/v1/import/prometheus")).send_bytes(b"vmc_put{job=\"d\"} 9 1015000\n");
    assert_eq!(put.map(|r| r.status()).unwrap_or_else(|e| panic!("PUT import: {e}")), 204);
    let (_, answer) = get_json(&server.url("/api/v1/query?query=vmc_put&time=1015"));
    assert_eq!(answer["data"]["result"][0]["value"][1], "9", "{answer}");
    match agent().get(&server.url("/api/v1/import")).call() {
        Err(ureq::Error::Status(code, r)) => assert_eq!((code, r.header("allow").map(str::to_string)), (405, Some("POST, PUT".to_string()))),
        other => panic!("GET /api/v1/import: {:?}", other.map(|r| r.status())),
    }

    // Malformed extra_label: a 400 naming it, nothing stored.
    let body = v1_request(&[(vec![("__name__", "vmc_refused")], vec![(1_000_000, 1.0)])]);
    let reply = post(&server.url("/api/v1/write?extra_label=novalue"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("extra_label") && reply.body.contains("novalue"), "{}", reply.body);
    let reply = post_plain(&server.url("/api/v1/import/prometheus?extra_label=dc="), "text/plain", b"vmc_refused 1 1000000\n");
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("extra_label"), "{}", reply.body);
    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=vmc_refused"));
    assert_eq!(answer["data"], serde_json::json!([]), "{answer}");
    assert!(server.stop());
}

#[test]
fn extra_labels_that_pass_the_label_limits_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config_with(dir.path(), "  cores: 2\n", "  max_labels_per_series: 3\n"));
    let body = v1_request(&[(vec![("__name__", "vmc_limit"), ("job", "a")], vec![(1_000_000, 1.0)])]);
    let reply = post(&server.url("/api/v1/write?extra_label=dc=eu"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "three labels are within the limit: {}", reply.body);
    let reply = post(&server.url("/api/v1/write?extra_label=dc=eu&extra_label=env=prod"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("more than 3 labels") && reply.body.contains("extra_label"), "{}", reply.body);
    let reply = post_plain(&server.url("/api/v1/import/prometheus?extra_label=dc=eu&extra_label=env=prod"), "text/plain", b"vmc_limit_text{job=\"a\"} 1 1000000\n");
    assert_eq!(reply.status, 400, "{}", reply.body);
    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=%7Benv%3D%22prod%22%7D"));
    assert_eq!(answer["data"], serde_json::json!([]), "{answer}");
    assert!(server.stop());
}

/// VictoriaMetrics' query conveniences that scripts written for it use: times relative to
/// now (`time=-1m`, `start=-1h`, `now-1h`, also on listings and exports), shortened RFC 3339
/// dates (`start=2024-05-17`), a range query's missing
/// `start`/`end`/`step` (the last 5 minutes in 5-minute steps), and `round_digits`.
#[test]
fn relative_times_range_defaults_and_round_digits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // 1.23456 two minutes ago, 2.5 twenty seconds ago.
    let body = v1_request(&[(vec![("__name__", "vmc_rel")], vec![(now_ms - 120_000, 1.23456), (now_ms - 20_000, 2.5)])]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let value_at = |path: &str| -> serde_json::Value {
        let (status, answer) = get_json(&server.url(path));
        assert_eq!(status, 200, "{path}: {answer}");
        answer["data"]["result"][0]["value"][1].clone()
    };
    // A minute and a half ago the newest sample was the first; "90s" without the sign too.
    assert_eq!(value_at("/api/v1/query?query=vmc_rel&time=-90s"), "1.23456");
    assert_eq!(value_at("/api/v1/query?query=vmc_rel&time=90s"), "1.23456");
    assert_eq!(value_at("/api/v1/query?query=vmc_rel&time=-1s"), "2.5");
    assert_eq!(value_at("/api/v1/query?query=vmc_rel&time=now-90s"), "1.23456");
    assert_eq!(value_at("/api/v1/query?query=vmc_rel&time=now"), "2.5");
    assert_eq!(value_at("/api/v1/query?query=vmc_rel&time=-90s&round_digits=2"), "1.23");
    assert_eq!(value_at("/api/v1/query?query=vmc_rel*1000&time=-90s&round_digits=-2"), "1200");
    // No start, end or step: the last 5 minutes in 5-minute steps, so one point, at now.
    let (status, answer) = get_json(&server.url("/api/v1/query_range?query=vmc_rel&round_digits=0"));
    assert_eq!(status, 200, "{answer}");
    let values = answer["data"]["result"][0]["values"].as_array().cloned().unwrap_or_default();
    assert_eq!(values.len(), 1, "{answer}");
    assert_eq!(values[0][1], "3", "2.5 rounded half away from zero: {answer}");
    let at = values[0][0].as_f64().expect("a time") * 1000.0;
    assert!((at - now_ms as f64).abs() < 60_000.0, "the point lies at the request's now: {answer}");
    // Relative start with an explicit step: -3m to now in 1m steps.
    let (_, answer) = get_json(&server.url("/api/v1/query_range?query=vmc_rel&start=-3m&step=1m"));
    assert_eq!(answer["data"]["result"][0]["values"].as_array().map(Vec::len), Some(3), "-2m, -1m and now hold a sample in the lookback: {answer}");
    // Listings and exports take relative times too: nothing in the last 10 s, both in 1 h.
    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=vmc_rel&start=-10s"));
    assert_eq!(answer["data"], serde_json::json!([]), "{answer}");
    let export = agent().get(&server.url("/api/v1/export?match[]=vmc_rel&start=-1h")).call().expect("export").into_string().unwrap();
    assert!(export.contains("\"values\":[1.23456,2.5]"), "{export}");
    // A shortened RFC 3339 (the day before yesterday, UTC) starts an export too.
    let days = now_ms / 86_400_000 - 2;
    let (year, month, day) = promql::format::civil_from_days(days);
    let export = agent().get(&server.url(&format!("/api/v1/export?match[]=vmc_rel&start={year:04}-{month:02}-{day:02}"))).call().expect("export").into_string().unwrap();
    assert!(export.contains("\"values\":[1.23456,2.5]"), "{export}");
    let (_, answer) = get_json(&server.url(&format!("/api/v1/series?match[]=vmc_rel&start={year:04}-{month:02}-{day:02}T00:00Z&end={year:04}-{month:02}-{day:02}T01")));
    assert_eq!(answer["data"], serde_json::json!([]), "nothing on that day: {answer}");
    // What is neither a time nor a duration, and a round_digits that is no number, are a 400.
    for bad in ["/api/v1/query?query=vmc_rel&time=-1x", "/api/v1/query?query=vmc_rel&round_digits=two", "/api/v1/query_range?query=vmc_rel&start=soon"] {
        let (status, answer) = get_json(&server.url(bad));
        assert_eq!(status, 400, "{bad}: {answer}");
    }
    assert!(server.stop());
}
