//! Turns a Eureka server's `/apps` answer (XML) into the targets of `eureka_sd_configs`,
//! labelled as Prometheus' Eureka discovery labels them: one target per `<instance>` of every
//! `<application>`, with the `__meta_eureka_*` labels. Read as Go's `encoding/xml` reads
//! Prometheus' structs: numbers and booleans are trimmed, empty reads as 0 or false, and any
//! other bad one fails the whole answer. Pure: no I/O.

use std::collections::BTreeMap;

use roxmltree::{Document, Node};

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, sanitize_label_name};

const APP_NAME: &str = "__meta_eureka_app_name";
/// Every instance label starts with this.
const INSTANCE_PREFIX: &str = "__meta_eureka_app_instance_";

/// The target groups of `xml`, one per instance in answer order, or why it cannot be read
/// (worded after Go's decoder).
pub fn groups(xml: &str) -> Result<Vec<TargetGroup>, String> {
    let doc = Document::parse(xml).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if let Some(delta) = last_child(root, "versions__delta") {
        int(delta)?;
    }
    let mut groups = Vec::new();
    for app in children(root, "application") {
        let name = last_child(app, "name").map(text).unwrap_or_default();
        for instance in children(app, "instance") {
            groups.push(instance_group(xml, &name, instance)?);
        }
    }
    Ok(groups)
}

/// One instance's target and labels: at its `hostName` and port (80 without a `<port>`), its
/// `instance` label the `instanceId`.
fn instance_group(xml: &str, app: &str, instance: Node) -> Result<TargetGroup, String> {
    let field = |name: &str| last_child(instance, name).map(text).unwrap_or_default();
    if let Some(coordinating) = last_child(instance, "isCoordinatingDiscoveryServer") {
        boolean(&text(coordinating))?;
    }
    let host = field("hostName");
    let instance_id = field("instanceId");
    let country = last_child(instance, "countryId").map(int).transpose()?.unwrap_or(0);
    let mut labels = BTreeMap::from([
        ("instance".to_string(), instance_id.clone()),
        (APP_NAME.to_string(), app.to_string()),
        (format!("{INSTANCE_PREFIX}hostname"), host.clone()),
        (format!("{INSTANCE_PREFIX}homepage_url"), field("homePageUrl")),
        (format!("{INSTANCE_PREFIX}statuspage_url"), field("statusPageUrl")),
        (format!("{INSTANCE_PREFIX}healthcheck_url"), field("healthCheckUrl")),
        (format!("{INSTANCE_PREFIX}ip_addr"), field("ipAddr")),
        (format!("{INSTANCE_PREFIX}vip_address"), field("vipAddress")),
        (format!("{INSTANCE_PREFIX}secure_vip_address"), field("secureVipAddress")),
        (format!("{INSTANCE_PREFIX}status"), field("status")),
        (format!("{INSTANCE_PREFIX}country_id"), country.to_string()),
        (format!("{INSTANCE_PREFIX}id"), instance_id),
    ]);
    let mut port_number = 80;
    for (element, label) in [("port", "port"), ("securePort", "secure_port")] {
        let Some(node) = last_child(instance, element) else { continue };
        let number = int(node)?;
        let enabled = boolean(node.attribute("enabled").unwrap_or(""))?;
        labels.insert(format!("{INSTANCE_PREFIX}{label}"), number.to_string());
        labels.insert(format!("{INSTANCE_PREFIX}{label}_enabled"), enabled.to_string());
        if element == "port" {
            port_number = number;
        }
    }
    if let Some(info) = last_child(instance, "dataCenterInfo") {
        labels.insert(format!("{INSTANCE_PREFIX}datacenterinfo_name"), last_child(info, "name").map(text).unwrap_or_default());
        if let Some(metadata) = last_child(info, "metadata") {
            insert_metadata(xml, &mut labels, &format!("{INSTANCE_PREFIX}datacenterinfo_metadata_"), metadata);
        }
    }
    if let Some(metadata) = last_child(instance, "metadata") {
        insert_metadata(xml, &mut labels, &format!("{INSTANCE_PREFIX}metadata_"), metadata);
    }
    // An empty value is no label (Prometheus drops them when it builds the target; an empty
    // `instance` then defaults to the address).
    labels.retain(|_, v| !v.is_empty());
    Ok(TargetGroup { targets: vec![join_host_port(&host, port_number)], labels })
}

/// Each child element of `metadata` as `<prefix><sanitized local name>` = its raw inner XML
/// (a later one of the same name wins).
fn insert_metadata(xml: &str, labels: &mut BTreeMap<String, String>, prefix: &str, metadata: Node) {
    for item in metadata.children().filter(Node::is_element) {
        labels.insert(format!("{prefix}{}", sanitize_label_name(item.tag_name().name())), inner_xml(xml, item).to_string());
    }
}

/// The direct child elements of `parent` named `name` (exactly, any namespace): as Go's
/// `encoding/xml`, elements are matched by exact local name among the direct children of
/// their parent.
fn children<'a, 'input>(parent: Node<'a, 'input>, name: &'a str) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    parent.children().filter(move |n| n.is_element() && n.tag_name().name() == name)
}

/// The last direct child element of `parent` named `name`: a repeated scalar element counts
/// its last occurrence.
fn last_child<'a, 'input>(parent: Node<'a, 'input>, name: &'a str) -> Option<Node<'a, 'input>> {
    children(parent, name).last()
}

/// An element's own character data (text and CDATA directly in it, entities decoded),
/// untrimmed: a text value.
fn text(node: Node) -> String {
    node.children().filter(Node::is_text).filter_map(|t| t.text()).collect()
}

/// The raw text between an element's start and end tags ("" when it is empty or
/// self-closing), as Go's `,innerxml` keeps it: entities and child tags left as written.
fn inner_xml<'a>(xml: &'a str, node: Node) -> &'a str {
    let whole = &xml[node.range()];
    if whole.ends_with("/>") && !whole.contains("</") {
        return "";
    }
    // The start tag ends at the first `>` outside a quoted attribute value.
    let mut quote = None;
    let mut start = None;
    for (i, c) in whole.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => {
                start = Some(i + 1);
                break;
            }
            _ => {}
        }
    }
    let (Some(start), Some(end)) = (start, whole.rfind("</")) else { return "" };
    whole.get(start..end).unwrap_or("")
}

/// An integer element as Go reads one: trimmed, empty is 0.
fn int(node: Node) -> Result<i64, String> {
    let value = text(node);
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(0);
    }
    trimmed.parse::<i64>().map_err(|_| format!("strconv.ParseInt: parsing {trimmed:?}: invalid syntax"))
}

/// A boolean as Go's `strconv.ParseBool` reads one (trimmed; empty is false).
fn boolean(value: &str) -> Result<bool, String> {
    match value.trim() {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        other => Err(format!("strconv.ParseBool: parsing {other:?}: invalid syntax")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer of the shape a Eureka server gives: two applications, the second with two
    /// instances, one of them with metadata and a data center's metadata, one without ports.
    const APPS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<applications>
  <versions__delta>1</versions__delta>
  <apps__hashcode>UP_3_</apps__hashcode>
  <application>
    <name>ORDERS</name>
    <instance>
      <instanceId>orders-7.corp.example:orders:9090</instanceId>
      <hostName>orders-7.corp.example</hostName>
      <app>ORDERS</app>
      <ipAddr>10.20.0.7</ipAddr>
      <status>UP</status>
      <overriddenstatus>UNKNOWN</overriddenstatus>
      <port enabled="true">9090</port>
      <securePort enabled="false">9443</securePort>
      <countryId>1</countryId>
      <dataCenterInfo class="com.netflix.appinfo.AmazonInfo">
        <name>Amazon</name>
        <metadata>
          <availability-zone>eu-west-1b</availability-zone>
          <instance-id>i-0abc</instance-id>
        </metadata>
      </dataCenterInfo>
      <metadata>
        <team>checkout</team>
        <management.port>9091</management.port>
        <note>a &amp; b</note>
        <empty/>
      </metadata>
      <homePageUrl>http://orders-7.corp.example:9090/</homePageUrl>
      <statusPageUrl>http://orders-7.corp.example:9090/info</statusPageUrl>
      <healthCheckUrl>http://orders-7.corp.example:9091/health</healthCheckUrl>
      <vipAddress>orders</vipAddress>
      <secureVipAddress>orders-secure</secureVipAddress>
      <isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
      <actionType>ADDED</actionType>
    </instance>
  </application>
  <application>
    <name>LEGACY</name>
    <instance>
      <hostName>legacy.corp.example</hostName>
      <status>DOWN</status>
    </instance>
    <instance>
      <instanceId>legacy-2</instanceId>
      <hostName>fd00::2</hostName>
      <port enabled="t"> 8080 </port>
    </instance>
  </application>
</applications>"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn instances_become_the_targets_and_labels_prometheus_makes() {
        let groups = groups(APPS).expect("a valid answer");
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].targets, ["orders-7.corp.example:9090"]);
        assert_eq!(
            groups[0].labels,
            labels(&[
                ("instance", "orders-7.corp.example:orders:9090"),
                ("__meta_eureka_app_name", "ORDERS"),
                ("__meta_eureka_app_instance_hostname", "orders-7.corp.example"),
                ("__meta_eureka_app_instance_homepage_url", "http://orders-7.corp.example:9090/"),
                ("__meta_eureka_app_instance_statuspage_url", "http://orders-7.corp.example:9090/info"),
                ("__meta_eureka_app_instance_healthcheck_url", "http://orders-7.corp.example:9091/health"),
                ("__meta_eureka_app_instance_ip_addr", "10.20.0.7"),
                ("__meta_eureka_app_instance_vip_address", "orders"),
                ("__meta_eureka_app_instance_secure_vip_address", "orders-secure"),
                ("__meta_eureka_app_instance_status", "UP"),
                ("__meta_eureka_app_instance_port", "9090"),
                ("__meta_eureka_app_instance_port_enabled", "true"),
                ("__meta_eureka_app_instance_secure_port", "9443"),
                ("__meta_eureka_app_instance_secure_port_enabled", "false"),
                ("__meta_eureka_app_instance_country_id", "1"),
                ("__meta_eureka_app_instance_id", "orders-7.corp.example:orders:9090"),
                ("__meta_eureka_app_instance_datacenterinfo_name", "Amazon"),
                ("__meta_eureka_app_instance_datacenterinfo_metadata_availability_zone", "eu-west-1b"),
                ("__meta_eureka_app_instance_datacenterinfo_metadata_instance_id", "i-0abc"),
                ("__meta_eureka_app_instance_metadata_team", "checkout"),
                ("__meta_eureka_app_instance_metadata_management_port", "9091"),
                // Raw inner XML, as Go's `,innerxml`.
                ("__meta_eureka_app_instance_metadata_note", "a &amp; b"),
            ])
        );
        // No port: port 80 and no port labels; no instanceId: no instance label (the address
        // then); the country 0.
        assert_eq!(groups[1].targets, ["legacy.corp.example:80"]);
        assert_eq!(
            groups[1].labels,
            labels(&[
                ("__meta_eureka_app_name", "LEGACY"),
                ("__meta_eureka_app_instance_hostname", "legacy.corp.example"),
                ("__meta_eureka_app_instance_status", "DOWN"),
                ("__meta_eureka_app_instance_country_id", "0"),
            ])
        );
        assert_eq!(groups[2].targets, ["[fd00::2]:8080"]);
        assert_eq!(groups[2].labels.get("__meta_eureka_app_instance_port_enabled").map(String::as_str), Some("true"));
        assert_eq!(groups[2].labels.get("instance").map(String::as_str), Some("legacy-2"));
    }

    #[test]
    fn an_empty_list_has_no_targets_and_bad_values_fail_the_answer() {
        assert_eq!(groups("<applications><versions__delta>1</versions__delta><apps__hashcode/></applications>").expect("empty"), Vec::new());
        for bad in [
            "<applications><application><instance><port>http</port></instance></application></applications>",
            "<applications><application><instance><port enabled=\"yes\">80</port></instance></application></applications>",
            "<applications><application><instance><countryId>x</countryId></instance></application></applications>",
            "<applications><versions__delta>one</versions__delta></applications>",
            "<applications><application>",
            "",
        ] {
            assert!(groups(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inner_xml_is_kept_as_written() {
        let xml = r#"<m><a x=">">one<b>two</b></a><c/><d></d></m>"#;
        let doc = Document::parse(xml).expect("xml");
        let items: Vec<&str> = doc.root_element().children().filter(Node::is_element).map(|n| inner_xml(xml, n)).collect();
        assert_eq!(items, ["one<b>two</b>", "", ""]);
    }
}
