//! The Swarm objects of the Docker Engine API that dockerswarm_sd reads (`GET /services`,
//! `GET /tasks`, `GET /nodes`), keeping only the fields Prometheus' labels and addresses
//! read. Unknown fields are ignored; a missing or `null` value reads as empty, as Go's
//! decoder leaves it, except the pointers Prometheus tests for `nil` (`Option` here).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer};

use crate::scrape::discovery::null_as_default;
use crate::scrape::docker_sd::targets::{null_tolerant_list, null_tolerant_map};

/// Whether a Go pointer field was set: present and not `null` (an empty object counts).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<serde::de::IgnoredAny>::deserialize(deserializer)?.is_some())
}

/// One item of `GET /services`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Service {
    #[serde(rename = "ID", alias = "Id", deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: ServiceSpec,
    pub update_status: Option<UpdateStatus>,
    #[serde(deserialize_with = "null_as_default")]
    pub endpoint: Endpoint,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceSpec {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_tolerant_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub task_template: TaskSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub mode: ServiceMode,
}

/// A service's mode: which of Docker's pointers is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ServiceMode {
    #[serde(deserialize_with = "present")]
    pub replicated: bool,
    #[serde(deserialize_with = "present")]
    pub global: bool,
}

impl ServiceMode {
    /// Prometheus' `__meta_dockerswarm_service_mode`: `global`, `replicated` or "" (jobs).
    pub fn label_value(&self) -> &'static str {
        if self.global {
            "global"
        } else if self.replicated {
            "replicated"
        } else {
            ""
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct UpdateStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub state: String,
}

/// A service's (or a task's) template: only containers have a `ContainerSpec`; plugin and
/// network-attachment services leave it `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskSpec {
    pub container_spec: Option<ContainerSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ContainerSpec {
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    #[serde(deserialize_with = "null_as_default")]
    pub hostname: String,
    #[serde(deserialize_with = "null_tolerant_map")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Endpoint {
    #[serde(deserialize_with = "null_tolerant_list")]
    pub ports: Vec<PortConfig>,
    #[serde(rename = "VirtualIPs", deserialize_with = "null_tolerant_list")]
    pub virtual_ips: Vec<VirtualIp>,
}

/// A service's endpoint port or a task's published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PortConfig {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
    #[serde(deserialize_with = "null_as_default")]
    pub published_port: u32,
    /// `ingress` or `host`.
    #[serde(deserialize_with = "null_as_default")]
    pub publish_mode: String,
}

/// A service's address on one network, in CIDR form (`10.0.0.7/24`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct VirtualIp {
    #[serde(rename = "NetworkID", deserialize_with = "null_as_default")]
    pub network_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub addr: String,
}

/// One item of `GET /tasks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Task {
    #[serde(rename = "ID", alias = "Id", deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(rename = "ServiceID", deserialize_with = "null_as_default")]
    pub service_id: String,
    #[serde(rename = "NodeID", deserialize_with = "null_as_default")]
    pub node_id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub slot: i64,
    #[serde(deserialize_with = "null_as_default")]
    pub desired_state: String,
    #[serde(deserialize_with = "null_as_default")]
    pub status: TaskStatus,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: TaskSpec,
    #[serde(deserialize_with = "null_tolerant_list")]
    pub networks_attachments: Vec<NetworkAttachment>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct TaskStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub state: String,
    pub container_status: Option<ContainerStatus>,
    #[serde(deserialize_with = "null_as_default")]
    pub port_status: PortStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ContainerStatus {
    #[serde(rename = "ContainerID", deserialize_with = "null_as_default")]
    pub container_id: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct PortStatus {
    #[serde(deserialize_with = "null_tolerant_list")]
    pub ports: Vec<PortConfig>,
}

/// A task's attachment to a network: the network and the task's addresses on it (CIDR).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkAttachment {
    #[serde(deserialize_with = "null_as_default")]
    pub network: AttachedNetwork,
    #[serde(deserialize_with = "null_tolerant_list")]
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AttachedNetwork {
    #[serde(rename = "ID", alias = "Id", deserialize_with = "null_as_default")]
    pub id: String,
}

/// One item of `GET /nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID", alias = "Id", deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: NodeSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub description: NodeDescription,
    #[serde(deserialize_with = "null_as_default")]
    pub status: NodeStatus,
    pub manager_status: Option<ManagerStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NodeSpec {
    #[serde(deserialize_with = "null_tolerant_map")]
    pub labels: BTreeMap<String, String>,
    /// `manager` or `worker`.
    #[serde(deserialize_with = "null_as_default")]
    pub role: String,
    /// `active`, `pause` or `drain`.
    #[serde(deserialize_with = "null_as_default")]
    pub availability: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NodeDescription {
    #[serde(deserialize_with = "null_as_default")]
    pub hostname: String,
    #[serde(deserialize_with = "null_as_default")]
    pub platform: Platform,
    #[serde(deserialize_with = "null_as_default")]
    pub engine: Engine,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Platform {
    #[serde(rename = "Architecture", deserialize_with = "null_as_default")]
    pub architecture: String,
    #[serde(rename = "OS", deserialize_with = "null_as_default")]
    pub os: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Engine {
    #[serde(deserialize_with = "null_as_default")]
    pub engine_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NodeStatus {
    /// `ready`, `down`, `disconnected` or `unknown`.
    #[serde(deserialize_with = "null_as_default")]
    pub state: String,
    /// The node's IP address (no port).
    #[serde(deserialize_with = "null_as_default")]
    pub addr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct ManagerStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub leader: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub reachability: String,
    /// The manager's `host:port`.
    #[serde(deserialize_with = "null_as_default")]
    pub addr: String,
}

/// The address of a CIDR (`10.0.0.7/24` → `10.0.0.7`) as Go's `net.ParseCIDR` and
/// `IP.String` give it (an IPv4-mapped IPv6 address printed as IPv4); an error names the
/// text, as Prometheus fails the whole refresh on it.
pub fn cidr_address(text: &str) -> Result<String, String> {
    let invalid = || format!("error while parsing address {text}: invalid CIDR address: {text}");
    let (address, bits) = text.split_once('/').ok_or_else(invalid)?;
    let address: IpAddr = address.parse().map_err(|_| invalid())?;
    let bits_max = if address.is_ipv4() { 32 } else { 128 };
    let bits_ok = !bits.is_empty() && bits.len() <= 3 && bits.bytes().all(|b| b.is_ascii_digit()) && !(bits.len() > 1 && bits.starts_with('0'));
    if !bits_ok || bits.parse::<u32>().map_or(true, |n| n > bits_max) {
        return Err(invalid());
    }
    Ok(match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_addresses_read_as_go_reads_them() {
        assert_eq!(cidr_address("10.0.0.7/24").as_deref(), Ok("10.0.0.7"));
        assert_eq!(cidr_address("fd00:0:0::7/64").as_deref(), Ok("fd00::7"));
        assert_eq!(cidr_address("::ffff:10.0.0.9/120").as_deref(), Ok("10.0.0.9"));
        assert_eq!(cidr_address("10.0.0.7/0").as_deref(), Ok("10.0.0.7"));
        for bad in ["", "10.0.0.7", "10.0.0.7/33", "10.0.0.7/", "10.0.0.7/+8", "10.0.0.7/08", "fe80::1%eth0/64", "host/24"] {
            assert!(cidr_address(bad).is_err(), "{bad:?}");
        }
        assert_eq!(cidr_address("x").unwrap_err(), "error while parsing address x: invalid CIDR address: x");
    }

    #[test]
    fn nil_pointers_stay_apart_from_empty_ones() {
        let json = r#"[{"ID": "a", "Spec": {"Mode": {"Global": {}, "Replicated": null}, "TaskTemplate": {"ContainerSpec": null}}, "UpdateStatus": {}},
                       {"ID": "b", "Spec": {"Mode": {"Replicated": {"Replicas": 2}}, "Labels": null}, "Endpoint": null},
                       {"ID": "c", "Spec": null}]"#;
        let services: Vec<Service> = serde_json::from_str(json).expect("decode");
        assert_eq!(services.iter().map(|s| s.spec.mode.label_value()).collect::<Vec<_>>(), ["global", "replicated", ""]);
        assert_eq!(services[0].update_status, Some(UpdateStatus::default()));
        assert_eq!(services[0].spec.task_template.container_spec, None);
        assert_eq!(services[1].update_status, None);
        assert!(services[1].endpoint.virtual_ips.is_empty());
    }
}
