//! Targets from `stackit_sd_configs`, as Prometheus' STACKIT discovery finds them: each server
//! of the project with an address is a target (`stackit_sd::servers`). A failed request fails
//! the refresh, which keeps the last good targets. Executor 0 asks and puts the groups in the
//! shared `AskedGroups`, which every executor reads.

pub mod config;
pub mod key_flow;
pub mod servers;

use std::sync::Arc;
use std::time::Duration;

use self::config::StackitSd;
use self::key_flow::{Env, Token};
use super::asked_groups::{ask_every, spawn_for_each, AskedGroups, Refreshed};
use super::config::{ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The largest server list read.
const BODY_BYTES_MAX: usize = 64 << 20;

/// What an entry's refreshes share: the API's client and the key flow's last token.
pub struct Session {
    api: net::client::HttpClient,
    token: Option<Token>,
    /// The key flow's token URL, or why it cannot be used.
    token_url: Result<Url, String>,
}

/// Starts asking every stackit_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.stackit_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The key flow's token URL: `STACKIT_TOKEN_BASEURL`, else STACKIT's.
fn token_url(env: Env<'_>) -> Result<Url, String> {
    let text = env("STACKIT_TOKEN_BASEURL").filter(|u| !u.is_empty()).unwrap_or_else(|| key_flow::TOKEN_URL.to_string());
    Url::parse(&text).map_err(|e| format!("STACKIT_TOKEN_BASEURL: {e}"))
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &StackitSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let api = match sd.access.client(&sd.base) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, %error, "stackit_sd: its targets stay empty");
            return;
        }
    };
    let mut session = Session { api, token: None, token_url: token_url(&|name| std::env::var(name).ok()) };
    let entry = Refreshed { mechanism: "stackit_sd", job, shown: &sd.endpoint, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut session, sd, |session, sd| Box::pin(ask(session, sd)), results, stopped).await;
}

/// One refresh against the entry's endpoint (`https://iaas.api.<region>.stackit.cloud` unless
/// `endpoint` says otherwise).
async fn ask(session: &mut Session, sd: &StackitSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(session, sd, &sd.base, &|name| std::env::var(name).ok()).await
}

/// The servers' path and query under an endpoint whose own are `base_path_and_query`: the
/// path joined and cleaned as Go's `url.JoinPath`, `details=true` set among the query's
/// parameters (sorted by name, as Go encodes them).
fn servers_path(base_path_and_query: &str, project: &str) -> String {
    let (base_path, query) = base_path_and_query.split_once('?').unwrap_or((base_path_and_query, ""));
    let project = crate::scrape::discovery::query_escape(project).replace('+', "%20");
    let mut segments: Vec<&str> = Vec::new();
    for segment in base_path.split('/').chain(["v1", "projects", &project, "servers"]) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut parameters: Vec<&str> = query.split('&').filter(|p| !p.is_empty() && p.split('=').next() != Some("details")).collect();
    parameters.push("details=true");
    parameters.sort_by_key(|p| p.split('=').next().unwrap_or(""));
    format!("/{}?{}", segments.join("/"), parameters.join("&"))
}

/// One refresh against the API at `base` (the endpoint, or the tests' mock), the
/// environment read with `env`: one `GET <endpoint>/v1/projects/<project>/servers?details=true`
/// with the HTTP client settings' credentials or, when a service account key is set, a bearer
/// token from the key flow (`key_flow`).
async fn ask_at(session: &mut Session, sd: &StackitSd, base: &Url, env: Env<'_>) -> Result<Vec<TargetGroup>, String> {
    let location = Url { path_and_query: servers_path(&base.path_and_query, &sd.project), ..base.clone() };
    let shown = http_get::format_url(&location);
    // As Prometheus: the request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("application/json", None, timeout).await.map_err(|e| format!("sending request: {e}"))?;
    if let Some(keys) = &sd.keys {
        let now_s = crate::api::params::now_ms() / 1000;
        let token = match session.token.take().filter(|t| t.fresh(now_s)) {
            Some(token) => token,
            None => {
                let token_url = session.token_url.clone()?;
                key_flow::new_token(sd, keys, &token_url, now_s, timeout, env).await.map_err(|e| format!("sending request: Get {shown:?}: get new access token: {e}"))?
            }
        };
        // The key flow's token replaces any Authorization of the client settings.
        headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        headers.push(("Authorization".to_string(), format!("Bearer {}", token.access_token)));
        session.token = Some(token);
    }
    let get = Get { client: &mut session.api, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await.map_err(|e| format!("sending request: {e}"))?;
    if response.status != 200 {
        return Err(format!("unexpected status code {}: {}", response.status, String::from_utf8_lossy(&response.body)));
    }
    Ok(servers::groups(&servers::decode(&response.body)?, &sd.project, sd.port))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    const TEST_TOKEN: &str = "LRK9DAWQ1ZAEFSrCNEEzLCUwhYX1U3g7wMg4dTlkkDC96fyDuyJ39nVbVjCKSDfj";
    const PROJECT: &str = "00000000-0000-0000-0000-000000000000";

    /// Prometheus' mock of the IaaS API and the token endpoint.
    fn stackit_api(request: &Seen) -> (u16, String) {
        if request.path == "/token" {
            // An RFC 7523 assertion: a JWT, whose encoding starts with "ey".
            if request.method != "POST" || !request.body.starts_with("assertion=ey") || request.header("content-type") != Some("application/x-www-form-urlencoded") {
                return (401, String::new());
            }
            return (200, format!(r#"{{"access_token": "{TEST_TOKEN}"}}"#));
        }
        if request.path != format!("/v1/projects/{PROJECT}/servers?details=true") {
            return (404, "404 page not found".to_string());
        }
        if request.header("authorization") != Some(&format!("Bearer {TEST_TOKEN}")) {
            return (401, String::new());
        }
        (200, r#"{"items": [
            {"availabilityZone": "eu01-3", "bootVolume": {"deleteOnTermination": false, "id": "1c15e4cc-8474-46be-b875-b473ea9fe80c"}, "createdAt": "2025-03-12T14:48:17Z",
             "id": "b4176700-596a-4f80-9fc8-5f9c58a606e1", "labels": {"provisionSTACKITServerAgent": "true", "stackit_project_id": "00000000-0000-0000-0000-000000000000"},
             "launchedAt": "2025-03-12T14:48:52Z", "machineType": "g1.1", "name": "runcommandtest",
             "nics": [{"ipv4": "10.0.0.153", "mac": "fa:16:4f:42:1c:d3", "networkId": "3173494f-2f6c-490d-8c12-4b3c86b4338b", "networkName": "test", "publicIp": "192.0.2.1",
                       "nicId": "b36097c5-e1c5-4e12-ae97-c03e144db127", "nicSecurity": true, "securityGroups": ["6e60809f-bed3-46c6-a39c-adddd6455674"]}],
             "powerStatus": "STOPPED", "serviceAccountMails": [], "status": "INACTIVE", "updatedAt": "2025-03-13T07:08:29Z", "userData": null, "volumes": ["1c15e4cc-8474-46be-b875-b473ea9fe80c"]},
            {"availabilityZone": "eu01-m", "bootVolume": {"deleteOnTermination": false, "id": "1e3ffe2b-878f-46e5-b39e-372e13a09551"}, "createdAt": "2025-04-10T16:45:25Z",
             "id": "ee337436-1f15-4647-a03e-154009966179", "labels": {}, "launchedAt": "2025-04-10T16:46:00Z", "machineType": "t1.1", "name": "server1", "nics": [],
             "powerStatus": "RUNNING", "serviceAccountMails": [], "status": "ACTIVE", "updatedAt": "2025-04-10T16:46:00Z", "volumes": ["1e3ffe2b-878f-46e5-b39e-372e13a09551"]}]}"#
            .to_string())
    }

    fn entry(base: &str, credentials: &str) -> ScrapeConfig {
        let yaml = format!("scrape_configs: [{{job_name: s, stackit_sd_configs: [{{project: '{PROJECT}', endpoint: '{base}/', {credentials}}}]}}]");
        ScrapeConfig::from_yaml(&yaml, std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    /// Refreshes `times` times with one session (the token URL the mock's).
    fn refresh(base: &str, config: &ScrapeConfig, times: usize) -> Vec<Result<Vec<TargetGroup>, String>> {
        let sd = &config.jobs[0].stackit_sd[0];
        let token_url = Url::parse(&format!("{base}/token")).expect("the mock's URL");
        run(async {
            let mut session = Session { api: net::client::HttpClient::new(sd.base.host.clone(), sd.base.port, None), token: None, token_url: Ok(token_url) };
            let mut answers = Vec::new();
            for _ in 0..times {
                answers.push(ask_at(&mut session, sd, &sd.base, &|_| None).await);
            }
            answers
        })
    }

    /// Prometheus' TestServerSDRefresh's expected target.
    fn expected() -> BTreeMap<String, String> {
        [
            ("__address__", "192.0.2.1:80"),
            ("__meta_stackit_project", "00000000-0000-0000-0000-000000000000"),
            ("__meta_stackit_id", "b4176700-596a-4f80-9fc8-5f9c58a606e1"),
            ("__meta_stackit_type", "g1.1"),
            ("__meta_stackit_private_ipv4_test", "10.0.0.153"),
            ("__meta_stackit_public_ipv4", "192.0.2.1"),
            ("__meta_stackit_labelpresent_provisionSTACKITServerAgent", "true"),
            ("__meta_stackit_label_provisionSTACKITServerAgent", "true"),
            ("__meta_stackit_labelpresent_stackit_project_id", "true"),
            ("__meta_stackit_name", "runcommandtest"),
            ("__meta_stackit_availability_zone", "eu01-3"),
            ("__meta_stackit_status", "INACTIVE"),
            ("__meta_stackit_power_status", "STOPPED"),
            ("__meta_stackit_label_stackit_project_id", "00000000-0000-0000-0000-000000000000"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn labels_of(group: &TargetGroup) -> BTreeMap<String, String> {
        let mut labels = group.labels.clone();
        labels.insert("__address__".to_string(), group.targets[0].clone());
        labels
    }

    #[test]
    fn a_bearer_token_lists_the_projects_servers_as_prometheus_labels_them() {
        let (base, seen) = serve(stackit_api);
        let answers = refresh(&base, &entry(&base, &format!("bearer_token: {TEST_TOKEN}")), 1);
        let groups = answers[0].as_ref().expect("the servers");
        assert_eq!(groups.len(), 1, "the server without addresses is no target");
        assert_eq!(labels_of(&groups[0]), expected());
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].method.as_str(), seen[0].header("accept")), ("GET", Some("application/json")));
    }

    #[test]
    fn a_service_account_key_is_traded_for_a_token_that_lists_the_servers() {
        let (base, seen) = serve(stackit_api);
        let service_account_key = r#"{"Active": true, "CreatedAt": "2025-04-05T12:34:56Z", "Credentials": {"Aud": "https://stackit-service-account-prod.apps.01.cf.eu01.stackit.cloud",
            "Iss": "stackit@sa.stackit.cloud", "Kid": "123e4567-e89b-12d3-a456-426614174000", "Sub": "123e4567-e89b-12d3-a456-426614174001"}, "ID": "123e4567-e89b-12d3-a456-426614174002",
            "KeyAlgorithm": "RSA_2048", "KeyOrigin": "USER_PROVIDED", "KeyType": "USER_MANAGED", "PublicKey": "...", "ValidUntil": "2025-04-05T13:34:56Z"}"#;
        let credentials = format!("service_account_key: {}, private_key: {}", serde_json::Value::String(service_account_key.into()), serde_json::Value::String(key_flow::tests::TEST_KEY.into()));
        let answers = refresh(&base, &entry(&base, &credentials), 2);
        for answer in &answers {
            let groups = answer.as_ref().expect("the servers");
            assert_eq!(groups.iter().map(labels_of).collect::<Vec<_>>(), [expected()]);
        }
        let paths: Vec<String> = seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default();
        let servers = format!("/v1/projects/{PROJECT}/servers?details=true");
        // The mock's token is no JWT, so its expiry is unknown: each refresh asks for a new one.
        assert_eq!(paths, ["/token", servers.as_str(), "/token", servers.as_str()]);

        // A key the token endpoint refuses fails the refresh in the SDK's words, before the list.
        fn refusing(request: &Seen) -> (u16, String) {
            if request.path == "/token" { (401, r#"{"error": "invalid_grant"}"#.to_string()) } else { stackit_api(request) }
        }
        let (base, seen) = serve(refusing);
        let error = refresh(&base, &entry(&base, &credentials), 1).remove(0).expect_err("no token");
        assert_eq!(error, format!("sending request: Get \"{base}/v1/projects/{PROJECT}/servers?details=true\": get new access token: , status code 401, Body: {{\"error\": \"invalid_grant\"}}"));
        assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 1);
    }

    #[test]
    fn a_refused_list_fails_the_refresh_in_prometheus_words() {
        let (base, _) = serve(stackit_api);
        let error = refresh(&base, &entry(&base, "bearer_token: wrong"), 1).remove(0).expect_err("unauthorized");
        assert_eq!(error, "unexpected status code 401: ");
    }

    #[test]
    fn the_servers_path_is_joined_under_the_endpoints() {
        assert_eq!(servers_path("/", "p-1"), "/v1/projects/p-1/servers?details=true");
        assert_eq!(servers_path("/iaas/", "p 1"), "/iaas/v1/projects/p%201/servers?details=true");
        assert_eq!(servers_path("/x?z=1&details=false&a=2", "p"), "/x/v1/projects/p/servers?a=2&details=true&z=1");
    }
}
