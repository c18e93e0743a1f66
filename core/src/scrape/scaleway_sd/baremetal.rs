//! Scaleway Elastic Metal servers as the Bare Metal API lists them
//! (`/baremetal/v1/zones/<zone>/servers`, with the zone's `offers` and `os` lists), and the
//! targets Prometheus makes of them: one per server, at its first IPv4 address (else its
//! first IPv6) and the entry's port, with the `__meta_scaleway_baremetal_*` labels (the
//! offer's name as `type`, the installed OS's name and version). Pure: no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

use super::api::{enum_or, zone, GoIp};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// The keys of the three lists.
pub const SERVERS_KEY: &str = "servers";
pub const OFFERS_KEY: &str = "offers";
pub const OS_KEY: &str = "os";

const PREFIX: &str = "__meta_scaleway_baremetal_";
/// Joins (and ends) the tag list in labels.
const SEPARATOR: &str = ",";

fn status<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    enum_or(d, "unknown")
}

/// An Elastic Metal server (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    project_id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "status")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    offer_id: String,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    ips: Vec<Option<Ip>>,
    #[serde(deserialize_with = "zone")]
    zone: String,
    install: Option<Install>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Ip {
    address: GoIp,
    /// Empty (not written, or written empty) stands for `IPv4`, as Prometheus reads it.
    #[serde(deserialize_with = "null_as_default")]
    version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Install {
    #[serde(deserialize_with = "null_as_default")]
    os_id: String,
}

/// An offer (the fields used): its name is a server's `type`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Offer {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
}

/// An operating system (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Os {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    version: String,
}

/// The targets of `servers` at `port`, named with `offers` and `systems`: one per server in
/// the listed order, with no address when it has no IP (Prometheus' target then has none
/// unless relabeling gives it one). An IP of another version than IPv4 or IPv6 fails the
/// refresh, in Prometheus' words.
pub fn groups(servers: &[Server], offers: &[Offer], systems: &[Os], port: u16) -> Result<Vec<TargetGroup>, String> {
    let mut groups = Vec::new();
    for server in servers {
        let mut labels = BTreeMap::new();
        let mut set = |name: &str, value: &str| {
            labels.insert(format!("{PREFIX}{name}"), value.to_string());
        };
        set("id", &server.id);
        set("name", &server.name);
        set("zone", &server.zone);
        set("status", &server.status);
        set("project_id", &server.project_id);
        if let Some(offer) = offers.iter().find(|o| o.id == server.offer_id) {
            set("type", &offer.name);
        }
        if let Some(install) = &server.install {
            if let Some(os) = systems.iter().find(|os| os.id == install.os_id) {
                set("os_name", &os.name);
                set("os_version", &os.version);
            }
        }
        if !server.tags.is_empty() {
            set("tags", &format!("{SEPARATOR}{}{SEPARATOR}", server.tags.join(SEPARATOR)));
        }
        // The first IPv4 is the address; the first IPv6 only when there is no IPv4.
        let (mut ipv4, mut ipv6) = (None, None);
        for ip in server.ips.iter().flatten() {
            match if ip.version.is_empty() { "IPv4" } else { ip.version.as_str() } {
                "IPv4" => {
                    ipv4.get_or_insert(&ip.address.0);
                }
                "IPv6" => {
                    ipv6.get_or_insert(&ip.address.0);
                }
                other => return Err(format!("unknown IP version: {other}")),
            }
        }
        if let Some(address) = ipv4 {
            set("public_ipv4", address);
        }
        if let Some(address) = ipv6 {
            set("public_ipv6", address);
        }
        let target = ipv4.or(ipv6).map(|address| join_host_port(address, port)).unwrap_or_default();
        groups.push(TargetGroup { targets: vec![target], labels });
    }
    Ok(groups)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Three servers of a zone: dual-stack with an offer and an OS, IPv6 only, and one still
    /// being delivered with no IP.
    pub const SERVERS: &str = r#"[
        {"id": "bm-1", "organization_id": "o", "project_id": "8feda53f-15f0-447f-badf-ebe32dad2fc0", "name": "metal-1", "status": "ready", "offer_id": "offer-a", "offer_name": "EM-A115X-SSD",
         "tags": ["db", "prod"], "ips": [{"id": "i1", "address": "2001:bc8:1200:100::1", "version": "IPv6"}, {"id": "i2", "address": "51.159.10.1", "version": "IPv4"}, {"id": "i3", "address": "51.159.10.2", "version": "IPv4"}],
         "zone": "fr-par-2", "install": {"os_id": "os-ubuntu", "hostname": "metal-1"}},
        {"id": "bm-2", "project_id": "8feda53f-15f0-447f-badf-ebe32dad2fc0", "name": "metal-2", "status": "ready", "offer_id": "offer-gone", "tags": [],
         "ips": [{"address": "2001:bc8:1200:200::1", "version": "IPv6"}, {"address": "2001:bc8:1200:200::2", "version": "IPv6"}], "zone": "fr-par-2", "install": null},
        {"id": "bm-3", "project_id": "8feda53f-15f0-447f-badf-ebe32dad2fc0", "name": "metal-3", "status": "delivering", "offer_id": "offer-b", "ips": [], "zone": "fr-par-2", "install": {"os_id": "os-unknown"}}
    ]"#;
    pub const OFFERS: &str = r#"[{"id": "offer-a", "name": "EM-A115X-SSD"}, {"id": "offer-b", "name": "EM-B112X-SSD"}]"#;
    pub const SYSTEMS: &str = r#"[{"id": "os-debian", "name": "Debian", "version": "12"}, {"id": "os-ubuntu", "name": "Ubuntu", "version": "24.04 LTS (Noble Numbat)"}]"#;

    /// The address and labels of server `i` (0 to 2) of `SERVERS` at `port`.
    pub fn expected(i: usize, port: u16) -> (String, BTreeMap<String, String>) {
        let (address, own): (String, Vec<(&str, &str)>) = match i {
            0 => (format!("51.159.10.1:{port}"), vec![
                ("id", "bm-1"), ("name", "metal-1"), ("status", "ready"), ("type", "EM-A115X-SSD"), ("os_name", "Ubuntu"), ("os_version", "24.04 LTS (Noble Numbat)"),
                ("tags", ",db,prod,"), ("public_ipv4", "51.159.10.1"), ("public_ipv6", "2001:bc8:1200:100::1"),
            ]),
            1 => (format!("[2001:bc8:1200:200::1]:{port}"), vec![("id", "bm-2"), ("name", "metal-2"), ("status", "ready"), ("public_ipv6", "2001:bc8:1200:200::1")]),
            _ => (String::new(), vec![("id", "bm-3"), ("name", "metal-3"), ("status", "delivering"), ("type", "EM-B112X-SSD")]),
        };
        let common = [("zone", "fr-par-2"), ("project_id", "8feda53f-15f0-447f-badf-ebe32dad2fc0")];
        (address, common.iter().chain(own.iter()).map(|(n, v)| (format!("{PREFIX}{n}"), v.to_string())).collect())
    }

    fn read<T: serde::de::DeserializeOwned>(json: &str) -> Vec<T> {
        serde_json::from_str(json).expect("valid")
    }

    #[test]
    fn each_server_is_a_target_named_with_its_offer_and_os() {
        let groups = groups(&read(SERVERS), &read(OFFERS), &read(SYSTEMS), 9100).expect("known versions");
        assert_eq!(groups.len(), 3);
        for (i, group) in groups.iter().enumerate() {
            let (address, labels) = expected(i, 9100);
            assert_eq!(group.targets, [address], "server {i}");
            assert_eq!(group.labels, labels, "server {i}");
        }
    }

    #[test]
    fn versions_are_read_as_the_go_client_reads_them() {
        let servers: Vec<Server> = read(r#"[{"id": "s", "status": "", "ips": [null, {"address": "10.0.0.1"}, {"address": "10.0.0.2", "version": ""}], "zone": "par1"}]"#);
        let groups = groups(&servers, &[], &[], 80).expect("IPv4 when not written");
        assert_eq!(groups[0].targets, ["10.0.0.1:80"]);
        assert_eq!(groups[0].labels.get("__meta_scaleway_baremetal_status").map(String::as_str), Some("unknown"));
        assert_eq!(groups[0].labels.get("__meta_scaleway_baremetal_zone").map(String::as_str), Some("fr-par-1"));
        let odd: Vec<Server> = read(r#"[{"id": "s", "ips": [{"address": "10.0.0.1", "version": "IPv5"}]}]"#);
        assert_eq!(super::groups(&odd, &[], &[], 80).err().as_deref(), Some("unknown IP version: IPv5"));
    }
}
