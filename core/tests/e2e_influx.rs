//! End-to-end: InfluxDB line protocol into the real binary on VictoriaMetrics' paths (plain and
//! gzip; `db`, `precision`, `extra_label`; lines without a timestamp), read back through
//! `/api/v1/query` range selectors with exact labels, values and timestamps; bad lines are a
//! 400 naming the first, the good lines of the request stored; `/ping` and `/query` answer as VictoriaMetrics does.

mod support;

use serde_json::json;
use support::*;

/// A whole minute an hour ago, so every write lands in the head.
fn base_ms() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    (now / 60_000) * 60_000 - 3_600_000
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn encoded(text: &str) -> String {
    percent_encode(text)
}

/// POSTs `body` (gzipped when asked) to `path`.
fn write_lines(server: &Server, path: &str, body: &str, gzip: bool) -> Reply {
    let mut call = agent().post(&server.url(path)).set("Content-Type", "text/plain; charset=utf-8");
    let bytes = if gzip {
        call = call.set("Content-Encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, body.as_bytes()).expect("gzip");
        encoder.finish().expect("gzip")
    } else {
        body.as_bytes().to_vec()
    };
    reply(path, call.send_bytes(&bytes))
}

fn reply(what: &str, result: Result<ureq::Response, ureq::Error>) -> Reply {
    reply_or_status(what, result)
}

/// Every series `selector` selects in the 10 minutes up to `at_ms`: its labels and
/// (timestamp ms, value) samples, sorted by labels.
fn series(server: &Server, selector: &str, at_ms: i64) -> Vec<MatrixSeries> {
    let query = format!("{selector}[10m]");
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query={}&time={}", encoded(&query), at_ms as f64 / 1000.0)));
    assert_eq!(status, 200, "{query}: {body}");
    matrix_series(&body)
}

#[test]
fn line_protocol_is_stored_as_victoriametrics_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let t0 = base_ms();
    let s = t0 / 1000;

    // Telegraf's v1 output: `db`, seconds, tags, every field type, a string skipped, escaping.
    let lines = format!(
        "# written by a test\n\
         cpu,host=web-1,cpu=cpu0 usage_idle=97.5,usage_user=1.25 {s}\n\
         cpu,host=web-1,cpu=cpu0 usage_idle=96,usage_user=2 {}\n\
         \n\
         system,host=web-1 uptime=3600i,n_cpus=8u,healthy=true,uptime_format=\"1:00\" {s}\n\
         disk\\ io,path=/var\\,log read=5 {s}\n",
        s + 15
    );
    let reply = write_lines(&server, "/write?db=telegraf&precision=s", &lines, false);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(reply.header("x-influxdb-version"), Some("1.8.0"));
    let at = t0 + 30_000;
    assert_eq!(
        series(&server, r#"{__name__=~"cpu_.*"}"#, at),
        vec![
            (json!({"__name__": "cpu_usage_idle", "cpu": "cpu0", "db": "telegraf", "host": "web-1"}), vec![(t0, "97.5".into()), (t0 + 15_000, "96".into())]),
            (json!({"__name__": "cpu_usage_user", "cpu": "cpu0", "db": "telegraf", "host": "web-1"}), vec![(t0, "1.25".into()), (t0 + 15_000, "2".into())]),
        ]
    );
    assert_eq!(
        series(&server, r#"{__name__=~"system_.*"}"#, at),
        vec![
            (json!({"__name__": "system_healthy", "db": "telegraf", "host": "web-1"}), vec![(t0, "1".into())]),
            (json!({"__name__": "system_n_cpus", "db": "telegraf", "host": "web-1"}), vec![(t0, "8".into())]),
            (json!({"__name__": "system_uptime", "db": "telegraf", "host": "web-1"}), vec![(t0, "3600".into())]),
        ]
    );
    assert_eq!(series(&server, r#"{__name__="disk io_read"}"#, at), vec![(json!({"__name__": "disk io_read", "db": "telegraf", "path": "/var,log"}), vec![(t0, "5".into())])]);

    // v2 path, gzip, milliseconds; a `db` tag wins over the parameter.
    let lines = format!("mem,db=own used=10 {}\nmem used=11 {}\n", t0 + 1, t0 + 2);
    let reply = write_lines(&server, "/api/v2/write?db=telegraf&precision=ms&bucket=b&org=o", &lines, true);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(
        series(&server, "mem_used", at),
        vec![
            (json!({"__name__": "mem_used", "db": "own"}), vec![(t0 + 1, "10".into())]),
            (json!({"__name__": "mem_used", "db": "telegraf"}), vec![(t0 + 2, "11".into())]),
        ]
    );

    // No precision: nanoseconds are recognised by size; `/influx/` and `/prometheus/`
    // prefixes; `extra_label` replaces a tag.
    let lines = format!("net,dc=us bytes=1 {}\n", (t0 + 3) * 1_000_000);
    assert_eq!(write_lines(&server, "/influx/write?extra_label=dc=eu&extra_label=env=prod", &lines, false).status, 204);
    let lines = format!("net,dc=us bytes=2 {}\n", (t0 + 4) * 1_000_000);
    assert_eq!(write_lines(&server, "/prometheus/influx/api/v2/write?precision=ns", &lines, false).status, 204);
    assert_eq!(
        series(&server, "net_bytes", at),
        vec![
            (json!({"__name__": "net_bytes", "dc": "eu", "env": "prod"}), vec![(t0 + 3, "1".into())]),
            (json!({"__name__": "net_bytes", "dc": "us"}), vec![(t0 + 4, "2".into())]),
        ]
    );

    // No timestamp: the arrival time.
    let before = now_ms();
    assert_eq!(write_lines(&server, "/write", "fresh value=42\n", false).status, 204);
    let after = now_ms();
    let fresh = series(&server, "fresh_value", after);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0].0, json!({"__name__": "fresh_value"}));
    let (stored_at, value) = &fresh[0].1[0];
    assert!((before..=after).contains(stored_at) && value == "42", "{stored_at} not in {before}..={after}");

    // Bad lines: a 400 naming the first and the problem; the good lines are stored, a bad
    // line's fields not at all (`w=1` of line 3 neither: its `v` is bad).
    let lines = format!("atomic v=1 {s}\natomic v=oops {s}\natomic w=1,v=oops {s}\nother v=2 {s}\n");
    let reply = write_lines(&server, "/write?precision=s", &lines, false);
    assert_eq!(reply.status, 400, "{}", reply.body);
    let error: serde_json::Value = serde_json::from_str(&reply.body).expect("JSON error");
    assert_eq!(error["error"], r#"line 2 ("atomic v=oops {s}"): field "v": invalid value "oops" (a number, an integer like 3i or 3u, a boolean or a quoted string expected); 2 bad lines skipped, the request's other lines stored (2 samples)"#.replace("{s}", &s.to_string()));
    assert_eq!(series(&server, "atomic_v", at).len(), 1);
    assert_eq!(series(&server, "other_v", at).len(), 1);
    assert!(series(&server, "atomic_w", at).is_empty());
    // zstd and snappy bodies, as VictoriaMetrics takes them (vmagent and Telegraf can send zstd).
    let lines = format!("enc,by=zstd v=1 {t0}000000\n");
    let zstd = ruzstd::encoding::compress_to_vec(lines.as_bytes(), ruzstd::encoding::CompressionLevel::Fastest);
    let reply = reply_raw(agent().post(&server.url("/write?precision=ns")).set("Content-Encoding", "zstd").send_bytes(&zstd));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let lines = format!("enc,by=snappy v=2 {t0}000000\n");
    let snappy = snap::raw::Encoder::new().compress_vec(lines.as_bytes()).expect("compress");
    let reply = reply_raw(agent().post(&server.url("/write?precision=ns")).set("Content-Encoding", "snappy").send_bytes(&snappy));
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(
        series(&server, "enc_v", at),
        vec![
            (json!({"__name__": "enc_v", "by": "snappy"}), vec![(t0, "2".into())]),
            (json!({"__name__": "enc_v", "by": "zstd"}), vec![(t0, "1".into())]),
        ]
    );
    // Broken gzip: 400; another encoding: 415; other methods: 405.
    let reply = reply_raw(agent().post(&server.url("/write")).set("Content-Encoding", "gzip").send_bytes(b"m v=1"));
    assert_eq!(reply.status, 400, "{}", reply.body);
    let reply = reply_raw(agent().post(&server.url("/write")).set("Content-Encoding", "br").send_bytes(b"m v=1"));
    assert_eq!(reply.status, 415, "{}", reply.body);
    let reply = reply_raw(agent().get(&server.url("/api/v2/write")).call());
    assert_eq!((reply.status, reply.header("allow")), (405, Some("POST")));

    // `/ping` (204, 200 verbose) and `/query` (the database list), as VictoriaMetrics answers.
    for path in ["/ping", "/influx/ping", "/prometheus/ping"] {
        let reply = reply_raw(agent().get(&server.url(path)).call());
        assert_eq!((reply.status, reply.header("x-influxdb-version")), (204, Some("1.8.0")), "{path}");
    }
    assert_eq!(reply_raw(agent().head(&server.url("/ping")).call()).status, 204);
    assert_eq!(reply_raw(agent().get(&server.url("/ping?verbose=true")).call()).status, 200);
    assert_eq!(reply_raw(agent().post(&server.url("/ping")).send_bytes(b"")).status, 405);
    // InfluxDB 2's health check, as VictoriaMetrics answers it.
    let (status, health) = get_json(&server.url("/influx/health"));
    assert_eq!((status, &health["name"], &health["status"]), (200, &json!("influxdb"), &json!("pass")), "{health}");
    let databases = json!({"results": [{"statement_id": 0, "series": [{"name": "databases", "columns": ["name"], "values": [["_internal"]]}]}]});
    let (status, answer) = get_json(&server.url("/query?q=SHOW%20DATABASES"));
    assert_eq!((status, answer), (200, databases.clone()));
    let reply = reply_raw(agent().post(&server.url("/influx/query")).send_form(&[("q", "CREATE DATABASE \"telegraf\"")]));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&reply.body).expect("JSON"), databases);
    assert!(server.stop());
}

fn reply_raw(result: Result<ureq::Response, ureq::Error>) -> Reply {
    reply("request", result)
}
