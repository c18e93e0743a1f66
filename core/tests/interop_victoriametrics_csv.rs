//! Interop with VictoriaMetrics single-node (Debian's `victoria-metrics` 1.79 package) on its
//! CSV endpoints: the same CSV bodies imported into both must export the same series, samples
//! and CSV lines. Runs when METRICSTOR_VICTORIAMETRICS_BIN is set (`.ci/run` installs the
//! package and sets it); otherwise says why it skipped.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::*;

const DEADLINE: Duration = Duration::from_secs(60);

/// Calls `attempt` every 250 ms until it gives a value; fails after `DEADLINE` naming `what`,
/// with VictoriaMetrics' log.
fn wait_for<T>(log: &Path, what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(found) = attempt() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what} did not arrive within {DEADLINE:?}; log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn encoded(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// `seconds` since the epoch as `date -u` writes `layout`.
fn utc(seconds: i64, layout: &str) -> String {
    let out = Command::new("date").args(["-u", "-d", &format!("@{seconds}"), &format!("+{layout}")]).env("LC_ALL", "C").output().expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// POSTs a CSV body (gzipped when asked) to `base` + `/api/v1/import/csv`.
fn import(base: &str, format: &str, extra: &str, body: &str, gzip: bool) -> Reply {
    let url = format!("{base}/api/v1/import/csv?format={}{extra}", encoded(format));
    let mut request = agent().post(&url).set("Content-Type", "text/csv");
    let bytes = if gzip {
        request = request.set("Content-Encoding", "gzip");
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut encoder, body.as_bytes()).expect("gzip");
        encoder.finish().expect("gzip")
    } else {
        body.as_bytes().to_vec()
    };
    reply_or_status(&url, request.send_bytes(&bytes))
}

fn get(url: &str) -> Reply {
    reply_or_status(url, agent().get(url).call())
}

/// Series (labels as sorted JSON) → (timestamp, value bits) in time order, from a JSON-lines
/// export (a series may span several lines).
fn export_json(base: &str, selector: &str) -> BTreeMap<String, Vec<(i64, u64)>> {
    let reply = get(&format!("{base}/api/v1/export?match[]={}", encoded(selector)));
    assert_eq!(reply.status, 200, "{base}: {}", reply.body);
    let mut out: BTreeMap<String, Vec<(i64, u64)>> = BTreeMap::new();
    for line in reply.body.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let labels: BTreeMap<String, String> = serde_json::from_value(v["metric"].clone()).expect("labels");
        let samples = out.entry(serde_json::to_string(&labels).expect("labels as JSON")).or_default();
        for (t, x) in v["timestamps"].as_array().expect("timestamps").iter().zip(v["values"].as_array().expect("values")) {
            samples.push((t.as_i64().expect("timestamp"), x.as_f64().expect("a finite value").to_bits()));
        }
    }
    for samples in out.values_mut() {
        samples.sort_unstable();
    }
    out
}

/// The lines of a CSV export, sorted (neither server promises an order).
fn export_csv(base: &str, format: &str, selector: &str) -> Vec<String> {
    let reply = get(&format!("{base}/api/v1/export/csv?format={}&match[]={}", encoded(format), encoded(selector)));
    assert_eq!(reply.status, 200, "{base}: {}", reply.body);
    let mut lines: Vec<String> = reply.body.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// The same CSV bodies (every time format, quoting, blank and CRLF lines, superfluous
/// columns, bad rows VictoriaMetrics skips, `extra_label`, gzip) are imported into both, then
/// both `/api/v1/export` outputs must hold the same series and samples, and both
/// `/api/v1/export/csv` outputs the same lines for one `format`.
#[test]
fn csv_imports_and_exports_match_victoriametrics() {
    let Ok(victoria) = std::env::var("METRICSTOR_VICTORIAMETRICS_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN (bash .ci/run does) to run the VictoriaMetrics CSV interop test");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let ours = server.url("");
    let (_vm, vm, log) = start_victoriametrics(&victoria, dir.path());
    let s0 = (SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64) - 3 * 3600;
    let t0 = s0 * 1000;

    // (format, extra query, body, gzip, rows VictoriaMetrics skips: ours answers 400 for them)
    let bodies: Vec<(&str, &str, String, bool, usize)> = vec![
        (
            // Seconds; two metrics per row; quoting with "" and commas; CRLF and blank lines;
            // columns past the format; rows VictoriaMetrics skips: an empty and a bad value,
            // too few columns, a trailing comma (no empty last field), an unclosed quote.
            "1:time:unix_s,2:label:ticker,3:metric:csvio_ask,4:metric:csvio_bid,5:label:market",
            "",
            format!(
                "{s0},GOOG,1.23,4.56,NYSE\r\n{},GOOG,1.25,4.5,NYSE,extra,\"x\"\r\n\r\n{s0},\"Q\"\"uote,d\",9,10,\"a<b,c\"\n\
                 {s0},MSFT,,1.67,NASDAQ\n{s0},AAPL,x,2,NASDAQ\n{s0},IBM,5,6\n{s0},ORCL,7,8,\n{s0},\"unclosed,7,8,X\n{},GOOG,-0.5,1e3,NYSE",
                s0 + 15,
                s0 + 30
            ),
            false,
            5,
        ),
        (
            // RFC 3339 with fractions and offsets; a label value with a quote and a tab.
            "2:time:rfc3339,1:metric:csvio_temp,3:label:room",
            "",
            format!(
                "21.5,{}.123Z,a\n22,{}.5+02:00,a\n-3.25,{}Z,\"b \"\"quoted\"\"\tx\"\n",
                utc(s0, "%Y-%m-%dT%H:%M:%S"),
                utc(s0 + 7200 + 60, "%Y-%m-%dT%H:%M:%S"),
                utc(s0 + 5, "%Y-%m-%dT%H:%M:%S")
            ),
            false,
            0,
        ),
        (
            // Milliseconds; extra_label replacing a column's label and adding one; empty label
            // values (the label is left out).
            "1:label:host,2:metric:csvio_mem,3:time:unix_ms,4:label:empty",
            "&extra_label=dc=eu&extra_label=host=forced",
            format!("web-1,1024,{},x\n,2048,{},\"\"\n", t0 + 1, t0 + 2),
            false,
            0,
        ),
        (
            // Nanoseconds (truncated to milliseconds), gzip-compressed.
            "1:metric:csvio_ns,2:time:unix_ns,3:label:kind",
            "",
            format!("0.000123,{}123456,gz\n1234567.875,{}999999,gz\n", t0 + 10, t0 + 20),
            true,
            0,
        ),
        (
            // A custom Go layout: month names, a 12-hour clock, a fraction.
            "1:metric:csvio_custom,2:time:custom:Jan _2 2006 03:04:05.000 PM,3:label:l",
            "",
            format!("42,{},v\n43,{},v\n", utc(s0, "%b %e %Y %I:%M:%S.250 %p"), utc(s0 + 61, "%b %e %Y %I:%M:%S.000 %p")),
            false,
            0,
        ),
    ];
    for (format, extra, body, gzip, skipped) in &bodies {
        let theirs = import(&vm, format, extra, body, *gzip);
        assert_eq!(theirs.status, 204, "VictoriaMetrics, {format}: {}", theirs.body);
        let reply = import(&ours, format, extra, body, *gzip);
        if *skipped == 0 {
            assert_eq!(reply.status, 204, "{format}: {}", reply.body);
        } else {
            assert_eq!(reply.status, 400, "{format}: {}", reply.body);
            assert!(reply.body.contains(&format!("{skipped} bad rows skipped, the request's other rows stored")), "{}", reply.body);
        }
    }
    // A malformed format is refused by both.
    for format in ["1:metric:csvio_bad,1:label:x", "1:time:bogus,2:metric:csvio_bad", "1:label:x"] {
        assert_eq!(import(&vm, format, "", "1,2\n", false).status, 400, "VictoriaMetrics, {format}");
        assert_eq!(import(&ours, format, "", "1,2\n", false).status, 400, "{format}");
    }

    let selector = "{__name__=~\"csvio_.*\"}";
    let expected_samples = 8 + 3 + 2 + 2 + 2;
    agent().get(&format!("{vm}/internal/force_flush")).call().expect("force flush");
    let theirs = wait_for(&log, "the imported rows in VictoriaMetrics", || {
        let exported = export_json(&vm, selector);
        (exported.values().map(Vec::len).sum::<usize>() == expected_samples).then_some(exported)
    });
    let mine = export_json(&ours, selector);
    assert_eq!(mine, theirs, "JSON-lines exports differ");
    assert_eq!(mine.len(), 10, "{mine:#?}");
    assert!(mine.contains_key(r#"{"__name__":"csvio_ask","market":"a<b,c","ticker":"Q\"uote,d"}"#), "{mine:#?}");
    assert!(mine.contains_key(r#"{"__name__":"csvio_mem","dc":"eu","host":"forced"}"#), "{mine:#?}");

    // Both CSV exports, for one format with every kind of field.
    let format = "__name__,__value__,__timestamp__,__timestamp__:unix_s,__timestamp__:unix_ms,__timestamp__:unix_ns,__timestamp__:rfc3339,\
                  __timestamp__:custom:Mon Jan _2 2006 15:04:05.999 MST -07:00,ticker,market,room,host,dc,kind,missing";
    let theirs = export_csv(&vm, format, selector);
    let mine = export_csv(&ours, format, selector);
    assert_eq!(mine, theirs, "CSV exports differ");
    assert_eq!(mine.len(), expected_samples);
    assert!(mine.iter().any(|l| l.contains(r#","Q\"uote,d","a\u003cb,c","#)), "{mine:#?}");
    // Both refuse an export without a format.
    assert_eq!(get(&format!("{vm}/api/v1/export/csv?match[]={}", encoded(selector))).status, 400);
    assert_eq!(get(&format!("{ours}/api/v1/export/csv?match[]={}", encoded(selector))).status, 400);
    assert!(server.stop());
}
