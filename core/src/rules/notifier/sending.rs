//! The sending tasks, all on executor 0: a supervisor that follows the discoveries and keeps
//! one send loop per Alertmanager queue; each loop posts its queue's alerts in batches as
//! Alertmanager's v2 JSON, and on shutdown drains its queue while its Alertmanager answers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use net::client::HttpClient;

use super::config::AlertmanagerSet;
use super::{wire, Alert, Notifier, QueueKey, BATCH_ALERTS_MAX};
use crate::scrape::config::Url;

/// How often the file_sd files are looked at (a `stat` each).
const DISCOVERY_CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// The largest answer read from an Alertmanager (its answer is not used).
const ANSWER_BYTES_MAX: usize = 64 << 10;
/// The largest answer to the GET a 301, 302 or 303 turns a post into (an Alertmanager
/// answers it with every alert it holds).
const GET_ANSWER_BYTES_MAX: usize = 16 << 20;

/// What woke a task.
enum Wake {
    Work,
    Tick,
    Shutdown,
    /// A send loop's queue was removed, or its loop forgotten by the supervisor.
    Gone,
}

/// What a send loop finds in its queue.
enum Next {
    /// A batch, its entry and the configuration's generation.
    Batch(Vec<Alert>, Arc<AlertmanagerSet>, u64),
    Empty,
    /// The Alertmanager is no longer found: the loop ends.
    Gone,
}

/// A running send loop: its queue's wake (a queue made anew under the same key has
/// another), how to ask it to drain and stop (dropped: stop at once), and its task.
struct SendLoop {
    woken: async_channel::Receiver<()>,
    stop: async_channel::Sender<()>,
    task: glommio::task::JoinHandle<()>,
}

impl Notifier {
    /// Keeps the send loops and the discoveries going until `shutdown` receives or closes,
    /// then lets every loop drain; a glommio task on executor 0. It reads the file_sd files
    /// (every `DISCOVERY_CHECK_INTERVAL`) and network discoveries' findings.
    pub async fn run(self: Arc<Self>, shutdown: async_channel::Receiver<()>) {
        let mut loops: HashMap<QueueKey, SendLoop> = HashMap::new();
        loop {
            self.refresh_discovery(crate::api::params::now_ms());
            self.start_new_loops(&mut loops);
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
            if matches!(wake, Wake::Shutdown) || !shutdown.is_empty() || shutdown.is_closed() {
                self.start_new_loops(&mut loops);
                for send_loop in loops.values() {
                    let _ = send_loop.stop.try_send(());
                }
                for (_, send_loop) in loops.drain() {
                    send_loop.task.await;
                }
                return;
            }
        }
    }

    /// Starts a loop for every queue that has none, and forgets (so ends) the loops of
    /// queues that are gone.
    fn start_new_loops(self: &Arc<Self>, loops: &mut HashMap<QueueKey, SendLoop>) {
        let queues: HashMap<QueueKey, async_channel::Receiver<()>> = self.lock().queues.iter().map(|(key, queue)| (key.clone(), queue.woken.clone())).collect();
        loops.retain(|key, send_loop| queues.get(key).is_some_and(|woken| woken.same_channel(&send_loop.woken)));
        for (key, woken) in queues {
            if loops.contains_key(&key) {
                continue;
            }
            let (stop, stopped) = async_channel::bounded(1);
            let task = glommio::spawn_local(self.clone().send_loop(key.clone(), woken.clone(), stopped)).detach();
            loops.insert(key, SendLoop { woken, stop, task });
        }
    }

    /// Posts the batches of the queue `key` (the one whose wake is `woken`) as they come,
    /// until the queue is gone or `stop` receives (then drains it) or closes. A batch holds at
    /// most `BATCH_ALERTS_MAX` alerts and is posted with its entry's timeout, HTTP client
    /// settings and redirects; a batch it could not post is counted dropped.
    async fn send_loop(self: Arc<Self>, key: QueueKey, woken: async_channel::Receiver<()>, stop: async_channel::Receiver<()>) {
        let mut client: Option<(u64, HttpClient)> = None;
        loop {
            loop {
                match self.next_batch(&key, &woken) {
                    Next::Batch(batch, set, generation) => {
                        self.post_batch(&key, batch, &set, generation, &mut client).await;
                    }
                    Next::Empty => break,
                    Next::Gone => return,
                }
                if !stop.is_empty() || stop.is_closed() {
                    break;
                }
            }
            let wake = futures_lite::future::or(
                async {
                    match woken.recv().await {
                        Ok(()) => Wake::Work,
                        Err(_) => Wake::Gone,
                    }
                },
                async {
                    match stop.recv().await {
                        Ok(()) => Wake::Shutdown,
                        Err(_) => Wake::Gone,
                    }
                },
            )
            .await;
            match wake {
                Wake::Work | Wake::Tick => {}
                Wake::Gone => return,
                Wake::Shutdown => {
                    self.drain(&key, &woken, &mut client).await;
                    return;
                }
            }
        }
    }

    /// Posts every batch the queue `key` holds, as Prometheus 3 drains its queues on shutdown
    /// by default (a refused batch counted dropped, the next one tried), but stops at a batch
    /// that ran out of the entry's timeout: an Alertmanager that does not answer would hold
    /// shutdown a timeout per batch. What is left then is counted dropped.
    async fn drain(&self, key: &QueueKey, woken: &async_channel::Receiver<()>, client: &mut Option<(u64, HttpClient)>) {
        while let Next::Batch(batch, set, generation) = self.next_batch(key, woken) {
            let started = Instant::now();
            if self.post_batch(key, batch, &set, generation, client).await || started.elapsed() < Duration::from_millis(set.timeout_ms.max(1) as u64) {
                continue;
            }
            let mut state = self.lock();
            let left = state.queues.get_mut(key).filter(|q| q.woken.same_channel(woken)).map_or(0, |q| q.alerts.drain(..).count());
            if left > 0 {
                state.counts.dropped += left as u64;
                drop(state);
                tracing::warn!(alertmanager = %key.1, count = left, "alert notification queue not drained on shutdown: the Alertmanager did not answer the last batch within its timeout");
            }
            return;
        }
    }

    /// Takes the next batch of the queue `key` whose wake is `woken`.
    fn next_batch(&self, key: &QueueKey, woken: &async_channel::Receiver<()>) -> Next {
        let mut state = self.lock();
        let generation = state.generation;
        let Some(set) = state.config.alertmanager_sets.get(key.0).cloned() else { return Next::Gone };
        let Some(queue) = state.queues.get_mut(key).filter(|q| q.woken.same_channel(woken)) else { return Next::Gone };
        let take = queue.alerts.len().min(BATCH_ALERTS_MAX);
        if take == 0 {
            return Next::Empty;
        }
        Next::Batch(queue.alerts.drain(..take).collect(), set, generation)
    }

    /// Posts `batch` to the Alertmanager of `key` and counts the outcome (a failed batch is
    /// dropped); the connection is kept for the next batch of the same configuration.
    /// Whether the Alertmanager took it.
    async fn post_batch(&self, key: &QueueKey, batch: Vec<Alert>, set: &Arc<AlertmanagerSet>, generation: u64, client: &mut Option<(u64, HttpClient)>) -> bool {
        let kept = client.take().filter(|(at, _)| *at == generation).map(|(_, c)| c);
        let body = wire::alerts_body(&batch);
        let (used, outcome) = post_alerts(set, &key.1, kept, &body).await;
        *client = used.map(|c| (generation, c));
        let count = batch.len();
        let mut state = self.lock();
        let taken = outcome.is_ok();
        match outcome {
            Ok(seconds) => {
                if let Some(counts) = state.counts.per_alertmanager.get_mut(&key.1) {
                    counts.sent += count as u64;
                    counts.observe_latency(seconds);
                }
            }
            Err(error) => {
                if let Some(counts) = state.counts.per_alertmanager.get_mut(&key.1) {
                    counts.errors += count as u64;
                }
                state.counts.dropped += count as u64;
                drop(state);
                tracing::warn!(alertmanager = %key.1, count, error = %error, "error sending alerts");
            }
        }
        taken
    }

    /// Reads again the file_sd files of the entries whose files changed or are due (done by
    /// the supervising task only; a reload meanwhile wins).
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
            state.follow_found_alertmanagers();
        }
    }
}

/// POSTs `body` to the Alertmanager at `url` within its entry's timeout, on `client` if one
/// is kept; the client to keep, and the seconds it took or why it failed (a status other
/// than 2xx fails, as in Prometheus).
async fn post_alerts(set: &AlertmanagerSet, url: &str, client: Option<HttpClient>, body: &[u8]) -> (Option<HttpClient>, Result<f64, String>) {
    let started = Instant::now();
    let location = match Url::parse(url) {
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
    let outcome = match post_following_redirects(set, &mut client, &location, body, timeout).await {
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
    use crate::scrape::http_get::{format_url, without_sensitive, RedirectChain};
    let started = Instant::now();
    let headers = request_headers(set, &client.host_header(), &first.path_and_query, Some(body), timeout).await?;
    let response = client.post(&first.path_and_query, &headers, body, timeout, ANSWER_BYTES_MAX).await.map_err(|e| format!("Post {:?}: {e}", format_url(first)))?;
    if !set.access.follow_redirects {
        return Ok(response);
    }
    let shown = format_url(first);
    let mut chain = RedirectChain::new(first, &shown, "Post", timeout, started);
    let (mut response, mut posting) = (response, true);
    while let Some(hop) = chain.next(&response)? {
        posting &= matches!(response.status, 307 | 308);
        let mut other;
        let hop_client = if hop.same_origin {
            &mut *client
        } else {
            other = set.access.client(&hop.url).map_err(|e| format!("Post {:?}: {e}", format_url(&hop.url)))?;
            &mut other
        };
        let mut headers = request_headers(set, &hop_client.host_header(), &hop.url.path_and_query, posting.then_some(body), hop.left).await?;
        if hop.crossed {
            // The signature is made anew for this hop; other credentials stay behind.
            headers = without_sensitive(headers, set.sigv4.is_some());
        }
        let sent = if posting { hop_client.post(&hop.url.path_and_query, &headers, body, hop.left, ANSWER_BYTES_MAX).await } else { hop_client.get(&hop.url.path_and_query, &headers, hop.left, GET_ANSWER_BYTES_MAX).await };
        // As Go's client words every failure: the first method, the URL that failed.
        response = sent.map_err(|e| format!("Post {:?}: {e}", format_url(&hop.url)))?;
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
