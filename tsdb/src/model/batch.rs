//! `SeriesBatch`: one write request's series in a compact form that crosses executors
//! without a `String` per label: the label text stays in one buffer (for remote_write, the
//! decompressed request body itself), each series is a hash, a range of label spans and a
//! range of one flat sample list.

use std::ops::Range;

use super::labels::stable_hash_of;
use super::{Labels, Sample, SeriesSamples};

/// Where one label name or value lies in a batch's text buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextSpan {
    pub start: u32,
    pub end: u32,
}

impl TextSpan {
    fn range(self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Clone, Copy, Debug)]
struct SeriesEntry {
    hash: u64,
    labels_start: u32,
    labels_end: u32,
    samples_start: u32,
    samples_end: u32,
}

/// Series with samples, ready for `ShardDb::append_batches`. Invariant (as for `Labels`):
/// each series' labels are UTF-8, sorted by name, unique by name and never have an empty
/// value; `hash` is `Labels::stable_hash` of that set. Immutable once built; `Send + Sync`,
/// so one batch can be shared (`Arc`) by every shard that owns some of its series.
#[derive(Clone, Debug, Default)]
pub struct SeriesBatch {
    text: Vec<u8>,
    labels: Vec<(TextSpan, TextSpan)>,
    series: Vec<SeriesEntry>,
    samples: Vec<Sample>,
}

/// Fills a batch over its text buffer (see `SeriesBatch::build`).
pub struct SeriesBatchBuilder<'a> {
    text: &'a [u8],
    labels: Vec<(TextSpan, TextSpan)>,
    series: Vec<SeriesEntry>,
    samples: Vec<Sample>,
}

impl<'a> SeriesBatchBuilder<'a> {
    /// The text buffer the spans point into.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Adds a series. The caller has validated its labels: UTF-8, sorted, unique names, no
    /// empty values (as `Labels::from_sorted` requires; checked here in debug builds only,
    /// the decoder that found the spans has checked them already).
    pub fn push_series(&mut self, labels: &[(TextSpan, TextSpan)], samples: &[Sample]) {
        let text = self.text;
        debug_assert!(
            labels.iter().all(|(n, v)| std::str::from_utf8(&text[n.range()]).is_ok() && std::str::from_utf8(&text[v.range()]).is_ok()),
            "batch labels are UTF-8"
        );
        debug_assert!(labels.windows(2).all(|w| text[w[0].0.range()] < text[w[1].0.range()]), "batch labels are sorted and unique");
        debug_assert!(labels.iter().all(|(_, v)| v.end > v.start), "batch labels have non-empty values");
        let hash = stable_hash_of(labels.iter().map(|(n, v)| (&text[n.range()], &text[v.range()])));
        let labels_start = self.labels.len() as u32;
        self.labels.extend_from_slice(labels);
        let samples_start = self.samples.len() as u32;
        self.samples.extend_from_slice(samples);
        self.series.push(SeriesEntry {
            hash,
            labels_start,
            labels_end: self.labels.len() as u32,
            samples_start,
            samples_end: self.samples.len() as u32,
        });
    }
}

/// Cache line size assumed by the prefetch hints.
const CACHE_LINE_BYTES: usize = 64;
/// Most lines of one series' label text a prefetch asks for (a typical label set's text is
/// two to four lines).
const TEXT_PREFETCH_LINES: usize = 4;

/// One series of a batch, borrowed.
#[derive(Clone, Copy)]
pub struct BatchSeries<'a> {
    text: &'a [u8],
    labels: &'a [(TextSpan, TextSpan)],
    hash: u64,
    samples: &'a [Sample],
}

impl<'a> BatchSeries<'a> {
    /// `Labels::stable_hash` of this series' labels.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn label_count(&self) -> usize {
        self.labels.len()
    }

    /// `(name, value)` byte pairs, sorted by name.
    pub fn label_pairs(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone + 'a {
        let text = self.text;
        self.labels.iter().map(move |(n, v)| (&text[n.range()], &text[v.range()]))
    }

    pub fn samples(&self) -> &'a [Sample] {
        self.samples
    }

    /// Asks the CPU to load this series' label spans (a hint; see `crate::prefetch`).
    #[inline]
    pub fn prefetch_spans(&self) {
        crate::prefetch::prefetch(self.labels.as_ptr());
        if let Some(last) = self.labels.last() {
            crate::prefetch::prefetch(last);
        }
    }

    /// Asks the CPU to load this series' label text, up to `TEXT_PREFETCH_LINES` cache
    /// lines from its first name. Reads the spans: call it after `prefetch_spans` had some
    /// time to work.
    #[inline]
    pub fn prefetch_text(&self) {
        let (Some(first), Some(last)) = (self.labels.first(), self.labels.last()) else {
            return;
        };
        let (start, end) = (first.0.start as usize, (last.1.end as usize).min(self.text.len()));
        for offset in (start..end).step_by(CACHE_LINE_BYTES).take(TEXT_PREFETCH_LINES) {
            crate::prefetch::prefetch(&self.text[offset]);
        }
    }

    /// An owned label set (allocates: for new series only), its stable hash already set.
    pub fn to_labels(&self) -> Labels {
        let text = |bytes: &'a [u8]| std::str::from_utf8(bytes).expect("batch labels are UTF-8 (push_series contract)");
        Labels::from_sorted_hashed(self.label_pairs().map(|(n, v)| (text(n), text(v))), self.hash)
    }
}

impl SeriesBatch {
    /// Builds a batch whose label spans point into `text` (e.g. a decompressed request
    /// body); `fill` pushes the series. An error from `fill` is passed on.
    pub fn build<E>(text: Vec<u8>, fill: impl FnOnce(&mut SeriesBatchBuilder<'_>) -> Result<(), E>) -> Result<SeriesBatch, E> {
        assert!(u32::try_from(text.len()).is_ok(), "a batch's text buffer is below 4 GiB (bodies are capped far lower)");
        let mut builder = SeriesBatchBuilder { text: &text, labels: Vec::new(), series: Vec::new(), samples: Vec::new() };
        fill(&mut builder)?;
        let SeriesBatchBuilder { labels, series, samples, .. } = builder;
        Ok(SeriesBatch { text, labels, series, samples })
    }

    /// The batch form of owned series (label text copied once into one buffer).
    pub fn from_series(series: &[SeriesSamples]) -> SeriesBatch {
        let mut text = Vec::new();
        let mut spans = Vec::new();
        let span_of = |text: &mut Vec<u8>, s: &str| {
            let start = text.len() as u32;
            text.extend_from_slice(s.as_bytes());
            TextSpan { start, end: text.len() as u32 }
        };
        for s in series {
            for l in s.labels.iter() {
                let name = span_of(&mut text, l.name);
                let value = span_of(&mut text, l.value);
                spans.push((name, value));
            }
        }
        let built: Result<SeriesBatch, std::convert::Infallible> = SeriesBatch::build(text, |builder| {
            let mut rest = spans.as_slice();
            for s in series {
                let (labels, tail) = rest.split_at(s.labels.len());
                builder.push_series(labels, &s.samples);
                rest = tail;
            }
            Ok(())
        });
        match built {
            Ok(batch) => batch,
            Err(never) => match never {},
        }
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Samples over all series.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// Every series' samples, in series order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Series `index` (panics when out of range, like slice indexing).
    pub fn get(&self, index: usize) -> BatchSeries<'_> {
        let e = self.series[index];
        BatchSeries {
            text: &self.text,
            labels: &self.labels[e.labels_start as usize..e.labels_end as usize],
            hash: e.hash,
            samples: &self.samples[e.samples_start as usize..e.samples_end as usize],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = BatchSeries<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The owned form (tests, and callers that want `SeriesSamples`).
    pub fn to_series(&self) -> Vec<SeriesSamples> {
        self.iter().map(|s| SeriesSamples { labels: s.to_labels(), samples: s.samples().to_vec(), histograms: Vec::new() }).collect()
    }
}

/// A shard's share of a batch: the series at `indices` (every series when `None`).
#[derive(Clone, Copy)]
pub struct BatchPart<'a> {
    pub batch: &'a SeriesBatch,
    pub indices: Option<&'a [u32]>,
}

impl<'a> BatchPart<'a> {
    /// Every series of `batch`.
    pub fn whole(batch: &'a SeriesBatch) -> Self {
        BatchPart { batch, indices: None }
    }

    /// Samples of this part's series (a part of a shared batch holds only some of them).
    pub fn sample_count(&self) -> usize {
        match self.indices {
            Some(_) => self.series().map(|s| s.samples().len()).sum(),
            None => self.batch.sample_count(),
        }
    }

    /// Number of this part's series.
    pub fn series_count(&self) -> usize {
        self.indices.map_or(self.batch.len(), <[u32]>::len)
    }

    /// The part's `k`th series, if it has that many.
    #[inline]
    pub fn get(&self, k: usize) -> Option<BatchSeries<'a>> {
        match self.indices {
            Some(picked) => picked.get(k).map(|&index| self.batch.get(index as usize)),
            None => (k < self.batch.len()).then(|| self.batch.get(k)),
        }
    }

    pub fn series(&self) -> impl Iterator<Item = BatchSeries<'a>> + 'a {
        let part = *self;
        (0..part.series_count()).map_while(move |k| part.get(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t: i64) -> Sample {
        Sample { timestamp_ms: t, value: t as f64 }
    }

    #[test]
    fn owned_series_round_trip_with_the_labels_hash() {
        let series = vec![
            SeriesSamples { labels: Labels::from_pairs([("__name__", "up"), ("job", "a")]), samples: vec![sample(1), sample(2)], histograms: Vec::new() },
            SeriesSamples { labels: Labels::from_pairs([("__name__", "x")]), samples: vec![sample(3)], histograms: Vec::new() },
        ];
        let batch = SeriesBatch::from_series(&series);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.sample_count(), 3);
        assert_eq!(batch.to_series(), series);
        for (b, s) in batch.iter().zip(&series) {
            assert_eq!(b.hash(), s.labels.stable_hash());
        }
        let part = BatchPart { batch: &batch, indices: Some(&[1]) };
        assert_eq!(part.series().map(|s| s.to_labels()).collect::<Vec<_>>(), vec![series[1].labels.clone()]);
    }

    #[test]
    fn a_part_is_read_by_position_as_it_iterates() {
        let series: Vec<SeriesSamples> = (0..5)
            .map(|i| SeriesSamples { labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]), samples: vec![sample(i)], histograms: Vec::new() })
            .collect();
        let batch = SeriesBatch::from_series(&series);
        for part in [BatchPart { batch: &batch, indices: Some(&[4, 1, 3]) }, BatchPart::whole(&batch)] {
            let iterated: Vec<Labels> = part.series().map(|s| s.to_labels()).collect();
            let by_position: Vec<Labels> = (0..part.series_count()).map_while(|k| part.get(k)).map(|s| s.to_labels()).collect();
            assert_eq!(by_position, iterated);
            assert!(part.get(part.series_count()).is_none());
            // Hints only: any series, the last one included, may be prefetched.
            for s in part.series() {
                s.prefetch_spans();
                s.prefetch_text();
            }
        }
    }
}
