//! Deleting series data over real files: a range spanning blocks and the head disappears
//! from reads at once, stays gone after a reopen (WAL tombstones record + block tombstone
//! files), and `clean_tombstones` rewrites the blocks smaller with the same answers, also
//! when a crash left the replaced block beside its rewrite.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;

use common::on_executor;
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};

use common::HOUR_MS;
const STEP_MS: i64 = 60_000;
/// Data ends at 7h30m, so [4h, 6h) is due (the head is half a block past it).
const END_MS: i64 = 15 * HOUR_MS / 2;


fn options() -> ShardOptions {
    common::block_test_options()
}

/// series → timestamp → value bits.
type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn labels(job: &str) -> Labels {
    Labels::from_pairs([("__name__", "m"), ("job", job)])
}

fn value(job: usize, t: i64) -> f64 {
    job as f64 * 1e6 + (t / STEP_MS) as f64
}

const JOBS: [&str; 3] = ["a", "b", "c"];

/// One sample per minute for each job over `[0, 7h30m)`: blocks [0,2h) [2h,4h) [4h,6h) get cut.
fn batches() -> Vec<Vec<SeriesSamples>> {
    (0..END_MS / STEP_MS)
        .map(|k| {
            let t = k * STEP_MS;
            JOBS.iter()
                .enumerate()
                .map(|(j, job)| SeriesSamples {
                    labels: labels(job),
                    samples: vec![Sample {
                        timestamp_ms: t,
                        value: value(j, t),
                    }],
                    histograms: Vec::new(),
                    starts: None,
                })
                .collect()
        })
        .collect()
}

fn held(db: &ShardDb) -> Model {
    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
    let mut m = Model::new();
    for s in db.select(&[all], i64::MIN, i64::MAX) {
        let e = m.entry(s.labels.clone()).or_default();
        for x in s.samples {
            assert!(e.insert(x.timestamp_ms, x.value.to_bits()).is_none(), "one sample per timestamp");
        }
    }
    m
}

/// The model after deleting `[mint, maxt]` of the series in `jobs`.
fn expected(deleted: &[(&str, i64, i64)]) -> Model {
    let mut m = Model::new();
    for k in 0..END_MS / STEP_MS {
        let t = k * STEP_MS;
        for (j, job) in JOBS.iter().enumerate() {
            let gone = deleted.iter().any(|(d, lo, hi)| d == job && *lo <= t && t <= *hi);
            if !gone {
                m.entry(labels(job)).or_default().insert(t, value(j, t).to_bits());
            }
        }
    }
    m
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).expect("ls").map(|e| e.expect("entry")) {
        let meta = e.metadata().expect("metadata");
        total += if meta.is_dir() { dir_bytes(&e.path()) } else { meta.len() };
    }
    total
}

fn block_dirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| tsdb::block::is_ulid(n))
        .collect();
    names.sort();
    names
}

fn reopen(dir: &Path) -> (Model, usize) {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let db = ShardDb::open(&dir, options()).await.expect("reopen");
        let out = (held(&db), db.blocks().len());
        db.close().await.expect("close");
        out
    })
}

#[test]
fn deletes_span_blocks_and_head_survive_reopen_and_clean_tombstones_reclaims() {
    let dir: PathBuf = tempfile::tempdir().expect("tempdir").keep();
    // Job a loses [1h, 5h30m] (two and a half blocks plus none of the head), job b loses
    // [6h10m, 6h20m] (head only), a second delete of job a adds [30m, 40m] in the first block.
    let deletes: [(&str, i64, i64); 3] = [
        ("a", HOUR_MS, 5 * HOUR_MS + 30 * STEP_MS),
        ("b", 6 * HOUR_MS + 10 * STEP_MS, 6 * HOUR_MS + 20 * STEP_MS),
        ("a", 30 * STEP_MS, 40 * STEP_MS),
    ];
    let d = dir.clone();
    let (before_delete, after_delete, blocks) = on_executor(move || async move {
        let mut db = ShardDb::open(&d, options()).await.expect("open");
        for b in batches() {
            db.append_group(&[b.as_slice()]).await.expect("append");
            if db.cut_due() {
                db.maintain(0).await.expect("maintain");
            }
        }
        assert_eq!(db.blocks().len(), 3, "three blocks cut, [6h, 7h30m) in the head");
        let before = held(&db);
        let m = |job: &str| vec![Matcher::new(MatchOp::Equal, "job", job).expect("matcher")];
        for (job, lo, hi) in deletes {
            db.delete(&[m(job)], lo, hi).await.expect("delete");
        }
        let none = db.delete(&[m("zzz")], 0, 7 * HOUR_MS).await.expect("delete nothing");
        assert_eq!(none, tsdb::DeleteOutcome::default(), "no match, nothing written");
        let after = held(&db);
        let blocks = db.blocks().len();
        // No close: the process "crashes"; the WAL was written without fsync, but the
        // page cache keeps it for the reopen below (fsync policy is tested elsewhere).
        drop(db);
        (before, after, blocks)
    });
    assert_eq!(before_delete, expected(&[]));
    assert_eq!(after_delete, expected(&deletes), "deleted samples disappear from reads at once");
    assert_eq!(blocks, 3);
    let tombstone_sizes: Vec<u64> = block_dirs(&dir)
        .iter()
        .map(|b| std::fs::metadata(dir.join(b).join("tombstones")).expect("tombstones").len())
        .collect();
    assert!(tombstone_sizes.iter().all(|&n| n > 9), "every block has tombstones: {tombstone_sizes:?}");

    let (reopened, _) = reopen(&dir);
    assert_eq!(reopened, expected(&deletes), "deletes survive a reopen (WAL record + tombstone files)");

    let old_blocks = block_dirs(&dir);
    let bytes_before: u64 = old_blocks.iter().map(|b| dir_bytes(&dir.join(b))).sum();
    let saved = dir.join("saved-first-block");
    copy_dir(&dir.join(&old_blocks[0]), &saved);
    let d = dir.clone();
    let (cleaned, after_clean) = on_executor(move || async move {
        let mut db = ShardDb::open(&d, options()).await.expect("open");
        let cleaned = db.clean_tombstones().expect("clean");
        let again = db.clean_tombstones().expect("clean again");
        assert!(again.is_empty(), "nothing left to clean");
        let out = (cleaned, held(&db));
        db.close().await.expect("close");
        out
    });
    assert_eq!(cleaned.len(), 3, "every block with tombstones rewritten: {cleaned:?}");
    assert_eq!(after_clean, expected(&deletes), "the same answers after cleaning");
    let new_blocks = block_dirs(&dir);
    assert_eq!(new_blocks.len(), 3);
    assert!(new_blocks.iter().all(|b| !old_blocks.contains(b)), "new ULIDs, old blocks gone");
    for b in &new_blocks {
        let meta = tsdb::block::BlockMeta::read(&dir.join(b)).expect("meta");
        assert_eq!(meta.compaction.parents.len(), 1, "the rewrite names its parent");
        assert_eq!(std::fs::metadata(dir.join(b).join("tombstones")).expect("tombstones").len(), 9, "no tombstones left");
    }
    let bytes_after: u64 = new_blocks.iter().map(|b| dir_bytes(&dir.join(b))).sum();
    assert!(bytes_after < bytes_before, "space reclaimed: {bytes_before} -> {bytes_after} bytes");
    let samples: u64 = new_blocks
        .iter()
        .map(|b| tsdb::block::BlockMeta::read(&dir.join(b)).expect("meta").stats.num_samples)
        .sum();
    let want_in_blocks: usize = expected(&deletes).values().map(|s| s.range(..6 * HOUR_MS).count()).sum();
    assert_eq!(samples, want_in_blocks as u64, "the rewritten blocks hold exactly the live samples");

    // A crash after the rewrite but before the old block's deletion leaves both: the open
    // deletes the parent, and answers stay the same.
    std::fs::rename(&saved, dir.join(&old_blocks[0])).expect("restore the old block");
    let (reopened, blocks) = reopen(&dir);
    assert_eq!(blocks, 3, "the replaced block is not served");
    assert_eq!(block_dirs(&dir), new_blocks, "and it is deleted at open");
    assert_eq!(reopened, expected(&deletes));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("ls").map(|e| e.expect("entry")) {
        let target = to.join(e.file_name());
        if e.metadata().expect("metadata").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).expect("copy");
        }
    }
}

/// New samples written after a delete, inside the deleted range, are kept (a delete
/// applies to data that existed when it ran), also across a WAL replay.
#[test]
fn samples_written_after_a_delete_are_kept_through_replay() {
    let dir: PathBuf = tempfile::tempdir().expect("tempdir").keep();
    let d = dir.clone();
    let s = |t: i64, v: f64| Sample { timestamp_ms: t, value: v };
    let live = on_executor(move || async move {
        let mut db = ShardDb::open(&d, options()).await.expect("open");
        let first = vec![SeriesSamples { labels: labels("a"), samples: (0..10).map(|t| s(t * 1000, 1.0)).collect(), histograms: Vec::new(), starts: None }];
        db.append_group(&[first.as_slice()]).await.expect("append");
        let m = vec![Matcher::new(MatchOp::Equal, "job", "a").expect("matcher")];
        let outcome = db.delete(&[m], 2000, 5000).await.expect("delete");
        assert_eq!(outcome.head_series, 1);
        let again = vec![SeriesSamples { labels: labels("a"), samples: vec![s(3000, 9.0)], histograms: Vec::new(), starts: None }];
        db.append_group(&[again.as_slice()]).await.expect("append");
        let out = held(&db);
        db.close().await.expect("close");
        out
    });
    let ts: Vec<i64> = live[&labels("a")].keys().copied().collect();
    assert_eq!(ts, vec![0, 1000, 3000, 6000, 7000, 8000, 9000]);
    assert_eq!(reopen(&dir).0, live, "replay applies the tombstone between the two appends");
}
