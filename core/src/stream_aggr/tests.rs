//! Aggregations end to end without a server: matching, input dropping, output naming and
//! relabeling, old samples, by hand-computed values.

use super::*;
use crate::ingest::label_limits::LabelLimits;

const NOW_MS: i64 = 1_700_000_000_000;

fn aggregators(yaml: &str) -> StreamAggregators {
    let section: StreamAggregationSection = serde_saphyr::from_str(yaml).expect("test YAML parses");
    let compiled = section.compile(LabelLimits::default()).expect("test config compiles");
    StreamAggregators::new(&section, compiled, NOW_MS).expect("at least one aggregation")
}

/// A series to write: its labels and `(timestamp, value)` samples.
type SeriesInput<'a> = (&'a [(&'a str, &'a str)], &'a [(i64, f64)]);

fn batch(series: &[SeriesInput<'_>]) -> SeriesBatch {
    let series: Vec<SeriesSamples> = series
        .iter()
        .map(|(labels, samples)| SeriesSamples {
            labels: Labels::from_pairs(labels.iter().copied()),
            samples: samples.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect(),
            histograms: Vec::new(),
            starts: None,
        })
        .collect();
    SeriesBatch::from_series(&series)
}

/// `name{a="b",…} value` lines, sorted.
fn shown(samples: Vec<OutputSample>) -> Vec<String> {
    let mut lines: Vec<String> = samples
        .into_iter()
        .map(|(labels, value)| {
            let name = labels.iter().find(|(n, _)| n == "__name__").map(|(_, v)| v.clone()).unwrap_or_default();
            let rest: Vec<String> = labels.iter().filter(|(n, _)| n != "__name__").map(|(n, v)| format!("{n}=\"{v}\"")).collect();
            format!("{name}{{{}}} {value}", rest.join(","))
        })
        .collect();
    lines.sort();
    lines
}

fn names_of(batch: &SeriesBatch) -> Vec<String> {
    batch.iter().map(|s| s.to_labels().to_string()).collect()
}

#[test]
fn by_groups_and_names_the_output() {
    let a = aggregators("configs:\n- match: 'requests_total'\n  interval: 1m\n  by: [job]\n  outputs: [total_prometheus, count_series, sum_samples]\n");
    let input = batch(&[
        (&[("__name__", "requests_total"), ("job", "api"), ("instance", "a")], &[(NOW_MS, 10.0), (NOW_MS + 10_000, 14.0)]),
        (&[("__name__", "requests_total"), ("job", "api"), ("instance", "b")], &[(NOW_MS, 5.0), (NOW_MS + 10_000, 2.0)]),
        (&[("__name__", "requests_total"), ("job", "db"), ("instance", "c")], &[(NOW_MS, 1.0)]),
        (&[("__name__", "other"), ("job", "api")], &[(NOW_MS, 1.0)]),
    ]);
    let stored = a.push(input, NOW_MS);
    assert_eq!(names_of(&stored), vec!["other{job=\"api\"}"], "matched inputs are not stored");
    assert_eq!(a.counters.input_samples_dropped.load(Ordering::Relaxed), 5);
    assert_eq!(a.counters.samples_aggregated.load(Ordering::Relaxed), 5);
    assert_eq!(
        shown(a.aggregators()[0].flush(NOW_MS + 60_000, false)),
        vec![
            // api: a +4, b reset to 2 (+2); first values skipped (total_prometheus).
            "requests_total:1m_by_job_count_series{job=\"api\"} 2",
            "requests_total:1m_by_job_count_series{job=\"db\"} 1",
            "requests_total:1m_by_job_sum_samples{job=\"api\"} 31",
            "requests_total:1m_by_job_sum_samples{job=\"db\"} 1",
            "requests_total:1m_by_job_total_prometheus{job=\"api\"} 6",
            "requests_total:1m_by_job_total_prometheus{job=\"db\"} 0",
        ]
    );
}

#[test]
fn without_drops_labels_from_the_output() {
    let a = aggregators("configs:\n- interval: 30s\n  without: [instance, pod]\n  outputs: [max]\n");
    a.push(
        batch(&[
            (&[("__name__", "temp"), ("room", "a"), ("instance", "1"), ("pod", "x")], &[(NOW_MS, 20.0)]),
            (&[("__name__", "temp"), ("room", "a"), ("instance", "2")], &[(NOW_MS, 22.5)]),
        ]),
        NOW_MS,
    );
    assert_eq!(shown(a.aggregators()[0].flush(NOW_MS + 30_000, false)), vec!["temp:30s_without_instance_pod_max{room=\"a\"} 22.5"]);
    // Without a metric name in the output, the name is the suffix alone.
    let a = aggregators("configs:\n- interval: 30s\n  without: [__name__]\n  outputs: [count_samples]\n");
    a.push(batch(&[(&[("__name__", "x"), ("job", "j")], &[(NOW_MS, 1.0)]), (&[("__name__", "y"), ("job", "j")], &[(NOW_MS, 1.0)])]), NOW_MS);
    assert_eq!(shown(a.aggregators()[0].flush(NOW_MS + 30_000, false)), vec![":30s_count_samples{job=\"j\"} 2"]);
}

#[test]
fn only_by_time_keeps_every_series_and_keep_metric_names_its_name() {
    let a = aggregators("configs:\n- match: '{__name__=~\"cpu.*\"}'\n  interval: 1m\n  outputs: [avg]\n  keep_metric_names: true\n");
    a.push(batch(&[(&[("__name__", "cpu"), ("core", "0")], &[(NOW_MS, 1.0), (NOW_MS + 1, 2.0)]), (&[("__name__", "cpu"), ("core", "1")], &[(NOW_MS, 4.0)])]), NOW_MS);
    assert_eq!(shown(a.aggregators()[0].flush(NOW_MS + 60_000, false)), vec!["cpu{core=\"0\"} 1.5", "cpu{core=\"1\"} 4"]);
}

#[test]
fn keep_input_and_drop_input() {
    let yaml = |extra: &str| format!("{extra}configs:\n- match: ['a', 'b{{x=\"1\"}}']\n  interval: 1m\n  outputs: [count_samples]\n");
    let input = || batch(&[(&[("__name__", "a")], &[(NOW_MS, 1.0)]), (&[("__name__", "b"), ("x", "2")], &[(NOW_MS, 1.0)]), (&[("__name__", "b"), ("x", "1")], &[(NOW_MS, 1.0)])]);
    assert_eq!(names_of(&aggregators(&yaml("")).push(input(), NOW_MS)), vec!["b{x=\"2\"}"]);
    assert_eq!(aggregators(&yaml("keep_input: true\n")).push(input(), NOW_MS).len(), 3);
    let dropping = aggregators(&yaml("drop_input: true\n"));
    assert!(dropping.push(input(), NOW_MS).is_empty());
    assert_eq!(dropping.counters.input_samples_dropped.load(Ordering::Relaxed), 3);
    // keep_input wins over drop_input, as in VictoriaMetrics.
    assert_eq!(aggregators(&yaml("keep_input: true\ndrop_input: true\n")).push(input(), NOW_MS).len(), 3);
    // MetricsQL's `or` between filters: either alternative is matched (and taken from the input).
    let either = aggregators("configs:\n- match: '{__name__=\"a\" or x=\"1\"}'\n  interval: 1m\n  outputs: [count_samples]\n");
    assert_eq!(names_of(&either.push(input(), NOW_MS)), vec!["b{x=\"2\"}"]);
}

#[test]
fn nan_and_old_samples_are_ignored() {
    let a = aggregators("configs:\n- interval: 1m\n  outputs: [count_samples]\n  ignore_old_samples: true\n");
    let aggregator = &a.aggregators()[0];
    aggregator.set_min_deadline_ms(NOW_MS);
    a.push(batch(&[(&[("__name__", "x")], &[(NOW_MS - 1, 1.0), (NOW_MS, f64::NAN), (NOW_MS, 2.0), (NOW_MS + 5, 3.0)])]), NOW_MS);
    assert_eq!(shown(aggregator.flush(NOW_MS + 60_000, false)), vec!["x:1m_count_samples{} 2"]);
    assert_eq!((a.counters.samples_ignored_old.load(Ordering::Relaxed), a.counters.samples_ignored_nan.load(Ordering::Relaxed)), (1, 1));
    // Without the option old samples count.
    let a = aggregators("configs:\n- interval: 1m\n  outputs: [count_samples]\n");
    a.aggregators()[0].set_min_deadline_ms(NOW_MS);
    a.push(batch(&[(&[("__name__", "x")], &[(NOW_MS - 1, 1.0)])]), NOW_MS);
    assert_eq!(shown(a.aggregators()[0].flush(NOW_MS + 60_000, false)), vec!["x:1m_count_samples{} 1"]);
}

#[test]
fn first_counter_values_count_after_the_ignore_interval() {
    let a = aggregators("configs:\n- interval: 1m\n  outputs: [total]\n  ignore_first_sample_interval: 10s\n");
    a.push(batch(&[(&[("__name__", "c"), ("i", "1")], &[(NOW_MS, 5.0)])]), NOW_MS);
    a.push(batch(&[(&[("__name__", "c"), ("i", "2")], &[(NOW_MS + 10_000, 7.0)])]), NOW_MS + 10_000);
    assert_eq!(shown(a.aggregators()[0].flush(NOW_MS + 60_000, false)), vec!["c:1m_total{i=\"1\"} 0", "c:1m_total{i=\"2\"} 7"]);
}

#[test]
fn stale_output_series_are_forgotten_and_the_last_flush_forgets_all() {
    let a = aggregators("configs:\n- interval: 1m\n  outputs: [total]\n  staleness_interval: 2m\n");
    let aggregator = &a.aggregators()[0];
    a.push(batch(&[(&[("__name__", "c")], &[(NOW_MS, 5.0)])]), NOW_MS);
    assert_eq!(shown(aggregator.flush(NOW_MS + 60_000, false)), vec!["c:1m_total{} 0"]);
    assert_eq!(shown(aggregator.flush(NOW_MS + 120_000, false)), vec!["c:1m_total{} 0"], "written while not stale");
    assert!(aggregator.flush(NOW_MS + 120_001, false).is_empty(), "past now + staleness_interval: gone");
    a.push(batch(&[(&[("__name__", "c")], &[(NOW_MS, 5.0)])]), NOW_MS);
    assert_eq!(aggregator.flush(NOW_MS + 1, true).len(), 1);
    assert!(aggregator.flush(NOW_MS + 2, false).is_empty());
}

#[test]
fn labels_dropped_relabeled_and_extra_labels_added() {
    let a = aggregators(
        "configs:\n- interval: 1m\n  by: [job]\n  outputs: [\"quantiles(0.5, 1)\", histogram_bucket]\n  drop_input_labels: [job]\n  input_relabel_configs:\n  - target_label: job\n    replacement: fixed\n  output_relabel_configs:\n  - source_labels: [__name__]\n    regex: '.*histogram_bucket'\n    action: drop\n",
    );
    a.push(batch(&[(&[("__name__", "lat"), ("job", "a")], &[(NOW_MS, 1.0), (NOW_MS + 1, 3.0)])]), NOW_MS);
    assert_eq!(
        shown(a.aggregators()[0].flush(NOW_MS + 60_000, false)),
        vec!["lat:1m_by_job_quantiles{job=\"fixed\",quantile=\"0.5\"} 3", "lat:1m_by_job_quantiles{job=\"fixed\",quantile=\"1\"} 3"]
    );
}

#[test]
fn flush_windows_align_to_the_interval_from_gos_zero_time() {
    assert_eq!(first_flush_window_start_ms(61_000, 60_000, true), 120_000);
    assert_eq!(first_flush_window_start_ms(120_000, 60_000, true), 120_000);
    assert_eq!(first_flush_window_start_ms(61_000, 60_000, false), 61_000);
    // 7s does not divide a day: Go's zero time is 62135596800s before the epoch, 4 mod 7.
    assert_eq!(first_flush_window_start_ms(0, 7_000, true), 3_000);
}

#[test]
fn flushed_samples_become_a_batch_at_the_flush_time() {
    let batch = batch_of(&[(vec![("__name__".to_string(), "x:1m_total".to_string()), ("job".to_string(), "a".to_string())], 4.0)], 120_000);
    assert_eq!(names_of(&batch), vec!["x:1m_total{job=\"a\"}"]);
    assert_eq!(batch.samples(), &[Sample { timestamp_ms: 120_000, value: 4.0 }]);
}

#[test]
fn dedup_keeps_the_last_sample_per_series_and_tick() {
    let a = aggregators("configs:\n- interval: 1m\n  dedup_interval: 30s\n  by: [job]\n  outputs: [sum_samples, count_samples]\n");
    let aggregator = &a.aggregators()[0];
    let x = [("__name__", "x"), ("job", "j"), ("i", "1")];
    let y = [("__name__", "x"), ("job", "j"), ("i", "2")];
    // x: 1 at t, 5 at t+2 (kept); y: 3 and 7 at one time (the greater kept).
    a.push(batch(&[(&x, &[(NOW_MS, 1.0)]), (&y, &[(NOW_MS, 3.0), (NOW_MS, 7.0)])]), NOW_MS);
    a.push(batch(&[(&x, &[(NOW_MS + 2, 5.0)])]), NOW_MS);
    assert!(aggregator.flush(NOW_MS + 1, false).is_empty(), "nothing reaches the outputs before the tick");
    aggregator.flush_dedup(NOW_MS + 30_000, NOW_MS + 30_000);
    // Next dedup window: x sends 2.
    a.push(batch(&[(&x, &[(NOW_MS + 40_000, 2.0)])]), NOW_MS + 40_000);
    aggregator.flush_dedup(NOW_MS + 60_000, NOW_MS + 60_000);
    assert_eq!(shown(aggregator.flush(NOW_MS + 60_000, false)), vec!["x:1m_by_job_count_samples{job=\"j\"} 3", "x:1m_by_job_sum_samples{job=\"j\"} 14"]);
    assert_eq!(a.counters.samples_deduplicated.load(Ordering::Relaxed), 2);
}

/// `section`'s aggregations as a reload puts them in place of `previous`'s.
fn replacing(previous: &StreamAggregators, yaml: &str, now_ms: i64) -> (Option<StreamAggregators>, Replaced) {
    let section: StreamAggregationSection = serde_saphyr::from_str(yaml).expect("test YAML parses");
    let compiled = section.compile(LabelLimits::default()).expect("test config compiles");
    StreamAggregators::replacing(Some(previous), &section, compiled, now_ms, previous.counters.clone())
}

#[test]
fn a_reload_keeps_unchanged_aggregations_with_their_state_and_restarts_changed_ones() {
    let kept = "- name: kept\n  match: x\n  interval: 1m\n  outputs: [count_samples]\n";
    let changed = "- name: changed\n  match: x\n  interval: 1m\n  outputs: [sum_samples]\n";
    let removed = "- name: removed\n  match: x\n  interval: 1m\n  outputs: [max]\n";
    let before = aggregators(&format!("configs:\n{kept}{changed}{removed}"));
    before.push(batch(&[(&[("__name__", "x")], &[(NOW_MS, 2.0), (NOW_MS + 1, 3.0)])]), NOW_MS);
    assert_eq!(before.aggregators()[0].counters.samples_aggregated.load(Ordering::Relaxed), 2);

    // `changed` now sums by job; a new item comes first, so `kept` moves to position 2.
    let added = "- name: added\n  match: x\n  interval: 1m\n  outputs: [count_series]\n";
    let changed_now = changed.replace("outputs: [sum_samples]", "outputs: [sum_samples]\n  by: [job]");
    let (after, replaced) = replacing(&before, &format!("configs:\n{added}{kept}{changed_now}"), NOW_MS + 10);
    let after = after.expect("three aggregations");
    assert_eq!(replaced, Replaced { kept: 1, started: 2, stopped: 2 }, "changed and removed stop; added and changed start");
    let names: Vec<&str> = after.aggregators().iter().map(|a| a.config.item.name.as_str()).collect();
    assert_eq!(names, ["added", "kept", "changed"]);
    assert!(Arc::ptr_eq(&after.aggregators()[1], &before.aggregators()[0]), "the unchanged item keeps its aggregation");
    assert!(!Arc::ptr_eq(&after.aggregators()[2], &before.aggregators()[1]), "a changed item gets a new one");
    // The kept aggregation's state goes on: its count holds the samples pushed before the
    // reload and those after; the changed one starts empty.
    after.push(batch(&[(&[("__name__", "x"), ("job", "j")], &[(NOW_MS + 20, 5.0)])]), NOW_MS + 20);
    assert_eq!(shown(after.aggregators()[1].flush(NOW_MS + 60_000, false)), vec!["x:1m_count_samples{job=\"j\"} 1", "x:1m_count_samples{} 2"]);
    assert_eq!(shown(after.aggregators()[2].flush(NOW_MS + 60_000, false)), vec!["x:1m_by_job_sum_samples{job=\"j\"} 5"]);
    assert_eq!(after.aggregators()[1].counters.samples_aggregated.load(Ordering::Relaxed), 3, "its counters go on too");
    assert_eq!(after.aggregators()[2].counters.samples_aggregated.load(Ordering::Relaxed), 1);
    // The totals count across the reload: 2 × 3 before, 1 × 3 after.
    assert_eq!(after.counters.samples_aggregated.load(Ordering::Relaxed), 9);
}

#[test]
fn a_reload_matches_repeated_items_once_each_and_can_remove_every_aggregation() {
    let item = "- match: x\n  interval: 1m\n  outputs: [count_samples]\n";
    let before = aggregators(&format!("configs:\n{item}{item}"));
    let (after, replaced) = replacing(&before, &format!("configs:\n{item}{item}{item}"), NOW_MS);
    let after = after.expect("three aggregations");
    assert_eq!(replaced, Replaced { kept: 2, started: 1, stopped: 0 });
    assert!(Arc::ptr_eq(&after.aggregators()[0], &before.aggregators()[0]) && Arc::ptr_eq(&after.aggregators()[1], &before.aggregators()[1]));
    let (none, replaced) = replacing(&after, "configs: []\n", NOW_MS);
    assert!(none.is_none());
    assert_eq!(replaced, Replaced { kept: 0, started: 0, stopped: 3 });
}

#[test]
fn per_aggregation_metrics_are_labelled_as_victoriametrics_labels_them() {
    let a = aggregators("configs:\n- name: by_job\n  match: x\n  interval: 1m\n  by: [job]\n  outputs: [sum_samples, count_samples]\n- interval: 1m\n  dedup_interval: 30s\n  outputs: [max]\n  ignore_old_samples: true\n");
    a.aggregators()[1].set_min_deadline_ms(NOW_MS);
    a.push(batch(&[(&[("__name__", "x"), ("job", "a")], &[(NOW_MS - 1, 1.0), (NOW_MS, 2.0)]), (&[("__name__", "x"), ("job", "b")], &[(NOW_MS, f64::NAN)])]), NOW_MS);
    let mut text = String::new();
    metrics::write_per_aggregation(&mut text, &a, "/etc/metricstor.yaml");
    let first = "outputs=\"sum_samples,count_samples\",name=\"by_job\",path=\"/etc/metricstor.yaml\",url=\"global\",position=\"1\"";
    let second = "outputs=\"max\",name=\"\",path=\"/etc/metricstor.yaml\",url=\"global\",position=\"2\"";
    for line in [
        format!("vm_streamaggr_matched_samples_total{{{first}}} 2"),
        format!("vm_streamaggr_matched_samples_total{{{second}}} 1"),
        format!("vm_streamaggr_ignored_samples_total{{reason=\"too_old\",{second}}} 1"),
        format!("vm_streamaggr_ignored_samples_total{{reason=\"nan\",{first}}} 1"),
        format!("metricstor_stream_aggr_state_series{{{first}}} 1"),
        format!("metricstor_stream_aggr_state_series{{{second}}} 0"),
        format!("vm_streamaggr_dedup_state_items_count{{{second}}} 1"),
        format!("vm_streamaggr_flush_duration_seconds_count{{{first}}} 0"),
    ] {
        assert!(text.contains(&format!("\n{line}\n")), "{line} in:\n{text}");
    }
    assert!(!text.contains(&format!("vm_streamaggr_dedup_state_items_count{{{first}}}")), "only aggregations with dedup_interval have dedup series");
}
