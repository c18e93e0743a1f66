//! What `ec2_sd_configs` needs of AWS besides EC2 itself: requests signed with Signature
//! Version 4 (`sigv4`), and the keys and region found as AWS' Go SDK finds them for
//! Prometheus (`credentials`): the entry's keys, the environment, the shared files (with SSO
//! roles and `credential_process`), a web identity token, a container's or the instance's
//! role, and `role_arn` assumed through STS.

pub mod credentials;
pub mod json_rpc;
pub mod rest_json;
pub mod sigv4;

use std::time::Duration;

use super::config::Url;
use super::proxy::ProxyChoice;

/// The most an AWS answer may take (a page of 1,000 instances is a few MiB).
pub const ANSWER_BYTES_MAX: usize = 64 << 20;

/// The TLS and proxy settings of the entry, and its `http_headers` (sent unsigned, as
/// Prometheus' HTTP client adds them after AWS' SDK signs), for its requests to AWS.
#[derive(Clone, Copy)]
pub struct Transport<'a> {
    pub tls: &'a Result<net::client::ClientTls, String>,
    pub proxy: &'a ProxyChoice,
    pub headers: &'a [(String, String)],
}

/// What a request to AWS signs: its method, the `Host` header as sent, the path as signed,
/// the query's pairs and the body, for `scope` (region, service) with `keys`.
pub struct Signed<'a> {
    pub keys: &'a sigv4::Keys,
    pub scope: (&'a str, &'a str),
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The headers of a request to AWS: `headers` (all signed), what signing `signed` adds (none
/// for an unsigned request), then our User-Agent and `extra` (the entry's `http_headers`),
/// unsigned: the SDK leaves User-Agent out (a proxy may rewrite it), and Prometheus' HTTP
/// client adds its headers after signing.
pub fn headers_to_send(mut headers: Vec<(String, String)>, signed: Option<Signed<'_>>, extra: &[(String, String)]) -> Vec<(String, String)> {
    if let Some(s) = signed {
        let amz_date = sigv4::amz_date(crate::api::params::now_ms());
        let (region, service) = s.scope;
        let request = sigv4::Request { method: s.method, host: s.host, path: s.path, query: s.query, headers: &headers, body: s.body, region, service, amz_date: &amz_date };
        let added = sigv4::sign(s.keys, &request);
        headers.extend(added);
    }
    headers.push(("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))));
    headers.extend_from_slice(extra);
    headers
}

/// A form body as the AWS query protocol takes it (`Action=…&Version=…&…`).
pub fn form(pairs: &[(String, String)]) -> String {
    pairs.iter().map(|(n, v)| format!("{}={}", sigv4::escape(n), sigv4::escape(v))).collect::<Vec<_>>().join("&")
}

/// POSTs an AWS query-protocol `form` to `url`, signed with `keys` for `region` and `service`
/// when there are keys (STS' AssumeRoleWithWebIdentity is not signed), over `client` when given
/// (kept alive by the caller) or a connection of its own.
pub async fn post_form(client: Option<&mut net::client::HttpClient>, url: &Url, keys: Option<&sigv4::Keys>, scope: (&str, &str), form_pairs: &[(String, String)], transport: Transport<'_>, timeout: Duration) -> Result<net::client::Response, String> {
    let mut own;
    let client = match client {
        Some(client) => client,
        None => {
            own = super::http_get::client_for(url, transport.tls, transport.proxy)?;
            &mut own
        }
    };
    let body = form(form_pairs);
    let host = client.host_header();
    let path = url.path_and_query.split('?').next().unwrap_or("/");
    let signed = keys.map(|keys| Signed { keys, scope, method: "POST", host: &host, path, query: &[], body: body.as_bytes() });
    let headers = headers_to_send(vec![("Content-Type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string())], signed, transport.headers);
    client.post(&url.path_and_query, &headers, body.as_bytes(), timeout, ANSWER_BYTES_MAX).await.map_err(|e| format!("{}: {e}", super::http_get::format_url(url)))
}

/// An AWS XML error answer's code and message (EC2's `Response/Errors/Error`, STS'
/// `ErrorResponse/Error`, each with `Code` and `Message`), None when the body is not one.
pub fn xml_error(body: &[u8]) -> Option<(String, String)> {
    use crate::scrape::ec2_sd::instances::{child, child_text, children_named};
    let text = std::str::from_utf8(body).ok()?;
    let doc = roxmltree::Document::parse(text).ok()?;
    let root = doc.root_element();
    // The first error is the one told.
    let error = match root.tag_name().name() {
        "Response" => children_named(child(root, "Errors")?, "Error").next()?,
        "ErrorResponse" => children_named(root, "Error").next()?,
        _ => return None,
    };
    Some((child_text(error, "Code")?, child_text(error, "Message").unwrap_or_default()))
}

/// Why a request answered `status` failed, with AWS' error code and message when the body
/// carries them.
pub fn status_error(status: u16, body: &[u8]) -> String {
    match xml_error(body) {
        Some((code, message)) => format!("{}: {code}: {message}", super::http_get::status_error(status)),
        None => super::http_get::status_error(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ec2_and_sts_error_answers() {
        let ec2 = br#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error><Error><Code>Second</Code><Message>ignored</Message></Error></Errors><RequestID>0ad3b2d5</RequestID></Response>"#;
        assert_eq!(xml_error(ec2), Some(("UnauthorizedOperation".to_string(), "You are not authorized to perform this operation.".to_string())));
        let sts = br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>expired</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        assert_eq!(status_error(400, sts), "server returned HTTP status 400 Bad Request: InvalidIdentityToken: expired");
        assert_eq!(xml_error(b"<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>"), None);
        assert_eq!(xml_error(b"Service Unavailable"), None);
        assert_eq!(status_error(503, b"Service Unavailable"), "server returned HTTP status 503 Service Unavailable");
    }

    #[test]
    fn forms_escape_as_signed() {
        let pairs = [("Action".to_string(), "DescribeInstances".to_string()), ("Filter.1.Value.1".to_string(), "a b&c=d".to_string())];
        assert_eq!(form(&pairs), "Action=DescribeInstances&Filter.1.Value.1=a%20b%26c%3Dd");
    }
}
