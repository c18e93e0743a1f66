//! Fuzz target: Graphite render input never panics. The text's first line is a target,
//! evaluated over three small fixed series whatever it selects (every function with
//! whatever arguments the fuzzer finds, within a bounded grid) and written in every answer
//! format (JSON, csv, raw); the other lines go to the time parser, the tag-expression parser
//! and the glob translation, whose regular expression must always compile.
#![no_main]

use std::future::Future;
use std::pin::Pin;

use graphite::{EvalConfig, FetchRequest, Fetcher, RawSeries};

const FROM_MS: i64 = 1_700_000_000_000;
const STEP_MS: i64 = 10_000;

struct FixedSeries;

impl Fetcher for FixedSeries {
    fn fetch<'a>(&'a self, request: FetchRequest) -> Pin<Box<dyn Future<Output = Result<Vec<RawSeries>, graphite::Error>> + 'a>> {
        Box::pin(async move {
            let series = |labels: &[(&str, &str)], f: fn(i64) -> f64| {
                let timestamps_ms: Vec<i64> = (0..)
                    .map(|k| request.from_ms.max(FROM_MS - 100 * STEP_MS) + k * STEP_MS - 1_000)
                    .take_while(|t| *t <= request.until_ms)
                    .take(2_000)
                    .collect();
                let values = timestamps_ms.iter().map(|t| f(t / STEP_MS)).collect();
                RawSeries { labels: labels.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(), timestamps_ms, values }
            };
            Ok(vec![
                series(&[("__name__", "a.b.c")], |k| (k % 7) as f64),
                series(&[("__name__", "a.b.d"), ("dc", "eu")], |k| if k % 5 == 0 { f64::NAN } else { -(k % 11) as f64 * 0.5 }),
                series(&[("__name__", "x.y"), ("dc", "us"), ("host", "h1")], |k| (k % 3) as f64 * 1e300),
            ])
        })
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.lines();
    let target = lines.next().unwrap_or("");
    let config = EvalConfig {
        from_ms: FROM_MS,
        until_ms: FROM_MS + 30 * STEP_MS,
        now_ms: FROM_MS + 30 * STEP_MS,
        storage_step_ms: STEP_MS,
        x_files_factor: 0.0,
        max_data_points: Some(7),
        max_points_per_series: 5_000,
    };
    if let Ok(series) = futures_lite::future::block_on(graphite::render(&[target.to_string()], &config, &FixedSeries)) {
        let _ = graphite::render_json(&series, Some("cb"));
        let _ = graphite::render_csv(&series);
        let _ = graphite::render_raw(&series);
    }
    for line in lines {
        let _ = graphite::parse_time(line, FROM_MS);
        let _ = graphite::tag_expr::parse(line);
        if let Ok(regex) = promql::graphite_glob::glob_regex(line, '.') {
            assert!(regex::Regex::new(&format!("^(?:{regex})$")).is_ok(), "{line:?} gave {regex:?}");
        }
    }
});
