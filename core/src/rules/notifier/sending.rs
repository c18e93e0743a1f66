//! The sending task (one, on executor 0): it takes batches of at most `BATCH_ALERTS_MAX`
//! alerts from the queue and posts each, as Alertmanager's v2 JSON, to every active
//! Alertmanager at once (each entry's own `alert_relabel_configs`, timeout, HTTP client
//! settings and redirects); a batch no Alertmanager took is counted dropped. File_sd files
//! are checked every `DISCOVERY_CHECK_INTERVAL` and before each round; on shutdown the queue
//! is drained while some Alertmanager still takes alerts.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::client::HttpClient;

use super::config::AlertmanagerSet;
use super::{relabel_alerts, wire, Alert, Notifier, BATCH_ALERTS_MAX};
use crate::scrape::config::Url;

/// How often the file_sd files are looked at (a `stat` each) between rounds.
const DISCOVERY_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// The largest answer read from an Alertmanager (its answer is not used).
const ANSWER_BYTES_MAX: usize = 64 << 10;
/// The largest answer to the GET a 301, 302 or 303 turns a post into (an Alertmanager
/// answers it with every alert it holds).
const GET_ANSWER_BYTES_MAX: usize = 16 << 20;

/// What woke the sending task.
enum Wake {
    Work,
    Tick,
    Shutdown,
}

/// What one round sends: the batch, and each entry with its active Alertmanagers.
struct Round {
    batch: Vec<Alert>,
    targets: Vec<(Arc<AlertmanagerSet>, Vec<String>)>,
    generation: u64,
}

impl Notifier {
    /// Sends queued alerts until `shutdown` receives or closes; a glommio task on executor 0.
    pub async fn run(self: Arc<Self>, shutdown: async_channel::Receiver<()>) {
        let mut clients = Clients::default();
        loop {
            self.refresh_discovery(crate::api::params::now_ms());
            while self.queued() > 0 && shutdown.is_empty() && !shutdown.is_closed() {
                self.send_round(&mut clients).await;
                self.refresh_discovery(crate::api::params::now_ms());
            }
            let wake = futures_lite::future::or(
                async {
                    match self.work_receiver.recv().await {
                        Ok(()) => Wake::Work,
                        Err(_) => Wake::Shutdown,
                    }
                },
                futures_lite::future::or(
                    async {
                        glommio::timer::sleep(DISCOVERY_CHECK_INTERVAL).await;
                        Wake::Tick
                    },
                    async {
                        let _ = shutdown.recv().await;
                        Wake::Shutdown
                    },
                ),
            )
            .await;
            let stopping = matches!(wake, Wake::Shutdown) || !shutdown.is_empty() || shutdown.is_closed();
            if stopping {
                self.drain(&mut clients).await;
                return;
            }
        }
    }

    /// Sends what is queued while rounds succeed somewhere (Prometheus 3 drains its queue on
    /// shutdown by default); what is left stays unsent.
    async fn drain(&self, clients: &mut Clients) {
        while self.queued() > 0 {
            if !self.send_round(clients).await {
                tracing::warn!(count = self.queued(), "alert notification queue not drained on shutdown: no Alertmanager took the last batch");
                return;
            }
        }
    }

    fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// Reads again the file_sd files of the entries whose files changed or are due (done by
    /// the sending task only; a reload meanwhile wins).
    pub(super) fn refresh_discovery(&self, now_ms: i64) {
        let (generation, config, mut file_sd, asked, asked_version) = {
            let mut state = self.lock();
            (state.generation, state.config.clone(), std::mem::take(&mut state.file_sd), state.asked.clone(), state.asked_version)
        };
        // Network discoveries found something new: every entry with them looks again.
        let asked_now = asked.as_ref().map_or(0, |a| a.version());
        let found: Vec<_> = config
            .alertmanager_sets
            .iter()
            .zip(file_sd.iter_mut())
            .map(|(set, files)| (files.stale(set, now_ms) || (set.discovery.is_some() && asked_now != asked_version)).then(|| files.find(set, now_ms, &super::network_groups(set, asked.as_deref()))))
            .collect();
        let mut state = self.lock();
        if state.generation != generation {
            return;
        }
        state.asked_version = asked_now;
        state.file_sd = file_sd;
        let mut changed = false;
        for (i, found) in found.into_iter().enumerate() {
            if let (Some(found), Some(slot)) = (found, state.found.get_mut(i)) {
                changed |= *slot != found;
                *slot = found;
            }
        }
        if changed {
            state.forget_vanished_alertmanagers();
        }
    }

    /// Takes the next batch and the Alertmanagers to send it to.
    fn next_round(&self) -> Round {
        let mut state = self.lock();
        let take = state.queue.len().min(BATCH_ALERTS_MAX);
        let batch: Vec<Alert> = state.queue.drain(..take).collect();
        let targets = state.config.alertmanager_sets.iter().zip(&state.found).map(|(set, found)| (set.clone(), found.active.clone())).collect();
        Round { batch, targets, generation: state.generation }
    }

    /// Sends one batch to every active Alertmanager at once and counts the outcome; true
    /// when some Alertmanager took it (or there was nothing to send).
    async fn send_round(&self, clients: &mut Clients) -> bool {
        let round = self.next_round();
        if round.batch.is_empty() {
            return true;
        }
        clients.keep_generation(round.generation);
        let mut posts = Vec::new();
        for (set, urls) in &round.targets {
            if urls.is_empty() {
                continue;
            }
            let alerts = relabel_alerts(&set.alert_relabeler, &BTreeMap::new(), round.batch.clone());
            if alerts.is_empty() {
                continue;
            }
            let body = Rc::new(wire::alerts_body(&alerts));
            for url in urls {
                let post = post_alerts(set.clone(), url.clone(), clients.take(url), body.clone());
                posts.push((url.clone(), alerts.len(), glommio::spawn_local(post)));
            }
        }
        let mut taken = false;
        for (url, count, post) in posts {
            let (client, outcome) = post.await;
            clients.put(url.clone(), client);
            let mut state = self.lock();
            let counts = state.counts.per_alertmanager.entry(url.clone()).or_default();
            match outcome {
                Ok(seconds) => {
                    taken = true;
                    counts.sent += count as u64;
                    counts.latency_seconds_sum += seconds;
                    counts.latency_count += 1;
                }
                Err(error) => {
                    counts.errors += count as u64;
                    drop(state);
                    tracing::warn!(alertmanager = %url, count, error = %error, "error sending alerts");
                }
            }
        }
        if !taken {
            self.lock().counts.dropped += round.batch.len() as u64;
        }
        taken
    }
}

/// The sending task's connections, one per Alertmanager URL, kept alive between rounds and
/// dropped when the configuration changes.
#[derive(Default)]
struct Clients {
    generation: u64,
    by_url: HashMap<String, HttpClient>,
}

impl Clients {
    fn keep_generation(&mut self, generation: u64) {
        if self.generation != generation {
            self.by_url.clear();
            self.generation = generation;
        }
    }

    fn take(&mut self, url: &str) -> Option<HttpClient> {
        self.by_url.remove(url)
    }

    fn put(&mut self, url: String, client: Option<HttpClient>) {
        if let Some(client) = client {
            self.by_url.insert(url, client);
        }
    }
}

/// POSTs `body` to the Alertmanager at `url` within its entry's timeout, on `client` if one
/// is kept; the client to keep, and the seconds it took or why it failed (a status other
/// than 2xx fails, as in Prometheus).
async fn post_alerts(set: Arc<AlertmanagerSet>, url: String, client: Option<HttpClient>, body: Rc<Vec<u8>>) -> (Option<HttpClient>, Result<f64, String>) {
    let started = Instant::now();
    let location = match Url::parse(&url) {
        Ok(location) => location,
        Err(error) => return (None, Err(error)),
    };
    let mut client = match client {
        Some(client) => client,
        None => match set.access.client(&location) {
            Ok(client) => client,
            Err(error) => return (None, Err(error)),
        },
    };
    let timeout = Duration::from_millis(set.timeout_ms.max(1) as u64);
    let outcome = match post_following_redirects(&set, &mut client, &location, &body, timeout).await {
        Ok(answer) if answer.status / 100 == 2 => Ok(started.elapsed().as_secs_f64()),
        Ok(answer) => Err(format!("bad response status {}", crate::scrape::http_get::status_error(answer.status).trim_start_matches("server returned HTTP status "))),
        Err(error) => Err(error),
    };
    (Some(client), outcome)
}

/// The last answer to the post of `body` to `first`, after the redirects Go's HTTP client
/// follows when `follow_redirects` is set (Prometheus' default): 307 and 308 post the body
/// again, 301, 302 and 303 turn the post into a GET without it (whose 2xx Prometheus counts
/// as sent); at most 10, all within `timeout`. Each hop gets the entry's headers (credentials
/// left out once the chain leaves the first host, as `scrape::http_get` does) and its own
/// `sigv4` signature.
async fn post_following_redirects(set: &AlertmanagerSet, client: &mut HttpClient, first: &Url, body: &[u8], timeout: Duration) -> Result<net::client::Response, String> {
    use crate::scrape::http_get::{domain_or_subdomain, format_url, redirect_location, resolve, REDIRECTS_MAX, SENSITIVE_ON_REDIRECT};
    let started = Instant::now();
    let headers = request_headers(set, &client.host_header(), &first.path_and_query, Some(body), timeout).await?;
    let mut response = client.post(&first.path_and_query, &headers, body, timeout, ANSWER_BYTES_MAX).await.map_err(|e| format!("Post {:?}: {e}", format_url(first)))?;
    let (mut current, mut posting, mut crossed) = (first.clone(), true, false);
    for redirects in 1.. {
        let Some(location) = redirect_location(&response).filter(|_| set.access.follow_redirects) else { break };
        let next = resolve(&current, &location).map_err(|e| format!("Post {:?}: redirect: {e}", format_url(first)))?;
        if redirects >= REDIRECTS_MAX {
            return Err(format!("Post {:?}: stopped after {REDIRECTS_MAX} redirects", format_url(&next)));
        }
        posting &= matches!(response.status, 307 | 308);
        let left = timeout.checked_sub(started.elapsed()).filter(|d| !d.is_zero()).ok_or_else(|| format!("Post {:?}: timeout after {timeout:?} while following redirects", format_url(&next)))?;
        crossed |= !domain_or_subdomain(&next.host.to_ascii_lowercase(), &first.host.to_ascii_lowercase());
        let same_origin = next.scheme == first.scheme && next.host == first.host && next.port == first.port;
        let mut other;
        let hop_client = if same_origin {
            &mut *client
        } else {
            other = set.access.client(&next).map_err(|e| format!("Post {:?}: {e}", format_url(&next)))?;
            &mut other
        };
        let mut headers = request_headers(set, &hop_client.host_header(), &next.path_and_query, posting.then_some(body), left).await?;
        if crossed {
            // The signature is made anew for the hop below; other credentials stay behind.
            let signed = set.sigv4.is_some();
            headers.retain(|(name, _)| (signed && name == "Authorization") || !SENSITIVE_ON_REDIRECT.iter().any(|s| name.eq_ignore_ascii_case(s)));
        }
        let sent = if posting { hop_client.post(&next.path_and_query, &headers, body, left, ANSWER_BYTES_MAX).await } else { hop_client.get(&next.path_and_query, &headers, left, GET_ANSWER_BYTES_MAX).await };
        // As Go's client words every failure: the first method, the URL that failed.
        response = sent.map_err(|e| format!("Post {:?}: {e}", format_url(&next)))?;
        current = next;
    }
    Ok(response)
}

/// The headers of a request to `host` (as sent) at `path_and_query`, a post of `body` or a
/// GET (`None`, after a redirect): ours, the entry's `sigv4` signature or credentials (an
/// OAuth2 token asked within `timeout` if none is cached), and its `http_headers`. As in
/// Prometheus, where signing wraps the HTTP client, `User-Agent` and `http_headers` are not
/// signed.
async fn request_headers(set: &AlertmanagerSet, host: &str, path_and_query: &str, body: Option<&[u8]>, timeout: Duration) -> Result<Vec<(String, String)>, String> {
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(signer) = &set.sigv4 {
        let method = if body.is_some() { "POST" } else { "GET" };
        let signed = signer.sign(method, host, path_and_query, &headers, body.unwrap_or_default(), crate::api::params::now_ms()).await?;
        headers.extend(signed);
    }
    headers.push(("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))));
    if let Some(value) = set.access.credentials.header(timeout).await? {
        headers.push(("Authorization".to_string(), value));
    }
    headers.extend(set.access.headers.values()?);
    Ok(headers)
}
