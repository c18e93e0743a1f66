//! XOR2 float chunks with per-sample start times, in Prometheus' exact byte layout
//! (`chunkenc.XOR2Chunk`, encoding 4): a 2-byte sample count, the start-time header byte
//! (`start_times`), then samples. The first two are written as in XOR; from the third on one
//! joint prefix covers timestamp and value (`Xor2Appender::write_joint`), and each sample's
//! start delta follows.

use super::bits::{write_uvarint, write_varint, BitReader, BitWriter};
use super::start_times::{mark_first_start_change, mark_first_start_known, read_start_header, StartedSample, FIRST_START_CHANGE_INDEX_MAX};
use super::varbit::{read_varbit_int, write_varbit_int};
use crate::model::{is_stale_nan, Sample, STALE_NAN_BITS};

/// Bytes before the bit stream: the sample count (2) and the start-time header.
pub const XOR2_HEADER_BYTES: usize = 3;
/// Index of the start-time header byte.
const START_HEADER_BYTE: usize = 2;
/// Leading zeros of a value window are stored in 5 bits.
const WINDOW_LEADING_ZEROS_MAX: u8 = 31;

/// The sample count in an encoded XOR2 chunk's header (0 when the bytes are too short).
pub fn xor2_num_samples(bytes: &[u8]) -> u16 {
    match bytes.get(..XOR2_HEADER_BYTES) {
        Some(h) => u16::from_be_bytes([h[0], h[1]]),
        None => 0,
    }
}

/// Appends samples with start times to an XOR2 chunk being built.
#[derive(Clone, Debug)]
pub struct Xor2Appender {
    writer: BitWriter,
    count: u16,
    start_ms: i64,
    t: i64,
    /// The value later values are XORed against: the last one that was not a staleness marker.
    v: f64,
    t_delta: u64,
    /// `prev_t - start` of the last sample, once starts are written per sample.
    start_diff: i64,
    /// Index of the first sample from which every sample carries a start (0: not yet).
    first_start_change_on: u16,
    leading: u8,
    trailing: u8,
}

impl Default for Xor2Appender {
    fn default() -> Self {
        Xor2Appender {
            writer: BitWriter::from_parts(vec![0; XOR2_HEADER_BYTES], 0),
            count: 0,
            start_ms: 0,
            t: 0,
            v: 0.0,
            t_delta: 0,
            start_diff: 0,
            first_start_change_on: 0,
            leading: 0xff,
            trailing: 0,
        }
    }
}

impl Xor2Appender {
    /// An appender continuing the encoded chunk `bytes`, in the state Prometheus' appender
    /// takes from its iterator (so later samples are encoded as Prometheus would after
    /// reopening the chunk). `None` when the bytes are malformed.
    pub fn resume(bytes: &[u8]) -> Option<Self> {
        let mut it = Xor2Iterator::new(bytes);
        it.by_ref().for_each(drop);
        if it.error() || it.reader.bits_left() >= 8 {
            return None;
        }
        if it.read == 0 {
            return Some(Xor2Appender::default());
        }
        // An encoder records the first start change at the index of a sample it wrote: a
        // header naming a later sample cannot be continued consistently (the appender would
        // write start deltas its samples' reader skips).
        // Nor can a chunk past sample index 127 without a recorded change: the encoder
        // records one there at the latest.
        let change_on = u16::from(it.first_start_change_on);
        if (change_on != 0 && change_on >= it.read) || (change_on == 0 && it.read > crate::chunk::FIRST_START_CHANGE_INDEX_MAX) {
            return None;
        }
        let free_bits = it.reader.bits_left() as u8;
        let mut bytes = bytes.to_vec();
        if let Some(last) = bytes.last_mut() {
            // Padding is written over by OR: it must be zero.
            *last &= !((1u16 << free_bits) - 1) as u8;
        }
        Some(Xor2Appender {
            writer: BitWriter::from_parts(bytes, free_bits),
            count: it.read,
            start_ms: it.start_ms,
            t: it.t,
            v: it.baseline,
            t_delta: it.t_delta,
            start_diff: it.start_diff,
            first_start_change_on: u16::from(it.first_start_change_on),
            leading: it.leading,
            trailing: it.trailing,
        })
    }

    pub fn num_samples(&self) -> u16 {
        self.count
    }

    /// The bytes so far (the header carries the current count).
    pub fn bytes(&self) -> &[u8] {
        &self.writer.bytes
    }

    /// The finished chunk's bytes, header included.
    pub fn into_bytes(self) -> Vec<u8> {
        self.writer.bytes
    }

    /// The newest sample's timestamp, `None` before the first append.
    pub fn last_timestamp(&self) -> Option<i64> {
        (self.count > 0).then_some(self.t)
    }

    /// Appends a sample with its start (0: not known). Timestamps must increase strictly
    /// (the head guarantees it); a chunk holds at most 65535 samples.
    pub fn append(&mut self, start_ms: i64, timestamp_ms: i64, value: f64) {
        debug_assert!(self.count == 0 || timestamp_ms > self.t, "XOR2 chunk timestamps must increase");
        debug_assert!(self.count < u16::MAX, "an XOR2 chunk holds at most 65535 samples");
        let mut t_delta = 0;
        let mut w = std::mem::take(&mut self.writer);
        match self.count {
            0 => {
                write_varint(&mut w, timestamp_ms);
                w.write_bits(value.to_bits(), 64);
                if start_ms != 0 {
                    write_varint(&mut w, timestamp_ms.wrapping_sub(start_ms));
                    mark_first_start_known(&mut w.bytes[START_HEADER_BYTE]);
                }
            }
            1 => {
                t_delta = timestamp_ms.wrapping_sub(self.t) as u64;
                write_uvarint(&mut w, t_delta);
                self.write_value(&mut w, value);
                if start_ms != self.start_ms {
                    self.start_diff = self.t.wrapping_sub(start_ms);
                    self.first_start_change_on = 1;
                    mark_first_start_change(&mut w.bytes[START_HEADER_BYTE], 1);
                    write_varbit_int(&mut w, self.start_diff);
                }
            }
            index => {
                t_delta = timestamp_ms.wrapping_sub(self.t) as u64;
                let dod = t_delta.wrapping_sub(self.t_delta) as i64;
                self.write_joint(&mut w, dod, value);
                let start_diff = self.t.wrapping_sub(start_ms);
                if self.first_start_change_on > 0 {
                    write_varbit_int(&mut w, start_diff.wrapping_sub(self.start_diff));
                    self.start_diff = start_diff;
                } else if start_ms != self.start_ms || index == FIRST_START_CHANGE_INDEX_MAX {
                    // The first change, or the last index the header can name.
                    self.start_diff = start_diff;
                    self.first_start_change_on = index;
                    mark_first_start_change(&mut w.bytes[START_HEADER_BYTE], index);
                    write_varbit_int(&mut w, start_diff);
                }
            }
        }
        self.writer = w;
        self.start_ms = start_ms;
        self.t = timestamp_ms;
        if !is_stale_nan(value) {
            self.v = value;
        }
        self.t_delta = t_delta;
        self.count += 1;
        let count = self.count.to_be_bytes();
        self.writer.bytes[..2].copy_from_slice(&count);
    }

    /// The third or a later sample's timestamp and value under one joint prefix: `0` same delta
    /// and value, `10` same delta and a new value, `110`/`1110` a 13/20-bit delta-of-delta
    /// packed into 2/3 bytes, `11110` a 64-bit one, `11111` same delta and a staleness marker.
    fn write_joint(&mut self, w: &mut BitWriter, dod: i64, value: f64) {
        if dod == 0 {
            if is_stale_nan(value) {
                w.write_bits(0b11111, 5);
                return;
            }
            let delta = value.to_bits() ^ self.v.to_bits();
            if delta == 0 {
                w.write_bit(false);
                return;
            }
            w.write_bits(0b10, 2);
            // The value is known to differ: one bit tells the window reused from a new one.
            self.write_window(w, delta, (0b0, 1), (0b1, 1));
            return;
        }
        if (-(1 << 12)..(1 << 12)).contains(&dod) {
            w.write_bits((0b110 << 13) | (dod as u64 & 0x1fff), 16);
        } else if (-(1 << 19)..(1 << 19)).contains(&dod) {
            w.write_bits((0b1110 << 20) | (dod as u64 & 0xf_ffff), 24);
        } else {
            w.write_bits(0b11110, 5);
            w.write_bits(dod as u64, 64);
        }
        if value.to_bits() == self.v.to_bits() {
            w.write_bit(false);
        } else {
            self.write_value(w, value);
        }
    }

    /// A value after a timestamp that moved (`0` same, `10` reuse window, `110` new window,
    /// `111` staleness marker).
    fn write_value(&mut self, w: &mut BitWriter, value: f64) {
        if is_stale_nan(value) {
            w.write_bits(0b111, 3);
            return;
        }
        let delta = value.to_bits() ^ self.v.to_bits();
        if delta == 0 {
            w.write_bit(false);
            return;
        }
        self.write_window(w, delta, (0b10, 2), (0b110, 3));
    }

    /// A non-zero XOR `delta` inside the previous window (after the `reuse` prefix) or in a
    /// new one (after the `new` prefix: 5 bits of leading zeros, 6 of length, the bits).
    fn write_window(&mut self, w: &mut BitWriter, delta: u64, reuse: (u64, u8), new: (u64, u8)) {
        let leading = (delta.leading_zeros() as u8).min(WINDOW_LEADING_ZEROS_MAX);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            w.write_bits(reuse.0, reuse.1);
            w.write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        w.write_bits(new.0, new.1);
        w.write_bits(u64::from(leading), 5);
        let significant = 64 - leading - trailing;
        // 64 significant bits are written as 0 (6 bits cannot hold 64).
        w.write_bits(u64::from(significant) & 0x3f, 6);
        w.write_bits(delta >> trailing, significant);
    }
}

/// Appends to `out`, in order, the samples of the encoded XOR2 chunk `bytes` whose timestamp
/// `keep` accepts, and their starts to `starts` when given (parallel to what is appended to
/// `out`); false when the bytes are malformed (the samples before the damage are appended).
pub fn decode_xor2_kept(bytes: &[u8], out: &mut Vec<Sample>, mut starts: Option<&mut Vec<i64>>, keep: impl Fn(i64) -> bool) -> bool {
    let mut it = Xor2Iterator::new(bytes);
    for s in it.by_ref().filter(|s| keep(s.sample.timestamp_ms)) {
        out.push(s.sample);
        if let Some(starts) = starts.as_deref_mut() {
            starts.push(s.start_ms);
        }
    }
    !it.error()
}

/// Iterates an XOR2 chunk's samples with their starts. A truncated or corrupt chunk ends
/// early; `error()` tells.
pub struct Xor2Iterator<'a> {
    reader: BitReader<'a>,
    total: u16,
    read: u16,
    first_start_known: bool,
    first_start_change_on: u8,
    start_ms: i64,
    start_diff: i64,
    t: i64,
    t_delta: u64,
    value: f64,
    /// The last value that was not a staleness marker: what the next one is XORed against.
    baseline: f64,
    leading: u8,
    trailing: u8,
    corrupt: bool,
}

impl<'a> Xor2Iterator<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        let header = bytes.get(..XOR2_HEADER_BYTES);
        let (first_start_known, first_start_change_on) = read_start_header(header.map_or(0, |h| h[START_HEADER_BYTE]));
        Xor2Iterator {
            reader: BitReader::new(bytes.get(XOR2_HEADER_BYTES..).unwrap_or(&[])),
            total: xor2_num_samples(bytes),
            read: 0,
            first_start_known,
            first_start_change_on,
            start_ms: 0,
            start_diff: 0,
            t: 0,
            t_delta: 0,
            value: 0.0,
            baseline: 0.0,
            leading: 0,
            trailing: 0,
            // Every XOR2 chunk has its three header bytes, even an empty one.
            corrupt: header.is_none(),
        }
    }

    /// True when iteration stopped because the bytes were malformed.
    pub fn error(&self) -> bool {
        self.corrupt
    }

    fn step(&mut self) -> Option<StartedSample> {
        let prev_t = self.t;
        match self.read {
            0 => {
                self.t = self.reader.read_varint()?;
                self.value = f64::from_bits(self.reader.read_bits(64)?);
                if !is_stale_nan(self.value) {
                    self.baseline = self.value;
                }
                if self.first_start_known {
                    self.start_ms = self.t.wrapping_sub(self.reader.read_varint()?);
                }
            }
            1 => {
                self.t_delta = self.reader.read_uvarint()?;
                self.t = self.t.wrapping_add(self.t_delta as i64);
                self.read_value()?;
                if self.first_start_change_on == 1 {
                    self.start_diff = read_varbit_int(&mut self.reader)?;
                    self.start_ms = prev_t.wrapping_sub(self.start_diff);
                }
            }
            index => {
                match self.read_control()? {
                    0 => self.advance(0, self.baseline),
                    1 => {
                        self.advance(0, self.baseline);
                        let window_reused = !self.reader.read_bit()?;
                        self.read_window(window_reused)?;
                    }
                    2 => {
                        let dod = sign_extend(self.reader.read_bits(13)?, 13);
                        self.advance(dod, self.baseline);
                        self.read_value()?;
                    }
                    3 => {
                        let dod = sign_extend(self.reader.read_bits(20)?, 20);
                        self.advance(dod, self.baseline);
                        self.read_value()?;
                    }
                    4 => {
                        let dod = self.reader.read_bits(64)? as i64;
                        self.advance(dod, self.baseline);
                        self.read_value()?;
                    }
                    _ => self.advance(0, f64::from_bits(STALE_NAN_BITS)),
                }
                let first = u16::from(self.first_start_change_on);
                if first > 0 && index >= first {
                    let delta = read_varbit_int(&mut self.reader)?;
                    self.start_diff = if index == first { delta } else { self.start_diff.wrapping_add(delta) };
                    self.start_ms = prev_t.wrapping_sub(self.start_diff);
                }
            }
        }
        self.read += 1;
        Some(StartedSample { start_ms: self.start_ms, sample: Sample { timestamp_ms: self.t, value: self.value } })
    }

    /// Moves the timestamp on by the delta changed by `dod`, with `value` for now.
    fn advance(&mut self, dod: i64, value: f64) {
        self.t_delta = (self.t_delta as i64).wrapping_add(dod) as u64;
        self.t = self.t.wrapping_add(self.t_delta as i64);
        self.value = value;
    }

    /// The joint prefix of the third or a later sample: the number of 1s before a 0, at most 5.
    fn read_control(&mut self) -> Option<u8> {
        let mut ones = 0;
        while ones < 5 && self.reader.read_bit()? {
            ones += 1;
        }
        Some(ones)
    }

    /// A value after a timestamp that moved (see `Xor2Appender::write_value`).
    fn read_value(&mut self) -> Option<()> {
        if !self.reader.read_bit()? {
            self.value = self.baseline;
            return Some(());
        }
        if !self.reader.read_bit()? {
            return self.read_window(true);
        }
        if !self.reader.read_bit()? {
            return self.read_window(false);
        }
        self.value = f64::from_bits(STALE_NAN_BITS);
        Some(())
    }

    /// The bits of a changed value, in the previous window or a new one read first.
    fn read_window(&mut self, window_reused: bool) -> Option<()> {
        if !window_reused {
            let leading = self.reader.read_bits(5)? as u8;
            let significant = match self.reader.read_bits(6)? as u8 {
                0 => 64,
                n => n,
            };
            if leading + significant > 64 {
                return None;
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
        }
        let significant = 64 - self.leading - self.trailing;
        let bits = self.reader.read_bits(significant)?;
        self.value = f64::from_bits(self.baseline.to_bits() ^ (bits << self.trailing));
        self.baseline = self.value;
        Some(())
    }
}

/// An `nbits`-bit two's complement delta-of-delta.
fn sign_extend(raw: u64, nbits: u8) -> i64 {
    if raw >= 1u64 << (nbits - 1) {
        raw as i64 - (1i64 << nbits)
    } else {
        raw as i64
    }
}

impl Iterator for Xor2Iterator<'_> {
    type Item = StartedSample;

    fn next(&mut self) -> Option<StartedSample> {
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
mod tests;
