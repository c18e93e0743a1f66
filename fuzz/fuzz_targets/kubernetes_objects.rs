//! Fuzz target: objects from a Kubernetes API server (each line: a kind digit 0-8, `A` to
//! put or `D` to delete, then the object's JSON) never panic the kubernetes_sd store or the
//! roles; every role makes one address per group, label names Prometheus accepts, and the
//! same groups when asked twice; and the per-object `GroupCache`, told of each change and
//! updated between some of them, ends with exactly the groups made from the whole store, in the same order.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use metricstor::scrape::kubernetes_sd::cache::GroupCache;
    use metricstor::scrape::kubernetes_sd::objects::{Kind, Store};
    use metricstor::scrape::kubernetes_sd::roles::{groups, Attach, Role};
    let kinds = [Kind::Pod, Kind::Service, Kind::Endpoints, Kind::EndpointSlice, Kind::Node, Kind::Ingress, Kind::Namespace, Kind::ReplicaSet, Kind::Job];
    let mut changes = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        let [digit, op, json @ ..] = line else { continue };
        let Some(kind) = kinds.get(usize::from(digit.wrapping_sub(b'0'))) else { continue };
        let Ok(object) = serde_json::from_slice::<serde_json::Value>(json) else { continue };
        changes.push((*kind, *op == b'D', object));
    }
    for role in ["pod", "service", "endpoints", "endpointslice", "node", "ingress"].iter().filter_map(|r| Role::parse(r)) {
        let everything = Attach { node: true, namespace: true, deployment: true, job: true, cronjob: true };
        for attach in [Attach::default(), everything] {
            let mut store = Store::default();
            let mut cache = GroupCache::new(role, attach);
            for (at, (kind, delete, object)) in changes.iter().enumerate() {
                let key = if *delete { store.remove(*kind, object) } else { store.put(*kind, object.clone()).ok() };
                if let Some(key) = key {
                    cache.object_changed(*kind, key);
                }
                if at % 3 == 1 {
                    cache.update(&store);
                }
            }
            let found = groups(role, &store, attach);
            for group in &found {
                assert_eq!(group.targets.len(), 1, "one address per group");
                for name in group.labels.keys() {
                    let mut chars = name.chars();
                    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_') && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
                    assert!(valid, "label name {name:?} of role {role:?}");
                }
            }
            assert!(found == groups(role, &store, attach), "the same groups when asked twice");
            cache.update(&store);
            let cached: Vec<_> = cache.groups().iter().map(|group| (**group).clone()).collect();
            assert!(cached == found, "the cache, updated change by change, holds the groups of the whole store (role {role:?}, {attach:?})");
        }
    }
});
