//! End-to-end: `/api/v1/targets/relabel_steps` shows a scrape job's target relabeling rule
//! by rule for given labels, as Prometheus 3 answers it; 400s name what is wrong.

mod support;

use support::*;

#[test]
fn relabel_steps_show_each_rules_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_scrape_config(dir.path(), "scrape_configs:\n- job_name: app\n  static_configs: [{targets: ['127.0.0.1:1']}]\n  relabel_configs:\n  - {source_labels: [__address__], regex: '(.*):1', target_label: host}\n  - {source_labels: [host], regex: '10\\..*', action: drop}\n");
    let server = Server::start(&config);
    let url = |query: &str| server.url(&format!("/api/v1/targets/relabel_steps?{query}"));
    let (status, body) = get_json(&url(&format!("scrapePool=app&labels={}", percent_encode(r#"{"__address__":"127.0.0.1:1","job":"app"}"#))));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["steps"],
        serde_json::json!([
            {"rule": {"source_labels": ["__address__"], "separator": ";", "regex": "(.*):1", "target_label": "host", "replacement": "$1", "action": "replace"}, "output": {"__address__": "127.0.0.1:1", "host": "127.0.0.1", "job": "app"}, "keep": true},
            {"rule": {"source_labels": ["host"], "separator": ";", "regex": "10\\..*", "replacement": "$1", "action": "drop"}, "output": {"__address__": "127.0.0.1:1", "host": "127.0.0.1", "job": "app"}, "keep": true}
        ]),
        "{body}"
    );
    let (status, body) = get_json(&url(&format!("scrapePool=app&labels={}", percent_encode(r#"{"__address__":"10.0.0.1:1"}"#))));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["steps"][1]["keep"], false, "{body}");
    assert_eq!(body["data"]["steps"][1]["output"], serde_json::json!({}), "{body}");
    for (query, message) in [("labels=%7B%7D", "no scrapePool parameter provided"), ("scrapePool=app", "no labels parameter provided"), ("scrapePool=nope&labels=%7B%7D", "scrape pool \"nope\" not found")] {
        let (status, body) = get_json(&url(query));
        assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(message)), "{query}: {body}");
    }
    assert!(server.stop(), "clean stop");
}

/// `/api/v1/scrape_pools/config` shows a job's configuration in force as YAML, with
/// Prometheus' defaults filled in and its secrets masked; a reload changes it.
#[test]
fn scrape_pool_config_shows_the_job_in_force_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scrape_file = dir.path().join("prometheus.yml");
    let job = |interval: &str| format!("scrape_configs:\n- job_name: app\n  scrape_interval: {interval}\n  basic_auth: {{username: reader, password: hunter2}}\n  static_configs: [{{targets: ['127.0.0.1:1']}}]\n");
    std::fs::write(&scrape_file, job("7s")).expect("write the scrape configuration");
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);
    let shown = || {
        let (status, body) = get_json(&server.url("/api/v1/scrape_pools/config?scrapePool=app"));
        assert_eq!(status, 200, "{body}");
        body["data"]["yaml"].as_str().expect("yaml").to_string()
    };
    let yaml = shown();
    for line in ["job_name: app", "scrape_interval: 7s", "scrape_timeout: 7s", "metrics_path: /metrics", "scheme: http", "honor_timestamps: true", "follow_redirects: true", "enable_http2: true"] {
        assert!(yaml.lines().any(|l| l == line), "{line:?} missing in\n{yaml}");
    }
    assert!(yaml.contains("reader") && yaml.contains("<secret>") && !yaml.contains("hunter2"), "{yaml}");
    assert!(yaml.contains("127.0.0.1:1"), "{yaml}");

    std::fs::write(&scrape_file, job("9s")).expect("write the scrape configuration");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(shown().lines().any(|l| l == "scrape_interval: 9s"), "the reloaded job");

    for (query, message) in [("", "no scrapePool parameter provided"), ("?scrapePool=nope", "scrape pool \"nope\" not found")] {
        let (status, body) = get_json(&server.url(&format!("/api/v1/scrape_pools/config{query}")));
        assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| e.contains(message)), "{query}: {body}");
    }
    assert!(server.stop(), "clean stop");
}
