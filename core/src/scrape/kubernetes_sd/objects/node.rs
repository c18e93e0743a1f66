//! A `v1` Node: its provider ID, addresses, conditions and kubelet port.

use serde::Deserialize;

use crate::scrape::discovery::null_as_default;

use super::meta::ObjectMeta;
use super::pod::Condition;

/// A `v1` Node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Node {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: NodeSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub status: NodeStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeSpec {
    #[serde(rename = "providerID", deserialize_with = "null_as_default")]
    pub provider_id: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub addresses: Vec<NodeAddress>,
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: Vec<Condition>,
    #[serde(deserialize_with = "null_as_default")]
    pub daemon_endpoints: NodeDaemonEndpoints,
}

/// One of `status.addresses` (`type`: InternalIP, InternalDNS, ExternalIP, ExternalDNS, Hostname…).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeAddress {
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub address: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct NodeDaemonEndpoints {
    #[serde(deserialize_with = "null_as_default")]
    pub kubelet_endpoint: DaemonEndpoint,
}

/// The kubelet's endpoint; the API spells its one field `Port`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct DaemonEndpoint {
    #[serde(rename = "Port", deserialize_with = "null_as_default")]
    pub port: i32,
}
