//! The `write` load: builds every request body up front (with churn and a send schedule for
//! `--rate`), then C connection threads post them; each thread owns a fixed subset of series
//! sent in time order, so every series' samples arrive in order. 429/503 are retried with
//! backoff, or with `--no-retry` counted as rejections (overload tests). Float samples and
//! native histogram samples are counted apart; `--rate` paces both together.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::encode::{encode, v1_labels, Batch, Protocol, SeriesLabels, Value};
use crate::pacing::schedule;
use crate::series_gen::{GenOptions, SeriesSet};
use crate::tls::TlsFiles;
use crate::transport::{parse_url, Outcome, Sender, WriteHeaders, Written};

pub struct WriteOptions {
    pub url: String,
    pub generator: GenOptions,
    pub samples: usize,
    pub interval_ms: i64,
    pub batch_series: usize,
    pub connections: usize,
    pub protocol: Protocol,
    /// Send each counter's and histogram's start time (its series' first sample time) with
    /// every sample: remote_write 2.0's `start_timestamp`.
    pub start_timestamps: bool,
    pub start_ms: i64,
    /// Fraction of targets replaced by new pods at each churn event.
    pub churn_ratio: f64,
    /// Churn every this many sample intervals (0 = no churn).
    pub churn_interval: usize,
    /// Offered samples per second over all connections (0 = as fast as possible).
    pub rate: f64,
    pub http2: bool,
    pub tls: TlsFiles,
    /// Count 429/503 as rejected instead of retrying them.
    pub no_retry: bool,
}

/// Retries of one request on 429/503 before it counts as an error.
pub const RETRIES_MAX: u32 = 20;
/// Latencies kept for the live p99 between two progress lines (older ones are dropped).
const WINDOW_LATENCIES_MAX: usize = 1 << 20;

/// Live figures, read by the progress line.
#[derive(Default)]
pub struct Counters {
    /// Float samples.
    pub samples_acked: AtomicU64,
    pub samples_rejected: AtomicU64,
    /// Native histogram samples.
    pub histograms_acked: AtomicU64,
    pub histograms_rejected: AtomicU64,
    /// What accepted answers' written-count headers add up to, and how many answers had them.
    pub samples_written: AtomicU64,
    pub histograms_written: AtomicU64,
    pub written_answers: AtomicU64,
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub rejected: AtomicU64,
    pub retries: AtomicU64,
    /// When the bodies were encoded and the clock started.
    pub sending_since: OnceLock<Instant>,
    /// When the last connection finished sending.
    pub sending_until: OnceLock<Instant>,
    pub done: AtomicBool,
    /// Request latencies (µs) since the progress line last took them.
    pub window_us: Mutex<Vec<u64>>,
}

impl Counters {
    /// Takes the latencies recorded since the last call, sorted.
    pub fn take_window(&self) -> Vec<u64> {
        let mut w = self.window_us.lock().map(|mut w| std::mem::take(&mut *w)).unwrap_or_default();
        w.sort_unstable();
        w
    }
}

pub struct WriteReport {
    pub series: usize,
    /// Float samples.
    pub samples_acked: u64,
    pub samples_rejected: u64,
    pub samples_failed: u64,
    /// Native histogram samples.
    pub histograms_acked: u64,
    pub histograms_rejected: u64,
    pub histograms_failed: u64,
    /// Sums of the servers' `X-Prometheus-Remote-Write-{Samples,Histograms}-Written` answers,
    /// `None` when no accepted answer carried the header (Prometheus 2.x, remote_write 1.0).
    pub samples_written: Option<u64>,
    pub histograms_written: Option<u64>,
    /// Metric names whose samples are native histograms (what `verify --expect` reads back as such).
    pub native_histogram_names: Vec<String>,
    pub requests: u64,
    pub errors: u64,
    pub rejected: u64,
    pub retries: u64,
    pub seconds: f64,
    pub encode_seconds: f64,
    /// CPU time this process used while sending (user + system, every thread), when known:
    /// what the generator takes from a machine it shares with the server.
    pub sending_cpu_seconds: Option<f64>,
    pub bytes_sent: u64,
    /// How late the latest request was against the `--rate` schedule.
    pub schedule_lag_ms_max: f64,
    pub latencies_us: Vec<u64>,
    pub first_errors: Vec<String>,
    /// Acknowledged samples per metric name (what `verify --expect` checks).
    pub acked_by_name: BTreeMap<String, u64>,
    /// Samples of rejected (429/503, `--no-retry`) requests per metric name: the server may
    /// have stored part of such a request, so `verify --expect` allows up to these on top.
    pub rejected_by_name: BTreeMap<String, u64>,
}

/// One pre-encoded request.
struct Request {
    body: Bytes,
    /// Float samples.
    samples: u64,
    /// Native histogram samples.
    histograms: u64,
    /// Send time relative to the start (`--rate`), `None` when unpaced.
    due: Option<Duration>,
    /// (metric name id, samples and histograms) in this body.
    by_name: Vec<(u16, u32)>,
}

/// Requests per connection, in send order, and the metric names that `by_name` ids index.
struct Plans {
    per_connection: Vec<Vec<Request>>,
    names: Vec<String>,
    native_histogram_names: Vec<String>,
    series: usize,
}

fn build_plans(o: &WriteOptions) -> Result<Plans, String> {
    let mut set = SeriesSet::new(&o.generator)?;
    let width = set.layout.width;
    let mut names: Vec<String> = Vec::new();
    let name_of_offset: Vec<u16> = set
        .layout
        .names()
        .into_iter()
        .map(|n| match names.iter().position(|m| *m == n) {
            Some(i) => i as u16,
            None => {
                names.push(n);
                (names.len() - 1) as u16
            }
        })
        .collect();
    // Where series `i`'s native histogram is in a step's list: target `i / width`, then the
    // target's histogram series in order.
    let native = set.layout.native_histogram_offsets();
    let histograms_per_target = native.iter().filter(|n| **n).count();
    let mut next_slot = 0;
    let histogram_slot: Vec<Option<usize>> = native
        .iter()
        .map(|&n| {
            n.then(|| {
                next_slot += 1;
                next_slot - 1
            })
        })
        .collect();
    let native_histogram_names: Vec<String> =
        set.layout.names().into_iter().zip(&native).filter(|(_, n)| **n).map(|(name, _)| name).collect();
    let mut v1: Vec<Vec<u8>> = if o.protocol == Protocol::V1 { set.labels.iter().map(|l| v1_labels(l)).collect() } else { Vec::new() };
    let series = set.len();
    let groups: Vec<std::ops::Range<usize>> =
        (0..series).step_by(o.batch_series.max(1)).map(|s| s..(s + o.batch_series.max(1)).min(series)).collect();
    // (connection, request) in global send order; the schedule is computed over that order.
    let mut ordered: Vec<(usize, Request)> = Vec::with_capacity(groups.len() * o.samples);
    let mut values = Vec::with_capacity(series);
    let mut histograms = Vec::with_capacity(set.layout.targets * histograms_per_target);
    let mut counts = vec![0u32; names.len()];
    let cumulative = set.layout.cumulative_offsets();
    // Each series' first sample time: a churned series starts over.
    let mut born_ms = vec![o.start_ms; series];
    for step in 0..o.samples {
        let t = o.start_ms + step as i64 * o.interval_ms;
        if step > 0 && o.churn_interval > 0 && step % o.churn_interval == 0 {
            for range in set.churn((step / o.churn_interval) as u64, o.churn_ratio) {
                born_ms[range.clone()].fill(t);
                if o.protocol == Protocol::V1 {
                    for i in range {
                        v1[i] = v1_labels(&set.labels[i]);
                    }
                }
            }
        }
        set.advance(if step == 0 { 0.0 } else { o.interval_ms as f64 / 1000.0 }, &mut values, &mut histograms);
        for h in &mut histograms {
            h.timestamp = t;
        }
        for (g, range) in groups.iter().enumerate() {
            let value = |i: usize| match histogram_slot[i % width] {
                Some(slot) => Value::Histogram(&histograms[i / width * histograms_per_target + slot]),
                None => Value::Float(values[i]),
            };
            let batch = Batch {
                series: range
                    .clone()
                    .map(|i| (SeriesLabels { pairs: &set.labels[i], v1: v1.get(i).map_or(&[][..], |b| b.as_slice()) }, t, value(i)))
                    .collect(),
                starts: if o.start_timestamps { range.clone().map(|i| if cumulative[i % width] { born_ms[i] } else { 0 }).collect() } else { Vec::new() },
            };
            counts.iter_mut().for_each(|c| *c = 0);
            for i in range.clone() {
                counts[name_of_offset[i % width] as usize] += 1;
            }
            let in_histograms = range.clone().filter(|i| native[i % width]).count() as u64;
            let request = Request {
                body: Bytes::from(encode(&batch, o.protocol)),
                samples: range.len() as u64 - in_histograms,
                histograms: in_histograms,
                due: None,
                by_name: counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(id, c)| (id as u16, *c)).collect(),
            };
            ordered.push((g % o.connections.max(1), request));
        }
    }
    let samples: Vec<u64> = ordered.iter().map(|(_, r)| r.samples + r.histograms).collect();
    let mut per_connection: Vec<Vec<Request>> = (0..o.connections.max(1)).map(|_| Vec::new()).collect();
    for ((connection, mut request), due) in ordered.into_iter().zip(schedule(&samples, o.rate)) {
        request.due = due;
        per_connection[connection].push(request);
    }
    Ok(Plans { per_connection, names, native_histogram_names, series })
}

/// What one connection thread brings back.
#[derive(Default)]
struct ThreadResult {
    latencies_us: Vec<u64>,
    first_errors: Vec<String>,
    acked_by_id: Vec<u64>,
    rejected_by_id: Vec<u64>,
    samples_failed: u64,
    histograms_failed: u64,
    lag_max: Duration,
}

fn send_all(plan: Vec<Request>, mut sender: Sender, o: &RunShared, counters: &Counters) -> ThreadResult {
    let mut r = ThreadResult {
        latencies_us: Vec::with_capacity(plan.len()),
        acked_by_id: vec![0; o.names],
        rejected_by_id: vec![0; o.names],
        ..Default::default()
    };
    let error = |r: &mut ThreadResult, text: String, request: &Request| {
        counters.errors.fetch_add(1, Ordering::Relaxed);
        r.samples_failed += request.samples;
        r.histograms_failed += request.histograms;
        if r.first_errors.len() < 3 {
            r.first_errors.push(text);
        }
    };
    for request in plan {
        if let Some(due) = request.due {
            let at = o.started + due;
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            } else {
                r.lag_max = r.lag_max.max(now - at);
            }
        }
        let mut attempt = 0;
        loop {
            let sent = Instant::now();
            let outcome = sender.post(&request.body, o.headers);
            let us = sent.elapsed().as_micros() as u64;
            r.latencies_us.push(us);
            if let Ok(mut w) = counters.window_us.lock() {
                if w.len() < WINDOW_LATENCIES_MAX {
                    w.push(us);
                }
            }
            counters.requests.fetch_add(1, Ordering::Relaxed);
            match outcome {
                Outcome::Accepted(written) => {
                    counters.samples_acked.fetch_add(request.samples, Ordering::Relaxed);
                    counters.histograms_acked.fetch_add(request.histograms, Ordering::Relaxed);
                    count_written(counters, written);
                    for (id, n) in &request.by_name {
                        r.acked_by_id[*id as usize] += *n as u64;
                    }
                    break;
                }
                Outcome::Rejected(_) if o.no_retry => {
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                    counters.samples_rejected.fetch_add(request.samples, Ordering::Relaxed);
                    counters.histograms_rejected.fetch_add(request.histograms, Ordering::Relaxed);
                    for (id, n) in &request.by_name {
                        r.rejected_by_id[*id as usize] += *n as u64;
                    }
                    break;
                }
                Outcome::Rejected(_) if attempt < RETRIES_MAX => {
                    attempt += 1;
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(10 << attempt.min(6)));
                }
                Outcome::Rejected(code) => {
                    error(&mut r, format!("HTTP {code} still after {RETRIES_MAX} retries"), &request);
                    break;
                }
                Outcome::Failed(text) => {
                    error(&mut r, text, &request);
                    break;
                }
            }
        }
    }
    r
}

fn count_written(counters: &Counters, written: Written) {
    if written.samples.is_none() && written.histograms.is_none() {
        return;
    }
    counters.written_answers.fetch_add(1, Ordering::Relaxed);
    counters.samples_written.fetch_add(written.samples.unwrap_or(0), Ordering::Relaxed);
    counters.histograms_written.fetch_add(written.histograms.unwrap_or(0), Ordering::Relaxed);
}

/// What every connection thread shares.
struct RunShared {
    started: Instant,
    headers: WriteHeaders,
    no_retry: bool,
    names: usize,
}

pub fn run(o: &WriteOptions, counters: Arc<Counters>) -> Result<WriteReport, String> {
    let target = parse_url(&o.url)?;
    let tls = if target.https {
        let alpn: &[&[u8]] = if o.http2 { &[b"h2"] } else { &[] };
        Some(crate::tls::client_config(&o.tls, alpn)?)
    } else if !o.tls.is_empty() {
        return Err("--ca-file/--cert-file/--key-file need an https:// URL".into());
    } else {
        None
    };
    let senders = (0..o.connections.max(1)).map(|_| Sender::new(&target, o.http2, tls.clone())).collect::<Result<Vec<_>, _>>()?;
    let encode_started = Instant::now();
    let plans = build_plans(o)?;
    let encode_seconds = encode_started.elapsed().as_secs_f64();
    let bytes_sent: u64 = plans.per_connection.iter().flatten().map(|r| r.body.len() as u64).sum();
    let headers = match o.protocol {
        Protocol::V1 => WriteHeaders { content_type: "application/x-protobuf", version: "0.1.0" },
        Protocol::V2 => WriteHeaders { content_type: "application/x-protobuf;proto=io.prometheus.write.v2.Request", version: "2.0.0" },
    };
    let cpu_before_sending = process_cpu_seconds();
    let started = Instant::now();
    let _ = counters.sending_since.set(started);
    let shared = Arc::new(RunShared { started, headers, no_retry: o.no_retry, names: plans.names.len() });
    let handles: Vec<_> = plans
        .per_connection
        .into_iter()
        .zip(senders)
        .map(|(plan, sender)| {
            let (shared, counters) = (shared.clone(), counters.clone());
            std::thread::spawn(move || send_all(plan, sender, &shared, &counters))
        })
        .collect();
    let mut total = ThreadResult { acked_by_id: vec![0; plans.names.len()], rejected_by_id: vec![0; plans.names.len()], ..Default::default() };
    for h in handles {
        let r = h.join().map_err(|_| "a connection thread panicked".to_string())?;
        total.latencies_us.extend(r.latencies_us);
        total.first_errors.extend(r.first_errors);
        total.samples_failed += r.samples_failed;
        total.histograms_failed += r.histograms_failed;
        total.lag_max = total.lag_max.max(r.lag_max);
        for (t, n) in total.acked_by_id.iter_mut().zip(r.acked_by_id) {
            *t += n;
        }
        for (t, n) in total.rejected_by_id.iter_mut().zip(r.rejected_by_id) {
            *t += n;
        }
    }
    let seconds = shared.started.elapsed().as_secs_f64();
    let _ = counters.sending_until.set(Instant::now());
    let sending_cpu_seconds = process_cpu_seconds().zip(cpu_before_sending).map(|(after, before)| after - before);
    total.latencies_us.sort_unstable();
    let written = counters.written_answers.load(Ordering::Relaxed) > 0;
    Ok(WriteReport {
        series: plans.series,
        samples_acked: counters.samples_acked.load(Ordering::Relaxed),
        samples_rejected: counters.samples_rejected.load(Ordering::Relaxed),
        samples_failed: total.samples_failed,
        histograms_acked: counters.histograms_acked.load(Ordering::Relaxed),
        histograms_rejected: counters.histograms_rejected.load(Ordering::Relaxed),
        histograms_failed: total.histograms_failed,
        samples_written: written.then(|| counters.samples_written.load(Ordering::Relaxed)),
        histograms_written: written.then(|| counters.histograms_written.load(Ordering::Relaxed)),
        native_histogram_names: plans.native_histogram_names,
        requests: counters.requests.load(Ordering::Relaxed),
        errors: counters.errors.load(Ordering::Relaxed),
        rejected: counters.rejected.load(Ordering::Relaxed),
        retries: counters.retries.load(Ordering::Relaxed),
        seconds,
        encode_seconds,
        sending_cpu_seconds,
        bytes_sent,
        schedule_lag_ms_max: total.lag_max.as_secs_f64() * 1000.0,
        latencies_us: total.latencies_us,
        first_errors: total.first_errors,
        acked_by_name: plans.names.iter().cloned().zip(total.acked_by_id).collect(),
        rejected_by_name: plans.names.into_iter().zip(total.rejected_by_id).filter(|(_, n)| *n > 0).collect(),
    })
}

/// The `q` quantile of sorted values.
/// User + system CPU time of this process so far (`getrusage`), `None` if unavailable.
fn process_cpu_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the buffer it is given.
    let usage = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) != 0 {
            return None;
        }
        usage.assume_init()
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Some(seconds(usage.ru_utime) + seconds(usage.ru_stime))
}

pub fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[cfg(test)]
mod tests;
