//! Turns the Docker Engine's container and network listings into scrape targets, the way
//! Prometheus' `docker_sd_configs` does (`groups`), each carrying the `__meta_docker_*` labels.
//! A missing or `null` value reads as empty (zero, `false`, empty list or map), as Go's decoder
//! leaves it. Pure: no I/O.

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

/// One item of `GET /containers/json`: only the fields the labels read (unknown fields are
/// ignored).
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

/// One item of `GET /networks`: only the fields the labels read (unknown fields are ignored).
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
/// containers as listed, then each container's networks, then its TCP ports as listed. One
/// target per (container, attached network, TCP port), or one per (container, network) on
/// the fallback port when the container publishes no TCP port.
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
mod tests;
