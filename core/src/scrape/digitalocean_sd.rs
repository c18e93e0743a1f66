//! Targets from `digitalocean_sd_configs`, as Prometheus' DigitalOcean discovery finds them,
//! with the entry's credentials (the API token as `authorization` or `bearer_token`): role
//! `droplets` lists the account's droplets, role `databases` the managed database clusters. A
//! failed page fails the refresh, which keeps the last good targets and is logged when the
//! error changes. Executor 0 asks and puts the groups in the shared `AskedGroups`.

pub mod config;
pub mod databases;
pub mod droplets;

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use self::config::{DigitalOceanSd, Role};
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The API's host: fixed for users (Prometheus has no key for it).
const API_HOST: &str = "api.digitalocean.com";
/// The largest page read (a page holds 20 droplets by default).
const BODY_BYTES_MAX: usize = 16 << 20;
/// The most pages one refresh reads (100,000 droplets at the API's 20 a page): a bound on
/// a list whose links never end.
const PAGES_MAX: usize = 5_000;
/// The database clusters asked per page (Prometheus asks this many).
const DATABASES_PER_PAGE: usize = 100;

/// Starts asking every digitalocean_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.digitalocean_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The API's origin.
fn api_base() -> Url {
    Url { scheme: Scheme::Https, host: API_HOST.to_string(), port: 443, path_and_query: "/".to_string() }
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &DigitalOceanSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let shown = match sd.role {
        Role::Droplets => "https://api.digitalocean.com/v2/droplets",
        Role::Databases => "https://api.digitalocean.com/v2/databases",
    };
    let entry = Refreshed { mechanism: "digitalocean_sd", job, shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &api_base(), &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One refresh against the real API.
async fn ask(client: &mut net::client::HttpClient, sd: &DigitalOceanSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(client, sd, &api_base()).await
}

/// One refresh against the API at `base` (its origin; the tests' mock): every page of the
/// role's list, then their groups.
async fn ask_at(client: &mut net::client::HttpClient, sd: &DigitalOceanSd, base: &Url) -> Result<Vec<TargetGroup>, String> {
    match sd.role {
        Role::Droplets => ask_droplets(client, sd, base).await,
        Role::Databases => ask_databases(client, sd, base).await,
    }
}

/// Every page of the droplet list (`GET https://api.digitalocean.com/v2/droplets`, then
/// `?page=N` while the answer links a next page), then their groups: each droplet with an IPv4
/// network is a target (`droplets`).
async fn ask_droplets(client: &mut net::client::HttpClient, sd: &DigitalOceanSd, base: &Url) -> Result<Vec<TargetGroup>, String> {
    let mut found = Vec::new();
    // As the Go client: the first request has no page parameter (Prometheus' messages call it
    // page 0).
    let mut page_number = 0;
    for _ in 0..PAGES_MAX {
        let path_and_query = if page_number == 0 { "/v2/droplets".to_string() } else { format!("/v2/droplets?page={page_number}") };
        let body = get_page(client, sd, base, path_and_query).await.map_err(|e| format!("error while listing droplets page {page_number}: {e}"))?;
        let page = droplets::page(&body).map_err(|e| format!("error while listing droplets page {page_number}: {e}"))?;
        let next = page.next_page()?;
        found.extend(page.droplets);
        match next {
            Some(next) => page_number = next,
            None => return Ok(droplets::groups(&found, sd.port)),
        }
    }
    Err(format!("more than {PAGES_MAX} pages of droplets"))
}

/// Every page of the database cluster list (`GET /v2/databases?page=N&per_page=100`), then
/// their groups: each cluster with a host is a target (`databases`). As Prometheus pages them:
/// from page 1, the next page until one comes back empty (the answer's links are not read).
async fn ask_databases(client: &mut net::client::HttpClient, sd: &DigitalOceanSd, base: &Url) -> Result<Vec<TargetGroup>, String> {
    let mut found = Vec::new();
    for page_number in 1..=PAGES_MAX {
        let path_and_query = format!("/v2/databases?page={page_number}&per_page={DATABASES_PER_PAGE}");
        let listed = match get_page(client, sd, base, path_and_query).await {
            Ok(body) => databases::page(&body),
            Err(error) => Err(error),
        };
        let page = listed.map_err(|e| format!("error while listing database clusters page {page_number}: {e}"))?;
        if page.databases.is_empty() {
            return Ok(databases::groups(&found, sd.port));
        }
        found.extend(page.databases);
    }
    Err(format!("more than {PAGES_MAX} pages of database clusters"))
}

/// An error answer's fields, as DigitalOcean's Go client reads them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorAnswer {
    message: Option<String>,
    request_id: Option<String>,
}

/// GETs one page of a list at `path_and_query` of `base`: its body, or why there is none. Any
/// 2xx is taken, as DigitalOcean's Go client takes it.
async fn get_page(client: &mut net::client::HttpClient, sd: &DigitalOceanSd, base: &Url, path_and_query: String) -> Result<Vec<u8>, String> {
    let location = Url { path_and_query, ..base.clone() };
    let shown = http_get::format_url(&location);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", None, timeout).await?;
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if !(200..300).contains(&response.status) {
        // The Go client's words: `GET <url>: <status> (request "<id>") <message>`.
        let answer: ErrorAnswer = serde_json::from_slice(&response.body).unwrap_or_default();
        let header_id = response.headers.get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        let message = answer.message.unwrap_or_else(|| String::from_utf8_lossy(&response.body).trim().chars().take(200).collect());
        return Err(match header_id.or(answer.request_id).filter(|id| !id.is_empty()) {
            Some(id) => format!("GET {shown}: {} (request {id:?}) {message}", response.status),
            None => format!("GET {shown}: {} {message}", response.status),
        });
    }
    Ok(response.body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    /// Two pages of droplets behind a token, as the API answers them: the first links the
    /// second, the second only back.
    fn paged_api(request: &Seen) -> (u16, String) {
        if request.header("authorization") != Some("Bearer dotoken") {
            return (401, r#"{"id": "unauthorized", "message": "Unable to authenticate you", "request_id": "7e2c"}"#.to_string());
        }
        let page_1 = r#"{"droplets": [
              {"id": 11, "name": "web-1", "status": "active", "size_slug": "s-1vcpu-1gb", "image": {"slug": "ubuntu-24-04-x64", "name": "24.04 (LTS) x64"},
               "region": {"slug": "nyc3"}, "networks": {"v4": [{"ip_address": "203.0.113.11", "type": "public"}], "v6": []}, "tags": ["web"], "features": ["ipv6"], "vpc_uuid": "v-1"},
              {"id": 12, "name": "no-network", "networks": {"v4": []}}],
            "links": {"pages": {"next": "https://api.digitalocean.com/v2/droplets?page=2", "last": "https://api.digitalocean.com/v2/droplets?page=2"}}, "meta": {"total": 3}}"#;
        let page_2 = r#"{"droplets": [
              {"id": 13, "name": "db-1", "status": "active", "region": {"slug": "nyc3"},
               "networks": {"v4": [{"ip_address": "10.10.0.13", "type": "private"}, {"ip_address": "203.0.113.13", "type": "public"}]}}],
            "links": {"pages": {"first": "https://api.digitalocean.com/v2/droplets?page=1", "prev": "https://api.digitalocean.com/v2/droplets?page=1"}}, "meta": {"total": 3}}"#;
        match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/v2/droplets") => (200, page_1.to_string()),
            // The Go client's mock answers 202: any 2xx is taken.
            ("GET", "/v2/droplets?page=2") => (202, page_2.to_string()),
            _ => (404, r#"{"id": "not_found", "message": "The resource you were accessing could not be found."}"#.to_string()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: d, digitalocean_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn refresh(base: &str, config: &ScrapeConfig) -> Result<Vec<TargetGroup>, String> {
        let base = Url::parse(base).expect("the mock's URL");
        let sd = &config.jobs[0].digitalocean_sd[0];
        run(async {
            let mut client = net::client::HttpClient::new(base.host.clone(), base.port, None);
            ask_at(&mut client, sd, &base).await
        })
    }

    #[test]
    fn every_page_is_listed_with_the_token_and_each_droplet_is_a_target() {
        let (base, seen) = serve(paged_api);
        let groups = refresh(&base, &entry("{authorization: {credentials: dotoken}, port: 9100}")).expect("two pages");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["203.0.113.11:9100", "203.0.113.13:9100"]);
        assert_eq!(groups[0].labels.get("__meta_digitalocean_tags").map(String::as_str), Some(",web,"));
        assert_eq!(groups[1].labels.get("__meta_digitalocean_private_ipv4").map(String::as_str), Some("10.10.0.13"));
        assert_eq!(groups[1].labels.get("__meta_digitalocean_droplet_name").map(String::as_str), Some("db-1"));
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["/v2/droplets", "/v2/droplets?page=2"]);
        assert!(seen.iter().all(|s| s.method == "GET" && s.header("accept") == Some("application/json")), "{seen:?}");

        // bearer_token carries the token the same way.
        let (base, _) = serve(paged_api);
        assert_eq!(refresh(&base, &entry("{bearer_token: dotoken}")).expect("two pages").len(), 2);
    }

    /// Two pages of database clusters behind a token, then empty pages; the first page's
    /// links are not what ends the list.
    fn databases_api(request: &Seen) -> (u16, String) {
        if request.header("authorization") != Some("Bearer dotoken") {
            return (401, r#"{"id": "unauthorized", "message": "Unable to authenticate you"}"#.to_string());
        }
        match request.path.as_str() {
            "/v2/databases?page=1&per_page=100" => (200, r#"{"databases": [
                {"id": "db-1", "name": "pg-1", "engine": "pg", "version": "16", "status": "online", "region": "fra1", "size": "db-s-1vcpu-2gb", "num_nodes": 1,
                 "connection": {"host": "pg-1.db.ondigitalocean.com"}, "tags": ["prod"]}],
                "links": {"pages": {"next": "https://api.digitalocean.com/v2/databases?page=2"}}}"#.to_string()),
            "/v2/databases?page=2&per_page=100" => (200, r#"{"databases": [
                {"id": "db-2", "name": "my-1", "engine": "mysql", "num_nodes": 2, "connection": {"host": "public-db-host"}, "private_connection": {"host": "private-db-host"}},
                {"id": "db-3", "name": "creating", "engine": "redis"}]}"#.to_string()),
            "/v2/databases?page=3&per_page=100" => (200, r#"{"databases": []}"#.to_string()),
            "/v2/databases?page=4&per_page=100" => (500, r#"{"id": "server_error", "message": "must not be asked"}"#.to_string()),
            _ => (404, r#"{"id": "not_found", "message": "The resource you were accessing could not be found."}"#.to_string()),
        }
    }

    #[test]
    fn role_databases_lists_pages_until_an_empty_one_and_each_cluster_with_a_host_is_a_target() {
        let (base, seen) = serve(databases_api);
        let groups = refresh(&base, &entry("{role: databases, port: 9273, authorization: {credentials: dotoken}}")).expect("three pages");
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["pg-1.db.ondigitalocean.com:9273", "private-db-host:9273"], "the cluster without a host is no target");
        assert_eq!(groups[0].labels.get("__meta_digitalocean_db_tag_prod").map(String::as_str), Some("true"));
        assert_eq!(groups[1].labels.get("__meta_digitalocean_db_host").map(String::as_str), Some("public-db-host"));
        let paths: Vec<String> = seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default();
        assert_eq!(paths, ["/v2/databases?page=1&per_page=100", "/v2/databases?page=2&per_page=100", "/v2/databases?page=3&per_page=100"]);

        let (base, _) = serve(databases_api);
        let error = refresh(&base, &entry("{role: databases, bearer_token: wrong}")).expect_err("unauthorized");
        assert_eq!(error, format!("error while listing database clusters page 1: GET {base}/v2/databases?page=1&per_page=100: 401 Unable to authenticate you"));
    }

    #[test]
    fn a_refused_page_fails_the_refresh_in_the_go_clients_words() {
        let (base, seen) = serve(paged_api);
        let error = refresh(&base, &entry("{authorization: {credentials: wrong}}")).expect_err("unauthorized");
        assert_eq!(error, format!("error while listing droplets page 0: GET {base}/v2/droplets: 401 (request \"7e2c\") Unable to authenticate you"));
        assert_eq!(seen.lock().map(|s| s.len()).unwrap_or(0), 1, "no page after a failed one");
    }
}
