//! What a translation stores anyway but a sender should hear about, as Prometheus 3.14 counts
//! and logs it (its annotations, `prometheus_api_otlp_translation_warnings_total` by
//! category): a metric with no data points (dropped), attribute names that collide once
//! sanitized (their values joined with `;`), a histogram point with a zero count and a
//! non-zero sum. Identical warnings of one request count once, as Prometheus' annotation set
//! holds each message once; a colliding label is reported once per request.

use std::collections::BTreeSet;

/// Prometheus' categories of translation warnings (its `WarningCategory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WarningCategory {
    EmptyDataPoints,
    LabelNameCollision,
    HistogramZeroCountNonZeroSum,
}

impl WarningCategory {
    pub const ALL: [WarningCategory; 3] = [WarningCategory::EmptyDataPoints, WarningCategory::LabelNameCollision, WarningCategory::HistogramZeroCountNonZeroSum];

    /// The `category` label value, Prometheus' name.
    pub fn label(self) -> &'static str {
        match self {
            WarningCategory::EmptyDataPoints => "empty_data_points",
            WarningCategory::LabelNameCollision => "label_name_collision",
            WarningCategory::HistogramZeroCountNonZeroSum => "histogram_zero_count_non_zero_sum",
        }
    }
}

/// Where colliding attributes came from, as the warning names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeSource {
    DataPoint,
    /// The resource's attributes on `target_info`.
    Resource,
}

/// One request's warnings.
#[derive(Debug, Default)]
pub struct Warnings {
    /// Each distinct warning once, in the order first seen.
    messages: Vec<(WarningCategory, String)>,
    seen: BTreeSet<(WarningCategory, String)>,
    /// Labels whose collision is reported already.
    collided_labels: BTreeSet<String>,
}

impl Warnings {
    pub fn add(&mut self, category: WarningCategory, message: String) {
        if self.seen.insert((category, message.clone())) {
            self.messages.push((category, message));
        }
    }

    /// A metric without data points, dropped.
    pub fn empty_data_points(&mut self, metric: &str) {
        self.add(WarningCategory::EmptyDataPoints, format!("empty data points. {metric} is dropped"));
    }

    /// A histogram point (`exponential` or explicit-bucket) whose count is 0 and sum not.
    pub fn zero_count_non_zero_sum(&mut self, exponential: bool, sum: f64) {
        let kind = if exponential { "exponential histogram" } else { "histogram" };
        self.add(WarningCategory::HistogramZeroCountNonZeroSum, format!("{kind} data point has zero count, but non-zero sum: {sum:.6}"));
    }

    /// Attributes `keys` (sorted) whose names all sanitize to `label`, reported once per label.
    pub fn label_collision(&mut self, source: AttributeSource, keys: &[&str], label: &str) {
        if !self.collided_labels.insert(label.to_string()) {
            return;
        }
        let source = match source {
            AttributeSource::DataPoint => "data point",
            AttributeSource::Resource => "resource",
        };
        let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
        self.add(
            WarningCategory::LabelNameCollision,
            format!("OTLP {source} attributes {} collide as label {label:?} after name sanitization, values are concatenated with ';'", keys.join(", ")),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.messages.iter().map(|(_, m)| m.as_str())
    }

    /// How many distinct warnings of `category` there are.
    pub fn count(&self, category: WarningCategory) -> u64 {
        self.messages.iter().filter(|(c, _)| *c == category).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_warning_counts_once_and_a_collision_once_per_label() {
        let mut w = Warnings::default();
        w.empty_data_points("a");
        w.empty_data_points("a");
        w.empty_data_points("b");
        w.zero_count_non_zero_sum(true, 2.5);
        w.label_collision(AttributeSource::DataPoint, &["k.8s", "k_8s"], "k_8s");
        w.label_collision(AttributeSource::Resource, &["k-8s", "k_8s"], "k_8s");
        assert_eq!(w.count(WarningCategory::EmptyDataPoints), 2);
        assert_eq!(w.count(WarningCategory::HistogramZeroCountNonZeroSum), 1);
        assert_eq!(w.count(WarningCategory::LabelNameCollision), 1);
        let messages: Vec<&str> = w.messages().collect();
        assert_eq!(messages[0], "empty data points. a is dropped");
        assert_eq!(messages[2], "exponential histogram data point has zero count, but non-zero sum: 2.500000");
        assert_eq!(messages[3], r#"OTLP data point attributes "k.8s", "k_8s" collide as label "k_8s" after name sanitization, values are concatenated with ';'"#);
    }
}
