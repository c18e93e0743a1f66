//! Block chunk segments `chunks/000001…` in Prometheus' layout: an 8-byte header (magic
//! 0x85BD40DD, version 1, 3 bytes padding), then chunks as `uvarint len | encoding byte |
//! data | CRC32C(encoding, data)` big-endian. Segments stay ≤ 512 MiB. The reader does
//! positioned reads of exactly one chunk at a time, so memory stays bounded.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::encoding::{crc32c, Decoder, Encoder};
use crate::error::Error;

pub const MAGIC_CHUNKS: u32 = 0x85BD_40DD;
pub const CHUNKS_VERSION_1: u8 = 1;
pub const SEGMENT_HEADER_BYTES: usize = 8;
pub const SEGMENT_BYTES_MAX: usize = 512 << 20;
/// Prometheus' encoding number of float XOR chunks.
pub const ENCODING_XOR: u8 = 1;
/// A chunk's `len` field takes at most 5 bytes (uvarint of a u32).
const LEN_FIELD_BYTES_MAX: usize = 5;

pub fn segment_file_name(index: usize) -> String {
    format!("{:06}", index + 1)
}

/// Builds chunk segments in memory.
pub struct ChunkSegmentsWriter {
    segment_bytes_max: usize,
    pub segments: Vec<Vec<u8>>,
}

impl ChunkSegmentsWriter {
    pub fn new(segment_bytes_max: usize) -> Self {
        ChunkSegmentsWriter {
            segment_bytes_max,
            segments: Vec::new(),
        }
    }

    /// Appends one XOR chunk and returns its reference.
    pub fn add_xor(&mut self, data: &[u8]) -> u64 {
        let mut e = Encoder::default();
        e.put_uvarint(data.len() as u64);
        let enc_start = e.len();
        e.put_u8(ENCODING_XOR);
        e.bytes.extend_from_slice(data);
        e.put_crc_from(enc_start);
        let needs_new = match self.segments.last() {
            None => true,
            Some(s) => s.len() > SEGMENT_HEADER_BYTES && s.len() + e.len() > self.segment_bytes_max,
        };
        if needs_new {
            let mut header = Encoder::default();
            header.put_be32(MAGIC_CHUNKS);
            header.put_u8(CHUNKS_VERSION_1);
            header.bytes.extend_from_slice(&[0, 0, 0]);
            self.segments.push(header.bytes);
        }
        let index = self.segments.len() - 1;
        let segment = &mut self.segments[index];
        let offset = segment.len();
        segment.extend_from_slice(&e.bytes);
        ((index as u64) << 32) | offset as u64
    }
}

/// Reads single chunks from a block's segment files.
pub struct ChunkReader {
    files: Vec<(PathBuf, File, u64)>,
}

impl ChunkReader {
    /// Opens every segment in `chunks_dir` (`000001`, `000002`, … with no gaps) and checks headers.
    pub fn open(chunks_dir: &Path) -> Result<ChunkReader, Error> {
        let mut files = Vec::new();
        loop {
            let path = chunks_dir.join(segment_file_name(files.len()));
            let file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) => return Err(Error::io("open", &path, e)),
            };
            let size = file
                .metadata()
                .map_err(|e| Error::io("stat", &path, e))?
                .len();
            let mut header = [0u8; SEGMENT_HEADER_BYTES];
            file.read_exact_at(&mut header, 0)
                .map_err(|_| Error::corrupt(&path, "chunk segment shorter than its header"))?;
            let mut d = Decoder::new(&header);
            if d.be32() != Some(MAGIC_CHUNKS) {
                return Err(Error::corrupt(&path, "bad chunk segment magic"));
            }
            if d.u8() != Some(CHUNKS_VERSION_1) {
                return Err(Error::corrupt(&path, "unsupported chunk segment version"));
            }
            files.push((path, file, size));
        }
        Ok(ChunkReader { files })
    }

    /// The XOR chunk bytes at `chunk_ref`, checksum verified.
    pub fn read_xor(&self, chunk_ref: u64) -> Result<Vec<u8>, Error> {
        let index = (chunk_ref >> 32) as usize;
        let offset = chunk_ref & 0xffff_ffff;
        let Some((path, file, size)) = self.files.get(index) else {
            return Err(Error::corrupt(
                self.files.first().map(|f| f.0.clone()).unwrap_or_default(),
                format!("chunk reference {chunk_ref:#x} names a missing segment"),
            ));
        };
        if offset < SEGMENT_HEADER_BYTES as u64 || offset >= *size {
            return Err(Error::corrupt(
                path,
                format!("chunk offset {offset} out of bounds"),
            ));
        }
        let head_len = (LEN_FIELD_BYTES_MAX as u64).min(size - offset) as usize;
        let mut head = vec![0u8; head_len];
        file.read_exact_at(&mut head, offset)
            .map_err(|e| Error::io("read", path, e))?;
        let mut d = Decoder::new(&head);
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
        file.read_exact_at(&mut buf, start)
            .map_err(|e| Error::io("read", path, e))?;
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
        if buf[0] != ENCODING_XOR {
            return Err(Error::corrupt(
                path,
                format!("chunk at {offset}: unsupported encoding {}", buf[0]),
            ));
        }
        buf.truncate(total - 4);
        buf.remove(0);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_cut_at_the_limit_and_refs_address_chunks() {
        let mut w = ChunkSegmentsWriter::new(64);
        let a = w.add_xor(&[1; 20]);
        let b = w.add_xor(&[2; 20]);
        let c = w.add_xor(&[3; 20]);
        assert_eq!(a, 8);
        assert_eq!(b, 8 + 26);
        assert_eq!(
            c,
            1 << 32 | 8,
            "third chunk would pass 64 bytes: next segment"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        for (i, s) in w.segments.iter().enumerate() {
            std::fs::write(dir.path().join(segment_file_name(i)), s).expect("write");
        }
        let r = ChunkReader::open(dir.path()).expect("open");
        assert_eq!(r.read_xor(b).expect("b"), vec![2; 20]);
        assert_eq!(r.read_xor(c).expect("c"), vec![3; 20]);
        assert!(r.read_xor(2 << 32 | 8).is_err());
        let mut damaged = w.segments[0].clone();
        damaged[8 + 26 + 5] ^= 1;
        std::fs::write(dir.path().join(segment_file_name(0)), damaged).expect("write");
        let r = ChunkReader::open(dir.path()).expect("open");
        let err = r
            .read_xor(b)
            .expect_err("checksum must catch the flip")
            .to_string();
        assert!(err.contains("000001") && err.contains("checksum"), "{err}");
    }
}
