//! Marathon's app list (`/v2/apps/?embed=apps.tasks`) read into target groups as
//! Prometheus derives them: one target per task and port.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default, sanitize_label_name};

/// The app's id.
const APP: &str = "__meta_marathon_app";
/// The Docker image of the app's container.
const IMAGE: &str = "__meta_marathon_image";
/// The position of the target's port among the app's ports.
const PORT_INDEX: &str = "__meta_marathon_port_index";
/// The Mesos task id of the target.
const TASK: &str = "__meta_marathon_task";
const APP_LABEL_PREFIX: &str = "__meta_marathon_app_label_";
const PORT_MAPPING_LABEL_PREFIX: &str = "__meta_marathon_port_mapping_label_";
const PORT_DEFINITION_LABEL_PREFIX: &str = "__meta_marathon_port_definition_label_";

/// The answer: every app with its tasks. Fields Prometheus does not read are skipped;
/// `null` reads as the empty value, as Go leaves it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AppList {
    #[serde(deserialize_with = "null_as_default")]
    apps: Vec<App>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct App {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    tasks: Vec<Task>,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    container: Container,
    #[serde(deserialize_with = "null_as_default")]
    port_definitions: Vec<PortDefinition>,
    #[serde(deserialize_with = "null_as_default")]
    networks: Vec<Network>,
    #[serde(deserialize_with = "null_as_default")]
    require_ports: bool,
}

/// One instance of an app.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Task {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    host: String,
    #[serde(deserialize_with = "null_as_default")]
    ports: Vec<u32>,
    #[serde(deserialize_with = "null_as_default")]
    ip_addresses: Vec<IpAddress>,
}

/// An address of a task's container network interface.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IpAddress {
    #[serde(deserialize_with = "null_as_default")]
    ip_address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Container {
    #[serde(deserialize_with = "null_as_default")]
    docker: DockerContainer,
    #[serde(deserialize_with = "null_as_default")]
    port_mappings: Vec<PortMapping>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DockerContainer {
    #[serde(deserialize_with = "null_as_default")]
    image: String,
    #[serde(deserialize_with = "null_as_default")]
    port_mappings: Vec<PortMapping>,
}

/// A port the container's process binds, and the host port it is reached on.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PortMapping {
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    container_port: u32,
    #[serde(deserialize_with = "null_as_default")]
    host_port: u32,
}

/// A port of an app without mappings (a service port unless `requirePorts`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PortDefinition {
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    port: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Network {
    #[serde(deserialize_with = "null_as_default")]
    mode: String,
}

/// Reads an answer's body; the error is serde's.
pub fn app_list(body: &[u8]) -> Result<AppList, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The target groups of `list`: one per target (task and port), carrying its app's labels.
/// Apps keep the answer's order; of apps with the same id the last counts, as Prometheus
/// keeps one group per id.
pub fn groups(list: &AppList) -> Vec<TargetGroup> {
    let mut kept: Vec<&App> = Vec::with_capacity(list.apps.len());
    let mut position_by_id: HashMap<&str, usize> = HashMap::with_capacity(list.apps.len());
    for app in &list.apps {
        match position_by_id.get(app.id.as_str()) {
            Some(&position) => kept[position] = app,
            None => {
                position_by_id.insert(&app.id, kept.len());
                kept.push(app);
            }
        }
    }
    kept.into_iter().flat_map(app_groups).collect()
}

/// The app's targets, each as a group of its own with the app's labels and its own.
fn app_groups(app: &App) -> Vec<TargetGroup> {
    let mut app_labels = BTreeMap::from([(APP.to_string(), app.id.clone()), (IMAGE.to_string(), app.container.docker.image.clone())]);
    for (name, value) in &app.labels {
        app_labels.insert(format!("{APP_LABEL_PREFIX}{}", sanitize_label_name(name)), value.clone());
    }
    targets(app)
        .into_iter()
        .map(|(address, target_labels)| {
            let mut labels = app_labels.clone();
            labels.extend(target_labels);
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![address], labels }
        })
        .collect()
}

/// Whether the app's first network is a container network (its tasks are then reached on
/// their container's address and ports).
fn is_container_net(app: &App) -> bool {
    app.networks.first().is_some_and(|n| n.mode == "container")
}

/// Every (address, labels) of the app's tasks, as Prometheus' `targetsForApp` finds them: the
/// ports from the app's container port mappings (Marathon 1.5's `container.portMappings`,
/// else the older `container.docker.portMappings`), else its `portDefinitions`, else the
/// task's own ports; each port's labels become `__meta_marathon_port_mapping_label_*` or
/// `__meta_marathon_port_definition_label_*`.
fn targets(app: &App) -> Vec<(String, BTreeMap<String, String>)> {
    let container_net = is_container_net(app);
    let (mut ports, port_labels, prefix): (Vec<u32>, Vec<&BTreeMap<String, String>>, &str) = if !app.container.port_mappings.is_empty() {
        let (ports, labels) = mapped_ports(&app.container.port_mappings, container_net);
        (ports, labels, PORT_MAPPING_LABEL_PREFIX)
    } else if !app.container.docker.port_mappings.is_empty() {
        // Before Marathon 1.5 the mappings were under the Docker container.
        let (ports, labels) = mapped_ports(&app.container.docker.port_mappings, container_net);
        (ports, labels, PORT_MAPPING_LABEL_PREFIX)
    } else if !app.port_definitions.is_empty() {
        // Unless requirePorts, a definition's port is the service port, not the one listened
        // on: 0 here, the task's port below.
        let ports = app.port_definitions.iter().map(|d| if app.require_ports { d.port } else { 0 }).collect();
        (ports, app.port_definitions.iter().map(|d| &d.labels).collect(), PORT_DEFINITION_LABEL_PREFIX)
    } else {
        (Vec::new(), Vec::new(), "")
    };
    let mut found = Vec::with_capacity(app.tasks.len());
    for task in &app.tasks {
        // With only the tasks' ports (host networking), the first task that has ports gives
        // them for the tasks after it too, as in Prometheus: Marathon gives every task the
        // same ones.
        if ports.is_empty() && !task.ports.is_empty() {
            ports = task.ports.clone();
        }
        let host = match task.ip_addresses.first() {
            Some(address) if container_net => address.ip_address.as_str(),
            _ => task.host.as_str(),
        };
        for (i, &port) in ports.iter().enumerate() {
            // A 0 port (a mapping's or a service port) is the one Mesos chose: the task's
            // port at the same place, when the task has as many.
            let port = if port == 0 && task.ports.len() == ports.len() { task.ports[i] } else { port };
            let mut labels = BTreeMap::from([(TASK.to_string(), task.id.clone()), (PORT_INDEX.to_string(), i.to_string())]);
            if let Some(port_labels) = port_labels.get(i) {
                for (name, value) in port_labels.iter() {
                    labels.insert(format!("{prefix}{}", sanitize_label_name(name)), value.clone());
                }
            }
            found.push((join_host_port(host, port), labels));
        }
    }
    found
}

/// The ports of `mappings` (the container's own on a container network, else the host's,
/// 0 when Mesos chooses it) and their labels.
fn mapped_ports(mappings: &[PortMapping], container_net: bool) -> (Vec<u32>, Vec<&BTreeMap<String, String>>) {
    let ports = mappings.iter().map(|m| if container_net { m.container_port } else { m.host_port }).collect();
    (ports, mappings.iter().map(|m| &m.labels).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prometheus' test app: one task on mesos-slave1 of app test-service running
    /// repo/image:tag, labelled prometheus=yes, with `extra` merged into the app (or into
    /// the task under the key "task", into the container under "container").
    fn app_list_with(app: serde_json::Value) -> AppList {
        let mut base = serde_json::json!({
            "id": "test-service", "tasksRunning": 1, "labels": {"prometheus": "yes"},
            "tasks": [{"id": "test-task-1", "host": "mesos-slave1"}],
            "container": {"docker": {"image": "repo/image:tag"}},
        });
        let (Some(base_map), serde_json::Value::Object(extra)) = (base.as_object_mut(), app) else { panic!("objects") };
        for (key, value) in extra {
            match (key.as_str(), value) {
                ("task", serde_json::Value::Object(task)) => {
                    let first = &mut base_map["tasks"][0];
                    task.into_iter().for_each(|(k, v)| first[k] = v);
                }
                ("container", serde_json::Value::Object(container)) => {
                    let c = &mut base_map["container"];
                    container.into_iter().for_each(|(k, v)| c[k] = v);
                }
                (_, value) => {
                    base_map.insert(key, value);
                }
            }
        }
        app_list(serde_json::json!({"apps": [base]}).to_string().as_bytes()).expect("an app list")
    }

    /// The groups' targets with their target-level labels (the app's are checked apart).
    fn targets_of(groups: &[TargetGroup]) -> Vec<(String, BTreeMap<String, String>)> {
        groups
            .iter()
            .map(|g| {
                let own = g.labels.iter().filter(|(k, _)| !k.starts_with("__meta_marathon_app") && k.as_str() != IMAGE).map(|(k, v)| (k.clone(), v.clone())).collect();
                (g.targets[0].clone(), own)
            })
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn prometheus_cases_give_its_targets_and_port_labels() {
        let yes_mapping = ("__meta_marathon_port_mapping_label_prometheus", "yes");
        let yes_definition = ("__meta_marathon_port_definition_label_prometheus", "yes");
        let with = |index: &str, extra: &[(&str, &str)]| {
            let mut l = labels(&[(TASK, "test-task-1"), (PORT_INDEX, index)]);
            l.extend(labels(extra));
            l
        };
        // Each: the case, what is merged into the test app, the expected targets.
        type Case<'a> = (&'a str, serde_json::Value, Vec<(&'a str, BTreeMap<String, String>)>);
        let cases: Vec<Case> = vec![
            // TestMarathonSDSendGroup: an old-style Docker mapping with a fixed host port.
            ("send group", serde_json::json!({"container": {"docker": {"image": "repo/image:tag", "portMappings": [{"labels": {"prometheus": "yes"}, "hostPort": 31000}]}}}), vec![("mesos-slave1:31000", with("0", &[yes_mapping]))]),
            // TestMarathonSDSendGroupWithMultiplePort: the second mapping has no labels.
            (
                "multiple ports",
                serde_json::json!({"container": {"docker": {"image": "repo/image:tag", "portMappings": [{"labels": {"prometheus": "yes"}, "hostPort": 31000}, {"labels": {}, "hostPort": 32000}]}}}),
                vec![("mesos-slave1:31000", with("0", &[yes_mapping])), ("mesos-slave1:32000", with("1", &[]))],
            ),
            // TestMarathonZeroTaskPorts: no ports anywhere, no target.
            ("zero task ports", serde_json::json!({"task": {"id": "test-task-2", "host": "mesos-slave-2", "ports": []}}), vec![]),
            // TestMarathonSDSendGroupWithPortDefinitions: requirePorts false, the task's ports.
            (
                "port definitions",
                serde_json::json!({"task": {"ports": [1234, 5678]}, "requirePorts": false, "portDefinitions": [{"labels": {}, "port": 31000}, {"labels": {"prometheus": "yes"}, "port": 32000}]}),
                vec![("mesos-slave1:1234", with("0", &[])), ("mesos-slave1:5678", with("1", &[yes_definition]))],
            ),
            // TestMarathonSDSendGroupWithPortDefinitionsRequirePorts: the definitions' ports.
            (
                "port definitions, require ports",
                serde_json::json!({"task": {"ports": [31000, 32000]}, "requirePorts": true, "portDefinitions": [{"labels": {}, "port": 31000}, {"labels": {"prometheus": "yes"}, "port": 32000}]}),
                vec![("mesos-slave1:31000", with("0", &[])), ("mesos-slave1:32000", with("1", &[yes_definition]))],
            ),
            // TestMarathonSDSendGroupWithPorts: host networking, only the task's ports.
            ("task ports", serde_json::json!({"task": {"ports": [31000, 32000]}}), vec![("mesos-slave1:31000", with("0", &[])), ("mesos-slave1:32000", with("1", &[]))]),
            // TestMarathonSDSendGroupWithContainerPortMappings: a 0 host port is the task's.
            (
                "container port mappings",
                serde_json::json!({"task": {"ports": [12345, 32000]}, "container": {"portMappings": [{"labels": {"prometheus": "yes"}, "hostPort": 0}, {"labels": {}, "hostPort": 32000}]}}),
                vec![("mesos-slave1:12345", with("0", &[yes_mapping])), ("mesos-slave1:32000", with("1", &[]))],
            ),
            // TestMarathonSDSendGroupWithDockerContainerPortMappings.
            (
                "docker container port mappings",
                serde_json::json!({"task": {"ports": [31000, 12345]}, "container": {"docker": {"image": "repo/image:tag", "portMappings": [{"labels": {"prometheus": "yes"}, "hostPort": 31000}, {"labels": {}, "hostPort": 0}]}}}),
                vec![("mesos-slave1:31000", with("0", &[yes_mapping])), ("mesos-slave1:12345", with("1", &[]))],
            ),
            // TestMarathonSDSendGroupWithContainerNetworkAndPortMapping: the container's
            // address and ports.
            (
                "container network",
                serde_json::json!({
                    "task": {"ipAddresses": [{"ipAddress": "1.2.3.4"}]},
                    "container": {"portMappings": [{"labels": {"prometheus": "yes"}, "containerPort": 8080, "hostPort": 31000}, {"labels": {}, "containerPort": 1234, "hostPort": 32000}]},
                    "networks": [{"mode": "container", "name": "test-network"}],
                }),
                vec![("1.2.3.4:8080", with("0", &[yes_mapping])), ("1.2.3.4:1234", with("1", &[]))],
            ),
        ];
        for (name, app, expected) in cases {
            let groups = groups(&app_list_with(app));
            let expected: Vec<(String, BTreeMap<String, String>)> = expected.into_iter().map(|(a, l)| (a.to_string(), l)).collect();
            assert_eq!(targets_of(&groups), expected, "{name}");
            for group in &groups {
                let app_labels: BTreeMap<&str, &str> = group.labels.iter().filter(|(k, _)| k.starts_with("__meta_marathon_app") || k.as_str() == IMAGE).map(|(k, v)| (k.as_str(), v.as_str())).collect();
                assert_eq!(app_labels, BTreeMap::from([(APP, "test-service"), (IMAGE, "repo/image:tag"), ("__meta_marathon_app_label_prometheus", "yes")]), "{name}");
            }
        }
    }

    #[test]
    fn an_empty_list_and_an_app_without_tasks_give_no_targets() {
        // TestMarathonSDEmptyList and TestMarathonSDRemoveApp (an app whose tasks are gone).
        assert!(groups(&app_list(b"{}").expect("empty")).is_empty());
        assert!(groups(&app_list(br#"{"apps": null}"#).expect("null")).is_empty());
        assert!(groups(&app_list(br#"{"apps": [{"id": "/gone", "tasks": []}]}"#).expect("no tasks")).is_empty());
    }

    #[test]
    fn label_names_are_sanitized_empty_values_dropped_and_the_last_app_of_an_id_counts() {
        let body = br#"{"apps": [
            {"id": "/web", "labels": {"old": "x"}, "tasks": [{"id": "t0", "host": "h0", "ports": [1]}]},
            {"id": "/api", "labels": {"HAPROXY.group": "ext", "empty": ""}, "container": {"type": "MESOS", "docker": null,
             "portMappings": [{"containerPort": 80, "hostPort": 0, "labels": {"metrics-path": "/m"}}]},
             "tasks": [{"id": "t1", "host": "h1", "ports": [31001], "ipAddresses": null}, {"id": "t2", "host": "fe80::1", "ports": [31002, 31003]}]},
            {"id": "/web", "tasks": [{"id": "t3", "host": "h3", "ports": [9000]}]}
        ]}"#;
        let groups = groups(&app_list(body).expect("valid"));
        let seen: Vec<(&str, &BTreeMap<String, String>)> = groups.iter().map(|g| (g.targets[0].as_str(), &g.labels)).collect();
        assert_eq!(seen.len(), 3, "{seen:?}");
        assert_eq!(seen[0].0, "h3:9000", "the second /web replaces the first, at its place");
        assert_eq!(seen[0].1, &labels(&[(APP, "/web"), (TASK, "t3"), (PORT_INDEX, "0")]));
        assert_eq!(seen[1].0, "h1:31001");
        let api = labels(&[(APP, "/api"), (TASK, "t1"), (PORT_INDEX, "0"), ("__meta_marathon_app_label_HAPROXY_group", "ext"), ("__meta_marathon_port_mapping_label_metrics_path", "/m")]);
        assert_eq!(seen[1].1, &api);
        // Two task ports for one mapping: the 0 stays 0, as Prometheus leaves it.
        assert_eq!(seen[2].0, "[fe80::1]:0");
    }

    #[test]
    fn the_first_tasks_ports_serve_the_tasks_after_it() {
        let body = br#"{"apps": [{"id": "/a", "tasks": [{"id": "t1", "host": "h1"}, {"id": "t2", "host": "h2", "ports": [7, 8]}, {"id": "t3", "host": "h3", "ports": [9]}]}]}"#;
        let groups = groups(&app_list(body).expect("valid"));
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["h2:7", "h2:8", "h3:7", "h3:8"]);
    }

    #[test]
    fn an_answer_that_is_not_an_app_list_is_an_error() {
        assert!(app_list(b"<html>").is_err());
        assert!(app_list(br#"{"apps": [{"id": "/a", "tasks": [{"ports": [-1]}]}]}"#).is_err(), "Go refuses a negative uint32 too");
    }
}
