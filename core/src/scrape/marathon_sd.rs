//! Targets from `marathon_sd_configs`, as Prometheus' Marathon discovery finds them: one
//! server's app list with the apps' tasks, each task's ports a target (`marathon_sd::apps`).
//! A failed refresh keeps the last good targets. Executor 0 asks and puts the groups in the
//! shared `AskedGroups`, which every executor reads.

pub mod apps;
pub mod config;

use std::sync::Arc;
use std::time::Duration;

use self::config::MarathonSd;
use super::asked_groups::{ask_every, spawn_for_each, AskedGroups, Refreshed};
use super::config::{ScrapeConfig, Secret, TargetGroup};
use super::http_get::{self, Get};

/// The largest app list read: every app of the cluster with its tasks comes in one answer.
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts asking every marathon_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.marathon_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// An entry's servers: a client for each once asked, and whose turn is next. Prometheus picks a
/// server at random at each refresh; here the servers take turns (round-robin, from the
/// first), so a server that is down costs one refresh in as many as there are servers.
#[derive(Default)]
pub struct Servers {
    clients: Vec<Option<net::client::HttpClient>>,
    next: usize,
}

/// Asks `sd` now and then every `refresh_interval` (30 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &MarathonSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    // As Prometheus, which makes no discoverer when the token file cannot be read at start.
    if let Some(Secret::File(path)) = &sd.auth_token {
        if let Err(error) = std::fs::read(path) {
            let error = format!("unable to read auth token file {}: {error}", path.display());
            tracing::error!(job, %error, "marathon_sd: its targets stay empty");
            return;
        }
    }
    let mut servers = Servers::default();
    let entry = Refreshed { mechanism: "marathon_sd", job, shown: &sd.shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut servers, sd, |servers, sd| Box::pin(ask(servers, sd)), results, stopped).await;
}

/// One refresh: the app list with the apps' tasks (`GET <server>/v2/apps/?embed=apps.tasks`) of
/// the server whose turn it is, then its groups. A DC/OS `auth_token` goes as
/// `Authorization: token=<token>`.
async fn ask(servers: &mut Servers, sd: &MarathonSd) -> Result<Vec<TargetGroup>, String> {
    let count = sd.app_lists.len();
    if servers.clients.len() != count {
        servers.clients = (0..count).map(|_| None).collect();
    }
    let turn = servers.next % count.max(1);
    servers.next = (turn + 1) % count.max(1);
    let (Some(url), Some(slot)) = (sd.app_lists.get(turn), servers.clients.get_mut(turn)) else {
        return Err("marathon_sd: must contain at least one Marathon server".into());
    };
    let client = match slot {
        Some(client) => client,
        None => slot.insert(sd.access.client(url)?),
    };
    // The URL as Prometheus writes it in messages: the server as written, then the path.
    let shown = format!("{}{}", sd.servers.get(turn).map_or("", String::as_str), config::APP_LIST_PATH);
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("application/json", None, timeout).await?;
    if let Some(token) = &sd.auth_token {
        // Another Authorization than Bearer's, as DC/OS wants it; an OAuth2 token (the only
        // credentials allowed beside it) is set after it in Prometheus, so it wins there too.
        if !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("authorization")) {
            headers.push(("Authorization".to_string(), format!("token={}", auth_token(token)?)));
        }
    }
    let get = Get { client, url, shown: &shown, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if !(200..300).contains(&response.status) {
        return Err(format!("non 2xx status '{}' response during marathon service discovery", response.status));
    }
    let list = apps::app_list(&response.body).map_err(|e| format!("{shown:?}: {e}"))?;
    Ok(apps::groups(&list))
}

/// The token, a file's read now (rotated tokens are picked up) and trimmed.
fn auth_token(token: &Secret) -> Result<String, String> {
    match token {
        Secret::Inline(text) => Ok(text.clone()),
        Secret::File(path) => std::fs::read_to_string(path).map(|t| t.trim().to_string()).map_err(|e| format!("unable to read auth token file {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    /// A Marathon behind the DC/OS token `dcos`; under /down it fails, under /junk it
    /// answers what is not an app list.
    fn marathon(request: &Seen) -> (u16, String) {
        let list = r#"{"apps": [{"id": "/web", "labels": {"team": "a"}, "container": {"docker": {"image": "nginx:1"}},
            "portDefinitions": [{"port": 10000, "labels": {"metrics": "yes"}}],
            "tasks": [{"id": "web.1", "host": "agent-1", "ports": [31000]}]}]}"#;
        if request.header("authorization") != Some("token=dcos") {
            return (401, r#"{"message": "Unauthorized"}"#.to_string());
        }
        match request.path.as_str() {
            "/v2/apps/?embed=apps.tasks" | "/other/v2/apps/?embed=apps.tasks" => (200, list.to_string()),
            "/junk/v2/apps/?embed=apps.tasks" => (200, "<html>".to_string()),
            _ => (500, "{}".to_string()),
        }
    }

    fn entry(yaml: &str) -> ScrapeConfig {
        ScrapeConfig::from_yaml(&format!("scrape_configs: [{{job_name: m, marathon_sd_configs: [{yaml}]}}]"), std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    /// Refreshes the config's first entry `times` times with the same servers' state.
    fn refreshes(config: &ScrapeConfig, times: usize) -> Vec<Result<Vec<TargetGroup>, String>> {
        let sd = &config.jobs[0].marathon_sd[0];
        run(async {
            let mut servers = Servers::default();
            let mut answers = Vec::new();
            for _ in 0..times {
                answers.push(ask(&mut servers, sd).await);
            }
            answers
        })
    }

    fn seen_paths(seen: &std::sync::Mutex<Vec<Seen>>) -> Vec<String> {
        seen.lock().map(|s| s.iter().map(|r| r.path.clone()).collect()).unwrap_or_default()
    }

    #[test]
    fn the_app_list_is_asked_with_the_token_and_its_tasks_are_targets() {
        let (base, seen) = serve(marathon);
        let answers = refreshes(&entry(&format!("{{servers: ['{base}'], auth_token: dcos}}")), 1);
        let groups = answers[0].as_ref().expect("an app list");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].targets, ["agent-1:31000"]);
        let labels: Vec<(&str, &str)> = groups[0].labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            labels,
            [
                ("__meta_marathon_app", "/web"),
                ("__meta_marathon_app_label_team", "a"),
                ("__meta_marathon_image", "nginx:1"),
                ("__meta_marathon_port_definition_label_metrics", "yes"),
                ("__meta_marathon_port_index", "0"),
                ("__meta_marathon_task", "web.1"),
            ]
        );
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/v2/apps/?embed=apps.tasks"));
    }

    #[test]
    fn the_token_file_is_read_at_every_request() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("token");
        std::fs::write(&file, "dcos\n").expect("written");
        let (base, _) = serve(marathon);
        let config = entry(&format!("{{servers: ['{base}'], auth_token_file: '{}'}}", file.display()));
        assert!(refreshes(&config, 1)[0].is_ok(), "the file's token, trimmed");
        std::fs::write(&file, "rotated").expect("written");
        assert_eq!(refreshes(&config, 1)[0].as_ref().err().map(String::as_str), Some("non 2xx status '401' response during marathon service discovery"));
        std::fs::remove_file(&file).expect("removed");
        let error = refreshes(&config, 1).remove(0).expect_err("no file");
        assert!(error.starts_with(&format!("unable to read auth token file {}: ", file.display())), "{error}");
    }

    #[test]
    fn an_unreadable_token_file_at_start_leaves_the_entry_without_targets() {
        let (base, seen) = serve(marathon);
        let config = entry(&format!("{{servers: ['{base}'], auth_token_file: /nonexistent/marathon-token}}"));
        let results = AskedGroups::default();
        let (_stop, stopped) = async_channel::bounded::<()>(1);
        // The loop ends by itself, as Prometheus makes no discoverer; the bound only keeps a
        // regression from hanging the test.
        let ended = run(futures_lite::future::or(
            async {
                refresh_loop("m", &config.jobs[0].marathon_sd[0], &results, &stopped).await;
                true
            },
            async {
                glommio::timer::sleep(Duration::from_secs(10)).await;
                false
            },
        ));
        assert!(ended);
        assert!(seen_paths(&seen).is_empty());
        assert!(results.groups("m", &config.jobs[0].marathon_sd[0].source).is_empty());
    }

    #[test]
    fn the_servers_take_turns_and_a_failed_one_fails_only_its_refresh() {
        let (base, seen) = serve(marathon);
        let config = entry(&format!("{{servers: ['{base}', '{base}/down', '{base}/other'], auth_token: dcos}}"));
        let answers = refreshes(&config, 4);
        assert!(answers[0].is_ok() && answers[2].is_ok() && answers[3].is_ok(), "{answers:?}");
        // Prometheus' words for a status it does not take (Test500ErrorHttpResponseWithValidJSONBody).
        assert_eq!(answers[1].as_ref().err().map(String::as_str), Some("non 2xx status '500' response during marathon service discovery"));
        assert_eq!(seen_paths(&seen), ["/v2/apps/?embed=apps.tasks", "/down/v2/apps/?embed=apps.tasks", "/other/v2/apps/?embed=apps.tasks", "/v2/apps/?embed=apps.tasks"]);
    }

    #[test]
    fn an_answer_that_is_no_app_list_or_no_answer_fails_the_refresh() {
        let (base, _) = serve(marathon);
        let error = refreshes(&entry(&format!("{{servers: ['{base}/junk'], auth_token: dcos}}")), 1).remove(0).expect_err("not JSON");
        assert!(error.starts_with(&format!("\"{base}/junk/v2/apps/?embed=apps.tasks\": ")), "{error}");
        // Nothing listens on a port just freed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port");
        let error = refreshes(&entry(&format!("{{servers: ['http://127.0.0.1:{port}']}}")), 1).remove(0).expect_err("refused");
        assert!(error.starts_with(&format!("Get \"http://127.0.0.1:{port}/v2/apps/?embed=apps.tasks\": ")), "{error}");
    }
}
