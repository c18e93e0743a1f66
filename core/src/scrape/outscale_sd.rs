//! Targets from `outscale_sd_configs`, as Prometheus' OUTSCALE discovery finds them: each of
//! the account's virtual machines with an address is a target (`outscale_sd::vms`). A failed
//! call fails the refresh, which keeps the last good targets and is logged when the error
//! changes. Executor 0 asks and puts the groups in the shared `AskedGroups`, which every
//! executor reads.

pub mod config;
pub mod vms;

use std::sync::Arc;
use std::time::Duration;

use self::config::OutscaleSd;
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::aws::{headers_to_send, sigv4, Signed};
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::http_get;

/// The largest answer read (a page of VMs with their block devices and tags).
const BODY_BYTES_MAX: usize = 64 << 20;
/// The most pages one refresh reads: a bound on tokens that never end.
const PAGES_MAX: usize = 10_000;
/// What OUTSCALE's Go SDK signs every request for (AWS Signature Version 4), whatever the
/// entry's region.
const SIGNING_SERVICE: &str = "oapi";
const SIGNING_REGION: &str = "eu-west-2";

/// Starts asking every outscale_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.outscale_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &OutscaleSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "outscale_sd", job, shown: &sd.endpoint_text, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.endpoint, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh: every page of `ReadVms` (the body `{}`, then the `NextPageToken` of the answer
/// before while it names one), then their groups (Prometheus' words on failure).
async fn ask(client: &mut net::client::HttpClient, sd: &OutscaleSd) -> Result<Vec<TargetGroup>, String> {
    let secret = sd.secret_key.read().map_err(|e| format!("unable to read outscale secret key file: {e}"))?;
    let keys = sigv4::Keys { access_key_id: sd.access_key.clone(), secret_access_key: secret, session_token: None };
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let body = match &token {
            None => "{}".to_string(),
            Some(token) => serde_json::json!({ "NextPageToken": token }).to_string(),
        };
        let page = read_vms(client, sd, &keys, &body).await.map_err(|e| format!("outscale ReadVms: {e}"))?;
        found.extend(page.vms.unwrap_or_default());
        match page.next_page_token.filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next),
            None => return Ok(vms::groups(&found, &sd.region, sd.port)),
        }
    }
    Err(format!("outscale ReadVms: more than {PAGES_MAX} pages"))
}

/// One `POST <endpoint>/ReadVms` call with the JSON `body`, signed with AWS Signature Version
/// 4 for `SIGNING_SERVICE` in `SIGNING_REGION`, read.
async fn read_vms(client: &mut net::client::HttpClient, sd: &OutscaleSd, keys: &sigv4::Keys, body: &str) -> Result<vms::Page, String> {
    let base = sd.endpoint.path_and_query.trim_end_matches('/');
    let location = Url { path_and_query: format!("{base}/ReadVms"), ..sd.endpoint.clone() };
    let shown = http_get::format_url(&location);
    let host = client.host_header();
    let signed = Signed { keys, scope: (SIGNING_REGION, SIGNING_SERVICE), method: "POST", host: &host, path: &location.path_and_query, query: &[], body: body.as_bytes() };
    let headers = headers_to_send(vec![("Accept".to_string(), "application/json".to_string()), ("Content-Type".to_string(), "application/json".to_string())], Some(signed), &sd.access.headers.values()?);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let response = client.post(&location.path_and_query, &headers, body.as_bytes(), timeout, BODY_BYTES_MAX).await.map_err(|e| format!("Post {shown:?}: {e}"))?;
    if !(200..300).contains(&response.status) {
        let reason = http::StatusCode::from_u16(response.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        return Err(format!("{} {reason}", response.status).trim_end().to_string());
    }
    vms::page(&response.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    /// Two pages of VMs for a request signed with the access key `AKOSC`; any other key is
    /// refused as OUTSCALE refuses it.
    fn api(request: &Seen) -> (u16, String) {
        let authorization = request.header("authorization").unwrap_or("");
        if !authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKOSC/") {
            return (401, r#"{"Errors": [{"Code": "1", "Type": "AccessDenied", "Details": ""}], "ResponseContext": {"RequestId": "r"}}"#.to_string());
        }
        match (request.method.as_str(), request.path.as_str(), request.body.as_str()) {
            ("POST", "/api/v1/ReadVms", "{}") => (200, r#"{"Vms": [{"VmId": "i-1", "State": "running", "PrivateIp": "10.0.0.1", "Placement": {"SubregionName": "eu-west-2a"}}], "NextPageToken": "page-2"}"#.to_string()),
            ("POST", "/api/v1/ReadVms", r#"{"NextPageToken":"page-2"}"#) => (200, r#"{"Vms": [{"VmId": "i-2", "State": "stopped", "PublicIp": "198.51.100.2"}, {"VmId": "i-3"}]}"#.to_string()),
            _ => (400, r#"{"Errors": [{"Code": "4000", "Type": "InvalidParameterValue"}]}"#.to_string()),
        }
    }

    fn entry(base: &str, keys: &str) -> ScrapeConfig {
        let yaml = format!("scrape_configs: [{{job_name: o, outscale_sd_configs: [{{endpoint: '{base}/api/v1', region: cloudgouv-eu-west-1, {keys}, port: 9100, http_headers: {{X-Team: {{values: [obs]}}}}}}]}}]");
        ScrapeConfig::from_yaml(&yaml, std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let sd = &config.jobs[0].outscale_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new(sd.endpoint.host.clone(), sd.endpoint.port, None);
            ask(&mut client, sd).await
        })
    }

    #[test]
    fn every_page_is_asked_signed_and_each_vm_with_an_address_is_a_target() {
        let (base, seen) = serve(api);
        let groups = refresh(&entry(&base, "access_key: AKOSC, secret_key: s3cr3t")).expect("two pages");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["10.0.0.1:9100", "198.51.100.2:9100"], "the VM without an address is no target");
        assert_eq!(groups[0].labels.get("__meta_outscale_vm_region").map(String::as_str), Some("cloudgouv-eu-west-1"), "the entry's region");
        assert_eq!(groups[1].labels.get("__meta_outscale_vm_state").map(String::as_str), Some("stopped"));
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 2);
        for request in &seen {
            let authorization = request.header("authorization").unwrap_or("");
            // The SDK's scope, whatever the entry's region.
            assert!(authorization.contains("/eu-west-2/oapi/aws4_request, SignedHeaders="), "{authorization}");
            assert!(request.header("x-amz-date").is_some() && request.header("content-type") == Some("application/json"), "{request:?}");
            assert_eq!(request.header("x-team"), Some("obs"));
        }
    }

    #[test]
    fn a_refused_call_fails_the_refresh_in_prometheus_words() {
        let (base, _) = serve(api);
        assert_eq!(refresh(&entry(&base, "access_key: OTHER, secret_key: s")).err(), Some("outscale ReadVms: 401 Unauthorized".to_string()));
        let missing = entry(&base, "access_key: AKOSC, secret_key_file: /nonexistent/outscale-secret");
        let error = refresh(&missing).expect_err("no secret file");
        assert!(error.starts_with("unable to read outscale secret key file: cannot read /nonexistent/outscale-secret"), "{error}");
    }
}
