//! What an opened block costs in memory and time, and what an `=` select over it costs with
//! a cold and a warm page cache: `cargo run --release -p metricstor-tsdb --example
//! index_open_cost -- DIR [SERIES]`. Block files are read with O_DIRECT, so a new cache is
//! really cold.

use std::time::{Duration, Instant};

use tsdb::block::{Block, PageCache, PAGE_CACHE_BYTES_DEFAULT};
use tsdb::{Labels, MatchOp, Matcher, Sample};

#[path = "support/counting_allocator.rs"]
mod counting_allocator;

use counting_allocator::{live_bytes, Counting};

/// Counts the bytes allocated and not freed: the heap figure is what `Block::open_in` keeps,
/// page cache buffers included (and also shown apart).
#[global_allocator]
static ALLOCATOR: Counting = Counting;

const GROUPS: usize = 100;
const OPENS: usize = 5;
const WARM_RUNS: usize = 9;

/// Writes one block of SERIES series (default 100,000; labels `__name__`, `group` = one of
/// 100 values, `i`, `job`; 120 samples each) into DIR when it holds none, then times its
/// opens and selects.
fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: index_open_cost DIR [SERIES]");
        std::process::exit(2);
    };
    let series: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("create the directory");
    // A block written by an earlier run is reused (so that runs compare the same files).
    let existing = std::fs::read_dir(&dir)
        .expect("list the directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.join("index").is_file());
    let path = existing.unwrap_or_else(|| dir.join(tsdb::block::new_ulid(1)));
    if !path.exists() {
        let ulid = path.file_name().and_then(|n| n.to_str()).expect("a ULID").to_string();
        let started = Instant::now();
        let input: Vec<(Labels, Vec<Sample>)> = (0..series)
            .map(|i| {
                let labels = Labels::from_pairs([
                    ("__name__", "m".to_string()),
                    ("group", format!("g{:03}", i % GROUPS)),
                    ("i", format!("{i:06}")),
                    ("job", "bench".to_string()),
                ]);
                let samples = (0..120).map(|k| Sample { timestamp_ms: k * 60_000, value: ((k * 7 + i as i64) % 1000) as f64 }).collect();
                (labels, samples)
            })
            .collect();
        tsdb::block::write_block(&dir, &ulid, 0, 120 * 60_000, input).expect("write the block");
        println!("wrote {series} series in {:?}", started.elapsed());
    }
    let index_bytes = std::fs::metadata(path.join("index")).expect("stat the index").len();
    println!("index file: {index_bytes} bytes");

    let mut opens = Vec::new();
    for _ in 0..OPENS {
        let cache = PageCache::new(PAGE_CACHE_BYTES_DEFAULT);
        let rss_before = vm_rss_kib();
        let live_before = live_bytes();
        let started = Instant::now();
        let block = Block::open_in(&path, &cache).expect("open");
        let elapsed = started.elapsed();
        let retained = live_bytes() - live_before;
        let rss = vm_rss_kib() - rss_before;
        opens.push((elapsed, retained, cache.stats().bytes_in_use, rss));
        drop(block);
    }
    // Later opens reuse the memory freed by the earlier ones: only the first moves VmRSS.
    let first_rss = opens[0].3;
    opens.sort();
    let (elapsed, retained, cache_bytes, _) = opens[OPENS / 2];
    println!(
        "open (median of {OPENS}): {elapsed:?}; heap retained by the Block: {retained} bytes \
         ({cache_bytes} of them page cache buffers); VmRSS delta of the first open {first_rss} KiB"
    );

    // Series of one group are adjacent in the index (labels sort by `group` before `i`);
    // those of `i=~".*7"` are spread over the whole index.
    let queries: [(&str, Matcher, bool); 3] = [
        ("select group=\"g007\"", Matcher::new(MatchOp::Equal, "group", "g007").expect("matcher"), true),
        ("series group=\"g007\" (index only)", Matcher::new(MatchOp::Equal, "group", "g007").expect("matcher"), false),
        ("series i=~\".*7\" (index only)", Matcher::new(MatchOp::RegexMatch, "i", ".*7").expect("matcher"), false),
    ];
    for (name, matcher, samples) in queries {
        let matchers = [matcher];
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        let mut found = 0;
        let mut stats = None;
        for _ in 0..OPENS {
            let cache = PageCache::new(PAGE_CACHE_BYTES_DEFAULT);
            let block = Block::open_in(&path, &cache).expect("open");
            let (t, n) = timed(&block, &matchers, samples);
            cold.push(t);
            found = n;
            for _ in 0..WARM_RUNS {
                warm.push(timed(&block, &matchers, samples).0);
            }
            stats.get_or_insert(cache.stats());
        }
        cold.sort();
        warm.sort();
        println!(
            "{name} ({found} series): cold median {:?} (min {:?}), warm median {:?} (min {:?}); cache after 1 cold + {WARM_RUNS} warm: {:?}",
            cold[cold.len() / 2],
            cold[0],
            warm[warm.len() / 2],
            warm[0],
            stats,
        );
    }
}

fn timed(block: &Block, matchers: &[Matcher], samples: bool) -> (Duration, usize) {
    let started = Instant::now();
    let n = if samples {
        block.select(matchers, i64::MIN, i64::MAX).expect("select").len()
    } else {
        block.series(matchers, i64::MIN, i64::MAX).expect("series").len()
    };
    (started.elapsed(), n)
}

fn vm_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}
