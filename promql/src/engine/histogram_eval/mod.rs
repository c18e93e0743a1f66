//! Native histogram values in evaluation: the range functions, instant functions,
//! aggregations and operators that accept histograms, and where the others leave histogram
//! samples out, with the warnings and infos Prometheus 3.x gives for each. This file owns
//! the range and instant functions and the running sum or mean they share with the
//! aggregations; its children hold the aggregations, the operators and extended windows.

use std::sync::Arc;

use tsdb::{CounterResetHint, FloatHistogram, HistogramSample, Labels, Sample};

use super::annotations::{Annotation, Operation};
use super::eval::{Elem, Evaluator};
use super::functions::{range_value, RangeArgs, RangeKind};
use super::native_histogram as nh;
use super::range_functions::extrapolation_factor;
use super::start_times::{self, WindowStarts};
use crate::ast::Pos;

mod aggregation;
mod extended;
mod operators;

pub(super) use aggregation::aggregate_with_histograms;
pub(super) use extended::smoothed_histogram;
pub(super) use operators::{histogram_binary, BinaryValue, Operand};

/// A range function's value over a window that holds histograms.
pub(super) enum RangeOut {
    Float(f64),
    Histogram(FloatHistogram),
}

impl RangeOut {
    pub(super) fn into_elem(self, labels: Labels, drop_name: bool) -> Elem {
        match self {
            RangeOut::Float(v) => Elem::new(labels, v, drop_name),
            RangeOut::Histogram(h) => Elem::with_histogram(labels, Arc::new(h), drop_name),
        }
    }
}

/// Where a range function's annotations about one window go: the evaluator, the position
/// they point at (the call's first argument) and the series the window belongs to.
pub(super) struct WindowReport<'a, 'q> {
    pub ev: &'a Evaluator<'q>,
    pub pos: Pos,
    pub labels: &'a Labels,
}

impl WindowReport<'_, '_> {
    fn metric(&self) -> String {
        metric_name(self.labels)
    }

    pub(super) fn mixed_floats_and_histograms(&self) {
        self.ev.annotate(Annotation::MixedFloatsHistograms { metric: self.metric() }, self.pos);
    }

    pub(super) fn mixed_exponential_and_custom(&self) {
        self.ev.annotate(Annotation::MixedExponentialCustom { metric: self.metric() }, self.pos);
    }

    fn histograms_ignored(&self) {
        self.ev.annotate(Annotation::HistogramIgnoredInMixedRange { metric: self.metric() }, self.pos);
    }

    pub(super) fn start_time_overlap(&self) {
        self.ev.annotate(Annotation::StartTimeOverlap { metric: self.metric() }, self.pos);
    }

    pub(super) fn notes(&self, notes: &nh::Notes, reconciliation: Option<Operation>) {
        if *notes != nh::Notes::default() {
            self.ev.annotate_notes(notes, &self.metric(), self.pos, reconciliation);
        }
    }
}

/// Range function `name` over a window whose `histograms` are not all empty, beside the
/// window's (stale-free) `floats`. `None` when the window gives no value (for the functions
/// that take only floats or only histograms, a mixed window gives none: a warning, or an
/// info where the floats still give a value). `starts`: the window's start times, for the
/// functions that read them (`start_times`).
pub(super) fn range_value_with_histograms(
    kind: RangeKind,
    name: &str,
    floats: &[Sample],
    histograms: &[HistogramSample],
    a: RangeArgs,
    report: &WindowReport<'_, '_>,
    starts: Option<WindowStarts<'_>>,
) -> Option<RangeOut> {
    match kind {
        RangeKind::Rate | RangeKind::Increase | RangeKind::Delta => {
            if !floats.is_empty() {
                report.mixed_floats_and_histograms();
                return None;
            }
            let starts = starts.map(|s| s.histograms);
            histogram_rate(histograms, a.start, a.end, !matches!(kind, RangeKind::Delta), matches!(kind, RangeKind::Rate), report, starts).map(RangeOut::Histogram)
        }
        RangeKind::Irate | RangeKind::Idelta => instant_histogram_value(floats, histograms, matches!(kind, RangeKind::Irate), report, starts),
        RangeKind::Resets => Some(RangeOut::Float(resets(floats, histograms, starts))),
        RangeKind::Changes => Some(RangeOut::Float(changes(floats, histograms))),
        RangeKind::OverTime => over_time(name, floats, histograms, a, report),
        RangeKind::Deriv | RangeKind::PredictLinear | RangeKind::DoubleExponentialSmoothing | RangeKind::HoltWinters => {
            if floats.is_empty() {
                None
            } else {
                report.histograms_ignored();
                range_value(kind, name, floats, a).map(RangeOut::Float)
            }
        }
    }
}

/// Range function `name` over an `anchored`/`smoothed` window (the extended one, with the
/// samples around the range's edges) that holds histograms. rate/increase/delta take
/// histograms only (a window with floats too gives nothing); `changes`/`resets` start from
/// the anchor, float or histogram (`resets` with the window's `starts`, when read).
#[allow(clippy::too_many_arguments)]
pub(super) fn extended_range_value(
    name: &str,
    floats: &[Sample],
    histograms: &[HistogramSample],
    start: i64,
    end: i64,
    smoothed: bool,
    report: &WindowReport<'_, '_>,
    starts: Option<WindowStarts<'_>>,
) -> Option<RangeOut> {
    let rate = |is_counter, is_rate| {
        if !floats.is_empty() {
            report.mixed_floats_and_histograms();
            return None;
        }
        let mut notes = nh::Notes::default();
        let result = extended::extended_histogram_rate(histograms, start, end, smoothed, is_counter, is_rate, &mut notes);
        report.notes(&notes, None);
        match result {
            Ok(h) => h.map(RangeOut::Histogram),
            Err(nh::HistogramError::MixedExponentialAndCustom) => {
                report.mixed_exponential_and_custom();
                None
            }
            Err(_) => None,
        }
    };
    match name {
        "rate" => rate(true, true),
        "increase" => rate(true, false),
        "delta" => rate(false, false),
        "changes" | "resets" => {
            let (f, h) = extended::anchored_starts(floats, histograms, start)?;
            let count = if name == "changes" { changes(&floats[f..], &histograms[h..]) } else { resets(&floats[f..], &histograms[h..], starts.map(|s| s.from(f, h))) };
            Some(RangeOut::Float(count))
        }
        _ => None,
    }
}

/// Makes the counter-reset hints of a subquery's histograms unknown, as Prometheus does before
/// a range function reads them: a subquery may skip the sample after a reset or return it at
/// several steps, so a hint would miss resets or count one several times; the functions then
/// detect resets from the counts, as they do for floats.
pub(super) fn forget_reset_hints(histograms: &mut [HistogramSample]) {
    for p in histograms {
        if matches!(p.histogram.counter_reset_hint, CounterResetHint::CounterReset | CounterResetHint::NotCounterReset) {
            p.histogram = Arc::new(FloatHistogram { counter_reset_hint: CounterResetHint::Unknown, ..(*p.histogram).clone() });
        }
    }
}

/// rate/increase/delta of histograms: the last minus the first (with counter resets
/// added back), extrapolated to the window's edges like floats, the zero point taken from
/// the observation count. With `starts` (counters only), resets by start time count too and a
/// first sample's start inside the range is where the counter was zero (see `start_times`).
fn histogram_rate(histograms: &[HistogramSample], start: i64, end: i64, is_counter: bool, is_rate: bool, report: &WindowReport<'_, '_>, starts: Option<&[i64]>) -> Option<FloatHistogram> {
    if let Some(starts) = starts.filter(|_| is_counter) {
        return histogram_rate_with_starts(histograms, starts, start, end, is_rate, report);
    }
    if histograms.len() < 2 {
        return None;
    }
    let mut notes = nh::Notes::default();
    let increase = nh::increase_noting(histograms, is_counter, &mut notes);
    report.notes(&notes, None);
    let result = increase_or_report(increase, report)?;
    Some(extrapolated_histogram(histograms, result, start, end, is_counter, is_rate))
}

/// The increase of a window's histograms, or its error reported (`None`).
fn increase_or_report(increase: Result<FloatHistogram, nh::HistogramError>, report: &WindowReport<'_, '_>) -> Option<FloatHistogram> {
    match increase {
        Ok(h) => Some(h),
        Err(nh::HistogramError::MixedExponentialAndCustom) => {
            report.mixed_exponential_and_custom();
            None
        }
        Err(_) => None,
    }
}

/// `result` (the window's increase) extrapolated to the window's edges, as a gauge histogram.
fn extrapolated_histogram(histograms: &[HistogramSample], mut result: FloatHistogram, start: i64, end: i64, is_counter: bool, is_rate: bool) -> FloatHistogram {
    let first = &histograms[0];
    let last = &histograms[histograms.len() - 1];
    let zero = (first.histogram.count, result.count);
    let factor = extrapolation_factor(first.timestamp_ms, last.timestamp_ms, histograms.len(), start, end, is_counter, is_rate, zero);
    result = nh::mul(&result, factor);
    result.counter_reset_hint = CounterResetHint::Gauge;
    result
}

/// `histogram_rate` of a counter window whose histograms carry `starts`. When the first sample's
/// start lies in the range, the first histogram counts as increase from zero and there is no
/// extrapolation to the left (a single histogram then gives a rate too, with its own hint, as
/// Prometheus copies it).
fn histogram_rate_with_starts(histograms: &[HistogramSample], starts: &[i64], start: i64, end: i64, is_rate: bool, report: &WindowReport<'_, '_>) -> Option<FloatHistogram> {
    let (first, last) = (histograms.first()?, histograms.last()?);
    let started = start_times::start_inside(starts.first().copied().unwrap_or(0), first.timestamp_ms, start);
    let increase = if histograms.len() > 1 {
        let mut notes = nh::Notes::default();
        let increase = nh::increase_with_starts_noting(histograms, starts, true, &mut notes);
        report.notes(&notes, None);
        let increase = increase_or_report(increase, report)?;
        if start_times::histograms_overlap(histograms, starts) {
            report.start_time_overlap();
        }
        Some(increase)
    } else {
        None
    };
    let Some(from) = started else {
        return increase.map(|h| extrapolated_histogram(histograms, h, start, end, true, is_rate));
    };
    let total = match increase {
        None => (*first.histogram).clone(),
        Some(h) => {
            let mut notes = nh::Notes::default();
            let sum = nh::raw_add(&h, &first.histogram, &mut notes);
            report.notes(&notes, Some(Operation::Addition));
            increase_or_report(sum, report)?
        }
    };
    let factor = start_times::factor_from_start(from, first.timestamp_ms, last.timestamp_ms, histograms.len(), end, end - start, is_rate);
    Some(nh::mul(&total, factor))
}

/// irate/idelta: over the window's last two samples when both are histograms; two floats
/// go the float way; one of each gives nothing. With `starts` (irate), a reset by start time
/// counts as one by value does.
fn instant_histogram_value(floats: &[Sample], histograms: &[HistogramSample], is_rate: bool, report: &WindowReport<'_, '_>, starts: Option<WindowStarts<'_>>) -> Option<RangeOut> {
    let merged = merged(floats, histograms, starts);
    if merged.len() < 2 {
        return None;
    }
    let ((prev, prev_start), (last, last_start)) = (&merged[merged.len() - 2], &merged[merged.len() - 1]);
    let interval_ms = last.timestamp_ms() - prev.timestamp_ms();
    if interval_ms == 0 {
        return None;
    }
    let reset_by_start = is_rate && start_times::is_start_reset(*prev_start, prev.timestamp_ms(), *last_start, last.timestamp_ms());
    match (prev, last) {
        (Point::Float(p), Point::Float(l)) if starts.is_some() && is_rate => start_times::irate(&[*p, *l], &[*prev_start, *last_start]).map(RangeOut::Float),
        (Point::Float(p), Point::Float(l)) => super::range_functions::instant_value(&[*p, *l], is_rate).map(RangeOut::Float),
        (Point::Histogram(p), Point::Histogram(l)) => {
            let (gauge, gauges) = (CounterResetHint::Gauge, (p.histogram.counter_reset_hint, l.histogram.counter_reset_hint));
            // irate is for counters, idelta for gauges.
            let notes = nh::Notes { not_counter: is_rate && (gauges.0 == gauge || gauges.1 == gauge), not_gauge: !is_rate && (gauges.0 != gauge || gauges.1 != gauge), ..Default::default() };
            report.notes(&notes, None);
            let mut result = if reset_by_start || (is_rate && nh::detect_reset(&p.histogram, &l.histogram)) {
                nh::compact(&l.histogram)
            } else {
                let mut notes = nh::Notes::default();
                let difference = nh::sub_noting(&l.histogram, &p.histogram, &mut notes);
                report.notes(&notes, Some(Operation::Subtraction));
                match difference {
                    Ok(h) => h,
                    Err(_) => {
                        report.mixed_exponential_and_custom();
                        return None;
                    }
                }
            };
            if is_rate {
                result = nh::div(&result, interval_ms as f64 / 1000.0);
            }
            result.counter_reset_hint = CounterResetHint::Gauge;
            Some(RangeOut::Histogram(result))
        }
        _ => {
            report.mixed_floats_and_histograms();
            None
        }
    }
}

/// One sample of either kind.
enum Point<'a> {
    Float(Sample),
    Histogram(&'a HistogramSample),
}

impl Point<'_> {
    fn timestamp_ms(&self) -> i64 {
        match self {
            Point::Float(p) => p.timestamp_ms,
            Point::Histogram(h) => h.timestamp_ms,
        }
    }
}

/// Floats and histograms in one timeline, each with its start time (0 without `starts`).
fn merged<'a>(floats: &[Sample], histograms: &'a [HistogramSample], starts: Option<WindowStarts<'_>>) -> Vec<(Point<'a>, i64)> {
    let starts = starts.unwrap_or_default();
    let mut out: Vec<(Point<'a>, i64)> = Vec::with_capacity(floats.len() + histograms.len());
    let (mut f, mut h) = (0, 0);
    while f < floats.len() || h < histograms.len() {
        if h >= histograms.len() || (f < floats.len() && floats[f].timestamp_ms < histograms[h].timestamp_ms) {
            out.push((Point::Float(floats[f]), starts.floats.get(f).copied().unwrap_or(0)));
            f += 1;
        } else {
            out.push((Point::Histogram(&histograms[h]), starts.histograms.get(h).copied().unwrap_or(0)));
            h += 1;
        }
    }
    out
}

/// `resets`: a float that drops, a histogram that resets, or a change of kind; with `starts`,
/// also a sample whose start time says it restarted (`start_times`).
fn resets(floats: &[Sample], histograms: &[HistogramSample], starts: Option<WindowStarts<'_>>) -> f64 {
    let points = merged(floats, histograms, starts);
    let mut count = 0.0;
    for pair in points.windows(2) {
        let ((previous, previous_start), (current, current_start)) = (&pair[0], &pair[1]);
        let by_start = || start_times::is_start_reset(*previous_start, previous.timestamp_ms(), *current_start, current.timestamp_ms());
        let reset = match (previous, current) {
            (Point::Float(p), Point::Float(c)) => c.value < p.value || by_start(),
            (Point::Histogram(p), Point::Histogram(c)) => by_start() || nh::detect_reset(&p.histogram, &c.histogram),
            _ => true,
        };
        if reset {
            count += 1.0;
        }
    }
    count
}

/// `changes`: a different float, a different histogram, or a change of kind.
fn changes(floats: &[Sample], histograms: &[HistogramSample]) -> f64 {
    let points = merged(floats, histograms, None);
    let mut count = 0.0;
    for pair in points.windows(2) {
        let changed = match (&pair[0].0, &pair[1].0) {
            (Point::Float(p), Point::Float(c)) => p.value != c.value && !(p.value.is_nan() && c.value.is_nan()),
            (Point::Histogram(p), Point::Histogram(c)) => !nh::equals(&p.histogram, &c.histogram),
            _ => true,
        };
        if changed {
            count += 1.0;
        }
    }
    count
}

/// The `*_over_time` functions over a window holding histograms.
fn over_time(name: &str, floats: &[Sample], histograms: &[HistogramSample], a: RangeArgs, report: &WindowReport<'_, '_>) -> Option<RangeOut> {
    let newest = || match (floats.last(), histograms.last()) {
        (Some(f), Some(h)) if f.timestamp_ms > h.timestamp_ms => Point::Float(*f),
        (_, Some(h)) => Point::Histogram(h),
        (Some(f), None) => Point::Float(*f),
        (None, None) => unreachable!("a window with histograms"),
    };
    let oldest = || match (floats.first(), histograms.first()) {
        (Some(f), Some(h)) if f.timestamp_ms < h.timestamp_ms => Point::Float(*f),
        (_, Some(h)) => Point::Histogram(h),
        (Some(f), None) => Point::Float(*f),
        (None, None) => unreachable!("a window with histograms"),
    };
    let value_of = |p: Point<'_>| match p {
        Point::Float(f) => RangeOut::Float(f.value),
        Point::Histogram(h) => RangeOut::Histogram((*h.histogram).clone()),
    };
    Some(match name {
        "count_over_time" => RangeOut::Float((floats.len() + histograms.len()) as f64),
        "present_over_time" => RangeOut::Float(1.0),
        "last_over_time" => value_of(newest()),
        "first_over_time" => value_of(oldest()),
        "ts_of_last_over_time" => RangeOut::Float(newest().timestamp_ms() as f64 / 1000.0),
        "ts_of_first_over_time" => RangeOut::Float(oldest().timestamp_ms() as f64 / 1000.0),
        "sum_over_time" | "avg_over_time" => {
            if !floats.is_empty() {
                report.mixed_floats_and_histograms();
                return None;
            }
            let mut acc = Accumulator::new(name == "avg_over_time", &histograms[0].histogram);
            for h in &histograms[1..] {
                if acc.add(&h.histogram).is_err() {
                    report.mixed_exponential_and_custom();
                    return None;
                }
            }
            let notes = acc.notes();
            if notes.counter_reset_collision {
                report.ev.annotate(Annotation::CounterResetCollision(Operation::Aggregation), report.pos);
            }
            if notes.custom_bounds_reconciled {
                report.ev.annotate(Annotation::MismatchedCustomBuckets(Operation::Aggregation), report.pos);
            }
            RangeOut::Histogram(acc.finish())
        }
        // The rest take floats only: histograms are left out.
        _ if floats.is_empty() => return None,
        _ => {
            report.histograms_ignored();
            return range_value(RangeKind::OverTime, name, floats, a).map(RangeOut::Float);
        }
    })
}

/// The native-histogram functions that make floats of histograms (`histogram_count` ...),
/// over an instant vector; float elements are left out. `None` for other names.
pub(super) fn histogram_function(name: &str, input: Vec<Elem>) -> Option<Vec<Elem>> {
    let f: fn(&FloatHistogram) -> f64 = match name {
        "histogram_count" => |h| h.count,
        "histogram_sum" => |h| h.sum,
        "histogram_avg" => |h| h.sum / h.count,
        "histogram_stddev" => nh::stddev,
        "histogram_stdvar" => nh::stdvar,
        _ => return None,
    };
    Some(input.into_iter().filter_map(|e| e.histogram.as_ref().map(|h| Elem::new(e.labels.clone(), f(h), true))).collect())
}

/// A series' metric name as annotations name it (empty without one).
pub(super) fn metric_name(labels: &Labels) -> String {
    labels.get(tsdb::METRIC_NAME_LABEL).unwrap_or("").to_string()
}

/// A running sum or mean of histograms.
enum Accumulator {
    Sum(nh::HistogramSum),
    Mean(nh::HistogramMean),
}

impl Accumulator {
    fn new(mean: bool, first: &FloatHistogram) -> Accumulator {
        if mean {
            Accumulator::Mean(nh::HistogramMean::new(first))
        } else {
            Accumulator::Sum(nh::HistogramSum::new(first))
        }
    }

    fn add(&mut self, h: &FloatHistogram) -> Result<(), nh::HistogramError> {
        match self {
            Accumulator::Sum(s) => s.add(h),
            Accumulator::Mean(m) => m.add(h),
        }
    }

    fn finish(self) -> FloatHistogram {
        match self {
            Accumulator::Sum(s) => s.finish(),
            Accumulator::Mean(m) => m.finish(),
        }
    }

    fn notes(&self) -> nh::Notes {
        match self {
            Accumulator::Sum(s) => s.notes(),
            Accumulator::Mean(m) => m.notes(),
        }
    }
}
