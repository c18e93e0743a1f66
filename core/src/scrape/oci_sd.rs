//! Targets from `oci_sd_configs`, as Prometheus' OCI discovery finds them: each instance of
//! the compartments whose primary VNIC has an address is a target (`oci_sd::instances`). Every
//! request is signed with the user's API key (`oci_sd::signing`). A failed instance list fails
//! the refresh, which keeps the last good targets. Executor 0 asks and puts the groups in the
//! shared `AskedGroups`, which every executor reads.

pub mod config;
pub mod instances;
#[cfg(test)]
mod mock;
pub mod signing;
#[cfg(test)]
mod test_key;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::client::HttpClient;
use serde::Deserialize;

use self::config::OciSd;
use self::instances::{Compartment, Instance, PrimaryVnic, Vnic, VnicAttachment};
use super::asked_groups::{ask_every, spawn_for_each, AskedGroups, Refreshed};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::discovery::query_escape;
use super::http_get::{self, Get};

/// The version path of the Core Services (compute, virtual network) and Identity APIs.
const API_VERSION: &str = "/20160918";
/// The items asked per page (Prometheus asks this many).
const PAGE_ITEMS: usize = 100;
/// The largest answer read (a page of 100 instances with their tags).
const BODY_BYTES_MAX: usize = 16 << 20;
/// The most pages one list reads: a bound on a list whose pages never end.
const PAGES_MAX: usize = 1_000;
/// The most compartments one walk visits: a bound on a tree that never ends.
const COMPARTMENTS_MAX: usize = 10_000;
/// Prometheus' pace for OCI requests: this many a second after a burst of `REQUESTS_BURST`
/// (OCI throttles Identity's list calls at 20 a second).
const REQUESTS_PER_SECOND: f64 = 10.0;
const REQUESTS_BURST: f64 = 50.0;

/// Starts asking every oci_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.oci_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The origins of the APIs asked.
#[derive(Debug, Clone)]
struct Endpoints {
    /// Compute and virtual network (`https://iaas.<region>.oraclecloud.com`).
    compute: Url,
    /// Identity (`https://identity.<region>.oci.oraclecloud.com`).
    identity: Url,
}

impl Endpoints {
    /// The region's endpoints, as OCI's SDK makes them from its templates.
    fn of_region(region: &str) -> Endpoints {
        let domain = second_level_domain(region);
        let origin = |host: String| Url { scheme: Scheme::Https, host, port: 443, path_and_query: "/".to_string() };
        Endpoints { compute: origin(format!("iaas.{region}.{domain}")), identity: origin(format!("identity.{region}.oci.{domain}")) }
    }
}

/// The domain of the realm `region` is in, as the SDK's region table has it (the
/// commercial realm's for a region it does not know).
fn second_level_domain(region: &str) -> &'static str {
    match region {
        // oc2 and oc3: US Government.
        "us-langley-1" | "us-luke-1" | "us-gov-ashburn-1" | "us-gov-chicago-1" | "us-gov-phoenix-1" => "oraclegovcloud.com",
        // oc4: UK Government.
        "uk-gov-london-1" | "uk-gov-cardiff-1" => "oraclegovcloud.uk",
        // oc8: Japan's dedicated realm.
        "ap-chiyoda-1" | "ap-ibaraki-1" => "oraclecloud8.com",
        _ => "oraclecloud.com",
    }
}

/// What a refresh asks with: a client for each API and the request pace, kept across
/// refreshes.
struct Api {
    endpoints: Endpoints,
    compute: HttpClient,
    identity: HttpClient,
    pace: Pace,
}

impl Api {
    fn new(sd: &OciSd, endpoints: Endpoints) -> Result<Api, String> {
        Ok(Api { compute: sd.access.client(&endpoints.compute)?, identity: sd.access.client(&endpoints.identity)?, endpoints, pace: Pace::new() })
    }
}

/// A token bucket: `REQUESTS_BURST` requests at once, then `REQUESTS_PER_SECOND`.
struct Pace {
    tokens: f64,
    at: Instant,
}

impl Pace {
    fn new() -> Pace {
        Pace { tokens: REQUESTS_BURST, at: Instant::now() }
    }

    /// Waits until the next request may go.
    async fn wait(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * REQUESTS_PER_SECOND).min(REQUESTS_BURST);
        self.at = now;
        if self.tokens < 1.0 {
            glommio::timer::sleep(Duration::from_secs_f64((1.0 - self.tokens) / REQUESTS_PER_SECOND)).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &OciSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let endpoints = Endpoints::of_region(&sd.region);
    let shown = http_get::format_url(&endpoints.compute);
    let mut api = match Api::new(sd, endpoints) {
        Ok(api) => api,
        Err(error) => {
            tracing::error!(job, %error, "oci_sd: its targets stay empty");
            return;
        }
    };
    let entry = Refreshed { mechanism: "oci_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut api, sd, |api, sd| Box::pin(ask(api, sd)), results, stopped).await;
}

/// One refresh: the compartments (those listed, else every active one under the tenancy),
/// their instances, each one's primary VNIC; a target for each instance with an address. A
/// failed VNIC lookup drops its instance.
async fn ask(api: &mut Api, sd: &OciSd) -> Result<Vec<TargetGroup>, String> {
    let compartments = if sd.compartments.is_empty() { all_compartments(api, sd).await? } else { sd.compartments.clone() };
    let mut groups = Vec::new();
    for compartment in &compartments {
        let listed = list_instances(api, sd, compartment).await.map_err(|e| format!("listing OCI instances in compartment {compartment}: {e}"))?;
        for instance in listed {
            let (Some(id), Some(compartment_id)) = (instance.id.as_deref(), instance.compartment_id.as_deref()) else {
                tracing::warn!(compartment, "oci_sd: skipping an instance with missing OCID fields");
                continue;
            };
            let vnic = match primary_vnic(api, sd, compartment_id, id).await {
                Ok(vnic) => vnic,
                Err(error) => {
                    tracing::warn!(instance = id, %error, "oci_sd: cannot resolve the instance's VNIC IPs; skipping it");
                    continue;
                }
            };
            // An instance without an address would be an unscrapable `:port`.
            if vnic.has_address() {
                groups.push(instances::target(&instance, &vnic, &sd.tenancy, sd.port));
            }
        }
    }
    Ok(groups)
}

/// Every active compartment reachable from the tenancy through the Identity API, the tenancy
/// first, breadth-first; a compartment whose children cannot be listed (a permission gap) is
/// logged and its subtree skipped, as Prometheus does.
async fn all_compartments(api: &mut Api, sd: &OciSd) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    let mut visited = HashSet::new();
    let mut queue = VecDeque::from([sd.tenancy.clone()]);
    while let Some(current) = queue.pop_front() {
        if !visited.insert(current.clone()) {
            continue;
        }
        if found.len() >= COMPARTMENTS_MAX {
            return Err(format!("more than {COMPARTMENTS_MAX} compartments"));
        }
        found.push(current.clone());
        let query = format!("accessLevel=ACCESSIBLE&compartmentId={}&compartmentIdInSubtree=false&limit={PAGE_ITEMS}", query_escape(&current));
        match list_all::<Compartment>(api, sd, Service::Identity, "/compartments", query, "compartments").await {
            Ok(children) => queue.extend(children.into_iter().filter(|c| c.active()).filter_map(|c| c.id).filter(|id| !visited.contains(id))),
            Err(error) => tracing::warn!(compartment = current, %error, "oci_sd: cannot list child compartments; skipping the subtree"),
        }
    }
    Ok(found)
}

/// Every instance of `compartment`, page by page (`opc-next-page`).
async fn list_instances(api: &mut Api, sd: &OciSd, compartment: &str) -> Result<Vec<Instance>, String> {
    let query = format!("compartmentId={}&limit={PAGE_ITEMS}", query_escape(compartment));
    list_all(api, sd, Service::Compute, "/instances", query, "instances").await
}

/// The primary VNIC of instance `id` in `compartment`: its attached VNICs fetched in order
/// until the primary one (none found: no address).
async fn primary_vnic(api: &mut Api, sd: &OciSd, compartment: &str, id: &str) -> Result<PrimaryVnic, String> {
    let query = format!("compartmentId={}&instanceId={}&limit={PAGE_ITEMS}", query_escape(compartment), query_escape(id));
    let attachments: Vec<VnicAttachment> = list_all(api, sd, Service::Compute, "/vnicAttachments", query, "VNIC attachments").await.map_err(|e| format!("listing VNIC attachments for instance {id}: {e}"))?;
    for vnic_id in attachments.iter().filter(|a| a.attached()).filter_map(|a| a.vnic_id.as_deref()) {
        let path_and_query = format!("{API_VERSION}/vnics/{}", query_escape(vnic_id));
        let (body, _) = get(api, sd, Service::VirtualNetwork, path_and_query).await.map_err(|e| format!("fetching VNIC {vnic_id}: {e}"))?;
        let vnic: Vnic = instances::object(&body, "VNIC").map_err(|e| format!("fetching VNIC {vnic_id}: {e}"))?;
        if vnic.is_primary() {
            return Ok(PrimaryVnic::from(vnic));
        }
    }
    Ok(PrimaryVnic::default())
}

/// Every page of the list at `path` with `query` (keys in the order Go's `url.Values`
/// sorts them), following `opc-next-page`.
async fn list_all<T: serde::de::DeserializeOwned>(api: &mut Api, sd: &OciSd, service: Service, path: &str, query: String, what: &str) -> Result<Vec<T>, String> {
    let mut items = Vec::new();
    let mut page: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let page_query = page.as_deref().map(|p| format!("&page={}", query_escape(p))).unwrap_or_default();
        let (body, next) = get(api, sd, service, format!("{API_VERSION}{path}?{query}{page_query}")).await?;
        items.extend(instances::list::<T>(&body, what)?);
        match next {
            Some(next) => page = Some(next),
            None => return Ok(items),
        }
    }
    Err(format!("more than {PAGES_MAX} pages of {what}"))
}

/// The OCI services asked, as the SDK names them in its errors.
#[derive(Debug, Clone, Copy)]
enum Service {
    Compute,
    VirtualNetwork,
    Identity,
}

/// An error answer's fields, as OCI's SDK reads them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorAnswer {
    code: String,
    message: String,
}

/// GETs `path_and_query` of `service`, signed and spaced as Prometheus spaces requests (10 a
/// second after a burst of 50, `Pace`): the body and the next page's token, or why there are
/// none (an error answer in the SDK's words).
async fn get(api: &mut Api, sd: &OciSd, service: Service, path_and_query: String) -> Result<(Vec<u8>, Option<String>), String> {
    api.pace.wait().await;
    let (client, base, name) = match service {
        Service::Compute => (&mut api.compute, &api.endpoints.compute, "Compute"),
        Service::VirtualNetwork => (&mut api.compute, &api.endpoints.compute, "VirtualNetwork"),
        Service::Identity => (&mut api.identity, &api.endpoints.identity, "Identity"),
    };
    let location = Url { path_and_query, ..base.clone() };
    let shown = http_get::format_url(&location);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("application/json", None, timeout).await?;
    // The signature is the Authorization (Prometheus' client leaves a set one alone).
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    let date = signing::http_date(now_ms());
    let authorization = sd.key.authorize_get(&client.host_header(), &location.path_and_query, &date)?;
    headers.push(("Date".to_string(), date));
    headers.push(("Authorization".to_string(), authorization));
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    let header = |name: &str| response.headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string);
    if !(200..300).contains(&response.status) {
        let answer: ErrorAnswer = serde_json::from_slice(&response.body).unwrap_or_default();
        let message = if answer.message.is_empty() { String::from_utf8_lossy(&response.body).trim().chars().take(200).collect() } else { answer.message };
        let request_id = header("opc-request-id").unwrap_or_default();
        return Err(format!("Error returned by {name} Service. Http Status Code: {}. Error Code: {}. Opc request id: {request_id}. Message: {message}", response.status, answer.code));
    }
    Ok((response.body, header("opc-next-page")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, Answer, Seen};
    use std::collections::BTreeMap;

    const TENANCY: &str = "ocid1.tenancy.oc1..test001";

    /// An instance as the API lists it (Prometheus' `makeInstance` with `id` and `compartment`).
    fn instance(id: &str, compartment: &str, name: &str) -> String {
        format!(
            r#"{{"id": "{id}", "displayName": "{name}", "shape": "VM.Standard.E4.Flex", "availabilityDomain": "US-ASHBURN-AD-1",
                "faultDomain": "FAULT-DOMAIN-1", "imageId": "ocid1.image.oc1.iad.img001", "region": "us-ashburn-1",
                "compartmentId": "{compartment}", "lifecycleState": "RUNNING", "freeformTags": {{"team": "sre"}}, "definedTags": {{}}}}"#
        )
    }

    fn attachment(vnic: &str, state: &str) -> String {
        format!(r#"{{"id": "ocid1.vnicattachment.oc1..att", "vnicId": "{vnic}", "lifecycleState": "{state}"}}"#)
    }

    /// A tenancy: the root has children c1 (active, on two pages with an inactive one) and
    /// c2 (whose children cannot be listed); c1 has c1a. The root holds two pages of
    /// instances; c1a one instance whose VNIC lookup fails, c2 an IPv6-only one.
    fn tenancy_api(request: &Seen) -> Answer {
        let ok = |body: String| (200, Vec::new(), body);
        let paged = |body: String, next: &str| (200, vec![("opc-next-page", next.to_string())], body);
        let root = format!("compartmentId={TENANCY}");
        let path = request.path.as_str();
        match path.strip_prefix("/20160918") {
            Some(p) if p == format!("/compartments?accessLevel=ACCESSIBLE&{root}&compartmentIdInSubtree=false&limit=100") => {
                paged(r#"[{"id": "c1", "lifecycleState": "ACTIVE"}, {"id": "c-dead", "lifecycleState": "INACTIVE"}]"#.into(), "p2")
            }
            Some(p) if p == format!("/compartments?accessLevel=ACCESSIBLE&{root}&compartmentIdInSubtree=false&limit=100&page=p2") => ok(r#"[{"id": "c2", "lifecycleState": "ACTIVE"}]"#.into()),
            Some("/compartments?accessLevel=ACCESSIBLE&compartmentId=c1&compartmentIdInSubtree=false&limit=100") => ok(format!(r#"[{{"id": "c1a", "lifecycleState": "ACTIVE"}}, {{"id": "{TENANCY}", "lifecycleState": "ACTIVE"}}]"#)),
            Some("/compartments?accessLevel=ACCESSIBLE&compartmentId=c1a&compartmentIdInSubtree=false&limit=100") => ok("[]".into()),
            Some("/compartments?accessLevel=ACCESSIBLE&compartmentId=c2&compartmentIdInSubtree=false&limit=100") => (404, Vec::new(), r#"{"code": "NotAuthorizedOrNotFound", "message": "Authorization failed or requested resource not found."}"#.into()),
            Some(p) if p == format!("/instances?{root}&limit=100") => paged(format!("[{}]", instance("ocid1.instance.oc1.iad.aaa001", TENANCY, "test-instance-1")), "next/2=="),
            Some(p) if p == format!("/instances?{root}&limit=100&page=next%2F2%3D%3D") => {
                ok(format!(r#"[{{"displayName": "no-id", "compartmentId": "{TENANCY}"}}, {}]"#, instance("i-nonprimary", TENANCY, "only-secondary")))
            }
            Some("/instances?compartmentId=c1&limit=100") => ok("[]".into()),
            Some("/instances?compartmentId=c1a&limit=100") => ok(format!("[{}]", instance("i-broken", "c1a", "broken"))),
            Some("/instances?compartmentId=c2&limit=100") => ok(format!("[{}]", instance("i-v6", "c2", "v6-only"))),
            Some(p) if p == format!("/vnicAttachments?{root}&instanceId=ocid1.instance.oc1.iad.aaa001&limit=100") => {
                ok(format!("[{}, {}, {}]", attachment("v-detached", "DETACHED"), attachment("ocid1.vnic.oc1..v001", "ATTACHED"), attachment("v-secondary", "ATTACHED")))
            }
            Some(p) if p == format!("/vnicAttachments?{root}&instanceId=i-nonprimary&limit=100") => ok(format!("[{}]", attachment("v-secondary", "ATTACHED"))),
            Some("/vnicAttachments?compartmentId=c1a&instanceId=i-broken&limit=100") => (500, Vec::new(), r#"{"code": "InternalError", "message": "boom"}"#.into()),
            Some("/vnicAttachments?compartmentId=c2&instanceId=i-v6&limit=100") => ok(format!("[{}]", attachment("v-v6", "ATTACHED"))),
            Some("/vnics/ocid1.vnic.oc1..v001") => ok(r#"{"id": "ocid1.vnic.oc1..v001", "isPrimary": true, "privateIp": "10.0.0.5", "publicIp": "203.0.113.10", "hostnameLabel": "web-1"}"#.into()),
            Some("/vnics/v-secondary") => ok(r#"{"id": "v-secondary", "isPrimary": false, "privateIp": "10.0.0.9"}"#.into()),
            Some("/vnics/v-v6") => ok(r#"{"id": "v-v6", "isPrimary": true, "ipv6Addresses": ["2001:db8::2", "2001:db8::1"]}"#.into()),
            _ => (404, Vec::new(), r#"{"code": "NotFound", "message": "no such path"}"#.into()),
        }
    }

    fn entry(yaml: &str) -> (tempfile::TempDir, ScrapeConfig) {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::write(dir.path().join("key.pem"), test_key::PKCS1_PEM).expect("written");
        let fingerprint = if yaml.contains("fingerprint") { "" } else { "fingerprint: 'aa:bb:cc', " };
        let yaml = format!("scrape_configs: [{{job_name: o, oci_sd_configs: [{{region: us-ashburn-1, tenancy: {TENANCY}, user: ocid1.user.oc1..u001, {fingerprint}key_file: key.pem, port: 9100, {yaml}}}]}}]");
        let config = ScrapeConfig::from_yaml(&yaml, dir.path(), crate::ingest::label_limits::LabelLimits::default()).expect("valid");
        (dir, config)
    }

    fn refresh(base: &str, config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let base = Url::parse(base).expect("the mock's URL");
        let sd = &config.jobs[0].oci_sd[0];
        run(async {
            let mut api = Api::new(sd, Endpoints { compute: base.clone(), identity: base.clone() })?;
            ask(&mut api, sd).await
        })
    }

    fn paths(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<String> {
        seen.lock().map(|s| s.iter().map(|r| r.path.trim_start_matches("/20160918").to_string()).collect()).unwrap_or_default()
    }

    #[test]
    fn a_tenancy_is_walked_and_each_instance_with_a_primary_vnic_is_a_target() {
        let (base, seen) = mock::serve(tenancy_api);
        let (_dir, config) = entry("");
        let groups = refresh(&base, &config).expect("a refresh");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["10.0.0.5:9100", "[2001:db8::1]:9100"], "no id, no primary VNIC, a failed VNIC lookup: no target");
        let expected: BTreeMap<String, String> = [
            ("__meta_oci_instance_id", "ocid1.instance.oc1.iad.aaa001"),
            ("__meta_oci_instance_name", "test-instance-1"),
            ("__meta_oci_instance_state", "RUNNING"),
            ("__meta_oci_instance_shape", "VM.Standard.E4.Flex"),
            ("__meta_oci_availability_domain", "US-ASHBURN-AD-1"),
            ("__meta_oci_fault_domain", "FAULT-DOMAIN-1"),
            ("__meta_oci_region", "us-ashburn-1"),
            ("__meta_oci_tenancy_id", TENANCY),
            ("__meta_oci_compartment_id", TENANCY),
            ("__meta_oci_image_id", "ocid1.image.oc1.iad.img001"),
            ("__meta_oci_vnic_id", "ocid1.vnic.oc1..v001"),
            ("__meta_oci_private_ip", "10.0.0.5"),
            ("__meta_oci_public_ip", "203.0.113.10"),
            ("__meta_oci_hostname_label", "web-1"),
            ("__meta_oci_tag_team", "sre"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(groups[0].labels, expected);
        assert_eq!(groups[1].labels.get("__meta_oci_ipv6_addresses").map(String::as_str), Some(",2001:db8::1,2001:db8::2,"));
        assert_eq!(groups[1].labels.get("__meta_oci_compartment_id").map(String::as_str), Some("c2"));
        let root = format!("compartmentId={TENANCY}");
        let walk = |c: &str| format!("/compartments?accessLevel=ACCESSIBLE&compartmentId={c}&compartmentIdInSubtree=false&limit=100");
        assert_eq!(
            paths(&seen),
            [
                walk(TENANCY),
                walk(TENANCY) + "&page=p2",
                walk("c1"),
                walk("c2"),
                walk("c1a"),
                // Every page of a compartment's instances, then each one's VNICs.
                format!("/instances?{root}&limit=100"),
                format!("/instances?{root}&limit=100&page=next%2F2%3D%3D"),
                format!("/vnicAttachments?{root}&instanceId=ocid1.instance.oc1.iad.aaa001&limit=100"),
                // The detached one is not fetched; after the primary one no other is.
                "/vnics/ocid1.vnic.oc1..v001".to_string(),
                format!("/vnicAttachments?{root}&instanceId=i-nonprimary&limit=100"),
                "/vnics/v-secondary".to_string(),
                "/instances?compartmentId=c1&limit=100".to_string(),
                "/instances?compartmentId=c2&limit=100".to_string(),
                "/vnicAttachments?compartmentId=c2&instanceId=i-v6&limit=100".to_string(),
                "/vnics/v-v6".to_string(),
                "/instances?compartmentId=c1a&limit=100".to_string(),
                "/vnicAttachments?compartmentId=c1a&instanceId=i-broken&limit=100".to_string(),
            ]
        );
        // Every request was signed (the mock answers 401 otherwise) and dated.
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(seen.iter().all(|r| r.method == "GET" && mock::verify(r).is_ok() && r.header("accept") == Some("application/json")), "{seen:?}");
    }

    /// Prometheus' multiple-compartments test: three listed compartments, the third empty,
    /// and a compartment whose instances cannot be listed.
    fn compartments_api(request: &Seen) -> Answer {
        let ok = |body: String| (200, Vec::new(), body);
        match request.path.trim_start_matches("/20160918") {
            "/instances?compartmentId=ocid1.compartment.oc1..c001&limit=100" => ok(format!("[{}]", instance("ocid1.instance.oc1..i001", "ocid1.compartment.oc1..c001", "a"))),
            "/instances?compartmentId=ocid1.compartment.oc1..c002&limit=100" => ok(format!("[{}]", instance("ocid1.instance.oc1..i002", "ocid1.compartment.oc1..c002", "b"))),
            "/instances?compartmentId=ocid1.compartment.oc1..c003&limit=100" => ok("[]".into()),
            p if p.starts_with("/vnicAttachments?") => ok(format!("[{}]", attachment("ocid1.vnic.oc1..v001", "ATTACHED"))),
            "/vnics/ocid1.vnic.oc1..v001" => ok(r#"{"id": "ocid1.vnic.oc1..v001", "isPrimary": true, "privateIp": "10.0.0.1"}"#.into()),
            _ => (503, Vec::new(), r#"{"code": "ServiceUnavailable", "message": "OCI API unavailable"}"#.into()),
        }
    }

    #[test]
    fn listed_compartments_are_asked_without_a_walk_and_a_failed_instance_list_fails_the_refresh() {
        let (base, seen) = mock::serve(compartments_api);
        let (_dir, config) = entry("compartments: [ocid1.compartment.oc1..c001, ocid1.compartment.oc1..c002, ocid1.compartment.oc1..c003]");
        let groups = refresh(&base, &config).expect("a refresh");
        let compartments: Vec<&str> = groups.iter().filter_map(|g| g.labels.get("__meta_oci_compartment_id").map(String::as_str)).collect();
        assert_eq!(compartments, ["ocid1.compartment.oc1..c001", "ocid1.compartment.oc1..c002"]);
        assert!(paths(&seen).iter().all(|p| !p.starts_with("/compartments")), "{:?}", paths(&seen));

        let (base, _) = mock::serve(compartments_api);
        let (_dir, config) = entry("compartments: [ocid1.compartment.oc1..c001, ocid1.compartment.oc1..gone]");
        let error = refresh(&base, &config).expect_err("the second compartment fails");
        assert_eq!(error, "listing OCI instances in compartment ocid1.compartment.oc1..gone: Error returned by Compute Service. Http Status Code: 503. Error Code: ServiceUnavailable. Opc request id: req-1. Message: OCI API unavailable");
    }

    #[test]
    fn a_signature_the_api_refuses_fails_the_refresh() {
        let (base, _) = mock::serve(compartments_api);
        let (_dir, config) = entry("compartments: [ocid1.compartment.oc1..c001]");
        let (_dir2, other) = entry("compartments: [ocid1.compartment.oc1..c001], fingerprint: 'dd:ee:ff'");
        assert!(refresh(&base, &config).is_ok());
        let error = refresh(&base, &other).expect_err("an unknown key");
        assert!(error.contains("Http Status Code: 401. Error Code: NotAuthenticated") && error.contains("unknown keyId"), "{error}");
    }

    #[test]
    fn a_region_names_its_endpoints_as_the_sdk_does() {
        let endpoints = Endpoints::of_region("us-ashburn-1");
        assert_eq!(http_get::format_url(&endpoints.compute), "https://iaas.us-ashburn-1.oraclecloud.com/");
        assert_eq!(http_get::format_url(&endpoints.identity), "https://identity.us-ashburn-1.oci.oraclecloud.com/");
        assert_eq!(Endpoints::of_region("uk-gov-london-1").compute.host, "iaas.uk-gov-london-1.oraclegovcloud.uk");
    }
}
