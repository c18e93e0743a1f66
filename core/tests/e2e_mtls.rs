//! mTLS end to end with the real binary: `metricstor certs` makes the PKI; an agent's
//! certificate may write but not query, a dashboard's may query but not write, an unknown
//! identity is refused with 403 and a client without a certificate cannot connect; with
//! `tls.crl_file`, a revoked certificate cannot connect either.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::*;

fn tls_config(pki: &Path, client: Option<&str>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.join("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(pki.join(format!("{name}.crt"))).unwrap().collect::<Result<_, _>>().unwrap();
            let key = PrivateKeyDer::from_pem_file(pki.join(format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    Arc::new(config)
}

fn tls_agent(pki: &Path, client: Option<&str>) -> ureq::Agent {
    ureq::AgentBuilder::new().tls_config(tls_config(pki, client)).timeout(Duration::from_secs(20)).build()
}

/// Sends `request` over TLS as `client` and reads until the server closes (bounded).
fn tls_exchange(pki: &Path, client: &str, addr: &str, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let connection = rustls::ClientConnection::new(tls_config(pki, Some(client)), name).unwrap();
    let socket = std::net::TcpStream::connect(addr).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(connection, socket);
    tls.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Ends at the close (clean or not) or the read timeout.
    while let Ok(n) = tls.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(result: Result<ureq::Response, ureq::Error>) -> Result<(u16, String), String> {
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Ok((r.status(), r.into_string().unwrap_or_default())),
        Err(e) => Err(e.to_string()),
    }
}

/// `metricstor certs --revoked NAME` names NAME's certificate in `ca.crl`; with
/// `tls.crl_file` set to it, that client cannot connect while the others work as before.
#[test]
fn a_revoked_client_certificate_cannot_connect() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki_with_revoked(dir.path(), &["agent"], &["stolen"]);
    let config = write_mtls_config(dir.path(), &pki, &format!("  crl_file: {}/ca.crl\n", pki.display()));
    let server = Server::start(&config);
    let base = format!("https://{}", server.http_addr);
    let healthy = |client: &str| status_of(tls_agent(&pki, Some(client)).get(&format!("{base}/-/healthy")).call());
    assert_eq!(healthy("agent").unwrap().0, 200);
    let refused = healthy("stolen").expect_err("a revoked certificate must not get an answer");
    assert!(refused.to_lowercase().contains("revoked"), "{refused}");
    // The gRPC port speaks the same TLS.
    let grpc = status_of(tls_agent(&pki, Some("stolen")).get(&format!("https://{}/-/healthy", server.grpc_addr)).call());
    assert!(grpc.is_err(), "{grpc:?}");
    let text = agent_metrics(&pki, &base);
    assert!(text.lines().any(|l| l.starts_with("metricstor_tls_handshake_failures_total") && !l.ends_with(" 0")), "{text}");
    assert!(server.stop());
}

/// `/metrics` through an accepted client.
fn agent_metrics(pki: &Path, base: &str) -> String {
    tls_agent(pki, Some("agent")).get(&format!("{base}/metrics")).call().expect("metrics").into_string().expect("text")
}

#[test]
fn client_identities_are_authorized_per_action() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), &["agent", "dashboard", "stranger"]);
    let config = write_mtls_config(dir.path(), &pki, "  write_allowed_sans: [agent]\n  read_allowed_sans: [dashboard]\n");
    let server = Server::start(&config);
    let base = format!("https://{}", server.http_addr);
    let body = v1_request(&[(vec![("__name__", "mtls_metric"), ("job", "x")], vec![(1_000_000, 42.0)])]);
    let write = |client: Option<&str>| {
        status_of(
            tls_agent(&pki, client)
                .post(&format!("{base}/api/v1/write"))
                .set("Content-Type", "application/x-protobuf")
                .set("Content-Encoding", "snappy")
                .send_bytes(&body),
        )
    };
    let query = |client: Option<&str>| status_of(tls_agent(&pki, client).get(&format!("{base}/api/v1/query?query=mtls_metric&time=1000")).call());

    assert_eq!(write(Some("agent")).unwrap().0, 204);
    let (status, text) = query(Some("agent")).unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not allowed to read") && text.contains("agent"), "{text}");
    let (status, text) = query(Some("dashboard")).unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"42\""), "{text}");
    let (status, text) = write(Some("dashboard")).unwrap();
    assert_eq!(status, 403, "{text}");
    assert_eq!(query(Some("stranger")).unwrap().0, 403);
    // OTLP metrics (both paths) are writes too: an empty export is a 200 for the writer only.
    for path in ["/api/v1/otlp/v1/metrics", "/opentelemetry/v1/metrics"] {
        let otlp = |client: Option<&str>| status_of(tls_agent(&pki, client).post(&format!("{base}{path}")).set("Content-Type", "application/x-protobuf").send_bytes(&[]));
        assert_eq!(otlp(Some("agent")).unwrap().0, 200, "{path}");
        let (status, text) = otlp(Some("dashboard")).unwrap();
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("not allowed to write"), "{text}");
    }
    // InfluxDB line-protocol writes too; `/ping` and `/query` (a fixed answer) are open to
    // any verified client, as `/-/healthy` is.
    for path in ["/write", "/api/v2/write"] {
        let influx = |client: Option<&str>| status_of(tls_agent(&pki, client).post(&format!("{base}{path}")).send_string("mtls_influx v=1 1000000\n"));
        assert_eq!(influx(Some("agent")).unwrap().0, 204, "{path}");
        let (status, text) = influx(Some("dashboard")).unwrap();
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("not allowed to write"), "{text}");
    }
    assert_eq!(status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/ping")).call()).unwrap().0, 204);
    assert_eq!(status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/query?q=SHOW+DATABASES")).call()).unwrap().0, 200);
    assert!(query(None).is_err(), "a client without a certificate must not get an answer");
    // Plain HTTP on the TLS port gets no HTTP answer either.
    let plain = raw_exchange(&server.http_addr, b"GET /-/healthy HTTP/1.1\r\n\r\n", Duration::from_secs(5));
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
    // Imports take their body streamed, past the whole-body path, yet pass the same check.
    let import = |client: Option<&str>, path: &str, body: &str| status_of(tls_agent(&pki, client).post(&format!("{base}{path}")).send_string(body));
    let line = "{\"metric\":{\"__name__\":\"mtls_imported\"},\"values\":[7],\"timestamps\":[1000000]}\n";
    assert_eq!(import(Some("agent"), "/api/v1/import", line).unwrap().0, 204);
    let (status, text) = import(Some("dashboard"), "/api/v1/import", line).unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("not allowed to write") && text.contains("dashboard"), "{text}");
    assert_eq!(import(Some("stranger"), "/api/v1/import/prometheus", "mtls_text 1 1000000\n").unwrap().0, 403);
    let (_, text) = status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/api/v1/query?query=mtls_imported&time=1000")).call()).unwrap();
    assert!(text.contains("\"7\""), "{text}");
    // A refused client that waits for `100 Continue` gets its 403 instead, before uploading
    // (the 100 MB body is never sent), and the connection closes.
    let answer = tls_exchange(
        &pki,
        "dashboard",
        &server.http_addr,
        b"POST /api/v1/import HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\nExpect: 100-continue\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 403") && !answer.contains("100 Continue"), "{answer}");
    assert!(answer.contains("not allowed to write"), "{answer}");
    // The configuration's and the flags' pages and the rules' and alerts' answers at
    // Prometheus' page paths are reads: a write-only identity gets none of them.
    // So are the Graphite APIs' listings and render.
    for path in ["/api/v1/status/config", "/config", "/rules", "/alerts", "/flags", "/metrics/find?query=*", "/graphite/tags", "/render?target=mtls_imported"] {
        let (status, text) = status_of(tls_agent(&pki, Some("agent")).get(&format!("{base}{path}")).call()).unwrap();
        assert_eq!(status, 403, "{path}: {text}");
        assert_eq!(status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}{path}")).call()).unwrap().0, 200, "{path}");
    }
    // Deleting series by a Graphite path is a write.
    let (status, text) = status_of(tls_agent(&pki, Some("dashboard")).post(&format!("{base}/tags/delSeries")).send_form(&[("path", "mtls_imported")])).unwrap();
    assert_eq!(status, 403, "{text}");
    let (_, metrics) = status_of(tls_agent(&pki, Some("dashboard")).get(&format!("{base}/metrics")).call()).unwrap();
    assert!(metrics.contains("metricstor_authz_denied_total{action=\"write\"} 9"), "{metrics}");
    assert!(metrics.contains("metricstor_authz_denied_total{action=\"read\"} 10"), "{metrics}");
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("metricstor_tls_handshake_failures_total "))
        .and_then(|v| v.parse().ok())
        .expect("handshake failure counter");
    assert!(failures >= 2, "no-certificate and plaintext clients are counted: {failures}");
    // SIGHUP asks for a TLS reload; the server keeps serving.
    server.signal(libc::SIGHUP);
    assert_eq!(query(Some("dashboard")).unwrap().0, 200);
    assert!(server.stop());
}

/// `tls` lines: the agent writes; team-a (confined to `{team="a"}`) and ops (unconfined) read.
const TEAM_A_CONFINED: &str = "  write_allowed_sans: [agent]\n  read_allowed_sans: [team-a, ops]\n  read_filters:\n    team-a: ['{team=\"a\"}']\n";

/// `tls.read_filters`: a listed identity reads only the series its selectors allow, on every
/// read endpoint (its own extra_label/extra_filters only narrow that further, the range and
/// listing caches keep identities apart, `/api/v1/status/tsdb` and `/api/v1/series/count`
/// count only its series); an unlisted one reads everything.
#[test]
fn read_filters_confine_each_listed_identity() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path(), &["agent", "team-a", "ops"]);
    let config = write_mtls_config(dir.path(), &pki, TEAM_A_CONFINED);
    let server = Server::start(&config);
    let base = format!("https://{}", server.http_addr);
    let samples = vec![(1_000_000, 1.0), (1_015_000, 2.0)];
    let body = v1_request(&[
        (vec![("__name__", "conf_up"), ("i", "1"), ("team", "a")], samples.clone()),
        (vec![("__name__", "conf_up"), ("i", "2"), ("team", "b")], samples.clone()),
        (vec![("__name__", "conf_other"), ("i", "3")], samples),
    ]);
    let written = tls_agent(&pki, Some("agent"))
        .post(&format!("{base}/api/v1/write"))
        .set("Content-Type", "application/x-protobuf")
        .set("Content-Encoding", "snappy")
        .send_bytes(&body);
    assert_eq!(status_of(written).unwrap().0, 204);
    let get = |client: &str, path: &str| -> (u16, serde_json::Value) {
        let (status, text) = status_of(tls_agent(&pki, Some(client)).get(&format!("{base}{path}")).call()).unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    };
    let is = |answer: &serde_json::Value| -> Vec<String> {
        let list = answer["data"]["result"].as_array().or_else(|| answer["data"].as_array()).cloned().unwrap_or_default();
        let mut is: Vec<String> = list.iter().map(|s| s.get("metric").unwrap_or(s)["i"].as_str().unwrap_or("-").to_string()).collect();
        is.sort();
        is
    };
    let range = "/api/v1/query_range?query=%7B__name__%3D~%22conf_.%2A%22%7D&start=1000&end=1015&step=15";
    // Twice each, alternating, so that the range and listing caches serve the second round.
    for _ in 0..2 {
        let (status, answer) = get("team-a", "/api/v1/query?query=%7B__name__%3D~%22conf_.%2A%22%7D&time=1015");
        assert_eq!((status, is(&answer)), (200, vec!["1".to_string()]), "{answer}");
        assert_eq!(is(&get("ops", "/api/v1/query?query=%7B__name__%3D~%22conf_.%2A%22%7D&time=1015").1), vec!["1", "2", "3"]);
        assert_eq!(is(&get("team-a", range).1), vec!["1"]);
        assert_eq!(is(&get("ops", range).1), vec!["1", "2", "3"]);
        assert_eq!(get("team-a", "/api/v1/label/i/values").1["data"], serde_json::json!(["1"]));
        assert_eq!(get("ops", "/api/v1/label/i/values").1["data"], serde_json::json!(["1", "2", "3"]));
    }
    assert_eq!(is(&get("team-a", "/api/v1/series?match[]=%7Bi%3D~%22.%2B%22%7D").1), vec!["1"]);
    assert_eq!(get("team-a", "/api/v1/labels").1["data"], serde_json::json!(["__name__", "i", "team"]));
    // The Graphite APIs list and render only the client's series.
    assert_eq!(get("team-a", "/metrics/index.json").1, serde_json::json!(["conf_up"]));
    assert_eq!(get("ops", "/metrics/index.json").1, serde_json::json!(["conf_other", "conf_up"]));
    assert_eq!(get("team-a", "/tags/i").1["values"], serde_json::json!([{"count": 1, "value": "1"}]));
    assert_eq!(get("team-a", "/tags/findSeries?expr=i=~.").1.as_array().map(Vec::len), Some(1));
    let rendered = get("team-a", "/render?target=seriesByTag(%27i%3D~.%27)&from=900&until=1100").1;
    assert_eq!(rendered.as_array().map(Vec::len), Some(1), "{rendered}");
    // The client's own filters narrow, never widen: asking for team b gets nothing.
    assert_eq!(is(&get("team-a", "/api/v1/query?query=conf_up&time=1015&extra_label=team=b").1), Vec::<String>::new());
    assert_eq!(is(&get("team-a", "/api/v1/query?query=conf_up&time=1015&extra_filters[]=%7Bteam%3D%22b%22%7D&extra_filters[]=%7Bi%3D~%22.%2A%22%7D").1), vec!["1"]);
    let export = status_of(tls_agent(&pki, Some("team-a")).get(&format!("{base}/api/v1/export?match[]=%7Bi%3D~%22.%2B%22%7D")).call()).unwrap().1;
    assert_eq!(export.lines().count(), 1, "{export}");
    assert!(export.contains("\"i\":\"1\""), "{export}");
    // Cardinality figures of its own series only.
    let (status, answer) = get("team-a", "/api/v1/status/tsdb");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["headStats"]["numSeries"], 1, "{answer}");
    assert_eq!(answer["data"]["seriesCountByMetricName"], serde_json::json!([{"name": "conf_up", "value": 1}]), "{answer}");
    assert_eq!(answer["data"]["labelValueCountByLabelName"], serde_json::json!([{"name": "__name__", "value": 1}, {"name": "i", "value": 1}, {"name": "team", "value": 1}]), "{answer}");
    assert_eq!(get("ops", "/api/v1/status/tsdb").1["data"]["headStats"]["numSeries"], 3);
    // The configuration lists every identity's filters: refused to a confined one.
    assert_eq!(get("team-a", "/api/v1/status/config").0, 403);
    let (status, config) = get("ops", "/api/v1/status/config");
    assert_eq!(status, 200);
    // VictoriaMetrics' plain-text page of it: the same YAML, refused alike.
    assert_eq!(get("team-a", "/config").0, 403);
    let (status, text) = get("ops", "/config");
    assert_eq!(status, 200);
    assert_eq!(text, config["data"]["yaml"], "the same YAML as /api/v1/status/config");
    assert!(text.as_str().is_some_and(|t| t.contains("read_filters")), "{text}");
    // So do the block figures (every tenant's series counted).
    assert_eq!(get("team-a", "/api/v1/status/tsdb/blocks").0, 403);
    assert_eq!(get("ops", "/api/v1/status/tsdb/blocks").1["data"], serde_json::json!({"blocks": []}));
    // Every client's query texts (VictoriaMetrics' active and top queries): refused to a
    // confined one; an unconfined one sees both identities' queries (each ran the instant
    // query twice). The series count counts only the confined client's series.
    assert_eq!(get("team-a", "/api/v1/status/active_queries").0, 403);
    assert_eq!(get("team-a", "/api/v1/status/top_queries").0, 403);
    assert_eq!(get("ops", "/api/v1/status/active_queries").1, serde_json::json!({"status": "ok", "data": []}));
    let (status, top) = get("ops", "/api/v1/status/top_queries");
    assert_eq!(status, 200, "{top}");
    let instant = top["topByCount"].as_array().and_then(|l| l.iter().find(|e| e["query"] == "{__name__=~\"conf_.*\"}" && e["timeRangeSeconds"] == 0)).cloned();
    assert_eq!(instant.map(|e| e["count"].clone()), Some(serde_json::json!(4)), "{top}");
    assert_eq!(get("team-a", "/api/v1/series/count").1["data"], serde_json::json!([1]));
    assert_eq!(get("ops", "/api/v1/series/count").1["data"], serde_json::json!([3]));
    assert!(server.stop());
}
