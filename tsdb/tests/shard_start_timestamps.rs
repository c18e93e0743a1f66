//! Start timestamps through a real shard: each becomes a zero sample before its sample only
//! when it is newer than everything the series holds (the samples of the same call
//! included), as Prometheus' `created-timestamp-zero-ingestion` appends them; the zeros go
//! through the WAL and come back at open.

use std::sync::Arc;

mod common;

use common::{block_test_options, on_executor};
use tsdb::{BatchPart, CounterResetHint, FloatHistogram, HistogramSample, Labels, MatchOp, Matcher, Sample, SeriesBatch, SeriesSamples, ShardDb, ShardOptions, StartTimestamp};

fn series(name: &str, samples: &[i64]) -> SeriesSamples {
    SeriesSamples { labels: Labels::from_pairs([("__name__", name)]), samples: samples.iter().map(|&t| Sample { timestamp_ms: t, value: t as f64 }).collect(), histograms: Vec::new(), starts: None }
}

fn start(start_ms: i64, sample_ms: i64) -> StartTimestamp {
    StartTimestamp { start_ms, sample_ms }
}

fn batch(series: SeriesSamples, starts: Vec<StartTimestamp>) -> SeriesBatch {
    SeriesBatch::try_from_series_starts_and_exemplars(&[series], &[starts], &[]).expect("batch")
}

/// `(timestamp, value)` of every float sample of series `name`.
fn floats(db: &ShardDb, name: &str) -> Vec<(i64, f64)> {
    let matchers = [Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher")];
    db.select(&matchers, i64::MIN, i64::MAX).iter().flat_map(|s| s.samples.iter().map(|p| (p.timestamp_ms, p.value))).collect()
}

/// The shard options these tests run under: start times written as zeros.
fn zero_options() -> ShardOptions {
    ShardOptions { start_timestamp_zero_ingestion: true, ..block_test_options() }
}

#[test]
fn a_start_is_a_zero_only_when_newer_than_the_series_and_older_than_its_sample() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let options = zero_options();
    let (held, appended) = on_executor({
        let (path, options) = (path.clone(), options.clone());
        move || async move {
            let mut db = ShardDb::open(&path, options).await.expect("open");
            let mut appended = Vec::new();
            // New series: the zero at 50 goes first.
            appended.push(db.append_batches(&[BatchPart::whole(&batch(series("c", &[100]), vec![start(50, 100)]))]).await.expect("append")[0].samples_appended);
            // The same start again (a long-lived counter): older than the series' newest.
            appended.push(db.append_batches(&[BatchPart::whole(&batch(series("c", &[200]), vec![start(50, 200)]))]).await.expect("append")[0].samples_appended);
            // A reset: the new start lies after the newest sample.
            appended.push(db.append_batches(&[BatchPart::whole(&batch(series("c", &[300]), vec![start(250, 300)]))]).await.expect("append")[0].samples_appended);
            // A start at or after its sample is no start.
            appended.push(db.append_batches(&[BatchPart::whole(&batch(series("c", &[400]), vec![start(400, 400)]))]).await.expect("append")[0].samples_appended);
            // Two requests in one call: the second's start is older than the first's sample.
            let first = batch(series("c", &[500]), Vec::new());
            let second = batch(series("c", &[600]), vec![start(450, 600)]);
            let both = db.append_batches(&[BatchPart::whole(&first), BatchPart::whole(&second)]).await.expect("append");
            appended.extend(both.iter().map(|o| o.samples_appended));
            // Two samples, each with its start: the second start is after the first sample.
            appended.push(db.append_batches(&[BatchPart::whole(&batch(series("d", &[10, 20]), vec![start(5, 10), start(15, 20)]))]).await.expect("append")[0].samples_appended);
            // Two samples sharing one start: one zero.
            appended.push(db.append_batches(&[BatchPart::whole(&batch(series("e", &[10, 20]), vec![start(5, 10), start(5, 20)]))]).await.expect("append")[0].samples_appended);
            let held = (floats(&db, "c"), floats(&db, "d"), floats(&db, "e"));
            db.close().await.expect("close");
            (held, appended)
        }
    });
    assert_eq!(held.0, vec![(50, 0.0), (100, 100.0), (200, 200.0), (250, 0.0), (300, 300.0), (400, 400.0), (500, 500.0), (600, 600.0)]);
    assert_eq!(held.1, vec![(5, 0.0), (10, 10.0), (15, 0.0), (20, 20.0)]);
    assert_eq!(held.2, vec![(5, 0.0), (10, 10.0), (20, 20.0)]);
    assert_eq!(appended, vec![2, 1, 2, 1, 1, 1, 4, 3], "the zeros count as appended samples");
    // The zeros were written to the WAL with their samples.
    let reopened = on_executor(move || async move {
        let db = ShardDb::open(&path, options).await.expect("reopen");
        let held = (floats(&db, "c"), floats(&db, "d"), floats(&db, "e"));
        db.close().await.expect("close");
        held
    });
    assert_eq!(reopened, held);
}

#[test]
fn a_histogram_start_is_an_empty_histogram_of_its_layout_marked_as_a_reset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let held = on_executor(move || async move {
        let mut db = ShardDb::open(&path, zero_options()).await.expect("open");
        let own = FloatHistogram {
            schema: tsdb::CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            sum: 4.5,
            positive_spans: vec![tsdb::BucketSpan { offset: 0, length: 2 }],
            positive_buckets: vec![1.0, 2.0],
            custom_values: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        let series = SeriesSamples { labels: Labels::from_pairs([("__name__", "h")]), samples: Vec::new(), histograms: vec![HistogramSample { timestamp_ms: 100, histogram: Arc::new(own) }], starts: None };
        let batch = SeriesBatch::try_from_series_starts_and_exemplars(&[series], &[vec![start(40, 100)]], &[]).expect("batch");
        db.append_batches(&[BatchPart::whole(&batch)]).await.expect("append");
        let matchers = [Matcher::new(MatchOp::Equal, "__name__", "h").expect("matcher")];
        let held: Vec<HistogramSample> = db.select(&matchers, i64::MIN, i64::MAX).into_iter().flat_map(|s| s.histograms).collect();
        db.close().await.expect("close");
        held
    });
    assert_eq!(held.len(), 2);
    let zero = &held[0];
    assert_eq!(zero.timestamp_ms, 40);
    assert_eq!(zero.histogram.schema, tsdb::CUSTOM_BUCKETS_SCHEMA);
    assert_eq!(zero.histogram.custom_values, vec![1.0, 2.0]);
    assert_eq!((zero.histogram.count, zero.histogram.sum), (0.0, 0.0));
    // Written as a reset (its chunk's header says so); read back, a chunk's first histogram
    // is `Unknown`, as Prometheus' chunk iterators report it.
    assert_eq!(zero.histogram.counter_reset_hint, CounterResetHint::Unknown);
    assert_eq!(held[1].timestamp_ms, 100);
    assert_eq!(held[1].histogram.count, 3.0);
}

#[test]
fn without_zero_ingestion_a_start_writes_no_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let held = on_executor(move || async move {
        let mut db = ShardDb::open(&path, block_test_options()).await.expect("open");
        let appended = db.append_batches(&[BatchPart::whole(&batch(series("c", &[100]), vec![start(50, 100)]))]).await.expect("append")[0].samples_appended;
        let held = floats(&db, "c");
        db.close().await.expect("close");
        (appended, held)
    });
    assert_eq!(held, (1, vec![(100, 100.0)]));
}
