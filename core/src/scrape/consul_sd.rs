//! Targets from `consul_sd_configs`, as Prometheus' Consul discovery finds them, read every
//! `refresh_interval` (30 s by default; Prometheus long-polls with blocking queries and
//! throttles them to that interval, this reads the catalog at it): the service list
//! (`/v1/catalog/services`, with `node-meta` and `filter`), then each watched service's
//! instances with their health (`/v1/health/service/<name>`, with the `tag`s, `node-meta`
//! and `health_filter`), `dc`, `ns`, `partition` and `stale` on every request and the
//! `token` as `X-Consul-Token`. A service is watched when `services` is empty or names it,
//! and when its catalog tags hold every one of `tags`. Each instance is a target at its
//! service address (the node's when empty) and port, with Prometheus' `__meta_consul_*`
//! labels. A failed request keeps the last good targets (of the service, or of all when the
//! list fails) and is logged when the error changes.
//!
//! Executor 0 asks and puts the groups in the shared `AskedGroups` (the source is the
//! entry's base URL), which every executor reads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::asked_groups::{sleep_unless_stopped, unless_stopped, AskedGroups};
use super::config::{ConsulSd, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The largest answer read (a catalog of tens of thousands of instances fits).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts reading every consul_sd entry of `config` on this executor, until `stopped`
/// closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, asked: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    for (j, job) in config.jobs.iter().enumerate() {
        for i in 0..job.consul_sd.len() {
            let (config, asked, stopped) = (config.clone(), asked.clone(), stopped.clone());
            glommio::spawn_local(async move {
                let job = &config.jobs[j];
                refresh_loop(&job.name, &job.consul_sd[i], &asked, &stopped).await;
            })
            .detach();
        }
    }
}

/// One service instance as `/v1/health/service/<name>` gives it (the fields used).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct ServiceEntry {
    node: Node,
    service: Service,
    /// `null` read as none (Go writes an empty list so).
    checks: Option<Vec<Check>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Node {
    node: String,
    address: String,
    meta: Option<BTreeMap<String, String>>,
    tagged_addresses: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Service {
    #[serde(rename = "ID")]
    id: String,
    tags: Option<Vec<String>>,
    address: String,
    port: i64,
    meta: Option<BTreeMap<String, String>>,
    namespace: String,
    partition: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct Check {
    #[serde(rename = "CheckID")]
    check_id: String,
    status: String,
}

/// Consul's aggregated health of an instance's checks: maintenance, then critical, then
/// warning, else passing (no checks: passing); an unknown status makes it empty.
fn aggregated_status(checks: &[Check]) -> &'static str {
    let (mut warning, mut critical, mut maintenance) = (false, false, false);
    for check in checks {
        if check.check_id == "_node_maintenance" || check.check_id.starts_with("_service_maintenance:") {
            maintenance = true;
            continue;
        }
        match check.status.as_str() {
            "passing" => {}
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return "",
        }
    }
    if maintenance {
        "maintenance"
    } else if critical {
        "critical"
    } else if warning {
        "warning"
    } else {
        "passing"
    }
}

/// A label name made of Prometheus' legal characters (others become `_`, as its
/// `SanitizeLabelName`).
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// `host:port`, the host in brackets when it is an IPv6 address.
fn host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The groups of one service, with Prometheus' labels: one per instance (their labels
/// differ), sorted so that an answer listing them in another order is no change.
fn instance_groups(service: &str, datacenter: &str, separator: &str, entries: &[ServiceEntry]) -> Vec<TargetGroup> {
    let mut groups: Vec<TargetGroup> = entries
        .iter()
        .map(|entry| {
            let address = if entry.service.address.is_empty() { host_port(&entry.node.address, entry.service.port) } else { host_port(&entry.service.address, entry.service.port) };
            let tags = entry.service.tags.clone().unwrap_or_default();
            let mut labels = BTreeMap::from([
                ("__meta_consul_address".to_string(), entry.node.address.clone()),
                ("__meta_consul_node".to_string(), entry.node.node.clone()),
                ("__meta_consul_namespace".to_string(), entry.service.namespace.clone()),
                ("__meta_consul_partition".to_string(), entry.service.partition.clone()),
                ("__meta_consul_tags".to_string(), format!("{separator}{}{separator}", tags.join(separator))),
                ("__meta_consul_service_address".to_string(), entry.service.address.clone()),
                ("__meta_consul_service_port".to_string(), entry.service.port.to_string()),
                ("__meta_consul_service_id".to_string(), entry.service.id.clone()),
                ("__meta_consul_health".to_string(), aggregated_status(entry.checks.as_deref().unwrap_or_default()).to_string()),
                ("__meta_consul_service".to_string(), service.to_string()),
                ("__meta_consul_dc".to_string(), datacenter.to_string()),
            ]);
            for (prefix, map) in [("__meta_consul_metadata_", &entry.node.meta), ("__meta_consul_service_metadata_", &entry.service.meta), ("__meta_consul_tagged_address_", &entry.node.tagged_addresses)] {
                for (k, v) in map.iter().flatten() {
                    labels.insert(format!("{prefix}{}", sanitize(k)), v.clone());
                }
            }
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![address], labels }
        })
        .collect();
    groups.sort_by(|a, b| (&a.targets, &a.labels).cmp(&(&b.targets, &b.labels)));
    groups
}

/// What one entry's reading keeps between refreshes.
#[derive(Default)]
struct Reading {
    /// The agent's datacenter once asked (when the entry names none).
    datacenter: Option<String>,
    /// Each watched service's last good groups.
    services: BTreeMap<String, Vec<TargetGroup>>,
    /// The errors logged last time, by request.
    errors: BTreeMap<String, String>,
}

/// Reads `sd` now and then every refresh interval until `stopped` closes.
async fn refresh_loop(job: &str, sd: &ConsulSd, asked: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mut client = match http_get::client_for(&sd.location, &sd.tls) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, server = %sd.base_url, %error, "consul_sd: its targets stay empty");
            return;
        }
    };
    // What an earlier loop of this source found (before a reload) stays until read again, so
    // a Consul that fails just then does not take the targets away.
    let mut reading = Reading::default();
    for group in asked.groups(job, &sd.source) {
        let service = group.labels.get("__meta_consul_service").cloned().unwrap_or_default();
        reading.services.entry(service).or_default().push(group);
    }
    loop {
        let Some(errors) = unless_stopped(refresh(&mut client, sd, &mut reading), stopped).await else { return };
        for (request, error) in &errors {
            if reading.errors.get(request) != Some(error) {
                tracing::warn!(job, server = %sd.base_url, %request, %error, "consul_sd request failed; the last good targets are kept");
            }
        }
        if errors.is_empty() && !reading.errors.is_empty() {
            tracing::info!(job, server = %sd.base_url, "consul_sd answers again");
        }
        reading.errors = errors;
        asked.store(job, &sd.source, reading.services.values().flatten().cloned().collect());
        if !sleep_unless_stopped(Duration::from_millis(sd.refresh_ms as u64), stopped).await {
            return;
        }
    }
}

/// One reading of the catalog into `reading`; the requests that failed, with their errors.
async fn refresh(client: &mut net::client::HttpClient, sd: &ConsulSd, reading: &mut Reading) -> BTreeMap<String, String> {
    let mut errors = BTreeMap::new();
    let datacenter = if !sd.datacenter.is_empty() {
        sd.datacenter.clone()
    } else if let Some(known) = &reading.datacenter {
        known.clone()
    } else {
        match ask::<AgentSelf>(client, sd, "/v1/agent/self", &[]).await.and_then(|a| if a.config.datacenter.is_empty() { Err("the agent names no datacenter (Config.Datacenter)".to_string()) } else { Ok(a) }) {
            Ok(agent) => {
                reading.datacenter = Some(agent.config.datacenter.clone());
                agent.config.datacenter
            }
            Err(error) => {
                errors.insert("/v1/agent/self".to_string(), error);
                return errors;
            }
        }
    };
    let mut common = vec![("dc".to_string(), datacenter.clone())];
    if sd.allow_stale {
        common.push(("stale".to_string(), String::new()));
    }
    for (name, value) in &sd.node_meta {
        common.push(("node-meta".to_string(), format!("{name}:{value}")));
    }
    for (key, value) in [("ns", &sd.namespace), ("partition", &sd.partition)] {
        if !value.is_empty() {
            common.push((key.to_string(), value.clone()));
        }
    }
    let mut list_params = common.clone();
    if !sd.filter.is_empty() {
        list_params.push(("filter".to_string(), sd.filter.clone()));
    }
    let listed = match ask::<BTreeMap<String, Option<Vec<String>>>>(client, sd, "/v1/catalog/services", &list_params).await {
        Ok(listed) => listed,
        Err(error) => {
            errors.insert("/v1/catalog/services".to_string(), error);
            return errors;
        }
    };
    let watched: std::collections::BTreeSet<&String> = listed
        .iter()
        .filter(|(name, tags)| (sd.services.is_empty() || sd.services.contains(name)) && sd.tags.iter().all(|t| tags.as_deref().unwrap_or_default().contains(t)))
        .map(|(name, _)| name)
        .collect();
    reading.services.retain(|name, _| watched.contains(name));
    for name in watched {
        let mut params = common.clone();
        params.extend(sd.tags.iter().map(|t| ("tag".to_string(), t.clone())));
        if !sd.health_filter.is_empty() {
            params.push(("filter".to_string(), sd.health_filter.clone()));
        }
        let path = format!("/v1/health/service/{}", path_escape(name));
        match ask::<Vec<ServiceEntry>>(client, sd, &path, &params).await {
            Ok(entries) => {
                reading.services.insert(name.clone(), instance_groups(name, &datacenter, &sd.tag_separator, &entries));
            }
            Err(error) => {
                errors.insert(path, error);
            }
        }
    }
    errors
}

/// `/v1/agent/self`'s part used: the agent's datacenter.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct AgentSelf {
    config: AgentConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct AgentConfig {
    datacenter: String,
}

/// A path segment with everything but unreserved characters percent-encoded.
fn path_escape(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

/// GETs `path` (under the entry's prefix) with `params` and reads the JSON answer.
async fn ask<T: serde::de::DeserializeOwned>(client: &mut net::client::HttpClient, sd: &ConsulSd, path: &str, params: &[(String, String)]) -> Result<T, String> {
    let prefix = sd.location.path_and_query.trim_end_matches('/');
    let query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", super::discovery::query_escape(k), super::discovery::query_escape(v))).collect();
    let path_and_query = if query.is_empty() { format!("{prefix}{path}") } else { format!("{prefix}{path}?{}", query.join("&")) };
    let location = Url { path_and_query, ..sd.location.clone() };
    let shown = format!("{}{path}", sd.base_url);
    let mut headers = vec![("Accept".to_string(), "application/json".to_string()), ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION")))];
    if let Some(token) = &sd.token {
        headers.push(("X-Consul-Token".to_string(), token.clone()));
    }
    if let Some(value) = sd.credentials.header()? {
        headers.push(("Authorization".to_string(), value));
    }
    headers.extend(sd.http_headers.values()?);
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, follow_redirects: sd.follow_redirects, tls: &sd.tls };
    let response = http_get::get(get).await?;
    if response.status != 200 {
        let text = String::from_utf8_lossy(&response.body);
        return Err(format!("{}: {}", http_get::status_error(response.status), text.trim().chars().take(200).collect::<String>()));
    }
    serde_json::from_slice(&response.body).map_err(|e| format!("cannot parse the answer of {shown}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_get_prometheus_labels() {
        let entries: Vec<ServiceEntry> = serde_json::from_str(
            r#"[
            {"Node": {"Node": "n1", "Address": "10.0.0.1", "Meta": {"rack-id": "r1"}, "TaggedAddresses": {"lan": "10.0.0.1"}},
             "Service": {"ID": "web-1", "Service": "web", "Tags": ["a", "b"], "Address": "", "Port": 9100, "Meta": {"version": "2"}},
             "Checks": [{"CheckID": "serfHealth", "Status": "passing"}, {"CheckID": "c2", "Status": "warning"}]},
            {"Node": {"Node": "n2", "Address": "10.0.0.2"},
             "Service": {"ID": "web-2", "Tags": null, "Address": "fd00::2", "Port": 9100, "Namespace": "ns1"},
             "Checks": [{"CheckID": "_service_maintenance:web-2", "Status": "critical"}]}
        ]"#,
        )
        .expect("consul answer");
        let groups = instance_groups("web", "dc1", ",", &entries);
        assert_eq!(groups.iter().map(|g| g.targets[0].as_str()).collect::<Vec<_>>(), vec!["10.0.0.1:9100", "[fd00::2]:9100"]);
        let first: Vec<(&str, &str)> = groups[0].labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            first,
            vec![
                ("__meta_consul_address", "10.0.0.1"),
                ("__meta_consul_dc", "dc1"),
                ("__meta_consul_health", "warning"),
                ("__meta_consul_metadata_rack_id", "r1"),
                ("__meta_consul_node", "n1"),
                ("__meta_consul_service", "web"),
                ("__meta_consul_service_id", "web-1"),
                ("__meta_consul_service_metadata_version", "2"),
                ("__meta_consul_service_port", "9100"),
                ("__meta_consul_tagged_address_lan", "10.0.0.1"),
                ("__meta_consul_tags", ",a,b,"),
            ]
        );
        assert_eq!(groups[1].labels.get("__meta_consul_health").map(String::as_str), Some("maintenance"));
        assert_eq!(groups[1].labels.get("__meta_consul_service_address").map(String::as_str), Some("fd00::2"));
        assert_eq!(groups[1].labels.get("__meta_consul_namespace").map(String::as_str), Some("ns1"));
        assert_eq!(groups[1].labels.get("__meta_consul_tags").map(String::as_str), Some(",,"));
    }

    #[test]
    fn null_lists_and_two_entries_on_one_server() {
        let entries: Vec<ServiceEntry> = serde_json::from_str(r#"[{"Node": {"Node": "n", "Address": "10.0.0.9", "Meta": null}, "Service": {"ID": "x", "Tags": null, "Port": 1}, "Checks": null}]"#).expect("nulls read as none");
        assert_eq!(instance_groups("x", "dc1", ",", &entries)[0].labels.get("__meta_consul_health").map(String::as_str), Some("passing"));
        let config = ScrapeConfig::from_yaml("scrape_configs: [{job_name: j, consul_sd_configs: [{server: 'http://c:8500', datacenter: dc1}, {server: 'c:8500', datacenter: dc2}, {server: 'HTTPS://c:8501'}]}]", std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid");
        let sds = &config.jobs[0].consul_sd;
        assert_eq!((sds[0].base_url.as_str(), sds[1].base_url.as_str(), sds[2].base_url.as_str()), ("http://c:8500", "http://c:8500", "https://c:8501"));
        assert_ne!(sds[0].source, sds[1].source, "two entries on one server keep their targets apart");
        assert_eq!(crate::scrape::asked_sources(&config.jobs[0]).len(), 3);
    }

    #[test]
    fn health_aggregates_as_consul_does() {
        let check = |id: &str, status: &str| Check { check_id: id.into(), status: status.into() };
        assert_eq!(aggregated_status(&[]), "passing");
        assert_eq!(aggregated_status(&[check("a", "passing"), check("b", "critical"), check("c", "warning")]), "critical");
        assert_eq!(aggregated_status(&[check("_node_maintenance", "critical"), check("a", "passing")]), "maintenance");
        assert_eq!(aggregated_status(&[check("a", "bogus")]), "");
    }
}
