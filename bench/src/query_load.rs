//! The `query` load: a Grafana-like dashboard mix (range queries over 1h/6h/24h windows,
//! instant queries, label-values lookups) from C threads for a fixed time, reporting
//! latency quantiles per query kind and errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct QueryOptions {
    /// Base URL of the Prometheus-compatible API, e.g. http://127.0.0.1:9101
    pub url: String,
    pub seconds: u64,
    pub concurrency: usize,
    /// End of the queried data (ms); windows end here.
    pub end_ms: i64,
}

/// One kind of dashboard request: (name, path-and-query builder).
type Kind = (&'static str, fn(i64) -> String);

pub fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn range(q: &str, end_ms: i64, window_s: i64) -> String {
    let end = end_ms / 1000;
    let step = (window_s / 250).max(15);
    format!("/api/v1/query_range?query={}&start={}&end={end}&step={step}", enc(q), end - window_s)
}

pub const KINDS: [Kind; 6] = [
    ("range_1h_rate_sum", |e| range("sum by (job) (rate(http_requests_total[5m]))", e, 3_600)),
    ("range_6h_rate_topk", |e| range("topk(5, sum by (instance) (rate(node_cpu_seconds_total[5m])))", e, 6 * 3_600)),
    ("range_24h_gauge_avg", |e| range("avg by (namespace) (node_memory_MemAvailable_bytes)", e, 24 * 3_600)),
    ("instant_count", |e| format!("/api/v1/query?query={}&time={}", enc("count by (job) (up)"), e / 1000)),
    ("label_values_job", |_| "/api/v1/label/job/values".to_string()),
    ("series_match", |e| format!("/api/v1/series?match[]={}&start={}&end={}", enc("up{job=\"job-1\"}"), e / 1000 - 3_600, e / 1000)),
];

pub struct KindReport {
    pub name: &'static str,
    pub latencies_us: Vec<u64>,
    pub errors: u64,
}

pub fn run(o: &QueryOptions) -> Vec<KindReport> {
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..o.concurrency.max(1))
        .map(|worker| {
            let (url, stop, end_ms) = (o.url.clone(), stop.clone(), o.end_ms);
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
                let mut reports: Vec<KindReport> = KINDS.iter().map(|(n, _)| KindReport { name: n, latencies_us: Vec::new(), errors: 0 }).collect();
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % KINDS.len();
                    let started = Instant::now();
                    let ok = agent.get(&format!("{url}{}", (KINDS[k].1)(end_ms))).call().map(|r| r.into_string().is_ok()).unwrap_or(false);
                    if ok {
                        reports[k].latencies_us.push(started.elapsed().as_micros() as u64);
                    } else {
                        reports[k].errors += 1;
                    }
                    i += 1;
                }
                reports
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(o.seconds));
    stop.store(true, Ordering::Relaxed);
    let mut merged: Vec<KindReport> = KINDS.iter().map(|(n, _)| KindReport { name: n, latencies_us: Vec::new(), errors: 0 }).collect();
    for h in handles {
        if let Ok(reports) = h.join() {
            for (m, r) in merged.iter_mut().zip(reports) {
                m.latencies_us.extend(r.latencies_us);
                m.errors += r.errors;
            }
        }
    }
    for m in &mut merged {
        m.latencies_us.sort_unstable();
    }
    merged
}
