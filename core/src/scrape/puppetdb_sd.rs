//! Targets from `puppetdb_sd_configs`, as Prometheus' PuppetDB discovery finds them: each
//! resource the entry's PQL query returns (`puppetdb_sd::resources`) is a target. A failed
//! refresh keeps the last good targets and is logged when the error changes. Executor 0 asks
//! and puts the groups in the shared `AskedGroups` (the source is the entry's endpoint, query,
//! position and settings), which every executor reads.

pub mod config;
pub mod resources;

use std::sync::Arc;
use std::time::Duration;

use self::config::PuppetDbSd;
use self::resources::Labelling;
use super::asked_groups::{ask_every_over, AskedGroups, Refreshed, spawn_for_each};
use super::config::{ScrapeConfig, TargetGroup};
use super::http_get;

/// The largest answer read (tens of thousands of resources with their parameters fit).
const BODY_BYTES_MAX: usize = 64 << 20;

/// Starts asking every puppetdb_sd entry of `config` on this executor; the requests stop
/// when `stopped` closes (a reload or shutdown).
pub fn start(config: &Arc<ScrapeConfig>, results: &Arc<AskedGroups>, stopped: &async_channel::Receiver<()>) {
    spawn_for_each(config, results, stopped, |job| &job.puppetdb_sd, |job, sd, results, stopped| Box::pin(refresh_loop(job, sd, results, stopped)));
}

/// Asks `sd` now and then every `refresh_interval` (60 s by default) until `stopped` closes.
async fn refresh_loop(job: &str, sd: &PuppetDbSd, results: &AskedGroups, stopped: &async_channel::Receiver<()>) {
    let entry = Refreshed { mechanism: "puppetdb_sd", job, shown: &sd.shown, source: &sd.source, refresh: Duration::from_millis(sd.refresh_ms as u64) };
    ask_every_over(entry, &sd.endpoint, &sd.access, sd, |client, sd| Box::pin(ask(client, sd)), results, stopped).await;
}

/// One POST of the query as `{"query": ...}` to `<url>/pdb/query/v4` (JSON in, JSON out) and
/// its groups, each resource a target at `<certname>:<port>` with Prometheus'
/// `__meta_puppetdb_*` labels, or why there are none (Prometheus' words). As Prometheus, only
/// a 200 with a JSON content type is taken; unlike it, a redirect is not followed (it is a
/// failed refresh naming its status).
async fn ask(client: &mut net::client::HttpClient, sd: &PuppetDbSd) -> Result<Vec<TargetGroup>, String> {
    // As Prometheus' other refreshed discoveries: a request may take the whole interval.
    let timeout = Duration::from_millis(sd.refresh_ms as u64);
    let mut headers = sd.access.request_headers("application/json", None, timeout).await?;
    headers.insert(2, ("Content-Type".to_string(), "application/json".to_string()));
    let body = request_body(&sd.query);
    let response = client.post(&sd.endpoint.path_and_query, &headers, body.as_bytes(), timeout, BODY_BYTES_MAX).await.map_err(|e| match e {
        net::client::ClientError::BodyTooLarge { .. } => format!("Post {:?}: {}", sd.shown, http_get::BODY_SIZE_LIMIT_EXCEEDED),
        other => format!("Post {:?}: {other}", sd.shown),
    })?;
    if response.status != 200 {
        return Err(http_get::status_error(response.status));
    }
    let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !json_content_type(content_type) {
        return Err(format!("unsupported content type {content_type}"));
    }
    resources::groups(&response.body, &Labelling { query: &sd.query, port: sd.port, include_parameters: sd.include_parameters })
}

/// `{"query":"..."}` as Go's `json.Marshal` writes it: `<`, `>`, `&`, U+2028 and U+2029
/// escaped as `\u....` (they can only stand inside the one string).
fn request_body(query: &str) -> String {
    let json = serde_json::json!({ "query": query }).to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a response's `Content-Type` is one Prometheus takes: `application/json`, with no
/// parameter but `charset=utf-8` (bare or quoted), in any case.
fn json_content_type(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("application/json") else { return false };
    if rest.is_empty() {
        return true;
    }
    let Some(parameter) = rest.strip_prefix(';') else { return false };
    // RE2's `\s`: tab, newline, form feed, carriage return, space.
    let charset = parameter.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
    charset == "charset=utf-8" || charset == "charset=\"utf-8\""
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_sent_as_go_marshals_it() {
        assert_eq!(request_body("vhosts"), r#"{"query":"vhosts"}"#);
        assert_eq!(request_body(r#"resources { type = "Class" and parameters.port > 8000 & x < 1 }"#), r#"{"query":"resources { type = \"Class\" and parameters.port \u003e 8000 \u0026 x \u003c 1 }"}"#);
        assert_eq!(request_body("a\\b\nc\u{2028}"), r#"{"query":"a\\b\nc\u2028"}"#);
    }

    #[test]
    fn only_a_json_content_type_is_taken() {
        for ok in ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/json;charset=UTF-8", "application/json;\t charset=\"utf-8\""] {
            assert!(json_content_type(ok), "{ok}");
        }
        for bad in ["", "text/plain; charset=utf-8", "application/json; charset=latin1", "application/json ", "application/jsonx", "application/json; charset=utf-8; x=y", "application/json, text/plain"] {
            assert!(!json_content_type(bad), "{bad}");
        }
    }
}
