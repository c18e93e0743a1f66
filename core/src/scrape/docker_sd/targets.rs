//! Turns the Docker Engine's container and network listings into scrape targets, the way
//! Prometheus' `docker_sd_configs` does: one target per (container, attached network, TCP
//! port), or one per (container, network) on the configured fallback port when the container
//! publishes no TCP port, each carrying the `__meta_docker_*` labels.
//!
//! The serde types keep only the fields those labels read from `GET /containers/json` and
//! `GET /networks`; unknown fields are ignored and a missing or `null` value reads as empty
//! (zero, `false`, empty list or map), as Go's decoder leaves it. Pure: no I/O.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr};

use serde::{Deserialize, Deserializer};

use super::super::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

const CONTAINER_ID: &str = "__meta_docker_container_id";
const CONTAINER_NAME: &str = "__meta_docker_container_name";
const CONTAINER_IMAGE: &str = "__meta_docker_container_image";
const CONTAINER_IMAGE_ID: &str = "__meta_docker_container_image_id";
const CONTAINER_NETWORK_MODE: &str = "__meta_docker_container_network_mode";
const CONTAINER_LABEL_PREFIX: &str = "__meta_docker_container_label_";
/// What docker_sd's network labels (`network_labels`) start with.
const LABEL_PREFIX: &str = "__meta_docker_";
const NETWORK_IP: &str = "__meta_docker_network_ip";
const PORT_PRIVATE: &str = "__meta_docker_port_private";
const PORT_PUBLIC: &str = "__meta_docker_port_public";
const PORT_PUBLIC_IP: &str = "__meta_docker_port_public_ip";

/// The network mode under which the fallback target is `host_networking_host`.
const HOST_NETWORK_MODE: &str = "host";
/// The network mode prefix of a container that shares another container's network stack.
const CONTAINER_MODE_PREFIX: &str = "container:";

use crate::scrape::discovery::null_as_default;

/// A list where both the list and any of its items may be `null` (an item reads as default).
pub(crate) fn null_tolerant_list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    let items = Option::<Vec<Option<T>>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(items.into_iter().map(Option::unwrap_or_default).collect())
}

/// A string map where both the map and any of its values may be `null` (a value reads as "").
pub(crate) fn null_tolerant_map<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: Deserializer<'de>,
{
    let entries =
        Option::<BTreeMap<String, Option<String>>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(entries.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}

/// One item of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Container {
    #[serde(rename = "Id", alias = "ID", deserialize_with = "null_as_default")]
    pub id: String,
    /// Names as the engine reports them (with the leading `/`); the first one is used.
    #[serde(deserialize_with = "null_tolerant_list")]
    pub names: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    pub image: String,
    #[serde(rename = "ImageID", deserialize_with = "null_as_default")]
    pub image_id: String,
    /// Kept sorted by key, so that the labels are walked in a stable order.
    #[serde(deserialize_with = "null_tolerant_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_tolerant_list")]
    pub ports: Vec<Port>,
    #[serde(deserialize_with = "null_as_default")]
    pub host_config: HostConfig,
    #[serde(deserialize_with = "null_as_default")]
    pub network_settings: NetworkSettings,
}

/// One entry of a container's `Ports`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Port {
    /// The host address a public port is bound on (may be absent).
    #[serde(rename = "IP", deserialize_with = "null_as_default")]
    pub ip: String,
    #[serde(rename = "PrivatePort", deserialize_with = "null_as_default")]
    pub private_port: u16,
    /// Zero when the port is not published on the host.
    #[serde(rename = "PublicPort", deserialize_with = "null_as_default")]
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "Type", deserialize_with = "null_as_default")]
    pub protocol: String,
}

/// A container's `HostConfig` as listed (only its network mode).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HostConfig {
    /// A network name, `host`, `none`, `bridge`, `default` or `container:<id>`.
    #[serde(deserialize_with = "null_as_default")]
    pub network_mode: String,
}

/// A container's `NetworkSettings` as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct NetworkSettings {
    /// By network name. A `null` endpoint stays `None`: it counts as an attached network
    /// (for the shared-network lookup and `match_first_network`) but yields no target.
    #[serde(deserialize_with = "null_as_default")]
    pub networks: BTreeMap<String, Option<EndpointSettings>>,
}

/// A container's endpoint on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EndpointSettings {
    #[serde(rename = "NetworkID", deserialize_with = "null_as_default")]
    pub network_id: String,
    #[serde(rename = "IPAddress", deserialize_with = "null_as_default")]
    pub ip_address: String,
    /// Used when `ip_address` is empty (an IPv6-only network).
    #[serde(rename = "GlobalIPv6Address", deserialize_with = "null_as_default")]
    pub global_ipv6_address: String,
}

/// One item of `GET /networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct Network {
    #[serde(rename = "Id", alias = "ID", deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(deserialize_with = "null_as_default")]
    pub scope: String,
    #[serde(deserialize_with = "null_as_default")]
    pub internal: bool,
    #[serde(deserialize_with = "null_as_default")]
    pub ingress: bool,
    /// Kept sorted by key, so that the labels are walked in a stable order.
    #[serde(deserialize_with = "null_tolerant_map")]
    pub labels: BTreeMap<String, String>,
}

/// The docker_sd targets for one listing of containers and networks, in Prometheus' order:
/// containers as listed, then each container's networks, then its TCP ports as listed.
/// Each target is its own group: `targets` holds its address, `labels` its `__meta_docker_*`
/// labels. `port` is the fallback port; `host_networking_host` the fallback address of a
/// container in `host` network mode; `match_first_network` keeps, for a container on several
/// networks, only the first by name.
///
/// Prometheus walks a container's networks in Go map order, which is random; here they are
/// walked sorted by network name, so the output is deterministic.
pub fn groups(
    containers: &[Container],
    networks: &[Network],
    port: u16,
    host_networking_host: &str,
    match_first_network: bool,
) -> Vec<TargetGroup> {
    let labels_by_network = network_labels(networks, LABEL_PREFIX);
    // As a Go map filled in list order: of containers sharing an ID, the last one is kept.
    let by_id: HashMap<&str, &Container> =
        containers.iter().map(|c| (c.id.as_str(), c)).collect();

    let mut out = Vec::new();
    for container in containers {
        // Prometheus skips containers that report no name.
        let Some(name) = container.names.first() else {
            continue;
        };
        let common = container_labels(container, name);
        let attached = attached_networks(container, &by_id);

        for endpoint in chosen_endpoints(attached, match_first_network) {
            let ip = endpoint_ip(endpoint);
            let network = labels_by_network.get(endpoint.network_id.as_str());
            let target_labels = |mut labels: BTreeMap<String, String>| {
                labels.extend(common.iter().map(|(k, v)| (k.clone(), v.clone())));
                if let Some(network) = network {
                    labels.extend(network.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                labels
            };

            let mut added = false;
            for p in container.ports.iter().filter(|p| p.protocol == "tcp") {
                let mut labels = BTreeMap::new();
                labels.insert(NETWORK_IP.to_string(), ip.clone());
                labels.insert(PORT_PRIVATE.to_string(), p.private_port.to_string());
                if p.public_port > 0 {
                    labels.insert(PORT_PUBLIC.to_string(), p.public_port.to_string());
                    let public_ip = go_ip_string(&p.ip).unwrap_or_default();
                    labels.insert(PORT_PUBLIC_IP.to_string(), public_ip);
                }
                out.push(TargetGroup {
                    targets: vec![join_host_port(&ip, p.private_port)],
                    labels: target_labels(labels),
                });
                added = true;
            }

            if !added {
                // No TCP port (none at all, or only UDP/SCTP): one target on the fallback
                // port, or at the configured host for host networking, which has no ports.
                let mut labels = BTreeMap::new();
                labels.insert(NETWORK_IP.to_string(), ip.clone());
                let address = if container.host_config.network_mode == HOST_NETWORK_MODE {
                    host_networking_host.to_string()
                } else {
                    join_host_port(&ip, port)
                };
                out.push(TargetGroup { targets: vec![address], labels: target_labels(labels) });
            }
        }
    }
    out
}

/// The network labels of each listed network, by network ID (of networks
/// sharing an ID, the last listed wins, as in Prometheus).
/// The labels are named `<prefix>network_*`: docker_sd's `__meta_docker_`, dockerswarm_sd's
/// `__meta_dockerswarm_`, as Prometheus shares this between them.
pub(crate) fn network_labels<'a>(networks: &'a [Network], prefix: &str) -> HashMap<&'a str, BTreeMap<String, String>> {
    let mut by_id = HashMap::with_capacity(networks.len());
    for network in networks {
        let mut labels = BTreeMap::new();
        labels.insert(format!("{prefix}network_id"), network.id.clone());
        labels.insert(format!("{prefix}network_name"), network.name.clone());
        labels.insert(format!("{prefix}network_scope"), network.scope.clone());
        labels.insert(format!("{prefix}network_internal"), network.internal.to_string());
        labels.insert(format!("{prefix}network_ingress"), network.ingress.to_string());
        // Two label keys may sanitize to the same name: Prometheus keeps whichever its map
        // iteration visits last (random); here, the last in key order.
        for (key, value) in &network.labels {
            let name = format!("{prefix}network_label_{}", sanitize_label_name(key));
            labels.insert(name, value.clone());
        }
        by_id.insert(network.id.as_str(), labels);
    }
    by_id
}

/// The labels every target of a container carries.
fn container_labels(container: &Container, name: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    labels.insert(CONTAINER_ID.to_string(), container.id.clone());
    labels.insert(CONTAINER_NAME.to_string(), name.to_string());
    labels.insert(CONTAINER_NETWORK_MODE.to_string(), container.host_config.network_mode.clone());
    if !container.image.is_empty() {
        labels.insert(CONTAINER_IMAGE.to_string(), container.image.clone());
    }
    if !container.image_id.is_empty() {
        labels.insert(CONTAINER_IMAGE_ID.to_string(), container.image_id.clone());
    }
    // Colliding sanitized names: the last in key order wins (Prometheus: random).
    for (key, value) in &container.labels {
        let name = format!("{CONTAINER_LABEL_PREFIX}{}", sanitize_label_name(key));
        labels.insert(name, value.clone());
    }
    labels
}

/// The networks a container is attached to: its own or, when it lists none and its network
/// mode is `container:<id>`, those of that container, following further `container:` modes
/// through the listing (by ID only) until a container with networks is found. A chain that
/// leaves the listing or comes back to a container already visited ends with no networks
/// (Prometheus would loop forever on such a cycle).
fn attached_networks<'a>(
    container: &'a Container,
    by_id: &HashMap<&str, &'a Container>,
) -> &'a BTreeMap<String, Option<EndpointSettings>> {
    let mut networks = &container.network_settings.networks;
    let mut mode = container.host_config.network_mode.as_str();
    let mut visited = HashSet::new();
    while networks.is_empty() {
        let Some(id) = mode.strip_prefix(CONTAINER_MODE_PREFIX) else {
            break;
        };
        if !visited.insert(id) {
            break;
        }
        let Some(shared) = by_id.get(id) else {
            break;
        };
        networks = &shared.network_settings.networks;
        mode = shared.host_config.network_mode.as_str();
    }
    networks
}

/// The endpoints to make targets for, in network name order. With `match_first_network`
/// and more than one attached network (`null` ones included in the count, as Prometheus
/// counts them), only the first non-null one by name; if all are null, none.
fn chosen_endpoints(
    networks: &BTreeMap<String, Option<EndpointSettings>>,
    match_first_network: bool,
) -> Vec<&EndpointSettings> {
    let mut endpoints = networks.values().flatten();
    if match_first_network && networks.len() > 1 {
        return endpoints.next().into_iter().collect();
    }
    endpoints.collect()
}

/// The endpoint's address: its IPv4 address, else its global IPv6 address, else "".
fn endpoint_ip(endpoint: &EndpointSettings) -> String {
    go_ip_string(&endpoint.ip_address)
        .or_else(|| go_ip_string(&endpoint.global_ipv6_address))
        .unwrap_or_default()
}

/// An address as Go's `netip.Addr` prints it (IPv6 in canonical compressed form, an optional
/// `%zone` kept), or `None` when it is empty or does not parse. (Go's client would reject the
/// whole listing on an unparsable address; here only that address is treated as absent.)
fn go_ip_string(text: &str) -> Option<String> {
    if text.is_empty() {
        return None;
    }
    if let Some((address, zone)) = text.split_once('%') {
        if zone.is_empty() {
            return None;
        }
        let address: Ipv6Addr = address.parse().ok()?;
        return Some(format!("{address}%{zone}"));
    }
    text.parse::<IpAddr>().ok().map(|address| address.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETWORK_ID: &str = "__meta_docker_network_id";
    const NETWORK_NAME: &str = "__meta_docker_network_name";
    const NETWORK_SCOPE: &str = "__meta_docker_network_scope";
    const NETWORK_INTERNAL: &str = "__meta_docker_network_internal";
    const NETWORK_INGRESS: &str = "__meta_docker_network_ingress";

    const WEB_ID: &str = "3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6";
    const HOSTNET_ID: &str = "8a2e4c6d1b3f5a7c9e0d2b4f6a8c0e1d3f5b7a9c1e3d5f7b9a0c2e4d6f8a1b3c";
    const SIDECAR_ID: &str = "c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7";
    const DNS_ID: &str = "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2";
    const V6_ID: &str = "e6f5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5";
    const BACKEND_NET: &str = "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1";
    const FRONTEND_NET: &str = "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1";
    const HOST_NET: &str = "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d";

    /// Modelled on `GET /containers/json`: a web container on two networks (listed out of
    /// name order) with two TCP ports and a UDP one, a host-networking container, a sidecar
    /// sharing the web container's network stack, a UDP-only container, an IPv6-only one on
    /// a network `/networks` does not list, and two containers without names.
    const CONTAINERS: &str = r#"[
      {
        "Id": "3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6",
        "Names": ["/shop_web_1", "/shop_web_alias"],
        "Image": "example/web:2.4",
        "ImageID": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "Command": "/bin/web --listen :8080",
        "Created": 1716200000,
        "Ports": [
          {"IP": "0.0.0.0", "PrivatePort": 8080, "PublicPort": 18080, "Type": "tcp"},
          {"PrivatePort": 9090, "Type": "tcp"},
          {"IP": "0.0.0.0", "PrivatePort": 5353, "PublicPort": 5353, "Type": "udp"}
        ],
        "Labels": {
          "com.docker.compose.project": "shop",
          "prometheus-job": "web",
          "team": "storefront"
        },
        "State": "running",
        "Status": "Up 2 hours",
        "HostConfig": {"NetworkMode": "shop_frontend"},
        "NetworkSettings": {
          "Networks": {
            "shop_frontend": {
              "IPAMConfig": null,
              "Links": null,
              "Aliases": null,
              "NetworkID": "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1",
              "EndpointID": "aa11",
              "Gateway": "172.19.0.1",
              "IPAddress": "172.19.0.5",
              "IPPrefixLen": 16,
              "IPv6Gateway": "",
              "GlobalIPv6Address": "",
              "GlobalIPv6PrefixLen": 0,
              "MacAddress": "02:42:ac:13:00:05",
              "DriverOpts": null
            },
            "shop_backend": {
              "NetworkID": "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
              "IPAddress": "172.20.0.5",
              "GlobalIPv6Address": ""
            }
          }
        },
        "Mounts": []
      },
      {
        "Id": "8a2e4c6d1b3f5a7c9e0d2b4f6a8c0e1d3f5b7a9c1e3d5f7b9a0c2e4d6f8a1b3c",
        "Names": ["/node_exporter"],
        "Image": "prom/node-exporter:v1.8.0",
        "ImageID": "",
        "Ports": [],
        "Labels": {},
        "HostConfig": {"NetworkMode": "host"},
        "NetworkSettings": {
          "Networks": {
            "host": {
              "NetworkID": "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d",
              "IPAddress": "",
              "GlobalIPv6Address": ""
            }
          }
        }
      },
      {
        "Id": "c5d7e9f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1d3e5f7a9b1c3d5e7f9a1b3c5d7",
        "Names": ["/shop_web_exporter"],
        "Image": "example/web-exporter:latest",
        "ImageID": "sha256:2222222222222222222222222222222222222222222222222222222222222222",
        "Ports": [{"PrivatePort": 9117, "Type": "tcp"}],
        "Labels": {"prometheus.io/scrape": "true"},
        "HostConfig": {
          "NetworkMode": "container:3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6"
        },
        "NetworkSettings": {"Networks": {}}
      },
      {
        "Id": "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
        "Names": ["/shop_dns_1"],
        "Image": "coredns/coredns:1.11.1",
        "Ports": [{"PrivatePort": 53, "Type": "udp"}],
        "Labels": null,
        "HostConfig": {"NetworkMode": "shop_backend"},
        "NetworkSettings": {
          "Networks": {
            "shop_backend": {
              "NetworkID": "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
              "IPAddress": "172.20.0.6"
            }
          }
        }
      },
      {
        "Id": "e6f5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5",
        "Names": ["/v6_only"],
        "Ports": [{"IP": "::", "PrivatePort": 8000, "PublicPort": 8000, "Type": "tcp"}],
        "HostConfig": {"NetworkMode": "v6net"},
        "NetworkSettings": {
          "Networks": {
            "v6net": {
              "NetworkID": "0000000000000000000000000000000000000000000000000000000000000000",
              "IPAddress": "",
              "GlobalIPv6Address": "FD00:0:0:0:0:0:0:7"
            }
          }
        }
      },
      {
        "Id": "0badc0de",
        "Names": [],
        "Ports": [{"PrivatePort": 80, "Type": "tcp"}],
        "HostConfig": {"NetworkMode": "shop_backend"},
        "NetworkSettings": {
          "Networks": {
            "shop_backend": {"NetworkID": "b0a1", "IPAddress": "172.20.0.9"}
          }
        }
      },
      {
        "Id": "0badf00d",
        "Names": null,
        "HostConfig": {"NetworkMode": "bridge"},
        "NetworkSettings": {
          "Networks": {"bridge": {"NetworkID": "x", "IPAddress": "172.17.0.9"}}
        }
      }
    ]"#;

    /// Modelled on `GET /networks`.
    const NETWORKS: &str = r#"[
      {
        "Name": "host",
        "Id": "7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d",
        "Created": "2024-05-20T10:00:00.000000000Z",
        "Scope": "local",
        "Driver": "host",
        "EnableIPv6": false,
        "IPAM": {"Driver": "default", "Options": null, "Config": []},
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": false,
        "Containers": {},
        "Options": {},
        "Labels": {}
      },
      {
        "Name": "shop_backend",
        "Id": "b0a1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
        "Scope": "local",
        "Driver": "bridge",
        "Internal": true,
        "Ingress": false,
        "Options": {"com.docker.network.driver.mtu": "1500"},
        "Labels": {
          "com.docker.compose.network": "backend",
          "com.docker.compose.project": "shop"
        }
      },
      {
        "Name": "shop_frontend",
        "Id": "f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1",
        "Scope": "swarm",
        "Driver": "overlay",
        "Internal": false,
        "Ingress": true,
        "Labels": null
      }
    ]"#;

    fn decode() -> (Vec<Container>, Vec<Network>) {
        let containers = serde_json::from_str(CONTAINERS).expect("containers decode");
        let networks = serde_json::from_str(NETWORKS).expect("networks decode");
        (containers, networks)
    }

    fn group(address: &str, labels: &[(&str, &str)]) -> TargetGroup {
        TargetGroup {
            targets: vec![address.to_string()],
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    /// Labels of a target of `parts`, in order (later parts override earlier ones).
    fn merged(parts: &[&[(&'static str, &'static str)]]) -> Vec<(&'static str, &'static str)> {
        let mut map = BTreeMap::new();
        for part in parts {
            for (k, v) in part.iter() {
                map.insert(*k, *v);
            }
        }
        map.into_iter().collect()
    }

    fn web_common() -> Vec<(&'static str, &'static str)> {
        vec![
            (CONTAINER_ID, WEB_ID),
            (CONTAINER_NAME, "/shop_web_1"),
            (CONTAINER_NETWORK_MODE, "shop_frontend"),
            (CONTAINER_IMAGE, "example/web:2.4"),
            (
                CONTAINER_IMAGE_ID,
                "sha256:1111111111111111111111111111111111111111111111111111111111111111",
            ),
            ("__meta_docker_container_label_com_docker_compose_project", "shop"),
            ("__meta_docker_container_label_prometheus_job", "web"),
            ("__meta_docker_container_label_team", "storefront"),
        ]
    }

    fn sidecar_common() -> Vec<(&'static str, &'static str)> {
        vec![
            (CONTAINER_ID, SIDECAR_ID),
            (CONTAINER_NAME, "/shop_web_exporter"),
            (
                CONTAINER_NETWORK_MODE,
                "container:3f1c0a9be2d84c6e9a7b5d1e0f2a4c6b8d0e1f2a3b4c5d6e7f8091a2b3c4d5e6",
            ),
            (CONTAINER_IMAGE, "example/web-exporter:latest"),
            (
                CONTAINER_IMAGE_ID,
                "sha256:2222222222222222222222222222222222222222222222222222222222222222",
            ),
            ("__meta_docker_container_label_prometheus_io_scrape", "true"),
        ]
    }

    fn backend_labels() -> Vec<(&'static str, &'static str)> {
        vec![
            (NETWORK_ID, BACKEND_NET),
            (NETWORK_NAME, "shop_backend"),
            (NETWORK_SCOPE, "local"),
            (NETWORK_INTERNAL, "true"),
            (NETWORK_INGRESS, "false"),
            ("__meta_docker_network_label_com_docker_compose_network", "backend"),
            ("__meta_docker_network_label_com_docker_compose_project", "shop"),
        ]
    }

    fn frontend_labels() -> Vec<(&'static str, &'static str)> {
        vec![
            (NETWORK_ID, FRONTEND_NET),
            (NETWORK_NAME, "shop_frontend"),
            (NETWORK_SCOPE, "swarm"),
            (NETWORK_INTERNAL, "false"),
            (NETWORK_INGRESS, "true"),
        ]
    }

    fn web_port_8080(ip: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![
            (NETWORK_IP, ip),
            (PORT_PRIVATE, "8080"),
            (PORT_PUBLIC, "18080"),
            (PORT_PUBLIC_IP, "0.0.0.0"),
        ]
    }

    fn web_port_9090(ip: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![(NETWORK_IP, ip), (PORT_PRIVATE, "9090")]
    }

    fn sidecar_port(ip: &'static str) -> Vec<(&'static str, &'static str)> {
        vec![(NETWORK_IP, ip), (PORT_PRIVATE, "9117")]
    }

    /// The targets that do not depend on `match_first_network` (single-network containers),
    /// in output order after the web container's targets and the sidecar's.
    fn hostnet_group() -> TargetGroup {
        group(
            "localhost",
            &merged(&[
                &[
                    (CONTAINER_ID, HOSTNET_ID),
                    (CONTAINER_NAME, "/node_exporter"),
                    (CONTAINER_NETWORK_MODE, "host"),
                    (CONTAINER_IMAGE, "prom/node-exporter:v1.8.0"),
                    (NETWORK_IP, ""),
                ],
                &[
                    (NETWORK_ID, HOST_NET),
                    (NETWORK_NAME, "host"),
                    (NETWORK_SCOPE, "local"),
                    (NETWORK_INTERNAL, "false"),
                    (NETWORK_INGRESS, "false"),
                ],
            ]),
        )
    }

    fn dns_group() -> TargetGroup {
        group(
            "172.20.0.6:80",
            &merged(&[
                &[
                    (CONTAINER_ID, DNS_ID),
                    (CONTAINER_NAME, "/shop_dns_1"),
                    (CONTAINER_NETWORK_MODE, "shop_backend"),
                    (CONTAINER_IMAGE, "coredns/coredns:1.11.1"),
                    (NETWORK_IP, "172.20.0.6"),
                ],
                &backend_labels(),
            ]),
        )
    }

    fn v6_group() -> TargetGroup {
        group(
            "[fd00::7]:8000",
            &[
                (CONTAINER_ID, V6_ID),
                (CONTAINER_NAME, "/v6_only"),
                (CONTAINER_NETWORK_MODE, "v6net"),
                (NETWORK_IP, "fd00::7"),
                (PORT_PRIVATE, "8000"),
                (PORT_PUBLIC, "8000"),
                (PORT_PUBLIC_IP, "::"),
            ],
        )
    }

    #[test]
    fn match_first_network_keeps_first_network_by_name() {
        let (containers, networks) = decode();
        let got = groups(&containers, &networks, 80, "localhost", true);
        let want = vec![
            // Web: only shop_backend (first by name), both TCP ports, UDP skipped.
            group(
                "172.20.0.5:8080",
                &merged(&[&web_port_8080("172.20.0.5"), &web_common(), &backend_labels()]),
            ),
            group(
                "172.20.0.5:9090",
                &merged(&[&web_port_9090("172.20.0.5"), &web_common(), &backend_labels()]),
            ),
            hostnet_group(),
            // Sidecar: the web container's networks, its own port and labels.
            group(
                "172.20.0.5:9117",
                &merged(&[&sidecar_port("172.20.0.5"), &sidecar_common(), &backend_labels()]),
            ),
            dns_group(),
            v6_group(),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn all_networks_when_match_first_network_is_off() {
        let (containers, networks) = decode();
        let got = groups(&containers, &networks, 80, "localhost", false);
        let want = vec![
            group(
                "172.20.0.5:8080",
                &merged(&[&web_port_8080("172.20.0.5"), &web_common(), &backend_labels()]),
            ),
            group(
                "172.20.0.5:9090",
                &merged(&[&web_port_9090("172.20.0.5"), &web_common(), &backend_labels()]),
            ),
            group(
                "172.19.0.5:8080",
                &merged(&[&web_port_8080("172.19.0.5"), &web_common(), &frontend_labels()]),
            ),
            group(
                "172.19.0.5:9090",
                &merged(&[&web_port_9090("172.19.0.5"), &web_common(), &frontend_labels()]),
            ),
            hostnet_group(),
            group(
                "172.20.0.5:9117",
                &merged(&[&sidecar_port("172.20.0.5"), &sidecar_common(), &backend_labels()]),
            ),
            group(
                "172.19.0.5:9117",
                &merged(&[&sidecar_port("172.19.0.5"), &sidecar_common(), &frontend_labels()]),
            ),
            dns_group(),
            v6_group(),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn fallback_port_and_host_networking_host_are_used() {
        let (containers, networks) = decode();
        let got = groups(&containers, &networks, 9999, "docker-host.internal", true);
        let addresses: Vec<&str> = got.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(
            addresses,
            [
                "172.20.0.5:8080",
                "172.20.0.5:9090",
                "docker-host.internal",
                "172.20.0.5:9117",
                "172.20.0.6:9999",
                "[fd00::7]:8000",
            ]
        );
        assert!(got.iter().all(|g| g.targets.len() == 1 && !g.labels.contains_key("__address__")));
    }

    fn bare(id: &str, mode: &str, networks: &[(&str, Option<(&str, &str)>)]) -> Container {
        Container {
            id: id.to_string(),
            names: vec![format!("/{id}")],
            host_config: HostConfig { network_mode: mode.to_string() },
            network_settings: NetworkSettings {
                networks: networks
                    .iter()
                    .map(|(name, endpoint)| {
                        let endpoint = endpoint.map(|(network_id, ip)| EndpointSettings {
                            network_id: network_id.to_string(),
                            ip_address: ip.to_string(),
                            global_ipv6_address: String::new(),
                        });
                        (name.to_string(), endpoint)
                    })
                    .collect(),
            },
            ..Container::default()
        }
    }

    #[test]
    fn shared_network_chain_is_followed_and_cycles_end() {
        let containers = vec![
            bare("a", "container:b", &[]),
            bare("b", "container:c", &[]),
            bare("c", "net", &[("net", Some(("n1", "10.0.0.3")))]),
            bare("x", "container:y", &[]),
            bare("y", "container:x", &[]),
            bare("self", "container:self", &[]),
            bare("lost", "container:missing", &[]),
        ];
        let got = groups(&containers, &[], 80, "localhost", true);
        let summary: Vec<(&str, &str)> = got
            .iter()
            .map(|g| (g.labels[CONTAINER_ID].as_str(), g.targets[0].as_str()))
            .collect();
        assert_eq!(summary, [("a", "10.0.0.3:80"), ("b", "10.0.0.3:80"), ("c", "10.0.0.3:80")]);
        assert_eq!(got[0].labels[CONTAINER_NETWORK_MODE], "container:b");
        assert_eq!(got[0].labels.get(NETWORK_ID), None);
    }

    #[test]
    fn null_endpoints_count_but_yield_no_target() {
        let containers = vec![
            // Two entries, one null: match_first_network keeps the non-null one.
            bare("m", "net", &[("a", None), ("b", Some(("nb", "10.0.0.2")))]),
            // Only a null entry: no shared-network lookup (it has an entry), no target.
            bare("n", "container:m", &[("a", None)]),
        ];
        for match_first in [true, false] {
            let got = groups(&containers, &[], 80, "localhost", match_first);
            let addresses: Vec<&str> = got.iter().map(|g| g.targets[0].as_str()).collect();
            assert_eq!(addresses, ["10.0.0.2:80"], "match_first_network={match_first}");
        }
    }

    #[test]
    fn later_duplicate_ids_win_as_in_a_go_map() {
        let containers = vec![
            bare("dup", "net", &[("net", Some(("n1", "10.0.0.1")))]),
            bare("dup", "net", &[]),
            bare("follower", "container:dup", &[]),
        ];
        let networks = vec![
            Network { id: "n1".into(), name: "first".into(), ..Network::default() },
            Network { id: "n1".into(), name: "second".into(), ..Network::default() },
        ];
        let got = groups(&containers, &networks, 80, "localhost", true);
        // The follower resolves to the second "dup", which has no networks: no target.
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].targets, ["10.0.0.1:80"]);
        assert_eq!(got[0].labels[NETWORK_NAME], "second");
    }

    #[test]
    fn label_names_are_sanitized() {
        let mut container = bare("s", "net", &[("net", Some(("n1", "10.0.0.4")))]);
        container.labels.insert("com.example/tier-name".into(), "gold".into());
        container.labels.insert("ünïcode key".into(), "u".into());
        let network = Network {
            id: "n1".into(),
            labels: [("io.k8s:zone".to_string(), "z1".to_string())].into_iter().collect(),
            ..Network::default()
        };
        let got = groups(&[container], &[network], 80, "localhost", true);
        assert_eq!(got.len(), 1);
        let labels = &got[0].labels;
        assert_eq!(labels["__meta_docker_container_label_com_example_tier_name"], "gold");
        assert_eq!(labels["__meta_docker_container_label__n_code_key"], "u");
        assert_eq!(labels["__meta_docker_network_label_io_k8s_zone"], "z1");
    }

    #[test]
    fn lenient_decoding_of_nulls_and_unknown_fields() {
        let json = r#"[{"ID": "z", "Names": ["/z", null], "Ports": [null,
            {"PrivatePort": 81, "PublicPort": null, "Type": "tcp", "Extra": 1}],
            "Labels": {"k": null}, "HostConfig": null, "NetworkSettings": null,
            "Image": null}]"#;
        let containers: Vec<Container> = serde_json::from_str(json).expect("decode");
        let c = &containers[0];
        assert_eq!(c.id, "z");
        assert_eq!(c.names, ["/z", ""]);
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[0], Port::default());
        assert_eq!(c.ports[1].private_port, 81);
        assert_eq!(c.labels["k"], "");
        assert!(c.network_settings.networks.is_empty());
        // No networks and no container: mode, so no target.
        assert!(groups(&containers, &[], 80, "localhost", true).is_empty());

        let networks: Vec<Network> =
            serde_json::from_str(r#"[{"Id": "n", "Internal": null, "Labels": null}]"#)
                .expect("decode");
        assert_eq!(networks[0], Network { id: "n".into(), ..Network::default() });
    }

    #[test]
    fn addresses_print_as_go_netip() {
        assert_eq!(go_ip_string("172.19.0.2").as_deref(), Some("172.19.0.2"));
        assert_eq!(go_ip_string("FD00:0:0:0:0:0:0:7").as_deref(), Some("fd00::7"));
        assert_eq!(go_ip_string("::ffff:10.1.2.3").as_deref(), Some("::ffff:10.1.2.3"));
        assert_eq!(go_ip_string("fe80::1%eth0").as_deref(), Some("fe80::1%eth0"));
        assert_eq!(go_ip_string("fe80::1%"), None);
        assert_eq!(go_ip_string("10.0.0.1%eth0"), None);
        assert_eq!(go_ip_string(""), None);
        assert_eq!(go_ip_string("not-an-ip"), None);

        let mut container = bare("z", "net", &[("net", Some(("n", "fe80::1%eth0")))]);
        let port = Port { private_port: 80, protocol: "tcp".into(), ..Port::default() };
        container.ports = vec![port];
        let got = groups(&[container], &[], 80, "localhost", true);
        assert_eq!(got[0].targets, ["[fe80::1%eth0]:80"]);
        assert_eq!(got[0].labels[NETWORK_IP], "fe80::1%eth0");
    }
}
