//! A kubeconfig file (`kubernetes_sd_configs[].kubeconfig_file`) read as client-go reads one
//! for Prometheus: its `current-context` names a cluster and a user, which give the API
//! server's URL, TLS settings and credentials (`KubeAccess`).

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// How to reach and authenticate to the API server the current context names.
#[derive(Debug, Default, PartialEq)]
pub struct KubeAccess {
    pub server: String,
    pub ca_file: Option<PathBuf>,
    /// PEM text decoded from `certificate-authority-data`.
    pub ca_pem: Option<String>,
    pub cert_file: Option<PathBuf>,
    pub cert_pem: Option<String>,
    pub key_file: Option<PathBuf>,
    pub key_pem: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub token: Option<String>,
    /// Read at every request, so a rotated token is used.
    pub token_file: Option<PathBuf>,
    /// `username` and `password`.
    pub basic: Option<(String, String)>,
    /// The cluster's `proxy-url`: the proxy requests go through (without one, client-go's proxy
    /// from the environment).
    pub proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Kubeconfig {
    current_context: String,
    contexts: Option<Vec<NamedContext>>,
    clusters: Option<Vec<NamedCluster>>,
    users: Option<Vec<NamedUser>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedContext {
    name: String,
    context: Context,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Context {
    cluster: String,
    user: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedCluster {
    name: String,
    cluster: Cluster,
}

/// A cluster: the API server's URL, its CA as a file or as base64 `certificate-authority-data`,
/// `insecure-skip-tls-verify`, `tls-server-name` and `proxy-url`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: bool,
    tls_server_name: Option<String>,
    proxy_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedUser {
    name: String,
    user: User,
}

/// A user: a `token` or `tokenFile`, a client certificate and key as files or base64 data, or
/// `username`/`password`. `exec` and `auth-provider` are read only to refuse them.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<IgnoredAny>,
    auth_provider: Option<IgnoredAny>,
}

/// Reads `file` and resolves its current context; relative file names are taken from the
/// kubeconfig's directory.
pub fn read(file: &Path) -> Result<KubeAccess, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read kubeconfig_file {}: {e}", file.display()))?;
    let dir = file.parent().unwrap_or(Path::new("."));
    resolve(&text, dir).map_err(|e| format!("kubeconfig_file {}: {e}", file.display()))
}

/// The access `text`'s current context gives, relative files taken from `dir`. A user that
/// authenticates through an `exec` plugin or an `auth-provider` is refused, naming what is
/// missing.
fn resolve(text: &str, dir: &Path) -> Result<KubeAccess, String> {
    let config: Kubeconfig = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
    if config.current_context.is_empty() {
        return Err("no current-context is set".into());
    }
    let context = config.contexts.iter().flatten().find(|c| c.name == config.current_context).ok_or_else(|| format!("context {:?} is not defined", config.current_context))?;
    let cluster = config.clusters.iter().flatten().find(|c| c.name == context.context.cluster).ok_or_else(|| format!("cluster {:?} is not defined", context.context.cluster))?;
    let cluster = &cluster.cluster;
    if cluster.server.is_empty() {
        return Err(format!("cluster {:?} has no server", context.context.cluster));
    }
    let decode = |key: &str, data: &Option<String>| -> Result<Option<String>, String> {
        let Some(data) = data.as_deref().filter(|d| !d.is_empty()) else { return Ok(None) };
        // As Go's decoder, line breaks (base64 wrapped over lines) are ignored.
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(compact).map_err(|e| format!("{key} is not base64: {e}"))?;
        String::from_utf8(bytes).map(Some).map_err(|_| format!("{key} does not hold PEM text"))
    };
    let file = |path: &Option<PathBuf>| path.as_ref().filter(|p| !p.as_os_str().is_empty()).map(|p| dir.join(p));
    let server = cluster.server.trim_end_matches('/');
    // As client-go: a server without a scheme is https when TLS is configured, else http.
    let tls = cluster.certificate_authority.is_some() || cluster.certificate_authority_data.is_some() || cluster.insecure_skip_tls_verify;
    let server = if server.contains("://") { server.to_string() } else { format!("{}://{server}", if tls { "https" } else { "http" }) };
    let mut access = KubeAccess {
        server,
        ca_file: file(&cluster.certificate_authority),
        ca_pem: decode("certificate-authority-data", &cluster.certificate_authority_data)?,
        server_name: cluster.tls_server_name.clone().filter(|n| !n.is_empty()),
        insecure_skip_verify: cluster.insecure_skip_tls_verify,
        proxy_url: cluster.proxy_url.clone().filter(|p| !p.is_empty()),
        ..KubeAccess::default()
    };
    // client-go takes the data over the file when both are given.
    if access.ca_pem.is_some() {
        access.ca_file = None;
    }
    if context.context.user.is_empty() {
        return Ok(access);
    }
    let user = config.users.iter().flatten().find(|u| u.name == context.context.user).ok_or_else(|| format!("user {:?} is not defined", context.context.user))?;
    let name = &user.name;
    let user = &user.user;
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(format!("user {name:?} authenticates through an exec plugin or an auth-provider, which is not supported: give it a token, tokenFile or client certificate"));
    }
    access.cert_pem = decode("client-certificate-data", &user.client_certificate_data)?;
    access.cert_file = if access.cert_pem.is_some() { None } else { file(&user.client_certificate) };
    access.key_pem = decode("client-key-data", &user.client_key_data)?;
    access.key_file = if access.key_pem.is_some() { None } else { file(&user.client_key) };
    // As client-go, a token file wins over an inline token (it is what is read per request).
    access.token_file = file(&user.token_file);
    access.token = if access.token_file.is_some() { None } else { user.token.clone().filter(|t| !t.is_empty()) };
    let (username, password) = (user.username.clone().unwrap_or_default(), user.password.clone().unwrap_or_default());
    if !username.is_empty() || !password.is_empty() {
        if access.token.is_some() || access.token_file.is_some() {
            return Err(format!("user {name:?} has both a token and a username/password"));
        }
        access.basic = Some((username, password));
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: v1\nkind: Config\ncurrent-context: prod\ncontexts:\n- name: dev\n  context: {cluster: dev, user: dev}\n- name: prod\n  context: {cluster: prod, user: ops, namespace: monitoring}\nclusters:\n- name: dev\n  cluster: {server: 'https://dev:6443'}\n- name: prod\n  cluster:\n    server: https://k8s.example:6443/\n    certificate-authority: certs/ca.pem\n    tls-server-name: kubernetes\nusers:\n- name: ops\n  user:\n    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n    client-key: /keys/ops.key\n    tokenFile: token\n";

    #[test]
    fn the_current_context_gives_server_ca_and_user() {
        let access = resolve(CONFIG, Path::new("/home/me/.kube")).expect("valid kubeconfig");
        assert_eq!(
            access,
            KubeAccess {
                server: "https://k8s.example:6443".into(),
                ca_file: Some("/home/me/.kube/certs/ca.pem".into()),
                cert_pem: Some("-----BEGIN CERTIFICATE-----\n".into()),
                key_file: Some("/keys/ops.key".into()),
                server_name: Some("kubernetes".into()),
                token_file: Some("/home/me/.kube/token".into()),
                ..KubeAccess::default()
            }
        );
    }

    #[test]
    fn what_cannot_be_used_is_named() {
        let with = |from: &str, to: &str| CONFIG.replace(from, to);
        let cases = [
            (with("current-context: prod", "current-context: ''"), "no current-context"),
            (with("current-context: prod", "current-context: test"), "context \"test\" is not defined"),
            (with("context: {cluster: prod, user: ops,", "context: {cluster: gone, user: ops,"), "cluster \"gone\" is not defined"),
            (with("context: {cluster: prod, user: ops,", "context: {cluster: prod, user: nobody,"), "user \"nobody\" is not defined"),
            (with("    tokenFile: token\n", "    exec: {command: aws}\n"), "exec plugin"),
            (with("    tokenFile: token\n", "    tokenFile: token\n    username: u\n"), "both a token and a username"),
            (with("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", "not*base64"), "client-certificate-data is not base64"),
        ];
        for (text, expected) in cases {
            let error = resolve(&text, Path::new("/k")).expect_err(expected);
            assert!(error.contains(expected), "{error:?} should name {expected:?}");
        }
        let proxied = resolve(&with("    tls-server-name: kubernetes\n", "    proxy-url: socks5://proxy:1080\n"), Path::new("/k")).expect("a cluster behind a proxy");
        assert_eq!(proxied.proxy_url.as_deref(), Some("socks5://proxy:1080"));
        let no_user = resolve(&CONFIG.replace("context: {cluster: prod, user: ops,", "context: {cluster: prod,"), Path::new("/k")).expect("a context without a user");
        assert_eq!((no_user.token_file, no_user.basic), (None, None));
        // Wrapped base64 and a server without a scheme (https with a CA) read as client-go reads them.
        let wrapped = resolve(&CONFIG.replace("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==", "|\n      LS0tLS1CRUdJTiBD\n      RVJUSUZJQ0FURS0tLS0tCg==").replace("server: https://k8s.example:6443/", "server: k8s.example:6443"), Path::new("/k")).expect("wrapped base64");
        assert_eq!((wrapped.cert_pem.as_deref(), wrapped.server.as_str()), (Some("-----BEGIN CERTIFICATE-----\n"), "https://k8s.example:6443"));
        let both = resolve(&CONFIG.replace("    tokenFile: token\n", "    tokenFile: token\n    token: inline\n"), Path::new("/k")).expect("token and tokenFile");
        assert_eq!((both.token_file, both.token), (Some(PathBuf::from("/k/token")), None), "the file wins");
    }
}
