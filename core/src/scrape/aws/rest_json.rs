//! AWS' REST-JSON protocol for reading, which MSK (`kafka`) speaks: a `GET` of a path whose
//! segments carry the request's fields (escaped), a query of the others, signed with
//! Signature Version 4 for the service (the canonical path escaped once more, as AWS' SDKs
//! sign every service but S3), and a JSON answer; errors read as `json_rpc` reads them.

use std::time::Duration;

use super::json_rpc::{call_error, CallError};
use super::{headers_to_send, sigv4, Signed, Transport, ANSWER_BYTES_MAX};
use crate::scrape::config::Url;

/// A signed `GET` of `segments` (each escaped here) below `endpoint`'s path, with `query`,
/// over its client, signed for `region` and `service`.
pub async fn get(endpoint: &mut (Url, net::client::HttpClient), keys: &sigv4::Keys, scope: (&str, &str), segments: &[&str], query: &[(String, String)], transport: Transport<'_>, timeout: Duration) -> Result<serde_json::Value, CallError> {
    let (url, client) = endpoint;
    let (path, canonical_path) = paths(url.path_and_query.split('?').next().unwrap_or("/"), segments);
    let host = client.host_header();
    let signed = Signed { keys, scope, method: "GET", host: &host, path: &canonical_path, query, body: b"" };
    let headers = headers_to_send(Vec::new(), Some(signed), transport.headers);
    let query_text = sigv4::canonical_query(query);
    let path_and_query = if query_text.is_empty() { path } else { format!("{path}?{query_text}") };
    let response = client.get(&path_and_query, &headers, timeout, ANSWER_BYTES_MAX).await.map_err(|e| format!("{}: {e}", crate::scrape::http_get::format_url(url)))?;
    if response.status != 200 {
        return Err(call_error(&response));
    }
    serde_json::from_slice(&response.body).map_err(|e| CallError::from(format!("the answer to GET {path_and_query} is not JSON: {e}")))
}

/// The path sent (each segment escaped, after `base`) and the path signed (escaped again).
fn paths(base: &str, segments: &[&str]) -> (String, String) {
    let sent: Vec<String> = segments.iter().map(|s| sigv4::escape(s)).collect();
    let base = base.trim_end_matches('/');
    let signed_base: Vec<String> = base.split('/').map(sigv4::escape).collect();
    let signed: Vec<String> = sent.iter().map(|s| sigv4::escape(s)).collect();
    (format!("{base}/{}", sent.join("/")), format!("{}/{}", signed_base.join("/"), signed.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_escaped_to_send_and_again_to_sign() {
        let arn = "arn:aws:kafka:us-east-1:1:cluster/demo/ab-1";
        let (sent, signed) = paths("/", &["api", "v2", "clusters", arn]);
        assert_eq!(sent, "/api/v2/clusters/arn%3Aaws%3Akafka%3Aus-east-1%3A1%3Acluster%2Fdemo%2Fab-1");
        assert_eq!(signed, "/api/v2/clusters/arn%253Aaws%253Akafka%253Aus-east-1%253A1%253Acluster%252Fdemo%252Fab-1");
        assert_eq!(paths("/proxy/", &["v1", "clusters"]), ("/proxy/v1/clusters".to_string(), "/proxy/v1/clusters".to_string()));
    }
}
