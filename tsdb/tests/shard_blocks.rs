//! Head cuts into blocks, WAL checkpoints, retention and merged reads, over real files:
//! data spanning several block ranges reads back exactly before and after reopening, at
//! every crash point of a cut, with out-of-order samples arriving after a cut.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;

use common::{copy_dir, on_executor, wal_entries};
use tsdb::encoded::decode_all;
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};

use common::HOUR_MS;


fn options() -> ShardOptions {
    common::block_test_options()
}

/// What the shard must hold: series → timestamp → value bits.
type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn labels(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
}

/// Batches of one minute each over `[from_ms, to_ms)`: `series` steady series, and one
/// "churn" series that only exists in the first hour.
fn batches(from_ms: i64, to_ms: i64, series: usize) -> Vec<Vec<SeriesSamples>> {
    let mut out = Vec::new();
    let mut t = from_ms;
    while t < to_ms {
        let mut batch: Vec<SeriesSamples> = (0..series)
            .map(|i| SeriesSamples {
                labels: labels("steady", i),
                samples: vec![Sample {
                    timestamp_ms: t,
                    value: (t / 1000) as f64 + i as f64 * 0.25,
                }],
                histograms: Vec::new(),
                starts: None,
            })
            .collect();
        if t < from_ms + HOUR_MS {
            batch.push(SeriesSamples {
                labels: labels("churn", 0),
                samples: vec![Sample {
                    timestamp_ms: t,
                    value: f64::from_bits(if t % 7 == 0 { tsdb::STALE_NAN_BITS } else { 7 }),
                }],
                histograms: Vec::new(),
                starts: None,
            });
        }
        out.push(batch);
        t += 60_000;
    }
    out
}

fn model_of(batches: &[Vec<SeriesSamples>]) -> Model {
    let mut m = Model::new();
    for b in batches {
        for s in b {
            let e = m.entry(s.labels.clone()).or_default();
            for x in &s.samples {
                e.insert(x.timestamp_ms, x.value.to_bits());
            }
        }
    }
    m
}

fn held(db: &ShardDb) -> Model {
    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
    let mut m = Model::new();
    for s in db.select(&[all], i64::MIN, i64::MAX) {
        let e = m.entry(s.labels.clone()).or_default();
        for w in s.samples.windows(2) {
            assert!(
                w[0].timestamp_ms < w[1].timestamp_ms,
                "one time-ordered sample per timestamp"
            );
        }
        for x in s.samples {
            assert!(
                e.insert(x.timestamp_ms, x.value.to_bits()).is_none(),
                "series returned once"
            );
        }
    }
    m
}

/// Samples stored in blocks (from their metas): a duplicate block would inflate it.
fn block_samples(db: &ShardDb) -> u64 {
    db.blocks().iter().map(|b| b.stats.num_samples).sum()
}

struct Snapshot {
    held: Model,
    blocks: Vec<tsdb::block::BlockMeta>,
    head_series: u64,
}

fn snapshot(db: &ShardDb) -> Snapshot {
    Snapshot {
        held: held(db),
        blocks: db.blocks(),
        head_series: db.stats().series,
    }
}

/// Appends each batch (one group commit each), cutting blocks as soon as they are due.
async fn append_cutting_due_blocks(db: &mut ShardDb, batches: &[Vec<SeriesSamples>]) {
    for b in batches {
        db.append_group(&[b.as_slice()]).await.expect("append");
        if db.cut_due() {
            db.maintain(0).await.expect("maintain");
        }
    }
}

fn run(dir: &Path, batches: Vec<Vec<SeriesSamples>>, maintain: bool) -> Snapshot {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options()).await.expect("open");
        for b in &batches {
            db.append_group(&[b.as_slice()]).await.expect("append");
            if maintain && db.cut_due() {
                db.maintain(0).await.expect("maintain");
            }
        }
        if maintain {
            db.maintain(0).await.expect("maintain");
        }
        let s = snapshot(&db);
        db.close().await.expect("close");
        s
    })
}

#[test]
fn cuts_blocks_checkpoints_and_reads_everything_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    // 6.5 hours from an aligned start: ranges [0,2h) [2h,4h) are due once the head reaches
    // 5h, [4h,6h) would need 7h.
    let data = batches(100 * 2 * HOUR_MS, 100 * 2 * HOUR_MS + 13 * HOUR_MS / 2, 3);
    let want = model_of(&data);
    let total: u64 = want.values().map(|m| m.len() as u64).sum();
    let got = run(dir.path(), data, true);
    assert_eq!(got.held, want);
    assert_eq!(got.blocks.len(), 2, "{:?}", got.blocks);
    assert_eq!(got.blocks[0].min_time_ms, 200 * HOUR_MS);
    assert_eq!(got.blocks[0].max_time_ms, 202 * HOUR_MS);
    assert_eq!(got.blocks[1].max_time_ms, 204 * HOUR_MS);
    assert_eq!(
        block_samples_of(&got.blocks),
        2 * 120 * 3 + 60,
        "4 h of 3 series + 1 h of churn"
    );
    assert_eq!(
        got.head_series, 3,
        "the churn series left the head after the cut"
    );
    // The WAL holds a checkpoint and only segments written after it.
    let wal = wal_entries(dir.path());
    assert_eq!(
        wal.iter().filter(|n| n.starts_with("checkpoint.")).count(),
        1,
        "{wal:?}"
    );
    assert!(
        !wal.iter().any(|n| n == "00000001"),
        "segments before the checkpoint are gone: {wal:?}"
    );

    // Reopen: blocks + checkpoint + remaining segments give the same answer, nothing twice.
    let reopened = run(dir.path(), Vec::new(), true);
    assert_eq!(reopened.held, want);
    assert_eq!(reopened.blocks, got.blocks);
    let head_samples: u64 = total - block_samples_of(&got.blocks);
    assert_eq!(head_samples, 150 * 3, "2.5 h of 3 series stay in the head");
}

fn block_samples_of(blocks: &[tsdb::block::BlockMeta]) -> u64 {
    blocks.iter().map(|b| b.stats.num_samples).sum()
}

#[test]
fn out_of_order_after_a_cut_is_queryable_and_cut_into_an_overlapping_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = 50 * 2 * HOUR_MS;
    let data = batches(start, start + 5 * HOUR_MS, 2);
    let first = run(dir.path(), data.clone(), true);
    assert_eq!(first.blocks.len(), 1);
    // Old samples for a block that exists: one new, one overwriting a block sample.
    let late = vec![vec![
        SeriesSamples {
            labels: labels("steady", 0),
            samples: vec![
                Sample {
                    timestamp_ms: start + 30_000,
                    value: -1.0,
                },
                Sample {
                    timestamp_ms: start + 60_000,
                    value: -2.0,
                },
            ],
            histograms: Vec::new(),
            starts: None,
        },
        SeriesSamples {
            labels: labels("late", 9),
            samples: vec![Sample {
                timestamp_ms: start + 1,
                value: 9.0,
            }],
            histograms: Vec::new(),
            starts: None,
        },
    ]];
    let mut want = model_of(&data);
    for (l, m) in model_of(&late) {
        want.entry(l).or_default().extend(m);
    }
    let dir_path = dir.path().to_path_buf();
    let late_clone = late.clone();
    let (before_cut, after_cut, blocks) = on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, options()).await.expect("open");
        db.append_group(&[late_clone[0].as_slice()])
            .await
            .expect("append late");
        let before_cut = held(&db);
        // Late samples behind the last cut wait for the next regular cut (a trickle of late
        // writes must not cut a block each) ...
        let outcome = db.maintain(0).await.expect("maintain");
        assert!(outcome.blocks_cut.is_empty(), "no regular cut is due yet: {outcome:?}");
        // ... and then go to a block of their own, overlapping the old one.
        let cut = db.force_cut().await.expect("cut").expect("the late range");
        assert_eq!(cut.min_time_ms, db.blocks()[0].min_time_ms, "the oldest range first");
        let after_cut = held(&db);
        let blocks = db.blocks();
        db.close().await.expect("close");
        (before_cut, after_cut, blocks)
    });
    assert_eq!(
        before_cut, want,
        "late samples are served from the head, the head wins"
    );
    assert_eq!(
        after_cut, want,
        "and from the newer overlapping block after the cut"
    );
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        blocks[1].min_time_ms, blocks[0].min_time_ms,
        "overlapping ranges"
    );
    assert_eq!(blocks[1].stats.num_samples, 3);
    assert_eq!(run(dir.path(), Vec::new(), false).held, want);
}

/// Builds the on-disk state of a crash in the middle of a cut from the state before the
/// cut (`before`) and after it (`after`), then reopens it.
fn crash_state(before: &Path, after: &Path, with_block: bool, target: &Path) -> PathBuf {
    copy_dir(before, target);
    let wal_after = wal_entries(after);
    let checkpoint = wal_after
        .iter()
        .find(|n| n.starts_with("checkpoint."))
        .expect("a checkpoint after the cut");
    let ulid = std::fs::read_dir(after)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .find(|n| tsdb::block::is_ulid(n))
        .expect("a block after the cut");
    std::fs::copy(
        after.join(tsdb::shard::WAL_DIRNAME).join(checkpoint),
        target.join(tsdb::shard::WAL_DIRNAME).join(format!("{checkpoint}.{ulid}")),
    )
    .expect("copy checkpoint");
    if with_block {
        copy_dir(&after.join(&ulid), &target.join(&ulid));
    } else {
        // The block was still being written.
        copy_dir(&after.join(&ulid), &target.join(format!("{ulid}.tmp")));
    }
    target.to_path_buf()
}

#[test]
fn a_crash_at_any_point_of_a_cut_loses_nothing_and_stores_nothing_twice() {
    let root = tempfile::tempdir().expect("tempdir");
    let (before, after) = (root.path().join("before"), root.path().join("after"));
    let start = 10 * 2 * HOUR_MS;
    let data = batches(start, start + 5 * HOUR_MS, 2);
    let want = model_of(&data);
    run(&before, data, false);
    copy_dir(&before, &after);
    let cut = {
        let after = after.clone();
        on_executor(move || async move {
            let mut db = ShardDb::open(&after, options()).await.expect("open");
            let outcome = db.maintain(0).await.expect("maintain");
            let blocks = db.blocks();
            db.close().await.expect("close");
            assert_eq!(outcome.blocks_cut.len(), 1);
            blocks
        })
    };
    let block_total = block_samples_of(&cut);
    for with_block in [false, true] {
        let target = root.path().join(format!("crash-{with_block}"));
        crash_state(&before, &after, with_block, &target);
        let reopened = run(&target, Vec::new(), true);
        assert_eq!(reopened.held, want, "with_block={with_block}");
        assert_eq!(
            reopened.blocks.len(),
            1,
            "exactly one block for the range, with_block={with_block}"
        );
        assert_eq!(block_samples_of(&reopened.blocks), block_total);
        let leftovers: Vec<String> = std::fs::read_dir(&target)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let wal = wal_entries(&target);
        assert_eq!(
            wal.iter().filter(|n| n.starts_with("checkpoint.")).count(),
            1,
            "{wal:?}"
        );
        // A third open after the settled state still agrees.
        let again = run(&target, Vec::new(), true);
        assert_eq!(again.held, want);
        assert_eq!(again.blocks.len(), 1);
    }
}

#[test]
fn retention_deletes_blocks_whose_range_ended_before_the_cutoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = 2 * HOUR_MS * 1000;
    let data = batches(start, start + 7 * HOUR_MS, 1);
    let got = run(dir.path(), data, true);
    assert_eq!(got.blocks.len(), 2);
    let first_end = got.blocks[0].max_time_ms;
    let dir_path = dir.path().to_path_buf();
    let (kept, deleted, gone) = on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, options()).await.expect("open");
        let retention = options().retention_ms;
        // At exactly the first block's end + retention nothing is old enough yet.
        let none = db.maintain(first_end + retention).await.expect("maintain");
        assert!(none.blocks_deleted.is_empty(), "{none:?}");
        let outcome = db
            .maintain(first_end + retention + 1)
            .await
            .expect("maintain");
        let m = Matcher::new(MatchOp::Equal, "__name__", "steady").expect("matcher");
        let gone = db.select(&[m], start, first_end - 1).is_empty();
        let kept = db.blocks();
        db.close().await.expect("close");
        (kept, outcome.blocks_deleted, gone)
    });
    assert_eq!(deleted, vec![got.blocks[0].ulid.clone()]);
    assert_eq!(kept, got.blocks[1..].to_vec());
    assert!(gone, "the deleted block's samples are no longer served");
    assert!(!dir.path().join(&got.blocks[0].ulid).exists());
    assert!(!dir
        .path()
        .join(format!("{}.deleted", got.blocks[0].ulid))
        .exists());
}

#[test]
fn size_retention_deletes_the_oldest_blocks_past_the_limit_as_prometheus_counts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = 2 * HOUR_MS * 1000;
    let got = run(dir.path(), batches(start, start + 7 * HOUR_MS, 3), true);
    assert_eq!(got.blocks.len(), 2);
    let (older, newer) = (got.blocks[0].ulid.clone(), got.blocks[1].ulid.clone());
    let bytes = |name: &str| tsdb::block::dir_bytes(&dir.path().join(name));
    let (older_bytes, newer_bytes) = (bytes(&older), bytes(&newer));
    assert!(older_bytes > 1000 && newer_bytes > 1000, "{older_bytes} {newer_bytes}");
    // Opens the shard with a size limit and maintains it once (no time retention due).
    let maintain_with = |limit: u64| {
        let dir_path = dir.path().to_path_buf();
        on_executor(move || async move {
            let options = ShardOptions { retention_bytes: limit, ..options() };
            let mut db = ShardDb::open(&dir_path, options).await.expect("open");
            let wal = tsdb::block::dir_bytes(&dir_path.join(tsdb::shard::WAL_DIRNAME));
            let outcome = db.maintain(start).await.expect("maintain");
            let kept: Vec<String> = db.blocks().into_iter().map(|b| b.ulid).collect();
            db.close().await.expect("close");
            (wal, outcome.blocks_deleted, kept)
        })
    };
    // Room for everything: nothing goes.
    let (wal, deleted, kept) = maintain_with(u64::MAX);
    assert!(deleted.is_empty() && kept.len() == 2, "{deleted:?}");
    // The WAL and the newest block fit, the older block does not: it alone goes.
    let limit = wal + newer_bytes + older_bytes / 2;
    let (_, deleted, kept) = maintain_with(limit);
    assert_eq!((deleted, kept), (vec![older.clone()], vec![newer.clone()]));
    assert!(!dir.path().join(&older).exists());
    // Less than the WAL alone: every block goes, as in Prometheus (the head stays).
    let (_, deleted, kept) = maintain_with(1);
    assert_eq!((deleted, kept.len()), (vec![newer.clone()], 0));
    let dir_path = dir.path().to_path_buf();
    let newest_samples = on_executor(move || async move {
        let db = ShardDb::open(&dir_path, options()).await.expect("open");
        let m = Matcher::new(MatchOp::Equal, "__name__", "steady").expect("matcher");
        let found: usize = db.select(&[m], start, start + 7 * HOUR_MS).iter().map(|s| s.samples.len()).sum();
        db.close().await.expect("close");
        found
    });
    assert!(newest_samples > 0, "the head's samples are still served");
}

#[test]
fn force_cut_moves_the_oldest_range_into_a_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = batches(0, HOUR_MS, 2);
    let want = model_of(&data);
    let dir_path = dir.path().to_path_buf();
    let (meta, held_after, series_after) = on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, options()).await.expect("open");
        for b in &data {
            db.append_group(&[b.as_slice()]).await.expect("append");
        }
        assert!(!db.cut_due());
        let meta = db.force_cut().await.expect("cut").expect("a block");
        let series_after = db.stats().series;
        let h = held(&db);
        assert!(
            db.force_cut().await.expect("cut").is_none(),
            "the head is empty now"
        );
        db.close().await.expect("close");
        (meta, h, series_after)
    });
    assert_eq!((meta.min_time_ms, meta.max_time_ms), (0, 2 * HOUR_MS));
    assert_eq!(held_after, want);
    assert_eq!(series_after, 0);
    assert_eq!(run(dir.path(), Vec::new(), false).held, want);
    let _ = block_samples;
}

#[test]
fn a_head_cut_delay_postpones_the_regular_cut_but_not_a_full_head() {
    let delay_ms = 20 * 60_000;
    let delayed = ShardOptions { head_cut_delay_ms: delay_ms, ..options() };
    // Minutes up to 3 h: the range [0, 2 h) is due without a delay.
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_path_buf();
    let (at_due, before_delay, after_delay, blocks) = on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, delayed).await.expect("open");
        let mut at_due = None;
        let mut before_delay = None;
        for b in batches(0, 3 * HOUR_MS + delay_ms + 60_000, 1) {
            let t = b[0].samples[0].timestamp_ms;
            db.append_group(&[b.as_slice()]).await.expect("append");
            if t == 3 * HOUR_MS {
                at_due = Some(db.cut_due());
            }
            if t == 3 * HOUR_MS + delay_ms - 60_000 {
                before_delay = Some(db.cut_due());
            }
        }
        let after_delay = db.cut_due();
        db.maintain(3 * HOUR_MS).await.expect("maintain");
        let blocks: Vec<(i64, i64)> = db.blocks().iter().map(|b| (b.min_time_ms, b.max_time_ms)).collect();
        db.close().await.expect("close");
        (at_due, before_delay, after_delay, blocks)
    });
    assert_eq!((at_due, before_delay, after_delay), (Some(false), Some(false), true), "due only once the newest sample is half a block plus the delay past the range");
    assert_eq!(blocks, vec![(0, 2 * HOUR_MS)]);

    // A head over its sample limit is cut at once, delay or not.
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_path_buf();
    let over_limit_due = on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, ShardOptions { head_cut_delay_ms: delay_ms, max_head_samples: 100, ..options() }).await.expect("open");
        for b in batches(0, HOUR_MS, 2) {
            db.append_group(&[b.as_slice()]).await.expect("append");
        }
        let due = db.cut_due();
        db.close().await.expect("close");
        due
    });
    assert!(over_limit_due);
}

#[test]
fn random_head_cut_delays_stay_below_a_tenth_of_the_block_range() {
    let range = 2 * HOUR_MS;
    let delays: Vec<i64> = (0..200).map(|_| tsdb::shard::random_head_cut_delay_ms(range)).collect();
    assert!(delays.iter().all(|d| (0..range / 10).contains(d)), "{delays:?}");
    assert!(delays.iter().any(|d| *d != delays[0]), "drawn, not fixed");
    assert_eq!(tsdb::shard::random_head_cut_delay_ms(5), 0);
}

#[test]
fn damaged_blocks_are_reported_and_everything_else_is_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = 30 * 2 * HOUR_MS;
    let data = batches(start, start + 7 * HOUR_MS, 2);
    let want = model_of(&data);
    let got = run(dir.path(), data, true);
    assert_eq!(got.blocks.len(), 2);
    let (first, second) = (&got.blocks[0], &got.blocks[1]);
    // Damage the first chunk of the second block (one series' data) and the index of the
    // first block (the whole block).
    let chunk_file = dir.path().join(&second.ulid).join("chunks").join("000001");
    let mut bytes = std::fs::read(&chunk_file).expect("read");
    bytes[12] ^= 0xff;
    std::fs::write(&chunk_file, bytes).expect("write");
    let index_file = dir.path().join(&first.ulid).join("index");
    let len = std::fs::metadata(&index_file).expect("stat").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&index_file)
        .expect("open")
        .set_len(len - 3)
        .expect("truncate");

    let reopened = run(dir.path(), Vec::new(), false);
    assert_eq!(
        reopened.blocks,
        vec![second.clone()],
        "the block with the damaged index is not served"
    );
    let in_range = |lo: i64, hi: i64| -> Model {
        want.iter()
            .map(|(l, m)| {
                (
                    l.clone(),
                    m.range(lo..hi)
                        .map(|(t, v)| (*t, *v))
                        .collect::<BTreeMap<_, _>>(),
                )
            })
            .filter(|(_, m)| !m.is_empty())
            .collect()
    };
    // The head's range is whole; of the damaged second block, every series but one is served.
    let head_part = in_range(second.max_time_ms, i64::MAX);
    let served_second: Vec<Labels> = reopened
        .held
        .iter()
        .filter(|(_, m)| {
            m.range(second.min_time_ms..second.max_time_ms)
                .next()
                .is_some()
        })
        .map(|(l, _)| l.clone())
        .collect();
    assert_eq!(
        served_second.len(),
        in_range(second.min_time_ms, second.max_time_ms).len() - 1
    );
    for (l, m) in &head_part {
        let got = &reopened.held[l];
        assert_eq!(
            &got.range(second.max_time_ms..)
                .map(|(t, v)| (*t, *v))
                .collect::<BTreeMap<_, _>>(),
            m
        );
    }
    assert!(reopened.held.values().all(|m| m
        .range(first.min_time_ms..first.max_time_ms)
        .next()
        .is_none()));
    assert!(
        dir.path().join(&first.ulid).is_dir(),
        "the damaged block stays on disk"
    );
}

/// Late samples arriving one write at a time (a lagging remote_write connection) used to cut
/// a block per write, each overlapping the last, and compaction then merged them over and
/// over. They now wait in the head and leave with the next regular cut: one block per range.
#[test]
fn a_trickle_of_late_writes_waits_for_the_next_regular_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().to_path_buf();
    let start = 50 * 2 * HOUR_MS;
    let (cuts_while_trickling, final_blocks, held_all, want) = on_executor(move || async move {
        let mut db = ShardDb::open(&dir_path, options()).await.expect("open");
        let mut want = Model::new();
        let write = |batch: Vec<SeriesSamples>, want: &mut Model| {
            for s in &batch {
                let e = want.entry(s.labels.clone()).or_default();
                for p in &s.samples {
                    e.insert(p.timestamp_ms, p.value.to_bits());
                }
            }
            batch
        };
        // In-order data up to 3.5 h: the first 2 h range is due and cut.
        for batch in batches(start, start + 7 * HOUR_MS / 2, 2) {
            let batch = write(batch, &mut want);
            db.append_group(&[batch.as_slice()]).await.expect("append");
        }
        assert_eq!(db.maintain(0).await.expect("maintain").blocks_cut.len(), 1);
        // Forty late writes into the cut range, each followed by maintenance.
        let mut cuts_while_trickling = 0;
        for k in 0..40 {
            let late = write(
                vec![SeriesSamples { labels: labels("lagging", k % 4), samples: vec![Sample { timestamp_ms: start + k as i64 * 60_000, value: k as f64 }], histograms: Vec::new(), starts: None }],
                &mut want,
            );
            db.append_group(&[late.as_slice()]).await.expect("append late");
            cuts_while_trickling += db.maintain(0).await.expect("maintain").blocks_cut.len();
        }
        // In-order data reaches the next regular cut: the late range goes with it.
        for batch in batches(start + 7 * HOUR_MS / 2, start + 5 * HOUR_MS, 2) {
            let batch = write(batch, &mut want);
            db.append_group(&[batch.as_slice()]).await.expect("append");
        }
        db.maintain(0).await.expect("maintain");
        let final_blocks = db.blocks();
        let held_all = held(&db);
        db.close().await.expect("close");
        (cuts_while_trickling, final_blocks, held_all, want)
    });
    assert_eq!(cuts_while_trickling, 0, "late writes alone cut nothing");
    let late_blocks: Vec<_> = final_blocks.iter().filter(|b| b.min_time_ms == start).collect();
    assert!(late_blocks.len() <= 2, "the first range has its block and at most one late block (or their merge): {final_blocks:?}");
    assert_eq!(held_all, want, "every sample, late ones included, is served once");
}

/// A select that pauses between series (`select_yielding`) answers, once decoded, exactly
/// what `select` does over head and blocks, and pauses once per `SELECT_SERIES_PER_PAUSE`
/// series read from each source.
#[test]
fn a_yielding_select_answers_like_select_and_pauses_per_source() {
    const SERIES: usize = 2 * tsdb::SELECT_SERIES_PER_PAUSE + 1;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    // 5.5 h with a sample every 15 minutes: two blocks ([0,2h), [2h,4h)) and the head.
    let data: Vec<Vec<SeriesSamples>> = batches(100 * 2 * HOUR_MS, 100 * 2 * HOUR_MS + 11 * HOUR_MS / 2, SERIES)
        .into_iter()
        .step_by(15)
        .collect();
    on_executor(move || async move {
        let mut db = ShardDb::open(&path, options()).await.expect("open");
        append_cutting_due_blocks(&mut db, &data).await;
        assert_eq!(db.blocks().len(), 2);
        let steady = Matcher::new(MatchOp::Equal, "__name__", "steady").expect("matcher");
        for (mint, maxt, sources) in [(i64::MIN, i64::MAX, 3), (201 * HOUR_MS, 203 * HOUR_MS, 2), (205 * HOUR_MS, i64::MAX, 1)] {
            let mut pauses = 0;
            let mut budget = usize::MAX;
            let got = db.select_yielding(std::slice::from_ref(&steady), mint, maxt, false, &mut budget, &mut |_| pauses += 1).await;
            let got = decode_all(&got.expect("an unlimited budget is never exceeded"), mint, maxt);
            assert_eq!(got, db.select(std::slice::from_ref(&steady), mint, maxt));
            assert_eq!(got.len(), SERIES);
            assert_eq!(pauses, 2 * sources, "two pauses per source over {mint}..{maxt}");
        }

        // The sample budget (chunks wholly in the range are counted from their headers):
        // exactly the answer's samples is enough and is used up; one less over the head's
        // range (one source) stops the select; over all sources, a budget below the largest
        // source stops it early, before every source was read.
        let everything = db.select(std::slice::from_ref(&steady), i64::MIN, i64::MAX);
        let total: usize = everything.iter().map(|s| s.samples.len()).sum();
        let mut budget = total;
        let got = db.select_yielding(std::slice::from_ref(&steady), i64::MIN, i64::MAX, false, &mut budget, &mut |_| {}).await;
        let got = got.expect("the whole answer fits");
        assert_eq!(decode_all(&got, i64::MIN, i64::MAX), everything);
        // Sources may repeat timestamps, so a series counts as its largest source (here the
        // sources are disjoint in time: the count falls short of the total).
        let largest_parts: usize = got
            .iter()
            .map(|s| s.parts.iter().map(|p| p.decode(i64::MIN, i64::MAX).map_or(0, |d| d.len())).max().unwrap_or(0))
            .sum();
        assert!(largest_parts > 0 && largest_parts < total);
        assert_eq!(budget, total - largest_parts, "what the answer surely holds is taken from the budget");
        // The head holds everything from 204 h on, in chunks that start there.
        let (mint, maxt) = (204 * HOUR_MS, i64::MAX);
        let head_only: usize = db.select(std::slice::from_ref(&steady), mint, maxt).iter().map(|s| s.samples.len()).sum();
        let mut budget = head_only - 1;
        assert_eq!(db.select_yielding(std::slice::from_ref(&steady), mint, maxt, false, &mut budget, &mut |_| {}).await, None);
        let mut pauses = 0;
        let mut budget = SERIES / 2;
        let got = db.select_yielding(std::slice::from_ref(&steady), i64::MIN, i64::MAX, false, &mut budget, &mut |_| pauses += 1).await;
        assert_eq!(got, None, "{total} samples do not fit a budget of {}", SERIES / 2);
        assert!(pauses < 2, "stopped within the first source's first {} series ({pauses} pauses)", tsdb::SELECT_SERIES_PER_PAUSE);
        db.close().await.expect("close");
    });
}

/// A snapshot holds the blocks (linked) and the head (as one more block): opened as a shard
/// of its own it reads back everything the shard held, and later changes to the shard (a
/// delete rewriting a block's tombstones, more writes) do not reach it. With `skip_head`
/// only the blocks' samples are in it.
#[test]
fn a_snapshot_opens_as_a_shard_holding_what_the_shard_held() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = batches(100 * 2 * HOUR_MS, 100 * 2 * HOUR_MS + 13 * HOUR_MS / 2, 3);
    let want = model_of(&data);
    let later = batches(100 * 2 * HOUR_MS + 7 * HOUR_MS, 100 * 2 * HOUR_MS + 7 * HOUR_MS + 600_000, 3);
    let (shard_dir, full, blocks_only) = (dir.path().join("shard"), dir.path().join("full"), dir.path().join("blocks-only"));
    let (from_blocks, written) = {
        let (shard_dir, full, blocks_only) = (shard_dir.clone(), full.clone(), blocks_only.clone());
        on_executor(move || async move {
            let mut db = ShardDb::open(&shard_dir, options()).await.expect("open");
            append_cutting_due_blocks(&mut db, &data).await;
            assert_eq!(db.blocks().len(), 2, "two blocks cut, the rest in the head");
            let from_blocks: Model = held(&db)
                .into_iter()
                .map(|(l, m)| (l, m.into_iter().filter(|(t, _)| *t < 100 * 2 * HOUR_MS + 4 * HOUR_MS).collect::<BTreeMap<_, _>>()))
                .filter(|(_, m)| !m.is_empty())
                .collect();
            let written = db.snapshot(&full, false).await.expect("snapshot");
            db.snapshot(&blocks_only, true).await.expect("snapshot without the head");
            // After the snapshot: a delete over everything (tombstones in both blocks) and
            // more samples.
            let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
            db.delete(&[vec![all]], i64::MIN, i64::MAX).await.expect("delete");
            for b in &later {
                db.append_group(&[b.as_slice()]).await.expect("append");
            }
            db.close().await.expect("close");
            (from_blocks, written)
        })
    };
    // The head (204 h to 206.5 h) in five half-hour windows, each block named after the
    // linked ones (which were written now, long after 206.5 h), so it wins ties as the
    // head did.
    assert_eq!(written.len(), 2 + 5, "two linked blocks and the head's five: {written:?}");
    let linked_newest = written[..2].iter().max().expect("linked");
    assert!(written[2..].iter().all(|u| u > linked_newest), "{written:?}");
    for (path, expected) in [(full, want), (blocks_only, from_blocks)] {
        let got = on_executor(move || async move {
            let db = ShardDb::open(&path, options()).await.expect("open the snapshot");
            let s = snapshot(&db);
            db.close().await.expect("close");
            s
        });
        assert_eq!(got.held, expected);
    }
}

/// Every file of the block directories under `dir`: relative path → bytes.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).expect("ls") {
            let path = e.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let name = path.strip_prefix(dir).expect("under dir").to_string_lossy().into_owned();
                out.insert(name, std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

/// Two snapshots of an unchanged head write the same head blocks, byte for byte under the
/// same names; after a sample opens a new window only that block and the one before (whose
/// range reached only up to the head's newest sample) are new, and after a sample lands in
/// an old window only that one. That is what lets an incremental backup (vmbackup compares
/// files by path and size) skip the rest.
#[test]
fn snapshots_write_the_unchanged_part_of_the_head_under_the_same_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = 100 * 2 * HOUR_MS;
    let data = batches(base, base + 3 * HOUR_MS / 2, 3);
    let shard_dir = dir.path().join("shard");
    let snaps: Vec<PathBuf> = (0..4).map(|i| dir.path().join(format!("snap{i}"))).collect();
    let written = {
        let snaps = snaps.clone();
        on_executor(move || async move {
            let mut db = ShardDb::open(&shard_dir, options()).await.expect("open");
            append_cutting_due_blocks(&mut db, &data).await;
            assert!(db.blocks().is_empty(), "all of it in the head");
            let mut written = Vec::new();
            written.push(db.snapshot(&snaps[0], false).await.expect("first snapshot"));
            written.push(db.snapshot(&snaps[1], false).await.expect("second snapshot"));
            // One more sample for one series, in the newest window.
            let late = |t: i64| SeriesSamples { labels: labels("steady", 1), samples: vec![Sample { timestamp_ms: t, value: 1.5 }], histograms: Vec::new(), starts: None };
            db.append_group(&[&[late(base + 3 * HOUR_MS / 2)][..]]).await.expect("append newest");
            written.push(db.snapshot(&snaps[2], false).await.expect("third snapshot"));
            // An out-of-order sample in the oldest window (between two minutes).
            db.append_group(&[&[late(base + 30_000)][..]]).await.expect("append old");
            written.push(db.snapshot(&snaps[3], false).await.expect("fourth snapshot"));
            db.close().await.expect("close");
            written
        })
    };
    // 0:00–0:30, 0:30–1:00, 1:00–1:30 (the last sample at 1:29); the late one opens 1:30–2:00.
    assert_eq!(written[0].len(), 3, "{written:?}");
    assert_eq!(written[0], written[1], "nothing changed, same names");
    assert_eq!(files_under(&snaps[0]), files_under(&snaps[1]), "and the same bytes");
    assert_eq!(written[2][..2], written[0][..2], "the two windows before are unchanged");
    assert_ne!(written[2][2], written[0][2], "the head's newest window was clamped to its last sample and now reaches its end");
    assert_eq!(written[2].len(), 4, "one more window: {written:?}");
    assert_eq!(written[3][1..], written[2][1..], "only the oldest window changed");
    assert_ne!(written[3][0], written[2][0]);
    for (i, ulids) in written.iter().enumerate() {
        for u in ulids {
            assert!(tsdb::block::is_ulid(u), "{u}");
            let meta = tsdb::block::BlockMeta::read(&snaps[i].join(u)).expect("meta");
            assert_eq!(&meta.ulid, u);
            assert_eq!(meta.compaction.sources, vec![u.clone()]);
            assert_eq!(tsdb::block::ulid_time_ms(u), Some(meta.min_time_ms as u64), "named by the window's start");
        }
    }
    // The last snapshot reads back every sample.
    let mut want = model_of(&batches(base, base + 3 * HOUR_MS / 2, 3));
    let extra = want.entry(labels("steady", 1)).or_default();
    extra.insert(base + 3 * HOUR_MS / 2, 1.5f64.to_bits());
    extra.insert(base + 30_000, 1.5f64.to_bits());
    let last = snaps[3].clone();
    let got = on_executor(move || async move {
        let db = ShardDb::open(&last, options()).await.expect("open the snapshot");
        let s = snapshot(&db);
        db.close().await.expect("close");
        s
    });
    assert_eq!(got.held, want);
}

/// A head holding samples with start times (which the one-pass partition does not split) is
/// cut window by window instead: the same windows, names stable while nothing changes, and
/// the snapshot reads back every sample with its start.
#[test]
fn a_snapshot_of_samples_with_start_times_is_windowed_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = 100 * 2 * HOUR_MS;
    let times: Vec<i64> = (0..60).map(|k| base + k * 60_000).collect();
    let series = SeriesSamples {
        labels: labels("started_total", 0),
        samples: times.iter().map(|&t| Sample { timestamp_ms: t, value: (t - base) as f64 }).collect(),
        histograms: Vec::new(),
        starts: None,
    };
    let starts: Vec<tsdb::StartTimestamp> = times.iter().map(|&t| tsdb::StartTimestamp { start_ms: base - 60_000, sample_ms: t }).collect();
    let batch = tsdb::SeriesBatch::try_from_series_starts_and_exemplars(std::slice::from_ref(&series), &[starts], &[]).expect("batch");
    let started_options = || ShardOptions { start_timestamp_storage: true, ..options() };
    let shard_dir = dir.path().join("shard");
    let snaps: Vec<PathBuf> = (0..2).map(|i| dir.path().join(format!("snap{i}"))).collect();
    let written = {
        let snaps = snaps.clone();
        on_executor(move || async move {
            let mut db = ShardDb::open(&shard_dir, started_options()).await.expect("open");
            db.append_batches(&[tsdb::BatchPart::whole(&batch)]).await.expect("append");
            let first = db.snapshot(&snaps[0], false).await.expect("first snapshot");
            let second = db.snapshot(&snaps[1], false).await.expect("second snapshot");
            db.close().await.expect("close");
            (first, second)
        })
    };
    assert_eq!(written.0.len(), 2, "two half-hour windows: {written:?}");
    assert_eq!(written.0, written.1);
    assert_eq!(files_under(&snaps[0]), files_under(&snaps[1]));
    let first = snaps[0].clone();
    let got = on_executor(move || async move {
        let db = ShardDb::open(&first, started_options()).await.expect("open the snapshot");
        let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
        let got = db.select(&[all], i64::MIN, i64::MAX);
        db.close().await.expect("close");
        got
    });
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, series.samples);
    let read_starts = got[0].starts.as_ref().map(|s| s.floats.clone());
    assert_eq!(read_starts, Some(vec![base - 60_000; 60]), "each sample keeps its start");
}

/// A late sample in the head that overwrites one of a block's (the head wins on read) still
/// wins once the snapshot has written the head as blocks: they are named after the linked
/// block, and newer blocks win ties.
#[test]
fn a_snapshot_answers_a_sample_the_head_overwrote_as_the_shard_did() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = 100 * 2 * HOUR_MS;
    let data = batches(base, base + 7 * HOUR_MS / 2, 1);
    let (shard_dir, snap) = (dir.path().join("shard"), dir.path().join("snap"));
    let overwrite = SeriesSamples { labels: labels("steady", 0), samples: vec![Sample { timestamp_ms: base + 60_000, value: -2.0 }], histograms: Vec::new(), starts: None };
    let before = {
        let snap = snap.clone();
        on_executor(move || async move {
            let mut db = ShardDb::open(&shard_dir, options()).await.expect("open");
            append_cutting_due_blocks(&mut db, &data).await;
            assert_eq!(db.blocks().len(), 1, "the first two hours in a block");
            db.append_group(&[std::slice::from_ref(&overwrite)]).await.expect("append late");
            let held_now = held(&db);
            db.snapshot(&snap, false).await.expect("snapshot");
            db.close().await.expect("close");
            held_now
        })
    };
    assert_eq!(before[&labels("steady", 0)][&(base + 60_000)], (-2.0f64).to_bits(), "the head wins in the shard");
    let got = on_executor(move || async move {
        let db = ShardDb::open(&snap, options()).await.expect("open the snapshot");
        let s = snapshot(&db);
        db.close().await.expect("close");
        s
    });
    assert_eq!(got.held, before, "and in the snapshot");
}

/// A late sample 40 days behind the rest of the head (it waits there for the next cut) makes
/// the snapshot's windows wider, not 1,920 half-hour windows: two blocks, both samples kept.
#[test]
fn a_snapshot_of_a_head_with_a_sample_far_behind_writes_few_blocks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = 100 * 2 * HOUR_MS;
    let at = |t: i64, v: f64| vec![SeriesSamples { labels: labels("steady", 0), samples: vec![Sample { timestamp_ms: t, value: v }], histograms: Vec::new(), starts: None }];
    let (shard_dir, snap) = (dir.path().join("shard"), dir.path().join("snap"));
    let written = {
        let snap = snap.clone();
        on_executor(move || async move {
            let mut db = ShardDb::open(&shard_dir, options()).await.expect("open");
            db.append_group(&[&at(base, 1.0)]).await.expect("append old");
            db.append_group(&[&at(base + 40 * 24 * HOUR_MS, 2.0)]).await.expect("append new");
            let written = db.snapshot(&snap, false).await.expect("snapshot");
            db.close().await.expect("close");
            written
        })
    };
    assert_eq!(written.len(), 2, "{written:?}");
    // 16-hour windows (the first of 30 minutes doubled to cover 40 days in at most 64), each
    // clamped to the head's range: 200 h is in [192 h, 208 h), 1160 h in [1152 h, 1168 h).
    let ranges: Vec<(i64, i64)> = written.iter().map(|u| tsdb::block::BlockMeta::read(&snap.join(u)).map(|m| (m.min_time_ms, m.max_time_ms)).expect("meta")).collect();
    assert_eq!(ranges, [(base, 208 * HOUR_MS), (1152 * HOUR_MS, base + 40 * 24 * HOUR_MS + 1)]);
    let got = on_executor(move || async move {
        let db = ShardDb::open(&snap, options()).await.expect("open the snapshot");
        let s = snapshot(&db);
        db.close().await.expect("close");
        s
    });
    let want: Model = [(labels("steady", 0), [(base, 1.0f64.to_bits()), (base + 40 * 24 * HOUR_MS, 2.0f64.to_bits())].into_iter().collect())].into_iter().collect();
    assert_eq!(got.held, want);
}
