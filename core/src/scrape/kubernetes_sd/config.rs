//! A `kubernetes_sd_configs` entry as written and as checked: role, API server (given, from
//! a kubeconfig, or the pod's own cluster through its service account), namespaces,
//! selectors checked as Prometheus checks them, `attach_metadata`, client settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::scrape::config::{client_access, client_sections, with_client_keys, BasicAuthSection, ClientAccess, ClientSections, Credentials, ExtraHeaders, Scheme, TlsSection, Url};
use crate::scrape::proxy::ProxyChoice;

with_client_keys! {
    /// Prometheus' `kubernetes_sd_config`: objects of a Kubernetes API server, with the HTTP
    /// client settings a job has.
    #[derive(Debug, Default, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct KubernetesSdSection {
        role: String,
        api_server: Option<String>,
        kubeconfig_file: Option<PathBuf>,
        namespaces: KubernetesNamespacesSection,
        selectors: Vec<KubernetesSelectorSection>,
        attach_metadata: KubernetesAttachSection,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KubernetesNamespacesSection {
    own_namespace: bool,
    names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KubernetesSelectorSection {
    role: String,
    label: String,
    field: String,
}

/// `attach_metadata` (`kubernetes_sd::roles::Attach`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KubernetesAttachSection {
    node: bool,
    namespace: bool,
    deployment: bool,
    job: bool,
    cronjob: bool,
}

/// Where a pod's service account keeps its token, CA and namespace (Kubernetes' fixed path).
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// One `kubernetes_sd_configs` entry, checked.
pub struct KubernetesSd {
    /// Prometheus' role name: pod, service, endpoints, endpointslice, node or ingress.
    pub role: String,
    /// The API server's URL, as shown in messages.
    pub api_server: String,
    /// This entry's source name among the asked groups: the API server and a hash of every
    /// setting that changes the answer.
    pub source: String,
    pub location: Url,
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Per selector role (`pod`, `node`, ...): its label and field selectors.
    pub selectors: BTreeMap<String, (String, String)>,
    /// `attach_metadata`: what targets get from their node, namespace and controllers.
    pub attach: super::roles::Attach,
    /// How its requests are authorized, secured and sent.
    pub access: ClientAccess,
    /// Why the API server cannot be reached (no `api_server` outside a cluster), logged
    /// when discovery starts; the entry then finds nothing, as in Prometheus.
    pub unavailable: Option<String>,
}

impl std::fmt::Debug for KubernetesSd {
    /// The server and role (credentials stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesSd").field("api_server", &self.api_server).field("role", &self.role).finish_non_exhaustive()
    }
}

/// The API server of a pod's own cluster, as client-go's in-cluster configuration finds it:
/// `KUBERNETES_SERVICE_HOST` and `_PORT` (`host`, `port`), the service account's token (read
/// at every request, so a rotated token is used) and CA in `account_dir`.
fn in_cluster(host: Option<String>, port: Option<String>, account_dir: &Path) -> Result<(String, ClientSections), String> {
    let (Some(host), Some(port)) = (host.filter(|h| !h.is_empty()), port.filter(|p| !p.is_empty())) else {
        return Err("no api_server, and not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set to use the pod's service account".into());
    };
    let host = if host.contains(':') { format!("[{host}]") } else { host };
    let sections = ClientSections {
        bearer_token_file: Some(account_dir.join("token")),
        tls_config: Some(TlsSection { ca_file: Some(account_dir.join("ca.crt")), ..TlsSection::default() }),
        // client-go's in-cluster client takes its proxy from the environment.
        proxy_from_environment: true,
        ..ClientSections::default()
    };
    Ok((format!("https://{host}:{port}"), sections))
}

/// The pod's own namespace, from its service account.
fn own_namespace(account_dir: &Path) -> Result<String, String> {
    let file = account_dir.join("namespace");
    let own = std::fs::read_to_string(&file).map_err(|e| format!("could not determine the pod's namespace from {}: {e}", file.display()))?;
    if own.trim().is_empty() {
        return Err(format!("could not read own namespace name ({} is empty)", file.display()));
    }
    Ok(own.trim().to_string())
}

/// The API server and client settings of a kubeconfig's current context.
fn kubeconfig_sections(file: &Path) -> Result<(String, ClientSections), String> {
    let access = crate::scrape::kubeconfig::read(file)?;
    let tls = TlsSection {
        ca: access.ca_pem,
        cert: access.cert_pem,
        key: access.key_pem,
        ca_file: access.ca_file,
        cert_file: access.cert_file,
        key_file: access.key_file,
        server_name: access.server_name,
        insecure_skip_verify: access.insecure_skip_verify,
        min_version: None,
        max_version: None,
    };
    let basic_auth = access.basic.map(|(username, password)| BasicAuthSection { username, password: Some(password), password_file: None });
    // client-go: the cluster's proxy-url, else the environment's proxy.
    let from_environment = access.proxy_url.is_none();
    let sections = ClientSections {
        basic_auth,
        bearer_token: access.token,
        bearer_token_file: access.token_file,
        tls_config: Some(tls),
        proxy_url: access.proxy_url,
        proxy_from_environment: from_environment,
        ..ClientSections::default()
    };
    Ok((access.server, sections))
}

/// Checks one entry as Prometheus checks it.
pub fn resolve(s: KubernetesSdSection, base: &Path, position: usize) -> Result<KubernetesSd, String> {
    let Some(allowed) = super::roles::Role::parse(&s.role).map(|r| r.selector_roles()) else {
        return Err(if s.role.is_empty() { "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)".to_string() } else { format!("unknown Kubernetes SD role {:?}", s.role) });
    };
    let a = &s.attach_metadata;
    let attach = super::roles::Attach { node: a.node, namespace: a.namespace, deployment: a.deployment, job: a.job, cronjob: a.cronjob };
    let selectors = kubernetes_selectors(&s.role, allowed, &s.selectors)?;
    // As Prometheus: an empty name means every namespace (the pod's own one included).
    let every_namespace = s.namespaces.names.iter().any(String::is_empty);
    let mut namespaces = if every_namespace { Vec::new() } else { s.namespaces.names.clone() };
    if let Some(bad) = namespaces.iter().find(|n| !path_safe_name(n)) {
        return Err(format!("namespaces.names: {bad:?} holds a character that cannot be in a namespace's URL path (/, ?, #, %, a space or a control character)"));
    }
    // Prometheus counts any setting of its HTTP client that is not its default as custom
    // (empty values are its defaults).
    let tls_set = s.tls_config.as_ref().is_some_and(|t| t.ca.is_some() || t.cert.is_some() || t.key.is_some() || t.ca_file.is_some() || t.cert_file.is_some() || t.key_file.is_some() || t.server_name.is_some() || t.insecure_skip_verify || t.min_version.is_some() || t.max_version.is_some());
    let custom_client = s.basic_auth.is_some() || s.authorization.is_some() || s.bearer_token.as_deref().is_some_and(|t| !t.is_empty()) || s.bearer_token_file.is_some() || tls_set || !s.http_headers.is_empty() || s.follow_redirects == Some(false) || s.enable_http2 == Some(false)
        || s.proxy_url.as_deref().is_some_and(|u| !u.is_empty())
        || s.no_proxy.as_deref().is_some_and(|n| !n.is_empty())
        || s.proxy_from_environment
        || !s.proxy_connect_header.is_empty()
        || s.oauth2.is_some();
    let client_settings = client_sections!(s);
    let api_server = s.api_server.filter(|a| !a.trim().is_empty());
    let kubeconfig_file = s.kubeconfig_file.filter(|f| !f.as_os_str().is_empty());
    let mut unavailable = None;
    let in_cluster_entry = api_server.is_none() && kubeconfig_file.is_none();
    let (api_server, sections) = match (api_server, kubeconfig_file) {
        (Some(_), Some(_)) => return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into()),
        (None, Some(file)) => {
            if custom_client {
                return Err("cannot use a custom HTTP client configuration together with 'kubeconfig_file'".into());
            }
            if s.namespaces.own_namespace {
                return Err("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into());
            }
            kubeconfig_sections(&base.join(file))?
        }
        (Some(api_server), None) => {
            if s.namespaces.own_namespace {
                return Err("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into());
            }
            (api_server.trim_end_matches('/').to_string(), client_settings)
        }
        (None, None) => {
            if custom_client {
                return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
            }
            // As Prometheus, a configuration for a pod's own cluster loads anywhere: outside
            // one, the entry's discovery logs why it cannot start and finds nothing.
            let account_dir = Path::new(SERVICE_ACCOUNT_DIR);
            let own = if s.namespaces.own_namespace { own_namespace(account_dir).map(Some) } else { Ok(None) };
            match own.and_then(|own| Ok((own, in_cluster(std::env::var("KUBERNETES_SERVICE_HOST").ok(), std::env::var("KUBERNETES_SERVICE_PORT").ok(), account_dir)?))) {
                Ok((own, found)) => {
                    if !every_namespace {
                        namespaces.extend(own);
                    }
                    found
                }
                Err(error) => {
                    unavailable = Some(error);
                    ("https://kubernetes.default.svc".to_string(), ClientSections::default())
                }
            }
        }
    };
    let location = Url::parse(&format!("{api_server}/")).map_err(|e| format!("api_server: {e}"))?;
    namespaces.sort();
    namespaces.dedup();
    let access = match client_access(sections, location.scheme == Scheme::Https, base) {
        Ok(access) => access,
        // The service account's CA cannot be read: the same, logged when discovery starts.
        Err(error) if unavailable.is_none() && in_cluster_entry => {
            unavailable = Some(error);
            ClientAccess { credentials: Credentials::None, headers: ExtraHeaders::default(), tls: Err("unavailable".into()), proxy: ProxyChoice::Direct, follow_redirects: true }
        }
        Err(error) => return Err(error),
    };
    // The entry's position keeps apart two entries that differ only in credentials.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&(&s.role, &namespaces, &selectors, attach), &mut hasher);
    let source = format!("kubernetes {api_server} #{position} {:016x}", std::hash::Hasher::finish(&hasher));
    Ok(KubernetesSd {
        role: s.role,
        api_server,
        source,
        location,
        namespaces,
        selectors,
        attach,
        access,
        unavailable,
    })
}

/// A name that can stand in a URL path as it is (Prometheus takes any namespace name; one
/// Kubernetes does not allow just finds nothing).
fn path_safe_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| matches!(c, '/' | '?' | '#' | '%') || c.is_whitespace() || c.is_control())
}

/// The selectors by role, checked as Prometheus checks them: roles this role allows, each
/// once, and label and field selectors that parse.
fn kubernetes_selectors(role: &str, allowed: &[&str], sections: &[KubernetesSelectorSection]) -> Result<BTreeMap<String, (String, String)>, String> {
    let mut selectors = BTreeMap::new();
    for selector in sections {
        if selectors.contains_key(&selector.role) {
            return Err(format!("duplicated selector role: {}", selector.role));
        }
        if !allowed.contains(&selector.role.as_str()) {
            return Err(format!("{role} role supports only {} selectors", allowed.join(", ")));
        }
        check_selector(&selector.label, true).map_err(|e| format!("selectors: label selector {:?}: {e}", selector.label))?;
        check_selector(&selector.field, false).map_err(|e| format!("selectors: field selector {:?}: {e}", selector.field))?;
        selectors.insert(selector.role.clone(), (selector.label.clone(), selector.field.clone()));
    }
    Ok(selectors)
}

/// Checks what can be checked of a Kubernetes selector without the API server's full
/// grammar (it refuses the rest, which is then logged): balanced parentheses, no control
/// characters, no empty `in`/`notin` set, and for field selectors an operator (`=`, `==`,
/// `!=`) in every term (empty terms are skipped, as Kubernetes skips them; `\,` is an
/// escaped comma).
fn check_selector(text: &str, label: bool) -> Result<(), String> {
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if c.is_control() => return Err("it holds a control character".into()),
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced parentheses".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    if label {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.contains("in()") {
            return Err("an empty set of values".into());
        }
        return Ok(());
    }
    let unescaped = text.replace("\\,", "");
    match unescaped.split(',').map(str::trim).find(|term| !term.is_empty() && !term.contains('=')) {
        Some(term) => Err(format!("{term:?} has no =, == or !=")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::ingest::label_limits::LabelLimits;
    use crate::scrape::config::{ScrapeConfig, Secret};

    fn parse(text: &str) -> Result<ScrapeConfig, String> {
        ScrapeConfig::from_yaml(text, Path::new("/etc/prom"), LabelLimits::default())
    }

    #[test]
    fn kubernetes_entries_read_as_prometheus_reads_them() {
        let config = parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: endpoints, api_server: 'https://k8s.example:6443/', bearer_token_file: token, namespaces: {names: [b, a, a]}, selectors: [{role: pod, label: 'app=x', field: 'spec.nodeName=n1'}], attach_metadata: {node: true}}, {role: pod, api_server: 'http://127.0.0.1:8001'}]}]").expect("valid");
        let sds = &config.jobs[0].kubernetes_sd;
        assert_eq!((sds[0].role.as_str(), sds[0].api_server.as_str(), sds[0].location.port, sds[0].location.scheme), ("endpoints", "https://k8s.example:6443", 6443, Scheme::Https));
        assert_eq!(sds[0].namespaces, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(sds[0].selectors.get("pod"), Some(&("app=x".to_string(), "spec.nodeName=n1".to_string())));
        assert!(sds[0].attach.node && !sds[1].attach.node && sds[1].namespaces.is_empty());
        assert!(!sds[0].attach.namespace && !sds[0].attach.deployment && !sds[0].attach.job && !sds[0].attach.cronjob);
        assert!(matches!(&sds[0].access.credentials, Credentials::Typed { kind, credentials: Secret::File(f) } if kind == "Bearer" && f == Path::new("/etc/prom/token")));
        assert_ne!(sds[0].source, sds[1].source);

        // Prometheus 3's other attach_metadata keys, each its own setting (and source).
        let attached = parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod, api_server: 'http://127.0.0.1:8001', attach_metadata: {namespace: true, deployment: true}}, {role: pod, api_server: 'http://127.0.0.1:8001', attach_metadata: {job: true, cronjob: true}}]}]").expect("valid");
        let sds = &attached.jobs[0].kubernetes_sd;
        assert_eq!((sds[0].attach.namespace, sds[0].attach.deployment, sds[0].attach.job, sds[0].attach.cronjob, sds[0].attach.node), (true, true, false, false, false));
        assert_eq!((sds[1].attach.namespace, sds[1].attach.deployment, sds[1].attach.job, sds[1].attach.cronjob), (false, false, true, true));
        assert_ne!(sds[0].source.rsplit(' ').next(), sds[1].source.rsplit(' ').next());

        let outside = parse("scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod, namespaces: {names: ['']}}]}]").expect("loads outside a cluster too");
        if std::env::var_os("KUBERNETES_SERVICE_HOST").is_none() {
            let unavailable = outside.jobs[0].kubernetes_sd[0].unavailable.clone().unwrap_or_default();
            assert!(unavailable.contains("KUBERNETES_SERVICE_HOST"), "{unavailable:?}");
        }
        assert!(outside.jobs[0].kubernetes_sd[0].namespaces.is_empty(), "an empty name means every namespace");
        for (text, label) in [("app=web,tier!=db", true), ("env in (prod, staging), !canary", true), ("release notin (a),x>3", true), ("replicas > 2, ! partition", true), ("spec.nodeName=n1,status.phase!=Failed", false), ("metadata.name==x", false), ("spec.nodeName=n1,", false), ("metadata.name=a\\,b", false), ("", true)] {
            assert_eq!(check_selector(text, label), Ok(()), "{text}");
        }
        for (text, label) in [("app in (a", true), ("env in ()", true), ("a)(", true), ("spec.nodeName", false), ("a=b,c", false)] {
            assert!(check_selector(text, label).is_err(), "{text}");
        }

        let error = in_cluster(None, Some("443".into()), Path::new("/sa")).err().expect("outside a cluster");
        assert!(error.contains("KUBERNETES_SERVICE_HOST"), "{error}");
        let (url, sections) = in_cluster(Some("fd00::1".into()), Some("443".into()), Path::new("/sa")).expect("in a cluster");
        assert_eq!(url, "https://[fd00::1]:443");
        assert_eq!(sections.bearer_token_file, Some(PathBuf::from("/sa/token")));
        assert_eq!(sections.tls_config.and_then(|t| t.ca_file), Some(PathBuf::from("/sa/ca.crt")));
    }
}
