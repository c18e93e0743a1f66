//! The block `index` file, Prometheus index format v2 (`tsdb/docs/block.md`): symbol
//! table, 16-byte-aligned series (id = offset / 16) with delta-encoded chunk metas, label
//! indices, postings (incl. the all-series `""=""` list), label and postings offset
//! tables and the TOC, every section checksummed with CRC32C. Encoding builds the file in
//! memory; the reader keeps the whole file in memory and decodes series on demand.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::encoding::{crc32c, section_be32, section_uvarint, Decoder, Encoder};
use crate::model::{Label, Labels};

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
            symbol_set.insert(&l.name);
            symbol_set.insert(&l.value);
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
            body.put_uvarint(u64::from(symbol_ref[l.name.as_str()]));
            body.put_uvarint(u64::from(symbol_ref[l.value.as_str()]));
            postings
                .entry(&l.name)
                .or_default()
                .entry(&l.value)
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

/// A decoded view of an index file held in memory.
pub struct IndexReader {
    bytes: Vec<u8>,
    symbols: Vec<String>,
    /// Label name → (value → postings offset), both sorted.
    postings: BTreeMap<String, BTreeMap<String, u64>>,
    all_postings_offset: Option<u64>,
}

impl IndexReader {
    /// Parses the header, TOC, symbols and postings offset table; errors describe the damage.
    pub fn new(bytes: Vec<u8>) -> Result<IndexReader, String> {
        if bytes.len() < HEADER_BYTES + TOC_BYTES {
            return Err(format!("{} bytes is too short for an index", bytes.len()));
        }
        let mut d = Decoder::new(&bytes);
        let magic = d.be32().unwrap_or(0);
        if magic != MAGIC_INDEX {
            return Err(format!("bad magic {magic:#x}"));
        }
        let version = d.u8().unwrap_or(0);
        if version != INDEX_VERSION_2 {
            return Err(format!("unsupported index version {version}"));
        }
        let toc_start = bytes.len() - TOC_BYTES;
        let toc = &bytes[toc_start..];
        if crc32c(&toc[..48]) != u32::from_be_bytes([toc[48], toc[49], toc[50], toc[51]]) {
            return Err("TOC checksum mismatch".to_string());
        }
        let mut t = Decoder::new(toc);
        let mut offsets = [0usize; 6];
        for o in offsets.iter_mut() {
            *o = usize::try_from(t.be64().unwrap_or(0)).map_err(|_| "TOC offset overflows")?;
        }
        let [toc_symbols, _, _, _, _, toc_postings_table] = offsets;

        let body = section_be32(&bytes, toc_symbols).map_err(|e| format!("symbols: {e}"))?;
        let mut s = Decoder::new(body);
        let count = s.be32().ok_or("symbols: missing count")? as usize;
        let mut symbols = Vec::with_capacity(count.min(1 << 20));
        for i in 0..count {
            let sym = s
                .uvarint_str()
                .ok_or_else(|| format!("symbols: entry {i} is malformed"))?;
            symbols.push(sym.to_string());
        }

        let mut postings: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut all_postings_offset = None;
        if toc_postings_table != 0 {
            let body = section_be32(&bytes, toc_postings_table)
                .map_err(|e| format!("postings offset table: {e}"))?;
            let mut p = Decoder::new(body);
            let count = p.be32().ok_or("postings offset table: missing count")?;
            for i in 0..count {
                let entry = (|| {
                    let keys = p.uvarint()?;
                    (keys == 2).then_some(())?;
                    let name = p.uvarint_str()?;
                    let value = p.uvarint_str()?;
                    Some((name, value, p.uvarint()?))
                })();
                let (name, value, offset) = entry
                    .ok_or_else(|| format!("postings offset table: entry {i} is malformed"))?;
                if name.is_empty() && value.is_empty() {
                    all_postings_offset = Some(offset);
                } else {
                    postings
                        .entry(name.to_string())
                        .or_default()
                        .insert(value.to_string(), offset);
                }
            }
        }
        Ok(IndexReader {
            bytes,
            symbols,
            postings,
            all_postings_offset,
        })
    }

    fn symbol(&self, r: u64) -> Result<&str, String> {
        usize::try_from(r)
            .ok()
            .and_then(|i| self.symbols.get(i))
            .map(String::as_str)
            .ok_or_else(|| format!("symbol reference {r} out of range"))
    }

    /// Series ids in the postings list at `offset`.
    pub fn postings_at(&self, offset: u64) -> Result<Vec<u32>, String> {
        let ids: Vec<u32> = self.postings_ids(offset)?.collect();
        if !ids.windows(2).all(|w| w[0] < w[1]) {
            return Err(format!("postings at {offset} are not increasing"));
        }
        Ok(ids)
    }

    /// The postings list at `offset` decoded as it is read (its checksum and length checked
    /// first), for readers that stop early; they must check the order themselves.
    pub fn postings_ids(&self, offset: u64) -> Result<impl Iterator<Item = u32> + '_, String> {
        let at = usize::try_from(offset).map_err(|_| "postings offset overflows")?;
        let body = section_be32(&self.bytes, at).map_err(|e| format!("postings: {e}"))?;
        let mut d = Decoder::new(body);
        let n = d.be32().ok_or("postings: missing count")? as usize;
        if d.remaining() != n * 4 {
            return Err(format!("postings at {offset}: count {n} does not fit the section"));
        }
        Ok(body[4..].chunks_exact(4).map(|id| u32::from_be_bytes([id[0], id[1], id[2], id[3]])))
    }

    /// Every series id.
    pub fn all_series(&self) -> Result<Vec<u32>, String> {
        match self.all_postings_offset {
            Some(offset) => self.postings_at(offset),
            None => Ok(Vec::new()),
        }
    }

    /// Label names (sorted) and, per name, its values (sorted) with postings offsets.
    pub fn label_postings(&self) -> &BTreeMap<String, BTreeMap<String, u64>> {
        &self.postings
    }

    /// The body of series `id`'s entry (at `id * 16`), positioned after the label count.
    fn series_entry(&self, id: u32) -> Result<(Decoder<'_>, u64), String> {
        let offset = id as usize * SERIES_ALIGN_BYTES;
        let body = section_uvarint(&self.bytes, offset).map_err(|e| format!("series {id}: {e}"))?;
        let mut d = Decoder::new(body);
        let n = d.uvarint().ok_or_else(|| malformed_series(id, offset))?;
        Ok((d, n))
    }

    /// Decodes the series with id `id` (its entry is at `id * 16`).
    pub fn series(&self, id: u32) -> Result<IndexSeries, String> {
        let (mut d, n) = self.series_entry(id)?;
        let bad = || malformed_series(id, id as usize * SERIES_ALIGN_BYTES);
        let mut labels = Vec::with_capacity((n as usize).min(256));
        for _ in 0..n {
            let name = self.symbol(d.uvarint().ok_or_else(bad)?)?;
            let value = self.symbol(d.uvarint().ok_or_else(bad)?)?;
            labels.push(Label::new(name, value));
        }
        if !labels.windows(2).all(|w| w[0].name < w[1].name)
            || labels.iter().any(|l| l.value.is_empty())
        {
            return Err(format!(
                "series {id}: labels are not sorted, unique and non-empty"
            ));
        }
        Ok(IndexSeries {
            labels: Labels::from_sorted(labels),
            chunks: decode_chunk_metas(&mut d, id)?,
        })
    }

    /// The chunk metas of series `id` alone, its labels skipped undecoded (time checks of
    /// label listings need no labels).
    pub fn series_chunks(&self, id: u32) -> Result<Vec<ChunkMeta>, String> {
        let (mut d, n) = self.series_entry(id)?;
        for _ in 0..n.saturating_mul(2) {
            d.uvarint().ok_or_else(|| malformed_series(id, id as usize * SERIES_ALIGN_BYTES))?;
        }
        decode_chunk_metas(&mut d, id)
    }
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

    #[test]
    fn empty_index_is_valid() {
        let r = IndexReader::new(encode_index(&[])).expect("valid");
        assert!(r.all_series().expect("all").is_empty());
        assert!(r.label_postings().is_empty());
    }
}
