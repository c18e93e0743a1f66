//! `aws_sd_configs` role `rds`, asked as Prometheus' RDS discovery asks, over RDS' Query API
//! (form `Action`/`Version`, SigV4 for `rds`, XML answers read by `rds_labels`): RDS clusters
//! and their instances. Any failure fails the refresh (the last good targets stay). Calls are
//! made one after another.

use super::rds_labels::{self, Cluster};
use super::{AwsSd, Session};
use crate::scrape::aws::credentials::Lookup;
use crate::scrape::config::TargetGroup;

/// The signing name, and the variable naming RDS' endpoint.
const SERVICE: (&str, &str) = ("rds", "AWS_ENDPOINT_URL_RDS");
/// RDS' API version, as AWS' Go SDK asks it.
const API_VERSION: &str = "2014-10-31";
/// The records one page asks for (RDS' largest).
const RECORDS_MAX: &str = "100";
/// The most pages one listing reads (a marker that never ends stops here).
const PAGES_MAX: usize = 10_000;

/// The targets of the entry's RDS clusters' instances: once, a bare `DescribeDBClusters` to
/// test the keys; then each refresh the `clusters` given (each by `DBClusterIdentifier`; one
/// that RDS does not find fails the refresh) or every cluster, and for each cluster its
/// instances (`DescribeDBInstances` filtered by `db-cluster-id` and the entry's `filters`).
pub async fn ask(session: &mut Session, sd: &AwsSd, (clusters, filters): (&[String], &[(String, Vec<String>)]), lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    session.prepare(sd, lookup).await?;
    if !session.checked {
        // Once, as Prometheus tests the keys when it makes its client.
        session.checked = true;
        session.call_query(sd, lookup, SERVICE, API_VERSION, "DescribeDBClusters", &[]).await.map_err(|e| format!("RDS credential test failed: {e}"))?;
    }
    let mut described: Vec<Cluster> = Vec::new();
    if clusters.is_empty() {
        let all = paged(session, sd, lookup, "DescribeDBClusters", &[], rds_labels::read_clusters).await.map_err(|e| format!("error describing all DB clusters: failed to describe DB clusters: {e}"))?;
        described.extend(all.into_iter().filter(|c| c.arn.is_some()));
    } else {
        for arn in clusters {
            let params = [("DBClusterIdentifier".to_string(), arn.clone())];
            let found = paged(session, sd, lookup, "DescribeDBClusters", &params, rds_labels::read_clusters).await.map_err(|e| format!("error describing DB clusters: failed to describe DB cluster {arn}: {e}"))?;
            // Prometheus keeps the last cluster answered for each one given.
            match found.into_iter().last() {
                Some(cluster) => described.push(cluster),
                None => return Err(format!("error describing DB clusters: no DB cluster found for ARN {arn}")),
            }
        }
    }
    let mut groups = Vec::new();
    for cluster in &described {
        let Some(arn) = &cluster.arn else { continue };
        let params = filter_form(arn, filters);
        let instances = paged(session, sd, lookup, "DescribeDBInstances", &params, rds_labels::read_instances).await.map_err(|e| format!("error describing DB instances: failed to describe DB instances for cluster ARN {arn}: {e}"))?;
        groups.extend(instances.iter().map(|instance| rds_labels::target(cluster, instance, sd.port)));
    }
    Ok(groups)
}

/// `db-cluster-id` = `arn`, then the entry's filters, as RDS' Query API numbers them.
fn filter_form(arn: &str, filters: &[(String, Vec<String>)]) -> Vec<(String, String)> {
    let all = std::iter::once(("db-cluster-id", vec![arn.to_string()])).chain(filters.iter().map(|(name, values)| (name.as_str(), values.clone())));
    let mut form = Vec::new();
    for (n, (name, values)) in all.enumerate() {
        form.push((format!("Filters.Filter.{}.Name", n + 1), name.to_string()));
        for (m, value) in values.iter().enumerate() {
            form.push((format!("Filters.Filter.{}.Values.Value.{}", n + 1, m + 1), value.clone()));
        }
    }
    form
}

/// Every page of `action` with `params`, each read by `read` (items and the next `Marker`),
/// 100 records at a time.
async fn paged<T>(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, action: &str, params: &[(String, String)], read: rds_labels::PageReader<T>) -> Result<Vec<T>, String> {
    let mut found = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let mut form = params.to_vec();
        form.push(("MaxRecords".to_string(), RECORDS_MAX.to_string()));
        if let Some(marker) = &marker {
            form.push(("Marker".to_string(), marker.clone()));
        }
        let xml = session.call_query(sd, lookup, SERVICE, API_VERSION, action, &form).await?;
        let (page, next) = read(&xml)?;
        found.extend(page);
        match next {
            Some(next) => marker = Some(next),
            None => return Ok(found),
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

    const ARN: &str = "arn:aws:rds:us-east-1:1:cluster:db";

    fn cluster(arn: &str, id: &str) -> String {
        format!("<DBCluster><DBClusterArn>{arn}</DBClusterArn><DBClusterIdentifier>{id}</DBClusterIdentifier></DBCluster>")
    }

    /// RDS: two clusters over two pages, one instance each; the cluster `missing` not found.
    fn rds(request: &Seen) -> (u16, String) {
        let body = &request.body;
        if body.starts_with("Action=DescribeDBClusters") {
            let clusters = if body.contains("DBClusterIdentifier=missing") {
                String::new()
            } else if body.contains("DBClusterIdentifier=") {
                cluster(ARN, "db")
            } else if body.contains("Marker=p2") {
                cluster("arn:aws:rds:us-east-1:1:cluster:other", "other")
            } else if body.contains("MaxRecords=100") {
                return (200, format!("<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters>{}</DBClusters><Marker>p2</Marker></DescribeDBClustersResult></DescribeDBClustersResponse>", cluster(ARN, "db")));
            } else {
                String::new()
            };
            return (200, format!("<DescribeDBClustersResponse><DescribeDBClustersResult><DBClusters>{clusters}</DBClusters></DescribeDBClustersResult></DescribeDBClustersResponse>"));
        }
        if body.starts_with("Action=DescribeDBInstances") {
            let id = if body.contains("other") { "other-1" } else { "db-1" };
            return (200, format!("<DescribeDBInstancesResponse><DescribeDBInstancesResult><DBInstances><DBInstance><DBInstanceIdentifier>{id}</DBInstanceIdentifier><Endpoint><Address>{id}.rds</Address><Port>5432</Port></Endpoint></DBInstance></DBInstances></DescribeDBInstancesResult></DescribeDBInstancesResponse>"));
        }
        (400, "<ErrorResponse><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>".into())
    }

    fn seen_bodies(seen: &std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) -> Vec<Seen> {
        seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    #[test]
    fn lists_every_cluster_page_and_its_filtered_instances_signed_for_rds() {
        let (base, seen) = serve(rds);
        let filters = vec![("engine".to_string(), vec!["aurora-postgresql".to_string(), "postgres".to_string()])];
        let sd = entry(AwsRole::Rds { clusters: vec![], filters }, &base, 9187);
        let groups = ask_once(&mut Session::default(), &sd, &|_| None).expect("targets");
        let targets: Vec<String> = groups.iter().flat_map(|g| g.targets.clone()).collect();
        assert_eq!(targets, ["db-1.rds:9187", "other-1.rds:9187"]);
        assert_eq!(groups[1].labels.get("__meta_rds_cluster_identifier").map(String::as_str), Some("other"));
        let requests = seen_bodies(&seen);
        let actions: Vec<&str> = requests.iter().map(|r| r.body.split('&').next().unwrap_or("")).collect();
        assert_eq!(actions, ["Action=DescribeDBClusters", "Action=DescribeDBClusters", "Action=DescribeDBClusters", "Action=DescribeDBInstances", "Action=DescribeDBInstances"]);
        assert_eq!(requests[0].body, "Action=DescribeDBClusters&Version=2014-10-31", "the key test asks nothing more");
        assert!(requests[2].body.contains("Marker=p2"), "{}", requests[2].body);
        let instances = &requests[3].body;
        for part in ["Filters.Filter.1.Name=db-cluster-id", "Filters.Filter.1.Values.Value.1=arn%3Aaws%3Ards%3Aus-east-1%3A1%3Acluster%3Adb", "Filters.Filter.2.Name=engine", "Filters.Filter.2.Values.Value.2=postgres", "MaxRecords=100"] {
            assert!(instances.contains(part), "{part} in {instances}");
        }
        for request in &requests {
            let authorization = request.header("authorization").unwrap_or_default();
            assert!(authorization.contains("/us-east-1/rds/aws4_request"), "{authorization}");
        }
    }

    #[test]
    fn clusters_given_are_described_one_by_one_and_one_not_found_fails_the_refresh() {
        let (base, seen) = serve(rds);
        let sd = entry(AwsRole::Rds { clusters: vec![ARN.to_string()], filters: vec![] }, &base, 5432);
        let groups = ask_once(&mut Session::default(), &sd, &|_| None).expect("targets");
        assert_eq!(groups.iter().flat_map(|g| g.targets.clone()).collect::<Vec<_>>(), ["db-1.rds:5432"]);
        assert!(seen_bodies(&seen)[1].body.contains("DBClusterIdentifier=arn%3Aaws%3Ards"), "{:?}", seen_bodies(&seen));
        let sd = entry(AwsRole::Rds { clusters: vec![ARN.to_string(), "missing".to_string()], filters: vec![] }, &base, 5432);
        let error = ask_once(&mut Session::default(), &sd, &|_| None).expect_err("missing");
        assert_eq!(error, "error describing DB clusters: no DB cluster found for ARN missing");
        let (down, _) = serve(|_| (403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>".into()));
        let error = ask_once(&mut Session::default(), &entry(AwsRole::Rds { clusters: vec![], filters: vec![] }, &down, 5432), &|_| None).expect_err("refused");
        assert_eq!(error, "RDS credential test failed: server returned HTTP status 403 Forbidden: AccessDenied: no");
    }
}
