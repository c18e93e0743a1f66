//! End-to-end: `/api/v1/status/tsdb/blocks` lists every shard's blocks as Prometheus answers
//! it (each block's `meta.json`: ulid, minTime, maxTime, stats, compaction, version), ordered
//! by time, the same blocks as on disk; refused (400) with URL read filters, which it cannot
//! honour (e2e_mtls checks the 403 for a client confined by `tls.read_filters`).

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::*;

const HOUR_MS: i64 = 3_600_000;

fn listed(server: &Server) -> Vec<serde_json::Value> {
    let (status, body) = get_json(&server.url("/api/v1/status/tsdb/blocks"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success", "{body}");
    body["data"]["blocks"].as_array().unwrap_or_else(|| panic!("a blocks array: {body}")).clone()
}

#[test]
fn blocks_are_listed_as_on_disk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(&write_config(dir.path(), ""));
    assert_eq!(listed(&server), Vec::<serde_json::Value>::new(), "no block yet");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64;
    // Six hours of data ending a day ago: the head cuts its 2 h ranges into blocks.
    let from = (now_ms - 30 * HOUR_MS).div_euclid(2 * HOUR_MS) * 2 * HOUR_MS;
    let reply = post(&server.url("/api/v1/write"), "application/x-protobuf", &per_minute_body("blk", 20, from, 6 * HOUR_MS));
    assert_eq!(reply.status, 204, "{}", reply.body);
    let deadline = Instant::now() + Duration::from_secs(30);
    let blocks = loop {
        let blocks = listed(&server);
        if blocks.len() >= 2 {
            break blocks;
        }
        assert!(Instant::now() < deadline, "blocks are cut and listed: {blocks:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let on_disk: BTreeSet<String> = block_metas(&dir.path().join("data")).into_iter().flatten().map(|m| m["ulid"].as_str().expect("ulid").to_string()).collect();
    let ulids: BTreeSet<String> = blocks.iter().map(|b| b["ulid"].as_str().expect("ulid").to_string()).collect();
    assert_eq!(ulids.len(), blocks.len(), "each block once");
    assert!(ulids.is_subset(&on_disk), "every listed block is on disk: {ulids:?} {on_disk:?}");
    let times: Vec<(i64, i64)> = blocks.iter().map(|b| (b["minTime"].as_i64().expect("minTime"), b["maxTime"].as_i64().expect("maxTime"))).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ordered by time: {times:?}");
    for b in &blocks {
        let (min, max) = (b["minTime"].as_i64().expect("minTime"), b["maxTime"].as_i64().expect("maxTime"));
        assert!(from <= min && min < max && max <= from + 6 * HOUR_MS, "{b}");
        assert!(b["stats"]["numSamples"].as_u64().expect("numSamples") > 0, "{b}");
        assert!(b["stats"]["numSeries"].as_u64().expect("numSeries") > 0, "{b}");
        assert!(b["stats"]["numChunks"].as_u64().expect("numChunks") > 0, "{b}");
        assert_eq!(b["version"], 1, "{b}");
        assert!(b["compaction"]["level"].as_u64().expect("level") >= 1, "{b}");
        assert!(!b["compaction"]["sources"].as_array().expect("sources").is_empty(), "{b}");
    }
    let (status, body) = get_json(&server.url("/api/v1/status/tsdb/blocks?extra_label=team=a"));
    assert_eq!((status, body["errorType"].as_str()), (400, Some("bad_data")), "{body}");
    assert!(server.stop(), "clean stop");
    // After a clean stop the disk holds what was listed last, and perhaps blocks cut since.
    let on_disk: BTreeSet<String> = block_metas(&dir.path().join("data")).into_iter().flatten().map(|m| m["ulid"].as_str().expect("ulid").to_string()).collect();
    let server = Server::start(&write_config(dir.path(), ""));
    let reopened: BTreeSet<String> = listed(&server).iter().map(|b| b["ulid"].as_str().expect("ulid").to_string()).collect();
    assert_eq!(reopened, on_disk, "after a restart: exactly the blocks on disk");
    assert!(server.stop(), "clean stop");
}
