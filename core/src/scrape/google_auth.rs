//! Google's Application Default Credentials for `gce_sd_configs`, found as Go's
//! `golang.org/x/oauth2/google` finds them for Prometheus: the JSON file named by
//! `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's `application_default_credentials.json`
//! (under `CLOUDSDK_CONFIG`, else `~/.config/gcloud`), else the metadata server of the VM
//! (`GCE_METADATA_HOST`, else `169.254.169.254`).
//!
//! A `service_account` file signs an RS256 JWT with its private key (PKCS#8) and trades it at
//! its `token_uri` for an access token (RFC 7523's JWT bearer grant, the scope asked);
//! an `authorized_user` file (gcloud's login) trades its refresh token; the metadata server
//! gives the VM's service account's token. Other kinds (`external_account`,
//! `impersonated_service_account`) are refused naming them. A token is kept until a minute
//! before it expires.

use std::path::PathBuf;
use std::time::Duration;

use crate::scrape::config::Url;
use crate::scrape::discovery::query_escape;

/// A token is asked again this long before it expires.
const RENEW_BEFORE_MS: i64 = 60_000;
/// The most one token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a JWT assertion is valid (Google's maximum).
const ASSERTION_LIFETIME_S: i64 = 3600;
/// Google's token endpoint, for files that do not name theirs.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// An access token and when to ask for another.
#[derive(Clone)]
pub struct Token {
    /// The `Authorization` header's value.
    pub header: String,
    pub renew_at_ms: i64,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("renew_at_ms", &self.renew_at_ms).finish_non_exhaustive()
    }
}

/// What a credentials file holds (the keys read here).
#[derive(serde::Deserialize)]
struct CredentialsFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    refresh_token: String,
}

/// A token endpoint's answer.
#[derive(serde::Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// A token for `scope`, from the first source of the module's list; `env` reads the
/// environment (the process's, or a test's).
pub async fn token(scope: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Token, String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let named = var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from);
    let well_known = var("CLOUDSDK_CONFIG").map(PathBuf::from).or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".config/gcloud"))).map(|dir| dir.join("application_default_credentials.json"));
    let file = match (named, well_known) {
        (Some(path), _) => Some(path),
        (None, Some(path)) if path.is_file() => Some(path),
        _ => None,
    };
    match file {
        Some(path) => {
            let text = std::fs::read(&path).map_err(|e| format!("google credentials {}: {e}", path.display()))?;
            let file: CredentialsFile = serde_json::from_slice(&text).map_err(|e| format!("google credentials {}: {e}", path.display()))?;
            from_file(&file, scope).await.map_err(|e| format!("google credentials {}: {e}", path.display()))
        }
        None => from_metadata(scope, var("GCE_METADATA_HOST").as_deref()).await.map_err(|e| format!("no google credentials file, and the metadata server gave no token: {e}")),
    }
}

async fn from_file(file: &CredentialsFile, scope: &str) -> Result<Token, String> {
    let token_uri = if file.token_uri.is_empty() { TOKEN_URI } else { file.token_uri.as_str() };
    let form = match file.kind.as_str() {
        "service_account" => {
            let now_s = crate::api::params::now_ms() / 1000;
            let assertion = signed_assertion(file, scope, token_uri, now_s)?;
            format!("grant_type={}&assertion={}", query_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"), query_escape(&assertion))
        }
        "authorized_user" => format!(
            "grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}",
            query_escape(&file.refresh_token),
            query_escape(&file.client_id),
            query_escape(&file.client_secret)
        ),
        "" => return Err("no \"type\"".into()),
        other => return Err(format!("credentials of type {other:?} are not supported (service_account and authorized_user are)")),
    };
    let url = Url::parse(token_uri).map_err(|e| format!("token_uri: {e}"))?;
    let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()), ("Accept".to_string(), "application/json".to_string())];
    let tls = net::client::client_tls_config(None, None, false).map(|config| net::client::ClientTls { config, server_name: None }).map_err(|e| e.to_string());
    let mut client = crate::scrape::http_get::client_for(&url, &tls, &Default::default())?;
    let response = client.post(&url.path_and_query, &headers, form.as_bytes(), REQUEST_TIMEOUT, 1 << 20).await.map_err(|e| format!("{token_uri}: {e}"))?;
    token_from(response.status, &response.body).map_err(|e| format!("{token_uri}: {e}"))
}

/// The RS256 JWT a service account trades for a token.
fn signed_assertion(file: &CredentialsFile, scope: &str, audience: &str, now_s: i64) -> Result<String, String> {
    use base64::Engine;
    let url_base64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    if file.client_email.is_empty() {
        return Err("service account without client_email".into());
    }
    let der = pem_body(&file.private_key, "PRIVATE KEY").ok_or("private_key is not a PEM \"PRIVATE KEY\" (PKCS#8)")?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| format!("private_key: {e}"))?;
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if !file.private_key_id.is_empty() {
        header["kid"] = serde_json::Value::String(file.private_key_id.clone());
    }
    let claims = serde_json::json!({"iss": file.client_email, "scope": scope, "aud": audience, "iat": now_s, "exp": now_s + ASSERTION_LIFETIME_S});
    let signing_input = format!("{}.{}", url_base64(header.to_string().as_bytes()), url_base64(claims.to_string().as_bytes()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(&ring::signature::RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), signing_input.as_bytes(), &mut signature).map_err(|_| "cannot sign the assertion".to_string())?;
    Ok(format!("{signing_input}.{}", url_base64(&signature)))
}

/// The DER bytes of the PEM block `label` in `text`.
fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let body: String = text.get(start..stop)?.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The VM's service account's token from the metadata server.
async fn from_metadata(scope: &str, host: Option<&str>) -> Result<Token, String> {
    let host = host.unwrap_or("169.254.169.254");
    let url = Url::parse(&format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}", query_escape(scope))).map_err(|e| format!("GCE_METADATA_HOST: {e}"))?;
    let mut client = net::client::HttpClient::new(url.host.clone(), url.port, None);
    let headers = [("Metadata-Flavor".to_string(), "Google".to_string())];
    let response = client.get(&url.path_and_query, &headers, Duration::from_secs(2), 1 << 20).await.map_err(|e| format!("{host}: {e}"))?;
    token_from(response.status, &response.body).map_err(|e| format!("{host}: {e}"))
}

fn token_from(status: u16, body: &[u8]) -> Result<Token, String> {
    if status != 200 {
        // OAuth errors are JSON with `error` and `error_description`.
        let detail = serde_json::from_slice::<serde_json::Value>(body).ok().map(|v| format!("{} {}", v["error"].as_str().unwrap_or(""), v["error_description"].as_str().unwrap_or("")).trim().to_string()).filter(|d| !d.is_empty());
        let status = crate::scrape::http_get::status_error(status);
        return Err(detail.map_or(status.clone(), |d| format!("{status}: {d}")));
    }
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(|e| format!("cannot read the token: {e}"))?;
    if answer.access_token.is_empty() {
        return Err("the answer has no access_token".into());
    }
    let kind = if answer.token_type.is_empty() || answer.token_type.eq_ignore_ascii_case("bearer") { "Bearer".to_string() } else { answer.token_type };
    let now = crate::api::params::now_ms();
    // Without expires_in, asked again in an hour (Google's tokens last that long).
    let lifetime_ms = answer.expires_in.unwrap_or(3600).saturating_mul(1000);
    Ok(Token { header: format!("{kind} {}", answer.access_token), renew_at_ms: now.saturating_add(lifetime_ms).saturating_sub(RENEW_BEFORE_MS) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tokens_and_errors() {
        let token = token_from(200, br#"{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}"#).expect("token");
        assert_eq!(token.header, "Bearer ya29.x");
        let now = crate::api::params::now_ms();
        assert!((now + 3_538_000..=now + 3_540_000).contains(&token.renew_at_ms), "{token:?}");
        assert!(!format!("{token:?}").contains("ya29"), "the token stays out of Debug");
        assert_eq!(token_from(400, br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#).err().as_deref(), Some("server returned HTTP status 400 Bad Request: invalid_grant Invalid JWT Signature."));
        assert!(token_from(200, br#"{"access_token":""}"#).is_err());
    }

    #[test]
    fn pem_bodies_are_found() {
        assert_eq!(pem_body("junk\n-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n", "PRIVATE KEY"), Some(vec![0, 1, 2, 3]));
        assert_eq!(pem_body("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----", "PRIVATE KEY"), None);
    }
}
