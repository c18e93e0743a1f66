//! Targets from `uyuni_sd_configs`, as Prometheus' Uyuni discovery finds them: XML-RPC calls
//! to `<server>/rpc/api` (`uyuni_sd::xml_rpc`), each exporter endpoint of the systems with the
//! entry's entitlement a target. A failed refresh keeps the last good targets and is logged
//! when the error changes. Executor 0 asks and puts the groups in the shared `AskedGroups`,
//! which every executor reads.

pub mod config;
pub mod xml_rpc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use self::config::UyuniSd;
use self::xml_rpc::Value;
use super::asked_groups::{ask_every, AskedGroups, Refreshed, spawn_for_each};
use super::config::{ScrapeConfig, TargetGroup};
use super::http_get;

/// The largest answer read (thousands of systems' endpoints).
const BODY_BYTES_MAX: usize = 32 << 20;
/// How long a session token is asked for, and how long one is used (half of it), as
/// Prometheus asks and uses them.
const TOKEN_ASKED_S: i64 = 600;
const TOKEN_USED_MS: i64 = 300_000;

/// Starts asking every uyuni_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.uyuni_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// An entry's connection and its session token with the time it stops being used.
pub struct Session {
    client: net::client::HttpClient,
    token: Option<(String, i64)>,
}

/// Asks `sd` now and then every `refresh_interval` (1 m by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &UyuniSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let shown = http_get::format_url(&sd.api);
    let client = match sd.access.client(&sd.api) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(job, api = %shown, %error, "uyuni_sd: its targets stay empty");
            return;
        }
    };
    let mut session = Session { client, token: None };
    let entry = Refreshed { mechanism: "uyuni_sd", job, shown: &shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every(entry, &mut session, sd, |session, sd| Box::pin(ask(session, sd, crate::api::params::now_ms())), results, stopped).await;
}

/// One refresh at `now_ms`: a login (`auth.login`, the session token asked for 10 minutes and
/// used for 5) when the token is old, then the targets (Prometheus' words on failure); a
/// failure forgets the token, so the next refresh asks again.
async fn ask(session: &mut Session, sd: &UyuniSd, now_ms: i64) -> Result<Vec<TargetGroup>, String> {
    let token = match &session.token {
        Some((token, until_ms)) if now_ms < *until_ms => token.clone(),
        _ => {
            let params = [Value::Str(sd.username.clone()), Value::Str(sd.password.clone()), Value::Int(TOKEN_ASKED_S)];
            let token = call(&mut session.client, sd, "auth.login", &params).await.map_err(|e| format!("unable to login to Uyuni API: {e}"))?.text();
            session.token = Some((token.clone(), now_ms + TOKEN_USED_MS));
            token
        }
    };
    let found = targets(&mut session.client, sd, &token).await;
    if found.is_err() {
        session.token = None;
    }
    found
}

/// The three calls and the targets they give: the systems with the entry's entitlement and
/// their groups (`system.listSystemGroupsForSystemsWithEntitlement`), those systems' exporter
/// endpoints (`system.monitoring.listEndpoints`) and their network
/// (`system.getNetworkForSystems`); each endpoint is a target at `<hostname>:<port>` with the
/// `__meta_uyuni_*` labels.
async fn targets(client: &mut net::client::HttpClient, sd: &UyuniSd, token: &str) -> Result<Vec<TargetGroup>, String> {
    let systems = call(client, sd, "system.listSystemGroupsForSystemsWithEntitlement", &[Value::Str(token.to_string()), Value::Str(sd.entitlement.clone())])
        .await
        .map_err(|e| format!("unable to get the managed system groups information of monitored clients: {e}"))?;
    let groups_by_system: BTreeMap<i64, Vec<String>> = systems
        .items()
        .iter()
        .map(|s| (s.member("id").map(Value::int).unwrap_or(0), s.member("system_groups").map(Value::items).unwrap_or_default().iter().map(|g| g.member("name").map(Value::text).unwrap_or_default()).collect()))
        .collect();
    let ids = Value::Array(groups_by_system.keys().map(|id| Value::Int(*id)).collect());
    let endpoints = call(client, sd, "system.monitoring.listEndpoints", &[Value::Str(token.to_string()), ids.clone()]).await.map_err(|e| format!("unable to get endpoints information: {e}"))?;
    let networks = call(client, sd, "system.getNetworkForSystems", &[Value::Str(token.to_string()), ids]).await.map_err(|e| format!("unable to get the systems network information: {e}"))?;
    let network_by_system: BTreeMap<i64, &Value> = networks.items().iter().map(|n| (n.member("system_id").map(Value::int).unwrap_or(0), n)).collect();
    Ok(endpoints
        .items()
        .iter()
        .map(|endpoint| {
            let system_id = endpoint.member("system_id").map(Value::int).unwrap_or(0);
            let network = network_by_system.get(&system_id);
            let field = |value: Option<&Value>, name: &str| value.and_then(|v| v.member(name)).map(Value::text).unwrap_or_default();
            let hostname = field(network.copied(), "hostname");
            let port = endpoint.member("port").map(Value::int).unwrap_or(0);
            let tls = endpoint.member("tls_enabled").is_some_and(Value::bool);
            let mut labels = BTreeMap::from([
                ("__meta_uyuni_minion_hostname".to_string(), hostname.clone()),
                ("__meta_uyuni_primary_fqdn".to_string(), field(network.copied(), "primary_fqdn")),
                ("__meta_uyuni_system_id".to_string(), system_id.to_string()),
                ("__meta_uyuni_groups".to_string(), groups_by_system.get(&system_id).map(|g| g.join(&sd.separator)).unwrap_or_default()),
                ("__meta_uyuni_endpoint_name".to_string(), field(Some(endpoint), "endpoint_name")),
                ("__meta_uyuni_exporter".to_string(), field(Some(endpoint), "exporter_name")),
                ("__meta_uyuni_proxy_module".to_string(), field(Some(endpoint), "module")),
                ("__meta_uyuni_metrics_path".to_string(), field(Some(endpoint), "path")),
                ("__meta_uyuni_scheme".to_string(), if tls { "https" } else { "http" }.to_string()),
            ]);
            // An empty value is no label (Prometheus drops them when it builds the target).
            labels.retain(|_, v| !v.is_empty());
            TargetGroup { targets: vec![format!("{hostname}:{port}")], labels }
        })
        .collect())
}

/// One XML-RPC call and its value, or why there is none (the XML-RPC client's words).
async fn call(client: &mut net::client::HttpClient, sd: &UyuniSd, method: &str, params: &[Value]) -> Result<Value, String> {
    let shown = http_get::format_url(&sd.api);
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("text/xml", None, timeout).await?;
    headers.push(("Content-Type".to_string(), "text/xml".to_string()));
    let body = xml_rpc::call_body(method, params);
    let response = client.post(&sd.api.path_and_query, &headers, body.as_bytes(), timeout, BODY_BYTES_MAX).await.map_err(|e| format!("Post {shown:?}: {e}"))?;
    if response.status != 200 {
        return Err(format!("request error: bad status code - {}", response.status));
    }
    xml_rpc::answer(&String::from_utf8_lossy(&response.body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    fn response(value: &str) -> String {
        format!("<?xml version=\"1.0\"?><methodResponse><params><param><value>{value}</value></param></params></methodResponse>")
    }

    /// An Uyuni server with one monitored system and two exporter endpoints on it.
    fn uyuni(request: &Seen) -> (u16, String) {
        let body = &request.body;
        let method = body.split("<methodName>").nth(1).and_then(|m| m.split('<').next()).unwrap_or("");
        if method != "auth.login" && !body.contains("<string>token-1</string>") {
            return (200, "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>2950</int></value></member><member><name>faultString</name><value><string>Could not find session</string></value></member></struct></value></fault></methodResponse>".to_string());
        }
        let answer = match method {
            "auth.login" if body.contains("<string>admin</string><") && body.contains("<string>pw</string>") && body.contains("<int>600</int>") => response("<string>token-1</string>"),
            "auth.login" => "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>2950</int></value></member><member><name>faultString</name><value><string>Either the password or username is incorrect.</string></value></member></struct></value></fault></methodResponse>".to_string(),
            "system.listSystemGroupsForSystemsWithEntitlement" => response(
                "<array><data><value><struct><member><name>id</name><value><int>1000010000</int></value></member><member><name>system_groups</name><value><array><data>\
                 <value><struct><member><name>id</name><value><int>1</int></value></member><member><name>name</name><value><string>web</string></value></member></struct></value>\
                 <value><struct><member><name>id</name><value><int>2</int></value></member><member><name>name</name><value><string>prod</string></value></member></struct></value>\
                 </data></array></value></member></struct></value></data></array>",
            ),
            "system.monitoring.listEndpoints" if body.contains("<int>1000010000</int>") => response(
                "<array><data>\
                 <value><struct><member><name>system_id</name><value><int>1000010000</int></value></member><member><name>endpoint_name</name><value><string>node_exporter</string></value></member><member><name>port</name><value><int>9100</int></value></member><member><name>path</name><value><string>/metrics</string></value></member><member><name>module</name><value><nil/></value></member><member><name>exporter_name</name><value><string>node_exporter</string></value></member><member><name>tls_enabled</name><value><boolean>0</boolean></value></member></struct></value>\
                 <value><struct><member><name>system_id</name><value><int>1000010000</int></value></member><member><name>endpoint_name</name><value><string>apache</string></value></member><member><name>port</name><value><int>9117</int></value></member><member><name>path</name><value><string>/metrics</string></value></member><member><name>module</name><value><string>apache</string></value></member><member><name>exporter_name</name><value><string>apache_exporter</string></value></member><member><name>tls_enabled</name><value><boolean>1</boolean></value></member></struct></value>\
                 </data></array>",
            ),
            "system.getNetworkForSystems" => response(
                "<array><data><value><struct><member><name>system_id</name><value><int>1000010000</int></value></member><member><name>hostname</name><value><string>minion-1.example.com</string></value></member><member><name>primary_fqdn</name><value><string>minion-1.example.com</string></value></member><member><name>ip</name><value><string>10.0.0.7</string></value></member></struct></value></data></array>",
            ),
            _ => return (500, "no such method".to_string()),
        };
        (200, answer)
    }

    fn entry(base: &str, credentials: &str) -> ScrapeConfig {
        let yaml = format!("scrape_configs: [{{job_name: u, uyuni_sd_configs: [{{server: '{base}/', {credentials}, separator: ';'}}]}}]");
        ScrapeConfig::from_yaml(&yaml, std::path::Path::new("/tmp"), crate::ingest::label_limits::LabelLimits::default()).expect("valid")
    }

    fn new_session(config: &ScrapeConfig) -> Session {
        let api = &config.jobs[0].uyuni_sd[0].api;
        Session { client: net::client::HttpClient::new(api.host.clone(), api.port, None), token: None }
    }

    #[test]
    fn a_login_then_three_calls_give_each_endpoint_as_a_target() {
        let (base, seen) = serve(uyuni);
        let config = entry(&base, "username: admin, password: pw");
        let sd = &config.jobs[0].uyuni_sd[0];
        let logins = || seen.lock().map(|s| s.iter().filter(|r| r.body.contains("auth.login")).count()).unwrap_or(0);
        // One executor for the whole session: its connection is kept between refreshes.
        let (groups, logins_in_time, logins_after) = run(async {
            let mut session = new_session(&config);
            let groups = ask(&mut session, sd, 0).await;
            // Within five minutes the token is used again; after, a new login.
            let again = ask(&mut session, sd, TOKEN_USED_MS - 1).await.map(|_| logins());
            let later = ask(&mut session, sd, TOKEN_USED_MS).await.map(|_| logins());
            (groups, again, later)
        });
        let groups = groups.expect("targets");
        assert_eq!((logins_in_time, logins_after), (Ok(1), Ok(2)));
        let targets: Vec<&str> = groups.iter().map(|g| g.targets[0].as_str()).collect();
        assert_eq!(targets, ["minion-1.example.com:9100", "minion-1.example.com:9117"]);
        let expected: BTreeMap<String, String> = [
            ("__meta_uyuni_minion_hostname", "minion-1.example.com"),
            ("__meta_uyuni_primary_fqdn", "minion-1.example.com"),
            ("__meta_uyuni_system_id", "1000010000"),
            ("__meta_uyuni_groups", "web;prod"),
            ("__meta_uyuni_endpoint_name", "apache"),
            ("__meta_uyuni_exporter", "apache_exporter"),
            ("__meta_uyuni_proxy_module", "apache"),
            ("__meta_uyuni_metrics_path", "/metrics"),
            ("__meta_uyuni_scheme", "https"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(groups[1].labels, expected);
        assert_eq!(groups[0].labels.get("__meta_uyuni_scheme").map(String::as_str), Some("http"));
        assert_eq!(groups[0].labels.get("__meta_uyuni_proxy_module"), None, "a nil module is no label");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(seen.len(), 11, "two logins and three rounds of three calls");
        assert!(seen.iter().all(|r| r.path == "/rpc/api" && r.method == "POST" && r.header("content-type") == Some("text/xml")), "{seen:?}");
    }

    #[test]
    fn a_refused_login_or_call_fails_the_refresh_in_prometheus_words() {
        let (base, _) = serve(uyuni);
        let config = entry(&base, "username: admin, password: wrong");
        let error = run(async { ask(&mut new_session(&config), &config.jobs[0].uyuni_sd[0], 0).await }).expect_err("bad password");
        assert_eq!(error, "unable to login to Uyuni API: Fault(2950): Either the password or username is incorrect.");
        // A token the server no longer knows fails the refresh and is forgotten; the next
        // refresh logs in again.
        let config = entry(&base, "username: admin, password: pw");
        let sd = &config.jobs[0].uyuni_sd[0];
        let (error, forgotten, again) = run(async {
            let mut session = new_session(&config);
            session.token = Some(("expired".to_string(), i64::MAX));
            let error = ask(&mut session, sd, 0).await;
            let forgotten = session.token.is_none();
            (error, forgotten, ask(&mut session, sd, 0).await.is_ok())
        });
        assert_eq!(error.err().as_deref(), Some("unable to get the managed system groups information of monitored clients: Fault(2950): Could not find session"));
        assert!(forgotten && again);
    }
}
