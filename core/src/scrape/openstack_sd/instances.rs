//! The `instance` role: Nova's servers (`GET servers/detail`, with `?all_tenants=true` when
//! asked), labelled as Prometheus labels them, one target per fixed address of each server
//! at the entry's port; a fixed address with a floating IP (Neutron's floating IPs, tied to
//! the server through their port's `device_id`) has it as `__meta_openstack_public_ip`, and
//! the floating addresses themselves are no targets. `groups` is pure.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;
use serde_json::Value;

use super::config::OpenStackSd;
use super::{group, ListError, Session};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default, sanitize_label_name};

/// A Nova server (the fields read; Go's zero value for `null`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Server {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    tenant_id: String,
    #[serde(deserialize_with = "null_as_default")]
    user_id: String,
    /// Pool name to a list of `{addr, ...}`; read loosely, as Prometheus skips what is not.
    #[serde(deserialize_with = "null_as_default")]
    addresses: serde_json::Map<String, Value>,
    #[serde(deserialize_with = "null_as_default")]
    metadata: BTreeMap<String, String>,
    /// `original_name` from microversion 2.47, `id` before.
    #[serde(deserialize_with = "null_as_default")]
    flavor: Value,
    /// An object with an `id`, or `""` for a server booted from a volume.
    #[serde(deserialize_with = "null_as_default")]
    image: Value,
}

/// A Neutron port (the fields read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Port {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    device_id: String,
}

/// A Neutron floating IP (the fields read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct FloatingIp {
    #[serde(deserialize_with = "null_as_default")]
    pub floating_ip_address: String,
    #[serde(deserialize_with = "null_as_default")]
    pub fixed_ip_address: String,
    #[serde(deserialize_with = "null_as_default")]
    pub port_id: String,
}

/// One refresh of the role, in Prometheus' order: ports, floating IPs, servers.
pub async fn ask(session: &mut Session<'_>, compute: &str, network: &str, sd: &OpenStackSd) -> Result<Vec<TargetGroup>, String> {
    let ports: Vec<Port> = session.list(format!("{network}v2.0/ports"), "ports", "ports_links").await.map_err(|e| match e {
        ListError::Request(e) => format!("failed to list all ports: {e}"),
        ListError::Read(e) => format!("failed to extract Ports: {e}"),
    })?;
    let floating: Vec<FloatingIp> = session.list(format!("{network}v2.0/floatingips"), "floatingips", "floatingips_links").await.map_err(|e| match e {
        ListError::Request(e) => e,
        ListError::Read(e) => format!("could not extract floatingips: {e}"),
    })?;
    let query = if sd.all_tenants { "?all_tenants=true" } else { "" };
    let servers: Vec<Server> = session.list(format!("{compute}servers/detail{query}"), "servers", "servers_links").await.map_err(|e| match e {
        ListError::Request(e) => e,
        ListError::Read(e) => format!("could not extract instances: {e}"),
    })?;
    Ok(groups(&servers, &ports, &floating, sd.port))
}

/// The targets of `servers`, with the floating IPs of `floating` tied to them by `ports`.
pub fn groups(servers: &[Server], ports: &[Port], floating: &[FloatingIp], port: u16) -> Vec<TargetGroup> {
    let device_of: HashMap<&str, &str> = ports.iter().map(|p| (p.id.as_str(), p.device_id.as_str())).collect();
    // (server, fixed address) to its floating address, and every floating address in use.
    let mut public_of: HashMap<(&str, &str), &str> = HashMap::new();
    let mut floating_addresses: HashSet<&str> = HashSet::new();
    for ip in floating {
        if ip.port_id.is_empty() || ip.fixed_ip_address.is_empty() {
            continue;
        }
        let Some(device) = device_of.get(ip.port_id.as_str()) else {
            tracing::warn!(port_id = %ip.port_id, "openstack_sd: floating IP's port not found in the port list");
            continue;
        };
        public_of.insert((device, ip.fixed_ip_address.as_str()), ip.floating_ip_address.as_str());
        floating_addresses.insert(ip.floating_ip_address.as_str());
    }
    let mut found = Vec::new();
    for server in servers {
        if server.addresses.is_empty() {
            continue;
        }
        let flavor = server.flavor.get("original_name").and_then(Value::as_str).or_else(|| server.flavor.get("id").and_then(Value::as_str));
        let Some(flavor) = flavor else {
            tracing::warn!(instance = %server.id, "openstack_sd: neither the flavor's original_name nor its id is a string; the instance is left out");
            continue;
        };
        let mut labels = BTreeMap::from([
            ("__meta_openstack_instance_id".to_string(), server.id.clone()),
            ("__meta_openstack_instance_status".to_string(), server.status.clone()),
            ("__meta_openstack_instance_name".to_string(), server.name.clone()),
            ("__meta_openstack_project_id".to_string(), server.tenant_id.clone()),
            ("__meta_openstack_user_id".to_string(), server.user_id.clone()),
            ("__meta_openstack_instance_flavor".to_string(), flavor.to_string()),
        ]);
        if let Some(image) = server.image.get("id").and_then(Value::as_str) {
            labels.insert("__meta_openstack_instance_image".to_string(), image.to_string());
        }
        for (key, value) in &server.metadata {
            labels.insert(format!("__meta_openstack_tag_{}", sanitize_label_name(key)), value.clone());
        }
        for (pool, addresses) in &server.addresses {
            let Some(addresses) = addresses.as_array() else { continue };
            for address in addresses {
                let Some(addr) = address.get("addr").and_then(Value::as_str) else { continue };
                if floating_addresses.contains(addr) {
                    continue;
                }
                let mut target = labels.clone();
                target.insert("__meta_openstack_address_pool".to_string(), pool.clone());
                target.insert("__meta_openstack_private_ip".to_string(), addr.to_string());
                if let Some(public) = public_of.get(&(server.id.as_str(), addr)) {
                    target.insert("__meta_openstack_public_ip".to_string(), public.to_string());
                }
                found.push(group(join_host_port(addr, port), target));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_servers_are_skipped_or_bracketed_as_prometheus_does() {
        let servers: Vec<Server> = serde_json::from_str(
            r#"[
            {"id": "s1", "name": "v6", "status": "ACTIVE", "flavor": {"id": "f1"}, "image": "", "metadata": {"a.b-c": "x"},
             "addresses": {"net": [{"addr": "2001:db8::5"}, {"addr": "198.51.100.9"}, {"no-addr": true}, "junk"], "empty": [], "odd": {"addr": "1.1.1.1"}}},
            {"id": "s2", "name": "no-flavor", "flavor": {"id": 7}, "addresses": {"net": [{"addr": "10.1.1.1"}]}},
            {"id": "s3", "name": "null-fields", "status": null, "tenant_id": null, "flavor": {"original_name": "m1.tiny", "id": "f3"}, "image": null, "metadata": null, "addresses": {"net": [{"addr": "10.1.1.3"}]}}]"#,
        )
        .expect("valid");
        // A floating IP whose port is not listed is left aside; one without a fixed address too.
        let ports: Vec<Port> = serde_json::from_str(r#"[{"id": "p1", "device_id": "s1"}]"#).expect("valid");
        let floating: Vec<FloatingIp> = serde_json::from_str(
            r#"[{"floating_ip_address": "203.0.113.9", "fixed_ip_address": "198.51.100.9", "port_id": "p1"},
                {"floating_ip_address": "10.1.1.3", "fixed_ip_address": "10.0.0.1", "port_id": "p-unknown"},
                {"floating_ip_address": "2001:db8::5", "fixed_ip_address": null, "port_id": "p1"}]"#,
        )
        .expect("valid");
        let groups = groups(&servers, &ports, &floating, 9100);
        let shown: Vec<(&str, Option<&str>, Option<&str>)> = groups.iter().map(|g| (g.targets[0].as_str(), g.labels.get("__meta_openstack_public_ip").map(String::as_str), g.labels.get("__meta_openstack_instance_flavor").map(String::as_str))).collect();
        assert_eq!(shown, [("[2001:db8::5]:9100", None, Some("f1")), ("198.51.100.9:9100", Some("203.0.113.9"), Some("f1")), ("10.1.1.3:9100", None, Some("m1.tiny"))]);
        assert_eq!(groups[0].labels.get("__meta_openstack_tag_a_b_c").map(String::as_str), Some("x"));
        assert!(!groups[0].labels.contains_key("__meta_openstack_instance_image"), "booted from a volume: no image");
        assert!(!groups[2].labels.contains_key("__meta_openstack_instance_status") && !groups[2].labels.contains_key("__meta_openstack_project_id"), "empty values are no labels");
    }
}
