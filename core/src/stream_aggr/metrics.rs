//! Stream aggregation's self-metrics: the totals over every aggregation
//! (`metricstor_stream_aggr_*`, kept across reloads), and per aggregation VictoriaMetrics'
//! `vm_streamaggr_*` series, labelled as it labels them (`name`, `outputs`, `path`, `url`,
//! `position`), plus the output series each holds in its state.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Aggregator, StreamAggregators};
use crate::rules::notifier::metrics::escape_label_value;

/// Counters of one aggregation, or the totals over all of them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Input samples added to an aggregation (once per aggregation that took them).
    pub samples_aggregated: AtomicU64,
    /// Input samples of matched series not added: NaN (stale markers too), or older than the
    /// current interval with `ignore_old_samples`.
    pub samples_ignored_nan: AtomicU64,
    pub samples_ignored_old: AtomicU64,
    /// Input samples `dedup_interval` replaced by another of their series.
    pub samples_deduplicated: AtomicU64,
    /// Input samples not stored because of stream aggregation (matched, or `drop_input`):
    /// counted in the totals only, a sample matched by two aggregations being dropped once.
    pub input_samples_dropped: AtomicU64,
    /// Aggregated samples written.
    pub output_samples_written: AtomicU64,
    /// Aggregated samples whose write failed.
    pub output_samples_failed: AtomicU64,
    /// Flushes of the aggregation's state (each interval's end, and its last one), and the
    /// time they took (flush and write) in microseconds.
    pub flushes: AtomicU64,
    pub flush_micros: AtomicU64,
}

impl Counters {
    /// The totals in Prometheus' text format (`/metrics`).
    pub fn write_text(&self, out: &mut String) {
        for (name, help, counter) in [
            ("metricstor_stream_aggr_samples_aggregated_total", "Input samples added to a stream aggregation (once per aggregation that took them).", &self.samples_aggregated),
            ("metricstor_stream_aggr_input_samples_dropped_total", "Input samples not stored because stream aggregation took them (or drop_input).", &self.input_samples_dropped),
            ("metricstor_stream_aggr_output_samples_total", "Aggregated samples stream aggregation stored.", &self.output_samples_written),
            ("metricstor_stream_aggr_output_samples_failed_total", "Aggregated samples whose write failed (logged).", &self.output_samples_failed),
            ("metricstor_stream_aggr_dedup_dropped_samples_total", "Input samples dedup_interval dropped for a later one of their series.", &self.samples_deduplicated),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", counter.load(Ordering::Relaxed));
        }
        let name = "metricstor_stream_aggr_samples_ignored_total";
        let (nan, old) = (self.samples_ignored_nan.load(Ordering::Relaxed), self.samples_ignored_old.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP {name} Matched input samples not aggregated: NaN (stale markers too), or too old with ignore_old_samples.\n# TYPE {name} counter");
        let _ = writeln!(out, "{name}{{reason=\"nan\"}} {nan}\n{name}{{reason=\"too_old\"}} {old}");
    }

    /// Adds `n` to the counter `field` picks (nothing for 0).
    pub(super) fn add(&self, field: super::CounterField, n: u64) {
        if n > 0 {
            field(self).fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// The label set VictoriaMetrics gives an aggregation's metrics: its `name`, its `outputs`
/// (as configured, comma-separated), the configuration file (`path`), `url="global"` (as
/// single-node VictoriaMetrics names its `-streamAggr.config`) and its 1-based `position`.
pub fn aggregation_labels(aggregator: &Aggregator, path: &str, position: usize) -> String {
    let outputs = aggregator.config.item.outputs.join(",");
    format!(
        "outputs=\"{}\",name=\"{}\",path=\"{}\",url=\"global\",position=\"{position}\"",
        escape_label_value(&outputs),
        escape_label_value(&aggregator.config.item.name),
        escape_label_value(path)
    )
}

/// Each aggregation's own series (`path`: the configuration file they were read from).
pub fn write_per_aggregation(out: &mut String, set: &StreamAggregators, path: &str) {
    let labelled: Vec<(String, &Aggregator)> = set.aggregators().iter().enumerate().map(|(i, a)| (aggregation_labels(a, path, i + 1), &**a)).collect();
    let counters: [(&str, &str, super::CounterField); 3] = [
        ("vm_streamaggr_matched_samples_total", "Input samples an aggregation took (after NaN and too-old samples were left out).", |c| &c.samples_aggregated),
        ("vm_streamaggr_output_samples_total", "Aggregated samples an aggregation stored.", |c| &c.output_samples_written),
        ("metricstor_stream_aggr_output_samples_failed_total", "Aggregated samples of an aggregation whose write failed (logged).", |c| &c.output_samples_failed),
    ];
    for (name, help, field) in counters {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (labels, aggregator) in &labelled {
            let _ = writeln!(out, "{name}{{{labels}}} {}", field(&aggregator.counters).load(Ordering::Relaxed));
        }
    }
    let name = "vm_streamaggr_ignored_samples_total";
    let _ = writeln!(out, "# HELP {name} Matched input samples an aggregation left out: NaN (stale markers too), or too old with ignore_old_samples.\n# TYPE {name} counter");
    for (labels, aggregator) in &labelled {
        let c = &aggregator.counters;
        let _ = writeln!(out, "{name}{{reason=\"nan\",{labels}}} {}", c.samples_ignored_nan.load(Ordering::Relaxed));
        let _ = writeln!(out, "{name}{{reason=\"too_old\",{labels}}} {}", c.samples_ignored_old.load(Ordering::Relaxed));
    }
    // A summary without quantiles: the flushes and the seconds they took.
    let name = "vm_streamaggr_flush_duration_seconds";
    let _ = writeln!(out, "# HELP {name} Time an aggregation's flushes took (the state read out and the aggregates stored).\n# TYPE {name} summary");
    for (labels, aggregator) in &labelled {
        let c = &aggregator.counters;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", c.flush_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", c.flushes.load(Ordering::Relaxed));
    }
    let name = "metricstor_stream_aggr_state_series";
    let _ = writeln!(out, "# HELP {name} Output series an aggregation holds state for now.\n# TYPE {name} gauge");
    for (labels, aggregator) in &labelled {
        let _ = writeln!(out, "{name}{{{labels}}} {}", aggregator.state_series());
    }
    let deduplicating: Vec<&(String, &Aggregator)> = labelled.iter().filter(|(_, a)| a.config.dedup_interval_ms > 0).collect();
    if !deduplicating.is_empty() {
        let name = "vm_streamaggr_dedup_dropped_samples_total";
        let _ = writeln!(out, "# HELP {name} Input samples an aggregation's dedup_interval dropped for a later one of their series.\n# TYPE {name} counter");
        for (labels, aggregator) in &deduplicating {
            let _ = writeln!(out, "{name}{{{labels}}} {}", aggregator.counters.samples_deduplicated.load(Ordering::Relaxed));
        }
        let name = "vm_streamaggr_dedup_state_items_count";
        let _ = writeln!(out, "# HELP {name} Input series an aggregation's dedup_interval holds a sample of until its next tick.\n# TYPE {name} gauge");
        for (labels, aggregator) in &deduplicating {
            let _ = writeln!(out, "{name}{{{labels}}} {}", aggregator.dedup_items());
        }
    }
}
