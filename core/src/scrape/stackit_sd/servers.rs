//! The STACKIT IaaS API's server list (`GET /v1/projects/<project>/servers?details=true`) and
//! the targets Prometheus makes of it: a server with network interfaces and an address is a
//! target at its first public IP (else its first private IPv4) and the entry's port, with
//! every `__meta_stackit_*` label (one private IPv4 per network, its string labels).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

/// The answer: `items` may be missing or null (no servers).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServerList {
    items: Option<Vec<Server>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Server {
    availability_zone: Option<String>,
    id: Option<String>,
    /// Values of any type; only strings become labels.
    labels: Option<BTreeMap<String, serde_json::Value>>,
    machine_type: Option<String>,
    name: Option<String>,
    /// None (missing or null): the server is skipped, as Prometheus skips it.
    nics: Option<Vec<Nic>>,
    power_status: Option<String>,
    status: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Nic {
    network_name: Option<String>,
    ipv4: Option<String>,
    public_ip: Option<String>,
}

/// The answer's body decoded, in Prometheus' words when it cannot be.
pub fn decode(body: &[u8]) -> Result<ServerList, String> {
    serde_json::from_slice::<Option<ServerList>>(body).map(Option::unwrap_or_default).map_err(|e| format!("decoding response: {e}"))
}

/// The targets of `list`'s servers in `project`, each at `port`.
pub fn groups(list: &ServerList, project: &str, port: u16) -> Vec<TargetGroup> {
    let mut groups = Vec::new();
    for server in list.items.iter().flatten() {
        let Some(nics) = &server.nics else { continue };
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let mut labels = BTreeMap::from([
            ("__meta_stackit_project".to_string(), project.to_string()),
            ("__meta_stackit_id".to_string(), text(&server.id)),
            ("__meta_stackit_name".to_string(), text(&server.name)),
            ("__meta_stackit_availability_zone".to_string(), text(&server.availability_zone)),
            ("__meta_stackit_status".to_string(), text(&server.status)),
            ("__meta_stackit_power_status".to_string(), text(&server.power_status)),
            ("__meta_stackit_type".to_string(), text(&server.machine_type)),
        ]);
        let (mut address, mut public_ip) = (String::new(), String::new());
        for nic in nics {
            // The first public IP is the address, even after a private one was taken.
            if let Some(ip) = nic.public_ip.as_deref().filter(|ip| !ip.is_empty()) {
                if public_ip.is_empty() {
                    public_ip = ip.to_string();
                    address = ip.to_string();
                }
            }
            if let Some(ip) = nic.ipv4.as_deref().filter(|ip| !ip.is_empty()) {
                labels.insert(format!("__meta_stackit_private_ipv4_{}", sanitize_label_name(&text(&nic.network_name))), ip.to_string());
                if address.is_empty() {
                    address = ip.to_string();
                }
            }
        }
        if address.is_empty() {
            continue;
        }
        if !public_ip.is_empty() {
            labels.insert("__meta_stackit_public_ipv4".to_string(), public_ip);
        }
        for (key, value) in server.labels.iter().flatten() {
            if let serde_json::Value::String(value) = value {
                let name = sanitize_label_name(key);
                labels.insert(format!("__meta_stackit_labelpresent_{name}"), "true".to_string());
                labels.insert(format!("__meta_stackit_label_{name}"), value.clone());
            }
        }
        // An empty value is no label (Prometheus drops them when it builds the target).
        labels.retain(|_, v| !v.is_empty());
        groups.push(TargetGroup { targets: vec![join_host_port(&address, port)], labels });
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_public_ip_wins_and_servers_without_nics_or_addresses_are_skipped() {
        let body = br#"{"items": [
            {"id": "a", "nics": [{"networkName": "net-1", "ipv4": "10.0.0.1"}, {"networkName": "net 2", "ipv4": "10.0.1.1", "publicIp": "192.0.2.7"}, {"publicIp": "192.0.2.8"}],
             "labels": {"env": "prod", "count": 3, "k.v": "x"}},
            {"id": "b", "nics": [{"networkName": "only", "ipv4": "10.0.0.2"}]},
            {"id": "c", "nics": null},
            {"id": "d"},
            {"id": "e", "nics": [{"networkName": "n", "ipv4": ""}]}]}"#;
        let groups = groups(&decode(body).expect("a list"), "p", 9100);
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["192.0.2.7:9100", "10.0.0.2:9100"]);
        let labels = &groups[0].labels;
        assert_eq!(labels.get("__meta_stackit_private_ipv4_net_1").map(String::as_str), Some("10.0.0.1"));
        assert_eq!(labels.get("__meta_stackit_private_ipv4_net_2").map(String::as_str), Some("10.0.1.1"));
        assert_eq!(labels.get("__meta_stackit_public_ipv4").map(String::as_str), Some("192.0.2.7"));
        assert_eq!(labels.get("__meta_stackit_label_k_v").map(String::as_str), Some("x"));
        assert!(!labels.contains_key("__meta_stackit_label_count") && !labels.contains_key("__meta_stackit_labelpresent_count"), "a number is no label");
        assert!(!groups[1].labels.contains_key("__meta_stackit_public_ipv4"));
        assert!(super::groups(&decode(b"{}").expect("no items"), "p", 80).is_empty());
        assert!(super::groups(&decode(b"null").expect("null"), "p", 80).is_empty());
        assert!(decode(b"[").expect_err("cut").starts_with("decoding response: "));
    }
}
