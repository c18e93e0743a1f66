//! Writes one block directory atomically: everything is built in `<ULID>.tmp/`, each file
//! written with O_DIRECT (`direct_io::DirectWriter`, buffered only where the file system
//! refuses it) and fsynced, the directory renamed to `<ULID>/` and the parent fsynced.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::direct_io::DirectWriter;
use super::index_format::{encode_index, ChunkMeta, IndexSeries};
use super::meta::{BlockCompaction, BlockMeta, META_FILENAME};
use super::stream_writer::{commit_tmp, commit_tmp_as, RawChunk, StreamBlockWriter};
use crate::chunk::{encode_histogram_chunks, Appendable, ChunkEncoding, FloatHistogramStAppender, Xor2Appender, XorAppender, SAMPLES_PER_CHUNK_MAX};
use crate::error::Error;
use crate::model::{HistogramSample, Labels, Sample, SampleStarts};

pub const INDEX_FILENAME: &str = "index";
pub const TOMBSTONES_FILENAME: &str = "tombstones";
pub const CHUNKS_DIRNAME: &str = "chunks";
pub const MAGIC_TOMBSTONES: u32 = 0x0130_BA30;
pub const TMP_SUFFIX: &str = ".tmp";
pub const DELETED_SUFFIX: &str = ".deleted";

/// Creates `path` with exactly `bytes`, written with O_DIRECT (`DirectWriter`) and fsynced.
pub(super) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let (mut writer, _) = DirectWriter::create_sized(path, bytes.len())?;
    #[cfg(feature = "fault-injection")]
    {
        use crate::fault::{self, Fault};
        match fault::take(|f| matches!(f, Fault::BlockWrite | Fault::BlockFsync)) {
            Some(Fault::BlockWrite) => {
                writer.write_all(&bytes[..bytes.len() / 2]).map_err(|e| Error::io("write", path, e))?;
                writer.finish()?;
                return Err(Error::io("write", path, fault::os_error(libc::ENOSPC)));
            }
            Some(_) => {
                writer.write_all(bytes).map_err(|e| Error::io("write", path, e))?;
                writer.finish()?;
                return Err(Error::io("fsync", path, fault::os_error(libc::EIO)));
            }
            None => {}
        }
    }
    writer.write_all(bytes).map_err(|e| Error::io("write", path, e))?;
    let (written_bytes, _) = writer.finish()?;
    debug_assert_eq!(written_bytes, bytes.len() as u64, "the file holds exactly the bytes given");
    Ok(())
}

/// The files of a block after its chunks: syncs `<tmp>/chunks/`, writes and fsyncs
/// `index`, an empty `tombstones` and `meta.json`, then syncs `tmp` itself. Shared by both
/// block writers.
pub(super) fn write_block_files(tmp: &Path, index_series: &[IndexSeries], meta: &BlockMeta) -> Result<(), Error> {
    sync_dir(&tmp.join(CHUNKS_DIRNAME))?;
    write_synced(&tmp.join(INDEX_FILENAME), &encode_index(index_series))?;
    write_synced(&tmp.join(TOMBSTONES_FILENAME), &super::tombstones::Tombstones::default().encode())?;
    write_synced(&tmp.join(META_FILENAME), &meta.to_json())?;
    sync_dir(tmp)
}

/// fsyncs a directory so renames and creations inside it are durable.
pub fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Encodes time-ordered samples as XOR chunks of at most `samples_per_chunk` samples,
/// handing each chunk's bytes to `write` (which returns its chunk reference); the chunk
/// metas for the index, in order. Shared by the in-memory and the streamed block writers.
pub(super) fn encode_chunks<E>(
    samples: &[Sample],
    samples_per_chunk: u16,
    mut write: impl FnMut(&[u8]) -> Result<u64, E>,
) -> Result<Vec<ChunkMeta>, E> {
    let per_chunk = usize::from(samples_per_chunk.max(1));
    let mut metas = Vec::with_capacity(samples.len().div_ceil(per_chunk));
    for part in samples.chunks(per_chunk) {
        let mut a = XorAppender::default();
        for s in part {
            a.append(s.timestamp_ms, s.value);
        }
        let chunk_ref = write(a.bytes())?;
        metas.push(ChunkMeta { min_time_ms: part[0].timestamp_ms, max_time_ms: part[part.len() - 1].timestamp_ms, chunk_ref });
    }
    Ok(metas)
}

/// `encode_chunks` for samples with start times (`starts` parallel to `samples`): XOR2 chunks.
fn encode_started_chunks<E>(
    samples: &[Sample],
    starts: &[i64],
    samples_per_chunk: u16,
    mut write: impl FnMut(&[u8]) -> Result<u64, E>,
) -> Result<Vec<ChunkMeta>, E> {
    debug_assert_eq!(samples.len(), starts.len(), "starts are parallel to their samples");
    let per_chunk = usize::from(samples_per_chunk.max(1));
    let mut metas = Vec::with_capacity(samples.len().div_ceil(per_chunk));
    for (part, part_starts) in samples.chunks(per_chunk).zip(starts.chunks(per_chunk)) {
        let mut a = Xor2Appender::default();
        for (s, start_ms) in part.iter().zip(part_starts) {
            a.append(*start_ms, s.timestamp_ms, s.value);
        }
        let chunk_ref = write(a.bytes())?;
        metas.push(ChunkMeta { min_time_ms: part[0].timestamp_ms, max_time_ms: part[part.len() - 1].timestamp_ms, chunk_ref });
    }
    Ok(metas)
}

/// `encode_histogram_chunks` for histograms with start times (`starts` parallel): float
/// histogram ST chunks, cut as Prometheus cuts them; `(min_t, max_t, bytes)` each.
fn encode_started_histogram_chunks(histograms: &[HistogramSample], starts: &[i64], samples_per_chunk: u16) -> Vec<(i64, i64, Box<[u8]>)> {
    let mut out = Vec::new();
    let mut current: Option<(i64, FloatHistogramStAppender)> = None;
    for (s, start_ms) in histograms.iter().zip(starts) {
        let h = &s.histogram;
        let next = match &current {
            None => Some(FloatHistogramStAppender::after(None, h)),
            Some((_, a)) if a.is_full(samples_per_chunk) => Some(FloatHistogramStAppender::after(Some(a), h)),
            Some((_, a)) => match a.appendable(h) {
                Appendable::Yes => None,
                Appendable::Cut(header) => Some(FloatHistogramStAppender::new(header)),
            },
        };
        if let Some(fresh) = next {
            if let Some((min_t, done)) = current.replace((s.timestamp_ms, fresh)) {
                out.push((min_t, done.last_timestamp().unwrap_or(min_t), done.into_bytes()));
            }
        }
        if let Some((_, a)) = current.as_mut() {
            a.append(*start_ms, s.timestamp_ms, h);
        }
    }
    if let Some((min_t, done)) = current {
        out.push((min_t, done.last_timestamp().unwrap_or(min_t), done.into_bytes()));
    }
    out
}

/// Encodes a series' time-ordered samples and histograms (no timestamp in both) as one
/// time-ordered list of chunks, as Prometheus keeps a series: a run of floats in XOR chunks,
/// a run of histograms in float histogram chunks (cut at layout changes and resets too),
/// each chunk of at most `samples_per_chunk` samples. `write` stores a chunk and returns its
/// reference; the chunk metas for the index, in order.
///
/// With `starts` (parallel to both lists) the floats go into XOR2 chunks and the
/// histograms into float histogram ST chunks, each sample with its start.
pub(super) fn encode_series_chunks<E>(
    samples: &[Sample],
    histograms: &[HistogramSample],
    starts: Option<&SampleStarts>,
    samples_per_chunk: u16,
    mut write: impl FnMut(ChunkEncoding, &[u8]) -> Result<u64, E>,
) -> Result<Vec<ChunkMeta>, E> {
    if let Some(starts) = starts {
        return encode_started_series_chunks(samples, histograms, starts, samples_per_chunk, write);
    }
    if histograms.is_empty() {
        return encode_chunks(samples, samples_per_chunk, |xor| write(ChunkEncoding::Xor, xor));
    }
    debug_assert!(histograms.windows(2).all(|w| w[0].timestamp_ms < w[1].timestamp_ms), "block histograms increase strictly");
    let mut metas = Vec::new();
    for run in time_runs(samples, histograms) {
        match run {
            TimeRun::Floats(range) => metas.extend(encode_chunks(&samples[range], samples_per_chunk, |xor| write(ChunkEncoding::Xor, xor))?),
            TimeRun::Histograms(range) => {
                for c in encode_histogram_chunks(&histograms[range], samples_per_chunk) {
                    let chunk_ref = write(ChunkEncoding::FloatHistogram, &c.bytes)?;
                    metas.push(ChunkMeta { min_time_ms: c.min_time_ms, max_time_ms: c.max_time_ms, chunk_ref });
                }
            }
        }
    }
    Ok(metas)
}

/// A run of a series' samples of one kind, as indexes into its float or histogram list.
enum TimeRun {
    Floats(std::ops::Range<usize>),
    Histograms(std::ops::Range<usize>),
}

/// A series' time-ordered floats and histograms (no timestamp in both) cut into alternating
/// runs of one kind, in time order: each run goes up to the other kind's next sample.
fn time_runs(samples: &[Sample], histograms: &[HistogramSample]) -> Vec<TimeRun> {
    let (mut f, mut h) = (0, 0);
    let mut runs = Vec::new();
    while f < samples.len() || h < histograms.len() {
        let float_first = match (samples.get(f), histograms.get(h)) {
            (Some(x), Some(y)) => x.timestamp_ms < y.timestamp_ms,
            (x, _) => x.is_some(),
        };
        if float_first {
            let end = histograms.get(h).map_or(samples.len(), |y| f + samples[f..].partition_point(|x| x.timestamp_ms < y.timestamp_ms));
            runs.push(TimeRun::Floats(f..end));
            f = end;
        } else {
            let end = samples.get(f).map_or(histograms.len(), |x| h + histograms[h..].partition_point(|y| y.timestamp_ms < x.timestamp_ms));
            runs.push(TimeRun::Histograms(h..end));
            h = end;
        }
    }
    runs
}

/// `encode_series_chunks` with start times: runs of floats and of histograms in turn, as
/// there, in XOR2 and float histogram ST chunks.
fn encode_started_series_chunks<E>(
    samples: &[Sample],
    histograms: &[HistogramSample],
    starts: &SampleStarts,
    samples_per_chunk: u16,
    mut write: impl FnMut(ChunkEncoding, &[u8]) -> Result<u64, E>,
) -> Result<Vec<ChunkMeta>, E> {
    debug_assert!(starts.floats.len() == samples.len() && starts.histograms.len() == histograms.len(), "starts are parallel to their samples");
    let mut metas = Vec::new();
    for run in time_runs(samples, histograms) {
        match run {
            TimeRun::Floats(range) => {
                metas.extend(encode_started_chunks(&samples[range.clone()], &starts.floats[range], samples_per_chunk, |xor2| write(ChunkEncoding::Xor2, xor2))?);
            }
            TimeRun::Histograms(range) => {
                for (min_time_ms, max_time_ms, bytes) in encode_started_histogram_chunks(&histograms[range.clone()], &starts.histograms[range], samples_per_chunk) {
                    let chunk_ref = write(ChunkEncoding::FloatHistogramSt, &bytes)?;
                    metas.push(ChunkMeta { min_time_ms, max_time_ms, chunk_ref });
                }
            }
        }
    }
    Ok(metas)
}

/// Writes a block `ulid` covering `[min_time_ms, max_time_ms)` under `parent` and returns
/// its meta. Each series' samples must be time-ordered, unique by timestamp and inside
/// the range; series without samples are skipped.
pub fn write_block(
    parent: &Path,
    ulid: &str,
    min_time_ms: i64,
    max_time_ms: i64,
    series: Vec<(Labels, Vec<Sample>)>,
) -> Result<(PathBuf, BlockMeta), Error> {
    write_cut_block(parent, ulid, min_time_ms, max_time_ms, loose_samples(series))
}

fn loose_samples(series: Vec<(Labels, Vec<Sample>)>) -> Vec<BlockSeries> {
    series.into_iter().map(|(labels, samples)| BlockSeries { labels, chunks: Vec::new(), samples, histograms: Vec::new(), starts: None }).collect()
}

/// `write_cut_block` with the given lineage (a block rewritten without its tombstoned data
/// keeps its level and sources and names the block it replaces as its parent): the series
/// streamed into a committed block (see `write_series_uncommitted`).
pub fn write_block_as(
    parent: &Path,
    ulid: &str,
    min_time_ms: i64,
    max_time_ms: i64,
    series: Vec<BlockSeries>,
    compaction: BlockCompaction,
) -> Result<(PathBuf, BlockMeta), Error> {
    let (_, meta) = write_series_uncommitted(parent, ulid, min_time_ms, max_time_ms, series, compaction)?;
    Ok((commit_tmp(parent, ulid)?, meta))
}

/// One series of a block cut from the head: whole chunks kept as they are (time-ordered,
/// not overlapping, of any encoding), then loose samples and native histograms to encode
/// (time-ordered, no timestamp in both), all after the chunks.
pub struct BlockSeries {
    pub labels: Labels,
    pub chunks: Vec<RawChunk>,
    pub samples: Vec<Sample>,
    pub histograms: Vec<HistogramSample>,
    /// The start times of `samples` and `histograms`, when some are non-zero: their chunks
    /// are then XOR2 and float histogram ST ones.
    pub starts: Option<Box<SampleStarts>>,
}

impl BlockSeries {
    /// True when the series has a chunk, a sample or a histogram to write (a block leaves
    /// out the others).
    pub fn holds_data(&self) -> bool {
        !self.samples.is_empty() || !self.chunks.is_empty() || !self.histograms.is_empty()
    }
}

/// A level-1 block (cut from the head) from series whose whole chunks are kept as they are.
pub fn write_cut_block(
    parent: &Path,
    ulid: &str,
    min_time_ms: i64,
    max_time_ms: i64,
    series: Vec<BlockSeries>,
) -> Result<(PathBuf, BlockMeta), Error> {
    let compaction = BlockCompaction {
        level: 1,
        sources: vec![ulid.to_string()],
        parents: Vec::new(),
    };
    write_block_as(parent, ulid, min_time_ms, max_time_ms, series, compaction)
}

/// Streams `series` (sorted here by labels) into `StreamBlockWriter` up to the commit: the
/// block is complete and synced in `<parent>/<ulid>.tmp/`, whose path is returned with its
/// meta. Memory holds the index entries and one series' chunks at a time, not the block's
/// chunk segments; a head cut's kept chunks are shared with the head, not copied.
fn write_series_uncommitted(
    parent: &Path,
    ulid: &str,
    min_time_ms: i64,
    max_time_ms: i64,
    mut series: Vec<BlockSeries>,
    compaction: BlockCompaction,
) -> Result<(PathBuf, BlockMeta), Error> {
    series.retain(BlockSeries::holds_data);
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut writer = StreamBlockWriter::create(parent, ulid, min_time_ms, max_time_ms)?;
    // Each series goes once written: with a cut's chunks shared, its bytes are then the
    // head's alone again.
    for s in series {
        writer.add_cut_series(&s, SAMPLES_PER_CHUNK_MAX)?;
    }
    writer.finish(compaction)
}

/// A level-1 block like `write_cut_block`'s, named by what it holds: its ULID's time is
/// `name_time_ms` and its other 80 bits a hash of its range, index and chunk files. The
/// same data over the same range, given the same time, is therefore written under the same
/// name, byte for byte, however often it is written; copies that compare files by path and
/// size (vmbackup's incremental backups) find it already there. Returns the ULID.
pub fn write_content_named_block(parent: &Path, name_time_ms: u64, min_time_ms: i64, max_time_ms: i64, series: Vec<BlockSeries>) -> Result<String, Error> {
    // The staging name only has to be unique beside the blocks already in `parent`.
    let staging = super::new_ulid(0);
    let compaction = BlockCompaction { level: 1, sources: vec![staging.clone()], parents: Vec::new() };
    let (tmp, mut meta) = write_series_uncommitted(parent, &staging, min_time_ms, max_time_ms, series, compaction)?;
    let mut rename = || -> Result<String, Error> {
        let ulid = super::ulid_of(name_time_ms, content_hash(&tmp, min_time_ms, max_time_ms)?);
        meta.ulid = ulid.clone();
        meta.compaction.sources = vec![ulid.clone()];
        write_synced(&tmp.join(META_FILENAME), &meta.to_json())?;
        sync_dir(&tmp)?;
        commit_tmp_as(parent, &staging, &ulid)?;
        Ok(ulid)
    };
    let renamed = rename();
    if renamed.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    renamed
}

/// xxh3-128 of a written block's range and of its index and chunk segment files (name,
/// length and bytes, segments in name order): what its meta's range and statistics derive from.
fn content_hash(block_dir: &Path, min_time_ms: i64, max_time_ms: i64) -> Result<u128, Error> {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    hasher.update(&min_time_ms.to_le_bytes());
    hasher.update(&max_time_ms.to_le_bytes());
    let chunks_dir = block_dir.join(CHUNKS_DIRNAME);
    let listed = std::fs::read_dir(&chunks_dir).and_then(|entries| entries.map(|e| e.map(|e| e.path())).collect::<std::io::Result<Vec<PathBuf>>>());
    let mut files = listed.map_err(|e| Error::io("list", &chunks_dir, e))?;
    files.sort();
    files.insert(0, block_dir.join(INDEX_FILENAME));
    let mut buffer = vec![0u8; 1 << 20];
    for path in files {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let mut file = File::open(&path).map_err(|e| Error::io("open", &path, e))?;
        let len = file.metadata().map_err(|e| Error::io("stat", &path, e))?.len();
        hasher.update(&(name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update(&len.to_le_bytes());
        loop {
            let read = std::io::Read::read(&mut file, &mut buffer).map_err(|e| Error::io("read", &path, e))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
        }
    }
    Ok(hasher.digest128())
}
