//! Float histogram chunks with per-sample start times, in Prometheus' exact byte layout
//! (`chunkenc.FloatHistogramSTChunk`, encoding 6): the float histogram chunk's bit stream
//! with each sample's start (`start_times`) after its fields; the header keeps the
//! counter-reset header in the top two bits of a 14-bit sample count and the start-time
//! header in the third byte.

use super::float_histogram::{Appendable, CounterResetHeader, FloatHistogramAppender, FloatHistogramIterator, HeaderLayout, START_TIMES_COUNT_MASK};
use super::start_times::{StartTimeDecoder, StartTimeEncoder, StartedHistogram};
use crate::model::{FloatHistogram, HistogramSample};

/// Index of the start-time header byte.
const START_HEADER_BYTE: usize = 2;
/// Most samples the 14-bit count holds.
pub const HISTOGRAM_ST_SAMPLES_MAX: u16 = START_TIMES_COUNT_MASK;

/// The sample count in an encoded float-histogram-with-starts chunk (0 when too short).
pub fn float_histogram_st_num_samples(bytes: &[u8]) -> u16 {
    HeaderLayout::StartTimes.num_samples(bytes)
}

/// The counter-reset header of an encoded float-histogram-with-starts chunk.
pub fn float_histogram_st_header(bytes: &[u8]) -> CounterResetHeader {
    HeaderLayout::StartTimes.counter_reset_header(bytes)
}

/// Builds one float histogram chunk with starts. Every histogram appended must be
/// `appendable` (the rules of `FloatHistogramAppender`, which encodes the histograms).
#[derive(Clone, Debug)]
pub struct FloatHistogramStAppender {
    histograms: FloatHistogramAppender,
    starts: StartTimeEncoder,
}

impl FloatHistogramStAppender {
    /// An empty chunk with the given counter-reset header.
    pub fn new(header: CounterResetHeader) -> Self {
        FloatHistogramStAppender { histograms: FloatHistogramAppender::with_layout(header, HeaderLayout::StartTimes), starts: StartTimeEncoder::default() }
    }

    /// The first chunk for `h` after `previous` (the series' last chunk, if any), with the
    /// header `FloatHistogramAppender::after` gives.
    pub fn after(previous: Option<&FloatHistogramStAppender>, h: &FloatHistogram) -> Self {
        let header = FloatHistogramAppender::after(previous.map(|p| &p.histograms), h).header();
        FloatHistogramStAppender::new(header)
    }

    pub fn num_samples(&self) -> u16 {
        self.histograms.num_samples()
    }

    /// The chunk's bytes so far (header included).
    pub fn bytes(&self) -> &[u8] {
        self.histograms.bytes()
    }

    pub fn header(&self) -> CounterResetHeader {
        self.histograms.header()
    }

    /// The newest sample's timestamp, `None` before the first append.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.histograms.last_timestamp()
    }

    /// Finishes the chunk, giving back spare capacity.
    pub fn into_bytes(self) -> Box<[u8]> {
        self.histograms.into_bytes()
    }

    /// True when the chunk should be cut before another sample (`samples_max` is capped at
    /// what the count holds).
    pub fn is_full(&self, samples_max: u16) -> bool {
        self.histograms.is_full(samples_max.min(HISTOGRAM_ST_SAMPLES_MAX))
    }

    /// Whether `h` can go into this chunk (`FloatHistogramAppender::appendable`).
    pub fn appendable(&self, h: &FloatHistogram) -> Appendable {
        self.histograms.appendable(h)
    }

    /// Appends `h` at `timestamp_ms` with its start (0: not known). The caller checked
    /// `appendable` and that the chunk is not full.
    pub fn append(&mut self, start_ms: i64, timestamp_ms: i64, h: &FloatHistogram) {
        debug_assert!(self.num_samples() < HISTOGRAM_ST_SAMPLES_MAX, "the 14-bit count holds at most 16383 samples");
        let prev_t = self.histograms.last_timestamp().unwrap_or(i64::MIN);
        self.histograms.append(timestamp_ms, h);
        let count = self.histograms.num_samples();
        self.starts.encode(&mut self.histograms.writer, START_HEADER_BYTE, count, timestamp_ms, prev_t, start_ms);
    }
}

/// Iterates a float-histogram-with-starts chunk. A truncated or corrupt chunk ends early;
/// `error()` tells. Hints are those `FloatHistogramIterator` gives.
pub struct FloatHistogramStIterator<'a> {
    histograms: FloatHistogramIterator<'a>,
    starts: StartTimeDecoder,
}

impl<'a> FloatHistogramStIterator<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let mut histograms = FloatHistogramIterator::with_layout(bytes, HeaderLayout::StartTimes);
        let header = bytes.get(START_HEADER_BYTE);
        if header.is_none() {
            // Every such chunk has its three header bytes, even an empty one.
            histograms.mark_corrupt();
        }
        FloatHistogramStIterator { histograms, starts: StartTimeDecoder::new(header.copied().unwrap_or(0)) }
    }

    /// True when iteration stopped because the bytes were malformed.
    pub fn error(&self) -> bool {
        self.histograms.error()
    }

    pub fn header(&self) -> CounterResetHeader {
        self.histograms.header()
    }
}

impl Iterator for FloatHistogramStIterator<'_> {
    type Item = StartedHistogram;

    fn next(&mut self) -> Option<StartedHistogram> {
        let prev_t = self.histograms.last_timestamp();
        let histogram = self.histograms.next()?;
        let read = self.histograms.num_read();
        if self.starts.decode(&mut self.histograms.reader, read, histogram.timestamp_ms, prev_t).is_none() {
            self.histograms.mark_corrupt();
            return None;
        }
        Some(StartedHistogram { start_ms: self.starts.start_ms(), histogram })
    }
}

/// Appends to `out`, in order, the histograms of the encoded chunk `bytes` whose timestamp
/// `keep` accepts, and their starts to `starts` when given (parallel to what is appended to
/// `out`); false when the bytes are malformed (those before the damage are appended).
pub fn decode_float_histograms_st_kept(bytes: &[u8], out: &mut Vec<HistogramSample>, mut starts: Option<&mut Vec<i64>>, keep: impl Fn(i64) -> bool) -> bool {
    let mut it = FloatHistogramStIterator::new(bytes);
    for s in it.by_ref().filter(|s| keep(s.histogram.timestamp_ms)) {
        out.push(s.histogram);
        if let Some(starts) = starts.as_deref_mut() {
            starts.push(s.start_ms);
        }
    }
    !it.error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BucketSpan, CounterResetHint, CUSTOM_BUCKETS_SCHEMA, STALE_NAN_BITS};
    use proptest::prelude::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("test hex is valid")).collect()
    }

    fn span(offset: i32, length: u32) -> BucketSpan {
        BucketSpan { offset, length }
    }

    fn stale(hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram { counter_reset_hint: hint, sum: f64::from_bits(STALE_NAN_BITS), ..FloatHistogram::default() }
    }

    fn counter(level: f64) -> FloatHistogram {
        FloatHistogram {
            zero_threshold: 1e-128,
            zero_count: level,
            count: level + level + 3.0,
            sum: level + 0.5,
            positive_spans: vec![span(0, 2), span(1, 2)],
            positive_buckets: vec![1.0, level, 2.0, level + 1.0],
            negative_spans: vec![span(1, 1)],
            negative_buckets: vec![level],
            ..FloatHistogram::default()
        }
    }

    fn gauge(level: f64) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: CounterResetHint::Gauge,
            schema: -2,
            zero_threshold: 0.3,
            zero_count: 1.0,
            count: level,
            sum: -2.5,
            negative_spans: vec![span(-3, 3)],
            negative_buckets: vec![level, 0.0, 2.0],
            ..FloatHistogram::default()
        }
    }

    fn custom(level: f64, hint: CounterResetHint) -> FloatHistogram {
        FloatHistogram {
            counter_reset_hint: hint,
            schema: CUSTOM_BUCKETS_SCHEMA,
            count: level + 1.0,
            sum: level,
            positive_spans: vec![span(0, 3)],
            positive_buckets: vec![1.0, level, 0.0],
            custom_values: vec![0.25, 1.0, 1e9],
            ..FloatHistogram::default()
        }
    }

    /// A named sequence of (start, timestamp, histogram) and the chunk Prometheus wrote for it.
    type GoldenChunk = (&'static str, Vec<(i64, i64, FloatHistogram)>, &'static str);

    /// The sequences and bytes below were written by Prometheus' own
    /// `FloatHistogramSTChunk` (commit d15adb9, Go, `AppendFloatHistogram` of the same
    /// histograms, `Bytes()` printed in hex).
    fn prometheus_chunks() -> Vec<GoldenChunk> {
        use CounterResetHint as Hint;
        vec![
            (
                "counter_constant_start",
                vec![(500, 1000, counter(0.0)), (500, 16000, counter(1.0)), (500, 31000, counter(3.0)), (500, 46500, counter(3.0)), (500, 46501, stale(Hint::Unknown))],
                "000580ff255bba08cf8c979d4a4946318f8fa100200000000000000000000000000000ff80000000000000ffc000000000000000000000000000010000000000000000ffc00000000000000000000000000003a01fe0ea63587f115ffeb0b622bff612fffe22bff6a17784cfffc26fff584cfff4007099fffe1f400fbc375c274023400e2f7ffc000000000002",
            ),
            ("gauge_change_at_1", vec![(5, 10, gauge(4.0)), (7, 7000, gauge(3.5)), (7, 8000, gauge(5.0)), (9, 9000, gauge(1.0))], "c00481ff3fd3333333333333b233ae290040000000000000ffc000000000000300100000000000010040000000000000000000000000000100000000000000002be06d3b587cd61f27f7d13562c7c0da7309bff9309bff93c7cc"),
            ("no_start_past_127", (0..130).map(|i| (0, i * 60_000, counter((i / 4) as f64))).collect(), "00827fff255bba08cf8c979d4a4946318900200000000000000000000000000000ff80000000000000ffc000000000000000000000000000010000000000000000ffc00000000000000000000000000003e3a9800000006b0fe22bffd616c457fec25fffc457fe00000012c25fffc26fffd84bffed80f097ffc000000350bfd80e00136036b0bd80c000000216b0bd627b585b683d61600000011b68389b41b605ed0600000010b605ccd8169d8160000001ac5fcc496a13e4000000216a13f50dfb509edc0f509e00000011b703826e06da17b81800000042da170cda169da1600000013a6092d81f9000000085b03f1cd81f47607c00000023460914e200000010a70c9a330000000d247fc60916b13e20000001016b13f58dfb589ede0f589e0000001036f0704de0db82f783000000080b705c33705a7705800000041d30496d0fc8000000405b43f1cda1f47687c0000002068c1229c40000002029c3268cc00000021e8c122d827c4000000202d827cf3609e87609e0000001034304851c2000000101470c8d0c60000001074304853c20000001014f1c9d0ce0000001034304851c2000000101470c8d0c60000001ac7ff0c121691ffc20000003f1cd6d0102d23ffd24ffda47fee00f48fffe3a98001f1d4c00"),
            (
                "custom_start_is_previous_t",
                vec![
                    (900, 1000, custom(1.0, Hint::CounterReset)),
                    (1000, 2000, custom(2.0, Hint::Unknown)),
                    (2000, 3000, custom(2.0, Hint::Unknown)),
                    (3000, 4000, custom(8.0, Hint::Unknown)),
                    (4000, 5500, custom(9.0, Hint::Unknown)),
                ],
                "80058100ee5c664f9f7e3e920e6e6b28000000078fa100000000000000000000000000000000ffc0000000000000ffc0000000000000ffc000000000000000000000000000032007c7d1b01b097ffd84bffe00350b540090023c3e90db81b70300",
            ),
        ]
    }

    fn encode(samples: &[(i64, i64, FloatHistogram)]) -> Vec<u8> {
        let mut a = FloatHistogramStAppender::after(None, &samples[0].2);
        for (st, t, h) in samples {
            assert_eq!(a.appendable(h), Appendable::Yes);
            a.append(*st, *t, h);
        }
        a.into_bytes().into_vec()
    }

    /// (start, timestamp, the histogram's fields as bits) of every sample, and the error flag.
    fn decode(bytes: &[u8]) -> (Vec<(i64, i64, String)>, bool) {
        let mut it = FloatHistogramStIterator::new(bytes);
        let read = it.by_ref().map(|s| (s.start_ms, s.histogram.timestamp_ms, fields(&s.histogram.histogram))).collect();
        (read, it.error())
    }

    /// Every field but the hint, floats as bits.
    fn fields(h: &FloatHistogram) -> String {
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        format!(
            "{} {} {} {} {} {:?} {:?} {:?} {:?} {:?}",
            h.schema,
            h.zero_threshold.to_bits(),
            h.zero_count.to_bits(),
            h.count.to_bits(),
            h.sum.to_bits(),
            h.positive_spans,
            h.negative_spans,
            bits(&h.positive_buckets),
            bits(&h.negative_buckets),
            bits(&h.custom_values)
        )
    }

    #[test]
    fn bytes_match_chunks_written_by_prometheus() {
        for (name, samples, want) in prometheus_chunks() {
            assert_eq!(hex(&encode(&samples)), want, "{name}");
            let (read, error) = decode(&unhex(want));
            assert!(!error, "{name}");
            assert_eq!(read, samples.iter().map(|(st, t, h)| (*st, *t, fields(h))).collect::<Vec<_>>(), "{name}");
        }
        let gauge_chunk = unhex(prometheus_chunks()[1].2);
        assert_eq!(float_histogram_st_header(&gauge_chunk), CounterResetHeader::Gauge);
        assert_eq!(float_histogram_st_num_samples(&gauge_chunk), 4);
        let hints: Vec<CounterResetHint> = FloatHistogramStIterator::new(&gauge_chunk).map(|s| s.histogram.histogram.counter_reset_hint).collect();
        assert_eq!(hints, vec![CounterResetHint::Gauge; 4]);
        assert_eq!(float_histogram_st_header(&unhex(prometheus_chunks()[3].2)), CounterResetHeader::CounterReset);
    }

    #[test]
    fn truncated_chunks_stop_with_error() {
        for (name, _, want) in prometheus_chunks() {
            let bytes = unhex(want);
            for cut in 0..bytes.len() {
                let (read, error) = decode(&bytes[..cut]);
                assert!(error, "{name} cut at {cut}: {} samples read", read.len());
            }
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            first in -1_000_000_000_000i64..1_000_000_000_000,
            steps in proptest::collection::vec((1i64..1 << 41, 0u8..6, 0.0f64..1000.0, any::<i64>()), 0..200),
            start_kind in 0u8..5,
            change_at in prop_oneof![Just(1usize), Just(2), Just(127), Just(128), 0usize..200],
            gauge_chunk in any::<bool>(),
        ) {
            let mut t = first;
            let mut level = 0.0;
            let mut samples = Vec::new();
            let n = steps.len();
            for (i, (delta, kind, jump, noise)) in std::iter::once((0, 0, 0.0, 0)).chain(steps).enumerate() {
                t += delta;
                level += jump;
                let start = match start_kind {
                    0 => 0,
                    1 => 42,
                    2 => if i >= change_at { t - 5 } else { 42 },
                    3 => samples.last().map_or(7, |s: &(i64, i64, FloatHistogram)| s.1),
                    _ => noise,
                };
                let mut h = if gauge_chunk { gauge(level) } else { counter(level) };
                if kind == 5 && i == n {
                    h = stale(h.counter_reset_hint);
                }
                samples.push((start, t, h));
            }
            let bytes = encode(&samples);
            let (read, error) = decode(&bytes);
            prop_assert!(!error);
            prop_assert_eq!(read, samples.iter().map(|(st, t, h)| (*st, *t, fields(h))).collect::<Vec<_>>());
            let (mut kept, mut starts) = (Vec::new(), Vec::new());
            prop_assert!(decode_float_histograms_st_kept(&bytes, &mut kept, Some(&mut starts), |t| t % 3 != 0));
            let want: Vec<&(i64, i64, FloatHistogram)> = samples.iter().filter(|s| s.1 % 3 != 0).collect();
            prop_assert_eq!(kept.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), want.iter().map(|s| s.1).collect::<Vec<_>>());
            prop_assert_eq!(starts, want.iter().map(|s| s.0).collect::<Vec<_>>());
        }

        /// Whatever the bytes, decoding ends (with or without an error) and never panics.
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8)) {
            FloatHistogramStIterator::new(&bytes).for_each(drop);
            let mut chunk = unhex(prometheus_chunks()[0].2);
            for (at, mask) in flips {
                let len = chunk.len();
                chunk[at % len] ^= mask;
            }
            FloatHistogramStIterator::new(&chunk).for_each(drop);
        }
    }
}
