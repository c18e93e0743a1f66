//! Functions over range vectors: rate/increase/delta with Prometheus' extrapolation (and
//! without it for `anchored`/`smoothed` selectors), irate/idelta, deriv/predict_linear
//! (Kahan linear regression), resets, changes and the `*_over_time` family.

use tsdb::Sample;

use super::functions::metricsql_rollups::{self, RollupWindow};
use super::stats::{self, KahanSum};

/// Prometheus' `extrapolatedRate`: the window is (range_start, range_end] in ms.
pub fn extrapolated_rate(samples: &[Sample], range_start: i64, range_end: i64, is_counter: bool, is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let first = samples[0];
    let last = samples[samples.len() - 1];
    let mut result = last.value - first.value;
    if is_counter {
        let mut prev = first.value;
        for s in &samples[1..] {
            if s.value < prev {
                result += prev;
            }
            prev = s.value;
        }
    }
    let factor = extrapolation_factor(first.timestamp_ms, last.timestamp_ms, samples.len(), range_start, range_end, is_counter, is_rate, (first.value, result));
    Some(result * factor)
}

/// What `extrapolatedRate` multiplies the window's increase by: the sampled interval
/// extended towards the window's edges (by at most half an average gap past the samples,
/// and for counters not past the zero point `zero` = (first value, increase) implies),
/// per second of the range for a rate. `count` samples span `first_ms..=last_ms` (at least 2).
#[allow(clippy::too_many_arguments)]
pub fn extrapolation_factor(first_ms: i64, last_ms: i64, count: usize, range_start: i64, range_end: i64, is_counter: bool, is_rate: bool, zero: (f64, f64)) -> f64 {
    let mut to_start = (first_ms - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_ms) as f64 / 1000.0;
    let sampled = (last_ms - first_ms) as f64 / 1000.0;
    let average = sampled / (count - 1) as f64;
    let threshold = average * 1.1;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if is_counter {
        let (first_value, result) = zero;
        let mut to_zero = to_start;
        if result > 0.0 && first_value >= 0.0 {
            to_zero = sampled * (first_value / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (range_end - range_start) as f64 / 1000.0;
    }
    factor
}

/// Linear interpolation at `t` between two samples. For a counter that reset between them
/// the counter is taken to restart from 0.
fn interpolate(p1: Sample, p2: Sample, t: i64, is_counter: bool) -> f64 {
    let y1 = if is_counter && p2.value < p1.value { 0.0 } else { p1.value };
    y1 + (p2.value - y1) * (t - p1.timestamp_ms) as f64 / (p2.timestamp_ms - p1.timestamp_ms) as f64
}

/// Index of the window's left edge in an extended window: the last sample at or before
/// `range_start` (or the first sample), as Prometheus' `extendedRate` picks it.
fn left_edge(samples: &[Sample], range_start: i64) -> usize {
    let last = samples.len() - 1;
    samples[..last].partition_point(|p| p.timestamp_ms <= range_start).saturating_sub(1)
}

/// rate/increase/delta of an `anchored` or `smoothed` selector (Prometheus' `extendedRate`):
/// no extrapolation; the change from the left edge (the last sample at or before the range
/// start, interpolated at the start when `smoothed`) to the right edge (the last sample, or
/// for `smoothed` the value interpolated at the range end), with counter resets corrected.
/// `samples` is the extended window without stale markers; the range is
/// `(range_start, range_end]`.
pub fn extended_rate(samples: &[Sample], range_start: i64, range_end: i64, smoothed: bool, is_counter: bool, is_rate: bool) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let first = left_edge(samples, range_start);
    let mut last = samples.len() - 1;
    if smoothed {
        last = samples[..last].partition_point(|p| p.timestamp_ms < range_end);
    }
    if samples[last].timestamp_ms <= range_start || (smoothed && samples[first].timestamp_ms > range_end) {
        return None;
    }
    let left = if smoothed && samples[first].timestamp_ms < range_start {
        interpolate(samples[first], samples[first + 1], range_start, is_counter)
    } else {
        samples[first].value
    };
    let right = if smoothed && last > 0 && samples[last].timestamp_ms > range_end {
        interpolate(samples[last - 1], samples[last], range_end, is_counter)
    } else {
        samples[last].value
    };
    let mut result = right - left;
    if is_counter {
        // Only samples strictly inside the range: the edges already account for resets there.
        let from = if samples[first].timestamp_ms <= range_start { first + 1 } else { first };
        let to = if samples[last].timestamp_ms >= range_end { last } else { last + 1 };
        let inner = samples.get(from..to.max(from)).unwrap_or(&[]);
        let mut previous = left;
        for s in inner {
            if s.value < previous {
                result += previous;
            }
            previous = s.value;
        }
        if right < previous {
            result += previous;
        }
    }
    if is_rate {
        result /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(result)
}

/// Where changes()/resets() of an `anchored` selector start: the last sample at or before
/// `range_start` (the anchor), else the first; `None` without a sample after `range_start`.
pub fn anchored_start(samples: &[Sample], range_start: i64) -> Option<usize> {
    let after = samples.partition_point(|p| p.timestamp_ms <= range_start);
    if after >= samples.len() {
        return None;
    }
    Some(after.saturating_sub(1))
}

/// The samples an `anchored`/`smoothed` range selector yields on its own: the left edge at
/// `mint` (interpolated when `smoothed`), the samples strictly inside, the right edge at `maxt`.
pub fn extend_window(samples: &[Sample], mint: i64, maxt: i64, smoothed: bool) -> Vec<Sample> {
    if samples.is_empty() {
        return Vec::new();
    }
    let mut first = left_edge(samples, mint);
    let mut last = samples.len() - 1;
    if smoothed {
        last = samples[..last].partition_point(|p| p.timestamp_ms < maxt);
    }
    if samples[last].timestamp_ms <= mint {
        return Vec::new();
    }
    let left = if smoothed && samples[first].timestamp_ms < mint { interpolate(samples[first], samples[first + 1], mint, false) } else { samples[first].value };
    let right = if smoothed && last > 0 && samples[last].timestamp_ms > maxt { interpolate(samples[last - 1], samples[last], maxt, false) } else { samples[last].value };
    if samples[first].timestamp_ms <= mint {
        first += 1;
    }
    let end = if samples[last].timestamp_ms >= maxt { last } else { last + 1 };
    let mut out = Vec::with_capacity(end.saturating_sub(first) + 2);
    out.push(Sample { timestamp_ms: mint, value: left });
    out.extend_from_slice(samples.get(first..end.max(first)).unwrap_or(&[]));
    out.push(Sample { timestamp_ms: maxt, value: right });
    out
}

/// The value a `smoothed` instant selector sees at `t`: the sample at `t`, else interpolated
/// between its neighbours, else the last earlier sample; `None` before the first sample.
/// `samples` are those in `(t - lookback, t + lookback]` without stale markers.
pub fn smoothed_value(samples: &[Sample], t: i64) -> Option<f64> {
    let i = samples.partition_point(|p| p.timestamp_ms < t);
    match (samples.get(i), i.checked_sub(1).and_then(|j| samples.get(j))) {
        (Some(next), _) if next.timestamp_ms == t => Some(next.value),
        (Some(next), Some(prev)) => Some(interpolate(*prev, *next, t, false)),
        (None, Some(prev)) => Some(prev.value),
        _ => None,
    }
}

/// irate (`is_rate`) or idelta over the last two samples.
pub fn instant_value(samples: &[Sample], is_rate: bool) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let last = samples[samples.len() - 1];
    let prev = samples[samples.len() - 2];
    let mut result = if is_rate && last.value < prev.value { last.value } else { last.value - prev.value };
    let interval = last.timestamp_ms - prev.timestamp_ms;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// (slope, intercept) of the least-squares line with x in seconds from `intercept_ms`.
pub fn linear_regression(samples: &[Sample], intercept_ms: i64) -> (f64, f64) {
    let (mut sx, mut sy, mut sxy, mut sx2) = (KahanSum::default(), KahanSum::default(), KahanSum::default(), KahanSum::default());
    let first = samples[0].value;
    let constant = samples.iter().all(|s| s.value == first);
    let n = samples.len() as f64;
    for s in samples {
        let x = (s.timestamp_ms - intercept_ms) as f64 / 1e3;
        sx.add(x);
        sy.add(s.value);
        sxy.add(x * s.value);
        sx2.add(x * x);
    }
    if constant {
        if first.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, first);
    }
    let (sx, sy, sxy, sx2) = (sx.value(), sy.value(), sxy.value(), sx2.value());
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// Holt's linear smoothing (`double_exponential_smoothing`): smoothing factor `sf` and trend
/// factor `tf`, both in (0, 1); `None` with fewer than two samples.
pub fn double_exponential_smoothing(samples: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let (mut previous, mut smoothed) = (0.0, samples[0].value);
    let mut trend = samples[1].value - samples[0].value;
    for (i, s) in samples.iter().enumerate().skip(1) {
        if i > 1 {
            trend = tf * (smoothed - previous) + (1.0 - tf) * trend;
        }
        let next = sf * s.value + (1.0 - sf) * (smoothed + trend);
        previous = smoothed;
        smoothed = next;
    }
    Some(smoothed)
}

pub fn resets(samples: &[Sample]) -> f64 {
    samples.windows(2).filter(|w| w[1].value < w[0].value).count() as f64
}

pub fn changes(samples: &[Sample]) -> f64 {
    samples.windows(2).filter(|w| !(w[1].value == w[0].value || (w[1].value.is_nan() && w[0].value.is_nan()))).count() as f64
}

/// The `*_over_time` aggregations by name, and MetricsQL's rollups (`metricsql_rollups`) over
/// the window `start_ms..=end_ms`; `None` when the function yields no value.
pub fn over_time(name: &str, samples: &[Sample], param: f64, (start_ms, end_ms): (i64, i64)) -> Option<f64> {
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let extreme = |want_min: bool| values[1..].iter().fold(values[0], |best, &v| stats::extreme_step(best, v, want_min));
    let ts_of = |pick: &dyn Fn(f64, f64) -> bool| {
        let mut best = samples[0];
        for s in &samples[1..] {
            if pick(s.value, best.value) || (best.value.is_nan() && !s.value.is_nan()) {
                best = *s;
            }
        }
        best.timestamp_ms as f64 / 1000.0
    };
    Some(match name {
        "avg_over_time" => stats::mean(&values),
        "sum_over_time" => stats::sum(&values),
        "count_over_time" => values.len() as f64,
        "min_over_time" => extreme(true),
        "max_over_time" => extreme(false),
        "last_over_time" => *values.last()?,
        "first_over_time" => values[0],
        "present_over_time" => 1.0,
        "stdvar_over_time" => stats::variance(&values),
        "stddev_over_time" => stats::variance(&values).sqrt(),
        "quantile_over_time" => stats::quantile(param, &values),
        "mad_over_time" => {
            // A NaN makes the median, and so the deviation, undefined.
            if values.iter().any(|v| v.is_nan()) {
                return Some(f64::NAN);
            }
            let median = stats::quantile(0.5, &values);
            let deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
            stats::quantile(0.5, &deviations)
        }
        "ts_of_min_over_time" => ts_of(&|v, best| v <= best),
        "ts_of_max_over_time" => ts_of(&|v, best| v >= best),
        "ts_of_last_over_time" => samples.last()?.timestamp_ms as f64 / 1000.0,
        "ts_of_first_over_time" => samples[0].timestamp_ms as f64 / 1000.0,
        _ => return metricsql_rollups::rollup_value(name, samples, RollupWindow { start_ms, end_ms, param }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(points: &[(i64, f64)]) -> Vec<Sample> {
        points.iter().map(|&(t, v)| Sample { timestamp_ms: t, value: v }).collect()
    }

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // A counter going up 10 per 15 s, window of 60 s ending on a sample: 4 intervals seen.
        let samples = s(&[(15_000, 10.0), (30_000, 20.0), (45_000, 30.0), (60_000, 40.0)]);
        let r = extrapolated_rate(&samples, 0, 60_000, true, true).unwrap();
        // to_start = 15 s (< the 16.5 s threshold, so kept); the zero point 45*(10/30) = 15 s is not
        // closer; to_end = 0: the increase 30 is extrapolated over 60 of 45 sampled seconds.
        let expected = 30.0 * (45.0 + 15.0 + 0.0) / 45.0 / 60.0;
        assert!((r - expected).abs() < 1e-12, "{r} vs {expected}");
        assert_eq!(instant_value(&samples, true), Some(10.0 / 15.0));
        assert_eq!(resets(&s(&[(1, 5.0), (2, 1.0), (3, 2.0), (4, 0.0)])), 2.0);
    }

    #[test]
    fn double_exponential_smoothing_follows_a_line() {
        // On an exact line the trend is the slope and the smoothed value the last sample.
        let line = s(&[(0, 0.0), (1000, 10.0), (2000, 20.0), (3000, 30.0)]);
        let v = double_exponential_smoothing(&line, 0.5, 0.5).unwrap();
        assert!((v - 30.0).abs() < 1e-9, "{v}");
        // A step: sf=0.5, tf=0.5 by hand: s=0,b=0 -> x1: 0.5*0+0.5*(0+0)=0; b=0.5*0+0.5*0=0 -> 0.5*10+0.5*0=5.
        let step = s(&[(0, 0.0), (1000, 0.0), (2000, 10.0)]);
        assert_eq!(double_exponential_smoothing(&step, 0.5, 0.5), Some(5.0));
        assert_eq!(double_exponential_smoothing(&step[..1], 0.5, 0.5), None);
    }

    #[test]
    fn anchored_and_smoothed_rates_do_not_extrapolate() {
        // Prometheus' PROM-52 example: 1 2 3 4 5 9 10 ... every 15 s, window of 1 m.
        let samples = s(&[(0, 1.0), (15_000, 2.0), (30_000, 3.0), (45_000, 4.0), (60_000, 5.0), (75_000, 9.0), (90_000, 10.0)]);
        // Anchored at 80 s: left edge is the sample at 15 s (2), right edge the one at 75 s (9).
        assert_eq!(extended_rate(&samples[..6], 20_000, 80_000, false, true, false), Some(7.0));
        // Smoothed at 65 s: left interpolated at 5 s (1.333), right at 65 s between 5 and 9 (6.333).
        let v = extended_rate(&samples, 5_000, 65_000, true, true, false).unwrap();
        assert!((v - 5.0).abs() < 1e-9, "{v}");
        // A reset between the edges is corrected; interpolation across a reset starts from 0.
        let reset = s(&[(0, 100.0), (15_000, 10.0)]);
        let v = extended_rate(&reset, 2_000, 12_000, true, true, true).unwrap();
        assert!((v - (8.0 - 10.0 * 2.0 / 15.0) / 10.0).abs() < 1e-9, "{v}");
        // Nothing after the range start: no result.
        assert_eq!(extended_rate(&samples[..2], 20_000, 80_000, false, true, false), None);
        assert_eq!(anchored_start(&samples, 20_000), Some(1));
        assert_eq!(anchored_start(&samples, 90_000), None);
    }

    #[test]
    fn smoothed_instant_values_interpolate() {
        let samples = s(&[(0, 1.0), (10_000, 2.0), (20_000, 4.0)]);
        assert_eq!(smoothed_value(&samples, 10_000), Some(2.0));
        assert_eq!(smoothed_value(&samples, 15_000), Some(3.0));
        assert_eq!(smoothed_value(&samples, 25_000), Some(4.0));
        assert_eq!(smoothed_value(&samples[1..], 5_000), None);
        let extended = extend_window(&samples, 5_000, 15_000, true);
        assert_eq!(extended, s(&[(5_000, 1.5), (10_000, 2.0), (15_000, 3.0)]));
        assert_eq!(extend_window(&samples, 5_000, 15_000, false), s(&[(5_000, 1.0), (10_000, 2.0), (15_000, 4.0)]));
    }

    #[test]
    fn regression() {
        let (slope, intercept) = linear_regression(&s(&[(0, 1.0), (1000, 3.0), (2000, 5.0)]), 0);
        assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12);
    }
}
