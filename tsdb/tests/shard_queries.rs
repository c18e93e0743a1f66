//! ShardDb queries: select, series, label names and values with all four matcher types,
//! time-range restriction, and the same answers after a WAL replay.

mod common;

use common::on_executor;
use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions};


fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("valid matcher")
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> SeriesSamples {
    SeriesSamples {
        labels: Labels::from_pairs(pairs.iter().copied()),
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

fn data() -> Vec<SeriesSamples> {
    vec![
        series(
            &[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("code", "200"),
            ],
            &[(1_000, 1.0), (2_000, 2.0)],
        ),
        series(
            &[
                ("__name__", "http_requests"),
                ("job", "api"),
                ("code", "500"),
            ],
            &[(1_000, 3.0)],
        ),
        series(
            &[("__name__", "http_requests"), ("job", "web")],
            &[(5_000, 4.0)],
        ),
        series(
            &[("__name__", "up"), ("job", "api"), ("env", "prod")],
            &[(9_000, 1.0)],
        ),
    ]
}

/// Names of the `code`/`job` labels of each selected series, for compact expectations.
fn keys(selected: &[SeriesSamples]) -> Vec<String> {
    let mut out: Vec<String> = selected
        .iter()
        .map(|s| {
            format!(
                "{}/{}/{}",
                s.labels.metric_name().unwrap_or(""),
                s.labels.get("job").unwrap_or(""),
                s.labels.get("code").unwrap_or("")
            )
        })
        .collect();
    out.sort();
    out
}

fn check(db: &ShardDb) {
    use MatchOp::*;
    let all = (i64::MIN, i64::MAX);
    type Case = (Vec<Matcher>, (i64, i64), Vec<&'static str>);
    let table: Vec<Case> = vec![
        (
            vec![m(Equal, "__name__", "http_requests")],
            all,
            vec![
                "http_requests/api/200",
                "http_requests/api/500",
                "http_requests/web/",
            ],
        ),
        (
            vec![
                m(Equal, "__name__", "http_requests"),
                m(NotEqual, "code", "200"),
            ],
            all,
            vec!["http_requests/api/500", "http_requests/web/"],
        ),
        (
            vec![
                m(RegexMatch, "job", "api|web"),
                m(RegexMatch, "code", "5.."),
            ],
            all,
            vec!["http_requests/api/500"],
        ),
        (
            vec![
                m(RegexMatch, "__name__", ".+"),
                m(RegexNoMatch, "job", "a.*"),
            ],
            all,
            vec!["http_requests/web/"],
        ),
        (
            vec![m(RegexMatch, "__name__", ".+"), m(RegexMatch, "code", "")],
            all,
            vec!["http_requests/web/", "up/api/"],
        ),
        (
            vec![m(Equal, "__name__", "http_requests")],
            (1_500, 6_000),
            vec!["http_requests/api/200", "http_requests/web/"],
        ),
        (vec![m(Equal, "__name__", "nope")], all, vec![]),
    ];
    for (matchers, (mint, maxt), expected) in &table {
        assert_eq!(
            keys(&db.select(matchers, *mint, *maxt)),
            *expected,
            "select {matchers:?} [{mint}, {maxt}]"
        );
        let mut listed: Vec<String> = db
            .series(matchers, *mint, *maxt)
            .iter()
            .map(|l| l.to_string())
            .collect();
        listed.sort();
        assert_eq!(listed.len(), expected.len(), "series {matchers:?}");
    }
    // Samples are restricted to the range.
    let got = db.select(&[m(Equal, "code", "200")], 1_500, 6_000);
    assert_eq!(
        got[0].samples,
        vec![Sample {
            timestamp_ms: 2_000,
            value: 2.0
        }]
    );

    assert_eq!(
        db.label_names(&[], i64::MIN, i64::MAX),
        vec!["__name__", "code", "env", "job"]
    );
    assert_eq!(
        db.label_names(&[m(Equal, "__name__", "up")], i64::MIN, i64::MAX),
        vec!["__name__", "env", "job"]
    );
    assert_eq!(db.label_names(&[], 4_000, 6_000), vec!["__name__", "job"]);
    assert_eq!(
        db.label_values("job", &[], i64::MIN, i64::MAX),
        vec!["api", "web"]
    );
    assert_eq!(
        db.label_values(
            "code",
            &[m(RegexNoMatch, "code", "2.*")],
            i64::MIN,
            i64::MAX
        ),
        vec!["500"]
    );
    assert_eq!(
        db.label_values("__name__", &[m(NotEqual, "job", "web")], i64::MIN, i64::MAX),
        vec!["http_requests", "up"]
    );
    assert_eq!(db.label_values("job", &[], 8_000, 10_000), vec!["api"]);
    assert!(db
        .label_values("missing", &[], i64::MIN, i64::MAX)
        .is_empty());
    let stats = db.stats();
    assert_eq!(stats.series, 4);
}

#[test]
fn queries_with_all_matcher_types_before_and_after_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let options = || ShardOptions {
        wal_segment_bytes: 1 << 20,
        fsync_on_commit: false,
        ..ShardOptions::default()
    };
    let p = path.clone();
    on_executor(move || async move {
        let mut db = ShardDb::open(&p, options()).await.expect("open");
        let data = data();
        let outcomes = db
            .append_group(&[&data[..2], &data[2..]])
            .await
            .expect("append");
        assert_eq!(outcomes[0].samples_appended, 3);
        assert_eq!(outcomes[1].samples_appended, 2);
        assert_eq!(db.stats().wal_fsyncs_total, 0, "fsync_on_commit: false");
        check(&db);
        db.close().await.expect("close");
    });
    on_executor(move || async move {
        let db = ShardDb::open(&path, options()).await.expect("reopen");
        check(&db);
        db.close().await.expect("close");
    });
}

#[test]
fn same_series_twice_in_one_commit_is_one_series() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let options = || ShardOptions {
        wal_segment_bytes: 1 << 20,
        fsync_on_commit: true,
        ..ShardOptions::default()
    };
    let p = path.clone();
    let before = on_executor(move || async move {
        let mut db = ShardDb::open(&p, options()).await.expect("open");
        let g1 = vec![series(&[("__name__", "x")], &[(1, 1.0)])];
        let g2 = vec![
            series(&[("__name__", "x")], &[(2, 2.0)]),
            series(&[("__name__", "y")], &[(2, 2.0)]),
        ];
        db.append_group(&[&g1, &g2]).await.expect("append");
        let held = db.select(
            &[m(MatchOp::RegexMatch, "__name__", ".*")],
            i64::MIN,
            i64::MAX,
        );
        db.close().await.expect("close");
        held
    });
    assert_eq!(before.len(), 2);
    assert_eq!(before.iter().map(|s| s.samples.len()).sum::<usize>(), 3);
    let after = on_executor(move || async move {
        let db = ShardDb::open(&path, options()).await.expect("reopen");
        let held = db.select(
            &[m(MatchOp::RegexMatch, "__name__", ".*")],
            i64::MIN,
            i64::MAX,
        );
        db.close().await.expect("close");
        held
    });
    assert_eq!(after, before);
}
