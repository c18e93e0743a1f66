//! `FloatHistogramIterator`: reads a float histogram chunk's samples back, stopping at
//! damage, with the counter-reset hints Prometheus reports.

use std::sync::Arc;

use super::fields::{read_custom_bound, read_spans, read_zero_threshold, XorField};
use super::header::{CounterResetHeader, HeaderLayout};
use super::HISTOGRAM_HEADER_BYTES;
use crate::chunk::bits::BitReader;
use crate::chunk::varbit::{read_varbit_int, read_varbit_uint};
use crate::model::{is_stale_nan, BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN};

/// Iterates a histogram chunk's samples. A truncated or corrupt chunk ends early; `error()`
/// tells. Hints are Prometheus' (`counterResetHint`): `Gauge` in a gauge chunk, else
/// `NotCounterReset` after a chunk's first sample and `Unknown` for the first (whether the
/// chunk before it still exists is not known here).
pub struct FloatHistogramIterator<'a> {
    pub(in crate::chunk) reader: BitReader<'a>,
    total: u16,
    read: u16,
    header: CounterResetHeader,
    schema: i32,
    zero_threshold: f64,
    positive_spans: Vec<BucketSpan>,
    negative_spans: Vec<BucketSpan>,
    custom_values: Vec<f64>,
    t: i64,
    t_delta: i64,
    count_field: XorField,
    zero_count_field: XorField,
    sum_field: XorField,
    positive: Vec<XorField>,
    negative: Vec<XorField>,
    corrupt: bool,
}

impl<'a> FloatHistogramIterator<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        FloatHistogramIterator::with_layout(bytes, HeaderLayout::Plain)
    }

    /// An iterator over a chunk of either header layout.
    pub(crate) fn with_layout(bytes: &'a [u8], layout: HeaderLayout) -> Self {
        FloatHistogramIterator {
            reader: BitReader::new(bytes.get(HISTOGRAM_HEADER_BYTES..).unwrap_or(&[])),
            total: layout.num_samples(bytes),
            read: 0,
            header: layout.counter_reset_header(bytes),
            schema: 0,
            zero_threshold: 0.0,
            positive_spans: Vec::new(),
            negative_spans: Vec::new(),
            custom_values: Vec::new(),
            t: 0,
            t_delta: 0,
            count_field: XorField::default(),
            zero_count_field: XorField::default(),
            sum_field: XorField::default(),
            positive: Vec::new(),
            negative: Vec::new(),
            corrupt: false,
        }
    }

    /// True when iteration stopped because the bytes were malformed.
    pub fn error(&self) -> bool {
        self.corrupt
    }

    pub fn header(&self) -> CounterResetHeader {
        self.header
    }

    /// The timestamp of the sample read last (0 before the first).
    pub(crate) fn last_timestamp(&self) -> i64 {
        self.t
    }

    /// Samples read so far.
    pub(crate) fn num_read(&self) -> u16 {
        self.read
    }

    /// Stops the iteration as malformed (for what a chunk variant stores after each sample).
    pub(crate) fn mark_corrupt(&mut self) {
        self.corrupt = true;
    }

    fn read_layout(&mut self) -> Option<()> {
        let r = &mut self.reader;
        self.zero_threshold = read_zero_threshold(r)?;
        self.schema = i32::try_from(read_varbit_int(r)?).ok()?;
        if self.schema != CUSTOM_BUCKETS_SCHEMA && !(EXPONENTIAL_SCHEMA_MIN..=EXPONENTIAL_SCHEMA_MAX).contains(&self.schema) {
            return None;
        }
        // The first sample stores every bucket in 64 bits: no more buckets than bits left / 64.
        let buckets_max = (r.bits_left() / 64) as u64;
        let (positive_spans, positive) = read_spans(r, buckets_max)?;
        let (negative_spans, negative) = read_spans(r, buckets_max - positive as u64)?;
        if self.schema == CUSTOM_BUCKETS_SCHEMA {
            let count = read_varbit_uint(r)?;
            if count > r.bits_left() as u64 {
                return None;
            }
            self.custom_values = (0..count).map(|_| read_custom_bound(r)).collect::<Option<Vec<f64>>>()?;
        }
        self.positive_spans = positive_spans;
        self.negative_spans = negative_spans;
        self.positive = vec![XorField::default(); positive];
        self.negative = vec![XorField::default(); negative];
        Some(())
    }

    fn step(&mut self) -> Option<HistogramSample> {
        if self.read == 0 {
            self.read_layout()?;
            let r = &mut self.reader;
            self.t = read_varbit_int(r)?;
            for field in [&mut self.count_field, &mut self.zero_count_field, &mut self.sum_field].into_iter().chain(&mut self.positive).chain(&mut self.negative) {
                field.value = f64::from_bits(r.read_bits(64)?);
            }
        } else {
            let r = &mut self.reader;
            self.t_delta = self.t_delta.wrapping_add(read_varbit_int(r)?);
            self.t = self.t.wrapping_add(self.t_delta);
            self.count_field.read(r)?;
            self.zero_count_field.read(r)?;
            self.sum_field.read(r)?;
            if !is_stale_nan(self.sum_field.value) {
                for field in self.positive.iter_mut().chain(&mut self.negative) {
                    field.read(r)?;
                }
            }
        }
        self.read += 1;
        let histogram = if is_stale_nan(self.sum_field.value) {
            FloatHistogram { sum: self.sum_field.value, ..FloatHistogram::default() }
        } else {
            FloatHistogram {
                counter_reset_hint: match self.header {
                    CounterResetHeader::Gauge => CounterResetHint::Gauge,
                    _ if self.read > 1 => CounterResetHint::NotCounterReset,
                    _ => CounterResetHint::Unknown,
                },
                schema: self.schema,
                zero_threshold: self.zero_threshold,
                zero_count: self.zero_count_field.value,
                count: self.count_field.value,
                sum: self.sum_field.value,
                positive_spans: self.positive_spans.clone(),
                negative_spans: self.negative_spans.clone(),
                positive_buckets: self.positive.iter().map(|f| f.value).collect(),
                negative_buckets: self.negative.iter().map(|f| f.value).collect(),
                custom_values: self.custom_values.clone(),
            }
        };
        Some(HistogramSample { timestamp_ms: self.t, histogram: Arc::new(histogram) })
    }
}

impl Iterator for FloatHistogramIterator<'_> {
    type Item = HistogramSample;

    fn next(&mut self) -> Option<HistogramSample> {
        if self.read >= self.total || self.corrupt {
            return None;
        }
        let sample = self.step();
        if sample.is_none() {
            self.corrupt = true;
        }
        sample
    }
}

/// Appends to `out`, in order, the histograms of the encoded chunk `bytes` whose timestamp
/// `keep` accepts; false when the bytes are malformed (those before the damage are appended).
pub fn decode_histograms_kept(bytes: &[u8], out: &mut Vec<HistogramSample>, keep: impl Fn(i64) -> bool) -> bool {
    let mut it = FloatHistogramIterator::new(bytes);
    out.extend(it.by_ref().filter(|s| keep(s.timestamp_ms)));
    !it.error()
}
