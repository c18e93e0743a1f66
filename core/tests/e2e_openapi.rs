//! End-to-end: `/api/v1/openapi.yaml` answers the OpenAPI description of the HTTP API in the
//! version asked for (3.1.0 by default, 3.2.0 on request, as Prometheus 3), and the document
//! and the router agree both ways: every operation the document lists is routed (under each
//! of its servers), and every path the router's source names is in the document.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// The methods an OpenAPI path item may list.
const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// The router and its sub-routers, each with the region of its text that holds the paths
/// routed (`start` up to `end`): route arms and path constants, not comments elsewhere.
const ROUTER_SOURCES: [(&str, &str, &str, &str); 12] = [
    ("api/route.rs", include_str!("../src/api/route.rs"), "async fn route(", "\n}\n"),
    ("api/mod.rs", include_str!("../src/api/mod.rs"), "fn streamed_import_format", "\n}\n"),
    ("api/write.rs", include_str!("../src/api/write.rs"), "pub fn is_remote_write_path", "\n}\n"),
    ("api/influx.rs", include_str!("../src/api/influx.rs"), "const WRITE_PATHS", "\n\n"),
    ("api/otlp.rs", include_str!("../src/api/otlp.rs"), "pub const PROMETHEUS_PATH", "\npub fn"),
    ("api/opentsdb_put.rs", include_str!("../src/api/opentsdb_put.rs"), "pub const PUT_PATHS", "\n"),
    ("api/datadog.rs", include_str!("../src/api/datadog.rs"), "pub async fn route(", "\n}\n"),
    ("api/newrelic.rs", include_str!("../src/api/newrelic.rs"), "pub async fn route(", "\n}\n"),
    ("api/zabbix.rs", include_str!("../src/api/zabbix.rs"), "pub const HISTORY_PATH", "\n"),
    ("api/pushgateway.rs", include_str!("../src/api/pushgateway.rs"), "const PUSH_PREFIX", "\n"),
    ("api/vm_snapshots.rs", include_str!("../src/api/vm_snapshots.rs"), "pub const CREATE", "\n\n"),
    ("api/graphite/mod.rs", include_str!("../src/api/graphite/mod.rs"), "pub async fn route(", "\n}\n"),
];

/// Literals of the router that are pieces of a parameterised path, and that path as the
/// document writes it.
const PATH_PIECES: [(&str, &str); 6] = [
    ("/api/v1/label/", "/api/v1/label/{name}/values"),
    ("/values", "/api/v1/label/{name}/values"),
    ("/graph/", "/graph/{name}"),
    ("/tags/", "/tags/{name}"),
    ("/functions/", "/functions/{name}"),
    ("/api/v1/import/prometheus/metrics/", "/api/v1/import/prometheus/metrics/job/{name}"),
];

/// What a path parameter is given in requests (any value reaches the handler).
const PATH_PARAMETER_VALUE: &str = "job";

fn start_ready() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config_with(dir.path(), "  cores: 1\n", ""));
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "not ready within {START_DEADLINE:?}");
        match agent().get(&server.url("/-/ready")).call() {
            Ok(r) if r.status() == 200 => break,
            Ok(_) | Err(_) => std::thread::yield_now(),
        }
    }
    (dir, server)
}

/// The document the server answers for `query` (`""` for none), with its content type.
fn fetch_document(server: &Server, path_and_query: &str) -> (Value, String) {
    let reply = reply_or_status("GET openapi.yaml", agent().get(&server.url(path_and_query)).call());
    assert_eq!(reply.status, 200, "{path_and_query}: {}", reply.body);
    let content_type = reply.header("content-type").unwrap_or_default().to_string();
    match serde_saphyr::from_str::<Value>(&reply.body) {
        Ok(doc) => (doc, content_type),
        Err(e) => panic!("{path_and_query}: not YAML: {e}"),
    }
}

#[test]
fn the_document_comes_in_the_version_asked_for() {
    let (_dir, server) = start_ready();
    for (path_and_query, version) in [
        ("/api/v1/openapi.yaml", "3.1.0"),
        ("/api/v1/openapi.yaml?openapi_version=3.1", "3.1.0"),
        ("/api/v1/openapi.yaml?openapi_version=3.1.0", "3.1.0"),
        ("/api/v1/openapi.yaml?openapi_version=3.2", "3.2.0"),
        ("/api/v1/openapi.yaml?openapi_version=3.2.0", "3.2.0"),
        // Prometheus falls back to 3.1 for a version it does not know.
        ("/api/v1/openapi.yaml?openapi_version=9.9", "3.1.0"),
        ("/prometheus/api/v1/openapi.yaml?openapi_version=3.2", "3.2.0"),
    ] {
        let (doc, content_type) = fetch_document(&server, path_and_query);
        assert_eq!(doc["openapi"], version, "{path_and_query}");
        assert_eq!(content_type, "application/yaml; charset=utf-8", "{path_and_query}");
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"), "{path_and_query}");
        let stream = &doc["paths"]["/api/v1/notifications/live"]["get"]["responses"]["200"]["content"]["text/event-stream"];
        assert_eq!(stream.get("itemSchema").is_some(), version == "3.2.0", "{path_and_query}: {stream}");
    }
    let refused = reply_or_status("POST openapi.yaml", agent().post(&server.url("/api/v1/openapi.yaml")).send_bytes(b""));
    assert_eq!((refused.status, refused.header("allow")), (405, Some("GET")), "{}", refused.body);
    // As Prometheus (behind its readiness wrapper): not among the paths served while starting.
    assert!(!metricstor::startup::served_while_starting("/api/v1/openapi.yaml"));
    let (status, features) = get_json(&server.url("/api/v1/features"));
    assert_eq!(status, 200, "{features}");
    assert_eq!((&features["data"]["api"]["openapi_3.1"], &features["data"]["api"]["openapi_3.2"]), (&Value::Bool(true), &Value::Bool(true)));
    assert!(server.stop(), "clean stop");
}

/// A path the server has, asked with a method it does not take, is a 405 whose Allow header
/// names the ones it does (as Prometheus' router answers), never a 404 saying the path does
/// not exist (what GET-only paths answered before). Label values also take POST, with a
/// form body, as VictoriaMetrics does.
#[test]
fn a_path_asked_with_a_method_it_does_not_take_is_a_405_naming_the_ones_it_does() {
    let (_dir, server) = start_ready();
    let ask = |method: &str, path: &str| {
        let request = agent().request(method, &server.url(path));
        reply_or_status(&format!("{method} {path}"), if method == "POST" { request.set("Content-Type", "application/x-www-form-urlencoded").send_bytes(b"") } else { request.call() })
    };
    for (method, path, allowed) in [
        ("POST", "/api/v1/status/buildinfo", "GET"),
        ("POST", "/api/v1/metadata", "GET"),
        ("POST", "/api/v1/targets", "GET"),
        ("DELETE", "/prometheus/api/v1/rules", "GET"),
        ("POST", "/metrics", "GET"),
        ("POST", "/", "GET"),
        ("DELETE", "/api/v1/label/job/values", "GET, POST"),
        ("DELETE", "/api/v1/export", "GET, POST"),
        ("PUT", "/api/v1/status/top_queries", "GET, POST"),
    ] {
        let reply = ask(method, path);
        assert_eq!((reply.status, reply.header("allow")), (405, Some(allowed)), "{method} {path}: {}", reply.body);
        assert!(reply.body.contains(&format!("method not allowed; use {allowed}")), "{method} {path}: {}", reply.body);
    }
    assert_eq!(ask("POST", "/api/v1/no_such_endpoint").status, 404);
    import_sample(&server, "posted_values{job=\"a\"}", 1.0, 60);
    import_sample(&server, "other_values{job=\"b\"}", 1.0, 60);
    let reply = reply_or_status("POST label values", agent().post(&server.url("/api/v1/label/job/values")).send_form(&[("match[]", "posted_values")]));
    assert_eq!((reply.status, reply.body.as_str()), (200, r#"{"status":"success","data":["a"]}"#));
    assert!(server.stop(), "clean stop");
}

/// Every documented path asked with a method its document does not list (PATCH, which no
/// path takes) is a 405 whose `Allow` names the methods the document lists (HEAD and
/// OPTIONS aside), never the router's 404: a path added for GET alone answers 405 only when
/// it is also in the router's list of GET-only paths, and this finds one that is not.
#[test]
fn every_documented_path_asked_with_another_method_is_a_405_naming_the_documented_ones() {
    let (_dir, server) = start_ready();
    let (doc, _) = fetch_document(&server, "/api/v1/openapi.yaml");
    let mut documented: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
    for (path, method) in operations(&doc) {
        documented.entry(path).or_default().insert(method.to_ascii_uppercase());
    }
    let mut wrong = Vec::new();
    for (path, methods) in &documented {
        assert!(!methods.contains("PATCH"), "{path} takes PATCH: pick another method here");
        let url = server.url(&path.replace("{name}", PATH_PARAMETER_VALUE));
        let response = match agent().request("PATCH", &url).timeout(Duration::from_secs(30)).call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("PATCH {path} failed: {e}"),
        };
        let allowed: BTreeSet<String> = response.header("allow").unwrap_or("").split(',').map(|m| m.trim().to_string()).filter(|m| !m.is_empty() && m != "HEAD").collect();
        let expected: BTreeSet<String> = methods.iter().filter(|m| *m != "HEAD" && *m != "OPTIONS").cloned().collect();
        if response.status() != 405 || allowed != expected {
            wrong.push(format!("PATCH {path}: {} (Allow: {allowed:?}, documented: {expected:?})", response.status()));
        }
    }
    assert!(wrong.is_empty(), "not a 405 naming the documented methods:\n{}", wrong.join("\n"));
    assert!(documented.len() >= 80, "{} paths", documented.len());
    assert!(server.stop(), "clean stop");
}

/// The path item of `path`, following a `$ref` to `components/pathItems`.
fn path_item<'d>(doc: &'d Value, path: &str) -> &'d Value {
    let item = &doc["paths"][path];
    match item.get("$ref").and_then(Value::as_str) {
        Some(target) => doc.pointer(target.trim_start_matches('#')).unwrap_or_else(|| panic!("{path}: {target} is not defined")),
        None => item,
    }
}

/// Every (path, method) the document lists.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    let mut out = Vec::new();
    for path in paths.keys() {
        let item = path_item(doc, path);
        let methods: Vec<&str> = METHODS.into_iter().filter(|m| item.get(*m).is_some()).collect();
        assert!(!methods.is_empty(), "{path} lists no operation");
        out.extend(methods.into_iter().map(|m| (path.clone(), m.to_string())));
    }
    out
}

/// Whether the answer is the router's own "no such route" (a 404 whose error is the
/// router's `no endpoint …`) or a 405: the method or path is not routed.
fn not_routed(server: &Server, method: &str, url: &str) -> Option<String> {
    let request = agent().request(&method.to_ascii_uppercase(), url).timeout(Duration::from_secs(30));
    let result = match method {
        "get" | "head" => request.call(),
        _ => request.set("Content-Type", "application/x-www-form-urlencoded").send_bytes(b""),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url} failed: {e} (server {})", server.http_addr),
    };
    match response.status() {
        405 => Some(format!("405 (Allow: {})", response.header("allow").unwrap_or("none"))),
        // The body is read only here: a 200 may be an endless stream (notifications/live).
        404 => {
            let body = response.into_string().unwrap_or_default();
            body.contains("\"error\":\"no endpoint ").then(|| format!("404 {body}"))
        }
        _ => None,
    }
}

#[test]
fn every_operation_in_the_document_is_routed() {
    let (_dir, server) = start_ready();
    let (doc, _) = fetch_document(&server, "/api/v1/openapi.yaml");
    let operations = operations(&doc);
    let prefixes: Vec<String> = doc["servers"].as_array().expect("servers").iter().map(|s| s["url"].as_str().expect("a server url").trim_end_matches('/').to_string()).collect();
    assert!(prefixes.contains(&String::new()) && prefixes.contains(&"/prometheus".to_string()), "{prefixes:?}");
    // The check can fail: a path the router does not have is refused as such.
    assert!(not_routed(&server, "get", &server.url("/api/v1/no_such_endpoint")).is_some());
    assert!(not_routed(&server, "post", &server.url("/api/v1/status/buildinfo")).is_some());
    let mut refused = Vec::new();
    for prefix in &prefixes {
        for (path, method) in &operations {
            let url = server.url(&format!("{prefix}{}", path.replace("{name}", PATH_PARAMETER_VALUE)));
            if let Some(answer) = not_routed(&server, method, &url) {
                refused.push(format!("{method} {prefix}{path}: {answer}"));
            }
        }
    }
    assert!(refused.is_empty(), "documented but not routed:\n{}", refused.join("\n"));
    assert!(operations.len() >= 100, "{} operations", operations.len());
    assert!(server.stop(), "clean stop");
}

/// The `"/…"` literals of `text` (one path each, no spaces), comment lines left out.
fn path_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
        // Between quotes: every second piece of the line split at `"` (no escaped quotes
        // occur in route literals).
        for literal in line.split('"').skip(1).step_by(2) {
            if literal.starts_with('/') && !literal.contains(char::is_whitespace) {
                out.push(literal.to_string());
            }
        }
    }
    out
}

/// The paths the router's source names: each literal, or for a piece of a parameterised
/// path that path as the document writes it.
fn router_paths() -> BTreeSet<String> {
    let mut paths = BTreeSet::new();
    let mut pieces_seen = BTreeSet::new();
    for (file, text, start, end) in ROUTER_SOURCES {
        let from = text.find(start).unwrap_or_else(|| panic!("{file}: no {start:?}: the router changed; update ROUTER_SOURCES"));
        let length = text[from..].find(end).unwrap_or_else(|| panic!("{file}: no {end:?} after {start:?}"));
        let literals = path_literals(&text[from..from + length]);
        assert!(!literals.is_empty(), "{file}: no paths from {start:?}");
        for literal in literals {
            match PATH_PIECES.iter().find(|(piece, _)| *piece == literal) {
                Some((piece, path)) => {
                    pieces_seen.insert(*piece);
                    paths.insert(path.to_string());
                }
                None => {
                    paths.insert(literal);
                }
            }
        }
    }
    assert_eq!(pieces_seen.len(), PATH_PIECES.len(), "a piece of PATH_PIECES is no longer in the router: {pieces_seen:?}");
    paths
}

#[test]
fn every_path_the_router_names_is_in_the_document_and_no_other() {
    let doc: Value = serde_saphyr::from_str(concat!(include_str!("../src/api/openapi/paths.yaml"), include_str!("../src/api/openapi/components.yaml"))).expect("the embedded document is YAML");
    let documented: BTreeSet<String> = doc["paths"].as_object().expect("paths").keys().cloned().collect();
    let routed = router_paths();
    assert!(routed.len() > 60 && routed.contains("/api/v1/query") && routed.contains("/datadog/intake") && routed.contains("/api/v1/import/csv"), "{routed:?}");
    let undocumented: Vec<&String> = routed.difference(&documented).collect();
    assert!(undocumented.is_empty(), "routed but not in the document: {undocumented:?}");
    let unrouted: Vec<&String> = documented.difference(&routed).collect();
    assert!(unrouted.is_empty(), "in the document but not named by the router: {unrouted:?}");
}

/// Every `$ref` of the document names something it holds (a dangling one makes the
/// document invalid for every generator and viewer).
#[test]
fn every_reference_resolves() {
    let doc: Value = serde_saphyr::from_str(concat!(include_str!("../src/api/openapi/paths.yaml"), include_str!("../src/api/openapi/components.yaml"))).expect("the embedded document is YAML");
    fn walk<'v>(value: &'v Value, refs: &mut Vec<&'v str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    refs.push(target);
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(refs.len() > 100, "{} references", refs.len());
    let dangling: Vec<&str> = refs.into_iter().filter(|r| r.strip_prefix('#').is_none_or(|pointer| doc.pointer(pointer).is_none())).collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
}
