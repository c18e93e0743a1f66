//! Tests of encoded series: chunk overrides, deletions and range trims, merges.

use super::*;
use crate::chunk::XorAppender;
use proptest::prelude::*;

fn chunk(points: &[(i64, f64)]) -> EncodedChunk {
    let mut a = XorAppender::default();
    for &(t, v) in points {
        a.append(t, v);
    }
    EncodedChunk { min_time_ms: points[0].0, max_time_ms: points[points.len() - 1].0, encoding: ChunkEncoding::Xor, bytes: a.bytes().to_vec().into() }
}

fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
    points.iter().map(|&(t, v)| Sample { timestamp_ms: t, value: v }).collect()
}

#[test]
fn overrides_win_deleted_intervals_hide_and_the_range_trims() {
    let part = EncodedPart {
        chunks: vec![chunk(&[(10, 1.0), (20, 2.0), (30, 3.0)]), chunk(&[(40, 4.0), (50, 5.0)])],
        samples: Vec::new(),
        overrides: samples(&[(20, 20.0), (35, 35.0)]),
        deleted: vec![(40, 40)],
        histograms: Vec::new(),
        ..EncodedPart::default()
    };
    assert_eq!(part.decode(15, 50), Ok(samples(&[(20, 20.0), (30, 3.0), (35, 35.0), (50, 5.0)])));
    // Decoded samples (from chunks partly in a range) merge in time order; overrides win.
    let mixed = EncodedPart { samples: samples(&[(60, 6.0), (70, 7.0)]), overrides: samples(&[(70, 70.0)]), ..part.clone() };
    assert_eq!(mixed.decode(45, 100), Ok(samples(&[(50, 5.0), (60, 6.0), (70, 70.0)])));
    assert_eq!(mixed.samples_at_least(i64::MIN, i64::MAX), 5);
    assert_eq!(part.decode(0, 9), Ok(Vec::new()));
    // Headers count whole chunks in the range that no deletion touches.
    assert_eq!(part.samples_at_least(i64::MIN, i64::MAX), 3);
    let plain = EncodedPart { deleted: Vec::new(), ..part.clone() };
    assert_eq!(plain.samples_at_least(i64::MIN, i64::MAX), 5);
    assert_eq!(plain.samples_at_least(15, 60), 2);
    // Overrides count only where no chunk is counted (they may replace chunk samples).
    assert_eq!(plain.samples_at_least(31, 39), 1);
}

#[test]
fn earlier_parts_win_and_a_malformed_part_is_left_out() {
    let labels = Labels::from_pairs([("__name__", "m")]);
    let head = EncodedPart { chunks: vec![chunk(&[(10, 1.0), (20, 2.0)])], ..Default::default() };
    let block = EncodedPart { chunks: vec![chunk(&[(5, 0.5), (10, 9.0)])], ..Default::default() };
    let series = EncodedSeries { labels: labels.clone(), parts: vec![head.clone(), block] };
    let decoded = series.decode(i64::MIN, i64::MAX).map(|s| s.samples);
    assert_eq!(decoded, Some(samples(&[(5, 0.5), (10, 1.0), (20, 2.0)])));
    let mut broken = chunk(&[(1, 1.0), (2, 2.0), (3, 3.0)]);
    broken.bytes = broken.bytes[..4].to_vec().into();
    let series = EncodedSeries { labels, parts: vec![EncodedPart { chunks: vec![broken], ..Default::default() }, head] };
    assert_eq!(series.decode(i64::MIN, i64::MAX).map(|s| s.samples), Some(samples(&[(10, 1.0), (20, 2.0)])));
}

#[test]
fn time_ordered_parts_are_merged_without_the_general_path() {
    // A head part (with an override and a loose sample) over two block parts, as a
    // select over a block boundary returns them.
    let head = EncodedPart {
        chunks: vec![chunk(&[(40, 4.0), (50, 5.0)])],
        samples: samples(&[(60, 6.0)]),
        overrides: samples(&[(50, 55.0)]),
        deleted: Vec::new(),
        histograms: Vec::new(),
        ..EncodedPart::default()
    };
    let newer = EncodedPart { chunks: vec![chunk(&[(20, 2.0), (30, 3.0)])], ..Default::default() };
    let older = EncodedPart { chunks: vec![chunk(&[(0, 0.0), (10, 1.0), (20, 9.0)])], deleted: vec![(0, 0)], ..Default::default() };
    let series = EncodedSeries { labels: Labels::from_pairs([("__name__", "m")]), parts: vec![head, newer, older] };
    let (mut out, mut scratch) = (Vec::new(), DecodeScratch::default());
    assert!(series.decode_ordered_into(5, 100, &mut out, &mut scratch));
    assert_eq!(out, samples(&[(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0), (50, 55.0), (60, 6.0)]));
    assert_eq!(series.decode(5, 100).map(|s| s.samples), Some(out));
}

#[test]
fn time_ordered_parts_with_start_times_are_merged_without_the_general_path() {
    let mut a = crate::chunk::Xor2Appender::default();
    for (start, t) in [(1, 10), (1, 20), (25, 30)] {
        a.append(start, t, t as f64);
    }
    let head = EncodedPart {
        chunks: vec![EncodedChunk { min_time_ms: 10, max_time_ms: 30, encoding: ChunkEncoding::Xor2, bytes: a.bytes().to_vec().into() }],
        samples: samples(&[(40, 4.0)]),
        sample_starts: vec![35],
        overrides: samples(&[(20, 22.0)]),
        ..EncodedPart::default()
    };
    let block = EncodedPart { chunks: vec![chunk(&[(0, 0.0), (10, 9.0)])], ..Default::default() };
    let series = EncodedSeries { labels: Labels::from_pairs([("__name__", "m")]), parts: vec![head, block] };
    let (mut out, mut starts, mut scratch) = (Vec::new(), Vec::new(), DecodeScratch::default());
    assert!(series.decode_started_ordered_into(0, 100, &mut out, &mut starts, &mut scratch));
    assert_eq!(out, samples(&[(0, 0.0), (10, 10.0), (20, 22.0), (30, 30.0), (40, 4.0)]));
    assert_eq!(starts, vec![0, 1, 0, 25, 35]);
    let decoded = series.decode(0, 100).expect("samples in range");
    assert_eq!((decoded.samples, decoded.starts.map(|s| s.floats)), (out, Some(starts)));
}

proptest! {
    /// The header-only count never exceeds what decoding finds, for any range.
    #[test]
    fn samples_at_least_is_a_lower_bound(
        times in proptest::collection::btree_set(0i64..1000, 1..300),
        overrides in proptest::collection::btree_map(0i64..1000, -5.0f64..5.0, 0..20),
        loose in proptest::collection::btree_set(1000i64..2000, 0..20),
        deleted in proptest::collection::vec((0i64..1000, 0i64..50), 0..3),
        mint in 0i64..1000, len in 0i64..1000,
    ) {
        let points: Vec<(i64, f64)> = times.iter().map(|&t| (t, t as f64)).collect();
        let part = EncodedPart {
            chunks: points.chunks(120).map(chunk).collect(),
            samples: loose.iter().map(|&t| Sample { timestamp_ms: t, value: 0.0 }).collect(),
            overrides: overrides.iter().map(|(&t, &v)| Sample { timestamp_ms: t, value: v }).collect(),
            deleted: deleted.iter().map(|&(lo, n)| (lo, lo + n)).collect(),
            histograms: Vec::new(),
            ..EncodedPart::default()
        };
        let maxt = mint + len;
        let decoded = part.decode(mint, maxt).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert!(part.samples_at_least(mint, maxt) <= decoded.len());
    }

    /// `decode_into` gives exactly `decode`'s samples (values as bits), series after
    /// series in the same buffers: parts overlapping in time, overrides, loose samples
    /// before and after the chunks, deleted intervals, lists out of order (`decode`
    /// sorts them), malformed chunks.
    #[test]
    fn decode_into_gives_what_decode_gives(
        parts in proptest::collection::vec((
            proptest::collection::btree_set(0i64..400, 0..150),
            proptest::collection::vec((0i64..400, 0u8..4), 0..8),
            proptest::collection::vec((0i64..400, 0u8..4), 0..8),
            proptest::collection::vec((0i64..400, 0i64..30), 0..2),
            any::<bool>(), any::<bool>(),
        ), 0..4),
        ranges in proptest::collection::vec((0i64..400, 0i64..400), 1..4),
    ) {
        let value = |t: i64, kind: u8| match kind {
            0 => f64::NAN,
            1 => f64::from_bits(crate::STALE_NAN_BITS),
            _ => t as f64 * f64::from(kind),
        };
        let series = EncodedSeries {
            labels: Labels::from_pairs([("__name__", "m")]),
            parts: parts
                .iter()
                .enumerate()
                .map(|(p, (times, loose, overrides, deleted, sorted, broken))| {
                    let points: Vec<(i64, f64)> = times.iter().map(|&t| (t, t as f64 + p as f64)).collect();
                    let mut chunks: Vec<EncodedChunk> = points.chunks(50).map(chunk).collect();
                    if *broken {
                        if let Some(c) = chunks.last_mut() {
                            c.bytes = c.bytes[..4].to_vec().into();
                        }
                    }
                    let list = |pairs: &Vec<(i64, u8)>| {
                        let mut l: Vec<Sample> = pairs.iter().map(|&(t, k)| Sample { timestamp_ms: t, value: value(t, k) }).collect();
                        if *sorted {
                            l.sort_by_key(|s| s.timestamp_ms);
                            l.dedup_by_key(|s| s.timestamp_ms);
                        }
                        l
                    };
                    EncodedPart { chunks, samples: list(loose), overrides: list(overrides), deleted: deleted.iter().map(|&(lo, n)| (lo, lo + n)).collect(), histograms: Vec::new(), ..EncodedPart::default() }
                })
                .collect(),
        };
        let bits = |list: &[Sample]| list.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>();
        let (mut out, mut scratch) = (Vec::new(), DecodeScratch::default());
        for (mint, len) in ranges {
            let expected = series.decode(mint, mint + len).map(|s| s.samples).unwrap_or_default();
            series.decode_into(mint, mint + len, &mut out, &mut scratch);
            prop_assert_eq!(bits(&out), bits(&expected));
        }
    }

    /// `decode_both_into` gives exactly `decode`'s samples and start times, series after
    /// series in the same buffers: XOR2 chunks beside plain XOR ones, loose samples with
    /// and without their starts, overrides (start 0), parts overlapping in time, deleted
    /// intervals, lists out of order, malformed chunks, starts all 0 (none).
    #[test]
    fn decode_both_into_gives_what_decode_gives_with_start_times(
        parts in proptest::collection::vec((
            proptest::collection::btree_map(0i64..400, 0u8..4, 0..150),
            proptest::collection::vec((0i64..400, 0u8..4), 0..8),
            proptest::collection::vec((0i64..400, 0u8..4), 0..4),
            proptest::collection::vec((0i64..400, 0i64..30), 0..2),
            (any::<bool>(), any::<bool>(), 0u8..3),
        ), 1..4),
        ranges in proptest::collection::vec((0i64..400, 0i64..400), 1..4),
    ) {
        // Start kinds: 0 none, else `t - kind` (restarted just before the sample).
        let start = |t: i64, kind: u8| if kind == 0 { 0 } else { t - i64::from(kind) };
        let series = EncodedSeries {
            labels: Labels::from_pairs([("__name__", "m")]),
            parts: parts
                .iter()
                .enumerate()
                .map(|(p, (times, loose, overrides, deleted, (sorted, broken, chunk_kind)))| {
                    let points: Vec<(i64, u8)> = times.iter().map(|(&t, &k)| (t, k)).collect();
                    let mut chunks: Vec<EncodedChunk> = points
                        .chunks(50)
                        .map(|run| match chunk_kind {
                            // Plain XOR: starts 0.
                            0 => chunk(&run.iter().map(|&(t, _)| (t, t as f64)).collect::<Vec<_>>()),
                            _ => {
                                let mut a = crate::chunk::Xor2Appender::default();
                                for &(t, k) in run {
                                    a.append(start(t, k), t, t as f64 + p as f64);
                                }
                                EncodedChunk { min_time_ms: run[0].0, max_time_ms: run[run.len() - 1].0, encoding: ChunkEncoding::Xor2, bytes: a.bytes().to_vec().into() }
                            }
                        })
                        .collect();
                    if *broken {
                        if let Some(c) = chunks.last_mut() {
                            c.bytes = c.bytes[..4].to_vec().into();
                        }
                    }
                    let list = |pairs: &Vec<(i64, u8)>| {
                        let mut l: Vec<(i64, u8)> = pairs.clone();
                        if *sorted {
                            l.sort_by_key(|&(t, _)| t);
                            l.dedup_by_key(|&mut (t, _)| t);
                        }
                        l
                    };
                    let (loose, overrides) = (list(loose), list(overrides));
                    EncodedPart {
                        chunks,
                        samples: loose.iter().map(|&(t, _)| Sample { timestamp_ms: t, value: -(t as f64) }).collect(),
                        // The loose samples' starts, or none (every start 0) in every other part.
                        sample_starts: if p % 2 == 0 { loose.iter().map(|&(t, k)| start(t, k)).collect() } else { Vec::new() },
                        overrides: overrides.iter().map(|&(t, _)| Sample { timestamp_ms: t, value: 0.5 }).collect(),
                        deleted: deleted.iter().map(|&(lo, n)| (lo, lo + n)).collect(),
                        ..EncodedPart::default()
                    }
                })
                .collect(),
        };
        let bits = |list: &[Sample]| list.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>();
        let (mut out, mut histograms, mut starts, mut scratch) = (Vec::new(), Vec::new(), SampleStarts::default(), DecodeScratch::default());
        for (mint, len) in ranges {
            let expected = series.decode(mint, mint + len);
            let started = series.decode_both_into(mint, mint + len, (&mut out, &mut histograms), &mut starts, &mut scratch);
            prop_assert_eq!(bits(&out), bits(&expected.as_ref().map(|s| s.samples.clone()).unwrap_or_default()));
            prop_assert!(histograms.is_empty());
            let expected_starts = expected.and_then(|s| s.starts).map(|s| *s);
            prop_assert_eq!(started, expected_starts.is_some());
            prop_assert_eq!(starts.clone(), expected_starts.unwrap_or_default());
        }
    }
}
