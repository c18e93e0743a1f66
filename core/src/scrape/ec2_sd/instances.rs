//! Turns the XML answers of the EC2 Query API (version 2016-11-15) into the targets of
//! `ec2_sd_configs`, labelled as Prometheus' EC2 discovery labels them: one target per
//! instance of a `DescribeInstances` page that has a private IPv4 address or, in a VPC, an
//! IPv6 address, carrying the `__meta_ec2_*` labels; plus the zone name to zone ID map of a
//! `DescribeAvailabilityZones` answer (error answers are read by `aws::xml_error`).
//!
//! Elements are found by local name (the `xmlns` is ignored) among the DIRECT children of
//! their parent only, since the answers nest `<item>` lists several levels deep and, for
//! instance, a `tagSet` inside a network interface is not the instance's. As in the AWS SDK's
//! decoder, names compare ASCII case-insensitively, an element's value is its first text
//! node, a repeated scalar element counts its last occurrence and a repeated list element
//! adds to the list. An absent element reads as Go's `nil` (or "" for the SDK's enum
//! fields), an empty one as "". Where Prometheus would dereference a `nil` and panic, the
//! value reads as "" or the part is skipped, as noted where it happens. Pure: no I/O.

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

/// One page of a DescribeInstances answer: a target group per usable instance, in answer order,
/// and the `nextToken` to ask for the next page (None, or an empty element, when it was the last).
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

/// Whether `node` is an element named `name` (local name, ASCII case-insensitively).
fn has_name(node: Node, name: &str) -> bool {
    node.is_element() && node.tag_name().name().eq_ignore_ascii_case(name)
}

/// The direct child elements of `node` named `name`.
pub(crate) fn children_named<'a, 'input: 'a>(node: Node<'a, 'input>, name: &'a str) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |candidate| has_name(*candidate, name))
}

/// The last direct child element of `node` named `name` (a repeated element overrides).
pub(crate) fn child<'a, 'input: 'a>(node: Node<'a, 'input>, name: &'a str) -> Option<Node<'a, 'input>> {
    children_named(node, name).last()
}

/// The value of `node`'s child element `name`: `None` when there is no such child, "" when it
/// is empty (or holds no text before its first child node).
pub(crate) fn child_text(node: Node, name: &str) -> Option<String> {
    child(node, name).map(|element| element.text().unwrap_or_default().to_string())
}

/// The `item` elements of every `list_name` child of `node`, in answer order.
fn list_items<'a, 'input: 'a>(node: Node<'a, 'input>, list_name: &'a str) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    children_named(node, list_name).flat_map(|list| children_named(list, "item"))
}

/// True for the spellings Go's `strconv.ParseBool` reads as true.
fn go_parse_bool(text: &str) -> bool {
    matches!(text, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION_NAME: &str = "eu-west-2";
    const PORT: u16 = 9100;

    /// Modelled on a DescribeInstances page: one reservation with a VPC instance on three
    /// network interfaces (and a fourth without a subnet), another with a Windows spot instance,
    /// an IPv6-only instance and a terminated one with no address, and a third reservation
    /// (without an owner) holding an instance in a zone the zone list lacks.
    const INSTANCES_PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>8f7724cf-496f-496e-8fe3-example</requestId>
    <reservationSet>
        <item>
            <reservationId>r-0a1b2c3d4e5f60718</reservationId>
            <ownerId>123456789012</ownerId>
            <groupSet/>
            <instancesSet>
                <item>
                    <instanceId>i-0123456789abcdef0</instanceId>
                    <imageId>ami-0c55b159cbfafe1f0</imageId>
                    <instanceState>
                        <code>16</code>
                        <name>running</name>
                    </instanceState>
                    <privateDnsName>ip-10-0-1-15.eu-west-2.compute.internal</privateDnsName>
                    <dnsName/>
                    <reason/>
                    <keyName>ops-key</keyName>
                    <amiLaunchIndex>0</amiLaunchIndex>
                    <productCodes/>
                    <instanceType>m5.large</instanceType>
                    <launchTime>2024-05-20T10:11:12.000Z</launchTime>
                    <placement>
                        <availabilityZone>eu-west-2a</availabilityZone>
                        <groupName/>
                        <tenancy>default</tenancy>
                    </placement>
                    <monitoring>
                        <state>disabled</state>
                    </monitoring>
                    <subnetId>subnet-0aaa1111</subnetId>
                    <vpcId>vpc-0f00ba47</vpcId>
                    <privateIpAddress>10.0.1.15</privateIpAddress>
                    <sourceDestCheck>true</sourceDestCheck>
                    <groupSet>
                        <item>
                            <groupId>sg-0123abcd</groupId>
                            <groupName>node-exporter</groupName>
                        </item>
                    </groupSet>
                    <architecture>x86_64</architecture>
                    <rootDeviceType>ebs</rootDeviceType>
                    <rootDeviceName>/dev/xvda</rootDeviceName>
                    <blockDeviceMapping>
                        <item>
                            <deviceName>/dev/xvda</deviceName>
                            <ebs>
                                <volumeId>vol-0123456789abcdef0</volumeId>
                                <status>attached</status>
                                <attachTime>2024-05-20T10:11:13.000Z</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                            </ebs>
                        </item>
                    </blockDeviceMapping>
                    <virtualizationType>hvm</virtualizationType>
                    <clientToken/>
                    <tagSet>
                        <item>
                            <key>Name</key>
                            <value>web-1</value>
                        </item>
                    </tagSet>
                    <hypervisor>xen</hypervisor>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-0aaa</networkInterfaceId>
                            <subnetId>subnet-0aaa1111</subnetId>
                            <vpcId>vpc-0f00ba47</vpcId>
                            <description/>
                            <ownerId>123456789012</ownerId>
                            <status>in-use</status>
                            <macAddress>06:1e:6b:2a:3c:4d</macAddress>
                            <privateIpAddress>10.0.1.15</privateIpAddress>
                            <sourceDestCheck>true</sourceDestCheck>
                            <groupSet>
                                <item>
                                    <groupId>sg-0123abcd</groupId>
                                    <groupName>node-exporter</groupName>
                                </item>
                            </groupSet>
                            <attachment>
                                <attachmentId>eni-attach-0aaa</attachmentId>
                                <deviceIndex>0</deviceIndex>
                                <status>attached</status>
                                <attachTime>2024-05-20T10:11:12.000Z</attachTime>
                                <deleteOnTermination>true</deleteOnTermination>
                                <networkCardIndex>0</networkCardIndex>
                            </attachment>
                            <privateIpAddressesSet>
                                <item>
                                    <privateIpAddress>10.0.1.15</privateIpAddress>
                                    <privateDnsName>ip-10-0-1-15.eu-west-2.compute.internal</privateDnsName>
                                    <primary>true</primary>
                                </item>
                            </privateIpAddressesSet>
                            <ipv6AddressesSet>
                                <item>
                                    <ipv6Address>2a05:d01c:1::10</ipv6Address>
                                    <isPrimaryIpv6>false</isPrimaryIpv6>
                                </item>
                            </ipv6AddressesSet>
                            <tagSet>
                                <item>
                                    <key>eni-owner</key>
                                    <value>not-the-instance</value>
                                </item>
                            </tagSet>
                            <interfaceType>interface</interfaceType>
                        </item>
                        <item>
                            <networkInterfaceId>eni-0bbb</networkInterfaceId>
                            <subnetId>subnet-0bbb2222</subnetId>
                            <vpcId>vpc-0f00ba47</vpcId>
                            <privateIpAddress>10.0.2.20</privateIpAddress>
                            <attachment>
                                <attachmentId>eni-attach-0bbb</attachmentId>
                                <deviceIndex>1</deviceIndex>
                                <status>attached</status>
                            </attachment>
                            <ipv6AddressesSet>
                                <item>
                                    <ipv6Address>2a05:d01c:2::21</ipv6Address>
                                    <isPrimaryIpv6>false</isPrimaryIpv6>
                                </item>
                                <item>
                                    <ipv6Address>2a05:d01c:2::20</ipv6Address>
                                    <isPrimaryIpv6>true</isPrimaryIpv6>
                                </item>
                            </ipv6AddressesSet>
                        </item>
                        <item>
                            <networkInterfaceId>eni-0ccc</networkInterfaceId>
                            <subnetId>subnet-0aaa1111</subnetId>
                            <attachment>
                                <deviceIndex>2</deviceIndex>
                            </attachment>
                            <ipv6AddressesSet/>
                        </item>
                        <item>
                            <networkInterfaceId>eni-0ddd</networkInterfaceId>
                            <attachment>
                                <deviceIndex>0</deviceIndex>
                            </attachment>
                            <ipv6AddressesSet>
                                <item>
                                    <ipv6Address>2a05:d01c:9::99</ipv6Address>
                                    <isPrimaryIpv6>true</isPrimaryIpv6>
                                </item>
                            </ipv6AddressesSet>
                        </item>
                    </networkInterfaceSet>
                    <ebsOptimized>false</ebsOptimized>
                    <enaSupport>true</enaSupport>
                </item>
            </instancesSet>
        </item>
        <item>
            <reservationId>r-0b2c3d4e5f6071829</reservationId>
            <ownerId>210987654321</ownerId>
            <groupSet/>
            <requesterId>940372691376</requesterId>
            <instancesSet>
                <item>
                    <instanceId>i-0fedcba9876543210</instanceId>
                    <imageId>ami-0win2022base</imageId>
                    <instanceState>
                        <code>16</code>
                        <name>running</name>
                    </instanceState>
                    <privateDnsName>ip-10-0-3-7.eu-west-2.compute.internal</privateDnsName>
                    <dnsName>ec2-18-130-1-2.eu-west-2.compute.amazonaws.com</dnsName>
                    <instanceType>t3.xlarge</instanceType>
                    <placement>
                        <availabilityZone>eu-west-2b</availabilityZone>
                        <tenancy>default</tenancy>
                    </placement>
                    <platform>windows</platform>
                    <subnetId>subnet-0ccc3333</subnetId>
                    <vpcId>vpc-0f00ba47</vpcId>
                    <privateIpAddress>10.0.3.7</privateIpAddress>
                    <ipAddress>18.130.1.2</ipAddress>
                    <architecture>x86_64</architecture>
                    <instanceLifecycle>spot</instanceLifecycle>
                    <spotInstanceRequestId>sir-abcd1234</spotInstanceRequestId>
                    <tagSet>
                        <item>
                            <key>aws:cloudformation:stack-name</key>
                            <value>win-fleet</value>
                        </item>
                        <item>
                            <key>Cost Center</key>
                            <value>4711</value>
                        </item>
                        <item>
                            <key>empty</key>
                            <value/>
                        </item>
                        <item>
                            <key>key-without-value</key>
                        </item>
                        <item>
                            <key>escaped</key>
                            <value>a &amp; b</value>
                        </item>
                    </tagSet>
                    <networkInterfaceSet>
                        <item>
                            <networkInterfaceId>eni-0eee</networkInterfaceId>
                            <subnetId>subnet-0ccc3333</subnetId>
                            <association>
                                <publicIp>18.130.1.2</publicIp>
                                <publicDnsName>ec2-18-130-1-2.eu-west-2.compute.amazonaws.com</publicDnsName>
                                <ipOwnerId>amazon</ipOwnerId>
                            </association>
                            <attachment>
                                <deviceIndex>0</deviceIndex>
                            </attachment>
                            <ipv6AddressesSet/>
                        </item>
                    </networkInterfaceSet>
                </item>
                <item>
                    <instanceId>i-0ipv6only00000001</instanceId>
                    <imageId>ami-0ipv6</imageId>
                    <instanceState>
                        <code>16</code>
                        <name>running</name>
                    </instanceState>
                    <privateDnsName>i-0ipv6only00000001.eu-west-2.compute.internal</privateDnsName>
                    <dnsName/>
                    <instanceType>t4g.micro</instanceType>
                    <placement>
                        <availabilityZone>eu-west-2a</availabilityZone>
                    </placement>
                    <subnetId>subnet-0v6</subnetId>
                    <vpcId>vpc-0v6</vpcId>
                    <architecture>arm64</architecture>
                    <networkInterfaceSet>
                        <item>
                            <subnetId>subnet-0v6</subnetId>
                            <attachment>
                                <deviceIndex>0</deviceIndex>
                            </attachment>
                            <ipv6AddressesSet>
                                <item>
                                    <ipv6Address>2a05:d01c:6::1</ipv6Address>
                                    <isPrimaryIpv6>false</isPrimaryIpv6>
                                </item>
                            </ipv6AddressesSet>
                        </item>
                    </networkInterfaceSet>
                </item>
                <item>
                    <instanceId>i-0terminated000001</instanceId>
                    <imageId>ami-0c55b159cbfafe1f0</imageId>
                    <instanceState>
                        <code>48</code>
                        <name>terminated</name>
                    </instanceState>
                    <privateDnsName/>
                    <dnsName/>
                    <reason>User initiated (2024-05-19 08:00:00 GMT)</reason>
                    <instanceType>t3.micro</instanceType>
                    <placement>
                        <availabilityZone>eu-west-2c</availabilityZone>
                    </placement>
                    <networkInterfaceSet/>
                    <tagSet>
                        <item>
                            <key>Name</key>
                            <value>gone</value>
                        </item>
                    </tagSet>
                </item>
            </instancesSet>
        </item>
        <item>
            <reservationId>r-0c3d4e5f607182930</reservationId>
            <instancesSet>
                <item>
                    <instanceId>i-0newzone000000001</instanceId>
                    <imageId>ami-0newzone</imageId>
                    <instanceState>
                        <code>0</code>
                        <name>pending</name>
                    </instanceState>
                    <instanceType>c7g.medium</instanceType>
                    <placement>
                        <availabilityZone>eu-west-2-lhr-1a</availabilityZone>
                    </placement>
                    <privateDnsName/>
                    <dnsName/>
                    <privateIpAddress>172.31.9.9</privateIpAddress>
                    <networkInterfaceSet>
                        <item>
                            <subnetId>subnet-0ignored</subnetId>
                            <attachment>
                                <deviceIndex>0</deviceIndex>
                            </attachment>
                            <ipv6AddressesSet>
                                <item>
                                    <ipv6Address>2a05:d01c:7::7</ipv6Address>
                                    <isPrimaryIpv6>true</isPrimaryIpv6>
                                </item>
                            </ipv6AddressesSet>
                        </item>
                    </networkInterfaceSet>
                </item>
            </instancesSet>
        </item>
    </reservationSet>
    <nextToken>eyJ2IjoiMyIsImMiOiJwYWdlMiJ9</nextToken>
</DescribeInstancesResponse>
"#;

    fn zone_ids() -> HashMap<String, String> {
        [("eu-west-2a", "euw2-az2"), ("eu-west-2b", "euw2-az3"), ("eu-west-2c", "euw2-az1")].into_iter().map(|(name, id)| (name.to_string(), id.to_string())).collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
    }

    /// The page's groups, by instance ID, after checking their order.
    fn page_groups() -> HashMap<String, TargetGroup> {
        let zones = zone_ids();
        let (groups, _) = read_instances(INSTANCES_PAGE, REGION_NAME, PORT, Some(&zones)).expect("page parses");
        let ids: Vec<&str> = groups.iter().map(|group| group.labels[INSTANCE_ID].as_str()).collect();
        assert_eq!(ids, ["i-0123456789abcdef0", "i-0fedcba9876543210", "i-0ipv6only00000001", "i-0newzone000000001"]);
        groups.into_iter().map(|group| (group.labels[INSTANCE_ID].clone(), group)).collect()
    }

    #[test]
    fn vpc_instance_with_several_network_interfaces() {
        let group = &page_groups()["i-0123456789abcdef0"];
        assert_eq!(group.targets, ["10.0.1.15:9100"]);
        let want = labels(&[
            (AMI, "ami-0c55b159cbfafe1f0"),
            (ARCHITECTURE, "x86_64"),
            (AVAILABILITY_ZONE, "eu-west-2a"),
            (AVAILABILITY_ZONE_ID, "euw2-az2"),
            (DEFAULT_IPV6_ADDRESS, "2a05:d01c:2::20"),
            (INSTANCE_ID, "i-0123456789abcdef0"),
            (INSTANCE_STATE, "running"),
            (INSTANCE_TYPE, "m5.large"),
            (IPV6_ADDRESSES, ",2a05:d01c:1::10,2a05:d01c:2::21,2a05:d01c:2::20,"),
            (OWNER_ID, "123456789012"),
            (PRIMARY_IPV6_ADDRESSES, ",,2a05:d01c:2::20,"),
            (PRIMARY_SUBNET_ID, "subnet-0aaa1111"),
            (PRIVATE_DNS_NAME, "ip-10-0-1-15.eu-west-2.compute.internal"),
            (PRIVATE_IP, "10.0.1.15"),
            (REGION, "eu-west-2"),
            (SUBNET_ID, ",subnet-0aaa1111,subnet-0bbb2222,"),
            ("__meta_ec2_tag_Name", "web-1"),
            (VPC_ID, "vpc-0f00ba47"),
        ]);
        assert_eq!(group.labels, want);
    }

    #[test]
    fn windows_spot_instance_with_public_ip_and_tags() {
        let group = &page_groups()["i-0fedcba9876543210"];
        assert_eq!(group.targets, ["10.0.3.7:9100"]);
        let want = labels(&[
            (AMI, "ami-0win2022base"),
            (ARCHITECTURE, "x86_64"),
            (AVAILABILITY_ZONE, "eu-west-2b"),
            (AVAILABILITY_ZONE_ID, "euw2-az3"),
            (INSTANCE_ID, "i-0fedcba9876543210"),
            (INSTANCE_LIFECYCLE, "spot"),
            (INSTANCE_STATE, "running"),
            (INSTANCE_TYPE, "t3.xlarge"),
            (OWNER_ID, "210987654321"),
            (PLATFORM, "windows"),
            (PRIMARY_SUBNET_ID, "subnet-0ccc3333"),
            (PRIVATE_DNS_NAME, "ip-10-0-3-7.eu-west-2.compute.internal"),
            (PRIVATE_IP, "10.0.3.7"),
            (PUBLIC_DNS_NAME, "ec2-18-130-1-2.eu-west-2.compute.amazonaws.com"),
            (PUBLIC_IP, "18.130.1.2"),
            (REGION, "eu-west-2"),
            (SUBNET_ID, ",subnet-0ccc3333,"),
            ("__meta_ec2_tag_Cost_Center", "4711"),
            ("__meta_ec2_tag_aws_cloudformation_stack_name", "win-fleet"),
            ("__meta_ec2_tag_empty", ""),
            ("__meta_ec2_tag_escaped", "a & b"),
            (VPC_ID, "vpc-0f00ba47"),
        ]);
        assert_eq!(group.labels, want);
    }

    #[test]
    fn ipv6_only_instance_is_addressed_in_brackets() {
        let group = &page_groups()["i-0ipv6only00000001"];
        assert_eq!(group.targets, ["[2a05:d01c:6::1]:9100"]);
        let want = labels(&[
            (AMI, "ami-0ipv6"),
            (ARCHITECTURE, "arm64"),
            (AVAILABILITY_ZONE, "eu-west-2a"),
            (AVAILABILITY_ZONE_ID, "euw2-az2"),
            (DEFAULT_IPV6_ADDRESS, "2a05:d01c:6::1"),
            (INSTANCE_ID, "i-0ipv6only00000001"),
            (INSTANCE_STATE, "running"),
            (INSTANCE_TYPE, "t4g.micro"),
            (IPV6_ADDRESSES, ",2a05:d01c:6::1,"),
            (OWNER_ID, "210987654321"),
            (PRIMARY_SUBNET_ID, "subnet-0v6"),
            (PRIVATE_DNS_NAME, "i-0ipv6only00000001.eu-west-2.compute.internal"),
            (REGION, "eu-west-2"),
            (SUBNET_ID, ",subnet-0v6,"),
            (VPC_ID, "vpc-0v6"),
        ]);
        assert_eq!(group.labels, want);
    }

    #[test]
    fn instance_without_any_address_is_skipped() {
        let groups = page_groups();
        assert!(!groups.contains_key("i-0terminated000001"));
        assert!(!groups.values().any(|group| group.labels.get("__meta_ec2_tag_Name").is_some_and(|name| name == "gone")));
    }

    /// Outside a VPC the network interfaces' IPv6 addresses and subnets are not read; a zone
    /// the zone list lacks has an empty zone ID; a reservation without owner gives no owner label.
    #[test]
    fn instance_in_unknown_zone_outside_a_vpc() {
        let group = &page_groups()["i-0newzone000000001"];
        assert_eq!(group.targets, ["172.31.9.9:9100"]);
        let want = labels(&[
            (AMI, "ami-0newzone"),
            (AVAILABILITY_ZONE, "eu-west-2-lhr-1a"),
            (AVAILABILITY_ZONE_ID, ""),
            (INSTANCE_ID, "i-0newzone000000001"),
            (INSTANCE_STATE, "pending"),
            (INSTANCE_TYPE, "c7g.medium"),
            (PRIVATE_DNS_NAME, ""),
            (PRIVATE_IP, "172.31.9.9"),
            (REGION, "eu-west-2"),
        ]);
        assert_eq!(group.labels, want);
    }

    #[test]
    fn zone_ids_absent_leave_every_zone_id_empty() {
        let (groups, _) = read_instances(INSTANCES_PAGE, REGION_NAME, PORT, None).expect("page parses");
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|group| group.labels[AVAILABILITY_ZONE_ID].is_empty()));
    }

    #[test]
    fn next_token_present_empty_or_absent() {
        let (_, token) = read_instances(INSTANCES_PAGE, REGION_NAME, PORT, None).expect("page parses");
        assert_eq!(token.as_deref(), Some("eyJ2IjoiMyIsImMiOiJwYWdlMiJ9"));

        let empty = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/><nextToken/></DescribeInstancesResponse>"#;
        assert_eq!(read_instances(empty, REGION_NAME, PORT, None), Ok((vec![], None)));

        let absent = r#"<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><reservationSet/></DescribeInstancesResponse>"#;
        assert_eq!(read_instances(absent, REGION_NAME, PORT, None), Ok((vec![], None)));

        // A nextToken below the root (here inside a reservation) is not the page's.
        let nested = r#"<DescribeInstancesResponse><reservationSet><item><nextToken>nested</nextToken></item></reservationSet></DescribeInstancesResponse>"#;
        assert_eq!(read_instances(nested, REGION_NAME, PORT, None), Ok((vec![], None)));
    }

    /// Where Prometheus would panic on a missing element, nothing panics: absent values read as
    /// "", an IPv6 item without address is skipped, a primary address without a usable device
    /// index (absent, negative or past the cap) stays out of the primary list.
    #[test]
    fn missing_elements_do_not_panic() {
        let xml = r#"<DescribeInstancesResponse>
            <reservationSet><item><instancesSet><item>
                <vpcId>vpc-1</vpcId>
                <ipAddress>3.3.3.3</ipAddress>
                <networkInterfaceSet>
                    <item><subnetId>subnet-1</subnetId>
                        <ipv6AddressesSet>
                            <item><isPrimaryIpv6>true</isPrimaryIpv6></item>
                            <item><ipv6Address>fd00::1</ipv6Address><isPrimaryIpv6>true</isPrimaryIpv6></item>
                            <item><ipv6Address>fd00::2</ipv6Address></item>
                        </ipv6AddressesSet>
                    </item>
                    <item><subnetId>subnet-2</subnetId><attachment><deviceIndex>-1</deviceIndex></attachment>
                        <ipv6AddressesSet><item><ipv6Address>fd00::3</ipv6Address><isPrimaryIpv6>1</isPrimaryIpv6></item></ipv6AddressesSet>
                    </item>
                    <item><subnetId>subnet-3</subnetId><attachment><deviceIndex>4000000000</deviceIndex></attachment>
                        <ipv6AddressesSet><item><ipv6Address>fd00::4</ipv6Address><isPrimaryIpv6>true</isPrimaryIpv6></item></ipv6AddressesSet>
                    </item>
                    <item><subnetId>subnet-4</subnetId><attachment><deviceIndex>2</deviceIndex></attachment>
                        <ipv6AddressesSet><item><ipv6Address>fd00::5</ipv6Address><isPrimaryIpv6>maybe</isPrimaryIpv6></item></ipv6AddressesSet>
                    </item>
                </networkInterfaceSet>
            </item></instancesSet></item></reservationSet>
        </DescribeInstancesResponse>"#;
        let (groups, token) = read_instances(xml, "us-east-1", 80, None).expect("parses");
        assert_eq!(token, None);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets, ["[fd00::1]:80"]);
        let want = labels(&[
            (AMI, ""),
            (AVAILABILITY_ZONE, ""),
            (AVAILABILITY_ZONE_ID, ""),
            (DEFAULT_IPV6_ADDRESS, "fd00::1"),
            (INSTANCE_ID, ""),
            (INSTANCE_STATE, ""),
            (INSTANCE_TYPE, ""),
            (IPV6_ADDRESSES, ",fd00::1,fd00::2,fd00::3,fd00::4,fd00::5,"),
            (PRIMARY_SUBNET_ID, ""),
            (PUBLIC_DNS_NAME, ""),
            (PUBLIC_IP, "3.3.3.3"),
            (REGION, "us-east-1"),
            (SUBNET_ID, ",subnet-1,subnet-2,subnet-3,subnet-4,"),
            (VPC_ID, "vpc-1"),
        ]);
        assert_eq!(groups[0].labels, want);
    }

    #[test]
    fn element_names_ignore_namespace_and_case_and_the_last_repeat_counts() {
        let xml = r#"<ec2:DescribeInstancesResponse xmlns:ec2="http://ec2.amazonaws.com/doc/2016-11-15/">
            <ec2:reservationSet><ec2:item><ec2:instancesSet><ec2:item>
                <ec2:InstanceId>i-1</ec2:InstanceId><ec2:privateIpAddress>10.1.1.1</ec2:privateIpAddress>
                <ec2:instanceType>t2.nano</ec2:instanceType><ec2:instanceType>t3.nano</ec2:instanceType>
            </ec2:item></ec2:instancesSet></ec2:item></ec2:reservationSet>
        </ec2:DescribeInstancesResponse>"#;
        let (groups, _) = read_instances(xml, "r", 1, None).expect("parses");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets, ["10.1.1.1:1"]);
        assert_eq!(groups[0].labels[INSTANCE_ID], "i-1");
        // A repeated scalar element counts its last occurrence, as in the SDK's decoder.
        assert_eq!(groups[0].labels[INSTANCE_TYPE], "t3.nano");
    }

    const ZONES_ANSWER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAvailabilityZonesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>e23c5a2f-bb5e-4ba6-9d5a-example</requestId>
    <availabilityZoneInfo>
        <item>
            <zoneName>eu-west-2a</zoneName>
            <zoneState>available</zoneState>
            <regionName>eu-west-2</regionName>
            <messageSet/>
            <zoneId>euw2-az2</zoneId>
            <zoneType>availability-zone</zoneType>
            <optInStatus>opt-in-not-required</optInStatus>
            <groupName>eu-west-2</groupName>
            <networkBorderGroup>eu-west-2</networkBorderGroup>
        </item>
        <item>
            <zoneName>eu-west-2b</zoneName>
            <zoneState>available</zoneState>
            <regionName>eu-west-2</regionName>
            <messageSet>
                <item>
                    <message>Scheduled maintenance</message>
                </item>
            </messageSet>
            <zoneId>euw2-az3</zoneId>
            <zoneType>availability-zone</zoneType>
        </item>
        <item>
            <zoneName>eu-west-2-lhr-1a</zoneName>
            <zoneState>available</zoneState>
            <regionName>eu-west-2</regionName>
            <zoneType>local-zone</zoneType>
            <parentZoneName>eu-west-2a</parentZoneName>
            <parentZoneId>euw2-az2</parentZoneId>
        </item>
        <item>
            <zoneState>impaired</zoneState>
            <zoneId>euw2-az9</zoneId>
        </item>
    </availabilityZoneInfo>
</DescribeAvailabilityZonesResponse>
"#;

    #[test]
    fn zone_ids_of_a_describe_availability_zones_answer() {
        let want: HashMap<String, String> =
            [("eu-west-2a", "euw2-az2"), ("eu-west-2b", "euw2-az3")].into_iter().map(|(name, id)| (name.to_string(), id.to_string())).collect();
        assert_eq!(read_zone_ids(ZONES_ANSWER), Ok(want));
    }

    #[test]
    fn non_xml_and_wrong_roots_are_errors() {
        let not_xml = read_instances("<html><body>502 Bad Gateway", REGION_NAME, PORT, None).expect_err("not XML");
        assert!(not_xml.starts_with("DescribeInstances answer is not XML: "), "{not_xml}");
        let json = read_zone_ids(r#"{"AvailabilityZones": []}"#).expect_err("not XML");
        assert!(json.starts_with("DescribeAvailabilityZones answer is not XML: "), "{json}");

        assert_eq!(read_instances(ZONES_ANSWER, REGION_NAME, PORT, None), Err("not a DescribeInstances answer: root element <DescribeAvailabilityZonesResponse>".to_string()));
        assert_eq!(read_zone_ids(INSTANCES_PAGE), Err("not a DescribeAvailabilityZones answer: root element <DescribeInstancesResponse>".to_string()));
        let error_answer = "<Response><Errors><Error><Code>AuthFailure</Code><Message>m</Message></Error></Errors></Response>";
        assert_eq!(read_instances(error_answer, REGION_NAME, PORT, None), Err("not a DescribeInstances answer: root element <Response>".to_string()));
    }
}
