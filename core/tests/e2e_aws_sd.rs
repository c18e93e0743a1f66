//! End-to-end: the real binary discovers scrape targets with `aws_sd_configs` of every role
//! (lightsail, ecs, ec2, rds, elasticache and msk) on a mock AWS, scrapes the targets its
//! relabeling keeps and shows their `__meta_*` labels in `/api/v1/targets`; Lightsail starting
//! to fail keeps its last good target.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

const WAIT: Duration = Duration::from_secs(30);

/// A request the mock saw: its `X-Amz-Target` (or EC2's `Action=…`), `Authorization` and body.
#[derive(Debug, Clone)]
struct Seen {
    call: String,
    authorization: String,
    body: String,
}

/// A mock AWS endpoint: every service on one loopback port; Lightsail fails while
/// `lightsail_down` is set. It answers Lightsail's and ECS' JSON 1.1 calls by `X-Amz-Target`,
/// EC2's, RDS' and ElastiCache's Query API by `Action` and MSK's REST-JSON by path.
struct MockAws {
    address: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    lightsail_down: Arc<AtomicBool>,
}

impl MockAws {
    fn start(exporter_port: u16) -> MockAws {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let lightsail_down = Arc::new(AtomicBool::new(false));
        let (record, down) = (seen.clone(), lightsail_down.clone());
        let port = mock_api(move |_, request| {
            // JSON 1.1 by its target, the Query API by its action, REST-JSON by its method and path.
            let target = request.header("x-amz-target").to_string();
            let call = match (target.is_empty(), request.method == "GET") {
                (false, _) => target,
                (true, true) if request.query.is_empty() => format!("GET {}", request.path),
                (true, true) => format!("GET {}?{}", request.path, request.query),
                (true, false) => request.body.split('&').next().unwrap_or("").to_string(),
            };
            let (status, answer) = answer(&call, &request.body, exporter_port, down.load(Ordering::SeqCst));
            record.lock().map(|mut r| r.push(Seen { call, authorization: request.header("authorization").to_string(), body: request.body.clone() })).ok();
            Some((status, Vec::new(), answer))
        });
        MockAws { address: format!("127.0.0.1:{port}"), seen, lightsail_down }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

const CLUSTER: &str = "arn:aws:ecs:eu-west-1:123456789012:cluster/prod";

/// The answers: a Lightsail instance on loopback and one elsewhere; an ECS cluster with a
/// Fargate service task on loopback and one elsewhere; an EC2 instance on loopback; an RDS
/// cluster with an instance on loopback; an ElastiCache serverless cache and a cache node on
/// loopback (on their endpoints' own port: the exporter's); an MSK cluster with a broker on
/// loopback.
fn answer(call: &str, body: &str, port: u16, lightsail_down: bool) -> (u16, String) {
    let ecs = |operation: &str| format!("AmazonEC2ContainerServiceV20141113.{operation}");
    let eni = |ip: &str, id: &str| json!([{"type": "ElasticNetworkInterface", "details": [{"name": "subnetId", "value": "subnet-1"}, {"name": "privateIPv4Address", "value": ip}, {"name": "networkInterfaceId", "value": id}]}]);
    let found = match call {
        "Lightsail_20161128.GetInstances" if lightsail_down => return (503, r#"{"__type":"ServiceUnavailableException","message":"down"}"#.into()),
        "Lightsail_20161128.GetInstances" => json!({"instances": [
            {"name": "web-1", "privateIpAddress": "127.0.0.1", "publicIpAddress": "203.0.113.1", "blueprintId": "ubuntu_22_04", "bundleId": "nano_3_0",
             "supportCode": "sc-1", "location": {"availabilityZone": "eu-west-1a", "regionName": "eu-west-1"}, "state": {"code": 16, "name": "running"},
             "ipv6Addresses": ["2001:db8::1"], "tags": [{"key": "team-name", "value": "storage"}]},
            {"name": "far", "privateIpAddress": "10.9.9.9"}]}),
        c if c == ecs("DescribeClusters") && !body.contains("clusters") => json!({"clusters": []}),
        c if c == ecs("DescribeClusters") => json!({"clusters": [{"clusterArn": CLUSTER, "clusterName": "prod", "status": "ACTIVE", "tags": [{"key": "env", "value": "production"}]}]}),
        c if c == ecs("ListServices") => json!({"serviceArns": ["arn:aws:ecs:eu-west-1:123456789012:service/prod/api"]}),
        c if c == ecs("ListTasks") => json!({"taskArns": ["arn:aws:ecs:eu-west-1:123456789012:task/prod/t1", "arn:aws:ecs:eu-west-1:123456789012:task/prod/t2"]}),
        c if c == ecs("DescribeServices") => json!({"services": [{"serviceName": "api", "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/api", "status": "ACTIVE", "tags": [{"key": "app", "value": "api"}]}]}),
        c if c == ecs("DescribeTasks") => json!({"tasks": [
            {"taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/prod/t1", "clusterArn": CLUSTER, "group": "service:api", "launchType": "FARGATE", "healthStatus": "HEALTHY",
             "lastStatus": "RUNNING", "desiredStatus": "RUNNING", "availabilityZone": "eu-west-1b", "taskDefinitionArn": "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:3",
             "attachments": eni("127.0.0.1", "eni-1"), "tags": [{"key": "version", "value": "v3"}]},
            {"taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/prod/t2", "group": "service:api", "launchType": "FARGATE", "attachments": eni("10.0.0.2", "eni-2")}]}),
        "Action=DescribeNetworkInterfaces" => {
            return (200, "<DescribeNetworkInterfacesResponse><networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><association><publicIp>52.0.0.1</publicIp></association></item></networkInterfaceSet></DescribeNetworkInterfacesResponse>".into());
        }
        c if c.starts_with("Action=DescribeDBClusters") => {
            let cluster = "<DBCluster><DBClusterArn>arn:aws:rds:eu-west-1:123456789012:cluster:orders</DBClusterArn><DBClusterIdentifier>orders</DBClusterIdentifier><Engine>aurora-postgresql</Engine><DBClusterMembers><DBClusterMember><DBInstanceIdentifier>orders-1</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember></DBClusterMembers></DBCluster>";
            let clusters = if body.contains("MaxRecords") { cluster } else { "" };
            return (200, format!("<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters>{clusters}</DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>"));
        }
        c if c.starts_with("Action=DescribeDBInstances") => {
            return (200, "<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances><DBInstance><DBInstanceIdentifier>orders-1</DBInstanceIdentifier><DBInstanceClass>db.r6g.large</DBInstanceClass><Endpoint><Address>127.0.0.1</Address><Port>5432</Port></Endpoint><TagList><Tag><Key>team</Key><Value>payments</Value></Tag></TagList></DBInstance></DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>".into());
        }
        c if c.starts_with("Action=DescribeServerlessCaches") => {
            return (200, format!("<DescribeServerlessCachesResponse><DescribeServerlessCachesResult><ServerlessCaches><member><ARN>arn:aws:elasticache:eu-west-1:123456789012:serverlesscache:sessions</ARN><ServerlessCacheName>sessions</ServerlessCacheName><Engine>valkey</Engine><Endpoint><Address>127.0.0.1</Address><Port>{port}</Port></Endpoint></member></ServerlessCaches></DescribeServerlessCachesResult></DescribeServerlessCachesResponse>"));
        }
        c if c.starts_with("Action=DescribeCacheClusters") => {
            // The credential test and the NotInReplicationGroups=true ask find nothing.
            let cluster = format!("<CacheCluster><ARN>arn:aws:elasticache:eu-west-1:123456789012:cluster:rate-001</ARN><CacheClusterId>rate-001</CacheClusterId><Engine>redis</Engine><CacheNodes><CacheNode><CacheNodeId>0001</CacheNodeId><Endpoint><Address>127.0.0.1</Address><Port>{port}</Port></Endpoint></CacheNode></CacheNodes></CacheCluster>");
            let clusters = if body.contains("ShowCacheClustersNotInReplicationGroups=false") { cluster.as_str() } else { "" };
            return (200, format!("<DescribeCacheClustersResponse><DescribeCacheClustersResult><CacheClusters>{clusters}</CacheClusters></DescribeCacheClustersResult></DescribeCacheClustersResponse>"));
        }
        c if c.starts_with("Action=ListTagsForResource") => {
            return (200, "<ListTagsForResourceResponse><ListTagsForResourceResult><TagList><Tag><Key>team</Key><Value>platform</Value></Tag></TagList></ListTagsForResourceResult></ListTagsForResourceResponse>".into());
        }
        c if c.starts_with("GET /api/v2/clusters") => json!({"clusterInfoList": [
            {"clusterName": "kafka-main", "clusterArn": "arn:aws:kafka:eu-west-1:123456789012:cluster/kafka-main/1", "clusterType": "PROVISIONED", "state": "ACTIVE",
             "provisioned": {"currentBrokerSoftwareInfo": {"kafkaVersion": "3.6.0"}, "openMonitoring": {"prometheus": {"nodeExporter": {"enabledInBroker": true}}}}}]}),
        c if c.starts_with("GET /v1/clusters/arn%3Aaws%3Akafka") => json!({"nodeInfoList": [
            {"nodeARN": "arn:aws:kafka:eu-west-1:123456789012:broker/kafka-main/1", "brokerNodeInfo": {"brokerId": 1.0, "endpoints": ["127.0.0.1", "b-1.kafka-main.example"]}}]}),
        "Action=DescribeAvailabilityZones" => {
            return (200, "<DescribeAvailabilityZonesResponse><availabilityZoneInfo><item><zoneName>eu-west-1a</zoneName><zoneId>euw1-az1</zoneId></item></availabilityZoneInfo></DescribeAvailabilityZonesResponse>".into());
        }
        "Action=DescribeInstances" => {
            let xml = String::from("<DescribeInstancesResponse><reservationSet><item><ownerId>123456789012</ownerId><instancesSet><item><instanceId>i-0abc</instanceId><instanceType>t3.small</instanceType><privateIpAddress>127.0.0.1</privateIpAddress><instanceState><name>running</name></instanceState><placement><availabilityZone>eu-west-1a</availabilityZone></placement><tagSet><item><key>Name</key><value>ec2-web</value></item></tagSet></item></instancesSet></item></reservationSet></DescribeInstancesResponse>");
            return (200, xml);
        }
        other => return (400, json!({"__type": "UnknownOperationException", "message": format!("port {port}: {other}")}).to_string()),
    };
    (200, found.to_string())
}

/// The discovered labels of the active target whose label `found` is `value`, or null.
fn discovered(targets: &serde_json::Value, value: &str) -> serde_json::Value {
    targets["data"]["activeTargets"].as_array().and_then(|a| a.iter().find(|t| t["labels"]["found"] == value)).map(|t| t["discoveredLabels"].clone()).unwrap_or_default()
}

fn assert_labels(labels: &serde_json::Value, expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(labels[*name].as_str(), Some(*value), "{name} in {labels}");
    }
}

/// Every role, with static keys and `endpoint` on the mock AWS; relabeling keeps the targets
/// that point at a mock exporter, which is scraped. `/api/v1/targets` shows the
/// `__meta_lightsail_*`, `__meta_ecs_*`, `__meta_ec2_*`, `__meta_rds_*`,
/// `__meta_elasticache_*` and `__meta_msk_*` labels, and `/api/v1/scrape_pools/config` the
/// secret key masked.
#[test]
fn aws_sd_finds_targets_of_every_role_and_keeps_them_when_aws_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exporter = Exporter::start("aws_probe 1\n");
    let aws = MockAws::start(exporter.port);
    let keys = "region: eu-west-1, access_key: AKIDE2E, secret_key: s3cr3t-e2e, refresh_interval: 1s";
    let config = write_scrape_config(dir.path(), format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n\
             - job_name: aws\n  aws_sd_configs:\n\
             \x20 - {{role: lightsail, endpoint: 'http://{mock}', port: {port}, {keys}}}\n\
             \x20 - {{role: ecs, endpoint: 'http://{mock}', port: {port}, clusters: [prod], {keys}}}\n\
             \x20 - {{role: ec2, endpoint: 'http://{mock}', port: {port}, {keys}}}\n\
             \x20 - {{role: rds, endpoint: 'http://{mock}', port: {port}, filters: [{{name: engine, values: [aurora-postgresql]}}], {keys}}}\n\
             \x20 - {{role: elasticache, endpoint: 'http://{mock}', {keys}}}\n\
             \x20 - {{role: msk, endpoint: 'http://{mock}', port: {port}, {keys}}}\n\
             \x20 relabel_configs:\n\
             \x20 - {{source_labels: [__address__], regex: '127\\.0\\.0\\.1:{port}', action: keep}}\n\
             \x20 - {{source_labels: [__meta_lightsail_instance_name, __meta_ecs_service, __meta_ec2_tag_Name, __meta_rds_instance_identifier, __meta_elasticache_serverless_cache_name, __meta_elasticache_cache_cluster_cache_cluster_id, __meta_msk_cluster_name], separator: '', target_label: found}}\n",
            mock = aws.address,
            port = exporter.port
        ));
    // ECS' EC2 lookups go to EC2's endpoint, not the entry's (as in Prometheus).
    let ec2_endpoint = format!("http://{}", aws.address);
    let server = Server::start_with_env(&config, &[("AWS_ENDPOINT_URL_EC2", &ec2_endpoint)]);

    let found = poll_query(&server, "aws_probe", "the targets of every role scraped", WAIT, |r| {
        let mut found: Vec<String> = r.iter().filter_map(|s| s["metric"]["found"].as_str().map(str::to_string)).collect();
        found.sort();
        (found.len() == 7).then_some(found)
    });
    assert_eq!(found, ["api", "ec2-web", "kafka-main", "orders-1", "rate-001", "sessions", "web-1"]);

    let targets = poll_targets(&server, WAIT, |t| t["data"]["activeTargets"].as_array().is_some_and(|a| a.len() == 7 && a.iter().all(|t| t["health"] == "up")));
    let instance = exporter.address();
    assert_labels(
        &discovered(&targets, "web-1"),
        &[
            ("__address__", &instance),
            ("__meta_lightsail_instance_name", "web-1"),
            ("__meta_lightsail_private_ip", "127.0.0.1"),
            ("__meta_lightsail_public_ip", "203.0.113.1"),
            ("__meta_lightsail_region", "eu-west-1"),
            ("__meta_lightsail_availability_zone", "eu-west-1a"),
            ("__meta_lightsail_blueprint_id", "ubuntu_22_04"),
            ("__meta_lightsail_bundle_id", "nano_3_0"),
            ("__meta_lightsail_instance_state", "running"),
            ("__meta_lightsail_instance_support_code", "sc-1"),
            ("__meta_lightsail_ipv6_addresses", ",2001:db8::1,"),
            ("__meta_lightsail_tag_team_name", "storage"),
        ],
    );
    assert_labels(
        &discovered(&targets, "api"),
        &[
            ("__address__", &instance),
            ("__meta_ecs_cluster", "prod"),
            ("__meta_ecs_cluster_arn", CLUSTER),
            ("__meta_ecs_service", "api"),
            ("__meta_ecs_service_status", "ACTIVE"),
            ("__meta_ecs_task_arn", "arn:aws:ecs:eu-west-1:123456789012:task/prod/t1"),
            ("__meta_ecs_task_group", "service:api"),
            ("__meta_ecs_task_definition", "arn:aws:ecs:eu-west-1:123456789012:task-definition/api:3"),
            ("__meta_ecs_ip_address", "127.0.0.1"),
            ("__meta_ecs_subnet_id", "subnet-1"),
            ("__meta_ecs_public_ip", "52.0.0.1"),
            ("__meta_ecs_network_mode", "awsvpc"),
            ("__meta_ecs_launch_type", "FARGATE"),
            ("__meta_ecs_health_status", "HEALTHY"),
            ("__meta_ecs_region", "eu-west-1"),
            ("__meta_ecs_availability_zone", "eu-west-1b"),
            ("__meta_ecs_tag_cluster_env", "production"),
            ("__meta_ecs_tag_service_app", "api"),
            ("__meta_ecs_tag_task_version", "v3"),
        ],
    );
    assert_labels(
        &discovered(&targets, "ec2-web"),
        &[("__address__", &instance), ("__meta_ec2_instance_id", "i-0abc"), ("__meta_ec2_instance_type", "t3.small"), ("__meta_ec2_region", "eu-west-1"), ("__meta_ec2_availability_zone_id", "euw1-az1"), ("__meta_ec2_owner_id", "123456789012")],
    );

    assert_labels(
        &discovered(&targets, "orders-1"),
        &[
            ("__address__", &instance),
            ("__meta_rds_cluster_identifier", "orders"),
            ("__meta_rds_cluster_engine", "aurora-postgresql"),
            ("__meta_rds_instance_identifier", "orders-1"),
            ("__meta_rds_instance_class", "db.r6g.large"),
            ("__meta_rds_instance_is_cluster_writer", "true"),
            ("__meta_rds_instance_endpoint_port", "5432"),
            ("__meta_rds_instance_tag_team", "payments"),
        ],
    );

    assert_labels(
        &discovered(&targets, "sessions"),
        &[("__address__", &instance), ("__meta_elasticache_deployment_option", "serverless"), ("__meta_elasticache_serverless_cache_engine", "valkey"), ("__meta_elasticache_serverless_cache_tag_team", "platform")],
    );
    assert_labels(
        &discovered(&targets, "rate-001"),
        &[("__address__", &instance), ("__meta_elasticache_deployment_option", "node"), ("__meta_elasticache_cache_cluster_node_id", "0001"), ("__meta_elasticache_cache_cluster_engine", "redis"), ("__meta_elasticache_cache_cluster_tag_team", "platform")],
    );

    assert_labels(
        &discovered(&targets, "kafka-main"),
        &[("__address__", &instance), ("__meta_msk_node_type", "BROKER"), ("__meta_msk_broker_id", "1"), ("__meta_msk_broker_endpoint_index", "0"), ("__meta_msk_cluster_kafka_version", "3.6.0"), ("__meta_msk_broker_node_exporter_enabled", "true")],
    );

    // Each call signed for its service with the entry's key, for its region.
    let seen = aws.seen();
    for (call, service) in [("Lightsail_20161128.GetInstances", "lightsail"), ("AmazonEC2ContainerServiceV20141113.DescribeTasks", "ecs"), ("Action=DescribeNetworkInterfaces", "ec2"), ("Action=DescribeInstances", "ec2"), ("Action=DescribeDBInstances", "rds"), ("Action=DescribeServerlessCaches", "elasticache"), ("Action=ListTagsForResource", "elasticache"), ("GET /v1/clusters/arn%3Aaws%3Akafka%3Aeu-west-1%3A123456789012%3Acluster%2Fkafka-main%2F1/nodes?maxResults=100", "kafka")] {
        let request = seen.iter().find(|s| s.call == call).unwrap_or_else(|| panic!("{call} never asked: {seen:?}"));
        assert!(request.authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDE2E/") && request.authorization.contains(&format!("/eu-west-1/{service}/aws4_request")), "{call}: {}", request.authorization);
    }
    assert!(seen.iter().any(|s| s.call.ends_with("ListTasks") && s.body.contains(r#""cluster":"prod""#)), "the configured cluster is listed by name");

    assert!(seen.iter().any(|s| s.call == "Action=DescribeInstances" && s.body.contains("Version=2016-11-15")), "EC2's API version is asked");

    // The secret key is not shown.
    let (status, shown) = get_json(&server.url("/api/v1/scrape_pools/config?scrapePool=aws"));
    let yaml = shown["data"]["yaml"].as_str().unwrap_or_default();
    assert_eq!(status, 200);
    assert!(yaml.contains("role: lightsail") && yaml.contains("secret_key: <secret>") && !yaml.contains("s3cr3t-e2e"), "{yaml}");

    // Lightsail fails: its target is kept.
    let asked = |seen: &[Seen]| seen.iter().filter(|s| s.call == "Lightsail_20161128.GetInstances").count();
    let asked_before = asked(&aws.seen());
    aws.lightsail_down.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + WAIT;
    while asked(&aws.seen()) < asked_before + 2 {
        assert!(Instant::now() < deadline, "Lightsail was not asked again");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, targets) = get_json(&server.url("/api/v1/targets"));
    assert_eq!(status, 200);
    assert_eq!(discovered(&targets, "web-1")["__meta_lightsail_instance_name"], "web-1", "{targets}");
    assert!(server.wait_log("discovery request failed", WAIT), "the failure is logged");
    assert!(server.stop(), "clean shutdown");
}
