//! Times one head cut (block write + WAL checkpoint) for a synthetic head:
//! `cargo run --release -p metricstor-tsdb --example cut_timing -- DIR SERIES SAMPLES_PER_SERIES`.

use std::time::Instant;

use tsdb::{Labels, Sample, SeriesSamples, ShardDb, ShardOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(series), Some(samples)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: cut_timing DIR SERIES SAMPLES_PER_SERIES");
        std::process::exit(2);
    };
    let (series, samples): (usize, i64) = (series.parse().unwrap_or(10_000), samples.parse().unwrap_or(240));
    let dir = std::path::PathBuf::from(dir);
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(move || async move {
            let options = ShardOptions { fsync_on_commit: false, ..ShardOptions::default() };
            let mut db = ShardDb::open(&dir, options).await.expect("open");
            let labels: Vec<Labels> = (0..series)
                .map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string()), ("job", "bench".to_string())]))
                .collect();
            // 30 s scrape interval from t = 0: SAMPLES_PER_SERIES samples, all in the first 2 h
            // block when SAMPLES_PER_SERIES <= 240.
            let started = Instant::now();
            for k in 0..samples {
                let batch: Vec<SeriesSamples> = labels
                    .iter()
                    .map(|l| SeriesSamples { labels: l.clone(), samples: vec![Sample { timestamp_ms: k * 30_000, value: (k % 17) as f64 }], histograms: Vec::new(), starts: None })
                    .collect();
                db.append_group(&[batch.as_slice()]).await.expect("append");
            }
            let ingest = started.elapsed();
            let started = Instant::now();
            let meta = db.force_cut().await.expect("cut").expect("a block");
            let cut = started.elapsed();
            let block_bytes: u64 = walk(&dir.join(&meta.ulid));
            println!(
                "series={series} samples={} ingest={ingest:?} cut={cut:?} block_bytes={block_bytes} bytes_per_sample={:.2}",
                meta.stats.num_samples,
                block_bytes as f64 / meta.stats.num_samples as f64
            );
            db.close().await.expect("close");
        })
        .expect("spawn")
        .join()
        .expect("join");
}

fn walk(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| if e.path().is_dir() { walk(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) })
                .sum()
        })
        .unwrap_or(0)
}
