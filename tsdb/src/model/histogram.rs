//! Native histograms as stored and evaluated: Prometheus' float histogram (sparse
//! exponential buckets, or custom bounds with schema -53) and a timestamped sample of one.
//! Integer histograms from remote_write are held as float histograms: every count below
//! 2^53 converts exactly, and one type keeps storage and PromQL single-pathed.

use std::sync::Arc;

/// Schema of native histograms with custom bucket bounds (NHCB): `custom_values` holds
/// the upper bounds and only positive buckets exist.
pub const CUSTOM_BUCKETS_SCHEMA: i32 = -53;
/// Exponential schemas run from -4 (factor 65536 between bounds) to 8 (factor 2^(1/256)).
pub const EXPONENTIAL_SCHEMA_MIN: i32 = -4;
pub const EXPONENTIAL_SCHEMA_MAX: i32 = 8;

/// A run of consecutive buckets: `offset` is the gap (in bucket indexes) after the previous
/// span's end (or, for the first span, the index of its first bucket); `length` buckets follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BucketSpan {
    pub offset: i32,
    pub length: u32,
}

/// What the producer said about counter resets between this histogram and the previous one
/// of the series (Prometheus' `CounterResetHint`, same numbering as remote_write).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum CounterResetHint {
    /// Not known: a reader compares with the previous histogram.
    #[default]
    Unknown = 0,
    /// A reset happened before this histogram.
    CounterReset = 1,
    /// No reset since the previous histogram.
    NotCounterReset = 2,
    /// A gauge histogram: it goes up and down, resets do not apply.
    Gauge = 3,
}

impl CounterResetHint {
    pub fn from_u8(value: u8) -> Option<CounterResetHint> {
        Some(match value {
            0 => CounterResetHint::Unknown,
            1 => CounterResetHint::CounterReset,
            2 => CounterResetHint::NotCounterReset,
            3 => CounterResetHint::Gauge,
            _ => return None,
        })
    }
}

/// A native histogram with float counts. Bucket counts are absolute (not deltas);
/// `positive_buckets` has as many entries as the lengths in `positive_spans` add up to
/// (likewise negative). With `schema == CUSTOM_BUCKETS_SCHEMA` bucket `i` is
/// `(custom_values[i-1], custom_values[i]]` and the last implicit one reaches +Inf.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct FloatHistogram {
    pub counter_reset_hint: CounterResetHint,
    pub schema: i32,
    pub zero_threshold: f64,
    pub zero_count: f64,
    pub count: f64,
    pub sum: f64,
    pub positive_spans: Vec<BucketSpan>,
    pub negative_spans: Vec<BucketSpan>,
    pub positive_buckets: Vec<f64>,
    pub negative_buckets: Vec<f64>,
    pub custom_values: Vec<f64>,
}

impl FloatHistogram {
    /// Whether buckets are custom bounds rather than exponential.
    pub fn uses_custom_buckets(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// The structural invariants every stored histogram keeps: a known schema, bucket counts
    /// matching the spans, custom bounds only with the custom schema (strictly increasing,
    /// no negative buckets). The message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.uses_custom_buckets() {
            if !self.negative_spans.is_empty() || !self.negative_buckets.is_empty() {
                return Err("histogram with custom buckets has negative buckets".into());
            }
            if self.zero_count != 0.0 || self.zero_threshold != 0.0 {
                return Err("histogram with custom buckets has a zero bucket".into());
            }
            if self.custom_values.windows(2).any(|w| w[0].partial_cmp(&w[1]) != Some(std::cmp::Ordering::Less)) {
                return Err("histogram custom bounds are not strictly increasing".into());
            }
            // As Prometheus' `checkHistogramCustomBounds`: no NaN bound (a lone one passes the
            // order check), the +Inf one implied, never given.
            if self.custom_values.iter().any(|b| b.is_nan()) {
                return Err("histogram custom bounds hold NaN".into());
            }
            if self.custom_values.last() == Some(&f64::INFINITY) {
                return Err("histogram custom bounds: the last +Inf bound must not be explicitly defined".into());
            }
        } else {
            if !(EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&self.schema) {
                return Err(format!(
                    "histogram schema {} is outside -4..8 and not -53 (custom buckets)",
                    self.schema
                ));
            }
            if !self.custom_values.is_empty() {
                return Err("histogram with an exponential schema has custom bounds".into());
            }
        }
        for (name, spans, buckets) in [
            ("positive", &self.positive_spans, &self.positive_buckets),
            ("negative", &self.negative_spans, &self.negative_buckets),
        ] {
            let spanned: u64 = spans.iter().map(|s| u64::from(s.length)).sum();
            if spanned != buckets.len() as u64 {
                return Err(format!(
                    "histogram {name} spans cover {spanned} buckets but {} counts were given",
                    buckets.len()
                ));
            }
            if spans.iter().skip(1).any(|s| s.offset < 0) {
                return Err(format!(
                    "histogram {name} span has a negative offset after the first"
                ));
            }
        }
        if self.uses_custom_buckets() {
            // Bucket indexes run 0..=len(custom_values) (the last is the +Inf bucket).
            let mut index: i64 = -1;
            for span in &self.positive_spans {
                index += i64::from(span.offset) + i64::from(span.length);
            }
            if !self.positive_spans.is_empty()
                && (self.positive_spans[0].offset < 0 || index > self.custom_values.len() as i64)
            {
                return Err("histogram custom bucket index outside its bounds".into());
            }
        }
        Ok(())
    }
}

impl FloatHistogram {
    /// True when both hold the same histogram: every field equal, floats compared by their
    /// bits (so equal NaNs, the staleness marker included, are the same), the counter-reset
    /// hint left out (it describes the series' history, not the value). A write of the same
    /// histogram again at a timestamp is a duplicate by this.
    pub fn same_as(&self, other: &FloatHistogram) -> bool {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
        self.schema == other.schema
            && self.zero_threshold.to_bits() == other.zero_threshold.to_bits()
            && self.zero_count.to_bits() == other.zero_count.to_bits()
            && self.count.to_bits() == other.count.to_bits()
            && self.sum.to_bits() == other.sum.to_bits()
            && self.positive_spans == other.positive_spans
            && self.negative_spans == other.negative_spans
            && self.positive_buckets.len() == other.positive_buckets.len()
            && self.negative_buckets.len() == other.negative_buckets.len()
            && bits(&self.positive_buckets) == bits(&other.positive_buckets)
            && bits(&self.negative_buckets) == bits(&other.negative_buckets)
            && bits(&self.custom_values) == bits(&other.custom_values)
    }
}

/// One native histogram sample of a series.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramSample {
    pub timestamp_ms: i64,
    pub histogram: Arc<FloatHistogram>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exponential() -> FloatHistogram {
        FloatHistogram {
            schema: 0,
            zero_threshold: 0.001,
            zero_count: 1.0,
            count: 5.0,
            sum: 10.0,
            positive_spans: vec![
                BucketSpan {
                    offset: 0,
                    length: 2,
                },
                BucketSpan {
                    offset: 1,
                    length: 1,
                },
            ],
            positive_buckets: vec![1.0, 2.0, 1.0],
            ..FloatHistogram::default()
        }
    }

    #[test]
    fn a_well_formed_histogram_validates() {
        assert_eq!(exponential().validate(), Ok(()));
        let custom = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: 3.0,
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0, 1.0, 1.0],
            custom_values: vec![1.0, 2.0],
            ..FloatHistogram::default()
        };
        assert_eq!(custom.validate(), Ok(()));
    }

    #[test]
    fn malformed_histograms_are_named() {
        let mut h = exponential();
        h.positive_buckets.pop();
        assert!(h
            .validate()
            .unwrap_err()
            .contains("positive spans cover 3 buckets but 2"));
        let mut h = exponential();
        h.schema = 9;
        assert!(h.validate().unwrap_err().contains("schema 9"));
        let mut h = exponential();
        h.custom_values = vec![1.0];
        assert!(h.validate().unwrap_err().contains("custom bounds"));
        let custom = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            custom_values: vec![2.0, 1.0],
            ..FloatHistogram::default()
        };
        assert!(custom
            .validate()
            .unwrap_err()
            .contains("strictly increasing"));
        let custom = FloatHistogram {
            schema: CUSTOM_BUCKETS_SCHEMA,
            positive_spans: vec![BucketSpan {
                offset: 0,
                length: 3,
            }],
            positive_buckets: vec![1.0; 3],
            custom_values: vec![1.0],
            ..FloatHistogram::default()
        };
        assert!(custom
            .validate()
            .unwrap_err()
            .contains("outside its bounds"));
    }
}
