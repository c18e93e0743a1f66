//! Fault injection (`tsdb::fault`, the crate's `fault-injection` feature, on in tests): WAL
//! short writes, ENOSPC, EIO and failed fdatasync; failed block writes and fsyncs during a
//! head cut; failed checkpoint writes; failed chunk reads; refused O_DIRECT. For each: what
//! failed gets an error, never an acknowledgment; every acknowledged sample is there after
//! reopening; ingestion continues once the fault clears.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{on_executor, HOUR_MS};
use tsdb::fault::{self, Fault};
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};

/// series → timestamp → value bits.
type Model = BTreeMap<Labels, BTreeMap<i64, u64>>;

fn wal_options() -> ShardOptions {
    ShardOptions {
        // Small segments: the groups after a fault cross into later segments.
        wal_segment_bytes: 64 << 10,
        fsync_on_commit: true,
        ..ShardOptions::default()
    }
}

/// Group `k`: `width` long-lived series plus one series new in this group, `per_series`
/// samples each at distinct timestamps.
fn group(k: i64, width: usize, per_series: i64) -> Vec<SeriesSamples> {
    let mut out: Vec<SeriesSamples> = (0..width)
        .map(|i| labels("steady", &i.to_string()))
        .chain([labels("new", &k.to_string())])
        .map(|labels| SeriesSamples {
            labels,
            samples: (0..per_series)
                .map(|j| Sample {
                    timestamp_ms: k * 1000 + j,
                    value: (k * 31 + j) as f64,
                })
                .collect(),
            histograms: Vec::new(),
            starts: None,
        })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

fn labels(name: &str, i: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("i", i)])
}

fn add(model: &mut Model, batch: &[SeriesSamples]) {
    for s in batch {
        let m = model.entry(s.labels.clone()).or_default();
        for x in &s.samples {
            m.insert(x.timestamp_ms, x.value.to_bits());
        }
    }
}

fn held(db: &ShardDb) -> Model {
    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
    let mut model = Model::new();
    add(&mut model, &db.select(&[all], i64::MIN, i64::MAX));
    model
}

/// Every acknowledged sample is held with its value.
fn assert_holds(db: &ShardDb, acked: &Model, when: &str) {
    let held = held(db);
    for (labels, samples) in acked {
        let got = held.get(labels);
        for (t, bits) in samples {
            assert_eq!(got.and_then(|g| g.get(t)), Some(bits), "{when}: acknowledged sample {labels} @ {t} lost");
        }
    }
}

/// The error a sender would see must say what happened (core maps ENOSPC and short writes
/// to 507, everything else to 500).
fn assert_error_names(fault: Fault, error: &tsdb::Error) {
    let text = error.to_string();
    let wanted = match fault {
        Fault::WalShortWrite { .. } => "short write",
        Fault::WalNoSpace => "os error 28",
        Fault::WalIoError => "os error 5",
        Fault::WalFsync => "fdatasync",
        _ => "",
    };
    assert!(text.contains(wanted), "{fault:?}: {text}");
}

const WAL_FAULTS: [Fault; 6] = [
    Fault::WalShortWrite { after_bytes: 3 },
    Fault::WalShortWrite { after_bytes: 700 },
    Fault::WalNoSpace,
    Fault::WalIoError,
    Fault::WalFsync,
    // A fault in the middle of a record's payload, after whole records of the group.
    Fault::WalShortWrite { after_bytes: 5000 },
];

/// Opens the shard with no fault armed and acknowledges ten small groups; returns the shard
/// and what it acknowledged.
async fn open_with_ten_groups(path: &std::path::Path) -> (ShardDb, Model) {
    fault::disarm_all();
    let mut db = ShardDb::open(path, wal_options()).await.expect("open");
    let mut acked = Model::new();
    for k in 0..10 {
        let g = group(k, 5, 3);
        db.append_group(&[&g]).await.expect("append before any fault");
        add(&mut acked, &g);
    }
    (db, acked)
}

/// For each WAL fault, lasting one group and then three: the failed groups get errors; the
/// groups after them are acknowledged and cross into later segments; a reopen holds exactly
/// the acknowledged samples (nothing of the failed groups resurfaces, nothing acknowledged
/// is missing: no torn record was left before them).
#[test]
fn wal_faults_fail_their_group_and_lose_nothing_acknowledged() {
    for (case, fault) in WAL_FAULTS.into_iter().enumerate() {
        for times in [1u32, 3] {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().to_path_buf();
            let acked = on_executor(move || async move {
                let (mut db, mut acked) = open_with_ten_groups(&path).await;
                fault::arm_times(fault, times);
                // Large failed groups: what they may leave reaches far past later small writes.
                for k in 10..10 + i64::from(times) {
                    let g = group(k, 40, 20);
                    let error = db.append_group(&[&g]).await.expect_err("a failed group is never acknowledged");
                    assert_error_names(fault, &error);
                }
                assert_eq!(fault::fired(fault), u64::from(times), "case {case}: the fault fired");
                // The fault is gone. The first acknowledged group does not fit in what is left
                // of the segment, so the WAL rotates right away: whatever the failed group left
                // in the old segment must not stop replay before the new one.
                let big = group(30, 60, 60);
                db.append_group(&[&big]).await.unwrap_or_else(|e| panic!("case {case} ({fault:?}): append after the fault cleared: {e}"));
                add(&mut acked, &big);
                // Ingestion continues, through several more segment rotations.
                for k in 40..400 {
                    let g = group(k, 5, 3);
                    db.append_group(&[&g]).await.unwrap_or_else(|e| panic!("case {case} ({fault:?}): append after the fault cleared: {e}"));
                    add(&mut acked, &g);
                }
                assert_holds(&db, &acked, "before reopening");
                db.close().await.expect("close");
                acked
            });
            let path = dir.path().to_path_buf();
            on_executor(move || async move {
                let db = ShardDb::open(&path, wal_options()).await.expect("reopen");
                assert_holds(&db, &acked, &format!("case {case} ({fault:?} x{times}) after reopening"));
                assert_eq!(held(&db), acked, "case {case} ({fault:?}): only acknowledged samples");
            });
        }
    }
}

/// A crash right after a failed group (no later write rewrote its region): the reopened
/// shard holds everything acknowledged before it (the failed group may or may not be
/// there) and takes writes again, which survive the next reopen.
#[test]
fn a_crash_right_after_a_wal_fault_loses_nothing_acknowledged() {
    for fault in WAL_FAULTS {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let acked = on_executor(move || async move {
            let (mut db, acked) = open_with_ten_groups(&path).await;
            fault::arm_times(fault, 1);
            let g = group(10, 40, 20);
            db.append_group(&[&g]).await.expect_err("failed group");
            assert_eq!(fault::fired(fault), 1);
            drop(db); // crash: no close, no later write
            acked
        });
        let path = dir.path().to_path_buf();
        let acked = on_executor(move || async move {
            let mut db = ShardDb::open(&path, wal_options()).await.expect("reopen");
            assert_holds(&db, &acked, &format!("{fault:?}: after the crash"));
            let mut acked = acked;
            let big = group(30, 60, 60);
            db.append_group(&[&big]).await.expect("append after reopening");
            add(&mut acked, &big);
            for k in 40..200 {
                let g = group(k, 5, 3);
                db.append_group(&[&g]).await.expect("append after reopening");
                add(&mut acked, &g);
            }
            db.close().await.expect("close");
            acked
        });
        let path = dir.path().to_path_buf();
        on_executor(move || async move {
            let db = ShardDb::open(&path, wal_options()).await.expect("reopen");
            assert_holds(&db, &acked, &format!("{fault:?}: second reopen"));
        });
    }
}

/// 4 h of data for 20 series: the range [0, 2h) is due for a cut.
fn cut_data() -> Vec<SeriesSamples> {
    (0..20)
        .map(|i| SeriesSamples {
            labels: labels("cut", &i.to_string()),
            samples: (0..4 * 60)
                .map(|m| Sample {
                    timestamp_ms: m * 60_000,
                    value: (i * 1000 + m) as f64,
                })
                .collect(),
            histograms: Vec::new(),
            starts: None,
        })
        .collect()
}

/// With every fault disarmed: a shard opened at `path` holding `cut_data()` (one block's
/// range due for a cut), and the model of what it holds.
async fn shard_holding_cut_data(path: &Path, options: ShardOptions) -> (ShardDb, Model) {
    fault::disarm_all();
    let mut db = ShardDb::open(path, options).await.expect("open");
    let data = cut_data();
    db.append_group(&[&data]).await.expect("append");
    let mut model = Model::new();
    add(&mut model, &data);
    (db, model)
}

fn block_dirs(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.len() >= 26 && n.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    out.sort();
    out
}

/// A block write or fsync that fails during a cut (and a WAL fdatasync failing as the cut
/// rotates the WAL): `maintain` reports the error, the head still answers everything, no
/// block or `.tmp` directory is left, a reopen replays everything from the WAL, and the
/// next `maintain` cuts the block; the data is held exactly once throughout.
#[test]
fn a_failed_block_write_leaves_head_and_wal_intact_and_the_cut_is_retried() {
    for fault in [Fault::BlockWrite, Fault::BlockFsync, Fault::WalFsync, Fault::CheckpointWrite] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let model = on_executor(move || async move {
            let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
            let (mut db, mut model) = shard_holding_cut_data(&path, options.clone()).await;
            assert!(db.cut_due());
            fault::arm_times(fault, 1);
            let error = db.maintain(0).await.expect_err("the cut fails");
            assert_eq!(fault::fired(fault), 1, "{fault:?} fired");
            assert!(!db.cut_due(), "{fault:?}: a failed cut is not due again at once (each request group would retry it)");
            assert!(!error.to_string().is_empty());
            assert_eq!(held(&db), model, "{fault:?}: the head still holds everything");
            assert!(db.blocks().is_empty());
            assert_eq!(block_dirs(&path), Vec::<String>::new(), "{fault:?}: no block or .tmp left");
            let wal_tmp: Vec<String> = common::wal_entries(&path).into_iter().filter(|n| n.ends_with(".tmp")).collect();
            assert_eq!(wal_tmp, Vec::<String>::new(), "{fault:?}: no unfinished checkpoint left");
            // Ingestion goes on meanwhile.
            let more = vec![SeriesSamples {
                labels: labels("cut", "0"),
                samples: vec![Sample { timestamp_ms: 4 * HOUR_MS, value: 1.5 }],
                histograms: Vec::new(),
                starts: None,
            }];
            db.append_group(&[&more]).await.expect("append after the failed cut");
            add(&mut model, &more);
            drop(db); // crash before the retry: the WAL alone must hold everything
            let mut db = ShardDb::open(&path, options.clone()).await.expect("reopen");
            assert_eq!(held(&db), model, "{fault:?}: WAL replay after the failed cut");
            let outcome = db.maintain(0).await.expect("the retried cut succeeds");
            assert_eq!(outcome.blocks_cut.len(), 1);
            assert_eq!(held(&db), model, "{fault:?}: after the cut, once each");
            db.close().await.expect("close");
            model
        });
        let path = dir.path().to_path_buf();
        on_executor(move || async move {
            let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
            let db = ShardDb::open(&path, options).await.expect("reopen");
            assert_eq!(db.blocks().len(), 1);
            assert_eq!(held(&db), model, "{fault:?}: block + checkpoint after reopening");
        });
    }
}

/// Two adjacent blocks of one series, 100 samples each, written into `dir` as compaction
/// parents: their ULIDs in order, and every sample they hold.
fn two_parent_blocks(dir: &Path) -> (Vec<String>, Vec<Sample>) {
    let mut parents = Vec::new();
    let mut want = Vec::new();
    for b in 0..2i64 {
        let samples: Vec<Sample> = (0..100).map(|k| Sample { timestamp_ms: b * 1_000 + k, value: k as f64 }).collect();
        let ulid = tsdb::block::new_ulid(1 + b as u64);
        tsdb::block::write_block(dir, &ulid, b * 1_000, (b + 1) * 1_000, vec![(labels("c", "0"), samples.clone())]).expect("write");
        parents.push(ulid);
        want.extend(samples);
    }
    (parents, want)
}

/// A chunk read failing with EIO: the answer leaves that block's data out (the head's is
/// still served) and the next query, the fault gone, holds everything again. A compaction
/// meeting it fails, leaves no `.tmp` directory and its parents readable, and succeeds when
/// run again.
#[test]
fn a_failed_chunk_read_costs_one_answer_or_one_compaction_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let (mut db, model) = shard_holding_cut_data(&path, common::block_test_options()).await;
        assert_eq!(db.maintain(0).await.expect("cut").blocks_cut.len(), 1);
        fault::arm(Fault::ChunkRead);
        let partial = held(&db);
        assert!(fault::fired(Fault::ChunkRead) >= 1, "the fault was met");
        let head_only: Model = model
            .iter()
            .map(|(l, s)| (l.clone(), s.range(2 * HOUR_MS..).map(|(t, v)| (*t, *v)).collect()))
            .collect();
        assert_eq!(partial, head_only, "the block's part is left out, the head's is served");
        fault::disarm_all();
        assert_eq!(held(&db), model, "everything once the fault is gone");
        db.close().await.expect("close");
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let (parents, want) = two_parent_blocks(dir.path());
    let job = tsdb::block::CompactionJob { shard_dir: dir.path().to_path_buf(), ulid: tsdb::block::new_ulid(10), parents: parents.clone() };
    fault::disarm_all();
    fault::arm_times(Fault::ChunkRead, 1);
    let error = job.clone().run().expect_err("the compaction meets the fault");
    assert_eq!(fault::fired(Fault::ChunkRead), 1);
    assert!(error.to_string().contains("os error 5") && error.to_string().contains("chunks"), "{error}");
    assert_eq!(block_dirs(dir.path()), parents, "no .tmp left, the parents stay");
    for ulid in &parents {
        tsdb::block::Block::open(&dir.path().join(ulid)).expect("a parent is still readable");
    }
    let out = job.run().expect("the compaction succeeds without the fault");
    let meta = out.meta.expect("a block");
    let merged = tsdb::block::commit_tmp(dir.path(), &meta.ulid).expect("commit");
    let got = tsdb::block::Block::open(&merged).expect("open").select(&[], i64::MIN, i64::MAX).expect("select");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].samples, want);
}

/// O_DIRECT refused for block files and checkpoints, at open (`DirectIoRefused`, as on file
/// systems without it) or only at the first write (`DirectIoWriteRefused`): a cut and a
/// compaction still succeed, writing buffered, and the blocks and the checkpoint hold
/// exactly the data (after a reopen too).
#[test]
fn a_refused_o_direct_writes_blocks_and_checkpoints_buffered_with_the_same_data() {
    for fault in [Fault::DirectIoRefused, Fault::DirectIoWriteRefused] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let model = on_executor(move || async move {
            let (mut db, model) = shard_holding_cut_data(&path, common::block_test_options()).await;
            let counted_before = tsdb::block::buffered_writes_total();
            fault::arm(fault);
            assert_eq!(db.maintain(0).await.expect("the cut succeeds").blocks_cut.len(), 1);
            // Every file of the cut fell back, and each is counted (other tests in this
            // process may add their own meanwhile: at least, not exactly).
            assert!(tsdb::block::buffered_writes_total() >= counted_before + 5, "buffered writes counted");
            // One chunk segment, index, tombstones, meta.json and the checkpoint.
            assert!(fault::fired(fault) >= 5, "{fault:?} met by every file written: {}", fault::fired(fault));
            assert_eq!(held(&db), model, "{fault:?}: after the cut");
            fault::disarm_all();
            db.close().await.expect("close");
            model
        });
        let path = dir.path().to_path_buf();
        on_executor(move || async move {
            let db = ShardDb::open(&path, common::block_test_options()).await.expect("reopen");
            assert_eq!(db.blocks().len(), 1);
            assert_eq!(held(&db), model, "{fault:?}: block + checkpoint after reopening");
        });

        let dir = tempfile::tempdir().expect("tempdir");
        fault::disarm_all();
        fault::arm(fault);
        let (parents, want) = two_parent_blocks(dir.path());
        let job = tsdb::block::CompactionJob { shard_dir: dir.path().to_path_buf(), ulid: tsdb::block::new_ulid(10), parents };
        let fired_before = fault::fired(fault);
        let meta = job.run().expect("the compaction succeeds").meta.expect("a block");
        assert!(fault::fired(fault) > fired_before, "{fault:?} met by the compaction's writes");
        fault::disarm_all();
        let merged = tsdb::block::commit_tmp(dir.path(), &meta.ulid).expect("commit");
        let got = tsdb::block::Block::open(&merged).expect("open").select(&[], i64::MIN, i64::MAX).expect("select");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, want, "{fault:?}: the merged block");
    }
}

/// 20 h of data for 20 series (one sample a minute): ranges [0, 2h) … [16h, 18h) are due,
/// more than `CUTS_PER_MAINTAIN_MAX` single-range cuts would take.
fn history_data() -> Vec<SeriesSamples> {
    (0..20)
        .map(|i| SeriesSamples {
            labels: labels("history", &i.to_string()),
            samples: (0..20 * 60).map(|m| Sample { timestamp_ms: m * 60_000, value: (i * 10_000 + m) as f64 }).collect(),
            histograms: Vec::new(),
            starts: None,
        })
        .collect()
}

/// Block ranges of a shard's blocks, sorted; fails when two overlap.
fn block_ranges(db: &ShardDb) -> Vec<(i64, i64)> {
    let mut ranges: Vec<(i64, i64)> = db.blocks().iter().map(|b| (b.min_time_ms, b.max_time_ms)).collect();
    ranges.sort();
    assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "blocks overlap: {ranges:?}");
    ranges
}

/// A fresh shard in `path` (faults disarmed) holding `history_data()`, and the model of what
/// it holds.
async fn open_with_history(path: &Path, options: &ShardOptions) -> (ShardDb, Model) {
    fault::disarm_all();
    let mut db = ShardDb::open(path, options.clone()).await.expect("open");
    let data = history_data();
    db.append_group(&[&data]).await.expect("append");
    let mut model = Model::new();
    add(&mut model, &data);
    (db, model)
}

/// `count` series named `late` (label values from `first` on) with a sample a minute over
/// [0, 18 h): late once `history_data()`'s nine ranges are cut.
fn late_series(first: i64, count: i64) -> Vec<SeriesSamples> {
    (first..first + count)
        .map(|i| SeriesSamples { labels: labels("late", &i.to_string()), samples: (0..18 * 60).map(|m| Sample { timestamp_ms: m * 60_000, value: m as f64 }).collect(), histograms: Vec::new(), starts: None })
        .collect()
}

/// A backlog of due ranges is cut in one go (one head split, one checkpoint, a block per
/// range); when the second block's write fails, the first is removed again and the head and
/// WAL still hold everything; late samples for ranges already cut wait for the next regular
/// cut instead of a block per write.
#[test]
fn a_backlog_of_ranges_is_cut_at_once_and_a_failed_block_undoes_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
        let (mut db, mut model) = open_with_history(&path, &options).await;
        // Each block writes four files (chunks, index, tombstones, meta): the fifth write is
        // the second block's.
        fault::arm_after(Fault::BlockWrite, 4);
        db.maintain(0).await.expect_err("the cut fails at its second block");
        assert_eq!(fault::fired(Fault::BlockWrite), 1);
        assert_eq!(held(&db), model, "the head still holds everything");
        assert!(db.blocks().is_empty());
        assert_eq!(block_dirs(&path), Vec::<String>::new(), "the first block of the failed cut is gone too");
        drop(db); // crash: the WAL alone must hold everything
        let mut db = ShardDb::open(&path, options.clone()).await.expect("reopen");
        assert_eq!(held(&db), model);
        let outcome = db.maintain(0).await.expect("the cut");
        assert_eq!(outcome.blocks_cut.len(), 9, "nine ranges in one maintain call");
        assert_eq!(block_ranges(&db), (0..9).map(|k| (k * 2 * HOUR_MS, (k + 1) * 2 * HOUR_MS)).collect::<Vec<_>>());
        let checkpoints = common::wal_entries(&path).into_iter().filter(|n| n.starts_with("checkpoint.")).count();
        assert_eq!(checkpoints, 1, "one checkpoint for the whole cut");
        assert_eq!(held(&db), model);
        // Late samples (new series) for the ranges already cut: not due yet.
        let late: Vec<SeriesSamples> = (0..5)
            .map(|i| SeriesSamples { labels: labels("late", &i.to_string()), samples: vec![Sample { timestamp_ms: i * HOUR_MS, value: 1.0 }], histograms: Vec::new(), starts: None })
            .collect();
        db.append_group(&[&late]).await.expect("late append");
        add(&mut model, &late);
        assert!(!db.cut_due(), "late samples wait for the next regular cut");
        assert_eq!(db.maintain(0).await.expect("maintain").blocks_cut.len(), 0);
        db.close().await.expect("close");
        let db = ShardDb::open(&path, options).await.expect("reopen");
        assert_eq!(held(&db), model, "blocks + checkpoint + WAL after reopening");
        assert_eq!(block_ranges(&db).len(), 9);
    });
}

/// Retention runs even when the cut before it fails (on a full disk, deleting old blocks is
/// what makes room for the next try), and the error is still reported.
#[test]
fn retention_runs_when_the_cut_before_it_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
        let (mut db, _) = open_with_history(&path, &options).await;
        assert_eq!(db.maintain(0).await.expect("the cut").blocks_cut.len(), 9);
        // Newer samples make another range due; its block write fails.
        let newer = vec![SeriesSamples {
            labels: labels("cut", "later"),
            samples: (0..4 * 60).map(|m| Sample { timestamp_ms: 18 * HOUR_MS + m * 60_000, value: m as f64 }).collect(),
            histograms: Vec::new(),
            starts: None,
        }];
        db.append_group(&[&newer]).await.expect("append");
        assert!(db.cut_due());
        fault::arm_times(Fault::BlockWrite, 1);
        // Far enough in the future that every cut block is past retention.
        let later_ms = 19 * HOUR_MS + options.retention_ms;
        db.maintain(later_ms).await.expect_err("the cut fails");
        assert_eq!(fault::fired(Fault::BlockWrite), 1);
        assert!(db.blocks().is_empty(), "retention deleted the old blocks all the same: {:?}", block_ranges(&db));
        assert_eq!(block_dirs(&path), Vec::<String>::new());
        assert!(!db.cut_due(), "not due again at once");
        let outcome = db.maintain(later_ms).await.expect("maintain tries the cut again when asked");
        assert_eq!(outcome.blocks_cut.len(), 1);
        db.close().await.expect("close");
    });
}

/// A failed cut whose first block cannot be removed again either: the pending checkpoint
/// that names the cut's blocks stays (a later cut does not take it away), the next cut stores
/// the data again under later ULIDs, and the next open removes the leftover block, so no
/// sample is stored twice and no good block is removed.
#[test]
fn a_block_of_a_failed_cut_that_cannot_be_removed_goes_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
        let (mut db, model) = open_with_history(&path, &options).await;
        fault::arm_after(Fault::BlockWrite, 4);
        fault::arm_times(Fault::BlockDelete, 1);
        db.maintain(0).await.expect_err("the cut fails at its second block");
        assert_eq!((fault::fired(Fault::BlockWrite), fault::fired(Fault::BlockDelete)), (1, 1));
        let leftover = block_dirs(&path);
        assert_eq!(leftover.len(), 1, "the first block of the failed cut is still there: {leftover:?}");
        let pending = |path: &Path| common::wal_entries(path).into_iter().filter(|n| n.starts_with("checkpoint.") && n.contains('-')).collect::<Vec<_>>();
        assert_eq!(pending(&path).len(), 1, "the pending checkpoint naming it is kept: {:?}", common::wal_entries(&path));
        assert!(db.blocks().is_empty());
        assert_eq!(held(&db), model, "the head still holds everything, once");
        assert_eq!(db.maintain(0).await.expect("the cut again").blocks_cut.len(), 9);
        assert_eq!(pending(&path).len(), 1, "the later cut leaves the pending checkpoint");
        assert!(block_dirs(&path).iter().skip(1).all(|u| u.as_str() > leftover[0].as_str()), "later blocks sort after the leftover");
        assert_eq!(held(&db), model);
        db.close().await.expect("close");
        let db = ShardDb::open(&path, options).await.expect("reopen");
        let dirs = block_dirs(&path);
        assert_eq!(dirs.len(), 9, "the leftover block is gone: {dirs:?}");
        assert!(!dirs.contains(&leftover[0]));
        assert!(pending(&path).is_empty(), "{:?}", common::wal_entries(&path));
        assert_eq!(block_ranges(&db).len(), 9, "no two blocks overlap");
        assert_eq!(held(&db), model, "every sample once after reopening");
    });
}

/// The state a crash leaves in the middle of a cut of several blocks (the first block renamed
/// into place, the last not, the checkpoint still pending): the next open removes the
/// block, drops the checkpoint and replays the segments, so nothing is held twice.
#[test]
fn an_open_after_a_crash_inside_a_cut_of_several_blocks_removes_its_blocks() {
    let (crashed, reference) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let (crashed_path, reference_path) = (crashed.path().to_path_buf(), reference.path().to_path_buf());
    let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
    let model = on_executor({
        let (crashed_path, reference_path, options) = (crashed_path.clone(), reference_path.clone(), options.clone());
        move || async move {
            fault::disarm_all();
            let data = history_data();
            let mut model = Model::new();
            add(&mut model, &data);
            // The same data in two shards; the reference cuts it, the other only logged it.
            for path in [&crashed_path, &reference_path] {
                let mut db = ShardDb::open(path, options.clone()).await.expect("open");
                db.append_group(&[&data]).await.expect("append");
                db.close().await.expect("close");
            }
            let mut db = ShardDb::open(&reference_path, options.clone()).await.expect("open");
            assert_eq!(db.maintain(0).await.expect("cut").blocks_cut.len(), 9);
            db.close().await.expect("close");
            model
        }
    });
    let mut cut = block_dirs(&reference_path);
    assert_eq!(cut.len(), 9);
    cut.sort();
    // The crashed shard: the cut's first block in place, its checkpoint pending.
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to.join("chunks")).expect("mkdir");
        for entry in walk(from) {
            let relative = entry.strip_prefix(from).expect("inside");
            std::fs::copy(&entry, to.join(relative)).expect("copy");
        }
    };
    copy_dir(&reference_path.join(&cut[0]), &crashed_path.join(&cut[0]));
    let segment = common::wal_entries(&crashed_path).into_iter().filter(|n| n.len() == 8).max().expect("a segment");
    let pending = format!("checkpoint.{segment}.{}-{}", cut[0], cut[8]);
    std::fs::write(crashed_path.join(tsdb::shard::WAL_DIRNAME).join(&pending), vec![0u8; 4096]).expect("pending checkpoint");
    on_executor(move || async move {
        let mut db = ShardDb::open(&crashed_path, options).await.expect("open after the crash");
        assert!(db.blocks().is_empty(), "the uncommitted cut's block is removed");
        assert_eq!(block_dirs(&crashed_path), Vec::<String>::new());
        assert!(!common::wal_entries(&crashed_path).contains(&pending), "the pending checkpoint is gone");
        assert_eq!(held(&db), model, "replayed from the segments, once");
        assert_eq!(db.maintain(0).await.expect("the cut again").blocks_cut.len(), 9);
        assert_eq!(block_ranges(&db).len(), 9);
        assert_eq!(held(&db), model);
    });
}

/// Every file under `dir`, recursively.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("ls") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A head over `max_head_samples` because of late samples (history imported after the
/// ranges were cut) gets all of them cut in one go, one block per range, not one range (and
/// one rewrite of the rest of the head) per cut.
#[test]
fn a_head_over_its_sample_limit_with_late_samples_cuts_them_all_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let options = ShardOptions { max_head_samples: 30_000, ..common::block_test_options() };
        let (mut db, mut model) = open_with_history(&path, &options).await;
        assert_eq!(db.maintain(0).await.expect("cut").blocks_cut.len(), 9);
        // 30 more series over the same 20 h: late for the nine ranges cut, and over the limit.
        let late = late_series(0, 30);
        db.append_group(&[&late]).await.expect("late append");
        add(&mut model, &late);
        let outcome = db.maintain(0).await.expect("cut over the limit");
        assert_eq!(outcome.blocks_cut.len(), 9, "the nine late ranges in one cut");
        assert_eq!(held(&db), model);
        db.close().await.expect("close");
        let db = ShardDb::open(&path, options).await.expect("reopen");
        assert_eq!(held(&db), model);
        assert_eq!(db.blocks().len(), 18);
    });
}

/// Late samples are cut early once there are more than `max_head_samples /
/// LATE_SAMPLES_DIVISOR` of them, while the head as a whole is far under its limit: an
/// import of history does not hold its samples in memory until the next regular cut. Fewer
/// wait; the range past the watermark (live data) is never cut early.
#[test]
fn late_samples_over_their_share_of_the_head_limit_are_cut_early() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let max_head_samples = 16 * 10_000;
        assert_eq!(tsdb::shard::LATE_SAMPLES_DIVISOR, 16, "the budget below is 10,000 late samples");
        let options = ShardOptions { max_head_samples, ..common::block_test_options() };
        let (mut db, mut model) = open_with_history(&path, &options).await;
        assert_eq!(db.maintain(0).await.expect("cut").blocks_cut.len(), 9);
        let live = db.stats().head_samples;
        assert_eq!(live, 20 * 120, "[18 h, 20 h) stays");
        // 8 × 1,080 = 8,640 late samples: under the budget, they wait.
        let few = late_series(0, 8);
        db.append_group(&[&few]).await.expect("late append");
        add(&mut model, &few);
        assert!(!db.cut_due(), "under the late budget");
        // 2 more series: 10,800 late, over it; the head (13,200) is far under its limit.
        let more = late_series(8, 2);
        db.append_group(&[&more]).await.expect("late append");
        add(&mut model, &more);
        assert!(db.cut_due());
        assert_eq!(db.maintain(0).await.expect("cut").blocks_cut.len(), 9, "the nine late ranges");
        assert_eq!(db.stats().head_samples, live, "only the live range is left in the head");
        assert!(!db.cut_due());
        assert_eq!(held(&db), model);
        db.close().await.expect("close");
        let db = ShardDb::open(&path, options).await.expect("reopen");
        assert_eq!(held(&db), model);
        assert_eq!(db.blocks().len(), 18);
    });
}
