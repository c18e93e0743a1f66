//! Reads IONOS Cloud's server list of a data center (`GET
//! /cloudapi/v6/datacenters/<id>/servers?depth=3`) as Prometheus reads it through the IONOS
//! Go SDK, and turns the servers into targets labelled as Prometheus labels them. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

/// Around and between IP addresses, as Prometheus joins them.
const SEPARATOR: &str = ",";
/// The name of a NIC that has none, in its `nic_ip_<name>` label.
const UNNAMED_NIC: &str = "unnamed";

/// The answer: a collection of servers (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Servers {
    id: Option<String>,
    items: Option<Vec<Server>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Server {
    id: Option<String>,
    metadata: Option<Metadata>,
    properties: Option<ServerProperties>,
    entities: Option<Entities>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Metadata {
    state: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ServerProperties {
    name: Option<String>,
    availability_zone: Option<String>,
    cpu_family: Option<String>,
    vm_state: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    boot_cdrom: Option<Reference>,
    boot_volume: Option<Reference>,
}

/// An attached CD-ROM image or volume: its ID.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reference {
    id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Entities {
    nics: Option<Collection<NicProperties>>,
    volumes: Option<Collection<VolumeProperties>>,
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct Collection<T> {
    items: Option<Vec<Item<T>>>,
}

impl<T> Default for Collection<T> {
    fn default() -> Self {
        Collection { items: None }
    }
}

#[derive(Debug, Deserialize)]
#[serde(default)]
struct Item<T> {
    properties: Option<T>,
}

impl<T> Default for Item<T> {
    fn default() -> Self {
        Item { properties: None }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NicProperties {
    name: Option<String>,
    ips: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VolumeProperties {
    image: Option<String>,
}

/// The answer as the API sends it, or why it cannot be read.
pub fn servers(answer: &[u8]) -> Result<Servers, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("cannot read the servers: a list, not an object".into());
    }
    serde_json::from_slice(answer).map_err(|e| format!("cannot read the servers: {e}"))
}

/// A group per server that has an IP address, in list order, at its first address and `port`,
/// with Prometheus' `__meta_ionos_server_*` labels. A field the API leaves out or sends as
/// `null` is no label.
pub fn groups(servers: &Servers, port: u16) -> Vec<TargetGroup> {
    let listed = servers.items.as_deref().unwrap_or_default();
    listed.iter().filter_map(|server| group(server, servers.id.as_deref(), port)).collect()
}

/// A server's group, or none when it has no IP address. As the SDK's caller in Prometheus,
/// each NIC's addresses go before those of the NICs listed ahead of it.
fn group(server: &Server, servers_id: Option<&str>, port: u16) -> Option<TargetGroup> {
    let mut ips: Vec<&str> = Vec::new();
    let mut ips_by_nic: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let nics = server.entities.as_ref().and_then(|e| e.nics.as_ref()).and_then(|n| n.items.as_deref()).unwrap_or_default();
    for nic in nics {
        let Some(properties) = &nic.properties else { continue };
        let name = properties.name.as_deref().unwrap_or(UNNAMED_NIC);
        let nic_ips: Vec<&str> = properties.ips.iter().flatten().map(String::as_str).collect();
        ips.splice(0..0, nic_ips.iter().copied());
        ips_by_nic.entry(name).or_default().splice(0..0, nic_ips);
    }
    let first = *ips.first()?;
    let mut labels = BTreeMap::from([("__meta_ionos_server_ip".to_string(), joined(&ips))]);
    let mut set = |name: &str, value: Option<&String>| {
        if let Some(value) = value {
            labels.insert(format!("__meta_ionos_server_{name}"), value.clone());
        }
    };
    let properties = server.properties.as_ref();
    set("availability_zone", properties.and_then(|p| p.availability_zone.as_ref()));
    set("cpu_family", properties.and_then(|p| p.cpu_family.as_ref()));
    set("servers_id", servers_id.map(str::to_string).as_ref());
    set("id", server.id.as_ref());
    set("lifecycle", server.metadata.as_ref().and_then(|m| m.state.as_ref()));
    set("name", properties.and_then(|p| p.name.as_ref()));
    set("state", properties.and_then(|p| p.vm_state.as_ref()));
    set("type", properties.and_then(|p| p.kind.as_ref()));
    set("boot_cdrom_id", properties.and_then(|p| p.boot_cdrom.as_ref()).and_then(|r| r.id.as_ref()));
    set("boot_volume_id", properties.and_then(|p| p.boot_volume.as_ref()).and_then(|r| r.id.as_ref()));
    // The first volume's image, if it has one.
    let volumes = server.entities.as_ref().and_then(|e| e.volumes.as_ref()).and_then(|v| v.items.as_deref()).unwrap_or_default();
    set("boot_image_id", volumes.first().and_then(|v| v.properties.as_ref()).and_then(|p| p.image.as_ref()));
    for (name, nic_ips) in &ips_by_nic {
        labels.insert(format!("__meta_ionos_server_nic_ip_{}", sanitize_label_name(name)), joined(nic_ips));
    }
    // An empty value is no label (Prometheus drops them when it builds the target).
    labels.retain(|_, v| !v.is_empty());
    Some(TargetGroup { targets: vec![join_host_port(first, port)], labels })
}

/// `items` joined by the separator, with one at each end too (relabeling regexes then need
/// not mind an item's position).
fn joined(items: &[&str]) -> String {
    format!("{SEPARATOR}{}{SEPARATOR}", items.join(SEPARATOR))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVERS_ID: &str = "8feda53f-15f0-447f-badf-ebe32dad2fc0/servers";

    /// Three servers as the API answers them at depth 3: one without NICs, one with three NICs
    /// (two unnamed), one with one NIC and a data volume without an image.
    const ANSWER: &str = r#"{
      "id": "8feda53f-15f0-447f-badf-ebe32dad2fc0/servers", "type": "collection",
      "href": "https://api.ionos.com/cloudapi/v6/datacenters/8feda53f-15f0-447f-badf-ebe32dad2fc0/servers",
      "items": [
        {"id": "d6bf44ee-f7e8-4e19-8716-96fdd18cc697", "type": "server",
         "metadata": {"state": "AVAILABLE"},
         "properties": {"name": "prometheus-3", "cores": 2, "ram": 4096, "availabilityZone": "AUTO", "vmState": "RUNNING",
                        "bootCdrom": {"id": "0e4d57f9-cd78-11e9-b88c-525400f64d8d", "type": "image"}, "bootVolume": null, "cpuFamily": "INTEL_SKYLAKE", "type": "ENTERPRISE"},
         "entities": {"volumes": {"id": "d6bf44ee/volumes", "type": "collection", "items": []},
                      "nics": {"id": "d6bf44ee/nics", "type": "collection", "items": []}}},
        {"id": "b501942c-4e08-43e6-8ec1-00e59c64e0e4", "type": "server",
         "metadata": {"state": "AVAILABLE"},
         "properties": {"name": "prometheus-2", "availabilityZone": "ZONE_2", "vmState": "RUNNING",
                        "bootCdrom": {"id": "0e4d57f9-cd78-11e9-b88c-525400f64d8d"}, "bootVolume": null, "cpuFamily": "INTEL_SKYLAKE", "type": "ENTERPRISE"},
         "entities": {
           "volumes": {"items": [{"id": "97a58f00", "properties": {"name": "prometheus-data-1", "image": null}}]},
           "nics": {"items": [
             {"id": "206e9a88", "properties": {"name": null, "ips": ["85.215.238.118"], "dhcp": true}},
             {"id": "8a568a32", "properties": {"name": null, "ips": ["185.56.150.9"]}},
             {"id": "17ecc866", "properties": {"name": "metrics", "ips": ["85.215.243.177"]}}]}}},
        {"id": "523415e6-ff8c-4dc0-86d3-09c256039b30", "type": "server",
         "metadata": {"state": "AVAILABLE"},
         "properties": {"name": "prometheus-1", "availabilityZone": "ZONE_1", "vmState": "RUNNING",
                        "bootCdrom": {"id": "0e4d57f9-cd78-11e9-b88c-525400f64d8d"}, "cpuFamily": "INTEL_SKYLAKE", "type": "ENTERPRISE"},
         "entities": {"nics": {"items": [{"properties": {"ips": ["85.215.248.84"]}}]}}},
        {"id": null, "metadata": {"state": null}, "properties": {"name": null, "bootCdrom": null},
         "entities": {"nics": {"items": [{"properties": {"ips": ["10.0.0.99"]}}]}}}
      ]}"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn servers_become_the_targets_and_labels_prometheus_makes() {
        let groups = groups(&servers(ANSWER.as_bytes()).expect("valid"), 80);
        assert_eq!(groups.len(), 3, "the server without NICs is no target");
        assert_eq!(groups[0].targets, ["85.215.243.177:80"], "the last NIC's addresses come first");
        assert_eq!(
            groups[0].labels,
            labels(&[
                ("__meta_ionos_server_availability_zone", "ZONE_2"),
                ("__meta_ionos_server_boot_cdrom_id", "0e4d57f9-cd78-11e9-b88c-525400f64d8d"),
                ("__meta_ionos_server_cpu_family", "INTEL_SKYLAKE"),
                ("__meta_ionos_server_id", "b501942c-4e08-43e6-8ec1-00e59c64e0e4"),
                ("__meta_ionos_server_ip", ",85.215.243.177,185.56.150.9,85.215.238.118,"),
                ("__meta_ionos_server_nic_ip_metrics", ",85.215.243.177,"),
                ("__meta_ionos_server_nic_ip_unnamed", ",185.56.150.9,85.215.238.118,"),
                ("__meta_ionos_server_lifecycle", "AVAILABLE"),
                ("__meta_ionos_server_name", "prometheus-2"),
                ("__meta_ionos_server_servers_id", SERVERS_ID),
                ("__meta_ionos_server_state", "RUNNING"),
                ("__meta_ionos_server_type", "ENTERPRISE"),
            ])
        );
        assert_eq!(groups[1].targets, ["85.215.248.84:80"]);
        assert_eq!(groups[1].labels.get("__meta_ionos_server_nic_ip_unnamed").map(String::as_str), Some(",85.215.248.84,"));
        assert_eq!(groups[1].labels.get("__meta_ionos_server_availability_zone").map(String::as_str), Some("ZONE_1"));
        // Null fields are no labels.
        assert_eq!(groups[2].targets, ["10.0.0.99:80"]);
        assert_eq!(
            groups[2].labels,
            labels(&[("__meta_ionos_server_ip", ",10.0.0.99,"), ("__meta_ionos_server_nic_ip_unnamed", ",10.0.0.99,"), ("__meta_ionos_server_servers_id", SERVERS_ID)])
        );
    }

    /// Prometheus' cases of containers the API leaves out: each target as it expects.
    #[test]
    fn missing_containers_leave_labels_or_targets_out() {
        let one = |items: &str| groups(&servers(format!(r#"{{"id": "{SERVERS_ID}", "type": "collection", "items": [{items}]}}"#).as_bytes()).expect("valid"), 80);
        assert!(groups(&servers(format!(r#"{{"id": "{SERVERS_ID}", "type": "collection"}}"#).as_bytes()).expect("valid"), 80).is_empty(), "no items");
        let no_properties = one(r#"{"id": "srv-1", "properties": null, "entities": {"nics": {"items": [{"properties": {"ips": ["10.0.0.1"]}}]}}}"#);
        assert_eq!(no_properties[0].labels, labels(&[("__meta_ionos_server_id", "srv-1"), ("__meta_ionos_server_ip", ",10.0.0.1,"), ("__meta_ionos_server_nic_ip_unnamed", ",10.0.0.1,"), ("__meta_ionos_server_servers_id", SERVERS_ID)]));
        assert!(one(r#"{"id": "srv-2", "properties": {"name": "no-nics"}, "entities": {"nics": {"id": "srv-2/nics", "type": "collection"}}}"#).is_empty());
        assert!(one(r#"{"id": "srv-3", "entities": {"nics": {"items": [{"id": "nic-3", "properties": null}]}}}"#).is_empty());
        assert!(one(r#"{"id": "srv-4", "entities": {"nics": {"items": [{"properties": {"name": "eth0"}}]}}}"#).is_empty());
        let empty_references = one(r#"{"id": "srv-5", "properties": {"bootCdrom": {}, "bootVolume": {"id": null}}, "entities": {"nics": {"items": [{"properties": {"ips": ["10.0.0.5"]}}]}}}"#);
        assert_eq!(empty_references[0].labels.len(), 4, "{:?}", empty_references[0].labels);
        let no_volume_items = one(r#"{"id": "srv-6", "properties": {"name": "v"}, "entities": {"nics": {"items": [{"properties": {"ips": ["10.0.0.6"]}}]}, "volumes": {"type": "collection"}}}"#);
        assert_eq!(no_volume_items[0].labels.get("__meta_ionos_server_boot_image_id"), None);
        let volume_without_properties = one(r#"{"id": "srv-7", "entities": {"nics": {"items": [{"properties": {"ips": ["10.0.0.7"]}}]}, "volumes": {"items": [{"id": "vol-7", "properties": null}]}}}"#);
        assert_eq!(volume_without_properties[0].targets, ["10.0.0.7:80"]);
        let with_image = one(r#"{"id": "srv-8", "properties": {"bootVolume": {"id": "vol-8"}}, "entities": {"nics": {"items": [{"properties": {"name": "pub-net 1", "ips": ["2001:db8::8"]}}]}, "volumes": {"items": [{"properties": {"image": "img-8"}}]}}}"#);
        assert_eq!(with_image[0].targets, ["[2001:db8::8]:80"]);
        assert_eq!(with_image[0].labels.get("__meta_ionos_server_boot_image_id").map(String::as_str), Some("img-8"));
        assert_eq!(with_image[0].labels.get("__meta_ionos_server_boot_volume_id").map(String::as_str), Some("vol-8"));
        assert_eq!(with_image[0].labels.get("__meta_ionos_server_nic_ip_pub_net_1").map(String::as_str), Some(",2001:db8::8,"));
    }

    #[test]
    fn an_answer_of_the_wrong_shape_is_refused() {
        assert!(servers(b"[]").is_err());
        assert!(servers(br#"{"items": {"a": 1}}"#).is_err());
    }
}
