//! Targets from `http_sd_configs`, as Prometheus' HTTP service discovery finds them: a GET
//! of the entry's URL, whose JSON body is a list of target groups
//! (`[{"targets": ["host:port"], "labels": {"name": "value"}}]`). A failed request or a bad
//! answer keeps the last good groups (Prometheus keeps them too) and is logged when the error
//! changes. Executor 0 asks the URLs; the groups go in `AskedGroups`, the URL as their source.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
pub mod config;

use self::config::HttpSd;
use super::config::{ScrapeConfig, TargetGroup};
use super::http_get::{self, Get};

/// The largest answer read (a list of tens of thousands of targets fits many times over).
const BODY_BYTES_MAX: usize = 64 << 20;
/// Prometheus' check of the answer's `Content-Type`: JSON, optionally with a UTF-8 charset.
fn is_json_content_type(value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    let Some(rest) = value.strip_prefix("application/json") else { return false };
    if rest.is_empty() {
        return true;
    }
    let Some(parameter) = rest.strip_prefix(';') else { return false };
    matches!(parameter.trim_start(), "charset=utf-8" | "charset=\"utf-8\"")
}

/// Starts asking every http_sd entry of `config` on this executor; the requests stop when
/// `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.http_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every refresh interval (`refresh_interval`, 60 s by default) until
/// `stopped` closes.
async fn refresh_loop(job: &str, sd: &HttpSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "http_sd", job, shown: &sd.url, source: &sd.url, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.location, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One request of `sd`'s URL and its groups, or why there are none (as Prometheus words it):
/// the answer must be a `200` with `Content-Type: application/json`.
async fn ask(client: &mut net::client::HttpClient, sd: &HttpSd) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus: a request may take its whole refresh interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let headers = sd.access.request_headers("application/json", Some(("X-Prometheus-Refresh-Interval-Seconds", sd.refresh_ms)), timeout).await?;
    let get = Get { client, url: &sd.location, shown: &sd.url, headers: &headers, timeout, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(get).await?;
    if response.status != 200 {
        return Err(http_get::status_error(response.status));
    }
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !is_json_content_type(content_type) {
        return Err(format!("unsupported content type {content_type:?}"));
    }
    parse_groups(&response.body, &sd.url)
}

/// A target group as the JSON has it (unknown keys ignored and nulls allowed, as Go reads it).
#[derive(Deserialize)]
struct WireGroup {
    #[serde(default)]
    targets: Option<Vec<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// The groups of an answer's body, each with the URL as its `__meta_url`; a null group, or an
/// empty label name, makes the whole answer bad (as in Prometheus 3, any other UTF-8 name is
/// one).
pub fn parse_groups(body: &[u8], url: &str) -> Result<Vec<TargetGroup>, String> {
    let wire: Vec<Option<WireGroup>> = serde_json::from_slice(body).map_err(|e| format!("cannot parse the answer as a JSON list of target groups: {e}"))?;
    let mut groups = Vec::with_capacity(wire.len());
    for group in wire {
        let group = group.ok_or("nil target group item found")?;
        let mut labels = group.labels.unwrap_or_default();
        if labels.keys().any(String::is_empty) {
            return Err("\"\" is not a valid label name".into());
        }
        labels.insert("__meta_url".into(), url.to_string());
        groups.push(TargetGroup { targets: group.targets.unwrap_or_default(), labels });
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_as_prometheus_reads_them() {
        let url = "http://sd:8080/targets";
        let groups = parse_groups(br#"[{"targets": ["a:9100", "b:9100"], "labels": {"env": "prod"}, "other": 1}, {"targets": null, "labels": null}, {}]"#, url).expect("valid");
        assert_eq!(groups.len(), 3);
        assert_eq!(groups[0].targets, vec!["a:9100", "b:9100"]);
        assert_eq!(groups[0].labels.get("env").map(String::as_str), Some("prod"));
        assert!(groups.iter().all(|g| g.labels.get("__meta_url").map(String::as_str) == Some(url)));
        assert!(groups[1].targets.is_empty() && groups[2].targets.is_empty());
        assert_eq!(parse_groups(b"[]", url).expect("empty list"), Vec::new());
        assert_eq!(parse_groups(b"[null]", url).unwrap_err(), "nil target group item found");
        assert!(parse_groups(br#"[{"targets": [], "labels": {"": "y"}}]"#, url).unwrap_err().contains("\"\" is not a valid label name"));
        // Prometheus 3 takes UTF-8 names.
        assert!(parse_groups(br#"[{"targets": [], "labels": {"app.kubernetes.io/name": "y"}}]"#, url).is_ok());
        assert!(parse_groups(b"{\"targets\": []}", url).unwrap_err().contains("JSON list"));
        assert!(parse_groups(b"", url).is_err());
    }

    #[test]
    fn the_content_type_must_be_json() {
        for good in ["application/json", "Application/JSON", " application/json; charset=utf-8", "application/json;charset=\"UTF-8\""] {
            assert!(is_json_content_type(good), "{good}");
        }
        for bad in ["", "text/plain", "application/json; charset=latin1", "application/jsonx", "application/json; x=y"] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }
}
