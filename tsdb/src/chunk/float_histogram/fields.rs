//! How a float histogram chunk writes and reads its fields: XOR-encoded values, the zero
//! threshold, custom bucket bounds and bucket spans.

use crate::chunk::bits::{BitReader, BitWriter};
use crate::chunk::varbit::{read_varbit_int, read_varbit_uint, write_varbit_int, write_varbit_uint};
use crate::model::BucketSpan;

/// One XOR-encoded field: the previous value and its leading/trailing zero window.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct XorField {
    pub(super) value: f64,
    leading: u8,
    trailing: u8,
}

impl XorField {
    /// A field before its first XOR write (`leading == 0xff`: no window yet).
    pub(super) fn first(value: f64) -> XorField {
        XorField { value, leading: 0xff, trailing: 0 }
    }

    /// Prometheus' `xorWrite` (`xor::write_xor_delta`).
    pub(super) fn write(&mut self, w: &mut BitWriter, value: f64) {
        let delta = value.to_bits() ^ self.value.to_bits();
        self.value = value;
        crate::chunk::xor::write_xor_delta(w, delta, &mut self.leading, &mut self.trailing);
    }

    /// Prometheus' `xorRead`.
    pub(super) fn read(&mut self, r: &mut BitReader<'_>) -> Option<()> {
        if !r.read_bit()? {
            return Some(());
        }
        if r.read_bit()? {
            let leading = r.read_bits(5)? as u8;
            let significant = match r.read_bits(6)? as u8 {
                0 => 64,
                n => n,
            };
            if u16::from(leading) + u16::from(significant) > 64 {
                return None;
            }
            self.leading = leading;
            self.trailing = 64 - leading - significant;
        }
        let significant = 64u8.checked_sub(self.leading)?.checked_sub(self.trailing)?;
        let bits = r.read_bits(significant)?;
        self.value = f64::from_bits(self.value.to_bits() ^ (bits << self.trailing));
        Some(())
    }
}

/// Prometheus' `putZeroThreshold`: 0 as one zero byte; a power of two from 2^-243 to 2^10
/// as one byte (its `frexp` exponent + 243); anything else as 255 and the 8 bytes.
pub(super) fn write_zero_threshold(w: &mut BitWriter, threshold: f64) {
    if threshold == 0.0 {
        w.write_byte(0);
        return;
    }
    let bits = threshold.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    // frexp gives 0.5 as the fraction exactly for positive normal powers of two.
    let power_of_two = threshold > 0.0 && biased != 0 && biased != 0x7ff && bits & ((1 << 52) - 1) == 0;
    let exponent = biased - 1022;
    if !power_of_two || !(-242..=11).contains(&exponent) {
        w.write_byte(255);
        w.write_bits(bits, 64);
        return;
    }
    w.write_byte((exponent + 243) as u8);
}

pub(super) fn read_zero_threshold(r: &mut BitReader<'_>) -> Option<f64> {
    match r.read_byte()? {
        0 => Some(0.0),
        255 => Some(f64::from_bits(r.read_bits(64)?)),
        // 0.5 · 2^(b − 243) = 2^(b − 244), a normal float for every b in 1..=254.
        b => Some(f64::from_bits(((i64::from(b) - 244 + 1023) as u64) << 52)),
    }
}

/// Largest custom bound (times 1000) stored as a varbit integer (Prometheus' choice: what fits
/// in its 4-byte varbit bucket, minus the +1 offset).
const CUSTOM_BOUND_MILLIS_MAX: f64 = 33_554_430.0;

/// Prometheus' `putCustomBound`: multiples of 0.001 from 0 to 33554.43 as varbit
/// `millis + 1`; anything else as a 0 bit and the 64 float bits.
pub(super) fn write_custom_bound(w: &mut BitWriter, bound: f64) {
    let millis = bound * 1000.0;
    let whole = ((bound * 1000.0).round() as u64) as f64 / 1000.0 == bound;
    if !(0.0..=CUSTOM_BOUND_MILLIS_MAX).contains(&millis) || !whole {
        w.write_bit(false);
        w.write_bits(bound.to_bits(), 64);
        return;
    }
    write_varbit_uint(w, millis.round() as u64 + 1);
}

pub(super) fn read_custom_bound(r: &mut BitReader<'_>) -> Option<f64> {
    match read_varbit_uint(r)? {
        0 => Some(f64::from_bits(r.read_bits(64)?)),
        n => Some((n - 1) as f64 / 1000.0),
    }
}

pub(super) fn write_spans(w: &mut BitWriter, spans: &[BucketSpan]) {
    write_varbit_uint(w, spans.len() as u64);
    for s in spans {
        write_varbit_uint(w, u64::from(s.length));
        write_varbit_int(w, i64::from(s.offset));
    }
}

/// Spans of a layout; `None` when malformed or when they name more buckets than
/// `buckets_max` (the bits left could hold: a corrupt count must not allocate gigabytes).
pub(super) fn read_spans(r: &mut BitReader<'_>, buckets_max: u64) -> Option<(Vec<BucketSpan>, usize)> {
    let count = read_varbit_uint(r)?;
    if count > buckets_max.saturating_add(1).saturating_mul(4) {
        return None;
    }
    let mut spans = Vec::with_capacity(count as usize);
    let mut buckets = 0u64;
    for _ in 0..count {
        let length = u32::try_from(read_varbit_uint(r)?).ok()?;
        let offset = i32::try_from(read_varbit_int(r)?).ok()?;
        buckets += u64::from(length);
        if buckets > buckets_max {
            return None;
        }
        spans.push(BucketSpan { offset, length });
    }
    Some((spans, buckets as usize))
}
