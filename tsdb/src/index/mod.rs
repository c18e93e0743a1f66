//! The inverted index of one shard: label name → value → sorted series ids, and matcher
//! evaluation with Prometheus semantics (a matcher that accepts "" also selects series
//! without the label; literal `=` and `a|b|c` alternations are direct lookups).

pub mod postings;

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::model::{MatchOp, Matcher};
pub use postings::{any_live, difference, intersect, union_all};

/// Series ids are dense `u32`s assigned in creation order, so appending keeps lists sorted.
pub type SeriesId = u32;

#[derive(Default, Debug)]
pub struct Index {
    by_label: BTreeMap<Rc<str>, BTreeMap<Rc<str>, Vec<SeriesId>>>,
    all: Vec<SeriesId>,
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
            let values = match self.by_label.get_mut(name) {
                Some(values) => values,
                None => self.by_label.entry(Rc::from(name)).or_default(),
            };
            match values.get_mut(value) {
                Some(ids) => ids.push(id),
                None => {
                    values.insert(Rc::from(value), vec![id]);
                }
            }
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
                            .filter_map(|l| values.get(*l))
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
    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.by_label.keys().map(|k| k.as_ref())
    }

    /// Every label name with its values and their postings, sorted by name then value.
    pub fn postings_by_name(&self) -> impl Iterator<Item = (&str, &BTreeMap<Rc<str>, Vec<SeriesId>>)> {
        self.by_label.iter().map(|(name, values)| (name.as_ref(), values))
    }

    /// The values of `name` with their postings, sorted by value.
    pub fn postings_of(&self, name: &str) -> impl Iterator<Item = (&str, &[SeriesId])> {
        self.by_label
            .get(name)
            .into_iter()
            .flat_map(|values| values.iter().map(|(v, ids)| (v.as_ref(), ids.as_slice())))
    }

    /// All values of `name`, sorted.
    pub fn label_values(&self, name: &str) -> Vec<&str> {
        self.by_label
            .get(name)
            .map(|vs| vs.keys().map(|k| k.as_ref()).collect())
            .unwrap_or_default()
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
            idx.label_names().collect::<Vec<_>>(),
            vec!["__name__", "env", "job"]
        );
        assert_eq!(idx.label_values("job"), vec!["a", "b"]);
        assert!(idx.label_values("nope").is_empty());
    }
}
