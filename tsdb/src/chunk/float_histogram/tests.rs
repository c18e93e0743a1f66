//! Float histogram chunk tests: bytes written by Prometheus, custom bounds, the headers
//! of cut chunks, damaged chunks and an encode/decode round trip of any stream.

use std::sync::Arc;

use super::fields::write_zero_threshold;
use super::*;
use crate::chunk::bits::BitWriter;
use crate::chunk::varbit::{write_varbit_int, write_varbit_uint};
use crate::model::{is_stale_nan, BucketSpan, CounterResetHint, FloatHistogram, CUSTOM_BUCKETS_SCHEMA};
use crate::STALE_NAN_BITS;
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan { offset, length }
}

/// Field-by-field equality with floats compared by bits and the hint left out (a chunk
/// keeps hints only as its header).
fn same(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    a.schema == b.schema
        && a.zero_threshold.to_bits() == b.zero_threshold.to_bits()
        && a.zero_count.to_bits() == b.zero_count.to_bits()
        && a.count.to_bits() == b.count.to_bits()
        && a.sum.to_bits() == b.sum.to_bits()
        && a.positive_spans == b.positive_spans
        && a.negative_spans == b.negative_spans
        && bits(&a.positive_buckets) == bits(&b.positive_buckets)
        && bits(&a.negative_buckets) == bits(&b.negative_buckets)
        && bits(&a.custom_values) == bits(&b.custom_values)
}

/// The chunks below were written by Prometheus 2.42's own `chunkenc` (Go, appending the
/// same histograms with `FloatHistogramAppender.AppendFloatHistogram` and printing
/// `Chunk.Bytes()` in hex); ours must be the same bytes and read back the same values.
#[test]
fn bytes_match_chunks_written_by_prometheus() {
    // 1: four counter histograms with positive and negative buckets, a zero threshold
    // that is not a power of two, then a staleness marker.
    let base = FloatHistogram {
        schema: 0,
        zero_threshold: 1e-128,
        zero_count: 2.0,
        count: 21.0,
        sum: 18.4,
        positive_spans: vec![span(0, 2), span(1, 2)],
        positive_buckets: vec![1.0, 2.0, 3.0, 4.0],
        negative_spans: vec![span(1, 1)],
        negative_buckets: vec![9.0],
        ..FloatHistogram::default()
    };
    let mut a = FloatHistogramAppender::new(CounterResetHeader::Unknown);
    let mut written = Vec::new();
    for (i, t) in [1000i64, 16000, 31000, 46500, 46501].into_iter().enumerate() {
        let f = i as f64;
        let mut h = base.clone();
        h.count += f * 3.0;
        h.zero_count += f;
        h.sum += f * 1.5;
        h.positive_buckets[1] += f;
        h.positive_buckets[3] += 2.0 * f;
        h.negative_buckets[0] += 0.25 * f;
        if i == 4 {
            h = FloatHistogram { sum: f64::from_bits(STALE_NAN_BITS), ..FloatHistogram::default() };
        }
        assert_eq!(a.appendable(&h), Appendable::Yes);
        a.append(t, &h);
        written.push((t, h));
    }
    assert_eq!(
        hex(a.bytes()),
        "000500ff255bba08cf8c979d4a4946318f8fa100d4000000000001000000000000000100c9999999999998ffc00000000000010000000000000001002000000000000100400000000000010088000000000003e0ea63609bb01ef0b6c06d80f80347ac2f689ad616d41fde17e1f4976839db41b6839fbc375c27403f84d802e2f3fc6e666666666640"
    );
    let read: Vec<HistogramSample> = FloatHistogramIterator::new(a.bytes()).collect();
    assert_eq!(read.len(), written.len());
    for (got, (t, want)) in read.iter().zip(&written) {
        assert_eq!(got.timestamp_ms, *t);
        assert!(same(&got.histogram, want), "{got:?} != {want:?}");
    }
    assert_eq!(read[0].histogram.counter_reset_hint, CounterResetHint::Unknown);
    assert_eq!(read[1].histogram.counter_reset_hint, CounterResetHint::NotCounterReset);

    // 2: a gauge chunk, schema -2, negative buckets only, a negative first offset.
    let g = FloatHistogram {
        counter_reset_hint: CounterResetHint::Gauge,
        schema: -2,
        zero_threshold: 0.3,
        zero_count: 1.0,
        count: 4.0,
        sum: -2.5,
        negative_spans: vec![span(-3, 3)],
        negative_buckets: vec![1.0, 0.0, 2.0],
        ..FloatHistogram::default()
    };
    let g2 = FloatHistogram { count: 3.5, negative_buckets: vec![0.5, 0.0, 2.0], ..g.clone() };
    let mut a = FloatHistogramAppender::after(None, &g);
    assert_eq!(a.header(), CounterResetHeader::Gauge);
    a.append(5, &g);
    assert_eq!(a.appendable(&g2), Appendable::Yes, "a gauge may go down");
    a.append(7000, &g2);
    assert_eq!(hex(a.bytes()), "0002c0ff3fd3333333333333b233ae150040000000000000ffc00000000000030010000000000000ffc000000000000000000000000000010000000000000003e06d4f587cd60c");
    let read: Vec<HistogramSample> = FloatHistogramIterator::new(a.bytes()).collect();
    assert!(same(&read[1].histogram, &g2) && read[1].histogram.counter_reset_hint == CounterResetHint::Gauge);

    // 3: the default zero threshold (2^-128, one byte), a large negative offset, +Inf sum.
    let d = FloatHistogram {
        schema: 3,
        zero_threshold: 2f64.powi(-128),
        count: 1.0,
        sum: 0.001,
        positive_spans: vec![span(-70_000, 1)],
        positive_buckets: vec![1.0],
        ..FloatHistogram::default()
    };
    let d2 = FloatHistogram { count: 2.0, positive_buckets: vec![2.0], sum: 0.002, ..d.clone() };
    let d3 = FloatHistogram { count: 1e300, positive_buckets: vec![1e300], sum: f64::INFINITY, ..d.clone() };
    let mut a = FloatHistogramAppender::new(CounterResetHeader::Unknown);
    for (t, h) in [(1_700_000_000_000, &d), (1_700_000_060_000, &d2), (1_700_000_120_000, &d3)] {
        assert_eq!(a.appendable(h), Appendable::Yes);
        a.append(t, h);
    }
    assert_eq!(
        hex(a.bytes()),
        "000300749c63f5dd20fe00018bcfe568003ff000000000000000000000000000003f50624dd2f1a9fc3ff0000000000000f8ea60c25fff6a0bc25fff62f3e37e43c8800759d87d8120c49ba5e353fe2f3e37e43c8800759c"
    );
    let read: Vec<HistogramSample> = FloatHistogramIterator::new(a.bytes()).collect();
    assert!(same(&read[2].histogram, &d3));
}

#[test]
fn custom_bounds_round_trip_in_both_forms() {
    // 0.001 multiples up to 33554.43 are varbit integers, the rest raw floats.
    let h = FloatHistogram {
        schema: CUSTOM_BUCKETS_SCHEMA,
        count: 6.0,
        sum: 12.0,
        positive_spans: vec![span(0, 2), span(2, 2)],
        positive_buckets: vec![1.0, 2.0, 1.0, 2.0],
        custom_values: vec![-5.0, 0.0, 0.25, 1.0001, 33_554.43, 33_554.431, 1e9],
        ..FloatHistogram::default()
    };
    assert_eq!(h.validate(), Ok(()));
    let chunks = encode_histogram_chunks(&[HistogramSample { timestamp_ms: 1, histogram: Arc::new(h.clone()) }], 120);
    let read: Vec<HistogramSample> = FloatHistogramIterator::new(&chunks[0].bytes).collect();
    assert!(same(&read[0].histogram, &h), "{:?}", read[0].histogram);
    // Another set of bounds is a new chunk, as a counter reset (Prometheus' rule).
    let mut other = h.clone();
    other.custom_values[2] = 0.5;
    other.count = 7.0;
    let mut a = FloatHistogramAppender::new(CounterResetHeader::Unknown);
    a.append(1, &h);
    assert_eq!(a.appendable(&other), Appendable::Cut(CounterResetHeader::CounterReset));
}

#[test]
fn layout_changes_and_resets_cut_with_prometheus_headers() {
    let h = FloatHistogram {
        count: 10.0,
        sum: 5.0,
        positive_spans: vec![span(0, 2)],
        positive_buckets: vec![4.0, 6.0],
        ..FloatHistogram::default()
    };
    let mut a = FloatHistogramAppender::new(CounterResetHeader::Unknown);
    a.append(1, &h);
    let cut = |change: &dyn Fn(&mut FloatHistogram)| {
        let mut next = h.clone();
        change(&mut next);
        a.appendable(&next)
    };
    use CounterResetHeader as H;
    assert_eq!(cut(&|n| n.count = 11.0), Appendable::Yes);
    assert_eq!(cut(&|n| n.count = 9.0), Appendable::Cut(H::CounterReset));
    assert_eq!(cut(&|n| n.positive_buckets[1] = 5.0), Appendable::Cut(H::CounterReset));
    assert_eq!(cut(&|n| n.counter_reset_hint = CounterResetHint::CounterReset), Appendable::Cut(H::CounterReset));
    assert_eq!(cut(&|n| n.schema = 1), Appendable::Cut(H::Unknown));
    assert_eq!(cut(&|n| n.zero_threshold = 0.5), Appendable::Cut(H::Unknown));
    // A new bucket: Prometheus rewrites the chunk; a new chunk here, no reset.
    assert_eq!(cut(&|n| { n.positive_spans = vec![span(0, 3)]; n.positive_buckets.push(1.0) }), Appendable::Cut(H::NotCounterReset));
    // A bucket gone that held counts is a reset.
    assert_eq!(cut(&|n| { n.positive_spans = vec![span(1, 1)]; n.positive_buckets = vec![6.0] }), Appendable::Cut(H::CounterReset));
    assert_eq!(cut(&|n| n.counter_reset_hint = CounterResetHint::Gauge), Appendable::Cut(H::Gauge));
    assert_eq!(cut(&|n| n.sum = f64::from_bits(STALE_NAN_BITS)), Appendable::Yes, "a staleness marker always fits");
    a.append(2, &FloatHistogram { sum: f64::from_bits(STALE_NAN_BITS), ..FloatHistogram::default() });
    assert_eq!(a.appendable(&h), Appendable::Cut(H::Unknown), "after a marker only markers fit");
    // A full chunk's successor: judged against it.
    let mut b = FloatHistogramAppender::new(H::Unknown);
    b.append(1, &h);
    assert_eq!(FloatHistogramAppender::after(Some(&b), &h).header(), H::NotCounterReset);
    let lower = FloatHistogram { count: 1.0, positive_buckets: vec![0.0, 1.0], ..h.clone() };
    assert_eq!(FloatHistogramAppender::after(Some(&b), &lower).header(), H::CounterReset);
    assert_eq!(FloatHistogramAppender::after(None, &h).header(), H::Unknown);
}

#[test]
fn truncated_or_garbage_chunks_stop_with_error() {
    let h = FloatHistogram { count: 3.0, sum: 1.0, positive_spans: vec![span(0, 3)], positive_buckets: vec![1.0; 3], ..FloatHistogram::default() };
    let samples: Vec<HistogramSample> = (0..10).map(|t| HistogramSample { timestamp_ms: t * 10, histogram: Arc::new(FloatHistogram { count: 3.0 + t as f64, positive_buckets: vec![1.0, 1.0, 1.0 + t as f64], ..h.clone() }) }).collect();
    let bytes = encode_histogram_chunks(&samples, 120).remove(0).bytes;
    let mut truncated = bytes.clone();
    truncated.truncate(bytes.len() - 3);
    let mut it = FloatHistogramIterator::new(&truncated);
    assert!(it.by_ref().count() < 10);
    assert!(it.error());
    // A layout claiming 2^40 buckets is refused before anything is allocated.
    let mut w = BitWriter::from_parts(vec![0, 1, 0], 0);
    write_zero_threshold(&mut w, 0.0);
    write_varbit_int(&mut w, 0);
    write_varbit_uint(&mut w, 1);
    write_varbit_uint(&mut w, 1 << 40);
    write_varbit_int(&mut w, 0);
    let mut it = FloatHistogramIterator::new(&w.bytes);
    assert!(it.next().is_none() && it.error());
}

/// A stream of histograms with a few layouts, growing counters, resets, staleness
/// markers and gauges.
fn arb_stream() -> impl Strategy<Value = Vec<HistogramSample>> {
    let step = (1i64..100_000, 0u8..16, any::<u64>(), 0.0f64..1e6);
    (-1_000_000_000i64..1_000_000_000, proptest::collection::vec(step, 1..300)).prop_map(|(start, steps)| {
        type Layout = (i32, Vec<BucketSpan>, Vec<BucketSpan>, Vec<f64>);
        let layouts: [Layout; 4] = [
            (0, vec![span(-2, 2), span(3, 1)], vec![span(0, 1)], vec![]),
            (0, vec![span(-2, 3), span(2, 1)], vec![span(0, 1)], vec![]),
            (-4, vec![], vec![span(5, 2)], vec![]),
            (CUSTOM_BUCKETS_SCHEMA, vec![span(0, 3)], vec![], vec![0.1, 2.5, 1e6 / 3.0]),
        ];
        let mut t = start;
        let mut layout = 0usize;
        let mut level = 0.0f64;
        let mut out = Vec::new();
        for (delta, kind, bits, jump) in steps {
            t += delta;
            let mut hint = CounterResetHint::Unknown;
            match kind {
                0 => layout = (layout + 1) % layouts.len(),
                1 => level = 0.0,
                2 => hint = CounterResetHint::Gauge,
                3 => hint = CounterResetHint::CounterReset,
                _ => level += jump,
            }
            let (schema, positive_spans, negative_spans, custom_values) = layouts[layout].clone();
            let n_pos: u32 = positive_spans.iter().map(|s| s.length).sum();
            let n_neg: u32 = negative_spans.iter().map(|s| s.length).sum();
            let h = if kind == 4 {
                FloatHistogram { sum: f64::from_bits(STALE_NAN_BITS), ..FloatHistogram::default() }
            } else {
                let custom = schema == CUSTOM_BUCKETS_SCHEMA;
                FloatHistogram {
                    counter_reset_hint: hint,
                    schema,
                    zero_threshold: if custom { 0.0 } else if kind == 5 { 0.125 } else { 2f64.powi(-128) },
                    zero_count: if custom { 0.0 } else { level.floor() },
                    count: level * 3.0 + 1.0,
                    sum: if kind == 6 { f64::from_bits(bits) } else { level * 0.7 },
                    positive_buckets: (0..n_pos).map(|i| level + f64::from(i)).collect(),
                    negative_buckets: (0..n_neg).map(|i| level * 0.5 + f64::from(i)).collect(),
                    positive_spans,
                    negative_spans,
                    custom_values,
                }
            };
            out.push(HistogramSample { timestamp_ms: t, histogram: Arc::new(h) });
        }
        out
    })
}

proptest! {
    /// Any stream encodes to chunks that read back every histogram (bits exact), with
    /// chunk bounds and counts right, each chunk's header the one `appendable` chose,
    /// and hints as Prometheus reports them.
    #[test]
    fn round_trip(stream in arb_stream(), per_chunk in 1u16..130) {
        for s in &stream {
            prop_assert_eq!(s.histogram.validate(), Ok(()));
        }
        let chunks = encode_histogram_chunks(&stream, per_chunk);
        let mut read = Vec::new();
        for c in &chunks {
            let mut it = FloatHistogramIterator::new(&c.bytes);
            let samples: Vec<HistogramSample> = it.by_ref().collect();
            prop_assert!(!it.error());
            prop_assert_eq!(samples.len(), usize::from(c.num_samples));
            prop_assert!(c.num_samples <= per_chunk);
            prop_assert_eq!((samples[0].timestamp_ms, samples[samples.len() - 1].timestamp_ms), (c.min_time_ms, c.max_time_ms));
            let gauge = histogram_chunk_header(&c.bytes) == CounterResetHeader::Gauge;
            for (i, s) in samples.iter().enumerate() {
                if is_stale_nan(s.histogram.sum) {
                    continue;
                }
                let want = match (gauge, i) {
                    (true, _) => CounterResetHint::Gauge,
                    (false, 0) => CounterResetHint::Unknown,
                    _ => CounterResetHint::NotCounterReset,
                };
                prop_assert_eq!(s.histogram.counter_reset_hint, want);
            }
            read.extend(samples);
        }
        prop_assert_eq!(read.len(), stream.len());
        for (got, want) in read.iter().zip(&stream) {
            prop_assert_eq!(got.timestamp_ms, want.timestamp_ms);
            prop_assert!(same(&got.histogram, &want.histogram), "{:?} != {:?}", got, want);
        }
    }
}
