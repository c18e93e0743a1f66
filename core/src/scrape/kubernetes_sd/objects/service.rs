//! A `v1` Service: its type, cluster and load-balancer addresses, IP families and ports.

use serde::Deserialize;

use crate::scrape::discovery::null_as_default;

use super::meta::ObjectMeta;

/// A `v1` Service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Service {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: ServiceSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub status: ServiceStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(rename = "clusterIP", deserialize_with = "null_as_default")]
    pub cluster_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    pub external_name: String,
    /// Deprecated in Kubernetes; Prometheus falls back to it when no ingress has an IP.
    #[serde(rename = "loadBalancerIP", deserialize_with = "null_as_default")]
    pub load_balancer_ip: String,
    /// `SingleStack`, `PreferDualStack` or `RequireDualStack`.
    pub ip_family_policy: Option<String>,
    /// `IPv4` / `IPv6`, the primary first.
    #[serde(deserialize_with = "null_as_default")]
    pub ip_families: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<ServicePort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServicePort {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub port: i32,
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
    pub node_port: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ServiceStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub load_balancer: LoadBalancerStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadBalancerStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub ingress: Vec<LoadBalancerIngress>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LoadBalancerIngress {
    #[serde(deserialize_with = "null_as_default")]
    pub ip: String,
    #[serde(deserialize_with = "null_as_default")]
    pub hostname: String,
}
