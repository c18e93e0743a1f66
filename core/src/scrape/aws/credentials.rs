//! The keys and region of an `ec2_sd_configs` entry, found in the order AWS' Go SDK finds them
//! for Prometheus (`find`, `region`): the entry's, the environment's, a shared-files profile's,
//! a container's role, the instance's role; the entry's `role_arn` is then assumed through STS.
//! Temporary keys are kept until five minutes before they expire (`RENEW_BEFORE_MS`).

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
    /// `role_arn` is assumed at STS' FIPS endpoint (`sts-fips.<region>…`; sigv4's
    /// `use_fips_sts_endpoint`).
    pub use_fips_sts_endpoint: bool,
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

/// The keys for `settings` in `region`, found in the order AWS' Go SDK finds them for
/// Prometheus:
///
/// 1. `access_key` with `secret_key` from the entry;
/// 2. unless the entry names a `profile`: `AWS_ACCESS_KEY_ID` (or
///    `AWS_ACCESS_KEY`) with `AWS_SECRET_ACCESS_KEY` (or `AWS_SECRET_KEY`) and
///    `AWS_SESSION_TOKEN`; then a web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` and
///    `AWS_ROLE_ARN`, as on EKS), exchanged by STS' `AssumeRoleWithWebIdentity`;
/// 3. the profile (the entry's, else `AWS_PROFILE`, else `default`, which may be absent) of
///    the shared files (`~/.aws/credentials` over `~/.aws/config`;
///    `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`; an unreadable file is skipped), in the
///    SDK's `resolveCredsFromProfile` order: its `source_profile`'s keys (a source with keys of
///    its own ends the chain there; a profile met again gives its own, its role left out), its
///    own keys, its `credential_source`, its `web_identity_token_file`, its SSO role
///    (`sso_session` or the legacy `sso_start_url` keys: `sso`), its `credential_process`
///    (`process`); else
/// 4. a container's role (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, else `_RELATIVE_URI`, with
///    `AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]`: ECS tasks, EKS Pod Identity);
/// 5. else the instance's role from the instance metadata service (IMDSv2's token, IMDSv1 when
///    no token comes; `AWS_EC2_METADATA_SERVICE_ENDPOINT`, `AWS_EC2_METADATA_DISABLED`);
///
/// and the profile's `role_arn` is assumed with those keys. The entry's `role_arn` (with
/// `external_id`) is then assumed with the keys found through STS
/// (`AWS_ENDPOINT_URL_STS` or `AWS_ENDPOINT_URL` replace STS' regional endpoint).
pub async fn find(settings: &Settings, region: &str, lookup: &Lookup<'_>) -> Result<Found, String> {
    let base = base_keys(settings, region, lookup).await?;
    if settings.role_arn.is_empty() {
        return Ok(base);
    }
    assume_role(&base.keys, &settings.role_arn, &settings.external_id, region, settings.use_fips_sts_endpoint, lookup).await.map_err(|e| format!("cannot assume role {}: {e}", settings.role_arn))
}

/// The region: the entry's, else `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region`,
/// or the instance metadata's.
pub async fn region(configured: &str, profile: &str, lookup: &Lookup<'_>) -> Result<String, String> {
    if let Some(region) = region_without_metadata(configured, profile, lookup) {
        return Ok(region);
    }
    let mut metadata = Metadata::new(lookup)?;
    metadata.get("/latest/meta-data/placement/region").await.map_err(|e| format!("could not determine AWS region (set region, AWS_REGION or a profile's region): instance metadata: {e}"))
}

/// The region the entry, the environment or the profile names (None: only the instance
/// metadata could tell).
pub fn region_without_metadata(configured: &str, profile: &str, lookup: &Lookup<'_>) -> Option<String> {
    if !configured.is_empty() {
        return Some(configured.to_string());
    }
    if let Some(region) = lookup.var("AWS_REGION").or_else(|| lookup.var("AWS_DEFAULT_REGION")) {
        return Some(region);
    }
    let profile = chosen_profile(profile, lookup).unwrap_or_else(|| "default".into());
    SharedFiles::read(lookup).profile(&profile).and_then(|p| p.get("region").cloned()).filter(|r| !r.is_empty())
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
                assume_role(&base.keys, &role, &external_id, region, false, lookup).await.map_err(|e| format!("profile {name:?}: cannot assume role {role}: {e}"))
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
fn sts_url(region: &str, fips: bool, lookup: &Lookup<'_>) -> Result<Url, String> {
    let text = match lookup.var("AWS_ENDPOINT_URL_STS").or_else(|| lookup.var("AWS_ENDPOINT_URL")) {
        Some(url) => url,
        None if fips && region.is_empty() => "https://sts-fips.us-east-1.amazonaws.com/".into(),
        None if fips => format!("https://sts-fips.{region}.{}/", dns_suffix(region)),
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
async fn assume_role(keys: &Keys, role_arn: &str, external_id: &str, region: &str, fips: bool, lookup: &Lookup<'_>) -> Result<Found, String> {
    let mut form = vec![("Action".to_string(), "AssumeRole".to_string()), ("Version".to_string(), "2011-06-15".to_string()), ("RoleArn".to_string(), role_arn.to_string()), ("RoleSessionName".to_string(), session_name())];
    if !external_id.is_empty() {
        form.push(("ExternalId".to_string(), external_id.to_string()));
    }
    let url = sts_url(region, fips, lookup)?;
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
    let url = sts_url(region, false, lookup)?;
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
mod tests;
