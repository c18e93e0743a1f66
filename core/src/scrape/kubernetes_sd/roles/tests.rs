//! Unit tests of `roles`: each role's targets and complete label sets, built from objects as the API server sends them.

use serde_json::{json, Value};

use super::*;

fn store(objects: Vec<(Kind, Value)>) -> Store {
    let mut store = Store::default();
    for (kind, object) in objects {
        store.put(kind, object).unwrap();
    }
    store
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

/// The group at `address` with `group` and `target` labels (target winning).
fn group(address: &str, group: &Labels, target: &[(&str, &str)]) -> TargetGroup {
    target_group(address.to_string(), group, labels(target))
}

fn sorted(mut groups: Vec<TargetGroup>) -> Vec<TargetGroup> {
    groups.sort_by(|a, b| (&a.targets, &a.labels).cmp(&(&b.targets, &b.labels)));
    groups
}

fn multi_port_pod() -> Value {
    json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "abc123",
            "labels": {"test/label": "testvalue"}, "annotations": {"test/annotation": "testannotationvalue"},
            "ownerReferences": [{"kind": "Other", "name": "notcontroller"}, {"kind": "testcontrollerkind", "name": "testcontrollername", "controller": true}]},
        "spec": {"nodeName": "testnode",
            "containers": [
                {"name": "testcontainer0", "image": "testcontainer0:latest", "ports": [
                    {"name": "testport0", "protocol": "TCP", "containerPort": 9000},
                    {"name": "testport1", "protocol": "UDP", "containerPort": 9001}]},
                {"name": "testcontainer1", "image": "testcontainer1:latest"}],
            "initContainers": [{"name": "initcontainer", "image": "initcontainer:latest"}]},
        "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "testcontainer0", "containerID": "docker://a1b2c3d4e5f6"}, {"name": "testcontainer1", "containerID": "containerd://6f5e4d3c2b1a"}],
            "initContainerStatuses": [{"name": "initcontainer", "containerID": "containerd://init1"}]}
    })
}

#[test]
fn pod_targets_per_container_port_portless_container_and_init_container() {
    let store = store(vec![(Kind::Pod, multi_port_pod())]);
    let pod = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_pod_name", "testpod"),
        ("__meta_kubernetes_pod_label_test_label", "testvalue"),
        ("__meta_kubernetes_pod_labelpresent_test_label", "true"),
        ("__meta_kubernetes_pod_annotation_test_annotation", "testannotationvalue"),
        ("__meta_kubernetes_pod_annotationpresent_test_annotation", "true"),
        ("__meta_kubernetes_pod_node_name", "testnode"),
        ("__meta_kubernetes_pod_ip", "1.2.3.4"),
        ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_uid", "abc123"),
        ("__meta_kubernetes_pod_controller_kind", "testcontrollerkind"),
        ("__meta_kubernetes_pod_controller_name", "testcontrollername"),
    ]);
    let container0 = [
        ("__meta_kubernetes_pod_container_name", "testcontainer0"),
        ("__meta_kubernetes_pod_container_image", "testcontainer0:latest"),
        ("__meta_kubernetes_pod_container_init", "false"),
        ("__meta_kubernetes_pod_container_id", "docker://a1b2c3d4e5f6"),
    ];
    let port0 = [("__meta_kubernetes_pod_container_port_name", "testport0"), ("__meta_kubernetes_pod_container_port_number", "9000"), ("__meta_kubernetes_pod_container_port_protocol", "TCP")];
    let port1 = [("__meta_kubernetes_pod_container_port_name", "testport1"), ("__meta_kubernetes_pod_container_port_number", "9001"), ("__meta_kubernetes_pod_container_port_protocol", "UDP")];
    let expected = sorted(vec![
        group("1.2.3.4:9000", &pod, &[&container0[..], &port0[..]].concat()),
        group("1.2.3.4:9001", &pod, &[&container0[..], &port1[..]].concat()),
        group("1.2.3.4", &pod, &[
            ("__meta_kubernetes_pod_container_name", "testcontainer1"),
            ("__meta_kubernetes_pod_container_image", "testcontainer1:latest"),
            ("__meta_kubernetes_pod_container_init", "false"),
            ("__meta_kubernetes_pod_container_id", "containerd://6f5e4d3c2b1a"),
        ]),
        group("1.2.3.4", &pod, &[
            ("__meta_kubernetes_pod_container_name", "initcontainer"),
            ("__meta_kubernetes_pod_container_image", "initcontainer:latest"),
            ("__meta_kubernetes_pod_container_init", "true"),
            ("__meta_kubernetes_pod_container_id", "containerd://init1"),
        ]),
    ]);
    assert_eq!(groups(Role::Pod, &store, Attach::NONE), expected);
}

#[test]
fn pod_role_skips_pods_without_ip_and_with_attach_node_those_on_unknown_nodes() {
    let on_node = |name: &str, ip: &str, node: &str| {
        json!({"metadata": {"name": name, "namespace": "ns1"}, "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}, "status": {"podIP": ip}})
    };
    let store = store(vec![
        (Kind::Pod, on_node("known", "10.0.0.1", "testnode")),
        (Kind::Pod, on_node("starting", "", "testnode")),
        (Kind::Pod, on_node("elsewhere", "fd00::2", "othernode")),
        (Kind::Node, json!({"metadata": {"name": "testnode", "labels": {"kubernetes.io/os": "linux"}}})),
    ]);
    let addresses = |node| groups(Role::Pod, &store, Attach { node, ..Attach::NONE }).into_iter().map(|group| group.targets[0].clone()).collect::<Vec<_>>();
    // By object key: ns1/elsewhere before ns1/known.
    assert_eq!(addresses(false), ["[fd00::2]:80", "10.0.0.1:80"]);
    assert_eq!(addresses(true), ["10.0.0.1:80"]);
    let attached = &groups(Role::Pod, &store, Attach { node: true, ..Attach::NONE })[0].labels;
    assert_eq!(attached["__meta_kubernetes_node_name"], "testnode");
    assert_eq!(attached["__meta_kubernetes_node_label_kubernetes_io_os"], "linux");
    assert_eq!(attached["__meta_kubernetes_node_labelpresent_kubernetes_io_os"], "true");
    assert_eq!(attached["__meta_kubernetes_pod_ready"], "unknown");
    assert_eq!(attached["__meta_kubernetes_pod_container_port_protocol"], "");
    assert!(!attached.contains_key("__meta_kubernetes_pod_controller_kind"));
}

#[test]
fn service_targets_external_name_and_load_balancer() {
    let store = store(vec![
        (Kind::Service, json!({"metadata": {"name": "testservice", "namespace": "default", "annotations": {"prometheus.io/scrape": "true"}},
            "spec": {"type": "ExternalName", "externalName": "FooExternalName", "ports": [{"name": "testport", "protocol": "TCP", "port": 30900}]}})),
        (Kind::Service, json!({"metadata": {"name": "lb", "namespace": "web"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "loadBalancerIP": "9.9.9.9", "ports": [{"name": "http", "protocol": "TCP", "port": 80, "nodePort": 31000}]},
            "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}, {"hostname": "lb.example.com"}, {"ip": "2.2.2.2"}]}}})),
    ]);
    let external = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_service_name", "testservice"),
        ("__meta_kubernetes_service_annotation_prometheus_io_scrape", "true"),
        ("__meta_kubernetes_service_annotationpresent_prometheus_io_scrape", "true"),
    ]);
    let load_balancer = labels(&[("__meta_kubernetes_namespace", "web"), ("__meta_kubernetes_service_name", "lb")]);
    // By object key: default/testservice before web/lb.
    let expected = vec![
        group("testservice.default.svc:30900", &external, &[
            ("__meta_kubernetes_service_port_name", "testport"),
            ("__meta_kubernetes_service_port_number", "30900"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ExternalName"),
            ("__meta_kubernetes_service_external_name", "FooExternalName"),
        ]),
        group("lb.web.svc:80", &load_balancer, &[
            ("__meta_kubernetes_service_port_name", "http"),
            ("__meta_kubernetes_service_port_number", "80"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "LoadBalancer"),
            ("__meta_kubernetes_service_cluster_ip", "10.0.0.1"),
            ("__meta_kubernetes_service_loadbalancer_ip", "1.1.1.1,2.2.2.2"),
        ]),
    ];
    assert_eq!(groups(Role::Service, &store, Attach::NONE), expected);
}

/// A pod at 2.3.4.5 with container ports 9000 (covered by the endpoints below) and 9001.
/// Port 9000's protocol differs from the endpoint port's (TCP): Prometheus labels the
/// matched container port with the endpoint's protocol in the endpoints role and with the
/// container's in the endpointslice role.
fn endpoint_pod() -> Value {
    json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "deadbeef"},
        "spec": {"nodeName": "testnode", "containers": [
            {"name": "c1", "image": "c1:latest", "ports": [{"name": "mainport", "containerPort": 9000, "protocol": "SCTP"}]},
            {"name": "c2", "image": "c2:latest", "ports": [{"name": "sideport", "containerPort": 9001, "protocol": "UDP"}]}]},
        "status": {"podIP": "2.3.4.5", "hostIP": "9.9.9.9", "phase": "Running"}
    })
}

fn endpoint_pod_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("__meta_kubernetes_pod_name", "testpod"),
        ("__meta_kubernetes_pod_ip", "2.3.4.5"),
        ("__meta_kubernetes_pod_ready", "unknown"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_node_name", "testnode"),
        ("__meta_kubernetes_pod_host_ip", "9.9.9.9"),
        ("__meta_kubernetes_pod_uid", "deadbeef"),
    ]
}

fn service_for_endpoints() -> Value {
    json!({"metadata": {"name": "testendpoints", "namespace": "default", "labels": {"app/name": "test"}}, "spec": {"clusterIP": "10.0.0.5"}})
}

#[test]
fn endpoints_targets_with_pod_service_node_labels_and_uncovered_port() {
    let endpoints = json!({
        "metadata": {"name": "testendpoints", "namespace": "default"},
        "subsets": [{
            "addresses": [
                {"ip": "1.2.3.4", "hostname": "testendpoint1", "nodeName": "foobar"},
                {"ip": "2.3.4.5", "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}],
            "notReadyAddresses": [{"ip": "3.4.5.6"}],
            "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}]}]
    });
    let store = store(vec![
        (Kind::Endpoints, endpoints),
        (Kind::Service, service_for_endpoints()),
        (Kind::Pod, endpoint_pod()),
        (Kind::Node, json!({"metadata": {"name": "foobar", "labels": {"az": "a"}}})),
    ]);
    let common = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_endpoints_name", "testendpoints"),
        ("__meta_kubernetes_service_name", "testendpoints"),
        ("__meta_kubernetes_service_label_app_name", "test"),
        ("__meta_kubernetes_service_labelpresent_app_name", "true"),
    ]);
    let port = [("__meta_kubernetes_endpoint_port_name", "testport"), ("__meta_kubernetes_endpoint_port_protocol", "TCP")];
    let pod_target = [
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpoint_address_target_name", "testpod"),
        ("__meta_kubernetes_pod_container_name", "c1"),
        ("__meta_kubernetes_pod_container_image", "c1:latest"),
        ("__meta_kubernetes_pod_container_port_name", "mainport"),
        ("__meta_kubernetes_pod_container_port_number", "9000"),
        ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    let uncovered = [
        ("__meta_kubernetes_pod_container_name", "c2"),
        ("__meta_kubernetes_pod_container_image", "c2:latest"),
        ("__meta_kubernetes_pod_container_port_name", "sideport"),
        ("__meta_kubernetes_pod_container_port_number", "9001"),
        ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    let expected = vec![
        group("1.2.3.4:9000", &common, &[&port[..], &[
            ("__meta_kubernetes_endpoint_ready", "true"),
            ("__meta_kubernetes_endpoint_hostname", "testendpoint1"),
            ("__meta_kubernetes_endpoint_node_name", "foobar"),
            ("__meta_kubernetes_node_name", "foobar"),
            ("__meta_kubernetes_node_label_az", "a"),
            ("__meta_kubernetes_node_labelpresent_az", "true"),
        ]].concat()),
        group("2.3.4.5:9000", &common, &[&port[..], &pod_target[..], &endpoint_pod_labels()].concat()),
        group("2.3.4.5:9001", &common, &[&uncovered[..], &endpoint_pod_labels()].concat()),
        group("3.4.5.6:9000", &common, &[&port[..], &[("__meta_kubernetes_endpoint_ready", "false")]].concat()),
    ];
    assert_eq!(groups(Role::Endpoints, &store, Attach { node: true, ..Attach::NONE }), expected);
    let without_node = groups(Role::Endpoints, &store, Attach::NONE);
    assert!(!without_node[0].labels.contains_key("__meta_kubernetes_node_name"));
    assert_eq!(without_node.len(), 4);
}

#[test]
fn endpointslice_targets_with_conditions_pod_and_service() {
    let slice = json!({
        "metadata": {"name": "testendpoints", "namespace": "default", "labels": {"kubernetes.io/service-name": "testendpoints"}},
        "addressType": "IPv4",
        "endpoints": [
            {"addresses": ["1.2.3.4"], "conditions": {"ready": true, "serving": true, "terminating": false},
             "hostname": "testendpoint1", "nodeName": "foobar", "zone": "us-east-1a", "deprecatedTopology": {"topology": "value"}},
            {"addresses": ["2.3.4.5"], "conditions": {"ready": false, "serving": true, "terminating": true},
             "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}},
            {"addresses": ["3.4.5.6"], "conditions": null, "nodeName": null}],
        "ports": [{"name": "testport", "port": 9000, "protocol": "TCP", "appProtocol": "http"}]
    });
    let store = store(vec![(Kind::EndpointSlice, slice), (Kind::Service, service_for_endpoints()), (Kind::Pod, endpoint_pod())]);
    let common = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_endpointslice_name", "testendpoints"),
        ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        ("__meta_kubernetes_endpointslice_label_kubernetes_io_service_name", "testendpoints"),
        ("__meta_kubernetes_endpointslice_labelpresent_kubernetes_io_service_name", "true"),
        ("__meta_kubernetes_service_name", "testendpoints"),
        ("__meta_kubernetes_service_label_app_name", "test"),
        ("__meta_kubernetes_service_labelpresent_app_name", "true"),
    ]);
    let port = [
        ("__meta_kubernetes_endpointslice_port_name", "testport"),
        ("__meta_kubernetes_endpointslice_port", "9000"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
    ];
    let pod_target = [
        ("__meta_kubernetes_endpointslice_endpoint_conditions_ready", "false"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_serving", "true"),
        ("__meta_kubernetes_endpointslice_endpoint_conditions_terminating", "true"),
        ("__meta_kubernetes_endpointslice_address_target_kind", "Pod"),
        ("__meta_kubernetes_endpointslice_address_target_name", "testpod"),
        ("__meta_kubernetes_pod_container_name", "c1"),
        ("__meta_kubernetes_pod_container_image", "c1:latest"),
        ("__meta_kubernetes_pod_container_port_name", "mainport"),
        ("__meta_kubernetes_pod_container_port_number", "9000"),
        ("__meta_kubernetes_pod_container_port_protocol", "SCTP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    let uncovered = [
        ("__meta_kubernetes_pod_container_name", "c2"),
        ("__meta_kubernetes_pod_container_image", "c2:latest"),
        ("__meta_kubernetes_pod_container_port_name", "sideport"),
        ("__meta_kubernetes_pod_container_port_number", "9001"),
        ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ];
    let expected = vec![
        group("1.2.3.4:9000", &common, &[&port[..], &[
            ("__meta_kubernetes_endpointslice_endpoint_conditions_ready", "true"),
            ("__meta_kubernetes_endpointslice_endpoint_conditions_serving", "true"),
            ("__meta_kubernetes_endpointslice_endpoint_conditions_terminating", "false"),
            ("__meta_kubernetes_endpointslice_endpoint_hostname", "testendpoint1"),
            ("__meta_kubernetes_endpointslice_endpoint_node_name", "foobar"),
            ("__meta_kubernetes_endpointslice_endpoint_zone", "us-east-1a"),
            ("__meta_kubernetes_endpointslice_endpoint_topology_topology", "value"),
            ("__meta_kubernetes_endpointslice_endpoint_topology_present_topology", "true"),
        ]].concat()),
        group("2.3.4.5:9000", &common, &[&port[..], &pod_target[..], &endpoint_pod_labels()].concat()),
        group("2.3.4.5:9001", &common, &[&uncovered[..], &endpoint_pod_labels()].concat()),
        group("3.4.5.6:9000", &common, &port),
    ];
    assert_eq!(groups(Role::EndpointSlice, &store, Attach::NONE), expected);
}

#[test]
fn endpointslice_of_secondary_ip_family_has_no_targets_and_portless_port_keeps_the_address() {
    let slice = |name: &str, address_type: &str, address: &str| {
        json!({"metadata": {"name": name, "namespace": "ns", "labels": {"kubernetes.io/service-name": "dual"}},
            "addressType": address_type, "endpoints": [{"addresses": [address]}], "ports": [{}]})
    };
    let store = store(vec![
        (Kind::EndpointSlice, slice("dual-v4", "IPv4", "10.0.0.1")),
        (Kind::EndpointSlice, slice("dual-v6", "IPv6", "fd00::1")),
        (Kind::Service, json!({"metadata": {"name": "dual", "namespace": "ns"}, "spec": {"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv4", "IPv6"]}})),
    ]);
    let found = groups(Role::EndpointSlice, &store, Attach::NONE);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].targets, ["10.0.0.1"]);
    assert!(!found[0].labels.keys().any(|name| name.starts_with("__meta_kubernetes_endpointslice_port")));
}

#[test]
fn node_address_follows_prometheus_preference() {
    let store = store(vec![
        (Kind::Node, json!({
            "metadata": {"name": "a", "labels": {"test-label": "testvalue"}, "annotations": {"test-annotation": "testannotationvalue"}},
            "spec": {"providerID": "aws:///us-east-1a/i-1"},
            "status": {"addresses": [
                    {"type": "Hostname", "address": "a-host"}, {"type": "ExternalIP", "address": "5.6.7.8"},
                    {"type": "InternalIP", "address": "1.2.3.4"}, {"type": "InternalIP", "address": "1.2.3.5"}],
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "MemoryPressure", "status": "False"}],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})),
        (Kind::Node, json!({"metadata": {"name": "b"}, "status": {"addresses": [{"type": "Hostname", "address": "b-host"}, {"type": "ExternalDNS", "address": "b.example.com"}], "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}})),
        (Kind::Node, json!({"metadata": {"name": "c"}, "status": {"addresses": null}})),
    ]);
    let node_a = labels(&[
        ("__meta_kubernetes_node_name", "a"),
        ("__meta_kubernetes_node_provider_id", "aws:///us-east-1a/i-1"),
        ("__meta_kubernetes_node_label_test_label", "testvalue"),
        ("__meta_kubernetes_node_labelpresent_test_label", "true"),
        ("__meta_kubernetes_node_annotation_test_annotation", "testannotationvalue"),
        ("__meta_kubernetes_node_annotationpresent_test_annotation", "true"),
        ("__meta_kubernetes_node_condition_ready", "true"),
        ("__meta_kubernetes_node_condition_memorypressure", "false"),
    ]);
    let node_b = labels(&[("__meta_kubernetes_node_name", "b"), ("__meta_kubernetes_node_provider_id", "")]);
    let expected = vec![
        group("1.2.3.4:10250", &node_a, &[
            ("instance", "a"),
            ("__meta_kubernetes_node_address_InternalIP", "1.2.3.4"),
            ("__meta_kubernetes_node_address_ExternalIP", "5.6.7.8"),
            ("__meta_kubernetes_node_address_Hostname", "a-host"),
        ]),
        group("b.example.com:10250", &node_b, &[
            ("instance", "b"),
            ("__meta_kubernetes_node_address_Hostname", "b-host"),
            ("__meta_kubernetes_node_address_ExternalDNS", "b.example.com"),
        ]),
    ];
    assert_eq!(groups(Role::Node, &store, Attach::NONE), expected);
}

#[test]
fn ingress_targets_per_rule_and_path_with_tls_wildcard() {
    let store = store(vec![(Kind::Ingress, json!({
        "metadata": {"name": "testingress", "namespace": "default", "labels": {"test/label": "testvalue"}},
        "spec": {"ingressClassName": "testclass",
            "tls": [{"hosts": ["*.example.com"]}, {"hosts": null}],
            "rules": [
                {"host": "example.com", "http": {"paths": [{"path": "/"}, {"path": "/foo"}]}},
                {"host": "test.example.com", "http": {"paths": [{"path": ""}]}},
                {"host": "a.b.example.com"},
                {"host": "nopaths.example.com", "http": {"paths": []}},
                {"http": null}]}
    }))]);
    let common = labels(&[
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_ingress_name", "testingress"),
        ("__meta_kubernetes_ingress_class_name", "testclass"),
        ("__meta_kubernetes_ingress_label_test_label", "testvalue"),
        ("__meta_kubernetes_ingress_labelpresent_test_label", "true"),
    ]);
    let target = |host: &'static str, scheme: &'static str, path: &'static str| {
        group(host, &common, &[("__meta_kubernetes_ingress_scheme", scheme), ("__meta_kubernetes_ingress_host", host), ("__meta_kubernetes_ingress_path", path)])
    };
    let expected = vec![
        target("", "http", "/"),
        target("a.b.example.com", "http", "/"),
        target("example.com", "http", "/"),
        target("example.com", "http", "/foo"),
        target("test.example.com", "https", "/"),
    ];
    assert_eq!(groups(Role::Ingress, &store, Attach::NONE), expected);
}

#[test]
fn nulls_in_lists_read_as_empty() {
    let store = store(vec![
        (Kind::Pod, json!({"metadata": {"name": "p", "namespace": "ns", "labels": null, "annotations": null, "ownerReferences": null},
            "spec": {"containers": null, "initContainers": [{"name": "init", "image": null, "ports": null}]},
            "status": {"podIP": "10.1.1.1", "conditions": null, "containerStatuses": null, "initContainerStatuses": null}})),
        (Kind::Service, json!({"metadata": {"name": "s", "namespace": "ns"}, "spec": {"ports": null}})),
        (Kind::Endpoints, json!({"metadata": {"name": "s", "namespace": "ns"}, "subsets": [{"addresses": null, "notReadyAddresses": null, "ports": [{"port": 80}]}]})),
        (Kind::EndpointSlice, json!({"metadata": {"name": "s-1", "namespace": "ns"}, "endpoints": [{"addresses": null}], "ports": null})),
        (Kind::Ingress, json!({"metadata": {"name": "i", "namespace": "ns"}, "spec": {"rules": null, "tls": null}})),
    ]);
    let pod = groups(Role::Pod, &store, Attach::NONE);
    assert_eq!(pod.len(), 1);
    assert_eq!(pod[0].targets, ["10.1.1.1"]);
    assert_eq!(pod[0].labels["__meta_kubernetes_pod_container_init"], "true");
    assert_eq!(pod[0].labels["__meta_kubernetes_pod_container_image"], "");
    assert_eq!(pod[0].labels["__meta_kubernetes_pod_container_id"], "");
    for role in [Role::Service, Role::Endpoints, Role::EndpointSlice, Role::Node, Role::Ingress] {
        assert_eq!(groups(role, &store, Attach::NONE), [], "{role:?}");
    }
}

#[test]
fn roles_parse_name_watch_and_select_as_prometheus() {
    for role in [Role::Pod, Role::Service, Role::Endpoints, Role::EndpointSlice, Role::Node, Role::Ingress] {
        assert_eq!(Role::parse(role.name()), Some(role));
        assert!(role.selector_roles().contains(&role.name()));
    }
    assert_eq!(Role::parse("endpoint"), None);
    assert_eq!(Role::parse("Pod"), None);
    assert_eq!(Role::Endpoints.kinds(Attach::NONE), [Kind::Endpoints, Kind::Service, Kind::Pod]);
    assert_eq!(Role::EndpointSlice.kinds(Attach { node: true, ..Attach::NONE }), [Kind::EndpointSlice, Kind::Service, Kind::Pod, Kind::Node]);
    assert_eq!(Role::Pod.kinds(Attach { node: true, ..Attach::NONE }), [Kind::Pod, Kind::Node]);
    assert_eq!(Role::Service.kinds(Attach { node: true, ..Attach::NONE }), [Kind::Service]);
    assert_eq!(Role::Node.kinds(Attach { node: true, ..Attach::NONE }), [Kind::Node]);
    assert_eq!(Role::Pod.selector_roles(), ["pod", "node"]);
    assert_eq!(Role::Endpoints.selector_roles(), ["pod", "service", "endpoints"]);
    assert_eq!(Role::Service.selector_roles(), ["service"]);
}

#[test]
fn sanitizing_joining_and_hostname_patterns() {
    assert_eq!(sanitize_label_name("app.kubernetes.io/name-ü"), "app_kubernetes_io_name__");
    assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    assert_eq!(join_host_port("1.2.3.4", 80), "1.2.3.4:80");
    assert!(matches_hostname_pattern("*.example.com", "a.example.com"));
    assert!(matches_hostname_pattern("example.com", "example.com"));
    assert!(!matches_hostname_pattern("*.example.com", "example.com"));
    assert!(!matches_hostname_pattern("*.example.com", "a.b.example.com"));
    assert!(!matches_hostname_pattern("a.*.com", "a.b.com"));
    assert!(!matches_hostname_pattern("*.example.com", "a.example.org"));
}

/// A pod of Prometheus' metadata tests, controlled by the `kind` named `owner`.
fn owned_pod(kind: &str, owner: &str) -> Value {
    json!({
        "metadata": {"name": "testpod", "namespace": "default", "uid": "pod123",
            "ownerReferences": [{"kind": kind, "name": owner, "uid": "x", "controller": true}]},
        "spec": {"nodeName": "testnode", "containers": [{"name": "testcontainer", "image": "testcontainer:latest", "ports": [{"name": "testport", "protocol": "TCP", "containerPort": 9000}]}]},
        "status": {"podIP": "1.2.3.4", "hostIP": "2.3.4.5", "phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "testcontainer", "containerID": "docker://a1b2c3d4e5f6"}]},
    })
}

/// A namespaced object's metadata (a ReplicaSet or Job) controlled by `kind` `owner`, if any.
fn controlled(name: &str, owner: Option<(&str, &str)>) -> Value {
    let owners: Vec<Value> = owner.into_iter().map(|(kind, name)| json!({"kind": kind, "name": name, "controller": true})).collect();
    json!({"metadata": {"name": name, "namespace": "default", "ownerReferences": owners}})
}

/// The group labels Prometheus' metadata tests expect of `owned_pod`.
fn owned_pod_group(kind: &str, owner: &str) -> Labels {
    labels(&[
        ("__meta_kubernetes_pod_name", "testpod"),
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_pod_node_name", "testnode"),
        ("__meta_kubernetes_pod_ip", "1.2.3.4"),
        ("__meta_kubernetes_pod_host_ip", "2.3.4.5"),
        ("__meta_kubernetes_pod_ready", "true"),
        ("__meta_kubernetes_pod_phase", "Running"),
        ("__meta_kubernetes_pod_uid", "pod123"),
        ("__meta_kubernetes_pod_controller_kind", kind),
        ("__meta_kubernetes_pod_controller_name", owner),
    ])
}

fn owned_pod_target(group: &Labels) -> TargetGroup {
    target_group(
        "1.2.3.4:9000".to_string(),
        group,
        labels(&[
            ("__meta_kubernetes_pod_container_name", "testcontainer"),
            ("__meta_kubernetes_pod_container_image", "testcontainer:latest"),
            ("__meta_kubernetes_pod_container_port_name", "testport"),
            ("__meta_kubernetes_pod_container_port_number", "9000"),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
            ("__meta_kubernetes_pod_container_init", "false"),
            ("__meta_kubernetes_pod_container_id", "docker://a1b2c3d4e5f6"),
        ]),
    )
}

#[test]
fn attach_deployment_names_the_deployment_of_the_pods_replica_set() {
    // Prometheus' TestPodDiscoveryWithDeployment.
    let store = store(vec![
        (Kind::Pod, owned_pod("ReplicaSet", "testdeployment-rs-abc")),
        (Kind::ReplicaSet, controlled("testdeployment-rs-abc", Some(("Deployment", "testdeployment")))),
    ]);
    let attach = Attach { deployment: true, ..Attach::NONE };
    let mut group = owned_pod_group("ReplicaSet", "testdeployment-rs-abc");
    assert_eq!(groups(Role::Pod, &store, Attach::NONE), [owned_pod_target(&group)], "not asked: no deployment label");
    group.insert("__meta_kubernetes_pod_deployment_name".into(), "testdeployment".into());
    assert_eq!(groups(Role::Pod, &store, attach), [owned_pod_target(&group)]);
    // A ReplicaSet not stored, or controlled by something else, names no Deployment.
    let unknown = self::store(vec![(Kind::Pod, owned_pod("ReplicaSet", "other"))]);
    assert!(!groups(Role::Pod, &unknown, attach)[0].labels.contains_key("__meta_kubernetes_pod_deployment_name"));
    let foreign = self::store(vec![(Kind::Pod, owned_pod("ReplicaSet", "rs")), (Kind::ReplicaSet, controlled("rs", Some(("Rollout", "r"))))]);
    assert!(!groups(Role::Pod, &foreign, attach)[0].labels.contains_key("__meta_kubernetes_pod_deployment_name"));
}

#[test]
fn attach_job_and_cronjob_name_the_pods_job_and_its_cronjob() {
    // Prometheus' TestPodDiscoveryWithJob and TestPodDiscoveryWithCronJob (job alone gives
    // no cronjob label).
    let store = store(vec![
        (Kind::Pod, owned_pod("Job", "testcronjob-job-abc")),
        (Kind::Job, controlled("testcronjob-job-abc", Some(("CronJob", "testcronjob")))),
    ]);
    let mut group = owned_pod_group("Job", "testcronjob-job-abc");
    group.insert("__meta_kubernetes_pod_job_name".into(), "testcronjob-job-abc".into());
    assert_eq!(groups(Role::Pod, &store, Attach { job: true, ..Attach::NONE }), [owned_pod_target(&group)]);
    group.insert("__meta_kubernetes_pod_cronjob_name".into(), "testcronjob".into());
    assert_eq!(groups(Role::Pod, &store, Attach { job: true, cronjob: true, ..Attach::NONE }), [owned_pod_target(&group)]);
    group.remove("__meta_kubernetes_pod_job_name");
    assert_eq!(groups(Role::Pod, &store, Attach { cronjob: true, ..Attach::NONE }), [owned_pod_target(&group)]);
    // A Job without a CronJob, and a pod of a ReplicaSet, get neither.
    let plain = self::store(vec![(Kind::Pod, owned_pod("Job", "testjob")), (Kind::Job, controlled("testjob", None))]);
    let found = &groups(Role::Pod, &plain, Attach { job: true, cronjob: true, ..Attach::NONE })[0].labels;
    assert_eq!((found.get("__meta_kubernetes_pod_job_name").map(String::as_str), found.get("__meta_kubernetes_pod_cronjob_name")), (Some("testjob"), None));
    let replica = self::store(vec![(Kind::Pod, owned_pod("ReplicaSet", "testjob")), (Kind::Job, controlled("testjob", Some(("CronJob", "c"))))]);
    let found = &groups(Role::Pod, &replica, Attach { job: true, cronjob: true, ..Attach::NONE })[0].labels;
    assert!(!found.contains_key("__meta_kubernetes_pod_job_name") && !found.contains_key("__meta_kubernetes_pod_cronjob_name"));
}

#[test]
fn attach_namespace_adds_the_namespaces_labels_and_annotations_to_every_role_but_node() {
    let namespace = json!({"metadata": {"name": "default", "labels": {"team": "backend", "app.kubernetes.io/part-of": "shop"}, "annotations": {"owner": "platform"}}});
    let expected = labels(&[
        ("__meta_kubernetes_namespace_label_team", "backend"),
        ("__meta_kubernetes_namespace_labelpresent_team", "true"),
        ("__meta_kubernetes_namespace_label_app_kubernetes_io_part_of", "shop"),
        ("__meta_kubernetes_namespace_labelpresent_app_kubernetes_io_part_of", "true"),
        ("__meta_kubernetes_namespace_annotation_owner", "platform"),
        ("__meta_kubernetes_namespace_annotationpresent_owner", "true"),
    ]);
    let service = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}});
    let endpoints = json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]});
    let slice = json!({"metadata": {"name": "web-x", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}}, "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]});
    let ingress = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": {"rules": [{"host": "example.com"}]}});
    let node = json!({"metadata": {"name": "testnode"}, "status": {"addresses": [{"type": "InternalIP", "address": "10.1.0.1"}]}});
    let mut store = store(vec![
        (Kind::Pod, owned_pod("ReplicaSet", "rs")),
        (Kind::Service, service),
        (Kind::Endpoints, endpoints),
        (Kind::EndpointSlice, slice),
        (Kind::Ingress, ingress),
        (Kind::Node, node),
        (Kind::Namespace, namespace),
    ]);
    let attach = Attach { namespace: true, ..Attach::NONE };
    for role in [Role::Pod, Role::Service, Role::Endpoints, Role::EndpointSlice, Role::Ingress] {
        let found = groups(role, &store, attach);
        assert_eq!(found.len(), 1, "{role:?}");
        let attached: Labels = found[0].labels.iter().filter(|(name, _)| name.starts_with("__meta_kubernetes_namespace_")).map(|(n, v)| (n.clone(), v.clone())).collect();
        assert_eq!(attached, expected, "{role:?}");
        let plain = groups(role, &store, Attach::NONE);
        assert!(plain[0].labels.keys().all(|name| !name.starts_with("__meta_kubernetes_namespace_")), "{role:?} without attach_metadata.namespace");
    }
    let node = &groups(Role::Node, &store, attach)[0].labels;
    assert!(node.keys().all(|name| !name.starts_with("__meta_kubernetes_namespace_")), "nodes have no namespace");
    // A namespace not stored (yet) adds nothing and still gives the targets.
    store.clear(Kind::Namespace, None);
    let found = groups(Role::Pod, &store, attach);
    assert_eq!(found.len(), 1);
    assert!(found[0].labels.keys().all(|name| !name.starts_with("__meta_kubernetes_namespace_")));
}

#[test]
fn endpoints_pods_get_their_deployment_too() {
    let endpoints = json!({"metadata": {"name": "web", "namespace": "default"}, "subsets": [{"addresses": [{"ip": "1.2.3.4", "targetRef": {"kind": "Pod", "name": "testpod", "namespace": "default"}}], "ports": [{"port": 9000, "protocol": "TCP"}]}]});
    let store = store(vec![
        (Kind::Endpoints, endpoints),
        (Kind::Pod, owned_pod("ReplicaSet", "rs")),
        (Kind::ReplicaSet, controlled("rs", Some(("Deployment", "web")))),
    ]);
    let found = groups(Role::Endpoints, &store, Attach { deployment: true, ..Attach::NONE });
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].labels.get("__meta_kubernetes_pod_deployment_name").map(String::as_str), Some("web"));
}

#[test]
fn attached_kinds_are_watched_only_for_the_roles_that_read_them() {
    let every = Attach { node: true, namespace: true, deployment: true, job: true, cronjob: true };
    assert_eq!(Role::Pod.kinds(every), [Kind::Pod, Kind::Namespace, Kind::Node, Kind::ReplicaSet, Kind::Job]);
    assert_eq!(Role::Endpoints.kinds(every), [Kind::Endpoints, Kind::Service, Kind::Pod, Kind::Namespace, Kind::Node, Kind::ReplicaSet, Kind::Job]);
    assert_eq!(Role::Service.kinds(every), [Kind::Service, Kind::Namespace]);
    assert_eq!(Role::Ingress.kinds(every), [Kind::Ingress, Kind::Namespace]);
    assert_eq!(Role::Node.kinds(every), [Kind::Node]);
    // A pod's own owner reference names its Job: no Jobs are read for `job` alone.
    assert_eq!(Role::Pod.kinds(Attach { job: true, ..Attach::NONE }), [Kind::Pod]);
}
