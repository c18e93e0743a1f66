//! The Kubernetes objects that `kubernetes_sd_configs` watches, as typed serde structs that keep
//! only the fields Prometheus' `__meta_kubernetes_*` labels read, and the `Store` that holds the
//! last listed or watched version of each. Every field reads a missing or `null` value as empty,
//! as Go's decoder does. Pure: no I/O.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

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

use crate::scrape::discovery::null_as_default;

/// `metadata` of every object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub namespace: String,
    #[serde(deserialize_with = "null_as_default")]
    pub uid: String,
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub annotations: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    pub owner_references: Vec<OwnerReference>,
}

/// One of `metadata.ownerReferences`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    pub controller: Option<bool>,
}

/// A `v1` Pod.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Pod {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
    #[serde(deserialize_with = "null_as_default")]
    pub spec: PodSpec,
    #[serde(deserialize_with = "null_as_default")]
    pub status: PodStatus,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(deserialize_with = "null_as_default")]
    pub node_name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub containers: Vec<Container>,
    #[serde(deserialize_with = "null_as_default")]
    pub init_containers: Vec<Container>,
}

/// One of `spec.containers` or `spec.initContainers`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Container {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    #[serde(deserialize_with = "null_as_default")]
    pub ports: Vec<ContainerPort>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub container_port: i32,
    #[serde(deserialize_with = "null_as_default")]
    pub protocol: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(rename = "podIP", deserialize_with = "null_as_default")]
    pub pod_ip: String,
    #[serde(rename = "hostIP", deserialize_with = "null_as_default")]
    pub host_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    pub phase: String,
    #[serde(deserialize_with = "null_as_default")]
    pub conditions: Vec<Condition>,
    #[serde(deserialize_with = "null_as_default")]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(deserialize_with = "null_as_default")]
    pub init_container_statuses: Vec<ContainerStatus>,
}

/// A pod or node condition (`type` and `status`: "True", "False" or "Unknown").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    pub kind: String,
    #[serde(deserialize_with = "null_as_default")]
    pub status: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(rename = "containerID", deserialize_with = "null_as_default")]
    pub container_id: String,
}

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

/// A `v1` Namespace, a `apps/v1` ReplicaSet or a `batch/v1` Job: only its metadata is read
/// (labels and annotations of a namespace, the controller of the others).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MetadataOnly {
    #[serde(deserialize_with = "null_as_default")]
    pub metadata: ObjectMeta,
}

impl ObjectMeta {
    /// The owner reference marked as the controller, as `metav1.GetControllerOf` finds it.
    pub fn controller(&self) -> Option<&OwnerReference> {
        self.owner_references.iter().find(|owner| owner.controller == Some(true))
    }
}

/// The key an object is stored under, as client-go's `MetaNamespaceKeyFunc` makes it:
/// `namespace/name`, or `name` alone when the namespace is empty (nodes).
pub fn object_key(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

/// An object with `metadata`.
trait HasMeta {
    fn metadata(&self) -> &ObjectMeta;
}

macro_rules! has_meta {
    ($($t:ty),*) => {
        $(impl HasMeta for $t {
            fn metadata(&self) -> &ObjectMeta {
                &self.metadata
            }
        })*
    };
}

has_meta!(Pod, Service, Endpoints, EndpointSlice, Node, Ingress, MetadataOnly);

/// The operations of `Store` that do not depend on the object type.
trait Table {
    /// Decodes and inserts `object`; its key.
    fn put_value(&mut self, object: serde_json::Value) -> Result<String, serde_json::Error>;
    fn remove_key(&mut self, key: &str);
    fn clear_namespace(&mut self, namespace: Option<&str>);
    fn count(&self) -> usize;
}

impl<T: DeserializeOwned + HasMeta> Table for BTreeMap<String, T> {
    fn put_value(&mut self, object: serde_json::Value) -> Result<String, serde_json::Error> {
        let object: T = serde_json::from_value(object)?;
        let meta = object.metadata();
        let key = object_key(&meta.namespace, &meta.name);
        self.insert(key.clone(), object);
        Ok(key)
    }

    fn remove_key(&mut self, key: &str) {
        self.remove(key);
    }

    fn clear_namespace(&mut self, namespace: Option<&str>) {
        match namespace {
            None => self.clear(),
            Some(namespace) => self.retain(|_, object| object.metadata().namespace != namespace),
        }
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// The last known version of every watched object, by kind, keyed by `object_key`.
#[derive(Default, Debug)]
pub struct Store {
    pods: BTreeMap<String, Pod>,
    services: BTreeMap<String, Service>,
    endpoints: BTreeMap<String, Endpoints>,
    endpoint_slices: BTreeMap<String, EndpointSlice>,
    nodes: BTreeMap<String, Node>,
    ingresses: BTreeMap<String, Ingress>,
    namespaces: BTreeMap<String, MetadataOnly>,
    replica_sets: BTreeMap<String, MetadataOnly>,
    jobs: BTreeMap<String, MetadataOnly>,
    /// While `recording` runs: the objects looked up by `pod`, `service`, `node`,
    /// `namespace`, `replica_set` and `job`, found or not.
    reads: RefCell<Option<Vec<(Kind, String)>>>,
}

impl Store {
    /// Decodes `object` as a `kind` and inserts it, replacing the one with the same key; the
    /// key.
    pub fn put(&mut self, kind: Kind, object: serde_json::Value) -> Result<String, String> {
        self.table_mut(kind).put_value(object).map_err(|e| format!("decoding a Kubernetes {kind:?}: {e}"))
    }

    /// Removes the `kind` named by `object`'s `metadata`, giving its key; nothing when it has
    /// no name.
    pub fn remove(&mut self, kind: Kind, object: &serde_json::Value) -> Option<String> {
        let meta = &object["metadata"];
        let name = meta["name"].as_str()?;
        let namespace = meta["namespace"].as_str().unwrap_or("");
        let key = object_key(namespace, name);
        self.table_mut(kind).remove_key(&key);
        Some(key)
    }

    /// Runs `read` and gives, with its result, the objects it looked up by key (`pod`,
    /// `service`, `node`), whether they were stored or not, each once: the objects whose
    /// change may change what it made.
    pub fn recording<T>(&self, read: impl FnOnce() -> T) -> (T, Vec<(Kind, String)>) {
        let outer = self.reads.replace(Some(Vec::new()));
        let result = read();
        let mut reads = self.reads.replace(outer).unwrap_or_default();
        reads.sort_unstable();
        reads.dedup();
        (result, reads)
    }

    fn note_read(&self, kind: Kind, key: &str) {
        if let Some(reads) = self.reads.borrow_mut().as_mut() {
            reads.push((kind, key.to_string()));
        }
    }

    /// The pod stored as `namespace/name` (noted while recording).
    pub fn pod(&self, key: &str) -> Option<&Pod> {
        self.note_read(Kind::Pod, key);
        self.pods.get(key)
    }

    /// The service stored as `namespace/name` (noted while recording).
    pub fn service(&self, key: &str) -> Option<&Service> {
        self.note_read(Kind::Service, key);
        self.services.get(key)
    }

    /// The node named `name` (noted while recording).
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.note_read(Kind::Node, name);
        self.nodes.get(name)
    }

    /// The namespace named `name` (noted while recording).
    pub fn namespace(&self, name: &str) -> Option<&MetadataOnly> {
        self.note_read(Kind::Namespace, name);
        self.namespaces.get(name)
    }

    /// The ReplicaSet stored as `namespace/name` (noted while recording).
    pub fn replica_set(&self, key: &str) -> Option<&MetadataOnly> {
        self.note_read(Kind::ReplicaSet, key);
        self.replica_sets.get(key)
    }

    /// The Job stored as `namespace/name` (noted while recording).
    pub fn job(&self, key: &str) -> Option<&MetadataOnly> {
        self.note_read(Kind::Job, key);
        self.jobs.get(key)
    }

    /// Removes every `kind`, or only those in `namespace` when given (a re-list of one
    /// namespace).
    pub fn clear(&mut self, kind: Kind, namespace: Option<&str>) {
        self.table_mut(kind).clear_namespace(namespace);
    }

    /// Replaces every `kind` (or those in `namespace`) with the `kind`s of `listed` (a
    /// finished list), in one step.
    pub fn replace(&mut self, kind: Kind, namespace: Option<&str>, mut listed: Store) {
        self.clear(kind, namespace);
        match kind {
            Kind::Pod => self.pods.append(&mut listed.pods),
            Kind::Service => self.services.append(&mut listed.services),
            Kind::Endpoints => self.endpoints.append(&mut listed.endpoints),
            Kind::EndpointSlice => self.endpoint_slices.append(&mut listed.endpoint_slices),
            Kind::Node => self.nodes.append(&mut listed.nodes),
            Kind::Ingress => self.ingresses.append(&mut listed.ingresses),
            Kind::Namespace => self.namespaces.append(&mut listed.namespaces),
            Kind::ReplicaSet => self.replica_sets.append(&mut listed.replica_sets),
            Kind::Job => self.jobs.append(&mut listed.jobs),
        }
    }

    /// How many `kind`s are stored.
    pub fn len(&self, kind: Kind) -> usize {
        self.table(kind).count()
    }

    /// The pods, by `namespace/name`.
    pub fn pods(&self) -> &BTreeMap<String, Pod> {
        &self.pods
    }

    /// The services, by `namespace/name`.
    pub fn services(&self) -> &BTreeMap<String, Service> {
        &self.services
    }

    /// The Endpoints objects, by `namespace/name`.
    pub fn endpoints(&self) -> &BTreeMap<String, Endpoints> {
        &self.endpoints
    }

    /// The EndpointSlices, by `namespace/name`.
    pub fn endpoint_slices(&self) -> &BTreeMap<String, EndpointSlice> {
        &self.endpoint_slices
    }

    /// The nodes, by name.
    pub fn nodes(&self) -> &BTreeMap<String, Node> {
        &self.nodes
    }

    /// The ingresses, by `namespace/name`.
    pub fn ingresses(&self) -> &BTreeMap<String, Ingress> {
        &self.ingresses
    }

    fn table_mut(&mut self, kind: Kind) -> &mut dyn Table {
        match kind {
            Kind::Pod => &mut self.pods,
            Kind::Service => &mut self.services,
            Kind::Endpoints => &mut self.endpoints,
            Kind::EndpointSlice => &mut self.endpoint_slices,
            Kind::Node => &mut self.nodes,
            Kind::Ingress => &mut self.ingresses,
            Kind::Namespace => &mut self.namespaces,
            Kind::ReplicaSet => &mut self.replica_sets,
            Kind::Job => &mut self.jobs,
        }
    }

    fn table(&self, kind: Kind) -> &dyn Table {
        match kind {
            Kind::Pod => &self.pods,
            Kind::Service => &self.services,
            Kind::Endpoints => &self.endpoints,
            Kind::EndpointSlice => &self.endpoint_slices,
            Kind::Node => &self.nodes,
            Kind::Ingress => &self.ingresses,
            Kind::Namespace => &self.namespaces,
            Kind::ReplicaSet => &self.replica_sets,
            Kind::Job => &self.jobs,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(namespace: &str, name: &str, pod_ip: &str) -> serde_json::Value {
        json!({"metadata": {"name": name, "namespace": namespace}, "status": {"podIP": pod_ip}})
    }

    #[test]
    fn put_replaces_by_namespace_and_name() {
        let mut store = Store::default();
        store.put(Kind::Pod, pod("a", "p", "1.1.1.1")).unwrap();
        store.put(Kind::Pod, pod("b", "p", "2.2.2.2")).unwrap();
        store.put(Kind::Pod, pod("a", "p", "3.3.3.3")).unwrap();
        assert_eq!(store.len(Kind::Pod), 2);
        assert_eq!(store.pods()["a/p"].status.pod_ip, "3.3.3.3");
        assert_eq!(store.pods()["b/p"].status.pod_ip, "2.2.2.2");
        assert_eq!(store.len(Kind::Service), 0);
        store.put(Kind::Node, json!({"metadata": {"name": "n1"}})).unwrap();
        assert!(store.nodes().contains_key("n1"));
    }

    #[test]
    fn remove_reads_the_key_from_metadata_and_tolerates_missing_fields() {
        let mut store = Store::default();
        store.put(Kind::Pod, pod("a", "p", "1.1.1.1")).unwrap();
        store.put(Kind::Pod, pod("a", "q", "1.1.1.2")).unwrap();
        store.remove(Kind::Pod, &json!({}));
        store.remove(Kind::Pod, &json!({"metadata": {"namespace": "a"}}));
        store.remove(Kind::Pod, &json!(null));
        store.remove(Kind::Service, &pod("a", "p", ""));
        assert_eq!(store.len(Kind::Pod), 2);
        store.remove(Kind::Pod, &pod("a", "p", ""));
        assert_eq!(store.pods().keys().collect::<Vec<_>>(), ["a/q"]);
    }

    #[test]
    fn clear_removes_a_kind_or_one_namespace_of_it() {
        let mut store = Store::default();
        for (namespace, name) in [("a", "p"), ("a", "q"), ("b", "p")] {
            store.put(Kind::Pod, pod(namespace, name, "")).unwrap();
            store.put(Kind::Service, json!({"metadata": {"name": name, "namespace": namespace}})).unwrap();
        }
        store.clear(Kind::Pod, Some("a"));
        assert_eq!(store.pods().keys().collect::<Vec<_>>(), ["b/p"]);
        assert_eq!(store.len(Kind::Service), 3);
        store.clear(Kind::Service, None);
        assert_eq!(store.len(Kind::Service), 0);
        assert_eq!(store.len(Kind::Pod), 1);
        // A namespace listed again: its pods are the list's, the other namespace's stay.
        let mut listed = Store::default();
        listed.put(Kind::Pod, pod("a", "r", "")).unwrap();
        store.put(Kind::Pod, pod("a", "gone", "")).unwrap();
        store.replace(Kind::Pod, Some("a"), listed);
        assert_eq!(store.pods().keys().collect::<Vec<_>>(), ["a/r", "b/p"]);
    }

    #[test]
    fn put_names_the_kind_in_a_decoding_error() {
        let mut store = Store::default();
        let error = store.put(Kind::EndpointSlice, json!({"metadata": {"name": 5}})).unwrap_err();
        assert!(error.starts_with("decoding a Kubernetes EndpointSlice: invalid type: integer `5`"), "{error}");
        assert_eq!(store.len(Kind::EndpointSlice), 0);
    }

    #[test]
    fn nulls_read_as_empty() {
        let mut store = Store::default();
        let object = json!({"metadata": {"name": "s", "namespace": "a", "labels": null, "annotations": null, "ownerReferences": null, "uid": null},
            "spec": {"type": null, "ports": [{"name": null, "port": 80, "protocol": null, "nodePort": null}], "ipFamilies": null, "ipFamilyPolicy": null},
            "status": {"loadBalancer": {"ingress": null}}});
        store.put(Kind::Service, object).unwrap();
        store.put(Kind::Ingress, json!({"metadata": {"name": "i", "namespace": "a"}, "spec": null})).unwrap();
        store.put(Kind::Node, json!({"metadata": {"name": "n"}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": null}}, "addresses": null}})).unwrap();
        let service = &store.services()["a/s"];
        assert_eq!(service.spec.ports[0].port, 80);
        assert_eq!(service.spec.ports[0].name, "");
        assert!(service.metadata.labels.is_empty());
        assert_eq!(store.nodes()["n"].status.daemon_endpoints.kubelet_endpoint.port, 0);
    }

    #[test]
    fn kinds_name_their_api_paths() {
        let collection = |kind: Kind| format!("{}/{}", kind.api_group_path(), kind.plural());
        assert_eq!((Kind::Pod.api_group_path(), Kind::Pod.plural(), collection(Kind::Pod).as_str()), ("/api/v1", "pods", "/api/v1/pods"));
        assert_eq!(collection(Kind::EndpointSlice), "/apis/discovery.k8s.io/v1/endpointslices");
        assert_eq!(collection(Kind::Ingress), "/apis/networking.k8s.io/v1/ingresses");
        assert_eq!(collection(Kind::Namespace), "/api/v1/namespaces");
        assert_eq!(collection(Kind::ReplicaSet), "/apis/apps/v1/replicasets");
        assert_eq!(collection(Kind::Job), "/apis/batch/v1/jobs");
        for kind in [Kind::Pod, Kind::Service, Kind::Endpoints, Kind::EndpointSlice, Kind::Node, Kind::Ingress, Kind::Namespace, Kind::ReplicaSet, Kind::Job] {
            assert_eq!(kind.namespaced(), !matches!(kind, Kind::Node | Kind::Namespace));
        }
    }
}
