//! A `networking.k8s.io/v1` Ingress: its class, rules (hosts and paths) and TLS hosts.

use serde::Deserialize;

use crate::scrape::discovery::null_as_default;

use super::meta::ObjectMeta;

/// A `networking.k8s.io/v1` Ingress.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Ingress {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: IngressSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressSpec {
    pub ingress_class_name: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub rules: Vec<IngressRule>,
    #[serde(deserialize_with = "null_as_default")]
    pub tls: Vec<IngressTls>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressRule {
    #[serde(deserialize_with = "null_as_default")]
    pub host: String,
    /// `None` (no `http`) reads as the one path `/`; `http` with no paths gives no targets.
    pub http: Option<HttpIngressRule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpIngressRule {
    #[serde(deserialize_with = "null_as_default")]
    pub paths: Vec<HttpIngressPath>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HttpIngressPath {
    #[serde(deserialize_with = "null_as_default")]
    pub path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct IngressTls {
    #[serde(deserialize_with = "null_as_default")]
    pub hosts: Vec<String>,
}
