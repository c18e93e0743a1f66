//! Tests of EC2 DescribeInstances answers into Prometheus targets.

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
