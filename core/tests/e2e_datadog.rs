//! End-to-end: the Datadog agent's endpoints under `/datadog/` against the real binary: its
//! series and distribution sketches are stored and read back, its other calls get the answers
//! it expects, and bad requests are refused with a 4xx naming the problem.

mod support;

use std::io::Write;

use serde_json::json;
use support::*;

/// A whole minute an hour ago (ms), so every write lands in the head.
fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now / 60_000) * 60_000 - 3_600_000
}

fn encoded(text: &str) -> String {
    percent_encode(text)
}

fn send(server: &Server, path: &str, content_type: &str, encoding: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut request = agent().post(&server.url(path)).set("Content-Type", content_type);
    if let Some(encoding) = encoding {
        request = request.set("Content-Encoding", encoding);
    }
    match request.send_bytes(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {path}: {e}"),
    }
}

fn deflate(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).expect("deflate");
    encoder.finish().expect("deflate")
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body).expect("gzip");
    encoder.finish().expect("gzip")
}

/// Appends `v` as a protobuf varint.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field.
fn len_field(field: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(u64::from(field << 3 | 2), &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// The agent's v2 protobuf `MetricPayload` with one series (host resource, tags, points).
fn v2_protobuf(metric: &str, host: &str, tags: &[&str], points: &[(i64, f64)]) -> Vec<u8> {
    let mut series = len_field(1, &[len_field(1, b"host"), len_field(2, host.as_bytes())].concat());
    series.extend(len_field(2, metric.as_bytes()));
    for tag in tags {
        series.extend(len_field(3, tag.as_bytes()));
    }
    for (timestamp, value) in points {
        let mut point = vec![1 << 3 | 1];
        point.extend(value.to_bits().to_le_bytes());
        varint(2 << 3, &mut point);
        varint(*timestamp as u64, &mut point);
        series.extend(len_field(4, &point));
    }
    len_field(1, &series)
}

/// The agent's `SketchPayload` with one sketch of `values` at `timestamp_s`, binned as the
/// agent bins them (relative accuracy 1/128: key `ceil(ln v / ln(1 + 1/64)) + bias`).
fn sketch_payload(metric: &str, host: &str, tags: &[&str], timestamp_s: i64, values: &[f64]) -> Vec<u8> {
    let gamma_ln = (2.0f64 / 128.0).ln_1p();
    let bias = 1 - (1e-9f64.ln() / gamma_ln).floor() as i64;
    let mut bins = std::collections::BTreeMap::<i64, u64>::new();
    for v in values {
        *bins.entry((v.ln() / gamma_ln).ceil() as i64 + bias).or_default() += 1;
    }
    let mut dogsketch = Vec::new();
    let scalar = |field: u32, v: u64, out: &mut Vec<u8>| {
        varint(u64::from(field << 3), out);
        varint(v, out);
    };
    scalar(1, timestamp_s as u64, &mut dogsketch);
    scalar(2, values.len() as u64, &mut dogsketch);
    for (field, v) in [(3u32, values.iter().copied().fold(f64::INFINITY, f64::min)), (4, values.iter().copied().fold(f64::NEG_INFINITY, f64::max)), (6, values.iter().sum())] {
        dogsketch.push((field << 3 | 1) as u8);
        dogsketch.extend(v.to_bits().to_le_bytes());
    }
    let mut keys = Vec::new();
    let mut counts = Vec::new();
    for (k, n) in &bins {
        varint(((k << 1) ^ (k >> 63)) as u64, &mut keys);
        varint(*n, &mut counts);
    }
    dogsketch.extend(len_field(7, &keys));
    dogsketch.extend(len_field(8, &counts));
    let mut sketch = [len_field(1, metric.as_bytes()), len_field(2, host.as_bytes())].concat();
    for tag in tags {
        sketch.extend(len_field(4, tag.as_bytes()));
    }
    sketch.extend(len_field(7, &dogsketch));
    len_field(1, &sketch)
}

/// Every series `selector` selects in the 10 minutes up to `at_ms`, sorted.
fn stored(server: &Server, selector: &str, at_ms: i64) -> Vec<MatrixSeries> {
    let query = format!("{selector}[10m]");
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}&time={}", encoded(&query), at_ms as f64 / 1000.0)));
    assert_eq!(status, 200, "{query}: {body}");
    matrix_series(&body)
}

/// Series sent as v1 JSON (deflate, as the agent sends), v2 JSON (gzip) and v2 protobuf
/// (zstd) are read back with sanitized names, host/device/resource/tag labels and their
/// timestamps; a distribution sketch becomes its quantile, sum, count and max series; a
/// malformed sketch, an unknown encoding and a series without a name are refused with a 4xx
/// naming the problem, the good series of that request stored.
#[test]
fn datadog_agent_series_are_stored_and_its_other_calls_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let s = t0 / 1000;
    let at = t0 + 60_000;

    // v1 JSON, deflate, with a trailing slash on the path (older agents).
    let v1 = json!({"series": [
        {"metric": "dd.sys-load/1", "host": "web01", "device": "sda", "type": "gauge",
         "points": [[s, 0.5], [s + 15, 0.75]], "tags": ["env:prod", "host:other", "canary"]},
    ]});
    let (status, body) = send(&server, "/datadog/api/v1/series/", "application/json", Some("deflate"), &deflate(v1.to_string().as_bytes()));
    assert_eq!((status, body.as_str()), (202, r#"{"status":"ok"}"#));
    assert_eq!(
        stored(&server, r#"{__name__="dd.sys_load_1"}"#, at),
        vec![(
            json!({"__name__": "dd.sys_load_1", "canary": "no_label_value", "device": "sda", "env": "prod", "exported_host": "other", "host": "web01"}),
            vec![(t0, "0.5".into()), (t0 + 15_000, "0.75".into())]
        )]
    );

    // v2 JSON, gzip, with an extra_label.
    let v2 = json!({"series": [{"metric": "dd.req", "type": 1, "points": [{"timestamp": s, "value": 3}],
        "resources": [{"name": "web02", "type": "host"}], "tags": ["env:dev"], "source_type_name": "nginx"}]});
    let (status, _) = send(&server, "/datadog/api/v2/series?extra_label=dc=eu", "application/json", Some("gzip"), &gzip(v2.to_string().as_bytes()));
    assert_eq!(status, 202);
    assert_eq!(
        stored(&server, r#"{__name__="dd.req"}"#, at),
        vec![(json!({"__name__": "dd.req", "dc": "eu", "env": "dev", "host": "web02", "source_type_name": "nginx"}), vec![(t0, "3".into())])]
    );

    // v2 protobuf, zstd (the agent's default payload).
    let payload = v2_protobuf("dd.pb", "web03", &["role:db"], &[(s, 1.5), (s + 15, 2.5)]);
    let zstd = ruzstd::encoding::compress_to_vec(payload.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
    let (status, body) = send(&server, "/datadog/api/v2/series", "application/x-protobuf", Some("zstd"), &zstd);
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        stored(&server, r#"{__name__="dd.pb"}"#, at),
        vec![(json!({"__name__": "dd.pb", "host": "web03", "role": "db"}), vec![(t0, "1.5".into()), (t0 + 15_000, "2.5".into())])]
    );

    // A distribution sketch of 1, 2, 3 and 4 (bins keyed as the agent keys them), deflated.
    let sketch = sketch_payload("dd.latency", "web04", &["env:prod"], s, &[1.0, 2.0, 3.0, 4.0]);
    let (status, body) = send(&server, "/datadog/api/beta/sketches", "application/x-protobuf", Some("deflate"), &deflate(&sketch));
    assert_eq!((status, body.as_str()), (202, ""));
    let labels = |name: &str| json!({"__name__": name, "env": "prod", "host": "web04"});
    assert_eq!(stored(&server, r#"{__name__="dd.latency.count"}"#, at), vec![(labels("dd.latency.count"), vec![(t0, "4".into())])]);
    assert_eq!(stored(&server, r#"{__name__="dd.latency.sum"}"#, at), vec![(labels("dd.latency.sum"), vec![(t0, "10".into())])]);
    assert_eq!(stored(&server, r#"{__name__="dd.latency.max"}"#, at), vec![(labels("dd.latency.max"), vec![(t0, "4".into())])]);
    let quantiles = stored(&server, r#"{__name__="dd.latency"}"#, at);
    assert_eq!(quantiles.iter().map(|(l, _)| l["quantile"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>(), ["0.5", "0.75", "0.9", "0.95", "0.99"]);
    let median: f64 = quantiles[0].1[0].1.parse().expect("a number");
    // Datadog's rank for q = 0.5 of 4 values is round-half-even(1.5) = 2 (0-based): the value
    // 3, within the sketch's 1/128 relative accuracy (its bin's bounds).
    assert!((median - 3.0).abs() / 3.0 < 2.0 / 128.0, "the sketch's median of 1..4: {median}");

    // The agent's other calls.
    assert_eq!(get_json(&server.url("/datadog/api/v1/validate")), (200, json!({"valid": true})));
    assert_eq!(send(&server, "/datadog/api/v1/check_run", "application/json", None, b"[]").0, 202);
    assert_eq!(send(&server, "/datadog/intake/", "application/json", None, b"{}"), (200, "{}".to_string()));

    // Refusals that name the problem; the good series of a request are stored.
    let (status, body) = send(&server, "/datadog/api/beta/sketches", "application/x-protobuf", None, b"\x0a\x05\x3a\x03\x08");
    assert_eq!(status, 400);
    assert!(body.contains("sketch protobuf"), "{body}");
    let (status, body) = send(&server, "/datadog/api/v2/series", "application/json", Some("br"), b"{}");
    assert_eq!(status, 415);
    assert!(body.contains("\\\"br\\\""), "{body}");
    let (status, body) = send(&server, "/datadog/api/v2/series", "application/json", None, b"{\"series\": 7}");
    assert_eq!(status, 400);
    assert!(body.contains("Datadog v2 series JSON"), "{body}");
    let mixed = json!({"series": [{"points": [{"timestamp": s, "value": 1}], "tags": ["a:b"]},
        {"metric": "dd.kept", "points": [{"timestamp": s, "value": 9}]}]});
    let (status, body) = send(&server, "/datadog/api/v2/series", "application/json", None, mixed.to_string().as_bytes());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("without a metric name") && body.contains("(1 samples)"), "{body}");
    assert_eq!(stored(&server, r#"{__name__="dd.kept"}"#, at), vec![(json!({"__name__": "dd.kept"}), vec![(t0, "9".into())])]);
    assert!(server.stop(), "clean shutdown");
}
