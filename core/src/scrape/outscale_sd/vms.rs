//! Reads OUTSCALE's `ReadVms` answer as Prometheus reads it through the OUTSCALE Go SDK, and
//! turns the virtual machines into targets labelled as Prometheus labels them: one per VM
//! with a private IP (else a public one), at it and the entry's port, with the
//! `__meta_outscale_vm_*` labels. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

/// One answer of `ReadVms` (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Page {
    pub vms: Option<Vec<Vm>>,
    /// The token of the next page; none or empty on the last.
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Vm {
    vm_id: Option<String>,
    state: Option<String>,
    private_ip: Option<String>,
    public_ip: Option<String>,
    placement: Option<Placement>,
    tags: Option<Vec<Tag>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Placement {
    subregion_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Tag {
    key: String,
    value: String,
}

/// An answer as the API sends it, or why it cannot be read.
pub fn page(answer: &[u8]) -> Result<Page, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("cannot read the VMs: a list, not an object".into());
    }
    serde_json::from_slice(answer).map_err(|e| format!("cannot read the VMs: {e}"))
}

/// A group per VM with an address, in list order, with Prometheus' labels (`region`: the
/// entry's).
pub fn groups(vms: &[Vm], region: &str, port: u16) -> Vec<TargetGroup> {
    vms.iter()
        .filter_map(|vm| {
            let private = vm.private_ip.as_deref().filter(|ip| !ip.is_empty());
            let host = private.or(vm.public_ip.as_deref().filter(|ip| !ip.is_empty()))?;
            let mut labels = BTreeMap::from([
                ("__meta_outscale_vm_instance_id".to_string(), vm.vm_id.clone().unwrap_or_default()),
                ("__meta_outscale_vm_region".to_string(), region.to_string()),
                ("__meta_outscale_vm_state".to_string(), vm.state.clone().unwrap_or_default()),
            ]);
            if let Some(subregion) = vm.placement.as_ref().and_then(|p| p.subregion_name.clone()) {
                labels.insert("__meta_outscale_vm_subregion".to_string(), subregion);
            }
            if let Some(ip) = &vm.private_ip {
                labels.insert("__meta_outscale_vm_private_ip".to_string(), ip.clone());
            }
            if let Some(ip) = &vm.public_ip {
                labels.insert("__meta_outscale_vm_public_ip".to_string(), ip.clone());
            }
            for tag in vm.tags.iter().flatten().filter(|t| !t.key.is_empty() && !t.value.is_empty()) {
                labels.insert(format!("__meta_outscale_vm_tag_{}", sanitize_label_name(&tag.key)), tag.value.clone());
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            Some(TargetGroup { targets: vec![join_host_port(host, port)], labels })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vms(json: &str) -> Vec<Vm> {
        page(format!(r#"{{"Vms": {json}, "ResponseContext": {{"RequestId": "r-1"}}}}"#).as_bytes()).expect("valid").vms.unwrap_or_default()
    }

    #[test]
    fn vms_become_the_targets_and_labels_prometheus_makes() {
        assert!(groups(&vms("[]"), "eu-west-2", 9090).is_empty());
        assert!(groups(&vms("null"), "eu-west-2", 9090).is_empty());
        assert!(groups(&vms(r#"[{"VmId": "i-1", "State": "running"}]"#), "eu-west-2", 9090).is_empty(), "no IP: no target");
        let both = groups(&vms(r#"[{"VmId": "i-abc", "State": "running", "PrivateIp": "10.1.2.3", "PublicIp": "1.2.3.4"}]"#), "eu-west-2", 9090);
        assert_eq!(both[0].targets, ["10.1.2.3:9090"], "the private IP first");
        let expected: BTreeMap<String, String> = [
            ("__meta_outscale_vm_instance_id", "i-abc"),
            ("__meta_outscale_vm_region", "eu-west-2"),
            ("__meta_outscale_vm_state", "running"),
            ("__meta_outscale_vm_private_ip", "10.1.2.3"),
            ("__meta_outscale_vm_public_ip", "1.2.3.4"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(both[0].labels, expected);
        let public = groups(&vms(r#"[{"VmId": "i-pub", "State": "running", "PublicIp": "203.0.113.10"}]"#), "eu-west-2", 9090);
        assert_eq!(public[0].targets, ["203.0.113.10:9090"]);
        assert_eq!(public[0].labels.get("__meta_outscale_vm_private_ip"), None);
        let tagged = groups(
            &vms(r#"[{"VmId": "i-tagged", "State": "stopped", "PrivateIp": "10.0.0.5", "Placement": {"SubregionName": "eu-west-2a", "Tenancy": "default"},
                      "Tags": [{"Key": "Name", "Value": "my-vm"}, {"Key": "env", "Value": "prod"}, {"Key": "team.name", "Value": "obs"}, {"Key": "", "Value": "skip"}, {"Key": "EmptyVal", "Value": ""}]}]"#),
            "eu-west-2",
            9090,
        );
        let labels = &tagged[0].labels;
        assert_eq!(labels.get("__meta_outscale_vm_subregion").map(String::as_str), Some("eu-west-2a"));
        assert_eq!(labels.get("__meta_outscale_vm_tag_Name").map(String::as_str), Some("my-vm"));
        assert_eq!(labels.get("__meta_outscale_vm_tag_env").map(String::as_str), Some("prod"));
        assert_eq!(labels.get("__meta_outscale_vm_tag_team_name").map(String::as_str), Some("obs"));
        assert!(!labels.contains_key("__meta_outscale_vm_tag_") && !labels.contains_key("__meta_outscale_vm_tag_EmptyVal"));
        let ipv6 = groups(&vms(r#"[{"VmId": "i-6", "PrivateIp": "", "PublicIp": "2001:db8::6"}]"#), "eu-west-2", 80);
        assert_eq!(ipv6[0].targets, ["[2001:db8::6]:80"], "an empty private IP is none");
    }

    #[test]
    fn the_next_page_token_and_bad_answers() {
        assert_eq!(page(br#"{"Vms": [], "NextPageToken": "t2"}"#).expect("valid").next_page_token.as_deref(), Some("t2"));
        assert!(page(b"[]").is_err());
        assert!(page(br#"{"Vms": {"VmId": "x"}}"#).is_err());
    }
}
