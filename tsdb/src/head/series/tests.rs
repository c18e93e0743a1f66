//! Series tests: out-of-order samples, duplicates and overwrites, chunk cuts, splits and
//! selects sharing closed chunks, deletes, last-only reads, and property tests of floats,
//! histograms and start times against last-write-wins models.

use super::*;
use crate::chunk::SAMPLES_PER_CHUNK_MAX;
use crate::encoded::{ChunkBytes, EncodedPart};
use crate::model::{FloatHistogram, Sample};

/// The head keeps one record per series: its size is a memory budget, not an accident.
#[test]
#[cfg(target_pointer_width = "64")]
fn a_series_record_stays_104_bytes() {
    assert_eq!(std::mem::size_of::<MemSeries>(), 104);
    // Out-of-order and started floats are the common rare parts: they do not pay for a
    // histogram series.
    assert_eq!(std::mem::size_of::<RareParts>(), 40);
}

#[test]
fn out_of_order_duplicates_and_overwrites() {
    let mut s = MemSeries::new(Labels::default());
    for t in [10, 20, 30] {
        assert_eq!(s.append(t, t as f64), AppendResult::Appended);
    }
    assert_eq!(s.append(15, 1.5), AppendResult::OutOfOrder);
    assert_eq!(s.append(20, 20.0), AppendResult::Duplicate);
    assert_eq!(s.append(30, 99.0), AppendResult::Overwritten);
    assert_eq!(s.append(15, 1.5), AppendResult::Duplicate);
    assert_eq!(
        s.append(5, f64::from_bits(crate::STALE_NAN_BITS)),
        AppendResult::OutOfOrder
    );
    let got: Vec<(i64, u64)> = s
        .samples_in(0, 100)
        .iter()
        .map(|x| (x.timestamp_ms, x.value.to_bits()))
        .collect();
    let expected: Vec<(i64, u64)> = vec![
        (5, crate::STALE_NAN_BITS),
        (10, 10f64.to_bits()),
        (15, 1.5f64.to_bits()),
        (20, 20f64.to_bits()),
        (30, 99f64.to_bits()),
    ];
    assert_eq!(got, expected);
}

#[test]
fn chunks_are_cut_and_read_across() {
    let mut s = MemSeries::new(Labels::default());
    for t in 0..1000 {
        s.append(t, t as f64);
    }
    assert_eq!(s.closed.len(), 1000 / SAMPLES_PER_CHUNK_MAX as usize);
    let got = s.samples_in(100, 130);
    assert_eq!(got.len(), 31);
    assert_eq!(got.first().map(|x| x.timestamp_ms), Some(100));
    assert_eq!(s.append(500, 7.0), AppendResult::Overwritten);
    assert_eq!(s.samples_in(500, 500)[0].value, 7.0);
}

#[test]
fn splits_and_selects_share_closed_chunks_instead_of_copying_them() {
    let mut s = MemSeries::new(Labels::default());
    for t in 0..1000 {
        s.append(t, t as f64);
    }
    let per_chunk = i64::from(SAMPLES_PER_CHUNK_MAX);
    // The boundary between the second and third closed chunks.
    let SeriesSplit { chunks, chunks_after, samples_after, .. } = s.split_at(2 * per_chunk);
    assert_eq!(chunks.len(), 2);
    for (kept, closed) in chunks.iter().zip(s.closed.iter()) {
        assert!(Arc::ptr_eq(&kept.bytes, &closed.chunk.bytes), "a block's chunk is the head's, not a copy");
    }
    assert_eq!(chunks_after.len(), s.closed.len() - 2);
    for (after, closed) in chunks_after.iter().zip(s.closed.iter().skip(2)) {
        assert!(Arc::ptr_eq(&after.chunk.bytes, &closed.chunk.bytes), "the new head's chunk is the old one's");
    }
    // The open chunk's samples are appended again by the new head.
    assert_eq!(samples_after.len(), usize::from(s.open.num_samples()));
    // A select's answer shares them too; the open chunk is copied.
    let part = s.encoded_in(i64::MIN, i64::MAX);
    assert_eq!(part.chunks.len(), s.closed.len() + 1);
    for (answered, closed) in part.chunks.iter().zip(s.closed.iter()) {
        assert!(matches!(&answered.bytes, ChunkBytes::Shared(b) if Arc::ptr_eq(b, &closed.chunk.bytes)), "a select's chunk is the head's");
    }
    assert!(matches!(part.chunks.last().map(|c| &c.bytes), Some(ChunkBytes::Owned(_))));
}

#[test]
fn delete_range_rebuilds_without_the_range() {
    let mut s = MemSeries::new(Labels::default());
    for t in 0..300 {
        s.append(t, t as f64);
    }
    s.append(-5, 1.0); // out of order
    assert_eq!(s.delete_range(100, 199), 100);
    let got: Vec<i64> = s.samples_in(i64::MIN, i64::MAX).iter().map(|x| x.timestamp_ms).collect();
    let want: Vec<i64> = std::iter::once(-5).chain(0..100).chain(200..300).collect();
    assert_eq!(got, want);
    assert_eq!(s.delete_range(1000, 2000), 0, "nothing in range");
    assert_eq!(s.delete_range(i64::MIN, i64::MAX), 201);
    assert_eq!(s.time_range(), None);
    assert_eq!(s.append(50, 5.0), AppendResult::Appended, "an emptied series takes new samples");
}

proptest::proptest! {
    /// Any stream (in order, out of order, duplicates, stale markers) reads back as a
    /// last-write-wins map from timestamp to value bits.
    #[test]
    fn matches_last_write_wins_model(stream in proptest::collection::vec((0i64..400, 0u8..4), 0..600)) {
        let mut s = MemSeries::new(Labels::default());
        let mut model = std::collections::BTreeMap::new();
        for (t, kind) in stream {
            let v = match kind { 0 => 1.0, 1 => f64::from_bits(crate::STALE_NAN_BITS), 2 => f64::NAN, _ => t as f64 * 0.5 };
            let result = s.append(t, v);
            let previous = model.insert(t, v.to_bits());
            let expected = match previous {
                Some(bits) if bits == v.to_bits() => AppendResult::Duplicate,
                Some(_) => AppendResult::Overwritten,
                None if s.newest().is_some_and(|(last_t, _)| last_t > t) => AppendResult::OutOfOrder,
                None => AppendResult::Appended,
            };
            proptest::prop_assert_eq!(result, expected, "t={}", t);
        }
        let got: Vec<(i64, u64)> = s.samples_in(i64::MIN, i64::MAX).iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect();
        let want: Vec<(i64, u64)> = model.into_iter().collect();
        proptest::prop_assert_eq!(got, want);
    }
}

fn test_histogram(level: u8, wide: bool) -> Arc<FloatHistogram> {
    let level = f64::from(level);
    let (spans, buckets) = if wide {
        (vec![crate::BucketSpan { offset: 0, length: 2 }], vec![level, 1.0])
    } else {
        (vec![crate::BucketSpan { offset: 0, length: 1 }], vec![level])
    };
    Arc::new(FloatHistogram { count: buckets.iter().sum(), sum: level, positive_spans: spans, positive_buckets: buckets, ..FloatHistogram::default() })
}

#[derive(Clone, Debug, PartialEq)]
enum Stored {
    F(u64),
    H(Arc<FloatHistogram>),
}

proptest::proptest! {
    /// Floats and histograms mixed in one series, in any order: each kind follows the
    /// last-write-wins rules, a write of the other kind at a held timestamp is a
    /// `Conflict` that changes nothing; reads, splits, deletes and encoded reads agree
    /// with that model.
    #[test]
    fn floats_and_histograms_follow_one_model(
        stream in proptest::collection::vec((0i64..300, 0u8..6, 0u8..4), 0..400),
        boundary in 0i64..320, (del_lo, del_len) in (0i64..300, 0i64..60),
    ) {
        let mut s = MemSeries::new(Labels::default());
        let mut model: BTreeMap<i64, Stored> = BTreeMap::new();
        for (t, kind, level) in stream {
            let (result, value) = if kind < 3 {
                let v = if kind == 0 { f64::from_bits(crate::STALE_NAN_BITS) } else { f64::from(level) };
                (s.append(t, v), Stored::F(v.to_bits()))
            } else {
                let h = test_histogram(level, kind == 5);
                (s.append_histogram(t, &h), Stored::H(h))
            };
            let same = |a: &Stored, b: &Stored| match (a, b) {
                (Stored::F(x), Stored::F(y)) => x == y,
                (Stored::H(x), Stored::H(y)) => x.same_as(y),
                _ => false,
            };
            let expected = match model.get(&t) {
                Some(old) if std::mem::discriminant(old) != std::mem::discriminant(&value) => AppendResult::Conflict,
                Some(old) if same(old, &value) => AppendResult::Duplicate,
                Some(_) => AppendResult::Overwritten,
                None => result,
            };
            proptest::prop_assert_eq!(result, expected, "t={}", t);
            if !model.contains_key(&t) {
                proptest::prop_assert!(matches!(result, AppendResult::Appended | AppendResult::OutOfOrder), "a new timestamp is stored: {:?}", result);
            }
            if result != AppendResult::Conflict {
                model.insert(t, value);
            }
        }
        let read = |s: &MemSeries, lo: i64, hi: i64| -> Result<BTreeMap<i64, Stored>, proptest::test_runner::TestCaseError> {
            let mut m: BTreeMap<i64, Stored> = s.samples_in(lo, hi).iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
            for h in s.histograms_in(lo, hi) {
                proptest::prop_assert!(m.insert(h.timestamp_ms, Stored::H(h.histogram)).is_none(), "a timestamp holds one kind");
            }
            Ok(m)
        };
        let norm = |m: BTreeMap<i64, Stored>| -> Vec<(i64, String)> {
            m.into_iter().map(|(t, v)| (t, match v { Stored::F(b) => format!("f{b}"), Stored::H(h) => format!("h{}/{:?}", h.count, h.positive_buckets) })).collect()
        };
        proptest::prop_assert_eq!(norm(read(&s, i64::MIN, i64::MAX)?), norm(model.clone()));
        proptest::prop_assert_eq!(s.time_range(), model.keys().next().map(|lo| (*lo, *model.keys().last().unwrap_or(lo))));
        // Encoded, decoded: the same.
        let part = s.encoded_in(i64::MIN, i64::MAX);
        let (floats, histograms) = part.decode_both(i64::MIN, i64::MAX).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
        let mut decoded: BTreeMap<i64, Stored> = floats.iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
        decoded.extend(histograms.into_iter().map(|h| (h.timestamp_ms, Stored::H(h.histogram))));
        proptest::prop_assert_eq!(norm(decoded), norm(model.clone()));
        // Split: before and after the boundary, nothing lost.
        let split = s.split_at(boundary);
        let mut before: BTreeMap<i64, Stored> = split.samples.iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
        before.extend(split.histograms.iter().map(|h| (h.timestamp_ms, Stored::H(Arc::clone(&h.histogram)))));
        for c in &split.chunks {
            proptest::prop_assert!(c.max_time_ms < boundary);
            match c.encoding {
                ChunkEncoding::Xor => before.extend(crate::chunk::XorIterator::new(&c.bytes).map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits())))),
                ChunkEncoding::FloatHistogram => before.extend(crate::chunk::FloatHistogramIterator::new(&c.bytes).map(|h| (h.timestamp_ms, Stored::H(h.histogram)))),
                ChunkEncoding::Xor2 | ChunkEncoding::FloatHistogramSt => proptest::prop_assert!(false, "the head writes no start-time chunks"),
            }
        }
        let mut after: BTreeMap<i64, Stored> = split.samples_after.iter().map(|x| (x.timestamp_ms, Stored::F(x.value.to_bits()))).collect();
        after.extend(split.histograms_after.iter().map(|h| (h.timestamp_ms, Stored::H(Arc::clone(&h.histogram)))));
        proptest::prop_assert_eq!(norm(before), norm(model.range(..boundary).map(|(t, v)| (*t, v.clone())).collect()));
        proptest::prop_assert_eq!(norm(after), norm(model.range(boundary..).map(|(t, v)| (*t, v.clone())).collect()));
        // Delete a range of both kinds.
        let removed = s.delete_range(del_lo, del_lo + del_len);
        let gone = model.range(del_lo..=del_lo + del_len).count();
        proptest::prop_assert_eq!(removed, gone);
        model.retain(|t, _| *t < del_lo || *t > del_lo + del_len);
        proptest::prop_assert_eq!(norm(read(&s, i64::MIN, i64::MAX)?), norm(model));
    }
}

#[test]
fn the_newest_sample_alone_answers_a_last_only_read_when_nothing_else_can_be_later() {
    let mut s = MemSeries::new(Labels::default());
    for t in (0..300).map(|i| i * 10) {
        s.append(t, t as f64);
    }
    let last_only = |s: &MemSeries, mint, maxt| s.encoded_last_in(mint, maxt);
    // The newest sample (2990) in range: it alone, nothing decoded or copied.
    let part = last_only(&s, 2_500, 3_000);
    assert_eq!((part.chunks.len(), part.samples.clone()), (0, vec![Sample { timestamp_ms: 2_990, value: 2_990.0 }]));
    // Not in range: the whole answer.
    assert_eq!(last_only(&s, 100, 2_000), s.encoded_in(100, 2_000));
    // Out-of-order data in range might be the last there: the whole answer.
    s.append(2_995, 1.0);
    s.append(2_985, 7.0);
    assert_eq!(last_only(&s, 2_980, 3_000), s.encoded_in(2_980, 3_000));
    assert_eq!(last_only(&s, 2_996, 3_000), s.encoded_in(2_996, 3_000));
}

proptest::proptest! {
    /// Floats with and without start times, in any order: an in-order float keeps its
    /// start (the series switching to XOR2 at its first), an out-of-order one or an
    /// overwrite is stored with 0, a duplicate changes nothing; reads, encoded reads,
    /// last-only reads, splits and deletes agree with that model.
    #[test]
    fn started_floats_follow_one_model(
        stream in proptest::collection::vec((0i64..300, 0i64..4, 0u8..3), 0..300),
        boundary in 0i64..320, (del_lo, del_len) in (0i64..300, 0i64..60),
    ) {
        let mut s = MemSeries::new(Labels::default());
        let mut model: BTreeMap<i64, (u64, i64)> = BTreeMap::new();
        for (t, start, level) in stream {
            let v = f64::from(level);
            let start_ms = if start == 0 { 0 } else { 1_000 + start };
            let result = s.append_started(start_ms, t, v, &mut ChunkRanges::new(100));
            match result {
                AppendResult::Appended if model.keys().next_back().is_none_or(|last| t > *last) => { model.insert(t, (v.to_bits(), start_ms)); }
                AppendResult::OutOfOrder | AppendResult::Overwritten => { model.insert(t, (v.to_bits(), 0)); }
                AppendResult::Duplicate => proptest::prop_assert_eq!(model.get(&t).map(|m| m.0), Some(v.to_bits())),
                other => proptest::prop_assert!(false, "unexpected {:?} at {}", other, t),
            }
        }
        let with_starts = |samples: Vec<Sample>, starts: Option<Vec<i64>>| -> Vec<(i64, u64, i64)> {
            samples.iter().enumerate().map(|(i, x)| (x.timestamp_ms, x.value.to_bits(), starts.as_ref().map_or(0, |st| st[i]))).collect()
        };
        let want: Vec<(i64, u64, i64)> = model.iter().map(|(t, (bits, start))| (*t, *bits, *start)).collect();
        let (samples, starts) = s.samples_with_starts_in(i64::MIN, i64::MAX);
        proptest::prop_assert_eq!(with_starts(samples, starts), want.clone());
        // Encoded (whole range and a partial one), decoded with starts.
        for (lo, hi) in [(i64::MIN, i64::MAX), (37, 211)] {
            let (samples, _, starts) = s.encoded_in(lo, hi).decode_with_starts(lo, hi).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
            let got = with_starts(samples, starts.map(|st| st.floats));
            proptest::prop_assert_eq!(got, want.iter().copied().filter(|(t, _, _)| *t >= lo && *t <= hi).collect::<Vec<_>>());
            let (last, _, last_starts) = s.encoded_last_in(lo, hi).decode_with_starts(lo, hi).map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{e:?}")))?;
            let last = with_starts(last, last_starts.map(|st| st.floats)).last().copied();
            proptest::prop_assert_eq!(last, want.iter().copied().rfind(|(t, _, _)| *t >= lo && *t <= hi));
        }
        // Split: kept chunks and loose samples before, adopted chunks and loose samples after.
        let split = s.split_at(boundary);
        let (mut before, mut before_starts) = (Vec::new(), Vec::new());
        for c in &split.chunks {
            proptest::prop_assert!(c.max_time_ms < boundary);
            proptest::prop_assert!(crate::chunk::decode_chunk_kept_with_starts(c.encoding, &c.bytes, (&mut before, &mut before_starts), (&mut Vec::new(), &mut Vec::new()), |_| true));
        }
        let loose_starts = |samples: &[Sample], starts: &[i64]| if starts.is_empty() { vec![0; samples.len()] } else { starts.to_vec() };
        before_starts.extend(loose_starts(&split.samples, &split.sample_starts));
        before.extend(split.samples.iter().copied());
        let (mut after, mut after_starts) = (Vec::new(), Vec::new());
        for c in &split.chunks_after {
            after.extend(c.chunk.iter());
            after_starts.resize(after.len(), 0);
        }
        after_starts.extend(loose_starts(&split.samples_after, &split.sample_starts_after));
        after.extend(split.samples_after.iter().copied());
        proptest::prop_assert_eq!(with_starts(before, Some(before_starts)), want.iter().copied().filter(|(t, _, _)| *t < boundary).collect::<Vec<_>>());
        proptest::prop_assert_eq!(with_starts(after, Some(after_starts)), want.iter().copied().filter(|(t, _, _)| *t >= boundary).collect::<Vec<_>>());
        // Delete: the rest keeps its starts.
        s.delete_range(del_lo, del_lo + del_len);
        let (samples, starts) = s.samples_with_starts_in(i64::MIN, i64::MAX);
        proptest::prop_assert_eq!(with_starts(samples, starts), want.iter().copied().filter(|(t, _, _)| *t < del_lo || *t > del_lo + del_len).collect::<Vec<_>>());
    }
}

proptest::proptest! {
    /// Decoded, a last-only read ends with the same sample as the whole read, for any
    /// stream (out-of-order data, overwrites, stale markers) and range.
    #[test]
    fn a_last_only_read_ends_with_the_last_sample(
        stream in proptest::collection::vec((0i64..400, 0u8..4), 0..300),
        mint in 0i64..420, len in 0i64..420,
    ) {
        let mut s = MemSeries::new(Labels::default());
        for (t, kind) in stream {
            let v = match kind { 0 => 1.0, 1 => f64::from_bits(crate::STALE_NAN_BITS), 2 => f64::NAN, _ => t as f64 * 0.5 };
            s.append(t, v);
        }
        let last = |part: EncodedPart| part.decode(mint, mint + len).ok().and_then(|samples| samples.last().map(|x| (x.timestamp_ms, x.value.to_bits())));
        proptest::prop_assert_eq!(last(s.encoded_last_in(mint, mint + len)), last(s.encoded_in(mint, mint + len)));
    }
}

proptest::proptest! {
    /// Splitting gives exactly the samples before and from the boundary; kept chunks are
    /// whole, end before it and come first, in order.
    #[test]
    fn split_at_partitions_the_samples(
        times in proptest::collection::vec(0i64..2_000, 0..400),
        sorted in proptest::prelude::any::<bool>(),
        boundary in 0i64..2_100,
    ) {
        let mut times = times;
        if sorted {
            // Strictly increasing: no out-of-order buffer, so chunks are kept whole.
            times.sort_unstable();
            times.dedup();
        }
        let mut s = MemSeries::new(Labels::default());
        for (i, t) in times.iter().enumerate() {
            s.append(*t, i as f64);
        }
        let all = s.samples_in(i64::MIN, i64::MAX);
        let SeriesSplit { chunks: kept, samples: before, chunks_after, samples_after, .. } = s.split_at(boundary);
        let mut got: Vec<Sample> = Vec::new();
        for c in &kept {
            proptest::prop_assert!(c.max_time_ms < boundary);
            let samples: Vec<Sample> = crate::chunk::XorIterator::new(&c.bytes).collect();
            proptest::prop_assert_eq!(samples.len() as u64, c.num_samples);
            proptest::prop_assert_eq!((samples.first().map(|x| x.timestamp_ms), samples.last().map(|x| x.timestamp_ms)), (Some(c.min_time_ms), Some(c.max_time_ms)));
            got.extend(samples);
        }
        got.extend(before);
        // From the boundary on: whole closed chunks first, then loose samples.
        let mut after: Vec<Sample> = Vec::new();
        for c in &chunks_after {
            let samples: Vec<Sample> = c.chunk.iter().collect();
            proptest::prop_assert!(c.min_t >= boundary);
            proptest::prop_assert_eq!((samples.first().map(|x| x.timestamp_ms), samples.last().map(|x| x.timestamp_ms)), (Some(c.min_t), Some(c.max_t)));
            after.extend(samples);
        }
        proptest::prop_assert!(chunks_after.is_empty() || !samples_after.is_empty(), "the open chunk's samples follow adopted chunks");
        after.extend(samples_after);
        let want_before: Vec<Sample> = all.iter().copied().filter(|x| x.timestamp_ms < boundary).collect();
        let want_after: Vec<Sample> = all.iter().copied().filter(|x| x.timestamp_ms >= boundary).collect();
        let bits = |v: &[Sample]| v.iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect::<Vec<_>>();
        proptest::prop_assert_eq!(bits(&got), bits(&want_before));
        proptest::prop_assert_eq!(bits(&after), bits(&want_after));
    }
}
