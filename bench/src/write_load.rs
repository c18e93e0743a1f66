//! The `write` load: builds every request body up front, then C connection threads post
//! them (each thread owns a fixed subset of series, sent in time order, so every series'
//! samples arrive in order), retrying 429/503 with backoff.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::encode::{encode, Batch, Protocol};
use crate::series_gen::{series_def, series_values, Rng};

pub struct WriteOptions {
    pub url: String,
    pub series: usize,
    pub samples: usize,
    pub interval_ms: i64,
    pub batch_series: usize,
    pub connections: usize,
    pub protocol: Protocol,
    pub start_ms: i64,
    pub seed: u64,
}

/// Retries of one request on 429/503 before it counts as an error.
pub const RETRIES_MAX: u32 = 20;

#[derive(Default)]
pub struct Counters {
    pub samples_sent: AtomicU64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
}

pub struct WriteReport {
    pub samples_sent: u64,
    pub requests: u64,
    pub errors: u64,
    pub retries: u64,
    pub seconds: f64,
    pub encode_seconds: f64,
    pub bytes_sent: u64,
    pub latencies_us: Vec<u64>,
    pub first_errors: Vec<String>,
}

/// Requests for one connection: (body, samples in it), in send order.
type Plan = Vec<(Vec<u8>, u64)>;

fn build_plans(o: &WriteOptions) -> Vec<Plan> {
    let defs: Vec<_> = (0..o.series).map(series_def).collect();
    let mut rng = Rng::new(o.seed);
    let values: Vec<Vec<f64>> = defs.iter().map(|d| series_values(d, o.samples, &mut rng)).collect();
    let groups: Vec<std::ops::Range<usize>> =
        (0..o.series).step_by(o.batch_series.max(1)).map(|s| s..(s + o.batch_series).min(o.series)).collect();
    let mut plans: Vec<Plan> = (0..o.connections.max(1)).map(|_| Vec::new()).collect();
    for step in 0..o.samples {
        let t = o.start_ms + step as i64 * o.interval_ms;
        for (g, range) in groups.iter().enumerate() {
            let batch = Batch { series: range.clone().map(|i| (defs[i].labels.as_slice(), t, values[i][step])).collect() };
            let connection = g % plans.len();
            plans[connection].push((encode(&batch, o.protocol), range.len() as u64));
        }
    }
    plans
}

pub fn run(o: &WriteOptions, counters: Arc<Counters>) -> WriteReport {
    let encode_started = Instant::now();
    let plans = build_plans(o);
    let encode_seconds = encode_started.elapsed().as_secs_f64();
    let bytes_sent: u64 = plans.iter().flatten().map(|(b, _)| b.len() as u64).sum();
    let (content_type, version) = match o.protocol {
        Protocol::V1 => ("application/x-protobuf", "0.1.0"),
        Protocol::V2 => ("application/x-protobuf;proto=io.prometheus.write.v2.Request", "2.0.0"),
    };
    let started = Instant::now();
    let handles: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let url = o.url.clone();
            let counters = counters.clone();
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
                let mut latencies = Vec::with_capacity(plan.len());
                let mut first_errors = Vec::new();
                for (body, samples) in plan {
                    let mut attempt = 0;
                    loop {
                        let sent = Instant::now();
                        let result = agent
                            .post(&url)
                            .set("Content-Type", content_type)
                            .set("Content-Encoding", "snappy")
                            .set("X-Prometheus-Remote-Write-Version", version)
                            .send_bytes(&body);
                        latencies.push(sent.elapsed().as_micros() as u64);
                        counters.requests.fetch_add(1, Ordering::Relaxed);
                        match result {
                            Ok(_) => {
                                counters.samples_sent.fetch_add(samples, Ordering::Relaxed);
                                break;
                            }
                            Err(ureq::Error::Status(code, _)) if (code == 429 || code == 503) && attempt < RETRIES_MAX => {
                                attempt += 1;
                                counters.retries.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(Duration::from_millis(10 << attempt.min(6)));
                            }
                            Err(e) => {
                                counters.errors.fetch_add(1, Ordering::Relaxed);
                                if first_errors.len() < 3 {
                                    let text = match e {
                                        ureq::Error::Status(code, r) => format!("HTTP {code}: {}", r.into_string().unwrap_or_default()),
                                        other => other.to_string(),
                                    };
                                    first_errors.push(text);
                                }
                                break;
                            }
                        }
                    }
                }
                (latencies, first_errors)
            })
        })
        .collect();
    let mut latencies_us = Vec::new();
    let mut first_errors = Vec::new();
    for h in handles {
        if let Ok((l, e)) = h.join() {
            latencies_us.extend(l);
            first_errors.extend(e);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies_us.sort_unstable();
    WriteReport {
        samples_sent: counters.samples_sent.load(Ordering::Relaxed),
        requests: counters.requests.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        retries: counters.retries.load(Ordering::Relaxed),
        seconds,
        encode_seconds,
        bytes_sent,
        latencies_us,
        first_errors,
    }
}

/// The `q` quantile of sorted values.
pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_cover_every_sample_once_in_time_order_per_connection() {
        let o = WriteOptions {
            url: String::new(),
            series: 10,
            samples: 3,
            interval_ms: 1000,
            batch_series: 4,
            connections: 2,
            protocol: Protocol::V1,
            start_ms: 0,
            seed: 1,
        };
        let plans = build_plans(&o);
        let total: u64 = plans.iter().flatten().map(|(_, n)| n).sum();
        assert_eq!(total, 30);
        assert_eq!(plans.iter().map(Vec::len).sum::<usize>(), 9, "3 groups x 3 times");
    }

    #[test]
    fn quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 51);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
