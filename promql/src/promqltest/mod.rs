//! Runner for Prometheus' PromQL test-script format (`load`, `load_with_nhcb`, `clear`,
//! `eval instant|range` with expected series, `expect fail|ordered|string|range vector`,
//! `expect warn|info|no_warn|no_info`, `metric@st` start-time lines):
//! parses a script, loads floats, native histograms and start times as Prometheus' TSDB would
//! hand them back, evaluates each case and compares with Prometheus' tolerance.

mod compare;
mod expect_annotations;
mod nhcb;
pub mod notation;
mod script;
mod start_notation;
mod storage;

use crate::engine::{Engine, EngineOptions, Value};
pub use compare::{almost_equal, histograms_match};
pub use expect_annotations::{AnnotationExpectations, AnnotationMatch};
pub use script::{parse_script, parse_series_notation, Case, Command, Expected, Outcome};
pub use storage::ScriptStorage;

/// Whether cases that read native histograms run. Until the engine evaluates them they are
/// skipped (as are the `histogram_*` functions and expectations of histograms), so the totals
/// only count what the engine is meant to get right.
pub const ENGINE_EVALUATES_NATIVE_HISTOGRAMS: bool = true;

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// The engine options Prometheus' own test harness runs scripts with: delayed name removal
/// and start times on.
pub fn script_engine_options() -> EngineOptions {
    EngineOptions { default_subquery_step_ms: 60_000, max_samples: 10_000_000, delayed_name_removal: true, use_start_timestamps: true, ..EngineOptions::default() }
}

/// Runs a whole script; returns the tally and a description of each failure.
pub fn run_script(text: &str) -> (Tally, Vec<String>) {
    run_script_with(text, script_engine_options())
}

/// As [`run_script`], with an engine of these options (a feature the harness leaves off).
pub fn run_script_with(text: &str, options: EngineOptions) -> (Tally, Vec<String>) {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let commands = parse_script(text);
    let mut data = ScriptStorage::default();
    let engine = Engine::new(options);
    let show_skips = std::env::var_os("PROMQLTEST_SHOW_SKIPS").is_some();
    for command in commands {
        match command {
            Command::Clear => data.clear(),
            Command::Load { series } => {
                for s in series {
                    data.load(s);
                }
            }
            Command::Skip(why) => {
                tally.skipped += 1;
                if show_skips {
                    failures.push(format!("skipped command: {why}"));
                }
            }
            Command::Eval(case) => match run_case(&engine, &data, &case) {
                Outcome::Pass => tally.passed += 1,
                Outcome::Skip => {
                    tally.skipped += 1;
                    if show_skips {
                        failures.push(format!("line {}: {}: skipped", case.line, case.query));
                    }
                }
                Outcome::Fail(why) => {
                    tally.failed += 1;
                    failures.push(format!("line {}: {}: {}", case.line, case.query, why));
                }
            },
        }
    }
    (tally, failures)
}

/// Functions that only act on native histograms, run once the engine evaluates them.
const HISTOGRAM_FUNCTIONS: &[&str] = &["histogram_count(", "histogram_sum(", "histogram_avg(", "histogram_fraction(", "histogram_stddev(", "histogram_stdvar("];

fn run_case(engine: &Engine, data: &ScriptStorage, case: &Case) -> Outcome {
    let histograms_skipped = !ENGINE_EVALUATES_NATIVE_HISTOGRAMS;
    if histograms_skipped && (HISTOGRAM_FUNCTIONS.iter().any(|f| case.query.contains(f)) || case.expected.has_histograms()) {
        return Outcome::Skip;
    }
    // An instant evaluation expecting a range vector runs at the end of that range.
    let eval_ms = case.range_vector.map_or(case.start_ms, |(_, end, _)| end);
    let prepared = match case.range {
        None => engine.prepare_instant(&case.query, eval_ms),
        Some((end, step)) => engine.prepare_range(&case.query, case.start_ms, end, step),
    };
    // While native histograms are not evaluated, a case that reads them is skipped.
    if let Ok(p) = &prepared {
        if histograms_skipped && p.selects().iter().any(|s| data.selects_histograms(&s.matchers, s.mint_ms, s.maxt_ms)) {
            return Outcome::Skip;
        }
    }
    let result = prepared.and_then(|p| p.execute(data));
    let result = match (result, &case.expected) {
        (Err(_), Expected::Fail) => return Outcome::Pass,
        (Err(e), _) => return Outcome::Fail(format!("unexpected error: {e}")),
        (Ok(_), Expected::Fail) => return Outcome::Fail("expected an error, got a result".into()),
        (Ok(r), _) => r,
    };
    if let Err(why) = case.annotations.check(&result.warnings, &result.infos) {
        return Outcome::Fail(why);
    }
    match (&case.expected, result.value) {
        (Expected::Scalar(want), Value::Scalar { value, .. }) => {
            if almost_equal(*want, value) {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("expected scalar {want}, got {value}"))
            }
        }
        (Expected::String(want), Value::String { value, .. }) => {
            if *want == value {
                Outcome::Pass
            } else {
                Outcome::Fail(format!("expected string {want:?}, got {value:?}"))
            }
        }
        (Expected::Series { series, ordered }, Value::Vector(got)) => compare::compare_vector(series, *ordered, &got),
        (Expected::Series { series, ordered }, Value::Matrix(got)) => {
            if *ordered {
                return Outcome::Fail("expected ordered result, but query returned a matrix".into());
            }
            match (case.range, case.range_vector) {
                (Some((end, step)), _) => compare::compare_matrix(series, &got, case.start_ms, end, step),
                (None, Some((start, end, step))) => compare::compare_matrix(series, &got, start, end, step),
                // An instant query's range vector without `expect range vector`: no point fits.
                (None, None) => compare::compare_matrix(series, &got, eval_ms, i64::MIN, 0),
            }
        }
        (Expected::Series { series, .. }, Value::Scalar { value, .. }) if case.range.is_none() && series.len() == 1 && series[0].0.is_empty() => match series[0].1.first() {
            Some(notation::SeqValue::Float(want)) if almost_equal(*want, value) => Outcome::Pass,
            _ => Outcome::Fail(format!("expected {:?}, got scalar {value}", series[0].1)),
        },
        (expected, value) => Outcome::Fail(format!("result type mismatch: expected {expected:?}, got {value:?}")),
    }
}
