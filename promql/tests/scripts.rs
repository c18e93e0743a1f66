//! Runs Metricstor's own PromQL scripts in `promql/tests/*.test` (Prometheus test-script
//! format) and fails on any case that does not pass.

#[test]
fn own_scripts_pass() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut ran = 0;
    for entry in std::fs::read_dir(&dir).expect("tests dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "test") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read script");
        let (tally, failures) = promql::promqltest::run_script(&text);
        assert!(failures.is_empty(), "{}: {failures:#?}", path.display());
        assert_eq!(tally.skipped, 0, "{}: every case must be evaluated", path.display());
        assert!(tally.passed > 0, "{}: no cases ran", path.display());
        ran += tally.passed;
    }
    assert!(ran >= 20, "only {ran} cases ran");
}

/// Under `type_and_unit_labels` the non-counter info of `rate`/`increase` goes by `__type__`
/// (Prometheus' `TestRateAnnotations` cases for the feature), not by the name's suffix.
#[test]
fn non_counter_info_by_type_label() {
    let script = r#"
load 30s
  series{label="a"} 1 2 3
  series_total{label="a"} 1 2 3
  typed{__type__="counter"} 1 2 3
  hist{__type__="histogram"} 1 2 3
  level{__type__="gauge"} 1 2 3

eval instant at 1m rate(series[1m1s])
  expect info msg: PromQL info: metric might not be a counter, __type__ label is not set to "counter" or "histogram", got "": "series" (1:6)
  {label="a"} 0.03333333333333333

eval instant at 1m increase(series_total[1m1s])
  expect info msg: PromQL info: metric might not be a counter, __type__ label is not set to "counter" or "histogram", got "": "series_total" (1:10)
  {label="a"} 2.033333333333333

eval instant at 1m increase(level[1m1s])
  expect info msg: PromQL info: metric might not be a counter, __type__ label is not set to "counter" or "histogram", got "gauge": "level" (1:10)
  {} 2.033333333333333

eval instant at 1m rate(typed[1m1s])
  expect no_info
  {} 0.03333333333333333

eval instant at 1m sum(increase(hist[1m1s]))
  expect no_info
  {} 2.033333333333333
"#;
    let options = promql::EngineOptions { type_and_unit_labels: true, ..promql::promqltest::script_engine_options() };
    let (tally, failures) = promql::promqltest::run_script_with(script, options);
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!((tally.passed, tally.skipped), (5, 0));
    // Off, the same data is judged by its name: every case expects another info than it gets.
    let (tally, failures) = promql::promqltest::run_script(script);
    assert_eq!((tally.passed, failures.len()), (0, 5), "{failures:#?}");
}
