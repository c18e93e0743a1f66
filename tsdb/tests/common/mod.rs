//! Helpers shared by the tsdb integration tests: running a future on its own glommio
//! executor thread (as each server executor does) and the shard options of the block tests.

#![allow(dead_code)]

use std::path::Path;

use tsdb::ShardOptions;

pub const HOUR_MS: i64 = 3600 * 1000;

/// Runs `f` on a new glommio executor thread and returns its result.
pub fn on_executor<T: Send + 'static, F: std::future::Future<Output = T> + 'static>(f: impl FnOnce() -> F + Send + 'static) -> T {
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(f)
        .expect("spawn executor")
        .join()
        .expect("executor finished")
}

/// Small WAL segments, no fsync (speed), 2 h blocks, retention far away.
pub fn block_test_options() -> ShardOptions {
    ShardOptions {
        wal_segment_bytes: 256 << 10,
        fsync_on_commit: false,
        block_duration_ms: 2 * HOUR_MS,
        retention_ms: 1000 * 24 * HOUR_MS,
        max_head_samples: 0,
        ..ShardOptions::default()
    }
}

/// Entries of the shard's WAL directory, sorted (the DMA probe file left out).
pub fn wal_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(tsdb::shard::WAL_DIRNAME))
        .expect("ls wal")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".dma-probe")
        .collect();
    names.sort();
    names
}

/// Copies a directory tree (a shard directory, to build crash states from).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// What a shard must hold: series → timestamp → value bits.
pub type Model = std::collections::BTreeMap<tsdb::Labels, std::collections::BTreeMap<i64, u64>>;

/// Everything the shard answers (head and blocks merged), checking that each series comes
/// once with one time-ordered sample per timestamp.
pub fn held(db: &tsdb::ShardDb) -> Model {
    let all = tsdb::Matcher::new(tsdb::MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
    let mut m = Model::new();
    for s in db.select(&[all], i64::MIN, i64::MAX) {
        assert!(s.samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "one time-ordered sample per timestamp");
        let e = m.entry(s.labels.clone()).or_default();
        assert!(e.is_empty(), "series returned once");
        e.extend(s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())));
    }
    m
}
