//! Float histogram chunks in Prometheus' exact byte layout (`chunkenc.FloatHistogramChunk`,
//! encoding 3): a 2-byte big-endian sample count, one header byte whose top two bits are the
//! counter-reset header, then a bit stream. The first sample carries the layout (zero
//! threshold byte, varbit schema, positive then negative spans as varbit `(length, offset)`
//! pairs, custom bounds with schema -53), a varbit timestamp and raw 64-bit count, zero count,
//! sum and bucket counts; later samples a varbit delta-of-delta timestamp and every field
//! XOR-encoded against the previous sample. A chunk keeps one layout: a histogram with
//! another one (or a counter reset) starts a new chunk (`FloatHistogramAppender::appendable`).

use std::sync::Arc;

use super::bits::{BitReader, BitWriter};
use super::varbit::{read_varbit_int, read_varbit_uint, write_varbit_int, write_varbit_uint};
use crate::model::{is_stale_nan, BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, CUSTOM_BUCKETS_SCHEMA, EXPONENTIAL_SCHEMA_MAX, EXPONENTIAL_SCHEMA_MIN};

/// Bytes before the bit stream: the sample count (2) and the counter-reset header byte.
pub const HISTOGRAM_HEADER_BYTES: usize = 3;
/// A histogram chunk is cut at this many samples, as float chunks are.
pub const HISTOGRAM_SAMPLES_PER_CHUNK_MAX: u16 = 120;
/// A histogram chunk of at least `HISTOGRAM_SAMPLES_PER_CHUNK_MIN` samples is cut once it
/// holds this many bytes (Prometheus' `targetBytesPerHistogramChunk`): histograms with many
/// buckets would otherwise make chunks of tens of KiB.
pub const HISTOGRAM_CHUNK_BYTES_TARGET: usize = 1024;
pub const HISTOGRAM_SAMPLES_PER_CHUNK_MIN: u16 = 10;

/// The top two bits of a histogram chunk's third byte: why the chunk was started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CounterResetHeader {
    /// Not known (the first chunk of a series, or a layout change Prometheus does not judge).
    Unknown = 0b0000_0000,
    /// Started because the counters went down (or the producer said so).
    CounterReset = 0b1000_0000,
    /// Started for another reason (full chunk, new buckets): no reset before its first sample.
    NotCounterReset = 0b0100_0000,
    /// Holds gauge histograms only.
    Gauge = 0b1100_0000,
}

const HEADER_MASK: u8 = 0b1100_0000;

impl CounterResetHeader {
    pub fn from_byte(byte: u8) -> CounterResetHeader {
        match byte & HEADER_MASK {
            0b1000_0000 => CounterResetHeader::CounterReset,
            0b0100_0000 => CounterResetHeader::NotCounterReset,
            0b1100_0000 => CounterResetHeader::Gauge,
            _ => CounterResetHeader::Unknown,
        }
    }
}

/// The counter-reset header of an encoded histogram chunk (`Unknown` when too short).
pub fn histogram_chunk_header(bytes: &[u8]) -> CounterResetHeader {
    HeaderLayout::Plain.counter_reset_header(bytes)
}

/// Where a histogram chunk's three header bytes keep the sample count and the counter-reset
/// header: the float histogram chunk and its start-time variant share every other byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderLayout {
    /// A 16-bit count, then the counter-reset header's byte (encoding 3).
    Plain,
    /// The counter-reset header in the top two bits of a 14-bit count, then the start-time
    /// header byte (encoding 6).
    StartTimes,
}

/// Bits of the first two header bytes that hold the sample count in the start-time layout.
pub(crate) const START_TIMES_COUNT_MASK: u16 = 0x3FFF;

impl HeaderLayout {
    /// The sample count in `bytes`' header (0 when too short).
    pub(crate) fn num_samples(self, bytes: &[u8]) -> u16 {
        let Some(h) = bytes.get(..HISTOGRAM_HEADER_BYTES) else {
            return 0;
        };
        let word = u16::from_be_bytes([h[0], h[1]]);
        match self {
            HeaderLayout::Plain => word,
            HeaderLayout::StartTimes => word & START_TIMES_COUNT_MASK,
        }
    }

    /// The counter-reset header in `bytes`' header (`Unknown` when too short).
    pub(crate) fn counter_reset_header(self, bytes: &[u8]) -> CounterResetHeader {
        let at = match self {
            HeaderLayout::Plain => 2,
            HeaderLayout::StartTimes => 0,
        };
        match bytes.get(..HISTOGRAM_HEADER_BYTES) {
            Some(h) => CounterResetHeader::from_byte(h[at]),
            None => CounterResetHeader::Unknown,
        }
    }

    /// The header bytes of an empty chunk.
    fn empty_header(self, header: CounterResetHeader) -> Vec<u8> {
        match self {
            HeaderLayout::Plain => vec![0, 0, header as u8],
            HeaderLayout::StartTimes => vec![header as u8, 0, 0],
        }
    }

    /// Writes `count` into the header in `bytes`, keeping the counter-reset header.
    fn write_num_samples(self, bytes: &mut [u8], count: u16) {
        let word = match self {
            HeaderLayout::Plain => count,
            HeaderLayout::StartTimes => (u16::from(bytes[0] & HEADER_MASK) << 8) | (count & START_TIMES_COUNT_MASK),
        };
        bytes[..2].copy_from_slice(&word.to_be_bytes());
    }
}

/// What `FloatHistogramAppender::appendable` says about a histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appendable {
    Yes,
    /// Start a new chunk with this header.
    Cut(CounterResetHeader),
}

/// One XOR-encoded field: the previous value and its leading/trailing zero window.
#[derive(Clone, Copy, Debug, Default)]
struct XorField {
    value: f64,
    leading: u8,
    trailing: u8,
}

impl XorField {
    /// A field before its first XOR write (`leading == 0xff`: no window yet).
    fn first(value: f64) -> XorField {
        XorField { value, leading: 0xff, trailing: 0 }
    }

    /// Prometheus' `xorWrite` (`xor::write_xor_delta`).
    fn write(&mut self, w: &mut BitWriter, value: f64) {
        let delta = value.to_bits() ^ self.value.to_bits();
        self.value = value;
        super::xor::write_xor_delta(w, delta, &mut self.leading, &mut self.trailing);
    }

    /// Prometheus' `xorRead`.
    fn read(&mut self, r: &mut BitReader<'_>) -> Option<()> {
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            let leading = r.read_bits(5)? as u8;
            let significant = match r.read_bits(6)? as u8 {
                0 => 64,
                n => n,
            };
            if u16::from(leading) + u16::from(significant) > 64 {
                return None;
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
        }
        let significant = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let bits = r.read_bits(significant)?;
        self.value = f64::from_bits(self.value.to_bits() ^ (bits << self.trailing));
        Some(())
    }
}

/// Prometheus' `putZeroThreshold`: 0 as one zero byte; a power of two from 2^-243 to 2^10
/// as one byte (its `frexp` exponent + 243); anything else as 255 and the 8 bytes.
fn write_zero_threshold(w: &mut BitWriter, threshold: f64) {
    if threshold == 0.0 {
        w.write_byte(0);
        return;
    }
    let bits = threshold.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    // frexp gives 0.5 as the fraction exactly for positive normal powers of two.
    let power_of_two = threshold > 0.0 && biased != 0 && biased != 0x7ff && bits & ((1 << 52) - 1) == 0;
    let exponent = biased - 1022;
    if !power_of_two || !(-242..=11).contains(&exponent) {
        w.write_byte(255);
        w.write_bits(bits, 64);
        return;
    }
    w.write_byte((exponent + 243) as u8);
}

fn read_zero_threshold(r: &mut BitReader<'_>) -> Option<f64> {
    match r.read_byte()? {
        0 => Some(0.0),
        255 => Some(f64::from_bits(r.read_bits(64)?)),
        // 0.5 · 2^(b − 243) = 2^(b − 244), a normal float for every b in 1..=254.
        b => Some(f64::from_bits(((i64::from(b) - 244 + 1023) as u64) << 52)),
    }
}

/// Largest custom bound (times 1000) stored as a varbit integer (Prometheus' choice: what fits
/// in its 4-byte varbit bucket, minus the +1 offset).
const CUSTOM_BOUND_MILLIS_MAX: f64 = 33_554_430.0;

/// Prometheus' `putCustomBound`: multiples of 0.001 from 0 to 33554.43 as varbit
/// `millis + 1`; anything else as a 0 bit and the 64 float bits.
fn write_custom_bound(w: &mut BitWriter, bound: f64) {
    let millis = bound * 1000.0;
    let whole = ((bound * 1000.0).round() as u64) as f64 / 1000.0 == bound;
    if !(0.0..=CUSTOM_BOUND_MILLIS_MAX).contains(&millis) || !whole {
        w.write_bit(false);
        w.write_bits(bound.to_bits(), 64);
        return;
    }
    write_varbit_uint(w, millis.round() as u64 + 1);
}

fn read_custom_bound(r: &mut BitReader<'_>) -> Option<f64> {
    match read_varbit_uint(r)? {
        0 => Some(f64::from_bits(r.read_bits(64)?)),
        n => Some((n - 1) as f64 / 1000.0),
    }
}

fn write_spans(w: &mut BitWriter, spans: &[BucketSpan]) {
    write_varbit_uint(w, spans.len() as u64);
    for s in spans {
        write_varbit_uint(w, u64::from(s.length));
        write_varbit_int(w, i64::from(s.offset));
    }
}

/// Spans of a layout; `None` when malformed or when they name more buckets than
/// `buckets_max` (the bits left could hold: a corrupt count must not allocate gigabytes).
fn read_spans(r: &mut BitReader<'_>, buckets_max: u64) -> Option<(Vec<BucketSpan>, usize)> {
    let count = read_varbit_uint(r)?;
    if count > buckets_max.saturating_add(1).saturating_mul(4) {
        return None;
    }
    let mut spans = Vec::with_capacity(count as usize);
    let mut buckets = 0u64;
    for _ in 0..count {
        let length = u32::try_from(read_varbit_uint(r)?).ok()?;
        let offset = i32::try_from(read_varbit_int(r)?).ok()?;
        buckets += u64::from(length);
        if buckets > buckets_max {
            return None;
        }
        spans.push(BucketSpan { offset, length });
    }
    Some((spans, buckets as usize))
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
    pub(super) writer: BitWriter,
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

/// The sample count in an encoded histogram chunk's header (the same two bytes as XOR's).
pub fn histogram_num_samples(bytes: &[u8]) -> u16 {
    super::xor_num_samples(bytes)
}

/// Iterates a histogram chunk's samples. A truncated or corrupt chunk ends early; `error()`
/// tells. Hints are Prometheus' (`counterResetHint`): `Gauge` in a gauge chunk, else
/// `NotCounterReset` after a chunk's first sample and `Unknown` for the first (whether the
/// chunk before it still exists is not known here).
pub struct FloatHistogramIterator<'a> {
    pub(super) reader: BitReader<'a>,
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

/// One encoded histogram chunk with its inclusive time range and sample count.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedHistogramChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub num_samples: u16,
    pub bytes: Vec<u8>,
}

/// Encodes time-ordered histograms (unique timestamps, each valid) as chunks of at most
/// `samples_per_chunk` samples, cut where the layout changes or the counters reset, with
/// the headers Prometheus would give them.
pub fn encode_histogram_chunks(histograms: &[HistogramSample], samples_per_chunk: u16) -> Vec<EncodedHistogramChunk> {
    let mut out = Vec::new();
    let mut current: Option<(i64, FloatHistogramAppender)> = None;
    let finish = |out: &mut Vec<EncodedHistogramChunk>, min_t: i64, a: FloatHistogramAppender| {
        let max_t = a.last_timestamp().unwrap_or(min_t);
        out.push(EncodedHistogramChunk { min_time_ms: min_t, max_time_ms: max_t, num_samples: a.num_samples(), bytes: a.bytes().to_vec() });
    };
    for s in histograms {
        let h = &s.histogram;
        let next = match &current {
            None => Some(FloatHistogramAppender::after(None, h)),
            Some((_, a)) if a.is_full(samples_per_chunk) => Some(FloatHistogramAppender::after(Some(a), h)),
            Some((_, a)) => match a.appendable(h) {
                Appendable::Yes => None,
                Appendable::Cut(header) => Some(FloatHistogramAppender::new(header)),
            },
        };
        if let Some(fresh) = next {
            if let Some((min_t, done)) = current.replace((s.timestamp_ms, fresh)) {
                finish(&mut out, min_t, done);
            }
        }
        if let Some((_, a)) = current.as_mut() {
            a.append(s.timestamp_ms, h);
        }
    }
    if let Some((min_t, done)) = current {
        finish(&mut out, min_t, done);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
