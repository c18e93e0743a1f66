//! `ShardDb::label_value_children` (the Graphite tree's skip-walk over label values) agrees
//! with the plain value listing cut at the delimiter, over a block and the head, with and
//! without matchers (few matched series and many), whole and partial time windows, and a
//! deletion in the block.

mod common;

use common::{on_executor, HOUR_MS};
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb};

const SERIES: usize = 3_000;

/// Graphite-like names; some are both a leaf and a node (`a.dc0`, `a.dc0.host1`).
fn name(i: usize) -> String {
    match i % 50 {
        0 => format!("a.dc{}", i % 3),
        1 => format!("a.dc{}.host{}", i % 3, i % 7),
        2 => format!("a.dc{}-x", i % 3),
        3 => format!("b.{i}"),
        _ => format!("a.dc{}.host{}.m{}", i % 3, i % 7, i % 11),
    }
}

fn series(i: usize, t: i64) -> SeriesSamples {
    let env = if i.is_multiple_of(4) { "prod" } else { "dev" };
    SeriesSamples {
        labels: Labels::from_pairs([("__name__", name(i)), ("i", i.to_string()), ("env", env.to_string())]),
        samples: vec![Sample { timestamp_ms: t, value: i as f64 }],
        histograms: Vec::new(),
        starts: None,
    }
}

/// The children from the plain listing: values under `prefix`, cut after the delimiter.
fn expected(db: &ShardDb, prefix: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<String> {
    let mut children: Vec<String> = db
        .label_values("__name__", matchers, mint, maxt)
        .into_iter()
        .filter_map(|v| {
            let rest = v.strip_prefix(prefix)?;
            Some(match rest.find('.') {
                Some(at) => rest[..=at].to_string(),
                None => rest.to_string(),
            })
        })
        .collect();
    children.sort();
    children.dedup();
    children
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("valid matcher")
}

fn check(db: &ShardDb) -> usize {
    let prefixes = ["", "a.", "a.dc0.", "a.dc1.host3.", "a.dc", "b.", "c.", "a.dc0.host1"];
    let matcher_sets = [
        vec![],
        vec![m(MatchOp::Equal, "env", "prod")],                 // 750 series: read by series
        vec![m(MatchOp::RegexMatch, "env", "prod|dev|test")],  // every series: by postings
        vec![m(MatchOp::NotEqual, "env", "prod")],
        vec![m(MatchOp::Equal, "env", "none")],
    ];
    let windows = [(i64::MIN, i64::MAX), (0, HOUR_MS), (2 * HOUR_MS, 4 * HOUR_MS), (HOUR_MS, HOUR_MS + 1)];
    let mut nonempty = 0;
    for prefix in prefixes {
        for matchers in &matcher_sets {
            for (mint, maxt) in windows {
                let want = expected(db, prefix, matchers, mint, maxt);
                let got = db.label_value_children("__name__", prefix, '.', matchers, mint, maxt);
                assert_eq!(got, want, "prefix {prefix:?} matchers {matchers:?} window [{mint}, {maxt}]");
                nonempty += usize::from(!got.is_empty());
            }
        }
    }
    nonempty
}

#[test]
fn children_agree_with_the_value_listing_over_block_and_head() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    on_executor(move || async move {
        let mut db = ShardDb::open(&path, common::block_test_options()).await.expect("open");
        // Two thirds in [0, 1 h), cut into a block; the last half in the head at 3 h (the
        // middle sixth is in both).
        let early: Vec<SeriesSamples> = (0..SERIES * 2 / 3).map(|i| series(i, (i as i64) * 1_000)).collect();
        db.append_group(&[early.as_slice()]).await.expect("append");
        assert!(db.force_cut().await.expect("cut").is_some(), "a block was cut");
        let late: Vec<SeriesSamples> = (SERIES / 2..SERIES).map(|i| series(i, 3 * HOUR_MS)).collect();
        db.append_group(&[late.as_slice()]).await.expect("append");
        let before_delete = check(&db);
        assert!(before_delete > 60, "half the cases have children: {before_delete}");
        // A deletion in the block: the block no longer covers any window by itself.
        db.delete(&[vec![m(MatchOp::Equal, "__name__", "a.dc0")]], i64::MIN, i64::MAX).await.expect("delete");
        check(&db);
        assert!(!db.label_value_children("__name__", "a.", '.', &[], i64::MIN, i64::MAX).contains(&"dc0".to_string()));
        assert!(db.label_value_children("__name__", "a.", '.', &[], i64::MIN, i64::MAX).contains(&"dc0.".to_string()));
        db.close().await.expect("close");
    });
}
