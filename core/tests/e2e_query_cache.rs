//! The range-query result cache and the listing cache against the real binary: cached answers
//! equal those evaluated without the cache, the caches are used, and every change of settled
//! history or acknowledged write shows in the next answer.

mod support;

use support::*;

const MINUTE_S: i64 = 60;

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// `query_range` answer's `data` (panics on a non-200).
fn range(server: &Server, query: &str, start_s: i64, end_s: i64, step_s: i64, nocache: bool) -> serde_json::Value {
    api_data(
        server,
        &format!(
            "/api/v1/query_range?query={}&start={start_s}&end={end_s}&step={step_s}{}",
            urlencode(query),
            if nocache { "&nocache=1" } else { "" }
        ),
    )
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Asserts the cached and uncached answers are identical and returns the answer.
fn same_with_and_without_cache(server: &Server, query: &str, start_s: i64, end_s: i64, step_s: i64) -> serde_json::Value {
    let cached = range(server, query, start_s, end_s, step_s, false);
    let fresh = range(server, query, start_s, end_s, step_s, true);
    assert_eq!(cached, fresh, "{query} over [{start_s}, {end_s}] step {step_s}: cache and evaluation differ");
    assert!(
        !fresh["result"].as_array().is_none_or(Vec::is_empty),
        "{query}: empty answer proves nothing"
    );
    cached
}

fn metric(server: &Server, name: &str) -> f64 {
    let text = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

fn write(server: &Server, batch: &[support::SeriesInput<'_>]) {
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(batch));
    assert_eq!(reply.status, 204, "write: {}", reply.body);
}

/// Every cached answer (whole hit, partial hit with only the newest steps evaluated, a window
/// inside a cached one) equals the answer evaluated without the cache (`nocache=1`), byte for
/// byte; the cache is used (its counters move); and when settled history changes (a sample
/// overwritten in the past, a backfilled series, a `delete_series`) the next answer shows the
/// change instead of the cached points.
#[test]
fn cached_range_answers_equal_evaluation_and_follow_changes_of_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "  enable_admin_api: true\n");
    let server = Server::start(&config);

    // Three counters every minute for the last three hours, up to the present.
    let now = now_s() / MINUTE_S * MINUTE_S;
    let first = now - 180 * MINUTE_S;
    let points = |slope: f64| -> Vec<(i64, f64)> {
        (0..=180).map(|i| ((first + i * MINUTE_S) * 1000, (i as f64) * slope)).collect()
    };
    write(
        &server,
        &[
            (vec![("__name__", "cq"), ("job", "a")], points(1.0)),
            (vec![("__name__", "cq"), ("job", "b")], points(2.5)),
            (vec![("__name__", "cq"), ("job", "c")], points(0.5)),
        ],
    );

    let queries = ["rate(cq[5m])", "sum(rate(cq[5m]))", "max_over_time(cq[10m]) - cq offset 3m"];
    let (start, end, step) = (now - 120 * MINUTE_S, now, 30);
    for q in queries {
        // Miss (stores the settled part), then a whole hit for a window inside it, then a
        // partial hit reaching past the settled edge (only the newest steps evaluated).
        same_with_and_without_cache(&server, q, start, end, step);
        same_with_and_without_cache(&server, q, start + 30 * MINUTE_S, end - 30 * MINUTE_S, step);
        same_with_and_without_cache(&server, q, start + 60 * MINUTE_S, end + 10 * MINUTE_S, step);
        // A 10-minute grid: the settled steps end at `now - 10m`; a request ending just after
        // that, off the grid, has no step left to evaluate.
        same_with_and_without_cache(&server, q, start, end, 600);
        same_with_and_without_cache(&server, q, start, end - 10 * MINUTE_S + 7, 600);
    }
    assert!(metric(&server, "metricstor_query_cache_hits_total") >= 3.0);
    assert!(metric(&server, "metricstor_query_cache_partial_hits_total") >= 3.0);
    assert!(metric(&server, "metricstor_query_cache_bytes") > 0.0);
    // Range-dependent queries are evaluated, and still right.
    same_with_and_without_cache(&server, "cq @ end()", start, end, step);

    // History changes: an overwritten sample in the settled past (last write wins) ...
    let q = "sum(rate(cq[5m]))";
    let before = same_with_and_without_cache(&server, q, start, end - 30 * MINUTE_S, step);
    let t = (now - 90 * MINUTE_S) * 1000;
    write(&server, &[(vec![("__name__", "cq"), ("job", "a")], vec![(t, 1_000_000.0)])]);
    let after = same_with_and_without_cache(&server, q, start, end - 30 * MINUTE_S, step);
    assert_ne!(before, after, "the overwritten sample must show");
    assert!(metric(&server, "metricstor_query_cache_invalidations_total") >= 1.0);

    // ... a series backfilled into the past ...
    write(&server, &[(vec![("__name__", "cq"), ("job", "d")], points(7.0)[..100].to_vec())]);
    let backfilled = same_with_and_without_cache(&server, "rate(cq[5m])", start, end - 30 * MINUTE_S, step);
    assert_eq!(backfilled["result"].as_array().map(Vec::len), Some(4), "job d must appear: {backfilled}");

    // ... and a deleted series.
    delete_series(&server, "cq{job=\"b\"}");
    let deleted = same_with_and_without_cache(&server, "rate(cq[5m])", start, end - 30 * MINUTE_S, step);
    let jobs: Vec<&str> = deleted["result"]
        .as_array()
        .expect("matrix")
        .iter()
        .filter_map(|s| s["metric"]["job"].as_str())
        .collect();
    assert_eq!(jobs, ["a", "c", "d"], "job b was deleted");
    assert!(server.stop(), "clean shutdown");
}

/// `data` of an API answer (panics on a non-200).
fn api_data(server: &Server, path_and_query: &str) -> serde_json::Value {
    let (status, body) = get_json(&server.url(path_and_query));
    assert_eq!(status, 200, "{path_and_query}: {body}");
    body["data"].clone()
}

fn delete_series(server: &Server, selector: &str) {
    let url = server.url(&format!("/api/v1/admin/tsdb/delete_series?match[]={}", urlencode(selector)));
    let (status, body) = match agent().post(&url).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("delete_series: {e}"),
    };
    assert_eq!(status, 204, "delete_series {selector}: {body}");
}

/// A listing asked again answers from an executor's cache, yet shows every write and delete
/// acknowledged before it.
#[test]
fn cached_listings_show_every_acknowledged_write_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "  enable_admin_api: true\n");
    let server = Server::start(&config);
    let now = now_s() / MINUTE_S * MINUTE_S;
    let sample = vec![((now - MINUTE_S) * 1000, 1.0)];
    // The same window and selector in every request, as a dashboard's variables send them.
    let window = format!("match[]={}&start={}&end={}", urlencode("lc"), now - 3600, now + 3600);
    let values = |server: &Server| api_data(server, &format!("/api/v1/label/job/values?{window}"));
    let names = |server: &Server| api_data(server, &format!("/api/v1/labels?{window}"));
    let series_count = |server: &Server| api_data(server, &format!("/api/v1/series?{window}")).as_array().map_or(0, Vec::len);

    write(&server, &[(vec![("__name__", "lc"), ("job", "a")], sample.clone())]);
    // Asked again and again with nothing written: answered from the cache (each executor
    // computes it once), always the same.
    for _ in 0..6 {
        assert_eq!(values(&server), serde_json::json!(["a"]));
        assert_eq!(names(&server), serde_json::json!(["__name__", "job"]));
        assert_eq!(series_count(&server), 1);
    }
    let hits = metric(&server, "metricstor_listing_cache_hits_total");
    assert!(hits >= 6.0, "repeated listings are answered from the cache: {hits} hits");

    // A new series, a new label, then a delete: each shows in the very next answer.
    write(&server, &[(vec![("__name__", "lc"), ("job", "b")], sample.clone())]);
    assert_eq!(values(&server), serde_json::json!(["a", "b"]));
    assert_eq!(series_count(&server), 2);
    write(&server, &[(vec![("__name__", "lc"), ("job", "c"), ("zone", "z")], sample.clone())]);
    assert_eq!(names(&server), serde_json::json!(["__name__", "job", "zone"]));
    assert_eq!(values(&server), serde_json::json!(["a", "b", "c"]));
    delete_series(&server, "lc{job=\"a\"}");
    assert_eq!(values(&server), serde_json::json!(["b", "c"]));
    assert_eq!(series_count(&server), 2);
    assert!(metric(&server, "metricstor_listing_cache_hits_total") >= hits, "the counter only grows");
    assert!(server.stop(), "clean shutdown");
}

/// VictoriaMetrics' `/internal/resetRollupResultCache` empties the range cache: the query
/// that was a whole hit before it is evaluated again after it. `/internal/force_flush`
/// answers 200 (every acknowledged sample is readable already).
#[test]
fn reset_rollup_result_cache_makes_the_next_range_query_evaluate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let now = now_s() / MINUTE_S * MINUTE_S;
    let first = now - 180 * MINUTE_S;
    write(&server, &[(vec![("__name__", "rc"), ("job", "a")], (0..=180).map(|i| ((first + i * MINUTE_S) * 1000, i as f64)).collect())]);
    let (q, start, end, step) = ("rate(rc[5m])", now - 120 * MINUTE_S, now - 30 * MINUTE_S, 60);
    let answer = same_with_and_without_cache(&server, q, start, end, step);
    let hits = metric(&server, "metricstor_query_cache_hits_total");
    assert_eq!(range(&server, q, start, end, step, false), answer);
    assert_eq!(metric(&server, "metricstor_query_cache_hits_total"), hits + 1.0, "a whole hit before the reset");

    for path in ["/internal/resetRollupResultCache", "/prometheus/internal/resetRollupResultCache", "/internal/force_flush"] {
        let reply = post(&server.url(path), "text/plain", b"");
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    let invalidations = metric(&server, "metricstor_query_cache_invalidations_total");
    assert_eq!(range(&server, q, start, end, step, false), answer, "the same answer, evaluated");
    assert_eq!(metric(&server, "metricstor_query_cache_hits_total"), hits + 1.0, "no hit after the reset");
    assert!(metric(&server, "metricstor_query_cache_invalidations_total") > invalidations);
    assert!(server.stop(), "clean shutdown");
}
