//! WAL record payloads: series definitions (ref + labels), float samples (ref, t, v),
//! tombstones (ref, inclusive time range deleted from the head) and native histogram
//! samples (ref, t, float histogram) and exemplars (ref, t, value, exemplar labels).
//! `RecordEncoder` writes payloads snappy-compressed when that makes them smaller;
//! `Record::decode` reads both forms. Byte layout in `tsdb/docs/wal.md`.

use std::sync::Arc;

use crate::exemplar::Exemplar;
use crate::model::{BucketSpan, CounterResetHint, FloatHistogram, HistogramSample, Label, Labels, Sample};

pub const RECORD_SERIES: u8 = 1;
pub const RECORD_SAMPLES: u8 = 2;
pub const RECORD_TOMBSTONES: u8 = 3;
pub const RECORD_HISTOGRAMS: u8 = 4;
pub const RECORD_EXEMPLARS: u8 = 5;
pub const RECORD_STARTED_SAMPLES: u8 = 6;
pub const RECORD_STARTED_HISTOGRAMS: u8 = 7;
/// Set in a payload's type byte: the bytes after it are one snappy block (raw format) that
/// holds the record's encoding after its type byte.
pub const RECORD_SNAPPY: u8 = 0x80;

/// Payloads shorter than this are written as they are: a few series or samples gain little.
const COMPRESS_BYTES_MIN: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<(u32, Labels)>),
    Samples(Vec<(u32, Sample)>),
    /// `(series_ref, mint_ms, maxt_ms)`: the series' samples in `[mint_ms, maxt_ms]` written
    /// before this record are deleted (`mint_ms <= maxt_ms`).
    Tombstones(Vec<(u32, i64, i64)>),
    /// Native histogram samples, each valid (`FloatHistogram::validate`).
    Histograms(Vec<(u32, HistogramSample)>),
    /// Exemplars of series, each series' in time order.
    Exemplars(Vec<(u32, Exemplar)>),
    /// Float samples with their start times (`start_ms`, 0: none), written instead of
    /// `Samples` for a series whose batch entry carries starts (with `start_timestamp_storage`).
    StartedSamples(Vec<(u32, Sample, i64)>),
    /// Native histograms with their start times, as `StartedSamples` for `Histograms`.
    StartedHistograms(Vec<(u32, HistogramSample, i64)>),
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_bits().to_le_bytes());
}

fn put_spans(out: &mut Vec<u8>, spans: &[BucketSpan]) {
    put_uvarint(out, spans.len() as u64);
    for s in spans {
        put_varint(out, i64::from(s.offset));
        put_uvarint(out, u64::from(s.length));
    }
}

fn put_histogram(out: &mut Vec<u8>, h: &FloatHistogram) {
    out.push(h.counter_reset_hint as u8);
    put_varint(out, i64::from(h.schema));
    for v in [h.zero_threshold, h.zero_count, h.count, h.sum] {
        put_f64(out, v);
    }
    put_spans(out, &h.positive_spans);
    put_spans(out, &h.negative_spans);
    for v in h.positive_buckets.iter().chain(&h.negative_buckets) {
        put_f64(out, *v);
    }
    put_uvarint(out, h.custom_values.len() as u64);
    for v in &h.custom_values {
        put_f64(out, *v);
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn f64(&mut self) -> Option<f64> {
        Some(f64::from_bits(u64::from_le_bytes(self.take(8)?.try_into().ok()?)))
    }

    /// A count of 8-byte items, refused when the bytes left cannot hold that many (a corrupt
    /// count must not allocate).
    fn count_of_f64s(&mut self, count: u64) -> Option<usize> {
        let left = (self.bytes.len() - self.pos) as u64;
        (count <= left / 8).then_some(count as usize)
    }

    fn spans(&mut self) -> Option<(Vec<BucketSpan>, u64)> {
        let n = self.uvarint()?;
        // Each span takes at least two bytes.
        if n > (self.bytes.len() - self.pos) as u64 / 2 {
            return None;
        }
        let mut spans = Vec::with_capacity(n as usize);
        let mut buckets = 0u64;
        for _ in 0..n {
            let offset = i32::try_from(self.varint()?).ok()?;
            let length = u32::try_from(self.uvarint()?).ok()?;
            buckets += u64::from(length);
            spans.push(BucketSpan { offset, length });
        }
        Some((spans, buckets))
    }

    fn histogram(&mut self) -> Option<FloatHistogram> {
        let counter_reset_hint = CounterResetHint::from_u8(*self.take(1)?.first()?)?;
        let schema = i32::try_from(self.varint()?).ok()?;
        let (zero_threshold, zero_count, count, sum) = (self.f64()?, self.f64()?, self.f64()?, self.f64()?);
        let (positive_spans, positive) = self.spans()?;
        let (negative_spans, negative) = self.spans()?;
        let positive = self.count_of_f64s(positive)?;
        let positive_buckets = (0..positive).map(|_| self.f64()).collect::<Option<Vec<f64>>>()?;
        let negative = self.count_of_f64s(negative)?;
        let negative_buckets = (0..negative).map(|_| self.f64()).collect::<Option<Vec<f64>>>()?;
        let custom = self.uvarint()?;
        let custom = self.count_of_f64s(custom)?;
        let custom_values = (0..custom).map(|_| self.f64()).collect::<Option<Vec<f64>>>()?;
        let h = FloatHistogram { counter_reset_hint, schema, zero_threshold, zero_count, count, sum, positive_spans, negative_spans, positive_buckets, negative_buckets, custom_values };
        h.validate().is_ok().then_some(h)
    }

    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }

    /// A label set: a count, then name and value of each; sorted, unique names, no empty
    /// value (a `Labels`' invariant), or `None`.
    fn labels(&mut self) -> Option<Labels> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        let mut labels = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            labels.push(Label { name: self.string()?, value: self.string()? });
        }
        if !labels.windows(2).all(|w| w[0].name < w[1].name) || labels.iter().any(|l| l.value.is_empty()) {
            return None;
        }
        Some(Labels::from_sorted(labels))
    }
}

fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(out, labels.len() as u64);
    for l in labels.iter() {
        put_bytes(out, l.name.as_bytes());
        put_bytes(out, l.value.as_bytes());
    }
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Series(series) => {
                out.push(RECORD_SERIES);
                put_uvarint(out, series.len() as u64);
                for (r, labels) in series {
                    put_uvarint(out, u64::from(*r));
                    put_labels(out, labels);
                }
            }
            Record::Samples(samples) => {
                out.push(RECORD_SAMPLES);
                put_uvarint(out, samples.len() as u64);
                for (r, s) in samples {
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&s.timestamp_ms.to_le_bytes());
                    out.extend_from_slice(&s.value.to_bits().to_le_bytes());
                }
            }
            Record::Tombstones(stones) => {
                out.push(RECORD_TOMBSTONES);
                put_uvarint(out, stones.len() as u64);
                for (r, mint_ms, maxt_ms) in stones {
                    debug_assert!(mint_ms <= maxt_ms, "a tombstone interval is not empty");
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&mint_ms.to_le_bytes());
                    out.extend_from_slice(&maxt_ms.to_le_bytes());
                }
            }
            Record::Histograms(histograms) => {
                out.push(RECORD_HISTOGRAMS);
                put_uvarint(out, histograms.len() as u64);
                for (r, h) in histograms {
                    debug_assert!(h.histogram.validate().is_ok(), "WAL histograms validate");
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&h.timestamp_ms.to_le_bytes());
                    put_histogram(out, &h.histogram);
                }
            }
            Record::StartedSamples(samples) => {
                out.push(RECORD_STARTED_SAMPLES);
                put_uvarint(out, samples.len() as u64);
                for (r, s, start_ms) in samples {
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&s.timestamp_ms.to_le_bytes());
                    out.extend_from_slice(&s.value.to_bits().to_le_bytes());
                    out.extend_from_slice(&start_ms.to_le_bytes());
                }
            }
            Record::StartedHistograms(histograms) => {
                out.push(RECORD_STARTED_HISTOGRAMS);
                put_uvarint(out, histograms.len() as u64);
                for (r, h, start_ms) in histograms {
                    debug_assert!(h.histogram.validate().is_ok(), "WAL histograms validate");
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&h.timestamp_ms.to_le_bytes());
                    out.extend_from_slice(&start_ms.to_le_bytes());
                    put_histogram(out, &h.histogram);
                }
            }
            Record::Exemplars(exemplars) => {
                out.push(RECORD_EXEMPLARS);
                put_uvarint(out, exemplars.len() as u64);
                for (r, e) in exemplars {
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&e.timestamp_ms.to_le_bytes());
                    put_f64(out, e.value);
                    put_labels(out, &e.labels);
                }
            }
        }
    }

    /// Decodes a payload, compressed or not; `None` when it is malformed (a compressed one
    /// also when it would expand past `RECORD_BYTES_MAX`).
    pub fn decode(payload: &[u8]) -> Option<Record> {
        let (&kind, rest) = payload.split_first()?;
        if kind & RECORD_SNAPPY == 0 {
            return Record::decode_plain(payload);
        }
        let len = snap::raw::decompress_len(rest).ok()?;
        if len >= super::RECORD_BYTES_MAX {
            return None;
        }
        let mut plain = vec![0; len + 1];
        plain[0] = kind & !RECORD_SNAPPY;
        let written = snap::raw::Decoder::new().decompress(rest, &mut plain[1..]).ok()?;
        (written == len).then_some(())?;
        Record::decode_plain(&plain)
    }

    fn decode_plain(payload: &[u8]) -> Option<Record> {
        let (&kind, rest) = payload.split_first()?;
        let mut c = Cursor {
            bytes: rest,
            pos: 0,
        };
        let count = usize::try_from(c.uvarint()?).ok()?;
        let record = match kind {
            RECORD_SERIES => {
                let mut series = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    series.push((r, c.labels()?));
                }
                Record::Series(series)
            }
            RECORD_SAMPLES => {
                let mut samples = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let t = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let v = f64::from_bits(u64::from_le_bytes(c.take(8)?.try_into().ok()?));
                    samples.push((
                        r,
                        Sample {
                            timestamp_ms: t,
                            value: v,
                        },
                    ));
                }
                Record::Samples(samples)
            }
            RECORD_TOMBSTONES => {
                let mut stones = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let mint = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let maxt = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    if mint > maxt {
                        return None;
                    }
                    stones.push((r, mint, maxt));
                }
                Record::Tombstones(stones)
            }
            RECORD_HISTOGRAMS => {
                let mut histograms = Vec::with_capacity(count.min(1 << 12));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let timestamp_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let histogram = Arc::new(c.histogram()?);
                    histograms.push((r, HistogramSample { timestamp_ms, histogram }));
                }
                Record::Histograms(histograms)
            }
            RECORD_STARTED_SAMPLES => {
                let mut samples = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let timestamp_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let value = f64::from_bits(u64::from_le_bytes(c.take(8)?.try_into().ok()?));
                    let start_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    samples.push((r, Sample { timestamp_ms, value }, start_ms));
                }
                Record::StartedSamples(samples)
            }
            RECORD_STARTED_HISTOGRAMS => {
                let mut histograms = Vec::with_capacity(count.min(1 << 12));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let timestamp_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let start_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let histogram = Arc::new(c.histogram()?);
                    histograms.push((r, HistogramSample { timestamp_ms, histogram }, start_ms));
                }
                Record::StartedHistograms(histograms)
            }
            RECORD_EXEMPLARS => {
                let mut exemplars = Vec::with_capacity(count.min(1 << 12));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let timestamp_ms = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let value = c.f64()?;
                    let labels = c.labels()?;
                    exemplars.push((r, Exemplar { labels, value, timestamp_ms, own_timestamp: true }));
                }
                Record::Exemplars(exemplars)
            }
            _ => return None,
        };
        (c.pos == rest.len()).then_some(record)
    }
}

/// Encodes records into WAL payloads, snappy-compressed when enabled and smaller (the
/// label text of series records and the repeated timestamps of sample records shrink
/// several-fold); its buffers and the compressor's table are reused from record to record.
pub struct RecordEncoder {
    compress: bool,
    plain: Vec<u8>,
    packed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl RecordEncoder {
    pub fn new(compress: bool) -> RecordEncoder {
        RecordEncoder { compress, plain: Vec::new(), packed: Vec::new(), snappy: snap::raw::Encoder::new() }
    }

    /// The payload of `record`, and the length of its uncompressed encoding (the one
    /// `RECORD_BYTES_MAX` limits, so that every payload written can be read back).
    pub fn encode(&mut self, record: &Record) -> (&[u8], usize) {
        self.plain.clear();
        record.encode(&mut self.plain);
        let plain_len = self.plain.len();
        if !self.compress || !(COMPRESS_BYTES_MIN..=super::RECORD_BYTES_MAX).contains(&plain_len) {
            return (&self.plain, plain_len);
        }
        let body = &self.plain[1..];
        self.packed.clear();
        self.packed.resize(1 + snap::raw::max_compress_len(body.len()), 0);
        match self.snappy.compress(body, &mut self.packed[1..]) {
            Ok(written) if 1 + written < plain_len => {
                self.packed[0] = self.plain[0] | RECORD_SNAPPY;
                self.packed.truncate(1 + written);
                (&self.packed, plain_len)
            }
            _ => (&self.plain, plain_len),
        }
    }

    /// Drops buffers grown past `bytes_max` (one huge commit must not pin its size).
    pub fn shed_buffers_over(&mut self, bytes_max: usize) {
        for buffer in [&mut self.plain, &mut self.packed] {
            if buffer.capacity() > bytes_max {
                *buffer = Vec::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(refs in proptest::collection::vec(any::<u32>(), 0..20), ts in any::<i64>(), bits in any::<u64>(),
                      names in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,8}", 0..5)) {
            let labels = Labels::from_pairs(names.clone());
            let series = Record::Series(refs.iter().map(|r| (*r, labels.clone())).collect());
            let samples = Record::Samples(refs.iter().map(|r| (*r, Sample { timestamp_ms: ts, value: f64::from_bits(bits) })).collect());
            let stones = Record::Tombstones(refs.iter().map(|r| (*r, ts.min(0), ts.max(0))).collect());
            let histogram = FloatHistogram {
                counter_reset_hint: CounterResetHint::from_u8((bits % 4) as u8).unwrap_or_default(),
                schema: (ts % 5) as i32,
                zero_threshold: 1e-9,
                zero_count: 1.0,
                count: f64::from_bits(bits),
                sum: -3.5,
                positive_spans: vec![BucketSpan { offset: -3, length: 2 }, BucketSpan { offset: 4, length: 1 }],
                negative_spans: vec![BucketSpan { offset: 1, length: 1 }],
                positive_buckets: vec![1.0, 2.0, f64::from_bits(bits)],
                negative_buckets: vec![4.0],
                custom_values: Vec::new(),
            };
            let custom = FloatHistogram { schema: -53, zero_threshold: 0.0, zero_count: 0.0, positive_spans: vec![BucketSpan { offset: 0, length: 2 }, BucketSpan { offset: 0, length: 1 }], negative_spans: Vec::new(), negative_buckets: Vec::new(), custom_values: vec![0.5, 1.0, 7.0], ..histogram.clone() };
            let histograms = Record::Histograms(refs.iter().enumerate().map(|(i, r)| (*r, HistogramSample { timestamp_ms: ts, histogram: Arc::new(if i % 2 == 0 { histogram.clone() } else { custom.clone() }) })).collect());
            let exemplars = Record::Exemplars(refs.iter().map(|r| (*r, Exemplar { labels: labels.clone(), value: f64::from_bits(bits), timestamp_ms: ts, own_timestamp: true })).collect());
            let started_samples = Record::StartedSamples(refs.iter().map(|r| (*r, Sample { timestamp_ms: ts, value: f64::from_bits(bits) }, ts / 3)).collect());
            let started_histograms = Record::StartedHistograms(refs.iter().map(|r| (*r, HistogramSample { timestamp_ms: ts, histogram: Arc::new(custom.clone()) }, ts / 7)).collect());
            for record in [series, samples, stones, histograms, exemplars, started_samples, started_histograms] {
                let mut out = Vec::new();
                record.encode(&mut out);
                let decoded = Record::decode(&out);
                // A histogram holding NaN (its count, a bucket) never equals itself: compare
                // such records by their bytes, encoded again.
                let holds_nan = matches!(&record, Record::Histograms(_) | Record::StartedHistograms(_) | Record::StartedSamples(_)) && f64::from_bits(bits).is_nan();
                if holds_nan {
                    let mut again = Vec::new();
                    decoded.as_ref().expect("decodes").encode(&mut again);
                    prop_assert_eq!(again, out.clone());
                } else {
                    prop_assert_eq!(decoded, Some(record.clone()));
                }
                prop_assert!(Record::decode(&out[..out.len() - 1]).is_none(), "a truncated record never decodes");
                let mut encoder = RecordEncoder::new(true);
                let (payload, plain_len) = encoder.encode(&record);
                prop_assert_eq!(plain_len, out.len());
                if payload[0] & RECORD_SNAPPY != 0 {
                    prop_assert!(payload.len() < out.len());
                    let mut again = Vec::new();
                    Record::decode(payload).expect("a compressed record decodes").encode(&mut again);
                    prop_assert_eq!(again, out.clone());
                    prop_assert!(Record::decode(&payload[..payload.len() - 1]).is_none(), "a truncated compressed record never decodes");
                } else {
                    prop_assert_eq!(payload, &out[..]);
                }
            }
        }
    }

    #[test]
    fn repetitive_records_are_written_compressed_and_read_back() {
        let labels = |i: u32| Labels::from_pairs([("__name__", "http_requests_total".to_string()), ("instance", format!("10.0.0.{}:9100", i % 200)), ("job", "node".to_string())]);
        let series = Record::Series((0..100).map(|i| (i, labels(i))).collect());
        let samples = Record::Samples((0..100).map(|i| (i, Sample { timestamp_ms: 1_700_000_000_000, value: f64::from(i) })).collect());
        for record in [series, samples] {
            let mut plain = Vec::new();
            record.encode(&mut plain);
            let mut encoder = RecordEncoder::new(true);
            let (payload, plain_len) = encoder.encode(&record);
            assert_eq!(plain_len, plain.len());
            assert_eq!(payload[0], plain[0] | RECORD_SNAPPY);
            assert!(payload.len() * 2 < plain.len(), "{} of {} bytes", payload.len(), plain.len());
            assert_eq!(Record::decode(payload), Some(record.clone()));
            let mut off = RecordEncoder::new(false);
            assert_eq!(off.encode(&record).0, &plain[..], "compression off: the plain encoding");
        }
        // A short record stays plain; a compressed payload whose snappy block is damaged or
        // claims a size past the limit does not decode.
        let short = Record::Samples(vec![(1, Sample { timestamp_ms: 5, value: 1.0 })]);
        let mut encoder = RecordEncoder::new(true);
        assert_eq!(encoder.encode(&short).0[0], RECORD_SAMPLES);
        let damaged = [RECORD_SAMPLES | RECORD_SNAPPY, 0x0a, 0xff, 0xff];
        assert!(Record::decode(&damaged).is_none());
        let mut huge = vec![RECORD_SERIES | RECORD_SNAPPY];
        put_uvarint(&mut huge, super::super::RECORD_BYTES_MAX as u64);
        assert!(Record::decode(&huge).is_none());
    }

    #[test]
    fn an_invalid_histogram_or_a_huge_bucket_count_does_not_decode() {
        let h = FloatHistogram { count: 1.0, positive_spans: vec![BucketSpan { offset: 0, length: 1 }], positive_buckets: vec![1.0], ..FloatHistogram::default() };
        let mut out = Vec::new();
        Record::Histograms(vec![(7, HistogramSample { timestamp_ms: 5, histogram: Arc::new(h.clone()) })]).encode(&mut out);
        assert!(Record::decode(&out).is_some());
        // Claim 2^40 buckets in the first span: refused without allocating them.
        let mut huge = Vec::new();
        huge.extend_from_slice(&out[..1 + 1 + 1 + 8 + 1 + 1 + 32]);
        put_uvarint(&mut huge, 1);
        put_varint(&mut huge, 0);
        put_uvarint(&mut huge, 1 << 40);
        huge.push(0);
        huge.extend_from_slice(&out[out.len() - 9..]);
        assert!(Record::decode(&huge).is_none());
        // Schema 9 (zig-zag 18, in the byte after type, count, ref, timestamp and hint)
        // breaks `validate`.
        let mut bad = out.clone();
        assert_eq!(bad[12], 0, "schema 0");
        bad[12] = 18;
        assert!(Record::decode(&bad).is_none());
    }
}
