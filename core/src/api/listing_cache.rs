//! Answers of the listing endpoints (`/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/<name>/values`), kept by each executor while computing them again would
//! give the same answer: an answer computed after reading `Epoch` E is served again only to a
//! request with the same parameters that reads the same E, when nothing could have changed
//! in between.

use std::cell::RefCell;
use std::collections::HashMap;

use bytes::Bytes;

use crate::shard::history::HistoryGeneration;

/// The largest answer kept (a label with a value per series can have a multi-megabyte
/// answer, which is cheap next to computing it but would crowd out the small ones).
pub const ANSWER_BYTES_MAX: usize = 1 << 20;
/// The most answer bytes one executor keeps: the cache is emptied when it would pass this.
pub const CACHE_BYTES_MAX: usize = 8 << 20;

/// What stored data can have changed by: write requests answered (counted once their samples
/// are visible, failed ones included) and the history generation (deletes, retention, writes
/// into the settled past). Stored data changes only through these, and a listing depends on
/// the stored data and its parameters only (its window is explicit, or all time; never
/// "now"). Both only grow, so an epoch read later is never smaller in either.
///
/// One gap, for writes nobody was told about: a write whose client went away before the
/// answer is counted then, and its owners may apply it after that; a listing computed in
/// between is kept without it until the next write or delete moves the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch {
    writes: u64,
    history: u64,
}

impl Epoch {
    /// Read before computing an answer: the answer then holds every change this epoch
    /// counts, and any change after it moves the epoch.
    pub fn now(history: &HistoryGeneration) -> Epoch {
        Epoch { writes: history.writes_answered(), history: history.current() }
    }

    /// True when `self` was certainly read no earlier than `other`.
    fn not_before(self, other: Epoch) -> bool {
        self.writes >= other.writes && self.history >= other.history
    }
}

/// A listing request's parameters: the endpoint, the label name (values only), the
/// `match[]` selectors as sent, the window and the limit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListingKey {
    pub endpoint: &'static str,
    pub name: String,
    pub matches: Vec<String>,
    pub mint_ms: i64,
    pub maxt_ms: i64,
    pub limit: usize,
}

#[derive(Default)]
struct Entries {
    epoch: Option<Epoch>,
    answers: HashMap<ListingKey, Bytes>,
    bytes: usize,
}

/// One executor's listing answers of the newest epoch it saw (per executor, so no locking;
/// the other epochs' answers can never be served again). Bounded: answers over
/// `ANSWER_BYTES_MAX` are not kept, and the cache is emptied when it would pass
/// `CACHE_BYTES_MAX`. With data arriving every few seconds, a hit is a request of the same
/// scrape interval (a dashboard opened by several people, its variables refreshed together);
/// with data at rest, every repeat. A hit costs no trip to the shards, which for a small
/// answer is most of its time (one round trip to another core's shard is about 80 µs when
/// that core is idle).
#[derive(Default)]
pub struct ListingCache {
    entries: RefCell<Entries>,
}

impl ListingCache {
    /// The answer kept for `key`, if it was computed in `epoch`.
    pub fn get(&self, key: &ListingKey, epoch: Epoch) -> Option<Bytes> {
        let entries = self.entries.borrow();
        if entries.epoch != Some(epoch) {
            return None;
        }
        entries.answers.get(key).cloned()
    }

    /// Keeps `answer`, computed after reading `epoch`, unless an answer of a later epoch is
    /// already kept (then this one can never be served) or it is too large.
    pub fn put(&self, key: ListingKey, epoch: Epoch, answer: Bytes) {
        if answer.len() > ANSWER_BYTES_MAX {
            return;
        }
        let mut entries = self.entries.borrow_mut();
        match entries.epoch {
            Some(kept) if kept == epoch => {}
            Some(kept) if !epoch.not_before(kept) => return,
            _ => {
                entries.answers.clear();
                entries.bytes = 0;
                entries.epoch = Some(epoch);
            }
        }
        if entries.bytes + answer.len() > CACHE_BYTES_MAX {
            entries.answers.clear();
            entries.bytes = 0;
        }
        entries.bytes += answer.len();
        if let Some(replaced) = entries.answers.insert(key, answer) {
            entries.bytes -= replaced.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ListingKey {
        ListingKey { endpoint: "label_values", name: name.to_string(), matches: vec![], mint_ms: 0, maxt_ms: 10, limit: 0 }
    }

    #[test]
    fn an_answer_is_served_only_in_its_epoch() {
        let history = HistoryGeneration::default();
        let cache = ListingCache::default();
        let first = Epoch::now(&history);
        assert_eq!(cache.get(&key("job"), first), None);
        cache.put(key("job"), first, Bytes::from_static(b"a"));
        assert_eq!(cache.get(&key("job"), first), Some(Bytes::from_static(b"a")));
        assert_eq!(cache.get(&key("pod"), first), None, "other parameters, other answer");
        let mut other_window = key("job");
        other_window.maxt_ms = 11;
        assert_eq!(cache.get(&other_window, first), None);

        history.count_write();
        let after_write = Epoch::now(&history);
        assert_eq!(cache.get(&key("job"), after_write), None, "a write was answered since");
        history.bump();
        let after_delete = Epoch::now(&history);
        assert_eq!(cache.get(&key("job"), after_delete), None, "history changed since");

        // An answer computed before the change arrives late: not kept over the newer one.
        cache.put(key("job"), after_delete, Bytes::from_static(b"b"));
        cache.put(key("job"), first, Bytes::from_static(b"stale"));
        assert_eq!(cache.get(&key("job"), after_delete), Some(Bytes::from_static(b"b")));
        assert_eq!(cache.get(&key("job"), first), None);
    }

    #[test]
    fn memory_stays_bounded() {
        let history = HistoryGeneration::default();
        let cache = ListingCache::default();
        let epoch = Epoch::now(&history);
        cache.put(key("huge"), epoch, Bytes::from(vec![b'x'; ANSWER_BYTES_MAX + 1]));
        assert_eq!(cache.get(&key("huge"), epoch), None, "too large to keep");
        for i in 0..(CACHE_BYTES_MAX / ANSWER_BYTES_MAX) * 3 {
            cache.put(key(&i.to_string()), epoch, Bytes::from(vec![b'x'; ANSWER_BYTES_MAX]));
            assert!(cache.entries.borrow().bytes <= CACHE_BYTES_MAX);
        }
        let last = (CACHE_BYTES_MAX / ANSWER_BYTES_MAX) * 3 - 1;
        assert!(cache.get(&key(&last.to_string()), epoch).is_some(), "the newest answer is kept");
    }
}
