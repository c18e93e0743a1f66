//! The target groups of one kubernetes_sd entry, kept per object of the role's own kind
//! (`Role::main_kind`) and remade only for the objects that changed, or that read an object
//! that changed: with thousands of pods and a steady stream of watch events, remaking every
//! group at each publication cost seconds of CPU a minute. Pure: reads a `Store`, no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use super::objects::{Kind, Store};
use super::roles::{self, Attach, Role};
use crate::scrape::config::TargetGroup;

/// An object, by kind and `objects::object_key`.
type ObjectId = (Kind, String);

/// The groups of one role's objects, and what must be remade.
#[derive(Debug)]
pub struct GroupCache {
    role: Role,
    attach: Attach,
    /// By key of an object of the role's kind: its groups (objects without any are absent).
    by_object: BTreeMap<String, Vec<Arc<TargetGroup>>>,
    /// By key of an object of the role's kind: the other objects it looked up (an Endpoints
    /// object reads its pods, service and nodes).
    reads: HashMap<String, Vec<ObjectId>>,
    /// By looked-up object: the keys of the role's objects that looked it up.
    readers: HashMap<ObjectId, BTreeSet<String>>,
    /// Objects put or deleted since the last `update`.
    changed: BTreeSet<ObjectId>,
    /// Whether every group must be remade (at the start, after a list).
    remake_all: bool,
}

impl GroupCache {
    pub fn new(role: Role, attach: Attach) -> GroupCache {
        GroupCache { role, attach, by_object: BTreeMap::new(), reads: HashMap::new(), readers: HashMap::new(), changed: BTreeSet::new(), remake_all: true }
    }

    /// Notes that the `kind` stored under `key` was put or deleted.
    pub fn object_changed(&mut self, kind: Kind, key: String) {
        if !self.remake_all {
            self.changed.insert((kind, key));
        }
    }

    /// Notes that a finished list replaced some kind's objects (maybe in part): everything is
    /// remade.
    pub fn objects_replaced(&mut self) {
        self.remake_all = true;
        self.changed.clear();
    }

    /// Remakes the groups of the objects that changed or read one that did.
    pub fn update(&mut self, store: &Store) {
        if std::mem::take(&mut self.remake_all) {
            self.changed.clear();
            let mut earlier = std::mem::take(&mut self.by_object);
            self.reads.clear();
            self.readers.clear();
            for key in roles::object_keys(self.role, store) {
                let kept = earlier.remove(&key);
                self.remake(store, key, kept);
            }
            return;
        }
        let main = self.role.main_kind();
        let mut keys = BTreeSet::new();
        for id in std::mem::take(&mut self.changed) {
            if let Some(readers) = self.readers.get(&id) {
                keys.extend(readers.iter().cloned());
            }
            if id.0 == main {
                keys.insert(id.1);
            }
        }
        for key in keys {
            self.forget_reads(&key);
            let kept = self.by_object.remove(&key);
            self.remake(store, key, kept);
        }
    }

    /// Every group in `roles::groups`' order: by object key, each object's sorted.
    pub fn groups(&self) -> Vec<Arc<TargetGroup>> {
        self.by_object.values().flatten().cloned().collect()
    }

    /// Makes the groups of the object under `key` and notes what it read; `kept`, its
    /// groups before, stay (the same `Arc`s) when they come out the same, so comparing the
    /// published groups with the last ones (`AskedGroups::store`) is a pointer comparison for
    /// everything that did not change.
    fn remake(&mut self, store: &Store, key: String, kept: Option<Vec<Arc<TargetGroup>>>) {
        let (groups, reads) = store.recording(|| roles::object_groups(self.role, store, &key, self.attach));
        for id in &reads {
            self.readers.entry(id.clone()).or_default().insert(key.clone());
        }
        if !reads.is_empty() {
            self.reads.insert(key.clone(), reads);
        }
        if groups.is_empty() {
            return;
        }
        let same = kept.as_ref().is_some_and(|kept| kept.len() == groups.len() && kept.iter().zip(&groups).all(|(a, b)| **a == *b));
        let groups = match kept {
            Some(kept) if same => kept,
            _ => groups.into_iter().map(Arc::new).collect(),
        };
        self.by_object.insert(key, groups);
    }

    /// Takes `key`'s reads out of the index of readers.
    fn forget_reads(&mut self, key: &str) {
        for id in self.reads.remove(key).unwrap_or_default() {
            if let Some(readers) = self.readers.get_mut(&id) {
                readers.remove(key);
                if readers.is_empty() {
                    self.readers.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NODE: Attach = Attach { node: true, ..Attach::NONE };

    fn pod(name: &str, ip: &str, node: &str, ready: &str) -> serde_json::Value {
        json!({"metadata": {"name": name, "namespace": "ns"}, "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}, "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": ready}]}})
    }

    fn node(name: &str, zone: &str) -> serde_json::Value {
        json!({"metadata": {"name": name, "labels": {"zone": zone}}})
    }

    fn endpoints(name: &str, pods: &[(&str, &str)]) -> serde_json::Value {
        let addresses: Vec<_> = pods.iter().map(|(pod, ip)| json!({"ip": ip, "nodeName": "n1", "targetRef": {"kind": "Pod", "name": pod, "namespace": "ns"}})).collect();
        json!({"metadata": {"name": name, "namespace": "ns"}, "subsets": [{"addresses": addresses, "ports": [{"port": 80, "protocol": "TCP"}]}]})
    }

    fn service(name: &str, team: &str) -> serde_json::Value {
        json!({"metadata": {"name": name, "namespace": "ns", "labels": {"team": team}}, "spec": {"ports": [{"port": 80}]}})
    }

    /// Applies a change to the store and tells the cache, as a watch does.
    fn put(store: &mut Store, cache: &mut GroupCache, kind: Kind, object: serde_json::Value) {
        let key = store.put(kind, object).unwrap();
        cache.object_changed(kind, key);
    }

    fn delete(store: &mut Store, cache: &mut GroupCache, kind: Kind, object: serde_json::Value) {
        let key = store.remove(kind, &object).unwrap();
        cache.object_changed(kind, key);
    }

    /// The cache's groups, updated, equal what `roles::groups` makes from the whole store, in
    /// the same order.
    fn check(store: &Store, cache: &mut GroupCache, role: Role, attach: Attach) -> Vec<Arc<TargetGroup>> {
        cache.update(store);
        let cached = cache.groups();
        let plain: Vec<TargetGroup> = cached.iter().map(|g| (**g).clone()).collect();
        assert_eq!(plain, roles::groups(role, store, attach));
        cached
    }

    fn label<'a>(groups: &'a [Arc<TargetGroup>], address: &str, name: &str) -> Option<&'a str> {
        groups.iter().find(|g| g.targets == [address]).and_then(|g| g.labels.get(name)).map(String::as_str)
    }

    #[test]
    fn a_changed_pod_remakes_its_own_groups_and_keeps_the_others() {
        let mut store = Store::default();
        let mut cache = GroupCache::new(Role::Pod, Attach::NONE);
        for (name, ip) in [("a", "10.0.0.1"), ("b", "10.0.0.2")] {
            put(&mut store, &mut cache, Kind::Pod, pod(name, ip, "n1", "True"));
        }
        let first = check(&store, &mut cache, Role::Pod, Attach::NONE);
        put(&mut store, &mut cache, Kind::Pod, pod("a", "10.0.0.1", "n1", "False"));
        let second = check(&store, &mut cache, Role::Pod, Attach::NONE);
        assert_eq!(label(&second, "10.0.0.1:80", "__meta_kubernetes_pod_ready"), Some("false"));
        let b = |groups: &[Arc<TargetGroup>]| groups.iter().find(|g| g.targets == ["10.0.0.2:80"]).cloned().unwrap();
        assert!(Arc::ptr_eq(&b(&first), &b(&second)), "the unchanged pod keeps its group");
        // The same object again keeps its groups too.
        put(&mut store, &mut cache, Kind::Pod, pod("a", "10.0.0.1", "n1", "False"));
        let third = check(&store, &mut cache, Role::Pod, Attach::NONE);
        assert!(second.iter().zip(&third).all(|(x, y)| Arc::ptr_eq(x, y)));
        delete(&mut store, &mut cache, Kind::Pod, pod("a", "", "", ""));
        let fourth = check(&store, &mut cache, Role::Pod, Attach::NONE);
        assert_eq!(fourth.len(), 1);
    }

    #[test]
    fn a_node_change_remakes_the_pods_on_it_when_nodes_are_attached() {
        let mut store = Store::default();
        let mut cache = GroupCache::new(Role::Pod, NODE);
        put(&mut store, &mut cache, Kind::Pod, pod("a", "10.0.0.1", "n1", "True"));
        put(&mut store, &mut cache, Kind::Pod, pod("b", "10.0.0.2", "n2", "True"));
        // The pods' nodes are not stored yet: no targets, as in Prometheus.
        assert!(check(&store, &mut cache, Role::Pod, NODE).is_empty());
        put(&mut store, &mut cache, Kind::Node, node("n1", "east"));
        let groups = check(&store, &mut cache, Role::Pod, NODE);
        assert_eq!(label(&groups, "10.0.0.1:80", "__meta_kubernetes_node_label_zone"), Some("east"));
        assert_eq!(groups.len(), 1);
        put(&mut store, &mut cache, Kind::Node, node("n1", "west"));
        put(&mut store, &mut cache, Kind::Node, node("n2", "north"));
        let groups = check(&store, &mut cache, Role::Pod, NODE);
        assert_eq!(label(&groups, "10.0.0.1:80", "__meta_kubernetes_node_label_zone"), Some("west"));
        assert_eq!(label(&groups, "10.0.0.2:80", "__meta_kubernetes_node_label_zone"), Some("north"));
        delete(&mut store, &mut cache, Kind::Node, node("n1", ""));
        let groups = check(&store, &mut cache, Role::Pod, NODE);
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn endpoints_follow_their_pods_and_service() {
        let mut store = Store::default();
        let mut cache = GroupCache::new(Role::Endpoints, Attach::NONE);
        put(&mut store, &mut cache, Kind::Endpoints, endpoints("web", &[("a", "10.0.0.1"), ("b", "10.0.0.2")]));
        put(&mut store, &mut cache, Kind::Endpoints, endpoints("db", &[("c", "10.0.0.3")]));
        let groups = check(&store, &mut cache, Role::Endpoints, Attach::NONE);
        assert_eq!(label(&groups, "10.0.0.1:80", "__meta_kubernetes_pod_ready"), None, "pod a is not stored yet");
        // A pod arriving after the endpoints that name it.
        put(&mut store, &mut cache, Kind::Pod, pod("a", "10.0.0.1", "n1", "True"));
        let groups = check(&store, &mut cache, Role::Endpoints, Attach::NONE);
        assert_eq!(label(&groups, "10.0.0.1:80", "__meta_kubernetes_pod_ready"), Some("true"));
        let db = |groups: &[Arc<TargetGroup>]| groups.iter().find(|g| g.targets == ["10.0.0.3:80"]).cloned().unwrap();
        let before = db(&groups);
        put(&mut store, &mut cache, Kind::Pod, pod("a", "10.0.0.1", "n1", "False"));
        put(&mut store, &mut cache, Kind::Service, service("web", "blue"));
        let groups = check(&store, &mut cache, Role::Endpoints, Attach::NONE);
        assert_eq!(label(&groups, "10.0.0.1:80", "__meta_kubernetes_pod_ready"), Some("false"));
        assert_eq!(label(&groups, "10.0.0.2:80", "__meta_kubernetes_service_label_team"), Some("blue"));
        assert!(Arc::ptr_eq(&before, &db(&groups)), "endpoints that read neither keep their groups");
        // Endpoints that stop naming a pod no longer follow it.
        put(&mut store, &mut cache, Kind::Endpoints, endpoints("web", &[("b", "10.0.0.2")]));
        check(&store, &mut cache, Role::Endpoints, Attach::NONE);
        assert!(!cache.readers.contains_key(&(Kind::Pod, "ns/a".to_string())));
        delete(&mut store, &mut cache, Kind::Service, service("web", ""));
        delete(&mut store, &mut cache, Kind::Endpoints, endpoints("db", &[]));
        let groups = check(&store, &mut cache, Role::Endpoints, Attach::NONE);
        assert_eq!(groups.len(), 1);
    }

    #[test]
    fn namespace_and_replica_set_changes_remake_the_pods_that_read_them() {
        let mut store = Store::default();
        let attach = Attach { namespace: true, deployment: true, ..Attach::NONE };
        let mut cache = GroupCache::new(Role::Pod, attach);
        let owned = |name: &str, namespace: &str, ip: &str| {
            json!({"metadata": {"name": name, "namespace": namespace, "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "controller": true}]}, "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}, "status": {"podIP": ip}})
        };
        put(&mut store, &mut cache, Kind::Pod, owned("a", "ns", "10.0.0.1"));
        put(&mut store, &mut cache, Kind::Pod, owned("b", "other", "10.0.0.2"));
        check(&store, &mut cache, Role::Pod, attach);
        put(&mut store, &mut cache, Kind::Namespace, json!({"metadata": {"name": "ns", "labels": {"team": "x"}}}));
        put(&mut store, &mut cache, Kind::ReplicaSet, json!({"metadata": {"name": "rs", "namespace": "other", "ownerReferences": [{"kind": "Deployment", "name": "d", "controller": true}]}}));
        let before = check(&store, &mut cache, Role::Pod, attach);
        assert_eq!(label(&before, "10.0.0.1:80", "__meta_kubernetes_namespace_label_team"), Some("x"));
        assert_eq!(label(&before, "10.0.0.1:80", "__meta_kubernetes_pod_deployment_name"), None, "its ReplicaSet is in another namespace");
        assert_eq!(label(&before, "10.0.0.2:80", "__meta_kubernetes_pod_deployment_name"), Some("d"));
        put(&mut store, &mut cache, Kind::Namespace, json!({"metadata": {"name": "ns", "labels": {"team": "y"}}}));
        let after = check(&store, &mut cache, Role::Pod, attach);
        assert_eq!(label(&after, "10.0.0.1:80", "__meta_kubernetes_namespace_label_team"), Some("y"));
        let b = |groups: &[Arc<TargetGroup>]| groups.iter().find(|g| g.targets == ["10.0.0.2:80"]).cloned().unwrap();
        assert!(Arc::ptr_eq(&b(&before), &b(&after)), "the pod in another namespace keeps its group");
        delete(&mut store, &mut cache, Kind::ReplicaSet, json!({"metadata": {"name": "rs", "namespace": "other"}}));
        let gone = check(&store, &mut cache, Role::Pod, attach);
        assert_eq!(label(&gone, "10.0.0.2:80", "__meta_kubernetes_pod_deployment_name"), None);
    }

    #[test]
    fn a_list_remakes_everything() {
        let mut store = Store::default();
        let mut cache = GroupCache::new(Role::Pod, Attach::NONE);
        put(&mut store, &mut cache, Kind::Pod, pod("a", "10.0.0.1", "n1", "True"));
        check(&store, &mut cache, Role::Pod, Attach::NONE);
        // A list that no longer has pod a and has pod b, told only as a replacement.
        let mut listed = Store::default();
        listed.put(Kind::Pod, pod("b", "10.0.0.2", "n1", "True")).unwrap();
        store.replace(Kind::Pod, None, listed);
        cache.objects_replaced();
        let groups = check(&store, &mut cache, Role::Pod, Attach::NONE);
        assert_eq!(groups.iter().map(|g| g.targets[0].as_str()).collect::<Vec<_>>(), ["10.0.0.2:80"]);
    }
}
