//! Reads Azure Resource Manager's answers as Prometheus reads them through the Azure SDK:
//! a page of virtual machines, scale sets or scale set VMs (`value`, `nextLink`), a network
//! interface, and resource IDs (`arm.ParseResourceID`'s resource group and name). Turns a
//! machine and its primary network interface into a target labelled as Prometheus labels
//! it. Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::discovery::{join_host_port, null_as_default, sanitize_label_name};

/// One page of a list (`value`, and the next page's URL when there is one).
#[derive(Debug, Deserialize)]
#[serde(default, bound = "T: Deserialize<'de>")]
pub struct Page<T> {
    #[serde(deserialize_with = "null_as_default")]
    pub value: Vec<T>,
    #[serde(rename = "nextLink", deserialize_with = "null_as_default")]
    pub next_link: String,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page { value: Vec::new(), next_link: String::new() }
    }
}

/// A virtual machine, or a scale set's VM (which has an `instanceId`), as listed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct VmAnswer {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    location: String,
    #[serde(rename = "instanceId", deserialize_with = "null_as_default")]
    instance_id: String,
    /// A tag whose value is `null` reads as "".
    #[serde(deserialize_with = "null_as_default")]
    tags: BTreeMap<String, Option<String>>,
    #[serde(deserialize_with = "null_as_default")]
    properties: VmProperties,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VmProperties {
    #[serde(deserialize_with = "null_as_default")]
    hardware_profile: HardwareProfile,
    #[serde(deserialize_with = "null_as_default")]
    storage_profile: StorageProfile,
    #[serde(deserialize_with = "null_as_default")]
    os_profile: OsProfile,
    #[serde(deserialize_with = "null_as_default")]
    network_profile: NetworkProfile,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct HardwareProfile {
    #[serde(deserialize_with = "null_as_default")]
    vm_size: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct StorageProfile {
    #[serde(deserialize_with = "null_as_default")]
    os_disk: OsDisk,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsDisk {
    #[serde(deserialize_with = "null_as_default")]
    os_type: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct OsProfile {
    #[serde(deserialize_with = "null_as_default")]
    computer_name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NetworkProfile {
    #[serde(deserialize_with = "null_as_default")]
    network_interfaces: Vec<Reference>,
}

/// A reference to another resource: its ID.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reference {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
}

/// A scale set, as listed: its ID (for its resource group) and name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ScaleSetAnswer {
    #[serde(deserialize_with = "null_as_default")]
    pub id: String,
    #[serde(deserialize_with = "null_as_default")]
    pub name: String,
}

/// A network interface (the fields used); `properties` is kept absent when the answer has
/// none, as Prometheus then looks at the next interface.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct Nic {
    properties: Option<NicProperties>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct NicProperties {
    /// Absent on a deallocated machine's interface.
    primary: Option<bool>,
    #[serde(deserialize_with = "null_as_default")]
    ip_configurations: Vec<IpConfiguration>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
struct IpConfiguration {
    properties: Option<IpConfigurationProperties>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
struct IpConfigurationProperties {
    #[serde(rename = "privateIPAddress")]
    private_ip_address: Option<String>,
    #[serde(rename = "publicIPAddress")]
    public_ip_address: Option<PublicIp>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default)]
struct PublicIp {
    properties: Option<PublicIpProperties>,
}

#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct PublicIpProperties {
    ip_address: Option<String>,
}

/// A machine as Prometheus keeps it (`virtualMachine`): a VM, or a scale set's VM with its
/// scale set's name and its instance ID.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Machine {
    pub id: String,
    pub name: String,
    pub computer_name: String,
    pub location: String,
    pub os_type: String,
    pub scale_set: String,
    pub instance_id: String,
    pub tags: BTreeMap<String, String>,
    pub network_interfaces: Vec<String>,
    pub size: String,
}

impl Machine {
    /// A VM as listed (`mapFromVM`), or a scale set's VM of `scale_set` (`mapFromVMScaleSetVM`).
    pub fn from_answer(vm: VmAnswer, scale_set: Option<&str>) -> Machine {
        let p = vm.properties;
        Machine {
            id: vm.id,
            name: vm.name,
            computer_name: p.os_profile.computer_name,
            location: vm.location,
            os_type: p.storage_profile.os_disk.os_type,
            scale_set: scale_set.unwrap_or_default().to_string(),
            // A plain VM's instance ID is not read (Prometheus leaves it empty).
            instance_id: if scale_set.is_some() { vm.instance_id } else { String::new() },
            tags: vm.tags.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect(),
            network_interfaces: p.network_profile.network_interfaces.into_iter().map(|r| r.id).collect(),
            size: p.hardware_profile.vm_size,
        }
    }
}

/// What a machine's network interface says about its target.
#[derive(Debug, PartialEq)]
pub enum NicVerdict {
    /// Not the primary one (or no properties): look at the next interface.
    Next,
    /// The machine is deallocated (its interface says nothing of being primary): no target.
    Deallocated,
    /// The primary interface's first IP configuration: the private and any public IP.
    Target { private_ip: String, public_ip: Option<String> },
}

impl Nic {
    /// Whether the interface gives the target, as Prometheus decides: only the primary
    /// interface's first IP configuration counts, and it must have a private IP.
    pub fn verdict(&self, machine_name: &str) -> Result<NicVerdict, String> {
        let Some(properties) = &self.properties else { return Ok(NicVerdict::Next) };
        match properties.primary {
            None => Ok(NicVerdict::Deallocated),
            Some(false) => Ok(NicVerdict::Next),
            Some(true) => {
                let Some(first) = properties.ip_configurations.first() else { return Ok(NicVerdict::Next) };
                let ip = first.properties.as_ref();
                let public_ip = ip.and_then(|p| p.public_ip_address.as_ref()).and_then(|p| p.properties.as_ref()).and_then(|p| p.ip_address.clone());
                match ip.and_then(|p| p.private_ip_address.clone()) {
                    Some(private_ip) => Ok(NicVerdict::Target { private_ip, public_ip }),
                    // Prometheus' words: all the targets or none.
                    None => Err(format!("unable to find a private IP for VM {machine_name}")),
                }
            }
        }
    }
}

/// What every target of an entry is labelled with besides its machine's labels.
pub struct EntryLabels<'a> {
    pub subscription_id: &'a str,
    pub tenant_id: &'a str,
    pub port: u16,
}

/// A machine's labels before its network interfaces are read (`resource_group`: of its ID).
pub fn machine_labels(machine: &Machine, resource_group: &str, entry: &EntryLabels<'_>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("__meta_azure_subscription_id".to_string(), entry.subscription_id.to_string()),
        ("__meta_azure_tenant_id".to_string(), entry.tenant_id.to_string()),
        ("__meta_azure_machine_id".to_string(), machine.id.clone()),
        ("__meta_azure_machine_name".to_string(), machine.name.clone()),
        ("__meta_azure_machine_computer_name".to_string(), machine.computer_name.clone()),
        ("__meta_azure_machine_os_type".to_string(), machine.os_type.clone()),
        ("__meta_azure_machine_location".to_string(), machine.location.clone()),
        ("__meta_azure_machine_resource_group".to_string(), resource_group.to_string()),
        ("__meta_azure_machine_size".to_string(), machine.size.clone()),
    ]);
    if !machine.scale_set.is_empty() {
        labels.insert("__meta_azure_machine_scale_set".to_string(), machine.scale_set.clone());
    }
    for (key, value) in &machine.tags {
        labels.insert(format!("__meta_azure_machine_tag_{}", sanitize_label_name(key)), value.clone());
    }
    labels
}

/// The target's address and IP labels added to `labels` (its machine's), as Prometheus
/// adds them for the primary interface's IPs.
pub fn with_ips(mut labels: BTreeMap<String, String>, private_ip: &str, public_ip: Option<&str>, port: u16) -> (String, BTreeMap<String, String>) {
    if let Some(public_ip) = public_ip {
        labels.insert("__meta_azure_machine_public_ip".to_string(), public_ip.to_string());
    }
    labels.insert("__meta_azure_machine_private_ip".to_string(), private_ip.to_string());
    (join_host_port(private_ip, port), labels)
}

/// The resource group and name of a resource ID, as the Azure SDK's `arm.ParseResourceID`
/// finds them (empty when the ID has none), or its error.
pub fn resource_group_and_name(id: &str) -> Result<(String, String), String> {
    if id.is_empty() {
        return Err("invalid resource ID: id cannot be empty".into());
    }
    if !id.starts_with('/') {
        return Err(format!("invalid resource ID: resource id '{id}' must start with '/'"));
    }
    let parts: Vec<&str> = id.split('/').filter(|p| !p.is_empty()).collect();
    let invalid = || format!("invalid resource ID: {id}");
    if parts.len() < 2 || !(parts[0].eq_ignore_ascii_case("subscriptions") || parts[0].eq_ignore_ascii_case("providers")) {
        return Err(invalid());
    }
    /// The kind of the resource the walk is at, as far as the rules below need it.
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Tenant,
        Subscription,
        ResourceGroup,
        Other,
    }
    let (mut kind, mut resource_group, mut name) = (Kind::Tenant, String::new(), String::new());
    let mut rest = &parts[..];
    while !rest.is_empty() {
        let is = |i: usize, key: &str| rest.get(i).is_some_and(|p| p.eq_ignore_ascii_case(key));
        if rest.len() == 1 {
            // A type without a name: a child of the resource so far, named "".
            if is(0, "subscriptions") || is(0, "resourcegroups") || kind == Kind::ResourceGroup {
                return Err(invalid());
            }
            name = String::new();
            break;
        }
        if is(0, "providers") && (rest.len() == 2 || is(2, "providers")) {
            // A resource provider: only under the tenant or a subscription.
            if kind != Kind::Subscription && kind != Kind::Tenant {
                return Err(invalid());
            }
            (kind, name) = (Kind::Other, rest[1].to_string());
            rest = &rest[2..];
        } else if rest.len() > 3 && is(0, "providers") {
            (kind, name) = (Kind::Other, rest[3].to_string());
            rest = &rest[4..];
        } else if !is(0, "providers") {
            kind = if is(0, "resourcegroups") && kind == Kind::Subscription {
                resource_group = rest[1].to_string();
                Kind::ResourceGroup
            } else if is(0, "subscriptions") && kind == Kind::Tenant {
                Kind::Subscription
            } else {
                Kind::Other
            };
            name = rest[1].to_string();
            rest = &rest[2..];
        } else {
            return Err(invalid());
        }
    }
    Ok((resource_group, name))
}

/// A page of a list as ARM answers it, or why it cannot be read.
pub fn page<T: serde::de::DeserializeOwned>(answer: &[u8]) -> Result<Page<T>, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("a list, not an object".into());
    }
    serde_json::from_slice(answer).map_err(|e| e.to_string())
}

/// A network interface as ARM answers it, or why it cannot be read.
pub fn nic(answer: &[u8]) -> Result<Nic, String> {
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("a list, not an object".into());
    }
    serde_json::from_slice(answer).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NIC_ID: &str = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Network/networkInterfaces/{networkInterfaceName}";

    /// A VM as Prometheus' tests build it (`defaultVMWithIDAndName`), in ARM's JSON.
    fn vm_json(id: &str, name: &str, tags: &str) -> String {
        format!(
            r#"{{"id": "{id}", "name": "{name}", "type": "Microsoft.Compute/virtualMachines", "location": "australiaeast", "tags": {tags},
                "properties": {{"osProfile": {{"computerName": "computer_name"}}, "storageProfile": {{"osDisk": {{"osType": "Linux"}}}},
                                "networkProfile": {{"networkInterfaces": [{{"id": "{NIC_ID}"}}]}}, "hardwareProfile": {{"vmSize": "size"}}}}}}"#
        )
    }

    #[test]
    fn machines_are_read_as_prometheus_maps_them() {
        let vm: VmAnswer = serde_json::from_str(&vm_json("test", "name", "null")).expect("valid");
        let machine = Machine::from_answer(vm, None);
        assert_eq!(
            machine,
            Machine {
                id: "test".into(),
                name: "name".into(),
                computer_name: "computer_name".into(),
                location: "australiaeast".into(),
                os_type: "Linux".into(),
                network_interfaces: vec![NIC_ID.into()],
                size: "size".into(),
                ..Machine::default()
            }
        );
        // A scale set VM keeps its scale set and instance ID; no OS type and a null tag read as "".
        let vm: VmAnswer = serde_json::from_str(r#"{"id": "test", "name": "name", "instanceId": "123", "tags": {"prometheus": null, "env": "prod"},
            "properties": {"storageProfile": {"osDisk": {}}, "networkProfile": {"networkInterfaces": []}}}"#)
        .expect("valid");
        let machine = Machine::from_answer(vm, Some("testSet"));
        assert_eq!((machine.scale_set.as_str(), machine.instance_id.as_str(), machine.os_type.as_str()), ("testSet", "123", ""));
        assert_eq!(machine.tags, BTreeMap::from([("env".to_string(), "prod".to_string()), ("prometheus".to_string(), String::new())]));
        assert!(machine.network_interfaces.is_empty());
        // Every optional part absent or null.
        let bare: VmAnswer = serde_json::from_str(r#"{"id": "x", "properties": null, "tags": null}"#).expect("valid");
        assert_eq!(Machine::from_answer(bare, None), Machine { id: "x".into(), ..Machine::default() });
    }

    #[test]
    fn a_machine_with_its_primary_interface_has_prometheus_labels() {
        // Prometheus' TestVMToLabelSet: 11 labels for a VM without tags or scale set.
        let vm: VmAnswer = serde_json::from_str(&vm_json("/subscriptions/00000000-0000-0000-0000-000000000000/test", "name", "null")).expect("valid");
        let machine = Machine::from_answer(vm, None);
        let (group, _) = resource_group_and_name(&machine.id).expect("valid ID");
        let entry = EntryLabels { subscription_id: "", tenant_id: "", port: 80 };
        let nic = nic(br#"{"id": "n", "name": "n", "properties": {"primary": true, "ipConfigurations": [{"properties": {"privateIPAddress": "10.20.30.40"}}]}}"#).expect("valid");
        let NicVerdict::Target { private_ip, public_ip } = nic.verdict(&machine.name).expect("a target") else { panic!("not a target") };
        let (address, labels) = with_ips(machine_labels(&machine, &group, &entry), &private_ip, public_ip.as_deref(), entry.port);
        assert_eq!(address, "10.20.30.40:80");
        // Prometheus counts __address__ among its 11; here the address is the target itself.
        assert_eq!(labels.len() + 1, 11, "{labels:?}");
        assert_eq!(labels.get("__meta_azure_machine_resource_group").map(String::as_str), Some(""));

        let tagged: VmAnswer = serde_json::from_str(&vm_json("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm", "vm", r#"{"env.name": "prod", "prometheus": ""}"#)).expect("valid");
        let machine = Machine::from_answer(tagged, Some("ss"));
        let labels = machine_labels(&machine, "rg", &EntryLabels { subscription_id: "s", tenant_id: "t", port: 9100 });
        assert_eq!(labels.get("__meta_azure_machine_tag_env_name").map(String::as_str), Some("prod"));
        assert_eq!(labels.get("__meta_azure_machine_tag_prometheus").map(String::as_str), Some(""));
        assert_eq!(labels.get("__meta_azure_machine_scale_set").map(String::as_str), Some("ss"));
        let (address, labels) = with_ips(labels, "fd00::5", Some("203.0.113.9"), 9100);
        assert_eq!(address, "[fd00::5]:9100");
        assert_eq!(labels.get("__meta_azure_machine_public_ip").map(String::as_str), Some("203.0.113.9"));
    }

    #[test]
    fn interfaces_decide_the_target_as_prometheus_does() {
        let verdict = |json: &str| nic(json.as_bytes()).expect("valid").verdict("vm1");
        assert_eq!(verdict(r#"{"id": "n"}"#), Ok(NicVerdict::Next), "no properties: the next interface");
        assert_eq!(verdict(r#"{"properties": {"ipConfigurations": []}}"#), Ok(NicVerdict::Deallocated));
        assert_eq!(verdict(r#"{"properties": {"primary": null}}"#), Ok(NicVerdict::Deallocated));
        assert_eq!(verdict(r#"{"properties": {"primary": false, "ipConfigurations": [{"properties": {"privateIPAddress": "10.0.0.2"}}]}}"#), Ok(NicVerdict::Next));
        assert_eq!(verdict(r#"{"properties": {"primary": true, "ipConfigurations": []}}"#), Ok(NicVerdict::Next));
        assert_eq!(
            verdict(r#"{"properties": {"primary": true, "ipConfigurations": [
                {"properties": {"privateIPAddress": "10.0.0.1", "publicIPAddress": {"id": "p", "properties": {"ipAddress": "203.0.113.1"}}}},
                {"properties": {"privateIPAddress": "10.0.0.9"}}]}}"#),
            Ok(NicVerdict::Target { private_ip: "10.0.0.1".into(), public_ip: Some("203.0.113.1".into()) }),
            "the first IP configuration only"
        );
        // A public IP not expanded (no properties) is no label.
        assert_eq!(
            verdict(r#"{"properties": {"primary": true, "ipConfigurations": [{"properties": {"privateIPAddress": "10.0.0.1", "publicIPAddress": {"id": "p"}}}]}}"#),
            Ok(NicVerdict::Target { private_ip: "10.0.0.1".into(), public_ip: None })
        );
        assert_eq!(verdict(r#"{"properties": {"primary": true, "ipConfigurations": [{"properties": {}}]}}"#), Err("unable to find a private IP for VM vm1".into()));
        assert_eq!(verdict(r#"{"properties": {"primary": true, "ipConfigurations": [{}]}}"#), Err("unable to find a private IP for VM vm1".into()));
        assert!(nic(b"[]").is_err() && nic(b"{\"properties\": 3}").is_err());
    }

    #[test]
    fn resource_ids_give_their_group_and_name_as_the_sdk_parses_them() {
        // Prometheus' TestNewAzureResourceFromID, and more shapes the SDK takes or refuses.
        for (id, group, name) in [
            ("/subscriptions/SUBSCRIPTION_ID/resourceGroups/group/providers/PROVIDER/TYPE/name", "group", "name"),
            ("/subscriptions/SUBSCRIPTION_ID/resourceGroups/group/providers/PROVIDER/TYPE/name/TYPE/h", "group", "h"),
            ("/subscriptions/s/resourcegroups/RG/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/networkInterfaces/nic0", "RG", "nic0"),
            ("/subscriptions/00000000-0000-0000-0000-000000000000/test", "", ""),
            ("/subscriptions/s", "", "s"),
            ("/subscriptions/s/providers/Microsoft.Insights", "", "Microsoft.Insights"),
            ("/providers/Microsoft.Compute/x/y", "", "y"),
            ("//subscriptions//s//resourceGroups/g/", "g", "g"),
        ] {
            assert_eq!(resource_group_and_name(id), Ok((group.to_string(), name.to_string())), "{id}");
        }
        for (id, error) in [
            ("", "invalid resource ID: id cannot be empty"),
            ("test", "invalid resource ID: resource id 'test' must start with '/'"),
            ("/subscriptions", "invalid resource ID: /subscriptions"),
            ("/resourceGroups/g", "invalid resource ID: /resourceGroups/g"),
            ("/subscriptions/s/resourceGroups", "invalid resource ID: /subscriptions/s/resourceGroups"),
            ("/subscriptions/s/resourceGroups/g/x", "invalid resource ID: /subscriptions/s/resourceGroups/g/x"),
            ("/subscriptions/s/resourceGroups/g/providers/P", "invalid resource ID: /subscriptions/s/resourceGroups/g/providers/P"),
        ] {
            assert_eq!(resource_group_and_name(id), Err(error.to_string()), "{id}");
        }
    }

    #[test]
    fn pages_are_read_with_their_next_link() {
        let first: Page<ScaleSetAnswer> = page(br#"{"value": [{"id": "/s", "name": "ss1"}], "nextLink": "https://management.azure.com/next?x=1"}"#).expect("valid");
        assert_eq!((first.value.len(), first.value[0].name.as_str(), first.next_link.as_str()), (1, "ss1", "https://management.azure.com/next?x=1"));
        let last: Page<ScaleSetAnswer> = page(br#"{"value": null, "nextLink": null}"#).expect("valid");
        assert!(last.value.is_empty() && last.next_link.is_empty());
        assert!(page::<ScaleSetAnswer>(b"[]").is_err() && page::<ScaleSetAnswer>(b"{\"value\": 1}").is_err());
    }
}
