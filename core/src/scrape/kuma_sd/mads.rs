//! Kuma's monitoring assignment discovery service (MADS) as Prometheus speaks it: the xDS
//! `DiscoveryRequest` POSTed as protobuf JSON (proto field names, unset fields left out),
//! the `DiscoveryResponse` read back with its `google.protobuf.Any` resources in their JSON
//! form (`@type` beside the message's fields), and each `MonitoringAssignment` target turned
//! into a group with Prometheus' `__meta_kuma_*`, address, instance, scheme and path labels.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{null_as_default, sanitize_label_name};

/// The resource type Prometheus asks for, as the request's and the answer's `type_url`.
pub const RESOURCE_TYPE_URL: &str = "type.googleapis.com/kuma.observability.v1.MonitoringAssignment";
/// The protobuf message name of a MonitoringAssignment (an `Any`'s `@type` after its last `/`).
const ASSIGNMENT_MESSAGE: &str = "kuma.observability.v1.MonitoringAssignment";
/// The other messages Prometheus' JSON reader knows: an `Any` of these is read, then refused
/// as not an assignment (any other `@type` cannot be read at all).
const KNOWN_MESSAGES: [&str; 2] = ["envoy.service.discovery.v3.DiscoveryRequest", "envoy.service.discovery.v3.DiscoveryResponse"];

/// The meta label prefixes and names Prometheus gives.
const MESH_LABEL: &str = "__meta_kuma_mesh";
const SERVICE_LABEL: &str = "__meta_kuma_service";
const DATAPLANE_LABEL: &str = "__meta_kuma_dataplane";
const USER_LABEL_PREFIX: &str = "__meta_kuma_label_";

/// The subset of xDS v3's `DiscoveryRequest` Prometheus sends, in field order; empty strings
/// are left out as protobuf JSON leaves out unset fields (`resource_names` is always empty).
#[derive(Debug, Serialize)]
pub struct DiscoveryRequest<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub version_info: &'a str,
    pub node: Node<'a>,
    pub type_url: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub response_nonce: &'a str,
}

/// Envoy's `core.v3.Node`: only its `id`, the client's name.
#[derive(Debug, Serialize)]
pub struct Node<'a> {
    #[serde(skip_serializing_if = "str::is_empty")]
    pub id: &'a str,
}

/// The body of a request after an answer of `version_info` and `nonce` (both empty before
/// the first answer), from client `client_id`.
pub fn request_body(client_id: &str, version_info: &str, nonce: &str) -> String {
    let request = DiscoveryRequest { version_info, node: Node { id: client_id }, type_url: RESOURCE_TYPE_URL, response_nonce: nonce };
    // Plain strings and one nested object: serializing cannot fail.
    serde_json::to_string(&request).unwrap_or_default()
}

/// The subset of xDS v3's `DiscoveryResponse` Prometheus reads. Protobuf JSON takes a field
/// under its proto name or its lowerCamelCase JSON name, `null` as unset, and (as Prometheus
/// reads it) ignores unknown fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DiscoveryResponse {
    #[serde(alias = "versionInfo", deserialize_with = "null_as_default")]
    pub version_info: String,
    /// `google.protobuf.Any` in JSON: `{"@type": ..., <the message's fields>}`.
    #[serde(deserialize_with = "null_as_default")]
    pub resources: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(alias = "typeUrl", deserialize_with = "null_as_default")]
    pub type_url: String,
    #[serde(deserialize_with = "null_as_default")]
    pub nonce: String,
}

/// Kuma's `observability.v1.MonitoringAssignment`: a mesh's service and its targets.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct MonitoringAssignment {
    #[serde(deserialize_with = "null_as_default")]
    mesh: String,
    #[serde(deserialize_with = "null_as_default")]
    service: String,
    #[serde(deserialize_with = "null_as_default")]
    targets: Vec<Target>,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
}

/// `MonitoringAssignment.Target`: one dataplane's metrics endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Target {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    scheme: String,
    #[serde(deserialize_with = "null_as_default")]
    address: String,
    #[serde(alias = "metricsPath", deserialize_with = "null_as_default")]
    metrics_path: String,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
}

/// Reads a 200 answer's body.
pub fn response(body: &[u8]) -> Result<DiscoveryResponse, String> {
    // An object, as a message must be in JSON (serde would take a struct from a list too).
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(body).map_err(|e| format!("proto: syntax error: {e}"))?;
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| format!("proto: cannot parse envoy.service.discovery.v3.DiscoveryResponse: {e}"))
}

/// The groups of an answer's resources, one per target, in the answer's order; an error in
/// Prometheus' words for an answer of another type or a resource that is no assignment.
pub fn groups(answer: &DiscoveryResponse) -> Result<Vec<TargetGroup>, String> {
    if answer.type_url != RESOURCE_TYPE_URL {
        return Err(format!("received invalid typeURL for Kuma MADS v1 Resource: {}", answer.type_url));
    }
    let mut groups = Vec::new();
    for resource in &answer.resources {
        let assignment = assignment(resource)?;
        groups.extend(assignment_groups(&assignment));
    }
    Ok(groups)
}

/// The assignment an `Any` in JSON holds.
fn assignment(resource: &serde_json::Map<String, serde_json::Value>) -> Result<MonitoringAssignment, String> {
    let type_url = match resource.get("@type") {
        Some(serde_json::Value::String(t)) => t.as_str(),
        _ => return Err("proto: missing \"@type\" field".to_string()),
    };
    // As protobuf resolves an `Any`: by the message name after the URL's last `/`.
    let message = type_url.rsplit('/').next().unwrap_or(type_url);
    if message != ASSIGNMENT_MESSAGE {
        if KNOWN_MESSAGES.contains(&message) {
            return Err(format!("proto: mismatched message type: got {message:?}, want {ASSIGNMENT_MESSAGE:?}"));
        }
        return Err(format!("proto: unable to resolve {type_url:?}: \"not found\""));
    }
    let fields = resource.iter().filter(|(k, _)| *k != "@type").map(|(k, v)| (k.clone(), v.clone())).collect();
    serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| format!("proto: cannot parse {ASSIGNMENT_MESSAGE}: {e}"))
}

/// A group per target of `assignment`: the target's user labels, under the assignment's
/// (which win, as Prometheus merges them), the mesh and service, then the dataplane,
/// address, instance, scheme and metrics path from the target (empty ones too: the job's
/// scheme and path then apply).
fn assignment_groups(assignment: &MonitoringAssignment) -> Vec<TargetGroup> {
    let common = user_labels(&assignment.labels);
    assignment
        .targets
        .iter()
        .map(|target| {
            let mut labels = user_labels(&target.labels);
            labels.extend(common.iter().map(|(k, v)| (k.clone(), v.clone())));
            labels.insert(MESH_LABEL.to_string(), assignment.mesh.clone());
            labels.insert(SERVICE_LABEL.to_string(), assignment.service.clone());
            labels.insert(DATAPLANE_LABEL.to_string(), target.name.clone());
            labels.insert("instance".to_string(), target.name.clone());
            labels.insert("__scheme__".to_string(), target.scheme.clone());
            labels.insert("__metrics_path__".to_string(), target.metrics_path.clone());
            TargetGroup { targets: vec![target.address.clone()], labels }
        })
        .collect()
}

/// `labels` as `__meta_kuma_label_<name>`, each name sanitized as Prometheus does.
fn user_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.iter().map(|(k, v)| (format!("{USER_LABEL_PREFIX}{}", sanitize_label_name(k)), v.clone())).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Prometheus' `testKumaMadsV1Resources` as a MADS server answers them (protobuf JSON,
    /// version 1, nonce abc): two assignments with targets and one without.
    pub const ANSWER: &str = r#"{
      "version_info": "1",
      "resources": [
        {"@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment", "mesh": "metrics", "service": "prometheus",
         "targets": [
           {"name": "prometheus-01", "scheme": "http", "address": "10.1.4.32:9090", "metrics_path": "/custom-metrics", "labels": {"commit_hash": "620506a88"}},
           {"name": "prometheus-02", "scheme": "http", "address": "10.1.4.33:9090", "labels": {"commit_hash": "3513bba00"}}],
         "labels": {"kuma.io/zone": "us-east-1", "team": "infra"}},
        {"@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment", "mesh": "metrics", "service": "grafana",
         "labels": {"kuma.io/zone": "us-east-1", "team": "infra"}},
        {"@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment", "mesh": "data", "service": "elasticsearch",
         "targets": [{"name": "elasticsearch-01", "scheme": "http", "address": "10.1.1.1", "labels": {"role": "ml"}}]}
      ],
      "type_url": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
      "nonce": "abc"
    }"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Prometheus' expected targets of `ANSWER` (kuma_test.go), `__address__` as the
    /// group's target.
    pub fn expected_groups() -> Vec<TargetGroup> {
        vec![
            TargetGroup {
                targets: vec!["10.1.4.32:9090".into()],
                labels: labels(&[
                    ("__metrics_path__", "/custom-metrics"),
                    ("__scheme__", "http"),
                    ("instance", "prometheus-01"),
                    ("__meta_kuma_mesh", "metrics"),
                    ("__meta_kuma_service", "prometheus"),
                    ("__meta_kuma_label_team", "infra"),
                    ("__meta_kuma_label_kuma_io_zone", "us-east-1"),
                    ("__meta_kuma_label_commit_hash", "620506a88"),
                    ("__meta_kuma_dataplane", "prometheus-01"),
                ]),
            },
            TargetGroup {
                targets: vec!["10.1.4.33:9090".into()],
                labels: labels(&[
                    ("__metrics_path__", ""),
                    ("__scheme__", "http"),
                    ("instance", "prometheus-02"),
                    ("__meta_kuma_mesh", "metrics"),
                    ("__meta_kuma_service", "prometheus"),
                    ("__meta_kuma_label_team", "infra"),
                    ("__meta_kuma_label_kuma_io_zone", "us-east-1"),
                    ("__meta_kuma_label_commit_hash", "3513bba00"),
                    ("__meta_kuma_dataplane", "prometheus-02"),
                ]),
            },
            TargetGroup {
                targets: vec!["10.1.1.1".into()],
                labels: labels(&[
                    ("__metrics_path__", ""),
                    ("__scheme__", "http"),
                    ("instance", "elasticsearch-01"),
                    ("__meta_kuma_mesh", "data"),
                    ("__meta_kuma_service", "elasticsearch"),
                    ("__meta_kuma_label_role", "ml"),
                    ("__meta_kuma_dataplane", "elasticsearch-01"),
                ]),
            },
        ]
    }

    #[test]
    fn valid_resources_become_prometheus_targets() {
        // TestKumaMadsV1ResourceParserValidResources.
        let answer = response(ANSWER.as_bytes()).expect("valid");
        assert_eq!((answer.version_info.as_str(), answer.nonce.as_str()), ("1", "abc"));
        assert_eq!(groups(&answer).expect("valid resources"), expected_groups());
    }

    #[test]
    fn json_names_nulls_and_unknown_fields_are_read_as_protobuf_json_reads_them() {
        let body = r#"{"versionInfo": "7", "typeUrl": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment", "nonce": null, "canary": false, "controlPlane": {"identifier": "kuma-cp"},
          "resources": [{"@type": "other.prefix/kuma.observability.v1.MonitoringAssignment", "mesh": "m", "service": null, "labels": null, "extra": 1,
            "targets": [{"name": "t", "address": "h:1", "metricsPath": "/m", "scheme": "https", "labels": {"a-b": "c"}}]}]}"#;
        let answer = response(body.as_bytes()).expect("valid");
        assert_eq!((answer.version_info.as_str(), answer.nonce.as_str()), ("7", ""));
        let groups = groups(&answer).expect("valid");
        assert_eq!(groups[0].targets, ["h:1"]);
        assert_eq!(
            groups[0].labels,
            labels(&[("__metrics_path__", "/m"), ("__scheme__", "https"), ("instance", "t"), ("__meta_kuma_mesh", "m"), ("__meta_kuma_service", ""), ("__meta_kuma_label_a_b", "c"), ("__meta_kuma_dataplane", "t")])
        );
    }

    #[test]
    fn the_assignments_labels_win_over_the_targets() {
        let body = r#"{"type_url": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment", "resources": [{"@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment",
          "labels": {"team": "infra"}, "targets": [{"name": "t", "address": "h:1", "labels": {"team": "web", "own": "x"}}]}]}"#;
        let groups = groups(&response(body.as_bytes()).expect("valid")).expect("valid");
        assert_eq!(groups[0].labels.get("__meta_kuma_label_team").map(String::as_str), Some("infra"));
        assert_eq!(groups[0].labels.get("__meta_kuma_label_own").map(String::as_str), Some("x"));
    }

    #[test]
    fn an_empty_answer_has_no_groups_and_another_type_is_refused() {
        // TestKumaMadsV1ResourceParserEmptySlice and ...InvalidTypeURL.
        let empty = response(br#"{"type_url": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment"}"#).expect("valid");
        assert_eq!(groups(&empty), Ok(vec![]));
        let other = response(br#"{"type_url": "type.googleapis.com/some.api.v1.Monitoring", "resources": []}"#).expect("valid");
        assert_eq!(groups(&other), Err("received invalid typeURL for Kuma MADS v1 Resource: type.googleapis.com/some.api.v1.Monitoring".to_string()));
    }

    #[test]
    fn resources_that_are_no_assignment_are_refused() {
        // TestKumaMadsV1ResourceParserInvalidResources, as JSON can carry it: resources of
        // another type, without a type, or whose fields do not fit.
        let with = |resource: &str| groups(&response(format!(r#"{{"type_url": "{RESOURCE_TYPE_URL}", "resources": [{resource}]}}"#).as_bytes()).expect("valid"));
        let error = with(r#"{"@type": "type.googleapis.com/envoy.service.discovery.v3.DiscoveryRequest", "node": {"id": "x"}}"#).expect_err("not an assignment");
        assert_eq!(error, "proto: mismatched message type: got \"envoy.service.discovery.v3.DiscoveryRequest\", want \"kuma.observability.v1.MonitoringAssignment\"");
        assert_eq!(with(r#"{"@type": "type.googleapis.com/foo.Bar"}"#), Err("proto: unable to resolve \"type.googleapis.com/foo.Bar\": \"not found\"".to_string()));
        assert_eq!(with(r#"{"mesh": "m"}"#), Err("proto: missing \"@type\" field".to_string()));
        let error = with(r#"{"@type": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment", "targets": "x"}"#).expect_err("targets is a list");
        assert!(error.starts_with("proto: cannot parse kuma.observability.v1.MonitoringAssignment"), "{error}");
        assert!(response(b"").is_err() && response(b"[]").is_err() && response(br#"{"nonce": 1}"#).is_err());
    }

    #[test]
    fn the_request_is_protobuf_json_with_proto_names_and_unset_fields_left_out() {
        assert_eq!(request_body("test-id", "", ""), r#"{"node":{"id":"test-id"},"type_url":"type.googleapis.com/kuma.observability.v1.MonitoringAssignment"}"#);
        assert_eq!(request_body("a\"b", "1", "abc"), r#"{"version_info":"1","node":{"id":"a\"b"},"type_url":"type.googleapis.com/kuma.observability.v1.MonitoringAssignment","response_nonce":"abc"}"#);
    }
}
