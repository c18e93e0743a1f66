//! The `hypervisor` role: Nova's hypervisors (`GET os-hypervisors/detail`), one target per
//! hypervisor at its host IP and the entry's port, labelled as Prometheus labels them. The
//! ID is a number before microversion 2.53 and a UUID after; both are read. `groups` is pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::config::OpenStackSd;
use super::{group, ListError, Session};
use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// A Nova hypervisor (the fields read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Hypervisor {
    #[serde(deserialize_with = "number_or_text")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    hypervisor_hostname: String,
    #[serde(deserialize_with = "null_as_default")]
    host_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    state: String,
    #[serde(deserialize_with = "null_as_default")]
    hypervisor_type: String,
}

/// An ID written as a number (as Go's `strconv.Itoa` of it) or as text.
fn number_or_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        Value::Number(n) => Ok(n.as_i64().map(|i| i.to_string()).or_else(|| n.as_f64().map(|f| (f as i64).to_string())).unwrap_or_default()),
        other => Err(serde::de::Error::custom(format!("ID has unexpected type: {other}"))),
    }
}

/// One refresh of the role.
pub async fn ask(session: &mut Session<'_>, compute: &str, sd: &OpenStackSd) -> Result<Vec<TargetGroup>, String> {
    let hypervisors: Vec<Hypervisor> = session.list(format!("{compute}os-hypervisors/detail"), "hypervisors", "hypervisors_links").await.map_err(|e| match e {
        ListError::Request(e) => e,
        ListError::Read(e) => format!("could not extract hypervisors: {e}"),
    })?;
    Ok(groups(&hypervisors, sd.port))
}

/// A target per hypervisor.
pub fn groups(hypervisors: &[Hypervisor], port: u16) -> Vec<TargetGroup> {
    hypervisors
        .iter()
        .map(|h| {
            let labels = BTreeMap::from([
                ("__meta_openstack_hypervisor_id".to_string(), h.id.clone()),
                ("__meta_openstack_hypervisor_hostname".to_string(), h.hypervisor_hostname.clone()),
                ("__meta_openstack_hypervisor_host_ip".to_string(), h.host_ip.clone()),
                ("__meta_openstack_hypervisor_status".to_string(), h.status.clone()),
                ("__meta_openstack_hypervisor_state".to_string(), h.state.clone()),
                ("__meta_openstack_hypervisor_type".to_string(), h.hypervisor_type.clone()),
            ]);
            group(join_host_port(&h.host_ip, port), labels)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_as_numbers_or_uuids() {
        let hypervisors: Vec<Hypervisor> = serde_json::from_str(
            r#"[{"id": "c48f6247-abe4-4a24-824e-ea39e108874f", "hypervisor_hostname": "host1", "host_ip": "2001:db8::1", "state": "up", "status": "enabled", "hypervisor_type": "QEMU"},
                {"id": 3.0, "hypervisor_hostname": "host2", "host_ip": "10.0.0.2", "state": "down", "status": "disabled", "hypervisor_type": null}]"#,
        )
        .expect("valid");
        let groups = groups(&hypervisors, 9100);
        assert_eq!(groups[0].targets, ["[2001:db8::1]:9100"]);
        assert_eq!(groups[0].labels.get("__meta_openstack_hypervisor_id").map(String::as_str), Some("c48f6247-abe4-4a24-824e-ea39e108874f"));
        assert_eq!(groups[1].labels.get("__meta_openstack_hypervisor_id").map(String::as_str), Some("3"));
        assert!(!groups[1].labels.contains_key("__meta_openstack_hypervisor_type"));
        assert!(serde_json::from_str::<Vec<Hypervisor>>(r#"[{"id": true}]"#).is_err());
    }
}
