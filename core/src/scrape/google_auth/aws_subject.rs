//! The subject token of an `external_account` with an AWS source (`environment_id` `aws1`), as
//! Go's `externalaccount` builds it: an STS `GetCallerIdentity` request signed with SigV4 (keys
//! and region from the environment, else from the EC2 metadata at the source's `url` and
//! `region_url`, with an IMDSv2 session token when `imdsv2_session_token_url` is set), written
//! as JSON (`url`, `method`, sorted `headers`) and query-escaped. The request is never sent.

use super::external_account::CredentialSource;
use super::{go_json, query_escape, Http, Method};
use crate::scrape::aws::sigv4::{self, Keys};

/// The request signed, for files that do not name theirs (`{region}` replaced).
const REGIONAL_CRED_VERIFICATION_URL_DEFAULT: &str = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
/// The header carrying the IMDSv2 session token to the metadata requests.
const IMDS_TOKEN_HEADER: &str = "X-aws-ec2-metadata-token";
/// The IMDSv2 session's lifetime asked (Go's).
const IMDS_SESSION_TTL_S: &str = "300";

/// The signed request as the STS expects it.
#[derive(serde::Serialize)]
struct SignedRequest {
    url: String,
    method: &'static str,
    headers: Vec<Header>,
}

#[derive(serde::Serialize)]
struct Header {
    key: String,
    value: String,
}

/// The subject token for `audience` (sent as `x-goog-cloud-target-resource`).
pub(super) async fn subject_token(source: &CredentialSource, audience: &str, http: &Http, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let env_region = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION"));
    let env_keys = match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Keys { access_key_id, secret_access_key, session_token: var("AWS_SESSION_TOKEN") }),
        _ => None,
    };
    let mut metadata_headers = Vec::new();
    // As Go: the IMDSv2 session is opened when the metadata is asked anything.
    if env_region.is_none() || env_keys.is_none() {
        if let Some(token) = imds_session_token(source, http).await? {
            metadata_headers.push((IMDS_TOKEN_HEADER.to_string(), token));
        }
    }
    let keys = match env_keys {
        Some(keys) => keys,
        None => metadata_keys(source, &metadata_headers, http).await?,
    };
    let region = match env_region {
        Some(region) => region,
        None => metadata_region(source, &metadata_headers, http).await?,
    };
    let template = if source.regional_cred_verification_url.is_empty() { REGIONAL_CRED_VERIFICATION_URL_DEFAULT } else { source.regional_cred_verification_url.as_str() };
    let amz_date = sigv4::amz_date(crate::api::params::now_ms());
    signed_caller_identity(&keys, &region, &template.replacen("{region}", &region, 1), audience, &amz_date)
}

/// The IMDSv2 session token (a PUT to `imdsv2_session_token_url`), when one is configured.
async fn imds_session_token(source: &CredentialSource, http: &Http) -> Result<Option<String>, String> {
    if source.imdsv2_session_token_url.is_empty() {
        return Ok(None);
    }
    let headers = [("X-aws-ec2-metadata-token-ttl-seconds".to_string(), IMDS_SESSION_TTL_S.to_string())];
    let response = http.send(Method::Put, &source.imdsv2_session_token_url, &headers, b"").await?;
    answer_text(&response, "session token").map(Some)
}

/// A metadata answer's text; anything but a 200 is an error naming `what` was asked.
fn answer_text(response: &net::client::Response, what: &str) -> Result<String, String> {
    let text = String::from_utf8_lossy(&response.body).into_owned();
    if response.status != 200 {
        let shown: String = text.trim().chars().take(200).collect();
        return Err(format!("unable to retrieve AWS {what}: {}: {shown}", crate::scrape::http_get::status_error(response.status)));
    }
    Ok(text)
}

/// The instance role's keys: its name at the source's `url`, then its keys at `url/name`.
async fn metadata_keys(source: &CredentialSource, headers: &[(String, String)], http: &Http) -> Result<Keys, String> {
    if source.url.is_empty() {
        return Err("unable to determine the AWS metadata server security credentials endpoint (credential_source url)".into());
    }
    let role = answer_text(&http.send(Method::Get, &source.url, headers, b"").await?, "role name")?;
    let location = format!("{}/{role}", source.url);
    let text = answer_text(&http.send(Method::Get, &location, headers, b"").await?, "security credentials")?;
    keys_from(&text)
}

/// Keys from the metadata's JSON, its names matched in any case as Go's `encoding/json` does.
fn keys_from(text: &str) -> Result<Keys, String> {
    let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| format!("AWS security credentials: {e}"))?;
    let field = |name: &str| {
        let value = fields.get(name).or_else(|| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value));
        value.and_then(|v| v.as_str()).unwrap_or_default().to_string()
    };
    let keys = Keys { access_key_id: field("AccessKeyID"), secret_access_key: field("SecretAccessKey"), session_token: Some(field("Token")).filter(|t| !t.is_empty()) };
    if keys.access_key_id.is_empty() {
        return Err("AWS security credentials: missing AccessKeyId".into());
    }
    if keys.secret_access_key.is_empty() {
        return Err("AWS security credentials: missing SecretAccessKey".into());
    }
    Ok(keys)
}

/// The region: the availability zone at `region_url` less its last letter.
async fn metadata_region(source: &CredentialSource, headers: &[(String, String)], http: &Http) -> Result<String, String> {
    if source.region_url.is_empty() {
        return Err("unable to determine AWS region (no AWS_REGION and no credential_source region_url)".into());
    }
    let zone = answer_text(&http.send(Method::Get, &source.region_url, headers, b"").await?, "region")?;
    let mut zone = zone.into_bytes();
    // As Go: one byte less, and nothing of a one-byte answer.
    zone.truncate(if zone.len() > 1 { zone.len() - 1 } else { 0 });
    Ok(String::from_utf8_lossy(&zone).into_owned())
}

/// A URL's parts as SigV4 signs them.
struct RequestParts {
    /// As written (Go's `URL.Host`): the `Host` header and the service's name.
    authority: String,
    /// `/` when empty, else cleaned as Go's `path.Clean` does.
    path: String,
    /// The query's pairs, decoded.
    query: Vec<(String, String)>,
}

/// `location`'s parts as signed.
fn request_parts(location: &str) -> Result<RequestParts, String> {
    crate::scrape::config::Url::parse(location)?;
    let rest = location.split_once("://").map_or("", |(_, rest)| rest).split('#').next().unwrap_or_default();
    let authority_len = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_len);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let path = if path.is_empty() { "/".to_string() } else { clean_path(path) };
    let mut pairs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| crate::api::params::percent_decode(text).map_err(|e| format!("regional_cred_verification_url {location}: {e}"));
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(RequestParts { authority: authority.to_string(), path, query: pairs })
}

/// An absolute path without empty, `.` and `..` segments, as Go's `path.Clean` writes it.
fn clean_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    format!("/{}", segments.join("/"))
}

/// The signed `GetCallerIdentity` request at `location`, as the subject token writes it.
fn signed_caller_identity(keys: &Keys, region: &str, location: &str, audience: &str, amz_date: &str) -> Result<String, String> {
    let RequestParts { authority, path, query } = request_parts(location)?;
    let mut headers = Vec::new();
    if !audience.is_empty() {
        headers.push(("X-Goog-Cloud-Target-Resource".to_string(), audience.to_string()));
    }
    // As Go: the service is the host's first label (`sts`).
    let service = authority.split('.').next().unwrap_or_default();
    let request = sigv4::Request { method: "POST", host: &authority, path: &path, query: &query, headers: &headers, body: b"", region, service, amz_date };
    let added = sigv4::sign(keys, &request);
    let mut all: Vec<Header> = headers.into_iter().chain(added).chain([("Host".to_string(), authority.clone())]).map(|(key, value)| Header { key, value }).collect();
    all.sort_by(|a, b| (&a.key, &a.value).cmp(&(&b.key, &b.value)));
    Ok(query_escape(&go_json(&SignedRequest { url: location.to_string(), method: "POST", headers: all })?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of the Go library's tests.
    fn go_test_keys() -> Keys {
        Keys { access_key_id: "ASIARD4OQDT6A77FR3CL".into(), secret_access_key: "Y8AfSaucF37G4PpvfguKZ3/l7Id4uocLXxX0+VTx".into(), session_token: Some("IQoJb3JpZ2luX2VjEIz//token".into()) }
    }

    fn decoded(token: &str) -> serde_json::Value {
        serde_json::from_str(&crate::api::params::percent_decode(token).expect("escaped")).expect("json")
    }

    #[test]
    fn signs_as_the_go_library_does() {
        let location = "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
        let mut keys = go_test_keys();
        // The Go library's vector (TestAWSv4Signature_PostRequestWithSecurityToken) signs with its long token.
        keys.session_token = Some(GO_TEST_SESSION_TOKEN.into());
        let token = signed_caller_identity(&keys, "us-east-2", location, "", "20200811T065522Z").expect("token");
        let request = decoded(&token);
        assert_eq!(request["url"], location);
        assert_eq!(request["method"], "POST");
        let keys_sent: Vec<&str> = request["headers"].as_array().expect("headers").iter().map(|h| h["key"].as_str().unwrap_or_default()).collect();
        assert_eq!(keys_sent, ["Authorization", "Host", "X-Amz-Date", "X-Amz-Security-Token"]);
        assert_eq!(request["headers"][0]["value"], "AWS4-HMAC-SHA256 Credential=ASIARD4OQDT6A77FR3CL/20200811/us-east-2/sts/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=73452984e4a880ffdc5c392355733ec3f5ba310d5e0609a89244440cadfe7a7a");
        assert_eq!(request["headers"][1]["value"], "sts.us-east-2.amazonaws.com");
        assert_eq!(request["headers"][2]["value"], "20200811T065522Z");
        assert!(token.contains("%5Cu0026Version"), "& written as Go writes it: {token}");
    }

    #[test]
    fn the_audience_is_signed_and_sent() {
        let audience = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/aws";
        let keys = Keys { session_token: None, ..go_test_keys() };
        let token = signed_caller_identity(&keys, "eu-west-1", "https://sts.eu-west-1.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15", audience, "20200811T065522Z").expect("token");
        let request = decoded(&token);
        let headers = request["headers"].as_array().expect("headers");
        assert_eq!(headers.iter().map(|h| h["key"].as_str().unwrap_or_default()).collect::<Vec<_>>(), ["Authorization", "Host", "X-Amz-Date", "X-Goog-Cloud-Target-Resource"]);
        assert!(headers[0]["value"].as_str().is_some_and(|v| v.contains("/20200811/eu-west-1/sts/aws4_request, SignedHeaders=host;x-amz-date;x-goog-cloud-target-resource, Signature=")));
        assert_eq!(headers[3]["value"], audience);
    }

    #[test]
    fn metadata_keys_are_read_in_any_case() {
        let keys = keys_from(r#"{"Code":"Success","AccessKeyId":"AKID","SecretAccessKey":"secret","Token":"session"}"#).expect("keys");
        assert_eq!((keys.access_key_id.as_str(), keys.secret_access_key.as_str(), keys.session_token.as_deref()), ("AKID", "secret", Some("session")));
        assert!(keys_from(r#"{"SecretAccessKey":"secret"}"#).is_err_and(|e| e.contains("AccessKeyId")));
        assert_eq!(clean_path("/a//b/./c/../"), "/a/b");
    }

    /// The Go library's test session token.
    const GO_TEST_SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEIz//////////wEaCXVzLWVhc3QtMiJGMEQCIH7MHX/Oy/OB8OlLQa9GrqU1B914+iMikqWQW7vPCKlgAiA/Lsv8Jcafn14owfxXn95FURZNKaaphj0ykpmS+Ki+CSq0AwhlEAAaDDA3NzA3MTM5MTk5NiIMx9sAeP1ovlMTMKLjKpEDwuJQg41/QUKx0laTZYjPlQvjwSqS3OB9P1KAXPWSLkliVMMqaHqelvMF/WO/glv3KwuTfQsavRNs3v5pcSEm4SPO3l7mCs7KrQUHwGP0neZhIKxEXy+Ls//1C/Bqt53NL+LSbaGv6RPHaX82laz2qElphg95aVLdYgIFY6JWV5fzyjgnhz0DQmy62/Vi8pNcM2/VnxeCQ8CC8dRDSt52ry2v+nc77vstuI9xV5k8mPtnaPoJDRANh0bjwY5Sdwkbp+mGRUJBAQRlNgHUJusefXQgVKBCiyJY4w3Csd8Bgj9IyDV+Azuy1jQqfFZWgP68LSz5bURyIjlWDQunO82stZ0BgplKKAa/KJHBPCp8Qi6i99uy7qh76FQAqgVTsnDuU6fGpHDcsDSGoCls2HgZjZFPeOj8mmRhFk1Xqvkbjuz8V1cJk54d3gIJvQt8gD2D6yJQZecnuGWd5K2e2HohvCc8Fc9kBl1300nUJPV+k4tr/A5R/0QfEKOZL1/k5lf1g9CREnrM8LVkGxCgdYMxLQow1uTL+QU67AHRRSp5PhhGX4Rek+01vdYSnJCMaPhSEgcLqDlQkhk6MPsyT91QMXcWmyO+cAZwUPwnRamFepuP4K8k2KVXs/LIJHLELwAZ0ekyaS7CptgOqS7uaSTFG3U+vzFZLEnGvWQ7y9IPNQZ+Dffgh4p3vF4J68y9049sI6Sr5d5wbKkcbm8hdCDHZcv4lnqohquPirLiFQ3q7B17V9krMPu3mz1cg4Ekgcrn/E09NTsxAqD8NcZ7C7ECom9r+X3zkDOxaajW6hu3Az8hGlyylDaMiFfRbBJpTIlxp7jfa7CxikNgNtEKLH9iCzvuSg2vhA==";
}
