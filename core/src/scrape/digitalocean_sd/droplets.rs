//! Reads one page of DigitalOcean's droplet list (`GET /v2/droplets`) as Prometheus reads
//! it through DigitalOcean's Go client: the droplets, and which page comes next from the
//! `links.pages` URLs (none when there is no `next`). Turns droplets into targets labelled
//! as Prometheus labels them (`__meta_digitalocean_*`). Pure: no I/O.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::scrape::config::TargetGroup;
use crate::scrape::discovery::{join_host_port, null_as_default};

/// Between (and around) tags and features, as Prometheus joins them.
const SEPARATOR: &str = ",";

/// One page of the list (the fields used); `null` reads as Go's zero value.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    #[serde(deserialize_with = "null_as_default")]
    pub droplets: Vec<Droplet>,
    #[serde(deserialize_with = "null_as_default")]
    links: Links,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Links {
    pages: Option<Pages>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Pages {
    #[serde(deserialize_with = "null_as_default")]
    prev: String,
    #[serde(deserialize_with = "null_as_default")]
    next: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Droplet {
    #[serde(deserialize_with = "null_as_default")]
    id: i64,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    image: Slugged,
    #[serde(deserialize_with = "null_as_default")]
    region: Slugged,
    #[serde(deserialize_with = "null_as_default")]
    size_slug: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    vpc_uuid: String,
    #[serde(deserialize_with = "null_as_default")]
    features: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    networks: Networks,
}

/// An image or a region: its slug, and an image's name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Slugged {
    #[serde(deserialize_with = "null_as_default")]
    slug: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Networks {
    #[serde(deserialize_with = "null_as_default")]
    v4: Vec<Network>,
    #[serde(deserialize_with = "null_as_default")]
    v6: Vec<Network>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Network {
    #[serde(deserialize_with = "null_as_default")]
    ip_address: String,
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    kind: String,
}

/// A page as the API answers it, or why it cannot be read.
pub fn page(answer: &[u8]) -> Result<Page, String> {
    // serde would read a list into the struct field by field; Go refuses one.
    if answer.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err("cannot read the droplets: a list, not an object".into());
    }
    serde_json::from_slice(answer).map_err(|e| format!("cannot read the droplets: {e}"))
}

impl Page {
    /// The number of the page after this one, or none when this is the last (no `next`
    /// link), as the Go client counts: one past the page `prev` names, else page 2.
    pub fn next_page(&self) -> Result<Option<i64>, String> {
        let Some(pages) = self.links.pages.as_ref().filter(|p| !p.next.is_empty()) else { return Ok(None) };
        if pages.prev.is_empty() {
            return Ok(Some(2));
        }
        let page = query_value(&pages.prev, "page").unwrap_or_default();
        let number: i64 = page.parse().map_err(|_| format!("strconv.Atoi: parsing {page:?}: invalid syntax"))?;
        Ok(Some(number + 1))
    }
}

/// The first value of `key` in `url`'s query, percent-decoding left aside (page numbers).
fn query_value<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1.split('#').next().unwrap_or("");
    query.split('&').filter_map(|pair| pair.split_once('=').or(Some((pair, "")))).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// A group per droplet that has an IPv4 network, in list order, with Prometheus' labels: its
/// target is its public IPv4 (the first `public` one) and the entry's port.
pub fn groups(droplets: &[Droplet], port: u16) -> Vec<TargetGroup> {
    droplets
        .iter()
        .filter(|d| !d.networks.v4.is_empty())
        .map(|d| {
            let public_ipv4 = first_of(&d.networks.v4, "public");
            let mut labels = BTreeMap::from([
                ("__meta_digitalocean_droplet_id".to_string(), d.id.to_string()),
                ("__meta_digitalocean_droplet_name".to_string(), d.name.clone()),
                ("__meta_digitalocean_image".to_string(), d.image.slug.clone()),
                ("__meta_digitalocean_image_name".to_string(), d.image.name.clone()),
                ("__meta_digitalocean_private_ipv4".to_string(), first_of(&d.networks.v4, "private")),
                ("__meta_digitalocean_public_ipv4".to_string(), public_ipv4.clone()),
                ("__meta_digitalocean_public_ipv6".to_string(), first_of(&d.networks.v6, "public")),
                ("__meta_digitalocean_region".to_string(), d.region.slug.clone()),
                ("__meta_digitalocean_size".to_string(), d.size_slug.clone()),
                ("__meta_digitalocean_status".to_string(), d.status.clone()),
                ("__meta_digitalocean_vpc".to_string(), d.vpc_uuid.clone()),
            ]);
            // With a separator at each end, relabeling regexes need not mind an item's position.
            if !d.features.is_empty() {
                labels.insert("__meta_digitalocean_features".to_string(), format!("{SEPARATOR}{}{SEPARATOR}", d.features.join(SEPARATOR)));
            }
            if !d.tags.is_empty() {
                labels.insert("__meta_digitalocean_tags".to_string(), format!("{SEPARATOR}{}{SEPARATOR}", d.tags.join(SEPARATOR)));
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![join_host_port(&public_ipv4, port)], labels }
        })
        .collect()
}

/// The address of the first network of type `kind` ("" when there is none).
fn first_of(networks: &[Network], kind: &str) -> String {
    networks.iter().find(|n| n.kind == kind).map(|n| n.ip_address.clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first page as the API answers it: three droplets (one without IPv4, one with private
    /// networking and IPv6), and links to a last page 2.
    pub const PAGE_1: &str = r#"{
      "droplets": [
        {"id": 402117893, "name": "edge-ams3-01", "memory": 2048, "vcpus": 2, "disk": 60, "locked": false, "status": "active",
         "kernel": null, "created_at": "2024-03-01T10:12:44Z", "features": ["monitoring", "ipv6", "droplet_agent"],
         "backup_ids": [], "snapshot_ids": [], "volume_ids": [], "size_slug": "s-2vcpu-2gb",
         "image": {"id": 148542201, "name": "24.04 (LTS) x64", "distribution": "Ubuntu", "slug": "ubuntu-24-04-x64", "public": true, "regions": ["ams3"], "type": "base"},
         "size": {"slug": "s-2vcpu-2gb"}, "region": {"name": "Amsterdam 3", "slug": "ams3", "features": [], "available": true},
         "networks": {"v4": [{"ip_address": "10.110.0.4", "netmask": "255.255.240.0", "gateway": "", "type": "private"},
                             {"ip_address": "164.92.140.17", "netmask": "255.255.240.0", "gateway": "164.92.128.1", "type": "public"},
                             {"ip_address": "164.92.140.99", "netmask": "255.255.240.0", "gateway": "164.92.128.1", "type": "public"}],
                      "v6": [{"ip_address": "2a03:b0c0:2:d0::1a2b:c001", "netmask": 64, "gateway": "2a03:b0c0:2:d0::1", "type": "public"}]},
         "tags": ["prometheus", "env:prod"], "vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4"},
        {"id": 402117894, "name": "building", "status": "new", "size_slug": "s-1vcpu-1gb",
         "image": {"name": "24.04 (LTS) x64", "slug": "ubuntu-24-04-x64"}, "region": {"slug": "ams3"},
         "networks": {"v4": [], "v6": []}, "features": [], "tags": [], "vpc_uuid": ""},
        {"id": 402117895, "name": "batch-fra1", "status": "off", "size_slug": "s-1vcpu-1gb",
         "image": {"name": "Custom snapshot", "slug": null}, "region": {"slug": "fra1"},
         "networks": {"v4": [{"ip_address": "45.55.3.9", "type": "public"}], "v6": null}, "features": null, "tags": null,
         "vpc_uuid": "953d698c-dc84-11e8-80bc-3cfdfea9fba1"}
      ],
      "links": {"pages": {"next": "https://api.digitalocean.com/v2/droplets?page=2", "last": "https://api.digitalocean.com/v2/droplets?page=2"}},
      "meta": {"total": 4}
    }"#;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn droplets_become_the_targets_and_labels_prometheus_makes() {
        let page = page(PAGE_1.as_bytes()).expect("a valid page");
        let groups = groups(&page.droplets, 9100);
        assert_eq!(groups.len(), 2, "the droplet without IPv4 is no target");
        assert_eq!(groups[0].targets, ["164.92.140.17:9100"], "the first public IPv4");
        assert_eq!(
            groups[0].labels,
            labels(&[
                ("__meta_digitalocean_droplet_id", "402117893"),
                ("__meta_digitalocean_droplet_name", "edge-ams3-01"),
                ("__meta_digitalocean_image", "ubuntu-24-04-x64"),
                ("__meta_digitalocean_image_name", "24.04 (LTS) x64"),
                ("__meta_digitalocean_private_ipv4", "10.110.0.4"),
                ("__meta_digitalocean_public_ipv4", "164.92.140.17"),
                ("__meta_digitalocean_public_ipv6", "2a03:b0c0:2:d0::1a2b:c001"),
                ("__meta_digitalocean_region", "ams3"),
                ("__meta_digitalocean_size", "s-2vcpu-2gb"),
                ("__meta_digitalocean_status", "active"),
                ("__meta_digitalocean_vpc", "5a4981aa-9653-4bd1-bef5-d6bff52042e4"),
                ("__meta_digitalocean_features", ",monitoring,ipv6,droplet_agent,"),
                ("__meta_digitalocean_tags", ",prometheus,env:prod,"),
            ])
        );
        // No private network, IPv6, image slug, features or tags: no such labels.
        assert_eq!(groups[1].targets, ["45.55.3.9:9100"]);
        assert_eq!(
            groups[1].labels,
            labels(&[
                ("__meta_digitalocean_droplet_id", "402117895"),
                ("__meta_digitalocean_droplet_name", "batch-fra1"),
                ("__meta_digitalocean_image_name", "Custom snapshot"),
                ("__meta_digitalocean_public_ipv4", "45.55.3.9"),
                ("__meta_digitalocean_region", "fra1"),
                ("__meta_digitalocean_size", "s-1vcpu-1gb"),
                ("__meta_digitalocean_status", "off"),
                ("__meta_digitalocean_vpc", "953d698c-dc84-11e8-80bc-3cfdfea9fba1"),
            ])
        );
    }

    #[test]
    fn a_droplet_with_only_a_private_ipv4_has_an_empty_host() {
        let page = page(br#"{"droplets": [{"id": 7, "networks": {"v4": [{"ip_address": "10.0.0.7", "type": "private"}]}}]}"#).expect("valid");
        let groups = groups(&page.droplets, 80);
        assert_eq!(groups[0].targets, [":80"], "as Prometheus joins an empty public IPv4");
        assert_eq!(groups[0].labels.get("__meta_digitalocean_private_ipv4").map(String::as_str), Some("10.0.0.7"));
    }

    #[test]
    fn the_next_page_is_counted_as_the_go_client_counts() {
        let next = |links: &str| page(format!(r#"{{"droplets": [], "links": {links}}}"#).as_bytes()).expect("valid").next_page();
        assert_eq!(page(PAGE_1.as_bytes()).expect("valid").next_page(), Ok(Some(2)));
        assert_eq!(next(r#"{"pages": {"prev": "https://api.digitalocean.com/v2/droplets?page=2&per_page=20", "next": "https://api.digitalocean.com/v2/droplets?page=4"}}"#), Ok(Some(3)));
        assert_eq!(next(r#"{"pages": {"first": "https://a/v2/droplets?page=1", "prev": "https://a/v2/droplets?page=2"}}"#), Ok(None), "no next: the last page");
        assert_eq!(next(r#"{}"#), Ok(None));
        assert_eq!(next("null"), Ok(None));
        assert_eq!(page(br#"{"droplets": []}"#).expect("valid").next_page(), Ok(None));
        assert!(next(r#"{"pages": {"prev": "https://a/v2/droplets?per_page=2", "next": "https://a/v2/droplets?page=3"}}"#).is_err());
        assert!(page(b"[]").is_err() && page(br#"{"droplets": [{"id": "x"}]}"#).is_err());
    }
}
