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
