//! Reads one page of DigitalOcean's managed database list (`GET /v2/databases`) as
//! Prometheus reads it through DigitalOcean's Go client, and turns the clusters into targets
//! labelled as Prometheus' `databases` role labels them: one per cluster that has a host, at
//! its private host (else its public one) and the entry's port, with the
//! `__meta_digitalocean_db_*` labels. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// One page of the list (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    #[serde(deserialize_with = "null_as_default")]
    pub databases: Vec<Database>,
}

/// A managed database cluster.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Database {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    engine: String,
    #[serde(deserialize_with = "null_as_default")]
    version: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    region: String,
    #[serde(deserialize_with = "null_as_default")]
    size: String,
    #[serde(deserialize_with = "null_as_default")]
    num_nodes: i64,
    /// The public connection, if the API gave one.
    connection: Option<Connection>,
    /// The connection inside the cluster's VPC, if the API gave one.
    private_connection: Option<Connection>,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
}

/// A connection's host (its port, user and password are not read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Connection {
    #[serde(deserialize_with = "null_as_default")]
    host: String,
}

/// A page as the API answers it, or why it cannot be read.
pub fn page(answer: &[u8]) -> Result<Page, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("cannot read the database clusters: a list, not an object".into());
    }
    serde_json::from_slice(answer).map_err(|e| format!("cannot read the database clusters: {e}"))
}

/// A group per cluster with a host, in list order, with Prometheus' labels. A cluster with
/// no host at all is left out: Prometheus makes it a target without an address, which it
/// then drops.
pub fn groups(databases: &[Database], port: u16) -> Vec<TargetGroup> {
    databases
        .iter()
        .filter_map(|d| {
            let mut labels = BTreeMap::from([
                ("__meta_digitalocean_db_id".to_string(), d.id.clone()),
                ("__meta_digitalocean_db_name".to_string(), d.name.clone()),
                ("__meta_digitalocean_db_engine".to_string(), d.engine.clone()),
                ("__meta_digitalocean_db_version".to_string(), d.version.clone()),
                ("__meta_digitalocean_db_status".to_string(), d.status.clone()),
                ("__meta_digitalocean_db_region".to_string(), d.region.clone()),
                ("__meta_digitalocean_db_size".to_string(), d.size.clone()),
                ("__meta_digitalocean_db_num_nodes".to_string(), d.num_nodes.to_string()),
            ]);
            let mut host = String::new();
            if let Some(private) = &d.private_connection {
                host = private.host.clone();
                labels.insert("__meta_digitalocean_db_private_host".to_string(), private.host.clone());
            }
            if let Some(public) = &d.connection {
                labels.insert("__meta_digitalocean_db_host".to_string(), public.host.clone());
                if host.is_empty() {
                    host = public.host.clone();
                }
            }
            for tag in &d.tags {
                labels.insert(format!("__meta_digitalocean_db_tag_{tag}"), "true".to_string());
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            (!host.is_empty()).then(|| TargetGroup { targets: vec![join_host_port(&host, port)], labels })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two clusters of Prometheus' own test, as the API answers them.
    const PAGE_1: &str = r#"{"databases": [
        {"id": "9cc10173-e9ea-4176-9dbc-a4cee4c4ff30", "name": "do-fra1-pg-trading-001", "engine": "pg", "version": "16", "status": "online",
         "region": "fra1", "size": "db-s-1vcpu-2gb", "num_nodes": 1,
         "connection": {"host": "do-fra1-pg-trading-001-do-user-XXXXX-0.f.db.ondigitalocean.com", "port": 25060, "user": "doadmin", "password": "XXX", "database": "defaultdb", "ssl": true},
         "tags": ["prod", "market"]}],
      "links": {"pages": {"next": "https://api.digitalocean.com/v2/databases?page=2"}}}"#;
    const PAGE_2: &str = r#"{"databases": [
        {"id": "a0b1c2d3-e4f5-4677-8899-001122334455", "name": "private-db", "engine": "mysql", "version": "8", "status": "online",
         "region": "nyc1", "size": "db-s-2vcpu-4gb", "num_nodes": 2,
         "connection": {"host": "public-db-host"}, "private_connection": {"host": "private-db-host"}}]}"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn clusters_become_the_targets_and_labels_prometheus_makes() {
        let mut clusters = page(PAGE_1.as_bytes()).expect("valid").databases;
        clusters.extend(page(PAGE_2.as_bytes()).expect("valid").databases);
        let groups = groups(&clusters, 9273);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets, ["do-fra1-pg-trading-001-do-user-XXXXX-0.f.db.ondigitalocean.com:9273"]);
        assert_eq!(
            groups[0].labels,
            labels(&[
                ("__meta_digitalocean_db_id", "9cc10173-e9ea-4176-9dbc-a4cee4c4ff30"),
                ("__meta_digitalocean_db_name", "do-fra1-pg-trading-001"),
                ("__meta_digitalocean_db_engine", "pg"),
                ("__meta_digitalocean_db_version", "16"),
                ("__meta_digitalocean_db_status", "online"),
                ("__meta_digitalocean_db_region", "fra1"),
                ("__meta_digitalocean_db_size", "db-s-1vcpu-2gb"),
                ("__meta_digitalocean_db_num_nodes", "1"),
                ("__meta_digitalocean_db_host", "do-fra1-pg-trading-001-do-user-XXXXX-0.f.db.ondigitalocean.com"),
                ("__meta_digitalocean_db_tag_prod", "true"),
                ("__meta_digitalocean_db_tag_market", "true"),
            ])
        );
        // The private host is the address when there is one.
        assert_eq!(groups[1].targets, ["private-db-host:9273"]);
        assert_eq!(
            groups[1].labels,
            labels(&[
                ("__meta_digitalocean_db_id", "a0b1c2d3-e4f5-4677-8899-001122334455"),
                ("__meta_digitalocean_db_name", "private-db"),
                ("__meta_digitalocean_db_engine", "mysql"),
                ("__meta_digitalocean_db_version", "8"),
                ("__meta_digitalocean_db_status", "online"),
                ("__meta_digitalocean_db_region", "nyc1"),
                ("__meta_digitalocean_db_size", "db-s-2vcpu-4gb"),
                ("__meta_digitalocean_db_num_nodes", "2"),
                ("__meta_digitalocean_db_host", "public-db-host"),
                ("__meta_digitalocean_db_private_host", "private-db-host"),
            ])
        );
    }

    #[test]
    fn an_empty_private_host_falls_back_to_the_public_one_and_no_host_is_no_target() {
        let clusters = page(br#"{"databases": [
            {"id": "a", "private_connection": {"host": ""}, "connection": {"host": "pub.example"}},
            {"id": "b", "connection": null, "private_connection": null, "tags": null},
            {"id": "c", "private_connection": {"host": "10.0.0.3"}}]}"#)
        .expect("valid")
        .databases;
        let groups = groups(&clusters, 9100);
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["pub.example:9100", "10.0.0.3:9100"]);
        assert_eq!(groups[0].labels.get("__meta_digitalocean_db_private_host"), None, "an empty value is no label");
        assert_eq!(groups[1].labels.get("__meta_digitalocean_db_host"), None);
        assert_eq!(groups[0].labels.get("__meta_digitalocean_db_num_nodes").map(String::as_str), Some("0"));
    }

    #[test]
    fn a_list_or_a_wrong_type_is_refused() {
        assert!(page(b"[]").is_err());
        assert!(page(br#"{"databases": [{"num_nodes": "two"}]}"#).is_err());
        assert!(page(br#"{"databases": null}"#).expect("null is none").databases.is_empty());
    }
}
