//! Targets from `ec2_sd_configs`, as Prometheus' EC2 discovery finds them: EC2's
//! `DescribeInstances` with the entry's `filters`, each instance with a private IP or an IPv6
//! address a target on `port` with Prometheus' `__meta_ec2_*` labels (`instances`). Requests
//! are signed with Signature Version 4 by keys found as `aws::credentials` says; a failure
//! keeps the last good targets. Executor 0 asks and stores the groups, by source, in `AskedGroups`.

pub mod config;
pub mod instances;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
use super::aws::credentials::{self, Found, Lookup};
use super::aws::{self as aws_api, Transport};
use self::config::Ec2Sd;
use super::config::{ScrapeConfig, TargetGroup, Url};

/// EC2's API version, as AWS' Go SDK asks it.
const API_VERSION: &str = "2016-11-15";
/// The most pages one refresh reads (a token that never ends stops here).
const PAGES_MAX: usize = 10_000;

/// Starts asking every ec2_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.ec2_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &Ec2Sd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "ec2_sd", job, shown: &sd.shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut Session::default(), sd, |session, sd| Box::pin(ask(session, sd)), results, stopped).await;
}

/// What one entry keeps between refreshes.
#[derive(Default)]
struct Session {
    region: Option<String>,
    /// EC2's endpoint and a client kept alive to it.
    endpoint: Option<(Url, net::client::HttpClient)>,
    keys: Option<Found>,
    /// Zone name to zone ID, once asked.
    zone_ids: Option<HashMap<String, String>>,
}

/// The instances of the entry's region, made into target groups. The entry's TLS and proxy
/// settings carry every request but those to the container and instance metadata endpoints;
/// its `http_headers` are sent unsigned.
async fn ask(session: &mut Session, sd: &Ec2Sd) -> Result<Vec<TargetGroup>, String> {
    let env = credentials::process_env;
    let headers = sd.http_headers.values()?;
    let lookup = Lookup { env: &env, transport: Transport { tls: &sd.tls, proxy: &sd.proxy, headers: &headers } };
    ask_with(session, sd, &lookup).await
}

/// `ask` with the environment and transport given: `DescribeInstances`, page by page, in the
/// entry's region or one found as the keys are. The zones' IDs are asked once
/// (`DescribeAvailabilityZones`; asked again next time while that fails).
async fn ask_with(session: &mut Session, sd: &Ec2Sd, lookup: &Lookup<'_>) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus: a request may take the whole refresh interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let region = match &session.region {
        Some(region) => region.clone(),
        None => {
            let region = credentials::region(&sd.region, &sd.keys.profile, lookup).await?;
            session.region = Some(region.clone());
            region
        }
    };
    if session.keys.as_ref().is_none_or(|keys| !keys.fresh(crate::api::params::now_ms())) {
        session.keys = Some(credentials::find(&sd.keys, &region, lookup).await?);
    }
    if session.endpoint.is_none() {
        let url = endpoint(sd, &region, lookup)?;
        let client = super::http_get::client_for(&url, &sd.tls, &sd.proxy)?;
        session.endpoint = Some((url, client));
    }
    if session.zone_ids.is_none() {
        // As Prometheus: without the zones' IDs the instances are still listed.
        // Its permission is optional: a refusal here keeps the keys.
        match call(session, &region, &[], "DescribeAvailabilityZones", lookup.transport, timeout).await.and_then(|body| instances::read_zone_ids(&body)) {
            Ok(ids) => session.zone_ids = Some(ids),
            Err(error) => tracing::debug!(%error, "ec2_sd: cannot describe availability zones"),
        }
    }
    let mut groups = Vec::new();
    let mut next_token: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let mut form = filter_form(&sd.filters);
        if let Some(token) = &next_token {
            form.push(("NextToken".to_string(), token.clone()));
        }
        let body = call(session, &region, &form, "DescribeInstances", lookup.transport, timeout).await.map_err(|e| format!("could not describe instances: {e}"))?;
        let (page, token) = instances::read_instances(&body, &region, sd.port, session.zone_ids.as_ref()).map_err(|e| format!("could not describe instances: {e}"))?;
        groups.extend(page);
        match token {
            Some(token) => next_token = Some(token),
            None => return Ok(groups),
        }
    }
    Err(format!("could not describe instances: more than {PAGES_MAX} pages"))
}

/// The `Filter.N.Name` and `Filter.N.Value.M` pairs of `filters`, as the query API takes them.
fn filter_form(filters: &[(String, Vec<String>)]) -> Vec<(String, String)> {
    let mut form = Vec::new();
    for (n, (name, values)) in filters.iter().enumerate() {
        form.push((format!("Filter.{}.Name", n + 1), name.clone()));
        for (m, value) in values.iter().enumerate() {
            form.push((format!("Filter.{}.Value.{}", n + 1, m + 1), value.clone()));
        }
    }
    form
}

/// EC2's endpoint for `region`: the entry's `endpoint`, else `AWS_ENDPOINT_URL_EC2` or
/// `AWS_ENDPOINT_URL`, else EC2's regional one.
fn endpoint(sd: &Ec2Sd, region: &str, lookup: &Lookup<'_>) -> Result<Url, String> {
    if let Some(url) = &sd.endpoint {
        return Ok(url.clone());
    }
    let text = match (lookup.env)("AWS_ENDPOINT_URL_EC2").or_else(|| (lookup.env)("AWS_ENDPOINT_URL")).filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => format!("https://ec2.{region}.{}/", credentials::dns_suffix(region)),
    };
    Url::parse(&text).map_err(|e| format!("EC2 endpoint {text:?}: {e}"))
}

/// One signed EC2 action: the `200` answer's text, or why there is none. Keys that
/// `DescribeInstances` is refused with (`AuthFailure`, `UnauthorizedOperation`) are dropped,
/// to be found again next time (as Prometheus makes a new client).
async fn call(session: &mut Session, region: &str, params: &[(String, String)], action: &str, transport: Transport<'_>, timeout: Duration) -> Result<String, String> {
    let keys = session.keys.as_ref().map(|found| found.keys.clone()).ok_or("no keys")?;
    let (url, client) = session.endpoint.as_mut().ok_or("no endpoint")?;
    let mut form = vec![("Action".to_string(), action.to_string()), ("Version".to_string(), API_VERSION.to_string())];
    form.extend_from_slice(params);
    let response = aws_api::post_form(Some(client), url, Some(&keys), (region, "ec2"), &form, transport, timeout).await?;
    if response.status != 200 {
        if let Some((code, _)) = aws_api::xml_error(&response.body) {
            if action == "DescribeInstances" && (code == "AuthFailure" || code == "UnauthorizedOperation") {
                session.keys = None;
            }
        }
        return Err(aws_api::status_error(response.status, &response.body));
    }
    String::from_utf8(response.body).map_err(|_| "the answer is not UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};
    use crate::scrape::config::Secret;

    /// EC2 refusing DescribeAvailabilityZones (its permission is optional) and answering
    /// DescribeInstances, or refusing it for the key `AKIDBAD`.
    fn ec2(request: &Seen) -> (u16, String) {
        let refused = |code: &str| (403, format!("<Response><Errors><Error><Code>{code}</Code><Message>no</Message></Error></Errors></Response>"));
        if request.body.contains("Action=DescribeAvailabilityZones") {
            return refused("UnauthorizedOperation");
        }
        if request.header("authorization").is_some_and(|a| a.contains("Credential=AKIDBAD/")) {
            return refused("AuthFailure");
        }
        (200, "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>i-1</instanceId><privateIpAddress>10.0.0.1</privateIpAddress><placement><availabilityZone>eu-west-1a</availabilityZone></placement></item></instancesSet></item></reservationSet></DescribeInstancesResponse>".into())
    }

    fn entry(endpoint: &str, access_key: &str) -> Ec2Sd {
        let keys = credentials::Settings { access_key: access_key.into(), secret_key: Some(Secret::Inline("s".into())), ..Default::default() };
        let endpoint = Some(Url::parse(endpoint).expect("endpoint"));
        Ec2Sd { source: "s".into(), shown: "s".into(), region: "eu-west-1".into(), endpoint, keys, port: 9100, filters: vec![], refresh_ms: 5_000, tls: Err("no TLS".into()), proxy: Default::default(), http_headers: Default::default() }
    }

    fn ask_once(session: &mut Session, sd: &Ec2Sd) -> Result<Vec<TargetGroup>, String> {
        let env = |_: &str| None;
        let headers = [("X-Team".to_string(), "storage".to_string())];
        let lookup = Lookup { env: &env, transport: Transport { tls: &sd.tls, proxy: &sd.proxy, headers: &headers } };
        run(ask_with(session, sd, &lookup))
    }

    #[test]
    fn instances_are_listed_when_zones_are_refused_and_refused_keys_are_dropped() {
        let (base, seen) = serve(ec2);
        let mut session = Session::default();
        let groups = ask_once(&mut session, &entry(&base, "AKIDGOOD")).expect("instances without zone IDs");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].labels.get("__meta_ec2_availability_zone_id").map(String::as_str), Some(""));
        assert!(session.keys.is_some(), "a refused zone request keeps the keys");
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(requests.iter().all(|r| r.header("x-team") == Some("storage")), "http_headers sent: {requests:?}");
        let mut refused = Session::default();
        let error = ask_once(&mut refused, &entry(&base, "AKIDBAD")).expect_err("refused");
        assert_eq!(error, "could not describe instances: server returned HTTP status 403 Forbidden: AuthFailure: no");
        assert!(refused.keys.is_none(), "keys EC2 refused are found again next time");
    }

    #[test]
    fn filters_are_numbered_as_the_query_api_takes_them() {
        let filters = vec![("tag:env".to_string(), vec!["prod".to_string(), "staging".to_string()]), ("instance-state-name".to_string(), vec!["running".to_string()])];
        let form: Vec<String> = filter_form(&filters).into_iter().map(|(n, v)| format!("{n}={v}")).collect();
        assert_eq!(form, ["Filter.1.Name=tag:env", "Filter.1.Value.1=prod", "Filter.1.Value.2=staging", "Filter.2.Name=instance-state-name", "Filter.2.Value.1=running"]);
    }
}
