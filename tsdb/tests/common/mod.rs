//! Helpers shared by the tsdb integration tests: running a future on its own glommio
//! executor thread (as each server executor does) and the shard options of the block tests.

#![allow(dead_code)]

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
    }
}
