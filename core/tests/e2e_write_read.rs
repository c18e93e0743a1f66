//! End-to-end: the real binary on free ports; remote_write 1.0 and 2.0 in, Prometheus API
//! out, across a clean restart and a SIGKILL; bad input answered with the right status
//! while stored data stays intact.

mod support;

use std::time::Duration;

use prost::Message;
use proto::remote_write_v2 as v2;
use support::*;

const V2_CONTENT_TYPE: &str = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
const STEP_MS: i64 = 15_000;

fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    // Recent, whole seconds, so query times print exactly.
    (now / 1000) * 1000 - 3_600_000
}

fn instant(server: &Server, query: &str, time_ms: i64) -> serde_json::Value {
    let url = server.url(&format!("/api/v1/query?query={}&time={}", urlencode(query), time_ms as f64 / 1000.0));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "query {query}: {body}");
    assert_eq!(body["status"], "success");
    body["data"].clone()
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// The single value of `query` at `time_ms`, or None when the vector is empty.
fn value_at(server: &Server, query: &str, time_ms: i64) -> Option<String> {
    let data = instant(server, query, time_ms);
    assert_eq!(data["resultType"], "vector", "{data}");
    let result = data["result"].as_array().expect("result array");
    assert!(result.len() <= 1, "expected at most one series for {query}: {data}");
    result.first().map(|s| s["value"][1].as_str().expect("value string").to_string())
}

fn push_fixture(server: &Server, t0: i64) {
    let counter: Vec<(i64, f64)> = (0..10).map(|i| (t0 + i * STEP_MS, i as f64 * 10.0)).collect();
    let gauge = vec![(t0, 1.5), (t0 + STEP_MS, f64::NAN), (t0 + 2 * STEP_MS, f64::from_bits(tsdb::STALE_NAN_BITS))];
    let body = v1_request(&[
        (vec![("__name__", "e2e_counter"), ("instance", "i1"), ("job", "a")], counter),
        (vec![("__name__", "e2e_gauge"), ("job", "b")], gauge),
    ]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);

    let request = v2::Request {
        symbols: vec!["".into(), "__name__".into(), "e2e_v2".into(), "job".into(), "c".into()],
        timeseries: vec![v2::TimeSeries {
            labels_refs: vec![1, 2, 3, 4],
            samples: (0..5).map(|i| v2::Sample { value: -(i as f64), timestamp: t0 + i * STEP_MS, start_timestamp: 0 }).collect(),
            ..Default::default()
        }],
    };
    let reply = post(&server.url("/api/v1/write"), V2_CONTENT_TYPE, &snappy(&request.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some("5"));
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Histograms-Written"), Some("0"));
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Exemplars-Written"), Some("0"));
}

fn assert_fixture_readable(server: &Server, t0: i64) {
    for i in 0..10 {
        let t = t0 + i * STEP_MS;
        assert_eq!(value_at(server, "e2e_counter", t).as_deref(), Some((i * 10).to_string().as_str()), "counter at step {i}");
    }
    for i in 0..5 {
        let expected = if i == 0 { "0".to_string() } else { format!("-{i}") };
        assert_eq!(value_at(server, "e2e_v2{job=\"c\"}", t0 + i * STEP_MS).as_deref(), Some(expected.as_str()));
    }
    assert_eq!(value_at(server, "e2e_gauge", t0).as_deref(), Some("1.5"));
    assert_eq!(value_at(server, "e2e_gauge", t0 + STEP_MS).as_deref(), Some("NaN"));
    // The stale marker ends the series: nothing at or after it within the lookback.
    assert_eq!(value_at(server, "e2e_gauge", t0 + 2 * STEP_MS), None);
    // Lookback: 4 minutes after the last counter sample it is still visible, 6 minutes after it is not.
    assert_eq!(value_at(server, "e2e_counter", t0 + 9 * STEP_MS + 240_000).as_deref(), Some("90"));
    assert_eq!(value_at(server, "e2e_counter", t0 + 9 * STEP_MS + 360_000), None);
}

#[test]
fn write_v1_v2_restart_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let t0 = base_ms();
    let server = Server::start(&config);
    push_fixture(&server, t0);
    assert_fixture_readable(&server, t0);

    // All four matcher types.
    let t = t0 + STEP_MS;
    let names = |query: &str| -> Vec<String> {
        let data = instant(&server, query, t);
        let mut names: Vec<String> =
            data["result"].as_array().unwrap().iter().map(|s| s["metric"]["__name__"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names("{__name__=~\"e2e_.*\"}"), vec!["e2e_counter", "e2e_gauge", "e2e_v2"]);
    assert_eq!(names("{__name__=~\"e2e_.*\", job!=\"a\"}"), vec!["e2e_gauge", "e2e_v2"]);
    assert_eq!(names("{__name__=~\"e2e_.*\", job!~\"a|b\"}"), vec!["e2e_v2"]);
    assert_eq!(names("{__name__=~\"e2e_.*\", instance=\"i1\"}"), vec!["e2e_counter"]);
    assert_eq!(names("{__name__=~\"e2e_.*\", instance=~\"\"}"), vec!["e2e_gauge", "e2e_v2"]);

    let (status, body) = get_json(&server.url("/api/v1/series?match[]=%7Bjob%3D~%22a%7Cc%22%7D"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"].as_array().unwrap().len(), 2, "{body}");
    let (_, body) = get_json(&server.url("/api/v1/labels"));
    assert_eq!(body["data"], serde_json::json!(["__name__", "instance", "job"]));
    let (_, body) = get_json(&server.url("/api/v1/label/job/values"));
    assert_eq!(body["data"], serde_json::json!(["a", "b", "c"]));

    assert!(server.stop(), "clean shutdown exits 0");
    let server = Server::start(&config);
    assert_fixture_readable(&server, t0);
    assert!(server.stop());
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let t0 = base_ms();
    let server = Server::start(&config);
    push_fixture(&server, t0);
    server.kill9();
    let server = Server::start(&config);
    assert_fixture_readable(&server, t0);
    // And the restarted server keeps accepting writes on top of the replayed WAL.
    let body = v1_request(&[(vec![("__name__", "e2e_after"), ("job", "z")], vec![(t0, 7.0)])]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    assert_eq!(value_at(&server, "e2e_after", t0).as_deref(), Some("7"));
    assert!(server.stop());
}

#[test]
fn bad_input_gets_its_error_and_data_stays_intact() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let t0 = base_ms();
    let server = Server::start(&config);
    push_fixture(&server, t0);
    let write_url = server.url("/api/v1/write");

    let good = v1_request(&[(vec![("__name__", "e2e_bad"), ("job", "x")], vec![(t0, 1.0)])]);
    let reply = post(&write_url, "application/x-protobuf", &good[..good.len() - 4]);
    assert_eq!(reply.status, 400, "truncated snappy: {}", reply.body);
    assert!(reply.body.contains("snappy"), "{}", reply.body);

    let reply = post(&write_url, "application/x-protobuf", &snappy(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    assert_eq!(reply.status, 400, "garbage protobuf: {}", reply.body);
    assert!(reply.body.contains("protobuf"), "{}", reply.body);

    let unsorted = v1_request(&[(vec![("job", "x"), ("__name__", "e2e_unsorted")], vec![(t0, 1.0)])]);
    let reply = post(&write_url, "application/x-protobuf", &unsorted);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("e2e_unsorted") && reply.body.contains("not sorted"), "{}", reply.body);

    let duplicate = v1_request(&[(vec![("__name__", "e2e_dup"), ("job", "x"), ("job", "y")], vec![(t0, 1.0)])]);
    let reply = post(&write_url, "application/x-protobuf", &duplicate);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("e2e_dup") && reply.body.contains("duplicate"), "{}", reply.body);

    let reply = post(&write_url, "application/json", &good);
    assert_eq!(reply.status, 415, "{}", reply.body);

    // Hostile label sets: 100,000 labels, a 1 MiB value, a 64 KiB name. Each is a 400 naming
    // the limit, with a short message; the request's other (valid) series is not stored.
    let many_names: Vec<String> = (0..100_000).map(|i| format!("l{i:06}")).collect();
    let mut many = vec![("__name__", "e2e_hostile_many")];
    many.extend(many_names.iter().map(|n| (n.as_str(), "v")));
    let long_value = "x".repeat(1 << 20);
    let long_name = format!("n{}", "x".repeat(1 << 16));
    let hostile: [(Vec<(&str, &str)>, &str); 3] = [
        (many, "more than 128 labels"),
        (vec![("__name__", "e2e_hostile_value"), ("v", long_value.as_str())], "has 1048576 bytes"),
        (vec![("__name__", "e2e_hostile_name"), (long_name.as_str(), "v")], "a label name of 65537 bytes"),
    ];
    for (labels, expected) in hostile {
        let body = v1_request(&[(vec![("__name__", "e2e_hostile_ok")], vec![(t0, 1.0)]), (labels, vec![(t0, 1.0)])]);
        let reply = post(&write_url, "application/x-protobuf", &body);
        assert_eq!(reply.status, 400, "{expected}: {}", &reply.body[..reply.body.len().min(300)]);
        assert!(reply.body.contains(expected), "{}", &reply.body[..reply.body.len().min(300)]);
        assert!(reply.body.len() < 4_000, "a {} byte error message", reply.body.len());
    }

    let huge = format!(
        "POST /api/v1/write HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
        1u64 << 30
    );
    let response = raw_exchange(&server.http_addr, huge.as_bytes(), Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");

    let response = raw_exchange(&server.http_addr, b"GARBAGE\x00\x01 / HTTP/9\r\n\r\n", Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 400"), "{response}");

    // A slow client that never finishes its headers is cut by the 2 s header timeout.
    let started = std::time::Instant::now();
    let response = raw_exchange(&server.http_addr, b"GET /api/v1/labels HTTP/1.1\r\nHost: x\r\n", Duration::from_secs(20));
    assert!(started.elapsed() < Duration::from_secs(15), "slow client held for {:?}", started.elapsed());
    assert!(response.is_empty() || response.starts_with("HTTP/1.1 408"), "{response}");

    // Nothing bad was stored, everything good still is, and the server still serves.
    assert_eq!(value_at(&server, "{__name__=~\"e2e_(unsorted|dup|bad|hostile_.*)\"}", t0), None);
    assert_fixture_readable(&server, t0);
    assert_eq!(post(&write_url, "application/x-protobuf", &good).status, 204);
    assert_eq!(value_at(&server, "e2e_bad", t0).as_deref(), Some("1"));
    let text = agent().get(&server.url("/metrics")).call().unwrap().into_string().unwrap();
    assert!(text.contains("metricstor_http_protocol_errors_total{code=\"413\"} 1"), "{text}");
    assert!(text.contains("metricstor_http_header_timeouts_total 1"), "{text}");
    assert!(server.stop());
}

/// A sample older than the retention (retention would delete it at once) or more than two
/// days ahead of the clock (a sender's broken clock, which would make every live range due
/// for a cut) is refused and counted, and the rest of the write is stored: remote_write is
/// a 400 naming the problem with the written count, an import goes on past such samples and
/// answers the 400 at its end. Before, both were 204s: the old samples went with the next
/// maintenance and the future one cut the head under every live series.
#[test]
fn samples_outside_the_retention_or_far_ahead_of_the_clock_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config_with(dir.path(), "", "  retention_days: 2\n"));
    let t0 = base_ms();
    let day_ms = 86_400_000;
    let body = v1_request(&[
        (vec![("__name__", "e2e_bounds"), ("job", "mixed")], vec![(t0 - 3 * day_ms, 1.0), (t0, 2.0), (t0 + day_ms, 3.0), (t0 + 3 * day_ms, 4.0)]),
        (vec![("__name__", "e2e_bounds"), ("job", "ancient")], vec![(0, 5.0)]),
    ]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("3 samples not stored: 2 older than storage.retention_days allows, 1 more than 2 days ahead"), "{}", reply.body);
    assert_eq!(reply.header("X-Prometheus-Remote-Write-Samples-Written"), Some("2"));
    assert_eq!(value_at(&server, "e2e_bounds", t0).as_deref(), Some("2"));
    let (_, series) = get_json(&server.url("/api/v1/series?match[]=e2e_bounds&start=0"));
    assert_eq!(series["data"].as_array().map(Vec::len), Some(1), "the series with nothing stored is not created: {series}");

    // An import: history past the retention first, then recent lines, which are stored.
    let lines = format!(
        "{{\"metric\":{{\"__name__\":\"e2e_bounds_import\",\"i\":\"0\"}},\"values\":[1,2],\"timestamps\":[{},{}]}}\n{{\"metric\":{{\"__name__\":\"e2e_bounds_import\",\"i\":\"1\"}},\"values\":[3],\"timestamps\":[{t0}]}}\n",
        t0 - 10 * day_ms,
        t0 - 9 * day_ms
    );
    let reply = post_plain(&server.url("/api/v1/import"), "application/json", lines.as_bytes());
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("2 samples not stored: 2 older than storage.retention_days allows") && reply.body.contains("other samples were stored"), "{}", reply.body);
    assert_eq!(value_at(&server, "e2e_bounds_import", t0).as_deref(), Some("3"));

    let text = agent().get(&server.url("/metrics")).call().unwrap().into_string().unwrap();
    let total = |name: &str| -> u64 { text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum() };
    assert_eq!(total("metricstor_shard_samples_refused_too_old_total{"), 4, "{text}");
    assert_eq!(total("metricstor_shard_samples_refused_too_new_total{"), 1, "{text}");
    assert!(server.stop());
}

/// A `multipart/form-data` POST (`curl -F query=…`) carries query parameters as a form does,
/// as Go's `r.FormValue` reads them for Prometheus and VictoriaMetrics; before, its fields
/// were not read ("query must not be empty"). A malformed one is a 400 naming the problem.
#[test]
fn multipart_form_fields_are_query_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let at_ms = import_sample(&server, "form_probe", 42.0, 30);
    let post_multipart = |path: &str, body: &str| {
        let request = agent().post(&server.url(path)).set("Content-Type", "multipart/form-data; boundary=------formb");
        reply_or_status(path, request.send_bytes(body.as_bytes()))
    };
    let field = |name: &str, value: &str| format!("--------formb\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
    let body = format!("{}{}--------formb--\r\n", field("query", "form_probe * 2"), field("time", &(at_ms / 1000).to_string()));
    let reply = post_multipart("/api/v1/query", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(answer["data"]["result"][0]["value"][1], "84", "{answer}");
    let body = format!("{}--------formb--\r\n", field("match[]", "form_probe"));
    let reply = post_multipart("/api/v1/series", &body);
    assert!(reply.status == 200 && reply.body.contains("\"__name__\":\"form_probe\""), "{}", reply.body);
    let reply = post_multipart("/api/v1/query", &field("query", "1"));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("multipart body ends without its closing delimiter"), "{}", reply.body);
    assert!(server.stop());
}

/// vmagent's protocol: its handshake (`?get_vm_proto_version=1`) is answered "1", and a
/// request compressed with zstd (`Content-Encoding: zstd`) is stored; a broken one is a 400
/// naming zstd and stores nothing.
#[test]
fn vmagent_zstd_remote_write_is_understood() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let handshake = reply_or_status("handshake", agent().get(&server.url("/prometheus/api/v1/write?get_vm_proto_version=1")).call());
    assert_eq!((handshake.status, handshake.body.as_str()), (200, "1"));
    let snappy = v1_request(&[(vec![("__name__", "zstd_sent"), ("job", "vmagent")], vec![(t0, 1.0), (t0 + STEP_MS, 2.0)])]);
    let plain = snap::raw::Decoder::new().decompress_vec(&snappy).expect("snappy");
    let zstd = ruzstd::encoding::compress_to_vec(plain.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
    let send = |body: &[u8]| {
        let request = agent().post(&server.url("/api/v1/write")).set("Content-Type", "application/x-protobuf").set("Content-Encoding", "zstd");
        reply_or_status("zstd write", request.send_bytes(body))
    };
    let reply = send(&zstd);
    assert_eq!((reply.status, reply.header("x-prometheus-remote-write-samples-written")), (204, Some("2")), "{}", reply.body);
    assert_eq!(value_at(&server, "zstd_sent{job=\"vmagent\"}", t0 + STEP_MS).as_deref(), Some("2"));
    let reply = send(&zstd[..zstd.len() / 2]);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("zstd decompression failed"), "{}", reply.body);
    assert_eq!(value_at(&server, "count_over_time(zstd_sent[5m])", t0 + STEP_MS).as_deref(), Some("2"));
    // `/api/v1/push`, VictoriaMetrics' other name for the receiver (vmagent may be set to it).
    let pushed = v1_request(&[(vec![("__name__", "pushed"), ("job", "vmagent")], vec![(t0, 5.0)])]);
    let reply = reply_or_status("push", agent().post(&server.url("/prometheus/api/v1/push")).set("Content-Type", "application/x-protobuf").send_bytes(&pushed));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(value_at(&server, "pushed", t0).as_deref(), Some("5"));
    assert!(server.stop());
}

/// The label limits come from the config, on remote_write and on import: a lower label
/// count is enforced and named, a value limit of 0 is no limit.
#[test]
fn label_limits_follow_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("  max_labels_per_series: 3\n  max_label_value_bytes: 0\n");
    std::fs::write(&config, text).unwrap();
    let t0 = base_ms();
    let server = Server::start(&config);
    let write_url = server.url("/api/v1/write");

    let four = v1_request(&[(vec![("__name__", "e2e_four"), ("a", "1"), ("b", "2"), ("c", "3")], vec![(t0, 1.0)])]);
    let reply = post(&write_url, "application/x-protobuf", &four);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("more than 3 labels (storage.max_labels_per_series)"), "{}", reply.body);
    let line = format!("{{\"metric\":{{\"__name__\":\"e2e_four_import\",\"a\":\"1\",\"b\":\"2\",\"c\":\"3\"}},\"values\":[1],\"timestamps\":[{t0}]}}\n");
    let reply = post_plain(&server.url("/api/v1/import"), "application/json", line.as_bytes());
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("storage.max_labels_per_series"), "{}", reply.body);

    let long_value = "x".repeat(1 << 20);
    let big = v1_request(&[(vec![("__name__", "e2e_big_value"), ("v", long_value.as_str())], vec![(t0, 2.0)])]);
    assert_eq!(post(&write_url, "application/x-protobuf", &big).status, 204, "a value limit of 0 is no limit");
    assert_eq!(value_at(&server, "e2e_big_value", t0).as_deref(), Some("2"));
    assert_eq!(value_at(&server, "{__name__=~\"e2e_four.*\"}", t0), None);
    assert!(server.stop());
}

#[test]
fn metrics_health_and_query_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let server = Server::start(&config);
    push_fixture(&server, base_ms());
    let text = agent().get(&server.url("/metrics")).call().unwrap().into_string().unwrap();
    assert!(text.contains("metricstor_samples_ingested_total 18"), "{text}");
    assert!(text.contains("metricstor_shard_series{shard=\"0\"}"), "{text}");
    assert!(text.contains("metricstor_wal_bytes_written_total{shard=\"1\"}"), "{text}");
    for name in ["page_cache_hits_total", "page_cache_misses_total", "page_cache_evictions_total", "page_cache_bytes", "block_direct_io_fallbacks_total"] {
        assert!(text.contains(&format!("metricstor_{name}{{shard=\"1\"}} ")), "{name}: {text}");
    }
    assert!(text.contains("metricstor_http_requests_total{endpoint=\"write\",code=\"204\"} 2"), "{text}");
    assert_eq!(agent().get(&server.url("/-/healthy")).call().unwrap().status(), 200);
    assert_eq!(agent().get(&server.url("/-/ready")).call().unwrap().status(), 200);

    let (status, body) = get_json(&server.url("/api/v1/query?query=up%7B"));
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "bad_data");
    assert!(body["error"].as_str().unwrap().contains("invalid parameter \"query\""), "{body}");
    let (status, body) = get_json(&server.url("/api/v1/query?query=up&time=yesterday"));
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("invalid parameter \"time\""), "{body}");
    let (status, _) = get_json(&server.url("/api/v1/nope"));
    assert_eq!(status, 404);
    // Grafana's "Save & test": 1+1 at time=4 must succeed (scalar).
    let (status, body) = get_json(&server.url("/api/v1/query?query=1%2B1&time=4"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], serde_json::json!({"resultType": "scalar", "result": [4, "2"]}));
    // Metadata sent with remote_write is served by /api/v1/metadata.
    let with_metadata = proto::remote_write_v1::WriteRequest {
        timeseries: vec![],
        metadata: vec![proto::remote_write_v1::MetricMetadata {
            r#type: proto::remote_write_v1::MetricType::Counter as i32,
            metric_family_name: "e2e_counter".into(),
            help: "Requests served.".into(),
            unit: String::new(),
        }],
    };
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &snappy(&with_metadata.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let (_, body) = get_json(&server.url("/api/v1/metadata"));
    assert_eq!(body["data"]["e2e_counter"], serde_json::json!([{"type": "counter", "help": "Requests served.", "unit": ""}]), "{body}");
    let (status, body) = get_json(&server.url("/api/v1/status/tsdb"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["headStats"]["numSeries"], 3, "{body}");
    let by_metric = body["data"]["seriesCountByMetricName"].as_array().unwrap();
    assert_eq!(by_metric.len(), 3);
    assert!(by_metric.iter().all(|e| e["value"] == 1), "{body}");
    let shards = body["data"]["seriesCountByShard"].as_array().unwrap();
    assert_eq!(shards.iter().map(|e| e["value"].as_u64().unwrap()).sum::<u64>(), 3);
    let (_, body) = get_json(&server.url("/api/v1/metadata?metric=nope"));
    assert_eq!(body["data"], serde_json::json!({}));
    // Another sender's help for the same family: both entries, the newest first, as
    // Prometheus lists the distinct entries of its targets.
    let mut other_help = with_metadata.clone();
    other_help.metadata[0].help = "Requests.".into();
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &snappy(&other_help.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let (_, body) = get_json(&server.url("/api/v1/metadata?metric=e2e_counter"));
    assert_eq!(body["data"]["e2e_counter"], serde_json::json!([{"type": "counter", "help": "Requests.", "unit": ""}, {"type": "counter", "help": "Requests served.", "unit": ""}]), "{body}");
    let (_, body) = get_json(&server.url("/api/v1/metadata?metric=e2e_counter&limit_per_metric=1"));
    assert_eq!(body["data"]["e2e_counter"], serde_json::json!([{"type": "counter", "help": "Requests.", "unit": ""}]), "{body}");
    let (_, body) = get_json(&server.url("/api/v1/metadata?limit=0"));
    assert_eq!(body["data"], serde_json::json!({}), "no family, as in Prometheus");
    let (status, body) = get_json(&server.url("/api/v1/metadata?limit_per_metric=some"));
    assert_eq!((status, body["error"].as_str()), (400, Some("limit_per_metric must be a number")), "{body}");
    let (status, body) = get_json(&server.url("/api/v1/metadata?limit=few"));
    assert_eq!((status, body["error"].as_str()), (400, Some("limit must be a number")), "{body}");
    let (status, body) = get_json(&server.url("/api/v1/format_query?query=sum(rate(x%5B5m%5D))by(job)"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], "sum by (job) (rate(x[5m]))");
    let (status, body) = get_json(&server.url("/api/v1/parse_query?query=sum(rate(x%5B5m%5D))by(job)"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["type"], "aggregation", "{body}");
    assert_eq!(body["data"]["grouping"][0], "job", "{body}");
    assert_eq!(body["data"]["expr"]["args"][0]["range"], 300000, "{body}");
    let (status, body) = get_json(&server.url("/api/v1/parse_query?query=sum(x"));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["errorType"], "bad_data", "{body}");
    // A real dashboard query over the pushed data: aggregation of a rate.
    let (status, body) = get_json(&server.url("/api/v1/query?query=sum%20by%20(job)%20(e2e_counter)"));
    assert_eq!(status, 200, "{body}");
    assert!(server.stop());
}

/// `lookback_delta` (Prometheus' query parameter): a query's own lookback delta, for instant
/// and range queries, bypassing the range cache's answers made under the server's.
#[test]
fn queries_take_their_own_lookback_delta() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let body = v1_request(&[(vec![("__name__", "lb_metric"), ("job", "a")], vec![(1_000_000, 7.0)])]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let value = |url: &str| {
        let (status, body) = get_json(&server.url(url));
        assert_eq!(status, 200, "{body}");
        body["data"]["result"].as_array().cloned().unwrap_or_default()
    };
    // 400 s after the sample: past the default 5 minutes, within 10.
    assert!(value("/api/v1/query?query=lb_metric&time=1400").is_empty());
    let within = value("/api/v1/query?query=lb_metric&time=1400&lookback_delta=10m");
    assert_eq!(within[0]["value"][1], "7", "{within:?}");
    assert!(value("/api/v1/query?query=lb_metric&time=1400&lookback_delta=0").is_empty(), "0 means the default");
    // A range query: the default answer first (cached), then its own lookback.
    let range = "/api/v1/query_range?query=lb_metric&start=1000&end=1600&step=100";
    let points = |series: &[serde_json::Value]| series.first().and_then(|s| s["values"].as_array()).map_or(0, Vec::len);
    assert_eq!(points(&value(range)), 3, "1000, 1100 and 1200 s are within 5 minutes");
    assert_eq!(points(&value(&format!("{range}&lookback_delta=590"))), 6, "1000 to 1500 s within 590 s");
    assert_eq!(points(&value(range)), 3, "the default answer is unchanged");
    let (status, body) = get_json(&server.url("/api/v1/query?query=lb_metric&lookback_delta=soon"));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("lookback delta")), "{body}");
    assert!(server.stop());
}

/// Prometheus' `stats` query parameter: `data.stats` with its timings and sample counts for
/// `stats=true`, the per-step totals for `stats=all`, the deprecation warning for other
/// values, and no `stats` without the parameter.
#[test]
fn queries_report_their_statistics_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let samples: Vec<(i64, f64)> = (0..40).map(|i| (1_000_000 + i * 10_000, i as f64)).collect();
    let body = v1_request(&[
        (vec![("__name__", "st_metric"), ("job", "a")], samples.clone()),
        (vec![("__name__", "st_metric"), ("job", "b")], samples),
    ]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    // The body as sent (field order matters: Prometheus' struct order) and parsed.
    let answer_text = |url: &str| {
        let reply = agent().get(&server.url(url)).call().unwrap_or_else(|e| panic!("{url}: {e}"));
        assert_eq!(reply.status(), 200);
        let text = reply.into_string().expect("body");
        (serde_json::from_str::<serde_json::Value>(&text).expect("JSON body"), text)
    };
    let answer = |url: &str| answer_text(url).0;
    let in_order = |text: &str, names: &[&str]| {
        let at: Vec<usize> = names.iter().map(|n| text.find(&format!("\"{n}\":")).unwrap_or_else(|| panic!("{n} missing: {text}"))).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{names:?} out of order: {text}");
    };
    let timing_names = ["evalTotalTime", "resultSortTime", "queryPreparationTime", "innerEvalTime", "execQueueTime", "execTotalTime"];

    let plain = answer("/api/v1/query?query=st_metric&time=1100");
    assert!(plain["data"].get("stats").is_none(), "{plain}");

    let (instant, text) = answer_text("/api/v1/query?query=st_metric&time=1100&stats=true");
    in_order(&text, &["resultType", "result", "stats", "timings"]);
    in_order(&text, &timing_names);
    in_order(&text, &["execTotalTime", "samples", "totalQueryableSamples", "samplesRead", "peakSamples"]);
    let stats = &instant["data"]["stats"];
    let timings = stats["timings"].as_object().expect("timings");
    assert_eq!(timings.len(), timing_names.len());
    assert!(timings.values().all(|t| t.as_f64().is_some_and(|s| s >= 0.0)), "{stats}");
    assert!(timings["execTotalTime"].as_f64() >= timings["evalTotalTime"].as_f64(), "{stats}");
    let samples = stats["samples"].as_object().expect("samples");
    assert_eq!(samples.len(), 3, "no per-step totals without stats=all: {stats}");
    // One sample per series at the instant.
    assert_eq!(samples["totalQueryableSamples"], 2, "{stats}");
    assert_eq!(samples["samplesRead"], 2, "{stats}");
    assert!(samples["peakSamples"].as_u64().is_some_and(|n| n >= 2 + 2), "fetched plus the result: {stats}");
    assert!(instant.get("warnings").is_none_or(|w| w.as_array().is_some_and(Vec::is_empty)), "{instant}");

    // count_over_time(x[1m]) at 1100, 1150 and 1200 s: 6 samples per series in each window.
    let (range, text) = answer_text("/api/v1/query_range?query=count_over_time(st_metric[1m])&start=1100&end=1200&step=50&stats=all");
    in_order(&text, &["samples", "totalQueryableSamplesPerStep", "totalQueryableSamples", "samplesReadPerStep", "samplesRead", "peakSamples"]);
    let samples = &range["data"]["stats"]["samples"];
    assert_eq!(samples["totalQueryableSamplesPerStep"], serde_json::json!([[1100, 12], [1150, 12], [1200, 12]]), "{samples}");
    assert_eq!(samples["totalQueryableSamples"], 36);
    // The windows overlap by 10 s: the second and third steps read 5 new samples per series.
    assert_eq!(samples["samplesRead"], 12 + 10 + 10, "{samples}");
    assert_eq!(samples["samplesReadPerStep"], serde_json::json!([[1100, 12], [1150, 10], [1200, 10]]), "{samples}");

    let deprecated = answer("/api/v1/query_range?query=st_metric&start=1100&end=1200&step=50&stats=1");
    assert!(deprecated["data"]["stats"]["samples"]["totalQueryableSamplesPerStep"].is_null(), "{deprecated}");
    assert!(deprecated["data"]["stats"]["samples"]["samplesReadPerStep"].is_null(), "{deprecated}");
    assert_eq!(deprecated["data"]["stats"]["samples"]["totalQueryableSamples"], 6);
    assert_eq!(
        deprecated["warnings"],
        serde_json::json!(["value \"1\" for parameter \"stats\" is deprecated and will be rejected in the next major release, use \"true\" or \"all\""])
    );
    assert!(server.stop());
}
