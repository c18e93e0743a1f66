//! Native histograms over real files, beside floats (other series, and the same series at
//! other timestamps): appended to the head (out of order, duplicates, overwrites, and the
//! float/histogram conflict refused), replayed from the WAL, cut into blocks, read back from
//! them, merged from overlapping blocks by compaction, deleted by range, counted by the
//! limits; and a block of them read by `promtool tsdb dump` (`METRICSTOR_PROMTOOL_BIN`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

mod common;

use common::{on_executor, HOUR_MS};
use tsdb::block::{new_ulid, write_cut_block, BlockSeries};
use tsdb::{AppendOutcome, BucketSpan, CompactionOutcome, CounterResetHint, FloatHistogram, HistogramSample, Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};

const STEP_MS: i64 = 60_000;
/// Data ends at 5h: a cut takes [0, 2h) and [2h, 4h).
const END_MS: i64 = 5 * HOUR_MS;

fn options() -> ShardOptions {
    common::block_test_options()
}

/// A stored value: a float (bits) or a histogram, compared with `FloatHistogram::same_as`
/// (the counter-reset hint is the chunk's business, not the value's).
#[derive(Clone, Debug)]
enum V {
    F(u64),
    H(Arc<FloatHistogram>),
}

impl PartialEq for V {
    fn eq(&self, other: &V) -> bool {
        match (self, other) {
            (V::F(a), V::F(b)) => a == b,
            (V::H(a), V::H(b)) => a.same_as(b),
            _ => false,
        }
    }
}

/// series → timestamp → value.
type Model = BTreeMap<Labels, BTreeMap<i64, V>>;

fn labels(job: &str) -> Labels {
    Labels::from_pairs([("__name__", "h"), ("job", job)])
}

/// The `k`th histogram of a counter: schema 1, buckets growing; a bucket more from k = 100
/// (a new chunk layout), a counter reset at k = 200, a staleness marker at k = 250.
fn histogram(k: i64, salt: f64) -> Arc<FloatHistogram> {
    if k == 250 {
        return Arc::new(FloatHistogram { sum: f64::from_bits(tsdb::STALE_NAN_BITS), ..FloatHistogram::default() });
    }
    let level = if k >= 200 { (k - 200) as f64 } else { k as f64 } + salt;
    let mut positive_buckets = vec![level, 2.0 * level, 0.5 * level];
    let mut positive_spans = vec![BucketSpan { offset: -1, length: 2 }, BucketSpan { offset: 1, length: 1 }];
    if k >= 100 {
        positive_buckets.push(level / 4.0);
        positive_spans[1].length = 2;
    }
    let count = positive_buckets.iter().sum::<f64>() + level + 1.0;
    Arc::new(FloatHistogram {
        counter_reset_hint: if k == 200 { CounterResetHint::CounterReset } else { CounterResetHint::Unknown },
        schema: 1,
        zero_threshold: 2f64.powi(-128),
        zero_count: level + 1.0,
        count,
        sum: level * 3.25,
        positive_spans,
        negative_spans: vec![BucketSpan { offset: 0, length: 1 }],
        positive_buckets,
        negative_buckets: vec![level],
        custom_values: Vec::new(),
    })
}

fn float(k: i64) -> f64 {
    k as f64 * 0.5
}

/// Three series a minute over [0, 5h): `hist` a histogram each minute, `mixed` a float at even
/// minutes and a histogram at odd ones, `float` a float each minute; one group commit per
/// ten minutes.
fn batches() -> Vec<Vec<SeriesSamples>> {
    let minutes: Vec<i64> = (0..END_MS / STEP_MS).collect();
    minutes
        .chunks(10)
        .map(|ks| {
            let at = |k: i64| k * STEP_MS;
            let hs = |pick: &dyn Fn(i64) -> bool| ks.iter().filter(|&&k| pick(k)).map(|&k| HistogramSample { timestamp_ms: at(k), histogram: histogram(k, 0.0) }).collect::<Vec<_>>();
            let fs = |pick: &dyn Fn(i64) -> bool| ks.iter().filter(|&&k| pick(k)).map(|&k| Sample { timestamp_ms: at(k), value: float(k) }).collect::<Vec<_>>();
            vec![
                SeriesSamples { labels: labels("hist"), samples: Vec::new(), histograms: hs(&|_| true), starts: None },
                SeriesSamples { labels: labels("mixed"), samples: fs(&|k| k % 2 == 0), histograms: hs(&|k| k % 2 == 1), starts: None },
                SeriesSamples { labels: labels("float"), samples: fs(&|_| true), histograms: Vec::new(), starts: None },
            ]
        })
        .collect()
}

fn add(model: &mut Model, batch: &[SeriesSamples]) {
    for s in batch {
        let m = model.entry(s.labels.clone()).or_default();
        m.extend(s.samples.iter().map(|x| (x.timestamp_ms, V::F(x.value.to_bits()))));
        m.extend(s.histograms.iter().map(|h| (h.timestamp_ms, V::H(Arc::clone(&h.histogram)))));
    }
}

fn into_model(series: Vec<SeriesSamples>) -> Model {
    let mut m = Model::new();
    for s in series {
        assert!(s.samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "floats time-ordered, one per timestamp");
        assert!(s.histograms.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "histograms time-ordered, one per timestamp");
        assert!(!m.contains_key(&s.labels), "series returned once");
        assert!(s.samples.iter().all(|f| s.histograms.binary_search_by_key(&f.timestamp_ms, |h| h.timestamp_ms).is_err()), "no timestamp holds both kinds");
        add(&mut m, &[s]);
    }
    m
}

fn all() -> Matcher {
    Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher")
}

/// What the shard answers in `[mint_ms, maxt_ms]`, through `select` and through the encoded
/// select decoded as the query engine decodes it; both must agree.
async fn held_in(db: &ShardDb, mint_ms: i64, maxt_ms: i64) -> Model {
    let selected = into_model(db.select(&[all()], mint_ms, maxt_ms));
    let mut budget = usize::MAX;
    let encoded = db.select_yielding(&[all()], mint_ms, maxt_ms, false, &mut budget, &mut |_| {}).await.expect("within the limit");
    let decoded = into_model(tsdb::encoded::decode_all(&encoded, mint_ms, maxt_ms));
    assert_eq!(decoded, selected, "encoded answers decode to the select's");
    for s in &encoded {
        // The last-only read ends with the same sample as the whole one.
        let last = |series: Vec<SeriesSamples>| {
            series.into_iter().find(|x| x.labels == s.labels).and_then(|x| {
                let f = x.samples.last().map(|f| (f.timestamp_ms, V::F(f.value.to_bits())));
                let h = x.histograms.last().map(|h| (h.timestamp_ms, V::H(Arc::clone(&h.histogram))));
                f.into_iter().chain(h).max_by_key(|(t, _)| *t)
            })
        };
        let mut budget = usize::MAX;
        let last_only = db.select_yielding(&[Matcher::new(MatchOp::Equal, "job", s.labels.get("job").expect("job")).expect("m")], mint_ms, maxt_ms, true, &mut budget, &mut |_| {}).await.expect("ok");
        assert_eq!(last(tsdb::encoded::decode_all(&last_only, mint_ms, maxt_ms)), last(db.select(&[all()], mint_ms, maxt_ms)), "{}", s.labels);
    }
    selected
}

async fn held(db: &ShardDb) -> Model {
    held_in(db, i64::MIN, i64::MAX).await
}

fn window(model: &Model, mint_ms: i64, maxt_ms: i64) -> Model {
    model
        .iter()
        .map(|(l, m)| (l.clone(), m.range(mint_ms..=maxt_ms).map(|(t, v)| (*t, v.clone())).collect::<BTreeMap<_, _>>()))
        .filter(|(_, m)| !m.is_empty())
        .collect()
}

fn with_db<T: Send + 'static>(dir: &Path, options: ShardOptions, f: impl AsyncFnOnce(&mut ShardDb) -> T + Send + 'static) -> T {
    let dir = dir.to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&dir, options).await.expect("open");
        let out = f(&mut db).await;
        db.close().await.expect("close");
        out
    })
}

/// One group commit of `series`; its outcome.
async fn append(db: &mut ShardDb, series: Vec<SeriesSamples>) -> AppendOutcome {
    db.append_group(&[series.as_slice()]).await.expect("append").remove(0)
}

fn one(job: &str, samples: Vec<Sample>, histograms: Vec<HistogramSample>) -> Vec<SeriesSamples> {
    vec![SeriesSamples { labels: labels(job), samples, histograms, starts: None }]
}

fn h_at(k: i64, t: i64, salt: f64) -> HistogramSample {
    HistogramSample { timestamp_ms: t, histogram: histogram(k, salt) }
}

#[test]
fn histograms_round_trip_through_head_wal_blocks_and_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = batches();
    let mut want = Model::new();
    for b in &data {
        add(&mut want, b);
    }
    let (head, outcomes, want) = with_db(dir.path(), options(), async move |db| {
        let mut appended = 0;
        for b in &data {
            appended += append(db, b.clone()).await.samples_appended;
        }
        assert_eq!(appended, 3 * (END_MS / STEP_MS) as u64, "every sample and histogram appended");
        let mut want = want;
        let at = |k: i64| k * STEP_MS;
        let mut outcomes = Vec::new();
        // The same histogram again: a duplicate, nothing changes.
        outcomes.push(append(db, one("hist", vec![], vec![h_at(10, at(10), 0.0)])).await);
        // Another histogram at a stored timestamp: the last write wins, as for floats.
        let other = h_at(11, at(11), 0.5);
        outcomes.push(append(db, one("hist", vec![], vec![other.clone()])).await);
        want.get_mut(&labels("hist")).expect("series").insert(at(11), V::H(Arc::clone(&other.histogram)));
        // A float where a histogram is, and a histogram where a float is: refused.
        outcomes.push(append(db, one("hist", vec![Sample { timestamp_ms: at(12), value: 1.0 }], vec![])).await);
        outcomes.push(append(db, one("mixed", vec![], vec![h_at(14, at(14), 0.0)])).await);
        // Out of order, between two minutes.
        let late = h_at(20, at(20) + 30_000, 0.25);
        outcomes.push(append(db, one("hist", vec![], vec![late.clone()])).await);
        want.get_mut(&labels("hist")).expect("series").insert(late.timestamp_ms, V::H(Arc::clone(&late.histogram)));
        // A float and a histogram at one new timestamp in one write: the float goes first (as
        // on replay), the histogram is refused.
        let t = END_MS + STEP_MS;
        outcomes.push(append(db, one("mixed", vec![Sample { timestamp_ms: t, value: 7.0 }], vec![h_at(1, t, 0.0)])).await);
        want.get_mut(&labels("mixed")).expect("series").insert(t, V::F(7.0f64.to_bits()));
        let head = held(db).await;
        assert_eq!(window(&head, HOUR_MS, 2 * HOUR_MS), held_in(db, HOUR_MS, 2 * HOUR_MS).await, "a range in the head");
        (head, outcomes, want)
    });
    let o = |appended, ooo, overwritten, conflict| AppendOutcome { samples_appended: appended, samples_out_of_order: ooo, duplicates_overwritten: overwritten, samples_refused_type_conflict: conflict, ..AppendOutcome::default() };
    assert_eq!(outcomes, vec![o(0, 0, 0, 0), o(1, 0, 1, 0), o(0, 0, 0, 1), o(0, 0, 0, 1), o(1, 1, 0, 0), o(1, 0, 0, 1)]);
    assert_eq!(head, want, "the head answers every histogram and float");
    let hist = &head[&labels("hist")];
    assert!(matches!(&hist[&(250 * STEP_MS)], V::H(h) if tsdb::is_stale_nan(h.sum)), "the staleness marker is kept");

    // Replay: the WAL alone restores the same.
    let (replayed, stats) = with_db(dir.path(), options(), async |db| (held(db).await, db.stats()));
    assert_eq!(replayed, want, "WAL replay restores histograms");
    assert_eq!(stats.series, 3);

    // Cut: [0, 2h) and [2h, 4h) into blocks, the rest into a WAL checkpoint.
    let (cut, blocks) = with_db(dir.path(), options(), async |db| {
        db.maintain(0).await.expect("maintain");
        (held(db).await, db.blocks())
    });
    assert_eq!(blocks.iter().map(|b| (b.min_time_ms, b.max_time_ms)).collect::<Vec<_>>(), vec![(0, 2 * HOUR_MS), (2 * HOUR_MS, 4 * HOUR_MS)]);
    let in_blocks: u64 = want.values().map(|m| m.range(..4 * HOUR_MS).count() as u64).sum();
    assert_eq!(blocks.iter().map(|b| b.stats.num_samples).sum::<u64>(), in_blocks, "blocks count histograms as samples");
    assert_eq!(cut, want, "blocks and head answer the same after the cut");
    let (reopened, in_block_only) = with_db(dir.path(), options(), async |db| (held(db).await, held_in(db, 0, 2 * HOUR_MS - 1).await));
    assert_eq!(reopened, want, "blocks + checkpoint after a reopen");
    assert_eq!(in_block_only, window(&want, 0, 2 * HOUR_MS - 1), "a range inside one block");
}

/// Writes `series` as a level-1 block over `[lo, hi)` in `dir` with ULID time `ulid_ms`.
fn block(dir: &Path, ulid_ms: u64, lo: i64, hi: i64, series: Vec<BlockSeries>) -> String {
    let ulid = new_ulid(ulid_ms);
    write_cut_block(dir, &ulid, lo, hi, series).expect("write block");
    ulid
}

fn block_series(job: &str, floats: &[i64], histograms: &[(i64, f64)]) -> BlockSeries {
    BlockSeries {
        labels: labels(job),
        chunks: Vec::new(),
        samples: floats.iter().map(|&k| Sample { timestamp_ms: k * STEP_MS, value: float(k) }).collect(),
        histograms: histograms.iter().map(|&(k, salt)| h_at(k, k * STEP_MS, salt)).collect(),
        starts: None,
    }
}

#[test]
fn overlapping_blocks_merge_histograms_newest_block_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Older block: `hist` histograms at 0..150 minutes, `mixed` floats at 0..60 and
    // histograms at 60..120. Newer block over the same range: `hist` at 100..200 with other
    // values (they win from 100 on), `mixed` histograms at 30..40 (win over the floats there)
    // and floats at 100..110 (win over the histograms there).
    let hist_old: Vec<(i64, f64)> = (0..150).map(|k| (k, 0.0)).collect();
    let hist_new: Vec<(i64, f64)> = (100..200).map(|k| (k, 0.5)).collect();
    let old = block(
        dir.path(),
        1_000,
        0,
        4 * HOUR_MS,
        vec![block_series("hist", &[], &hist_old), block_series("mixed", &(0..60).collect::<Vec<_>>(), &(60..120).map(|k| (k, 0.0)).collect::<Vec<_>>())],
    );
    let new = block(
        dir.path(),
        2_000,
        0,
        4 * HOUR_MS,
        vec![block_series("hist", &[], &hist_new), block_series("mixed", &(100..110).collect::<Vec<_>>(), &(30..40).map(|k| (k, 0.25)).collect::<Vec<_>>())],
    );
    let mut want = Model::new();
    let mut put = |job: &str, k: i64, v: V| {
        want.entry(labels(job)).or_default().insert(k * STEP_MS, v);
    };
    for &(k, salt) in hist_old.iter().filter(|(k, _)| *k < 100).chain(&hist_new) {
        put("hist", k, V::H(histogram(k, salt)));
    }
    for k in 0..120 {
        let v = match k {
            30..40 => V::H(histogram(k, 0.25)),
            100..110 => V::F(float(k).to_bits()),
            0..60 => V::F(float(k).to_bits()),
            _ => V::H(histogram(k, 0.0)),
        };
        put("mixed", k, v);
    }
    let (before, outcome, after, blocks) = with_db(dir.path(), options(), async |db| {
        let before = held(db).await;
        let outcome = db.compact_once().expect("compact");
        (before, outcome, held(db).await, db.blocks())
    });
    assert_eq!(before, want, "reads merge the overlapping blocks, the newer one winning each timestamp");
    let Some(CompactionOutcome::Committed { ulid: Some(_), parents }) = outcome else {
        panic!("a committed vertical compaction, got {outcome:?}");
    };
    assert_eq!(parents, vec![old, new]);
    assert_eq!(blocks.len(), 1);
    let samples: u64 = want.values().map(|m| m.len() as u64).sum();
    assert_eq!(blocks[0].stats.num_samples, samples);
    assert_eq!(after, want, "the merged block answers the same");
    let reopened = with_db(dir.path(), options(), async |db| held(db).await);
    assert_eq!(reopened, want);
}

#[test]
fn deleting_a_range_removes_histograms_from_blocks_and_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = batches();
    let mut want = Model::new();
    for b in &data {
        add(&mut want, b);
    }
    let (lo, hi) = (HOUR_MS + 30 * STEP_MS, 4 * HOUR_MS + 10 * STEP_MS);
    let m = |job: &str| vec![Matcher::new(MatchOp::Equal, "job", job).expect("matcher")];
    let (after, blocks) = with_db(dir.path(), options(), async move |db| {
        for b in &data {
            append(db, b.clone()).await;
        }
        db.maintain(0).await.expect("maintain");
        let outcome = db.delete(&[m("hist"), m("mixed")], lo, hi).await.expect("delete");
        assert_eq!((outcome.head_series, outcome.block_series), (2, 2), "two series in the head and in the block");
        (held(db).await, db.blocks().len())
    });
    assert_eq!(blocks, 1, "[0, 2h) cut, [2h, 4h) not due yet");
    for job in ["hist", "mixed"] {
        want.get_mut(&labels(job)).expect("series").retain(|t, _| *t < lo || *t > hi);
    }
    assert_eq!(after, want, "deleted histograms are gone from blocks and head");
    let (reopened, cleaned) = with_db(dir.path(), options(), async |db| {
        let reopened = held(db).await;
        let cleaned = db.clean_tombstones().expect("clean");
        assert_eq!(cleaned.len(), 1, "the block rewritten");
        (reopened, held(db).await)
    });
    assert_eq!(reopened, want, "the delete survives a reopen");
    assert_eq!(cleaned, want, "rewritten blocks keep the other histograms");
}

#[test]
fn histograms_count_against_the_head_and_series_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = ShardOptions { max_head_samples: 100, max_series: 1, ..options() };
    with_db(dir.path(), options, async |db| {
        let hs: Vec<HistogramSample> = (0..150).map(|k| h_at(k, k * STEP_MS, 0.0)).collect();
        assert!(!db.cut_due());
        let outcome = append(db, one("hist", vec![], hs)).await;
        assert_eq!(outcome.samples_appended, 150);
        assert!(db.cut_due(), "150 histograms pass max_head_samples = 100");
        let refused = append(db, one("other", vec![Sample { timestamp_ms: 1, value: 1.0 }], vec![h_at(1, 2, 0.0), h_at(2, 3, 0.0)])).await;
        assert_eq!(refused.samples_refused_series_limit, 3, "a new series past max_series: its floats and histograms refused");
    });
}

#[test]
fn an_invalid_histogram_is_refused_naming_its_series_before_anything_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (error, held_after) = with_db(dir.path(), options(), async |db| {
        let mut bad = (*histogram(5, 0.0)).clone();
        bad.positive_buckets.pop();
        let series = vec![
            SeriesSamples { labels: labels("float"), samples: vec![Sample { timestamp_ms: 1, value: 1.0 }], histograms: Vec::new(), starts: None },
            SeriesSamples { labels: labels("hist"), samples: Vec::new(), histograms: vec![HistogramSample { timestamp_ms: 7, histogram: Arc::new(bad) }], starts: None },
        ];
        let error = db.append_group(&[series.as_slice()]).await.expect_err("invalid").to_string();
        (error, held(db).await)
    });
    assert!(error.contains("job=\"hist\"") && error.contains("at 7") && error.contains("positive spans"), "{error}");
    assert!(held_after.is_empty(), "nothing of the write was stored");
    let replayed = with_db(dir.path(), options(), async |db| held(db).await);
    assert!(replayed.is_empty(), "nothing of it was logged");
}

/// `promtool tsdb dump` reads a shard whose blocks hold float histogram chunks. Prometheus
/// 2.42's dump prints float samples only, and stops a series at its first non-float sample:
/// so it must print every float of `float`, and the floats of `mixed` before its first
/// histogram (read across that series' XOR and histogram chunks), and fail on nothing.
/// A newer promtool also prints histograms (`{count:…, sum:…, …} <t>`): then each must be
/// there with its count.
#[test]
fn promtool_dumps_a_block_holding_histograms() {
    let Ok(promtool) = std::env::var("METRICSTOR_PROMTOOL_BIN") else {
        eprintln!("SKIPPED: set METRICSTOR_PROMTOOL_BIN to run promtool on a block with histograms");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let first_histogram_of_mixed = 40;
    let series = vec![
        block_series("hist", &[], &(0..100).map(|k| (k, 0.0)).collect::<Vec<_>>()),
        block_series("mixed", &(0..first_histogram_of_mixed).collect::<Vec<_>>(), &(first_histogram_of_mixed..90).map(|k| (k, 0.0)).collect::<Vec<_>>()),
        block_series("float", &(0..100).collect::<Vec<_>>(), &[]),
    ];
    block(dir.path(), 1_000, 0, 2 * HOUR_MS, series);
    std::fs::create_dir_all(dir.path().join("wal")).expect("empty wal for promtool");
    let out = std::process::Command::new(&promtool).args(["tsdb", "dump"]).arg(dir.path()).output().expect("run promtool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "promtool tsdb dump: {}", String::from_utf8_lossy(&out.stderr));
    let mut floats: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    let mut histograms: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for line in stdout.lines() {
        let job = line.split("job=\"").nth(1).and_then(|r| r.split('"').next()).expect("job label").to_string();
        let t: i64 = line.rsplit(' ').next().and_then(|t| t.parse().ok()).expect("timestamp");
        if let Some(count) = line.split("{count:").nth(1) {
            let count: f64 = count.split(',').next().and_then(|c| c.parse().ok()).expect("count");
            histograms.entry(job).or_default().push((t, count));
        } else {
            let v: f64 = line.rsplit(' ').nth(1).and_then(|v| v.parse().ok()).expect("value");
            floats.entry(job).or_default().push((t, v));
        }
    }
    let want = |ks: std::ops::Range<i64>| ks.map(|k| (k * STEP_MS, float(k))).collect::<Vec<_>>();
    assert_eq!(floats.get("float"), Some(&want(0..100)), "{stdout}");
    assert_eq!(floats.get("mixed"), Some(&want(0..first_histogram_of_mixed)), "{stdout}");
    if !histograms.is_empty() {
        let counts = |ks: std::ops::Range<i64>| ks.map(|k| (k * STEP_MS, histogram(k, 0.0).count)).collect::<Vec<_>>();
        assert_eq!(histograms.get("hist"), Some(&counts(0..100)));
        assert_eq!(histograms.get("mixed"), Some(&counts(first_histogram_of_mixed..90)));
    }
}
