//! An opened, immutable block: meta, index, chunk segments and tombstones, read through the
//! shard's page cache. Answers select/series/label queries with the same matcher semantics
//! as the head.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::chunks_format::ChunkReader;
use super::index_format::{ChunkMeta, IndexReader, IndexSeries};
use super::meta::BlockMeta;
use super::page_cache::{PageCache, PAGE_CACHE_BYTES_DEFAULT};
use super::tombstones::Tombstones;
use super::writer::{BlockSeries, CHUNKS_DIRNAME, INDEX_FILENAME};
use crate::chunk::{decode_chunk_kept, decode_chunk_kept_with_starts, ChunkEncoding};
use crate::encoded::{EncodedChunk, EncodedPart, EncodedSeries};
use crate::error::Error;
use crate::index::children::{children, children_of_list};
use crate::index::{any_live, difference, intersect, listing_by_series, union_all};
use crate::model::{HistogramSample, Labels, MatchOp, Matcher, Sample, SampleStarts, SeriesSamples};

/// The values of label `name` starting with `prefix` among `series`, sorted, each once.
fn values_among(series: &[IndexSeries], name: &str, prefix: &str) -> Vec<String> {
    let found: BTreeSet<String> = series.iter().filter_map(|s| s.labels.get(name).filter(|v| v.starts_with(prefix)).map(str::to_string)).collect();
    found.into_iter().collect()
}

/// How a block answers a label listing (`Block::listing`).
enum Listing {
    /// Every name or value in the index counts.
    Everything,
    /// The block has no data in the range.
    Nothing,
    /// The few matched series with data in the range, whose labels are the answer.
    Series(Vec<IndexSeries>),
    /// Each name or value counts when a series of its postings (restricted to the matched
    /// ones, when there are matchers) has a live chunk in the range.
    Postings(Option<Vec<u32>>),
}

pub struct Block {
    dir: PathBuf,
    pub meta: BlockMeta,
    /// Only the symbols and the postings offset table are held in memory (read once at open
    /// with O_DIRECT); series entries and postings lists are read on demand through the
    /// shard's page cache.
    index: IndexReader,
    /// Chunk segments, read one chunk at a time through the same cache.
    chunks: ChunkReader,
    /// Deleted intervals, filtered out of every read.
    tombstones: Tombstones,
}

impl Block {
    /// Opens a block with a page cache of its own (tools and tests; a shard opens its
    /// blocks with `open_in` so that they share one bounded cache).
    pub fn open(dir: &Path) -> Result<Block, Error> {
        Block::open_in(dir, &PageCache::new(PAGE_CACHE_BYTES_DEFAULT))
    }

    /// Opens a block whose index and chunk reads go through `cache`; its pages leave the
    /// cache when the block is dropped (or when opening it fails).
    pub fn open_in(dir: &Path, cache: &Rc<PageCache>) -> Result<Block, Error> {
        let meta = BlockMeta::read(dir)?;
        // One cache identity for the block's files: the index is file `INDEX_CACHE_FILE`,
        // chunk segments 0, 1, …
        let identity = cache.register_block();
        let index = IndexReader::open(&dir.join(INDEX_FILENAME), cache, identity)?;
        let chunks = ChunkReader::open(&dir.join(CHUNKS_DIRNAME), cache, identity)?;
        let tombstones = Tombstones::read(dir)?;
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            index,
            chunks,
            tombstones,
        })
    }

    /// The block's bytes on disk (index, chunks, tombstones, meta), read now: tombstones
    /// change it.
    pub fn size_bytes(&self) -> u64 {
        super::dir_bytes(&self.dir)
    }

    /// True when some data of this block is deleted but still on disk.
    pub fn has_tombstones(&self) -> bool {
        !self.tombstones.is_empty()
    }

    /// Marks the samples in `[mint_ms, maxt_ms]` of every matching series deleted and
    /// rewrites the `tombstones` file (atomically) before returning. Intervals are clamped to
    /// each series' data, as Prometheus does. Returns the number of series affected.
    pub fn delete(&mut self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Result<usize, Error> {
        let mut next = self.tombstones.clone();
        let mut affected = 0;
        for id in self.matching_ids(matchers)? {
            let s = self.index.series(id)?;
            let (Some(first), Some(last)) = (s.chunks.first(), s.chunks.last()) else {
                continue;
            };
            let overlaps = s.chunks.iter().any(|c| c.max_time_ms >= mint_ms && c.min_time_ms <= maxt_ms);
            if !overlaps {
                continue;
            }
            let lo = mint_ms.max(first.min_time_ms);
            let hi = maxt_ms.min(last.max_time_ms);
            if Tombstones::covers(next.intervals(id), lo, hi) {
                continue;
            }
            next.add(id, lo, hi);
            affected += 1;
        }
        if affected > 0 {
            next.write(&self.dir)?;
            self.tombstones = next;
        }
        Ok(affected)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn index_error(&self, message: String) -> Error {
        Error::corrupt(self.dir.join(INDEX_FILENAME), message)
    }

    fn postings_where(&self, name: &str, accept: impl Fn(&str) -> bool) -> Result<Vec<u32>, Error> {
        let Some(values) = self.index.label_postings().get(name) else {
            return Ok(Vec::new());
        };
        let mut lists = Vec::new();
        for (value, offset) in values {
            if accept(value) {
                lists.push(self.index.postings_at(*offset)?);
            }
        }
        Ok(union_all(lists.iter().map(Vec::as_slice)))
    }

    /// Series ids satisfying every matcher (Prometheus semantics: a matcher accepting ""
    /// also selects series without the label).
    fn matching_ids(&self, matchers: &[Matcher]) -> Result<Vec<u32>, Error> {
        // The all-series list (the longest) is read only when a first matcher accepts ""
        // or there is no matcher; after another matcher, removing suffices.
        let mut result: Option<Vec<u32>> = None;
        for m in matchers {
            let next = if m.matches_empty() {
                let rejected = self.postings_where(&m.name, |v| !m.matches(v))?;
                match &result {
                    Some(acc) => difference(acc, &rejected),
                    None => difference(&self.index.all_series()?, &rejected),
                }
            } else {
                let ids = if m.op == MatchOp::Equal {
                    self.postings_where(&m.name, |v| v == m.value)?
                } else {
                    self.postings_where(&m.name, |v| m.matches(v))?
                };
                match &result {
                    None => ids,
                    Some(acc) => intersect(acc, &ids),
                }
            };
            let empty = next.is_empty();
            result = Some(next);
            if empty {
                break;
            }
        }
        match result {
            Some(ids) => Ok(ids),
            None => self.index.all_series(),
        }
    }

    /// Matching series that have a chunk overlapping `[mint_ms, maxt_ms]`.
    fn matching_series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<(u32, IndexSeries)>, Error> {
        if !self.meta.overlaps(mint_ms, maxt_ms) {
            return Ok(Vec::new());
        }
        self.series_in_range(&self.matching_ids(matchers)?, mint_ms, maxt_ms)
    }

    /// The series of `ids` with a chunk overlapping `[mint_ms, maxt_ms]` that is not wholly
    /// deleted, keeping only those chunks.
    fn series_in_range(&self, ids: &[u32], mint_ms: i64, maxt_ms: i64) -> Result<Vec<(u32, IndexSeries)>, Error> {
        let mut out = Vec::new();
        for &id in ids {
            let mut s = self.index.series(id)?;
            let deleted = self.tombstones.intervals(id);
            s.chunks.retain(|c| chunk_live(c, deleted, mint_ms, maxt_ms));
            if !s.chunks.is_empty() {
                out.push((id, s));
            }
        }
        Ok(out)
    }

    /// True when series `id` has a chunk in `[mint_ms, maxt_ms]` that is not wholly deleted;
    /// reads the chunk metas only.
    fn has_live_chunk(&self, id: u32, mint_ms: i64, maxt_ms: i64) -> Result<bool, Error> {
        let deleted = self.tombstones.intervals(id);
        let chunks = self.index.series_chunks(id)?;
        Ok(chunks.iter().any(|c| chunk_live(c, deleted, mint_ms, maxt_ms)))
    }

    /// Whether some series of the postings list at `offset` (restricted to `within`) has a
    /// live chunk in the range.
    fn postings_live(&self, offset: u64, within: Option<&[u32]>, mint_ms: i64, maxt_ms: i64) -> Result<bool, Error> {
        // Decoded lazily: a value is usually kept at the first series of its list.
        let mut previous: Option<u32> = None;
        let mut in_order = true;
        let ids = self.index.postings_ids(offset)?.take_while(|&id| {
            in_order = previous.is_none_or(|p| p < id);
            previous = Some(id);
            in_order
        });
        let live = any_live(ids, within, |id| self.has_live_chunk(id, mint_ms, maxt_ms))?;
        if !in_order {
            return Err(self.index_error(format!("postings at {offset} are not increasing")));
        }
        Ok(live)
    }

    /// The matching ids when there are matchers; `None` (every series) when there are none.
    fn listing_candidates(&self, matchers: &[Matcher]) -> Result<Option<Vec<u32>>, Error> {
        if matchers.is_empty() {
            return Ok(None);
        }
        self.matching_ids(matchers).map(Some)
    }

    /// Series with their samples in `[mint_ms, maxt_ms]`, in label order. A series whose
    /// chunk is damaged is reported and left out; the other series are still answered.
    pub fn select(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<SeriesSamples>, Error> {
        Ok(self.matching_series(matchers, mint_ms, maxt_ms)?.into_iter().filter_map(|(id, s)| self.read_series(id, s, mint_ms, maxt_ms)).collect())
    }

    /// `select` answered encoded (chunks wholly in the range read, not decoded, with the
    /// series' deleted intervals; see `encoded_series`), pausing after every `SELECT_SERIES_PER_PAUSE` series read and stopping
    /// with `Ok(None)` past `sample_limit` samples (see `Head::select_yielding`). A series
    /// whose chunk cannot be read is reported and left out.
    pub async fn select_yielding(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
        sample_limit: usize,
        pause: &mut dyn FnMut(),
    ) -> Result<Option<Vec<EncodedSeries>>, Error> {
        let matching = self.matching_series(matchers, mint_ms, maxt_ms)?;
        Ok(crate::read_within_limit(matching, |(id, s)| self.encoded_series(id, s, mint_ms, maxt_ms), (mint_ms, maxt_ms), sample_limit, pause).await)
    }

    /// Series `id` with the chunks `s` names (already those live in the range): those wholly
    /// inside `[mint_ms, maxt_ms]` encoded, the others' samples in the range decoded (deleted
    /// ones left out). `None` when a chunk cannot be read or decoded (reported), or when
    /// nothing is left.
    fn encoded_series(&self, id: u32, s: IndexSeries, mint_ms: i64, maxt_ms: i64) -> Option<EncodedSeries> {
        let deleted = self.tombstones.intervals(id);
        let mut part = EncodedPart { deleted: deleted.to_vec(), ..EncodedPart::default() };
        for c in &s.chunks {
            let (encoding, bytes) = match self.chunks.read_chunk(c.chunk_ref) {
                Ok(chunk) => chunk,
                Err(error) => {
                    tracing::error!(series = %s.labels, %error, "damaged chunk; series left out of the answer");
                    return None;
                }
            };
            if c.min_time_ms >= mint_ms && c.max_time_ms <= maxt_ms {
                part.chunks.push(EncodedChunk { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms, encoding, bytes: bytes.into() });
                continue;
            }
            let keep = |t: i64| t >= mint_ms && t <= maxt_ms && !Tombstones::is_deleted(deleted, t);
            // A series with start times keeps its decoded samples' starts parallel to them.
            let with_starts = encoding.has_start_times() || !part.sample_starts.is_empty() || !part.histogram_starts.is_empty();
            if with_starts {
                part.sample_starts.resize(part.samples.len(), 0);
                part.histogram_starts.resize(part.histograms.len(), 0);
            }
            let decoded = if with_starts {
                decode_chunk_kept_with_starts(encoding, &bytes, (&mut part.samples, &mut part.sample_starts), (&mut part.histograms, &mut part.histogram_starts), keep)
            } else {
                decode_chunk_kept(encoding, &bytes, &mut part.samples, &mut part.histograms, keep)
            };
            if !decoded {
                tracing::error!(series = %s.labels, chunk = c.chunk_ref, "damaged chunk; series left out of the answer");
                return None;
            }
        }
        (!part.is_empty()).then(|| EncodedSeries { labels: s.labels, parts: vec![part] })
    }

    /// Series `id`'s samples in the range; `None` when it has none there, or when a chunk
    /// is damaged (reported).
    fn read_series(&self, id: u32, s: IndexSeries, mint_ms: i64, maxt_ms: i64) -> Option<SeriesSamples> {
        match self.samples_of(id, &s, mint_ms, maxt_ms) {
            Ok((samples, histograms, _)) if samples.is_empty() && histograms.is_empty() => None,
            Ok((samples, histograms, starts)) => Some(SeriesSamples { labels: s.labels, samples, histograms, starts }),
            Err(error) => {
                tracing::error!(series = %s.labels, %error, "damaged chunk; series left out of the answer");
                None
            }
        }
    }

    fn samples_of(
        &self,
        id: u32,
        s: &IndexSeries,
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<crate::merge::StartedSource, Error> {
        let mut samples: Vec<Sample> = Vec::new();
        let mut histograms: Vec<HistogramSample> = Vec::new();
        // Kept parallel to the two lists from the first chunk with start times on.
        let (mut float_starts, mut histogram_starts): (Option<Vec<i64>>, Option<Vec<i64>>) = (None, None);
        let deleted = self.tombstones.intervals(id);
        for c in &s.chunks {
            let (encoding, bytes) = self.chunks.read_chunk(c.chunk_ref)?;
            let keep = |t: i64| t >= mint_ms && t <= maxt_ms && !Tombstones::is_deleted(deleted, t);
            if encoding.has_start_times() && float_starts.is_none() {
                float_starts = Some(vec![0; samples.len()]);
                histogram_starts = Some(vec![0; histograms.len()]);
            }
            let decoded = match (&mut float_starts, &mut histogram_starts) {
                (Some(float_starts), Some(histogram_starts)) => {
                    decode_chunk_kept_with_starts(encoding, &bytes, (&mut samples, float_starts), (&mut histograms, histogram_starts), keep)
                }
                _ => decode_chunk_kept(encoding, &bytes, &mut samples, &mut histograms, keep),
            };
            if !decoded {
                return Err(Error::corrupt(
                    self.dir.join(CHUNKS_DIRNAME),
                    format!("{encoding:?} chunk {:#x} of {} is malformed", c.chunk_ref, s.labels),
                ));
            }
        }
        let starts = SampleStarts::answer(float_starts, histogram_starts, samples.len(), histograms.len());
        Ok((samples, histograms, starts))
    }

    /// Every series with all its samples and histograms not deleted, for rewriting the
    /// block; unlike `select`, a damaged chunk is an error (a rewrite must not drop data
    /// silently).
    pub fn live_series(&self) -> Result<Vec<BlockSeries>, Error> {
        let mut out = Vec::new();
        for (id, s) in self.matching_series(&[], i64::MIN, i64::MAX)? {
            let (samples, histograms, starts) = self.samples_of(id, &s, i64::MIN, i64::MAX)?;
            if !samples.is_empty() || !histograms.is_empty() {
                out.push(BlockSeries { labels: s.labels, chunks: Vec::new(), samples, histograms, starts });
            }
        }
        Ok(out)
    }

    pub fn series(
        &self,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>, Error> {
        Ok(self
            .matching_series(matchers, mint_ms, maxt_ms)?
            .into_iter()
            .map(|(_, s)| s.labels)
            .collect())
    }

    /// True when the whole block is in the range and nothing is deleted, so listings can
    /// come from the index alone.
    fn covers(&self, mint_ms: i64, maxt_ms: i64) -> bool {
        self.tombstones.is_empty()
            && self.meta.min_time_ms >= mint_ms && self.meta.max_time_ms - 1 <= maxt_ms
    }

    /// How a listing of matching series with data in the range is answered: without
    /// matchers over a block wholly inside the range, from the index alone; with matchers
    /// selecting few series, from those series' labels; otherwise from the postings, each
    /// name or value kept at its first series with a live chunk there, so only a few series
    /// are read.
    fn listing(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Result<Listing, Error> {
        if matchers.is_empty() && self.covers(mint_ms, maxt_ms) {
            return Ok(Listing::Everything);
        }
        if !self.meta.overlaps(mint_ms, maxt_ms) {
            return Ok(Listing::Nothing);
        }
        let matched = self.listing_candidates(matchers)?;
        if let Some(ids) = matched.as_deref().filter(|ids| listing_by_series(ids.len())) {
            return Ok(Listing::Series(self.series_in_range(ids, mint_ms, maxt_ms)?.into_iter().map(|(_, s)| s).collect()));
        }
        Ok(Listing::Postings(matched))
    }

    /// Label names of matching series with data in the range (see `listing`).
    pub fn label_names(&self, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Result<Vec<String>, Error> {
        let matched = match self.listing(matchers, mint_ms, maxt_ms)? {
            Listing::Everything => return Ok(self.index.label_postings().keys().cloned().collect()),
            Listing::Nothing => return Ok(Vec::new()),
            Listing::Series(series) => {
                let names: BTreeSet<String> = series.iter().flat_map(|s| s.labels.iter().map(|l| l.name.to_string())).collect();
                return Ok(names.into_iter().collect());
            }
            Listing::Postings(matched) => matched,
        };
        let mut names = Vec::new();
        for (name, values) in self.index.label_postings() {
            for offset in values.values() {
                if self.postings_live(*offset, matched.as_deref(), mint_ms, maxt_ms)? {
                    names.push(name.clone());
                    break;
                }
            }
        }
        Ok(names)
    }

    /// Values of label `name` among matching series with data in the range (see `listing`).
    pub fn label_values(&self, name: &str, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Result<Vec<String>, Error> {
        let Some(values) = self.index.label_postings().get(name) else {
            return Ok(Vec::new());
        };
        let matched = match self.listing(matchers, mint_ms, maxt_ms)? {
            Listing::Everything => return Ok(values.keys().cloned().collect()),
            Listing::Nothing => return Ok(Vec::new()),
            Listing::Series(series) => return Ok(values_among(&series, name, "")),
            Listing::Postings(matched) => matched,
        };
        let mut found = Vec::new();
        for (value, offset) in values {
            if self.postings_live(*offset, matched.as_deref(), mint_ms, maxt_ms)? {
                found.push(value.clone());
            }
        }
        Ok(found)
    }

    /// The children of `prefix` among the values of label `name` read as paths split at
    /// `delimiter` (`index::children`), counting matching series with data in the range
    /// (see `listing`).
    pub fn label_value_children(&self, name: &str, prefix: &str, delimiter: char, matchers: &[Matcher], mint_ms: i64, maxt_ms: i64) -> Result<Vec<String>, Error> {
        let Some(values) = self.index.label_postings().get(name) else {
            return Ok(Vec::new());
        };
        let seek = |from: &str| values.range::<str, _>((Bound::Included(from), Bound::Unbounded)).next().map(|(v, offset)| (v.as_str(), *offset));
        match self.listing(matchers, mint_ms, maxt_ms)? {
            Listing::Everything => children(prefix, delimiter, seek, |_, _| Ok(true)),
            Listing::Nothing => Ok(Vec::new()),
            Listing::Series(series) => Ok(children_of_list(&values_among(&series, name, prefix), prefix, delimiter)),
            Listing::Postings(matched) => children(prefix, delimiter, seek, |_, offset| self.postings_live(offset, matched.as_deref(), mint_ms, maxt_ms)),
        }
    }
}

/// A chunk overlapping `[mint_ms, maxt_ms]` that the series' deleted intervals do not
/// wholly cover.
fn chunk_live(c: &ChunkMeta, deleted: &[(i64, i64)], mint_ms: i64, maxt_ms: i64) -> bool {
    c.max_time_ms >= mint_ms && c.min_time_ms <= maxt_ms && !Tombstones::covers(deleted, c.min_time_ms, c.max_time_ms)
}

/// Raw access for compaction (`compact.rs`): series in label order, their chunk metas, the
/// encoded chunks and the deleted intervals.
impl Block {
    /// Every series id, in label order (ids grow with the sorted series' offsets).
    pub(crate) fn series_ids(&self) -> Result<Vec<u32>, Error> {
        self.index.all_series()
    }

    pub(crate) fn index_series(&self, id: u32) -> Result<IndexSeries, Error> {
        self.index.series(id)
    }

    pub(crate) fn read_chunk(&self, chunk_ref: u64) -> Result<(ChunkEncoding, Vec<u8>), Error> {
        self.chunks.read_chunk(chunk_ref)
    }

    pub fn tombstones(&self) -> &Tombstones {
        &self.tombstones
    }
}
