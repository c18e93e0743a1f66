//! A shard's metric metadata, in memory only (scrapes and remote_write senders give it again
//! periodically): for each family the distinct entries (type, help, unit) its senders give,
//! as Prometheus' `/api/v1/metadata` lists one per distinct entry across its targets. An
//! entry that is not its family's newest goes once nobody has given it for
//! `ENTRY_UNSEEN_EXPIRY` (a target that changed its help, or went), a family keeps at most
//! `ENTRIES_PER_FAMILY_MAX`, and a whole family goes once nobody has given it for
//! `FAMILY_UNSEEN_EXPIRY`. A shard holds at most `FAMILIES_MAX` families (a sender inventing
//! names cannot exhaust memory): past it, a new family is refused until expired ones make
//! room.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::ingest::MetricMetadata;

/// How long an entry other than its family's newest is kept without being given again:
/// three times the interval at which a scrape gives unchanged metadata again
/// (`scrape_loop`'s `METADATA_RESEND_MS`, 10 minutes; Prometheus' remote_write sends it every
/// minute).
pub const ENTRY_UNSEEN_EXPIRY: Duration = Duration::from_secs(30 * 60);
/// Distinct entries one family keeps; past it the one given longest ago goes.
pub const ENTRIES_PER_FAMILY_MAX: usize = 16;
/// How long a family is kept without anybody giving its metadata (scrapes give it every
/// 10 minutes, Prometheus' remote_write every minute, OTLP with every request).
pub const FAMILY_UNSEEN_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// Families one shard keeps.
pub const FAMILIES_MAX: usize = 250_000;

/// One distinct entry and when it was last given.
#[derive(Debug)]
struct Seen {
    metadata: MetricMetadata,
    at: Instant,
}

/// New families refused by every shard's store, for `/metrics`.
static REFUSED_TOTAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// New families the stores of every shard have refused because they were full.
pub fn refused_total() -> u64 {
    REFUSED_TOTAL.load(std::sync::atomic::Ordering::Relaxed)
}

/// The shard's families' metadata (see the module docs).
#[derive(Debug)]
pub struct MetadataStore {
    /// Each family's entries, the most recently given first (never empty).
    families: HashMap<String, Vec<Seen>>,
    families_max: usize,
    /// New families refused because the store was full.
    refused: u64,
}

impl Default for MetadataStore {
    fn default() -> Self {
        MetadataStore::with_families_max(FAMILIES_MAX)
    }
}

impl MetadataStore {
    /// A store of at most `families_max` families.
    pub fn with_families_max(families_max: usize) -> MetadataStore {
        MetadataStore { families: HashMap::new(), families_max, refused: 0 }
    }

    /// New families refused so far because the store was full.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Takes `metadata` as given at `now`; a new family is refused (and counted) while the
    /// store holds `families_max` families that are not expired.
    pub fn put(&mut self, metadata: MetricMetadata, now: Instant) {
        if !self.families.contains_key(&metadata.family) && self.families.len() >= self.families_max {
            self.families.retain(|_, entries| now.saturating_duration_since(entries[0].at) < FAMILY_UNSEEN_EXPIRY);
            if self.families.len() >= self.families_max {
                self.refused += 1;
                REFUSED_TOTAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if self.refused.is_power_of_two() {
                    tracing::warn!(families = self.families.len(), refused = self.refused, "metric metadata of new families refused: this shard holds as many families as it keeps");
                }
                return;
            }
        }
        let entries = self.families.entry(metadata.family.clone()).or_default();
        if let Some(at) = entries.iter().position(|e| e.metadata == metadata) {
            entries.remove(at);
        }
        entries.retain(|e| now.saturating_duration_since(e.at) < ENTRY_UNSEEN_EXPIRY);
        entries.insert(0, Seen { metadata, at: now });
        entries.truncate(ENTRIES_PER_FAMILY_MAX);
    }

    /// The entries of `family`, or of every family (families in no particular order), each
    /// family's most recently given first; entries past `ENTRY_UNSEEN_EXPIRY` at `now` are
    /// left out unless one is the newest of its family, families past `FAMILY_UNSEEN_EXPIRY`
    /// altogether.
    pub fn get(&self, family: Option<&str>, now: Instant) -> Vec<MetricMetadata> {
        let of_family = |entries: &Vec<Seen>| {
            entries
                .iter()
                .enumerate()
                .filter(|(i, e)| {
                    let unseen = now.saturating_duration_since(e.at);
                    if *i == 0 {
                        unseen < FAMILY_UNSEEN_EXPIRY
                    } else {
                        unseen < ENTRY_UNSEEN_EXPIRY
                    }
                })
                .map(|(_, e)| e.metadata.clone())
                .collect::<Vec<_>>()
        };
        match family {
            Some(name) => self.families.get(name).map(of_family).unwrap_or_default(),
            None => self.families.values().flat_map(of_family).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(family: &str, help: &str) -> MetricMetadata {
        MetricMetadata { family: family.into(), kind: "counter".into(), help: help.into(), unit: String::new() }
    }

    #[test]
    fn distinct_entries_are_kept_newest_first_and_old_ones_expire() {
        let start = Instant::now();
        let mut store = MetadataStore::default();
        store.put(meta("a", "one"), start);
        store.put(meta("a", "two"), start + Duration::from_secs(1));
        store.put(meta("b", "b"), start);
        // Given again: the same entry moves to the front, not twice.
        store.put(meta("a", "one"), start + Duration::from_secs(2));
        let later = start + Duration::from_secs(3);
        assert_eq!(store.get(Some("a"), later), vec![meta("a", "one"), meta("a", "two")]);
        assert_eq!(store.get(Some("c"), later), vec![]);
        let mut all = store.get(None, later);
        all.sort_by(|x, y| (&x.family, &x.help).cmp(&(&y.family, &y.help)));
        assert_eq!(all, vec![meta("a", "one"), meta("a", "two"), meta("b", "b")]);
        // "two" unseen for the expiry: gone; the newest of each family stays however old.
        let expired = start + Duration::from_secs(1) + ENTRY_UNSEEN_EXPIRY;
        assert_eq!(store.get(Some("a"), expired), vec![meta("a", "one")]);
        assert_eq!(store.get(Some("b"), expired + ENTRY_UNSEEN_EXPIRY), vec![meta("b", "b")]);
        assert_eq!(store.get(Some("b"), start + FAMILY_UNSEEN_EXPIRY), vec![], "a family nobody gave for a day is gone");
        // A put drops the expired ones for good.
        store.put(meta("a", "three"), expired);
        assert_eq!(store.get(Some("a"), expired), vec![meta("a", "three"), meta("a", "one")]);
    }

    #[test]
    fn a_family_keeps_at_most_its_limit_of_entries() {
        let now = Instant::now();
        let mut store = MetadataStore::default();
        for i in 0..ENTRIES_PER_FAMILY_MAX + 5 {
            store.put(meta("a", &i.to_string()), now);
        }
        let kept = store.get(Some("a"), now);
        assert_eq!(kept.len(), ENTRIES_PER_FAMILY_MAX);
        assert_eq!(kept[0], meta("a", &(ENTRIES_PER_FAMILY_MAX + 4).to_string()), "the newest first");
    }

    #[test]
    fn a_full_store_refuses_new_families_until_expired_ones_make_room() {
        let start = Instant::now();
        let mut store = MetadataStore::with_families_max(2);
        store.put(meta("a", "a"), start);
        store.put(meta("b", "b"), start + Duration::from_secs(10));
        let refused_before = refused_total();
        store.put(meta("c", "c"), start + Duration::from_secs(20));
        assert_eq!((store.get(Some("c"), start), store.refused()), (vec![], 1), "full");
        assert!(refused_total() > refused_before, "counted for /metrics too");
        // A family it holds still takes new entries.
        store.put(meta("a", "a2"), start + Duration::from_secs(30));
        assert_eq!(store.get(Some("a"), start + Duration::from_secs(30)).len(), 2);
        // b unseen for a day: its room goes to c.
        let later = start + Duration::from_secs(10) + FAMILY_UNSEEN_EXPIRY;
        store.put(meta("c", "c"), later);
        assert_eq!((store.get(Some("c"), later), store.get(Some("b"), later), store.refused()), (vec![meta("c", "c")], vec![], 1));
    }
}
