//! Targets from `linode_sd_configs`, as Prometheus' Linode discovery finds them: each instance
//! of the account with an IPv4 address is a target (`linode_sd::instances`). A failed request
//! fails the refresh, which keeps the last good targets. Executor 0 asks and puts the groups
//! in the shared `AskedGroups`, which every executor reads.

pub mod api;
pub mod config;
pub mod instances;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::de::DeserializeOwned;

use self::api::ApiError;
use self::config::LinodeSd;
use super::asked_groups::{ask_every, spawn_for_each, AskedGroups, Refreshed};
use super::config::{Scheme, ScrapeConfig, TargetGroup, Url};
use super::http_get::{self, Get};

/// The API's host: fixed for users (Prometheus has no key for it).
const API_HOST: &str = "api.linode.com";
/// The largest page read (500 instances of about 2 KiB each).
const BODY_BYTES_MAX: usize = 16 << 20;
/// Items a page of each list, as Prometheus asks.
const PAGE_SIZE: usize = 500;
/// Events asked for on the one page read of them, as Prometheus asks.
const EVENTS_PAGE_SIZE: usize = 25;
/// The most pages one list is read to (a million items): a bound on a count that never ends.
const PAGES_MAX: i64 = 2_000;
/// Quiet event polls after which everything is listed again anyway (changes made outside the
/// API, a shutdown from the console say, raise no event).
const QUIET_POLLS_MAX: u32 = 10;
/// Shown for the entry in logs.
const SHOWN: &str = "https://api.linode.com/v4/linode/instances";

/// Starts asking every linode_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.linode_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// The API's origin.
fn api_base() -> Url {
    Url { scheme: Scheme::Https, host: API_HOST.to_string(), port: 443, path_and_query: "/".to_string() }
}

/// An entry's connection to the API, and what its refreshes keep from one to the next to poll
/// the account's events instead of listing everything each time.
pub struct Session {
    client: net::client::HttpClient,
    /// The targets of the last full listing; none before the first.
    last_groups: Option<Vec<TargetGroup>>,
    /// When the last good refresh began (at first: when the entry started), in seconds since
    /// the epoch: events since then are asked for.
    last_refresh_s: i64,
    /// Event polls since the last full listing.
    polls: u32,
    /// Whether events are polled (not once the token proved unable to read them).
    events_polled: bool,
}

impl Session {
    fn new(client: net::client::HttpClient, now_s: i64) -> Self {
        Session { client, last_groups: None, last_refresh_s: now_s, polls: 0, events_polled: true }
    }
}

/// Seconds since the epoch now.
fn now_s() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &LinodeSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let client = match sd.access.client(&api_base()) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, %error, "linode_sd: its targets stay empty");
            return;
        }
    };
    let mut session = Session::new(client, now_s());
    let entry = Refreshed { mechanism: "linode_sd", job, shown: SHOWN, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut session, sd, |session, sd| Box::pin(ask(session, sd)), results, stopped).await;
}

/// One refresh against the real API.
async fn ask(session: &mut Session, sd: &LinodeSd) -> Result<Vec<TargetGroup>, String> {
    ask_at(session, sd, &api_base(), now_s()).await.map_err(|e| e.to_string())
}

/// One refresh against the API at `base` (its origin; the tests' mock) at `now_s`, as
/// Prometheus does it: the account's events since the last refresh when there were targets
/// already, then, when they say something changed (or after ten quiet polls), every list
/// again. A token that may not read events (401) turns event polling off.
async fn ask_at(session: &mut Session, sd: &LinodeSd, base: &Url, now_s: i64) -> Result<Vec<TargetGroup>, ApiError> {
    let mut list_again = true;
    if session.last_groups.is_some() && session.events_polled {
        let filter = format!(r#"{{"created": {{"+gte": "{}"}}}}"#, utc_seconds_text(session.last_refresh_s));
        match get_page::<serde::de::IgnoredAny>(&mut session.client, sd, base, "account/events", 1, EVENTS_PAGE_SIZE, Some(&filter)).await {
            // A token without the events:read_only scope: every refresh lists everything.
            Err(error) if error.code == 401 => session.events_polled = false,
            Err(error) => return Err(error),
            Ok(events) => {
                session.polls += 1;
                list_again = !events.data.is_empty() || session.polls >= QUIET_POLLS_MAX;
            }
        }
    }
    if list_again {
        let groups = list_everything(&mut session.client, sd, base).await?;
        session.polls = 0;
        session.last_groups = Some(groups);
    }
    session.last_refresh_s = now_s;
    Ok(session.last_groups.clone().unwrap_or_default())
}

/// The instances, addresses and IPv6 ranges (`GET https://api.linode.com/v4/linode/instances`,
/// `/v4/networking/ips`, `/v4/networking/ipv6/ranges`, each read page by page, 500 a page,
/// filtered on the entry's `region`, if any, with the API's `X-Filter` header), and their
/// groups.
async fn list_everything(client: &mut net::client::HttpClient, sd: &LinodeSd, base: &Url) -> Result<Vec<TargetGroup>, ApiError> {
    // The region filter as the API reads it (JSON, so a region is written as a JSON string).
    let filter = (!sd.region.is_empty()).then(|| format!(r#"{{"region": {}}}"#, serde_json::Value::from(sd.region.as_str())));
    let mut instances: Vec<instances::Instance> = get_list(client, sd, base, "linode/instances", filter.as_deref()).await?;
    let addresses: Vec<instances::IpAddress> = get_list(client, sd, base, "networking/ips", filter.as_deref()).await?;
    let ranges: Vec<instances::Ipv6Range> = get_list(client, sd, base, "networking/ipv6/ranges", filter.as_deref()).await?;
    instances::normalize_addresses(&mut instances).map_err(ApiError::other)?;
    Ok(instances::groups(&instances, &addresses, &ranges, sd.port, &sd.tag_separator))
}

/// Every page of the list at `/v4/<path>`, as the Go client reads them: page 1, then each
/// page up to the count the last one gave.
async fn get_list<T: DeserializeOwned>(client: &mut net::client::HttpClient, sd: &LinodeSd, base: &Url, path: &str, filter: Option<&str>) -> Result<Vec<T>, ApiError> {
    let mut found = Vec::new();
    let mut page_number = 1;
    loop {
        let page = get_page(client, sd, base, path, page_number, PAGE_SIZE, filter).await?;
        found.extend(page.data);
        if page_number >= page.pages {
            return Ok(found);
        }
        if page_number >= PAGES_MAX {
            return Err(ApiError::other(format!("more than {PAGES_MAX} pages of {path}")));
        }
        page_number += 1;
    }
}

/// GETs page `page_number` (`page_size` items) of the list at `/v4/<path>`, with the entry's
/// credentials (the API token as `authorization` or `bearer_token`) and the `X-Filter` header
/// when there is a filter, and reads it.
async fn get_page<T: DeserializeOwned>(client: &mut net::client::HttpClient, sd: &LinodeSd, base: &Url, path: &str, page_number: i64, page_size: usize, filter: Option<&str>) -> Result<api::Page<T>, ApiError> {
    let location = Url { path_and_query: format!("/v4/{path}?page={page_number}&page_size={page_size}"), ..base.clone() };
    let shown = http_get::format_url(&location);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers(api::JSON, None, timeout).await.map_err(ApiError::other)?;
    if let Some(filter) = filter {
        headers.push(("X-Filter".to_string(), filter.to_string()));
    }
    let get = Get { client, url: &location, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await.map_err(ApiError::other)?;
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    api::page(response.status, content_type, &response.body)
}

/// `s` seconds since the epoch as the API's UTC time (`2006-01-02T15:04:05`).
fn utc_seconds_text(s: i64) -> String {
    let (days, second_of_day) = (s.div_euclid(86_400), s.rem_euclid(86_400));
    let (year, month, day) = promql::format::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};
    use crate::scrape::linode_sd::instances::tests::{expected, ADDRESSES, INSTANCES, RANGES};

    const TOKEN: &str = "Bearer 7b2c56dd51edd90952c1b94c472b94b176f20c5c777e376849edd8ad1c6c03bb";

    /// `items` (a JSON list) filtered on the region the request's `X-Filter` names, if any.
    fn in_region(request: &Seen, items: &str) -> Vec<serde_json::Value> {
        let region = request.header("x-filter").and_then(|f| serde_json::from_str::<serde_json::Value>(f).ok()).and_then(|f| f["region"].as_str().map(str::to_string));
        let items: Vec<serde_json::Value> = serde_json::from_str(items).expect("valid");
        items.into_iter().filter(|i| region.as_deref().is_none_or(|r| i["region"] == r)).collect()
    }

    /// The account of Prometheus' tests behind its token: instances on two pages of two, the
    /// addresses and ranges on one page each, no events.
    fn account_api(request: &Seen) -> (u16, String) {
        if request.header("authorization") != Some(TOKEN) {
            return (401, String::new());
        }
        let one_page = |items: Vec<serde_json::Value>| (200, serde_json::json!({"data": items, "page": 1, "pages": 1, "results": items.len()}).to_string());
        let (path, query) = request.path.split_once('?').unwrap_or((request.path.as_str(), ""));
        match (path, query) {
            ("/v4/linode/instances", "page=1&page_size=500") | ("/v4/linode/instances", "page=2&page_size=500") => {
                let all = in_region(request, INSTANCES);
                let page = if query.starts_with("page=1") { 0 } else { 1 };
                let pages = all.len().div_ceil(2);
                let data: Vec<_> = all.into_iter().skip(page * 2).take(2).collect();
                (200, serde_json::json!({"data": data, "page": page + 1, "pages": pages}).to_string())
            }
            ("/v4/networking/ips", "page=1&page_size=500") => one_page(in_region(request, ADDRESSES)),
            ("/v4/networking/ipv6/ranges", "page=1&page_size=500") => one_page(in_region(request, RANGES)),
            ("/v4/account/events", "page=1&page_size=25") => one_page(Vec::new()),
            _ => (404, r#"{"errors": [{"reason": "Not found"}]}"#.to_string()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: l, linode_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    /// Refreshes the entry of `config` against `base` once at each of `times` (seconds since
    /// the epoch) with one session that started at 0.
    fn refreshes(base: &str, config: &ScrapeConfig, times: &[i64]) -> Vec<Result<Vec<TargetGroup>, String>> {
        let base = Url::parse(base).expect("the mock's URL");
        let sd = &config.jobs[0].linode_sd[0];
        run(async {
            let mut session = Session::new(net::client::HttpClient::new(base.host.clone(), base.port, None), 0);
            let mut answers = Vec::new();
            for &now in times {
                answers.push(ask_at(&mut session, sd, &base, now).await.map_err(|e| e.to_string()));
            }
            answers
        })
    }

    fn paths(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<String> {
        seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default()
    }

    #[test]
    fn every_page_of_every_list_is_read_and_each_instance_is_a_target() {
        let token = TOKEN.trim_start_matches("Bearer ");
        // Prometheus' three cases: no region, us-east (two instances), ca-central (one).
        for (region, instances) in [("", vec![1, 2, 3, 4]), ("us-east", vec![1, 4]), ("ca-central", vec![3])] {
            let (base, seen) = serve(account_api);
            let config = entry(&format!("{{authorization: {{credentials: {token}}}, region: '{region}'}}"));
            let groups = refreshes(&base, &config, &[60]).remove(0).expect("listed");
            let labels: Vec<_> = groups.iter().map(|g| g.labels.clone()).collect();
            assert_eq!(labels, instances.iter().map(|&i| expected(i)).collect::<Vec<_>>(), "region {region:?}");
            assert!(groups.iter().all(|g| g.targets[0].ends_with(":80")));
            let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
            let filter = if region.is_empty() { None } else { Some(format!(r#"{{"region": "{region}"}}"#)) };
            assert!(seen.iter().all(|s| s.method == "GET" && s.header("accept") == Some("application/json") && s.header("x-filter").map(str::to_string) == filter), "{seen:?}");
            let pages = if instances.len() > 2 { 2 } else { 1 };
            assert_eq!(seen.iter().filter(|s| s.path.starts_with("/v4/linode/instances")).count(), pages, "{seen:?}");
        }
    }

    #[test]
    fn events_are_polled_between_listings_as_prometheus_polls_them() {
        let (base, seen) = serve(account_api);
        let config = entry("{bearer_token: 7b2c56dd51edd90952c1b94c472b94b176f20c5c777e376849edd8ad1c6c03bb, port: 9100}");
        // 61 s, then every minute: the first lists, nine quiet polls do not, the tenth does.
        let times: Vec<i64> = (1..=12).map(|i| i * 60 + 1).collect();
        let answers = refreshes(&base, &config, &times);
        assert!(answers.iter().all(|a| a.as_ref().map(|g| g.len() == 4 && g[0].targets == ["45.33.82.151:9100"]).unwrap_or(false)), "{answers:?}");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let events: Vec<&Seen> = seen.iter().filter(|s| s.path.starts_with("/v4/account/events")).collect();
        // Each asks for the events since the refresh before (the first: since the first listing).
        assert_eq!(events[0].header("x-filter"), Some(r#"{"created": {"+gte": "1970-01-01T00:01:01"}}"#));
        assert_eq!(events[1].header("x-filter"), Some(r#"{"created": {"+gte": "1970-01-01T00:02:01"}}"#));
        let listing = ["/v4/linode/instances?page=1&page_size=500", "/v4/linode/instances?page=2&page_size=500", "/v4/networking/ips?page=1&page_size=500", "/v4/networking/ipv6/ranges?page=1&page_size=500"];
        let poll = "/v4/account/events?page=1&page_size=25";
        let mut want = listing.to_vec();
        want.extend([poll; 10]);
        want.extend(listing);
        want.push(poll);
        assert_eq!(seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(), want);
    }

    /// As `account_api`, but the account has events and the token may not read them.
    fn events_refused(request: &Seen) -> (u16, String) {
        if request.path.starts_with("/v4/account/events") {
            return (401, r#"{"errors": [{"reason": "Your OAuth token is not authorized to use this endpoint."}]}"#.to_string());
        }
        account_api(request)
    }

    #[test]
    fn a_token_that_may_not_read_events_lists_everything_every_time() {
        let (base, seen) = serve(events_refused);
        let config = entry("{bearer_token: 7b2c56dd51edd90952c1b94c472b94b176f20c5c777e376849edd8ad1c6c03bb}");
        let answers = refreshes(&base, &config, &[60, 120, 180]);
        assert!(answers.iter().all(|a| a.as_ref().map(Vec::len) == Ok(4)), "{answers:?}");
        let paths = paths(&seen);
        assert_eq!(paths.iter().filter(|p| p.starts_with("/v4/account/events")).count(), 1, "asked once: {paths:?}");
        assert_eq!(paths.iter().filter(|p| p.starts_with("/v4/networking/ipv6/ranges")).count(), 3, "{paths:?}");
    }

    #[test]
    fn a_refused_list_fails_the_refresh_in_the_go_clients_words() {
        let (base, seen) = serve(account_api);
        let answers = refreshes(&base, &entry("{bearer_token: wrong}"), &[60]);
        // The mock, as Prometheus' own, answers 401 with neither a body nor a content type.
        assert_eq!(answers[0], Err("[401] Unexpected Content-Type: Expected: application/json, Received: \nResponse body: ".to_string()));
        assert_eq!(paths(&seen), ["/v4/linode/instances?page=1&page_size=500"], "nothing after a failed list");

        // A failure to connect is the Go client's code 2.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
        let answers = refreshes(&format!("http://{closed}"), &entry("{bearer_token: t}"), &[60]);
        let error = answers[0].as_ref().expect_err("refused");
        assert!(error.starts_with(&format!("[002] Get \"http://{closed}/v4/linode/instances?page=1&page_size=500\": ")), "{error}");
    }

    #[test]
    fn times_are_written_as_the_api_reads_them() {
        assert_eq!(utc_seconds_text(0), "1970-01-01T00:00:00");
        assert_eq!(utc_seconds_text(1_620_793_424), "2021-05-12T04:23:44");
        assert_eq!(utc_seconds_text(1_709_251_199), "2024-02-29T23:59:59");
    }
}
