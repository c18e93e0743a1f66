//! Turns PuppetDB's answer to a resources query (a JSON list) into the targets of
//! `puppetdb_sd_configs`, labelled as Prometheus' PuppetDB discovery labels them: one target
//! per resource at `<certname>:<port>`, with the `__meta_puppetdb_*` labels and, with
//! `include_parameters`, a `__meta_puppetdb_parameter_<name>` label per parameter rendered
//! as Prometheus renders it (its `toLabels`). Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default, sanitize_label_name};

/// Every parameter label starts with this.
const PARAMETER_PREFIX: &str = "__meta_puppetdb_parameter_";
/// Between (and around) tags and list items, as Prometheus joins them.
const SEPARATOR: &str = ",";

/// One resource as PuppetDB answers it (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Resource {
    #[serde(deserialize_with = "null_as_default")]
    certname: String,
    #[serde(deserialize_with = "null_as_default")]
    resource: String,
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    kind: String,
    #[serde(deserialize_with = "null_as_default")]
    title: String,
    #[serde(deserialize_with = "null_as_default")]
    exported: bool,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    file: String,
    #[serde(deserialize_with = "null_as_default")]
    environment: String,
    #[serde(deserialize_with = "null_as_default")]
    parameters: Map<String, Value>,
}

/// What the answer is read for: the entry's query, port and whether parameters are labels.
pub struct Labelling<'a> {
    pub query: &'a str,
    pub port: u16,
    pub include_parameters: bool,
}

/// The target groups of an answer, one per resource in answer order, or why it cannot be
/// read.
pub fn groups(answer: &[u8], labelling: &Labelling) -> Result<Vec<TargetGroup>, String> {
    let resources: Vec<Resource> = serde_json::from_slice(answer).map_err(|e| format!("cannot read the resources: {e}"))?;
    Ok(resources.iter().map(|r| group(r, labelling)).collect())
}

/// One resource's target and labels.
fn group(r: &Resource, labelling: &Labelling) -> TargetGroup {
    let mut labels = BTreeMap::from([
        ("__meta_puppetdb_query".to_string(), labelling.query.to_string()),
        ("__meta_puppetdb_certname".to_string(), r.certname.clone()),
        ("__meta_puppetdb_resource".to_string(), r.resource.clone()),
        ("__meta_puppetdb_type".to_string(), r.kind.clone()),
        ("__meta_puppetdb_title".to_string(), r.title.clone()),
        ("__meta_puppetdb_exported".to_string(), r.exported.to_string()),
        ("__meta_puppetdb_file".to_string(), r.file.clone()),
        ("__meta_puppetdb_environment".to_string(), r.environment.clone()),
    ]);
    if !r.tags.is_empty() {
        // With a separator at each end, relabeling regexes need not mind a tag's position.
        labels.insert("__meta_puppetdb_tags".to_string(), format!("{SEPARATOR}{}{SEPARATOR}", r.tags.join(SEPARATOR)));
    }
    if labelling.include_parameters {
        for (name, value) in parameter_labels(&r.parameters) {
            labels.insert(format!("{PARAMETER_PREFIX}{name}"), value);
        }
    }
    // An empty value is no label (Prometheus drops them when it builds the target).
    labels.retain(|_, v| !v.is_empty());
    TargetGroup { targets: vec![join_host_port(&r.certname, labelling.port)], labels }
}

/// The parameters as label name (sanitized, without the prefix) → value, as Prometheus'
/// `toLabels` makes them: strings as they are, booleans and numbers as Go writes them, a
/// list as its items joined by commas (an item of another type empty), an object as its own
/// labels under `<name>_`; null, and any value that renders empty, make no label. Where two
/// names sanitize alike the later in key order wins (Go's map order decides in Prometheus).
fn parameter_labels(parameters: &Map<String, Value>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for (name, value) in parameters {
        let text = match value {
            Value::Array(items) => items.iter().map(|item| scalar_text(item).unwrap_or_default()).collect::<Vec<_>>().join(SEPARATOR),
            Value::Object(inner) => {
                let prefix = sanitize_label_name(&format!("{name}_"));
                for (inner_name, inner_value) in parameter_labels(inner) {
                    labels.insert(format!("{prefix}{inner_name}"), inner_value);
                }
                continue;
            }
            scalar => scalar_text(scalar).unwrap_or_default(),
        };
        if !text.is_empty() {
            labels.insert(sanitize_label_name(name), text);
        }
    }
    labels
}

/// A string, boolean or number as Prometheus writes it in a label; none for other types.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        // Go reads every JSON number as a float64.
        Value::Number(n) => n.as_f64().map(promql::format::go_float_g),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A resource as PuppetDB answers a query for Apache vhosts, with parameters of every
    /// JSON type: the facts Prometheus' tests pin, with this project's own values.
    const VHOSTS: &str = r#"[
      {
        "certname": "web-03.lon.example.net",
        "environment": "production",
        "exported": false,
        "file": "/etc/puppetlabs/code/environments/production/modules/apache/manifests/vhost.pp",
        "line": 117,
        "parameters": {
          "access_log": true,
          "access_log_file": "metrics_access.log",
          "aliases": [],
          "servername": "",
          "docroot": "/srv/www/metrics",
          "ensure": "present",
          "options": ["FollowSymLinks", "MultiViews"],
          "php_values": {},
          "labels": {"tier": "edge", "owner-team": "observability"},
          "rewrites": [{"rewrite_rule": "^/old$ /new [R]"}],
          "port": 8443,
          "ratio": 0.25,
          "latencies": [0.1, 1, 2.5],
          "location": [51.50735, -0.12776],
          "mixed": ["a", 7, false, null, ["x"]],
          "nothing": null,
          "only_nulls": [null],
          "big": 12345678,
          "tiny": 0.00001,
          "ssl-cert": "/etc/ssl/web.pem"
        },
        "resource": "0f4e1b5d2c3a4968b7a1c2d3e4f5a6b7c8d9e0f1",
        "tags": ["apache", "apache::vhost", "profile::web", "node"],
        "title": "metrics-vhost",
        "type": "Apache::Vhost"
      },
      {
        "certname": "fd00::3",
        "environment": null,
        "exported": true,
        "file": null,
        "parameters": null,
        "resource": "aa11",
        "tags": [],
        "title": "t",
        "type": "Node_exporter"
      }
    ]"#;

    const QUERY: &str = "resources { type = \"Apache::Vhost\" }";

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The labels every resource of `VHOSTS[0]` has, parameters or not.
    const FIRST: [(&str, &str); 9] = [
        ("__meta_puppetdb_query", QUERY),
        ("__meta_puppetdb_certname", "web-03.lon.example.net"),
        ("__meta_puppetdb_environment", "production"),
        ("__meta_puppetdb_exported", "false"),
        ("__meta_puppetdb_file", "/etc/puppetlabs/code/environments/production/modules/apache/manifests/vhost.pp"),
        ("__meta_puppetdb_resource", "0f4e1b5d2c3a4968b7a1c2d3e4f5a6b7c8d9e0f1"),
        ("__meta_puppetdb_tags", ",apache,apache::vhost,profile::web,node,"),
        ("__meta_puppetdb_title", "metrics-vhost"),
        ("__meta_puppetdb_type", "Apache::Vhost"),
    ];

    #[test]
    fn resources_become_the_targets_and_labels_prometheus_makes() {
        let groups = groups(VHOSTS.as_bytes(), &Labelling { query: QUERY, port: 80, include_parameters: false }).expect("a valid answer");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets, ["web-03.lon.example.net:80"]);
        assert_eq!(groups[0].labels, labels(&FIRST));
        // Null fields are no labels, no tags no tags label, an IPv6 certname in brackets.
        assert_eq!(groups[1].targets, ["[fd00::3]:80"]);
        assert_eq!(
            groups[1].labels,
            labels(&[
                ("__meta_puppetdb_query", QUERY),
                ("__meta_puppetdb_certname", "fd00::3"),
                ("__meta_puppetdb_exported", "true"),
                ("__meta_puppetdb_resource", "aa11"),
                ("__meta_puppetdb_title", "t"),
                ("__meta_puppetdb_type", "Node_exporter"),
            ])
        );
    }

    #[test]
    fn parameters_are_rendered_as_prometheus_renders_them() {
        let groups = groups(VHOSTS.as_bytes(), &Labelling { query: QUERY, port: 9117, include_parameters: true }).expect("a valid answer");
        assert_eq!(groups[0].targets, ["web-03.lon.example.net:9117"]);
        let mut expected = labels(&FIRST);
        expected.extend(labels(&[
            ("__meta_puppetdb_parameter_access_log", "true"),
            ("__meta_puppetdb_parameter_access_log_file", "metrics_access.log"),
            ("__meta_puppetdb_parameter_docroot", "/srv/www/metrics"),
            ("__meta_puppetdb_parameter_ensure", "present"),
            ("__meta_puppetdb_parameter_options", "FollowSymLinks,MultiViews"),
            ("__meta_puppetdb_parameter_labels_tier", "edge"),
            ("__meta_puppetdb_parameter_labels_owner_team", "observability"),
            ("__meta_puppetdb_parameter_port", "8443"),
            ("__meta_puppetdb_parameter_ratio", "0.25"),
            ("__meta_puppetdb_parameter_latencies", "0.1,1,2.5"),
            ("__meta_puppetdb_parameter_location", "51.50735,-0.12776"),
            // Items of other types are empty between the commas.
            ("__meta_puppetdb_parameter_mixed", "a,7,false,,"),
            ("__meta_puppetdb_parameter_big", "1.2345678e+07"),
            ("__meta_puppetdb_parameter_tiny", "1e-05"),
            ("__meta_puppetdb_parameter_ssl_cert", "/etc/ssl/web.pem"),
        ]));
        // Not there: the empty list and string, the empty object, a list of objects and one
        // of a null alone (both render empty), and null.
        assert_eq!(groups[0].labels, expected);
        assert_eq!(groups[1].labels.keys().filter(|k| k.starts_with(PARAMETER_PREFIX)).count(), 0);
    }

    #[test]
    fn numbers_are_written_as_go_writes_them() {
        for (v, want) in [(0.0, "0"), (22.0, "22"), (std::f64::consts::PI, "3.141592653589793"), (60.13464726551357, "60.13464726551357"), (-2.0513768021728893, "-2.0513768021728893"), (123456.0, "123456"), (1e6, "1e+06"), (0.0001, "0.0001"), (1.5e-7, "1.5e-07"), (1e21, "1e+21")] {
            assert_eq!(promql::format::go_float_g(v), want, "{v}");
        }
        // Through the JSON reader too (Prometheus' fixture values).
        let map: Map<String, Value> = serde_json::from_str(r#"{"pi": 3.141592653589793, "c": [60.13464726551357, -2.0513768021728893], "b": [0, 2, 5]}"#).expect("json");
        assert_eq!(parameter_labels(&map), labels(&[("pi", "3.141592653589793"), ("c", "60.13464726551357,-2.0513768021728893"), ("b", "0,2,5")]));
    }

    #[test]
    fn an_answer_that_is_not_a_list_of_resources_fails() {
        let labelling = Labelling { query: "q", port: 80, include_parameters: true };
        for bad in ["{}", "", "[{\"tags\": [1]}]", "[{\"exported\": \"yes\"}]", "[1]"] {
            assert!(groups(bad.as_bytes(), &labelling).is_err(), "{bad}");
        }
        assert_eq!(groups(b"[]", &labelling).expect("empty"), Vec::new());
    }
}
