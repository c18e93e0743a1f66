//! The inverted index of one shard: label name → value → sorted series ids, and matcher
//! evaluation with Prometheus semantics (a matcher that accepts "" also selects series
//! without the label; literal `=` and `a|b|c` alternations are direct lookups). Names and
//! values are hashed, not ordered; the listings sort what they return.

pub mod children;
pub mod postings;
pub mod sorted_values;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use hashbrown::HashTable;

use crate::model::{MatchOp, Matcher};
pub use postings::{any_live, difference, intersect, union_all};
pub use sorted_values::SortedValues;

/// Series ids are dense `u32`s assigned in creation order, so appending keeps lists sorted.
pub type SeriesId = u32;

/// Hash of a label name or value for the index's tables (xxh3: one pass over short text).
fn text_hash(text: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// A hash table keyed by text, each key owned once. Unordered: listings sort what they
/// return. A hash lookup touches one or two cache lines where a B-tree compared the text
/// with a dozen keys on the way down, which made new series cost more as values grew.
#[derive(Debug)]
pub struct TextMap<T> {
    table: HashTable<(Box<str>, T)>,
}

impl<T> Default for TextMap<T> {
    fn default() -> Self {
        Self { table: HashTable::new() }
    }
}

impl<T: Default> TextMap<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.table.find(text_hash(key), |(k, _)| **k == *key).map(|(_, v)| v)
    }

    /// The entry for `key`, created empty (and the key copied) only when absent.
    fn get_or_default(&mut self, key: &str) -> &mut T {
        let hash = text_hash(key);
        let entry = self
            .table
            .entry(hash, |(k, _)| **k == *key, |(k, _)| text_hash(k))
            .or_insert_with(|| (Box::from(key), T::default()));
        &mut entry.into_mut().1
    }

    /// Every key with its entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.table.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The keys, sorted.
    fn sorted_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = self.table.iter().map(|(k, _)| k.as_ref()).collect();
        keys.sort_unstable();
        keys
    }
}

/// One label name's values, each with the sorted ids of the series that have it.
pub type ValuePostings = TextMap<Vec<SeriesId>>;

/// A name's sorted values with the count of values they were built from.
type SortedCopy = (usize, Rc<SortedValues>);

#[derive(Default, Debug)]
pub struct Index {
    by_label: TextMap<ValuePostings>,
    all: Vec<SeriesId>,
    /// Sorted copies of the values of the names a listing walked in order, with how many
    /// values the name had when each was built (values are only ever added, so a different
    /// count means new ones).
    sorted_values: RefCell<HashMap<Box<str>, SortedCopy>>,
}

/// Whether a label listing restricted by matchers reads the matched series' labels (few
/// series) rather than walking the postings of every candidate name or value and keeping
/// those with a matched series in range (many series: most values are kept at their first
/// series).
pub fn listing_by_series(matched_series: usize) -> bool {
    const LISTING_BY_SERIES_MAX: usize = 1_000;
    matched_series <= LISTING_BY_SERIES_MAX
}

/// If `pattern` is a plain alternation of literals (`a|b|c`), returns the literals.
fn literal_alternatives(pattern: &str) -> Option<Vec<&str>> {
    const META: &[char] = &[
        '\\', '.', '+', '*', '?', '(', ')', '[', ']', '{', '}', '^', '$',
    ];
    if pattern.contains(META) {
        return None;
    }
    Some(pattern.split('|').collect())
}

impl Index {
    /// Adds a new series (ids must arrive in increasing order).
    /// Looked up by the borrowed text: a name or value is copied only the first time it
    /// appears (once per shard and name), not once per series.
    pub fn add<'a>(&mut self, id: SeriesId, labels: impl Iterator<Item = (&'a str, &'a str)>) {
        debug_assert!(
            self.all.last().is_none_or(|last| *last < id),
            "series ids increase"
        );
        self.all.push(id);
        for (name, value) in labels {
            self.by_label.get_or_default(name).get_or_default(value).push(id);
        }
    }

    pub fn all(&self) -> &[SeriesId] {
        &self.all
    }

    /// Series that have label `name` with a value accepted by `accept`.
    fn with_values(&self, name: &str, accept: impl Fn(&str) -> bool) -> Vec<SeriesId> {
        match self.by_label.get(name) {
            None => Vec::new(),
            Some(values) => union_all(
                values
                    .iter()
                    .filter(|(v, _)| accept(v))
                    .map(|(_, ids)| ids.as_slice()),
            ),
        }
    }

    /// Series selected by one matcher.
    fn select_one(&self, m: &Matcher) -> Vec<SeriesId> {
        if m.matches_empty() {
            // Everything except series whose value for the label is present and rejected.
            let rejected = self.with_values(&m.name, |v| !m.matches(v));
            return difference(&self.all, &rejected);
        }
        match m.op {
            MatchOp::Equal => self
                .by_label
                .get(m.name.as_str())
                .and_then(|vs| vs.get(m.value.as_str()))
                .cloned()
                .unwrap_or_default(),
            MatchOp::RegexMatch => match literal_alternatives(&m.value) {
                Some(literals) => {
                    let Some(values) = self.by_label.get(m.name.as_str()) else {
                        return Vec::new();
                    };
                    union_all(
                        literals
                            .iter()
                            .filter_map(|l| values.get(l))
                            .map(|ids| ids.as_slice()),
                    )
                }
                None => self.with_values(&m.name, |v| m.matches(v)),
            },
            MatchOp::NotEqual | MatchOp::RegexNoMatch => {
                self.with_values(&m.name, |v| m.matches(v))
            }
        }
    }

    /// Series satisfying every matcher; all series when there are none.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesId> {
        // Evaluate the narrowest-looking matchers first: equality before the rest.
        let mut ordered: Vec<&Matcher> = matchers.iter().collect();
        ordered.sort_by_key(|m| (m.matches_empty(), m.op != MatchOp::Equal));
        let mut result: Option<Vec<SeriesId>> = None;
        for m in ordered {
            let ids = self.select_one(m);
            result = Some(match result {
                None => ids,
                Some(acc) => intersect(&acc, &ids),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        result.unwrap_or_else(|| self.all.clone())
    }

        /// All label names, sorted.
    pub fn label_names(&self) -> Vec<&str> {
        self.by_label.sorted_keys()
    }

    /// Every label name with its values and their postings, in no particular order.
    pub fn postings_by_name(&self) -> impl Iterator<Item = (&str, &ValuePostings)> {
        self.by_label.iter()
    }

    /// The values of `name` with their postings, in no particular order.
    pub fn postings_of(&self, name: &str) -> impl Iterator<Item = (&str, &[SeriesId])> {
        self.by_label
            .get(name)
            .into_iter()
            .flat_map(|values| values.iter().map(|(v, ids)| (v, ids.as_slice())))
    }

    /// All values of `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.by_label.get(name).map(TextMap::sorted_keys).unwrap_or_default()
    }

    /// All values of `name`, sorted, for walks that seek: a copy kept from the last call
    /// until the name gains values, so it costs memory only for names walked this way
    /// (Graphite's tree of names).
    pub fn sorted_values(&self, name: &str) -> Rc<SortedValues> {
        let Some(values) = self.by_label.get(name) else { return Rc::default() };
        let mut cache = self.sorted_values.borrow_mut();
        if let Some((count, sorted)) = cache.get(name) {
            if *count == values.len() {
                return Rc::clone(sorted);
            }
        }
        let sorted = Rc::new(SortedValues::from_unsorted(values.iter().map(|(v, _)| v)));
        cache.insert(Box::from(name), (values.len(), Rc::clone(&sorted)));
        sorted
    }

    /// The series with label `name` set to `value`.
    pub fn postings(&self, name: &str, value: &str) -> &[SeriesId] {
        self.by_label.get(name).and_then(|values| values.get(value)).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        let mut idx = Index::default();
        let series: [&[(&str, &str)]; 4] = [
            &[("__name__", "up"), ("job", "a")],
            &[("__name__", "up"), ("job", "b"), ("env", "prod")],
            &[("__name__", "down"), ("job", "a")],
            &[("__name__", "up")],
        ];
        for (id, labels) in series.iter().enumerate() {
            idx.add(id as u32, labels.iter().copied());
        }
        idx
    }

    fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
        Matcher::new(op, name, value).unwrap()
    }

    #[test]
    fn matcher_table() {
        use MatchOp::*;
        let idx = index();
        let table: Vec<(Vec<Matcher>, Vec<u32>)> = vec![
            (vec![m(Equal, "__name__", "up")], vec![0, 1, 3]),
            (
                vec![m(Equal, "__name__", "up"), m(Equal, "job", "a")],
                vec![0],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(NotEqual, "job", "a")],
                vec![1, 3],
            ),
            (vec![m(RegexMatch, "job", "a|b")], vec![0, 1, 2]),
            (vec![m(RegexMatch, "job", "b.*")], vec![1]),
            (
                vec![m(Equal, "__name__", "up"), m(RegexNoMatch, "job", "a|b")],
                vec![3],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(RegexMatch, "env", "")],
                vec![0, 3],
            ),
            (
                vec![m(Equal, "__name__", "up"), m(Equal, "env", "")],
                vec![0, 3],
            ),
            (vec![m(RegexMatch, "job", ".*")], vec![0, 1, 2, 3]),
            (vec![m(RegexMatch, "job", ".+")], vec![0, 1, 2]),
            (vec![m(Equal, "job", "zzz")], vec![]),
            (vec![], vec![0, 1, 2, 3]),
        ];
        for (matchers, expected) in table {
            assert_eq!(idx.select(&matchers), expected, "{matchers:?}");
        }
    }

    #[test]
    fn listing() {
        let idx = index();
        assert_eq!(
            idx.label_names(),
            vec!["__name__", "env", "job"]
        );
        assert_eq!(idx.label_values("job"), vec!["a", "b"]);
        assert!(idx.label_values("nope").is_empty());
    }

    #[test]
    fn listings_are_sorted_whatever_the_insertion_order() {
        let mut idx = Index::default();
        let values: Vec<String> = (0..500).map(|i| format!("v{}", (i * 7919) % 500)).collect();
        for (id, value) in values.iter().enumerate() {
            let name = format!("n{}", (id * 31) % 17);
            idx.add(id as u32, [(name.as_str(), value.as_str()), ("z", value.as_str())].into_iter());
        }
        let mut expected: Vec<&str> = values.iter().map(String::as_str).collect();
        expected.sort();
        expected.dedup();
        assert_eq!(idx.label_values("z"), expected);
        let names = idx.label_names();
        assert_eq!(names.len(), 18);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");
        // Each value's postings stay in id order.
        let v3: Vec<u32> = idx.postings_of("z").find(|(v, _)| *v == "v3").map(|(_, ids)| ids.to_vec()).unwrap_or_default();
        assert!(!v3.is_empty() && v3.windows(2).all(|w| w[0] < w[1]));
    }
}
