//! Keystone v3 as gophercloud speaks it for Prometheus: which identity version an endpoint
//! offers, the token request's body, the token from `X-Subject-Token`, and the catalog
//! endpoint of a service type for a region and interface that offers major version 2.

use serde::Deserialize;
use serde_json::{json, Value};

use super::config::AuthOptions;
use super::Session;
use crate::scrape::discovery::null_as_default;

/// The identity versions gophercloud recognizes, with their priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityVersion {
    V2,
    V3,
}

/// Every service this discovery asks is spoken to in major version 2.
const SERVICE_MAJOR_VERSION: u64 = 2;

/// `url` with a trailing slash.
pub fn normalize(url: &str) -> String {
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// `url` split at its path: the scheme and authority, and the path (query and fragment
/// dropped, as gophercloud drops them from base endpoints).
fn split_path(url: &str) -> (&str, &str) {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_start = url[after_scheme..].find('/').map_or(url.len(), |i| after_scheme + i);
    url.split_at(path_start)
}

/// Where gophercloud's `v[0-9.]+/?` first matches in `path`: its start and end.
fn version_segment(path: &str) -> Option<(usize, usize)> {
    let bytes = path.as_bytes();
    (0..bytes.len()).find_map(|start| {
        if bytes[start] != b'v' {
            return None;
        }
        let digits = bytes[start + 1..].iter().take_while(|b| b.is_ascii_digit() || **b == b'.').count();
        if digits == 0 {
            return None;
        }
        let mut end = start + 1 + digits;
        if bytes.get(end) == Some(&b'/') {
            end += 1;
        }
        Some((start, end))
    })
}

/// gophercloud's `BaseEndpoint`: `url` without its version and what follows it.
pub fn base_endpoint(url: &str) -> String {
    let (origin, path) = split_path(url);
    match version_segment(path) {
        Some((start, _)) => format!("{origin}{}", &path[..start]),
        None => format!("{origin}{path}"),
    }
}

/// gophercloud's `BaseVersionedEndpoint`: `url` up to and with its version.
pub fn base_versioned_endpoint(url: &str) -> String {
    let (origin, path) = split_path(url);
    match version_segment(path) {
        Some((_, end)) => format!("{origin}{}", &path[..end]),
        None => format!("{origin}{path}"),
    }
}

/// The version document at an identity endpoint's base, as gophercloud's `ChooseVersion`
/// reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdentityVersions {
    #[serde(deserialize_with = "null_as_default")]
    versions: IdentityVersionValues,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdentityVersionValues {
    #[serde(deserialize_with = "null_as_default")]
    values: Vec<IdentityVersionValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IdentityVersionValue {
    #[serde(deserialize_with = "null_as_default")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    status: String,
    #[serde(deserialize_with = "null_as_default")]
    links: Vec<super::Link>,
}

/// The version an identity endpoint (normalized) names by its suffix, if it does.
pub fn version_by_suffix(endpoint: &str) -> Option<IdentityVersion> {
    if endpoint.ends_with("/v2.0/") {
        Some(IdentityVersion::V2)
    } else if endpoint.ends_with("/v3/") {
        Some(IdentityVersion::V3)
    } else {
        None
    }
}

/// gophercloud's choice among the versions the document at `base` offers: the one whose
/// `self` link is `endpoint` (normalized), else the highest of good status; with its URL.
pub fn choose_version(endpoint: &str, base: &str, document: &[u8]) -> Result<(IdentityVersion, String), String> {
    let document: IdentityVersions = serde_json::from_slice(document).map_err(|e| e.to_string())?;
    let mut highest: Option<(IdentityVersion, String)> = None;
    for value in &document.versions.values {
        let href = value.links.iter().rev().find(|l| l.rel == "self").map(|l| normalize(&l.href)).unwrap_or_default();
        for (version, id) in [(IdentityVersion::V2, "v2.0"), (IdentityVersion::V3, "v3")] {
            if !value.id.contains(id) {
                continue;
            }
            if href == endpoint {
                return Ok((version, href));
            }
            let good = matches!(value.status.to_ascii_lowercase().as_str(), "current" | "supported" | "stable");
            // v3 outranks v2.
            if good && highest.as_ref().is_none_or(|(h, _)| version == IdentityVersion::V3 && *h == IdentityVersion::V2) {
                highest = Some((version, href.clone()));
            }
        }
    }
    match highest {
        None => Err(format!("no supported version available from endpoint {base}")),
        Some((version, href)) if href.is_empty() => Err(format!("endpoint missing in version {} response from {base}", if version == IdentityVersion::V3 { "v3" } else { "v2.0" })),
        Some(chosen) => Ok(chosen),
    }
}

/// The scope gophercloud derives when none is given: the project by ID, else the project by
/// name within the user's domain; none without a project (system scope from the environment).
pub fn scope(o: &AuthOptions) -> Result<Option<Value>, String> {
    if o.system_scope {
        return Ok(Some(json!({"system": {"all": true}})));
    }
    if !o.tenant_id.is_empty() {
        return Ok(Some(json!({"project": {"id": o.tenant_id}})));
    }
    if o.tenant_name.is_empty() {
        return Ok(None);
    }
    if !o.domain_id.is_empty() {
        return Ok(Some(json!({"project": {"name": o.tenant_name, "domain": {"id": o.domain_id}}})));
    }
    if !o.domain_name.is_empty() {
        return Ok(Some(json!({"project": {"name": o.tenant_name, "domain": {"name": o.domain_name}}})));
    }
    Err("You must provide exactly one of DomainID or DomainName in a Scope with ProjectName".into())
}

const USERNAME_OR_USER_ID: &str = "Exactly one of Username and UserID must be provided for password authentication";
const DOMAIN_ID_OR_NAME: &str = "You must provide exactly one of DomainID or DomainName to authenticate by Username";
const APP_CRED_SECRET: &str = "You must provide an Application Credential Secret";

/// The body of `POST auth/tokens` for `o` (password for a user by name and domain or by ID,
/// or an application credential, with the project or domain scope gophercloud derives), or
/// gophercloud's words for what is missing or contradictory.
pub fn token_request(o: &AuthOptions) -> Result<Value, String> {
    let scope = scope(o)?;
    let identity = if o.password.is_empty() && o.passcode.is_empty() {
        if !o.application_credential_id.is_empty() {
            if o.application_credential_secret.is_empty() {
                return Err(APP_CRED_SECRET.into());
            }
            json!({"methods": ["application_credential"], "application_credential": {"id": o.application_credential_id, "secret": o.application_credential_secret}})
        } else if !o.application_credential_name.is_empty() {
            if o.application_credential_secret.is_empty() {
                return Err(APP_CRED_SECRET.into());
            }
            let user = if !o.user_id.is_empty() {
                json!({"id": o.user_id})
            } else if o.username.is_empty() {
                return Err(USERNAME_OR_USER_ID.into());
            } else if !o.domain_id.is_empty() {
                json!({"name": o.username, "domain": {"id": o.domain_id}})
            } else if !o.domain_name.is_empty() {
                json!({"name": o.username, "domain": {"name": o.domain_name}})
            } else {
                return Err(DOMAIN_ID_OR_NAME.into());
            };
            json!({"methods": ["application_credential"], "application_credential": {"name": o.application_credential_name, "user": user, "secret": o.application_credential_secret}})
        } else {
            return Err("You must provide a password to authenticate".into());
        }
    } else {
        let mut methods = Vec::new();
        if !o.password.is_empty() {
            methods.push("password");
        }
        if !o.passcode.is_empty() {
            methods.push("totp");
        }
        if o.username.is_empty() == o.user_id.is_empty() {
            return Err(USERNAME_OR_USER_ID.into());
        }
        let who = if !o.username.is_empty() {
            let domain = match (o.domain_id.is_empty(), o.domain_name.is_empty()) {
                (false, true) => json!({"id": o.domain_id}),
                (true, false) => json!({"name": o.domain_name}),
                _ => return Err(DOMAIN_ID_OR_NAME.into()),
            };
            json!({"name": o.username, "domain": domain})
        } else {
            if !o.domain_id.is_empty() {
                return Err("DomainID may not be provided when authenticating with a UserID".into());
            }
            if !o.domain_name.is_empty() {
                return Err("DomainName may not be provided when authenticating with a UserID".into());
            }
            json!({"id": o.user_id})
        };
        let mut identity = json!({"methods": methods});
        if !o.password.is_empty() {
            let mut user = who.clone();
            user["password"] = json!(o.password);
            identity["password"] = json!({"user": user});
        }
        if !o.passcode.is_empty() {
            let mut user = who;
            user["passcode"] = json!(o.passcode);
            identity["totp"] = json!({"user": user});
        }
        identity
    };
    let mut auth = json!({"identity": identity});
    if let Some(scope) = scope {
        auth["scope"] = scope;
    }
    Ok(json!({"auth": auth}))
}

/// The services a token gives access to (the fields read).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Catalog {
    #[serde(deserialize_with = "null_as_default")]
    catalog: Vec<CatalogEntry>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CatalogEntry {
    #[serde(rename = "type", deserialize_with = "null_as_default")]
    kind: String,
    #[serde(deserialize_with = "null_as_default")]
    endpoints: Vec<CatalogEndpoint>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CatalogEndpoint {
    #[serde(deserialize_with = "null_as_default")]
    region: String,
    #[serde(deserialize_with = "null_as_default")]
    region_id: String,
    #[serde(deserialize_with = "null_as_default")]
    interface: String,
    #[serde(deserialize_with = "null_as_default")]
    url: String,
}

/// The token answer's body: its `token`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TokenAnswer {
    #[serde(deserialize_with = "null_as_default")]
    token: Catalog,
}

/// Which service endpoint is wanted.
#[derive(Debug, Clone, Copy)]
pub struct EndpointChoice<'a> {
    /// The catalog's service type (`compute`, `network`, `load-balancer`).
    pub kind: &'a str,
    pub region: &'a str,
    /// `public`, `internal` or `admin`.
    pub availability: &'a str,
}

impl Catalog {
    /// The URLs (normalized) of the endpoints of `choice`'s type, interface and region (by
    /// name or ID), in catalog order: gophercloud takes the first that offers the version.
    pub fn candidates(&self, choice: EndpointChoice<'_>) -> Vec<String> {
        self.catalog
            .iter()
            .filter(|entry| entry.kind == choice.kind)
            .flat_map(|entry| entry.endpoints.iter())
            .filter(|e| e.interface == choice.availability && (choice.region.is_empty() || e.region == choice.region || e.region_id == choice.region))
            .map(|e| normalize(&e.url))
            .collect()
    }
}

/// gophercloud's `ParseVersion`: `v2`, `v2.1` or `2` as major and minor.
fn parse_version(text: &str) -> Result<(u64, u64), String> {
    if text.is_empty() {
        return Err("empty version provided".into());
    }
    let digits = text.strip_prefix('v').unwrap_or(text);
    let (major, minor) = digits.split_once('.').map_or((digits, None), |(a, b)| (a, Some(b)));
    let number = |s: &str| if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    match (number(major), minor.map(number)) {
        (Some(major), None) => Ok((major, 0)),
        (Some(major), Some(Some(minor))) => Ok((major, minor)),
        _ => Err(format!("invalid format: {text:?}")),
    }
}

/// The major version a versioned endpoint's last path element names, if it names one.
pub fn version_in_path(url: &str) -> Option<u64> {
    let (_, path) = split_path(url);
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    parse_version(last).ok().map(|(major, _)| major)
}

/// One version of a service's version document.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ServiceVersion {
    id: String,
    status: String,
    version: String,
    max_version: String,
    min_version: String,
}

/// The major versions a service's version document offers, read as gophercloud reads one
/// (a `version` object, a `versions` list, a `versions.values` list, or a bare `id`).
pub fn offered_majors(document: &[u8]) -> Result<Vec<u64>, String> {
    let value: Value = serde_json::from_slice(document).map_err(|e| e.to_string())?;
    let Value::Object(object) = &value else { return Err(format!("failed to unmarshal versions document: {}", String::from_utf8_lossy(document))) };
    let read = |v: &Value| serde_json::from_value::<ServiceVersion>(v.clone()).ok();
    let many = |v: &Value| serde_json::from_value::<Vec<ServiceVersion>>(v.clone()).ok();
    let versions = if let Some(one) = object.get("version").filter(|v| !v.is_null()) {
        vec![read(one).ok_or("failed to read the version object")?]
    } else if let Some(list) = object.get("versions").filter(|v| !v.is_null()).and_then(|v| many(v).or_else(|| v.get("values").and_then(many))) {
        list
    } else if let Some(id) = object.get("id").and_then(Value::as_str).filter(|id| !id.is_empty()) {
        vec![ServiceVersion { id: id.to_string(), ..ServiceVersion::default() }]
    } else {
        return Err(format!("failed to unmarshal versions document: {}", String::from_utf8_lossy(document)));
    };
    let mut majors = Vec::with_capacity(versions.len());
    for v in versions {
        let (major, _) = parse_version(&v.id)?;
        if !matches!(v.status.to_ascii_uppercase().as_str(), "CURRENT" | "STABLE" | "SUPPORTED" | "DEPRECATED" | "") {
            return Err(format!("invalid status: {:?}", v.status));
        }
        if (!v.version.is_empty() || !v.max_version.is_empty()) && !v.min_version.is_empty() {
            let highest = if v.version.is_empty() { &v.max_version } else { &v.version };
            for micro in [&v.min_version, highest] {
                let parts: Vec<&str> = micro.split('.').collect();
                if parts.len() != 2 || parts.iter().any(|p| p.parse::<i64>().is_err()) {
                    return Err(format!("invalid microversion format: {micro:?}"));
                }
            }
        }
        majors.push(major);
    }
    Ok(majors)
}

/// gophercloud's `Authenticate` with v3: the version (the endpoint's suffix, else the version
/// document at its base), then a token (from `X-Subject-Token`, kept in `session`) and its
/// catalog.
pub async fn authenticate(session: &mut Session<'_>, o: &AuthOptions) -> Result<Catalog, String> {
    let endpoint = normalize(&o.identity_endpoint);
    let base = normalize(&base_endpoint(&o.identity_endpoint));
    let (version, chosen) = match version_by_suffix(&endpoint) {
        Some(version) => (version, endpoint.clone()),
        None => {
            let answer = session.get(&base, &[200, 300]).await?;
            choose_version(&endpoint, &base, &answer.body)?
        }
    };
    if version == IdentityVersion::V2 {
        return Err(format!("{chosen} is Keystone's v2.0 identity API, which is not supported here: only v3"));
    }
    let body = token_request(o)?;
    let url = format!("{chosen}auth/tokens");
    let answer = session.post_json(&url, body.to_string().as_bytes(), &[201, 202]).await?;
    session.token = answer.headers.get("x-subject-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let token: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    Ok(token.token)
}

/// The URL (normalized) of the first endpoint of `choice` whose version (from its path,
/// else from its version document) is 2, as gophercloud's `V3Endpoint` chooses it.
pub async fn service_url(session: &mut Session<'_>, catalog: &Catalog, choice: EndpointChoice<'_>) -> Result<String, String> {
    for url in catalog.candidates(choice) {
        let versioned = base_versioned_endpoint(&url);
        let offered = match version_in_path(&versioned) {
            Some(major) => vec![major],
            None => offered_majors(&session.get(&versioned, &[200, 300]).await?.body)?,
        };
        if offered.contains(&SERVICE_MAJOR_VERSION) {
            return Ok(url);
        }
    }
    Err("No suitable endpoint could be found in the service catalog.".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, domain: &str, password: &str) -> AuthOptions {
        AuthOptions { identity_endpoint: "http://k:5000/".into(), username: name.into(), domain_name: domain.into(), password: password.into(), ..AuthOptions::default() }
    }

    #[test]
    fn base_endpoints_cut_at_the_version_as_gophercloud_does() {
        assert_eq!(base_endpoint("https://keystone.example:5000/v3"), "https://keystone.example:5000/");
        assert_eq!(base_endpoint("https://cloud.example/identity/v3/?x=1"), "https://cloud.example/identity/");
        assert_eq!(base_endpoint("http://127.0.0.1:5000/"), "http://127.0.0.1:5000/");
        assert_eq!(base_endpoint("http://127.0.0.1:5000"), "http://127.0.0.1:5000");
        assert_eq!(base_versioned_endpoint("http://nova:8774/v2.1/0ab1c2"), "http://nova:8774/v2.1/");
        assert_eq!(base_versioned_endpoint("http://neutron:9696/"), "http://neutron:9696/");
        assert_eq!(version_in_path("http://nova:8774/v2.1/"), Some(2));
        assert_eq!(version_in_path("http://octavia:9876/load-balancer/"), None);
        assert_eq!(version_in_path("http://neutron:9696/"), None);
        assert_eq!(version_by_suffix("http://k:5000/v3/"), Some(IdentityVersion::V3));
        assert_eq!(version_by_suffix("http://k:5000/v2.0/"), Some(IdentityVersion::V2));
        assert_eq!(version_by_suffix("http://k:5000/"), None);
    }

    #[test]
    fn the_identity_version_is_chosen_as_gophercloud_chooses_it() {
        let doc = br#"{"versions": {"values": [
            {"status": "stable", "id": "v3.0", "links": [{"href": "http://k:5000/v3/", "rel": "self"}]},
            {"status": "stable", "id": "v2.0", "links": [{"href": "http://k:5000/v2.0/", "rel": "self"}]}]}}"#;
        assert_eq!(choose_version("http://k:5000/", "http://k:5000/", doc), Ok((IdentityVersion::V3, "http://k:5000/v3/".to_string())));
        let v2_only = br#"{"versions": {"values": [{"status": "stable", "id": "v2.0", "links": [{"href": "http://k:5000/v2.0", "rel": "self"}]}]}}"#;
        assert_eq!(choose_version("http://k:5000/", "http://k:5000/", v2_only), Ok((IdentityVersion::V2, "http://k:5000/v2.0/".to_string())));
        let experimental = br#"{"versions": {"values": [{"status": "experimental", "id": "v3.14", "links": [{"href": "http://k/v3", "rel": "self"}]}]}}"#;
        assert_eq!(choose_version("http://k:5000/", "http://k:5000/", experimental), Err("no supported version available from endpoint http://k:5000/".to_string()));
        let no_link = br#"{"versions": {"values": [{"status": "CURRENT", "id": "v3.14", "links": []}]}}"#;
        assert_eq!(choose_version("http://k:5000/", "http://k:5000/", no_link), Err("endpoint missing in version v3 response from http://k:5000/".to_string()));
        assert!(choose_version("http://k:5000/", "http://k:5000/", br#"{"versions": []}"#).is_err());
    }

    #[test]
    fn the_token_request_is_gopherclouds() {
        assert_eq!(
            token_request(&user("test", "12345", "pw")),
            Ok(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "test", "domain": {"name": "12345"}, "password": "pw"}}}}}))
        );
        let scoped = AuthOptions { tenant_name: "proj".into(), domain_id: "d1".into(), domain_name: String::new(), ..user("u", "", "pw") };
        assert_eq!(
            token_request(&scoped),
            Ok(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "u", "domain": {"id": "d1"}, "password": "pw"}}}, "scope": {"project": {"name": "proj", "domain": {"id": "d1"}}}}}))
        );
        let by_id = AuthOptions { user_id: "uid".into(), tenant_id: "p1".into(), password: "pw".into(), ..AuthOptions::default() };
        assert_eq!(token_request(&by_id), Ok(json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"id": "uid", "password": "pw"}}}, "scope": {"project": {"id": "p1"}}}})));
        let app_id = AuthOptions { application_credential_id: "ac1".into(), application_credential_secret: "s".into(), ..AuthOptions::default() };
        assert_eq!(token_request(&app_id), Ok(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"id": "ac1", "secret": "s"}}}})));
        let app_name = AuthOptions { application_credential_name: "monitoring".into(), application_credential_secret: "s".into(), ..user("u", "Default", "") };
        assert_eq!(
            token_request(&app_name),
            Ok(json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": {"name": "monitoring", "secret": "s", "user": {"name": "u", "domain": {"name": "Default"}}}}}}))
        );
        for (options, expected) in [
            (user("u", "d", ""), "You must provide a password to authenticate"),
            (user("u", "", "pw"), DOMAIN_ID_OR_NAME),
            (AuthOptions { domain_id: "x".into(), ..user("u", "d", "pw") }, DOMAIN_ID_OR_NAME),
            (AuthOptions { user_id: "i".into(), ..user("u", "d", "pw") }, USERNAME_OR_USER_ID),
            (AuthOptions { user_id: "i".into(), password: "pw".into(), domain_name: "d".into(), ..AuthOptions::default() }, "DomainName may not be provided when authenticating with a UserID"),
            (AuthOptions { application_credential_id: "a".into(), ..AuthOptions::default() }, APP_CRED_SECRET),
            (AuthOptions { tenant_name: "p".into(), user_id: "i".into(), password: "pw".into(), ..AuthOptions::default() }, "You must provide exactly one of DomainID or DomainName in a Scope with ProjectName"),
        ] {
            assert_eq!(token_request(&options), Err(expected.to_string()), "{options:?}");
        }
    }

    #[test]
    fn the_catalog_gives_the_endpoints_of_a_type_interface_and_region() {
        let token: TokenAnswer = serde_json::from_str(
            r#"{"token": {"catalog": [
                {"type": "identity", "endpoints": [{"interface": "public", "region": "RegionOne", "url": "http://k:5000"}]},
                {"type": "compute", "endpoints": [
                    {"interface": "public", "region": "RegionTwo", "url": "http://nova2:8774/v2.1"},
                    {"interface": "internal", "region": "RegionOne", "url": "http://nova-int:8774/v2.1"},
                    {"interface": "public", "region": null, "region_id": "RegionOne", "url": "http://nova:8774/v2.1/"}]}]}}"#,
        )
        .expect("valid");
        let at = |kind, region, availability| token.token.candidates(EndpointChoice { kind, region, availability });
        assert_eq!(at("compute", "RegionOne", "public"), ["http://nova:8774/v2.1/"]);
        assert_eq!(at("compute", "RegionOne", "internal"), ["http://nova-int:8774/v2.1/"]);
        assert_eq!(at("compute", "RegionTwo", "public"), ["http://nova2:8774/v2.1/"]);
        assert!(at("network", "RegionOne", "public").is_empty());
        assert!(at("compute", "RegionOne", "admin").is_empty());
    }

    #[test]
    fn service_version_documents_are_read_in_each_shape() {
        assert_eq!(offered_majors(br#"{"versions": [{"id": "v2.0", "status": "SUPPORTED"}, {"id": "v2.1", "status": "CURRENT", "version": "2.95", "min_version": "2.1"}]}"#), Ok(vec![2, 2]));
        assert_eq!(offered_majors(br#"{"versions": {"values": [{"id": "v3.0", "status": "stable"}, {"id": "v2.0", "status": "stable"}]}}"#), Ok(vec![3, 2]));
        assert_eq!(offered_majors(br#"{"version": {"id": "v2.0", "status": "CURRENT"}}"#), Ok(vec![2]));
        assert_eq!(offered_majors(br#"{"id": "v1"}"#), Ok(vec![1]));
        assert!(offered_majors(br#"{"versions": [{"id": "two"}]}"#).is_err());
        assert!(offered_majors(br#"{"versions": [{"id": "v2", "status": "EXPERIMENTAL"}]}"#).is_err());
        assert!(offered_majors(b"{}").is_err());
    }
}
