//! Turns what `ecs` learned of one cluster (the cluster, its services by name, its tasks,
//! their container instances' EC2 instances and their network interfaces' public IPs) into
//! targets labelled as Prometheus' ECS discovery labels them; and reads the two EC2 Query API
//! answers that lookup needs (`DescribeInstances`, `DescribeNetworkInterfaces`). Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use roxmltree::Document;

use super::{list, text};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};
use crate::scrape::ec2_sd::instances::{child, child_text, children_named};

const CLUSTER: &str = "__meta_ecs_cluster";
const CLUSTER_ARN: &str = "__meta_ecs_cluster_arn";
const SERVICE: &str = "__meta_ecs_service";
const SERVICE_ARN: &str = "__meta_ecs_service_arn";
const SERVICE_STATUS: &str = "__meta_ecs_service_status";
const TASK_GROUP: &str = "__meta_ecs_task_group";
const TASK_ARN: &str = "__meta_ecs_task_arn";
const TASK_DEFINITION: &str = "__meta_ecs_task_definition";
const REGION: &str = "__meta_ecs_region";
const AVAILABILITY_ZONE: &str = "__meta_ecs_availability_zone";
const SUBNET_ID: &str = "__meta_ecs_subnet_id";
const IP_ADDRESS: &str = "__meta_ecs_ip_address";
const LAUNCH_TYPE: &str = "__meta_ecs_launch_type";
const DESIRED_STATUS: &str = "__meta_ecs_desired_status";
const LAST_STATUS: &str = "__meta_ecs_last_status";
const HEALTH_STATUS: &str = "__meta_ecs_health_status";
const PLATFORM_FAMILY: &str = "__meta_ecs_platform_family";
const PLATFORM_VERSION: &str = "__meta_ecs_platform_version";
const TAG_CLUSTER: &str = "__meta_ecs_tag_cluster_";
const TAG_SERVICE: &str = "__meta_ecs_tag_service_";
const TAG_TASK: &str = "__meta_ecs_tag_task_";
const TAG_EC2: &str = "__meta_ecs_tag_ec2_";
const NETWORK_MODE: &str = "__meta_ecs_network_mode";
const CONTAINER_INSTANCE_ARN: &str = "__meta_ecs_container_instance_arn";
const EC2_INSTANCE_ID: &str = "__meta_ecs_ec2_instance_id";
const EC2_INSTANCE_TYPE: &str = "__meta_ecs_ec2_instance_type";
const EC2_INSTANCE_PRIVATE_IP: &str = "__meta_ecs_ec2_instance_private_ip";
const EC2_INSTANCE_PUBLIC_IP: &str = "__meta_ecs_ec2_instance_public_ip";
const PUBLIC_IP: &str = "__meta_ecs_public_ip";

/// The attachment type of a task's own network interface.
const ENI_ATTACHMENT: &str = "ElasticNetworkInterface";

/// What `DescribeInstances` says of a container instance's EC2 instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ec2Host {
    pub private_ip: String,
    pub public_ip: String,
    pub subnet_id: String,
    pub instance_type: String,
    pub tags: BTreeMap<String, String>,
}

/// What is known of one cluster when its targets are made.
pub struct ClusterFacts<'a> {
    pub region: &'a str,
    pub port: u16,
    /// DescribeClusters' cluster (None: not described; its labels are left out).
    pub cluster: Option<&'a serde_json::Value>,
    /// DescribeServices' services by name.
    pub services: &'a HashMap<String, serde_json::Value>,
    /// Container instance ARN to EC2 instance ID.
    pub container_instances: &'a HashMap<String, String>,
    pub hosts: &'a HashMap<String, Ec2Host>,
    /// Network interface ID to its public IP.
    pub interface_public_ips: &'a HashMap<String, String>,
}

/// The network interface ID of a task's ENI attachment, if it has one.
pub fn interface_id(task: &serde_json::Value) -> Option<&str> {
    let attachment = list(task, "attachments").iter().find(|a| text(a, "type") == Some(ENI_ATTACHMENT))?;
    list(attachment, "details").iter().find(|d| text(d, "name") == Some("networkInterfaceId")).and_then(|d| text(d, "value"))
}

/// The target of one of the cluster's tasks (a DescribeTasks task), None when it has no address.
/// A task with an `ElasticNetworkInterface` attachment is `awsvpc`: its address is the
/// interface's private IPv4 and its public IP the interface's; a task on a container instance
/// without one is `bridge`: its address is the EC2 instance's private IP. A task with neither
/// address is no target. Absent optional fields leave their labels out, as in Prometheus.
pub fn task_target(facts: &ClusterFacts<'_>, task: &serde_json::Value) -> Option<TargetGroup> {
    let (mut ip_address, mut subnet_id, mut public_ip, mut network_mode) = ("", "", "", "");
    let mut ec2_instance_id = "";
    let mut host: Option<&Ec2Host> = None;
    let container_instance = text(task, "containerInstanceArn");
    let on_instance = || container_instance.and_then(|arn| facts.container_instances.get(arn)).map(|id| (id.as_str(), facts.hosts.get(id)));
    if let Some(attachment) = list(task, "attachments").iter().find(|a| text(a, "type") == Some(ENI_ATTACHMENT)) {
        network_mode = "awsvpc";
        let mut interface = "";
        for detail in list(attachment, "details") {
            // Name and Value are optional: such a detail is skipped.
            let (Some(name), Some(value)) = (text(detail, "name"), text(detail, "value")) else { continue };
            match name {
                "privateIPv4Address" => ip_address = value,
                "subnetId" => subnet_id = value,
                "networkInterfaceId" => interface = value,
                _ => {}
            }
        }
        if let Some(ip) = facts.interface_public_ips.get(interface) {
            public_ip = ip;
        }
        // On an EC2 container instance the host's facts are told too, not its address.
        if let Some((id, found)) = on_instance() {
            ec2_instance_id = id;
            host = found;
        }
    } else if container_instance.is_some() {
        network_mode = "bridge";
        if let Some((id, found)) = on_instance() {
            ec2_instance_id = id;
            host = found;
            if let Some(found) = found {
                (ip_address, public_ip, subnet_id) = (&found.private_ip, &found.public_ip, &found.subnet_id);
            }
        }
    }
    if ip_address.is_empty() {
        return None;
    }
    let mut labels = BTreeMap::new();
    let mut set = |name: &str, value: &str| {
        labels.insert(name.to_string(), value.to_string());
    };
    set(IP_ADDRESS, ip_address);
    set(REGION, facts.region);
    // Enums in the SDK, so always told ("" when absent).
    set(LAUNCH_TYPE, text(task, "launchType").unwrap_or(""));
    set(HEALTH_STATUS, text(task, "healthStatus").unwrap_or(""));
    set(NETWORK_MODE, network_mode);
    if let Some(cluster) = facts.cluster {
        for (label, key) in [(CLUSTER_ARN, "clusterArn"), (CLUSTER, "clusterName")] {
            if let Some(value) = text(cluster, key) {
                set(label, value);
            }
        }
    }
    for (label, key) in [(TASK_GROUP, "group"), (TASK_ARN, "taskArn"), (TASK_DEFINITION, "taskDefinitionArn"), (AVAILABILITY_ZONE, "availabilityZone"), (DESIRED_STATUS, "desiredStatus"), (LAST_STATUS, "lastStatus")] {
        if let Some(value) = text(task, key) {
            set(label, value);
        }
    }
    let (instance_type, instance_private_ip, instance_public_ip) = host.map_or(("", "", ""), |h| (h.instance_type.as_str(), h.private_ip.as_str(), h.public_ip.as_str()));
    for (label, value) in [(SUBNET_ID, subnet_id), (CONTAINER_INSTANCE_ARN, container_instance.unwrap_or("")), (EC2_INSTANCE_ID, ec2_instance_id), (EC2_INSTANCE_TYPE, instance_type), (EC2_INSTANCE_PRIVATE_IP, instance_private_ip), (EC2_INSTANCE_PUBLIC_IP, instance_public_ip), (PUBLIC_IP, public_ip)] {
        if !value.is_empty() {
            set(label, value);
        }
    }
    for (label, key) in [(PLATFORM_FAMILY, "platformFamily"), (PLATFORM_VERSION, "platformVersion")] {
        if let Some(value) = text(task, key) {
            set(label, value);
        }
    }
    let tags = |prefix: &str, of: &serde_json::Value, set: &mut dyn FnMut(&str, &str)| {
        for tag in list(of, "tags") {
            if let (Some(key), Some(value)) = (text(tag, "key"), text(tag, "value")) {
                set(&format!("{prefix}{}", sanitize_label_name(key)), value);
            }
        }
    };
    if let Some(cluster) = facts.cluster {
        tags(TAG_CLUSTER, cluster, &mut set);
    }
    // A service's task: its group is `service:<name>`.
    if let Some(service) = text(task, "group").and_then(|g| g.strip_prefix("service:")).and_then(|name| facts.services.get(name)) {
        for (label, key) in [(SERVICE, "serviceName"), (SERVICE_ARN, "serviceArn"), (SERVICE_STATUS, "status")] {
            if let Some(value) = text(service, key) {
                set(label, value);
            }
        }
        tags(TAG_SERVICE, service, &mut set);
    }
    tags(TAG_TASK, task, &mut set);
    if let Some(host) = host {
        for (key, value) in &host.tags {
            set(&format!("{TAG_EC2}{}", sanitize_label_name(key)), value);
        }
    }
    Some(TargetGroup { targets: vec![join_host_port(ip_address, facts.port)], labels })
}

/// A `DescribeInstances` page's instances that have an ID and a private IP, by ID, and the
/// next page's token.
pub fn read_hosts(xml: &str) -> Result<(HashMap<String, Ec2Host>, Option<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("the DescribeInstances answer is not XML: {e}"))?;
    let root = doc.root_element();
    let mut hosts = HashMap::new();
    for reservation in child(root, "reservationSet").into_iter().flat_map(|set| children_named(set, "item")) {
        for instance in child(reservation, "instancesSet").into_iter().flat_map(|set| children_named(set, "item")) {
            let (Some(id), Some(private_ip)) = (child_text(instance, "instanceId"), child_text(instance, "privateIpAddress")) else { continue };
            let mut tags = BTreeMap::new();
            for tag in child(instance, "tagSet").into_iter().flat_map(|set| children_named(set, "item")) {
                if let (Some(key), Some(value)) = (child_text(tag, "key"), child_text(tag, "value")) {
                    tags.insert(key, value);
                }
            }
            let host = Ec2Host { private_ip, public_ip: child_text(instance, "ipAddress").unwrap_or_default(), subnet_id: child_text(instance, "subnetId").unwrap_or_default(), instance_type: child_text(instance, "instanceType").unwrap_or_default(), tags };
            hosts.insert(id, host);
        }
    }
    Ok((hosts, child_text(root, "nextToken").filter(|t| !t.is_empty())))
}

/// A `DescribeNetworkInterfaces` page's public IPs by interface ID, and the next page's token.
pub fn read_interface_public_ips(xml: &str) -> Result<(HashMap<String, String>, Option<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("the DescribeNetworkInterfaces answer is not XML: {e}"))?;
    let root = doc.root_element();
    let mut ips = HashMap::new();
    for interface in child(root, "networkInterfaceSet").into_iter().flat_map(|set| children_named(set, "item")) {
        let public_ip = child(interface, "association").and_then(|a| child_text(a, "publicIp"));
        if let (Some(id), Some(ip)) = (child_text(interface, "networkInterfaceId"), public_ip) {
            ips.insert(id, ip);
        }
    }
    Ok((ips, child_text(root, "nextToken").filter(|t| !t.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CLUSTER_A: &str = "arn:aws:ecs:us-west-2:123456789012:cluster/test-cluster";

    fn eni(subnet: &str, ip: &str, id: &str) -> serde_json::Value {
        json!([{"type": "ElasticNetworkInterface", "details": [{"name": "subnetId", "value": subnet}, {"name": "privateIPv4Address", "value": ip}, {"name": "networkInterfaceId", "value": id}]}])
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    struct Case {
        cluster: serde_json::Value,
        services: Vec<serde_json::Value>,
        task: serde_json::Value,
        container_instances: Vec<(&'static str, &'static str)>,
        hosts: Vec<(&'static str, Ec2Host)>,
        interface_ips: Vec<(&'static str, &'static str)>,
    }

    fn target(case: &Case) -> Option<(Vec<String>, BTreeMap<String, String>)> {
        let services = case.services.iter().map(|s| (text(s, "serviceName").unwrap_or("").to_string(), s.clone())).collect();
        let container_instances = case.container_instances.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let hosts = case.hosts.iter().map(|(id, h)| (id.to_string(), h.clone())).collect();
        let interface_public_ips = case.interface_ips.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let facts = ClusterFacts { region: "us-west-2", port: 80, cluster: Some(&case.cluster), services: &services, container_instances: &container_instances, hosts: &hosts, interface_public_ips: &interface_public_ips };
        task_target(&facts, &case.task).map(|g| (g.targets, g.labels))
    }

    fn host(private_ip: &str, public_ip: &str, subnet: &str, kind: &str, tags: &[(&str, &str)]) -> Ec2Host {
        Ec2Host { private_ip: private_ip.into(), public_ip: public_ip.into(), subnet_id: subnet.into(), instance_type: kind.into(), tags: labels(tags) }
    }

    fn service(name: &str) -> serde_json::Value {
        json!({"serviceName": name, "serviceArn": format!("arn:aws:ecs:us-west-2:123456789012:service/test-cluster/{name}"), "status": "ACTIVE"})
    }

    fn task(name: &str, group: &str, launch: &str, zone: &str) -> serde_json::Value {
        json!({"taskArn": format!("arn:aws:ecs:us-west-2:123456789012:task/test-cluster/{name}"), "clusterArn": CLUSTER_A, "taskDefinitionArn": "arn:aws:ecs:us-west-2:123456789012:task-definition/t:1", "group": group, "launchType": launch, "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "healthStatus": "HEALTHY", "availabilityZone": zone})
    }

    /// The labels every task of these cases shares.
    fn common(name: &str, group: &str, launch: &str, zone: &str, mode: &str) -> Vec<(&'static str, String)> {
        vec![
            (CLUSTER, "test-cluster".into()),
            (CLUSTER_ARN, CLUSTER_A.into()),
            (TASK_GROUP, group.into()),
            (TASK_ARN, format!("arn:aws:ecs:us-west-2:123456789012:task/test-cluster/{name}")),
            (TASK_DEFINITION, "arn:aws:ecs:us-west-2:123456789012:task-definition/t:1".into()),
            (REGION, "us-west-2".into()),
            (AVAILABILITY_ZONE, zone.into()),
            (LAUNCH_TYPE, launch.into()),
            (DESIRED_STATUS, "RUNNING".into()),
            (LAST_STATUS, "RUNNING".into()),
            (HEALTH_STATUS, "HEALTHY".into()),
            (NETWORK_MODE, mode.into()),
        ]
    }

    fn with(mut base: Vec<(&'static str, String)>, more: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = base.drain(..).map(|(n, v)| (n.to_string(), v)).collect();
        all.extend(labels(more));
        all
    }

    #[test]
    fn a_fargate_service_task_has_its_interface_service_and_tags() {
        // Prometheus' SingleClusterWithTasks.
        let mut t = task("task-1", "service:web-service", "FARGATE", "us-west-2a");
        t["platformFamily"] = json!("Linux");
        t["platformVersion"] = json!("1.4.0");
        t["attachments"] = eni("subnet-12345", "10.0.1.100", "eni-fargate-123");
        t["tags"] = json!([{"key": "Version", "value": "v1.0"}]);
        let mut s = service("web-service");
        s["tags"] = json!([{"key": "App", "value": "web"}]);
        let case = Case { cluster: json!({"clusterName": "test-cluster", "clusterArn": CLUSTER_A, "status": "ACTIVE", "tags": [{"key": "Environment", "value": "test"}]}), services: vec![s], task: t, container_instances: vec![], hosts: vec![], interface_ips: vec![("eni-fargate-123", "52.1.2.3")] };
        let expected = with(
            common("task-1", "service:web-service", "FARGATE", "us-west-2a", "awsvpc"),
            &[
                (SERVICE, "web-service"),
                (SERVICE_ARN, "arn:aws:ecs:us-west-2:123456789012:service/test-cluster/web-service"),
                (SERVICE_STATUS, "ACTIVE"),
                (SUBNET_ID, "subnet-12345"),
                (IP_ADDRESS, "10.0.1.100"),
                (PLATFORM_FAMILY, "Linux"),
                (PLATFORM_VERSION, "1.4.0"),
                (PUBLIC_IP, "52.1.2.3"),
                ("__meta_ecs_tag_cluster_Environment", "test"),
                ("__meta_ecs_tag_service_App", "web"),
                ("__meta_ecs_tag_task_Version", "v1.0"),
            ],
        );
        assert_eq!(target(&case), Some((vec!["10.0.1.100:80".to_string()], expected)));
    }

    #[test]
    fn a_standalone_task_has_no_service_labels() {
        // Prometheus' StandaloneTaskWithCustomGroup.
        let mut t = task("task-standalone", "batch-jobs", "FARGATE", "us-west-2a");
        t["attachments"] = eni("subnet-standalone-1", "10.0.4.10", "eni-standalone-123");
        t["tags"] = json!([{"key": "Role", "value": "batch"}]);
        let case = Case { cluster: json!({"clusterName": "test-cluster", "clusterArn": CLUSTER_A}), services: vec![service("batch-jobs")], task: t, container_instances: vec![], hosts: vec![], interface_ips: vec![("eni-standalone-123", "52.4.5.6")] };
        let expected = with(common("task-standalone", "batch-jobs", "FARGATE", "us-west-2a", "awsvpc"), &[(SUBNET_ID, "subnet-standalone-1"), (IP_ADDRESS, "10.0.4.10"), (PUBLIC_IP, "52.4.5.6"), ("__meta_ecs_tag_task_Role", "batch")]);
        assert_eq!(target(&case), Some((vec!["10.0.4.10:80".to_string()], expected)));
    }

    #[test]
    fn a_bridge_task_takes_its_ec2_hosts_address_and_tags() {
        // Prometheus' TaskWithBridgeNetworking.
        let ci = "arn:aws:ecs:us-west-2:123456789012:container-instance/test-cluster/abc123";
        let mut t = task("task-bridge", "service:bridge-service", "EC2", "us-west-2a");
        t["containerInstanceArn"] = json!(ci);
        t["attachments"] = json!([]);
        let case = Case {
            cluster: json!({"clusterName": "test-cluster", "clusterArn": CLUSTER_A}),
            services: vec![service("bridge-service")],
            task: t,
            container_instances: vec![(ci, "i-1234567890abcdef0")],
            hosts: vec![("i-1234567890abcdef0", host("10.0.1.50", "54.1.2.3", "subnet-bridge-1", "t3.medium", &[("Name", "ecs-host-1"), ("Environment", "production")]))],
            interface_ips: vec![],
        };
        let expected = with(
            common("task-bridge", "service:bridge-service", "EC2", "us-west-2a", "bridge"),
            &[
                (SERVICE, "bridge-service"),
                (SERVICE_ARN, "arn:aws:ecs:us-west-2:123456789012:service/test-cluster/bridge-service"),
                (SERVICE_STATUS, "ACTIVE"),
                (IP_ADDRESS, "10.0.1.50"),
                (SUBNET_ID, "subnet-bridge-1"),
                (CONTAINER_INSTANCE_ARN, ci),
                (EC2_INSTANCE_ID, "i-1234567890abcdef0"),
                (EC2_INSTANCE_TYPE, "t3.medium"),
                (EC2_INSTANCE_PRIVATE_IP, "10.0.1.50"),
                (EC2_INSTANCE_PUBLIC_IP, "54.1.2.3"),
                (PUBLIC_IP, "54.1.2.3"),
                ("__meta_ecs_tag_ec2_Name", "ecs-host-1"),
                ("__meta_ecs_tag_ec2_Environment", "production"),
            ],
        );
        assert_eq!(target(&case), Some((vec!["10.0.1.50:80".to_string()], expected)));
    }

    #[test]
    fn an_awsvpc_task_on_ec2_keeps_its_interface_address_and_tells_the_host() {
        // Prometheus' EC2WithAwsvpcNetworking: the host's IP and subnet are not the task's.
        let ci = "arn:aws:ecs:us-west-2:123456789012:container-instance/test-cluster/def456";
        let mut t = task("task-ec2-awsvpc", "service:svc", "EC2", "us-west-2c");
        t["containerInstanceArn"] = json!(ci);
        t["attachments"] = eni("subnet-99999", "10.0.3.200", "eni-ec2-awsvpc");
        let case = Case {
            cluster: json!({"clusterName": "test-cluster", "clusterArn": CLUSTER_A}),
            services: vec![service("svc")],
            task: t,
            container_instances: vec![(ci, "i-ec2awsvpcinstance")],
            hosts: vec![("i-ec2awsvpcinstance", host("10.0.9.99", "54.3.4.5", "subnet-wrong", "c5.2xlarge", &[("Name", "ec2-awsvpc-host"), ("Owner", "team-a")]))],
            interface_ips: vec![("eni-ec2-awsvpc", "52.3.4.5")],
        };
        let expected = with(
            common("task-ec2-awsvpc", "service:svc", "EC2", "us-west-2c", "awsvpc"),
            &[
                (SERVICE, "svc"),
                (SERVICE_ARN, "arn:aws:ecs:us-west-2:123456789012:service/test-cluster/svc"),
                (SERVICE_STATUS, "ACTIVE"),
                (IP_ADDRESS, "10.0.3.200"),
                (SUBNET_ID, "subnet-99999"),
                (CONTAINER_INSTANCE_ARN, ci),
                (EC2_INSTANCE_ID, "i-ec2awsvpcinstance"),
                (EC2_INSTANCE_TYPE, "c5.2xlarge"),
                (EC2_INSTANCE_PRIVATE_IP, "10.0.9.99"),
                (EC2_INSTANCE_PUBLIC_IP, "54.3.4.5"),
                (PUBLIC_IP, "52.3.4.5"),
                ("__meta_ecs_tag_ec2_Name", "ec2-awsvpc-host"),
                ("__meta_ecs_tag_ec2_Owner", "team-a"),
            ],
        );
        assert_eq!(target(&case), Some((vec!["10.0.3.200:80".to_string()], expected)));
    }

    #[test]
    fn tasks_without_an_address_are_no_targets_and_absent_fields_drop_their_labels() {
        // Prometheus' TaskWithoutENI: no attachment, no container instance.
        let mut t = task("task-1", "service:service-1", "EC2", "us-west-2a");
        t["attachments"] = json!([]);
        let case = Case { cluster: json!({"clusterArn": CLUSTER_A}), services: vec![], task: t, container_instances: vec![], hosts: vec![], interface_ips: vec![] };
        assert_eq!(target(&case), None);
        // TaskWithNilOptionalFields: details without a name or value are skipped, and only
        // the labels of the fields present are told (launch type and health always).
        let t = json!({"attachments": [{"type": "ElasticNetworkInterface", "details": [{"name": "subnetId"}, {"value": "x"}, {"name": "privateIPv4Address", "value": "10.0.5.5"}]}]});
        let case = Case { cluster: json!({}), services: vec![], task: t, container_instances: vec![], hosts: vec![], interface_ips: vec![] };
        let expected = labels(&[(IP_ADDRESS, "10.0.5.5"), (REGION, "us-west-2"), (LAUNCH_TYPE, ""), (HEALTH_STATUS, ""), (NETWORK_MODE, "awsvpc")]);
        assert_eq!(target(&case), Some((vec!["10.0.5.5:80".to_string()], expected)));
    }

    #[test]
    fn reads_ec2_hosts_and_interface_public_ips() {
        let xml = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><reservationSet><item><instancesSet>
            <item><instanceId>i-1</instanceId><instanceType>t3.medium</instanceType><privateIpAddress>10.0.1.50</privateIpAddress><ipAddress>54.1.2.3</ipAddress><subnetId>subnet-1</subnetId><tagSet><item><key>Name</key><value>host-1</value></item></tagSet></item>
            <item><instanceId>i-2</instanceId></item>
            </instancesSet></item></reservationSet><nextToken>more</nextToken></DescribeInstancesResponse>"#;
        let (hosts, token) = read_hosts(xml).expect("instances");
        assert_eq!(token.as_deref(), Some("more"));
        assert_eq!(hosts.len(), 1, "an instance without a private IP is left out");
        assert_eq!(hosts["i-1"], host("10.0.1.50", "54.1.2.3", "subnet-1", "t3.medium", &[("Name", "host-1")]));
        let xml = r#"<DescribeNetworkInterfacesResponse><networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><association><publicIp>52.1.2.3</publicIp></association></item><item><networkInterfaceId>eni-2</networkInterfaceId></item></networkInterfaceSet></DescribeNetworkInterfacesResponse>"#;
        let (ips, token) = read_interface_public_ips(xml).expect("interfaces");
        assert_eq!((ips.len(), ips.get("eni-1").map(String::as_str), token), (1, Some("52.1.2.3"), None));
    }
}
