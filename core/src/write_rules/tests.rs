//! Reloading the rules from a file: what a good file puts in force, what a bad one leaves,
//! the counts and metrics that tell which, and a router following the generation.

use super::*;
use tsdb::{Labels, Sample, SeriesBatch, SeriesSamples};

const NOW_MS: i64 = 1_700_000_000_000;

/// Rules read from `dir/config.yaml`, written with `yaml` first, as the server reads them
/// at start.
fn rules_from(dir: &std::path::Path, yaml: &str) -> WriteRules {
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).expect("write the test config");
    let (config, resolved) = Config::load(Some(&path)).expect("the first config loads");
    let source = ReloadSource { path, started_with: Arc::new(config), limits: LabelLimits::default() };
    WriteRules::new(resolved.relabeler, resolved.stream_aggr, Some(source))
}

fn rewrite(rules: &WriteRules, yaml: &str) {
    std::fs::write(rules.path().expect("a file"), yaml).expect("rewrite the test config");
}

fn batch(names: &[&str]) -> SeriesBatch {
    let series: Vec<SeriesSamples> = names
        .iter()
        .map(|name| SeriesSamples { labels: Labels::from_pairs([("__name__", *name)]), samples: vec![Sample { timestamp_ms: NOW_MS, value: 1.0 }], histograms: Vec::new(), starts: None })
        .collect();
    SeriesBatch::from_series(&series)
}

fn kept_names(rules: &InForce, names: &[&str]) -> Vec<String> {
    rules.relabeler.apply_to_batch(batch(names)).iter().map(|s| s.to_labels().to_string()).collect()
}

fn metrics_of(rules: &WriteRules) -> String {
    let mut text = String::new();
    rules.write_text(&mut text);
    text
}

const DROP_A: &str = "relabel_configs:\n- action: drop\n  source_labels: [__name__]\n  regex: a\n";
const AGGREGATE_X: &str = "stream_aggregation:\n  configs:\n  - name: x\n    match: x\n    interval: 1m\n    outputs: [count_samples]\n";

#[test]
fn a_good_file_replaces_both_sections_and_moves_the_generation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = rules_from(dir.path(), "");
    let start = rules.in_force();
    assert_eq!((rules.generation(), kept_names(&start, &["a", "b"]).len(), start.stream_aggr.is_none()), (0, 2, true));
    rewrite(&rules, &format!("{DROP_A}{AGGREGATE_X}"));
    let reloaded = rules.reload(NOW_MS).expect("the new file compiles").expect("a file to read");
    assert_eq!(reloaded, Reloaded { relabel_rules: 1, aggregations: Replaced { kept: 0, started: 1, stopped: 0 }, restart_needed_for: Vec::new() });
    let now = rules.in_force();
    assert_eq!((rules.generation(), now.generation), (1, 1));
    assert_eq!(kept_names(&now, &["a", "b"]), ["b{}"]);
    assert_eq!(now.stream_aggr.as_ref().map(|s| s.aggregators().len()), Some(1), "stream aggregation turned on by a reload");
    assert!(rules.aggregations_changed().try_recv().is_ok(), "the flushers are woken");
    let text = metrics_of(&rules);
    for line in ["vm_relabel_config_reloads_total 1", "vm_relabel_config_reloads_errors_total 0", "vm_relabel_config_last_reload_successful 1", "vminsert_streamagg_config_reloads_total 1", "vminsert_streamagg_config_last_reload_successful 1", "metricstor_relabel_dropped_series_total 1"] {
        assert!(text.contains(&format!("\n{line}\n")), "{line} in:\n{text}");
    }
    assert!(text.contains("vm_streamaggr_matched_samples_total{outputs=\"count_samples\",name=\"x\","), "{text}");
    // And off again: the relabel counts go on.
    rewrite(&rules, "");
    rules.reload(NOW_MS).expect("an empty file is all defaults");
    let off = rules.in_force();
    assert!(off.stream_aggr.is_none());
    assert_eq!(kept_names(&off, &["a"]), ["a{}"]);
    assert_eq!(off.relabeler.dropped(), (1, 1), "counted across the reload");
    assert!(metrics_of(&rules).contains("\nmetricstor_stream_aggr_samples_aggregated_total 0\n"), "the totals stay shown once aggregation was on");
}

#[test]
fn a_bad_file_keeps_the_rules_in_force_and_names_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = rules_from(dir.path(), &format!("{DROP_A}{AGGREGATE_X}"));
    let before = rules.in_force();
    for (yaml, named) in [
        (format!("{AGGREGATE_X}relabel_configs:\n- action: replace\n  regex: '('\n"), "relabel_configs[0]"),
        (format!("{DROP_A}stream_aggregation:\n  configs:\n  - interval: 1m\n    outputs: [total, foo]\n"), "stream_aggregation.configs[0].outputs[1]: unsupported output \"foo\""),
        (format!("{DROP_A}stream_aggregation:\n  configs:\n  - interval: soon\n    outputs: [max]\n"), "stream_aggregation.configs[0].interval"),
        (format!("{DROP_A}stream_aggregatoin: {{}}\n"), "stream_aggregatoin"),
        ("relabel_configs: [\n".to_string(), "invalid config file"),
    ] {
        rewrite(&rules, &yaml);
        let error = rules.reload(NOW_MS).expect_err(&yaml);
        assert!(error.contains(named), "{named} in {error}");
        let now = rules.in_force();
        assert_eq!(rules.generation(), 0, "{yaml}");
        assert!(Arc::ptr_eq(&now.relabeler, &before.relabeler), "{yaml}");
        assert!(now.stream_aggr.as_ref().zip(before.stream_aggr.as_ref()).is_some_and(|(a, b)| Arc::ptr_eq(a, b)), "{yaml}");
    }
    std::fs::remove_file(rules.path().expect("a file")).expect("remove the file");
    let error = rules.reload(NOW_MS).expect_err("no file");
    assert!(error.contains("cannot read config file") && error.contains("config.yaml"), "{error}");
    let text = metrics_of(&rules);
    for line in ["vm_relabel_config_reloads_total 6", "vm_relabel_config_reloads_errors_total 6", "vm_relabel_config_last_reload_successful 0", "vminsert_streamagg_config_reloads_errors_total 6", "vminsert_streamagg_config_last_reload_successful 0"] {
        assert!(text.contains(&format!("\n{line}\n")), "{line} in:\n{text}");
    }
    // Fixed again: in force, and the gauges say so.
    rewrite(&rules, DROP_A);
    rules.reload(NOW_MS).expect("the file is good again");
    assert!(metrics_of(&rules).contains("\nvm_relabel_config_last_reload_successful 1\n"));
}

#[test]
fn other_sections_changed_are_named_not_applied_and_no_file_means_nothing_to_reload() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = rules_from(dir.path(), "server:\n  cores: 2\n");
    rewrite(&rules, &format!("server:\n  cores: 4\nstorage:\n  retention_days: 3\n{DROP_A}"));
    let reloaded = rules.reload(NOW_MS).expect("compiles").expect("a file");
    assert_eq!(reloaded.restart_needed_for, ["server", "storage"]);
    assert_eq!(WriteRules::default().reload(NOW_MS), Ok(None));
}

#[test]
fn the_configuration_in_force_has_the_reloaded_sections_and_the_others_as_started() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = rules_from(dir.path(), "server:\n  cores: 2\n");
    let started_with = Config::from_yaml("server:\n  cores: 2\n").expect("the start config");
    assert_eq!(rules.config_in_force(&started_with), started_with, "nothing reloaded yet");
    rewrite(&rules, &format!("server:\n  cores: 4\n{DROP_A}{AGGREGATE_X}"));
    rules.reload(NOW_MS).expect("compiles");
    let in_force = rules.config_in_force(&started_with);
    let reread = Config::from_yaml(&format!("server:\n  cores: 4\n{DROP_A}{AGGREGATE_X}")).expect("the new file");
    assert_eq!((&in_force.relabel_configs, &in_force.stream_aggregation), (&reread.relabel_configs, &reread.stream_aggregation));
    assert_eq!(in_force.server.cores, started_with.server.cores, "server needs a restart: shown as in force, not as in the file");
    // A broken file leaves the page as the last good reload made it.
    rewrite(&rules, "relabel_configs: [\n");
    rules.reload(NOW_MS).expect_err("broken");
    assert_eq!(rules.config_in_force(&started_with), in_force);
}

#[test]
fn a_router_takes_the_new_rules_at_its_next_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = Arc::new(rules_from(dir.path(), ""));
    let (tx, rx) = async_channel::bounded(4);
    let router = crate::shard::ShardRouter::new(vec![tx], Arc::default()).with_write_rules(rules.clone());
    // The shard owner: answers each append with the names it was given.
    let owner = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Ok(request) = rx.recv_blocking() {
            if let crate::shard::ShardRequest::Append { batch, series, reply } = request {
                seen.push(series.iter().map(|&i| batch.get(i as usize).to_labels().to_string()).collect::<Vec<_>>());
                let _ = reply.send(Ok(Default::default()));
            }
        }
        seen
    });
    let write = |names: &[&str]| futures_lite::future::block_on(router.append(batch(names))).expect("stored");
    write(&["a", "b"]);
    rewrite(&rules, DROP_A);
    rules.reload(NOW_MS).expect("compiles");
    write(&["a", "b"]);
    drop(router);
    let seen = owner.join().expect("owner thread");
    assert_eq!(seen, [vec!["a{}".to_string(), "b{}".to_string()], vec!["b{}".to_string()]]);
}

#[test]
fn the_file_check_sees_a_changed_or_missing_file_until_a_reload_takes_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = rules_from(dir.path(), DROP_A);
    assert!(!rules.file_changed(), "the file read at start");
    rewrite(&rules, &format!("{DROP_A}{AGGREGATE_X}"));
    assert!(rules.file_changed());
    rules.reload(NOW_MS).expect("compiles").expect("a file");
    assert!(!rules.file_changed(), "the file in force");
    // A broken file stays a change (each check tries it again, as the scrape file's does).
    rewrite(&rules, "relabel_configs: [");
    assert!(rules.reload(NOW_MS).is_err());
    assert!(rules.file_changed());
    std::fs::remove_file(rules.path().expect("a file")).expect("remove the test config");
    assert!(rules.file_changed(), "a file gone is a change");
    assert!(!WriteRules::default().file_changed(), "no file, nothing to check");
}
