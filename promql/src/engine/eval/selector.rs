//! What selectors see at a step: per-series cursors over left-open windows `(end - range,
//! end]`, the sample an instant selector sees within the lookback (a staleness marker hides
//! it), a `smoothed` selector's interpolated value, and the histograms within a window.

use std::sync::Arc;

use tsdb::{is_stale_nan, HistogramSample, Labels, Sample};

use super::{holds_stale, Elem, Evaluator};
use super::super::range_functions::smoothed_value;
use super::super::at_ms;
use super::super::native_histogram::Notes;
use crate::ast::VectorSelector;

/// Linear steps tried before falling back to a binary search.
const CURSOR_WALK_MAX: usize = 16;

/// First index in `samples` with a timestamp after `bound` (`partition_point(t <= bound)`),
/// starting from `cursor`.
pub(in crate::engine) fn advance(samples: &[Sample], cursor: &mut usize, bound: i64) -> usize {
    let mut c = (*cursor).min(samples.len());
    if c > 0 && samples[c - 1].timestamp_ms > bound {
        c = samples[..c].partition_point(|p| p.timestamp_ms <= bound);
    } else {
        let mut walked = 0;
        while c < samples.len() && samples[c].timestamp_ms <= bound {
            c += 1;
            walked += 1;
            if walked == CURSOR_WALK_MAX {
                c += samples[c..].partition_point(|p| p.timestamp_ms <= bound);
                break;
            }
        }
    }
    *cursor = c;
    c
}

/// The last of `samples` (those at or before the reference time) if it lies after
/// `window_start` and is not a staleness marker: what an instant selector sees.
pub(in crate::engine) fn last_within(samples: &[Sample], window_start: i64) -> Option<Sample> {
    samples.last().copied().filter(|last| last.timestamp_ms > window_start && !is_stale_nan(last.value))
}

/// `window` without its staleness markers: the window itself when `may_hold_stale` is false
/// or it holds none, else a copy in `scratch`.
pub(in crate::engine) fn without_stale<'a>(window: &'a [Sample], may_hold_stale: bool, scratch: &'a mut Vec<Sample>) -> &'a [Sample] {
    if !may_hold_stale || !holds_stale(window) {
        return window;
    }
    scratch.clear();
    scratch.extend(window.iter().filter(|p| !is_stale_nan(p.value)));
    scratch
}

impl Evaluator<'_> {
    /// Runs `f` with the cursors of one window edge (`edge`) of `vs`'s series.
    pub(in crate::engine) fn with_cursors<R>(&self, vs: &VectorSelector, edge: u8, f: impl FnOnce(&mut Vec<usize>) -> R) -> R {
        let mut map = self.cursors.borrow_mut();
        let cursors = map.entry((vs as *const VectorSelector, edge)).or_insert_with(|| vec![0; self.selected(vs).len()]);
        f(cursors)
    }

    /// `(from, to)` of each series' samples in the left-open window `(end - range, end]`.
    /// Both edges advance in one pass over the series (each series' samples are touched
    /// once per step, which matters when they do not fit in the CPU caches).
    pub(in crate::engine) fn windows(&self, vs: &VectorSelector, end: i64, range_ms: i64) -> Vec<(usize, usize)> {
        let series = self.selected(vs);
        let key = vs as *const VectorSelector;
        let mut map = self.cursors.borrow_mut();
        let mut from = map.remove(&(key, 1)).unwrap_or_else(|| vec![0; series.len()]);
        let mut to = map.remove(&(key, 2)).unwrap_or_else(|| vec![0; series.len()]);
        let out = series
            .iter()
            .zip(from.iter_mut().zip(to.iter_mut()))
            .map(|(s, (f, t))| (advance(&s.samples, f, end - range_ms), advance(&s.samples, t, end)))
            .collect();
        map.insert((key, 1), from);
        map.insert((key, 2), to);
        out
    }

    /// The sample an instant selector sees at `t`: the last one in (ref - lookback, ref].
    pub(in crate::engine) fn instant_samples(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, Sample)> {
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let window_start = reference - self.options.lookback_delta_ms;
        let mut out = Vec::new();
        let ends: Vec<usize> = self.with_cursors(vs, 0, |c| self.selected(vs).iter().zip(c.iter_mut()).map(|(s, c)| advance(&s.samples, c, reference)).collect());
        for (s, end) in self.selected(vs).iter().zip(ends) {
            if let Some(last) = last_within(&s.samples[..end], window_start) {
                out.push((s.labels.clone(), last));
            }
        }
        out
    }

    /// What an instant selector sees at `t`: per series the newest sample, float or
    /// histogram, in (ref - lookback, ref]; a staleness marker newer than a histogram hides it.
    pub(in crate::engine) fn instant_elems(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        if !self.holds_histograms(vs) {
            // The float-only path (every step of most queries): one vector, no timestamps kept.
            return self.instant_samples(vs, t).into_iter().map(|(l, s)| Elem::new(l, s.value, false)).collect();
        }
        self.instant_elems_timed(vs, t).into_iter().map(|(e, _)| e).collect()
    }

    /// Per series, the start time of the sample an instant selector sees at `t` (0: that sample
    /// has none), in the order of `instant_elems_timed`.
    pub(in crate::engine) fn instant_starts(&self, vs: &VectorSelector, t: i64) -> Vec<(Labels, i64)> {
        let series = self.selected(vs);
        let mut at = 0;
        self.instant_elems_timed(vs, t)
            .into_iter()
            .map(|(e, sample_ms)| {
                // Elements come in series order: move on to this one's series.
                while series.get(at).is_some_and(|s| !(s.labels.ptr_eq(&e.labels) || s.labels == e.labels)) {
                    at += 1;
                }
                let start = series.get(at).map_or(0, |s| super::super::start_times::start_of(s, e.histogram.is_some(), sample_ms));
                (e.labels, start)
            })
            .collect()
    }

    /// `instant_elems` with each sample's timestamp.
    pub(in crate::engine) fn instant_elems_timed(&self, vs: &VectorSelector, t: i64) -> Vec<(Elem, i64)> {
        let floats = self.instant_samples(vs, t);
        let series = self.selected(vs);
        if !self.holds_histograms(vs) {
            return floats.into_iter().map(|(l, s)| (Elem::new(l, s.value, false), s.timestamp_ms)).collect();
        }
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let window_start = reference - self.options.lookback_delta_ms;
        let mut floats = floats.into_iter().peekable();
        let mut out = Vec::new();
        for s in series {
            // `instant_samples` answers in series order; match its answer to this series.
            let float = match floats.peek() {
                Some((l, _)) if l.ptr_eq(&s.labels) || *l == s.labels => floats.next().map(|(_, p)| p),
                _ => None,
            };
            let histogram = histograms_within(&s.histograms, window_start, reference).last();
            // A float (or marker) newer than the histogram wins, and the other way round.
            let newest_float_ms = {
                let end = s.samples.partition_point(|p| p.timestamp_ms <= reference);
                s.samples[..end].last().map(|p| p.timestamp_ms)
            };
            match (float, histogram) {
                (_, Some(h)) if newest_float_ms.is_none_or(|f| f < h.timestamp_ms) => out.push((Elem::with_histogram(s.labels.clone(), h.histogram.clone(), false), h.timestamp_ms)),
                (Some(p), _) => out.push((Elem::new(s.labels.clone(), p.value, false), p.timestamp_ms)),
                _ => {}
            }
        }
        out
    }

    /// What a `smoothed` instant selector sees at `t`: each series' value interpolated at the
    /// reference time from its neighbours within a lookback on either side.
    pub(super) fn smoothed_samples(&self, vs: &VectorSelector, t: i64) -> Vec<Elem> {
        let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
        let lookback = self.options.lookback_delta_ms;
        let windows = self.windows(vs, reference + lookback, 2 * lookback);
        let mut out = Vec::new();
        let mut live = Vec::new();
        for (s, (from, to)) in self.selected(vs).iter().zip(windows) {
            live.clear();
            live.extend(s.samples[from..to].iter().filter(|p| !is_stale_nan(p.value)));
            if !s.histograms.is_empty() {
                let histograms = histograms_within(&s.histograms, reference - lookback, reference + lookback);
                // A window of floats and histograms gives nothing (and a warning).
                if !histograms.is_empty() {
                    let report = super::super::histogram_eval::WindowReport { ev: self, pos: vs.pos, labels: &s.labels };
                    if !live.is_empty() {
                        report.mixed_floats_and_histograms();
                    } else {
                        let mut notes = Notes::default();
                        let value = super::super::histogram_eval::smoothed_histogram(histograms, reference, &mut notes);
                        report.notes(&notes, None);
                        match value {
                            Ok(Some(h)) => out.push(Elem::with_histogram(s.labels.clone(), Arc::new(h), false)),
                            Ok(None) => {}
                            Err(_) => report.mixed_exponential_and_custom(),
                        }
                    }
                    continue;
                }
            }
            if let Some(value) = smoothed_value(&live, reference) {
                out.push(Elem::new(s.labels.clone(), value, false));
            }
        }
        out
    }
}

/// The histograms of `all` (ordered by time) in the left-open window `(start, end]`.
pub(in crate::engine) fn histograms_within(all: &[HistogramSample], start: i64, end: i64) -> &[HistogramSample] {
    &all[histogram_window(all, start, end)]
}

/// The indexes in `all` (ordered by time) of the histograms in the left-open window `(start, end]`.
pub(in crate::engine) fn histogram_window(all: &[HistogramSample], start: i64, end: i64) -> std::ops::Range<usize> {
    let from = all.partition_point(|p| p.timestamp_ms <= start);
    let to = all.partition_point(|p| p.timestamp_ms <= end);
    from..to.max(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever order the bounds come in, the cursor answers like a binary search.
        #[test]
        fn advance_matches_partition_point(times in proptest::collection::btree_set(-1000i64..1000, 0..80),
                                           bounds in proptest::collection::vec(-1100i64..1100, 1..40)) {
            let samples: Vec<Sample> = times.iter().map(|&t| Sample { timestamp_ms: t, value: 0.0 }).collect();
            let mut cursor = 0;
            for bound in bounds {
                let expected = samples.partition_point(|p| p.timestamp_ms <= bound);
                prop_assert_eq!(advance(&samples, &mut cursor, bound), expected);
            }
        }
    }
}
