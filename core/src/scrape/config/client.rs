//! Prometheus' HTTP client settings as a job or a discovery entry writes them
//! (`basic_auth`, `authorization`, `bearer_token(_file)`, `oauth2`, `tls_config`,
//! `http_headers`, proxies, `follow_redirects`) and checked into the `ClientAccess` that
//! `scrape::http_get` builds requests of; with the `Url` and `Scheme` they are sent to.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::scrape::proxy::ProxyChoice;

/// One `http_headers` entry (Prometheus' common HTTP client settings): values sent as
/// written, secrets likewise (kept out of logs), files read at every request.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct HeaderSection {
    values: Vec<String>,
    secrets: Vec<String>,
    files: Vec<PathBuf>,
}

/// Headers Prometheus refuses in `http_headers`: they change the connection, or are set by
/// the scraper itself.
const RESERVED_HEADERS: [&str; 18] = [
    "Authorization",
    "Host",
    "Content-Encoding",
    "Content-Length",
    "Content-Type",
    "User-Agent",
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Www-Authenticate",
    "Accept-Encoding",
    "X-Prometheus-Remote-Write-Version",
    "X-Prometheus-Remote-Read-Version",
    "X-Prometheus-Scrape-Timeout-Seconds",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];

/// Extra request headers of a job or an http_sd entry, each value read when sent.
#[derive(Debug, Clone, Default)]
pub struct ExtraHeaders(Vec<(String, Secret)>);

impl ExtraHeaders {
    /// The headers to send now (files read again, trimmed, as Prometheus reads them).
    pub fn values(&self) -> Result<Vec<(String, String)>, String> {
        self.0.iter().map(|(name, value)| Ok((name.clone(), value.read()?))).collect()
    }
}

/// VictoriaMetrics' `headers` (a list of `Name: value`) added to `http_headers`, checked
/// with them; an entry without `:` is an error naming it.
pub(crate) fn add_listed_headers(sections: &mut BTreeMap<String, HeaderSection>, listed: &[String]) -> Result<(), String> {
    for entry in listed {
        let (name, value) = entry.split_once(':').ok_or_else(|| format!("headers: {entry:?} is not `Name: value`"))?;
        sections.entry(name.trim().to_string()).or_default().values.push(value.trim().to_string());
    }
    Ok(())
}

/// Checks `http_headers`: names that are HTTP tokens and not reserved; values without line
/// breaks; relative files from `base`.
fn extra_headers(sections: BTreeMap<String, HeaderSection>, base: &Path) -> Result<ExtraHeaders, String> {
    let mut headers = Vec::new();
    for (name, section) in sections {
        let token = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !token {
            return Err(format!("http_headers: {name:?} is not a header name"));
        }
        if let Some(reserved) = RESERVED_HEADERS.iter().find(|r| r.eq_ignore_ascii_case(&name)) {
            return Err(format!("http_headers: setting header {reserved:?} is not allowed"));
        }
        for value in section.values.iter().chain(&section.secrets) {
            if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                return Err(format!("http_headers: a value of {name:?} holds a line break"));
            }
        }
        headers.extend(section.values.into_iter().chain(section.secrets).map(|v| (name.clone(), Secret::Inline(v))));
        headers.extend(section.files.into_iter().map(|f| (name.clone(), Secret::File(base.join(f)))));
    }
    Ok(ExtraHeaders(headers))
}

/// Prometheus' `oauth2`: the client credentials grant (see `scrape::oauth2`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OAuth2Section {
    client_id: String,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    /// Prometheus 3's secret manager reference: refused (there is no secret manager here).
    client_secret_ref: Option<String>,
    /// The jwt-bearer grant is refused; any other value asks client credentials, as in
    /// Prometheus.
    grant_type: Option<String>,
    /// The jwt-bearer grant's settings: read so that such a section is refused naming the
    /// grant, and ignored with client credentials (as Prometheus ignores them).
    client_certificate_key_id: Option<String>,
    client_certificate_key: Option<String>,
    client_certificate_key_file: Option<PathBuf>,
    client_certificate_key_ref: Option<String>,
    signature_algorithm: Option<String>,
    iss: Option<String>,
    audience: Option<String>,
    claims: Option<serde::de::IgnoredAny>,
    scopes: Vec<String>,
    token_url: String,
    endpoint_params: BTreeMap<String, String>,
    tls_config: Option<TlsSection>,
    proxy_url: Option<String>,
    no_proxy: Option<String>,
    proxy_from_environment: bool,
    proxy_connect_header: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct BasicAuthSection {
    pub(crate) username: String,
    pub(crate) password: Option<String>,
    pub(crate) password_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AuthorizationSection {
    #[serde(rename = "type")]
    kind: Option<String>,
    credentials: Option<String>,
    credentials_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct TlsSection {
    /// Inline PEM text, each instead of its file (Prometheus' `ca`, `cert`, `key`).
    pub(crate) ca: Option<String>,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) server_name: Option<String>,
    pub(crate) insecure_skip_verify: bool,
    /// Prometheus' `TLS10` ... `TLS13` (rustls speaks 1.2 and 1.3).
    pub(crate) min_version: Option<String>,
    pub(crate) max_version: Option<String>,
}

/// The TLS versions `tls_config`'s `min_version` and `max_version` allow, as rustls can speak
/// them: a minimum below 1.2 allows 1.2 and 1.3 (rustls has no older version); a maximum
/// below 1.2 cannot be honoured and is refused.
fn tls_versions(min: Option<&str>, max: Option<&str>) -> Result<net::client::TlsVersions, String> {
    let number = |key: &str, text: &str| -> Result<u8, String> {
        match text {
            "TLS10" => Ok(10),
            "TLS11" => Ok(11),
            "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            _ => Err(format!("tls_config.{key}: unknown TLS version {text:?} (TLS10, TLS11, TLS12 or TLS13)")),
        }
    };
    let min = min.filter(|t| !t.is_empty()).map(|t| number("min_version", t)).transpose()?;
    let max = max.filter(|t| !t.is_empty()).map(|t| number("max_version", t)).transpose()?;
    if let (Some(min), Some(max)) = (min, max) {
        if max < min {
            return Err("tls_config.max_version must be greater than or equal to tls_config.min_version if both are specified".into());
        }
    }
    let (min, max) = (min.unwrap_or(12), max.unwrap_or(13));
    match (min.max(12), max) {
        (_, 10 | 11) => Err(format!("tls_config.max_version TLS{max}: only TLS 1.2 and 1.3 can be spoken")),
        (13, _) => Ok(net::client::TlsVersions::Only13),
        (_, 12) => Ok(net::client::TlsVersions::Only12),
        _ => Ok(net::client::TlsVersions::Both),
    }
}

/// The `http` or `https` scheme of a job's targets (`__scheme__` may change it per target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn parse(text: &str) -> Option<Scheme> {
        match text {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Where the `Authorization` header of a job's scrapes comes from; files are read at every
/// scrape, so rotated credentials are picked up as Prometheus picks them up.
#[derive(Debug, Clone)]
pub enum Credentials {
    None,
    Basic { username: String, password: Secret },
    /// `<type> <credentials>` (Bearer unless `authorization.type` says otherwise).
    Typed { kind: String, credentials: Secret },
    /// A token from an OAuth2 server (`oauth2`), shared by every request.
    OAuth2(Arc<crate::scrape::oauth2::TokenSource>),
}

#[derive(Debug, Clone)]
pub enum Secret {
    Inline(String),
    File(PathBuf),
}

impl Secret {
    pub(crate) fn read(&self) -> Result<String, String> {
        match self {
            Secret::Inline(text) => Ok(text.clone()),
            Secret::File(path) => std::fs::read_to_string(path).map(|t| t.trim().to_string()).map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}

impl Credentials {
    /// The `Authorization` header's value, if any (an OAuth2 token asked within `timeout`
    /// when none is cached).
    pub async fn header(&self, timeout: std::time::Duration) -> Result<Option<String>, String> {
        match self {
            Credentials::None => Ok(None),
            Credentials::Basic { username, password } => Ok(Some(format!("Basic {}", base64(format!("{username}:{}", password.read()?).as_bytes())))),
            Credentials::Typed { kind, credentials } => Ok(Some(format!("{kind} {}", credentials.read()?))),
            Credentials::OAuth2(source) => source.authorization(timeout).await.map(Some),
        }
    }
}

/// Standard base64 with padding (RFC 4648), for basic authentication.
pub(super) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A URL split for `net::client`: scheme, host (IPv6 without brackets), port, and the path
/// with its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
}

impl Url {
    /// Reads an absolute `http://` or `https://` URL (no user information, no fragment kept).
    pub fn parse(text: &str) -> Result<Url, String> {
        // The scheme in any case, as Go reads it.
        let prefix = |p: &str| text.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &text[p.len()..]);
        let (scheme, rest) = if let Some(rest) = prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("URL {text:?} must start with http:// or https://"));
        };
        let rest = rest.split('#').next().unwrap_or("");
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(split);
        if authority.contains('@') {
            return Err(format!("URL {text:?}: user information is not supported (use basic_auth)"));
        }
        if authority.is_empty() {
            return Err(format!("URL {text:?} has no host"));
        }
        let (host, port) = crate::scrape::discovery::split_address(authority, scheme).map_err(|e| format!("URL {text:?}: {e}"))?;
        let path_and_query = match path_and_query {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        if path_and_query.contains(|c: char| c.is_ascii_control() || c == ' ') {
            return Err(format!("URL {text:?} holds a space or a control character"));
        }
        Ok(Url { scheme, host, port, path_and_query })
    }
}

/// A job's or an http_sd entry's credentials and TLS sections, as written.
#[derive(Default)]
pub(crate) struct ClientSections {
    pub(crate) basic_auth: Option<BasicAuthSection>,
    pub(crate) authorization: Option<AuthorizationSection>,
    pub(crate) bearer_token: Option<String>,
    pub(crate) bearer_token_file: Option<PathBuf>,
    pub(crate) tls_config: Option<TlsSection>,
    pub(crate) http_headers: BTreeMap<String, HeaderSection>,
    /// Prometheus' proxy settings (see `scrape::proxy`).
    pub(crate) proxy_url: Option<String>,
    pub(crate) no_proxy: Option<String>,
    pub(crate) proxy_from_environment: bool,
    pub(crate) proxy_connect_header: BTreeMap<String, Vec<String>>,
    pub(crate) oauth2: Option<OAuth2Section>,
    pub(crate) follow_redirects: Option<bool>,
}

/// How a job's or a discovery entry's requests are authorized, secured and sent, from
/// Prometheus' HTTP client settings (`scrape::http_get` builds clients and requests of it).
pub struct ClientAccess {
    pub credentials: Credentials,
    /// `http_headers`: sent with every request.
    pub headers: ExtraHeaders,
    /// The TLS settings for https, or why there are none (when not needed at once).
    pub tls: Result<net::client::ClientTls, String>,
    /// Which proxy, if any, requests go through.
    pub proxy: ProxyChoice,
    /// Whether redirects are followed (Prometheus' default: yes).
    pub follow_redirects: bool,
}

impl ClientAccess {
    /// Offers HTTP/2 by ALPN on TLS connections unless `enable_http2` is `false` (a scrape
    /// job's or an Alertmanager entry's; Prometheus' default is to offer it): a server that
    /// chooses it is spoken to in HTTP/2.
    pub fn offer_http2_unless_off(&mut self, enable_http2: Option<bool>) {
        if enable_http2 == Some(false) {
            return;
        }
        if let Ok(tls) = &mut self.tls {
            tls.config = net::client::with_http2(&tls.config);
        }
    }
}

/// One PEM document of `tls_config`, from a file or written inline.
enum OwnedPem {
    File(PathBuf),
    /// The key it was given under (`ca`, `cert`, `key`, or a kubeconfig's) and its text.
    Inline(String, Vec<u8>),
}

impl OwnedPem {
    /// The inline text or the file (relative to `base`), at most one of them.
    fn choose(inline: Option<String>, file: Option<PathBuf>, inline_key: &str, file_key: &str, base: &Path) -> Result<Option<OwnedPem>, String> {
        match (inline.filter(|t| !t.is_empty()), file.filter(|f| !f.as_os_str().is_empty())) {
            (Some(_), Some(_)) => Err(format!("tls_config: at most one of {inline_key} and {file_key} may be set")),
            (Some(text), None) => Ok(Some(OwnedPem::Inline(inline_key.to_string(), text.into_bytes()))),
            (None, Some(file)) => Ok(Some(OwnedPem::File(base.join(file)))),
            (None, None) => Ok(None),
        }
    }

    fn as_pem(&self) -> net::client::Pem<'_> {
        match self {
            OwnedPem::File(path) => net::client::Pem::File(path),
            OwnedPem::Inline(what, pem) => net::client::Pem::Inline { what, pem },
        }
    }
}

/// Checks a job's or an http_sd entry's HTTP client settings (`https`: its URLs are https,
/// so TLS settings that cannot be built are an error now, not at the first request).
pub(crate) fn client_access(s: ClientSections, https: bool, base: &Path) -> Result<ClientAccess, String> {
    let bearer = match (s.bearer_token, s.bearer_token_file) {
        (Some(_), Some(_)) => return Err("bearer_token and bearer_token_file are exclusive".into()),
        (Some(t), None) => Some(Secret::Inline(t)),
        (None, Some(f)) => Some(Secret::File(base.join(f))),
        (None, None) => None,
    };
    let authorization = match s.authorization {
        None => None,
        Some(a) => {
            let kind = a.kind.unwrap_or_else(|| "Bearer".to_string());
            if kind.eq_ignore_ascii_case("basic") {
                return Err("authorization.type Basic is not allowed: use basic_auth".into());
            }
            let credentials = match (a.credentials, a.credentials_file) {
                (Some(_), Some(_)) => return Err("authorization.credentials and credentials_file are exclusive".into()),
                (Some(c), None) => Secret::Inline(c),
                (None, Some(f)) => Secret::File(base.join(f)),
                (None, None) => Secret::Inline(String::new()),
            };
            Some((kind, credentials))
        }
    };
    let basic = match s.basic_auth {
        None => None,
        Some(b) => {
            let password = match (b.password, b.password_file) {
                (Some(_), Some(_)) => return Err("basic_auth.password and password_file are exclusive".into()),
                (Some(p), None) => Secret::Inline(p),
                (None, Some(f)) => Secret::File(base.join(f)),
                (None, None) => Secret::Inline(String::new()),
            };
            Some((b.username, password))
        }
    };
    let credentials = match (basic, authorization, bearer, s.oauth2) {
        (None, None, None, Some(o)) => Credentials::OAuth2(Arc::new(oauth2_source(o, base)?)),
        (_, _, _, Some(_)) => return Err("at most one of basic_auth, oauth2, authorization and bearer_token(_file) may be set".into()),
        (basic, authorization, bearer, None) => match (basic, authorization, bearer) {
        (None, None, None) => Credentials::None,
        (Some((username, password)), None, None) => Credentials::Basic { username, password },
        (None, Some((kind, credentials)), None) => Credentials::Typed { kind, credentials },
        (None, None, Some(token)) => Credentials::Typed { kind: "Bearer".into(), credentials: token },
        _ => return Err("at most one of basic_auth, authorization and bearer_token(_file) may be set".into()),
        },
    };
    let tls = tls_settings(s.tls_config, https, base)?;
    let headers = extra_headers(s.http_headers, base)?;
    let proxy = ProxyChoice::from_settings(s.proxy_url.as_deref(), s.no_proxy.as_deref(), s.proxy_from_environment, &s.proxy_connect_header, &tls, &|name| std::env::var(name).ok())?;
    Ok(ClientAccess { credentials, headers, tls, proxy, follow_redirects: s.follow_redirects.unwrap_or(true) })
}

/// The TLS client settings of a `tls_config` (`https`: they are needed now, so settings
/// that cannot be built are an error; otherwise why there are none is kept for later).
fn tls_settings(section: Option<TlsSection>, https: bool, base: &Path) -> Result<Result<net::client::ClientTls, String>, String> {
    let tls_section = section.unwrap_or_default();
    let cert = OwnedPem::choose(tls_section.cert, tls_section.cert_file, "cert", "cert_file", base)?;
    let key = OwnedPem::choose(tls_section.key, tls_section.key_file, "key", "key_file", base)?;
    let cert_and_key = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("tls_config.cert_file (or cert) and key_file (or key) must be set together".into()),
    };
    let ca = OwnedPem::choose(tls_section.ca, tls_section.ca_file, "ca", "ca_file", base)?;
    let versions = tls_versions(tls_section.min_version.as_deref(), tls_section.max_version.as_deref())?;
    let needs_tls = https || ca.is_some() || cert_and_key.is_some() || tls_section.insecure_skip_verify || tls_section.server_name.is_some() || versions != net::client::TlsVersions::Both;
    // A job on http can still reach https targets through `__scheme__` (and an http_sd
    // endpoint redirect to https), so TLS is always prepared; with no tls_config it trusts
    // the system's roots.
    let config = net::client::client_tls_config_with_versions(ca.as_ref().map(OwnedPem::as_pem), cert_and_key.as_ref().map(|(c, k)| (c.as_pem(), k.as_pem())), tls_section.insecure_skip_verify, versions)
        .map_err(|e| format!("tls_config: {e}"));
    match config {
        Ok(config) => Ok(Ok(net::client::ClientTls { config, server_name: tls_section.server_name.clone() })),
        Err(e) if needs_tls => Err(e),
        Err(e) => Ok(Err(e)),
    }
}

/// An `oauth2` section checked as Prometheus checks it, its secret file relative to `base`.
fn oauth2_source(o: OAuth2Section, base: &Path) -> Result<crate::scrape::oauth2::TokenSource, String> {
    if o.client_secret_ref.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err("oauth2 client_secret_ref is not supported (there is no secret manager): use client_secret or client_secret_file".into());
    }
    if o.grant_type.as_deref() == Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
        return Err("oauth2 grant_type urn:ietf:params:oauth:grant-type:jwt-bearer is not supported (only client_credentials)".into());
    }
    let client_secret = match (o.client_secret.filter(|c| !c.is_empty()), o.client_secret_file.filter(|f| !f.as_os_str().is_empty())) {
        (Some(_), Some(_)) => return Err("at most one of oauth2 client_secret, client_secret_file & client_secret_ref must be configured using grant-type=client_credentials".into()),
        (Some(secret), None) => Secret::Inline(secret),
        (None, Some(file)) => Secret::File(base.join(file)),
        (None, None) => Secret::Inline(String::new()),
    };
    let https = o.token_url.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://"));
    let tls = tls_settings(o.tls_config, https, base).map_err(|e| format!("oauth2 {e}"))?;
    let proxy = ProxyChoice::from_settings(o.proxy_url.as_deref(), o.no_proxy.as_deref(), o.proxy_from_environment, &o.proxy_connect_header, &tls, &|name| std::env::var(name).ok()).map_err(|e| format!("oauth2: {e}"))?;
    crate::scrape::oauth2::TokenSource::new(crate::scrape::oauth2::Settings { client_id: o.client_id, client_secret, scopes: o.scopes, token_url: o.token_url, endpoint_params: o.endpoint_params.into_iter().collect(), tls, proxy })
}
