//! End-to-end: the real binary evaluates the `rule_files` of its Prometheus configuration
//! (`scrape.config_file`) every second: recording and alerting rules, their series, the rules
//! and alerts APIs, the alerts sent to a mock Alertmanager, reloads (SIGHUP), and the
//! query log of `global.query_log_file`.

mod support;

use std::time::Duration;

use support::*;

const WAIT: Duration = Duration::from_secs(30);

const RULES: &str = r#"groups:
- name: test
  labels: {team: storage}
  rules:
  - record: job:test_value:sum
    expr: sum by (job) (test_value)
  - alert: ValueHigh
    expr: test_value > 5
    labels: {severity: page, instance_copy: '{{ $labels.instance }}'}
    annotations:
      summary: '{{ $labels.instance }} is at {{ $value }}'
      total: '{{ with query "sum(test_value)" }}{{ . | first | value }}{{ end }}'
  - alert: ValueSomewhatHigh
    expr: test_value > 0
    for: 1h
"#;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Writes `test_value` of instances a (10) and b (1) at now, every 500 ms in the
/// background for as long as the test runs (so that they stay within the lookback).
fn keep_writing(server: &Server) {
    let url = server.url("/api/v1/write");
    std::thread::spawn(move || loop {
        let t = now_ms();
        let body = v1_request(&[(vec![("__name__", "test_value"), ("instance", "a"), ("job", "j")], vec![(t, 10.0)]), (vec![("__name__", "test_value"), ("instance", "b"), ("job", "j")], vec![(t, 1.0)])]);
        let _ = agent().post(&url).set("Content-Type", "application/x-protobuf").set("Content-Encoding", "snappy").send_bytes(&body);
        std::thread::sleep(Duration::from_millis(500));
    });
}

/// A recording rule's series, an alerting rule that fires at once with templated labels and
/// annotations (one with a `query`), one held pending by `for`, their `ALERTS` series,
/// `/api/v1/rules` and `/api/v1/alerts`, and the alert sent to a mock Alertmanager with the
/// external labels. A reload (SIGHUP) with a broken rule file keeps the rules in force and
/// says why; one that removes the alerting rules ends their alerts and marks their `ALERTS`
/// series stale.
#[test]
fn rules_record_alert_notify_and_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alertmanager = MockAlertmanager::start();
    std::fs::write(dir.path().join("rules.yml"), RULES).expect("rules");
    let prometheus_yml = format!(
        "global:\n  evaluation_interval: 1s\n  external_labels: {{dc: eu1}}\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{}']\n",
        alertmanager.port
    );
    let config = write_scrape_config(dir.path(), &prometheus_yml);
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("rules:\n  external_url: http://metricstor.example:9090/\n  alert_resend_delay_seconds: 1\n");
    std::fs::write(&config, text).expect("config");
    let server = Server::start(&config);
    keep_writing(&server);

    // The recording rule's series, with the group's label.
    let recorded = poll_query(&server, "job:test_value:sum", "the recorded series", WAIT, |r| (r.len() == 1 && r[0]["value"][1] == "11").then(|| r[0]["metric"].clone()));
    assert_eq!(recorded, serde_json::json!({"__name__": "job:test_value:sum", "job": "j", "team": "storage"}));

    // The alert fires at once (no `for`), for instance a only, its templates expanded.
    let alert = poll("a firing alert", WAIT, || {
        let (_, body) = get_json(&server.url("/api/v1/alerts"));
        body["data"]["alerts"].as_array()?.iter().find(|a| a["labels"]["alertname"] == "ValueHigh" && a["state"] == "firing").cloned()
    });
    assert_eq!(alert["labels"], serde_json::json!({"alertname": "ValueHigh", "instance": "a", "instance_copy": "a", "job": "j", "severity": "page", "team": "storage"}));
    assert_eq!(alert["annotations"]["summary"], "a is at 10");
    assert_eq!(alert["annotations"]["total"], "11");
    assert_eq!(alert["value"], "1e+01");

    // Its ALERTS series; the `for: 1h` rule's alerts stay pending.
    poll_query(&server, "ALERTS{alertname=\"ValueHigh\",alertstate=\"firing\"}", "the ALERTS series", WAIT, |r| (r.len() == 1 && r[0]["metric"]["instance"] == "a").then_some(()));
    poll_query(&server, "count(ALERTS{alertname=\"ValueSomewhatHigh\",alertstate=\"pending\"})", "the pending alerts", WAIT, |r| (r.len() == 1 && r[0]["value"][1] == "2").then_some(()));
    poll_query(&server, "ALERTS_FOR_STATE{alertname=\"ValueHigh\"}", "the ALERTS_FOR_STATE series", WAIT, |r| (r.len() == 1).then_some(()));

    // /api/v1/rules: the group, its three rules, healthy.
    let (status, rules) = get_json(&server.url("/api/v1/rules"));
    assert_eq!(status, 200, "{rules}");
    let group = &rules["data"]["groups"][0];
    assert_eq!((group["name"].as_str(), group["interval"].as_f64()), (Some("test"), Some(1.0)), "{group}");
    assert!(group["file"].as_str().is_some_and(|f| f.ends_with("rules.yml")), "{group}");
    let kinds: Vec<(&str, &str, &str)> = group["rules"].as_array().expect("rules").iter().map(|r| (r["name"].as_str().unwrap_or(""), r["type"].as_str().unwrap_or(""), r["health"].as_str().unwrap_or(""))).collect();
    assert_eq!(kinds, [("job:test_value:sum", "recording", "ok"), ("ValueHigh", "alerting", "ok"), ("ValueSomewhatHigh", "alerting", "ok")]);
    assert_eq!(group["rules"][1]["query"], "test_value > 5");
    assert_eq!(group["rules"][2]["duration"], 3600);
    let (_, only_recording) = get_json(&server.url("/api/v1/rules?type=record"));
    assert_eq!(only_recording["data"]["groups"][0]["rules"].as_array().map(Vec::len), Some(1));

    // The Alertmanager got it, with the external labels and the generator URL.
    let sent = poll("the alert at the Alertmanager", WAIT, || alertmanager.alerts("/api/v2/alerts").into_iter().find(|a| a["labels"]["alertname"] == "ValueHigh"));
    assert_eq!(sent["labels"]["dc"], "eu1", "{sent}");
    assert_eq!(sent["annotations"]["summary"], "a is at 10");
    assert!(sent["generatorURL"].as_str().is_some_and(|u| u.starts_with("http://metricstor.example:9090/graph?g0.expr=test_value+%3E+5")), "{sent}");
    // The link's page is served here (the query page, reading g0.expr and g0.tab).
    let link = sent["generatorURL"].as_str().and_then(|u| u.strip_prefix("http://metricstor.example:9090")).unwrap_or_default();
    let page = reply_or_status("the generator URL", agent().get(&server.url(link)).call());
    assert!(page.status == 200 && page.body.contains("function parsePanels"), "{link}: {}", page.status);
    assert!(sent["startsAt"].as_str().is_some_and(|t| t.ends_with('Z')), "{sent}");
    let (_, flags) = get_json(&server.url("/api/v1/status/flags"));
    assert_eq!((flags["data"]["rules.alert.resend-delay"].as_str(), flags["data"]["rules.alert.for-grace-period"].as_str(), flags["data"]["web.external-url"].as_str()), (Some("1s"), Some("10m"), Some("http://metricstor.example:9090")), "{flags}");
    let (_, managers) = get_json(&server.url("/api/v1/alertmanagers"));
    assert_eq!(managers["data"]["activeAlertmanagers"][0]["url"], format!("http://127.0.0.1:{}/api/v2/alerts", alertmanager.port));

    // A broken rule file: the reload fails and the rules in force stay.
    std::fs::write(dir.path().join("rules.yml"), "groups:\n- name: test\n  rules:\n  - record: x\n").expect("rules");
    server.signal(libc::SIGHUP);
    assert!(server.wait_log("field 'expr' must be set in rule", WAIT), "the reload names the mistake");
    let (_, still) = get_json(&server.url("/api/v1/rules"));
    assert_eq!(still["data"]["groups"][0]["rules"].as_array().map(Vec::len), Some(3));
    let reload_metric = || {
        let text = agent().get(&server.url("/metrics")).call().ok()?.into_string().ok()?;
        text.lines().find_map(|l| l.strip_prefix("prometheus_config_last_reload_successful ")).map(str::to_string)
    };
    assert_eq!(reload_metric().as_deref(), Some("0"), "the failed reload is on /metrics");

    // Without the alerting rules: their alerts end and ALERTS goes stale.
    std::fs::write(dir.path().join("rules.yml"), "groups:\n- name: test\n  rules:\n  - record: job:test_value:sum\n    expr: sum by (job) (test_value)\n").expect("rules");
    server.signal(libc::SIGHUP);
    poll("the alerts gone", WAIT, || {
        let (_, body) = get_json(&server.url("/api/v1/alerts"));
        body["data"]["alerts"].as_array().is_some_and(Vec::is_empty).then_some(())
    });
    poll_query(&server, "ALERTS", "ALERTS stale", WAIT, |r| r.is_empty().then_some(()));
    let (_, after) = get_json(&server.url("/api/v1/rules"));
    assert_eq!(after["data"]["groups"][0]["rules"].as_array().map(Vec::len), Some(1), "{after}");
    assert_eq!(reload_metric().as_deref(), Some("1"), "and the good one after it");
    assert!(server.stop(), "clean shutdown");
}

/// The `activeAt` of the alert of `alertname` for `instance`, once `/api/v1/alerts` has it.
fn active_at_s(server: &Server, alertname: &str, instance: &str) -> Option<f64> {
    let (_, body) = get_json(&server.url("/api/v1/alerts"));
    let alert = body["data"]["alerts"].as_array()?.iter().find(|a| a["labels"]["alertname"] == alertname && a["labels"]["instance"] == instance)?.clone();
    rfc3339_seconds(alert["activeAt"].as_str()?)
}

/// Seconds since the epoch of an RFC 3339 UTC time such as `2026-12-05T11:00:00.123Z`.
fn rfc3339_seconds(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut t = time.split(':');
    let (h, min, s) = (t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?);
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + s)
}

#[test]
fn an_alerts_for_state_is_restored_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yml"), "groups:\n- name: held\n  rules:\n  - alert: Held\n    expr: test_value > 0\n    for: 1h\n").expect("rules");
    let config = write_scrape_config(dir.path(), "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n");
    let server = Server::start(&config);
    keep_writing(&server);
    let first = poll("the pending alert", WAIT, || active_at_s(&server, "Held", "a"));
    poll_query(&server, "ALERTS_FOR_STATE{alertname=\"Held\",instance=\"a\"}", "ALERTS_FOR_STATE", WAIT, |r| (r.len() == 1).then_some(()));
    // Pending for a while before the restart, so that a restored time stands apart from one
    // the restarted server would give.
    poll("eight seconds pending", WAIT, || (now_ms() as f64 / 1000.0 - first >= 8.0).then_some(()));
    assert!(server.stop(), "clean shutdown");

    let restarted_at = now_ms() as f64 / 1000.0;
    let server = Server::start(&config);
    keep_writing(&server);
    // Pending anew at first; once restored (after two evaluations) its active time moves
    // back by what it had been pending before the restart, as Prometheus restores it.
    let restored = poll("the restored active time", WAIT, || active_at_s(&server, "Held", "a").filter(|&t| t < restarted_at));
    assert!(restored >= first && restored < first + 6.0, "restored {restored}, first {first}, restarted at {restarted_at}");
    assert!(server.stop(), "clean shutdown");
}

/// An Alertmanager found by `http_sd_configs` (asked by the scrape discoveries' askers under
/// the entry's own name) gets the alerts, and `/api/v1/alertmanagers` lists it.
#[test]
fn an_alertmanager_found_by_http_sd_gets_the_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let alertmanager = MockAlertmanager::start();
    let sd = Exporter::start("");
    sd.route("/sd", 200, &["Content-Type: application/json"], &format!(r#"[{{"targets":["127.0.0.1:{}"],"labels":{{"__alerts_path__":"/prefixed/api/v2/alerts"}}}}]"#, alertmanager.port));
    std::fs::write(dir.path().join("rules.yml"), "groups:\n- name: g\n  rules:\n  - alert: Always\n    expr: vector(1)\n").expect("rules");
    let prometheus_yml = format!("global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - http_sd_configs: [{{url: 'http://{}/sd', refresh_interval: 1s}}]\n", sd.address());
    let config = write_scrape_config(dir.path(), &prometheus_yml);
    let server = Server::start(&config);
    let url = format!("http://127.0.0.1:{}/prefixed/api/v2/alerts", alertmanager.port);
    poll("the discovered Alertmanager", WAIT, || {
        let (_, body) = get_json(&server.url("/api/v1/alertmanagers"));
        (body["data"]["activeAlertmanagers"][0]["url"] == url.as_str()).then_some(())
    });
    let sent = poll("the alert at the discovered Alertmanager", WAIT, || alertmanager.alerts("/prefixed/api/v2/alerts").into_iter().find(|a| a["labels"]["alertname"] == "Always"));
    assert_eq!(sent["labels"], serde_json::json!({"alertname": "Always"}));
    assert!(server.stop(), "clean shutdown");
}

/// `global.query_log_file`: every query evaluated, API (GET and POST, with the client and
/// path) and rule (with its group), one JSON line each with its parameters and statistics;
/// a query refused as unparsable is not; a reload without the key stops the log.
#[test]
fn queries_are_logged_to_the_query_log_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("rules.yml"), "groups:\n- name: logged\n  rules:\n  - record: r:one\n    expr: vector(1)\n").expect("rules");
    let config = write_scrape_config(dir.path(), "global:\n  evaluation_interval: 1s\n  query_log_file: query.log\nrule_files: ['rules.yml']\n");
    let server = Server::start(&config);
    let log = dir.path().join("query.log");
    let (status, _) = get_json(&server.url("/api/v1/query?query=vector(2)&time=100"));
    assert_eq!(status, 200);
    // The same range query twice: evaluated (and cached), then answered from the cache.
    for _ in 0..2 {
        let reply = post_plain(&server.url("/api/v1/query_range"), "application/x-www-form-urlencoded", b"query=vector(3)&start=100&end=160&step=30");
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let (status, _) = get_json(&server.url("/api/v1/query?query=sum(&time=100"));
    assert_eq!(status, 400);
    let entries = || -> Vec<serde_json::Value> { std::fs::read_to_string(&log).unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect() };
    let lines = poll("a rule's query in the log", WAIT, || {
        let lines = entries();
        lines.iter().any(|l| l["params"]["query"] == "vector(1)").then_some(lines)
    });
    let of = |query: &str| lines.iter().find(|l| l["params"]["query"] == query).cloned().unwrap_or_else(|| panic!("no {query} in {lines:?}"));
    let instant = of("vector(2)");
    assert_eq!(instant["msg"], "promql query logged");
    assert_eq!(instant["params"], serde_json::json!({"end": "1970-01-01T00:01:40.000Z", "query": "vector(2)", "start": "1970-01-01T00:01:40.000Z", "step": 0}));
    assert_eq!(instant["httpRequest"], serde_json::json!({"clientIP": "127.0.0.1", "method": "GET", "path": "/api/v1/query"}));
    assert!(instant["stats"]["timings"]["execTotalTime"].as_f64().is_some() && instant["stats"]["samples"]["peakSamples"].as_u64().is_some(), "{instant}");
    let range = of("vector(3)");
    assert_eq!((range["params"]["step"].as_i64(), range["params"]["end"].as_str()), (Some(30), Some("1970-01-01T00:02:40.000Z")), "{range}");
    assert_eq!(range["httpRequest"]["method"], "POST");
    // Both have statistics: the evaluation's, then the cache's (nothing read).
    let ranges: Vec<&serde_json::Value> = lines.iter().filter(|l| l["params"]["query"] == "vector(3)").collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    assert_eq!(ranges[0]["stats"]["samples"]["peakSamples"].as_u64(), Some(3), "three points evaluated: {}", ranges[0]);
    assert_eq!(ranges[1]["stats"]["samples"]["peakSamples"].as_u64(), Some(0), "none evaluated: {}", ranges[1]);
    assert!(ranges[1]["stats"]["timings"]["execTotalTime"].as_f64().is_some_and(|t| t > 0.0), "{}", ranges[1]);
    let rule = of("vector(1)");
    assert_eq!(rule["ruleGroup"]["name"], "logged", "{rule}");
    assert!(rule["ruleGroup"]["file"].as_str().is_some_and(|f| f.ends_with("rules.yml")), "{rule}");
    assert!(lines.iter().all(|l| l["params"]["query"] != "sum("), "a query that does not parse is not evaluated, so not logged");
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body");
    assert!(metrics.contains("\nprometheus_engine_query_log_enabled 1\n"), "the log is on");
    // Prometheus' engine timings, which the monitoring mixin's dashboards read.
    let evaluated = metrics.lines().find_map(|l| l.strip_prefix("prometheus_engine_query_duration_seconds_count{slice=\"inner_eval\"} ")).and_then(|n| n.parse::<u64>().ok());
    assert!(evaluated.is_some_and(|n| n >= 2), "the two API queries and the rule's timed: {evaluated:?}");
    assert!(metrics.contains("prometheus_engine_query_duration_seconds{slice=\"queue_time\",quantile=\"0.99\"} "), "{metrics}");

    // A reload without the key: the log stops.
    std::fs::write(dir.path().join("prometheus.yml"), "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\n").expect("config");
    server.signal(libc::SIGHUP);
    poll("the log off after the reload", WAIT, || {
        let text = agent().get(&server.url("/metrics")).call().ok()?.into_string().ok()?;
        text.contains("\nprometheus_engine_query_log_enabled 0\n").then_some(())
    });
    let (status, _) = get_json(&server.url("/api/v1/query?query=vector(4)&time=100"));
    assert_eq!(status, 200);
    assert!(entries().iter().all(|l| l["params"]["query"] != "vector(4)"), "no line after the reload");
    assert!(server.stop(), "clean shutdown");
}

/// `queries.active` in the data directory: a query running when the process died is there
/// at the next start, which logs it; a query that finished leaves its slot empty.
#[test]
fn queries_a_crash_interrupted_are_logged_at_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "");
    let server = Server::start(&config);
    let (status, _) = get_json(&server.url("/api/v1/query?query=vector(1)"));
    assert_eq!(status, 200);
    let file = server.data_dir.join("queries.active");
    let written = std::fs::read(&file).expect("queries.active made at start");
    assert_eq!(written.first(), Some(&b'['), "Prometheus' layout");
    assert!(written[1..].iter().all(|&b| b == 0), "the finished query's slot is empty again");
    assert!(server.stop(), "clean shutdown");

    // As a process killed in the middle of a query leaves it: one slot filled.
    let mut crashed = written.clone();
    let entry = br#"{"query":"sum(rate(heavy[30d]))","timestamp_sec":1700000000}"#;
    crashed[1..1 + entry.len()].copy_from_slice(entry);
    crashed[1000] = b',';
    std::fs::write(&file, crashed).expect("write");
    let server = Server::start(&config);
    let line = server.start_log_line("did not finish in the last run").expect("the unfinished queries logged at start").to_string();
    assert!(line.contains("sum(rate(heavy[30d]))") && line.contains("1700000000"), "{line}");
    assert!(std::fs::read(&file).expect("read")[1..].iter().all(|&b| b == 0), "made anew");
    assert!(server.stop(), "clean shutdown");
}
