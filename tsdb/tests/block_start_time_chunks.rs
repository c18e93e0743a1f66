//! A block holding Prometheus' start-time chunks (XOR2, float histograms with starts), as a
//! Prometheus with start-time storage writes them, reads back every value: whole and partly
//! in range, decoded and encoded, with their starts.

use std::sync::Arc;

use tsdb::block::{commit_tmp, Block, BlockCompaction, RawChunk, StreamBlockWriter};
use tsdb::chunk::{ChunkEncoding, CounterResetHeader, FloatHistogramStAppender, Xor2Appender};
use tsdb::model::{BucketSpan, FloatHistogram, HistogramSample, Labels, MatchOp, Matcher, Sample};

fn histogram(level: f64) -> FloatHistogram {
    FloatHistogram {
        count: level + 2.0,
        sum: level * 0.5,
        positive_spans: vec![BucketSpan { offset: 0, length: 2 }],
        positive_buckets: vec![1.0, level + 1.0],
        ..FloatHistogram::default()
    }
}

#[test]
fn start_time_chunks_in_a_block_read_back_their_values() {
    let floats: Vec<(i64, Sample)> = (0..200).map(|i| (if i < 50 { 0 } else { 1_000 + i / 60 }, Sample { timestamp_ms: 10_000 + i * 15_000, value: (i % 7) as f64 })).collect();
    let mut xor2 = Xor2Appender::default();
    for (start, s) in &floats {
        xor2.append(*start, s.timestamp_ms, s.value);
    }
    let histograms: Vec<(i64, HistogramSample)> = (0..20).map(|i| (5 + i, HistogramSample { timestamp_ms: 20_000 + i * 60_000, histogram: Arc::new(histogram(i as f64)) })).collect();
    let mut fhst = FloatHistogramStAppender::new(CounterResetHeader::Unknown);
    for (start, h) in &histograms {
        fhst.append(*start, h.timestamp_ms, &h.histogram);
    }
    let (float_min, float_max) = (floats[0].1.timestamp_ms, floats[floats.len() - 1].1.timestamp_ms);
    let (histogram_min, histogram_max) = (histograms[0].1.timestamp_ms, histograms[histograms.len() - 1].1.timestamp_ms);

    let parent = tempfile::tempdir().expect("tempdir");
    let ulid = "01JST0000000000000000000AB";
    let mut writer = StreamBlockWriter::create(parent.path(), ulid, 0, 10_000_000).expect("create");
    let raw = |min_time_ms, max_time_ms, encoding, bytes: &[u8]| RawChunk { min_time_ms, max_time_ms, num_samples: u64::from(ChunkEncoding::num_samples(encoding, bytes)), encoding, bytes: bytes.into() };
    writer.add_raw_chunks(Labels::from_pairs([("__name__", "f".to_string())]), &[raw(float_min, float_max, ChunkEncoding::Xor2, xor2.bytes())]).expect("floats");
    writer.add_raw_chunks(Labels::from_pairs([("__name__", "h".to_string())]), &[raw(histogram_min, histogram_max, ChunkEncoding::FloatHistogramSt, fhst.bytes())]).expect("histograms");
    let (_, meta) = writer.finish(BlockCompaction::default()).expect("finish");
    assert_eq!(meta.stats.num_samples, 220, "counts from each encoding's own header");
    let block = Block::open(&commit_tmp(parent.path(), ulid).expect("commit")).expect("open");

    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").expect("matcher");
    for (lo, hi) in [(i64::MIN, i64::MAX), (400_000, 700_000)] {
        let series = block.select(std::slice::from_ref(&all), lo, hi).expect("select");
        assert_eq!(series.len(), 2, "range {lo}..{hi}");
        let want_floats: Vec<Sample> = floats.iter().map(|(_, s)| *s).filter(|s| s.timestamp_ms >= lo && s.timestamp_ms <= hi).collect();
        assert_eq!(series[0].samples, want_floats);
        let want_starts: Vec<i64> = floats.iter().filter(|(_, s)| s.timestamp_ms >= lo && s.timestamp_ms <= hi).map(|(start, _)| *start).collect();
        // Starts are answered for a series only where one in the range is non-zero.
        let answer = |starts: Vec<i64>| starts.iter().any(|&s| s != 0).then_some(starts);
        assert_eq!(series[0].starts.as_ref().map(|s| s.floats.clone()), answer(want_starts.clone()), "float starts answered");
        let want_histogram_starts: Vec<i64> = histograms.iter().filter(|(_, h)| h.timestamp_ms >= lo && h.timestamp_ms <= hi).map(|(start, _)| *start).collect();
        assert_eq!(series[1].starts.as_ref().map(|s| s.histograms.clone()), answer(want_histogram_starts.clone()), "histogram starts answered");
        let want_histograms: Vec<i64> = histograms.iter().map(|(_, h)| h.timestamp_ms).filter(|t| *t >= lo && *t <= hi).collect();
        assert_eq!(series[1].histograms.iter().map(|h| h.timestamp_ms).collect::<Vec<_>>(), want_histograms);
        for h in &series[1].histograms {
            let i = (h.timestamp_ms - 20_000) / 60_000;
            assert_eq!(h.histogram.count, histogram(i as f64).count);
        }

        // Answered encoded: the chunks are kept whole and decode by their own encoding.
        let encoded = futures_lite::future::block_on(block.select_yielding(std::slice::from_ref(&all), lo, hi, usize::MAX, &mut || {})).expect("select").expect("within the limit");
        let decoded: Vec<(Vec<Sample>, Vec<HistogramSample>)> = encoded.iter().map(|s| s.parts[0].decode_both(lo, hi).expect("decodes")).collect();
        assert_eq!(decoded[0].0, want_floats);
        let answered: Vec<Option<tsdb::SampleStarts>> = encoded.iter().map(|s| s.decode(lo, hi).and_then(|d| d.starts.map(|b| *b))).collect();
        assert_eq!(answered[0].as_ref().map(|s| s.floats.clone()), answer(want_starts));
        assert_eq!(answered[1].as_ref().map(|s| s.histograms.clone()), answer(want_histogram_starts));
        assert_eq!(decoded[1].1.iter().map(|h| h.timestamp_ms).collect::<Vec<_>>(), want_histograms);
        assert!(encoded[1].parts[0].has_histograms() && !encoded[0].parts[0].has_histograms());
    }
}
