//! The keys and region of an `ec2_sd_configs` entry, found in the order AWS' Go SDK finds them
//! for Prometheus:
//!
//! 1. `access_key` with `secret_key` from the entry;
//! 2. unless a profile is named (`profile`, else `AWS_PROFILE`): `AWS_ACCESS_KEY_ID` (or
//!    `AWS_ACCESS_KEY`) with `AWS_SECRET_ACCESS_KEY` (or `AWS_SECRET_KEY`) and
//!    `AWS_SESSION_TOKEN`; then a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and
//!    `AWS_ROLE_ARN`, as on EKS), exchanged by STS' `AssumeRoleWithWebIdentity`;
//! 3. the profile (`default` unless named) of the shared files (`~/.aws/credentials`, then
//!    `~/.aws/config`; `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`): its keys, or its
//!    `role_arn` with `web_identity_token_file`, `source_profile` or `credential_source`;
//! 4. a container's role (`AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`: ECS tasks, EKS Pod Identity);
//! 5. the instance's role from the instance metadata service (IMDSv2's token, IMDSv1 when the
//!    service refuses tokens; `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_EC2_METADATA_DISABLED`).
//!
//! The entry's `role_arn` (with `external_id`) is then assumed with those keys through STS
//! (`AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL` replace STS' regional endpoint). Temporary keys
//! are kept until five minutes before they expire. `credential_process` and SSO profiles are
//! refused naming them. The region is the entry's, else `AWS_REGION`, `AWS_DEFAULT_REGION`,
//! the profile's `region`, or the instance metadata's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::sigv4::Keys;
use super::{descendant_text, Transport};
use crate::scrape::config::{Secret, Url};
use crate::scrape::proxy::ProxyChoice;

/// Temporary keys are asked again this long before they expire.
const RENEW_BEFORE_MS: i64 = 5 * 60_000;
/// The most one request for keys (or the region) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests to the instance metadata service: short, as it is absent off EC2.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// How many `source_profile` hops a profile may take.
const SOURCE_PROFILE_HOPS_MAX: usize = 4;

/// What the entry says of its keys.
#[derive(Clone, Default)]
pub struct Settings {
    pub access_key: String,
    pub secret_key: Option<Secret>,
    pub profile: String,
    pub role_arn: String,
    pub external_id: String,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings").field("access_key", &self.access_key).field("profile", &self.profile).field("role_arn", &self.role_arn).finish_non_exhaustive()
    }
}

/// Keys found, and when they stop working (None: long-term keys).
#[derive(Debug, Clone)]
pub struct Found {
    pub keys: Keys,
    pub expires_ms: Option<i64>,
}

impl Found {
    /// Whether they may still be used at `now_ms`.
    pub fn fresh(&self, now_ms: i64) -> bool {
        self.expires_ms.is_none_or(|at| now_ms < at - RENEW_BEFORE_MS)
    }
}

/// Where the environment and the shared files are read (the process's, or a test's).
pub struct Lookup<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The transport of the entry, for STS.
    pub transport: Transport<'a>,
}

impl Lookup<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }
}

/// The process's environment variable `name`.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The keys for `settings` in `region`, found as the module says.
pub async fn find(settings: &Settings, region: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let base = base_keys(settings, region, lookup).await?;
    if settings.role_arn.is_empty() {
        return Ok(base);
    }
    assume_role(&base.keys, &settings.role_arn, &settings.external_id, region, lookup).await.map_err(|e| format!("cannot assume role {}: {e}", settings.role_arn))
}

/// The region: the entry's, the environment's, the profile's, or the instance metadata's.
pub async fn region(configured: &str, profile: &str, lookup: &Lookup<'_>) -> Result<String, String> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    if let Some(region) = lookup.var("AWS_REGION").or_else(|| lookup.var("AWS_DEFAULT_REGION")) {
        return Ok(region);
    }
    let profile = chosen_profile(profile, lookup).unwrap_or_else(|| "default".into());
    if let Some(region) = SharedFiles::read(lookup)?.profile(&profile).and_then(|p| p.get("region").cloned()).filter(|r| !r.is_empty()) {
        return Ok(region);
    }
    let metadata = Metadata::new(lookup)?;
    metadata.get("/latest/meta-data/placement/region").await.map_err(|e| format!("could not determine AWS region (set region, AWS_REGION or a profile's region): instance metadata: {e}"))
}

/// The profile named by the entry or `AWS_PROFILE`.
fn chosen_profile(configured: &str, lookup: &Lookup<'_>) -> Option<String> {
    Some(configured.to_string()).filter(|p| !p.is_empty()).or_else(|| lookup.var("AWS_PROFILE"))
}

async fn base_keys(settings: &Settings, region: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let secret = match &settings.secret_key {
        Some(secret) => secret.read()?,
        None => String::new(),
    };
    if !settings.access_key.is_empty() && !secret.is_empty() {
        return Ok(Found { keys: Keys { access_key_id: settings.access_key.clone(), secret_access_key: secret, session_token: None }, expires_ms: None });
    }
    let named = chosen_profile(&settings.profile, lookup);
    if named.is_none() {
        if let Some(keys) = env_keys(lookup) {
            return Ok(Found { keys, expires_ms: None });
        }
        if let Some(token_file) = lookup.var("AWS_WEB_IDENTITY_TOKEN_FILE") {
            let role = lookup.var("AWS_ROLE_ARN").ok_or("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")?;
            return web_identity(&PathBuf::from(token_file), &role, lookup.var("AWS_ROLE_SESSION_NAME"), region, lookup).await;
        }
    }
    let files = SharedFiles::read(lookup)?;
    let profile = named.clone().unwrap_or_else(|| "default".into());
    match files.profile(&profile) {
        Some(_) => return profile_keys(&files, &profile, region, lookup, 0).await,
        None if named.is_some() => return Err(format!("profile {profile:?} is in neither shared file ({} nor {})", files.credentials_path.display(), files.config_path.display())),
        None => {}
    }
    if let Some(found) = container_keys(lookup).await? {
        return Ok(found);
    }
    instance_keys(lookup).await.map_err(|e| format!("no keys found (entry, environment, shared files, container), and none from the instance metadata service: {e}"))
}

fn env_keys(lookup: &Lookup<'_>) -> Option<Keys> {
    let id = lookup.var("AWS_ACCESS_KEY_ID").or_else(|| lookup.var("AWS_ACCESS_KEY"))?;
    let secret = lookup.var("AWS_SECRET_ACCESS_KEY").or_else(|| lookup.var("AWS_SECRET_KEY"))?;
    Some(Keys { access_key_id: id, secret_access_key: secret, session_token: lookup.var("AWS_SESSION_TOKEN") })
}

/// The keys of a shared-files profile.
fn profile_keys<'a>(files: &'a SharedFiles, name: &'a str, region: &'a str, lookup: &'a Lookup<'a>, hops: usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Found, String>> + 'a>> {
    Box::pin(async move {
        let profile = files.profile(name).ok_or_else(|| format!("profile {name:?} not found in the shared files"))?;
        let get = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
        for unsupported in ["credential_process", "sso_session", "sso_start_url"] {
            if get(unsupported).is_some() {
                return Err(format!("profile {name:?}: {unsupported} is not supported; give keys, a role or a web identity token"));
            }
        }
        if let Some(role) = get("role_arn") {
            let external_id = get("external_id").unwrap_or_default();
            let base = if let Some(token_file) = get("web_identity_token_file") {
                return web_identity(&PathBuf::from(token_file), &role, get("role_session_name"), region, lookup).await;
            } else if let Some(source) = get("source_profile") {
                if hops >= SOURCE_PROFILE_HOPS_MAX || source == name && get("aws_access_key_id").is_none() {
                    return Err(format!("profile {name:?}: source_profile chain too long or looping"));
                }
                if source == name {
                    static_profile_keys(&profile, name)?
                } else {
                    profile_keys(files, &source, region, lookup, hops + 1).await?
                }
            } else if let Some(source) = get("credential_source") {
                match source.as_str() {
                    "Environment" => Found { keys: env_keys(lookup).ok_or(format!("profile {name:?}: credential_source Environment, but no keys in the environment"))?, expires_ms: None },
                    "Ec2InstanceMetadata" => instance_keys(lookup).await?,
                    "EcsContainer" => container_keys(lookup).await?.ok_or(format!("profile {name:?}: credential_source EcsContainer, but no container credentials in the environment"))?,
                    other => return Err(format!("profile {name:?}: unknown credential_source {other:?}")),
                }
            } else {
                return Err(format!("profile {name:?}: role_arn needs source_profile, credential_source or web_identity_token_file"));
            };
            return assume_role(&base.keys, &role, &external_id, region, lookup).await.map_err(|e| format!("profile {name:?}: cannot assume role {role}: {e}"));
        }
        static_profile_keys(&profile, name)
    })
}

fn static_profile_keys(profile: &HashMap<String, String>, name: &str) -> Result<Found, String> {
    let get = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Found { keys: Keys { access_key_id: id, secret_access_key: secret, session_token: get("aws_session_token") }, expires_ms: None }),
        _ => Err(format!("profile {name:?} has no aws_access_key_id and aws_secret_access_key")),
    }
}

/// `~/.aws/credentials` and `~/.aws/config` (or where the environment says), read as INI.
struct SharedFiles {
    credentials_path: PathBuf,
    config_path: PathBuf,
    /// Profiles of the credentials file, then of the config file (`[profile name]` read as `name`).
    credentials: HashMap<String, HashMap<String, String>>,
    config: HashMap<String, HashMap<String, String>>,
}

impl SharedFiles {
    fn read(lookup: &Lookup<'_>) -> Result<SharedFiles, String> {
        let home = lookup.var("HOME").map(PathBuf::from).unwrap_or_default();
        let credentials_path = lookup.var("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/credentials"));
        let config_path = lookup.var("AWS_CONFIG_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/config"));
        let read = |path: &PathBuf| match std::fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        };
        let credentials = parse_ini(&read(&credentials_path)?, false);
        let config = parse_ini(&read(&config_path)?, true);
        Ok(SharedFiles { credentials_path, config_path, credentials, config })
    }

    /// A profile's keys: the credentials file's over the config file's.
    fn profile(&self, name: &str) -> Option<HashMap<String, String>> {
        let (credentials, config) = (self.credentials.get(name), self.config.get(name));
        if credentials.is_none() && config.is_none() {
            return None;
        }
        let mut merged = config.cloned().unwrap_or_default();
        merged.extend(credentials.cloned().unwrap_or_default());
        Some(merged)
    }
}

/// INI sections and their `key = value` lines (`#` and `;` start comments; keys lowercased).
/// In the config file a section is `[profile name]`, except `[default]`.
fn parse_ini(text: &str, config_file: bool) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let header = header.trim();
            let name = match header.strip_prefix("profile ") {
                Some(name) if config_file => Some(name.trim().to_string()),
                Some(_) => None,
                None if config_file && header != "default" => None,
                None => Some(header.to_string()),
            };
            current = name;
            if let Some(name) = &current {
                sections.entry(name.clone()).or_default();
            }
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            let value = value.split(" #").next().unwrap_or("").split(" ;").next().unwrap_or("").trim();
            sections.entry(section.clone()).or_default().insert(key.trim().to_ascii_lowercase(), value.to_string());
        }
    }
    sections
}

/// STS for `region`, or the endpoint the environment names.
fn sts_url(region: &str, lookup: &Lookup<'_>) -> Result<Url, String> {
    let text = match lookup.var("AWS_ENDPOINT_URL_STS").or_else(|| lookup.var("AWS_ENDPOINT_URL")) {
        Some(url) => url,
        None if region.is_empty() => "https://sts.amazonaws.com/".into(),
        None => format!("https://sts.{region}.{}/", dns_suffix(region)),
    };
    Url::parse(&text).map_err(|e| format!("STS endpoint {text:?}: {e}"))
}

/// AWS' domain for `region` (its China regions have their own).
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}

/// A session name as AWS' Go SDK makes one.
fn session_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("aws-go-sdk-{nanos}")
}

/// STS' `AssumeRole` with `keys`.
async fn assume_role(keys: &Keys, role_arn: &str, external_id: &str, region: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let mut form = vec![("Action".to_string(), "AssumeRole".to_string()), ("Version".to_string(), "2011-06-15".to_string()), ("RoleArn".to_string(), role_arn.to_string()), ("RoleSessionName".to_string(), session_name())];
    if !external_id.is_empty() {
        form.push(("ExternalId".to_string(), external_id.to_string()));
    }
    let url = sts_url(region, lookup)?;
    let signing_region = if region.is_empty() { "us-east-1" } else { region };
    let response = super::post_form(None, &url, Some(keys), (signing_region, "sts"), &form, lookup.transport, REQUEST_TIMEOUT).await?;
    sts_keys(response.status, &response.body)
}

/// STS' `AssumeRoleWithWebIdentity` with the token in `token_file` (unsigned).
async fn web_identity(token_file: &PathBuf, role_arn: &str, session: Option<String>, region: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let token = std::fs::read_to_string(token_file).map_err(|e| format!("web identity token {}: {e}", token_file.display()))?;
    let form = [
        ("Action".to_string(), "AssumeRoleWithWebIdentity".to_string()),
        ("Version".to_string(), "2011-06-15".to_string()),
        ("RoleArn".to_string(), role_arn.to_string()),
        ("RoleSessionName".to_string(), session.unwrap_or_else(session_name)),
        ("WebIdentityToken".to_string(), token.trim().to_string()),
    ];
    let url = sts_url(region, lookup)?;
    let response = super::post_form(None, &url, None, ("", "sts"), &form, lookup.transport, REQUEST_TIMEOUT).await.map_err(|e| format!("web identity for {role_arn}: {e}"))?;
    sts_keys(response.status, &response.body).map_err(|e| format!("web identity for {role_arn}: {e}"))
}

/// The `Credentials` of an STS answer.
fn sts_keys(status: u16, body: &[u8]) -> Result<Found, String> {
    if status != 200 {
        return Err(super::status_error(status, body));
    }
    let text = std::str::from_utf8(body).map_err(|_| "STS answer is not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("STS answer is not XML: {e}"))?;
    let credentials = doc.descendants().find(|n| n.is_element() && n.tag_name().name() == "Credentials").ok_or("STS answer has no Credentials")?;
    let field = |name: &str| descendant_text(credentials, name).map(str::to_string).filter(|v| !v.is_empty()).ok_or_else(|| format!("STS answer has no {name}"));
    let expiration = field("Expiration")?;
    let expires_ms = crate::api::params::parse_time_ms(&expiration).map_err(|e| format!("STS Expiration: {e}"))?;
    Ok(Found { keys: Keys { access_key_id: field("AccessKeyId")?, secret_access_key: field("SecretAccessKey")?, session_token: Some(field("SessionToken")?) }, expires_ms: Some(expires_ms) })
}

/// Temporary keys in the JSON the container and instance metadata endpoints answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonKeys {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    expiration: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn json_keys(body: &[u8], what: &str) -> Result<Found, String> {
    let keys: JsonKeys = serde_json::from_slice(body).map_err(|e| format!("{what}: cannot read the keys: {e}"))?;
    if let Some(code) = keys.code.as_deref().filter(|c| *c != "Success") {
        return Err(format!("{what}: {code}: {}", keys.message.unwrap_or_default()));
    }
    let expires_ms = match keys.expiration.filter(|e| !e.is_empty()) {
        Some(at) => Some(crate::api::params::parse_time_ms(&at).map_err(|e| format!("{what}: Expiration: {e}"))?),
        None => None,
    };
    Ok(Found { keys: Keys { access_key_id: keys.access_key_id, secret_access_key: keys.secret_access_key, session_token: keys.token.filter(|t| !t.is_empty()) }, expires_ms })
}

/// A container's role, when the environment points at its endpoint.
async fn container_keys(lookup: &Lookup<'_>) -> Result<Option<Found>, String> {
    let url = match (lookup.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"), lookup.var("AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        (Some(relative), _) => format!("http://169.254.170.2{relative}"),
        (None, Some(full)) => full,
        (None, None) => return Ok(None),
    };
    let what = format!("container credentials {url}");
    let location = Url::parse(&url).map_err(|e| format!("{what}: {e}"))?;
    let mut headers = vec![("Accept".to_string(), "application/json".to_string())];
    let token = match lookup.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(file) => Some(std::fs::read_to_string(&file).map_err(|e| format!("{what}: token file {file}: {e}"))?.trim().to_string()),
        None => lookup.var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    };
    if let Some(token) = token {
        headers.push(("Authorization".to_string(), token));
    }
    let mut client = crate::scrape::http_get::client_for(&location, lookup.transport.tls, &ProxyChoice::default())?;
    let response = client.get(&location.path_and_query, &headers, REQUEST_TIMEOUT, 1 << 20).await.map_err(|e| format!("{what}: {e}"))?;
    if response.status != 200 {
        return Err(format!("{what}: {}", crate::scrape::http_get::status_error(response.status)));
    }
    json_keys(&response.body, &what).map(Some)
}

/// The instance metadata service, with an IMDSv2 token when it gives one.
struct Metadata {
    base: Url,
}

impl Metadata {
    fn new(lookup: &Lookup<'_>) -> Result<Metadata, String> {
        if lookup.var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err("the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)".into());
        }
        let text = lookup.var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254".into());
        Ok(Metadata { base: Url::parse(&text).map_err(|e| format!("AWS_EC2_METADATA_SERVICE_ENDPOINT {text:?}: {e}"))? })
    }

    /// GETs `path`, with a session token unless the service takes none (IMDSv1).
    async fn get(&self, path: &str) -> Result<String, String> {
        let mut client = net::client::HttpClient::new(self.base.host.clone(), self.base.port, None);
        let prefix = self.base.path_and_query.trim_end_matches('/');
        let token_headers = [("X-aws-ec2-metadata-token-ttl-seconds".to_string(), "21600".to_string())];
        let token = client.put(&format!("{prefix}/latest/api/token"), &token_headers, b"", METADATA_TIMEOUT, 4096).await.map_err(|e| e.to_string())?;
        let mut headers = Vec::new();
        match token.status {
            200 => headers.push(("X-aws-ec2-metadata-token".to_string(), String::from_utf8_lossy(&token.body).trim().to_string())),
            // A service without IMDSv2 (or a proxy refusing PUT): IMDSv1, as the Go SDK falls back.
            403..=405 => {}
            status => return Err(format!("token: {}", crate::scrape::http_get::status_error(status))),
        }
        let response = client.get(&format!("{prefix}{path}"), &headers, METADATA_TIMEOUT, 1 << 20).await.map_err(|e| e.to_string())?;
        if response.status != 200 {
            return Err(format!("{path}: {}", crate::scrape::http_get::status_error(response.status)));
        }
        String::from_utf8(response.body).map_err(|_| format!("{path}: answer is not UTF-8"))
    }
}

/// The instance's role from the instance metadata service.
async fn instance_keys(lookup: &Lookup<'_>) -> Result<Found, String> {
    let metadata = Metadata::new(lookup)?;
    let roles = metadata.get("/latest/meta-data/iam/security-credentials/").await?;
    let role = roles.lines().map(str::trim).find(|l| !l.is_empty()).ok_or("no role attached to the instance")?.to_string();
    let body = metadata.get(&format!("/latest/meta-data/iam/security-credentials/{role}")).await?;
    json_keys(body.as_bytes(), &format!("instance role {role}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_shared_files_as_ini() {
        let credentials = "[default]\naws_access_key_id = AKID1\naws_secret_access_key=secret1 # a comment\n; a comment line\n[prod]\nAWS_ACCESS_KEY_ID = AKID2\n[profile skipped]\nx=y\n";
        let config = "[default]\nregion = eu-west-1\n[profile prod]\nregion = us-east-2\naws_access_key_id = from-config\nrole_arn = arn:aws:iam::1:role/r\n[prod]\nignored = 1\n";
        let files = SharedFiles { credentials_path: "c".into(), config_path: "k".into(), credentials: parse_ini(credentials, false), config: parse_ini(config, true) };
        let default = files.profile("default").expect("default");
        assert_eq!((default["aws_access_key_id"].as_str(), default["aws_secret_access_key"].as_str(), default["region"].as_str()), ("AKID1", "secret1", "eu-west-1"));
        let prod = files.profile("prod").expect("prod");
        assert_eq!(prod["aws_access_key_id"], "AKID2", "the credentials file wins");
        assert_eq!((prod["region"].as_str(), prod["role_arn"].as_str()), ("us-east-2", "arn:aws:iam::1:role/r"));
        assert!(!prod.contains_key("ignored"), "[prod] in the config file is not a profile");
        assert!(files.profile("skipped").is_none(), "[profile x] in the credentials file is not a profile");
        assert!(static_profile_keys(&files.profile("prod").expect("prod"), "prod").is_err(), "no secret");
    }

    #[test]
    fn reads_sts_and_json_keys() {
        let sts = br#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><Arn>a</Arn></AssumedRoleUser><Credentials><AccessKeyId>ASIA1</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2026-12-04T11:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>"#;
        let found = sts_keys(200, sts).expect("keys");
        assert_eq!(found.keys, Keys { access_key_id: "ASIA1".into(), secret_access_key: "s".into(), session_token: Some("t".into()) });
        assert_eq!(found.expires_ms, Some(1_796_382_000_000));
        assert!(found.fresh(1_796_382_000_000 - RENEW_BEFORE_MS - 1) && !found.fresh(1_796_382_000_000 - RENEW_BEFORE_MS));
        let denied = br#"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not allowed</Message></Error></ErrorResponse>"#;
        assert_eq!(sts_keys(403, denied).err().as_deref(), Some("server returned HTTP status 403 Forbidden: AccessDenied: not allowed"));
        let json = br#"{"Code":"Success","AccessKeyId":"ASIA2","SecretAccessKey":"s2","Token":"t2","Expiration":"2026-12-04T11:00:00Z","Type":"AWS-HMAC"}"#;
        assert_eq!(json_keys(json, "x").expect("keys").keys.session_token.as_deref(), Some("t2"));
        assert!(json_keys(br#"{"Code":"Failed","AccessKeyId":"","SecretAccessKey":"","Message":"no"}"#, "x").is_err());
    }

    #[test]
    fn the_environment_is_read_in_the_sdk_order() {
        let vars: HashMap<&str, &str> = HashMap::from([("AWS_ACCESS_KEY", "old"), ("AWS_SECRET_KEY", "s"), ("AWS_SESSION_TOKEN", "t"), ("AWS_DEFAULT_REGION", "ap-south-1")]);
        let env = |name: &str| vars.get(name).map(|v| v.to_string());
        let (tls, proxy) = (Err("none".to_string()), ProxyChoice::default());
        let lookup = Lookup { env: &env, transport: Transport { tls: &tls, proxy: &proxy } };
        assert_eq!(env_keys(&lookup), Some(Keys { access_key_id: "old".into(), secret_access_key: "s".into(), session_token: Some("t".into()) }));
        assert_eq!(chosen_profile("", &lookup), None);
        assert_eq!(chosen_profile("p", &lookup).as_deref(), Some("p"));
        assert_eq!(sts_url("cn-north-1", &lookup).map(|u| u.host), Ok("sts.cn-north-1.amazonaws.com.cn".to_string()));
    }
}
