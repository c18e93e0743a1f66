//! End-to-end: VictoriaMetrics' Graphite query surface on the real binary. Graphite-style
//! names and tagged series written with remote_write, then the metrics API (find in both
//! formats, expand, index.json), the tags API (tags, values, findSeries, auto-complete,
//! tagMultiSeries, delSeries), `{__graphite__="…"}` in PromQL, and `/render` answers
//! compared whole; read filters confine each of them; bad input is a 400 naming it.

mod support;

use serde_json::{json, Value};
use support::*;

/// Samples every 10 s for five minutes, the first on a 10 s boundary ten minutes ago.
fn base_seconds() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_secs() as i64;
    now / 10 * 10 - 600
}

const POINTS: i64 = 30;

/// The test data: three CPU names under `servers.`, a name that is both a leaf and a node
/// (`servers.web2` and `servers.web2.cpu.user`), two tagged `disk.used` series and a
/// Prometheus-style series. Returns the first sample's time in seconds.
fn write_data(server: &Server) -> i64 {
    let base = base_seconds();
    let samples = |scale: f64| (0..POINTS).map(|i| ((base + i * 10) * 1000, scale * i as f64)).collect::<Vec<_>>();
    let body = v1_request(&[
        (vec![("__name__", "servers.web1.cpu.user")], samples(1.0)),
        (vec![("__name__", "servers.web1.cpu.system")], samples(2.0)),
        (vec![("__name__", "servers.web2.cpu.user")], samples(10.0)),
        (vec![("__name__", "servers.web2")], samples(3.0)),
        (vec![("__name__", "disk.used"), ("dc", "us-east"), ("server", "s1")], samples(100.0)),
        (vec![("__name__", "disk.used"), ("dc", "eu"), ("server", "s2")], samples(200.0)),
        (vec![("__name__", "up"), ("job", "node")], samples(0.0)),
    ]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    base
}

/// GET `path`: status, Content-Type and body.
fn get(server: &Server, path: &str) -> (u16, String, String) {
    let reply = reply_or_status(path, agent().get(&server.url(path)).call());
    let content_type = reply.header("content-type").unwrap_or("").to_string();
    (reply.status, content_type, reply.body)
}

/// GET `path`, expecting a 200 JSON answer.
fn get_ok(server: &Server, path: &str) -> Value {
    let (status, content_type, body) = get(server, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert_eq!(content_type, "application/json", "{path}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// GET `path`, expecting a 400 whose message holds `needle`.
fn assert_refused(server: &Server, path: &str, needle: &str) {
    let (status, _, body) = get(server, path);
    assert_eq!(status, 400, "{path}: {body}");
    assert!(body.contains(needle), "{path}: {body} lacks {needle:?}");
}

fn start(dir: &std::path::Path) -> (Server, i64) {
    let server = Server::start(&write_config(dir, "  enable_admin_api: true\n"));
    let base = write_data(&server);
    (server, base)
}

#[test]
fn the_metrics_api_walks_the_tree_of_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) = start(dir.path());

    let top = get_ok(&server, "/metrics/find?query=*");
    assert_eq!(top, json!([
        {"id": "disk", "text": "disk", "allowChildren": 1, "expandable": 1, "leaf": 0},
        {"id": "servers", "text": "servers", "allowChildren": 1, "expandable": 1, "leaf": 0},
        {"id": "up", "text": "up", "allowChildren": 0, "expandable": 0, "leaf": 1},
    ]));
    // servers.web2 is a leaf and a node: one expandable entry.
    let servers = get_ok(&server, "/metrics/find?query=servers.*&wildcards=1");
    assert_eq!(servers, json!([
        {"id": "servers.web1", "text": "web1", "allowChildren": 1, "expandable": 1, "leaf": 0},
        {"id": "servers.web2", "text": "web2", "allowChildren": 1, "expandable": 1, "leaf": 0},
        {"id": "servers.*", "text": "*", "allowChildren": 1, "expandable": 1, "leaf": 0},
    ]));
    // A wildcard inside the query stays in the ids, as graphite-web gives them.
    let cpus = get_ok(&server, "/graphite/metrics/find?query=servers.*.cpu.*");
    assert_eq!(cpus, json!([
        {"id": "servers.*.cpu.system", "text": "system", "allowChildren": 0, "expandable": 0, "leaf": 1},
        {"id": "servers.*.cpu.user", "text": "user", "allowChildren": 0, "expandable": 0, "leaf": 1},
    ]));
    let leaves = get_ok(&server, "/metrics/find?query=servers.web*&leavesOnly=1");
    assert_eq!(leaves, json!([{"id": "servers.web2", "text": "web2", "allowChildren": 0, "expandable": 0, "leaf": 1}]));
    let braces = get_ok(&server, "/metrics/find?query=servers.{web1,web3}.cpu.[su]*");
    assert_eq!(braces.as_array().map(Vec::len), Some(2), "{braces}");
    let completer = get_ok(&server, "/metrics/find?query=servers.web1.cpu.u&format=completer");
    assert_eq!(completer, json!({"metrics": [{"path": "servers.web1.cpu.user", "name": "user", "is_leaf": 1}]}));
    // Nothing before the data's time range; times as Grafana sends them.
    assert_eq!(get_ok(&server, "/metrics/find?query=*&until=1000"), json!([]));
    assert_eq!(get_ok(&server, "/metrics/find?query=up&from=-1h&until=now"), json!([{"id": "up", "text": "up", "allowChildren": 0, "expandable": 0, "leaf": 1}]));
    assert_eq!(get_ok(&server, "/metrics/find?query=up&from=-2h&until=-1h"), json!([]));
    assert_refused(&server, "/metrics/find?query=*&from=noonish", "from");

    let expand = get_ok(&server, "/metrics/expand?query=servers.*.cpu.user&query=disk.*");
    assert_eq!(expand, json!({"results": ["disk.used", "servers.web1.cpu.user", "servers.web2.cpu.user"]}));
    let grouped = get_ok(&server, "/metrics/expand?query=servers.*&groupByExpr=1");
    assert_eq!(grouped, json!({"results": {"servers.*": ["servers.web1.", "servers.web2.", "servers.web2"]}}));
    let index = get_ok(&server, "/metrics/index.json");
    assert_eq!(index, json!(["disk.used", "servers.web1.cpu.system", "servers.web1.cpu.user", "servers.web2", "servers.web2.cpu.user", "up"]));

    // Read filters confine find and expand; several extra_filters[] are alternatives.
    let up_leaf = json!({"id": "up", "text": "up", "allowChildren": 0, "expandable": 0, "leaf": 1});
    let disk_node = json!({"id": "disk", "text": "disk", "allowChildren": 1, "expandable": 1, "leaf": 0});
    assert_eq!(get_ok(&server, "/metrics/find?query=*&extra_label=job=node"), json!([up_leaf]));
    assert_eq!(get_ok(&server, "/metrics/find?query=*&extra_filters[]={job=\"node\"}&extra_filters[]={dc=\"eu\"}"), json!([disk_node, up_leaf]));
    assert_eq!(get_ok(&server, "/metrics/expand?query=*.*&query=servers.*.cpu.*&extra_filters[]={dc=\"eu\"}"), json!({"results": ["disk.used"]}));
    // A group holding the delimiter is matched against whole names.
    let across = get_ok(&server, "/metrics/expand?query=servers.{web1.cpu,web2}.*");
    assert_eq!(across, json!({"results": ["servers.web2.cpu.", "servers.web1.cpu.system", "servers.web1.cpu.user"]}));
    assert_eq!(get_ok(&server, "/metrics/find?query=servers.web1.cpu.user.*"), json!([]));
    assert_eq!(get_ok(&server, "/metrics/find?query=nothing.*.here"), json!([]));

    let (status, content_type, body) = get(&server, "/metrics/find?query=up&jsonp=cb_1");
    assert_eq!((status, content_type.as_str()), (200, "text/javascript; charset=utf-8"));
    assert_eq!(body, r#"cb_1([{"id":"up","text":"up","allowChildren":0,"expandable":0,"leaf":1}])"#);

    assert_refused(&server, "/metrics/find", "missing parameter \\\"query\\\"");
    assert_refused(&server, "/metrics/find?query=*&format=pickle", "format");
    assert_refused(&server, "/metrics/find?query=*&delimiter=ab", "single character");
    assert_refused(&server, "/metrics/find?query=*&jsonp=alert(1)", "jsonp");
    assert_refused(&server, "/metrics/expand", "query");
    assert!(server.stop());
}

#[test]
fn the_tags_api_lists_finds_and_deletes_tagged_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, _) = start(dir.path());

    assert_eq!(get_ok(&server, "/tags"), json!([{"tag": "dc"}, {"tag": "job"}, {"tag": "name"}, {"tag": "server"}]));
    assert_eq!(get_ok(&server, "/tags?filter=s&limit=5"), json!([{"tag": "server"}]));
    assert_eq!(get_ok(&server, "/tags/dc"), json!({"tag": "dc", "values": [{"count": 1, "value": "eu"}, {"count": 1, "value": "us-east"}]}));
    assert_eq!(get_ok(&server, "/tags/name?filter=disk"), json!({"tag": "name", "values": [{"count": 1, "value": "disk.used"}]}));

    let found = get_ok(&server, "/tags/findSeries?expr=name=disk.used&expr=dc=~us");
    assert_eq!(found, json!(["disk.used;dc=us-east;server=s1"]));
    // `=~` matches from the start only.
    assert_eq!(get_ok(&server, "/tags/findSeries?expr=dc=~east"), json!([]));
    assert_eq!(get_ok(&server, "/tags/findSeries?expr=name=disk.used&expr=server!=s1"), json!(["disk.used;dc=eu;server=s2"]));
    assert_eq!(get_ok(&server, "/tags/findSeries?expr=name=~servers.web1"), json!(["servers.web1.cpu.system", "servers.web1.cpu.user"]));

    assert_eq!(get_ok(&server, "/tags/autoComplete/tags?tagPrefix=d"), json!(["dc"]));
    assert_eq!(get_ok(&server, "/tags/autoComplete/tags?expr=job=node"), json!(["job", "name"]));
    assert_eq!(get_ok(&server, "/tags/autoComplete/values?tag=server&valuePrefix=s"), json!(["s1", "s2"]));
    assert_eq!(get_ok(&server, "/tags/autoComplete/values?tag=server&expr=dc=eu"), json!(["s2"]));
    assert_eq!(get_ok(&server, "/tags/autoComplete/values?tag=name&limit=1"), json!(["disk.used"]));

    let registered = post_plain(&server.url("/tags/tagMultiSeries"), "application/x-www-form-urlencoded", b"path=a.b%3Bz%3D1%3Bc%3D2&path=x");
    assert_eq!((registered.status, registered.body.as_str()), (200, r#"["a.b;c=2;z=1","x"]"#));
    let one = post_plain(&server.url("/tags/tagSeries"), "application/x-www-form-urlencoded", b"path=a.b%3Bz%3D1");
    assert_eq!((one.status, one.body.as_str()), (200, r#""a.b;z=1""#));

    // Read filters confine every listing.
    assert_eq!(get_ok(&server, "/tags/findSeries?expr=name=disk.used&extra_label=dc=eu"), json!(["disk.used;dc=eu;server=s2"]));
    assert_eq!(get_ok(&server, "/tags/dc?extra_label=dc=eu"), json!({"tag": "dc", "values": [{"count": 1, "value": "eu"}]}));
    assert_eq!(get_ok(&server, "/metrics/index.json?extra_filters[]={dc=\"us-east\"}"), json!(["disk.used"]));

    assert_refused(&server, "/tags/findSeries", "expr");
    assert_refused(&server, "/tags/findSeries?expr=dc!=x", "non-empty value");
    assert_refused(&server, "/tags/findSeries?expr=dc", "dc");
    assert_refused(&server, "/tags/autoComplete/values", "tag");

    let deleted = post_plain(&server.url("/tags/delSeries"), "application/x-www-form-urlencoded", b"path=disk.used%3Bserver%3Ds2");
    assert_eq!((deleted.status, deleted.body.as_str()), (200, "true"));
    assert_eq!(get_ok(&server, "/tags/findSeries?expr=name=disk.used"), json!(["disk.used;dc=us-east;server=s1"]));
    let again = post_plain(&server.url("/tags/delSeries"), "application/x-www-form-urlencoded", b"path=disk.used%3Bserver%3Ds2");
    assert_eq!((again.status, again.body.as_str()), (200, "false"));
    assert!(server.stop());
}

#[test]
fn del_series_needs_the_admin_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    write_data(&server);
    let refused = post_plain(&server.url("/tags/delSeries"), "application/x-www-form-urlencoded", b"path=up");
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(get_ok(&server, "/tags/findSeries?expr=name=up"), json!(["up;job=node"]));
    assert!(server.stop());
}

#[test]
fn promql_selects_names_by_graphite_glob() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, base) = start(dir.path());
    let at = base + 100;
    let body = get_ok(&server, &format!("/api/v1/query?query={}&time={at}", percent_encode(r#"sort({__graphite__="servers.*.cpu.user"})"#)));
    let result = body["data"]["result"].as_array().cloned().unwrap_or_default();
    let names: Vec<(&str, &str)> = result.iter().map(|s| (s["metric"]["__name__"].as_str().unwrap_or(""), s["value"][1].as_str().unwrap_or(""))).collect();
    assert_eq!(names, vec![("servers.web1.cpu.user", "10"), ("servers.web2.cpu.user", "100")], "{body}");
    let series = get_ok(&server, &format!("/api/v1/series?match[]={}", percent_encode(r#"{__graphite__!="servers.*.cpu.*",__name__=~"servers.*"}"#)));
    assert_eq!(series["data"], json!([{"__name__": "servers.web2"}]));
    assert!(server.stop());
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` in UTC (days to civil date by the proleptic
/// Gregorian calendar).
fn utc_text(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Every non-null point of a rendered series, as (seconds, value).
fn points(series: &Value) -> Vec<(i64, f64)> {
    series["datapoints"].as_array().map(|points| points.iter().filter_map(|p| Some((p[1].as_i64()?, p[0].as_f64()?))).collect()).unwrap_or_default()
}

#[test]
fn render_evaluates_targets_over_the_stored_samples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (server, base) = start(dir.path());
    // The grid is [from, until), as VictoriaMetrics lays it.
    let until = base + POINTS * 10;
    let render = |target: &str| get_ok(&server, &format!("/render?format=json&from={base}&until={until}&target={}", percent_encode(target)));

    let sum = render("sumSeries(servers.*.cpu.user)");
    assert_eq!(sum.as_array().map(Vec::len), Some(1), "{sum}");
    let expected: Vec<(i64, f64)> = (0..POINTS).map(|i| (base + i * 10, 11.0 * i as f64)).collect();
    assert_eq!(points(&sum[0]), expected, "{sum}");
    assert_eq!(sum[0]["target"], "sumSeries(servers.*.cpu.user)");

    let tagged = render("seriesByTag('name=disk.used')");
    let targets: Vec<&str> = tagged.as_array().map(|a| a.iter().filter_map(|s| s["target"].as_str()).collect()).unwrap_or_default();
    assert_eq!(targets, vec!["disk.used;dc=eu;server=s2", "disk.used;dc=us-east;server=s1"], "{tagged}");
    assert_eq!(tagged[0]["tags"], json!({"name": "disk.used", "dc": "eu", "server": "s2"}));
    assert_eq!(points(&tagged[1])[3], (base + 30, 300.0));

    let aliased = render("aliasByNode(scale(servers.web1.cpu.*, 2), 2, 3)");
    let names: Vec<&str> = aliased.as_array().map(|a| a.iter().filter_map(|s| s["target"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, vec!["cpu.system", "cpu.user"], "{aliased}");
    assert_eq!(points(&aliased[0])[5], (base + 50, 20.0));

    // Functions that build and evaluate further targets, under the request's read filters.
    let applied = render("applyByNode(servers.*.cpu.user, 1, 'sumSeries(%.cpu.*)')");
    let names: Vec<&str> = applied.as_array().map(|a| a.iter().filter_map(|s| s["target"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, vec!["sumSeries(servers.web1.cpu.*)", "sumSeries(servers.web2.cpu.*)"], "{applied}");
    assert_eq!((points(&applied[0])[2], points(&applied[1])[2]), ((base + 20, 6.0), (base + 20, 20.0)));
    let queried = render("aliasQuery(servers.web1.cpu.user, 'user', 'system', 'system at %d')");
    assert_eq!(queried[0]["target"], "system at 58", "{queried}");
    let confined_query = format!("/render?from={base}&until={until}&target={}&extra_filters[]={{__name__=\"servers.web1.cpu.user\"}}", percent_encode("aliasQuery(servers.web1.cpu.user, 'user', 'system', '%d')"));
    assert_refused(&server, &confined_query, "no series found");

    // graphite-web's csv and raw formats.
    let two = format!("/render?from={base}&until={}&target=servers.web2", base + 20);
    let (status, content_type, csv) = get(&server, &format!("{two}&format=csv"));
    assert_eq!((status, content_type.as_str()), (200, "text/csv"), "{csv}");
    assert_eq!(csv, format!("servers.web2,{},0.0\r\nservers.web2,{},3.0\r\n", utc_text(base), utc_text(base + 10)));
    let (status, content_type, raw) = get(&server, &format!("{two}&format=raw"));
    assert_eq!((status, content_type.as_str()), (200, "text/plain; charset=utf-8"), "{raw}");
    assert_eq!(raw, format!("servers.web2,{base},{},10|0.0,3.0\n", base + 20));

    // Grafana's request: a POSTed form, relative times, maxDataPoints.
    let form = format!("target={}&from=-15min&until=now&format=json&maxDataPoints=10", percent_encode("sumSeries(servers.web1.cpu.*)"));
    let posted = post_plain(&server.url("/render"), "application/x-www-form-urlencoded", form.as_bytes());
    assert_eq!(posted.status, 200, "{}", posted.body);
    let posted: Value = serde_json::from_str(&posted.body).expect("JSON");
    let consolidated = points(&posted[0]);
    assert!(!consolidated.is_empty() && posted[0]["datapoints"].as_array().is_some_and(|p| p.len() <= 10), "{posted}");

    // Read filters hold in render too.
    let confined = get_ok(&server, &format!("/render?from={base}&until={until}&target={}&extra_label=dc=us-east", percent_encode("seriesByTag('name=disk.used')")));
    assert_eq!(confined.as_array().map(Vec::len), Some(1), "{confined}");

    let (status, _, body) = get(&server, &format!("/render?from={base}&until={until}&target={}", percent_encode("noSuchFunction(a.b)")));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("noSuchFunction"), "{body}");
    assert_refused(&server, "/render?target=a&format=pickle", "format");
    assert_eq!(utc_text(951_782_400), "2000-02-29 00:00:00");
    assert_refused(&server, "/render?target=a&from=yesterdayish", "from");

    let functions = get_ok(&server, "/functions");
    assert!(functions.get("sumSeries").is_some(), "{functions}");
    assert_eq!(get_ok(&server, "/functions/sumSeries")["name"], "sumSeries");
    assert!(server.stop());
}

#[test]
fn one_render_shares_the_sample_limit_among_its_fetches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  max_samples_per_query: 100\n"));
    let base = write_data(&server);
    let until = base + POINTS * 10;
    let render = |targets: &[&str]| {
        let targets: Vec<String> = targets.iter().map(|t| format!("target={}", percent_encode(t))).collect();
        get(&server, &format!("/render?from={base}&until={until}&{}", targets.join("&")))
    };
    // Three series of 30 samples: 90, within the limit.
    let (status, _, body) = render(&["servers.web1.cpu.user", "servers.web1.cpu.system", "servers.web2.cpu.user"]);
    assert_eq!(status, 200, "{body}");
    // A fourth fetch of 30 passes the limit, though no fetch alone does; so does a function
    // fetching its argument again.
    let (status, _, body) = render(&["servers.web1.cpu.user", "servers.web1.cpu.system", "servers.web2.cpu.user", "servers.web2"]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("too many samples"), "{body}");
    let (status, _, body) = render(&["aliasQuery(servers.*.cpu.user, 'user', 'user', '%d')", "servers.web2"]);
    assert_eq!(status, 422, "{body}");
    assert!(server.stop());
}

/// Threads of the server process whose name starts with `prefix` (Linux cuts names to 15
/// bytes).
fn threads_named(server: &Server, prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", server.child.id())) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with(prefix)))
        .count()
}

#[test]
fn a_long_render_leaves_the_executor_free_and_stops_at_the_query_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    // One executor, so a render evaluated on it would hold up every other request.
    let config = write_config_with(dir.path(), "  cores: 1\n  header_read_timeout_seconds: 2\n  query_timeout_seconds: 5\n  max_concurrent_queries: 1\n", "");
    let server = Server::start(&config);
    let base = write_data(&server);
    // About 864,000 points of 10 s, each the median of the 10,000 before it: minutes of work,
    // far past the timeout.
    let slow = format!("/render?from=-100d&until=now&target={}", percent_encode("movingMedian(time('t',10),10000)"));
    let slow_url = server.url(&slow);
    let slow = std::thread::spawn(move || reply_or_status(&slow_url, agent().get(&slow_url).call()));
    poll("a render thread", std::time::Duration::from_secs(20), || (threads_named(&server, "metricstor-rend") == 1 || slow.is_finished()).then_some(()));
    assert!(!slow.is_finished(), "the render ended at once: {}", slow.join().map(|r| r.body).unwrap_or_default());
    // Meanwhile the executor takes a write and answers a read of it.
    let body = v1_request(&[(vec![("__name__", "written.during.render")], vec![(base * 1000, 1.0)])]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let found = get_ok(&server, "/metrics/find?query=written.during.*");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{found}");
    assert!(!slow.is_finished(), "the render ended before the write and the read were answered");
    let reply = slow.join().expect("render thread");
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("render timed out after 5s"), "{}", reply.body);
    // The evaluation sees the cancel flag and stops, giving back the only query slot.
    poll("the render's evaluation to stop after its timeout", std::time::Duration::from_secs(20), || (threads_named(&server, "metricstor-rend") == 0).then_some(()));
    let until = base + POINTS * 10;
    let (status, _, body) = get(&server, &format!("/render?from={base}&until={until}&target=servers.web2"));
    assert_eq!(status, 200, "{body}");
    assert!(server.stop());
}
