//! The write-ahead log of one shard: numbered segment files written with io_uring direct
//! I/O (4 KiB-aligned pages, the partial last page rewritten on the next commit), framed
//! records `u32 length | u32 crc32c | payload`, group commit (durable on return when
//! `fsync_on_commit`: the segment is open with O_DSYNC, the write is its own fdatasync),
//! and replay that cuts a torn or corrupt tail at the last good record.

pub mod checkpoint;
pub mod record;
mod segment;

use std::path::{Path, PathBuf};

use glommio::io::{DmaFile, OpenOptions};

use crate::error::Error;
pub use record::{Record, RecordEncoder};
use segment::{list_segments, scan_segment, segment_path, zero_range};

/// Page size of direct I/O writes.
pub const PAGE_BYTES: usize = 4096;
/// Frame header: payload length and CRC32C, both little-endian u32.
pub const FRAME_HEADER_BYTES: usize = 8;
/// A single record larger than this is refused (and is treated as corruption on replay).
pub const RECORD_BYTES_MAX: usize = 256 << 20;

#[derive(Clone, Debug)]
pub struct WalOptions {
    pub segment_bytes: u64,
    pub fsync_on_commit: bool,
    /// Snappy-compress record payloads (`RecordEncoder`); replay reads either form.
    pub compress: bool,
    /// Index of the first segment when the directory holds none (after a checkpoint
    /// removed every older segment, numbering must continue past the checkpoint's).
    pub segment_index_first: u32,
    /// Where `open` counts the segments it has to replay and those replayed so far.
    pub replay_progress: Option<std::sync::Arc<ReplayProgress>>,
}

/// How far opening WALs has got: segments found to replay and segments replayed, summed
/// over every WAL that counts into it (one per shard), for a server's start-up status.
#[derive(Debug, Default)]
pub struct ReplayProgress {
    pub segments_total: std::sync::atomic::AtomicU64,
    pub segments_replayed: std::sync::atomic::AtomicU64,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct WalStats {
    pub bytes_written_total: u64,
    /// Group commits made durable (each an O_DSYNC write: a write and its fdatasync).
    pub fsyncs_total: u64,
}

pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    file: DmaFile,
    segment: u32,
    /// Logical end of data in the current segment.
    offset: u64,
    /// Bytes from the start of the last partial page up to `offset`.
    tail: Vec<u8>,
    /// After a failed write or fdatasync: the end of what it may have left in the current
    /// segment past `offset` (torn records, or pages whose durability is unknown: after a
    /// failed fsync the old pages are never trusted, they are rewritten). The next write
    /// rewrites from the last durable page out of memory and covers `[page of offset,
    /// dirty_end)` with records and zeros, so nothing untrusted (no torn record) can sit
    /// before later acknowledged ones; a rotation zeroes it first. `0`: clean.
    dirty_end: u64,
    /// End of the blocks allocated in the current segment so far (`preallocate`).
    allocated_end: u64,
    /// How far past a write the next allocation reaches: doubles from
    /// `ALLOCATION_STEP_FIRST` to `ALLOCATION_STEP_MAX` within a segment.
    allocation_step: u64,
    pub stats: WalStats,
    /// Kept between group commits: the encoded frames and the record encoder's buffers (a
    /// group of hundreds of KB would otherwise grow fresh buffers, page faults included,
    /// each time).
    frames: Vec<u8>,
    encoder: RecordEncoder,
}

/// Group-commit buffers grown past this are dropped after use instead of kept.
const KEPT_BUFFER_BYTES_MAX: usize = 16 << 20;

/// A segment's blocks are allocated ahead of its writes in steps, the first this large,
/// each next one twice the last up to `ALLOCATION_STEP_MAX`: an idle shard's segment
/// takes 1 MiB of disk, not `wal_segment_size_mb` (128 MiB by default, times the cores),
/// while a busy one grows its file (a slow fdatasync, DESIGN §9) once per 16 MiB.
const ALLOCATION_STEP_FIRST: u64 = 1 << 20;
const ALLOCATION_STEP_MAX: u64 = 16 << 20;

/// Opens a segment for reading and writing; with `dsync`, every write returns only once its
/// bytes (and what reading them back needs) are durable, as if followed by fdatasync.
async fn open_rw(path: &Path, dsync: bool) -> Result<DmaFile, Error> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .custom_flags(if dsync { libc::O_DSYNC } else { 0 })
        .dma_open(path)
        .await
        .map_err(|e| Error::Glommio {
            operation: "open",
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// glommio probes polled-I/O support with a read at offset 0 of the first file an
/// executor opens for DMA; on an empty file the probe wrongly succeeds and later O_DIRECT
/// reads fail with EOPNOTSUPP (DESIGN §9). Opening a non-empty file first avoids that.
async fn prime_dma_probe(dir: &Path) -> Result<(), Error> {
    let path = dir.join(".dma-probe");
    let meta = std::fs::metadata(&path);
    if meta.map(|m| m.len() < PAGE_BYTES as u64).unwrap_or(true) {
        std::fs::write(&path, vec![0u8; PAGE_BYTES]).map_err(|e| Error::io("write", &path, e))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .dma_open(&path)
        .await
        .map_err(|e| Error::Glommio {
            operation: "open",
            path: path.clone(),
            message: e.to_string(),
        })?;
    let _ = file.close().await;
    Ok(())
}

impl Wal {
    /// Opens the WAL in `dir`, replaying every intact record into `apply` in order.
    pub async fn open(
        dir: &Path,
        options: WalOptions,
        mut apply: impl FnMut(Record),
    ) -> Result<Wal, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
        prime_dma_probe(dir).await?;
        let segments = list_segments(dir)?;
        let progress = options.replay_progress.clone();
        let count = |counter: fn(&ReplayProgress) -> &std::sync::atomic::AtomicU64, n: usize| {
            if let Some(p) = &progress {
                counter(p).fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
            }
        };
        count(|p| &p.segments_total, segments.len());
        let mut last: Option<(u32, u64, Vec<u8>)> = None;
        for (i, &index) in segments.iter().enumerate() {
            let path = segment_path(dir, index);
            let file = open_rw(&path, false).await?;
            let scan = scan_segment(&file, &path, &mut apply).await?;
            if let Some(bad_at) = scan.corrupt_at {
                tracing::warn!(path = %path.display(), offset = bad_at, "WAL: torn or corrupt record; truncating the log here");
                zero_range(&file, &path, bad_at, scan.data_end).await?;
                for &later in &segments[i + 1..] {
                    let later_path = segment_path(dir, later);
                    tracing::warn!(path = %later_path.display(), "WAL: removing segment after the corruption point");
                    std::fs::remove_file(&later_path)
                        .map_err(|e| Error::io("remove", &later_path, e))?;
                }
                let tail = scan.tail_page;
                let _ = file.close().await;
                // The segments removed count as done: nothing is left to replay.
                count(|p| &p.segments_replayed, segments.len() - i);
                last = Some((index, bad_at, tail));
                break;
            }
            let _ = file.close().await;
            count(|p| &p.segments_replayed, 1);
            last = Some((index, scan.good_end, scan.tail_page));
        }
        let (segment, offset, tail) =
            last.unwrap_or((options.segment_index_first.max(1), 0, Vec::new()));
        let path = segment_path(dir, segment);
        let file = open_rw(&path, options.fsync_on_commit).await?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            file,
            segment,
            offset,
            tail,
            dirty_end: 0,
            // Unknown for a reopened segment: the first write allocates up to where it needs
            // (allocating blocks a file already has changes nothing).
            allocated_end: 0,
            allocation_step: ALLOCATION_STEP_FIRST,
            stats: WalStats::default(),
            frames: Vec::new(),
            encoder: RecordEncoder::new(options.compress),
            options,
        })
    }

    /// Writes `records` as one group commit: one positioned write, durable on return when
    /// `fsync_on_commit` (O_DSYNC). Returns after the bytes are on the device (or in its cache
    /// without it).
    pub async fn append(&mut self, records: &[Record]) -> Result<(), Error> {
        let mut frames = std::mem::take(&mut self.frames);
        frames.clear();
        let result = self.append_frames(records, &mut frames).await;
        if frames.capacity() <= KEPT_BUFFER_BYTES_MAX {
            self.frames = frames;
        }
        self.encoder.shed_buffers_over(KEPT_BUFFER_BYTES_MAX);
        result
    }

    async fn append_frames(&mut self, records: &[Record], frames: &mut Vec<u8>) -> Result<(), Error> {
        for record in records {
            let (payload, plain_len) = self.encoder.encode(record);
            if plain_len > RECORD_BYTES_MAX {
                return Err(Error::RecordTooLarge {
                    path: self.dir.clone(),
                    bytes: plain_len,
                    bytes_max: RECORD_BYTES_MAX,
                });
            }
            frames.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            frames.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
            frames.extend_from_slice(payload);
        }
        if frames.is_empty() {
            return Ok(());
        }
        if self.offset > 0 && self.offset + frames.len() as u64 > self.options.segment_bytes {
            self.rotate().await?;
        }
        let page_start = self.offset - self.tail.len() as u64;
        debug_assert_eq!(
            page_start % PAGE_BYTES as u64,
            0,
            "writes start on a page boundary"
        );
        self.write_pages(page_start, frames).await?;
        self.offset += frames.len() as u64;
        self.stats.bytes_written_total += frames.len() as u64;
        // The new tail: the bytes of `tail + frames` from the start of the last partial page.
        let new_page_start = (self.offset / PAGE_BYTES as u64) * PAGE_BYTES as u64;
        let keep_from = (new_page_start - page_start) as usize;
        match keep_from.checked_sub(self.tail.len()) {
            Some(in_frames) => {
                self.tail.clear();
                self.tail.extend_from_slice(&frames[in_frames..]);
            }
            None => {
                self.tail.drain(..keep_from);
                self.tail.extend_from_slice(frames);
            }
        }
        Ok(())
    }

    /// Writes `tail + frames` at `page_start` (zero-padded to a page, and over the whole
    /// dirty region a failed write left), durably when configured (O_DSYNC). On failure the
    /// region written is marked dirty; on success nothing past the new end is dirty.
    async fn write_pages(&mut self, page_start: u64, frames: &[u8]) -> Result<(), Error> {
        let logical = self.tail.len() + frames.len();
        let dirty = self.dirty_end.saturating_sub(page_start) as usize;
        let padded = logical.max(dirty).div_ceil(PAGE_BYTES) * PAGE_BYTES;
        let mut buffer = self.file.alloc_dma_buffer(padded);
        let bytes = buffer.as_bytes_mut();
        bytes[..self.tail.len()].copy_from_slice(&self.tail);
        bytes[self.tail.len()..logical].copy_from_slice(frames);
        bytes[logical..].fill(0);
        let path = segment_path(&self.dir, self.segment);
        self.allocate_through(page_start + padded as u64, &path).await;
        // Whatever happens from here, the region may hold bytes of this attempt.
        self.dirty_end = self.dirty_end.max(page_start + padded as u64);
        #[cfg(feature = "fault-injection")]
        let injected = {
            use crate::fault::{self, Fault};
            match fault::take(|f| matches!(f, Fault::WalShortWrite { .. } | Fault::WalNoSpace | Fault::WalIoError)) {
                Some(Fault::WalShortWrite { after_bytes }) => {
                    let torn_at = (self.tail.len() + after_bytes).min(logical);
                    bytes[torn_at..].fill(0);
                    Some(Err(Error::ShortWrite { path: path.clone(), written: torn_at, wanted: padded }))
                }
                Some(Fault::WalNoSpace) => {
                    return Err(Error::io("write", &path, fault::os_error(libc::ENOSPC)));
                }
                Some(_) => Some(Err(Error::io("write", &path, fault::os_error(libc::EIO)))),
                None => None,
            }
        };
        let written = self
            .file
            .write_at(buffer, page_start)
            .await
            .map_err(|e| Error::glommio("write", &path, e))?;
        #[cfg(feature = "fault-injection")]
        if let Some(error) = injected {
            return error;
        }
        if written != padded {
            return Err(Error::ShortWrite {
                path,
                written,
                wanted: padded,
            });
        }
        if self.options.fsync_on_commit {
            // The segment is open with O_DSYNC: the write above was the commit's fdatasync
            // too, in one io_uring operation instead of two (half the io_uring worker hand-offs
            // and context switches; DESIGN §9's durability promise is the same).
            injected_fsync_failure(&path)?;
            self.stats.fsyncs_total += 1;
        }
        self.dirty_end = 0;
        Ok(())
    }

    /// Allocates the segment's blocks through `end` and a step beyond (never past the
    /// segment size, unless one record alone is larger), so most commits overwrite
    /// allocated space.
    async fn allocate_through(&mut self, end: u64, path: &Path) {
        if end <= self.allocated_end {
            return;
        }
        let target = end.saturating_add(self.allocation_step).min(self.options.segment_bytes.max(end));
        preallocate(&self.file, path, target).await;
        // Also after a failure: retrying on every commit would only repeat it.
        self.allocated_end = target;
        self.allocation_step = (self.allocation_step * 2).min(ALLOCATION_STEP_MAX);
    }

    async fn fdatasync(&self, path: &Path) -> Result<(), Error> {
        injected_fsync_failure(path)?;
        self.file
            .fdatasync()
            .await
            .map_err(|e| Error::glommio("fdatasync", path, e))
    }

    /// Finishes the current segment (synced) and starts the next one; returns the index of
    /// the finished segment. Every record appended so far lies in segments up to it.
    pub async fn cut_segment(&mut self) -> Result<u32, Error> {
        let finished = self.segment;
        self.rotate().await?;
        Ok(finished)
    }

    /// Syncs the current segment (first zeroing what a failed write may have left past
    /// its end: replay would stop there and drop every later segment) and opens the next.
    /// On failure nothing changes: appends continue in the current segment.
    async fn rotate(&mut self) -> Result<(), Error> {
        let path = segment_path(&self.dir, self.segment);
        if self.dirty_end > self.offset {
            let page_start = self.offset - self.tail.len() as u64;
            self.write_pages(page_start, &[]).await?;
        }
        self.fdatasync(&path).await?;
        let next_segment = self.segment + 1;
        let next = segment_path(&self.dir, next_segment);
        let file = open_rw(&next, self.options.fsync_on_commit).await?;
        let old = std::mem::replace(&mut self.file, file);
        let _ = old.close().await;
        self.segment = next_segment;
        self.offset = 0;
        self.tail.clear();
        self.dirty_end = 0;
        self.allocated_end = 0;
        self.allocation_step = ALLOCATION_STEP_FIRST;
        Ok(())
    }

    /// Syncs and closes.
    pub async fn close(self) -> Result<(), Error> {
        let path = segment_path(&self.dir, self.segment);
        self.fdatasync(&path).await?;
        self.file
            .close()
            .await
            .map_err(|e| Error::glommio("close", &path, e))?;
        Ok(())
    }
}

/// A failed fdatasync when the fault-injection tests armed one (`Fault::WalFsync`), for an
/// fdatasync call and for an O_DSYNC commit alike; always `Ok` in other builds.
fn injected_fsync_failure(path: &Path) -> Result<(), Error> {
    #[cfg(feature = "fault-injection")]
    if crate::fault::take(|f| *f == crate::fault::Fault::WalFsync).is_some() {
        return Err(Error::io("fdatasync", path, crate::fault::os_error(libc::EIO)));
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = path;
    Ok(())
}

/// Allocates the file's blocks up to `bytes` so commits overwrite allocated space (much
/// cheaper to fdatasync than growing a file, DESIGN §9). Failure only costs speed.
async fn preallocate(file: &DmaFile, path: &Path, bytes: u64) {
    if let Err(e) = file.pre_allocate(bytes, false).await {
        tracing::debug!(path = %path.display(), error = %e, "WAL segment pre-allocation not supported");
    }
}
