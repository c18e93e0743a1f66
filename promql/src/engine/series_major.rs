//! Series-major evaluation of the shape most dashboard panels are made of: an aggregation
//! (`sum`, `avg`, `count`, `group`, `min`, `max`, `stdvar`, `stddev`, by or without labels)
//! directly over a selector or over a plain range function of a range selector, e.g.
//! `sum by (le) (rate(x_bucket[5m]))`, in a range query. Its results must equal the step-major
//! path's bit for bit.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use tsdb::Sample;

use super::aggregate::GroupCache;
use super::eval::{advance, drop_name, holds_stale, last_within, without_stale, Elem, Evaluator};
use super::annotations::Annotation;
use super::functions::{looks_like_non_counter, possible_non_counter, range_value, range_window, unparen, RangeArgs, RangeKind};
use super::histogram_eval::metric_name;
use super::stats::{extreme_step, KahanSum, Mean, Welford};
use super::{at_ms, selector_key, start_times, Error, SelectKey};
use crate::ast::{Aggregate, AggregateOp, Expr, Pos, VectorSelector};

/// Group × step accumulators one aggregation may hold (beyond it, e.g. `sum by (pod)` over
/// 11,000 steps, the step-major path runs instead).
const ACCUMULATORS_MAX: usize = 1 << 21;

/// Series between two checks of the cancel flag.
const SERIES_PER_CANCEL_CHECK: usize = 256;

/// Each precomputed aggregation's vector per step (taken by the step that uses it).
pub(super) type Precomputed = HashMap<*const Aggregate, Vec<Option<Vec<Elem>>>>;

/// Evaluates every eligible aggregation of `expr` outside subqueries (which evaluate at
/// steps of their own) over all the query's steps, into `out`; step-major evaluation then takes
/// each step's vector from there instead of computing it. Step-major evaluation visits every
/// series at every step, and with many series the two window edges of each series are a cache
/// miss per step; here each series is read once, from its first step to its last, while its
/// samples are in the cache, and its value at each step goes straight into its group's
/// accumulator for that step.
pub(super) fn precompute(ev: &Evaluator<'_>, expr: &Expr, out: &mut Precomputed) -> Result<(), Error> {
    match expr {
        Expr::Aggregate(a) => {
            if let Some(steps) = evaluate(ev, a)? {
                out.insert(&**a as *const Aggregate, steps);
                return Ok(());
            }
            precompute(ev, &a.expr, out)?;
            if let Some(p) = &a.param {
                precompute(ev, p, out)?;
            }
        }
        Expr::Paren(e) | Expr::Negate(e) => precompute(ev, e, out)?,
        Expr::Binary(b) => {
            precompute(ev, &b.lhs, out)?;
            precompute(ev, &b.rhs, out)?;
        }
        Expr::Call { args, .. } => {
            for arg in args {
                precompute(ev, arg, out)?;
            }
        }
        Expr::Subquery(_) | Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector { .. } => {}
    }
    Ok(())
}

/// What an eligible aggregation aggregates.
enum Source<'e> {
    /// An instant selector: each series' last sample within the lookback.
    Instant(&'e VectorSelector),
    /// A range function of one argument over a plain range selector (`arg_pos`: where the
    /// argument starts, for annotations).
    Range { call_arg: &'e Expr, arg_pos: Pos, selector: &'e VectorSelector, kind: RangeKind, name: &'static str, drop_name: bool },
}

impl<'e> Source<'e> {
    fn of(expr: &'e Expr) -> Option<Source<'e>> {
        match unparen(expr) {
            Expr::VectorSelector(vs) if !vs.smoothed => Some(Source::Instant(vs)),
            Expr::Call { func, args, arg_pos, keep_metric_names: false, .. } if args.len() == 1 && is_plain_range_function(func.name) => match unparen(&args[0]) {
                Expr::MatrixSelector { selector, .. } if !selector.anchored && !selector.smoothed => Some(Source::Range {
                    call_arg: &args[0],
                    arg_pos: arg_pos.first().copied().unwrap_or_default(),
                    selector,
                    kind: RangeKind::of(func.name),
                    name: func.name,
                    drop_name: !func.keeps_metric_name(),
                }),
                _ => None,
            },
            _ => None,
        }
    }

    fn selector(&self) -> &'e VectorSelector {
        match self {
            Source::Instant(vs) => vs,
            Source::Range { selector, .. } => selector,
        }
    }
}

/// Range functions whose value depends on the window's samples alone (no scalar argument,
/// no special result labels).
fn is_plain_range_function(name: &str) -> bool {
    matches!(name, "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "resets" | "changes")
        // `stale_samples_over_time` reads the stale markers the windows here leave out.
        || (name.ends_with("_over_time") && !matches!(name, "absent_over_time" | "quantile_over_time" | "stale_samples_over_time"))
        // MetricsQL's rollups of one argument (`lag`, `integrate` ...; the others have a scalar).
        || super::functions::metricsql_rollups::ROLLUP_NAMES.contains(&name)
        || super::functions::metricsql_window_rollups::ONE_ARGUMENT_NAMES.contains(&name)
}

/// The source of `a` when `a` has the shape evaluated here.
fn eligible_source(a: &Aggregate) -> Option<Source<'_>> {
    let supported = matches!(
        a.op,
        AggregateOp::Sum | AggregateOp::Avg | AggregateOp::Count | AggregateOp::Group | AggregateOp::Min | AggregateOp::Max | AggregateOp::Stdvar | AggregateOp::Stddev
    );
    // MetricsQL's `limit N` (which groups are kept) and its several arguments are step-wise.
    if !supported || a.param.is_some() || a.limit.is_some() {
        return None;
    }
    Source::of(&a.expr)
}

/// The selects of a range query that `precompute` reads series by series (`Evaluator::stream`):
/// those of the eligible aggregations outside subqueries. Each selector belongs to one
/// aggregation, so nothing else reads them unless the aggregation is declined.
pub(super) fn streamable(expr: &Expr) -> HashSet<SelectKey> {
    let mut out = HashSet::new();
    collect_streamable(expr, &mut out);
    out
}

fn collect_streamable(expr: &Expr, out: &mut HashSet<SelectKey>) {
    match expr {
        Expr::Aggregate(a) => match eligible_source(a) {
            Some(source) => {
                out.insert(selector_key(source.selector()));
            }
            None => {
                collect_streamable(&a.expr, out);
                if let Some(p) = &a.param {
                    collect_streamable(p, out);
                }
            }
        },
        Expr::Paren(e) | Expr::Negate(e) => collect_streamable(e, out),
        Expr::Binary(b) => {
            collect_streamable(&b.lhs, out);
            collect_streamable(&b.rhs, out);
        }
        Expr::Call { args, .. } => args.iter().for_each(|arg| collect_streamable(arg, out)),
        Expr::Subquery(_) | Expr::Number(_) | Expr::String(_) | Expr::VectorSelector(_) | Expr::MatrixSelector { .. } => {}
    }
}

/// `a` over all steps, or `None` when it is not of the shape evaluated here (or has too many
/// groups for it, or two of its series collide without their names). Outputs list each step's
/// groups in order of first appearance, as the step-major path does.
///
/// The series arrive one at a time (`Evaluator::stream`, `Querier::select_each`), decoded with
/// their start times into buffers reused from one series to the next (the counter functions
/// read the starts as the step-major path does), so the aggregation's select is never held
/// decoded whole; where the aggregation is declined midway (a name collision, too many
/// groups), the select is fetched whole for the step-major path.
fn evaluate(ev: &Evaluator<'_>, a: &Aggregate) -> Result<Option<Vec<Option<Vec<Elem>>>>, Error> {
    let Some(source) = eligible_source(a) else {
        return Ok(None);
    };
    if ev.step_ms <= 0 {
        return Ok(None);
    }
    // How the step-major path labels the series it hands the aggregation: without their name
    // at once (`strip`), or with the removal pending (`drop`).
    let delayed = ev.options.delayed_name_removal;
    let (strip, drop) = match &source {
        Source::Range { drop_name: true, .. } if !delayed => (true, false),
        Source::Range { drop_name, .. } => (false, delayed && *drop_name),
        Source::Instant(_) => (false, false),
    };
    let steps = usize::try_from((ev.end_ms - ev.start_ms) / ev.step_ms + 1).unwrap_or(0);
    let mut groups = GroupCache::default();
    let mut acc = Accumulators::new(a.op);
    let mut stripped_seen: HashSet<u64> = HashSet::new();
    let mut filtered: Vec<Sample> = Vec::new();
    // Start times, where the range function reads them (`start_times`), as the step-major
    // path reads them.
    let read_starts = match &source {
        Source::Range { kind, .. } => ev.options.use_start_timestamps && start_times::reads_start_times(*kind),
        Source::Instant(_) => false,
    };
    let mut filtered_starts: Vec<i64> = Vec::new();
    // Start time overlaps found (metric, occurrences): annotated once the aggregation is
    // finished here, as a declined one is evaluated again step by step, which finds them again.
    let mut overlaps: Vec<(String, usize)> = Vec::new();
    let mut cancelled = None;
    let mut index = 0usize;
    // Sample statistics per step, added to the query's once the aggregation is finished here
    // (a declined one is counted again step by step).
    let mut counted = ev.sample_stats.as_ref().map(|_| (vec![0u64; steps], vec![0u64; steps]));
    let finished = ev.stream(source.selector(), &mut |labels, samples, histograms, starts| {
        // Histograms are aggregated step by step (the step-major path takes over).
        if !histograms.is_empty() {
            return ControlFlow::Break(());
        }
        let i = index;
        index += 1;
        if i.is_multiple_of(SERIES_PER_CANCEL_CHECK) {
            if let Err(e) = ev.check_cancelled() {
                cancelled = Some(e);
                return ControlFlow::Break(());
            }
        }
        let group = if strip {
            let stripped = drop_name(labels.clone());
            // Two series equal without their names (by hash, so rarely a false alarm): the
            // step-major path reports the error.
            if !stripped_seen.insert(stripped.stable_hash()) {
                return ControlFlow::Break(());
            }
            groups.group_of(&stripped, a)
        } else {
            groups.group_of(labels, a)
        };
        let slots = groups.len().saturating_mul(steps);
        if slots > ACCUMULATORS_MAX {
            return ControlFlow::Break(());
        }
        acc.grow(slots);
        let base = group * steps;
        let has_stale = holds_stale(samples);
        let starts = if read_starts { start_times::parallel_starts(starts, samples, histograms) } else { None };
        let (mut from, mut to) = (0usize, 0usize);
        let mut produced = false;
        let mut series_overlaps = 0usize;
        for k in 0..steps {
            let t = ev.start_ms + k as i64 * ev.step_ms;
            let value = match &source {
                Source::Instant(vs) => {
                    let reference = at_ms(vs.at).unwrap_or(t) - vs.offset_ms;
                    let end = advance(samples, &mut to, reference);
                    let value = last_within(&samples[..end], reference - ev.options.lookback_delta_ms).map(|last| last.value);
                    if let (Some((per_step, read)), Some(_)) = (&mut counted, value) {
                        per_step[k] += 1;
                        // A selector with `@` is read once (see `Evaluator::count_instant`).
                        read[k] += u64::from(vs.at.is_none() || k == 0);
                    }
                    value
                }
                Source::Range { call_arg, kind, name, .. } => {
                    // The left-open window (start, end] of the range at this step.
                    let (start, end) = range_window(call_arg, t);
                    let lo = advance(samples, &mut from, start);
                    let hi = advance(samples, &mut to, end);
                    let in_range = lo.min(hi)..hi;
                    let window = without_stale(&samples[in_range.clone()], has_stale, &mut filtered);
                    if let Some((per_step, read)) = &mut counted {
                        // As `Evaluator::count_window`: a window counts whole, and is read whole at the first step.
                        per_step[k] += window.len() as u64;
                        read[k] += match k {
                            0 => window.len(),
                            _ if source.selector().at.is_some() => 0,
                            _ => window.iter().filter(|p| p.timestamp_ms > end - ev.step_ms).count(),
                        } as u64;
                    }
                    let window_starts = starts.map(|st| start_times::starts_without_stale(&samples[in_range.clone()], &st.floats[in_range], has_stale, &mut filtered_starts));
                    if window.is_empty() {
                        None
                    } else {
                        match window_starts.and_then(|st| start_times::window_value(*kind, window, st, (start, end), false)) {
                            Some((value, overlap)) => {
                                if overlap {
                                    series_overlaps += 1;
                                }
                                value
                            }
                            None => range_value(*kind, name, window, RangeArgs { start, end, t, param: 0.0, factors: (0.0, 0.0) }),
                        }
                    }
                }
            };
            if let Some(v) = value {
                produced = true;
                acc.add(base + k, i, v);
            }
        }
        if series_overlaps > 0 {
            overlaps.push((metric_name(labels), series_overlaps));
        }
        if let Source::Range { kind: RangeKind::Rate | RangeKind::Increase, arg_pos, .. } = &source {
            if produced && looks_like_non_counter(labels, ev.options.type_and_unit_labels) {
                ev.annotate(possible_non_counter(labels, ev.options.type_and_unit_labels), *arg_pos);
            }
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = cancelled {
        return Err(e);
    }
    if !finished {
        return Ok(None);
    }
    if let (Some(counter), Some((per_step, read))) = (&ev.sample_stats, &counted) {
        counter.borrow_mut().add_per_step(per_step, read);
    }
    if let Source::Range { arg_pos, .. } = &source {
        for (metric, occurrences) in overlaps {
            for _ in 0..occurrences {
                ev.annotate(Annotation::StartTimeOverlap { metric: metric.clone() }, *arg_pos);
            }
        }
    }
    let mut out = Vec::with_capacity(steps);
    let mut present: Vec<(usize, usize)> = Vec::new();
    for k in 0..steps {
        present.clear();
        present.extend((0..groups.len()).filter_map(|g| acc.first_series(g * steps + k).map(|first| (first, g))));
        // Groups in order of first appearance, as the step-major aggregation lists them.
        present.sort_unstable();
        out.push(Some(present.iter().map(|&(_, g)| Elem::new(groups.key(g).clone(), acc.value(g * steps + k), drop)).collect()));
    }
    Ok(Some(out))
}

/// Per group and step, the aggregation's running state. It is fed in the same order as the
/// step-major aggregation feeds its accumulators (series order within a step), with the same
/// arithmetic (`stats`), so results are identical bit for bit.
struct Accumulators {
    op: AggregateOp,
    /// The first series that reached each slot (`NONE`: none did).
    first: Vec<u32>,
    sums: Vec<KahanSum>,
    means: Vec<Mean>,
    counts: Vec<u32>,
    extremes: Vec<f64>,
    deviations: Vec<Welford>,
}

const NONE: u32 = u32::MAX;

impl Accumulators {
    fn new(op: AggregateOp) -> Accumulators {
        Accumulators { op, first: Vec::new(), sums: Vec::new(), means: Vec::new(), counts: Vec::new(), extremes: Vec::new(), deviations: Vec::new() }
    }

    /// Makes room for `slots` slots (new groups start empty).
    fn grow(&mut self, slots: usize) {
        if slots <= self.first.len() {
            return;
        }
        self.first.resize(slots, NONE);
        match self.op {
            AggregateOp::Sum => self.sums.resize(slots, KahanSum::default()),
            AggregateOp::Avg => self.means.resize(slots, Mean::default()),
            AggregateOp::Count => self.counts.resize(slots, 0),
            AggregateOp::Min | AggregateOp::Max => self.extremes.resize(slots, f64::NAN),
            AggregateOp::Stdvar | AggregateOp::Stddev => self.deviations.resize(slots, Welford::default()),
            _ => {}
        }
    }

    fn add(&mut self, slot: usize, series: usize, v: f64) {
        let first = self.first[slot] == NONE;
        if first {
            self.first[slot] = u32::try_from(series).unwrap_or(NONE - 1);
        }
        match self.op {
            AggregateOp::Sum => self.sums[slot].add(v),
            AggregateOp::Avg => self.means[slot].add(v),
            AggregateOp::Count => self.counts[slot] += 1,
            AggregateOp::Min | AggregateOp::Max if first => self.extremes[slot] = v,
            AggregateOp::Min | AggregateOp::Max => self.extremes[slot] = extreme_step(self.extremes[slot], v, self.op == AggregateOp::Min),
            AggregateOp::Stdvar | AggregateOp::Stddev => self.deviations[slot].add(v),
            _ => {}
        }
    }

    fn first_series(&self, slot: usize) -> Option<usize> {
        (self.first[slot] != NONE).then_some(self.first[slot] as usize)
    }

    fn value(&self, slot: usize) -> f64 {
        match self.op {
            AggregateOp::Sum => self.sums[slot].value(),
            AggregateOp::Avg => self.means[slot].value(),
            AggregateOp::Count => f64::from(self.counts[slot]),
            AggregateOp::Min | AggregateOp::Max => self.extremes[slot],
            AggregateOp::Stdvar => self.deviations[slot].variance(),
            AggregateOp::Stddev => self.deviations[slot].variance().sqrt(),
            _ => 1.0,
        }
    }
}

#[cfg(test)]
mod start_time_tests;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tsdb::{Labels, Sample, SeriesSamples, STALE_NAN_BITS};

    use crate::engine::{Engine, EngineOptions, MemQuerier, Value};

    /// Queries of the shapes evaluated series-major (and a few around them that are not).
    const QUERIES: [&str; 26] = [
        "sum by (job) (rate(a_total[2m]))",
        "sum by (le) (increase(a_total[90s]))",
        "histogram_quantile(0.9, sum by (le) (rate(a_total[3m])))",
        "avg without (instance) (b)",
        "count by (job) (b)",
        "group by (instance) (a_total)",
        "min by (job) (b offset 1m)",
        "max (b @ 300)",
        "stdvar by (job) (delta(b[2m]))",
        "stddev without (le) (deriv(b[3m]))",
        "sum by (__name__) (rate({__name__=~\".+\"}[2m]))",
        "sum without (job) (rate({__name__=~\".+\"}[2m]))",
        "sum by (job) (last_over_time({__name__=~\".+\"}[1m]))",
        "avg by (job) (avg_over_time(b[2m]))",
        "max by (job) (max_over_time(b[150s]))",
        "count (changes(b[2m]))",
        "sum by (job) (irate(a_total[1m])) / sum by (job) (idelta(b[1m]))",
        "topk(2, sum by (instance) (resets(a_total[5m])))",
        "sum(sum by (job) (b))",
        "sum by (job) (rate(a_total[2m] @ 400 offset 30s))",
        "min by (instance) (min_over_time(b[2m])) and on() vector(1)",
        "sum_over_time(sum by (job) (b)[2m:30s])",
        "sum by (job) (median_over_time(b[2m]))",
        "max by (instance) (lag(b[150s])) - min by (instance) (lifetime(a_total[2m]))",
        "avg by (job) (integrate(b[3m])) + sum (increase_pure(a_total[2m]))",
        "sum by (__name__) (mode_over_time({__name__=~\".+\"}[2m]))",
    ];

    fn series() -> impl Strategy<Value = Vec<SeriesSamples>> {
        let one = (0usize..2, 0usize..2, 0usize..3, 0usize..2, proptest::collection::vec((1i64..40, -3i32..40, 0u8..20), 0..40));
        proptest::collection::vec(one, 1..12).prop_map(|specs| {
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for (name, job, instance, le, points) in specs {
                let labels = Labels::from_pairs(
                    [
                        ("__name__", ["a_total", "b"][name]),
                        ("instance", ["i0", "i1", "i2"][instance]),
                        ("job", ["x", "y"][job]),
                        ("le", ["1", "+Inf"][le]),
                    ]
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v.to_string())),
                );
                if !seen.insert(labels.clone()) {
                    continue;
                }
                let mut t = 0;
                let mut samples = Vec::new();
                for (gap, value, special) in points {
                    // Whole seconds, like the steps: window edges fall on samples.
                    t += gap * 1000;
                    let value = match special {
                        0 => f64::from_bits(STALE_NAN_BITS),
                        1 => f64::NAN,
                        2 => f64::INFINITY,
                        3 => 1e308,
                        _ => f64::from(value),
                    };
                    samples.push(Sample { timestamp_ms: t, value });
                }
                out.push(SeriesSamples { labels, samples, histograms: Vec::new(), starts: None });
            }
            out
        })
    }

    /// A range result's series with their (timestamp, value bits) points.
    type Bits = Vec<(Labels, Vec<(i64, u64)>)>;

    /// A result with floats as bits (all NaNs equal), or the error's text.
    fn run(query: &str, start: i64, step: i64, data: &MemQuerier, series_major: bool, delayed: bool) -> Result<Bits, String> {
        let engine = Engine::new(EngineOptions { series_major, delayed_name_removal: delayed, lookback_delta_ms: 60_000, ..EngineOptions::default() });
        let q = engine.prepare_range(query, start, start + 20 * step, step).map_err(|e| e.to_string())?;
        match q.execute(data).map_err(|e| e.to_string())?.value {
            // Every NaN as one: the sign and payload of a NaN that arithmetic produces are not
            // specified (the compiler may swap the operands of an addition), and the API
            // writes them all as "NaN".
            Value::Matrix(m) => Ok(m
                .into_iter()
                .map(|s| (s.labels, s.samples.iter().map(|p| (p.timestamp_ms, if p.value.is_nan() { f64::NAN } else { p.value }.to_bits())).collect()))
                .collect()),
            other => Err(format!("not a matrix: {other:?}")),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Series-major evaluation answers exactly what step-major evaluation answers (values
        /// bit for bit, errors word for word), with and without delayed name removal.
        #[test]
        fn series_major_matches_step_major(series in series(), start in 0i64..20, step in 1i64..6, delayed in any::<bool>()) {
            let (start, step) = (start * 1000, step * 1000);
            let data = MemQuerier { series };
            for query in QUERIES {
                let step_major = run(query, start, step, &data, false, delayed);
                let series_major = run(query, start, step, &data, true, delayed);
                prop_assert_eq!(series_major, step_major, "{}", query);
            }
        }
    }

    /// Counts the selects asked whole and the series handed out one at a time.
    #[derive(Default)]
    struct CountingQuerier {
        data: MemQuerier,
        whole: std::cell::Cell<usize>,
        one_at_a_time: std::cell::Cell<usize>,
    }

    impl tsdb::Querier for CountingQuerier {
        fn select(&self, matchers: &[tsdb::Matcher], mint_ms: i64, maxt_ms: i64) -> Vec<SeriesSamples> {
            self.whole.set(self.whole.get() + 1);
            self.data.select(matchers, mint_ms, maxt_ms)
        }

        fn select_each(
            &self,
            matchers: &[tsdb::Matcher],
            mint_ms: i64,
            maxt_ms: i64,
            visit: &mut tsdb::SeriesVisitor<'_>,
        ) {
            for s in self.data.select(matchers, mint_ms, maxt_ms) {
                self.one_at_a_time.set(self.one_at_a_time.get() + 1);
                if visit(&s.labels, &s.samples, &s.histograms, s.starts.as_deref()).is_break() {
                    break;
                }
            }
        }
    }

    fn counting(series: usize, points: i64) -> CountingQuerier {
        let series = (0..series)
            .map(|i| SeriesSamples {
                labels: Labels::from_pairs([("__name__", "a_total".to_string()), ("job", format!("j{}", i % 3)), ("pod", format!("p{i}"))]),
                samples: (0..points).map(|k| Sample { timestamp_ms: k * 10_000, value: k as f64 }).collect(),
                histograms: Vec::new(),
                starts: None,
            })
            .collect();
        CountingQuerier { data: MemQuerier { series }, ..Default::default() }
    }

    #[test]
    fn a_streamed_select_is_never_held_whole_unless_declined() {
        let engine = Engine::new(EngineOptions::default());
        let data = counting(10, 30);
        let q = engine.prepare_range("sum by (job) (rate(a_total[1m])) + on(job) count by (job) (a_total)", 60_000, 280_000, 20_000).unwrap();
        let streamed = q.execute(&data).unwrap();
        assert_eq!((data.whole.get(), data.one_at_a_time.get()), (0, 20), "both selects series by series");
        // Declined (two series equal without their names): fetched whole for the step-major
        // path, which reports the collision.
        let mut colliding = counting(2, 30);
        colliding.data.series[1].labels = Labels::from_pairs([("__name__", "b_total"), ("job", "j0"), ("pod", "p0")]);
        let q = engine.prepare_range("sum by (job) (rate({__name__=~\".+_total\"}[1m]))", 60_000, 280_000, 20_000).unwrap();
        let error = q.execute(&colliding).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("same labelset"), "{error}");
        assert_eq!(colliding.whole.get(), 1);
        // The answers agree with the step-major path.
        let step_major = Engine::new(EngineOptions { series_major: false, ..EngineOptions::default() });
        let q = step_major.prepare_range("sum by (job) (rate(a_total[1m])) + on(job) count by (job) (a_total)", 60_000, 280_000, 20_000).unwrap();
        assert_eq!(format!("{:?}", q.execute(&data).unwrap().value), format!("{:?}", streamed.value));
    }

    #[test]
    fn a_streamed_select_counts_against_the_sample_limit() {
        let data = counting(10, 30);
        let run = |max_samples: usize, series_major: bool| {
            let engine = Engine::new(EngineOptions { max_samples, series_major, ..EngineOptions::default() });
            let q = engine.prepare_range("sum(rate(a_total[1m]))", 60_000, 120_000, 20_000).unwrap();
            q.execute(&data).map(|r| format!("{:?}", r.value)).map_err(|e| e.to_string())
        };
        // The select reads (0, 120 s]: 12 samples of each of the 10 series.
        for series_major in [true, false] {
            assert!(run(120, series_major).is_ok(), "at the limit");
            let error = run(119, series_major).err().unwrap_or_default();
            assert!(error.contains("too many samples"), "{error}");
        }
        assert_eq!(run(120, true), run(120, false));
    }

    #[test]
    fn the_dashboard_shapes_are_evaluated_series_major() {
        let engine = Engine::new(EngineOptions::default());
        let q = engine.prepare_range("histogram_quantile(0.9, sum by (le) (rate(a_total[3m]))) + sum(b)", 0, 60_000, 10_000).unwrap();
        let data = MemQuerier::default();
        let ev = super::super::eval::evaluator(&q, &data, None).unwrap();
        let mut out = super::Precomputed::new();
        super::precompute(&ev, &q.expr, &mut out).unwrap();
        assert_eq!(out.len(), 2, "both sums");
        // Subqueries evaluate at steps of their own; a quantile needs every value.
        let q = engine.prepare_range("sum_over_time(sum(b)[1m:10s]) + quantile(0.5, b)", 0, 60_000, 10_000).unwrap();
        let ev = super::super::eval::evaluator(&q, &data, None).unwrap();
        let mut out = super::Precomputed::new();
        super::precompute(&ev, &q.expr, &mut out).unwrap();
        assert!(out.is_empty());
    }
}
