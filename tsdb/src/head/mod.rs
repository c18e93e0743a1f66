//! One shard's in-memory head: series (each with its packed `Labels`, handed to selects by
//! reference count), their XOR
//! chunks (float histogram chunks beside them for native histograms; XOR2 and float
//! histogram ST chunks from a series' first sample with a start time on), an out-of-order buffer
//! merged on read, and the inverted index. `!Send` by design.

mod histograms;
mod series;
mod started;

use std::collections::HashSet;

use hashbrown::HashTable;

use crate::block::BlockSeries;
use crate::encoded::EncodedSeries;
use crate::index::children::{children, children_of_list, children_of_sorted};
use crate::index::{any_live, listing_by_series, Index, SeriesId};
use crate::model::{HistogramSample, Labels, Matcher, Sample, SampleStarts, SeriesSamples};
pub use series::{AppendResult, ChunkRanges, HeadChunk, MemSeries, SeriesSplit};

pub struct Head {
    series: Vec<MemSeries>,
    /// Every series by its label set's stable hash: `(id, hash key)`, 8 bytes a slot, where
    /// the key is the hash's upper half (`hash_key`), enough to rehash the table without
    /// visiting the series and to rule out almost every other series before comparing
    /// labels. Series whose hashes agree (in the key, or in all 64 bits) are told apart by
    /// their labels.
    by_hash: HashTable<(SeriesId, u32)>,
    index: Index,
    /// Oldest and newest sample timestamps held (`min_t > max_t` when empty).
    min_t: i64,
    max_t: i64,
    /// Samples held, floats and histograms (appended minus overwritten duplicates and
    /// deletions).
    samples: u64,
    /// Series without a sample (created by a write whose samples were all refused, or
    /// emptied by a delete). With none, and `[min_t, max_t]` inside a listing's range,
    /// every series is in the range and a listing needs only the index.
    empty_series: usize,
    /// Block ranges no float chunk crosses (`MemSeries::append_aligned`); none by default.
    chunk_ranges: ChunkRanges,
}

impl Default for Head {
    fn default() -> Self {
        Head {
            series: Vec::new(),
            by_hash: HashTable::new(),
            index: Index::default(),
            min_t: i64::MAX,
            max_t: i64::MIN,
            samples: 0,
            empty_series: 0,
            chunk_ranges: ChunkRanges::default(),
        }
    }
}

impl Head {
    /// An empty head whose float chunks never cross one of `ranges`' boundaries (a shard's
    /// block ranges), so that cutting it never decodes a chunk.
    pub fn with_chunk_ranges(ranges: ChunkRanges) -> Head {
        Head { chunk_ranges: ranges, ..Head::default() }
    }

    /// `(oldest, newest)` sample timestamp, or `None` when the head holds no sample.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        (self.min_t <= self.max_t).then_some((self.min_t, self.max_t))
    }

    /// Splits the head at `boundary_ms`: returns every series' data before it (its whole
    /// chunks undecoded, see `MemSeries::split_at`), and a new head holding the rest. Series
    /// left without samples are not carried over (churn), and the survivors get fresh dense
    /// ids in their old order. `self` is left untouched so a failed block write loses nothing.
    /// Between every `CUT_SERIES_PER_PAUSE` series it yields if glommio asks for it, so the
    /// executor's other tasks run during the split of a large head.
    pub async fn split_before(&self, boundary_ms: i64) -> (Vec<BlockSeries>, Head) {
        let mut before = Vec::new();
        let mut rest = Head::with_chunk_ranges(self.chunk_ranges);
        for (step, s) in self.series.iter().enumerate() {
            crate::yield_between_steps(step, crate::CUT_SERIES_PER_PAUSE).await;
            rest.split_off(s, boundary_ms, &mut before);
        }
        (before, rest)
    }

    /// One series' step of `split_before`: its data before `boundary_ms` goes to `before`,
    /// its samples from there on into this (new) head.
    fn split_off(&mut self, s: &MemSeries, boundary_ms: i64, before: &mut Vec<BlockSeries>) {
        let SeriesSplit { chunks, samples, sample_starts, histograms, histogram_starts, chunks_after, samples_after, sample_starts_after, histograms_after, histogram_starts_after } =
            s.split_at(boundary_ms);
        let labels = s.labels();
        if !chunks_after.is_empty() || !samples_after.is_empty() || !histograms_after.is_empty() {
            let (id, _) = self.get_or_create(&labels);
            // The open chunk's samples, appended next, are newer than the adopted chunks and
            // settle `max_t` and `empty_series` (a series counts as holding floats only once
            // it has an open chunk).
            if let Some(first) = chunks_after.first() {
                debug_assert!(!samples_after.is_empty(), "the open chunk's samples follow adopted chunks");
                self.min_t = self.min_t.min(first.span().0);
                self.samples += self.series[id as usize].adopt_closed_chunks(chunks_after);
            }
            if !sample_starts_after.is_empty() {
                self.series[id as usize].keep_starts();
            }
            if sample_starts_after.is_empty() {
                for sample in samples_after {
                    self.append(id, sample);
                }
            } else {
                for (sample, start_ms) in samples_after.into_iter().zip(sample_starts_after) {
                    self.append_started(id, sample, start_ms);
                }
            }
            if histogram_starts_after.is_empty() {
                for h in &histograms_after {
                    self.append_histogram(id, h);
                }
            } else {
                self.series[id as usize].keep_histogram_starts();
                for (h, start_ms) in histograms_after.iter().zip(histogram_starts_after) {
                    self.append_histogram_started(id, h, start_ms);
                }
            }
        }
        if !chunks.is_empty() || !samples.is_empty() || !histograms.is_empty() {
            let float_starts = (!sample_starts.is_empty()).then_some(sample_starts);
            let histogram_starts = (!histogram_starts.is_empty()).then_some(histogram_starts);
            let starts = (float_starts.is_some() || histogram_starts.is_some()).then(|| {
                let filled = |list: Option<Vec<i64>>, count: usize| list.unwrap_or_else(|| vec![0; count]);
                Box::new(SampleStarts { floats: filled(float_starts, samples.len()), histograms: filled(histogram_starts, histograms.len()) })
            });
            before.push(BlockSeries { labels, chunks, samples, histograms, starts });
        }
    }

    /// Ids of every series, in order (for WAL checkpoints).
    pub fn series_ids(&self) -> std::ops::Range<SeriesId> {
        0..SeriesId::try_from(self.series.len()).expect("fewer than 2^32 series per shard")
    }

    /// All of series `id`'s samples, time-ordered (for WAL checkpoints).
    pub fn samples_of(&self, id: SeriesId) -> Vec<Sample> {
        self.series[id as usize].samples_in(i64::MIN, i64::MAX)
    }

    /// `samples_of` with each sample's start time (parallel), `None` for a series without any.
    pub fn samples_with_starts_of(&self, id: SeriesId) -> (Vec<Sample>, Option<Vec<i64>>) {
        self.series[id as usize].samples_with_starts_in(i64::MIN, i64::MAX)
    }

    /// `histograms_of` with each histogram's start time (parallel), `None` for a series without any.
    pub fn histograms_with_starts_of(&self, id: SeriesId) -> (Vec<HistogramSample>, Option<Vec<i64>>) {
        self.series[id as usize].histograms_with_starts_in(i64::MIN, i64::MAX)
    }

    /// All of series `id`'s native histograms, time-ordered (for WAL checkpoints).
    pub fn histograms_of(&self, id: SeriesId) -> Vec<HistogramSample> {
        self.series[id as usize].histograms_in(i64::MIN, i64::MAX)
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Samples held, for the `max_head_samples` limit (O(1)).
    pub fn samples_count(&self) -> u64 {
        self.samples
    }

    /// The id of the series whose sorted labels are `pairs` (`label_count` of them, stable
    /// hash `hash`), if it exists. Borrowed bytes, so a write needs no `Labels` to find it.
    pub fn lookup<'a>(
        &self,
        hash: u64,
        label_count: usize,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    ) -> Option<SeriesId> {
        self.lookup_probed(self.probe(hash), hash, label_count, pairs)
    }

    /// The first series whose label hash agrees with `hash` in its key, if any, its labels
    /// not compared yet (that is `lookup_probed`). Split from `lookup` so a batch can probe
    /// all its hashes first: the probes do not depend on each other, so the CPU overlaps
    /// their cache misses.
    #[inline]
    pub fn probe(&self, hash: u64) -> Option<SeriesId> {
        let key = hash_key(hash);
        self.by_hash.find(table_hash(key), |&(_, k)| k == key).map(|&(id, _)| id)
    }

    /// `lookup`, given what `probe(hash)` returned.
    pub fn lookup_probed<'a>(
        &self,
        probed: Option<SeriesId>,
        hash: u64,
        label_count: usize,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    ) -> Option<SeriesId> {
        let first = probed?;
        if self.series[first as usize].labels.equals_pairs(label_count, pairs.clone()) {
            return Some(first);
        }
        // Another series agrees in the key: look past it.
        let key = hash_key(hash);
        self.by_hash
            .find(table_hash(key), |&(id, k)| k == key && self.series[id as usize].labels.equals_pairs(label_count, pairs.clone()))
            .map(|&(id, _)| id)
    }

    /// The id of `labels`, creating the series if needed; `true` when it was created.
    pub fn get_or_create(&mut self, labels: &Labels) -> (SeriesId, bool) {
        self.get_or_create_hashed(labels, labels.stable_hash())
    }

    /// `get_or_create` with the label set's hash given (tests force collisions with it).
    fn get_or_create_hashed(&mut self, labels: &Labels, hash: u64) -> (SeriesId, bool) {
        let pairs = labels.iter().map(|l| (l.name.as_bytes(), l.value.as_bytes()));
        if let Some(id) = self.lookup(hash, labels.len(), pairs) {
            return (id, false);
        }
        let id = SeriesId::try_from(self.series.len()).expect("fewer than 2^32 series per shard");
        self.index.add(id, labels.iter().map(|l| (l.name, l.value)));
        self.series.push(MemSeries::new(labels.clone()));
        self.empty_series += 1;
        let key = hash_key(hash);
        self.by_hash.insert_unique(table_hash(key), (id, key), |&(_, k)| table_hash(k));
        (id, true)
    }

    /// Asks the CPU to start loading series `id`'s record, which a lookup or an append of
    /// it a little later reads (a hint: no effect on results; an unknown id is ignored).
    #[inline]
    pub fn prefetch_series(&self, id: SeriesId) {
        if let Some(series) = self.series.get(id as usize) {
            crate::prefetch::prefetch(series);
        }
    }

    /// Asks the CPU to start loading what comparing series `id`'s labels and appending to
    /// its open chunk read next (its label list and the chunk's last bytes). Reads the series
    /// record: call it after `prefetch_series(id)` had some time to work.
    #[inline]
    pub fn prefetch_series_data(&self, id: SeriesId) {
        if let Some(series) = self.series.get(id as usize) {
            series.prefetch_data();
        }
    }

    pub fn append(&mut self, id: SeriesId, sample: Sample) -> AppendResult {
        let series = &mut self.series[id as usize];
        let was_empty = series.is_empty();
        let result = series.append_aligned(sample.timestamp_ms, sample.value, &mut self.chunk_ranges);
        self.count_append(was_empty, id, sample.timestamp_ms, result)
    }

    /// `append` of a float with its start time (`MemSeries::append_started`).
    pub fn append_started(&mut self, id: SeriesId, sample: Sample, start_ms: i64) -> AppendResult {
        let series = &mut self.series[id as usize];
        let was_empty = series.is_empty();
        let result = series.append_started(start_ms, sample.timestamp_ms, sample.value, &mut self.chunk_ranges);
        self.count_append(was_empty, id, sample.timestamp_ms, result)
    }

    /// Appends a native histogram with the float rules (`MemSeries::append_histogram`).
    pub fn append_histogram(&mut self, id: SeriesId, sample: &HistogramSample) -> AppendResult {
        let series = &mut self.series[id as usize];
        let was_empty = series.is_empty();
        let result = series.append_histogram_aligned(sample.timestamp_ms, &sample.histogram, &mut self.chunk_ranges);
        self.count_append(was_empty, id, sample.timestamp_ms, result)
    }

    /// `append_histogram` with its start time (`MemSeries::append_histogram_started`).
    pub fn append_histogram_started(&mut self, id: SeriesId, sample: &HistogramSample, start_ms: i64) -> AppendResult {
        let series = &mut self.series[id as usize];
        let was_empty = series.is_empty();
        let result = series.append_histogram_started(start_ms, sample.timestamp_ms, &sample.histogram, &mut self.chunk_ranges);
        self.count_append(was_empty, id, sample.timestamp_ms, result)
    }

    fn count_append(&mut self, was_empty: bool, id: SeriesId, timestamp_ms: i64, result: AppendResult) -> AppendResult {
        if was_empty && !self.series[id as usize].is_empty() {
            self.empty_series -= 1;
        }
        if !matches!(result, AppendResult::Duplicate | AppendResult::Conflict) {
            self.min_t = self.min_t.min(timestamp_ms);
            self.max_t = self.max_t.max(timestamp_ms);
        }
        if matches!(result, AppendResult::Appended | AppendResult::OutOfOrder) {
            self.samples += 1;
        }
        result
    }

    /// Ids of series matching all matchers whose time range overlaps `[mint_ms, maxt_ms]`.
    pub fn matching_ids(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesId> {
        self.matching(matchers, mint_ms, maxt_ms)
    }

    /// Deletes each listed series' samples in `[mint_ms, maxt_ms]` (WAL replay of a
    /// tombstones record); ids past the head are ignored.
    pub fn delete_ranges(&mut self, stones: &[(SeriesId, i64, i64)]) {
        let mut removed = 0;
        for &(id, mint_ms, maxt_ms) in stones {
            if let Some(s) = self.series.get_mut(id as usize) {
                removed += s.delete_range(mint_ms, maxt_ms);
            }
        }
        if removed > 0 {
            self.samples = self.samples.saturating_sub(removed as u64);
            self.recompute_time_range();
            self.empty_series = self.series.iter().filter(|s| s.is_empty()).count();
        }
    }

    /// After a delete, so a cut never computes its range from samples that are gone.
    fn recompute_time_range(&mut self) {
        let (mut min_t, mut max_t) = (i64::MAX, i64::MIN);
        for (lo, hi) in self.series.iter().filter_map(MemSeries::time_range) {
            min_t = min_t.min(lo);
            max_t = max_t.max(hi);
        }
        (self.min_t, self.max_t) = (min_t, max_t);
    }

    /// The newest timestamp series `id` holds a sample (float or histogram) at, `None` when
    /// it holds none (or there is no such series).
    pub fn newest_timestamp(&self, id: SeriesId) -> Option<i64> {
        self.series.get(id as usize)?.time_range().map(|(_, newest)| newest)
    }

    pub fn labels_of(&self, id: SeriesId) -> Labels {
        self.series[id as usize].labels()
    }

    /// Ids matching all matchers whose samples overlap `[mint_ms, maxt_ms]`.
    fn matching(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesId> {
        self.index
            .select(matchers)
            .into_iter()
            .filter(|id| self.series[*id as usize].overlaps(mint_ms, maxt_ms))
            .collect()
    }

    pub fn select(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
        self.matching(matchers, mint_ms, maxt_ms).into_iter().filter_map(|id| self.read_series(id, mint_ms, maxt_ms)).collect()
    }

    /// `select` answered encoded (`EncodedSeries`: chunks wholly in the range copied, not
    /// decoded; see `MemSeries::encoded_in`), pausing
    /// after every `SELECT_SERIES_PER_PAUSE` series read: it calls `pause`, then yields if
    /// glommio asks for it (`yield_if_needed`: another core woke this executor, e.g. with a
    /// request or a reply its tasks wait for, or the time slice is spent), so other tasks
    /// and the caller's short reads run in the middle of a long select.
    ///
    /// It stops and returns `None` as soon as the series read hold more than
    /// `sample_limit` samples (counted from chunk headers, never more than decoding finds):
    /// a query past its sample limit stops costing the shard there.
    pub async fn select_yielding(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        sample_limit: usize,
        last_only: bool,
        pause: &mut dyn FnMut(),
    ) -> Option<Vec<EncodedSeries>> {
        let matching = self.matching(matchers, mint_ms, maxt_ms);
        let read = |id: SeriesId| {
            let s = &self.series[id as usize];
            let part = if last_only { s.encoded_last_in(mint_ms, maxt_ms) } else { s.encoded_in(mint_ms, maxt_ms) };
            (!part.is_empty()).then(|| EncodedSeries { labels: s.labels(), parts: vec![part] })
        };
        crate::read_within_limit(matching, read, (mint_ms, maxt_ms), sample_limit, pause).await
    }

    /// Series `id`'s samples in the range, `None` when it has none there.
    fn read_series(&self, id: SeriesId, mint_ms: i64, maxt_ms: i64) -> Option<SeriesSamples> {
        let s = &self.series[id as usize];
        let (samples, float_starts) = s.samples_with_starts_in(mint_ms, maxt_ms);
        let (histograms, histogram_starts) = s.histograms_with_starts_in(mint_ms, maxt_ms);
        let starts = SampleStarts::answer(float_starts, histogram_starts, samples.len(), histograms.len());
        (!samples.is_empty() || !histograms.is_empty()).then(|| SeriesSamples { labels: s.labels(), samples, histograms, starts })
    }

    pub fn series(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<Labels> {
        self.matching(matchers, mint_ms, maxt_ms)
            .into_iter()
            .map(|id| self.labels_of(id))
            .collect()
    }

    /// How a listing of matching series with samples in the range is answered: without
    /// matchers when every series lies inside the range, from the index alone; with matchers
    /// selecting few series, from those series' labels; otherwise from the postings, each
    /// name or value kept at its first such series, so the cost follows the names and values,
    /// not the series (see `listing_by_series`).
    fn listing(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Listing {
        if matchers.is_empty() && self.all_in_range(mint_ms, maxt_ms) {
            return Listing::Everything;
        }
        let matched = (!matchers.is_empty()).then(|| self.index.select(matchers));
        match matched {
            Some(ids) if listing_by_series(ids.len()) => Listing::Series(self.in_range(&ids, mint_ms, maxt_ms).collect()),
            matched => Listing::Postings(matched),
        }
    }

    /// Label names of matching series with samples in the range (see `listing`).
    pub fn label_names(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<String> {
        let mut names: Vec<String> = match self.listing(matchers, mint_ms, maxt_ms) {
            Listing::Everything => return self.index.label_names().into_iter().map(str::to_string).collect(),
            Listing::Series(ids) => {
                let mut seen: HashSet<&str> = HashSet::new();
                ids.iter().flat_map(|id| self.series[*id as usize].labels.iter()).filter(|label| seen.insert(label.name)).map(|label| label.name.to_string()).collect()
            }
            Listing::Postings(matched) => self
                .index
                .postings_by_name()
                .filter(|(_, values)| values.iter().any(|(_, ids)| self.any_in_range(ids, matched.as_deref(), mint_ms, maxt_ms)))
                .map(|(name, _)| name.to_string())
                .collect(),
        };
        names.sort_unstable();
        names
    }

    /// Values of label `name` among matching series with samples in the range (see
    /// `listing`).
    pub fn label_values(&self, name: &str, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<String> {
        let mut values: Vec<String> = match self.listing(matchers, mint_ms, maxt_ms) {
            Listing::Everything => return self.index.label_values(name).into_iter().map(str::to_string).collect(),
            Listing::Series(ids) => return self.values_among(&ids, name, ""),
            Listing::Postings(matched) => self
                .index
                .postings_of(name)
                .filter(|(_, ids)| self.any_in_range(ids, matched.as_deref(), mint_ms, maxt_ms))
                .map(|(value, _)| value.to_string())
                .collect(),
        };
        values.sort_unstable();
        values
    }

    /// The children of `prefix` among the values of label `name` read as paths split at
    /// `delimiter` (`index::children`), counting matching series with samples in the range
    /// (see `listing`).
    pub fn label_value_children(&self, name: &str, prefix: &str, delimiter: char, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<String> {
        let matched = match self.listing(matchers, mint_ms, maxt_ms) {
            Listing::Everything => return children_of_sorted(&self.index.sorted_values(name), prefix, delimiter),
            Listing::Series(ids) => return children_of_list(&self.values_among(&ids, name, prefix), prefix, delimiter),
            Listing::Postings(matched) => matched,
        };
        let sorted = self.index.sorted_values(name);
        let seek = |from: &str| sorted.first_from(from);
        let live = |value: &str, _| {
            Ok::<bool, std::convert::Infallible>(self.any_in_range(self.index.postings(name, value), matched.as_deref(), mint_ms, maxt_ms))
        };
        children(prefix, delimiter, seek, live).unwrap_or_else(|never| match never {})
    }

    /// The values of label `name` starting with `prefix` among series `ids`, sorted, each once.
    fn values_among(&self, ids: &[SeriesId], name: &str, prefix: &str) -> Vec<String> {
        let mut values: Vec<String> = ids.iter().filter_map(|id| self.series[*id as usize].labels.get(name).filter(|v| v.starts_with(prefix)).map(str::to_string)).collect();
        values.sort_unstable();
        values.dedup();
        values
    }

    fn in_range<'a>(&'a self, ids: &'a [SeriesId], mint_ms: i64, maxt_ms: i64) -> impl Iterator<Item = SeriesId> + 'a {
        ids.iter().copied().filter(move |id| self.series[*id as usize].overlaps(mint_ms, maxt_ms))
    }

    fn any_in_range(&self, ids: &[SeriesId], within: Option<&[SeriesId]>, mint_ms: i64, maxt_ms: i64) -> bool {
        let live = |id: SeriesId| Ok::<bool, std::convert::Infallible>(self.series[id as usize].overlaps(mint_ms, maxt_ms));
        matches!(any_live(ids.iter().copied(), within, live), Ok(true))
    }

    /// True when every series lies inside the range (so listing can use the index alone):
    /// from the head's bounds, without visiting the series.
    fn all_in_range(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        let all = self.empty_series == 0 && self.min_t >= mint_ms && self.max_t <= maxt_ms;
        debug_assert_eq!(all, self.series.iter().all(|s| s.within(mint_ms, maxt_ms)), "head bounds and empty-series count are current");
        all
    }
}

/// How the head answers a label listing (`Head::listing`).
enum Listing {
    /// Every name or value in the index counts.
    Everything,
    /// The few matched series with samples in the range, whose labels are the answer.
    Series(Vec<SeriesId>),
    /// Each name or value counts when a series of its postings (restricted to the matched
    /// ones, when there are matchers) has samples in the range.
    Postings(Option<Vec<SeriesId>>),
}

/// The part of a stable label hash that `Head::by_hash` keeps: its upper 32 bits.
fn hash_key(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// What `Head::by_hash` is hashed by, from a key alone: the key in both halves, so the
/// table's bucket (low bits) and tag (top bits) each come from a well-mixed part of it.
fn table_hash(key: u32) -> u64 {
    (u64::from(key) << 32) | u64::from(key)
}

#[cfg(test)]
mod tests;
