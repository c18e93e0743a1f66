//! A block's index read through the page cache: series entries and postings lists are read
//! on demand through the (shared, bounded) cache, so a block opened with a tiny cache
//! answers exactly like one with a big cache, index reads move the cache's counters, damage
//! found on a cached read is still reported as corruption of the index, and a dropped
//! block's index pages leave the cache.

use std::path::{Path, PathBuf};

use tsdb::block::{write_block, Block, PageCache, PAGE_BYTES};
use tsdb::{Labels, MatchOp, Matcher, Sample};

const SERIES: usize = 3_000;

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).expect("matcher")
}

/// 3,000 series over [0, 12,500): a few samples each, every 300th with 12,000 (100 chunks:
/// an index entry longer than one read-ahead).
fn input() -> Vec<(Labels, Vec<Sample>)> {
    (0..SERIES)
        .map(|i| {
            let labels = Labels::from_pairs([
                ("__name__", format!("m{}", i % 3)),
                ("job", format!("j{}", i % 7)),
                ("pod", format!("p{i:04}")),
            ]);
            let first = (i as i64 % 50) * 10;
            let n = if i % 300 == 0 { 12_000 } else { 10 };
            let samples = (0..n).map(|k| Sample { timestamp_ms: first + k, value: (i as i64 * 31 + k) as f64 }).collect();
            (labels, samples)
        })
        .collect()
}

fn write(dir: &Path, seq: u64) -> PathBuf {
    write_block(dir, &tsdb::block::new_ulid(seq), 0, 12_500, input()).expect("write").0
}

/// The six offsets of the index's table of contents (symbols, series, label indices, label
/// offset table, postings, postings offset table).
fn toc(index: &[u8]) -> [usize; 6] {
    let at = index.len() - 52;
    let mut out = [0; 6];
    for (k, o) in out.iter_mut().enumerate() {
        let b: [u8; 8] = index[at + 8 * k..at + 8 * k + 8].try_into().expect("8 bytes");
        *o = u64::from_be_bytes(b) as usize;
    }
    out
}

#[test]
fn a_block_read_through_a_small_cache_answers_like_one_through_a_big_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), 1);
    use MatchOp::*;
    let matcher_sets = [
        vec![m(RegexMatch, "__name__", "m.*")],
        vec![m(Equal, "job", "j3")],
        vec![m(Equal, "pod", "p0300")],
        vec![m(Equal, "__name__", "m1"), m(NotEqual, "job", "j2")],
        vec![m(RegexNoMatch, "pod", "p0.*")],
        vec![m(Equal, "job", "nope")],
    ];
    let ranges = [(i64::MIN, i64::MAX), (0, 100), (95, 96), (490, 2_000), (5_000, 12_500)];
    let answers = |cache_bytes: u64| {
        let cache = PageCache::new(cache_bytes);
        let block = Block::open_in(&path, &cache).expect("open");
        let mut out = Vec::new();
        for ms in &matcher_sets {
            for &(lo, hi) in &ranges {
                out.push(format!("{:?}", block.select(ms, lo, hi).expect("select")));
                out.push(format!("{:?}", block.series(ms, lo, hi).expect("series")));
                out.push(format!("{:?}", block.label_names(ms, lo, hi).expect("names")));
                for name in ["job", "pod", "nope"] {
                    out.push(format!("{:?}", block.label_values(name, ms, lo, hi).expect("values")));
                }
            }
        }
        let s = cache.stats();
        assert!(s.bytes_in_use <= cache_bytes, "the bound holds: {s:?}");
        (out, s)
    };
    let (big, big_stats) = answers(64 << 20);
    assert_eq!(big_stats.evictions_total, 0);
    // (A one-page cache already reads through: index and chunk pages take turns.)
    for pages in [1, 2] {
        let (small, stats) = answers(pages * PAGE_BYTES as u64);
        assert_eq!(small.len(), big.len());
        for (k, (a, b)) in small.iter().zip(&big).enumerate() {
            assert!(a == b, "answer {k} differs with a cache of {pages} pages");
        }
        assert!(stats.misses_total > big_stats.misses_total, "a small cache reads again: {stats:?}");
    }
    // And the answers are the data.
    let cache = PageCache::new(1 << 20);
    let block = Block::open_in(&path, &cache).expect("open");
    let got = block.select(&matcher_sets[0], i64::MIN, i64::MAX).expect("select");
    let want: Vec<(Labels, Vec<Sample>)> = {
        let mut v = input();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(got.len(), SERIES);
    for (g, (labels, samples)) in got.iter().zip(&want) {
        assert_eq!((&g.labels, &g.samples), (labels, samples));
    }
}

#[test]
fn index_reads_go_through_the_cache_and_repeats_hit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write(dir.path(), 1);
    let cache = PageCache::new(64 << 20);
    let block = Block::open_in(&path, &cache).expect("open");
    let opened = cache.stats();
    // Only the chunk segment's header page: the index is not loaded into the cache (nor
    // into memory) at open.
    assert_eq!((opened.misses_total, opened.bytes_in_use), (1, PAGE_BYTES as u64), "{opened:?}");
    // Listings of a block wholly in the range come from the resident tables.
    let names = block.label_names(&[], i64::MIN, i64::MAX).expect("names");
    assert_eq!(names, vec!["__name__", "job", "pod"]);
    assert_eq!(block.label_values("job", &[], i64::MIN, i64::MAX).expect("values").len(), 7);
    assert_eq!(cache.stats(), opened, "no read for resident tables");
    // `series` reads postings and series entries only (no chunk).
    let j3 = [m(MatchOp::Equal, "job", "j3")];
    let first = block.series(&j3, i64::MIN, i64::MAX).expect("series");
    assert_eq!(first.len(), (0..SERIES).filter(|i| i % 7 == 3).count());
    let cold = cache.stats();
    assert!(cold.misses_total > opened.misses_total, "index pages were read: {cold:?}");
    assert!(cold.bytes_in_use > opened.bytes_in_use, "and are held by the cache: {cold:?}");
    let again = block.series(&j3, i64::MIN, i64::MAX).expect("series");
    assert_eq!(again, first);
    let warm = cache.stats();
    assert_eq!(warm.misses_total, cold.misses_total, "warm: no disk read");
    // At least one lookup for the postings list and one per series entry.
    assert!(warm.hits_total >= cold.hits_total + 1 + first.len() as u64, "{cold:?} → {warm:?}");
}

/// Flips one byte at `at` of the block's index.
fn flip(block: &Path, at: usize) {
    let path = block.join("index");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[at] ^= 0x10;
    std::fs::write(&path, bytes).expect("write");
}

fn assert_corrupt_index(result: Result<Vec<tsdb::SeriesSamples>, tsdb::Error>, what: &str) {
    match result {
        Err(tsdb::Error::Corrupt { path, message }) => {
            assert!(path.ends_with("index") && message.contains("checksum"), "{what}: {path:?} {message}");
        }
        other => panic!("{what}: expected a corrupt index, got {other:?}"),
    }
}

#[test]
fn flipped_bytes_in_series_entries_and_postings_lists_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let toc = toc(&std::fs::read(write(dir.path(), 1).join("index")).expect("read"));
    use MatchOp::*;
    let one = |pod: &str| vec![m(Equal, "pod", pod)];

    // The first series entry (series p0000: m0, j0 sort first) holds a flipped byte.
    let path = write(dir.path(), 2);
    flip(&path, toc[1].next_multiple_of(16) + 3);
    let cache = PageCache::new(PAGE_BYTES as u64);
    let block = Block::open_in(&path, &cache).expect("series are not read at open");
    assert_corrupt_index(block.select(&one("p0000"), i64::MIN, i64::MAX), "the damaged series");
    assert_corrupt_index(block.select(&[m(Equal, "__name__", "m0")], i64::MIN, i64::MAX), "a select reading it");
    assert_eq!(block.select(&one("p0001"), i64::MIN, i64::MAX).expect("another series").len(), 1);
    assert_eq!(block.label_names(&[], i64::MIN, i64::MAX).expect("resident").len(), 3);

    // The all-series postings list (first of the postings section), then the list of
    // __name__="m0" right after it.
    let path = write(dir.path(), 3);
    flip(&path, toc[4] + 8 + 4 * 10);
    let all_list_bytes = 4 + 4 + 4 * SERIES + 4;
    flip(&path, toc[4] + all_list_bytes + 8 + 4);
    let cache = PageCache::new(PAGE_BYTES as u64);
    let block = Block::open_in(&path, &cache).expect("postings are not read at open");
    assert_corrupt_index(block.select(&[m(NotEqual, "job", "j1")], i64::MIN, i64::MAX), "all-series postings");
    assert_corrupt_index(block.select(&[m(Equal, "__name__", "m0")], i64::MIN, i64::MAX), "m0's postings");
    assert_eq!(block.select(&[m(Equal, "__name__", "m1")], i64::MIN, i64::MAX).expect("m1").len(), SERIES / 3);
    assert_eq!(block.select(&one("p0001"), 0, 12_500).expect("another series").len(), 1);
    drop(block);
    assert_eq!(cache.stats().bytes_in_use, 0);
}

#[test]
fn a_dropped_blocks_index_pages_leave_the_cache() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (write(dir.path(), 1), write(dir.path(), 2));
    let cache = PageCache::new(64 << 20);
    let (block_a, block_b) = (Block::open_in(&a, &cache).expect("open a"), Block::open_in(&b, &cache).expect("open b"));
    let all = [m(MatchOp::RegexMatch, "__name__", ".+")];
    // Index reads only: postings and every series entry of each block.
    assert_eq!(block_a.series(&all, i64::MIN, i64::MAX).expect("a").len(), SERIES);
    let with_a = cache.stats().bytes_in_use;
    assert!(with_a > 2 * PAGE_BYTES as u64, "a's index pages are cached ({with_a} bytes)");
    assert_eq!(block_b.series(&all, i64::MIN, i64::MAX).expect("b").len(), SERIES);
    let with_both = cache.stats().bytes_in_use;
    drop(block_a);
    let s = cache.stats();
    assert_eq!(s.bytes_in_use, with_both - (with_a - PAGE_BYTES as u64), "exactly a's pages left (b's chunk header page stays)");
    block_b.series(&all, i64::MIN, i64::MAX).expect("b");
    assert_eq!(cache.stats().misses_total, s.misses_total, "b's pages stayed");
    drop(block_b);
    assert_eq!(cache.stats().bytes_in_use, 0);
}
