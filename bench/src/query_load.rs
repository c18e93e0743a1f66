//! The `query` load: a Grafana-like dashboard mix (range queries over 1h/6h/24h windows,
//! instant queries, label-values lookups) from C threads for a fixed time, reporting
//! latency quantiles per query kind and errors.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Errors printed (to stderr) per query kind and worker; later ones are only counted.
const ERRORS_SHOWN_PER_KIND: u64 = 3;

pub struct QueryOptions {
    /// Base URL of the Prometheus-compatible API, e.g. http://127.0.0.1:9101
    pub url: String,
    pub seconds: u64,
    pub concurrency: usize,
    /// End of the queried data (ms); windows end here.
    pub end_ms: i64,
    /// Range-vector window of the rate queries (Grafana's `$__rate_interval`: at least four
    /// scrape intervals), e.g. `5m` for 15 s data, `20m` for 5 min data.
    pub rate_window: String,
    /// Each request's window ends `(9 - n mod 10) * shift` seconds before `end_ms` (n counts
    /// a worker's rounds through the kinds): windows move forward like refreshes of a dashboard
    /// as time passes, then start over, so result caches see shifted windows, not one window
    /// over and over. 0 = every request ends at `end_ms`.
    pub refresh_shift_s: i64,
    /// Open loop: requests per second over all `concurrency` clients, each request sent at
    /// its scheduled time whatever the answers before it took, and its latency counted from
    /// that time (so a server that falls behind is charged for the queueing). 0 = closed
    /// loop: each client sends its next request when the previous one is answered.
    pub requests_per_s: f64,
}

/// What a request builder needs: the window end and the rate window.
pub struct Window<'a> {
    pub end_ms: i64,
    pub rate: &'a str,
}

/// One kind of dashboard request: (name, path-and-query builder).
type Kind = (&'static str, fn(&Window) -> String);

pub fn enc(q: &str) -> String {
    q.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A range request as Grafana's Prometheus datasource sends it: about 250 points, step at
/// least 15 s, start and end aligned down to a multiple of the step (so refreshes of a
/// dashboard share one grid).
fn range(q: &str, end_ms: i64, window_s: i64) -> String {
    let step = (window_s / 250).max(15);
    let end = (end_ms / 1000).div_euclid(step) * step;
    let start = (end_ms / 1000 - window_s).div_euclid(step) * step;
    format!("/api/v1/query_range?query={}&start={start}&end={end}&step={step}", enc(q))
}

pub const KINDS: [Kind; 7] = [
    ("range_1h_rate_sum", |w| range(&format!("sum by (job) (rate(http_requests_total[{}]))", w.rate), w.end_ms, 3_600)),
    ("range_6h_rate_topk", |w| {
        range(&format!("topk(5, sum by (instance) (rate(node_cpu_seconds_total[{}])))", w.rate), w.end_ms, 6 * 3_600)
    }),
    ("range_24h_gauge_avg", |w| range("avg by (namespace) (node_memory_MemAvailable_bytes)", w.end_ms, 24 * 3_600)),
    ("range_6h_histogram_p99", |w| {
        let q = format!("histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[{}])))", w.rate);
        range(&q, w.end_ms, 6 * 3_600)
    }),
    ("instant_count", |w| format!("/api/v1/query?query={}&time={}", enc("count by (job) (up)"), w.end_ms / 1000)),
    // Grafana's label-values variable query sends the dashboard's time range (6 h by default).
    ("label_values_job", |w| format!("/api/v1/label/job/values?start={}&end={}", w.end_ms / 1000 - 6 * 3_600, w.end_ms / 1000)),
    ("series_match", |w| {
        format!("/api/v1/series?match[]={}&start={}&end={}", enc("up{job=\"job-1\"}"), w.end_ms / 1000 - 3_600, w.end_ms / 1000)
    }),
];

pub struct KindReport {
    pub name: &'static str,
    pub latencies_us: Vec<u64>,
    pub errors: u64,
}

/// When a client sends its requests: at once (closed loop) or on a fixed timetable.
struct Schedule {
    start: Instant,
    requests_per_s: f64,
    clients: usize,
    client: usize,
}

impl Schedule {
    /// Waits until this client's request number `n` is due and returns the instant its
    /// latency counts from: now in a closed loop; in an open loop the scheduled time
    /// (already past when the client is late), clients' turns interleaved evenly.
    fn wait_for_turn(&self, n: usize) -> Instant {
        if self.requests_per_s <= 0.0 {
            return Instant::now();
        }
        let slot = (n * self.clients + self.client) as f64 / self.requests_per_s;
        let due = self.start + Duration::from_secs_f64(slot);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        due
    }
}

pub fn run(o: &QueryOptions) -> Vec<KindReport> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let handles: Vec<_> = (0..o.concurrency.max(1))
        .map(|worker| {
            let (url, stop, end_ms, shift_s, rate) = (o.url.clone(), stop.clone(), o.end_ms, o.refresh_shift_s, o.rate_window.clone());
            let schedule = Schedule { start, requests_per_s: o.requests_per_s, clients: o.concurrency.max(1), client: worker };
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
                let mut reports: Vec<KindReport> = KINDS.iter().map(|(n, _)| KindReport { name: n, latencies_us: Vec::new(), errors: 0 }).collect();
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % KINDS.len();
                    // Forward, like refreshes as time passes: ten windows from 9 shifts back to
                    // `end_ms`, then again from the oldest.
                    let back = 9 - ((i / KINDS.len()) % 10) as i64;
                    let window = Window { end_ms: end_ms - back * shift_s * 1000, rate: &rate };
                    let started = schedule.wait_for_turn(i - worker);
                    let answer = agent.get(&format!("{url}{}", (KINDS[k].1)(&window))).call().map_err(|e| e.to_string()).and_then(|r| r.into_string().map_err(|e| e.to_string()));
                    match answer {
                        Ok(_) => reports[k].latencies_us.push(started.elapsed().as_micros() as u64),
                        Err(error) => {
                            // The first few errors per kind and worker say why; the count says how many.
                            if reports[k].errors < ERRORS_SHOWN_PER_KIND {
                                eprintln!("{} failed: {error}", KINDS[k].0);
                            }
                            reports[k].errors += 1;
                        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_loop_turns_interleave_clients_on_a_fixed_timetable() {
        // Started in the past, so every turn is already due and nothing sleeps.
        let start = Instant::now() - Duration::from_secs(60);
        let client = |client| Schedule { start, requests_per_s: 10.0, clients: 2, client };
        let due = |s: &Schedule, n| s.wait_for_turn(n).duration_since(start).as_secs_f64();
        assert!((due(&client(0), 0) - 0.0).abs() < 1e-9);
        assert!((due(&client(1), 0) - 0.1).abs() < 1e-9);
        assert!((due(&client(0), 1) - 0.2).abs() < 1e-9);
        assert!((due(&client(1), 3) - 0.7).abs() < 1e-9);
    }

    #[test]
    fn open_loop_waits_for_a_turn_that_is_not_due_yet() {
        let schedule = Schedule { start: Instant::now(), requests_per_s: 20.0, clients: 1, client: 0 };
        let due = schedule.wait_for_turn(1); // 50 ms after the start
        assert!(Instant::now() >= due);
        assert_eq!(due, schedule.start + Duration::from_millis(50));
    }

    #[test]
    fn closed_loop_counts_from_the_send() {
        let start = Instant::now() - Duration::from_secs(60);
        let schedule = Schedule { start, requests_per_s: 0.0, clients: 4, client: 3 };
        let before = Instant::now();
        assert!(schedule.wait_for_turn(1000) >= before);
    }
}
