//! Classic histograms (`le`-labelled bucket series) for `histogram_quantile(s)` and
//! `histogram_fraction`: grouping buckets by their labels without `le`, setting aside a native
//! histogram and a classic one that share a label set (Prometheus' `resetHistograms`), and the
//! quantile and fraction of a group's cumulative buckets.

use std::collections::HashMap;
use std::sync::Arc;

use tsdb::{FloatHistogram, Labels};

use super::annotations::Annotation;
use super::eval::Elem;
/// Relative difference between adjacent cumulative counts that counts as float noise, not a
/// decrease (Prometheus' `smallDeltaTolerance`).
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One step's input to a histogram function, split as Prometheus' `resetHistograms` does.
#[derive(Default)]
pub(super) struct HistogramInput {
    /// The native histogram elements, in input order.
    pub natives: Vec<(Labels, Arc<FloatHistogram>)>,
    /// The classic histograms: labels without `le`, and (upper bound, cumulative count) buckets.
    pub classic: Vec<(Labels, Vec<(f64, f64)>)>,
    /// Warnings about what was left out: bucket series without a parsable `le`, native and
    /// classic histograms sharing labels.
    pub warnings: Vec<Annotation>,
}

/// Splits `input` into native histograms and classic bucket groups. Float elements without a
/// parsable `le` are left out (with a warning). A native histogram whose labels equal a
/// classic group's is left out together with that group (which one was meant is unknown).
/// Warnings name the metric when `named` (Prometheus does under delayed name removal only).
pub(super) fn split_histograms(input: Vec<Elem>, named: bool) -> HistogramInput {
    let mut out = HistogramInput::default();
    let metric = |labels: &Labels| if named { labels.get(tsdb::METRIC_NAME_LABEL).unwrap_or("").to_string() } else { String::new() };
    let mut group_of: HashMap<Labels, usize> = HashMap::new();
    for e in input {
        if let Some(h) = e.histogram {
            out.natives.push((e.labels, h));
            continue;
        }
        let le = e.labels.get("le");
        let Some(bound) = le.and_then(parse_bucket_bound) else {
            out.warnings.push(Annotation::BadBucketLabel { metric: metric(&e.labels), le: le.unwrap_or("").to_string() });
            continue;
        };
        let key = Labels::from_sorted(e.labels.iter().filter(|l| l.name != "le"));
        let i = *group_of.entry(key.clone()).or_insert_with(|| {
            out.classic.push((key, Vec::new()));
            out.classic.len() - 1
        });
        out.classic[i].1.push((bound, e.value));
    }
    if !out.natives.is_empty() && !out.classic.is_empty() {
        let mut conflicting = vec![false; out.classic.len()];
        let warnings = &mut out.warnings;
        out.natives.retain(|(labels, _)| match group_of.get(labels) {
            Some(&i) => {
                conflicting[i] = true;
                warnings.push(Annotation::MixedClassicNativeHistograms { metric: metric(labels) });
                false
            }
            None => true,
        });
        let mut flags = conflicting.into_iter();
        out.classic.retain(|_| !flags.next().unwrap_or(false));
    }
    out
}

/// An `le` label's bound (Go's `ParseFloat` spellings of infinity included; like it, no
/// surrounding spaces).
fn parse_bucket_bound(le: &str) -> Option<f64> {
    match le {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        text => text.parse().ok(),
    }
}

/// Go's `sort.Search`: the first index in `0..n` where `f` holds, by its own bisection (the
/// same answer as Prometheus' where `f` is not monotonic, e.g. with NaN counts).
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = i + (j - i) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// Prometheus' `almost.Equal`: equal within a relative `epsilon` (absolute near zero).
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if tsdb::is_stale_nan(a) || tsdb::is_stale_nan(b) {
        return tsdb::is_stale_nan(a) && tsdb::is_stale_nan(b);
    }
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let (abs_sum, diff) = (a.abs() + b.abs(), (a - b).abs());
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// Buckets sorted by bound with equal bounds merged; `None` without a `+Inf` bucket, or with
/// a bucket bounded by NaN (`le="NaN"`, which Prometheus does not expect and places wherever
/// its sort leaves it; a NaN result is the one answer that does not depend on that).
fn sorted_buckets(mut buckets: Vec<(f64, f64)>) -> Option<Vec<(f64, f64)>> {
    if buckets.iter().any(|(bound, _)| bound.is_nan()) {
        return None;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return None;
    }
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (bound, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == bound => last.1 += count,
            _ => merged.push((bound, count)),
        }
    }
    Some(merged)
}

/// Where `histogram_quantile` had to flatten decreasing classic buckets: the lowest and highest
/// bound of a bucket it lowered, and the largest decrease.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ForcedMonotonicity {
    pub min_bucket: f64,
    pub max_bucket: f64,
    pub max_diff: f64,
}

/// Quantile `q` of buckets given as (upper bound, cumulative count), as Prometheus'
/// `BucketQuantile`: differences within float noise are ignored and decreases flattened (and
/// where, for the info Prometheus gives).
pub fn bucket_quantile_noting(q: f64, buckets: Vec<(f64, f64)>) -> (f64, Option<ForcedMonotonicity>) {
    if q.is_nan() {
        return (f64::NAN, None);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, None);
    }
    if q > 1.0 {
        return (f64::INFINITY, None);
    }
    let Some(mut merged) = sorted_buckets(buckets) else { return (f64::NAN, None) };
    let mut forced: Option<ForcedMonotonicity> = None;
    let mut previous = merged[0].1;
    for bucket in &mut merged[1..] {
        let current = bucket.1;
        if current == previous {
            continue;
        }
        // Noise or a decrease: the bucket takes the previous count, which stays the reference.
        if almost_equal(previous, current, SMALL_DELTA_TOLERANCE) {
            bucket.1 = previous;
            continue;
        }
        if current < previous {
            bucket.1 = previous;
            let f = forced.get_or_insert(ForcedMonotonicity { min_bucket: f64::INFINITY, max_bucket: f64::NEG_INFINITY, max_diff: 0.0 });
            f.min_bucket = f.min_bucket.min(bucket.0);
            f.max_bucket = f.max_bucket.max(bucket.0);
            f.max_diff = f.max_diff.max(previous - current);
            continue;
        }
        previous = current;
    }
    (bucket_quantile_of_monotonic(q, merged), forced)
}

/// Quantile `q` (within [0, 1]) of sorted, merged, monotonic buckets.
fn bucket_quantile_of_monotonic(q: f64, merged: Vec<(f64, f64)>) -> f64 {
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    // Searched below the +Inf bucket (as Prometheus does): with negative counts (e.g. from
    // `delta`) every bucket can lie below the rank.
    let b = go_search(merged.len() - 1, |i| merged[i].1 >= rank);
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

/// The fraction of observations between `lower` and `upper` in buckets given as (upper bound,
/// cumulative count), interpolating linearly inside a bucket (Prometheus' `BucketFraction`).
/// The first bucket starts at 0 when its bound is positive, else at -Inf; nothing is
/// interpolated inside a bucket with an infinite edge.
pub fn bucket_fraction(lower: f64, upper: f64, buckets: Vec<(f64, f64)>) -> f64 {
    let Some(buckets) = sorted_buckets(buckets) else { return f64::NAN };
    let count = buckets[buckets.len() - 1].1;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, None, None);
    let mut lower_bound = if buckets[0].0 <= 0.0 { f64::NEG_INFINITY } else { 0.0 };
    for (i, &(upper_bound, cumulative)) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].0;
        }
        let interpolate = |v: f64| if lower_bound == f64::NEG_INFINITY { cumulative } else { rank + (cumulative - rank) * (v - lower_bound) / (upper_bound - lower_bound) };
        if lower_rank.is_none() && lower_bound >= lower {
            lower_rank = Some(rank);
        }
        if upper_rank.is_none() && lower_bound >= upper {
            upper_rank = Some(rank);
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        if lower_rank.is_none() && lower_bound < lower && upper_bound > lower {
            lower_rank = Some(interpolate(lower));
        }
        if upper_rank.is_none() && lower_bound < upper && upper_bound > upper {
            upper_rank = Some(interpolate(upper));
        }
        if lower_rank.is_some() && upper_rank.is_some() {
            break;
        }
        rank = cumulative;
    }
    // A rank above the count is the count (NaN stays NaN, as in Prometheus).
    let at_most_count = |r: Option<f64>| match r {
        Some(r) if r.partial_cmp(&count) != Some(std::cmp::Ordering::Greater) => r,
        _ => count,
    };
    (at_most_count(upper_rank) - at_most_count(lower_rank)) / count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket_quantile(q: f64, buckets: Vec<(f64, f64)>) -> f64 {
        bucket_quantile_noting(q, buckets).0
    }

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
    fn a_bucket_bounded_by_nan_gives_nan_whatever_the_order() {
        // Enough buckets that a sort by a comparison that is no total order could panic.
        let mut buckets: Vec<(f64, f64)> = (0..40).map(|i| (f64::from(i), f64::from(i))).collect();
        buckets.push((f64::INFINITY, 40.0));
        for at in [0, 17, 41] {
            let mut with_nan = buckets.clone();
            with_nan.insert(at, (f64::NAN, 5.0));
            assert!(bucket_quantile(0.5, with_nan.clone()).is_nan());
            assert!(bucket_fraction(0.0, 10.0, with_nan).is_nan());
        }
        assert!((bucket_quantile(0.5, buckets) - 20.0).abs() < 1e-9);
    }

    #[test]
    fn flattened_decreases_are_reported() {
        let (q, forced) = bucket_quantile_noting(0.5, vec![(1.0, 5.0), (2.0, 4.0), (3.0, 10.0), (4.0, 7.5), (f64::INFINITY, 10.0)]);
        assert!((q - 1.0).abs() < 1e-9, "{q}");
        assert_eq!(forced, Some(ForcedMonotonicity { min_bucket: 2.0, max_bucket: 4.0, max_diff: 2.5 }));
        // Noise is corrected silently.
        assert_eq!(bucket_quantile_noting(0.5, vec![(1.0, 10.0), (2.0, 10.0 * (1.0 - 1e-13)), (f64::INFINITY, 10.0)]).1, None);
    }

    #[test]
    fn small_differences_count_as_equal() {
        // 1e-13 relative above the first bucket: noise, so the first bucket holds all the rank.
        let buckets = vec![(1.0, 10.0), (2.0, 10.0 * (1.0 + 1e-13)), (f64::INFINITY, 10.0 * (1.0 + 1e-13))];
        assert_eq!(bucket_quantile(1.0, buckets), 1.0);
    }

    #[test]
    fn fractions_of_buckets() {
        let inf = f64::INFINITY;
        let two_to_six = vec![(0.0, 0.0), (2.0, 1.0), (4.0, 2.0), (6.0, 3.0), (inf, 3.0)];
        // (lower, upper, buckets, expected fraction)
        type Case = (f64, f64, Vec<(f64, f64)>, f64);
        let cases: Vec<Case> = vec![
            (0.0, 4.0, two_to_six.clone(), 2.0 / 3.0),
            (0.0, 3.5, two_to_six.clone(), 1.75 / 3.0),
            (3.0, 2.0, two_to_six.clone(), 0.0),
            // Positive first bound: the first bucket starts at 0.
            (0.0, 0.5, vec![(1.0, 2.0), (inf, 4.0)], 0.25),
            // Nothing is interpolated in the -Inf and +Inf buckets: a bound inside the first
            // takes all of it, one inside the last none of it.
            (-inf, -1.5, vec![(-1.0, 2.0), (0.0, 3.0), (inf, 4.0)], 0.5),
            (-inf, inf, vec![(-1.0, 2.0), (inf, 4.0)], 1.0),
            (5.0, 10.0, vec![(1.0, 2.0), (inf, 4.0)], 0.0),
        ];
        for (lower, upper, buckets, want) in cases {
            let got = bucket_fraction(lower, upper, buckets.clone());
            assert!((got - want).abs() < 1e-12, "({lower}, {upper}) of {buckets:?}: {got} != {want}");
        }
        assert!(bucket_fraction(f64::NAN, 1.0, two_to_six.clone()).is_nan());
        assert!(bucket_fraction(0.0, 1.0, vec![(1.0, 0.0), (inf, 0.0)]).is_nan());
        assert!(bucket_fraction(0.0, 1.0, vec![(1.0, 1.0)]).is_nan());
    }

    #[test]
    fn a_native_and_a_classic_histogram_with_one_label_set_are_both_left_out() {
        let h = Arc::new(FloatHistogram::default());
        let bucket = |host: &str, le: &str, v: f64| Elem::new(Labels::from_pairs([("__name__", "x"), ("host", host), ("le", le)]), v, false);
        let input = vec![
            Elem::with_histogram(Labels::from_pairs([("__name__", "x"), ("host", "a")]), h.clone(), false),
            Elem::with_histogram(Labels::from_pairs([("__name__", "x"), ("host", "c")]), h, false),
            bucket("a", "1", 1.0),
            bucket("a", "+Inf", 2.0),
            bucket("b", "1", 1.0),
            bucket("b", "+Inf", 2.0),
            bucket("b", "oops", 3.0),
        ];
        let split = split_histograms(input, true);
        let hosts = |labels: &Labels| labels.get("host").unwrap_or("").to_string();
        assert_eq!(split.natives.iter().map(|(l, _)| hosts(l)).collect::<Vec<_>>(), ["c"]);
        assert_eq!(split.classic.iter().map(|(l, b)| (hosts(l), b.len())).collect::<Vec<_>>(), [("b".to_string(), 2)]);
        assert_eq!(
            split.warnings,
            vec![Annotation::BadBucketLabel { metric: "x".into(), le: "oops".into() }, Annotation::MixedClassicNativeHistograms { metric: "x".into() }]
        );
    }
}
