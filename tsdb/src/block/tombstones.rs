//! A block's `tombstones` file in Prometheus' format (`tsdb/docs/block.md`): deleted time
//! intervals per series ref, applied on every read until `clean_tombstones` rewrites the
//! block. Written atomically (temp file written with O_DIRECT and fsynced, rename, directory
//! fsync).

use std::collections::BTreeMap;
use std::path::Path;

use super::encoding::{Decoder, Encoder};
use super::writer::{sync_dir, write_synced, MAGIC_TOMBSTONES, TOMBSTONES_FILENAME};
use crate::error::Error;

const FORMAT_V1: u8 = 1;
/// magic (4) + version (1) + CRC32C (4).
const FILE_BYTES_MIN: usize = 9;

/// Deleted intervals per series ref (the series' index id), inclusive `[mint, maxt]`,
/// sorted and non-overlapping within a series.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tombstones {
    by_series: BTreeMap<u32, Vec<(i64, i64)>>,
}

impl Tombstones {
    pub fn is_empty(&self) -> bool {
        self.by_series.is_empty()
    }

    /// Series with at least one deleted interval.
    pub fn series_count(&self) -> usize {
        self.by_series.len()
    }

    /// Intervals deleted from series `id` (empty when none).
    pub fn intervals(&self, id: u32) -> &[(i64, i64)] {
        self.by_series.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Adds `[mint, maxt]` to series `id`, merging with overlapping or adjacent intervals
    /// (as Prometheus' `Intervals.Add` does).
    pub fn add(&mut self, id: u32, mint: i64, maxt: i64) {
        debug_assert!(mint <= maxt, "a tombstone interval is not empty");
        let list = self.by_series.entry(id).or_default();
        list.push((mint, maxt));
        list.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(list.len());
        for &(lo, hi) in list.iter() {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        *list = merged;
    }

    /// True when `t` lies in a deleted interval of series `id`.
    pub fn is_deleted(intervals: &[(i64, i64)], t: i64) -> bool {
        intervals.iter().any(|&(lo, hi)| lo <= t && t <= hi)
    }

    /// True when `[mint, maxt]` lies wholly inside one deleted interval.
    pub fn covers(intervals: &[(i64, i64)], mint: i64, maxt: i64) -> bool {
        intervals.iter().any(|&(lo, hi)| lo <= mint && maxt <= hi)
    }

    /// The file's bytes: magic (BE), version 1, one `uvarint ref | varint mint | varint maxt`
    /// per interval, CRC32C (BE) over the entries (not the version byte, as Prometheus does).
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::default();
        for (id, intervals) in &self.by_series {
            for &(mint, maxt) in intervals {
                e.put_uvarint(u64::from(*id));
                e.put_varint(mint);
                e.put_varint(maxt);
            }
        }
        let stones = e.bytes;
        let mut out = MAGIC_TOMBSTONES.to_be_bytes().to_vec();
        out.push(FORMAT_V1);
        out.extend_from_slice(&stones);
        out.extend_from_slice(&crc32c::crc32c(&stones).to_be_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Tombstones, String> {
        if bytes.len() < FILE_BYTES_MIN {
            return Err(format!("{} bytes is shorter than the header", bytes.len()));
        }
        let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if magic != MAGIC_TOMBSTONES {
            return Err(format!("bad magic {magic:#x}"));
        }
        if bytes[4] != FORMAT_V1 {
            return Err(format!("unsupported version {}", bytes[4]));
        }
        let (stones, crc) = bytes[5..].split_at(bytes.len() - FILE_BYTES_MIN);
        let want = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32c::crc32c(stones) != want {
            return Err("checksum mismatch".to_string());
        }
        let mut out = Tombstones::default();
        let mut d = Decoder::new(stones);
        while d.remaining() > 0 {
            let bad = || "malformed tombstone entry".to_string();
            let id = u32::try_from(d.uvarint().ok_or_else(bad)?).map_err(|_| bad())?;
            let mint = d.varint().ok_or_else(bad)?;
            let maxt = d.varint().ok_or_else(bad)?;
            if mint > maxt {
                return Err(format!("interval [{mint}, {maxt}] of series {id} is empty"));
            }
            out.add(id, mint, maxt);
        }
        Ok(out)
    }

    /// Reads `<block>/tombstones`; a missing file means no tombstones (as in Prometheus).
    pub fn read(block_dir: &Path) -> Result<Tombstones, Error> {
        let path = block_dir.join(TOMBSTONES_FILENAME);
        match std::fs::read(&path) {
            Ok(bytes) => Tombstones::decode(&bytes).map_err(|m| Error::corrupt(&path, m)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Tombstones::default()),
            Err(e) => Err(Error::io("read", &path, e)),
        }
    }

    /// Replaces `<block>/tombstones` atomically: a crash leaves the old file or the new one.
    pub fn write(&self, block_dir: &Path) -> Result<(), Error> {
        let path = block_dir.join(TOMBSTONES_FILENAME);
        let tmp = block_dir.join(format!("{TOMBSTONES_FILENAME}.tmp"));
        write_synced(&tmp, &self.encode())?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io("rename", &tmp, e))?;
        sync_dir(block_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_merge_and_round_trip() {
        let mut t = Tombstones::default();
        assert_eq!(t.encode(), [0x01, 0x30, 0xBA, 0x30, 1, 0, 0, 0, 0]);
        t.add(7, 10, 20);
        t.add(7, 21, 30);
        t.add(7, 50, 60);
        t.add(7, 5, 12);
        t.add(1, -100, -50);
        assert_eq!(t.intervals(7), &[(5, 30), (50, 60)]);
        assert!(Tombstones::is_deleted(t.intervals(7), 30));
        assert!(!Tombstones::is_deleted(t.intervals(7), 31));
        assert!(Tombstones::covers(t.intervals(7), 6, 29));
        let bytes = t.encode();
        assert_eq!(Tombstones::decode(&bytes), Ok(t.clone()));
        let mut bad = bytes.clone();
        bad[6] ^= 1;
        assert!(Tombstones::decode(&bad).is_err(), "a flipped byte fails the checksum");
        assert!(Tombstones::decode(&bytes[..8]).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(Tombstones::read(dir.path()).expect("missing file").is_empty());
        t.write(dir.path()).expect("write");
        assert_eq!(Tombstones::read(dir.path()).expect("read"), t);
    }
}
