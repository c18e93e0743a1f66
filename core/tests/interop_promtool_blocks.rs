//! Blocks that Prometheus' own tooling reads: samples spanning 7.5 hours go in through
//! remote_write, the shard cuts three 2-hour blocks, and `promtool tsdb list|analyze|dump`
//! (Debian's 2.42, `METRICSTOR_PROMTOOL_BIN`) see exactly the ingested samples of those
//! ranges, with and without `--max-time` (our WAL is in `metricstor-wal/`, not `wal/`). A restart on the same data directory answers the same query identically. A block made by compaction (chunks joined up to 240 samples) dumps exactly its parents' samples.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use support::*;

const HOUR_MS: i64 = 3_600_000;
const STEP_MS: i64 = 60_000;
const SERIES: usize = 3;

fn config(dir: &Path) -> std::path::PathBuf {
    write_config_with(dir, "  cores: 1\n", "  shards: 1\n  block_duration_hours: 2\n")
}

fn value(series: usize, k: i64) -> f64 {
    series as f64 * 1000.0 + k as f64 * 0.5
}

/// `(labels as Go prints them, timestamp, value)` for every ingested sample.
fn expected(start_ms: i64, end_ms: i64) -> BTreeSet<(String, i64, u64)> {
    let mut out = BTreeSet::new();
    for i in 0..SERIES {
        let mut t = start_ms;
        let mut k = 0;
        while t < end_ms {
            out.insert((format!("{{__name__=\"interop_metric\", i=\"{i}\"}}"), t, value(i, k).to_bits()));
            t += STEP_MS;
            k += 1;
        }
    }
    out
}

fn promtool(binary: &str, args: &[&str]) -> String {
    let out = Command::new(binary).args(args).output().expect("run promtool");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `(lines, set of (labels, t, value bits))` of a `promtool tsdb dump` output.
fn parse_dump(dump: &str) -> (usize, BTreeSet<(String, i64, u64)>) {
    let mut dumped = BTreeSet::new();
    let mut lines = 0;
    for line in dump.lines().filter(|l| !l.is_empty()) {
        lines += 1;
        let (labels, rest) = line.rsplit_once("} ").map(|(l, r)| (format!("{l}}}"), r)).expect("labels then value and time");
        let (v, t) = rest.split_once(' ').expect("value and time");
        let v: f64 = v.parse().expect("value");
        dumped.insert((labels, t.parse::<i64>().expect("timestamp"), v.to_bits()));
    }
    (lines, dumped)
}

fn query_all(server: &Server, at_ms: i64) -> serde_json::Value {
    let url = server.url(&format!("/api/v1/query?query=interop_metric%5B8h%5D&time={}", at_ms as f64 / 1000.0));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{body}");
    let mut result = body["data"]["result"].clone();
    if let Some(list) = result.as_array_mut() {
        list.sort_by_key(|s| s["metric"].to_string());
    }
    result
}

#[test]
fn promtool_reads_our_blocks_and_a_restart_serves_the_same_answers() {
    let Ok(promtool_bin) = std::env::var("METRICSTOR_PROMTOOL_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMTOOL_BIN (bash .ci/run does) to run the promtool block interop test");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // Start on a block boundary 12-14 h ago; 7.5 h of data make [0,2h) [2h,4h) [4h,6h) due.
    let start = (now_ms - 12 * HOUR_MS).div_euclid(2 * HOUR_MS) * 2 * HOUR_MS;
    let end = start + 15 * HOUR_MS / 2;

    let server = Server::start(&config);
    // One request per half hour of data, in time order.
    let mut t0 = start;
    let mut k0 = 0;
    while t0 < end {
        let mut batch: Vec<support::SeriesInput<'_>> = Vec::new();
        let names = ["0", "1", "2"];
        for (i, name) in names.iter().enumerate() {
            let samples: Vec<(i64, f64)> =
                (0..30).map(|j| (t0 + j * STEP_MS, value(i, k0 + j))).filter(|(t, _)| *t < end).collect();
            batch.push((vec![("__name__", "interop_metric"), ("i", name)], samples));
        }
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &v1_request(&batch));
        assert_eq!(reply.status, 204, "{}", reply.body);
        t0 += 30 * STEP_MS;
        k0 += 30;
    }
    let before = query_all(&server, end);
    let points: usize = before.as_array().expect("matrix").iter().map(|s| s["values"].as_array().map_or(0, Vec::len)).sum();
    assert_eq!(points, expected(start, end).len(), "every sample is served before the restart");
    // The shard owner cuts due blocks right after the append group that made them due, and
    // finishes before it handles the stop signal.
    assert!(server.stop(), "clean shutdown");

    let shard_dir = dir.path().join("data").join("shard-0");
    let shard = shard_dir.to_str().expect("utf-8 path");
    let list = promtool(&promtool_bin, &["tsdb", "list", shard]);
    eprintln!("promtool tsdb list:\n{list}");
    let blocks: Vec<(i64, i64)> = list
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0].len() == 26).then(|| (f[1].parse().expect("min time"), f[2].parse().expect("max time")))
        })
        .collect();
    let want_blocks: Vec<(i64, i64)> = (0..3).map(|b| (start + b * 2 * HOUR_MS, start + (b + 1) * 2 * HOUR_MS)).collect();
    assert_eq!(blocks, want_blocks, "three aligned 2-hour blocks");

    let analyze = promtool(&promtool_bin, &["tsdb", "analyze", shard]);
    eprintln!("promtool tsdb analyze (excerpt):\n{}", analyze.lines().take(8).collect::<Vec<_>>().join("\n"));
    assert!(analyze.contains(&format!("Series: {SERIES}")), "{analyze}");

    // With `--max-time` in the blocks' range and without it: our WAL is in `metricstor-wal/`,
    // which promtool does not read, so a plain dump succeeds and holds exactly the blocks'
    // samples (the head's are not in a block yet).
    let blocks_end = want_blocks[2].1;
    let want = expected(start, blocks_end);
    let ranged = promtool(&promtool_bin, &["tsdb", "dump", &format!("--max-time={}", blocks_end - 1), shard]);
    let (lines, dumped) = parse_dump(&ranged);
    assert_eq!(lines, want.len(), "no sample dumped twice");
    assert_eq!(dumped, want, "the dump equals what was ingested for the blocks' range");
    let plain = promtool(&promtool_bin, &["tsdb", "dump", shard]);
    let (lines, dumped) = parse_dump(&plain);
    assert_eq!(lines, want.len(), "plain dump: no sample twice");
    assert_eq!(dumped, want, "a plain `promtool tsdb dump` equals the blocks' samples");

    // Restart on the directory with blocks (and whatever promtool left there).
    let server = Server::start(&config);
    let after = query_all(&server, end);
    assert_eq!(after, before, "the same answer after a restart");
    assert!(server.stop(), "clean shutdown");
}

/// A compacted block: compaction joins each series' two 120-sample chunks per parent into
/// 240-sample chunks; promtool reads the merged block and its dump equals the parents'
/// samples.
#[test]
fn promtool_reads_a_compacted_block_with_joined_chunks() {
    let Ok(promtool_bin) = std::env::var("METRICSTOR_PROMTOOL_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMTOOL_BIN (bash .ci/run does) to run the promtool block interop test");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let shard = dir.path().join("shard-0");
    std::fs::create_dir_all(shard.join("wal")).expect("mkdir");
    let mut want = BTreeSet::new();
    let mut parents = Vec::new();
    for b in 0..2i64 {
        let lo = b * 2 * HOUR_MS;
        let series: Vec<(tsdb::Labels, Vec<tsdb::Sample>)> = (0..SERIES)
            .map(|i| {
                let samples: Vec<tsdb::Sample> =
                    (0..240).map(|k| tsdb::Sample { timestamp_ms: lo + k * 30_000, value: value(i, b * 240 + k) }).collect();
                for s in &samples {
                    want.insert((format!("{{__name__=\"interop_metric\", i=\"{i}\"}}"), s.timestamp_ms, s.value.to_bits()));
                }
                (tsdb::Labels::from_pairs([("__name__", "interop_metric".to_string()), ("i", i.to_string())]), samples)
            })
            .collect();
        let ulid = tsdb::block::new_ulid(1 + b as u64);
        tsdb::block::write_block(&shard, &ulid, lo, lo + 2 * HOUR_MS, series).expect("write a parent");
        parents.push(ulid);
    }
    let job = tsdb::block::CompactionJob { shard_dir: shard.clone(), ulid: tsdb::block::new_ulid(10), parents: parents.clone() };
    let meta = job.run().expect("compaction").meta.expect("a merged block");
    assert_eq!(meta.stats.num_chunks, 2 * SERIES as u64, "each series' four 120-sample chunks joined into two");
    tsdb::block::commit_tmp(&shard, &meta.ulid).expect("commit");
    for p in &parents {
        std::fs::remove_dir_all(shard.join(p)).expect("remove a parent");
    }
    let dump = promtool(&promtool_bin, &["tsdb", "dump", shard.to_str().expect("utf-8 path")]);
    let (lines, dumped) = parse_dump(&dump);
    assert_eq!(lines, want.len(), "no sample dumped twice");
    assert_eq!(dumped, want, "the dump of the compacted block equals the parents' samples");
}
