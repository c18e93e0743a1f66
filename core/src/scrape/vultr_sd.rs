//! Targets from `vultr_sd_configs`, as Prometheus' Vultr discovery finds them: every instance
//! of the account is a target (`vultr_sd::instances`). A failed refresh keeps the last good
//! targets and is logged when the error changes. Executor 0 asks and puts the groups in the
//! shared `AskedGroups`, which every executor reads.

pub mod config;
pub mod instances;

use std::sync::Arc;
use std::time::Duration;

use self::config::VultrSd;
use super::asked_groups::{ask_every_over, spawn_for_each, AskedGroups, Refreshed};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::discovery::query_escape;
use super::http_get::{self, Get};

/// The API's host: fixed for users (Prometheus has no key for it).
const API_HOST: &str = "api.vultr.com";
/// The largest page read (100 instances of about 1.5 KiB each).
const BODY_BYTES_MAX: usize = 16 << 20;
/// Instances a page, as Prometheus asks.
const PER_PAGE: usize = 100;
/// The most pages one refresh reads (500,000 instances): a bound on cursors that never end.
const PAGES_MAX: usize = 5_000;
/// The most of an error answer's body told in the message (Vultr's client tells it all).
const SHOWN_BODY_BYTES_MAX: usize = 512;
/// Shown for the entry in logs.
const SHOWN: &str = "https://api.vultr.com/v2/instances";

/// Starts asking every vultr_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.vultr_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The API's origin.
fn api_base() -> Url {
    Url { scheme: Scheme::Https, host: API_HOST.to_string(), port: 443, path_and_query: "/".to_string() }
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &VultrSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "vultr_sd", job, shown: SHOWN, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &api_base(), &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh against the real API.
async fn ask(client: &mut net::client::HttpClient, sd: &VultrSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(client, sd, &api_base()).await
}

/// One refresh against the API at `base` (its origin; the tests' mock): every page of the
/// instance list (`GET https://api.vultr.com/v2/instances?per_page=100`, then with the `cursor`
/// each page gives for the next), then their groups.
async fn ask_at(client: &mut net::client::HttpClient, sd: &VultrSd, base: &Url) -> Result<Vec<TargetGroup>, String> {
    let mut found = Vec::new();
    let mut cursor = String::new();
    for _ in 0..PAGES_MAX {
        let page = get_page(client, sd, base, &cursor).await?;
        let next = page.next_cursor().map(str::to_string);
        found.extend(page.instances);
        match next {
            Some(next) => cursor = next,
            None => return Ok(instances::groups(&found, sd.port)),
        }
    }
    Err(format!("more than {PAGES_MAX} pages of instances"))
}

/// GETs the page of the instance list at `cursor` (empty: the first) with the entry's
/// credentials (the API key as `authorization` or `bearer_token`) and reads it. An answer
/// outside 200-204 fails the refresh (`status_error`).
async fn get_page(client: &mut net::client::HttpClient, sd: &VultrSd, base: &Url, cursor: &str) -> Result<instances::Page, String> {
    // As Go encodes the query: keys sorted, values escaped.
    let path_and_query = if cursor.is_empty() { format!("/v2/instances?per_page={PER_PAGE}") } else { format!("/v2/instances?cursor={}&per_page={PER_PAGE}", query_escape(cursor)) };
    let location = Url { path_and_query, ..base.clone() };
    let shown = http_get::format_url(&location);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", None, timeout).await?;
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if !(200..=204).contains(&response.status) {
        return Err(status_error(response.status, &response.body));
    }
    instances::page(&response.body)
}

/// A refused request as Vultr's Go client words it: the answer's body; Prometheus' words
/// when it has none.
fn status_error(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN_BODY_BYTES_MAX)]).trim().to_string();
    if text.is_empty() {
        format!("vultr API returned unexpected status {status}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};
    use crate::scrape::vultr_sd::instances::tests::{expected, INSTANCES};

    const KEY: &str = "ABCBTDG35OTGH2UKCC3S6CNMDUPCN3ZWSGFQ";

    /// The instances of Prometheus' test behind its key, two on the first page and one on
    /// the second, which the first's `next` cursor names.
    fn paged_api(request: &Seen) -> (u16, String) {
        if request.header("authorization") != Some(&*format!("Bearer {KEY}")) {
            return (401, r#"{"error":"Invalid API token.","status":401}"#.to_string());
        }
        let all: Vec<serde_json::Value> = serde_json::from_str(INSTANCES).expect("valid");
        match request.path.as_str() {
            "/v2/instances?per_page=100" => (200, serde_json::json!({"instances": all[..2], "meta": {"total": 3, "links": {"next": "bmV4dF9f+/=", "prev": ""}}}).to_string()),
            "/v2/instances?cursor=bmV4dF9f%2B%2F%3D&per_page=100" => (200, serde_json::json!({"instances": all[2..], "meta": {"total": 3, "links": {"next": "", "prev": "cHJldg=="}}}).to_string()),
            _ => (404, String::new()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: v, vultr_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(base: &str, config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let base = Url::parse(base).expect("the mock's URL");
        let sd = &config.jobs[0].vultr_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new(base.host.clone(), base.port, None);
            ask_at(&mut client, sd, &base).await
        })
    }

    #[test]
    fn every_page_is_listed_with_the_key_and_each_instance_is_a_target() {
        let (base, seen) = serve(paged_api);
        let groups = refresh(&base, &entry(&format!("{{bearer_token: {KEY}}}"))).expect("two pages");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["149.28.234.27:80", "45.63.1.222:80", "149.28.237.151:80"]);
        for (i, group) in groups.iter().enumerate() {
            assert_eq!(group.labels, expected(i + 1), "instance {}", i + 1);
        }
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["/v2/instances?per_page=100", "/v2/instances?cursor=bmV4dF9f%2B%2F%3D&per_page=100"]);
        assert!(seen.iter().all(|s| s.method == "GET" && s.header("accept") == Some("application/json")), "{seen:?}");

        // authorization carries the key the same way, and the port is the entry's.
        let (base, _) = serve(paged_api);
        let groups = refresh(&base, &entry(&format!("{{authorization: {{credentials: {KEY}}}, port: 9100}}"))).expect("two pages");
        assert_eq!(groups[2].targets, ["149.28.237.151:9100"]);
    }

    #[test]
    fn a_refused_page_fails_the_refresh_in_the_go_clients_words() {
        let (base, seen) = serve(paged_api);
        let error = refresh(&base, &entry("{bearer_token: wrong}")).expect_err("unauthorized");
        assert_eq!(error, r#"{"error":"Invalid API token.","status":401}"#, "the body, as Vultr's client words it");
        assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 1, "no page after a failed one");
        assert_eq!(status_error(403, b" \n"), "vultr API returned unexpected status 403");
    }
}
