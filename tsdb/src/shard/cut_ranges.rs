//! Splitting what one head cut takes out (`Head::split_before` the last range's end) into
//! one block's worth per block range, so that a backlog of due ranges (history written in one
//! go: an import, vmctl, a remote_write backlog) is cut with one head split and one WAL
//! checkpoint, not one of each per range (each rewrote the whole rest of the head).

use crate::block::{BlockSeries, RawChunk};
use crate::chunk::{ChunkEncoding, XorIterator};
use crate::model::{HistogramSample, Sample};

/// One range's share of a series while it is being partitioned.
#[derive(Default)]
struct Share {
    chunks: Vec<RawChunk>,
    samples: Vec<Sample>,
    histograms: Vec<HistogramSample>,
}

impl Share {
    fn has_loose(&self) -> bool {
        !self.samples.is_empty() || !self.histograms.is_empty()
    }
}

/// Walks one series' data in time order, filling the share of the range it is in and
/// handing it over when the next item lies in a later range (memory in proportion to the
/// data, not to series times ranges).
struct SeriesPartitioner<'a> {
    parts: &'a mut [Vec<BlockSeries>],
    labels: &'a crate::model::Labels,
    current: Option<(usize, Share)>,
}

impl SeriesPartitioner<'_> {
    fn share(&mut self, range: usize) -> &mut Share {
        if self.current.as_ref().is_some_and(|(at, _)| *at != range) {
            self.flush();
        }
        &mut self.current.get_or_insert_with(|| (range, Share::default())).1
    }

    fn flush(&mut self) {
        if let Some((range, share)) = self.current.take() {
            if !share.chunks.is_empty() || share.has_loose() {
                self.parts[range].push(BlockSeries { labels: self.labels.clone(), chunks: share.chunks, samples: share.samples, histograms: share.histograms, starts: None });
            }
        }
    }
}

/// `series` (each its data before the last range's end) split by `range_ends`: the ascending
/// exclusive ends of consecutive block ranges, the first starting at or before every sample.
/// Returns one list per range, series in the order given, a series only where it has data.
/// Whole chunks that lie in one range are kept as they are; a chunk that crosses a range
/// boundary is decoded, and so is every later chunk of a range that already holds loose
/// samples (a block's kept chunks come before its loose samples). `None` when a chunk cannot
/// be decoded (the caller then cuts one range at a time, which keeps chunks whole).
pub fn partition(series: Vec<BlockSeries>, range_ends: &[i64]) -> Option<Vec<Vec<BlockSeries>>> {
    let range_of = |t: i64| range_ends.partition_point(|&end| end <= t).min(range_ends.len().saturating_sub(1));
    let mut parts: Vec<Vec<BlockSeries>> = range_ends.iter().map(|_| Vec::new()).collect();
    for BlockSeries { labels, chunks, samples, histograms, starts } in series {
        // Splitting loose samples would drop their start times: the caller cuts range by
        // range instead.
        if starts.is_some() {
            return None;
        }
        let mut walk = SeriesPartitioner { parts: &mut parts, labels: &labels, current: None };
        for chunk in chunks {
            let first = range_of(chunk.min_time_ms);
            if first == range_of(chunk.max_time_ms) {
                let share = walk.share(first);
                if !share.has_loose() {
                    share.chunks.push(chunk);
                    continue;
                }
            }
            match chunk.encoding {
                ChunkEncoding::Xor => {
                    let mut iterator = XorIterator::new(&chunk.bytes);
                    for sample in iterator.by_ref() {
                        walk.share(range_of(sample.timestamp_ms)).samples.push(sample);
                    }
                    if iterator.error() {
                        return None;
                    }
                }
                // Splitting would drop the start times: the caller cuts range by range instead,
                // keeping chunks whole.
                ChunkEncoding::Xor2 | ChunkEncoding::FloatHistogramSt => return None,
                ChunkEncoding::FloatHistogram => {
                    let mut decoded = Vec::new();
                    if !crate::chunk::float_histogram::decode_histograms_kept(&chunk.bytes, &mut decoded, |_| true) {
                        return None;
                    }
                    for h in decoded {
                        walk.share(range_of(h.timestamp_ms)).histograms.push(h);
                    }
                }
            }
        }
        // Loose samples and histograms follow every chunk in time; each list is in time
        // order, the two interleave.
        let (mut samples, mut histograms) = (samples.into_iter().peekable(), histograms.into_iter().peekable());
        loop {
            let take_sample = match (samples.peek(), histograms.peek()) {
                (Some(s), Some(h)) => s.timestamp_ms <= h.timestamp_ms,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_sample {
                if let Some(sample) = samples.next() {
                    walk.share(range_of(sample.timestamp_ms)).samples.push(sample);
                }
            } else if let Some(h) = histograms.next() {
                walk.share(range_of(h.timestamp_ms)).histograms.push(h);
            }
        }
        walk.flush();
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::XorAppender;
    use crate::model::Labels;

    fn xor_chunk(samples: &[(i64, f64)]) -> RawChunk {
        let mut appender = XorAppender::default();
        for &(t, v) in samples {
            appender.append(t, v);
        }
        RawChunk { min_time_ms: samples[0].0, max_time_ms: samples[samples.len() - 1].0, num_samples: samples.len() as u64, encoding: ChunkEncoding::Xor, bytes: appender.bytes().into() }
    }

    fn all_samples(part: &BlockSeries) -> Vec<(i64, f64)> {
        let mut out: Vec<(i64, f64)> = part.chunks.iter().flat_map(|c| XorIterator::new(&c.bytes).map(|s| (s.timestamp_ms, s.value))).collect();
        out.extend(part.samples.iter().map(|s| (s.timestamp_ms, s.value)));
        out
    }

    #[test]
    fn chunks_within_a_range_stay_whole_and_crossing_ones_are_decoded() {
        // Ranges [.., 100), [100, 200), [200, 300).
        let ends = [100, 200, 300];
        let series = BlockSeries {
            labels: Labels::from_pairs([("__name__", "x")]),
            chunks: vec![xor_chunk(&[(10, 1.0), (20, 2.0)]), xor_chunk(&[(90, 3.0), (110, 4.0)]), xor_chunk(&[(150, 5.0), (160, 6.0)]), xor_chunk(&[(210, 7.0), (220, 8.0)])],
            samples: vec![Sample { timestamp_ms: 230, value: 9.0 }, Sample { timestamp_ms: 299, value: 10.0 }],
            histograms: Vec::new(),
            starts: None,
        };
        let parts = partition(vec![series], &ends).expect("decodable");
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
        // Range 0: the first chunk whole, then 90 decoded from the crossing chunk.
        assert_eq!((parts[0][0].chunks.len(), parts[0][0].samples.len()), (1, 1));
        // Range 1: 110 loose from the crossing chunk, so the chunk after it is decoded too.
        assert_eq!((parts[1][0].chunks.len(), parts[1][0].samples.len()), (0, 3));
        // Range 2: its chunk whole, the loose samples after it.
        assert_eq!((parts[2][0].chunks.len(), parts[2][0].samples.len()), (1, 2));
        let expected: [&[(i64, f64)]; 3] = [&[(10, 1.0), (20, 2.0), (90, 3.0)], &[(110, 4.0), (150, 5.0), (160, 6.0)], &[(210, 7.0), (220, 8.0), (230, 9.0), (299, 10.0)]];
        for (part, want) in parts.iter().zip(expected) {
            assert_eq!(all_samples(&part[0]), want);
        }
    }

    #[test]
    fn a_series_appears_only_in_the_ranges_where_it_has_data() {
        let ends = [100, 200, 300];
        let loose = |name: &str, t: i64| BlockSeries { labels: Labels::from_pairs([("__name__", name)]), chunks: Vec::new(), samples: vec![Sample { timestamp_ms: t, value: 1.0 }], histograms: Vec::new(), starts: None };
        let parts = partition(vec![loose("a", 5), loose("b", 250)], &ends).expect("decodable");
        let names: Vec<Vec<String>> = parts.iter().map(|p| p.iter().map(|s| s.labels.to_string()).collect()).collect();
        assert_eq!(names, vec![vec!["a{}".to_string()], vec![], vec!["b{}".to_string()]]);
    }
}
