//! A second, independent gRPC client: Python's grpcio (Debian's python3-grpcio and
//! python3-grpc-tools) generates stubs from `proto/proto` at test time and calls the real
//! binary's gRPC services, over mutual TLS too, and exports OTLP metrics over gRPC. Runs when
//! METRICSTOR_PYTHON_GRPC names a Python with grpcio and grpc_tools (`.ci/run` sets it).

mod support;

use std::process::Command;

use support::*;

/// Generates the Python stubs into `dir/stubs`; returns that directory.
fn python_stubs(python: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let stubs = dir.join("stubs");
    std::fs::create_dir_all(&stubs).unwrap();
    let protos = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/proto");
    let generated = Command::new(python)
        .args(["-m", "grpc_tools.protoc", "-I", protos])
        .arg(format!("--python_out={}", stubs.display()))
        .arg(format!("--grpc_python_out={}", stubs.display()))
        .args(["metricstor/v1/query.proto", "prometheus/remote.proto", "health/v1/health.proto"])
        .output()
        .expect("run grpc_tools.protoc");
    assert!(generated.status.success(), "protoc failed: {}", String::from_utf8_lossy(&generated.stderr));
    // Python packages for the generated modules.
    for package in ["metricstor", "metricstor/v1", "prometheus", "health", "health/v1"] {
        std::fs::write(stubs.join(package).join("__init__.py"), "").unwrap();
    }
    stubs
}

/// Runs `tests/python/<script>` with the stubs, the server's gRPC address and `more` as
/// arguments; fails unless it exits 0 and prints `done`.
fn run_python_client(python: &str, script: &str, stubs: &std::path::Path, server: &Server, more: &[&std::path::Path], done: &str) {
    let output = Command::new(python)
        .arg(format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR")))
        .arg(stubs)
        .arg(&server.grpc_addr)
        .args(more)
        .output()
        .expect("run the Python client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "Python gRPC client failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(done), "{stdout}");
}

/// Calls every RPC of `metricstor.v1.Query` and `grpc.health.v1.Health`.
#[test]
fn python_grpcio_calls_every_rpc() {
    let Ok(python) = std::env::var("METRICSTOR_PYTHON_GRPC") else {
        eprintln!("SKIPPED: set METRICSTOR_PYTHON_GRPC to a python3 with grpcio and grpc_tools (bash .ci/run does) to run the Python gRPC client");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stubs = python_stubs(&python, dir.path());
    let server = Server::start(&write_config(dir.path(), ""));
    run_python_client(&python, "grpc_client.py", &stubs, &server, &[], "all RPCs answered as expected");
    assert!(server.stop());
}

/// Over mutual TLS, with client certificates: `tls.read_filters` confine a listed identity's
/// gRPC reads.
#[test]
fn python_grpcio_over_mtls_is_confined_by_read_filters() {
    let Ok(python) = std::env::var("METRICSTOR_PYTHON_GRPC") else {
        eprintln!("SKIPPED: set METRICSTOR_PYTHON_GRPC to a python3 with grpcio and grpc_tools (bash .ci/run does) to run the Python gRPC client");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let stubs = python_stubs(&python, dir.path());
    let pki = make_pki(dir.path(), &["agent", "team-a", "ops"]);
    // The agent writes; team-a (confined to `{team="a"}`) and ops (unconfined) read.
    let tls = "  write_allowed_sans: [agent]\n  read_allowed_sans: [team-a, ops]\n  read_filters:\n    team-a: ['{team=\"a\"}']\n";
    let config = write_mtls_config(dir.path(), &pki, tls);
    let server = Server::start(&config);
    run_python_client(&python, "grpc_confined.py", &stubs, &server, &[&pki], "confinement holds over gRPC");
    assert!(server.stop());
}

/// OTLP over gRPC from grpcio, a real gRPC client library: the same
/// `ExportMetricsServiceRequest` sent gzip-compressed and then plain; both are stored (two
/// points of one gauge). The message is large enough that grpcio compresses it, so the test
/// fails when the server refuses compressed messages.
#[test]
fn python_grpcio_exports_otlp_metrics_with_and_without_gzip() {
    use prost::Message;
    use proto::otlp_metrics::*;
    let Ok(python) = std::env::var("METRICSTOR_PYTHON_GRPC") else {
        eprintln!("SKIPPED: set METRICSTOR_PYTHON_GRPC to a python3 with grpcio and grpc_tools (bash .ci/run does) to run the Python gRPC client");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&write_config(dir.path(), ""));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let t0 = (now_ms / 60_000) * 60_000 - 3_600_000;
    // A gauge of 2,000 points (about 50 KB: grpcio compresses it) of which two are checked.
    let point = |t_ms: i64, value: f64| NumberDataPoint { time_unix_nano: t_ms as u64 * 1_000_000, value: Some(number_data_point::Value::AsDouble(value)), ..Default::default() };
    let name = KeyValue { key: "service.name".into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue("py".into())) }) };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource { attributes: vec![name], ..Default::default() }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric { name: "py_grpc_gauge".into(), data: Some(metric::Data::Gauge(Gauge { data_points: [point(t0, 2.0), point(t0 + 15_000, 3.0)].into_iter().chain((1..=2_000).map(|k| point(t0 - 600_000 - k * 1_000, 1.0))).collect() })), ..Default::default() }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let file = dir.path().join("request.pb");
    std::fs::write(&file, request.encode_to_vec()).unwrap();
    run_python_client(&python, "otlp_grpc_export.py", dir.path(), &server, &[&file], "exported twice");
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query=sum_over_time(py_grpc_gauge%5B1m%5D)&time={}", (t0 + 30_000) as f64 / 1000.0)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "5", "both points, stored once each though sent twice: {body}");
    assert!(server.stop());
}
