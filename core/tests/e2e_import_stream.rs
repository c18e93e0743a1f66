//! Imports larger than `server.max_body_bytes` stream through the real binary: JSON lines
//! over HTTP/1.1 (Content-Length and chunked) and HTTP/2 (h2c), the Prometheus text format
//! chunked, every sample read back exactly; a bad line midway is a 400 naming it with the
//! lines before it stored; gzip, zstd and deflate bodies are decoded as they stream (snappy
//! ones read whole, as VictoriaMetrics reads them); other bodies (remote_write) are still
//! bounded (413).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::*;

/// The deliberately small body limit of these tests; every import below is several times it.
const BODY_LIMIT: usize = 1 << 20;
const STEP_MS: i64 = 10_000;

fn config(dir: &std::path::Path) -> std::path::PathBuf {
    write_config(dir, &format!("  max_body_bytes: {BODY_LIMIT}\n"))
}

fn base_ms() -> i64 {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    (now_ms - 2 * 3_600_000) / STEP_MS * STEP_MS
}

/// The value of series `i`'s sample `k`: distinct, and not an integer (so values round-trip
/// through their text form, not just timestamps).
fn value(i: usize, k: i64) -> f64 {
    i as f64 * 1000.0 + k as f64 + 0.25
}

/// `series` JSON lines of `metric` (label `i`), `samples` samples each from `base`.
fn json_lines(metric: &str, series: usize, samples: i64, base: i64) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..series {
        let values: Vec<String> = (0..samples).map(|k| value(i, k).to_string()).collect();
        let timestamps: Vec<String> = (0..samples).map(|k| (base + k * STEP_MS).to_string()).collect();
        out.push_str(&format!(
            "{{\"metric\":{{\"__name__\":\"{metric}\",\"i\":\"{i}\"}},\"values\":[{}],\"timestamps\":[{}]}}\n",
            values.join(","),
            timestamps.join(",")
        ));
    }
    out.into_bytes()
}

/// Every sample of `metric` by label `i` → (timestamp → value), from `/api/v1/export`.
fn exported(server: &Server, metric: &str) -> BTreeMap<usize, BTreeMap<i64, f64>> {
    let response = agent().get(&server.url(&format!("/api/v1/export?match[]={metric}"))).call().expect("export");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut response.into_reader(), &mut text).expect("export body");
    let mut out: BTreeMap<usize, BTreeMap<i64, f64>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let i: usize = v["metric"]["i"].as_str().expect("label i").parse().expect("numeric i");
        let series = out.entry(i).or_default();
        let (timestamps, values) = (v["timestamps"].as_array().expect("timestamps"), v["values"].as_array().expect("values"));
        assert_eq!(timestamps.len(), values.len(), "{line}");
        for (t, v) in timestamps.iter().zip(values) {
            let previous = series.insert(t.as_i64().expect("timestamp"), v.as_f64().expect("finite value"));
            assert!(previous.is_none(), "a sample exported twice: {line}");
        }
    }
    out
}

fn expected(series: usize, samples: i64, base: i64) -> BTreeMap<usize, BTreeMap<i64, f64>> {
    (0..series).map(|i| (i, (0..samples).map(|k| (base + k * STEP_MS, value(i, k))).collect())).collect()
}

fn import(url: &str, body: &[u8], chunked: bool) -> Reply {
    send_import(agent().post(url).set("Content-Type", "application/json"), url, body, chunked)
}

/// Sends `request` with `body`: ureq sends a reader of unknown length with
/// Transfer-Encoding: chunked, bytes with Content-Length.
fn send_import(request: ureq::Request, url: &str, body: &[u8], chunked: bool) -> Reply {
    let result = if chunked { request.send(std::io::Cursor::new(body.to_vec())) } else { request.send_bytes(body) };
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Reply { status: r.status(), headers: Vec::new(), body: r.into_string().unwrap_or_default() },
        Err(e) => panic!("POST {url}: {e}"),
    }
}

#[test]
fn imports_over_the_body_limit_stream_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    let base = base_ms();
    const SERIES: usize = 2_000;
    const SAMPLES: i64 = 300;
    let want = expected(SERIES, SAMPLES, base);
    for (metric, transport) in [("imp_length", "content-length"), ("imp_chunked", "chunked"), ("imp_h2", "h2")] {
        let body = json_lines(metric, SERIES, SAMPLES, base);
        assert!(body.len() > 8 * BODY_LIMIT, "{} bytes", body.len());
        let (status, text) = match transport {
            "h2" => h2_post(&server.http_addr, "/api/v1/import", body),
            _ => {
                let reply = import(&server.url("/api/v1/import"), &body, transport == "chunked");
                (reply.status, reply.body)
            }
        };
        assert_eq!(status, 204, "{transport}: {text}");
        assert!(exported(&server, metric) == want, "{transport}: the samples read back differ from those imported");
    }

    // The text format, chunked: 60,000 lines of one series (one growing batch), over the limit.
    let mut text = String::from("# TYPE imp_text gauge\n");
    for k in 0..60_000i64 {
        text.push_str(&format!("imp_text{{i=\"0\",pad=\"{}\"}} {} {}\n", "x".repeat(8), value(0, k), base + k * 100));
    }
    assert!(text.len() > 2 * BODY_LIMIT, "{} bytes", text.len());
    let reply = agent().post(&server.url("/api/v1/import/prometheus")).set("Content-Type", "text/plain").send(std::io::Cursor::new(text.into_bytes()));
    assert_eq!(reply.map(|r| r.status()).unwrap_or_else(|e| panic!("text import: {e}")), 204);
    let series = exported(&server, "imp_text");
    let want: BTreeMap<i64, f64> = (0..60_000i64).map(|k| (base + k * 100, value(0, k))).collect();
    assert!(series.len() == 1 && series[&0] == want, "text import read back differs");
    assert!(server.stop());
}

#[test]
fn a_bad_line_stops_the_import_after_storing_the_lines_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    let base = base_ms();
    let mut body = json_lines("imp_bad", 100, 20, base);
    body.extend_from_slice(b"{\"metric\":{\"job\":\"no name\"},\"values\":[1],\"timestamps\":[1]}\n");
    body.extend_from_slice(&json_lines("imp_after", 100, 20, base));
    let reply = import(&server.url("/api/v1/import"), &body, false);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("line 101") && reply.body.contains("metric name"), "{}", reply.body);
    assert!(reply.body.contains("lines before line 101 were imported"), "{}", reply.body);
    assert!(exported(&server, "imp_bad") == expected(100, 20, base), "the lines before the bad one are stored");
    assert!(exported(&server, "imp_after").is_empty(), "nothing after the bad line is stored");

    // The same with megabytes of lines before and after the bad one: runs of lines parse on
    // other threads at once, and still none from the bad line on is stored.
    let mut body = json_lines("imp_bad_big", 10_000, 20, base);
    let before = body.len();
    body.extend_from_slice(b"{\"metric\":{\"job\":\"no name\"},\"values\":[1],\"timestamps\":[1]}\n");
    body.extend_from_slice(&json_lines("imp_after_big", 10_000, 20, base));
    assert!(before > 3 << 20 && body.len() - before > 3 << 20, "{before} bytes before, {} after", body.len() - before);
    let reply = import(&server.url("/api/v1/import"), &body, true);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("line 10001") && reply.body.contains("lines before line 10001 were imported"), "{}", reply.body);
    assert!(exported(&server, "imp_bad_big") == expected(10_000, 20, base), "the lines before the bad one are stored");
    assert!(exported(&server, "imp_after_big").is_empty(), "nothing after the bad line is stored");

    // The text format's runs parse on other threads: a bad line after megabytes of lines.
    let line = |metric: &str, i: usize, k: i64| format!("{metric}{{i=\"{i}\"}} {} {}\n", value(i, k), base + k * STEP_MS);
    let mut text = String::new();
    for i in 0..40_000 {
        text.push_str(&line("imp_text_bad", i, 0));
    }
    text.push_str("imp_text_bad{i=\"x\" 1\n");
    for i in 0..40_000 {
        text.push_str(&line("imp_text_after", i, 0));
    }
    assert!(text.len() > 3 << 20, "{} bytes", text.len());
    let reply = agent().post(&server.url("/api/v1/import/prometheus")).set("Content-Type", "text/plain").send(std::io::Cursor::new(text.into_bytes()));
    let (status, body) = match reply {
        Err(ureq::Error::Status(status, response)) => (status, response.into_string().unwrap_or_default()),
        other => panic!("expected a 400, got {other:?}"),
    };
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("lines before line 40001 were imported"), "{body}");
    assert_eq!(exported(&server, "imp_text_bad").len(), 40_000, "every series before the bad line is stored");
    assert!(exported(&server, "imp_text_after").is_empty(), "nothing after the bad line is stored");

    // Other bodies are still bounded by max_body_bytes: a remote_write over it is a 413.
    let head = format!("POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n", 2 * BODY_LIMIT);
    let answer = raw_exchange(&server.http_addr, head.as_bytes(), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(server.stop());
}

fn import_encoded(url: &str, body: &[u8], encoding: &str) -> Reply {
    send_import(agent().post(url).set("Content-Type", "application/json").set("Content-Encoding", encoding), url, body, true)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("compress");
    encoder.finish().expect("compress")
}

/// A gzip-compressed import (`Content-Encoding: gzip`, as VictoriaMetrics takes it; here two
/// concatenated gzip members, chunked, decoding to more than the body limit) is decoded as it
/// streams and stored sample for sample; a gzip body cut short is a 400 with only complete
/// lines stored; another encoding is a 415.
#[test]
fn gzip_imports_are_decoded_as_they_stream() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    let base = base_ms();
    let (first, second) = (json_lines("imp_gz", 2000, 30, base), json_lines("imp_gz2", 2000, 30, base));
    assert!(first.len() + second.len() > 2 * BODY_LIMIT);
    let body = [gzip(&first), gzip(&second)].concat();
    let reply = import_encoded(&server.url("/api/v1/import"), &body, "gzip");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(exported(&server, "imp_gz") == expected(2000, 30, base), "first member stored exactly");
    assert!(exported(&server, "imp_gz2") == expected(2000, 30, base), "second member stored exactly");

    let mut cut = gzip(&json_lines("imp_gz_cut", 1000, 30, base));
    cut.truncate(cut.len() * 6 / 10);
    let reply = import_encoded(&server.url("/api/v1/import"), &cut, "gzip");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("gzip body is malformed"), "{}", reply.body);
    let stored = exported(&server, "imp_gz_cut");
    let want = expected(1000, 30, base);
    assert!(!stored.is_empty() && stored.len() < 1000, "some lines before the cut, not all: {}", stored.len());
    assert!(stored.iter().all(|(i, samples)| want.get(i) == Some(samples)), "only whole lines are stored");

    let reply = import_encoded(&server.url("/api/v1/import"), &first, "br");
    assert_eq!(reply.status, 415, "{}", reply.body);
    assert!(reply.body.contains("Content-Encoding \\\"br\\\""), "{}", reply.body);
    assert!(server.stop());
}

/// The other encodings VictoriaMetrics' imports take: zstd and deflate bodies (here each
/// decoding to more than the body limit, zstd as two frames) stream through as gzip ones
/// do; a snappy body (the block format) is read whole. Every sample is read back; a zstd
/// body cut short is a 400 naming it, with only complete lines stored.
#[test]
fn zstd_deflate_and_snappy_imports_are_decoded() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&config(dir.path()));
    let base = base_ms();
    let zstd = |bytes: &[u8]| ruzstd::encoding::compress_to_vec(bytes, ruzstd::encoding::CompressionLevel::Fastest);
    let (first, second) = (json_lines("imp_zstd", 2000, 30, base), json_lines("imp_zstd2", 2000, 30, base));
    assert!(first.len() + second.len() > 2 * BODY_LIMIT);
    let reply = import_encoded(&server.url("/api/v1/import"), &[zstd(&first), zstd(&second)].concat(), "zstd");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(exported(&server, "imp_zstd") == expected(2000, 30, base), "first frame stored exactly");
    assert!(exported(&server, "imp_zstd2") == expected(2000, 30, base), "second frame stored exactly");

    let plain = json_lines("imp_deflate", 2000, 30, base);
    let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    zlib.write_all(&plain).expect("compress");
    let reply = import_encoded(&server.url("/api/v1/import"), &zlib.finish().expect("compress"), "deflate");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(exported(&server, "imp_deflate") == expected(2000, 30, base));

    let plain = json_lines("imp_snappy", 500, 30, base);
    let reply = import_encoded(&server.url("/api/v1/import"), &snap::raw::Encoder::new().compress_vec(&plain).expect("compress"), "snappy");
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(exported(&server, "imp_snappy") == expected(500, 30, base));

    // The text format under zstd, through the same decoder.
    let text: String = (0..500).map(|i| format!("imp_text_zstd{{i=\"{i}\"}} {} {base}\n", value(i, 0))).collect();
    let url = server.url("/api/v1/import/prometheus");
    let reply = send_import(agent().post(&url).set("Content-Encoding", "zstd"), &url, &zstd(text.as_bytes()), true);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(exported(&server, "imp_text_zstd") == expected(500, 1, base));

    let mut cut = zstd(&json_lines("imp_zstd_cut", 1000, 30, base));
    cut.truncate(cut.len() * 6 / 10);
    let reply = import_encoded(&server.url("/api/v1/import"), &cut, "zstd");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("the zstd body is malformed (the zstd data ends inside a frame)"), "{}", reply.body);
    let stored = exported(&server, "imp_zstd_cut");
    let want = expected(1000, 30, base);
    assert!(!stored.is_empty() && stored.len() < 1000, "some lines before the cut, not all: {}", stored.len());
    assert!(stored.iter().all(|(i, samples)| want.get(i) == Some(samples)), "only whole lines are stored");

    let reply = import_encoded(&server.url("/api/v1/import"), b"not snappy at all", "snappy");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("the snappy body is malformed"), "{}", reply.body);
    assert!(server.stop());
}
