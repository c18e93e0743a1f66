//! Google's Application Default Credentials for `gce_sd_configs`, found as Go's
//! `golang.org/x/oauth2/google` finds them for Prometheus (`token`): a credentials file, else
//! the metadata server of the VM. Token answers are read as `oauth2` reads them; a token is
//! kept until 10 s before it expires.

use std::path::PathBuf;
use std::time::Duration;

use crate::scrape::config::Url;
use crate::scrape::discovery::query_escape;

mod aws_subject;
mod external_account;
#[cfg(test)]
mod federation_tests;
mod impersonation;

/// The most one token request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the metadata server may take to answer.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a JWT assertion is valid (Google's maximum).
const ASSERTION_LIFETIME_S: i64 = 3600;
/// Google's token endpoint, for files that do not name theirs.
const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The most of an answer read (as the Go library reads them).
const ANSWER_BYTES_MAX: usize = 1 << 20;

pub use super::oauth2::Token;

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
    // `external_account`'s keys.
    #[serde(default)]
    audience: String,
    #[serde(default)]
    subject_token_type: String,
    /// The STS endpoint (`token_uri` is the other kinds').
    #[serde(default)]
    token_url: String,
    #[serde(default)]
    service_account_impersonation_url: String,
    #[serde(default)]
    service_account_impersonation: Option<ImpersonationSettings>,
    #[serde(default)]
    credential_source: Option<external_account::CredentialSource>,
    #[serde(default)]
    workforce_pool_user_project: String,
    // `impersonated_service_account`'s keys (and its `service_account_impersonation_url`).
    #[serde(default)]
    delegates: Option<Vec<String>>,
    #[serde(default)]
    source_credentials: Option<Box<CredentialsFile>>,
}

/// `service_account_impersonation` of an `external_account` file.
#[derive(serde::Deserialize)]
struct ImpersonationSettings {
    #[serde(default)]
    token_lifetime_seconds: i64,
}

/// A token for `scope`, from the first source of: the JSON file named by
/// `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's
/// `~/.config/gcloud/application_default_credentials.json` (when it can be read), else the
/// metadata server of the VM (`from_metadata`). `env` reads the environment (the process's, or
/// a test's). Requests for a file's tokens go through the environment's proxy (`HTTPS_PROXY`,
/// `NO_PROXY`), as Go's default transport does; the metadata server's directly.
pub async fn token(scope: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Token, String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let file = match var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from) {
        Some(path) => Some((std::fs::read(&path).map_err(|e| format!("google credentials {}: {e}", path.display()))?, path)),
        // As Go: gcloud's file only when it can be read.
        None => var("HOME").map(|home| PathBuf::from(home).join(".config/gcloud/application_default_credentials.json")).and_then(|path| Some((std::fs::read(&path).ok()?, path))),
    };
    match file {
        Some((text, path)) => {
            let file: CredentialsFile = serde_json::from_slice(&text).map_err(|e| format!("google credentials {}: {e}", path.display()))?;
            let tls = crate::scrape::http_get::system_roots_tls();
            let proxy = super::proxy::ProxyChoice::from_settings(None, None, true, &Default::default(), &tls, env)?;
            from_file(&file, scope, &Http { proxy, tls }, env).await.map_err(|e| format!("google credentials {}: {e}", path.display()))
        }
        None => from_metadata(scope, var("GCE_METADATA_HOST").as_deref()).await.map_err(|e| format!("no google credentials file, and the metadata server gave no token: {e}")),
    }
}

/// The HTTP of a credentials file's requests: the environment's proxy, the system's roots.
struct Http {
    proxy: super::proxy::ProxyChoice,
    tls: Result<net::client::ClientTls, String>,
}

/// The methods the credentials' requests use.
#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
}

impl Http {
    /// Sends one request to `location` (an absolute URL); errors name it.
    async fn send(&self, method: Method, location: &str, headers: &[(String, String)], body: &[u8]) -> Result<net::client::Response, String> {
        let url = Url::parse(location)?;
        let mut client = crate::scrape::http_get::client_for(&url, &self.tls, &self.proxy)?;
        let path = url.path_and_query.as_str();
        let sent = match method {
            Method::Get => client.get(path, headers, REQUEST_TIMEOUT, ANSWER_BYTES_MAX).await,
            Method::Post => client.post(path, headers, body, REQUEST_TIMEOUT, ANSWER_BYTES_MAX).await,
            Method::Put => client.put(path, headers, body, REQUEST_TIMEOUT, ANSWER_BYTES_MAX).await,
        };
        sent.map_err(|e| format!("{location}: {e}"))
    }
}

/// The error of an answer that is not a 2xx (as the Go library, which shows its body).
fn unless_success(location: &str, response: &net::client::Response) -> Result<(), String> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    let text: String = String::from_utf8_lossy(&response.body).trim().chars().take(200).collect();
    Err(format!("{location}: {}: {text}", crate::scrape::http_get::status_error(response.status)))
}

/// JSON as Go's `encoding/json` writes it: `&`, `<`, `>`, U+2028 and U+2029 escaped.
fn go_json(value: &impl serde::Serialize) -> Result<String, String> {
    let text = serde_json::to_string(value).map_err(|e| e.to_string())?;
    // These characters only occur inside strings, where the escapes mean the same.
    Ok(text.replace('&', "\\u0026").replace('<', "\\u003c").replace('>', "\\u003e").replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029"))
}

/// The token a credentials file gives for `scope`, by its `type`: a `service_account` file
/// signs an RS256 JWT with its private key (PKCS#8) and trades it at its `token_uri` for an
/// access token (RFC 7523's JWT bearer grant, the scope asked); an `authorized_user` file
/// (gcloud's login) trades its refresh token; an `external_account` file (Workload Identity
/// Federation) trades a subject token at Google's STS (`external_account`); an
/// `impersonated_service_account` file gets its `source_credentials`' token and trades it at
/// IAM (`impersonation`). Other kinds are refused naming them.
fn from_file<'a>(file: &'a CredentialsFile, scope: &'a str, http: &'a Http, env: &'a dyn Fn(&str) -> Option<String>) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Token, String>> + 'a>> {
    // Boxed: an `impersonated_service_account` holds another file.
    Box::pin(async move {
        match file.kind.as_str() {
            "service_account" | "authorized_user" => from_token_uri(file, scope, http).await,
            "external_account" => external_account::token(file, scope, http, env).await,
            "impersonated_service_account" => {
                let source = file.source_credentials.as_deref().filter(|_| !file.service_account_impersonation_url.is_empty());
                let source = source.ok_or("missing 'source_credentials' field or 'service_account_impersonation_url' in credentials")?;
                let source_token = from_file(source, scope, http, env).await.map_err(|e| format!("source_credentials: {e}"))?;
                let request = impersonation::Request { url: &file.service_account_impersonation_url, scope, delegates: file.delegates.as_deref().unwrap_or_default(), lifetime_s: 0 };
                impersonation::token(http, &request, &source_token).await
            }
            "" => Err("no \"type\"".into()),
            other => Err(format!("credentials of type {other:?} are not supported (service_account, authorized_user, external_account and impersonated_service_account are)")),
        }
    })
}

/// A `service_account`'s or `authorized_user`'s token, from its `token_uri`.
async fn from_token_uri(file: &CredentialsFile, scope: &str, http: &Http) -> Result<Token, String> {
    let token_uri = if file.token_uri.is_empty() { TOKEN_URI } else { file.token_uri.as_str() };
    let form = if file.kind == "service_account" {
        // Backdated as Go's jws does, for a clock running a little fast.
        let now_s = crate::api::params::now_ms() / 1000 - 10;
        let assertion = signed_assertion(file, scope, token_uri, now_s)?;
        format!("grant_type={}&assertion={}", query_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"), query_escape(&assertion))
    } else {
        format!("grant_type=refresh_token&refresh_token={}&client_id={}&client_secret={}", query_escape(&file.refresh_token), query_escape(&file.client_id), query_escape(&file.client_secret))
    };
    let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()), ("Accept".to_string(), "application/json".to_string())];
    let response = http.send(Method::Post, token_uri, &headers, form.as_bytes()).await?;
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
pub fn pem_body(text: &str, label: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text.get(start..)?.find(&end)?;
    let body: String = text.get(start..stop)?.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// The VM's service account's token from the metadata server (`GCE_METADATA_HOST`, else
/// `169.254.169.254`; 5 s, asked twice on a connection error or a 5xx answer).
async fn from_metadata(scope: &str, host: Option<&str>) -> Result<Token, String> {
    let host = host.unwrap_or("169.254.169.254");
    let url = Url::parse(&format!("http://{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}", query_escape(scope))).map_err(|e| format!("GCE_METADATA_HOST: {e}"))?;
    let headers = [("Metadata-Flavor".to_string(), "Google".to_string())];
    let mut last = String::new();
    // As Go's metadata client: a connection error or a 5xx is asked again.
    for _ in 0..2 {
        let mut client = net::client::HttpClient::new(url.host.clone(), url.port, None);
        match client.get(&url.path_and_query, &headers, METADATA_TIMEOUT, 1 << 20).await {
            Ok(response) if response.status < 500 => return token_from(response.status, &response.body).map_err(|e| format!("{host}: {e}")),
            Ok(response) => last = crate::scrape::http_get::status_error(response.status),
            Err(error) => last = error.to_string(),
        }
    }
    Err(format!("{host}: {last}"))
}

/// A token endpoint's answer (JSON, read as `oauth2` reads it), or its error named.
pub fn token_from(status: u16, body: &[u8]) -> Result<Token, String> {
    let fields = super::oauth2::json_fields(body);
    if status != 200 {
        // OAuth errors are JSON with `error` and `error_description`.
        let detail = fields.ok().map(|f| format!("{} {}", f.error.unwrap_or_default(), f.error_description.unwrap_or_default()).trim().to_string()).filter(|d| !d.is_empty());
        let status = crate::scrape::http_get::status_error(status);
        return Err(detail.map_or(status.clone(), |d| format!("{status}: {d}")));
    }
    super::oauth2::token_from(fields?, std::time::Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrape::fake_api::{run, serve, Seen};

    #[test]
    fn reads_tokens_and_errors() {
        let token = token_from(200, br#"{"access_token":"ya29.x","expires_in":"3599","token_type":"bearer"}"#).expect("token");
        assert_eq!(token.header, "Bearer ya29.x");
        let now = std::time::Instant::now();
        assert!(token.fresh(now) && !token.fresh(now + Duration::from_secs(3590)), "{token:?}");
        assert!(!format!("{token:?}").contains("ya29"), "the token stays out of Debug");
        assert_eq!(token_from(400, br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#).err().as_deref(), Some("server returned HTTP status 400 Bad Request: invalid_grant Invalid JWT Signature."));
        assert!(token_from(200, br#"{"access_token":""}"#).is_err());
    }

    /// A token endpoint that takes gcloud's refresh token.
    fn refresh_endpoint(request: &Seen) -> (u16, String) {
        let expected = "grant_type=refresh_token&refresh_token=1%2F%2Frefresh&client_id=client-1.apps.googleusercontent.com&client_secret=s3cr3t";
        if request.method == "POST" && request.path == "/token" && request.body == expected {
            return (200, r#"{"access_token":"ya29.user","expires_in":3599,"token_type":"Bearer"}"#.into());
        }
        (400, r#"{"error":"invalid_request"}"#.into())
    }

    #[test]
    fn gclouds_file_is_read_after_the_named_one_and_other_kinds_are_refused() {
        let (base, seen) = serve(refresh_endpoint);
        let home = tempfile::tempdir().expect("home");
        let gcloud = home.path().join(".config/gcloud");
        std::fs::create_dir_all(&gcloud).expect("dir");
        let user = serde_json::json!({"type": "authorized_user", "client_id": "client-1.apps.googleusercontent.com", "client_secret": "s3cr3t", "refresh_token": "1//refresh", "token_uri": format!("{base}/token")});
        std::fs::write(gcloud.join("application_default_credentials.json"), user.to_string()).expect("file");
        let named = home.path().join("named.json");
        // A kind Go knows and Metricstor does not (external_account is read: federation_tests).
        std::fs::write(&named, r#"{"type": "external_account_authorized_user", "audience": "x"}"#).expect("named");
        let ask = |vars: Vec<(&'static str, String)>| {
            let env = move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
            run(async move { token("https://www.googleapis.com/auth/compute.readonly", &env).await })
        };
        let home_text = home.path().display().to_string();
        assert_eq!(ask(vec![("HOME", home_text.clone())]).map(|t| t.header), Ok("Bearer ya29.user".to_string()));
        assert_eq!(seen.lock().map(|s| s.len()).unwrap_or_default(), 1);
        let refused = ask(vec![("HOME", home_text), ("GOOGLE_APPLICATION_CREDENTIALS", named.display().to_string())]);
        assert!(refused.is_err_and(|e| e.contains("\"external_account_authorized_user\" are not supported")), "the named file comes first");
    }

    #[test]
    fn pem_bodies_are_found() {
        assert_eq!(pem_body("junk\n-----BEGIN PRIVATE KEY-----\nAAEC\nAw==\n-----END PRIVATE KEY-----\n", "PRIVATE KEY"), Some(vec![0, 1, 2, 3]));
        assert_eq!(pem_body("-----BEGIN RSA PRIVATE KEY-----\nAAEC\n-----END RSA PRIVATE KEY-----", "PRIVATE KEY"), None);
    }
}
