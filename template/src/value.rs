//! The dynamic values templates compute with, standing in for the Go types Prometheus passes
//! (`map[string]string`, `float64`, `*time.Time`, query samples …), with Go's truthiness and type names.

use std::collections::BTreeMap;
use std::rc::Rc;

/// One query result sample, as Prometheus' template `sample` struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Rc<BTreeMap<String, String>>,
    pub value: f64,
}

/// The alert data (`.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertData {
    pub labels: Rc<BTreeMap<String, String>>,
    pub external_labels: Rc<BTreeMap<String, String>>,
    pub external_url: String,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Go's untyped nil / missing value (prints `<no value>`).
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `map[string]string`: a missing key reads as "" (Prometheus sets missingkey=zero).
    StrMap(Rc<BTreeMap<String, String>>),
    /// `map[string]interface{}` (from `args`): a missing key reads as nil.
    Map(Rc<BTreeMap<String, Value>>),
    /// A Go slice; no function builds one today, but data passed as dot (tests) may.
    #[cfg_attr(not(test), allow(dead_code))]
    List(Rc<Vec<Value>>),
    Sample(Rc<Sample>),
    /// A query result (`template.queryResult`).
    Samples(Rc<Vec<Rc<Sample>>>),
    /// A UTC instant, nanoseconds since the Unix epoch (`*time.Time`).
    Time(i64),
    /// Nanoseconds (`*time.Duration`).
    Duration(i64),
    Data(Rc<AlertData>),
}

impl Value {
    /// Go's truth: false for zero values, empty strings/maps/slices and nil.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Samples(s) => !s.is_empty(),
            Value::Sample(_) | Value::Time(_) | Value::Duration(_) | Value::Data(_) => true,
        }
    }

    /// The Go type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::StrMap(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
            Value::Sample(_) => "*template.sample",
            Value::Samples(_) => "template.queryResult",
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "*time.Duration",
            Value::Data(_) => "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }",
        }
    }
}
