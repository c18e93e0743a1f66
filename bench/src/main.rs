//! `metricstor-bench`: load generator for any remote_write + Prometheus-API server
//! (Metricstor, Prometheus, VictoriaMetrics). Subcommands: `write`, `query`, `verify`;
//! the options are listed in `args::USAGE`.

mod args;
mod encode;
mod native_histogram;
mod pacing;
mod query_load;
mod series_gen;
mod tls;
mod transport;
mod verify;
mod write_load;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use args::{Args, USAGE};
use encode::Protocol;
use series_gen::{GenOptions, Histograms};
use tls::TlsFiles;
use write_load::{quantile, Counters, WriteOptions};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

fn generator_options(args: &mut Args) -> Result<GenOptions, String> {
    let d = GenOptions::default();
    let histograms = match args.string("histograms", "classic").as_str() {
        "classic" => match args.number::<i32>("native-schema", i32::MIN)? {
            i32::MIN => Histograms::Classic,
            _ => return Err("--native-schema needs --histograms native".into()),
        },
        "native" => Histograms::Native { schema: args.number("native-schema", native_histogram::SCHEMA_DEFAULT)? },
        other => return Err(format!("--histograms must be classic or native, not {other:?}")),
    };
    Ok(GenOptions {
        histograms,
        series: args.number("series", d.series)?,
        metrics: args.number("metrics", d.metrics)?,
        buckets: args.number("buckets", d.buckets)?,
        instances: args.number("instances", d.instances)?,
        jobs: args.number("jobs", d.jobs)?,
        seed: args.number("seed", d.seed)?,
    })
}

fn optional_path(args: &mut Args, name: &str) -> Option<std::path::PathBuf> {
    Some(args.string(name, "")).filter(|s| !s.is_empty()).map(Into::into)
}

/// Prints "N samples/s, ..." once a second until the run is done (compare.py reads it); with
/// native histograms N counts floats and histograms, split in parentheses after it.
/// Each rate is over the part of the second spent sending: the first line does not count the
/// encoding before the clock started, nor the last the time after the last connection ended.
fn progress_line(counters: Arc<Counters>, native: bool) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = 0;
        let mut last_histograms = 0;
        let mut last_at: Option<std::time::Instant> = None;
        loop {
            let done = counters.done.load(Ordering::Relaxed);
            if !done {
                std::thread::sleep(Duration::from_secs(1));
            }
            let Some(&since) = counters.sending_since.get() else {
                if done {
                    return;
                }
                continue; // still encoding the bodies
            };
            let from = last_at.map_or(since, |at| at.max(since));
            let to = counters.sending_until.get().copied().unwrap_or_else(std::time::Instant::now);
            let seconds = to.saturating_duration_since(from).as_secs_f64();
            let now = counters.samples_acked.load(Ordering::Relaxed);
            let now_histograms = counters.histograms_acked.load(Ordering::Relaxed);
            let window = counters.take_window();
            if native && (seconds > 0.0 || now + now_histograms > last + last_histograms) {
                let per_s = |n: u64| n as f64 / seconds.max(1e-3);
                eprintln!(
                    "  {:.0} samples/s ({:.0} floats + {:.0} histograms), {} acked ({now_histograms} histograms), {} errors, {} rejected, {} retries, p99 {:.1} ms (last second, {} requests)",
                    per_s(now + now_histograms - last - last_histograms),
                    per_s(now - last),
                    per_s(now_histograms - last_histograms),
                    now + now_histograms,
                    counters.errors.load(Ordering::Relaxed),
                    counters.rejected.load(Ordering::Relaxed),
                    counters.retries.load(Ordering::Relaxed),
                    quantile(&window, 0.99) as f64 / 1000.0,
                    window.len(),
                );
            } else if seconds > 0.0 || now > last {
                eprintln!(
                    "  {:.0} samples/s, {now} acked, {} errors, {} rejected, {} retries, p99 {:.1} ms (last second, {} requests)",
                    (now - last) as f64 / seconds.max(1e-3),
                    counters.errors.load(Ordering::Relaxed),
                    counters.rejected.load(Ordering::Relaxed),
                    counters.retries.load(Ordering::Relaxed),
                    quantile(&window, 0.99) as f64 / 1000.0,
                    window.len(),
                );
            }
            last = now;
            last_histograms = now_histograms;
            last_at = Some(to);
            if done {
                return;
            }
        }
    })
}

fn write_command(mut args: Args) -> Result<(), String> {
    let json = args.flag("json");
    let samples: usize = args.number("samples", 10)?;
    let interval_ms: i64 = args.number("interval-ms", 15_000)?;
    let protocol = match args.string("protocol", "v1").as_str() {
        "v1" => Protocol::V1,
        "v2" => Protocol::V2,
        other => return Err(format!("--protocol must be v1 or v2, not {other:?}")),
    };
    let churn_ratio: f64 = args.number("churn-ratio", 0.0)?;
    if !(0.0..=1.0).contains(&churn_ratio) {
        return Err("--churn-ratio must be within 0..=1".into());
    }
    let options = WriteOptions {
        url: args.string("url", "http://127.0.0.1:9101/api/v1/write"),
        generator: generator_options(&mut args)?,
        samples,
        interval_ms,
        batch_series: args.number("batch-series", 2000)?,
        connections: args.number("connections", 4)?,
        protocol,
        start_timestamps: args.flag("start-timestamps"),
        start_ms: args.number("start-ms", now_ms() - samples as i64 * interval_ms)?,
        churn_ratio,
        churn_interval: args.number("churn-interval", 0)?,
        rate: args.number("rate", 0.0)?,
        http2: args.flag("http2"),
        tls: TlsFiles { ca_file: optional_path(&mut args, "ca-file"), cert_file: optional_path(&mut args, "cert-file"), key_file: optional_path(&mut args, "key-file") },
        no_retry: args.flag("no-retry"),
    };
    args.finish()?;
    if options.start_timestamps && options.protocol != Protocol::V2 {
        return Err("--start-timestamps needs --protocol v2 (remote_write 1.0 has no start times)".into());
    }
    let native = matches!(options.generator.histograms, Histograms::Native { .. });
    let counters = Arc::new(Counters::default());
    let progress = progress_line(counters.clone(), native);
    let report = write_load::run(&options, counters.clone());
    counters.done.store(true, Ordering::Relaxed);
    let _ = progress.join();
    let report = report?;
    // "samples" are float samples; "histograms" native histogram samples; "total" both.
    let per_s = |n: u64| n as f64 / report.seconds.max(1e-9);
    let rate = per_s(report.samples_acked);
    let offered = per_s(report.samples_acked + report.samples_rejected + report.samples_failed);
    let total_acked = report.samples_acked + report.histograms_acked;
    let total_offered = total_acked + report.samples_rejected + report.samples_failed + report.histograms_rejected + report.histograms_failed;
    let ms = |q| quantile(&report.latencies_us, q) as f64 / 1000.0;
    let transport = if options.http2 { "HTTP/2" } else { "HTTP/1.1" };
    let native_schema = match options.generator.histograms {
        Histograms::Native { schema } => Some(schema),
        Histograms::Classic => None,
    };
    if json {
        println!(
            "{}",
            serde_json::json!({
                "samples_sent": report.samples_acked, "samples_acked": report.samples_acked,
                "samples_rejected": report.samples_rejected, "samples_failed": report.samples_failed,
                // `_sent` counts what the server acknowledged, as samples_sent always has.
                "histograms": if native { "native" } else { "classic" }, "native_schema": native_schema,
                "histograms_sent": report.histograms_acked, "histograms_acked": report.histograms_acked,
                "histograms_rejected": report.histograms_rejected, "histograms_failed": report.histograms_failed,
                "histograms_per_second": per_s(report.histograms_acked),
                "total_acked": total_acked, "total_per_second": per_s(total_acked), "offered_total_per_second": per_s(total_offered),
                "samples_written": report.samples_written, "histograms_written": report.histograms_written,
                "native_histogram_names": report.native_histogram_names,
                "seconds": report.seconds, "samples_per_second": rate, "offered_samples_per_second": offered,
                "target_rate": options.rate, "schedule_lag_ms_max": report.schedule_lag_ms_max,
                "series": report.series, "samples_per_series": options.samples,
                "start_ms": options.start_ms, "interval_ms": options.interval_ms,
                "requests": report.requests, "errors": report.errors, "rejected_requests": report.rejected,
                "retries": report.retries, "bytes_sent": report.bytes_sent, "encode_seconds": report.encode_seconds, "sending_cpu_seconds": report.sending_cpu_seconds,
                "latency_ms_p50": ms(0.5), "latency_ms_p90": ms(0.9), "latency_ms_p99": ms(0.99),
                "first_errors": report.first_errors, "acked_by_name": report.acked_by_name,
                "rejected_by_name": report.rejected_by_name,
            })
        );
    } else {
        let histograms = native_schema.map_or(String::new(), |schema| format!(", native histograms of schema {schema}"));
        println!(
            "series x samples:  {} x {} ({:?}, {transport}, {} connections{histograms})",
            report.series, options.samples, options.protocol, options.connections
        );
        if native {
            println!(
                "samples acked:     {total_acked} ({} floats + {} histograms) in {:.2} s (bodies pre-encoded in {:.2} s, {} bytes)",
                report.samples_acked, report.histograms_acked, report.seconds, report.encode_seconds, report.bytes_sent
            );
            println!(
                "throughput:        {:.0} samples/s acked ({rate:.0} floats + {:.0} histograms), {:.0} samples/s offered",
                per_s(total_acked),
                per_s(report.histograms_acked),
                per_s(total_offered)
            );
        } else {
            println!("samples acked:     {} in {:.2} s (bodies pre-encoded in {:.2} s, {} bytes)", report.samples_acked, report.seconds, report.encode_seconds, report.bytes_sent);
            println!("throughput:        {rate:.0} samples/s acked, {offered:.0} samples/s offered");
        }
        if report.samples_written.is_some() {
            let (samples, histograms) = (report.samples_written.unwrap_or(0), report.histograms_written.unwrap_or(0));
            let verdict = if (samples, histograms) == (report.samples_acked, report.histograms_acked) { "as acked" } else { "DIFFERS from what was acked" };
            println!("server counted:    {samples} samples + {histograms} histograms written (X-Prometheus-Remote-Write-*-Written), {verdict}");
        }
        if let Some(cpu) = report.sending_cpu_seconds {
            println!("generator CPU:     {cpu:.2} s while sending ({:.2} CPUs)", cpu / report.seconds.max(1e-9));
        }
        if options.rate > 0.0 {
            let planned = pacing::planned_seconds(total_offered, options.rate).unwrap_or(0.0);
            println!(
                "target rate:       {:.0} samples/s, planned {planned:.1} s (latest request {:.0} ms behind schedule)",
                options.rate, report.schedule_lag_ms_max
            );
        }
        let rejected_histograms = if native { format!(" and {} histograms", report.histograms_rejected) } else { String::new() };
        println!(
            "requests:          {} ({} errors, {} rejected with {} samples{rejected_histograms}, {} retries)",
            report.requests, report.errors, report.rejected, report.samples_rejected, report.retries
        );
        println!("latency ms:        p50 {:.2}  p90 {:.2}  p99 {:.2}", ms(0.5), ms(0.9), ms(0.99));
        for e in &report.first_errors {
            println!("error:             {e}");
        }
    }
    if report.errors > 0 {
        return Err(format!("{} requests failed", report.errors));
    }
    Ok(())
}

fn query_command(mut args: Args) -> Result<(), String> {
    let json = args.flag("json");
    let options = query_load::QueryOptions {
        url: args.string("url", "http://127.0.0.1:9101"),
        seconds: args.number("seconds", 30)?,
        concurrency: args.number("concurrency", 4)?,
        end_ms: args.number("end-ms", now_ms())?,
        rate_window: args.string("rate-window", "5m"),
        refresh_shift_s: args.number("refresh-shift-s", 0)?,
        requests_per_s: args.number("requests-per-s", 0.0)?,
    };
    args.finish()?;
    if !(options.requests_per_s.is_finite() && options.requests_per_s >= 0.0) {
        return Err(format!("--requests-per-s: {} is not a rate (a number >= 0)", options.requests_per_s));
    }
    let reports = query_load::run(&options);
    let ms = |r: &query_load::KindReport, q| quantile(&r.latencies_us, q) as f64 / 1000.0;
    let errors: u64 = reports.iter().map(|r| r.errors).sum();
    if json {
        let rows: Vec<serde_json::Value> = reports
            .iter()
            .map(|r| serde_json::json!({"kind": r.name, "requests": r.latencies_us.len(), "errors": r.errors,
                "latency_ms_p50": ms(r, 0.5), "latency_ms_p90": ms(r, 0.9), "latency_ms_p99": ms(r, 0.99)}))
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    } else {
        println!("{:<22} {:>8} {:>7} {:>9} {:>9} {:>9}", "kind", "requests", "errors", "p50 ms", "p90 ms", "p99 ms");
        for r in &reports {
            println!("{:<22} {:>8} {:>7} {:>9.1} {:>9.1} {:>9.1}", r.name, r.latencies_us.len(), r.errors, ms(r, 0.5), ms(r, 0.9), ms(r, 0.99));
        }
    }
    if errors > 0 {
        return Err(format!("{errors} queries failed"));
    }
    Ok(())
}

fn verify_command(mut args: Args) -> Result<(), String> {
    let url = args.string("url", "http://127.0.0.1:9101");
    let options = match optional_path(&mut args, "expect") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let w = verify::expected_from_write_json(&text)?;
            verify::VerifyOptions {
                url,
                start_ms: w.start_ms,
                interval_ms: w.interval_ms,
                samples: w.samples_per_series,
                expected: w.expected,
                extra_allowed: w.rejected,
                native_histogram_names: w.native_histogram_names,
            }
        }
        None => {
            let samples: usize = args.number("samples", 10)?;
            let generator = generator_options(&mut args)?;
            let (expected, native_histogram_names) = verify::expected_from_generator(&generator, samples)?;
            verify::VerifyOptions {
                url,
                interval_ms: args.number("interval-ms", 15_000)?,
                samples,
                start_ms: match args.number::<i64>("start-ms", i64::MIN)? {
                    i64::MIN => return Err("--start-ms is required: pass the value the write run used".into()),
                    v => v,
                },
                expected,
                extra_allowed: Default::default(),
                native_histogram_names,
            }
        }
    };
    args.finish()?;
    let rows = verify::run(&options)?;
    let total: u64 = rows.iter().map(|r| r.expected).sum();
    let found: u64 = rows.iter().map(|r| r.found).sum();
    let mut bad = 0;
    for r in &rows {
        if r.found < r.expected {
            bad += 1;
            println!("MISSING {}: expected {} samples, found {}", r.name, r.expected, r.found);
        } else if r.found > r.expected + r.extra_allowed {
            bad += 1;
            println!("EXTRA {}: expected {} samples (+ up to {} from rejected requests), found {}", r.name, r.expected, r.extra_allowed, r.found);
        } else if r.histograms_unreadable() {
            bad += 1;
            let (series, histograms) = r.histogram_series.unwrap_or_default();
            println!("NOT HISTOGRAMS {}: of the {series} series at the end, {histograms} read back as native histograms", r.name);
        }
    }
    let extra: u64 = rows.iter().map(|r| r.found.saturating_sub(r.expected)).sum();
    let allowed: u64 = rows.iter().map(|r| r.extra_allowed).sum();
    println!("verify: {} metric names, {total} samples expected, {found} found, {bad} mismatching names", rows.len());
    let native: Vec<&verify::NameCount> = rows.iter().filter(|r| r.histogram_series.is_some()).collect();
    if !native.is_empty() {
        let histograms: u64 = native.iter().map(|r| r.found).sum();
        let series: u64 = native.iter().filter_map(|r| r.histogram_series).map(|(_, h)| h).sum();
        println!(
            "verify: {} native histogram names: {histograms} histograms found (counted in the samples above); at the end, {series} series read back as histograms",
            native.len()
        );
    }
    if allowed > 0 {
        println!("verify: {extra} of the {allowed} samples in rejected requests were stored anyway (the server kept part of a 429'd request)");
    }
    if bad == 0 { Ok(()) } else { Err("verification failed".into()) }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.is_empty() || raw.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = Args::parse(raw.into_iter()).and_then(|args| match args.command.as_str() {
        "write" => write_command(args),
        "query" => query_command(args),
        "verify" => verify_command(args),
        other => Err(format!("unknown subcommand {other:?}; see --help")),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metricstor-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
