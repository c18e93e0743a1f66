//! Exemplars through a real shard: stored with their samples' WAL commit, refused when out
//! of order, replayed at open and kept through a head cut's WAL checkpoint.

use std::path::Path;

mod common;

use common::{block_test_options, on_executor, HOUR_MS};
use tsdb::{BatchPart, Exemplar, Labels, MatchOp, Matcher, Sample, SeriesBatch, SeriesExemplars, ShardDb, ShardOptions, TextSpan};

/// One batch of series `name` (label `__name__` only) with samples and exemplars at `times`.
fn batch(names: &[&str], samples: &[i64], exemplars: &[i64]) -> SeriesBatch {
    let text: Vec<u8> = names.iter().fold(b"__name__".to_vec(), |mut t, n| {
        t.extend_from_slice(n.as_bytes());
        t
    });
    SeriesBatch::build(text, |builder| {
        let mut start = 8u32;
        for n in names {
            let value = TextSpan { start, end: start + n.len() as u32 };
            start = value.end;
            let samples: Vec<Sample> = samples.iter().map(|&t| Sample { timestamp_ms: t, value: 1.0 }).collect();
            builder.push_series(&[(TextSpan { start: 0, end: 8 }, value)], &samples);
            let exemplars: Vec<Exemplar> = exemplars.iter().map(|&t| exemplar(t)).collect();
            builder.push_exemplars(&exemplars);
        }
        Ok::<(), tsdb::Error>(())
    })
    .expect("batch")
}

fn exemplar(t: i64) -> Exemplar {
    Exemplar { labels: Labels::from_pairs([("trace_id", format!("t{t}"))]), value: t as f64, timestamp_ms: t, own_timestamp: true }
}

fn everything(db: &ShardDb) -> Vec<SeriesExemplars> {
    let any = vec![Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher")];
    let mut all = db.exemplars(&[any], i64::MIN, i64::MAX);
    all.sort_by(|a, b| a.series.cmp(&b.series));
    all
}

fn times(found: &[SeriesExemplars]) -> Vec<(String, Vec<i64>)> {
    found.iter().map(|s| (s.series.to_string(), s.exemplars.iter().map(|e| e.timestamp_ms).collect())).collect()
}

fn reopen(dir: &Path, options: ShardOptions) -> Vec<(String, Vec<i64>)> {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let db = ShardDb::open(&dir, options).await.expect("open");
        let found = times(&everything(&db));
        db.close().await.expect("close");
        found
    })
}

#[test]
fn exemplars_are_stored_refused_out_of_order_and_replayed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let options = ShardOptions { max_exemplars: 3, ..block_test_options() };
    let (outcomes, found) = on_executor({
        let options = options.clone();
        move || async move {
            let mut db = ShardDb::open(&path, options).await.expect("open");
            let first = batch(&["a"], &[1, 2], &[1, 2]);
            // 2 again is a duplicate (neither stored nor refused), 1 is out of order.
            let second = batch(&["a"], &[3], &[2, 1, 3]);
            let third = batch(&["b"], &[3], &[3]);
            let parts = [BatchPart::whole(&first), BatchPart::whole(&second), BatchPart::whole(&third)];
            let outcomes = db.append_batches(&parts).await.expect("append");
            let found = times(&everything(&db));
            assert_eq!(db.stats().exemplars_stored, 3);
            db.close().await.expect("close");
            (outcomes, found)
        }
    });
    let counts: Vec<(u64, u64)> = outcomes.iter().map(|o| (o.exemplars_appended, o.exemplars_refused)).collect();
    assert_eq!(counts, vec![(2, 0), (1, 1), (1, 0)]);
    // Capacity 3: b@3 evicted a@1.
    let expected = vec![("a{}".to_string(), vec![2, 3]), ("b{}".to_string(), vec![3])];
    assert_eq!(found, expected);
    assert_eq!(reopen(dir.path(), options.clone()), expected, "replayed from the WAL in the buffer's order");
    // A shard that stores none refuses them all, and writes none to the WAL.
    let off = ShardOptions { max_exemplars: 0, ..options };
    let path = dir.path().to_path_buf();
    let refused = on_executor(move || async move {
        let mut db = ShardDb::open(&path, off).await.expect("open");
        let more = batch(&["a"], &[10], &[10]);
        let outcome = db.append_batches(&[BatchPart::whole(&more)]).await.expect("append");
        db.close().await.expect("close");
        outcome[0].exemplars_refused
    });
    assert_eq!(refused, 1);
}

#[test]
fn exemplars_of_series_left_in_the_head_survive_a_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let options = block_test_options();
    let late = 3 * HOUR_MS;
    on_executor({
        let options = options.clone();
        move || async move {
            let mut db = ShardDb::open(&path, options).await.expect("open");
            // "kept" has samples past the cut, "gone" only before it.
            let early = batch(&["gone", "kept"], &[1000], &[1000]);
            let later = batch(&["kept"], &[late], &[late]);
            db.append_batches(&[BatchPart::whole(&early), BatchPart::whole(&later)]).await.expect("append");
            db.force_cut().await.expect("cut").expect("a block");
            assert_eq!(times(&everything(&db)).len(), 2, "the live buffer keeps every exemplar");
            db.close().await.expect("close");
        }
    });
    assert_eq!(reopen(dir.path(), options), vec![("kept{}".to_string(), vec![1000, late])]);
}

#[test]
fn a_series_with_exemplars_only_is_in_no_block_and_its_exemplars_go_with_the_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let options = block_test_options();
    let late = 3 * HOUR_MS;
    let (series, blocks) = on_executor({
        let options = options.clone();
        move || async move {
            let mut db = ShardDb::open(&path, options).await.expect("open");
            let solo = batch(&["solo"], &[], &[1000]);
            let other = batch(&["other"], &[1000, late], &[]);
            db.append_batches(&[BatchPart::whole(&solo), BatchPart::whole(&other)]).await.expect("append");
            let cut = db.force_cut().await.expect("cut").expect("a block");
            let any = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
            let series: Vec<String> = db.select(&[any], i64::MIN, i64::MAX).iter().map(|s| s.labels.to_string()).collect();
            db.close().await.expect("close");
            (series, cut.stats.num_series)
        }
    });
    assert_eq!((series, blocks), (vec!["other{}".to_string()], 1), "a series without samples is in no answer and no block");
    assert_eq!(reopen(dir.path(), options), Vec::<(String, Vec<i64>)>::new(), "its exemplars went with the cut");
}
