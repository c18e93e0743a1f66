//! Segment files: naming, listing, scanning frames on replay, and zeroing a corrupt tail
//! so stale bytes after the cut can never be mistaken for records later.

use std::path::{Path, PathBuf};

use glommio::io::DmaFile;

use super::record::Record;
use super::{FRAME_HEADER_BYTES, PAGE_BYTES, RECORD_BYTES_MAX};
use crate::error::Error;

/// Bytes read per DMA read while scanning.
const SCAN_READ_BYTES: usize = 4 << 20;

pub fn segment_path(dir: &Path, index: u32) -> PathBuf {
    dir.join(format!("{index:08}"))
}

/// Segment indexes present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u32>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.len() == 8 && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(index) = name.parse::<u32>() {
                out.push(index);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

pub struct Scan {
    /// End of the last intact record.
    pub good_end: u64,
    /// Offset of the first bad record, if the segment has a torn/corrupt tail.
    pub corrupt_at: Option<u64>,
    /// End of the last non-zero byte seen (how far stale data may reach).
    pub data_end: u64,
    /// Bytes of the partial page that ends at the cut point.
    pub tail_page: Vec<u8>,
}

/// Reads the whole segment, applying intact records in order.
pub async fn scan_segment(
    file: &DmaFile,
    path: &Path,
    apply: &mut impl FnMut(Record),
) -> Result<Scan, Error> {
    let size = file
        .file_size()
        .await
        .map_err(|e| Error::glommio("stat", path, e))?;
    let mut data: Vec<u8> = Vec::new();
    let mut base: u64 = 0; // file offset of data[0]
    let mut pos: usize = 0; // parse position within data
    let mut read_offset: u64 = 0;
    let mut good_end: u64 = 0;
    let mut corrupt_at: Option<u64> = None;
    let mut data_end: u64 = 0;
    let mut ended = false;
    while read_offset < size {
        let want = SCAN_READ_BYTES.min((size - read_offset) as usize);
        let chunk = file
            .read_at(read_offset, want)
            .await
            .map_err(|e| Error::glommio("read", path, e))?;
        if chunk.is_empty() {
            break;
        }
        if let Some(last_nonzero) = chunk.iter().rposition(|b| *b != 0) {
            data_end = read_offset + last_nonzero as u64 + 1;
        }
        read_offset += chunk.len() as u64;
        if ended {
            continue; // keep reading only to find how far stale data reaches
        }
        data.extend_from_slice(&chunk);
        loop {
            let rest = &data[pos..];
            if rest.len() < FRAME_HEADER_BYTES {
                break;
            }
            let length = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
            if length == 0 {
                // Zeros: the end of written data (or a torn page), decided below.
                ended = true;
                break;
            }
            if length > RECORD_BYTES_MAX {
                corrupt_at = Some(base + pos as u64);
                ended = true;
                break;
            }
            if rest.len() < FRAME_HEADER_BYTES + length {
                break;
            }
            let payload = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + length];
            if crc32c::crc32c(payload) != crc {
                corrupt_at = Some(base + pos as u64);
                ended = true;
                break;
            }
            match Record::decode(payload) {
                Some(record) => apply(record),
                None => {
                    tracing::error!(path = %path.display(), offset = base + pos as u64, "WAL: record with a valid checksum does not decode; skipped")
                }
            }
            pos += FRAME_HEADER_BYTES + length;
            good_end = base + pos as u64;
        }
        // Drop parsed bytes to bound memory.
        data.drain(..pos);
        base += pos as u64;
        pos = 0;
    }
    // Anything non-zero after the last good record is a torn tail.
    if corrupt_at.is_none() && data_end > good_end {
        corrupt_at = Some(good_end);
    }
    let cut = corrupt_at.unwrap_or(good_end);
    let page_start = cut / PAGE_BYTES as u64 * PAGE_BYTES as u64;
    let tail_page = if cut > page_start {
        let page = file
            .read_at(page_start, (cut - page_start) as usize)
            .await
            .map_err(|e| Error::glommio("read", path, e))?;
        page.to_vec()
    } else {
        Vec::new()
    };
    Ok(Scan {
        good_end,
        corrupt_at,
        data_end,
        tail_page,
    })
}

/// Zeroes `[from, to)` (keeping bytes before `from` in its page) and syncs.
pub async fn zero_range(file: &DmaFile, path: &Path, from: u64, to: u64) -> Result<(), Error> {
    if to <= from {
        return Ok(());
    }
    let page = PAGE_BYTES as u64;
    let start = from / page * page;
    let keep = if from > start {
        file.read_at(start, (from - start) as usize)
            .await
            .map_err(|e| Error::glommio("read", path, e))?
            .to_vec()
    } else {
        Vec::new()
    };
    let end = to.div_ceil(page) * page;
    let mut offset = start;
    let mut first = true;
    while offset < end {
        let len = ((end - offset) as usize).min(1 << 20);
        let mut buffer = file.alloc_dma_buffer(len);
        let bytes = buffer.as_bytes_mut();
        bytes.fill(0);
        if first {
            bytes[..keep.len()].copy_from_slice(&keep);
            first = false;
        }
        let written = file
            .write_at(buffer, offset)
            .await
            .map_err(|e| Error::glommio("write", path, e))?;
        if written != len {
            return Err(Error::ShortWrite {
                path: path.to_path_buf(),
                written,
                wanted: len,
            });
        }
        offset += len as u64;
    }
    file.fdatasync()
        .await
        .map_err(|e| Error::glommio("fdatasync", path, e))
}
