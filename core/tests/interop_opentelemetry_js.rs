//! Interop: the OpenTelemetry JS SDK's OTLP/HTTP metrics exporter, which sends OTLP/JSON by
//! default, exports a counter, a histogram, a gauge and an up-down counter to the server; the
//! exporter takes every export as a success and each series reads back through PromQL under
//! Prometheus 3.x's names, with the resource as `job`/`instance` and `target_info`.
//!
//! METRICSTOR_NODE_BIN names node and METRICSTOR_OTEL_JS_MODULES the `node_modules` folder the
//! SDK packages were installed in (`.ci/run` installs pinned versions and sets both).

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

/// How long node may take to load the SDK and export.
const EXPORT_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn opentelemetry_js_exports_over_otlp_json_are_stored_and_queried() {
    let (Some(node), Some(modules)) = (
        std::env::var_os("METRICSTOR_NODE_BIN").filter(|v| !v.is_empty()),
        std::env::var_os("METRICSTOR_OTEL_JS_MODULES").filter(|v| !v.is_empty()),
    ) else {
        eprintln!("SKIPPED: set METRICSTOR_NODE_BIN and METRICSTOR_OTEL_JS_MODULES (bash .ci/run does) to export with the OpenTelemetry JS SDK");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/opentelemetry_js_export.js");
    let mut command = Command::new(node);
    command.arg(script).arg(server.url("/api/v1/otlp/v1/metrics")).env("NODE_PATH", modules);
    let (status, stdout, stderr) = output_within(command, EXPORT_DEADLINE, "the export");
    assert!(status.success() && stdout.contains("exported"), "node: {status}\n{stdout}\n{stderr}");

    let (status, answer) = get_json(&server.url(&format!("/api/v1/query?query={}", percent_encode(r#"{job="shop"}"#))));
    assert_eq!(status, 200, "{answer}");
    let mut found: Vec<(String, String)> = answer["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| {
            let labels = s["metric"].as_object().expect("labels").iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>();
            (labels.join(","), s["value"][1].as_str().expect("value").to_string())
        })
        .collect();
    found.sort();
    let expected = [
        ("__name__=checkout_duration_seconds_bucket,instance=node-1,job=shop,le=+Inf,region=eu", "3"),
        ("__name__=checkout_duration_seconds_bucket,instance=node-1,job=shop,le=0.1,region=eu", "1"),
        ("__name__=checkout_duration_seconds_bucket,instance=node-1,job=shop,le=1,region=eu", "2"),
        ("__name__=checkout_duration_seconds_bucket,instance=node-1,job=shop,le=10,region=eu", "3"),
        ("__name__=checkout_duration_seconds_count,instance=node-1,job=shop,region=eu", "3"),
        ("__name__=checkout_duration_seconds_sum,instance=node-1,job=shop,region=eu", "2.02"),
        ("__name__=orders_placed_total,instance=node-1,job=shop,region=eu", "5"),
        ("__name__=orders_placed_total,instance=node-1,job=shop,region=us", "2"),
        ("__name__=queue_depth,instance=node-1,job=shop,queue=main", "12"),
        ("__name__=sessions_active,instance=node-1,job=shop", "3"),
        ("__name__=target_info,deployment_environment=test,instance=node-1,job=shop", "1"),
    ];
    assert_eq!(found, expected.map(|(l, v)| (l.to_string(), v.to_string())), "{answer}");
    assert!(server.stop());
}
