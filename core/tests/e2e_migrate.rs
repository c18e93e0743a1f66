//! Export from one server, import into another (VictoriaMetrics JSON lines), and import of
//! the Prometheus text format: everything read back over the query API.

mod support;

use support::*;

fn raw_post(url: &str, content_type: &str, body: &[u8]) -> Reply {
    match agent().post(url).set("Content-Type", content_type).send_bytes(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Reply { status: r.status(), headers: Vec::new(), body: r.into_string().unwrap_or_default() },
        Err(e) => panic!("POST {url}: {e}"),
    }
}

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

    let reply = raw_post(&b.url("/api/v1/import"), "application/json", export.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(agent().get(&b.url("/api/v1/export?match[]=%7B__name__%3D~%22mig_.*%22%7D")).call().unwrap().into_string().unwrap(), export);

    let text = "# TYPE mig_text gauge\nmig_text{job=\"t\"} 3.5 1000000\nmig_text{job=\"t\"} 4.5 1015000\n";
    assert_eq!(raw_post(&b.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes()).status, 204);
    let (_, body) = get_json(&b.url("/api/v1/query?query=mig_text&time=1015"));
    assert_eq!(body["data"]["result"][0]["value"][1], "4.5", "{body}");

    let reply = raw_post(&b.url("/api/v1/import"), "application/json", b"{\"metric\":{\"job\":\"x\"},\"values\":[1],\"timestamps\":[1]}\n");
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("metric name"), "{}", reply.body);
    assert!(a.stop());
    assert!(b.stop());
}
