//! Interop with real Prometheus (Debian's 2.42) as the oracle of rule evaluation: both scrape
//! the same target and evaluate the same rule file every second, each sending its alerts to
//! its own mock Alertmanager, and what they record, their `ALERTS` series, `/api/v1/rules`,
//! `/api/v1/alerts` and the alerts received are compared (times left out). Runs when
//! METRICSTOR_PROMETHEUS_BIN is set (`.ci/run` installs the package and sets it).

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

/// The rule file both evaluate; one alert's annotations use most template functions.
const RULES: &str = r#"groups:
- name: interop
  limit: 10
  rules:
  - record: job:interop_value:sum
    expr: sum by (job) (interop_value)
  - record: interop_value:doubled
    expr: interop_value * 2
    labels: {source: rule, kind: ''}
  - record: interop:scalar
    expr: scalar(sum(interop_value))
  - record: interop:clash
    expr: interop_value
    labels: {kind: same}
  - record: interop:chained
    expr: job:interop_value:sum * 2
  - alert: InteropHigh
    expr: interop_value > 5
    labels:
      severity: page
      copied: '{{ $labels.kind }}'
    annotations:
      summary: '{{ $labels.kind }} at {{ $value | humanize }} ({{ printf "%.1f" $value }})'
      total: '{{ with query "sum(interop_value)" }}{{ . | first | value | humanize }}{{ end }}'
      listed: '{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}'
  - alert: InteropHeld
    expr: interop_value > 0
    for: 3s
  - alert: InteropNever
    expr: interop_value > 1000
  - alert: InteropTemplates
    expr: interop_value{kind="a"} / 40
    labels:
      level: '{{ if gt $value 0.2 }}high{{ else }}low{{ end }}'
    annotations:
      percentage: '{{ $value | humanizePercentage }}'
      duration: '{{ 3725.5 | humanizeDuration }} {{ 0.25 | humanizeDuration }}'
      bytes: '{{ 1536 | humanize1024 }} {{ 0.001234 | humanize }}'
      timestamp: '{{ 1700000000 | humanizeTimestamp }} {{ (1700000000 | toTime).Unix }}'
      strings: '{{ "hello world" | title }} {{ toUpper "a" }}{{ toLower "B" }} {{ reReplaceAll "([a-z]+)-([0-9]+)" "$2:$1" "node-42" }} {{ if match "^a" $labels.kind }}matched{{ end }}'
      printing: '{{ printf "%d|%5.2f|%s|%q|%v|%x" 42 3.14159 "s" "q" $value 255 }} {{ len $labels }} {{ index $labels "kind" }}'
      ranged: '{{ range query "interop_value" | sortByLabel "kind" }}{{ label "kind" . }}={{ value . }};{{ end }}'
      strvalue: '{{ with query "interop_value{kind=\"b\"}" }}{{ . | first | strvalue }}{{ end }}'
      links: '{{ graphLink "up" }} {{ tableLink "up" }} {{ externalURL }} {{ pathPrefix }} {{ $externalURL }}'
      misc: '{{ stripPort "host:9100" }} {{ stripDomain "node.example.com:9100" }} {{ parseDuration "1m30s" }} {{ args 1 "x" }}'
      control: '{{ $x := 1 }}{{ range $i, $v := args "p" "q" }}{{ $i }}{{ $v }}{{ end }}{{ with $labels.missing }}no{{ else }}none{{ end }}{{ and 1 0 }}{{ or 0 2 }}{{ not true }}{{ eq 1 1 2 }}{{ lt 1 2 }}'
      failing: '{{ humanize "not a number" }}'
- name: second
  interval: 2s
  rules:
  - record: interop:count
    expr: count(interop_value)
"#;

/// The last alert `alertmanager` received for each label set, its times left out.
fn received(alertmanager: &MockAlertmanager) -> Vec<String> {
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    for alert in alertmanager.alerts("/api/v2/alerts") {
        last.insert(alert["labels"].to_string(), format!("{} {} {}", alert["labels"], alert["annotations"], alert["generatorURL"]));
    }
    last.into_values().collect()
}

fn prometheus_yml(target: &str, alertmanager: u16) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['rules.yml']\nalerting:\n  alertmanagers:\n  - static_configs:\n    - targets: ['127.0.0.1:{alertmanager}']\nscrape_configs:\n- job_name: app\n  static_configs:\n  - targets: ['{target}']\n"
    )
}

/// JSON at `url` (any server), once it answers 200.
fn json_at(url: &str) -> Value {
    let (status, body) = get_json(url);
    assert_eq!(status, 200, "{url}: {body}");
    body
}

/// The instant query's series at `base` as `labels value`, sorted.
fn series_values(base: &str, query: &str) -> Vec<String> {
    let body = json_at(&format!("{base}/api/v1/query?query={}", percent_encode(query)));
    let mut out: Vec<String> = body["data"]["result"].as_array().cloned().unwrap_or_default().iter().map(|s| format!("{} {}", s["metric"], s["value"][1])).collect();
    out.sort();
    out
}

/// `/api/v1/rules` at `base` without what differs from one server to another by time:
/// evaluation times, last evaluations and alerts' active times; each rule's alerts sorted
/// (Prometheus lists them in its map's order), and a recording rule's empty `labels` left
/// out (Prometheus 2.42 omits them, 3.x writes `{}` as this server does).
fn rules_without_times(base: &str) -> Value {
    let mut body = json_at(&format!("{base}/api/v1/rules"));
    let data = &mut body["data"];
    for group in data["groups"].as_array_mut().into_iter().flatten() {
        strip(group, &["evaluationTime", "lastEvaluation"]);
        for rule in group["rules"].as_array_mut().into_iter().flatten() {
            strip(rule, &["evaluationTime", "lastEvaluation"]);
            if rule["type"] == "recording" && rule.get("labels").is_some_and(|l| l.as_object().is_some_and(|o| o.is_empty())) {
                strip(rule, &["labels"]);
            }
            if let Some(alerts) = rule.get_mut("alerts").and_then(Value::as_array_mut) {
                for alert in alerts.iter_mut() {
                    strip(alert, &["activeAt"]);
                }
                alerts.sort_by_key(|a| a.to_string());
            }
        }
    }
    data.clone()
}

fn alerts_without_times(base: &str) -> Vec<String> {
    let body = json_at(&format!("{base}/api/v1/alerts"));
    let mut out: Vec<String> = body["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut a| {
            strip(&mut a, &["activeAt"]);
            a.to_string()
        })
        .collect();
    out.sort();
    out
}

fn strip(object: &mut Value, keys: &[&str]) {
    if let Some(map) = object.as_object_mut() {
        for key in keys {
            map.remove(*key);
        }
    }
}

/// Both servers are under one external URL. No external labels: this server's scrapes store
/// them on every series (as VictoriaMetrics' do), so everything derived from them would carry
/// them, while Prometheus adds them only on the way out (`e2e_rules` checks that alerts leave
/// with them). Without METRICSTOR_PROMETHEUS_BIN it says why it skipped.
#[test]
fn metricstor_evaluates_rules_as_prometheus_does() {
    let Ok(prometheus) = std::env::var("METRICSTOR_PROMETHEUS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMETHEUS_BIN (bash .ci/run does) to run the rules interop test");
        return;
    };
    let exporter = Exporter::start("# TYPE interop_value gauge\ninterop_value{kind=\"a\"} 10\ninterop_value{kind=\"b\"} 1\ninterop_value{kind=\"c\"} 1234567\n");
    let (theirs_am, ours_am) = (MockAlertmanager::start(), MockAlertmanager::start());
    // Each server reads its own directory (the same rule file in each) so that both see
    // `file` as their own; the groups' files are compared by name.
    let prom_dir = tempfile::tempdir().expect("tempdir");
    let our_dir = tempfile::tempdir().expect("tempdir");
    for (dir, am) in [(&prom_dir, &theirs_am), (&our_dir, &ours_am)] {
        std::fs::write(dir.path().join("rules.yml"), RULES).expect("rules");
        std::fs::write(dir.path().join("prometheus.yml"), prometheus_yml(&exporter.address(), am.port)).expect("config");
    }
    let config = write_config(our_dir.path(), "");
    let mut text = std::fs::read_to_string(&config).expect("config");
    // Independent rules evaluated at once here, one after another in Prometheus (its default):
    // the outputs are the same.
    text.push_str("rules:\n  external_url: http://alerts.example:9090/base\n  concurrent_evals: 4\n");
    std::fs::write(&config, text).expect("config");
    add_scrape_config(&config, &our_dir.path().join("prometheus.yml"));
    let server = Server::start(&config);
    let prom_port = free_port();
    let _prometheus = KillOnDrop(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", prom_dir.path().join("prometheus.yml").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg(format!("--storage.tsdb.path={}", prom_dir.path().join("prom-data").display()))
            .arg("--rules.alert.resend-delay=1s")
            .arg("--web.external-url=http://alerts.example:9090/base")
            .arg("--web.route-prefix=/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );
    let prom = format!("http://127.0.0.1:{prom_port}");
    let ours = format!("http://{}", server.http_addr);

    poll("Prometheus ready", WAIT, || agent().get(&format!("{prom}/-/ready")).call().ok().map(|_| ()));
    // Both have evaluated long enough for the held alert to fire (3 s after it was first
    // pending) and for each group to have run with data.
    for base in [&prom, &ours] {
        poll(&format!("InteropHeld firing at {base}"), WAIT, || (series_values(base, "count(ALERTS{alertname=\"InteropHeld\",alertstate=\"firing\"})") == [r#"{} "3""#]).then_some(()));
        poll(&format!("interop:count at {base}"), WAIT, || (series_values(base, "interop:count").len() == 1).then_some(()));
    }

    for query in ["{__name__=~\"job:.*|interop.*:.*\"}", "ALERTS", "ALERTS_FOR_STATE > 0"] {
        let theirs = series_values(&prom, query);
        let ours_now = series_values(&ours, query);
        let label_sets = |list: &[String]| list.iter().map(|s| s.rsplit_once(' ').map_or(s.clone(), |(l, _)| l.to_string())).collect::<Vec<_>>();
        if query.starts_with("ALERTS_FOR_STATE") {
            // Their values are each side's own active times: only the series compare.
            assert_eq!(label_sets(&ours_now), label_sets(&theirs), "{query}");
        } else {
            assert_eq!(ours_now, theirs, "{query}");
        }
    }

    let (theirs_rules, ours_rules) = (rules_without_times(&prom), rules_without_times(&ours));
    let normalize_files = |mut v: Value| {
        for group in v["groups"].as_array_mut().into_iter().flatten() {
            let name = group["file"].as_str().and_then(|f| f.rsplit('/').next()).unwrap_or("").to_string();
            group["file"] = Value::String(name);
        }
        v
    };
    assert_eq!(normalize_files(ours_rules), normalize_files(theirs_rules));
    assert_eq!(alerts_without_times(&ours), alerts_without_times(&prom));

    // Each Alertmanager got the same firing alerts (the held one included).
    let theirs = poll("Prometheus' alerts at its Alertmanager", WAIT, || Some(received(&theirs_am)).filter(|r| r.len() == 7));
    let ours_received = poll("our alerts at our Alertmanager", WAIT, || Some(received(&ours_am)).filter(|r| r.len() == 7));
    assert_eq!(ours_received, theirs);
    assert!(server.stop());
}
