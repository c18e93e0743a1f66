//! VictoriaMetrics' bucket arithmetic: `vmrange` buckets turned into cumulative `le` buckets
//! (`prometheus_buckets`, which every VictoriaMetrics histogram function does first), `le`
//! buckets grouped per histogram, and the quantile, share, mean, variance and bucket limit of
//! one histogram at one step, each with VictoriaMetrics' handling of broken buckets.

use std::collections::HashMap;

use tsdb::{Labels, METRIC_NAME_LABEL};

use super::super::series_wide::Column;

pub(in crate::engine) const VMRANGE: &str = "vmrange";
pub(in crate::engine) const LE: &str = "le";

/// `labels` without the labels named in `names`.
pub(in crate::engine) fn without(labels: &Labels, names: &[&str]) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| !names.contains(&l.name)))
}

/// `labels` with `name` set to `value`.
pub(in crate::engine) fn with_label(labels: &Labels, name: &str, value: &str) -> Labels {
    let pairs = labels.iter().filter(|l| l.name != name).map(|l| (l.name.to_string(), l.value.to_string()));
    Labels::from_pairs(pairs.chain(std::iter::once((name.to_string(), value.to_string()))))
}

/// A bucket bound as Go's `strconv.ParseFloat` reads the decimal forms (`Inf`, `+Inf`, `NaN` too).
pub(in crate::engine) fn parse_bound(text: &str) -> Option<f64> {
    text.parse().ok()
}

/// One `vmrange` bucket series: its bounds as written and read, and where its column is.
struct Range {
    start_text: String,
    end_text: String,
    start: f64,
    end: f64,
    column: usize,
}

/// VictoriaMetrics' `vmrangeBucketsToLE`: per histogram (the labels without `vmrange` and
/// `le`), its `vmrange` buckets ordered by upper bound become cumulative buckets labelled
/// `le="<upper bound as written>"`. A bucket empty at every step (no value above 0) is left
/// out; a bucket whose lower bound is not the upper bound of the non-empty bucket before it
/// gets an empty `le="<lower bound>"` bucket before it; a histogram whose last bucket is not
/// `+Inf` gets `le="+Inf"`. Two buckets with one upper bound merge only when they have no
/// more than two steps in common and more than two steps each, else the first one is kept.
/// Series with `le` and no `vmrange` are kept as they are; series with neither, or with a
/// `vmrange` that is not `<number>...<number>`, are left out. Values that are NaN or not
/// above 0 count as 0.
pub(in crate::engine) fn vmrange_to_le(input: Vec<Column>) -> Vec<Column> {
    let mut out = Vec::new();
    let mut arena: Vec<Option<Column>> = Vec::new();
    let mut groups: Vec<Vec<Range>> = Vec::new();
    let mut group_of: HashMap<Labels, usize> = HashMap::new();
    for column in input {
        let Some(vmrange) = column.labels.get(VMRANGE) else {
            if column.labels.get(LE).is_some() {
                out.push(column);
            }
            continue;
        };
        let Some((start_text, end_text)) = vmrange.split_once("...") else { continue };
        let (Some(start), Some(end)) = (parse_bound(start_text), parse_bound(end_text)) else { continue };
        let (start_text, end_text) = (start_text.to_string(), end_text.to_string());
        let key = without(&column.labels, &[LE, VMRANGE]);
        let g = *group_of.entry(key.clone()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        arena.push(Some(Column { labels: key, ..column }));
        groups[g].push(Range { start_text, end_text, start, end, column: arena.len() - 1 });
    }
    let values = |arena: &[Option<Column>], i: usize| arena[i].as_ref().map(|c| c.values.clone()).unwrap_or_default();
    for mut ranges in groups {
        ranges.sort_by(|a, b| a.end.total_cmp(&b.end));
        // Columns (arena indices) in `le` order, and the column each written bound names.
        let mut kept: Vec<usize> = Vec::new();
        let mut by_bound: HashMap<String, usize> = HashMap::new();
        let mut previous: Option<(f64, usize)> = None;
        for r in &ranges {
            if !values(&arena, r.column).iter().any(|v| *v > 0.0) {
                continue;
            }
            if r.start != previous.map_or(0.0, |p| p.0) && !by_bound.contains_key(&r.start_text) {
                by_bound.insert(r.start_text.clone(), r.column);
                arena.push(arena[r.column].as_ref().map(|c| empty_bucket(c, &r.start_text)));
                kept.push(arena.len() - 1);
            }
            if let Some(c) = arena[r.column].as_mut() {
                c.labels = with_label(&c.labels, LE, &r.end_text);
            }
            match by_bound.get(&r.end_text) {
                Some(&earlier) => merge_non_overlapping(&mut arena, earlier, r.column),
                None => {
                    by_bound.insert(r.end_text.clone(), r.column);
                    kept.push(r.column);
                }
            }
            previous = Some((r.end, r.column));
        }
        if let Some((end, column)) = previous {
            if end != f64::INFINITY {
                arena.push(arena[column].as_ref().map(|c| empty_bucket(c, "+Inf")));
                kept.push(arena.len() - 1);
            }
        }
        let mut columns: Vec<Column> = kept.iter().filter_map(|&i| arena[i].take()).collect();
        let steps = columns.first().map_or(0, |c| c.values.len());
        for step in 0..steps {
            let mut count = 0.0;
            for c in &mut columns {
                let v = c.values[step];
                if v > 0.0 {
                    count += v;
                }
                c.values[step] = count;
            }
        }
        out.extend(columns);
    }
    out
}

/// A bucket with `column`'s labels, `le="<bound>"` and no observations.
fn empty_bucket(column: &Column, bound: &str) -> Column {
    Column { labels: with_label(&column.labels, LE, bound), drop_name: column.drop_name, values: vec![0.0; column.values.len()] }
}

/// VictoriaMetrics' `mergeNonOverlappingTimeseries`: `src`'s values into `dst` where `src` has
/// one, unless they share more than two steps or both have two steps or fewer.
fn merge_non_overlapping(arena: &mut [Option<Column>], dst: usize, src: usize) {
    let Some(src_values) = arena.get(src).and_then(Option::as_ref).map(|c| c.values.clone()) else { return };
    let Some(Some(dst)) = arena.get_mut(dst) else { return };
    let overlaps = src_values.iter().zip(&dst.values).filter(|(s, d)| !s.is_nan() && !d.is_nan()).count();
    if overlaps > 2 || (src_values.len() <= 2 && dst.values.len() <= 2) {
        return;
    }
    for (d, s) in dst.values.iter_mut().zip(src_values) {
        if !s.is_nan() {
            *d = s;
        }
    }
}

/// One histogram's `le` buckets at one step: (upper bound, cumulative count), and the
/// histogram's labels (without `le` and the metric name).
#[derive(Clone)]
pub(in crate::engine) struct LeHistogram {
    pub labels: Labels,
    pub buckets: Vec<(f64, f64)>,
}

/// VictoriaMetrics' `groupLeTimeseries` for one step: the elements with a parsable `le`
/// grouped by their other labels (the metric name not among them), in order of first
/// appearance, each group's buckets sorted by bound.
pub(in crate::engine) fn group_le(input: impl IntoIterator<Item = (Labels, f64)>) -> Vec<LeHistogram> {
    let mut out: Vec<LeHistogram> = Vec::new();
    let mut group_of: HashMap<Labels, usize> = HashMap::new();
    for (labels, value) in input {
        let Some(le) = labels.get(LE).and_then(parse_bound) else { continue };
        let key = without(&labels, &[LE, METRIC_NAME_LABEL]);
        let g = *group_of.entry(key.clone()).or_insert_with(|| {
            out.push(LeHistogram { labels: key, buckets: Vec::new() });
            out.len() - 1
        });
        out[g].buckets.push((le, value));
    }
    for h in &mut out {
        h.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// VictoriaMetrics' `mergeSameLE`: buckets with one bound summed into the first of them.
pub(in crate::engine) fn merge_same_le(buckets: &mut Vec<(f64, f64)>) {
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(le, v) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += v,
            _ => merged.push((le, v)),
        }
    }
    *buckets = merged;
}

/// VictoriaMetrics' `fixBrokenBuckets`: a NaN first count is 0; a count that is NaN or below
/// the one before takes the one before.
fn fix_broken_buckets(buckets: &mut [(f64, f64)]) {
    if buckets.len() < 2 {
        return;
    }
    if buckets[0].1.is_nan() {
        buckets[0].1 = 0.0;
    }
    let mut previous = buckets[0].1;
    for b in &mut buckets[1..] {
        if b.1.is_nan() || previous > b.1 {
            b.1 = previous;
        } else {
            previous = b.1;
        }
    }
}

/// Quantile `phi` of sorted, merged buckets as VictoriaMetrics estimates it, with the bounds
/// of the bucket it lies in: (estimate, lower, upper). Empty buckets are skipped (so φ = 0 is
/// the lower bound of the first non-empty bucket); a quantile in the `+Inf` bucket is the
/// highest finite bound; φ below 0 is -Inf and above 1 +Inf; no observations give NaN.
pub(in crate::engine) fn quantile(phi: f64, buckets: &mut [(f64, f64)]) -> (f64, f64, f64) {
    let nan = f64::NAN;
    if phi.is_nan() {
        return (nan, nan, nan);
    }
    fix_broken_buckets(buckets);
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total == 0.0 {
        return (nan, nan, nan);
    }
    if phi < 0.0 {
        return (f64::NEG_INFINITY, f64::NEG_INFINITY, buckets[0].1);
    }
    if phi > 1.0 {
        return (f64::INFINITY, total, f64::INFINITY);
    }
    let wanted = total * phi;
    let (mut previous_count, mut previous_le) = (0.0, 0.0);
    for &(le, v) in buckets.iter() {
        if v <= 0.0 {
            previous_le = le;
            continue;
        }
        if v < wanted {
            (previous_count, previous_le) = (v, le);
            continue;
        }
        if le.is_infinite() {
            break;
        }
        if v == previous_count {
            return (previous_le, previous_le, v);
        }
        let estimate = previous_le + (le - previous_le) * (wanted - previous_count) / (v - previous_count);
        return (estimate, previous_le, le);
    }
    let highest_finite = buckets.iter().rev().map(|b| b.0).find(|le| !le.is_infinite()).unwrap_or(nan);
    (highest_finite, highest_finite, f64::INFINITY)
}

/// The share of observations at or below `le` in sorted, merged buckets (VictoriaMetrics'
/// `histogram_share`), interpolated linearly inside a bucket, with the shares at the bucket's
/// bounds: (share, lower, upper). Below 0 it is 0, at +Inf 1.
pub(in crate::engine) fn share(le: f64, buckets: &mut [(f64, f64)]) -> (f64, f64, f64) {
    if le.is_nan() || buckets.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    if le < 0.0 {
        return (0.0, 0.0, 0.0);
    }
    if le == f64::INFINITY {
        return (1.0, 1.0, 1.0);
    }
    fix_broken_buckets(buckets);
    let total = buckets.last().map_or(f64::NAN, |b| b.1);
    let (mut previous_count, mut previous_le) = (0.0, 0.0);
    for &(bound, v) in buckets.iter() {
        if le >= bound {
            (previous_count, previous_le) = (v, bound);
            continue;
        }
        let lower = previous_count / total;
        if bound == f64::INFINITY {
            return (lower, lower, 1.0);
        }
        if previous_le == le {
            return (lower, lower, lower);
        }
        let upper = v / total;
        let estimate = lower + (v - previous_count) / total * (le - previous_le) / (bound - previous_le);
        return (estimate, lower, upper);
    }
    (1.0, 1.0, 1.0)
}

/// The mean and variance of sorted buckets as VictoriaMetrics estimates them: each bucket's
/// observations at the middle of its bounds (the first bucket starts at 0), the `+Inf`
/// bucket left out; NaN without observations. A variance below 0 (float error) is 0.
pub(in crate::engine) fn mean_and_variance(buckets: &[(f64, f64)]) -> (f64, f64) {
    let (mut previous_le, mut previous_count) = (0.0, 0.0);
    let (mut sum, mut sum_of_squares, mut weight_total) = (0.0, 0.0, 0.0);
    for &(le, v) in buckets.iter().filter(|b| !b.0.is_infinite()) {
        let middle = (le + previous_le) / 2.0;
        let weight = v - previous_count;
        sum += middle * weight;
        sum_of_squares += middle * middle * weight;
        weight_total += weight;
        (previous_le, previous_count) = (le, v);
    }
    if weight_total == 0.0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = sum / weight_total;
    let variance = sum_of_squares / weight_total - mean * mean;
    (mean, if variance < 0.0 { 0.0 } else { variance })
}

/// VictoriaMetrics' `buckets_limit` for one histogram: which of its buckets (indices into
/// `hits`, the observations of each bucket alone summed over the steps, sorted by bound) to
/// keep so that at most `limit` (at least 3) remain. Empty buckets at either end go first (the
/// high end first); then, while too many remain, the inner bucket whose observations together
/// with the next bucket's are fewest is merged into that next one. The first and last bucket
/// are always kept.
pub(in crate::engine) fn limited_buckets(limit: usize, hits: &[f64]) -> Vec<usize> {
    let limit = limit.max(3);
    if hits.len() <= limit {
        return (0..hits.len()).collect();
    }
    let is_empty = |h: f64| !h.is_nan() && h.abs() < 1e-9;
    let (mut l, mut r) = (0, hits.len() - 1);
    while r - l + 1 > limit && is_empty(hits[r]) {
        r -= 1;
    }
    while r - l + 1 > limit && is_empty(hits[l]) {
        l += 1;
    }
    let mut hits: Vec<(usize, f64)> = (l..=r).map(|i| (i, hits[i])).collect();
    while hits.len() > limit {
        let mut smallest = 1;
        let mut smallest_hits = hits[1].1 + hits[2].1;
        for i in 1..hits.len() - 2 {
            let merged = hits[i].1 + hits[i + 1].1;
            if merged < smallest_hits {
                (smallest, smallest_hits) = (i, merged);
            }
        }
        hits[smallest + 1].1 += hits[smallest].1;
        hits.remove(smallest);
    }
    hits.into_iter().map(|(i, _)| i).collect()
}

/// Each bucket's own observations summed over the steps: its cumulative count less the one
/// below it (NaN stays NaN, as there), for columns sorted by bound.
pub(in crate::engine) fn bucket_hits(columns: &[&Column]) -> Vec<f64> {
    let mut hits = vec![0.0; columns.len()];
    let steps = columns.first().map_or(0, |c| c.values.len());
    for step in 0..steps {
        let mut previous = 0.0;
        for (hit, c) in hits.iter_mut().zip(columns) {
            let v = c.values.get(step).copied().unwrap_or(f64::NAN);
            *hit += v - previous;
            previous = v;
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(pairs: &[(&str, &str)], values: &[f64]) -> Column {
        Column { labels: Labels::from_pairs(pairs.iter().copied()), drop_name: false, values: values.to_vec() }
    }

    fn le_values(out: &[Column]) -> Vec<(String, Vec<f64>)> {
        out.iter().map(|c| (c.labels.get(LE).unwrap_or("").to_string(), c.values.clone())).collect()
    }

    #[test]
    fn vmrange_buckets_become_cumulative_le_buckets() {
        // VictoriaMetrics' `prometheus_buckets(valid)` case at its first step (t=1000).
        let input = vec![
            column(&[("__name__", "xxx"), ("foo", "bar"), ("vmrange", "0...0")], &[90.0]),
            column(&[("__name__", "xxx"), ("foo", "bar"), ("vmrange", "0...0.2")], &[50.0]),
            column(&[("__name__", "xxx"), ("foo", "bar"), ("vmrange", "0.2...40")], &[10.0]),
            column(&[("__name__", "xxx"), ("foo", "bar"), ("vmrange", "40...Inf")], &[100.0]),
        ];
        let got = le_values(&vmrange_to_le(input));
        let want = [("0", 90.0), ("0.2", 140.0), ("40", 150.0), ("Inf", 250.0)];
        assert_eq!(got, want.iter().map(|(le, v)| (le.to_string(), vec![*v])).collect::<Vec<_>>());
    }

    #[test]
    fn gaps_and_empty_buckets_get_a_zero_bucket_at_their_lower_bound() {
        // 1..2 empty at every step, 4..8 empty at the second; +Inf is added.
        let input = vec![
            column(&[("vmrange", "1...2")], &[0.0, 0.0]),
            column(&[("vmrange", "2...4")], &[3.0, f64::NAN]),
            column(&[("vmrange", "4...8")], &[1.0, 0.0]),
            column(&[("le", "5")], &[7.0, 7.0]),
            column(&[("other", "x")], &[1.0, 1.0]),
            column(&[("vmrange", "oops")], &[1.0, 1.0]),
        ];
        let got = le_values(&vmrange_to_le(input));
        let want = vec![
            ("5".to_string(), vec![7.0, 7.0]),
            ("2".to_string(), vec![0.0, 0.0]),
            ("4".to_string(), vec![3.0, 0.0]),
            ("8".to_string(), vec![4.0, 0.0]),
            ("+Inf".to_string(), vec![4.0, 0.0]),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn quantiles_as_victoriametrics_estimates_them() {
        let buckets = vec![(1.0, 0.0), (2.0, 4.0), (4.0, 8.0), (f64::INFINITY, 8.0)];
        assert_eq!(quantile(0.5, &mut buckets.clone()), (2.0, 1.0, 2.0));
        assert_eq!(quantile(0.75, &mut buckets.clone()), (3.0, 2.0, 4.0));
        // φ = 0: the lower bound of the first non-empty bucket.
        assert_eq!(quantile(0.0, &mut buckets.clone()), (1.0, 1.0, 2.0));
        assert_eq!(quantile(1.0, &mut buckets.clone()), (4.0, 2.0, 4.0));
        assert_eq!(quantile(-1.0, &mut buckets.clone()).0, f64::NEG_INFINITY);
        assert_eq!(quantile(2.0, &mut buckets.clone()), (f64::INFINITY, 8.0, f64::INFINITY));
        // Observations only above the highest finite bound.
        assert_eq!(quantile(0.5, &mut [(1.0, 0.0), (f64::INFINITY, 2.0)]), (1.0, 1.0, f64::INFINITY));
        assert!(quantile(0.5, &mut [(1.0, 0.0), (f64::INFINITY, 0.0)]).0.is_nan());
        // A decrease is flattened, a NaN count takes the one below.
        assert_eq!(quantile(0.5, &mut [(1.0, 2.0), (2.0, 1.0), (3.0, f64::NAN), (4.0, 4.0)]).0, 1.0);
    }

    #[test]
    fn shares_and_moments() {
        let buckets = vec![(1.0, 2.0), (3.0, 6.0), (f64::INFINITY, 8.0)];
        assert_eq!(share(2.0, &mut buckets.clone()), (0.5, 0.25, 0.75));
        assert_eq!(share(1.0, &mut buckets.clone()), (0.25, 0.25, 0.25));
        assert_eq!(share(5.0, &mut buckets.clone()), (0.75, 0.75, 1.0));
        assert_eq!(share(-1.0, &mut buckets.clone()), (0.0, 0.0, 0.0));
        assert_eq!(share(0.5, &mut buckets.clone()), (0.125, 0.0, 0.25));
        // Middles 0.5 (2 observations) and 2 (4 observations).
        let (mean, variance) = mean_and_variance(&buckets);
        assert_eq!(mean, 1.5);
        assert_eq!(variance, (2.0 * 0.25 + 4.0 * 4.0) / 6.0 - 2.25);
        assert!(mean_and_variance(&[(f64::INFINITY, 3.0)]).0.is_nan());
    }

    #[test]
    fn buckets_limit_merges_the_emptiest_inner_buckets() {
        // VictoriaMetrics' `buckets_limit(trim_zero_preserve_empty_when_limit_not_reached)`:
        // hits 0, 14, 13, 9, 0, 0. The empty high end goes, then the empty low end, until 3 remain.
        let hits = [0.0, 14.0, 13.0, 9.0, 0.0, 0.0];
        assert_eq!(limited_buckets(3, &hits), vec![1, 2, 3]);
        assert_eq!(limited_buckets(4, &hits), vec![0, 1, 2, 3]);
        assert_eq!(limited_buckets(10, &hits), vec![0, 1, 2, 3, 4, 5]);
        // No empty end: 2 + 1 fewest, then the only inner pair.
        assert_eq!(limited_buckets(1, &[1.0, 2.0, 1.0, 4.0, 2.0]), vec![0, 3, 4]);
        let (a, b) = (column(&[("le", "1")], &[1.0, 2.0]), column(&[("le", "2")], &[3.0, f64::NAN]));
        let hits = bucket_hits(&[&a, &b]);
        assert_eq!(hits[0], 3.0);
        assert!(hits[1].is_nan());
    }
}
