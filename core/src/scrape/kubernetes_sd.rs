//! Targets from `kubernetes_sd_configs`, as Prometheus' Kubernetes discovery finds them: each
//! object kind a role needs (`roles::Role::kinds`) is listed from the API server, then watched
//! from the list's resource version, and the role's groups are put in the shared
//! `AskedGroups`. Errors are logged when they change. Executor 0 asks and every executor
//! reads the groups, as for the other network sources.

pub mod cache;
pub mod config;
pub mod objects;
pub mod roles;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::asked_groups::{sleep_unless_stopped, unless_stopped, AskedGroups, ErrorLog};
use self::config::KubernetesSd;
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};
use cache::GroupCache;
use objects::{Kind, Store};
use roles::Role;

/// Objects asked per list page (client-go's informers ask 500).
const LIST_PAGE_SIZE: usize = 500;
/// The largest list page read.
const LIST_BODY_BYTES_MAX: usize = 256 << 20;
/// The most pages one list may take (10 million objects at 500 a page): a server that never
/// stops sending `continue` tokens is a failure, not unbounded memory.
const LIST_PAGES_MAX: usize = 20_000;
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
/// A watch that ends sooner than this without an event is a failure (client-go's "very
/// short watch"): a server or proxy that does not hold watches open must not be asked in a
/// loop.
const SHORT_WATCH: Duration = Duration::from_secs(1);
/// How often changed objects are turned into groups: every target is rebuilt then, so
/// while a large cluster changes this is paced as Prometheus' discovery manager paces its
/// updates (5 s); executors rediscover on the same pace anyway.
const PUBLISH_INTERVAL: Duration = Duration::from_secs(5);
/// Back-off after a failure: the first wait, doubled per failure up to the last; a watch
/// that ran (events, or longer than `SHORT_WATCH`) starts it over.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// What the watches of one entry share.
struct Entry {
    store: RefCell<Store>,
    /// The groups, per object (made by `roles`), with what changed since they were made: only
    /// the objects that changed, or that looked up one that did, are remade.
    cache: RefCell<GroupCache>,
    /// Objects changed since the groups were last published.
    dirty: Cell<bool>,
    /// The watches (kind, namespace: none for every namespace or a cluster-wide kind) that
    /// have not yet finished their first list.
    unlisted: RefCell<BTreeSet<(Kind, Option<String>)>>,
    /// The groups an earlier loop of this source found (before a reload): a namespace not
    /// listed yet keeps its own from them.
    previous: Vec<Arc<TargetGroup>>,
    /// Where the groups go, and its lists' and watches' outcomes are counted.
    asked: Arc<AskedGroups>,
}

/// Starts discovering every kubernetes_sd entry of `config` on this executor, until
/// `stopped` closes (a reload or shutdown): one watch per kind the role needs, per namespace
/// when `namespaces` names some.
pub fn start(config: &Arc<ScrapeConfig>, asked: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    for (j, job) in config.jobs.iter().enumerate() {
        for (i, sd) in job.kubernetes_sd.iter().enumerate() {
            if let Some(error) = &sd.unavailable {
                tracing::error!(job = %job.name, %error, "kubernetes_sd: cannot reach the API server; its targets stay empty");
                continue;
            }
            let Some(role) = Role::parse(&sd.role) else {
                tracing::error!(job = %job.name, role = %sd.role, "kubernetes_sd: unknown role; its targets stay empty");
                continue;
            };
            let cache = RefCell::new(GroupCache::new(role, sd.attach));
            let mut entry = Entry { store: RefCell::default(), cache, dirty: Cell::new(false), unlisted: RefCell::default(), previous: asked.groups(&job.name, &sd.source), asked: asked.clone() };
            for kind in role.kinds(sd.attach) {
                if kind.namespaced() && !sd.namespaces.is_empty() {
                    entry.unlisted.get_mut().extend(sd.namespaces.iter().map(|ns| (kind, Some(ns.clone()))));
                } else {
                    entry.unlisted.get_mut().insert((kind, None));
                }
            }
            let entry = Rc::new(entry);
            let watches: Vec<(Kind, Option<String>)> = entry.unlisted.borrow().iter().cloned().collect();
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
                publish_loop(&job.name, &job.kubernetes_sd[i], &entry, &asked, &stopped).await;
            })
            .detach();
        }
    }
}

/// Turns the entry's objects into groups whenever they changed and some are ready, at most
/// every `PUBLISH_INTERVAL` (5 s) while objects change.
async fn publish_loop(job: &str, sd: &KubernetesSd, entry: &Entry, asked: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    while sleep_unless_stopped(PUBLISH_INTERVAL, stopped).await {
        if !entry.dirty.replace(false) {
            continue;
        }
        match ready_groups(sd, entry) {
            Some(groups) => asked.store(job, &sd.source, groups),
            None => entry.dirty.set(true),
        }
    }
}

/// The role's groups from the namespaces whose every kind has been listed (as Prometheus,
/// whose discoverers per namespace publish each on its own), and for the others what an
/// earlier loop of the same entry found (before a reload); none while a cluster-wide watch
/// (every namespace, or a cluster-wide kind such as nodes) or every named namespace is still
/// unlisted.
fn ready_groups(sd: &KubernetesSd, entry: &Entry) -> Option<Vec<Arc<TargetGroup>>> {
    let unlisted = entry.unlisted.borrow();
    if unlisted.iter().any(|(_, namespace)| namespace.is_none()) {
        return None;
    }
    let waiting: BTreeSet<&str> = unlisted.iter().filter_map(|(_, namespace)| namespace.as_deref()).collect();
    if !sd.namespaces.is_empty() && waiting.len() == sd.namespaces.len() {
        return None;
    }
    let mut cache = entry.cache.borrow_mut();
    cache.update(&entry.store.borrow());
    let mut groups = cache.groups();
    if !waiting.is_empty() {
        let waits = |group: &Arc<TargetGroup>| group.labels.get("__meta_kubernetes_namespace").is_some_and(|namespace| waiting.contains(namespace.as_str()));
        groups.retain(|group| !waits(group));
        groups.extend(entry.previous.iter().filter(|group| waits(group)).cloned());
    }
    Some(groups)
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

/// Waits after failures: `RETRY_FIRST`, doubled per failure up to `RETRY_MAX`.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next_wait(&mut self) -> Duration {
        let wait = RETRY_FIRST.saturating_mul(1 << self.failures.min(5)).min(RETRY_MAX);
        self.failures += 1;
        wait
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}

impl Watch<'_> {
    /// Lists, then watches from the list's version (reopening each watch from the last
    /// version seen, and after a failure from the same one) until `stopped` closes; lists
    /// again when the version expires (410). Failures and watches that end at once without
    /// an event back off.
    async fn run(&self, stopped: &async_channel::Receiver<()>) {
        let mut client = match self.sd.access.client(&self.sd.location) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(job = self.job, api_server = %self.sd.api_server, %error, "kubernetes_sd: its targets stay empty");
                return;
            }
        };
        let mut backoff = Backoff::default();
        let mut errors = ErrorLog::default();
        loop {
            let Some(listed) = unless_stopped(self.list(&mut client), stopped).await else { return };
            let mut version = match listed {
                Ok((objects, version)) => {
                    self.entry.asked.note_refresh("kubernetes", self.job, false, None);
                    self.entry.store.borrow_mut().replace(self.kind, self.namespace, objects);
                    self.entry.cache.borrow_mut().objects_replaced();
                    self.entry.dirty.set(true);
                    self.entry.unlisted.borrow_mut().remove(&(self.kind, self.namespace.map(str::to_string)));
                    version
                }
                Err(failure) => {
                    let error = match failure {
                        Failure::Expired => "the list's continue token expired (410 Gone)".to_string(),
                        Failure::Other(error) => error,
                    };
                    self.failed(&mut errors, error);
                    if !sleep_unless_stopped(backoff.next_wait(), stopped).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let started = Instant::now();
                let Some(watched) = unless_stopped(self.watch(&mut client, &mut version), stopped).await else { return };
                let ran = started.elapsed() >= SHORT_WATCH;
                let error = match watched {
                    Ok(events) if events > 0 || ran => {
                        backoff.reset();
                        self.answered(&mut errors);
                        continue;
                    }
                    Ok(_) => "the watch ended within a second without an event".to_string(),
                    // An expired version lists again: at once after a watch that ran, after
                    // the back-off when the watch expired at once (a list served by another
                    // API server than the watch, say).
                    Err(Failure::Expired) if ran => {
                        backoff.reset();
                        break;
                    }
                    Err(Failure::Expired) => {
                        self.failed(&mut errors, "the watch expired at once (410 Gone); listing again".to_string());
                        if !sleep_unless_stopped(backoff.next_wait(), stopped).await {
                            return;
                        }
                        break;
                    }
                    // A watch that ran before it failed (a connection reset by a load
                    // balancer, say) is tried again after the first wait.
                    Err(Failure::Other(error)) => {
                        if ran {
                            backoff.reset();
                        }
                        error
                    }
                };
                self.failed(&mut errors, error);
                if !sleep_unless_stopped(backoff.next_wait(), stopped).await {
                    return;
                }
            }
        }
    }

    fn failed(&self, errors: &mut ErrorLog, error: String) {
        self.entry.asked.note_refresh("kubernetes", self.job, true, None);
        if errors.failed(&error) {
            tracing::warn!(job = self.job, api_server = %self.sd.api_server, kind = self.kind.name(), namespace = self.namespace.unwrap_or(""), %error, "kubernetes_sd request failed; the last good targets are kept");
        }
    }

    fn answered(&self, errors: &mut ErrorLog) {
        self.entry.asked.note_refresh("kubernetes", self.job, false, None);
        if errors.answered() {
            tracing::info!(job = self.job, api_server = %self.sd.api_server, kind = self.kind.name(), namespace = self.namespace.unwrap_or(""), "kubernetes_sd watches again");
        }
    }

    /// The path of this kind's collection (in the namespace, if any) with `params` and the
    /// entry's label and field selectors.
    fn path(&self, params: &[(&str, &str)]) -> String {
        let prefix = self.sd.location.path_and_query.trim_end_matches('/');
        let namespace = match self.namespace {
            Some(ns) if self.kind.namespaced() => format!("/namespaces/{ns}"),
            _ => String::new(),
        };
        let (label, field) = self.sd.selectors.get(self.kind.name()).map(|(l, f)| (l.as_str(), f.as_str())).unwrap_or(("", ""));
        let query: Vec<String> = params.iter().copied().chain([("labelSelector", label), ("fieldSelector", field)]).filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", super::discovery::query_escape(v))).collect();
        format!("{prefix}{}{namespace}/{}?{}", self.kind.api_group_path(), self.kind.plural(), query.join("&"))
    }

    /// The headers of every request: JSON, our User-Agent, the credentials, `http_headers`.
    async fn headers(&self) -> Result<Vec<(String, String)>, String> {
        self.sd.access.request_headers("application/json", None, LIST_TIMEOUT).await
    }

    /// Every object of the collection, page by page (each page decoded as it comes), and the
    /// list's resource version.
    async fn list(&self, client: &mut net::client::HttpClient) -> Result<(Store, String), Failure> {
        let headers = self.headers().await.map_err(Failure::Other)?;
        let limit = LIST_PAGE_SIZE.to_string();
        let mut listed = Store::default();
        let mut skipped = 0usize;
        let mut next = String::new();
        for _ in 0..LIST_PAGES_MAX {
            let mut params = vec![("limit", limit.as_str())];
            if !next.is_empty() {
                params.push(("continue", next.as_str()));
            }
            let location = Url { path_and_query: self.path(&params), ..self.sd.location.clone() };
            let shown = format!("{}{}", self.sd.api_server, location.path_and_query.strip_prefix(self.sd.location.path_and_query.trim_end_matches('/')).unwrap_or(""));
            let get = Get { client: &mut *client, url: &location, shown: &shown, headers: &headers, timeout: LIST_TIMEOUT, body_bytes_max: LIST_BODY_BYTES_MAX, access: &self.sd.access };
            let response = http_get::get(get).await.map_err(Failure::Other)?;
            match response.status {
                200 => {}
                410 => return Err(Failure::Expired),
                status => return Err(Failure::Other(format!("listing {shown}: {}: {}", http_get::status_error(status), status_message(&response.body)))),
            }
            let page: ListPage = serde_json::from_slice(&response.body).map_err(|e| Failure::Other(format!("cannot parse the list of {shown}: {e}")))?;
            for item in page.items.unwrap_or_default() {
                if let Err(error) = listed.put(self.kind, item) {
                    if skipped == 0 {
                        tracing::warn!(job = self.job, %error, "kubernetes_sd: an object that cannot be read is skipped");
                    }
                    skipped += 1;
                }
            }
            if page.metadata.next.is_empty() {
                return Ok((listed, page.metadata.resource_version));
            }
            next = page.metadata.next;
        }
        Err(Failure::Other(format!("the list of {} {} took more than {LIST_PAGES_MAX} pages", self.sd.api_server, self.kind.plural())))
    }

    /// One watch from `version`, applying its events as they stream in
    /// (`net::client::HttpClient::get_streamed`) and moving `version` on;
    /// the number of events when the server ended it (its timeout), to be opened again. A
    /// watch does not follow redirects (a list does).
    async fn watch(&self, client: &mut net::client::HttpClient, version: &mut String) -> Result<usize, Failure> {
        let mut headers = self.headers().await.map_err(Failure::Other)?;
        headers.push(("Accept-Encoding".to_string(), "identity".to_string()));
        let seconds = WATCH_SECONDS + (self.kind as u64 * 37) % 60;
        let seconds_text = seconds.to_string();
        let path = self.path(&[("watch", "1"), ("allowWatchBookmarks", "true"), ("resourceVersion", version.as_str()), ("timeoutSeconds", seconds_text.as_str())]);
        let stream = WatchStream { latest: RefCell::new(version.clone()), ..WatchStream::default() };
        let mut sink = |pending: &mut Vec<u8>| -> Result<(), String> { self.apply_events(pending, &stream) };
        let timeout = Duration::from_secs(seconds) + WATCH_GRACE;
        let response = client.get_streamed(&path, &headers, timeout, WATCH_PENDING_BYTES_MAX, &mut sink).await;
        *version = stream.latest.into_inner();
        if stream.expired.get() {
            return Err(Failure::Expired);
        }
        let response = response.map_err(|e| Failure::Other(format!("watching {}: {e}", self.sd.api_server)))?;
        match response.status {
            200 => Ok(stream.events.get()),
            410 => Err(Failure::Expired),
            status => Err(Failure::Other(format!("watching {}{path}: {}: {}", self.sd.api_server, http_get::status_error(status), status_message(&response.body)))),
        }
    }

    /// Applies the whole lines of `pending` (one event each) to the store, taking them out.
    fn apply_events(&self, pending: &mut Vec<u8>, stream: &WatchStream) -> Result<(), String> {
        // Only the bytes that arrived since the last call are searched, so a long event
        // arriving in many small pieces is not scanned again and again.
        let searched = stream.searched.get().min(pending.len());
        let Some(end) = memchr::memrchr(b'\n', &pending[searched..]).map(|at| searched + at) else {
            stream.searched.set(pending.len());
            return Ok(());
        };
        let lines: Vec<u8> = pending.drain(..=end).collect();
        stream.searched.set(0);
        let mut store = self.entry.store.borrow_mut();
        let mut cache = self.entry.cache.borrow_mut();
        for line in lines.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace)) {
            let event: Event = serde_json::from_slice(line).map_err(|e| format!("cannot parse a watch event: {e}"))?;
            if let Some(v) = event.object.pointer("/metadata/resourceVersion").and_then(serde_json::Value::as_str) {
                *stream.latest.borrow_mut() = v.to_string();
            }
            match event.kind.as_str() {
                // An object that cannot be read is skipped, as in a list.
                "ADDED" | "MODIFIED" => match store.put(self.kind, event.object) {
                    Ok(key) => cache.object_changed(self.kind, key),
                    Err(error) => {
                        if !stream.skipped.replace(true) {
                            tracing::warn!(job = self.job, %error, "kubernetes_sd: an object that cannot be read is skipped");
                        }
                    }
                },
                "DELETED" => {
                    if let Some(key) = store.remove(self.kind, &event.object) {
                        cache.object_changed(self.kind, key);
                    }
                }
                // A bookmark only moves the version; it does not count as an event (a server
                // sending one and closing must still back off).
                "BOOKMARK" => continue,
                "ERROR" => {
                    if event.object.get("code").and_then(serde_json::Value::as_u64) == Some(410) {
                        stream.expired.set(true);
                        return Err("the watch expired (410 Gone)".into());
                    }
                    return Err(format!("the watch failed: {}", event.object.get("message").and_then(serde_json::Value::as_str).unwrap_or("(no message)")));
                }
                other => return Err(format!("unknown watch event type {other:?}")),
            }
            stream.events.set(stream.events.get() + 1);
            self.entry.dirty.set(true);
        }
        Ok(())
    }
}

/// What one watch's stream has told so far.
#[derive(Default)]
struct WatchStream {
    /// The resource version of the last event.
    latest: RefCell<String>,
    expired: Cell<bool>,
    events: Cell<usize>,
    /// How much of the pending bytes has been searched for a line end.
    searched: Cell<usize>,
    /// Whether an object that cannot be read was logged.
    skipped: Cell<bool>,
}

/// The `message` of a Kubernetes `Status` answer, else the start of the body.
fn status_message(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| v.get("message").and_then(serde_json::Value::as_str).map(str::to_string)) {
        Some(message) => message,
        None => String::from_utf8_lossy(body).trim().chars().take(200).collect(),
    }
}
