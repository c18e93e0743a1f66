//! The block `index` file, Prometheus index format v2 (`tsdb/docs/block.md`): symbol
//! table, 16-byte-aligned series (id = offset / 16) with delta-encoded chunk metas, label
//! indices, postings (incl. the all-series `""=""` list), label and postings offset
//! tables and the TOC, every section checksummed with CRC32C. Encoding builds the file in
//! memory. The reader keeps resident only the decoded symbols, the decoded
//! postings offset table (label name → value → offset, which also answers label listings)
//! and the all-series postings offset, read at open as exact ranges that bypass the page
//! cache; series entries and postings lists are read on demand through the block's page
//! cache (file `INDEX_CACHE_FILE`), every read bounds- and checksum-checked. `new` reads an
//! index held in memory instead (tests, fuzzing).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::encoding::{crc32c, section_be32, section_uvarint, Decoder, Encoder};
use super::page_cache::{CachedFile, PageCache};
use super::writer::INDEX_FILENAME;
use crate::error::Error;
use crate::model::Labels;

pub const MAGIC_INDEX: u32 = 0xBAAA_D700;
pub const INDEX_VERSION_2: u8 = 2;
/// Series entries are aligned so that a 4-byte id (`offset / 16`) addresses 64 GiB.
pub const SERIES_ALIGN_BYTES: usize = 16;
const TOC_BYTES: usize = 6 * 8 + 4;
const HEADER_BYTES: usize = 5;

/// Where one chunk of a series lives and which samples it spans (both bounds inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    /// `segment index << 32 | offset in the segment` (segment index 0 is `chunks/000001`).
    pub chunk_ref: u64,
}

/// A series as stored in the index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSeries {
    pub labels: Labels,
    pub chunks: Vec<ChunkMeta>,
}

/// Encodes an index for `series`, which must be sorted by labels with increasing chunk refs.
pub fn encode_index(series: &[IndexSeries]) -> Vec<u8> {
    debug_assert!(
        series.windows(2).all(|w| w[0].labels < w[1].labels),
        "index series are sorted and unique"
    );
    let mut symbol_set: BTreeSet<&str> = BTreeSet::new();
    for s in series {
        for l in s.labels.iter() {
            symbol_set.insert(l.name);
            symbol_set.insert(l.value);
        }
    }
    let symbols: Vec<&str> = symbol_set.into_iter().collect();
    let symbol_ref: HashMap<&str, u32> = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, i as u32))
        .collect();

    let mut e = Encoder::default();
    e.put_be32(MAGIC_INDEX);
    e.put_u8(INDEX_VERSION_2);

    // Symbol table.
    let toc_symbols = e.len();
    e.put_be32(0);
    e.put_be32(symbols.len() as u32);
    for s in &symbols {
        e.put_uvarint_str(s);
    }
    let len = e.len() - toc_symbols - 4;
    e.set_be32(toc_symbols, len as u32);
    e.put_crc_from(toc_symbols + 4);

    // Series.
    let toc_series = e.len();
    // label name -> label value -> series ids
    let mut postings: BTreeMap<&str, BTreeMap<&str, Vec<u32>>> = BTreeMap::new();
    let mut all_ids = Vec::with_capacity(series.len());
    for s in series {
        e.pad_to(SERIES_ALIGN_BYTES);
        let id = (e.len() / SERIES_ALIGN_BYTES) as u32;
        all_ids.push(id);
        let mut body = Encoder::default();
        body.put_uvarint(s.labels.len() as u64);
        for l in s.labels.iter() {
            body.put_uvarint(u64::from(symbol_ref[l.name]));
            body.put_uvarint(u64::from(symbol_ref[l.value]));
            postings
                .entry(l.name)
                .or_default()
                .entry(l.value)
                .or_default()
                .push(id);
        }
        body.put_uvarint(s.chunks.len() as u64);
        if let Some(first) = s.chunks.first() {
            body.put_varint(first.min_time_ms);
            body.put_uvarint((first.max_time_ms - first.min_time_ms) as u64);
            body.put_uvarint(first.chunk_ref);
            let (mut prev_maxt, mut prev_ref) = (first.max_time_ms, first.chunk_ref);
            for c in &s.chunks[1..] {
                body.put_uvarint((c.min_time_ms - prev_maxt) as u64);
                body.put_uvarint((c.max_time_ms - c.min_time_ms) as u64);
                body.put_varint(c.chunk_ref as i64 - prev_ref as i64);
                prev_maxt = c.max_time_ms;
                prev_ref = c.chunk_ref;
            }
        }
        e.put_uvarint(body.len() as u64);
        let start = e.len();
        e.bytes.extend_from_slice(&body.bytes);
        e.put_crc_from(start);
    }

    // Label indices (one per label name; kept for readers of the older layout).
    e.pad_to(4);
    let toc_label_indices = e.len();
    let mut label_index_offsets = Vec::with_capacity(postings.len());
    for (name, values) in &postings {
        e.pad_to(4);
        label_index_offsets.push((*name, e.len() as u64));
        let start = e.len();
        e.put_be32(0);
        e.put_be32(1);
        e.put_be32(values.len() as u32);
        for value in values.keys() {
            e.put_be32(symbol_ref[value]);
        }
        e.set_be32(start, (e.len() - start - 4) as u32);
        e.put_crc_from(start + 4);
    }

    // Postings, the all-series list first.
    e.pad_to(4);
    let toc_postings = e.len();
    let mut postings_offsets: Vec<(&str, &str, u64)> = Vec::new();
    let all_list = [("", "", all_ids.as_slice())];
    let lists = all_list.into_iter().chain(
        postings
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |(v, ids)| (*n, *v, ids.as_slice()))),
    );
    for (name, value, ids) in lists {
        e.pad_to(4);
        postings_offsets.push((name, value, e.len() as u64));
        let start = e.len();
        e.put_be32((4 + 4 * ids.len()) as u32);
        e.put_be32(ids.len() as u32);
        for id in ids {
            e.put_be32(*id);
        }
        e.put_crc_from(start + 4);
    }

    // Label offset table.
    let toc_label_table = e.len();
    e.put_be32(0);
    e.put_be32(label_index_offsets.len() as u32);
    for (name, offset) in &label_index_offsets {
        e.put_u8(1);
        e.put_uvarint_str(name);
        e.put_uvarint(*offset);
    }
    e.set_be32(toc_label_table, (e.len() - toc_label_table - 4) as u32);
    e.put_crc_from(toc_label_table + 4);

    // Postings offset table.
    let toc_postings_table = e.len();
    e.put_be32(0);
    e.put_be32(postings_offsets.len() as u32);
    for (name, value, offset) in &postings_offsets {
        e.put_u8(2);
        e.put_uvarint_str(name);
        e.put_uvarint_str(value);
        e.put_uvarint(*offset);
    }
    e.set_be32(
        toc_postings_table,
        (e.len() - toc_postings_table - 4) as u32,
    );
    e.put_crc_from(toc_postings_table + 4);

    // TOC.
    let toc_start = e.len();
    for offset in [
        toc_symbols,
        toc_series,
        toc_label_indices,
        toc_label_table,
        toc_postings,
        toc_postings_table,
    ] {
        e.put_be64(offset as u64);
    }
    e.put_crc_from(toc_start);
    e.bytes
}

/// The index's file number within its block's page cache identity; chunk segments are
/// numbered from 0, so index pages never share a key with chunk pages.
pub const INDEX_CACHE_FILE: u32 = u32::MAX;
/// Bytes read through the cache for a series entry or postings list before its length is
/// known: most series entries (a few labels, a few chunk metas) and postings lists of
/// values held by a few series fit, so one cache read serves them; longer ones take a
/// second read.
const READ_AHEAD_BYTES: usize = 256;

/// Where the index's bytes come from.
enum Source {
    /// The whole file in memory (tests, fuzzing).
    Memory(Vec<u8>),
    /// The file on disk, read through the block's page cache.
    Cached(CachedIndex),
}

/// An index file opened through a page cache. Dropping it drops the pages of its block
/// (the block is going away, or its open failed).
struct CachedIndex {
    cache: Rc<PageCache>,
    file: CachedFile,
}

impl Drop for CachedIndex {
    fn drop(&mut self) {
        self.cache.invalidate_block(self.file.block());
    }
}

impl Source {
    fn len_bytes(&self) -> u64 {
        match self {
            Source::Memory(bytes) => bytes.len() as u64,
            Source::Cached(c) => c.file.size_bytes(),
        }
    }

    /// Up to `len` bytes at `offset`: fewer where the file ends first, none past its end.
    /// `cached` reads go through the page cache, the others straight to the file.
    fn window(&self, offset: u64, len: usize, cached: bool) -> Result<Cow<'_, [u8]>, Error> {
        let n = self.len_bytes().saturating_sub(offset).min(len as u64) as usize;
        match self {
            Source::Memory(bytes) => {
                let at = if n == 0 { 0 } else { offset as usize };
                Ok(Cow::Borrowed(&bytes[at..at + n]))
            }
            Source::Cached(c) if cached => {
                let mut buf = vec![0u8; n];
                if n > 0 {
                    c.cache.read(&c.file, offset, &mut buf)?;
                }
                Ok(Cow::Owned(buf))
            }
            Source::Cached(c) => Ok(Cow::Owned(c.cache.read_uncached(&c.file, offset, n)?)),
        }
    }
}

/// A decoded view of an index file. Resident: the symbols, the postings offset table
/// (label name → value → postings offset) and the all-series postings offset; series
/// entries and postings lists are read when asked for (through the page cache when the
/// index is opened with `open`).
pub struct IndexReader {
    path: PathBuf,
    source: Source,
    symbols: Symbols,
    /// Label name → (value → postings offset), both sorted.
    postings: BTreeMap<String, BTreeMap<String, u64>>,
    all_postings_offset: Option<u64>,
}

/// A postings list's series ids, decoded as they are read (`IndexReader::postings_ids`).
pub struct PostingsIds<'a> {
    bytes: Cow<'a, [u8]>,
    pos: usize,
    end: usize,
}

impl Iterator for PostingsIds<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let id = self.bytes.get(self.pos..self.end)?.first_chunk::<4>()?;
        self.pos += 4;
        Some(u32::from_be_bytes(*id))
    }
}

impl IndexReader {
    /// Parses an index held in memory (errors name the path `index`).
    pub fn new(bytes: Vec<u8>) -> Result<IndexReader, Error> {
        IndexReader::parse(PathBuf::from(INDEX_FILENAME), Source::Memory(bytes))
    }

    /// Opens the index at `path` as file `INDEX_CACHE_FILE` of block `block` in `cache`:
    /// the header, TOC, symbols and postings offset table are read now (exact ranges,
    /// bypassing the pages); series and postings later, through the cache. Dropping the
    /// reader drops the block's pages from the cache.
    pub fn open(path: &Path, cache: &Rc<PageCache>, block: u64) -> Result<IndexReader, Error> {
        let file = cache.open_file(path, block, INDEX_CACHE_FILE)?;
        let source = Source::Cached(CachedIndex { cache: Rc::clone(cache), file });
        IndexReader::parse(path.to_path_buf(), source)
    }

    /// Parses the header, TOC, symbols and postings offset table; errors describe the damage.
    fn parse(path: PathBuf, source: Source) -> Result<IndexReader, Error> {
        let corrupt = |message: String| Error::corrupt(&path, message);
        let size = source.len_bytes();
        if size < (HEADER_BYTES + TOC_BYTES) as u64 {
            return Err(corrupt(format!("{size} bytes is too short for an index")));
        }
        let header = source.window(0, HEADER_BYTES, false)?;
        let mut d = Decoder::new(&header);
        let magic = d.be32().unwrap_or(0);
        if magic != MAGIC_INDEX {
            return Err(corrupt(format!("bad magic {magic:#x}")));
        }
        let version = d.u8().unwrap_or(0);
        if version != INDEX_VERSION_2 {
            return Err(corrupt(format!("unsupported index version {version}")));
        }
        let toc = source.window(size - TOC_BYTES as u64, TOC_BYTES, false)?;
        let (Some(entries), Some(crc)) = (toc.get(..48), toc.get(48..52)) else {
            return Err(corrupt("TOC is cut short".to_string()));
        };
        if crc32c(entries) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
            return Err(corrupt("TOC checksum mismatch".to_string()));
        }
        let mut t = Decoder::new(entries);
        let mut offsets = [0u64; 6];
        for o in offsets.iter_mut() {
            *o = t.be64().unwrap_or(0);
        }
        let [toc_symbols, _, _, _, _, toc_postings_table] = offsets;

        let (bytes, range) = section_be32_at(&source, &path, toc_symbols, false, "symbols")?;
        let mut s = Decoder::new(&bytes[range]);
        let count = s.be32().ok_or_else(|| corrupt("symbols: missing count".to_string()))? as usize;
        let mut symbols = Symbols {
            text: String::with_capacity(s.remaining()),
            // Every symbol takes a byte at least.
            ends: Vec::with_capacity(count.min(s.remaining())),
        };
        for i in 0..count {
            let sym = s
                .uvarint_str()
                .ok_or_else(|| corrupt(format!("symbols: entry {i} is malformed")))?;
            symbols.text.push_str(sym);
            let end = u32::try_from(symbols.text.len())
                .map_err(|_| corrupt("symbols: table too large".to_string()))?;
            symbols.ends.push(end);
        }
        drop(bytes);

        let mut postings: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut all_postings_offset = None;
        if toc_postings_table != 0 {
            let (bytes, range) =
                section_be32_at(&source, &path, toc_postings_table, false, "postings offset table")?;
            let mut p = Decoder::new(&bytes[range]);
            let count = p
                .be32()
                .ok_or_else(|| corrupt("postings offset table: missing count".to_string()))?;
            // Entries come sorted by name, then value: each name's values are gathered and
            // its map built at once (a bulk build rather than an insert per value).
            let mut run: Option<(&str, Vec<(String, u64)>)> = None;
            for i in 0..count {
                let entry = (|| {
                    let keys = p.uvarint()?;
                    (keys == 2).then_some(())?;
                    let name = p.uvarint_str()?;
                    let value = p.uvarint_str()?;
                    Some((name, value, p.uvarint()?))
                })();
                let (name, value, offset) = entry.ok_or_else(|| {
                    corrupt(format!("postings offset table: entry {i} is malformed"))
                })?;
                if name.is_empty() && value.is_empty() {
                    all_postings_offset = Some(offset);
                    continue;
                }
                match &mut run {
                    Some((current, values)) if *current == name => {
                        values.push((value.to_string(), offset));
                    }
                    _ => {
                        if let Some((done, values)) = run.take() {
                            add_postings_run(&mut postings, done, values);
                        }
                        run = Some((name, vec![(value.to_string(), offset)]));
                    }
                }
            }
            if let Some((done, values)) = run {
                add_postings_run(&mut postings, done, values);
            }
        }
        Ok(IndexReader {
            path,
            source,
            symbols,
            postings,
            all_postings_offset,
        })
    }

    fn corrupt(&self, message: String) -> Error {
        Error::corrupt(&self.path, message)
    }

    fn symbol(&self, r: u64) -> Result<&str, Error> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.symbols.get(i))
            .ok_or_else(|| self.corrupt(format!("symbol reference {r} out of range")))
    }

    /// Series ids in the postings list at `offset`.
    pub fn postings_at(&self, offset: u64) -> Result<Vec<u32>, Error> {
        let ids: Vec<u32> = self.postings_ids(offset)?.collect();
        if !ids.windows(2).all(|w| w[0] < w[1]) {
            return Err(self.corrupt(format!("postings at {offset} are not increasing")));
        }
        Ok(ids)
    }

    /// The postings list at `offset` decoded as it is read (its checksum and length checked
    /// first), for readers that stop early; they must check the order themselves.
    pub fn postings_ids(&self, offset: u64) -> Result<PostingsIds<'_>, Error> {
        let (bytes, range) = section_be32_at(&self.source, &self.path, offset, true, "postings")?;
        let mut d = Decoder::new(&bytes[range.clone()]);
        let n = d
            .be32()
            .ok_or_else(|| self.corrupt("postings: missing count".to_string()))? as usize;
        if d.remaining() != n * 4 {
            return Err(self.corrupt(format!(
                "postings at {offset}: count {n} does not fit the section"
            )));
        }
        Ok(PostingsIds {
            bytes,
            pos: range.start + 4,
            end: range.end,
        })
    }

    /// Every series id.
    pub fn all_series(&self) -> Result<Vec<u32>, Error> {
        match self.all_postings_offset {
            Some(offset) => self.postings_at(offset),
            None => Ok(Vec::new()),
        }
    }

    /// Label names (sorted) and, per name, its values (sorted) with postings offsets.
    pub fn label_postings(&self) -> &BTreeMap<String, BTreeMap<String, u64>> {
        &self.postings
    }

    /// Series `id`'s entry (at `id * 16`), checksum checked: the bytes read and the range
    /// of the entry's body in them. One cache read when the entry is no longer than
    /// `READ_AHEAD_BYTES`, two otherwise.
    fn series_entry(&self, id: u32) -> Result<(Cow<'_, [u8]>, Range<usize>), Error> {
        let offset = u64::from(id) * SERIES_ALIGN_BYTES as u64;
        let mut window = self.source.window(offset, READ_AHEAD_BYTES, true)?;
        let needed = {
            let mut d = Decoder::new(&window);
            d.uvarint()
                .and_then(|len| usize::try_from(len).ok())
                .and_then(|len| len.checked_add(d.pos + 4))
        };
        if let Some(needed) = needed.filter(|n| *n > window.len()) {
            // Clipped to the file's end: a length running past it is reported below.
            window = self.source.window(offset, needed, true)?;
        }
        let range = section_uvarint(&window, offset)
            .map_err(|e| self.corrupt(format!("series {id}: {e}")))?;
        Ok((window, range))
    }

    /// Decodes the series with id `id` (its entry is at `id * 16`).
    pub fn series(&self, id: u32) -> Result<IndexSeries, Error> {
        let (bytes, range) = self.series_entry(id)?;
        let mut d = Decoder::new(&bytes[range]);
        let bad = || self.corrupt(malformed_series(id, id as usize * SERIES_ALIGN_BYTES));
        let n = d.uvarint().ok_or_else(bad)?;
        let mut labels = Vec::with_capacity((n as usize).min(256));
        for _ in 0..n {
            let name = self.symbol(d.uvarint().ok_or_else(bad)?)?;
            let value = self.symbol(d.uvarint().ok_or_else(bad)?)?;
            labels.push((name, value));
        }
        if !labels.windows(2).all(|w| w[0].0 < w[1].0)
            || labels.iter().any(|(_, value)| value.is_empty())
        {
            return Err(self.corrupt(format!(
                "series {id}: labels are not sorted, unique and non-empty"
            )));
        }
        Ok(IndexSeries {
            labels: Labels::from_sorted(labels),
            chunks: decode_chunk_metas(&mut d, id).map_err(|m| self.corrupt(m))?,
        })
    }

    /// The chunk metas of series `id` alone, its labels skipped undecoded (time checks of
    /// label listings need no labels).
    pub fn series_chunks(&self, id: u32) -> Result<Vec<ChunkMeta>, Error> {
        let (bytes, range) = self.series_entry(id)?;
        let mut d = Decoder::new(&bytes[range]);
        let bad = || self.corrupt(malformed_series(id, id as usize * SERIES_ALIGN_BYTES));
        let n = d.uvarint().ok_or_else(bad)?;
        for _ in 0..n.saturating_mul(2) {
            d.uvarint().ok_or_else(bad)?;
        }
        decode_chunk_metas(&mut d, id).map_err(|m| self.corrupt(m))
    }
}

/// The decoded symbol table in one string: symbol `i` is `text[ends[i - 1]..ends[i]]` (one
/// allocation, not one per symbol).
struct Symbols {
    text: String,
    ends: Vec<u32>,
}

impl Symbols {
    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(previous) => *self.ends.get(previous)? as usize,
            None => 0,
        };
        self.text.get(start..end)
    }
}

/// Adds one name's run of (value, postings offset) entries to the postings offset table;
/// as with one insert per entry, a repeated value keeps its last offset.
fn add_postings_run(
    postings: &mut BTreeMap<String, BTreeMap<String, u64>>,
    name: &str,
    values: Vec<(String, u64)>,
) {
    match postings.get_mut(name) {
        Some(map) => map.extend(values),
        None => {
            postings.insert(name.to_string(), values.into_iter().collect());
        }
    }
}

/// The be32-length-prefixed section at `offset` of `source`, checksum checked: the bytes
/// read and the range of the body in them. Errors are prefixed with `what`. Cached reads
/// take `READ_AHEAD_BYTES` first, so a short postings list costs one cache read.
fn section_be32_at<'a>(
    source: &'a Source,
    path: &Path,
    offset: u64,
    cached: bool,
    what: &str,
) -> Result<(Cow<'a, [u8]>, Range<usize>), Error> {
    let mut bytes = source.window(offset, if cached { READ_AHEAD_BYTES } else { 4 }, cached)?;
    let len = bytes.first_chunk::<4>().map(|b| u32::from_be_bytes(*b));
    if let Some(needed) = len.map(|len| 8 + len as usize).filter(|n| *n > bytes.len()) {
        // Clipped to the file's end: a section running past it is reported below.
        bytes = source.window(offset, needed, cached)?;
    }
    let range = section_be32(&bytes, offset)
        .map_err(|e| Error::corrupt(path, format!("{what}: {e}")))?;
    Ok((bytes, range))
}

fn malformed_series(id: u32, offset: usize) -> String {
    format!("series {id} at {offset} is malformed")
}

/// A series entry's chunk metas: the first with its full minimum time, the rest as
/// deltas from the previous one.
fn decode_chunk_metas(d: &mut Decoder<'_>, id: u32) -> Result<Vec<ChunkMeta>, String> {
    let bad = || malformed_series(id, id as usize * SERIES_ALIGN_BYTES);
    let k = d.uvarint().ok_or_else(bad)?;
    let mut chunks = Vec::with_capacity((k as usize).min(1 << 16));
    let mut prev: Option<ChunkMeta> = None;
    for _ in 0..k {
        let meta = match prev {
            None => {
                let mint = d.varint().ok_or_else(bad)?;
                let span = d.uvarint().ok_or_else(bad)? as i64;
                let r = d.uvarint().ok_or_else(bad)?;
                ChunkMeta {
                    min_time_ms: mint,
                    max_time_ms: mint.wrapping_add(span),
                    chunk_ref: r,
                }
            }
            Some(p) => {
                let mint = p
                    .max_time_ms
                    .wrapping_add(d.uvarint().ok_or_else(bad)? as i64);
                let span = d.uvarint().ok_or_else(bad)? as i64;
                let r = (p.chunk_ref as i64).wrapping_add(d.varint().ok_or_else(bad)?);
                ChunkMeta {
                    min_time_ms: mint,
                    max_time_ms: mint.wrapping_add(span),
                    chunk_ref: r as u64,
                }
            }
        };
        chunks.push(meta);
        prev = Some(meta);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_series() -> impl Strategy<Value = Vec<IndexSeries>> {
        let labels = proptest::collection::btree_map("[a-c_]{1,3}", "[a-z0-9]{1,3}", 1..4);
        let chunks = proptest::collection::vec((0i64..1000, 0i64..1000, 1u64..5000), 0..5);
        proptest::collection::btree_map(
            labels.prop_map(Labels::from_pairs),
            (chunks, -1_000_000i64..1_000_000),
            0..30,
        )
        .prop_map(|m| {
            let mut next_ref = 8u64;
            m.into_iter()
                .map(|(labels, (chunks, start))| {
                    let mut t = start;
                    let chunks = chunks
                        .into_iter()
                        .map(|(gap, span, size)| {
                            let c = ChunkMeta {
                                min_time_ms: t + gap + 1,
                                max_time_ms: t + gap + 1 + span,
                                chunk_ref: next_ref,
                            };
                            t = c.max_time_ms;
                            next_ref += size;
                            c
                        })
                        .collect();
                    IndexSeries { labels, chunks }
                })
                .collect()
        })
    }

    proptest! {
        /// Any sorted series list encodes to an index that decodes to the same series and
        /// whose postings agree with the labels.
        #[test]
        fn index_round_trip(series in arb_series()) {
            let bytes = encode_index(&series);
            let r = IndexReader::new(bytes).expect("valid index");
            let ids = r.all_series().expect("all postings");
            prop_assert_eq!(ids.len(), series.len());
            let decoded: Vec<IndexSeries> = ids.iter().map(|id| r.series(*id).expect("series")).collect();
            prop_assert_eq!(&decoded, &series);
            for (name, values) in r.label_postings() {
                for (value, offset) in values {
                    let got = r.postings_at(*offset).expect("postings");
                    let want: Vec<u32> = ids.iter().zip(&series)
                        .filter(|(_, s)| s.labels.get(name) == Some(value.as_str()))
                        .map(|(id, _)| *id).collect();
                    prop_assert_eq!(got, want);
                }
            }
        }

        /// Flipping any byte is either detected or leaves a decodable index (never a panic).
        #[test]
        fn corrupt_index_never_panics(series in arb_series(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let mut bytes = encode_index(&series);
            let i = at.index(bytes.len());
            bytes[i] ^= 1 << bit;
            if let Ok(r) = IndexReader::new(bytes) {
                if let Ok(ids) = r.all_series() {
                    for id in ids { let _ = r.series(id); }
                }
            }
        }
    }

    /// What a reader answers, errors by their message (the two readers name different
    /// paths): every series in all-postings order and every postings list.
    fn answers(r: Result<IndexReader, Error>) -> Vec<Result<String, String>> {
        let message = |e: Error| match e {
            Error::Corrupt { message, .. } => message,
            other => format!("not a corruption: {other}"),
        };
        let r = match r {
            Ok(r) => r,
            Err(e) => return vec![Err(format!("open: {}", message(e)))],
        };
        let mut out = Vec::new();
        match r.all_series() {
            Ok(ids) => {
                for id in ids {
                    out.push(r.series(id).map(|s| format!("{s:?}")).map_err(message));
                    out.push(r.series_chunks(id).map(|c| format!("{c:?}")).map_err(message));
                }
            }
            Err(e) => out.push(Err(message(e))),
        }
        for values in r.label_postings().values() {
            for offset in values.values() {
                out.push(r.postings_at(*offset).map(|ids| format!("{ids:?}")).map_err(message));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// An index read through a page cache (of no page, one page or many) answers exactly
        /// like one held in memory, errors included, whatever byte is flipped; its reads
        /// move the cache's counters.
        #[test]
        fn cached_reader_equals_memory_reader(
            series in arb_series(),
            flip in proptest::option::of((any::<prop::sample::Index>(), 0u8..8)),
            pages in prop_oneof![Just(0u64), Just(1), Just(64)],
        ) {
            let mut bytes = encode_index(&series);
            if let Some((at, bit)) = flip {
                let i = at.index(bytes.len());
                bytes[i] ^= 1 << bit;
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("index");
            std::fs::write(&path, &bytes).expect("write");
            let cache = PageCache::new(pages * super::super::PAGE_BYTES as u64);
            let cached = IndexReader::open(&path, &cache, cache.register_block());
            prop_assert_eq!(cache.stats().misses_total, 0, "open reads bypass the pages");
            let memory = IndexReader::new(bytes);
            prop_assert_eq!(answers(cached), answers(memory));
            if flip.is_none() {
                prop_assert!(cache.stats().misses_total > 0, "series and postings are read through the cache");
            }
            prop_assert_eq!(cache.stats().bytes_in_use, 0, "the reader's pages leave with it");
        }
    }

    /// Series entries longer than the read-ahead (many chunk metas) are read whole.
    #[test]
    fn long_series_entries_are_read_whole() {
        let chunks: Vec<ChunkMeta> = (0..100)
            .map(|k| ChunkMeta { min_time_ms: k * 1_000_000, max_time_ms: k * 1_000_000 + 999_999, chunk_ref: 8 + k as u64 * 300 })
            .collect();
        let series: Vec<IndexSeries> = (0..40)
            .map(|i| IndexSeries {
                labels: Labels::from_pairs([("a", format!("{i:03}"))]),
                chunks: chunks[..(i * 7) % 100].to_vec(),
            })
            .collect();
        let bytes = encode_index(&series);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("index");
        std::fs::write(&path, &bytes).expect("write");
        let cache = PageCache::new(1 << 20);
        let r = IndexReader::open(&path, &cache, cache.register_block()).expect("open");
        let ids = r.all_series().expect("all");
        let got: Vec<IndexSeries> = ids.iter().map(|id| r.series(*id).expect("series")).collect();
        assert_eq!(got, series);
        assert!(ids.windows(2).any(|w| (w[1] - w[0]) as usize * SERIES_ALIGN_BYTES > READ_AHEAD_BYTES), "some entries are longer than the read-ahead");
    }

    #[test]
    fn empty_index_is_valid() {
        let r = IndexReader::new(encode_index(&[])).expect("valid");
        assert!(r.all_series().expect("all").is_empty());
        assert!(r.label_postings().is_empty());
    }
}
