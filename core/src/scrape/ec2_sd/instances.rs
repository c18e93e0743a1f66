//! Turns the XML answers of the EC2 Query API (version 2016-11-15) into the targets of
//! `ec2_sd_configs`, labelled as Prometheus' EC2 discovery labels them (`read_instances`), and
//! reads the zone name to zone ID map of a `DescribeAvailabilityZones` answer (error answers
//! are read by `aws::xml_error`). Elements are read as the AWS SDK's decoder reads them; where
//! Prometheus would dereference a `nil` and panic, the value reads as "" or the part is skipped.

use std::collections::{BTreeMap, HashMap, HashSet};

use roxmltree::{Document, Node};

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

const AMI: &str = "__meta_ec2_ami";
const ARCHITECTURE: &str = "__meta_ec2_architecture";
const AVAILABILITY_ZONE: &str = "__meta_ec2_availability_zone";
const AVAILABILITY_ZONE_ID: &str = "__meta_ec2_availability_zone_id";
const DEFAULT_IPV6_ADDRESS: &str = "__meta_ec2_default_ipv6_address";
const INSTANCE_ID: &str = "__meta_ec2_instance_id";
const INSTANCE_LIFECYCLE: &str = "__meta_ec2_instance_lifecycle";
const INSTANCE_STATE: &str = "__meta_ec2_instance_state";
const INSTANCE_TYPE: &str = "__meta_ec2_instance_type";
const IPV6_ADDRESSES: &str = "__meta_ec2_ipv6_addresses";
const OWNER_ID: &str = "__meta_ec2_owner_id";
const PLATFORM: &str = "__meta_ec2_platform";
const PRIMARY_IPV6_ADDRESSES: &str = "__meta_ec2_primary_ipv6_addresses";
const PRIMARY_SUBNET_ID: &str = "__meta_ec2_primary_subnet_id";
const PRIVATE_DNS_NAME: &str = "__meta_ec2_private_dns_name";
const PRIVATE_IP: &str = "__meta_ec2_private_ip";
const PUBLIC_DNS_NAME: &str = "__meta_ec2_public_dns_name";
const PUBLIC_IP: &str = "__meta_ec2_public_ip";
const REGION: &str = "__meta_ec2_region";
const SUBNET_ID: &str = "__meta_ec2_subnet_id";
const TAG_PREFIX: &str = "__meta_ec2_tag_";
const VPC_ID: &str = "__meta_ec2_vpc_id";

/// Written before, between and after the values of the list labels (`,a,b,`).
const LIST_SEPARATOR: &str = ",";

/// The root element of each answer read here.
const DESCRIBE_INSTANCES_ROOT: &str = "DescribeInstancesResponse";
const DESCRIBE_ZONES_ROOT: &str = "DescribeAvailabilityZonesResponse";

/// The largest network interface device index that places a primary IPv6 address. Real
/// indexes are small; Prometheus grows its list up to any index, so a hostile answer could
/// make it allocate gigabytes. A primary address on a larger index is kept only in the list
/// of all addresses.
const DEVICE_INDEX_MAX: usize = 1024;

/// One page of a DescribeInstances answer: a target group per usable instance (one that has a
/// private IPv4 address or, in a VPC, an IPv6 address), in answer order, and the `nextToken`
/// to ask for the next page (None, or an empty element, when it was the last).
///
/// A group's `targets` is the instance's address (private IPv4, else its default IPv6 address,
/// on `port`); its `labels` are the `__meta_ec2_*` labels. `region` is the `__meta_ec2_region`
/// value; `zone_ids` maps zone names to zone IDs for `__meta_ec2_availability_zone_id` (which
/// is "" for a zone it lacks, and for every zone when it is `None`).
pub fn read_instances(xml: &str, region: &str, port: u16, zone_ids: Option<&HashMap<String, String>>) -> Result<(Vec<TargetGroup>, Option<String>), String> {
    let document = parse_answer(xml, DESCRIBE_INSTANCES_ROOT, "DescribeInstances")?;
    let root = document.root_element();

    let mut groups = Vec::new();
    for reservation in list_items(root, "reservationSet") {
        let owner_id = child_text(reservation, "ownerId");
        for instance_node in list_items(reservation, "instancesSet") {
            let instance = Instance::read(instance_node);
            if let Some(group) = instance_group(&instance, owner_id.as_deref(), region, port, zone_ids) {
                groups.push(group);
            }
        }
    }

    let next_token = child_text(root, "nextToken").filter(|token| !token.is_empty());
    Ok((groups, next_token))
}

/// A DescribeAvailabilityZones answer: zone name -> zone ID (e.g. "eu-west-2a" -> "euw2-az2"); zones missing either are skipped.
pub fn read_zone_ids(xml: &str) -> Result<HashMap<String, String>, String> {
    let document = parse_answer(xml, DESCRIBE_ZONES_ROOT, "DescribeAvailabilityZones")?;
    let mut zone_ids = HashMap::new();
    for zone in list_items(document.root_element(), "availabilityZoneInfo") {
        if let (Some(name), Some(id)) = (child_text(zone, "zoneName"), child_text(zone, "zoneId")) {
            zone_ids.insert(name, id);
        }
    }
    Ok(zone_ids)
}

/// Parses `xml` and checks that its root element is `root_name`; `operation` names the
/// answer in the error.
fn parse_answer<'input>(xml: &'input str, root_name: &str, operation: &str) -> Result<Document<'input>, String> {
    let document = Document::parse(xml).map_err(|e| format!("{operation} answer is not XML: {e}"))?;
    let root = document.root_element();
    if !has_name(root, root_name) {
        return Err(format!("not a {operation} answer: root element <{}>", root.tag_name().name()));
    }
    Ok(document)
}

/// The fields of one `instancesSet/item` that the labels read. `None` is an absent element
/// (Go's `nil`); the SDK's enum fields (state, type, platform, architecture, lifecycle) read
/// an absent element as "", as Go does.
#[derive(Debug)]
struct Instance {
    instance_id: Option<String>,
    image_id: Option<String>,
    state: String,
    private_dns_name: Option<String>,
    public_dns_name: Option<String>,
    instance_type: String,
    availability_zone: Option<String>,
    platform: String,
    subnet_id: Option<String>,
    vpc_id: Option<String>,
    private_ip: Option<String>,
    public_ip: Option<String>,
    architecture: String,
    lifecycle: String,
    network_interfaces: Vec<NetworkInterface>,
    /// Only the tags with both a key and a value element (Prometheus skips the others).
    tags: Vec<(String, String)>,
}

/// One `networkInterfaceSet/item` of an instance.
#[derive(Debug)]
struct NetworkInterface {
    subnet_id: Option<String>,
    /// `attachment/deviceIndex`; `None` when absent or not an integer.
    device_index: Option<i64>,
    ipv6_addresses: Vec<Ipv6Address>,
}

/// One `ipv6AddressesSet/item` of a network interface.
#[derive(Debug)]
struct Ipv6Address {
    address: Option<String>,
    /// `isPrimaryIpv6` as Go's `strconv.ParseBool` reads it. Prometheus panics when the
    /// element is absent; here that (and a value that is not a boolean) reads as false.
    is_primary: bool,
}

impl Instance {
    fn read(node: Node) -> Self {
        let network_interfaces = list_items(node, "networkInterfaceSet")
            .map(|interface| NetworkInterface {
                subnet_id: child_text(interface, "subnetId"),
                device_index: child(interface, "attachment").and_then(|attachment| child_text(attachment, "deviceIndex")).and_then(|index| index.parse().ok()),
                ipv6_addresses: list_items(interface, "ipv6AddressesSet")
                    .map(|address| Ipv6Address {
                        address: child_text(address, "ipv6Address"),
                        is_primary: child_text(address, "isPrimaryIpv6").is_some_and(|value| go_parse_bool(&value)),
                    })
                    .collect(),
            })
            .collect();
        let tags = list_items(node, "tagSet")
            .filter_map(|tag| Some((child_text(tag, "key")?, child_text(tag, "value")?)))
            .collect();
        Instance {
            instance_id: child_text(node, "instanceId"),
            image_id: child_text(node, "imageId"),
            state: child(node, "instanceState").and_then(|state| child_text(state, "name")).unwrap_or_default(),
            private_dns_name: child_text(node, "privateDnsName"),
            public_dns_name: child_text(node, "dnsName"),
            instance_type: child_text(node, "instanceType").unwrap_or_default(),
            availability_zone: child(node, "placement").and_then(|placement| child_text(placement, "availabilityZone")),
            platform: child_text(node, "platform").unwrap_or_default(),
            subnet_id: child_text(node, "subnetId"),
            vpc_id: child_text(node, "vpcId"),
            private_ip: child_text(node, "privateIpAddress"),
            public_ip: child_text(node, "ipAddress"),
            architecture: child_text(node, "architecture").unwrap_or_default(),
            lifecycle: child_text(node, "instanceLifecycle").unwrap_or_default(),
            network_interfaces,
            tags,
        }
    }
}

/// The IPv6 addresses of an instance's network interfaces, as Prometheus gathers them.
#[derive(Debug, Default)]
struct InstanceIpv6 {
    /// The first non-empty of `primary`, then of `all`.
    default: Option<String>,
    /// Each interface's primary address at the interface's device index ("" where none).
    primary: Vec<String>,
    /// Every address, in answer order.
    all: Vec<String>,
}

/// The instance's IPv6 addresses: none outside a VPC; in a VPC, those of its network
/// interfaces that have a subnet ID.
fn instance_ipv6(instance: &Instance) -> InstanceIpv6 {
    let mut ipv6 = InstanceIpv6::default();
    if instance.vpc_id.is_none() {
        return ipv6;
    }
    for interface in instance.network_interfaces.iter().filter(|interface| interface.subnet_id.is_some()) {
        for entry in &interface.ipv6_addresses {
            // Prometheus panics on an item without an address; here the item is skipped.
            let Some(address) = &entry.address else {
                continue;
            };
            ipv6.all.push(address.clone());
            if !entry.is_primary {
                continue;
            }
            // Prometheus panics when a primary address's interface has no device index (or a
            // negative one); here the address is then only in `all`, as it is past the cap.
            let Some(index) = interface.device_index.and_then(|index| usize::try_from(index).ok()).filter(|&index| index <= DEVICE_INDEX_MAX) else {
                continue;
            };
            if ipv6.primary.len() <= index {
                ipv6.primary.resize(index + 1, String::new());
            }
            if let Some(slot) = ipv6.primary.get_mut(index) {
                *slot = address.clone();
            }
        }
    }
    ipv6.default = ipv6.primary.iter().chain(&ipv6.all).find(|address| !address.is_empty()).cloned();
    ipv6
}

/// The target group of one instance, or `None` when it has neither a private IPv4 address
/// nor a default IPv6 address. `owner_id` is its reservation's.
fn instance_group(instance: &Instance, owner_id: Option<&str>, region: &str, port: u16, zone_ids: Option<&HashMap<String, String>>) -> Option<TargetGroup> {
    let ipv6 = instance_ipv6(instance);
    let address = match (&instance.private_ip, &ipv6.default) {
        (Some(private_ip), _) => join_host_port(private_ip, port),
        (None, Some(default_ipv6)) => join_host_port(default_ipv6, port),
        (None, None) => return None,
    };

    let mut labels = BTreeMap::new();
    let mut set = |name: &str, value: &str| {
        labels.insert(name.to_string(), value.to_string());
    };
    // Prometheus panics on an instance without an ID or an image ID; here they read as "".
    set(INSTANCE_ID, instance.instance_id.as_deref().unwrap_or_default());
    set(REGION, region);
    if let Some(owner_id) = owner_id {
        set(OWNER_ID, owner_id);
    }
    if let Some(default_ipv6) = &ipv6.default {
        set(DEFAULT_IPV6_ADDRESS, default_ipv6);
    }
    if let Some(private_ip) = &instance.private_ip {
        set(PRIVATE_IP, private_ip);
    }
    if let Some(private_dns_name) = &instance.private_dns_name {
        set(PRIVATE_DNS_NAME, private_dns_name);
    }
    if !instance.platform.is_empty() {
        set(PLATFORM, &instance.platform);
    }
    if let Some(public_ip) = &instance.public_ip {
        set(PUBLIC_IP, public_ip);
        // Prometheus panics on a public IP without a public DNS name; here the name is "".
        set(PUBLIC_DNS_NAME, instance.public_dns_name.as_deref().unwrap_or_default());
    }
    if !ipv6.primary.is_empty() {
        set(PRIMARY_IPV6_ADDRESSES, &wrapped_list(&ipv6.primary));
    }
    if !ipv6.all.is_empty() {
        set(IPV6_ADDRESSES, &wrapped_list(&ipv6.all));
    }
    set(AMI, instance.image_id.as_deref().unwrap_or_default());
    // Prometheus panics on an instance without a placement or zone; here the zone (and so its
    // ID, unless the zone list maps "") reads as "".
    let zone = instance.availability_zone.as_deref().unwrap_or_default();
    set(AVAILABILITY_ZONE, zone);
    set(AVAILABILITY_ZONE_ID, zone_ids.and_then(|ids| ids.get(zone)).map_or("", String::as_str));
    set(INSTANCE_STATE, &instance.state);
    set(INSTANCE_TYPE, &instance.instance_type);
    if !instance.lifecycle.is_empty() {
        set(INSTANCE_LIFECYCLE, &instance.lifecycle);
    }
    if !instance.architecture.is_empty() {
        set(ARCHITECTURE, &instance.architecture);
    }
    if let Some(vpc_id) = &instance.vpc_id {
        set(VPC_ID, vpc_id);
        // Prometheus panics on a VPC instance without a subnet ID; here it reads as "".
        set(PRIMARY_SUBNET_ID, instance.subnet_id.as_deref().unwrap_or_default());
        let mut seen = HashSet::new();
        let subnets: Vec<String> =
            instance.network_interfaces.iter().filter_map(|interface| interface.subnet_id.clone()).filter(|subnet| seen.insert(subnet.clone())).collect();
        set(SUBNET_ID, &wrapped_list(&subnets));
    }
    // Two keys may sanitize to the same name: the later tag wins, as in Prometheus.
    for (key, value) in &instance.tags {
        set(&format!("{TAG_PREFIX}{}", sanitize_label_name(key)), value);
    }

    Some(TargetGroup { targets: vec![address], labels })
}

/// A list label's value: `,a,b,` (`,,` for an empty list).
fn wrapped_list(values: &[String]) -> String {
    format!("{LIST_SEPARATOR}{}{LIST_SEPARATOR}", values.join(LIST_SEPARATOR))
}

/// Whether `node` is an element named `name` (local name, the `xmlns` ignored; ASCII
/// case-insensitively, as in the AWS SDK's decoder).
fn has_name(node: Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name().eq_ignore_ascii_case(name)
}

/// The direct child elements of `node` named `name`. Elements are found among the DIRECT
/// children of their parent only, since the answers nest `<item>` lists several levels deep
/// and, for instance, a `tagSet` inside a network interface is not the instance's.
pub(crate) fn children_named<'a, 'input: 'a>(node: Node<'a, 'input>, name: &'a str) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |candidate| has_name(*candidate, name))
}

/// The last direct child element of `node` named `name` (a repeated scalar element counts its
/// last occurrence, as in the AWS SDK's decoder).
pub(crate) fn child<'a, 'input: 'a>(node: Node<'a, 'input>, name: &'a str) -> Option<Node<'a, 'input>> {
    children_named(node, name).last()
}

/// The value of `node`'s child element `name`, its first text node as in the AWS SDK's
/// decoder: `None` when there is no such child (Go's `nil`), "" when it is empty (or holds no
/// text before its first child node).
pub(crate) fn child_text(node: Node, name: &str) -> Option<String> {
    child(node, name).map(|element| element.text().unwrap_or_default().to_string())
}

/// The `item` elements of every `list_name` child of `node`, in answer order (a repeated list
/// element adds to the list, as in the AWS SDK's decoder).
fn list_items<'a, 'input: 'a>(node: Node<'a, 'input>, list_name: &'a str) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    children_named(node, list_name).flat_map(|list| children_named(list, "item"))
}

/// True for the spellings Go's `strconv.ParseBool` reads as true.
fn go_parse_bool(text: &str) -> bool {
    matches!(text, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

#[cfg(test)]
mod tests;
