//! Alert templates: Go's text/template language as Prometheus expands alert labels and
//! annotations, with Prometheus' template functions. Owns parsing and expansion only; it never
//! evaluates PromQL itself: a `query` whose answer is unknown stops expansion with
//! [`Expansion::NeedsQuery`], the caller evaluates it and expands again with the answer added.

mod ast;
mod exec;
mod functions;
mod gofmt;
mod lex;
mod methods;
mod parse;
mod print;
mod prometheus;
mod timefmt;
mod value;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};

pub use exec::{OUTPUT_BYTES_MAX, RANGE_ITERATIONS_MAX, TEMPLATE_DEPTH_MAX};
pub use functions::prometheus_function_names;
pub use parse::NESTING_MAX;

/// A parsed template, ready to expand any number of times (`Send + Sync`: share it freely).
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    source: String,
    root: ast::List,
    defined: HashMap<String, ast::List>,
}

/// What `.Labels`, `.ExternalLabels`, `.ExternalURL` and `.Value` read.
pub struct Data<'a> {
    pub labels: &'a BTreeMap<String, String>,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
    pub value: f64,
}

/// `query` texts already evaluated: text → the samples (labels, value) or the error message.
pub type QueryAnswers = HashMap<String, Result<Vec<QueriedSample>, String>>;

#[derive(Debug, Clone, PartialEq)]
pub struct QueriedSample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expansion {
    Text(String),
    /// Expansion reached `query` with this text and no answer: evaluate it and expand again.
    NeedsQuery(String),
}

/// The variables Prometheus defines before every alert label and annotation text.
const ALERT_DEFINITIONS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Prometheus' alert template: the four `$labels`/`$externalLabels`/`$externalURL`/`$value`
/// definitions prepended to `text`, parsed.
pub fn alert_template(name: &str, text: &str) -> Result<Template, String> {
    Template::parse(name, &format!("{ALERT_DEFINITIONS}{text}"))
}

impl Template {
    /// Parses `text`; errors read as Prometheus words them:
    /// `error parsing template NAME: template: NAME:LINE: message`.
    pub fn parse(name: &str, text: &str) -> Result<Template, String> {
        let describe = |pos: usize, message: String| {
            let line = 1 + text[..pos.min(text.len())].matches('\n').count();
            format!("error parsing template {name}: template: {name}:{line}: {message}")
        };
        let tokens = lex::lex(text).map_err(|error| describe(error.pos, error.message))?;
        let parsed = parse::parse(tokens).map_err(|error| describe(error.pos, error.message))?;
        Ok(Template { name: name.to_string(), source: text.to_string(), root: parsed.root, defined: parsed.defined })
    }

    /// Expands with `data` as dot and `now` (the `now` function) the current system time.
    /// Errors read as Prometheus words them: `error executing template NAME: template: NAME:L:C: …`.
    pub fn expand(&self, data: &Data<'_>, answers: &QueryAnswers) -> Result<Expansion, String> {
        let now_seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |elapsed| elapsed.as_millis() as f64 / 1000.0);
        self.expand_at(data, answers, now_seconds)
    }

    /// As [`Template::expand`], with `now` returning `now_unix_seconds` (Prometheus passes the
    /// rule evaluation time).
    pub fn expand_at(&self, data: &Data<'_>, answers: &QueryAnswers, now_unix_seconds: f64) -> Result<Expansion, String> {
        self.expand_dot(exec::data_value(data), data.external_url, answers, now_unix_seconds)
    }

    fn expand_dot(&self, dot: value::Value, external_url: &str, answers: &QueryAnswers, now_seconds: f64) -> Result<Expansion, String> {
        let context = functions::CallContext { external_url, now_seconds, answers };
        let executor = exec::Executor::new(&self.source, &self.name, &self.defined, context);
        match executor.run(&self.root, dot) {
            Ok(text) => Ok(Expansion::Text(text)),
            Err(exec::Failure::NeedsQuery(query)) => Ok(Expansion::NeedsQuery(query)),
            Err(exec::Failure::Error(message)) => Err(format!("error executing template {}: {message}", self.name)),
        }
    }
}
