//! VictoriaMetrics histograms (MetricsQL): bucket series labelled `vmrange="<lower>...<upper>"`
//! as its `metrics` library exposes them and `histogram()`/`histogram_over_time()` build them,
//! and VictoriaMetrics' meaning of `histogram_quantile(s)`, `histogram_share`,
//! `histogram_avg`/`_stddev`/`_stdvar`, `prometheus_buckets` and `buckets_limit` over them
//! and over `le` buckets. `prometheus_buckets`, `buckets_limit` and `histogram()` read the whole
//! grid at once (`series_wide`), as VictoriaMetrics reads the whole range; the estimates read
//! one step at a time, which gives the same values (see README, MetricsQL).

pub(crate) mod layout;
mod le_buckets;

use tsdb::{Labels, Sample};

use super::eval::Elem;
use super::series_wide::Column;
use le_buckets::{bucket_hits, group_le, limited_buckets, mean_and_variance, merge_same_le, vmrange_to_le, with_label, without, LeHistogram, LE, VMRANGE};
use layout::VmHistogram;

/// Whether `input` holds a float element labelled `vmrange`.
pub(super) fn has_vmrange(input: &[Elem]) -> bool {
    input.iter().any(|e| e.histogram.is_none() && e.labels.get(VMRANGE).is_some())
}

/// One step's float elements as single-step columns (a NaN value stays NaN: no observation).
fn step_columns(input: impl IntoIterator<Item = Elem>) -> Vec<Column> {
    input.into_iter().filter(|e| e.histogram.is_none()).map(|e| Column { labels: e.labels, drop_name: e.drop_name, values: vec![e.value] }).collect()
}

/// `prometheus_buckets` of every series over the grid: `vmrange` buckets as cumulative `le`
/// buckets (names kept; a bucket is left out only when it is empty at every step), `le` buckets
/// as they are, anything else left out.
pub(super) fn prometheus_buckets(columns: Vec<Column>) -> Vec<Column> {
    vmrange_to_le(columns)
}

/// The histograms VictoriaMetrics' functions read in `input` at one step, and the elements
/// left to Prometheus' classic and native histogram functions. `all`: every float element with
/// `le` or `vmrange` is read here. Otherwise only histograms with a `vmrange` bucket are, with
/// the `le` buckets that share their labels (a mixed histogram); the rest, `le`-only
/// histograms included, keep Prometheus' meaning.
pub(super) fn histograms(input: Vec<Elem>, all: bool) -> (Vec<LeHistogram>, Vec<Elem>) {
    let (vm, rest): (Vec<Elem>, Vec<Elem>) = if all {
        input.into_iter().partition(|e| e.histogram.is_none())
    } else {
        let keys: std::collections::HashSet<Labels> =
            input.iter().filter(|e| e.histogram.is_none() && e.labels.get(VMRANGE).is_some()).map(|e| histogram_key(&e.labels)).collect();
        input.into_iter().partition(|e| e.histogram.is_none() && (e.labels.get(VMRANGE).is_some() || (e.labels.get(LE).is_some() && keys.contains(&histogram_key(&e.labels)))))
    };
    let converted = vmrange_to_le(step_columns(vm));
    let histograms = group_le(converted.into_iter().filter_map(|c| c.values.first().map(|&v| (c.labels, v))));
    (histograms, rest)
}

/// What tells histograms apart when deciding which meaning applies: the labels without the
/// bucket labels and the metric name (VictoriaMetrics groups `le` buckets without the name).
fn histogram_key(labels: &Labels) -> Labels {
    without(labels, &[LE, VMRANGE, tsdb::METRIC_NAME_LABEL])
}

/// Each histogram's value, and with `bounds_label` its lower and upper bound as two more
/// series labelled `<bounds_label>="lower"`/`"upper"`; NaN values give nothing (VictoriaMetrics
/// has no point there).
fn with_bounds(histograms: Vec<LeHistogram>, bounds_label: Option<&str>, mut estimate: impl FnMut(&mut Vec<(f64, f64)>) -> (f64, f64, f64)) -> Vec<Elem> {
    let mut out = Vec::new();
    for mut h in histograms {
        merge_same_le(&mut h.buckets);
        let (value, lower, upper) = estimate(&mut h.buckets);
        if let Some(label) = bounds_label {
            for (part, v) in [("lower", lower), ("upper", upper)] {
                if !v.is_nan() {
                    out.push(Elem::new(with_label(&h.labels, label, part), v, true));
                }
            }
        }
        if !value.is_nan() {
            out.push(Elem::new(h.labels, value, true));
        }
    }
    out
}

/// VictoriaMetrics' `histogram_quantile(phi, buckets[, "boundsLabel"])` of each histogram.
pub(super) fn quantiles(phi: f64, histograms: Vec<LeHistogram>, bounds_label: Option<&str>) -> Vec<Elem> {
    with_bounds(histograms, bounds_label, |buckets| le_buckets::quantile(phi, buckets))
}

/// VictoriaMetrics' `histogram_share(le, buckets[, "boundsLabel"])` of each histogram.
pub(super) fn shares(le: f64, histograms: Vec<LeHistogram>, bounds_label: Option<&str>) -> Vec<Elem> {
    with_bounds(histograms, bounds_label, |buckets| le_buckets::share(le, buckets))
}

/// VictoriaMetrics' `histogram_avg`, `histogram_stddev` or `histogram_stdvar` of each
/// histogram (buckets with one bound are not merged here, as there).
pub(super) fn moments(name: &str, histograms: Vec<LeHistogram>) -> Vec<Elem> {
    histograms
        .into_iter()
        .filter_map(|h| {
            let (mean, variance) = mean_and_variance(&h.buckets);
            let value = match name {
                "histogram_avg" => mean,
                "histogram_stddev" => variance.sqrt(),
                _ => variance,
            };
            (!value.is_nan()).then(|| Elem::new(h.labels, value, true))
        })
        .collect()
}

/// `buckets_limit(limit, buckets)` over the grid: of each histogram (`vmrange` buckets turned
/// into `le` ones first; the labels without `le`, name included), at most `limit` buckets,
/// picked by their observations over all steps (see `limited_buckets`), with their names.
pub(super) fn buckets_limit(limit: usize, columns: Vec<Column>) -> Vec<Column> {
    let mut groups: Vec<Vec<(f64, Column)>> = Vec::new();
    let mut group_of: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    for c in vmrange_to_le(columns) {
        let Some(le) = c.labels.get(LE).and_then(le_buckets::parse_bound) else { continue };
        let g = *group_of.entry(without(&c.labels, &[LE])).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push((le, c));
    }
    let mut out = Vec::new();
    for mut buckets in groups {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let hits = bucket_hits(&buckets.iter().map(|(_, c)| c).collect::<Vec<_>>());
        let kept = limited_buckets(limit, &hits);
        let mut buckets: Vec<Option<Column>> = buckets.into_iter().map(|(_, c)| Some(c)).collect();
        out.extend(kept.into_iter().filter_map(|i| buckets.get_mut(i).and_then(Option::take)));
    }
    out
}

/// MetricsQL's `histogram(q)` over the grid: per group (its labels, its members' columns),
/// each step's values counted in VictoriaMetrics' buckets (NaN and negative values left out);
/// a bucket with a count at some step is 0 at the others. Given as cumulative `le` buckets, as
/// VictoriaMetrics gives them (its `vmrange` buckets through `prometheus_buckets`).
pub(super) fn histogram_of_groups(groups: Vec<(Labels, Vec<Column>)>, steps: usize) -> Vec<Column> {
    let mut buckets: Vec<Column> = Vec::new();
    for (labels, members) in groups {
        let drop_name = members.iter().any(|c| c.drop_name);
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for step in 0..steps {
            let mut h = VmHistogram::default();
            members.iter().filter_map(|c| c.values.get(step)).for_each(|&v| h.update(v));
            for (vmrange, count) in h.buckets() {
                let i = *index.entry(vmrange.clone()).or_insert_with(|| {
                    buckets.push(Column { labels: with_label(&labels, VMRANGE, &vmrange), drop_name, values: vec![0.0; steps] });
                    buckets.len() - 1
                });
                buckets[i].values[step] = count;
            }
        }
    }
    vmrange_to_le(buckets)
}

/// `histogram_over_time` of one series' window: a `vmrange` bucket series per bucket that
/// holds one of its samples (NaN and negative values are not counted).
pub(super) fn histogram_over_window(labels: &Labels, samples: &[Sample]) -> Vec<Elem> {
    let mut h = VmHistogram::default();
    samples.iter().for_each(|s| h.update(s.value));
    h.buckets().map(|(vmrange, count)| Elem::new(with_label(labels, VMRANGE, &vmrange), count, true)).collect()
}
