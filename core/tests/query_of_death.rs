//! Queries of death against the real binary: one that would load every sample ever stored
//! is refused by the sample limit (422), one that would evaluate for hours is cancelled at
//! the query timeout (503), writes keep being acknowledged while it runs, a query waiting
//! for a busy slot gets 503, a histogram with NaN bounds answers NaN, and the server answers
//! normally afterwards.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::*;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    write_config_with(dir, "  cores: 1\n  query_timeout_seconds: 2\n  max_samples_per_query: 100000\n  max_concurrent_queries: 1\n", "")
}

fn batch(first_series: usize, n_series: usize, samples: i64, value_base: f64) -> Vec<u8> {
    let names: Vec<String> = (first_series..first_series + n_series).map(|k| format!("s{k}")).collect();
    let series: Vec<support::SeriesInput<'_>> = names
        .iter()
        .map(|k| (vec![("__name__", "qod"), ("series", k.as_str())], (0..samples).map(|i| (i * 15_000, value_base + i as f64)).collect()))
        .collect();
    v1_request(&series)
}

fn get(url: &str) -> (u16, serde_json::Value) {
    match agent().get(url).call() {
        Ok(r) => (r.status(), serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default()),
        Err(e) => panic!("GET {url}: {e}"),
    }
}

#[test]
fn queries_of_death_are_stopped_and_ingestion_continues() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    // 1000 series x 120 samples = 120,000 samples: more than one query may load.
    for chunk in 0..10 {
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &batch(chunk * 100, 100, 120, 0.0));
        assert_eq!(reply.status, 204, "{}", reply.body);
    }

    // Every sample ever stored, under a regex matching every series: refused by the limit.
    let (status, body) = get(&server.url("/api/v1/query?query=count_over_time(%7B__name__%3D~%22.%2B%22%7D%5B10y%5D)&time=1800"));
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errorType"], "execution", "{body}");
    assert!(body["error"].as_str().unwrap_or("").contains("too many samples"), "{body}");

    // Few samples, but 86,400 x 7,200 nested subquery steps: cancelled at the 2 s timeout.
    // Meanwhile a writer keeps pushing; every write must be acknowledged.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, url) = (stop.clone(), server.url("/api/v1/write"));
        std::thread::spawn(move || {
            let mut acknowledged = 0u32;
            let mut round = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let reply = post(&url, "application/x-protobuf", &batch(5000 + round % 50, 1, 1, 1e6 + round as f64));
                assert_eq!(reply.status, 204, "write during the heavy query: {}", reply.body);
                acknowledged += 1;
                round += 1;
            }
            acknowledged
        })
    };
    let heavy = {
        let url = server.url("/api/v1/query?query=max_over_time(max_over_time(max_over_time(qod%7Bseries%3D%22s1%22%7D%5B1m%5D)%5B1d%3A1s%5D)%5B2h%3A1s%5D)&time=1800");
        std::thread::spawn(move || get(&url))
    };
    // While the heavy query holds the only slot, another query waits and gets 503; retried
    // until that happens or the heavy query is over (it may not have started yet).
    let mut saw_slot_refusal = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !heavy.is_finished() && Instant::now() < deadline {
        let (status, body) = get(&server.url("/api/v1/query?query=vector(1)&timeout=200ms"));
        if status == 503 {
            assert_eq!(body["errorType"], "timeout", "{body}");
            assert!(body["error"].as_str().unwrap_or("").contains("concurrent query slots"), "{body}");
            saw_slot_refusal = true;
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = heavy.join().expect("heavy query thread");
    stop.store(true, Ordering::Relaxed);
    let acknowledged = writer.join().expect("writer thread");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errorType"], "timeout", "{body}");
    assert!(body["error"].as_str().unwrap_or("").contains("expression evaluation"), "{body}");
    assert!(saw_slot_refusal, "a second query was never refused while the heavy one held the slot");
    assert!(acknowledged > 0, "no write completed while the heavy query ran");
    eprintln!("{acknowledged} writes acknowledged while the heavy query ran");

    // Afterwards: queries answer normally and the concurrent writes are readable.
    let (status, body) = get(&server.url("/api/v1/query?query=count(qod)&time=1800"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "1000", "{body}");
    let (status, body) = get(&server.url("/api/v1/query?query=count(qod%20%3E%3D%201e6)&time=10"));
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["result"][0]["value"][1].as_str().is_some(), "writes made during the heavy query are readable: {body}");
    assert!(server.stop());
}

/// A client that gives up on a long query (closes its connection) frees the query slot at
/// once: the evaluation is cancelled rather than running on to the timeout (the slot and the
/// query's `queries.active` entry are held until the evaluation has stopped).
#[test]
fn a_query_whose_client_went_away_is_cancelled() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = write_config_with(dir.path(), "  cores: 1\n  query_timeout_seconds: 600\n  max_concurrent_queries: 1\n", "");
    let server = Server::start(&path);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &batch(0, 2, 120, 0.0));
    assert_eq!(reply.status, 204, "{}", reply.body);

    // A query that would evaluate for far longer than this test, sent over a raw socket.
    let mut heavy = std::net::TcpStream::connect(&server.http_addr).expect("connect");
    write!(
        heavy,
        "GET /api/v1/query?query=max_over_time(max_over_time(max_over_time(qod%7Bseries%3D%22s1%22%7D%5B1m%5D)%5B1d%3A1s%5D)%5B2h%3A1s%5D)&time=1800 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .expect("send heavy query");
    // Wait (bounded) until it holds the only slot: a quick query is then refused.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(&server.url("/api/v1/query?query=vector(1)&timeout=200ms"));
        if status == 503 && body["error"].as_str().unwrap_or("").contains("concurrent query slots") {
            break;
        }
        assert!(Instant::now() < deadline, "the heavy query never took the slot: {status} {body}");
    }
    // It is written in `queries.active` while it runs.
    let active_file = dir.path().join("data").join("queries.active");
    let listed = || String::from_utf8_lossy(&std::fs::read(&active_file).unwrap_or_default()).contains("max_over_time");
    assert!(listed(), "the running query is in queries.active");
    // The client gives up. The slot, held until the evaluation has stopped, must come free
    // long before the 600 s timeout: the evaluation was cancelled.
    drop(heavy);
    let (status, body) = get(&server.url("/api/v1/query?query=vector(1)&timeout=20s"));
    assert_eq!(status, 200, "the abandoned query still holds the slot: {body}");
    // Its entry went with the slot, when its evaluation stopped.
    assert!(!listed(), "the cancelled query is still in queries.active");
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().unwrap_or_default();
    let abandoned: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("metricstor_requests_abandoned_total"))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum();
    assert!(abandoned >= 1.0, "the abandoned request is counted: {abandoned}");
    assert!(server.stop());
}

/// A classic histogram with buckets bounded by NaN (`le="NaN"`, which a remote_write client
/// may send) among many: `histogram_quantile` answers NaN whatever order they come in (a sort
/// of them by a comparison that is no total order could panic the evaluation; the unit test
/// `a_bucket_bounded_by_nan_gives_nan_whatever_the_order` reproduces that), and the server
/// keeps answering.
#[test]
fn a_histogram_with_a_nan_bound_answers_nan() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    // Bounds 0..30, +Inf and three NaN ones, each bucket in two series (`i`), in a scattered order.
    let mut bounds: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    bounds.extend(["NaN", "NaN", "NaN", "+Inf"].map(String::from));
    let ids: Vec<String> = (0..bounds.len() * 2).map(|i| format!("{:02}", (i * 23) % (bounds.len() * 2))).collect();
    let series: Vec<support::SeriesInput<'_>> =
        ids.iter().enumerate().map(|(k, id)| (vec![("__name__", "qod_bucket"), ("i", id.as_str()), ("le", bounds[k % bounds.len()].as_str())], vec![(60_000, k as f64)])).collect();
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series));
    assert_eq!(reply.status, 204, "{}", reply.body);
    for query in ["histogram_quantile(0.5%2C%20sum%20by%20(le)%20(qod_bucket))", "histogram_quantile(0.5%2C%20qod_bucket)"] {
        let (status, body) = get(&server.url(&format!("/api/v1/query?query={query}&time=60")));
        assert_eq!(status, 200, "{query}: {body}");
        let values: Vec<&str> = body["data"]["result"].as_array().map(|r| r.iter().filter_map(|s| s["value"][1].as_str()).collect()).unwrap_or_default();
        assert!(!values.is_empty() && values.iter().all(|v| *v == "NaN"), "{query}: {body}");
    }
    let (status, body) = get(&server.url("/api/v1/query?query=count(qod_bucket)&time=60"));
    assert_eq!((status, body["data"]["result"][0]["value"][1].as_str()), (200, Some("68")), "{body}");
    assert!(server.stop());
}

/// POST `query` to `/api/v1/query` (form-encoded, as Grafana sends it).
fn post_query(server: &Server, query: &str) -> (u16, serde_json::Value) {
    let reply = post(&server.url("/api/v1/query"), "application/x-www-form-urlencoded", format!("query={}&time=60", percent_encode(query)).as_bytes());
    (reply.status, serde_json::from_str(&reply.body).unwrap_or_default())
}

/// Long operator chains and deep nesting: a 10 KB chain of 5,000 additions overflowed an
/// evaluation thread's stack and took the whole server down. Now the longest chains
/// accepted evaluate, even wrapped in the deepest nesting accepted (in the debug build the
/// tests run, whose frames are the largest), a longer chain is a 400 naming the bound, and
/// the server answers afterwards.
#[test]
fn deep_expressions_are_answered_or_refused_never_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    let chain = |terms: usize, term: &str| vec![term; terms].join(" + ");
    for (query, expected) in [
        (chain(1001, "1"), "1001"),
        (format!("{}{}{}", "(".repeat(98), chain(1001, "1"), ")".repeat(98)), "1001"),
        (format!("{}{}{}", "sum(".repeat(49), chain(1001, "vector(1)"), ")".repeat(49)), "1001"),
        (format!("{}{}{}", "-(".repeat(45), chain(1001, "1"), ")".repeat(45)), "-1001"),
        (vec!["vector(1)"; 1001].join(" or "), "1"),
    ] {
        let (status, body) = post_query(&server, &query);
        assert_eq!(status, 200, "{}…: {body}", &query[..60]);
        let value = match body["data"]["resultType"].as_str() {
            Some("scalar") => body["data"]["result"][1].as_str(),
            _ => body["data"]["result"][0]["value"][1].as_str(),
        };
        assert_eq!(value, Some(expected), "{}…: {body}", &query[..60]);
    }
    // The executor prints the deepest expression back and writes its syntax tree.
    let deepest = format!("{}{}{}", "(".repeat(98), chain(1001, "x"), ")".repeat(98));
    for path in ["/api/v1/format_query", "/api/v1/parse_query"] {
        let reply = post(&server.url(path), "application/x-www-form-urlencoded", format!("query={}", percent_encode(&deepest)).as_bytes());
        assert_eq!(reply.status, 200, "{path}: {}", &reply.body[..reply.body.len().min(300)]);
    }
    for terms in [1002, 5000] {
        let (status, body) = post_query(&server, &chain(terms, "1"));
        assert_eq!(status, 400, "{terms} terms: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains("more than 1000 binary operators")), "{body}");
    }
    let (status, body) = post_query(&server, &format!("{}1{}", "abs(".repeat(150), ")".repeat(150)));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("nested deeper")), "{body}");
    let (status, body) = get(&server.url("/api/v1/query?query=1%2B1&time=60"));
    assert_eq!((status, body["data"]["result"][1].as_str()), (200, Some("2")), "{body}");
    assert!(server.stop());
}
