//! Interop: the Python Prometheus client library (`prometheus_client`, Debian's package)
//! pushes to the Pushgateway-style path, as a batch job would push to a Pushgateway:
//! `push_to_gateway` (PUT) and `pushadd_to_gateway` (POST) with the server's text import as
//! the gateway address; every series gets the job and grouping key's labels, a value holding
//! `/` goes base64 as the library sends it, and the library takes the answer as a success.
//!
//! METRICSTOR_PYTHON_PROMETHEUS names a Python with `prometheus_client` (`.ci/run` sets it).

mod support;

use std::process::Command;

use support::*;

const PUSHER: &str = r#"
import sys
from prometheus_client import CollectorRegistry, Gauge, Counter, push_to_gateway, pushadd_to_gateway
gateway = sys.argv[1]
registry = CollectorRegistry()
Gauge('batch_last_success_unixtime', 'Last time the batch job succeeded', registry=registry).set(1234.5)
c = Counter('batch_records', 'Records processed', ['stage'], registry=registry)
c.labels('load').inc(42)
push_to_gateway(gateway, job='nightly', registry=registry, grouping_key={'instance': 'db/1'})
registry2 = CollectorRegistry()
Gauge('batch_duration_seconds', 'Duration', registry=registry2).set(7)
pushadd_to_gateway(gateway, job='nightly', registry=registry2)
print('pushed')
"#;

#[test]
fn python_prometheus_client_pushes_are_stored_with_their_grouping_labels() {
    let Ok(python) = std::env::var("METRICSTOR_PYTHON_PROMETHEUS") else {
        eprintln!("SKIPPED: set METRICSTOR_PYTHON_PROMETHEUS to a python3 with prometheus_client (bash .ci/run does) to push with the Python client library");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let gateway = server.url("/api/v1/import/prometheus");
    let output = Command::new(&python).args(["-c", PUSHER, &gateway]).output().expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("pushed"), "the library took a push as failed: {stdout} {}", String::from_utf8_lossy(&output.stderr));

    let (_, answer) = get_json(&server.url("/api/v1/query?query=%7B__name__%3D~%22batch_.%2A%22%7D"));
    let mut found: Vec<(String, String)> = answer["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| {
            let mut labels = s["metric"].as_object().expect("labels").iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>();
            labels.sort();
            (labels.join(","), s["value"][1].as_str().expect("value").to_string())
        })
        .collect();
    found.sort();
    // The counter's creation time, as the library exposes it: a Unix time of this run.
    let created = found.iter().position(|(labels, _)| labels == "__name__=batch_records_created,instance=db/1,job=nightly,stage=load").expect("the _created series");
    let (_, when) = found.remove(created);
    assert!(when.parse::<f64>().is_ok_and(|t| t > 1.6e9), "{when}");
    assert_eq!(
        found,
        vec![
            ("__name__=batch_duration_seconds,job=nightly".to_string(), "7".to_string()),
            ("__name__=batch_last_success_unixtime,instance=db/1,job=nightly".to_string(), "1234.5".to_string()),
            ("__name__=batch_records_total,instance=db/1,job=nightly,stage=load".to_string(), "42".to_string()),
        ],
        "{answer}"
    );
    assert!(server.stop());
}
