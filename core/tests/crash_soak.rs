//! Crash soak: a writer pushes batches while the real server is SIGKILLed and restarted
//! again and again; afterwards every acknowledged sample must be readable. Cycles default
//! to 6 (bounded for CI); set METRICSTOR_SOAK_CYCLES for a longer run.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::*;

const SERIES_PER_BATCH: usize = 50;

/// Batch `n`: 50 series `soak_<k>` each with one sample at t = n seconds, value n.
fn batch(n: i64) -> Vec<u8> {
    let names: Vec<String> = (0..SERIES_PER_BATCH).map(|k| format!("s{k}")).collect();
    let series: Vec<support::SeriesInput<'_>> =
        names.iter().map(|k| (vec![("__name__", "soak"), ("series", k.as_str())], vec![(n * 1000, n as f64)])).collect();
    v1_request(&series)
}

#[test]
fn acknowledged_samples_survive_repeated_sigkill() {
    let cycles: usize = std::env::var("METRICSTOR_SOAK_CYCLES").ok().and_then(|c| c.parse().ok()).unwrap_or(6);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let acked: Arc<Mutex<Vec<i64>>> = Arc::new(Mutex::new(Vec::new()));
    let mut next: i64 = 1;
    let mut server = Server::start(&config);
    for cycle in 0..cycles {
        let url = server.url("/api/v1/write");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (acked, stop) = (acked.clone(), stop.clone());
            let first = next;
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
                let mut n = first;
                while !stop.load(Ordering::Relaxed) {
                    let ok = agent
                        .post(&url)
                        .set("Content-Type", "application/x-protobuf")
                        .set("Content-Encoding", "snappy")
                        .send_bytes(&batch(n))
                        .map(|r| r.status() == 204)
                        .unwrap_or(false);
                    if ok {
                        acked.lock().unwrap().push(n);
                    }
                    n += 1;
                }
                n
            })
        };
        // Let some writes land, then kill mid-stream (the writer is still sending).
        let until = Instant::now() + Duration::from_millis(300 + 100 * cycle as u64);
        while Instant::now() < until && acked.lock().unwrap().len() < 20 * (cycle + 1) {
            std::thread::yield_now();
        }
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        next = writer.join().unwrap();
        server = Server::start(&config);
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= cycles, "the writer got too few acknowledgements to prove anything: {}", acked.len());
    // Every acknowledged batch is readable: each series has a sample at t = n with value n.
    let export = agent().get(&server.url("/api/v1/export?match[]=soak")).call().unwrap().into_string().unwrap();
    let mut stored: std::collections::HashMap<String, std::collections::HashSet<i64>> = Default::default();
    for line in export.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("export line is JSON (all values finite)");
        let series = v["metric"]["series"].as_str().unwrap().to_string();
        let timestamps = v["timestamps"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap() / 1000);
        stored.entry(series).or_default().extend(timestamps);
    }
    assert_eq!(stored.len(), SERIES_PER_BATCH, "every series exists");
    for (series, times) in &stored {
        let lost: Vec<&i64> = acked.iter().filter(|n| !times.contains(n)).collect();
        assert!(lost.is_empty(), "series {series} lost acknowledged batches {lost:?} after {cycles} kill cycles");
    }
    eprintln!("crash soak: {cycles} SIGKILL/restart cycles, {} acknowledged batches ({} samples), none lost", acked.len(), acked.len() * SERIES_PER_BATCH);
    assert!(server.stop());
}
