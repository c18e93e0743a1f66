//! Byte-level helpers for the block files: a growable big-endian/varint encoder and a
//! bounds-checked decoder whose every read reports running off the end as `None`.

use std::ops::Range;

/// CRC32 Castagnoli, the checksum of every block section.
pub fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c(bytes)
}

#[derive(Default, Debug)]
pub struct Encoder {
    pub bytes: Vec<u8>,
}

impl Encoder {
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn put_u8(&mut self, v: u8) {
        self.bytes.push(v);
    }

    pub fn put_be32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }

    pub fn put_be64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_be_bytes());
    }

    /// Go's `binary.PutUvarint`.
    pub fn put_uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.bytes.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.bytes.push(v as u8);
    }

    /// Go's `binary.PutVarint` (zig-zag).
    pub fn put_varint(&mut self, v: i64) {
        self.put_uvarint(((v << 1) ^ (v >> 63)) as u64);
    }

    pub fn put_uvarint_str(&mut self, s: &str) {
        self.put_uvarint(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// Zero bytes up to the next multiple of `align`.
    pub fn pad_to(&mut self, align: usize) {
        let rem = self.bytes.len() % align;
        if rem != 0 {
            self.bytes.resize(self.bytes.len() + align - rem, 0);
        }
    }

    /// Overwrites 4 bytes at `pos` with a big-endian u32.
    pub fn set_be32(&mut self, pos: usize, v: u32) {
        self.bytes[pos..pos + 4].copy_from_slice(&v.to_be_bytes());
    }

    /// Appends the CRC32C of `bytes[from..]`, big-endian.
    pub fn put_crc_from(&mut self, from: usize) {
        let crc = crc32c(&self.bytes[from..]);
        self.put_be32(crc);
    }
}

/// A cursor over a byte slice.
#[derive(Clone, Debug)]
pub struct Decoder<'a> {
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Decoder { bytes, pos: 0 }
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    pub fn be32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    pub fn be64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    pub fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.u8()?;
            if shift == 63 && b > 1 {
                return None;
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    pub fn varint(&mut self) -> Option<i64> {
        let u = self.uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub fn uvarint_str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// The `len`-prefixed section (4-byte big-endian length, body, CRC32C of the body) that
/// starts at the first byte of `window`, which holds the file from the section's `offset`
/// on (possibly cut short): the body's range in `window`, after checking the checksum.
pub fn section_be32(window: &[u8], offset: u64) -> Result<Range<usize>, String> {
    let mut d = Decoder::new(window);
    let len = d
        .be32()
        .ok_or_else(|| format!("section length at {offset} is out of bounds"))?
        as usize;
    checked_body(&mut d, len, offset)
}

/// The uvarint-length-prefixed section (a series entry) starting at the first byte of
/// `window`, as `section_be32`.
pub fn section_uvarint(window: &[u8], offset: u64) -> Result<Range<usize>, String> {
    let mut d = Decoder::new(window);
    let len = d
        .uvarint()
        .and_then(|l| usize::try_from(l).ok())
        .ok_or_else(|| format!("entry length at {offset} is malformed"))?;
    checked_body(&mut d, len, offset)
}

fn checked_body(d: &mut Decoder<'_>, len: usize, offset: u64) -> Result<Range<usize>, String> {
    let start = d.pos;
    let body = d
        .take(len)
        .ok_or_else(|| format!("section at {offset} ({len} bytes) runs past the end"))?;
    let crc = d
        .be32()
        .ok_or_else(|| format!("checksum of the section at {offset} is out of bounds"))?;
    if crc32c(body) != crc {
        return Err(format!("checksum mismatch in the section at {offset}"));
    }
    Ok(start..start + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u in any::<u64>(), i in any::<i64>(), s in "\\PC{0,20}") {
            let mut e = Encoder::default();
            e.put_uvarint(u);
            e.put_varint(i);
            e.put_uvarint_str(&s);
            let mut d = Decoder::new(&e.bytes);
            prop_assert_eq!(d.uvarint(), Some(u));
            prop_assert_eq!(d.varint(), Some(i));
            prop_assert_eq!(d.uvarint_str(), Some(s.as_str()));
            prop_assert_eq!(d.remaining(), 0);
        }
    }
}
