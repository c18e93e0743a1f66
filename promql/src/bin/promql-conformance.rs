//! Runs Prometheus' PromQL test scripts from a corpus directory against our engine and
//! prints passed/failed/skipped per file and in total. Usage:
//! `promql-conformance DIR [--verbose]` (e.g. the conformance/promql folder).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let Some(dir) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: promql-conformance DIR [--verbose]");
        return ExitCode::from(2);
    };
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "test")).collect(),
        Err(e) => {
            eprintln!("cannot read {dir}: {e}");
            return ExitCode::from(2);
        }
    };
    files.sort();
    let mut total = promql::promqltest::Tally::default();
    println!("{:<28} {:>7} {:>7} {:>8}", "file", "passed", "failed", "skipped");
    for path in files {
        let Ok(text) = std::fs::read_to_string(&path) else { continue };
        let (tally, failures) = promql::promqltest::run_script(&text);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!("{name:<28} {:>7} {:>7} {:>8}", tally.passed, tally.failed, tally.skipped);
        if verbose {
            for f in failures.iter().take(300) {
                println!("    {f}");
            }
        }
        total.passed += tally.passed;
        total.failed += tally.failed;
        total.skipped += tally.skipped;
    }
    let run = total.passed + total.failed;
    println!(
        "{:<28} {:>7} {:>7} {:>8}   ({:.1}% of evaluated cases pass)",
        "TOTAL",
        total.passed,
        total.failed,
        total.skipped,
        100.0 * total.passed as f64 / run.max(1) as f64
    );
    ExitCode::SUCCESS
}
