//! The `tasks` role, as Prometheus' `refreshTasks` makes it: targets at each task's published
//! TCP ports and network attachment addresses, each carrying the task's, its container's, its
//! service's, its node's and (for attachments) the network's `__meta_dockerswarm_*` labels.
//! Pure: no I/O.

use std::collections::BTreeMap;

use super::objects::{cidr_address, Node, Service, Task};
use super::{merged, nodes, services, LABEL_PREFIX};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};
use crate::scrape::docker_sd::targets::{network_labels, Network};

const TASK_ID: &str = "__meta_dockerswarm_task_id";
const TASK_DESIRED_STATE: &str = "__meta_dockerswarm_task_desired_state";
const TASK_STATE: &str = "__meta_dockerswarm_task_state";
const TASK_CONTAINER_ID: &str = "__meta_dockerswarm_task_container_id";
const TASK_SLOT: &str = "__meta_dockerswarm_task_slot";
const TASK_PORT_PUBLISH_MODE: &str = "__meta_dockerswarm_task_port_publish_mode";
const CONTAINER_LABEL_PREFIX: &str = "__meta_dockerswarm_container_label_";

/// The `tasks` targets of one listing of tasks (filtered), with the (unfiltered) services,
/// nodes and networks their labels come from; each target its own group, in Prometheus'
/// order: per task, one target per published TCP port of the task (at its node's address),
/// then one per (network attachment address, TCP endpoint port of its service), or one per
/// address on the configured port when the service publishes no TCP port. An attachment
/// address not in CIDR form fails the whole listing, as in Prometheus.
pub fn groups(tasks: &[Task], services: &[Service], nodes: &[Node], networks: &[Network], port: u16) -> Result<Vec<TargetGroup>, String> {
    let service_labels_and_ports = services::labels_and_ports(services);
    let node_labels = nodes::labels_by_id(nodes);
    let labels_by_network = network_labels(networks, LABEL_PREFIX);
    let mut out = Vec::new();
    for task in tasks {
        let mut common = BTreeMap::from([
            (TASK_ID.to_string(), task.id.clone()),
            (TASK_DESIRED_STATE.to_string(), task.desired_state.clone()),
            (TASK_STATE.to_string(), task.status.state.clone()),
            (TASK_SLOT.to_string(), task.slot.to_string()),
        ]);
        if let Some(container) = &task.status.container_status {
            common.insert(TASK_CONTAINER_ID.to_string(), container.container_id.clone());
        }
        if let Some(container) = &task.spec.container_spec {
            for (key, value) in &container.labels {
                common.insert(format!("{CONTAINER_LABEL_PREFIX}{}", sanitize_label_name(key)), value.clone());
            }
        }
        let (service_labels, service_ports) = match service_labels_and_ports.get(task.service_id.as_str()) {
            Some((labels, ports)) => (Some(labels), *ports),
            None => (None, &[][..]),
        };
        common.extend(service_labels.into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
        common.extend(node_labels.get(task.node_id.as_str()).into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())));

        // Published on the node: the node's address ("" when the node is not listed).
        let node_address = common.get(nodes::NODE_ADDRESS).cloned().unwrap_or_default();
        for p in task.status.port_status.ports.iter().filter(|p| p.protocol == "tcp") {
            let own = BTreeMap::from([(TASK_PORT_PUBLISH_MODE.to_string(), p.publish_mode.clone())]);
            out.push(TargetGroup { targets: vec![join_host_port(&node_address, p.published_port)], labels: merged(own, &[Some(&common)]) });
        }

        for attachment in &task.networks_attachments {
            let network = labels_by_network.get(attachment.network.id.as_str());
            for address in &attachment.addresses {
                let ip = cidr_address(address)?;
                let mut added = false;
                for p in service_ports.iter().filter(|p| p.protocol == "tcp") {
                    let own = BTreeMap::from([(TASK_PORT_PUBLISH_MODE.to_string(), p.publish_mode.clone())]);
                    out.push(TargetGroup { targets: vec![join_host_port(&ip, p.published_port)], labels: merged(own, &[Some(&common), network]) });
                    added = true;
                }
                if !added {
                    out.push(TargetGroup { targets: vec![join_host_port(&ip, port)], labels: merged(BTreeMap::new(), &[Some(&common), network]) });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{decode, expected, rendered};
    use super::*;

    #[test]
    fn tasks_of_a_swarm_become_the_targets_prometheus_finds() {
        let tasks: Vec<Task> = decode(include_str!("testdata/tasks.json"));
        let services: Vec<Service> = decode(include_str!("testdata/services.json"));
        let nodes: Vec<Node> = decode(include_str!("testdata/nodes.json"));
        let networks: Vec<Network> = decode(include_str!("testdata/networks.json"));
        let got = groups(&tasks, &services, &nodes, &networks, 80).expect("the fixture's addresses are CIDRs");
        assert_eq!(rendered(&got), expected(include_str!("testdata/tasks.targets")));
    }

    #[test]
    fn published_ports_use_the_node_address_and_unknown_services_the_configured_port() {
        let tasks: Vec<Task> = decode(
            r#"[{"ID": "t1", "ServiceID": "gone", "NodeID": "also-gone", "Slot": 3, "DesiredState": "running",
                 "Status": {"State": "running", "PortStatus": {"Ports": [{"Protocol": "tcp", "PublishedPort": 8080, "PublishMode": "host"},
                                                                        {"Protocol": "udp", "PublishedPort": 53, "PublishMode": "host"}]}},
                 "Spec": {"ContainerSpec": {"Labels": {"prometheus.io/port": "8080"}}},
                 "NetworksAttachments": [{"Network": {"ID": "n"}, "Addresses": ["10.0.9.4/24"]}]}]"#,
        );
        let got = groups(&tasks, &[], &[], &[], 9000).expect("valid addresses");
        let addresses: Vec<&str> = got.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(addresses, [":8080", "10.0.9.4:9000"]);
        assert_eq!(got[0].labels[TASK_PORT_PUBLISH_MODE], "host");
        assert_eq!(got[0].labels["__meta_dockerswarm_container_label_prometheus_io_port"], "8080");
        assert_eq!(got[1].labels[TASK_SLOT], "3");
        assert!(!got[1].labels.contains_key(TASK_PORT_PUBLISH_MODE));
        assert!(!got[1].labels.contains_key(TASK_CONTAINER_ID), "no container status, no container id");

        let bad: Vec<Task> = decode(r#"[{"ID": "t2", "NetworksAttachments": [{"Addresses": ["nonsense"]}]}]"#);
        assert!(groups(&bad, &[], &[], &[], 80).is_err());
    }
}
