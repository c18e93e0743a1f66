//! `storage.max_series`: a write bringing new series past the limit stores the samples of
//! series that exist or fit, answers 400 naming the limit with the written count, and
//! counts the refused samples; series that exist keep being written. Likewise the hourly and
//! daily limits (`max_hourly_series`, `max_daily_series`) for series not yet seen in the window,
//! and the per-selector query limit (`server.max_series_per_select`).

mod support;

use support::*;

#[test]
fn new_series_past_the_limit_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(dir.path(), "  cores: 1\n", "  max_series: 2\n");
    let server = Server::start(&config);
    let write = |series: &[(&str, i64)]| {
        let body: Vec<support::SeriesInput<'_>> =
            series.iter().map(|(job, t)| (vec![("__name__", "limited"), ("job", *job)], vec![(*t, 1.0)])).collect();
        post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&body))
    };
    let stored = || {
        let (_, body) = get_json(&server.url("/api/v1/query?query=count_over_time(limited%5B1h%5D)&time=2000"));
        let mut jobs: Vec<(String, String)> = body["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["metric"]["job"].as_str().unwrap().to_string(), s["value"][1].as_str().unwrap().to_string()))
            .collect();
        jobs.sort();
        jobs
    };
    assert_eq!(write(&[("a", 1_000_000)]).status, 204);
    // b fits, c does not; a exists.
    let reply = write(&[("b", 1_000_000), ("a", 1_015_000), ("c", 1_000_000)]);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("storage.max_series") && reply.body.contains("1 sample of new series"), "{}", reply.body);
    assert_eq!(reply.header("x-prometheus-remote-write-samples-written"), Some("2"));
    assert_eq!(stored(), vec![("a".to_string(), "2".to_string()), ("b".to_string(), "1".to_string())]);
    // Existing series go on.
    assert_eq!(write(&[("a", 1_030_000), ("b", 1_030_000)]).status, 204);
    assert_eq!(stored(), vec![("a".to_string(), "3".to_string()), ("b".to_string(), "2".to_string())]);
    let metrics = agent().get(&server.url("/metrics")).call().unwrap().into_string().unwrap();
    assert!(metrics.lines().any(|l| l.starts_with("metricstor_shard_samples_refused_series_limit_total{") && l.ends_with(" 1")), "{metrics}");
    assert!(server.stop());
}

/// `storage.max_hourly_series` and `max_daily_series` (VictoriaMetrics' cardinality limiter):
/// series past either window's limit are refused with a 400 naming it, the rest stored;
/// series seen in the window go on; the refusals are counted, and the windows' figures shown.
#[test]
fn series_past_the_hourly_or_daily_limit_are_refused_naming_it() {
    // The windows follow the wall clock: a test begun in an hour's last seconds would see it
    // turn. (A wait for the clock, bounded by 10 s, not for the server.)
    let hour_ms = 3_600_000u128;
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis();
    let left_ms = hour_ms - now_ms() % hour_ms;
    if left_ms < 10_000 {
        std::thread::sleep(std::time::Duration::from_millis(left_ms as u64 + 100));
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_config_with(dir.path(), "  cores: 1\n", "  max_hourly_series: 3\n  max_daily_series: 2\n");
    let server = Server::start(&config);
    let write = |jobs: &[&str], t: i64| {
        let body: Vec<support::SeriesInput<'_>> = jobs.iter().map(|job| (vec![("__name__", "windowed"), ("job", *job)], vec![(t, 1.0)])).collect();
        post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&body))
    };
    assert_eq!(write(&["a", "b"], 1_000_000).status, 204);
    // c fits the hour (3) but not the day (2).
    let reply = write(&["a", "c"], 1_015_000);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("1 sample not stored") && reply.body.contains("storage.max_daily_series"), "{}", reply.body);
    assert_eq!(reply.header("x-prometheus-remote-write-samples-written"), Some("1"));
    // d is past the hour's three (a, b, c), whatever the day says; a and b go on.
    let reply = write(&["d", "a", "b"], 1_030_000);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("storage.max_hourly_series") && !reply.body.contains("max_daily_series"), "{}", reply.body);
    assert_eq!(reply.header("x-prometheus-remote-write-samples-written"), Some("2"));
    let (_, body) = get_json(&server.url("/api/v1/query?query=count_over_time(windowed%5B1h%5D)&time=2000"));
    let mut stored: Vec<(String, String)> = body["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| (s["metric"]["job"].as_str().expect("job").to_string(), s["value"][1].as_str().expect("value").to_string()))
        .collect();
    stored.sort();
    assert_eq!(stored, vec![("a".to_string(), "3".to_string()), ("b".to_string(), "2".to_string())]);
    let metrics = agent().get(&server.url("/metrics")).call().unwrap().into_string().unwrap();
    for expected in [
        "metricstor_shard_samples_refused_hourly_limit_total{shard=\"0\"} 1",
        "metricstor_shard_samples_refused_daily_limit_total{shard=\"0\"} 1",
        "metricstor_shard_hourly_series{shard=\"0\"} 3",
        "metricstor_shard_hourly_series_limit{shard=\"0\"} 3",
        "metricstor_shard_daily_series{shard=\"0\"} 2",
        "metricstor_shard_daily_series_limit{shard=\"0\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == expected), "{expected} not in {metrics}");
    }
    assert!(server.stop());
}

/// `server.max_series_per_select` (VictoriaMetrics' `-search.maxUniqueTimeseries`): a query
/// one of whose selectors selects more series is a 422 naming the limit; narrower ones run.
#[test]
fn a_selector_past_the_series_limit_fails_the_query_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), "  max_series_per_select: 2\n"));
    let body: Vec<support::SeriesInput<'_>> = ["a", "b", "c"].iter().map(|job| (vec![("__name__", "wide"), ("job", *job)], vec![(1_000_000, 1.0)])).collect();
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&body)).status, 204);
    let (status, answer) = get_json(&server.url("/api/v1/query?query=sum(wide)&time=1000"));
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("3 series") && e.contains("server.max_series_per_select (2)")), "{answer}");
    let (status, answer) = get_json(&server.url("/api/v1/query?query=sum(wide%7Bjob%21%3D%22c%22%7D)&time=1000"));
    assert_eq!((status, &answer["data"]["result"][0]["value"][1]), (200, &serde_json::json!("2")), "{answer}");
    assert!(server.stop());
}
