//! `SeriesBatch`: one write request's series in a compact form that crosses executors
//! without a `String` per label: the label text stays in one buffer (for remote_write, the
//! decompressed request body itself), each series is a hash, a range of label spans and a
//! range of one flat sample list (and of flat native histogram, exemplar and start timestamp
//! lists, each empty and unallocated when a batch has none).

use std::ops::Range;

use super::labels::stable_hash_of;
use super::{HistogramSample, Labels, Sample, SeriesSamples};
use crate::error::Error;
use crate::exemplar::Exemplar;

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

/// Where `SeriesBatch::relabeled` takes one series' new labels.
pub struct LabelSink<'a> {
    text: &'a mut Vec<u8>,
    spans: &'a mut Vec<(TextSpan, TextSpan)>,
}

impl LabelSink<'_> {
    /// Adds a (name, value) pair (UTF-8; an empty value removes the name).
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let name_start = self.text.len() as u32;
        self.text.extend_from_slice(name);
        let value_start = self.text.len() as u32;
        self.text.extend_from_slice(value);
        self.spans.push((TextSpan { start: name_start, end: value_start }, TextSpan { start: value_start, end: self.text.len() as u32 }));
    }
}

#[derive(Clone, Copy, Debug)]
struct SeriesEntry {
    hash: u64,
    labels_start: u32,
    labels_end: u32,
    samples_start: u32,
    samples_end: u32,
    histograms_start: u32,
    histograms_end: u32,
    exemplars_start: u32,
    exemplars_end: u32,
    starts_start: u32,
    starts_end: u32,
}

/// A sample's start timestamp (when its counter, or cumulative histogram, started counting:
/// OpenMetrics' `_created`, the protobuf exposition's and remote_write 2.0's
/// `created_timestamp`/`start_timestamp`, OTLP's `start_time_unix_nano`), written as
/// Prometheus' `created-timestamp-zero-ingestion` writes it: a zero sample at `start_ms`
/// before the series' sample at `sample_ms`. The shard writes the zero only when `start_ms`
/// is before `sample_ms` and after every sample the series holds (a long-lived counter
/// gives the same start with every sample: its zero is written once); otherwise it is
/// dropped without a word. The zero is a float 0, or, when the series' sample at
/// `sample_ms` in the batch is a native histogram, an empty histogram of its schema, zero
/// threshold and custom bounds marked as a counter reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartTimestamp {
    pub start_ms: i64,
    pub sample_ms: i64,
}

/// Series with samples, ready for `ShardDb::append_batches`. Invariant (as for `Labels`):
/// each series' labels are UTF-8, sorted by name, unique by name and never have an empty
/// value; `hash` is `Labels::stable_hash` of that set; every histogram validates
/// (`FloatHistogram::validate`). Immutable once built; `Send + Sync`,
/// so one batch can be shared (`Arc`) by every shard that owns some of its series.
#[derive(Clone, Debug, Default)]
pub struct SeriesBatch {
    text: Vec<u8>,
    labels: Vec<(TextSpan, TextSpan)>,
    series: Vec<SeriesEntry>,
    samples: Vec<Sample>,
    histograms: Vec<HistogramSample>,
    exemplars: Vec<Exemplar>,
    starts: Vec<StartTimestamp>,
}

/// Fills a batch over its text buffer (see `SeriesBatch::build`).
pub struct SeriesBatchBuilder<'a> {
    text: &'a [u8],
    labels: Vec<(TextSpan, TextSpan)>,
    series: Vec<SeriesEntry>,
    samples: Vec<Sample>,
    histograms: Vec<HistogramSample>,
    exemplars: Vec<Exemplar>,
    starts: Vec<StartTimestamp>,
}

impl<'a> SeriesBatchBuilder<'a> {
    /// The text buffer the spans point into.
    pub fn text(&self) -> &'a [u8] {
        self.text
    }

    /// Series added so far (the index the next one gets in the batch).
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Adds a series. The caller has validated its labels: UTF-8, sorted, unique names, no
    /// empty values (as `Labels::from_sorted` requires; checked here in debug builds only,
    /// the decoder that found the spans has checked them already).
    pub fn push_series(&mut self, labels: &[(TextSpan, TextSpan)], samples: &[Sample]) {
        self.push_unchecked(labels, samples, &[]);
    }

    /// `push_series` with native histogram samples too (time-ordered, as the floats). Each
    /// histogram is validated first (`FloatHistogram::validate`): an invalid one is an
    /// `Error::InvalidHistogram` naming the series and its timestamp, and nothing of this
    /// series is added. The `Arc`s are shared, not copied.
    pub fn push_series_with_histograms(&mut self, labels: &[(TextSpan, TextSpan)], samples: &[Sample], histograms: &[HistogramSample]) -> Result<(), Error> {
        if let Some((h, message)) = histograms.iter().find_map(|h| h.histogram.validate().err().map(|m| (h, m))) {
            let text = self.text;
            let pairs = labels.iter().map(|(n, v)| (String::from_utf8_lossy(&text[n.range()]).into_owned(), String::from_utf8_lossy(&text[v.range()]).into_owned()));
            return Err(Error::InvalidHistogram { series: Labels::from_pairs(pairs).to_string(), timestamp_ms: h.timestamp_ms, message });
        }
        self.push_unchecked(labels, samples, histograms);
        Ok(())
    }

    /// Attaches exemplars to the series pushed last (time-ordered; the shard refuses the
    /// out-of-order ones). Without a series pushed before, they are ignored (debug builds
    /// panic).
    pub fn push_exemplars(&mut self, exemplars: &[Exemplar]) {
        debug_assert!(!self.series.is_empty(), "exemplars follow their series");
        let Some(last) = self.series.last_mut() else { return };
        self.exemplars.extend_from_slice(exemplars);
        last.exemplars_end = self.exemplars.len() as u32;
    }

    /// Attaches start timestamps to the series pushed last (see `StartTimestamp`; in the
    /// order of their samples). Without a series pushed before, they are ignored (debug
    /// builds panic).
    pub fn push_start_timestamps(&mut self, starts: &[StartTimestamp]) {
        debug_assert!(!self.series.is_empty(), "start timestamps follow their series");
        let Some(last) = self.series.last_mut() else { return };
        self.starts.extend_from_slice(starts);
        last.starts_end = self.starts.len() as u32;
    }

    /// Adds a series whose histograms the caller has validated.
    fn push_unchecked(&mut self, labels: &[(TextSpan, TextSpan)], samples: &[Sample], histograms: &[HistogramSample]) {
        let text = self.text;
        let hash = stable_hash_of(labels.iter().map(|(n, v)| (&text[n.range()], &text[v.range()])));
        self.push_hashed(labels, hash, samples, histograms);
    }

    /// `push_unchecked` with the labels' stable hash already known (a `Labels`' cached one).
    fn push_hashed(&mut self, labels: &[(TextSpan, TextSpan)], hash: u64, samples: &[Sample], histograms: &[HistogramSample]) {
        debug_assert!(histograms.iter().all(|h| h.histogram.validate().is_ok()), "batch histograms validate");
        let text = self.text;
        debug_assert_eq!(hash, stable_hash_of(labels.iter().map(|(n, v)| (&text[n.range()], &text[v.range()]))), "the given hash is the labels'");
        debug_assert!(
            labels.iter().all(|(n, v)| std::str::from_utf8(&text[n.range()]).is_ok() && std::str::from_utf8(&text[v.range()]).is_ok()),
            "batch labels are UTF-8"
        );
        debug_assert!(labels.windows(2).all(|w| text[w[0].0.range()] < text[w[1].0.range()]), "batch labels are sorted and unique");
        debug_assert!(labels.iter().all(|(_, v)| v.end > v.start), "batch labels have non-empty values");
        let labels_start = self.labels.len() as u32;
        self.labels.extend_from_slice(labels);
        let samples_start = self.samples.len() as u32;
        self.samples.extend_from_slice(samples);
        let histograms_start = self.histograms.len() as u32;
        self.histograms.extend_from_slice(histograms);
        self.series.push(SeriesEntry {
            hash,
            labels_start,
            labels_end: self.labels.len() as u32,
            samples_start,
            samples_end: self.samples.len() as u32,
            histograms_start,
            histograms_end: self.histograms.len() as u32,
            exemplars_start: self.exemplars.len() as u32,
            exemplars_end: self.exemplars.len() as u32,
            starts_start: self.starts.len() as u32,
            starts_end: self.starts.len() as u32,
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
    histograms: &'a [HistogramSample],
    exemplars: &'a [Exemplar],
    starts: &'a [StartTimestamp],
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

    /// The series' native histogram samples (empty for most series).
    pub fn histograms(&self) -> &'a [HistogramSample] {
        self.histograms
    }

    /// The series' exemplars (empty for most series).
    pub fn exemplars(&self) -> &'a [Exemplar] {
        self.exemplars
    }

    /// The series' start timestamps (empty for most series).
    pub fn start_timestamps(&self) -> &'a [StartTimestamp] {
        self.starts
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
        let mut builder = SeriesBatchBuilder { text: &text, labels: Vec::new(), series: Vec::new(), samples: Vec::new(), histograms: Vec::new(), exemplars: Vec::new(), starts: Vec::new() };
        fill(&mut builder)?;
        let SeriesBatchBuilder { labels, series, samples, histograms, exemplars, starts, .. } = builder;
        Ok(SeriesBatch { text, labels, series, samples, histograms, exemplars, starts })
    }

    /// The batch form of owned series whose histograms are known to be valid (label text
    /// copied once into one buffer). Input from outside goes through `try_from_series`.
    pub fn from_series(series: &[SeriesSamples]) -> SeriesBatch {
        Self::owned(series, &[], &[], false).unwrap_or_else(|never| unreachable!("unchecked: {never}"))
    }

    /// The batch of series with one float sample each (a scrape's), label text copied once
    /// into one buffer; no allocation per series, and each series' hash the one its `Labels`
    /// caches.
    pub fn from_single_samples(series: &[(Labels, Sample)]) -> SeriesBatch {
        let mut text = Vec::with_capacity(series.iter().map(|(l, _)| l.iter().map(|p| p.name.len() + p.value.len()).sum::<usize>()).sum());
        let mut spans = Vec::new();
        for (labels, _) in series {
            for l in labels.iter() {
                let start = text.len() as u32;
                text.extend_from_slice(l.name.as_bytes());
                let name = TextSpan { start, end: text.len() as u32 };
                text.extend_from_slice(l.value.as_bytes());
                spans.push((name, TextSpan { start: name.end, end: text.len() as u32 }));
            }
        }
        let built: Result<SeriesBatch, std::convert::Infallible> = SeriesBatch::build(text, |builder| {
            let mut rest = spans.as_slice();
            for (labels, sample) in series {
                let (own, tail) = rest.split_at(labels.len());
                builder.push_hashed(own, labels.stable_hash(), std::slice::from_ref(sample), &[]);
                rest = tail;
            }
            Ok(())
        });
        built.unwrap_or_else(|never| match never {})
    }

    /// `from_series`, every histogram validated: an invalid one is an
    /// `Error::InvalidHistogram` naming its series.
    pub fn try_from_series(series: &[SeriesSamples]) -> Result<SeriesBatch, Error> {
        Self::owned(series, &[], &[], true)
    }

    /// `try_from_series` with exemplars: each entry of `exemplars` follows the series as one
    /// more of the batch, with no samples (a shard takes a series given twice in a batch as
    /// one). Each entry's exemplars are time-ordered, as `SeriesBatchBuilder::push_exemplars`
    /// wants them.
    pub fn try_from_series_and_exemplars(series: &[SeriesSamples], exemplars: &[(Labels, Vec<Exemplar>)]) -> Result<SeriesBatch, Error> {
        Self::owned(series, &[], exemplars, true)
    }

    /// `try_from_series_and_exemplars` with start timestamps: `starts[i]` are `series[i]`'s
    /// (`starts` is empty, or as long as `series`).
    pub fn try_from_series_starts_and_exemplars(series: &[SeriesSamples], starts: &[Vec<StartTimestamp>], exemplars: &[(Labels, Vec<Exemplar>)]) -> Result<SeriesBatch, Error> {
        debug_assert!(starts.is_empty() || starts.len() == series.len(), "one list of starts per series");
        Self::owned(series, starts, exemplars, true)
    }

    fn owned(series: &[SeriesSamples], starts: &[Vec<StartTimestamp>], exemplars: &[(Labels, Vec<Exemplar>)], validate: bool) -> Result<SeriesBatch, Error> {
        let mut text = Vec::new();
        let mut spans = Vec::new();
        let span_of = |text: &mut Vec<u8>, s: &str| {
            let start = text.len() as u32;
            text.extend_from_slice(s.as_bytes());
            TextSpan { start, end: text.len() as u32 }
        };
        for labels in series.iter().map(|s| &s.labels).chain(exemplars.iter().map(|(l, _)| l)) {
            for l in labels.iter() {
                let name = span_of(&mut text, l.name);
                let value = span_of(&mut text, l.value);
                spans.push((name, value));
            }
        }
        SeriesBatch::build(text, |builder| {
            let mut rest = spans.as_slice();
            for (index, s) in series.iter().enumerate() {
                let (labels, tail) = rest.split_at(s.labels.len());
                if validate {
                    builder.push_series_with_histograms(labels, &s.samples, &s.histograms)?;
                } else {
                    builder.push_unchecked(labels, &s.samples, &s.histograms);
                }
                if let Some(own) = starts.get(index).filter(|own| !own.is_empty()) {
                    builder.push_start_timestamps(own);
                }
                rest = tail;
            }
            for (series_labels, series_exemplars) in exemplars {
                let (labels, tail) = rest.split_at(series_labels.len());
                builder.push_hashed(labels, series_labels.stable_hash(), &[], &[]);
                builder.push_exemplars(series_exemplars);
                rest = tail;
            }
            Ok(())
        })
    }

    /// The batch with `set` applied to every series' labels: each (name, value) replaces the
    /// label of that name or adds it, and an empty value removes it (VictoriaMetrics'
    /// `extra_label`). Labels are re-sorted and hashes recomputed; samples, histograms and
    /// exemplars are kept. `set` has non-empty, unique names and UTF-8 text.
    pub fn with_labels_set(&self, set: &[(String, String)]) -> SeriesBatch {
        let mut set: Vec<(&[u8], &[u8])> = set.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())).collect();
        set.sort_by(|a, b| a.0.cmp(b.0));
        self.relabeled(|series, sink| {
            // Both lists are sorted: merged in order, `set` winning a name both have.
            let mut own = series.label_pairs().peekable();
            for &(name, value) in &set {
                while let Some((n, v)) = own.next_if(|(n, _)| *n <= name) {
                    if n != name {
                        sink.push(n, v);
                    }
                }
                sink.push(name, value);
            }
            for (n, v) in own {
                sink.push(n, v);
            }
            true
        })
    }

    /// The batch with every series' labels rewritten by `rewrite`, which gets the series and
    /// a `LabelSink` to push its new (name, value) pairs into, in any order, and answers
    /// whether to keep the series at all. Of a name pushed twice the last value is kept, an
    /// empty value removes the label, and a series left with no label is dropped; labels are
    /// re-sorted and hashes recomputed; samples, histograms and exemplars of the kept series
    /// stay with them. Names and values must be UTF-8 (as everything a batch holds). The new
    /// label text goes into one buffer: no allocation per label.
    pub fn relabeled(&self, mut rewrite: impl FnMut(BatchSeries<'_>, &mut LabelSink<'_>) -> bool) -> SeriesBatch {
        let mut text = Vec::with_capacity(self.text.len());
        let mut spans: Vec<(TextSpan, TextSpan)> = Vec::with_capacity(self.labels.len());
        let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(self.len());
        for (index, series) in self.iter().enumerate() {
            let start = spans.len();
            let keep = rewrite(series, &mut LabelSink { text: &mut text, spans: &mut spans });
            if !keep {
                spans.truncate(start);
                continue;
            }
            // Sorted by name (stable: of equal names the last pushed stays last), then the
            // last of equal names kept and empty values left out, compacted in place.
            let pushed = &mut spans[start..];
            let name = |span: &(TextSpan, TextSpan)| &text[span.0.range()];
            if !pushed.windows(2).all(|w| name(&w[0]) < name(&w[1])) {
                pushed.sort_by(|a, b| name(a).cmp(name(b)));
            }
            let mut write = start;
            for read in start..spans.len() {
                let superseded = spans.get(read + 1).is_some_and(|next| name(next) == name(&spans[read]));
                if superseded || spans[read].1.end == spans[read].1.start {
                    continue;
                }
                spans[write] = spans[read];
                write += 1;
            }
            spans.truncate(write);
            if write > start {
                kept.push((index, start, write));
            }
        }
        let built: Result<SeriesBatch, std::convert::Infallible> = SeriesBatch::build(text, |builder| {
            for &(index, start, end) in &kept {
                let series = self.get(index);
                builder.push_unchecked(&spans[start..end], series.samples(), series.histograms());
                if !series.exemplars().is_empty() {
                    builder.push_exemplars(series.exemplars());
                }
                if !series.start_timestamps().is_empty() {
                    builder.push_start_timestamps(series.start_timestamps());
                }
            }
            Ok(())
        });
        built.unwrap_or_else(|never| match never {})
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

    /// Native histogram samples over all series.
    pub fn histogram_count(&self) -> usize {
        self.histograms.len()
    }

    /// Exemplars over all series.
    pub fn exemplar_count(&self) -> usize {
        self.exemplars.len()
    }

    /// Whether any series has a start timestamp.
    pub fn has_start_timestamps(&self) -> bool {
        !self.starts.is_empty()
    }

    /// Series `index` (panics when out of range, like slice indexing).
    pub fn get(&self, index: usize) -> BatchSeries<'_> {
        let e = self.series[index];
        BatchSeries {
            text: &self.text,
            labels: &self.labels[e.labels_start as usize..e.labels_end as usize],
            hash: e.hash,
            samples: &self.samples[e.samples_start as usize..e.samples_end as usize],
            histograms: &self.histograms[e.histograms_start as usize..e.histograms_end as usize],
            exemplars: &self.exemplars[e.exemplars_start as usize..e.exemplars_end as usize],
            starts: &self.starts[e.starts_start as usize..e.starts_end as usize],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = BatchSeries<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The owned form (tests, and callers that want `SeriesSamples`).
    pub fn to_series(&self) -> Vec<SeriesSamples> {
        self.iter().map(|s| SeriesSamples { labels: s.to_labels(), samples: s.samples().to_vec(), histograms: s.histograms().to_vec(), starts: None }).collect()
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

    /// Native histogram samples of this part's series.
    pub fn histogram_count(&self) -> usize {
        match self.indices {
            Some(_) if self.batch.histograms.is_empty() => 0,
            Some(_) => self.series().map(|s| s.histograms().len()).sum(),
            None => self.batch.histogram_count(),
        }
    }

    /// Exemplars of this part's series.
    pub fn exemplar_count(&self) -> usize {
        match self.indices {
            Some(_) if self.batch.exemplars.is_empty() => 0,
            Some(_) => self.series().map(|s| s.exemplars().len()).sum(),
            None => self.batch.exemplar_count(),
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
mod tests;
