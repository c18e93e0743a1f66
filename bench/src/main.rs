//! `metricstor-bench`: load generator for any remote_write + Prometheus-API server
//! (Metricstor, Prometheus, VictoriaMetrics). Subcommands: `write`, `query`, `verify`.

mod args;
mod encode;
mod query_load;
mod series_gen;
mod verify;
mod write_load;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use args::{Args, USAGE};
use encode::Protocol;
use write_load::{quantile, Counters, WriteOptions};

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
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
    let options = WriteOptions {
        url: args.string("url", "http://127.0.0.1:9101/api/v1/write"),
        series: args.number("series", 10_000)?,
        samples,
        interval_ms,
        batch_series: args.number("batch-series", 2000)?,
        connections: args.number("connections", 4)?,
        protocol,
        start_ms: args.number("start-ms", now_ms() - samples as i64 * interval_ms)?,
        seed: args.number("seed", 1)?,
    };
    args.finish()?;
    let counters = Arc::new(Counters::default());
    let progress = {
        let counters = counters.clone();
        std::thread::spawn(move || {
            let mut last = 0;
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let now = counters.samples_sent.load(Ordering::Relaxed);
                if now == u64::MAX {
                    return;
                }
                eprintln!(
                    "  {} samples/s, {} sent, {} errors, {} retries",
                    now - last,
                    now,
                    counters.errors.load(Ordering::Relaxed),
                    counters.retries.load(Ordering::Relaxed)
                );
                last = now;
            }
        })
    };
    let report = write_load::run(&options, counters.clone());
    counters.samples_sent.store(u64::MAX, Ordering::Relaxed);
    let _ = progress.join();
    let rate = report.samples_sent as f64 / report.seconds.max(1e-9);
    let ms = |q| quantile(&report.latencies_us, q) as f64 / 1000.0;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "samples_sent": report.samples_sent, "seconds": report.seconds, "samples_per_second": rate,
                "requests": report.requests, "errors": report.errors, "retries": report.retries,
                "bytes_sent": report.bytes_sent, "encode_seconds": report.encode_seconds,
                "latency_ms_p50": ms(0.5), "latency_ms_p90": ms(0.9), "latency_ms_p99": ms(0.99),
                "first_errors": report.first_errors,
            })
        );
    } else {
        println!("series x samples:  {} x {} ({:?}, {} connections)", options.series, options.samples, options.protocol, options.connections);
        println!("samples sent:      {} in {:.2} s (bodies pre-encoded in {:.2} s, {} bytes)", report.samples_sent, report.seconds, report.encode_seconds, report.bytes_sent);
        println!("throughput:        {rate:.0} samples/s");
        println!("requests:          {} ({} errors, {} retries)", report.requests, report.errors, report.retries);
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
    };
    args.finish()?;
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
    let samples: usize = args.number("samples", 10)?;
    let interval_ms: i64 = args.number("interval-ms", 15_000)?;
    let options = verify::VerifyOptions {
        url: args.string("url", "http://127.0.0.1:9101"),
        series: args.number("series", 10_000)?,
        samples,
        start_ms: match args.number::<i64>("start-ms", i64::MIN)? {
            i64::MIN => return Err("--start-ms is required: pass the value the write run used".into()),
            v => v,
        },
        interval_ms,
    };
    args.finish()?;
    let rows = verify::run(&options)?;
    let bad: Vec<_> = rows.iter().filter(|(_, want, found)| want != found).collect();
    let total: u64 = rows.iter().map(|(_, want, _)| want).sum();
    for (name, want, found) in &bad {
        println!("MISMATCH {name}: expected {want} samples, found {found}");
    }
    println!("verify: {} metric names, {total} samples expected, {} mismatching names", rows.len(), bad.len());
    if bad.is_empty() { Ok(()) } else { Err("verification failed".into()) }
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
