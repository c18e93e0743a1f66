//! WAL record payloads: series definitions (ref + labels), float samples (ref, t, v) and
//! tombstones (ref, inclusive time range deleted from the head).
//! Byte layout in `tsdb/docs/wal.md`.

use crate::model::{Label, Labels, Sample};

pub const RECORD_SERIES: u8 = 1;
pub const RECORD_SAMPLES: u8 = 2;
pub const RECORD_TOMBSTONES: u8 = 3;

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Series(Vec<(u32, Labels)>),
    Samples(Vec<(u32, Sample)>),
    /// `(series_ref, mint_ms, maxt_ms)`: the series' samples in `[mint_ms, maxt_ms]` written
    /// before this record are deleted (`mint_ms <= maxt_ms`).
    Tombstones(Vec<(u32, i64, i64)>),
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.bytes.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(out)
    }

    fn string(&mut self) -> Option<String> {
        let n = usize::try_from(self.uvarint()?).ok()?;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::Series(series) => {
                out.push(RECORD_SERIES);
                put_uvarint(out, series.len() as u64);
                for (r, labels) in series {
                    put_uvarint(out, u64::from(*r));
                    put_uvarint(out, labels.len() as u64);
                    for l in labels.iter() {
                        put_bytes(out, l.name.as_bytes());
                        put_bytes(out, l.value.as_bytes());
                    }
                }
            }
            Record::Samples(samples) => {
                out.push(RECORD_SAMPLES);
                put_uvarint(out, samples.len() as u64);
                for (r, s) in samples {
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&s.timestamp_ms.to_le_bytes());
                    out.extend_from_slice(&s.value.to_bits().to_le_bytes());
                }
            }
            Record::Tombstones(stones) => {
                out.push(RECORD_TOMBSTONES);
                put_uvarint(out, stones.len() as u64);
                for (r, mint_ms, maxt_ms) in stones {
                    debug_assert!(mint_ms <= maxt_ms, "a tombstone interval is not empty");
                    put_uvarint(out, u64::from(*r));
                    out.extend_from_slice(&mint_ms.to_le_bytes());
                    out.extend_from_slice(&maxt_ms.to_le_bytes());
                }
            }
        }
    }

    /// Decodes a payload; `None` when it is malformed.
    pub fn decode(payload: &[u8]) -> Option<Record> {
        let (&kind, rest) = payload.split_first()?;
        let mut c = Cursor {
            bytes: rest,
            pos: 0,
        };
        let count = usize::try_from(c.uvarint()?).ok()?;
        let record = match kind {
            RECORD_SERIES => {
                let mut series = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let n = usize::try_from(c.uvarint()?).ok()?;
                    let mut labels = Vec::with_capacity(n.min(256));
                    for _ in 0..n {
                        labels.push(Label {
                            name: c.string()?,
                            value: c.string()?,
                        });
                    }
                    if !labels.windows(2).all(|w| w[0].name < w[1].name)
                        || labels.iter().any(|l| l.value.is_empty())
                    {
                        return None;
                    }
                    series.push((r, Labels::from_sorted(labels)));
                }
                Record::Series(series)
            }
            RECORD_SAMPLES => {
                let mut samples = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let t = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let v = f64::from_bits(u64::from_le_bytes(c.take(8)?.try_into().ok()?));
                    samples.push((
                        r,
                        Sample {
                            timestamp_ms: t,
                            value: v,
                        },
                    ));
                }
                Record::Samples(samples)
            }
            RECORD_TOMBSTONES => {
                let mut stones = Vec::with_capacity(count.min(1 << 16));
                for _ in 0..count {
                    let r = u32::try_from(c.uvarint()?).ok()?;
                    let mint = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    let maxt = i64::from_le_bytes(c.take(8)?.try_into().ok()?);
                    if mint > maxt {
                        return None;
                    }
                    stones.push((r, mint, maxt));
                }
                Record::Tombstones(stones)
            }
            _ => return None,
        };
        (c.pos == rest.len()).then_some(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(refs in proptest::collection::vec(any::<u32>(), 0..20), ts in any::<i64>(), bits in any::<u64>(),
                      names in proptest::collection::btree_map("[a-z_]{1,8}", "\\PC{1,8}", 0..5)) {
            let labels = Labels::from_pairs(names.clone());
            let series = Record::Series(refs.iter().map(|r| (*r, labels.clone())).collect());
            let samples = Record::Samples(refs.iter().map(|r| (*r, Sample { timestamp_ms: ts, value: f64::from_bits(bits) })).collect());
            let stones = Record::Tombstones(refs.iter().map(|r| (*r, ts.min(0), ts.max(0))).collect());
            for record in [series, samples, stones] {
                let mut out = Vec::new();
                record.encode(&mut out);
                prop_assert_eq!(Record::decode(&out), Some(record));
                prop_assert!(Record::decode(&out[..out.len() - 1]).is_none(), "a truncated record never decodes");
            }
        }
    }
}
