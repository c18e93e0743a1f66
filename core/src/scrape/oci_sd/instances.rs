//! Reads OCI's answers as Prometheus reads them through OCI's Go SDK (compute instances,
//! VNIC attachments, VNICs, compartments: JSON lists and objects in camelCase) and turns an
//! instance with its primary VNIC into the target Prometheus makes: at the VNIC's private
//! IP, else its public IP, else its first IPv6 address, with the `__meta_oci_*` labels.
//! Pure: no I/O.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default, sanitize_label_name};

/// A compute instance (the fields used); a missing or `null` field is Go's nil.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Instance {
    pub id: Option<String>,
    display_name: Option<String>,
    shape: Option<String>,
    availability_domain: Option<String>,
    fault_domain: Option<String>,
    region: Option<String>,
    pub compartment_id: Option<String>,
    image_id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    lifecycle_state: String,
    #[serde(deserialize_with = "null_as_default")]
    freeform_tags: BTreeMap<String, String>,
    #[serde(deserialize_with = "null_as_default")]
    defined_tags: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
}

/// A VNIC attachment: which VNIC, and whether it is attached now.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct VnicAttachment {
    pub vnic_id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    lifecycle_state: String,
}

impl VnicAttachment {
    /// Whether its VNIC is attached (only those are looked at, as Prometheus does).
    pub fn attached(&self) -> bool {
        self.lifecycle_state == "ATTACHED"
    }
}

/// A VNIC (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Vnic {
    id: Option<String>,
    is_primary: Option<bool>,
    private_ip: Option<String>,
    public_ip: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    ipv6_addresses: Vec<String>,
    hostname_label: Option<String>,
}

impl Vnic {
    /// Whether this is its instance's primary VNIC.
    pub fn is_primary(&self) -> bool {
        self.is_primary == Some(true)
    }
}

/// A compartment: its OCID and whether it is active.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Compartment {
    pub id: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    lifecycle_state: String,
}

impl Compartment {
    /// Whether it is active (only those are walked, as Prometheus does).
    pub fn active(&self) -> bool {
        self.lifecycle_state == "ACTIVE"
    }
}

/// What an instance's target takes from its primary VNIC.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PrimaryVnic {
    pub id: String,
    pub private_ip: String,
    pub public_ip: String,
    /// Sorted: OCI gives them in no stable order.
    pub ipv6_addresses: Vec<String>,
    pub hostname_label: String,
}

impl From<Vnic> for PrimaryVnic {
    fn from(vnic: Vnic) -> PrimaryVnic {
        let mut ipv6_addresses = vnic.ipv6_addresses;
        ipv6_addresses.sort();
        PrimaryVnic {
            id: vnic.id.unwrap_or_default(),
            private_ip: vnic.private_ip.unwrap_or_default(),
            public_ip: vnic.public_ip.unwrap_or_default(),
            ipv6_addresses,
            hostname_label: vnic.hostname_label.unwrap_or_default(),
        }
    }
}

impl PrimaryVnic {
    /// Whether it has an address to scrape (Prometheus drops an instance without one).
    pub fn has_address(&self) -> bool {
        !self.private_ip.is_empty() || !self.public_ip.is_empty() || !self.ipv6_addresses.is_empty()
    }
}

/// A JSON list answer (`what` names it in the error).
pub fn list<T: DeserializeOwned>(answer: &[u8], what: &str) -> Result<Vec<T>, String> {
    serde_json::from_slice::<Option<Vec<T>>>(answer).map(Option::unwrap_or_default).map_err(|e| format!("cannot read the {what}: {e}"))
}

/// A JSON object answer (`what` names it in the error).
pub fn object<T: DeserializeOwned>(answer: &[u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(answer).map_err(|e| format!("cannot read the {what}: {e}"))
}

/// The target of `instance` at `vnic`'s address and `port`, with Prometheus' labels
/// (`tenancy` is the entry's tenancy OCID).
pub fn target(instance: &Instance, vnic: &PrimaryVnic, tenancy: &str, port: u16) -> TargetGroup {
    let host = [&vnic.private_ip, &vnic.public_ip].into_iter().find(|ip| !ip.is_empty()).or(vnic.ipv6_addresses.first()).map(String::as_str).unwrap_or("");
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let mut labels = BTreeMap::from([
        ("__meta_oci_instance_id".to_string(), text(&instance.id)),
        ("__meta_oci_instance_name".to_string(), text(&instance.display_name)),
        ("__meta_oci_instance_state".to_string(), instance.lifecycle_state.clone()),
        ("__meta_oci_instance_shape".to_string(), text(&instance.shape)),
        ("__meta_oci_availability_domain".to_string(), text(&instance.availability_domain)),
        ("__meta_oci_fault_domain".to_string(), text(&instance.fault_domain)),
        ("__meta_oci_region".to_string(), text(&instance.region)),
        ("__meta_oci_tenancy_id".to_string(), tenancy.to_string()),
        ("__meta_oci_compartment_id".to_string(), text(&instance.compartment_id)),
        ("__meta_oci_image_id".to_string(), text(&instance.image_id)),
        ("__meta_oci_vnic_id".to_string(), vnic.id.clone()),
        ("__meta_oci_private_ip".to_string(), vnic.private_ip.clone()),
        ("__meta_oci_public_ip".to_string(), vnic.public_ip.clone()),
        ("__meta_oci_hostname_label".to_string(), vnic.hostname_label.clone()),
        // Commas around every address, so that a relabeling regex `.*,<address>,.*` matches
        // the first and the last too.
        ("__meta_oci_ipv6_addresses".to_string(), if vnic.ipv6_addresses.is_empty() { String::new() } else { format!(",{},", vnic.ipv6_addresses.join(",")) }),
    ]);
    for (key, value) in &instance.freeform_tags {
        labels.insert(format!("__meta_oci_tag_{}", sanitize_label_name(key)), value.clone());
    }
    for (namespace, tags) in &instance.defined_tags {
        for (key, value) in tags {
            if let Some(value) = defined_tag_text(value) {
                labels.insert(format!("__meta_oci_defined_tag_{}_{}", sanitize_label_name(namespace), sanitize_label_name(key)), value);
            }
        }
    }
    // An empty value is no label (Prometheus drops them when it builds the target).
    labels.retain(|_, v| !v.is_empty());
    TargetGroup { targets: vec![join_host_port(host, port)], labels }
}

/// A defined tag's value as a label value: a string as it is, a boolean or a number as Go
/// writes them (the SDK reads a number as a float64, written without exponent); a list, an
/// object or `null` is none.
fn defined_tag_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(text) => Some(text.clone()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        // Rust writes an f64 as Go's `FormatFloat(f, 'f', -1, 64)` does: the shortest
        // digits that read back the same, never an exponent.
        serde_json::Value::Number(n) => n.as_f64().map(|f| f.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANCY: &str = "ocid1.tenancy.oc1..test001";

    /// Prometheus' test instance (its `makeInstance`), as the API answers it, with `tags`
    /// (its `freeformTags` and `definedTags`; empty ones when "").
    fn instance(tags: &str) -> Instance {
        let tags = if tags.is_empty() { r#""freeformTags": {}, "definedTags": {}"# } else { tags };
        let json = format!(
            r#"{{"id": "ocid1.instance.oc1.iad.aaa001", "displayName": "test-instance-1", "shape": "VM.Standard.E4.Flex",
                "availabilityDomain": "US-ASHBURN-AD-1", "faultDomain": "FAULT-DOMAIN-1", "imageId": "ocid1.image.oc1.iad.img001",
                "region": "us-ashburn-1", "compartmentId": "ocid1.compartment.oc1..comp001", "lifecycleState": "RUNNING",
                "timeCreated": "2024-01-01T00:00:00.000Z", {tags}}}"#
        );
        object(json.as_bytes(), "instance").expect("a valid instance")
    }

    fn vnic(id: &str, private_ip: &str, public_ip: &str) -> PrimaryVnic {
        PrimaryVnic { id: id.into(), private_ip: private_ip.into(), public_ip: public_ip.into(), ..PrimaryVnic::default() }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn an_instance_has_prometheus_core_labels_at_its_private_ip() {
        let group = target(&instance(""), &vnic("ocid1.vnic.oc1..v001", "10.0.0.5", "203.0.113.1"), TENANCY, 9100);
        assert_eq!(group.targets, ["10.0.0.5:9100"]);
        assert_eq!(
            group.labels,
            labels(&[
                ("__meta_oci_instance_id", "ocid1.instance.oc1.iad.aaa001"),
                ("__meta_oci_instance_name", "test-instance-1"),
                ("__meta_oci_instance_state", "RUNNING"),
                ("__meta_oci_instance_shape", "VM.Standard.E4.Flex"),
                ("__meta_oci_availability_domain", "US-ASHBURN-AD-1"),
                ("__meta_oci_fault_domain", "FAULT-DOMAIN-1"),
                ("__meta_oci_region", "us-ashburn-1"),
                ("__meta_oci_tenancy_id", TENANCY),
                ("__meta_oci_compartment_id", "ocid1.compartment.oc1..comp001"),
                ("__meta_oci_image_id", "ocid1.image.oc1.iad.img001"),
                ("__meta_oci_vnic_id", "ocid1.vnic.oc1..v001"),
                ("__meta_oci_private_ip", "10.0.0.5"),
                ("__meta_oci_public_ip", "203.0.113.1"),
            ])
        );
        for port in [80, 9100, 9182, 443] {
            assert_eq!(target(&instance(""), &vnic("v", "10.0.0.1", ""), "tenancy", port).targets, [format!("10.0.0.1:{port}")]);
        }
    }

    #[test]
    fn the_address_falls_back_to_the_public_ip_then_the_first_sorted_ipv6() {
        assert_eq!(target(&instance(""), &vnic("v", "", "203.0.113.1"), "tenancy", 80).targets, ["203.0.113.1:80"]);
        let answer = br#"{"id": "ocid1.vnic.oc1..v001", "isPrimary": true, "ipv6Addresses": ["2001:db8::2", "2001:db8::1"], "hostnameLabel": "web-1"}"#;
        let ipv6_only = PrimaryVnic::from(object::<Vnic>(answer, "VNIC").expect("valid"));
        assert!(ipv6_only.has_address());
        let group = target(&instance(""), &ipv6_only, TENANCY, 9100);
        assert_eq!(group.targets, ["[2001:db8::1]:9100"]);
        assert_eq!(group.labels.get("__meta_oci_ipv6_addresses").map(String::as_str), Some(",2001:db8::1,2001:db8::2,"));
        assert_eq!(group.labels.get("__meta_oci_hostname_label").map(String::as_str), Some("web-1"));
        // Without IPv6 addresses or a hostname label both are empty: no label.
        let plain = target(&instance(""), &vnic("v", "10.0.0.1", ""), "tenancy", 80);
        assert!(!plain.labels.contains_key("__meta_oci_ipv6_addresses") && !plain.labels.contains_key("__meta_oci_hostname_label"));
        assert!(!PrimaryVnic::default().has_address());
    }

    #[test]
    fn freeform_tags_keep_their_case_and_defined_tags_stringify_scalars() {
        let tagged = instance(
            r#""freeformTags": {"environment": "production", "My-Tag.Key": "value", "123numeric": "v", "Env": "upper", "env": "lower"},
                "definedTags": {"Oracle-Tags": {"CreatedBy": "user@example.com", "CostCenter": "42", "FloatValue": 100, "DecimalRate": 0.5,
                                "BoolValue": true, "IntValue": 7, "NilValue": null, "SliceValue": ["a"], "MapValue": {"a": 1}}}"#,
        );
        let group = target(&tagged, &vnic("v", "10.0.0.1", ""), "tenancy", 80);
        let tags: BTreeMap<&str, &str> = group.labels.iter().filter(|(k, _)| k.contains("tag_")).map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            tags,
            BTreeMap::from([
                ("__meta_oci_tag_environment", "production"),
                ("__meta_oci_tag_My_Tag_Key", "value"),
                ("__meta_oci_tag_123numeric", "v"),
                ("__meta_oci_tag_Env", "upper"),
                ("__meta_oci_tag_env", "lower"),
                ("__meta_oci_defined_tag_Oracle_Tags_CreatedBy", "user@example.com"),
                ("__meta_oci_defined_tag_Oracle_Tags_CostCenter", "42"),
                ("__meta_oci_defined_tag_Oracle_Tags_FloatValue", "100"),
                ("__meta_oci_defined_tag_Oracle_Tags_DecimalRate", "0.5"),
                ("__meta_oci_defined_tag_Oracle_Tags_BoolValue", "true"),
                ("__meta_oci_defined_tag_Oracle_Tags_IntValue", "7"),
            ])
        );
        for (value, expected) in [("3.14", Some("3.14")), ("-9", Some("-9")), ("false", Some("false")), (r#""""#, Some("")), ("1e21", Some("1000000000000000000000"))] {
            let value: serde_json::Value = serde_json::from_str(value).expect("JSON");
            assert_eq!(defined_tag_text(&value).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn missing_fields_are_empty_labels() {
        let bare: Instance = object(br#"{"lifecycleState": "RUNNING", "freeformTags": null, "definedTags": null}"#, "instance").expect("valid");
        let group = target(&bare, &vnic("", "10.0.0.1", ""), "tenancy", 80);
        assert_eq!(group.targets, ["10.0.0.1:80"]);
        assert!(!group.labels.contains_key("__meta_oci_instance_id") && !group.labels.contains_key("__meta_oci_image_id"), "{:?}", group.labels);
        assert_eq!(list::<Instance>(b"null", "instances").map(|l| l.len()), Ok(0));
        assert!(list::<Instance>(b"{}", "instances").is_err());
    }
}
