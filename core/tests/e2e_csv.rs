//! End-to-end: VictoriaMetrics' CSV import and export through the real binary: imported rows
//! read back exactly through `/api/v1/export`, bad input refused with what is wrong, and
//! `/api/v1/export/csv`.

mod support;

use std::collections::BTreeMap;

use support::*;

/// The deliberately small body limit of these tests (the streamed import is several times it).
const BODY_LIMIT: usize = 256 << 10;

/// A whole second two hours ago, so every row lands in the head.
fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now - 2 * 3_600_000) / 1000 * 1000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn encoded(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// POSTs `body` to `/api/v1/import/csv` with `query` (already encoded).
fn import(server: &Server, path_and_query: &str, body: &str) -> Reply {
    reply_or_status(path_and_query, agent().post(&server.url(path_and_query)).set("Content-Type", "text/csv").send_bytes(body.as_bytes()))
}

fn csv_url(format: &str, extra: &str) -> String {
    format!("/api/v1/import/csv?format={}{extra}", encoded(format))
}

/// Series (labels as JSON text) → (timestamp, value) samples, from `/api/v1/export`.
fn exported(server: &Server, selector: &str) -> BTreeMap<String, Vec<(i64, f64)>> {
    let text = agent().get(&server.url(&format!("/api/v1/export?match[]={}", encoded(selector)))).call().expect("export").into_string().expect("body");
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let samples = out.entry(v["metric"].to_string()).or_default();
        for (t, x) in v["timestamps"].as_array().expect("timestamps").iter().zip(v["values"].as_array().expect("values")) {
            samples.push((t.as_i64().expect("timestamp"), x.as_f64().expect("value")));
        }
    }
    out
}

fn series(labels: serde_json::Value, samples: &[(i64, f64)]) -> (String, Vec<(i64, f64)>) {
    (labels.to_string(), samples.to_vec())
}

/// Every time format, quoting, several metric columns per row, `extra_label`, the
/// `/prometheus/` prefix, gzip and PUT bodies, a body several times `server.max_body_bytes`
/// (streamed), read back exactly through `/api/v1/export`.
#[test]
fn csv_rows_are_stored_in_every_time_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), &format!("  max_body_bytes: {BODY_LIMIT}\n")));
    let t0 = base_ms();

    // VictoriaMetrics' documented example: no time column, two metrics per row.
    let before = now_ms();
    let format = "2:metric:ask,3:metric:bid,1:label:ticker,4:label:market";
    assert_eq!(import(&server, &csv_url(format, ""), "GOOG,1.23,4.56,NYSE").status, 204);
    assert_eq!(import(&server, &csv_url(format, ""), "MSFT,3.21,1.67,NASDAQ\n").status, 204);
    let after = now_ms();
    let got = exported(&server, "{ticker!=\"\"}");
    assert_eq!(got.len(), 4, "{got:?}");
    let ask = &got[&serde_json::json!({"__name__": "ask", "market": "NYSE", "ticker": "GOOG"}).to_string()];
    assert_eq!(ask.len(), 1);
    assert_eq!(ask[0].1, 1.23);
    assert!((before..=after).contains(&ask[0].0), "stamped with the request's time: {ask:?}");

    // unix_s, unix_ms, unix_ns, rfc3339 and a custom layout; quoted fields with commas and
    // doubled quotes; CRLF line ends, blank lines, columns past the format ignored.
    let s = t0 / 1000;
    let rfc = |ms: i64| -> String {
        let out = std::process::Command::new("date").args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%m-%dT%H:%M:%S"]).output().expect("date");
        format!("{}.{:03}Z", String::from_utf8_lossy(&out.stdout).trim(), ms % 1000)
    };
    let cases = [
        ("unix_s", format!("{s}"), t0),
        ("unix_ms", format!("{}", t0 + 1), t0 + 1),
        ("unix_ns", format!("{}999999", t0 + 2), t0 + 2),
        ("rfc3339", rfc(t0 + 3), t0 + 3),
    ];
    for (time_format, time, expected_ms) in &cases {
        let format = format!("1:time:{time_format},2:label:host,3:metric:temp_{time_format},4:label:note");
        let body = format!("{time},\"web,1\",21.5,\"say \"\"hi\"\"\",ignored\r\n\r\n{time},web-2,-3,plain\r\n");
        let reply = import(&server, &csv_url(&format, ""), &body);
        assert_eq!(reply.status, 204, "{time_format}: {}", reply.body);
        assert_eq!(
            exported(&server, &format!("temp_{time_format}")),
            BTreeMap::from([
                series(serde_json::json!({"__name__": format!("temp_{time_format}"), "host": "web,1", "note": "say \"hi\""}), &[(*expected_ms, 21.5)]),
                series(serde_json::json!({"__name__": format!("temp_{time_format}"), "host": "web-2", "note": "plain"}), &[(*expected_ms, -3.0)]),
            ]),
            "{time_format}"
        );
    }
    let date = std::process::Command::new("date").args(["-u", "-d", &format!("@{s}"), "+%Y-%m-%d %H:%M:%S"]).output().expect("date");
    let custom_time = format!("{}.25", String::from_utf8_lossy(&date.stdout).trim());
    let reply = import(&server, &csv_url("1:metric:custom_layout,2:time:custom:2006-01-02 15:04:05.999", ""), &format!("7,{custom_time}\n"));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(exported(&server, "custom_layout"), BTreeMap::from([series(serde_json::json!({"__name__": "custom_layout"}), &[(t0 + 250, 7.0)])]));

    // extra_label replaces a column's label; the /prometheus/ prefix; PUT; gzip.
    let url = format!("/prometheus{}", csv_url("1:label:dc,2:metric:prefixed,3:time:unix_ms", "&extra_label=dc=eu&extra_label=env=prod"));
    assert_eq!(import(&server, &url, &format!("us,1,{t0}\n")).status, 204);
    let put = agent().put(&server.url(&csv_url("1:metric:put_rows,2:time:unix_ms", ""))).send_bytes(format!("2,{t0}").as_bytes());
    assert_eq!(reply_or_status("PUT", put).status, 204);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, format!("3,{t0}\n4,{}\n", t0 + 1000).as_bytes()).expect("gzip");
    let gzipped = encoder.finish().expect("gzip");
    let reply = reply_or_status(
        "gzip",
        agent().post(&server.url(&csv_url("1:metric:gzip_rows,2:time:unix_ms", ""))).set("Content-Encoding", "gzip").send_bytes(&gzipped),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(exported(&server, "prefixed"), BTreeMap::from([series(serde_json::json!({"__name__": "prefixed", "dc": "eu", "env": "prod"}), &[(t0, 1.0)])]));
    assert_eq!(exported(&server, "put_rows").len(), 1);
    assert_eq!(exported(&server, "gzip_rows"), BTreeMap::from([series(serde_json::json!({"__name__": "gzip_rows"}), &[(t0, 3.0), (t0 + 1000, 4.0)])]));

    // A body four times max_body_bytes streams through: 60,000 rows of two series.
    let body: String = (0..60_000).map(|k| format!("{},{}.5,{}\n", k % 2, k, t0 + (k / 2) * 100)).collect();
    assert!(body.len() > 4 * BODY_LIMIT);
    let reply = import(&server, &csv_url("1:label:i,2:metric:streamed,3:time:unix_ms", ""), &body);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let got = exported(&server, "streamed");
    assert_eq!(got.values().map(Vec::len).collect::<Vec<_>>(), vec![30_000, 30_000]);
    let odd = &got[&serde_json::json!({"__name__": "streamed", "i": "1"}).to_string()];
    assert_eq!((odd[0], odd[29_999]), ((t0, 1.5), (t0 + 2_999_900, 59_999.5)));
    assert!(server.stop());
}

/// A bad `format` is a 400 with nothing stored; bad rows are a 400 naming the first with the
/// other rows stored.
#[test]
fn bad_formats_and_rows_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let body = format!("1,{t0}\n");

    // A malformed or missing format: 400 before anything is stored.
    for (format, problem) in [
        ("1:metric:refused,2:time:bogus", "entry #2 \"2:time:bogus\": unknown time format \"bogus\""),
        ("1:metric:refused,1:metric:again", "column 1 is described twice"),
        ("1:label:refused", "no metric column"),
        ("x:metric:refused", "the column position \"x\" is not a number"),
        ("1:metric:refused,2:time:custom:15:04", "has no year"),
    ] {
        let reply = import(&server, &csv_url(format, ""), &body);
        assert_eq!(reply.status, 400, "{format}");
        assert!(reply.body.contains("invalid parameter \\\"format\\\"") && reply.body.contains(&problem.replace('"', "\\\"")), "{format}: {}", reply.body);
    }
    let reply = import(&server, "/api/v1/import/csv", &body);
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("missing parameter \\\"format\\\""), "{}", reply.body);
    let reply = import(&server, &csv_url("1:metric:refused", "&extra_label=dc"), &body);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(exported(&server, "{__name__=~\"refused|again\"}").is_empty());

    // Bad rows are skipped, the others stored, the 400 names the first and counts them.
    let format = "1:time:unix_ms,2:label:ticker,3:metric:ask,4:metric:bid";
    let body = format!(
        "{t0},GOOG,1.5,2.5\n{t0},MSFT,,1.67\n{t0},AAPL,x,2\n{t0},IBM,5\n{},GOOG,3.5,4.5\nnot-a-time,ORCL,1,2\n",
        t0 + 1000
    );
    let reply = import(&server, &csv_url(format, ""), &body);
    assert_eq!(reply.status, 400);
    assert!(
        reply.body.contains("line 2: column 3: the ask value \\\"\\\" is not a number; 4 bad rows skipped, the request's other rows stored (4 samples)"),
        "{}",
        reply.body
    );
    assert_eq!(
        exported(&server, "{ticker!=\"\"}"),
        BTreeMap::from([
            series(serde_json::json!({"__name__": "ask", "ticker": "GOOG"}), &[(t0, 1.5), (t0 + 1000, 3.5)]),
            series(serde_json::json!({"__name__": "bid", "ticker": "GOOG"}), &[(t0, 2.5), (t0 + 1000, 4.5)]),
        ])
    );
    assert!(server.stop());
}

/// `/api/v1/export/csv` writes one line per sample in `format` order within `start`/`end`.
#[test]
fn export_csv_writes_one_line_per_sample_in_format_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let body = format!("{t0},\"a,b\",1.5\n{},\"a,b\",-2\n{},plain,0.25\n", t0 + 1500, t0 + 3000);
    assert_eq!(import(&server, &csv_url("1:time:unix_ms,2:label:host,3:metric:cpu", ""), &body).status, 204);
    let get = |query: &str| reply_or_status("export csv", agent().get(&server.url(&format!("/api/v1/export/csv?{query}"))).call());
    let format = encoded("__name__,host,__value__,__timestamp__,__timestamp__:unix_s,__timestamp__:unix_ns,missing");
    let reply = get(&format!("format={format}&match[]=cpu"));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("text/csv; charset=utf-8"));
    let mut got: Vec<&str> = reply.body.lines().collect();
    got.sort();
    let s = t0 / 1000;
    let mut expected = vec![
        format!("cpu,\"a,b\",1.5,{t0},{s},{t0}000000,"),
        format!("cpu,\"a,b\",-2,{},{},{}000000,", t0 + 1500, s + 1, t0 + 1500),
        format!("cpu,plain,0.25,{},{},{}000000,", t0 + 3000, s + 3, t0 + 3000),
    ];
    expected.sort();
    assert_eq!(got, expected);

    // start/end choose the samples (as /api/v1/export); POST form bodies work too.
    let form = format!("format={}&match[]=cpu&start={}&end={}", encoded("__value__,__timestamp__:rfc3339"), (t0 + 1000) as f64 / 1000.0, (t0 + 2000) as f64 / 1000.0);
    let reply = reply_or_status("export csv POST", agent().post(&server.url("/prometheus/api/v1/export/csv")).set("Content-Type", "application/x-www-form-urlencoded").send_bytes(form.as_bytes()));
    assert_eq!(reply.status, 200, "{}", reply.body);
    let date = std::process::Command::new("date").args(["-u", "-d", &format!("@{}", s + 1), "+%Y-%m-%dT%H:%M:%SZ"]).output().expect("date");
    assert_eq!(reply.body, format!("-2,{}\n", String::from_utf8_lossy(&date.stdout).trim()));

    // Exported CSV (quoted fields included) imports back with the same samples.
    let reply = get(&format!("format={}&match[]=cpu", encoded("host,__value__,__timestamp__:unix_ms")));
    assert_eq!(import(&server, &csv_url("1:label:host,2:metric:cpu_copy,3:time:unix_ms", ""), &reply.body).status, 204);
    let copied = exported(&server, "cpu_copy");
    assert_eq!(copied[&serde_json::json!({"__name__": "cpu_copy", "host": "a,b"}).to_string()], vec![(t0, 1.5), (t0 + 1500, -2.0)]);
    assert_eq!(copied[&serde_json::json!({"__name__": "cpu_copy", "host": "plain"}).to_string()], vec![(t0 + 3000, 0.25)]);

    // No format, an unknown time format, no match[]: 400.
    for (query, problem) in [
        ("match[]=cpu".to_string(), "missing parameter \\\"format\\\""),
        (format!("format={}&match[]=cpu", encoded("__timestamp__:bogus")), "unknown time format \\\"bogus\\\""),
        ("format=__value__".to_string(), "missing match[]"),
    ] {
        let reply = get(&query);
        assert_eq!(reply.status, 400, "{query}");
        assert!(reply.body.contains(problem), "{query}: {}", reply.body);
    }
    assert!(server.stop());
}
