//! Per-sample start times in counter functions (Prometheus' experimental `use-start-timestamps`):
//! a start after the previous sample marks a counter reset, the first sample's start inside the
//! range replaces extrapolation to the left, and a start reaching back over earlier samples is
//! warned about. Only `rate`, `increase`, `irate` and `resets` of a plain range selector read
//! them; a series without start times never reaches this module.

use tsdb::{HistogramSample, Sample, SampleStarts, SeriesSamples};

use super::functions::RangeKind;
use super::range_functions::{anchored_start, extrapolation_factor};

/// Whether range function `kind` reads start times (Prometheus collects them for these four).
pub(super) fn reads_start_times(kind: RangeKind) -> bool {
    matches!(kind, RangeKind::Rate | RangeKind::Increase | RangeKind::Irate | RangeKind::Resets)
}

/// The start times of `series`, when it has them and they match its two lists (a mismatch, which
/// only broken input gives, is read as no start times at all).
pub(super) fn series_starts(series: &SeriesSamples) -> Option<&SampleStarts> {
    parallel_starts(series.starts.as_deref(), &series.samples, &series.histograms)
}

/// `starts` when its two lists are parallel to `samples` and `histograms` (see `series_starts`).
pub(super) fn parallel_starts<'a>(starts: Option<&'a SampleStarts>, samples: &[Sample], histograms: &[HistogramSample]) -> Option<&'a SampleStarts> {
    starts.filter(|st| st.floats.len() == samples.len() && st.histograms.len() == histograms.len())
}

/// The start time of `series`' float (or, `histogram`, histogram) sample at `sample_ms`; 0 when
/// it has none.
pub(super) fn start_of(series: &SeriesSamples, histogram: bool, sample_ms: i64) -> i64 {
    let Some(starts) = series_starts(series) else { return 0 };
    let found = if histogram {
        series.histograms.binary_search_by_key(&sample_ms, |h| h.timestamp_ms).ok().and_then(|i| starts.histograms.get(i))
    } else {
        series.samples.binary_search_by_key(&sample_ms, |p| p.timestamp_ms).ok().and_then(|i| starts.floats.get(i))
    };
    found.copied().unwrap_or(0)
}

/// The start times of one window's floats and histograms, parallel to them (0: none).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct WindowStarts<'a> {
    pub floats: &'a [i64],
    pub histograms: &'a [i64],
}

impl<'a> WindowStarts<'a> {
    /// The same window from float `f` and histogram `h` on.
    pub(super) fn from(self, f: usize, h: usize) -> WindowStarts<'a> {
        WindowStarts { floats: self.floats.get(f..).unwrap_or(&[]), histograms: self.histograms.get(h..).unwrap_or(&[]) }
    }
}

/// The starts of `window`'s samples that are no staleness marker: `starts` itself when the window
/// holds none (`may_hold_stale` false or none found), else a copy in `scratch`.
pub(super) fn starts_without_stale<'a>(window: &[Sample], starts: &'a [i64], may_hold_stale: bool, scratch: &'a mut Vec<i64>) -> &'a [i64] {
    if !may_hold_stale || !super::eval::holds_stale(window) {
        return starts;
    }
    scratch.clear();
    scratch.extend(window.iter().zip(starts).filter(|(p, _)| !tsdb::is_stale_nan(p.value)).map(|(_, &s)| s));
    scratch
}

/// Whether the sample at `current_ms` (start `current_start`) counts from zero again after the
/// sample at `previous_ms` (start `previous_start`), by the start times alone (0: unknown).
pub(super) fn is_start_reset(previous_start: i64, previous_ms: i64, current_start: i64, current_ms: i64) -> bool {
    // No start, or one that says nothing (after the sample, or OTel's "unknown" equal to it).
    if current_start == 0 || current_start >= current_ms {
        return false;
    }
    if current_start != previous_ms {
        return current_start > previous_ms;
    }
    // Starting at the previous sample: a delta sample when the previous one had a start of its
    // own, but a cumulative one of unknown start (OTel) when it had none. A previous start past
    // its own sample is invalid and read as unknown.
    previous_start != 0 && previous_start < previous_ms
}

/// Whether a sample's start reaches back before the previous sample without being that sample's
/// own start (cumulative) or its time (delta): overlapping counts, which Prometheus warns about.
pub(super) fn start_overlaps(previous_start: i64, previous_ms: i64, current_start: i64) -> bool {
    current_start != 0 && current_start < previous_ms && current_start != previous_start
}

/// Whether any histogram's start overlaps the samples before it (`start_overlaps`).
pub(super) fn histograms_overlap(histograms: &[HistogramSample], starts: &[i64]) -> bool {
    histograms.windows(2).zip(starts.windows(2)).any(|(h, s)| start_overlaps(s[0], h[0].timestamp_ms, s[1]))
}

/// Where the window's first sample started counting, when that lies strictly inside the range
/// (`range_start`, first sample): `rate`/`increase` then take the counter to be 0 there instead of
/// extrapolating to the left.
pub(super) fn start_inside(first_start: i64, first_ms: i64, range_start: i64) -> Option<i64> {
    (first_start != 0 && first_start > range_start && first_start < first_ms).then_some(first_start)
}

/// What `rate`/`increase` multiply a window's increase by when its first sample's counter started
/// at `first_start` inside the range: no extrapolation to the left (the increase runs from that
/// start), to the right as usual; `count` samples span `first_ms..=last_ms` (one sample: none).
pub(super) fn factor_from_start(first_start: i64, first_ms: i64, last_ms: i64, count: usize, range_end: i64, range_ms: i64, is_rate: bool) -> f64 {
    let average = if count > 1 { (last_ms - first_ms) as f64 / 1000.0 / (count - 1) as f64 } else { 0.0 };
    let mut to_end = (range_end - last_ms) as f64 / 1000.0;
    if to_end >= average * 1.1 {
        to_end = average / 2.0;
    }
    let sampled = (last_ms - first_start) as f64 / 1000.0;
    let mut factor = (sampled + to_end) / sampled;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    factor
}

/// Range function `kind` over a float `window` (staleness markers taken out) whose samples carry
/// `starts`, parallel to it, in the range (`range_start`, `range_end`]: the value, and whether a
/// start overlaps earlier samples (to be annotated); `None` where start times do not change
/// `kind`'s arithmetic (it is computed as without them). `extended`: an anchored or smoothed
/// window, whose rates interpolate at the edges and read no start times, and whose `resets`
/// count from the anchored start. Step-major and series-major evaluation both compute here.
pub(super) fn window_value(kind: RangeKind, window: &[Sample], starts: &[i64], (range_start, range_end): (i64, i64), extended: bool) -> Option<(Option<f64>, bool)> {
    match kind {
        RangeKind::Rate | RangeKind::Increase if !extended => Some(rate(window, starts, range_start, range_end, matches!(kind, RangeKind::Rate))),
        RangeKind::Irate => Some((irate(window, starts), false)),
        RangeKind::Resets => {
            let from = if extended { anchored_start(window, range_start) } else { Some(0) };
            Some((from.map(|f| resets(&window[f..], &starts[f..])), false))
        }
        _ => None,
    }
}

/// `rate` (`is_rate`) or `increase` of a float window whose samples carry `starts`: resets found by
/// value or by start time, and the first sample's start used as the zero point when it lies in the
/// range. `(value, overlap)`: no value from a single sample without such a start; `overlap` when a
/// start overlaps earlier samples.
pub(super) fn rate(samples: &[Sample], starts: &[i64], range_start: i64, range_end: i64, is_rate: bool) -> (Option<f64>, bool) {
    debug_assert_eq!(samples.len(), starts.len(), "start times are parallel to the window's samples");
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else { return (None, false) };
    let mut result = last.value - first.value;
    let mut overlap = false;
    for (i, pair) in samples.windows(2).enumerate() {
        let (previous, current) = (pair[0], pair[1]);
        let (previous_start, current_start) = (starts.get(i).copied().unwrap_or(0), starts.get(i + 1).copied().unwrap_or(0));
        overlap |= start_overlaps(previous_start, previous.timestamp_ms, current_start);
        if current.value < previous.value || is_start_reset(previous_start, previous.timestamp_ms, current_start, current.timestamp_ms) {
            result += previous.value;
        }
    }
    let first_start = starts.first().copied().unwrap_or(0);
    let factor = match start_inside(first_start, first.timestamp_ms, range_start) {
        Some(from) => {
            // The counter was 0 at its start: the first sample's value is increase too.
            result += first.value;
            factor_from_start(from, first.timestamp_ms, last.timestamp_ms, samples.len(), range_end, range_end - range_start, is_rate)
        }
        None if samples.len() < 2 => return (None, overlap),
        None => extrapolation_factor(first.timestamp_ms, last.timestamp_ms, samples.len(), range_start, range_end, true, is_rate, (first.value, result)),
    };
    (Some(result * factor), overlap)
}

/// `irate` over the last two samples of a float window with `starts`: a reset by value or by
/// start time makes the increase the last value.
pub(super) fn irate(samples: &[Sample], starts: &[i64]) -> Option<f64> {
    let n = samples.len();
    if n < 2 {
        return None;
    }
    let (previous, last) = (samples[n - 2], samples[n - 1]);
    let interval_ms = last.timestamp_ms - previous.timestamp_ms;
    if interval_ms == 0 {
        return None;
    }
    let (previous_start, last_start) = (starts.get(n - 2).copied().unwrap_or(0), starts.get(n - 1).copied().unwrap_or(0));
    let reset = last.value < previous.value || is_start_reset(previous_start, previous.timestamp_ms, last_start, last.timestamp_ms);
    let increase = if reset { last.value } else { last.value - previous.value };
    Some(increase / (interval_ms as f64 / 1000.0))
}

/// `resets` of a float window with `starts`: drops in value and resets by start time.
pub(super) fn resets(samples: &[Sample], starts: &[i64]) -> f64 {
    let mut count = 0usize;
    for (i, pair) in samples.windows(2).enumerate() {
        let (previous_start, current_start) = (starts.get(i).copied().unwrap_or(0), starts.get(i + 1).copied().unwrap_or(0));
        if pair[1].value < pair[0].value || is_start_reset(previous_start, pair[0].timestamp_ms, current_start, pair[1].timestamp_ms) {
            count += 1;
        }
    }
    count as f64
}

#[cfg(test)]
mod tests;
