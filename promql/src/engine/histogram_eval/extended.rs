//! Native histograms under `anchored` and `smoothed` selectors (Prometheus'
//! `extendedHistogramRate`, `pickFirstSampleIndices` and `smoothSeries`): rates without
//! extrapolation between picked or interpolated edges, the anchor that `changes`/`resets` start
//! from when a window mixes floats and histograms, and the interpolated instant value.

use tsdb::{CounterResetHint, FloatHistogram, HistogramSample, Sample};

use super::super::native_histogram as nh;
use nh::{HistogramError, Notes};

/// rate/increase/delta of an `anchored`/`smoothed` window of histograms (the extended window,
/// no float in it): right edge minus left edge, plus for counters the histogram before each
/// reset strictly inside the range. The edges are the last sample at or before `range_start`
/// (or the first) and the last sample; `smoothed` interpolates them at the range's edges.
/// `Ok(None)` when nothing lies after the range start, an error when the histograms cannot be
/// combined (exponential with custom buckets).
pub(in crate::engine) fn extended_histogram_rate(h: &[HistogramSample], range_start: i64, range_end: i64, smoothed: bool, is_counter: bool, is_rate: bool, notes: &mut Notes) -> Result<Option<FloatHistogram>, HistogramError> {
    let Some(mut last) = h.len().checked_sub(1) else { return Ok(None) };
    let first = h[..last].partition_point(|p| p.timestamp_ms <= range_start).saturating_sub(1);
    if smoothed {
        last = h[..last].partition_point(|p| p.timestamp_ms < range_end);
    }
    if h[last].timestamp_ms <= range_start || (smoothed && h[first].timestamp_ms > range_end) {
        return Ok(None);
    }
    let uses_custom = h[first].histogram.uses_custom_buckets();
    for p in &h[first..=last] {
        if p.histogram.uses_custom_buckets() != uses_custom {
            return Err(HistogramError::MixedExponentialAndCustom);
        }
        if is_counter && p.histogram.counter_reset_hint == CounterResetHint::Gauge {
            notes.not_counter = true;
        }
    }
    let left = if smoothed && h[first].timestamp_ms < range_start { interpolate_at(&h[first], &h[first + 1], range_start, is_counter, notes)? } else { (*h[first].histogram).clone() };
    let right = if smoothed && last > 0 && h[last].timestamp_ms > range_end { interpolate_at(&h[last - 1], &h[last], range_end, is_counter, notes)? } else { (*h[last].histogram).clone() };
    if !is_counter && (left.counter_reset_hint != CounterResetHint::Gauge || right.counter_reset_hint != CounterResetHint::Gauge) {
        notes.not_gauge = true;
    }
    let mut result = nh::raw_sub(&right, &left, notes)?;
    if is_counter {
        if let Some(correction) = reset_correction(h, first, last, &left, &right, range_start, smoothed, notes)? {
            result = nh::raw_add(&result, &correction, notes)?;
        }
    }
    if is_rate {
        result = nh::div(&result, (range_end - range_start) as f64 / 1000.0);
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    Ok(Some(nh::compact(&result)))
}

fn interpolate_at(a: &HistogramSample, b: &HistogramSample, t: i64, is_counter: bool, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    nh::interpolate_noting(&a.histogram, a.timestamp_ms, &b.histogram, b.timestamp_ms, t, is_counter, notes)
}

/// What counter resets between the edges add back (Prometheus' `correctForCounterResetsHistogram`):
/// the histogram before each reset among the samples strictly between the edge samples `first`
/// and `last`, and before the right edge. A left edge interpolated across a reset already
/// accounts for it: the sample after the reset becomes the one the next compares with. The edge
/// samples themselves are never compared with (`right` carries `h[last]`'s hint, which would
/// otherwise report its own reset twice).
#[allow(clippy::too_many_arguments)]
fn reset_correction(h: &[HistogramSample], first: usize, last: usize, left: &FloatHistogram, right: &FloatHistogram, range_start: i64, smoothed: bool, notes: &mut Notes) -> Result<Option<FloatHistogram>, HistogramError> {
    let mut from = first + 1;
    let mut previous = left;
    if smoothed && h[first].timestamp_ms < range_start && nh::detect_reset(&h[first].histogram, &h[first + 1].histogram) {
        previous = &h[first + 1].histogram;
        from += 1;
    }
    if from > last {
        return Ok(None);
    }
    let mut correction: Option<FloatHistogram> = None;
    let add = |c: &mut Option<FloatHistogram>, p: &FloatHistogram, notes: &mut Notes| -> Result<(), HistogramError> {
        *c = Some(match c.take() {
            None => p.clone(),
            Some(sum) => nh::raw_add(&sum, p, notes)?,
        });
        Ok(())
    };
    for p in &h[from..last] {
        if nh::detect_reset(previous, &p.histogram) {
            add(&mut correction, previous, notes)?;
        }
        previous = &p.histogram;
    }
    if nh::detect_reset(previous, right) {
        add(&mut correction, previous, notes)?;
    }
    Ok(correction)
}

/// Where `changes`/`resets` of an `anchored` window start in its floats and its histograms: the
/// newest sample at or before `range_start`, of either kind, is the anchor; older samples of
/// both kinds are skipped. `None` when no sample lies after `range_start`.
pub(in crate::engine) fn anchored_starts(floats: &[Sample], histograms: &[HistogramSample], range_start: i64) -> Option<(usize, usize)> {
    let floats_before = floats.partition_point(|p| p.timestamp_ms <= range_start);
    let histograms_before = histograms.partition_point(|p| p.timestamp_ms <= range_start);
    if floats_before >= floats.len() && histograms_before >= histograms.len() {
        return None;
    }
    Some(match (floats_before.checked_sub(1), histograms_before.checked_sub(1)) {
        (None, None) => (0, 0),
        (Some(f), None) => (f, histograms_before),
        (Some(f), Some(h)) if floats[f].timestamp_ms >= histograms[h].timestamp_ms => (f, histograms_before),
        (_, Some(h)) => (floats_before, h),
    })
}

/// The histogram a `smoothed` instant selector sees at `t` from the histograms in
/// `(t - lookback, t + lookback]`: the one at `t`, else interpolated between its neighbours
/// (as a counter unless both are gauges; nothing between exponential and custom buckets),
/// else the last earlier one with its hint made unknown (the hint describes its relation to
/// the sample before, which this value no longer follows).
/// An error when the neighbours cannot be combined (exponential and custom buckets).
pub(in crate::engine) fn smoothed_histogram(h: &[HistogramSample], t: i64, notes: &mut Notes) -> Result<Option<FloatHistogram>, HistogramError> {
    let i = h.partition_point(|p| p.timestamp_ms < t);
    Ok(match (h.get(i), i.checked_sub(1).map(|j| &h[j])) {
        (Some(next), _) if next.timestamp_ms == t => Some((*next.histogram).clone()),
        (Some(next), Some(prev)) => {
            if prev.histogram.uses_custom_buckets() != next.histogram.uses_custom_buckets() {
                return Err(HistogramError::MixedExponentialAndCustom);
            }
            let is_counter = prev.histogram.counter_reset_hint != CounterResetHint::Gauge || next.histogram.counter_reset_hint != CounterResetHint::Gauge;
            Some(interpolate_at(prev, next, t, is_counter, notes)?)
        }
        (None, Some(prev)) => Some(FloatHistogram { counter_reset_hint: CounterResetHint::Unknown, ..(*prev.histogram).clone() }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::promqltest::notation::parse_histogram;

    /// Histograms of one bucket at `step_ms` apart, counts as given; `reset` marks those
    /// hinted as counter resets.
    fn series(step_ms: i64, counts: &[(f64, bool)]) -> Vec<HistogramSample> {
        let text = |c: f64, reset: bool| format!("{{{{schema:0 sum:{c} count:{c} buckets:[{c}]{}}}}}", if reset { " counter_reset_hint:reset" } else { "" });
        counts
            .iter()
            .enumerate()
            .map(|(i, &(c, reset))| HistogramSample { timestamp_ms: i as i64 * step_ms, histogram: Arc::new(parse_histogram(&text(c, reset)).expect("valid notation").0) })
            .collect()
    }

    #[test]
    fn extended_increase_corrects_each_reset_once() {
        // (samples, step, range start, range end, smoothed, expected count): Prometheus' cases
        // of a reset at the right edge, a two-sample reset, and resets inside interpolations.
        type Case = (&'static [(f64, bool)], i64, i64, i64, bool, f64);
        let cases: [Case; 5] = [
            (&[(5.0, false), (10.0, false), (3.0, true)], 30_000, 0, 70_000, false, 8.0),
            (&[(5.0, false), (3.0, true)], 30_000, 0, 30_000, false, 3.0),
            (&[(10.0, false), (5.0, true), (2.0, true), (4.0, false)], 10_000, 1_000, 15_000, true, 5.5),
            (&[(10.0, false), (5.0, true)], 20_000, 5_000, 15_000, true, 2.5),
            (&[(1.0, false), (2.0, false), (3.0, false), (4.0, false), (5.0, false)], 15_000, -10_000, 50_000, true, 3.0 + 1.0 / 3.0),
        ];
        for (counts, step, start, end, smoothed, want) in cases {
            let h = series(step, counts);
            let got = extended_histogram_rate(&h, start, end, smoothed, true, false, &mut Notes::default()).ok().flatten().expect("a result");
            assert!((got.count - want).abs() < 1e-9, "{counts:?} ({start}, {end}] smoothed={smoothed}: {} != {want}", got.count);
            assert_eq!(got.counter_reset_hint, CounterResetHint::Gauge);
        }
        // Nothing after the range start: no value.
        assert!(matches!(extended_histogram_rate(&series(10_000, &[(1.0, false)]), 0, 10_000, false, true, false, &mut Notes::default()), Ok(None)));
    }

    #[test]
    fn anchors_are_the_newest_sample_at_or_before_the_start() {
        let floats = [Sample { timestamp_ms: 20, value: 1.0 }, Sample { timestamp_ms: 40, value: 2.0 }];
        let histograms = series(10, &[(1.0, false), (2.0, false), (3.0, false)]); // at 0, 10 and 20
        // Range start 25: the float at 20 and the histogram at 20 tie; the float anchors.
        assert_eq!(anchored_starts(&floats, &histograms, 25), Some((0, 3)));
        // Range start 15: the histogram at 10 anchors, the floats all follow.
        assert_eq!(anchored_starts(&floats, &histograms, 15), Some((0, 1)));
        assert_eq!(anchored_starts(&floats, &histograms, 40), None);
    }

    #[test]
    fn smoothed_values_interpolate_or_carry_forward() {
        let smoothed = |h: &[HistogramSample], t| smoothed_histogram(h, t, &mut Notes::default()).ok().flatten();
        let h = series(15_000, &[(1.0, false), (2.0, false)]);
        assert!((smoothed(&h, 7_000).expect("interpolated").count - (1.0 + 7.0 / 15.0)).abs() < 1e-12);
        let carried = smoothed(&h, 20_000).expect("carried forward");
        assert_eq!((carried.count, carried.counter_reset_hint), (2.0, CounterResetHint::Unknown));
        assert!(smoothed(&h[1..], 5_000).is_none());
        // Across a reset a counter restarts from zero.
        let reset = series(15_000, &[(10.0, false), (2.0, true)]);
        assert!((smoothed(&reset, 5_000).expect("interpolated").count - 2.0 / 3.0).abs() < 1e-12);
        // Exponential and custom buckets cannot be interpolated between.
        let custom = parse_histogram("{{schema:-53 sum:1 count:1 custom_values:[1] buckets:[1]}}").expect("valid notation").0;
        let mixed = vec![h[0].clone(), HistogramSample { timestamp_ms: 15_000, histogram: Arc::new(custom) }];
        assert!(smoothed_histogram(&mixed, 7_000, &mut Notes::default()).is_err());
    }
}
