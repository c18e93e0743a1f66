//! Merging one series' samples from several sources (head, blocks) into a single
//! time-ordered list with one sample per timestamp; earlier sources win ties. Encoded
//! answers are grouped the same way, their parts kept in source order for decoding.

use std::collections::BTreeMap;

use crate::encoded::EncodedSeries;
use crate::model::{Labels, Sample, SeriesSamples};

/// Merges time-ordered sample lists; on equal timestamps the list earlier in `sources` wins.
pub fn merge_samples(mut sources: Vec<Vec<Sample>>) -> Vec<Sample> {
    sources.retain(|s| !s.is_empty());
    if sources.len() <= 1 {
        return sources.pop().unwrap_or_default();
    }
    let mut all: Vec<(i64, usize, Sample)> = Vec::with_capacity(sources.iter().map(Vec::len).sum());
    for (priority, list) in sources.into_iter().enumerate() {
        all.extend(list.into_iter().map(|s| (s.timestamp_ms, priority, s)));
    }
    all.sort_unstable_by_key(|(t, priority, _)| (*t, *priority));
    all.dedup_by_key(|(t, _, _)| *t);
    all.into_iter().map(|(_, _, s)| s).collect()
}

/// Groups series lists from several sources by label set (in priority order: the first
/// list wins ties) and merges each series; the result is sorted by labels.
pub fn merge_series(sources: Vec<Vec<SeriesSamples>>) -> Vec<SeriesSamples> {
    let mut by_labels: BTreeMap<Labels, Vec<Vec<Sample>>> = BTreeMap::new();
    for list in sources {
        for s in list {
            by_labels.entry(s.labels).or_default().push(s.samples);
        }
    }
    by_labels
        .into_iter()
        .map(|(labels, samples)| SeriesSamples {
            labels,
            samples: merge_samples(samples),
        })
        .filter(|s| !s.samples.is_empty())
        .collect()
}

/// `merge_series` for encoded answers: each series' parts from every source, in source
/// order (the first source wins ties when decoded); sorted by labels.
pub fn merge_encoded_series(sources: Vec<Vec<EncodedSeries>>) -> Vec<EncodedSeries> {
    let mut by_labels: BTreeMap<Labels, EncodedSeries> = BTreeMap::new();
    for list in sources {
        for s in list {
            match by_labels.get_mut(&s.labels) {
                Some(merged) => merged.parts.extend(s.parts),
                None => {
                    by_labels.insert(s.labels.clone(), s);
                }
            }
        }
    }
    by_labels.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The merge equals a model where each timestamp takes its value from the first
        /// source holding it.
        #[test]
        fn merge_matches_first_source_wins_model(sources in proptest::collection::vec(
            proptest::collection::btree_map(0i64..200, 0u8..10, 0..40), 0..5)) {
            let lists: Vec<Vec<Sample>> = sources.iter().map(|m| m.iter().map(|(t, v)| Sample { timestamp_ms: *t, value: f64::from(*v) }).collect()).collect();
            let mut model: BTreeMap<i64, f64> = BTreeMap::new();
            for m in &sources {
                for (t, v) in m {
                    model.entry(*t).or_insert(f64::from(*v));
                }
            }
            let want: Vec<Sample> = model.into_iter().map(|(t, v)| Sample { timestamp_ms: t, value: v }).collect();
            prop_assert_eq!(merge_samples(lists), want);
        }
    }
}
