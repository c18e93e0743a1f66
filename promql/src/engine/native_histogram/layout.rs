//! Bucket layout: compaction (Prometheus' `Compact`), lowering the resolution, and `Equals`, which
//! compares layouts span by span and counts by bit pattern.

use tsdb::model::CUSTOM_BUCKETS_SCHEMA;
use tsdb::{BucketSpan, FloatHistogram};

use super::bounds::target_index;
use super::{collapse, expand, Entry, HistogramError};

/// Prometheus' `Compact(0)`: empty buckets dropped, adjacent spans merged, nothing else changed.
pub(crate) fn compact(h: &FloatHistogram) -> FloatHistogram {
    compact_keeping(h, 0)
}

/// Prometheus' `Compact(max_empty)`: empty buckets at span edges go, runs of more than
/// `max_empty` empty buckets split a span, and spans at most `max_empty` apart merge (the gap
/// filled with empty buckets).
pub(crate) fn compact_keeping(h: &FloatHistogram, max_empty: u32) -> FloatHistogram {
    let mut out = h.clone();
    (out.positive_spans, out.positive_buckets) = compact_side(&expand(&h.positive_spans, &h.positive_buckets), max_empty);
    (out.negative_spans, out.negative_buckets) = compact_side(&expand(&h.negative_spans, &h.negative_buckets), max_empty);
    out
}

/// Whether a bucket counts as empty: its count and its compensation are zero (NaN is not empty).
fn is_empty(e: &Entry) -> bool {
    e.value == 0.0 && e.comp == 0.0
}

/// The entries that survive compaction: populated buckets, and the empty ones between two
/// populated buckets at most `max_empty` indexes apart (absent ones filled in as 0).
pub(super) fn compact_entries(entries: &[Entry], max_empty: u32) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    let populated: Vec<usize> = (0..entries.len()).filter(|&i| !is_empty(&entries[i])).collect();
    for (k, &i) in populated.iter().enumerate() {
        if k > 0 {
            let previous = populated[k - 1];
            let gap = i64::from(entries[i].index) - i64::from(entries[previous].index) - 1;
            if gap > 0 && gap <= i64::from(max_empty) {
                let mut present = entries[previous + 1..i].iter().peekable();
                for index in entries[previous].index + 1..entries[i].index {
                    match present.peek() {
                        Some(e) if e.index == index => out.push(*present.next().expect("peeked")),
                        _ => out.push(Entry { index, value: 0.0, comp: 0.0 }),
                    }
                }
            }
        }
        out.push(entries[i]);
    }
    out
}

fn compact_side(entries: &[Entry], max_empty: u32) -> (Vec<BucketSpan>, Vec<f64>) {
    collapse(&compact_entries(entries, max_empty))
}

/// Lowers the resolution of an exponential histogram to `target_schema` (<= its schema) by
/// merging buckets; the counter reset hint stays (Prometheus' `ReduceResolution`).
pub(crate) fn reduce_resolution(h: &FloatHistogram, target_schema: i32) -> Result<FloatHistogram, HistogramError> {
    if h.uses_custom_buckets() || target_schema == CUSTOM_BUCKETS_SCHEMA || target_schema > h.schema {
        return Err(HistogramError::ReduceResolution { from: h.schema, to: target_schema });
    }
    let mut out = h.clone();
    out.schema = target_schema;
    (out.positive_spans, out.positive_buckets) = collapse(&reduce_entries(expand(&h.positive_spans, &h.positive_buckets), h.schema, target_schema, false));
    (out.negative_spans, out.negative_buckets) = collapse(&reduce_entries(expand(&h.negative_spans, &h.negative_buckets), h.schema, target_schema, false));
    Ok(out)
}

/// Entries re-indexed into `target_schema`, the counts of merged buckets added in index order:
/// plainly, or (`kahan`) as Prometheus' Kahan reduction does, value then compensation.
pub(super) fn reduce_entries(entries: Vec<Entry>, schema: i32, target_schema: i32, kahan: bool) -> Vec<Entry> {
    if schema == target_schema {
        return entries;
    }
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        let index = target_index(e.index, schema, target_schema);
        match out.last_mut() {
            Some(last) if last.index == index => {
                if kahan {
                    (last.value, last.comp) = super::kahan_inc(e.value, last.value, last.comp);
                    (last.value, last.comp) = super::kahan_inc(e.comp, last.value, last.comp);
                } else {
                    last.value += e.value;
                }
            }
            _ => out.push(Entry { index, ..e }),
        }
    }
    out
}

/// Prometheus' `Equals`: the same schema, bounds, zero threshold and bucket layout (spans may
/// differ only by empty spans), and bit-identical counts and sum. The `==` operator uses it on
/// compacted histograms.
pub(crate) fn equals(a: &FloatHistogram, b: &FloatHistogram) -> bool {
    a.schema == b.schema
        && a.count.to_bits() == b.count.to_bits()
        && a.sum.to_bits() == b.sum.to_bits()
        && (!a.uses_custom_buckets() || a.custom_values == b.custom_values)
        && a.zero_threshold == b.zero_threshold
        && a.zero_count.to_bits() == b.zero_count.to_bits()
        && spans_match(&a.negative_spans, &b.negative_spans)
        && bits_match(&a.negative_buckets, &b.negative_buckets)
        && spans_match(&a.positive_spans, &b.positive_spans)
        && bits_match(&a.positive_buckets, &b.positive_buckets)
}

fn bits_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Whether two span lists describe the same buckets, ignoring zero-length spans (whose offsets
/// carry over to the next span); adjacent spans do not equal one merged span.
pub(crate) fn spans_match(a: &[BucketSpan], b: &[BucketSpan]) -> bool {
    let merged = |spans: &[BucketSpan]| -> Vec<BucketSpan> {
        let mut out = Vec::new();
        let mut carried: i32 = 0;
        for s in spans {
            if s.length == 0 {
                carried = carried.wrapping_add(s.offset);
                continue;
            }
            out.push(BucketSpan { offset: s.offset.wrapping_add(carried), length: s.length });
            carried = 0;
        }
        out
    };
    merged(a) == merged(b)
}

/// Whether any count, the sum or a custom bound is infinite (a sum that overflowed).
pub(crate) fn has_overflow(h: &FloatHistogram) -> bool {
    [h.zero_count, h.count, h.sum].iter().chain(&h.positive_buckets).chain(&h.negative_buckets).chain(&h.custom_values).any(|v| v.is_infinite())
}

#[cfg(test)]
mod tests {
    use super::super::tests::spans;
    use super::*;

    fn exponential(positive: &[(i32, u32)], counts: &[f64]) -> FloatHistogram {
        FloatHistogram { positive_spans: spans(positive), positive_buckets: counts.to_vec(), ..FloatHistogram::default() }
    }

    #[test]
    fn compaction_as_prometheus_compacts() {
        // (spans, counts, max_empty, expected spans, expected counts): Prometheus'
        // TestFloatHistogramCompact cases.
        type Case = (&'static [(i32, u32)], &'static [f64], u32, &'static [(i32, u32)], &'static [f64]);
        let cases: &[Case] = &[
            // eliminate zero offsets
            (&[(-2, 1), (0, 3), (0, 1)], &[1.0, 3.3, 4.2, 0.1, 3.3], 0, &[(-2, 5)], &[1.0, 3.3, 4.2, 0.1, 3.3]),
            (&[(0, 2), (0, 2), (2, 1), (0, 1)], &[3.1, 3.0, 1.234e5, 1000.0, 3.0, 4.0], 0, &[(0, 4), (2, 2)], &[3.1, 3.0, 1.234e5, 1000.0, 3.0, 4.0]),
            // eliminate multiple zero length spans
            (&[(-2, 2), (2, 0), (2, 0), (2, 0), (3, 3)], &[1.0, 3.3, 4.2, 0.1, 3.3], 0, &[(-2, 2), (9, 3)], &[1.0, 3.3, 4.2, 0.1, 3.3]),
            // cut empty buckets at start and end
            (&[(-4, 4), (5, 6)], &[0.0, 0.0, 1.0, 3.3, 4.2, 0.1, 3.3, 0.0, 0.0, 0.0], 0, &[(-2, 2), (5, 3)], &[1.0, 3.3, 4.2, 0.1, 3.3]),
            // cut empty buckets in the middle
            (&[(5, 4)], &[1.0, 3.0, 0.0, 2.0], 0, &[(5, 2), (1, 1)], &[1.0, 3.0, 2.0]),
            // cut out a span containing only empty buckets
            (&[(-4, 3), (2, 2), (3, 4)], &[0.0, 0.0, 1.0, 0.0, 0.0, 3.3, 4.2, 0.1, 3.3], 0, &[(-2, 1), (7, 4)], &[1.0, 3.3, 4.2, 0.1, 3.3]),
            // cut empty buckets at start and end - also merge spans due to maxEmptyBuckets
            (&[(-4, 4), (5, 3)], &[0.0, 0.0, 1.0, 3.3, 4.2, 0.1, 3.3], 10, &[(-2, 10)], &[1.0, 3.3, 0.0, 0.0, 0.0, 0.0, 0.0, 4.2, 0.1, 3.3]),
            // cut empty buckets from the middle of a span, avoiding none due to maxEmptyBuckets
            (&[(-2, 4)], &[1.0, 0.0, 0.0, 3.3], 1, &[(-2, 1), (2, 1)], &[1.0, 3.3]),
            // everything merged into one span due to maxEmptyBuckets
            (&[(-4, 6), (3, 3)], &[0.0, 0.0, 1.0, 0.0, 0.0, 3.3, 4.2, 0.1, 3.3], 3, &[(-2, 10)], &[1.0, 0.0, 0.0, 3.3, 0.0, 0.0, 0.0, 4.2, 0.1, 3.3]),
            // more than one span merged in the same pass
            (&[(-2, 2), (2, 2), (2, 2)], &[1.0, 3.3, 4.2, 0.1, 3.3, 2.0], 3, &[(-2, 10)], &[1.0, 3.3, 0.0, 0.0, 4.2, 0.1, 0.0, 0.0, 3.3, 2.0]),
            // only empty buckets and maxEmptyBuckets greater zero
            (&[(-4, 6), (3, 3)], &[0.0; 9], 3, &[], &[]),
            // multiple spans of only empty buckets
            (&[(-10, 2), (2, 1), (3, 3)], &[0.0, 0.0, 0.0, 0.0, 2.0, 3.0], 0, &[(-1, 2)], &[2.0, 3.0]),
            // NaN counts are not empty
            (&[(0, 2), (2, 1)], &[1.0, f64::NAN, 2.0], 0, &[(0, 2), (2, 1)], &[1.0, f64::NAN, 2.0]),
        ];
        for (i, &(in_spans, in_counts, max_empty, want_spans, want_counts)) in cases.iter().enumerate() {
            let got = compact_keeping(&exponential(in_spans, in_counts), max_empty);
            assert_eq!(got.positive_spans, spans(want_spans), "case {i}");
            assert!(bits_match(&got.positive_buckets, want_counts), "case {i}: {:?}", got.positive_buckets);
        }
    }

    #[test]
    fn resolution_reduces_by_merging_buckets() {
        // Schema 1 buckets 0..=5 into schema 0: (0,1) -> 0, (1,2) -> 1, (3,4) -> 2, 5 -> 3.
        let h = FloatHistogram { schema: 1, ..exponential(&[(0, 3), (2, 1), (0, 1)], &[1.0, 2.0, 3.0, 4.0, 5.0]) };
        let got = reduce_resolution(&h, 0).unwrap();
        assert_eq!((got.schema, got.positive_spans.clone(), got.positive_buckets.clone()), (0, spans(&[(0, 2), (1, 1)]), vec![1.0, 5.0, 9.0]));
        let got = reduce_resolution(&h, -1).unwrap();
        assert_eq!((got.positive_spans, got.positive_buckets), (spans(&[(0, 3)]), vec![1.0, 5.0, 9.0]));
        assert_eq!(reduce_resolution(&h, 2), Err(HistogramError::ReduceResolution { from: 1, to: 2 }));
        let custom = FloatHistogram { schema: CUSTOM_BUCKETS_SCHEMA, ..FloatHistogram::default() };
        assert!(reduce_resolution(&custom, 0).is_err());
    }

    #[test]
    fn equality_is_of_layout_and_bits() {
        let a = exponential(&[(0, 2)], &[1.0, 2.0]);
        assert!(equals(&a, &a.clone()));
        let with_empty_span = exponential(&[(0, 0), (0, 2)], &[1.0, 2.0]);
        assert!(equals(&a, &with_empty_span), "zero-length spans do not count");
        let split = exponential(&[(0, 1), (0, 1)], &[1.0, 2.0]);
        assert!(!equals(&a, &split), "adjacent spans are another layout");
        let zero = FloatHistogram { sum: -0.0, ..a.clone() };
        assert!(!equals(&a, &zero), "sums compare by bits");
        let nan = exponential(&[(0, 1)], &[f64::NAN]);
        assert!(equals(&nan, &nan.clone()), "NaN counts equal themselves");
        let custom_a = FloatHistogram { schema: CUSTOM_BUCKETS_SCHEMA, custom_values: vec![1.0], ..a.clone() };
        let custom_b = FloatHistogram { custom_values: vec![2.0], ..custom_a.clone() };
        assert!(!equals(&custom_a, &custom_b));
    }

    #[test]
    fn overflow_is_any_infinity() {
        assert!(!has_overflow(&exponential(&[(0, 1)], &[1.0])));
        assert!(has_overflow(&exponential(&[(0, 1)], &[f64::INFINITY])));
        assert!(has_overflow(&FloatHistogram { sum: f64::NEG_INFINITY, ..FloatHistogram::default() }));
    }
}
