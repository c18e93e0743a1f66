//! The OVHcloud API's answers about one server (`GET /vps/<name>` or
//! `/dedicated/server/<name>`, and its `/ips`), and the target Prometheus makes of it: the
//! last IPv4 address of the list (else the last IPv6) without a port, `instance` the server's
//! name, and every `__meta_ovhcloud_vps_*` or `__meta_ovhcloud_dedicated_server_*` label.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use super::config::Service;
use crate::scrape::config::TargetGroup;

/// Prometheus' words for an IP list of which nothing is taken.
pub const UNPARSABLE_IPS: &str = "could not parse IP addresses from list";

/// A VPS's model (`model` of `GET /vps/<name>`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VpsModel {
    /// OVH's spelling.
    #[serde(rename = "maximumAdditionnalIp")]
    maximum_additional_ip: Option<i64>,
    offer: Option<String>,
    datacenter: Option<Vec<String>>,
    vcore: Option<i64>,
    version: Option<String>,
    name: Option<String>,
    disk: Option<i64>,
    memory: Option<i64>,
}

/// `GET /vps/<name>`: the fields Prometheus labels.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Vps {
    zone: Option<String>,
    model: Option<VpsModel>,
    display_name: Option<String>,
    cluster: Option<String>,
    state: Option<String>,
    name: Option<String>,
    netboot_mode: Option<String>,
    memory_limit: Option<i64>,
    offer_type: Option<String>,
    vcore: Option<i64>,
}

/// `GET /dedicated/server/<name>`: the fields Prometheus labels.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DedicatedServer {
    state: Option<String>,
    commercial_range: Option<String>,
    link_speed: Option<i64>,
    rack: Option<String>,
    no_intervention: Option<bool>,
    os: Option<String>,
    support_level: Option<String>,
    server_id: Option<i64>,
    reverse: Option<String>,
    datacenter: Option<String>,
    name: Option<String>,
}

/// One server's details (`details`, the body of `GET <service path>/<name>`) and its IP list
/// made a target, or why it is left out (Prometheus logs it and goes on).
pub fn target(service: Service, details: &[u8], ips: &[String]) -> Result<TargetGroup, String> {
    let ips = parse_ip_list(ips)?;
    // As Prometheus: the last address of each family in the list.
    let ipv4 = ips.iter().rev().find(|ip| ip.is_ipv4()).map(IpAddr::to_string).unwrap_or_default();
    let ipv6 = ips.iter().rev().find(|ip| ip.is_ipv6()).map(IpAddr::to_string).unwrap_or_default();
    let address = if ipv4.is_empty() { ipv6.clone() } else { ipv4.clone() };
    let (name, prefix, mut labels) = match service {
        Service::Vps => vps_labels(details)?,
        Service::DedicatedServer => dedicated_server_labels(details)?,
    };
    labels.push(("ipv4", ipv4));
    labels.push(("ipv6", ipv6));
    let mut labels: BTreeMap<String, String> = labels.into_iter().map(|(key, value)| (format!("{prefix}{key}"), value)).collect();
    labels.insert("instance".to_string(), name);
    // An empty value is no label (Prometheus drops them when it builds the target).
    labels.retain(|_, v| !v.is_empty());
    Ok(TargetGroup { targets: vec![address], labels })
}

/// A body decoded as Go's `encoding/json` decodes it into the Go client's structs (null is
/// the zero value, and so is an empty answer).
fn decode<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, String> {
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| format!("cannot decode the answer: {e}"))
}

/// The server's name, its labels' prefix, and its labels without the prefix.
type Labelled = (String, &'static str, Vec<(&'static str, String)>);

fn vps_labels(details: &[u8]) -> Result<Labelled, String> {
    let vps: Vps = decode(details)?;
    let model = vps.model.unwrap_or_default();
    let number = |n: Option<i64>| n.unwrap_or(0).to_string();
    let name = vps.name.unwrap_or_default();
    let labels = vec![
        ("offer", model.offer.unwrap_or_default()),
        // Go's `%+v` of a list of strings: `[gra1 sbg3]`.
        ("datacenter", format!("[{}]", model.datacenter.unwrap_or_default().join(" "))),
        ("model_vcore", number(model.vcore)),
        ("maximum_additional_ip", number(model.maximum_additional_ip)),
        ("version", model.version.unwrap_or_default()),
        ("model_name", model.name.unwrap_or_default()),
        ("disk", number(model.disk)),
        ("memory", number(model.memory)),
        ("zone", vps.zone.unwrap_or_default()),
        ("display_name", vps.display_name.unwrap_or_default()),
        ("cluster", vps.cluster.unwrap_or_default()),
        ("state", vps.state.unwrap_or_default()),
        ("name", name.clone()),
        ("netboot_mode", vps.netboot_mode.unwrap_or_default()),
        ("memory_limit", number(vps.memory_limit)),
        ("offer_type", vps.offer_type.unwrap_or_default()),
        ("vcore", number(vps.vcore)),
    ];
    Ok((name, "__meta_ovhcloud_vps_", labels))
}

fn dedicated_server_labels(details: &[u8]) -> Result<Labelled, String> {
    let server: DedicatedServer = decode(details)?;
    let name = server.name.unwrap_or_default();
    let labels = vec![
        ("state", server.state.unwrap_or_default()),
        ("commercial_range", server.commercial_range.unwrap_or_default()),
        ("link_speed", server.link_speed.unwrap_or(0).to_string()),
        ("rack", server.rack.unwrap_or_default()),
        ("no_intervention", server.no_intervention.unwrap_or(false).to_string()),
        ("os", server.os.unwrap_or_default()),
        ("support_level", server.support_level.unwrap_or_default()),
        ("server_id", server.server_id.unwrap_or(0).to_string()),
        ("reverse", server.reverse.unwrap_or_default()),
        ("datacenter", server.datacenter.unwrap_or_default()),
        ("name", name.clone()),
    ];
    Ok((name, "__meta_ovhcloud_dedicated_server_", labels))
}

/// The addresses of a server's IP list, as Prometheus reads it: an address, or a prefix of
/// 32 bits (IPv4 or IPv6) taken as its address; other prefixes are skipped, unspecified
/// addresses (`0.0.0.0`, `::`) too. Anything else, or nothing taken, fails the whole list.
pub fn parse_ip_list(list: &[String]) -> Result<Vec<IpAddr>, String> {
    let mut found = Vec::new();
    for text in list {
        let address = match text.parse::<IpAddr>() {
            Ok(address) => address,
            Err(_) => match parse_prefix(text) {
                Some((address, 32)) => address,
                Some(_) => continue,
                None => return Err(UNPARSABLE_IPS.into()),
            },
        };
        if !address.is_unspecified() {
            found.push(address);
        }
    }
    if found.is_empty() {
        return Err(UNPARSABLE_IPS.into());
    }
    Ok(found)
}

/// `address/bits` as Go's `netip.ParsePrefix` reads it: bits in decimal without a sign or a
/// leading zero, at most the family's width.
fn parse_prefix(text: &str) -> Option<(IpAddr, u32)> {
    let (address, bits) = text.rsplit_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || (bits.len() > 1 && bits.starts_with('0')) {
        return None;
    }
    let bits: u32 = bits.parse().ok()?;
    let width = if address.is_ipv4() { 32 } else { 128 };
    (bits <= width).then_some((address, bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn ip_lists_are_read_as_prometheus_reads_them() {
        // Prometheus' TestParseIPs.
        for (items, ok) in [
            (&["A.b"][..], false),
            (&["0.0.0.0"], false),
            (&[""], false),
            (&["2001:0db8:0000:0000:0000:0000:0000:0001"], true),
            (&["bbb:cccc:1111"], false),
            (&["192.0.2.1/23"], false),
            (&["192.0.2.1/32"], true),
        ] {
            let parsed = parse_ip_list(&list(items));
            assert_eq!(parsed.is_ok(), ok, "{items:?}: {parsed:?}");
            if !ok {
                assert_eq!(parsed, Err(UNPARSABLE_IPS.to_string()));
            }
        }
        let parsed = parse_ip_list(&list(&["192.0.2.1/32", "2001:db8::1/64", "::", "2001:db8::2", "192.0.2.9", "2001:db8::/32"])).expect("addresses");
        let shown: Vec<String> = parsed.iter().map(IpAddr::to_string).collect();
        assert_eq!(shown, ["192.0.2.1", "2001:db8::2", "192.0.2.9", "2001:db8::"], "a /64 and :: are skipped; any /32 is an address");
        assert_eq!(parse_ip_list(&list(&["192.0.2.1/32", "junk"])), Err(UNPARSABLE_IPS.to_string()), "one unreadable entry fails the list");
        assert_eq!(parse_ip_list(&list(&["192.0.2.1/032"])), Err(UNPARSABLE_IPS.to_string()));
        assert_eq!(parse_ip_list(&[]), Err(UNPARSABLE_IPS.to_string()));
    }

    #[test]
    fn the_last_address_of_each_family_labels_the_target_and_the_ipv4_one_is_its_address() {
        let details = br#"{"name": "vps-1", "model": {"datacenter": ["gra1", "sbg3"]}, "vcore": 2}"#;
        let group = target(Service::Vps, details, &list(&["2001:db8::1", "192.0.2.1", "192.0.2.2", "2001:db8::2"])).expect("target");
        assert_eq!(group.targets, ["192.0.2.2"]);
        assert_eq!(group.labels.get("__meta_ovhcloud_vps_ipv6").map(String::as_str), Some("2001:db8::2"));
        assert_eq!(group.labels.get("__meta_ovhcloud_vps_datacenter").map(String::as_str), Some("[gra1 sbg3]"));
        assert_eq!(group.labels.get("__meta_ovhcloud_vps_memory").map(String::as_str), Some("0"), "a missing number is 0");
        assert_eq!(group.labels.get("instance").map(String::as_str), Some("vps-1"));
        let only_v6 = target(Service::DedicatedServer, br#"{"name": "ns1", "noIntervention": true}"#, &list(&["2001:db8::7"])).expect("target");
        assert_eq!(only_v6.targets, ["2001:db8::7"]);
        assert_eq!(only_v6.labels.get("__meta_ovhcloud_dedicated_server_no_intervention").map(String::as_str), Some("true"));
        assert!(target(Service::Vps, br#""abc""#, &list(&["192.0.2.1"])).is_err(), "details that are no object");
    }
}
