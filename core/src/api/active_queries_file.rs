//! `queries.active` in the data directory, as Prometheus keeps it: every running query is
//! written into a slot of a memory-mapped file when it starts and wiped when it ends, so
//! the queries a crash (an out-of-memory kill, say) interrupted are still there at the next
//! start, which logs them. The format is Prometheus': `[`, then fixed slots of
//! `SLOT_BYTES`, each empty (zeros) or `{"query":…,"timestamp_sec":…}` padded with zeros and
//! ending in `,`; so the file without its zeros and its last comma turned into `]` is a JSON
//! list. Writing is a copy into memory (no system call); the kernel writes the pages back.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Mutex;

/// The file's name in the data directory (Prometheus').
pub const FILE_NAME: &str = "queries.active";
/// Bytes of one slot (Prometheus' `entrySize`); a longer query is cut to fit.
pub const SLOT_BYTES: usize = 1000;

/// The mapped file and which slots are free.
pub struct ActiveQueriesFile {
    map: Mutex<Mapping>,
}

struct Mapping {
    base: *mut u8,
    len: usize,
    /// Offsets of free slots.
    free: Vec<usize>,
}

// SAFETY: the mapping is only touched through the mutex, and it lives until `Drop`.
unsafe impl Send for Mapping {}

impl Mapping {
    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `base` maps `len` writable bytes for the mapping's whole life, and `&mut self`
        // (under the mutex) makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `base` and `len` are what `mmap` returned; nothing uses them after this.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// Which slot a running query holds (none when every slot was taken).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot(usize);

impl ActiveQueriesFile {
    /// Reads what the last run left in `data_dir`'s file (the queries it did not finish),
    /// then makes the file anew with `slots` empty slots and maps it.
    pub fn open(data_dir: &Path, slots: usize) -> std::io::Result<(ActiveQueriesFile, Option<String>)> {
        let path = data_dir.join(FILE_NAME);
        let unfinished = std::fs::read(&path).ok().and_then(|bytes| unfinished_queries(&bytes));
        let len = 1 + slots.max(1) * SLOT_BYTES;
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        file.set_len(len as u64)?;
        // SAFETY: a fresh shared mapping of the file's `len` bytes (just set), checked below.
        let base = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, file.as_raw_fd(), 0) };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let mut mapping = Mapping { base: base.cast(), len, free: (0..slots.max(1)).rev().map(|i| 1 + i * SLOT_BYTES).collect() };
        mapping.bytes()[0] = b'[';
        Ok((ActiveQueriesFile { map: Mutex::new(mapping) }, unfinished))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mapping> {
        // A poisoned lock still holds a consistent mapping: each section is one copy.
        self.map.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Writes `query`, started at `unix_seconds`, into a free slot; `None` when none is free.
    pub fn insert(&self, query: &str, unix_seconds: i64) -> Option<Slot> {
        let entry = slot_entry(query, unix_seconds);
        let mut mapping = self.lock();
        let at = mapping.free.pop()?;
        let slot = &mut mapping.bytes()[at..at + SLOT_BYTES];
        slot.fill(0);
        slot[..entry.len()].copy_from_slice(entry.as_bytes());
        slot[SLOT_BYTES - 1] = b',';
        Some(Slot(at))
    }

    /// Wipes a finished query's slot and frees it.
    pub fn remove(&self, slot: Slot) {
        let mut mapping = self.lock();
        mapping.bytes()[slot.0..slot.0 + SLOT_BYTES].fill(0);
        mapping.free.push(slot.0);
    }
}

/// `{"query":…,"timestamp_sec":…}` with the query cut (on a character boundary) so that the
/// entry and the slot's closing comma fit in `SLOT_BYTES`.
fn slot_entry(query: &str, unix_seconds: i64) -> String {
    let entry = |query: &str| entry_text(query, unix_seconds);
    let whole = entry(query);
    if whole.len() < SLOT_BYTES {
        return whole;
    }
    // The longest prefix (cut on a character boundary) whose entry fits: the entry grows with
    // the prefix, so a binary search over the boundaries finds it.
    let boundaries: Vec<usize> = query.char_indices().map(|(at, _)| at).collect();
    let (mut fits, mut too_long) = (0, boundaries.len());
    while too_long - fits > 1 {
        let middle = (fits + too_long) / 2;
        if entry(&query[..boundaries[middle]]).len() < SLOT_BYTES {
            fits = middle;
        } else {
            too_long = middle;
        }
    }
    entry(&query[..boundaries[fits]])
}

/// `{"query":…,"timestamp_sec":…}`, whatever its length.
fn entry_text(query: &str, unix_seconds: i64) -> String {
    let mut out = String::from("{\"query\":");
    super::json::push_json_string(&mut out, query);
    out.push_str(&format!(",\"timestamp_sec\":{unix_seconds}}}"));
    out
}

/// The JSON list of the queries a file's slots hold, `None` when they hold none (or the
/// bytes are not such a file).
fn unfinished_queries(bytes: &[u8]) -> Option<String> {
    let kept: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
    let text = String::from_utf8(kept).ok()?;
    let entries = text.strip_prefix('[')?.strip_suffix(',')?;
    Some(format!("[{entries}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_queries_stay_in_the_file_and_are_read_at_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, left) = ActiveQueriesFile::open(dir.path(), 3).expect("open");
        assert_eq!(left, None, "no file before");
        let a = file.insert("sum(rate(x[5m]))", 1_700_000_000).expect("a slot");
        let b = file.insert("up == \"0\"", 1_700_000_001).expect("a slot");
        let c = file.insert("c", 1_700_000_002).expect("a slot");
        assert_eq!(file.insert("d", 0), None, "three slots");
        file.remove(c);
        assert!(file.insert("e", 1_700_000_003).is_some(), "a freed slot is used again");
        file.remove(a);
        let on_disk = std::fs::read(dir.path().join(FILE_NAME)).expect("read");
        assert_eq!(on_disk.len(), 1 + 3 * SLOT_BYTES);
        // As if the process died now: the next open finds b and e.
        drop(file);
        let (_reopened, left) = ActiveQueriesFile::open(dir.path(), 3).expect("open");
        let left = left.expect("unfinished queries");
        let parsed: serde_json::Value = serde_json::from_str(&left).expect("a JSON list");
        assert_eq!(parsed, serde_json::json!([{"query": "up == \"0\"", "timestamp_sec": 1_700_000_001}, {"query": "e", "timestamp_sec": 1_700_000_003}]));
        let _ = b;
    }

    #[test]
    fn a_file_whose_queries_all_finished_leaves_nothing_to_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (file, _) = ActiveQueriesFile::open(dir.path(), 2).expect("open");
        let slot = file.insert("x", 1).expect("a slot");
        file.remove(slot);
        drop(file);
        assert_eq!(ActiveQueriesFile::open(dir.path(), 2).expect("open").1, None);
        std::fs::write(dir.path().join(FILE_NAME), b"not ours").expect("write");
        assert_eq!(ActiveQueriesFile::open(dir.path(), 2).expect("open").1, None, "a foreign file is not reported");
    }

    #[test]
    fn long_queries_are_cut_to_their_slot_on_a_character_boundary() {
        for query in ["x".repeat(5000), "é".repeat(2000), "\"".repeat(2000), "\u{1}".repeat(900)] {
            let entry = slot_entry(&query, 1_700_000_000);
            assert!(entry.len() < SLOT_BYTES, "{} bytes", entry.len());
            let parsed: serde_json::Value = serde_json::from_str(&entry).expect("valid JSON");
            let kept = parsed["query"].as_str().expect("a string");
            assert!(query.starts_with(kept), "a prefix");
            // The longest that fits: one more character would not.
            let next = query[kept.len()..].chars().next().map_or(0, char::len_utf8);
            assert!(entry_text(&query[..kept.len() + next], 1_700_000_000).len() >= SLOT_BYTES, "{} bytes kept", kept.len());
        }
    }
}
