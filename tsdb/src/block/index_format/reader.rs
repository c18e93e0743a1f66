//! `IndexReader`: an index held in memory or opened through the block's page cache. The
//! symbols and the postings offset table stay resident; series entries and postings lists
//! are read on demand, every read bounds- and checksum-checked.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::{ChunkMeta, IndexSeries, HEADER_BYTES, INDEX_VERSION_2, MAGIC_INDEX, SERIES_ALIGN_BYTES, TOC_BYTES};
use crate::block::encoding::{crc32c, section_be32, section_uvarint, Decoder};
use crate::block::page_cache::{CachedFile, PageCache};
use crate::block::writer::INDEX_FILENAME;
use crate::error::Error;
use crate::model::Labels;

/// The index's file number within its block's page cache identity; chunk segments are
/// numbered from 0, so index pages never share a key with chunk pages.
pub const INDEX_CACHE_FILE: u32 = u32::MAX;
/// Bytes read through the cache for a series entry or postings list before its length is
/// known: most series entries (a few labels, a few chunk metas) and postings lists of
/// values held by a few series fit, so one cache read serves them; longer ones take a
/// second read.
pub(super) const READ_AHEAD_BYTES: usize = 256;

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
