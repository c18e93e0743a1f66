//! SIGKILL of the real binary while shards cut blocks: after every restart each acknowledged
//! sample is readable exactly once, no two blocks of a shard overlap, the blocks hold exactly
//! the samples of their ranges, and `promtool tsdb list` (with `METRICSTOR_PROMTOOL_BIN`)
//! lists them.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use support::*;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const BLOCK_MS: i64 = 2 * HOUR_MS;
const SERIES: usize = 300;
const ROUNDS: i64 = 6;

/// One request with `[from_ms, from_ms + 2h)` of every series, one sample per minute.
fn round_body(from_ms: i64) -> Vec<u8> {
    per_minute_body("cut", SERIES, from_ms, BLOCK_MS)
}

/// Per shard, its blocks as `(minTime, maxTime, numSamples)`, sorted; fails when two
/// blocks of one shard overlap (a cut or a compaction applied twice). A block named as a
/// parent by another is left out: it is gone logically (a compaction committing right now,
/// or deleted at the next open).
fn blocks_on_disk(data: &Path) -> Vec<Vec<(i64, i64, u64)>> {
    let mut shards = Vec::new();
    for (shard, metas) in block_metas(data).into_iter().enumerate() {
        let replaced: BTreeSet<String> = metas
            .iter()
            .flat_map(|m| m["compaction"]["parents"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["ulid"].as_str().map(str::to_string))
            .collect();
        let mut blocks: Vec<(i64, i64, u64)> = metas
            .iter()
            .filter(|m| !m["ulid"].as_str().is_some_and(|u| replaced.contains(u)))
            .map(|m| {
                (m["minTime"].as_i64().expect("minTime"), m["maxTime"].as_i64().expect("maxTime"), m["stats"]["numSamples"].as_u64().expect("numSamples"))
            })
            .collect();
        blocks.sort();
        for w in blocks.windows(2) {
            assert!(w[0].1 <= w[1].0, "shard {shard} stores overlapping blocks {:?} {:?}", w[0], w[1]);
        }
        shards.push(blocks);
    }
    shards
}

/// The time every shard's blocks cover (the same in every shard), checking that all blocks
/// together hold each sample of it exactly once.
fn covered_ms(data: &Path, label: &str) -> i64 {
    let shards = blocks_on_disk(data);
    let covered: Vec<i64> = shards.iter().map(|b| b.iter().map(|x| x.1 - x.0).sum()).collect();
    assert!(covered.windows(2).all(|w| w[0] == w[1]), "{label}: shards cover the same ranges: {shards:?}");
    let samples: u64 = shards.iter().flatten().map(|x| x.2).sum();
    let covered = covered.first().copied().unwrap_or(0);
    assert_eq!(samples, SERIES as u64 * (covered / MINUTE_MS) as u64, "{label}: the blocks hold their ranges' samples once");
    covered
}

fn check(server: &Server, start: i64, written_until: i64, label: &str) {
    let want: BTreeSet<i64> = (0..(written_until - start) / MINUTE_MS).map(|k| start + k * MINUTE_MS).collect();
    let got = exported_by_i(server, "cut");
    assert_eq!(got.len(), SERIES, "{label}: every series is there");
    for (i, ts) in &got {
        assert_eq!(ts, &want, "{label}: series {i} holds every acknowledged sample exactly once");
    }
    let url = server.url(&format!(
        "/api/v1/query?query=sum(count_over_time(cut%5B{}h%5D))&time={}",
        (written_until - start) / HOUR_MS,
        (written_until - 1) as f64 / 1000.0
    ));
    let (status, body) = get_json(&url);
    assert_eq!(status, 200, "{body}");
    let count: usize = body["data"]["result"][0]["value"][1].as_str().expect("count").parse().expect("number");
    assert_eq!(count, SERIES * want.len(), "{label}: count_over_time sees each sample once");
    for b in blocks_on_disk(&server.data_dir).iter().flatten() {
        assert!(b.0 >= start && b.1 <= written_until - HOUR_MS, "{label}: block {b:?} is made of due ranges");
    }
    covered_ms(&server.data_dir, label);
}

/// Each round writes the next two hours of data (which makes the previous range due, so every
/// shard cuts right after that write's group), then kills the server at a different point:
/// right after the acknowledgement, a few milliseconds later, or right after a restart (when
/// replayed heads are cut). Samples are read by export and `count_over_time`; compaction may
/// have merged 2 h blocks into 6 h ones.
#[test]
fn sigkill_during_block_cuts_loses_nothing_and_stores_nothing_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config_with(dir.path(), "  cores: 2\n  header_read_timeout_seconds: 2\n", "  retention_days: 15\n");
    // Small WAL segments (1 MiB): the kills also land around segment rotations.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}  wal_segment_size_mb: 1\n")).expect("config");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // Start on a block boundary 14-16 h ago: six rounds end 2-4 h ago, inside retention.
    let start = (now_ms - 14 * HOUR_MS).div_euclid(BLOCK_MS) * BLOCK_MS;
    let mut server = Server::start(&config);
    for round in 0..ROUNDS {
        let from = start + round * BLOCK_MS;
        let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &round_body(from));
        assert_eq!(reply.status, 204, "{}", reply.body);
        // From round 1 on, this write made `[from - 2h, from)` due: the shards cut it now.
        match round % 3 {
            0 => server.kill9(),
            1 => {
                spin(5 + 10 * round as u64);
                server.kill9();
            }
            _ => {
                // Kill, then kill again right after the restart reports its listener: the
                // owners cut any due range left in the replayed head at start.
                server.kill9();
                Server::start(&config).kill9();
            }
        }
        server = Server::start(&config);
        check(&server, start, from + BLOCK_MS, &format!("round {round}"));
    }
    // The last round's write made one more range due; a clean stop lets every cut finish.
    assert!(server.stop(), "clean shutdown");
    let server = Server::start(&config);
    let end = start + ROUNDS * BLOCK_MS;
    check(&server, start, end, "final");
    assert!(server.stop());
    let data = dir.path().join("data");
    assert_eq!(covered_ms(&data, "final"), (ROUNDS - 1) * BLOCK_MS, "every due range became blocks");
    let per_shard = blocks_on_disk(&data);
    if let Ok(promtool) = std::env::var("METRICSTOR_PROMTOOL_BIN") {
        for (shard, blocks) in std::fs::read_dir(&data).expect("ls").filter_map(Result::ok).filter(|e| e.path().is_dir()).zip(&per_shard) {
            let out = std::process::Command::new(&promtool).args(["tsdb", "list"]).arg(shard.path()).output().expect("run promtool");
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success(), "promtool tsdb list: {}", String::from_utf8_lossy(&out.stderr));
            let listed = text.lines().filter(|l| l.split_whitespace().next().is_some_and(|u| u.len() == 26)).count();
            assert_eq!(listed, blocks.len(), "promtool lists every block of {:?}:\n{text}", shard.file_name());
        }
    } else {
        eprintln!("SKIPPED the promtool part: set METRICSTOR_PROMTOOL_BIN");
    }
}
