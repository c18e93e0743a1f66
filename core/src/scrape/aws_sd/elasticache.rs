//! `aws_sd_configs` role `elasticache`, asked as Prometheus' ElastiCache discovery asks, over
//! ElastiCache's Query API (SigV4 for `elasticache`; answers read by `elasticache_labels`).
//! Any failure fails the refresh.

use std::collections::HashMap;

use super::elasticache_labels::{self, Item};
use super::{AwsSd, Session};
use crate::scrape::aws::credentials::Lookup;
use crate::scrape::config::TargetGroup;

/// The signing name, and the variable naming ElastiCache's endpoint.
const SERVICE: (&str, &str) = ("elasticache", "AWS_ENDPOINT_URL_ELASTICACHE");
/// ElastiCache's API version, as AWS' Go SDK asks it.
const API_VERSION: &str = "2015-02-02";
/// The page sizes Prometheus asks for.
const SERVERLESS_PAGE: &str = "50";
const CLUSTERS_PAGE: &str = "100";
/// The most pages one listing reads (a token that never ends stops here).
const PAGES_MAX: usize = 10_000;

/// The targets of the entry's ElastiCache caches: once, a bare `DescribeCacheClusters` to test
/// the keys; then each refresh the serverless caches, the cache clusters with their nodes, and
/// the tags of each (`ListTagsForResource`). Prometheus describes the caches a second time to
/// make the targets; their first answers are used here.
pub async fn ask(session: &mut Session, sd: &AwsSd, clusters: &[String], lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    session.prepare(sd, lookup).await?;
    if !session.checked {
        // Once, as Prometheus tests the keys when it makes its client.
        session.checked = true;
        call(session, sd, lookup, "DescribeCacheClusters", &[]).await.map_err(|e| format!("elasticache credential test failed: {e}"))?;
    }
    let (serverless_ids, cluster_ids) = split_cache_arns(clusters);
    let serverless = serverless_caches(session, sd, lookup, &serverless_ids).await.map_err(|e| format!("failed to describe serverless caches: {e}"))?;
    let cache_clusters = cache_clusters(session, sd, lookup, &cluster_ids).await.map_err(|e| format!("failed to describe cache clusters: {e}"))?;
    let mut tags: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for arn in serverless.iter().chain(&cache_clusters).filter_map(|item| item.arn.as_ref()) {
        if tags.contains_key(arn) {
            continue;
        }
        let params = [("ResourceName".to_string(), arn.clone())];
        let xml = call(session, sd, lookup, "ListTagsForResource", &params).await.map_err(|e| format!("failed to list tags for resources: failed to list tags for resource {arn}: {e}"))?;
        tags.insert(arn.clone(), elasticache_labels::read_tags(&xml)?);
    }
    let tags_of = |item: &Item| item.arn.as_ref().and_then(|arn| tags.get(arn)).map_or(&[][..], Vec::as_slice);
    let mut groups = Vec::new();
    for cache in &serverless {
        groups.push(elasticache_labels::serverless_cache_target(cache, tags_of(cache))?);
    }
    for cluster in &cache_clusters {
        groups.extend(elasticache_labels::cache_cluster_targets(cluster, tags_of(cluster))?);
    }
    Ok(groups)
}

/// The serverless cache names and cache cluster IDs that `clusters`' ARNs
/// (`arn:aws:elasticache:<region>:<account>:<type>:<id>`) name: a `serverlesscache` ARN asks
/// that cache, a `replicationgroup` ARN that cluster ID (one page each); other ARNs are
/// skipped, and when none is left every cache is asked, as in Prometheus.
fn split_cache_arns(clusters: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut serverless, mut cache_clusters) = (Vec::new(), Vec::new());
    for arn in clusters.iter().filter(|a| !a.is_empty()) {
        let parts: Vec<&str> = arn.split(':').collect();
        let (Some(kind), Some(id)) = (parts.get(5), parts.get(6)) else {
            tracing::warn!(arn = %arn, "aws_sd elasticache: skipping an invalid ElastiCache ARN");
            continue;
        };
        match *kind {
            "serverlesscache" => serverless.push(id.to_string()),
            "replicationgroup" => cache_clusters.push(id.to_string()),
            _ => {}
        }
    }
    (serverless, cache_clusters)
}

/// The serverless caches (`DescribeServerlessCaches`, 50 a page).
async fn serverless_caches(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, names: &[String]) -> Result<Vec<Item>, String> {
    let page = ("MaxResults".to_string(), SERVERLESS_PAGE.to_string());
    if names.is_empty() {
        return paged(session, sd, lookup, "DescribeServerlessCaches", &[page], ("NextToken", elasticache_labels::read_serverless_caches)).await.map_err(|e| format!("failed to describe serverless caches: {e}"));
    }
    let mut found = Vec::new();
    for name in names {
        let params = [page.clone(), ("ServerlessCacheName".to_string(), name.clone())];
        let xml = call(session, sd, lookup, "DescribeServerlessCaches", &params).await.map_err(|e| format!("failed to describe serverless cache {name}: {e}"))?;
        found.extend(elasticache_labels::read_serverless_caches(&xml)?.0);
    }
    Ok(found)
}

/// The cache clusters with their nodes (`DescribeCacheClusters`, 100 a page), asked twice:
/// with `ShowCacheClustersNotInReplicationGroups` false and true, as Prometheus asks, so a
/// cluster outside replication groups comes twice.
async fn cache_clusters(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, ids: &[String]) -> Result<Vec<Item>, String> {
    let mut found = Vec::new();
    for not_in_groups in ["false", "true"] {
        let params = vec![("MaxRecords".to_string(), CLUSTERS_PAGE.to_string()), ("ShowCacheNodeInfo".to_string(), "true".to_string()), ("ShowCacheClustersNotInReplicationGroups".to_string(), not_in_groups.to_string())];
        if ids.is_empty() {
            found.extend(paged(session, sd, lookup, "DescribeCacheClusters", &params, ("Marker", elasticache_labels::read_cache_clusters)).await.map_err(|e| format!("failed to describe cache clusters: {e}"))?);
            continue;
        }
        for id in ids {
            let mut params = params.clone();
            params.push(("CacheClusterId".to_string(), id.clone()));
            let xml = call(session, sd, lookup, "DescribeCacheClusters", &params).await.map_err(|e| format!("failed to describe cache cluster {id}: {e}"))?;
            found.extend(elasticache_labels::read_cache_clusters(&xml)?.0);
        }
    }
    Ok(found)
}

/// One ElastiCache action.
async fn call(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, action: &str, params: &[(String, String)]) -> Result<String, String> {
    session.call_query(sd, lookup, SERVICE, API_VERSION, action, params).await
}

/// Every page of `action`, the next asked with `token` (`Marker` or `NextToken`).
async fn paged(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>, action: &str, params: &[(String, String)], (token, read): (&str, super::rds_labels::PageReader<Item>)) -> Result<Vec<Item>, String> {
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let mut form = params.to_vec();
        if let Some(next) = &next {
            form.push((token.to_string(), next.clone()));
        }
        let xml = call(session, sd, lookup, action, &form).await?;
        let (page, following) = read(&xml)?;
        found.extend(page);
        match following {
            Some(following) => next = Some(following),
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

    #[test]
    fn cache_arns_split_by_their_type() {
        let arns: Vec<String> = ["arn:aws:elasticache:us-east-1:1:serverlesscache:a", "arn:aws:elasticache:us-east-1:1:replicationgroup:b", "arn:aws:elasticache:us-east-1:1:cluster:c", "not-an-arn", ""].map(String::from).to_vec();
        assert_eq!(split_cache_arns(&arns), (vec!["a".to_string()], vec!["b".to_string()]));
    }

    /// ElastiCache: one serverless cache and one cache cluster with a node, tagged.
    fn elasticache(request: &Seen) -> (u16, String) {
        let body = &request.body;
        let answer = if body.starts_with("Action=DescribeServerlessCaches") {
            "<DescribeServerlessCachesResponse><DescribeServerlessCachesResult><ServerlessCaches><member><ARN>arn:s</ARN><ServerlessCacheName>s</ServerlessCacheName><Endpoint><Address>s.cache</Address><Port>6379</Port></Endpoint></member></ServerlessCaches></DescribeServerlessCachesResult></DescribeServerlessCachesResponse>".to_string()
        } else if body.starts_with("Action=DescribeCacheClusters") && body.contains("ShowCacheNodeInfo=true") {
            let id = if body.contains("NotInReplicationGroups=true") { "standalone" } else { "grouped" };
            format!("<DescribeCacheClustersResponse><DescribeCacheClustersResult><CacheClusters><CacheCluster><ARN>arn:{id}</ARN><CacheClusterId>{id}</CacheClusterId><CacheNodes><CacheNode><CacheNodeId>0001</CacheNodeId><Endpoint><Address>{id}.cache</Address><Port>6380</Port></Endpoint></CacheNode></CacheNodes></CacheCluster></CacheClusters></DescribeCacheClustersResult></DescribeCacheClustersResponse>")
        } else if body.starts_with("Action=DescribeCacheClusters") {
            "<DescribeCacheClustersResponse><DescribeCacheClustersResult><CacheClusters/></DescribeCacheClustersResult></DescribeCacheClustersResponse>".to_string()
        } else if body.starts_with("Action=ListTagsForResource") {
            "<ListTagsForResourceResponse><ListTagsForResourceResult><TagList><Tag><Key>team</Key><Value>cache</Value></Tag></TagList></ListTagsForResourceResult></ListTagsForResourceResponse>".to_string()
        } else {
            return (400, "<ErrorResponse><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>".into());
        };
        (200, answer)
    }

    #[test]
    fn asks_serverless_caches_clusters_twice_and_tags_signed_for_elasticache() {
        let (base, seen) = serve(elasticache);
        let sd = entry(AwsRole::Elasticache { clusters: vec![] }, &base, 9121);
        let groups = ask_once(&mut Session::default(), &sd, &|_| None).expect("targets");
        let targets: Vec<String> = groups.iter().flat_map(|g| g.targets.clone()).collect();
        assert_eq!(targets, ["s.cache:6379", "grouped.cache:6380", "standalone.cache:6380"], "the endpoints' own ports");
        assert_eq!(groups[1].labels.get("__meta_elasticache_cache_cluster_tag_team").map(String::as_str), Some("cache"));
        assert_eq!(groups[0].labels.get("__meta_elasticache_serverless_cache_tag_team").map(String::as_str), Some("cache"));
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let actions: Vec<&str> = requests.iter().map(|r| r.body.split('&').next().unwrap_or("")).collect();
        assert_eq!(actions, ["Action=DescribeCacheClusters", "Action=DescribeServerlessCaches", "Action=DescribeCacheClusters", "Action=DescribeCacheClusters", "Action=ListTagsForResource", "Action=ListTagsForResource", "Action=ListTagsForResource"]);
        assert_eq!(requests[0].body, "Action=DescribeCacheClusters&Version=2015-02-02", "the key test asks nothing more");
        assert!(requests[1].body.contains("MaxResults=50") && requests[2].body.contains("MaxRecords=100"), "{requests:?}");
        for request in &requests {
            let authorization = request.header("authorization").unwrap_or_default();
            assert!(authorization.contains("/us-east-1/elasticache/aws4_request"), "{authorization}");
        }
        let (down, _) = serve(|_| (403, "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>".into()));
        let error = ask_once(&mut Session::default(), &entry(AwsRole::Elasticache { clusters: vec![] }, &down, 1), &|_| None).expect_err("refused");
        assert_eq!(error, "elasticache credential test failed: server returned HTTP status 403 Forbidden: AccessDenied: no");
    }

    #[test]
    fn caches_given_by_arn_are_asked_by_name_and_id() {
        let (base, seen) = serve(elasticache);
        let clusters = vec!["arn:aws:elasticache:us-east-1:1:serverlesscache:s".to_string(), "arn:aws:elasticache:us-east-1:1:replicationgroup:grouped".to_string()];
        let sd = entry(AwsRole::Elasticache { clusters }, &base, 9121);
        ask_once(&mut Session::default(), &sd, &|_| None).expect("targets");
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(requests[1].body.contains("ServerlessCacheName=s"), "{}", requests[1].body);
        assert!(requests[2].body.contains("CacheClusterId=grouped") && requests[3].body.contains("CacheClusterId=grouped"), "{requests:?}");
    }
}
