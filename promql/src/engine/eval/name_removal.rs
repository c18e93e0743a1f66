//! `__name__` removal: the metadata labels results lose, label sets stripped of their name
//! once per query (per series of a select, and across steps), and the check that no two
//! elements of a vector end up with the same labels.

use std::collections::HashMap;

use tsdb::Labels;

use super::{Elem, Evaluator};
use super::super::{selector_key, Error};
use crate::ast::VectorSelector;

/// The labels that describe what a value means: arithmetic and most functions remove them.
pub(in crate::engine) const METADATA_LABELS: [&str; 3] = [tsdb::METRIC_NAME_LABEL, tsdb::METRIC_TYPE_LABEL, tsdb::METRIC_UNIT_LABEL];

/// Removes `__name__`, `__type__` and `__unit__` (results no longer are the metric they came from).
pub(in crate::engine) fn drop_name(labels: Labels) -> Labels {
    if !labels.iter().any(|l| METADATA_LABELS.contains(&l.name)) {
        return labels;
    }
    Labels::from_sorted(labels.iter().filter(|l| !METADATA_LABELS.contains(&l.name)))
}

impl Evaluator<'_> {
    /// The label sets of `selected(vs)` without `__name__` (in the same order), and whether
    /// two of them are then equal.
    pub(in crate::engine) fn stripped_series(&self, vs: &VectorSelector) -> std::rc::Rc<StrippedSeries> {
        let key = selector_key(vs);
        if let Some(known) = self.stripped_series.borrow().get(&key) {
            return known.clone();
        }
        let labels: Vec<Labels> = self.selected(vs).iter().map(|s| drop_name(s.labels.clone())).collect();
        let mut seen = std::collections::HashSet::with_capacity(labels.len());
        let collide = !labels.iter().all(|l| seen.insert(l));
        let entry = std::rc::Rc::new(StrippedSeries { labels, collide });
        self.stripped_series.borrow_mut().insert(key, entry.clone());
        entry
    }
}

/// One select's series label sets without `__name__`, in order, and whether two of them
/// became equal that way.
pub(in crate::engine) struct StrippedSeries {
    pub labels: Vec<Labels>,
    pub collide: bool,
}

/// Label sets already stripped of their name in this query, so a series whose name goes at
/// every step costs one lookup per step, not a new label set.
#[derive(Default)]
pub(in crate::engine) struct StrippedNames {
    by_hash: HashMap<u64, Vec<(Labels, Labels)>, foldhash::fast::FixedState>,
    entries: usize,
}

/// Label sets `StrippedNames` remembers; past this, names are stripped without caching.
const STRIPPED_NAMES_MAX: usize = 1 << 20;

impl StrippedNames {
    pub(super) fn without_name(&mut self, labels: &Labels) -> Labels {
        let h = labels.stable_hash();
        if let Some(known) = self.by_hash.get(&h) {
            if let Some((_, stripped)) = known.iter().find(|(l, _)| l.ptr_eq(labels) || l == labels) {
                return stripped.clone();
            }
        }
        let stripped = drop_name(labels.clone());
        if self.entries < STRIPPED_NAMES_MAX {
            self.by_hash.entry(h).or_default().push((labels.clone(), stripped.clone()));
            self.entries += 1;
        }
        stripped
    }
}

/// `check_unique` by the label sets' cached hashes (the per-step check after name removal);
/// equal hashes are confirmed by comparing the labels.
pub(in crate::engine) fn check_unique_hashed(v: Vec<Elem>) -> Result<Vec<Elem>, Error> {
    if v.len() > 1 {
        let mut seen: HashMap<u64, usize, foldhash::fast::FixedState> = HashMap::with_capacity_and_hasher(v.len(), Default::default());
        for (i, e) in v.iter().enumerate() {
            if let Some(&first) = seen.get(&e.labels.stable_hash()) {
                if v[first].labels == e.labels {
                    return Err(Error::Execution(SAME_LABELSET.into()));
                }
                // Two label sets with one hash: settle it the slow way.
                return check_unique(v);
            }
            seen.insert(e.labels.stable_hash(), i);
        }
    }
    Ok(v)
}

/// Prometheus refuses results where two elements ended up with the same labels.
pub(in crate::engine) fn check_unique(v: Vec<Elem>) -> Result<Vec<Elem>, Error> {
    if v.len() > 1 {
        let mut seen = std::collections::HashSet::with_capacity(v.len());
        for e in &v {
            if !seen.insert(&e.labels) {
                return Err(Error::Execution(SAME_LABELSET.into()));
            }
        }
    }
    Ok(v)
}

pub(in crate::engine) const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";
