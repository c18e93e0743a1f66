//! MetricsQL's range-vector ("rollup") functions over one window of float samples, with
//! VictoriaMetrics' meaning kept within PromQL's window `(end - range, end]`: where
//! VictoriaMetrics also reads the sample just before the window, each function's doc says
//! what it gives instead. NaN samples are left out first (VictoriaMetrics never stores one),
//! and a NaN result is no value, as a NaN point is none in VictoriaMetrics.

use std::borrow::Cow;

use tsdb::Sample;

use super::super::stats::{self, Welford};

/// VictoriaMetrics' relative tolerance under which two consecutive values count as equal
/// (float noise, not a change) in `increases_over_time`/`decreases_over_time`.
const CHANGE_TOLERANCE_RELATIVE: f64 = 1e-12;

/// The MetricsQL rollups this engine evaluates (beside PromQL's own `*_over_time`).
pub(in crate::engine) const ROLLUP_NAMES: &[&str] = &[
    "ascent_over_time",
    "count_eq_over_time",
    "count_gt_over_time",
    "count_le_over_time",
    "count_ne_over_time",
    "decreases_over_time",
    "default_rollup",
    "deriv_fast",
    "descent_over_time",
    "distinct_over_time",
    "duration_over_time",
    "geomean_over_time",
    "ideriv",
    "increase_pure",
    "increases_over_time",
    "integrate",
    "lag",
    "lifetime",
    "median_over_time",
    "mode_over_time",
    "range_over_time",
    "rate_over_sum",
    "scrape_interval",
    "share_eq_over_time",
    "share_gt_over_time",
    "share_le_over_time",
    "sum2_over_time",
    "sum_eq_over_time",
    "sum_gt_over_time",
    "sum_le_over_time",
    "tfirst_over_time",
    "tlast_change_over_time",
    "tlast_over_time",
    "tmax_over_time",
    "tmin_over_time",
    "zscore_over_time",
];

/// The rollups whose second argument is a scalar: the value compared with
/// (`count_eq_over_time(m, 3)`) or `duration_over_time`'s largest gap in seconds.
pub(in crate::engine) fn takes_scalar_argument(name: &str) -> bool {
    matches!(
        name,
        "count_eq_over_time"
            | "count_ne_over_time"
            | "count_gt_over_time"
            | "count_le_over_time"
            | "share_eq_over_time"
            | "share_gt_over_time"
            | "share_le_over_time"
            | "sum_eq_over_time"
            | "sum_gt_over_time"
            | "sum_le_over_time"
            | "duration_over_time"
    )
}

/// What a rollup reads besides the samples: the window's edges in ms and the scalar argument.
#[derive(Clone, Copy, Debug)]
pub(in crate::engine) struct RollupWindow {
    pub start_ms: i64,
    pub end_ms: i64,
    pub param: f64,
}

/// Rollup `name` over the window's samples (stale markers already left out); `None` when the
/// window gives no value (or `name` is no MetricsQL rollup).
pub(in crate::engine) fn rollup_value(name: &str, samples: &[Sample], window: RollupWindow) -> Option<f64> {
    let samples: Cow<'_, [Sample]> = if samples.iter().any(|s| s.value.is_nan()) {
        Cow::Owned(samples.iter().filter(|s| !s.value.is_nan()).copied().collect())
    } else {
        Cow::Borrowed(samples)
    };
    let (first, last) = (samples.first()?, samples.last()?);
    let seconds = |ms: i64| ms as f64 / 1000.0;
    let values = || samples.iter().map(|s| s.value);
    let limit = window.param;
    let value = match name {
        "median_over_time" => stats::quantile(0.5, &values().collect::<Vec<f64>>()),
        "range_over_time" => values().fold(f64::NEG_INFINITY, f64::max) - values().fold(f64::INFINITY, f64::min),
        "distinct_over_time" => distinct_count(&samples),
        "tmin_over_time" => seconds(time_of_extreme(&samples, |v, best| v <= best)),
        "tmax_over_time" => seconds(time_of_extreme(&samples, |v, best| v >= best)),
        "tfirst_over_time" => seconds(first.timestamp_ms),
        "tlast_over_time" => seconds(last.timestamp_ms),
        // When the value last changed: the sample after the last one that differs from the
        // last value, or the window's first sample when none does (no sample before the
        // window is read here, as VictoriaMetrics does when there is none).
        "tlast_change_over_time" => {
            let changed_after = samples.windows(2).rposition(|w| w[0].value != last.value).map_or(0, |i| i + 1);
            seconds(samples[changed_after].timestamp_ms)
        }
        "sum2_over_time" => values().map(|v| v * v).sum(),
        "geomean_over_time" => values().product::<f64>().powf(1.0 / samples.len() as f64),
        "mode_over_time" => mode(values().collect()),
        "increases_over_time" => changes_counted(&samples, |v, previous| v > previous),
        "decreases_over_time" => changes_counted(&samples, |v, previous| v < previous),
        "ascent_over_time" => samples.windows(2).map(|w| (w[1].value - w[0].value).max(0.0)).sum(),
        "descent_over_time" => samples.windows(2).map(|w| (w[0].value - w[1].value).max(0.0)).sum(),
        "count_eq_over_time" => values().filter(|&v| v == limit).count() as f64,
        "count_ne_over_time" => values().filter(|&v| v != limit).count() as f64,
        "count_gt_over_time" => values().filter(|&v| v > limit).count() as f64,
        "count_le_over_time" => values().filter(|&v| v <= limit).count() as f64,
        "share_eq_over_time" => values().filter(|&v| v == limit).count() as f64 / samples.len() as f64,
        "share_gt_over_time" => values().filter(|&v| v > limit).count() as f64 / samples.len() as f64,
        "share_le_over_time" => values().filter(|&v| v <= limit).count() as f64 / samples.len() as f64,
        "sum_eq_over_time" => values().filter(|&v| v == limit).sum(),
        "sum_gt_over_time" => values().filter(|&v| v > limit).sum(),
        "sum_le_over_time" => values().filter(|&v| v <= limit).sum(),
        "lifetime" if samples.len() >= 2 => seconds(last.timestamp_ms - first.timestamp_ms),
        "lifetime" => return None,
        "lag" => seconds(window.end_ms - last.timestamp_ms),
        // Each value held until the next sample, the last one until the window's end, as
        // VictoriaMetrics 1.79 integrates (checked against it; later versions hold the last
        // one only while the series goes on past the window).
        "integrate" => {
            let held: f64 = samples.windows(2).map(|w| w[0].value * seconds(w[1].timestamp_ms - w[0].timestamp_ms)).sum();
            held + last.value * seconds(window.end_ms - last.timestamp_ms)
        }
        "rate_over_sum" => values().sum::<f64>() / seconds(window.end_ms - window.start_ms),
        "zscore_over_time" => zscore(&samples, window.end_ms)?,
        "duration_over_time" => duration_with_gaps_at_most(&samples, limit),
        "increase_pure" => increase_pure(&samples),
        "ideriv" => ideriv(&samples)?,
        "default_rollup" => last.value,
        // From the window's first sample (VictoriaMetrics starts from the one before it).
        "deriv_fast" if last.timestamp_ms > first.timestamp_ms => (last.value - first.value) / seconds(last.timestamp_ms - first.timestamp_ms),
        "deriv_fast" => return None,
        // The mean interval between the window's samples (VictoriaMetrics also counts the
        // one from the sample before the window).
        "scrape_interval" if samples.len() >= 2 => seconds(last.timestamp_ms - first.timestamp_ms) / (samples.len() - 1) as f64,
        "scrape_interval" => return None,
        _ => return super::metricsql_window_rollups::value(name, &samples, window),
    };
    (!value.is_nan()).then_some(value)
}

/// The number of different values (-0 and +0 are one value).
fn distinct_count(samples: &[Sample]) -> f64 {
    let mut bits: Vec<u64> = samples.iter().map(|s| if s.value == 0.0 { 0 } else { s.value.to_bits() }).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.len() as f64
}

/// The timestamp of the last sample whose value beats or equals every one before it by
/// `at_least_as_good` (the last minimum or maximum, as VictoriaMetrics picks it).
fn time_of_extreme(samples: &[Sample], at_least_as_good: impl Fn(f64, f64) -> bool) -> i64 {
    let mut best = samples[0];
    for s in &samples[1..] {
        if at_least_as_good(s.value, best.value) {
            best = *s;
        }
    }
    best.timestamp_ms
}

/// The most frequent value; of equally frequent ones, the smallest.
fn mode(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let (mut best, mut best_count) = (f64::NAN, 0);
    let mut run_start = 0;
    for i in 1..=values.len() {
        if i == values.len() || values[i] != values[run_start] {
            if i - run_start > best_count {
                (best, best_count) = (values[run_start], i - run_start);
            }
            run_start = i;
        }
    }
    best
}

/// How many samples moved from the one before in the way `moved` says, float noise aside.
fn changes_counted(samples: &[Sample], moved: impl Fn(f64, f64) -> bool) -> f64 {
    let noticeable = |v: f64, previous: f64| (v - previous).abs() >= CHANGE_TOLERANCE_RELATIVE * v.abs();
    samples.windows(2).filter(|w| moved(w[1].value, w[0].value) && noticeable(w[1].value, w[0].value)).count() as f64
}

/// How far the last value lies from the window's mean, in standard deviations; `None`
/// with fewer than two samples or when the series lags behind the window's end by more than
/// its average sample interval.
fn zscore(samples: &[Sample], end_ms: i64) -> Option<f64> {
    let (first, last) = (samples.first()?, samples.last()?);
    if samples.len() < 2 {
        return None;
    }
    let interval_seconds = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0 / (samples.len() - 1) as f64;
    let lag_seconds = (end_ms - last.timestamp_ms) as f64 / 1000.0;
    if lag_seconds > interval_seconds {
        return None;
    }
    let mean = samples.iter().map(|s| s.value).sum::<f64>() / samples.len() as f64;
    let deviation = last.value - mean;
    if deviation == 0.0 {
        return Some(0.0);
    }
    let mut welford = Welford::default();
    for s in samples {
        welford.add(s.value);
    }
    Some(deviation / welford.variance().sqrt())
}

/// The seconds between consecutive samples summed over the gaps of at most
/// `max_gap_seconds` (a longer gap counts as time the series was absent).
fn duration_with_gaps_at_most(samples: &[Sample], max_gap_seconds: f64) -> f64 {
    // VictoriaMetrics truncates the limit to whole milliseconds.
    let max_gap_ms = (max_gap_seconds * 1000.0) as i64;
    let present_ms: i64 = samples.windows(2).map(|w| w[1].timestamp_ms - w[0].timestamp_ms).filter(|&gap| gap <= max_gap_ms).sum();
    present_ms as f64 / 1000.0
}

/// The counter's increase from the window's first sample to its last, resets corrected as
/// VictoriaMetrics corrects them: a drop by less than an eighth of the value before it is a
/// dip (the value is held), a larger one a restart from zero.
pub(super) fn increase_pure(samples: &[Sample]) -> f64 {
    let mut correction = 0.0;
    let mut previous = samples[0].value;
    let mut corrected_previous = previous;
    for s in &samples[1..] {
        let drop = previous - s.value;
        if drop > 0.0 {
            correction += if drop * 8.0 < previous { drop } else { previous };
        }
        previous = s.value;
        // Float error must not make the corrected counter go down.
        corrected_previous = (s.value + correction).max(corrected_previous);
    }
    corrected_previous - samples[0].value
}

/// The per-second change between the last sample and the latest one before it at an
/// earlier timestamp; 0 when every sample shares the last one's timestamp.
fn ideriv(samples: &[Sample]) -> Option<f64> {
    let (last, before) = samples.split_last()?;
    if before.is_empty() {
        return None;
    }
    let Some(previous) = before.iter().rev().find(|s| s.timestamp_ms < last.timestamp_ms) else { return Some(0.0) };
    Some((last.value - previous.value) / ((last.timestamp_ms - previous.timestamp_ms) as f64 / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(timestamp_ms, value)| Sample { timestamp_ms, value }).collect()
    }

    fn at(name: &str, points: &[(i64, f64)], param: f64) -> Option<f64> {
        rollup_value(name, &samples(points), RollupWindow { start_ms: 0, end_ms: 60_000, param })
    }

    #[test]
    fn every_listed_name_is_evaluated_and_nothing_else() {
        let points = [(30_000, 1.0), (40_000, 2.0), (50_000, 2.0), (60_000, 3.0)];
        for name in ROLLUP_NAMES {
            assert!(at(name, &points, 2.0).is_some(), "{name}");
        }
        assert_eq!(at("sum_over_time", &points, 0.0), None);
        assert!(ROLLUP_NAMES.windows(2).all(|w| w[0] < w[1]), "sorted, so that a duplicate shows");
    }

    #[test]
    fn nan_samples_are_left_out_and_an_empty_window_gives_nothing() {
        let with_nan = [(10_000, 4.0), (20_000, f64::NAN), (30_000, 1.0)];
        assert_eq!(at("median_over_time", &with_nan, 0.0), Some(2.5));
        assert_eq!(at("distinct_over_time", &with_nan, 0.0), Some(2.0));
        assert_eq!(at("count_ne_over_time", &with_nan, 1.0), Some(1.0));
        for name in ROLLUP_NAMES {
            assert_eq!(at(name, &[], 1.0), None, "{name}");
            assert_eq!(at(name, &[(10_000, f64::NAN)], 1.0), None, "{name}");
        }
    }

    #[test]
    fn mode_prefers_the_smallest_of_equally_frequent_values() {
        assert_eq!(mode(vec![3.0, 1.0, 2.0, 3.0, 1.0]), 1.0);
        assert_eq!(mode(vec![5.0, 7.0, 7.0]), 7.0);
        assert_eq!(mode(vec![-0.0, 0.0, 4.0]), 0.0);
    }

    #[test]
    fn increase_pure_tells_a_dip_from_a_restart() {
        // 100 → 95 is a drop of 5, under 100/8: a dip, held at 100; 95 → 10 a restart.
        let points = [(10_000, 90.0), (20_000, 100.0), (30_000, 95.0), (40_000, 10.0), (50_000, 12.0)];
        // Corrected: 90 100 100 (95+5) 110 (10+5+95) 112.
        assert_eq!(at("increase_pure", &points, 0.0), Some(22.0));
    }

    #[test]
    fn ideriv_skips_samples_at_the_last_timestamp() {
        assert_eq!(ideriv(&samples(&[(0, 1.0), (10_000, 6.0), (10_000, 7.0)])), Some(0.6));
        assert_eq!(ideriv(&samples(&[(10_000, 6.0), (10_000, 7.0)])), Some(0.0));
        assert_eq!(ideriv(&samples(&[(10_000, 6.0)])), None);
    }

    #[test]
    fn deriv_fast_and_scrape_interval_read_the_window_edges() {
        let points = [(10_000, 1.0), (20_000, 9.0), (50_000, 5.0)];
        assert_eq!(at("deriv_fast", &points, 0.0), Some(0.1));
        assert_eq!(at("scrape_interval", &points, 0.0), Some(20.0));
        assert_eq!(at("deriv_fast", &[(10_000, 1.0), (10_000, 2.0)], 0.0), None);
        assert_eq!(at("scrape_interval", &[(10_000, 1.0)], 0.0), None);
    }

    #[test]
    fn zscore_needs_a_current_series() {
        // Mean 2, population deviation sqrt(2/3); the last sample (3) is 1 above the mean.
        let fresh = [(40_000, 1.0), (50_000, 2.0), (60_000, 3.0)];
        let z = at("zscore_over_time", &fresh, 0.0).unwrap_or_default();
        assert!((z - 1.0 / (2.0f64 / 3.0).sqrt()).abs() < 1e-12, "{z}");
        // Ending 11 s before the window's end with samples 10 s apart: lagging, no value.
        assert_eq!(at("zscore_over_time", &[(29_000, 1.0), (39_000, 2.0), (49_000, 3.0)], 0.0), None);
    }
}
