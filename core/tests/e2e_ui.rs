//! The query page (`/graph`, `/vmui/`): served with its headers under each of its paths, every
//! link and API call it makes answered by the server, and (with node, `METRICSTOR_NODE_BIN`,
//! which `bash .ci/run` sets) its script's functions checked on their own and against this
//! server's answers (`ui_graph_script.js`).

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

/// How long the node checks may take.
const NODE_DEADLINE: Duration = Duration::from_secs(60);

/// How long the first rule evaluation and scrape may take.
const WAIT: Duration = Duration::from_secs(30);

/// A server evaluating an alerting rule (`UiAlways`, always firing after its `for`) and a
/// recording rule every second and scraping one target where nothing listens (`ui_down`;
/// relabeling drops its second, `dropped.invalid:9`),
/// holding `ui_sample{i, note}` = j + i at `base_s` + 15 j seconds (j = 0…40, i = 0…2) and
/// `ui_lonely` = 1 at `base_s` + 600, as `ui_graph_script.js` expects them (recent: the rules'
/// and scrapes' samples now would let retention take a head cut of older ones); returned
/// once each rule was evaluated and the target scraped.
fn start_with_series(dir: &std::path::Path, base_s: i64) -> Server {
    std::fs::write(
        dir.join("rules.yml"),
        "groups:\n- name: ui_group\n  rules:\n  - alert: UiAlways\n    expr: vector(1)\n    for: 1h\n    labels: {page: \"<i>yes</i>\"}\n  - record: uirule:sum\n    expr: sum(ui_sample)\n",
    )
    .expect("rules");
    let scrape = format!(
        "global:\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nscrape_configs:\n- job_name: ui_down\n  scrape_interval: 1s\n  static_configs:\n  - targets: ['127.0.0.1:{}', 'dropped.invalid:9']\n  relabel_configs:\n  - source_labels: [__address__]\n    regex: 'dropped\\.invalid:9'\n    action: drop\n",
        free_port()
    );
    let server = Server::start(&write_scrape_config(dir, scrape));
    let indexes = ["0", "1", "2"];
    let mut series: Vec<_> = indexes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let samples: Vec<(i64, f64)> = (0..=40).map(|j| ((base_s + 15 * j) * 1000, (j + i as i64) as f64)).collect();
            (vec![("__name__", "ui_sample"), ("i", *name), ("note", "<b>\"x\"</b>")], samples)
        })
        .collect();
    series.push((vec![("__name__", "ui_lonely")], vec![((base_s + 600) * 1000, 1.0)]));
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&series));
    assert_eq!(reply.status, 204, "{}", reply.body);
    poll("the rules evaluated", WAIT, || {
        let (_, rules) = get_json(&server.url("/api/v1/rules"));
        let evaluated = rules["data"]["groups"][0]["rules"].as_array()?.iter().all(|r| r["lastEvaluation"].as_str().is_some_and(|t| !t.starts_with("0001")));
        let pending = rules["data"]["groups"][0]["rules"][0]["alerts"].as_array().is_some_and(|a| !a.is_empty());
        (evaluated && pending).then_some(())
    });
    poll_targets(&server, WAIT, |t| t["data"]["activeTargets"][0]["lastError"].as_str().is_some_and(|e| !e.is_empty()));
    server
}

fn get(url: &str) -> Reply {
    reply_or_status(url, agent().get(url).call())
}

/// The quoted first arguments of `call(` in `text`.
fn quoted_arguments<'a>(text: &'a str, call: &str) -> Vec<&'a str> {
    text.match_indices(call).filter_map(|(at, _)| text[at + call.len()..].strip_prefix('"')?.split('"').next()).collect()
}

#[test]
fn the_query_page_is_served_and_everything_it_calls_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let base_s = now_s / 15 * 15 - 1200;
    let (end, range_start) = ((base_s + 600).to_string(), base_s.to_string());
    let server = start_with_series(dir.path(), base_s);
    let page = get(&server.url("/graph?g0.expr=up&g0.tab=1"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(page.header("content-security-policy").is_some_and(|csp| csp.contains("default-src 'self'")), "{:?}", page.header("content-security-policy"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert!(page.body.contains("function parsePanels") && page.body.trim_end().ends_with("</html>"), "the script is inlined");
    for path in ["/vmui/", "/prometheus/graph", "/graph/", "/service-discovery", "/tsdb-status", "/status"] {
        let other = get(&server.url(path));
        assert_eq!((other.status, other.body.as_str()), (200, page.body.as_str()), "{path}");
    }
    // Prometheus' /alerts and /rules: the page for a browser, the API's answer for another
    // client (as VictoriaMetrics answers them).
    for (path, api) in [("/alerts", "/api/v1/alerts"), ("/rules", "/api/v1/rules")] {
        let browser = reply_or_status(path, agent().get(&server.url(path)).set("Accept", "text/html").call());
        assert_eq!((browser.status, browser.body.as_str()), (200, page.body.as_str()), "{path}");
        let (status, json) = get_json(&server.url(path));
        assert_eq!(status, 200, "{path}: {json}");
        assert_eq!(json["data"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()), get_json(&server.url(api)).1["data"].as_object().map(|d| d.keys().cloned().collect()), "{path}");
        assert!(json.to_string().contains("UiAlways"), "{path}: {json}");
    }
    // /query, Prometheus 3's page path, is the page for a browser and InfluxDB's query
    // endpoint for everything else.
    let browser = reply_or_status("/query as a browser", agent().get(&server.url("/query")).set("Accept", "text/html").call());
    assert_eq!((browser.status, browser.body.as_str()), (200, page.body.as_str()));
    let influx = get(&server.url("/query?q=SHOW%20DATABASES"));
    assert!(influx.status == 200 && influx.body.contains("\"results\""), "{}", influx.body);
    // /flags: VictoriaMetrics' text for curl (a `-name="value"` line per flag), the page for a
    // browser.
    let flags = get(&server.url("/flags"));
    assert!(flags.status == 200 && flags.body.lines().any(|l| l == "-web.enable-admin-api=\"false\""), "{}", flags.body);
    assert!(flags.body.lines().all(|l| l.starts_with('-') && l.ends_with('"') && l.contains("=\"")), "{}", flags.body);
    let browser = reply_or_status("/flags as a browser", agent().get(&server.url("/flags")).set("Accept", "text/html").call());
    assert_eq!((browser.status, browser.body.as_str()), (200, page.body.as_str()));
    // /targets: VictoriaMetrics' text for curl, the page for a browser.
    let text = get(&server.url("/targets"));
    assert!(text.status == 200 && text.body.starts_with("job=ui_down (0/1 up)"), "{}", text.body);
    let browser = reply_or_status("/targets as a browser", agent().get(&server.url("/targets")).set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8").call());
    assert_eq!((browser.status, browser.body.as_str()), (200, page.body.as_str()));
    let head = reply_or_status("HEAD /graph", agent().head(&server.url("/graph")).call());
    assert_eq!(head.status, 200);
    // VictoriaMetrics' bare /vmui goes to /vmui/, relative so that it holds behind a prefix.
    let redirect = reply_or_status("/vmui", ureq::AgentBuilder::new().redirects(0).build().get(&server.url("/vmui")).call());
    assert_eq!((redirect.status, redirect.header("location")), (302, Some("vmui/")));
    let refused = reply_or_status("POST /graph", agent().post(&server.url("/graph")).send_string(""));
    assert_eq!(refused.status, 405, "{}", refused.body);

    // Every navigation link (made absolute from the page's path, as the script does).
    let links = quoted_arguments(&page.body, "data-api=");
    assert!(links.len() >= 8, "{links:?}");
    for link in links {
        let answer = get(&server.url(&format!("/{link}")));
        assert_eq!(answer.status, 200, "link {link:?}: {}", answer.body);
    }
    // Every API call of the script, with the form it sends (none: a GET).
    let calls = quoted_arguments(&page.body, "callApi(");
    assert_eq!(calls, ["api/v1/query", "api/v1/query_range", "api/v1/features", "api/v1/label/__name__/values", "api/v1/labels", "api/v1/label/__name__/values"]);
    // And the status views' (named in a table of the script, each read with a GET).
    for view_api in ["api/v1/rules?type=alert", "api/v1/rules", "api/v1/targets?state=active", "api/v1/targets", "api/v1/status/flags", "api/v1/status/top_queries", "api/v1/status/active_queries"] {
        assert!(page.body.contains(&format!("[[\"{view_api}\"], ")), "{view_api}");
    }
    // The TSDB status view's path carries its page's query (`tsdbStatusPath`, checked by node).
    assert!(page.body.contains("[[tsdbStatusPath(window.location.search)], ") && page.body.contains("return \"api/v1/status/tsdb\" + "));
    assert!(page.body.contains("[[\"api/v1/status/buildinfo\", \"api/v1/status/runtimeinfo\"], "));
    for (path, form) in [
        ("api/v1/query", Some(format!("query=ui_sample&time={end}"))),
        ("api/v1/query_range", Some(format!("query=ui_sample&start={range_start}&end={end}&step=14"))),
        ("api/v1/label/__name__/values", None),
        ("api/v1/features", None),
        ("api/v1/labels", None),
        ("api/v1/rules?type=alert", None),
        ("api/v1/rules", None),
        ("api/v1/targets?state=active", None),
        ("api/v1/targets", None),
        ("api/v1/status/tsdb", None),
        ("api/v1/status/flags", None),
        ("api/v1/status/buildinfo", None),
        ("api/v1/status/runtimeinfo", None),
        ("api/v1/status/top_queries", None),
        ("api/v1/status/active_queries", None),
    ] {
        let url = server.url(&format!("/{path}"));
        let sent = match form {
            Some(form) => agent().post(&url).set("Content-Type", "application/x-www-form-urlencoded").send_string(&form),
            None => agent().get(&url).call(),
        };
        let answer = reply_or_status(path, sent);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        assert!(["ui_sample", "UiAlways", "ui_down", "storage.tsdb.path", "version", "startTime", "topByCount", "\"data\":[", "promql_functions"].iter().any(|name| answer.body.contains(name)), "{path}: {}", answer.body);
    }

    let Some(node) = std::env::var_os("METRICSTOR_NODE_BIN").filter(|n| !n.is_empty()) else {
        eprintln!("SKIPPED: node checks of the page's script (set METRICSTOR_NODE_BIN; bash .ci/run does)");
        assert!(server.stop());
        return;
    };
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(node);
    command.arg(manifest.join("tests/ui_graph_script.js")).arg(manifest.join("src/api/ui/graph.js")).arg(server.url("")).arg(&range_start);
    let (status, stdout, stderr) = output_within(command, NODE_DEADLINE, "the node checks");
    assert!(status.success() && stdout.contains("ui script checks passed"), "node: {status}\n{stdout}\n{stderr}");
    assert!(server.stop());
}
