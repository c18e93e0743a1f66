//! Targets from `aws_sd_configs`, Prometheus 3's one AWS discovery with a `role`: `ec2` is
//! `ec2_sd_configs` itself (the entry is resolved into one, see `section`); each other role has
//! its module here. Region and keys are found as for ec2_sd; a failure keeps the last good
//! targets. Executor 0 asks and puts the groups in `AskedGroups`.

pub mod config;
/// `ecs`: walks ECS' clusters, services and tasks, with EC2 lookups for the tasks on container
/// instances, over AWS' JSON 1.1 protocol (`aws::json_rpc`).
pub mod ecs;
pub mod ecs_targets;
/// `elasticache`: the nodes of its cache clusters, and its serverless caches.
pub mod elasticache;
pub mod elasticache_labels;
/// `lightsail`: Lightsail's `GetInstances`, over AWS' JSON 1.1 protocol (`aws::json_rpc`).
pub mod lightsail;
/// `msk`: the brokers and controllers of MSK clusters, over REST-JSON (`aws::rest_json`).
pub mod msk;
/// `rds`: RDS clusters and their instances, over the Query API.
pub mod rds;
pub mod rds_labels;

use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{ask_every, spawn_for_each, AskedGroups, Refreshed};
use super::aws::credentials::{self, Found, Lookup};
use super::aws::json_rpc::{self, CallError};
use super::aws::Transport;
use super::config::{ExtraHeaders, ScrapeConfig, TargetGroup, Url};
use super::proxy::ProxyChoice;

/// EC2's API version, as AWS' Go SDK asks it.
const EC2_API_VERSION: &str = "2016-11-15";

/// What an `aws_sd_configs` entry of a role other than `ec2` discovers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsRole {
    Lightsail,
    /// `clusters`: the ARNs or names asked (empty: every cluster ListClusters names).
    Ecs { clusters: Vec<String> },
    /// `clusters`: the DB cluster identifiers asked (empty: every cluster); `filters`: more
    /// `DescribeDBInstances` filters, each name with its values.
    Rds { clusters: Vec<String>, filters: Vec<(String, Vec<String>)> },
    /// `clusters`: the serverless caches' and replication groups' ARNs asked (none: all).
    Elasticache { clusters: Vec<String> },
    /// `clusters`: the MSK cluster ARNs asked (empty: every provisioned cluster).
    Msk { clusters: Vec<String> },
}

impl AwsRole {
    /// The role's name in the configuration and logs.
    pub fn name(&self) -> &'static str {
        match self {
            AwsRole::Lightsail => "lightsail",
            AwsRole::Ecs { .. } => "ecs",
            AwsRole::Rds { .. } => "rds",
            AwsRole::Elasticache { .. } => "elasticache",
            AwsRole::Msk { .. } => "msk",
        }
    }
}

/// One `aws_sd_configs` entry of a role other than `ec2`, checked.
pub struct AwsSd {
    /// This entry's source name among the asked groups: role, region or endpoint, position.
    pub source: String,
    /// The region or endpoint, for messages.
    pub shown: String,
    pub role: AwsRole,
    /// Empty: found as `scrape::aws::credentials::region` says.
    pub region: String,
    /// `endpoint` (none: the environment's or the service's regional one).
    pub endpoint: Option<Url>,
    pub keys: credentials::Settings,
    pub port: u16,
    pub refresh_ms: i64,
    pub tls: Result<net::client::ClientTls, String>,
    pub proxy: ProxyChoice,
    pub http_headers: ExtraHeaders,
}

impl std::fmt::Debug for AwsSd {
    /// Role, region and schedule (keys stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSd").field("role", &self.role).field("shown", &self.shown).field("refresh_ms", &self.refresh_ms).finish_non_exhaustive()
    }
}

/// Starts asking every lightsail, ecs, rds, elasticache and msk entry of `config` on this executor (ec2 entries are
/// asked by `ec2_sd`); the requests stop when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.aws_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval until `stopped` closes.
async fn refresh_loop(job: &str, sd: &AwsSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mechanism = match sd.role {
        AwsRole::Lightsail => "aws_sd lightsail",
        AwsRole::Ecs { .. } => "aws_sd ecs",
        AwsRole::Rds { .. } => "aws_sd rds",
        AwsRole::Elasticache { .. } => "aws_sd elasticache",
        AwsRole::Msk { .. } => "aws_sd msk",
    };
    let entry = Refreshed { mechanism, job, shown: &sd.shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut Session::default(), sd, |session, sd| Box::pin(ask(session, sd)), results, stopped).await;
}

/// The targets of `sd` now.
async fn ask(session: &mut Session, sd: &AwsSd) -> Result<Vec<TargetGroup>, String> {
    let env = credentials::process_env;
    let headers = sd.http_headers.values()?;
    let lookup = Lookup { env: &env, transport: Transport { tls: &sd.tls, proxy: &sd.proxy, headers: &headers } };
    ask_with(session, sd, &lookup).await
}

/// `ask` with the environment and headers given (tests give their own).
async fn ask_with(session: &mut Session, sd: &AwsSd, lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    match &sd.role {
        AwsRole::Lightsail => lightsail::ask(session, sd, lookup).await,
        AwsRole::Ecs { clusters } => ecs::ask(session, sd, clusters, lookup).await,
        AwsRole::Rds { clusters, filters } => rds::ask(session, sd, (clusters, filters), lookup).await,
        AwsRole::Elasticache { clusters } => elasticache::ask(session, sd, clusters, lookup).await,
        AwsRole::Msk { clusters } => msk::ask(session, sd, clusters, lookup).await,
    }
}

/// What one entry keeps between refreshes: its region, keys, and a client kept alive to the
/// service's endpoint (and to EC2's, for ecs).
#[derive(Default)]
pub struct Session {
    pub region: Option<String>,
    pub keys: Option<Found>,
    pub service: Option<(Url, net::client::HttpClient)>,
    pub ec2: Option<(Url, net::client::HttpClient)>,
    /// Whether the keys were tested once (ecs, rds, elasticache and msk do, as Prometheus).
    pub checked: bool,
}

impl Session {
    /// The region, found once; keys, found again when they expire.
    pub async fn prepare(&mut self, sd: &AwsSd, lookup: &Lookup<'_>) -> Result<String, String> {
        let region = match &self.region {
            Some(region) => region.clone(),
            None => {
                let region = credentials::region(&sd.region, &sd.keys.profile, lookup).await.map_err(|e| format!("could not determine AWS region: {e}"))?;
                self.region = Some(region.clone());
                region
            }
        };
        if self.keys.as_ref().is_none_or(|keys| !keys.fresh(crate::api::params::now_ms())) {
            self.keys = Some(credentials::find(&sd.keys, &region, lookup).await?);
        }
        Ok(region)
    }

    /// One JSON 1.1 call to the entry's service (`service` is the signing name and the
    /// regional endpoint's first label; `env_name` the service's `AWS_ENDPOINT_URL_*`).
    pub async fn call(&mut self, sd: &AwsSd, lookup: &Lookup<'_>, (service, env_name): (&str, &str), target: &str, body: &serde_json::Value) -> Result<serde_json::Value, CallError> {
        let region = self.region.clone().unwrap_or_default();
        let keys = self.keys.as_ref().map(|found| found.keys.clone()).ok_or_else(|| CallError::from("no keys".to_string()))?;
        if self.service.is_none() {
            let url = match &sd.endpoint {
                Some(url) => url.clone(),
                None => endpoint(service, env_name, &region, lookup)?,
            };
            let client = super::http_get::client_for(&url, &sd.tls, &sd.proxy)?;
            self.service = Some((url, client));
        }
        let endpoint = self.service.as_mut().ok_or_else(|| CallError::from("no endpoint".to_string()))?;
        // As Prometheus: a request may take the whole refresh interval.
        let timeout = Duration::from_millis(sd.refresh_ms as u64);
        json_rpc::call(endpoint, &keys, (&region, service), target, body, lookup.transport, timeout).await
    }

    /// One REST-JSON `GET` of `segments` with `query` from the entry's service (msk), at the
    /// entry's `endpoint` or the service's (`service` and `env_name` as for `call`).
    pub async fn call_rest(&mut self, sd: &AwsSd, lookup: &Lookup<'_>, (service, env_name): (&str, &str), segments: &[&str], query: &[(String, String)]) -> Result<serde_json::Value, CallError> {
        let region = self.region.clone().unwrap_or_default();
        let keys = self.keys.as_ref().map(|found| found.keys.clone()).ok_or_else(|| CallError::from("no keys".to_string()))?;
        if self.service.is_none() {
            let url = match &sd.endpoint {
                Some(url) => url.clone(),
                None => endpoint(service, env_name, &region, lookup)?,
            };
            let client = super::http_get::client_for(&url, &sd.tls, &sd.proxy)?;
            self.service = Some((url, client));
        }
        let endpoint = self.service.as_mut().ok_or_else(|| CallError::from("no endpoint".to_string()))?;
        let timeout = Duration::from_millis(sd.refresh_ms as u64);
        super::aws::rest_json::get(endpoint, &keys, (&region, service), segments, query, lookup.transport, timeout).await
    }

    /// One EC2 Query API action with `params` (ecs' instance and interface lookups). As
    /// Prometheus' ECS discovery, it goes to EC2's endpoint from the environment or the
    /// region, never to the entry's `endpoint` (which is ECS').
    pub async fn call_ec2(&mut self, sd: &AwsSd, lookup: &Lookup<'_>, action: &str, params: &[(String, String)]) -> Result<String, String> {
        let region = self.region.clone().unwrap_or_default();
        if self.ec2.is_none() {
            let url = endpoint("ec2", "AWS_ENDPOINT_URL_EC2", &region, lookup)?;
            let client = super::http_get::client_for(&url, &sd.tls, &sd.proxy)?;
            self.ec2 = Some((url, client));
        }
        let keys = self.keys.as_ref().map(|found| found.keys.clone()).ok_or("no keys")?;
        let endpoint = self.ec2.as_mut().ok_or("no endpoint")?;
        post_query(endpoint, &keys, (&region, "ec2"), (EC2_API_VERSION, action), params, sd, lookup).await
    }

    /// One Query API action of the entry's service (rds, elasticache), at the entry's `endpoint` or the
    /// service's (`service` and `env_name` as for `call`), in API `version`.
    pub async fn call_query(&mut self, sd: &AwsSd, lookup: &Lookup<'_>, (service, env_name): (&str, &str), version: &str, action: &str, params: &[(String, String)]) -> Result<String, String> {
        let region = self.region.clone().unwrap_or_default();
        if self.service.is_none() {
            let url = match &sd.endpoint {
                Some(url) => url.clone(),
                None => endpoint(service, env_name, &region, lookup)?,
            };
            let client = super::http_get::client_for(&url, &sd.tls, &sd.proxy)?;
            self.service = Some((url, client));
        }
        let keys = self.keys.as_ref().map(|found| found.keys.clone()).ok_or("no keys")?;
        let endpoint = self.service.as_mut().ok_or("no endpoint")?;
        post_query(endpoint, &keys, (&region, service), (version, action), params, sd, lookup).await
    }
}

/// One signed Query API action (`Action`, `Version`, then `params`): the `200` answer's text,
/// or why there is none (with AWS' error code and message).
async fn post_query(endpoint: &mut (Url, net::client::HttpClient), keys: &super::aws::sigv4::Keys, scope: (&str, &str), (version, action): (&str, &str), params: &[(String, String)], sd: &AwsSd, lookup: &Lookup<'_>) -> Result<String, String> {
    let (url, client) = endpoint;
    // As Prometheus: a request may take the whole refresh interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut form = vec![("Action".to_string(), action.to_string()), ("Version".to_string(), version.to_string())];
    form.extend_from_slice(params);
    let response = super::aws::post_form(Some(client), url, Some(keys), scope, &form, lookup.transport, timeout).await?;
    if response.status != 200 {
        return Err(super::aws::status_error(response.status, &response.body));
    }
    String::from_utf8(response.body).map_err(|_| "the answer is not UTF-8".to_string())
}

/// `service`'s endpoint for `region`: the environment's (`env_name`, else
/// `AWS_ENDPOINT_URL`) or the regional one.
fn endpoint(service: &str, env_name: &str, region: &str, lookup: &Lookup<'_>) -> Result<Url, String> {
    let text = match (lookup.env)(env_name).or_else(|| (lookup.env)("AWS_ENDPOINT_URL")).filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => format!("https://{service}.{region}.{}/", credentials::dns_suffix(region)),
    };
    Url::parse(&text).map_err(|e| format!("{service} endpoint {text:?}: {e}"))
}

/// The string at `key` of a JSON object, None when absent or not a string (the SDK's nil).
pub(crate) fn text<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(serde_json::Value::as_str)
}

/// The array at `key`, empty when absent.
pub(crate) fn list<'a>(value: &'a serde_json::Value, key: &str) -> &'a [serde_json::Value] {
    value.get(key).and_then(serde_json::Value::as_array).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::scrape::fake_api::run;
    use crate::scrape::config::Secret;

    /// An entry of `role` asking the fake at `endpoint` with static keys in us-east-1.
    pub fn entry(role: AwsRole, endpoint: &str, port: u16) -> AwsSd {
        let keys = credentials::Settings { access_key: "AKIDTEST".into(), secret_key: Some(Secret::Inline("s".into())), ..Default::default() };
        let endpoint = Some(Url::parse(endpoint).expect("endpoint"));
        AwsSd { source: "s".into(), shown: "s".into(), role, region: "us-east-1".into(), endpoint, keys, port, refresh_ms: 5_000, tls: Err("no TLS".into()), proxy: Default::default(), http_headers: Default::default() }
    }

    /// Asks `sd` once with `env` as the environment.
    pub fn ask_once(session: &mut Session, sd: &AwsSd, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<TargetGroup>, String> {
        let lookup = Lookup { env, transport: Transport { tls: &sd.tls, proxy: &sd.proxy, headers: &[] } };
        run(ask_with(session, sd, &lookup))
    }
}
