//! Targets from `kuma_sd_configs`, as Prometheus' Kuma discovery finds them: xDS v3
//! REST-JSON long polling of the control plane's monitoring assignment discovery service
//! (`kuma_sd::mads`). A failed request keeps the last good targets and is logged when the
//! error changes. Executor 0 asks and puts the groups in the shared `AskedGroups`.

pub mod config;
pub mod mads;

use std::sync::Arc;
use std::time::{Duration, Instant};

use self::config::KumaSd;
use super::asked_groups::{sleep_unless_stopped, spawn_for_each, unless_stopped, AskedGroups, ErrorLog};
use super::config::{ScrapeConfig, TargetGroup};
use super::http_get;

/// The largest answer read (every assignment of a large mesh at once).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts asking every kuma_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.kuma_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// What the client keeps from the last 200 answer and sends back: its version and nonce.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Versions {
    version_info: String,
    nonce: String,
}

/// Asks `sd` now and then on Prometheus' schedule until `stopped` closes: one request every
/// `refresh_interval` (15 s), the next at once when a request outlasted it (`Ticker`).
async fn refresh_loop(job: &str, sd: &KumaSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let mut client = match sd.access.client(&sd.endpoint) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, server = %sd.shown, %error, "kuma_sd: its targets stay empty");
            return;
        }
    };
    let mut versions = Versions::default();
    let mut errors = ErrorLog::default();
    let mut ticker = Ticker::new(Instant::now(), Duration::from_millis(sd.refresh_ms as u64));
    loop {
        let Some(answer) = unless_stopped(fetch(&mut client, sd, &mut versions), stopped).await else { return };
        results.note_refresh("kuma", job, answer.is_err(), None);
        match answer {
            Ok(changed) => {
                if errors.answered() {
                    tracing::info!(job, mechanism = "kuma_sd", source = %sd.shown, "discovery answers again");
                }
                if let Some(groups) = changed {
                    tracing::debug!(job, version = %versions.version_info, targets = groups.len(), "kuma_sd: updated to version");
                    results.store(job, &sd.source, groups.into_iter().map(Arc::new).collect());
                }
            }
            Err(error) => {
                if errors.failed(&error) {
                    tracing::warn!(job, mechanism = "kuma_sd", source = %sd.shown, %error, "discovery request failed; its last good targets are kept");
                }
            }
        }
        if !sleep_unless_stopped(ticker.wait(Instant::now()), stopped).await {
            return;
        }
    }
}

/// Go's ticker as Prometheus' loop reads it: ticks every `period` from `start`; a tick that
/// came while a request ran is taken at once, the ones after it are dropped.
#[derive(Debug)]
struct Ticker {
    start: Instant,
    period: Duration,
    /// When the last tick was taken (the start before any).
    taken: Instant,
}

impl Ticker {
    fn new(start: Instant, period: Duration) -> Ticker {
        debug_assert!(!period.is_zero(), "refresh_interval is checked to be positive");
        Ticker { start, period, taken: start }
    }

    /// How long to wait at `now` (a request just ended) for the next tick.
    fn wait(&mut self, now: Instant) -> Duration {
        let period_ns = self.period.as_nanos().max(1);
        let ticks = (self.taken.saturating_duration_since(self.start).as_nanos() / period_ns + 1) as u32;
        let next = self.start + self.period * ticks;
        if next <= now {
            self.taken = now;
            Duration::ZERO
        } else {
            self.taken = next;
            next - now
        }
    }
}

/// One discovery request (`POST <server>/v3/discovery:monitoringassignments?fetch-timeout=2m`,
/// a `DiscoveryRequest` in protobuf JSON with the last answer's `version_info` and nonce),
/// which the server holds up to `fetch_timeout`: the groups of a 200 answer, with every
/// assignment, whose targets replace the last ones (its version and nonce kept in `versions`
/// for the next request, even when its resources cannot be read, as Prometheus keeps them),
/// None for a 304 (nothing changed; the targets are kept), or why there is none. Unlike
/// Prometheus, a redirect is not followed (it is a failed request naming its status).
async fn fetch(client: &mut net::client::HttpClient, sd: &KumaSd, versions: &mut Versions) -> Result<Option<Vec<TargetGroup>>, String> {
    let timeout = sd.request_timeout();
    let mut headers = sd.access.request_headers("application/json", None, timeout).await?;
    headers.insert(2, ("Content-Type".to_string(), "application/json".to_string()));
    let body = mads::request_body(&sd.client_id, &versions.version_info, &versions.nonce);
    let response = client.post(&sd.endpoint.path_and_query, &headers, body.as_bytes(), timeout, BODY_BYTES_MAX).await.map_err(|e| match e {
        net::client::ClientError::BodyTooLarge { .. } => format!("Post {:?}: {}", sd.shown, http_get::BODY_SIZE_LIMIT_EXCEEDED),
        other => format!("Post {:?}: {other}", sd.shown),
    })?;
    match response.status {
        304 => return Ok(None),
        200 => {}
        status => return Err(format!("non 200 status '{status}' response during xDS fetch")),
    }
    let answer = mads::response(&response.body)?;
    versions.version_info.clone_from(&answer.version_info);
    versions.nonce.clone_from(&answer.nonce);
    mads::groups(&answer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    /// A MADS server as Prometheus' tests run it: every assignment at version 1, nonce abc,
    /// unless the request already has version 1 (304); only POSTs of protobuf JSON from
    /// client test-id asking for assignments are answered.
    fn mads_server(request: &Seen) -> (u16, String) {
        let Ok(asked) = serde_json::from_str::<serde_json::Value>(&request.body) else { return (400, "not JSON".into()) };
        if request.method != "POST" || request.header("content-type") != Some("application/json") || request.header("accept") != Some("application/json") {
            return (415, String::new());
        }
        if asked["node"]["id"] != "test-id" || asked["type_url"] != mads::RESOURCE_TYPE_URL {
            return (400, String::new());
        }
        if asked["version_info"] == "1" {
            return (304, String::new());
        }
        (200, mads::tests::ANSWER.to_string())
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: k, kuma_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    /// What one `fetch` gives.
    type Fetched = Result<Option<Vec<TargetGroup>>, String>;

    /// `fetch` `times` times in a row against the entry's server, one client and versions.
    fn fetch_in_a_row(config: &ScrapeConfig, times: usize) -> (Vec<Fetched>, Versions) {
        let sd = &config.jobs[0].kuma_sd[0];
        run(async {
            let mut client = sd.access.client(&sd.endpoint).expect("a plain http client");
            let mut versions = Versions::default();
            let mut answers = Vec::new();
            for _ in 0..times {
                answers.push(fetch(&mut client, sd, &mut versions).await);
            }
            (answers, versions)
        })
    }

    fn seen_requests(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<Seen> {
        seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    #[test]
    fn the_first_answer_gives_prometheus_targets_and_the_next_is_not_modified() {
        // TestKumaHTTPDiscoveryRefresh and TestHTTPResourceClientFetchFullResponse.
        let (base, seen) = serve(mads_server);
        let config = entry(&format!("{{server: '{base}', client_id: test-id, refresh_interval: 10s}}"));
        let (answers, versions) = fetch_in_a_row(&config, 2);
        assert_eq!(answers[0], Ok(Some(mads::tests::expected_groups())));
        assert_eq!(answers[1], Ok(None), "no update expected");
        assert_eq!(versions, Versions { version_info: "1".into(), nonce: "abc".into() }, "the version and nonce are kept");
        let seen = seen_requests(&seen);
        assert!(seen.iter().all(|s| s.path == "/v3/discovery:monitoringassignments?fetch-timeout=2m"), "{seen:?}");
        assert_eq!(seen[0].body, r#"{"node":{"id":"test-id"},"type_url":"type.googleapis.com/kuma.observability.v1.MonitoringAssignment"}"#);
        assert_eq!(seen[1].body, r#"{"version_info":"1","node":{"id":"test-id"},"type_url":"type.googleapis.com/kuma.observability.v1.MonitoringAssignment","response_nonce":"abc"}"#);
        assert!(seen[0].header("user-agent").is_some_and(|a| a.starts_with("Metricstor/")), "{seen:?}");
    }

    #[test]
    fn empty_metrics_paths_and_schemes_take_the_jobs() {
        let (base, _) = serve(mads_server);
        let config = entry(&format!("{{server: '{base}', client_id: test-id}}"));
        let (answers, _) = fetch_in_a_row(&config, 1);
        let groups: Vec<Arc<TargetGroup>> = answers[0].clone().expect("answered").unwrap_or_default().into_iter().map(Arc::new).collect();
        let job = config.jobs[0].clone();
        let urls: Vec<String> = crate::scrape::discovery::targets(&job, &groups)
            .into_iter()
            .filter_map(|d| match d {
                crate::scrape::discovery::Discovered::Active(t) => Some(format!("{} {:?}", t.url, t.labels)),
                _ => None,
            })
            .collect();
        assert_eq!(urls.len(), 3, "{urls:?}");
        assert!(urls[0].starts_with("http://10.1.4.32:9090/custom-metrics [(\"instance\", \"prometheus-01\")"), "{urls:?}");
        assert!(urls[1].starts_with("http://10.1.4.33:9090/metrics "), "{urls:?}");
        assert!(urls[2].starts_with("http://10.1.1.1/metrics "), "{urls:?}");
    }

    fn failing_server(request: &Seen) -> (u16, String) {
        if request.body.contains("version_info") {
            return (500, "must not be asked with a version".into());
        }
        if request.path.contains("wrong-type") {
            return (200, r#"{"version_info": "3", "nonce": "n3", "type_url": "type.googleapis.com/some.api.v1.Monitoring", "resources": []}"#.into());
        }
        if request.path.starts_with("/moved") {
            return (307, String::new());
        }
        (500, "server error".into())
    }

    #[test]
    fn failed_requests_name_their_cause_in_prometheus_words() {
        // TestHTTPResourceClientServerError: the versions stay as they were.
        let (base, _) = serve(failing_server);
        let (answers, versions) = fetch_in_a_row(&entry(&format!("{{server: '{base}'}}")), 2);
        assert_eq!(answers, [Err("non 200 status '500' response during xDS fetch".to_string()), Err("non 200 status '500' response during xDS fetch".to_string())]);
        assert_eq!(versions, Versions::default());
        let (answers, _) = fetch_in_a_row(&entry(&format!("{{server: '{base}/moved'}}")), 1);
        assert_eq!(answers, [Err("non 200 status '307' response during xDS fetch".to_string())], "a redirect is not followed");

        // An answer of another type is refused, but its version is kept, as Prometheus keeps it.
        let (answers, versions) = fetch_in_a_row(&entry(&format!("{{server: '{base}/wrong-type'}}")), 1);
        assert_eq!(answers, [Err("received invalid typeURL for Kuma MADS v1 Resource: type.googleapis.com/some.api.v1.Monitoring".to_string())]);
        assert_eq!(versions, Versions { version_info: "3".into(), nonce: "n3".into() });

        // Nothing listens on a port just freed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let (answers, _) = fetch_in_a_row(&entry(&format!("{{server: 'http://127.0.0.1:{port}'}}")), 1);
        let error = answers[0].clone().expect_err("refused");
        assert!(error.starts_with(&format!("Post \"http://127.0.0.1:{port}/v3/discovery:monitoringassignments?fetch-timeout=2m\": ")), "{error}");
    }

    #[test]
    fn requests_carry_the_entry_credentials() {
        fn needs_token(request: &Seen) -> (u16, String) {
            match request.header("authorization") {
                Some("Bearer kumatoken") => (200, r#"{"type_url": "type.googleapis.com/kuma.observability.v1.MonitoringAssignment"}"#.into()),
                _ => (401, String::new()),
            }
        }
        let (base, _) = serve(needs_token);
        let (answers, _) = fetch_in_a_row(&entry(&format!("{{server: '{base}', authorization: {{credentials: kumatoken}}}}")), 1);
        assert_eq!(answers, [Ok(Some(vec![]))]);
        let (answers, _) = fetch_in_a_row(&entry(&format!("{{server: '{base}'}}")), 1);
        assert_eq!(answers, [Err("non 200 status '401' response during xDS fetch".to_string())]);
    }

    #[test]
    fn requests_follow_prometheus_ticker() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut ticker = Ticker::new(start, 10 * second);
        // A quick answer waits for the next tick.
        assert_eq!(ticker.wait(start + second), 9 * second);
        // A long poll past a tick goes again at once, and past several ticks only once.
        assert_eq!(ticker.wait(start + 25 * second), Duration::ZERO);
        assert_eq!(ticker.wait(start + 26 * second), 4 * second, "the tick at 20 s was taken; the next is at 30 s");
        assert_eq!(ticker.wait(start + 30 * second), 10 * second, "the tick at 30 s was taken when the wait ended");
        assert_eq!(ticker.wait(start + 95 * second), Duration::ZERO);
        assert_eq!(ticker.wait(start + 95 * second), 5 * second);
    }
}
