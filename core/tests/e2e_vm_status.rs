//! VictoriaMetrics' read endpoints for operators (vmui's "Top queries" and "Active queries"):
//! `/api/v1/series/count`, `/api/v1/status/top_queries` and `/api/v1/status/active_queries`,
//! their JSON shapes, parameters and errors, and their refusal of confined clients.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// How long a poll of `active_queries` may wait to see the slow query.
const ACTIVE_DEADLINE: Duration = Duration::from_secs(60);

/// The slow query: a 20-millisecond-step subquery over the hour of `vs_heavy`, instant at
/// its end: 180,000 inner steps of 20 series (3.6 million samples), seconds of work in a
/// debug build, while a poll of `active_queries` takes milliseconds.
const SLOW_QUERY: &str = "count(count_over_time(vs_heavy[1h:20ms]))";

/// `vs_up{i}` (five series), `vs_other` (two) and `vs_heavy` (twenty, a sample every 10 s
/// over the epoch's first hour).
const WRITTEN_SERIES: u64 = 27;
const HOUR_MS: i64 = 3_600_000;

fn start_with_series(dir: &std::path::Path) -> Server {
    let server = Server::start(&write_config(dir, ""));
    let samples = vec![(1_000_000, 1.0), (1_015_000, 2.0)];
    let names: Vec<String> = (0..5).map(|i| i.to_string()).collect();
    let mut series: Vec<_> = names.iter().map(|i| (vec![("__name__", "vs_up"), ("i", i.as_str()), ("team", "a")], samples.clone())).collect();
    series.push((vec![("__name__", "vs_other"), ("i", "5")], samples.clone()));
    series.push((vec![("__name__", "vs_other"), ("i", "6")], samples));
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let every_10s: Vec<(i64, f64)> = (0..HOUR_MS / 10_000).map(|k| (k * 10_000, k as f64)).collect();
    let names: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    let heavy: Vec<_> = names.iter().map(|i| (vec![("__name__", "vs_heavy"), ("i", i.as_str())], every_10s.clone())).collect();
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&heavy));
    assert_eq!(reply.status, 204, "{}", reply.body);
    server
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query(server: &Server, text: &str, time_s: i64) {
    let (status, answer) = get_json(&server.url(&format!("/api/v1/query?query={}&time={time_s}", encode(text))));
    assert_eq!(status, 200, "{text}: {answer}");
}

/// `(query, timeRangeSeconds, count)` of each entry of a `top_queries` list.
fn entries(list: &serde_json::Value) -> Vec<(String, i64, u64)> {
    let list = list.as_array().unwrap_or_else(|| panic!("not a list: {list}"));
    list.iter()
        .map(|e| (e["query"].as_str().unwrap_or("").to_string(), e["timeRangeSeconds"].as_i64().unwrap_or(-1), e["count"].as_u64().unwrap_or(0)))
        .collect()
}

fn raw_get(url: &str) -> Reply {
    reply_or_status(url, agent().get(url).call())
}

#[test]
fn series_count_and_top_queries_answer_as_victoriametrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_series(dir.path());

    let reply = raw_get(&server.url("/api/v1/series/count"));
    assert_eq!((reply.status, reply.body.as_str()), (200, format!("{{\"status\":\"success\",\"data\":[{WRITTEN_SERIES}]}}").as_str()));
    assert_eq!(get_json(&server.url("/prometheus/api/v1/series/count")).1["data"], serde_json::json!([WRITTEN_SERIES]));

    // Distinct texts run different numbers of times; one also over a range.
    for _ in 0..3 {
        query(&server, "sum(vs_up)", 1015);
    }
    for _ in 0..2 {
        query(&server, "count(vs_other)", 1015);
    }
    query(&server, "max(vs_up)", 1015);
    let (status, answer) = get_json(&server.url("/api/v1/query_range?query=sum(vs_up)&start=1000&end=4600.5&step=15"));
    assert_eq!(status, 200, "{answer}");

    let (status, top) = get_json(&server.url("/api/v1/status/top_queries"));
    assert_eq!(status, 200, "{top}");
    assert_eq!(top["topN"], "20");
    assert_eq!(top["maxLifetime"], "10m0s");
    assert_eq!(top["search.queryStats.lastQueriesCount"], 20_000);
    assert_eq!(top["search.queryStats.minQueryDuration"], "0s");
    // Keyed by text and time range (an instant query's is 0, a range's in whole seconds);
    // ties in key order.
    let expected = vec![
        ("sum(vs_up)".to_string(), 0, 3),
        ("count(vs_other)".to_string(), 0, 2),
        ("max(vs_up)".to_string(), 0, 1),
        ("sum(vs_up)".to_string(), 3600, 1),
    ];
    assert_eq!(entries(&top["topByCount"]), expected, "{top}");
    for (list, field) in [("topByAvgDuration", "avgDurationSeconds"), ("topBySumDuration", "sumDurationSeconds")] {
        let mut got = entries(&top[list]);
        got.sort();
        let mut want = expected.clone();
        want.sort();
        assert_eq!(got, want, "{list}: {top}");
        assert!(top[list].as_array().is_some_and(|l| l.iter().all(|e| e[field].as_f64().is_some_and(|s| s >= 0.0))), "{top}");
    }
    // Sums are averages times counts (to the printed millisecond).
    let sum_of = |q: &str| top["topBySumDuration"].as_array().and_then(|l| l.iter().find(|e| e["query"] == q && e["timeRangeSeconds"] == 0)).map(|e| e["sumDurationSeconds"].as_f64().unwrap_or(-1.0));
    let avg_of = |q: &str| top["topByAvgDuration"].as_array().and_then(|l| l.iter().find(|e| e["query"] == q && e["timeRangeSeconds"] == 0)).map(|e| e["avgDurationSeconds"].as_f64().unwrap_or(-1.0));
    let (sum, avg) = (sum_of("sum(vs_up)").unwrap_or(-1.0), avg_of("sum(vs_up)").unwrap_or(-1.0));
    assert!((sum - 3.0 * avg).abs() <= 0.002, "sum {sum}, average {avg}");

    // topN cuts each list; maxLifetime is echoed as Go prints durations.
    let (status, top) = get_json(&server.url("/api/v1/status/top_queries?topN=2&maxLifetime=90s"));
    assert_eq!(status, 200, "{top}");
    assert_eq!((top["topN"].as_str(), top["maxLifetime"].as_str()), (Some("2"), Some("1m30s")));
    assert_eq!(entries(&top["topByCount"]), expected[..2].to_vec());
    assert_eq!(top["topByAvgDuration"].as_array().map(Vec::len), Some(2));
    assert_eq!(top["topBySumDuration"].as_array().map(Vec::len), Some(2));

    // Bad parameters: 400s naming them.
    for (path, parameter) in [
        ("/api/v1/status/top_queries?topN=many", "topN"),
        ("/api/v1/status/top_queries?topN=-1", "topN"),
        ("/api/v1/status/top_queries?maxLifetime=soon", "maxLifetime"),
        ("/api/v1/status/top_queries?maxLifetime=0s", "maxLifetime"),
    ] {
        let (status, answer) = get_json(&server.url(path));
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(parameter)), "{path}: {answer}");
    }

    // URL read filters: the series count counts what they allow; every client's query texts
    // cannot be confined to them, so those are refused.
    assert_eq!(get_json(&server.url("/api/v1/series/count?extra_label=team=a")).1["data"], serde_json::json!([5]));
    for path in ["/api/v1/status/top_queries", "/api/v1/status/active_queries"] {
        let (status, answer) = get_json(&server.url(&format!("{path}?extra_label=team=a")));
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(path) && e.contains("extra_label")), "{path}: {answer}");
        let (status, answer) = get_json(&server.url(&format!("{path}?extra_filters[]=%7Bteam%3D%22a%22%7D")));
        assert_eq!(status, 400, "{path}: {answer}");
    }
    assert!(server.stop());
}

#[test]
fn active_queries_lists_a_query_while_it_runs_and_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_series(dir.path());
    let active_url = server.url("/api/v1/status/active_queries");
    let reply = raw_get(&active_url);
    assert_eq!((reply.status, reply.body.as_str()), (200, r#"{"status":"ok","data":[]}"#));
    assert_eq!(reply.header("content-type"), Some("application/json"));

    // A finished query is not left behind.
    query(&server, "sum(vs_up)", 1015);
    assert_eq!(get_json(&active_url).1["data"], serde_json::json!([]));

    let time_s = HOUR_MS / 1000;
    let slow_url = server.url(&format!("/api/v1/query?query={}&time={time_s}", encode(SLOW_QUERY)));
    let slow = std::thread::spawn(move || get_json(&slow_url));
    // Polled from another connection until the slow query shows, within a deadline.
    let deadline = Instant::now() + ACTIVE_DEADLINE;
    let entry = loop {
        let (status, active) = get_json(&active_url);
        assert_eq!(status, 200, "{active}");
        assert_eq!(active["status"], "ok");
        if let Some(entry) = active["data"].as_array().and_then(|l| l.iter().find(|e| e["query"] == SLOW_QUERY)) {
            break entry.clone();
        }
        assert!(!slow.is_finished(), "the slow query finished before active_queries listed it");
        assert!(Instant::now() < deadline, "active_queries did not list the slow query within {ACTIVE_DEADLINE:?}");
        std::thread::yield_now();
    };
    // An instant query: start and end at its time, VictoriaMetrics' default step of 5m.
    assert_eq!((entry["start"].as_i64(), entry["end"].as_i64(), entry["step"].as_i64()), (Some(time_s * 1000), Some(time_s * 1000), Some(300_000)), "{entry}");
    assert!(entry["remote_addr"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")), "{entry}");
    assert!(entry["id"].as_str().is_some_and(|id| id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit())), "{entry}");
    let duration = entry["duration"].as_str().and_then(|d| d.strip_suffix('s')).and_then(|d| d.parse::<f64>().ok());
    assert!(duration.is_some_and(|d| d >= 0.0), "{entry}");

    let (status, answer) = slow.join().expect("the slow query's thread");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["result"][0]["value"][1], "20", "{answer}");
    assert_eq!(get_json(&active_url).1["data"], serde_json::json!([]));
    // And it is counted among the finished ones.
    let top = get_json(&server.url("/api/v1/status/top_queries")).1;
    assert!(entries(&top["topByCount"]).contains(&(SLOW_QUERY.to_string(), 0, 1)), "{top}");
    assert!(server.stop());
}
