//! The shard's block page cache seen through `ShardDb`: repeated queries of a block are
//! served from the cache (hits move, misses do not), a cache smaller than the block evicts
//! and stays within its bound, answers never change, and deleted blocks leave the cache.

mod common;

use common::{on_executor, HOUR_MS};
use tsdb::block::PAGE_BYTES;
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions, ShardStats};

const SERIES: usize = 300;
const STEP_MS: i64 = 15_000;

fn options(page_cache_bytes: u64) -> ShardOptions {
    ShardOptions {
        page_cache_bytes,
        ..common::block_test_options()
    }
}

/// 300 series over [0, 2h): a block whose chunk file spans several 64 KiB pages.
fn data() -> Vec<SeriesSamples> {
    (0..SERIES)
        .map(|i| SeriesSamples {
            labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", format!("{i:04}"))]),
            samples: (0..2 * HOUR_MS / STEP_MS)
                .map(|k| Sample {
                    timestamp_ms: k * STEP_MS,
                    value: ((i as i64 * 7919 + k * 104_729) % 1000) as f64 / 7.0,
                })
                .collect(),
            histograms: Vec::new(),
            starts: None,
        })
        .collect()
}

fn all() -> Vec<Matcher> {
    vec![Matcher::new(MatchOp::Equal, "__name__", "m").expect("matcher")]
}

async fn shard_with_one_block(dir: &std::path::Path, page_cache_bytes: u64) -> ShardDb {
    let mut db = ShardDb::open(dir, options(page_cache_bytes)).await.expect("open");
    let data = data();
    db.append_group(&[&data]).await.expect("append");
    db.force_cut().await.expect("cut").expect("a block");
    assert_eq!(db.blocks().len(), 1);
    db
}

fn query(db: &ShardDb) -> (Vec<SeriesSamples>, ShardStats) {
    let got = db.select(&all(), 0, 2 * HOUR_MS);
    (got, db.stats())
}

#[test]
fn repeated_queries_hit_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let db = shard_with_one_block(&path, 64 << 20).await;
        let (cold, s0) = query(&db);
        assert_eq!(cold, data(), "the block answers what was written");
        assert!(s0.page_cache_misses_total >= 2, "cold: the chunk file is read from disk ({s0:?})");
        assert!(s0.page_cache_bytes > 0 && s0.page_cache_bytes <= 64 << 20);
        let (warm, s1) = query(&db);
        assert_eq!(warm, cold);
        assert_eq!(s1.page_cache_misses_total, s0.page_cache_misses_total, "warm: no disk read");
        // Every chunk is read with two cache lookups (length, then body) at least.
        let chunks = (SERIES * (2 * HOUR_MS / STEP_MS) as usize).div_ceil(120) as u64;
        assert!(s1.page_cache_hits_total - s0.page_cache_hits_total >= 2 * chunks, "{s0:?} → {s1:?}");
        assert_eq!(s1.page_cache_evictions_total, 0);
        assert_eq!(s1.page_cache_bytes, s0.page_cache_bytes);
        // Block files are read with O_DIRECT on the test's file system (ext4 / tmpfs ≥ 6.6).
        eprintln!("fallbacks: {}", s1.block_direct_io_fallbacks_total);
        // The block leaves the cache when retention deletes it.
        let outcome = db_retention(db).await;
        assert_eq!(outcome.page_cache_bytes, 0, "a deleted block's pages are dropped");
    });
}

async fn db_retention(mut db: ShardDb) -> ShardStats {
    let deleted = db.maintain(i64::MAX / 2).await.expect("maintain");
    assert_eq!(deleted.blocks_deleted.len(), 1);
    db.stats()
}

#[test]
fn a_cache_smaller_than_the_block_evicts_within_its_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let bound = 2 * PAGE_BYTES as u64;
        let db = shard_with_one_block(&path, bound).await;
        let (first, s0) = query(&db);
        assert_eq!(first, data());
        assert!(s0.page_cache_misses_total > 2, "the chunk file spans more than two pages ({s0:?})");
        assert!(s0.page_cache_evictions_total > 0);
        assert!(s0.page_cache_bytes <= bound);
        let (second, s1) = query(&db);
        assert_eq!(second, first);
        assert!(s1.page_cache_misses_total > s0.page_cache_misses_total, "a sequential scan larger than the cache misses again");
        assert!(s1.page_cache_bytes <= bound);
    });
}

#[test]
fn a_disabled_cache_still_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let db = shard_with_one_block(&path, 0).await;
        let (got, s) = query(&db);
        assert_eq!(got, data());
        assert_eq!((s.page_cache_hits_total, s.page_cache_bytes), (0, 0));
        assert!(s.page_cache_misses_total > 0);
    });
}
