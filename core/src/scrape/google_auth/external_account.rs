//! `external_account` credentials (Workload Identity Federation), as Go's
//! `golang.org/x/oauth2/google/externalaccount` gets their token: a subject token from the
//! `credential_source` (a file, a URL, or AWS' signed `GetCallerIdentity`), traded at Google's
//! STS (`token_url`) for an access token by RFC 8693's token exchange. `executable` sources
//! are refused: Metricstor does not run commands named in credentials.

use std::collections::BTreeMap;

use super::{go_json, query_escape, unless_success, CredentialsFile, Http, Method, Token};

/// Google's STS, for files that do not name theirs.
const STS_TOKEN_URL: &str = "https://sts.googleapis.com/v1/token";
/// The scope the STS token is asked for when it is only traded again at IAM.
const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The most of a subject token file read (as the Go library reads it).
const SUBJECT_TOKEN_FILE_BYTES_MAX: usize = 1 << 20;

/// `credential_source`: where the subject token comes from.
#[derive(serde::Deserialize, Default)]
pub(super) struct CredentialSource {
    #[serde(default)]
    pub file: String,
    /// The subject token's URL, or for AWS the metadata's security credentials URL.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Only looked at to refuse it.
    #[serde(default)]
    pub executable: Option<serde_json::Value>,
    #[serde(default)]
    pub environment_id: String,
    #[serde(default)]
    pub region_url: String,
    #[serde(default)]
    pub regional_cred_verification_url: String,
    #[serde(default)]
    pub imdsv2_session_token_url: String,
    #[serde(default)]
    pub format: Option<Format>,
}

/// How a file's or URL's subject token is written.
#[derive(serde::Deserialize, Default)]
pub(super) struct Format {
    /// `text` (or none) or `json`.
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub subject_token_field_name: String,
}

/// Where the subject token comes from, in the order the Go library looks.
enum Source<'a> {
    Aws,
    File(&'a str),
    Url(&'a str),
}

/// The token of an `external_account` file for `scope`: with a
/// `service_account_impersonation_url`, the STS token is traded again at IAM for the account's.
pub(super) async fn token(file: &CredentialsFile, scope: &str, http: &Http, env: &dyn Fn(&str) -> Option<String>) -> Result<Token, String> {
    check(file)?;
    let default_source = CredentialSource::default();
    let credential_source = file.credential_source.as_ref().unwrap_or(&default_source);
    let subject_token = match source(credential_source)? {
        Source::Aws => super::aws_subject::subject_token(credential_source, &file.audience, http, env).await?,
        Source::File(path) => from_text(&read_subject_file(path)?, credential_source.format.as_ref())?,
        Source::Url(location) => from_text(&fetch_subject(location, credential_source.headers.as_ref(), http).await?, credential_source.format.as_ref())?,
    };
    let impersonating = !file.service_account_impersonation_url.is_empty();
    // As Go: when IAM gives the token, STS is asked for cloud-platform and IAM for the scope.
    let sts_token = exchange(file, if impersonating { CLOUD_PLATFORM_SCOPE } else { scope }, &subject_token, http).await?;
    if !impersonating {
        return Ok(sts_token);
    }
    let lifetime_s = file.service_account_impersonation.as_ref().map_or(0, |s| s.token_lifetime_seconds);
    let request = super::impersonation::Request { url: &file.service_account_impersonation_url, scope, delegates: &[], lifetime_s };
    super::impersonation::token(http, &request, &sts_token).await
}

/// What the Go library checks before asking anything.
fn check(file: &CredentialsFile) -> Result<(), String> {
    if file.audience.is_empty() {
        return Err("external_account: \"audience\" must be set".into());
    }
    if file.subject_token_type.is_empty() {
        return Err("external_account: \"subject_token_type\" must be set".into());
    }
    if !file.workforce_pool_user_project.is_empty() && !is_workforce_audience(&file.audience) {
        return Err("external_account: \"workforce_pool_user_project\" should not be set for non-workforce pool credentials".into());
    }
    Ok(())
}

/// Whether the audience names a workforce pool (`//iam.googleapis.com/locations/L/workforcePools/`
/// anywhere in it, as Go's unanchored pattern matches).
fn is_workforce_audience(audience: &str) -> bool {
    const PREFIX: &str = "//iam.googleapis.com/locations/";
    audience.match_indices(PREFIX).any(|(at, _)| {
        let rest = &audience[at + PREFIX.len()..];
        let location_len = rest.find('/').unwrap_or(rest.len());
        location_len > 0 && rest[location_len..].starts_with("/workforcePools/")
    })
}

/// The kind of `credential_source`: `environment_id` `awsN` first, then `file`, `url`, `executable`.
fn source(credential_source: &CredentialSource) -> Result<Source<'_>, String> {
    let environment_id = credential_source.environment_id.as_str();
    if environment_id.len() > 3 && environment_id.starts_with("aws") {
        // As Go: `aws` with a version that is not a number is no source at all.
        return match environment_id[3..].parse::<i64>() {
            Ok(1) => Ok(Source::Aws),
            Ok(version) => Err(format!("external_account: aws version '{version}' is not supported")),
            Err(_) => Err("external_account: unable to parse credential source".into()),
        };
    }
    if !credential_source.file.is_empty() {
        return Ok(Source::File(&credential_source.file));
    }
    if !credential_source.url.is_empty() {
        return Ok(Source::Url(&credential_source.url));
    }
    if credential_source.executable.is_some() {
        return Err("external_account: executable-sourced credentials are not supported: Metricstor does not run the command a credentials file names (Go's library runs it only with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1)".into());
    }
    Err("external_account: unable to parse credential source".into())
}

/// A `file` source's text, trimmed (at most its first MiB, as Go reads it).
fn read_subject_file(path: &str) -> Result<String, String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("credential_source file {path:?}: {e}"))?;
    bytes.truncate(SUBJECT_TOKEN_FILE_BYTES_MAX);
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

/// A `url` source's answer (a GET with the source's headers), as sent.
async fn fetch_subject(location: &str, headers: Option<&BTreeMap<String, String>>, http: &Http) -> Result<String, String> {
    let headers: Vec<(String, String)> = headers.into_iter().flatten().map(|(name, value)| (name.clone(), value.clone())).collect();
    let response = http.send(Method::Get, location, &headers, b"").await.map_err(|e| format!("credential_source url: {e}"))?;
    unless_success(location, &response).map_err(|e| format!("credential_source url: {e}"))?;
    Ok(String::from_utf8_lossy(&response.body).into_owned())
}

/// The subject token in a file's or URL's text, as its `format` says.
fn from_text(text: &str, format: Option<&Format>) -> Result<String, String> {
    let Some(format) = format else { return Ok(text.to_string()) };
    match format.kind.as_str() {
        "" | "text" => Ok(text.to_string()),
        "json" => {
            let fields: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| format!("credential_source: the subject token is not a JSON object: {e}"))?;
            match fields.get(&format.subject_token_field_name) {
                Some(serde_json::Value::String(token)) => Ok(token.clone()),
                Some(_) => Err(format!("credential_source: the subject token field {:?} is not a string", format.subject_token_field_name)),
                None => Err(format!("credential_source: subject_token_field_name {:?} not found", format.subject_token_field_name)),
            }
        }
        other => Err(format!("credential_source: invalid format type {other:?} (text or json)")),
    }
}

/// The STS token exchange's form, fields sorted by name as Go's `url.Values` writes them.
fn exchange_form(file: &CredentialsFile, scope: &str, subject_token: &str) -> Result<String, String> {
    let mut fields = vec![
        ("audience", file.audience.clone()),
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange".to_string()),
        ("requested_token_type", "urn:ietf:params:oauth:token-type:access_token".to_string()),
        ("scope", scope.to_string()),
        ("subject_token", subject_token.to_string()),
        ("subject_token_type", file.subject_token_type.clone()),
    ];
    // As Go: a workforce pool's project is billed only when no client authenticates.
    if !file.workforce_pool_user_project.is_empty() && file.client_id.is_empty() {
        fields.push(("options", go_json(&serde_json::json!({"userProject": file.workforce_pool_user_project}))?));
    }
    fields.sort();
    Ok(fields.iter().map(|(name, value)| format!("{name}={}", query_escape(value))).collect::<Vec<_>>().join("&"))
}

/// The STS token for the subject token: `Authorization: Basic` when the file has a client
/// ID and secret; an answer without a positive `expires_in` is an error, as in Go.
async fn exchange(file: &CredentialsFile, scope: &str, subject_token: &str, http: &Http) -> Result<Token, String> {
    use base64::Engine;
    let token_url = if file.token_url.is_empty() { STS_TOKEN_URL } else { file.token_url.as_str() };
    let mut headers = vec![("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string())];
    if !file.client_id.is_empty() && !file.client_secret.is_empty() {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", file.client_id, file.client_secret));
        headers.push(("Authorization".to_string(), format!("Basic {credentials}")));
    }
    let form = exchange_form(file, scope, subject_token)?;
    let response = http.send(Method::Post, token_url, &headers, form.as_bytes()).await?;
    unless_success(token_url, &response)?;
    let fields = crate::scrape::oauth2::json_fields(&response.body).map_err(|e| format!("{token_url}: {e}"))?;
    if fields.expires_in.is_none_or(|s| s <= 0) {
        return Err(format!("{token_url}: got invalid expiry from security token service"));
    }
    crate::scrape::oauth2::token_from(fields, std::time::Instant::now()).map_err(|e| format!("{token_url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workforce_audiences_are_recognised() {
        assert!(is_workforce_audience("//iam.googleapis.com/locations/global/workforcePools/pool/providers/p"));
        assert!(is_workforce_audience("x//iam.googleapis.com/locations/eu/workforcePools/"));
        assert!(!is_workforce_audience("//iam.googleapis.com/locations//workforcePools/pool"));
        assert!(!is_workforce_audience("//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/pool/providers/p"));
    }

    #[test]
    fn subject_tokens_are_read_by_format() {
        let json = |field: &str| Format { kind: "json".into(), subject_token_field_name: field.into() };
        assert_eq!(from_text("abc", None), Ok("abc".to_string()));
        assert_eq!(from_text("abc", Some(&Format { kind: "text".into(), ..Format::default() })), Ok("abc".to_string()));
        assert_eq!(from_text(r#"{"id_token":"t1"}"#, Some(&json("id_token"))), Ok("t1".to_string()));
        assert!(from_text(r#"{"id_token":1}"#, Some(&json("id_token"))).is_err_and(|e| e.contains("not a string")));
        assert!(from_text(r#"{"other":"t1"}"#, Some(&json("id_token"))).is_err_and(|e| e.contains("not found")));
        assert!(from_text("abc", Some(&Format { kind: "xml".into(), ..Format::default() })).is_err_and(|e| e.contains("invalid format type")));
    }

    #[test]
    fn sources_are_chosen_in_gos_order() {
        let with = |environment_id: &str, file: &str, executable: bool| CredentialSource { environment_id: environment_id.into(), file: file.into(), executable: executable.then(|| serde_json::json!({"command": "x"})), ..CredentialSource::default() };
        assert!(matches!(source(&with("aws1", "f", false)), Ok(Source::Aws)));
        assert!(matches!(source(&with("", "f", true)), Ok(Source::File("f"))));
        assert!(source(&with("aws2", "", false)).is_err_and(|e| e.contains("aws version '2' is not supported")));
        assert!(source(&with("awsx", "f", false)).is_err_and(|e| e.contains("unable to parse credential source")));
        assert!(source(&with("", "", false)).is_err_and(|e| e.contains("unable to parse credential source")));
        assert!(source(&with("", "", true)).is_err_and(|e| e.contains("Metricstor does not run")));
    }
}
