//! Scaleway Instances as the Instance API lists them (`/instance/v1/zones/<zone>/servers`),
//! the IPAM addresses of private NICs (`/ipam/v1/regions/<region>/ips`), and the targets
//! Prometheus makes of them: one per Instance with an address (its private IPv4, else its
//! public IP, else its IPv6, else the first private NIC's IPAM IPv4) at the entry's port,
//! with the `__meta_scaleway_instance_*` labels. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Deserializer};

use super::api::{enum_or, ip_text, region_of, zone, GoIp};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// The key of the Instance API's server list, and of the IPAM API's address list.
pub const SERVERS_KEY: &str = "servers";
pub const IPS_KEY: &str = "ips";
/// The IPAM resource type of an Instance's private NIC.
pub const PRIVATE_NIC: &str = "instance_private_nic";

const PREFIX: &str = "__meta_scaleway_instance_";
/// Joins (and ends) the tag and address lists in labels.
const SEPARATOR: &str = ",";

fn boot_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_or(d, "local")
}

fn state<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_or(d, "running")
}

fn arch<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_or(d, "unknown_arch")
}

fn family<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_or(d, "inet")
}

/// An Instance (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    organization: String,
    #[serde(deserialize_with = "null_as_default")]
    project: String,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    commercial_type: String,
    #[serde(deserialize_with = "null_as_default")]
    hostname: String,
    image: Option<Image>,
    private_ip: Option<String>,
    /// Its (first) public IP: deprecated by the API, still what Prometheus reads first.
    public_ip: Option<ServerIp>,
    #[serde(deserialize_with = "null_as_default")]
    public_ips: Vec<Option<ServerIp>>,
    #[serde(deserialize_with = "state")]
    state: String,
    location: Option<Location>,
    /// Its IPv6 address: deprecated by the API, still read by Prometheus.
    ipv6: Option<ServerIpv6>,
    #[serde(deserialize_with = "boot_type")]
    boot_type: String,
    security_group: Option<SecurityGroup>,
    #[serde(deserialize_with = "null_as_default")]
    private_nics: Vec<Option<PrivateNic>>,
    #[serde(deserialize_with = "zone")]
    zone: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Image {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "arch")]
    arch: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServerIp {
    address: GoIp,
    #[serde(deserialize_with = "family")]
    family: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServerIpv6 {
    address: GoIp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Location {
    #[serde(deserialize_with = "null_as_default")]
    cluster_id: String,
    #[serde(deserialize_with = "null_as_default")]
    hypervisor_id: String,
    #[serde(deserialize_with = "null_as_default")]
    node_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SecurityGroup {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PrivateNic {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
}

/// An IPAM address (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamIp {
    /// The address itself (`10.0.0.7` of `10.0.0.7/32`), None when empty.
    #[serde(deserialize_with = "cidr_address")]
    address: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    is_ipv6: bool,
    resource: Option<Resource>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Resource {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
}

/// An address with a prefix length (or without one) as the Go client reads it: the address
/// as Go writes it, None when empty.
fn cidr_address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || serde::de::Error::custom(format!("invalid CIDR address: {text}"));
    let (address, length) = text.split_once('/').map_or((text.as_str(), None), |(a, l)| (a, Some(l)));
    let parsed: std::net::IpAddr = address.parse().map_err(|_| bad())?;
    let bits = if parsed.is_ipv4() { 32 } else { 128 };
    if let Some(length) = length {
        if length.is_empty() || length.len() > 3 || !length.bytes().all(|b| b.is_ascii_digit()) || length.parse::<u32>().map_or(true, |l| l > bits) {
            return Err(bad());
        }
    }
    ip_text(address).map(Some).map_err(serde::de::Error::custom)
}

/// Whether Prometheus asks IPAM for `server`'s address: it has no private IP, no public IP
/// and no IPv6 address.
fn needs_ipam(server: &Server) -> bool {
    server.private_ip.is_none() && server.public_ip.is_none() && server.ipv6.is_none()
}

/// The private NICs to ask IPAM about, by region (in the order met): those of servers with
/// no other address. A server's zone that names no region fails the refresh, as in Prometheus.
pub fn private_nics_by_region(servers: &[Server]) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut by_region: Vec<(String, Vec<String>)> = Vec::new();
    for server in servers.iter().filter(|s| needs_ipam(s)) {
        let region = region_of(&server.zone)?;
        let ids = server.private_nics.iter().flatten().filter(|n| !n.id.is_empty()).map(|n| n.id.clone());
        match by_region.iter_mut().find(|(r, _)| *r == region) {
            Some((_, known)) => known.extend(ids),
            None => by_region.push((region, ids.collect())),
        }
    }
    by_region.retain(|(_, ids)| !ids.is_empty());
    Ok(by_region)
}

/// The IPv4 address of each private NIC among `ips` (the last one listed when it has more).
pub fn private_nic_addresses(ips: &[IpamIp]) -> HashMap<String, String> {
    let mut found = HashMap::new();
    for ip in ips {
        if let (Some(resource), Some(address), false) = (&ip.resource, &ip.address, ip.is_ipv6) {
            found.insert(resource.id.clone(), address.clone());
        }
    }
    found
}

/// `items` between separators, as Prometheus writes lists in labels (`,a,b,`).
fn listed(items: &[String]) -> String {
    format!("{SEPARATOR}{}{SEPARATOR}", items.join(SEPARATOR))
}

/// The targets of `servers` at `port` (the private NICs' IPAM addresses in `nic_addresses`):
/// one per server with an address, in the listed order.
pub fn groups(servers: &[Server], nic_addresses: &HashMap<String, String>, port: u16) -> Vec<TargetGroup> {
    let mut groups = Vec::new();
    for server in servers {
        let mut labels = BTreeMap::new();
        let mut set = |name: &str, value: &str| {
            labels.insert(format!("{PREFIX}{name}"), value.to_string());
        };
        set("boot_type", &server.boot_type);
        set("hostname", &server.hostname);
        set("id", &server.id);
        set("name", &server.name);
        set("organization_id", &server.organization);
        set("project_id", &server.project);
        set("status", &server.state);
        set("type", &server.commercial_type);
        set("zone", &server.zone);
        if let Some(image) = &server.image {
            set("image_arch", &image.arch);
            set("image_id", &image.id);
            set("image_name", &image.name);
        }
        if let Some(location) = &server.location {
            set("location_cluster_id", &location.cluster_id);
            set("location_hypervisor_id", &location.hypervisor_id);
            set("location_node_id", &location.node_id);
        }
        if let Some(group) = &server.security_group {
            set("security_group_id", &group.id);
            set("security_group_name", &group.name);
        }
        if let Ok(region) = region_of(&server.zone) {
            set("region", &region);
        }
        if !server.tags.is_empty() {
            set("tags", &listed(&server.tags));
        }
        let public_ips: Vec<&ServerIp> = server.public_ips.iter().flatten().collect();
        let of_family = |family: &str| public_ips.iter().filter(|ip| ip.family == family).map(|ip| ip.address.0.clone()).collect::<Vec<_>>();
        let (ipv4s, ipv6s) = (of_family("inet"), of_family("inet6"));
        if !ipv6s.is_empty() {
            set("public_ipv6_addresses", &listed(&ipv6s));
        }
        if !ipv4s.is_empty() {
            set("public_ipv4_addresses", &listed(&ipv4s));
        }
        // The address: the private IP over the public IP over the IPv6 address.
        let mut address = String::new();
        if let Some(ipv6) = &server.ipv6 {
            set("public_ipv6", &ipv6.address.0);
            address.clone_from(&ipv6.address.0);
        }
        if let Some(public) = &server.public_ip {
            if public.family != "inet6" {
                set("public_ipv4", &public.address.0);
            }
            address.clone_from(&public.address.0);
        }
        if let Some(private) = &server.private_ip {
            set("private_ipv4", private);
            address.clone_from(private);
        }
        if address.is_empty() {
            if let Some(found) = server.private_nics.iter().flatten().find_map(|nic| nic_addresses.get(&nic.id).filter(|a| !a.is_empty())) {
                set("private_ipv4", found);
                address.clone_from(found);
            }
        }
        if !address.is_empty() {
            groups.push(TargetGroup { targets: vec![join_host_port(&address, port)], labels });
        }
    }
    groups
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The four Instances of Prometheus' test (the fields its discovery reads), as the API
    /// lists them.
    pub const SERVERS: &str = r#"[
        {"id": "93c18a61-b681-49d0-a1cc-62b43883ae89", "name": "scw-nervous-shirley", "organization": "cb334986-b054-4725-9d3a-40850fdc6015", "project": "cb334986-b054-4725-9d5a-30850fdc6015", "commercial_type": "DEV1-S", "boot_type": "local", "hostname": "scw-nervous-shirley", "image": {"id": "45a86b35-eca6-4055-9b34-ca69845da146", "name": "Ubuntu 18.04 Bionic Beaver", "arch": "x86_64"}, "tags": [], "state": "running", "public_ip": null, "public_ips": null, "ipv6": {"address": "2001:bc8:630:1e1c::1"}, "private_ip": "10.70.60.57", "security_group": {"id": "a6a794b7-c05b-4b20-b9fe-e17a9bb85cf0", "name": "Default security group"}, "location": {"cluster_id": "40", "hypervisor_id": "1601", "node_id": "29"}, "private_nics": [{"id": "3a21e0a0-8d54-4314-b1e0-c6a3cb3bddec"}], "zone": "fr-par-1"},
        {"id": "5b6198b4-c677-41b5-9c05-04557264ae1f", "name": "scw-quizzical-feistel", "organization": "cb334986-b054-4725-9d3a-40850fdc6015", "project": "cb334986-b054-4725-9d5a-30850fdc6015", "commercial_type": "DEV1-S", "boot_type": "local", "hostname": "scw-quizzical-feistel", "image": {"id": "71733b74-260f-4d0d-8f18-f37dcfa56d6f", "name": "Debian Buster", "arch": "x86_64"}, "tags": [], "state": "running", "public_ip": {"address": "151.115.45.127"}, "public_ips": null, "ipv6": {"address": "2001:bc8:1e00:6204::1"}, "private_ip": "10.193.162.9", "security_group": {"id": "d35dd210-8392-44dc-8854-121e419a0f56", "name": "Default security group"}, "location": {"cluster_id": "4", "hypervisor_id": "201", "node_id": "5"}, "private_nics": [], "zone": "fr-par-1"},
        {"id": "4904366a-7e26-4b65-b97b-6392c761247a", "name": "routed-dualstack", "organization": "20b3d507-96ac-454c-a795-bc731b46b12f", "project": "20b3d507-96ac-454c-a795-bc731b46b12f", "commercial_type": "DEV1-S", "boot_type": "local", "hostname": "routed-dualstack", "image": {"id": "3e0a5b84-1d69-4993-8fa4-0d7df52d5160", "name": "Ubuntu 22.04 Jammy Jellyfish", "arch": "x86_64"}, "tags": [], "state": "running", "public_ip": {"address": "51.158.183.115", "family": "inet"}, "public_ips": [{"address": "51.158.183.115", "family": "inet"}, {"address": "2001:bc8:1640:1568:dc00:ff:fe21:91b", "family": "inet6"}], "ipv6": null, "private_ip": null, "security_group": {"id": "984414da-9fc2-49c0-a925-fed6266fe092", "name": "Default security group"}, "location": {"cluster_id": "19", "hypervisor_id": "1201", "node_id": "24"}, "private_nics": [], "zone": "nl-ams-1"},
        {"id": "658abbf4-e6c6-4239-a483-3307763cf6e0", "name": "multiple-ips", "organization": "ee7bd9e1-9cbd-4724-b2f4-19e50f3cf38b", "project": "ee7bd9e1-9cbd-4724-b2f4-19e50f3cf38b", "commercial_type": "PLAY2-PICO", "boot_type": "local", "hostname": "multiple-ips", "image": {"id": "f583f58c-1ea5-44ab-a1e6-2b2e7df32a86", "name": "Ubuntu 24.04 Noble Numbat", "arch": "x86_64"}, "tags": [], "state": "running", "public_ip": {"address": "163.172.136.10", "family": "inet"}, "public_ips": [{"address": "163.172.136.10", "family": "inet"}, {"address": "212.47.248.223", "family": "inet"}, {"address": "51.15.231.134", "family": "inet"}, {"address": "2001:bc8:710:4a69:dc00:ff:fe58:40c1", "family": "inet6"}, {"address": "2001:bc8:710:d::", "family": "inet6"}, {"address": "2001:bc8:710:5417::", "family": "inet6"}], "ipv6": null, "private_ip": null, "security_group": {"id": "0fe819c3-274d-472a-b3f5-ddb258d2d8bb", "name": "Default security group"}, "location": {"cluster_id": "7", "hypervisor_id": "801", "node_id": "95"}, "private_nics": [], "zone": "fr-par-1"}
    ]"#;

    /// The address and labels Prometheus' test expects of Instance `i` (0 to 3).
    pub fn expected(i: usize) -> (String, BTreeMap<String, String>) {
        let common = [("boot_type", "local"), ("status", "running"), ("security_group_name", "Default security group"), ("image_arch", "x86_64")];
        let (address, own): (&str, Vec<(&str, &str)>) = match i {
            0 => ("10.70.60.57:80", vec![
                ("hostname", "scw-nervous-shirley"), ("id", "93c18a61-b681-49d0-a1cc-62b43883ae89"), ("image_id", "45a86b35-eca6-4055-9b34-ca69845da146"), ("image_name", "Ubuntu 18.04 Bionic Beaver"),
                ("location_cluster_id", "40"), ("location_hypervisor_id", "1601"), ("location_node_id", "29"), ("name", "scw-nervous-shirley"), ("organization_id", "cb334986-b054-4725-9d3a-40850fdc6015"),
                ("private_ipv4", "10.70.60.57"), ("project_id", "cb334986-b054-4725-9d5a-30850fdc6015"), ("public_ipv6", "2001:bc8:630:1e1c::1"), ("region", "fr-par"),
                ("security_group_id", "a6a794b7-c05b-4b20-b9fe-e17a9bb85cf0"), ("type", "DEV1-S"), ("zone", "fr-par-1"),
            ]),
            1 => ("10.193.162.9:80", vec![
                ("hostname", "scw-quizzical-feistel"), ("id", "5b6198b4-c677-41b5-9c05-04557264ae1f"), ("image_id", "71733b74-260f-4d0d-8f18-f37dcfa56d6f"), ("image_name", "Debian Buster"),
                ("location_cluster_id", "4"), ("location_hypervisor_id", "201"), ("location_node_id", "5"), ("name", "scw-quizzical-feistel"), ("organization_id", "cb334986-b054-4725-9d3a-40850fdc6015"),
                ("private_ipv4", "10.193.162.9"), ("project_id", "cb334986-b054-4725-9d5a-30850fdc6015"), ("public_ipv4", "151.115.45.127"), ("public_ipv6", "2001:bc8:1e00:6204::1"), ("region", "fr-par"),
                ("security_group_id", "d35dd210-8392-44dc-8854-121e419a0f56"), ("type", "DEV1-S"), ("zone", "fr-par-1"),
            ]),
            2 => ("51.158.183.115:80", vec![
                ("hostname", "routed-dualstack"), ("id", "4904366a-7e26-4b65-b97b-6392c761247a"), ("image_id", "3e0a5b84-1d69-4993-8fa4-0d7df52d5160"), ("image_name", "Ubuntu 22.04 Jammy Jellyfish"),
                ("location_cluster_id", "19"), ("location_hypervisor_id", "1201"), ("location_node_id", "24"), ("name", "routed-dualstack"), ("organization_id", "20b3d507-96ac-454c-a795-bc731b46b12f"),
                ("project_id", "20b3d507-96ac-454c-a795-bc731b46b12f"), ("public_ipv4", "51.158.183.115"), ("public_ipv4_addresses", ",51.158.183.115,"), ("public_ipv6_addresses", ",2001:bc8:1640:1568:dc00:ff:fe21:91b,"),
                ("region", "nl-ams"), ("security_group_id", "984414da-9fc2-49c0-a925-fed6266fe092"), ("type", "DEV1-S"), ("zone", "nl-ams-1"),
            ]),
            _ => ("163.172.136.10:80", vec![
                ("hostname", "multiple-ips"), ("id", "658abbf4-e6c6-4239-a483-3307763cf6e0"), ("image_id", "f583f58c-1ea5-44ab-a1e6-2b2e7df32a86"), ("image_name", "Ubuntu 24.04 Noble Numbat"),
                ("location_cluster_id", "7"), ("location_hypervisor_id", "801"), ("location_node_id", "95"), ("name", "multiple-ips"), ("organization_id", "ee7bd9e1-9cbd-4724-b2f4-19e50f3cf38b"),
                ("project_id", "ee7bd9e1-9cbd-4724-b2f4-19e50f3cf38b"), ("public_ipv4", "163.172.136.10"), ("public_ipv4_addresses", ",163.172.136.10,212.47.248.223,51.15.231.134,"),
                ("public_ipv6_addresses", ",2001:bc8:710:4a69:dc00:ff:fe58:40c1,2001:bc8:710:d::,2001:bc8:710:5417::,"), ("region", "fr-par"),
                ("security_group_id", "0fe819c3-274d-472a-b3f5-ddb258d2d8bb"), ("type", "PLAY2-PICO"), ("zone", "fr-par-1"),
            ]),
        };
        let labels = common.iter().chain(own.iter()).map(|(n, v)| (format!("{PREFIX}{n}"), v.to_string())).collect();
        (address.to_string(), labels)
    }

    fn read<T: serde::de::DeserializeOwned>(json: &str) -> Vec<T> {
        serde_json::from_str(json).expect("valid")
    }

    #[test]
    fn each_instance_with_an_address_is_a_target_with_prometheus_labels() {
        let servers: Vec<Server> = read(SERVERS);
        assert!(private_nics_by_region(&servers).expect("zones").is_empty(), "every one has an address of its own");
        let groups = groups(&servers, &HashMap::new(), 80);
        assert_eq!(groups.len(), 4);
        for (i, group) in groups.iter().enumerate() {
            let (address, labels) = expected(i);
            assert_eq!(group.targets, [address], "Instance {i}");
            assert_eq!(group.labels, labels, "Instance {i}");
        }
    }

    #[test]
    fn an_instance_with_only_a_private_nic_takes_its_ipam_address() {
        let servers: Vec<Server> = read(
            r#"[{"id": "78d6aa69-6a5f-47bd-9f1a-3cdde6973d96", "name": "ipam-only", "state": "running", "public_ip": null, "public_ips": [], "private_ip": null, "tags": ["a", "b"],
                 "private_nics": [null, {"id": ""}, {"id": "2d17a5a0-f8e5-4e7f-a029-f7c8d182af53"}], "zone": "fr-par-1"},
                {"id": "s2", "private_nics": [{"id": "n2"}], "zone": "nl-ams-1"},
                {"id": "s3", "private_nics": [{"id": "n3"}], "zone": "fr-par-2"},
                {"id": "s4", "ipv6": {"address": "2001:db8::4"}, "private_nics": [{"id": "n4"}], "zone": "fr-par-1"}]"#,
        );
        let asked = private_nics_by_region(&servers).expect("zones");
        assert_eq!(asked, [("fr-par".to_string(), vec!["2d17a5a0-f8e5-4e7f-a029-f7c8d182af53".to_string(), "n3".to_string()]), ("nl-ams".to_string(), vec!["n2".to_string()])]);
        let ips: Vec<IpamIp> = read(
            r#"[{"address": "10.0.0.7/32", "is_ipv6": false, "resource": {"type": "instance_private_nic", "id": "2d17a5a0-f8e5-4e7f-a029-f7c8d182af53"}},
                {"address": "fd00::7/128", "is_ipv6": true, "resource": {"id": "n2"}},
                {"address": "10.0.0.3", "resource": {"id": "n3"}}, {"address": "", "resource": {"id": "n3"}}, {"address": "10.0.0.9/24", "resource": null}]"#,
        );
        let addresses = private_nic_addresses(&ips);
        assert_eq!(addresses.len(), 2);
        let groups = groups(&servers, &addresses, 9100);
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["10.0.0.7:9100", "10.0.0.3:9100", "[2001:db8::4]:9100"], "s2 has no IPv4 address");
        assert_eq!(groups[0].labels.get("__meta_scaleway_instance_private_ipv4").map(String::as_str), Some("10.0.0.7"));
        assert_eq!(groups[0].labels.get("__meta_scaleway_instance_tags").map(String::as_str), Some(",a,b,"));
        assert_eq!(groups[2].labels.get("__meta_scaleway_instance_public_ipv6").map(String::as_str), Some("2001:db8::4"));
        assert!(!groups[2].labels.contains_key("__meta_scaleway_instance_private_ipv4"));

        // A zone naming no region fails the refresh, as Prometheus' does.
        let bad: Vec<Server> = read(r#"[{"id": "s", "zone": ""}]"#);
        assert_eq!(private_nics_by_region(&bad), Err("invalid zone ''".to_string()));
        assert!(serde_json::from_str::<Vec<IpamIp>>(r#"[{"address": "10.0.0.1/33"}]"#).expect_err("bad").to_string().starts_with("invalid CIDR address: 10.0.0.1/33"));
    }

    #[test]
    fn absent_and_empty_values_read_as_the_go_client_reads_them() {
        let servers: Vec<Server> = read(r#"[{"id": "s", "state": "", "boot_type": null, "image": {"arch": ""}, "public_ip": {"address": null, "family": "inet6"}, "public_ips": [{"address": "10.0.0.1"}, {"address": "10.0.0.2", "family": ""}]}]"#);
        let groups = groups(&servers, &HashMap::new(), 80);
        let labels = &groups[0].labels;
        assert_eq!(groups[0].targets, ["<nil>:80"], "as Go joins a nil IP");
        assert_eq!(labels.get("__meta_scaleway_instance_status").map(String::as_str), Some("running"));
        assert_eq!(labels.get("__meta_scaleway_instance_boot_type").map(String::as_str), Some("local"));
        assert_eq!(labels.get("__meta_scaleway_instance_image_arch").map(String::as_str), Some("unknown_arch"));
        assert_eq!(labels.get("__meta_scaleway_instance_public_ipv4_addresses").map(String::as_str), Some(",10.0.0.2,"), "a family not written is neither");
        assert!(!labels.contains_key("__meta_scaleway_instance_public_ipv4") && !labels.contains_key("__meta_scaleway_instance_region"));
    }
}
