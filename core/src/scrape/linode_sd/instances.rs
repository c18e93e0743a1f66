//! Linode's instances, IP addresses and IPv6 ranges as the API lists them, and the targets
//! Prometheus makes of them. Pure: no I/O.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// An instance (the fields used) of `/v4/linode/instances`; `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Instance {
    #[serde(deserialize_with = "null_as_default")]
    id: i64,
    #[serde(deserialize_with = "null_as_default")]
    label: String,
    #[serde(deserialize_with = "null_as_default")]
    group: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    kind: String,
    /// Its IPv4 addresses, as written (see `normalize_addresses`).
    #[serde(deserialize_with = "null_as_default")]
    ipv4: Vec<Option<String>>,
    /// Its SLAAC address with a prefix length (`2600:3c03::f03c:92ff:fe1a:1382/128`).
    #[serde(deserialize_with = "null_as_default")]
    ipv6: String,
    #[serde(deserialize_with = "null_as_default")]
    image: String,
    #[serde(deserialize_with = "null_as_default")]
    region: String,
    #[serde(deserialize_with = "null_as_default")]
    specs: Specs,
    #[serde(deserialize_with = "null_as_default")]
    backups: Backups,
    #[serde(deserialize_with = "null_as_default")]
    hypervisor: String,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
}

/// Disk, memory and transfer in MiB (MB as Linode writes them).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Specs {
    #[serde(deserialize_with = "null_as_default")]
    disk: i64,
    #[serde(deserialize_with = "null_as_default")]
    memory: i64,
    #[serde(deserialize_with = "null_as_default")]
    vcpus: i64,
    #[serde(deserialize_with = "null_as_default")]
    gpus: i64,
    #[serde(deserialize_with = "null_as_default")]
    transfer: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Backups {
    #[serde(deserialize_with = "null_as_default")]
    enabled: bool,
}

/// One address of the account (`/v4/networking/ips`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpAddress {
    #[serde(deserialize_with = "null_as_default")]
    address: String,
    #[serde(deserialize_with = "null_as_default")]
    public: bool,
    #[serde(deserialize_with = "null_as_default")]
    rdns: String,
}

/// One IPv6 range of the account (`/v4/networking/ipv6/ranges`) and the address it is routed to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Ipv6Range {
    #[serde(deserialize_with = "null_as_default")]
    range: String,
    #[serde(deserialize_with = "null_as_default")]
    prefix: i64,
    #[serde(deserialize_with = "null_as_default")]
    route_target: String,
}

/// Writes each instance's IPv4 addresses as Go prints a parsed `net.IP` (the form the address
/// list uses), or says which one is no address, as the Go client refuses the page then.
pub fn normalize_addresses(instances: &mut [Instance]) -> Result<(), String> {
    for address in instances.iter_mut().flat_map(|i| i.ipv4.iter_mut().flatten()) {
        let parsed: std::net::IpAddr = address.parse().map_err(|_| format!("invalid IP address: {address}"))?;
        // Go prints an IPv4-mapped IPv6 address as the IPv4 one.
        *address = match parsed {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
            v4 => v4.to_string(),
        };
    }
    Ok(())
}

/// A reverse DNS name as Prometheus takes it: the API's `null` (also as text) is none.
fn rdns(address: &IpAddress) -> Option<&str> {
    Some(address.rdns.as_str()).filter(|r| !r.is_empty() && *r != "null")
}

/// A group per instance that has an IPv4 address, in list order, at its first public IPv4 and
/// `port`, with Prometheus' `__meta_linode_*` labels (the addresses' reverse DNS names, the
/// other addresses and the routed IPv6 ranges found in `addresses` and `ranges`); lists (tags,
/// extra addresses, ranges) are joined with `separator`, which also ends them.
pub fn groups(instances: &[Instance], addresses: &[IpAddress], ranges: &[Ipv6Range], port: u16, separator: &str) -> Vec<TargetGroup> {
    // Every entry of an address, in list order (the API lists each once; a repeat counts again,
    // as Prometheus walks the whole list for each).
    let mut by_address: HashMap<&str, Vec<&IpAddress>> = HashMap::new();
    for address in addresses {
        by_address.entry(address.address.as_str()).or_default().push(address);
    }
    let joined = |items: &[String]| format!("{separator}{}{separator}", items.join(separator));
    instances
        .iter()
        .filter(|i| !i.ipv4.is_empty())
        .map(|instance| {
            let (mut private_ipv4, mut public_ipv4, mut public_ipv6) = (String::new(), String::new(), String::new());
            let (mut private_ipv4_rdns, mut public_ipv4_rdns, mut public_ipv6_rdns) = (String::new(), String::new(), String::new());
            let mut extra_ips = Vec::new();
            // The first public and the first private address name the instance; the rest are extra.
            for ip in instance.ipv4.iter().flatten() {
                for detail in by_address.get(ip.as_str()).into_iter().flatten() {
                    if detail.public && public_ipv4.is_empty() {
                        public_ipv4 = detail.address.clone();
                        public_ipv4_rdns = rdns(detail).unwrap_or_default().to_string();
                    } else if !detail.public && private_ipv4.is_empty() {
                        private_ipv4 = detail.address.clone();
                        private_ipv4_rdns = rdns(detail).unwrap_or_default().to_string();
                    } else {
                        extra_ips.push(detail.address.clone());
                    }
                }
            }
            let mut ipv6_ranges = Vec::new();
            if !instance.ipv6.is_empty() {
                let slaac = instance.ipv6.split('/').next().unwrap_or_default();
                for detail in by_address.get(slaac).into_iter().flatten() {
                    public_ipv6 = detail.address.clone();
                    if let Some(name) = rdns(detail) {
                        public_ipv6_rdns = name.to_string();
                    }
                }
                ipv6_ranges = ranges.iter().filter(|r| r.route_target == slaac).map(|r| format!("{}/{}", r.range, r.prefix)).collect();
            }
            // Go's int64 shift, which wraps as it does.
            let bytes = |mib: i64| mib.wrapping_mul(1 << 20).to_string();
            let mut labels = BTreeMap::from([
                ("__meta_linode_instance_id".to_string(), instance.id.to_string()),
                ("__meta_linode_instance_label".to_string(), instance.label.clone()),
                ("__meta_linode_image".to_string(), instance.image.clone()),
                ("__meta_linode_private_ipv4".to_string(), private_ipv4),
                ("__meta_linode_public_ipv4".to_string(), public_ipv4.clone()),
                ("__meta_linode_public_ipv6".to_string(), public_ipv6),
                ("__meta_linode_private_ipv4_rdns".to_string(), private_ipv4_rdns),
                ("__meta_linode_public_ipv4_rdns".to_string(), public_ipv4_rdns),
                ("__meta_linode_public_ipv6_rdns".to_string(), public_ipv6_rdns),
                ("__meta_linode_region".to_string(), instance.region.clone()),
                ("__meta_linode_type".to_string(), instance.kind.clone()),
                ("__meta_linode_status".to_string(), instance.status.clone()),
                ("__meta_linode_group".to_string(), instance.group.clone()),
                ("__meta_linode_gpus".to_string(), instance.specs.gpus.to_string()),
                ("__meta_linode_hypervisor".to_string(), instance.hypervisor.clone()),
                ("__meta_linode_backups".to_string(), if instance.backups.enabled { "enabled" } else { "disabled" }.to_string()),
                ("__meta_linode_specs_disk_bytes".to_string(), bytes(instance.specs.disk)),
                ("__meta_linode_specs_memory_bytes".to_string(), bytes(instance.specs.memory)),
                ("__meta_linode_specs_vcpus".to_string(), instance.specs.vcpus.to_string()),
                ("__meta_linode_specs_transfer_bytes".to_string(), bytes(instance.specs.transfer)),
            ]);
            // With a separator at each end, relabeling regexes need not mind an item's position.
            if !instance.tags.is_empty() {
                labels.insert("__meta_linode_tags".to_string(), joined(&instance.tags));
            }
            if !extra_ips.is_empty() {
                labels.insert("__meta_linode_extra_ips".to_string(), joined(&extra_ips));
            }
            if !ipv6_ranges.is_empty() {
                labels.insert("__meta_linode_ipv6_ranges".to_string(), joined(&ipv6_ranges));
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![join_host_port(&public_ipv4, port)], labels }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The account of Prometheus' own tests: four instances in three regions (the first with two
    /// public and two private IPv4 addresses, the last with two public ones and a routed range).
    pub const INSTANCES: &str = r#"[
      {"id": 26838044, "label": "prometheus-linode-sd-exporter-1", "group": "", "status": "running", "created": "2021-05-12T04:23:44",
       "type": "g6-standard-2", "ipv4": ["45.33.82.151", "96.126.108.16", "192.168.170.51", "192.168.201.25"],
       "ipv6": "2600:3c03::f03c:92ff:fe1a:1382/128", "image": "linode/arch", "region": "us-east",
       "specs": {"disk": 81920, "memory": 4096, "vcpus": 2, "gpus": 0, "transfer": 4000},
       "backups": {"enabled": false, "schedule": {"day": null, "window": null}, "last_successful": null},
       "hypervisor": "kvm", "watchdog_enabled": true, "tags": ["monitoring"]},
      {"id": 26848419, "label": "prometheus-linode-sd-exporter-2", "group": "", "status": "running",
       "type": "g6-standard-2", "ipv4": ["139.162.196.43"], "ipv6": "2a01:7e00::f03c:92ff:fe1a:9976/128",
       "image": "linode/debian10", "region": "eu-west", "specs": {"disk": 81920, "memory": 4096, "vcpus": 2, "gpus": 0, "transfer": 4000},
       "backups": {"enabled": false}, "hypervisor": "kvm", "tags": ["monitoring"]},
      {"id": 26837938, "label": "prometheus-linode-sd-exporter-3", "group": "", "status": "running",
       "type": "g6-standard-1", "ipv4": ["192.53.120.25"], "ipv6": "2600:3c04::f03c:92ff:fe1a:fb68/128",
       "image": "linode/ubuntu20.04", "region": "ca-central", "specs": {"disk": 51200, "memory": 2048, "vcpus": 1, "gpus": 0, "transfer": 2000},
       "backups": {"enabled": false}, "hypervisor": "kvm", "tags": ["monitoring"]},
      {"id": 26837992, "label": "prometheus-linode-sd-exporter-4", "group": "", "status": "running",
       "type": "g6-nanode-1", "ipv4": ["66.228.47.103", "172.104.18.104", "192.168.148.94"], "ipv6": "2600:3c03::f03c:92ff:fe1a:fb4c/128",
       "image": "linode/ubuntu20.04", "region": "us-east", "specs": {"disk": 25600, "memory": 1024, "vcpus": 1, "gpus": 0, "transfer": 1000},
       "backups": {"enabled": false}, "hypervisor": "kvm", "tags": ["monitoring"]}
    ]"#;

    /// The account's addresses, in the API's order (not the instances').
    pub const ADDRESSES: &str = r#"[
      {"address": "192.53.120.25", "prefix": 24, "type": "ipv4", "public": true, "rdns": "li2216-25.members.linode.com", "linode_id": 26837938, "region": "ca-central"},
      {"address": "66.228.47.103", "prefix": 24, "type": "ipv4", "public": true, "rdns": "li328-103.members.linode.com", "linode_id": 26837992, "region": "us-east"},
      {"address": "172.104.18.104", "prefix": 24, "type": "ipv4", "public": true, "rdns": "li1832-104.members.linode.com", "linode_id": 26837992, "region": "us-east"},
      {"address": "192.168.148.94", "gateway": null, "prefix": 17, "type": "ipv4", "public": false, "rdns": null, "linode_id": 26837992, "region": "us-east"},
      {"address": "192.168.170.51", "gateway": null, "prefix": 17, "type": "ipv4", "public": false, "rdns": null, "linode_id": 26838044, "region": "us-east"},
      {"address": "96.126.108.16", "prefix": 24, "type": "ipv4", "public": true, "rdns": "li365-16.members.linode.com", "linode_id": 26838044, "region": "us-east"},
      {"address": "45.33.82.151", "prefix": 24, "type": "ipv4", "public": true, "rdns": "li1028-151.members.linode.com", "linode_id": 26838044, "region": "us-east"},
      {"address": "192.168.201.25", "gateway": null, "prefix": 17, "type": "ipv4", "public": false, "rdns": null, "linode_id": 26838044, "region": "us-east"},
      {"address": "139.162.196.43", "prefix": 24, "type": "ipv4", "public": true, "rdns": "li1359-43.members.linode.com", "linode_id": 26848419, "region": "eu-west"},
      {"address": "2600:3c04::f03c:92ff:fe1a:fb68", "prefix": 64, "type": "ipv6", "rdns": null, "linode_id": 26837938, "region": "ca-central", "public": true},
      {"address": "2600:3c03::f03c:92ff:fe1a:fb4c", "prefix": 64, "type": "ipv6", "rdns": null, "linode_id": 26837992, "region": "us-east", "public": true},
      {"address": "2600:3c03::f03c:92ff:fe1a:1382", "prefix": 64, "type": "ipv6", "rdns": null, "linode_id": 26838044, "region": "us-east", "public": true},
      {"address": "2a01:7e00::f03c:92ff:fe1a:9976", "prefix": 64, "type": "ipv6", "rdns": null, "linode_id": 26848419, "region": "eu-west", "public": true}
    ]"#;

    /// The account's IPv6 ranges and the addresses they are routed to.
    pub const RANGES: &str = r#"[
      {"range": "2600:3c03:e000:123::", "prefix": 64, "region": "us-east", "route_target": "2600:3c03::f03c:92ff:fe1a:fb4c"},
      {"range": "2600:3c04:e001:456::", "prefix": 64, "region": "ca-central", "route_target": "2600:3c04::f03c:92ff:fe1a:fb68"}
    ]"#;

    pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The labels Prometheus' test expects for its four instances (less its empty values, which
    /// are no labels), by instance number.
    pub fn expected(instance: usize) -> BTreeMap<String, String> {
        let common = [("__meta_linode_status", "running"), ("__meta_linode_tags", ",monitoring,"), ("__meta_linode_gpus", "0"), ("__meta_linode_hypervisor", "kvm"), ("__meta_linode_backups", "disabled")];
        let own: &[(&str, &str)] = match instance {
            1 => &[
                ("__meta_linode_instance_id", "26838044"),
                ("__meta_linode_instance_label", "prometheus-linode-sd-exporter-1"),
                ("__meta_linode_image", "linode/arch"),
                ("__meta_linode_private_ipv4", "192.168.170.51"),
                ("__meta_linode_public_ipv4", "45.33.82.151"),
                ("__meta_linode_public_ipv6", "2600:3c03::f03c:92ff:fe1a:1382"),
                ("__meta_linode_public_ipv4_rdns", "li1028-151.members.linode.com"),
                ("__meta_linode_region", "us-east"),
                ("__meta_linode_type", "g6-standard-2"),
                ("__meta_linode_specs_disk_bytes", "85899345920"),
                ("__meta_linode_specs_memory_bytes", "4294967296"),
                ("__meta_linode_specs_vcpus", "2"),
                ("__meta_linode_specs_transfer_bytes", "4194304000"),
                ("__meta_linode_extra_ips", ",96.126.108.16,192.168.201.25,"),
            ],
            2 => &[
                ("__meta_linode_instance_id", "26848419"),
                ("__meta_linode_instance_label", "prometheus-linode-sd-exporter-2"),
                ("__meta_linode_image", "linode/debian10"),
                ("__meta_linode_public_ipv4", "139.162.196.43"),
                ("__meta_linode_public_ipv6", "2a01:7e00::f03c:92ff:fe1a:9976"),
                ("__meta_linode_public_ipv4_rdns", "li1359-43.members.linode.com"),
                ("__meta_linode_region", "eu-west"),
                ("__meta_linode_type", "g6-standard-2"),
                ("__meta_linode_specs_disk_bytes", "85899345920"),
                ("__meta_linode_specs_memory_bytes", "4294967296"),
                ("__meta_linode_specs_vcpus", "2"),
                ("__meta_linode_specs_transfer_bytes", "4194304000"),
            ],
            3 => &[
                ("__meta_linode_instance_id", "26837938"),
                ("__meta_linode_instance_label", "prometheus-linode-sd-exporter-3"),
                ("__meta_linode_image", "linode/ubuntu20.04"),
                ("__meta_linode_public_ipv4", "192.53.120.25"),
                ("__meta_linode_public_ipv6", "2600:3c04::f03c:92ff:fe1a:fb68"),
                ("__meta_linode_public_ipv4_rdns", "li2216-25.members.linode.com"),
                ("__meta_linode_region", "ca-central"),
                ("__meta_linode_type", "g6-standard-1"),
                ("__meta_linode_specs_disk_bytes", "53687091200"),
                ("__meta_linode_specs_memory_bytes", "2147483648"),
                ("__meta_linode_specs_vcpus", "1"),
                ("__meta_linode_specs_transfer_bytes", "2097152000"),
                ("__meta_linode_ipv6_ranges", ",2600:3c04:e001:456::/64,"),
            ],
            _ => &[
                ("__meta_linode_instance_id", "26837992"),
                ("__meta_linode_instance_label", "prometheus-linode-sd-exporter-4"),
                ("__meta_linode_image", "linode/ubuntu20.04"),
                ("__meta_linode_private_ipv4", "192.168.148.94"),
                ("__meta_linode_public_ipv4", "66.228.47.103"),
                ("__meta_linode_public_ipv6", "2600:3c03::f03c:92ff:fe1a:fb4c"),
                ("__meta_linode_public_ipv4_rdns", "li328-103.members.linode.com"),
                ("__meta_linode_region", "us-east"),
                ("__meta_linode_type", "g6-nanode-1"),
                ("__meta_linode_specs_disk_bytes", "26843545600"),
                ("__meta_linode_specs_memory_bytes", "1073741824"),
                ("__meta_linode_specs_vcpus", "1"),
                ("__meta_linode_specs_transfer_bytes", "1048576000"),
                ("__meta_linode_extra_ips", ",172.104.18.104,"),
                ("__meta_linode_ipv6_ranges", ",2600:3c03:e000:123::/64,"),
            ],
        };
        labels(&[&common[..], own].concat())
    }

    fn read<T: serde::de::DeserializeOwned>(text: &str) -> Vec<T> {
        serde_json::from_str(text).expect("valid")
    }

    #[test]
    fn instances_become_the_targets_and_labels_prometheus_makes() {
        let mut instances: Vec<Instance> = read(INSTANCES);
        normalize_addresses(&mut instances).expect("addresses");
        let groups = groups(&instances, &read(ADDRESSES), &read(RANGES), 80, ",");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["45.33.82.151:80", "139.162.196.43:80", "192.53.120.25:80", "66.228.47.103:80"]);
        for (i, group) in groups.iter().enumerate() {
            assert_eq!(group.labels, expected(i + 1), "instance {}", i + 1);
        }
    }

    #[test]
    fn the_separator_the_port_and_odd_instances_are_taken_as_prometheus_takes_them() {
        let mut instances: Vec<Instance> = read(
            r#"[{"id": 1, "ipv4": [], "tags": ["x"]},
                {"id": 2, "ipv4": ["::ffff:10.0.0.2", "10.0.0.3"], "ipv6": "", "tags": ["a", "b"], "backups": {"enabled": true},
                 "specs": {"disk": 9007199254740991}},
                {"id": 3, "ipv4": null}]"#,
        );
        normalize_addresses(&mut instances).expect("addresses");
        let addresses: Vec<IpAddress> = read(r#"[{"address": "10.0.0.2", "public": false, "rdns": "null"}, {"address": "10.0.0.3", "public": false, "rdns": "p.example"}]"#);
        let groups = groups(&instances, &addresses, &[], 9100, "|");
        assert_eq!(groups.len(), 1, "an instance without IPv4 is no target");
        // Only private addresses: the host is empty, as Prometheus joins it.
        assert_eq!(groups[0].targets, [":9100"]);
        let l = &groups[0].labels;
        assert_eq!(l.get("__meta_linode_private_ipv4").map(String::as_str), Some("10.0.0.2"), "an IPv4-mapped address read as Go prints it");
        assert_eq!(l.get("__meta_linode_private_ipv4_rdns"), None, "\"null\" is no name");
        assert_eq!(l.get("__meta_linode_extra_ips").map(String::as_str), Some("|10.0.0.3|"));
        assert_eq!(l.get("__meta_linode_tags").map(String::as_str), Some("|a|b|"));
        assert_eq!(l.get("__meta_linode_backups").map(String::as_str), Some("enabled"));
        assert_eq!(l.get("__meta_linode_specs_disk_bytes").map(String::as_str), Some(&*(9007199254740991i64.wrapping_mul(1 << 20)).to_string()), "wraps as Go's shift");
        assert!(!l.contains_key("__meta_linode_public_ipv6") && !l.contains_key("__meta_linode_ipv6_ranges"));

        let mut bad: Vec<Instance> = read(r#"[{"id": 1, "ipv4": ["10.0.0.256"]}]"#);
        assert_eq!(normalize_addresses(&mut bad), Err("invalid IP address: 10.0.0.256".to_string()));
    }
}
