//! The writing side of VictoriaMetrics' native format, for `/api/v1/export/native`: the
//! stream header, then per series its metric name and blocks of at most 8,192 rows, values
//! as VictoriaMetrics' decimal mantissas (`decimal::append_mantissas`), both arrays in the
//! uncompressed encoding VictoriaMetrics picks for them (never zstd), in either header layout.

use tsdb::{Labels, Sample, METRIC_NAME_LABEL, STALE_NAN_BITS};

use super::block::BlockLayout;
use super::decimal;

/// Rows per block written, as VictoriaMetrics stores and exports them (it reads up to twice
/// as many).
pub const ROWS_PER_EXPORTED_BLOCK_MAX: usize = 8 * 1024;
/// VictoriaMetrics' numbers for the encodings written.
const ENCODING_DELTA_CONST: u8 = 2;
const ENCODING_CONST: u8 = 3;
const ENCODING_NEAREST_DELTA2: u8 = 5;
const ENCODING_NEAREST_DELTA: u8 = 6;
/// Every exported block is lossless.
const PRECISION_BITS_LOSSLESS: u8 = 64;

/// Appends the 16-byte stream header: the export's first and last millisecond, each zigzag
/// encoded and big-endian.
pub fn write_stream_header(out: &mut Vec<u8>, start_ms: i64, end_ms: i64) {
    for ms in [start_ms, end_ms] {
        out.extend_from_slice(&zigzag(ms).to_be_bytes());
    }
}

/// Appends `samples` (in time order) of the series `labels` as frames of at most
/// `ROWS_PER_EXPORTED_BLOCK_MAX` rows, and returns how many samples were left out: NaNs
/// other than the staleness marker, which the format cannot hold (VictoriaMetrics drops
/// them on ingestion).
pub fn write_series(out: &mut Vec<u8>, labels: &Labels, samples: &[Sample], layout: BlockLayout) -> usize {
    let name = marshal_metric_name(labels);
    let kept: Vec<Sample> = samples.iter().filter(|s| !s.value.is_nan() || s.value.to_bits() == STALE_NAN_BITS).copied().collect();
    let mut timestamps_ms = Vec::with_capacity(kept.len().min(ROWS_PER_EXPORTED_BLOCK_MAX));
    let mut values = Vec::with_capacity(timestamps_ms.capacity());
    let mut block = Vec::new();
    for rows in kept.chunks(ROWS_PER_EXPORTED_BLOCK_MAX) {
        timestamps_ms.clear();
        values.clear();
        timestamps_ms.extend(rows.iter().map(|s| s.timestamp_ms));
        values.extend(rows.iter().map(|s| s.value));
        block.clear();
        write_block(&mut block, &timestamps_ms, &values, layout);
        for frame in [&name, &block] {
            // Both are far below 4 GiB: a name within the label limits, a block of 8,192 rows.
            out.extend_from_slice(&(frame.len() as u32).to_be_bytes());
            out.extend_from_slice(frame);
        }
    }
    samples.len() - kept.len()
}

/// The metric name, then each other label's name and value; every field ended by byte 1,
/// bytes 0, 1 and 2 inside a field escaped as byte 0 and the digit.
fn marshal_metric_name(labels: &Labels) -> Vec<u8> {
    let mut out = Vec::new();
    push_field(&mut out, labels.get(METRIC_NAME_LABEL).unwrap_or("").as_bytes());
    for label in labels.iter().filter(|l| l.name != METRIC_NAME_LABEL) {
        push_field(&mut out, label.name.as_bytes());
        push_field(&mut out, label.value.as_bytes());
    }
    out
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    for &byte in field {
        match byte {
            0..=2 => out.extend_from_slice(&[0, b'0' + byte]),
            other => out.push(other),
        }
    }
    out.push(1);
}

/// One portable block of `timestamps_ms` (sorted, 1 to `ROWS_PER_EXPORTED_BLOCK_MAX`) and
/// `values` (as many, no NaN but the staleness marker).
fn write_block(out: &mut Vec<u8>, timestamps_ms: &[i64], values: &[f64], layout: BlockLayout) {
    debug_assert!(!timestamps_ms.is_empty() && timestamps_ms.len() == values.len() && timestamps_ms.len() <= ROWS_PER_EXPORTED_BLOCK_MAX);
    debug_assert!(timestamps_ms.windows(2).all(|pair| pair[0] <= pair[1]), "a block's timestamps are in order");
    let mut mantissas = Vec::with_capacity(values.len());
    let scale = decimal::append_mantissas(&mut mantissas, values);
    let (timestamps_encoding, timestamps_data) = encode_int64s(timestamps_ms);
    let (values_encoding, values_data) = encode_int64s(&mantissas);
    varint(out, timestamps_ms[0]);
    if layout == BlockLayout::Since1_82 {
        varint(out, timestamps_ms[timestamps_ms.len() - 1]);
    }
    varint(out, mantissas[0]);
    uvarint(out, timestamps_ms.len() as u64);
    varint(out, i64::from(scale));
    out.push(timestamps_encoding);
    out.push(values_encoding);
    if layout == BlockLayout::Since1_82 {
        out.push(PRECISION_BITS_LOSSLESS);
    }
    for data in [&timestamps_data, &values_data] {
        uvarint(out, data.len() as u64);
        out.extend_from_slice(data);
    }
}

/// `values` (at least one) as VictoriaMetrics encodes an int64 array, without zstd: a
/// constant, a constant delta, first-order deltas for a gauge, second-order deltas for a
/// counter. Returns the encoding's number and the data after the first value.
fn encode_int64s(values: &[i64]) -> (u8, Vec<u8>) {
    let mut data = Vec::new();
    if values.iter().all(|v| *v == values[0]) {
        return (ENCODING_CONST, data);
    }
    let delta = values[1].wrapping_sub(values[0]);
    if values.windows(2).all(|pair| pair[1].wrapping_sub(pair[0]) == delta) {
        varint(&mut data, delta);
        return (ENCODING_DELTA_CONST, data);
    }
    if is_gauge(values) {
        for pair in values.windows(2) {
            varint(&mut data, pair[1].wrapping_sub(pair[0]));
        }
        return (ENCODING_NEAREST_DELTA, data);
    }
    varint(&mut data, delta);
    for triple in values.windows(3) {
        varint(&mut data, triple[2].wrapping_sub(triple[1]).wrapping_sub(triple[1].wrapping_sub(triple[0])));
    }
    (ENCODING_NEAREST_DELTA2, data)
}

/// VictoriaMetrics' guess: a gauge goes negative, falls to more than an eighth of the value
/// before, or resets more than twice and in more than an eighth of its rows; anything else
/// is a counter.
fn is_gauge(values: &[i64]) -> bool {
    if values.len() < 2 {
        return false;
    }
    if values[0] < 0 {
        return true;
    }
    let mut resets = 0usize;
    for pair in values.windows(2) {
        let (previous, value) = (pair[0], pair[1]);
        if value < previous {
            if value < 0 || value > previous >> 3 {
                return true;
            }
            resets += 1;
        }
    }
    resets > 2 && resets > values.len() >> 3
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Go's `PutUvarint`, as VictoriaMetrics' `MarshalVarUint64` writes it.
pub(crate) fn uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A zigzag varint, as VictoriaMetrics' `MarshalVarInt64` writes it.
pub(crate) fn varint(out: &mut Vec<u8>, value: i64) {
    uvarint(out, zigzag(value));
}

#[cfg(test)]
mod tests {
    use tsdb::SeriesSamples;

    use super::super::{NativeBatch, NativeStream};
    use super::*;
    use crate::ingest::label_limits::LabelLimits;

    const T0: i64 = 1_700_000_000_000;

    fn series(labels: &[(&str, &str)], samples: impl IntoIterator<Item = (i64, f64)>) -> SeriesSamples {
        SeriesSamples {
            labels: Labels::from_pairs(labels.iter().copied()),
            samples: samples.into_iter().map(|(timestamp_ms, value)| Sample { timestamp_ms, value }).collect(),
            histograms: Vec::new(),
            starts: None,
        }
    }

    /// The stream of `all` in `layout`, then what our decoder reads back from it.
    fn round_trip(all: &[SeriesSamples], layout: BlockLayout) -> (Vec<SeriesSamples>, u64) {
        let mut body = Vec::new();
        write_stream_header(&mut body, i64::MIN / 2, i64::MAX / 2);
        for s in all {
            assert_eq!(write_series(&mut body, &s.labels, &s.samples, layout), 0, "{}", s.labels);
        }
        let mut stream = NativeStream::new(LabelLimits::default());
        let mut batch = NativeBatch::default();
        stream.push(&body);
        while stream.next_block(&mut batch).unwrap_or_else(|e| panic!("{e}")) {}
        stream.finish().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stream.layout(), Some(layout));
        (batch.take().to_series(), stream.blocks())
    }

    /// The samples' bits, for comparisons that see NaN payloads and signed zeros.
    fn bits(s: &SeriesSamples) -> Vec<(i64, u64)> {
        s.samples.iter().map(|x| (x.timestamp_ms, x.value.to_bits())).collect()
    }

    #[test]
    fn series_decode_to_the_same_samples_in_both_layouts() {
        let stale = f64::from_bits(STALE_NAN_BITS);
        let all = vec![
            series(&[("__name__", "requests_total"), ("job", "api")], (0..100).map(|k| (T0 + k * 15_000, (k * k * 3) as f64))),
            series(&[("__name__", "temperature"), ("room", "a\u{1}b\u{0}c\u{2}")], (0..50).map(|k| (T0 + k * 10_000 + k % 7, 20.5 - k as f64 * 0.25))),
            series(&[("__name__", "balance")], [(T0, -3.75), (T0 + 1, -1e-5), (T0 + 2, 12.25), (T0 + 3, -1000.0)]),
            series(&[("__name__", "big")], [(T0, 9_007_199_254_740_992.0), (T0 + 1, 123_456_789_012_345.0)]),
            series(&[("__name__", "huge")], [(T0, 1e21), (T0 + 2, -4.5e18)]),
            series(&[("__name__", "edges")], [(T0, f64::INFINITY), (T0 + 5, f64::NEG_INFINITY), (T0 + 9, stale), (T0 + 12, 1.5)]),
            series(&[("__name__", "constant")], (0..10).map(|k| (T0 + k * 1000, 7.0))),
            series(&[("__name__", "one")], [(-5_000, 0.1)]),
        ];
        for layout in [BlockLayout::Before1_82, BlockLayout::Since1_82] {
            let (decoded, blocks) = round_trip(&all, layout);
            assert_eq!(blocks, 8);
            assert_eq!(decoded.len(), 8);
            for (want, got) in all.iter().zip(&decoded) {
                assert_eq!(got.labels, want.labels);
                assert_eq!(bits(got), bits(want), "{}", want.labels);
            }
        }
    }

    #[test]
    fn long_series_are_split_into_blocks_of_8192_rows_and_many_series_stream() {
        let long = series(&[("__name__", "long")], (0..20_000).map(|k| (T0 + k * 1000, (k % 97) as f64 + 0.5)));
        let mut all = vec![long];
        all.extend((0..300).map(|k| series(&[("__name__", "many"), ("shard", &k.to_string())], [(T0, k as f64), (T0 + 60_000, k as f64 * 2.0)])));
        let (decoded, blocks) = round_trip(&all, BlockLayout::Before1_82);
        assert_eq!(blocks, 3 + 300, "20,000 rows take three blocks");
        let mut merged: std::collections::BTreeMap<Labels, Vec<(i64, u64)>> = std::collections::BTreeMap::new();
        for s in &decoded {
            merged.entry(s.labels.clone()).or_default().extend(bits(s));
        }
        assert_eq!(merged.len(), 301);
        for want in &all {
            assert_eq!(merged.get(&want.labels), Some(&bits(want)), "{}", want.labels);
        }
    }

    #[test]
    fn nans_other_than_the_staleness_marker_are_left_out() {
        let mut body = Vec::new();
        let s = series(&[("__name__", "x")], [(T0, f64::NAN), (T0 + 1, 2.0), (T0 + 2, f64::from_bits(STALE_NAN_BITS))]);
        assert_eq!(write_series(&mut body, &s.labels, &s.samples, BlockLayout::Before1_82), 1);
        let only_nans = series(&[("__name__", "y")], [(T0, f64::NAN)]);
        let before = body.len();
        assert_eq!(write_series(&mut body, &only_nans.labels, &only_nans.samples, BlockLayout::Before1_82), 1);
        assert_eq!(body.len(), before, "a series of only NaNs writes nothing");
    }

    #[test]
    fn arrays_take_the_encoding_victoriametrics_picks() {
        let cases: &[(&[i64], u8)] = &[
            (&[5], ENCODING_CONST),
            (&[5, 5, 5], ENCODING_CONST),
            (&[1, 4, 7, 10], ENCODING_DELTA_CONST),
            (&[1, 4, 9, 20, 21], ENCODING_NEAREST_DELTA2),
            (&[10, 4, 9, 20], ENCODING_NEAREST_DELTA),
            (&[-1, 4, 9, 20], ENCODING_NEAREST_DELTA),
            (&[100, 200, 1, 50, 300], ENCODING_NEAREST_DELTA2),
        ];
        for &(values, encoding) in cases {
            assert_eq!(encode_int64s(values).0, encoding, "{values:?}");
        }
        assert_eq!(encode_int64s(&[1, 4, 9, 20]).1, vec![6, 4, 12], "first delta 3, then 2 and 6, zigzagged");
    }

    #[test]
    fn the_stream_header_is_two_zigzag_big_endian_times() {
        let mut out = Vec::new();
        write_stream_header(&mut out, 0, -1);
        assert_eq!(out, [[0u8; 8], [0, 0, 0, 0, 0, 0, 0, 1]].concat());
    }
}
