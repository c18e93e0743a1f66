//! `encode_index`: builds a whole index file in memory from sorted series: the symbol
//! table, aligned series entries, label indices, postings, both offset tables and the TOC.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{IndexSeries, INDEX_VERSION_2, MAGIC_INDEX, SERIES_ALIGN_BYTES};
use crate::block::encoding::Encoder;

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
