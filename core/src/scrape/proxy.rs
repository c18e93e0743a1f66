//! Which proxy a scrape or discovery request goes through, from Prometheus' HTTP client
//! settings `proxy_url`, `no_proxy`, `proxy_from_environment` and `proxy_connect_header`,
//! chosen as in Prometheus (its common HTTP config on Go's `net/http`). A proxy URL's password
//! is shown as `xxxxx` in messages.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use net::client::{ClientTls, Proxy, ProxyKind, ProxyTls};

use super::config::{Scheme, Url};

/// Where requests of one job or discovery entry go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// Straight to the target.
    #[default]
    Direct,
    /// Every request through this proxy, loopback targets too (`proxy_url` without
    /// `no_proxy`).
    All(Arc<Proxy>),
    /// Go's `httpproxy` rules (`proxy_url` with `no_proxy`, or `proxy_from_environment`): a
    /// proxy per scheme (or why the environment's cannot be used), targets matching
    /// `no_proxy`, `localhost` and loopback targets straight.
    Rules { http: Option<Result<Arc<Proxy>, String>>, https: Option<Result<Arc<Proxy>, String>>, no_proxy: NoProxy },
}

impl ProxyChoice {
    /// Checks the settings as Prometheus does and reads the proxy URL(s); `env` reads an
    /// environment variable (the process's, or a test's): `HTTP_PROXY`, `HTTPS_PROXY` and
    /// `NO_PROXY`, upper or lower case, read when the configuration is loaded. A proxy from the
    /// environment that cannot be used (another scheme, or `HTTP_PROXY` in a CGI environment,
    /// which Go refuses) fails the requests that would go through it, naming the variable, as
    /// Go fails them; the configuration still loads.
    /// `tls`: the settings an `https://` proxy is spoken to with (the job's or entry's).
    pub fn from_settings(proxy_url: Option<&str>, no_proxy: Option<&str>, from_environment: bool, connect_header: &BTreeMap<String, Vec<String>>, tls: &Result<ClientTls, String>, env: &dyn Fn(&str) -> Option<String>) -> Result<ProxyChoice, String> {
        let proxy_url = proxy_url.filter(|u| !u.is_empty());
        let no_proxy = no_proxy.filter(|n| !n.is_empty());
        if !connect_header.is_empty() && !from_environment && proxy_url.is_none() {
            return Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into());
        }
        if from_environment && proxy_url.is_some() {
            return Err("if proxy_from_environment is configured, proxy_url must not be configured".into());
        }
        if from_environment && no_proxy.is_some() {
            return Err("if proxy_from_environment is configured, no_proxy must not be configured".into());
        }
        if proxy_url.is_none() && no_proxy.is_some() {
            return Err("if no_proxy is configured, proxy_url must also be configured".into());
        }
        let mut connect_headers = Vec::new();
        for (name, values) in connect_header {
            if name.is_empty() || name.bytes().any(|b| b <= b' ' || b == b':' || b == 0x7f) {
                return Err(format!("proxy_connect_header: {name:?} is not a valid header name"));
            }
            for value in values {
                if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    return Err(format!("proxy_connect_header: the value of {name:?} holds a line break"));
                }
                connect_headers.push((name.clone(), value.clone()));
            }
        }
        if from_environment {
            let var = |upper: &str| env(upper).filter(|v| !v.is_empty()).or_else(|| env(&upper.to_ascii_lowercase()).filter(|v| !v.is_empty()));
            let read = |name: &str| var(name).map(|value| parse_proxy_url(&value, true, &connect_headers, tls).map(Arc::new).map_err(|e| format!("the proxy in {name}: {e}")));
            let (http, https) = (read("HTTP_PROXY"), read("HTTPS_PROXY"));
            // Go refuses HTTP_PROXY for plain requests when running as a CGI program.
            let http = match http {
                Some(_) if env("REQUEST_METHOD").is_some_and(|v| !v.is_empty()) => Some(Err("refusing to use HTTP_PROXY value in CGI environment; see golang.org/s/cgihttpproxy".to_string())),
                other => other,
            };
            if http.is_none() && https.is_none() {
                return Ok(ProxyChoice::Direct);
            }
            return Ok(ProxyChoice::Rules { http, https, no_proxy: NoProxy::parse(&var("NO_PROXY").unwrap_or_default()) });
        }
        let Some(url) = proxy_url else { return Ok(ProxyChoice::Direct) };
        let proxy = Arc::new(parse_proxy_url(url, false, &connect_headers, tls).map_err(|e| format!("proxy_url: {e}"))?);
        Ok(match no_proxy {
            None => ProxyChoice::All(proxy),
            Some(rules) => ProxyChoice::Rules { http: Some(Ok(proxy.clone())), https: Some(Ok(proxy)), no_proxy: NoProxy::parse(rules) },
        })
    }

    /// The proxy for a request to `url`, if any, or why the one it would take cannot be used.
    pub fn for_url(&self, url: &Url) -> Result<Option<Arc<Proxy>>, String> {
        match self {
            ProxyChoice::Direct => Ok(None),
            ProxyChoice::All(proxy) => Ok(Some(proxy.clone())),
            ProxyChoice::Rules { http, https, no_proxy } => {
                let proxy = match url.scheme {
                    Scheme::Http => http,
                    Scheme::Https => https,
                };
                match proxy {
                    Some(proxy) if no_proxy.use_proxy(&url.host, url.port) => proxy.clone().map(Some),
                    _ => Ok(None),
                }
            }
        }
    }
}

/// Reads `scheme://[user[:password]@]host[:port][/path]`. `lenient` (an environment
/// variable): a value without a scheme is taken as `http://`, as Go does. Proxies speak HTTP
/// (`http://`, or `https://` for TLS to the proxy, with the job's or entry's `tls_config` as
/// Go's transport uses it, the proxy's name checked) or SOCKS5 (`socks5://`, `socks5h://`).
fn parse_proxy_url(raw: &str, lenient: bool, connect_headers: &[(String, String)], tls: &Result<ClientTls, String>) -> Result<Proxy, String> {
    let shown = redacted(raw);
    let text = shown.as_str();
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None if lenient => ("http".to_string(), raw),
        None => return Err(format!("{text:?} must start with http://, https://, socks5:// or socks5h://")),
    };
    let (kind, default_port) = match scheme.as_str() {
        "http" => (ProxyKind::Http, 80),
        "socks5" | "socks5h" => (ProxyKind::Socks5, 1080),
        "https" => match tls {
            Ok(tls) => (ProxyKind::Https(ProxyTls(tls.config.clone())), 443),
            Err(e) => return Err(format!("{text:?}: no TLS settings for an https:// proxy: {e}")),
        },
        other => return Err(format!("{text:?}: unsupported proxy scheme {other:?} (use http://, https://, socks5:// or socks5h://)")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (user, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (Some((percent_decode(user)?, percent_decode(password)?)), host_port)
        }
        None => (None, authority),
    };
    if host_port.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    let has_port = match host_port.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host_port.contains(':'),
    };
    let (host, port) = super::discovery::split_address(host_port, Scheme::Http).map_err(|e| format!("{text:?}: {e}"))?;
    let port = if has_port { port } else { default_port };
    if host.is_empty() {
        return Err(format!("{text:?} has no host"));
    }
    Ok(Proxy { kind, host, port, user, connect_headers: connect_headers.to_vec() })
}

/// The URL with its password, if any, shown as `xxxxx` (Go's `URL.Redacted`).
fn redacted(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[start..].find(['/', '?', '#']).map_or(url.len(), |i| start + i);
    let Some(at) = url[start..authority_end].rfind('@').map(|i| start + i) else { return url.to_string() };
    match url[start..at].find(':') {
        Some(colon) => format!("{}:xxxxx{}", &url[..start + colon], &url[at..]),
        None => url.to_string(),
    }
}

/// `%XX` escapes of a URL's user information decoded.
fn percent_decode(text: &str) -> Result<String, String> {
    crate::api::params::percent_decode_path(text).ok_or_else(|| "invalid escape in the proxy URL's user information, or not UTF-8".to_string())
}

/// The targets that are not proxied, as Go's `httpproxy` reads `NO_PROXY`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// `*`: nothing is proxied.
    All,
    /// An IP range: its network address and prefix length.
    Range(IpAddr, u8),
    /// An IP address, on any port or one.
    Ip(IpAddr, Option<u16>),
    /// A domain: `suffix` starts with a dot; `or_itself` when written without a leading dot
    /// or `*.` (it then matches the domain itself too).
    Domain { suffix: String, port: Option<u16>, or_itself: bool },
}

impl NoProxy {
    /// Reads a comma-separated list; entries Go ignores (malformed) are skipped. An entry is
    /// `*`, an IP address or CIDR range, or a domain (`example.com` matches it and its
    /// subdomains, `.example.com` and `*.example.com` only subdomains), each optionally with
    /// `:port`.
    pub fn parse(text: &str) -> NoProxy {
        let mut rules = Vec::new();
        for entry in text.split(',') {
            let entry = entry.trim().to_ascii_lowercase();
            if entry.is_empty() {
                continue;
            }
            if entry == "*" {
                return NoProxy { rules: vec![Rule::All] };
            }
            if let Some(range) = parse_cidr(&entry) {
                rules.push(range);
                continue;
            }
            let (host, port) = match split_host_port(&entry) {
                Some((host, port)) => match port.parse::<u16>() {
                    Ok(port) => (host, Some(port)),
                    Err(_) => continue,
                },
                None => (entry.as_str(), None),
            };
            if host.is_empty() {
                continue;
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                rules.push(Rule::Ip(ip, port));
                continue;
            }
            let host = host.strip_prefix('*').filter(|h| h.starts_with('.')).unwrap_or(host);
            let (suffix, or_itself) = if host.starts_with('.') { (host.to_string(), false) } else { (format!(".{host}"), true) };
            rules.push(Rule::Domain { suffix, port, or_itself });
        }
        NoProxy { rules }
    }

    /// Whether a request to `host:port` goes through the proxy.
    fn use_proxy(&self, host: &str, port: u16) -> bool {
        let host = host.trim().to_ascii_lowercase();
        if host == "localhost" {
            return false;
        }
        let ip = host.parse::<IpAddr>().ok();
        if ip.is_some_and(|ip| ip.is_loopback() || matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()))) {
            return false;
        }
        let port_matches = |rule_port: &Option<u16>| rule_port.is_none_or(|p| p == port);
        let matched = self.rules.iter().any(|rule| match (rule, ip) {
            (Rule::All, _) => true,
            (Rule::Range(network, bits), Some(ip)) => in_range(ip, *network, *bits),
            (Rule::Ip(rule_ip, rule_port), Some(ip)) => *rule_ip == ip && port_matches(rule_port),
            (Rule::Domain { suffix, port: rule_port, or_itself }, None) => (host.ends_with(suffix.as_str()) || (*or_itself && host == suffix[1..])) && port_matches(rule_port),
            _ => false,
        });
        !matched
    }
}

/// `host:port` or `[v6]:port` split as Go's `net.SplitHostPort` (None without a port).
fn split_host_port(text: &str) -> Option<(&str, &str)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return after.strip_prefix(':').map(|port| (host, port));
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, port)),
        _ => None,
    }
}

/// `address/bits` read as Go's `net.ParseCIDR`.
fn parse_cidr(text: &str) -> Option<Rule> {
    let (address, bits) = text.split_once('/')?;
    let address = address.parse::<IpAddr>().ok()?;
    let bits = bits.parse::<u8>().ok().filter(|b| *b <= if address.is_ipv4() { 32 } else { 128 })?;
    Some(Rule::Range(address, bits))
}

fn in_range(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    let prefix = |a: u128, b: u128, width: u8| bits == 0 || (a ^ b) >> (width - bits) == 0;
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => prefix(u32::from(ip).into(), u32::from(network).into(), 32),
        (IpAddr::V6(ip), IpAddr::V6(network)) => prefix(u128::from(ip), u128::from(network), 128),
        (IpAddr::V6(ip), IpAddr::V4(network)) => ip.to_ipv4_mapped().is_some_and(|v4| prefix(u32::from(v4).into(), u32::from(network).into(), 32)),
        (IpAddr::V4(_), IpAddr::V6(_)) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("url")
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn no_tls() -> Result<ClientTls, String> {
        Err("no TLS settings here".into())
    }

    fn choice(proxy_url: Option<&str>, no_proxy: Option<&str>) -> Result<ProxyChoice, String> {
        ProxyChoice::from_settings(proxy_url, no_proxy, false, &BTreeMap::new(), &no_tls(), &no_env)
    }

    fn proxied(choice: &ProxyChoice, target: &str) -> Option<String> {
        choice.for_url(&url(target)).expect("a usable proxy").map(|p| p.address())
    }

    #[test]
    fn proxy_urls_read_as_go_reads_them() {
        let all = choice(Some("http://user:p%40ss@proxy.example:3128/ignored"), None).expect("http proxy");
        let ProxyChoice::All(proxy) = &all else { panic!("{all:?}") };
        assert_eq!((proxy.kind.clone(), proxy.host.as_str(), proxy.port), (ProxyKind::Http, "proxy.example", 3128));
        assert_eq!(proxy.user, Some(("user".to_string(), "p@ss".to_string())));
        // Without no_proxy, loopback targets go through the proxy too (Go's http.ProxyURL).
        assert_eq!(proxied(&all, "http://127.0.0.1:9100/metrics").as_deref(), Some("proxy.example:3128"));
        assert_eq!(proxied(&all, "https://localhost/metrics").as_deref(), Some("proxy.example:3128"));

        let ports = |text: &str| match choice(Some(text), None).expect(text) {
            ProxyChoice::All(p) => (p.kind.clone(), p.address()),
            other => panic!("{other:?}"),
        };
        assert_eq!(ports("http://proxy"), (ProxyKind::Http, "proxy:80".to_string()));
        assert_eq!(ports("SOCKS5://[::1]"), (ProxyKind::Socks5, "[::1]:1080".to_string()));
        assert_eq!(ports("socks5h://10.0.0.1:9050"), (ProxyKind::Socks5, "10.0.0.1:9050".to_string()));
        assert_eq!(choice(Some(""), None), Ok(ProxyChoice::Direct));

        let error = |proxy_url: Option<&str>, no_proxy: Option<&str>| choice(proxy_url, no_proxy).expect_err("refused");
        assert!(error(Some("https://proxy:443"), None).contains("no TLS settings for an https:// proxy: no TLS settings here"));
        // With TLS settings, an https:// proxy is spoken to over TLS (443 by default).
        let tls = net::client::client_tls_config(None, None, true).map(|config| ClientTls { config, server_name: None });
        let Ok(ProxyChoice::All(proxy)) = ProxyChoice::from_settings(Some("https://proxy"), None, false, &BTreeMap::new(), &tls, &no_env) else { panic!("an https proxy") };
        assert!(matches!(proxy.kind, ProxyKind::Https(_)) && proxy.address() == "proxy:443", "{proxy:?}");
        assert!(error(Some("proxy:3128"), None).contains("must start with http://"));
        assert!(error(Some("ftp://proxy"), None).contains("unsupported proxy scheme \"ftp\""));
        assert!(error(Some("http://"), None).contains("has no host"));
        assert!(error(Some("http://proxy:port"), None).contains("not a host:port address"));
        assert!(error(Some("http://a:%zz@proxy"), None).contains("invalid escape"));
        // The password never shows in a message.
        assert_eq!(error(Some("https://user:hunter2@proxy:3128/x"), None), "proxy_url: \"https://user:xxxxx@proxy:3128/x\": no TLS settings for an https:// proxy: no TLS settings here");
        assert_eq!(redacted("http://user@p"), "http://user@p");
        assert_eq!(redacted("socks5://u:p@w@host:1/a@b"), "socks5://u:xxxxx@host:1/a@b");
        assert_eq!(error(None, Some("example.com")), "if no_proxy is configured, proxy_url must also be configured");
    }

    #[test]
    fn settings_are_checked_as_prometheus_checks_them() {
        let headers: BTreeMap<String, Vec<String>> = [("X-Auth".to_string(), vec!["a".to_string(), "b".to_string()])].into();
        let from = |proxy_url: Option<&str>, no_proxy: Option<&str>, env: bool, headers: &BTreeMap<String, Vec<String>>| ProxyChoice::from_settings(proxy_url, no_proxy, env, headers, &no_tls(), &no_env);
        assert_eq!(from(None, None, false, &headers), Err("if proxy_connect_header is configured, proxy_url or proxy_from_environment must also be configured".into()));
        assert_eq!(from(Some("http://p"), None, true, &BTreeMap::new()), Err("if proxy_from_environment is configured, proxy_url must not be configured".into()));
        assert_eq!(from(None, Some("x"), true, &BTreeMap::new()), Err("if proxy_from_environment is configured, no_proxy must not be configured".into()));
        let Ok(ProxyChoice::All(proxy)) = from(Some("http://p"), None, false, &headers) else { panic!("accepted") };
        assert_eq!(proxy.connect_headers, vec![("X-Auth".to_string(), "a".to_string()), ("X-Auth".to_string(), "b".to_string())]);
        let bad: BTreeMap<String, Vec<String>> = [("Bad Name".to_string(), vec![])].into();
        assert!(from(Some("http://p"), None, false, &bad).expect_err("bad name").contains("not a valid header name"));
        // With nothing in the environment, requests go straight.
        assert_eq!(from(None, None, true, &headers), Ok(ProxyChoice::Direct));
    }

    #[test]
    fn no_proxy_matches_as_go_httpproxy() {
        let rules = choice(Some("http://proxy:3128"), Some("example.com, .internal ,*.corp:8080,10.0.0.0/8,192.168.1.1,[2001:db8::1]:443,bad:port,")).expect("rules");
        let through = |target: &str| proxied(&rules, target).is_some();
        assert!(!through("http://example.com/"), "the domain itself");
        assert!(!through("http://a.b.example.com:9100/"), "a subdomain");
        assert!(through("http://notexample.com/"), "a name ending alike without the dot");
        assert!(through("http://internal/"), ".internal matches subdomains only");
        assert!(!through("http://db.internal/"));
        assert!(!through("http://x.corp:8080/") && through("http://x.corp:9090/"), "a domain with a port");
        assert!(!through("http://10.1.2.3/") && through("http://11.1.2.3/"), "a CIDR range");
        assert!(!through("http://192.168.1.1:9100/") && through("http://192.168.1.2/"));
        assert!(!through("https://[2001:db8::1]/") && through("http://[2001:db8::1]/"), "an IPv6 address with a port (https's 443)");
        // Loopback and localhost never go through the proxy under these rules.
        assert!(!through("http://127.0.0.1:9100/") && !through("http://localhost:9100/") && !through("http://[::1]:9100/"));
        assert!(through("http://other.example.org/"));
        assert!(!through("http://EXAMPLE.com/"), "names compare in lower case");
        let everything = choice(Some("http://proxy:3128"), Some(" * ")).expect("star");
        assert_eq!(proxied(&everything, "http://anything.example/"), None);
    }

    #[test]
    fn the_environment_gives_a_proxy_per_scheme() {
        let env = |vars: &'static [(&'static str, &'static str)]| move |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        let from_env = |vars: &'static [(&'static str, &'static str)]| ProxyChoice::from_settings(None, None, true, &BTreeMap::new(), &no_tls(), &env(vars));
        let rules = from_env(&[("http_proxy", "plain-proxy:3128"), ("HTTPS_PROXY", "http://tls-proxy:8080"), ("no_proxy", "skip.example")]).expect("environment");
        assert_eq!(proxied(&rules, "http://target.example/").as_deref(), Some("plain-proxy:3128"), "lower case, no scheme: http://");
        assert_eq!(proxied(&rules, "https://target.example/").as_deref(), Some("tls-proxy:8080"));
        assert_eq!(proxied(&rules, "https://skip.example/"), None);
        assert_eq!(proxied(&rules, "http://localhost:9100/"), None);
        let only_https = from_env(&[("HTTPS_PROXY", "socks5://s:1080")]).expect("environment");
        assert_eq!(proxied(&only_https, "http://target.example/"), None);
        // What Go refuses or cannot use fails the requests that would go through it (the
        // configuration loads; loopback targets still go straight).
        let cgi = from_env(&[("HTTP_PROXY", "http://p"), ("REQUEST_METHOD", "GET")]).expect("environment");
        assert_eq!(cgi.for_url(&url("http://target.example/")), Err("refusing to use HTTP_PROXY value in CGI environment; see golang.org/s/cgihttpproxy".to_string()));
        let tls_proxy = from_env(&[("HTTPS_PROXY", "https://user:pw@p")]).expect("loads");
        let error = tls_proxy.for_url(&url("https://target.example/")).expect_err("a TLS proxy");
        assert_eq!(error, "the proxy in HTTPS_PROXY: \"https://user:xxxxx@p\": no TLS settings for an https:// proxy: no TLS settings here");
        let error = from_env(&[("HTTP_PROXY", "ftp://user:pw@p")]).expect("loads").for_url(&url("http://target.example/")).expect_err("another scheme");
        assert!(error.starts_with("the proxy in HTTP_PROXY: \"ftp://user:xxxxx@p\": unsupported proxy scheme"), "{error}");
        assert_eq!(tls_proxy.for_url(&url("https://127.0.0.1/")), Ok(None));
    }
}
