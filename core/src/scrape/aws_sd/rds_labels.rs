//! Turns the XML answers of RDS' Query API (version 2014-10-31: `DescribeDBClusters`,
//! `DescribeDBInstances`) into the targets of `aws_sd_configs` role `rds`, labelled as
//! Prometheus' RDS discovery labels them: a target per instance of a cluster, with the
//! cluster's `__meta_rds_cluster_*` and the instance's `__meta_rds_instance_*` labels.
//! Elements are found as `ec2_sd::instances` finds them. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use roxmltree::{Document, Node};

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};
use crate::scrape::ec2_sd::instances::{child, child_text, children_named};

const CLUSTER_TAG: &str = "__meta_rds_cluster_tag_";
const INSTANCE_TAG: &str = "__meta_rds_instance_tag_";
const IS_CLUSTER_WRITER: &str = "__meta_rds_instance_is_cluster_writer";
const SUBNET_GROUP: &str = "__meta_rds_instance_subnet_group";
/// The instance's endpoints: the element, and the labels of its address, hosted zone, port.
const ENDPOINTS: [(&str, [&str; 3]); 2] = [
    ("Endpoint", ["__meta_rds_instance_endpoint_address", "__meta_rds_instance_endpoint_hosted_zone_id", "__meta_rds_instance_endpoint_port"]),
    ("ListenerEndpoint", ["__meta_rds_instance_listener_endpoint_address", "__meta_rds_instance_listener_endpoint_hosted_zone_id", "__meta_rds_instance_listener_endpoint_port"]),
];

/// How an element's text becomes a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// As written, even empty.
    Text,
    /// As written; empty means absent (the SDK's enum types).
    Enum,
    Bool,
    Int,
    /// An ISO 8601 time, told as RFC 3339 in UTC to the second.
    Time,
}

/// The cluster's labels read from its elements, in Prometheus' order.
pub const CLUSTER_FIELDS: [(&str, &str, Kind); 68] = [
    ("__meta_rds_cluster_arn", "DBClusterArn", Kind::Text),
    ("__meta_rds_cluster_identifier", "DBClusterIdentifier", Kind::Text),
    ("__meta_rds_cluster_activity_stream_kinesis_stream_name", "ActivityStreamKinesisStreamName", Kind::Text),
    ("__meta_rds_cluster_activity_stream_kms_key_id", "ActivityStreamKmsKeyId", Kind::Text),
    ("__meta_rds_cluster_activity_stream_mode", "ActivityStreamMode", Kind::Enum),
    ("__meta_rds_cluster_activity_stream_status", "ActivityStreamStatus", Kind::Enum),
    ("__meta_rds_cluster_allocated_storage", "AllocatedStorage", Kind::Int),
    ("__meta_rds_cluster_auto_minor_version_upgrade", "AutoMinorVersionUpgrade", Kind::Bool),
    ("__meta_rds_cluster_automatic_restart_time", "AutomaticRestartTime", Kind::Time),
    ("__meta_rds_cluster_aws_backup_recovery_point_arn", "AwsBackupRecoveryPointArn", Kind::Text),
    ("__meta_rds_cluster_backtrack_consumed_change_records", "BacktrackConsumedChangeRecords", Kind::Int),
    ("__meta_rds_cluster_backtrack_window", "BacktrackWindow", Kind::Int),
    ("__meta_rds_cluster_backup_retention_period", "BackupRetentionPeriod", Kind::Int),
    ("__meta_rds_cluster_capacity", "Capacity", Kind::Int),
    ("__meta_rds_cluster_character_set_name", "CharacterSetName", Kind::Text),
    ("__meta_rds_cluster_clone_group_id", "CloneGroupId", Kind::Text),
    ("__meta_rds_cluster_cluster_create_time", "ClusterCreateTime", Kind::Time),
    ("__meta_rds_cluster_cluster_scalability_type", "ClusterScalabilityType", Kind::Enum),
    ("__meta_rds_cluster_copy_tags_to_snapshot", "CopyTagsToSnapshot", Kind::Bool),
    ("__meta_rds_cluster_cross_account_clone", "CrossAccountClone", Kind::Bool),
    ("__meta_rds_cluster_instance_class", "DBClusterInstanceClass", Kind::Text),
    ("__meta_rds_cluster_parameter_group", "DBClusterParameterGroup", Kind::Text),
    ("__meta_rds_cluster_subnet_group", "DBSubnetGroup", Kind::Text),
    ("__meta_rds_cluster_db_system_id", "DBSystemId", Kind::Text),
    ("__meta_rds_cluster_database_insights_mode", "DatabaseInsightsMode", Kind::Enum),
    ("__meta_rds_cluster_database_name", "DatabaseName", Kind::Text),
    ("__meta_rds_cluster_resource_id", "DbClusterResourceId", Kind::Text),
    ("__meta_rds_cluster_deletion_protection", "DeletionProtection", Kind::Bool),
    ("__meta_rds_cluster_earliest_backtrack_time", "EarliestBacktrackTime", Kind::Time),
    ("__meta_rds_cluster_earliest_restorable_time", "EarliestRestorableTime", Kind::Time),
    ("__meta_rds_cluster_endpoint", "Endpoint", Kind::Text),
    ("__meta_rds_cluster_engine", "Engine", Kind::Text),
    ("__meta_rds_cluster_engine_lifecycle_support", "EngineLifecycleSupport", Kind::Text),
    ("__meta_rds_cluster_engine_mode", "EngineMode", Kind::Text),
    ("__meta_rds_cluster_engine_version", "EngineVersion", Kind::Text),
    ("__meta_rds_cluster_global_cluster_identifier", "GlobalClusterIdentifier", Kind::Text),
    ("__meta_rds_cluster_global_write_forwarding_requested", "GlobalWriteForwardingRequested", Kind::Bool),
    ("__meta_rds_cluster_global_write_forwarding_status", "GlobalWriteForwardingStatus", Kind::Enum),
    ("__meta_rds_cluster_hosted_zone_id", "HostedZoneId", Kind::Text),
    ("__meta_rds_cluster_http_endpoint_enabled", "HttpEndpointEnabled", Kind::Bool),
    ("__meta_rds_cluster_iam_database_authentication_enabled", "IAMDatabaseAuthenticationEnabled", Kind::Bool),
    ("__meta_rds_cluster_io_optimized_next_allowed_modification_time", "IOOptimizedNextAllowedModificationTime", Kind::Time),
    ("__meta_rds_cluster_iops", "Iops", Kind::Int),
    ("__meta_rds_cluster_kms_key_id", "KmsKeyId", Kind::Text),
    ("__meta_rds_cluster_latest_restorable_time", "LatestRestorableTime", Kind::Time),
    ("__meta_rds_cluster_local_write_forwarding_status", "LocalWriteForwardingStatus", Kind::Enum),
    ("__meta_rds_cluster_master_username", "MasterUsername", Kind::Text),
    ("__meta_rds_cluster_monitoring_interval", "MonitoringInterval", Kind::Int),
    ("__meta_rds_cluster_monitoring_role_arn", "MonitoringRoleArn", Kind::Text),
    ("__meta_rds_cluster_multi_az", "MultiAZ", Kind::Bool),
    ("__meta_rds_cluster_network_type", "NetworkType", Kind::Text),
    ("__meta_rds_cluster_percent_progress", "PercentProgress", Kind::Text),
    ("__meta_rds_cluster_performance_insights_enabled", "PerformanceInsightsEnabled", Kind::Bool),
    ("__meta_rds_cluster_performance_insights_kms_key_id", "PerformanceInsightsKMSKeyId", Kind::Text),
    ("__meta_rds_cluster_performance_insights_retention_period", "PerformanceInsightsRetentionPeriod", Kind::Int),
    ("__meta_rds_cluster_port", "Port", Kind::Int),
    ("__meta_rds_cluster_preferred_backup_window", "PreferredBackupWindow", Kind::Text),
    ("__meta_rds_cluster_preferred_maintenance_window", "PreferredMaintenanceWindow", Kind::Text),
    ("__meta_rds_cluster_publicly_accessible", "PubliclyAccessible", Kind::Bool),
    ("__meta_rds_cluster_reader_endpoint", "ReaderEndpoint", Kind::Text),
    ("__meta_rds_cluster_replication_source_identifier", "ReplicationSourceIdentifier", Kind::Text),
    ("__meta_rds_cluster_serverless_v2_platform_version", "ServerlessV2PlatformVersion", Kind::Text),
    ("__meta_rds_cluster_status", "Status", Kind::Text),
    ("__meta_rds_cluster_storage_encrypted", "StorageEncrypted", Kind::Bool),
    ("__meta_rds_cluster_storage_encryption_type", "StorageEncryptionType", Kind::Enum),
    ("__meta_rds_cluster_storage_throughput", "StorageThroughput", Kind::Int),
    ("__meta_rds_cluster_storage_type", "StorageType", Kind::Text),
    ("__meta_rds_cluster_upgrade_rollout_order", "UpgradeRolloutOrder", Kind::Enum),
];

/// The instance's labels read from its elements, in Prometheus' order.
pub const INSTANCE_FIELDS: [(&str, &str, Kind); 71] = [
    ("__meta_rds_instance_arn", "DBInstanceArn", Kind::Text),
    ("__meta_rds_instance_identifier", "DBInstanceIdentifier", Kind::Text),
    ("__meta_rds_instance_activity_stream_engine_native_audit_fields_included", "ActivityStreamEngineNativeAuditFieldsIncluded", Kind::Bool),
    ("__meta_rds_instance_activity_stream_kinesis_stream_name", "ActivityStreamKinesisStreamName", Kind::Text),
    ("__meta_rds_instance_activity_stream_kms_key_id", "ActivityStreamKmsKeyId", Kind::Text),
    ("__meta_rds_instance_activity_stream_mode", "ActivityStreamMode", Kind::Enum),
    ("__meta_rds_instance_activity_stream_policy_status", "ActivityStreamPolicyStatus", Kind::Enum),
    ("__meta_rds_instance_activity_stream_status", "ActivityStreamStatus", Kind::Enum),
    ("__meta_rds_instance_allocated_storage", "AllocatedStorage", Kind::Int),
    ("__meta_rds_instance_auto_minor_version_upgrade", "AutoMinorVersionUpgrade", Kind::Bool),
    ("__meta_rds_instance_automatic_restart_time", "AutomaticRestartTime", Kind::Time),
    ("__meta_rds_instance_automation_mode", "AutomationMode", Kind::Enum),
    ("__meta_rds_instance_availability_zone", "AvailabilityZone", Kind::Text),
    ("__meta_rds_instance_aws_backup_recovery_point_arn", "AwsBackupRecoveryPointArn", Kind::Text),
    ("__meta_rds_instance_backup_retention_period", "BackupRetentionPeriod", Kind::Int),
    ("__meta_rds_instance_backup_target", "BackupTarget", Kind::Text),
    ("__meta_rds_instance_ca_certificate_identifier", "CACertificateIdentifier", Kind::Text),
    ("__meta_rds_instance_character_set_name", "CharacterSetName", Kind::Text),
    ("__meta_rds_instance_copy_tags_to_snapshot", "CopyTagsToSnapshot", Kind::Bool),
    ("__meta_rds_instance_custom_iam_instance_profile", "CustomIamInstanceProfile", Kind::Text),
    ("__meta_rds_instance_customer_owned_ip_enabled", "CustomerOwnedIpEnabled", Kind::Bool),
    ("__meta_rds_instance_db_cluster_identifier", "DBClusterIdentifier", Kind::Text),
    ("__meta_rds_instance_class", "DBInstanceClass", Kind::Text),
    ("__meta_rds_instance_status", "DBInstanceStatus", Kind::Text),
    ("__meta_rds_instance_db_name", "DBName", Kind::Text),
    ("__meta_rds_instance_port", "DbInstancePort", Kind::Int),
    ("__meta_rds_instance_resource_id", "DbiResourceId", Kind::Text),
    ("__meta_rds_instance_dedicated_log_volume", "DedicatedLogVolume", Kind::Bool),
    ("__meta_rds_instance_deletion_protection", "DeletionProtection", Kind::Bool),
    ("__meta_rds_instance_engine", "Engine", Kind::Text),
    ("__meta_rds_instance_engine_lifecycle_support", "EngineLifecycleSupport", Kind::Text),
    ("__meta_rds_instance_engine_version", "EngineVersion", Kind::Text),
    ("__meta_rds_instance_enhanced_monitoring_resource_arn", "EnhancedMonitoringResourceArn", Kind::Text),
    ("__meta_rds_instance_iam_database_authentication_enabled", "IAMDatabaseAuthenticationEnabled", Kind::Bool),
    ("__meta_rds_instance_instance_create_time", "InstanceCreateTime", Kind::Time),
    ("__meta_rds_instance_iops", "Iops", Kind::Int),
    ("__meta_rds_instance_is_storage_config_upgrade_available", "IsStorageConfigUpgradeAvailable", Kind::Bool),
    ("__meta_rds_instance_kms_key_id", "KmsKeyId", Kind::Text),
    ("__meta_rds_instance_latest_restorable_time", "LatestRestorableTime", Kind::Time),
    ("__meta_rds_instance_license_model", "LicenseModel", Kind::Text),
    ("__meta_rds_instance_master_username", "MasterUsername", Kind::Text),
    ("__meta_rds_instance_max_allocated_storage", "MaxAllocatedStorage", Kind::Int),
    ("__meta_rds_instance_monitoring_interval", "MonitoringInterval", Kind::Int),
    ("__meta_rds_instance_monitoring_role_arn", "MonitoringRoleArn", Kind::Text),
    ("__meta_rds_instance_multi_az", "MultiAZ", Kind::Bool),
    ("__meta_rds_instance_multi_tenant", "MultiTenant", Kind::Bool),
    ("__meta_rds_instance_nchar_character_set_name", "NcharCharacterSetName", Kind::Text),
    ("__meta_rds_instance_network_type", "NetworkType", Kind::Text),
    ("__meta_rds_instance_percent_progress", "PercentProgress", Kind::Text),
    ("__meta_rds_instance_performance_insights_enabled", "PerformanceInsightsEnabled", Kind::Bool),
    ("__meta_rds_instance_performance_insights_kms_key_id", "PerformanceInsightsKMSKeyId", Kind::Text),
    ("__meta_rds_instance_performance_insights_retention_period", "PerformanceInsightsRetentionPeriod", Kind::Int),
    ("__meta_rds_instance_preferred_backup_window", "PreferredBackupWindow", Kind::Text),
    ("__meta_rds_instance_preferred_maintenance_window", "PreferredMaintenanceWindow", Kind::Text),
    ("__meta_rds_instance_promotion_tier", "PromotionTier", Kind::Int),
    ("__meta_rds_instance_publicly_accessible", "PubliclyAccessible", Kind::Bool),
    ("__meta_rds_instance_read_replica_source_db_cluster_identifier", "ReadReplicaSourceDBClusterIdentifier", Kind::Text),
    ("__meta_rds_instance_read_replica_source_db_instance_identifier", "ReadReplicaSourceDBInstanceIdentifier", Kind::Text),
    ("__meta_rds_instance_replica_mode", "ReplicaMode", Kind::Enum),
    ("__meta_rds_instance_resume_full_automation_mode_time", "ResumeFullAutomationModeTime", Kind::Time),
    ("__meta_rds_instance_secondary_availability_zone", "SecondaryAvailabilityZone", Kind::Text),
    ("__meta_rds_instance_storage_encrypted", "StorageEncrypted", Kind::Bool),
    ("__meta_rds_instance_storage_encryption_type", "StorageEncryptionType", Kind::Enum),
    ("__meta_rds_instance_storage_throughput", "StorageThroughput", Kind::Int),
    ("__meta_rds_instance_storage_type", "StorageType", Kind::Text),
    ("__meta_rds_instance_storage_volume_status", "StorageVolumeStatus", Kind::Text),
    ("__meta_rds_instance_tde_credential_arn", "TdeCredentialArn", Kind::Text),
    ("__meta_rds_instance_timezone", "Timezone", Kind::Text),
    ("__meta_rds_instance_upgrade_rollout_order", "UpgradeRolloutOrder", Kind::Enum),
    ("__meta_rds_instance_db_system_id", "DBSystemId", Kind::Text),
    ("__meta_rds_instance_database_insights_mode", "DatabaseInsightsMode", Kind::Enum),
];

/// Reads one page of an answer: its items and the `Marker` of the next page.
pub type PageReader<T> = fn(&str) -> Result<(Vec<T>, Option<String>), String>;

/// A page of a `DescribeDBClusters` answer: its clusters and the `Marker` of the next page.
pub fn read_clusters(xml: &str) -> Result<(Vec<Cluster>, Option<String>), String> {
    read_page(xml, "DescribeDBClustersResult", "DBClusters", "DBCluster", Cluster::read)
}

/// A page of a `DescribeDBInstances` answer: its instances' elements as read, and the
/// `Marker` of the next page.
pub fn read_instances(xml: &str) -> Result<(Vec<Instance>, Option<String>), String> {
    read_page(xml, "DescribeDBInstancesResult", "DBInstances", "DBInstance", Instance::read)
}

fn read_page<T>(xml: &str, result: &str, list: &str, item: &str, read: impl Fn(Node) -> T) -> Result<(Vec<T>, Option<String>), String> {
    let doc = Document::parse(xml).map_err(|e| format!("the answer is not XML: {e}"))?;
    let result = child(doc.root_element(), result).ok_or_else(|| format!("the answer has no {result}"))?;
    let items = child(result, list).into_iter().flat_map(|l| children_named(l, item)).map(read).collect();
    Ok((items, child_text(result, "Marker").filter(|m| !m.is_empty())))
}

/// A DB cluster: its ARN, its labels, and which of its members are writers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cluster {
    pub arn: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// `DBClusterMembers`: instance identifier to `IsClusterWriter`.
    pub writers: HashMap<String, String>,
}

impl Cluster {
    fn read(node: Node) -> Cluster {
        let mut labels = BTreeMap::new();
        read_fields(node, &CLUSTER_FIELDS, &mut labels);
        read_tags(node, CLUSTER_TAG, &mut labels);
        let mut writers = HashMap::new();
        for member in child(node, "DBClusterMembers").into_iter().flat_map(|m| children_named(m, "DBClusterMember")) {
            if let (Some(id), Some(writer)) = (child_text(member, "DBInstanceIdentifier"), child_text(member, "IsClusterWriter")) {
                writers.insert(id, writer.to_ascii_lowercase());
            }
        }
        Cluster { arn: child_text(node, "DBClusterArn"), labels, writers }
    }
}

/// A DB instance: its labels and the address of its endpoint, when it has one with a port.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Instance {
    pub identifier: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub address: Option<String>,
}

impl Instance {
    fn read(node: Node) -> Instance {
        let mut labels = BTreeMap::new();
        read_fields(node, &INSTANCE_FIELDS, &mut labels);
        let mut address = None;
        for (element, [address_label, zone_label, port_label]) in ENDPOINTS {
            let Some(endpoint) = child(node, element) else { continue };
            let (host, zone, port) = (child_text(endpoint, "Address"), child_text(endpoint, "HostedZoneId"), child_text(endpoint, "Port"));
            for (label, value) in [(address_label, &host), (zone_label, &zone), (port_label, &port)] {
                if let Some(value) = value {
                    labels.insert(label.to_string(), value.trim().to_string());
                }
            }
            // Prometheus' target address: the endpoint's, when it tells address and port.
            if element == "Endpoint" && port.is_some() {
                address = host;
            }
        }
        if let Some(name) = child(node, "DBSubnetGroup").and_then(|g| child_text(g, "DBSubnetGroupName")) {
            labels.insert(SUBNET_GROUP.to_string(), name);
        }
        read_tags(node, INSTANCE_TAG, &mut labels);
        Instance { identifier: child_text(node, "DBInstanceIdentifier"), labels, address }
    }
}

/// The target of `instance` of `cluster` on `port`: both label sets (the instance's win where
/// they meet), whether it is the cluster's writer, and its endpoint's address when it has one
/// (without, the group has no target, as Prometheus' label set without an address is none).
pub fn target(cluster: &Cluster, instance: &Instance, port: u16) -> TargetGroup {
    let mut labels = cluster.labels.clone();
    labels.extend(instance.labels.iter().map(|(n, v)| (n.clone(), v.clone())));
    if let Some(writer) = instance.identifier.as_ref().and_then(|id| cluster.writers.get(id)) {
        labels.insert(IS_CLUSTER_WRITER.to_string(), writer.clone());
    }
    let targets = instance.address.iter().map(|host| join_host_port(host, port)).collect();
    TargetGroup { targets, labels }
}

/// The labels of `fields` (the tables above: most labels are one element each) from `node`'s
/// elements; an absent element leaves its label out.
fn read_fields(node: Node, fields: &[(&str, &str, Kind)], labels: &mut BTreeMap<String, String>) {
    for &(label, element, kind) in fields {
        if let Some(value) = child_text(node, element).and_then(|text| told(kind, text)) {
            labels.insert(label.to_string(), value);
        }
    }
}

/// An element's `text` as its label value, None when it is an empty enum (told as absent):
/// booleans and numbers are told as written, times as RFC 3339 in UTC without a fraction
/// (Go's `time.RFC3339`).
pub fn told(kind: Kind, text: String) -> Option<String> {
    Some(match kind {
        Kind::Text => text,
        Kind::Enum if text.is_empty() => return None,
        Kind::Enum => text,
        Kind::Bool => text.trim().to_ascii_lowercase(),
        Kind::Int => text.trim().to_string(),
        Kind::Time => rfc3339_seconds(text.trim()),
    })
}

fn read_tags(node: Node, prefix: &str, labels: &mut BTreeMap<String, String>) {
    for tag in child(node, "TagList").into_iter().flat_map(|t| children_named(t, "Tag")) {
        if let (Some(key), Some(value)) = (child_text(tag, "Key"), child_text(tag, "Value")) {
            labels.insert(format!("{prefix}{}", sanitize_label_name(&key)), value);
        }
    }
}

/// An ISO 8601 time as Go's `time.RFC3339` writes it in UTC (`2024-01-01T00:00:00Z`); a
/// text that is not one is told as written.
fn rfc3339_seconds(text: &str) -> String {
    if text.parse::<f64>().is_ok() {
        return text.to_string();
    }
    match crate::api::params::parse_time_ms_at(text, 0) {
        Ok(ms) => crate::api::status::rfc3339_nano(ms.div_euclid(1000) * 1_000_000_000),
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    /// Prometheus' SingleClusterWithInstance, as RDS writes it.
    const CLUSTERS: &str = r#"<DescribeDBClustersResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBClustersResult><DBClusters>
        <DBCluster><DBClusterArn>arn:aws:rds:us-east-1:123456789012:cluster:test-cluster</DBClusterArn><DBClusterIdentifier>test-cluster</DBClusterIdentifier>
          <Engine>aurora-postgresql</Engine><EngineVersion>15.4</EngineVersion><Status>available</Status><Endpoint>test-cluster.cluster-xyz.us-east-1.rds.amazonaws.com</Endpoint>
          <Port>5432</Port><MasterUsername>admin</MasterUsername><MultiAZ>true</MultiAZ><ClusterCreateTime>2024-01-01T00:00:00.000Z</ClusterCreateTime>
          <ActivityStreamMode></ActivityStreamMode>
          <DBClusterMembers><DBClusterMember><DBInstanceIdentifier>test-instance-1</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember></DBClusterMembers>
          <TagList><Tag><Key>Environment</Key><Value>test</Value></Tag></TagList></DBCluster>
        </DBClusters><Marker>next-page</Marker></DescribeDBClustersResult></DescribeDBClustersResponse>"#;

    const INSTANCES: &str = r#"<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances>
        <DBInstance><DBInstanceArn>arn:aws:rds:us-east-1:123456789012:db:test-instance-1</DBInstanceArn><DBInstanceIdentifier>test-instance-1</DBInstanceIdentifier>
          <DBInstanceClass>db.r5.large</DBInstanceClass><DBInstanceStatus>available</DBInstanceStatus><Engine>aurora-postgresql</Engine><EngineVersion>15.4</EngineVersion>
          <AvailabilityZone>us-east-1a</AvailabilityZone><DBClusterIdentifier>test-cluster</DBClusterIdentifier><PubliclyAccessible>false</PubliclyAccessible>
          <InstanceCreateTime>2024-01-01T00:00:00Z</InstanceCreateTime>
          <Endpoint><Address>test-instance-1.xyz.us-east-1.rds.amazonaws.com</Address><Port>5432</Port><HostedZoneId>Z2R2ITUGPM61AM</HostedZoneId></Endpoint>
          <TagList><Tag><Key>Name</Key><Value>test-instance</Value></Tag></TagList></DBInstance>
        <DBInstance><DBInstanceIdentifier>creating</DBInstanceIdentifier><DBSubnetGroup><DBSubnetGroupName>default</DBSubnetGroupName></DBSubnetGroup>
          <Endpoint><Address>no-port.rds.amazonaws.com</Address></Endpoint><LatestRestorableTime>2024-03-05T10:20:30.5+01:00</LatestRestorableTime></DBInstance>
        </DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>"#;

    #[test]
    fn a_cluster_instance_has_prometheus_labels() {
        let (clusters, marker) = read_clusters(CLUSTERS).expect("clusters");
        assert_eq!((clusters.len(), marker.as_deref()), (1, Some("next-page")));
        let (instances, marker) = read_instances(INSTANCES).expect("instances");
        assert_eq!((instances.len(), marker), (2, None));
        // Prometheus' test builds the address with the endpoint's port: the entry's is 5432.
        let group = target(&clusters[0], &instances[0], 5432);
        assert_eq!(group.targets, ["test-instance-1.xyz.us-east-1.rds.amazonaws.com:5432"]);
        let expected = labels(&[
            ("__meta_rds_cluster_arn", "arn:aws:rds:us-east-1:123456789012:cluster:test-cluster"),
            ("__meta_rds_cluster_identifier", "test-cluster"),
            ("__meta_rds_cluster_engine", "aurora-postgresql"),
            ("__meta_rds_cluster_engine_version", "15.4"),
            ("__meta_rds_cluster_status", "available"),
            ("__meta_rds_cluster_endpoint", "test-cluster.cluster-xyz.us-east-1.rds.amazonaws.com"),
            ("__meta_rds_cluster_port", "5432"),
            ("__meta_rds_cluster_master_username", "admin"),
            ("__meta_rds_cluster_multi_az", "true"),
            ("__meta_rds_cluster_cluster_create_time", "2024-01-01T00:00:00Z"),
            ("__meta_rds_cluster_tag_Environment", "test"),
            ("__meta_rds_instance_arn", "arn:aws:rds:us-east-1:123456789012:db:test-instance-1"),
            ("__meta_rds_instance_identifier", "test-instance-1"),
            ("__meta_rds_instance_is_cluster_writer", "true"),
            ("__meta_rds_instance_class", "db.r5.large"),
            ("__meta_rds_instance_status", "available"),
            ("__meta_rds_instance_engine", "aurora-postgresql"),
            ("__meta_rds_instance_engine_version", "15.4"),
            ("__meta_rds_instance_availability_zone", "us-east-1a"),
            ("__meta_rds_instance_db_cluster_identifier", "test-cluster"),
            ("__meta_rds_instance_publicly_accessible", "false"),
            ("__meta_rds_instance_instance_create_time", "2024-01-01T00:00:00Z"),
            ("__meta_rds_instance_endpoint_address", "test-instance-1.xyz.us-east-1.rds.amazonaws.com"),
            ("__meta_rds_instance_endpoint_port", "5432"),
            ("__meta_rds_instance_endpoint_hosted_zone_id", "Z2R2ITUGPM61AM"),
            ("__meta_rds_instance_tag_Name", "test-instance"),
        ]);
        assert_eq!(group.labels, expected, "an empty enum element (ActivityStreamMode) is no label");
    }

    #[test]
    fn an_instance_without_an_endpoint_port_is_no_target_and_times_are_utc_seconds() {
        let (clusters, _) = read_clusters(CLUSTERS).expect("clusters");
        let (instances, _) = read_instances(INSTANCES).expect("instances");
        let group = target(&clusters[0], &instances[1], 9100);
        assert!(group.targets.is_empty(), "{group:?}");
        assert_eq!(group.labels.get("__meta_rds_instance_endpoint_address").map(String::as_str), Some("no-port.rds.amazonaws.com"));
        assert_eq!(group.labels.get("__meta_rds_instance_subnet_group").map(String::as_str), Some("default"));
        assert_eq!(group.labels.get("__meta_rds_instance_latest_restorable_time").map(String::as_str), Some("2024-03-05T09:20:30Z"));
        assert!(!group.labels.contains_key("__meta_rds_instance_is_cluster_writer"), "not a member: {group:?}");
    }

    #[test]
    fn writers_follow_cluster_membership() {
        // Prometheus' MultipleInstancesInCluster.
        let xml = r#"<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters><DBCluster><DBClusterArn>arn:aws:rds:us-west-2:123456789012:cluster:prod-cluster</DBClusterArn>
            <DBClusterMembers><DBClusterMember><DBInstanceIdentifier>prod-instance-1</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember>
            <DBClusterMember><DBInstanceIdentifier>prod-instance-2</DBInstanceIdentifier><IsClusterWriter>false</IsClusterWriter></DBClusterMember></DBClusterMembers></DBCluster></DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>"#;
        let (clusters, _) = read_clusters(xml).expect("clusters");
        for (id, writer) in [("prod-instance-1", "true"), ("prod-instance-2", "false")] {
            let instance = Instance { identifier: Some(id.to_string()), ..Default::default() };
            assert_eq!(target(&clusters[0], &instance, 3306).labels.get(IS_CLUSTER_WRITER).map(String::as_str), Some(writer), "{id}");
        }
    }

    #[test]
    fn every_label_name_is_prometheus_own_and_unique() {
        let names: std::collections::HashSet<&str> = CLUSTER_FIELDS.iter().chain(&INSTANCE_FIELDS).map(|(n, _, _)| *n).collect();
        assert_eq!(names.len(), CLUSTER_FIELDS.len() + INSTANCE_FIELDS.len());
        assert!(names.iter().all(|n| n.starts_with("__meta_rds_cluster_") || n.starts_with("__meta_rds_instance_")));
    }
}
