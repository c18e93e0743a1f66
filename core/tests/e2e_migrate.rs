//! Export from one server, import into another (VictoriaMetrics JSON lines), and import of
//! the Prometheus text format: everything read back over the query API.

mod support;

use support::*;

#[test]
fn export_import_round_trip_and_text_import() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start(&write_config(dir_a.path(), ""));
    let b = Server::start(&write_config(dir_b.path(), ""));
    let samples: Vec<(i64, f64)> = (0..50).map(|i| (1_000_000 + i * 15_000, i as f64)).collect();
    let body = v1_request(&[
        (vec![("__name__", "mig_x"), ("job", "a")], samples.clone()),
        (vec![("__name__", "mig_y"), ("job", "b")], vec![(1_000_000, f64::NAN), (1_015_000, 2.0)]),
        (vec![("__name__", "other"), ("job", "c")], vec![(1_000_000, 1.0)]),
    ]);
    assert_eq!(post(&a.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);

    let export = agent().get(&a.url("/api/v1/export?match[]=%7B__name__%3D~%22mig_.*%22%7D")).call().unwrap().into_string().unwrap();
    let lines: Vec<&str> = export.lines().collect();
    assert_eq!(lines.len(), 2, "{export}");
    assert!(lines[0].starts_with("{\"metric\":{\"__name__\":\"mig_x\",\"job\":\"a\"},\"values\":[0,1,2"), "{}", lines[0]);
    assert!(lines[1].contains("\"values\":[NaN,2]"), "{}", lines[1]);

    let reply = post_plain(&b.url("/api/v1/import"), "application/json", export.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(agent().get(&b.url("/api/v1/export?match[]=%7B__name__%3D~%22mig_.*%22%7D")).call().unwrap().into_string().unwrap(), export);

    let text = "# TYPE mig_text gauge\nmig_text{job=\"t\"} 3.5 1000000\nmig_text{job=\"t\"} 4.5 1015000\n";
    assert_eq!(post_plain(&b.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes()).status, 204);
    let (_, body) = get_json(&b.url("/api/v1/query?query=mig_text&time=1015"));
    assert_eq!(body["data"]["result"][0]["value"][1], "4.5", "{body}");

    let reply = post_plain(&b.url("/api/v1/import"), "application/json", b"{\"metric\":{\"job\":\"x\"},\"values\":[1],\"timestamps\":[1]}\n");
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("metric name"), "{}", reply.body);
    assert!(a.stop());
    assert!(b.stop());
}

/// An export larger than one page: 300 series x 3,000 samples (the last 50 minutes at 1 s)
/// is 900,000 samples, more than `EXPORT_PAGE_SAMPLES`, so it is read and sent in several
/// time windows (chunked). Every sample comes back exactly once, in order per series, and the
/// server's memory does not hold the whole export at once.
#[test]
fn large_export_streams_in_windows_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    const SERIES: usize = 300;
    const SAMPLES: i64 = 3_000;
    const STEP_MS: i64 = 1_000;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let base = (now_ms - 51 * 60_000) / 1000 * 1000;
    let names: Vec<String> = (0..SERIES).map(|i| format!("s{i}")).collect();
    for chunk in names.chunks(50) {
        let series: Vec<(Vec<(&str, &str)>, Vec<(i64, f64)>)> = chunk
            .iter()
            .map(|n| (vec![("__name__", "big_export"), ("series", n.as_str())], (0..SAMPLES).map(|i| (base + i * STEP_MS, i as f64)).collect()))
            .collect();
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series));
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    let response = agent().get(&server.url("/api/v1/export?match[]=big_export")).call().expect("export");
    assert_eq!(response.header("transfer-encoding"), Some("chunked"));
    let mut text = String::new();
    std::io::Read::read_to_string(&mut response.into_reader(), &mut text).expect("export body");
    let mut per_series: std::collections::HashMap<String, Vec<i64>> = std::collections::HashMap::new();
    let mut lines = 0;
    for line in text.lines() {
        lines += 1;
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let name = v["metric"]["series"].as_str().expect("series label").to_string();
        let timestamps = v["timestamps"].as_array().expect("timestamps");
        let values = v["values"].as_array().expect("values");
        assert_eq!(timestamps.len(), values.len(), "{line}");
        per_series.entry(name).or_default().extend(timestamps.iter().map(|t| t.as_i64().expect("integer timestamp")));
    }
    assert!(lines > SERIES, "an export over {SERIES} series took {lines} lines: it was not paged");
    assert_eq!(per_series.len(), SERIES);
    let expected: Vec<i64> = (0..SAMPLES).map(|i| base + i * STEP_MS).collect();
    for (name, timestamps) in &per_series {
        assert_eq!(timestamps, &expected, "series {name}: every sample once, in order");
    }
    // A window with no data, and start/end bounds, still answer well-formed (empty) exports.
    let empty = agent().get(&server.url("/api/v1/export?match[]=big_export&start=-1000&end=-1")).call().expect("export").into_string().unwrap_or_default();
    assert_eq!(empty, "");
    let url = format!("/api/v1/export?match[]=big_export%7Bseries%3D%22s7%22%7D&start={}&end={}", base / 1000, base / 1000 + 2);
    let one = agent().get(&server.url(&url)).call().expect("export").into_string().unwrap_or_default();
    assert_eq!(one.lines().count(), 1, "{one}");
    assert!(one.contains(&format!("\"timestamps\":[{},{},{}]", base, base + 1000, base + 2000)), "{one}");
    assert!(server.stop());
}
