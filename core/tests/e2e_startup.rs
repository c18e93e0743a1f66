//! End-to-end: while the shards replay their WALs at start-up the server already answers:
//! `/-/healthy` 200 (VictoriaMetrics' `/health` too; its `/ready` 425), `/-/ready` and the
//! query API 503 with `Retry-After` (the notification says it is starting), `/api/v1/status/walreplay` counts the segments; once every shard is
//! open it is ready for good and the replay count covers every WAL segment on disk.

mod support;

use std::time::{Duration, Instant};

use support::*;

/// Segment files (named by number) in every shard's WAL directory.
fn wal_segments(data_dir: &std::path::Path) -> u64 {
    let mut count = 0;
    for shard in std::fs::read_dir(data_dir).expect("data dir").flatten() {
        let Ok(entries) = std::fs::read_dir(shard.path().join("metricstor-wal")) else { continue };
        count += entries.flatten().filter(|e| e.file_name().to_str().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))).count() as u64;
    }
    count
}

#[test]
fn the_server_answers_during_wal_replay_and_turns_ready_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (http_port, grpc_port) = (free_port(), free_port());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "server:\n  http_addr: 127.0.0.1:{http_port}\n  grpc_addr: 127.0.0.1:{grpc_port}\n  cores: 2\nstorage:\n  data_dir: {}\n  wal_segment_size_mb: 1\n  wal_compression: false\n",
            dir.path().join("data").display()
        ),
    )
    .expect("config");

    // A WAL of many segments: 2,000 series of 12 hours at one sample a minute.
    let server = Server::start(&config);
    let hour_ms = 3_600_000;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let start_ms = (now_ms / hour_ms - 1) * hour_ms;
    for batch in 0..8 {
        let body = per_minute_body(&format!("replayed_{batch}"), 250, start_ms - 11 * hour_ms, 12 * hour_ms);
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
        assert_eq!(reply.status, 204, "{}", reply.body);
    }
    assert!(server.stop(), "clean stop");
    let segments = wal_segments(&dir.path().join("data"));
    assert!(segments >= 4, "a WAL of several segments; got {segments}");

    // Restart on the same ports; ask while it opens.
    let starting = std::thread::spawn({
        let config = config.clone();
        move || Server::start(&config)
    });
    let base = format!("http://127.0.0.1:{http_port}");
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut answers: Vec<u16> = Vec::new();
    let mut saw_starting_details = false;
    loop {
        assert!(Instant::now() < deadline, "not ready in time; answers {answers:?}");
        let ready = agent.get(&format!("{base}/-/ready")).timeout(Duration::from_secs(5)).call();
        let status = match ready {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            // Not listening yet.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
        };
        if answers.last() != Some(&status) {
            answers.push(status);
        }
        if status == 503 && !saw_starting_details {
            // While starting: healthy, queries refused with Retry-After, the replay counted,
            // the notification listed.
            let healthy = reply_or_status("healthy", agent.get(&format!("{base}/-/healthy")).call());
            assert_eq!(healthy.status, 200);
            // VictoriaMetrics' probes: /health alive, /ready 425 Too Early (or 200 if the
            // replay has just ended).
            let vm_health = reply_or_status("vm health", agent.get(&format!("{base}/health")).call());
            assert_eq!((vm_health.status, vm_health.body.as_str()), (200, "OK"));
            let vm_ready = reply_or_status("vm ready", agent.get(&format!("{base}/ready")).call());
            assert!(vm_ready.status == 425 || vm_ready.status == 200, "{} {}", vm_ready.status, vm_ready.body);
            let query = reply_or_status("query", agent.get(&format!("{base}/api/v1/query?query=up")).call());
            if query.status == 503 {
                assert_eq!(query.header("retry-after"), Some("5"), "{}", query.body);
                assert!(query.body.contains("walreplay") && query.body.contains("\"errorType\":\"unavailable\""), "{}", query.body);
                let (status, body) = get_json(&format!("{base}/api/v1/status/walreplay"));
                assert_eq!(status, 200, "{body}");
                let (max, current) = (body["data"]["max"].as_u64().expect("max"), body["data"]["current"].as_u64().expect("current"));
                assert!(current <= max && max <= segments, "{body}");
                let (_, listed) = get_json(&format!("{base}/api/v1/notifications"));
                if listed["data"].as_array().is_some_and(|a| a.iter().any(|n| n["text"].as_str().is_some_and(|t| t.contains("starting")))) {
                    saw_starting_details = true;
                }
            }
        }
        if status == 200 {
            break;
        }
    }
    let server = starting.join().expect("start thread");
    assert!(answers.iter().all(|&s| s == 503 || s == 200) && answers.last() == Some(&200), "{answers:?}");
    assert_eq!(answers.first(), Some(&503), "the replay of {segments} segments was seen from its start: {answers:?}");
    assert!(saw_starting_details, "a query refused while starting, and the notification listed");

    // Ready: the replay covered every segment, the notification is gone, queries answer.
    let (_, body) = get_json(&server.url("/api/v1/status/walreplay"));
    assert_eq!(body["data"], serde_json::json!({"min": 0, "max": segments, "current": segments}), "{body}");
    let (_, listed) = get_json(&server.url("/api/v1/notifications"));
    assert_eq!(listed["data"], serde_json::json!([]), "{listed}");
    for batch in 0..8 {
        let query = percent_encode(&format!("sum(count_over_time(replayed_{batch}[13h]))"));
        let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={query}")));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["result"][0]["value"][1], (250 * 12 * 60).to_string(), "every sample replayed: {body}");
    }
    assert!(server.stop(), "clean stop");
}

/// A second server on a data directory in use is refused, naming the directory, and leaves
/// the first one's data alone; once the first has stopped, the directory opens again. A
/// directory that an unfinished restore left (vmrestore's `restore-in-progress`) is refused.
#[test]
fn a_data_directory_serves_one_server_at_a_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Server::start(&write_config(dir.path(), ""));
    let at_ms = import_sample(&first, "held_by_the_first", 7.0, 10);
    // The same data directory, other ports.
    let other = tempfile::tempdir().expect("tempdir");
    let config = other.path().join("config.yaml");
    std::fs::write(&config, format!("server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 2\nstorage:\n  data_dir: {}\n", first.data_dir.display())).expect("write config");
    let refused = start_refused(&config);
    assert!(refused.contains("is in use by another process") && refused.contains(&first.data_dir.display().to_string()), "{refused}");
    assert_eq!(value_at(&first, at_ms), "7", "the first server keeps its data and answers");
    assert!(first.stop());
    let second = Server::start(&config);
    assert_eq!(value_at(&second, at_ms), "7", "the directory opens once the first server is gone");
    assert!(second.stop());

    std::fs::write(dir.path().join("data").join("restore-in-progress"), b"").expect("marker");
    let refused = start_refused(&config);
    assert!(refused.contains("restore-in-progress") && refused.contains("did not finish"), "{refused}");
}

/// `held_by_the_first` at `at_ms`, as the query API answers it ("" for no sample).
fn value_at(server: &Server, at_ms: i64) -> String {
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query=held_by_the_first&time={}", at_ms / 1000)));
    assert_eq!(status, 200, "{body}");
    body["data"]["result"][0]["value"][1].as_str().unwrap_or("").to_string()
}
