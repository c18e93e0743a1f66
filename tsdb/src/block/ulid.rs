//! ULIDs name block directories: 48-bit Unix-millisecond timestamp + 80 random bits,
//! Crockford base32 (26 characters), so names sort by creation time as in Prometheus.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
pub const ULID_LEN: usize = 26;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// 64 unpredictable bits from the standard library's randomly keyed hasher.
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

/// A new ULID for `now_ms` (milliseconds since the Unix epoch).
pub fn new_ulid(now_ms: u64) -> String {
    let random = (u128::from(random_u64()) << 16) | u128::from(random_u64() & 0xffff);
    ulid_of(now_ms, random)
}

/// The ULID of `time_ms` and the low 80 bits of `rest` (where a new ULID has random bits).
pub fn ulid_of(time_ms: u64, rest: u128) -> String {
    let value: u128 = (u128::from(time_ms & ((1 << 48) - 1)) << 80) | (rest & ((1 << 80) - 1));
    let mut out = [0u8; ULID_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (ULID_LEN - 1 - i);
        *slot = ALPHABET[((value >> shift) & 0x1f) as usize];
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The millisecond timestamp in a ULID's first 10 characters.
pub fn ulid_time_ms(s: &str) -> Option<u64> {
    if !is_ulid(s) {
        return None;
    }
    let mut value = 0u64;
    for b in s.bytes().take(10) {
        let digit = ALPHABET.iter().position(|a| *a == b)? as u64;
        value = (value << 5) | digit;
    }
    Some(value)
}

/// True for a 26-character Crockford base32 string whose first character keeps it in 128 bits.
pub fn is_ulid(s: &str) -> bool {
    s.len() == ULID_LEN && s.bytes().all(|b| ALPHABET.contains(&b)) && s.as_bytes()[0] <= b'7'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_valid_unique_and_time_ordered() {
        let a = new_ulid(1_700_000_000_000);
        let b = new_ulid(1_700_000_000_000);
        let c = new_ulid(1_700_000_000_001);
        assert!(is_ulid(&a) && is_ulid(&b) && is_ulid(&c), "{a} {b} {c}");
        assert_ne!(a, b);
        assert_eq!(a[..10], b[..10], "same millisecond, same time prefix");
        assert!(c[..10] > a[..10]);
        assert_eq!(ulid_time_ms(&c), Some(1_700_000_000_001));
        assert_eq!(ulid_time_ms("wal"), None);
        assert!(
            !is_ulid("01ARZ3NDEKTSV4RRFFQ69G5FAU"),
            "U is not in the alphabet"
        );
        assert!(!is_ulid("wal"));
    }

    #[test]
    fn a_ulid_of_given_parts_keeps_the_time_and_80_bits_of_the_rest() {
        let a = ulid_of(1_700_000_000_000, u128::MAX);
        assert!(is_ulid(&a), "{a}");
        assert_eq!(ulid_time_ms(&a), Some(1_700_000_000_000));
        assert!(a.ends_with("ZZZZZZZZZZZZZZZZ"), "80 one bits: {a}");
        assert_eq!(a, ulid_of(1_700_000_000_000, u128::MAX >> 48), "bits above the 80th are dropped");
        assert_ne!(ulid_of(5, 1), ulid_of(5, 2));
    }
}
