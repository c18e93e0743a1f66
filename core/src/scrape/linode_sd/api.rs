//! Linode API v4 answers as Prometheus reads them through Linode's Go client (linodego): a
//! page of a list (`data`, and how many `pages` there are), and a failure as that client
//! words it, `[<code>] <message>` with the HTTP status as the code (or 2 for a failure of
//! the request itself, or of reading a taken answer). Pure: no I/O.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::scrape::discovery::null_as_default;

/// The content type the Go client asks for, and the one it wants on an error answer.
pub const JSON: &str = "application/json";
/// The most of an unexpected answer's body told in the message (the Go client tells it all).
const SHOWN_BODY_BYTES_MAX: usize = 512;

/// A failure, as the Go client's `Error`: a code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status, or 2 (the Go client's `ErrorFromError`) for anything else.
    pub code: u16,
    pub message: String,
}

impl ApiError {
    /// A failure that is no answer of the API's (the request, or a taken answer unreadable).
    pub fn other(message: impl Into<String>) -> Self {
        ApiError { code: 2, message: message.into() }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{:03}] {}", self.code, self.message)
    }
}

/// One page of a list; `null` reads as Go's zero value.
#[derive(Debug, Deserialize)]
#[serde(default, bound(deserialize = "T: DeserializeOwned"))]
pub struct Page<T> {
    #[serde(deserialize_with = "null_as_default")]
    pub data: Vec<T>,
    /// How many pages the list has (0 or 1: this is the only one).
    #[serde(deserialize_with = "null_as_default")]
    pub pages: i64,
}

impl<T> Default for Page<T> {
    fn default() -> Self {
        Page { data: Vec::new(), pages: 0 }
    }
}

/// The error list of a refused request.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorList {
    #[serde(deserialize_with = "null_as_default")]
    errors: Vec<Reason>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Reason {
    #[serde(deserialize_with = "null_as_default")]
    reason: String,
    #[serde(deserialize_with = "null_as_default")]
    field: String,
}

/// Whether `content_type` is one the Go client's HTTP library reads as JSON
/// (`application/…json…` or `text/…json…`).
fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    (media.starts_with("application/") || media.starts_with("text/")) && media.contains("json")
}

/// The page an answer holds, or the failure it is, as the Go client tells them apart: a 2xx
/// in JSON (or with no content type) is read; 204 is an empty page; otherwise the answer
/// fails with its status, its `errors` when it is JSON, else its unexpected content type.
pub fn page<T: DeserializeOwned>(status: u16, content_type: &str, body: &[u8]) -> Result<Page<T>, ApiError> {
    if status == 204 {
        return Ok(Page::default());
    }
    // The Go client takes an answer without a content type for the JSON it asked for.
    let read_as = if content_type.is_empty() { JSON } else { content_type };
    if (200..300).contains(&status) && is_json(read_as) {
        // Go's decoder refuses a list where it wants an object; serde would read it field by field.
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::other("json: cannot unmarshal array into Go value of type linodego.paginatedResponse"));
        }
        return serde_json::from_slice(body).map_err(|e| ApiError::other(e.to_string()));
    }
    let errors = if status > 399 && is_json(read_as) { serde_json::from_slice::<ErrorList>(body).map(|l| l.errors).unwrap_or_default() } else { Vec::new() };
    if status == 502 && content_type == "text/html" {
        return Err(ApiError { code: status, message: "Bad Gateway".to_string() });
    }
    if content_type != JSON {
        let shown = String::from_utf8_lossy(&body[..body.len().min(SHOWN_BODY_BYTES_MAX)]).into_owned();
        return Err(ApiError { code: status, message: format!("Unexpected Content-Type: Expected: {JSON}, Received: {content_type}\nResponse body: {shown}") });
    }
    if errors.is_empty() {
        // The Go client would take this for an empty list; an error answer that says nothing is
        // no list here, so that it does not empty the targets.
        return Err(ApiError { code: status, message: crate::scrape::http_get::status_error(status) });
    }
    let reasons: Vec<String> = errors.iter().map(|r| if r.field.is_empty() { r.reason.clone() } else { format!("[{}] {}", r.field, r.reason) }).collect();
    Err(ApiError { code: status, message: reasons.join("; ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(status: u16, content_type: &str, body: &str) -> Result<Page<serde_json::Value>, String> {
        page(status, content_type, body.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn pages_are_read_and_failures_worded_as_the_go_client_words_them() {
        let ok = page::<serde_json::Value>(200, "application/json; charset=utf-8", br#"{"data": [{"id": 1}, {"id": 2}], "page": 1, "pages": 3, "results": 2}"#).expect("a page");
        assert_eq!((ok.data.len(), ok.pages), (2, 3));
        assert_eq!(read(200, "", r#"{"data": null, "pages": null}"#).map(|p| (p.data.len(), p.pages)), Ok((0, 0)));
        assert_eq!(read(204, "", "").map(|p| p.data.len()), Ok(0));
        for (status, content_type, body, expected) in [
            (401, "application/json", r#"{"errors": [{"reason": "Invalid Token"}]}"#, "[401] Invalid Token"),
            (400, "application/json", r#"{"errors": [{"reason": "Must be an integer", "field": "page_size"}, {"reason": "second"}]}"#, "[400] [page_size] Must be an integer; second"),
            (502, "text/html", "<html>down</html>", "[502] Bad Gateway"),
            (401, "", "", "[401] Unexpected Content-Type: Expected: application/json, Received: \nResponse body: "),
            (500, "application/json; charset=utf-8", r#"{"errors": [{"reason": "x"}]}"#, "[500] Unexpected Content-Type: Expected: application/json, Received: application/json; charset=utf-8\nResponse body: {\"errors\": [{\"reason\": \"x\"}]}"),
            (200, "text/plain", "hello", "[200] Unexpected Content-Type: Expected: application/json, Received: text/plain\nResponse body: hello"),
            (500, "application/json", "{}", "[500] server returned HTTP status 500 Internal Server Error"),
        ] {
            assert_eq!(read(status, content_type, body).map(|_| ()), Err(expected.to_string()), "{status} {content_type} {body}");
        }
        let unreadable = read(200, "application/json", r#"{"data": 7}"#).expect_err("not a list");
        assert!(unreadable.starts_with("[002] invalid type"), "{unreadable}");
        assert!(read(200, "application/json", "[]").expect_err("a list").starts_with("[002] json: cannot unmarshal array"));
    }
}
