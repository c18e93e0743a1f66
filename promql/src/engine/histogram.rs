//! `histogram_quantile` over classic buckets (`le` labels): grouping by the labels
//! without `le`, monotonicity repair, and linear interpolation inside the bucket.

use std::collections::HashMap;

use tsdb::Labels;

use super::eval::Elem;

/// OpenMetrics float text (Go's `FormatOpenMetricsFloat`): shortest `%g`, always with a `.` or
/// exponent (`0.0`, `1.0`, `0.25`, `1e-05`), `NaN`, `+Inf`, `-Inf`.
pub fn open_metrics_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let text = if v != 0.0 && !(-4..6).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        format!("{v}")
    };
    if text.contains(['.', 'e']) { text } else { format!("{text}.0") }
}

/// Quantile `q` of buckets given as (upper bound, cumulative count).
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce equal bounds, then force cumulative counts to be monotonic.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    for i in 1..merged.len() {
        if merged[i].1 < merged[i - 1].1 {
            merged[i].1 = merged[i - 1].1;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // Searched below the +Inf bucket (as Prometheus does): with negative counts (e.g. from
    // `delta`) every bucket can lie below the rank.
    let b = merged[..merged.len() - 1].partition_point(|(_, count)| *count < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Applies `histogram_quantile(q, v)` to one step's vector.
/// Buckets are grouped by all their labels but `le` (the metric name included, removed later).
pub(super) fn histogram_quantile(q: f64, v: Vec<Elem>) -> Vec<Elem> {
    let mut order = Vec::new();
    let mut groups: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
    for Elem { labels, value: count, .. } in v {
        let Some(le) = labels.get("le") else { continue };
        let bound: f64 = match le.trim() {
            "+Inf" | "Inf" | "+inf" | "inf" => f64::INFINITY,
            "-Inf" | "-inf" => f64::NEG_INFINITY,
            text => match text.parse() {
                Ok(b) => b,
                Err(_) => continue,
            },
        };
        let key = Labels::from_sorted(labels.iter().filter(|l| l.name != "le"));
        groups.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            Vec::new()
        });
        if let Some(g) = groups.get_mut(&key) {
            g.push((bound, count));
        }
    }
    order.into_iter().filter_map(|key| groups.remove(&key).map(|b| Elem::new(key, bucket_quantile(q, b), true))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_within_bucket() {
        let buckets = vec![(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (f64::INFINITY, 40.0)];
        assert!((bucket_quantile(0.5, buckets.clone()) - 0.3).abs() < 1e-9);
        assert_eq!(bucket_quantile(1.0, buckets.clone()), 1.0);
        assert!(bucket_quantile(0.5, vec![(1.0, 1.0)]).is_nan());
        // Negative counts (a `delta` of buckets): the rank lies above every bucket below +Inf.
        assert_eq!(bucket_quantile(0.9, vec![(1.0, -3.0), (f64::INFINITY, -5.0)]), 1.0);
    }

    #[test]
    fn open_metrics_floats() {
        for (v, text) in [(0.0, "0.0"), (1.0, "1.0"), (0.25, "0.25"), (-0.1, "-0.1"), (1e-5, "1e-05"), (f64::NAN, "NaN"), (f64::INFINITY, "+Inf"), (100.0, "100.0"), (1e6, "1e+06"), (123456.5, "123456.5")] {
            assert_eq!(open_metrics_float(v), text);
        }
    }
}
