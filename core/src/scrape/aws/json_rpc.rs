//! AWS' JSON 1.1 protocol, which Lightsail and ECS speak: one `POST /` per call whose
//! `X-Amz-Target` header names the operation (`Lightsail_20161128.GetInstances`), a JSON body
//! of `application/x-amz-json-1.1`, signed with Signature Version 4 for the service, and a
//! JSON answer; an error answer names its code in `__type` (or `code`, or the
//! `X-Amzn-ErrorType` header), which may carry a namespace before `#` and a `:` suffix.

use std::time::Duration;

use super::{headers_to_send, sigv4, Signed, Transport, ANSWER_BYTES_MAX};
use crate::scrape::config::Url;

/// Why a call has no answer: AWS' error code when it named one (None: the transport failed,
/// or the answer was not AWS'), and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: Option<String>,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<String> for CallError {
    fn from(message: String) -> Self {
        CallError { code: None, message }
    }
}

/// One JSON 1.1 call: `target` (`Service_Version.Operation`) with `body` to `endpoint`'s URL
/// over its client (kept alive by the caller), signed for `region` and `service` (the
/// signing name).
pub async fn call(endpoint: &mut (Url, net::client::HttpClient), keys: &sigv4::Keys, scope: (&str, &str), target: &str, body: &serde_json::Value, transport: Transport<'_>, timeout: Duration) -> Result<serde_json::Value, CallError> {
    let (url, client) = endpoint;
    let body = body.to_string();
    let host = client.host_header();
    let path = url.path_and_query.split('?').next().unwrap_or("/");
    let signed = Signed { keys, scope, method: "POST", host: &host, path, query: &[], body: body.as_bytes() };
    let headers = headers_to_send(vec![("Content-Type".to_string(), "application/x-amz-json-1.1".to_string()), ("X-Amz-Target".to_string(), target.to_string())], Some(signed), transport.headers);
    let response = client.post(&url.path_and_query, &headers, body.as_bytes(), timeout, ANSWER_BYTES_MAX).await.map_err(|e| format!("{}: {e}", crate::scrape::http_get::format_url(url)))?;
    if response.status != 200 {
        return Err(call_error(&response));
    }
    serde_json::from_slice(&response.body).map_err(|e| CallError::from(format!("the answer to {target} is not JSON: {e}")))
}

/// A failed JSON answer (JSON 1.1 or REST-JSON) as an error: its HTTP status with the code
/// and message it names.
pub fn call_error(response: &net::client::Response) -> CallError {
    let header_code = response.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok());
    let (code, message) = json_error(&response.body, header_code);
    let status = crate::scrape::http_get::status_error(response.status);
    let message = match &code {
        Some(code) => format!("{status}: {code}: {message}"),
        None => status,
    };
    CallError { code, message }
}

/// A JSON 1.1 error answer's code and message; `header_code` is the `X-Amzn-ErrorType`
/// header's value, used when the body names none.
pub fn json_error(body: &[u8], header_code: Option<&str>) -> (Option<String>, String) {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let text = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
    let raw = text("__type").or_else(|| text("code")).or_else(|| header_code.map(str::to_string));
    // `aws.protocoltests#Code:http://internal.amazon.com/...` names `Code`.
    let code = raw.map(|raw| {
        let after = raw.rsplit_once('#').map_or(raw.as_str(), |(_, code)| code);
        after.split(':').next().unwrap_or(after).to_string()
    });
    let message = text("message").or_else(|| text("Message")).unwrap_or_default();
    (code.filter(|c| !c.is_empty()), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_codes_as_the_sdk_does() {
        let body = br#"{"__type":"com.amazonaws.ecs#AccessDeniedException","message":"not allowed"}"#;
        assert_eq!(json_error(body, None), (Some("AccessDeniedException".to_string()), "not allowed".to_string()));
        assert_eq!(json_error(br#"{"__type":"UnrecognizedClientException","Message":"bad token"}"#, None), (Some("UnrecognizedClientException".to_string()), "bad token".to_string()));
        assert_eq!(json_error(b"", Some("ThrottlingException:http://internal.amazon.com/coral/")), (Some("ThrottlingException".to_string()), String::new()));
        assert_eq!(json_error(b"Service Unavailable", None), (None, String::new()));
    }
}
