//! Targets from `eureka_sd_configs`, as Prometheus' Eureka discovery finds them: a GET of
//! `<server>/apps`, whose XML list of applications (`eureka_sd::apps`) becomes one target per
//! instance with Prometheus' `__meta_eureka_*` labels. A failed request or a bad answer keeps
//! the last good targets and is logged when the error changes. Executor 0 asks; the groups go
//! in the shared `AskedGroups` (the source is the entry's server and position).

pub mod apps;
pub mod config;

use std::sync::Arc;
use std::time::Duration;

use self::config::EurekaSd;
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::config::{ScrapeConfig, TargetGroup};
use super::http_get::{self, Get};

/// The largest answer read (tens of thousands of instances fit).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts asking every eureka_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.eureka_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 30 s by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &EurekaSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "eureka_sd", job, shown: &sd.server, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.apps, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One GET of `<server>/apps` and its groups, or why there are none (Prometheus' words). As
/// Prometheus, no `Accept` header is sent (Eureka answers XML then) and any 2xx is taken.
async fn ask(client: &mut net::client::HttpClient, sd: &EurekaSd) -> Result<Vec<TargetGroup>, String> {
    let shown = format!("{}/apps", sd.server);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("", None, timeout).await?;
    // Prometheus sends no Accept (Eureka then answers XML).
    headers.retain(|(name, _)| name != "Accept");
    let get = Get { client, url: &sd.apps, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if response.status / 100 != 2 {
        return Err(format!("non 2xx status '{}' response during eureka service discovery", response.status));
    }
    let text = std::str::from_utf8(&response.body).map_err(|e| format!("{shown:?}: {e}"))?;
    apps::groups(text).map_err(|e| format!("{shown:?}: {e}"))
}
