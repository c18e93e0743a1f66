//! Interop with the VictoriaMetrics tools people keep when Metricstor replaces
//! VictoriaMetrics single-node (Debian's `victoria-metrics` 1.79 package): vmagent, vmalert,
//! vmctl, vmauth, vmbackup, vmrestore and VictoriaMetrics itself, each against the real binary. Each test runs when
//! the `METRICSTOR_*_BIN` variables of its tools are set (`.ci/run` installs the package and
//! sets them); otherwise it says why it skipped.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::*;

/// Starts `binary` with `args`, its output in `log`; killed when dropped.
fn start_tool(binary: &str, args: &[String], log: &Path) -> KillOnDrop {
    let out = std::fs::File::create(log).expect("create tool log");
    let err = out.try_clone().expect("clone log handle");
    let child = Command::new(binary).args(args).stdout(Stdio::from(out)).stderr(Stdio::from(err)).spawn().expect("start tool");
    KillOnDrop(child)
}

/// GETs `url` every 250 ms until `accept` takes its JSON; fails after `limit` saying what
/// did not arrive, with the tool's log.
fn poll<T>(url: &str, limit: Duration, what: &str, log: &Path, accept: impl Fn(&Value) -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(r) = agent().get(url).call() {
            let body: Value = serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default();
            if let Some(found) = accept(&body) {
                return found;
            }
        }
        if Instant::now() >= deadline {
            panic!("{what} did not arrive within {limit:?}; tool log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn query_url(server: &Server, prefix: &str, query: &str) -> String {
    let encoded: String = query
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    server.url(&format!("{prefix}/api/v1/query?query={encoded}"))
}

/// The instant vector's (labels, value) pairs, or None when the answer is not a success.
fn vector(body: &Value) -> Option<Vec<(Value, String)>> {
    if body["status"] != "success" {
        return None;
    }
    let result = body["data"]["result"].as_array()?;
    Some(result.iter().map(|s| (s["metric"].clone(), s["value"][1].as_str().unwrap_or("").to_string())).collect())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// vmagent scrapes a target and remote_writes to us through VictoriaMetrics' `/prometheus/`
/// path prefix with an `extra_label`.
#[test]
fn vmagent_scrapes_and_remote_writes_through_the_prometheus_prefix() {
    let Ok(vmagent) = std::env::var("METRICSTOR_VMAGENT_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VMAGENT_BIN (bash .ci/run does) to run the vmagent interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    // vmagent scrapes our own /metrics: a real target it parses with its own parser.
    let scrape = dir.path().join("scrape.yml");
    let target = server.http_addr.clone();
    std::fs::write(&scrape, format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    static_configs:\n      - targets: ['{target}']\n")).unwrap();
    let log = dir.path().join("vmagent.log");
    let _vmagent = start_tool(
        &vmagent,
        &[
            format!("-promscrape.config={}", scrape.display()),
            format!("-remoteWrite.url={}", server.url("/prometheus/api/v1/write?extra_label=via=vmagent")),
            format!("-remoteWrite.tmpDataPath={}", dir.path().join("vmagent-data").display()),
            format!("-httpListenAddr=127.0.0.1:{}", free_port()),
            "-remoteWrite.flushInterval=200ms".to_string(),
        ],
        &log,
    );
    let up = poll(&query_url(&server, "/prometheus", "up{via=\"vmagent\"}"), Duration::from_secs(60), "up{via=\"vmagent\"}", &log, |body| {
        vector(body).filter(|v| !v.is_empty())
    });
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].0, serde_json::json!({"__name__": "up", "instance": target, "job": "self", "via": "vmagent"}));
    assert_eq!(up[0].1, "1");
    // What it scraped from us is stored as scraped, with vmagent's extra label and its target
    // labels: our build info and process metrics among the rest.
    let scraped = poll(
        &query_url(&server, "", "sum(scrape_samples_scraped{via=\"vmagent\"}) > 0 and count(metricstor_build_info{job=\"self\",via=\"vmagent\"} == 1) == 1 and count(process_resident_memory_bytes{via=\"vmagent\"} > 1e6) == 1"),
        Duration::from_secs(30),
        "scrape_samples_scraped, metricstor_build_info and process_resident_memory_bytes",
        &log,
        |body| vector(body).filter(|v| v.len() == 1),
    );
    assert!(scraped[0].1.parse::<f64>().expect("a number") > 10.0, "{scraped:?}");
    assert!(server.stop());
}

/// GET `url` through vmauth as `user:password` (`basic`: their base64); the status and JSON.
fn get_as(url: &str, basic: &str) -> (u16, Value) {
    match agent().get(url).set("Authorization", &format!("Basic {basic}")).call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => {
            let status = r.status();
            (status, serde_json::from_str(&r.into_string().unwrap_or_default()).unwrap_or_default())
        }
        Err(e) => panic!("GET {url}: {e}"),
    }
}

/// vmauth, configured as its documentation confines a user to one tenant (`url_prefix` with
/// `?extra_label=team=…`), keeps each user to the series of their team.
#[test]
fn vmauth_confines_each_user_to_their_tenant_with_read_filters() {
    let Ok(vmauth) = std::env::var("METRICSTOR_VMAUTH_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VMAUTH_BIN (bash .ci/run does) to run the vmauth interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let samples = vec![(1_000_000, 1.0)];
    let body = v1_request(&[
        (vec![("__name__", "va_up"), ("i", "1"), ("team", "a")], samples.clone()),
        (vec![("__name__", "va_up"), ("i", "2"), ("team", "b")], samples.clone()),
        (vec![("__name__", "va_up"), ("i", "3")], samples),
    ]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    // As vmauth's documentation has it: team a by extra_label, team b by extra_filters[]
    // under the /prometheus/ prefix.
    let config = dir.path().join("auth.yml");
    let base = format!("http://{}", server.http_addr);
    std::fs::write(
        &config,
        format!(
            "users:\n  - username: team-a\n    password: pa\n    url_prefix: \"{base}?extra_label=team=a\"\n  - username: team-b\n    password: pb\n    url_prefix: \"{base}/prometheus?extra_filters%5B%5D=%7Bteam%3D%22b%22%7D\"\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = dir.path().join("vmauth.log");
    let _vmauth = start_tool(&vmauth, &[format!("-auth.config={}", config.display()), format!("-httpListenAddr=127.0.0.1:{port}")], &log);
    let proxy = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while agent().get(&format!("{proxy}/health")).call().is_err() {
        assert!(Instant::now() < deadline, "vmauth did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(100));
    }
    // base64 of "team-a:pa", "team-b:pb" and "team-a:wrong".
    let (team_a, team_b, wrong) = ("dGVhbS1hOnBh", "dGVhbS1iOnBi", "dGVhbS1hOndyb25n");
    let is = |answer: &Value| -> Vec<String> {
        let list = answer["data"]["result"].as_array().or_else(|| answer["data"].as_array()).cloned().unwrap_or_default();
        let mut is: Vec<String> = list.iter().map(|s| s.get("metric").unwrap_or(s)["i"].as_str().unwrap_or("-").to_string()).collect();
        is.sort();
        is
    };
    let query = format!("{proxy}/api/v1/query?query=va_up&time=1000");
    let (status, answer) = get_as(&query, team_a);
    assert_eq!((status, is(&answer)), (200, vec!["1".to_string()]), "{answer}");
    let (status, answer) = get_as(&query, team_b);
    assert_eq!((status, is(&answer)), (200, vec!["2".to_string()]), "{answer}");
    // A user's own extra_label does not replace the proxy's (vmauth keeps its own).
    let (_, answer) = get_as(&format!("{query}&extra_label=team=b"), team_a);
    assert_eq!(is(&answer), vec!["1"], "{answer}");
    let (_, answer) = get_as(&format!("{proxy}/api/v1/series?match[]=va_up"), team_b);
    assert_eq!(is(&answer), vec!["2"], "{answer}");
    let (_, answer) = get_as(&format!("{proxy}/api/v1/label/i/values"), team_a);
    assert_eq!(answer["data"], serde_json::json!(["1"]), "{answer}");
    // An unknown user is refused by vmauth 1.79 with a 400 (`cannot authorize request`).
    let (status, _) = get_as(&query, wrong);
    assert_eq!(status, 400);
    // Directly, unconfined, all three.
    let (_, answer) = get_json(&server.url("/api/v1/query?query=va_up&time=1000"));
    assert_eq!(is(&answer), vec!["1", "2", "3"], "{answer}");
    assert!(server.stop());
}

/// vmalert evaluates recording and alerting rules against our query API, writes their results
/// back by remote_write, and after a restart restores its alert state from us.
#[test]
fn vmalert_evaluates_rules_against_us_writes_back_and_restores_state() {
    let Ok(vmalert) = std::env::var("METRICSTOR_VMALERT_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VMALERT_BIN (bash .ci/run does) to run the vmalert interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    // Two rooms' temperatures over the last minute (within the 5 m lookback for the test's length).
    let now = now_ms();
    let samples = |v: f64| (0..12).map(|k| (now - 60_000 + k * 5_000, v)).collect::<Vec<_>>();
    let body = v1_request(&[
        (vec![("__name__", "room_temperature_celsius"), ("room", "a")], samples(30.0)),
        (vec![("__name__", "room_temperature_celsius"), ("room", "b")], samples(12.5)),
    ]);
    assert_eq!(post(&server.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let rules = dir.path().join("rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: rooms\n    interval: 1s\n    rules:\n      - record: rooms:temperature_celsius:sum\n        expr: sum(room_temperature_celsius)\n      - alert: RoomTooHot\n        expr: room_temperature_celsius > 25\n        for: 2s\n        labels:\n          severity: page\n        annotations:\n          summary: \"room {{ $labels.room }} is at {{ $value }}\"\n",
    )
    .unwrap();
    let vmalert_port = free_port();
    let args = vec![
        format!("-rule={}", rules.display()),
        format!("-datasource.url={}", server.url("")),
        format!("-remoteWrite.url={}", server.url("")),
        format!("-remoteRead.url={}", server.url("")),
        // Nothing listens there: notifications fail (logged), rule state is what we test.
        format!("-notifier.url=http://127.0.0.1:{}", free_port()),
        format!("-httpListenAddr=127.0.0.1:{vmalert_port}"),
        "-evaluationInterval=1s".to_string(),
        "-remoteWrite.flushInterval=200ms".to_string(),
    ];
    let log = dir.path().join("vmalert.log");
    let vmalert_first = start_tool(&vmalert, &args, &log);
    let recorded = poll(&query_url(&server, "", "rooms:temperature_celsius:sum"), Duration::from_secs(60), "the recorded series", &log, |body| {
        vector(body).filter(|v| !v.is_empty())
    });
    assert_eq!(recorded, vec![(serde_json::json!({"__name__": "rooms:temperature_celsius:sum"}), "42.5".to_string())]);
    let firing = poll(&query_url(&server, "", "ALERTS{alertstate=\"firing\"}"), Duration::from_secs(60), "a firing alert in ALERTS", &log, |body| {
        vector(body).filter(|v| !v.is_empty())
    });
    assert_eq!(
        firing,
        vec![(
            serde_json::json!({"__name__": "ALERTS", "alertgroup": "rooms", "alertname": "RoomTooHot", "alertstate": "firing", "room": "a", "severity": "page"}),
            "1".to_string()
        )]
    );
    let active_since = poll(&query_url(&server, "", "ALERTS_FOR_STATE{alertname=\"RoomTooHot\"}"), Duration::from_secs(30), "ALERTS_FOR_STATE", &log, |body| {
        vector(body).filter(|v| v.len() == 1).map(|v| v[0].1.clone())
    });
    drop(vmalert_first);

    // A restarted vmalert reads ALERTS_FOR_STATE back from us and resumes the alert as it was.
    let log = dir.path().join("vmalert-restarted.log");
    let _vmalert = start_tool(&vmalert, &args, &log);
    let restored = poll(&format!("http://127.0.0.1:{vmalert_port}/api/v1/alerts"), Duration::from_secs(60), "a restored alert", &log, |body| {
        body["data"]["alerts"].as_array().and_then(|a| a.iter().find(|x| x["restored"] == true).cloned())
    });
    assert_eq!(restored["name"], "RoomTooHot", "{restored}");
    assert_eq!(restored["labels"]["room"], "a", "{restored}");
    let active_at = restored["activeAt"].as_str().expect("activeAt");
    let seconds: f64 = active_since.parse().expect("ALERTS_FOR_STATE holds the activation time");
    let expected = utc_seconds_text(seconds as i64);
    assert!(active_at.starts_with(&expected), "restored activeAt {active_at}, ALERTS_FOR_STATE says {expected}");
    assert!(server.stop());
}

/// vmctl migrates a Prometheus TSDB (written by promtool) into us through `/api/v1/import`.
#[test]
fn vmctl_migrates_a_prometheus_tsdb_into_us() {
    let (Ok(vmctl), Ok(promtool)) = (std::env::var("METRICSTOR_VMCTL_BIN"), std::env::var("METRICSTOR_PROMTOOL_BIN")) else {
        eprintln!("SKIPPED: set METRICSTOR_VMCTL_BIN and METRICSTOR_PROMTOOL_BIN (bash .ci/run does) to run the vmctl interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    // An hour of two counters and a gauge, as OpenMetrics for promtool, inside one of its
    // two-hour block ranges: vmctl 1.79 loses samples of a snapshot with several blocks, into
    // VictoriaMetrics itself too (it reports 720 samples and imports 630 to 660).
    let start_s = (now_ms() / 1000 / 7200 - 2) * 7200;
    let mut expected: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    let mut text = String::from("# TYPE mig_requests counter\n");
    for k in 0..240i64 {
        for (instance, extra) in [("a", 1.0), ("b", 0.0)] {
            let value = (k * 2) as f64 + extra;
            text.push_str(&format!("mig_requests_total{{instance=\"{instance}\"}} {value} {}\n", start_s + k * 15));
            expected.entry(format!("mig_requests_total/{instance}")).or_default().push(((start_s + k * 15) * 1000, value));
        }
    }
    text.push_str("# TYPE mig_temperature gauge\n");
    for k in 0..240i64 {
        let value = 20.0 + (k % 7) as f64 + 0.5;
        text.push_str(&format!("mig_temperature{{room=\"x\"}} {value} {}\n", start_s + k * 15));
        expected.entry("mig_temperature/".to_string()).or_default().push(((start_s + k * 15) * 1000, value));
    }
    text.push_str("# EOF\n");
    let openmetrics = dir.path().join("input.om");
    std::fs::write(&openmetrics, text).unwrap();
    let tsdb = dir.path().join("prom-tsdb");
    let made = Command::new(&promtool).args(["tsdb", "create-blocks-from", "openmetrics"]).arg(&openmetrics).arg(&tsdb).output().expect("run promtool");
    assert!(made.status.success(), "promtool: {}", String::from_utf8_lossy(&made.stderr));

    // vmctl 1.79 insists on a terminal for its progress bars; `script` gives it one. It can
    // also drop what is still queued for its import workers when it closes them (their input
    // channel is buffered and a worker may see the close first); its own count, "total
    // samples", then says less than 720, against VictoriaMetrics too. Such a run is repeated
    // (re-importing the same samples changes nothing): once it sent all 720, we must hold
    // all 720.
    let command = format!(
        "{vmctl} prometheus --prom-snapshot={} --vm-addr={} --vm-extra-label=migrated=yes -s --vm-disable-progress-bar",
        tsdb.display(),
        server.url("")
    );
    let mut sent_all = false;
    for _attempt in 0..8 {
        let ran = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("run vmctl under script");
        let output = String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
        assert!(ran.status.success(), "vmctl failed: {output}");
        assert!(output.contains("samples: 720;"), "vmctl did not see the 720 samples: {output}");
        if output.contains("total samples: 720;") {
            sent_all = true;
            break;
        }
    }
    assert!(sent_all, "vmctl never sent all 720 samples in 8 runs");

    // Every sample arrived, exactly, with vmctl's extra label.
    let text = agent().get(&server.url("/api/v1/export?match[]=%7Bmigrated%3D%22yes%22%7D")).call().expect("export").into_string().expect("body");
    let mut got: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        let key = format!("{}/{}", v["metric"]["__name__"].as_str().unwrap_or(""), v["metric"]["instance"].as_str().unwrap_or(""));
        let points = got.entry(key).or_default();
        for (t, x) in v["timestamps"].as_array().expect("timestamps").iter().zip(v["values"].as_array().expect("values")) {
            points.push((t.as_i64().expect("timestamp"), x.as_f64().expect("value")));
        }
    }
    for points in got.values_mut() {
        points.sort_by_key(|p| p.0);
    }
    assert_eq!(got, expected);
    assert!(server.stop());
}

/// Series key → (timestamp, value) pairs of a VictoriaMetrics JSON-lines export (a series may
/// span several lines).
fn parse_export(text: &str) -> std::collections::BTreeMap<String, Vec<(i64, f64)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(i64, f64)>> = Default::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        // Labels sorted: VictoriaMetrics exports them in the order they arrived.
        let labels: std::collections::BTreeMap<&str, &Value> = v["metric"].as_object().expect("labels").iter().map(|(k, v)| (k.as_str(), v)).collect();
        let points = out.entry(serde_json::to_string(&labels).expect("labels as JSON")).or_default();
        for (t, x) in v["timestamps"].as_array().expect("timestamps").iter().zip(v["values"].as_array().expect("values")) {
            points.push((t.as_i64().expect("timestamp"), x.as_f64().expect("value")));
        }
    }
    for points in out.values_mut() {
        points.sort_by_key(|p| p.0);
    }
    out
}

/// VictoriaMetrics' own export imports into us unchanged.
#[test]
fn victoriametrics_export_imports_into_us_unchanged() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the VictoriaMetrics migration test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let (_vm, vm, log) = start_victoriametrics(&victoria, dir.path());
    // Two hours of 50 series at 30 s, some values fractional, written to VictoriaMetrics.
    let start = (now_ms() - 3 * 3_600_000) / 1000 * 1000;
    let names: Vec<String> = (0..50).map(|i| format!("{i}")).collect();
    let series: Vec<support::SeriesInput<'_>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let samples = (0..240).map(|k| (start + k * 30_000, (k * (i as i64 + 1)) as f64 / 8.0)).collect();
            (vec![("__name__", "vmmig_value"), ("job", "src"), ("n", n.as_str())], samples)
        })
        .collect();
    let reply = post(&format!("{vm}/api/v1/write"), "application/x-protobuf", &v1_request(&series));
    assert_eq!(reply.status, 204, "{}", reply.body);
    agent().get(&format!("{vm}/internal/force_flush")).call().expect("force flush");
    let selector = "match[]=%7B__name__%3D%22vmmig_value%22%7D";
    poll(&format!("{vm}/api/v1/query?query=count(vmmig_value)&time={}", (start + 7_200_000) / 1000), Duration::from_secs(30), "the written series in VictoriaMetrics", &log, |body| {
        (vector(body)?.first()?.1 == "50").then_some(())
    });
    let from_vm = agent().get(&format!("{vm}/api/v1/export?{selector}")).call().expect("VictoriaMetrics export").into_string().expect("body");
    let vm_series = parse_export(&from_vm);
    assert_eq!(vm_series.len(), 50);
    assert_eq!(vm_series.values().map(Vec::len).sum::<usize>(), 50 * 240);

    // Its export, as it is, into our import; our export then holds the same.
    let reply = post_plain(&server.url("/api/v1/import"), "application/json", from_vm.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let ours = agent().get(&server.url(&format!("/api/v1/export?{selector}"))).call().expect("our export").into_string().expect("body");
    assert_eq!(parse_export(&ours), vm_series);
    assert!(server.stop());
}

/// Series (its labels as JSON, `set` added) → (timestamp, value bits) of a JSON-lines export.
fn exact_export_with(text: &str, set: &[(&str, &str)]) -> std::collections::BTreeMap<String, Vec<(i64, u64)>> {
    exact_export(text, |labels| labels.extend(set.iter().map(|(n, v)| (n.to_string(), v.to_string()))))
}

/// GETs a VictoriaMetrics or Metricstor URL's body as bytes.
fn get_bytes(url: &str) -> Vec<u8> {
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut agent().get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).into_reader(), &mut body).expect("read body");
    body
}

/// `vmctl vm-native` migrates a VictoriaMetrics into us through `/api/v1/import/native`,
/// sample for sample.
#[test]
fn vmctl_vm_native_migrates_victoriametrics_into_us() {
    let (Ok(victoria), Ok(vmctl)) = (std::env::var("METRICSTOR_VICTORIAMETRICS_BIN"), std::env::var("METRICSTOR_VMCTL_BIN")) else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN and METRICSTOR_VMCTL_BIN (bash .ci/run does) to run the vmctl vm-native test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let (_vm, vm, log) = start_victoriametrics(&victoria, dir.path());

    // Ten hours at 15 s: counters (one reset), gauges with decimals and negative values, large
    // integers, small fractions, infinities, and a series that ends with a staleness marker.
    let start = (now_ms() - 10 * 3_600_000) / 1000 * 1000;
    let at = |k: i64| start + k * 15_000;
    let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
    let mut series: Vec<support::SeriesInput<'_>> = Vec::new();
    for (code, step) in [("200", 7i64), ("404", 3), ("500", 1)] {
        let mut total = 0i64;
        let samples = (0..2400)
            .map(|k| {
                total = if k == 1500 { k % 5 } else { total + (k * step) % 13 + 1 };
                (at(k), total as f64)
            })
            .collect();
        series.push((vec![("__name__", "vmnat_requests_total"), ("code", code)], samples));
    }
    for (room, offset) in [("a", 0.0), ("b", -30.0)] {
        let samples = (0..2400).map(|k| (at(k), offset + 20.0 + ((k * 31) % 17) as f64 / 8.0 - 3.25 * (k % 3) as f64)).collect();
        series.push((vec![("__name__", "vmnat_temperature_celsius"), ("room", room)], samples));
    }
    let big = (0..600).map(|k| (at(k), 1e15 + (k * 12_345) as f64)).chain([(at(600), 9_007_199_254_740_993.0), (at(601), 1e18), (at(602), -4.5e17)]).collect();
    series.push((vec![("__name__", "vmnat_bytes"), ("kind", "big")], big));
    series.push((vec![("__name__", "vmnat_ratio"), ("kind", "tiny")], (0..300).map(|k| (at(k), 0.000123 * (k + 1) as f64)).collect()));
    series.push((vec![("__name__", "vmnat_edge"), ("kind", "inf")], vec![(at(0), f64::INFINITY), (at(1), f64::NEG_INFINITY), (at(2), 0.0), (at(3), 1.5e-7)]));
    let stale_at = at(100);
    series.push((vec![("__name__", "vmnat_job_up"), ("instance", "x")], (0..100).map(|k| (at(k), 1.0)).chain([(stale_at, stale)]).collect()));
    let written: usize = series.iter().map(|(_, s)| s.len()).sum();
    let reply = post(&format!("{vm}/api/v1/write"), "application/x-protobuf", &v1_request(&series));
    assert_eq!(reply.status, 204, "{}", reply.body);
    agent().get(&format!("{vm}/internal/force_flush")).call().expect("force flush");
    let selector = "match[]=%7B__name__%3D~%22vmnat_.*%22%7D";
    let deadline = Instant::now() + Duration::from_secs(30);
    let from_vm = loop {
        let text = String::from_utf8(get_bytes(&format!("{vm}/api/v1/export?{selector}"))).expect("UTF-8 export");
        let exported = exact_export_with(&text, &[]);
        if exported.values().map(Vec::len).sum::<usize>() == written {
            break exported;
        }
        assert!(Instant::now() < deadline, "VictoriaMetrics did not export the {written} samples written; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(from_vm.len(), 9);

    // vmctl streams VictoriaMetrics' /api/v1/export/native into our /api/v1/import/native
    // (under `script`: vmctl 1.79 wants a terminal for its progress bars).
    let command = format!(
        "{vmctl} vm-native --vm-native-src-addr={vm} --vm-native-dst-addr={} '--vm-native-filter-match={{__name__=~\"vmnat_.*\"}}' --vm-extra-label=migrated=vm-native",
        server.url("")
    );
    let ran = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("run vmctl under script");
    let output = String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success() && output.contains("Import finished!"), "vmctl vm-native failed: {output}");

    // Every series and sample arrived exactly, with vmctl's extra label.
    let ours = String::from_utf8(get_bytes(&server.url("/api/v1/export?match[]=%7Bmigrated%3D%22vm-native%22%7D"))).expect("UTF-8 export");
    let expected = exact_export_with(&String::from_utf8(get_bytes(&format!("{vm}/api/v1/export?{selector}"))).expect("UTF-8"), &[("migrated", "vm-native")]);
    assert_eq!(exact_export_with(&ours, &[]), expected);
    // The staleness marker is one: the series is gone right after it, not a NaN sample.
    let instant = |time_ms: i64| {
        let (status, body) = get_json(&format!("{}&time={}", query_url(&server, "", "vmnat_job_up{migrated=\"vm-native\"}"), time_ms as f64 / 1000.0));
        assert_eq!(status, 200, "{body}");
        vector(&body).expect("a vector").into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    };
    assert_eq!(instant(stale_at - 1000), vec!["1".to_string()]);
    assert_eq!(instant(stale_at + 1000), Vec::<String>::new());

    // The same stream gzip-compressed, under VictoriaMetrics' /prometheus/ prefix with an
    // extra_label, stores the same.
    let native = get_bytes(&format!("{vm}/api/v1/export/native?match[]=%7B__name__%3D%22vmnat_temperature_celsius%22%7D"));
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gzip, &native).expect("gzip");
    let gzipped = gzip.finish().expect("gzip");
    let reply = reply_or_status(
        "gzip import",
        agent().post(&server.url("/prometheus/api/v1/import/native?extra_label=via=gzip")).set("Content-Encoding", "gzip").send_bytes(&gzipped),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    let temperatures: std::collections::BTreeMap<_, _> = exact_export_with(
        &String::from_utf8(get_bytes(&format!("{vm}/api/v1/export?match[]=%7B__name__%3D%22vmnat_temperature_celsius%22%7D"))).expect("UTF-8"),
        &[("via", "gzip")],
    );
    let ours = String::from_utf8(get_bytes(&server.url("/api/v1/export?match[]=%7Bvia%3D%22gzip%22%7D"))).expect("UTF-8");
    assert_eq!(exact_export_with(&ours, &[]), temperatures);

    // A stream cut inside its second block: a 400 naming it; the first block is stored whole,
    // nothing of the second.
    let frame_end = |at: usize| {
        let length = |at: usize| u32::from_be_bytes(native[at..at + 4].try_into().expect("4 bytes")) as usize;
        let block_at = at + 4 + length(at);
        block_at + 4 + length(block_at)
    };
    let first_end = frame_end(16);
    let reply = post_plain(&server.url("/api/v1/import/native?extra_label=via=cut"), "application/octet-stream", &native[..first_end + 10]);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.body.contains(&format!("the body ends inside block 2 (at byte {first_end} of the stream)")) && reply.body.contains("block 1 was imported"), "{}", reply.body);
    let first_only = exact_export_with(&String::from_utf8(get_bytes(&server.url("/api/v1/export?match[]=%7Bvia%3D%22cut%22%7D"))).expect("UTF-8"), &[]);
    let decoded_rows: usize = first_only.values().map(Vec::len).sum();
    assert!(first_only.len() == 1 && decoded_rows > 0, "{first_only:?}");
    let (labels, points) = first_only.iter().next().expect("one series");
    let source = temperatures.get(&labels.replace("\"via\":\"cut\"", "\"via\":\"gzip\"")).expect("a source series");
    assert!(points.iter().all(|p| source.contains(p)), "the stored block holds the source's samples");

    // VictoriaMetrics' JSON export of the same series writes the staleness marker as `null`:
    // imported as it is, the marker is one here too.
    let json = get_bytes(&format!("{vm}/api/v1/export?match[]=%7B__name__%3D%22vmnat_job_up%22%7D"));
    assert!(String::from_utf8_lossy(&json).contains("null"), "the marker is written as null");
    let reply = post_plain(&server.url("/api/v1/import?extra_label=via=json"), "application/json", &json);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let json_instant = |time_ms: i64| {
        let (status, body) = get_json(&format!("{}&time={}", query_url(&server, "", "vmnat_job_up{via=\"json\"}"), time_ms as f64 / 1000.0));
        assert_eq!(status, 200, "{body}");
        vector(&body).expect("a vector").into_iter().map(|(_, v)| v).collect::<Vec<_>>()
    };
    assert_eq!(json_instant(stale_at - 1000), vec!["1".to_string()]);
    assert_eq!(json_instant(stale_at + 1000), Vec::<String>::new());
    assert!(server.stop());
}

/// VictoriaMetrics started on loopback with an empty data directory under `dir` and
/// `extra` flags, once its API answers: the guard that stops it, and its base URL.
fn start_victoria(victoria: &str, dir: &Path, extra: &[String]) -> (KillOnDrop, String) {
    let http_port = free_port();
    let log = dir.join("victoria-metrics.log");
    let mut args = vec![format!("-storageDataPath={}", dir.join("vm-data").display()), format!("-httpListenAddr=127.0.0.1:{http_port}")];
    args.extend_from_slice(extra);
    let guard = start_tool(victoria, &args, &log);
    let base = format!("http://127.0.0.1:{http_port}");
    poll(&format!("{base}/api/v1/labels"), Duration::from_secs(30), "VictoriaMetrics' API", &log, |body| (body["status"] == "success").then_some(()));
    (guard, base)
}

/// Our listener's TCP address, from the start-up line announcing `what`.
fn our_tcp_addr(server: &Server, what: &str) -> String {
    let line = server.log_line(what, Duration::from_secs(10)).unwrap_or_else(|| panic!("no log line announcing {what}"));
    line.split("tcp://").nth(1).expect("tcp:// address").chars().take_while(|c| !c.is_whitespace()).collect()
}

/// A connection to `addr`, retried for up to 30 s (VictoriaMetrics' socket listeners may
/// open a moment after its HTTP port).
fn connect_retrying(addr: &str) -> std::net::TcpStream {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(stream) => return stream,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(error) => panic!("cannot connect to {addr}: {error}"),
        }
    }
}

/// The export of `base` for the series whose names start with `prefix` (dots as sent), once
/// it holds `count` series (bounded wait; `/internal/force_flush` first, which
/// VictoriaMetrics needs and we answer).
fn exported_when(base: &str, prefix: &str, count: usize, what: &str) -> std::collections::BTreeMap<String, Vec<(i64, f64)>> {
    let pattern: String = prefix.chars().map(|c| if c == '.' { "\\\\.".to_string() } else { c.to_string() }).collect();
    let selector = format!("match[]={}", encode(&format!("{{__name__=~\"{pattern}.*\"}}")));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let _ = agent().get(&format!("{base}/internal/force_flush")).call();
        let text = agent().get(&format!("{base}/api/v1/export?{selector}&start=-1h")).call().ok().and_then(|r| r.into_string().ok()).unwrap_or_default();
        let series = parse_export(&text);
        if series.len() == count || Instant::now() >= deadline {
            assert_eq!(series.len(), count, "{what}: {series:?}");
            return series;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Metricstor and VictoriaMetrics 1.79, each with a Graphite plaintext listener.
struct GraphitePair {
    server: Server,
    /// Our Graphite listener's address.
    ours: String,
    /// VictoriaMetrics' Graphite listener's address, and its base URL.
    theirs: String,
    vm: String,
    _vm_process: KillOnDrop,
}

impl GraphitePair {
    fn start(victoria: &str, dir: &Path) -> GraphitePair {
        let server = Server::start(&write_config(dir, "  graphite_listen_addr: 127.0.0.1:0\n"));
        let ours = our_tcp_addr(&server, "listening for Graphite plaintext");
        let graphite_port = free_port();
        let (process, vm) = start_victoria(victoria, dir, &[format!("-graphiteListenAddr=127.0.0.1:{graphite_port}")]);
        GraphitePair { server, ours, theirs: format!("127.0.0.1:{graphite_port}"), vm, _vm_process: process }
    }

    /// Sends the same lines to both over TCP.
    fn send(&self, lines: &str) {
        for addr in [&self.theirs, &self.ours] {
            std::io::Write::write_all(&mut connect_retrying(addr), lines.as_bytes()).expect("send the lines");
        }
    }
}

fn encode(text: &str) -> String {
    percent_encode(text)
}

/// The same Graphite plaintext lines, sent over TCP to VictoriaMetrics 1.79
/// (`-graphiteListenAddr`) and to our `server.graphite_listen_addr`, are stored alike: names,
/// tags (an empty name or value dropped, a repeated one's last value), fractional seconds
/// cut, exponents, tabs, a malformed line skipped.
#[test]
fn graphite_lines_are_stored_as_victoriametrics_stores_them() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the Graphite comparison");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = GraphitePair::start(&victoria, dir.path());
    let (server, vm) = (&pair.server, pair.vm.clone());

    let t = now_ms() / 1000 - 600;
    let lines = format!(
        "gr.cmp.plain 1.5 {t}\ngr.cmp.plain;env=prod;dc=gce 2 {t}\ngr.cmp.tagged;a=1;b= 3 {}\ngr.cmp.tagged;=x;c=2 4 {}\n\
         gr.cmp.frac 5 {}.75\ngr.cmp.exp -6.25e1 {}\ngr.cmp.tabs\t7\t{}\nnot a graphite line at all\ngr.cmp.dup;a=1;a=2 8 {}\n",
        t + 10,
        t + 20,
        t + 30,
        t + 40,
        t + 50,
        t + 70
    );
    pair.send(&lines);
    let theirs = exported_when(&vm, "gr.cmp.", 8, "VictoriaMetrics");
    let stored = exported_when(&server.url(""), "gr.cmp.", 8, "Metricstor");
    assert_eq!(stored, theirs);
    assert_eq!(theirs.get(r#"{"__name__":"gr.cmp.frac"}"#), Some(&vec![((t + 30) * 1000, 5.0)]), "{theirs:?}");
    assert!(pair.server.stop());
}

/// The same OpenTSDB `put` lines over TCP, and the same HTTP `/api/put` body on that port,
/// sent to VictoriaMetrics 1.79 (`-opentsdbListenAddr`) and to our
/// `server.opentsdb_listen_addr`, are stored alike: fractional seconds cut, tags with an
/// empty value dropped, `a=b=c`, a line without tags, malformed lines skipped; over HTTP,
/// second and millisecond timestamps and values given as strings. (A telnet timestamp in
/// milliseconds is left out: VictoriaMetrics 1.79 reads every one as seconds, while
/// OpenTSDB and later VictoriaMetrics read one past 32 bits as milliseconds, as we do;
/// e2e_socket_ingest covers it.)
#[test]
fn opentsdb_puts_are_stored_as_victoriametrics_stores_them() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the OpenTSDB comparison");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), "  opentsdb_listen_addr: 127.0.0.1:0\n"));
    let ours = our_tcp_addr(&server, "listening for OpenTSDB");
    let opentsdb_port = free_port();
    let (_vm, vm) = start_victoria(&victoria, dir.path(), &[format!("-opentsdbListenAddr=127.0.0.1:{opentsdb_port}")]);

    let t = now_ms() / 1000 - 600;
    let lines = format!(
        "put ot.cmp.plain {t} 1.5 host=a dc=eu\nput ot.cmp.plain {} 2 dc=eu host=a\nput ot.cmp.notags {t} 3\n\
         put ot.cmp.frac {}.75 4 k=v\nput ot.cmp.empty {t} 6 a= b=c=d\n\
         put ot.cmp.exp {t} -6.25e1\nput bad line here\nput ot.cmp.notag {t} 7 novalue\nnot a put\n",
        t + 10,
        t + 20,
    );
    let body = format!(
        r#"[{{"metric":"ot.cmp.http","timestamp":{t},"value":8,"tags":{{"via":"http"}}}},{{"metric":"ot.cmp.http","timestamp":{},"value":"9","tags":{{"via":"http"}}}},{{"metric":"ot.cmp.httpbad"}}]"#,
        (t + 10) * 1000
    );
    let put = format!("POST /api/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    for addr in [format!("127.0.0.1:{opentsdb_port}"), ours] {
        std::io::Write::write_all(&mut connect_retrying(&addr), lines.as_bytes()).expect("send the lines");
        let mut stream = connect_retrying(&addr);
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        std::io::Write::write_all(&mut stream, put.as_bytes()).expect("send the HTTP put");
        let mut answer = String::new();
        let _ = std::io::Read::read_to_string(&mut stream, &mut answer);
        assert!(answer.starts_with("HTTP/1.1 "), "{addr}: {answer:?}");
    }
    let theirs = exported_when(&vm, "ot.cmp.", 6, "VictoriaMetrics");
    let stored = exported_when(&server.url(""), "ot.cmp.", 6, "Metricstor");
    assert_eq!(stored, theirs);
    assert_eq!(theirs.get(r#"{"__name__":"ot.cmp.http","via":"http"}"#), Some(&vec![(t * 1000, 8.0), ((t + 10) * 1000, 9.0)]), "{theirs:?}");
    assert!(server.stop());
}

/// The same Datadog agent v1 series body, posted to VictoriaMetrics 1.79 and to us at
/// `/datadog/api/v1/series`, is stored alike: host as a label, tags split at `:` (a `host`
/// tag renamed `exported_host`, a tag without a value `no_label_value`, an empty value
/// dropped), fractional-second timestamps. (Left out: a `device` field, which 1.79 drops and
/// current VictoriaMetrics stores as a label, as we do; names needing Datadog's sanitizing,
/// which 1.79 stores raw; v2 series and sketches, which 1.79 does not take. e2e_datadog
/// covers them.)
#[test]
fn datadog_v1_series_are_stored_as_victoriametrics_stores_them() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the Datadog comparison");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let (_vm, vm) = start_victoria(&victoria, dir.path(), &[]);

    let t = now_ms() / 1000 - 600;
    let body = serde_json::json!({"series": [
        {"metric": "dd.cmp.load", "host": "web01", "type": "gauge", "interval": 10,
         "points": [[t, 0.5], [t as f64 + 15.5, 0.75]], "tags": ["env:prod", "host:other", "canary", "empty:"]},
        {"metric": "dd.cmp.count", "points": [[t, 3]], "tags": ["a:b:c"]},
    ]})
    .to_string();
    for base in [vm.clone(), server.url("")] {
        let reply = agent().post(&format!("{base}/datadog/api/v1/series")).set("Content-Type", "application/json").send_string(&body);
        let status = match reply {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r.status(),
            Err(e) => panic!("{base}: {e}"),
        };
        assert_eq!(status, 202, "{base}");
    }
    let theirs = exported_when(&vm, "dd.cmp.", 2, "VictoriaMetrics");
    let stored = exported_when(&server.url(""), "dd.cmp.", 2, "Metricstor");
    assert_eq!(stored, theirs);
    assert!(theirs.contains_key(r#"{"__name__":"dd.cmp.count","a":"b:c"}"#), "{theirs:?}");
    assert!(server.stop());
}

/// Runs `binary` with `args` to its end (killed and failed past `limit`): whether it
/// succeeded, and its output.
fn run_bounded(binary: &str, args: &[String], limit: Duration) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("tool.log");
    let mut tool = start_tool(binary, args, &log);
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = tool.0.try_wait() {
            return (status.success(), std::fs::read_to_string(&log).unwrap_or_default());
        }
        if Instant::now() >= deadline {
            panic!("{binary} did not finish within {limit:?}; its log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// vmbackup and vmrestore back Metricstor up and restore it as they do VictoriaMetrics:
/// vmbackup creates a snapshot through `-snapshot.createURL`, copies it and deletes it; a
/// second run into the same destination is incremental; vmrestore cannot restore into the
/// data directory of a running server (both lock `flock.lock`); restored into another
/// directory, a server started there answers every sample the first one held.
#[test]
fn vmbackup_and_vmrestore_back_up_and_restore_a_data_directory() {
    let (Ok(vmbackup), Ok(vmrestore)) = (std::env::var("METRICSTOR_VMBACKUP_BIN"), std::env::var("METRICSTOR_VMRESTORE_BIN")) else {
        eprintln!("SKIPPED: set METRICSTOR_VMBACKUP_BIN and METRICSTOR_VMRESTORE_BIN (bash .ci/run does) to run the vmbackup interop test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), "  enable_admin_api: true\n"));
    // Eight hours of one sample a minute: the older part is cut into blocks, the rest is in
    // the head, so a snapshot holds linked blocks and the head as a block.
    const HOUR_MS: i64 = 3_600_000;
    let end = now_ms() / 60_000 * 60_000;
    let written = post(&server.url("/api/v1/write"), "application/x-protobuf", &per_minute_body("bak", 4, end - 8 * HOUR_MS, 8 * HOUR_MS));
    assert_eq!(written.status, 204, "{}", written.body);
    let backup = dir.path().join("backup");
    let backup_args = |server: &Server| {
        vec![
            format!("-storageDataPath={}", server.data_dir.display()),
            format!("-snapshot.createURL={}", server.url("/snapshot/create")),
            format!("-dst=fs://{}", backup.display()),
            format!("-httpListenAddr=127.0.0.1:{}", free_port()),
        ]
    };
    let (ok, log) = run_bounded(&vmbackup, &backup_args(&server), Duration::from_secs(120));
    assert!(ok, "vmbackup failed:\n{log}");
    let (_, snapshots) = get_json(&server.url("/snapshot/list"));
    assert_eq!(snapshots, serde_json::json!({"status": "ok", "snapshots": []}), "vmbackup deletes the snapshot it made");

    // More data, then a second backup into the same destination: only what changed goes.
    let written = post(&server.url("/api/v1/write"), "application/x-protobuf", &per_minute_body("bak_later", 2, end - HOUR_MS, HOUR_MS));
    assert_eq!(written.status, 204, "{}", written.body);
    let (ok, log) = run_bounded(&vmbackup, &backup_args(&server), Duration::from_secs(120));
    assert!(ok, "the second vmbackup failed:\n{log}");
    // "backed up N bytes; … uploaded M bytes": the blocks already there were not sent again.
    let bytes_after = |word: &str| log.split(word).nth(1).and_then(|rest| rest.split_whitespace().next()).and_then(|n| n.parse::<u64>().ok());
    let (whole, uploaded) = (bytes_after("backed up "), bytes_after("uploaded "));
    assert!(matches!((whole, uploaded), (Some(w), Some(u)) if u > 0 && u < w), "an incremental backup: {whole:?} {uploaded:?}\n{log}");
    let want = (exported_by_i(&server, "bak"), exported_by_i(&server, "bak_later"));
    assert_eq!((want.0.len(), want.1.len()), (4, 2));
    assert!(want.0.values().all(|ts| ts.len() == 480) && want.1.values().all(|ts| ts.len() == 60), "{want:?}");

    let restore_args = |data: &Path| vec![format!("-src=fs://{}", backup.display()), format!("-storageDataPath={}", data.display()), format!("-httpListenAddr=127.0.0.1:{}", free_port())];
    // Not into the directory a running server uses.
    let (ok, log) = run_bounded(&vmrestore, &restore_args(&server.data_dir), Duration::from_secs(120));
    assert!(!ok && log.contains("flock.lock"), "vmrestore should be refused the running server's directory:\n{log}");
    assert_eq!((exported_by_i(&server, "bak"), exported_by_i(&server, "bak_later")), want, "the running server's data is untouched");
    assert!(server.stop());

    let restored = tempfile::tempdir().unwrap();
    let (ok, log) = run_bounded(&vmrestore, &restore_args(&restored.path().join("data")), Duration::from_secs(120));
    assert!(ok, "vmrestore failed:\n{log}");
    assert!(!restored.path().join("data").join("restore-in-progress").exists(), "vmrestore finished");
    let server = Server::start(&write_config(restored.path(), ""));
    assert_eq!((exported_by_i(&server, "bak"), exported_by_i(&server, "bak_later")), want, "the restored directory holds every sample");
    assert!(server.stop());
}

/// The answer of a Graphite API path, as JSON.
fn graphite_answer(base: &str, path: &str) -> Value {
    let reply = reply_or_status(path, agent().get(&format!("{base}{path}")).call());
    assert_eq!(reply.status, 200, "{base}{path}: {}", reply.body);
    serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{base}{path}: {e}: {}", reply.body))
}

/// Graphite's metrics and tags APIs answer as VictoriaMetrics 1.79 answers, on the same
/// Graphite lines sent to both, but for two documented differences taken out before
/// comparing: a branch's tree id is graphite-web's, without VictoriaMetrics' trailing
/// delimiter, and `/metrics/expand` wraps its list in graphite-web's `{"results":…}`. (Not
/// compared, being graphite-web's too: `?` in a glob, and completer paths under a wildcard,
/// which are the stored paths where VictoriaMetrics keeps the query's wildcards.)
#[test]
fn graphite_apis_answer_as_victoriametrics_answers() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the Graphite API comparison");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pair = GraphitePair::start(&victoria, dir.path());
    let (server, vm) = (&pair.server, pair.vm.clone());
    let t = now_ms() / 1000 - 600;
    let mut lines = String::new();
    for (path, value) in [
        ("gapi.servers.web1.cpu.user", 1),
        ("gapi.servers.web1.cpu.system", 2),
        ("gapi.servers.web2.cpu.user", 3),
        ("gapi.servers.web2", 4),
        ("gapi.disk.used;dc=us-east;server=s1", 5),
        ("gapi.disk.used;dc=eu;server=s2", 6),
        ("gapi.net.rx;dc=eu;server=s2;iface=eth0", 7),
    ] {
        lines.push_str(&format!("{path} {value} {t}\n"));
    }
    pair.send(&lines);
    exported_when(&vm, "gapi.", 7, "VictoriaMetrics");
    exported_when(&server.url(""), "gapi.", 7, "Metricstor");

    let without_trailing_delimiter = |mut answer: Value| {
        for entry in answer.as_array_mut().into_iter().flatten() {
            if let Some(id) = entry["id"].as_str().and_then(|id| id.strip_suffix('.')).map(str::to_string) {
                entry["id"] = Value::String(id);
            }
        }
        answer
    };
    for path in [
        "/metrics/find?query=gapi.*",
        "/metrics/find?query=gapi.servers.*&wildcards=1",
        "/metrics/find?query=gapi.servers.*.cpu.*",
        "/metrics/find?query=gapi.servers.web*&leavesOnly=1",
        "/metrics/find?query=gapi.servers.%7Bweb1,web3%7D.cpu.%5Bsu%5D*",
        "/metrics/find?query=gapi.servers.&format=completer",
        "/metrics/find?query=gapi.servers.web1.cpu.u&format=completer",
        "/metrics/find?query=gapi.servers.web1.cpu.*&format=completer&wildcards=1",
        "/graphite/metrics/find?query=*&label=dc",
        "/metrics/expand?query=gapi.servers.*&groupByExpr=1",
        "/tags?filter=d",
        "/tags/server",
        "/tags/name?filter=gapi.d",
        "/tags/findSeries?expr=name=~gapi.disk&expr=dc=~us",
        "/tags/findSeries?expr=dc=eu",
        "/tags/findSeries?expr=server=s2&expr=iface!=eth0",
        "/tags/autoComplete/tags?tagPrefix=d",
        "/tags/autoComplete/tags?expr=dc=eu",
        "/tags/autoComplete/values?tag=server&valuePrefix=s",
        "/tags/autoComplete/values?tag=name&expr=dc=eu",
    ] {
        let theirs = without_trailing_delimiter(graphite_answer(&vm, path));
        let answer = without_trailing_delimiter(graphite_answer(&server.url(""), path));
        assert_eq!(answer, theirs, "{path}");
        assert_ne!(theirs, serde_json::json!([]), "{path}: VictoriaMetrics found nothing, so the comparison shows nothing");
    }
    let path = "/metrics/expand?query=gapi.servers.*.cpu.user&query=gapi.disk.*";
    assert_eq!(graphite_answer(&server.url(""), path)["results"], graphite_answer(&vm, path), "{path}");
    assert!(pair.server.stop());
}
