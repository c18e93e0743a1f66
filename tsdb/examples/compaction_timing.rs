//! Times block compaction for synthetic blocks and prints bytes per sample before and after:
//! `cargo run --release -p metricstor-tsdb --example compaction_timing -- DIR SERIES [write|compact]`
//! (`write` only writes the parents, `compact` only merges them).

use std::path::Path;
use std::time::Instant;

use tsdb::block::{write_block, CompactionJob};
use tsdb::{Labels, Sample};

const HOUR_MS: i64 = 3_600_000;
/// 15 s scrape interval.
const STEP_MS: i64 = 15_000;

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|es| {
            es.filter_map(Result::ok)
                .map(|e| if e.path().is_dir() { dir_bytes(&e.path()) } else { e.metadata().map(|m| m.len()).unwrap_or(0) })
                .sum()
        })
        .unwrap_or(0)
}

/// Writes and/or compacts three 2 h blocks: adjacent ones (chunks copied undecoded) or
/// overlapping ones (every series decoded, merged and re-encoded).
fn run(root: &Path, series: usize, overlapping: bool, mode: &str) {
    let dir = root.join(if overlapping { "overlapping" } else { "adjacent" });
    std::fs::create_dir_all(&dir).expect("mkdir");
    let labels: Vec<Labels> = (0..series)
        .map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string()), ("job", "bench".to_string())]))
        .collect();
    let mut parents = Vec::new();
    let mut samples_in = 0u64;
    if mode == "compact" {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .expect("ls")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| tsdb::block::is_ulid(n))
            .collect();
        names.sort();
        for n in &names {
            samples_in += tsdb::block::Block::open(&dir.join(n)).expect("open").meta.stats.num_samples;
        }
        parents = names;
    }
    for b in 0..3i64 {
        if mode == "compact" {
            break;
        }
        // Overlapping: the same 2 h range, interleaved timestamps (b, b+3, …).
        let (lo, hi, offset) = if overlapping { (0, 2 * HOUR_MS, b * 5_000) } else { (b * 2 * HOUR_MS, (b + 1) * 2 * HOUR_MS, 0) };
        let input: Vec<(Labels, Vec<Sample>)> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let samples: Vec<Sample> = (0..(hi - lo) / STEP_MS)
                    .map(|k| lo + k * STEP_MS + offset)
                    .map(|t| Sample { timestamp_ms: t, value: ((t / STEP_MS) % 100) as f64 + i as f64 })
                    .collect();
                (l.clone(), samples)
            })
            .collect();
        samples_in += input.iter().map(|(_, s)| s.len() as u64).sum::<u64>();
        let ulid = tsdb::block::new_ulid(1 + b as u64);
        write_block(&dir, &ulid, lo, hi, input).expect("write");
        parents.push(ulid);
    }
    if mode == "write" {
        return;
    }
    let bytes_in = dir_bytes(&dir);
    let started = Instant::now();
    let out = CompactionJob { shard_dir: dir.clone(), ulid: tsdb::block::new_ulid(10), parents }.run().expect("compact");
    let seconds = started.elapsed().as_secs_f64();
    let meta = out.meta.expect("a block");
    let bytes_out = dir_bytes(&dir.join(format!("{}.tmp", meta.ulid)));
    println!(
        "{}: {} series, {} samples; {:.3} s ({:.1} M samples/s); bytes/sample {:.3} in 3 blocks -> {:.3} in one (chunks {} -> {} bytes)",
        if overlapping { "overlapping" } else { "adjacent" },
        series,
        samples_in,
        seconds,
        samples_in as f64 / seconds / 1e6,
        bytes_in as f64 / samples_in as f64,
        bytes_out as f64 / meta.stats.num_samples as f64,
        out.chunk_bytes_in,
        out.chunk_bytes_out,
    );
}

/// Runs the adjacent blocks, then the overlapping ones. Run `write` and `compact` as two
/// processes to see the merge's own peak memory.
fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(series)) = (args.next(), args.next()) else {
        eprintln!("usage: compaction_timing DIR SERIES");
        std::process::exit(2);
    };
    let series: usize = series.parse().unwrap_or(10_000);
    let mode = args.next().unwrap_or_else(|| "both".to_string());
    let root = std::path::PathBuf::from(dir);
    run(&root, series, false, &mode);
    run(&root, series, true, &mode);
}
