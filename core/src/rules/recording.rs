//! What a recording rule writes: its expression's samples renamed to the recorded metric
//! with the rule's labels set (an empty one removes the label), checked as Prometheus
//! checks them (no two samples with one label set, at most the group's `limit`).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use tsdb::{FloatHistogram, Labels};

/// One recorded sample: a float or a native histogram.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    Float(f64),
    Histogram(Arc<FloatHistogram>),
}

/// An instant query's answer as a rule reads it: a scalar is one sample without labels, a
/// vector its samples; anything else is an error.
pub fn rule_samples(value: promql::Value) -> Result<Vec<(Labels, Recorded)>, String> {
    match value {
        promql::Value::Scalar { value, .. } => Ok(vec![(Labels::default(), Recorded::Float(value))]),
        promql::Value::Vector(samples) => Ok(samples
            .into_iter()
            .map(|s| {
                let value = match s.histogram {
                    Some(h) => Recorded::Histogram(h),
                    None => Recorded::Float(s.value),
                };
                (s.labels, value)
            })
            .collect()),
        promql::Value::String { .. } => Err("rule result is not a vector or scalar".to_string()),
        promql::Value::Matrix(_) => Err("rule result is not a vector or scalar".to_string()),
    }
}

/// The series a recording rule writes for `samples`.
pub fn recorded(record: &str, rule_labels: &BTreeMap<String, String>, samples: Vec<(Labels, Recorded)>, limit: usize) -> Result<Vec<(Labels, Recorded)>, String> {
    let mut out = Vec::with_capacity(samples.len());
    let mut seen = HashSet::with_capacity(samples.len());
    for (labels, value) in samples {
        let mut pairs = super::label_map(&labels);
        pairs.insert("__name__".to_string(), record.to_string());
        for (name, value) in rule_labels {
            if value.is_empty() {
                pairs.remove(name);
            } else {
                pairs.insert(name.clone(), value.clone());
            }
        }
        let labels = Labels::from_pairs(pairs);
        if !seen.insert(labels.clone()) {
            return Err("vector contains metrics with the same labelset after applying rule labels".to_string());
        }
        out.push((labels, value));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit of {limit} with {} series", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(pairs: &[(&str, &str)], value: f64) -> (Labels, Recorded) {
        (Labels::from_pairs(pairs.iter().copied()), Recorded::Float(value))
    }

    #[test]
    fn samples_take_the_recorded_name_and_the_rule_labels() {
        let rule_labels: BTreeMap<String, String> = [("env", "prod"), ("job", "")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        let out = recorded("job:up:sum", &rule_labels, vec![sample(&[("__name__", "up"), ("job", "a"), ("x", "1")], 2.0)], 0).unwrap();
        assert_eq!(out, vec![sample(&[("__name__", "job:up:sum"), ("env", "prod"), ("x", "1")], 2.0)]);
    }

    #[test]
    fn a_scalar_is_one_sample_without_labels_and_a_string_an_error() {
        let out = rule_samples(promql::Value::Scalar { timestamp_ms: 0, value: 3.0 }).unwrap();
        assert_eq!(out, vec![(Labels::default(), Recorded::Float(3.0))]);
        assert!(rule_samples(promql::Value::String { timestamp_ms: 0, value: "x".into() }).is_err());
    }

    #[test]
    fn clashing_label_sets_and_the_limit_fail() {
        let rule_labels: BTreeMap<String, String> = [("x", "")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        let error = recorded("r", &rule_labels, vec![sample(&[("x", "1")], 1.0), sample(&[("x", "2")], 2.0)], 0).unwrap_err();
        assert!(error.contains("same labelset after applying rule labels"), "{error}");
        let error = recorded("r", &BTreeMap::new(), vec![sample(&[("x", "1")], 1.0), sample(&[("x", "2")], 2.0)], 1).unwrap_err();
        assert_eq!(error, "exceeded limit of 1 with 2 series");
    }
}
