//! End-to-end: the real binary scrapes targets named by `scrape.config_file` (a Prometheus
//! configuration): a static target with basic auth, labels and metric relabeling, a target
//! that is down, and a file_sd target that is later removed. Checked through the query API:
//! the stored series with the target's labels (an exposed `job` kept as `exported_job`, the
//! external labels added), `up`, staleness markers for a series that disappears and for the
//! removed target's series, and `/api/v1/targets`.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

fn value_of(result: &[serde_json::Value]) -> Option<String> {
    result.first().and_then(|s| s["value"][1].as_str()).map(str::to_string)
}

/// `/api/v1/metadata` every 100 ms until `accept` takes its `data` (metadata reaches the
/// shards asynchronously); fails after `WAIT` saying `what` did not arrive.
fn poll_metadata(server: &Server, what: &str, accept: impl Fn(&serde_json::Value) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (status, metadata) = get_json(&server.url("/api/v1/metadata"));
        if status == 200 && accept(&metadata["data"]) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {metadata}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `/api/v1/query_exemplars` for `query` over the last hour and the next minute, every
/// 100 ms until `accept` takes its `data`; fails after `WAIT` saying `what` did not arrive.
fn poll_exemplars<T>(server: &Server, query: &str, what: &str, accept: impl Fn(&serde_json::Value) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let url = server.url(&format!("/api/v1/query_exemplars?query={}&start={}&end={}", percent_encode(query), now_s - 3600, now_s + 60));
        let (status, body) = get_json(&url);
        if status == 200 {
            if let Some(found) = accept(&body["data"]) {
                return found;
            }
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each series of a `query_exemplars` answer as `series: exemplar labels=value@time, ...`
/// (the series without `instance`, whose port changes), sorted; `None` when it has fewer
/// than `series` series.
fn exemplar_lines(data: &serde_json::Value, series: usize) -> Option<Vec<String>> {
    let text = |v: &serde_json::Value| v.as_object().map(|o| o.iter().filter(|(k, _)| *k != "instance").map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")).unwrap_or_default();
    let mut lines: Vec<String> = data
        .as_array()?
        .iter()
        .map(|s| {
            let exemplars: Vec<String> = s["exemplars"].as_array().map(|list| list.iter().map(|e| format!("{{{}}}={}@{}", text(&e["labels"]), e["value"].as_str().unwrap_or(""), e["timestamp"])).collect()).unwrap_or_default();
            format!("{{{}}}: {}", text(&s["seriesLabels"]), exemplars.join(" "))
        })
        .collect();
    lines.sort();
    (lines.len() >= series).then_some(lines)
}

#[test]
fn targets_are_scraped_with_their_labels_and_staleness() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("# HELP app_requests_total Requests.\n# TYPE app_requests_total counter\napp_requests_total{path=\"/a\",job=\"inner\"} 7\napp_temperature 21.5\ndrop_me 1\n");
    let down_port = free_port();
    std::fs::write(dir.path().join("password"), "s3cret\n").expect("password file");
    std::fs::write(dir.path().join("targets.json"), json!([{"targets": [exporter.address()], "labels": {"team": "x"}}]).to_string()).expect("targets file");
    let config = write_scrape_config(dir.path(), format!(
            "global:\n  scrape_interval: 1s\n  external_labels: {{dc: test}}\nrule_files: []\nscrape_configs:\n\
             - job_name: app\n  basic_auth: {{username: scraper, password_file: password}}\n  static_configs:\n  - targets: ['{addr}']\n    labels: {{env: e2e}}\n  - targets: ['dropped.example:1']\n  relabel_configs:\n  - {{source_labels: [__address__], regex: 'dropped.*', action: drop}}\n  metric_relabel_configs:\n  - {{source_labels: [__name__], regex: drop_me, action: drop}}\n\
             - job_name: down\n  scrape_timeout: 500ms\n  static_configs:\n  - targets: ['127.0.0.1:{down_port}']\n\
             - job_name: filesd\n  file_sd_configs:\n  - files: ['*.json']\n",
            addr = exporter.address()
        ));
    let server = Server::start(&config);

    let ups = poll_query(&server, "up", "every job's up", WAIT, |r| {
        let mut ups: Vec<(String, String)> = r.iter().map(|s| (s["metric"]["job"].as_str().unwrap_or("").to_string(), s["value"][1].as_str().unwrap_or("").to_string())).collect();
        ups.sort();
        (ups.len() == 3).then_some(ups)
    });
    assert_eq!(ups, vec![("app".into(), "1".into()), ("down".into(), "0".into()), ("filesd".into(), "1".into())]);

    let requests = poll_query(&server, "app_requests_total", "the scraped counter of both jobs", WAIT, |r| (r.len() == 2).then(|| r.to_vec()));
    let mut labels: Vec<serde_json::Value> = requests.iter().map(|s| s["metric"].clone()).collect();
    labels.sort_by_key(|l| l["job"].as_str().unwrap_or("").to_string());
    let instance = exporter.address();
    assert_eq!(
        labels,
        vec![
            json!({"__name__": "app_requests_total", "dc": "test", "env": "e2e", "exported_job": "inner", "instance": instance, "job": "app", "path": "/a"}),
            json!({"__name__": "app_requests_total", "dc": "test", "exported_job": "inner", "instance": instance, "job": "filesd", "path": "/a", "team": "x"}),
        ]
    );
    assert!(requests.iter().all(|s| s["value"][1] == "7"), "{requests:?}");
    assert_eq!(poll_query(&server, "count(drop_me{job=\"app\"})", "the relabeled-away series staying away", WAIT, |r| Some(r.len())), 0);
    // Three samples exposed, two kept after metric relabeling.
    poll_query(&server, "scrape_samples_post_metric_relabeling{job=\"app\"}", "two samples kept of app's three", WAIT, |r| (value_of(r).as_deref() == Some("2")).then_some(()));
    poll_query(&server, "scrape_samples_scraped{job=\"app\"}", "three samples scraped from app", WAIT, |r| (value_of(r).as_deref() == Some("3")).then_some(()));

    // The exposition's TYPE and HELP answer /api/v1/metadata.
    let (status, metadata) = get_json(&server.url("/api/v1/metadata?metric=app_requests_total"));
    assert_eq!((status, &metadata["data"]), (200, &json!({"app_requests_total": [{"type": "counter", "help": "Requests.", "unit": ""}]})), "{metadata}");

    // The exporter saw basic auth, the text format asked for and the timeout.
    let heads = exporter.request_heads();
    let authorized = heads.iter().filter(|h| h.contains("Authorization: Basic c2NyYXBlcjpzM2NyZXQ=")).count();
    assert!(authorized > 0, "{heads:?}");
    assert!(heads.iter().all(|h| h.starts_with("GET /metrics HTTP/1.1") && h.contains("text/plain;version=0.0.4") && h.contains("X-Prometheus-Scrape-Timeout-Seconds: ")), "{heads:?}");

    // /api/v1/targets: three active, health and last error, the dropped one.
    // Polled: a target's status is set after its scrape is stored.
    let targets = poll_targets(&server, WAIT, |t| {
        let active = t["data"]["activeTargets"].as_array()?;
        (active.len() == 3 && active.iter().all(|a| a["health"] != "unknown")).then_some(())
    });
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    assert_eq!(active.len(), 3, "{targets}");
    let down = active.iter().find(|t| t["scrapePool"] == "down").expect("the down target");
    assert_eq!(down["health"], "down", "{down}");
    assert!(down["lastError"].as_str().unwrap_or("").contains(&format!("127.0.0.1:{down_port}")), "{down}");
    assert_eq!(down["scrapeUrl"], format!("http://127.0.0.1:{down_port}/metrics"));
    let app = active.iter().find(|t| t["scrapePool"] == "app").expect("the app target");
    assert_eq!((app["health"].as_str(), app["lastError"].as_str()), (Some("up"), Some("")), "{app}");
    assert_eq!(app["labels"], json!({"env": "e2e", "instance": instance, "job": "app"}));
    assert_eq!(app["discoveredLabels"]["__scrape_interval__"], "1s");
    assert_eq!(
        targets["data"]["droppedTargets"],
        json!([{"discoveredLabels": {"__address__": "dropped.example:1", "__metrics_path__": "/metrics", "__scheme__": "http", "__scrape_interval__": "1s", "__scrape_timeout__": "1s",
            "__always_scrape_classic_histograms__": "false", "__convert_classic_histograms_to_nhcb__": "false", "__scrape_native_histograms__": "false", "job": "app"}, "scrapePool": "app"}])
    );
    assert_eq!(targets["data"]["droppedTargetCounts"], json!({"app": 1, "down": 0, "filesd": 0}));
    let (status, pools) = get_json(&server.url("/api/v1/scrape_pools"));
    assert_eq!((status, &pools["data"]), (200, &json!({"scrapePools": ["app", "down", "filesd"]})));
    let (status, only_dropped) = get_json(&server.url("/api/v1/targets?state=dropped&scrapePool=app"));
    assert_eq!((status, only_dropped["data"]["activeTargets"].as_array().map(Vec::len)), (200, Some(0)));
    // As Prometheus: the state in any case; another state lists nothing.
    let (_, active_only) = get_json(&server.url("/api/v1/targets?state=Active"));
    assert_eq!((active_only["data"]["activeTargets"].as_array().map(Vec::len), active_only["data"]["droppedTargets"].as_array().map(Vec::len)), (Some(3), Some(0)));
    let (status, none) = get_json(&server.url("/api/v1/targets?state=sleeping"));
    assert_eq!((status, none["data"]["activeTargets"].as_array().map(Vec::len)), (200, Some(0)));

    // A series gone from the exposition is stale at the next scrape: no longer returned,
    // though its samples are kept.
    exporter.set_body("app_requests_total{path=\"/a\",job=\"inner\"} 9\n");
    poll_query(&server, "app_temperature", "app_temperature marked stale", WAIT, |r| r.is_empty().then_some(()));
    let (_, kept) = get_json(&server.url("/api/v1/query?query=count_over_time(app_temperature%5B5m%5D)"));
    assert!(kept["data"]["result"][0]["value"][1].as_str().is_some_and(|n| n != "0"), "{kept}");

    // The file_sd target removed: its series and its up are stale within the file check.
    std::fs::write(dir.path().join("targets.json"), "[]").expect("targets file");
    poll_query(&server, "up{job=\"filesd\"}", "the removed target's up marked stale", WAIT, |r| r.is_empty().then_some(()));
    poll_query(&server, "app_requests_total{job=\"filesd\"}", "the removed target's series marked stale", WAIT, |r| r.is_empty().then_some(()));
    poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 2));
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn a_bad_scrape_config_refuses_to_start_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scrape_file = dir.path().join("prometheus.yml");
    std::fs::write(&scrape_file, "scrape_configs:\n- job_name: k8s\n  nonexistent_sd_configs: [{server: s}]\n").expect("scrape config");
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let error = start_refused(&config);
    assert!(error.contains("scrape.config_file") && error.contains("nonexistent_sd_configs") && error.contains("k8s"), "{error}");
    std::fs::write(&scrape_file, "scrape_configs: [{job_name: a, static_configs: [{targets: [x]}]}, {job_name: a}]\n").expect("scrape config");
    let error = start_refused(&config);
    assert!(error.contains("used twice"), "{error}");
    // A resolver file that cannot be read is named at start.
    std::fs::write(&scrape_file, "scrape_configs: []\n").expect("scrape config");
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("  resolv_conf: /nonexistent/resolv.conf\n");
    std::fs::write(&config, text).expect("config");
    let error = start_refused(&config);
    assert!(error.contains("scrape.resolv_conf") && error.contains("/nonexistent/resolv.conf"), "{error}");
}

/// Polls until exactly the jobs `want` (sorted) have a target up.
fn wait_for_jobs_up(server: &Server, want: &[&str]) {
    poll_query(server, "up == 1", &format!("exactly the jobs {want:?} up"), WAIT, |r| {
        let mut jobs: Vec<&str> = r.iter().filter_map(|s| s["metric"]["job"].as_str()).collect();
        jobs.sort();
        (jobs == want).then_some(())
    })
}

#[test]
fn a_reload_replaces_the_jobs_and_a_bad_file_keeps_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("reload_probe 1\n");
    let scrape_file = dir.path().join("prometheus.yml");
    let job = |name: &str| format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: {name}\n  static_configs: [{{targets: ['{}']}}]\n", exporter.address());
    std::fs::write(&scrape_file, job("first")).expect("scrape config");
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);
    let jobs_up = |want: &[&str]| wait_for_jobs_up(&server, want);
    jobs_up(&["first"]);

    // POST /-/reload: the new job starts, the old one's series are marked stale.
    std::fs::write(&scrape_file, job("second")).expect("scrape config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    jobs_up(&["second"]);
    poll_query(&server, "reload_probe{job=\"first\"}", "the first job's series marked stale", WAIT, |r| r.is_empty().then_some(()));

    // A mistake is a 400 naming it; the jobs in force go on.
    std::fs::write(&scrape_file, "scrape_configs: [{job_name: third, nonexistent_sd_configs: []}]\n").expect("scrape config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains("nonexistent_sd_configs"), "{}", reply.body);
    // Still scraped past the executors' next check for a new configuration (5 s).
    let refused_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    poll_query(&server, "timestamp(up{job=\"second\"} == 1)", "the second job still scraped 6 s after the refused reload", WAIT, |r| {
        r.first().and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok()).filter(|t| *t > refused_at + 6.0).map(|_| ())
    });
    jobs_up(&["second"]);

    // SIGHUP reloads too.
    std::fs::write(&scrape_file, job("fourth")).expect("scrape config");
    server.signal(libc::SIGHUP);
    jobs_up(&["fourth"]);
    assert!(server.stop(), "clean shutdown");
}

/// `scrape.config_check_interval_seconds`: a changed configuration (or a file its
/// `scrape_config_files` name) is reloaded without SIGHUP or `/-/reload`; a broken one
/// keeps the jobs in force, raises the reload-failed notification, and is read again until
/// it is mended.
#[test]
fn changed_configuration_files_are_reloaded_on_their_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("auto_reload_probe 1\n");
    let scrape_file = dir.path().join("prometheus.yml");
    let job = |name: &str| format!("global: {{scrape_interval: 1s}}\nscrape_config_files: [jobs/*.yml]\nscrape_configs:\n- job_name: {name}\n  static_configs: [{{targets: ['{}']}}]\n", exporter.address());
    std::fs::create_dir(dir.path().join("jobs")).expect("jobs dir");
    std::fs::write(&scrape_file, job("first")).expect("scrape config");
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str("  config_check_interval_seconds: 1\n");
    std::fs::write(&config, text).expect("config");
    let server = Server::start(&config);
    let jobs_up = |want: &[&str]| wait_for_jobs_up(&server, want);
    jobs_up(&["first"]);
    std::fs::write(&scrape_file, job("second")).expect("scrape config");
    jobs_up(&["second"]);
    // A file named by scrape_config_files appearing is a change too.
    std::fs::write(dir.path().join("jobs/extra.yml"), format!("scrape_configs:\n- job_name: extra\n  static_configs: [{{targets: ['{}']}}]\n", exporter.address())).expect("jobs file");
    jobs_up(&["extra", "second"]);
    // A mistake keeps the jobs in force and is told as a notification until mended.
    std::fs::write(&scrape_file, "scrape_configs: [{job_name: third, nonexistent_sd_configs: []}]\n").expect("scrape config");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (_, body) = get_json(&server.url("/api/v1/notifications"));
        if body["data"].as_array().is_some_and(|n| n.iter().any(|n| n["text"].as_str().is_some_and(|t| t.contains("configuration")) && n["active"] == true)) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the failed reload notified within {WAIT:?}: {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    jobs_up(&["extra", "second"]);
    std::fs::write(&scrape_file, job("fourth")).expect("scrape config");
    jobs_up(&["extra", "fourth"]);
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn http_sd_targets_are_found_and_redirects_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("sd_probe 1\n");
    exporter.route("/old", 302, &["Location: /metrics"], "");
    let sd = Exporter::start("");
    let json = ["Content-Type: application/json"];
    sd.route("/targets", 200, &json, &json!([{"targets": [exporter.address()], "labels": {"team": "sd"}}]).to_string());
    sd.route("/moved", 301, &[&format!("Location: http://{}/targets", sd.address())], "");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: httpsd\n  metrics_path: /old\n  http_sd_configs: [{{url: 'http://{sd}/moved', refresh_interval: 1s}}]\n\
             - job_name: noredirect\n  metrics_path: /old\n  follow_redirects: false\n  static_configs: [{{targets: ['{addr}']}}]\n",
            sd = sd.address(),
            addr = exporter.address()
        ));
    let server = Server::start(&config);

    // The target the SD URL names (reached through its redirect) is scraped through the
    // exporter's redirect; the job that does not follow redirects is down, naming the 302.
    let probe = poll_query(&server, "sd_probe", "the http_sd target scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "sd_probe", "instance": exporter.address(), "job": "httpsd", "team": "sd"}));
    let targets = poll_targets(&server, WAIT, |t| {
        let active = t["data"]["activeTargets"].as_array()?;
        (active.len() == 2 && active.iter().all(|a| a["health"] != "unknown")).then_some(())
    });
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    let found = active.iter().find(|t| t["scrapePool"] == "httpsd").expect("the http_sd target");
    assert_eq!(found["discoveredLabels"]["__meta_url"], format!("http://{}/moved", sd.address()), "{found}");
    assert_eq!(found["health"], "up", "{found}");
    let refused = active.iter().find(|t| t["scrapePool"] == "noredirect").expect("the target not redirected");
    assert_eq!(refused["health"], "down", "{refused}");
    assert!(refused["lastError"].as_str().unwrap_or("").contains("302"), "{refused}");
    let heads = sd.request_heads();
    assert!(heads.iter().any(|h| h.starts_with("GET /targets ") && h.contains("Accept: application/json") && h.contains("X-Prometheus-Refresh-Interval-Seconds: 1")), "{heads:?}");

    // A label only discovery sets (a `__meta_` one, gone after relabeling) changes: the
    // same target, still scraped by its loop (so still up, not unknown as a new one would
    // be), is listed with its new discovered labels, as Prometheus does.
    sd.route("/targets", 200, &json, &json!([{"targets": [exporter.address()], "labels": {"team": "sd", "__meta_zone": "b"}}]).to_string());
    let targets = poll_targets(&server, WAIT, |t| {
        let found = t["data"]["activeTargets"].as_array()?.iter().find(|t| t["scrapePool"] == "httpsd")?;
        (found["discoveredLabels"]["__meta_zone"] == "b").then_some(())
    });
    let found = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["scrapePool"] == "httpsd")).cloned().unwrap_or_default();
    assert_eq!(found["health"], "up", "{found}");
    assert_eq!(found["labels"], json!({"instance": exporter.address(), "job": "httpsd", "team": "sd"}), "{found}");

    // A bad answer keeps the last good targets: three more requests later the target is
    // still there and scraped.
    sd.route("/targets", 200, &["Content-Type: text/plain"], "[]");
    let asked = sd.request_heads().len();
    let deadline = std::time::Instant::now() + WAIT;
    while sd.request_heads().len() < asked + 3 {
        assert!(std::time::Instant::now() < deadline, "the SD URL was not asked again");
        std::thread::sleep(Duration::from_millis(100));
    }
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    poll_query(&server, "timestamp(up{job=\"httpsd\"} == 1)", "the http_sd target still scraped after bad answers", WAIT, |r| {
        r.first().and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok()).filter(|t| *t > since).map(|_| ())
    });

    // An empty list removes it: its series are marked stale.
    sd.route("/targets", 200, &json, "[]");
    poll_query(&server, "up{job=\"httpsd\"}", "the target the SD URL no longer names marked stale", WAIT, |r| r.is_empty().then_some(()));
    poll_query(&server, "sd_probe", "its series marked stale", WAIT, |r| r.is_empty().then_some(()));
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn a_reload_changing_only_the_interval_keeps_the_series_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("interval_probe 1\n");
    let scrape_file = dir.path().join("prometheus.yml");
    let job = |interval: &str| format!("scrape_configs:\n- job_name: steady\n  scrape_interval: {interval}\n  static_configs: [{{targets: ['{}']}}]\n", exporter.address());
    std::fs::write(&scrape_file, job("1s")).expect("scrape config");
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);
    poll_query(&server, "interval_probe", "the first scrape", WAIT, |r| (r.len() == 1).then_some(()));
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let reloaded_at = now();
    std::fs::write(&scrape_file, job("3s")).expect("scrape config");
    let reply = post_plain(&server.url("/-/reload"), "text/plain", b"");
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The target is new (its interval is part of its identity), but its labels are the same:
    // the new loop takes the old one's series, so no staleness marker ends them. Wait until
    // the new loop has scraped twice, then read the series at every 100 ms since the
    // reload: it never disappears.
    let new_loop_scrape = || {
        let targets = poll_targets(&server, WAIT, |t| {
            let target = t["data"]["activeTargets"].as_array()?.first()?;
            (target["discoveredLabels"]["__scrape_interval__"] == "3s" && target["health"] == "up").then_some(())
        });
        targets["data"]["activeTargets"][0]["lastScrape"].as_str().unwrap_or("").to_string()
    };
    let first = new_loop_scrape();
    let deadline = std::time::Instant::now() + WAIT;
    while new_loop_scrape() == first {
        assert!(std::time::Instant::now() < deadline, "the new loop did not scrape again");
        std::thread::sleep(Duration::from_millis(100));
    }
    let end = now();
    let (status, body) = get_json(&server.url(&format!("/api/v1/query_range?query=interval_probe&start={reloaded_at:.3}&end={end:.3}&step=0.1")));
    assert_eq!(status, 200, "{body}");
    let points = body["data"]["result"][0]["values"].as_array().map_or(0, Vec::len);
    let expected = ((end - reloaded_at) / 0.1).floor() as usize + 1;
    assert!(points + 1 >= expected, "the series was missing at {} of {expected} steps after the reload (a staleness marker): {body}", expected - points);
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn dns_sd_targets_are_found_through_the_configured_resolver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("dns_probe 1\n");
    let dns = FakeDns::start();
    dns.set("_metrics._tcp.test.", vec![FakeRecord::Srv { target: "127.0.0.1.".into(), port: exporter.port }]);
    dns.set("exporter.test.", vec![FakeRecord::A(std::net::Ipv4Addr::LOCALHOST)]);
    let resolv_conf = dir.path().join("resolv.conf");
    std::fs::write(&resolv_conf, format!("# the test's own server\nnameserver 127.0.0.1:{}\noptions timeout:1 attempts:1\n", dns.port)).expect("resolv.conf");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: srv\n  dns_sd_configs: [{{names: ['_metrics._tcp.test'], refresh_interval: 1s}}]\n\
             - job_name: a\n  dns_sd_configs: [{{names: ['exporter.test'], type: A, port: {port}, refresh_interval: 1s}}]\n",
            port = exporter.port
        ));
    let mut text = std::fs::read_to_string(&config).expect("config");
    text.push_str(&format!("  resolv_conf: {}\n", resolv_conf.display()));
    std::fs::write(&config, text).expect("config");
    let server = Server::start(&config);

    // Both names found: the SRV record's target and port, the A record's address at the
    // configured port; both are the exporter.
    let jobs = poll_query(&server, "dns_probe", "both dns_sd targets scraped", WAIT, |r| {
        let mut jobs: Vec<(String, String)> = r.iter().map(|s| (s["metric"]["job"].as_str().unwrap_or("").to_string(), s["metric"]["instance"].as_str().unwrap_or("").to_string())).collect();
        jobs.sort();
        (jobs.len() == 2).then_some(jobs)
    });
    assert_eq!(jobs, vec![("a".to_string(), exporter.address()), ("srv".to_string(), exporter.address())]);
    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 2));
    let srv = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["scrapePool"] == "srv").cloned()).expect("the SRV target");
    assert_eq!(srv["discoveredLabels"]["__meta_dns_name"], "_metrics._tcp.test", "{srv}");
    assert_eq!(srv["discoveredLabels"]["__meta_dns_srv_record_target"], "127.0.0.1.", "{srv}");
    assert_eq!(srv["discoveredLabels"]["__meta_dns_srv_record_port"], exporter.port.to_string(), "{srv}");

    // The SRV name without records now: its target goes, its series are marked stale; the
    // A target stays.
    dns.set("_metrics._tcp.test.", Vec::new());
    poll_query(&server, "dns_probe", "only the A target left", WAIT, |r| (r.len() == 1 && r[0]["metric"]["job"] == "a").then_some(()));
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn target_label_and_dropped_limits_apply_as_in_prometheus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("short 1\n");
    exporter.route("/long", 200, &["Content-Type: text/plain; version=0.0.4"], "l{v=\"abcdefghijklmnopqrst\"} 1\n");
    std::fs::write(dir.path().join("tenant_file"), "tenant2\n").expect("header file");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s, label_value_length_limit: 16, scrape_failure_log_file: failures.log}}\nscrape_configs:\n\
             - job_name: limited\n  target_limit: 1\n  static_configs: [{{targets: ['127.0.0.1:1', '127.0.0.1:2']}}]\n\
             - job_name: dropping\n  keep_dropped_targets: 1\n  static_configs: [{{targets: ['{addr}', 'x:1', 'y:1', 'z:1']}}]\n  relabel_configs: [{{source_labels: [__address__], regex: '[xyz]:1', action: drop}}]\n\
             - job_name: long\n  metrics_path: /long\n  scrape_failure_log_file: long_failures.log\n  enable_compression: false\n  http_headers: {{X-Scope-OrgID: {{values: [tenant1], files: [tenant_file]}}}}\n  static_configs: [{{targets: ['{addr}']}}]\n",
            addr = exporter.address()
        ));
    let server = Server::start(&config);
    let targets = poll_targets(&server, WAIT, |t| {
        let active = t["data"]["activeTargets"].as_array()?;
        (active.len() == 4 && active.iter().all(|a| a["health"] != "unknown")).then_some(())
    });
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    // Two targets over a limit of one: both fail without being asked.
    for target in active.iter().filter(|t| t["scrapePool"] == "limited") {
        assert_eq!((target["health"].as_str(), target["lastError"].as_str()), (Some("down"), Some("target_limit exceeded (number of targets: 2, limit: 1)")), "{target}");
    }
    // A value longer than the global label_value_length_limit (16: the target's own
    // `instance` is at most 15 long) fails the scrape.
    let long = active.iter().find(|t| t["scrapePool"] == "long").expect("the long job's target");
    assert_eq!(long["health"], "down", "{long}");
    assert!(long["lastError"].as_str().unwrap_or("").starts_with("label_value_length_limit exceeded (metric: l, label name: v, value: \"abcdefghijklmnopqrst\", length: 20, limit: 16)"), "{long}");
    assert_eq!(active.iter().find(|t| t["scrapePool"] == "dropping").map(|t| t["health"].clone()), Some(json!("up")));
    // Three dropped, one listed.
    assert_eq!(targets["data"]["droppedTargetCounts"]["dropping"], 3, "{targets}");
    assert_eq!(targets["data"]["droppedTargets"].as_array().map(|d| d.iter().filter(|t| t["scrapePool"] == "dropping").count()), Some(1), "{targets}");
    // enable_compression: false asks for no compression.
    let heads = exporter.request_heads();
    assert!(heads.iter().any(|h| h.starts_with("GET /long ") && h.contains("Accept-Encoding: identity")), "{heads:?}");
    // http_headers: the value and the file's (trimmed), both sent.
    assert!(heads.iter().any(|h| h.starts_with("GET /long ") && h.contains("X-Scope-OrgID: tenant1\r\n") && h.contains("X-Scope-OrgID: tenant2\r\n")), "{heads:?}");
    assert!(heads.iter().any(|h| h.starts_with("GET /metrics ") && h.contains("Accept-Encoding: gzip")), "{heads:?}");
    poll_query(&server, "up{job=\"limited\"} == 0", "both limited targets down", WAIT, |r| (r.len() == 2).then_some(()));
    // scrape_failure_log_file: a JSON line per failed scrape, the global file for the jobs
    // without their own, relative names from the configuration's directory.
    let read_lines = |name: &str| -> Vec<serde_json::Value> { std::fs::read_to_string(dir.path().join(name)).unwrap_or_default().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect() };
    let limited_failure = |f: &serde_json::Value| f["target"] == "http://127.0.0.1:1/metrics" && f["msg"] == "target_limit exceeded (number of targets: 2, limit: 1)" && f["level"] == "ERROR" && f["time"].as_str().is_some_and(|t| t.ends_with('Z'));
    let deadline = std::time::Instant::now() + WAIT;
    while !read_lines("failures.log").iter().any(limited_failure) || read_lines("long_failures.log").is_empty() {
        assert!(std::time::Instant::now() < deadline, "failures logged within {WAIT:?}: {:?} {:?}", read_lines("failures.log"), read_lines("long_failures.log"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let failures = read_lines("failures.log");
    assert!(failures.iter().all(|f| !f["target"].as_str().unwrap_or("").ends_with("/long")), "the long job has its own file: {failures:?}");
    let long_failures = read_lines("long_failures.log");
    assert!(!long_failures.is_empty() && long_failures.iter().all(|f| f["target"] == format!("http://{}/long", exporter.address()) && f["msg"].as_str().is_some_and(|m| m.starts_with("label_value_length_limit exceeded"))), "{long_failures:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn consul_sd_targets_come_from_the_catalog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("consul_probe 1\n");
    let consul = Exporter::start("");
    let json = ["Content-Type: application/json"];
    consul.route("/v1/agent/self", 200, &json, r#"{"Config": {"Datacenter": "dc1"}}"#);
    // As Consul, every answer carries the index blocking queries wait on.
    consul.route("/v1/catalog/services?dc=dc1&stale=", 200, &["Content-Type: application/json", "X-Consul-Index: 5"], r#"{"consul": [], "web": ["prod", "metrics"], "db": ["prod"]}"#);
    let instance = |id: &str| json!([{"Node": {"Node": "n1", "Address": "127.0.0.1", "Meta": {"rack": "r1"}}, "Service": {"ID": id, "Service": "web", "Tags": ["prod", "metrics"], "Address": "", "Port": exporter.port}, "Checks": [{"CheckID": "serfHealth", "Status": "passing"}]}]).to_string();
    consul.route("/v1/health/service/web?dc=dc1&stale=&tag=metrics", 200, &["Content-Type: application/json", "X-Consul-Index: 7"], &instance("web-1"));
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: consul\n  consul_sd_configs: [{{server: '{server}', token: secret-token, tags: [metrics], refresh_interval: 1s}}]\n  relabel_configs:\n  - {{source_labels: [__meta_consul_service], target_label: service}}\n  - {{source_labels: [__meta_consul_metadata_rack], target_label: rack}}\n",
            server = consul.address()
        ));
    let server = Server::start(&config);

    // Only `web` has the `metrics` tag: its one instance (at the node's address, as the
    // service has none) is scraped with the relabeled Consul labels.
    let probe = poll_query(&server, "consul_probe", "the Consul target scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "consul_probe", "instance": exporter.address(), "job": "consul", "rack": "r1", "service": "web"}));
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 1).then_some(()));
    let discovered = &targets["data"]["activeTargets"][0]["discoveredLabels"];
    assert_eq!((discovered["__meta_consul_dc"].as_str(), discovered["__meta_consul_health"].as_str(), discovered["__meta_consul_tags"].as_str()), (Some("dc1"), Some("passing"), Some(",prod,metrics,")), "{discovered}");
    let heads = consul.request_heads();
    assert!(heads.iter().all(|h| h.contains("X-Consul-Token: secret-token")), "{heads:?}");
    assert!(!heads.iter().any(|h| h.contains("/v1/health/service/db")), "db lacks the tag: {heads:?}");
    // After the first answer (and a refresh interval), the catalog and the service are
    // asked with blocking queries from the index Consul gave.
    let deadline = std::time::Instant::now() + WAIT;
    let blocking = ["GET /v1/catalog/services?dc=dc1&stale=&index=5&wait=120000ms ", "GET /v1/health/service/web?dc=dc1&stale=&tag=metrics&index=7&wait=120000ms "];
    while !blocking.iter().all(|b| consul.request_heads().iter().any(|h| h.starts_with(b))) {
        assert!(std::time::Instant::now() < deadline, "blocking queries within {WAIT:?}: {:?}", consul.request_heads());
        std::thread::sleep(Duration::from_millis(100));
    }

    // The service gone from the catalog: its target goes and its series are marked stale.
    consul.route("/v1/catalog/services?dc=dc1&stale=", 200, &["Content-Type: application/json", "X-Consul-Index: 6"], r#"{"consul": [], "db": ["prod"]}"#);
    poll_query(&server, "consul_probe", "the removed service's series marked stale", WAIT, |r| r.is_empty().then_some(()));
    // Its watch ended with it: while the catalog is asked three more times (once a second),
    // the service is asked at most once more (a request already on its way).
    let count = |what: &str| consul.request_heads().iter().filter(|h| h.contains(what)).count();
    let (catalog_before, web_before) = (count("/v1/catalog/services"), count("/v1/health/service/web"));
    let deadline = std::time::Instant::now() + WAIT;
    while count("/v1/catalog/services") < catalog_before + 3 {
        assert!(std::time::Instant::now() < deadline, "the catalog asked again within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(count("/v1/health/service/web") <= web_before + 1, "the removed service is still watched: {:?}", consul.request_heads());
    assert!(server.stop(), "clean shutdown");
}

/// A pod as the API server gives it: `name` in `default`, one container exposing `port`.
fn kubernetes_pod(name: &str, port: u16) -> serde_json::Value {
    json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": {"app": "web"}, "annotations": {"prometheus.io/scrape": "true"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"podIP": "127.0.0.1", "hostIP": "10.0.0.1", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

/// Polls `what` on the fake API server until it holds.
fn wait_for_kubernetes(kubernetes: &FakeKubernetes, what: &str, done: impl Fn(&FakeKubernetes) -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !done(kubernetes) {
        assert!(std::time::Instant::now() < deadline, "{what} within {WAIT:?}: {:?}", kubernetes.request_heads());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kubernetes_sd_follows_pods_by_list_and_watch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (first, second) = (Exporter::start("k8s_probe 1\n"), Exporter::start("k8s_probe 2\n"));
    let kubernetes = FakeKubernetes::start();
    // One object per list page: the list is read through its continue tokens.
    kubernetes.set_page_size(1);
    kubernetes.apply("/api/v1/pods", "ADDED", kubernetes_pod("web-1", first.port));
    let mut idle = kubernetes_pod("idle", second.port);
    idle["metadata"]["annotations"]["prometheus.io/scrape"] = json!("false");
    kubernetes.apply("/api/v1/pods", "ADDED", idle);
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: pods\n  kubernetes_sd_configs: [{{role: pod, api_server: '{api}', bearer_token: k8s-token, selectors: [{{role: pod, label: 'app=web'}}]}}]\n  relabel_configs:\n  - {{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], regex: 'true', action: keep}}\n  - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}\n  - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}\n",
            api = kubernetes.url()
        ));
    let server = Server::start(&config);

    // The listed pod's container port is scraped, labeled from the pod; the other is dropped.
    let probe = poll_query(&server, "k8s_probe", "the listed pod scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "k8s_probe", "instance": first.address(), "job": "pods", "namespace": "default", "pod": "web-1"}));
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 1 && t["data"]["droppedTargets"].as_array()?.len() == 1).then_some(()));
    let discovered = &targets["data"]["activeTargets"][0]["discoveredLabels"];
    let port_text = first.port.to_string();
    assert_eq!(
        (discovered["__meta_kubernetes_pod_container_port_number"].as_str(), discovered["__meta_kubernetes_pod_ready"].as_str(), discovered["__meta_kubernetes_pod_node_name"].as_str(), discovered["__meta_kubernetes_pod_label_app"].as_str()),
        (Some(port_text.as_str()), Some("true"), Some("node-1"), Some("web")),
        "{discovered}"
    );
    assert!(kubernetes.request_heads().iter().any(|h| h.contains("limit=500&continue=1&")), "the second page asked by its token: {:?}", kubernetes.request_heads());

    // A pod added while the watch is open is scraped without another list.
    wait_for_kubernetes(&kubernetes, "a watch opened", |k| k.open_watches() > 0);
    let lists = |k: &FakeKubernetes| k.request_heads().iter().filter(|h| !h.contains("watch=1")).count();
    let lists_before = lists(&kubernetes);
    kubernetes.apply("/api/v1/pods", "ADDED", kubernetes_pod("web-2", second.port));
    poll_query(&server, "k8s_probe", "the watched pod scraped", WAIT, |r| (r.len() == 2).then_some(()));
    assert_eq!(lists(&kubernetes), lists_before, "the new pod came by the watch");

    // A watch the server ends is opened again from the version of the last event (web-2's,
    // the third change), without a list.
    kubernetes.end_watches();
    wait_for_kubernetes(&kubernetes, "a watch reopened from version 3", |k| k.open_watches() > 0 && k.request_heads().iter().any(|h| h.contains("watch=1") && h.contains("resourceVersion=3&")));
    assert_eq!(lists(&kubernetes), lists_before, "a watch that ended is not a reason to list");

    // A pod deleted where no watch sees it, then the watch expired (410): the list that
    // follows finds it gone, and its series are marked stale.
    kubernetes.apply_unwatched("/api/v1/pods", "DELETED", kubernetes_pod("web-1", first.port));
    kubernetes.expire_watches();
    let left = poll_query(&server, "k8s_probe", "the deleted pod's series marked stale after the relist", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"]["pod"].clone()));
    assert_eq!(left, json!("web-2"));

    // A deletion the watch tells.
    wait_for_kubernetes(&kubernetes, "a watch opened after the relist", |k| k.open_watches() > 0);
    kubernetes.apply("/api/v1/pods", "DELETED", kubernetes_pod("web-2", second.port));
    poll_query(&server, "k8s_probe", "the pod deleted by the watch marked stale", WAIT, |r| r.is_empty().then_some(()));

    let heads = kubernetes.request_heads();
    assert!(heads.iter().all(|h| h.contains("Authorization: Bearer k8s-token\r\n")), "{heads:?}");
    assert!(heads.iter().all(|h| h.starts_with("GET /api/v1/pods?") && h.contains("labelSelector=app%3Dweb")), "{heads:?}");
    assert!(heads.iter().any(|h| h.contains("watch=1") && h.contains("resourceVersion=2&") && h.contains("allowWatchBookmarks=true")), "the first watch starts at the list's version: {heads:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn kubernetes_sd_keeps_a_listed_namespace_when_another_is_forbidden() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("k8s_ns_probe 1\n");
    let kubernetes = FakeKubernetes::start();
    let mut pod = kubernetes_pod("web-a", exporter.port);
    pod["metadata"]["namespace"] = json!("a");
    kubernetes.apply("/api/v1/namespaces/a/pods", "ADDED", pod);
    kubernetes.forbid("/api/v1/namespaces/b/pods");
    // c lists, but its watches end at once: asked again with the same back-off, not in a loop.
    kubernetes.end_watches_at_once("/api/v1/namespaces/c/pods");
    let config = write_scrape_config(dir.path(), format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{{role: pod, api_server: '{}', namespaces: {{names: [a, b, c]}}}}]\n", kubernetes.url()));
    let started = std::time::Instant::now();
    let server = Server::start(&config);

    // Namespace a is listed and its pod scraped although b answers 403, as Prometheus'
    // discoverers per namespace publish each on its own.
    poll_query(&server, "k8s_ns_probe", "namespace a's pod scraped", WAIT, |r| (r.len() == 1).then_some(()));
    // b is asked again with a growing back-off (1 s, 2 s, 4 s, ...), not in a loop.
    let elapsed = started.elapsed().as_secs_f64();
    let bound = 2.0 + elapsed.log2().max(0.0) * 2.0;
    let asked_b = kubernetes.request_heads().iter().filter(|h| h.starts_with("GET /api/v1/namespaces/b/pods?")).count();
    assert!(asked_b >= 1 && asked_b as f64 <= bound, "{asked_b} requests for the forbidden namespace in {elapsed:.1} s");
    let watched_c = kubernetes.request_heads().iter().filter(|h| h.starts_with("GET /api/v1/namespaces/c/pods?watch=1")).count();
    assert!(watched_c >= 1 && watched_c as f64 <= bound, "{watched_c} watches of the namespace whose watches end at once in {elapsed:.1} s");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn kubernetes_sd_attaches_namespace_and_deployment_metadata() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("k8s_attach_probe 1\n");
    let kubernetes = FakeKubernetes::start();
    let mut pod = kubernetes_pod("web-7f9c-x2", exporter.port);
    pod["metadata"]["ownerReferences"] = json!([{"kind": "ReplicaSet", "name": "web-7f9c", "uid": "rs-1", "controller": true}]);
    kubernetes.apply("/api/v1/namespaces/default/pods", "ADDED", pod);
    kubernetes.apply("/api/v1/namespaces", "ADDED", json!({"metadata": {"name": "default", "labels": {"team": "shop"}}}));
    kubernetes.apply("/apis/apps/v1/namespaces/default/replicasets", "ADDED", json!({"metadata": {"name": "web-7f9c", "namespace": "default", "ownerReferences": [{"kind": "Deployment", "name": "web", "controller": true}]}}));
    let config = write_scrape_config(dir.path(), format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: pods\n  kubernetes_sd_configs: [{{role: pod, api_server: '{}', namespaces: {{names: [default]}}, selectors: [{{role: pod, label: 'app=web'}}], attach_metadata: {{namespace: true, deployment: true}}}}]\n  relabel_configs:\n  - {{source_labels: [__meta_kubernetes_namespace_label_team], target_label: team}}\n  - {{source_labels: [__meta_kubernetes_pod_deployment_name], target_label: deployment}}\n",
        kubernetes.url()
    ));
    let server = Server::start(&config);

    // The namespace's label and the Deployment behind the pod's ReplicaSet, as Prometheus 3
    // attaches them.
    let probe = poll_query(&server, "k8s_attach_probe", "the pod scraped with its namespace and deployment", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "k8s_attach_probe", "instance": exporter.address(), "job": "pods", "team": "shop", "deployment": "web"}));

    // A namespace relabeled by a watch event relabels the pod's target.
    wait_for_kubernetes(&kubernetes, "the namespaces watched", |k| k.request_heads().iter().any(|h| h.starts_with("GET /api/v1/namespaces?watch=1")));
    kubernetes.apply("/api/v1/namespaces", "MODIFIED", json!({"metadata": {"name": "default", "labels": {"team": "checkout"}}}));
    poll_query(&server, "k8s_attach_probe{team=\"checkout\"}", "the pod scraped with its namespace's new label", WAIT, |r| (r.len() == 1).then_some(()));

    // Namespaces are listed whole (no pod selector), ReplicaSets in the named namespace; Jobs
    // are not asked for without attach_metadata.cronjob.
    let heads = kubernetes.request_heads();
    assert!(heads.iter().any(|h| h.starts_with("GET /api/v1/namespaces?limit=500 ")), "{heads:?}");
    assert!(heads.iter().any(|h| h.starts_with("GET /apis/apps/v1/namespaces/default/replicasets?limit=500 ")), "{heads:?}");
    assert!(heads.iter().all(|h| !h.contains("/jobs")), "{heads:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn kubernetes_sd_reads_a_kubeconfig_and_finds_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let kubelet = Exporter::start("kubelet_probe 1\n");
    let kubernetes = FakeKubernetes::start();
    let node = json!({
        "metadata": {"name": "node-1", "labels": {"kubernetes.io/os": "linux"}},
        "spec": {"providerID": "test:///node-1"},
        "status": {"addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}
    });
    kubernetes.apply("/api/v1/nodes", "ADDED", node);
    // The kubeconfig's current context names the fake API server and a user whose token
    // file sits beside it (a relative name).
    std::fs::write(dir.path().join("token"), "node-reader-token\n").expect("token");
    std::fs::write(
        dir.path().join("kubeconfig"),
        format!("apiVersion: v1\nkind: Config\ncurrent-context: test\ncontexts:\n- name: other\n  context: {{cluster: nowhere, user: nobody}}\n- name: test\n  context: {{cluster: fake, user: reader}}\nclusters:\n- name: fake\n  cluster: {{server: '{api}'}}\nusers:\n- name: reader\n  user: {{tokenFile: token}}\n", api = kubernetes.url()),
    )
    .expect("kubeconfig");
    let config = write_scrape_config(dir.path(), "global: {scrape_interval: 1s}\nscrape_configs:\n- job_name: kubelets\n  kubernetes_sd_configs: [{role: node, kubeconfig_file: kubeconfig}]\n  relabel_configs:\n  - {action: labelmap, regex: __meta_kubernetes_node_label_(.+)}\n");
    let server = Server::start(&config);

    // The node's InternalIP (preferred over its Hostname) at the kubelet port, `instance` set
    // to the node's name as Prometheus sets it, and the node's labels mapped.
    let probe = poll_query(&server, "kubelet_probe", "the node's kubelet scraped", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "kubelet_probe", "instance": "node-1", "job": "kubelets", "kubernetes_io_os": "linux"}));
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 1).then_some(()));
    assert_eq!(targets["data"]["activeTargets"][0]["scrapeUrl"].as_str(), Some(format!("http://{}/metrics", kubelet.address()).as_str()), "{targets}");
    let heads = kubernetes.request_heads();
    assert!(!heads.is_empty() && heads.iter().all(|h| h.starts_with("GET /api/v1/nodes?") && h.contains("Authorization: Bearer node-reader-token\r\n")), "{heads:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn scrapes_and_http_sd_go_through_a_proxy_and_no_proxy_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An HTTP proxy for plain requests answers the absolute-form requests itself: the
    // exporter serves its body at any path it has no route for, and names resolve nowhere
    // here (`.invalid`), so only a proxied request can reach them.
    let proxy = Exporter::start("proxied_probe 1\n");
    proxy.route("http://sd.invalid/targets", 200, &["Content-Type: application/json"], &json!([{"targets": ["exporter.invalid:9100"]}]).to_string());
    let direct = Exporter::start("direct_probe 1\n");
    let dead_proxy = free_port();
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: viaproxy\n  proxy_url: 'http://scraper:pw@{proxy}'\n  http_sd_configs: [{{url: 'http://sd.invalid/targets', refresh_interval: 1s, proxy_url: 'http://{proxy}'}}]\n\
             - job_name: bypassed\n  proxy_url: 'http://127.0.0.1:{dead_proxy}'\n  no_proxy: 'example.com'\n  static_configs: [{{targets: ['{direct}']}}]\n",
            proxy = proxy.address(),
            direct = direct.address()
        ));
    let server = Server::start(&config);

    let probe = poll_query(&server, "proxied_probe", "the target found and scraped through the proxy", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "proxied_probe", "instance": "exporter.invalid:9100", "job": "viaproxy"}));
    let heads = proxy.request_heads();
    assert!(heads.iter().any(|h| h.starts_with("GET http://sd.invalid/targets HTTP/1.1\r\n") && !h.contains("Proxy-Authorization")), "{heads:?}");
    let scrape = heads.iter().find(|h| h.starts_with("GET http://exporter.invalid:9100/metrics HTTP/1.1\r\n")).expect("the scrape in absolute form");
    assert!(scrape.contains("\r\nProxy-Authorization: Basic c2NyYXBlcjpwdw==\r\n") && scrape.contains("\r\nHost: exporter.invalid:9100\r\n"), "{scrape}");
    // With no_proxy set, Go's rules apply: a loopback target is asked directly (the proxy's
    // port has nothing listening).
    poll_query(&server, "direct_probe", "the loopback target scraped without the proxy", WAIT, |r| (r.len() == 1).then_some(()));
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn oauth2_tokens_are_asked_once_and_sent_with_every_scrape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_server = Exporter::start("");
    token_server.route("/oauth/token", 200, &["Content-Type: application/json"], r#"{"access_token":"e2e-token","token_type":"bearer","expires_in":3600}"#);
    let targets: Vec<Exporter> = (0..3).map(|i| Exporter::start(&format!("oauth_probe{{n=\"{i}\"}} 1\n"))).collect();
    let addresses: Vec<String> = targets.iter().map(|t| format!("'{}'", t.address())).collect();
    let scrape_file = dir.path().join("prometheus.yml");
    std::fs::write(dir.path().join("client-secret"), "s3cret\n").expect("secret file");
    std::fs::write(
        &scrape_file,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: oauth\n  oauth2: {{client_id: metricstor, client_secret_file: client-secret, token_url: 'http://{token}/oauth/token', scopes: [metrics.read]}}\n  static_configs: [{{targets: [{targets}]}}]\n",
            token = token_server.address(),
            targets = addresses.join(", ")
        ),
    )
    .expect("scrape config");
    let config = write_config(dir.path(), "");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);

    poll_query(&server, "oauth_probe", "every target scraped with the token", WAIT, |r| (r.len() == 3).then_some(()));
    // Each target is asked at least twice more, always with the token, and the token
    // server only once: the token is shared by the job's targets on every core.
    let deadline = std::time::Instant::now() + WAIT;
    while targets.iter().any(|t| t.request_heads().len() < 3) {
        assert!(std::time::Instant::now() < deadline, "targets not scraped three times");
        std::thread::sleep(Duration::from_millis(100));
    }
    for target in &targets {
        let heads = target.request_heads();
        assert!(heads.iter().all(|h| h.contains("\r\nAuthorization: Bearer e2e-token\r\n")), "{heads:?}");
    }
    let asked = token_server.request_heads();
    assert_eq!(asked.len(), 1, "{asked:?}");
    // base64("metricstor:s3cret")
    assert!(asked[0].starts_with("POST /oauth/token HTTP/1.1\r\n") && asked[0].contains("\r\nAuthorization: Basic bWV0cmljc3RvcjpzM2NyZXQ=\r\n"), "{asked:?}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn a_target_found_twice_is_scraped_once_and_listed_as_last_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("twice_probe 1\n");
    let config = write_scrape_config(dir.path(), format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: twice\n  static_configs:\n  - {{targets: ['{addr}'], labels: {{__meta_n: first}}}}\n  - {{targets: ['{addr}'], labels: {{__meta_n: second}}}}\n", addr = exporter.address()));
    let server = Server::start(&config);
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.first()?["health"] == "up").then_some(()));
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    // One target (the two have the same labels after relabeling), shown with the
    // discovered labels of the last group that found it, as Prometheus shows it.
    assert_eq!(active.len(), 1, "{targets}");
    assert_eq!(active[0]["discoveredLabels"]["__meta_n"], "second", "{targets}");
    let last_scrape = active[0]["lastScrape"].as_str().unwrap_or("");
    assert!(last_scrape.len() > 20 && last_scrape.ends_with('Z') && last_scrape.starts_with("20"), "{last_scrape}");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn an_openmetrics_answer_is_read_as_prometheus_reads_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("");
    let body = "# TYPE om_requests counter\n# HELP om_requests Requests.\nom_requests_total{code=\"200\"} 5 # {trace_id=\"4bf92f\"} 1.0\nom_requests_created{code=\"200\"} 1.7e9\n# TYPE om_build info\nom_build_info{version=\"2.1\"} 1\n# TYPE om_latency_seconds gauge\n# UNIT om_latency_seconds seconds\nom_latency_seconds 0.5\n# EOF\n";
    exporter.route("/metrics", 200, &["Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"], body);
    let broken = Exporter::start("");
    broken.route("/metrics", 200, &["Content-Type: application/openmetrics-text; version=1.0.0"], "om_cut 1\n");
    let config = write_scrape_config(dir.path(), format!("global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: om\n  scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]\n  static_configs: [{{targets: ['{ok}']}}]\n- job_name: cut\n  static_configs: [{{targets: ['{cut}']}}]\n", ok = exporter.address(), cut = broken.address()));
    let server = Server::start(&config);
    let names = poll_query(&server, "{job=\"om\", __name__=~\"om_.*\"}", "the OpenMetrics series", WAIT, |r| {
        let mut names: Vec<String> = r.iter().map(|s| format!("{}={}", s["metric"]["__name__"].as_str().unwrap_or(""), s["value"][1].as_str().unwrap_or(""))).collect();
        names.sort();
        (names.len() == 4).then_some(names)
    });
    assert_eq!(names, vec!["om_build_info=1", "om_latency_seconds=0.5", "om_requests_created=1700000000", "om_requests_total=5"]);
    // The exemplar is stored with the series' final labels, at the scrape's time as it has
    // none of its own (the scrape's `up` written at that time too).
    let stored = poll_exemplars(&server, "om_requests_total", "the OpenMetrics exemplar", |data| {
        let series = data.as_array()?.first()?;
        let at = series["exemplars"][0]["timestamp"].as_f64()?;
        Some((exemplar_lines(data, 1)?, at))
    });
    assert_eq!(stored.0, vec!["{__name__=om_requests_total,code=200,job=om}: {trace_id=4bf92f}=1@".to_string() + &stored.1.to_string()]);
    let up_at = poll_query(&server, &format!("timestamp(up{{job=\"om\"}} @ {})", stored.1), "up at the exemplar's time", WAIT, value_of);
    assert_eq!(up_at.parse::<f64>().ok(), Some(stored.1), "the exemplar has its scrape's time");
    // The job asks for what its scrape_protocols list, as Prometheus makes the header; the
    // other job as Prometheus does by default (OpenMetrics first).
    let asked = exporter.request_heads();
    assert!(asked[0].contains("\r\nAccept: application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4\r\n"), "{asked:?}");
    // Without its `# EOF` the answer is refused, as Prometheus refuses it.
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.iter().find(|a| a["scrapePool"] == "cut")?["health"] == "down").then_some(()));
    let cut = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["scrapePool"] == "cut")).cloned().unwrap_or_default();
    assert_eq!(cut["lastError"], "OpenMetrics: the data does not end with # EOF", "{cut}");
    let asked = broken.request_heads();
    let prometheus_default = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    assert!(asked.first().is_some_and(|h| h.contains(&format!("\r\nAccept: {prometheus_default}\r\n"))), "{asked:?}");
    poll_metadata(&server, "the OpenMetrics metadata", |data| data["om_build"][0]["type"] == "info" && data["om_latency_seconds"][0]["unit"] == "seconds");
    assert!(server.stop(), "clean shutdown");
}

/// `/metrics` counts each job's targets by health, its scrapes and the limits that failed
/// them, and each discovery's requests and failures.
#[test]
fn metrics_count_targets_scrapes_limits_and_discovery_failures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("m_one 1\nm_two 2\n");
    let target = exporter.address();
    // An http_sd URL on a port nothing listens on: every refresh fails.
    let closed = free_port();
    let config = write_scrape_config(dir.path(), format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
         - job_name: fine\n  static_configs: [{{targets: ['{target}']}}]\n\
         - job_name: limited\n  sample_limit: 1\n  static_configs: [{{targets: ['{target}']}}]\n\
         - job_name: lost\n  http_sd_configs: [{{url: 'http://127.0.0.1:{closed}/sd', refresh_interval: 1s}}]\n  relabel_configs: [{{source_labels: [__address__], regex: never, action: keep}}]\n"
    ));
    let server = Server::start(&config);
    let value = |text: &str, series: &str| text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse::<f64>().ok()));
    let deadline = std::time::Instant::now() + WAIT;
    let text = loop {
        let text = agent().get(&server.url("/metrics")).call().map(|r| r.into_string().unwrap_or_default()).unwrap_or_default();
        let done = value(&text, "metricstor_scrapes_total{scrape_job=\"fine\"}").is_some_and(|v| v >= 2.0)
            && value(&text, "metricstor_scrapes_exceeded_limit_total{scrape_job=\"limited\",limit=\"sample_limit\"}").is_some_and(|v| v >= 2.0)
            && value(&text, "metricstor_sd_refresh_failures_total{mechanism=\"http\",config=\"lost\"}").is_some_and(|v| v >= 2.0);
        if done {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "the counts within {WAIT:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(value(&text, "metricstor_scrapes_failed_total{scrape_job=\"fine\"}"), Some(0.0), "{text}");
    assert_eq!(value(&text, "metricstor_scrape_targets{scrape_job=\"fine\",health=\"up\"}"), Some(1.0), "{text}");
    assert_eq!(value(&text, "metricstor_scrape_targets{scrape_job=\"limited\",health=\"down\"}"), Some(1.0), "{text}");
    let limited = value(&text, "metricstor_scrapes_total{scrape_job=\"limited\"}").unwrap_or(0.0);
    let failed = value(&text, "metricstor_scrapes_failed_total{scrape_job=\"limited\"}").unwrap_or(-1.0);
    assert!(failed >= 2.0 && failed <= limited, "{failed} of {limited}: {text}");
    assert_eq!(value(&text, "metricstor_sd_discovered_targets{config=\"fine\"}"), Some(1.0), "{text}");
    assert_eq!(value(&text, "metricstor_sd_discovered_targets{config=\"lost\"}"), Some(0.0), "{text}");
    let requests = value(&text, "metricstor_sd_refreshes_total{mechanism=\"http\",config=\"lost\"}").unwrap_or(0.0);
    let failures = value(&text, "metricstor_sd_refresh_failures_total{mechanism=\"http\",config=\"lost\"}").unwrap_or(-1.0);
    assert_eq!(requests, failures, "every request of the closed port failed: {text}");
    assert!(value(&text, "metricstor_sd_refresh_duration_seconds_count{mechanism=\"http\",config=\"lost\"}").is_some(), "{text}");
    assert!(server.stop(), "clean shutdown");
}

/// `extra_scrape_metrics` writes `scrape_timeout_seconds`, `scrape_sample_limit` and
/// `scrape_body_size_bytes` (the body's size, or -1 for a body over `body_size_limit`, whose
/// scrape fails with Prometheus' words).
#[test]
fn extra_scrape_metrics_report_the_timeout_the_sample_limit_and_the_body_size() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "a 1\nb 2\n";
    let exporter = Exporter::start(body);
    // An OpenMetrics answer without `# EOF`: its scrape fails, its size is still reported.
    exporter.route("/broken", 200, &["Content-Type: application/openmetrics-text; version=1.0.0"], "x 1\n");
    let target = exporter.address();
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s, extra_scrape_metrics: true}}\nscrape_configs:\n\
             - job_name: extra\n  scrape_timeout: 800ms\n  sample_limit: 10\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: small\n  body_size_limit: 4B\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: broken\n  metrics_path: /broken\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: plain\n  extra_scrape_metrics: false\n  static_configs: [{{targets: ['{target}']}}]\n"
        ));
    let server = Server::start(&config);
    let values = poll_query(&server, "{__name__=~\"scrape_timeout_seconds|scrape_sample_limit|scrape_body_size_bytes\"}", "the extra scrape series", WAIT, |r| {
        let mut found: Vec<String> = r.iter().map(|s| format!("{} {}={}", s["metric"]["job"].as_str().unwrap_or(""), s["metric"]["__name__"].as_str().unwrap_or(""), s["value"][1].as_str().unwrap_or(""))).collect();
        found.sort();
        (found.len() == 9).then_some(found)
    });
    let size = body.len();
    assert_eq!(
        values,
        vec![
            "broken scrape_body_size_bytes=4".to_string(),
            "broken scrape_sample_limit=0".to_string(),
            "broken scrape_timeout_seconds=1".to_string(),
            format!("extra scrape_body_size_bytes={size}"),
            "extra scrape_sample_limit=10".to_string(),
            "extra scrape_timeout_seconds=0.8".to_string(),
            "small scrape_body_size_bytes=-1".to_string(),
            "small scrape_sample_limit=0".to_string(),
            "small scrape_timeout_seconds=1".to_string(),
        ]
    );
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.iter().find(|a| a["scrapePool"] == "small")?["health"] == "down").then_some(()));
    let small = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["scrapePool"] == "small")).cloned().unwrap_or_default();
    assert_eq!(small["lastError"], "body size limit exceeded", "{small}");
    // The job that turns them off has the usual five.
    let plain = poll_query(&server, "count({job=\"plain\", __name__=~\"up|scrape_.*\"})", "the plain job's report series", WAIT, value_of);
    assert_eq!(plain, "5");
    assert!(server.stop(), "clean shutdown");
}

/// A protobuf exposition as client_golang writes one: a counter and a histogram with native
/// buckets (schema 0, zero bucket, buckets (1,2] and (2,4]) and classic ones (1, 2, 4).
/// Exemplars at `exemplar_ms`: the counter's, the `le=2` bucket's, and the native
/// histogram's two (`h1` with that time, `h2` without any).
fn protobuf_exposition(with_histogram: bool, exemplar_ms: i64) -> Vec<u8> {
    use prost::Message;
    use proto::client_model::*;
    let label = |name: &str, value: &str| LabelPair { name: name.into(), value: value.into() };
    let time = Some(Timestamp { seconds: exemplar_ms.div_euclid(1000), nanos: (exemplar_ms.rem_euclid(1000) * 1_000_000) as i32 });
    let exemplar = |trace: &str, value: f64, timestamp: Option<Timestamp>| Exemplar { label: vec![label("trace_id", trace)], value, timestamp };
    let counter = MetricFamily {
        name: "pb_requests_total".into(),
        help: "Requests.".into(),
        r#type: MetricType::Counter as i32,
        metric: vec![Metric { label: vec![label("code", "200")], counter: Some(Counter { value: 7.0, exemplar: Some(exemplar("c1", 0.5, time)), created_timestamp: None }), ..Metric::default() }],
        unit: String::new(),
    };
    let bucket = |upper_bound: f64, cumulative_count: u64| Bucket { cumulative_count, upper_bound, ..Bucket::default() };
    let histogram = Histogram {
        sample_count: 4,
        sample_sum: 3.5,
        bucket: vec![bucket(1.0, 1), Bucket { exemplar: Some(exemplar("b2", 1.5, time)), ..bucket(2.0, 3) }, bucket(4.0, 4)],
        exemplars: vec![exemplar("h1", 1.25, time), exemplar("h2", 3.0, None)],
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1,
        positive_span: vec![BucketSpan { offset: 1, length: 2 }],
        positive_delta: vec![2, -1],
        ..Histogram::default()
    };
    let latency = MetricFamily {
        name: "pb_latency_seconds".into(),
        help: "Latency.".into(),
        r#type: MetricType::Histogram as i32,
        metric: vec![Metric { histogram: Some(histogram), ..Metric::default() }],
        unit: String::new(),
    };
    let mut body = Vec::new();
    let families = if with_histogram { vec![counter, latency] } else { vec![counter] };
    for family in families {
        family.encode_length_delimited(&mut body).expect("encode a family");
    }
    body
}

/// A native histogram's count, sum and buckets (`(lower, upper, count)` each), as rendered.
type HistogramShape = (String, String, Vec<(String, String, String)>);

/// The `HistogramShape` of a query result's first series.
fn histogram_summary(result: &[serde_json::Value]) -> Option<HistogramShape> {
    let h = &result.first()?["histogram"][1];
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let buckets = h["buckets"].as_array()?.iter().map(|b| (text(&b[1]), text(&b[2]), text(&b[3]))).collect();
    Some((h["count"].as_str()?.to_string(), h["sum"].as_str()?.to_string(), buckets))
}

#[test]
fn protobuf_answers_give_native_histograms_as_prometheus_takes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("");
    const PROTOBUF: &str = "Content-Type: application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
    let exemplar_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64) - 60_000;
    exporter.route_bytes("/metrics", 200, &[PROTOBUF], &protobuf_exposition(true, exemplar_ms));
    let target = exporter.address();
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: native\n  scrape_native_histograms: true\n  always_scrape_classic_histograms: true\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: classic\n  scrape_protocols: [PrometheusProto, PrometheusText0.0.4]\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: limited\n  scrape_native_histograms: true\n  native_histogram_bucket_limit: 1\n  static_configs: [{{targets: ['{target}']}}]\n"
        ));
    let server = Server::start(&config);

    // Native: the histogram as sent (integer deltas read, zero bucket kept) and its classic
    // series beside it; the counter as a float.
    let native = poll_query(&server, "pb_latency_seconds{job=\"native\"}", "the native histogram", WAIT, histogram_summary);
    let bucket = |lower: &str, upper: &str, count: &str| (lower.to_string(), upper.to_string(), count.to_string());
    let zero_and_two = vec![bucket("-0.001", "0.001", "1"), bucket("1", "2", "2"), bucket("2", "4", "1")];
    assert_eq!(native, ("4".to_string(), "3.5".to_string(), zero_and_two));
    let series_of = |job: &str| {
        poll_query(&server, &format!("{{job=\"{job}\", __name__=~\"pb_.*\"}}"), "the scraped series", WAIT, |r| {
            let mut names: Vec<String> = r.iter().map(|s| format!("{}{}={}", s["metric"]["__name__"].as_str().unwrap_or(""), s["metric"]["le"].as_str().map(|le| format!("{{le={le}}}")).unwrap_or_default(), s["value"][1].as_str().unwrap_or("histogram"))).collect();
            names.sort();
            (names.len() >= 7).then_some(names)
        })
    };
    let classic = ["pb_latency_seconds_bucket{le=+Inf}=4", "pb_latency_seconds_bucket{le=1.0}=1", "pb_latency_seconds_bucket{le=2.0}=3", "pb_latency_seconds_bucket{le=4.0}=4", "pb_latency_seconds_count=4", "pb_latency_seconds_sum=3.5", "pb_requests_total=7"];
    let mut with_native: Vec<String> = classic.iter().map(|s| s.to_string()).collect();
    with_native.push("pb_latency_seconds=histogram".into());
    with_native.sort();
    assert_eq!(series_of("native"), with_native);
    // Without scrape_native_histograms: classic series only.
    assert_eq!(series_of("classic"), classic.to_vec());
    // One bucket allowed: the resolution lowered until (1,2] and (2,4] are one bucket (1,4].
    let limited = poll_query(&server, "pb_latency_seconds{job=\"limited\"}", "the limited histogram", WAIT, histogram_summary);
    assert_eq!(limited, ("4".to_string(), "3.5".to_string(), vec![bucket("-0.001", "0.001", "1"), bucket("1", "4", "3")]));
    let scraped = poll_query(&server, "scrape_samples_scraped{job=\"native\"}", "scrape_samples_scraped", WAIT, |r| r.first().and_then(|s| s["value"][1].as_str().map(String::from)));
    assert_eq!(scraped, "8", "a counter, a native histogram and six classic series");

    // Asked for the protobuf format first once native histograms are on (Prometheus'
    // DefaultProtoFirstScrapeProtocols), else as scrape_protocols says.
    let heads = exporter.request_heads();
    let accept_of = |job_accept: &str| heads.iter().any(|h| h.contains(&format!("\r\nAccept: {job_accept}\r\n")));
    assert!(accept_of("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"), "{heads:?}");
    assert!(accept_of("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,text/plain;version=0.0.4;q=0.5,*/*;q=0.4"), "{heads:?}");

    // Exemplars as Prometheus takes them: the counter's; the native histogram's with a
    // timestamp (`h2` has none); the classic bucket's on its series, in both jobs.
    let at = format!("{}", exemplar_ms as f64 / 1000.0);
    let of = |query: &str, series: usize| poll_exemplars(&server, query, query, |data| exemplar_lines(data, series));
    assert_eq!(of("pb_requests_total", 3), ["classic", "limited", "native"].map(|job| format!("{{__name__=pb_requests_total,code=200,job={job}}}: {{trace_id=c1}}=0.5@{at}")));
    assert_eq!(of("pb_latency_seconds{job=\"native\"}", 1), [format!("{{__name__=pb_latency_seconds,job=native}}: {{trace_id=h1}}=1.25@{at}")]);
    assert_eq!(
        of("pb_latency_seconds_bucket", 2),
        ["classic", "native"].map(|job| format!("{{__name__=pb_latency_seconds_bucket,job={job},le=2.0}}: {{trace_id=b2}}=1.5@{at}"))
    );

    // The families' help and types reach the metadata API.
    poll_metadata(&server, "the protobuf metadata", |data| data["pb_latency_seconds"][0]["type"] == "histogram" && data["pb_requests_total"][0]["help"] == "Requests.");

    // The histogram leaves the answer: its native series goes stale like any other.
    exporter.route_bytes("/metrics", 200, &[PROTOBUF], &protobuf_exposition(false, exemplar_ms));
    poll_query(&server, "pb_latency_seconds or pb_latency_seconds_count", "the histogram series gone stale", WAIT, |r| r.is_empty().then_some(()));
    let counter = poll_query(&server, "pb_requests_total{job=\"native\"}", "the counter", WAIT, value_of);
    assert_eq!(counter, "7");
    assert!(server.stop(), "clean shutdown");
}

#[test]
fn classic_histograms_convert_to_custom_bucket_histograms_when_asked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"0.5\"} 3\nlat_bucket{le=\"+Inf\"} 4\nlat_sum 1.5\nlat_count 4\n# TYPE up_since gauge\nup_since 7\n");
    let target = exporter.address();
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: nhcb\n  convert_classic_histograms_to_nhcb: true\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: classic\n  static_configs: [{{targets: ['{target}']}}]\n\
             - job_name: per_target\n  static_configs: [{{targets: ['{target}'], labels: {{kind: converted}}}}, {{targets: ['{target}'], labels: {{kind: kept}}}}]\n  relabel_configs: [{{source_labels: [kind], regex: converted, target_label: __convert_classic_histograms_to_nhcb__, replacement: 'true'}}]\n"
        ));
    let server = Server::start(&config);
    // Relabeling sets the conversion per target (Prometheus 3.13's internal label): the
    // converted target's histogram is native, the other's stays classic, in one job.
    let per_target = poll_query(&server, "{job=\"per_target\", __name__=~\"lat|lat_bucket\"}", "the per-target choice", WAIT, |r| {
        let mut found: Vec<String> = r.iter().map(|s| format!("{} {}", s["metric"]["kind"].as_str().unwrap_or(""), s["metric"]["__name__"].as_str().unwrap_or(""))).collect();
        found.sort();
        (found.len() == 4).then_some(found)
    });
    assert_eq!(per_target, ["converted lat", "kept lat_bucket", "kept lat_bucket", "kept lat_bucket"]);
    // One native series with custom buckets in place of the five classic ones.
    let count = poll_query(&server, "histogram_count(lat{job=\"nhcb\"})", "the converted histogram", WAIT, value_of);
    assert_eq!(count, "4");
    let sum = poll_query(&server, "histogram_sum(lat{job=\"nhcb\"})", "its sum", WAIT, value_of);
    assert_eq!(sum, "1.5");
    let converted = poll_query(&server, "{job=\"nhcb\", __name__=~\"lat.*|up_since\"}", "the nhcb job's series", WAIT, |r| {
        let mut names: Vec<String> = r.iter().map(|s| s["metric"]["__name__"].as_str().unwrap_or("").to_string()).collect();
        names.sort();
        (names.len() == 2).then_some(names)
    });
    assert_eq!(converted, vec!["lat".to_string(), "up_since".to_string()]);
    // Its quantile is the classic histogram's.
    let native = poll_query(&server, "histogram_quantile(0.5, lat{job=\"nhcb\"})", "the native quantile", WAIT, value_of);
    let classic = poll_query(&server, "histogram_quantile(0.5, lat_bucket{job=\"classic\"})", "the classic quantile", WAIT, value_of);
    assert_eq!(native, classic);
    assert!(native.parse::<f64>().is_ok_and(|q| (q - 0.3).abs() < 1e-12), "{native}");
    assert!(server.stop(), "clean shutdown");
}

/// A Docker daemon's answers for one container on loopback exposing `port`, in network
/// `net-1`: the containers list and the networks list.
fn docker_answers(port: u16, name: &str) -> (String, String) {
    let containers = json!([
        {"Id": format!("{name}-id"), "Names": [format!("/{name}")], "Image": "exporter:1", "Labels": {"com.example.team": "storage"},
         "Ports": [{"IP": "0.0.0.0", "PrivatePort": port, "PublicPort": 0, "Type": "tcp"}, {"PrivatePort": 53, "Type": "udp"}],
         "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-1", "IPAddress": "127.0.0.1"}}}},
        {"Id": "nameless", "Names": [], "HostConfig": {"NetworkMode": "bridge"}, "NetworkSettings": {"Networks": {"bridge": {"NetworkID": "net-1", "IPAddress": "127.0.0.9"}}}}
    ]);
    let networks = json!([{"Name": "bridge", "Id": "net-1", "Scope": "local", "Internal": false, "Ingress": false, "Labels": {"com.docker.network.bridge.default_bridge": "true"}}]);
    (containers.to_string(), networks.to_string())
}

/// A Docker daemon on a Unix socket answering every request on a connection (kept alive);
/// returns the request lines it saw.
fn unix_docker_daemon(path: std::path::PathBuf, containers: String, networks: String) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind the daemon's socket");
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (record, containers, networks) = (record.clone(), containers.clone(), networks.clone());
            std::thread::spawn(move || {
                let Ok(reader) = stream.try_clone() else { return };
                let mut reader = BufReader::new(reader);
                let mut stream = stream;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let path = first.split(' ').nth(1).unwrap_or("").to_string();
                    record.lock().map(|mut r| r.push(path.clone())).ok();
                    let body = if path.starts_with("/containers/json") { &containers } else { &networks };
                    if stream.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    seen
}

#[test]
fn docker_sd_finds_containers_over_http_and_a_unix_socket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let over_http = Exporter::start("docker_probe{via=\"http\"} 1\n");
    let over_socket = Exporter::start("docker_probe{via=\"socket\"} 1\n");
    let daemon = Exporter::start("");
    let (containers, networks) = docker_answers(over_http.port, "web");
    daemon.route("/containers/json", 200, &["Content-Type: application/json"], &containers);
    daemon.route("/networks", 200, &["Content-Type: application/json"], &networks);
    let socket = dir.path().join("docker.sock");
    let (containers, networks) = docker_answers(over_socket.port, "db");
    let seen = unix_docker_daemon(socket.clone(), containers, networks);
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: docker\n  docker_sd_configs:\n  - {{host: 'http://{daemon}', refresh_interval: 1s}}\n  - {{host: 'unix://{socket}', refresh_interval: 1s, filters: [{{name: label, values: ['com.example.team=storage']}}]}}\n  relabel_configs:\n  - {{source_labels: [__meta_docker_container_label_com_example_team], target_label: team}}\n  - {{source_labels: [__meta_docker_container_name], target_label: container}}\n  - {{source_labels: [__meta_docker_network_label_com_docker_network_bridge_default_bridge], target_label: default_bridge}}\n",
            daemon = daemon.address(),
            socket = socket.display()
        ));
    let server = Server::start(&config);
    let found = poll_query(&server, "docker_probe", "both containers found and scraped", WAIT, |r| {
        let mut found: Vec<serde_json::Value> = r.iter().map(|s| s["metric"].clone()).collect();
        found.sort_by_key(|m| m["via"].as_str().unwrap_or("").to_string());
        (found.len() == 2).then_some(found)
    });
    assert_eq!(found[0], json!({"__name__": "docker_probe", "via": "http", "team": "storage", "container": "/web", "default_bridge": "true", "instance": over_http.address(), "job": "docker"}));
    assert_eq!(found[1], json!({"__name__": "docker_probe", "via": "socket", "team": "storage", "container": "/db", "default_bridge": "true", "instance": over_socket.address(), "job": "docker"}));
    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 2));
    let web = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["labels"]["container"] == "/web")).cloned().unwrap_or_default();
    let discovered = &web["discoveredLabels"];
    assert_eq!((discovered["__meta_docker_container_id"].as_str(), discovered["__meta_docker_network_name"].as_str(), discovered["__meta_docker_port_private"].as_str()), (Some("web-id"), Some("bridge"), Some(over_http.port.to_string().as_str())), "{web}");
    let paths = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(paths.iter().any(|p| p == "/containers/json?filters=%7B%22label%22%3A%5B%22com.example.team%3Dstorage%22%5D%7D") && paths.iter().any(|p| p == "/networks"), "{paths:?}");
    assert!(server.stop(), "clean shutdown");
}

/// One request a fake cloud API saw: method, path, headers (names lowercased), body.
struct FakeRequest {
    method: String,
    path: String,
    headers: std::collections::HashMap<String, String>,
    body: String,
}

/// Whether `request` carries a valid Signature Version 4 by `secret` for `service`, checked
/// by signing it again with what it says it signed.
fn aws_signed_by(request: &FakeRequest, secret: &str, service: &str) -> bool {
    use metricstor::scrape::aws::sigv4;
    let Some(authorization) = request.headers.get("authorization") else { return false };
    let Some(credential) = authorization.split("Credential=").nth(1).and_then(|c| c.split(',').next()) else { return false };
    let scope: Vec<&str> = credential.split('/').collect();
    let Some(signed_names) = authorization.split("SignedHeaders=").nth(1).and_then(|c| c.split(',').next()) else { return false };
    // The headers it signed, other than those signing adds.
    let headers: Vec<(String, String)> = signed_names.split(';').filter(|n| !matches!(*n, "host" | "x-amz-date" | "x-amz-security-token")).map(|n| (n.to_string(), request.headers.get(n).cloned().unwrap_or_default())).collect();
    let keys = sigv4::Keys { access_key_id: scope[0].to_string(), secret_access_key: secret.to_string(), session_token: request.headers.get("x-amz-security-token").cloned() };
    let (host, date) = (request.headers.get("host").cloned().unwrap_or_default(), request.headers.get("x-amz-date").cloned().unwrap_or_default());
    let again = sigv4::Request { method: &request.method, host: &host, path: &request.path, query: &[], headers: &headers, body: request.body.as_bytes(), region: scope.get(2).copied().unwrap_or(""), service, amz_date: &date };
    scope.get(3) == Some(&service) && sigv4::sign(&keys, &again).iter().any(|(n, v)| n == "Authorization" && v == authorization)
}

/// A fake cloud API on loopback answering each request (kept-alive connections) with
/// `answer`'s status and body; returns its address and the log lines `answer` gave.
fn fake_cloud(answer: fn(&FakeRequest) -> (u16, String, String)) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a fake cloud API");
    let address = listener.local_addr().expect("address").to_string();
    let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let record = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let record = record.clone();
            std::thread::spawn(move || {
                let Ok(reader) = stream.try_clone() else { return };
                let mut reader = BufReader::new(reader);
                let mut stream = stream;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut headers = std::collections::HashMap::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = line.trim_end().split_once(':') {
                            headers.insert(name.to_ascii_lowercase(), value.trim().to_string());
                        }
                    }
                    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut parts = first.split(' ');
                    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
                    let request = FakeRequest { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() };
                    let (status, answer, line) = answer(&request);
                    record.lock().map(|mut r| r.push(line)).ok();
                    if stream.write_all(format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{answer}", answer.len()).as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (address, log)
}

/// A fake AWS: the instance metadata service (IMDSv2, a role, the region), STS' AssumeRole
/// and EC2's DescribeAvailabilityZones and DescribeInstances (two pages), each checking its
/// signature. Logs "<Action or path> <key ID or ->" lines, "BAD SIGNATURE" where a signature
/// did not check.
fn fake_aws_answer(request: &FakeRequest) -> (u16, String, String) {
    const IMDS_TOKEN: &str = "imds-token-1";
    let form: std::collections::HashMap<String, String> = request.body.split('&').filter_map(|p| p.split_once('=')).map(|(n, v)| (n.to_string(), v.replace("%3A", ":").replace("%2F", "/"))).collect();
    let key_id = request.headers.get("authorization").and_then(|a| a.split("Credential=").nth(1)).and_then(|c| c.split('/').next()).unwrap_or("-").to_string();
    if request.path.starts_with("/latest/") {
        if request.method == "PUT" && request.path == "/latest/api/token" {
            return (200, IMDS_TOKEN.into(), "imds token".into());
        }
        if request.headers.get("x-aws-ec2-metadata-token").map(String::as_str) != Some(IMDS_TOKEN) {
            return (401, String::new(), format!("{} without token", request.path));
        }
        let answer = match request.path.as_str() {
            "/latest/meta-data/placement/region" => "eu-west-3".to_string(),
            "/latest/meta-data/iam/security-credentials/" => "prom-instance\n".to_string(),
            "/latest/meta-data/iam/security-credentials/prom-instance" => json!({"Code": "Success", "AccessKeyId": "ASIAINSTANCE", "SecretAccessKey": "instance-secret", "Token": "instance-token", "Expiration": "2099-01-01T00:00:00Z"}).to_string(),
            _ => return (404, String::new(), format!("{} unknown", request.path)),
        };
        return (200, answer, request.path.clone());
    }
    let action = form.get("Action").cloned().unwrap_or_default();
    let secret = match key_id.as_str() {
        "ASIAINSTANCE" => "instance-secret",
        "ASIAROLE" => "role-secret",
        "AKIDTEAM" => "team-secret",
        _ => "",
    };
    let service = if action == "AssumeRole" { "sts" } else { "ec2" };
    if !aws_signed_by(request, secret, service) {
        return (403, "<Response><Errors><Error><Code>AuthFailure</Code><Message>bad signature</Message></Error></Errors></Response>".into(), format!("{action} {key_id} BAD SIGNATURE"));
    }
    let answer = match action.as_str() {
        "AssumeRole" if form.get("RoleArn").map(String::as_str) == Some("arn:aws:iam::123456789012:role/prom") && form.get("ExternalId").map(String::as_str) == Some("ext-1") => {
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>role-secret</SecretAccessKey><SessionToken>role-token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>".to_string()
        }
        "DescribeAvailabilityZones" => "<DescribeAvailabilityZonesResponse><availabilityZoneInfo><item><zoneName>eu-west-3a</zoneName><zoneId>euw3-az1</zoneId></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>".to_string(),
        "DescribeInstances" if form.get("Filter.1.Name").map(String::as_str) == Some("tag:team") && form.get("Filter.1.Value.1").map(String::as_str) == Some("storage") => {
            let instance = |id: &str, ip: &str, tags: &str| format!("<item><instanceId>{id}</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState><privateDnsName>{id}.internal</privateDnsName><instanceType>t3.micro</instanceType><placement><availabilityZone>eu-west-3a</availabilityZone></placement>{ip}<architecture>x86_64</architecture><tagSet>{tags}</tagSet></item>");
            match form.get("NextToken").map(String::as_str) {
                None => format!(
                    "<DescribeInstancesResponse><reservationSet><item><ownerId>123456789012</ownerId><instancesSet>{}</instancesSet></item></reservationSet><nextToken>page-2</nextToken></DescribeInstancesResponse>",
                    instance("i-0001", "<privateIpAddress>127.0.0.1</privateIpAddress>", "<item><key>Name</key><value>storage-1</value></item><item><key>team</key><value>storage</value></item>")
                ),
                Some("page-2") => format!(
                    "<DescribeInstancesResponse><reservationSet><item><ownerId>123456789012</ownerId><instancesSet>{}{}</instancesSet></item></reservationSet></DescribeInstancesResponse>",
                    instance("i-0002", "<privateIpAddress>192.0.2.10</privateIpAddress>", "<item><key>Name</key><value>storage-2</value></item>"),
                    instance("i-0003", "", "")
                ),
                Some(_) => return (400, String::new(), format!("{action} unknown token")),
            }
        }
        "DescribeInstances" => "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>".to_string(),
        _ => return (400, "<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error></Errors></Response>".into(), format!("{action} {key_id} unexpected")),
    };
    (200, answer, format!("{action} {key_id}"))
}

#[test]
fn ec2_sd_finds_instances_with_an_assumed_role_and_with_a_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("ec2_probe 1\n");
    let (aws, log) = fake_cloud(fake_aws_answer);
    let credentials = dir.path().join("aws-credentials");
    // No default profile: the role job's keys come from the instance's role.
    std::fs::write(&credentials, "[team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = team-secret\n").expect("credentials file");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: ec2_role\n  ec2_sd_configs:\n  - {{endpoint: 'http://{aws}', role_arn: 'arn:aws:iam::123456789012:role/prom', external_id: ext-1, port: {port}, refresh_interval: 1s, filters: [{{name: 'tag:team', values: [storage]}}]}}\n  relabel_configs:\n  - {{source_labels: [__meta_ec2_tag_Name], target_label: name}}\n  - {{source_labels: [__meta_ec2_availability_zone_id], target_label: zone_id}}\n\
             - job_name: ec2_profile\n  ec2_sd_configs:\n  - {{endpoint: 'http://{aws}', region: eu-central-1, profile: team, port: {port}, refresh_interval: 1s, filters: [{{name: 'tag:team', values: [storage]}}]}}\n  relabel_configs:\n  - {{source_labels: [__meta_ec2_region], target_label: region}}\n",
            port = exporter.port
        ));
    let imds = format!("http://{aws}");
    let credentials_file = credentials.display().to_string();
    let home = dir.path().display().to_string();
    let mut env = vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.as_str()), ("AWS_ENDPOINT_URL_STS", imds.as_str()), ("AWS_SHARED_CREDENTIALS_FILE", credentials_file.as_str()), ("HOME", home.as_str())];
    // Nothing of the machine's own AWS settings may take part.
    for name in ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_EC2_METADATA_DISABLED"] {
        env.push((name, ""));
    }
    let server = Server::start_with_env(&config, &env);
    let found = poll_query(&server, "ec2_probe", "both jobs' instance scraped", WAIT, |r| {
        let mut found: Vec<serde_json::Value> = r.iter().map(|s| s["metric"].clone()).collect();
        found.sort_by_key(|m| m["job"].as_str().unwrap_or("").to_string());
        (found.len() == 2).then_some(found)
    });
    let instance = exporter.address();
    assert_eq!(found[0], json!({"__name__": "ec2_probe", "job": "ec2_profile", "region": "eu-central-1", "instance": instance}));
    assert_eq!(found[1], json!({"__name__": "ec2_probe", "job": "ec2_role", "name": "storage-1", "zone_id": "euw3-az1", "instance": instance}));
    // Both pages were read: the second page's instance is a target too (down), the third has no address.
    let targets = poll_targets(&server, WAIT, |t| (t["data"]["activeTargets"].as_array()?.len() == 4).then_some(()));
    let role_targets: Vec<&serde_json::Value> = targets["data"]["activeTargets"].as_array().map(|a| a.iter().filter(|t| t["labels"]["job"] == "ec2_role").collect()).unwrap_or_default();
    let second = role_targets.iter().find(|t| t["labels"]["name"] == "storage-2").copied().cloned().unwrap_or_default();
    assert_eq!(second["discoveredLabels"]["__address__"], format!("192.0.2.10:{}", exporter.port), "{second}");
    let discovered = &second["discoveredLabels"];
    assert_eq!(
        (discovered["__meta_ec2_instance_id"].as_str(), discovered["__meta_ec2_region"].as_str(), discovered["__meta_ec2_owner_id"].as_str(), discovered["__meta_ec2_private_dns_name"].as_str()),
        (Some("i-0002"), Some("eu-west-3"), Some("123456789012"), Some("i-0002.internal")),
        "{second}"
    );
    let seen = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(!seen.iter().any(|l| l.contains("BAD SIGNATURE") || l.contains("without token") || l.contains("unexpected")), "{seen:?}");
    for expected in ["/latest/meta-data/placement/region", "AssumeRole ASIAINSTANCE", "DescribeAvailabilityZones ASIAROLE", "DescribeInstances ASIAROLE", "DescribeInstances AKIDTEAM"] {
        assert!(seen.iter().any(|l| l == expected), "{expected} not among {seen:?}");
    }
    assert!(server.stop(), "clean shutdown");
}

/// The test service account's key (a throwaway RSA key made for this test, PKCS#8).
const GCE_TEST_KEY: &str = include_str!("fixtures/gce_test_service_account.pem");

/// A fake Google: the OAuth token endpoint (checking the service account's RS256 assertion),
/// the metadata server's token, and Compute Engine's instances.list of proj-1's zone
/// europe-west1-b over two pages (checking the token and the filter).
/// Set: the fake Compute API refuses the next instances request with 401, as Google does
/// for a revoked token.
static REVOKE_NEXT_TOKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn fake_google_answer(request: &FakeRequest) -> (u16, String, String) {
    use base64::Engine;
    let decode = |part: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap_or_default();
    if request.method == "POST" && request.path == "/token" {
        let assertion = request.body.split('&').find_map(|p| p.strip_prefix("assertion=")).unwrap_or("").to_string();
        let parts: Vec<&str> = assertion.split('.').collect();
        if parts.len() != 3 || !request.body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer") {
            return (400, r#"{"error":"invalid_request"}"#.into(), "token: malformed".into());
        }
        let der = base64::engine::general_purpose::STANDARD.decode(GCE_TEST_KEY.lines().filter(|l| !l.starts_with("-----")).collect::<String>()).unwrap_or_default();
        let Ok(key) = ring::signature::RsaKeyPair::from_pkcs8(&der) else { return (500, String::new(), "token: bad test key".into()) };
        let public = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, ring::signature::KeyPair::public_key(&key).as_ref().to_vec());
        if public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &decode(parts[2])).is_err() {
            return (400, r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#.into(), "token: BAD SIGNATURE".into());
        }
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap_or_default();
        let header: serde_json::Value = serde_json::from_slice(&decode(parts[0])).unwrap_or_default();
        let audience = format!("http://{}/token", request.headers.get("host").map(String::as_str).unwrap_or(""));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
        let fine = claims["iss"] == "prom@proj-1.iam.gserviceaccount.com"
            && claims["scope"] == "https://www.googleapis.com/auth/compute.readonly"
            && claims["aud"] == audience.as_str()
            && exp - iat == 3600
            && (now - 60..=now).contains(&iat)
            && header["alg"] == "RS256"
            && header["kid"] == "key-1";
        if !fine {
            return (400, r#"{"error":"invalid_grant"}"#.into(), format!("token: wrong claims {claims} {header}"));
        }
        return (200, r#"{"access_token":"tok-sa","expires_in":3599,"token_type":"Bearer"}"#.into(), "token: service account".into());
    }
    if request.path == "/computeMetadata/v1/instance/service-accounts/default/token?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fcompute.readonly" {
        if request.headers.get("metadata-flavor").map(String::as_str) != Some("Google") {
            return (403, String::new(), "metadata: no flavor".into());
        }
        return (200, r#"{"access_token":"tok-md","expires_in":3599,"token_type":"Bearer"}"#.into(), "token: metadata".into());
    }
    let authorization = request.headers.get("authorization").cloned().unwrap_or_default();
    if !request.path.starts_with("/compute/v1/projects/proj-1/zones/europe-west1-b/instances?alt=json&filter=labels.team+%3D+storage&maxResults=100") {
        return (404, r#"{"error":{"code":404,"message":"unknown"}}"#.into(), format!("unknown {}", request.path));
    }
    if REVOKE_NEXT_TOKEN.swap(false, std::sync::atomic::Ordering::SeqCst) {
        return (401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials."}}"#.into(), "instances: REVOKED".into());
    }
    if authorization != "Bearer tok-sa" && authorization != "Bearer tok-md" {
        return (401, r#"{"error":{"code":401,"message":"Request had invalid authentication credentials."}}"#.into(), format!("instances: UNAUTHORIZED {authorization}"));
    }
    let instance = |id: u64, ip: &str| {
        json!({"id": id.to_string(), "name": format!("vm-{id}"), "zone": "https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b", "status": "RUNNING",
               "machineType": "https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b/machineTypes/e2-small",
               "networkInterfaces": [{"name": "nic0", "network": "default", "networkIP": ip}], "labels": {"team": "storage"}, "tags": {"items": ["prom"]}})
    };
    let body = if request.path.contains("pageToken=page-2") {
        json!({"items": [instance(2, "192.0.2.20")]})
    } else {
        json!({"items": [instance(1, "127.0.0.1")], "nextPageToken": "page-2"})
    };
    (200, body.to_string(), format!("instances {authorization}"))
}

/// The environment of a server that must see none of the machine's own Google settings.
fn google_env<'a>(home: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![("HOME", home), ("GOOGLE_APPLICATION_CREDENTIALS", ""), ("CLOUDSDK_CONFIG", ""), ("GCE_METADATA_HOST", ""), ("METRICSTOR_GCE_ENDPOINT", "")];
    for (name, value) in extra {
        env.retain(|(n, _)| n != name);
        env.push((name, value));
    }
    env
}

#[test]
fn gce_sd_finds_instances_with_a_service_account_and_with_the_metadata_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("gce_probe 1\n");
    let (google, log) = fake_cloud(fake_google_answer);
    let endpoint = format!("http://{google}");
    let key_file = dir.path().join("service-account.json");
    std::fs::write(&key_file, json!({"type": "service_account", "project_id": "proj-1", "private_key_id": "key-1", "private_key": GCE_TEST_KEY, "client_email": "prom@proj-1.iam.gserviceaccount.com", "token_uri": format!("{endpoint}/token")}).to_string()).expect("key file");
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: gce\n  gce_sd_configs:\n  - {{project: proj-1, zone: europe-west1-b, filter: 'labels.team = storage', port: {port}, refresh_interval: 1s, tag_separator: '|'}}\n  relabel_configs:\n  - {{source_labels: [__meta_gce_instance_name], target_label: name}}\n  - {{source_labels: [__meta_gce_tags], target_label: tags}}\n",
            port = exporter.port
        ));
    let home = dir.path().display().to_string();
    let key_path = key_file.display().to_string();
    for (how, env, token_line) in [
        ("service account", google_env(&home, &[("GOOGLE_APPLICATION_CREDENTIALS", &key_path), ("METRICSTOR_GCE_ENDPOINT", &endpoint)]), "token: service account"),
        ("metadata server", google_env(&home, &[("GCE_METADATA_HOST", &google), ("METRICSTOR_GCE_ENDPOINT", &endpoint)]), "token: metadata"),
    ] {
        log.lock().map(|mut l| l.clear()).ok();
        let server = Server::start_with_env(&config, &env);
        let found = poll_query(&server, "gce_probe", &format!("the instance found with the {how} and scraped"), WAIT, |r| r.first().map(|s| s["metric"].clone()));
        assert_eq!(found, json!({"__name__": "gce_probe", "job": "gce", "name": "vm-1", "tags": "|prom|", "instance": exporter.address()}), "{how}");
        // The second page's instance is a target too (down).
        let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 2));
        let second = targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["labels"]["name"] == "vm-2")).cloned().unwrap_or_default();
        assert_eq!((second["discoveredLabels"]["__address__"].as_str(), second["discoveredLabels"]["__meta_gce_instance_id"].as_str()), (Some(format!("192.0.2.20:{}", exporter.port).as_str()), Some("2")), "{how}: {second}");
        // Over at least two refreshes (two pages each) the token is asked once.
        let deadline = std::time::Instant::now() + WAIT;
        let seen = loop {
            let seen = log.lock().map(|l| l.clone()).unwrap_or_default();
            if seen.iter().filter(|l| l.starts_with("instances ")).count() >= 4 {
                break seen;
            }
            assert!(std::time::Instant::now() < deadline, "{how}: two refreshes: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(seen.iter().filter(|l| *l == token_line).count(), 1, "{how}: {seen:?}");
        assert!(seen.iter().all(|l| l == token_line || l.starts_with("instances Bearer tok-")), "{how}: {seen:?}");
        // A token refused with 401 is let go: the next refresh asks for a new one.
        log.lock().map(|mut l| l.clear()).ok();
        REVOKE_NEXT_TOKEN.store(true, std::sync::atomic::Ordering::SeqCst);
        let deadline = std::time::Instant::now() + WAIT;
        let seen = loop {
            let seen = log.lock().map(|l| l.clone()).unwrap_or_default();
            let revoked = seen.iter().position(|l| l == "instances: REVOKED");
            if revoked.is_some_and(|at| seen[at..].iter().filter(|l| l.starts_with("instances Bearer tok-")).count() >= 2) {
                break seen;
            }
            assert!(std::time::Instant::now() < deadline, "{how}: a refresh after the 401: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        };
        let revoked = seen.iter().position(|l| l == "instances: REVOKED").unwrap_or(0);
        assert_eq!(seen[revoked..].iter().filter(|l| *l == token_line).count(), 1, "{how}: one new token after the 401: {seen:?}");
        assert!(server.stop(), "clean shutdown");
    }
}
