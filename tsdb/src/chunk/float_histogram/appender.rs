//! `FloatHistogramAppender`: builds one float histogram chunk, and decides as Prometheus
//! does whether a histogram fits the chunk or starts a new one, with which header
//! (`appendable`).

use super::fields::{write_custom_bound, write_spans, write_zero_threshold, XorField};
use super::header::{CounterResetHeader, HeaderLayout};
use super::{HISTOGRAM_CHUNK_BYTES_TARGET, HISTOGRAM_SAMPLES_PER_CHUNK_MIN};
use crate::chunk::bits::BitWriter;
use crate::chunk::varbit::{write_varbit_int, write_varbit_uint};
use crate::model::{is_stale_nan, BucketSpan, CounterResetHint, FloatHistogram};

/// What `FloatHistogramAppender::appendable` says about a histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appendable {
    Yes,
    /// Start a new chunk with this header.
    Cut(CounterResetHeader),
}

/// Absolute bucket indexes named by `spans`, in order.
fn bucket_indexes(spans: &[BucketSpan]) -> impl Iterator<Item = i64> + '_ {
    let mut next = 0i64;
    spans.iter().flat_map(move |s| {
        let start = next + i64::from(s.offset);
        next = start + i64::from(s.length);
        start..next
    })
}

/// How a histogram's buckets relate to the chunk's last ones (counter histograms).
#[derive(PartialEq, Eq)]
enum BucketChange {
    /// The same buckets, none lower.
    Same,
    /// A bucket went down, or a non-empty one disappeared.
    Reset,
    /// Buckets were added (or empty ones dropped), none went down.
    Layout,
}

fn compare_buckets(old_spans: &[BucketSpan], old: &[XorField], new_spans: &[BucketSpan], new: &[f64]) -> BucketChange {
    if old_spans == new_spans {
        let reset = old.iter().zip(new).any(|(o, n)| *n < o.value);
        return if reset { BucketChange::Reset } else { BucketChange::Same };
    }
    let mut old_it = bucket_indexes(old_spans).zip(old.iter().map(|f| f.value)).peekable();
    let mut new_it = bucket_indexes(new_spans).zip(new.iter().copied()).peekable();
    loop {
        match (old_it.peek().copied(), new_it.peek().copied()) {
            (Some((oi, ov)), Some((ni, nv))) if oi == ni => {
                if ov > nv {
                    return BucketChange::Reset;
                }
                old_it.next();
                new_it.next();
            }
            // The new histogram lacks a bucket of the chunk: fine only if it was empty.
            (Some((oi, ov)), next) if next.is_none_or(|(ni, _)| oi < ni) => {
                if ov != 0.0 {
                    return BucketChange::Reset;
                }
                old_it.next();
            }
            (_, Some(_)) => {
                new_it.next();
            }
            (None, None) => return BucketChange::Layout,
            (Some(_), None) => unreachable!("handled by the guard above"),
        }
    }
}

/// Builds one float histogram chunk. Every histogram appended must be `appendable`.
#[derive(Clone, Debug)]
pub struct FloatHistogramAppender {
    pub(in crate::chunk) writer: BitWriter,
    layout: HeaderLayout,
    count: u16,
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
}

impl FloatHistogramAppender {
    /// An empty chunk with the given counter-reset header.
    pub fn new(header: CounterResetHeader) -> Self {
        FloatHistogramAppender::with_layout(header, HeaderLayout::Plain)
    }

    /// An empty chunk of either header layout.
    pub(crate) fn with_layout(header: CounterResetHeader, layout: HeaderLayout) -> Self {
        FloatHistogramAppender {
            writer: BitWriter::from_parts(layout.empty_header(header), 0),
            layout,
            count: 0,
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
        }
    }

    /// The first chunk for `h` after `previous` (the series' last chunk, if any): its header
    /// as Prometheus sets it when a chunk is started because the previous one is full.
    pub fn after(previous: Option<&FloatHistogramAppender>, h: &FloatHistogram) -> Self {
        let header = match h.counter_reset_hint {
            CounterResetHint::Gauge => CounterResetHeader::Gauge,
            CounterResetHint::CounterReset => CounterResetHeader::CounterReset,
            _ => match previous.filter(|p| p.count > 0).map(|p| p.appendable(h)) {
                None => CounterResetHeader::Unknown,
                Some(Appendable::Cut(CounterResetHeader::CounterReset)) => CounterResetHeader::CounterReset,
                Some(_) => CounterResetHeader::NotCounterReset,
            },
        };
        FloatHistogramAppender::new(header)
    }

    pub fn num_samples(&self) -> u16 {
        self.count
    }

    /// The chunk's bytes so far (header included).
    pub fn bytes(&self) -> &[u8] {
        &self.writer.bytes
    }

    pub fn header(&self) -> CounterResetHeader {
        self.layout.counter_reset_header(&self.writer.bytes)
    }

    /// The newest sample's timestamp, `None` before the first append.
    pub fn last_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.t)
    }

    /// Finishes the chunk, giving back spare capacity.
    pub fn into_bytes(self) -> Box<[u8]> {
        self.writer.bytes.into_boxed_slice()
    }

    /// True when the chunk should be cut before another sample (Prometheus' sample and byte
    /// targets for histogram chunks).
    pub fn is_full(&self, samples_max: u16) -> bool {
        self.count >= samples_max || (self.count >= HISTOGRAM_SAMPLES_PER_CHUNK_MIN && self.writer.bytes.len() >= HISTOGRAM_CHUNK_BYTES_TARGET)
    }

    /// Whether `h` can go into this chunk, and if not, the header of the chunk it starts, as
    /// Prometheus decides for a counter histogram (`appendable`) or a gauge
    /// (`appendableGauge`). Where Prometheus would rewrite the chunk for new buckets, a new
    /// chunk is started instead (header `NotCounterReset`): any change of layout cuts.
    pub fn appendable(&self, h: &FloatHistogram) -> Appendable {
        use CounterResetHeader as H;
        if self.count == 0 {
            return Appendable::Yes;
        }
        let header = self.header();
        let same_layout = h.schema == self.schema
            && h.zero_threshold == self.zero_threshold
            && (!h.uses_custom_buckets() || h.custom_values == self.custom_values);
        if h.counter_reset_hint == CounterResetHint::Gauge {
            if header != H::Gauge || (!is_stale_nan(h.sum) && is_stale_nan(self.sum_field.value)) {
                return Appendable::Cut(H::Gauge);
            }
            let same = is_stale_nan(h.sum) || (same_layout && h.positive_spans == self.positive_spans && h.negative_spans == self.negative_spans);
            return if same { Appendable::Yes } else { Appendable::Cut(H::Gauge) };
        }
        if header == H::Gauge {
            let reset = h.counter_reset_hint == CounterResetHint::CounterReset;
            return Appendable::Cut(if reset { H::CounterReset } else { H::Unknown });
        }
        if h.counter_reset_hint == CounterResetHint::CounterReset {
            return Appendable::Cut(H::CounterReset);
        }
        if is_stale_nan(h.sum) {
            return Appendable::Yes;
        }
        if is_stale_nan(self.sum_field.value) {
            return Appendable::Cut(H::Unknown);
        }
        if h.count < self.count_field.value {
            return Appendable::Cut(H::CounterReset);
        }
        if h.schema != self.schema || h.zero_threshold != self.zero_threshold {
            return Appendable::Cut(H::Unknown);
        }
        if h.uses_custom_buckets() && h.custom_values != self.custom_values {
            return Appendable::Cut(H::CounterReset);
        }
        if h.zero_count < self.zero_count_field.value {
            return Appendable::Cut(H::CounterReset);
        }
        let positive = compare_buckets(&self.positive_spans, &self.positive, &h.positive_spans, &h.positive_buckets);
        let negative = compare_buckets(&self.negative_spans, &self.negative, &h.negative_spans, &h.negative_buckets);
        match (positive, negative) {
            (BucketChange::Reset, _) | (_, BucketChange::Reset) => Appendable::Cut(H::CounterReset),
            (BucketChange::Same, BucketChange::Same) => Appendable::Yes,
            _ => Appendable::Cut(H::NotCounterReset),
        }
    }

    /// Appends `h` at `timestamp_ms` (after the newest sample). The caller checked
    /// `appendable` (debug builds assert it) and that `h` validates.
    pub fn append(&mut self, timestamp_ms: i64, h: &FloatHistogram) {
        debug_assert_eq!(self.appendable(h), Appendable::Yes, "a histogram appended to a chunk fits its layout");
        debug_assert!(self.count == 0 || timestamp_ms > self.t, "histogram chunk timestamps increase");
        debug_assert!(self.count < u16::MAX, "a chunk holds at most 65535 samples");
        let stale;
        // A staleness marker is stored as its sum alone: no buckets, an empty layout.
        let h = if is_stale_nan(h.sum) {
            stale = FloatHistogram { sum: h.sum, ..FloatHistogram::default() };
            &stale
        } else {
            h
        };
        let w = &mut self.writer;
        if self.count == 0 {
            write_zero_threshold(w, h.zero_threshold);
            write_varbit_int(w, i64::from(h.schema));
            write_spans(w, &h.positive_spans);
            write_spans(w, &h.negative_spans);
            if h.uses_custom_buckets() {
                write_varbit_uint(w, h.custom_values.len() as u64);
                for bound in &h.custom_values {
                    write_custom_bound(w, *bound);
                }
            }
            self.schema = h.schema;
            self.zero_threshold = h.zero_threshold;
            self.positive_spans = h.positive_spans.clone();
            self.negative_spans = h.negative_spans.clone();
            self.custom_values = if h.uses_custom_buckets() { h.custom_values.clone() } else { Vec::new() };
            write_varbit_int(w, timestamp_ms);
            for v in [h.count, h.zero_count, h.sum].iter().chain(&h.positive_buckets).chain(&h.negative_buckets) {
                w.write_bits(v.to_bits(), 64);
            }
            self.count_field = XorField::first(h.count);
            self.zero_count_field = XorField::first(h.zero_count);
            self.sum_field = XorField::first(h.sum);
            self.positive = h.positive_buckets.iter().map(|v| XorField::first(*v)).collect();
            self.negative = h.negative_buckets.iter().map(|v| XorField::first(*v)).collect();
            self.t_delta = 0;
        } else {
            let t_delta = timestamp_ms.wrapping_sub(self.t);
            write_varbit_int(w, t_delta.wrapping_sub(self.t_delta));
            self.t_delta = t_delta;
            self.count_field.write(w, h.count);
            self.zero_count_field.write(w, h.zero_count);
            self.sum_field.write(w, h.sum);
            for (field, v) in self.positive.iter_mut().zip(&h.positive_buckets) {
                field.write(w, *v);
            }
            for (field, v) in self.negative.iter_mut().zip(&h.negative_buckets) {
                field.write(w, *v);
            }
        }
        self.t = timestamp_ms;
        self.count += 1;
        self.layout.write_num_samples(&mut self.writer.bytes, self.count);
    }
}
