//! Retention, as `maintain` applies it after its cuts: blocks whose range ended more than
//! `retention_ms` ago are deleted, then the oldest blocks past the size limit
//! (`retention_bytes`, or a share of the file system) as Prometheus does.

use std::path::{Path, PathBuf};

use super::{ShardDb, WAL_DIRNAME};
use crate::block::{self, Block};
use crate::error::Error;

impl ShardDb {
    /// Deletes blocks whose range ended before `now_ms - retention`; returns their ULIDs.
    pub(super) fn apply_retention(&mut self, now_ms: i64) -> Result<Vec<String>, Error> {
        let cutoff = now_ms.saturating_sub(self.options.retention_ms);
        let doomed: std::collections::HashSet<String> = self.blocks.iter().filter(|b| b.meta.max_time_ms < cutoff).map(|b| b.meta.ulid.clone()).collect();
        self.delete_blocks(&doomed, "block past retention deleted")
    }

    /// The byte limit of size retention now: the file system's share when
    /// `retention_disk_fraction` is set and its size can be read, else `retention_bytes`;
    /// None without a limit.
    fn size_limit_bytes(&self) -> Option<u64> {
        let fraction = self.options.retention_disk_fraction;
        if fraction > 0.0 {
            match file_system_bytes(&self.dir) {
                Some(total) => return Some((total as f64 * fraction.min(1.0)) as u64),
                None => tracing::warn!(shard_dir = %self.dir.display(), "cannot read the file system's size; size retention falls back to retention_size"),
            }
        }
        (self.options.retention_bytes > 0).then_some(self.options.retention_bytes)
    }

    /// Size retention as Prometheus applies it (`BeyondSizeRetention`): the WAL's bytes, then
    /// each block's from the newest (by start time) back; from the first block that takes the
    /// sum past the limit, it and every older block are deleted. Returns their ULIDs.
    pub(super) fn apply_size_retention(&mut self) -> Result<Vec<String>, Error> {
        let Some(limit) = self.size_limit_bytes() else { return Ok(Vec::new()) };
        let mut newest_first: Vec<&Block> = self.blocks.iter().collect();
        newest_first.sort_by_key(|b| std::cmp::Reverse(b.meta.min_time_ms));
        let mut total = block::dir_bytes(&self.wal_dir());
        let mut doomed = std::collections::HashSet::new();
        for (at, b) in newest_first.iter().enumerate() {
            total = total.saturating_add(b.size_bytes());
            if total > limit {
                doomed.extend(newest_first[at..].iter().map(|b| b.meta.ulid.clone()));
                break;
            }
        }
        self.delete_blocks(&doomed, "block past size retention deleted")
    }

    /// The directory of the shard's WAL.
    fn wal_dir(&self) -> PathBuf {
        self.dir.join(WAL_DIRNAME)
    }

    /// Deletes the open blocks named in `doomed`, logging `why` for each; their ULIDs. Stops
    /// at the first failure (the blocks not yet deleted stay open).
    fn delete_blocks(&mut self, doomed: &std::collections::HashSet<String>, why: &str) -> Result<Vec<String>, Error> {
        if doomed.is_empty() {
            return Ok(Vec::new());
        }
        let mut deleted = Vec::new();
        let mut kept = Vec::with_capacity(self.blocks.len());
        let mut result = Ok(());
        for b in std::mem::take(&mut self.blocks) {
            if result.is_ok() && doomed.contains(&b.meta.ulid) {
                let ulid = b.meta.ulid.clone();
                drop(b);
                match block::delete_block(&self.dir, &ulid) {
                    Ok(()) => {
                        tracing::info!(shard_dir = %self.dir.display(), block = %ulid, "{why}");
                        deleted.push(ulid);
                    }
                    Err(e) => result = Err(e),
                }
            } else {
                kept.push(b);
            }
        }
        self.blocks = kept;
        result.map(|()| deleted)
    }
}

/// The total size in bytes of the file system holding `dir` (`statvfs`), if it can be read.
fn file_system_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `path` is a NUL-terminated string and `stats` points at writable memory of
    // the struct's size; statvfs only writes it.
    let status = unsafe { libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) };
    if status != 0 {
        return None;
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    let stats = unsafe { stats.assume_init() };
    // Both are 64-bit on the 64-bit Linux targets this builds for.
    let total = stats.f_blocks.saturating_mul(stats.f_frsize);
    (total > 0).then_some(total)
}
