//! STACKIT's service account key flow, as its Go SDK runs it for Prometheus: a JWT signed
//! RS512 with the private key (header `kid`, claims `iss`, `sub`, `aud` from the service
//! account key, a random `jti`, one hour of life) is traded at the token URL
//! (`grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`) for an access token, kept
//! until 5 s before the expiry its JWT names.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use super::config::{KeySources, KeyText, StackitSd};
use crate::scrape::config::Url;

/// Where tokens come from unless `STACKIT_TOKEN_BASEURL` says otherwise (the SDK's).
pub const TOKEN_URL: &str = "https://service-account.api.stackit.cloud/token";
/// How long an assertion is valid (the SDK's).
const ASSERTION_LIFETIME_S: i64 = 3_600;
/// A token this close to its expiry is replaced (the SDK's leeway).
const EXPIRY_LEEWAY_S: i64 = 5;
/// The largest token answer read.
const TOKEN_BYTES_MAX: usize = 1 << 20;
/// How much of a refused token answer's body is shown (the SDK's limit).
const ERROR_BODY_CHARS_MAX: usize = 500;

/// Reads an environment variable (`std::env::var`, or the tests' own).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// An access token and the Unix second it expires at, when its JWT says.
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: String,
    expires_at_s: Option<i64>,
}

impl Token {
    /// Whether it can still be sent at `now_s` (a token whose expiry cannot be read is used
    /// for one refresh only).
    pub fn fresh(&self, now_s: i64) -> bool {
        self.expires_at_s.is_some_and(|expires| now_s + EXPIRY_LEEWAY_S <= expires)
    }
}

/// The service account key (JSON; the SDK's `ServiceAccountKeyResponse`), as Go reads it
/// (field names in any case).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceAccountKey {
    #[serde(alias = "Credentials")]
    credentials: Option<KeyCredentials>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyCredentials {
    #[serde(alias = "Aud")]
    aud: String,
    #[serde(alias = "Iss")]
    iss: String,
    #[serde(alias = "Kid")]
    kid: String,
    #[serde(rename = "privateKey", alias = "PrivateKey")]
    private_key: Option<String>,
    #[serde(alias = "Sub")]
    sub: String,
}

/// The SDK's credentials file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CredentialsFile {
    #[serde(rename = "STACKIT_PRIVATE_KEY_PATH")]
    private_key_path: String,
    #[serde(rename = "STACKIT_PRIVATE_KEY")]
    private_key: String,
}

/// A new access token from `token_url` for the entry's keys.
pub async fn new_token(sd: &StackitSd, keys: &KeySources, token_url: &Url, now_s: i64, timeout: Duration, env: Env<'_>) -> Result<Token, String> {
    let assertion = assertion(keys, now_s, env)?;
    let form = format!("assertion={}&grant_type={}", crate::scrape::discovery::query_escape(&assertion), crate::scrape::discovery::query_escape("urn:ietf:params:oauth:grant-type:jwt-bearer"));
    let shown = crate::scrape::http_get::format_url(token_url);
    let mut client = sd.access.client(token_url).map_err(|e| format!("Post {shown:?}: {e}"))?;
    let headers = [("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()), ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION")))];
    let response = client.post(&token_url.path_and_query, &headers, form.as_bytes(), timeout, TOKEN_BYTES_MAX).await.map_err(|e| format!("Post {shown:?}: {e}"))?;
    if response.status != 200 {
        return Err(refused(response.status, &response.body));
    }
    #[derive(Deserialize)]
    struct Answer {
        #[serde(default)]
        access_token: String,
    }
    let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| format!("unmarshal token response: {e}"))?;
    let expires_at_s = jwt_expiry(&answer.access_token);
    Ok(Token { access_token: answer.access_token, expires_at_s })
}

/// The SDK's words for a refused token request (`GenericOpenAPIError`: the body, its middle
/// cut out past 500 characters).
fn refused(status: u16, body: &[u8]) -> String {
    let body = String::from_utf8_lossy(body);
    let chars: Vec<char> = body.chars().collect();
    if chars.len() <= ERROR_BODY_CHARS_MAX {
        return format!(", status code {status}, Body: {}", body.trim_end());
    }
    let (head, tail) = (ERROR_BODY_CHARS_MAX / 2, chars.len() - ERROR_BODY_CHARS_MAX / 2);
    let cut = tail - head;
    format!(", status code {status}, Body: {} [...truncated {cut} characters...] {}", chars[..head].iter().collect::<String>(), chars[tail..].iter().collect::<String>())
}

/// The `exp` claim of a JWT, if `token` is one that names it.
fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_f64().map(|exp| exp as i64)
}

/// Reads a key written inline or in a file (an empty file is refused, as the SDK refuses it).
fn read(text: &KeyText) -> Result<String, String> {
    match text {
        KeyText::Inline(text) => Ok(text.clone()),
        KeyText::File(path) => read_file(path),
    }
}

fn read_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading key from file path: open {}: {e}", path.display()))?;
    if text.is_empty() {
        return Err("key path points to an empty file".into());
    }
    Ok(text)
}

/// The private key as the SDK looks for it when the entry names none: the environment's
/// `STACKIT_PRIVATE_KEY_PATH` or `STACKIT_PRIVATE_KEY`, then the credentials file's.
fn private_key_elsewhere(credentials_file: Option<&PathBuf>, env: Env<'_>) -> Result<String, String> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(path) = set("STACKIT_PRIVATE_KEY_PATH") {
        return read_file(std::path::Path::new(&path));
    }
    if let Some(key) = set("STACKIT_PRIVATE_KEY") {
        return Ok(key);
    }
    let path = match (credentials_file, set("STACKIT_CREDENTIALS_PATH"), set("HOME")) {
        (Some(path), _, _) => path.clone(),
        (None, Some(path), _) => PathBuf::from(path),
        (None, None, Some(home)) => PathBuf::from(home).join(".stackit/credentials.json"),
        (None, None, None) => return Err("reading from credentials file: getting home directory: $HOME is not defined".into()),
    };
    let text = std::fs::read(&path).map_err(|e| format!("reading from credentials file: opening file: open {}: {e}", path.display()))?;
    let file: CredentialsFile = serde_json::from_slice(&text).map_err(|e| format!("reading from credentials file: unmarshalling credentials: {e}"))?;
    if !file.private_key_path.is_empty() {
        return read_file(std::path::Path::new(&file.private_key_path));
    }
    if !file.private_key.is_empty() {
        return Ok(file.private_key);
    }
    Err("neither key nor path is provided in the configuration, environment variable, or credentials file: private key is empty or not set".into())
}

/// The signed assertion for the entry's keys at `now_s`.
fn assertion(keys: &KeySources, now_s: i64, env: Env<'_>) -> Result<String, String> {
    let flow = |e: String| format!("configuring key authentication: {e}");
    let key_text = read(&keys.service_account_key).map_err(|e| flow(format!("service account key could not be found: {e}")))?;
    let key: ServiceAccountKey = serde_json::from_str(&key_text).map_err(|e| {
        let hint = if key_text.starts_with("-----BEGIN") { " - it seems like the provided service account key is in PEM format. Please provide it in JSON format." } else { "" };
        format!("unmarshalling service account key: {e}{hint}")
    })?;
    let credentials = key.credentials.ok_or("the service account key has no credentials")?;
    let sub = canonical_uuid(&credentials.sub).ok_or_else(|| format!("unmarshalling service account key: invalid UUID {:?} (credentials.sub)", credentials.sub))?;
    let explicit = keys.private_key.as_ref().map(read).transpose().map_err(flow)?;
    let pem = match explicit {
        Some(pem) => pem,
        None => match private_key_elsewhere(keys.credentials_file.as_ref(), env) {
            Ok(pem) => pem,
            Err(why) => credentials.private_key.clone().filter(|k| !k.is_empty()).ok_or_else(|| flow(format!("private key is not part of the service account key and could not be found: {why}")))?,
        },
    };
    let signer = rsa_key(&pem).map_err(|e| format!("error initializing client: parse private key from PEM file: {e}"))?;
    let url_base64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = serde_json::json!({"alg": "RS512", "kid": credentials.kid, "typ": "JWT"});
    let claims = serde_json::json!({"aud": credentials.aud, "exp": now_s + ASSERTION_LIFETIME_S, "iat": now_s, "iss": credentials.iss, "jti": random_uuid()?, "sub": sub});
    let signing_input = format!("{}.{}", url_base64(header.to_string().as_bytes()), url_base64(claims.to_string().as_bytes()));
    let mut signature = vec![0; signer.public().modulus_len()];
    signer.sign(&ring::signature::RSA_PKCS1_SHA512, &ring::rand::SystemRandom::new(), signing_input.as_bytes(), &mut signature).map_err(|_| "cannot sign the assertion".to_string())?;
    Ok(format!("{signing_input}.{}", url_base64(&signature)))
}

/// An RSA private key from PEM: PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`).
pub fn rsa_key(pem: &str) -> Result<ring::signature::RsaKeyPair, String> {
    use crate::scrape::google_auth::pem_body;
    if let Some(der) = pem_body(pem, "RSA PRIVATE KEY") {
        return ring::signature::RsaKeyPair::from_der(&der).map_err(|e| e.to_string());
    }
    if let Some(der) = pem_body(pem, "PRIVATE KEY") {
        return ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| e.to_string());
    }
    Err("invalid key: Key must be a PEM encoded PKCS1 or PKCS8 key".into())
}

/// A UUID in its canonical form (lowercase, hyphenated), from any form Go's `uuid` reads.
fn canonical_uuid(text: &str) -> Option<String> {
    let bare = text.strip_prefix("urn:uuid:").unwrap_or(text);
    let bare = bare.strip_prefix('{').and_then(|b| b.strip_suffix('}')).unwrap_or(bare);
    let hex: String = bare.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = hex.to_ascii_lowercase();
    Some(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]))
}

/// A random (version 4) UUID, the assertion's `jti`.
fn random_uuid() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| "no random numbers for the assertion".to_string())?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    canonical_uuid(&hex).ok_or_else(|| "a random UUID".to_string())
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A 2048-bit RSA key made for these tests (PKCS#1).
    pub const TEST_KEY: &str = include_str!("test_key.pem");

    #[test]
    fn an_assertion_is_an_rs512_jwt_of_the_service_account_key() {
        let service_account_key = r#"{"Active": true, "Credentials": {"Aud": "https://stackit-service-account-prod.apps.01.cf.eu01.stackit.cloud", "Iss": "stackit@sa.stackit.cloud",
            "Kid": "123e4567-e89b-12d3-a456-426614174000", "Sub": "123E4567E89B12D3A456426614174001"}, "ID": "123e4567-e89b-12d3-a456-426614174002"}"#;
        let keys = KeySources { service_account_key: KeyText::Inline(service_account_key.into()), private_key: Some(KeyText::Inline(TEST_KEY.into())), credentials_file: None };
        let jwt = assertion(&keys, 1_700_000_000, &|_| None).expect("an assertion");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |part: &str| serde_json::from_slice::<serde_json::Value>(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("json");
        assert_eq!(decode(parts[0]), serde_json::json!({"alg": "RS512", "kid": "123e4567-e89b-12d3-a456-426614174000", "typ": "JWT"}));
        let claims = decode(parts[1]);
        assert_eq!(claims["sub"], "123e4567-e89b-12d3-a456-426614174001");
        assert_eq!((claims["iat"].as_i64(), claims["exp"].as_i64()), (Some(1_700_000_000), Some(1_700_003_600)));
        assert_eq!(claims["iss"], "stackit@sa.stackit.cloud");
        assert_eq!(claims["jti"].as_str().map(|j| (j.len(), &j[14..15])), Some((36, "4")));
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[2]).expect("base64");
        let public = rsa_key(TEST_KEY).expect("the key").public().as_ref().to_vec();
        let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA512, public);
        verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).expect("signed with the private key");

        // The private key may come with the service account key, or from the credentials file.
        let embedded = format!(r#"{{"credentials": {{"sub": "123e4567-e89b-12d3-a456-426614174001", "privateKey": {}}}}}"#, serde_json::Value::String(TEST_KEY.into()));
        let keys = KeySources { service_account_key: KeyText::Inline(embedded), private_key: None, credentials_file: Some(PathBuf::from("/nonexistent/credentials.json")) };
        assert!(assertion(&keys, 1_700_000_000, &|_| None).is_ok());
        let keys = KeySources { service_account_key: KeyText::Inline(r#"{"credentials": {"sub": "123e4567-e89b-12d3-a456-426614174001"}}"#.into()), private_key: None, credentials_file: Some(PathBuf::from("/nonexistent/credentials.json")) };
        let error = assertion(&keys, 1_700_000_000, &|_| None).expect_err("no private key");
        assert!(error.starts_with("configuring key authentication: private key is not part of the service account key and could not be found: reading from credentials file: opening file"), "{error}");
        let file = std::env::temp_dir().join(format!("metricstor-stackit-credentials-{}.json", std::process::id()));
        std::fs::write(&file, serde_json::json!({"STACKIT_PRIVATE_KEY": TEST_KEY}).to_string()).expect("a credentials file");
        let keys = KeySources { credentials_file: Some(file.clone()), ..keys };
        let from_file = assertion(&keys, 1_700_000_000, &|_| None);
        std::fs::remove_file(&file).ok();
        assert!(from_file.is_ok(), "{from_file:?}");
        let keys = KeySources { service_account_key: KeyText::Inline("-----BEGIN RSA".into()), private_key: None, credentials_file: None };
        assert!(assertion(&keys, 0, &|_| None).expect_err("PEM").ends_with("Please provide it in JSON format."));
    }

    #[test]
    fn tokens_are_kept_until_5_seconds_before_the_expiry_their_jwt_names() {
        let url_base64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let jwt = format!("{}.{}.sig", url_base64(r#"{"alg":"RS512"}"#), url_base64(r#"{"exp":1700000100}"#));
        let token = Token { expires_at_s: jwt_expiry(&jwt), access_token: jwt };
        assert!(token.fresh(1_700_000_095) && !token.fresh(1_700_000_096));
        assert!(!Token { access_token: "opaque".into(), expires_at_s: jwt_expiry("opaque") }.fresh(0), "an opaque token serves one refresh");
        assert_eq!(refused(401, b"{\"error\": \"invalid_grant\"}\n"), ", status code 401, Body: {\"error\": \"invalid_grant\"}");
        assert!(refused(400, "x".repeat(600).as_bytes()).contains("[...truncated 100 characters...]"));
    }
}
