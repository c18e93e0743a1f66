//! Fuzz target: Prometheus' start-time chunk encodings read from arbitrary (possibly
//! corrupt) bytes never panic and stop: XOR2 and float histograms with starts iterated and
//! decoded with their starts (one start per decoded sample), and an XOR2 chunk resumed by
//! an appender takes more samples and reads back whole.
#![no_main]
use tsdb::chunk::{decode_chunk_kept_with_starts, ChunkEncoding, FloatHistogramStIterator, Xor2Appender, Xor2Iterator};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut it = Xor2Iterator::new(data);
    for _ in it.by_ref().take(1 << 16) {}
    let mut it = FloatHistogramStIterator::new(data);
    for _ in it.by_ref().take(1 << 16) {}

    for encoding in [ChunkEncoding::Xor2, ChunkEncoding::FloatHistogramSt] {
        let (mut floats, mut float_starts, mut histograms, mut histogram_starts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        if encoding.num_samples(data) <= 4096 {
            decode_chunk_kept_with_starts(encoding, data, (&mut floats, &mut float_starts), (&mut histograms, &mut histogram_starts), |_| true);
            assert_eq!(floats.len(), float_starts.len());
            assert_eq!(histograms.len(), histogram_starts.len());
        }
    }

    if let Some(mut resumed) = Xor2Appender::resume(data) {
        let had = resumed.num_samples();
        let next = resumed.last_timestamp().map_or(0, |t| t.saturating_add(1_000));
        resumed.append(next - 500, next, 1.5);
        let read: Vec<_> = Xor2Iterator::new(resumed.bytes()).take(1 << 17).collect();
        assert_eq!(read.len(), usize::from(had) + 1);
        assert_eq!(read.last().map(|s| (s.start_ms, s.sample.timestamp_ms)), Some((next - 500, next)));
    }
});
