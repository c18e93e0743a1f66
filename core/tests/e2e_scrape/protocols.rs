//! End-to-end scrapes through a proxy and with OAuth2, duplicate targets, OpenMetrics and
//! protobuf answers (native and converted classic histograms), and the scrape metrics.

use super::*;

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

/// A TLS target that chooses HTTP/2 (another Metricstor, whose `/metrics` answers in either)
/// is scraped by a job offering it (`enable_http2`, on by default) and by one that does not.
#[test]
fn tls_targets_are_scraped_with_and_without_http2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = make_pki(dir.path(), &[]);
    let target_dir = dir.path().join("target");
    std::fs::create_dir_all(&target_dir).expect("mkdir");
    let target_config = target_dir.join("config.yaml");
    std::fs::write(
        &target_config,
        format!(
            "server:\n  http_addr: 127.0.0.1:0\n  grpc_addr: 127.0.0.1:0\n  cores: 1\nstorage:\n  data_dir: {}\ntls:\n  cert_file: {p}/server.crt\n  key_file: {p}/server.key\n",
            target_dir.join("data").display(),
            p = pki.display()
        ),
    )
    .expect("target config");
    let target = Server::start(&target_config);
    let scrape_dir = dir.path().join("scraper");
    std::fs::create_dir_all(&scrape_dir).expect("mkdir");
    let config = write_scrape_config(&scrape_dir, format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
         - job_name: h2\n  scheme: https\n  tls_config: {{ca_file: '{p}/ca.crt'}}\n  static_configs: [{{targets: ['{addr}']}}]\n\
         - job_name: h1\n  scheme: https\n  enable_http2: false\n  tls_config: {{ca_file: '{p}/ca.crt', server_name: localhost}}\n  static_configs: [{{targets: ['{addr}']}}]\n",
        p = pki.display(),
        addr = target.http_addr
    ));
    let server = Server::start(&config);
    let ups = poll_query(&server, "up", "both jobs up", WAIT, |r| {
        let mut ups: Vec<(String, String)> = r.iter().map(|s| (s["metric"]["job"].as_str().unwrap_or("").to_string(), s["value"][1].as_str().unwrap_or("").to_string())).collect();
        ups.sort();
        (ups == [("h1".to_string(), "1".to_string()), ("h2".to_string(), "1".to_string())]).then_some(ups)
    });
    assert_eq!(ups.len(), 2);
    // The target's own figures, scraped both ways.
    let jobs = poll_query(&server, "count by (job) (metricstor_build_info)", "the target's series from both jobs", WAIT, |r| (r.len() == 2).then_some(r.len()));
    assert_eq!(jobs, 2);
    assert!(server.stop(), "clean shutdown");
    assert!(target.stop(), "clean shutdown");
}

#[test]
fn a_target_is_scraped_over_the_unix_socket_its_label_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("exporter.sock");
    let exporter = Exporter::start_on_unix_socket(&socket, "socket_probe 1\n");
    // `uds` sets the label by relabeling, `missing` names a socket nobody listens on; the
    // address gives only the Host header (nothing listens on its port).
    let config = write_scrape_config(dir.path(), format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
         - job_name: uds\n  static_configs: [{{targets: ['localhost:9']}}]\n  relabel_configs: [{{target_label: __unix_socket__, replacement: '{socket}'}}]\n\
         - job_name: missing\n  static_configs: [{{targets: ['localhost:9'], labels: {{__unix_socket__: '{absent}'}}}}]\n",
        socket = socket.display(),
        absent = dir.path().join("absent.sock").display()
    ));
    let server = Server::start(&config);
    let probe = poll_query(&server, "socket_probe", "the target scraped over its socket", WAIT, |r| (r.len() == 1).then(|| r[0]["metric"].clone()));
    assert_eq!(probe, json!({"__name__": "socket_probe", "instance": "localhost:9", "job": "uds"}));
    let heads = exporter.request_heads();
    assert!(heads.iter().all(|h| h.starts_with("GET /metrics HTTP/1.1\r\nHost: localhost:9\r\n")), "{heads:?}");

    let targets = poll_targets(&server, WAIT, |t| {
        let active = t["data"]["activeTargets"].as_array()?;
        (active.len() == 2 && active.iter().all(|a| a["health"] != "unknown")).then_some(())
    });
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    let pool = |name: &str| active.iter().find(|t| t["scrapePool"] == name).cloned().unwrap_or_default();
    let (uds, missing) = (pool("uds"), pool("missing"));
    assert_eq!((uds["health"].as_str(), uds["lastError"].as_str()), (Some("up"), Some("")), "{uds}");
    assert_eq!(uds["labels"], json!({"instance": "localhost:9", "job": "uds"}), "the socket is not a series label");
    assert_eq!(missing["health"], "down", "{missing}");
    assert!(missing["lastError"].as_str().unwrap_or("").contains("absent.sock"), "the error names the socket: {missing}");
    assert_eq!(missing["discoveredLabels"]["__unix_socket__"], dir.path().join("absent.sock").display().to_string());
    assert!(server.stop(), "clean shutdown");
}
