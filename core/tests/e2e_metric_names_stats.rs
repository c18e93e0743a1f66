//! End-to-end: VictoriaMetrics' metric names usage statistics against the real binary.
//! Every series a query reads counts for its metric name; stored names never read are listed
//! with 0 (what `le=0` finds); `limit`, `le` and `match_pattern` narrow the answer; the
//! counts reach `/api/v1/status/tsdb` (checked here with VictoriaMetrics' other figures there
//! and its `date`), survive a clean restart, and a reset forgets them.

mod support;

use support::*;

fn stats(server: &Server, query: &str) -> serde_json::Value {
    let (status, answer) = get_json(&server.url(&format!("/api/v1/status/metric_names_stats{query}")));
    assert_eq!(status, 200, "{answer}");
    answer
}

/// (name, reads) of each record.
fn reads(answer: &serde_json::Value) -> Vec<(String, u64)> {
    let records = answer["records"].as_array().expect("records");
    records.iter().map(|r| (r["metricName"].as_str().expect("a name").to_string(), r["queryRequestsCount"].as_u64().expect("a count"))).collect()
}

#[test]
fn queries_count_the_names_they_read_and_the_counts_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&config);
    let t0 = (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64 - 60) * 1000;
    let body = v1_request(&[
        (vec![("__name__", "used_total"), ("i", "1")], vec![(t0, 1.0)]),
        (vec![("__name__", "used_total"), ("i", "2")], vec![(t0, 2.0)]),
        (vec![("__name__", "used_total"), ("i", "3")], vec![(t0, 3.0)]),
        (vec![("__name__", "never_read"), ("i", "1")], vec![(t0, 4.0)]),
    ]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let answer = stats(&server, "");
    assert_eq!(reads(&answer), vec![("never_read".into(), 0), ("used_total".into(), 0)], "{answer}");
    let since = answer["statsCollectedSince"].as_u64().expect("a start");
    assert!(since > 0, "{answer}");

    let (status, result) = get_json(&server.url(&format!("/api/v1/query?query=sum(used_total)&time={}", t0 / 1000)));
    assert_eq!((status, &result["data"]["result"][0]["value"][1]), (200, &serde_json::json!("6")), "{result}");
    let answer = stats(&server, "");
    assert_eq!(reads(&answer), vec![("never_read".into(), 0), ("used_total".into(), 3)], "one count per series read: {answer}");
    assert_eq!(answer["statsCollectedRecordsTotal"], 2);
    assert!(answer["records"][1]["lastQueryRequestTimestamp"].as_u64().is_some_and(|t| t >= since), "{answer}");
    assert_eq!(reads(&stats(&server, "?le=0")), vec![("never_read".into(), 0)]);
    assert_eq!(reads(&stats(&server, "?match_pattern=total")), vec![("used_total".into(), 3)]);
    assert_eq!(reads(&stats(&server, "?limit=1")), vec![("never_read".into(), 0)]);
    // URL read filters cannot confine the list (every name, every client's reads): refused,
    // as the other endpoints showing what every client may see refuse them.
    let (status, answer) = get_json(&server.url("/api/v1/status/metric_names_stats?extra_label=i=1"));
    assert_eq!(status, 400, "{answer}");
        let (status, answer) = get_json(&server.url("/api/v1/status/metric_names_stats?match_pattern=%28"));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("match_pattern")), "{answer}");

    // The cardinality explorer's figures carry the counts.
    let (_, tsdb) = get_json(&server.url("/api/v1/status/tsdb"));
    let entries = tsdb["data"]["seriesCountByMetricName"].as_array().expect("entries").clone();
    let used = entries.iter().find(|e| e["name"] == "used_total").expect("used_total listed");
    assert_eq!((&used["value"], &used["requestsCount"]), (&serde_json::json!(3), &serde_json::json!(3)), "{tsdb}");
    // VictoriaMetrics' own figures for its explorer: totals, series per label name, and the
    // series per value of a focus label.
    let (year, month, day) = promql::format::civil_from_days(t0.div_euclid(86_400_000));
    let today = format!("{year:04}-{month:02}-{day:02}");
    let (_, tsdb) = get_json(&server.url(&format!("/api/v1/status/tsdb?focusLabel=i&date={today}")));
    let data = &tsdb["data"];
    assert_eq!((&data["totalSeries"], &data["totalLabelValuePairs"]), (&serde_json::json!(4), &serde_json::json!(5)), "{tsdb}");
    assert_eq!(data["seriesCountByLabelName"], serde_json::json!([{"name": "__name__", "value": 4}, {"name": "i", "value": 4}]), "{tsdb}");
    assert_eq!(data["seriesCountByFocusLabelValue"], serde_json::json!([{"name": "1", "value": 2}, {"name": "2", "value": 1}, {"name": "3", "value": 1}]), "{tsdb}");
    let (_, tsdb) = get_json(&server.url("/api/v1/status/tsdb"));
    assert!(tsdb["data"].get("seriesCountByFocusLabelValue").is_none(), "{tsdb}");
    assert_eq!(tsdb["data"]["totalSeries"], 4, "no date: every day's series {tsdb}");
    // `date` counts the series with samples on that day; 1970-01-01 is every day, as in
    // VictoriaMetrics; a date that is not one is a 400 naming it.
    let (_, tsdb) = get_json(&server.url("/api/v1/status/tsdb?date=2024-01-01"));
    assert_eq!((&tsdb["data"]["totalSeries"], &tsdb["data"]["seriesCountByMetricName"]), (&serde_json::json!(0), &serde_json::json!([])), "{tsdb}");
    let (_, tsdb) = get_json(&server.url("/api/v1/status/tsdb?date=1970-01-01"));
    assert_eq!(tsdb["data"]["totalSeries"], 4, "{tsdb}");
    for bad in ["2024-02-30", "2024-1-01", "yesterday", "2024-01-01T00:00:00Z"] {
        let (status, answer) = get_json(&server.url(&format!("/api/v1/status/tsdb?date={bad}")));
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains("\"date\"") && e.contains(bad)), "{bad}: {answer}");
    }

    // Kept across a clean restart.
    assert!(server.stop(), "clean stop");
    let server = Server::start(&config);
    let answer = stats(&server, "");
    assert_eq!(reads(&answer), vec![("never_read".into(), 0), ("used_total".into(), 3)], "{answer}");
    assert_eq!(answer["statsCollectedSince"].as_u64(), Some(since));

    let reply = post(&server.url("/api/v1/admin/status/metric_names_stats/reset"), "text/plain", b"");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reads(&stats(&server, "")), vec![("never_read".into(), 0), ("used_total".into(), 0)]);
    assert!(server.stop(), "clean stop");

    // Off: the endpoint says so.
    let mut text = std::fs::read_to_string(&config).expect("config");
    text = text.replacen("server:\n", "server:\n  track_metric_names_stats: false\n", 1);
    std::fs::write(&config, text).expect("config");
    let server = Server::start(&config);
    let (status, answer) = get_json(&server.url("/api/v1/status/metric_names_stats"));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("server.track_metric_names_stats")), "{answer}");
    assert!(server.stop(), "clean stop");
}
