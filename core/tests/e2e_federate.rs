//! `/federate`: the newest sample per selected series in the text format, as Prometheus'
//! federation answers, and what it refuses. The answer is imported into a second server to
//! show it reads back as the same samples.

mod support;

use support::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn get_text(url: &str) -> (u16, Option<String>, String) {
    match agent().get(url).call() {
        Ok(r) => (r.status(), r.header("content-type").map(str::to_string), r.into_string().unwrap()),
        Err(ureq::Error::Status(code, r)) => (code, r.header("content-type").map(str::to_string), r.into_string().unwrap()),
        Err(e) => panic!("{url}: {e}"),
    }
}

#[test]
fn federate_answers_the_newest_sample_per_series() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start(&write_config(dir_a.path(), ""));
    let b = Server::start(&write_config(dir_b.path(), ""));
    let now = now_ms() / 1000 * 1000;
    let stale = f64::from_bits(0x7ff0_0000_0000_0002);
    let body = v1_request(&[
        (vec![("__name__", "fed_up"), ("instance", "h1:9100"), ("job", "api")], vec![(now - 60_000, 1.0), (now - 30_000, 0.0)]),
        (vec![("__name__", "fed_up"), ("job", "db")], vec![(now - 45_000, 1.0)]),
        (vec![("__name__", "fed_req"), ("job", "api"), ("path", "a \"b\"")], vec![(now - 20_000, 1e21), (now - 10_000, 2.5e21)]),
        // Ended with a staleness marker: left out.
        (vec![("__name__", "fed_up"), ("job", "gone")], vec![(now - 50_000, 1.0), (now - 40_000, stale)]),
        // Older than the lookback delta (5 minutes): left out.
        (vec![("__name__", "fed_up"), ("job", "old")], vec![(now - 400_000, 1.0)]),
        (vec![("__name__", "other"), ("job", "api")], vec![(now - 10_000, 7.0)]),
    ]);
    let reply = post(&a.url("/api/v1/write"), "application/x-protobuf", &body);
    assert_eq!(reply.status, 204, "{}", reply.body);

    // Two selectors overlapping on fed_up{job="api"}: each series once, grouped by name.
    let (status, content_type, text) = get_text(&a.url("/federate?match[]=%7B__name__%3D~%22fed_.*%22%7D&match[]=fed_up%7Bjob%3D%22api%22%7D"));
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores"));
    let expected = format!(
        "# TYPE fed_req untyped\n\
         fed_req{{job=\"api\",path=\"a \\\"b\\\"\",instance=\"\"}} 2.5e+21 {}\n\
         # TYPE fed_up untyped\n\
         fed_up{{instance=\"h1:9100\",job=\"api\"}} 0 {}\n\
         fed_up{{job=\"db\",instance=\"\"}} 1 {}\n",
        now - 10_000,
        now - 30_000,
        now - 45_000
    );
    assert_eq!(text, expected);

    // The answer is a valid text exposition: imported elsewhere, it reads back the same.
    let reply = post_plain(&b.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let (_, again, back) = get_text(&b.url("/federate?match[]=%7B__name__%3D~%22fed_.*%22%7D"));
    assert_eq!(again.as_deref(), Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores"));
    assert_eq!(back, expected);

    // Nothing selected: an empty answer, not an error.
    let (status, _, text) = get_text(&a.url("/federate?match[]=nothing_here"));
    assert_eq!((status, text.as_str()), (200, ""));
    // No selector, or a malformed one: 400 naming the problem.
    let (status, _, text) = get_text(&a.url("/federate"));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("match[]"), "{text}");
    let (status, _, text) = get_text(&a.url("/federate?match[]=%7Bjob%3D"));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("match[]"), "{text}");
    let reply = agent().delete(&a.url("/federate")).call();
    assert!(matches!(reply, Err(ureq::Error::Status(405, _))), "{reply:?}");

    // A UTF-8 name (as OTLP's NoUTF8EscapingWithSuffixes stores one): escaped with
    // underscores for a scraper that does not ask otherwise, quoted for one asking
    // `escaping=allow-utf-8`, as Prometheus 3 federates it.
    let body = v1_request(&[(vec![("__name__", "fed.dotted"), ("http.route", "/x"), ("job", "api")], vec![(now - 5_000, 3.0)])]);
    assert_eq!(post(&a.url("/api/v1/write"), "application/x-protobuf", &body).status, 204);
    let url = a.url("/federate?match[]=%7B__name__%3D%22fed.dotted%22%7D");
    let (_, content_type, text) = get_text(&url);
    assert_eq!(content_type.as_deref(), Some("text/plain; version=0.0.4; charset=utf-8; escaping=underscores"));
    assert_eq!(text, format!("# TYPE fed_dotted untyped\nfed_dotted{{http_route=\"/x\",job=\"api\",instance=\"\"}} 3 {}\n", now - 5_000));
    let reply = agent().get(&url).set("Accept", "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.1").call().expect("federate");
    assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8"));
    let text = reply.into_string().unwrap_or_default();
    assert_eq!(text, format!("# TYPE \"fed.dotted\" untyped\n{{\"fed.dotted\",\"http.route\"=\"/x\",job=\"api\",instance=\"\"}} 3 {}\n", now - 5_000));
    // That answer imports elsewhere with its UTF-8 names, selected quoted.
    let reply = post_plain(&b.url("/api/v1/import/prometheus"), "text/plain", text.as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    let (status, body) = get_json(&b.url(&format!("/api/v1/query?query={}&time={}", percent_encode(r#"{"fed.dotted","http.route"="/x"}"#), (now - 5_000) / 1000)));
    assert_eq!((status, body["data"]["result"][0]["value"][1].as_str()), (200, Some("3")), "{body}");
    assert!(a.stop());
    assert!(b.stop());
}
