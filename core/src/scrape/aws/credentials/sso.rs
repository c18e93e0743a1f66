//! SSO profiles (IAM Identity Center) as AWS' Go SDK reads them: `sso_session` with its
//! `[sso-session name]` section, or the legacy `sso_start_url`/`sso_region` keys; the token
//! `aws sso login` cached in `~/.aws/sso/cache/<sha1>.json` (an `sso_session`'s refreshed
//! through SSO OIDC when expired, and written back) is traded for a role's keys by the portal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Found, Keys, Lookup, REQUEST_TIMEOUT};
use crate::scrape::config::Url;

/// The most an SSO answer may take (a token or a role's keys: a few KiB).
const ANSWER_BYTES_MAX: usize = 1 << 20;

/// What a profile says of its SSO role, checked as the SDK checks it.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoProfile {
    pub account_id: String,
    pub role_name: String,
    pub start_url: String,
    /// The portal's (and SSO OIDC's) region.
    pub region: String,
    /// The `sso_session` name: its token is cached under this name and may be refreshed.
    /// None: the legacy keys, cached under the start URL and never refreshed.
    pub session: Option<String>,
}

/// Whether `profile` uses SSO, as the SDK's `hasSSOConfiguration`: an `sso_session`, or
/// any of the legacy keys.
pub fn configured(profile: &HashMap<String, String>) -> bool {
    ["sso_session", "sso_region", "sso_start_url", "sso_account_id", "sso_role_name"].iter().any(|key| profile.get(*key).is_some_and(|v| !v.is_empty()))
}

/// The SSO settings of profile `name`, its `sso_session` read from `sessions` (the config
/// file's `[sso-session …]` sections); None when it has none.
pub fn settings(profile: &HashMap<String, String>, name: &str, sessions: &HashMap<String, HashMap<String, String>>) -> Result<Option<SsoProfile>, String> {
    let get = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
    if !configured(profile) {
        return Ok(None);
    }
    let mut missing = Vec::new();
    let (session, start_url, region) = match get("sso_session") {
        Some(session_name) => {
            let section = sessions.get(session_name.trim()).ok_or(format!("profile {name:?}: failed to find SSO session section [sso-session {session_name}] in the config file"))?;
            let from_session = |key: &'static str| section.get(key).filter(|v| !v.is_empty()).cloned();
            let (start_url, region) = (from_session("sso_start_url"), from_session("sso_region"));
            for (key, value) in [("sso_region", &region), ("sso_start_url", &start_url)] {
                match (value, get(key)) {
                    (None, _) => missing.push(key),
                    (Some(of_session), Some(of_profile)) if *of_session != of_profile => return Err(format!("{key} in profile {name:?} must match {key} in sso-session")),
                    _ => {}
                }
            }
            (Some(session_name), start_url, region)
        }
        None => {
            let (region, start_url) = (get("sso_region"), get("sso_start_url"));
            missing.extend([("sso_region", &region), ("sso_start_url", &start_url)].into_iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k));
            (None, start_url, region)
        }
    };
    // The SDK checks these for legacy profiles only, then asks the portal with empty ones;
    // said here, for both, rather than as the portal's error.
    let (account_id, role_name) = (get("sso_account_id"), get("sso_role_name"));
    missing.extend([("sso_account_id", &account_id), ("sso_role_name", &role_name)].into_iter().filter(|(_, v)| v.is_none()).map(|(k, _)| k));
    match (account_id, role_name, start_url, region) {
        (Some(account_id), Some(role_name), Some(start_url), Some(region)) if missing.is_empty() => Ok(Some(SsoProfile { account_id, role_name, start_url, region, session })),
        _ => Err(format!("profile {name:?} is configured to use SSO but is missing required configuration: {}", missing.join(", "))),
    }
}

/// The role's keys from the portal, for the token cached for `sso`.
pub async fn keys(sso: &SsoProfile, profile_name: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let login = format!("run `aws sso login --profile {profile_name}`");
    let home = lookup.var("HOME").ok_or("unable to get USER's home directory for cached SSO token (HOME is not set)")?;
    let cache_key = sso.session.as_deref().unwrap_or(&sso.start_url);
    let path = cached_token_path(Path::new(&home), cache_key);
    let mut token = CachedToken::read(&path).map_err(|e| format!("the SSO session has expired or is invalid: {e}; {login}"))?;
    if token.expired(crate::api::params::now_ms()) {
        match &sso.session {
            None => return Err(format!("the SSO session has expired or is invalid: the token cached in {} expired; {login}", path.display())),
            Some(_) => token.refresh(&path, &sso.region, lookup).await.map_err(|e| format!("refresh cached SSO token failed, {e}; {login}"))?,
        }
    }
    role_credentials(sso, &token.access_token, lookup).await
}

/// `~/.aws/sso/cache/<sha1 hex of key>.json`, as the SDK and the AWS CLI name it.
pub fn cached_token_path(home: &Path, key: &str) -> PathBuf {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, key.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    home.join(".aws/sso/cache").join(format!("{hex}.json"))
}

/// A token file of the cache, every field kept so a refresh writes back what it read.
struct CachedToken {
    fields: serde_json::Map<String, serde_json::Value>,
    access_token: String,
    expires_ms: i64,
}

impl CachedToken {
    fn read(path: &Path) -> Result<CachedToken, String> {
        let text = std::fs::read(path).map_err(|e| format!("failed to read cached SSO token file {}: {e}", path.display()))?;
        let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text).map_err(|e| format!("failed to parse cached SSO token file {}: {e}", path.display()))?;
        let text_field = |key: &str| fields.get(key).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string);
        let (Some(access_token), Some(expires_at)) = (text_field("accessToken"), text_field("expiresAt")) else {
            return Err(format!("cached SSO token {} must contain accessToken and expiresAt fields", path.display()));
        };
        let expires_ms = super::rfc3339_ms(&expires_at).map_err(|e| format!("cached SSO token {}: expiresAt: {e}", path.display()))?;
        Ok(CachedToken { fields, access_token, expires_ms })
    }

    /// As the SDK: expired once `now_ms` is past `expiresAt`.
    fn expired(&self, now_ms: i64) -> bool {
        now_ms > self.expires_ms
    }

    fn text(&self, key: &str) -> Option<String> {
        self.fields.get(key).and_then(|v| v.as_str()).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// SSO OIDC's `CreateToken` with the cached refresh token and client; the new token is
    /// written back to `path` (a file beside it, renamed over it, with its mode).
    async fn refresh(&mut self, path: &Path, region: &str, lookup: &Lookup<'_>) -> Result<(), String> {
        let (Some(client_id), Some(client_secret), Some(refresh_token)) = (self.text("clientId"), self.text("clientSecret"), self.text("refreshToken")) else {
            return Err("cached SSO token is expired, or not present, and cannot be refreshed".into());
        };
        let url = endpoint(lookup, "AWS_ENDPOINT_URL_SSO_OIDC", "oidc", region)?;
        let body = serde_json::json!({ "clientId": client_id, "clientSecret": client_secret, "grantType": "refresh_token", "refreshToken": refresh_token }).to_string();
        let headers = [("Content-Type".to_string(), "application/json".to_string())];
        let response = send(&url, "/token", &headers, Some(body.as_bytes()), lookup).await.map_err(|e| format!("unable to refresh SSO token, {e}"))?;
        let created: serde_json::Value = serde_json::from_slice(&response.body).map_err(|e| format!("unable to refresh SSO token, the answer is not JSON: {e}"))?;
        let access_token = created.get("accessToken").and_then(|v| v.as_str()).filter(|v| !v.is_empty()).ok_or("unable to refresh SSO token, the answer has no accessToken")?;
        let expires_in_s = created.get("expiresIn").and_then(|v| v.as_i64()).unwrap_or(0);
        let now_ms = crate::api::params::now_ms();
        self.expires_ms = now_ms.div_euclid(1000) * 1000 + expires_in_s.saturating_mul(1000);
        self.access_token = access_token.to_string();
        self.fields.insert("accessToken".into(), access_token.into());
        self.fields.insert("expiresAt".into(), crate::api::status::rfc3339_nano(self.expires_ms.saturating_mul(1_000_000)).into());
        // As the SDK: the answer's refresh token replaces the cached one, none removes it.
        match created.get("refreshToken").and_then(|v| v.as_str()).filter(|v| !v.is_empty()) {
            Some(refresh_token) => self.fields.insert("refreshToken".into(), refresh_token.into()),
            None => self.fields.remove("refreshToken"),
        };
        self.write(path, now_ms)
    }

    fn write(&self, path: &Path, now_ms: i64) -> Result<(), String> {
        use std::os::unix::fs::OpenOptionsExt;
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| format!("failed to stat cached SSO token file {}: {e}", path.display()))?.permissions().mode();
        let temporary = PathBuf::from(format!("{}.tmp-{now_ms}", path.display()));
        let mut text = serde_json::to_vec(&self.fields).map_err(|e| format!("failed to serialize cached SSO token: {e}"))?;
        text.push(b'\n');
        let written = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&temporary).and_then(|mut file| std::io::Write::write_all(&mut file, &text));
        written.map_err(|e| format!("failed to create cached SSO token file {}: {e}", temporary.display()))?;
        std::fs::rename(&temporary, path).map_err(|e| format!("failed to replace old cached SSO token file {}: {e}", path.display()))
    }
}

/// The portal's `GetRoleCredentials` with the bearer token.
async fn role_credentials(sso: &SsoProfile, access_token: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let url = endpoint(lookup, "AWS_ENDPOINT_URL_SSO", "portal.sso", &sso.region)?;
    let escape = crate::scrape::aws::sigv4::escape;
    let path = format!("/federation/credentials?account_id={}&role_name={}", escape(&sso.account_id), escape(&sso.role_name));
    let headers = [("x-amz-sso_bearer_token".to_string(), access_token.to_string())];
    let what = format!("SSO role {} of account {}", sso.role_name, sso.account_id);
    let response = send(&url, &path, &headers, None, lookup).await.map_err(|e| format!("{what}: {e}"))?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RoleCredentials {
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        session_token: Option<String>,
        expiration: i64,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        role_credentials: RoleCredentials,
    }
    let answer: Answer = serde_json::from_slice(&response.body).map_err(|e| format!("{what}: cannot read the keys: {e}"))?;
    let credentials = answer.role_credentials;
    let (Some(access_key_id), Some(secret_access_key)) = (credentials.access_key_id.filter(|v| !v.is_empty()), credentials.secret_access_key.filter(|v| !v.is_empty())) else {
        return Err(format!("{what}: the answer has no accessKeyId and secretAccessKey"));
    };
    Ok(Found { keys: Keys { access_key_id, secret_access_key, session_token: credentials.session_token.filter(|t| !t.is_empty()) }, expires_ms: Some(credentials.expiration) })
}

/// `https://<host>.<region>.<AWS' domain>`, or the endpoint `service_variable` (else
/// `AWS_ENDPOINT_URL`) names, as the SDK's per-service endpoint variables.
fn endpoint(lookup: &Lookup<'_>, service_variable: &str, host: &str, region: &str) -> Result<Url, String> {
    let text = lookup.var(service_variable).or_else(|| lookup.var("AWS_ENDPOINT_URL")).unwrap_or_else(|| format!("https://{host}.{region}.{}", super::dns_suffix(region)));
    Url::parse(&text).map_err(|e| format!("SSO endpoint {text:?}: {e}"))
}

/// GETs (or POSTs `body` to) `path` under `base`, with the entry's TLS, proxy and headers;
/// an answer other than 200 is an error with the service's code and message.
async fn send(base: &Url, path: &str, headers: &[(String, String)], body: Option<&[u8]>, lookup: &Lookup<'_>) -> Result<net::client::Response, String> {
    let mut client = crate::scrape::http_get::client_for(base, lookup.transport.tls, lookup.transport.proxy)?;
    let target = format!("{}{path}", base.path_and_query.split('?').next().unwrap_or("").trim_end_matches('/'));
    let mut all = headers.to_vec();
    all.push(("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))));
    all.extend_from_slice(lookup.transport.headers);
    let sent = match body {
        Some(body) => client.post(&target, &all, body, REQUEST_TIMEOUT, ANSWER_BYTES_MAX).await,
        None => client.get(&target, &all, REQUEST_TIMEOUT, ANSWER_BYTES_MAX).await,
    };
    let response = sent.map_err(|e| format!("{}: {e}", crate::scrape::http_get::format_url(base)))?;
    if response.status != 200 {
        return Err(service_error(&response));
    }
    Ok(response)
}

/// Why an SSO request failed: the status, and the error type and message the service sent.
fn service_error(response: &net::client::Response) -> String {
    let status = crate::scrape::http_get::status_error(response.status);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap_or_default();
    let text = |key: &str| body.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let header_type = response.headers.get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(|v| v.split(':').next().unwrap_or("").to_string());
    let code = header_type.filter(|c| !c.is_empty()).unwrap_or_else(|| [text("__type"), text("error")].into_iter().find(|c| !c.is_empty()).unwrap_or_default());
    let message = [text("message"), text("Message"), text("error_description")].into_iter().find(|m| !m.is_empty()).unwrap_or_default();
    [status, code, message].into_iter().filter(|part| !part.is_empty()).collect::<Vec<_>>().join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_cache_file_is_named_by_the_sha1_of_the_session_or_start_url() {
        // printf '%s' 'https://d-123.awsapps.com/start' | sha1sum
        let path = cached_token_path(Path::new("/home/u"), "https://d-123.awsapps.com/start");
        assert_eq!(path, Path::new("/home/u/.aws/sso/cache/2b829a45f04c9828cb45b7d092d8e4aa30818393.json"));
        // printf '%s' 'my-sso' | sha1sum
        assert_eq!(cached_token_path(Path::new("/home/u"), "my-sso"), Path::new("/home/u/.aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json"));
    }

    #[test]
    fn settings_are_checked_as_the_sdk_checks_them() {
        let sessions = HashMap::from([("corp".to_string(), profile(&[("sso_start_url", "https://corp/start"), ("sso_region", "eu-central-1")]))]);
        assert_eq!(settings(&profile(&[("region", "x")]), "p", &sessions), Ok(None));
        let with_session = settings(&profile(&[("sso_session", "corp"), ("sso_account_id", "111"), ("sso_role_name", "Reader")]), "p", &sessions).expect("valid");
        assert_eq!(with_session, Some(SsoProfile { account_id: "111".into(), role_name: "Reader".into(), start_url: "https://corp/start".into(), region: "eu-central-1".into(), session: Some("corp".into()) }));
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[("sso_session", "other"), ("sso_account_id", "1"), ("sso_role_name", "r")], "failed to find SSO session section [sso-session other]"),
            (&[("sso_session", "corp"), ("sso_region", "us-east-1"), ("sso_account_id", "1"), ("sso_role_name", "r")], "sso_region in profile \"p\" must match sso_region in sso-session"),
            (&[("sso_start_url", "https://legacy/start"), ("sso_role_name", "r")], "missing required configuration: sso_region, sso_account_id"),
            (&[("sso_session", "corp")], "missing required configuration: sso_account_id, sso_role_name"),
        ];
        for (pairs, expected) in cases {
            let error = settings(&profile(pairs), "p", &sessions).expect_err("refused");
            assert!(error.contains(expected), "{pairs:?}: {error}");
        }
    }
}
