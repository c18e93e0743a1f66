//! PromQL annotations (Prometheus' `util/annotations`): the warnings and infos an answer
//! carries beside its result. Evaluation adds them where their condition arises; they are kept
//! once per message (the position of the latest wins, as in Prometheus' map, except for forced
//! monotonicity and start time overlaps, whose occurrences merge) and rendered at the end with Prometheus' exact texts
//! and the ` (line:col)` of the expression they concern.

use std::collections::HashMap;
use std::fmt::Write;

use crate::format::go_float_g;
use crate::ast::{BinaryOp, Pos};
use crate::printer::quote;

/// The histogram operation a counter reset collision or a bounds reconciliation happened in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    Addition,
    Subtraction,
    Aggregation,
}

impl Operation {
    fn name(self) -> &'static str {
        match self {
            Operation::Addition => "addition",
            Operation::Subtraction => "subtraction",
            Operation::Aggregation => "aggregation",
        }
    }
}

/// One annotation, without its position. Metric names are those of the series concerned
/// (empty when it has none).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Annotation {
    InvalidQuantile(f64),
    InvalidRatio { got: f64, capped: f64 },
    BadBucketLabel { metric: String, le: String },
    MixedFloatsHistograms { metric: String },
    MixedFloatsHistogramsInAggregation,
    MixedClassicNativeHistograms { metric: String },
    NotCounter { metric: String },
    NotGauge { metric: String },
    MixedExponentialCustom { metric: String },
    IncompatibleBucketLayout(BinaryOp),
    SortInRangeQuery,
    CounterResetCollision(Operation),
    PossibleNonCounter { metric: String },
    /// `PossibleNonCounter` as `type-and-unit-labels` checks it: by the `__type__` label.
    PossibleNonCounterType { metric: String, type_label: String },
    /// `histogram_quantile` made classic buckets monotonic at `t_ms`: the lowest and highest
    /// bucket bound involved and the largest correction.
    ForcedMonotonicity { metric: String, t_ms: i64, min_bucket: f64, max_bucket: f64, max_diff: f64 },
    IncompatibleTypes { lhs: &'static str, op: BinaryOp, rhs: &'static str },
    HistogramIgnoredInAggregation(&'static str),
    HistogramIgnoredInMixedRange { metric: String },
    QuantileNaNResult { metric: String },
    QuantileNaNSkew { metric: String },
    FractionNaNs { metric: String },
    MismatchedCustomBuckets(Operation),
    /// A sample's start time reaches back before the previous sample of the series (neither a
    /// cumulative counter's constant start nor a delta's previous time); its occurrences are
    /// counted.
    StartTimeOverlap { metric: String },
}

/// Kinds whose message ends in ` for metric name "x"` only when there is a name.
fn for_metric_name(out: &mut String, metric: &str) {
    if !metric.is_empty() {
        let _ = write!(out, " for metric name {}", quote(metric));
    }
}

impl Annotation {
    pub(crate) fn is_warning(&self) -> bool {
        !matches!(
            self,
            Annotation::PossibleNonCounter { .. }
                | Annotation::PossibleNonCounterType { .. }
                | Annotation::ForcedMonotonicity { .. }
                | Annotation::IncompatibleTypes { .. }
                | Annotation::HistogramIgnoredInAggregation(_)
                | Annotation::HistogramIgnoredInMixedRange { .. }
                | Annotation::QuantileNaNResult { .. }
                | Annotation::QuantileNaNSkew { .. }
                | Annotation::FractionNaNs { .. }
                | Annotation::MismatchedCustomBuckets(_)
        )
    }

    /// The message without position (and, for forced monotonicity, without its details):
    /// what annotations are told apart by.
    pub(crate) fn message(&self) -> String {
        let mut out = String::from(if self.is_warning() { "PromQL warning: " } else { "PromQL info: " });
        match self {
            Annotation::InvalidQuantile(q) => {
                let _ = write!(out, "quantile value should be between 0 and 1, got {}", go_float_g(*q));
            }
            Annotation::InvalidRatio { got, capped } => {
                let _ = write!(out, "ratio value should be between -1 and 1, got {}, capping to {}", go_float_g(*got), go_float_g(*capped));
            }
            Annotation::BadBucketLabel { metric, le } => {
                let _ = write!(out, "bucket label \"le\" is missing or has a malformed value of {}", quote(le));
                for_metric_name(&mut out, metric);
            }
            Annotation::MixedFloatsHistograms { metric } => {
                let _ = write!(out, "encountered a mix of histograms and floats for metric name {}", quote(metric));
            }
            Annotation::MixedFloatsHistogramsInAggregation => out.push_str("encountered a mix of histograms and floats for aggregation"),
            Annotation::MixedClassicNativeHistograms { metric } => {
                out.push_str("vector contains a mix of classic and native histograms");
                for_metric_name(&mut out, metric);
            }
            Annotation::NotCounter { metric } => {
                let _ = write!(out, "this native histogram metric is not a counter: {}", quote(metric));
            }
            Annotation::NotGauge { metric } => {
                let _ = write!(out, "this native histogram metric is not a gauge: {}", quote(metric));
            }
            Annotation::MixedExponentialCustom { metric } => {
                let _ = write!(out, "vector contains a mix of histograms with exponential and custom buckets schemas for metric name {}", quote(metric));
            }
            Annotation::IncompatibleBucketLayout(op) => {
                let _ = write!(out, "incompatible bucket layout encountered for binary operator {}", op.as_str());
            }
            Annotation::SortInRangeQuery => out.push_str("sort is ineffective for range queries since results are always ordered by labels"),
            Annotation::CounterResetCollision(op) => {
                let _ = write!(out, "conflicting counter resets during histogram {}", op.name());
            }
            Annotation::PossibleNonCounter { metric } => {
                let _ = write!(out, "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {}", quote(metric));
            }
            Annotation::PossibleNonCounterType { metric, type_label } => {
                let _ = write!(out, "metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got {}: {}", quote(type_label), quote(metric));
            }
            Annotation::ForcedMonotonicity { metric, .. } => {
                out.push_str("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)");
                for_metric_name(&mut out, metric);
            }
            Annotation::IncompatibleTypes { lhs, op, rhs } => {
                let op = op.as_str();
                let _ = write!(out, "incompatible sample types encountered for binary operator {}: {lhs} {op} {rhs}", quote(op));
            }
            Annotation::HistogramIgnoredInAggregation(aggregation) => {
                let _ = write!(out, "ignored histogram in {aggregation} aggregation");
            }
            Annotation::HistogramIgnoredInMixedRange { metric } => {
                let _ = write!(out, "ignored histograms in a range containing both floats and histograms for metric name {}", quote(metric));
            }
            Annotation::QuantileNaNResult { metric } => {
                out.push_str("input to histogram_quantile has NaN observations, result is NaN");
                for_metric_name(&mut out, metric);
            }
            Annotation::QuantileNaNSkew { metric } => {
                out.push_str("input to histogram_quantile has NaN observations, result is skewed higher");
                for_metric_name(&mut out, metric);
            }
            Annotation::FractionNaNs { metric } => {
                out.push_str("input to histogram_fraction has NaN observations, which are excluded from all fractions");
                for_metric_name(&mut out, metric);
            }
            Annotation::MismatchedCustomBuckets(op) => {
                let _ = write!(out, "mismatched custom buckets were reconciled during {}", op.name());
            }
            Annotation::StartTimeOverlap { metric } => {
                let _ = write!(out, "sample has start time that overlaps with previous sample timestamp for metric {}", quote(metric));
            }
        }
        out
    }
}

/// What forced monotonicity accumulates over the steps it happened at (Prometheus merges the
/// occurrences into one annotation).
#[derive(Clone, Copy, Debug)]
struct MonotonicitySpan {
    min_t_ms: i64,
    max_t_ms: i64,
    min_bucket: f64,
    max_bucket: f64,
    max_diff: f64,
    /// Occurrences after the first.
    merged: usize,
}

#[derive(Clone, Debug)]
struct Entry {
    warning: bool,
    pos: Pos,
    monotonicity: Option<MonotonicitySpan>,
    /// For start time overlaps: how many times it was added (shown when more than one).
    occurrences: Option<usize>,
}

/// Distinct annotations a query keeps (one per metric name is possible, e.g. `rate` over
/// every metric); beyond, they are counted in a last line, as Prometheus' API does past its
/// own limit.
pub(crate) const ANNOTATIONS_MAX: usize = 1024;

/// A query's annotations.
#[derive(Default, Debug)]
pub(crate) struct Annotations {
    by_message: HashMap<String, Entry>,
    /// Distinct warnings and infos past `ANNOTATIONS_MAX`.
    omitted: HashMap<String, bool>,
}

impl Annotations {
    pub(crate) fn add(&mut self, annotation: Annotation, pos: Pos) {
        let monotonicity = match &annotation {
            Annotation::ForcedMonotonicity { t_ms, min_bucket, max_bucket, max_diff, .. } => {
                Some(MonotonicitySpan { min_t_ms: *t_ms, max_t_ms: *t_ms, min_bucket: *min_bucket, max_bucket: *max_bucket, max_diff: *max_diff, merged: 0 })
            }
            _ => None,
        };
        let counted = matches!(annotation, Annotation::StartTimeOverlap { .. });
        let message = annotation.message();
        let warning = annotation.is_warning();
        if self.by_message.len() >= ANNOTATIONS_MAX && !self.by_message.contains_key(&message) {
            if self.omitted.len() < ANNOTATIONS_MAX {
                self.omitted.insert(message, warning);
            }
            return;
        }
        match self.by_message.get_mut(&message) {
            Some(known) => {
                // Merged occurrences (forced monotonicity, start time overlaps) keep the first
                // one's position.
                if known.monotonicity.is_none() && known.occurrences.is_none() {
                    known.pos = pos;
                }
                if let Some(n) = &mut known.occurrences {
                    *n += 1;
                }
                if let (Some(k), Some(new)) = (&mut known.monotonicity, monotonicity) {
                    k.min_t_ms = k.min_t_ms.min(new.min_t_ms);
                    k.max_t_ms = k.max_t_ms.max(new.max_t_ms);
                    k.min_bucket = k.min_bucket.min(new.min_bucket);
                    k.max_bucket = k.max_bucket.max(new.max_bucket);
                    k.max_diff = k.max_diff.max(new.max_diff);
                    k.merged += 1;
                }
            }
            None => {
                self.by_message.insert(message, Entry { warning, pos, monotonicity, occurrences: counted.then_some(1) });
            }
        }
    }

    /// (warnings, infos) as the API shows them, each sorted: the message and the position of
    /// what it concerns in `query`.
    pub(crate) fn render(&self, query: &str) -> (Vec<String>, Vec<String>) {
        let (mut warnings, mut infos) = (Vec::new(), Vec::new());
        for (message, entry) in &self.by_message {
            let mut text = message.clone();
            if let Some(m) = entry.monotonicity {
                let _ = write!(
                    text,
                    ", from buckets {} to {}, with a max diff of {}, over {} samples from {} to {}",
                    go_float_g(m.min_bucket),
                    go_float_g(m.max_bucket),
                    go_float_2g(m.max_diff),
                    m.merged + 1,
                    rfc3339(m.min_t_ms),
                    rfc3339(m.max_t_ms)
                );
            }
            if let Some(n) = entry.occurrences.filter(|&n| n > 1) {
                let _ = write!(text, " ({n} occurrences)");
            }
            match entry.pos.line_col(query) {
                Some((line, column)) => {
                    let _ = write!(text, " ({line}:{column})");
                }
                None => text.push_str(" (invalid position)"),
            }
            if entry.warning {
                warnings.push(text);
            } else {
                infos.push(text);
            }
        }
        warnings.sort();
        infos.sort();
        let omitted_warnings = self.omitted.values().filter(|&&w| w).count();
        if omitted_warnings > 0 {
            warnings.push(format!("{omitted_warnings} more warning annotations omitted"));
        }
        let omitted_infos = self.omitted.len() - omitted_warnings;
        if omitted_infos > 0 {
            infos.push(format!("{omitted_infos} more info annotations omitted"));
        }
        (warnings, infos)
    }
}

/// Go's `%.2g`: two significant digits, in exponent form below 1e-4 and from 1e2 on.
fn go_float_2g(v: f64) -> String {
    if !v.is_finite() {
        return go_float_g(v);
    }
    let scientific = format!("{v:.1e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
    if v != 0.0 && !(-4..2).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    // Positional with the two digits the rounding kept.
    go_float_g(format!("{mantissa}e{exponent}").parse().unwrap_or(v))
}

/// A Unix time in milliseconds as RFC 3339 in UTC, whole seconds (Go's `time.RFC3339`).
fn rfc3339(t_ms: i64) -> String {
    let secs = t_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = crate::format::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", of_day / 3600, of_day % 3600 / 60, of_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_prometheus_texts() {
        let table: &[(Annotation, &str)] = &[
            (Annotation::InvalidQuantile(1.5), "PromQL warning: quantile value should be between 0 and 1, got 1.5"),
            (Annotation::InvalidQuantile(f64::NAN), "PromQL warning: quantile value should be between 0 and 1, got NaN"),
            (Annotation::InvalidRatio { got: -1.1, capped: -1.0 }, "PromQL warning: ratio value should be between -1 and 1, got -1.1, capping to -1"),
            (
                Annotation::BadBucketLabel { metric: "x".into(), le: "Hello World".into() },
                "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"Hello World\" for metric name \"x\"",
            ),
            (Annotation::BadBucketLabel { metric: String::new(), le: String::new() }, "PromQL warning: bucket label \"le\" is missing or has a malformed value of \"\""),
            (Annotation::PossibleNonCounter { metric: "x".into() }, "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"x\""),
            (
                Annotation::PossibleNonCounterType { metric: "x".into(), type_label: "gauge".into() },
                "PromQL info: metric might not be a counter, __type__ label is not set to \"counter\" or \"histogram\", got \"gauge\": \"x\"",
            ),
            (Annotation::IncompatibleTypes { lhs: "float", op: BinaryOp::TrimUpper, rhs: "float" }, "PromQL info: incompatible sample types encountered for binary operator \"</\": float </ float"),
            (Annotation::HistogramIgnoredInAggregation("topk"), "PromQL info: ignored histogram in topk aggregation"),
            (Annotation::CounterResetCollision(Operation::Aggregation), "PromQL warning: conflicting counter resets during histogram aggregation"),
            (Annotation::MismatchedCustomBuckets(Operation::Subtraction), "PromQL info: mismatched custom buckets were reconciled during subtraction"),
            (Annotation::NotGauge { metric: "h".into() }, "PromQL warning: this native histogram metric is not a gauge: \"h\""),
            (Annotation::MixedFloatsHistogramsInAggregation, "PromQL warning: encountered a mix of histograms and floats for aggregation"),
        ];
        for (annotation, want) in table {
            assert_eq!(annotation.message(), *want);
        }
    }

    #[test]
    fn kept_once_per_message_with_the_latest_position() {
        let mut a = Annotations::default();
        a.add(Annotation::SortInRangeQuery, Pos(0));
        a.add(Annotation::SortInRangeQuery, Pos(4));
        a.add(Annotation::PossibleNonCounter { metric: "x".into() }, Pos(6));
        let (warnings, infos) = a.render("sort(\nrate(x[5m]))");
        assert_eq!(warnings, vec!["PromQL warning: sort is ineffective for range queries since results are always ordered by labels (1:5)"]);
        assert_eq!(infos, vec!["PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: \"x\" (2:1)"]);
    }

    #[test]
    fn bounded_with_a_count_of_the_rest() {
        let mut a = Annotations::default();
        for i in 0..ANNOTATIONS_MAX + 2 {
            a.add(Annotation::PossibleNonCounter { metric: format!("m{i}") }, Pos(0));
        }
        a.add(Annotation::SortInRangeQuery, Pos(0));
        let (warnings, infos) = a.render("x");
        assert_eq!(warnings, vec!["1 more warning annotations omitted"]);
        assert_eq!(infos.len(), ANNOTATIONS_MAX + 1);
        assert_eq!(infos[ANNOTATIONS_MAX], "2 more info annotations omitted");
    }

    #[test]
    fn forced_monotonicity_merges_its_occurrences() {
        let mut a = Annotations::default();
        let at = |t_ms, max_diff| Annotation::ForcedMonotonicity { metric: "h".into(), t_ms, min_bucket: 1.0, max_bucket: 10.0, max_diff };
        a.add(at(60_000, 0.25), Pos(0));
        a.add(at(0, 0.125), Pos(2));
        let (_, infos) = a.render("x + y");
        assert_eq!(
            infos,
            vec!["PromQL info: input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name \"h\", from buckets 1 to 10, with a max diff of 0.25, over 2 samples from 1970-01-01T00:00:00Z to 1970-01-01T00:01:00Z (1:1)"]
        );
        assert_eq!(go_float_2g(0.123456), "0.12");
        assert_eq!(go_float_2g(1234.0), "1.2e+03");
        assert_eq!(go_float_2g(2.0), "2");
        assert_eq!(go_float_2g(0.00001234), "1.2e-05");
    }
}
