//! The keys and region of an `ec2_sd_configs` entry, found in the order AWS' Go SDK finds them
//! for Prometheus:
//!
//! 1. `access_key` with `secret_key` from the entry;
//! 2. unless the entry names a `profile`: `AWS_ACCESS_KEY_ID` (or
//!    `AWS_ACCESS_KEY`) with `AWS_SECRET_ACCESS_KEY` (or `AWS_SECRET_KEY`) and
//!    `AWS_SESSION_TOKEN`; then a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and
//!    `AWS_ROLE_ARN`, as on EKS), exchanged by STS' `AssumeRoleWithWebIdentity`;
//! 3. the profile (the entry's, else `AWS_PROFILE`, else `default`, which may be absent) of
//!    the shared files (`~/.aws/credentials` over `~/.aws/config`;
//!    `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`; an unreadable file is skipped), in the
//!    SDK's `resolveCredsFromProfile` order: its `source_profile`'s keys (a source with keys of
//!    its own ends the chain there; a profile met again gives its own, its role left out), its
//!    own keys, its `credential_source`, its `web_identity_token_file`, its SSO role
//!    (`sso_session` or the legacy `sso_start_url` keys: `sso`), its `credential_process`
//!    (`process`); else
//! 4. a container's role (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, else `_RELATIVE_URI`, with
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`: ECS tasks, EKS Pod Identity);
//! 5. else the instance's role from the instance metadata service (IMDSv2's token, IMDSv1 when
//!    no token comes; `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_EC2_METADATA_DISABLED`);
//!
//! and the profile's `role_arn` is assumed with those keys. The entry's `role_arn` (with
//! `external_id`) is then assumed with the keys found through STS
//! (`AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL` replace STS' regional endpoint). Temporary keys
//! are kept until five minutes before they expire. The region is the entry's, else `AWS_REGION`,
//! `AWS_DEFAULT_REGION`, the profile's `region`, or the instance metadata's.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::sigv4::Keys;
use super::Transport;
use crate::scrape::ec2_sd::instances::{child, child_text};
use crate::scrape::config::{Secret, Url};
use crate::scrape::proxy::ProxyChoice;

mod process;
mod sso;

/// Temporary keys are asked again this long before they expire.
const RENEW_BEFORE_MS: i64 = 5 * 60_000;
/// The most one request for keys (or the region) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Requests to the instance metadata service: short, as it is absent off EC2.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);
/// How many `source_profile` hops a profile may take (the SDK has no bound; a loop ends at
/// the first profile met again, as there).
const SOURCE_PROFILE_HOPS_MAX: usize = 16;

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
    if let Some(region) = SharedFiles::read(lookup).profile(&profile).and_then(|p| p.get("region").cloned()).filter(|r| !r.is_empty()) {
        return Ok(region);
    }
    let mut metadata = Metadata::new(lookup)?;
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
    // As the SDK: only a profile named in the configuration (not AWS_PROFILE) passes over the
    // environment's keys and web identity.
    if settings.profile.is_empty() {
        if let Some(keys) = env_keys(lookup) {
            return Ok(Found { keys, expires_ms: None });
        }
        if let Some(token_file) = lookup.var("AWS_WEB_IDENTITY_TOKEN_FILE") {
            let role = lookup.var("AWS_ROLE_ARN").ok_or("AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not")?;
            return web_identity(&PathBuf::from(token_file), &role, lookup.var("AWS_ROLE_SESSION_NAME"), region, lookup).await;
        }
    }
    let files = SharedFiles::read(lookup);
    let named = chosen_profile(&settings.profile, lookup);
    let name = named.clone().unwrap_or_else(|| "default".into());
    // A named profile must exist; without one, no default profile is no keys of its own.
    if named.is_some() && files.profile(&name).is_none() {
        return Err(format!("profile {name:?} is in neither shared file ({} nor {})", files.credentials_path.display(), files.config_path.display()));
    }
    profile_keys(&files, &name, region, lookup, Vec::new()).await
}

fn env_keys(lookup: &Lookup<'_>) -> Option<Keys> {
    let id = lookup.var("AWS_ACCESS_KEY_ID").or_else(|| lookup.var("AWS_ACCESS_KEY"))?;
    let secret = lookup.var("AWS_SECRET_ACCESS_KEY").or_else(|| lookup.var("AWS_SECRET_KEY"))?;
    Some(Keys { access_key_id: id, secret_access_key: secret, session_token: lookup.var("AWS_SESSION_TOKEN") })
}

/// The keys of a shared-files profile (an empty one when absent), as the SDK's
/// `resolveCredsFromProfile` orders its sources: its `source_profile`'s keys, else its own
/// (`own_keys`); then its `role_arn` assumed with them. `above` holds the profiles that named
/// this one as their source, nearest last: a source with keys of its own ends the chain, and
/// a profile met again is read without its `role_arn` and `source_profile` (the SDK's rules).
fn profile_keys<'a>(files: &'a SharedFiles, name: &'a str, region: &'a str, lookup: &'a Lookup<'a>, above: Vec<String>) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Found, String>> + 'a>> {
    Box::pin(async move {
        let profile = files.profile(name).unwrap_or_default();
        let get = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
        let again = above.iter().any(|n| n == name);
        let (role, source) = if again { (None, None) } else { (get("role_arn"), get("source_profile")) };
        let base = match (static_profile_keys(&profile, name), source) {
            (Ok(keys), _) if !above.is_empty() => keys,
            (_, Some(source)) => {
                one_credential_type(&profile, true, name)?;
                if above.len() >= SOURCE_PROFILE_HOPS_MAX {
                    return Err(format!("profile {name:?}: source_profile chain longer than {SOURCE_PROFILE_HOPS_MAX}"));
                }
                let mut chain = above.clone();
                chain.push(name.to_string());
                let source_profile = files.profile(&source).ok_or(format!("profile {name:?}: source_profile {source:?} not found in the shared files"))?;
                if !has_credentials(&source_profile, chain.contains(&source)) {
                    return Err(format!("profile {name:?}: source_profile {source:?} has no credentials"));
                }
                profile_keys(files, &source, region, lookup, chain).await?
            }
            (_, None) => {
                one_credential_type(&profile, false, name)?;
                match own_keys(files, &profile, name, role.as_deref(), region, lookup).await? {
                    Own::Keys(found) => found,
                    Own::RoleAssumed(found) => return Ok(found),
                }
            }
        };
        match role {
            Some(role) => {
                let external_id = get("external_id").unwrap_or_default();
                assume_role(&base.keys, &role, &external_id, region, lookup).await.map_err(|e| format!("profile {name:?}: cannot assume role {role}: {e}"))
            }
            None => Ok(base),
        }
    })
}

/// What a profile's own credentials gave.
enum Own {
    /// Keys its `role_arn` (if any) is still to be assumed with.
    Keys(Found),
    /// A web identity's keys: its `role_arn` was the role exchanged for them.
    RoleAssumed(Found),
}

/// A profile's own credentials, in the SDK's order: its keys, its `credential_source`, its
/// `web_identity_token_file`, its SSO role, its `credential_process`; else a container's
/// role, else the instance's. `role` is its `role_arn` (None when met again in a chain).
async fn own_keys(files: &SharedFiles, profile: &HashMap<String, String>, name: &str, role: Option<&str>, region: &str, lookup: &Lookup<'_>) -> Result<Own, String> {
    let get = |key: &str| profile.get(key).filter(|v| !v.is_empty()).cloned();
    let found = if let Ok(keys) = static_profile_keys(profile, name) {
        keys
    } else if let Some(source) = get("credential_source") {
        match source.as_str() {
            "Environment" => Found { keys: env_keys(lookup).ok_or(format!("profile {name:?}: credential_source Environment, but no keys in the environment"))?, expires_ms: None },
            "Ec2InstanceMetadata" => instance_keys(lookup).await?,
            "EcsContainer" => container_keys(lookup).await?.ok_or(format!("profile {name:?}: credential_source EcsContainer, but no container credentials in the environment"))?,
            other => return Err(format!("profile {name:?}: unknown credential_source {other:?}")),
        }
    } else if let Some(token_file) = get("web_identity_token_file") {
        let role = role.ok_or(format!("profile {name:?}: web_identity_token_file needs role_arn"))?;
        return web_identity(&PathBuf::from(token_file), role, get("role_session_name"), region, lookup).await.map(Own::RoleAssumed);
    } else if let Some(sso) = sso::settings(profile, name, &files.sso_sessions)? {
        sso::keys(&sso, name, lookup).await.map_err(|e| format!("profile {name:?}: {e}"))?
    } else if let Some(command) = get("credential_process") {
        process::keys(&command, process::TIMEOUT).await.map_err(|e| format!("profile {name:?}: {e}"))?
    } else if let Some(found) = container_keys(lookup).await? {
        found
    } else {
        instance_keys(lookup).await.map_err(|e| format!("no keys found (entry, environment, shared files, container), and none from the instance metadata service: {e}"))?
    };
    Ok(Own::Keys(found))
}

/// As the SDK's `validateCredentialType`: a profile names at most one of `source_profile`
/// (`with_source`: not dropped as a profile met again), `credential_source`,
/// `credential_process` and `web_identity_token_file`.
fn one_credential_type(profile: &HashMap<String, String>, with_source: bool, name: &str) -> Result<(), String> {
    let set = |key: &str| profile.get(key).is_some_and(|v| !v.is_empty());
    let count = [with_source, set("credential_source"), set("credential_process"), set("web_identity_token_file")].into_iter().filter(|s| *s).count();
    if count > 1 {
        return Err(format!("profile {name:?}: only one credential type may be specified per profile: source profile, credential source, credential process, web identity token"));
    }
    Ok(())
}

/// As the SDK's `hasCredentials`: whether a `source_profile` can give keys (`again`: it is
/// met again in the chain, so its own `source_profile` does not count).
fn has_credentials(profile: &HashMap<String, String>, again: bool) -> bool {
    let set = |key: &str| profile.get(key).is_some_and(|v| !v.is_empty());
    (!again && set("source_profile")) || ["credential_source", "credential_process", "web_identity_token_file"].iter().any(|key| set(key)) || sso::configured(profile) || (set("aws_access_key_id") && set("aws_secret_access_key"))
}

/// An RFC3339 time (as Go's `time.RFC3339` reads one) in ms since the epoch.
fn rfc3339_ms(text: &str) -> Result<i64, String> {
    if !text.contains(['T', 't']) {
        return Err(format!("{text:?} is not an RFC3339 time"));
    }
    crate::api::params::parse_time_ms(text)
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
    /// The config file's `[sso-session name]` sections, by name.
    sso_sessions: HashMap<String, HashMap<String, String>>,
}

impl SharedFiles {
    /// A file that is missing or cannot be read holds no profiles, as the SDK skips it.
    fn read(lookup: &Lookup<'_>) -> SharedFiles {
        let home = lookup.var("HOME").map(PathBuf::from).unwrap_or_default();
        let credentials_path = lookup.var("AWS_SHARED_CREDENTIALS_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/credentials"));
        let config_path = lookup.var("AWS_CONFIG_FILE").map(PathBuf::from).unwrap_or_else(|| home.join(".aws/config"));
        let read = |path: &PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        let config_text = read(&config_path);
        let credentials = parse_ini(&read(&credentials_path), false);
        let (config, sso_sessions) = (parse_ini(&config_text, true), parse_sso_sessions(&config_text));
        SharedFiles { credentials_path, config_path, credentials, config, sso_sessions }
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
    ini_sections(text, |header| match header.strip_prefix("profile ") {
        Some(name) if config_file => Some(name.trim().to_string()),
        Some(_) => None,
        None if config_file && header != "default" => None,
        None => Some(header.to_string()),
    })
}

/// The config file's `[sso-session name]` sections.
fn parse_sso_sessions(text: &str) -> HashMap<String, HashMap<String, String>> {
    ini_sections(text, |header| header.strip_prefix("sso-session ").map(|name| name.trim().to_string()))
}

/// The sections `name_of` names (from their trimmed header), with their `key = value` lines.
fn ini_sections(text: &str, name_of: impl Fn(&str) -> Option<String>) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name_of(header.trim());
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

/// AWS' domain for `region`: its China and isolated partitions have their own.
pub fn dns_suffix(region: &str) -> &'static str {
    const PARTITIONS: [(&str, &str); 5] = [("cn-", "amazonaws.com.cn"), ("us-isob-", "sc2s.sgov.gov"), ("us-isof-", "csp.hci.ic.gov"), ("us-iso-", "c2s.ic.gov"), ("eu-isoe-", "cloud.adc-e.uk")];
    PARTITIONS.iter().find(|(prefix, _)| region.starts_with(prefix)).map_or("amazonaws.com", |(_, suffix)| suffix)
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
    // AssumeRoleResponse/AssumeRoleResult/Credentials, or the web identity's.
    let result = doc.root_element().children().find(|n| n.is_element() && n.tag_name().name().ends_with("Result")).ok_or("STS answer has no result")?;
    let credentials = child(result, "Credentials").ok_or("STS answer has no Credentials")?;
    let field = |name: &str| child_text(credentials, name).filter(|v| !v.is_empty()).ok_or_else(|| format!("STS answer has no {name}"));
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
    // The Go SDK's order: the full URI first, then the ECS agent's relative one.
    let (url, full) = match (lookup.var("AWS_CONTAINER_CREDENTIALS_FULL_URI"), lookup.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        (Some(full), _) => (full, true),
        (None, Some(relative)) => (format!("http://169.254.170.2{relative}"), false),
        (None, None) => return Ok(None),
    };
    let location = Url::parse(&url).map_err(|e| format!("container credentials endpoint: {e}"))?;
    // The path may work as a secret: messages name the host only.
    let what = format!("container credentials from {}", location.host);
    // As the SDK: the token goes over plain HTTP to loopback or the ECS and EKS agents only.
    if full && location.scheme == crate::scrape::config::Scheme::Http && !container_host_allowed(&location.host) {
        return Err(format!("{what}: AWS_CONTAINER_CREDENTIALS_FULL_URI over http must name a loopback address or the ECS or EKS agent"));
    }
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

/// Whether a plain-HTTP container credentials host is one the SDK sends the token to.
fn container_host_allowed(host: &str) -> bool {
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"].iter().any(|agent| agent.parse::<std::net::IpAddr>().ok() == Some(ip)),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

/// The instance metadata service, with an IMDSv2 token when it gives one (asked once).
struct Metadata {
    base: Url,
    /// None: not asked yet; Some(None): the service takes none (IMDSv1).
    token: Option<Option<String>>,
    client: Option<net::client::HttpClient>,
}

impl Metadata {
    fn new(lookup: &Lookup<'_>) -> Result<Metadata, String> {
        if lookup.var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err("the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)".into());
        }
        let text = lookup.var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254".into());
        Ok(Metadata { base: Url::parse(&text).map_err(|e| format!("AWS_EC2_METADATA_SERVICE_ENDPOINT {text:?}: {e}"))?, token: None, client: None })
    }

    /// GETs `path`, with the session token unless the service gave none (IMDSv1).
    async fn get(&mut self, path: &str) -> Result<String, String> {
        if self.client.is_none() {
            self.client = Some(crate::scrape::http_get::client_for(&self.base, &crate::scrape::http_get::system_roots_tls(), &ProxyChoice::default())?);
        }
        let client = self.client.as_mut().ok_or("no client")?;
        let prefix = self.base.path_and_query.trim_end_matches('/').to_string();
        if self.token.is_none() {
            let token_headers = [("X-aws-ec2-metadata-token-ttl-seconds".to_string(), "21600".to_string())];
            let asked = client.put(&format!("{prefix}/latest/api/token"), &token_headers, b"", METADATA_TIMEOUT, 4096).await;
            self.token = Some(match asked {
                Ok(answer) if answer.status == 200 => Some(String::from_utf8_lossy(&answer.body).trim().to_string()),
                // As the SDK: a bad request is an error; anything else (no IMDSv2, a hop limit
                // that drops the answer, a timeout) falls back to IMDSv1.
                Ok(answer) if answer.status == 400 => return Err(format!("token: {}", crate::scrape::http_get::status_error(400))),
                _ => None,
            });
        }
        let headers: Vec<(String, String)> = self.token.iter().flatten().map(|t| ("X-aws-ec2-metadata-token".to_string(), t.clone())).collect();
        let response = client.get(&format!("{prefix}{path}"), &headers, METADATA_TIMEOUT, 1 << 20).await.map_err(|e| e.to_string())?;
        if response.status != 200 {
            return Err(format!("{path}: {}", crate::scrape::http_get::status_error(response.status)));
        }
        String::from_utf8(response.body).map_err(|_| format!("{path}: answer is not UTF-8"))
    }
}

/// The instance's role from the instance metadata service.
async fn instance_keys(lookup: &Lookup<'_>) -> Result<Found, String> {
    let mut metadata = Metadata::new(lookup)?;
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
        let files = SharedFiles { credentials_path: "c".into(), config_path: "k".into(), credentials: parse_ini(credentials, false), config: parse_ini(config, true), sso_sessions: parse_sso_sessions(config) };
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

    use crate::scrape::fake_api::{run, serve, Seen};

    /// A fake instance metadata service (IMDSv2), STS and container endpoint.
    fn cloud(request: &Seen) -> (u16, String) {
        let keys = |id: &str| format!(r#"{{"Code":"Success","AccessKeyId":"{id}","SecretAccessKey":"s","Token":"t","Expiration":"2099-01-01T00:00:00Z"}}"#);
        match (request.method.as_str(), request.path.as_str()) {
            ("PUT", "/latest/api/token") => (200, "imds-token".into()),
            ("GET", path) if path.starts_with("/latest/") && request.header("x-aws-ec2-metadata-token") != Some("imds-token") => (401, String::new()),
            ("GET", "/latest/meta-data/iam/security-credentials/") => (200, "role-a\n".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/role-a") => (200, keys("ASIAIMDS")),
            ("GET", "/creds") if request.header("authorization") == Some("container-token") => (200, keys("ASIACONTAINER")),
            ("POST", "/") if request.body.contains("Action=AssumeRole&") => (
                200,
                "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>".into(),
            ),
            ("POST", "/") if request.body.contains("Action=AssumeRoleWithWebIdentity&") && request.body.contains("WebIdentityToken=eks-jwt") => (
                200,
                "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIAWEB</AccessKeyId><SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>".into(),
            ),
            _ => (404, String::new()),
        }
    }

    /// A metadata service without IMDSv2: its token request fails.
    fn imds_v1(request: &Seen) -> (u16, String) {
        match (request.method.as_str(), request.path.as_str(), request.header("x-aws-ec2-metadata-token")) {
            ("PUT", _, _) => (500, String::new()),
            ("GET", "/latest/meta-data/iam/security-credentials/", None) => (200, "role-a".into()),
            ("GET", "/latest/meta-data/iam/security-credentials/role-a", None) => (200, r#"{"AccessKeyId":"ASIAV1","SecretAccessKey":"s"}"#.into()),
            _ => (404, String::new()),
        }
    }

    /// Runs `find` with `settings` and the environment `vars` (HOME and the shared files in
    /// `dir`, unless `vars` names them).
    fn find_with(settings: &Settings, vars: &[(&str, &str)], dir: &std::path::Path) -> Result<Found, String> {
        let mut all: HashMap<String, String> = HashMap::from([("HOME".to_string(), dir.display().to_string())]);
        all.extend(vars.iter().map(|(n, v)| (n.to_string(), v.to_string())));
        let env = move |name: &str| all.get(name).cloned();
        let (tls, proxy) = (Err("no TLS".to_string()), ProxyChoice::default());
        let lookup = Lookup { env: &env, transport: Transport { tls: &tls, proxy: &proxy, headers: &[] } };
        run(async { find(settings, "eu-west-1", &lookup).await })
    }

    #[test]
    fn a_default_profile_without_keys_falls_to_the_instance_role() {
        let (base, seen) = serve(cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".aws")).expect("dir");
        std::fs::write(dir.path().join(".aws/config"), "[default]\nregion = eu-north-1\n").expect("config");
        let found = find_with(&Settings::default(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)], dir.path()).expect("keys");
        assert_eq!(found.keys.access_key_id, "ASIAIMDS");
        assert_eq!(found.expires_ms, Some(4_070_908_800_000));
        let puts = seen.lock().map(|s| s.iter().filter(|r| r.method == "PUT").count()).unwrap_or_default();
        assert_eq!(puts, 1, "one IMDSv2 token for both requests");
    }

    #[test]
    fn imds_v1_is_used_when_no_token_comes() {
        let (base, _) = serve(imds_v1);
        let dir = tempfile::tempdir().expect("tempdir");
        let found = find_with(&Settings::default(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base)], dir.path()).expect("keys");
        assert_eq!((found.keys.access_key_id.as_str(), found.expires_ms, found.keys.session_token.as_deref()), ("ASIAV1", None, None));
        let disabled = find_with(&Settings::default(), &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &base), ("AWS_EC2_METADATA_DISABLED", "true")], dir.path());
        assert!(disabled.is_err_and(|e| e.contains("AWS_EC2_METADATA_DISABLED")));
    }

    #[test]
    fn environment_keys_win_unless_the_entry_names_a_profile() {
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = dir.path().join("credentials");
        std::fs::write(&credentials, "[p]\naws_access_key_id = FROMPROFILE\naws_secret_access_key = s\n").expect("credentials");
        let file = credentials.display().to_string();
        let vars = [("AWS_ACCESS_KEY_ID", "FROMENV"), ("AWS_SECRET_ACCESS_KEY", "s"), ("AWS_PROFILE", "p"), ("AWS_SHARED_CREDENTIALS_FILE", file.as_str())];
        assert_eq!(find_with(&Settings::default(), &vars, dir.path()).map(|f| f.keys.access_key_id), Ok("FROMENV".to_string()), "AWS_PROFILE does not pass over the environment");
        let named = Settings { profile: "p".into(), ..Settings::default() };
        assert_eq!(find_with(&named, &vars, dir.path()).map(|f| f.keys.access_key_id), Ok("FROMPROFILE".to_string()));
        let missing = Settings { profile: "q".into(), ..Settings::default() };
        assert!(find_with(&missing, &vars, dir.path()).is_err_and(|e| e.contains("profile \"q\" is in neither shared file")));
    }

    #[test]
    fn a_profile_role_is_assumed_with_its_own_keys() {
        let (base, seen) = serve(cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let credentials = dir.path().join("credentials");
        std::fs::write(&credentials, "[p]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\nrole_arn = arn:aws:iam::1:role/r\nexternal_id = e-1\n").expect("credentials");
        let file = credentials.display().to_string();
        let settings = Settings { profile: "p".into(), ..Settings::default() };
        let found = find_with(&settings, &[("AWS_SHARED_CREDENTIALS_FILE", &file), ("AWS_ENDPOINT_URL_STS", &base)], dir.path()).expect("keys");
        assert_eq!(found.keys.access_key_id, "ASIAROLE");
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let sts = requests.iter().find(|r| r.method == "POST").expect("an STS request");
        assert!(sts.header("authorization").is_some_and(|a| a.contains("Credential=AKIDPROFILE/") && a.contains("/eu-west-1/sts/aws4_request")), "{sts:?}");
        assert!(sts.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fr") && sts.body.contains("ExternalId=e-1"), "{sts:?}");
        assert!(sts.header("user-agent").is_some_and(|ua| ua.starts_with("Metricstor/")) && !sts.header("authorization").unwrap_or("").contains("user-agent"), "User-Agent sent, not signed");
    }

    #[test]
    fn a_web_identity_token_is_exchanged_unsigned_from_the_environment_or_a_profile() {
        let (base, seen) = serve(cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "eks-jwt\n").expect("token");
        let token = token_file.display().to_string();
        let env = [("AWS_WEB_IDENTITY_TOKEN_FILE", token.as_str()), ("AWS_ROLE_ARN", "arn:aws:iam::1:role/eks"), ("AWS_ROLE_SESSION_NAME", "pod-1"), ("AWS_ENDPOINT_URL_STS", &base)];
        let found = find_with(&Settings::default(), &env, dir.path()).expect("keys");
        assert_eq!((found.keys.access_key_id.as_str(), found.keys.session_token.as_deref(), found.expires_ms), ("ASIAWEB", Some("t"), Some(4_070_908_800_000)));
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let sts = requests.iter().find(|r| r.method == "POST").expect("an STS request");
        assert!(sts.header("authorization").is_none(), "AssumeRoleWithWebIdentity is not signed: {sts:?}");
        assert!(sts.body.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Feks") && sts.body.contains("RoleSessionName=pod-1"), "{sts:?}");
        // Without AWS_ROLE_ARN the token cannot be used: said, not skipped.
        let no_role = find_with(&Settings::default(), &env[..1], dir.path());
        assert!(no_role.is_err_and(|e| e.contains("AWS_ROLE_ARN")));
        // The same from a named profile's web_identity_token_file and role_arn.
        let config = dir.path().join("config");
        std::fs::write(&config, format!("[profile w]\nweb_identity_token_file = {token}\nrole_arn = arn:aws:iam::1:role/eks\n")).expect("config");
        let file = config.display().to_string();
        let settings = Settings { profile: "w".into(), ..Settings::default() };
        let found = find_with(&settings, &[("AWS_CONFIG_FILE", &file), ("AWS_ENDPOINT_URL_STS", &base)], dir.path()).expect("keys");
        assert_eq!(found.keys.access_key_id, "ASIAWEB");
        // A token the service refuses is an error naming the role.
        std::fs::write(&token_file, "expired-jwt\n").expect("token");
        let refused = find_with(&Settings::default(), &env, dir.path());
        assert!(refused.is_err_and(|e| e.contains("web identity for arn:aws:iam::1:role/eks")));
    }

    #[test]
    fn container_credentials_carry_their_token_to_allowed_hosts_only() {
        let (base, _) = serve(cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("token");
        std::fs::write(&token_file, "container-token\n").expect("token");
        let file = token_file.display().to_string();
        let full = format!("{base}/creds");
        let found = find_with(&Settings::default(), &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full), ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &file)], dir.path()).expect("keys");
        assert_eq!(found.keys.access_key_id, "ASIACONTAINER");
        // With both set, the full URI wins, as in the Go SDK (the ECS agent's address is
        // not asked).
        let both = find_with(&Settings::default(), &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full), ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x"), ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &file)], dir.path()).expect("keys");
        assert_eq!(both.keys.access_key_id, "ASIACONTAINER");
        let elsewhere = find_with(&Settings::default(), &[("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/secret-path"), ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t")], dir.path());
        assert!(elsewhere.is_err_and(|e| e.contains("loopback") && !e.contains("secret-path")));
        assert!(container_host_allowed("169.254.170.23") && container_host_allowed("[::1]") && container_host_allowed("localhost") && !container_host_allowed("10.0.0.1"));
        assert_eq!((dns_suffix("us-isob-east-1"), dns_suffix("us-iso-east-1"), dns_suffix("cn-north-1"), dns_suffix("eu-west-1")), ("sc2s.sgov.gov", "c2s.ic.gov", "amazonaws.com.cn", "amazonaws.com"));
    }

    #[test]
    fn the_environment_is_read_in_the_sdk_order() {
        let vars: HashMap<&str, &str> = HashMap::from([("AWS_ACCESS_KEY", "old"), ("AWS_SECRET_KEY", "s"), ("AWS_SESSION_TOKEN", "t"), ("AWS_DEFAULT_REGION", "ap-south-1")]);
        let env = |name: &str| vars.get(name).map(|v| v.to_string());
        let (tls, proxy) = (Err("none".to_string()), ProxyChoice::default());
        let lookup = Lookup { env: &env, transport: Transport { tls: &tls, proxy: &proxy, headers: &[] } };
        assert_eq!(env_keys(&lookup), Some(Keys { access_key_id: "old".into(), secret_access_key: "s".into(), session_token: Some("t".into()) }));
        assert_eq!(chosen_profile("", &lookup), None);
        assert_eq!(chosen_profile("p", &lookup).as_deref(), Some("p"));
        assert_eq!(sts_url("cn-north-1", &lookup).map(|u| u.host), Ok("sts.cn-north-1.amazonaws.com.cn".to_string()));
    }

    /// `cloud`, with an SSO portal and SSO OIDC: the portal knows the bearer tokens
    /// `sso-token` and `refreshed-token`; OIDC refreshes the refresh token `rt-1`.
    fn sso_cloud(request: &Seen) -> (u16, String) {
        let role = |id: &str| format!(r#"{{"roleCredentials":{{"accessKeyId":"{id}","secretAccessKey":"s","sessionToken":"t","expiration":4070908800000}}}}"#);
        match (request.method.as_str(), request.path.as_str(), request.header("x-amz-sso_bearer_token")) {
            ("GET", "/federation/credentials?account_id=111122223333&role_name=Reader", Some("sso-token")) => (200, role("ASIASSO")),
            ("GET", "/federation/credentials?account_id=111122223333&role_name=Reader", Some("refreshed-token")) => (200, role("ASIASSOREFRESHED")),
            ("GET", _, _) => (401, r#"{"message":"Session token not found or invalid"}"#.into()),
            ("POST", "/token", _) if request.body.contains(r#""grantType":"refresh_token""#) && request.body.contains(r#""refreshToken":"rt-1""#) && request.body.contains(r#""clientId":"client-1""#) => {
                (200, r#"{"accessToken":"refreshed-token","expiresIn":3600,"refreshToken":"rt-2","tokenType":"Bearer"}"#.into())
            }
            _ => cloud(request),
        }
    }

    /// Writes `config` as the config file in `dir` and `token` as the SSO cache entry for `key`;
    /// returns the environment that points at them and at `base` for SSO, OIDC and STS.
    fn sso_setup(dir: &std::path::Path, config: &str, key: &str, token: Option<&str>, base: &str) -> Vec<(String, String)> {
        std::fs::create_dir_all(dir.join(".aws/sso/cache")).expect("dirs");
        std::fs::write(dir.join(".aws/config"), config).expect("config");
        if let Some(token) = token {
            std::fs::write(sso::cached_token_path(dir, key), token).expect("token");
        }
        ["AWS_ENDPOINT_URL_SSO", "AWS_ENDPOINT_URL_SSO_OIDC", "AWS_ENDPOINT_URL_STS"].iter().map(|n| (n.to_string(), base.to_string())).collect()
    }

    fn vars(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    const LEGACY_SSO: &str = "[profile legacy]\nsso_start_url = https://d-123.awsapps.com/start\nsso_region = eu-central-1\nsso_account_id = 111122223333\nsso_role_name = Reader\n";
    const SESSION_SSO: &str = "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n[sso-session corp]\nsso_start_url = https://d-123.awsapps.com/start\nsso_region = eu-central-1\n";

    #[test]
    fn a_legacy_sso_profile_trades_its_cached_token_at_the_portal() {
        let (base, seen) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let env = sso_setup(dir.path(), LEGACY_SSO, "https://d-123.awsapps.com/start", Some(r#"{"startUrl":"https://d-123.awsapps.com/start","region":"eu-central-1","accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
        let settings = Settings { profile: "legacy".into(), ..Settings::default() };
        let found = find_with(&settings, &vars(&env), dir.path()).expect("keys");
        assert_eq!((found.keys.access_key_id.as_str(), found.keys.session_token.as_deref(), found.expires_ms), ("ASIASSO", Some("t"), Some(4_070_908_800_000)));
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!((requests[0].method.as_str(), requests[0].path.as_str(), requests[0].header("x-amz-sso_bearer_token")), ("GET", "/federation/credentials?account_id=111122223333&role_name=Reader", Some("sso-token")));
        assert!(requests[0].header("authorization").is_none(), "the portal's request is not signed");
    }

    #[test]
    fn an_sso_session_profile_reads_the_token_cached_under_the_session_name() {
        let (base, seen) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let env = sso_setup(dir.path(), SESSION_SSO, "corp", Some(r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
        let settings = Settings { profile: "dev".into(), ..Settings::default() };
        assert_eq!(find_with(&settings, &vars(&env), dir.path()).map(|f| f.keys.access_key_id), Ok("ASIASSO".to_string()));
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        assert!(requests.iter().all(|r| r.method == "GET" && r.header("x-amz-sso_bearer_token") == Some("sso-token")), "{requests:?}");
        // The portal's refusal is said with its message.
        std::fs::write(sso::cached_token_path(dir.path(), "corp"), r#"{"accessToken":"revoked","expiresAt":"2099-01-01T00:00:00Z"}"#).expect("token");
        let refused = find_with(&settings, &vars(&env), dir.path());
        assert!(refused.is_err_and(|e| e.contains("401 Unauthorized: Session token not found or invalid")));
    }

    #[test]
    fn an_expired_sso_session_token_is_refreshed_and_written_back() {
        use std::os::unix::fs::PermissionsExt;
        let (base, seen) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let token = r#"{"accessToken":"old","expiresAt":"2000-01-01T00:00:00Z","refreshToken":"rt-1","clientId":"client-1","clientSecret":"secret-1","registrationExpiresAt":"2099-01-01T00:00:00Z","region":"eu-central-1","startUrl":"https://d-123.awsapps.com/start"}"#;
        let env = sso_setup(dir.path(), SESSION_SSO, "corp", Some(token), &base);
        let cache = sso::cached_token_path(dir.path(), "corp");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let settings = Settings { profile: "dev".into(), ..Settings::default() };
        let before_ms = crate::api::params::now_ms();
        assert_eq!(find_with(&settings, &vars(&env), dir.path()).map(|f| f.keys.access_key_id), Ok("ASIASSOREFRESHED".to_string()));
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let create = requests.iter().find(|r| r.method == "POST").expect("a CreateToken request");
        assert_eq!((create.path.as_str(), create.header("content-type")), ("/token", Some("application/json")));
        assert!(create.body.contains(r#""clientSecret":"secret-1""#), "{create:?}");
        let written: serde_json::Value = serde_json::from_slice(&std::fs::read(&cache).expect("cache")).expect("json");
        assert_eq!((written["accessToken"].as_str(), written["refreshToken"].as_str(), written["clientId"].as_str(), written["startUrl"].as_str()), (Some("refreshed-token"), Some("rt-2"), Some("client-1"), Some("https://d-123.awsapps.com/start")));
        let expires_ms = written["expiresAt"].as_str().map(rfc3339_ms).expect("expiresAt").expect("a time");
        assert!(expires_ms >= before_ms - 1000 + 3_600_000 && expires_ms <= crate::api::params::now_ms() + 3_600_000, "{written}");
        assert_eq!(std::fs::metadata(&cache).expect("cache").permissions().mode() & 0o777, 0o600, "the file keeps its mode");
        assert_eq!(std::fs::read_dir(dir.path().join(".aws/sso/cache")).expect("dir").count(), 1, "no temporary file left");
    }

    #[test]
    fn an_expired_or_missing_sso_token_asks_for_aws_sso_login() {
        let (base, seen) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let legacy = Settings { profile: "legacy".into(), ..Settings::default() };
        let env = sso_setup(dir.path(), LEGACY_SSO, "https://d-123.awsapps.com/start", Some(r#"{"accessToken":"sso-token","expiresAt":"2000-01-01T00:00:00Z","refreshToken":"rt-1","clientId":"client-1","clientSecret":"secret-1"}"#), &base);
        let expired = find_with(&legacy, &vars(&env), dir.path());
        assert!(expired.is_err_and(|e| e.contains("the SSO session has expired or is invalid") && e.contains("aws sso login --profile legacy")), "a legacy token is never refreshed");
        let dir = tempfile::tempdir().expect("tempdir");
        let env = sso_setup(dir.path(), SESSION_SSO, "corp", None, &base);
        let dev = Settings { profile: "dev".into(), ..Settings::default() };
        let missing = find_with(&dev, &vars(&env), dir.path());
        assert!(missing.is_err_and(|e| e.contains("failed to read cached SSO token file") && e.contains("aws sso login --profile dev")));
        std::fs::write(sso::cached_token_path(dir.path(), "corp"), r#"{"accessToken":"old","expiresAt":"2000-01-01T00:00:00Z"}"#).expect("token");
        let unrefreshable = find_with(&dev, &vars(&env), dir.path());
        assert!(unrefreshable.is_err_and(|e| e.contains("cannot be refreshed") && e.contains("aws sso login --profile dev")));
        assert!(seen.lock().map(|s| s.is_empty()).unwrap_or(false), "nothing asked of the portal without a token");
    }

    /// An executable script in `dir` printing `output` (or failing, when None); returns its path.
    fn credential_script(dir: &std::path::Path, name: &str, output: Option<&str>) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        let body = match output {
            Some(output) => format!("#!/bin/sh\necho '{output}'\n"),
            None => "#!/bin/sh\necho 'must not run' >&2\nexit 1\n".to_string(),
        };
        std::fs::write(&path, body).expect("script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path.display().to_string()
    }

    #[test]
    fn a_credential_process_profile_gives_its_keys_and_a_role_chain_assumes_with_them() {
        let (base, seen) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let process = credential_script(dir.path(), "creds", Some(r#"{"Version":1,"AccessKeyId":"ASIAPROCESS","SecretAccessKey":"s","SessionToken":"t","Expiration":"2099-01-01T00:00:00Z"}"#));
        let config = format!("[profile proc]\ncredential_process = {process}\n[profile chained]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = proc\n");
        let env = sso_setup(dir.path(), &config, "", None, &base);
        let found = find_with(&Settings { profile: "proc".into(), ..Settings::default() }, &vars(&env), dir.path()).expect("keys");
        assert_eq!((found.keys.access_key_id.as_str(), found.expires_ms), ("ASIAPROCESS", Some(4_070_908_800_000)));
        let found = find_with(&Settings { profile: "chained".into(), ..Settings::default() }, &vars(&env), dir.path()).expect("keys");
        assert_eq!(found.keys.access_key_id, "ASIAROLE");
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let sts = requests.iter().find(|r| r.method == "POST").expect("an STS request");
        assert!(sts.header("authorization").is_some_and(|a| a.contains("Credential=ASIAPROCESS/")) && sts.header("x-amz-security-token") == Some("t"), "{sts:?}");
    }

    #[test]
    fn a_role_chain_assumes_with_an_sso_source_and_a_self_sourced_sso_profile() {
        let (base, seen) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let config = format!("{LEGACY_SSO}[profile chained]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = legacy\n[profile itself]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = itself\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Reader\n[sso-session corp]\nsso_start_url = https://corp/start\nsso_region = eu-central-1\n");
        let env = sso_setup(dir.path(), &config, "https://d-123.awsapps.com/start", Some(r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
        std::fs::write(sso::cached_token_path(dir.path(), "corp"), r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#).expect("token");
        for profile in ["chained", "itself"] {
            let found = find_with(&Settings { profile: profile.into(), ..Settings::default() }, &vars(&env), dir.path()).expect("keys");
            assert_eq!(found.keys.access_key_id, "ASIAROLE", "{profile}");
        }
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let signed_by_sso = requests.iter().filter(|r| r.method == "POST" && r.header("authorization").is_some_and(|a| a.contains("Credential=ASIASSO/"))).count();
        let portal = requests.iter().filter(|r| r.method == "GET").count();
        assert_eq!((signed_by_sso, portal), (2, 2), "{requests:?}");
    }

    #[test]
    fn profile_sources_are_taken_in_the_sdk_order() {
        let (base, _) = serve(sso_cloud);
        let dir = tempfile::tempdir().expect("tempdir");
        let never = credential_script(dir.path(), "never", None);
        let works = credential_script(dir.path(), "works", Some(r#"{"Version":1,"AccessKeyId":"AKIAPROCESS","SecretAccessKey":"s"}"#));
        let sso = "sso_start_url = https://d-123.awsapps.com/start\nsso_region = eu-central-1\nsso_account_id = 111122223333\nsso_role_name = Reader\n";
        let config = [
            format!("[profile keys_first]\naws_access_key_id = AKIASTATIC\naws_secret_access_key = s\ncredential_process = {never}\n"),
            format!("[profile sso_before_process]\n{sso}credential_process = {never}\n"),
            format!("[profile source_over_own]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = keys_first\n{sso}"),
            format!("[profile two_types]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = keys_first\ncredential_process = {works}\n"),
            "[profile empty_source]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = nothing\n[profile nothing]\nregion = eu-west-1\n".to_string(),
            "[profile loop_a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = loop_b\naws_access_key_id = AKIALOOPA\naws_secret_access_key = s\n[profile loop_b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = loop_a\n".to_string(),
        ]
        .concat();
        let env = sso_setup(dir.path(), &config, "https://d-123.awsapps.com/start", Some(r#"{"accessToken":"sso-token","expiresAt":"2099-01-01T00:00:00Z"}"#), &base);
        let find = |profile: &str| find_with(&Settings { profile: profile.into(), ..Settings::default() }, &vars(&env), dir.path()).map(|f| f.keys.access_key_id);
        assert_eq!(find("keys_first"), Ok("AKIASTATIC".into()), "own keys before credential_process");
        assert_eq!(find("sso_before_process"), Ok("ASIASSO".into()), "SSO before credential_process");
        assert_eq!(find("source_over_own"), Ok("ASIAROLE".into()), "source_profile over the profile's own SSO");
        assert!(find("two_types").is_err_and(|e| e.contains("only one credential type may be specified per profile")));
        assert!(find("empty_source").is_err_and(|e| e.contains("source_profile \"nothing\" has no credentials")));
        // loop_a -> loop_b -> loop_a again: read with its own keys, its role left out.
        assert_eq!(find("loop_a"), Ok("ASIAROLE".into()));
    }
}
