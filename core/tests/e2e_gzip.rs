//! Answers are gzipped when the client accepts it (as Prometheus' API does): the body
//! decompresses to exactly the uncompressed answer, small answers and clients that refuse
//! gzip get plain bodies.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use support::*;

/// One GET over a fresh connection: (head, body bytes).
fn get_raw(addr: &str, target: &str, accept_encoding: Option<&str>) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let accept = accept_encoding.map(|a| format!("Accept-Encoding: {a}\r\n")).unwrap_or_default();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n").expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of head") + 4;
    (String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase(), raw[split..].to_vec())
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out).expect("valid gzip");
    out
}

/// A query answer without VictoriaMetrics' top-level `stats` (its execution time differs from
/// one request to the next, and an answer from the range cache has none).
fn without_stats(body: &[u8]) -> serde_json::Value {
    let mut answer: serde_json::Value = serde_json::from_slice(body).expect("a JSON answer");
    answer.as_object_mut().expect("an object").remove("stats");
    answer
}

#[test]
fn answers_are_gzipped_for_clients_that_accept_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let series: Vec<support::SeriesInput<'_>> = ["a", "b", "c", "d"]
        .iter()
        .map(|job| (vec![("__name__", "gz_metric"), ("job", *job)], (0..200).map(|i| (1_000_000 + i * 15_000, i as f64)).collect()))
        .collect();
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series)).status, 204);

    let range = "/api/v1/query_range?query=gz_metric&start=1000&end=3985&step=15";
    let (head, plain) = get_raw(&server.http_addr, range, None);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(plain.len() > 10_000, "a sizeable answer: {} bytes", plain.len());

    let (head, compressed) = get_raw(&server.http_addr, range, Some("gzip, deflate, br"));
    assert!(head.contains("content-encoding: gzip") && head.contains("vary: accept-encoding"), "{head}");
    assert!(head.contains(&format!("content-length: {}", compressed.len())), "{head}");
    assert!(compressed.len() * 4 < plain.len(), "{} compressed against {} bytes", compressed.len(), plain.len());
    assert_eq!(without_stats(&gunzip(&compressed)), without_stats(&plain), "decompresses to the same answer");

    // Refused by quality 0, or too small to be worth it: plain.
    let (head, body) = get_raw(&server.http_addr, range, Some("gzip;q=0, identity"));
    assert!(!head.contains("content-encoding"), "{head}");
    assert_eq!(without_stats(&body), without_stats(&plain));
    let (head, _) = get_raw(&server.http_addr, "/api/v1/query?query=vector(1)", Some("gzip"));
    assert!(head.starts_with("http/1.1 200") && !head.contains("content-encoding"), "{head}");

    // Text answers too (/metrics, as Prometheus scrapes it).
    let (head, metrics) = get_raw(&server.http_addr, "/metrics", Some("gzip"));
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(String::from_utf8(gunzip(&metrics)).unwrap().contains("metricstor_samples_ingested_total"));
    assert!(server.stop());

    // Turned off: plain answers whatever the client accepts.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), "  compress_responses: false\n"));
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series)).status, 204);
    let (head, body) = get_raw(&server.http_addr, range, Some("gzip"));
    assert!(head.starts_with("http/1.1 200") && !head.contains("content-encoding"), "{head}");
    assert_eq!(without_stats(&body), without_stats(&plain));
    assert!(server.stop());
}
