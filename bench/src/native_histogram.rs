//! Integer native histograms built as Prometheus' Go client builds them: an observation `v`
//! lands in exponential bucket `i` = (base^(i-1), base^i] with base = 2^(2^-schema), or in the
//! zero bucket when `v` is at most the zero threshold; counts only grow (a counter histogram);
//! a snapshot lists the populated buckets as spans and deltas, one span across gaps of up to
//! two empty buckets (client_golang's `makeBuckets`).

use std::sync::OnceLock;

use proto::remote_write_v1::{histogram, BucketSpan, Histogram};

/// Exponential schemas Prometheus accepts (9..=52 it would reduce to 8; we never send them).
pub const SCHEMA_MIN: i32 = -4;
pub const SCHEMA_MAX: i32 = 8;
pub const SCHEMA_DEFAULT: i32 = 3;
/// client_golang's `DefNativeHistogramZeroThreshold`: 2^-128.
pub const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;
/// Gaps of at most this many empty buckets stay inside one span, filled with zero deltas.
const SPAN_GAP_MAX: i32 = 2;

/// Upper bounds of the `2^schema` buckets within one power of two, as the fraction `frexp`
/// gives (in [0.5, 1)), for schemas 1..=8: client_golang's `nativeHistogramBounds`, computed
/// here (a value may differ from its table in the last bit, which moves only observations that
/// fall exactly on a bound).
fn fraction_bounds(schema: i32) -> &'static [f64] {
    static BOUNDS: OnceLock<Vec<Vec<f64>>> = OnceLock::new();
    let all = BOUNDS.get_or_init(|| {
        (0..=SCHEMA_MAX)
            .map(|s| {
                let n = 1u32 << s;
                (0..n).map(|k| 0.5 * (f64::from(k) / f64::from(n)).exp2()).collect()
            })
            .collect()
    });
    &all[schema as usize]
}

/// `v = frac * 2^exp` with `frac` in [0.5, 1), for positive finite `v` (Go's `math.Frexp`).
fn frexp(v: f64) -> (f64, i32) {
    debug_assert!(v > 0.0 && v.is_finite(), "frexp of a positive finite value, not {v}");
    let bits = v.to_bits();
    let exponent_bits = ((bits >> 52) & 0x7ff) as i32;
    if exponent_bits == 0 {
        // Subnormal: scale into the normal range first.
        let (frac, exp) = frexp(v * 2f64.powi(64));
        return (frac, exp - 64);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exponent_bits - 1022)
}

/// The bucket index of a positive observation above the zero threshold (client_golang's
/// `findBucket`): the smallest `i` with `v <= base^i`.
pub fn bucket_index(v: f64, schema: i32) -> i32 {
    debug_assert!((SCHEMA_MIN..=SCHEMA_MAX).contains(&schema), "schema {schema} is exponential");
    let (frac, exp) = frexp(v);
    if schema > 0 {
        let bounds = fraction_bounds(schema);
        // Go's sort.SearchFloat64s: the first bound >= frac.
        let within = bounds.partition_point(|&b| b < frac) as i32;
        within + (exp - 1) * bounds.len() as i32
    } else {
        // A power of two sits at the top of the bucket below.
        let key = if frac == 0.5 { exp - 1 } else { exp };
        let offset = (1 << -schema) - 1;
        (key + offset) >> -schema
    }
}

/// One series' observation counts since it started.
#[derive(Clone, Debug)]
pub struct Counts {
    schema: i32,
    zero_count: u64,
    count: u64,
    sum: f64,
    /// Bucket `first_index + i` holds `buckets[i]` observations (dense: latency observations
    /// span a few dozen powers of two at most, and the window only grows to what was seen).
    first_index: i32,
    buckets: Vec<u64>,
}

impl Counts {
    pub fn new(schema: i32) -> Counts {
        assert!((SCHEMA_MIN..=SCHEMA_MAX).contains(&schema), "schema {schema} checked by Layout::new");
        Counts { schema, zero_count: 0, count: 0, sum: 0.0, first_index: 0, buckets: Vec::new() }
    }

    /// Adds `weight` observations of the non-negative value `v`.
    pub fn observe(&mut self, v: f64, weight: u64) {
        debug_assert!(v >= 0.0, "latencies are not negative: {v}");
        self.count += weight;
        self.sum += v * weight as f64;
        if v <= ZERO_THRESHOLD {
            self.zero_count += weight;
            return;
        }
        let index = bucket_index(v, self.schema);
        if self.buckets.is_empty() {
            self.first_index = index;
            self.buckets.push(0);
        } else if index < self.first_index {
            let grow = (self.first_index - index) as usize;
            self.buckets.splice(0..0, std::iter::repeat_n(0, grow));
            self.first_index = index;
        } else if index - self.first_index >= self.buckets.len() as i32 {
            self.buckets.resize((index - self.first_index) as usize + 1, 0);
        }
        self.buckets[(index - self.first_index) as usize] += weight;
    }

    /// The histogram as remote_write carries it (timestamp 0: the caller stamps it).
    pub fn snapshot(&self) -> Histogram {
        let (positive_spans, positive_deltas) = spans_and_deltas(self.first_index, &self.buckets);
        let h = Histogram {
            count: Some(histogram::Count::CountInt(self.count)),
            sum: self.sum,
            schema: self.schema,
            zero_threshold: ZERO_THRESHOLD,
            zero_count: Some(histogram::ZeroCount::ZeroCountInt(self.zero_count)),
            positive_spans,
            positive_deltas,
            ..Histogram::default()
        };
        debug_assert_eq!(self.zero_count + self.buckets.iter().sum::<u64>(), self.count, "count == zero + buckets");
        h
    }
}

/// The populated buckets of a dense window as spans (the first offset is the absolute index of
/// the first bucket, the others the gaps) and deltas (each count minus the previous one).
pub fn spans_and_deltas(first_index: i32, buckets: &[u64]) -> (Vec<BucketSpan>, Vec<i64>) {
    let mut spans: Vec<BucketSpan> = Vec::new();
    let mut deltas = Vec::new();
    let mut previous: i64 = 0;
    let mut next_index: i32 = 0;
    let mut push = |spans: &mut Vec<BucketSpan>, count: i64| {
        spans.last_mut().expect("a span is open before its first bucket").length += 1;
        deltas.push(count - previous);
        previous = count;
    };
    for (i, &count) in buckets.iter().enumerate().filter(|(_, c)| **c > 0) {
        let index = first_index + i as i32;
        let gap = index - next_index;
        if spans.is_empty() || gap > SPAN_GAP_MAX {
            spans.push(BucketSpan { offset: gap, length: 0 });
        } else {
            for _ in 0..gap {
                push(&mut spans, 0);
            }
        }
        push(&mut spans, count as i64);
        next_index = index + 1;
    }
    (spans, deltas)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Absolute (index, count) pairs back from spans and deltas, as a server decodes them.
    pub fn decode_buckets(spans: &[BucketSpan], deltas: &[i64]) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        let (mut index, mut count, mut d) = (0i32, 0i64, deltas.iter());
        for span in spans {
            index += span.offset;
            for _ in 0..span.length {
                count += d.next().expect("spans cover the deltas");
                out.push((index, count));
                index += 1;
            }
        }
        assert!(d.next().is_none(), "no delta left over");
        out
    }

    #[test]
    fn bucket_indexes_match_the_definition() {
        // Upper bounds are inclusive: base^i itself is in bucket i.
        for (v, schema, want) in [
            (1.0, 0, 0),
            (1.5, 0, 1),
            (2.0, 0, 1),
            (2.1, 0, 2),
            (0.5, 0, -1),
            (0.3, 0, -1),
            (1.0, 3, 0),
            (2.0, 3, 8),
            (0.5, 3, -8),
            (1.1, 3, 2), // 2^(1/8) = 1.0905.., 2^(2/8) = 1.189..
            (1.09, 3, 1),
            (4.0, -1, 1), // base 4
            (4.1, -1, 2),
            (1.0, -1, 0),
            (0.25, -2, 0), // base 16: bucket 0 is (1/16, 1]
            (17.0, -2, 2),
            (1e-3, 8, -2551), // ceil(log2(1e-3) * 256) = ceil(-2551.24)
        ] {
            assert_eq!(bucket_index(v, schema), want, "v {v} schema {schema}");
        }
        // Against the closed form, away from bounds, for every schema.
        for schema in SCHEMA_MIN..=SCHEMA_MAX {
            for &v in &[1e-6, 3.7e-4, 0.013, 0.9, 1.7, 42.0, 1234.5] {
                let i = bucket_index(v, schema);
                let bound = |i: i32| (f64::from(i) * 2f64.powi(-schema)).exp2();
                assert!(bound(i - 1) < v && v <= bound(i), "v {v} schema {schema} bucket {i}");
            }
        }
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
    }

    #[test]
    fn spans_merge_small_gaps_like_client_golang() {
        // Buckets 5, 6 populated; 9 after a gap of 2 (same span, two zero buckets); 14 after
        // a gap of 4 (new span).
        let mut dense = vec![0u64; 10];
        dense[0] = 3;
        dense[1] = 1;
        dense[4] = 2;
        dense[9] = 7;
        let (spans, deltas) = spans_and_deltas(5, &dense);
        let spans: Vec<(i32, u32)> = spans.iter().map(|s| (s.offset, s.length)).collect();
        assert_eq!(spans, vec![(5, 5), (4, 1)]);
        assert_eq!(deltas, vec![3, -2, -1, 0, 2, 5]);
        let (spans, deltas) = spans_and_deltas(-3, &dense);
        assert_eq!(decode_buckets(&spans, &deltas), vec![(-3, 3), (-2, 1), (-1, 0), (0, 0), (1, 2), (6, 7)]);
        assert_eq!(spans_and_deltas(0, &[]), (vec![], vec![]));
    }

    #[test]
    fn counts_round_trip_and_add_up() {
        let mut c = Counts::new(3);
        let observations = [0.0, 0.004, 0.004, 0.2, 1.0, 1.0, 3.5, 1e-40, 7e3];
        for &v in &observations {
            c.observe(v, 1);
        }
        c.observe(0.2, 5);
        let h = c.snapshot();
        assert_eq!(h.count, Some(histogram::Count::CountInt(observations.len() as u64 + 5)));
        assert_eq!(h.zero_count, Some(histogram::ZeroCount::ZeroCountInt(2)));
        let buckets = decode_buckets(&h.positive_spans, &h.positive_deltas);
        let populated: Vec<(i32, i64)> = buckets.iter().copied().filter(|(_, n)| *n > 0).collect();
        let want = [(bucket_index(0.004, 3), 2), (bucket_index(0.2, 3), 6), (0, 2), (bucket_index(3.5, 3), 1), (bucket_index(7e3, 3), 1)];
        assert_eq!(populated, want);
        assert!((h.sum - (observations.iter().sum::<f64>() + 1.0)).abs() < 1e-9);
    }
}
