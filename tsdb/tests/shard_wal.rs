//! ShardDb over real io_uring direct I/O: write, close, reopen on a fresh executor thread,
//! read back; torn and corrupt WAL tails are cut without losing earlier records.

use std::path::Path;

mod common;

use common::on_executor;
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};


fn options() -> ShardOptions {
    ShardOptions {
        wal_segment_bytes: 64 << 10,
        fsync_on_commit: true,
        ..ShardOptions::default()
    }
}

fn series(name: &str, job: &str, samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name), ("job", job)]),
        samples: samples
            .iter()
            .map(|&(t, v)| Sample {
                timestamp_ms: t,
                value: v,
            })
            .collect(),
        histograms: Vec::new(),
        starts: None,
    }
}

fn all(db: &ShardDb) -> Vec<SeriesSamples> {
    let m = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap();
    let mut out = db.select(&[m], i64::MIN, i64::MAX);
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// Writes `batches` (one group commit each) to a shard in `dir` and returns what it holds.
fn write(dir: &Path, batches: Vec<Vec<SeriesSamples>>) -> Vec<SeriesSamples> {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options()).await.expect("open");
        for batch in &batches {
            db.append_group(&[batch.as_slice()]).await.expect("append");
        }
        let held = all(&db);
        db.close().await.expect("close");
        held
    })
}

fn reopen(dir: &Path) -> Vec<SeriesSamples> {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let db = ShardDb::open(&dir, options()).await.expect("reopen");
        let held = all(&db);
        db.close().await.expect("close");
        held
    })
}

fn batches(count: i64) -> Vec<Vec<SeriesSamples>> {
    (0..count)
        .map(|i| {
            vec![
                series("up", "a", &[(i * 1000, i as f64)]),
                series(
                    "up",
                    &format!("job{}", i % 7),
                    &[
                        (i * 1000, -(i as f64)),
                        (i * 1000 + 1, f64::from_bits(tsdb::STALE_NAN_BITS)),
                    ],
                ),
            ]
        })
        .collect()
}

#[test]
fn write_close_reopen_reads_everything_back() {
    let dir = tempfile::tempdir().unwrap();
    // Enough data to span several 64 KiB segments.
    let written = write(dir.path(), batches(3000));
    assert_eq!(written.len(), 8);
    let segments = std::fs::read_dir(dir.path().join(tsdb::shard::WAL_DIRNAME)).unwrap().count();
    assert!(segments > 3, "expected several segments, got {segments}");
    let replayed = reopen(dir.path());
    assert_eq!(replayed, written);
    // Opening counts every segment it replays, once.
    let progress = std::sync::Arc::new(tsdb::wal::ReplayProgress::default());
    let counted = progress.clone();
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let db = ShardDb::open(&path, ShardOptions { replay_progress: Some(counted), ..options() }).await.expect("reopen");
        db.close().await.expect("close");
    });
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let segment_files = std::fs::read_dir(dir.path().join(tsdb::shard::WAL_DIRNAME))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_str().is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))))
        .count() as u64;
    assert!(segment_files >= 3, "several segments: {segment_files}");
    assert_eq!((load(&progress.segments_total), load(&progress.segments_replayed)), (segment_files, segment_files));
    // Appending after a reopen continues the log; a third open sees both.
    let more = write(dir.path(), vec![vec![series("later", "x", &[(5, 5.0)])]]);
    assert_eq!(more.len(), 9);
    assert_eq!(reopen(dir.path()), more);
}

/// A data directory from before the WAL moved to `metricstor-wal/` keeps its data: `wal/` is
/// renamed at open. A `wal/` that appears later beside `metricstor-wal/` (what a plain
/// `promtool tsdb dump` leaves) is ignored, not replayed.
#[test]
fn a_legacy_wal_directory_is_renamed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let written = write(dir.path(), batches(50));
    let ours = dir.path().join(tsdb::shard::WAL_DIRNAME);
    let legacy = dir.path().join(tsdb::shard::WAL_DIRNAME_LEGACY);
    std::fs::rename(&ours, &legacy).unwrap();
    assert_eq!(reopen(dir.path()), written, "the old layout replays");
    assert!(ours.is_dir(), "wal/ became metricstor-wal/");
    let left: Vec<_> = std::fs::read_dir(&legacy).unwrap().collect();
    assert!(left.is_empty(), "an empty wal/ stays for promtool");
    std::fs::write(legacy.join("00000000"), b"not ours").unwrap();
    assert_eq!(reopen(dir.path()), written, "a foreign wal/ beside ours is ignored");
    assert!(legacy.join("00000000").exists(), "and left alone");
}

#[test]
fn group_commit_reports_each_group() {
    let dir = tempfile::tempdir().unwrap().keep();
    let outcomes = on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options()).await.expect("open");
        let g1 = vec![series("m", "a", &[(10, 1.0), (20, 2.0)])];
        let g2 = vec![series("m", "a", &[(15, 1.5), (20, 9.0), (10, 1.0)])];
        let outcomes = db
            .append_group(&[g1.as_slice(), g2.as_slice()])
            .await
            .expect("append");
        let stats = db.stats();
        db.close().await.expect("close");
        (outcomes, stats.wal_fsyncs_total, stats.series)
    });
    assert_eq!(outcomes.0[0].samples_appended, 2);
    assert_eq!(outcomes.0[1].samples_out_of_order, 1);
    assert_eq!(outcomes.0[1].duplicates_overwritten, 1);
    assert_eq!(
        outcomes.0[1].samples_appended, 2,
        "the exact duplicate (10, 1.0) is a no-op"
    );
    assert_eq!(outcomes.1, 1, "one fdatasync for both groups");
    assert_eq!(outcomes.2, 1);
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let mut names: Vec<_> = std::fs::read_dir(dir.join(tsdb::shard::WAL_DIRNAME))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.retain(|p| p.file_name().unwrap().to_str().unwrap().len() == 8);
    names.sort();
    names.pop().unwrap()
}

/// Logical end of data in a segment: position after the last non-zero byte.
fn data_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1)
}

#[test]
fn torn_tail_is_cut_and_earlier_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), batches(10));
    let _ = write(
        dir.path(),
        vec![vec![series("torn", "z", &[(1, 1.0), (2, 2.0), (3, 3.0)])]],
    );
    // Tear the last record: zero its final bytes, as a crash mid-write would.
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let end = data_end(&bytes);
    bytes[end - 6..end].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let replayed = reopen(dir.path());
    assert_eq!(
        replayed, first,
        "everything before the torn record is back, the torn record is not"
    );
    // The log keeps working after the cut.
    let after = write(dir.path(), vec![vec![series("after", "y", &[(7, 7.0)])]]);
    assert_eq!(after.len(), first.len() + 1);
    assert_eq!(reopen(dir.path()), after);
}

#[test]
fn flipped_byte_in_the_tail_is_detected_by_the_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), batches(10));
    let _ = write(dir.path(), vec![vec![series("flipped", "z", &[(1, 1.0)])]]);
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let end = data_end(&bytes);
    bytes[end - 3] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(reopen(dir.path()), first);
}

#[test]
fn fresh_shard_then_existing_shard_on_one_executor() {
    // DESIGN §9 pitfall 1: if the first DMA file an executor opens is empty, later O_DIRECT
    // reads on that thread fail. Open a brand-new shard first, then replay an existing one.
    let existing = tempfile::tempdir().unwrap();
    let written = write(existing.path(), batches(50));
    let fresh = tempfile::tempdir().unwrap();
    let (fresh_dir, existing_dir) = (fresh.path().join("shard-0"), existing.path().to_path_buf());
    let (fresh_held, replayed) = on_executor(move || async move {
        let mut a = ShardDb::open(&fresh_dir, options())
            .await
            .expect("open fresh");
        a.append_group(&[&[series("fresh", "f", &[(1, 1.0)])]])
            .await
            .expect("append fresh");
        let b = ShardDb::open(&existing_dir, options())
            .await
            .expect("open existing");
        let out = (all(&a), all(&b));
        a.close().await.expect("close fresh");
        b.close().await.expect("close existing");
        out
    });
    assert_eq!(fresh_held.len(), 1);
    assert_eq!(replayed, written);
}

#[test]
fn file_truncated_mid_record_and_flipped_byte_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), batches(10));
    let _ = write(
        dir.path(),
        vec![vec![series("cut", "z", &[(1, 1.0), (2, 2.0)])]],
    );
    let _ = write(dir.path(), vec![vec![series("lost", "z", &[(3, 3.0)])]]);
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let end = data_end(&bytes);
    // Cut the file in the middle of the last record (an unaligned length), and corrupt the
    // record before it: replay must keep exactly what precedes the corrupt record.
    bytes.truncate(end - 5);
    let second_last = find_frame_before_last(&bytes);
    bytes[second_last + 10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(reopen(dir.path()), first);
    let after = write(dir.path(), vec![vec![series("after", "y", &[(7, 7.0)])]]);
    assert_eq!(after.len(), first.len() + 1);
}

/// Offset of the frame that precedes the last frame in a segment (walks the framing).
fn find_frame_before_last(bytes: &[u8]) -> usize {
    let mut offsets = Vec::new();
    let mut pos = 0;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        offsets.push(pos);
        pos += 8 + len;
    }
    // The last two commits wrote a series+samples record each; corrupt the "cut" samples record.
    offsets[offsets.len() - 3]
}

#[test]
fn parts_of_a_shared_batch_create_each_new_series_once_and_replay() {
    let dir = tempfile::tempdir().unwrap().keep();
    let reopen_dir = dir.clone();
    let (outcomes, series_count, held) = on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options()).await.expect("open");
        db.append_group(&[&[series("m", "old", &[(1, 1.0)])]]).await.expect("append");
        let batch = tsdb::SeriesBatch::from_series(&[
            series("m", "new", &[(5, 5.0)]),
            series("m", "old", &[(6, 6.0)]),
            series("m", "new", &[(7, 7.0)]),
            series("m", "other", &[(8, 8.0)]),
        ]);
        // Two requests of one group commit, both holding the new series.
        let first: &[u32] = &[0, 1];
        let second: &[u32] = &[2, 3];
        let parts = [tsdb::BatchPart { batch: &batch, indices: Some(first) }, tsdb::BatchPart { batch: &batch, indices: Some(second) }];
        let outcomes = db.append_batches(&parts).await.expect("append");
        let stats = db.stats();
        let held = all(&db);
        db.close().await.expect("close");
        (outcomes, stats.series, held)
    });
    assert_eq!(outcomes.iter().map(|o| o.samples_appended).collect::<Vec<_>>(), vec![2, 2]);
    assert_eq!(series_count, 3, "the new series repeated in both parts is created once");
    let samples_of = |job: &str| held.iter().find(|s| s.labels.get("job") == Some(job)).map(|s| s.samples.len());
    assert_eq!((samples_of("old"), samples_of("new"), samples_of("other")), (Some(2), Some(2), Some(1)));
    assert_eq!(reopen(&reopen_dir), held, "WAL replay restores the same series and samples");
}

/// `max_series`: samples of new series past the limit are refused and counted, in the
/// same group commit as accepted ones; existing series go on; nothing refused is in the WAL.
#[test]
fn new_series_past_the_limit_are_refused_and_existing_ones_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let (outcomes, later, stats) = on_executor(move || async move {
        let mut db = ShardDb::open(&path, ShardOptions { max_series: 3, ..options() }).await.expect("open");
        let first = vec![
            series("m", "a", &[(1_000, 1.0), (2_000, 2.0)]),
            series("m", "b", &[(1_000, 1.0)]),
            series("m", "a", &[(3_000, 3.0)]),
        ];
        let second = vec![
            series("m", "c", &[(1_000, 1.0)]),
            series("m", "d", &[(1_000, 1.0), (2_000, 2.0)]),
            series("m", "b", &[(2_000, 2.0)]),
            series("m", "e", &[(1_000, 1.0)]),
        ];
        let outcomes = db.append_group(&[first.as_slice(), second.as_slice()]).await.expect("append");
        let later = db.append_group(&[&[series("m", "d", &[(5_000, 5.0)]), series("m", "a", &[(5_000, 5.0)])]]).await.expect("append");
        let stats = db.stats();
        db.close().await.expect("close");
        (outcomes, later, stats)
    });
    assert_eq!(outcomes[0].samples_appended, 4);
    assert_eq!(outcomes[0].samples_refused_series_limit, 0);
    assert_eq!(outcomes[1].samples_appended, 2, "c's sample and b's second");
    assert_eq!(outcomes[1].samples_refused_series_limit, 3, "d's two samples and e's one");
    assert_eq!((later[0].samples_appended, later[0].samples_refused_series_limit), (1, 1));
    assert_eq!((stats.series, stats.samples_refused_series_limit_total), (3, 4));
    let back = reopen(dir.path());
    let jobs: Vec<(String, usize)> = back.iter().map(|s| (s.labels.get("job").unwrap_or_default().to_string(), s.samples.len())).collect();
    assert_eq!(jobs, vec![("a".to_string(), 4), ("b".to_string(), 2), ("c".to_string(), 1)]);
}

#[test]
fn segments_take_disk_as_they_fill_not_their_whole_size_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    // 4 KiB of label text per series: 1,000 series are about 4 MiB of WAL.
    let wide = |i: usize| series("wide", &format!("{i:04}{}", "x".repeat(4096)), &[(1000, i as f64)]);
    // Uncompressed: the repeated label text would shrink to nothing.
    let big_options = || ShardOptions { wal_segment_bytes: 128 << 20, wal_compression: false, ..options() };
    let sizes = on_executor(move || async move {
        let mut db = ShardDb::open(&path, big_options()).await.expect("open");
        db.append_group(&[&[series("up", "a", &[(1000, 1.0)])][..]]).await.expect("append");
        let small = std::fs::metadata(last_segment(&path)).expect("segment").len();
        for chunk in (0..1000).collect::<Vec<_>>().chunks(50) {
            let batch: Vec<_> = chunk.iter().map(|&i| wide(i)).collect();
            db.append_group(&[batch.as_slice()]).await.expect("append");
        }
        let grown = std::fs::metadata(last_segment(&path)).expect("segment").len();
        db.close().await.expect("close");
        (small, grown)
    });
    let (small, grown) = sizes;
    assert!(small <= 2 << 20, "one small commit allocated {small} bytes of a 128 MiB segment");
    let data = std::fs::read(last_segment(dir.path())).expect("read");
    let end = data_end(&data) as u64;
    assert!(end > 3 << 20, "the wide series were written ({end} bytes)");
    assert!(grown >= end && grown <= end + (16 << 20), "segment of {grown} bytes for {end} bytes of records");
    let path = dir.path().to_path_buf();
    let held = on_executor(move || async move {
        let db = ShardDb::open(&path, big_options()).await.expect("reopen");
        let held = all(&db);
        db.close().await.expect("close");
        held
    });
    assert_eq!(held.len(), 1001, "every series replayed");
}

#[test]
fn a_log_written_with_and_without_compression_replays_whole() {
    let dir = tempfile::tempdir().unwrap();
    let with = |compress: bool| ShardOptions { wal_compression: compress, ..options() };
    let mut expected = Vec::new();
    // Plain records, then compressed ones appended to the same segments, then plain again.
    for (round, compress) in [false, true, false].into_iter().enumerate() {
        let path = dir.path().to_path_buf();
        let batch: Vec<_> = (0..200).map(|i| series("mixed", &format!("job-{round}-{i}"), &[(1000 + round as i64, i as f64)])).collect();
        expected.extend(batch.iter().cloned());
        on_executor(move || async move {
            let mut db = ShardDb::open(&path, with(compress)).await.expect("open");
            db.append_group(&[batch.as_slice()]).await.expect("append");
            db.close().await.expect("close");
        });
    }
    expected.sort_by(|a, b| a.labels.cmp(&b.labels));
    let path = dir.path().to_path_buf();
    let held = on_executor(move || async move {
        let db = ShardDb::open(&path, with(true)).await.expect("reopen");
        let held = all(&db);
        db.close().await.expect("close");
        held
    });
    assert_eq!(held, expected);
}

/// Replay counts a sample as late (behind the newest block, so it waits for the next regular
/// cut) only when it applies it: a WAL sample whose series record is gone is skipped and not
/// counted, as the live path counts only the samples it writes for known series.
#[test]
fn replay_counts_late_only_the_samples_of_known_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let hour = common::HOUR_MS;
        let options = ShardOptions { fsync_on_commit: true, ..common::block_test_options() };
        let mut db = ShardDb::open(&path, options.clone()).await.expect("open");
        let minutes: Vec<(i64, f64)> = (0..20 * 60).map(|m| (m * 60_000, m as f64)).collect();
        db.append_group(&[&[series("history", "a", &minutes)]]).await.expect("append");
        db.maintain(0).await.expect("cut");
        assert!(!db.blocks().is_empty(), "ranges cut into blocks");
        // A late sample of a known series, written as usual: counted.
        db.append_group(&[&[series("history", "a", &[(hour + 1, 1.0)])]]).await.expect("late append");
        assert_eq!(db.stats().head_late_samples, 1);
        db.close().await.expect("close");

        // A late sample for a series ref that no record names.
        let wal_dir = path.join(tsdb::shard::WAL_DIRNAME);
        let wal_options = tsdb::wal::WalOptions { segment_bytes: options.wal_segment_bytes, fsync_on_commit: true, compress: false, segment_index_first: 1_000, replay_progress: None };
        let mut wal = tsdb::wal::Wal::open(&wal_dir, wal_options, |_| {}).await.expect("open the WAL");
        let orphan = tsdb::wal::record::Record::Samples(vec![(4_242_424, Sample { timestamp_ms: hour + 2, value: 2.0 })]);
        wal.append(&[orphan]).await.expect("append the orphan");
        wal.close().await.expect("close the WAL");

        let db = ShardDb::open(&path, options).await.expect("reopen");
        assert_eq!(db.stats().head_late_samples, 1, "the known series' late sample, not the orphan");
        let held = all(&db);
        assert_eq!(held.len(), 1);
        assert!(held[0].samples.iter().any(|s| s.timestamp_ms == hour + 1) && !held[0].samples.iter().any(|s| s.timestamp_ms == hour + 2));
    });
}
