//! Reads pages of the Hetzner Cloud API's server and network lists (`GET /servers`,
//! `GET /networks`) as Prometheus reads them through Hetzner's Go client: the items, which
//! page comes next (`meta.pagination.next_page`, none when 0 or absent) and the API's error
//! answers. Turns servers into targets labelled as Prometheus labels them, with the
//! `__meta_hetzner_*` labels. Pure: no I/O.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default, sanitize_label_name};

/// What Go writes for an address or network it could not read (a nil `net.IP` or
/// `*net.IPNet`): a server without a public IPv4 or IPv6 is labelled so, as in Prometheus.
const GO_NIL: &str = "<nil>";

/// One page of the server list (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServersPage {
    #[serde(deserialize_with = "null_as_default")]
    pub servers: Vec<Server>,
    #[serde(deserialize_with = "null_as_default")]
    meta: Meta,
}

/// One page of the network list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworksPage {
    #[serde(deserialize_with = "null_as_default")]
    pub networks: Vec<Network>,
    #[serde(deserialize_with = "null_as_default")]
    meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    pagination: Option<Pagination>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Pagination {
    #[serde(deserialize_with = "null_as_default")]
    next_page: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    #[serde(deserialize_with = "null_as_default")]
    id: i64,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    public_net: PublicNet,
    #[serde(deserialize_with = "null_as_default")]
    private_net: Vec<PrivateNet>,
    #[serde(deserialize_with = "null_as_default")]
    server_type: ServerType,
    #[serde(deserialize_with = "null_as_default")]
    location: Location,
    /// `null` when the server's image was deleted: then no image labels.
    image: Option<Image>,
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PublicNet {
    #[serde(deserialize_with = "null_as_default")]
    ipv4: Address,
    #[serde(deserialize_with = "null_as_default")]
    ipv6: Address,
}

/// A public IPv4 (an address) or IPv6 (a network in CIDR notation).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Address {
    #[serde(deserialize_with = "null_as_default")]
    ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PrivateNet {
    #[serde(deserialize_with = "null_as_default")]
    network: i64,
    #[serde(deserialize_with = "null_as_default")]
    ip: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServerType {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    cores: i64,
    /// GB, a float in the API (0.5 for the smallest types).
    #[serde(deserialize_with = "null_as_default")]
    memory: f32,
    #[serde(deserialize_with = "null_as_default")]
    disk: i64,
    #[serde(deserialize_with = "null_as_default")]
    cpu_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Location {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    network_zone: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Image {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    description: String,
    #[serde(deserialize_with = "null_as_default")]
    os_flavor: String,
    #[serde(deserialize_with = "null_as_default")]
    os_version: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Network {
    #[serde(deserialize_with = "null_as_default")]
    id: i64,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
}

/// An error answer (`{"error": {"code": ..., "message": ...}}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorAnswer {
    #[serde(deserialize_with = "null_as_default")]
    error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    #[serde(deserialize_with = "null_as_default")]
    code: String,
    #[serde(deserialize_with = "null_as_default")]
    message: String,
}

/// Reads a page of the server list.
pub fn servers_page(answer: &[u8]) -> Result<ServersPage, String> {
    page(answer, "servers")
}

/// Reads a page of the network list.
pub fn networks_page(answer: &[u8]) -> Result<NetworksPage, String> {
    page(answer, "networks")
}

fn page<T: serde::de::DeserializeOwned>(answer: &[u8], what: &str) -> Result<T, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(format!("hcloud: cannot read the {what}: a list, not an object"));
    }
    serde_json::from_slice(answer).map_err(|e| format!("hcloud: cannot read the {what}: {e}"))
}

impl ServersPage {
    /// The page after this one, none on the last.
    pub fn next_page(&self) -> Option<i64> {
        self.meta.next_page()
    }
}

impl NetworksPage {
    /// The page after this one, none on the last.
    pub fn next_page(&self) -> Option<i64> {
        self.meta.next_page()
    }
}

impl Meta {
    fn next_page(&self) -> Option<i64> {
        self.pagination.as_ref().map(|p| p.next_page).filter(|page| *page != 0)
    }
}

/// An error status's answer in the Go client's words: `<message> (<code>)`, with the
/// answer's correlation ID after the code when it has one, or `hcloud: server responded
/// with status code <status>` when the body holds no API error; and the API's code ("" for
/// none), which says whether the client retries.
pub fn api_error(status: u16, body: &[u8], correlation_id: Option<&str>) -> (String, String) {
    let answer: ErrorAnswer = serde_json::from_slice(body).unwrap_or_default();
    let ErrorBody { code, message } = answer.error;
    if code.is_empty() && message.is_empty() {
        return (format!("hcloud: server responded with status code {status}"), String::new());
    }
    let text = match correlation_id.filter(|id| !id.is_empty()) {
        Some(id) => format!("{message} ({code}, {id})"),
        None => format!("{message} ({code})"),
    };
    (text, code)
}

/// A group per server, in list order, at its public IPv4 and the entry's `port`, with
/// Prometheus' labels; `networks` name the servers' private addresses.
pub fn groups(servers: &[Server], networks: &[Network], port: u16) -> Vec<TargetGroup> {
    servers
        .iter()
        .map(|server| {
            let public_ipv4 = go_ip_text(&server.public_net.ipv4.ip);
            let location = &server.location;
            let kind = &server.server_type;
            let mut labels = BTreeMap::from([
                ("__meta_hetzner_role".to_string(), "hcloud".to_string()),
                ("__meta_hetzner_server_id".to_string(), server.id.to_string()),
                ("__meta_hetzner_server_name".to_string(), server.name.clone()),
                ("__meta_hetzner_server_status".to_string(), server.status.clone()),
                ("__meta_hetzner_public_ipv4".to_string(), public_ipv4.clone()),
                ("__meta_hetzner_public_ipv6_network".to_string(), go_network_text(&server.public_net.ipv6.ip)),
                ("__meta_hetzner_hcloud_location".to_string(), location.name.clone()),
                ("__meta_hetzner_hcloud_location_network_zone".to_string(), location.network_zone.clone()),
                // Prometheus keeps the older names too, with the same values.
                ("__meta_hetzner_hcloud_datacenter_location".to_string(), location.name.clone()),
                ("__meta_hetzner_hcloud_datacenter_location_network_zone".to_string(), location.network_zone.clone()),
                ("__meta_hetzner_hcloud_server_type".to_string(), kind.name.clone()),
                ("__meta_hetzner_hcloud_cpu_cores".to_string(), kind.cores.to_string()),
                ("__meta_hetzner_hcloud_cpu_type".to_string(), kind.cpu_type.clone()),
                // Whole GB, truncated as Go's int() truncates the float.
                ("__meta_hetzner_hcloud_memory_size_gb".to_string(), (kind.memory as i64).to_string()),
                ("__meta_hetzner_hcloud_disk_size_gb".to_string(), kind.disk.to_string()),
            ]);
            if let Some(image) = &server.image {
                labels.insert("__meta_hetzner_hcloud_image_name".to_string(), image.name.clone());
                labels.insert("__meta_hetzner_hcloud_image_description".to_string(), image.description.clone());
                labels.insert("__meta_hetzner_hcloud_image_os_version".to_string(), image.os_version.clone());
                labels.insert("__meta_hetzner_hcloud_image_os_flavor".to_string(), image.os_flavor.clone());
            }
            for private in &server.private_net {
                for network in networks.iter().filter(|n| n.id == private.network) {
                    labels.insert(format!("__meta_hetzner_hcloud_private_ipv4_{}", sanitize_label_name(&network.name)), go_ip_text(&private.ip));
                }
            }
            for (key, value) in &server.labels {
                let name = sanitize_label_name(key);
                labels.insert(format!("__meta_hetzner_hcloud_labelpresent_{name}"), "true".to_string());
                labels.insert(format!("__meta_hetzner_hcloud_label_{name}"), value.clone().unwrap_or_default());
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![join_host_port(&public_ipv4, port)], labels }
        })
        .collect()
}

/// An address as Go's `net.ParseIP(text).String()` writes it: canonical, an IPv4-mapped
/// IPv6 address as IPv4, `<nil>` when it is none.
fn go_ip_text(text: &str) -> String {
    match text.parse::<IpAddr>() {
        Ok(ip) => go_ip_display(ip),
        Err(_) => GO_NIL.to_string(),
    }
}

fn go_ip_display(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
    }
}

/// A network as Go's `net.ParseCIDR(text)` network writes it (`2001:db8::/64`: the address
/// masked to its prefix), `<nil>` when it is none.
fn go_network_text(text: &str) -> String {
    let Some((address, bits)) = text.split_once('/') else { return GO_NIL.to_string() };
    let Ok(ip) = address.parse::<IpAddr>() else { return GO_NIL.to_string() };
    let width: u32 = if ip.is_ipv4() { 32 } else { 128 };
    // Go reads decimal digits only, leading zeros allowed.
    let prefix = match bits.parse::<u32>() {
        Ok(prefix) if !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) && prefix <= width => prefix,
        _ => return GO_NIL.to_string(),
    };
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
            format!("{}/{prefix}", std::net::Ipv4Addr::from(u32::from(v4) & mask))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - prefix).unwrap_or(0);
            let network = std::net::Ipv6Addr::from(u128::from(v6) & mask);
            // Go writes a network still IPv4-mapped after masking as IPv4 with its prefix.
            match network.to_ipv4_mapped() {
                Some(v4) if prefix >= 96 => format!("{v4}/{}", prefix - 96),
                _ => format!("{}/{prefix}", go_ip_display(IpAddr::V6(network))),
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The servers of Prometheus' hcloud test (the fields it reads, and some it does not),
    /// as the API answers them: one with a private network and a label, one with two labels
    /// (one empty), one whose image was deleted.
    pub const SERVERS: &str = r#"{
      "servers": [
        {"id": 42, "name": "my-server", "status": "running", "created": "2016-01-30T23:50:00+00:00",
         "public_net": {"ipv4": {"ip": "1.2.3.4", "blocked": false, "dns_ptr": "server01.example.com"},
                        "ipv6": {"ip": "2001:db8::/64", "blocked": false, "dns_ptr": [{"ip": "2001:db8::1", "dns_ptr": "server.example.com"}]},
                        "floating_ips": [478]},
         "private_net": [{"network": 4711, "ip": "10.0.0.2", "alias_ips": [], "mac_address": "86:00:ff:2a:7d:e1"}],
         "server_type": {"id": 1, "name": "cx11", "description": "CX11", "cores": 1, "memory": 1, "disk": 25, "storage_type": "local", "cpu_type": "shared"},
         "location": {"id": 1, "name": "fsn1", "description": "Falkenstein DC Park 1", "country": "DE", "city": "Falkenstein", "network_zone": "eu-central"},
         "image": {"id": 4711, "type": "system", "status": "available", "name": "ubuntu-20.04", "description": "Ubuntu 20.04 Standard 64 bit",
                   "os_flavor": "ubuntu", "os_version": "20.04", "labels": {}},
         "iso": null, "labels": {"my-key": "my-value"}, "volumes": [], "load_balancers": []},
        {"id": 44, "name": "another-server", "status": "stopped",
         "public_net": {"ipv4": {"ip": "1.2.3.5"}, "ipv6": {"ip": "2001:db9::/64"}, "floating_ips": []},
         "private_net": [],
         "server_type": {"id": 2, "name": "cpx11", "cores": 2, "memory": 1, "disk": 50, "cpu_type": "shared"},
         "location": {"name": "fsn1", "network_zone": "eu-central"},
         "image": {"id": 4711, "name": "ubuntu-20.04", "description": "Ubuntu 20.04 Standard 64 bit", "os_flavor": "ubuntu", "os_version": "20.04"},
         "labels": {"key": "", "other-key": "value"}},
        {"id": 36, "name": "deleted-image-server", "status": "stopped",
         "public_net": {"ipv4": {"ip": "1.2.3.6"}, "ipv6": {"ip": "2001:db7::/64"}},
         "private_net": [],
         "server_type": {"id": 2, "name": "cpx11", "cores": 2, "memory": 1, "disk": 50, "cpu_type": "shared"},
         "location": {"name": "fsn1", "network_zone": "eu-central"},
         "image": null, "labels": {}}
      ],
      "meta": {"pagination": {"page": 1, "per_page": 25, "previous_page": null, "next_page": null, "last_page": 1, "total_entries": 3}}
    }"#;

    /// The network of Prometheus' hcloud test.
    pub const NETWORKS: &str = r#"{
      "networks": [{"id": 4711, "name": "mynet", "ip_range": "10.0.0.0/16",
                    "subnets": [{"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central", "gateway": "10.0.0.1"}],
                    "servers": [42], "labels": {}, "created": "2016-01-30T23:50:00+00:00"}],
      "meta": {"pagination": {"page": 1, "per_page": 25, "previous_page": null, "next_page": null, "last_page": 1, "total_entries": 1}}
    }"#;

    pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// The labels every server of the fixture shares.
    const COMMON: [(&str, &str); 6] = [
        ("__meta_hetzner_role", "hcloud"),
        ("__meta_hetzner_hcloud_location", "fsn1"),
        ("__meta_hetzner_hcloud_location_network_zone", "eu-central"),
        ("__meta_hetzner_hcloud_datacenter_location", "fsn1"),
        ("__meta_hetzner_hcloud_datacenter_location_network_zone", "eu-central"),
        ("__meta_hetzner_hcloud_cpu_type", "shared"),
    ];

    const UBUNTU: [(&str, &str); 4] = [
        ("__meta_hetzner_hcloud_image_name", "ubuntu-20.04"),
        ("__meta_hetzner_hcloud_image_description", "Ubuntu 20.04 Standard 64 bit"),
        ("__meta_hetzner_hcloud_image_os_flavor", "ubuntu"),
        ("__meta_hetzner_hcloud_image_os_version", "20.04"),
    ];

    /// Prometheus' expected label sets for the fixture (`TestHCloudSDRefresh`), without
    /// its `__address__` (the group's target here) and without its one empty value
    /// (`__meta_hetzner_hcloud_label_key`), which Prometheus drops when it builds the target.
    pub fn expected() -> Vec<(String, BTreeMap<String, String>)> {
        let with = |own: &[(&str, &str)], image: bool| {
            let mut all = labels(&COMMON);
            all.extend(labels(own));
            if image {
                all.extend(labels(&UBUNTU));
            }
            all
        };
        vec![
            (
                "1.2.3.4:80".to_string(),
                with(
                    &[
                        ("__meta_hetzner_server_id", "42"),
                        ("__meta_hetzner_server_name", "my-server"),
                        ("__meta_hetzner_server_status", "running"),
                        ("__meta_hetzner_public_ipv4", "1.2.3.4"),
                        ("__meta_hetzner_public_ipv6_network", "2001:db8::/64"),
                        ("__meta_hetzner_hcloud_cpu_cores", "1"),
                        ("__meta_hetzner_hcloud_memory_size_gb", "1"),
                        ("__meta_hetzner_hcloud_disk_size_gb", "25"),
                        ("__meta_hetzner_hcloud_server_type", "cx11"),
                        ("__meta_hetzner_hcloud_private_ipv4_mynet", "10.0.0.2"),
                        ("__meta_hetzner_hcloud_labelpresent_my_key", "true"),
                        ("__meta_hetzner_hcloud_label_my_key", "my-value"),
                    ],
                    true,
                ),
            ),
            (
                "1.2.3.5:80".to_string(),
                with(
                    &[
                        ("__meta_hetzner_server_id", "44"),
                        ("__meta_hetzner_server_name", "another-server"),
                        ("__meta_hetzner_server_status", "stopped"),
                        ("__meta_hetzner_public_ipv4", "1.2.3.5"),
                        ("__meta_hetzner_public_ipv6_network", "2001:db9::/64"),
                        ("__meta_hetzner_hcloud_cpu_cores", "2"),
                        ("__meta_hetzner_hcloud_memory_size_gb", "1"),
                        ("__meta_hetzner_hcloud_disk_size_gb", "50"),
                        ("__meta_hetzner_hcloud_server_type", "cpx11"),
                        ("__meta_hetzner_hcloud_labelpresent_key", "true"),
                        ("__meta_hetzner_hcloud_labelpresent_other_key", "true"),
                        ("__meta_hetzner_hcloud_label_other_key", "value"),
                    ],
                    true,
                ),
            ),
            (
                "1.2.3.6:80".to_string(),
                with(
                    &[
                        ("__meta_hetzner_server_id", "36"),
                        ("__meta_hetzner_server_name", "deleted-image-server"),
                        ("__meta_hetzner_server_status", "stopped"),
                        ("__meta_hetzner_public_ipv4", "1.2.3.6"),
                        ("__meta_hetzner_public_ipv6_network", "2001:db7::/64"),
                        ("__meta_hetzner_hcloud_cpu_cores", "2"),
                        ("__meta_hetzner_hcloud_memory_size_gb", "1"),
                        ("__meta_hetzner_hcloud_disk_size_gb", "50"),
                        ("__meta_hetzner_hcloud_server_type", "cpx11"),
                    ],
                    false,
                ),
            ),
        ]
    }

    #[test]
    fn servers_become_the_targets_and_labels_prometheus_makes() {
        let servers = servers_page(SERVERS.as_bytes()).expect("a valid page");
        let networks = networks_page(NETWORKS.as_bytes()).expect("a valid page");
        assert_eq!((servers.next_page(), networks.next_page()), (None, None));
        let groups = groups(&servers.servers, &networks.networks, 80);
        let got: Vec<(String, BTreeMap<String, String>)> = groups.into_iter().map(|g| (g.targets.join(","), g.labels)).collect();
        assert_eq!(got, expected());
    }

    #[test]
    fn missing_addresses_read_as_go_writes_them() {
        // No public IPv4 or IPv6 (a private-only server), an IPv6 address inside its
        // network, a half-GB type, a private network not in the network list, and an
        // unknown private address.
        let page = servers_page(
            br#"{"servers": [
              {"id": 7, "public_net": {"ipv4": null, "ipv6": null}, "server_type": {"memory": 0.5}, "labels": null, "private_net": null},
              {"id": 8, "public_net": {"ipv4": {"ip": "::ffff:192.0.2.8"}, "ipv6": {"ip": "2001:0db8:0:0:0:0:0:1/64"}},
               "private_net": [{"network": 1, "ip": "10.0.0.8"}, {"network": 2, "ip": "bogus"}], "labels": {"a.b": null}}],
              "meta": {"pagination": {"next_page": 3}}}"#,
        )
        .expect("valid");
        assert_eq!(page.next_page(), Some(3));
        let networks = networks_page(br#"{"networks": [{"id": 2, "name": "back-end"}], "meta": null}"#).expect("valid");
        let groups = groups(&page.servers, &networks.networks, 9100);
        assert_eq!(groups[0].targets, ["<nil>:9100"]);
        assert_eq!(groups[0].labels.get("__meta_hetzner_public_ipv4").map(String::as_str), Some("<nil>"));
        assert_eq!(groups[0].labels.get("__meta_hetzner_public_ipv6_network").map(String::as_str), Some("<nil>"));
        assert_eq!(groups[0].labels.get("__meta_hetzner_hcloud_memory_size_gb").map(String::as_str), Some("0"));
        assert_eq!(groups[1].targets, ["192.0.2.8:9100"]);
        assert_eq!(groups[1].labels.get("__meta_hetzner_public_ipv6_network").map(String::as_str), Some("2001:db8::/64"));
        assert_eq!(groups[1].labels.get("__meta_hetzner_hcloud_private_ipv4_back_end").map(String::as_str), Some("<nil>"));
        assert_eq!(groups[1].labels.get("__meta_hetzner_hcloud_labelpresent_a_b").map(String::as_str), Some("true"));
        assert!(!groups[1].labels.contains_key("__meta_hetzner_hcloud_label_a_b"), "an empty value is no label");
        assert_eq!(groups[1].labels.keys().filter(|k| k.starts_with("__meta_hetzner_hcloud_private_ipv4_")).count(), 1, "network 1 is not listed");
    }

    #[test]
    fn networks_are_written_as_go_writes_them() {
        for (text, expected) in [
            ("2001:db8::/64", "2001:db8::/64"),
            ("2001:db8:1:2:3:4:5:6/48", "2001:db8:1::/48"),
            ("10.1.2.3/8", "10.0.0.0/8"),
            ("::ffff:10.1.2.3/120", "10.1.2.0/24"),
            ("2001:db8::/0064", "2001:db8::/64"),
            ("2001:db8::/129", "<nil>"),
            ("2001:db8::/+64", "<nil>"),
            ("2001:db8::", "<nil>"),
            ("", "<nil>"),
        ] {
            assert_eq!(go_network_text(text), expected, "{text}");
        }
    }

    #[test]
    fn error_answers_are_worded_as_the_go_client_words_them() {
        let body = br#"{"error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}}"#;
        assert_eq!(api_error(401, body, None), ("unable to authenticate (unauthorized)".to_string(), "unauthorized".to_string()));
        assert_eq!(api_error(401, body, Some("a1b2")).0, "unable to authenticate (unauthorized, a1b2)");
        assert_eq!(api_error(502, b"<html>Bad Gateway</html>", None), ("hcloud: server responded with status code 502".to_string(), String::new()));
        assert_eq!(api_error(500, br#"{"error": {}}"#, None).0, "hcloud: server responded with status code 500");
        assert!(servers_page(b"[]").is_err() && networks_page(br#"{"networks": [{"id": "x"}]}"#).is_err());
    }
}
