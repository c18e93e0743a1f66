//! Adding and subtracting histograms (Prometheus' `Add`, `Sub`, `KahanAdd`): the lower schema
//! wins, the wider zero bucket swallows the buckets inside it, custom bounds reduce to the bounds
//! both histograms have; scaling; and the Kahan-compensated sum and mean of `sum`, `avg`,
//! `sum_over_time` and `avg_over_time`.

use tsdb::model::CUSTOM_BUCKETS_SCHEMA;
use tsdb::{CounterResetHint, FloatHistogram};

use super::bounds::{bucket_range, exponential_bound};
use super::layout::{compact, compact_entries, has_overflow, reduce_entries};
use super::{collapse, expand, kahan_inc, Entry, HistogramError, Notes};

/// The PromQL `+` of two histograms (compacted), or why they cannot be added.
#[cfg(test)]
pub(crate) fn add(a: &FloatHistogram, b: &FloatHistogram) -> Result<FloatHistogram, HistogramError> {
    add_noting(a, b, &mut Notes::default())
}

pub(crate) fn add_noting(a: &FloatHistogram, b: &FloatHistogram, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    let mut w = Work::from(a);
    w.combine(&Work::from(b), Mode::Add, notes)?;
    Ok(compact(&w.value()))
}

/// The PromQL `-` of two histograms (compacted): a gauge histogram whatever the inputs were.
#[cfg(test)]
pub(crate) fn sub(a: &FloatHistogram, b: &FloatHistogram) -> Result<FloatHistogram, HistogramError> {
    sub_noting(a, b, &mut Notes::default())
}

pub(crate) fn sub_noting(a: &FloatHistogram, b: &FloatHistogram, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    let mut out = raw_sub(a, b, notes)?;
    out.counter_reset_hint = CounterResetHint::Gauge;
    Ok(compact(&out))
}

/// Prometheus' `Sub` itself: `a - b` with the hint rules of `Add` (not forced to gauge) and the
/// layout not compacted, as `rate`, interpolation and the test notation's `{{..}}-{{..}}xN` use it.
pub(crate) fn raw_sub(a: &FloatHistogram, b: &FloatHistogram, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    let mut w = Work::from(a);
    w.combine(&Work::from(b), Mode::Sub, notes)?;
    Ok(w.value())
}

/// Prometheus' `Add` itself: `a + b`, the layout not compacted.
pub(crate) fn raw_add(a: &FloatHistogram, b: &FloatHistogram, notes: &mut Notes) -> Result<FloatHistogram, HistogramError> {
    let mut w = Work::from(a);
    w.combine(&Work::from(b), Mode::Add, notes)?;
    Ok(w.value())
}

/// The zero count `h` would have with its zero bucket widened to `threshold` (>= its own), and
/// the threshold really needed so as not to cut through a populated bucket.
pub(super) fn zero_count_for_larger_threshold(h: &FloatHistogram, threshold: f64) -> (f64, f64) {
    let (zero, threshold, _) = Work::from(h).zero_count_for_larger_threshold(threshold, false);
    (zero, threshold)
}

/// Every count and the sum times `factor`, layout unchanged (Prometheus' `Mul`); a negative factor
/// makes a gauge histogram. The `*` operator compacts the result, `rate`'s extrapolation does not.
pub(crate) fn mul(h: &FloatHistogram, factor: f64) -> FloatHistogram {
    let mut out = h.clone();
    scale(&mut out, |v| v * factor);
    if factor < 0.0 {
        out.counter_reset_hint = CounterResetHint::Gauge;
    }
    out
}

/// Every count and the sum divided by `divisor` (Prometheus' `Div`): dividing by 0 leaves
/// infinite (or NaN) totals and no buckets; a negative divisor makes a gauge histogram.
pub(crate) fn div(h: &FloatHistogram, divisor: f64) -> FloatHistogram {
    let mut out = h.clone();
    if divisor == 0.0 {
        out.zero_count /= divisor;
        out.count /= divisor;
        out.sum /= divisor;
        out.positive_spans.clear();
        out.positive_buckets.clear();
        out.negative_spans.clear();
        out.negative_buckets.clear();
        return out;
    }
    scale(&mut out, |v| v / divisor);
    if divisor < 0.0 {
        out.counter_reset_hint = CounterResetHint::Gauge;
    }
    out
}

/// Unary minus: `mul(h, -1)`, a gauge histogram.
pub(crate) fn negate(h: &FloatHistogram) -> FloatHistogram {
    mul(h, -1.0)
}

fn scale(h: &mut FloatHistogram, f: impl Fn(f64) -> f64) {
    h.zero_count = f(h.zero_count);
    h.count = f(h.count);
    h.sum = f(h.sum);
    for v in h.positive_buckets.iter_mut().chain(h.negative_buckets.iter_mut()) {
        *v = f(*v);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Add,
    Sub,
    /// Kahan-compensated addition into the receiver's compensation.
    Kahan,
}

/// The compensation histogram of a Kahan sum beside the bucket compensations in the entries.
#[derive(Clone, Copy, Debug)]
struct Compensation {
    hint: CounterResetHint,
    zero_count: f64,
    count: f64,
    sum: f64,
}

/// A histogram while it is combined with others: buckets as entries, and, once a Kahan addition
/// has happened, its compensation.
#[derive(Clone, Debug)]
struct Work {
    hint: CounterResetHint,
    schema: i32,
    zero_threshold: f64,
    zero_count: f64,
    count: f64,
    sum: f64,
    positive: Vec<Entry>,
    negative: Vec<Entry>,
    custom_values: Vec<f64>,
    compensation: Option<Compensation>,
}

impl Work {
    fn from(h: &FloatHistogram) -> Work {
        Work {
            hint: h.counter_reset_hint,
            schema: h.schema,
            zero_threshold: h.zero_threshold,
            zero_count: h.zero_count,
            count: h.count,
            sum: h.sum,
            positive: expand(&h.positive_spans, &h.positive_buckets),
            negative: expand(&h.negative_spans, &h.negative_buckets),
            custom_values: h.custom_values.clone(),
            compensation: None,
        }
    }

    fn custom(&self) -> bool {
        self.schema == CUSTOM_BUCKETS_SCHEMA
    }

    /// The histogram itself (without compensation), in its current layout.
    fn value(&self) -> FloatHistogram {
        let (positive_spans, positive_buckets) = collapse(&self.positive);
        let (negative_spans, negative_buckets) = collapse(&self.negative);
        FloatHistogram {
            counter_reset_hint: self.hint,
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            count: self.count,
            sum: self.sum,
            positive_spans,
            negative_spans,
            positive_buckets,
            negative_buckets,
            custom_values: self.custom_values.clone(),
        }
    }

    /// The compensation as a histogram of the same layout, if there is one.
    fn compensation_histogram(&self) -> Option<FloatHistogram> {
        let c = self.compensation?;
        let mut h = self.value();
        h.counter_reset_hint = c.hint;
        (h.zero_count, h.count, h.sum) = (c.zero_count, c.count, c.sum);
        h.positive_buckets = self.positive.iter().map(|e| e.comp).collect();
        h.negative_buckets = self.negative.iter().map(|e| e.comp).collect();
        Some(h)
    }

    /// Scales the histogram and, separately, its compensation (Prometheus scales each).
    fn scale(&mut self, f: impl Fn(f64) -> f64) {
        (self.zero_count, self.count, self.sum) = (f(self.zero_count), f(self.count), f(self.sum));
        if let Some(c) = &mut self.compensation {
            (c.zero_count, c.count, c.sum) = (f(c.zero_count), f(c.count), f(c.sum));
        }
        for e in self.positive.iter_mut().chain(self.negative.iter_mut()) {
            e.value = f(e.value);
            e.comp = f(e.comp);
        }
    }

    /// `self op other`, as Prometheus' `Add`/`Sub`/`KahanAdd` change their receiver.
    fn combine(&mut self, other: &Work, mode: Mode, notes: &mut Notes) -> Result<(), HistogramError> {
        if self.custom() != other.custom() {
            return Err(HistogramError::MixedExponentialAndCustom);
        }
        let (hint, collision) = adjusted_hint(self.hint, other.hint);
        self.hint = hint;
        notes.counter_reset_collision |= collision;
        let kahan = mode == Mode::Kahan;
        if kahan && self.compensation.is_none() {
            self.compensation = Some(Compensation { hint: self.hint, zero_count: 0.0, count: 0.0, sum: 0.0 });
        }
        if !self.custom() {
            let (other_zero, other_zero_comp) = self.reconcile_zero_buckets(other, kahan);
            match (mode, &mut self.compensation) {
                (Mode::Kahan, Some(c)) => {
                    (self.zero_count, c.zero_count) = kahan_inc(other_zero, self.zero_count, c.zero_count);
                    (self.zero_count, c.zero_count) = kahan_inc(other_zero_comp, self.zero_count, c.zero_count);
                }
                (Mode::Sub, _) => self.zero_count -= other_zero,
                _ => self.zero_count += other_zero,
            }
        }
        match (mode, &mut self.compensation) {
            (Mode::Kahan, Some(c)) => {
                (self.count, c.count) = kahan_inc(other.count, self.count, c.count);
                (self.sum, c.sum) = kahan_inc(other.sum, self.sum, c.sum);
            }
            (Mode::Sub, _) => {
                self.count -= other.count;
                self.sum -= other.sum;
            }
            _ => {
                self.count += other.count;
                self.sum += other.sum;
            }
        }
        let negative = mode == Mode::Sub;
        if self.custom() {
            if self.custom_values == other.custom_values {
                add_buckets(&mut self.positive, &other.positive, self.schema, self.zero_threshold, negative, kahan);
            } else {
                notes.custom_bounds_reconciled = true;
                if negative {
                    notes.reconciled_in_subtraction = true;
                } else {
                    notes.reconciled_in_addition = true;
                }
                let common = common_bounds(&self.custom_values, &other.custom_values);
                self.positive = map_to_common_bounds(&self.positive, &self.custom_values, &other.positive, &other.custom_values, &common, negative, kahan);
                self.custom_values = common;
            }
            return Ok(());
        }
        let (mut other_positive, mut other_negative) = (other.positive.clone(), other.negative.clone());
        if other.schema < self.schema {
            self.positive = reduce_entries(std::mem::take(&mut self.positive), self.schema, other.schema, kahan);
            self.negative = reduce_entries(std::mem::take(&mut self.negative), self.schema, other.schema, kahan);
            self.schema = other.schema;
        } else if other.schema > self.schema {
            other_positive = reduce_entries(other_positive, other.schema, self.schema, kahan);
            other_negative = reduce_entries(other_negative, other.schema, self.schema, kahan);
        }
        add_buckets(&mut self.positive, &other_positive, self.schema, self.zero_threshold, negative, kahan);
        add_buckets(&mut self.negative, &other_negative, self.schema, self.zero_threshold, negative, kahan);
        Ok(())
    }

    /// Widens the zero bucket of whichever histogram has the narrower one until both agree (never
    /// inside a populated bucket); changes `self`, returns the zero count (and its Kahan remainder)
    /// `other` would have.
    fn reconcile_zero_buckets(&mut self, other: &Work, kahan: bool) -> (f64, f64) {
        let (mut other_zero, mut other_threshold, mut other_comp) = (other.zero_count, other.zero_threshold, 0.0);
        while other_threshold != self.zero_threshold {
            if other_threshold.is_nan() || self.zero_threshold.is_nan() {
                break;
            }
            if self.zero_threshold > other_threshold {
                (other_zero, other_threshold, other_comp) = other.zero_count_for_larger_threshold(self.zero_threshold, false);
            }
            if other_threshold > self.zero_threshold {
                let (zero, threshold, comp) = self.zero_count_for_larger_threshold(other_threshold, kahan);
                (self.zero_count, self.zero_threshold) = (zero, threshold);
                if let (true, Some(c)) = (kahan, &mut self.compensation) {
                    c.zero_count = comp;
                }
                self.trim_buckets_in_zero_bucket();
            }
        }
        (other_zero, other_comp)
    }

    /// The zero count with the threshold raised to `larger` (moved up to the edge of a populated
    /// bucket it would cut), that threshold, and the Kahan remainder of the sum.
    fn zero_count_for_larger_threshold(&self, mut larger: f64, with_comp: bool) -> (f64, f64, f64) {
        let mut comp = match (with_comp, self.compensation) {
            (true, Some(c)) => c.zero_count,
            _ => 0.0,
        };
        if larger == self.zero_threshold {
            return (self.zero_count, larger, comp);
        }
        'outer: loop {
            let mut zero = self.zero_count;
            for e in &self.positive {
                let (lower, upper) = bucket_range(e.index, true, self.schema, &self.custom_values);
                if lower >= larger {
                    break;
                }
                (zero, comp) = kahan_inc(e.value, zero, comp);
                if with_comp {
                    (zero, comp) = kahan_inc(e.comp, zero, comp);
                }
                if upper > larger {
                    if e.value != 0.0 {
                        larger = upper;
                    }
                    break;
                }
            }
            for e in &self.negative {
                let (lower, upper) = bucket_range(e.index, false, self.schema, &self.custom_values);
                if upper <= -larger {
                    break;
                }
                (zero, comp) = kahan_inc(e.value, zero, comp);
                if with_comp {
                    (zero, comp) = kahan_inc(e.comp, zero, comp);
                }
                if lower < -larger {
                    if e.value != 0.0 {
                        // The positive side has to be redone with the wider threshold.
                        larger = -lower;
                        continue 'outer;
                    }
                    break;
                }
            }
            return (zero, larger, comp);
        }
    }

    /// Empties the buckets now inside the zero bucket (their counts are in the zero count already)
    /// and compacts.
    fn trim_buckets_in_zero_bucket(&mut self) {
        let threshold = self.zero_threshold;
        for e in self.positive.iter_mut() {
            if bucket_range(e.index, true, self.schema, &self.custom_values).0 >= threshold {
                break;
            }
            (e.value, e.comp) = (0.0, 0.0);
        }
        for e in self.negative.iter_mut() {
            if bucket_range(e.index, false, self.schema, &self.custom_values).1 <= -threshold {
                break;
            }
            (e.value, e.comp) = (0.0, 0.0);
        }
        self.positive = compact_entries(&self.positive, 0);
        self.negative = compact_entries(&self.negative, 0);
    }
}

/// Prometheus' counter reset hint of a sum or difference, and whether the hints collided (one
/// said reset, the other not).
fn adjusted_hint(mine: CounterResetHint, other: CounterResetHint) -> (CounterResetHint, bool) {
    use CounterResetHint::*;
    match (mine, other) {
        (a, b) if a == b => (a, false),
        (Gauge, _) | (_, Gauge) => (Gauge, false),
        (Unknown, _) | (_, Unknown) => (Unknown, false),
        _ => (Unknown, true),
    }
}

/// Adds (`negative`: subtracts) bucket counts `b` into `a`, inserting buckets `a` lacks. Buckets
/// of `b` inside the zero bucket (upper bound <= `threshold`) are skipped: their counts are in
/// the zero count.
fn add_buckets(a: &mut Vec<Entry>, b: &[Entry], schema: i32, threshold: f64, negative: bool, kahan: bool) {
    let mut below_threshold = schema != CUSTOM_BUCKETS_SCHEMA;
    let mut at = 0;
    for e in b {
        if below_threshold && exponential_bound(e.index, schema) <= threshold {
            continue;
        }
        below_threshold = false;
        let (value, comp) = if negative { (-e.value, -e.comp) } else { (e.value, e.comp) };
        while at < a.len() && a[at].index < e.index {
            at += 1;
        }
        match a.get_mut(at) {
            Some(existing) if existing.index == e.index => {
                if kahan {
                    (existing.value, existing.comp) = kahan_inc(value, existing.value, existing.comp);
                    if comp != 0.0 {
                        (existing.value, existing.comp) = kahan_inc(comp, existing.value, existing.comp);
                    }
                } else {
                    existing.value += value;
                }
            }
            _ => a.insert(at, Entry { index: e.index, value, comp }),
        }
    }
}

/// The custom bounds two histograms share (Prometheus reconciles differing bounds to these).
fn common_bounds(a: &[f64], b: &[f64]) -> Vec<f64> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(a[i]);
            (i, j) = (i + 1, j + 1);
        } else if a[i] < b[j] {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// `a op b` for custom-bucket histograms with different bounds: every bucket moves to the first
/// common bound at or above its own upper bound (else to +Inf), summed with Kahan steps; buckets
/// that end up empty are left out. Only a Kahan sum keeps the compensations.
fn map_to_common_bounds(a: &[Entry], a_bounds: &[f64], b: &[Entry], b_bounds: &[f64], common: &[f64], negative: bool, kahan: bool) -> Vec<Entry> {
    let mut target = vec![(0.0, 0.0); common.len() + 1];
    let mut map = |entries: &[Entry], bounds: &[f64], negative: bool, with_comp: bool| {
        let mut at = 0;
        for e in entries {
            let mut index = common.len();
            if let Some(&bound) = usize::try_from(e.index).ok().and_then(|i| bounds.get(i)) {
                while at < common.len() {
                    if common[at] >= bound {
                        index = at;
                        break;
                    }
                    at += 1;
                }
            }
            let (sum, c) = &mut target[index];
            (*sum, *c) = kahan_inc(if negative { -e.value } else { e.value }, *sum, *c);
            if with_comp {
                (*sum, *c) = kahan_inc(e.comp, *sum, *c);
            }
        }
    };
    map(a, a_bounds, false, kahan);
    map(b, b_bounds, negative, false);
    target
        .into_iter()
        .enumerate()
        .filter(|(_, (v, c))| !(*v == 0.0 && *c == 0.0))
        .map(|(i, (value, comp))| Entry { index: i as i32, value, comp: if kahan { comp } else { 0.0 } })
        .collect()
}

/// The Kahan-compensated sum of histograms, as `sum` and `sum_over_time` add them: the first
/// histogram as is, each further one with `add`; `finish` folds the compensation in and compacts.
#[derive(Clone, Debug)]
pub(crate) struct HistogramSum {
    work: Work,
    notes: Notes,
    hints: HintsSeen,
}

impl HistogramSum {
    pub(crate) fn new(first: &FloatHistogram) -> HistogramSum {
        let mut hints = HintsSeen::default();
        hints.see(first.counter_reset_hint);
        HistogramSum { work: Work::from(first), notes: Notes::default(), hints }
    }

    /// Adds `h`; on an error (exponential mixed with custom buckets) the sum is unchanged and
    /// PromQL drops it.
    pub(crate) fn add(&mut self, h: &FloatHistogram) -> Result<(), HistogramError> {
        self.hints.see(h.counter_reset_hint);
        self.work.combine(&Work::from(h), Mode::Kahan, &mut self.notes)
    }

    /// Annotations so far (a counter reset collision: some inputs said reset, others not).
    pub(crate) fn notes(&self) -> Notes {
        Notes { counter_reset_collision: self.hints.collided(), ..self.notes }
    }

    pub(crate) fn finish(self) -> FloatHistogram {
        compact(&fold_compensation(&self.work, |_| {}))
    }
}

/// The mean of histograms as `avg` and `avg_over_time` compute it: a Kahan sum divided by the
/// count, switching to an incremental mean once the sum would overflow.
#[derive(Clone, Debug)]
pub(crate) struct HistogramMean {
    /// The sum, or the running mean once `incremental`.
    work: Work,
    count: f64,
    incremental: bool,
    notes: Notes,
    hints: HintsSeen,
}

impl HistogramMean {
    pub(crate) fn new(first: &FloatHistogram) -> HistogramMean {
        let mut hints = HintsSeen::default();
        hints.see(first.counter_reset_hint);
        HistogramMean { work: Work::from(first), count: 1.0, incremental: false, notes: Notes::default(), hints }
    }

    /// Adds `h`; on an error (exponential mixed with custom buckets) PromQL drops the mean.
    pub(crate) fn add(&mut self, h: &FloatHistogram) -> Result<(), HistogramError> {
        if self.work.custom() != h.uses_custom_buckets() {
            return Err(HistogramError::MixedExponentialAndCustom);
        }
        self.hints.see(h.counter_reset_hint);
        self.count += 1.0;
        let count = self.count;
        let other = Work::from(h);
        if !self.incremental {
            let mut next = self.work.clone();
            next.combine(&other, Mode::Kahan, &mut self.notes)?;
            if !has_overflow(&next.value()) {
                self.work = next;
                return Ok(());
            }
            self.incremental = true;
            self.work.scale(|v| v / (count - 1.0));
        }
        let q = (count - 1.0) / count;
        self.work.scale(|v| v * q);
        let mut to_add = other;
        to_add.scale(|v| v / count);
        self.work.combine(&to_add, Mode::Kahan, &mut self.notes)
    }

    pub(crate) fn notes(&self) -> Notes {
        Notes { counter_reset_collision: self.hints.collided(), ..self.notes }
    }

    pub(crate) fn finish(self) -> FloatHistogram {
        let count = self.count;
        if self.incremental {
            return compact(&fold_compensation(&self.work, |_| {}));
        }
        compact(&fold_compensation(&self.work, |w| w.scale(|v| v / count)))
    }
}

/// The histogram of `w` plus its compensation, both first transformed by `prepare`.
fn fold_compensation(w: &Work, prepare: impl Fn(&mut Work)) -> FloatHistogram {
    let mut value = Work::from(&w.value());
    prepare(&mut value);
    let Some(compensation) = w.compensation_histogram() else { return value.value() };
    let mut compensation = Work::from(&compensation);
    prepare(&mut compensation);
    // Cannot fail: the compensation has the layout of the value.
    let _ = value.combine(&compensation, Mode::Add, &mut Notes::default());
    value.value()
}

/// Counter reset hints among the inputs of a sum or mean.
#[derive(Clone, Copy, Debug, Default)]
struct HintsSeen {
    reset: bool,
    not_reset: bool,
}

impl HintsSeen {
    fn see(&mut self, hint: CounterResetHint) {
        match hint {
            CounterResetHint::CounterReset => self.reset = true,
            CounterResetHint::NotCounterReset => self.not_reset = true,
            _ => {}
        }
    }

    fn collided(&self) -> bool {
        self.reset && self.not_reset
    }
}
