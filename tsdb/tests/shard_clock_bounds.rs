//! `ShardOptions::bound_by_clock`: samples older than the retention or more than two days
//! ahead of the wall clock are refused before the WAL and counted, and a sample ahead of
//! the clock does not make the head's live range due for a cut. Off, both are as before.

use std::sync::Arc;

mod common;

use common::{block_test_options, on_executor, HOUR_MS};
use tsdb::shard::FUTURE_SAMPLES_MAX_MS;
use tsdb::{FloatHistogram, HistogramSample, Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};

const DAY_MS: i64 = 24 * HOUR_MS;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as i64
}

fn options(bound_by_clock: bool) -> ShardOptions {
    ShardOptions { retention_ms: DAY_MS, bound_by_clock, ..block_test_options() }
}

fn floats(name: &str, times: &[i64]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name)]),
        samples: times.iter().map(|&t| Sample { timestamp_ms: t, value: 1.0 }).collect(),
        histograms: Vec::new(),
        starts: None,
    }
}

fn histograms(name: &str, times: &[i64]) -> SeriesSamples {
    let histogram = Arc::new(FloatHistogram { count: 1.0, zero_count: 1.0, ..FloatHistogram::default() });
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name)]),
        samples: Vec::new(),
        histograms: times.iter().map(|&t| HistogramSample { timestamp_ms: t, histogram: histogram.clone() }).collect(),
        starts: None,
    }
}

/// Each series' name with its float and histogram timestamps.
fn held(db: &ShardDb) -> Vec<(String, Vec<i64>, Vec<i64>)> {
    let every = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
    let mut out: Vec<_> = db
        .select(&[every], i64::MIN, i64::MAX)
        .into_iter()
        .map(|s| (s.labels.get("__name__").unwrap_or_default().to_string(), s.samples.iter().map(|x| x.timestamp_ms).collect(), s.histograms.iter().map(|h| h.timestamp_ms).collect()))
        .collect();
    out.sort();
    out
}

#[test]
fn samples_outside_the_retention_and_the_future_bound_are_refused_before_the_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let now = now_ms();
    let (old, recent, ahead, too_far) = (now - 2 * DAY_MS, now - HOUR_MS, now + DAY_MS, now + FUTURE_SAMPLES_MAX_MS + HOUR_MS);
    let (outcomes, stats, before) = on_executor(move || async move {
        let mut db = ShardDb::open(&path, options(true)).await.expect("open");
        let first = vec![
            floats("mixed", &[old, recent, ahead, too_far]),
            floats("old_only", &[now - 10 * DAY_MS]),
            floats("future_only", &[now + 10 * DAY_MS]),
            histograms("histograms", &[old, recent, too_far]),
        ];
        let second = vec![floats("inside", &[recent, ahead])];
        let outcomes = db.append_group(&[first.as_slice(), second.as_slice()]).await.expect("append");
        let (stats, before) = (db.stats(), held(&db));
        db.close().await.expect("close");
        (outcomes, stats, before)
    });
    assert_eq!((outcomes[0].samples_appended, outcomes[0].samples_refused_too_old, outcomes[0].samples_refused_too_new), (3, 3, 3), "{:?}", outcomes[0]);
    assert_eq!((outcomes[1].samples_appended, outcomes[1].samples_refused_too_old, outcomes[1].samples_refused_too_new), (2, 0, 0), "{:?}", outcomes[1]);
    assert_eq!((stats.samples_refused_too_old_total, stats.samples_refused_too_new_total), (3, 3));
    // A series all of whose samples were refused is not created.
    assert_eq!(stats.series, 3);
    let expected = vec![
        ("histograms".to_string(), vec![], vec![recent]),
        ("inside".to_string(), vec![recent, ahead], vec![]),
        ("mixed".to_string(), vec![recent, ahead], vec![]),
    ];
    assert_eq!(before, expected);
    // The WAL holds what the head holds, nothing refused.
    let path = dir.path().to_path_buf();
    let after = on_executor(move || async move {
        let db = ShardDb::open(&path, options(true)).await.expect("reopen");
        let after = held(&db);
        db.close().await.expect("close");
        after
    });
    assert_eq!(after, expected);

    // Off, every sample is stored.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let outcome = on_executor(move || async move {
        let mut db = ShardDb::open(&path, options(false)).await.expect("open");
        let outcomes = db.append_group(&[&[floats("mixed", &[old, recent, ahead, too_far])]]).await.expect("append");
        db.close().await.expect("close");
        outcomes[0]
    });
    assert_eq!((outcome.samples_appended, outcome.samples_refused_too_old, outcome.samples_refused_too_new), (4, 0, 0));
}

#[test]
fn a_sample_ahead_of_the_clock_does_not_make_the_live_range_due() {
    for bound_by_clock in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().to_path_buf();
        let (due, cut) = on_executor(move || async move {
            let mut db = ShardDb::open(&path, options(bound_by_clock)).await.expect("open");
            let now = now_ms();
            let live = floats("live", &[now - 60_000, now - 30_000]);
            let ahead = floats("ahead", &[now + DAY_MS]);
            db.append_group(&[&[live, ahead]]).await.expect("append");
            let due = db.cut_due();
            let cut = db.maintain(now).await.expect("maintain").blocks_cut;
            db.close().await.expect("close");
            (due, cut)
        });
        if bound_by_clock {
            assert!(!due && cut.is_empty(), "nothing is due before the clock reaches the sample ahead: {cut:?}");
        } else {
            // Without the bound the sample a day ahead makes the live range due at once.
            assert!(due && !cut.is_empty(), "due {due}, cut {cut:?}");
        }
    }
}

/// A new series past the series limit counts its samples inside the bounds as refused by the
/// limit and those outside as too old or too new, each sample once.
#[test]
fn a_sample_refused_twice_over_is_counted_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let now = now_ms();
    let outcome = on_executor(move || async move {
        let mut db = ShardDb::open(&path, ShardOptions { max_series: 1, ..options(true) }).await.expect("open");
        let batch = vec![floats("first", &[now]), floats("second", &[now - 2 * DAY_MS, now - 1000, now + 3 * DAY_MS])];
        let outcomes = db.append_group(&[batch.as_slice()]).await.expect("append");
        db.close().await.expect("close");
        outcomes[0]
    });
    assert_eq!(
        (outcome.samples_appended, outcome.samples_refused_series_limit, outcome.samples_refused_too_old, outcome.samples_refused_too_new),
        (1, 1, 1, 1),
        "{outcome:?}"
    );
}
