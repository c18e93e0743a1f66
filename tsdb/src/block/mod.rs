//! Immutable blocks in the Prometheus TSDB block format (`tsdb/docs/block.md`):
//! `<ULID>/{meta.json, index, chunks/000001…, tombstones}`, readable by `promtool tsdb`.
//! Written atomically (build in `<ULID>.tmp`, fsync, rename); written and read with O_DIRECT
//! (`direct_io`) through the shard's bounded page cache, never through the OS page cache.

mod chunks_format;
mod direct_io;
pub mod compact;
pub mod compact_plan;
mod encoding;
mod link;
pub mod index_format;
mod meta;
/// The shard's bounded page cache: of a block's index only the symbols and the postings
/// offset table are held in memory; its series entries and postings lists, and the chunks,
/// are read one at a time through this cache.
pub mod page_cache;
mod reader;
mod stream_writer;
pub mod tombstones;
mod ulid;
mod writer;

use std::path::Path;
use std::rc::Rc;

pub(crate) use direct_io::{DirectFile, DirectWriter, SequentialReader};
pub use direct_io::buffered_writes_total;
pub use link::link_block;
pub use chunks_format::{ChunkReader, SEGMENT_BYTES_MAX};
pub use meta::{BlockCompaction, BlockMeta, BlockParent, BlockStats};
pub use page_cache::{PageCache, PageCacheStats, PAGE_BYTES, PAGE_CACHE_BYTES_DEFAULT};
pub use compact::{CompactionJob, CompactionOutput};
pub use compact_plan::{compaction_ranges, PlanBlock};
pub use reader::Block;
pub use stream_writer::{commit_tmp, RawChunk, StreamBlockWriter};
pub use ulid::{is_ulid, new_ulid, random_u64, ulid_of, ulid_time_ms};
pub use tombstones::Tombstones;
pub use writer::{sync_dir, write_block, write_block_as, write_content_named_block, write_cut_block, BlockSeries, DELETED_SUFFIX, TMP_SUFFIX};

use crate::error::Error;

/// Opens every block directory in `dir` (names that are ULIDs), sorted by ULID, after
/// removing leftovers of interrupted writes (`<ULID>.tmp`) and deletions (`<ULID>.deleted`).
/// Other entries (`metricstor-wal/`, files promtool may leave) are ignored. A block that fails to open
/// (damaged files) is reported with its error and left on disk, unserved; the rest open.
/// A block named as a parent by another block (a rewrite that finished before a crash
/// could delete the original) is deleted. The blocks get a page cache of their own; a
/// shard uses `open_blocks_in` with its cache.
pub fn open_blocks(dir: &Path) -> Result<Vec<Block>, Error> {
    open_blocks_in(dir, &PageCache::new(PAGE_CACHE_BYTES_DEFAULT))
}

/// `open_blocks` with every block reading through `cache`.
pub fn open_blocks_in(dir: &Path, cache: &Rc<PageCache>) -> Result<Vec<Block>, Error> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let leftover = [TMP_SUFFIX, DELETED_SUFFIX]
            .iter()
            .any(|suffix| name.strip_suffix(suffix).is_some_and(is_ulid));
        if leftover {
            let path = entry.path();
            tracing::warn!(path = %path.display(), "removing an unfinished block directory");
            std::fs::remove_dir_all(&path).map_err(|e| Error::io("remove", &path, e))?;
        } else if is_ulid(&name) && entry.path().is_dir() {
            names.push(name);
        }
    }
    names.sort();
    let mut blocks = Vec::with_capacity(names.len());
    for name in names {
        match Block::open_in(&dir.join(&name), cache) {
            Ok(block) => blocks.push(block),
            Err(error) => {
                tracing::error!(block = %name, %error, "block cannot be opened; it is not served");
            }
        }
    }
    let replaced: std::collections::HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta.compaction.parents.iter().map(|p| p.ulid.clone()))
        .collect();
    if replaced.is_empty() {
        return Ok(blocks);
    }
    let mut kept = Vec::with_capacity(blocks.len());
    for b in blocks {
        if replaced.contains(&b.meta.ulid) {
            let ulid = b.meta.ulid.clone();
            drop(b);
            tracing::warn!(block = %ulid, "deleting a block that a rewritten block replaces");
            delete_block(dir, &ulid)?;
        } else {
            kept.push(b);
        }
    }
    Ok(kept)
}

/// Writes block `new_ulid` holding `block`'s data without what its tombstones delete (same
/// range, level and sources; `block` named as its parent, so that once the new block
/// exists the old one is deleted even if a crash comes first: see `open_blocks`). The
/// caller deletes `block`. Returns `None`, writing nothing, when no data is left.
pub fn rewrite_without_tombstones(
    parent: &Path,
    block: &Block,
    new_ulid: &str,
) -> Result<Option<(std::path::PathBuf, BlockMeta)>, Error> {
    let series = block.live_series()?;
    if series.is_empty() {
        return Ok(None);
    }
    let old = &block.meta;
    let compaction = BlockCompaction {
        level: old.compaction.level,
        sources: old.compaction.sources.clone(),
        parents: vec![BlockParent {
            ulid: old.ulid.clone(),
            min_time_ms: old.min_time_ms,
            max_time_ms: old.max_time_ms,
        }],
    };
    write_block_as(parent, new_ulid, old.min_time_ms, old.max_time_ms, series, compaction).map(Some)
}

/// The bytes of every file under `dir`, its subdirectories' too (0 for what cannot be read):
/// a block's or a WAL's size on disk, as size retention counts them.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut total = 0u64;
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            total = total.saturating_add(dir_bytes(&entry.path()));
        } else if kind.is_file() {
            total = total.saturating_add(entry.metadata().map_or(0, |m| m.len()));
        }
    }
    total
}

/// Deletes a block directory the way Prometheus does: rename to `<ULID>.deleted` (so a
/// crash never leaves a half-deleted block that looks whole), then remove it.
pub fn delete_block(parent: &Path, ulid: &str) -> Result<(), Error> {
    let from = parent.join(ulid);
    let to = parent.join(format!("{ulid}{DELETED_SUFFIX}"));
    #[cfg(feature = "fault-injection")]
    if crate::fault::take(|f| *f == crate::fault::Fault::BlockDelete).is_some() {
        return Err(Error::io("rename", &from, crate::fault::os_error(libc::EIO)));
    }
    std::fs::rename(&from, &to).map_err(|e| Error::io("rename", &from, e))?;
    sync_dir(parent)?;
    std::fs::remove_dir_all(&to).map_err(|e| Error::io("remove", &to, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, MatchOp, Matcher, Sample, SeriesSamples};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn sample(t: i64, v: f64) -> Sample {
        Sample {
            timestamp_ms: t,
            value: v,
        }
    }

    fn arb_series() -> impl Strategy<Value = BTreeMap<Labels, Vec<Sample>>> {
        let labels =
            proptest::collection::btree_map("[a-d]{1,2}", "[a-z0-9]{1,3}", 0..3).prop_map(|m| {
                let mut pairs: Vec<(String, String)> = m.into_iter().collect();
                pairs.push(("__name__".to_string(), "m".to_string()));
                Labels::from_pairs(pairs)
            });
        let samples = proptest::collection::btree_map(0i64..100_000, any::<u64>(), 1..400)
            .prop_map(|m| {
                m.into_iter()
                    .enumerate()
                    .map(|(i, (t, bits))| {
                        let v = match i % 3 {
                            0 => f64::from_bits(bits),
                            1 => i as f64,
                            _ => f64::from_bits(crate::STALE_NAN_BITS),
                        };
                        sample(t, v)
                    })
                    .collect::<Vec<_>>()
            });
        proptest::collection::btree_map(labels, samples, 0..12)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Random series written to a block read back exactly (bits of every value), in
        /// full and for a sub-range, and the label listings agree.
        #[test]
        fn block_round_trip(series in arb_series(), lo in 0i64..100_000, span in 0i64..50_000) {
            let dir = tempfile::tempdir().expect("tempdir");
            let ulid = new_ulid(1);
            let input: Vec<(Labels, Vec<Sample>)> = series.clone().into_iter().collect();
            let (path, meta) = write_block(dir.path(), &ulid, 0, 100_000, input).expect("write");
            prop_assert_eq!(meta.stats.num_series, series.len() as u64);
            let block = Block::open(&path).expect("open");
            let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
            let got = block.select(std::slice::from_ref(&all), i64::MIN, i64::MAX).expect("select");
            let want: Vec<SeriesSamples> = series.iter().map(|(l, s)| SeriesSamples { labels: l.clone(), samples: s.clone(), histograms: Vec::new(), starts: None }).collect();
            prop_assert_eq!(got, want);
            let hi = lo + span;
            let got = block.select(&[all], lo, hi).expect("select range");
            let want: Vec<SeriesSamples> = series.iter().filter_map(|(l, s)| {
                let samples: Vec<Sample> = s.iter().copied().filter(|x| x.timestamp_ms >= lo && x.timestamp_ms <= hi).collect();
                (!samples.is_empty()).then(|| SeriesSamples { labels: l.clone(), samples, histograms: Vec::new(), starts: None })
            }).collect();
            prop_assert_eq!(got, want);
            let names: std::collections::BTreeSet<String> = series.keys().flat_map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>()).collect();
            prop_assert_eq!(block.label_names(&[], i64::MIN, i64::MAX).expect("names"), names.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn matchers_follow_prometheus_semantics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mk = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        let input = vec![
            (
                mk(&[("__name__", "up"), ("job", "a")]),
                vec![sample(10, 1.0)],
            ),
            (
                mk(&[("__name__", "up"), ("job", "b"), ("env", "prod")]),
                vec![sample(20, 2.0)],
            ),
            (
                mk(&[("__name__", "down"), ("job", "a")]),
                vec![sample(30, 3.0)],
            ),
            (mk(&[("__name__", "up")]), vec![sample(40, 4.0)]),
        ];
        let (path, _) = write_block(dir.path(), &new_ulid(2), 0, 100, input).expect("write");
        let block = Block::open(&path).expect("open");
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("matcher");
        use MatchOp::*;
        let names = |ms: &[Matcher]| -> Vec<String> {
            block
                .select(ms, 0, 100)
                .expect("select")
                .iter()
                .map(|s| s.labels.to_string())
                .collect()
        };
        assert_eq!(
            names(&[m(Equal, "__name__", "up"), m(RegexMatch, "env", "")]),
            vec!["up{}", "up{job=\"a\"}"]
        );
        assert_eq!(
            names(&[m(NotEqual, "job", "a")]),
            vec!["up{}", "up{env=\"prod\", job=\"b\"}"]
        );
        assert_eq!(
            names(&[
                m(RegexMatch, "job", "a|b"),
                m(RegexNoMatch, "__name__", "u.*")
            ]),
            vec!["down{job=\"a\"}"]
        );
        assert_eq!(names(&[m(Equal, "job", "zzz")]), Vec::<String>::new());
        assert_eq!(
            block.select(&[], 15, 35).expect("select").len(),
            2,
            "time range filters chunks"
        );
        assert_eq!(
            block.label_values("job", &[], 0, 100).expect("values"),
            vec!["a", "b"]
        );
        assert_eq!(
            block
                .label_values("job", &[m(Equal, "__name__", "up")], 0, 15)
                .expect("values"),
            vec!["a"]
        );
    }

    #[test]
    fn corrupt_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = vec![(
            Labels::from_pairs([("__name__", "up")]),
            vec![sample(1, 1.0)],
        )];
        let (path, _) = write_block(dir.path(), &new_ulid(3), 0, 10, input).expect("write");
        let index = path.join("index");
        let mut bytes = std::fs::read(&index).expect("read");
        let at = bytes.len() - 10;
        bytes[at] ^= 0xff;
        std::fs::write(&index, bytes).expect("write");
        let err = Block::open(&path)
            .err()
            .expect("damaged TOC is an error")
            .to_string();
        assert!(err.contains("index") && err.contains("TOC"), "{err}");
        std::fs::write(path.join("meta.json"), b"{").expect("write");
        let err = Block::open(&path)
            .err()
            .expect("bad meta is an error")
            .to_string();
        assert!(err.contains("meta.json"), "{err}");
    }

    #[test]
    fn leftovers_are_removed_and_blocks_sorted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let input = || {
            vec![(
                Labels::from_pairs([("__name__", "up")]),
                vec![sample(1, 1.0)],
            )]
        };
        let (a, b) = (new_ulid(10), new_ulid(20));
        write_block(dir.path(), &b, 0, 10, input()).expect("write");
        write_block(dir.path(), &a, 0, 10, input()).expect("write");
        std::fs::create_dir(dir.path().join(format!("{}.tmp", new_ulid(30)))).expect("mkdir");
        std::fs::create_dir(dir.path().join("wal")).expect("mkdir");
        let blocks = open_blocks(dir.path()).expect("open");
        let ulids: Vec<&str> = blocks.iter().map(|b| b.meta.ulid.as_str()).collect();
        assert_eq!(ulids, vec![a.as_str(), b.as_str()]);
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            3,
            "the .tmp dir is gone"
        );
        delete_block(dir.path(), &a).expect("delete");
        assert_eq!(open_blocks(dir.path()).expect("open").len(), 1);
    }

    /// Label listings walk postings and stop at the first series with data in the range;
    /// they must give exactly what reading every matching series gives, in the head and in
    /// a block (with tombstones), with and without matchers, with few and many matches.
    #[test]
    fn label_listings_equal_reading_every_series() {
        let mut input = Vec::new();
        for i in 0..2_500i64 {
            let labels = Labels::from_pairs([
                ("__name__", format!("m{}", i % 3)),
                ("job", format!("j{}", i % 7)),
                ("pod", format!("p{i}")),
            ]);
            let first = (i % 50) * 10;
            let mut samples: Vec<Sample> = (first..first + 5).map(|t| sample(t, 1.0)).collect();
            if i % 11 == 0 {
                // Two chunks far apart: the gap between them holds no data.
                samples.extend((0..130).map(|k| sample(2_000 + k, 1.0)));
            }
            input.push((labels, samples));
        }
        let mut head = crate::head::Head::default();
        for (labels, samples) in &input {
            let (id, _) = head.get_or_create(labels);
            for s in samples {
                head.append(id, *s);
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (path, _) = write_block(dir.path(), &new_ulid(7), 0, 2_200, input).expect("write");
        let mut block = Block::open(&path).expect("open");
        let m = |op, n: &str, v: &str| Matcher::new(op, n, v).expect("matcher");
        use MatchOp::*;
        let matcher_sets = vec![
            vec![],
            vec![m(Equal, "job", "j1")],
            vec![m(Equal, "pod", "p12")],
            vec![m(RegexMatch, "__name__", "m1|m2")],
            vec![m(NotEqual, "pod", "p3")],
            vec![m(RegexNoMatch, "job", "j1|j2"), m(Equal, "__name__", "m0")],
        ];
        let ranges = [(0, 100), (95, 96), (200, 260), (490, 600), (600, 1_000), (1_500, 2_050), (0, 2_200)];
        let expected = |all: Vec<Labels>, name: Option<&str>| -> Vec<String> {
            let mut out: Vec<String> = all
                .iter()
                .flat_map(|l| l.iter().filter(|x| name.is_none_or(|n| x.name == n)).map(|x| match name {
                    Some(_) => x.value.to_string(),
                    None => x.name.to_string(),
                }).collect::<Vec<_>>())
                .collect();
            out.sort();
            out.dedup();
            out
        };
        let check = |block: &Block, head: &crate::head::Head| {
            for ms in &matcher_sets {
                for &(lo, hi) in &ranges {
                    let in_block = block.series(ms, lo, hi).expect("series");
                    let in_head = head.series(ms, lo, hi);
                    assert_eq!(block.label_names(ms, lo, hi).expect("names"), expected(in_block.clone(), None), "block names {ms:?} {lo}..{hi}");
                    assert_eq!(head.label_names(ms, lo, hi), expected(in_head.clone(), None), "head names {ms:?} {lo}..{hi}");
                    for name in ["job", "pod", "__name__", "nope"] {
                        assert_eq!(block.label_values(name, ms, lo, hi).expect("values"), expected(in_block.clone(), Some(name)), "block {name} {ms:?} {lo}..{hi}");
                        assert_eq!(head.label_values(name, ms, lo, hi), expected(in_head.clone(), Some(name)), "head {name} {ms:?} {lo}..{hi}");
                    }
                }
            }
        };
        check(&block, &head);
        // Deleting every sample of job j3 and part of j4's removes their values from ranges.
        block.delete(&[m(Equal, "job", "j3")], i64::MIN, i64::MAX).expect("delete");
        block.delete(&[m(Equal, "job", "j4")], 0, 300).expect("delete");
        let mut stones = Vec::new();
        for id in head.matching_ids(&[m(Equal, "job", "j3")], i64::MIN, i64::MAX) {
            stones.push((id, i64::MIN, i64::MAX));
        }
        for id in head.matching_ids(&[m(Equal, "job", "j4")], i64::MIN, i64::MAX) {
            stones.push((id, 0, 300));
        }
        head.delete_ranges(&stones);
        check(&block, &head);
        assert!(!block.label_values("job", &[], 0, 100).expect("values").contains(&"j3".to_string()));
    }
}
