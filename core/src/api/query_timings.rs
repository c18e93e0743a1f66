//! Prometheus' query timing metrics, shared by every executor:
//! `prometheus_engine_query_duration_seconds` (a summary by `slice`) and its classic histogram
//! `prometheus_engine_query_duration_histogram_seconds`, which the monitoring mixin's
//! dashboards read. Quantiles are taken over the last observations of the last 10 minutes.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The parts of a query Prometheus times, in its `slice` label's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slice {
    /// Evaluation (here the evaluation thread's whole run).
    InnerEval,
    /// Parsing and, here, fetching the selects from the shards.
    PrepareTime,
    /// Waiting for a query slot.
    QueueTime,
    /// Sorting the result (known when the engine timed it: with `stats`, or the query log on).
    ResultSort,
}

const SLICES: [(Slice, &str); 4] = [(Slice::InnerEval, "inner_eval"), (Slice::PrepareTime, "prepare_time"), (Slice::QueueTime, "queue_time"), (Slice::ResultSort, "result_sort")];
/// Prometheus' objectives and classic buckets.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];
const BUCKETS: [f64; 4] = [0.01, 0.1, 1.0, 10.0];
/// The window quantiles are taken over (client_golang's summary default), and at most this
/// many of its observations per slice.
const WINDOW: Duration = Duration::from_secs(600);
const WINDOW_OBSERVATIONS_MAX: usize = 4096;

#[derive(Debug, Default)]
struct Observed {
    count: u64,
    sum: f64,
    /// Observations up to each of `BUCKETS` (not cumulative).
    buckets: [u64; 4],
    recent: VecDeque<(Instant, f64)>,
}

/// Every slice's observations.
#[derive(Debug, Default)]
pub struct QueryTimings {
    slices: [Mutex<Observed>; 4],
}

impl QueryTimings {
    /// Records how long `slice` of one query took.
    pub fn observe(&self, slice: Slice, seconds: f64) {
        let index = SLICES.iter().position(|(s, _)| *s == slice).unwrap_or(0);
        let Ok(mut observed) = self.slices[index].lock() else { return };
        observed.count += 1;
        observed.sum += seconds;
        if let Some(bucket) = BUCKETS.iter().position(|&bound| seconds <= bound) {
            observed.buckets[bucket] += 1;
        }
        let now = Instant::now();
        if observed.recent.len() >= WINDOW_OBSERVATIONS_MAX {
            observed.recent.pop_front();
        }
        observed.recent.push_back((now, seconds));
    }

    /// Both families in the text format.
    pub fn write_metrics(&self, out: &mut String) {
        let now = Instant::now();
        // Each slice's name, count, sum, buckets and the window's observations.
        let mut snapshot: Vec<(&str, Observed, Vec<f64>)> = Vec::with_capacity(SLICES.len());
        for ((_, name), slice) in SLICES.iter().zip(&self.slices) {
            let Ok(mut observed) = slice.lock() else { continue };
            while observed.recent.front().is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW) {
                observed.recent.pop_front();
            }
            let recent: Vec<f64> = observed.recent.iter().map(|(_, s)| *s).collect();
            snapshot.push((name, Observed { count: observed.count, sum: observed.sum, buckets: observed.buckets, recent: VecDeque::new() }, recent));
        }
        let _ = writeln!(out, "# HELP prometheus_engine_query_duration_seconds Query timings\n# TYPE prometheus_engine_query_duration_seconds summary");
        for (name, Observed { count, sum, .. }, recent) in &mut snapshot {
            recent.sort_by(f64::total_cmp);
            for q in QUANTILES {
                let _ = writeln!(out, "prometheus_engine_query_duration_seconds{{slice=\"{name}\",quantile=\"{q}\"}} {}", quantile(recent, q));
            }
            let _ = writeln!(out, "prometheus_engine_query_duration_seconds_sum{{slice=\"{name}\"}} {sum}");
            let _ = writeln!(out, "prometheus_engine_query_duration_seconds_count{{slice=\"{name}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP prometheus_engine_query_duration_histogram_seconds The duration of various parts of PromQL query execution.\n# TYPE prometheus_engine_query_duration_histogram_seconds histogram"
        );
        for (name, Observed { count, sum, buckets, .. }, _) in &snapshot {
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(buckets) {
                cumulative += n;
                let _ = writeln!(out, "prometheus_engine_query_duration_histogram_seconds_bucket{{slice=\"{name}\",le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "prometheus_engine_query_duration_histogram_seconds_bucket{{slice=\"{name}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(out, "prometheus_engine_query_duration_histogram_seconds_sum{{slice=\"{name}\"}} {sum}");
            let _ = writeln!(out, "prometheus_engine_query_duration_histogram_seconds_count{{slice=\"{name}\"}} {count}");
        }
    }
}

/// The `q` quantile of sorted `values` by nearest rank; NaN for none (as client_golang
/// writes an empty summary's quantiles).
fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let rank = (q * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_buckets_sum_and_count_per_slice() {
        let timings = QueryTimings::default();
        for i in 1..=100 {
            timings.observe(Slice::InnerEval, f64::from(i) / 100.0);
        }
        timings.observe(Slice::QueueTime, 20.0);
        let mut out = String::new();
        timings.write_metrics(&mut out);
        for line in [
            "prometheus_engine_query_duration_seconds{slice=\"inner_eval\",quantile=\"0.5\"} 0.5",
            "prometheus_engine_query_duration_seconds{slice=\"inner_eval\",quantile=\"0.99\"} 0.99",
            "prometheus_engine_query_duration_seconds_count{slice=\"inner_eval\"} 100",
            "prometheus_engine_query_duration_seconds{slice=\"result_sort\",quantile=\"0.9\"} NaN",
            "prometheus_engine_query_duration_histogram_seconds_bucket{slice=\"inner_eval\",le=\"0.01\"} 1",
            "prometheus_engine_query_duration_histogram_seconds_bucket{slice=\"inner_eval\",le=\"0.1\"} 10",
            "prometheus_engine_query_duration_histogram_seconds_bucket{slice=\"inner_eval\",le=\"1\"} 100",
            "prometheus_engine_query_duration_histogram_seconds_bucket{slice=\"queue_time\",le=\"10\"} 0",
            "prometheus_engine_query_duration_histogram_seconds_bucket{slice=\"queue_time\",le=\"+Inf\"} 1",
            "prometheus_engine_query_duration_histogram_seconds_sum{slice=\"queue_time\"} 20",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} not in\n{out}");
        }
        assert_eq!(out.lines().filter(|l| l.starts_with("# TYPE")).count(), 2);
    }
}
