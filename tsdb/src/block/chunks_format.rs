//! Block chunk segments `chunks/000001…` in Prometheus' layout: an 8-byte header (magic
//! 0x85BD40DD, version 1, 3 bytes padding), then chunks as `uvarint len | encoding byte |
//! data | CRC32C(encoding, data)` big-endian. Segments stay ≤ 512 MiB. The reader reads
//! exactly one chunk at a time through the shard's page cache (O_DIRECT pages).

use std::path::Path;
use std::rc::Rc;

use super::encoding::{crc32c, Decoder};
use super::page_cache::{CachedFile, PageCache};
use crate::chunk::ChunkEncoding;
use crate::error::Error;

pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
pub const CHUNKS_VERSION_1: u8 = 1;
pub const SEGMENT_HEADER_BYTES: usize = 8;
pub const SEGMENT_BYTES_MAX: usize = 512 << 20;
/// A chunk's `len` field takes at most 5 bytes (uvarint of a u32).
const LEN_FIELD_BYTES_MAX: usize = 5;

pub fn segment_file_name(index: usize) -> String {
    format!("{:06}", index + 1)
}

/// Reads single chunks from a block's segment files through the shard's page cache.
/// Dropping it drops the block's cached pages.
pub struct ChunkReader {
    cache: Rc<PageCache>,
    block: u64,
    files: Vec<CachedFile>,
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        self.cache.invalidate_block(self.block);
    }
}

impl ChunkReader {
    /// Opens every segment in `chunks_dir` (`000001`, `000002`, … with no gaps) and checks
    /// headers; `block` is the block's cache identity (`PageCache::register_block`).
    pub fn open(chunks_dir: &Path, cache: &Rc<PageCache>, block: u64) -> Result<ChunkReader, Error> {
        let mut reader = ChunkReader {
            cache: Rc::clone(cache),
            block,
            files: Vec::new(),
        };
        loop {
            let index = reader.files.len();
            let path = chunks_dir.join(segment_file_name(index));
            let index = u32::try_from(index)
                .map_err(|_| Error::corrupt(chunks_dir, "too many chunk segments"))?;
            let file = match cache.open_file(&path, block, index) {
                Ok(f) => f,
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            };
            let mut header = [0u8; SEGMENT_HEADER_BYTES];
            if file.size_bytes() < SEGMENT_HEADER_BYTES as u64 {
                return Err(Error::corrupt(&path, "chunk segment shorter than its header"));
            }
            cache.read(&file, 0, &mut header)?;
            let mut d = Decoder::new(&header);
            if d.be32() != Some(MAGIC_CHUNKS) {
                return Err(Error::corrupt(&path, "bad chunk segment magic"));
            }
            if d.u8() != Some(CHUNKS_VERSION_1) {
                return Err(Error::corrupt(&path, "unsupported chunk segment version"));
            }
            reader.files.push(file);
        }
        Ok(reader)
    }

    /// The XOR chunk bytes at `chunk_ref`, checksum verified; another encoding is an error.
    pub fn read_xor(&self, chunk_ref: u64) -> Result<Vec<u8>, Error> {
        match self.read_chunk(chunk_ref)? {
            (ChunkEncoding::Xor, bytes) => Ok(bytes),
            (other, _) => Err(Error::corrupt(self.files.first().map(|f| f.path().to_path_buf()).unwrap_or_default(), format!("chunk {chunk_ref:#x}: {other:?}, not XOR"))),
        }
    }

    /// The chunk at `chunk_ref`: its encoding and bytes, checksum verified.
    pub fn read_chunk(&self, chunk_ref: u64) -> Result<(ChunkEncoding, Vec<u8>), Error> {
        let index = (chunk_ref >> 32) as usize;
        #[cfg(feature = "fault-injection")]
        if crate::fault::take(|f| *f == crate::fault::Fault::ChunkRead).is_some() {
            let path = self.files.get(index).map(|f| f.path().to_path_buf()).unwrap_or_default();
            return Err(Error::io("read", path, crate::fault::os_error(libc::EIO)));
        }
        let offset = chunk_ref & 0xffff_ffff;
        let Some(file) = self.files.get(index) else {
            return Err(Error::corrupt(
                self.files.first().map(|f| f.path().to_path_buf()).unwrap_or_default(),
                format!("chunk reference {chunk_ref:#x} names a missing segment"),
            ));
        };
        let (path, size) = (file.path(), &file.size_bytes());
        if offset < SEGMENT_HEADER_BYTES as u64 || offset >= *size {
            return Err(Error::corrupt(
                path,
                format!("chunk offset {offset} out of bounds"),
            ));
        }
        let head_len = (LEN_FIELD_BYTES_MAX as u64).min(size - offset) as usize;
        let mut head = [0u8; LEN_FIELD_BYTES_MAX];
        let head = &mut head[..head_len];
        self.cache.read(file, offset, head)?;
        let mut d = Decoder::new(head);
        let data_len = d
            .uvarint()
            .filter(|l| *l <= SEGMENT_BYTES_MAX as u64)
            .ok_or_else(|| Error::corrupt(path, format!("chunk length at {offset} is malformed")))?
            as usize;
        let start = offset + d.pos as u64;
        let total = 1 + data_len + 4;
        if start + total as u64 > *size {
            return Err(Error::corrupt(
                path,
                format!("chunk at {offset} runs past the end"),
            ));
        }
        let mut buf = vec![0u8; total];
        self.cache.read(file, start, &mut buf)?;
        let crc = u32::from_be_bytes([
            buf[total - 4],
            buf[total - 3],
            buf[total - 2],
            buf[total - 1],
        ]);
        if crc32c(&buf[..total - 4]) != crc {
            return Err(Error::corrupt(
                path,
                format!("chunk at {offset}: checksum mismatch"),
            ));
        }
        let Some(encoding) = ChunkEncoding::from_u8(buf[0]) else {
            return Err(Error::corrupt(
                path,
                format!("chunk at {offset}: unsupported encoding {}", buf[0]),
            ));
        };
        buf.truncate(total - 4);
        buf.remove(0);
        Ok((encoding, buf))
    }
}
