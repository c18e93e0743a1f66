//! Targets from `nomad_sd_configs`, as Prometheus' Nomad discovery finds them: each
//! registration of each service the server lists is a target. A failed request fails the
//! whole refresh, which keeps the last good targets and is logged when the error changes.
//! Executor 0 asks and puts the groups in the shared `AskedGroups` (the source is the entry's
//! server, position and settings), which every executor reads.

pub mod config;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use self::config::NomadSd;
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::discovery::{join_host_port, null_as_default, query_escape};
use super::http_get::{self, Get};

/// The largest answer read (a service list or a service's registrations; tens of thousands
/// of registrations fit).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts asking every nomad_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.nomad_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &NomadSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "nomad_sd", job, shown: &sd.server, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.location, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One namespace's services as `/v1/services` lists them (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct NamespaceServices {
    #[serde(deserialize_with = "null_as_default")]
    services: Vec<ServiceStub>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ServiceStub {
    #[serde(deserialize_with = "null_as_default")]
    service_name: String,
}

/// One registration of a service as `/v1/service/<name>` gives it (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Registration {
    #[serde(rename = "ID", deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    service_name: String,
    #[serde(deserialize_with = "null_as_default")]
    namespace: String,
    #[serde(rename = "NodeID", deserialize_with = "null_as_default")]
    node_id: String,
    #[serde(deserialize_with = "null_as_default")]
    datacenter: String,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    address: String,
    #[serde(deserialize_with = "null_as_default")]
    port: i64,
}

/// One refresh: the service list (`GET /v1/services`), then every listed service's
/// registrations (`GET /v1/service/<name>`) (any failure fails the refresh, as in
/// Prometheus), made into target groups.
async fn ask(client: &mut net::client::HttpClient, sd: &NomadSd) -> Result<Vec<TargetGroup>, String> {
    let listed: Vec<NamespaceServices> = get_json(client, sd, "/v1/services").await?;
    let mut registrations = Vec::new();
    for service in listed.iter().flat_map(|n| &n.services) {
        let path = format!("/v1/service/{}", super::consul_sd::path_escape(&service.service_name));
        let found: Vec<Registration> = get_json(client, sd, &path).await.map_err(|e| format!("failed to fetch services: {e}"))?;
        registrations.extend(found);
    }
    Ok(groups(&registrations, &sd.tag_separator))
}

/// The query every request carries, as Nomad's Go client encodes it (keys sorted): the
/// entry's `namespace` and `region` when not empty, and `stale` (empty) with `allow_stale`.
fn query(sd: &NomadSd) -> String {
    let mut params = Vec::new();
    if !sd.namespace.is_empty() {
        params.push(format!("namespace={}", query_escape(&sd.namespace)));
    }
    if !sd.region.is_empty() {
        params.push(format!("region={}", query_escape(&sd.region)));
    }
    if sd.allow_stale {
        params.push("stale=".to_string());
    }
    params.join("&")
}

/// GETs `path` at the server with the entry's query and reads the JSON answer; any status
/// but 200 is an error in Nomad's client's words.
async fn get_json<T: serde::de::DeserializeOwned>(client: &mut net::client::HttpClient, sd: &NomadSd, path: &str) -> Result<T, String> {
    let query = query(sd);
    let path_and_query = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    let location = Url { path_and_query, ..sd.location.clone() };
    let shown = http_get::format_url(&location);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", None, timeout).await?;
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if response.status != 200 {
        let text = String::from_utf8_lossy(&response.body);
        return Err(format!("Unexpected response code: {} ({})", response.status, text.trim().chars().take(200).collect::<String>()));
    }
    serde_json::from_slice(&response.body).map_err(|e| format!("cannot parse the answer of {shown}: {e}"))
}

/// A group per registration, in the order given, at its address and port, with Prometheus'
/// `__meta_nomad_*` labels; `__meta_nomad_tags` only when the registration has tags, joined by
/// `separator` with one at each end.
fn groups(registrations: &[Registration], separator: &str) -> Vec<TargetGroup> {
    registrations
        .iter()
        .map(|r| {
            let mut labels = BTreeMap::from([
                ("__meta_nomad_address".to_string(), r.address.clone()),
                ("__meta_nomad_dc".to_string(), r.datacenter.clone()),
                ("__meta_nomad_node_id".to_string(), r.node_id.clone()),
                ("__meta_nomad_namespace".to_string(), r.namespace.clone()),
                ("__meta_nomad_service_address".to_string(), r.address.clone()),
                ("__meta_nomad_service_id".to_string(), r.id.clone()),
                ("__meta_nomad_service_port".to_string(), r.port.to_string()),
                ("__meta_nomad_service".to_string(), r.service_name.clone()),
            ]);
            if !r.tags.is_empty() {
                labels.insert("__meta_nomad_tags".to_string(), format!("{separator}{}{separator}", r.tags.join(separator)));
            }
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![join_host_port(&r.address, r.port)], labels }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service list as a Nomad server answers it: one namespace, two services.
    const SERVICES: &str = r#"[{"Namespace": "default", "Services": [{"ServiceName": "storefront", "Tags": ["metrics", "web"]}, {"ServiceName": "ledger db", "Tags": null}]}]"#;

    /// The storefront's registrations: one with tags, one on IPv6 without any and with no
    /// datacenter.
    const STOREFRONT: &str = r#"[
        {"ID": "_nomad-task-0b7c2a44-91e3-4c55-8d0e-5a3f6b2c1d90-group-shop-storefront-http", "ServiceName": "storefront",
         "Namespace": "default", "NodeID": "4e1f9b2a-77c0-3d4e-a2b1-9c8d7e6f5a43", "Datacenter": "dc1", "JobID": "shop",
         "AllocID": "0b7c2a44-91e3-4c55-8d0e-5a3f6b2c1d90", "Tags": ["metrics", "web"], "Address": "10.4.0.17", "Port": 27015,
         "CreateIndex": 311, "ModifyIndex": 311},
        {"ID": "_nomad-task-aa-storefront", "ServiceName": "storefront", "Namespace": "default", "NodeID": "n2",
         "Datacenter": "", "Tags": null, "Address": "fd00::7", "Port": 8080}
    ]"#;

    fn decode<T: serde::de::DeserializeOwned>(text: &str) -> T {
        serde_json::from_str(text).expect("the fixture is JSON of Nomad's shape")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn a_registration_becomes_the_target_and_labels_prometheus_makes() {
        let listed: Vec<NamespaceServices> = decode(SERVICES);
        let names: Vec<&str> = listed.iter().flat_map(|n| &n.services).map(|s| s.service_name.as_str()).collect();
        assert_eq!(names, ["storefront", "ledger db"]);
        let groups = groups(&decode::<Vec<Registration>>(STOREFRONT), ",");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets, ["10.4.0.17:27015"]);
        assert_eq!(
            groups[0].labels,
            labels(&[
                ("__meta_nomad_address", "10.4.0.17"),
                ("__meta_nomad_dc", "dc1"),
                ("__meta_nomad_namespace", "default"),
                ("__meta_nomad_node_id", "4e1f9b2a-77c0-3d4e-a2b1-9c8d7e6f5a43"),
                ("__meta_nomad_service", "storefront"),
                ("__meta_nomad_service_address", "10.4.0.17"),
                ("__meta_nomad_service_id", "_nomad-task-0b7c2a44-91e3-4c55-8d0e-5a3f6b2c1d90-group-shop-storefront-http"),
                ("__meta_nomad_service_port", "27015"),
                ("__meta_nomad_tags", ",metrics,web,"),
            ])
        );
        // No tags: no tags label; an empty datacenter is no label; IPv6 in brackets.
        assert_eq!(groups[1].targets, ["[fd00::7]:8080"]);
        assert_eq!(
            groups[1].labels,
            labels(&[
                ("__meta_nomad_address", "fd00::7"),
                ("__meta_nomad_namespace", "default"),
                ("__meta_nomad_node_id", "n2"),
                ("__meta_nomad_service", "storefront"),
                ("__meta_nomad_service_address", "fd00::7"),
                ("__meta_nomad_service_id", "_nomad-task-aa-storefront"),
                ("__meta_nomad_service_port", "8080"),
            ])
        );
    }

    #[test]
    fn the_tag_separator_is_put_between_and_around_the_tags() {
        let one: Vec<Registration> = decode(r#"[{"ServiceName": "s", "Address": "h", "Port": 1, "Tags": ["only"]}]"#);
        assert_eq!(groups(&one, ",")[0].labels.get("__meta_nomad_tags").map(String::as_str), Some(",only,"));
        assert_eq!(groups(&decode::<Vec<Registration>>(STOREFRONT), "|")[0].labels.get("__meta_nomad_tags").map(String::as_str), Some("|metrics|web|"));
        let empty: Vec<Registration> = decode(r#"[{"ServiceName": "s", "Address": "h", "Port": 1, "Tags": []}]"#);
        assert_eq!(groups(&empty, ",")[0].labels.get("__meta_nomad_tags"), None);
    }

    #[test]
    fn requests_carry_the_parameters_nomads_client_sends() {
        let load = |entry: &str| ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: n, nomad_sd_configs: [{entry}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid");
        let defaults = load("{}");
        assert_eq!(query(&defaults.jobs[0].nomad_sd[0]), "namespace=default&region=global&stale=");
        let set = load("{namespace: 'team a', region: eu/west, allow_stale: false}");
        assert_eq!(query(&set.jobs[0].nomad_sd[0]), "namespace=team+a&region=eu%2Fwest");
        let none = load("{namespace: '', region: '', allow_stale: false}");
        assert_eq!(query(&none.jobs[0].nomad_sd[0]), "");
        assert_eq!(super::super::consul_sd::path_escape("ledger db"), "ledger%20db");
    }
}
