//! Functions over range vectors: rate/increase/delta with Prometheus' extrapolation,
//! irate/idelta, deriv/predict_linear (Kahan linear regression), resets, changes and
//! the `*_over_time` family.

use tsdb::Sample;

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
    let mut to_start = (first.timestamp_ms - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.timestamp_ms) as f64 / 1000.0;
    let sampled = (last.timestamp_ms - first.timestamp_ms) as f64 / 1000.0;
    let average = sampled / (samples.len() - 1) as f64;
    let threshold = average * 1.1;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if is_counter {
        let mut to_zero = to_start;
        if result > 0.0 && first.value >= 0.0 {
            to_zero = sampled * (first.value / result);
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
    Some(result * factor)
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

/// The `*_over_time` aggregations by name; `None` when the function yields no value.
pub fn over_time(name: &str, samples: &[Sample], param: f64) -> Option<f64> {
    let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
    let extreme = |want_min: bool| {
        let mut best = values[0];
        for &v in &values[1..] {
            if (if want_min { v < best } else { v > best }) || best.is_nan() {
                best = v;
            }
        }
        best
    };
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
        _ => return None,
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
    fn regression() {
        let (slope, intercept) = linear_regression(&s(&[(0, 1.0), (1000, 3.0), (2000, 5.0)]), 0);
        assert!((slope - 2.0).abs() < 1e-12 && (intercept - 1.0).abs() < 1e-12);
    }
}
