//! Cross-check of the start-time chunk encoders against Prometheus' own: pseudo-random
//! sequences that a small Go program (Prometheus `chunkenc` at d15adb9, the same generator
//! seeded alike) also encoded; the chunks of both must be the same bytes.

use super::float_histogram::CounterResetHeader;
use super::float_histogram_st::{FloatHistogramStAppender, FloatHistogramStIterator};
use super::xor2::{Xor2Appender, Xor2Iterator};
use crate::model::{BucketSpan, CounterResetHint, FloatHistogram, CUSTOM_BUCKETS_SCHEMA, STALE_NAN_BITS};

/// Sequences (of each kind) checked.
const SEQUENCES: u64 = 2000;
/// CRC32C (Castagnoli) over every chunk in order, each as a 4-byte big-endian length and its
/// bytes: what Prometheus' encoders wrote for the `SEQUENCES` seeds (`golden random 2000`).
const PROMETHEUS_DIGEST: u32 = 0x7b78_4d20;

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Start times for samples at `ts` following pattern `kind`: 0 none, 1 constant, 2/3 a
/// change at sample 1/2, 4 at a random sample, 5 the previous timestamp, 6 jitter with
/// occasional jumps, 7 a change at sample 127 or 128, 8 unknown then known, 9 random.
fn starts_for(r: &mut SplitMix64, kind: u64, ts: &[i64]) -> Vec<i64> {
    let n = ts.len();
    let mut st0 = ts[0].wrapping_sub((r.next() % 1_000_000) as i64).wrapping_sub(1);
    let k = (r.next() % n as u64) as usize;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(match kind {
            0 => 0,
            1 => st0,
            2 | 3 | 4 | 7 => {
                let at = match kind {
                    2 => 1,
                    3 => 2,
                    7 => 127 + k % 2,
                    _ => k,
                };
                if i < at {
                    st0
                } else {
                    st0 + 1000
                }
            }
            5 if i == 0 => st0,
            5 => ts[i - 1],
            6 => {
                let st = st0 + (r.next() % 5) as i64 - 2;
                if r.next().is_multiple_of(10) {
                    st0 = ts[i] - (r.next() % 100_000) as i64;
                }
                st
            }
            8 if i < k => 0,
            8 => st0,
            _ => r.next() as i64,
        });
    }
    out
}

fn timestamps(r: &mut SplitMix64, n: usize) -> Vec<i64> {
    let mut t = (r.next() % (1 << 41)) as i64 - (1 << 40);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if i > 0 {
            t += match r.next() % 16 {
                0..=7 | 15 => 15_000,
                8..=10 => 15_000 + (r.next() % 9) as i64 - 4,
                11 => 1 + (r.next() % 4096) as i64,
                12 => 1 + (r.next() % 600_000) as i64,
                13 => 1 + (r.next() % (1 << 40)) as i64,
                _ => 1 + (r.next() % (1 << 20)) as i64,
            };
        }
        out.push(t);
    }
    out
}

/// (start, timestamp, value) triples.
fn float_sequence(r: &mut SplitMix64) -> Vec<(i64, i64, f64)> {
    let kind = r.next() % 10;
    let mut n = 1 + (r.next() % 260) as usize;
    if kind == 7 {
        n = 129 + (r.next() % 60) as usize;
    }
    let ts = timestamps(r, n);
    let st = starts_for(r, kind, &ts);
    let mut v = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let base = if v.is_nan() { 0.5 } else { v };
        match r.next() % 10 {
            0..=2 | 8 => {}
            3 => v = base + 0.25,
            4 => v = (r.next() % 1000) as f64,
            5 => v = f64::from_bits(STALE_NAN_BITS),
            6 => v = f64::from_bits(r.next()),
            7 => v = base + 1.0,
            _ => v = i as f64,
        }
        out.push((st[i], ts[i], v));
    }
    out
}

fn span(offset: i32, length: u32) -> BucketSpan {
    BucketSpan { offset, length }
}

/// (start, timestamp, histogram) triples of one layout, counters that never go down (or
/// gauges), a few staleness markers at the end; the chunk's counter-reset header.
fn histogram_sequence(r: &mut SplitMix64) -> (CounterResetHeader, Vec<(i64, i64, FloatHistogram)>) {
    let kind = r.next() % 10;
    let mut n = 1 + (r.next() % 200) as usize;
    if kind == 7 {
        n = 129 + (r.next() % 60) as usize;
    }
    let hint = r.next() % 3;
    let layout = r.next() % 4;
    let stale = (r.next() % 3) as usize;
    let ts = timestamps(r, n);
    let st = starts_for(r, kind, &ts);
    let mut level = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let step = (r.next() % 1000) as f64 / 4.0;
        level = if hint == 1 { step } else { level + step };
        let mut h = FloatHistogram { count: level + level + level + 1.0, sum: level + 0.5, ..FloatHistogram::default() };
        match layout {
            0 => {
                (h.schema, h.zero_threshold, h.zero_count) = (0, 2f64.powi(-128), level);
                h.positive_spans = vec![span(-2, 2), span(3, 1)];
                h.negative_spans = vec![span(0, 1)];
                h.positive_buckets = vec![level, level + 1.0, level + 2.0];
                h.negative_buckets = vec![level + 0.5];
            }
            1 => {
                (h.schema, h.zero_threshold, h.zero_count) = (3, 0.001, level);
                h.positive_spans = vec![span(0, 4)];
                h.positive_buckets = vec![level, level, level + 1.0, level + 3.0];
            }
            2 => {
                h.schema = CUSTOM_BUCKETS_SCHEMA;
                h.positive_spans = vec![span(0, 3)];
                h.positive_buckets = vec![level, level + 1.0, level + 2.0];
                h.custom_values = vec![0.1, 2.5, 1000.0];
            }
            _ => (h.schema, h.zero_threshold, h.zero_count) = (-4, 0.0, level),
        }
        match (hint, i) {
            (1, _) => h.counter_reset_hint = CounterResetHint::Gauge,
            (2, 0) => h.counter_reset_hint = CounterResetHint::CounterReset,
            _ => {}
        }
        if i >= n.saturating_sub(stale) && i > 0 {
            let hint = if hint == 1 { CounterResetHint::Gauge } else { CounterResetHint::Unknown };
            h = FloatHistogram { counter_reset_hint: hint, sum: f64::from_bits(STALE_NAN_BITS), ..FloatHistogram::default() };
        }
        out.push((st[i], ts[i], h));
    }
    let header = match hint {
        1 => CounterResetHeader::Gauge,
        2 => CounterResetHeader::CounterReset,
        _ => CounterResetHeader::Unknown,
    };
    (header, out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Both chunks of seed `seed`, checked to read back as appended. The generator is the contract
/// with the Go program: splitmix64 seeded with the sequence number, then for each seed one
/// float sequence (XOR2) and one histogram sequence (float histogram with starts), each
/// drawing its length, start pattern, timestamps and values in this order.
fn encode_seed(seed: u64) -> (Vec<u8>, Vec<u8>) {
    let mut r = SplitMix64(seed);
    let floats = float_sequence(&mut r);
    let mut a = Xor2Appender::default();
    for (st, t, v) in &floats {
        a.append(*st, *t, *v);
    }
    let xor2 = a.into_bytes();
    let mut it = Xor2Iterator::new(&xor2);
    let read: Vec<(i64, i64, u64)> = it.by_ref().map(|s| (s.start_ms, s.sample.timestamp_ms, s.sample.value.to_bits())).collect();
    assert!(!it.error(), "seed {seed}");
    assert_eq!(read, floats.iter().map(|(st, t, v)| (*st, *t, v.to_bits())).collect::<Vec<_>>(), "seed {seed}");

    let (header, histograms) = histogram_sequence(&mut r);
    let mut a = FloatHistogramStAppender::after(None, &histograms[0].2);
    assert_eq!(a.header(), header, "seed {seed}");
    for (st, t, h) in &histograms {
        assert_eq!(a.appendable(h), super::Appendable::Yes, "seed {seed} at {t}");
        a.append(*st, *t, h);
    }
    let fhst = a.into_bytes().into_vec();
    let mut it = FloatHistogramStIterator::new(&fhst);
    let read: Vec<(i64, i64, u64)> = it.by_ref().map(|s| (s.start_ms, s.histogram.timestamp_ms, s.histogram.histogram.sum.to_bits())).collect();
    assert!(!it.error(), "seed {seed}");
    assert_eq!(read, histograms.iter().map(|(st, t, h)| (*st, *t, h.sum.to_bits())).collect::<Vec<_>>(), "seed {seed}");
    (xor2, fhst)
}

#[test]
fn random_sequences_encode_to_prometheus_bytes() {
    let mut digest = 0u32;
    for seed in 0..SEQUENCES {
        let (xor2, fhst) = encode_seed(seed);
        for chunk in [&xor2, &fhst] {
            digest = crc32c::crc32c_append(digest, &(chunk.len() as u32).to_be_bytes());
            digest = crc32c::crc32c_append(digest, chunk);
        }
    }
    assert_eq!(digest, PROMETHEUS_DIGEST, "the chunks differ from Prometheus'; METRICSTOR_ST_DUMP=<file> with the ignored dump test lists them");
}

/// Writes every chunk in hex, in the Go program's format, to the file named by
/// `METRICSTOR_ST_DUMP`, for a line-by-line diff against Prometheus' output.
#[test]
#[ignore = "writes a file for a manual diff"]
fn dump_random_sequences() {
    let Ok(path) = std::env::var("METRICSTOR_ST_DUMP") else {
        return;
    };
    let mut out = String::new();
    for seed in 0..SEQUENCES {
        let (xor2, fhst) = encode_seed(seed);
        out.push_str(&format!("{seed} xor2 {}\n{seed} fhst {}\n", hex(&xor2), hex(&fhst)));
    }
    std::fs::write(path, out).expect("the dump file is writable");
}
