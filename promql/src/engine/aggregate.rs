//! Aggregation operators over one step's vector: grouping by/without, and sum, avg, min,
//! max, count, group, stddev, stdvar, topk, bottomk, quantile, count_values, limitk (and
//! MetricsQL's, from `metricsql_aggregates`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use tsdb::{Label, Labels, METRIC_NAME_LABEL};

use super::annotations::Annotation;
use super::eval::{Elem, Evaluator, StepValue};
use super::stats;
use super::Error;
use crate::ast::{Aggregate, AggregateOp};

/// Whether label `name` is part of a group's key: listed in `by (...)`, or, with
/// `without (...)`, neither listed nor the metric name.
fn keeps_label(a: &Aggregate, name: &str) -> bool {
    let listed = a.grouping.iter().any(|g| g == name);
    if a.without { name != METRIC_NAME_LABEL && !listed } else { listed }
}

fn group_labels(labels: &Labels, a: &Aggregate) -> Labels {
    Labels::from_sorted(labels.iter().filter(|l| keeps_label(a, l.name)))
}

fn scalar_param(param: &Option<StepValue>, op: AggregateOp) -> Result<f64, Error> {
    match param {
        Some(StepValue::Scalar(v)) => Ok(*v),
        _ => Err(Error::Execution(format!("{} needs a scalar parameter", op.name()))),
    }
}

fn k_param(param: &Option<StepValue>, op: AggregateOp) -> Result<usize, Error> {
    let k = scalar_param(param, op)?;
    if k.is_nan() {
        return Err(Error::Execution(format!("Parameter value is NaN for {}", op.name())));
    }
    if k >= i64::MAX as f64 {
        return Err(Error::Execution(format!("Scalar value {k} overflows int64")));
    }
    Ok(if k < 1.0 { 0 } else { k as usize })
}

/// The fraction of the label space `limit_ratio` keeps a series at: its Prometheus label hash
/// (xxHash64 over `name 0xff value 0xff` ...) scaled to [0, 1].
fn ratio_offset(labels: &Labels) -> f64 {
    let mut bytes = Vec::with_capacity(64);
    for l in labels.iter() {
        bytes.extend_from_slice(l.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(l.value.as_bytes());
        bytes.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&bytes, 0) as f64 / u64::MAX as f64
}

/// Label sets a cache remembers before it stops adding (queries whose label sets are new at
/// every step, e.g. under `label_replace`, then fall back to the signature lookup).
const GROUP_CACHE_ENTRIES_MAX: usize = 1 << 20;

/// One aggregation node's groups for a whole query: the group of every input label set seen
/// (by its cached hash; a shared label set is recognised by pointer), and the groups by the
/// hash of their grouping labels. Steps after the first find each element's group with one
/// lookup instead of filtering and hashing its labels again.
#[derive(Default)]
pub(super) struct GroupCache {
    by_labels: HashMap<u64, Vec<(Labels, usize)>, foldhash::fast::FixedState>,
    by_signature: HashMap<u64, Vec<usize>, foldhash::fast::FixedState>,
    pub(super) keys: Vec<Labels>,
    entries: usize,
    /// The label set and group last seen at each input position: a step's input usually
    /// lists the same series in the same order as the previous step's, so most elements
    /// find their group by one pointer comparison.
    by_position: Vec<Option<(Labels, usize)>>,
}

impl GroupCache {
    /// `group_of` for the element at `position` of this step's input.
    fn group_at(&mut self, position: usize, labels: &Labels, a: &Aggregate) -> usize {
        if let Some(Some((seen, g))) = self.by_position.get(position) {
            if seen.ptr_eq(labels) {
                return *g;
            }
        }
        let g = self.group_of(labels, a);
        if position >= self.by_position.len() {
            self.by_position.resize(position + 1, None);
        }
        self.by_position[position] = Some((labels.clone(), g));
        g
    }

    /// Groups one step's input: the groups (cache ids) in order of first appearance, and
    /// each element's index into that order.
    pub(super) fn assign(&mut self, input: &[Elem], a: &Aggregate) -> (Vec<usize>, Vec<usize>) {
        let mut local_of: Vec<usize> = vec![usize::MAX; self.keys.len()];
        let mut order: Vec<usize> = Vec::new();
        let mut locals = Vec::with_capacity(input.len());
        for (position, e) in input.iter().enumerate() {
            let g = self.group_at(position, &e.labels, a);
            if g >= local_of.len() {
                local_of.resize(g + 1, usize::MAX);
            }
            if local_of[g] == usize::MAX {
                local_of[g] = order.len();
                order.push(g);
            }
            locals.push(local_of[g]);
        }
        (order, locals)
    }

    /// Groups seen so far (group ids are `0..len()`).
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The labels of group `g`.
    pub(super) fn key(&self, g: usize) -> &Labels {
        &self.keys[g]
    }

    /// The group (id) of an input label set.
    pub(super) fn group_of(&mut self, labels: &Labels, a: &Aggregate) -> usize {
        let h = labels.stable_hash();
        if let Some(known) = self.by_labels.get(&h) {
            if let Some((_, g)) = known.iter().find(|(l, _)| l.ptr_eq(labels) || l == labels) {
                return *g;
            }
        }
        let keep = |name: &str| keeps_label(a, name);
        let mut hasher = foldhash::fast::FixedState::default().build_hasher();
        for l in labels.iter().filter(|l| keep(l.name)) {
            hasher.write(l.name.as_bytes());
            hasher.write_u8(0xff);
            hasher.write(l.value.as_bytes());
            hasher.write_u8(0xff);
        }
        let candidates = self.by_signature.entry(hasher.finish()).or_default();
        let keys = &mut self.keys;
        let g = match candidates.iter().copied().find(|&g| labels.iter().filter(|l| keep(l.name)).eq(keys[g].iter())) {
            Some(g) => g,
            None => {
                candidates.push(keys.len());
                keys.push(group_labels(labels, a));
                keys.len() - 1
            }
        };
        if self.entries < GROUP_CACHE_ENTRIES_MAX {
            self.by_labels.entry(h).or_default().push((labels.clone(), g));
            self.entries += 1;
        }
        g
    }
}

pub(super) fn aggregate(ev: &Evaluator<'_>, a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>, cache: &mut GroupCache) -> Result<Vec<Elem>, Error> {
    let input = match a.limit {
        Some(limit) => first_groups(input, a, limit, cache),
        None => input,
    };
    if a.op == AggregateOp::CountValues {
        return count_values(a, param, input);
    }
    if matches!(a.op, AggregateOp::Quantile | AggregateOp::LimitRatio) {
        if let Some(StepValue::Scalar(p)) = &param {
            ev.note_param(a, *p);
        }
    }
    if input.iter().any(|e| e.histogram.is_some()) {
        return super::histogram_eval::aggregate_with_histograms(ev, a, param, input, cache);
    }
    aggregate_floats(a, param, input, cache)
}

/// MetricsQL's `limit N`: the elements of the first `limit` groups of this step's input, in
/// order of first appearance (VictoriaMetrics skips the series of later groups).
fn first_groups(input: Vec<Elem>, a: &Aggregate, limit: usize, cache: &mut GroupCache) -> Vec<Elem> {
    let (_, locals) = cache.assign(&input, a);
    input.into_iter().zip(locals).filter(|(_, local)| *local < limit).map(|(e, _)| e).collect()
}

/// The warnings about `quantile` and `limit_ratio` parameters in `expr`, from the lowest and
/// highest value each took over the steps (as Prometheus checks them).
pub(super) fn annotate_params(ev: &Evaluator<'_>, expr: &crate::ast::Expr) {
    if let crate::ast::Expr::Aggregate(a) = expr {
        if let Some(range) = ev.param_range(a) {
            match a.op {
                AggregateOp::Quantile => {
                    if range.nan {
                        ev.annotate(Annotation::InvalidQuantile(f64::NAN), a.param_pos);
                    }
                    if range.max > 1.0 {
                        ev.annotate(Annotation::InvalidQuantile(range.max), a.param_pos);
                    }
                    if range.min < 0.0 {
                        ev.annotate(Annotation::InvalidQuantile(range.min), a.param_pos);
                    }
                }
                // All zero: Prometheus returns before looking at the ratio.
                AggregateOp::LimitRatio if !(range.min == 0.0 && range.max == 0.0) => {
                    if range.max > 1.0 {
                        ev.annotate(Annotation::InvalidRatio { got: range.max, capped: 1.0 }, a.param_pos);
                    }
                    if range.min < -1.0 {
                        ev.annotate(Annotation::InvalidRatio { got: range.min, capped: -1.0 }, a.param_pos);
                    }
                }
                _ => {}
            }
        }
    }
    expr.children().into_iter().for_each(|child| annotate_params(ev, child));
}

/// `aggregate` over float elements (and, for `count`, `group`, `limitk` and `limit_ratio`,
/// which do not read values, histogram elements too).
pub(super) fn aggregate_floats(a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>, cache: &mut GroupCache) -> Result<Vec<Elem>, Error> {
    // Parameters are checked even when there is nothing to aggregate.
    if matches!(a.op, AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk) {
        k_param(&param, a.op)?;
    }
    if a.op == AggregateOp::LimitRatio {
        let r = scalar_param(&param, a.op)?;
        if r.is_nan() {
            return Err(Error::Execution("Ratio value is NaN".into()));
        }
        let r = r.clamp(-1.0, 1.0);
        return Ok(input
            .into_iter()
            .filter(|e| {
                let offset = ratio_offset(&e.labels);
                if r >= 0.0 { offset < r } else { offset >= 1.0 + r }
            })
            .collect());
    }
    if super::metricsql_aggregates::handles(a.op) {
        return super::metricsql_aggregates::aggregate(a, param, input, cache);
    }
    if matches!(
        a.op,
        AggregateOp::Sum
            | AggregateOp::Avg
            | AggregateOp::Count
            | AggregateOp::Group
            | AggregateOp::Min
            | AggregateOp::Max
            | AggregateOp::Stdvar
            | AggregateOp::Stddev
            | AggregateOp::Quantile
    ) {
        return aggregate_values(a, param, input, cache);
    }
    // Groups in order of first appearance at this step; each element's group comes from the
    // query-wide cache (one pointer comparison or one hash lookup after the first step).
    let (order, locals) = cache.assign(&input, a);
    let mut grouped: Vec<Vec<Elem>> = (0..order.len()).map(|_| Vec::new()).collect();
    for (e, local) in input.into_iter().zip(locals) {
        grouped[local].push(e);
    }
    let mut out = Vec::new();
    for members in grouped {
        match a.op {
            AggregateOp::Topk | AggregateOp::Bottomk => {
                let k = k_param(&param, a.op)?;
                let mut members = members;
                let top = a.op == AggregateOp::Topk;
                // NaN sorts last in both directions.
                members.sort_by(|Elem { value: x, .. }, Elem { value: y, .. }| match (x.is_nan(), y.is_nan()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ if top => y.partial_cmp(x).unwrap_or(std::cmp::Ordering::Equal),
                    _ => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
                });
                out.extend(members.into_iter().take(k));
            }
            AggregateOp::Limitk => {
                let k = k_param(&param, a.op)?;
                out.extend(members.into_iter().take(k));
            }
            AggregateOp::LimitRatio => unreachable!("limit_ratio returns before grouping"),
            // Sum, avg, count, group, min, max, stdvar, stddev, quantile: `aggregate_values`;
            // count_values: `count_values`.
            other => return Err(Error::Execution(format!("{} is aggregated by value, not by element", other.name()))),
        }
    }
    Ok(out)
}

/// `count_values`: each element's value (a float as Go's `FormatFloat(v, 'f', -1)`, a histogram
/// as its text) becomes label `label` first, then elements are counted per group of the
/// grouping labels and that label (so the value replaces a label of the same name before
/// grouping, as in Prometheus).
fn count_values(a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>) -> Result<Vec<Elem>, Error> {
    let Some(StepValue::String(label)) = &param else {
        return Err(Error::Execution("count_values needs a string parameter".into()));
    };
    if label.is_empty() || !label.chars().enumerate().all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())) {
        return Err(Error::Execution(format!("invalid label name {label:?}")));
    }
    let keep = |name: &str| keeps_label(a, name) || (!a.without && name == label);
    let mut counts: Vec<(Labels, f64, bool)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for e in input {
        let text = match &e.histogram {
            Some(h) => super::native_histogram::display(h),
            None => positional_float(e.value),
        };
        let mut pairs: Vec<Label> = e.labels.iter().filter(|l| l.name != label.as_str() && keep(l.name)).map(tsdb::LabelRef::to_label).collect();
        if keep(label) {
            pairs.push(Label { name: label.clone(), value: text });
        }
        let key = Labels::from_pairs(pairs.into_iter().map(|l| (l.name, l.value)));
        match index.get(&key) {
            Some(&i) => {
                counts[i].1 += 1.0;
                counts[i].2 |= e.drop_name;
            }
            None => {
                index.insert(key.clone(), counts.len());
                counts.push((key, 1.0, e.drop_name));
            }
        }
    }
    // The group's name (kept only by `by (__name__)`) goes if any member's would.
    Ok(counts.into_iter().map(|(labels, count, drop)| Elem::new(labels, count, drop)).collect())
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits, never an exponent (as
/// the printer writes number literals).
fn positional_float(v: f64) -> String {
    crate::printer::format_number(v)
}

/// The aggregations that need only each group's values (sum, avg, count, group, min, max,
/// stdvar, stddev, quantile): values are gathered per group without moving the elements,
/// then reduced by the same functions as the general path, so results are identical.
fn aggregate_values(a: &Aggregate, param: Option<StepValue>, input: Vec<Elem>, cache: &mut GroupCache) -> Result<Vec<Elem>, Error> {
    let quantile = if a.op == AggregateOp::Quantile && !input.is_empty() { Some(scalar_param(&param, a.op)?) } else { None };
    let (order, locals) = cache.assign(&input, a);
    let mut values: Vec<Vec<f64>> = (0..order.len()).map(|_| Vec::new()).collect();
    let mut drop: Vec<bool> = vec![false; order.len()];
    for (e, local) in input.iter().zip(locals) {
        values[local].push(e.value);
        // The group's name (kept only by `by (__name__)`) goes if any member's would.
        drop[local] |= e.drop_name;
    }
    let mut out = Vec::with_capacity(order.len());
    for ((g, values), drop) in order.into_iter().zip(values).zip(drop) {
        let key = cache.keys[g].clone();
        let value = match a.op {
            AggregateOp::Sum => stats::sum(&values),
            AggregateOp::Avg => stats::mean(&values),
            AggregateOp::Count => values.len() as f64,
            AggregateOp::Group => 1.0,
            AggregateOp::Min | AggregateOp::Max => values[1..].iter().fold(values[0], |best, &v| stats::extreme_step(best, v, a.op == AggregateOp::Min)),
            AggregateOp::Stdvar => stats::variance(&values),
            AggregateOp::Stddev => stats::variance(&values).sqrt(),
            AggregateOp::Quantile => stats::quantile(quantile.unwrap_or(f64::NAN), &values),
            other => return Err(Error::Execution(format!("{} is not a value aggregation", other.name()))),
        };
        out.push(Elem::new(key, value, drop));
    }
    Ok(out)
}
