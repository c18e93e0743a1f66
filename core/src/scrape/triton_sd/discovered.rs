//! Reads the answers of Triton's discovery endpoints (Triton's Container Monitor, `cmon`) as
//! Prometheus reads them, and turns them into targets labelled as Prometheus labels them:
//! a container (`{"containers": [...]}`) or a compute node (`{"cns": [...]}`) each at
//! `<uuid>.<dns_suffix>:<port>` with the `__meta_triton_*` labels. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::null_as_default;

/// The container role's answer (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Containers {
    #[serde(deserialize_with = "null_as_default")]
    containers: Vec<Container>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Container {
    #[serde(deserialize_with = "null_as_default")]
    groups: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    server_uuid: String,
    #[serde(deserialize_with = "null_as_default")]
    vm_alias: String,
    #[serde(deserialize_with = "null_as_default")]
    vm_brand: String,
    #[serde(deserialize_with = "null_as_default")]
    vm_image_uuid: String,
    #[serde(deserialize_with = "null_as_default")]
    vm_uuid: String,
}

/// The compute node role's answer (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ComputeNodes {
    #[serde(deserialize_with = "null_as_default")]
    cns: Vec<ComputeNode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ComputeNode {
    #[serde(deserialize_with = "null_as_default")]
    server_uuid: String,
    #[serde(deserialize_with = "null_as_default")]
    server_hostname: String,
}

/// Go refuses a list where an object is expected; serde would read it field by field.
fn refuse_list(answer: &[u8], what: &str) -> Result<(), String> {
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(format!("an error occurred unmarshaling the {what} json: a list, not an object"));
    }
    Ok(())
}

/// A group per container, with Prometheus' labels.
pub fn containers(answer: &[u8], dns_suffix: &str, port: u16) -> Result<Vec<TargetGroup>, String> {
    refuse_list(answer, "discovery response")?;
    let read: Containers = serde_json::from_slice(answer).map_err(|e| format!("an error occurred unmarshaling the discovery response json: {e}"))?;
    Ok(read
        .containers
        .iter()
        .map(|c| {
            let mut labels = BTreeMap::from([
                ("__meta_triton_machine_id".to_string(), c.vm_uuid.clone()),
                ("__meta_triton_machine_alias".to_string(), c.vm_alias.clone()),
                ("__meta_triton_machine_brand".to_string(), c.vm_brand.clone()),
                ("__meta_triton_machine_image".to_string(), c.vm_image_uuid.clone()),
                ("__meta_triton_server_id".to_string(), c.server_uuid.clone()),
            ]);
            if !c.groups.is_empty() {
                labels.insert("__meta_triton_groups".to_string(), format!(",{},", c.groups.join(",")));
            }
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![format!("{}.{dns_suffix}:{port}", c.vm_uuid)], labels }
        })
        .collect())
}

/// A group per compute node, with Prometheus' labels.
pub fn compute_nodes(answer: &[u8], dns_suffix: &str, port: u16) -> Result<Vec<TargetGroup>, String> {
    refuse_list(answer, "compute node discovery response")?;
    let read: ComputeNodes = serde_json::from_slice(answer).map_err(|e| format!("an error occurred unmarshaling the compute node discovery response json: {e}"))?;
    Ok(read
        .cns
        .iter()
        .map(|cn| {
            let mut labels = BTreeMap::from([("__meta_triton_machine_id".to_string(), cn.server_uuid.clone()), ("__meta_triton_machine_alias".to_string(), cn.server_hostname.clone())]);
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![format!("{}.{dns_suffix}:{port}", cn.server_uuid)], labels }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn containers_become_the_targets_and_labels_prometheus_makes() {
        let answer = br#"{"containers": [
            {"groups": ["foo", "bar", "baz"], "server_uuid": "44454c4c-5000-104d-8037-b7c04f5a5131", "vm_alias": "server01", "vm_brand": "lx",
             "vm_image_uuid": "7b27a514-89d7-11e6-bee6-3f96f367bee7", "vm_uuid": "ad466fbf-46a2-4027-bc3c-6d34e95c2d3d"},
            {"server_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6", "vm_alias": "server02", "vm_brand": "kvm",
             "vm_image_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6", "vm_uuid": "7b27a514-89d7-11e6-bee6-3f96f367bee7"}]}"#;
        let groups = containers(answer, "triton.example.com", 443).expect("valid");
        assert_eq!(groups[0].targets, ["ad466fbf-46a2-4027-bc3c-6d34e95c2d3d.triton.example.com:443"]);
        assert_eq!(
            groups[0].labels,
            labels(&[
                ("__meta_triton_groups", ",foo,bar,baz,"),
                ("__meta_triton_machine_alias", "server01"),
                ("__meta_triton_machine_brand", "lx"),
                ("__meta_triton_machine_id", "ad466fbf-46a2-4027-bc3c-6d34e95c2d3d"),
                ("__meta_triton_machine_image", "7b27a514-89d7-11e6-bee6-3f96f367bee7"),
                ("__meta_triton_server_id", "44454c4c-5000-104d-8037-b7c04f5a5131"),
            ])
        );
        assert_eq!(groups[1].labels.get("__meta_triton_groups"), None);
        assert!(containers(br#"{"containers": []}"#, "d", 1).expect("valid").is_empty());
        assert!(containers(b"{}", "d", 1).expect("valid").is_empty());
        assert!(containers(b"[]", "d", 1).is_err());
        assert!(containers(b"<html>", "d", 1).expect_err("not JSON").starts_with("an error occurred unmarshaling the discovery response json"));
    }

    #[test]
    fn compute_nodes_become_the_targets_and_labels_prometheus_makes() {
        let answer = br#"{"cns": [{"server_uuid": "44454c4c-5000-104d-8037-b7c04f5a5131", "server_hostname": "server01"},
                                   {"server_uuid": "a5894692-bd32-4ca1-908a-e2dda3c3a5e6", "server_hostname": "server02"}]}"#;
        let groups = compute_nodes(answer, "triton.example.com", 9163).expect("valid");
        assert_eq!(groups[1].targets, ["a5894692-bd32-4ca1-908a-e2dda3c3a5e6.triton.example.com:9163"]);
        assert_eq!(groups[0].labels, labels(&[("__meta_triton_machine_alias", "server01"), ("__meta_triton_machine_id", "44454c4c-5000-104d-8037-b7c04f5a5131")]));
        assert!(compute_nodes(b"{\"cns\": 1}", "d", 1).expect_err("bad").starts_with("an error occurred unmarshaling the compute node discovery response json"));
    }
}
