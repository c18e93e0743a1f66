//! A `v1` Endpoints and a `discovery.k8s.io/v1` EndpointSlice: the addresses behind a
//! service, with their ports, conditions and target references.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::discovery::null_as_default;

use super::meta::ObjectMeta;

/// A `v1` Endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Endpoints {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub subsets: Vec<EndpointSubset>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSubset {
    #[serde(deserialize_with = "null_as_default")]
    pub addresses: Vec<EndpointAddress>,
    #[serde(deserialize_with = "null_as_default")]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<EndpointPort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointAddress {
    #[serde(deserialize_with = "null_as_default")]
    pub ip: String,
    #[serde(deserialize_with = "null_as_default")]
    pub hostname: String,
    pub node_name: Option<String>,
    pub target_ref: Option<ObjectReference>,
}

/// `targetRef` of an endpoint address.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
}

/// A port of an Endpoints subset (every field is set there).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointPort {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub port: i32,
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
    pub app_protocol: Option<String>,
}

/// A `discovery.k8s.io/v1` EndpointSlice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSlice {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    /// `IPv4`, `IPv6` or `FQDN`.
    #[serde(deserialize_with = "null_as_default")]
    pub address_type: String,
    #[serde(deserialize_with = "null_as_default")]
    pub endpoints: Vec<SliceEndpoint>,
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<SlicePort>,
}

/// One of an EndpointSlice's `endpoints`; unset optional fields give no label.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SliceEndpoint {
    #[serde(deserialize_with = "null_as_default")]
    pub addresses: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: SliceConditions,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    pub target_ref: Option<ObjectReference>,
    #[serde(deserialize_with = "null_as_default")]
    pub deprecated_topology: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SliceConditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

/// A port of an EndpointSlice; every field is optional there (no port: the address alone).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SlicePort {
    pub name: Option<String>,
    pub port: Option<i32>,
    pub protocol: Option<String>,
    pub app_protocol: Option<String>,
}
