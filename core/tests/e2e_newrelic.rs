//! End-to-end: the New Relic infrastructure agent's endpoints under `/newrelic` against the
//! real binary. Metric events (gzip, as the agent sends them) are read back as samples named
//! by their keys with the events' string fields as labels and their timestamps; the agent's
//! connect and inventory calls get the answers it expects; a malformed body is a 400 naming
//! the problem.

mod support;

use std::io::Write;

use serde_json::json;
use support::*;

fn encoded(text: &str) -> String {
    percent_encode(text)
}

fn send(server: &Server, path: &str, encoding: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut request = agent().post(&server.url(path)).set("Content-Type", "application/json");
    if let Some(encoding) = encoding {
        request = request.set("Content-Encoding", encoding);
    }
    match request.send_bytes(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {path}: {e}"),
    }
}

#[test]
fn newrelic_agent_events_are_stored_and_its_other_calls_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let t0 = (now / 60_000) * 60_000 - 3_600_000;
    let events = json!([{"EntityID": 7, "IsAgent": true, "Events": [
        {"eventType": "SystemSample", "timestamp": t0 / 1000, "entityKey": "host1", "cpuPercent": 25.5, "memoryFreeBytes": 1024, "flag": true},
        {"eventType": "SystemSample", "timestamp": t0 + 15_000, "entityKey": "host1", "cpuPercent": 30},
    ]}]);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(events.to_string().as_bytes()).expect("gzip");
    let (status, body) = send(&server, "/newrelic/infra/v2/metrics/events/bulk?extra_label=dc=eu", Some("gzip"), &gzip.finish().expect("gzip"));
    assert_eq!((status, body.as_str()), (202, r#"{"status":"ok"}"#));

    let query = "{entityKey=\"host1\"}[10m]";
    let (status, answer) = get_json(&server.url(&format!("/api/v1/query?query={}&time={}", encoded(query), (t0 + 60_000) as f64 / 1000.0)));
    assert_eq!(status, 200, "{answer}");
    let labels = |name: &str| json!({"__name__": name, "dc": "eu", "entityKey": "host1", "eventType": "SystemSample"});
    assert_eq!(
        matrix_series(&answer),
        vec![(labels("cpuPercent"), vec![(t0, "25.5".into()), (t0 + 15_000, "30".into())]), (labels("memoryFreeBytes"), vec![(t0, "1024".into())])]
    );

    assert_eq!(send(&server, "/newrelic", None, b""), (202, r#"{"status":"ok"}"#.to_string()));
    let (status, body) = send(&server, "/newrelic/inventory/deltas", None, b"{}");
    assert_eq!(status, 202);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).expect("JSON")["payload"]["version"], 1);
    let (status, body) = send(&server, "/newrelic/infra/v2/metrics/events/bulk", None, b"{\"Events\": []}");
    assert_eq!(status, 400);
    assert!(body.contains("array of posts"), "{body}");
    assert!(server.stop(), "clean shutdown");
}
