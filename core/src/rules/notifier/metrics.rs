//! The notifier's own series, named as Prometheus names them (`prometheus_notifications_*`),
//! written in the text exposition format. The latency is a summary without quantiles (only
//! its `_sum` and `_count`) and Prometheus 3.10's classic histogram, per Alertmanager.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// What one Alertmanager's requests did.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AlertmanagerCounts {
    /// Alerts in requests it accepted.
    pub sent: u64,
    /// Alerts in requests that failed (no answer, or a status other than 2xx).
    pub errors: u64,
    /// The seconds its accepted requests took, and how many there were.
    pub latency_seconds_sum: f64,
    pub latency_count: u64,
    /// How many accepted requests took at most each of `LATENCY_BUCKETS_SECONDS` (not
    /// cumulative: one count per bucket).
    pub latency_buckets: [u64; LATENCY_BUCKETS_SECONDS.len()],
}

/// The upper bounds of `prometheus_notifications_latency_histogram_seconds`' buckets
/// (Prometheus 3.10's; `+Inf` is the count).
pub const LATENCY_BUCKETS_SECONDS: [f64; 4] = [0.01, 0.1, 1.0, 10.0];

impl AlertmanagerCounts {
    /// Counts one accepted request that took `seconds`.
    pub fn observe_latency(&mut self, seconds: f64) {
        self.latency_seconds_sum += seconds;
        self.latency_count += 1;
        if let Some(bucket) = LATENCY_BUCKETS_SECONDS.iter().position(|bound| seconds <= *bound) {
            self.latency_buckets[bucket] += 1;
        }
    }
}

/// Every counter and gauge the notifier offers.
#[derive(Debug, Clone, Default)]
pub struct NotifierCounts {
    /// Per Alertmanager URL (those discovered now; a vanished one is forgotten, as in
    /// Prometheus).
    pub per_alertmanager: BTreeMap<String, AlertmanagerCounts>,
    /// Alerts dropped, summed over the Alertmanagers (one unlabeled series, as before
    /// Prometheus 3.10 split it): pushed out of a full queue, in a batch an Alertmanager did
    /// not take, left in the queue of one no longer found, or sent while none was found.
    pub dropped: u64,
    /// The longest Alertmanager queue (one unlabeled series, so that the monitoring mixin's
    /// `queue_length > queue_capacity` still matches).
    pub queue_length: usize,
    pub queue_capacity: usize,
    pub alertmanagers_discovered: usize,
}

impl NotifierCounts {
    /// The series in the text exposition format, each family with HELP and TYPE.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let per_am = |out: &mut String, name: &str, help: &str, kind: &str, value: &dyn Fn(&AlertmanagerCounts) -> String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (url, counts) in &self.per_alertmanager {
                let _ = writeln!(out, "{name}{{alertmanager=\"{}\"}} {}", escape_label_value(url), value(counts));
            }
        };
        per_am(&mut out, "prometheus_notifications_sent_total", "Total number of alerts sent.", "counter", &|c| c.sent.to_string());
        per_am(&mut out, "prometheus_notifications_errors_total", "Total number of sent alerts affected by errors.", "counter", &|c| c.errors.to_string());
        let _ = writeln!(out, "# HELP prometheus_notifications_latency_seconds Latency of sending alert notifications (sum and count only).\n# TYPE prometheus_notifications_latency_seconds summary");
        for (url, counts) in &self.per_alertmanager {
            let url = escape_label_value(url);
            let _ = writeln!(out, "prometheus_notifications_latency_seconds_sum{{alertmanager=\"{url}\"}} {}", counts.latency_seconds_sum);
            let _ = writeln!(out, "prometheus_notifications_latency_seconds_count{{alertmanager=\"{url}\"}} {}", counts.latency_count);
        }
        let histogram = "prometheus_notifications_latency_histogram_seconds";
        let _ = writeln!(out, "# HELP {histogram} Latency histogram for sending alert notifications.\n# TYPE {histogram} histogram");
        for (url, counts) in &self.per_alertmanager {
            let url = escape_label_value(url);
            let mut cumulative = 0;
            for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(counts.latency_buckets) {
                cumulative += count;
                let _ = writeln!(out, "{histogram}_bucket{{alertmanager=\"{url}\",le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{histogram}_bucket{{alertmanager=\"{url}\",le=\"+Inf\"}} {}", counts.latency_count);
            let _ = writeln!(out, "{histogram}_sum{{alertmanager=\"{url}\"}} {}", counts.latency_seconds_sum);
            let _ = writeln!(out, "{histogram}_count{{alertmanager=\"{url}\"}} {}", counts.latency_count);
        }
        let single = |out: &mut String, name: &str, help: &str, kind: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        single(&mut out, "prometheus_notifications_dropped_total", "Total number of alerts dropped due to errors when sending to Alertmanager.", "counter", self.dropped.to_string());
        single(&mut out, "prometheus_notifications_queue_length", "The number of alert notifications in the queue.", "gauge", self.queue_length.to_string());
        single(&mut out, "prometheus_notifications_queue_capacity", "The capacity of the alert notifications queue.", "gauge", self.queue_capacity.to_string());
        single(&mut out, "prometheus_notifications_alertmanagers_discovered", "The number of alertmanagers discovered and active.", "gauge", self.alertmanagers_discovered.to_string());
        out
    }
}

/// A label value as the text format writes it (backslash, quote and newline escaped).
pub(crate) fn escape_label_value(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
