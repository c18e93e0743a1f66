//! Targets from `serverset_sd_configs` and `nerve_sd_configs`, as Prometheus' ZooKeeper
//! discoveries find them: every node under each path is read with watches, over a session with
//! one of the entry's servers, and each node whose data is a serverset or Nerve member is a
//! target (`zookeeper_sd::member`). A failed session keeps the last good targets. Executor 0
//! reads and puts the groups in the shared `AskedGroups`, which every executor reads.

pub mod config;
#[cfg(test)]
mod fake;
pub mod jute;
pub mod member;
pub mod session;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use self::config::ZookeeperSd;
use self::member::Kind;
use self::session::Session;
use super::asked_groups::{spawn_for_each, unless_stopped, AskedGroups, ErrorLog};
use super::config::{ScrapeConfig, TargetGroup};

/// The most nodes read under one entry's paths: a bound on a tree that grows without end.
const NODES_MAX: usize = 100_000;

/// How an entry waits between sessions and rereads a missing path.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    /// The wait once every server has failed in turn, doubling up to `backoff_max`.
    backoff_first: Duration,
    backoff_max: Duration,
    /// How soon a path that does not exist is read again (Prometheus' tree cache retries
    /// after 10 s; a watch cannot be left on a node that is not there with getData).
    missing_reread: Duration,
}

const SCHEDULE: Schedule = Schedule { backoff_first: Duration::from_secs(1), backoff_max: Duration::from_secs(30), missing_reread: Duration::from_secs(10) };

/// Starts watching every serverset_sd and nerve_sd entry of `config` on this executor, until
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.serverset_sd, |job, sd, results, stopped| Box::pin(watch(Entry { job, sd, results, schedule: SCHEDULE }, stopped)));
    spawn_for_each(config, results, stopped, |job| &job.nerve_sd, |job, sd, results, stopped| Box::pin(watch(Entry { job, sd, results, schedule: SCHEDULE }, stopped)));
}

/// One entry being watched: its job, itself, where its groups go and its schedule.
#[derive(Clone, Copy)]
struct Entry<'a> {
    job: &'a str,
    sd: &'a ZookeeperSd,
    results: &'a AskedGroups,
    schedule: Schedule,
}

/// Watches `entry` until `stopped` closes.
async fn watch(entry: Entry<'_>, stopped: &async_channel::Receiver<()>) {
    unless_stopped(watch_servers(entry), stopped).await;
}

/// Holds a session with one server after another, for ever: a failed session keeps the last
/// good targets and the next server is tried, with a growing wait once all have failed.
async fn watch_servers(entry: Entry<'_>) {
    let Entry { job, sd, schedule, .. } = entry;
    let mechanism = sd.kind.name();
    let mut errors = ErrorLog::default();
    let mut backoff = schedule.backoff_first;
    let mut failed_in_turn = 0;
    // The timeout is positive and under 2^31 ms (config::resolve).
    let timeout = Duration::from_millis(u64::try_from(sd.timeout_ms).unwrap_or(1).max(1));
    for server in sd.servers.iter().cycle() {
        let mut has_read = false;
        let error = match keep_reading(entry, server, timeout, &mut has_read, &mut errors).await {
            Ok(never) => match never {},
            Err(error) => error,
        };
        entry.results.note_refresh(mechanism, job, true, None);
        if errors.failed(&error) {
            tracing::warn!(job, mechanism, server = server.as_str(), %error, "zookeeper session failed; its last good targets are kept");
        }
        if has_read {
            failed_in_turn = 0;
            backoff = schedule.backoff_first;
        }
        failed_in_turn += 1;
        if failed_in_turn >= sd.servers.len() {
            failed_in_turn = 0;
            glommio::timer::sleep(backoff).await;
            backoff = (backoff * 2).min(schedule.backoff_max);
        }
    }
}

/// Opens a session with `server` (`session`, our own client over TCP) and reads the entry's
/// paths, then again whenever a watch fires (or a missing path, which gives no targets, is due
/// again after 10 s, as Prometheus retries it), until the session fails: why it failed.
/// `has_read` is set once a read has stored its groups.
async fn keep_reading(entry: Entry<'_>, server: &str, timeout: Duration, has_read: &mut bool, errors: &mut ErrorLog) -> Result<std::convert::Infallible, String> {
    let Entry { job, sd, results, schedule } = entry;
    let mechanism = sd.kind.name();
    let mut session = Session::open(server, timeout).await?;
    tracing::debug!(job, mechanism, server, negotiated_timeout_ms = session.negotiated_timeout_ms, "zookeeper session opened");
    loop {
        let tree = read_tree(&mut session, &sd.paths).await?;
        let groups = groups(sd.kind, &tree.nodes);
        let found = groups.len();
        results.store(job, &sd.source, groups.into_iter().map(Arc::new).collect());
        results.note_refresh(mechanism, job, !tree.missing.is_empty(), None);
        // A session that reads resets the wait; one that fails before (a server that
        // accepts and refuses) is waited on longer each time.
        *has_read = true;
        if tree.missing.is_empty() {
            if errors.answered() {
                tracing::info!(job, mechanism, server, groups = found, "zookeeper discovery answers again");
            }
        } else {
            // The tree cache's words.
            let error = tree.missing.iter().map(|path| format!("path {path} does not exist")).collect::<Vec<_>>().join("; ");
            if errors.failed(&error) {
                tracing::warn!(job, mechanism, server, %error, "zookeeper path missing; read again in {:?}", schedule.missing_reread);
            }
        }
        let until = (!tree.missing.is_empty()).then(|| Instant::now() + schedule.missing_reread);
        session.wait(until).await?;
    }
}

/// Every node under some paths (each path's own node too) and its data, and the paths
/// that do not exist.
#[derive(Debug, Default)]
struct Tree {
    nodes: BTreeMap<String, Vec<u8>>,
    missing: Vec<String>,
}

/// Reads every node under `paths`, leaving a data and a children watch on each, as
/// Prometheus' tree cache does: a node is read for its data (getData), then its children
/// (getChildren2). A node gone between two requests is skipped.
async fn read_tree(session: &mut Session, paths: &[String]) -> Result<Tree, String> {
    let mut tree = Tree::default();
    for root in paths {
        let mut unread = vec![root.clone()];
        while let Some(path) = unread.pop() {
            let Some(data) = session.get_data(&path, true).await? else {
                if path == *root {
                    tree.missing.push(path);
                }
                continue;
            };
            let Some(children) = session.get_children(&path, true).await? else { continue };
            if tree.nodes.len() >= NODES_MAX {
                return Err(format!("more than {NODES_MAX} nodes under {}", paths.join(", ")));
            }
            unread.extend(children.iter().map(|child| if path.ends_with('/') { format!("{path}{child}") } else { format!("{path}/{child}") }));
            tree.nodes.insert(path, data);
        }
    }
    Ok(tree)
}

/// A group of one target per node whose data is a member (in path order), with its
/// `__meta_serverset_*` or `__meta_nerve_*` labels; a node whose data is not (a directory,
/// another kind of record) is no target, as in Prometheus.
fn groups(kind: Kind, nodes: &BTreeMap<String, Vec<u8>>) -> Vec<TargetGroup> {
    nodes
        .iter()
        .filter_map(|(path, data)| match member::labels(kind, data, path) {
            Ok(mut labels) => {
                let address = labels.remove("__address__").unwrap_or_default();
                // An empty value is no label (Prometheus drops them when it builds the target).
                labels.retain(|_, v| !v.is_empty());
                Some(TargetGroup { targets: vec![address], labels })
            }
            Err(error) => {
                tracing::debug!(path, %error, "zookeeper node is no target");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
