//! Quantile arguments and histogram quantiles: the check for a φ outside [0, 1], and the
//! evaluator's histogram input split into natives and classics, each kind's quantile with
//! the annotations it earns.

use tsdb::Labels;

use super::super::annotations::Annotation;
use super::super::classic_histogram::{bucket_quantile_noting, split_histograms, ForcedMonotonicity, HistogramInput};
use super::super::histogram_eval::metric_name;
use super::super::native_histogram::Notes;
use super::super::eval::{Elem, Evaluator};
use crate::ast::Pos;

/// Whether `q` is no quantile (Prometheus warns and answers ±Inf or NaN).
pub(super) fn invalid_quantile(q: f64) -> bool {
    q.is_nan() || !(0.0..=1.0).contains(&q)
}

impl Evaluator<'_> {
    /// `input` split into native and classic histograms, with the warnings about what was left
    /// out recorded at `pos` (the vector argument).
    pub(super) fn split_annotated(&self, input: Vec<Elem>, pos: Pos) -> HistogramInput {
        let mut split = split_histograms(input, self.options.delayed_name_removal);
        for w in split.warnings.drain(..) {
            self.annotate(w, pos);
        }
        split
    }

    /// The metric name annotations about a histogram function's input name: Prometheus has
    /// removed it already unless name removal is delayed.
    pub(super) fn input_metric(&self, labels: &Labels) -> String {
        if self.options.delayed_name_removal { metric_name(labels) } else { String::new() }
    }

    /// A native histogram's quantile, its NaN observations noted at `pos`.
    pub(super) fn native_quantile(&self, q: f64, labels: &Labels, h: &tsdb::FloatHistogram, pos: Pos) -> f64 {
        let mut notes = Notes::default();
        let value = super::super::native_histogram::quantile_noting(q, h, &mut notes);
        if notes.quantile_in_nan_observations {
            self.annotate(Annotation::QuantileNaNResult { metric: self.input_metric(labels) }, pos);
        }
        if notes.nan_observations {
            self.annotate(Annotation::QuantileNaNSkew { metric: self.input_metric(labels) }, pos);
        }
        value
    }

    /// A classic histogram's quantile, a flattened decrease noted at `pos`.
    pub(super) fn classic_quantile(&self, q: f64, labels: &Labels, buckets: Vec<(f64, f64)>, pos: Pos, t: i64) -> f64 {
        let (value, forced) = bucket_quantile_noting(q, buckets);
        if let Some(ForcedMonotonicity { min_bucket, max_bucket, max_diff }) = forced {
            self.annotate(Annotation::ForcedMonotonicity { metric: self.input_metric(labels), t_ms: t, min_bucket, max_bucket, max_diff }, pos);
        }
        value
    }
}
