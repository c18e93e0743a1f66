//! Exemplars: one shard's bounded, in-memory circular buffer of them, with a per-series
//! chain (oldest to newest) through the buffer so a series' exemplars are found without a
//! scan. Duplicates and out-of-order exemplars are refused as Prometheus refuses them, and
//! the oldest exemplar makes room.

use std::collections::HashMap;

use crate::model::{Labels, Matcher};

/// Prometheus' limit on an exemplar's label set: UTF-8 characters of every name and value.
pub const EXEMPLAR_LABELS_CHARS_MAX: usize = 128;

/// Exemplars a shard keeps unless `ShardOptions::max_exemplars` says otherwise.
pub const EXEMPLARS_PER_SHARD_DEFAULT: u64 = 100_000;

/// One exemplar: its own labels (a trace id, say), a value and a timestamp.
#[derive(Clone, Debug)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub timestamp_ms: i64,
    /// False for one that came without a timestamp (a scraped one, given its sample's): two
    /// such are the same exemplar whatever their times, as Prometheus compares them. Not kept
    /// in the WAL (read back as true).
    pub own_timestamp: bool,
}

impl Exemplar {
    /// An exemplar with a timestamp of its own.
    pub fn new(labels: Labels, value: f64, timestamp_ms: i64) -> Exemplar {
        Exemplar { labels, value, timestamp_ms, own_timestamp: true }
    }

    /// Whether `self` repeats `newest` (Prometheus' `Exemplar.Equals`): the same labels and
    /// value (bit for bit, so a NaN repeats itself), and the same timestamp unless neither
    /// had one of its own.
    fn repeats(&self, newest: &Exemplar) -> bool {
        let times_count = self.own_timestamp || newest.own_timestamp;
        (!times_count || self.timestamp_ms == newest.timestamp_ms) && self.value.to_bits() == newest.value.to_bits() && self.labels == newest.labels
    }

    /// Characters of its label names and values together (what the limit counts).
    pub fn label_chars(&self) -> usize {
        self.labels.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum()
    }
}

impl PartialEq for Exemplar {
    /// Every field equal, the value bit for bit (so a NaN equals itself).
    fn eq(&self, other: &Exemplar) -> bool {
        self.timestamp_ms == other.timestamp_ms && self.own_timestamp == other.own_timestamp && self.value.to_bits() == other.value.to_bits() && self.labels == other.labels
    }
}

/// One series' exemplars in a query's range, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesExemplars {
    pub series: Labels,
    pub exemplars: Vec<Exemplar>,
}

/// What `ExemplarBuffer::add` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExemplarAdd {
    Added,
    /// Equal to the series' newest exemplar: already stored.
    Duplicate,
    /// Older than the series' newest exemplar, or at its timestamp and ordered before it.
    OutOfOrder,
    /// The buffer has no room at all (capacity 0).
    Disabled,
}

struct Slot {
    series: Labels,
    exemplar: Exemplar,
    /// The slot of the series' next newer exemplar.
    newer: Option<u32>,
}

#[derive(Clone, Copy)]
struct SeriesEnds {
    oldest: u32,
    newest: u32,
}

/// At most `capacity` exemplars; a full buffer overwrites its oldest slot, which is always
/// the oldest exemplar of its series (slots are filled in insertion order).
pub struct ExemplarBuffer {
    capacity: usize,
    slots: Vec<Slot>,
    /// The slot the next exemplar goes to (the oldest one once the buffer is full).
    next_slot: usize,
    by_series: HashMap<Labels, SeriesEnds>,
}

impl ExemplarBuffer {
    pub fn new(capacity: usize) -> Self {
        assert!(u32::try_from(capacity).is_ok(), "exemplar capacity fits slot numbers (u32)");
        ExemplarBuffer { capacity, slots: Vec::new(), next_slot: 0, by_series: HashMap::new() }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Exemplars held.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds `exemplar` to `series` unless it is a duplicate or out of order, as Prometheus
    /// does: one equal to the series' newest exemplar is a duplicate (two that came without
    /// timestamps of their own are equal whatever times they were given), one older than it is
    /// out of order (at the same timestamp, one ordered before it by value, then by label
    /// hash: a native histogram's several exemplars share a timestamp).
    pub fn add(&mut self, series: &Labels, exemplar: Exemplar) -> ExemplarAdd {
        if self.capacity == 0 {
            return ExemplarAdd::Disabled;
        }
        if let Some(ends) = self.by_series.get(series) {
            let newest = &self.slots[ends.newest as usize].exemplar;
            if exemplar.repeats(newest) {
                return ExemplarAdd::Duplicate;
            }
            let out_of_order = exemplar.timestamp_ms < newest.timestamp_ms
                || (exemplar.timestamp_ms == newest.timestamp_ms
                    && (exemplar.value < newest.value
                        || (exemplar.value == newest.value && exemplar.labels.stable_hash() < newest.labels.stable_hash())));
            if out_of_order {
                return ExemplarAdd::OutOfOrder;
            }
        }
        let at = self.next_slot;
        let slot = Slot { series: series.clone(), exemplar, newer: None };
        if self.slots.len() < self.capacity {
            self.slots.push(slot);
        } else {
            let evicted = std::mem::replace(&mut self.slots[at], slot);
            match evicted.newer {
                Some(newer) => self.by_series.get_mut(&evicted.series).expect("an evicted exemplar's series is indexed").oldest = newer,
                None => _ = self.by_series.remove(&evicted.series),
            }
        }
        let at = at as u32;
        match self.by_series.get_mut(series) {
            Some(ends) => {
                self.slots[ends.newest as usize].newer = Some(at);
                ends.newest = at;
            }
            None => _ = self.by_series.insert(series.clone(), SeriesEnds { oldest: at, newest: at }),
        }
        self.next_slot = (self.next_slot + 1) % self.capacity;
        debug_assert!(self.slots.len() <= self.capacity, "the exemplar buffer stays within its capacity");
        ExemplarAdd::Added
    }

    /// Exemplars in `[mint_ms, maxt_ms]` of the series matching every matcher of any set
    /// (series in no particular order, each one's exemplars oldest first).
    pub fn select(&self, matcher_sets: &[Vec<Matcher>], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesExemplars> {
        let mut out = Vec::new();
        for (series, ends) in &self.by_series {
            let matches = |set: &Vec<Matcher>| set.iter().all(|m| m.matches(series.get(&m.name).unwrap_or("")));
            if !matcher_sets.iter().any(matches) {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut at = Some(ends.oldest);
            while let Some(slot) = at.map(|i| &self.slots[i as usize]) {
                let t = slot.exemplar.timestamp_ms;
                if t > maxt_ms {
                    break;
                }
                if t >= mint_ms {
                    exemplars.push(slot.exemplar.clone());
                }
                at = slot.newer;
            }
            if !exemplars.is_empty() {
                out.push(SeriesExemplars { series: series.clone(), exemplars });
            }
        }
        out
    }

    /// Every exemplar with its series, oldest first (adding them in this order to an empty
    /// buffer of the same capacity rebuilds this one).
    pub fn iter_oldest_first(&self) -> impl Iterator<Item = (&Labels, &Exemplar)> + '_ {
        let (newer, older) = self.slots.split_at(self.next_slot.min(self.slots.len()));
        older.iter().chain(newer).map(|s| (&s.series, &s.exemplar))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MatchOp;

    fn series(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name)])
    }

    fn ex(t: i64, trace: &str) -> Exemplar {
        Exemplar::new(Labels::from_pairs([("trace_id", trace)]), t as f64, t)
    }

    fn all(buffer: &ExemplarBuffer, name: &str) -> Vec<i64> {
        let set = vec![Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher")];
        buffer.select(&[set], i64::MIN, i64::MAX).into_iter().flat_map(|s| s.exemplars).map(|e| e.timestamp_ms).collect()
    }

    #[test]
    fn a_full_buffer_evicts_the_oldest_and_keeps_each_series_chain() {
        let mut b = ExemplarBuffer::new(3);
        let (a, c) = (series("a"), series("c"));
        assert_eq!(b.add(&a, ex(1, "x")), ExemplarAdd::Added);
        assert_eq!(b.add(&c, ex(2, "x")), ExemplarAdd::Added);
        assert_eq!(b.add(&a, ex(3, "x")), ExemplarAdd::Added);
        assert_eq!((b.len(), all(&b, "a"), all(&b, "c")), (3, vec![1, 3], vec![2]));
        // Evicts a@1 (a keeps 3), then c@2 (c is gone from the index), then a@3.
        b.add(&a, ex(4, "x"));
        assert_eq!((all(&b, "a"), all(&b, "c")), (vec![3, 4], vec![2]));
        b.add(&a, ex(5, "x"));
        assert_eq!((all(&b, "a"), all(&b, "c")), (vec![3, 4, 5], vec![]));
        assert!(!b.by_series.contains_key(&c), "a series whose last exemplar went leaves the index");
        b.add(&c, ex(6, "x"));
        assert_eq!((b.len(), all(&b, "a"), all(&b, "c")), (3, vec![4, 5], vec![6]));
        let order: Vec<i64> = b.iter_oldest_first().map(|(_, e)| e.timestamp_ms).collect();
        assert_eq!(order, vec![4, 5, 6]);
    }

    #[test]
    fn duplicates_and_out_of_order_exemplars_are_refused() {
        let mut b = ExemplarBuffer::new(10);
        let a = series("a");
        assert_eq!(b.add(&a, ex(5, "x")), ExemplarAdd::Added);
        assert_eq!(b.add(&a, ex(5, "x")), ExemplarAdd::Duplicate);
        assert_eq!(b.add(&a, ex(4, "x")), ExemplarAdd::OutOfOrder);
        // At the newest timestamp: ordered by value, then by label hash.
        let at_5 = |value: f64, trace: &str| Exemplar { value, ..ex(5, trace) };
        assert_eq!(b.add(&a, at_5(4.0, "x")), ExemplarAdd::OutOfOrder);
        assert_eq!(b.add(&a, at_5(6.0, "x")), ExemplarAdd::Added);
        assert_eq!(b.len(), 2);
        let mut same = [at_5(7.0, "x"), at_5(7.0, "y"), at_5(7.0, "z")];
        same.sort_by_key(|e| e.labels.stable_hash());
        assert_eq!(b.add(&a, same[0].clone()), ExemplarAdd::Added);
        assert_eq!(b.add(&a, same[2].clone()), ExemplarAdd::Added);
        assert_eq!(b.add(&a, same[1].clone()), ExemplarAdd::OutOfOrder);
        b = ExemplarBuffer::new(10);
        b.add(&a, ex(5, "x"));
        // Another series has its own order.
        assert_eq!(b.add(&series("b"), ex(1, "x")), ExemplarAdd::Added);
        assert_eq!(b.add(&a, ex(6, "x")), ExemplarAdd::Added);
        assert_eq!((b.len(), all(&b, "a")), (3, vec![5, 6]));
        assert_eq!(ExemplarBuffer::new(0).add(&a, ex(1, "x")), ExemplarAdd::Disabled);
    }

    #[test]
    fn an_exemplar_without_its_own_time_repeats_whatever_time_it_was_given() {
        let mut b = ExemplarBuffer::new(10);
        let a = series("a");
        let untimed = |t: i64, value: f64| Exemplar { own_timestamp: false, value, ..ex(t, "x") };
        assert_eq!(b.add(&a, untimed(5, 1.0)), ExemplarAdd::Added);
        // Scraped again later, unchanged: the same exemplar, as Prometheus takes it.
        assert_eq!(b.add(&a, untimed(6, 1.0)), ExemplarAdd::Duplicate);
        // A new value, or a timestamp of its own, is another exemplar.
        assert_eq!(b.add(&a, untimed(7, 2.0)), ExemplarAdd::Added);
        assert_eq!(b.add(&a, Exemplar { value: 2.0, ..ex(8, "x") }), ExemplarAdd::Added);
        assert_eq!(b.add(&a, untimed(9, 2.0)), ExemplarAdd::Added, "compared with a timed one, times count");
        assert_eq!(all(&b, "a"), vec![5, 7, 8, 9]);
        // A NaN value repeats itself.
        assert_eq!(b.add(&a, untimed(10, f64::NAN)), ExemplarAdd::Added);
        assert_eq!(b.add(&a, untimed(11, f64::NAN)), ExemplarAdd::Duplicate);
    }

    #[test]
    fn select_takes_the_range_and_any_matcher_set() {
        let mut b = ExemplarBuffer::new(10);
        for t in 1..=5 {
            b.add(&series("a"), ex(t, "x"));
            b.add(&series("b"), ex(t, "x"));
        }
        let set = |name: &str| vec![Matcher::new(MatchOp::Equal, "__name__", name).expect("matcher")];
        let got = b.select(&[set("a")], 2, 4);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].exemplars.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>(), vec![2, 3, 4]);
        assert_eq!(b.select(&[set("a"), set("b")], 0, 10).len(), 2);
        assert!(b.select(&[set("z")], 0, 10).is_empty());
    }

    #[test]
    fn label_characters_count_utf8_characters() {
        let e = Exemplar::new(Labels::from_pairs([("ab", "€€")]), 0.0, 0);
        assert_eq!(e.label_chars(), 4);
    }
}
