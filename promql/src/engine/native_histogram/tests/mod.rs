//! Tests of the histogram math against Prometheus' own expectations: its unit tests
//! (`float_histogram_test.go`) and the conformance scripts (`native_histograms.test`).

mod arithmetic;
mod quantile;
mod reset;

use tsdb::{BucketSpan, FloatHistogram};

use super::{collapse, expand, kahan_inc};
use crate::promqltest::notation::parse_histogram;

pub(super) fn spans(pairs: &[(i32, u32)]) -> Vec<BucketSpan> {
    pairs.iter().map(|&(offset, length)| BucketSpan { offset, length }).collect()
}

/// Spans and counts of one side of a histogram.
type Side<'a> = (&'a [(i32, u32)], &'a [f64]);

/// An exponential histogram: schema, zero threshold, zero count, count, sum, both sides.
fn exponential(schema: i32, zero_threshold: f64, zero_count: f64, count: f64, sum: f64, positive: Side, negative: Side) -> FloatHistogram {
    FloatHistogram {
        schema,
        zero_threshold,
        zero_count,
        count,
        sum,
        positive_spans: spans(positive.0),
        positive_buckets: positive.1.to_vec(),
        negative_spans: spans(negative.0),
        negative_buckets: negative.1.to_vec(),
        ..FloatHistogram::default()
    }
}

/// A histogram with custom bounds.
fn custom(count: f64, sum: f64, positive: Side, bounds: &[f64]) -> FloatHistogram {
    FloatHistogram {
        schema: tsdb::model::CUSTOM_BUCKETS_SCHEMA,
        count,
        sum,
        positive_spans: spans(positive.0),
        positive_buckets: positive.1.to_vec(),
        custom_values: bounds.to_vec(),
        ..FloatHistogram::default()
    }
}

/// A histogram in test-script notation.
fn h(notation: &str) -> FloatHistogram {
    parse_histogram(notation).unwrap_or_else(|e| panic!("{notation}: {e}")).0
}

const NONE: Side = (&[], &[]);

#[test]
fn expand_and_collapse_round_trip_a_merged_layout() {
    let entries = expand(&spans(&[(-2, 2), (1, 1), (0, 2)]), &[1.0, 2.0, 3.0, 4.0, 5.0]);
    let indexes: Vec<i32> = entries.iter().map(|e| e.index).collect();
    assert_eq!(indexes, vec![-2, -1, 1, 2, 3]);
    let (s, b) = collapse(&entries);
    assert_eq!(s, spans(&[(-2, 2), (1, 3)]), "adjacent spans merge");
    assert_eq!(b, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(collapse(&[]), (Vec::new(), Vec::new()));
}

#[test]
fn kahan_keeps_what_plain_addition_loses() {
    let (mut sum, mut c) = (0.0, 0.0);
    for x in [1e16, 1.0, -1e16, 1.0] {
        (sum, c) = kahan_inc(x, sum, c);
    }
    assert_eq!(sum + c, 2.0);
    assert_eq!(kahan_inc(1.0, f64::INFINITY, 5.0), (f64::INFINITY, 0.0));
}
