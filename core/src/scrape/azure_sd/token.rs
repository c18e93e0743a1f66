//! Resource Manager tokens, as the Azure SDK's credentials get them for Prometheus: OAuth (a
//! client secret), ManagedIdentity and WorkloadIdentity (`fetch`). As Prometheus gives the SDK's
//! token requests none of the entry's HTTP client settings, they use the system's roots and the
//! environment's proxy.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::config::{Authentication, Cloud};
use crate::scrape::config::Url;
use crate::scrape::discovery::query_escape;
use crate::scrape::http_get;
use crate::scrape::proxy::ProxyChoice;

/// The instance metadata service's token endpoint, fixed for users as in the Azure SDK.
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// The metadata service's API version the Azure SDK asks.
const IMDS_API_VERSION: &str = "2018-02-01";
/// The client assertion type of a federated token (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long before its expiry a token is renewed, at most: it is kept until 5 minutes before
/// it expires (half its lifetime when shorter), as the SDK's bearer token policy renews it.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The largest token answer read.
const ANSWER_BYTES_MAX: usize = 1 << 20;
/// The largest federated token file read.
const ASSERTION_BYTES_MAX: u64 = 1 << 20;

/// A token: the `Authorization` header's value and when to ask again.
pub struct Token {
    pub header: String,
    pub renew_at: Instant,
}

impl std::fmt::Debug for Token {
    /// When it is renewed (the token stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("renew_at", &self.renew_at).finish_non_exhaustive()
    }
}

/// Where tokens are asked: Azure AD's authority host (the cloud's, or a test's) and the
/// metadata service's token endpoint.
#[derive(Debug, Clone)]
pub struct TokenEndpoints {
    pub authority: Url,
    pub imds: Url,
}

impl TokenEndpoints {
    /// The cloud's authority and the fixed metadata service.
    pub fn of(cloud: &Cloud) -> Result<TokenEndpoints, String> {
        Ok(TokenEndpoints { authority: Url::parse(cloud.authority)?, imds: Url::parse(IMDS_TOKEN_URL)? })
    }
}

/// What a token is asked with: the entry's method and tenant, the cloud's audience, where,
/// and how environment variables are read (the process's, or a test's).
pub struct TokenRequest<'a> {
    pub authentication: &'a Authentication,
    pub tenant_id: &'a str,
    pub audience: &'a str,
    pub endpoints: &'a TokenEndpoints,
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub timeout: Duration,
}

/// Asks a new token: OAuth (a client secret: Azure AD's client credentials grant, `POST
/// <authority><tenant>/oauth2/v2.0/token` with the scope `<audience>/.default`),
/// ManagedIdentity (`GET` of the instance metadata service's token endpoint with the
/// `Metadata: true` header, for the audience, and the user-assigned identity's `client_id`
/// if any) or WorkloadIdentity (the client credentials grant with a federated token file
/// as the client assertion).
pub async fn fetch(request: TokenRequest<'_>) -> Result<Token, String> {
    let scope = format!("{}/.default", request.audience);
    match request.authentication {
        Authentication::OAuth { client_id, client_secret } => {
            let form = [("client_id", client_id.as_str()), ("client_secret", client_secret.as_str()), ("grant_type", "client_credentials"), ("scope", &scope)];
            grant(&request, "ClientSecretCredential", request.tenant_id, &form).await
        }
        Authentication::WorkloadIdentity => {
            let named = |var: &str, what: &str| (request.env)(var).filter(|v| !v.is_empty()).ok_or_else(|| format!("WorkloadIdentityCredential: no {what} specified. Check pod configuration or set {var}"));
            let client_id = named("AZURE_CLIENT_ID", "client ID")?;
            let tenant_id = named("AZURE_TENANT_ID", "tenant ID")?;
            let file = named("AZURE_FEDERATED_TOKEN_FILE", "token file")?;
            let assertion = read_assertion(&file).map_err(|e| format!("WorkloadIdentityCredential: failed to read token file {file:?}: {e}"))?;
            let form = [("client_assertion", assertion.as_str()), ("client_assertion_type", JWT_BEARER), ("client_id", client_id.as_str()), ("grant_type", "client_credentials"), ("scope", &scope)];
            grant(&request, "WorkloadIdentityCredential", &tenant_id, &form).await
        }
        Authentication::ManagedIdentity { client_id } => managed_identity(&request, client_id.as_deref()).await,
    }
}

/// The federated token, trimmed of surrounding white space.
fn read_assertion(path: &str) -> Result<String, String> {
    use std::io::Read as _;
    let mut text = String::new();
    std::fs::File::open(path).and_then(|f| f.take(ASSERTION_BYTES_MAX).read_to_string(&mut text)).map_err(|e| e.to_string())?;
    let text = text.trim();
    if text.is_empty() {
        return Err("the file is empty".into());
    }
    Ok(text.to_string())
}

/// A client for a token endpoint: the system's roots and the environment's proxy, as the
/// Azure SDK's default transport.
fn client_for(url: &Url, env: &dyn Fn(&str) -> Option<String>) -> Result<net::client::HttpClient, String> {
    let tls = http_get::system_roots_tls();
    let proxy = ProxyChoice::from_settings(None, None, true, &BTreeMap::new(), &tls, env)?;
    http_get::client_for(url, &tls, &proxy)
}

/// Azure AD's client credentials grant with `form` (sorted by name, as Go encodes it).
async fn grant(request: &TokenRequest<'_>, credential: &str, tenant_id: &str, form: &[(&str, &str)]) -> Result<Token, String> {
    let base = &request.endpoints.authority;
    let path = format!("{}/{}/oauth2/v2.0/token", base.path_and_query.trim_end_matches('/'), path_escape(tenant_id));
    let url = Url { path_and_query: path, ..base.clone() };
    let shown = http_get::format_url(&url);
    let failed = |e: String| format!("{credential}: authentication failed: {e}");
    let body = form.iter().map(|(n, v)| format!("{}={}", query_escape(n), query_escape(v))).collect::<Vec<_>>().join("&");
    let headers = vec![
        ("Accept".to_string(), "application/json".to_string()),
        ("Content-Type".to_string(), "application/x-www-form-urlencoded; charset=utf-8".to_string()),
        ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))),
    ];
    let mut client = client_for(&url, request.env).map_err(|e| failed(format!("POST {shown}: {e}")))?;
    let response = client.post(&url.path_and_query, &headers, body.as_bytes(), request.timeout, ANSWER_BYTES_MAX).await.map_err(|e| failed(format!("POST {shown}: {e}")))?;
    token_of(&response, Instant::now()).map_err(|e| failed(format!("POST {shown}: {e}")))
}

/// The metadata service's token for the audience (`resource`), of the user-assigned
/// identity `client_id` if any.
async fn managed_identity(request: &TokenRequest<'_>, client_id: Option<&str>) -> Result<Token, String> {
    let base = &request.endpoints.imds;
    let mut query = vec![("api-version", IMDS_API_VERSION)];
    if let Some(client_id) = client_id {
        query.push(("client_id", client_id));
    }
    query.push(("resource", request.audience));
    let query = query.iter().map(|(n, v)| format!("{}={}", query_escape(n), query_escape(v))).collect::<Vec<_>>().join("&");
    let path = base.path_and_query.split('?').next().unwrap_or("/");
    let url = Url { path_and_query: format!("{path}?{query}"), ..base.clone() };
    let shown = http_get::format_url(&url);
    let failed = |e: String| format!("ManagedIdentityCredential: authentication failed: {e}");
    let headers = vec![
        ("Accept".to_string(), "application/json".to_string()),
        ("Metadata".to_string(), "true".to_string()),
        ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))),
    ];
    let mut client = client_for(&url, request.env).map_err(|e| failed(format!("GET {shown}: {e}")))?;
    let response = client.get(&url.path_and_query, &headers, request.timeout, ANSWER_BYTES_MAX).await.map_err(|e| failed(format!("GET {shown}: {e}")))?;
    token_of(&response, Instant::now()).map_err(|e| failed(format!("GET {shown}: {e}")))
}

/// The token of an answer, or why there is none (the status, and Azure AD's error code and
/// description when it gives them).
fn token_of(response: &net::client::Response, now: Instant) -> Result<Token, String> {
    let fields = crate::scrape::oauth2::json_fields(&response.body);
    if !(200..300).contains(&response.status) {
        let reason = http::StatusCode::from_u16(response.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
        let detail = match &fields {
            Ok(crate::scrape::oauth2::Fields { error: Some(code), error_description: Some(description), .. }) => format!("{code}: {description}"),
            Ok(crate::scrape::oauth2::Fields { error: Some(code), .. }) => code.clone(),
            _ => String::from_utf8_lossy(&response.body).trim().chars().take(200).collect(),
        };
        return Err(format!("RESPONSE {} {reason}: {detail}", response.status));
    }
    let fields = fields?;
    if fields.access_token.is_empty() {
        return Err("the answer has no access_token".into());
    }
    // Without a lifetime the token is asked again for the next request.
    let lifetime = Duration::from_secs(fields.expires_in.unwrap_or(0).clamp(0, i64::from(i32::MAX)) as u64);
    let renew_at = now + lifetime - RENEW_BEFORE.min(lifetime / 2);
    // Resource Manager takes Azure AD's tokens as bearer tokens, whatever their type says.
    Ok(Token { header: format!("Bearer {}", fields.access_token), renew_at })
}

/// Go's `url.PathEscape`: a path segment with `/`, `;`, `,`, `?` and every byte outside the
/// unreserved and `$&+:=@` characters percent-encoded.
pub fn path_escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'$' | b'&' | b'+' | b':' | b'=' | b'@' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> net::client::Response {
        net::client::Response { status, headers: http::HeaderMap::new(), body: body.as_bytes().to_vec() }
    }

    #[test]
    fn answers_give_a_bearer_token_renewed_before_it_expires() {
        let now = Instant::now();
        // Azure AD's answer: expires_in a number.
        let token = token_of(&answer(200, r#"{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0"}"#), now).expect("a token");
        assert_eq!(token.header, "Bearer eyJ0");
        assert_eq!(token.renew_at, now + Duration::from_secs(3599 - 300));
        // The metadata service's: a string, and a short life renewed at half.
        let token = token_of(&answer(200, r#"{"access_token": "imds", "expires_in": "120", "expires_on": "1700000000", "resource": "https://management.core.windows.net/", "token_type": "Bearer"}"#), now).expect("a token");
        assert_eq!((token.header.as_str(), token.renew_at), ("Bearer imds", now + Duration::from_secs(60)));
        assert_eq!(token_of(&answer(200, r#"{"access_token": "x"}"#), now).expect("a token").renew_at, now, "no lifetime: asked again");
        assert!(!format!("{token:?}").contains("imds"));
    }

    #[test]
    fn refusals_say_the_status_and_azure_ads_error() {
        let now = Instant::now();
        let error = token_of(&answer(401, r#"{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}"#), now).expect_err("refused");
        assert_eq!(error, "RESPONSE 401 Unauthorized: invalid_client: AADSTS7000215: Invalid client secret provided.");
        let error = token_of(&answer(400, "Identity not found"), now).expect_err("refused");
        assert_eq!(error, "RESPONSE 400 Bad Request: Identity not found");
        assert!(token_of(&answer(200, r#"{"token_type": "Bearer"}"#), now).expect_err("no token").contains("no access_token"));
        assert!(token_of(&answer(200, "<html>"), now).is_err());
    }

    #[test]
    fn path_segments_are_escaped_as_go_escapes_them() {
        assert_eq!(path_escape("{resourceGroup}"), "%7BresourceGroup%7D");
        assert_eq!(path_escape("a b/c;d,e?f"), "a%20b%2Fc%3Bd%2Ce%3Ff");
        assert_eq!(path_escape("rg-1_x.y~z$&+:=@"), "rg-1_x.y~z$&+:=@");
    }
}
