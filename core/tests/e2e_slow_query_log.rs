//! `server.slow_query_log_seconds`: a query over the threshold is logged with its text,
//! times and outcome and counted in `metricstor_slow_queries_total`; under it (or with the
//! log off) nothing is.

mod support;

use std::time::Duration;

use support::*;

fn slow_queries_total(server: &Server) -> u64 {
    let text = agent().get(&server.url("/metrics")).call().unwrap().into_string().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("metricstor_slow_queries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metricstor_slow_queries_total in /metrics"))
}

#[test]
fn queries_over_the_threshold_are_logged_and_counted() {
    // A threshold of a microsecond: every query is over it.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), "  slow_query_log_seconds: 0.000001\n"));
    let body = v1_request(&[(vec![("__name__", "slowlog_metric"), ("job", "a")], vec![(1_000_000, 1.0), (1_015_000, 2.0)])]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    assert_eq!(slow_queries_total(&server), 0);

    let (status, _) = get_json(&server.url("/api/v1/query?query=sum(slowlog_metric)&time=1015"));
    assert_eq!(status, 200);
    assert!(server.wait_log("query=\"sum(slowlog_metric)\" time_ms=1015000", Duration::from_secs(10)), "no slow-query line for the instant query");
    let (status, _) = get_json(&server.url("/api/v1/query_range?query=rate(slowlog_metric%5B1m%5D)&start=1000&end=1015&step=5"));
    assert_eq!(status, 200);
    assert!(server.wait_log("start_ms=1000000 end_ms=1015000 step_ms=5000", Duration::from_secs(10)), "no slow-query line with the range query's times");
    // A failed query is logged with its status.
    let (status, _) = get_json(&server.url("/api/v1/query?query=nosuchfn(slowlog_metric)&time=1015"));
    assert_eq!(status, 400);
    assert!(server.wait_log("outcome=400", Duration::from_secs(10)), "no slow-query line for the failed query");
    assert_eq!(slow_queries_total(&server), 3);
    assert!(server.stop());

    // The default threshold (5 s): these queries are not logged.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let (status, _) = get_json(&server.url("/api/v1/query?query=sum(slowlog_metric)&time=1015"));
    assert_eq!(status, 200);
    assert_eq!(slow_queries_total(&server), 0);
    assert!(server.stop());
}
