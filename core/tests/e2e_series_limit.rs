//! `storage.max_series`: a write bringing new series past the limit stores the samples of
//! series that exist or fit, answers 400 naming the limit with the written count, and
//! counts the refused samples; series that exist keep being written.

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
