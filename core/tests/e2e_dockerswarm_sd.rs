//! End-to-end: the real binary discovers scrape targets with `dockerswarm_sd_configs` from
//! a mock Docker Swarm manager on loopback (one entry per role: services with a filter,
//! tasks over `tcp://`, nodes with a `port`), keeps by relabeling the targets that point at
//! a mock exporter, scrapes it, and shows the `__meta_dockerswarm_*` labels in
//! `/api/v1/targets`; a manager that starts failing keeps the last good targets.

mod support;

use std::time::Duration;

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// The manager's answers: one service on the exporter's address (a virtual IP on
/// `127.0.0.1/8` publishing the exporter's port) and on another network, a UDP-only
/// service, one task of the first service on loopback and published on a node, two nodes
/// (one on loopback); every other target points elsewhere and is dropped by relabeling.
fn swarm_answers(exporter_port: u16) -> (String, String, String, String) {
    let services = json!([
        {"ID": "svc-exporter", "Version": {"Index": 7},
         "Spec": {"Name": "mon_exporter", "Labels": {"com.docker.stack.namespace": "mon"}, "Mode": {"Global": {}},
                  "TaskTemplate": {"ContainerSpec": {"Image": "example/exporter:1", "Hostname": "exp"}}},
         "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 9100, "PublishedPort": exporter_port, "PublishMode": "ingress", "Name": "metrics"}],
                      "VirtualIPs": [{"NetworkID": "net-lo", "Addr": "127.0.0.1/8"}, {"NetworkID": "net-mon", "Addr": "10.0.1.5/24"}]}},
        {"ID": "svc-dns", "Spec": {"Name": "dns", "Mode": {"Replicated": {"Replicas": 1}}},
         "Endpoint": {"Ports": [{"Protocol": "udp", "PublishedPort": 53}], "VirtualIPs": [{"NetworkID": "net-mon", "Addr": "10.0.1.9/24"}]}}
    ]);
    let tasks = json!([
        {"ID": "task-1", "ServiceID": "svc-exporter", "NodeID": "node-lo", "Slot": 1, "DesiredState": "running",
         "Spec": {"ContainerSpec": {"Labels": {"com.example.tier": "infra"}}},
         "Status": {"State": "running", "ContainerStatus": {"ContainerID": "c0ffee"},
                    "PortStatus": {"Ports": [{"Protocol": "tcp", "PublishedPort": 19100, "PublishMode": "host"}]}},
         "NetworksAttachments": [{"Network": {"ID": "net-lo"}, "Addresses": ["127.0.0.1/8"]}]}
    ]);
    let nodes = json!([
        {"ID": "node-lo", "Spec": {"Role": "manager", "Availability": "active", "Labels": {"rack": "r1"}},
         "Description": {"Hostname": "manager-1", "Platform": {"Architecture": "x86_64", "OS": "linux"}, "Engine": {"EngineVersion": "24.0.7"}},
         "Status": {"State": "ready", "Addr": "127.0.0.1"}, "ManagerStatus": {"Leader": true, "Reachability": "reachable", "Addr": "127.0.0.1:2377"}},
        {"ID": "node-far", "Spec": {"Role": "worker", "Availability": "drain"},
         "Description": {"Hostname": "worker-9"}, "Status": {"State": "down", "Addr": "10.0.232.9"}}
    ]);
    let networks = json!([
        {"Id": "net-lo", "Name": "lo_net", "Scope": "swarm", "Internal": false, "Ingress": false, "Labels": {"com.docker.stack.namespace": "mon"}},
        {"Id": "net-mon", "Name": "mon_net", "Scope": "swarm", "Internal": true, "Ingress": false, "Labels": null}
    ]);
    (services.to_string(), tasks.to_string(), nodes.to_string(), networks.to_string())
}

/// The active target whose label `name` is `value`, or null.
fn target_with(targets: &serde_json::Value, name: &str, value: &str) -> serde_json::Value {
    targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["labels"][name] == value)).cloned().unwrap_or_default()
}

#[test]
fn dockerswarm_sd_finds_services_tasks_and_nodes_and_keeps_them_when_the_manager_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("swarm_probe 1\n");
    let manager = Exporter::start("");
    let json = ["Content-Type: application/json"];
    let (services, tasks, nodes, networks) = swarm_answers(exporter.port);
    let filtered = "/services?filters=%7B%22label%22%3A%5B%22com.docker.stack.namespace%3Dmon%22%5D%7D";
    manager.route(filtered, 200, &json, &services);
    manager.route("/services", 200, &json, &services);
    manager.route("/tasks", 200, &json, &tasks);
    manager.route("/nodes", 200, &json, &nodes);
    manager.route("/networks", 200, &json, &networks);
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: swarm\n  dockerswarm_sd_configs:\n\
             \x20 - {{host: 'http://{manager}', role: services, refresh_interval: 1s, filters: [{{name: label, values: ['com.docker.stack.namespace=mon']}}]}}\n\
             \x20 - {{host: 'tcp://{manager}', role: tasks, refresh_interval: 1s}}\n\
             \x20 - {{host: 'http://{manager}', role: nodes, port: {port}, refresh_interval: 1s}}\n\
             \x20 relabel_configs:\n\
             \x20 - {{source_labels: [__address__], regex: '127\\.0\\.0\\.1:{port}', action: keep}}\n\
             \x20 - {{source_labels: [__meta_dockerswarm_service_name, __meta_dockerswarm_task_id, __meta_dockerswarm_node_hostname], separator: '', target_label: found}}\n\
             \x20 - {{source_labels: [__meta_dockerswarm_network_name], target_label: network}}\n",
            manager = manager.address(),
            port = exporter.port
        ));
    let server = Server::start(&config);

    // services: the exporter's VIP on lo_net (the 10.0.1.x targets dropped); tasks: its
    // network attachment (the node-published port dropped); nodes: manager-1.
    let found = poll_query(&server, "swarm_probe", "the service, task and node targets scraped", WAIT, |r| {
        let mut found: Vec<serde_json::Value> = r.iter().map(|s| s["metric"].clone()).collect();
        found.sort_by_key(|m| m["found"].as_str().unwrap_or("").to_string());
        (found.len() == 3).then_some(found)
    });
    let instance = exporter.address();
    assert_eq!(found[0], json!({"__name__": "swarm_probe", "found": "manager-1", "instance": instance, "job": "swarm"}));
    assert_eq!(found[1], json!({"__name__": "swarm_probe", "found": "mon_exporter", "network": "lo_net", "instance": instance, "job": "swarm"}));
    assert_eq!(found[2], json!({"__name__": "swarm_probe", "found": "mon_exportertask-1manager-1", "network": "lo_net", "instance": instance, "job": "swarm"}));

    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 3 && a.iter().all(|t| t["health"] == "up")));
    let service = &target_with(&targets, "found", "mon_exporter")["discoveredLabels"];
    for (name, value) in [
        ("__meta_dockerswarm_service_id", "svc-exporter"),
        ("__meta_dockerswarm_service_mode", "global"),
        ("__meta_dockerswarm_service_endpoint_port_name", "metrics"),
        ("__meta_dockerswarm_service_endpoint_port_publish_mode", "ingress"),
        ("__meta_dockerswarm_service_label_com_docker_stack_namespace", "mon"),
        ("__meta_dockerswarm_service_task_container_image", "example/exporter:1"),
        ("__meta_dockerswarm_network_id", "net-lo"),
        ("__meta_dockerswarm_network_label_com_docker_stack_namespace", "mon"),
    ] {
        assert_eq!(service[name].as_str(), Some(value), "{name} in {service}");
    }
    let task = &target_with(&targets, "found", "mon_exportertask-1manager-1")["discoveredLabels"];
    for (name, value) in [
        ("__meta_dockerswarm_task_id", "task-1"),
        ("__meta_dockerswarm_task_container_id", "c0ffee"),
        ("__meta_dockerswarm_task_slot", "1"),
        ("__meta_dockerswarm_task_state", "running"),
        ("__meta_dockerswarm_task_port_publish_mode", "ingress"),
        ("__meta_dockerswarm_container_label_com_example_tier", "infra"),
        ("__meta_dockerswarm_node_address", "127.0.0.1"),
        ("__meta_dockerswarm_node_label_rack", "r1"),
    ] {
        assert_eq!(task[name].as_str(), Some(value), "{name} in {task}");
    }
    let node = &target_with(&targets, "found", "manager-1")["discoveredLabels"];
    for (name, value) in [
        ("__meta_dockerswarm_node_id", "node-lo"),
        ("__meta_dockerswarm_node_role", "manager"),
        ("__meta_dockerswarm_node_manager_leader", "true"),
        ("__meta_dockerswarm_node_manager_address", "127.0.0.1:2377"),
        ("__meta_dockerswarm_node_engine_version", "24.0.7"),
    ] {
        assert_eq!(node[name].as_str(), Some(value), "{name} in {node}");
    }
    let heads = manager.request_heads();
    for path in [filtered, "/tasks", "/nodes", "/networks", "/services"] {
        assert!(heads.iter().any(|h| h.starts_with(&format!("GET {path} "))), "{path} never asked: {heads:?}");
    }

    // The manager fails /nodes: the tasks and nodes entries keep their last good targets.
    let asked_before = manager.times_asked("GET /nodes ");
    manager.route("/nodes", 500, &json, r#"{"message": "rpc error: node is not a swarm manager"}"#);
    // Each of the two entries asking /nodes has failed at least once when four more asks came.
    manager.wait_asked("GET /nodes ", asked_before, 4, WAIT);
    let (status, targets) = get_json(&server.url("/api/v1/targets"));
    assert_eq!(status, 200);
    let kept: Vec<&str> = targets["data"]["activeTargets"].as_array().map(|a| a.iter().filter_map(|t| t["labels"]["found"].as_str()).collect()).unwrap_or_default();
    assert_eq!(kept.len(), 3, "{targets}");
    assert!(server.wait_log("discovery request failed", WAIT), "the failure is logged");
    assert!(server.stop(), "clean shutdown");
}
