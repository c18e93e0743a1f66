//! Tests of the head: splits at block ranges, selects, colliding hashes, a growing table.

use super::*;
use crate::model::MatchOp;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

/// With block ranges set, no chunk crosses a range boundary: a split at one hands over
/// whole chunks only (nothing to decode), and the head that remains keeps aligning.
/// Without them, the chunk over the boundary comes back as loose samples.
#[test]
fn chunks_aligned_to_block_ranges_split_without_loose_samples() {
    let split = |mut head: Head, boundary: i64| {
        let (id, _) = head.get_or_create(&labels(&[("__name__", "m")]));
        for t in (-350..1000).step_by(7) {
            head.append(id, Sample { timestamp_ms: t, value: t as f64 });
        }
        futures_lite::future::block_on(head.split_before(boundary))
    };
    let (before, rest) = split(Head::with_chunk_ranges(ChunkRanges::new(100)), 500);
    assert!(before[0].samples.is_empty(), "{} loose samples", before[0].samples.len());
    let spans: Vec<(i64, i64)> = before[0].chunks.iter().map(|c| (c.min_time_ms, c.max_time_ms)).collect();
    assert!(spans.iter().all(|&(lo, hi)| lo.div_euclid(100) == hi.div_euclid(100) && hi < 500), "{spans:?}");
    assert_eq!(spans.len(), 9, "one chunk per range from -400 to 500 (each under 120 samples): {spans:?}");
    // The rest took its whole closed chunks as they were and appended the open one's
    // samples again: everything from 500 on, counted once, in order.
    let want: Vec<Sample> = (-350..1000).step_by(7).filter(|t| *t >= 500).map(|t| Sample { timestamp_ms: t, value: t as f64 }).collect();
    assert_eq!(rest.samples_count(), want.len() as u64);
    assert_eq!(rest.time_range(), Some((want[0].timestamp_ms, want[want.len() - 1].timestamp_ms)));
    assert_eq!(rest.select(&[], i64::MIN, i64::MAX)[0].samples, want);
    let (before, _) = futures_lite::future::block_on(rest.split_before(800));
    assert!(before[0].samples.is_empty() && before[0].chunks.len() == 3, "{:?}", before[0].chunks.iter().map(|c| (c.min_time_ms, c.max_time_ms)).collect::<Vec<_>>());
    let (before, _) = split(Head::default(), 500);
    assert!(!before[0].samples.is_empty(), "unaligned, the chunk over 500 is decoded");
    // Native histograms likewise.
    let mut head = Head::with_chunk_ranges(ChunkRanges::new(100));
    let (id, _) = head.get_or_create(&labels(&[("__name__", "h")]));
    for t in (0..1000).step_by(7) {
        let histogram = std::sync::Arc::new(crate::model::FloatHistogram { count: t as f64, sum: t as f64, ..Default::default() });
        head.append_histogram(id, &HistogramSample { timestamp_ms: t, histogram });
    }
    let (before, _) = futures_lite::future::block_on(head.split_before(500));
    let spans: Vec<(i64, i64)> = before[0].chunks.iter().map(|c| (c.min_time_ms, c.max_time_ms)).collect();
    assert!(before[0].histograms.is_empty() && spans.len() == 5, "{} loose, chunks {spans:?}", before[0].histograms.len());
}

#[test]
fn chunk_ranges_tell_ranges_apart_on_both_sides_of_zero() {
    let mut r = ChunkRanges::new(100);
    assert!(r.same_range(100, 199) && r.same_range(150, 160));
    assert!(!r.same_range(99, 100) && !r.same_range(150, 200));
    assert!(r.same_range(-100, -1) && !r.same_range(-1, 0) && !r.same_range(-101, -100));
    assert!(r.same_range(i64::MIN, i64::MIN + 1) && r.same_range(i64::MAX - 1, i64::MAX));
    assert!(ChunkRanges::default().same_range(0, i64::MAX), "no ranges: one range");
}

#[test]
fn split_drops_emptied_series_and_keeps_the_rest() {
    let mut head = Head::default();
    assert_eq!(head.time_range(), None);
    let (old, _) = head.get_or_create(&labels(&[("__name__", "old")]));
    let (both, _) = head.get_or_create(&labels(&[("__name__", "both")]));
    let s = |t: i64| Sample {
        timestamp_ms: t,
        value: t as f64,
    };
    head.append(old, s(10));
    for t in [5, 20, 30] {
        head.append(both, s(t));
    }
    head.append(both, s(1)); // out of order
    assert_eq!(head.time_range(), Some((1, 30)));
    let (before, rest) = futures_lite::future::block_on(head.split_before(20));
    let before: Vec<(Labels, Vec<Sample>)> = before
        .into_iter()
        .map(|b| {
            let mut all: Vec<Sample> = b.chunks.iter().flat_map(|c| crate::chunk::XorIterator::new(&c.bytes)).collect();
            all.extend(b.samples);
            (b.labels, all)
        })
        .collect();
    assert_eq!(
        before,
        vec![
            (labels(&[("__name__", "old")]), vec![s(10)]),
            (labels(&[("__name__", "both")]), vec![s(1), s(5)]),
        ]
    );
    assert_eq!(rest.series_count(), 1, "the emptied series is dropped");
    assert_eq!(rest.time_range(), Some((20, 30)));
    let got = rest.select(&[], i64::MIN, i64::MAX);
    assert_eq!(got[0].samples, vec![s(20), s(30)]);
    assert_eq!(head.series_count(), 2, "the original head is untouched");
}

#[test]
fn select_merges_and_filters_by_time() {
    let mut head = Head::default();
    let (a, created) = head.get_or_create(&labels(&[("__name__", "up"), ("job", "a")]));
    assert!(created);
    assert_eq!(
        head.get_or_create(&labels(&[("__name__", "up"), ("job", "a")])),
        (a, false)
    );
    let (b, _) = head.get_or_create(&labels(&[("__name__", "up"), ("job", "b")]));
    for t in 0..300 {
        head.append(
            a,
            Sample {
                timestamp_ms: t * 1000,
                value: t as f64,
            },
        );
    }
    head.append(
        b,
        Sample {
            timestamp_ms: 500_000,
            value: 1.0,
        },
    );
    let m = |op, n: &str, v: &str| Matcher::new(op, n, v).unwrap();
    let got = head.select(&[m(MatchOp::Equal, "__name__", "up")], 10_000, 20_000);
    assert_eq!(got.len(), 1, "job b has no sample in range");
    assert_eq!(got[0].samples.len(), 11);
    assert_eq!(
        got[0].samples[0],
        Sample {
            timestamp_ms: 10_000,
            value: 10.0
        }
    );
    assert_eq!(
        head.series(&[m(MatchOp::RegexMatch, "job", ".+")], 400_000, 600_000),
        vec![labels(&[("__name__", "up"), ("job", "b")])]
    );
    assert_eq!(
        head.label_values("job", &[], i64::MIN, i64::MAX),
        vec!["a", "b"]
    );
    assert_eq!(head.label_values("job", &[], 400_000, 600_000), vec!["b"]);
    assert_eq!(
        head.label_names(&[m(MatchOp::Equal, "job", "a")], i64::MIN, i64::MAX),
        vec!["__name__", "job"]
    );
}

#[test]
fn series_with_colliding_hashes_stay_apart() {
    let mut head = Head::default();
    let sets = [labels(&[("__name__", "a")]), labels(&[("__name__", "b")]), labels(&[("__name__", "c")])];
    let ids: Vec<SeriesId> = sets.iter().map(|l| head.get_or_create_hashed(l, 42).0).collect();
    assert_eq!(ids, vec![0, 1, 2], "three series despite one hash");
    for (l, id) in sets.iter().zip(&ids) {
        assert_eq!(head.get_or_create_hashed(l, 42), (*id, false));
        let pairs = l.iter().map(|x| (x.name.as_bytes(), x.value.as_bytes()));
        assert_eq!(head.lookup(42, l.len(), pairs), Some(*id));
    }
    let other = labels(&[("__name__", "d")]);
    let pairs = other.iter().map(|x| (x.name.as_bytes(), x.value.as_bytes()));
    assert_eq!(head.lookup(42, other.len(), pairs), None);
    // Different hashes with the same key (upper half): also apart, each found by its own.
    let (e, f) = (labels(&[("__name__", "e")]), labels(&[("__name__", "f")]));
    assert_eq!(head.get_or_create_hashed(&e, 43), (3, true));
    assert_eq!(head.get_or_create_hashed(&f, 44), (4, true));
    for (set, hash, id) in [(&e, 43, 3), (&f, 44, 4), (&sets[0], 42, 0)] {
        let pairs = set.iter().map(|x| (x.name.as_bytes(), x.value.as_bytes()));
        assert_eq!(head.lookup(hash, set.len(), pairs), Some(id));
    }
}

#[test]
fn every_series_is_found_after_the_table_grows() {
    let mut head = Head::default();
    let sets: Vec<Labels> = (0..20_000).map(|i| labels(&[("__name__", "m"), ("i", &i.to_string())])).collect();
    for (i, set) in sets.iter().enumerate() {
        assert_eq!(head.get_or_create(set), (i as SeriesId, true));
    }
    for (i, set) in sets.iter().enumerate() {
        let pairs = set.iter().map(|x| (x.name.as_bytes(), x.value.as_bytes()));
        assert_eq!(head.probe(set.stable_hash()), Some(i as SeriesId));
        assert_eq!(head.lookup(set.stable_hash(), set.len(), pairs), Some(i as SeriesId));
    }
}
