//! An alerting rule's label and annotation templates: parsed once when the rule is read,
//! expanded per alert at each evaluation with the alert's labels and value, the external
//! labels and URL. A template's `query` calls are evaluated here (asynchronously, at the
//! evaluation time) and the expansion run again with their answers.

use std::collections::BTreeMap;

pub use template::QueriedSample;
use template::{Data, Expansion, QueryAnswers, Template};

/// At most this many `query` calls are answered for one expansion.
const QUERIES_PER_EXPANSION_MAX: usize = 64;

/// Whether `text` parses as a template of alert `alert` (Prometheus' check of rule files).
pub fn check(alert: &str, text: &str) -> Result<(), String> {
    template::alert_template(&template_name(alert), text).map(|_| ())
}

fn template_name(alert: &str) -> String {
    format!("__alert_{alert}")
}

/// The parsed templates of one alerting rule, each under its label or annotation name.
pub struct AlertTemplates {
    labels: Vec<(String, Template)>,
    annotations: Vec<(String, Template)>,
}

/// The data every template of an evaluation sees beside its alert's labels and value.
pub struct Context<'a> {
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

impl AlertTemplates {
    /// Parses the rule's texts (already checked when its file was read).
    pub fn parse(alert: &str, labels: &BTreeMap<String, String>, annotations: &BTreeMap<String, String>) -> Result<AlertTemplates, String> {
        let name = template_name(alert);
        let parse = |texts: &BTreeMap<String, String>| -> Result<Vec<(String, Template)>, String> { texts.iter().map(|(k, v)| Ok((k.clone(), template::alert_template(&name, v)?))).collect() };
        Ok(AlertTemplates { labels: parse(labels)?, annotations: parse(annotations)? })
    }

    /// The expanded labels and annotations of one alert (`labels`: its sample's labels) at
    /// the evaluation time `at_ms` (what `now` gives). A template that fails expands to
    /// Prometheus' `<error expanding template: …>`.
    pub async fn expand<F, Fut>(&self, labels: &BTreeMap<String, String>, value: f64, at_ms: i64, context: &Context<'_>, query: F) -> (BTreeMap<String, String>, BTreeMap<String, String>)
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<QueriedSample>, String>>,
    {
        let data = Data { labels, external_labels: context.external_labels, external_url: context.external_url, value };
        let mut answers = QueryAnswers::new();
        let mut out_labels = BTreeMap::new();
        for (name, template) in &self.labels {
            out_labels.insert(name.clone(), expand_one(template, &data, at_ms, &mut answers, &query).await);
        }
        let mut out_annotations = BTreeMap::new();
        for (name, template) in &self.annotations {
            out_annotations.insert(name.clone(), expand_one(template, &data, at_ms, &mut answers, &query).await);
        }
        (out_labels, out_annotations)
    }
}

async fn expand_one<F, Fut>(template: &Template, data: &Data<'_>, at_ms: i64, answers: &mut QueryAnswers, query: &F) -> String
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<QueriedSample>, String>>,
{
    for _ in 0..=QUERIES_PER_EXPANSION_MAX {
        match template.expand_at(data, answers, at_ms as f64 / 1000.0) {
            Ok(Expansion::Text(text)) => return text,
            Ok(Expansion::NeedsQuery(text)) => {
                let answer = query(text.clone()).await;
                answers.insert(text, answer);
            }
            Err(error) => {
                tracing::warn!(%error, "expanding an alert template failed");
                return format!("<error expanding template: {error}>");
            }
        }
    }
    format!("<error expanding template: more than {QUERIES_PER_EXPANSION_MAX} queries>")
}

/// An instant query's answer as a template's `query` sees it: each sample's labels and
/// value (a scalar: one sample without labels).
pub fn queried_samples(value: promql::Value) -> Result<Vec<QueriedSample>, String> {
    let samples = super::recording::rule_samples(value)?;
    Ok(samples
        .into_iter()
        .map(|(labels, value)| QueriedSample {
            labels: super::label_map(&labels),
            value: match value {
                super::recording::Recorded::Float(v) => v,
                super::recording::Recorded::Histogram(_) => 0.0,
            },
        })
        .collect())
}
