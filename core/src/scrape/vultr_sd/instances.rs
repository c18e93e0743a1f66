//! Reads one page of Vultr's instance list (`GET /v2/instances`) as Prometheus reads it
//! through Vultr's Go client (govultr): the instances, and the cursor of the next page
//! (`meta.links.next`, none when empty). Turns instances into targets labelled as Prometheus
//! labels them: one per instance, at its main IP and the entry's port, with the
//! `__meta_vultr_instance_*` labels. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// Between (and around) features and tags, as Prometheus joins them.
const SEPARATOR: &str = ",";

/// One page of the list (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    #[serde(deserialize_with = "null_as_default")]
    pub instances: Vec<Instance>,
    #[serde(deserialize_with = "null_as_default")]
    meta: Meta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Meta {
    #[serde(deserialize_with = "null_as_default")]
    links: Links,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Links {
    #[serde(deserialize_with = "null_as_default")]
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Instance {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    label: String,
    #[serde(deserialize_with = "null_as_default")]
    os: String,
    #[serde(deserialize_with = "null_as_default")]
    os_id: i64,
    #[serde(deserialize_with = "null_as_default")]
    region: String,
    #[serde(deserialize_with = "null_as_default")]
    plan: String,
    #[serde(deserialize_with = "null_as_default")]
    vcpu_count: i64,
    /// MB.
    #[serde(deserialize_with = "null_as_default")]
    ram: i64,
    /// GB.
    #[serde(deserialize_with = "null_as_default")]
    disk: i64,
    /// GB.
    #[serde(deserialize_with = "null_as_default")]
    allowed_bandwidth: i64,
    #[serde(deserialize_with = "null_as_default")]
    main_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    v6_main_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    internal_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    hostname: String,
    #[serde(deserialize_with = "null_as_default")]
    server_status: String,
    #[serde(deserialize_with = "null_as_default")]
    features: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
}

/// A page as the API answers it, or why it cannot be read (Go's decoder's complaint).
pub fn page(answer: &[u8]) -> Result<Page, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("json: cannot unmarshal array into Go value of type govultr.instancesBase".into());
    }
    serde_json::from_slice(answer).map_err(|e| e.to_string())
}

impl Page {
    /// The cursor of the next page, or none when this is the last.
    pub fn next_cursor(&self) -> Option<&str> {
        Some(self.meta.links.next.as_str()).filter(|c| !c.is_empty())
    }
}

/// A group per instance, in list order, with Prometheus' labels.
pub fn groups(instances: &[Instance], port: u16) -> Vec<TargetGroup> {
    let joined = |items: &[String]| format!("{SEPARATOR}{}{SEPARATOR}", items.join(SEPARATOR));
    instances
        .iter()
        .map(|i| {
            let mut labels = BTreeMap::from([
                ("__meta_vultr_instance_id".to_string(), i.id.clone()),
                ("__meta_vultr_instance_label".to_string(), i.label.clone()),
                ("__meta_vultr_instance_os".to_string(), i.os.clone()),
                ("__meta_vultr_instance_os_id".to_string(), i.os_id.to_string()),
                ("__meta_vultr_instance_region".to_string(), i.region.clone()),
                ("__meta_vultr_instance_plan".to_string(), i.plan.clone()),
                ("__meta_vultr_instance_vcpu_count".to_string(), i.vcpu_count.to_string()),
                ("__meta_vultr_instance_ram_mb".to_string(), i.ram.to_string()),
                ("__meta_vultr_instance_allowed_bandwidth_gb".to_string(), i.allowed_bandwidth.to_string()),
                ("__meta_vultr_instance_disk_gb".to_string(), i.disk.to_string()),
                ("__meta_vultr_instance_main_ip".to_string(), i.main_ip.clone()),
                ("__meta_vultr_instance_main_ipv6".to_string(), i.v6_main_ip.clone()),
                ("__meta_vultr_instance_internal_ip".to_string(), i.internal_ip.clone()),
                ("__meta_vultr_instance_hostname".to_string(), i.hostname.clone()),
                ("__meta_vultr_instance_server_status".to_string(), i.server_status.clone()),
            ]);
            // With a separator at each end, relabeling regexes need not mind an item's position.
            if !i.features.is_empty() {
                labels.insert("__meta_vultr_instance_features".to_string(), joined(&i.features));
            }
            if !i.tags.is_empty() {
                labels.insert("__meta_vultr_instance_tags".to_string(), joined(&i.tags));
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![join_host_port(&i.main_ip, port)], labels }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The three instances of Prometheus' own test (a VKE node pool; the first with a feature
    /// and tags), as the API lists them.
    pub const INSTANCES: &str = r#"[
      {"id": "dbdbd38c-9884-4c92-95fe-899e50dee717", "os": "Marketplace", "ram": 4096, "disk": 128, "main_ip": "149.28.234.27", "vcpu_count": 2,
       "region": "ewr", "plan": "vhf-2c-4gb", "date_created": "2022-03-10T02:25:30+00:00", "status": "active", "allowed_bandwidth": 3000,
       "netmask_v4": "255.255.254.0", "gateway_v4": "149.28.234.1", "power_status": "running", "server_status": "ok", "v6_network": "",
       "v6_main_ip": "", "v6_network_size": 0, "label": "np-2-eae38a19b0f3", "internal_ip": "10.1.96.5", "kvm": "https://my.vultr.com/subs/vps/novnc/api.php?data=x",
       "hostname": "np-2-eae38a19b0f3", "os_id": 426, "app_id": 0, "image_id": "vke-worker", "firewall_group_id": "", "features": ["backups"], "tags": ["tag1", "tag2", "tag3"]},
      {"id": "fccb117c-62f7-4b17-995d-a8e56dd30b33", "os": "Marketplace", "ram": 4096, "disk": 128, "main_ip": "45.63.1.222", "vcpu_count": 2,
       "region": "ewr", "plan": "vhf-2c-4gb", "status": "active", "allowed_bandwidth": 3000, "power_status": "running", "server_status": "ok",
       "v6_main_ip": "", "label": "np-2-fd0714b5fe42", "internal_ip": "10.1.96.6", "hostname": "np-2-fd0714b5fe42", "os_id": 426, "features": [], "tags": []},
      {"id": "c4e58767-f61b-4c5e-9bce-43761cc04868", "os": "Marketplace", "ram": 4096, "disk": 128, "main_ip": "149.28.237.151", "vcpu_count": 2,
       "region": "ewr", "plan": "vhf-2c-4gb", "status": "active", "allowed_bandwidth": 3000, "power_status": "running", "server_status": "ok",
       "v6_main_ip": "", "label": "np-2-d04e7829fa43", "internal_ip": "10.1.96.7", "hostname": "np-2-d04e7829fa43", "os_id": 426, "features": null, "tags": null}
    ]"#;

    /// The labels Prometheus' test expects for its three instances (less its empty values,
    /// which are no labels), by instance number.
    pub fn expected(instance: usize) -> BTreeMap<String, String> {
        let (id, label, main_ip, internal_ip) = match instance {
            1 => ("dbdbd38c-9884-4c92-95fe-899e50dee717", "np-2-eae38a19b0f3", "149.28.234.27", "10.1.96.5"),
            2 => ("fccb117c-62f7-4b17-995d-a8e56dd30b33", "np-2-fd0714b5fe42", "45.63.1.222", "10.1.96.6"),
            _ => ("c4e58767-f61b-4c5e-9bce-43761cc04868", "np-2-d04e7829fa43", "149.28.237.151", "10.1.96.7"),
        };
        let mut labels: BTreeMap<String, String> = [
            ("__meta_vultr_instance_id", id),
            ("__meta_vultr_instance_label", label),
            ("__meta_vultr_instance_os", "Marketplace"),
            ("__meta_vultr_instance_os_id", "426"),
            ("__meta_vultr_instance_region", "ewr"),
            ("__meta_vultr_instance_plan", "vhf-2c-4gb"),
            ("__meta_vultr_instance_main_ip", main_ip),
            ("__meta_vultr_instance_internal_ip", internal_ip),
            ("__meta_vultr_instance_hostname", label),
            ("__meta_vultr_instance_server_status", "ok"),
            ("__meta_vultr_instance_vcpu_count", "2"),
            ("__meta_vultr_instance_ram_mb", "4096"),
            ("__meta_vultr_instance_disk_gb", "128"),
            ("__meta_vultr_instance_allowed_bandwidth_gb", "3000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if instance == 1 {
            labels.insert("__meta_vultr_instance_features".to_string(), ",backups,".to_string());
            labels.insert("__meta_vultr_instance_tags".to_string(), ",tag1,tag2,tag3,".to_string());
        }
        labels
    }

    #[test]
    fn instances_become_the_targets_and_labels_prometheus_makes() {
        let page = page(format!(r#"{{"instances": {INSTANCES}, "meta": {{"total": 3, "links": {{"next": "", "prev": ""}}}}}}"#).as_bytes()).expect("a valid page");
        assert_eq!(page.next_cursor(), None);
        let groups = groups(&page.instances, 80);
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["149.28.234.27:80", "45.63.1.222:80", "149.28.237.151:80"]);
        for (i, group) in groups.iter().enumerate() {
            assert_eq!(group.labels, expected(i + 1), "instance {}", i + 1);
        }
    }

    #[test]
    fn odd_instances_and_pages_are_read_as_go_reads_them() {
        let page = page(br#"{"instances": [{"id": "a", "main_ip": "", "v6_main_ip": "2001:db8::1", "os_id": null}], "meta": {"links": {"next": "bmV4dA=="}}}"#).expect("valid");
        assert_eq!(page.next_cursor(), Some("bmV4dA=="));
        let groups = groups(&page.instances, 9100);
        // No main IP: an empty host, as Prometheus joins it (every instance is a target).
        assert_eq!(groups[0].targets, [":9100"]);
        assert_eq!(groups[0].labels.get("__meta_vultr_instance_main_ipv6").map(String::as_str), Some("2001:db8::1"));
        assert_eq!(groups[0].labels.get("__meta_vultr_instance_os_id").map(String::as_str), Some("0"));
        for no_next in [r#"{"instances": []}"#, r#"{"instances": null, "meta": null}"#, r#"{"meta": {"links": null}}"#] {
            assert_eq!(super::page(no_next.as_bytes()).expect(no_next).next_cursor(), None, "{no_next}");
        }
        assert!(super::page(b"[]").is_err() && super::page(br#"{"instances": [{"ram": "x"}]}"#).is_err());
    }
}
