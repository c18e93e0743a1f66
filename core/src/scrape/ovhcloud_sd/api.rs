//! OVHcloud API requests as OVH's Go client (`go-ovh`) sends them: `X-Ovh-Application` on
//! each, and on those that need it a signature, `$1$` and the SHA-1 (ring's) of
//! `secret+consumer key+method+URL+body+timestamp`, the timestamp in the API's clock as read
//! once from `GET /auth/time`; answers outside 2xx become the Go client's `APIError` words.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::config::OvhcloudSd;
use crate::scrape::config::Url;
use crate::scrape::http_get::{self, Get};

/// How long one request may take (the Go client's `DefaultTimeout`).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(180);
/// The largest answer read (a list of names, or one server's details).
const BODY_BYTES_MAX: usize = 16 << 20;

/// The API's clock as learnt from `GET /auth/time`: how far the local clock is ahead of it.
#[derive(Debug, Clone, Copy)]
pub struct ServerClock {
    local_ahead_ns: i128,
}

impl ServerClock {
    /// The clock of a server that said `server_s` (Unix seconds) when the local clock read
    /// `local`.
    pub fn new(server_s: i64, local: SystemTime) -> ServerClock {
        ServerClock { local_ahead_ns: unix_ns(local) - i128::from(server_s) * 1_000_000_000 }
    }

    /// The API's time in Unix seconds when the local clock reads `local` (rounded down, as
    /// Go's `Time.Unix`).
    pub fn unix_s(self, local: SystemTime) -> i64 {
        i64::try_from((unix_ns(local) - self.local_ahead_ns).div_euclid(1_000_000_000)).unwrap_or(0)
    }
}

/// `time` in nanoseconds since the Unix epoch (negative before it).
fn unix_ns(time: SystemTime) -> i128 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_nanos() as i128,
        Err(before) => -(before.duration().as_nanos() as i128),
    }
}

/// The `X-Ovh-Signature` of a request: `$1$` and the hex SHA-1 of its parts joined by `+`.
pub fn signature(secret: &str, consumer_key: &str, method: &str, url: &str, body: &str, timestamp_s: i64) -> String {
    let signed = format!("{secret}+{consumer_key}+{method}+{url}+{body}+{timestamp_s}");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, signed.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("$1${hex}")
}

/// `parts` joined under `root` and cleaned as Go's `path.Join` does (`.` and empty segments
/// dropped, `..` climbing).
pub fn join_path(root: &str, parts: &[&str]) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in std::iter::once(root).chain(parts.iter().copied()).flat_map(|p| p.split('/')) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

/// An answer outside 2xx, as the Go client reads it.
#[derive(Debug, Default, Deserialize)]
struct ApiError {
    #[serde(default)]
    class: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Option<BTreeMap<String, String>>,
}

/// The Go client's words for an answer of `status` (`OVHcloud API error (status code 403):
/// Client::Forbidden: "This call has not been granted" (X-OVH-Query-Id: EU.ext-1)`).
pub fn api_error(status: u16, body: &[u8], query_id: Option<&str>) -> String {
    let error = serde_json::from_slice::<ApiError>(body).unwrap_or_else(|_| ApiError { message: String::from_utf8_lossy(body).into_owned(), ..ApiError::default() });
    let mut text = format!("OVHcloud API error (status code {status}): ");
    if !error.class.is_empty() {
        text.push_str(&error.class);
        text.push_str(": ");
    }
    let details = error.details.unwrap_or_default();
    let missing: Vec<&str> = ["unauthorizedActionsByAuthentication", "unauthorizedActionsByIAM"].iter().filter_map(|key| details.get(*key).map(String::as_str)).filter(|v| !v.is_empty()).collect();
    let mut message = error.message;
    if !missing.is_empty() {
        message.push_str(&format!(" (missing IAM permissions: {})", missing.join(", ")));
    }
    text.push_str(&format!("{message:?}"));
    if let Some(id) = query_id.filter(|id| !id.is_empty()) {
        text.push_str(&format!(" (X-OVH-Query-Id: {id})"));
    }
    text
}

/// One GET of `path` under the entry's endpoint (at `base`: the endpoint, or the tests'
/// mock), signed with the API's clock when `clock` is given: its 2xx answer's body.
pub async fn get_body(client: &mut net::client::HttpClient, sd: &OvhcloudSd, base: &Url, path: &str, clock: Option<ServerClock>) -> Result<Vec<u8>, String> {
    let prefix = if base.path_and_query == "/" { "" } else { base.path_and_query.as_str() };
    let location = Url { path_and_query: format!("{prefix}{path}"), ..base.clone() };
    let shown = http_get::format_url(&location);
    let mut headers = sd.access.request_headers("application/json", None, REQUEST_TIMEOUT).await?;
    headers.push(("X-Ovh-Application".to_string(), sd.application_key.clone()));
    if let Some(clock) = clock {
        let timestamp_s = clock.unix_s(SystemTime::now());
        // The URL as the Go client signs it: the endpoint as written, then the path.
        let signed_url = format!("{}{path}", sd.endpoint);
        headers.push(("X-Ovh-Timestamp".to_string(), timestamp_s.to_string()));
        headers.push(("X-Ovh-Consumer".to_string(), sd.consumer_key.clone()));
        headers.push(("X-Ovh-Signature".to_string(), signature(&sd.application_secret, &sd.consumer_key, "GET", &signed_url, "", timestamp_s)));
    }
    let request = Get { client, url: &location, shown: &shown, headers: &headers, timeout: REQUEST_TIMEOUT, body_bytes_max: BODY_BYTES_MAX, access: &sd.access };
    let response = http_get::get(request).await?;
    if !(200..300).contains(&response.status) {
        let query_id = response.headers.get("x-ovh-queryid").and_then(|v| v.to_str().ok());
        return Err(api_error(response.status, &response.body, query_id));
    }
    Ok(response.body)
}

/// `get_body`, decoded (an empty answer is `T`'s default, as the Go client leaves its target
/// untouched).
pub async fn get<T: DeserializeOwned + Default>(client: &mut net::client::HttpClient, sd: &OvhcloudSd, base: &Url, path: &str, clock: Option<ServerClock>) -> Result<T, String> {
    let body = get_body(client, sd, base, path, clock).await?;
    if body.is_empty() {
        return Ok(T::default());
    }
    serde_json::from_slice(&body).map_err(|e| format!("GET {path}: cannot decode the answer: {e}"))
}

/// The API's clock, from `GET /auth/time` (not signed; an empty answer is time 0, as the Go
/// client reads it).
pub async fn server_clock(client: &mut net::client::HttpClient, sd: &OvhcloudSd, base: &Url) -> Result<ServerClock, String> {
    let server_s: i64 = get(client, sd, base, "/auth/time", None).await?;
    Ok(ServerClock::new(server_s, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_is_the_sha1_of_the_parts_joined_by_plus() {
        // printf '%s' 'secret+consumer+GET+https://eu.api.ovh.com/1.0/vps++1700000000' | sha1sum
        assert_eq!(signature("secret", "consumer", "GET", "https://eu.api.ovh.com/1.0/vps", "", 1_700_000_000), "$1$0289d03f93f99aafa310a3b5451763ed782abe64");
    }

    #[test]
    fn the_api_clock_follows_the_local_one_from_where_the_server_said_it_was() {
        let local = UNIX_EPOCH + Duration::from_millis(1_700_000_100_500);
        let clock = ServerClock::new(1_700_000_000, local);
        assert_eq!(clock.unix_s(local), 1_700_000_000);
        assert_eq!(clock.unix_s(local + Duration::from_millis(999)), 1_700_000_000);
        assert_eq!(clock.unix_s(local + Duration::from_millis(1_000)), 1_700_000_001);
        assert_eq!(ServerClock::new(0, local).unix_s(local + Duration::from_secs(2)), 2, "an empty /auth/time answer is time 0");
    }

    #[test]
    fn paths_are_joined_as_go_does() {
        assert_eq!(join_path("/vps", &[&crate::scrape::discovery::query_escape("ns1.ip 1/2"), "ips"]), "/vps/ns1.ip+1%2F2/ips");
        assert_eq!(join_path("/dedicated/server", &[".."]), "/dedicated");
        assert_eq!(join_path("/vps", &["", "ips"]), "/vps/ips");
    }

    #[test]
    fn error_answers_are_worded_as_the_go_client_words_them() {
        let body = br#"{"class": "Client::Forbidden", "message": "This call has not been granted", "details": {"unauthorizedActionsByIAM": "vps:apiovh:get"}}"#;
        assert_eq!(api_error(403, body, Some("EU.ext-1.abc")), r#"OVHcloud API error (status code 403): Client::Forbidden: "This call has not been granted (missing IAM permissions: vps:apiovh:get)" (X-OVH-Query-Id: EU.ext-1.abc)"#);
        assert_eq!(api_error(400, b"bad application key\n", None), r#"OVHcloud API error (status code 400): "bad application key\n""#);
        assert_eq!(api_error(401, br#"{"message": "Invalid signature"}"#, Some("")), r#"OVHcloud API error (status code 401): "Invalid signature""#);
    }
}
