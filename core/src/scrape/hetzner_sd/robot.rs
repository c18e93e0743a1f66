//! Reads the Hetzner Robot webservice's server list (`GET /server`: a JSON list of
//! `{"server": {...}}`) as Prometheus reads it, and turns each dedicated server into a
//! target labelled as Prometheus labels it: at its main IPv4 (`server_ip`) and the entry's
//! port, with the `__meta_hetzner_*` labels (the first IPv6 subnet as its network). Pure:
//! no I/O.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// One entry of the list (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Entry {
    #[serde(deserialize_with = "null_as_default")]
    server: Server,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Server {
    #[serde(deserialize_with = "null_as_default")]
    server_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    server_number: i64,
    #[serde(deserialize_with = "null_as_default")]
    server_name: String,
    #[serde(deserialize_with = "null_as_default")]
    dc: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    product: String,
    #[serde(deserialize_with = "null_as_default")]
    cancelled: bool,
    #[serde(deserialize_with = "null_as_default")]
    subnet: Vec<Subnet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Subnet {
    #[serde(deserialize_with = "null_as_default")]
    ip: String,
    #[serde(deserialize_with = "null_as_default")]
    mask: String,
}

/// The server list as the webservice answers it (`null`: none), or why it cannot be read.
pub fn servers(answer: &[u8]) -> Result<Vec<Entry>, String> {
    let list: Option<Vec<Entry>> = serde_json::from_slice(answer).map_err(|e| format!("cannot read the robot servers: {e}"))?;
    Ok(list.unwrap_or_default())
}

/// A group per server, in list order, with Prometheus' labels.
pub fn groups(entries: &[Entry], port: u16) -> Vec<TargetGroup> {
    entries
        .iter()
        .map(|entry| {
            let server = &entry.server;
            let datacenter = server.dc.to_lowercase();
            let mut labels = BTreeMap::from([
                ("__meta_hetzner_role".to_string(), "robot".to_string()),
                ("__meta_hetzner_server_id".to_string(), server.server_number.to_string()),
                ("__meta_hetzner_server_name".to_string(), server.server_name.clone()),
                ("__meta_hetzner_server_status".to_string(), server.status.clone()),
                ("__meta_hetzner_public_ipv4".to_string(), server.server_ip.clone()),
                // Prometheus keeps the older name too, with the same value.
                ("__meta_hetzner_datacenter".to_string(), datacenter.clone()),
                ("__meta_hetzner_robot_datacenter".to_string(), datacenter),
                ("__meta_hetzner_robot_product".to_string(), server.product.clone()),
                ("__meta_hetzner_robot_cancelled".to_string(), server.cancelled.to_string()),
            ]);
            // The first subnet that is not IPv4 (one whose address does not parse counts
            // too, as in Prometheus), written as the webservice gives it.
            if let Some(subnet) = server.subnet.iter().find(|s| !is_ipv4(&s.ip)) {
                labels.insert("__meta_hetzner_public_ipv6_network".to_string(), format!("{}/{}", subnet.ip, subnet.mask));
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![join_host_port(&server.server_ip, port)], labels }
        })
        .collect()
}

/// Whether `text` is an IPv4 address, IPv4-mapped IPv6 included (Go's `To4() != nil`).
fn is_ipv4(text: &str) -> bool {
    match text.parse::<IpAddr>() {
        Ok(IpAddr::V4(_)) => true,
        Ok(IpAddr::V6(v6)) => v6.to_ipv4_mapped().is_some(),
        Err(_) => false,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The two servers of Prometheus' robot test, as the webservice answers them: one with
    /// an IPv6 subnet, one cancelled without subnets.
    pub const SERVERS: &str = r#"[
      {"server": {"server_ip": "123.123.123.123", "server_number": 321, "server_name": "server1", "product": "DS 3000", "dc": "NBG1-DC1",
                  "traffic": "5 TB", "flatrate": true, "status": "ready", "throttled": true, "cancelled": false, "paid_until": "2010-09-02",
                  "ip": ["123.123.123.123"], "subnet": [{"ip": "2a01:4f8:111:4221::", "mask": "64"}]}},
      {"server": {"server_ip": "123.123.123.124", "server_number": 421, "server_name": "server2", "product": "X5", "dc": "FSN1-DC10",
                  "traffic": "2 TB", "flatrate": true, "status": "in process", "throttled": false, "cancelled": true, "paid_until": "2010-06-11",
                  "ip": ["123.123.123.124"], "subnet": null}}
    ]"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Prometheus' expected label sets for the fixture (`TestRobotSDRefresh`), without its
    /// `__address__` (the group's target here).
    pub fn expected() -> Vec<(String, BTreeMap<String, String>)> {
        vec![
            (
                "123.123.123.123:80".to_string(),
                labels(&[
                    ("__meta_hetzner_role", "robot"),
                    ("__meta_hetzner_server_id", "321"),
                    ("__meta_hetzner_server_name", "server1"),
                    ("__meta_hetzner_server_status", "ready"),
                    ("__meta_hetzner_public_ipv4", "123.123.123.123"),
                    ("__meta_hetzner_public_ipv6_network", "2a01:4f8:111:4221::/64"),
                    ("__meta_hetzner_datacenter", "nbg1-dc1"),
                    ("__meta_hetzner_robot_datacenter", "nbg1-dc1"),
                    ("__meta_hetzner_robot_product", "DS 3000"),
                    ("__meta_hetzner_robot_cancelled", "false"),
                ]),
            ),
            (
                "123.123.123.124:80".to_string(),
                labels(&[
                    ("__meta_hetzner_role", "robot"),
                    ("__meta_hetzner_server_id", "421"),
                    ("__meta_hetzner_server_name", "server2"),
                    ("__meta_hetzner_server_status", "in process"),
                    ("__meta_hetzner_public_ipv4", "123.123.123.124"),
                    ("__meta_hetzner_datacenter", "fsn1-dc10"),
                    ("__meta_hetzner_robot_datacenter", "fsn1-dc10"),
                    ("__meta_hetzner_robot_product", "X5"),
                    ("__meta_hetzner_robot_cancelled", "true"),
                ]),
            ),
        ]
    }

    #[test]
    fn servers_become_the_targets_and_labels_prometheus_makes() {
        let groups = groups(&servers(SERVERS.as_bytes()).expect("a valid list"), 80);
        let got: Vec<(String, BTreeMap<String, String>)> = groups.into_iter().map(|g| (g.targets.join(","), g.labels)).collect();
        assert_eq!(got, expected());
    }

    #[test]
    fn the_ipv6_network_is_the_first_subnet_that_is_not_ipv4() {
        let list = br#"[{"server": {"server_ip": "2a01:4f8::2", "server_number": 5, "subnet": [
            {"ip": "198.51.100.0", "mask": "29"}, {"ip": "::ffff:198.51.100.8", "mask": "125"}, {"ip": "2a01:4f8:1:2::", "mask": "64"}, {"ip": "2a01:4f8:9::", "mask": "64"}]}},
          {"server": null}, {"server": {"subnet": [{"ip": "not an address", "mask": "x"}]}}]"#;
        let groups = groups(&servers(list).expect("valid"), 9100);
        assert_eq!(groups[0].targets, ["[2a01:4f8::2]:9100"]);
        assert_eq!(groups[0].labels.get("__meta_hetzner_public_ipv6_network").map(String::as_str), Some("2a01:4f8:1:2::/64"));
        assert_eq!(groups[0].labels.get("__meta_hetzner_robot_cancelled").map(String::as_str), Some("false"));
        assert_eq!(groups[1].targets, [":9100"], "as Prometheus joins an empty address");
        assert_eq!(groups[1].labels.get("__meta_hetzner_server_id").map(String::as_str), Some("0"));
        assert_eq!(groups[2].labels.get("__meta_hetzner_public_ipv6_network").map(String::as_str), Some("not an address/x"));
        assert!(servers(b"null").expect("no servers").is_empty());
        assert!(servers(b"{}").is_err() && servers(br#"[{"server": {"server_number": "1"}}]"#).is_err());
    }
}
