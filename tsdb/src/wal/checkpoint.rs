//! WAL checkpoints: after a head cut, the head's remaining content (series + samples
//! records, WAL frame format) in one file `wal/checkpoint.<N>` that replaces segments ≤ N.
//! Written as `checkpoint.<N>.<ULID>` ("pending": valid only once block ULID exists), then
//! renamed to `checkpoint.<N>` and older segments removed. Written and read back with O_DIRECT
//! (`block::DirectWriter`, `block::SequentialReader`), like block files. See `tsdb/docs/wal.md`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::record::{Record, RecordEncoder};
use super::segment::{list_segments, segment_path};
use super::{FRAME_HEADER_BYTES, PAGE_BYTES, RECORD_BYTES_MAX};
use crate::block::{is_ulid, sync_dir, DirectFile, DirectWriter, SequentialReader};
use crate::error::Error;

const PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

pub fn pending_name(segment: u32, ulid: &str) -> String {
    format!("{PREFIX}{segment:08}.{ulid}")
}

/// The pending name of a checkpoint whose cut writes several blocks, ULIDs `first` to
/// `last` (increasing): it counts once block `last` exists; until then the blocks between
/// are the cut's, unfinished.
pub fn pending_range_name(segment: u32, first: &str, last: &str) -> String {
    format!("{PREFIX}{segment:08}.{first}-{last}")
}

fn final_name(segment: u32) -> String {
    format!("{PREFIX}{segment:08}")
}

/// Streams records into a new checkpoint file (`<name>.tmp` until `finish`).
pub struct CheckpointWriter {
    tmp: PathBuf,
    path: PathBuf,
    out: DirectWriter,
    bytes: u64,
    /// Always compressing: a checkpoint is written once and read at every replay.
    encoder: RecordEncoder,
}

impl CheckpointWriter {
    pub fn create(wal_dir: &Path, name: &str) -> Result<CheckpointWriter, Error> {
        let path = wal_dir.join(name);
        let tmp = wal_dir.join(format!("{name}{TMP_SUFFIX}"));
        let (out, _) = DirectWriter::create(&tmp)?;
        Ok(CheckpointWriter {
            tmp,
            path,
            out,
            bytes: 0,
            encoder: RecordEncoder::new(true),
        })
    }

    pub fn write(&mut self, record: &Record) -> Result<(), Error> {
        let (payload, plain_len) = self.encoder.encode(record);
        if plain_len > RECORD_BYTES_MAX {
            return Err(Error::RecordTooLarge {
                path: self.tmp.clone(),
                bytes: plain_len,
                bytes_max: RECORD_BYTES_MAX,
            });
        }
        let mut header = [0u8; FRAME_HEADER_BYTES];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        self.out
            .write_all(&header)
            .and_then(|_| self.out.write_all(payload))
            .map_err(|e| Error::io("write", &self.tmp, e))?;
        self.bytes += (FRAME_HEADER_BYTES + payload.len()) as u64;
        Ok(())
    }

    /// Pads with zeros to a page (zeros end the data, as in a segment), fsyncs, renames the
    /// file into place and fsyncs the directory. On failure the `.tmp` file is removed.
    pub fn finish(self) -> Result<PathBuf, Error> {
        let tmp = self.tmp.clone();
        let result = self.finish_tmp();
        if result.is_err() && tmp.exists() {
            if let Err(e) = std::fs::remove_file(&tmp) {
                tracing::warn!(path = %tmp.display(), error = %e, "could not remove a failed checkpoint");
            }
        }
        result
    }

    fn finish_tmp(mut self) -> Result<PathBuf, Error> {
        #[cfg(feature = "fault-injection")]
        if crate::fault::take(|f| *f == crate::fault::Fault::CheckpointWrite).is_some() {
            return Err(Error::io("write", &self.tmp, crate::fault::os_error(libc::ENOSPC)));
        }
        let pad = (PAGE_BYTES as u64 - self.bytes % PAGE_BYTES as u64) as usize;
        let pad = pad.max(FRAME_HEADER_BYTES);
        self.out
            .write_all(&vec![0u8; pad])
            .map_err(|e| Error::io("write", &self.tmp, e))?;
        self.bytes += pad as u64;
        let (written_bytes, _) = self.out.finish()?;
        debug_assert_eq!(written_bytes, self.bytes, "the checkpoint holds exactly its frames and padding");
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io("rename", &self.tmp, e))?;
        if let Some(dir) = self.path.parent() {
            sync_dir(dir)?;
        }
        Ok(self.path)
    }
}

/// Replays a checkpoint's records in order. A damaged frame ends the replay with a
/// warning (what came before is kept), like a torn WAL tail.
pub fn replay(path: &Path, mut apply: impl FnMut(Record)) -> Result<(), Error> {
    let (file, _read_buffered) = DirectFile::open(path)?;
    let mut input = SequentialReader::new(file);
    let mut offset = 0u64;
    let mut payload = Vec::new();
    loop {
        let mut header = [0u8; FRAME_HEADER_BYTES];
        match input.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(input.take_error().unwrap_or_else(|| Error::io("read", path, e))),
        }
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if length == 0 {
            break;
        }
        payload.resize(length.min(RECORD_BYTES_MAX), 0);
        let intact = length <= RECORD_BYTES_MAX
            && input.read_exact(&mut payload).is_ok()
            && crc32c::crc32c(&payload) == crc;
        match intact.then(|| Record::decode(&payload)).flatten() {
            Some(record) => apply(record),
            None => {
                tracing::warn!(path = %path.display(), offset, "WAL checkpoint: damaged record; replay of the checkpoint stops here");
                break;
            }
        }
        offset += (FRAME_HEADER_BYTES + length) as u64;
    }
    Ok(())
}

/// Removes WAL segments with index ≤ `segment`.
fn remove_segments_through(wal_dir: &Path, segment: u32) -> Result<(), Error> {
    for index in list_segments(wal_dir)? {
        if index <= segment {
            let path = segment_path(wal_dir, index);
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        }
    }
    Ok(())
}

/// Makes a pending checkpoint final: rename it to `checkpoint.<N>`, then remove segments
/// ≤ N and older final checkpoints. Every step is idempotent, so a crash between them is
/// settled at the next open. An older pending checkpoint stays: it is left only by a failed
/// cut whose blocks could not all be removed, and it names them for `settle`.
pub fn finalize(wal_dir: &Path, segment: u32, pending: &Path) -> Result<(), Error> {
    let done = wal_dir.join(final_name(segment));
    std::fs::rename(pending, &done).map_err(|e| Error::io("rename", pending, e))?;
    sync_dir(wal_dir)?;
    remove_segments_through(wal_dir, segment)?;
    for (other, name) in list(wal_dir)? {
        if other < segment && name.len() == PREFIX.len() + 8 {
            let path = wal_dir.join(name);
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
        }
    }
    Ok(())
}

/// Checkpoint files in `wal_dir` as `(segment, file name)`, sorted; unfinished `.tmp`
/// files are removed.
fn list(wal_dir: &Path) -> Result<Vec<(u32, String)>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(wal_dir).map_err(|e| Error::io("list", wal_dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", wal_dir, e))?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        if rest.ends_with(TMP_SUFFIX) {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            continue;
        }
        let digits = rest
            .get(..8)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()));
        let tail = rest.get(8..).unwrap_or("");
        let well_formed = tail.is_empty() || tail.strip_prefix('.').is_some_and(|t| is_ulid(t) || t.split_once('-').is_some_and(|(a, b)| is_ulid(a) && is_ulid(b)));
        if let (Some(Ok(segment)), true) = (digits.map(str::parse::<u32>), well_formed) {
            out.push((segment, name));
        }
    }
    out.sort();
    Ok(out)
}

/// What `settle` found: the checkpoint to replay before the segments (with its segment
/// number), and the ULID ranges (inclusive) of blocks written by cuts that never committed,
/// which the caller removes before serving anything.
#[derive(Debug, Default)]
pub struct Settled {
    pub checkpoint: Option<(u32, PathBuf)>,
    pub uncommitted_blocks: Vec<(String, String)>,
}

/// Brings the WAL directory to a consistent state at open. A pending checkpoint whose
/// (last) block exists is finalized; one whose block does not exist is discarded (the
/// segments it would have replaced are still there), and for a cut of several blocks the
/// ULID range of the blocks it wrote is returned for removal (their samples replay from the
/// segments).
pub fn settle(
    wal_dir: &Path,
    block_exists: impl Fn(&str) -> bool,
) -> Result<Settled, Error> {
    let mut settled = Settled::default();
    for (segment, name) in list(wal_dir)? {
        let Some(tail) = name.get(PREFIX.len() + 9..).filter(|u| !u.is_empty()) else {
            continue;
        };
        let (first, last) = tail.split_once('-').unwrap_or((tail, tail));
        let path = wal_dir.join(&name);
        if block_exists(last) {
            tracing::info!(path = %path.display(), "finishing an interrupted WAL checkpoint");
            finalize(wal_dir, segment, &path)?;
        } else {
            tracing::warn!(path = %path.display(), "discarding a WAL checkpoint whose block was never completed");
            std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
            if first != last {
                settled.uncommitted_blocks.push((first.to_string(), last.to_string()));
            }
        }
    }
    let finals = list(wal_dir)?;
    let Some((segment, name)) = finals.last().cloned() else {
        return Ok(settled);
    };
    for (other, old) in &finals[..finals.len() - 1] {
        let path = wal_dir.join(old);
        tracing::debug!(segment = other, "removing a superseded WAL checkpoint");
        std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    }
    remove_segments_through(wal_dir, segment)?;
    settled.checkpoint = Some((segment, wal_dir.join(name)));
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Labels, Sample};

    fn records() -> Vec<Record> {
        vec![
            Record::Series(vec![(0, Labels::from_pairs([("__name__", "up")]))]),
            Record::Samples(vec![(
                0,
                Sample {
                    timestamp_ms: 5,
                    value: 1.5,
                },
            )]),
        ]
    }

    #[test]
    fn pending_checkpoints_count_only_with_their_block() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = dir.path();
        for i in 1..=3 {
            std::fs::write(segment_path(wal, i), b"x").expect("segment");
        }
        let ulid = crate::block::new_ulid(7);
        let mut w = CheckpointWriter::create(wal, &pending_name(2, &ulid)).expect("create");
        for r in records() {
            w.write(&r).expect("write");
        }
        w.finish().expect("finish");
        // Block missing: the pending checkpoint is dropped and every segment stays.
        let settled = settle(wal, |_| false).expect("settle");
        assert!(settled.checkpoint.is_none() && settled.uncommitted_blocks.is_empty(), "{settled:?}");
        assert_eq!(list_segments(wal).expect("ls"), vec![1, 2, 3]);

        let mut w = CheckpointWriter::create(wal, &pending_name(2, &ulid)).expect("create");
        for r in records() {
            w.write(&r).expect("write");
        }
        w.finish().expect("finish");
        let (segment, path) = settle(wal, |u| u == ulid)
            .expect("settle")
            .checkpoint
            .expect("checkpoint");
        assert_eq!(segment, 2);
        assert_eq!(
            list_segments(wal).expect("ls"),
            vec![3],
            "segments ≤ 2 are replaced"
        );
        let mut got = Vec::new();
        replay(&path, |r| got.push(r)).expect("replay");
        assert_eq!(got, records());
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len() % PAGE_BYTES as u64,
            0
        );
    }

    #[test]
    fn a_cut_of_several_blocks_counts_with_its_last_block_and_names_them_otherwise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wal = dir.path();
        for i in 1..=2 {
            std::fs::write(segment_path(wal, i), b"x").expect("segment");
        }
        let (first, last) = (crate::block::new_ulid(7), crate::block::new_ulid(9));
        let write = || {
            let mut w = CheckpointWriter::create(wal, &pending_range_name(1, &first, &last)).expect("create");
            for r in records() {
                w.write(&r).expect("write");
            }
            w.finish().expect("finish");
        };
        // Only the first block was written: the checkpoint goes, the segments stay and the
        // cut's blocks are named for removal.
        write();
        let settled = settle(wal, |u| u == first).expect("settle");
        assert!(settled.checkpoint.is_none());
        assert_eq!(settled.uncommitted_blocks, vec![(first.clone(), last.clone())]);
        assert_eq!(list_segments(wal).expect("ls"), vec![1, 2]);
        // The last one exists: committed.
        write();
        let settled = settle(wal, |u| u == last).expect("settle");
        assert_eq!(settled.checkpoint.map(|(segment, _)| segment), Some(1));
        assert!(settled.uncommitted_blocks.is_empty());
        assert_eq!(list_segments(wal).expect("ls"), vec![2]);
    }
}
