//! Prometheus' query sample statistics (`stats=true` on the query API): samples each step
//! reads from selectors (`totalQueryableSamples`, per step), samples read, and the most
//! samples evaluation holds at once. Counted only when a query asks (`Option`, decided once).

use std::cell::RefCell;

use tsdb::FloatHistogram;

/// A query's sample statistics, as `util/stats/query_stats.go` reports them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SampleStats {
    /// Samples the selectors gave the query's expressions, summed over steps (a range
    /// function's window counts whole at every step; a native histogram counts as its size).
    pub total_queryable_samples: u64,
    /// `total_queryable_samples` per step: (step time in ms, samples).
    pub total_queryable_samples_per_step: Vec<(i64, u64)>,
    /// Like `total_queryable_samples`, but a sample in the windows of several consecutive
    /// steps of a range query counts once.
    pub samples_read: u64,
    /// `samples_read` per step: (step time in ms, samples), each counted at the step that
    /// read it first (a selector with `@` at the first step, a subquery's points at the
    /// outer step whose evaluation reached them).
    pub samples_read_per_step: Vec<(i64, u64)>,
    /// Ours, not Prometheus' (which follows its own evaluation's memory): the samples fetched
    /// from storage for the query (every select is held whole; a select the series-major path
    /// streams counts as if it were) plus the points of the result.
    pub peak_samples: u64,
}

/// How long a query's phases took, in seconds (Prometheus' `queryTimings`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryTimings {
    pub eval_total_seconds: f64,
    pub result_sort_seconds: f64,
    pub query_preparation_seconds: f64,
    pub inner_eval_seconds: f64,
    pub exec_queue_seconds: f64,
    pub exec_total_seconds: f64,
}

/// What a query evaluated with statistics reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryStats {
    pub timings: QueryTimings,
    pub samples: SampleStats,
}

/// Prometheus' `HPoint.size()`: a histogram counts as its memory in 16-byte units.
pub(super) fn histogram_size(h: &FloatHistogram) -> u64 {
    // The struct's 168 bytes plus 8 per span, bucket and custom bound.
    let slices = h.positive_spans.len() + h.negative_spans.len() + h.positive_buckets.len() + h.negative_buckets.len() + h.custom_values.len();
    ((168 + 8 * slices + 8) / 16) as u64
}

/// The counters of one evaluation.
pub(super) struct Counter {
    start_ms: i64,
    step_ms: i64,
    per_step: Vec<u64>,
    read_per_step: Vec<u64>,
    /// The step being evaluated (index into `per_step`).
    step: usize,
    /// Depth of subqueries being evaluated: their inner selectors are not counted towards
    /// the total, the subquery's points are (as the range function reading them counts its
    /// window); they are counted as read.
    inside_subquery: u32,
    /// Where samples read are deduplicated: whether the (sub)query's current step is its
    /// first, and its step (a window reads only what the previous step's did not).
    pub(super) reading: ReadStep,
    /// Range selectors with `@`, read once per query (Prometheus evaluates them once).
    read_fixed: std::collections::HashSet<usize>,
    /// Per subquery, its last step counted as read: evaluated again at a later outer step, a
    /// subquery reads only at its steps after that one (Prometheus runs it once for all steps).
    subquery_read_until: std::collections::HashMap<usize, i64>,
}

/// The step samples read are deduplicated against (see `Counter::reading`).
#[derive(Clone, Copy, Debug)]
pub(super) struct ReadStep {
    pub first: bool,
    pub step_ms: i64,
    /// Whether reads at this step count (a subquery's step counted before does not).
    pub counts: bool,
}

impl Counter {
    pub(super) fn new(start_ms: i64, end_ms: i64, step_ms: i64) -> RefCell<Counter> {
        let steps = if step_ms > 0 { usize::try_from((end_ms - start_ms) / step_ms + 1).unwrap_or(1) } else { 1 };
        RefCell::new(Counter {
            start_ms,
            step_ms,
            per_step: vec![0; steps.max(1)],
            read_per_step: vec![0; steps.max(1)],
            step: 0,
            inside_subquery: 0,
            reading: ReadStep { first: true, step_ms, counts: true },
            read_fixed: Default::default(),
            subquery_read_until: Default::default(),
        })
    }

    pub(super) fn set_step(&mut self, step: usize) {
        self.step = step.min(self.per_step.len() - 1);
        self.reading = ReadStep { first: step == 0, step_ms: self.step_ms, counts: true };
    }

    /// Enters the step at `at_ms` of subquery `subquery` (stepping by `step_ms`): its reads
    /// count unless an earlier evaluation of it counted this step already.
    pub(super) fn subquery_step(&mut self, subquery: usize, at_ms: i64, step_ms: i64) {
        let last = self.subquery_read_until.get(&subquery).copied();
        let counts = last.is_none_or(|last| at_ms > last);
        if counts {
            self.subquery_read_until.insert(subquery, at_ms);
        }
        self.reading = ReadStep { first: last.is_none_or(|last| at_ms - step_ms > last), step_ms, counts };
    }

    /// Whether the range selector with `@` at `selector` is read now: the first time only.
    pub(super) fn read_fixed_once(&mut self, selector: usize) -> bool {
        self.read_fixed.insert(selector)
    }

    /// `total` samples given to an expression at the current step, `read` of them new.
    pub(super) fn add(&mut self, total: u64, read: u64) {
        if self.inside_subquery == 0 {
            self.per_step[self.step] += total;
        }
        if self.reading.counts {
            self.read_per_step[self.step] += read;
        }
    }

    /// Adds counts of each step, in total and read (the series-major path's).
    pub(super) fn add_per_step(&mut self, per_step: &[u64], read_per_step: &[u64]) {
        for (mine, theirs) in self.per_step.iter_mut().zip(per_step) {
            *mine += theirs;
        }
        for (mine, theirs) in self.read_per_step.iter_mut().zip(read_per_step) {
            *mine += theirs;
        }
    }

    pub(super) fn enter_subquery(&mut self) {
        self.inside_subquery += 1;
    }

    pub(super) fn leave_subquery(&mut self) {
        self.inside_subquery = self.inside_subquery.saturating_sub(1);
    }

    pub(super) fn finish(self, fetched: u64, result_points: u64) -> SampleStats {
        let step_ms = self.step_ms.max(1);
        let at_steps = |counts: &[u64]| -> Vec<(i64, u64)> { counts.iter().enumerate().map(|(i, n)| (self.start_ms + i as i64 * step_ms, *n)).collect() };
        SampleStats {
            total_queryable_samples: self.per_step.iter().sum(),
            total_queryable_samples_per_step: at_steps(&self.per_step),
            samples_read: self.read_per_step.iter().sum(),
            samples_read_per_step: at_steps(&self.read_per_step),
            peak_samples: fetched + result_points,
        }
    }
}
