//! `aws_sd_configs` role `ecs`, asked as Prometheus' ECS discovery asks: clusters, services and
//! tasks from ECS, the tasks' interfaces and container instances from EC2. Calls are made one
//! after another (Prometheus runs up to 20 at once); clusters and tasks come out in the order
//! ECS lists them.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::ecs_targets::{self, ClusterFacts, Ec2Host};
use super::{list, text, AwsSd, Session};
use crate::scrape::aws::credentials::Lookup;
use crate::scrape::config::TargetGroup;

/// ECS' JSON 1.1 target prefix.
const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113";
/// The signing name, and the variable naming ECS' endpoint.
const SERVICE: (&str, &str) = ("ecs", "AWS_ENDPOINT_URL_ECS");
/// The most items one call lists or describes, as ECS allows.
const LIST_PAGE_MAX: usize = 100;
const DESCRIBE_CLUSTERS_MAX: usize = 100;
const DESCRIBE_SERVICES_MAX: usize = 10;
const DESCRIBE_TASKS_MAX: usize = 100;
const DESCRIBE_CONTAINER_INSTANCES_MAX: usize = 100;
/// The most pages one listing reads (a token that never ends stops here).
const PAGES_MAX: usize = 10_000;

/// The targets of the entry's ECS clusters: once, an empty `DescribeClusters` to test the keys;
/// then each refresh the `clusters` given (or every one `ListClusters` names),
/// `DescribeClusters` (100 a call, with tags), `ListServices` and `ListTasks` of each (paged);
/// a failure of these fails the refresh. Then `cluster_targets` per cluster with tasks.
pub async fn ask(session: &mut Session, sd: &AwsSd, configured: &[String], lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    let region = session.prepare(sd, lookup).await?;
    if !session.checked {
        // Once, as Prometheus tests the keys when it makes its client.
        session.checked = true;
        call(session, sd, lookup, "DescribeClusters", json!({})).await.map_err(|e| format!("ECS credential test failed: {e}"))?;
    }
    let clusters = if configured.is_empty() { paged(session, sd, lookup, "ListClusters", json!({}), "clusterArns").await.map_err(|e| format!("could not list clusters: {e}"))? } else { configured.to_vec() };
    let mut described: Vec<serde_json::Value> = Vec::new();
    for batch in clusters.chunks(DESCRIBE_CLUSTERS_MAX) {
        let answer = call(session, sd, lookup, "DescribeClusters", json!({"clusters": batch, "include": ["TAGS"]})).await.map_err(|e| format!("could not describe clusters {batch:?}: {e}"))?;
        described.extend(list(&answer, "clusters").iter().filter(|c| text(c, "clusterArn").is_some()).cloned());
    }
    let mut services_of = Vec::new();
    for cluster in &clusters {
        services_of.push(paged(session, sd, lookup, "ListServices", json!({"cluster": cluster}), "serviceArns").await.map_err(|e| format!("could not list services for cluster {cluster:?}: {e}"))?);
    }
    let mut tasks_of = Vec::new();
    for cluster in &clusters {
        tasks_of.push(paged(session, sd, lookup, "ListTasks", json!({"cluster": cluster}), "taskArns").await.map_err(|e| format!("could not list tasks for cluster {cluster:?}: {e}"))?);
    }
    let mut groups = Vec::new();
    for ((name, service_arns), task_arns) in clusters.iter().zip(&services_of).zip(&tasks_of) {
        if task_arns.is_empty() {
            continue;
        }
        // Found by ARN, or by name where `clusters` names them so.
        let cluster = described.iter().find(|c| text(c, "clusterArn") == Some(name)).or_else(|| described.iter().find(|c| text(c, "clusterName") == Some(name)));
        // ECS takes the ARN or the name for `cluster`.
        let id = cluster.and_then(|c| text(c, "clusterArn")).unwrap_or(name).to_string();
        match cluster_targets(session, sd, lookup, (&region, &id, cluster), service_arns, task_arns).await {
            Ok(found) => groups.extend(found),
            Err(error) => tracing::warn!(cluster = %id, %error, "aws_sd ecs: a cluster's targets are left out this refresh"),
        }
    }
    Ok(groups)
}

/// The targets of one cluster's tasks: `DescribeServices` (10 a call), `DescribeTasks` and
/// `DescribeContainerInstances` (100 a call), and from EC2 `DescribeNetworkInterfaces` (the
/// tasks' interfaces) and `DescribeInstances` (the container instances'). A failure here
/// leaves that cluster's targets out, logged, as Prometheus does.
async fn cluster_targets(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, (region, id, cluster): (&str, &str, Option<&serde_json::Value>), service_arns: &[String], task_arns: &[String]) -> Result<Vec<TargetGroup>, String> {
    let mut services = HashMap::new();
    for batch in service_arns.chunks(DESCRIBE_SERVICES_MAX) {
        let answer = call(session, sd, lookup, "DescribeServices", json!({"cluster": id, "services": batch, "include": ["TAGS"]})).await.map_err(|e| format!("could not describe services: {e}"))?;
        for service in list(&answer, "services") {
            if let (Some(name), Some(_)) = (text(service, "serviceName"), text(service, "serviceArn")) {
                services.insert(name.to_string(), service.clone());
            }
        }
    }
    let mut tasks = Vec::new();
    for batch in task_arns.chunks(DESCRIBE_TASKS_MAX) {
        let answer = call(session, sd, lookup, "DescribeTasks", json!({"cluster": id, "tasks": batch, "include": ["TAGS"]})).await.map_err(|e| format!("could not describe tasks: {e}"))?;
        tasks.extend(list(&answer, "tasks").iter().cloned());
    }
    let mut seen = HashSet::new();
    let instance_arns: Vec<&str> = tasks.iter().filter_map(|t| text(t, "containerInstanceArn")).filter(|arn| seen.insert(*arn)).collect();
    let mut container_instances = HashMap::new();
    for batch in instance_arns.chunks(DESCRIBE_CONTAINER_INSTANCES_MAX) {
        let answer = call(session, sd, lookup, "DescribeContainerInstances", json!({"cluster": id, "containerInstances": batch})).await.map_err(|e| format!("could not describe container instances: {e}"))?;
        for instance in list(&answer, "containerInstances") {
            if let (Some(arn), Some(ec2)) = (text(instance, "containerInstanceArn"), text(instance, "ec2InstanceId")) {
                container_instances.insert(arn.to_string(), ec2.to_string());
            }
        }
    }
    let interfaces: Vec<&str> = tasks.iter().filter_map(ecs_targets::interface_id).collect();
    let mut interface_public_ips = HashMap::new();
    if !interfaces.is_empty() {
        let ids = numbered("NetworkInterfaceId", interfaces.iter().copied());
        ec2_paged(session, sd, lookup, "DescribeNetworkInterfaces", &ids, |xml| {
            let (page, token) = ecs_targets::read_interface_public_ips(xml)?;
            interface_public_ips.extend(page);
            Ok(token)
        })
        .await
        .map_err(|e| format!("could not describe network interfaces: {e}"))?;
    }
    let mut hosts: HashMap<String, Ec2Host> = HashMap::new();
    if !container_instances.is_empty() {
        let mut seen = HashSet::new();
        let ids = numbered("InstanceId", container_instances.values().map(String::as_str).filter(|id| seen.insert(*id)));
        ec2_paged(session, sd, lookup, "DescribeInstances", &ids, |xml| {
            let (page, token) = ecs_targets::read_hosts(xml)?;
            hosts.extend(page);
            Ok(token)
        })
        .await
        .map_err(|e| format!("could not describe EC2 instances: {e}"))?;
    }
    let facts = ClusterFacts { region, port: sd.port, cluster, services: &services, container_instances: &container_instances, hosts: &hosts, interface_public_ips: &interface_public_ips };
    Ok(tasks.iter().filter_map(|task| ecs_targets::task_target(&facts, task)).collect())
}

/// One ECS operation.
async fn call(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, operation: &str, body: serde_json::Value) -> Result<serde_json::Value, String> {
    session.call(sd, lookup, SERVICE, &format!("{TARGET_PREFIX}.{operation}"), &body).await.map_err(|e| e.to_string())
}

/// Every page of a listing operation: the strings under `key` of each answer.
async fn paged(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, operation: &str, mut body: serde_json::Value, key: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    body["maxResults"] = json!(LIST_PAGE_MAX);
    for _ in 0..PAGES_MAX {
        let answer = call(session, sd, lookup, operation, body.clone()).await?;
        found.extend(list(&answer, key).iter().filter_map(|v| v.as_str().map(str::to_string)));
        match text(&answer, "nextToken") {
            Some(token) => body["nextToken"] = json!(token),
            None => return Ok(found),
        }
    }
    Err(format!("more than {PAGES_MAX} pages"))
}

/// `Name.1=a&Name.2=b…`, as EC2's Query API takes a list.
fn numbered<'a>(name: &str, values: impl Iterator<Item = &'a str>) -> Vec<(String, String)> {
    values.enumerate().map(|(n, value)| (format!("{name}.{}", n + 1), value.to_string())).collect()
}

/// Every page of an EC2 action, each given to `read`, which returns the next page's token.
async fn ec2_paged(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, action: &str, params: &[(String, String)], mut read: impl FnMut(&str) -> Result<Option<String>, String>) -> Result<(), String> {
    let mut token: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let mut form = params.to_vec();
        if let Some(token) = &token {
            form.push(("NextToken".to_string(), token.clone()));
        }
        let xml = session.call_ec2(sd, lookup, action, &form).await?;
        match read(&xml)? {
            Some(next) => token = Some(next),
            None => return Ok(()),
        }
    }
    Err(format!("more than {PAGES_MAX} pages"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{serve, Seen};
    use crate::scrape::aws_sd::test_support::{ask_once, entry};
    use crate::scrape::aws_sd::AwsRole;

    const CLUSTER: &str = "arn:aws:ecs:us-east-1:1:cluster/prod";
    const INSTANCE: &str = "arn:aws:ecs:us-east-1:1:container-instance/prod/ci-1";

    /// ECS and EC2 on one fake: a cluster with a Fargate service task and a bridge task on
    /// an EC2 container instance; ListTasks answers in two pages.
    fn aws(request: &Seen) -> (u16, String) {
        let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
        let answer = match request.header("x-amz-target").unwrap_or("") {
            "AmazonEC2ContainerServiceV20141113.DescribeClusters" if body.get("clusters").is_none() => json!({"clusters": []}),
            "AmazonEC2ContainerServiceV20141113.ListClusters" => json!({"clusterArns": [CLUSTER]}),
            "AmazonEC2ContainerServiceV20141113.DescribeClusters" => json!({"clusters": [{"clusterArn": CLUSTER, "clusterName": "prod", "tags": [{"key": "env", "value": "prod"}]}]}),
            "AmazonEC2ContainerServiceV20141113.ListServices" => json!({"serviceArns": ["arn:aws:ecs:us-east-1:1:service/prod/web"]}),
            "AmazonEC2ContainerServiceV20141113.ListTasks" if body.get("nextToken").is_none() => json!({"taskArns": ["arn:aws:ecs:us-east-1:1:task/prod/t1"], "nextToken": "p2"}),
            "AmazonEC2ContainerServiceV20141113.ListTasks" => json!({"taskArns": ["arn:aws:ecs:us-east-1:1:task/prod/t2"]}),
            "AmazonEC2ContainerServiceV20141113.DescribeServices" => json!({"services": [{"serviceName": "web", "serviceArn": "arn:aws:ecs:us-east-1:1:service/prod/web", "status": "ACTIVE"}]}),
            "AmazonEC2ContainerServiceV20141113.DescribeTasks" => json!({"tasks": [
                {"taskArn": "arn:aws:ecs:us-east-1:1:task/prod/t1", "group": "service:web", "launchType": "FARGATE", "healthStatus": "HEALTHY",
                 "attachments": [{"type": "ElasticNetworkInterface", "details": [{"name": "privateIPv4Address", "value": "10.0.0.5"}, {"name": "networkInterfaceId", "value": "eni-1"}]}]},
                {"taskArn": "arn:aws:ecs:us-east-1:1:task/prod/t2", "group": "family:batch", "launchType": "EC2", "containerInstanceArn": INSTANCE, "attachments": []}]}),
            "AmazonEC2ContainerServiceV20141113.DescribeContainerInstances" => json!({"containerInstances": [{"containerInstanceArn": INSTANCE, "ec2InstanceId": "i-1"}]}),
            "" if request.body.contains("Action=DescribeNetworkInterfaces") => {
                return (200, "<DescribeNetworkInterfacesResponse><networkInterfaceSet><item><networkInterfaceId>eni-1</networkInterfaceId><association><publicIp>52.0.0.1</publicIp></association></item></networkInterfaceSet></DescribeNetworkInterfacesResponse>".into());
            }
            "" if request.body.contains("Action=DescribeInstances") => {
                return (200, "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId><instanceType>m5.large</instanceType><privateIpAddress>10.0.9.9</privateIpAddress></item></instancesSet></item></reservationSet></DescribeInstancesResponse>".into());
            }
            other => return (400, json!({"__type": "UnknownOperationException", "message": other}).to_string()),
        };
        (200, answer.to_string())
    }

    #[test]
    fn walks_clusters_services_tasks_and_ec2_with_signed_calls() {
        let (base, seen) = serve(aws);
        let sd = entry(AwsRole::Ecs { clusters: vec![] }, &base, 9100);
        let env = |name: &str| (name == "AWS_ENDPOINT_URL_EC2").then(|| base.clone());
        let mut session = Session::default();
        let groups = ask_once(&mut session, &sd, &env).expect("targets");
        let found: Vec<(String, Option<&str>, Option<&str>)> = groups.iter().map(|g| (g.targets.join(","), g.labels.get("__meta_ecs_network_mode").map(String::as_str), g.labels.get("__meta_ecs_public_ip").map(String::as_str))).collect();
        assert_eq!(found, [("10.0.0.5:9100".to_string(), Some("awsvpc"), Some("52.0.0.1")), ("10.0.9.9:9100".to_string(), Some("bridge"), None)]);
        assert_eq!(groups[0].labels.get("__meta_ecs_service").map(String::as_str), Some("web"));
        assert_eq!(groups[0].labels.get("__meta_ecs_tag_cluster_env").map(String::as_str), Some("prod"));
        assert_eq!(groups[1].labels.get("__meta_ecs_ec2_instance_type").map(String::as_str), Some("m5.large"));
        assert!(!groups[1].labels.contains_key("__meta_ecs_service"), "a family task has no service");

        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let calls: Vec<String> = requests.iter().map(|r| r.header("x-amz-target").map(|t| t.rsplit('.').next().unwrap_or("").to_string()).unwrap_or_else(|| r.body.split('&').next().unwrap_or("").to_string())).collect();
        assert_eq!(calls, ["DescribeClusters", "ListClusters", "DescribeClusters", "ListServices", "ListTasks", "ListTasks", "DescribeServices", "DescribeTasks", "DescribeContainerInstances", "Action=DescribeNetworkInterfaces", "Action=DescribeInstances"]);
        for request in &requests {
            let authorization = request.header("authorization").unwrap_or_default();
            let service = if request.header("x-amz-target").is_some() { "ecs" } else { "ec2" };
            assert!(authorization.contains(&format!("/us-east-1/{service}/aws4_request")), "{service}: {authorization}");
        }
        assert!(requests[9].body.contains("NetworkInterfaceId.1=eni-1") && requests[10].body.contains("InstanceId.1=i-1"), "{requests:?}");
        assert!(requests[5].body.contains(r#""nextToken":"p2""#), "the second page is asked: {}", requests[5].body);

        // The keys are tested once: a second refresh starts with ListClusters.
        let before = requests.len();
        // (Its clients belong to the first test executor, gone now.)
        (session.service, session.ec2) = (None, None);
        ask_once(&mut session, &sd, &env).expect("targets again");
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(requests[before].header("x-amz-target"), Some("AmazonEC2ContainerServiceV20141113.ListClusters"));
    }

    /// EC2 refusing every call: the cluster's targets are left out, the refresh still answers.
    fn ec2_down(request: &Seen) -> (u16, String) {
        if request.header("x-amz-target").is_none() {
            return (503, "<Response><Errors><Error><Code>Unavailable</Code><Message>down</Message></Error></Errors></Response>".into());
        }
        aws(request)
    }

    #[test]
    fn a_cluster_whose_lookups_fail_is_left_out_but_listing_failures_fail_the_refresh() {
        let (base, _) = serve(ec2_down);
        let sd = entry(AwsRole::Ecs { clusters: vec![CLUSTER.to_string()] }, &base, 9100);
        let env = |name: &str| (name == "AWS_ENDPOINT_URL_EC2").then(|| base.clone());
        assert_eq!(ask_once(&mut Session::default(), &sd, &env).expect("answers").len(), 0);
        let (down, _) = serve(|_| (500, r#"{"__type":"ServerException","message":"boom"}"#.into()));
        let sd = entry(AwsRole::Ecs { clusters: vec![] }, &down, 9100);
        let error = ask_once(&mut Session::default(), &sd, &env).expect_err("fails");
        assert_eq!(error, "ECS credential test failed: server returned HTTP status 500 Internal Server Error: ServerException: boom");
    }
}
