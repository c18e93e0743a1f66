//! Targets from `gce_sd_configs`, as Prometheus' GCE discovery finds them: Compute Engine's
//! `instances.list` of `project` and `zone`, each instance with a network interface a target
//! with Prometheus' `__meta_gce_*` labels (`instance_group`). Requests carry a token from
//! Google's Application Default Credentials (`google_auth`). A failure keeps the last good
//! targets. Executor 0 asks and stores the groups, by source, in `AskedGroups`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
pub mod config;

use self::config::GceSd;
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::discovery::{null_as_default, query_escape, sanitize_label_name};
use super::google_auth::{self, Token};

/// The scope Prometheus asks for.
const SCOPE: &str = "https://www.googleapis.com/auth/compute.readonly";
/// The most pages one refresh reads (a token that never ends stops here).
const PAGES_MAX: usize = 10_000;
/// Instances asked per page: an instance may carry 512 KiB of metadata, so 100 fit in
/// `PAGE_BYTES_MAX` (the API's default, 500, might not).
const PAGE_SIZE: usize = 100;
/// The most a page may take.
const PAGE_BYTES_MAX: usize = 64 << 20;

/// Starts asking every gce_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.gce_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &GceSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let shown = format!("{}/{}", sd.project, sd.zone);
    let entry = Refreshed { mechanism: "gce_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut Session::default(), sd, |session, sd| Box::pin(ask(session, sd)), results, stopped).await;
}

/// What one entry keeps between refreshes: its token and a client kept alive to the API.
#[derive(Default)]
struct Session {
    token: Option<Token>,
    api: Option<(Url, net::client::HttpClient)>,
}

/// The instances of the entry's zone, made into target groups: `instances.list`, read page by
/// page (with `filter` when given). The token is asked again before it expires.
/// `METRICSTOR_GCE_ENDPOINT` replaces `https://compute.googleapis.com` (an emulator, tests).
async fn ask(session: &mut Session, sd: &GceSd) -> Result<Vec<TargetGroup>, String> {
    let env = |name: &str| std::env::var(name).ok();
    if session.token.as_ref().is_none_or(|t| !t.fresh(std::time::Instant::now())) {
        session.token = Some(google_auth::token(SCOPE, &env).await.map_err(|e| format!("error setting up communication with GCE service: {e}"))?);
    }
    if session.api.is_none() {
        let base = env("METRICSTOR_GCE_ENDPOINT").filter(|e| !e.is_empty()).unwrap_or_else(|| "https://compute.googleapis.com".into());
        let url = Url::parse(&base).map_err(|e| format!("METRICSTOR_GCE_ENDPOINT: {e}"))?;
        // Through the environment's proxy, as Go's default transport goes.
        let tls = super::http_get::system_roots_tls();
        let proxy = super::proxy::ProxyChoice::from_settings(None, None, true, &Default::default(), &tls, &env)?;
        let client = super::http_get::client_for(&url, &tls, &proxy)?;
        session.api = Some((url, client));
    }
    let header = session.token.as_ref().map(|t| t.header.clone()).unwrap_or_default();
    let (base, client) = session.api.as_mut().ok_or("no client")?;
    let prefix = base.path_and_query.trim_end_matches('/');
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = [("Authorization".to_string(), header), ("Accept".to_string(), "application/json".to_string()), ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION")))];
    let mut groups = Vec::new();
    let mut page_token: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let mut path = format!("{prefix}/compute/v1/projects/{}/zones/{}/instances?alt=json", query_escape(&sd.project), query_escape(&sd.zone));
        if !sd.filter.is_empty() {
            path.push_str(&format!("&filter={}", query_escape(&sd.filter)));
        }
        path.push_str(&format!("&maxResults={PAGE_SIZE}"));
        if let Some(token) = &page_token {
            path.push_str(&format!("&pageToken={}", query_escape(token)));
        }
        let response = client.get(&path, &headers, timeout, PAGE_BYTES_MAX).await.map_err(|e| format!("error retrieving refresh targets from gce: {e}"))?;
        if response.status != 200 {
            if response.status == 401 {
                session.token = None;
            }
            let message = serde_json::from_slice::<serde_json::Value>(&response.body).ok().and_then(|v| v["error"]["message"].as_str().map(str::to_string));
            let status = super::http_get::status_error(response.status);
            return Err(format!("error retrieving refresh targets from gce: {}", message.map_or(status.clone(), |m| format!("{status}: {m}"))));
        }
        let (page, next) = read_page(&response.body, sd).map_err(|e| format!("error retrieving refresh targets from gce: {e}"))?;
        groups.extend(page);
        match next {
            Some(token) => page_token = Some(token),
            None => return Ok(groups),
        }
    }
    Err(format!("error retrieving refresh targets from gce: more than {PAGES_MAX} pages"))
}

/// One page of `instances.list`: a target group per instance with a network interface, and
/// the token of the next page (None on the last).
pub fn read_page(body: &[u8], sd: &GceSd) -> Result<(Vec<TargetGroup>, Option<String>), String> {
    let page: InstanceList = serde_json::from_slice(body).map_err(|e| format!("cannot read the answer: {e}"))?;
    let groups = page.items.iter().filter_map(|instance| instance_group(instance, sd)).collect();
    Ok((groups, page.next_page_token.filter(|t| !t.is_empty())))
}

/// A page of `instances.list` (the fields the labels read).
// Every field may also be `null`, read as absent (`null_as_default`).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct InstanceList {
    #[serde(deserialize_with = "null_as_default")]
    items: Vec<Instance>,
    next_page_token: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Instance {
    /// A uint64 the API writes as a string (an emulator may write a number).
    #[serde(deserialize_with = "string_or_number")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    zone: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    machine_type: String,
    #[serde(deserialize_with = "null_as_default")]
    network_interfaces: Vec<NetworkInterface>,
    tags: Option<Tags>,
    metadata: Option<Metadata>,
    /// In key order, so that two keys sanitized alike give the same label every time.
    #[serde(deserialize_with = "null_as_default")]
    labels: BTreeMap<String, String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct NetworkInterface {
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    network: String,
    #[serde(deserialize_with = "null_as_default")]
    subnetwork: String,
    #[serde(rename = "networkIP", deserialize_with = "null_as_default")]
    network_ip: String,
    #[serde(deserialize_with = "null_as_default")]
    access_configs: Vec<AccessConfig>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct AccessConfig {
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    kind: String,
    #[serde(rename = "natIP", deserialize_with = "null_as_default")]
    nat_ip: String,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Tags {
    #[serde(deserialize_with = "null_as_default")]
    items: Vec<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct Metadata {
    #[serde(deserialize_with = "null_as_default")]
    items: Vec<MetadataItem>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
struct MetadataItem {
    #[serde(deserialize_with = "null_as_default")]
    key: String,
    value: Option<String>,
}

/// A string, or a number written as one (`null`: empty).
fn string_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    use serde::Deserialize;
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(text)) => text,
        Some(serde_json::Value::Number(number)) => number.to_string(),
        _ => String::new(),
    })
}

/// The target of one instance (none without a network interface), labelled as Prometheus does:
/// its first interface's IP on `port`.
fn instance_group(instance: &Instance, sd: &GceSd) -> Option<TargetGroup> {
    let primary = instance.network_interfaces.first()?;
    let mut labels = BTreeMap::new();
    let mut set = |name: String, value: &str| {
        labels.insert(name, value.to_string());
    };
    set("__meta_gce_project".into(), &sd.project);
    set("__meta_gce_zone".into(), &instance.zone);
    set("__meta_gce_instance_id".into(), &instance.id);
    set("__meta_gce_instance_name".into(), &instance.name);
    set("__meta_gce_instance_status".into(), &instance.status);
    set("__meta_gce_machine_type".into(), &instance.machine_type);
    set("__meta_gce_network".into(), &primary.network);
    set("__meta_gce_subnetwork".into(), &primary.subnetwork);
    set("__meta_gce_private_ip".into(), &primary.network_ip);
    for interface in &instance.network_interfaces {
        set(format!("__meta_gce_interface_ipv4_{}", sanitize_label_name(&interface.name)), &interface.network_ip);
    }
    if let Some(tags) = instance.tags.as_ref().filter(|t| !t.items.is_empty()) {
        let separator = &sd.tag_separator;
        set("__meta_gce_tags".into(), &format!("{separator}{}{separator}", tags.items.join(separator)));
    }
    for item in instance.metadata.iter().flat_map(|m| &m.items) {
        if let Some(value) = &item.value {
            set(format!("__meta_gce_metadata_{}", sanitize_label_name(&item.key)), value);
        }
    }
    for (key, value) in &instance.labels {
        set(format!("__meta_gce_label_{}", sanitize_label_name(key)), value);
    }
    if let Some(access) = primary.access_configs.first().filter(|a| a.kind == "ONE_TO_ONE_NAT") {
        set("__meta_gce_public_ip".into(), &access.nat_ip);
    }
    // As Prometheus writes it: host:port, without brackets.
    Some(TargetGroup { targets: vec![format!("{}:{}", primary.network_ip, sd.port)], labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> GceSd {
        GceSd { source: "gce".into(), project: "proj-1".into(), zone: "europe-west1-b".into(), filter: String::new(), refresh_ms: 60_000, port: 9100, tag_separator: ",".into() }
    }

    #[test]
    fn instances_are_labelled_as_prometheus_labels_them() {
        let page = r#"{"kind":"compute#instanceList","items":[
          {"id":"7473828239134513421","name":"web-1","zone":"https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b","status":"RUNNING",
           "machineType":"https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b/machineTypes/e2-small",
           "networkInterfaces":[{"name":"nic0","network":"https://www.googleapis.com/compute/v1/projects/proj-1/global/networks/default","subnetwork":"https://www.googleapis.com/compute/v1/projects/proj-1/regions/europe-west1/subnetworks/default","networkIP":"10.132.0.2","accessConfigs":[{"type":"ONE_TO_ONE_NAT","name":"External NAT","natIP":"34.77.1.2"}]},
                                {"name":"nic-1.b","network":"n2","networkIP":"10.8.0.5"}],
           "tags":{"items":["http-server","prom"]},"metadata":{"items":[{"key":"startup-script","value":"echo"},{"key":"no-value"}]},"labels":{"env":"prod","team.name":"web"}},
          {"id":"2","name":"no-nic","zone":"z","status":"TERMINATED","networkInterfaces":[]}
        ],"nextPageToken":"t2"}"#;
        let list: InstanceList = serde_json::from_str(page).expect("page");
        assert_eq!(list.next_page_token.as_deref(), Some("t2"));
        let groups: Vec<TargetGroup> = list.items.iter().filter_map(|i| instance_group(i, &entry())).collect();
        assert_eq!(groups.len(), 1, "an instance without a network interface is skipped");
        assert_eq!(groups[0].targets, ["10.132.0.2:9100"]);
        let expected: BTreeMap<String, String> = [
            ("__meta_gce_project", "proj-1"),
            ("__meta_gce_zone", "https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b"),
            ("__meta_gce_instance_id", "7473828239134513421"),
            ("__meta_gce_instance_name", "web-1"),
            ("__meta_gce_instance_status", "RUNNING"),
            ("__meta_gce_machine_type", "https://www.googleapis.com/compute/v1/projects/proj-1/zones/europe-west1-b/machineTypes/e2-small"),
            ("__meta_gce_network", "https://www.googleapis.com/compute/v1/projects/proj-1/global/networks/default"),
            ("__meta_gce_subnetwork", "https://www.googleapis.com/compute/v1/projects/proj-1/regions/europe-west1/subnetworks/default"),
            ("__meta_gce_private_ip", "10.132.0.2"),
            ("__meta_gce_interface_ipv4_nic0", "10.132.0.2"),
            ("__meta_gce_interface_ipv4_nic_1_b", "10.8.0.5"),
            ("__meta_gce_tags", ",http-server,prom,"),
            ("__meta_gce_metadata_startup_script", "echo"),
            ("__meta_gce_label_env", "prod"),
            ("__meta_gce_label_team_name", "web"),
            ("__meta_gce_public_ip", "34.77.1.2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(groups[0].labels, expected);
    }

    #[test]
    fn a_nat_other_than_one_to_one_empty_tags_and_nulls_give_no_labels() {
        let instance: Instance = serde_json::from_str(r#"{"id":3,"name":"b","status":null,"labels":null,"networkInterfaces":[{"name":"nic0","networkIP":"10.0.0.3","accessConfigs":[{"type":"DIRECT_IPV6","natIP":"x"}]}],"tags":{"items":[]}}"#).expect("instance");
        assert_eq!((instance.id.as_str(), instance.status.as_str()), ("3", ""));
        let sd = GceSd { tag_separator: "|".into(), ..entry() };
        let group = instance_group(&instance, &sd).expect("a target");
        assert!(!group.labels.contains_key("__meta_gce_public_ip") && !group.labels.contains_key("__meta_gce_tags"), "{:?}", group.labels);
        assert_eq!(group.targets, ["10.0.0.3:9100"]);
    }
}
