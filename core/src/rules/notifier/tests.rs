//! Unit tests of the notifier: the `alerting` section, Alertmanager discovery and relabeling,
//! alert relabeling and external labels, the JSON body, the queue's bound, and sending to a
//! mock Alertmanager (batches, failures, credentials).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::scrape::fake_api::{run, serve, serve_with_headers, Seen};

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

fn alert(name: &str, n: usize) -> Alert {
    Alert { labels: labels(&[("alertname", name), ("n", &n.to_string())]), annotations: BTreeMap::new(), starts_at_ms: 1_700_000_000_000, ends_at_ms: Some(1_700_000_060_000), generator_url: String::new() }
}

fn config(yaml: &str) -> AlertingConfig {
    alerting_from_file(yaml, Path::new("/tmp")).unwrap()
}

fn error(yaml: &str) -> String {
    alerting_from_file(yaml, Path::new("/tmp")).err().unwrap_or_else(|| panic!("accepted:\n{yaml}"))
}

/// A config whose one Alertmanager is the mock at `base` (`http://127.0.0.1:port`).
fn config_for(base: &str, extra: &str) -> AlertingConfig {
    let address = base.trim_start_matches("http://");
    config(&format!("alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['{address}']\n{extra}"))
}

/// Polls `done` on the executor until it holds or 10 seconds pass.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the sending task of `notifier` until `done`, then stops it.
fn send_until(notifier: &Arc<Notifier>, what: &str, done: impl Fn() -> bool) {
    let notifier = notifier.clone();
    run(async move {
        let (stop, shutdown) = async_channel::bounded(1);
        let task = glommio::spawn_local(notifier.clone().run(shutdown));
        eventually(what, done).await;
        drop(stop);
        task.await;
    });
}

/// The alerts queued for the notifier's only Alertmanager.
fn queued(notifier: &Notifier) -> Vec<Alert> {
    let state = notifier.lock();
    assert_eq!(state.queues.len(), 1, "one Alertmanager");
    state.queues.values().flat_map(|q| q.alerts.iter().cloned()).collect()
}

fn posted_alerts(seen: &[Seen]) -> Vec<serde_json::Value> {
    seen.iter().flat_map(|s| serde_json::from_str::<Vec<serde_json::Value>>(&s.body).unwrap()).collect()
}

#[test]
fn config_reads_only_alerting_with_prometheus_defaults() {
    let yaml = "global:\n  scrape_interval: 15s\nscrape_configs:\n- job_name: x\n  kubernetes_sd_configs: [{role: pod}]\nrule_files: [a.yml]\nalerting:\n  alert_relabel_configs:\n  - {action: labeldrop, regex: replica}\n  alertmanagers:\n  - static_configs:\n    - targets: ['am1:9093', 'am2:9093']\n  - scheme: https\n    path_prefix: /prefix/\n    timeout: 3s\n    api_version: v2\n    static_configs: [{targets: ['am3']}]\n";
    let config = config(yaml);
    assert_eq!(config.alertmanager_sets.len(), 2);
    let (first, second) = (&config.alertmanager_sets[0], &config.alertmanager_sets[1]);
    assert_eq!((first.scheme, first.alerts_path.as_str(), first.timeout_ms), (crate::scrape::config::Scheme::Http, "/api/v2/alerts", config::TIMEOUT_DEFAULT_MS));
    assert_eq!((second.scheme, second.alerts_path.as_str(), second.timeout_ms), (crate::scrape::config::Scheme::Https, "/prefix/api/v2/alerts", 3_000));
    // HTTP/2 offered by default, as in Prometheus; not with `enable_http2: false`.
    let alpn = |set: &AlertmanagerSet| set.access.tls.as_ref().map(|t| t.config.alpn_protocols.clone()).unwrap_or_default();
    assert_eq!(alpn(second), vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    let without = super::config::alerting_from_file("alerting:\n  alertmanagers:\n  - {scheme: https, enable_http2: false, static_configs: [{targets: [am]}]}\n", Path::new("/tmp")).unwrap();
    assert_eq!(alpn(&without.alertmanager_sets[0]), vec![b"http/1.1".to_vec()]);
    let notifier = Notifier::new(config, BTreeMap::new());
    assert_eq!(
        notifier.alertmanagers_json(),
        serde_json::json!({"activeAlertmanagers": [{"url": "http://am1:9093/api/v2/alerts"}, {"url": "http://am2:9093/api/v2/alerts"}, {"url": "https://am3/prefix/api/v2/alerts"}], "droppedAlertmanagers": []})
    );
}

#[test]
fn absent_or_empty_alerting_has_no_alertmanagers_and_send_does_nothing() {
    for yaml in ["scrape_configs: []\n", "alerting:\n", "alerting: {}\n", "alerting:\n  alertmanagers: []\n", "alerting:\n  alertmanagers:\n  alert_relabel_configs:\n"] {
        let notifier = Notifier::new(config(yaml), BTreeMap::new());
        notifier.send(vec![alert("A", 0)]);
        assert_eq!(notifier.counts().queue_length, 0, "{yaml}");
        assert_eq!(notifier.alertmanagers_json(), serde_json::json!({"activeAlertmanagers": [], "droppedAlertmanagers": []}));
    }
}

#[test]
fn config_errors_name_the_problem() {
    let am = "alerting:\n  alertmanagers:\n  - static_configs: [{targets: [am]}]\n";
    let cases: [(String, &str); 14] = [
        ("alerting:\n  bogus: 1\n".into(), "bogus"),
        (format!("{am}    bogus_key: 1\n"), "bogus_key"),
        (format!("{am}    api_version: v1\n"), "expected Alertmanager api version to be one of [v2] but got v1"),
        (format!("{am}    sigv4: {{region: eu-west-1}}\n    basic_auth: {{username: u, password: p}}\n"), "at most one of basic_auth, authorization, oauth2, & sigv4 must be configured"),
        (format!("{am}    sigv4: {{access_key: AKID}}\n"), "alerting.alertmanagers[0]: sigv4: must provide a AWS SigV4 Access key and Secret Key"),
        (format!("{am}    sigv4: {{region: eu-west-1, regoin: x}}\n"), "regoin"),
        (format!("{am}    kubernetes_sd_configs: [{{role: bogus}}]\n"), "bogus"),
        (format!("{am}    bogus_sd_configs: [{{}}]\n"), "unknown field `bogus_sd_configs`"),
        (format!("{am}    scheme: ftp\n"), "scheme \"ftp\" must be http or https"),
        (format!("{am}    timeout: soon\n"), "timeout \"soon\""),
        ("alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['http://am:9093']}]\n".into(), "\"http://am:9093\" is not a valid hostname"),
        (format!("{am}    basic_auth: {{username: u, password: p}}\n    bearer_token: t\n"), "at most one of"),
        (format!("{am}    relabel_configs: [{{action: hashmod, target_label: x}}]\n"), "modulus"),
        ("alerting:\n  alert_relabel_configs: [{regex: '('}]\n".into(), "alert_relabel_configs[0]"),
    ];
    for (yaml, expected) in cases {
        let message = error(&yaml);
        assert!(message.contains(expected), "{yaml}\nexpected {expected:?} in {message:?}");
    }
}

#[test]
fn alerts_path_joins_as_go_path_join() {
    for (prefix, path) in [("", "/api/v2/alerts"), ("/", "/api/v2/alerts"), ("am", "/am/api/v2/alerts"), ("/am/", "/am/api/v2/alerts"), ("a//b/../c", "/a/c/api/v2/alerts")] {
        assert_eq!(config::alerts_path(prefix), path, "{prefix:?}");
    }
}

#[test]
fn alertmanagers_are_relabeled_with_scheme_address_and_path() {
    let yaml = "alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['a:1', 'b:2', 'a:1']\n      labels: {role: primary}\n    - targets: ['c:3']\n      labels: {__scheme__: https}\n    relabel_configs:\n    - {source_labels: [__address__], regex: 'b:.*', action: drop}\n    - {source_labels: [role], regex: primary, target_label: __alerts_path__, replacement: /custom/alerts}\n";
    let notifier = Notifier::new(config(yaml), BTreeMap::new());
    assert_eq!(
        notifier.alertmanagers_json(),
        serde_json::json!({"activeAlertmanagers": [{"url": "http://a:1/custom/alerts"}, {"url": "https://c:3/api/v2/alerts"}], "droppedAlertmanagers": [{"url": "http://b:2/api/v2/alerts"}]})
    );
    assert_eq!(notifier.counts().alertmanagers_discovered, 2);
}

#[test]
fn file_sd_alertmanagers_are_read_again_when_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("am.json"), r#"[{"targets": ["x:9093"]}]"#).unwrap();
    let yaml = "alerting:\n  alertmanagers:\n  - file_sd_configs: [{files: ['am.json']}]\n";
    let notifier = Notifier::new(alerting_from_file(yaml, dir.path()).unwrap(), BTreeMap::new());
    assert_eq!(notifier.alertmanagers_json()["activeAlertmanagers"], serde_json::json!([{"url": "http://x:9093/api/v2/alerts"}]));
    std::fs::write(dir.path().join("am.json"), r#"[{"targets": ["y:9093", "z:9093"]}]"#).unwrap();
    notifier.refresh_discovery(crate::api::params::now_ms());
    assert_eq!(notifier.alertmanagers_json()["activeAlertmanagers"], serde_json::json!([{"url": "http://y:9093/api/v2/alerts"}, {"url": "http://z:9093/api/v2/alerts"}]));
    let counted: Vec<String> = notifier.counts().per_alertmanager.keys().cloned().collect();
    assert_eq!(counted, ["http://y:9093/api/v2/alerts", "http://z:9093/api/v2/alerts"]);
}

#[test]
fn network_discoveries_are_a_job_of_their_own_whose_groups_give_alertmanagers() {
    let yaml = "alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['am0:9093']}]\n    http_sd_configs: [{url: 'http://sd.example/targets'}]\n    relabel_configs:\n    - {source_labels: [role], regex: silent, action: drop}\n";
    let config = config(yaml);
    let set = config.alertmanager_sets[0].clone();
    let job = set.discovery.clone().expect("a discovery job");
    assert_eq!(job.name, "alerting/config-0");
    assert_eq!(crate::scrape::asked_sources(&job), ["http://sd.example/targets"]);
    let asked = std::sync::Arc::new(crate::scrape::asked_groups::AskedGroups::default());
    let notifier = Notifier::new(config, BTreeMap::new());
    notifier.discover_from(asked.clone());
    let group = |target: &str, role: &str| std::sync::Arc::new(crate::scrape::config::TargetGroup { targets: vec![target.to_string()], labels: [("role".to_string(), role.to_string())].into() });
    asked.store(&job.name, "http://sd.example/targets", vec![group("am1:9093", "main"), group("am2:9093", "silent")]);
    notifier.refresh_discovery(crate::api::params::now_ms());
    assert_eq!(
        notifier.alertmanagers_json(),
        serde_json::json!({"activeAlertmanagers": [{"url": "http://am0:9093/api/v2/alerts"}, {"url": "http://am1:9093/api/v2/alerts"}], "droppedAlertmanagers": [{"url": "http://am2:9093/api/v2/alerts"}]})
    );
    let static_only = self::config("alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['am0:9093']}]\n");
    assert!(static_only.alertmanager_sets[0].discovery.is_none());
}

#[test]
fn external_labels_are_added_where_missing_and_global_relabeling_applies() {
    let yaml = "alerting:\n  alert_relabel_configs:\n  - {source_labels: [severity], regex: none, action: drop}\n  - {source_labels: [cluster], target_label: region, replacement: 'r-$1'}\n  alertmanagers:\n  - static_configs: [{targets: ['am:9093']}]\n";
    let notifier = Notifier::new(config(yaml), labels(&[("cluster", "c1"), ("env", "prod")]));
    let mut kept = alert("Kept", 0);
    kept.labels.insert("env".into(), "dev".into());
    let mut dropped = alert("Dropped", 1);
    dropped.labels.insert("severity".into(), "none".into());
    notifier.send(vec![kept, dropped]);
    let queued: Vec<BTreeMap<String, String>> = queued(&notifier).into_iter().map(|a| a.labels).collect();
    assert_eq!(queued, [labels(&[("alertname", "Kept"), ("cluster", "c1"), ("env", "dev"), ("n", "0"), ("region", "r-c1")])]);
}

#[test]
fn json_body_has_prometheus_fields_and_times() {
    let mut full = alert("Full", 1);
    full.annotations.insert("summary".into(), "it \"broke\"".into());
    full.generator_url = "http://prom/graph?g0.expr=up".into();
    let bare = Alert { labels: labels(&[("alertname", "Bare")]), annotations: BTreeMap::new(), starts_at_ms: 1_500, ends_at_ms: None, generator_url: String::new() };
    let body: serde_json::Value = serde_json::from_slice(&wire::alerts_body(&[full, bare])).unwrap();
    assert_eq!(
        body,
        serde_json::json!([
            {"annotations": {"summary": "it \"broke\""}, "endsAt": "2023-11-14T22:14:20.000Z", "startsAt": "2023-11-14T22:13:20.000Z", "generatorURL": "http://prom/graph?g0.expr=up", "labels": {"alertname": "Full", "n": "1"}},
            {"endsAt": "0001-01-01T00:00:00.000Z", "startsAt": "1970-01-01T00:00:01.500Z", "labels": {"alertname": "Bare"}}
        ])
    );
}

#[test]
fn a_full_queue_drops_the_oldest_and_counts_them() {
    let notifier = Notifier::new(config("alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['am:9093']}]\n"), BTreeMap::new());
    notifier.send((0..QUEUE_ALERTS_MAX - 2).map(|n| alert("A", n)).collect());
    notifier.send((QUEUE_ALERTS_MAX - 2..QUEUE_ALERTS_MAX + 5).map(|n| alert("A", n)).collect());
    let counts = notifier.counts();
    assert_eq!((counts.queue_length, counts.dropped, counts.queue_capacity), (QUEUE_ALERTS_MAX, 5, QUEUE_ALERTS_MAX));
    assert_eq!(queued(&notifier)[0].labels["n"], "5");
    // One call larger than the queue keeps its newest alerts.
    notifier.send((0..QUEUE_ALERTS_MAX + 1).map(|n| alert("B", n)).collect());
    assert_eq!(queued(&notifier)[0].labels["n"], "1");
    assert_eq!(notifier.counts().dropped, 5 + QUEUE_ALERTS_MAX as u64 + 1);
}

/// Prometheus' classic histogram: cumulative buckets at 0.01, 0.1, 1 and 10 seconds.
#[test]
fn latency_histogram_buckets_are_cumulative() {
    let mut counts = metrics::AlertmanagerCounts::default();
    for seconds in [0.005, 0.05, 0.05, 2.0, 30.0] {
        counts.observe_latency(seconds);
    }
    let text = metrics::NotifierCounts { per_alertmanager: [("u".to_string(), counts)].into_iter().collect(), ..Default::default() }.text();
    let buckets: Vec<&str> = text.lines().filter(|l| l.starts_with("prometheus_notifications_latency_histogram_seconds_bucket")).collect();
    assert_eq!(
        buckets,
        [
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"u\",le=\"0.01\"} 1",
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"u\",le=\"0.1\"} 3",
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"u\",le=\"1\"} 3",
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"u\",le=\"10\"} 4",
            "prometheus_notifications_latency_histogram_seconds_bucket{alertmanager=\"u\",le=\"+Inf\"} 5",
        ]
    );
    assert!(text.contains("prometheus_notifications_latency_histogram_seconds_count{alertmanager=\"u\"} 5\n"), "{text}");
}

#[test]
fn batches_of_at_most_256_alerts_are_posted_as_json() {
    let (base, seen) = serve(|_| (200, String::new()));
    let notifier = Arc::new(Notifier::new(config_for(&base, ""), BTreeMap::new()));
    notifier.send((0..300).map(|n| alert("Batch", n)).collect());
    send_until(&notifier, "300 alerts posted", || posted_alerts(&seen.lock().unwrap()).len() == 300);
    let seen = seen.lock().unwrap();
    let sizes: Vec<usize> = seen.iter().map(|s| serde_json::from_str::<Vec<serde_json::Value>>(&s.body).unwrap().len()).collect();
    assert_eq!(sizes, [256, 44]);
    assert!(seen.iter().all(|s| s.method == "POST" && s.path == "/api/v2/alerts" && s.header("content-type") == Some("application/json")));
    let first = &posted_alerts(&seen)[0];
    assert_eq!(first["labels"], serde_json::json!({"alertname": "Batch", "n": "0"}));
    let url = format!("{base}/api/v2/alerts");
    let counts = notifier.counts();
    assert_eq!((counts.per_alertmanager[&url].sent, counts.per_alertmanager[&url].errors, counts.per_alertmanager[&url].latency_count, counts.dropped, counts.queue_length), (300, 0, 2, 0, 0));
    let text = notifier.metrics_text();
    assert!(text.contains(&format!("prometheus_notifications_sent_total{{alertmanager=\"{url}\"}} 300\n")), "{text}");
    assert!(text.contains("# TYPE prometheus_notifications_latency_seconds summary\n"), "{text}");
    assert!(text.contains(&format!("prometheus_notifications_latency_histogram_seconds_bucket{{alertmanager=\"{url}\",le=\"+Inf\"}} 2\n")), "{text}");
    assert!(text.contains(&format!("prometheus_notifications_latency_histogram_seconds_count{{alertmanager=\"{url}\"}} 2\n")), "{text}");
    assert!(text.contains("prometheus_notifications_alertmanagers_discovered 1\n"), "{text}");
}

#[test]
fn an_alertmanager_answering_500_counts_errors_and_drops() {
    let (base, seen) = serve(|_| (500, "boom".into()));
    let notifier = Arc::new(Notifier::new(config_for(&base, ""), BTreeMap::new()));
    notifier.send((0..3).map(|n| alert("Failing", n)).collect());
    let watched = notifier.clone();
    send_until(&notifier, "the failure counted", move || watched.counts().dropped == 3);
    let url = format!("{base}/api/v2/alerts");
    let counts = notifier.counts();
    assert_eq!((counts.per_alertmanager[&url].sent, counts.per_alertmanager[&url].errors), (0, 3));
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert!(notifier.metrics_text().contains(&format!("prometheus_notifications_errors_total{{alertmanager=\"{url}\"}} 3\n")));
}

#[test]
fn basic_auth_and_headers_are_sent_and_each_set_relabels_its_alerts() {
    let (base, seen) = serve(|_| (200, String::new()));
    let (other_base, other_seen) = serve(|_| (200, String::new()));
    let other = other_base.trim_start_matches("http://");
    let extra = format!("    path_prefix: /am\n    basic_auth: {{username: alice, password: secret}}\n    http_headers: {{X-Tenant: {{values: [t1]}}}}\n  - static_configs: [{{targets: ['{other}']}}]\n    alert_relabel_configs: [{{source_labels: [n], regex: '0', action: drop}}]\n");
    let notifier = Arc::new(Notifier::new(config_for(&base, &extra), BTreeMap::new()));
    notifier.send((0..2).map(|n| alert("Auth", n)).collect());
    send_until(&notifier, "both Alertmanagers posted to", || !seen.lock().unwrap().is_empty() && !other_seen.lock().unwrap().is_empty());
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first.path, "/am/api/v2/alerts");
    assert_eq!(first.header("authorization"), Some("Basic YWxpY2U6c2VjcmV0"));
    assert_eq!(first.header("x-tenant"), Some("t1"));
    assert_eq!(posted_alerts(&[first]).len(), 2);
    let second = other_seen.lock().unwrap()[0].clone();
    assert_eq!(second.header("authorization"), None);
    let numbers: Vec<serde_json::Value> = posted_alerts(&[second]).iter().map(|a| a["labels"]["n"].clone()).collect();
    assert_eq!(numbers, [serde_json::json!("1")]);
}

/// The `Authorization` AWS would expect of `seen`, signed by `AKIDTEST` with `secret-1` for
/// `aps` in us-west-2: over its method, path, `Content-Type`, `Host`, `X-Amz-Date` and body.
fn expected_signature(seen: &Seen) -> Option<String> {
    let keys = crate::scrape::aws::sigv4::Keys { access_key_id: "AKIDTEST".into(), secret_access_key: "secret-1".into(), session_token: None };
    let signed_headers = [("content-type".to_string(), seen.header("content-type").unwrap_or_default().to_string())];
    let (host, amz_date) = (seen.header("host").unwrap_or_default(), seen.header("x-amz-date").unwrap_or_default());
    let request = crate::scrape::aws::sigv4::Request { method: &seen.method, host, path: &seen.path, query: &[], headers: &signed_headers, body: seen.body.as_bytes(), region: "us-west-2", service: "aps", amz_date };
    crate::scrape::aws::sigv4::sign(&keys, &request).into_iter().find(|(name, _)| name == "Authorization").map(|(_, value)| value)
}

/// The mock checks the signature as AWS would: over the method, path, the headers named
/// signed as received, and the body, with the secret it knows.
#[test]
fn sigv4_signs_each_post_and_leaves_user_agent_and_http_headers_unsigned() {
    let (base, seen) = serve(|_| (200, String::new()));
    let extra = "    path_prefix: /workspaces/ws-1/alertmanager\n    sigv4: {region: us-west-2, access_key: AKIDTEST, secret_key: secret-1}\n    http_headers: {X-Tenant: {values: [t1]}}\n";
    let notifier = Arc::new(Notifier::new(config_for(&base, extra), BTreeMap::new()));
    notifier.send(vec![alert("Signed", 0)]);
    send_until(&notifier, "a signed post", || !seen.lock().unwrap().is_empty());
    let post = seen.lock().unwrap()[0].clone();
    assert_eq!(post.path, "/workspaces/ws-1/alertmanager/api/v2/alerts");
    let authorization = post.header("authorization").unwrap_or_default().to_string();
    let amz_date = post.header("x-amz-date").unwrap_or_default().to_string();
    let scope = format!("Credential=AKIDTEST/{}/us-west-2/aps/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=", amz_date.get(..8).unwrap_or_default());
    assert!(authorization.starts_with(&format!("AWS4-HMAC-SHA256 {scope}")), "{authorization}");
    assert_eq!(Some(authorization), expected_signature(&post));
    assert_eq!(post.header("x-tenant"), Some("t1"));
    assert!(post.header("user-agent").is_some_and(|agent| agent.starts_with("Metricstor/")));
    assert_eq!(posted_alerts(&[post]).len(), 1);
}

/// As Go's client: a 307 posts the body again at its `Location`, here on another host, where
/// the basic auth stays behind and `http_headers` go on; the alerts count as sent there.
#[test]
fn a_307_posts_again_and_credentials_stay_on_the_first_host() {
    let (target, target_seen) = serve(|_| (200, String::new()));
    let location = format!("{target}/moved/api/v2/alerts");
    let (first, first_seen) = serve_with_headers(move |_| (307, vec![("Location", location.clone())], String::new()));
    let first = first.replace("127.0.0.1", "localhost");
    let extra = "    basic_auth: {username: alice, password: secret}\n    http_headers: {X-Tenant: {values: [t1]}}\n";
    let notifier = Arc::new(Notifier::new(config_for(&first, extra), BTreeMap::new()));
    notifier.send(vec![alert("Moved", 0), alert("Moved", 1)]);
    let watched = notifier.clone();
    send_until(&notifier, "the alerts sent after the redirect", move || watched.counts().per_alertmanager.values().any(|c| c.sent == 2));
    assert_eq!(first_seen.lock().unwrap()[0].header("authorization"), Some("Basic YWxpY2U6c2VjcmV0"));
    let moved = target_seen.lock().unwrap()[0].clone();
    assert_eq!((moved.method.as_str(), moved.path.as_str()), ("POST", "/moved/api/v2/alerts"));
    assert_eq!((moved.header("authorization"), moved.header("x-tenant")), (None, Some("t1")));
    assert_eq!(posted_alerts(&[moved]).len(), 2);
}

/// A 303 turns the post into a GET without its body (signed anew as a GET), whose 200
/// Prometheus counts as sent; with `follow_redirects: false` the 303 itself fails the post,
/// and ten redirects in a row fail it too.
#[test]
fn a_303_becomes_a_signed_get_and_redirects_can_be_refused_or_too_many() {
    let (base, seen) = serve_with_headers(|request| match request.path.as_str() {
        "/api/v2/alerts" => (303, vec![("Location", "/elsewhere".to_string())], String::new()),
        "/loop" => (308, vec![("Location", "/loop".to_string())], String::new()),
        _ => (200, Vec::new(), "[]".to_string()),
    });
    let signed = "    sigv4: {region: us-west-2, access_key: AKIDTEST, secret_key: secret-1}\n";
    let notifier = Arc::new(Notifier::new(config_for(&base, signed), BTreeMap::new()));
    notifier.send(vec![alert("SeeOther", 0)]);
    let watched = notifier.clone();
    send_until(&notifier, "the alert counted sent", move || watched.counts().per_alertmanager.values().any(|c| c.sent == 1));
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect::<Vec<_>>(), [("POST", "/api/v2/alerts"), ("GET", "/elsewhere")]);
    assert_eq!((requests[1].body.as_str(), requests[1].header("content-length")), ("", None));
    for request in &requests {
        assert_eq!(request.header("authorization").map(str::to_string), expected_signature(request), "{} {}", request.method, request.path);
    }

    for (extra, requests_expected) in [("    follow_redirects: false\n", 1), ("    relabel_configs: [{target_label: __alerts_path__, replacement: /loop}]\n", 10)] {
        seen.lock().unwrap().clear();
        let notifier = Arc::new(Notifier::new(config_for(&base, extra), BTreeMap::new()));
        notifier.send(vec![alert("Refused", 0)]);
        let watched = notifier.clone();
        send_until(&notifier, "the redirect counted an error", move || watched.counts().dropped == 1);
        assert_eq!(notifier.counts().per_alertmanager.values().map(|c| (c.sent, c.errors)).collect::<Vec<_>>(), [(0, 1)]);
        assert_eq!(seen.lock().unwrap().len(), requests_expected, "{extra}");
    }
}

/// As Prometheus 3.10+: each Alertmanager has its own queue and loop, so one that has not
/// answered yet does not hold back the batches of another (the first mock answers only once
/// the second has taken all three batches; one loop for both would wait for it forever).
#[test]
fn an_alertmanager_that_does_not_answer_holds_back_no_other() {
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = taken.clone();
    let (fast, fast_seen) = serve_with_headers(move |_| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        (200, Vec::new(), String::new())
    });
    let waiting = taken.clone();
    let (stuck, stuck_seen) = serve_with_headers(move |_| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while waiting.load(std::sync::atomic::Ordering::SeqCst) < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        (200, Vec::new(), String::new())
    });
    let fast = fast.trim_start_matches("http://");
    let notifier = Arc::new(Notifier::new(config_for(&stuck, &format!("    timeout: 30s\n  - static_configs: [{{targets: ['{fast}']}}]\n")), BTreeMap::new()));
    notifier.send((0..600).map(|n| alert("Independent", n)).collect());
    send_until(&notifier, "three batches at the Alertmanager that answers", || fast_seen.lock().unwrap().len() == 3);
    assert_eq!(posted_alerts(&fast_seen.lock().unwrap()).len(), 600);
    assert!(!stuck_seen.lock().unwrap().is_empty(), "the other Alertmanager was asked too");
}

/// A reload keeps the queue of an Alertmanager found again; a vanished one's alerts are
/// counted dropped, and its counters forgotten.
#[test]
fn apply_replaces_alertmanagers_and_keeps_the_queues_of_those_found_again() {
    let notifier = Notifier::new(config("alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['kept:3', 'old:1']}]\n"), BTreeMap::new());
    notifier.send(vec![alert("Queued", 0)]);
    notifier.apply(config("alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['kept:3', 'new:2']}]\n"), labels(&[("cluster", "c")]));
    assert_eq!(notifier.alertmanagers_json()["activeAlertmanagers"], serde_json::json!([{"url": "http://kept:3/api/v2/alerts"}, {"url": "http://new:2/api/v2/alerts"}]));
    let counts = notifier.counts();
    assert_eq!((counts.queue_length, counts.dropped), (1, 1));
    assert_eq!(counts.per_alertmanager.keys().collect::<Vec<_>>(), ["http://kept:3/api/v2/alerts", "http://new:2/api/v2/alerts"]);
    let lengths: Vec<(String, usize)> = notifier.lock().queues.iter().map(|((_, url), q)| (url.clone(), q.alerts.len())).collect();
    assert_eq!(lengths, [("http://kept:3/api/v2/alerts".to_string(), 1), ("http://new:2/api/v2/alerts".to_string(), 0)]);
}

#[test]
fn an_alertmanager_slower_than_its_timeout_counts_errors() {
    // The mock answers after 2 s; the entry's timeout is 100 ms.
    let (base, _seen) = serve(|_| {
        std::thread::sleep(Duration::from_secs(2));
        (200, String::new())
    });
    let notifier = Arc::new(Notifier::new(config_for(&base, "    timeout: 100ms\n"), BTreeMap::new()));
    notifier.send(vec![alert("Slow", 0)]);
    let watched = notifier.clone();
    let started = Instant::now();
    send_until(&notifier, "the timeout counted", move || watched.counts().dropped == 1);
    assert!(started.elapsed() < Duration::from_millis(1500), "took {:?}", started.elapsed());
    assert_eq!(notifier.counts().per_alertmanager[&format!("{base}/api/v2/alerts")].errors, 1);
}

#[test]
fn shutdown_drains_the_queue() {
    let (base, seen) = serve(|_| (200, String::new()));
    let notifier = Arc::new(Notifier::new(config_for(&base, ""), BTreeMap::new()));
    notifier.send((0..600).map(|n| alert("Drained", n)).collect());
    let (stop, shutdown) = async_channel::bounded::<()>(1);
    drop(stop);
    run(notifier.clone().run(shutdown));
    assert_eq!(posted_alerts(&seen.lock().unwrap()).len(), 600);
    assert_eq!(notifier.counts().queue_length, 0);
}

/// A batch the Alertmanager refuses on shutdown is dropped and the next ones still sent;
/// one it does not answer within the entry's timeout ends the drain (the rest dropped).
#[test]
fn shutdown_drains_past_a_refused_batch_and_stops_at_an_unanswered_one() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let drained = |answer: fn(usize) -> (u16, Duration), timeout: &str| {
        let posts = Arc::new(AtomicUsize::new(0));
        let counted = posts.clone();
        let (base, seen) = serve_with_headers(move |_| {
            let (status, delay) = answer(counted.fetch_add(1, Ordering::SeqCst));
            std::thread::sleep(delay);
            (status, Vec::new(), String::new())
        });
        let notifier = Arc::new(Notifier::new(config_for(&base, timeout), BTreeMap::new()));
        notifier.send((0..600).map(|n| alert("Drained", n)).collect());
        let (stop, shutdown) = async_channel::bounded::<()>(1);
        drop(stop);
        run(notifier.clone().run(shutdown));
        let posted = seen.lock().map(|s| s.len()).unwrap_or(0);
        (posted, notifier.counts().dropped, notifier.counts().queue_length)
    };
    // 600 alerts are three batches (256, 256, 88): the first refused, the others taken.
    assert_eq!(drained(|n| (if n == 0 { 500 } else { 200 }, Duration::ZERO), ""), (3, BATCH_ALERTS_MAX as u64, 0));
    // The first not answered within 100 ms: the drain ends there, every alert dropped.
    let (posted, dropped, queued) = drained(|_| (200, Duration::from_secs(2)), "    timeout: 100ms\n");
    assert_eq!((dropped, queued), (600, 0));
    assert!(posted <= 1, "no batch after the unanswered one: {posted}");
}

/// Alerts of an entry with no Alertmanager found yet wait (bounded as a queue), and go to
/// the Alertmanagers it finds later.
#[test]
fn alerts_wait_for_an_entry_to_find_its_alertmanagers() {
    let none_yet = "alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['am:9093']}]\n    relabel_configs: [{action: drop, source_labels: [__address__], regex: '.*'}]\n";
    let notifier = Arc::new(Notifier::new(config(none_yet), BTreeMap::new()));
    assert_eq!(notifier.alertmanagers_json()["droppedAlertmanagers"], serde_json::json!([{"url": "http://am:9093/api/v2/alerts"}]));
    notifier.send((0..2).map(|n| alert("Waiting", n)).collect());
    let counts = notifier.counts();
    assert_eq!((counts.queue_length, counts.dropped), (2, 0));
    notifier.apply(config("alerting:\n  alertmanagers:\n  - static_configs: [{targets: ['am:9093']}]\n"), BTreeMap::new());
    let names: Vec<String> = queued(&notifier).into_iter().map(|a| a.labels["n"].clone()).collect();
    assert_eq!(names, ["0", "1"]);
    assert!(notifier.lock().waiting.is_empty());
}
