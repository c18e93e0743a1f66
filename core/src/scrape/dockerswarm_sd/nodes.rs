//! The `nodes` role: one target per Swarm node, at its address and the configured port,
//! with the node's `__meta_dockerswarm_node_*` labels, as Prometheus' `refreshNodes` makes
//! them. Also the node labels the `tasks` role adds. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use super::objects::Node;
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

pub(super) const NODE_ADDRESS: &str = "__meta_dockerswarm_node_address";
const NODE_AVAILABILITY: &str = "__meta_dockerswarm_node_availability";
const NODE_ENGINE_VERSION: &str = "__meta_dockerswarm_node_engine_version";
const NODE_HOSTNAME: &str = "__meta_dockerswarm_node_hostname";
const NODE_ID: &str = "__meta_dockerswarm_node_id";
const NODE_LABEL_PREFIX: &str = "__meta_dockerswarm_node_label_";
const NODE_MANAGER_ADDRESS: &str = "__meta_dockerswarm_node_manager_address";
const NODE_MANAGER_LEADER: &str = "__meta_dockerswarm_node_manager_leader";
const NODE_MANAGER_REACHABILITY: &str = "__meta_dockerswarm_node_manager_reachability";
const NODE_PLATFORM_ARCHITECTURE: &str = "__meta_dockerswarm_node_platform_architecture";
const NODE_PLATFORM_OS: &str = "__meta_dockerswarm_node_platform_os";
const NODE_ROLE: &str = "__meta_dockerswarm_node_role";
const NODE_STATUS: &str = "__meta_dockerswarm_node_status";

/// The `nodes` targets, one group per node in listing order; a node without an address
/// gets `:<port>`, as Go's `net.JoinHostPort` writes it.
pub fn groups(nodes: &[Node], port: u16) -> Vec<TargetGroup> {
    nodes
        .iter()
        .map(|node| {
            let mut labels = node_labels(node);
            labels.insert(NODE_ENGINE_VERSION.to_string(), node.description.engine.engine_version.clone());
            if let Some(manager) = &node.manager_status {
                labels.insert(NODE_MANAGER_LEADER.to_string(), manager.leader.to_string());
                labels.insert(NODE_MANAGER_REACHABILITY.to_string(), manager.reachability.clone());
                labels.insert(NODE_MANAGER_ADDRESS.to_string(), manager.addr.clone());
            }
            TargetGroup { targets: vec![join_host_port(&node.status.addr, port)], labels }
        })
        .collect()
}

/// The labels of a node that the `tasks` role adds too (no engine version, no manager
/// status: Prometheus' `getNodesLabels`).
fn node_labels(node: &Node) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        (NODE_ID.to_string(), node.id.clone()),
        (NODE_ROLE.to_string(), node.spec.role.clone()),
        (NODE_ADDRESS.to_string(), node.status.addr.clone()),
        (NODE_AVAILABILITY.to_string(), node.spec.availability.clone()),
        (NODE_HOSTNAME.to_string(), node.description.hostname.clone()),
        (NODE_PLATFORM_ARCHITECTURE.to_string(), node.description.platform.architecture.clone()),
        (NODE_PLATFORM_OS.to_string(), node.description.platform.os.clone()),
        (NODE_STATUS.to_string(), node.status.state.clone()),
    ]);
    // Colliding sanitized names: the last in key order wins (Prometheus: random).
    for (key, value) in &node.spec.labels {
        labels.insert(format!("{NODE_LABEL_PREFIX}{}", sanitize_label_name(key)), value.clone());
    }
    labels
}

/// Each node's labels for its tasks, by node ID (the last listed wins, as in a Go map).
pub(super) fn labels_by_id(nodes: &[Node]) -> HashMap<&str, BTreeMap<String, String>> {
    nodes.iter().map(|n| (n.id.as_str(), node_labels(n))).collect()
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{decode, expected, rendered};
    use super::super::objects::{ManagerStatus, NodeStatus};
    use super::*;

    #[test]
    fn nodes_of_a_swarm_become_the_targets_prometheus_finds() {
        let nodes: Vec<Node> = decode(include_str!("testdata/nodes.json"));
        assert_eq!(rendered(&groups(&nodes, 80)), expected(include_str!("testdata/nodes.targets")));
    }

    #[test]
    fn node_labels_are_sanitized_and_a_missing_address_keeps_the_port() {
        let mut node = Node { id: "n1".into(), status: NodeStatus { state: "down".into(), addr: String::new() }, ..Node::default() };
        node.spec.labels.insert("com.example/rack-id".into(), "r7".into());
        node.manager_status = Some(ManagerStatus { leader: true, reachability: "reachable".into(), addr: "[fd00::1]:2377".into() });
        let v6 = Node { id: "n2".into(), status: NodeStatus { state: "ready".into(), addr: "fd00::2".into() }, ..Node::default() };
        let got = groups(&[node, v6], 9323);
        assert_eq!(got[0].targets, [":9323"]);
        assert_eq!(got[0].labels["__meta_dockerswarm_node_label_com_example_rack_id"], "r7");
        assert_eq!(got[0].labels[NODE_MANAGER_LEADER], "true");
        assert_eq!(got[0].labels[NODE_MANAGER_ADDRESS], "[fd00::1]:2377");
        assert_eq!(got[1].targets, ["[fd00::2]:9323"]);
        assert!(!got[1].labels.contains_key(NODE_MANAGER_LEADER), "a worker has no manager labels");
        assert_eq!(got[1].labels[NODE_ENGINE_VERSION], "");
        assert_eq!(got[1].labels.len(), 9);
    }
}
