//! End-to-end: Pushgateway-style pushes to `/api/v1/import/prometheus/metrics/job/…`, as
//! VictoriaMetrics takes them: 200, every series with the job and grouping labels (a base64
//! value decoded, `extra_label` winning), a grouping key that does not read a 400 naming it,
//! and methods other than POST and PUT a 405; a push in the delimited protobuf exposition
//! (Go's client library's default) is read as well, gzipped too.

mod support;

use support::*;

#[test]
fn pushes_store_their_grouping_labels_and_answer_200() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let push = |path: &str, body: &str| post_plain(&server.url(path), "text/plain", body.as_bytes());
    let reply = push("/api/v1/import/prometheus/metrics/job/backup/instance@base64/ZGIvMQ", "pg_backup_ok 1 1000000\npg_backup_bytes{kind=\"full\"} 5e9 1000000\n");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = agent().put(&server.url("/prometheus/api/v1/import/prometheus/metrics/job/backup/instance/x?extra_label=instance=y")).send_string("pg_backup_ok 0 1000000\n").expect("PUT");
    assert_eq!(reply.status(), 200);
    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=%7B__name__%3D~%22pg_.%2A%22%7D&start=900&end=1100"));
    let mut series: Vec<String> = answer["data"].as_array().expect("list").iter().map(|s| s.to_string()).collect();
    series.sort();
    assert_eq!(
        series,
        vec![
            r#"{"__name__":"pg_backup_bytes","instance":"db/1","job":"backup","kind":"full"}"#.to_string(),
            r#"{"__name__":"pg_backup_ok","instance":"db/1","job":"backup"}"#.to_string(),
            r#"{"__name__":"pg_backup_ok","instance":"y","job":"backup"}"#.to_string(),
        ],
        "{answer}"
    );
    // A label without its value: a 400 naming the path, nothing stored.
    let reply = push("/api/v1/import/prometheus/metrics/job/backup/instance", "pg_lost 1 1000000\n");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("Pushgateway grouping labels") && reply.body.contains("has no value"), "{}", reply.body);
    let (_, answer) = get_json(&server.url("/api/v1/series?match[]=pg_lost&start=900&end=1100"));
    assert_eq!(answer["data"], serde_json::json!([]));
    // A Pushgateway's DELETE of a group is not done here.
    let reply = reply_or_status("DELETE", agent().delete(&server.url("/api/v1/import/prometheus/metrics/job/backup")).call());
    assert_eq!((reply.status, reply.header("Allow")), (405, Some("POST, PUT")));
    assert!(server.stop());
}

#[test]
fn protobuf_pushes_are_read_as_go_clients_send_them() {
    use prost::Message;
    use proto::client_model as dto;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let family = |name: &str, kind: dto::MetricType, metric: dto::Metric| dto::MetricFamily { name: name.into(), help: "h".into(), r#type: kind as i32, metric: vec![metric], unit: String::new() };
    let label = |name: &str, value: &str| dto::LabelPair { name: name.into(), value: value.into() };
    let mut body = Vec::new();
    family("job_last_success", dto::MetricType::Gauge, dto::Metric { label: vec![label("stage", "load")], gauge: Some(dto::Gauge { value: 1234.5 }), timestamp_ms: 1_000_000, ..Default::default() })
        .encode_length_delimited(&mut body)
        .expect("encode");
    // With an exemplar, as Go's client library gives counters: not stored from a push.
    let exemplar = dto::Exemplar { label: vec![label("trace_id", "abc")], value: 1.0, timestamp: Some(dto::Timestamp { seconds: 1000, nanos: 0 }) };
    family("job_rows_total", dto::MetricType::Counter, dto::Metric { counter: Some(dto::Counter { value: 42.0, exemplar: Some(exemplar), ..Default::default() }), timestamp_ms: 1_000_000, ..Default::default() })
        .encode_length_delimited(&mut body)
        .expect("encode");
    let reply = agent()
        .post(&server.url("/api/v1/import/prometheus/metrics/job/etl"))
        .set("Content-Type", proto::client_model::CONTENT_TYPE)
        .send_bytes(&body)
        .expect("protobuf push");
    assert_eq!(reply.status(), 200);
    // Gzipped, under another group.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &body).expect("in memory");
    let reply = agent()
        .put(&server.url("/api/v1/import/prometheus/metrics/job/etl/instance/b"))
        .set("Content-Type", proto::client_model::CONTENT_TYPE)
        .set("Content-Encoding", "gzip")
        .send_bytes(&gzip.finish().expect("in memory"))
        .expect("gzipped protobuf push");
    assert_eq!(reply.status(), 200);
    let (_, answer) = get_json(&server.url("/api/v1/query?query=%7B__name__%3D~%22job_.%2A%22%7D&time=1000"));
    let mut found: Vec<String> = answer["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| format!("{} {}", s["metric"], s["value"][1].as_str().unwrap_or("")))
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            r#"{"__name__":"job_last_success","instance":"b","job":"etl","stage":"load"} 1234.5"#.to_string(),
            r#"{"__name__":"job_last_success","job":"etl","stage":"load"} 1234.5"#.to_string(),
            r#"{"__name__":"job_rows_total","instance":"b","job":"etl"} 42"#.to_string(),
            r#"{"__name__":"job_rows_total","job":"etl"} 42"#.to_string(),
        ],
        "{answer}"
    );
    // Not protobuf after all: a 400 naming it.
    let reply = reply_or_status(
        "bad protobuf",
        agent().post(&server.url("/api/v1/import/prometheus/metrics/job/etl")).set("Content-Type", proto::client_model::CONTENT_TYPE).send_bytes(b"\xff\xff\xff"),
    );
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("protobuf push"), "{}", reply.body);
    assert!(server.stop());

    // Read whole, so bounded by server.max_body_bytes once decoded: a 413 naming it.
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  max_body_bytes: 100\n"));
    let mut big = Vec::new();
    for i in 0..20 {
        family(&format!("job_part_{i}"), dto::MetricType::Gauge, dto::Metric { gauge: Some(dto::Gauge { value: 1.0 }), ..Default::default() }).encode_length_delimited(&mut big).expect("encode");
    }
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gzip, &big).expect("in memory");
    let reply = reply_or_status(
        "a push past the limit",
        agent().post(&server.url("/api/v1/import/prometheus/metrics/job/etl")).set("Content-Type", proto::client_model::CONTENT_TYPE).set("Content-Encoding", "gzip").send_bytes(&gzip.finish().expect("in memory")),
    );
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert!(reply.body.contains("server.max_body_bytes (100 bytes)"), "{}", reply.body);
    assert!(server.stop());
}
