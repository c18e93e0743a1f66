//! The data directory's identity file `metricstor.json`: the shard count is fixed when the
//! directory is created, because series placement (hash mod shards) depends on it. And the
//! directory's lock: one process at a time serves a data directory.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const IDENTITY_FILE: &str = "metricstor.json";
/// Bumped when the on-disk layout changes incompatibly.
pub const LAYOUT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct DataDirIdentity {
    pub layout_version: u32,
    pub shards: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data directory {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("data directory {path}: {IDENTITY_FILE} is invalid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("data directory {path} is in use by another process (it holds {LOCK_FILE} there); one process at a time may serve a data directory: stop the other one, or give this one its own storage.data_dir")]
    InUse { path: PathBuf },
    #[error("data directory {path}: {RESTORE_MARKER} is there, so a restore into it (vmrestore) did not finish and the directory may hold only part of the backup; run the restore again to its end, or remove {RESTORE_MARKER} if you know the directory is whole")]
    RestoreUnfinished { path: PathBuf },
}

/// The lock file: VictoriaMetrics' name, which vmrestore locks (flock) too, so that neither
/// restores into a directory a running server uses nor starts on one being restored.
pub const LOCK_FILE: &str = "flock.lock";
/// The file vmrestore keeps in a directory while it restores into it.
pub const RESTORE_MARKER: &str = "restore-in-progress";

/// An exclusive lock on a data directory, held until dropped (or the process ends: the
/// kernel releases a flock with its last descriptor, so a crash leaves no stale lock).
#[derive(Debug)]
pub struct DataDirLock {
    _file: std::fs::File,
}

/// Locks `dir` (created when missing) for this process: `InUse` when another process holds
/// it, `RestoreUnfinished` when a restore into it did not finish.
pub fn lock(dir: &Path) -> Result<DataDirLock, DataDirError> {
    let io = |source| DataDirError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE)).map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(DataDirError::InUse { path: dir.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    if dir.join(RESTORE_MARKER).exists() {
        return Err(DataDirError::RestoreUnfinished { path: dir.to_path_buf() });
    }
    Ok(DataDirLock { _file: file })
}

/// Opens (or creates) the data directory and returns its shard count.
/// `shards_wanted` is used only on creation; an existing directory keeps its count.
pub fn open_or_create(dir: &Path, shards_wanted: usize) -> Result<usize, DataDirError> {
    let io = |source| DataDirError::Io { path: dir.to_path_buf(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join(IDENTITY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let identity: DataDirIdentity = serde_json::from_slice(&bytes)
                .map_err(|e| DataDirError::Invalid { path: path.clone(), message: e.to_string() })?;
            if identity.layout_version != LAYOUT_VERSION {
                return Err(DataDirError::Invalid {
                    path,
                    message: format!("layout_version {} is not supported (expected {LAYOUT_VERSION})", identity.layout_version),
                });
            }
            if identity.shards == 0 {
                return Err(DataDirError::Invalid { path, message: "shards must be at least 1".into() });
            }
            Ok(identity.shards)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = DataDirIdentity { layout_version: LAYOUT_VERSION, shards: shards_wanted.max(1) };
            let text = serde_json::to_vec_pretty(&identity).map_err(|e| DataDirError::Invalid { path: path.clone(), message: e.to_string() })?;
            // Write-then-rename so a crash never leaves a half-written identity file.
            let tmp = dir.join(format!("{IDENTITY_FILE}.tmp"));
            std::fs::write(&tmp, text).map_err(io)?;
            std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(io)?;
            Ok(identity.shards)
        }
        Err(e) => Err(io(e)),
    }
}

/// Directory of shard `index`.
pub fn shard_dir(data_dir: &Path, index: usize) -> PathBuf {
    data_dir.join(format!("shard-{index}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_count_is_fixed_at_creation() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(open_or_create(dir.path(), 3).unwrap(), 3);
        assert_eq!(open_or_create(dir.path(), 8).unwrap(), 3);
    }

    #[test]
    fn a_locked_directory_is_refused_until_its_lock_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path()).unwrap();
        // A second open file description conflicts as another process's would.
        let refused = lock(dir.path()).unwrap_err();
        assert!(matches!(refused, DataDirError::InUse { .. }), "{refused:?}");
        assert!(refused.to_string().contains("in use by another process"), "{refused}");
        drop(held);
        lock(dir.path()).unwrap();
    }

    #[test]
    fn an_unfinished_restore_is_refused_naming_its_marker() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(RESTORE_MARKER), b"").unwrap();
        let refused = lock(dir.path()).unwrap_err();
        assert!(matches!(refused, DataDirError::RestoreUnfinished { .. }), "{refused:?}");
        assert!(refused.to_string().contains(RESTORE_MARKER), "{refused}");
        std::fs::remove_file(dir.path().join(RESTORE_MARKER)).unwrap();
        lock(dir.path()).unwrap();
    }

    #[test]
    fn corrupt_identity_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IDENTITY_FILE), b"{nope").unwrap();
        assert!(open_or_create(dir.path(), 2).unwrap_err().to_string().contains(IDENTITY_FILE));
    }
}
