//! Hard-linking a block into another directory (snapshots): blocks are immutable and every
//! later change (tombstones, compaction, retention) writes new files and renames them into
//! place or deletes the directory, so a linked copy keeps the block as it was, at no cost in
//! space. Where the file system cannot link (another device), files are copied.

use std::path::Path;

use crate::error::Error;

use super::{sync_dir, TMP_SUFFIX};

/// Makes `dest_parent/<ulid>/` hold the files of block directory `src` (linked, or copied
/// where linking fails), built under a temporary name and renamed into place.
pub fn link_block(src: &Path, dest_parent: &Path, ulid: &str) -> Result<(), Error> {
    let tmp = dest_parent.join(format!("{ulid}{TMP_SUFFIX}"));
    let _ = std::fs::remove_dir_all(&tmp);
    link_tree(src, &tmp)?;
    let dest = dest_parent.join(ulid);
    std::fs::rename(&tmp, &dest).map_err(|e| Error::io("rename", &tmp, e))?;
    sync_dir(dest_parent)
}

fn link_tree(src: &Path, dest: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io("create", dest, e))?;
    let entries = std::fs::read_dir(src).map_err(|e| Error::io("read dir", src, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("read dir", src, e))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| Error::io("stat", &from, e))?;
        if kind.is_dir() {
            link_tree(&from, &to)?;
        } else if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| Error::io("copy", &from, e))?;
        }
    }
    sync_dir(dest)
}
