//! `vmctl vm-native` migrates Metricstor into VictoriaMetrics 1.79 (and into another
//! Metricstor) through our `/api/v1/export/native`; the migrated series must read back as the
//! same series written directly. Runs when METRICSTOR_VICTORIAMETRICS_BIN and
//! METRICSTOR_VMCTL_BIN are set (`.ci/run` sets both); otherwise it says why it skipped.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::*;

/// Series (labels as JSON, `src` set to one value) → (timestamp, value bits).
type Exported = BTreeMap<String, Vec<(i64, u64)>>;
/// Series to write: labels and (timestamp, value) samples.
type Written = Vec<(Vec<(String, String)>, Vec<(i64, f64)>)>;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

/// A JSON-lines export with every series' `src` label set to `src` and its `copy` label
/// dropped.
fn exact_export_from(text: &str, src: &str) -> Exported {
    exact_export(text, |labels| {
        labels.insert("src".to_string(), src.to_string());
        labels.remove("copy");
    })
}

fn get_text(url: &str) -> String {
    agent().get(url).call().unwrap_or_else(|e| panic!("GET {url}: {e}")).into_string().expect("body")
}

/// Where `got` differs from `want`: per series, how many samples and the first few, as
/// (timestamp, wanted, got); empty when they are equal.
fn differences(want: &Exported, got: &Exported) -> Vec<String> {
    let mut out = Vec::new();
    for (series, points) in want {
        let Some(theirs) = got.get(series) else {
            out.push(format!("{series}: missing"));
            continue;
        };
        let differing: Vec<_> = points.iter().zip(theirs).filter(|(a, b)| a != b).collect();
        if !differing.is_empty() || points.len() != theirs.len() {
            let shown: Vec<String> = differing.iter().take(3).map(|(a, b)| format!("({} {} {} {})", a.0, f64::from_bits(a.1), b.0, f64::from_bits(b.1))).collect();
            out.push(format!("{series}: {} of {} samples differ ({} against {}), first {}", differing.len(), points.len(), points.len(), theirs.len(), shown.join(" ")));
        }
    }
    out.extend(got.keys().filter(|k| !want.contains_key(*k)).map(|k| format!("{k}: not expected")));
    out
}

fn samples(exported: &Exported) -> usize {
    exported.values().map(Vec::len).sum()
}

/// VictoriaMetrics' export of `selector` (URL-encoded) once it holds `expected` samples.
fn vm_export_when_complete(vm: &str, selector: &str, expected: usize, log: &Path) -> Exported {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        agent().get(&format!("{vm}/internal/force_flush")).call().expect("force flush");
        let exported = exact_export_from(&get_text(&format!("{vm}/api/v1/export?match[]={selector}")), "any");
        if samples(&exported) == expected {
            return exported;
        }
        assert!(
            Instant::now() < deadline,
            "VictoriaMetrics holds {} of the {expected} samples of {selector}; log:\n{}",
            samples(&exported),
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The test's series, all labelled `src`: counters, gauges with decimals and negative values,
/// large integers, infinities, a series ending in a staleness marker, one longer than a
/// block (8,192 rows), many short ones, and values VictoriaMetrics' conversion rounds.
fn test_series(src: &str, start_ms: i64) -> Written {
    let at = |k: i64| start_ms + k * 15_000;
    let labels = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).chain([("src".to_string(), src.to_string())]).collect()
    };
    let mut series = Vec::new();
    for (code, step) in [("200", 7i64), ("404", 3), ("500", 1)] {
        let mut total = 0i64;
        let points = (0..2400)
            .map(|k| {
                total = if k == 1500 { k % 5 } else { total + (k * step) % 13 + 1 };
                (at(k), total as f64)
            })
            .collect();
        series.push((labels(&[("__name__", "nx_requests_total"), ("code", code)]), points));
    }
    for (room, offset) in [("a", 0.0), ("b", -30.0)] {
        let points = (0..2400).map(|k| (at(k), offset + 20.0 + ((k * 31) % 17) as f64 / 8.0 - 3.25 * (k % 3) as f64)).collect();
        series.push((labels(&[("__name__", "nx_temperature_celsius"), ("room", room)]), points));
    }
    let big = (0..600).map(|k| (at(k), 1e15 + (k * 12_345) as f64)).chain([(at(600), 9_007_199_254_740_992.0), (at(601), 1e18), (at(602), -4.5e17)]).collect();
    series.push((labels(&[("__name__", "nx_bytes"), ("kind", "big")]), big));
    series.push((labels(&[("__name__", "nx_edge"), ("kind", "inf")]), vec![(at(0), f64::INFINITY), (at(1), f64::NEG_INFINITY), (at(2), 0.0), (at(3), 1.5e-7), (at(4), -2.5)]));
    let stale = f64::from_bits(tsdb::STALE_NAN_BITS);
    series.push((labels(&[("__name__", "nx_job_up"), ("instance", "x")]), (0..100).map(|k| (at(k), 1.0)).chain([(at(100), stale)]).collect()));
    series.push((labels(&[("__name__", "nx_long_total")]), (0..20_000).map(|k| (start_ms + k * 1000, (k * 3 + k % 7) as f64)).collect()));
    for i in 0..200 {
        let i_text = i.to_string();
        series.push((labels(&[("__name__", "nx_many"), ("i", &i_text)]), (0..20).map(|k| (at(k), (i * 100 + k) as f64 / 4.0)).collect()));
    }
    series.push((labels(&[("__name__", "nx_lossy")]), (0..300).map(|k| (at(k), k as f64 * std::f64::consts::PI + 0.000123 * k as f64)).collect()));
    series
}

fn write_request(series: &Written) -> Vec<u8> {
    let borrowed: Vec<_> =
        series.iter().map(|(labels, points)| (labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(), points.clone())).collect();
    v1_request(&borrowed)
}

/// With `server.vm_native_export_version: "1.79"`, the same series written directly into
/// VictoriaMetrics and migrated there from us read back alike, sample for sample and bit for
/// bit, and those VictoriaMetrics' decimal conversion keeps exactly equal what we hold. A
/// migration into another Metricstor is checked the same way.
#[test]
fn vmctl_vm_native_migrates_us_into_victoriametrics() {
    let (Ok(victoria), Ok(vmctl)) = (std::env::var("METRICSTOR_VICTORIAMETRICS_BIN"), std::env::var("METRICSTOR_VMCTL_BIN")) else {
        eprintln!("SKIPPED: set METRICSTOR_VICTORIAMETRICS_BIN and METRICSTOR_VMCTL_BIN (bash .ci/run does) to run the native export test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // VictoriaMetrics 1.79 reads only the block header before 1.82.
    let server = Server::start(&write_config(dir.path(), "  vm_native_export_version: \"1.79\"\n"));
    let (_vm, vm, log) = start_victoriametrics(&victoria, dir.path());
    let start_ms = (now_ms() - 11 * 3_600_000) / 1000 * 1000;

    // The same series into us and, as a reference, directly into VictoriaMetrics.
    let ours = test_series("metricstor", start_ms);
    let written: usize = ours.iter().map(|(_, s)| s.len()).sum();
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &write_request(&ours));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let reply = post(&format!("{vm}/api/v1/write"), "application/x-protobuf", &write_request(&test_series("direct", start_ms)));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let held = exact_export_from(&get_text(&server.url("/api/v1/export?match[]=%7Bsrc%3D%22metricstor%22%7D")), "any");
    assert_eq!(samples(&held), written);

    // match[] is required, as in VictoriaMetrics.
    let missing = reply_or_status("export without match[]", agent().get(&server.url("/api/v1/export/native")).call());
    assert_eq!(missing.status, 400, "{}", missing.body);

    // vmctl 1.79 insists on a terminal for its progress bars; `script` gives it one.
    let command = format!(
        "{vmctl} vm-native --vm-native-src-addr={} --vm-native-dst-addr={vm} '--vm-native-filter-match={{src=\"metricstor\"}}'",
        server.url("")
    );
    let ran = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("run vmctl under script");
    let output = String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success() && output.contains("Import finished!"), "vmctl vm-native failed: {output}");

    let migrated = vm_export_when_complete(&vm, "%7Bsrc%3D%22metricstor%22%7D", written, &log);
    let direct = vm_export_when_complete(&vm, "%7Bsrc%3D%22direct%22%7D", written, &log);
    assert_eq!(migrated.len(), 210);

    // VictoriaMetrics' own native export of what was written to it directly, imported back
    // into it: bit for bit what our export became there, every series (so our blocks carry
    // the mantissas and scales VictoriaMetrics' would).
    let mut native = Vec::new();
    let own = agent().get(&format!("{vm}/api/v1/export/native?match[]=%7Bsrc%3D%22direct%22%7D")).call().expect("VictoriaMetrics' native export");
    std::io::Read::read_to_end(&mut own.into_reader(), &mut native).expect("read VictoriaMetrics' native export");
    let reply = post_plain(&format!("{vm}/api/v1/import/native?extra_label=copy=vm"), "application/octet-stream", &native);
    assert_eq!(reply.status, 204, "{}", reply.body);
    let copied = vm_export_when_complete(&vm, "%7Bcopy%3D%22vm%22%7D", written, &log);
    let differing = differences(&copied, &migrated);
    assert!(differing.is_empty(), "{}", differing.join("\n"));

    // And what we hold, and what VictoriaMetrics holds when written directly, but for the
    // values its decimal conversion rounds: it keeps about 12 significant digits of a value
    // that is not a short decimal (nx_lossy here, within one part in 10^11), and a rounded
    // value read back and converted again can lose one more unit in its last digit (as in
    // VictoriaMetrics' own vm-native migrations).
    for (reference, what) in [(&held, "ours"), (&direct, "written directly")] {
        for (series, points) in reference {
            let theirs = migrated.get(series).unwrap_or_else(|| panic!("{series} missing after the migration"));
            if !series.contains("nx_lossy") {
                assert_eq!(theirs, points, "{series} against {what}");
                continue;
            }
            let mut rounded = 0;
            for ((t, want), (their_t, got)) in points.iter().zip(theirs) {
                let (want, got) = (f64::from_bits(*want), f64::from_bits(*got));
                assert_eq!(t, their_t);
                assert!((want - got).abs() <= want.abs() * 1e-11, "{series} at {t}: {want} ({what}) became {got}");
                rounded += usize::from(want != got);
            }
            assert!(rounded > 0, "nx_lossy is expected to show the rounding against {what}");
        }
    }
    // The staleness marker stays one: the migrated and the directly written series answer
    // alike on either side of it.
    let stale_at_s = (start_ms + 100 * 15_000) / 1000;
    for time_s in [stale_at_s - 1, stale_at_s + 1] {
        let answer = |src: &str| {
            let (status, body) = get_json(&format!("{vm}/api/v1/query?query=nx_job_up%7Bsrc%3D%22{src}%22%2Ccopy%3D%22%22%7D&time={time_s}"));
            assert_eq!(status, 200, "{body}");
            body["data"]["result"].as_array().map(|r| r.iter().map(|s| s["value"][1].clone()).collect::<Vec<_>>())
        };
        assert_eq!(answer("metricstor"), answer("direct"), "at {time_s}");
    }

    // Into another Metricstor the same way: what it holds is what we hold, but for the
    // rounded values, and the staleness marker ends the series there too.
    let dir_other = tempfile::tempdir().unwrap();
    let other = Server::start(&write_config(dir_other.path(), ""));
    let command = format!(
        "{vmctl} vm-native --vm-native-src-addr={} --vm-native-dst-addr={} '--vm-native-filter-match={{src=\"metricstor\"}}'",
        server.url(""),
        other.url("")
    );
    let ran = Command::new("script").args(["-qec", &command, "/dev/null"]).output().expect("run vmctl under script");
    let output = String::from_utf8_lossy(&ran.stdout).to_string() + &String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success() && output.contains("Import finished!"), "vmctl vm-native into Metricstor failed: {output}");
    let copied = exact_export_from(&get_text(&other.url("/api/v1/export?match[]=%7Bsrc%3D%22metricstor%22%7D")), "any");
    let differing: Vec<String> = differences(&held, &copied).into_iter().filter(|d| !d.starts_with("{\"__name__\":\"nx_lossy\"")).collect();
    assert!(differing.is_empty(), "{}", differing.join("\n"));
    for time_s in [stale_at_s - 1, stale_at_s + 1] {
        let (status, body) = get_json(&other.url(&format!("/api/v1/query?query=nx_job_up&time={time_s}")));
        assert_eq!(status, 200, "{body}");
        let values: Vec<Value> = body["data"]["result"].as_array().expect("a vector").iter().map(|s| s["value"][1].clone()).collect();
        assert_eq!(values, if time_s < stale_at_s { vec![Value::from("1")] } else { Vec::new() }, "at {time_s}");
    }
    assert!(other.stop());
    assert!(server.stop());
}
