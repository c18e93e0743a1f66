//! End-to-end: the real binary scrapes the targets of `scrape.config_file` (a Prometheus
//! configuration), checked through the query API: target labels, `up`, staleness markers,
//! `/api/v1/targets` and `/targets/metadata`; reloads, http_sd, dns_sd, Consul and limits
//! here, Kubernetes (`kubernetes`), proxies, OAuth2 and exposition formats (`protocols`) and
//! Docker, EC2 and GCE (`cloud`) in the children, all one test binary.

#[path = "../support/mod.rs"]
mod support;

mod cloud;
mod kubernetes;
mod protocols;

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
    // /api/v1/targets/metadata: each scraped target's families, as Prometheus lists them.
    let target_metadata = |query: &str| get_json(&server.url(&format!("/api/v1/targets/metadata?{query}")));
    let (status, of_app) = target_metadata(&format!("match_target={}", percent_encode("{job=\"app\"}")));
    assert_eq!(
        (status, &of_app["data"]),
        (200, &json!([{"target": {"env": "e2e", "instance": instance, "job": "app"}, "metric": "app_requests_total", "type": "counter", "help": "Requests.", "unit": ""}])),
        "{of_app}"
    );
    let (_, of_metric) = target_metadata("metric=app_requests_total");
    let jobs: Vec<&str> = of_metric["data"].as_array().map(|l| l.iter().filter_map(|e| e["target"]["job"].as_str()).collect()).unwrap_or_default();
    assert_eq!(jobs, ["app", "filesd"], "the down target has none: {of_metric}");
    assert!(of_metric["data"].as_array().is_some_and(|l| l.iter().all(|e| e.get("metric").is_none() && e["type"] == "counter")), "{of_metric}");
    let (_, limited) = target_metadata("limit=1");
    assert_eq!(limited["data"].as_array().map(Vec::len), Some(1), "{limited}");
    let (status, bad) = target_metadata("limit=few");
    assert_eq!((status, bad["error"].as_str()), (400, Some("limit must be a number")), "{bad}");
    let (status, bad) = target_metadata(&format!("match_target={}", percent_encode("{job=~\"(\"}")));
    assert!(status == 400 && bad["error"].as_str().is_some_and(|e| e.starts_with("invalid parameter \"match_target\"")), "{bad}");
    let (status, pools) = get_json(&server.url("/api/v1/scrape_pools"));
    assert_eq!((status, &pools["data"]), (200, &json!({"scrapePools": ["app", "down", "filesd"]})));
    let (status, only_dropped) = get_json(&server.url("/api/v1/targets?state=dropped&scrapePool=app"));
    assert_eq!((status, only_dropped["data"]["activeTargets"].as_array().map(Vec::len)), (200, Some(0)));
    // As Prometheus: the state in any case; another state lists nothing.
    let (_, active_only) = get_json(&server.url("/api/v1/targets?state=Active"));
    assert_eq!((active_only["data"]["activeTargets"].as_array().map(Vec::len), active_only["data"]["droppedTargets"].as_array().map(Vec::len)), (Some(3), Some(0)));
    let (status, none) = get_json(&server.url("/api/v1/targets?state=sleeping"));
    assert_eq!((status, none["data"]["activeTargets"].as_array().map(Vec::len)), (200, Some(0)));
    // VictoriaMetrics' plain-text /targets (also under /prometheus/), with its filters.
    let page = |query: &str| reply_or_status("GET /targets", agent().get(&server.url(&format!("/prometheus/targets?{query}"))).call());
    let all = page("");
    assert_eq!((all.status, all.header("content-type")), (200, Some("text/plain; charset=utf-8")), "{}", all.body);
    let lines: Vec<&str> = all.body.lines().collect();
    assert_eq!(lines.iter().filter(|l| l.starts_with("job=")).copied().collect::<Vec<_>>(), ["job=app (1/1 up)", "job=down (0/1 up)", "job=filesd (1/1 up)"], "{}", all.body);
    let app_line = lines.iter().find(|l| l.contains("job=\"app\"")).expect("app's target line");
    assert!(
        app_line.starts_with(&format!("\tstate=up, endpoint=http://{instance}/metrics, labels={{env=\"e2e\",instance=\"{instance}\",job=\"app\"}}, scrapes_total="))
            && app_line.contains("scrapes_failed=0, last_scrape=")
            && app_line.contains("samples_scraped=3, error=")
            && app_line.ends_with("error="),
        "{app_line}"
    );
    let down_line = lines.iter().find(|l| l.contains("job=\"down\"")).expect("down's target line");
    assert!(down_line.starts_with("\tstate=down, ") && down_line.contains("error=") && !down_line.ends_with("error="), "{down_line}");
    let unhealthy = page("show_only_unhealthy=true").body;
    assert_eq!(unhealthy.lines().filter(|l| l.starts_with('\t')).count(), 1, "{unhealthy}");
    assert!(unhealthy.contains("state=down"), "{unhealthy}");
    let searched = page(&format!("endpoint_search={down_port}")).body;
    assert_eq!(searched.lines().next(), Some("job=down (0/1 up)"), "{searched}");
    assert_eq!(searched.lines().count(), 2, "{searched}");
    let labelled = page(&format!("label_search={}", percent_encode("{team=\"x\"}"))).body;
    assert!(labelled.starts_with("job=filesd (1/1 up)\n\tstate=up") && labelled.lines().count() == 2, "{labelled}");
    let bad = page("endpoint_search=(");
    assert!(bad.status == 400 && bad.body.contains("endpoint_search"), "{}", bad.body);

    // A series gone from the exposition is stale at the next scrape: no longer returned,
    // though its samples are kept.
    exporter.set_body("app_requests_total{path=\"/a\",job=\"inner\"} 9\n");
    let changed = std::time::Instant::now();
    poll_query(&server, "app_temperature", "app_temperature marked stale", WAIT, |r| r.is_empty().then_some(()));
    // Its comments gone too, the target's metadata stays for 10 more scrapes (as in
    // Prometheus), then goes. Checked as kept only when well within those 10 seconds.
    let app_metadata = || target_metadata(&format!("match_target={}", percent_encode("{job=\"app\"}"))).1["data"].as_array().map(Vec::len);
    let (kept_metadata, asked_after) = (app_metadata(), changed.elapsed());
    if asked_after < std::time::Duration::from_secs(5) {
        assert_eq!(kept_metadata, Some(1), "kept for 10 scrapes after the comments went ({asked_after:?} after)");
    }
    poll("the app target's metadata gone", WAIT, || (app_metadata() == Some(0)).then_some(()));
    assert!(changed.elapsed() >= std::time::Duration::from_secs(9), "gone after 10 scrapes of 1 s, not {:?}", changed.elapsed());
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

/// A sample the target timestamps outside the store's bounds (here ten days ahead of the
/// clock) is left out and counted, and the scrape goes on, as Prometheus skips out-of-bounds
/// samples: the target stays up and its other samples are stored. (Failing the scrape
/// instead marked it down.)
#[test]
fn a_scraped_sample_outside_the_time_bounds_is_skipped_and_the_target_stays_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let exporter = Exporter::start(&format!("app_fresh 1\napp_ancient 2 {}\n", now_ms + 10 * 86_400_000));
    let config = write_scrape_config(dir.path(), format!("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: app\n  static_configs:\n  - targets: ['{}']\n", exporter.address()));
    let server = Server::start(&config);
    poll_query(&server, "app_fresh", "the fresh sample", WAIT, |r| (value_of(r).as_deref() == Some("1")).then_some(()));
    poll_query(&server, "scrape_samples_scraped", "a scrape counted", WAIT, |r| (value_of(r).as_deref() == Some("2")).then_some(()));
    let (_, up) = get_json(&server.url("/api/v1/query?query=up"));
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"][0]["health"].as_str().is_some_and(|h| h != "unknown"));
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!((target["health"].as_str(), target["lastError"].as_str()), (Some("up"), Some("")), "{target}");
    let (_, ancient) = get_json(&server.url("/api/v1/series?match[]=app_ancient&start=0"));
    assert_eq!(ancient["data"], json!([]), "{ancient}");
    let text = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("text");
    let refused: u64 = text.lines().filter(|l| l.starts_with("metricstor_shard_samples_refused_too_new_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum();
    assert!(refused >= 1, "{text}");
    assert!(server.stop());
}

/// A scrape bringing new series past `storage.max_series` stores what fits, counts the rest,
/// and the target stays up (it was marked down while its `up` sample was stored as 1).
#[test]
fn a_scrape_past_the_series_limit_stores_what_fits_and_the_target_stays_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("app_a 1\napp_b 2\napp_c 3\n");
    let scrape_file = dir.path().join("prometheus.yml");
    let scrape_yaml = format!("global:\n  scrape_interval: 1s\nscrape_configs:\n- job_name: app\n  static_configs:\n  - targets: ['{}']\n", exporter.address());
    std::fs::write(&scrape_file, scrape_yaml).expect("scrape config");
    // Three exposed series and five reported ones (up, scrape_duration_seconds, …): eight.
    let config = write_config_with(dir.path(), "  cores: 1\n", "  max_series: 6\n");
    add_scrape_config(&config, &scrape_file);
    let server = Server::start(&config);
    poll_query(&server, "scrape_samples_scraped", "a scrape stored", WAIT, |r| (value_of(r).as_deref() == Some("3")).then_some(()));
    let (_, up) = get_json(&server.url("/api/v1/query?query=up"));
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    let (_, count) = get_json(&server.url("/api/v1/query?query=count(%7B__name__%3D~%22.%2B%22%7D)"));
    assert_eq!(count["data"]["result"][0]["value"][1], "6", "the limit holds: {count}");
    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"][0]["health"].as_str().is_some_and(|h| h != "unknown"));
    let target = &targets["data"]["activeTargets"][0];
    assert_eq!((target["health"].as_str(), target["lastError"].as_str()), (Some("up"), Some("")), "{target}");
    let text = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("text");
    let refused: u64 = text.lines().filter(|l| l.starts_with("metricstor_shard_samples_refused_series_limit_total{")).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum();
    assert!(refused >= 2, "{text}");
    assert!(server.stop());
}
