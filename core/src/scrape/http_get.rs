//! GET requests of the scraper and of http_sd, following redirects as Prometheus' HTTP
//! client does when `follow_redirects` is true (its default): the 10th redirect is an error
//! (as Go's client stops), and credentials and cookies are left out once the chain leaves the
//! first host and its subdomains (as Prometheus' HTTP client strips them).

use std::time::{Duration, Instant};

use net::client::{ClientTls, HttpClient, Response};

use super::config::{ClientAccess, Credentials, ExtraHeaders, Scheme, Url};
use super::proxy::ProxyChoice;

/// Go's HTTP client stops after this many redirects.
const REDIRECTS_MAX: usize = 10;

/// The headers of a scrape or a discovery request: `accept`, our User-Agent, Prometheus'
/// timing header if any (`timing`: its name and milliseconds; a scrape's and http_sd's), the
/// credentials' `Authorization` (an OAuth2 token asked within `timeout` if none is cached)
/// and the `http_headers` (files read now).
pub async fn request_headers(accept: &str, timing: Option<(&str, i64)>, credentials: &Credentials, extra: &ExtraHeaders, timeout: Duration) -> Result<Vec<(String, String)>, String> {
    let mut headers = vec![("Accept".to_string(), accept.to_string()), ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION")))];
    if let Some((name, ms)) = timing {
        headers.push((name.to_string(), format!("{}", ms as f64 / 1000.0)));
    }
    if let Some(value) = credentials.header(timeout).await? {
        headers.push(("Authorization".to_string(), value));
    }
    headers.extend(extra.values()?);
    Ok(headers)
}

/// Prometheus' words for a status it does not take (`server returned HTTP status 404 Not Found`).
pub fn status_error(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
    format!("server returned HTTP status {status} {reason}").trim_end().to_string()
}

/// TLS with the system's roots and no client certificate (cloud APIs, metadata services).
pub fn system_roots_tls() -> Result<ClientTls, String> {
    net::client::client_tls_config(None, None, false).map(|config| ClientTls { config, server_name: None }).map_err(|e| e.to_string())
}

/// A client for `location`'s origin: TLS from `tls` when it is https (an error saying why
/// there is none otherwise), through the proxy `proxy` chooses for it.
pub fn client_for(location: &Url, tls: &Result<ClientTls, String>, proxy: &ProxyChoice) -> Result<HttpClient, String> {
    let tls = match location.scheme {
        Scheme::Https => Some(tls.clone().map_err(|e| format!("no TLS settings for https: {e}"))?),
        Scheme::Http => None,
    };
    Ok(HttpClient::new(location.host.clone(), location.port, tls).with_proxy(proxy.for_url(location)?))
}

/// What one GET asks.
pub struct Get<'a> {
    /// The client connected to `url`'s origin (kept alive by the caller).
    pub client: &'a mut HttpClient,
    pub url: &'a Url,
    /// `url` as the user wrote it or Prometheus shows it, for messages.
    pub shown: &'a str,
    pub headers: &'a [(String, String)],
    pub timeout: Duration,
    pub body_bytes_max: usize,
    /// Whether redirects are followed, and the TLS and proxy settings a redirect to another
    /// origin is asked with (the job's or entry's).
    pub access: &'a ClientAccess,
}

impl ClientAccess {
    /// A client for `location`'s origin with these TLS and proxy settings.
    pub fn client(&self, location: &Url) -> Result<HttpClient, String> {
        client_for(location, &self.tls, &self.proxy)
    }

    /// `request_headers` with these credentials and `http_headers`.
    pub async fn request_headers(&self, accept: &str, timing: Option<(&str, i64)>, timeout: Duration) -> Result<Vec<(String, String)>, String> {
        request_headers(accept, timing, &self.credentials, &self.headers, timeout).await
    }
}

/// Why a GET failed when its body (as sent, or decompressed) is over `body_bytes_max`:
/// Prometheus' words for a scrape over its `body_size_limit`.
pub const BODY_SIZE_LIMIT_EXCEEDED: &str = "body size limit exceeded";

/// A client's failure worded as Go words it after the URL that failed (`Get "…": …`), or
/// `BODY_SIZE_LIMIT_EXCEEDED`.
fn failed(url: &str, error: net::client::ClientError) -> String {
    match error {
        net::client::ClientError::BodyTooLarge { .. } => BODY_SIZE_LIMIT_EXCEEDED.to_string(),
        other => format!("Get {url:?}: {other}"),
    }
}

/// The final response (any status; a 3xx when redirects are not followed), or why there is
/// none, worded as Go words it after the URL that failed (`Get "…": …`), or as
/// `BODY_SIZE_LIMIT_EXCEEDED` when the body is over the limit. Each redirect's `Location` is
/// read relative to the URL that answered, every hop has the same headers (but for those
/// left out across hosts), and the whole chain runs within the one timeout. A redirect to
/// another origin is asked over a connection of its own, closed after it; the caller's
/// keep-alive connection serves its own origin.
pub async fn get(request: Get<'_>) -> Result<Response, String> {
    let started = Instant::now();
    let first = request.shown;
    let response = request.client.get(&request.url.path_and_query, request.headers, request.timeout, request.body_bytes_max).await.map_err(|e| failed(first, e))?;
    if !request.access.follow_redirects {
        return Ok(response);
    }
    let mut response = response;
    let mut chain = RedirectChain::new(request.url, first, "Get", request.timeout, started);
    while let Some(hop) = chain.next(&response)? {
        // Every hop carries the same headers, but once the chain has left the first URL's
        // host (and its subdomains), credentials and cookies are left out, as Prometheus'
        // HTTP client strips them on cross-host redirects.
        let stripped: Vec<(String, String)>;
        let headers = if hop.crossed {
            stripped = without_sensitive(request.headers.to_vec(), false);
            &stripped[..]
        } else {
            request.headers
        };
        let url_text = format_url(&hop.url);
        response = if hop.same_origin {
            request.client.get(&hop.url.path_and_query, headers, hop.left, request.body_bytes_max).await
        } else {
            // A target scraped over a Unix socket is followed over it to any origin, as
            // Prometheus dials the socket for every connection of the scrape.
            let socket = request.client.unix_socket().map(std::path::Path::to_path_buf);
            let mut other = request.access.client(&hop.url).map_err(|e| format!("Get {url_text:?}: {e}"))?.over_unix_socket(socket);
            other.get(&hop.url.path_and_query, headers, hop.left, request.body_bytes_max).await
        }
        .map_err(|e| failed(&url_text, e))?;
    }
    Ok(response)
}

/// A chain of redirects as Go's HTTP client follows them: each `Location` read relative to
/// the URL that answered, the 10th redirect an error, the whole chain within one timeout,
/// and whether it has left the first URL's host (and its subdomains). Messages name the
/// first method as Go does (`Get`, `Post`).
pub(crate) struct RedirectChain<'a> {
    first: &'a Url,
    /// The first URL as shown in messages.
    shown: &'a str,
    method: &'static str,
    timeout: Duration,
    started: Instant,
    current: Url,
    redirects: usize,
    crossed: bool,
}

/// One more request of a chain.
pub(crate) struct Hop {
    pub url: Url,
    /// What is left of the chain's timeout.
    pub left: Duration,
    /// The chain has left the first URL's host: credentials stay behind.
    pub crossed: bool,
    /// The first URL's scheme, host and port: its client serves the hop.
    pub same_origin: bool,
}

impl<'a> RedirectChain<'a> {
    /// A chain from `first` (shown as `shown`), asked with `method` at `started`.
    pub(crate) fn new(first: &'a Url, shown: &'a str, method: &'static str, timeout: Duration, started: Instant) -> RedirectChain<'a> {
        RedirectChain { first, shown, method, timeout, started, current: first.clone(), redirects: 0, crossed: false }
    }

    /// The hop `response` redirects to (None: it is final), or why the chain ends there.
    pub(crate) fn next(&mut self, response: &Response) -> Result<Option<Hop>, String> {
        let Some(location) = redirect_location(response) else { return Ok(None) };
        let method = self.method;
        self.redirects += 1;
        let next = resolve(&self.current, &location).map_err(|e| format!("{method} {:?}: redirect: {e}", self.shown))?;
        if self.redirects >= REDIRECTS_MAX {
            return Err(format!("{method} {:?}: stopped after {REDIRECTS_MAX} redirects", format_url(&next)));
        }
        let left = self.timeout.checked_sub(self.started.elapsed()).filter(|d| !d.is_zero()).ok_or_else(|| format!("{method} {:?}: timeout after {:?} while following redirects", format_url(&next), self.timeout))?;
        self.crossed |= !domain_or_subdomain(&next.host.to_ascii_lowercase(), &self.first.host.to_ascii_lowercase());
        let same_origin = next.scheme == self.first.scheme && next.host == self.first.host && next.port == self.first.port;
        self.current = next.clone();
        Ok(Some(Hop { url: next, left, crossed: self.crossed, same_origin }))
    }
}

/// `headers` without those Go leaves out once a chain of redirects has left the first host
/// (`keep_authorization`: but `Authorization`, when the hop signs itself anew).
pub(crate) fn without_sensitive(mut headers: Vec<(String, String)>, keep_authorization: bool) -> Vec<(String, String)> {
    headers.retain(|(name, _)| (keep_authorization && name == "Authorization") || !SENSITIVE_ON_REDIRECT.iter().any(|s| name.eq_ignore_ascii_case(s)));
    headers
}

/// Headers not sent to a redirect's host other than the first URL's (Go's list).
const SENSITIVE_ON_REDIRECT: [&str; 6] = ["Authorization", "WWW-Authenticate", "Cookie", "Cookie2", "Proxy-Authorization", "Proxy-Authenticate"];

/// Whether `sub` is `parent` or a name under it (IP addresses only equal), as Go decides
/// which redirects keep credentials.
fn domain_or_subdomain(sub: &str, parent: &str) -> bool {
    if parent.is_empty() {
        return false;
    }
    if sub == parent {
        return true;
    }
    if sub.contains([':', '%']) {
        return false;
    }
    sub.len() > parent.len() && sub.ends_with(parent) && sub.as_bytes()[sub.len() - parent.len() - 1] == b'.'
}

/// The `Location` of a redirect Go's client follows (301, 302, 303, 307, 308; a POST's body
/// with 307 and 308 only);
/// none for other statuses or when the header is missing (the response is then final).
fn redirect_location(response: &Response) -> Option<String> {
    if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    response.headers.get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// `location` read relative to `base` (RFC 3986's reference forms that servers send: an
/// absolute URL, `//host/path`, `/path`, `?query`, or a path relative to base's directory).
fn resolve(base: &Url, location: &str) -> Result<Url, String> {
    let lower = location.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let split = location.find("://").map(|i| i + 3).unwrap_or(0);
        return Url::parse(&format!("{}{}", &lower[..split], &location[split..]));
    }
    if lower.contains("://") {
        return Err(format!("Location {location:?} is not an http or https URL"));
    }
    if let Some(rest) = location.strip_prefix("//") {
        return Url::parse(&format!("{}://{rest}", base.scheme.as_str()));
    }
    let location = location.split('#').next().unwrap_or("");
    let base_path = base.path_and_query.split('?').next().unwrap_or("/");
    let path_and_query = if location.starts_with('/') {
        location.to_string()
    } else if location.starts_with('?') {
        format!("{base_path}{location}")
    } else {
        let dir = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        format!("{}{location}", if dir.is_empty() { "/" } else { dir })
    };
    let path_and_query = remove_dot_segments(&path_and_query);
    if path_and_query.contains(|c: char| c.is_ascii_control() || c == ' ') {
        return Err(format!("Location {location:?} holds a space or a control character"));
    }
    Ok(Url { path_and_query, ..base.clone() })
}

/// The path with `.` and `..` segments removed (RFC 3986, 5.2.4); the query kept as it is.
fn remove_dot_segments(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match *segment {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut text = format!("/{}", out.join("/"));
    if let Some(q) = query {
        text.push('?');
        text.push_str(q);
    }
    text
}

/// The URL as text, for messages.
pub fn format_url(url: &Url) -> String {
    let host = if url.host.contains(':') { format!("[{}]", url.host) } else { url.host.clone() };
    let default_port = match url.scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    };
    if url.port == default_port {
        format!("{}://{host}{}", url.scheme.as_str(), url.path_and_query)
    } else {
        format!("{}://{host}:{}{}", url.scheme.as_str(), url.port, url.path_and_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("valid url")
    }

    /// Redirects followed, no credentials, no TLS, no proxy.
    fn plain_access() -> ClientAccess {
        ClientAccess { credentials: Credentials::None, headers: ExtraHeaders::default(), tls: Err("no TLS".to_string()), proxy: ProxyChoice::Direct, follow_redirects: true }
    }

    #[test]
    fn locations_are_read_relative_to_the_url_that_answered() {
        let base = url("http://exporter:9100/metrics/a?x=1");
        let cases = [
            ("/metrics/", "http://exporter:9100/metrics/"),
            ("b", "http://exporter:9100/metrics/b"),
            ("../other?y=2", "http://exporter:9100/other?y=2"),
            ("./", "http://exporter:9100/metrics/"),
            ("?z=3", "http://exporter:9100/metrics/a?z=3"),
            ("//other:81/m", "http://other:81/m"),
            ("HTTPS://secure/m#frag", "https://secure/m"),
            ("http://[::1]:9100/metrics", "http://[::1]:9100/metrics"),
            ("/a/./b/../c", "http://exporter:9100/a/c"),
        ];
        for (location, want) in cases {
            assert_eq!(format_url(&resolve(&base, location).expect(location)), want, "{location}");
        }
        assert!(resolve(&base, "ftp://x/").is_err());
        assert!(resolve(&base, "/a b").is_err());
    }

    /// A server answering every request with a redirect to `/next` (with `Authorization`
    /// recorded); how many requests it saw and their Authorization headers.
    fn redirecting_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        redirecting_server_to(false)
    }

    /// As [`redirecting_server`], the redirect to `http://127.0.0.1:<port>/next` when
    /// `absolute`.
    fn redirecting_server_to(absolute: bool) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let record = record.clone();
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(match stream.try_clone() {
                        Ok(s) => s,
                        Err(_) => return,
                    });
                    let mut stream = stream;
                    loop {
                        let mut auth = String::new();
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            if let Some(value) = line.strip_prefix("Authorization: ") {
                                auth = value.trim().to_string();
                            }
                        }
                        record.lock().map(|mut r| r.push(auth)).ok();
                        let location = if absolute { format!("http://127.0.0.1:{port}/next") } else { "/next".to_string() };
                        if stream.write_all(format!("HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n").as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, seen)
    }

    #[test]
    fn the_tenth_redirect_is_an_error_and_headers_follow_every_hop() {
        let (port, seen) = redirecting_server();
        let location = url(&format!("http://127.0.0.1:{port}/metrics"));
        let result = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(async move {
            let mut client = HttpClient::new(location.host.clone(), location.port, None);
            let headers = vec![("Authorization".to_string(), "Bearer t".to_string())];
            let access = plain_access();
            let request = Get { client: &mut client, url: &location, shown: "http://x/metrics", headers: &headers, timeout: Duration::from_secs(10), body_bytes_max: 1 << 20, access: &access };
            get(request).await.map(|r| r.status)
        });
        let error = result.expect_err("too many redirects");
        assert!(error.ends_with("stopped after 10 redirects"), "{error}");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        // As Go's client: ten requests, the tenth redirect not followed.
        assert_eq!(seen.len(), 10, "{seen:?}");
        assert!(seen.iter().all(|a| a == "Bearer t"), "{seen:?}");
    }

    #[test]
    fn credentials_stay_behind_once_a_redirect_leaves_the_host() {
        let (port, seen) = redirecting_server_to(true);
        let location = url(&format!("http://localhost:{port}/metrics"));
        let result = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(async move {
            let mut client = HttpClient::new(location.host.clone(), location.port, None);
            let headers = vec![("Authorization".to_string(), "Bearer t".to_string()), ("Cookie".to_string(), "c=1".to_string())];
            let access = plain_access();
            let request = Get { client: &mut client, url: &location, shown: "http://x/metrics", headers: &headers, timeout: Duration::from_secs(10), body_bytes_max: 1 << 20, access: &access };
            get(request).await.map(|r| r.status)
        });
        assert!(result.is_err(), "ten redirects");
        let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
        // The first request (localhost) carries it; the redirects to 127.0.0.1 do not.
        assert_eq!(seen.len(), 10, "{seen:?}");
        assert_eq!(seen[0], "Bearer t");
        assert!(seen[1..].iter().all(String::is_empty), "{seen:?}");

        assert!(domain_or_subdomain("a.example.com", "example.com") && domain_or_subdomain("example.com", "example.com"));
        assert!(!domain_or_subdomain("badexample.com", "example.com") && !domain_or_subdomain("example.com", "a.example.com"));
        assert!(!domain_or_subdomain("::1", "1") && !domain_or_subdomain("x", ""));
    }

    #[test]
    fn urls_are_split_and_checked() {
        let u = url("https://sd.example:8443/targets?env=prod");
        assert_eq!((u.scheme, u.host.as_str(), u.port, u.path_and_query.as_str()), (Scheme::Https, "sd.example", 8443, "/targets?env=prod"));
        assert_eq!(url("http://h").path_and_query, "/");
        assert_eq!(url("http://h?q=1").path_and_query, "/?q=1");
        assert_eq!((url("http://[::1]/x").host.as_str(), url("http://[::1]/x").port), ("::1", 80));
        assert_eq!(url("HTTPS://h/x").scheme, Scheme::Https);
        for bad in ["ftp://h/", "http:///x", "http://user:pw@h/", "http://h:99999/", "h:80/x"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
