//! Runner for Prometheus' PromQL test-script format (`load`, `clear`, `eval instant|range`
//! with expected series, `expect fail|ordered|string`): parses a script, loads its data
//! into a `MemQuerier`, evaluates each case and compares with Prometheus' tolerance.

pub mod notation;
mod script;

use tsdb::{Labels, Querier, Sample, SeriesSamples};

use crate::engine::{Engine, EngineOptions, MemQuerier, Value};
pub use script::{parse_script, Case, Command, Expected, Outcome};

/// Prometheus' `almost.Equal` with epsilon 1e-6 (NaN equals NaN).
pub fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 1e-6;
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < EPSILON
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Runs a whole script; returns the tally and a description of each failure.
pub fn run_script(text: &str) -> (Tally, Vec<String>) {
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    let commands = parse_script(text);
    let mut data = MemQuerier::default();
    let mut unsupported = MemQuerier::default();
    // As Prometheus' own test harness runs them: with delayed name removal.
    let engine = Engine::new(EngineOptions { default_subquery_step_ms: 60_000, max_samples: 10_000_000, delayed_name_removal: true, ..EngineOptions::default() });
    for command in commands {
        match command {
            Command::Clear => {
                data.series.clear();
                unsupported.series.clear();
            }
            Command::Load { series, unsupported: others } => {
                for s in series {
                    merge_series(&mut data.series, s);
                }
                for s in others {
                    merge_series(&mut unsupported.series, s);
                }
            }
            Command::Skip(why) => {
                tally.skipped += 1;
                if std::env::var_os("PROMQLTEST_SHOW_SKIPS").is_some() {
                    failures.push(format!("skipped command: {why}"));
                }
            }
            Command::Eval(case) => match run_case(&engine, &data, &unsupported, &case) {
                Outcome::Pass => tally.passed += 1,
                Outcome::Skip => {
                    tally.skipped += 1;
                    if std::env::var_os("PROMQLTEST_SHOW_SKIPS").is_some() {
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

fn merge_series(all: &mut Vec<SeriesSamples>, new: SeriesSamples) {
    match all.iter_mut().find(|s| s.labels == new.labels) {
        Some(existing) => {
            // A later load of the same timestamp wins.
            let mut merged: std::collections::BTreeMap<i64, Sample> = existing.samples.iter().map(|s| (s.timestamp_ms, *s)).collect();
            merged.extend(new.samples.into_iter().map(|s| (s.timestamp_ms, s)));
            existing.samples = merged.into_values().collect();
        }
        None => all.push(new),
    }
}

fn describe(labels: &Labels) -> String {
    labels.to_string()
}

/// Functions that only act on what this project does not model yet: native histograms and
/// start timestamps. Cases using them are skipped.
const UNSUPPORTED_FUNCTIONS: &[&str] = &[
    "histogram_count(",
    "histogram_sum(",
    "histogram_avg(",
    "histogram_fraction(",
    "histogram_stddev(",
    "histogram_stdvar(",
    "start_timestamp(",
];

fn run_case(engine: &Engine, data: &MemQuerier, unsupported: &MemQuerier, case: &Case) -> Outcome {
    if UNSUPPORTED_FUNCTIONS.iter().any(|f| case.query.contains(f)) {
        return Outcome::Skip;
    }
    let prepared = match case.range {
        None => engine.prepare_instant(&case.query, case.start_ms),
        Some((end, step)) => engine.prepare_range(&case.query, case.start_ms, end, step),
    };
    // A case that reads native-histogram samples (or other unmodelled samples) is skipped.
    if let Ok(p) = &prepared {
        if p.selects().iter().any(|s| !unsupported.select(&s.matchers, s.mint_ms, s.maxt_ms).is_empty()) {
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
        (Expected::Series { series, ordered }, Value::Vector(got)) => {
            let got: Vec<(Labels, Vec<Option<f64>>)> = got.into_iter().map(|s| (s.labels, vec![Some(s.value)])).collect();
            compare(series, got, *ordered)
        }
        (Expected::Series { series, ordered }, Value::Matrix(got)) => {
            let got: Vec<(Labels, Vec<Option<f64>>)> = match case.range {
                Some((end, step)) => got
                    .into_iter()
                    .map(|s| {
                        let steps = ((end - case.start_ms) / step + 1) as usize;
                        let mut values = vec![None; steps];
                        for Sample { timestamp_ms, value } in s.samples {
                            let i = ((timestamp_ms - case.start_ms) / step) as usize;
                            if i < steps {
                                values[i] = Some(value);
                            }
                        }
                        (s.labels, values)
                    })
                    .collect(),
                None => return Outcome::Skip, // instant query returning a range vector: format not compared yet
            };
            compare(series, got, *ordered)
        }
        (Expected::Series { series, .. }, Value::Scalar { value, .. }) if case.range.is_none() && series.len() == 1 && series[0].0.is_empty() => {
            match series[0].1.first() {
                Some(Some(want)) if almost_equal(*want, value) => Outcome::Pass,
                _ => Outcome::Fail(format!("expected {:?}, got scalar {value}", series[0].1)),
            }
        }
        (expected, value) => Outcome::Fail(format!("result type mismatch: expected {expected:?}, got {value:?}")),
    }
}

fn compare(want: &[(Labels, Vec<Option<f64>>)], got: Vec<(Labels, Vec<Option<f64>>)>, ordered: bool) -> Outcome {
    if want.len() != got.len() {
        let got_names: Vec<String> = got.iter().take(5).map(|(l, _)| describe(l)).collect();
        return Outcome::Fail(format!("expected {} series, got {}: {}", want.len(), got.len(), got_names.join(" ")));
    }
    for (i, (labels, values)) in want.iter().enumerate() {
        let found = if ordered { got.get(i).filter(|(l, _)| l == labels) } else { got.iter().find(|(l, _)| l == labels) };
        let Some((_, got_values)) = found else {
            return Outcome::Fail(format!("missing series {}", describe(labels)));
        };
        // Steps after the listed values expect no point.
        let equal = values.len() <= got_values.len()
            && values.iter().chain(std::iter::repeat(&None)).zip(got_values).all(|(a, b)| match (a, b) {
                (None, None) => true,
                (Some(x), Some(y)) => almost_equal(*x, *y),
                _ => false,
            });
        if !equal {
            return Outcome::Fail(format!("series {}: expected {values:?}, got {got_values:?}", describe(labels)));
        }
    }
    Outcome::Pass
}
