//! End-to-end: Prometheus' search API (`/api/v1/search/{metric_names,label_names,label_values}`)
//! on the real binary: series and metadata written with remote_write, then each endpoint's
//! NDJSON lines compared whole (scores as Prometheus computes and prints them), and its
//! parameter errors as Prometheus' JSON error object.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use proto::remote_write_v1 as v1;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::*;

const NDJSON: &str = "application/x-ndjson; charset=utf-8";

/// Six series (jobs api and node) ten minutes ago, inside the default window (the last
/// hour), and metadata for three families; returns once the metadata is served.
fn start_with_data(dir: &Path) -> Server {
    let server = Server::start(&write_config(dir, ""));
    let samples = vec![(ten_minutes_ago_ms(), 1.0)];
    let body = v1_request(&[
        (vec![("__name__", "http_requests_total"), ("instance", "host-a:9090"), ("job", "api"), ("method", "GET")], samples.clone()),
        (vec![("__name__", "http_request_duration_seconds"), ("instance", "host-b:9091"), ("job", "api")], samples.clone()),
        (vec![("__name__", "process_cpu_seconds_total"), ("instance", "host-c:9100"), ("job", "node")], samples.clone()),
        (vec![("__name__", "go_goroutines"), ("instance", "host-a:9090"), ("job", "node")], samples.clone()),
        (vec![("__name__", "up"), ("instance", "host-a:9090"), ("job", "api")], samples.clone()),
        (vec![("__name__", "up"), ("instance", "host-c:9100"), ("job", "node")], samples),
    ]);
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let metadata = |kind: v1::MetricType, family: &str, help: &str, unit: &str| v1::MetricMetadata {
        r#type: kind as i32,
        metric_family_name: family.into(),
        help: help.into(),
        unit: unit.into(),
    };
    let request = v1::WriteRequest {
        timeseries: vec![],
        metadata: vec![
            metadata(v1::MetricType::Counter, "http_requests_total", "Total HTTP requests.", ""),
            metadata(v1::MetricType::Histogram, "http_request_duration_seconds", "Request latency <p99> & more.", "seconds"),
            metadata(v1::MetricType::Gauge, "go_goroutines", "Number of goroutines.", ""),
        ],
    };
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &snappy(&request.encode_to_vec()));
    assert_eq!(reply.status, 204, "{}", reply.body);
    // Metadata reaches the shards without an acknowledgement: poll for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = get_json(&server.url("/api/v1/metadata"));
        if body["data"].as_object().is_some_and(|families| families.len() == 3) {
            break;
        }
        assert!(Instant::now() < deadline, "metadata not served: {body}");
        // A polling interval, not a wait for readiness: the deadline bounds it.
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

fn ten_minutes_ago_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970").as_millis() as i64 - 600_000
}

/// GET `path`: status, Content-Type and body.
fn get(server: &Server, path: &str) -> (u16, String, String) {
    let reply = reply_or_status(path, agent().get(&server.url(path)).call());
    (reply.status, reply.header("Content-Type").unwrap_or("").to_string(), reply.body)
}

/// The NDJSON lines of a successful search.
fn lines(server: &Server, path: &str) -> Vec<String> {
    let (status, content_type, body) = get(server, path);
    assert_eq!((status, content_type.as_str()), (200, NDJSON), "{path}: {body}");
    assert!(body.ends_with('\n'), "{path}: {body:?}");
    body.lines().map(str::to_string).collect()
}

const DONE: &str = r#"{"status":"success","has_more":false}"#;
const MORE: &str = r#"{"status":"success","has_more":true}"#;

#[test]
fn search_endpoints_answer_as_prometheus_does() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start_with_data(dir.path());

    // Subsequence search (the default), two terms ORed, best score first.
    assert_eq!(
        lines(&server, "/api/v1/search/metric_names?search[]=reqtot&search[]=gorout&sort_by=score&include_score=true"),
        [r#"{"results":[{"name":"go_goroutines","score":0.988326923076923},{"name":"http_requests_total","score":0.3709736842105264}]}"#, DONE]
    );
    // Jaro-Winkler past a misspelling, case-insensitively.
    assert_eq!(
        lines(&server, "/api/v1/search/metric_names?search[]=GO_GORUOTINES&fuzz_alg=jarowinkler&fuzz_threshold=80&case_sensitive=false&include_score=true"),
        [r#"{"results":[{"name":"go_goroutines","score":0.9846153846153847}]}"#, DONE]
    );
    // Type, help and unit from the metadata, each left out when empty; HTML characters
    // escaped as Go's encoder escapes them.
    assert_eq!(
        lines(&server, "/api/v1/search/metric_names?search[]=http&include_metadata=true"),
        [
            r#"{"results":[{"name":"http_request_duration_seconds","type":"histogram","help":"Request latency \u003cp99\u003e \u0026 more.","unit":"seconds"},{"name":"http_requests_total","type":"counter","help":"Total HTTP requests."}]}"#,
            DONE
        ]
    );
    // Nothing found: an empty batch, then the trailer.
    assert_eq!(lines(&server, "/api/v1/search/metric_names?search[]=zzz"), [r#"{"results":[]}"#, DONE]);

    // Label values of the series match[] selects only (host-b:9091 is not on `up`); equal
    // scores in value order.
    assert_eq!(
        lines(&server, "/api/v1/search/label_values?label=instance&match[]=up&search[]=9&include_score=true"),
        [r#"{"results":[{"value":"host-a:9090","score":0.22704545454545458},{"value":"host-c:9100","score":0.22704545454545458}]}"#, DONE]
    );
    assert_eq!(
        lines(&server, "/api/v1/search/label_values?label=instance&search[]=9"),
        [r#"{"results":[{"value":"host-a:9090"},{"value":"host-b:9091"},{"value":"host-c:9100"}]}"#, DONE]
    );

    // Descending names in batches of two, cut by the limit.
    assert_eq!(
        lines(&server, "/api/v1/search/label_names?sort_by=alpha&sort_dir=dsc&batch_size=2&limit=3"),
        [r#"{"results":[{"name":"method"},{"name":"job"}]}"#, r#"{"results":[{"name":"instance"}]}"#, MORE]
    );
    assert_eq!(
        lines(&server, "/api/v1/search/label_names?sort_by=alpha&sort_dir=dsc&batch_size=2&limit=4"),
        [r#"{"results":[{"name":"method"},{"name":"job"}]}"#, r#"{"results":[{"name":"instance"},{"name":"__name__"}]}"#, DONE]
    );

    // A POST form, under the /prometheus/ prefix.
    let reply = post_plain(&server.url("/prometheus/api/v1/search/label_values"), "application/x-www-form-urlencoded", b"label=job&sort_by=alpha&sort_dir=dsc");
    assert_eq!((reply.status, reply.header("Content-Type")), (200, Some(NDJSON)), "{}", reply.body);
    assert_eq!(reply.body, format!("{}\n{DONE}\n", r#"{"results":[{"value":"node"},{"value":"api"}]}"#));

    // Read filters confine the search as they confine the label listings.
    assert_eq!(
        lines(&server, "/api/v1/search/metric_names?extra_label=job=node"),
        [r#"{"results":[{"name":"go_goroutines"},{"name":"process_cpu_seconds_total"},{"name":"up"}]}"#, DONE]
    );
    assert_eq!(lines(&server, "/api/v1/search/label_values?label=method&extra_label=job=node"), [r#"{"results":[]}"#, DONE]);

    // Parameter errors: Prometheus' JSON error object, before any NDJSON.
    let (status, content_type, body) = get(&server, "/api/v1/search/label_values?search[]=x");
    assert_eq!((status, content_type.as_str()), (400, "application/json"));
    assert_eq!(body, r#"{"status":"error","errorType":"bad_data","error":"missing required parameter \"label\""}"#);
    let (status, _, body) = get(&server, "/api/v1/search/label_names?sort_by=score");
    assert_eq!((status, body.as_str()), (400, r#"{"status":"error","errorType":"bad_data","error":"sort_by=score requires search[] to be set"}"#));
    let (status, _, body) = get(&server, "/api/v1/search/metric_names?limit=20000");
    assert_eq!(
        (status, body.as_str()),
        (400, r#"{"status":"error","errorType":"bad_data","error":"limit 20000 exceeds the configured maximum (10000, see --web.search.max-limit)"}"#)
    );
    assert!(server.stop());
}

/// An HTTPS agent presenting `pki`'s certificate of `client`.
fn tls_agent(pki: &Path, client: &str) -> ureq::Agent {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.join("ca.crt")).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("CA added");
    }
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(pki.join(format!("{client}.crt"))).expect("client chain").collect::<Result<_, _>>().expect("client certificates");
    let key = PrivateKeyDer::from_pem_file(pki.join(format!("{client}.key"))).expect("client key");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client auth");
    ureq::AgentBuilder::new().tls_config(Arc::new(config)).timeout(Duration::from_secs(20)).build()
}

/// `tls.read_filters` confine a client identity's searches as they confine its label
/// listings: team-a sees only `{team="a"}`, ops (unconfined) everything.
#[test]
fn search_is_confined_by_client_identity_read_filters() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pki = make_pki(dir.path(), &["agent", "team-a", "ops"]);
    let tls = "  write_allowed_sans: [agent]\n  read_allowed_sans: [team-a, ops]\n  read_filters:\n    team-a: ['{team=\"a\"}']\n";
    let server = Server::start(&write_mtls_config(dir.path(), &pki, tls));
    let base = format!("https://{}", server.http_addr);
    let samples = vec![(ten_minutes_ago_ms(), 1.0)];
    let body = v1_request(&[
        (vec![("__name__", "conf_up"), ("i", "1"), ("team", "a")], samples.clone()),
        (vec![("__name__", "conf_up"), ("i", "2"), ("team", "b")], samples.clone()),
        (vec![("__name__", "conf_other"), ("i", "3")], samples),
    ]);
    let written = tls_agent(&pki, "agent")
        .post(&format!("{base}/api/v1/write"))
        .set("Content-Type", "application/x-protobuf")
        .set("Content-Encoding", "snappy")
        .send_bytes(&body);
    assert_eq!(reply_or_status("write", written).status, 204);
    let search = |client: &str, path: &str| reply_or_status(path, tls_agent(&pki, client).get(&format!("{base}{path}")).call()).body;
    let results = |list: &str| format!("{{\"results\":[{list}]}}\n{DONE}\n");
    assert_eq!(search("team-a", "/api/v1/search/label_values?label=i"), results(r#"{"value":"1"}"#));
    assert_eq!(search("ops", "/api/v1/search/label_values?label=i"), results(r#"{"value":"1"},{"value":"2"},{"value":"3"}"#));
    assert_eq!(search("team-a", "/api/v1/search/metric_names?search[]=conf"), results(r#"{"name":"conf_up"}"#));
    assert_eq!(search("ops", "/api/v1/search/metric_names?search[]=conf"), results(r#"{"name":"conf_other"},{"name":"conf_up"}"#));
    // The client's own match[] and filters narrow, never widen.
    assert_eq!(search("team-a", "/api/v1/search/label_names?match[]=conf_other"), results(""));
    assert_eq!(search("team-a", "/api/v1/search/label_values?label=team&extra_label=team=b"), results(""));
    assert!(server.stop());
}
