//! The Kubernetes objects that `kubernetes_sd_configs` watches, as typed serde structs that keep
//! only the fields Prometheus' `__meta_kubernetes_*` labels read, and the `Store` that holds the
//! last listed or watched version of each. Every field reads a missing or `null` value as empty,
//! as Go's decoder does. Pure: no I/O.

mod endpoints;
mod ingress;
mod meta;
mod node;
mod pod;
mod service;
mod store;

pub use endpoints::{EndpointAddress, EndpointPort, EndpointSlice, EndpointSubset, Endpoints, ObjectReference, SliceConditions, SliceEndpoint, SlicePort};
pub use ingress::{HttpIngressPath, HttpIngressRule, Ingress, IngressRule, IngressSpec, IngressTls};
pub use meta::{MetadataOnly, ObjectMeta, OwnerReference};
pub use node::{DaemonEndpoint, Node, NodeAddress, NodeDaemonEndpoints, NodeSpec, NodeStatus};
pub use pod::{Condition, Container, ContainerPort, ContainerStatus, Pod, PodSpec, PodStatus};
pub use service::{LoadBalancerIngress, LoadBalancerStatus, Service, ServicePort, ServiceSpec, ServiceStatus};
pub use store::{object_key, Store};

/// A kind of object read from the Kubernetes API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Pod,
    Service,
    Endpoints,
    EndpointSlice,
    Node,
    Ingress,
    /// Read for `attach_metadata.namespace`.
    Namespace,
    /// Read for `attach_metadata.deployment` (a pod's ReplicaSet names its Deployment).
    ReplicaSet,
    /// Read for `attach_metadata.cronjob` (a pod's Job names its CronJob).
    Job,
}

impl Kind {
    /// The API group and version path the kind is served under.
    pub fn api_group_path(self) -> &'static str {
        match self {
            Kind::Pod | Kind::Service | Kind::Endpoints | Kind::Node | Kind::Namespace => "/api/v1",
            Kind::EndpointSlice => "/apis/discovery.k8s.io/v1",
            Kind::Ingress => "/apis/networking.k8s.io/v1",
            Kind::ReplicaSet => "/apis/apps/v1",
            Kind::Job => "/apis/batch/v1",
        }
    }

    /// The resource name in URLs.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslices",
            Kind::Node => "nodes",
            Kind::Ingress => "ingresses",
            Kind::Namespace => "namespaces",
            Kind::ReplicaSet => "replicasets",
            Kind::Job => "jobs",
        }
    }

    /// The kind's name in `selectors[].role` (and the name of the role made of it); the
    /// kinds read only for `attach_metadata` have no selectors (Prometheus lists them whole).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::Node => "node",
            Kind::Ingress => "ingress",
            Kind::Namespace => "namespace",
            Kind::ReplicaSet => "replicaset",
            Kind::Job => "job",
        }
    }

    /// Whether objects of the kind live in a namespace (nodes and namespaces do not).
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }
}

#[cfg(test)]
mod tests;
