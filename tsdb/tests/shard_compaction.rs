//! Block compaction through `ShardDb`, over real files: adjacent 2 h blocks become one 6 h
//! block with the same answers; reads and writes go on while a merge runs; a delete or
//! retention during a merge discards it; every crash point of a compaction reopens with each
//! sample exactly once; `max_head_samples` cuts early and compaction merges the overlap.

use std::path::{Path, PathBuf};

mod common;

use common::{copy_dir, held, on_executor, wal_entries, Model, HOUR_MS};
use tsdb::block::{commit_tmp, BlockMeta};
use tsdb::{CompactionOutcome, Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};

/// Aligned to every compaction range used here (6 h and 24 h).
const START_MS: i64 = 1000 * 24 * HOUR_MS;

fn options() -> ShardOptions {
    common::block_test_options()
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

/// One batch per minute over `[from_ms, to_ms)` for `series` series; every 7th value is a
/// stale marker.
fn batches(from_ms: i64, to_ms: i64, series: usize) -> Vec<Vec<SeriesSamples>> {
    let mut out = Vec::new();
    let mut t = from_ms;
    while t < to_ms {
        out.push(
            (0..series)
                .map(|i| {
                    let value = if (t / 60_000) % 7 == 0 { f64::from_bits(tsdb::STALE_NAN_BITS) } else { (t / 1000) as f64 + i as f64 * 0.5 };
                    SeriesSamples { labels: labels(i), samples: vec![Sample { timestamp_ms: t, value }], histograms: Vec::new(), starts: None }
                })
                .collect(),
        );
        t += 60_000;
    }
    out
}

fn model_of(batches: &[Vec<SeriesSamples>]) -> Model {
    let mut m = Model::new();
    for s in batches.iter().flatten() {
        let e = m.entry(s.labels.clone()).or_default();
        e.extend(s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())));
    }
    m
}

fn block_samples(blocks: &[BlockMeta]) -> u64 {
    blocks.iter().map(|b| b.stats.num_samples).sum()
}

fn ranges_h(blocks: &[BlockMeta]) -> Vec<(i64, i64, u32)> {
    let mut r: Vec<(i64, i64, u32)> =
        blocks.iter().map(|b| ((b.min_time_ms - START_MS) / HOUR_MS, (b.max_time_ms - START_MS) / HOUR_MS, b.compaction.level)).collect();
    r.sort();
    r
}

async fn append_all(db: &mut ShardDb, batches: &[Vec<SeriesSamples>]) {
    for b in batches {
        db.append_group(&[b.as_slice()]).await.expect("append");
        if db.cut_due() {
            db.maintain(0).await.expect("maintain");
        }
    }
}

/// A shard with four adjacent 2 h blocks (`[0,2) … [6,8)` h after `START_MS`) and the rest
/// of 10 h of data in the head. Returns what it holds.
fn four_blocks(dir: &Path, options: ShardOptions) -> Model {
    let data = batches(START_MS, START_MS + 10 * HOUR_MS, 3);
    let want = model_of(&data);
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options).await.expect("open");
        append_all(&mut db, &data).await;
        assert_eq!(ranges_h(&db.blocks()), vec![(0, 2, 1), (2, 4, 1), (4, 6, 1), (6, 8, 1)]);
        db.close().await.expect("close");
    });
    want
}

/// Opens, runs `f`, closes; `f` gets the open shard.
fn with_db<T: Send + 'static>(dir: &Path, f: impl AsyncFnOnce(&mut ShardDb) -> T + Send + 'static) -> T {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options()).await.expect("open");
        let out = f(&mut db).await;
        db.close().await.expect("close");
        out
    })
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.ends_with(".deleted"))
        .collect()
}

#[test]
fn three_adjacent_2h_blocks_become_one_6h_block_with_the_same_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let want = four_blocks(dir.path(), options());
    let (outcome, blocks, again, stats) = with_db(dir.path(), async move |db| {
        let before = held(db);
        let outcome = db.compact_once().expect("compact");
        assert_eq!(held(db), before, "same answers after the swap");
        let again = db.compact_once().expect("compact again");
        (outcome, db.blocks(), again, db.stats())
    });
    let Some(CompactionOutcome::Committed { ulid: Some(ulid), parents }) = outcome else {
        panic!("a committed compaction, got {outcome:?}");
    };
    assert_eq!(parents.len(), 3);
    assert_eq!(ranges_h(&blocks), vec![(0, 6, 2), (6, 8, 1)]);
    let merged = blocks.iter().find(|b| b.ulid == ulid).expect("the new block is open");
    assert_eq!(merged.compaction.sources, parents, "sources: the three cut blocks");
    assert_eq!(merged.compaction.parents.iter().map(|p| p.ulid.clone()).collect::<Vec<_>>(), parents);
    assert_eq!(again, None, "nothing else is due (the newest block stays out)");
    assert_eq!((stats.compactions_total, stats.compactions_failed_total, stats.compactions_discarded_total), (1, 0, 0));
    assert_eq!(&stats.blocks_by_level[..3], &[1, 1, 0]);
    for p in &parents {
        assert!(!dir.path().join(p).exists(), "parent {p} deleted");
    }
    assert!(leftovers(dir.path()).is_empty());
    let (reopened, blocks_after) = with_db(dir.path(), async |db| (held(db), db.blocks()));
    assert_eq!(reopened, want);
    assert_eq!(ranges_h(&blocks_after), vec![(0, 6, 2), (6, 8, 1)]);
}

#[test]
fn reads_and_writes_go_on_while_a_compaction_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut want = four_blocks(dir.path(), options());
    let more = batches(START_MS + 10 * HOUR_MS, START_MS + 11 * HOUR_MS, 4);
    // An out-of-order overwrite into a parent's range, while the parents are being merged.
    let ooo = vec![SeriesSamples { labels: labels(0), samples: vec![Sample { timestamp_ms: START_MS + 60_000, value: -1.0 }], histograms: Vec::new(), starts: None }];
    for s in more.iter().flatten().chain(ooo.iter()) {
        want.entry(s.labels.clone()).or_default().extend(s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())));
    }
    let path = dir.path().to_path_buf();
    let want2 = want.clone();
    on_executor(move || async move {
        let mut db = ShardDb::open(&path, options()).await.expect("open");
        let job = db.plan_compaction().expect("a compaction is due");
        assert!(db.compaction_in_flight());
        assert!(db.plan_compaction().is_none(), "one compaction at a time");
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        // The merge thread holds its result until the shard has served requests meanwhile.
        let merge = std::thread::spawn(move || {
            let result = job.run();
            release_rx.recv().expect("release");
            result
        });
        append_all(&mut db, &more).await;
        db.append_group(&[ooo.as_slice()]).await.expect("append out of order");
        assert_eq!(held(&db), want2, "reads see the parents and the new writes");
        assert_eq!(db.blocks().len(), 4, "parents still served");
        release_tx.send(()).expect("release");
        let result = merge.join().expect("merge thread");
        let outcome = db.finish_compaction(result).expect("finish");
        assert!(matches!(outcome, CompactionOutcome::Committed { .. }), "{outcome:?}");
        assert_eq!(held(&db), want2, "same answers after the swap");
        db.close().await.expect("close");
    });
    assert_eq!(with_db(dir.path(), async |db| held(db)), want);
}

#[test]
fn a_delete_or_retention_during_a_compaction_discards_it_and_is_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut want = four_blocks(dir.path(), options());
    let gone = labels(1);
    want.remove(&gone);
    let (first, second, stats, after) = with_db(dir.path(), async move |db| {
        let job = db.plan_compaction().expect("due");
        let result = job.run();
        let m = Matcher::new(MatchOp::Equal, "i", "1").expect("matcher");
        db.delete(&[vec![m]], i64::MIN, i64::MAX).await.expect("delete");
        let first = db.finish_compaction(result).expect("finish");
        let second = db.compact_once().expect("retry");
        (first, second, db.stats(), held(db))
    });
    assert_eq!(first, CompactionOutcome::Discarded, "a parent got tombstones meanwhile");
    assert!(matches!(second, Some(CompactionOutcome::Committed { .. })), "{second:?}");
    assert_eq!((stats.compactions_total, stats.compactions_discarded_total), (1, 1));
    assert_eq!(after, want, "the delete holds after the retry");
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
    assert_eq!(with_db(dir.path(), async |db| held(db)), want);

    // Retention deletes the parents while the merge runs: the result must not bring them back.
    let dir = tempfile::tempdir().expect("tempdir");
    four_blocks(dir.path(), options());
    let (outcome, blocks) = with_db(dir.path(), async |db| {
        let job = db.plan_compaction().expect("due");
        let result = job.run();
        let far_future = START_MS + 1001 * 24 * HOUR_MS;
        db.maintain(far_future).await.expect("retention");
        (db.finish_compaction(result).expect("finish"), db.blocks())
    });
    assert_eq!(outcome, CompactionOutcome::Discarded);
    assert!(blocks.is_empty(), "{blocks:?}");
    assert!(leftovers(dir.path()).is_empty());
}

/// Crash points of a compaction: the merged block only in `.tmp`; renamed but no parent
/// deleted; renamed and one parent deleted. Each reopens with every sample exactly once.
#[test]
fn a_crash_at_each_point_of_a_compaction_keeps_every_sample_once() {
    let root = tempfile::tempdir().expect("tempdir");
    let base = root.path().join("base");
    let want = four_blocks(&base, options());
    let total = with_db(&base, async |db| block_samples(&db.blocks()));
    for point in ["tmp-written", "renamed", "one-parent-deleted"] {
        let dir: PathBuf = root.path().join(point);
        copy_dir(&base, &dir);
        let d = dir.clone();
        with_db(&dir, async move |db| {
            let job = db.plan_compaction().expect("due");
            let parents = job.parents.clone();
            let out = job.run().expect("merge");
            let ulid = out.meta.as_ref().expect("data").ulid.clone();
            if point != "tmp-written" {
                commit_tmp(&d, &ulid).expect("rename");
            }
            if point == "one-parent-deleted" {
                tsdb::block::delete_block(&d, &parents[0]).expect("delete parent");
            }
            // Crash: the shard never finishes the compaction.
        });
        let (got, blocks) = with_db(&dir, async |db| (held(db), db.blocks()));
        assert_eq!(got, want, "{point}");
        assert_eq!(block_samples(&blocks), total, "each sample stored once: {point}");
        let expected = if point == "tmp-written" { 4 } else { 2 };
        assert_eq!(blocks.len(), expected, "{point}: {:?}", ranges_h(&blocks));
        assert!(leftovers(&dir).is_empty(), "{point}: {:?}", leftovers(&dir));
        // Settled: a further open and compaction agree.
        let (got, outcome) = with_db(&dir, async |db| {
            let outcome = db.compact_once().expect("compact");
            (held(db), outcome)
        });
        assert_eq!(got, want, "{point}");
        assert_eq!(outcome.is_some(), point == "tmp-written", "{point}: {outcome:?}");
    }
}

/// A cut interrupted after its block's rename but before its WAL checkpoint was finalized,
/// then that block compacted away: at open the pending checkpoint must still count as
/// committed (the block is a source of a present block), or the old segments would be
/// replayed and the range stored twice.
#[test]
fn a_pending_checkpoint_for_a_compacted_away_block_counts_as_committed() {
    let root = tempfile::tempdir().expect("tempdir");
    let (before, after, target) = (root.path().join("before"), root.path().join("after"), root.path().join("target"));
    let data = batches(START_MS, START_MS + 5 * HOUR_MS, 2);
    let want = model_of(&data);
    let b = before.clone();
    on_executor(move || async move {
        let mut db = ShardDb::open(&b, options()).await.expect("open");
        for batch in &data {
            db.append_group(&[batch.as_slice()]).await.expect("append");
        }
        db.close().await.expect("close");
    });
    copy_dir(&before, &after);
    let cut = with_db(&after, async |db| db.maintain(0).await.expect("cut").blocks_cut);
    assert_eq!(cut.len(), 1);
    let cut = cut[0].clone();
    let checkpoint = wal_entries(&after).into_iter().find(|n| n.starts_with("checkpoint.")).expect("checkpoint");
    // Compact the cut block alone (as a tombstone rewrite does): it is then a source and
    // parent of a new block, and gone itself.
    let new_ulid = tsdb::block::new_ulid(tsdb::block::ulid_time_ms(&cut).expect("ulid time"));
    let out = tsdb::block::CompactionJob { shard_dir: after.clone(), ulid: new_ulid.clone(), parents: vec![cut.clone()] }.run().expect("merge");
    assert!(out.meta.is_some());
    commit_tmp(&after, &new_ulid).expect("rename");
    // The crash state: the segments from before the cut, the pending checkpoint naming the
    // cut block, and the block that replaced it (the cut block itself is gone).
    copy_dir(&before, &target);
    std::fs::copy(after.join(tsdb::shard::WAL_DIRNAME).join(&checkpoint), target.join(tsdb::shard::WAL_DIRNAME).join(format!("{checkpoint}.{cut}")))
        .expect("copy checkpoint");
    copy_dir(&after.join(&new_ulid), &target.join(&new_ulid));
    let t = target.clone();
    let (got, blocks) = on_executor(move || async move {
        let mut db = ShardDb::open(&t, options()).await.expect("open");
        db.maintain(0).await.expect("maintain");
        let out = (held(&db), db.blocks());
        db.close().await.expect("close");
        out
    });
    assert_eq!(got, want);
    assert_eq!(blocks.len(), 1, "the range is not cut a second time from replayed segments: {:?}", ranges_h(&blocks));
    assert_eq!(blocks[0].ulid, new_ulid);
    let wal = wal_entries(&target);
    assert_eq!(wal.iter().filter(|n| n.starts_with("checkpoint.")).count(), 1, "{wal:?}");
}

#[test]
fn max_head_samples_cuts_early_and_compaction_merges_the_overlap() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 10 series × 110 minutes inside one 2 h range: 1100 samples, limit 400.
    let data = batches(START_MS, START_MS + 110 * 60_000, 10);
    let want = model_of(&data);
    let path = dir.path().to_path_buf();
    let (blocks_cut, blocks_merged, got) = on_executor(move || async move {
        let options = ShardOptions { max_head_samples: 400, overlap_settle_ms: 0, ..options() };
        let mut db = ShardDb::open(&path, options).await.expect("open");
        append_all(&mut db, &data).await;
        db.force_cut().await.expect("cut the rest");
        let cut = db.blocks();
        while db.compact_once().expect("compact").is_some() {}
        let out = (cut, db.blocks(), held(&db));
        db.close().await.expect("close");
        out
    });
    assert!(blocks_cut.len() >= 3, "early cuts: {:?}", ranges_h(&blocks_cut));
    assert!(blocks_cut.iter().all(|b| (b.min_time_ms, b.max_time_ms) == (START_MS, START_MS + 2 * HOUR_MS)), "all for the same range");
    assert_eq!(ranges_h(&blocks_merged), vec![(0, 2, 2)], "overlapping blocks merged into one");
    assert_eq!(block_samples(&blocks_merged), 1100);
    assert_eq!(got, want);
}

#[test]
fn a_failed_compaction_is_counted_keeps_the_parents_and_waits_before_retrying() {
    let dir = tempfile::tempdir().expect("tempdir");
    four_blocks(dir.path(), options());
    let d = dir.path().to_path_buf();
    let (result, stats, blocks, replanned) = with_db(dir.path(), async move |db| {
        // Damage a chunk of the oldest block (its header stays valid, a checksum fails).
        let oldest = db.blocks()[0].ulid.clone();
        let segment = d.join(&oldest).join("chunks").join("000001");
        let mut bytes = std::fs::read(&segment).expect("read segment");
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff;
        std::fs::write(&segment, bytes).expect("write segment");
        let result = db.compact_once();
        (result.map(|_| ()).map_err(|e| e.to_string()), db.stats(), db.blocks(), db.plan_compaction().is_some())
    });
    let error = result.expect_err("a damaged parent fails the merge");
    assert!(error.contains("chunks"), "{error}");
    assert_eq!((stats.compactions_total, stats.compactions_failed_total), (0, 1));
    assert_eq!(blocks.len(), 4, "the parents stay");
    assert!(!replanned, "no new plan before the retry delay");
    assert!(leftovers(dir.path()).is_empty(), "the failed merge's .tmp is removed: {:?}", leftovers(dir.path()));
}
