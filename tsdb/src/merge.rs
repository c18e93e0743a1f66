//! Merging one series' samples from several sources (head, blocks) into a single
//! time-ordered list with one sample per timestamp; earlier sources win ties. Encoded
//! answers are grouped the same way, their parts kept in source order for decoding.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::encoded::EncodedSeries;
use crate::model::{HistogramSample, Labels, Sample, SampleStarts, SeriesSamples};

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

/// One source's floats and histograms of a series.
pub type FloatsAndHistograms = (Vec<Sample>, Vec<HistogramSample>);

/// Merges sources that each hold floats and histograms (time-ordered, no timestamp in both
/// lists of one source): per timestamp the earliest source holding it wins, whichever kind
/// it holds there.
pub fn merge_mixed(mut sources: Vec<FloatsAndHistograms>) -> FloatsAndHistograms {
    sources.retain(|(s, h)| !s.is_empty() || !h.is_empty());
    if sources.len() <= 1 {
        return sources.pop().unwrap_or_default();
    }
    enum Kind {
        Float(Sample),
        Histogram(HistogramSample),
    }
    let mut all: Vec<(i64, usize, Kind)> = Vec::new();
    for (priority, (samples, histograms)) in sources.into_iter().enumerate() {
        all.extend(samples.into_iter().map(|s| (s.timestamp_ms, priority, Kind::Float(s))));
        all.extend(histograms.into_iter().map(|h| (h.timestamp_ms, priority, Kind::Histogram(h))));
    }
    all.sort_by_key(|(t, priority, _)| (*t, *priority));
    all.dedup_by_key(|(t, _, _)| *t);
    let (mut samples, mut histograms) = (Vec::new(), Vec::new());
    for (_, _, kind) in all {
        match kind {
            Kind::Float(s) => samples.push(s),
            Kind::Histogram(h) => histograms.push(h),
        }
    }
    (samples, histograms)
}

/// One source's floats and histograms with their start times (parallel to the two lists;
/// `None`: every start 0).
pub type StartedSource = (Vec<Sample>, Vec<HistogramSample>, Option<Box<SampleStarts>>);

/// `merge_mixed` keeping each kept sample's own start time (the winning source's); the
/// answer's starts are `None` unless one of them is non-zero (`SampleStarts::answer`).
pub fn merge_started(sources: Vec<StartedSource>) -> StartedSource {
    enum Kind {
        Float(Sample, i64),
        Histogram(HistogramSample, i64),
    }
    let mut all: Vec<(i64, usize, Kind)> = Vec::new();
    for (priority, (samples, histograms, starts)) in sources.into_iter().enumerate() {
        let start_of = |list: Option<&Vec<i64>>, i: usize| list.and_then(|l| l.get(i).copied()).unwrap_or(0);
        let (float_starts, histogram_starts) = (starts.as_ref().map(|s| &s.floats), starts.as_ref().map(|s| &s.histograms));
        all.extend(samples.into_iter().enumerate().map(|(i, s)| (s.timestamp_ms, priority, Kind::Float(s, start_of(float_starts, i)))));
        all.extend(histograms.into_iter().enumerate().map(|(i, h)| (h.timestamp_ms, priority, Kind::Histogram(h, start_of(histogram_starts, i)))));
    }
    all.sort_by_key(|(t, priority, _)| (*t, *priority));
    all.dedup_by_key(|(t, _, _)| *t);
    let (mut samples, mut float_starts, mut histograms, mut histogram_starts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (_, _, kind) in all {
        match kind {
            Kind::Float(s, start_ms) => {
                samples.push(s);
                float_starts.push(start_ms);
            }
            Kind::Histogram(h, start_ms) => {
                histograms.push(h);
                histogram_starts.push(start_ms);
            }
        }
    }
    let starts = SampleStarts::answer(Some(float_starts), Some(histogram_starts), samples.len(), histograms.len());
    (samples, histograms, starts)
}

/// Groups series lists from several sources by label set (in priority order: the first
/// list wins ties) and merges each series; the result is sorted by labels.
pub fn merge_series(sources: Vec<Vec<SeriesSamples>>) -> Vec<SeriesSamples> {
    let mut by_labels: BTreeMap<Labels, Vec<StartedSource>> = BTreeMap::new();
    for list in sources {
        for s in list {
            by_labels.entry(s.labels).or_default().push((s.samples, s.histograms, s.starts));
        }
    }
    by_labels
        .into_iter()
        .map(|(labels, lists)| {
            if lists.iter().any(|(_, _, starts)| starts.is_some()) {
                let (samples, histograms, starts) = merge_started(lists);
                return SeriesSamples { labels, samples, histograms, starts };
            }
            let lists: Vec<FloatsAndHistograms> = lists.into_iter().map(|(s, h, _)| (s, h)).collect();
            let (samples, histograms) = if lists.iter().all(|(_, h)| h.is_empty()) {
                (merge_samples(lists.into_iter().map(|(s, _)| s).collect()), Vec::new())
            } else {
                merge_mixed(lists)
            };
            SeriesSamples { labels, samples, histograms, starts: None }
        })
        .filter(|s| !s.samples.is_empty() || !s.histograms.is_empty())
        .collect()
}

/// `merge_series` for encoded answers: each series' parts from every source, in source
/// order (the first source wins ties when decoded); sorted by labels.
///
/// Block answers come sorted by labels and the head's is sorted here, so the sources are
/// merged pairwise in order: about one label comparison per series and round, not the
/// twenty-odd of inserting each into a map (which was a quarter of a cold 6 h panel).
pub fn merge_encoded_series(mut sources: Vec<Vec<EncodedSeries>>) -> Vec<EncodedSeries> {
    sources.retain(|list| !list.is_empty());
    for list in &mut sources {
        sort_joining_repeats(list);
    }
    // Neighbours are merged, so parts stay in source order round after round.
    while sources.len() > 1 {
        let mut merged = Vec::with_capacity(sources.len().div_ceil(2));
        let mut lists = sources.into_iter();
        while let Some(first) = lists.next() {
            merged.push(match lists.next() {
                Some(second) => merge_sorted_pair(first, second),
                None => first,
            });
        }
        sources = merged;
    }
    sources.pop().unwrap_or_default()
}

/// Sorts one source's series by labels (stably) and joins a label set listed twice into
/// its first entry, parts in order.
fn sort_joining_repeats(list: &mut Vec<EncodedSeries>) {
    if list.windows(2).all(|w| w[0].labels < w[1].labels) {
        return;
    }
    list.sort_by(|a, b| a.labels.cmp(&b.labels));
    list.dedup_by(|later, earlier| {
        let repeat = later.labels == earlier.labels;
        if repeat {
            earlier.parts.append(&mut later.parts);
        }
        repeat
    });
}

/// Merges two lists sorted by labels; a series in both gets `first`'s parts, then `second`'s.
fn merge_sorted_pair(first: Vec<EncodedSeries>, second: Vec<EncodedSeries>) -> Vec<EncodedSeries> {
    let mut out = Vec::with_capacity(first.len() + second.len());
    let mut a = first.into_iter().peekable();
    let mut b = second.into_iter().peekable();
    loop {
        let (Some(x), Some(y)) = (a.peek(), b.peek()) else {
            out.extend(a);
            out.extend(b);
            return out;
        };
        match x.labels.cmp(&y.labels) {
            Ordering::Less => out.extend(a.next()),
            Ordering::Greater => out.extend(b.next()),
            Ordering::Equal => {
                if let (Some(mut x), Some(y)) = (a.next(), b.next()) {
                    x.parts.extend(y.parts);
                    out.push(x);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The map-based merge this file used before the ordered one: the model.
    fn merge_encoded_by_map(sources: Vec<Vec<EncodedSeries>>) -> Vec<EncodedSeries> {
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

    /// A part naming its source and position (the one sample's time and value).
    fn tagged_part(source: usize, position: usize) -> crate::encoded::EncodedPart {
        crate::encoded::EncodedPart { samples: vec![Sample { timestamp_ms: source as i64, value: position as f64 }], ..Default::default() }
    }

    proptest! {
        /// The ordered merge equals the map-based one: same series in the same order, each
        /// with its parts in source order. Sources may be sorted (as blocks answer) or not (as
        /// the head does), and may list a set twice.
        #[test]
        fn encoded_merge_matches_the_map_model(sources in proptest::collection::vec(
            (proptest::collection::vec(0u8..12, 0..30), any::<bool>()), 0..7)) {
            let build = || -> Vec<Vec<EncodedSeries>> {
                sources.iter().enumerate().map(|(source, (ids, sorted))| {
                    let mut ids = ids.clone();
                    if *sorted {
                        ids.sort_unstable();
                        ids.dedup();
                    }
                    ids.iter().enumerate().map(|(position, id)| EncodedSeries {
                        labels: Labels::from_pairs([("__name__", "m".to_string()), ("id", format!("{id:02}"))]),
                        parts: vec![tagged_part(source, position)],
                    }).collect()
                }).collect()
            };
            let got = merge_encoded_series(build());
            let want = merge_encoded_by_map(build());
            prop_assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                prop_assert_eq!(&g.labels, &w.labels);
                prop_assert_eq!(&g.parts, &w.parts);
            }
        }

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
