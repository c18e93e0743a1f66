//! MSB-first bit stream writer and reader, the substrate of the XOR encoding.

/// Appends bits, most significant first, into a byte vector.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    pub bytes: Vec<u8>,
    /// Bits still free in the last byte (0 means a new byte is needed).
    free_bits: u8,
}

impl BitWriter {
    /// A writer continuing `bytes`, whose last byte has `free_bits` bits still free (what
    /// `into_parts` gave), so a caller can keep the two in its own layout between writes.
    pub fn from_parts(bytes: Vec<u8>, free_bits: u8) -> Self {
        debug_assert!(free_bits < 8 && (free_bits == 0 || !bytes.is_empty()));
        BitWriter { bytes, free_bits }
    }

    /// The bytes and the bits still free in the last one.
    pub fn into_parts(self) -> (Vec<u8>, u8) {
        (self.bytes, self.free_bits)
    }

    pub fn write_bit(&mut self, bit: bool) {
        if self.free_bits == 0 {
            self.bytes.push(0);
            self.free_bits = 8;
        }
        if bit {
            let last = self.bytes.len() - 1;
            self.bytes[last] |= 1 << (self.free_bits - 1);
        }
        self.free_bits -= 1;
    }

    /// Writes the low `count` bits of `value`, most significant first.
    pub fn write_bits(&mut self, value: u64, count: u8) {
        debug_assert!(count <= 64);
        let mut remaining = count;
        while remaining > 0 {
            if self.free_bits == 0 {
                self.bytes.push(0);
                self.free_bits = 8;
            }
            let take = remaining.min(self.free_bits);
            let shift = remaining - take;
            let chunk = ((value >> shift) & ((1u64 << take) - 1)) as u8;
            let last = self.bytes.len() - 1;
            self.bytes[last] |= chunk << (self.free_bits - take);
            self.free_bits -= take;
            remaining -= take;
        }
    }

    pub fn write_byte(&mut self, byte: u8) {
        self.write_bits(u64::from(byte), 8);
    }

    /// Appends bits `from..to` of `src` (numbered as `BitReader` reads them: the most
    /// significant bit of `src[0]` is bit 0), up to 56 at a time.
    pub fn write_bits_of(&mut self, src: &[u8], from: usize, to: usize) {
        debug_assert!(from <= to && to <= src.len() * 8);
        let mut at = from;
        if self.free_bits == 0 && from.is_multiple_of(8) {
            // Both sides on a byte boundary: the whole bytes as they are, then the rest.
            let whole = (to - from) / 8;
            self.bytes.extend_from_slice(&src[from / 8..from / 8 + whole]);
            at += whole * 8;
        }
        while at < to {
            let take = (to - at).min(56);
            let mut word = [0u8; 8];
            let available = &src[at / 8..src.len().min(at / 8 + 8)];
            word[..available.len()].copy_from_slice(available);
            let bits = (u64::from_be_bytes(word) << (at % 8)) >> (64 - take);
            self.write_bits(bits, take as u8);
            at += take;
        }
    }
}

/// Reads bits written by [`BitWriter`]. Every read reports running off the end as `None`.
#[derive(Clone, Debug)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    bit_pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, bit_pos: 0 }
    }

    pub fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.bit_pos / 8)?;
        let bit = byte & (0x80 >> (self.bit_pos % 8)) != 0;
        self.bit_pos += 1;
        Some(bit)
    }

    pub fn read_bits(&mut self, count: u8) -> Option<u64> {
        debug_assert!(count <= 64);
        if self.bit_pos + count as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut value = 0u64;
        let mut remaining = count;
        while remaining > 0 {
            let byte = self.bytes[self.bit_pos / 8];
            let offset = (self.bit_pos % 8) as u8;
            let available = 8 - offset;
            let take = remaining.min(available);
            let chunk = (byte >> (available - take)) & (((1u16 << take) - 1) as u8);
            value = if take == 64 {
                u64::from(chunk)
            } else {
                (value << take) | u64::from(chunk)
            };
            self.bit_pos += take as usize;
            remaining -= take;
        }
        Some(value)
    }

    /// Bits read so far.
    pub fn bits_read(&self) -> usize {
        self.bit_pos
    }

    /// Bits not read yet.
    pub fn bits_left(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.bit_pos)
    }

    pub fn read_byte(&mut self) -> Option<u8> {
        self.read_bits(8).map(|b| b as u8)
    }

    /// Go's `binary.ReadUvarint` over the bit stream.
    pub fn read_uvarint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.read_byte()?;
            if shift == 63 && byte > 1 {
                return None;
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// Go's `binary.ReadVarint` (zig-zag).
    pub fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
}

/// Go's `binary.PutUvarint`.
pub fn write_uvarint(w: &mut BitWriter, mut value: u64) {
    while value >= 0x80 {
        w.write_byte((value as u8) | 0x80);
        value >>= 7;
    }
    w.write_byte(value as u8);
}

/// Go's `binary.PutVarint` (zig-zag).
pub fn write_varint(w: &mut BitWriter, value: i64) {
    write_uvarint(w, ((value << 1) ^ (value >> 63)) as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(items in proptest::collection::vec((any::<u64>(), 1u8..=64), 0..64), v in any::<i64>()) {
            let mut w = BitWriter::default();
            for (value, count) in &items {
                w.write_bits(*value, *count);
            }
            write_varint(&mut w, v);
            let mut r = BitReader::new(&w.bytes);
            for (value, count) in &items {
                let mask = if *count == 64 { u64::MAX } else { (1u64 << count) - 1 };
                prop_assert_eq!(r.read_bits(*count), Some(value & mask));
            }
            prop_assert_eq!(r.read_varint(), Some(v));
        }

        #[test]
        fn copied_bits_read_back_as_written(lead in 0u8..=64, items in proptest::collection::vec((any::<u64>(), 1u8..=64), 0..24), from_pick in any::<usize>(), len_pick in any::<usize>()) {
            let mut source = BitWriter::default();
            for (value, count) in &items {
                source.write_bits(*value, *count);
            }
            let source_bits = source.bytes.len() * 8;
            let from = from_pick % (source_bits + 1);
            let to = from + len_pick % (source_bits - from + 1);
            let mut copy = BitWriter::default();
            copy.write_bits(u64::MAX, lead);
            copy.write_bits_of(&source.bytes, from, to);
            let mut original = BitReader::new(&source.bytes);
            let mut copied = BitReader::new(&copy.bytes);
            prop_assert!(original.read_bits(0).is_some() && original.bits_left() >= to - from);
            for _ in 0..from {
                original.read_bit();
            }
            prop_assert_eq!(copied.read_bits(lead), Some(if lead == 64 { u64::MAX } else { (1u64 << lead) - 1 }));
            for i in 0..to - from {
                prop_assert_eq!(copied.read_bit(), original.read_bit(), "bit {}", i);
            }
            prop_assert!(copied.bits_left() < 8, "no bits beyond the copy but the last byte's padding");
        }
    }
}
