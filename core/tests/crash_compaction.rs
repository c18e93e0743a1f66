//! SIGKILL of the real binary while shards compact blocks and while retention deletes them:
//! every acknowledged sample survives exactly once, no two blocks of a shard overlap, and
//! `promtool tsdb list` (`METRICSTOR_PROMTOOL_BIN`) reads every shard directory.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const BLOCK_MS: i64 = 2 * HOUR_MS;
const SERIES: usize = 200;
const ROUNDS: i64 = 5;

fn round_body(from_ms: i64) -> Vec<u8> {
    per_minute_body("cmp", SERIES, from_ms, BLOCK_MS)
}

fn check_export(server: &Server, from: i64, until: i64, label: &str) {
    let want: BTreeSet<i64> = (0..(until - from) / MINUTE_MS).map(|k| from + k * MINUTE_MS).collect();
    let got = exported_by_i(server, "cmp");
    assert_eq!(got.len(), SERIES, "{label}: every series is there");
    for (i, ts) in &got {
        assert_eq!(ts, &want, "{label}: series {i} holds every acknowledged sample exactly once");
    }
}

/// Per shard, the committed blocks (ULID-named directories) as `(minTime, maxTime, level,
/// numSamples)`, sorted.
fn blocks_on_disk(data: &Path) -> Vec<Vec<(i64, i64, u64, u64)>> {
    block_metas(data)
        .into_iter()
        .map(|metas| {
            let mut blocks: Vec<(i64, i64, u64, u64)> = metas
                .iter()
                .map(|meta| {
                    (
                        meta["minTime"].as_i64().expect("minTime"),
                        meta["maxTime"].as_i64().expect("maxTime"),
                        meta["compaction"]["level"].as_u64().expect("level"),
                        meta["stats"]["numSamples"].as_u64().expect("numSamples"),
                    )
                })
                .collect();
            blocks.sort();
            blocks
        })
        .collect()
}

/// With the server stopped: no two blocks of a shard overlap, and over all shards the
/// blocks hold every sample of `[from, until)` exactly once.
fn check_blocks_once(data: &Path, from: i64, until: i64, label: &str) {
    let mut samples = 0;
    for blocks in blocks_on_disk(data) {
        for w in blocks.windows(2) {
            assert!(w[0].1 <= w[1].0, "{label}: overlapping blocks {:?} {:?}", w[0], w[1]);
        }
        for b in &blocks {
            assert!(b.0 >= from && b.1 <= until, "{label}: block {b:?} outside the cut ranges");
            samples += b.3;
        }
    }
    assert_eq!(samples, SERIES as u64 * ((until - from) / MINUTE_MS) as u64, "{label}: blocks hold each sample once");
}

fn promtool_lists(data: &Path) {
    let Ok(promtool) = std::env::var("METRICSTOR_PROMTOOL_BIN") else {
        eprintln!("SKIPPED the promtool part: set METRICSTOR_PROMTOOL_BIN");
        return;
    };
    for (shard, blocks) in std::fs::read_dir(data).expect("ls").filter_map(Result::ok).filter(|e| e.path().is_dir()).zip(blocks_on_disk(data)) {
        let out = std::process::Command::new(&promtool).args(["tsdb", "list"]).arg(shard.path()).output().expect("run promtool");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "promtool tsdb list: {}", String::from_utf8_lossy(&out.stderr));
        let listed = text.lines().filter(|l| l.split_whitespace().next().is_some_and(|u| u.len() == 26)).count();
        assert_eq!(listed, blocks.len(), "promtool lists every block of {:?}:\n{text}", shard.file_name());
    }
}

/// Rounds write two hours of data each; the fourth cut makes three 2 h blocks mergeable into
/// one 6 h block, and the server is killed when a compaction starts (at once or a few ms
/// later) and right after restarts (which compact what is due). After every restart each
/// acknowledged sample is exported exactly once; after a clean stop no two blocks of a shard
/// overlap and the blocks hold each sample once. Then the server restarts with one day of
/// retention, is killed while it deletes the (older) blocks, and must come back with the
/// head's samples exactly once and no block.
#[test]
fn sigkill_during_compaction_and_retention_keeps_every_sample_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config_with(dir.path(), "  cores: 2\n  header_read_timeout_seconds: 2\n", "  retention_days: 15\n");
    // Small WAL segments (1 MiB): the kills also land around segment rotations.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}  wal_segment_size_mb: 1\n")).expect("config");
    let data = dir.path().join("data");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // A 6 h-aligned start 60-66 h ago: everything ends more than a day ago (for the
    // retention part) and well inside the default 15 days.
    let start = (now_ms - 54 * HOUR_MS).div_euclid(6 * HOUR_MS) * 6 * HOUR_MS - 6 * HOUR_MS;
    let started = Instant::now();
    let mut server = Server::start(&config);
    for round in 0..ROUNDS {
        let from = start + round * BLOCK_MS;
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &round_body(from));
        assert_eq!(reply.status, 204, "{}", reply.body);
        if round < ROUNDS - 1 {
            // Cuts only (at once, or a few ms into them).
            spin(3 * (round % 2) as u64);
            server.kill9();
        } else {
            // This write makes [6 h, 8 h) due; its cut leaves [0, 6 h) mergeable. Kill as the
            // merge starts; then as the restart's merge starts; then right after a commit.
            assert!(server.wait_log("compaction started", Duration::from_secs(10)), "a compaction starts");
            server.kill9();
            kill_at_log(&config, "compaction started", Duration::from_secs(10));
            kill_at_log(&config, "blocks compacted", Duration::from_secs(10));
        }
        server = Server::start(&config);
        check_export(&server, start, from + BLOCK_MS, &format!("round {round}"));
    }
    // Let due compactions finish: poll for the 6 h block in every shard, then stop cleanly.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !blocks_on_disk(&data).iter().all(|b| b.iter().any(|x| (x.0, x.1) == (start, start + 6 * HOUR_MS) && x.2 >= 2)) {
        assert!(Instant::now() < deadline, "the 6 h block appears: {:?}", blocks_on_disk(&data));
        std::thread::sleep(Duration::from_millis(50));
    }
    // /metrics counts the compactions and the blocks per level (summed over shards).
    let metrics = agent().get(&server.url("/metrics")).call().expect("metrics").into_string().expect("body");
    let sum = |prefix: &str| -> f64 {
        metrics.lines().filter(|l| l.starts_with(prefix)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
    };
    for family in ["metricstor_compactions_total", "metricstor_compactions_failed_total", "metricstor_compactions_discarded_total", "metricstor_compaction_seconds_total"] {
        assert!(metrics.contains(&format!("# TYPE {family} counter")), "{family} in /metrics");
    }
    assert!(sum("metricstor_blocks{") >= 2.0 * 2.0, "{metrics}");
    let level2: f64 = metrics.lines().filter(|l| l.starts_with("metricstor_blocks{") && l.contains("level=\"2\"")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    assert_eq!(level2, 2.0, "one level-2 block per shard:\n{metrics}");
    assert!(server.stop(), "clean shutdown");
    let end = start + ROUNDS * BLOCK_MS;
    check_blocks_once(&data, start, end - BLOCK_MS, "after compaction");
    promtool_lists(&data);
    eprintln!("compaction part took {:?}", started.elapsed());

    // Retention of one day: every block ended more than a day ago and is deleted at start.
    // Kill right after the first deletion, twice (each start deletes what is left).
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, text.replace("retention_days: 15", "retention_days: 1")).expect("config with retention");
    for _ in 0..2 {
        kill_at_log(&config, "block past retention deleted", Duration::from_secs(10));
    }
    let server = Server::start(&config);
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocks_on_disk(&data).iter().any(|b| !b.is_empty()) {
        assert!(Instant::now() < deadline, "retention deletes every block: {:?}", blocks_on_disk(&data));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The head's range (the last round, never cut) is all that is left, each sample once.
    check_export(&server, end - BLOCK_MS, end, "after retention");
    assert!(server.stop());
    let leftovers: Vec<String> = std::fs::read_dir(&data)
        .expect("ls")
        .filter_map(Result::ok)
        .flat_map(|shard| std::fs::read_dir(shard.path()).into_iter().flatten().filter_map(Result::ok))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".deleted") || n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    promtool_lists(&data);
    eprintln!("whole test took {:?}", started.elapsed());
}
