//! Targets from `consul_sd_configs`, as Prometheus' Consul discovery finds them: the service
//! catalog, then each watched service's instances with their health, each read by a blocking
//! query asked at most once per `refresh_interval` (30 s by default), so a change is seen at
//! once while Consul is not asked more often than that. Executor 0 asks and puts the groups in
//! the shared `AskedGroups` (the source is the entry's base URL and settings).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::asked_groups::{sleep_unless_stopped, unless_stopped, AskedGroups, ErrorLog};
pub mod config;

use self::config::ConsulSd;
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::discovery::{join_host_port, sanitize_label_name};
use super::http_get::{self, Get};

/// The largest answer read (a catalog of tens of thousands of instances fits).
const BODY_BYTES_MAX: usize = 64 << 20;
/// How long a blocking query may wait for a change (Prometheus' watch timeout).
const WATCH_WAIT: Duration = Duration::from_secs(120);
/// The wait after a failed request (Prometheus').
const RETRY_INTERVAL: Duration = Duration::from_secs(15);
/// The least time a request that does not block is given.
const MIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Starts reading every consul_sd entry of `config` on this executor, until `stopped`
/// closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, asked: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    for (j, job) in config.jobs.iter().enumerate() {
        for i in 0..job.consul_sd.len() {
            let entry = Rc::new(Entry { config: config.clone(), job: j, index: i, asked: asked.clone(), services: RefCell::default(), stopped: stopped.clone() });
            let stopped = stopped.clone();
            glommio::spawn_local(async move { refresh_loop(entry, &stopped).await }).detach();
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

/// The groups of one service, with Prometheus' `__meta_consul_*` labels: one per instance
/// (their labels differ), at its service address (the node's when empty) and port, sorted so
/// that an answer listing them in another order is no change.
fn instance_groups(service: &str, datacenter: &str, separator: &str, entries: &[ServiceEntry]) -> Vec<TargetGroup> {
    let mut groups: Vec<TargetGroup> = entries
        .iter()
        .map(|entry| {
            let address = if entry.service.address.is_empty() { join_host_port(&entry.node.address, entry.service.port) } else { join_host_port(&entry.service.address, entry.service.port) };
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
                    labels.insert(format!("{prefix}{}", sanitize_label_name(k)), v.clone());
                }
            }
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![address], labels }
        })
        .collect();
    groups.sort_by(|a, b| (&a.targets, &a.labels).cmp(&(&b.targets, &b.labels)));
    groups
}

/// What the watches of one entry share.
struct Entry {
    config: Arc<ScrapeConfig>,
    job: usize,
    index: usize,
    asked: Arc<AskedGroups>,
    /// Each watched service's last good groups.
    services: RefCell<BTreeMap<String, Vec<Arc<TargetGroup>>>>,
    /// Closes on a reload or shutdown: nothing is stored after it (a newer loop may own the
    /// source, or the job be gone).
    stopped: async_channel::Receiver<()>,
}

impl Entry {
    fn job(&self) -> &str {
        &self.config.jobs[self.job].name
    }

    fn sd(&self) -> &ConsulSd {
        &self.config.jobs[self.job].consul_sd[self.index]
    }

    /// Puts every service's groups in the shared store, unless the entry was stopped.
    fn publish(&self) {
        if self.stopped.is_closed() {
            return;
        }
        let groups = self.services.borrow().values().flatten().cloned().collect();
        self.asked.store(self.job(), &self.sd().source, groups);
    }
}

/// Counts a failed request and logs it when the failure changes (`errors`). A failed request
/// keeps the last good targets and is asked again after `RETRY_INTERVAL` (15 s).
fn log_failure(errors: &mut ErrorLog, entry: &Entry, request: &str, error: String) {
    entry.asked.note_refresh("consul", entry.job(), true, None);
    if errors.failed(&error) {
        tracing::warn!(job = entry.job(), server = %entry.sd().base_url, %request, %error, "consul_sd request failed; the last good targets are kept");
    }
}

/// Counts an answered request and logs a recovery.
fn log_answer(errors: &mut ErrorLog, entry: &Entry, request: &str) {
    entry.asked.note_refresh("consul", entry.job(), false, None);
    if errors.answered() {
        tracing::info!(job = entry.job(), server = %entry.sd().base_url, %request, "consul_sd answers again");
    }
}

/// Reads the entry until `stopped` closes: the agent's datacenter when the entry names none,
/// then, as Prometheus, either each named service (when `services` is set without `tags`
/// or `filter`, the catalog is not read) or the catalog, whose watched services each get a
/// watch of their own. A service is watched when `services` is empty or names it, and when
/// its catalog tags hold every one of `tags`.
async fn refresh_loop(entry: Rc<Entry>, stopped: &async_channel::Receiver<()>) {
    let sd = entry.sd();
    let mut client = match sd.access.client(&sd.location) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job = entry.job(), server = %sd.base_url, %error, "consul_sd: its targets stay empty");
            return;
        }
    };
    // What an earlier loop of this source found (before a reload) stays until read again, so
    // a Consul that fails just then does not take the targets away.
    for group in entry.asked.groups(entry.job(), &sd.source) {
        let service = group.labels.get("__meta_consul_service").cloned().unwrap_or_default();
        entry.services.borrow_mut().entry(service).or_default().push(group);
    }
    let mut errors = ErrorLog::default();
    let datacenter = loop {
        let Some(found) = unless_stopped(datacenter(&mut client, sd), stopped).await else { return };
        match found {
            Ok(datacenter) => break datacenter,
            Err(error) => log_failure(&mut errors, &entry, "/v1/agent/self", error),
        }
        if !sleep_unless_stopped(RETRY_INTERVAL, stopped).await {
            return;
        }
    };
    let datacenter = Rc::new(datacenter);
    // Each watched service's watch ends when its sender here is dropped (the service left
    // the catalog, or this loop ended).
    let mut watches: BTreeMap<String, async_channel::Sender<()>> = BTreeMap::new();
    if !sd.services.is_empty() && sd.tags.is_empty() && sd.filter.is_empty() {
        for name in &sd.services {
            watches.insert(name.clone(), start_service_watch(&entry, name, &datacenter));
        }
        let _ = stopped.recv().await;
        return;
    }
    let mut index = 0;
    loop {
        let started = Instant::now();
        let params = catalog_params(sd, &datacenter);
        let Some(answer) = unless_stopped(ask::<BTreeMap<String, Option<Vec<String>>>>(&mut client, sd, "/v1/catalog/services", &params, index), stopped).await else { return };
        match answer {
            Ok((listed, new_index)) => {
                log_answer(&mut errors, &entry, "/v1/catalog/services");
                if new_index != index {
                    index = next_index(index, new_index);
                    let watched: BTreeSet<String> = listed
                        .into_iter()
                        .filter(|(name, tags)| (sd.services.is_empty() || sd.services.contains(name)) && sd.tags.iter().all(|t| tags.as_deref().unwrap_or_default().contains(t)))
                        .map(|(name, _)| name)
                        .collect();
                    watches.retain(|name, _| watched.contains(name));
                    let before = entry.services.borrow().len();
                    entry.services.borrow_mut().retain(|name, _| watched.contains(name));
                    if entry.services.borrow().len() != before {
                        entry.publish();
                    }
                    for name in watched {
                        if let std::collections::btree_map::Entry::Vacant(slot) = watches.entry(name) {
                            let stop = start_service_watch(&entry, slot.key(), &datacenter);
                            slot.insert(stop);
                        }
                    }
                }
            }
            Err(error) => {
                log_failure(&mut errors, &entry, "/v1/catalog/services", error);
                if !sleep_unless_stopped(RETRY_INTERVAL, stopped).await {
                    return;
                }
            }
        }
        let rest = Duration::from_millis(sd.refresh_ms as u64).saturating_sub(started.elapsed());
        if !sleep_unless_stopped(rest, stopped).await {
            return;
        }
    }
}

/// Consul's advice for blocking queries: an index that went backwards starts over from 0.
fn next_index(previous: u64, answered: u64) -> u64 {
    if answered < previous {
        0
    } else {
        answered
    }
}

/// Starts watching one service; it stops when the returned sender is dropped.
fn start_service_watch(entry: &Rc<Entry>, name: &str, datacenter: &Rc<String>) -> async_channel::Sender<()> {
    let (stop, stopped) = async_channel::bounded::<()>(1);
    let (entry, name, datacenter) = (entry.clone(), name.to_string(), datacenter.clone());
    glommio::spawn_local(async move { watch_service(&entry, &name, &datacenter, &stopped).await }).detach();
    stop
}

/// Reads one service's instances with their health (`/v1/health/service/<name>`, with the
/// `tag`s and `health_filter`) with a blocking query at most once per refresh interval
/// (Prometheus' pace), storing its groups whenever Consul's index moves.
async fn watch_service(entry: &Entry, name: &str, datacenter: &str, stopped: &async_channel::Receiver<()>) {
    let sd = entry.sd();
    let mut client = match sd.access.client(&sd.location) {
        Ok(client) => client,
        Err(_) => return,
    };
    let path = format!("/v1/health/service/{}", path_escape(name));
    let mut errors = ErrorLog::default();
    let mut index = 0;
    while !entry.stopped.is_closed() {
        let started = Instant::now();
        let mut params = common_params(sd, datacenter);
        params.extend(sd.tags.iter().map(|t| ("tag".to_string(), t.clone())));
        if !sd.health_filter.is_empty() {
            params.push(("filter".to_string(), sd.health_filter.clone()));
        }
        let Some(answer) = unless_stopped(ask::<Vec<ServiceEntry>>(&mut client, sd, &path, &params, index), stopped).await else { return };
        match answer {
            Ok((entries, new_index)) => {
                log_answer(&mut errors, entry, &path);
                if new_index != index {
                    index = next_index(index, new_index);
                    entry.services.borrow_mut().insert(name.to_string(), instance_groups(name, datacenter, &sd.tag_separator, &entries).into_iter().map(Arc::new).collect());
                    entry.publish();
                }
            }
            Err(error) => {
                log_failure(&mut errors, entry, &path, error);
                if !sleep_unless_stopped(RETRY_INTERVAL, stopped).await {
                    return;
                }
            }
        }
        let rest = Duration::from_millis(sd.refresh_ms as u64).saturating_sub(started.elapsed());
        if !sleep_unless_stopped(rest, stopped).await {
            return;
        }
    }
}

/// The parameters of every request: `dc`, `stale`, `node-meta`, `ns`, `partition`.
fn common_params(sd: &ConsulSd, datacenter: &str) -> Vec<(String, String)> {
    let mut common = vec![("dc".to_string(), datacenter.to_string())];
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
    common
}

/// The parameters of the catalog (`/v1/catalog/services`): the common ones and `filter`.
fn catalog_params(sd: &ConsulSd, datacenter: &str) -> Vec<(String, String)> {
    let mut params = common_params(sd, datacenter);
    if !sd.filter.is_empty() {
        params.push(("filter".to_string(), sd.filter.clone()));
    }
    params
}

/// The entry's datacenter, or the agent's own when it names none.
async fn datacenter(client: &mut net::client::HttpClient, sd: &ConsulSd) -> Result<String, String> {
    if !sd.datacenter.is_empty() {
        return Ok(sd.datacenter.clone());
    }
    let (agent, _) = ask::<AgentSelf>(client, sd, "/v1/agent/self", &[], 0).await?;
    if agent.config.datacenter.is_empty() {
        return Err("the agent names no datacenter (Config.Datacenter)".to_string());
    }
    Ok(agent.config.datacenter)
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
pub(super) fn path_escape(text: &str) -> String {
    text.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { char::from(b).to_string() } else { format!("%{b:02X}") }).collect()
}

/// GETs `path` (under the entry's prefix) with `params` and reads the JSON answer and
/// Consul's `X-Consul-Index` (0 when missing). With an `index` above 0 the request is a
/// blocking query: Consul answers when the index moves past it, or after `WATCH_WAIT`. The
/// entry's `token` goes as `X-Consul-Token`.
async fn ask<T: serde::de::DeserializeOwned>(client: &mut net::client::HttpClient, sd: &ConsulSd, path: &str, params: &[(String, String)], index: u64) -> Result<(T, u64), String> {
    let prefix = sd.location.path_and_query.trim_end_matches('/');
    let mut query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", super::discovery::query_escape(k), super::discovery::query_escape(v))).collect();
    if index > 0 {
        query.push(format!("index={index}"));
        query.push(format!("wait={}ms", WATCH_WAIT.as_millis()));
    }
    let path_and_query = if query.is_empty() { format!("{prefix}{path}") } else { format!("{prefix}{path}?{}", query.join("&")) };
    let location = Url { path_and_query, ..sd.location.clone() };
    let shown = format!("{}{path}", sd.base_url);
    // A blocking query may take its whole wait; Prometheus allows 15 s more.
    let timeout = if index > 0 { WATCH_WAIT + Duration::from_secs(15) } else { Duration::from_millis(sd.refresh_ms as u64).max(MIN_TIMEOUT) };
    let mut headers = sd.access.request_headers("application/json", None, timeout).await?;
    // The token right after Accept and User-Agent, ahead of the credentials and
    // `http_headers`.
    if let Some(token) = &sd.token {
        headers.insert(2.min(headers.len()), ("X-Consul-Token".to_string(), token.clone()));
    }
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if response.status != 200 {
        let text = String::from_utf8_lossy(&response.body);
        return Err(format!("{}: {}", http_get::status_error(response.status), text.trim().chars().take(200).collect::<String>()));
    }
    let consul_index = response.headers.get("x-consul-index").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    let answer = serde_json::from_slice(&response.body).map_err(|e| format!("cannot parse the answer of {shown}: {e}"))?;
    Ok((answer, consul_index))
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
