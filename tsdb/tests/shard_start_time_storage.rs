//! Start times stored with their samples (`ShardOptions::start_timestamp_storage`, Prometheus'
//! `st-storage`) through a real shard: answered by `select` and the encoded select, kept by
//! WAL replay, by a head cut into a block (XOR2 chunks) and by a rewrite that drops deleted
//! samples, for floats and native histograms alike; with the option off nothing changes (no starts answered, no XOR2 chunk written).

use std::sync::Arc;

mod common;

use common::{block_test_options, on_executor, HOUR_MS};
use tsdb::block::Block;
use tsdb::chunk::ChunkEncoding;
use tsdb::{BatchPart, BucketSpan, FloatHistogram, HistogramSample, Labels, MatchOp, Matcher, Sample, SeriesBatch, SeriesSamples, ShardDb, ShardOptions, StartTimestamp};

const STEP_MS: i64 = 60_000;

/// `(timestamp, value, start)` of one float sample (start 0: none).
type Stored = (i64, u64, i64);

fn storage_options() -> ShardOptions {
    ShardOptions { start_timestamp_storage: true, ..block_test_options() }
}

/// The start series `name` gives the sample at `t`: every fifth sample has none, the others
/// start at their hour's start (plus one, so that the first hour's is not 0).
fn start_of(t: i64) -> i64 {
    if (t / STEP_MS) % 5 == 0 {
        0
    } else {
        t - t.rem_euclid(HOUR_MS) + 1
    }
}

/// One batch of series `name`'s floats at `times`, each with `start_of` as its start.
fn batch(name: &str, times: &[i64]) -> SeriesBatch {
    let series = SeriesSamples {
        labels: Labels::from_pairs([("__name__", name)]),
        samples: times.iter().map(|&t| Sample { timestamp_ms: t, value: (t / STEP_MS) as f64 }).collect(),
        histograms: Vec::new(),
        starts: None,
    };
    let starts: Vec<StartTimestamp> = times.iter().map(|&t| StartTimestamp { start_ms: start_of(t), sample_ms: t }).collect();
    SeriesBatch::try_from_series_starts_and_exemplars(&[series], &[starts], &[]).expect("batch")
}

fn expected(times: impl Iterator<Item = i64>, with_starts: bool) -> Vec<Stored> {
    times.map(|t| (t, ((t / STEP_MS) as f64).to_bits(), if with_starts { start_of(t) } else { 0 })).collect()
}

fn matcher(name: &str) -> Vec<Matcher> {
    vec![Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher")]
}

fn flatten(s: &SeriesSamples) -> (Vec<Stored>, bool) {
    let starts = s.starts.as_ref().map(|st| st.floats.clone());
    if let Some(st) = &s.starts {
        assert_eq!(st.floats.len(), s.samples.len(), "starts are parallel to the samples");
        assert!(st.floats.iter().any(|&x| x != 0), "starts are answered only when some is set");
    }
    let stored = s.samples.iter().enumerate().map(|(i, p)| (p.timestamp_ms, p.value.to_bits(), starts.as_ref().map_or(0, |st| st[i]))).collect();
    (stored, s.starts.is_some())
}

/// What `select` and the encoded select answer for series `name` (they must agree), and
/// whether starts were answered.
async fn read(db: &ShardDb, name: &str) -> (Vec<Stored>, bool) {
    let selected = db.select(&matcher(name), i64::MIN, i64::MAX);
    let (stored, answered) = selected.first().map(flatten).unwrap_or_default();
    let mut budget = usize::MAX;
    let encoded = db.select_yielding(&matcher(name), i64::MIN, i64::MAX, false, &mut budget, &mut |_| {}).await.expect("within budget");
    let decoded = encoded.first().and_then(|s| s.decode(i64::MIN, i64::MAX));
    assert_eq!(decoded.as_ref().map(flatten).unwrap_or_default(), (stored.clone(), answered), "select and the encoded select agree");
    // A range inside: chunks partly in it are decoded, with their starts.
    let (lo, hi) = (37 * STEP_MS, 4 * HOUR_MS + 13 * STEP_MS);
    let inside = db.select(&matcher(name), lo, hi);
    let encoded = db.select_yielding(&matcher(name), lo, hi, false, &mut budget, &mut |_| {}).await.expect("within budget");
    let decoded = encoded.first().and_then(|s| s.decode(lo, hi));
    assert_eq!(inside.first().map(flatten), decoded.as_ref().map(flatten), "a partial range agrees too");
    let want: Vec<Stored> = stored.iter().copied().filter(|(t, _, _)| *t >= lo && *t <= hi).collect();
    assert_eq!(inside.first().map(flatten).map(|x| x.0).unwrap_or_default(), want);
    (stored, answered)
}

/// The encodings of every chunk the shard's blocks hold for series `name`.
fn block_encodings(dir: &std::path::Path, db: &ShardDb, name: &str) -> Vec<ChunkEncoding> {
    let mut out = Vec::new();
    for meta in db.blocks() {
        let block = Block::open(&dir.join(&meta.ulid)).expect("open block");
        let encoded = futures_lite::future::block_on(block.select_yielding(&matcher(name), i64::MIN, i64::MAX, usize::MAX, &mut || {})).expect("select").expect("within the limit");
        out.extend(encoded.iter().flat_map(|s| s.parts.iter().flat_map(|p| p.chunks.iter().map(|c| c.encoding))));
    }
    out
}

/// Appends series `name` every minute over `[0, hours)` in half-hour batches, cutting blocks
/// as they fall due.
async fn append_hours(db: &mut ShardDb, name: &str, hours: i64) {
    let times: Vec<i64> = (0..hours * 60).map(|i| i * STEP_MS).collect();
    for part in times.chunks(30) {
        db.append_batches(&[BatchPart::whole(&batch(name, part))]).await.expect("append");
        if db.cut_due() {
            db.maintain(0).await.expect("maintain");
        }
    }
}

#[test]
fn starts_come_back_from_the_head_the_wal_blocks_and_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let all_times = || (0..7 * 60).map(|i| i * STEP_MS);
    let want = expected(all_times(), true);
    // The head alone, then the same after a reopen (WAL replay).
    let (in_head, replayed) = on_executor({
        let path = path.clone();
        move || async move {
            let mut db = ShardDb::open(&path, storage_options()).await.expect("open");
            db.append_batches(&[BatchPart::whole(&batch("early", &[STEP_MS, 2 * STEP_MS, 5 * STEP_MS, 6 * STEP_MS]))]).await.expect("append");
            let in_head = read(&db, "early").await;
            drop(db);
            let db = ShardDb::open(&path, storage_options()).await.expect("reopen");
            let replayed = read(&db, "early").await;
            db.close().await.expect("close");
            (in_head, replayed)
        }
    });
    let early = expected([STEP_MS, 2 * STEP_MS, 5 * STEP_MS, 6 * STEP_MS].into_iter(), true);
    assert_eq!(in_head, (early.clone(), true), "the head answers each sample's start, 0 for one without");
    assert_eq!(replayed, (early, true), "WAL replay restores the starts");

    let (cut, encodings, reopened, rewritten, rewritten_encodings) = on_executor({
        let path = path.clone();
        move || async move {
            let mut db = ShardDb::open(&path, storage_options()).await.expect("open");
            append_hours(&mut db, "c", 7).await;
            assert!(db.blocks().len() >= 2, "blocks were cut: {:?}", db.blocks().len());
            let cut = read(&db, "c").await;
            let encodings = block_encodings(&path, &db, "c");
            drop(db);
            // Reopen: blocks, the checkpoint and the WAL segments after it.
            let mut db = ShardDb::open(&path, storage_options()).await.expect("reopen");
            let reopened = read(&db, "c").await;
            // Delete inside the first block and rewrite it without the deleted samples.
            db.delete(&[matcher("c")], 20 * STEP_MS, 30 * STEP_MS).await.expect("delete");
            let cleaned = db.clean_tombstones().expect("clean tombstones");
            assert!(!cleaned.is_empty(), "a block was rewritten");
            let rewritten = read(&db, "c").await;
            let rewritten_encodings = block_encodings(&path, &db, "c");
            db.close().await.expect("close");
            (cut, encodings, reopened, rewritten, rewritten_encodings)
        }
    });
    assert_eq!(cut, (want.clone(), true), "blocks and head answer every start");
    // The first sample has no start: it stays in an XOR chunk, cut when the second came with one.
    assert_eq!(encodings.first(), Some(&ChunkEncoding::Xor), "{encodings:?}");
    assert!(encodings.len() > 2 && encodings[1..].iter().all(|e| *e == ChunkEncoding::Xor2), "cut blocks hold XOR2 chunks: {encodings:?}");
    assert_eq!(reopened, (want.clone(), true));
    let kept: Vec<Stored> = want.iter().copied().filter(|(t, _, _)| *t < 20 * STEP_MS || *t > 30 * STEP_MS).collect();
    assert_eq!(rewritten, (kept, true), "the rewritten block keeps the starts");
    assert!(rewritten_encodings.iter().all(|e| *e == ChunkEncoding::Xor2), "rewritten as XOR2: {rewritten_encodings:?}");
}

#[test]
fn a_series_switches_to_start_times_at_its_first_start_and_out_of_order_samples_lose_theirs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let got = on_executor(move || async move {
        let mut db = ShardDb::open(&path, storage_options()).await.expect("open");
        // Samples without starts first (minute 0 and 5 have none), then with.
        let plain: Vec<i64> = vec![0, 5 * STEP_MS];
        db.append_batches(&[BatchPart::whole(&batch("s", &plain))]).await.expect("append");
        let none_yet = read(&db, "s").await;
        db.append_batches(&[BatchPart::whole(&batch("s", &[6 * STEP_MS, 7 * STEP_MS, 10 * STEP_MS]))]).await.expect("append");
        // Out of order, with a start: stored without it.
        db.append_batches(&[BatchPart::whole(&batch("s", &[3 * STEP_MS]))]).await.expect("append");
        let mixed = read(&db, "s").await;
        db.close().await.expect("close");
        (none_yet, mixed)
    });
    assert_eq!(got.0, (expected([0, 5 * STEP_MS].into_iter(), true), false), "no start yet: None");
    let mut want = expected([0, 5 * STEP_MS, 6 * STEP_MS, 7 * STEP_MS, 10 * STEP_MS].into_iter(), true);
    want.insert(1, (3 * STEP_MS, 3f64.to_bits(), 0));
    assert_eq!(got.1, (want, true));
}

#[test]
fn with_the_option_off_no_start_is_stored_and_zeros_are_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let (plain, encodings, head_encodings, zeros) = on_executor(move || async move {
        let mut db = ShardDb::open(&path, block_test_options()).await.expect("open");
        append_hours(&mut db, "c", 5).await;
        let plain = read(&db, "c").await;
        let encodings = block_encodings(&path, &db, "c");
        let mut budget = usize::MAX;
        let encoded = db.select_yielding(&matcher("c"), i64::MIN, i64::MAX, false, &mut budget, &mut |_| {}).await.expect("within budget");
        let head_encodings: Vec<ChunkEncoding> = encoded.iter().flat_map(|s| s.parts.iter().flat_map(|p| p.chunks.iter().map(|c| c.encoding))).collect();
        db.close().await.expect("close");
        // Zero ingestion alone, and with storage: the same zeros.
        let mut zeros = Vec::new();
        for storage in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let options = ShardOptions { start_timestamp_zero_ingestion: true, start_timestamp_storage: storage, ..block_test_options() };
            let mut db = ShardDb::open(dir.path(), options).await.expect("open");
            db.append_batches(&[BatchPart::whole(&batch("z", &[2 * STEP_MS, 3 * STEP_MS]))]).await.expect("append");
            let held: Vec<(i64, f64)> = db.select(&matcher("z"), i64::MIN, i64::MAX).iter().flat_map(|s| s.samples.iter().map(|p| (p.timestamp_ms, p.value))).collect();
            zeros.push(held);
            db.close().await.expect("close");
        }
        (plain, encodings, head_encodings, zeros)
    });
    assert_eq!(plain, (expected((0..5 * 60).map(|i| i * STEP_MS), false), false), "no starts answered");
    assert!(!encodings.is_empty() && encodings.iter().all(|e| *e == ChunkEncoding::Xor), "blocks hold XOR chunks only: {encodings:?}");
    assert!(head_encodings.iter().all(|e| *e == ChunkEncoding::Xor), "the head holds XOR chunks only: {head_encodings:?}");
    assert_eq!(zeros[0], vec![(1, 0.0), (2 * STEP_MS, 2.0), (3 * STEP_MS, 3.0)], "the start at 1 gives a zero");
    assert_eq!(zeros[1], zeros[0], "storing starts changes no zero");
}

/// `(timestamp, count, start)` of one native histogram (start 0: none).
type StoredHistogram = (i64, u64, i64);

fn histogram_at(t: i64) -> HistogramSample {
    let level = (t / STEP_MS) as f64 + 1.0;
    let histogram = FloatHistogram { count: level, sum: level, positive_spans: vec![BucketSpan { offset: 0, length: 1 }], positive_buckets: vec![level], ..FloatHistogram::default() };
    HistogramSample { timestamp_ms: t, histogram: Arc::new(histogram) }
}

/// One batch of series `name`'s native histograms at `times`, each with `start_of`.
fn histogram_batch(name: &str, times: &[i64]) -> SeriesBatch {
    let series = SeriesSamples {
        labels: Labels::from_pairs([("__name__", name)]),
        samples: Vec::new(),
        histograms: times.iter().map(|&t| histogram_at(t)).collect(),
        starts: None,
    };
    let starts: Vec<StartTimestamp> = times.iter().map(|&t| StartTimestamp { start_ms: start_of(t), sample_ms: t }).collect();
    SeriesBatch::try_from_series_starts_and_exemplars(&[series], &[starts], &[]).expect("batch")
}

fn flatten_histograms(s: &SeriesSamples) -> (Vec<StoredHistogram>, bool) {
    if let Some(st) = &s.starts {
        assert_eq!(st.histograms.len(), s.histograms.len(), "starts are parallel to the histograms");
    }
    let start = |i: usize| s.starts.as_ref().map_or(0, |st| st.histograms[i]);
    (s.histograms.iter().enumerate().map(|(i, h)| (h.timestamp_ms, h.histogram.count.to_bits(), start(i))).collect(), s.starts.is_some())
}

async fn read_histograms(db: &ShardDb, name: &str) -> (Vec<StoredHistogram>, bool) {
    let selected = db.select(&matcher(name), i64::MIN, i64::MAX);
    let answer = selected.first().map(flatten_histograms).unwrap_or_default();
    let mut budget = usize::MAX;
    for (lo, hi) in [(i64::MIN, i64::MAX), (37 * STEP_MS, 4 * HOUR_MS + 13 * STEP_MS)] {
        let inside = db.select(&matcher(name), lo, hi);
        let encoded = db.select_yielding(&matcher(name), lo, hi, false, &mut budget, &mut |_| {}).await.expect("within budget");
        let decoded = encoded.first().and_then(|s| s.decode(lo, hi));
        assert_eq!(inside.first().map(flatten_histograms), decoded.as_ref().map(flatten_histograms), "select and the encoded select agree over {lo}..{hi}");
    }
    answer
}

fn expected_histograms(times: impl Iterator<Item = i64>) -> Vec<StoredHistogram> {
    times.map(|t| (t, histogram_at(t).histogram.count.to_bits(), start_of(t))).collect()
}

#[test]
fn native_histograms_keep_their_starts_through_the_wal_blocks_and_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let (in_head, replayed, cut, encodings, reopened, rewritten, rewritten_encodings) = on_executor(move || async move {
        let mut db = ShardDb::open(&path, storage_options()).await.expect("open");
        db.append_batches(&[BatchPart::whole(&histogram_batch("early", &[STEP_MS, 2 * STEP_MS, 5 * STEP_MS, 6 * STEP_MS]))]).await.expect("append");
        let in_head = read_histograms(&db, "early").await;
        drop(db);
        let mut db = ShardDb::open(&path, storage_options()).await.expect("reopen");
        let replayed = read_histograms(&db, "early").await;
        let times: Vec<i64> = (0..7 * 60).map(|i| i * STEP_MS).collect();
        for part in times.chunks(30) {
            db.append_batches(&[BatchPart::whole(&histogram_batch("h", part))]).await.expect("append");
            if db.cut_due() {
                db.maintain(0).await.expect("maintain");
            }
        }
        assert!(db.blocks().len() >= 2, "blocks were cut");
        let cut = read_histograms(&db, "h").await;
        let encodings = block_encodings(&path, &db, "h");
        drop(db);
        let mut db = ShardDb::open(&path, storage_options()).await.expect("reopen");
        let reopened = read_histograms(&db, "h").await;
        db.delete(&[matcher("h")], 20 * STEP_MS, 30 * STEP_MS).await.expect("delete");
        assert!(!db.clean_tombstones().expect("clean tombstones").is_empty(), "a block was rewritten");
        let rewritten = read_histograms(&db, "h").await;
        let rewritten_encodings = block_encodings(&path, &db, "h");
        db.close().await.expect("close");
        (in_head, replayed, cut, encodings, reopened, rewritten, rewritten_encodings)
    });
    let early = expected_histograms([STEP_MS, 2 * STEP_MS, 5 * STEP_MS, 6 * STEP_MS].into_iter());
    assert_eq!(in_head, (early.clone(), true));
    assert_eq!(replayed, (early, true), "WAL replay restores the starts");
    let want = expected_histograms((0..7 * 60).map(|i| i * STEP_MS));
    assert_eq!(cut, (want.clone(), true));
    assert_eq!(reopened, (want.clone(), true));
    // The first histogram has no start: its chunk is a plain one, cut when the second came with one.
    assert_eq!(encodings.first(), Some(&ChunkEncoding::FloatHistogram), "{encodings:?}");
    assert!(encodings.len() > 2 && encodings[1..].iter().all(|e| *e == ChunkEncoding::FloatHistogramSt), "cut blocks hold ST chunks: {encodings:?}");
    let kept: Vec<StoredHistogram> = want.iter().copied().filter(|(t, _, _)| *t < 20 * STEP_MS || *t > 30 * STEP_MS).collect();
    assert_eq!(rewritten, (kept, true), "the rewritten block keeps the starts");
    assert!(rewritten_encodings.iter().all(|e| *e == ChunkEncoding::FloatHistogramSt), "rewritten with starts: {rewritten_encodings:?}");
}

#[test]
fn a_compaction_that_rewrites_a_deleted_range_keeps_the_starts() {
    // Aligned to the 6 h compaction range.
    const START_MS: i64 = 1000 * 24 * HOUR_MS;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let times: Vec<i64> = (0..10 * 60).map(|i| START_MS + i * STEP_MS).collect();
    let deleted = (START_MS + 20 * STEP_MS, START_MS + 30 * STEP_MS);
    let (floats, histograms, encodings) = on_executor({
        let times = times.clone();
        move || async move {
            let mut db = ShardDb::open(&path, storage_options()).await.expect("open");
            for part in times.chunks(30) {
                db.append_batches(&[BatchPart::whole(&batch("c", part)), BatchPart::whole(&histogram_batch("h", part))]).await.expect("append");
                if db.cut_due() {
                    db.maintain(0).await.expect("maintain");
                }
            }
            let blocks_before = db.blocks().len();
            db.delete(&[matcher("c")], deleted.0, deleted.1).await.expect("delete");
            db.delete(&[matcher("h")], deleted.0, deleted.1).await.expect("delete");
            let outcome = db.compact_once().expect("compact");
            assert!(outcome.is_some() && db.blocks().len() < blocks_before, "blocks were merged: {outcome:?}");
            let result = (read(&db, "c").await, read_histograms(&db, "h").await, block_encodings(&path, &db, "c"));
            db.close().await.expect("close");
            result
        }
    });
    let kept = || times.iter().copied().filter(|t| *t < deleted.0 || *t > deleted.1);
    assert_eq!(floats, (expected(kept(), true), true));
    assert_eq!(histograms, (kept().map(|t| (t, histogram_at(t).histogram.count.to_bits(), start_of(t))).collect(), true));
    assert!(encodings.contains(&ChunkEncoding::Xor2) && !encodings.contains(&ChunkEncoding::Xor), "merged with starts: {encodings:?}");
}

#[test]
fn a_backlog_of_due_ranges_is_cut_with_its_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let times: Vec<i64> = (0..7 * 60).map(|i| i * STEP_MS).collect();
    let (blocks, floats, histograms) = on_executor({
        let times = times.clone();
        move || async move {
            let mut db = ShardDb::open(&path, storage_options()).await.expect("open");
            // Everything first, one cut after: several ranges are due at once.
            for part in times.chunks(30) {
                db.append_batches(&[BatchPart::whole(&batch("c", part)), BatchPart::whole(&histogram_batch("h", part))]).await.expect("append");
            }
            db.maintain(0).await.expect("maintain");
            let result = (db.blocks().len(), read(&db, "c").await, read_histograms(&db, "h").await);
            db.close().await.expect("close");
            result
        }
    });
    assert!(blocks >= 2, "several blocks cut: {blocks}");
    assert_eq!(floats, (expected(times.iter().copied(), true), true));
    assert_eq!(histograms, (expected_histograms(times.iter().copied()), true));
}
