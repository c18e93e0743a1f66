//! The scrape loop's tests: answers into series, staleness, limits, reports and the loop's
//! own schedule and link.

use super::answer::read_answer;
use super::series_cache::{check_label_limits, check_sample_limit, within_job_limits, BUCKET_LIMIT_EXCEEDED, METADATA_KEEP_SCRAPES, METADATA_RESEND_MS};
use super::*;
use crate::scrape::config::ScrapeConfig;
use crate::scrape::discovery::{targets, Discovered, Target};
use crate::scrape::protobuf::NativeHistogramLine;
use crate::scrape::start_timestamps::LineStarts;
use crate::ingest::label_limits::LabelLimits;
use tsdb::FloatHistogram;

pub(super) fn target(job_yaml: &str) -> Target {
    let job = ScrapeConfig::from_yaml(job_yaml, std::path::Path::new("/tmp"), LabelLimits::default()).unwrap().jobs.remove(0);
    let groups: Vec<Arc<_>> = job.static_groups.iter().cloned().map(Arc::new).collect();
    match targets(&job, &groups).pop() {
        Some(Discovered::Active(t)) => Arc::unwrap_or_clone(t),
        other => panic!("{other:?}"),
    }
}

fn names(scraped: &Scraped) -> Vec<String> {
    scraped.samples.iter().map(|(l, s)| format!("{} {} {}", l, s.value, s.timestamp_ms)).collect()
}

fn scrape(t: &Target, external: &[(String, String)], body: &[u8], start_ms: i64) -> Result<Scraped, String> {
    SeriesCache::default().scrape(t, external, body, start_ms, &LabelLimits::default())
}

#[test]
fn quoted_utf8_names_are_scraped_with_their_metadata() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let body = "# HELP \"http.server.requests\" Requests.\n# TYPE \"http.server.requests\" counter\n{\"http.server.requests\",\"http.route\"=\"/a\"} 3\n";
    for format in [Format::Text, Format::OpenMetrics] {
        let scraped = SeriesCache::default().scrape_format(&t, &[], body.as_bytes(), format, 1000, &LabelLimits::default()).unwrap();
        assert_eq!(names(&scraped), vec!["{\"http.server.requests\", \"http.route\"=\"/a\", instance=\"h:1\", job=\"j\"} 3 1000"]);
        let meta = scraped.metadata.unwrap_or_default();
        assert_eq!(meta.iter().map(|m| (m.family.as_str(), m.kind.as_str(), m.help.as_str())).collect::<Vec<_>>(), vec![("http.server.requests", "counter", "Requests.")]);
    }
    // An OpenMetrics answer with them rewrites and reads the same.
    let om = super::super::openmetrics::to_text(b"# TYPE \"a.b\" counter\n# UNIT \"a.b_seconds\" seconds\n{\"a.b_total\",\"x.y\"=\"1\"} 2 # {\"trace.id\"=\"t\"} 1\n# EOF\n").unwrap();
    assert_eq!(String::from_utf8(om).unwrap_or_default(), "# TYPE \"a.b\" counter\n# UNIT \"a.b_seconds\" seconds\n{\"a.b_total\",\"x.y\"=\"1\"} 2 # {\"trace.id\"=\"t\"} 1.0\n");
}

#[test]
fn legacy_validation_fails_a_scrape_with_utf8_names() {
    let legacy = target("scrape_configs: [{job_name: j, metric_name_validation_scheme: legacy, static_configs: [{targets: ['h:1']}]}]");
    let error = scrape(&legacy, &[], b"{\"my.metric\"} 1\n", 1000).unwrap_err();
    assert!(error.starts_with("invalid metric name or label names: "), "{error}");
    assert!(scrape(&legacy, &[], b"ok{\"a.b\"=\"1\"} 1\n", 1000).is_err(), "a UTF-8 label name too");
    assert!(scrape(&legacy, &[], b"ok:name{a=\"1\"} 1\n", 1000).is_ok());
    let utf8 = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    assert!(scrape(&utf8, &[], b"{\"my.metric\"} 1\n", 1000).is_ok());
}

#[test]
fn metadata_is_given_when_it_changes() {
    let t = target("scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]");
    let body = b"# HELP a_total Requests \\\\ served.\\nAll.\n# TYPE a_total counter\na_total 1\n# TYPE  b\tuntyped\nb 2\n#TYPE c gauge\n# UNIT c seconds\n# TYPE d info\n# TYPE e nonsense\n# just a comment\n";
    let mut cache = SeriesCache::default();
    let first = cache.scrape(&t, &[], body, 1000, &LabelLimits::default()).unwrap();
    let meta = |family: &str, kind: &str, help: &str, unit: &str| crate::ingest::MetricMetadata { family: family.into(), kind: kind.into(), help: help.into(), unit: unit.into() };
    // `#TYPE` and `# UNIT` are plain comments in the text format, `info` no type of it.
    assert_eq!(first.metadata, Some(vec![meta("a_total", "counter", "Requests \\ served.\nAll.", ""), meta("b", "unknown", "", "")]));
    // An OpenMetrics answer (rewritten) keeps its units and its own types.
    let om = SeriesCache::default().scrape_format(&t, &[], b"# TYPE d info\n# UNIT c_seconds seconds\n# TYPE c_seconds gauge\n# HELP c_seconds A \\\"quoted\\\" \\\\ word.\n", Format::OpenMetrics, 1000, &LabelLimits::default()).unwrap();
    assert_eq!(om.metadata, Some(vec![meta("d", "info", "", ""), meta("c_seconds", "gauge", "A \"quoted\" \\ word.", "seconds")]));
    // In the text format `\"` is no escape.
    let text = SeriesCache::default().scrape(&t, &[], b"# HELP q A \\\"b\\\".\n", 1000, &LabelLimits::default()).unwrap();
    assert_eq!(text.metadata, Some(vec![meta("q", "unknown", "A \\\"b\\\".", "")]));
    // The same comments again: nothing to give until the resend interval passes.
    assert_eq!(cache.scrape(&t, &[], body, 2000, &LabelLimits::default()).unwrap().metadata, None);
    assert!(cache.scrape(&t, &[], body, 1000 + METADATA_RESEND_MS, &LabelLimits::default()).unwrap().metadata.is_some());
    // A changed family replaces its entry; one gone from the answers is kept a while.
    let changed = b"# HELP a_total Requests.\na_total 2\n";
    assert_eq!(cache.scrape(&t, &[], changed, 3000 + METADATA_RESEND_MS, &LabelLimits::default()).unwrap().metadata, Some(vec![meta("a_total", "unknown", "Requests.", ""), meta("b", "unknown", "", "")]));
    // No comments at all: an empty list (a target's metadata goes with it).
    assert_eq!(SeriesCache::default().scrape(&t, &[], b"x 1\n", 0, &LabelLimits::default()).unwrap().metadata, Some(vec![]));
}

#[test]
fn a_family_gone_from_the_answers_keeps_its_metadata_for_ten_scrapes() {
    let t = target("scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]");
    let meta = |family: &str, kind: &str| crate::ingest::MetricMetadata { family: family.into(), kind: kind.into(), help: String::new(), unit: String::new() };
    let mut cache = SeriesCache::default();
    let both = b"# TYPE a gauge\na 1\n# TYPE b counter\nb 2\n";
    let only_a = b"# TYPE a gauge\na 1\n";
    // Scrape number n starts at n seconds.
    let scrape = |cache: &mut SeriesCache, body: &[u8], n: i64| cache.scrape(&t, &[], body, n * 1000, &LabelLimits::default()).unwrap().metadata;
    assert_eq!(scrape(&mut cache, both, 1), Some(vec![meta("a", "gauge"), meta("b", "counter")]));
    // Scrape 2 is the first without b: b was last seen by scrape 1.
    assert_eq!(scrape(&mut cache, only_a, 2), Some(vec![meta("a", "gauge"), meta("b", "counter")]));
    for n in 3..=(1 + METADATA_KEEP_SCRAPES as i64) {
        assert_eq!(scrape(&mut cache, only_a, n), None, "nothing changed by scrape {n}");
    }
    // Scrape 12, the 11th after b was last seen, forgets it, and says so.
    assert_eq!(scrape(&mut cache, only_a, 12), Some(vec![meta("a", "gauge")]));
    assert_eq!(scrape(&mut cache, only_a, 13), None);
    // A family back in the answers is in them again at once.
    assert_eq!(scrape(&mut cache, both, 14), Some(vec![meta("a", "gauge"), meta("b", "counter")]));
    // Every family gone: the list empties only once the last one is forgotten, by scrape 25.
    let none = b"c 1\n";
    assert_eq!(scrape(&mut cache, none, 15), Some(vec![meta("a", "gauge"), meta("b", "counter")]));
    let given: Vec<(i64, Option<Vec<crate::ingest::MetricMetadata>>)> = (16..=30).map(|n| (n, scrape(&mut cache, none, n))).filter(|(_, g)| g.is_some()).collect();
    assert_eq!(given, vec![(25, Some(vec![]))]);
}

#[test]
fn target_labels_win_unless_honored() {
    let t = target("scrape_configs: [{job_name: node, static_configs: [{targets: ['h:1']}]}]");
    let body = b"# HELP a_total A.\n# TYPE a_total counter\na_total{job=\"other\"} 3\nb{exported_job=\"x\",job=\"y\"} 4 1000\n";
    let e = scrape(&t, &[("dc".into(), "eu".into())], body, 5000).unwrap();
    assert_eq!((e.scraped, e.kept, e.added), (2, 2, 1));
    assert_eq!(
        names(&e),
        vec![
            "a_total{dc=\"eu\", exported_job=\"other\", instance=\"h:1\", job=\"node\"} 3 5000",
            "b{dc=\"eu\", exported_exported_job=\"y\", exported_job=\"x\", instance=\"h:1\", job=\"node\"} 4 1000",
        ]
    );
    let honored = target("scrape_configs: [{job_name: node, honor_labels: true, honor_timestamps: false, static_configs: [{targets: ['h:1']}]}]");
    let e = scrape(&honored, &[], body, 5000).unwrap();
    assert_eq!(names(&e), vec!["a_total{instance=\"h:1\", job=\"other\"} 3 5000", "b{exported_job=\"x\", instance=\"h:1\", job=\"y\"} 4 5000"]);
    // An exposed empty label keeps the target's away with honor_labels (a Pushgateway's
    // `instance=""`), and is simply absent without it.
    let pushed = b"pushed{instance=\"\",job=\"batch\"} 1\n";
    assert_eq!(names(&scrape(&honored, &[], pushed, 5000).unwrap()), vec!["pushed{job=\"batch\"} 1 5000"]);
    assert_eq!(names(&scrape(&t, &[], pushed, 5000).unwrap()), vec!["pushed{exported_job=\"batch\", instance=\"h:1\", job=\"node\"} 1 5000"]);
}

#[test]
fn metric_relabeling_and_the_sample_limit_apply_after_the_merge() {
    let t = target("scrape_configs: [{job_name: j, sample_limit: 1, metric_relabel_configs: [{source_labels: [__name__], regex: 'go_.*', action: drop}], static_configs: [{targets: ['h:1']}]}]");
    let e = scrape(&t, &[], b"go_a 1\nkept 2\ngo_b 3\nkept 5\n", 0).unwrap();
    // Four scraped, one kept: the duplicate of `kept` is dropped, the go_ ones relabeled away.
    assert_eq!((e.scraped, e.samples.len()), (4, 1));
    let error = scrape(&t, &[], b"a 1\nb 2\n", 0).unwrap_err();
    assert!(error.contains("sample_limit exceeded"), "{error}");
    for (body, want) in [(&b"a 1\nb{ 2\n"[..], "line 2"), (b"a{x=\"}\"} 1\nb\n", "line 2: missing value"), (b"a x\n", "invalid value"), (b"a 1 2.5\n", "invalid timestamp")] {
        let error = scrape(&t, &[], body, 0).unwrap_err();
        assert!(error.contains(want), "{error} should say {want}");
    }
}

#[test]
fn a_label_value_may_hold_braces_spaces_and_escapes() {
    assert_eq!(split_series("a{x=\"} {\\\"\",y=\"z\"} 1 2"), Some(("a{x=\"} {\\\"\",y=\"z\"}", " 1 2")));
    assert_eq!(split_series("a 1"), Some(("a", " 1")));
    assert_eq!(split_series("a{x=\"1\" 1"), None);
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let e = scrape(&t, &[], b"a{x=\"} {\\\"\"} 1\n", 0).unwrap();
    assert_eq!(e.samples[0].0.get("x"), Some("} {\""));
}

#[test]
fn a_fresh_cache_after_a_panic_still_marks_the_last_scrapes_series_stale() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let mut cache = SeriesCache::default();
    cache.scrape(&t, &[], b"a 1\nb 2\n", 1000, &LabelLimits::default()).unwrap();
    let mut fresh = fresh_after_panic(cache, SeriesCache::default());
    let mut stale: Vec<String> = fresh.all_stale(2000).into_iter().map(|(l, s)| format!("{l} {}", s.timestamp_ms)).collect();
    stale.sort();
    assert_eq!(stale, vec![r#"a{instance="h:1", job="j"} 2000"#, r#"b{instance="h:1", job="j"} 2000"#]);
}

#[test]
fn series_gone_from_a_scrape_get_a_staleness_marker() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let limits = LabelLimits::default();
    let mut cache = SeriesCache::default();
    let stale = |s: &Scraped| s.samples.iter().filter(|(_, x)| tsdb::is_stale_nan(x.value)).map(|(l, x)| (l.metric_name().unwrap_or("").to_string(), x.timestamp_ms)).collect::<Vec<_>>();
    let first = cache.scrape(&t, &[], b"a 1\nb 2\nc 3 77\n", 1000, &limits).unwrap();
    assert_eq!((first.samples.len(), first.added), (3, 2));
    let second = cache.scrape(&t, &[], b"a 1\n", 2000, &limits).unwrap();
    assert_eq!(second.added, 0);
    // `c` had its own timestamp: Prometheus does not mark such series stale.
    assert_eq!(stale(&second), vec![("b".to_string(), 2000)]);
    // A failed scrape leaves the cache as it was (the series it met first are forgotten):
    // the next failure marks `a` stale once.
    assert!(cache.scrape(&t, &[], b"a 1\nnew 1\nb{ 2\n", 3000, &limits).is_err());
    assert!(!cache.entries.contains_key("new"));
    let failed = cache.all_stale(3000);
    assert_eq!(failed.iter().map(|(l, _)| l.metric_name().unwrap_or("").to_string()).collect::<Vec<_>>(), vec!["a".to_string()]);
    assert!(cache.all_stale(4000).is_empty());
    // After a failure every series is new again, and none is marked stale twice.
    let back = cache.scrape(&t, &[], b"b 2\n", 5000, &limits).unwrap();
    assert_eq!((back.added, stale(&back)), (1, vec![]));
}

/// A native histogram line: schema 1, buckets 1..=4 each holding `1`, zero bucket 1.
fn native_line(series: &str, timestamp_ms: Option<i64>) -> NativeHistogramLine {
    let histogram = FloatHistogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 1.0,
        count: 5.0,
        sum: 6.0,
        positive_spans: vec![tsdb::BucketSpan { offset: 1, length: 4 }],
        positive_buckets: vec![1.0; 4],
        ..FloatHistogram::default()
    };
    NativeHistogramLine { series: series.into(), timestamp_ms, histogram, exemplars: Vec::new(), start_ms: None }
}

/// `read_answer` without start timestamps.
fn read(content_type: &str, body: Vec<u8>, job: &super::super::config::ScrapeJob) -> Result<Answer, String> {
    read_answer(content_type, body, job, job.histogram_scraping(), false).map(|(answer, starts)| {
        assert!(starts.is_empty(), "starts read unasked");
        answer
    })
}

fn answer(text: &str, histograms: Vec<NativeHistogramLine>) -> Answer {
    Answer { text: text.as_bytes().to_vec(), format: Format::OpenMetrics, histograms }
}

#[test]
fn failed_scrapes_are_told_apart_by_the_limit_their_error_names() {
    use crate::scrape::status::ScrapeFailure;
    let j = target("scrape_configs: [{job_name: j, sample_limit: 1, label_limit: 1, static_configs: [{targets: ['h:1']}]}]").job;
    let labels = Labels::from_pairs(vec![("__name__".to_string(), "x".to_string()), ("a".to_string(), "b".to_string())]);
    let label_error = check_label_limits(&labels, &j).unwrap_err();
    assert_eq!(failure_cause(&label_error), ScrapeFailure::LabelLimits, "{label_error}");
    let two = Scraped { samples: vec![(labels.clone(), Sample { timestamp_ms: 1, value: 1.0 }); 2], ..Scraped::default() };
    let sample_error = check_sample_limit(&two, &j).unwrap_err();
    assert_eq!(failure_cause(&sample_error), ScrapeFailure::SampleLimit, "{sample_error}");
    assert_eq!(failure_cause(super::super::http_get::BODY_SIZE_LIMIT_EXCEEDED), ScrapeFailure::BodySizeLimit);
    assert_eq!(failure_cause(BUCKET_LIMIT_EXCEEDED), ScrapeFailure::BucketLimit);
    assert_eq!(failure_cause("Get \"http://h:1/metrics\": connection refused"), ScrapeFailure::Other);
}

#[test]
fn bucket_and_quantile_bounds_are_normalized_as_prometheus_3_does() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2.50\"} 2\nh_bucket{le=\"1e3\"} 3\nh_bucket{le=\"+Inf\"} 4\nh_bucket{le=\"x\"} 5\n\
                # TYPE s summary\ns{quantile=\"1\"} 1\ns{quantile=\"0.50\",le=\"1\"} 2\n\
                # TYPE g gauge\ng{le=\"1\",quantile=\"1\"} 3\n";
    let got: Vec<String> = scrape(&t, &[], body.as_bytes(), 1000).unwrap().samples.iter().map(|(l, _)| format!("{}/{}", l.get("le").unwrap_or("-"), l.get("quantile").unwrap_or("-"))).collect();
    assert_eq!(got, vec!["1.0/-", "2.5/-", "1000.0/-", "+Inf/-", "x/-", "-/1.0", "1/0.5", "1/1"]);
    // Each bound keeps one series however it is written.
    let two = scrape(&t, &[], b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 2\n", 1000).unwrap();
    assert_eq!(two.samples.len(), 1);
}

#[test]
fn native_histograms_get_the_target_labels_relabeling_limits_and_staleness() {
    let t = target("scrape_configs: [{job_name: j, sample_limit: 3, static_configs: [{targets: ['h:1']}], metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}]}]");
    let limits = LabelLimits::default();
    let mut cache = SeriesCache::default();
    let first = cache.scrape_answer(&t, &[], &answer("a 1\n", vec![native_line("lat{path=\"/x\"}", None), native_line("dropped", None), native_line("own", Some(1500))]), 2000, &limits).unwrap();
    let written: Vec<String> = first.histograms.iter().map(|(l, h)| format!("{l} {}", h.timestamp_ms)).collect();
    assert_eq!(written, vec!["lat{instance=\"h:1\", job=\"j\", path=\"/x\"} 2000", "own{instance=\"h:1\", job=\"j\"} 1500"]);
    // The histograms as exposed (no limits set).
    assert!(first.histograms.iter().all(|(_, h)| *h.histogram == native_line("x", None).histogram));
    // Counted as samples: four in the body, three kept, two new tracked series (`own`
    // has its own timestamp).
    assert_eq!((first.scraped, first.kept, first.added), (4, 3, 2));
    // Gone from the next answer: a staleness marker, as for a float series.
    let second = cache.scrape_answer(&t, &[], &answer("a 1\n", vec![]), 3000, &limits).unwrap();
    let stale: Vec<String> = second.samples.iter().filter(|(_, s)| tsdb::is_stale_nan(s.value)).map(|(l, s)| format!("{} {}", l.metric_name().unwrap_or(""), s.timestamp_ms)).collect();
    assert_eq!(stale, vec!["lat 3000"]);
    // A histogram and a text line of the same text are different series caches.
    let both = cache.scrape_answer(&t, &[], &answer("a 1\nlat 1\n", vec![native_line("lat", None)]), 4000, &limits).unwrap();
    assert_eq!((both.samples.len(), both.histograms.len()), (2, 0), "the same final labels written twice keep the first");
    // The sample limit counts histograms.
    let over = cache.scrape_answer(&t, &[], &answer("a 1\nb 1\n", vec![native_line("h1", None), native_line("h2", None)]), 5000, &limits);
    assert_eq!(over.unwrap_err(), "sample_limit exceeded: more than 3 samples after metric relabeling");
}

#[test]
fn exemplars_go_with_their_series_final_labels_when_kept() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}], metric_relabel_configs: [{source_labels: [__name__], regex: dropped, action: drop}, {target_label: env, replacement: prod}]}]");
    let limits = LabelLimits::default();
    let text = "a_total{code=\"200\"} 5 # {trace_id=\"t1\",empty=\"\"} 1.5\n\
                b_total 6 1500 # {trace_id=\"t2\"} 2.5 1200\n\
                dropped 1 # {trace_id=\"t3\"} 1\n\
                a_total{code=\"200\"} 9 # {trace_id=\"t4\"} 1\n\
                c 1 # {trace_id=\"too long\",x=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} 1\n\
                d 1\n";
    let mut h1 = native_line("lat", None);
    h1.exemplars = vec![
        super::super::exemplar::ScrapedExemplar { labels: vec![("trace_id".into(), "late".into())], value: 9.0, timestamp_ms: Some(1900) },
        super::super::exemplar::ScrapedExemplar { labels: vec![("trace_id".into(), "untimed".into())], value: 1.0, timestamp_ms: None },
        super::super::exemplar::ScrapedExemplar { labels: vec![("trace_id".into(), "early".into())], value: 2.0, timestamp_ms: Some(1800) },
    ];
    let the_answer = answer(text, vec![h1]);
    let mut cache = SeriesCache::default();
    let off = cache.scrape_answer(&t, &[], &the_answer, 2000, &limits).unwrap();
    assert!(off.exemplars.is_empty(), "kept only when the server stores exemplars");
    let mut cache = SeriesCache::default();
    cache.keep_exemplars();
    let kept = cache.scrape_answer(&t, &[], &the_answer, 2000, &limits).unwrap();
    // Only an exemplar that came without a time repeats itself on the next scrape.
    let untimed: Vec<bool> = kept.exemplars.iter().map(|(_, list)| list.iter().any(|e| !e.own_timestamp)).collect();
    assert_eq!(untimed, vec![true, false, true, false]);
    let got: Vec<String> = kept.exemplars.iter().map(|(series, list)| format!("{series} {}", list.iter().map(|e| format!("{}={}@{}", e.labels, e.value, e.timestamp_ms)).collect::<Vec<_>>().join(" "))).collect();
    // An exemplar without a time takes its sample's (the scrape's, or the line's own);
    // a dropped series' goes with it; a repeated line's is kept (only its sample is a
    // duplicate, as in Prometheus); one over 128 characters is left out; a native
    // histogram's need their own times and are ordered by them.
    assert_eq!(
        got,
        vec![
            "a_total{code=\"200\", env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"t1\"}=1.5@2000",
            "b_total{env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"t2\"}=2.5@1200",
            "a_total{code=\"200\", env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"t4\"}=1@2000",
            "lat{env=\"prod\", instance=\"h:1\", job=\"j\"} {trace_id=\"early\"}=2@1800 {trace_id=\"late\"}=9@1900",
        ]
    );
    // The samples are read as without their exemplars, and a text-format answer has none.
    assert_eq!(names(&kept), names(&SeriesCache::default().scrape_answer(&t, &[], &answer("a_total{code=\"200\"} 5\nb_total 6 1500\nc 1\nd 1\n", vec![]), 2000, &limits).unwrap()));
    let refused = SeriesCache::default().scrape(&t, &[], b"a 1 # {trace_id=\"x\"} 1\n", 1000, &limits).unwrap_err();
    assert!(refused.contains("invalid timestamp \"#\""), "{refused}");
}

#[test]
fn native_histograms_are_brought_within_the_bucket_limit_and_factor_as_in_prometheus() {
    let job = |extra: &str| target(&format!("scrape_configs: [{{job_name: j, static_configs: [{{targets: ['h:1']}}]{extra}}}]")).job;
    let h = native_line("x", None).histogram;
    // No limits: unchanged.
    assert_eq!(within_job_limits(h.clone(), &job("")).unwrap(), h);
    // Four buckets at schema 1 (indexes 1..=4, bounds 2^(i/2)): at schema 0 indexes 1,2
    // become 1 and 3,4 become 2; at -1 they become 1 and 1.
    let two = within_job_limits(h.clone(), &job(", native_histogram_bucket_limit: 3")).unwrap();
    assert_eq!((two.schema, two.positive_spans.clone(), two.positive_buckets.clone()), (0, vec![tsdb::BucketSpan { offset: 1, length: 2 }], vec![2.0, 2.0]));
    assert_eq!((two.count, two.sum, two.zero_count), (5.0, 6.0, 1.0));
    let one = within_job_limits(h.clone(), &job(", native_histogram_bucket_limit: 1")).unwrap();
    assert_eq!((one.schema, one.positive_buckets.clone()), (-1, vec![4.0]));
    // A factor of 2 allows schema 0 at most.
    assert_eq!(within_job_limits(h.clone(), &job(", native_histogram_min_bucket_factor: 2")).unwrap(), two);
    // Buckets that never merge enough fail the scrape, as do custom buckets over the limit.
    let spread = FloatHistogram { positive_spans: vec![tsdb::BucketSpan { offset: -1000, length: 1 }, tsdb::BucketSpan { offset: 2000, length: 1 }], positive_buckets: vec![1.0, 1.0], ..h.clone() };
    assert_eq!(within_job_limits(spread, &job(", native_histogram_bucket_limit: 1")).unwrap_err(), "histogram bucket limit exceeded");
    let custom = FloatHistogram { schema: tsdb::model::CUSTOM_BUCKETS_SCHEMA, zero_threshold: 0.0, zero_count: 0.0, custom_values: vec![1.0, 2.0, 3.0], positive_spans: vec![tsdb::BucketSpan { offset: 0, length: 4 }], positive_buckets: vec![1.0; 4], ..FloatHistogram::default() };
    assert_eq!(within_job_limits(custom.clone(), &job(", native_histogram_bucket_limit: 2")).unwrap_err(), "histogram bucket limit exceeded");
    assert_eq!(within_job_limits(custom.clone(), &job(", native_histogram_bucket_limit: 4, native_histogram_min_bucket_factor: 4")).unwrap(), custom);
}

#[test]
fn answers_are_read_by_their_content_type() {
    let job = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]").job;
    let fallback = target("scrape_configs: [{job_name: j, fallback_scrape_protocol: PrometheusProto, static_configs: [{targets: ['h:1']}]}]").job;
    let fallback_om = target("scrape_configs: [{job_name: j, fallback_scrape_protocol: OpenMetricsText1.0.0, static_configs: [{targets: ['h:1']}]}]").job;
    let text = read("text/plain; version=0.0.4", b"a 1\n".to_vec(), &job).unwrap();
    assert_eq!((text.text.as_slice(), text.format), (&b"a 1\n"[..], Format::Text));
    let om = read("application/openmetrics-text; version=1.0.0", b"a 1\n# EOF\n".to_vec(), &job).unwrap();
    assert_eq!((om.text.as_slice(), om.format), (&b"a 1\n"[..], Format::OpenMetrics));
    // An empty protobuf answer is an empty exposition; without a Content-Type the
    // fallback protocol decides (the text format by default).
    let empty = read("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", Vec::new(), &job).unwrap();
    assert_eq!((empty.text.len(), empty.histograms.len()), (0, 0));
    assert_eq!(read("", b"a 1\n".to_vec(), &job).unwrap().format, Format::Text);
    assert_eq!(read("", b"a 1\n".to_vec(), &fallback).unwrap_err(), "protobuf message 1 (byte 0): length 97 exceeds the 3 bytes left", "read as protobuf");
    assert_eq!(read("application/x-unknown", b"a 1\n".to_vec(), &fallback).unwrap_err(), "protobuf message 1 (byte 0): length 97 exceeds the 3 bytes left");
    // OpenMetrics as the fallback: its timestamps in seconds, its # EOF required.
    let om = read("", b"a 1 2.5\n# EOF\n".to_vec(), &fallback_om).unwrap();
    assert_eq!((om.text.as_slice(), om.format), (&b"a 1 2500\n"[..], Format::OpenMetrics));
    // The media type decides, not its parameters.
    assert!(read("application/vnd.google.protobuf; proto=other.Message", Vec::new(), &job).is_ok());
}

#[test]
fn track_timestamps_staleness_marks_series_with_their_own_timestamps() {
    let t = target("scrape_configs: [{job_name: j, track_timestamps_staleness: true, static_configs: [{targets: ['h:1']}]}]");
    let limits = LabelLimits::default();
    let mut cache = SeriesCache::default();
    let first = cache.scrape(&t, &[], b"a 1\nc 3 77\n", 1000, &limits).unwrap();
    assert_eq!(first.samples.iter().map(|(_, x)| x.timestamp_ms).collect::<Vec<_>>(), vec![1000, 77], "its own timestamp is still honoured");
    let second = cache.scrape(&t, &[], b"a 1\n", 2000, &limits).unwrap();
    let stale: Vec<&str> = second.samples.iter().filter(|(_, x)| tsdb::is_stale_nan(x.value)).map(|(l, _)| l.metric_name().unwrap_or("")).collect();
    assert_eq!(stale, vec!["c"]);
}

#[test]
fn label_limits_fail_the_scrape_naming_the_series() {
    let t = target("scrape_configs: [{job_name: j, label_limit: 3, label_name_length_limit: 8, static_configs: [{targets: ['h:1']}]}]");
    let limits = LabelLimits::default();
    // __name__, instance and job: three labels.
    assert!(SeriesCache::default().scrape(&t, &[], b"ok 1\n", 0, &limits).is_ok());
    let error = SeriesCache::default().scrape(&t, &[], b"ok 1\nmany{a=\"1\"} 1\n", 0, &limits).unwrap_err();
    assert_eq!(error, "label_limit exceeded (metric: many, number of labels: 4, limit: 3)");
    let t = target("scrape_configs: [{job_name: j, label_name_length_limit: 8, static_configs: [{targets: ['h:1']}]}]");
    let error = SeriesCache::default().scrape(&t, &[], b"x{a_long_name=\"1\"} 1\n", 0, &limits).unwrap_err();
    assert_eq!(error, "label_name_length_limit exceeded (metric: x, label name: a_long_name, length: 11, limit: 8)");
}

#[test]
fn two_texts_of_one_series_write_it_once_and_keep_it_live() {
    // `labeldrop` makes a{x="1"} and a{x="2"} one series.
    let t = target("scrape_configs: [{job_name: j, metric_relabel_configs: [{regex: x, action: labeldrop}], static_configs: [{targets: ['h:1']}]}]");
    let limits = LabelLimits::default();
    let mut cache = SeriesCache::default();
    let first = cache.scrape(&t, &[], b"a{x=\"1\"} 1\na{x=\"2\"} 2\na{x=\"1\",} 3\n", 1000, &limits).unwrap();
    assert_eq!(first.samples.iter().map(|(_, s)| s.value).collect::<Vec<_>>(), vec![1.0]);
    // One of the two texts gone: the series is still written, so not marked stale.
    let second = cache.scrape(&t, &[], b"a{x=\"2\"} 5\n", 2000, &limits).unwrap();
    assert_eq!(second.samples.iter().map(|(_, s)| s.value).collect::<Vec<_>>(), vec![5.0]);
}

#[test]
fn start_timestamps_go_with_the_series_kept_and_their_sample_times() {
    let t = target("scrape_configs: [{job_name: j, honor_timestamps: true, metric_relabel_configs: [{source_labels: [__name__], regex: 'drop_.*', action: drop}], static_configs: [{targets: ['h:1']}]}]");
    let limits = LabelLimits::default();
    let text = "a_total 1\ndrop_me_total 2\nb_total 3 1500\na_total 4\nc 5\n";
    let mut starts = LineStarts::default();
    for line in 0..4 {
        starts.push(line, 100 + line as i64);
    }
    let mut native = native_line("lat", None);
    native.start_ms = Some(900);
    let the_answer = answer(text, vec![native, native_line("plain", None)]);
    let mut cache = SeriesCache::default();
    let first = cache.scrape_answer_with_starts(&t, &[], &the_answer, &starts, 2000, &limits).unwrap();
    // The dropped series and the repeated one get none (a repeated series keeps its first
    // sample); a sample with its own time starts before that.
    let at = |index: usize| first.samples[index].0.metric_name().unwrap_or("").to_string();
    let floats: Vec<(String, tsdb::StartTimestamp)> = first.starts.samples.iter().map(|&(index, start)| (at(index), start)).collect();
    assert_eq!(floats, vec![("a_total".to_string(), tsdb::StartTimestamp { start_ms: 100, sample_ms: 2000 }), ("b_total".to_string(), tsdb::StartTimestamp { start_ms: 102, sample_ms: 1500 })]);
    assert_eq!(first.starts.histograms, vec![(0, tsdb::StartTimestamp { start_ms: 900, sample_ms: 2000 })]);
    assert_eq!(first.histograms[0].0.metric_name(), Some("lat"));
    // The staleness markers of the next scrape have none.
    let second = cache.scrape_answer_with_starts(&t, &[], &answer("c 5\n", vec![]), &LineStarts::default(), 3000, &limits).unwrap();
    assert!(second.samples.iter().any(|(_, s)| tsdb::is_stale_nan(s.value)));
    assert!(second.starts.is_empty());
    // Without line starts the lines have none; a native histogram carries its own.
    let plain = SeriesCache::default().scrape_answer(&t, &[], &the_answer, 2000, &limits).unwrap();
    assert_eq!((plain.starts.samples.len(), plain.starts.histograms.len()), (0, 1));
}

#[test]
fn a_scrapes_batch_carries_each_start_on_its_series() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let mut starts = LineStarts::default();
    starts.push(1, 500);
    let mut native = native_line("lat", None);
    native.start_ms = Some(600);
    let scraped = SeriesCache::default().scrape_answer_with_starts(&t, &[], &answer("a 1\nb_total 2\n", vec![native]), &starts, 2000, &LabelLimits::default()).unwrap();
    let mut series = scraped.samples;
    // The report series come after, without starts.
    series.extend(report_series(&report_labels(&t, &[]), 2000, &[1.0; 5]));
    let batch = scrape_batch(series, scraped.histograms, Vec::new(), scraped.starts).unwrap().expect("a batch");
    assert!(batch.has_start_timestamps());
    let got: Vec<(String, Vec<tsdb::StartTimestamp>)> = batch.iter().filter(|s| !s.start_timestamps().is_empty()).map(|s| (s.to_labels().metric_name().unwrap_or("").to_string(), s.start_timestamps().to_vec())).collect();
    assert_eq!(
        got,
        vec![("b_total".to_string(), vec![tsdb::StartTimestamp { start_ms: 500, sample_ms: 2000 }]), ("lat".to_string(), vec![tsdb::StartTimestamp { start_ms: 600, sample_ms: 2000 }])]
    );
    assert_eq!(batch.len(), 8, "two floats, five report series, one histogram");
    // Without starts, histograms or exemplars: the plain batch of single samples.
    let plain = scrape_batch(vec![(Labels::from_pairs(vec![("__name__".to_string(), "x".to_string())]), Sample { timestamp_ms: 1, value: 1.0 })], Vec::new(), Vec::new(), SeriesStarts::default()).unwrap().expect("a batch");
    assert!(!plain.has_start_timestamps());
    assert!(scrape_batch(Vec::new(), Vec::new(), Vec::new(), SeriesStarts::default()).unwrap().is_none());
}

#[test]
fn answers_give_start_timestamps_only_when_asked_and_never_in_the_text_format() {
    let job = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]").job;
    let om = b"# TYPE a counter\na_total 1\na_created 1.5\n# EOF\n";
    let (answer, starts) = read_answer("application/openmetrics-text; version=1.0.0", om.to_vec(), &job, job.histogram_scraping(), true).unwrap();
    assert_eq!((answer.text.as_slice(), starts.iter().collect::<Vec<_>>()), (&b"# TYPE a counter\na_total 1\n\n"[..], vec![(1, 1500)]));
    let (answer, starts) = read_answer("application/openmetrics-text; version=1.0.0", om.to_vec(), &job, job.histogram_scraping(), false).unwrap();
    assert_eq!((answer.text.as_slice(), starts.is_empty()), (&b"# TYPE a counter\na_total 1\na_created 1.5\n"[..], true));
    let text = b"# TYPE a counter\na_total 1\na_created 1.5\n";
    let (answer, starts) = read_answer("text/plain; version=0.0.4", text.to_vec(), &job, job.histogram_scraping(), true).unwrap();
    assert_eq!((answer.text.as_slice(), starts.is_empty()), (&text[..], true));
    // Scraped, the `_created` line is no series and its start rides with `a_total`.
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let (answer, starts) = read_answer("application/openmetrics-text", om.to_vec(), &job, job.histogram_scraping(), true).unwrap();
    let scraped = SeriesCache::default().scrape_answer_with_starts(&t, &[], &answer, &starts, 2000, &LabelLimits::default()).unwrap();
    assert_eq!(names(&scraped), vec!["a_total{instance=\"h:1\", job=\"j\"} 1 2000"]);
    assert_eq!((scraped.scraped, scraped.starts.samples.clone()), (1, vec![(0, tsdb::StartTimestamp { start_ms: 1500, sample_ms: 2000 })]));
    // Converted to native histograms with custom buckets, a histogram takes its start.
    let nhcb = target("scrape_configs: [{job_name: j, convert_classic_histograms_to_nhcb: true, static_configs: [{targets: ['h:1']}]}]").job;
    let histogram = b"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\nh_created 7\n# EOF\n";
    let (answer, starts) = read_answer("application/openmetrics-text", histogram.to_vec(), &nhcb, nhcb.histogram_scraping(), true).unwrap();
    assert_eq!((answer.histograms.len(), answer.histograms[0].start_ms, starts.is_empty()), (1, Some(7_000), true));
}

#[test]
fn a_reloaded_loop_marks_stale_what_its_new_job_no_longer_writes() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    let limits = LabelLimits::default();
    let mut old = SeriesCache::default();
    old.scrape(&t, &[], b"a 1\nb 2\n", 1000, &limits).unwrap();
    let mut new = SeriesCache::default();
    new.inherit(old.into_handover());
    let first = new.scrape(&t, &[], b"a 1\n", 2000, &limits).unwrap();
    let stale: Vec<_> = first.samples.iter().filter(|(_, s)| tsdb::is_stale_nan(s.value)).map(|(l, _)| l.metric_name().unwrap_or("").to_string()).collect();
    assert_eq!((stale, first.added), (vec!["b".to_string()], 0));
}

#[test]
fn a_line_the_two_parsers_read_differently_is_refused() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]");
    // A label name holding `}`: the label block parser refuses it itself now.
    let error = scrape(&t, &[], b"a{x} 1 2 =\"v\"} 5\n", 0).unwrap_err();
    assert!(error.contains("line 1") && error.contains(r#"expected label="value""#), "{error}");
    // Whitespace other than ASCII ends the name for both.
    let e = scrape(&t, &[], "a\u{a0}1 2\n".as_bytes(), 0).unwrap();
    assert_eq!((e.samples[0].1.value, e.samples[0].1.timestamp_ms), (1.0, 2));
}

#[test]
fn report_series_carry_the_target_labels() {
    let t = target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1'], labels: {env: p}}]}]");
    let labels = report_labels(&t, &[("env".into(), "ignored".into()), ("dc".into(), "x".into())]);
    let text: Vec<String> = report_series(&labels, 9, &report_values(&t, [1.0, 0.5, 3.0, 2.0, 1.0], 7.0)).map(|(l, s)| format!("{} {}", l, s.value)).collect();
    assert_eq!(text.len(), 5);
    assert_eq!(text[0], "up{dc=\"x\", env=\"p\", instance=\"h:1\", job=\"j\"} 1");
    assert_eq!(text[4], "scrape_series_added{dc=\"x\", env=\"p\", instance=\"h:1\", job=\"j\"} 1");
    // extra_scrape_metrics: the timeout, the sample limit and the body's size too.
    let t = target("scrape_configs: [{job_name: j, extra_scrape_metrics: true, scrape_timeout: 3s, sample_limit: 50, static_configs: [{targets: ['h:1']}]}]");
    let labels = report_labels(&t, &[]);
    let text: Vec<String> = report_series(&labels, 9, &report_values(&t, [1.0, 0.5, 3.0, 2.0, 1.0], -1.0)).skip(5).map(|(l, s)| format!("{} {}", l, s.value)).collect();
    assert_eq!(
        text,
        vec![
            "scrape_timeout_seconds{instance=\"h:1\", job=\"j\"} 3",
            "scrape_sample_limit{instance=\"h:1\", job=\"j\"} 50",
            "scrape_body_size_bytes{instance=\"h:1\", job=\"j\"} -1",
        ]
    );
}

#[test]
fn scrapes_start_at_the_targets_offset() {
    // 1 s: 16 slots of 62 ms; key 7 is slot 7.
    assert_eq!(first_slot(7, 1000, 10_500), 11_434);
    assert_eq!(first_slot(7, 1000, 10_005), 10_434);
    assert_eq!(first_slot(23, 1000, 10_434), 10_434);
    // 100 ms: slots of at least 50 ms; 30 ms: one slot.
    assert_eq!(first_slot(3, 100, 1_001), 1_050);
    assert_eq!(first_slot(3, 30, 1_001), 1_020);
}

#[test]
fn victoriametrics_schedules_align_or_offset_the_scrapes() {
    use crate::scrape::config::ScrapeSchedule;
    // scrape_align_interval: the next multiple of it, whatever the target.
    assert_eq!(first_scrape_ms(ScrapeSchedule::AlignedTo(60_000), 7, 15_000, 125_000), 180_000);
    assert_eq!(first_scrape_ms(ScrapeSchedule::AlignedTo(60_000), 9, 15_000, 180_000), 180_000);
    // scrape_offset: that far into each interval, this one's or the next's.
    assert_eq!(first_scrape_ms(ScrapeSchedule::Offset(5_000), 7, 15_000, 31_000), 35_000);
    assert_eq!(first_scrape_ms(ScrapeSchedule::Offset(5_000), 7, 15_000, 36_000), 50_000);
    assert_eq!(first_scrape_ms(ScrapeSchedule::Spread, 7, 1000, 10_500), first_slot(7, 1000, 10_500));
    // Without staleness markers, only the markers go.
    let labels = Labels::from_pairs([("__name__", "x")]);
    let series = vec![(labels.clone(), Sample { timestamp_ms: 1, value: f64::from_bits(STALE_NAN_BITS) }), (labels.clone(), Sample { timestamp_ms: 2, value: f64::NAN })];
    let kept = without_stale_markers(series);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].1.timestamp_ms, 2);
}

#[test]
fn a_targets_series_limit_lets_in_the_first_series_of_the_day() {
    let mut window = tsdb::shard::series_window::SeriesWindowLimit::new(2, tsdb::shard::series_window::DAY_MS).expect("a limit");
    let sample = |name: &str, value: f64| (Labels::from_pairs([("__name__", name)]), Sample { timestamp_ms: 1, value });
    let mut series = vec![sample("a", 1.0), sample("b", 2.0), sample("c", 3.0)];
    let (mut histograms, mut exemplars) = (Vec::new(), vec![(Labels::from_pairs([("__name__", "c")]), Vec::new()), (Labels::from_pairs([("__name__", "a")]), Vec::new())]);
    assert_eq!(limit_series(&mut window, 1_000, &mut series, &mut histograms, &mut exemplars), 1);
    assert_eq!(series.iter().map(|(l, _)| l.to_string()).collect::<Vec<_>>(), vec!["a{}", "b{}"]);
    assert_eq!(exemplars.len(), 1, "the left-out series' exemplars go with it");
    // Staleness markers only for series let in: c never appears.
    let stale = f64::from_bits(STALE_NAN_BITS);
    let mut series = vec![sample("a", stale), sample("c", stale), sample("b", 5.0)];
    assert_eq!(limit_series(&mut window, 2_000, &mut series, &mut histograms, &mut Vec::new()), 0);
    assert_eq!(series.iter().map(|(l, _)| l.to_string()).collect::<Vec<_>>(), vec!["a{}", "b{}"]);
    // A target's __series_limit__ label sets its own limit, 0 none.
    let t = target("scrape_configs: [{job_name: j, series_limit: 10, static_configs: [{targets: ['h:1']}], relabel_configs: [{target_label: __series_limit__, replacement: '3'}]}]");
    assert_eq!(t.series_limit, 3);
    let t = target("scrape_configs: [{job_name: j, series_limit: 10, static_configs: [{targets: ['h:1']}]}]");
    assert_eq!(t.series_limit, 10);
}

fn future_size<F, A, B, C>(_: impl Fn(A, B, C) -> F) -> usize {
    std::mem::size_of::<F>()
}

/// Each target's loop lives between scrapes as its future: the request and the store
/// are boxed only while they run, so a server with 20,000 targets does not hold 20,000
/// of their largest states (over 10 KiB each when they were inline). The loop's own state
/// across a store is about 1 KiB (1,064 bytes since the scrape report is kept for
/// `/targets`' sample count).
#[test]
fn an_idle_loop_is_small() {
    let size = future_size(run);
    assert!(size <= 1088, "the scrape loop's future takes {size} bytes");
}

#[test]
fn series_get_their_familys_type_and_unit_labels_when_asked() {
    let t = target("scrape_configs: [{job_name: j, metric_relabel_configs: [{source_labels: [__type__], regex: summary, action: drop}], static_configs: [{targets: ['h:1']}]}]");
    let text = "# TYPE req_seconds histogram\n# UNIT req_seconds seconds\nreq_seconds_bucket{le=\"1\"} 2\nreq_seconds_count 2\n\
                # TYPE up_total counter\nup_total{__type__=\"gauge\"} 1\nloose 3\n# TYPE lat summary\nlat_count 1\n";
    let body = answer(text, vec![native_line("native_seconds{a=\"x\"}", None)]);
    let body = Answer { text: [body.text, b"# TYPE native_seconds histogram\n# UNIT native_seconds seconds\n".to_vec()].concat(), ..body };
    let mut cache = SeriesCache::default();
    cache.label_types_and_units();
    let scraped = cache.scrape_answer(&t, &[], &body, 1000, &LabelLimits::default()).unwrap();
    assert_eq!(
        names(&scraped),
        [
            r#"req_seconds_bucket{__type__="histogram", __unit__="seconds", instance="h:1", job="j", le="1.0"} 2 1000"#,
            r#"req_seconds_count{__type__="histogram", __unit__="seconds", instance="h:1", job="j"} 2 1000"#,
            r#"up_total{__type__="counter", instance="h:1", job="j"} 1 1000"#,
            r#"loose{instance="h:1", job="j"} 3 1000"#,
        ],
        "metadata replaces an exposed __type__; relabeling sees __type__ (the summary dropped)"
    );
    let histograms: Vec<String> = scraped.histograms.iter().map(|(l, _)| l.to_string()).collect();
    assert_eq!(histograms, [r#"native_seconds{__type__="histogram", __unit__="seconds", a="x", instance="h:1", job="j"}"#]);
    // The same series text under another type is labelled anew, not taken from the cache.
    let changed = answer(&text.replace("up_total counter", "up_total gauge"), Vec::new());
    let scraped = cache.scrape_answer(&t, &[], &changed, 2000, &LabelLimits::default()).unwrap();
    assert!(names(&scraped).contains(&r#"up_total{__type__="gauge", instance="h:1", job="j"} 1 2000"#.to_string()), "{:?}", names(&scraped));
    // Off (the default), the labels are as exposed.
    let scraped = SeriesCache::default().scrape_answer(&t, &[], &changed, 1000, &LabelLimits::default()).unwrap();
    assert!(names(&scraped).contains(&r#"up_total{__type__="gauge", instance="h:1", job="j"} 1 1000"#.to_string()));
    assert!(names(&scraped).iter().all(|n| !n.contains("__unit__")));
}

/// Each sample's metric name, value and start time (0: none).
fn values_and_starts(scraped: &Scraped) -> Vec<(String, f64, i64)> {
    let start_of = |at: usize| scraped.starts.samples.iter().find(|(i, _)| *i == at).map_or(0, |(_, s)| s.start_ms);
    let mut out: Vec<_> = scraped.samples.iter().enumerate().map(|(i, (l, s))| (format!("{}{}", l.get("__name__").unwrap_or(""), l.get("quantile").map(|q| format!("/{q}")).unwrap_or_default()), s.value, start_of(i))).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A target and a cache that synthesizes start times.
fn synthesizing() -> (Target, SeriesCache) {
    let mut cache = SeriesCache::default();
    cache.synthesize_start_timestamps();
    (target("scrape_configs: [{job_name: j, static_configs: [{targets: ['h:1']}]}]"), cache)
}

#[test]
fn start_synthesis_counts_cumulative_series_from_their_first_sample() {
    let (t, mut cache) = synthesizing();
    let limits = LabelLimits::default();
    let body = |n: f64| format!("# TYPE requests counter\nrequests_total {n}\n# TYPE temperature gauge\ntemperature {n}\n# TYPE rpc summary\nrpc{{quantile=\"0.5\"}} {n}\nrpc_sum {n}\nrpc_count {n}\nuntyped_total {n}\n");
    let owned = |rows: &[(&str, f64, i64)]| rows.iter().map(|(n, v, s)| (n.to_string(), *v, *s)).collect::<Vec<_>>();
    // The first scrape stores what synthesis leaves alone: the gauge, the quantile and the
    // series of no type.
    let first = cache.scrape(&t, &[], body(10.0).as_bytes(), 1_000, &limits).unwrap();
    assert_eq!(values_and_starts(&first), owned(&[("rpc/0.5", 10.0, 0), ("temperature", 10.0, 0), ("untyped_total", 10.0, 0)]));
    // The three held back count as kept after relabeling, as in Prometheus.
    assert_eq!(first.kept, 6);
    // Then the counter and the summary's count and sum, less their first values, started then.
    let second = cache.scrape(&t, &[], body(25.0).as_bytes(), 2_000, &limits).unwrap();
    assert_eq!(
        values_and_starts(&second),
        owned(&[("requests_total", 15.0, 1_000), ("rpc/0.5", 25.0, 0), ("rpc_count", 15.0, 1_000), ("rpc_sum", 15.0, 1_000), ("temperature", 25.0, 0), ("untyped_total", 25.0, 0)])
    );
    assert_eq!(second.added, 3, "the series stored for the first time now");
    // A drop is a reset: counted from zero, started just before.
    let third = cache.scrape(&t, &[], body(3.0).as_bytes(), 3_000, &limits).unwrap();
    assert!(values_and_starts(&third).contains(&("requests_total".to_string(), 3.0, 2_999)), "{:?}", values_and_starts(&third));
    // A reload's loop takes the state over: no sample is dropped again.
    let mut successor = SeriesCache::default();
    successor.synthesize_start_timestamps();
    successor.inherit(cache.into_handover());
    let fourth = successor.scrape(&t, &[], body(4.0).as_bytes(), 4_000, &limits).unwrap();
    assert!(values_and_starts(&fourth).contains(&("requests_total".to_string(), 4.0, 2_999)), "{:?}", values_and_starts(&fourth));
    // Without the option nothing changes.
    let plain = scrape(&t, &[], body(10.0).as_bytes(), 1_000).unwrap();
    assert_eq!(plain.samples.len(), 6);
    assert!(plain.starts.is_empty());
}

#[test]
fn start_synthesis_subtracts_a_native_histograms_first_sample() {
    let (t, mut cache) = synthesizing();
    let limits = LabelLimits::default();
    let text = "# TYPE latency histogram\n# TYPE queue gaugehistogram\n";
    let doubled = |mut line: NativeHistogramLine| {
        let h = &mut line.histogram;
        (h.count, h.sum, h.zero_count, h.positive_buckets) = (h.count * 2.0, h.sum * 2.0, h.zero_count * 2.0, vec![2.0, 1.0, 2.0, 2.0]);
        line
    };
    let first = cache.scrape_answer(&t, &[], &answer(text, vec![native_line("latency", None), native_line("queue", None)]), 1_000, &limits).unwrap();
    assert_eq!(first.kept, 2, "the held back histogram counts as kept");
    let stored = |scraped: &Scraped| scraped.histograms.iter().map(|(l, _)| l.get("__name__").unwrap_or("").to_string()).collect::<Vec<_>>();
    assert_eq!(stored(&first), ["queue"], "the gauge histogram is left alone");
    let second = cache.scrape_answer(&t, &[], &answer(text, vec![doubled(native_line("latency", None)), native_line("queue", None)]), 2_000, &limits).unwrap();
    let (_, latency) = second.histograms.iter().find(|(l, _)| l.get("__name__") == Some("latency")).expect("latency stored");
    let h = &latency.histogram;
    // Less the first: the bucket that did not move is compacted away.
    assert_eq!((h.count, h.sum, h.zero_count, h.positive_buckets.clone()), (5.0, 6.0, 1.0, vec![1.0, 1.0, 1.0]));
    assert_eq!(h.positive_spans, vec![tsdb::BucketSpan { offset: 1, length: 1 }, tsdb::BucketSpan { offset: 1, length: 2 }]);
    let at = second.histograms.iter().position(|(l, _)| l.get("__name__") == Some("latency")).unwrap_or(usize::MAX);
    assert_eq!(second.starts.histograms, vec![(at, tsdb::StartTimestamp { start_ms: 1_000, sample_ms: 2_000 })]);
}
