//! Times a dashboard-style range query over in-memory data (engine only, no server):
//! `sum by (job) (rate(http_requests_total[5m]))` over SERIES series for one hour at a 15 s
//! step. Usage: `cargo run --release -p metricstor-promql --example bench_range [SERIES] [stats]`
//! (`stats`: counting samples as `stats=true` asks).

use std::time::Instant;

use promql::{Engine, EngineOptions, MemQuerier};
use tsdb::{Labels, Sample, SeriesSamples};

fn main() {
    let series: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let with_stats = std::env::args().nth(2).as_deref() == Some("stats");
    let step_ms: i64 = 15_000;
    let points = (2 * 3_600_000 / step_ms) as usize;
    let data = MemQuerier {
        series: (0..series)
            .map(|i| SeriesSamples {
                labels: Labels::from_pairs([
                    ("__name__", "http_requests_total".to_string()),
                    ("job", format!("job-{}", i % 20)),
                    ("instance", format!("host-{i}")),
                ]),
                samples: (0..points).map(|k| Sample { timestamp_ms: k as i64 * step_ms, value: (k * (i % 7 + 1)) as f64 }).collect(),
                histograms: Vec::new(),
                starts: None,
            })
            .collect(),
    };
    let engine = Engine::new(EngineOptions::default());
    let (start, end) = (3_600_000, 7_200_000);
    for round in 0..3 {
        let started = Instant::now();
        let prepared = engine.prepare_range("sum by (job) (rate(http_requests_total[5m]))", start, end, step_ms).expect("query parses");
        let prepared = if with_stats { prepared.with_sample_stats() } else { prepared };
        let result = prepared.execute(&data).expect("query runs");
        let elapsed = started.elapsed();
        let groups = match result.value {
            promql::Value::Matrix(m) => m.len(),
            _ => 0,
        };
        println!("round {round}: {series} series x {} steps -> {groups} series in {:.1} ms", (end - start) / step_ms + 1, elapsed.as_secs_f64() * 1000.0);
    }
}
