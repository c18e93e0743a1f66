//! Scaleway's API as Prometheus reads it through Scaleway's Go client: query strings written
//! as Go writes them, a list read page by page, answers and failures worded as that client
//! words them, and the JSON values it reads with a meaning of their own (zones, enums whose
//! empty value stands for a default, IP addresses). Pure: no I/O.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

/// The most pages one list is read to: a bound on a count that never ends (the Go client's
/// is 2^32).
pub const PAGES_MAX: u64 = 10_000;

/// A query string as Go's `url.Values.Encode` writes it: keys sorted (values of one key in
/// the order given), each escaped as `url.QueryEscape` escapes it.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut sorted: Vec<&(&str, String)> = pairs.iter().collect();
    // A stable sort keeps a repeated key's values in order.
    sorted.sort_by_key(|(key, _)| *key);
    sorted.iter().map(|(key, value)| format!("{}={}", crate::scrape::discovery::query_escape(key), crate::scrape::discovery::query_escape(value))).collect::<Vec<_>>().join("&")
}

/// One answer of the API: its status, `Content-Type` and body.
pub struct Answer<'a> {
    pub status: u16,
    pub content_type: &'a str,
    pub body: &'a [u8],
}

/// A list's page: its items (under `key`) and `total_count`.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total_count: u64,
}

/// The status line's text as Go's client keeps it (`403 Forbidden`).
fn status_text(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("{status} {reason}").trim_end().to_string()
}

/// Whether the Go client reads a body of `content_type` as JSON. It wants
/// `application/json…`; an answer with no content type at all is read as JSON here too.
fn is_json(content_type: &str) -> bool {
    content_type.is_empty() || content_type.starts_with("application/json")
}

/// The page of `T` listed under `key` that a 2xx answer holds, or the failure the answer is,
/// in the Go client's words.
pub fn page<T: DeserializeOwned>(answer: &Answer<'_>, key: &str) -> Result<Page<T>, String> {
    if !(200..300).contains(&answer.status) {
        return Err(response_error(answer));
    }
    // An empty answer is not read: a page of nothing.
    if answer.body.is_empty() {
        return Ok(Page { items: Vec::new(), total_count: 0 });
    }
    if !is_json(answer.content_type) {
        return Err(format!("scaleway-sdk-go: could not handle {} response body with <nil> result type", answer.content_type));
    }
    let unreadable = |e: String| format!("scaleway-sdk-go: could not parse {} response body: {e}", if answer.content_type.is_empty() { "application/json" } else { answer.content_type });
    let mut value: serde_json::Value = serde_json::from_slice(answer.body).map_err(|e| unreadable(e.to_string()))?;
    let Some(object) = value.as_object_mut() else {
        return Err(unreadable("json: cannot unmarshal a value that is not an object into the list's answer".to_string()));
    };
    let total_count = match object.remove("total_count") {
        None | Some(serde_json::Value::Null) => 0,
        Some(count) => serde_json::from_value::<u64>(count).map_err(|e| unreadable(format!("total_count: {e}")))?,
    };
    let items = match object.remove(key) {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(list) => serde_json::from_value::<Vec<Option<T>>>(list).map_err(|e| unreadable(format!("{key}: {e}")))?.into_iter().flatten().collect(),
    };
    Ok(Page { items, total_count })
}

/// An error answer's fields, as the Go client reads them.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorAnswer {
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    message: String,
    #[serde(rename = "type", deserialize_with = "crate::scrape::discovery::null_as_default")]
    kind: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    resource: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    resource_id: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    fields: std::collections::BTreeMap<String, Vec<String>>,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    details: Vec<ErrorDetail>,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    method: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    reason: String,
}

/// One detail of a standard error (`permissions_denied`, `invalid_arguments`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ErrorDetail {
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    resource: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    action: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    argument_name: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    reason: String,
    #[serde(deserialize_with = "crate::scrape::discovery::null_as_default")]
    help_message: String,
}

/// A refused request in the Go client's words: its standard errors (denied authentication,
/// insufficient permissions, a resource not found, invalid arguments) by their `type`, else
/// `http error <status>` with the resource, message and fields it names
/// (`scaleway-sdk-go: http error 403 Forbidden: ...`).
pub fn response_error(answer: &Answer<'_>) -> String {
    let status = status_text(answer.status);
    let read = if is_json(answer.content_type) { serde_json::from_slice::<ErrorAnswer>(answer.body).ok() } else { None };
    let Some(error) = read else {
        return format!("scaleway-sdk-go: http error {status}: {status}");
    };
    match error.kind.as_str() {
        "denied_authentication" => {
            let method = match error.method.as_str() {
                "unknown_method" => "unknown method",
                "jwt" => "JWT",
                "api_key" => "API key",
                _ => "",
            };
            let reason = match error.reason.as_str() {
                "unknown_reason" => "unknown reason".to_string(),
                "invalid_argument" => format!("invalid {method} format or empty value"),
                "not_found" => format!("{method} does not exist"),
                "expired" => format!("{method} is expired"),
                _ => String::new(),
            };
            return format!("scaleway-sdk-go: denied authentication: {reason}");
        }
        "permissions_denied" => {
            let details: Vec<String> = error.details.iter().map(|d| format!("{} {}", d.action, d.resource)).collect();
            return format!("scaleway-sdk-go: insufficient permissions: {}", details.join("; "));
        }
        "not_found" => return format!("scaleway-sdk-go: resource {} with ID {} is not found", error.resource, error.resource_id),
        "invalid_arguments" => {
            let details: Vec<String> = error
                .details
                .iter()
                .map(|d| {
                    let reason = match d.reason.as_str() {
                        "unknown" => " is invalid for unexpected reason",
                        "required" => " is required",
                        "format" => " is wrongly formatted",
                        "constraint" => " does not respect constraint",
                        _ => "",
                    };
                    let help = if d.help_message.is_empty() { String::new() } else { format!(", {}", d.help_message) };
                    format!("{}{reason}{help}", d.argument_name)
                })
                .collect();
            return format!("scaleway-sdk-go: invalid argument(s): {}", details.join("; "));
        }
        _ => {}
    }
    let mut text = format!("scaleway-sdk-go: http error {status}");
    if !error.resource.is_empty() {
        text.push_str(&format!(": resource {}", error.resource));
    }
    if !error.message.is_empty() {
        text.push_str(&format!(": {}", error.message));
    }
    if !error.fields.is_empty() {
        // Go's %v of a map: sorted keys, `map[k:[v1 v2]]`.
        let fields: Vec<String> = error.fields.iter().map(|(k, v)| format!("{k}:[{}]", v.join(" "))).collect();
        text.push_str(&format!(": map[{}]", fields.join(" ")));
    }
    text
}

/// How many pages a list has, from its first page, as the Go client counts them: the total
/// (`total_count`) over the first page's length, rounded up. A list is read from `page=1` up
/// to this count.
pub fn page_count(first: &Page<impl Sized>) -> u64 {
    let length = first.items.len() as u64;
    if length == 0 {
        return 0;
    }
    first.total_count.div_ceil(length)
}

/// A zone as the Go client reads it: `par1` and `ams1` are their new names, anything else
/// must have a zone's form; an empty one stays empty.
pub fn zone<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    match text.as_str() {
        "" => Ok(text),
        "par1" => Ok("fr-par-1".to_string()),
        "ams1" => Ok("nl-ams-1".to_string()),
        _ if super::config::is_zone(&text) => Ok(text),
        _ => Err(serde::de::Error::custom("scaleway-sdk-go: bad zone format, available zones are: fr-par-1, fr-par-2, fr-par-3, nl-ams-1, nl-ams-2, nl-ams-3, pl-waw-1, pl-waw-2, pl-waw-3, it-mil-1")),
    }
}

/// The region of `zone` (`fr-par` of `fr-par-1`), or Go's words when it has no zone's form.
pub fn region_of(zone: &str) -> Result<String, String> {
    if !super::config::is_zone(zone) {
        return Err(format!("invalid zone '{zone}'"));
    }
    Ok(zone.rsplit_once('-').map_or("", |(region, _)| region).to_string())
}

/// An enum of the Go client read as it reads one: a value written empty (or `null`) is the
/// enum's default; a value not written at all stays empty (the field's `#[serde(default)]`).
pub fn enum_or<'de, D: Deserializer<'de>>(deserializer: D, default: &str) -> Result<String, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    Ok(if text.is_empty() { default.to_string() } else { text })
}

/// An IP address as Go's `net.IP` reads and then writes it: `<nil>` for none (not written,
/// null or empty), an IPv4-mapped IPv6 address as IPv4, IPv6 in its shortest form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoIp(pub String);

impl Default for GoIp {
    fn default() -> Self {
        GoIp(NO_IP.to_string())
    }
}

impl<'de> Deserialize<'de> for GoIp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        ip_text(&text).map(GoIp).map_err(serde::de::Error::custom)
    }
}

/// `text` as Go writes the `net.IP` it reads.
pub fn ip_text(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(NO_IP.to_string());
    }
    let address: std::net::IpAddr = text.parse().map_err(|_| format!("invalid IP address: {text}"))?;
    Ok(match address {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or_else(|| v6.to_string(), |v4| v4.to_string()),
        v4 => v4.to_string(),
    })
}

/// How Go writes a `net.IP` that holds nothing.
pub const NO_IP: &str = "<nil>";

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &'static str, body: &'static str) -> Answer<'static> {
        Answer { status, content_type, body: body.as_bytes() }
    }

    #[test]
    fn queries_are_written_as_go_writes_them() {
        let pairs = [("page", "1".to_string()), ("order", "creation_date_desc".to_string()), ("tags", "a b,c".to_string()), ("name", "web/1".to_string()), ("page", "2".to_string())];
        assert_eq!(query(&pairs), "name=web%2F1&order=creation_date_desc&page=1&page=2&tags=a+b%2Cc");
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn pages_are_read_and_counted_as_the_go_client_counts_them() {
        let first = page::<serde_json::Value>(&answer(200, "application/json; charset=utf-8", r#"{"servers": [{"id": 1}, null, {"id": 2}], "total_count": 5}"#), "servers").expect("a page");
        assert_eq!((first.items.len(), first.total_count, page_count(&first)), (2, 5, 3));
        let none = page::<serde_json::Value>(&answer(200, "", r#"{"servers": null}"#), "servers").expect("a page");
        assert_eq!((none.items.len(), page_count(&none)), (0, 0));
        assert_eq!(page::<serde_json::Value>(&answer(200, "text/plain", "x"), "servers").err(), Some("scaleway-sdk-go: could not handle text/plain response body with <nil> result type".to_string()));
        let bad = page::<serde_json::Value>(&answer(200, "application/json", r#"{"servers": 7}"#), "servers").expect_err("not a list");
        assert!(bad.starts_with("scaleway-sdk-go: could not parse application/json response body: servers: invalid type"), "{bad}");
    }

    #[test]
    fn failures_are_worded_as_the_go_client_words_them() {
        for (status, content_type, body, expected) in [
            (401, "application/json", r#"{"message": "authentication is denied", "method": "api_key", "reason": "not_found", "type": "denied_authentication"}"#, "scaleway-sdk-go: denied authentication: API key does not exist"),
            (403, "application/json", r#"{"details": [{"action": "read", "resource": "servers"}], "message": "insufficient permissions", "type": "permissions_denied"}"#, "scaleway-sdk-go: insufficient permissions: read servers"),
            (404, "application/json", r#"{"message": "resource is not found", "resource": "instance_zone", "resource_id": "xx-abc-9", "type": "not_found"}"#, "scaleway-sdk-go: resource instance_zone with ID xx-abc-9 is not found"),
            (400, "application/json", r#"{"details": [{"argument_name": "page", "reason": "constraint", "help_message": "must be positive"}], "type": "invalid_arguments"}"#, "scaleway-sdk-go: invalid argument(s): page does not respect constraint, must be positive"),
            (400, "application/json", r#"{"message": "Validation Error", "type": "invalid_request_error", "fields": {"tags": ["bad", "worse"]}}"#, "scaleway-sdk-go: http error 400 Bad Request: Validation Error: map[tags:[bad worse]]"),
            (401, "application/json", r#"{"message": "bad token id", "resource": "server"}"#, "scaleway-sdk-go: http error 401 Unauthorized: resource server: bad token id"),
            (502, "text/html", "<html>down</html>", "scaleway-sdk-go: http error 502 Bad Gateway: 502 Bad Gateway"),
        ] {
            assert_eq!(page::<serde_json::Value>(&answer(status, content_type, body), "servers").err().as_deref(), Some(expected), "{status} {body}");
        }
    }

    #[test]
    fn zones_enums_and_addresses_are_read_as_the_go_client_reads_them() {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Fields {
            #[serde(deserialize_with = "zone")]
            zone: String,
            address: GoIp,
            #[serde(deserialize_with = "state")]
            state: String,
        }
        fn state<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
            enum_or(d, "running")
        }
        let read = |json: &str| serde_json::from_str::<Fields>(json).map(|f| (f.zone, f.address.0, f.state)).map_err(|e| e.to_string());
        assert_eq!(read(r#"{"zone": "par1", "address": "::ffff:10.0.0.1", "state": ""}"#), Ok(("fr-par-1".into(), "10.0.0.1".into(), "running".into())));
        assert_eq!(read(r#"{"zone": null, "address": "2001:0bc8:0630:1e1c:0:0:0:1", "state": null}"#), Ok(("".into(), "2001:bc8:630:1e1c::1".into(), "running".into())));
        assert_eq!(read(r#"{"address": null, "state": "stopped"}"#), Ok(("".into(), "<nil>".into(), "stopped".into())));
        assert_eq!(read("{}"), Ok(("".into(), "<nil>".into(), "".into())));
        assert!(read(r#"{"zone": "paris"}"#).expect_err("bad zone").starts_with("scaleway-sdk-go: bad zone format, available zones are: fr-par-1"));
        assert!(read(r#"{"address": "10.0.0"}"#).expect_err("bad address").starts_with("invalid IP address: 10.0.0"));
        assert_eq!(region_of("nl-ams-1"), Ok("nl-ams".to_string()));
        assert_eq!(region_of(""), Err("invalid zone ''".to_string()));
    }
}
