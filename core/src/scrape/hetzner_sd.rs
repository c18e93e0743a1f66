//! Targets from `hetzner_sd_configs`, as Prometheus' Hetzner discovery finds them: role hcloud
//! the Cloud API's servers (with the entry's token), role robot the Robot webservice's dedicated
//! servers (with `basic_auth`). A failed request fails the refresh, which keeps the last good
//! targets and is logged when the error changes. Executor 0 asks and puts the groups in the
//! shared `AskedGroups`, which every executor reads.

pub mod config;
pub mod hcloud;
pub mod robot;

use std::sync::Arc;
use std::time::Duration;

use self::config::{HetznerSd, Role};
use super::asked_groups::{ask_every_over, spawn_for_each, AskedGroups, Refreshed};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The Cloud API's host and path (hcloud-go's endpoint): fixed for users, as in Prometheus.
const HCLOUD_HOST: &str = "api.hetzner.cloud";
const HCLOUD_PATH: &str = "/v1";
/// The Robot webservice's host (Prometheus' endpoint).
const ROBOT_HOST: &str = "robot-ws.your-server.de";
/// Servers and networks asked per page, as Prometheus asks them.
const PER_PAGE: usize = 50;
/// The most pages one list reads (500,000 servers at 50 a page): a bound on a list whose
/// `next_page` never ends.
const PAGES_MAX: usize = 10_000;
/// The largest answer read: a page of 50 servers, or the Robot's whole server list.
const BODY_BYTES_MAX: usize = 32 << 20;
/// hcloud-go's retries of a failed Cloud API request: at most this many, after a backoff
/// doubling from `RETRY_BASE` up to `RETRY_CAP`, with full jitter above the base.
const RETRIES_MAX: u32 = 5;
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_CAP: Duration = Duration::from_secs(60);
/// The API error codes hcloud-go retries; and without an API error, the statuses.
const RETRIED_CODES: [&str; 4] = ["conflict", "rate_limit_exceeded", "bad_gateway", "timeout"];
const RETRIED_STATUSES: [u16; 2] = [502, 504];
/// The answer header hcloud-go adds to an API error's words.
const CORRELATION_HEADER: &str = "x-correlation-id";

/// Starts asking every hetzner_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.hetzner_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The role's API: its origin and the path its requests go under.
fn api_base(role: Role) -> Url {
    let (host, path) = match role {
        Role::Hcloud => (HCLOUD_HOST, HCLOUD_PATH),
        Role::Robot => (ROBOT_HOST, ""),
    };
    Url { scheme: Scheme::Https, host: host.to_string(), port: 443, path_and_query: path.to_string() }
}

/// Shown for the entry in logs.
fn shown(role: Role) -> &'static str {
    match role {
        Role::Hcloud => "https://api.hetzner.cloud/v1/servers",
        Role::Robot => "https://robot-ws.your-server.de/server",
    }
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &HetznerSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "hetzner_sd", job, shown: shown(sd.role), source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &api_base(sd.role), &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh against the real API.
async fn ask(client: &mut net::client::HttpClient, sd: &HetznerSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(client, sd, &api_base(sd.role), RETRY_BASE).await
}

/// One refresh against the API at `base` (its origin and path; the tests' mock), Cloud API
/// retries starting after `retry_base`. Role hcloud: the servers (`GET
/// https://api.hetzner.cloud/v1/servers`, 50 a page, with the entry's `label_selector`), then
/// the networks (to name private addresses), each page by page while
/// `meta.pagination.next_page` says so; API errors retried as Hetzner's Go client retries them.
/// Role robot: the dedicated servers (`GET https://robot-ws.your-server.de/server`).
async fn ask_at(client: &mut net::client::HttpClient, sd: &HetznerSd, base: &Url, retry_base: Duration) -> Result<Vec<TargetGroup>, String> {
    match sd.role {
        Role::Hcloud => {
            let hcloud = Hcloud { sd, base, retry_base };
            let mut servers = Vec::new();
            hcloud
                .every_page(client, "servers", &sd.label_selector, |body| {
                    let page = hcloud::servers_page(body)?;
                    let next = page.next_page();
                    servers.extend(page.servers);
                    Ok(next)
                })
                .await?;
            let mut networks = Vec::new();
            hcloud
                .every_page(client, "networks", "", |body| {
                    let page = hcloud::networks_page(body)?;
                    let next = page.next_page();
                    networks.extend(page.networks);
                    Ok(next)
                })
                .await?;
            Ok(hcloud::groups(&servers, &networks, sd.port))
        }
        Role::Robot => {
            let location = Url { path_and_query: format!("{}/server", base.path_and_query.trim_end_matches('/')), ..base.clone() };
            let response = get(client, sd, &location).await?;
            if !(200..300).contains(&response.status) {
                return Err(format!("non 2xx status '{}' response during hetzner service discovery with role robot", response.status));
            }
            Ok(robot::groups(&robot::servers(&response.body)?, sd.port))
        }
    }
}

/// One GET of `location` with the entry's access; as Prometheus' other refreshed
/// discoveries, a request may take the whole interval.
async fn get(client: &mut net::client::HttpClient, sd: &HetznerSd, location: &Url) -> Result<net::client::Response, String> {
    let shown = http_get::format_url(location);
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", None, timeout).await?;
    http_get::get(Get { client, url: location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access }).await
}

/// The Cloud API of one entry.
struct Hcloud<'a> {
    sd: &'a HetznerSd,
    base: &'a Url,
    retry_base: Duration,
}

impl Hcloud<'_> {
    /// Reads every page of list `what` (`servers`, `networks`) with `read`, which keeps the
    /// page's items and says which page comes next.
    async fn every_page(&self, client: &mut net::client::HttpClient, what: &str, label_selector: &str, mut read: impl FnMut(&[u8]) -> Result<Option<i64>, String>) -> Result<(), String> {
        let prefix = self.base.path_and_query.trim_end_matches('/');
        let mut page = 1;
        for _ in 0..PAGES_MAX {
            // Go's query: keys sorted, values escaped as `url.QueryEscape` escapes them.
            let selector = if label_selector.is_empty() { String::new() } else { format!("label_selector={}&", super::discovery::query_escape(label_selector)) };
            let location = Url { path_and_query: format!("{prefix}/{what}?{selector}page={page}&per_page={PER_PAGE}"), ..self.base.clone() };
            match read(&self.retried(client, &location).await?)? {
                Some(next) => page = next,
                None => return Ok(()),
            }
        }
        Err(format!("hcloud: more than {PAGES_MAX} pages of {what}"))
    }

    /// The body of a GET of `location` that did not fail, retried as hcloud-go retries.
    async fn retried(&self, client: &mut net::client::HttpClient, location: &Url) -> Result<Vec<u8>, String> {
        let mut retries = 0;
        loop {
            let response = get(client, self.sd, location).await?;
            if !(400..600).contains(&response.status) {
                return Ok(response.body);
            }
            let correlation_id = response.headers.get(CORRELATION_HEADER).and_then(|v| v.to_str().ok());
            let (error, code) = hcloud::api_error(response.status, &response.body, correlation_id);
            let retry = if code.is_empty() { RETRIED_STATUSES.contains(&response.status) } else { RETRIED_CODES.contains(&code.as_str()) };
            if !retry || retries >= RETRIES_MAX {
                return Err(error);
            }
            let wait = backoff(self.retry_base, retries);
            if !wait.is_zero() {
                glommio::timer::sleep(wait).await;
            }
            retries += 1;
        }
    }
}

/// hcloud-go's backoff before retry `retries` (0 first): `base` doubled that many times,
/// at most `RETRY_CAP`, then a random point between `base` and that.
fn backoff(base: Duration, retries: u32) -> Duration {
    let full = base.saturating_mul(2u32.saturating_pow(retries)).min(RETRY_CAP.max(base));
    base + full.saturating_sub(base).mul_f64(random_fraction())
}

/// A number in [0, 1) from the standard library's per-process random keys (no generator
/// needed for a jitter).
fn random_fraction() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let bits = std::collections::hash_map::RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    const TOKEN: &str = "Bearer htoken";
    /// `my-hetzner:my-password`, Prometheus' test user, in Basic form.
    const ROBOT_USER: &str = "Basic bXktaGV0em5lcjpteS1wYXNzd29yZA==";

    fn unauthorized() -> (u16, String) {
        (401, r#"{"error": {"code": "unauthorized", "message": "unable to authenticate", "details": {}}}"#.to_string())
    }

    /// Prometheus' hcloud fixture behind a token, its servers on two pages.
    fn cloud_api(request: &Seen) -> (u16, String) {
        if request.header("authorization") != Some(TOKEN) {
            return unauthorized();
        }
        let path = request.path.split('?').next().unwrap_or("");
        match path {
            "/servers" => {
                let all: serde_json::Value = serde_json::from_str(hcloud::tests::SERVERS).unwrap_or_default();
                let servers = all["servers"].as_array().cloned().unwrap_or_default();
                let (items, next) = if request.path.contains("page=2&") { (&servers[2..], serde_json::Value::Null) } else { (&servers[..2], 2.into()) };
                (200, serde_json::json!({"servers": items, "meta": {"pagination": {"next_page": next}}}).to_string())
            }
            "/networks" => (200, hcloud::tests::NETWORKS.to_string()),
            _ => (404, r#"{"error": {"code": "not_found", "message": "not found"}}"#.to_string()),
        }
    }

    /// Prometheus' robot fixture behind its test user.
    fn robot_api(request: &Seen) -> (u16, String) {
        match (request.header("authorization"), request.path.as_str()) {
            (Some(ROBOT_USER), "/server") => (200, robot::tests::SERVERS.to_string()),
            (Some(ROBOT_USER), _) => (404, r#"{"error": {"status": 404, "code": "NOT_FOUND"}}"#.to_string()),
            _ => (401, r#"{"error": {"status": 401, "code": "UNAUTHORIZED", "message": "Unauthorized"}}"#.to_string()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: h, hetzner_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(base: &str, config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let base = Url::parse(base).expect("the mock's URL");
        let sd = &config.jobs[0].hetzner_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new(base.host.clone(), base.port, None);
            ask_at(&mut client, sd, &base, Duration::ZERO).await
        })
    }

    fn seen_of(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<Seen> {
        seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    #[test]
    fn hcloud_lists_every_page_of_servers_and_the_networks_with_the_token() {
        let (base, seen) = serve(cloud_api);
        let groups = refresh(&base, &entry("{role: hcloud, authorization: {credentials: htoken}, label_selector: 'env=prod,tier!=db'}")).expect("two pages");
        let got: Vec<(String, std::collections::BTreeMap<String, String>)> = groups.into_iter().map(|g| (g.targets.join(","), g.labels)).collect();
        assert_eq!(got, hcloud::tests::expected());
        let seen = seen_of(&seen);
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["/servers?label_selector=env%3Dprod%2Ctier%21%3Ddb&page=1&per_page=50", "/servers?label_selector=env%3Dprod%2Ctier%21%3Ddb&page=2&per_page=50", "/networks?page=1&per_page=50"]);
        assert!(seen.iter().all(|s| s.method == "GET" && s.header("accept") == Some("application/json")), "{seen:?}");

        // bearer_token carries the token the same way; no selector, no such parameter.
        let (base, seen) = serve(cloud_api);
        assert_eq!(refresh(&base, &entry("{role: hcloud, bearer_token: htoken, port: 9100}")).expect("two pages")[0].targets, ["1.2.3.4:9100"]);
        assert_eq!(seen_of(&seen)[0].path, "/servers?page=1&per_page=50");
    }

    #[test]
    fn an_hcloud_error_fails_the_refresh_in_the_go_clients_words_without_retrying() {
        let (base, seen) = serve(cloud_api);
        let error = refresh(&base, &entry("{role: hcloud, bearer_token: wrong}")).expect_err("unauthorized");
        assert_eq!(error, "unable to authenticate (unauthorized)");
        assert_eq!(seen_of(&seen).len(), 1, "unauthorized is not retried, and no networks after failed servers");
    }

    #[test]
    fn hcloud_retries_rate_limits_and_bad_gateways_as_the_go_client_does() {
        static SERVER_ASKS: AtomicUsize = AtomicUsize::new(0);
        fn flaky(request: &Seen) -> (u16, String) {
            if request.path.starts_with("/servers") && SERVER_ASKS.fetch_add(1, Ordering::SeqCst) == 0 {
                return (429, r#"{"error": {"code": "rate_limit_exceeded", "message": "limit of 3600 requests per hour reached"}}"#.to_string());
            }
            if request.path.starts_with("/networks") {
                return (502, "<html>bad gateway</html>".to_string());
            }
            cloud_api(request)
        }
        let (base, seen) = serve(flaky);
        let error = refresh(&base, &entry("{role: hcloud, bearer_token: htoken}")).expect_err("the networks never answer");
        assert_eq!(error, "hcloud: server responded with status code 502");
        let paths: Vec<String> = seen_of(&seen).into_iter().map(|s| s.path).collect();
        assert_eq!(paths.iter().filter(|p| p.starts_with("/servers?page=1&")).count(), 2, "the rate-limited page is asked again: {paths:?}");
        assert_eq!(paths.iter().filter(|p| p.starts_with("/networks")).count(), 1 + RETRIES_MAX as usize, "{paths:?}");
    }

    #[test]
    fn backoffs_double_from_the_base_up_to_the_cap_with_jitter_above_the_base() {
        for retries in 0..8 {
            let wait = backoff(RETRY_BASE, retries);
            let full = (RETRY_BASE * 2u32.pow(retries)).min(RETRY_CAP);
            assert!(wait >= RETRY_BASE && wait <= full, "{retries}: {wait:?}");
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
    }

    #[test]
    fn robot_lists_the_servers_with_basic_auth() {
        let (base, seen) = serve(robot_api);
        let groups = refresh(&base, &entry("{role: robot, basic_auth: {username: my-hetzner, password: my-password}}")).expect("the list");
        let got: Vec<(String, std::collections::BTreeMap<String, String>)> = groups.into_iter().map(|g| (g.targets.join(","), g.labels)).collect();
        assert_eq!(got, robot::tests::expected());
        let seen = seen_of(&seen);
        assert_eq!(seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), ["/server"]);
    }

    #[test]
    fn a_robot_error_status_fails_the_refresh_in_prometheus_words() {
        let (base, _) = serve(robot_api);
        let error = refresh(&base, &entry("{role: robot}")).expect_err("unauthorized");
        assert_eq!(error, "non 2xx status '401' response during hetzner service discovery with role robot");
    }

    #[test]
    fn the_real_apis_are_asked_over_https() {
        let hcloud = api_base(Role::Hcloud);
        assert_eq!(http_get::format_url(&Url { path_and_query: format!("{}/servers", hcloud.path_and_query), ..hcloud }), shown(Role::Hcloud));
        let robot = api_base(Role::Robot);
        assert_eq!(http_get::format_url(&Url { path_and_query: "/server".to_string(), ..robot }), shown(Role::Robot));
    }
}
