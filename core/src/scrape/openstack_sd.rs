//! Targets from `openstack_sd_configs`, as Prometheus' OpenStack discovery finds them through
//! gophercloud: a Keystone v3 token (`openstack_sd::keystone`), then the role's lists at the
//! catalog's endpoints. A failed step fails the refresh, which keeps the last good targets and
//! is logged when the error changes. Executor 0 asks and puts the groups in the shared
//! `AskedGroups`, which every executor reads.

pub mod config;
pub mod hypervisors;
pub mod instances;
pub mod keystone;
pub mod loadbalancers;

use std::sync::Arc;
use std::time::Duration;

use net::client::{HttpClient, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use self::config::{AuthOptions, Credentials, OpenStackSd, Role};
use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
use super::config::{ClientAccess, ScrapeConfig, TargetGroup, Url};
use super::discovery::null_as_default;
use super::http_get::{self, Get};

/// The largest answer read (a page of servers, the catalog).
const BODY_BYTES_MAX: usize = 32 << 20;
/// The most pages one list reads in a refresh: a bound on links that never end.
const PAGES_MAX: usize = 10_000;
/// The most origins (Keystone, Nova, Neutron, Octavia, ...) an entry keeps a connection to.
const ORIGINS_MAX: usize = 8;
/// How much of an unexpected answer's body an error quotes.
const ERROR_BODY_BYTES_MAX: usize = 1024;

/// Starts asking every openstack_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.openstack_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// An entry's credentials and its connections, kept from one refresh to the next.
pub struct Asker {
    auth: AuthOptions,
    clients: Clients,
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &OpenStackSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let auth = match &sd.credentials {
        Credentials::Written(auth) => Ok(auth.as_ref().clone()),
        // As Prometheus: read once, when the discoverer is made.
        Credentials::Environment => AuthOptions::from_env(&|name| std::env::var(name).ok()).and_then(|auth| config::check_identity_endpoint(&auth.identity_endpoint).map(|()| auth)),
    };
    let auth = match auth {
        Ok(auth) => auth,
        Err(error) => {
            tracing::error!(job, %error, "openstack_sd: its targets stay empty");
            return;
        }
    };
    let shown = auth.identity_endpoint.clone();
    let mut asker = Asker { auth, clients: Clients::default() };
    let entry = Refreshed { mechanism: "openstack_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut asker, sd, |asker, sd| Box::pin(ask(asker, sd)), results, stopped).await;
}

/// One refresh: a Keystone v3 token (`keystone`: version discovery, `POST auth/tokens`, the
/// catalog), then the role's lists, read page by page with `X-Auth-Token` at the catalog's
/// endpoints for the entry's region and interface: Nova servers with Neutron's ports and
/// floating IPs (`instances`), Nova hypervisors (`hypervisors`), or Octavia load balancers with
/// their listeners and floating IPs (`loadbalancers`); then their groups.
async fn ask(asker: &mut Asker, sd: &OpenStackSd) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus' client: every request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut session = Session { clients: &mut asker.clients, access: &sd.access, timeout, token: String::new() };
    let catalog = keystone::authenticate(&mut session, &asker.auth).await.map_err(|e| format!("could not authenticate to OpenStack: {e}"))?;
    let at = |kind: &'static str| keystone::EndpointChoice { kind, region: &sd.region, availability: &sd.availability };
    match sd.role {
        Role::Instance => {
            let compute = keystone::service_url(&mut session, &catalog, at("compute")).await.map_err(|e| format!("could not create OpenStack compute session: {e}"))?;
            let network = keystone::service_url(&mut session, &catalog, at("network")).await.map_err(|e| format!("could not create OpenStack network session: {e}"))?;
            instances::ask(&mut session, &compute, &network, sd).await
        }
        Role::Hypervisor => {
            let compute = keystone::service_url(&mut session, &catalog, at("compute")).await.map_err(|e| format!("could not create OpenStack compute session: {e}"))?;
            hypervisors::ask(&mut session, &compute, sd).await
        }
        Role::LoadBalancer => {
            let balancing = keystone::service_url(&mut session, &catalog, at("load-balancer")).await.map_err(|e| format!("could not create OpenStack load balancer session: {e}"))?;
            let network = keystone::service_url(&mut session, &catalog, at("network")).await.map_err(|e| format!("could not create OpenStack network session: {e}"))?;
            loadbalancers::ask(&mut session, &balancing, &network, sd).await
        }
    }
}

/// One connection per origin asked, the oldest dropped past `ORIGINS_MAX`.
#[derive(Default)]
pub struct Clients {
    by_origin: Vec<(String, HttpClient)>,
}

impl Clients {
    /// The client for `url`'s origin, made with `access` when there is none yet.
    fn for_url(&mut self, url: &Url, access: &ClientAccess) -> Result<&mut HttpClient, String> {
        let origin = format!("{}://{}:{}", url.scheme.as_str(), url.host, url.port);
        let index = match self.by_origin.iter().position(|(o, _)| *o == origin) {
            Some(index) => index,
            None => {
                if self.by_origin.len() >= ORIGINS_MAX {
                    self.by_origin.remove(0);
                }
                self.by_origin.push((origin, access.client(url)?));
                self.by_origin.len() - 1
            }
        };
        Ok(&mut self.by_origin[index].1)
    }
}

/// The requests of one refresh: gophercloud's provider client, with the token once
/// Keystone has given one.
pub struct Session<'a> {
    clients: &'a mut Clients,
    access: &'a ClientAccess,
    timeout: Duration,
    /// Sent as `X-Auth-Token` when not empty.
    token: String,
}

/// Why a list could not be read: its request failed, or an answer is not the list.
#[derive(Debug)]
pub enum ListError {
    Request(String),
    Read(String),
}

/// A link of a page's `<resource>_links`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Link {
    #[serde(deserialize_with = "null_as_default")]
    href: String,
    #[serde(deserialize_with = "null_as_default")]
    rel: String,
}

impl Session<'_> {
    /// The headers of every request: JSON, and the token if any.
    async fn headers(&self) -> Result<Vec<(String, String)>, String> {
        let mut headers = self.access.request_headers("application/json", None, self.timeout).await?;
        if !self.token.is_empty() {
            headers.push(("X-Auth-Token".to_string(), self.token.clone()));
        }
        Ok(headers)
    }

    /// GETs `url` (redirects followed); a status outside `ok` is an error in gophercloud's words.
    pub async fn get(&mut self, url: &str, ok: &[u16]) -> Result<Response, String> {
        let location = Url::parse(url)?;
        let headers = self.headers().await?;
        let client = self.clients.for_url(&location, self.access)?;
        let get = Get { client, url: &location, shown: url, headers: &headers, timeout: self.timeout, body_bytes_max: BODY_BYTES_MAX, access: self.access };
        let response = http_get::get(get).await?;
        expect_status(response, ok, "GET", url)
    }

    /// POSTs the JSON `body` to `url` without the token; a status outside `ok` is an error.
    pub async fn post_json(&mut self, url: &str, body: &[u8], ok: &[u16]) -> Result<Response, String> {
        let location = Url::parse(url)?;
        let mut headers = self.access.request_headers("application/json", None, self.timeout).await?;
        headers.push(("Content-Type".to_string(), "application/json".to_string()));
        let client = self.clients.for_url(&location, self.access)?;
        let response = client.post(&location.path_and_query, &headers, body, self.timeout, BODY_BYTES_MAX).await.map_err(|e| match e {
            net::client::ClientError::BodyTooLarge { .. } => format!("Post {url:?}: {}", http_get::BODY_SIZE_LIMIT_EXCEEDED),
            other => format!("Post {url:?}: {other}"),
        })?;
        expect_status(response, ok, "POST", url)
    }

    /// Every item of a paged list, as gophercloud's pager reads one: from `first`, the
    /// `key` array of each page until one is empty (or a 204) or `links_key` names no
    /// `next` page.
    pub async fn list<T: DeserializeOwned>(&mut self, first: String, key: &str, links_key: &str) -> Result<Vec<T>, ListError> {
        let mut items = Vec::new();
        let mut url = first;
        for _ in 0..PAGES_MAX {
            let response = self.get(&url, &[200, 204, 300]).await.map_err(ListError::Request)?;
            if response.status == 204 {
                return Ok(items);
            }
            let mut page: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| ListError::Read(e.to_string()))?;
            let found: Vec<T> = match page.get_mut(key).map(serde_json::Value::take) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(list) => serde_json::from_value(list).map_err(|e| ListError::Read(e.to_string()))?,
            };
            if found.is_empty() {
                return Ok(items);
            }
            items.extend(found);
            let links: Vec<Link> = match page.get_mut(links_key).map(serde_json::Value::take) {
                None | Some(serde_json::Value::Null) => Vec::new(),
                Some(links) => serde_json::from_value(links).map_err(|e| ListError::Read(e.to_string()))?,
            };
            // The last `next` link, as gophercloud takes it.
            match links.into_iter().rev().find(|l| l.rel == "next").map(|l| l.href).filter(|h| !h.is_empty()) {
                Some(next) => url = next,
                None => return Ok(items),
            }
        }
        Err(ListError::Request(format!("more than {PAGES_MAX} pages at {url}")))
    }
}

/// `response` if its status is one of `ok`, else gophercloud's error for it.
fn expect_status(response: Response, ok: &[u16], method: &str, url: &str) -> Result<Response, String> {
    if ok.contains(&response.status) {
        return Ok(response);
    }
    let codes: Vec<String> = ok.iter().map(u16::to_string).collect();
    let body = String::from_utf8_lossy(&response.body[..response.body.len().min(ERROR_BODY_BYTES_MAX)]).trim().to_string();
    Err(format!("Expected HTTP response code [{}] when accessing [{method} {url}], but got {} instead: {body}", codes.join(" "), response.status))
}

/// The one group per target this discovery gives (Prometheus gives one group, `OS_<region>`,
/// whose targets each have their own labels).
fn group(address: String, mut labels: std::collections::BTreeMap<String, String>) -> TargetGroup {
    // An empty value is no label (Prometheus drops them when it builds the target).
    labels.retain(|_, v| !v.is_empty());
    TargetGroup { targets: vec![address], labels }
}

#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
