//! Prometheus' variable-width bit integers (`chunkenc/varbit.go`), used by the histogram chunk
//! layout and its timestamps: a unary prefix of 1s chooses how many value bits follow (0, 3,
//! 6, 9, 12, 18, 25, 56 or 64), signed values in two's complement within those bits.

use super::bits::{BitReader, BitWriter};

/// Value bits after prefixes `0`, `10`, `110`, …, `11111110`, `11111111` (index = number of 1s).
const VALUE_BITS: [u8; 9] = [0, 3, 6, 9, 12, 18, 25, 56, 64];

/// True when `x` fits the signed bucket of `nbits` bits: `-(2^(n-1) - 1) ..= 2^(n-1)`
/// (Prometheus' `bitRange`, asymmetric on purpose).
fn fits_signed(x: i64, nbits: u8) -> bool {
    -((1i64 << (nbits - 1)) - 1) <= x && x <= 1i64 << (nbits - 1)
}

fn write_prefix(w: &mut BitWriter, ones: usize) {
    // `ones` 1s then a 0, except that eight 1s need no terminating 0.
    if ones == 8 {
        w.write_bits(0xff, 8);
    } else {
        w.write_bits(((1u64 << ones) - 1) << 1, ones as u8 + 1);
    }
}

/// Prometheus' `putVarbitInt`.
pub fn write_varbit_int(w: &mut BitWriter, value: i64) {
    let ones = match value {
        0 => 0,
        v => (1..VALUE_BITS.len()).find(|&i| i == 8 || fits_signed(v, VALUE_BITS[i])).unwrap_or(8),
    };
    write_prefix(w, ones);
    if ones > 0 {
        w.write_bits(value as u64, VALUE_BITS[ones]);
    }
}

/// Prometheus' `putVarbitUint`.
pub fn write_varbit_uint(w: &mut BitWriter, value: u64) {
    let ones = match value {
        0 => 0,
        v => (1..VALUE_BITS.len()).find(|&i| i == 8 || v < 1u64 << VALUE_BITS[i]).unwrap_or(8),
    };
    write_prefix(w, ones);
    if ones > 0 {
        w.write_bits(value, VALUE_BITS[ones]);
    }
}

/// Reads the prefix: the number of leading 1s (at most 8).
fn read_prefix(r: &mut BitReader<'_>) -> Option<usize> {
    let mut ones = 0;
    while ones < 8 && r.read_bit()? {
        ones += 1;
    }
    Some(ones)
}

/// Prometheus' `readVarbitInt`; `None` when the bits run out.
pub fn read_varbit_int(r: &mut BitReader<'_>) -> Option<i64> {
    let ones = read_prefix(r)?;
    let nbits = VALUE_BITS[ones];
    match nbits {
        0 => Some(0),
        64 => Some(r.read_bits(64)? as i64),
        _ => {
            let raw = r.read_bits(nbits)?;
            Some(if raw > 1u64 << (nbits - 1) { raw as i64 - (1i64 << nbits) } else { raw as i64 })
        }
    }
}

/// Prometheus' `readVarbitUint`; `None` when the bits run out.
pub fn read_varbit_uint(r: &mut BitReader<'_>) -> Option<u64> {
    let ones = read_prefix(r)?;
    match VALUE_BITS[ones] {
        0 => Some(0),
        nbits => r.read_bits(nbits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bucket_edges_take_the_documented_widths() {
        // (value, bits written) at the edges of each bucket, from varbit.go's comments.
        let cases: [(i64, usize); 12] = [(0, 1), (-3, 5), (4, 5), (5, 9), (-4, 9), (32, 9), (-31, 9), (33, 13), (256, 13), (2048, 17), (131_072, 24), (i64::MIN, 72)];
        for (value, bits) in cases {
            let mut w = BitWriter::default();
            write_varbit_int(&mut w, value);
            let (bytes, free) = w.into_parts();
            assert_eq!(bytes.len() * 8 - free as usize, bits, "{value}");
            assert_eq!(read_varbit_int(&mut BitReader::new(&bytes)), Some(value));
        }
    }

    proptest! {
        #[test]
        fn round_trip(ints in proptest::collection::vec(any::<i64>(), 0..40), small in proptest::collection::vec(-70_000i64..70_000, 0..40), uints in proptest::collection::vec(any::<u64>(), 0..40)) {
            let mut w = BitWriter::default();
            for v in ints.iter().chain(&small) {
                write_varbit_int(&mut w, *v);
            }
            for v in &uints {
                write_varbit_uint(&mut w, *v);
                write_varbit_uint(&mut w, *v >> 40);
            }
            let mut r = BitReader::new(&w.bytes);
            for v in ints.iter().chain(&small) {
                prop_assert_eq!(read_varbit_int(&mut r), Some(*v));
            }
            for v in &uints {
                prop_assert_eq!(read_varbit_uint(&mut r), Some(*v));
                prop_assert_eq!(read_varbit_uint(&mut r), Some(*v >> 40));
            }
        }
    }
}
