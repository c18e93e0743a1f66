//! A block writer that streams: series arrive one at a time in label order and their chunks
//! go straight to `chunks/00000N` in `<ULID>.tmp/`, so memory holds one series' chunks plus
//! the index entries. Every file is written with O_DIRECT (`direct_io::DirectWriter`).
//! `finish` writes index, tombstones and meta and fsyncs everything but does not rename: the
//! caller commits with `commit_tmp` once it knows the result is wanted.

use std::io::Write;
use std::sync::Arc;
use std::path::{Path, PathBuf};

use super::direct_io::DirectWriter;
use super::chunks_format::{segment_file_name, CHUNKS_VERSION_1, MAGIC_CHUNKS, SEGMENT_BYTES_MAX, SEGMENT_HEADER_BYTES};
use super::encoding::Encoder;
use super::index_format::{ChunkMeta, IndexSeries};
use super::meta::{BlockCompaction, BlockMeta, BlockStats, META_VERSION};
use super::writer::{encode_series_chunks, sync_dir, write_block_files, BlockSeries, CHUNKS_DIRNAME, TMP_SUFFIX};
use crate::chunk::{ChunkEncoding, COMPACTED_SAMPLES_PER_CHUNK_MAX};
use crate::error::Error;
use crate::model::{HistogramSample, Labels, Sample, SampleStarts};

/// One chunk to add as is: its encoding and bytes, sample count and inclusive time bounds.
pub struct RawChunk {
    pub min_time_ms: i64,
    pub max_time_ms: i64,
    pub num_samples: u64,
    pub encoding: ChunkEncoding,
    /// Shared with the head a cut takes it from (no copy while the cut is written).
    pub bytes: Arc<[u8]>,
}

pub struct StreamBlockWriter {
    ulid: String,
    tmp: PathBuf,
    min_time_ms: i64,
    max_time_ms: i64,
    segment: Option<DirectWriter>,
    segment_index: usize,
    segment_bytes: u64,
    /// A segment is closed before a chunk would take it past this (`SEGMENT_BYTES_MAX`).
    segment_bytes_max: u64,
    index: Vec<IndexSeries>,
    stats: BlockStats,
}

impl StreamBlockWriter {
    /// Starts block `ulid` covering `[min_time_ms, max_time_ms)` in `<parent>/<ulid>.tmp/`
    /// (a leftover of that name is removed first).
    pub fn create(parent: &Path, ulid: &str, min_time_ms: i64, max_time_ms: i64) -> Result<StreamBlockWriter, Error> {
        debug_assert!(min_time_ms < max_time_ms, "a block range is not empty");
        let tmp = parent.join(format!("{ulid}{TMP_SUFFIX}"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| Error::io("remove", &tmp, e))?;
        }
        let chunks_dir = tmp.join(CHUNKS_DIRNAME);
        std::fs::create_dir_all(&chunks_dir).map_err(|e| Error::io("create", &chunks_dir, e))?;
        Ok(StreamBlockWriter {
            ulid: ulid.to_string(),
            tmp,
            min_time_ms,
            max_time_ms,
            segment: None,
            segment_index: 0,
            segment_bytes: 0,
            segment_bytes_max: SEGMENT_BYTES_MAX as u64,
            index: Vec::new(),
            stats: BlockStats::default(),
        })
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    fn close_segment(&mut self) -> Result<(), Error> {
        if let Some(writer) = self.segment.take() {
            let (written_bytes, _) = writer.finish()?;
            debug_assert_eq!(written_bytes, self.segment_bytes, "chunk references are offsets into exactly these bytes");
            self.segment_index += 1;
        }
        Ok(())
    }

    /// Appends one chunk record to the current segment (opening a new one when full).
    fn write_chunk(&mut self, encoding: ChunkEncoding, data: &[u8]) -> Result<u64, Error> {
        let mut e = Encoder::default();
        e.put_uvarint(data.len() as u64);
        let enc_start = e.len();
        e.put_u8(encoding as u8);
        e.bytes.extend_from_slice(data);
        e.put_crc_from(enc_start);
        let full = self.segment.is_some()
            && self.segment_bytes > SEGMENT_HEADER_BYTES as u64
            && self.segment_bytes + e.len() as u64 > self.segment_bytes_max;
        if full {
            self.close_segment()?;
        }
        if self.segment.is_none() {
            let path = self.tmp.join(CHUNKS_DIRNAME).join(segment_file_name(self.segment_index));
            let (mut writer, _) = DirectWriter::create(&path)?;
            let mut header = Encoder::default();
            header.put_be32(MAGIC_CHUNKS);
            header.put_u8(CHUNKS_VERSION_1);
            header.bytes.extend_from_slice(&[0, 0, 0]);
            writer.write_all(&header.bytes).map_err(|e| Error::io("write", &path, e))?;
            self.segment = Some(writer);
            self.segment_bytes = SEGMENT_HEADER_BYTES as u64;
        }
        let offset = self.segment_bytes;
        if let Some(writer) = self.segment.as_mut() {
            writer.write_all(&e.bytes).map_err(|err| Error::io("write", writer.path(), err))?;
        }
        self.segment_bytes += e.len() as u64;
        Ok(((self.segment_index as u64) << 32) | offset)
    }

    fn push_series(&mut self, labels: Labels, chunks: Vec<ChunkMeta>, samples: u64) {
        debug_assert!(
            self.index.last().is_none_or(|last| last.labels < labels),
            "series arrive in label order, each once"
        );
        self.stats.num_series += 1;
        self.stats.num_samples += samples;
        self.stats.num_chunks += chunks.len() as u64;
        self.index.push(IndexSeries { labels, chunks });
    }

    /// Adds a series from time-ordered samples unique by timestamp (nothing when empty), in
    /// chunks of up to `COMPACTED_SAMPLES_PER_CHUNK_MAX` samples.
    pub fn add_samples(&mut self, labels: Labels, samples: &[Sample]) -> Result<(), Error> {
        self.add_series(labels, samples, &[])
    }

    /// `add_samples` with native histograms too (time-ordered, at timestamps no sample has):
    /// one time-ordered chunk list of both kinds (`encode_series_chunks`).
    pub fn add_series(&mut self, labels: Labels, samples: &[Sample], histograms: &[HistogramSample]) -> Result<(), Error> {
        if samples.is_empty() && histograms.is_empty() {
            return Ok(());
        }
        debug_assert!(samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "block samples increase strictly");
        debug_assert!(
            samples.iter().map(|s| s.timestamp_ms).chain(histograms.iter().map(|h| h.timestamp_ms)).all(|t| t >= self.min_time_ms && t < self.max_time_ms),
            "block samples lie in the block range"
        );
        self.add_parts(labels, &[], samples, histograms, None, COMPACTED_SAMPLES_PER_CHUNK_MAX)
    }

    /// `add_series` with start times (`starts` parallel to both lists): XOR2 and float
    /// histogram ST chunks (a compaction that rewrites samples which had starts).
    pub fn add_series_with_starts(&mut self, labels: Labels, samples: &[Sample], histograms: &[HistogramSample], starts: &SampleStarts) -> Result<(), Error> {
        if samples.is_empty() && histograms.is_empty() {
            return Ok(());
        }
        debug_assert!(samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "block samples increase strictly");
        self.add_parts(labels, &[], samples, histograms, Some(starts), COMPACTED_SAMPLES_PER_CHUNK_MAX)
    }

    /// Adds a series from encoded chunks copied without decoding (time-ordered, not overlapping).
    pub fn add_raw_chunks(&mut self, labels: Labels, chunks: &[RawChunk]) -> Result<(), Error> {
        if chunks.is_empty() {
            return Ok(());
        }
        debug_assert!(chunks.windows(2).all(|w| w[0].max_time_ms < w[1].min_time_ms), "copied chunks do not overlap");
        self.add_parts(labels, chunks, &[], &[], None, COMPACTED_SAMPLES_PER_CHUNK_MAX)
    }

    /// Adds a series cut from a head (`BlockSeries`): its whole chunks as they are, then its
    /// loose samples and histograms encoded in chunks of up to `samples_per_chunk` samples.
    pub fn add_cut_series(&mut self, series: &BlockSeries, samples_per_chunk: u16) -> Result<(), Error> {
        let BlockSeries { labels, chunks, samples, histograms, starts } = series;
        if chunks.is_empty() && samples.is_empty() && histograms.is_empty() {
            return Ok(());
        }
        debug_assert!(samples.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "block samples increase strictly");
        debug_assert!(
            samples.iter().map(|s| s.timestamp_ms).chain(histograms.iter().map(|h| h.timestamp_ms)).all(|t| t >= self.min_time_ms && t < self.max_time_ms),
            "block samples lie in the block range"
        );
        debug_assert!(
            chunks.windows(2).all(|w| w[0].max_time_ms < w[1].min_time_ms)
                && chunks.last().is_none_or(|c| samples.first().is_none_or(|s| c.max_time_ms < s.timestamp_ms) && histograms.first().is_none_or(|h| c.max_time_ms < h.timestamp_ms))
                && chunks.iter().all(|c| c.min_time_ms >= self.min_time_ms && c.max_time_ms < self.max_time_ms),
            "kept chunks are ordered, come before the samples and lie in the block range"
        );
        self.add_parts(labels.clone(), chunks, samples, histograms, starts.as_deref(), samples_per_chunk)
    }

    /// The one way a series is written, for the three above: `chunks` copied as they are,
    /// then `samples` and `histograms` encoded in chunks of up to `samples_per_chunk`
    /// (`encode_series_chunks`), then its index entry.
    fn add_parts(
        &mut self,
        labels: Labels,
        chunks: &[RawChunk],
        samples: &[Sample],
        histograms: &[HistogramSample],
        starts: Option<&SampleStarts>,
        samples_per_chunk: u16,
    ) -> Result<(), Error> {
        let mut metas = Vec::with_capacity(chunks.len());
        let mut count = (samples.len() + histograms.len()) as u64;
        for c in chunks {
            let chunk_ref = self.write_chunk(c.encoding, &c.bytes)?;
            metas.push(ChunkMeta { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms, chunk_ref });
            count += c.num_samples;
        }
        metas.extend(encode_series_chunks(samples, histograms, starts, samples_per_chunk, |encoding, data| self.write_chunk(encoding, data))?);
        self.push_series(labels, metas, count);
        Ok(())
    }

    /// Series added so far.
    pub fn num_series(&self) -> u64 {
        self.stats.num_series
    }

    /// Writes index, empty tombstones and meta.json, fsyncs the files and `<ulid>.tmp/`, and
    /// returns the meta. Nothing is renamed: see `commit_tmp`.
    pub fn finish(mut self, compaction: BlockCompaction) -> Result<(PathBuf, BlockMeta), Error> {
        self.close_segment()?;
        let meta = BlockMeta {
            ulid: self.ulid.clone(),
            min_time_ms: self.min_time_ms,
            max_time_ms: self.max_time_ms,
            stats: self.stats.clone(),
            compaction,
            version: META_VERSION,
        };
        write_block_files(&self.tmp, &self.index, &meta)?;
        Ok((self.tmp, meta))
    }
}

/// The commit point of a block written with `StreamBlockWriter`: renames `<ulid>.tmp` to
/// `<ulid>` and fsyncs `parent`. Returns the block directory.
pub fn commit_tmp(parent: &Path, ulid: &str) -> Result<PathBuf, Error> {
    commit_tmp_as(parent, ulid, ulid)
}

/// `commit_tmp` of the block written as `<staging>.tmp` under another name, `<ulid>` (a block
/// named only once written, `write_content_named_block`).
pub fn commit_tmp_as(parent: &Path, staging: &str, ulid: &str) -> Result<PathBuf, Error> {
    let tmp = parent.join(format!("{staging}{TMP_SUFFIX}"));
    let done = parent.join(ulid);
    std::fs::rename(&tmp, &done).map_err(|e| Error::io("rename", &tmp, e))?;
    sync_dir(parent)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::chunks_format::ChunkReader;
    use crate::block::page_cache::PageCache;

    #[test]
    fn segments_are_cut_at_the_limit_and_refs_address_chunks() {
        let parent = tempfile::tempdir().expect("tempdir");
        let mut w = StreamBlockWriter::create(parent.path(), "B", 0, 10).expect("create");
        w.segment_bytes_max = 64;
        let a = w.write_chunk(ChunkEncoding::Xor, &[1; 20]).expect("a");
        let b = w.write_chunk(ChunkEncoding::Xor, &[2; 20]).expect("b");
        let c = w.write_chunk(ChunkEncoding::Xor, &[3; 20]).expect("c");
        assert_eq!(a, 8);
        assert_eq!(b, 8 + 26);
        assert_eq!(c, 1 << 32 | 8, "the third chunk would pass 64 bytes: next segment");
        w.close_segment().expect("close");
        let chunks_dir = parent.path().join("B.tmp").join(CHUNKS_DIRNAME);
        let cache = PageCache::new(1 << 20);
        let r = ChunkReader::open(&chunks_dir, &cache, cache.register_block()).expect("open");
        assert_eq!(r.read_xor(b).expect("b"), vec![2; 20]);
        assert_eq!(r.read_xor(c).expect("c"), vec![3; 20]);
        assert!(r.read_xor(2 << 32 | 8).is_err());
        drop(r);
        let first = chunks_dir.join(segment_file_name(0));
        let mut damaged = std::fs::read(&first).expect("read");
        damaged[8 + 26 + 5] ^= 1;
        std::fs::write(&first, damaged).expect("write");
        let r = ChunkReader::open(&chunks_dir, &cache, cache.register_block()).expect("open");
        let err = r.read_xor(b).expect_err("the checksum catches the flip").to_string();
        assert!(err.contains("000001") && err.contains("checksum"), "{err}");
    }
}
