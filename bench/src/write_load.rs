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
mod tests {
    use super::*;

    fn options() -> WriteOptions {
        WriteOptions {
            url: String::new(),
            generator: GenOptions { series: 100, metrics: 3, ..GenOptions::default() },
            samples: 3,
            interval_ms: 1000,
            batch_series: 40,
            connections: 2,
            protocol: Protocol::V1,
            start_timestamps: false,
            start_ms: 0,
            churn_ratio: 0.0,
            churn_interval: 0,
            rate: 0.0,
            http2: false,
            tls: TlsFiles::default(),
            no_retry: false,
        }
    }

    #[test]
    fn plans_cover_every_sample_once_with_per_name_counts() {
        let o = options();
        let plans = build_plans(&o).unwrap();
        let series = plans.series;
        assert!(series >= 100);
        let requests: Vec<&Request> = plans.per_connection.iter().flatten().collect();
        let total: u64 = requests.iter().map(|r| r.samples).sum();
        assert_eq!(total, series as u64 * 3);
        assert_eq!(requests.len(), series.div_ceil(40) * 3);
        let by_name: u64 = requests.iter().flat_map(|r| &r.by_name).map(|(_, n)| *n as u64).sum();
        assert_eq!(by_name, total);
        assert!(requests.iter().all(|r| r.due.is_none()));
        assert!(plans.names.iter().any(|n| n.ends_with("_bucket")));
    }

    /// Every histogram of a native run's pre-encoded bodies, per series (labels joined), in send
    /// order, decoded with prost as a server would.
    fn decoded_histograms(o: &WriteOptions) -> BTreeMap<String, Vec<proto::remote_write_v1::Histogram>> {
        use prost::Message;
        let plans = build_plans(o).unwrap();
        let mut by_series: BTreeMap<String, Vec<proto::remote_write_v1::Histogram>> = BTreeMap::new();
        let (mut floats, mut histograms) = (0, 0);
        // Each connection sends its requests in order and owns its series: per-series order holds.
        for request in plans.per_connection.iter().flatten() {
            let raw = snap::raw::Decoder::new().decompress_vec(&request.body).unwrap();
            let series: Vec<(String, Vec<f64>, Vec<proto::remote_write_v1::Histogram>)> = match o.protocol {
                Protocol::V1 => proto::remote_write_v1::WriteRequest::decode(raw.as_slice())
                    .unwrap()
                    .timeseries
                    .into_iter()
                    .map(|ts| (ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect::<Vec<_>>().join(","), ts.samples.iter().map(|s| s.value).collect(), ts.histograms))
                    .collect(),
                Protocol::V2 => {
                    let r = proto::remote_write_v2::Request::decode(raw.as_slice()).unwrap();
                    r.timeseries
                        .into_iter()
                        .map(|ts| {
                            let labels = ts.labels_refs.chunks(2).map(|p| format!("{}={}", r.symbols[p[0] as usize], r.symbols[p[1] as usize])).collect::<Vec<_>>().join(",");
                            (labels, ts.samples.iter().map(|s| s.value).collect(), ts.histograms)
                        })
                        .collect()
                }
            };
            let (f, h): (usize, usize) = series.iter().fold((0, 0), |(f, h), s| (f + s.1.len(), h + s.2.len()));
            assert_eq!((f as u64, h as u64), (request.samples, request.histograms), "a request counts what it carries");
            (floats, histograms) = (floats + f, histograms + h);
            for (labels, samples, hs) in series {
                assert_eq!(samples.len() + hs.len(), 1, "one sample per series and request: {labels}");
                assert!(!labels.contains("le=") || hs.is_empty(), "native histograms have no le label");
                if !hs.is_empty() {
                    by_series.entry(labels).or_default().extend(hs);
                }
            }
        }
        assert_eq!(by_series.values().map(Vec::len).sum::<usize>(), histograms);
        assert!(floats > 0);
        by_series
    }

    #[test]
    fn native_histogram_bodies_decode_consistent_and_cumulative() {
        use crate::native_histogram::ZERO_THRESHOLD;
        use crate::series_gen::Histograms;
        use proto::remote_write_v1::histogram::{Count, ZeroCount};
        for (protocol, schema) in [(Protocol::V1, 3), (Protocol::V2, 3), (Protocol::V1, -2), (Protocol::V2, 8)] {
            let generator = GenOptions { histograms: Histograms::Native { schema }, ..options().generator };
            let o = WriteOptions { protocol, samples: 6, interval_ms: 15_000, generator, ..options() };
            let by_series = decoded_histograms(&o);
            let mut observed = 0;
            assert_eq!(by_series.len(), build_plans(&o).unwrap().series / 3, "one native histogram series per target (counter, gauge, histogram)");
            for (labels, hs) in &by_series {
                assert!(labels.starts_with("__name__=http_request_duration_seconds,"), "{labels}");
                assert_eq!(hs.len(), 6);
                let mut previous: Option<BTreeMap<i32, i64>> = None;
                for (step, h) in hs.iter().enumerate() {
                    assert_eq!(h.timestamp, step as i64 * 15_000);
                    assert_eq!((h.schema, h.zero_threshold), (schema, ZERO_THRESHOLD));
                    assert!(h.negative_spans.is_empty() && h.negative_deltas.is_empty() && h.positive_counts.is_empty());
                    let Some(Count::CountInt(count)) = h.count else { panic!("integer count") };
                    let Some(ZeroCount::ZeroCountInt(zero)) = h.zero_count else { panic!("integer zero count") };
                    // Spans and deltas back to absolute buckets, as the server does.
                    let mut buckets = BTreeMap::new();
                    let (mut index, mut current, mut deltas) = (0i32, 0i64, h.positive_deltas.iter());
                    for (n, span) in h.positive_spans.iter().enumerate() {
                        assert!(n == 0 || span.offset > 2, "gaps of up to 2 stay in one span");
                        index += span.offset;
                        for _ in 0..span.length {
                            current += deltas.next().expect("spans cover the deltas");
                            assert!(current >= 0);
                            buckets.insert(index, current);
                            index += 1;
                        }
                    }
                    assert!(deltas.next().is_none(), "deltas cover the spans");
                    let in_buckets: i64 = buckets.values().sum();
                    assert_eq!(count, zero + in_buckets as u64, "count == zero + buckets");
                    assert!(h.sum >= 0.0 && (count > 0 || h.sum == 0.0));
                    if let Some(p) = &previous {
                        for (i, n) in p {
                            assert!(buckets.get(i).is_some_and(|m| m >= n), "bucket {i} only grows ({labels})");
                        }
                    }
                    previous = Some(buckets);
                }
                if let Some(Count::CountInt(last)) = hs.last().unwrap().count {
                    observed += last;
                }
            }
            assert!(observed > 0, "observations happened");
        }
    }

    #[test]
    fn native_histograms_are_counted_apart_and_paced_with_floats() {
        let generator = GenOptions { histograms: crate::series_gen::Histograms::Native { schema: 3 }, ..options().generator };
        let o = WriteOptions { generator, rate: 1000.0, churn_ratio: 0.5, churn_interval: 1, ..options() };
        let plans = build_plans(&o).unwrap();
        let requests: Vec<&Request> = plans.per_connection.iter().flatten().collect();
        let histograms: u64 = requests.iter().map(|r| r.histograms).sum();
        let floats: u64 = requests.iter().map(|r| r.samples).sum();
        assert_eq!(histograms, plans.series as u64 / 3 * 3, "a third of the series, 3 samples each");
        assert_eq!(floats + histograms, plans.series as u64 * 3);
        assert_eq!(plans.native_histogram_names, vec!["http_request_duration_seconds"]);
        let by_name: u64 = requests.iter().flat_map(|r| &r.by_name).map(|(_, n)| *n as u64).sum();
        assert_eq!(by_name, floats + histograms);
        let last_due = requests.iter().map(|r| r.due.unwrap()).max().unwrap();
        let last = requests.iter().find(|r| r.due == Some(last_due)).unwrap();
        assert_eq!(last_due, Duration::from_secs_f64((floats + histograms - last.samples - last.histograms) as f64 / 1000.0));
    }

    #[test]
    fn paced_plans_follow_the_global_schedule() {
        let o = WriteOptions { rate: 1000.0, ..options() };
        let plans = build_plans(&o).unwrap();
        let mut dues: Vec<(Duration, u64)> = plans.per_connection.iter().flatten().map(|r| (r.due.unwrap(), r.samples)).collect();
        dues.sort();
        let mut before = 0;
        for (due, samples) in dues {
            assert_eq!(due, Duration::from_secs_f64(before as f64 / 1000.0));
            before += samples;
        }
    }

    #[test]
    fn churn_keeps_sample_counts_and_adds_series() {
        let o = WriteOptions { churn_ratio: 0.5, churn_interval: 1, samples: 4, ..options() };
        let plans = build_plans(&o).unwrap();
        let total: u64 = plans.per_connection.iter().flatten().map(|r| r.samples).sum();
        assert_eq!(total, plans.series as u64 * 4, "churn replaces series, it does not add samples");
    }

    #[test]
    fn start_times_are_each_counters_first_sample_and_restart_with_churn() {
        use prost::Message;
        let o = WriteOptions { protocol: Protocol::V2, start_timestamps: true, start_ms: 1_000_000, churn_ratio: 0.5, churn_interval: 2, samples: 4, ..options() };
        let plans = build_plans(&o).unwrap();
        // series labels -> (first sample time, every start seen)
        let mut seen: BTreeMap<String, (i64, Vec<i64>)> = BTreeMap::new();
        for request in plans.per_connection.iter().flatten() {
            let raw = snap::raw::Decoder::new().decompress_vec(&request.body).unwrap();
            let r = proto::remote_write_v2::Request::decode(raw.as_slice()).unwrap();
            for ts in r.timeseries {
                let labels = ts.labels_refs.chunks(2).map(|p| format!("{}={}", r.symbols[p[0] as usize], r.symbols[p[1] as usize])).collect::<Vec<_>>().join(",");
                let s = &ts.samples[0];
                let entry = seen.entry(labels).or_insert((s.timestamp, Vec::new()));
                entry.0 = entry.0.min(s.timestamp);
                entry.1.push(s.start_timestamp);
            }
        }
        let (mut counters, mut gauges, mut reborn) = (0, 0, 0);
        for (labels, (first, starts)) in &seen {
            if labels.starts_with("__name__=node_memory_MemAvailable_bytes,") {
                gauges += 1;
                assert!(starts.iter().all(|s| *s == 0), "a gauge has no start: {labels}");
            } else {
                counters += 1;
                assert!(starts.iter().all(|s| s == first), "start = the series' first sample time: {labels} {first} {starts:?}");
                reborn += usize::from(*first > o.start_ms);
            }
        }
        assert!(gauges > 0 && counters > 0 && reborn > 0, "{gauges} gauges, {counters} counters, {reborn} born by churn");
    }

    #[test]
    fn quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 51);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
