//! `storage.dedup_interval_seconds`: two writers of an HA pair send the same series 200 ms
//! apart; with deduplication at their scrape interval queries see one sample per interval
//! (the later one), without it both.

mod support;

use support::*;

/// Replica `a` at k·10 s + 1.1 s, replica `b` at + 1.3 s, 30 intervals, each in its own
/// request (as two remote_write streams arrive); `b`'s value is `a`'s plus 1.
fn write_pair(server: &Server) {
    for (offset, plus) in [(1_100, 0.0), (1_300, 1.0)] {
        let samples: Vec<(i64, f64)> = (0..30).map(|k| (1_000_000 + k * 10_000 + offset, (k * 10) as f64 + plus)).collect();
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&[(vec![("__name__", "ha_requests_total"), ("job", "api")], samples)]));
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
}

fn value(server: &Server, query: &str, time_s: f64) -> String {
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={query}&time={time_s}")));
    answer["data"]["result"][0]["value"][1].as_str().unwrap_or_else(|| panic!("{query}: {answer}")).to_string()
}

#[test]
fn an_ha_pair_reads_as_one_writer_with_dedup_and_as_two_without() {
    let dir = tempfile::tempdir().unwrap();
    let dedup = Server::start(&write_config_with(dir.path(), "  cores: 2\n", "  dedup_interval_seconds: 10\n"));
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = Server::start(&write_config(plain_dir.path(), ""));
    write_pair(&dedup);
    write_pair(&plain);
    // The window (1000 s, 1300 s] holds all 60 samples.
    let count = "count_over_time(ha_requests_total%5B300s%5D)";
    assert_eq!(value(&plain, count, 1300.0), "60");
    assert_eq!(value(&dedup, count, 1300.0), "30");
    // The one kept per interval is the later writer's: b's values, a's plus 1.
    let sum = "sum_over_time(ha_requests_total%5B300s%5D)";
    let expected_b: f64 = (0..30).map(|k| (k * 10) as f64 + 1.0).sum();
    assert_eq!(value(&dedup, sum, 1300.0), format!("{expected_b}"));
    // The newest sample is the same either way, and a range query sees one point per step.
    assert_eq!(value(&dedup, "ha_requests_total", 1291.4), "291");
    let (_, answer) = get_json(&dedup.url("/api/v1/query_range?query=changes(ha_requests_total%5B1m%5D)&start=1100&end=1200&step=50"));
    let changes: Vec<&str> = answer["data"]["result"][0]["values"].as_array().expect("matrix").iter().map(|p| p[1].as_str().unwrap_or("")).collect();
    // One sample per 10 s interval in each 60 s window: 5 changes (11 without deduplication).
    assert_eq!(changes, vec!["5", "5", "5"], "{answer}");
    assert!(dedup.stop());
    assert!(plain.stop());
}

#[test]
fn an_invalid_interval_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(dir.path(), "", "  dedup_interval_seconds: -1\n");
    let stderr = start_refused(&config);
    assert!(stderr.contains("storage.dedup_interval_seconds"), "{stderr}");
}
