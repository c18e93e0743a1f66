//! Times block queries with a cold and a warm page cache (block files are read with O_DIRECT,
//! so "cold" really goes to the device): `cargo run --release -p metricstor-tsdb --example
//! page_cache_timing -- DIR SERIES PAGE_CACHE_MB`. Writes one 2 h block of SERIES series
//! (240 samples each) into DIR when it holds none.

use std::time::{Duration, Instant};

use tsdb::{Labels, MatchOp, Matcher, Sample, SeriesSamples, ShardDb, ShardOptions, ShardStats};

const HOUR_MS: i64 = 3600 * 1000;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(series), Some(cache_mb)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: page_cache_timing DIR SERIES PAGE_CACHE_MB");
        std::process::exit(2);
    };
    let series: usize = series.parse().unwrap_or(10_000);
    let cache_mb: u64 = cache_mb.parse().unwrap_or(64);
    let dir = std::path::PathBuf::from(dir);
    glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(1 << 20)
        .spawn(move || async move {
            let options = ShardOptions { fsync_on_commit: false, page_cache_bytes: cache_mb << 20, ..ShardOptions::default() };
            let mut db = ShardDb::open(&dir, options.clone()).await.expect("open");
            if db.blocks().is_empty() {
                let labels: Vec<Labels> = (0..series)
                    .map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", format!("{i:06}")), ("job", "bench".to_string())]))
                    .collect();
                for k in 0..240 {
                    let batch: Vec<SeriesSamples> = labels
                        .iter()
                        .enumerate()
                        .map(|(i, l)| SeriesSamples { labels: l.clone(), samples: vec![Sample { timestamp_ms: k * 30_000, value: ((k * 7 + i as i64) % 1000) as f64 }], histograms: Vec::new(), starts: None })
                        .collect();
                    db.append_group(&[batch.as_slice()]).await.expect("append");
                }
                db.force_cut().await.expect("cut").expect("a block");
            }
            db.close().await.expect("close");
            for (name, matchers) in [
                ("all series", vec![Matcher::new(MatchOp::Equal, "__name__", "m").expect("matcher")]),
                ("1% of series", vec![Matcher::new(MatchOp::RegexMatch, "i", "0000[0-9][0-9]").expect("matcher")]),
                ("one series", vec![Matcher::new(MatchOp::Equal, "i", "000123").expect("matcher")]),
            ] {
                // A fresh open: an empty cache, and O_DIRECT keeps the OS page cache out.
                let db = ShardDb::open(&dir, options.clone()).await.expect("open");
                let (cold, s0) = timed(&db, &matchers);
                let mut warm = Vec::new();
                let mut s1 = s0;
                for _ in 0..5 {
                    let (t, s) = timed(&db, &matchers);
                    warm.push(t);
                    s1 = s;
                }
                warm.sort();
                let hits = s1.page_cache_hits_total - s0.page_cache_hits_total;
                let misses = s1.page_cache_misses_total - s0.page_cache_misses_total;
                println!(
                    "{name}: cold={cold:?} (misses={}, hits={}) warm_median={:?} warm hit rate={:.3} (hits={hits}, misses={misses}) cache_bytes={} evictions={} fallbacks={}",
                    s0.page_cache_misses_total,
                    s0.page_cache_hits_total,
                    warm[warm.len() / 2],
                    hits as f64 / (hits + misses).max(1) as f64,
                    s1.page_cache_bytes,
                    s1.page_cache_evictions_total,
                    s1.block_direct_io_fallbacks_total,
                );
                db.close().await.expect("close");
            }
        })
        .expect("spawn")
        .join()
        .expect("join");
}

fn timed(db: &ShardDb, matchers: &[Matcher]) -> (Duration, ShardStats) {
    let started = Instant::now();
    let got = db.select(matchers, 0, 2 * HOUR_MS);
    let elapsed = started.elapsed();
    assert!(!got.is_empty());
    (elapsed, db.stats())
}
