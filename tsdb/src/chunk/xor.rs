//! Gorilla/XOR float chunks in Prometheus' exact byte layout: a 2-byte big-endian sample
//! count, then the first sample as varint timestamp + raw float bits, the second as uvarint
//! timestamp delta + XOR value, then delta-of-delta timestamps with 1/2/3/4-bit prefixes
//! (0, 10+14 bits, 110+17, 1110+20, 1111+64) and XOR values (0 same; 10 reuse window;
//! 11 + 5-bit leading zeros + 6-bit significant bits).

use std::sync::Arc;

use super::bits::{write_uvarint, write_varint, BitReader, BitWriter};
use crate::model::Sample;

/// An immutable chunk's bytes (header included).
#[derive(Clone, Debug, PartialEq)]
pub struct XorChunk {
    /// Exactly the encoded bytes (no spare capacity: a head keeps closed chunks for hours),
    /// shared: a head cut hands them to the block writer and to the new head without a copy.
    pub bytes: Arc<[u8]>,
}

/// The sample count in an encoded XOR chunk's header (0 when the bytes are too short).
pub fn xor_num_samples(bytes: &[u8]) -> u16 {
    match bytes.get(..2) {
        Some(h) => u16::from_be_bytes([h[0], h[1]]),
        None => 0,
    }
}

impl XorChunk {
    pub fn num_samples(&self) -> u16 {
        xor_num_samples(&self.bytes)
    }

    pub fn iter(&self) -> XorIterator<'_> {
        XorIterator::new(&self.bytes)
    }
}

/// Appends samples to a chunk being built.
#[derive(Clone, Debug)]
pub struct XorAppender {
    /// The bit stream so far, with `free_bits` bits still free in its last byte: a
    /// `BitWriter`'s two parts kept apart so the small fields share one word (a head keeps
    /// an appender per series).
    bytes: Vec<u8>,
    free_bits: u8,
    count: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
}

impl Default for XorAppender {
    fn default() -> Self {
        XorAppender {
            bytes: vec![0, 0],
            free_bits: 0,
            count: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            leading: 0xff,
            trailing: 0,
        }
    }
}

fn bit_range(x: i64, nbits: u8) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

impl XorAppender {
    pub fn num_samples(&self) -> u16 {
        self.count
    }

    /// The bytes so far (the header carries the current count).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The finished chunk's bytes (header included), as they are.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Finishes the chunk, in an allocation of exactly its size.
    pub fn into_chunk(self) -> XorChunk {
        XorChunk {
            bytes: Arc::from(self.bytes),
        }
    }

    /// The newest sample's timestamp and value, `None` before the first append.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.count > 0).then_some((self.t, self.v))
    }

    /// Appends a sample. Timestamps must increase strictly (the head guarantees it).
    pub fn append(&mut self, timestamp_ms: i64, value: f64) {
        debug_assert!(
            self.count == 0 || timestamp_ms > self.t,
            "XOR chunk timestamps must increase"
        );
        let mut w = BitWriter::from_parts(std::mem::take(&mut self.bytes), self.free_bits);
        match self.count {
            0 => {
                write_varint(&mut w, timestamp_ms);
                w.write_bits(value.to_bits(), 64);
            }
            1 => {
                let t_delta = (timestamp_ms - self.t) as u64;
                write_uvarint(&mut w, t_delta);
                self.write_value(&mut w, value);
                self.t_delta = t_delta;
            }
            _ => {
                self.write_timestamp(&mut w, timestamp_ms);
                self.write_value(&mut w, value);
            }
        }
        (self.bytes, self.free_bits) = w.into_parts();
        self.t = timestamp_ms;
        self.v = value;
        self.count += 1;
        self.write_header();
    }

    /// The third or a later sample's timestamp, as its delta-of-delta.
    fn write_timestamp(&mut self, w: &mut BitWriter, timestamp_ms: i64) {
        let t_delta = (timestamp_ms - self.t) as u64;
        let dod = t_delta.wrapping_sub(self.t_delta) as i64;
        if dod == 0 {
            w.write_bit(false);
        } else if bit_range(dod, 14) {
            w.write_bits(0b10, 2);
            w.write_bits(dod as u64, 14);
        } else if bit_range(dod, 17) {
            w.write_bits(0b110, 3);
            w.write_bits(dod as u64, 17);
        } else if bit_range(dod, 20) {
            w.write_bits(0b1110, 4);
            w.write_bits(dod as u64, 20);
        } else {
            w.write_bits(0b1111, 4);
            w.write_bits(dod as u64, 64);
        }
        self.t_delta = t_delta;
    }

    fn write_header(&mut self) {
        let header = self.count.to_be_bytes();
        self.bytes[0] = header[0];
        self.bytes[1] = header[1];
    }

    /// Appends every sample of the encoded chunk `bytes`, all later than this appender's,
    /// mostly by copying bits: a chunk's third sample on is encoded against the timestamp
    /// delta and XOR window its second sample leaves, so only its first two samples are
    /// encoded again here (the second with that same window written out), then the rest of
    /// its bits follow as they are. When its second value equals its first there is no
    /// window to carry, and its samples are appended one by one. The chunk is decoded to its
    /// end to learn the state it leaves. False when `bytes` is malformed or the two hold more
    /// than a chunk can count; the appender must then be dropped.
    pub fn append_chunk(&mut self, bytes: &[u8]) -> bool {
        self.join(bytes, true)
    }

    /// `append_chunk` of a last chunk, without decoding it past its second sample: its bits
    /// are copied to the end of its bytes (padding included, which the sample count makes
    /// unread). `None` when `bytes` is malformed.
    pub fn into_chunk_with(mut self, bytes: &[u8]) -> Option<XorChunk> {
        self.join(bytes, false).then(|| self.into_chunk())
    }

    /// `append_chunk` and `into_chunk_with`; `keep_state` decodes the chunk to its end (its
    /// bits end there, and later appends need its last sample and window).
    fn join(&mut self, bytes: &[u8], keep_state: bool) -> bool {
        let total = xor_num_samples(bytes);
        let Some(body) = bytes.get(2..) else {
            return false;
        };
        if self.count.checked_add(total).is_none() {
            return false;
        }
        let mut it = XorIterator::new(bytes);
        if self.count == 0 {
            // The whole chunk as it is, up to where its last sample ends.
            it.by_ref().for_each(drop);
            if it.error() {
                return false;
            }
            let mut w = BitWriter::from_parts(std::mem::take(&mut self.bytes), self.free_bits);
            w.write_bits_of(body, 0, it.reader.bits_read());
            (self.bytes, self.free_bits) = w.into_parts();
            self.take_state(&it, total);
            return true;
        }
        let count_before = self.count;
        let Some(first) = it.next() else {
            return !it.error();
        };
        self.append(first.timestamp_ms, first.value);
        let Some(second) = it.next() else {
            return !it.error();
        };
        if second.value.to_bits() == first.value.to_bits() {
            self.append(second.timestamp_ms, second.value);
            for sample in it.by_ref() {
                self.append(sample.timestamp_ms, sample.value);
            }
            return !it.error();
        }
        // The second sample with the window the chunk's decoder holds after it.
        let mut w = BitWriter::from_parts(std::mem::take(&mut self.bytes), self.free_bits);
        self.write_timestamp(&mut w, second.timestamp_ms);
        let delta = second.value.to_bits() ^ first.value.to_bits();
        write_window(&mut w, delta, it.leading, it.trailing);
        let rest_from = it.reader.bits_read();
        let rest_to = if keep_state {
            it.by_ref().for_each(drop);
            if it.error() {
                return false;
            }
            it.reader.bits_read()
        } else {
            body.len() * 8
        };
        w.write_bits_of(body, rest_from, rest_to);
        (self.bytes, self.free_bits) = w.into_parts();
        self.take_state(&it, count_before + total);
        true
    }

    /// The state a decoder holds after `it`'s last sample read, with `count` samples.
    fn take_state(&mut self, it: &XorIterator, count: u16) {
        self.count = count;
        self.t = it.t;
        self.v = it.v;
        self.t_delta = it.t_delta;
        self.leading = it.leading;
        self.trailing = it.trailing;
        self.write_header();
    }

    /// A prefetch hint for the chunk bytes the next append writes.
    #[inline]
    pub fn prefetch_tail(&self) {
        if let Some(last) = self.bytes.last() {
            crate::prefetch::prefetch(last);
        }
    }

    fn write_value(&mut self, w: &mut BitWriter, value: f64) {
        write_xor_delta(w, value.to_bits() ^ self.v.to_bits(), &mut self.leading, &mut self.trailing);
    }
}

/// Prometheus' `xorWrite` of a value's bits XOR the previous value's: a 0 bit when equal;
/// else the meaningful bits inside the previous leading/trailing-zero window (`leading ==
/// 0xff`: no window yet), or a new window (5 bits leading zeros, 6 bits length) and its bits.
/// Shared by float chunks and every float field of histogram chunks.
#[inline]
pub(crate) fn write_xor_delta(w: &mut BitWriter, delta: u64, leading_window: &mut u8, trailing_window: &mut u8) {
    if delta == 0 {
        w.write_bit(false);
        return;
    }
    // Leading zeros are stored in 5 bits.
    let leading = (delta.leading_zeros() as u8).min(31);
    let trailing = delta.trailing_zeros() as u8;
    if *leading_window != 0xff && leading >= *leading_window && trailing >= *trailing_window {
        w.write_bits(0b10, 2);
        w.write_bits(delta >> *trailing_window, 64 - *leading_window - *trailing_window);
        return;
    }
    *leading_window = leading;
    *trailing_window = trailing;
    write_window(w, delta, leading, trailing);
}

/// A non-zero `delta` in a new window: `11`, 5 bits of leading zeros, 6 bits of length,
/// then `delta`'s bits inside the window (which must hold them all).
#[inline]
fn write_window(w: &mut BitWriter, delta: u64, leading: u8, trailing: u8) {
    debug_assert!(delta != 0 && leading <= 31 && u16::from(leading) + u16::from(trailing) < 64);
    debug_assert!(trailing == 0 || delta & ((1u64 << trailing) - 1) == 0);
    w.write_bits(0b11, 2);
    w.write_bits(u64::from(leading), 5);
    let significant = 64 - leading - trailing;
    // 64 significant bits are written as 0 (6 bits cannot hold 64).
    w.write_bits(u64::from(significant) & 0x3f, 6);
    w.write_bits(delta >> trailing, significant);
}

/// Appends to `out`, in order, the samples of the encoded chunk `bytes` whose timestamp
/// `keep` accepts (a time range, deleted intervals); false when the bytes are malformed (the
/// samples before the damage are appended).
pub fn decode_kept(bytes: &[u8], out: &mut Vec<Sample>, keep: impl Fn(i64) -> bool) -> bool {
    let mut it = XorIterator::new(bytes);
    out.extend(it.by_ref().filter(|s| keep(s.timestamp_ms)));
    !it.error()
}

/// Iterates a chunk's samples. A truncated or corrupt chunk ends early; `error()` tells.
pub struct XorIterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    t: i64,
    v: f64,
    t_delta: u64,
    leading: u8,
    trailing: u8,
    corrupt: bool,
}

impl<'a> XorIterator<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let total = xor_num_samples(bytes);
        let body = bytes.get(2..).unwrap_or(&[]);
        XorIterator {
            reader: BitReader::new(body),
            total,
            read: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            leading: 0,
            trailing: 0,
            corrupt: false,
        }
    }

    /// True when iteration stopped because the bytes were malformed.
    pub fn error(&self) -> bool {
        self.corrupt
    }

    fn read_value(&mut self) -> Option<()> {
        if !self.reader.read_bit()? {
            return Some(());
        }
        if self.reader.read_bit()? {
            self.leading = self.reader.read_bits(5)? as u8;
            let mut significant = self.reader.read_bits(6)? as u8;
            if significant == 0 {
                significant = 64;
            }
            if self.leading as u16 + significant as u16 > 64 {
                return None;
            }
            self.trailing = 64 - self.leading - significant;
        }
        let significant = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(significant)?;
        self.v = f64::from_bits(self.v.to_bits() ^ (bits << self.trailing));
        Some(())
    }

    fn step(&mut self) -> Option<Sample> {
        match self.read {
            0 => {
                self.t = self.reader.read_varint()?;
                self.v = f64::from_bits(self.reader.read_bits(64)?);
            }
            1 => {
                self.t_delta = self.reader.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
            _ => {
                let mut prefix = 0u8;
                while prefix < 4 {
                    if !self.reader.read_bit()? {
                        break;
                    }
                    prefix += 1;
                }
                let dod: i64 = match prefix {
                    0 => 0,
                    1 => sign_extend(self.reader.read_bits(14)?, 14),
                    2 => sign_extend(self.reader.read_bits(17)?, 17),
                    3 => sign_extend(self.reader.read_bits(20)?, 20),
                    _ => self.reader.read_bits(64)? as i64,
                };
                self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
            }
        }
        self.read += 1;
        Some(Sample {
            timestamp_ms: self.t,
            value: self.v,
        })
    }
}

/// Prometheus' decoding of an n-bit delta-of-delta: values above 2^(n-1) are negative.
fn sign_extend(raw: u64, nbits: u8) -> i64 {
    if raw > 1u64 << (nbits - 1) {
        raw as i64 - (1i64 << nbits)
    } else {
        raw as i64
    }
}

impl Iterator for XorIterator<'_> {
    type Item = Sample;

    fn next(&mut self) -> Option<Sample> {
        if self.read >= self.total || self.corrupt {
            return None;
        }
        let sample = self.step();
        if sample.is_none() {
            self.corrupt = true;
        }
        sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn golden_three_samples() {
        // Derived by hand from the layout: t=1000 v=1.0, t=2000 v=1.0, t=3000 v=2.0.
        let mut a = XorAppender::default();
        a.append(1000, 1.0);
        a.append(2000, 1.0);
        a.append(3000, 2.0);
        let mut expected = vec![0x00, 0x03]; // count
        expected.extend_from_slice(&[0xd0, 0x0f]); // zig-zag varint(1000) = 2000 = 0x7d0
        expected.extend_from_slice(&1.0f64.to_bits().to_be_bytes());
        expected.extend_from_slice(&[0xe8, 0x07]); // uvarint(1000)
                                                   // Then bits: value same "0"; dod 0 "0"; value 2.0 ^ 1.0 = 0x7ff0... xor: 1.0=0x3ff0.., 2.0=0x4000..,
                                                   // delta = 0x7ff0000000000000: leading 1, trailing 52, significant 11:
                                                   // "1" "1" leading(5)=00001 sig(6)=001011 bits(11)=11111111111
                                                   // stream: 0 0 1 1 00001 001011 11111111111 -> 0011 0000 1001 0111 1111 1111 11(pad 000000)
        expected.extend_from_slice(&[0x30, 0x97, 0xff, 0xc0]);
        assert_eq!(a.bytes(), expected.as_slice());
        let chunk = a.into_chunk();
        let samples: Vec<Sample> = chunk.iter().collect();
        assert_eq!(
            samples,
            vec![
                Sample {
                    timestamp_ms: 1000,
                    value: 1.0
                },
                Sample {
                    timestamp_ms: 2000,
                    value: 1.0
                },
                Sample {
                    timestamp_ms: 3000,
                    value: 2.0
                },
            ]
        );
    }

    #[test]
    fn truncated_chunk_stops_with_error() {
        let mut a = XorAppender::default();
        for i in 0..10 {
            a.append(i * 1000, i as f64 * 1.5);
        }
        let mut bytes = a.into_bytes();
        bytes.truncate(bytes.len() - 3);
        let mut it = XorIterator::new(&bytes);
        let n = it.by_ref().count();
        assert!(n < 10);
        assert!(it.error());
    }

    proptest! {
        #[test]
        fn round_trip(start in -1_000_000_000_000i64..1_000_000_000_000, deltas in proptest::collection::vec(1i64..10_000_000, 0..200),
                      values in proptest::collection::vec(any::<u64>(), 201)) {
            let mut a = XorAppender::default();
            let mut expected = Vec::new();
            let mut t = start;
            for (i, d) in std::iter::once(0).chain(deltas.iter().copied()).enumerate() {
                t += d;
                // Mix raw bit patterns (NaNs, stale markers) with repeats and small steps.
                let v = match i % 4 { 0 => f64::from_bits(values[i]), 1 => (i as f64) * 0.1, 2 => f64::from_bits(0x7ff0_0000_0000_0002), _ => 42.0 };
                a.append(t, v);
                expected.push((t, v.to_bits()));
            }
            let got: Vec<(i64, u64)> = a.clone().into_chunk().iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
            prop_assert_eq!(got, expected);
        }

        /// Chunks joined by copying bits decode to every sample of every chunk, in order, bit
        /// for bit: the last one joined without decoding its tail, or with its state kept and
        /// more samples appended after it.
        #[test]
        fn joined_chunks_decode_to_all_their_samples(
            start in -1_000_000_000_000i64..1_000_000_000_000,
            samples in proptest::collection::vec((1i64..5_000_000, 0u8..6, any::<u64>()), 1..400),
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
            tail in proptest::collection::vec((1i64..100_000, any::<u64>()), 0..5),
        ) {
            let mut t = start;
            let mut all: Vec<(i64, u64)> = Vec::new();
            for (i, (delta, kind, bits)) in samples.iter().enumerate() {
                t += if kind % 3 == 0 { 15_000 } else { *delta };
                let previous = all.last().map_or(0.0, |(_, v)| f64::from_bits(*v));
                // Repeats (no window), small steps, raw patterns (NaNs, stale markers), integers.
                let v = match kind {
                    0 | 1 => previous,
                    2 => previous + 0.25,
                    3 => f64::from_bits(*bits),
                    4 => (i % 7) as f64,
                    _ => f64::from_bits(0x7ff0_0000_0000_0002),
                };
                all.push((t, v.to_bits()));
            }
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c % all.len()).filter(|&c| c > 0).collect();
            bounds.extend([0, all.len()]);
            bounds.sort_unstable();
            bounds.dedup();
            let chunks: Vec<XorChunk> = bounds
                .windows(2)
                .map(|w| {
                    let mut a = XorAppender::default();
                    for (t, v) in &all[w[0]..w[1]] {
                        a.append(*t, f64::from_bits(*v));
                    }
                    a.into_chunk()
                })
                .collect();
            let decoded = |chunk: &XorChunk| -> Vec<(i64, u64)> { chunk.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect() };

            let mut kept = XorAppender::default();
            let (last, before) = chunks.split_last().expect("one chunk at least");
            for chunk in before {
                prop_assert!(kept.append_chunk(&chunk.bytes));
            }
            let joined = kept.clone().into_chunk_with(&last.bytes).expect("joins");
            prop_assert_eq!(joined.num_samples() as usize, all.len());
            prop_assert_eq!(decoded(&joined), all.clone());

            prop_assert!(kept.append_chunk(&last.bytes));
            let mut longer = all.clone();
            for (delta, bits) in &tail {
                t += delta;
                kept.append(t, f64::from_bits(*bits));
                longer.push((t, *bits));
            }
            prop_assert_eq!(decoded(&kept.into_chunk()), longer);
        }
    }

    /// A chunk whose second value repeats its first leaves a decoder with no window read
    /// yet (zero leading and trailing zeros), and an encoder other than ours may then reuse
    /// that "window" of all 64 bits (`10`): such a chunk is appended sample by sample, and
    /// still decodes right after a chunk that set a window of its own.
    #[test]
    fn a_chunk_relying_on_the_decoders_initial_window_joins_right() {
        let mut w = BitWriter::default();
        w.write_bits(3, 16);
        super::super::bits::write_varint(&mut w, 10_000);
        w.write_bits(1.5f64.to_bits(), 64);
        super::super::bits::write_uvarint(&mut w, 1000);
        w.write_bit(false);
        w.write_bit(false);
        w.write_bits(0b10, 2);
        let third = 2.75f64;
        w.write_bits(third.to_bits() ^ 1.5f64.to_bits(), 64);
        let odd: Vec<(i64, u64)> = XorIterator::new(&w.bytes).map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
        assert_eq!(odd, vec![(10_000, 1.5f64.to_bits()), (11_000, 1.5f64.to_bits()), (12_000, third.to_bits())]);

        let mut first = XorAppender::default();
        for (t, v) in [(1000, 1.0), (2000, 1.0625), (3000, 7.0)] {
            first.append(t, v);
        }
        let mut expected: Vec<(i64, u64)> = [(1000, 1.0f64), (2000, 1.0625), (3000, 7.0)].iter().map(|(t, v)| (*t, v.to_bits())).collect();
        expected.extend(&odd);
        for keep_state in [false, true] {
            let mut joined = first.clone();
            let chunk = if keep_state {
                assert!(joined.append_chunk(&w.bytes));
                joined.into_chunk()
            } else {
                joined.into_chunk_with(&w.bytes).expect("joins")
            };
            let got: Vec<(i64, u64)> = chunk.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
            assert_eq!(got, expected, "keep_state {keep_state}");
        }
    }

    #[test]
    fn a_malformed_chunk_is_not_joined() {
        let mut whole = XorAppender::default();
        for t in 0..10 {
            whole.append(t * 1000, t as f64 * 1.5);
        }
        let bytes = whole.into_chunk().bytes;
        let mut first = XorAppender::default();
        first.append(-5000, 1.0);
        for cut in [1, 3, 12, bytes.len() - 2] {
            let truncated = &bytes[..cut];
            assert!(!first.clone().append_chunk(truncated), "cut at {cut}");
            assert!(!XorAppender::default().append_chunk(truncated), "cut at {cut}, into an empty appender");
        }
        assert!(first.clone().into_chunk_with(&bytes[..1]).is_none());
    }
}
