//! Tests of the XOR2 chunk: bytes equal to chunks Prometheus wrote, resumed appends, truncation.

use super::*;
use proptest::prelude::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("test hex is valid")).collect()
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

fn encode(samples: &[(i64, i64, f64)]) -> Vec<u8> {
    let mut a = Xor2Appender::default();
    for (st, t, v) in samples {
        a.append(*st, *t, *v);
    }
    a.into_bytes()
}

fn decode(bytes: &[u8]) -> (Vec<(i64, i64, u64)>, bool) {
    let mut it = Xor2Iterator::new(bytes);
    let read = it.by_ref().map(|s| (s.start_ms, s.sample.timestamp_ms, s.sample.value.to_bits())).collect();
    (read, it.error())
}

fn bits_of(samples: &[(i64, i64, f64)]) -> Vec<(i64, i64, u64)> {
    samples.iter().map(|(st, t, v)| (*st, *t, v.to_bits())).collect()
}

/// 130 (or 135) samples 15 s apart, values 0, 1, 2 over and over; starts none, or 10
/// then 20 from sample 128.
fn long_sequence(n: i64, with_starts: bool) -> Vec<(i64, i64, f64)> {
    (0..n).map(|i| (if !with_starts { 0 } else if i >= 128 { 20 } else { 10 }, 1_700_000_000_000 + i * 15_000, (i % 3) as f64)).collect()
}

/// A named sequence of (start, timestamp, value) and the chunk Prometheus wrote for it.
type GoldenChunk = (&'static str, Vec<(i64, i64, f64)>, &'static str);

/// The sequences and bytes below were written by Prometheus' own `XOR2Chunk` (commit
/// d15adb9, Go, appending the same samples and printing `Bytes()` in hex).
fn prometheus_chunks() -> Vec<GoldenChunk> {
    let big = 1i64 << 40;
    vec![
        ("no_start", vec![(0, 1000, 1.0), (0, 2000, 1.0), (0, 3000, 2.0), (0, 4000, 2.0), (0, 5000, stale()), (0, 6000, 2.0), (0, 6001, 3.5), (0, 7001, 3.5)], "000800d00f3ff0000000000000e8075097ffdf6e0ce605e1f380"),
        (
            "constant_start",
            vec![(500, 1000, 10.0), (500, 16000, 10.0), (500, 31003, 10.5), (500, 45999, 10.5), (500, 645_999, 11.0), (500, 645_999 + big, -1.0), (500, 660_999 + big, -1.0)],
            "000780d00f4024000000000000e80798756001e783dff978000000000023b4b3382fc000001ffffedb081807ffebf7fffff8000001d4c0",
        ),
        ("change_at_1", vec![(900, 1000, 1.0), (1500, 2000, 2.0), (1500, 3000, 3.0), (1500, 4000, 3.0), (1600, 5000, 3.0)], "000581d00f3ff0000000000000c801e807c12ffffb832b01f8fa1e3e878e10"),
        ("change_at_2", vec![(100, 1000, 1.0), (100, 2000, 1.0), (2500, 3000, 1.0), (2500, 4000, 1.0), (2600, 5000, 7.0), (2600, 6000, stale())], "000682d00f3ff0000000000000880ee8073dc18f1f4509bffbf1c27fc7d0"),
        ("start_is_previous_t", vec![(0, 1000, 5.0), (1000, 2000, 6.0), (2000, 3000, 7.0), (3000, 4000, 8.0), (4000, 5000, 9.0), (5000, 6500, 9.0)], "000601d00f4014000000000000e807cc0b455427ab81b07d00"),
        ("known_later", vec![(0, 1000, 1.0), (0, 2000, 1.0), (0, 3000, 1.0), (2500, 4000, 2.0), (2500, 5000, 2.0)], "000503d00f3ff0000000000000e807284bfffe1f478fa0"),
        (
            "negative_times_stale_first",
            vec![
                (-6_000_000_000_000, -5_000_000_000_000, stale()),
                (-6_000_000_000_000, -4_999_999_999_000, 0.1),
                (-6_000_000_000_000, -4_999_999_998_000, 0.2),
                (-6_000_000_000_000, -4_999_999_998_000 + big, f64::INFINITY),
                (-1, 1, f64::from_bits(0x7ff8_0000_0000_0001)),
            ],
            "000584ffbfcaf384a3027ff000000000000280c0a8ca9a3ae807c2f7fb999999999999b0070000000000001e000000fffffffc18c1fa01ccccccccccccdf00000146139ca418e6690000000000003fdfff8e7b18d6fa20",
        ),
        (
            "no_start_past_127",
            long_sequence(130, false),
            "00827f80a0abfef96200000000000000009875c22bffa12fffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047fffc000317a0047da13fffc1d4c4801f075300",
        ),
        (
            "change_at_128",
            long_sequence(135, true),
            "0087ff80a0abfef9620000000000000000ec9fabfef9629875c22bffa12fffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047ff3ffc8011ffcfff20047fffc000317a0047d8d3fffc1d474801f075311fffc1d4c4ffff075312007c1d4c47fff075313fffc1d4c00",
        ),
    ]
}

#[test]
fn bytes_match_chunks_written_by_prometheus() {
    for (name, samples, want) in prometheus_chunks() {
        let bytes = encode(&samples);
        assert_eq!(hex(&bytes), want, "{name}");
        let (read, error) = decode(&unhex(want));
        assert!(!error, "{name}");
        assert_eq!(read, bits_of(&samples), "{name}");
    }
}

#[test]
fn the_start_header_records_the_first_change_and_switches_at_127() {
    let header = |samples: &[(i64, i64, f64)]| encode(samples)[START_HEADER_BYTE];
    assert_eq!(header(&[(0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)]), 0x00, "no starts, no start bits");
    assert_eq!(header(&[(5, 1, 1.0), (5, 2, 1.0), (5, 3, 1.0)]), 0x80, "a constant start is stored once");
    assert_eq!(header(&[(5, 1, 1.0), (6, 2, 1.0)]), 0x81);
    assert_eq!(header(&[(5, 1, 1.0), (5, 2, 1.0), (5, 3, 1.0), (7, 4, 1.0)]), 0x83);
    assert_eq!(header(&long_sequence(127, false)), 0x00);
    assert_eq!(header(&long_sequence(128, false)), 0x7f, "the header cannot name a later change");
    assert_eq!(header(&long_sequence(135, true)), 0xff);
    // Unchanged starts cost nothing: a chunk without is no shorter than one with a
    // constant start but for the first sample's varint.
    let without = encode(&long_sequence(100, false));
    let with: Vec<(i64, i64, f64)> = long_sequence(100, false).into_iter().map(|(_, t, v)| (1_600_000_000_000, t, v)).collect();
    assert_eq!(encode(&with).len() - without.len(), 6);
}

/// Prometheus' appender reopened on a chunk takes its state from the iterator, which
/// knows no value window before one is read: a chunk of three equal values reopened
/// encodes its next change in a 64-bit window.
#[test]
fn resumed_appender_continues_as_prometheus_does() {
    let mut a = Xor2Appender::default();
    for t in [1000, 2000, 3000] {
        a.append(0, t, 1.0);
    }
    let mut b = Xor2Appender::resume(a.bytes()).expect("a well-formed chunk resumes");
    b.append(0, 4000, 2.5);
    b.append(50, 5000, 2.5);
    b.append(60, 6000, 3.0);
    assert_eq!(hex(b.bytes()), "000604d00f3ff0000000000000e80723ffa0000000000003e03dba000600000000000078f780");
    assert_eq!(decode(b.bytes()).0, bits_of(&[(0, 1000, 1.0), (0, 2000, 1.0), (0, 3000, 1.0), (0, 4000, 2.5), (50, 5000, 2.5), (60, 6000, 3.0)]));
    // Resumed anywhere, the chunk reads back whole.
    let samples = long_sequence(135, true);
    for cut in [0, 1, 2, 3, 64, 127, 128, 129] {
        let mut a = Xor2Appender::resume(&encode(&samples[..cut])).expect("resumes");
        for (st, t, v) in &samples[cut..] {
            a.append(*st, *t, *v);
        }
        assert_eq!(decode(a.bytes()).0, bits_of(&samples), "cut at {cut}");
    }
    assert!(Xor2Appender::resume(&[0, 1]).is_none());
    assert!(Xor2Appender::resume(&unhex("000581d00f3ff0000000000000c801e807c12ffffb832b01f8fa1e3e878e1000")).is_none(), "a stray byte after the samples");
    // Headers no encoder writes (found by fuzzing): continuing them would write start
    // deltas the reader skips.
    assert!(Xor2Appender::resume(&unhex("000832d00f3fff000000255097ff20910019fa1e0c7f0000")).is_none(), "the first start change named after the last sample");
    assert!(Xor2Appender::resume(&unhex("01000033ae290040010000000000ffc000000000000300100000000000010040000000000000cccccccccccccccccccccccccccccc29ccccccccccccccccd0cccccc0000cccccccccccccccccccccccccccccc29ccccccccccccccccd0cccccccccc000000000000000100001000000000002be06d3bd61f27f7d13462bf000000000001cccc000000000000000100001000000000002be06d3bd61f27f7d13462bf0000000000011e2e878e00")).is_none(), "past sample 127 without a recorded change");
}

#[test]
fn truncated_chunks_stop_with_error() {
    for (name, _, want) in prometheus_chunks() {
        let bytes = unhex(want);
        for cut in 0..bytes.len() {
            let (read, error) = decode(&bytes[..cut]);
            assert!(error, "{name} cut at {cut}: {} samples read", read.len());
            assert!(Xor2Appender::resume(&bytes[..cut]).is_none(), "{name} cut at {cut}");
        }
    }
    assert!(Xor2Iterator::new(&[]).error(), "an empty slice lacks the header");
    assert_eq!(Xor2Iterator::new(&[0, 0, 0]).count(), 0);
}

/// A start pattern: none, constant, changing at a given sample, the previous timestamp,
/// jittering, or anything.
fn starts(kind: u8, change_at: usize, ts: &[i64], noise: &[i64]) -> Vec<i64> {
    (0..ts.len())
        .map(|i| match kind {
            0 => 0,
            1 => 1_000,
            2 => 1_000 + if i >= change_at { 500 } else { 0 },
            3 if i == 0 => 0,
            3 => ts[i - 1],
            4 => ts[0] - 10 + noise[i] % 7,
            5 if i < change_at => 0,
            5 => -77,
            _ => noise[i],
        })
        .collect()
}

proptest! {
    #[test]
    fn round_trip(
        first in -1_000_000_000_000i64..1_000_000_000_000,
        steps in proptest::collection::vec((prop_oneof![Just(15_000i64), 14_990i64..15_010, 1i64..5_000, 1i64..1_000_000, 1i64..1 << 42], 0u8..8, any::<u64>(), any::<i64>()), 0..300),
        start_kind in 0u8..7,
        change_at in prop_oneof![Just(1usize), Just(2), Just(127), Just(128), 0usize..300],
    ) {
        let mut ts = vec![first];
        for (delta, ..) in &steps {
            ts.push(ts[ts.len() - 1] + delta);
        }
        let noise: Vec<i64> = std::iter::once(3).chain(steps.iter().map(|s| s.3)).collect();
        let st = starts(start_kind, change_at, &ts, &noise);
        let mut v = 1.0f64;
        let mut samples = vec![(st[0], ts[0], v)];
        for (i, (_, kind, bits, _)) in steps.iter().enumerate() {
            v = match kind {
                0..=2 => v,
                3 => v + 0.5,
                4 => f64::from_bits(*bits),
                5 => stale(),
                6 => (i % 5) as f64,
                _ => -v,
            };
            samples.push((st[i + 1], ts[i + 1], v));
        }
        let bytes = encode(&samples);
        let (read, error) = decode(&bytes);
        prop_assert!(!error);
        prop_assert_eq!(read, bits_of(&samples));
        let mut kept = Vec::new();
        let mut kept_starts = Vec::new();
        prop_assert!(decode_xor2_kept(&bytes, &mut kept, Some(&mut kept_starts), |t| t % 2 == 0));
        let want: Vec<&(i64, i64, f64)> = samples.iter().filter(|s| s.1 % 2 == 0).collect();
        prop_assert_eq!(kept.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), want.iter().map(|s| s.1).collect::<Vec<_>>());
        prop_assert_eq!(kept_starts, want.iter().map(|s| s.0).collect::<Vec<_>>());
    }

    /// Whatever the bytes, decoding ends (with or without an error) and never panics.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8)) {
        Xor2Iterator::new(&bytes).for_each(drop);
        let _ = Xor2Appender::resume(&bytes);
        let mut chunk = unhex(prometheus_chunks()[1].2);
        for (at, mask) in flips {
            let len = chunk.len();
            chunk[at % len] ^= mask;
        }
        Xor2Iterator::new(&chunk).for_each(drop);
        if let Some(mut a) = Xor2Appender::resume(&chunk) {
            a.append(5, i64::MAX, 1.0);
        }
    }
}
