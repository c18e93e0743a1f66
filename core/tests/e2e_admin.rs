//! The admin API (`delete_series`, `clean_tombstones`, snapshots) and the lifecycle API's
//! `/-/quit` against the real binary, each refused unless enabled (`server.enable_admin_api`,
//! `server.enable_lifecycle`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use support::*;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const JOBS: [&str; 3] = ["a", "b", "c"];

/// One remote_write request's series: labels and samples.
type Batch<'a> = Vec<(Vec<(&'a str, &'a str)>, Vec<(i64, f64)>)>;

fn form_post(url: &str, form: &[(&str, &str)]) -> (u16, String) {
    match agent().post(url).send_form(form) {
        Ok(r) | Err(ureq::Error::Status(_, r)) => (r.status(), r.into_string().unwrap_or_default()),
        Err(e) => panic!("POST {url}: {e}"),
    }
}

fn seconds(ms: i64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// Series (by job) → timestamps, from `/api/v1/export`.
fn exported(server: &Server) -> BTreeMap<String, BTreeSet<i64>> {
    exported_by_label(server, "%7B__name__%3D%22adm%22%7D", "job")
}

/// `count_over_time(adm[10h])` at `at_ms`, by job.
fn counts(server: &Server, at_ms: i64) -> BTreeMap<String, u64> {
    let url = server.url(&format!("/api/v1/query?query=count_over_time(adm%5B10h%5D)&time={}", seconds(at_ms)));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{body}");
    body["data"]["result"]
        .as_array()
        .expect("vector")
        .iter()
        .map(|s| {
            let job = s["metric"]["job"].as_str().expect("job").to_string();
            (job, s["value"][1].as_str().expect("value").parse::<u64>().expect("count"))
        })
        .collect()
}

fn tombstone_files(data: &Path) -> Vec<u64> {
    let mut sizes = Vec::new();
    for shard in std::fs::read_dir(data).expect("ls data").filter_map(Result::ok) {
        let Ok(entries) = std::fs::read_dir(shard.path()) else { continue };
        for block in entries.filter_map(Result::ok) {
            if let Ok(meta) = std::fs::metadata(block.path().join("tombstones")) {
                sizes.push(meta.len());
            }
        }
    }
    sizes
}

/// Job → timestamps that `promtool tsdb dump` (blocks only: the head is not in a block)
/// prints for every shard, when `METRICSTOR_PROMTOOL_BIN` is set.
fn promtool_dump(data: &Path) -> Option<BTreeMap<String, BTreeSet<i64>>> {
    let promtool = std::env::var("METRICSTOR_PROMTOOL_BIN").ok()?;
    let mut out: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for shard in std::fs::read_dir(data).expect("ls data").filter_map(Result::ok).filter(|e| e.path().is_dir()) {
        let run = std::process::Command::new(&promtool).args(["tsdb", "dump"]).arg(shard.path()).output().expect("run promtool");
        assert!(run.status.success(), "promtool tsdb dump: {}", String::from_utf8_lossy(&run.stderr));
        for line in String::from_utf8_lossy(&run.stdout).lines().filter(|l| l.starts_with("{__name__=\"adm\"")) {
            let job = line.split("job=\"").nth(1).and_then(|r| r.split('"').next()).expect("job label").to_string();
            let t: i64 = line.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("timestamp");
            assert!(out.entry(job).or_default().insert(t), "promtool dumped a sample twice");
        }
    }
    Some(out)
}

/// Unless `server.enable_admin_api` is on, the admin API is refused (503, Prometheus' exact
/// error).
#[test]
fn admin_endpoints_are_refused_unless_enabled() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    let vm_snapshot_api = ["/snapshot/create", "/snapshot/list", "/snapshot/delete", "/snapshot/delete_all"];
    for path in ["/api/v1/admin/tsdb/delete_series", "/api/v1/admin/tsdb/clean_tombstones", "/api/v1/admin/tsdb/snapshot"].into_iter().chain(vm_snapshot_api) {
        let (status, body) = form_post(&server.url(path), &[("match[]", "up"), ("snapshot", "20260101000000-01")]);
        assert_eq!(status, 503, "{path}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(json, serde_json::json!({"status": "error", "errorType": "unavailable", "error": "admin APIs disabled"}));
    }
    let (_, flags) = get_json(&server.url("/api/v1/status/flags"));
    assert_eq!(flags["data"]["web.enable-admin-api"], "false", "{flags}");
    // Prometheus' --enable-feature as the configuration has it: exemplars are kept by default.
    assert_eq!((flags["data"]["enable-feature"].as_str(), flags["data"]["storage.tsdb.min-block-duration"].as_str()), (Some("exemplar-storage"), Some("2h")), "{flags}");
    assert!(server.stop());
}

/// `/-/quit` is refused unless `server.enable_lifecycle` is on, and with it shuts the server
/// down as cleanly as SIGTERM.
#[test]
fn quit_shuts_down_cleanly_only_with_the_lifecycle_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    assert_eq!(form_post(&server.url("/-/quit"), &[]), (403, "Lifecycle API is not enabled.".to_string()));
    let (_, features) = get_json(&server.url("/api/v1/features"));
    assert_eq!(features["data"]["api"]["lifecycle"], false, "{features}");
    assert!(server.stop());

    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  enable_lifecycle: true\n"));
    let at_s = import_sample(&server, "quit_probe", 1.0, 60) / 1000;
    let (_, features) = get_json(&server.url("/api/v1/features"));
    assert_eq!(features["data"]["api"]["lifecycle"], true, "{features}");
    let refused = agent().get(&server.url("/-/quit")).call();
    assert!(matches!(refused, Err(ureq::Error::Status(405, _))), "GET is refused");
    assert_eq!(form_post(&server.url("/-/quit"), &[]), (200, "Requesting termination... Goodbye!".to_string()));
    assert!(server.exits_within(std::time::Duration::from_secs(30)), "a clean exit, as after SIGTERM");
    // What was written before survives the quit.
    let server = Server::start(&write_config(dir.path(), ""));
    let (_, answer) = get_json(&server.url(&format!("/api/v1/query?query=quit_probe&time={at_s}")));
    assert_eq!(answer["data"]["result"][0]["value"][1], "1", "{answer}");
    assert!(server.stop());
}

/// With `server.enable_admin_api`, `delete_series` removes a series' middle range (across
/// blocks and the head) from query and export at once, leaves other series alone, survives a
/// SIGKILL restart, and `clean_tombstones` keeps the same answers while the rewritten blocks
/// carry no tombstones; a snapshot opens as a data directory elsewhere.
#[test]
fn delete_series_is_immediate_durable_and_survives_clean_tombstones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), "  enable_admin_api: true\n");
    let server = Server::start(&config);
    let (_, flags) = get_json(&server.url("/api/v1/status/flags"));
    assert_eq!(flags["data"]["web.enable-admin-api"], "true", "{flags}");

    // One sample per minute for 8 hours up to now: the 2-hour blocks up to an hour ago get
    // cut, the rest stays in the head.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let end = now_ms - now_ms % MINUTE_MS;
    let start = end - 8 * HOUR_MS;
    let mut t0 = start;
    while t0 < end {
        let batch: Batch = JOBS
            .iter()
            .enumerate()
            .map(|(j, job)| {
                let samples = (0..60).map(|k| t0 + k * MINUTE_MS).filter(|t| *t < end).map(|t| (t, (j as i64 * 1000 + t / MINUTE_MS) as f64)).collect();
                (vec![("__name__", "adm"), ("job", *job)], samples)
            })
            .collect();
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&batch));
        assert_eq!(reply.status, 204, "{}", reply.body);
        t0 += HOUR_MS;
    }
    let all: BTreeSet<i64> = (0..8 * 60).map(|k| start + k * MINUTE_MS).collect();
    let before = exported(&server);
    assert_eq!(before.len(), 3);
    assert!(before.values().all(|ts| *ts == all), "everything written is exported");

    // Bad parameters are 400 bad_data, like Prometheus.
    let delete_url = server.url("/api/v1/admin/tsdb/delete_series");
    let (status, body) = form_post(&delete_url, &[]);
    assert_eq!((status, body.contains("no match[] parameter provided")), (400, true), "{body}");
    let (status, body) = form_post(&delete_url, &[("match[]", "adm{")]);
    assert_eq!((status, body.contains("bad_data")), (400, true), "{body}");
    let (status, body) = form_post(&delete_url, &[("match[]", "adm"), ("start", "yesterday")]);
    assert_eq!((status, body.contains("invalid parameter \\\"start\\\"")), (400, true), "{body}");
    assert_eq!(exported(&server), before, "refused deletes change nothing");

    // Job a loses [start + 1h, end - 20m]: several blocks and the head.
    let (lo, hi) = (start + HOUR_MS, end - 20 * MINUTE_MS);
    let (status, body) = form_post(&delete_url, &[("match[]", "adm{job=\"a\"}"), ("start", &seconds(lo)), ("end", &seconds(hi))]);
    assert_eq!(status, 204, "{body}");
    let kept_a: BTreeSet<i64> = all.iter().copied().filter(|t| *t < lo || *t > hi).collect();
    let want: BTreeMap<String, BTreeSet<i64>> =
        [("a", kept_a.clone()), ("b", all.clone()), ("c", all.clone())].into_iter().map(|(j, ts)| (j.to_string(), ts)).collect();
    let want_counts: BTreeMap<String, u64> = want.iter().map(|(j, ts)| (j.clone(), ts.len() as u64)).collect();
    assert_eq!(exported(&server), want, "export no longer shows the deleted samples; other series untouched");
    assert_eq!(counts(&server, end), want_counts, "nor do queries");
    assert!(tombstone_files(&server.data_dir).iter().any(|&n| n > 9), "some block got a tombstones entry");
    // promtool reads our tombstones files: job a's block samples are job b's minus the range.
    if let Some(dump) = promtool_dump(&server.data_dir) {
        let in_blocks = dump.get("b").cloned().unwrap_or_default();
        assert!(in_blocks.iter().any(|t| (lo..=hi).contains(t)), "blocks hold part of the deleted range");
        let want_a: BTreeSet<i64> = in_blocks.intersection(&kept_a).copied().collect();
        assert_eq!(dump.get("a").cloned().unwrap_or_default(), want_a, "promtool honours the tombstones");
        assert_eq!(dump.get("c"), Some(&in_blocks), "other series untouched in the dump");
    } else {
        eprintln!("SKIPPED the promtool part: set METRICSTOR_PROMTOOL_BIN");
    }

    // Durable: a SIGKILL right after the 204 loses nothing of the delete.
    server.kill9();
    let server = Server::start(&config);
    assert_eq!(exported(&server), want, "the delete survives a SIGKILL restart");
    assert_eq!(counts(&server, end), want_counts);

    let (status, body) = form_post(&server.url("/api/v1/admin/tsdb/clean_tombstones"), &[]);
    assert_eq!(status, 204, "{body}");
    assert_eq!(exported(&server), want, "clean_tombstones keeps the same answers");
    assert_eq!(counts(&server, end), want_counts);
    let sizes = tombstone_files(&server.data_dir);
    assert!(!sizes.is_empty() && sizes.iter().all(|&n| n == 9), "rewritten blocks have empty tombstones: {sizes:?}");
    assert!(server.stop());
    let server = Server::start(&config);
    assert_eq!(exported(&server), want, "and after a clean restart");

    // A snapshot (blocks linked, head as a block), copied elsewhere and opened as a data
    // directory by another server, answers the same; with skip_head only the blocks' part.
    let snapshot_url = server.url("/api/v1/admin/tsdb/snapshot");
    let (status, body) = form_post(&snapshot_url, &[("skip_head", "maybe")]);
    assert_eq!((status, body.contains("skip_head")), (400, true), "{body}");
    let (status, body) = form_post(&snapshot_url, &[]);
    assert_eq!(status, 200, "{body}");
    let full = snapshot_dir(&server, &body);
    let (status, body) = form_post(&snapshot_url, &[("skip_head", "true")]);
    assert_eq!(status, 200, "{body}");
    let blocks_only = snapshot_dir(&server, &body);
    // Changes after the snapshot do not reach it.
    let (status, body) = form_post(&server.url("/api/v1/admin/tsdb/delete_series"), &[("match[]", "adm")]);
    assert_eq!(status, 204, "{body}");
    assert!(exported(&server).is_empty());
    assert!(server.stop());
    let in_blocks = promtool_dump(&blocks_only);
    for (snapshot, head_included) in [(full, true), (blocks_only, false)] {
        let restored = tempfile::tempdir().expect("tempdir");
        copy_tree(&snapshot, &restored.path().join("data"));
        let server = Server::start(&write_config(restored.path(), ""));
        let got = exported(&server);
        if head_included {
            assert_eq!(got, want, "the full snapshot holds everything");
        } else {
            assert!(got.iter().all(|(job, ts)| ts.is_subset(&want[job])), "blocks only: part of each series");
            assert!(got.values().all(|ts| ts.len() < all.len() && ts.first() == Some(&start)), "the oldest samples, not the head's");
            if let Some(dump) = &in_blocks {
                assert_eq!(&got, dump, "promtool reads the snapshot's blocks as we do");
            }
        }
        assert!(server.stop());
    }
}

/// VictoriaMetrics' snapshot API (what vmbackup's `-snapshot.createURL` calls): create (GET,
/// as vmbackup sends it) answers a name of VictoriaMetrics' form whose directory is a data
/// directory; list shows both APIs' snapshots oldest first; delete (a form, as vmbackup posts
/// it) removes one, refusing a missing, malformed or unknown name; delete_all removes the
/// rest; the stored data is untouched throughout.
#[test]
fn victoriametrics_snapshot_api_creates_lists_and_deletes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  enable_admin_api: true\n"));
    let at_ms = import_sample(&server, "snap_kept{job=\"a\"}", 3.0, 30);
    let list = |server: &Server| {
        let (status, body) = get_json(&server.url("/snapshot/list"));
        assert_eq!((status, &body["status"]), (200, &serde_json::json!("ok")), "{body}");
        body["snapshots"].as_array().expect("a list").iter().map(|n| n.as_str().expect("a name").to_string()).collect::<Vec<_>>()
    };
    assert!(list(&server).is_empty());

    let (status, prometheus_answer) = form_post(&server.url("/api/v1/admin/tsdb/snapshot"), &[]);
    assert_eq!(status, 200, "{prometheus_answer}");
    let prometheus_named = snapshot_dir(&server, &prometheus_answer);
    let (status, body) = get_json(&server.url("/prometheus/snapshot/create"));
    assert_eq!((status, &body["status"]), (200, &serde_json::json!("ok")), "{body}");
    let name = body["snapshot"].as_str().expect("the snapshot's name").to_string();
    // vmbackup refuses any name not matching ^[0-9]{14}-[0-9A-Fa-f]+$.
    let (stamp, hex) = name.split_once('-').expect("a dash");
    assert!(stamp.len() == 14 && stamp.bytes().all(|b| b.is_ascii_digit()) && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    let vm_named = server.data_dir.join("snapshots").join(&name);
    assert!(vm_named.join("metricstor.json").is_file(), "a data directory's identity file in {}", vm_named.display());
    let mut both = vec![name.clone(), prometheus_named.file_name().and_then(|n| n.to_str()).expect("a name").to_string()];
    both.sort();
    assert_eq!(list(&server), both);

    for (form, want_status, want_text) in [(vec![], 400, "missing snapshot parameter"), (vec![("snapshot", "../data")], 400, "invalid snapshot name"), (vec![("snapshot", "20200101000000-0A")], 404, "no snapshot named")] {
        let (status, body) = form_post(&server.url("/snapshot/delete"), &form);
        assert_eq!((status, body.contains(want_text)), (want_status, true), "{form:?}: {body}");
    }
    assert_eq!(list(&server), both, "a refused delete removes nothing");
    let (status, body) = form_post(&server.url("/snapshot/delete"), &[("snapshot", &name)]);
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    assert!(!vm_named.exists());
    assert_eq!(list(&server).len(), 1);
    let refused = reply_or_status("PUT delete_all", agent().put(&server.url("/snapshot/delete_all")).call());
    assert_eq!(refused.status, 405, "{}", refused.body);
    let (status, body) = get_json(&server.url("/snapshot/delete_all"));
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
    assert!(list(&server).is_empty() && !prometheus_named.exists());
    let (status, body) = get_json(&server.url(&format!("/api/v1/query?query=snap_kept&time={}", at_ms / 1000)));
    assert_eq!((status, body["data"]["result"][0]["value"][1].as_str()), (200, Some("3")), "the data is untouched: {body}");
    assert!(server.stop());
}

/// The directory of the snapshot named in a snapshot answer.
fn snapshot_dir(server: &Server, answer: &str) -> std::path::PathBuf {
    let json: serde_json::Value = serde_json::from_str(answer).expect("JSON answer");
    assert_eq!(json["status"], "success", "{answer}");
    let name = json["data"]["name"].as_str().expect("a snapshot name");
    let dir = server.data_dir.join("snapshots").join(name);
    assert!(dir.join("metricstor.json").is_file(), "the snapshot has the data directory's identity file");
    dir
}

/// Copies directory `from` (files and subdirectories) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create");
    for entry in std::fs::read_dir(from).expect("ls").filter_map(Result::ok) {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// `storage.snapshots_max_age_seconds` (VictoriaMetrics' `-snapshotsMaxAge`): snapshots of
/// either API's name form older than it are deleted (the first check runs at start); newer
/// ones, and directories whose names carry no time, are kept.
#[test]
fn snapshots_past_their_max_age_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = dir.path().join("data").join("snapshots");
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let recent = chrono_stamp(now_s - 60);
    let old = ["20200101000000-0A".to_string(), "20200101T000000Z-abcdefghijklmnop".to_string(), format!("{}-0B", chrono_stamp(now_s - 7200))];
    let kept = [format!("{recent}-0C"), "kept-by-hand".to_string()];
    for name in old.iter().chain(&kept) {
        std::fs::create_dir_all(snapshots.join(name).join("shard-0")).expect("snapshot dir");
        std::fs::write(snapshots.join(name).join("metricstor.json"), b"{}").expect("file");
    }
    let server = Server::start(&write_config_with(dir.path(), "  cores: 2\n  enable_admin_api: true\n", "  snapshots_max_age_seconds: 3600\n"));
    poll("the expired snapshots to go", std::time::Duration::from_secs(30), || old.iter().all(|name| !snapshots.join(name).exists()).then_some(()));
    for name in &kept {
        assert!(snapshots.join(name).join("metricstor.json").is_file(), "{name} is kept");
    }
    let (_, listed) = get_json(&server.url("/snapshot/list"));
    assert_eq!(listed, serde_json::json!({"status": "ok", "snapshots": [format!("{recent}-0C"), "kept-by-hand"]}));
    assert!(server.stop());
}

/// `YYYYMMDDhhmmss` (UTC) of Unix time `seconds`.
fn chrono_stamp(seconds: i64) -> String {
    utc_seconds_text(seconds).chars().filter(char::is_ascii_digit).collect()
}

/// VictoriaMetrics' way of deleting: delete_series by GET, then `/internal/force_merge`,
/// answered 200 at once while in the background every block holding deleted data is
/// rewritten without it (empty tombstones); the answers stay those of the delete.
#[test]
fn force_merge_rewrites_the_blocks_with_deleted_data_in_the_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), "  enable_admin_api: true\n"));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    let end = now_ms - now_ms % MINUTE_MS;
    let written = post(&server.url("/api/v1/write"), "application/x-protobuf", &per_minute_body("fm", 3, end - 8 * HOUR_MS, 8 * HOUR_MS));
    assert_eq!(written.status, 204, "{}", written.body);
    // VictoriaMetrics' documented command: a GET.
    let deleted = reply_or_status("GET delete_series", agent().get(&server.url("/api/v1/admin/tsdb/delete_series?match[]=fm%7Bi%3D%220%22%7D")).call());
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert!(tombstone_files(&server.data_dir).iter().any(|&n| n > 9), "some block got a tombstones entry");
    let (status, body) = form_post(&server.url("/internal/force_merge"), &[("partition_prefix", "2026_12")]);
    assert_eq!((status, body.as_str()), (200, ""));
    poll("the blocks rewritten without the deleted data", std::time::Duration::from_secs(60), || {
        let sizes = tombstone_files(&server.data_dir);
        (!sizes.is_empty() && sizes.iter().all(|&n| n == 9)).then_some(())
    });
    let left = exported_by_i(&server, "fm");
    assert_eq!(left.keys().collect::<Vec<_>>(), ["1", "2"]);
    assert!(left.values().all(|ts| ts.len() == 480), "{left:?}");
    assert!(server.stop());
}
