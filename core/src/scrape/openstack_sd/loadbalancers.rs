//! The `loadbalancer` role: Octavia's load balancers (`GET v2.0/lbaas/loadbalancers`) with
//! their listeners (`v2.0/lbaas/listeners`) and Neutron's floating IPs: one target per load
//! balancer that has a `PROMETHEUS` listener, at its VIP and that listener's port (the
//! entry's `port` is not used, as in Prometheus), labelled as Prometheus labels them, with
//! the floating IP on its VIP port if any. `groups` is pure.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::config::OpenStackSd;
use super::instances::FloatingIp;
use super::{group, ListError, Session};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// An Octavia load balancer (the fields read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LoadBalancer {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    operating_status: String,
    #[serde(deserialize_with = "null_as_default")]
    provisioning_status: String,
    #[serde(deserialize_with = "null_as_default")]
    availability_zone: String,
    #[serde(deserialize_with = "null_as_default")]
    vip_address: String,
    #[serde(deserialize_with = "null_as_default")]
    vip_port_id: String,
    #[serde(deserialize_with = "null_as_default")]
    provider: String,
    #[serde(deserialize_with = "null_as_default")]
    project_id: String,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
}

/// An Octavia listener (the fields read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Listener {
    #[serde(deserialize_with = "null_as_default")]
    protocol: String,
    #[serde(deserialize_with = "null_as_default")]
    protocol_port: i64,
    #[serde(deserialize_with = "null_as_default")]
    loadbalancers: Vec<Reference>,
}

/// A load balancer a listener belongs to.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reference {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
}

/// One refresh of the role, in Prometheus' order: load balancers, listeners, floating IPs.
pub async fn ask(session: &mut Session<'_>, balancing: &str, network: &str, _sd: &OpenStackSd) -> Result<Vec<TargetGroup>, String> {
    // As gophercloud: an endpoint that already ends in v2.0/ is not given it twice.
    let balancing = format!("{}v2.0/", balancing.replace("v2.0/", ""));
    let balancers: Vec<LoadBalancer> = session.list(format!("{balancing}lbaas/loadbalancers"), "loadbalancers", "loadbalancers_links").await.map_err(|e| match e {
        ListError::Request(e) => format!("failed to list load balancers: {e}"),
        ListError::Read(e) => format!("failed to extract load balancers: {e}"),
    })?;
    let listeners: Vec<Listener> = session.list(format!("{balancing}lbaas/listeners"), "listeners", "listeners_links").await.map_err(|e| match e {
        ListError::Request(e) => format!("failed to list all listeners: {e}"),
        ListError::Read(e) => format!("failed to extract all listeners: {e}"),
    })?;
    let floating: Vec<FloatingIp> = session.list(format!("{network}v2.0/floatingips"), "floatingips", "floatingips_links").await.map_err(|e| match e {
        ListError::Request(e) => format!("failed to list floating IPs: {e}"),
        ListError::Read(e) => format!("failed to extract floating IPs: {e}"),
    })?;
    Ok(groups(&balancers, &listeners, &floating))
}

/// A target per load balancer with a PROMETHEUS listener.
pub fn groups(balancers: &[LoadBalancer], listeners: &[Listener], floating: &[FloatingIp]) -> Vec<TargetGroup> {
    let mut listeners_of: HashMap<&str, Vec<&Listener>> = HashMap::new();
    for listener in listeners {
        for balancer in &listener.loadbalancers {
            listeners_of.entry(balancer.id.as_str()).or_default().push(listener);
        }
    }
    // A later floating IP on the same port wins, as Prometheus fills its map.
    let floating_of: HashMap<&str, &str> = floating.iter().filter(|f| !f.port_id.is_empty()).map(|f| (f.port_id.as_str(), f.floating_ip_address.as_str())).collect();
    let mut found = Vec::new();
    for balancer in balancers {
        let Some(port) = listeners_of.get(balancer.id.as_str()).and_then(|ls| ls.iter().find(|l| l.protocol == "PROMETHEUS")).map(|l| l.protocol_port) else { continue };
        let mut labels = BTreeMap::from([
            ("__meta_openstack_loadbalancer_id".to_string(), balancer.id.clone()),
            ("__meta_openstack_loadbalancer_name".to_string(), balancer.name.clone()),
            ("__meta_openstack_loadbalancer_operating_status".to_string(), balancer.operating_status.clone()),
            ("__meta_openstack_loadbalancer_provisioning_status".to_string(), balancer.provisioning_status.clone()),
            ("__meta_openstack_loadbalancer_availability_zone".to_string(), balancer.availability_zone.clone()),
            ("__meta_openstack_loadbalancer_vip".to_string(), balancer.vip_address.clone()),
            ("__meta_openstack_loadbalancer_provider".to_string(), balancer.provider.clone()),
            ("__meta_openstack_project_id".to_string(), balancer.project_id.clone()),
        ]);
        if !balancer.tags.is_empty() {
            labels.insert("__meta_openstack_loadbalancer_tags".to_string(), balancer.tags.join(","));
        }
        if let Some(ip) = floating_of.get(balancer.vip_port_id.as_str()) {
            labels.insert("__meta_openstack_loadbalancer_floating_ip".to_string(), ip.to_string());
        }
        found.push(group(join_host_port(&balancer.vip_address, port), labels));
    }
    found
}
