//! `aws_sd_configs` role `msk`, asked as Prometheus' MSK discovery asks, over MSK's REST-JSON
//! API (SigV4 for `kafka`): the brokers and controllers of provisioned MSK clusters, each
//! endpoint a target with Prometheus' `__meta_msk_*` labels. Any failure fails the refresh.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{list, text, AwsSd, Session};
use crate::scrape::aws::credentials::Lookup;
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

const CLUSTER_NAME: &str = "__meta_msk_cluster_name";
const CLUSTER_ARN: &str = "__meta_msk_cluster_arn";
const CLUSTER_STATE: &str = "__meta_msk_cluster_state";
const CLUSTER_TYPE: &str = "__meta_msk_cluster_type";
const CLUSTER_VERSION: &str = "__meta_msk_cluster_version";
const CLUSTER_JMX_EXPORTER_ENABLED: &str = "__meta_msk_cluster_jmx_exporter_enabled";
const CLUSTER_CONFIGURATION_ARN: &str = "__meta_msk_cluster_configuration_arn";
const CLUSTER_CONFIGURATION_REVISION: &str = "__meta_msk_cluster_configuration_revision";
const CLUSTER_KAFKA_VERSION: &str = "__meta_msk_cluster_kafka_version";
const CLUSTER_TAG: &str = "__meta_msk_cluster_tag_";
const NODE_TYPE: &str = "__meta_msk_node_type";
const NODE_ARN: &str = "__meta_msk_node_arn";
const NODE_ADDED_TIME: &str = "__meta_msk_node_added_time";
const NODE_INSTANCE_TYPE: &str = "__meta_msk_node_instance_type";
const NODE_ATTACHED_ENI: &str = "__meta_msk_node_attached_eni";
const BROKER_ENDPOINT_INDEX: &str = "__meta_msk_broker_endpoint_index";
const BROKER_ID: &str = "__meta_msk_broker_id";
const BROKER_CLIENT_SUBNET: &str = "__meta_msk_broker_client_subnet";
const BROKER_CLIENT_VPC_IP: &str = "__meta_msk_broker_client_vpc_ip";
const BROKER_NODE_EXPORTER_ENABLED: &str = "__meta_msk_broker_node_exporter_enabled";
const CONTROLLER_ENDPOINT_INDEX: &str = "__meta_msk_controller_endpoint_index";

/// The signing name, and the variable naming MSK's endpoint.
const SERVICE: (&str, &str) = ("kafka", "AWS_ENDPOINT_URL_KAFKA");
/// The page size Prometheus asks for.
const PAGE_SIZE: &str = "100";
/// The most pages one listing reads (a token that never ends stops here).
const PAGES_MAX: usize = 10_000;

/// The targets of the entry's MSK clusters' nodes: once, a bare `ListClustersV2` to test the
/// keys; then each refresh the `clusters` given (`DescribeClusterV2` each; a cluster that is
/// not provisioned is skipped with a warning) or every provisioned one (`ListClustersV2`, 100 a
/// page), and each cluster's nodes (`ListNodes`, 100 a page).
pub async fn ask(session: &mut Session, sd: &AwsSd, configured: &[String], lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    session.prepare(sd, lookup).await?;
    if !session.checked {
        // Once, as Prometheus tests the keys when it makes its client.
        session.checked = true;
        get(session, sd, lookup, &["api", "v2", "clusters"], &[]).await.map_err(|e| format!("MSK credential test failed: {e}"))?;
    }
    let mut clusters = Vec::new();
    if configured.is_empty() {
        let filter = [("clusterTypeFilter".to_string(), "PROVISIONED".to_string())];
        clusters = paged(session, sd, lookup, &["api", "v2", "clusters"], &filter, "clusterInfoList").await.map_err(|e| format!("could not list clusters: {e}"))?;
    } else {
        for arn in configured {
            let answer = get(session, sd, lookup, &["api", "v2", "clusters", arn], &[]).await.map_err(|e| format!("could not describe cluster {arn}: {e}"))?;
            let info = answer.get("clusterInfo").cloned().unwrap_or_default();
            match text(&info, "clusterType") {
                Some("PROVISIONED") => clusters.push(info),
                kind => tracing::warn!(cluster = %arn, kind = kind.unwrap_or(""), "aws_sd msk: skipping a cluster that is not provisioned"),
            }
        }
    }
    let mut groups = Vec::new();
    for cluster in &clusters {
        let arn = text(cluster, "clusterArn").unwrap_or("");
        let nodes = paged(session, sd, lookup, &["v1", "clusters", arn, "nodes"], &[], "nodeInfoList").await.map_err(|e| format!("could not list nodes for cluster {arn}: {e}"))?;
        for node in &nodes {
            groups.extend(node_targets(cluster, node, sd.port));
        }
    }
    Ok(groups)
}

async fn get(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, segments: &[&str], query: &[(String, String)]) -> Result<Value, String> {
    session.call_rest(sd, lookup, SERVICE, segments, query).await.map_err(|e| e.to_string())
}

/// Every page of a listing: the items under `key` of each answer.
async fn paged(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, segments: &[&str], query: &[(String, String)], key: &str) -> Result<Vec<Value>, String> {
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let mut query = query.to_vec();
        query.push(("maxResults".to_string(), PAGE_SIZE.to_string()));
        if let Some(token) = &token {
            query.push(("nextToken".to_string(), token.clone()));
        }
        let answer = get(session, sd, lookup, segments, &query).await?;
        found.extend(list(&answer, key).iter().cloned());
        match text(&answer, "nextToken") {
            Some(next) => token = Some(next.to_string()),
            None => return Ok(found),
        }
    }
    Err(format!("more than {PAGES_MAX} pages"))
}

/// The value at `path` below `value` (Null when absent).
fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
    path.iter().fold(value, |here, key| here.get(key).unwrap_or(&Value::Null))
}

/// A JSON string as told, "" when absent (Go's `aws.ToString`).
fn told(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

/// A JSON boolean as Go's `strconv.FormatBool(aws.ToBool(…))` tells it.
fn told_bool(value: &Value) -> String {
    value.as_bool().unwrap_or(false).to_string()
}

/// The targets of one node of `cluster`: one per endpoint of a broker or controller, on `port`.
/// A cluster without the provisioned details tells them as empty (Prometheus would panic).
pub fn node_targets(cluster: &Value, node: &Value, port: u16) -> Vec<TargetGroup> {
    let software = at(cluster, &["provisioned", "currentBrokerSoftwareInfo"]);
    let monitoring = at(cluster, &["provisioned", "openMonitoring", "prometheus"]);
    let mut labels = BTreeMap::new();
    for (label, value) in [
        (CLUSTER_NAME, &cluster["clusterName"]),
        (CLUSTER_ARN, &cluster["clusterArn"]),
        (CLUSTER_STATE, &cluster["state"]),
        (CLUSTER_TYPE, &cluster["clusterType"]),
        (CLUSTER_VERSION, &cluster["currentVersion"]),
        (NODE_ARN, &node["nodeARN"]),
        (NODE_ADDED_TIME, &node["addedToClusterTime"]),
        (NODE_INSTANCE_TYPE, &node["instanceType"]),
        (CLUSTER_KAFKA_VERSION, &software["kafkaVersion"]),
    ] {
        labels.insert(label.to_string(), told(value));
    }
    // Left out without a custom configuration.
    if let Some(arn) = software.get("configurationArn").and_then(Value::as_str) {
        labels.insert(CLUSTER_CONFIGURATION_ARN.to_string(), arn.to_string());
    }
    if let Some(revision) = software.get("configurationRevision").filter(|r| !r.is_null()) {
        labels.insert(CLUSTER_CONFIGURATION_REVISION.to_string(), revision.as_i64().unwrap_or_default().to_string());
    }
    // Left out without Open Monitoring.
    if let Some(jmx) = monitoring.get("jmxExporter").filter(|j| j.is_object()) {
        labels.insert(CLUSTER_JMX_EXPORTER_ENABLED.to_string(), told_bool(&jmx["enabledInBroker"]));
    }
    if let Some(tags) = cluster.get("tags").and_then(Value::as_object) {
        for (key, value) in tags {
            labels.insert(format!("{CLUSTER_TAG}{}", sanitize_label_name(key)), told(value));
        }
    }
    let (endpoints, index_label) = if let Some(broker) = node.get("brokerNodeInfo").filter(|b| b.is_object()) {
        labels.insert(NODE_TYPE.to_string(), "BROKER".to_string());
        labels.insert(NODE_ATTACHED_ENI.to_string(), told(&broker["attachedENIId"]));
        // Go's `%.0f` of the float ID.
        let id = broker["brokerId"].as_f64().unwrap_or(0.0);
        labels.insert(BROKER_ID.to_string(), format!("{:.0}", id));
        labels.insert(BROKER_CLIENT_SUBNET.to_string(), told(&broker["clientSubnet"]));
        labels.insert(BROKER_CLIENT_VPC_IP.to_string(), told(&broker["clientVpcIpAddress"]));
        if let Some(exporter) = monitoring.get("nodeExporter").filter(|e| e.is_object()) {
            labels.insert(BROKER_NODE_EXPORTER_ENABLED.to_string(), told_bool(&exporter["enabledInBroker"]));
        }
        (list(broker, "endpoints"), BROKER_ENDPOINT_INDEX)
    } else if let Some(controller) = node.get("controllerNodeInfo").filter(|c| c.is_object()) {
        labels.insert(NODE_TYPE.to_string(), "CONTROLLER".to_string());
        (list(controller, "endpoints"), CONTROLLER_ENDPOINT_INDEX)
    } else {
        return Vec::new();
    };
    let mut groups = Vec::new();
    for (index, endpoint) in endpoints.iter().enumerate() {
        let mut labels = labels.clone();
        labels.insert(index_label.to_string(), index.to_string());
        groups.push(TargetGroup { targets: vec![join_host_port(endpoint.as_str().unwrap_or_default(), port)], labels });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{serve, Seen};
    use crate::scrape::aws_sd::test_support::{ask_once, entry};
    use crate::scrape::aws_sd::AwsRole;
    use serde_json::json;

    const ARN: &str = "arn:aws:kafka:us-west-2:123456789012:cluster/test-cluster/abc-123";

    /// Prometheus' ClusterWithBrokersUsingClustersConfig cluster, as MSK writes it.
    fn cluster() -> Value {
        json!({"clusterName": "test-cluster", "clusterArn": ARN, "state": "ACTIVE", "clusterType": "PROVISIONED", "currentVersion": "1.2.3",
               "tags": {"Environment": "production", "Team": "platform"},
               "provisioned": {"currentBrokerSoftwareInfo": {"configurationArn": "arn:aws:kafka:us-west-2:123456789012:configuration/my-config/abc-123", "configurationRevision": 1, "kafkaVersion": "2.8.1"},
                               "openMonitoring": {"prometheus": {"jmxExporter": {"enabledInBroker": true}, "nodeExporter": {"enabledInBroker": true}}}}})
    }

    fn broker() -> Value {
        json!({"nodeARN": "arn:aws:kafka:us-west-2:123456789012:node/broker-1", "addedToClusterTime": "2023-01-01T00:00:00Z", "instanceType": "kafka.m5.large",
               "brokerNodeInfo": {"brokerId": 1.0, "clientSubnet": "subnet-12345", "clientVpcIpAddress": "10.0.1.100", "endpoints": ["b-1.test-cluster.abc123.kafka.us-west-2.amazonaws.com"], "attachedENIId": "eni-12345"}})
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_broker_endpoint_has_prometheus_labels() {
        let groups = node_targets(&cluster(), &broker(), 80);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets, ["b-1.test-cluster.abc123.kafka.us-west-2.amazonaws.com:80"]);
        let expected = labels(&[
            ("__meta_msk_cluster_name", "test-cluster"),
            ("__meta_msk_cluster_arn", ARN),
            ("__meta_msk_cluster_state", "ACTIVE"),
            ("__meta_msk_cluster_type", "PROVISIONED"),
            ("__meta_msk_cluster_version", "1.2.3"),
            ("__meta_msk_cluster_jmx_exporter_enabled", "true"),
            ("__meta_msk_cluster_configuration_arn", "arn:aws:kafka:us-west-2:123456789012:configuration/my-config/abc-123"),
            ("__meta_msk_cluster_configuration_revision", "1"),
            ("__meta_msk_cluster_kafka_version", "2.8.1"),
            ("__meta_msk_cluster_tag_Environment", "production"),
            ("__meta_msk_cluster_tag_Team", "platform"),
            ("__meta_msk_node_type", "BROKER"),
            ("__meta_msk_node_arn", "arn:aws:kafka:us-west-2:123456789012:node/broker-1"),
            ("__meta_msk_node_added_time", "2023-01-01T00:00:00Z"),
            ("__meta_msk_node_instance_type", "kafka.m5.large"),
            ("__meta_msk_node_attached_eni", "eni-12345"),
            ("__meta_msk_broker_id", "1"),
            ("__meta_msk_broker_client_subnet", "subnet-12345"),
            ("__meta_msk_broker_client_vpc_ip", "10.0.1.100"),
            ("__meta_msk_broker_node_exporter_enabled", "true"),
            ("__meta_msk_broker_endpoint_index", "0"),
        ]);
        assert_eq!(groups[0].labels, expected);
    }

    #[test]
    fn controllers_open_monitoring_and_custom_configuration_are_optional() {
        // ProvisionedClusterWithoutOpenMonitoring / WithoutCustomConfiguration: labels left out.
        let mut bare = cluster();
        bare["provisioned"] = json!({"currentBrokerSoftwareInfo": {"kafkaVersion": "3.6.0"}});
        let groups = node_targets(&bare, &broker(), 80);
        for absent in [CLUSTER_JMX_EXPORTER_ENABLED, BROKER_NODE_EXPORTER_ENABLED, CLUSTER_CONFIGURATION_ARN, CLUSTER_CONFIGURATION_REVISION] {
            assert!(!groups[0].labels.contains_key(absent), "{absent}: {:?}", groups[0].labels);
        }
        // A controller: one target per endpoint, indexed, without broker labels.
        let controller = json!({"nodeARN": "arn:c", "controllerNodeInfo": {"endpoints": ["c-1.kafka", "c-2.kafka"]}});
        let groups = node_targets(&cluster(), &controller, 9100);
        let found: Vec<(String, Option<&str>, Option<&str>)> = groups.iter().map(|g| (g.targets.join(","), g.labels.get(CONTROLLER_ENDPOINT_INDEX).map(String::as_str), g.labels.get(NODE_TYPE).map(String::as_str))).collect();
        assert_eq!(found, [("c-1.kafka:9100".to_string(), Some("0"), Some("CONTROLLER")), ("c-2.kafka:9100".to_string(), Some("1"), Some("CONTROLLER"))]);
        assert!(!groups[0].labels.contains_key(BROKER_ID) && !groups[0].labels.contains_key(NODE_ATTACHED_ENI));
        assert!(node_targets(&cluster(), &json!({"nodeARN": "arn:x"}), 80).is_empty(), "a node of neither kind");
    }

    /// MSK: the cluster given, a serverless one, and the broker of the first.
    fn msk(request: &Seen) -> (u16, String) {
        let path = request.path.as_str();
        let answer = if path.starts_with("/api/v2/clusters/arn%3Aaws%3Akafka%3Aus-west-2%3A123456789012%3Acluster%2Ftest-cluster%2Fabc-123") {
            json!({"clusterInfo": cluster()})
        } else if path.starts_with("/api/v2/clusters/serverless") {
            json!({"clusterInfo": {"clusterArn": "serverless", "clusterType": "SERVERLESS"}})
        } else if path.starts_with("/api/v2/clusters") && path.contains("nextToken=p2") {
            json!({"clusterInfoList": []})
        } else if path.starts_with("/api/v2/clusters") && path.contains("clusterTypeFilter=PROVISIONED") {
            json!({"clusterInfoList": [cluster()], "nextToken": "p2"})
        } else if path.starts_with("/api/v2/clusters") {
            json!({"clusterInfoList": []})
        } else if path.starts_with("/v1/clusters/arn%3Aaws%3Akafka") && path.contains("/nodes?") {
            json!({"nodeInfoList": [broker()]})
        } else {
            return (404, json!({"message": format!("no route {path}")}).to_string());
        };
        (200, answer.to_string())
    }

    #[test]
    fn lists_provisioned_clusters_and_nodes_with_signed_gets() {
        let (base, seen) = serve(msk);
        let groups = ask_once(&mut Session::default(), &entry(AwsRole::Msk { clusters: vec![] }, &base, 11001), &|_| None).expect("targets");
        assert_eq!(groups.iter().flat_map(|g| g.targets.clone()).collect::<Vec<_>>(), ["b-1.test-cluster.abc123.kafka.us-west-2.amazonaws.com:11001"]);
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, [
            "/api/v2/clusters",
            "/api/v2/clusters?clusterTypeFilter=PROVISIONED&maxResults=100",
            "/api/v2/clusters?clusterTypeFilter=PROVISIONED&maxResults=100&nextToken=p2",
            "/v1/clusters/arn%3Aaws%3Akafka%3Aus-west-2%3A123456789012%3Acluster%2Ftest-cluster%2Fabc-123/nodes?maxResults=100",
        ]);
        for request in &requests {
            assert_eq!(request.method, "GET");
            let authorization = request.header("authorization").unwrap_or_default();
            assert!(authorization.contains("/us-east-1/kafka/aws4_request"), "{authorization}");
        }
    }

    #[test]
    fn clusters_given_are_described_and_serverless_ones_skipped() {
        let (base, seen) = serve(msk);
        let sd = entry(AwsRole::Msk { clusters: vec![ARN.to_string(), "serverless".to_string()] }, &base, 80);
        let groups = ask_once(&mut Session::default(), &sd, &|_| None).expect("targets");
        assert_eq!(groups.len(), 1, "only the provisioned cluster's broker");
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(requests.len(), 4, "key test, two describes, one node listing: {requests:?}");
        let (down, _) = serve(|_| (403, r#"{"message":"denied"}"#.into()));
        let error = ask_once(&mut Session::default(), &entry(AwsRole::Msk { clusters: vec![] }, &down, 80), &|_| None).expect_err("refused");
        assert_eq!(error, "MSK credential test failed: server returned HTTP status 403 Forbidden");
    }
}
