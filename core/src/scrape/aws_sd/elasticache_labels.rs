//! Turns the XML answers of ElastiCache's Query API (version 2015-02-02:
//! `DescribeCacheClusters` with node info, `DescribeServerlessCaches`, `ListTagsForResource`)
//! into the targets of `aws_sd_configs` role `elasticache`, labelled as Prometheus' ElastiCache
//! discovery labels them, each on its endpoint's own port, not the entry's. Values are told as
//! `rds_labels::told` tells them; list labels end in `_<index>`. Pure.

use std::collections::BTreeMap;

use roxmltree::{Document, Node};

use super::rds_labels::{told, Kind};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};
use crate::scrape::ec2_sd::instances::{child, child_text};

const DEPLOYMENT_OPTION: &str = "__meta_elasticache_deployment_option";
const CLUSTER_TAG: &str = "__meta_elasticache_cache_cluster_tag_";
const SERVERLESS_TAG: &str = "__meta_elasticache_serverless_cache_tag_";

/// A cache cluster's labels shared by its nodes: label, element path, kind.
const CLUSTER_FIELDS: [(&str, &[&str], Kind); 33] = [
    ("__meta_elasticache_cache_cluster_arn", &["ARN"], Kind::Text),
    ("__meta_elasticache_cache_cluster_cache_cluster_id", &["CacheClusterId"], Kind::Text),
    ("__meta_elasticache_cache_cluster_cache_cluster_status", &["CacheClusterStatus"], Kind::Text),
    ("__meta_elasticache_cache_cluster_at_rest_encryption_enabled", &["AtRestEncryptionEnabled"], Kind::Bool),
    ("__meta_elasticache_cache_cluster_auth_token_enabled", &["AuthTokenEnabled"], Kind::Bool),
    ("__meta_elasticache_cache_cluster_auth_token_last_modified", &["AuthTokenLastModifiedDate"], Kind::Time),
    ("__meta_elasticache_cache_cluster_auto_minor_version_upgrade", &["AutoMinorVersionUpgrade"], Kind::Bool),
    ("__meta_elasticache_cache_cluster_cache_cluster_create_time", &["CacheClusterCreateTime"], Kind::Time),
    ("__meta_elasticache_cache_cluster_cache_node_type", &["CacheNodeType"], Kind::Text),
    ("__meta_elasticache_cache_cluster_cache_parameter_group", &["CacheParameterGroup", "CacheParameterGroupName"], Kind::Text),
    ("__meta_elasticache_cache_cluster_cache_subnet_group_name", &["CacheSubnetGroupName"], Kind::Text),
    ("__meta_elasticache_cache_cluster_client_download_landing_page", &["ClientDownloadLandingPage"], Kind::Text),
    ("__meta_elasticache_cache_cluster_configuration_endpoint_address", &["ConfigurationEndpoint", "Address"], Kind::Text),
    ("__meta_elasticache_cache_cluster_configuration_endpoint_port", &["ConfigurationEndpoint", "Port"], Kind::Int),
    ("__meta_elasticache_cache_cluster_engine", &["Engine"], Kind::Text),
    ("__meta_elasticache_cache_cluster_engine_version", &["EngineVersion"], Kind::Text),
    ("__meta_elasticache_cache_cluster_ip_discovery", &["IpDiscovery"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_network_type", &["NetworkType"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_notification_topic_arn", &["NotificationConfiguration", "TopicArn"], Kind::Text),
    ("__meta_elasticache_cache_cluster_notification_topic_status", &["NotificationConfiguration", "TopicStatus"], Kind::Text),
    ("__meta_elasticache_cache_cluster_num_cache_nodes", &["NumCacheNodes"], Kind::Int),
    ("__meta_elasticache_cache_cluster_preferred_availability_zone", &["PreferredAvailabilityZone"], Kind::Text),
    ("__meta_elasticache_cache_cluster_preferred_maintenance_window", &["PreferredMaintenanceWindow"], Kind::Text),
    ("__meta_elasticache_cache_cluster_preferred_outpost_arn", &["PreferredOutpostArn"], Kind::Text),
    ("__meta_elasticache_cache_cluster_replication_group_id", &["ReplicationGroupId"], Kind::Text),
    ("__meta_elasticache_cache_cluster_replication_group_log_delivery_enabled", &["ReplicationGroupLogDeliveryEnabled"], Kind::Bool),
    ("__meta_elasticache_cache_cluster_snapshot_retention_limit", &["SnapshotRetentionLimit"], Kind::Int),
    ("__meta_elasticache_cache_cluster_snapshot_window", &["SnapshotWindow"], Kind::Text),
    ("__meta_elasticache_cache_cluster_transit_encryption_enabled", &["TransitEncryptionEnabled"], Kind::Bool),
    ("__meta_elasticache_cache_cluster_transit_encryption_mode", &["TransitEncryptionMode"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_pending_modified_values_auth_token_status", &["PendingModifiedValues", "AuthTokenStatus"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_pending_modified_values_cache_node_type", &["PendingModifiedValues", "CacheNodeType"], Kind::Text),
    ("__meta_elasticache_cache_cluster_pending_modified_values_engine_version", &["PendingModifiedValues", "EngineVersion"], Kind::Text),
];

/// More pending values: their count and encryption.
const PENDING_FIELDS: [(&str, &[&str], Kind); 3] = [
    ("__meta_elasticache_cache_cluster_pending_modified_values_num_cache_nodes", &["PendingModifiedValues", "NumCacheNodes"], Kind::Int),
    ("__meta_elasticache_cache_cluster_pending_modified_values_transit_encryption_enabled", &["PendingModifiedValues", "TransitEncryptionEnabled"], Kind::Bool),
    ("__meta_elasticache_cache_cluster_pending_modified_values_transit_encryption_mode", &["PendingModifiedValues", "TransitEncryptionMode"], Kind::Enum),
];
const NODE_IDS_TO_REMOVE: &str = "__meta_elasticache_cache_cluster_pending_modified_values_cache_node_ids_to_remove";

/// Each log delivery configuration's labels, `_<index>` appended.
const LOG_DELIVERY_FIELDS: [(&str, &[&str], Kind); 7] = [
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_destination_type", &["DestinationType"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_log_format", &["LogFormat"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_log_type", &["LogType"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_status", &["Status"], Kind::Enum),
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_message", &["Message"], Kind::Text),
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_log_group", &["DestinationDetails", "CloudWatchLogsDetails", "LogGroup"], Kind::Text),
    ("__meta_elasticache_cache_cluster_log_delivery_configuration_delivery_stream", &["DestinationDetails", "KinesisFirehoseDetails", "DeliveryStream"], Kind::Text),
];

/// Each security group membership's labels, `_<index>` appended.
const SECURITY_GROUP_FIELDS: [(&str, &[&str], Kind); 2] = [
    ("__meta_elasticache_cache_cluster_security_group_membership_id", &["SecurityGroupId"], Kind::Text),
    ("__meta_elasticache_cache_cluster_security_group_membership_status", &["Status"], Kind::Text),
];

/// Each cache node's own labels.
const NODE_FIELDS: [(&str, &[&str], Kind); 9] = [
    ("__meta_elasticache_cache_cluster_node_id", &["CacheNodeId"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_status", &["CacheNodeStatus"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_create_time", &["CacheNodeCreateTime"], Kind::Time),
    ("__meta_elasticache_cache_cluster_node_availability_zone", &["CustomerAvailabilityZone"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_customer_outpost_arn", &["CustomerOutpostArn"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_source_cache_node_id", &["SourceCacheNodeId"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_parameter_group_status", &["ParameterGroupStatus"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_endpoint_address", &["Endpoint", "Address"], Kind::Text),
    ("__meta_elasticache_cache_cluster_node_endpoint_port", &["Endpoint", "Port"], Kind::Int),
];

/// A serverless cache's labels. (Prometheus names the usage limits' labels without a `_`
/// before `maximum`, `minimum` and `unit`; kept so.)
const SERVERLESS_FIELDS: [(&str, &[&str], Kind); 20] = [
    ("__meta_elasticache_serverless_cache_arn", &["ARN"], Kind::Text),
    ("__meta_elasticache_serverless_cache_name", &["ServerlessCacheName"], Kind::Text),
    ("__meta_elasticache_serverless_cache_status", &["Status"], Kind::Text),
    ("__meta_elasticache_serverless_cache_engine", &["Engine"], Kind::Text),
    ("__meta_elasticache_serverless_cache_full_engine_version", &["FullEngineVersion"], Kind::Text),
    ("__meta_elasticache_serverless_cache_major_engine_version", &["MajorEngineVersion"], Kind::Text),
    ("__meta_elasticache_serverless_cache_description", &["Description"], Kind::Text),
    ("__meta_elasticache_serverless_cache_create_time", &["CreateTime"], Kind::Time),
    ("__meta_elasticache_serverless_cache_kms_key_id", &["KmsKeyId"], Kind::Text),
    ("__meta_elasticache_serverless_cache_user_group_id", &["UserGroupId"], Kind::Text),
    ("__meta_elasticache_serverless_cache_daily_snapshot_time", &["DailySnapshotTime"], Kind::Text),
    ("__meta_elasticache_serverless_cache_snapshot_retention_limit", &["SnapshotRetentionLimit"], Kind::Int),
    ("__meta_elasticache_serverless_cache_endpoint_address", &["Endpoint", "Address"], Kind::Text),
    ("__meta_elasticache_serverless_cache_endpoint_port", &["Endpoint", "Port"], Kind::Int),
    ("__meta_elasticache_serverless_cache_endpoint_reader_address", &["ReaderEndpoint", "Address"], Kind::Text),
    ("__meta_elasticache_serverless_cache_endpoint_reader_port", &["ReaderEndpoint", "Port"], Kind::Int),
    ("__meta_elasticache_serverless_cache_cache_usage_limit_data_storagemaximum", &["CacheUsageLimits", "DataStorage", "Maximum"], Kind::Int),
    ("__meta_elasticache_serverless_cache_cache_usage_limit_data_storageminimum", &["CacheUsageLimits", "DataStorage", "Minimum"], Kind::Int),
    ("__meta_elasticache_serverless_cache_cache_usage_limit_ecpu_per_secondmaximum", &["CacheUsageLimits", "ECPUPerSecond", "Maximum"], Kind::Int),
    ("__meta_elasticache_serverless_cache_cache_usage_limit_ecpu_per_secondminimum", &["CacheUsageLimits", "ECPUPerSecond", "Minimum"], Kind::Int),
];
/// Told whenever the cache has a data storage limit, even empty (an SDK enum, not a pointer).
const DATA_STORAGE_UNIT: &str = "__meta_elasticache_serverless_cache_cache_usage_limit_data_storageunit";
const SERVERLESS_SECURITY_GROUP_ID: &str = "__meta_elasticache_serverless_cache_security_group_id";
const SERVERLESS_SUBNET_ID: &str = "__meta_elasticache_serverless_cache_subnet_id";

/// A page of a `DescribeCacheClusters` answer (clusters, each with its nodes) and its `Marker`.
pub fn read_cache_clusters(xml: &str) -> Result<(Vec<Item>, Option<String>), String> {
    read_page(xml, ("DescribeCacheClustersResult", "CacheClusters"), "Marker")
}

/// A page of a `DescribeServerlessCaches` answer and its `NextToken`.
pub fn read_serverless_caches(xml: &str) -> Result<(Vec<Item>, Option<String>), String> {
    read_page(xml, ("DescribeServerlessCachesResult", "ServerlessCaches"), "NextToken")
}

/// A `ListTagsForResource` answer's tags, in order.
pub fn read_tags(xml: &str) -> Result<Vec<(String, String)>, String> {
    let doc = Document::parse(xml).map_err(|e| format!("the answer is not XML: {e}"))?;
    let result = child(doc.root_element(), "ListTagsForResourceResult").ok_or("the answer has no ListTagsForResourceResult")?;
    let tags = child(result, "TagList").into_iter().flat_map(elements).filter_map(|tag| Some((child_text(tag, "Key")?, child_text(tag, "Value")?)));
    Ok(tags.collect())
}

/// A cache cluster or serverless cache: its ARN (for its tags) and its XML, read again when
/// its targets are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub arn: Option<String>,
    pub xml: String,
}

fn read_page(xml: &str, (result, list): (&str, &str), marker: &str) -> Result<(Vec<Item>, Option<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("the answer is not XML: {e}"))?;
    let result = child(doc.root_element(), result).ok_or_else(|| format!("the answer has no {result}"))?;
    let items = child(result, list).into_iter().flat_map(elements).map(|node| Item { arn: child_text(node, "ARN"), xml: xml[node.range()].to_string() });
    Ok((items.collect(), child_text(result, marker).filter(|m| !m.is_empty())))
}

/// The element children of `node` (a list's members, whatever their name).
fn elements<'a, 'input>(node: Node<'a, 'input>) -> impl Iterator<Item = Node<'a, 'input>> {
    node.children().filter(Node::is_element)
}

/// The text at `path` below `node`.
fn at(node: Node, path: &[&str]) -> Option<String> {
    let (last, parents) = path.split_last()?;
    let mut here = node;
    for name in parents {
        here = child(here, name)?;
    }
    child_text(here, last)
}

fn read_fields(node: Node, fields: &[(&str, &[&str], Kind)], suffix: &str, labels: &mut BTreeMap<String, String>) {
    for &(label, path, kind) in fields {
        if let Some(value) = at(node, path).and_then(|text| told(kind, text)) {
            labels.insert(format!("{label}{suffix}"), value);
        }
    }
}

/// The targets of one cache cluster: one per cache node, at the node's endpoint
/// (`deployment_option` "node", `__meta_elasticache_cache_cluster_*`).
pub fn cache_cluster_targets(cluster: &Item, tags: &[(String, String)]) -> Result<Vec<TargetGroup>, String> {
    let doc = Document::parse(&cluster.xml).map_err(|e| format!("a cache cluster is not XML: {e}"))?;
    let node = doc.root_element();
    let mut common = BTreeMap::from([(DEPLOYMENT_OPTION.to_string(), "node".to_string())]);
    read_fields(node, &CLUSTER_FIELDS, "", &mut common);
    read_fields(node, &PENDING_FIELDS, "", &mut common);
    let to_remove: Vec<String> = child(node, "PendingModifiedValues").and_then(|p| child(p, "CacheNodeIdsToRemove")).into_iter().flat_map(elements).filter_map(|id| id.text().map(str::to_string)).collect();
    if !to_remove.is_empty() {
        common.insert(NODE_IDS_TO_REMOVE.to_string(), to_remove.join(","));
    }
    for (i, delivery) in child(node, "LogDeliveryConfigurations").into_iter().flat_map(elements).enumerate() {
        read_fields(delivery, &LOG_DELIVERY_FIELDS, &format!("_{i}"), &mut common);
    }
    for (i, group) in child(node, "SecurityGroups").into_iter().flat_map(elements).enumerate() {
        read_fields(group, &SECURITY_GROUP_FIELDS, &format!("_{i}"), &mut common);
    }
    for (key, value) in tags {
        common.insert(format!("{CLUSTER_TAG}{}", sanitize_label_name(key)), value.clone());
    }
    let mut groups = Vec::new();
    for cache_node in child(node, "CacheNodes").into_iter().flat_map(elements) {
        let mut labels = common.clone();
        read_fields(cache_node, &NODE_FIELDS, "", &mut labels);
        let endpoint = child(cache_node, "Endpoint");
        let address = endpoint.and_then(|e| Some(join_host_port(&child_text(e, "Address")?, child_text(e, "Port")?.trim())));
        groups.push(TargetGroup { targets: address.into_iter().collect(), labels });
    }
    Ok(groups)
}

/// The target of one serverless cache, at its endpoint (`deployment_option` "serverless",
/// `__meta_elasticache_serverless_cache_*`).
pub fn serverless_cache_target(cache: &Item, tags: &[(String, String)]) -> Result<TargetGroup, String> {
    let doc = Document::parse(&cache.xml).map_err(|e| format!("a serverless cache is not XML: {e}"))?;
    let node = doc.root_element();
    let mut labels = BTreeMap::from([(DEPLOYMENT_OPTION.to_string(), "serverless".to_string())]);
    read_fields(node, &SERVERLESS_FIELDS, "", &mut labels);
    if let Some(storage) = child(node, "CacheUsageLimits").and_then(|l| child(l, "DataStorage")) {
        labels.insert(DATA_STORAGE_UNIT.to_string(), child_text(storage, "Unit").unwrap_or_default());
    }
    for (list, label) in [("SecurityGroupIds", SERVERLESS_SECURITY_GROUP_ID), ("SubnetIds", SERVERLESS_SUBNET_ID)] {
        for (i, id) in child(node, list).into_iter().flat_map(elements).enumerate() {
            labels.insert(format!("{label}_{i}"), id.text().unwrap_or_default().to_string());
        }
    }
    for (key, value) in tags {
        labels.insert(format!("{SERVERLESS_TAG}{}", sanitize_label_name(key)), value.clone());
    }
    let endpoint = child(node, "Endpoint");
    let address = endpoint.and_then(|e| Some(join_host_port(&child_text(e, "Address")?, child_text(e, "Port")?.trim())));
    Ok(TargetGroup { targets: address.into_iter().collect(), labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// Prometheus' CacheClusterWithMultipleNodes, as ElastiCache writes it.
    const CLUSTERS: &str = r#"<DescribeCacheClustersResponse xmlns="http://elasticache.amazonaws.com/doc/2015-02-02/"><DescribeCacheClustersResult><CacheClusters>
        <CacheCluster><CacheClusterId>my-cluster-001</CacheClusterId><ARN>arn:aws:elasticache:us-east-1:123456789012:cluster:my-cluster-001</ARN>
          <CacheClusterStatus>available</CacheClusterStatus><Engine>redis</Engine><EngineVersion>7.1</EngineVersion><CacheNodeType>cache.t3.micro</CacheNodeType>
          <NumCacheNodes>2</NumCacheNodes><CacheClusterCreateTime>2024-01-01T00:00:00.000Z</CacheClusterCreateTime>
          <ConfigurationEndpoint><Address>my-cluster.abc123.cfg.use1.cache.amazonaws.com</Address><Port>6379</Port></ConfigurationEndpoint>
          <AtRestEncryptionEnabled>true</AtRestEncryptionEnabled><TransitEncryptionEnabled>true</TransitEncryptionEnabled><AuthTokenEnabled>true</AuthTokenEnabled>
          <AutoMinorVersionUpgrade>true</AutoMinorVersionUpgrade><CacheSubnetGroupName>my-subnet-group</CacheSubnetGroupName><PreferredAvailabilityZone>us-east-1a</PreferredAvailabilityZone>
          <IpDiscovery></IpDiscovery>
          <SecurityGroups><member><SecurityGroupId>sg-12345</SecurityGroupId><Status>active</Status></member></SecurityGroups>
          <CacheNodes>
            <CacheNode><CacheNodeId>0001</CacheNodeId><CacheNodeStatus>available</CacheNodeStatus><CacheNodeCreateTime>2024-01-01T00:00:00Z</CacheNodeCreateTime><CustomerAvailabilityZone>us-east-1a</CustomerAvailabilityZone>
              <Endpoint><Address>my-cluster-001.abc123.0001.use1.cache.amazonaws.com</Address><Port>6379</Port></Endpoint></CacheNode>
            <CacheNode><CacheNodeId>0002</CacheNodeId><CacheNodeStatus>available</CacheNodeStatus><CacheNodeCreateTime>2024-01-01T00:00:00Z</CacheNodeCreateTime><CustomerAvailabilityZone>us-east-1b</CustomerAvailabilityZone>
              <Endpoint><Address>my-cluster-001.abc123.0002.use1.cache.amazonaws.com</Address><Port>6379</Port></Endpoint></CacheNode>
          </CacheNodes></CacheCluster>
        </CacheClusters><Marker>m2</Marker></DescribeCacheClustersResult></DescribeCacheClustersResponse>"#;

    #[test]
    fn each_cache_node_is_a_target_with_its_clusters_labels() {
        let (clusters, marker) = read_cache_clusters(CLUSTERS).expect("clusters");
        assert_eq!((clusters.len(), marker.as_deref()), (1, Some("m2")));
        assert_eq!(clusters[0].arn.as_deref(), Some("arn:aws:elasticache:us-east-1:123456789012:cluster:my-cluster-001"));
        let tags = [("Environment".to_string(), "production".to_string()), ("Application".to_string(), "web-app".to_string())];
        let groups = cache_cluster_targets(&clusters[0], &tags).expect("targets");
        let common = [
            ("__meta_elasticache_deployment_option", "node"),
            ("__meta_elasticache_cache_cluster_arn", "arn:aws:elasticache:us-east-1:123456789012:cluster:my-cluster-001"),
            ("__meta_elasticache_cache_cluster_cache_cluster_id", "my-cluster-001"),
            ("__meta_elasticache_cache_cluster_cache_cluster_status", "available"),
            ("__meta_elasticache_cache_cluster_engine", "redis"),
            ("__meta_elasticache_cache_cluster_engine_version", "7.1"),
            ("__meta_elasticache_cache_cluster_cache_node_type", "cache.t3.micro"),
            ("__meta_elasticache_cache_cluster_num_cache_nodes", "2"),
            ("__meta_elasticache_cache_cluster_cache_cluster_create_time", "2024-01-01T00:00:00Z"),
            ("__meta_elasticache_cache_cluster_configuration_endpoint_address", "my-cluster.abc123.cfg.use1.cache.amazonaws.com"),
            ("__meta_elasticache_cache_cluster_configuration_endpoint_port", "6379"),
            ("__meta_elasticache_cache_cluster_at_rest_encryption_enabled", "true"),
            ("__meta_elasticache_cache_cluster_transit_encryption_enabled", "true"),
            ("__meta_elasticache_cache_cluster_auth_token_enabled", "true"),
            ("__meta_elasticache_cache_cluster_auto_minor_version_upgrade", "true"),
            ("__meta_elasticache_cache_cluster_cache_subnet_group_name", "my-subnet-group"),
            ("__meta_elasticache_cache_cluster_preferred_availability_zone", "us-east-1a"),
            ("__meta_elasticache_cache_cluster_security_group_membership_id_0", "sg-12345"),
            ("__meta_elasticache_cache_cluster_security_group_membership_status_0", "active"),
            ("__meta_elasticache_cache_cluster_tag_Environment", "production"),
            ("__meta_elasticache_cache_cluster_tag_Application", "web-app"),
            ("__meta_elasticache_cache_cluster_node_status", "available"),
            ("__meta_elasticache_cache_cluster_node_create_time", "2024-01-01T00:00:00Z"),
            ("__meta_elasticache_cache_cluster_node_endpoint_port", "6379"),
        ];
        for (group, (node, zone)) in groups.iter().zip([("0001", "us-east-1a"), ("0002", "us-east-1b")]) {
            let address = format!("my-cluster-001.abc123.{node}.use1.cache.amazonaws.com");
            let mut expected = labels(&common);
            expected.extend(labels(&[("__meta_elasticache_cache_cluster_node_id", node), ("__meta_elasticache_cache_cluster_node_availability_zone", zone), ("__meta_elasticache_cache_cluster_node_endpoint_address", &address)]));
            assert_eq!(group.targets, [format!("{address}:6379")]);
            assert_eq!(group.labels, expected, "an empty enum element (IpDiscovery) is no label");
        }
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn a_serverless_cache_is_a_target_at_its_endpoint() {
        // Prometheus' ServerlessCacheWithEndpoint.
        let xml = r#"<DescribeServerlessCachesResponse><DescribeServerlessCachesResult><ServerlessCaches><member>
            <ServerlessCacheName>my-cache</ServerlessCacheName><ARN>arn:aws:elasticache:us-east-1:123456789012:serverlesscache:my-cache</ARN><Status>available</Status>
            <Engine>redis</Engine><FullEngineVersion>7.1</FullEngineVersion><MajorEngineVersion>7</MajorEngineVersion><CreateTime>2024-01-01T00:00:00Z</CreateTime>
            <Endpoint><Address>my-cache.serverless.use1.cache.amazonaws.com</Address><Port>6379</Port></Endpoint>
            <ReaderEndpoint><Address>my-cache-ro.serverless.use1.cache.amazonaws.com</Address><Port>6379</Port></ReaderEndpoint>
            <SecurityGroupIds><SecurityGroupId>sg-12345</SecurityGroupId></SecurityGroupIds><SubnetIds><SubnetId>subnet-abcdef</SubnetId></SubnetIds>
            <CacheUsageLimits><DataStorage><Maximum>10</Maximum><Minimum>1</Minimum><Unit>GB</Unit></DataStorage><ECPUPerSecond><Maximum>5000</Maximum><Minimum>1000</Minimum></ECPUPerSecond></CacheUsageLimits>
            </member></ServerlessCaches></DescribeServerlessCachesResult></DescribeServerlessCachesResponse>"#;
        let (caches, token) = read_serverless_caches(xml).expect("caches");
        assert_eq!((caches.len(), token), (1, None));
        let group = serverless_cache_target(&caches[0], &[("Environment".to_string(), "test".to_string())]).expect("target");
        assert_eq!(group.targets, ["my-cache.serverless.use1.cache.amazonaws.com:6379"]);
        let expected = labels(&[
            ("__meta_elasticache_deployment_option", "serverless"),
            ("__meta_elasticache_serverless_cache_arn", "arn:aws:elasticache:us-east-1:123456789012:serverlesscache:my-cache"),
            ("__meta_elasticache_serverless_cache_name", "my-cache"),
            ("__meta_elasticache_serverless_cache_status", "available"),
            ("__meta_elasticache_serverless_cache_engine", "redis"),
            ("__meta_elasticache_serverless_cache_full_engine_version", "7.1"),
            ("__meta_elasticache_serverless_cache_major_engine_version", "7"),
            ("__meta_elasticache_serverless_cache_create_time", "2024-01-01T00:00:00Z"),
            ("__meta_elasticache_serverless_cache_endpoint_address", "my-cache.serverless.use1.cache.amazonaws.com"),
            ("__meta_elasticache_serverless_cache_endpoint_port", "6379"),
            ("__meta_elasticache_serverless_cache_endpoint_reader_address", "my-cache-ro.serverless.use1.cache.amazonaws.com"),
            ("__meta_elasticache_serverless_cache_endpoint_reader_port", "6379"),
            ("__meta_elasticache_serverless_cache_security_group_id_0", "sg-12345"),
            ("__meta_elasticache_serverless_cache_subnet_id_0", "subnet-abcdef"),
            ("__meta_elasticache_serverless_cache_cache_usage_limit_data_storagemaximum", "10"),
            ("__meta_elasticache_serverless_cache_cache_usage_limit_data_storageminimum", "1"),
            ("__meta_elasticache_serverless_cache_cache_usage_limit_data_storageunit", "GB"),
            ("__meta_elasticache_serverless_cache_cache_usage_limit_ecpu_per_secondmaximum", "5000"),
            ("__meta_elasticache_serverless_cache_cache_usage_limit_ecpu_per_secondminimum", "1000"),
            ("__meta_elasticache_serverless_cache_tag_Environment", "test"),
        ]);
        assert_eq!(group.labels, expected);
    }

    #[test]
    fn absent_fields_drop_their_labels_and_a_cache_without_an_endpoint_is_no_target() {
        // Prometheus' nil-field cases: only the deployment option is left.
        let item = Item { arn: None, xml: "<member><Endpoint><Address>a</Address></Endpoint></member>".into() };
        let group = serverless_cache_target(&item, &[]).expect("target");
        assert!(group.targets.is_empty());
        assert_eq!(group.labels, labels(&[("__meta_elasticache_deployment_option", "serverless"), ("__meta_elasticache_serverless_cache_endpoint_address", "a")]));
        let item = Item { arn: None, xml: "<CacheCluster><CacheNodes><CacheNode/></CacheNodes><PendingModifiedValues><CacheNodeIdsToRemove><CacheNodeId>0001</CacheNodeId><CacheNodeId>0002</CacheNodeId></CacheNodeIdsToRemove></PendingModifiedValues><LogDeliveryConfigurations><LogDeliveryConfiguration><LogType>slow-log</LogType><DestinationDetails><CloudWatchLogsDetails><LogGroup>g</LogGroup></CloudWatchLogsDetails></DestinationDetails></LogDeliveryConfiguration></LogDeliveryConfigurations></CacheCluster>".into() };
        let groups = cache_cluster_targets(&item, &[]).expect("targets");
        assert_eq!(groups.len(), 1);
        assert!(groups[0].targets.is_empty());
        let expected = labels(&[
            ("__meta_elasticache_deployment_option", "node"),
            ("__meta_elasticache_cache_cluster_pending_modified_values_cache_node_ids_to_remove", "0001,0002"),
            ("__meta_elasticache_cache_cluster_log_delivery_configuration_log_type_0", "slow-log"),
            ("__meta_elasticache_cache_cluster_log_delivery_configuration_log_group_0", "g"),
        ]);
        assert_eq!(groups[0].labels, expected);
    }

    #[test]
    fn reads_tags() {
        let xml = "<ListTagsForResourceResponse><ListTagsForResourceResult><TagList><Tag><Key>team</Key><Value>cache</Value></Tag><Tag><Key>no-value</Key></Tag></TagList></ListTagsForResourceResult></ListTagsForResourceResponse>";
        assert_eq!(read_tags(xml).expect("tags"), [("team".to_string(), "cache".to_string())]);
    }
}
