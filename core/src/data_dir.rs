//! The data directory's identity file `metricstor.json`: the shard count is fixed when the
//! directory is created, because series placement (hash mod shards) depends on it.

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
    fn corrupt_identity_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(IDENTITY_FILE), b"{nope").unwrap();
        assert!(open_or_create(dir.path(), 2).unwrap_err().to_string().contains(IDENTITY_FILE));
    }
}
