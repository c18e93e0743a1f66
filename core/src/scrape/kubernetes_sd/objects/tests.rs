//! Tests of the object store: keys, removal, clearing, decoding errors and nulls, and the
//! kinds' API paths.

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
