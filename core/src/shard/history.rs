//! The history generation: a counter that moves whenever settled stored data changes, so a
//! cached query answer about the settled past is never served after that past changed.

use std::sync::atomic::{AtomicU64, Ordering};

/// Data this far behind the wall clock counts as settled: results for it may be cached.
/// Ordinary scrapes and remote_write arrive well within it.
pub const SETTLED_AFTER_MS: i64 = 5 * 60 * 1000;

/// A counter that moves whenever stored data changes anywhere but at the present edge, i.e.
/// samples written with timestamps older than `SETTLED_AFTER_MS` (backfill, a remote_write
/// backlog, out-of-order data), series deleted, or blocks removed by retention. Query-result
/// caches tag what they store with the generation read before computing it and drop entries
/// whose tag is no longer current.
#[derive(Debug, Default)]
pub struct HistoryGeneration {
    value: AtomicU64,
    /// Write requests answered so far, at any timestamp (see `writes_answered`).
    writes: AtomicU64,
}

impl HistoryGeneration {
    pub fn current(&self) -> u64 {
        self.value.load(Ordering::Acquire)
    }

    /// How many write requests have been answered (counted once their samples are visible,
    /// before the client hears back). Two equal readings mean that no write was acknowledged
    /// in between: an answer computed after the first reading holds every write a client
    /// saw acknowledged before the second.
    pub fn writes_answered(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Counts one answered write request; call after its samples are visible to queries.
    pub fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that settled history changed. Call after the change is visible to queries,
    /// so that a query computed before it carries an older generation.
    pub fn bump(&self) {
        self.value.fetch_add(1, Ordering::AcqRel);
    }
}

/// The wall clock's settled boundary: samples older than this change history.
pub fn settled_before_ms(now_ms: i64) -> i64 {
    now_ms.saturating_sub(SETTLED_AFTER_MS)
}
