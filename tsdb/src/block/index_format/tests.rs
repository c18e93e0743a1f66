//! Index format tests: encode/decode round trips, flipped bytes, a reader through the
//! page cache answering as one in memory, long series entries and the empty index.

use super::reader::READ_AHEAD_BYTES;
use super::*;
use crate::block::page_cache::PageCache;
use crate::error::Error;
use proptest::prelude::*;

fn arb_series() -> impl Strategy<Value = Vec<IndexSeries>> {
    let labels = proptest::collection::btree_map("[a-c_]{1,3}", "[a-z0-9]{1,3}", 1..4);
    let chunks = proptest::collection::vec((0i64..1000, 0i64..1000, 1u64..5000), 0..5);
    proptest::collection::btree_map(
        labels.prop_map(Labels::from_pairs),
        (chunks, -1_000_000i64..1_000_000),
        0..30,
    )
    .prop_map(|m| {
        let mut next_ref = 8u64;
        m.into_iter()
            .map(|(labels, (chunks, start))| {
                let mut t = start;
                let chunks = chunks
                    .into_iter()
                    .map(|(gap, span, size)| {
                        let c = ChunkMeta {
                            min_time_ms: t + gap + 1,
                            max_time_ms: t + gap + 1 + span,
                            chunk_ref: next_ref,
                        };
                        t = c.max_time_ms;
                        next_ref += size;
                        c
                    })
                    .collect();
                IndexSeries { labels, chunks }
            })
            .collect()
    })
}

proptest! {
    /// Any sorted series list encodes to an index that decodes to the same series and
    /// whose postings agree with the labels.
    #[test]
    fn index_round_trip(series in arb_series()) {
        let bytes = encode_index(&series);
        let r = IndexReader::new(bytes).expect("valid index");
        let ids = r.all_series().expect("all postings");
        prop_assert_eq!(ids.len(), series.len());
        let decoded: Vec<IndexSeries> = ids.iter().map(|id| r.series(*id).expect("series")).collect();
        prop_assert_eq!(&decoded, &series);
        for (name, values) in r.label_postings() {
            for (value, offset) in values {
                let got = r.postings_at(*offset).expect("postings");
                let want: Vec<u32> = ids.iter().zip(&series)
                    .filter(|(_, s)| s.labels.get(name) == Some(value.as_str()))
                    .map(|(id, _)| *id).collect();
                prop_assert_eq!(got, want);
            }
        }
    }

    /// Flipping any byte is either detected or leaves a decodable index (never a panic).
    #[test]
    fn corrupt_index_never_panics(series in arb_series(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut bytes = encode_index(&series);
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(r) = IndexReader::new(bytes) {
            if let Ok(ids) = r.all_series() {
                for id in ids { let _ = r.series(id); }
            }
        }
    }
}

/// What a reader answers, errors by their message (the two readers name different
/// paths): every series in all-postings order and every postings list.
fn answers(r: Result<IndexReader, Error>) -> Vec<Result<String, String>> {
    let message = |e: Error| match e {
        Error::Corrupt { message, .. } => message,
        other => format!("not a corruption: {other}"),
    };
    let r = match r {
        Ok(r) => r,
        Err(e) => return vec![Err(format!("open: {}", message(e)))],
    };
    let mut out = Vec::new();
    match r.all_series() {
        Ok(ids) => {
            for id in ids {
                out.push(r.series(id).map(|s| format!("{s:?}")).map_err(message));
                out.push(r.series_chunks(id).map(|c| format!("{c:?}")).map_err(message));
            }
        }
        Err(e) => out.push(Err(message(e))),
    }
    for values in r.label_postings().values() {
        for offset in values.values() {
            out.push(r.postings_at(*offset).map(|ids| format!("{ids:?}")).map_err(message));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// An index read through a page cache (of no page, one page or many) answers exactly
    /// like one held in memory, errors included, whatever byte is flipped; its reads
    /// move the cache's counters.
    #[test]
    fn cached_reader_equals_memory_reader(
        series in arb_series(),
        flip in proptest::option::of((any::<prop::sample::Index>(), 0u8..8)),
        pages in prop_oneof![Just(0u64), Just(1), Just(64)],
    ) {
        let mut bytes = encode_index(&series);
        if let Some((at, bit)) = flip {
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index");
        std::fs::write(&path, &bytes).expect("write");
        let cache = PageCache::new(pages * super::super::PAGE_BYTES as u64);
        let cached = IndexReader::open(&path, &cache, cache.register_block());
        prop_assert_eq!(cache.stats().misses_total, 0, "open reads bypass the pages");
        let memory = IndexReader::new(bytes);
        prop_assert_eq!(answers(cached), answers(memory));
        if flip.is_none() {
            prop_assert!(cache.stats().misses_total > 0, "series and postings are read through the cache");
        }
        prop_assert_eq!(cache.stats().bytes_in_use, 0, "the reader's pages leave with it");
    }
}

/// Series entries longer than the read-ahead (many chunk metas) are read whole.
#[test]
fn long_series_entries_are_read_whole() {
    let chunks: Vec<ChunkMeta> = (0..100)
        .map(|k| ChunkMeta { min_time_ms: k * 1_000_000, max_time_ms: k * 1_000_000 + 999_999, chunk_ref: 8 + k as u64 * 300 })
        .collect();
    let series: Vec<IndexSeries> = (0..40)
        .map(|i| IndexSeries {
            labels: Labels::from_pairs([("a", format!("{i:03}"))]),
            chunks: chunks[..(i * 7) % 100].to_vec(),
        })
        .collect();
    let bytes = encode_index(&series);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("index");
    std::fs::write(&path, &bytes).expect("write");
    let cache = PageCache::new(1 << 20);
    let r = IndexReader::open(&path, &cache, cache.register_block()).expect("open");
    let ids = r.all_series().expect("all");
    let got: Vec<IndexSeries> = ids.iter().map(|id| r.series(*id).expect("series")).collect();
    assert_eq!(got, series);
    assert!(ids.windows(2).any(|w| (w[1] - w[0]) as usize * SERIES_ALIGN_BYTES > READ_AHEAD_BYTES), "some entries are longer than the read-ahead");
}

#[test]
fn empty_index_is_valid() {
    let r = IndexReader::new(encode_index(&[])).expect("valid");
    assert!(r.all_series().expect("all").is_empty());
    assert!(r.label_postings().is_empty());
}
