//! Targets from `azure_sd_configs`, as Prometheus' Azure discovery finds them: the
//! subscription's virtual machines (or one resource group's) and its scale sets' VMs, from Azure
//! Resource Manager with a token of the entry's `authentication_method` (`token`), each a target
//! through its primary network interface. Any failure fails the refresh (the last good targets
//! stay; logged when the error changes). Executor 0 asks and puts the groups in `AskedGroups`.

pub mod config;
pub mod machines;
pub mod token;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use self::config::AzureSd;
use self::machines::{EntryLabels, Machine, Nic, NicVerdict, ScaleSetAnswer, VmAnswer};
use self::token::{path_escape, Token, TokenEndpoints, TokenRequest};
use super::asked_groups::{ask_every, spawn_for_each, AskedGroups, Refreshed};
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The Resource Manager API versions asked of compute and network (a scale set VM's
/// interface is asked with the version the Azure SDK asks it with, its only one).
const COMPUTE_API_VERSION: &str = "2024-03-01";
const NETWORK_API_VERSION: &str = "2023-05-01";
const SCALE_SET_NIC_API_VERSION: &str = "2018-10-01";
/// An interface's IP configurations with their public IPs' addresses.
const NIC_EXPAND: &str = "IPConfigurations/PublicIPAddress";
/// The largest answer read (a page of a list, or an interface).
const BODY_BYTES_MAX: usize = 64 << 20;
/// The most pages one list reads: a bound on a list whose `nextLink`s never end.
const PAGES_MAX: usize = 10_000;
/// The most interfaces kept between refreshes (Prometheus' LRU holds 5,000).
const NIC_CACHE_MAX: usize = 5_000;
/// Interfaces asked at once, each lane over its own connection: Prometheus asks every
/// machine's at once, as they are slow to answer.
const NIC_LANES: usize = 4;

/// Starts asking every azure_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.azure_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 5 m by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &AzureSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let endpoints = sd.cloud.as_ref().map_err(Clone::clone).and_then(Endpoints::of);
    let shown = match &endpoints {
        Ok(e) => format!("{}/subscriptions/{}", http_get::format_url(&e.resource_manager).trim_end_matches('/'), sd.subscription_id),
        Err(_) => format!("subscription {}", sd.subscription_id),
    };
    let mut session = Session::new(endpoints, Box::new(|name| std::env::var(name).ok()));
    let entry = Refreshed { mechanism: "azure_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut session, sd, |session, sd| Box::pin(session.refresh(sd)), results, stopped).await;
}

/// Reads an environment variable (the process's, or a test's).
pub type Environment = Box<dyn Fn(&str) -> Option<String>>;

/// Where an entry's requests go: Resource Manager, the token endpoints, and the audience
/// its tokens are for.
pub struct Endpoints {
    pub resource_manager: Url,
    pub tokens: TokenEndpoints,
    pub audience: String,
}

impl Endpoints {
    /// The cloud's.
    pub fn of(cloud: &config::Cloud) -> Result<Endpoints, String> {
        Ok(Endpoints { resource_manager: Url::parse(cloud.resource_manager)?, tokens: TokenEndpoints::of(cloud)?, audience: cloud.audience.to_string() })
    }
}

/// What an entry keeps from one refresh to the next: its connection to Resource Manager,
/// its token and the interfaces it read.
pub struct Session {
    /// Or why there are none (an unknown environment), the error of every refresh.
    endpoints: Result<Endpoints, String>,
    /// Reads an environment variable (the process's, or a test's): workload identity's
    /// settings and the token requests' proxy.
    env: Environment,
    /// Connected to Resource Manager's origin once needed (for the lists).
    client: Option<net::client::HttpClient>,
    token: Option<Token>,
    nics: RefCell<NicCache>,
}

/// An error answer's fields, as the Azure SDK reads them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

/// A request's answer: its body, or none for a 404 (an interface that is gone).
enum Answer {
    Body(Vec<u8>),
    NotFound,
}

impl Session {
    pub fn new(endpoints: Result<Endpoints, String>, env: Environment) -> Session {
        Session { endpoints, env, client: None, token: None, nics: RefCell::default() }
    }

    /// One refresh, in Prometheus' order and words: the virtual machines, the scale sets and
    /// each scale set's VMs; then each machine's target (`Lookup::target`), four machines at a
    /// time over four connections (`NIC_LANES`).
    pub async fn refresh(&mut self, sd: &AzureSd) -> Result<Vec<TargetGroup>, String> {
        if let Err(e) = &self.endpoints {
            return Err(format!("could not create Azure client: {e}"));
        }
        let mut found = self.virtual_machines(sd).await.map_err(|e| format!("could not get virtual machines: {e}"))?;
        let scale_sets = self.scale_sets(sd).await.map_err(|e| format!("could not get virtual machine scale sets: {e}"))?;
        for scale_set in &scale_sets {
            found.extend(self.scale_set_vms(sd, scale_set).await.map_err(|e| format!("could not get virtual machine scale set vms: {e}"))?);
        }
        let failed = |e: String| format!("unable to complete Azure service discovery: {e}");
        // The lists' token, kept: the lanes share it.
        let authorization = self.authorization(sd, timeout_of(sd)).await.map_err(failed)?;
        let resource_manager = match &self.endpoints {
            Ok(endpoints) => &endpoints.resource_manager,
            Err(e) => return Err(e.clone()),
        };
        let lookup = Lookup { sd, resource_manager, authorization: &authorization, nics: &self.nics, failed: Cell::new(false) };
        let lanes = crate::join::join_all((0..NIC_LANES).map(|lane| lookup.lane(&found, lane)).collect()).await;
        let mut answers: Vec<(usize, Result<Option<TargetGroup>, String>)> = lanes.into_iter().flatten().collect();
        answers.sort_by_key(|(i, _)| *i);
        let mut groups = Vec::with_capacity(answers.len());
        for (_, answer) in answers {
            groups.extend(answer.map_err(failed)?);
        }
        Ok(groups)
    }

    /// The path of `what` under the subscription (and the resource group when there is one).
    fn subscription_path(sd: &AzureSd, resource_group: &str, what: &str) -> String {
        let subscription = path_escape(&sd.subscription_id);
        if resource_group.is_empty() {
            format!("/subscriptions/{subscription}/providers/{what}")
        } else {
            format!("/subscriptions/{subscription}/resourceGroups/{}/providers/{what}", path_escape(resource_group))
        }
    }

    async fn virtual_machines(&mut self, sd: &AzureSd) -> Result<Vec<Machine>, String> {
        let path = Self::subscription_path(sd, &sd.resource_group, "Microsoft.Compute/virtualMachines");
        let listed: Vec<VmAnswer> = self.list(sd, &format!("{path}?api-version={COMPUTE_API_VERSION}")).await.map_err(|e| format!("could not list virtual machines: {e}"))?;
        Ok(listed.into_iter().map(|vm| Machine::from_answer(vm, None)).collect())
    }

    async fn scale_sets(&mut self, sd: &AzureSd) -> Result<Vec<ScaleSetAnswer>, String> {
        let path = Self::subscription_path(sd, &sd.resource_group, "Microsoft.Compute/virtualMachineScaleSets");
        self.list(sd, &format!("{path}?api-version={COMPUTE_API_VERSION}")).await.map_err(|e| format!("could not list virtual machine scale sets: {e}"))
    }

    /// The VMs of a scale set (in the resource group of its ID).
    async fn scale_set_vms(&mut self, sd: &AzureSd, scale_set: &ScaleSetAnswer) -> Result<Vec<Machine>, String> {
        let (resource_group, _) = machines::resource_group_and_name(&scale_set.id).map_err(|e| format!("could not parse scale set ID: invalid ID '{}': {e}", scale_set.id))?;
        let list = async {
            nonempty(&resource_group, "resourceGroupName")?;
            nonempty(&scale_set.name, "virtualMachineScaleSetName")?;
            let path = Self::subscription_path(sd, &resource_group, &format!("Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines", path_escape(&scale_set.name)));
            self.list::<VmAnswer>(sd, &format!("{path}?api-version={COMPUTE_API_VERSION}")).await
        };
        let listed = list.await.map_err(|e| format!("could not list virtual machine scale set vms: {e}"))?;
        Ok(listed.into_iter().map(|vm| Machine::from_answer(vm, Some(&scale_set.name))).collect())
    }

    /// Every item of a list, page after page (following `nextLink`).
    async fn list<T: serde::de::DeserializeOwned>(&mut self, sd: &AzureSd, first: &str) -> Result<Vec<T>, String> {
        let resource_manager = self.endpoints.as_ref().map_err(Clone::clone)?.resource_manager.clone();
        let mut url = Url { path_and_query: first.to_string(), ..resource_manager.clone() };
        let mut found = Vec::new();
        for _ in 0..PAGES_MAX {
            let authorization = self.authorization(sd, timeout_of(sd)).await?;
            let body = match arm_get(sd, &mut self.client, &resource_manager, &authorization, &url, false).await? {
                Answer::Body(body) => body,
                Answer::NotFound => return Err(format!("GET {}: RESPONSE 404 Not Found", http_get::format_url(&url))),
            };
            let page: machines::Page<T> = machines::page(&body).map_err(|e| format!("cannot read the answer of {}: {e}", http_get::format_url(&url)))?;
            found.extend(page.value);
            if page.next_link.is_empty() {
                return Ok(found);
            }
            url = Url::parse(&page.next_link).map_err(|e| format!("nextLink {:?}: {e}", page.next_link))?;
        }
        Err(format!("more than {PAGES_MAX} pages"))
    }

    /// The cached token's header, or a new token's.
    async fn authorization(&mut self, sd: &AzureSd, timeout: Duration) -> Result<String, String> {
        if let Some(token) = self.token.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.header.clone());
        }
        let endpoints = self.endpoints.as_ref().map_err(Clone::clone)?;
        let request = TokenRequest { authentication: &sd.authentication, tenant_id: &sd.tenant_id, audience: &endpoints.audience, endpoints: &endpoints.tokens, env: &*self.env, timeout };
        let token = token::fetch(request).await?;
        let header = token.header.clone();
        self.token = Some(token);
        Ok(header)
    }
}

/// Interfaces kept between refreshes, each until its expiry: 10 to 13 refresh intervals (at
/// most 5,000), as Prometheus caches them.
#[derive(Default)]
struct NicCache {
    kept: HashMap<String, (Arc<Nic>, Instant)>,
    /// Spreads the expiries.
    jitter: std::collections::hash_map::RandomState,
}

impl NicCache {
    fn get(&self, nic_id: &str, now: Instant) -> Option<Arc<Nic>> {
        self.kept.get(nic_id).filter(|(_, until)| now < *until).map(|(nic, _)| nic.clone())
    }

    /// Keeps an interface for 10 refresh intervals and a random part of 3 more, as
    /// Prometheus does, making room when full (expired ones first, then the one expiring
    /// soonest).
    fn keep(&mut self, nic_id: &str, nic: Arc<Nic>, refresh_ms: i64, now: Instant) {
        let refresh_s = (refresh_ms / 1000).max(1) as u64;
        let jitter_s = self.jitter.hash_one(nic_id) % (3 * refresh_s);
        let until = now + Duration::from_secs(10 * refresh_s + jitter_s);
        if self.kept.len() >= NIC_CACHE_MAX && !self.kept.contains_key(nic_id) {
            self.kept.retain(|_, (_, until)| now < *until);
            if self.kept.len() >= NIC_CACHE_MAX {
                if let Some(soonest) = self.kept.iter().min_by_key(|(_, (_, until))| *until).map(|(id, _)| id.clone()) {
                    self.kept.remove(&soonest);
                }
            }
        }
        self.kept.insert(nic_id.to_string(), (nic, until));
        debug_assert!(self.kept.len() <= NIC_CACHE_MAX, "the interface cache stays within its bound");
    }
}

/// What the lanes of one refresh share: the entry, Resource Manager, the token, the kept
/// interfaces, and whether a lane failed (the others then stop: the refresh fails).
struct Lookup<'a> {
    sd: &'a AzureSd,
    resource_manager: &'a Url,
    authorization: &'a str,
    nics: &'a RefCell<NicCache>,
    failed: Cell<bool>,
}

impl Lookup<'_> {
    /// The targets of every `NIC_LANES`th machine from `lane` on, by position, over a
    /// connection of the lane's own.
    async fn lane(&self, found: &[Machine], lane: usize) -> Vec<(usize, Result<Option<TargetGroup>, String>)> {
        let mut client = None;
        let mut answers = Vec::new();
        for (i, machine) in found.iter().enumerate().skip(lane).step_by(NIC_LANES) {
            if self.failed.get() {
                break;
            }
            let answer = self.target(&mut client, machine).await;
            self.failed.set(answer.is_err());
            answers.push((i, answer));
        }
        answers
    }

    /// The machine's target, or none (no primary interface, a deallocated machine, an
    /// interface that is gone: 404). Its network interfaces (`$expand`ed with their public
    /// IPs) are read until its primary one, whose first IP configuration gives the target
    /// (private IP and `port`) and the IP labels (`machines`).
    async fn target(&self, client: &mut Option<net::client::HttpClient>, machine: &Machine) -> Result<Option<TargetGroup>, String> {
        let sd = self.sd;
        let (resource_group, _) = machines::resource_group_and_name(&machine.id).map_err(|e| format!("invalid ID '{}': {e}", machine.id))?;
        let entry = EntryLabels { subscription_id: &sd.subscription_id, tenant_id: &sd.tenant_id, port: sd.port };
        let labels = machines::machine_labels(machine, &resource_group, &entry);
        for nic_id in &machine.network_interfaces {
            let Some(nic) = self.nic(client, nic_id, machine).await? else {
                tracing::warn!(machine = %machine.name, nic = %nic_id, "azure_sd: network interface does not exist; the machine is no target");
                return Ok(None);
            };
            match nic.verdict(&machine.name)? {
                NicVerdict::Next => continue,
                NicVerdict::Deallocated => return Ok(None),
                NicVerdict::Target { private_ip, public_ip } => {
                    let (address, labels) = machines::with_ips(labels, &private_ip, public_ip.as_deref(), sd.port);
                    return Ok(Some(TargetGroup { targets: vec![address], labels }));
                }
            }
        }
        Ok(None)
    }

    /// A machine's interface, kept or asked (none: it does not exist).
    async fn nic(&self, client: &mut Option<net::client::HttpClient>, nic_id: &str, machine: &Machine) -> Result<Option<Arc<Nic>>, String> {
        let now = Instant::now();
        if let Some(nic) = self.nics.borrow().get(nic_id, now) {
            return Ok(Some(nic));
        }
        let sd = self.sd;
        let (resource_group, name) = machines::resource_group_and_name(nic_id).map_err(|e| format!("could not parse network interface ID: invalid ID '{nic_id}': {e}"))?;
        let asked = async {
            nonempty(&resource_group, "resourceGroupName")?;
            nonempty(&name, "networkInterfaceName")?;
            let expand = format!("%24expand={}", crate::scrape::discovery::query_escape(NIC_EXPAND));
            let path_and_query = if machine.scale_set.is_empty() {
                let path = Session::subscription_path(sd, &resource_group, &format!("Microsoft.Network/networkInterfaces/{}", path_escape(&name)));
                format!("{path}?{expand}&api-version={NETWORK_API_VERSION}")
            } else {
                nonempty(&machine.scale_set, "virtualMachineScaleSetName")?;
                nonempty(&machine.instance_id, "virtualmachineIndex")?;
                let what = format!("Microsoft.Compute/virtualMachineScaleSets/{}/virtualMachines/{}/networkInterfaces/{}", path_escape(&machine.scale_set), path_escape(&machine.instance_id), path_escape(&name));
                format!("{}?{expand}&api-version={SCALE_SET_NIC_API_VERSION}", Session::subscription_path(sd, &resource_group, &what))
            };
            let url = Url { path_and_query, ..self.resource_manager.clone() };
            match arm_get(sd, client, self.resource_manager, self.authorization, &url, true).await? {
                Answer::NotFound => Ok(None),
                Answer::Body(body) => machines::nic(&body).map(Some).map_err(|e| format!("cannot read the answer of {}: {e}", http_get::format_url(&url))),
            }
        };
        let Some(nic) = asked.await.map_err(|e| format!("failed to retrieve Interface {nic_id} with error: {e}"))? else { return Ok(None) };
        let nic = Arc::new(nic);
        self.nics.borrow_mut().keep(nic_id, nic.clone(), sd.refresh_ms, now);
        Ok(Some(nic))
    }
}

/// As Prometheus' other refreshed discoveries: a request may take the whole interval.
fn timeout_of(sd: &AzureSd) -> Duration {
    Duration::from_millis(sd.refresh_ms as u64)
}

/// A GET at Resource Manager with the token `authorization` and the entry's headers, TLS
/// and proxy, over `client` (made for Resource Manager's origin when first needed; a
/// `nextLink` elsewhere gets a connection of its own): the body of a 2xx answer, a 404 as
/// `NotFound` when `not_found_is_none`, or the Azure SDK's error.
async fn arm_get(sd: &AzureSd, client: &mut Option<net::client::HttpClient>, resource_manager: &Url, authorization: &str, url: &Url, not_found_is_none: bool) -> Result<Answer, String> {
    let timeout = timeout_of(sd);
    let mut headers = sd.access.request_headers("application/json", None, timeout).await?;
    // The Azure token is the request's (Prometheus' own credentials yield to a set one).
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    headers.push(("Authorization".to_string(), authorization.to_string()));
    let shown = http_get::format_url(url);
    let same_origin = url.scheme == resource_manager.scheme && url.host == resource_manager.host && url.port == resource_manager.port;
    let mut other;
    let client = if same_origin {
        if client.is_none() {
            *client = Some(sd.access.client(url)?);
        }
        let Some(client) = client.as_mut() else { return Err("no client for Resource Manager".into()) };
        client
    } else {
        other = sd.access.client(url)?;
        &mut other
    };
    let response = http_get::get(Get { client, url, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access }).await?;
    match response.status {
        200..=299 => Ok(Answer::Body(response.body)),
        404 if not_found_is_none => Ok(Answer::NotFound),
        status => Err(response_error(&shown, status, &response)),
    }
}

/// The Azure SDK's refusal of an empty path parameter.
fn nonempty(value: &str, name: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("parameter {name} cannot be empty"));
    }
    Ok(())
}

/// A refused request in the Azure SDK's words, on one line: the request, the status and
/// ARM's error code (from `x-ms-error-code` or the body) and message.
fn response_error(shown: &str, status: u16, response: &net::client::Response) -> String {
    let answer: ErrorAnswer = serde_json::from_slice(&response.body).unwrap_or_default();
    let header_code = response.headers.get("x-ms-error-code").and_then(|v| v.to_str().ok()).map(str::to_string);
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    let code = match header_code.or(answer.error.code).filter(|c| !c.is_empty()) {
        Some(code) => format!("ERROR CODE: {code}"),
        None => "ERROR CODE UNAVAILABLE".to_string(),
    };
    let message = answer.error.message.unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().chars().take(200).collect());
    if message.is_empty() {
        format!("GET {shown}: RESPONSE {status} {reason}: {code}")
    } else {
        format!("GET {shown}: RESPONSE {status} {reason}: {code}: {message}")
    }
}

#[cfg(test)]
mod tests;
