//! GET requests of the scraper and of http_sd, following redirects as Prometheus' HTTP
//! client does when `follow_redirects` is true (its default): at most 10, each `Location`
//! read relative to the URL that answered, the `Authorization` header sent on to the same
//! host only, and the whole chain within the one timeout. A redirect to another origin is
//! asked over a connection of its own, closed after it; the caller's keep-alive connection
//! serves its own origin.

use std::time::{Duration, Instant};

use net::client::{ClientTls, HttpClient, Response};

use super::config::{Scheme, Url};

/// Go's HTTP client stops after this many redirects.
const REDIRECTS_MAX: usize = 10;

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
    pub follow_redirects: bool,
    /// TLS for a redirect to an https origin (the job's or entry's settings).
    pub tls: &'a Result<ClientTls, String>,
}

/// The final response (any status; a 3xx when redirects are not followed), or why there is
/// none, worded as Go words it after the URL that failed (`Get "…": …`).
pub async fn get(request: Get<'_>) -> Result<Response, String> {
    let started = Instant::now();
    let first = request.shown;
    let response = request.client.get(&request.url.path_and_query, request.headers, request.timeout, request.body_bytes_max).await.map_err(|e| format!("Get {first:?}: {e}"))?;
    if !request.follow_redirects {
        return Ok(response);
    }
    let mut response = response;
    let mut current = request.url.clone();
    let mut redirects = 0;
    while let Some(location) = redirect_location(&response) {
        redirects += 1;
        let next = resolve(&current, &location).map_err(|e| format!("Get {first:?}: redirect: {e}"))?;
        if redirects > REDIRECTS_MAX {
            return Err(format!("Get {:?}: stopped after {REDIRECTS_MAX} redirects", format_url(&next)));
        }
        let left = request.timeout.checked_sub(started.elapsed()).filter(|d| !d.is_zero()).ok_or_else(|| format!("Get {:?}: timeout after {:?} while following redirects", format_url(&next), request.timeout))?;
        // Credentials go on to the same host only (Go's rule for a redirect elsewhere).
        let headers: Vec<(String, String)> = request.headers.iter().filter(|(name, _)| next.host == request.url.host || !name.eq_ignore_ascii_case("authorization")).cloned().collect();
        let same_origin = next.scheme == request.url.scheme && next.host == request.url.host && next.port == request.url.port;
        let url_text = format_url(&next);
        response = if same_origin {
            request.client.get(&next.path_and_query, &headers, left, request.body_bytes_max).await
        } else {
            let tls = match next.scheme {
                Scheme::Https => Some(request.tls.clone().map_err(|e| format!("Get {url_text:?}: no TLS settings for https: {e}"))?),
                Scheme::Http => None,
            };
            let mut other = HttpClient::new(next.host.clone(), next.port, tls);
            other.get(&next.path_and_query, &headers, left, request.body_bytes_max).await
        }
        .map_err(|e| format!("Get {url_text:?}: {e}"))?;
        current = next;
    }
    Ok(response)
}

/// The `Location` of a redirect Go's client follows for a GET (301, 302, 303, 307, 308);
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

    #[test]
    fn urls_are_split_and_checked() {
        let u = url("https://sd.example:8443/targets?env=prod");
        assert_eq!((u.scheme, u.host.as_str(), u.port, u.path_and_query.as_str()), (Scheme::Https, "sd.example", 8443, "/targets?env=prod"));
        assert_eq!(url("http://h").path_and_query, "/");
        assert_eq!(url("http://h?q=1").path_and_query, "/?q=1");
        assert_eq!((url("http://[::1]/x").host.as_str(), url("http://[::1]/x").port), ("::1", 80));
        for bad in ["ftp://h/", "http:///x", "http://user:pw@h/", "http://h:99999/", "h:80/x"] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
