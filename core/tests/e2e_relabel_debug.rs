//! End-to-end: VictoriaMetrics' relabeling debuggers (`/metric-relabel-debug`,
//! `/target-relabel-debug`) and query formatter (`/prettify-query`) against the real binary:
//! vmui's JSON answers, the HTML page with its form, the server's own rules as the series
//! page's starting point, and bad input as a 400 naming it.

mod support;

use support::*;

fn config_with_rules(dir: &std::path::Path) -> std::path::PathBuf {
    let config = write_config(dir, "");
    append_to_config(&config, "relabel_configs:\n  - regex: replica\n    action: labeldrop\n");
    config
}

/// `path?query` with each value percent-encoded.
fn url_with(server: &Server, path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", percent(v))).collect();
    server.url(&format!("{path}?{}", query.join("&")))
}

fn percent(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

/// HTML entities vmui's answers carry, undone, and the highlighting spans dropped.
fn plain(markup: &serde_json::Value) -> String {
    let mut text = markup.as_str().expect("a string").replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">");
    while let (Some(start), Some(end)) = (text.find("<span"), text.find('>')) {
        if end < start {
            break;
        }
        text.replace_range(start..=end, "");
        text = text.replacen("</span>", "", 1);
    }
    text.replace("&amp;", "&")
}

#[test]
fn relabel_debuggers_and_prettify_answer_as_victoriametrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&config_with_rules(dir.path()));

    // vmui's call: the rules and the series given, JSON asked for.
    let rules = "- source_labels: [instance]\n  regex: '([^:]+):\\d+'\n  target_label: host\n- action: labeldrop\n  regex: pod\n";
    let (status, answer) = get_json(&url_with(&server, "/metric-relabel-debug", &[("format", "json"), ("relabel_configs", rules), ("metric", r#"up{instance="web-1:9100", pod="p", __tmp="x"}"#)]));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "success");
    let steps = answer["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 3, "two rules and the removal of __ labels: {answer}");
    assert!(steps[0]["rule"].as_str().is_some_and(|r| r.contains("target_label: host")), "{answer}");
    assert_eq!(plain(&steps[0]["outLabels"]), r#"up{__tmp="x", host="web-1", instance="web-1:9100", pod="p"}"#);
    assert!(steps[0]["outLabels"].as_str().is_some_and(|o| o.contains("color:#4495e0\">host=")), "the added label is marked: {answer}");
    assert_eq!(plain(&answer["originalLabels"]), r#"up{__tmp="x", instance="web-1:9100", pod="p"}"#);
    assert_eq!(plain(&answer["resultingLabels"]), r#"up{host="web-1", instance="web-1:9100"}"#);

    // Nothing given: the series page starts from this server's own rules.
    let (status, answer) = get_json(&server.url("/metric-relabel-debug?format=json"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["steps"][0]["rule"], "action: labeldrop\nregex: replica\n", "{answer}");
    let reply = agent().get(&server.url("/metric-relabel-debug")).call().expect("the page");
    let page = reply.into_string().expect("body");
    assert!(page.contains("this server&#39;s ingest relabeling") && page.contains("regex: replica"), "{page}");

    // A target: instance from the address, the scrape URL, the __ labels gone.
    let (status, answer) = get_json(&url_with(
        &server,
        "/target-relabel-debug",
        &[("format", "json"), ("relabel_configs", "- target_label: __metrics_path__\n  replacement: /probe\n"), ("metric", r#"__address__="h:9115", __param_module="http_2xx", job="bb""#)],
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["targetURL"], "http://h:9115/probe?module=http_2xx", "{answer}");
    assert_eq!(plain(&answer["resultingLabels"]), r#"{instance="h:9115", job="bb"}"#);

    // Bad input: a 400 naming it (vmui shows the `error`).
    for (params, named) in [
        (vec![("format", "json"), ("metric", "up{a=\"b\"")], "cannot parse metric"),
        (vec![("format", "json"), ("metric", "up"), ("relabel_configs", "- action: hashmod\n  target_label: t\n")], "modulus"),
        (vec![("format", "json"), ("id", "7")], "no target ids"),
    ] {
        let (status, answer) = get_json(&url_with(&server, "/metric-relabel-debug", &params));
        assert_eq!(status, 400, "{params:?}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| e.contains(named)), "{params:?}: {answer}");
    }

    // The page: the form posts back, what was given is escaped, the steps are a table.
    let reply = agent()
        .post(&server.url("/metric-relabel-debug"))
        .send_form(&[("metric", r#"m{a="<script>"}"#), ("relabel_configs", "- action: labeldrop\n  regex: a\n")])
        .expect("the page");
    assert_eq!(reply.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert!(reply.header("Content-Security-Policy").is_some_and(|p| p.contains("default-src 'none'")));
    let page = reply.into_string().expect("body");
    assert!(page.contains("<form method=\"post\">") && page.contains("<table>"), "{page}");
    assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"), "{page}");
    let reply = reply_or_status("the page", agent().get(&url_with(&server, "/metric-relabel-debug", &[("metric", "m{")])).call());
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("class=\"error\">cannot parse metric"), "{}", reply.body);

    // Also under /prometheus/, and only GET and POST.
    let (status, _) = get_json(&server.url("/prometheus/target-relabel-debug?format=json&metric=up"));
    assert_eq!(status, 200);
    let reply = reply_or_status("PUT", agent().put(&server.url("/metric-relabel-debug")).call());
    assert_eq!((reply.status, reply.header("Allow")), (405, Some("GET, POST")));

    // vmui's prettify button.
    let (status, answer) = get_json(&url_with(&server, "/prettify-query", &[("query", "sum(rate(x[5m]))by(job)")]));
    assert_eq!((status, &answer), (200, &serde_json::json!({"status": "success", "query": "sum by (job) (rate(x[5m]))"})));
    let (status, answer) = get_json(&url_with(&server, "/prettify-query", &[("query", "sum(")]));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("query")), "{answer}");
    assert!(server.stop());
}

/// A scrape target named as `/api/v1/targets` lists it (`scrapePool`, `scrapeUrl`):
/// `/target_response` fetches its answer as its scrapes ask it (the job's headers too), and
/// the relabeling debuggers start from its labels and its job's rules.
#[test]
fn a_named_target_gives_its_response_and_relabeling_context() {
    let exporter = Exporter::start("probe_metric{kind=\"x\"} 7\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let scrape = format!(
        "scrape_configs:\n- job_name: app\n  scrape_interval: 1h\n  headers: ['X-Probe: yes']\n  static_configs: [{{targets: ['127.0.0.1:{}']}}]\n  relabel_configs:\n  - {{target_label: team, replacement: infra}}\n  metric_relabel_configs:\n  - {{action: labeldrop, regex: kind}}\n- job_name: dead\n  scrape_interval: 1h\n  static_configs: [{{targets: ['127.0.0.1:1']}}]\n",
        exporter.port
    );
    let server = Server::start(&write_scrape_config(dir.path(), scrape));
    let url = poll("the target listed", std::time::Duration::from_secs(20), || {
        let (_, body) = get_json(&server.url("/api/v1/targets?state=active&scrapePool=app"));
        body["data"]["activeTargets"][0]["scrapeUrl"].as_str().map(str::to_string)
    });
    let named = format!("scrapePool=app&scrapeUrl={}", percent_encode(&url));

    let reply = agent().get(&server.url(&format!("/target_response?{named}"))).call().expect("the target's response");
    assert_eq!(reply.into_string().expect("body"), "probe_metric{kind=\"x\"} 7\n");
    let heads = exporter.requests.lock().expect("requests").clone();
    assert!(heads.iter().any(|h| h.to_ascii_lowercase().contains("x-probe: yes")), "the job's headers go with it: {heads:?}");

    let (status, answer) = get_json(&server.url(&format!("/target-relabel-debug?format=json&{named}")));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["steps"][0]["rule"].as_str().is_some_and(|r| r.contains("target_label: team")), "{answer}");
    assert_eq!(plain(&answer["resultingLabels"]), format!(r#"{{instance="127.0.0.1:{}", job="app", team="infra"}}"#, exporter.port));
    let (status, answer) = get_json(&server.url(&format!("/metric-relabel-debug?format=json&{named}")));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(plain(&answer["originalLabels"]), format!(r#"up{{instance="127.0.0.1:{}", job="app", team="infra"}}"#, exporter.port));
    assert!(answer["steps"][0]["rule"].as_str().is_some_and(|r| r.contains("labeldrop")), "{answer}");

    // Unknown targets and missing names.
    let (status, answer) = get_json(&server.url("/target_response?scrapePool=app&scrapeUrl=http%3A%2F%2Fnowhere%2Fmetrics"));
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = get_json(&server.url("/target_response?scrapePool=app"));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("scrapeUrl")), "{answer}");
    // A target that does not answer: a 502 naming why.
    poll("the dead target listed", std::time::Duration::from_secs(20), || {
        let (_, body) = get_json(&server.url("/api/v1/targets?state=active&scrapePool=dead"));
        body["data"]["activeTargets"][0]["scrapeUrl"].as_str().map(str::to_string)
    });
    let (status, answer) = get_json(&server.url("/target_response?scrapePool=dead&scrapeUrl=http%3A%2F%2F127.0.0.1%3A1%2Fmetrics"));
    assert_eq!(status, 502, "{answer}");
    assert!(answer["error"].as_str().is_some_and(|e| e.contains("cannot fetch the response of http://127.0.0.1:1/metrics")), "{answer}");
    assert!(server.stop());
}
