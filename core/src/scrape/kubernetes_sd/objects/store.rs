//! The `Store`: the last listed or watched version of each object, by kind and
//! `object_key`, decoded on the way in, and the lookups the roles make of it (recorded while
//! `Store::recording` runs).

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use super::endpoints::{EndpointSlice, Endpoints};
use super::ingress::Ingress;
use super::meta::{MetadataOnly, ObjectMeta};
use super::node::Node;
use super::pod::Pod;
use super::service::Service;
use super::Kind;

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
