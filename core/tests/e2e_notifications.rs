//! End-to-end: `/api/v1/notifications` and its live stream follow a failed and a mended
//! scrape configuration reload, the stream ends at shutdown after telling of it, one client
//! over `server.max_notification_subscribers` gets 204, and
//! `/api/v1/status/self_metrics` shows the subscriber in Prometheus' JSON form.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::*;

const WAIT: Duration = Duration::from_secs(20);

/// An open `GET /api/v1/notifications/live` over HTTP/1.1, read as it arrives.
struct Live {
    stream: TcpStream,
    received: String,
}

impl Live {
    fn open(server: &Server) -> Live {
        let mut stream = TcpStream::connect(&server.http_addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_millis(200))).expect("read timeout");
        let request = format!("GET /api/v1/notifications/live HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n", server.http_addr);
        stream.write_all(request.as_bytes()).expect("send request");
        Live { stream, received: String::new() }
    }

    /// Reads until `needle` has arrived (counting from the start), failing after `WAIT`;
    /// false when the connection closed first.
    fn wait_for(&mut self, needle: &str) -> bool {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while !self.received.contains(needle) {
            assert!(Instant::now() < deadline, "{needle:?} did not arrive; got {:?}", self.received);
            match self.stream.read(&mut buf) {
                Ok(0) => return self.received.contains(needle),
                Ok(n) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => panic!("reading the stream: {e}"),
            }
        }
        true
    }

    /// The JSON of every `data:` event received so far.
    fn events(&self) -> Vec<serde_json::Value> {
        self.received.lines().filter_map(|l| l.strip_prefix("data: ")).map(|json| serde_json::from_str(json).expect("event JSON")).collect()
    }
}

#[test]
fn notifications_follow_reloads_and_shutdown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scrape_file = dir.path().join("prometheus.yml");
    std::fs::write(&scrape_file, "scrape_configs: []\n").expect("scrape config");
    let config = write_config(dir.path(), "  max_notification_subscribers: 1\n");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);

    let (status, body) = get_json(&server.url("/api/v1/notifications"));
    assert_eq!((status, &body["data"]), (200, &serde_json::json!([])), "{body}");

    let mut live = Live::open(&server);
    assert!(live.wait_for("\r\n\r\n"), "the stream's head");
    let head = live.received.clone();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
    assert!(head.to_ascii_lowercase().contains("cache-control: no-cache"), "{head}");

    // The only subscription allowed is taken: one more gets 204 (the stream may open just
    // after the head above, so ask until the subscriber is counted).
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = reply_or_status("second live", agent().get(&server.url("/api/v1/notifications/live")).call());
        if reply.status == 204 {
            break;
        }
        assert!(Instant::now() < deadline, "a second subscriber was not refused: {}", reply.status);
    }

    // A failed reload raises the notification: listed, and pushed to the stream.
    std::fs::write(&scrape_file, "scrape_configs: [{job_name: broken, no_such_key: 1}]\n").expect("scrape config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(live.wait_for("data: "), "an event");
    let events = live.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["active"], true, "{events:?}");
    let text = events[0]["text"].as_str().expect("text").to_string();
    assert!(text.contains("reload"), "{text}");
    assert!(events[0]["date"].as_str().is_some_and(|d| d.ends_with('Z') && d.contains('T')), "{events:?}");
    let (_, body) = get_json(&server.url("/api/v1/notifications"));
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["data"][0]["text"], text.as_str(), "{body}");

    // The self metrics count the subscriber, in the protobuf JSON mapping.
    let (status, body) = get_json(&server.url("/api/v1/status/self_metrics?metric_name_pattern=metricstor_notification_.*"));
    assert_eq!(status, 200, "{body}");
    let families = body["data"].as_array().expect("families");
    let names: Vec<&str> = families.iter().filter_map(|f| f["name"].as_str()).collect();
    assert_eq!(names, ["metricstor_notification_active_subscribers", "metricstor_notification_updates_sent_total", "metricstor_notification_updates_dropped_total"], "{body}");
    assert_eq!(families[0]["type"], "GAUGE", "{body}");
    assert_eq!(families[0]["metric"][0]["gauge"]["value"], 1.0, "{body}");
    assert_eq!(families[1]["type"], "COUNTER", "{body}");
    assert_eq!(families[1]["metric"][0]["counter"]["value"], 1.0, "{body}");
    let (status, body) = get_json(&server.url("/api/v1/status/self_metrics?metric_name_pattern=("));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("metric_name_pattern")), "{body}");

    // A mended file ends it: the stream hears it inactive, the list is empty again.
    std::fs::write(&scrape_file, "scrape_configs: []\n").expect("scrape config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(live.wait_for("\"active\":false"), "the ended notification");
    let (_, body) = get_json(&server.url("/api/v1/notifications"));
    assert_eq!(body["data"], serde_json::json!([]), "{body}");

    // Shutdown is told, then the stream ends with its last chunk (it does not hold the
    // drain back).
    server.signal(libc::SIGTERM);
    assert!(live.wait_for("0\r\n\r\n"), "the stream's end after the shutdown event; got {:?}", live.received);
    let events = live.events();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[2]["text"].as_str().is_some_and(|t| t.contains("shutting down")), "{events:?}");
    assert_eq!(events[2]["active"], true, "{events:?}");
    assert!(server.stop(), "clean stop");
}
