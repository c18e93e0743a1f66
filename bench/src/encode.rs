//! Pre-encoding of remote_write bodies (protobuf + snappy block format), 1.0 or 2.0, so the
//! generator does no encoding work while the clock runs.

use std::collections::HashMap;

use prost::Message;
use proto::remote_write_v1::Histogram;
use proto::remote_write_v2 as v2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// One series' labels in both shapes the encoders need.
pub struct SeriesLabels<'a> {
    pub pairs: &'a [(String, String)],
    /// `v1_labels(pairs)`.
    pub v1: &'a [u8],
}

/// One sample of a series: a float or an integer native histogram (1.0 field 4, 2.0 field 3).
#[derive(Clone, Copy)]
pub enum Value<'a> {
    Float(f64),
    /// Carries its own timestamp, which must equal the batch entry's.
    Histogram(&'a Histogram),
}

/// One request's worth: series labels with one (timestamp, value) each.
pub struct Batch<'a> {
    pub series: Vec<(SeriesLabels<'a>, i64, Value<'a>)>,
    /// Each entry's start time in ms (`start_timestamp`, the counter's creation; 0 = none),
    /// parallel to `series`; empty = no starts. Written by 2.0 only: 1.0 has no place for it.
    pub starts: Vec<i64>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The `labels` fields (field 1) of a 1.0 `TimeSeries`, encoded once per series; 1.0 bodies
/// are assembled from these, which keeps pre-encoding of long runs fast.
pub fn v1_labels(pairs: &[(String, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut label = Vec::new();
    for (name, value) in pairs {
        label.clear();
        put_bytes_field(&mut label, 0x0a, name.as_bytes());
        put_bytes_field(&mut label, 0x12, value.as_bytes());
        put_bytes_field(&mut out, 0x0a, &label);
    }
    out
}

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn encode_v1(batch: &Batch<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(batch.series.iter().map(|(l, _, _)| l.v1.len() + 24).sum());
    let mut sample = Vec::with_capacity(20);
    for (labels, t, value) in &batch.series {
        let v = match value {
            Value::Float(v) => v,
            Value::Histogram(h) => {
                debug_assert_eq!(h.timestamp, *t, "a histogram carries the batch entry's timestamp");
                sample.clear();
                h.encode(&mut sample).expect("a Vec grows to fit");
                let series_len = labels.v1.len() + 1 + varint_len(sample.len() as u64) + sample.len();
                out.push(0x0a); // WriteRequest.timeseries
                put_varint(&mut out, series_len as u64);
                out.extend_from_slice(labels.v1);
                put_bytes_field(&mut out, 0x22, &sample); // TimeSeries.histograms
                continue;
            }
        };
        sample.clear();
        sample.push(0x09); // Sample.value, fixed64
        sample.extend_from_slice(&v.to_le_bytes());
        sample.push(0x10); // Sample.timestamp, varint
        put_varint(&mut sample, *t as u64);
        let series_len = labels.v1.len() + 1 + 1 + sample.len();
        out.push(0x0a); // WriteRequest.timeseries
        put_varint(&mut out, series_len as u64);
        out.extend_from_slice(labels.v1);
        put_bytes_field(&mut out, 0x12, &sample); // TimeSeries.samples
    }
    out
}

fn encode_v2(batch: &Batch<'_>) -> Vec<u8> {
    let mut symbols: Vec<String> = vec![String::new()];
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut timeseries = Vec::with_capacity(batch.series.len());
    for (k, (labels, t, value)) in batch.series.iter().enumerate() {
        let start_timestamp = batch.starts.get(k).copied().unwrap_or(0);
        let mut refs = Vec::with_capacity(labels.pairs.len() * 2);
        for (n, val) in labels.pairs {
            for s in [n.as_str(), val.as_str()] {
                let id = *index.entry(s).or_insert_with(|| {
                    symbols.push(s.to_string());
                    (symbols.len() - 1) as u32
                });
                refs.push(id);
            }
        }
        timeseries.push(match value {
            Value::Float(v) => v2::TimeSeries { labels_refs: refs, samples: vec![v2::Sample { value: *v, timestamp: *t, start_timestamp }], ..Default::default() },
            Value::Histogram(h) => {
                let histogram = Histogram { start_timestamp, ..(*h).clone() };
                v2::TimeSeries { labels_refs: refs, histograms: vec![histogram], ..Default::default() }
            }
        });
    }
    v2::Request { symbols, timeseries }.encode_to_vec()
}

pub fn encode(batch: &Batch<'_>, protocol: Protocol) -> Vec<u8> {
    let raw = match protocol {
        Protocol::V1 => encode_v1(batch),
        Protocol::V2 => encode_v2(batch),
    };
    let mut body = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
    // compress_vec allocates the worst case (more than the input); long runs hold millions of
    // bodies, so keep only what is used.
    body.shrink_to_fit();
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::remote_write_v1 as v1;

    #[test]
    fn both_protocols_decode_back() {
        let labels = vec![("__name__".to_string(), "up".to_string()), ("job".to_string(), "a".to_string())];
        let cached = v1_labels(&labels);
        let l = || SeriesLabels { pairs: &labels, v1: &cached };
        let batch = Batch { series: vec![(l(), 5, Value::Float(1.5)), (l(), 1_700_000_000_000, Value::Float(0.0)), (l(), -3, Value::Float(f64::NAN))], starts: Vec::new() };
        let raw = snap::raw::Decoder::new().decompress_vec(&encode(&batch, Protocol::V1)).unwrap();
        let r = v1::WriteRequest::decode(raw.as_slice()).unwrap();
        assert_eq!(r.timeseries.len(), 3);
        assert_eq!(r.timeseries[0].labels[1].value, "a");
        assert_eq!(r.timeseries[0].samples[0].value, 1.5);
        assert_eq!(r.timeseries[1].samples[0].timestamp, 1_700_000_000_000);
        assert_eq!(r.timeseries[2].samples[0].timestamp, -3);
        assert!(r.timeseries[2].samples[0].value.is_nan());
        let raw = snap::raw::Decoder::new().decompress_vec(&encode(&batch, Protocol::V2)).unwrap();
        let r = v2::Request::decode(raw.as_slice()).unwrap();
        assert_eq!(r.symbols, vec!["", "__name__", "up", "job", "a"]);
        assert_eq!(r.timeseries[0].labels_refs, vec![1, 2, 3, 4]);
        assert_eq!(r.timeseries[0].samples[0].value, 1.5);
    }

    #[test]
    fn v1_fast_path_equals_prost() {
        let labels = vec![("__name__".to_string(), "x".repeat(200)), ("le".to_string(), "+Inf".to_string())];
        let cached = v1_labels(&labels);
        let batch = Batch { series: vec![(SeriesLabels { pairs: &labels, v1: &cached }, 42, Value::Float(7.25))], starts: Vec::new() };
        let want = v1::WriteRequest {
            timeseries: vec![v1::TimeSeries {
                labels: labels.iter().map(|(n, v)| v1::Label { name: n.clone(), value: v.clone() }).collect(),
                samples: vec![v1::Sample { value: 7.25, timestamp: 42 }],
                ..Default::default()
            }],
            metadata: Vec::new(),
        };
        assert_eq!(encode_v1(&batch), want.encode_to_vec());
    }

    #[test]
    fn native_histograms_in_both_protocols() {
        let mut counts = crate::native_histogram::Counts::new(3);
        // Enough buckets that the histogram message is longer than 127 bytes (a 2-byte length).
        for i in 0..200 {
            counts.observe(1e-3 * 1.05f64.powi(i), 1 + i as u64 % 3);
        }
        let mut h = counts.snapshot();
        h.timestamp = 1_700_000_000_000;
        assert!(h.encoded_len() > 127);
        let float_labels = vec![("__name__".to_string(), "up".to_string())];
        let histogram_labels = vec![("__name__".to_string(), "latency_seconds".to_string())];
        let (float_cached, histogram_cached) = (v1_labels(&float_labels), v1_labels(&histogram_labels));
        let batch = Batch {
            series: vec![
                (SeriesLabels { pairs: &float_labels, v1: &float_cached }, h.timestamp, Value::Float(1.0)),
                (SeriesLabels { pairs: &histogram_labels, v1: &histogram_cached }, h.timestamp, Value::Histogram(&h)),
            ],
            starts: Vec::new(),
        };
        let want = v1::WriteRequest {
            timeseries: vec![
                v1::TimeSeries {
                    labels: vec![v1::Label { name: "__name__".into(), value: "up".into() }],
                    samples: vec![v1::Sample { value: 1.0, timestamp: h.timestamp }],
                    ..Default::default()
                },
                v1::TimeSeries {
                    labels: vec![v1::Label { name: "__name__".into(), value: "latency_seconds".into() }],
                    histograms: vec![h.clone()],
                    ..Default::default()
                },
            ],
            metadata: Vec::new(),
        };
        assert_eq!(encode_v1(&batch), want.encode_to_vec(), "the v1 fast path equals prost");
        let raw = snap::raw::Decoder::new().decompress_vec(&encode(&batch, Protocol::V2)).unwrap();
        let r = v2::Request::decode(raw.as_slice()).unwrap();
        assert_eq!(r.timeseries[1].histograms, vec![h]);
        assert!(r.timeseries[1].samples.is_empty());
        for v in [0, 1, 127, 128, 16_383, 16_384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(varint_len(v), out.len(), "{v}");
        }
    }

    #[test]
    fn start_times_go_into_2_0_samples_and_histograms() {
        let mut counts = crate::native_histogram::Counts::new(0);
        counts.observe(0.5, 2);
        let mut h = counts.snapshot();
        h.timestamp = 60_000;
        let labels = vec![("__name__".to_string(), "requests_total".to_string())];
        let cached = v1_labels(&labels);
        let l = || SeriesLabels { pairs: &labels, v1: &cached };
        let batch = Batch { series: vec![(l(), 60_000, Value::Float(3.0)), (l(), 60_000, Value::Histogram(&h)), (l(), 60_000, Value::Float(1.0))], starts: vec![15_000, 30_000, 0] };
        let raw = snap::raw::Decoder::new().decompress_vec(&encode(&batch, Protocol::V2)).unwrap();
        let r = v2::Request::decode(raw.as_slice()).unwrap();
        assert_eq!(r.timeseries[0].samples[0].start_timestamp, 15_000);
        assert_eq!(r.timeseries[1].histograms[0].start_timestamp, 30_000);
        assert_eq!(r.timeseries[1].histograms[0].count, h.count, "the rest of the histogram is kept");
        assert_eq!(r.timeseries[2].samples[0].start_timestamp, 0);
        // 1.0 has no field for them: the body is the same as without.
        let without = Batch { series: batch.series.iter().map(|(l, t, v)| (SeriesLabels { pairs: l.pairs, v1: l.v1 }, *t, *v)).collect(), starts: Vec::new() };
        assert_eq!(encode(&batch, Protocol::V1), encode(&without, Protocol::V1));
    }
}
