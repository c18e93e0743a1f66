//! Times the dashboard's heaviest panel over in-memory data (engine only, no server):
//! `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[20m])))`
//! over TARGETS targets x 12 buckets, 6 h at a 86 s step, data every 5 minutes (the
//! `bench/compare/dashboard.py` shape). Usage:
//! `cargo run --release -p metricstor-promql --example bench_histogram [TARGETS]`

use std::time::Instant;

use promql::{Engine, EngineOptions, MemQuerier};
use tsdb::{Labels, Sample, SeriesSamples};

const BOUNDS: [&str; 12] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];

fn main() {
    let targets: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5_556);
    let interval_ms: i64 = 300_000;
    let points = (7 * 3_600_000 / interval_ms) as usize;
    let mut series = Vec::with_capacity(targets * BOUNDS.len());
    for t in 0..targets {
        for (b, le) in BOUNDS.iter().enumerate() {
            series.push(SeriesSamples {
                labels: Labels::from_pairs([
                    ("__name__", "http_request_duration_seconds_bucket".to_string()),
                    ("instance", format!("10.0.{}.{}:9100", t / 250, t % 250)),
                    ("job", format!("job-{}", t % 20)),
                    ("le", le.to_string()),
                    ("namespace", format!("ns-{}", t % 10)),
                    ("pod", format!("pod-{t}")),
                ]),
                samples: (0..points)
                    .map(|k| Sample { timestamp_ms: k as i64 * interval_ms, value: (k * (b + 1) * (t % 5 + 1)) as f64 })
                    .collect(),
                histograms: Vec::new(),
                starts: None,
            });
        }
    }
    let data = MemQuerier { series };
    let engine = Engine::new(EngineOptions::default());
    let step_ms = 86_000;
    let end = 7 * 3_600_000 - 60_000;
    let start = end - 6 * 3_600_000;
    let query = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[20m])))";
    for round in 0..3 {
        let started = Instant::now();
        let prepared = engine.prepare_range(query, start, end, step_ms).expect("query parses");
        let result = prepared.execute(&data).expect("query runs");
        let points: usize = match &result.value {
            promql::Value::Matrix(m) => m.iter().map(|s| s.samples.len()).sum(),
            _ => 0,
        };
        println!(
            "round {round}: {} series x {} steps -> {points} points in {:.1} ms",
            targets * BOUNDS.len(),
            (end - start) / step_ms + 1,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}
