//! End-to-end: a Zabbix connector's item values (`POST /zabbixconnector/api/v1/history`,
//! newline-delimited JSON as Zabbix 6.4 and later send it) against the real binary. Numeric
//! values are read back as samples of series named by the items, labeled as
//! VictoriaMetrics labels them (host, hostname, tags, groups per `zabbix_connector:`); text
//! values are passed over; a bad line is a 400 naming it, with the other lines stored.

mod support;

use serde_json::json;
use support::*;

fn send(server: &Server, path: &str, body: &str) -> (u16, String) {
    match agent().post(&server.url(path)).set("Content-Type", "application/x-ndjson").send_string(body) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {path}: {e}"),
    }
}

/// One item value line of `kind` (0 float, 3 unsigned, 4 text).
fn item(name: &str, tags: serde_json::Value, clock_s: i64, ns: i64, value: serde_json::Value, kind: u8) -> String {
    json!({
        "host": {"host": "web-01", "name": "Web server 1"},
        "groups": ["Linux servers"],
        "item_tags": tags,
        "itemid": 44457,
        "name": name,
        "clock": clock_s,
        "ns": ns,
        "value": value,
        "type": kind,
    })
    .to_string()
}

#[test]
fn zabbix_item_values_are_stored_as_victoriametrics_stores_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("zabbix_connector:\n  add_groups_value: \"1\"\n  add_duplicate_tags_separator: \",\"\n");
    std::fs::write(&config, text).expect("config");
    let server = Server::start(&config);
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let t0_s = now_s / 60 * 60 - 3600;
    let tags = json!([{"tag": "component", "value": "cpu"}, {"tag": "env", "value": "prod"}, {"tag": "env", "value": "eu"}, {"tag": "bare", "value": ""}]);
    let body = [
        item("CPU utilization", tags.clone(), t0_s, 250_000_000, json!(12.5), 0),
        item("CPU utilization", tags.clone(), t0_s + 60, 0, json!(13), 0),
        item("System uptime", json!([]), t0_s, 0, json!(86400u64), 3),
        item("OS name", json!([]), t0_s, 0, json!("Linux"), 4),
        String::new(),
    ]
    .join("\n");
    let (status, answer) = send(&server, "/zabbixconnector/api/v1/history?extra_label=site=fra", &body);
    assert_eq!((status, answer.as_str()), (200, ""));

    let query = percent_encode(r#"{host="web-01"}[10m]"#);
    let (status, answer) = get_json(&server.url(&format!("/api/v1/query?query={query}&time={}", t0_s + 120)));
    assert_eq!(status, 200, "{answer}");
    let host = |name: &str, tags: &[(&str, &str)]| {
        let mut labels = json!({"__name__": name, "host": "web-01", "hostname": "Web server 1", "group_Linux servers": "1", "site": "fra"});
        for (n, v) in tags {
            labels[*n] = json!(v);
        }
        labels
    };
    let t0_ms = t0_s * 1000;
    assert_eq!(
        matrix_series(&answer),
        vec![
            (host("CPU utilization", &[("tag_component", "cpu"), ("tag_env", "prod,eu")]), vec![(t0_ms + 250, "12.5".into()), (t0_ms + 60_000, "13".into())]),
            (host("System uptime", &[]), vec![(t0_ms, "86400".into())]),
        ],
        "{answer}"
    );

    // A line that is not an item value: the others are stored, the answer names it.
    let body = [item("Load average", json!([]), t0_s, 0, json!(0.5), 0), "{\"type\":0,\"name\":\"broken\"}".into()].join("\n");
    let (status, answer) = send(&server, "/zabbixconnector/api/v1/history", &body);
    assert_eq!(status, 400, "{answer}");
    let error: serde_json::Value = serde_json::from_str(&answer).expect("a JSON error");
    let message = error["error"].as_str().expect("an error field, as the connector reads it");
    assert!(message.starts_with("line 2: ") && message.contains("\"host\" object") && message.contains("1 line skipped"), "{message}");
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query={}&time={}", percent_encode(r#"{__name__="Load average"}"#), t0_s + 60)));
    assert_eq!(answer["data"]["result"][0]["value"][1], "0.5", "{answer}");

    let reply = agent().get(&server.url("/zabbixconnector/api/v1/history")).call();
    assert!(matches!(reply, Err(ureq::Error::Status(405, _))), "{reply:?}");
    assert!(server.stop(), "clean shutdown");
}
