//! Targets from `kubernetes_sd_configs`, as Prometheus' Kubernetes discovery finds them:
//! each object kind a role needs (`roles::Role::kinds`) is listed, in pages, from the API
//! server, per namespace when `namespaces` names some, with the entry's label and field
//! selectors, and then watched from the list's resource version, the watch's events applied
//! as they stream in (`net::client::HttpClient::get_streamed`). A watch ends after a few
//! minutes, as client-go's do, and is opened again from the last version seen; a watch or
//! list answered `410 Gone` (the version is too old) lists again. Once every kind has been
//! listed, the role's target groups (`roles::groups`) are put in the shared `AskedGroups`
//! at most once a second while objects change; before that, the groups an earlier loop of
//! the same entry found (before a reload) stay. A failed request is logged when its error
//! changes and tried again after a back-off of 1 s doubling to 30 s.
//!
//! Executor 0 asks and every executor reads the groups, as for the other network sources.

pub mod objects;
pub mod roles;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::asked_groups::{sleep_unless_stopped, unless_stopped, AskedGroups};
use super::config::{KubernetesSd, ScrapeConfig, Url};
use super::http_get::{self, Get};
use objects::{Kind, Store};
use roles::Role;

/// Objects asked per list page (client-go's informers ask 500).
const LIST_PAGE_SIZE: usize = 500;
/// The largest list page read.
const LIST_BODY_BYTES_MAX: usize = 256 << 20;
/// The most of a watch's stream waiting for its end of line (one event: an object is at
/// most 1.5 MiB in etcd).
const WATCH_PENDING_BYTES_MAX: usize = 64 << 20;
/// How long one list page may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// The server ends a watch after this many seconds (plus a spread per kind, so the watches
/// of an entry do not all reopen at once; client-go picks 5 to 10 minutes).
const WATCH_SECONDS: u64 = 300;
/// How much longer than its own timeout a watch may take before it is abandoned.
const WATCH_GRACE: Duration = Duration::from_secs(30);
/// How often changed objects are turned into groups.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);
/// Back-off after a failure: the first wait, doubled per failure up to the last.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What the watchers of one entry share.
#[derive(Default)]
struct Entry {
    store: RefCell<Store>,
    /// Objects changed since the groups were last made.
    dirty: Cell<bool>,
    /// Watchers that have not yet finished their first list.
    unlisted: Cell<usize>,
}

/// Starts discovering every kubernetes_sd entry of `config` on this executor, until
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, asked: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    for (j, job) in config.jobs.iter().enumerate() {
        for (i, sd) in job.kubernetes_sd.iter().enumerate() {
            let Some(role) = Role::parse(&sd.role) else {
                tracing::error!(job = %job.name, role = %sd.role, "kubernetes_sd: unknown role; its targets stay empty");
                continue;
            };
            let entry = Rc::new(Entry::default());
            let mut watches = Vec::new();
            for kind in role.kinds(sd.attach_node) {
                if kind.namespaced() && !sd.namespaces.is_empty() {
                    watches.extend(sd.namespaces.iter().map(|ns| (kind, Some(ns.clone()))));
                } else {
                    watches.push((kind, None));
                }
            }
            entry.unlisted.set(watches.len());
            for (kind, namespace) in watches {
                let (config, entry, stopped) = (config.clone(), entry.clone(), stopped.clone());
                glommio::spawn_local(async move {
                    let job = &config.jobs[j];
                    let watch = Watch { job: &job.name, sd: &job.kubernetes_sd[i], kind, namespace: namespace.as_deref(), entry: &entry };
                    watch.run(&stopped).await;
                })
                .detach();
            }
            let (config, asked, stopped) = (config.clone(), asked.clone(), stopped.clone());
            glommio::spawn_local(async move {
                let job = &config.jobs[j];
                publish_loop(&job.name, &job.kubernetes_sd[i], role, &entry, &asked, &stopped).await;
            })
            .detach();
        }
    }
}

/// Turns the entry's objects into groups whenever they changed, once every kind is listed.
async fn publish_loop(job: &str, sd: &KubernetesSd, role: Role, entry: &Entry, asked: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    while sleep_unless_stopped(PUBLISH_INTERVAL, stopped).await {
        if entry.unlisted.get() == 0 && entry.dirty.replace(false) {
            let groups = roles::groups(role, &entry.store.borrow(), sd.attach_node);
            asked.store(job, &sd.source, groups);
        }
    }
}

/// The name of `kind` in selectors (and Prometheus' role names).
fn selector_role(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "pod",
        Kind::Service => "service",
        Kind::Endpoints => "endpoints",
        Kind::EndpointSlice => "endpointslice",
        Kind::Node => "node",
        Kind::Ingress => "ingress",
    }
}

/// One kind (in one namespace, or all) of one entry, listed and watched.
struct Watch<'a> {
    job: &'a str,
    sd: &'a KubernetesSd,
    kind: Kind,
    namespace: Option<&'a str>,
    entry: &'a Entry,
}

/// Why a list or watch ended without its answer.
#[derive(Debug)]
enum Failure {
    /// `410 Gone`: the resource version is too old; list again.
    Expired,
    Other(String),
}

/// A list page's parts used.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ListPage {
    metadata: ListMeta,
    items: Option<Vec<serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue")]
    next: String,
}

/// One event of a watch's stream.
#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    object: serde_json::Value,
}

impl Watch<'_> {
    /// Lists, then watches, until `stopped` closes; lists again when a watch expires or fails.
    async fn run(&self, stopped: &async_channel::Receiver<()>) {
        let mut client = match http_get::client_for(&self.sd.location, &self.sd.tls) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(job = self.job, api_server = %self.sd.api_server, %error, "kubernetes_sd: its targets stay empty");
                return;
            }
        };
        let mut listed_once = false;
        let mut failures = 0u32;
        let mut last_error = String::new();
        loop {
            let outcome = unless_stopped(self.list_and_watch(&mut client, &mut listed_once, &mut failures), stopped).await;
            let error = match outcome {
                None => return,
                // A watch that expired lists again at once; a list that keeps expiring
                // (its continue token too old) backs off as a failure does.
                Some(Failure::Expired) if failures == 0 => {
                    failures = 1;
                    continue;
                }
                Some(Failure::Expired) => "the resource version expired again (410 Gone)".to_string(),
                Some(Failure::Other(error)) => error,
            };
            if error != last_error {
                tracing::warn!(job = self.job, api_server = %self.sd.api_server, kind = selector_role(self.kind), namespace = self.namespace.unwrap_or(""), %error, "kubernetes_sd request failed; the last good targets are kept");
                last_error = error;
            }
            let wait = RETRY_FIRST.saturating_mul(1 << failures.min(5)).min(RETRY_MAX);
            failures += 1;
            if !sleep_unless_stopped(wait, stopped).await {
                return;
            }
        }
    }

    /// One list and the watches after it, until one fails.
    async fn list_and_watch(&self, client: &mut net::client::HttpClient, listed_once: &mut bool, failures: &mut u32) -> Failure {
        let (items, mut version) = match self.list(client).await {
            Ok(listed) => listed,
            Err(failure) => return failure,
        };
        {
            let mut store = self.entry.store.borrow_mut();
            store.clear(self.kind, self.namespace);
            for item in items {
                if let Err(error) = store.put(self.kind, item) {
                    tracing::warn!(job = self.job, %error, "kubernetes_sd: an object is skipped");
                }
            }
        }
        self.entry.dirty.set(true);
        if !std::mem::replace(listed_once, true) {
            self.entry.unlisted.set(self.entry.unlisted.get().saturating_sub(1));
        }
        *failures = 0;
        loop {
            match self.watch(client, &mut version).await {
                Ok(()) => *failures = 0,
                Err(failure) => return failure,
            }
        }
    }

    /// The path of this kind's collection (in the namespace, if any) with `params`.
    fn path(&self, params: &[(&str, &str)]) -> String {
        let prefix = self.sd.location.path_and_query.trim_end_matches('/');
        let namespace = match self.namespace {
            Some(ns) if self.kind.namespaced() => format!("/namespaces/{ns}"),
            _ => String::new(),
        };
        let (label, field) = self.sd.selectors.get(selector_role(self.kind)).map(|(l, f)| (l.as_str(), f.as_str())).unwrap_or(("", ""));
        let query: Vec<String> = params.iter().copied().chain([("labelSelector", label), ("fieldSelector", field)]).filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", super::discovery::query_escape(v))).collect();
        format!("{prefix}{}{namespace}/{}?{}", self.kind.api_group_path(), self.kind.plural(), query.join("&"))
    }

    /// The headers of every request: JSON, our User-Agent, the credentials, `http_headers`.
    fn headers(&self) -> Result<Vec<(String, String)>, String> {
        let mut headers = vec![("Accept".to_string(), "application/json".to_string()), ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION")))];
        if let Some(value) = self.sd.credentials.header()? {
            headers.push(("Authorization".to_string(), value));
        }
        headers.extend(self.sd.http_headers.values()?);
        Ok(headers)
    }

    /// Every object of the collection, page by page, and the list's resource version.
    async fn list(&self, client: &mut net::client::HttpClient) -> Result<(Vec<serde_json::Value>, String), Failure> {
        let headers = self.headers().map_err(Failure::Other)?;
        let limit = LIST_PAGE_SIZE.to_string();
        let mut items = Vec::new();
        let mut next = String::new();
        loop {
            let mut params = vec![("limit", limit.as_str())];
            if !next.is_empty() {
                params.push(("continue", next.as_str()));
            }
            let location = Url { path_and_query: self.path(&params), ..self.sd.location.clone() };
            let shown = format!("{}{}", self.sd.api_server, location.path_and_query.strip_prefix(self.sd.location.path_and_query.trim_end_matches('/')).unwrap_or(""));
            let get = Get { client: &mut *client, url: &location, shown: &shown, headers: &headers, timeout: LIST_TIMEOUT, body_bytes_max: LIST_BODY_BYTES_MAX, follow_redirects: self.sd.follow_redirects, tls: &self.sd.tls };
            let response = http_get::get(get).await.map_err(Failure::Other)?;
            match response.status {
                200 => {}
                410 => return Err(Failure::Expired),
                status => return Err(Failure::Other(format!("listing {shown}: {}: {}", http_get::status_error(status), status_message(&response.body)))),
            }
            let page: ListPage = serde_json::from_slice(&response.body).map_err(|e| Failure::Other(format!("cannot parse the list of {shown}: {e}")))?;
            items.extend(page.items.unwrap_or_default());
            if page.metadata.next.is_empty() {
                return Ok((items, page.metadata.resource_version));
            }
            next = page.metadata.next;
        }
    }

    /// One watch from `version`, applying its events as they arrive and moving `version` on;
    /// Ok when the server ended it (its timeout), to be opened again.
    async fn watch(&self, client: &mut net::client::HttpClient, version: &mut String) -> Result<(), Failure> {
        let mut headers = self.headers().map_err(Failure::Other)?;
        headers.push(("Accept-Encoding".to_string(), "identity".to_string()));
        let seconds = WATCH_SECONDS + (self.kind as u64 * 37) % 60;
        let seconds_text = seconds.to_string();
        let path = self.path(&[("watch", "1"), ("allowWatchBookmarks", "true"), ("resourceVersion", version.as_str()), ("timeoutSeconds", seconds_text.as_str())]);
        let expired = Cell::new(false);
        let latest = RefCell::new(version.clone());
        let mut sink = |pending: &mut Vec<u8>| -> Result<(), String> { self.apply_events(pending, &latest, &expired) };
        let timeout = Duration::from_secs(seconds) + WATCH_GRACE;
        let response = client.get_streamed(&path, &headers, timeout, WATCH_PENDING_BYTES_MAX, &mut sink).await;
        *version = latest.into_inner();
        if expired.get() {
            return Err(Failure::Expired);
        }
        let response = response.map_err(|e| Failure::Other(format!("watching {}: {e}", self.sd.api_server)))?;
        match response.status {
            200 => Ok(()),
            410 => Err(Failure::Expired),
            status => Err(Failure::Other(format!("watching {}{path}: {}: {}", self.sd.api_server, http_get::status_error(status), status_message(&response.body)))),
        }
    }

    /// Applies the whole lines of `pending` (one event each) to the store, taking them out.
    fn apply_events(&self, pending: &mut Vec<u8>, latest: &RefCell<String>, expired: &Cell<bool>) -> Result<(), String> {
        let Some(end) = pending.iter().rposition(|b| *b == b'\n') else { return Ok(()) };
        let lines: Vec<u8> = pending.drain(..=end).collect();
        let mut store = self.entry.store.borrow_mut();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            let event: Event = serde_json::from_slice(line).map_err(|e| format!("cannot parse a watch event: {e}"))?;
            if let Some(v) = event.object.pointer("/metadata/resourceVersion").and_then(serde_json::Value::as_str) {
                *latest.borrow_mut() = v.to_string();
            }
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" => store.put(self.kind, event.object).map_err(|e| format!("watch event: {e}"))?,
                "DELETED" => store.remove(self.kind, &event.object),
                "BOOKMARK" => {}
                "ERROR" => {
                    if event.object.get("code").and_then(serde_json::Value::as_u64) == Some(410) {
                        expired.set(true);
                        return Err("the watch expired (410 Gone)".into());
                    }
                    return Err(format!("the watch failed: {}", event.object.get("message").and_then(serde_json::Value::as_str).unwrap_or("(no message)")));
                }
                other => return Err(format!("unknown watch event type {other:?}")),
            }
            if event.kind != "BOOKMARK" {
                self.entry.dirty.set(true);
            }
        }
        Ok(())
    }
}

/// The `message` of a Kubernetes `Status` answer, else the start of the body.
fn status_message(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v.get("message").and_then(serde_json::Value::as_str).map(str::to_string)) {
        Some(message) => message,
        None => String::from_utf8_lossy(body).trim().chars().take(200).collect(),
    }
}
