//! Prometheus' `oauth2` HTTP client setting: the OAuth 2.0 client credentials grant (RFC
//! 6749 §4.4), as Go's `golang.org/x/oauth2/clientcredentials` does it for Prometheus. One
//! token is shared by every request of the job or discovery entry (`TokenSource`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::{Secret, Url};
use super::proxy::ProxyChoice;

/// Go's oauth2 takes a token as expired this long before its expiry.
const EXPIRY_DELTA: Duration = Duration::from_secs(10);
/// The most a token response may take.
const RESPONSE_BYTES_MAX: usize = 1 << 20;
/// How often a request waiting for another's token request looks again.
const WAIT_STEP: Duration = Duration::from_millis(20);

/// One `oauth2` section, checked, with its cached token, shared by every request of the job or
/// discovery entry.
pub struct TokenSource {
    client_id: String,
    client_secret: Secret,
    scopes: Vec<String>,
    /// As written, for messages.
    token_url_text: String,
    token_url: Url,
    endpoint_params: Vec<(String, String)>,
    tls: Result<net::client::ClientTls, String>,
    proxy: ProxyChoice,
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenSource {
    /// The client and token URL (the secret and the token stay out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource").field("client_id", &self.client_id).field("token_url", &self.token_url_text).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    token: Option<Token>,
    /// The secret the token was got with.
    secret: String,
    /// Whether the server takes the client's credentials in the form (learnt once a
    /// request worked; until then the Basic header is tried first).
    credentials_in_form: Option<bool>,
    /// A request is asking for a token now.
    fetching: bool,
}

pub struct Token {
    /// The `Authorization` header's value.
    pub header: String,
    /// When to ask again (none: never).
    pub renew_at: Option<Instant>,
}

impl Token {
    /// Whether it may still be sent at `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        self.renew_at.is_none_or(|at| now < at)
    }
}

impl std::fmt::Debug for Token {
    /// When it is renewed (the token stays out of logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("renew_at", &self.renew_at).finish_non_exhaustive()
    }
}

/// Clears the fetching mark when the request asking for a token ends, even cancelled.
struct Fetching<'a>(&'a Mutex<State>);

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.0.lock() {
            state.fetching = false;
        }
    }
}

/// What the settings give, for [`TokenSource::new`].
pub struct Settings {
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: Vec<String>,
    pub token_url: String,
    pub endpoint_params: Vec<(String, String)>,
    pub tls: Result<net::client::ClientTls, String>,
    pub proxy: ProxyChoice,
}

impl TokenSource {
    /// Checks the settings as Prometheus and Go's oauth2 do.
    pub fn new(settings: Settings) -> Result<TokenSource, String> {
        if settings.client_id.is_empty() {
            return Err("oauth2 client_id must be configured".into());
        }
        if settings.token_url.is_empty() {
            return Err("oauth2 token_url must be configured".into());
        }
        let token_url = Url::parse(&settings.token_url).map_err(|e| format!("oauth2 token_url: {e}"))?;
        // Go's clientcredentials lets endpoint_params replace grant_type only.
        if let Some((name, _)) = settings.endpoint_params.iter().find(|(name, _)| name == "scope" && !settings.scopes.is_empty()) {
            return Err(format!("oauth2 endpoint_params: cannot overwrite parameter {name:?} (set by scopes)"));
        }
        Ok(TokenSource {
            client_id: settings.client_id,
            client_secret: settings.client_secret,
            scopes: settings.scopes,
            token_url_text: settings.token_url,
            token_url,
            endpoint_params: settings.endpoint_params,
            tls: settings.tls,
            proxy: settings.proxy,
            state: Mutex::new(State::default()),
        })
    }

    /// The `Authorization` header's value: the cached token, or a new one asked within
    /// `timeout`. A token is asked again 10 s before `expires_in` runs out (never, without it),
    /// or when the secret file's content changes. One request at a time asks for a token; the
    /// others wait for it. A failed request is an error for the request that needed the token,
    /// which is asked again by the next one. If the server refuses the Basic header, the
    /// credentials go in the form, which is then kept (Go's auto-detection).
    pub async fn authorization(&self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let secret = self.client_secret.read().map_err(|e| format!("unable to read oauth2 client secret: {e}"))?;
            let in_form = {
                let mut state = self.state.lock().map_err(|_| "oauth2 token cache poisoned".to_string())?;
                if state.secret == secret {
                    if let Some(token) = state.token.as_ref().filter(|t| t.renew_at.is_none_or(|at| Instant::now() < at)) {
                        return Ok(token.header.clone());
                    }
                }
                if !state.fetching {
                    state.fetching = true;
                    Some(state.credentials_in_form)
                } else {
                    None
                }
            };
            let Some(in_form) = in_form else {
                // Another request is asking: wait for its token.
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(format!("oauth2: timeout after {timeout:?} waiting for a token from {}", self.token_url_text));
                }
                glommio::timer::sleep(WAIT_STEP.min(left)).await;
                continue;
            };
            let _fetching = Fetching(&self.state);
            let left = deadline.saturating_duration_since(Instant::now());
            let (token, in_form) = match in_form {
                Some(in_form) => (self.fetch(&secret, in_form, left).await?, in_form),
                // Go's auto-detection: the header first, then the form if that failed.
                None => match self.fetch(&secret, false, left).await {
                    Ok(token) => (token, false),
                    Err(first) => {
                        // With no time left for the second way, the first one's error says why.
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            return Err(first);
                        }
                        (self.fetch(&secret, true, left).await?, true)
                    }
                },
            };
            let header = token.header.clone();
            let mut state = self.state.lock().map_err(|_| "oauth2 token cache poisoned".to_string())?;
            state.token = Some(token);
            state.secret = secret;
            state.credentials_in_form = Some(in_form);
            return Ok(header);
        }
    }

    /// One token request: a form POST to `token_url` (`grant_type=client_credentials`,
    /// `scope` from `scopes` joined by spaces, and `endpoint_params`), the client
    /// authenticating with a Basic header (its ID and secret form-escaped) or, with
    /// `credentials_in_form`, with `client_id`/`client_secret` in the form. The answer is JSON,
    /// or a form when its type says so.
    async fn fetch(&self, secret: &str, credentials_in_form: bool, timeout: Duration) -> Result<Token, String> {
        let mut form: Vec<(String, String)> = vec![("grant_type".into(), "client_credentials".into())];
        if !self.scopes.is_empty() {
            form.push(("scope".into(), self.scopes.join(" ")));
        }
        for (name, value) in &self.endpoint_params {
            form.retain(|(n, _)| n != name);
            form.push((name.clone(), value.clone()));
        }
        let mut headers = vec![
            ("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()),
            ("User-Agent".to_string(), format!("Metricstor/{}", env!("CARGO_PKG_VERSION"))),
        ];
        if credentials_in_form {
            // Set over any endpoint_params of these names, as Go's url.Values.Set does.
            form.retain(|(name, _)| name != "client_id" && name != "client_secret");
            form.push(("client_id".into(), self.client_id.clone()));
            if !secret.is_empty() {
                form.push(("client_secret".into(), secret.to_string()));
            }
        } else {
            use base64::Engine as _;
            let pair = format!("{}:{}", form_escape(&self.client_id), form_escape(secret));
            headers.push(("Authorization".to_string(), format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))));
        }
        form.sort();
        let body = form.iter().map(|(n, v)| format!("{}={}", form_escape(n), form_escape(v))).collect::<Vec<_>>().join("&");
        let url = &self.token_url_text;
        let mut client = super::http_get::client_for(&self.token_url, &self.tls, &self.proxy).map_err(|e| format!("oauth2: cannot fetch token from {url}: {e}"))?;
        let response = client.post(&self.token_url.path_and_query, &headers, body.as_bytes(), timeout, RESPONSE_BYTES_MAX).await.map_err(|e| format!("oauth2: cannot fetch token from {url}: {e}"))?;
        let content_type = response.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let parsed = if media == "application/x-www-form-urlencoded" || media == "text/plain" { form_fields(&response.body) } else { json_fields(&response.body) };
        // An RFC 6749 error in the answer, whatever its status, is named as Go names it.
        if let Ok(Fields { error: Some(code), error_description, .. }) = &parsed {
            let description = error_description.as_ref().map(|d| format!(" {d:?}")).unwrap_or_default();
            return Err(format!("oauth2: cannot fetch token from {url}: {code:?}{description}"));
        }
        if !(200..=299).contains(&response.status) {
            let text = String::from_utf8_lossy(&response.body);
            let text: String = text.trim().chars().take(200).collect();
            return Err(format!("oauth2: cannot fetch token from {url}: {}; response: {text:?}", super::http_get::status_error(response.status).trim_start_matches("server returned HTTP status ")));
        }
        token_from(parsed?, Instant::now()).map_err(|e| format!("oauth2: {url}: {e}"))
    }
}

/// The fields of a token response that matter.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Fields {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<i64>,
    /// RFC 6749's error code and description, when the server refused.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

pub(crate) fn json_fields(body: &[u8]) -> Result<Fields, String> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("oauth2: cannot parse the token response as JSON: {e}"))?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("").to_string();
    // A number, or a string holding one (as Go's json.Number reads it).
    let expires_in = match value.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Some(serde_json::Value::String(s)) => Some(s.parse::<i64>().map_err(|_| format!("oauth2: expires_in {s:?} is not a number"))?),
        Some(other) => return Err(format!("oauth2: expires_in {other} is not a number")),
    };
    let some = |key: &str| Some(text(key)).filter(|t| !t.is_empty());
    Ok(Fields { access_token: text("access_token"), token_type: text("token_type"), expires_in, error: some("error"), error_description: some("error_description") })
}

fn form_fields(body: &[u8]) -> Result<Fields, String> {
    let text = std::str::from_utf8(body).map_err(|_| "oauth2: the token response is not UTF-8".to_string())?;
    let mut fields = Fields::default();
    for pair in text.trim().split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = form_unescape(value)?;
        match form_unescape(name)?.as_str() {
            "access_token" => fields.access_token = value,
            "token_type" => fields.token_type = value,
            // As Go: an expires_in that is not a number means no expiry.
            "expires_in" => fields.expires_in = value.parse().ok(),
            "error" if !value.is_empty() => fields.error = Some(value),
            "error_description" if !value.is_empty() => fields.error_description = Some(value),
            _ => {}
        }
    }
    Ok(fields)
}

/// The token: its header (`token_type` as Go's `Token.Type` writes it) and when to renew it.
pub(crate) fn token_from(fields: Fields, now: Instant) -> Result<Token, String> {
    if fields.access_token.is_empty() {
        return Err("server response missing access_token".into());
    }
    let kind = match fields.token_type.to_ascii_lowercase().as_str() {
        "" | "bearer" => "Bearer".to_string(),
        "mac" => "MAC".to_string(),
        "basic" => "Basic".to_string(),
        _ => fields.token_type.clone(),
    };
    // A negative expires_in is a token already expired (asked again every time), as in Go.
    let renew_at = fields.expires_in.filter(|s| *s != 0).map(|s| (now + Duration::from_secs(s.clamp(0, i64::from(i32::MAX)) as u64)).checked_sub(EXPIRY_DELTA).unwrap_or(now));
    Ok(Token { header: format!("{kind} {}", fields.access_token), renew_at })
}

/// Go's `url.QueryEscape`, as its form encoding writes names and values.
fn form_escape(text: &str) -> String {
    super::discovery::query_escape(text)
}

/// A form name or value decoded (its text kept out of the message: it may be the token).
fn form_unescape(text: &str) -> Result<String, String> {
    crate::api::params::percent_decode(text).map_err(|_| "oauth2: invalid escape or UTF-8 in the token response".to_string())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    use super::*;

    /// A token server answering each connection's one request with the next of `answers`;
    /// returns its port and the requests (head and body) it saw.
    fn token_server(answers: Vec<String>) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        token_server_after(answers, Duration::ZERO)
    }

    /// As [`token_server`], each answer sent `delay` after its request arrived.
    fn token_server_after(answers: Vec<String>, delay: Duration) -> (u16, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let thread = std::thread::spawn(move || {
            let mut seen = Vec::new();
            for answer in answers {
                let Ok((mut stream, _)) = listener.accept() else { break };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|l| l.trim().parse::<usize>().ok()).unwrap_or(0);
                        if body.len() >= length {
                            break;
                        }
                    }
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                seen.push(String::from_utf8_lossy(&request).into_owned());
                std::thread::sleep(delay);
                let _ = stream.write_all(answer.as_bytes());
            }
            seen
        });
        (port, thread)
    }

    fn answer(status: &str, content_type: &str, body: &str) -> String {
        format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
    }

    fn source(port: u16, secret: Secret, scopes: &[&str], params: &[(&str, &str)]) -> TokenSource {
        TokenSource::new(Settings {
            client_id: "metric stor".into(),
            client_secret: secret,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_url: format!("http://127.0.0.1:{port}/oauth/token?tenant=a"),
            endpoint_params: params.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
            tls: Err("no TLS".into()),
            proxy: ProxyChoice::Direct,
        })
        .expect("settings")
    }

    fn run<T>(test: impl std::future::Future<Output = T>) -> T {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound).io_memory(1 << 20).make().expect("executor").run(test)
    }

    #[test]
    fn a_token_is_asked_once_and_reused_until_it_nears_expiry() {
        let (port, thread) = token_server(vec![answer("200 OK", "application/json", r#"{"access_token":"tok-1","token_type":"bearer","expires_in":3600}"#)]);
        let source = source(port, Secret::Inline("s3cret/+".into()), &["read", "write"], &[("audience", "https://api")]);
        let (first, second) = run(async {
            let first = source.authorization(Duration::from_secs(10)).await;
            let second = source.authorization(Duration::from_secs(10)).await;
            (first, second)
        });
        assert_eq!(first.as_deref(), Ok("Bearer tok-1"));
        assert_eq!(second.as_deref(), Ok("Bearer tok-1"), "the cached token");
        let seen = thread.join().expect("server");
        assert_eq!(seen.len(), 1, "{seen:?}");
        let request = &seen[0];
        assert!(request.starts_with("POST /oauth/token?tenant=a HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("\r\nContent-Type: application/x-www-form-urlencoded\r\n"), "{request}");
        // base64("metric+stor:s3cret%2F%2B"): the ID and secret form-escaped, as Go sends them.
        assert!(request.contains("\r\nAuthorization: Basic bWV0cmljK3N0b3I6czNjcmV0JTJGJTJC\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\naudience=https%3A%2F%2Fapi&grant_type=client_credentials&scope=read+write"), "{request}");
    }

    #[test]
    fn requests_needing_a_token_at_once_wait_for_one_request() {
        let (port, thread) = token_server_after(vec![answer("200 OK", "application/json", r#"{"access_token":"shared"}"#)], Duration::from_millis(300));
        let source = source(port, Secret::Inline("s".into()), &[], &[]);
        let (first, second) = run(async { futures_lite::future::zip(source.authorization(Duration::from_secs(10)), source.authorization(Duration::from_secs(10))).await });
        assert_eq!((first.as_deref(), second.as_deref()), (Ok("Bearer shared"), Ok("Bearer shared")));
        assert_eq!(thread.join().expect("server").len(), 1);
    }

    #[test]
    fn a_refused_header_is_tried_in_the_form_and_remembered() {
        let token = |t: &str| answer("200 OK", "application/x-www-form-urlencoded", &format!("access_token={t}&token_type=mac&expires_in=5"));
        let (port, thread) = token_server(vec![answer("401 Unauthorized", "application/json", r#"{"error":"invalid_client"}"#), token("a%2Bb"), token("second")]);
        let source = source(port, Secret::Inline(String::new()), &[], &[("grant_type", "custom"), ("client_id", "from-params")]);
        let (first, second) = run(async {
            let first = source.authorization(Duration::from_secs(10)).await;
            // expires_in 5 is within the 10 s margin: asked again at once.
            let second = source.authorization(Duration::from_secs(10)).await;
            (first, second)
        });
        assert_eq!(first.as_deref(), Ok("MAC a+b"));
        assert_eq!(second.as_deref(), Ok("MAC second"));
        let seen = thread.join().expect("server");
        assert!(seen[0].contains("Authorization: Basic ") && seen[0].ends_with("\r\n\r\nclient_id=from-params&grant_type=custom"), "{}", seen[0]);
        // No secret: only the client's ID in the form, over the endpoint_params one.
        assert!(!seen[1].contains("Authorization:") && seen[1].ends_with("\r\n\r\nclient_id=metric+stor&grant_type=custom"), "{}", seen[1]);
        assert!(!seen[2].contains("Authorization:") && seen[2].ends_with("client_id=metric+stor&grant_type=custom"), "the form remembered: {}", seen[2]);
    }

    #[test]
    fn failures_are_named_and_a_changed_secret_file_asks_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("secret");
        std::fs::write(&file, "one\n").expect("write");
        let (port, thread) = token_server(vec![
            answer("200 OK", "application/json", r#"{"access_token":"for-one","expires_in":"3600"}"#),
            answer("200 OK", "application/json", r#"{"access_token":"for-two"}"#),
            answer("200 OK", "application/json", r#"{"token_type":"bearer"}"#),
        ]);
        let source = Arc::new(source(port, Secret::File(file.clone()), &[], &[]));
        let shared = source.clone();
        let (one, two, missing) = run(async move {
            let one = shared.authorization(Duration::from_secs(10)).await;
            std::fs::write(&file, "two\n").expect("write");
            let two = shared.authorization(Duration::from_secs(10)).await;
            std::fs::write(&file, "three\n").expect("write");
            let missing = shared.authorization(Duration::from_secs(10)).await;
            (one, two, missing)
        });
        assert_eq!((one.as_deref(), two.as_deref()), (Ok("Bearer for-one"), Ok("Bearer for-two")));
        let error = missing.expect_err("no access_token");
        assert!(!error.contains("three"), "{error}");
        assert!(error.contains("server response missing access_token") && error.contains("/oauth/token"), "{error}");
        let seen = thread.join().expect("server");
        assert!(seen[0].contains("Authorization: Basic bWV0cmljK3N0b3I6b25l"), "{}", seen[0]);
        assert!(seen[1].contains("Authorization: Basic bWV0cmljK3N0b3I6dHdv"), "{}", seen[1]);

        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
        let unreachable = source_with_url(&format!("http://127.0.0.1:{port}/token"));
        let error = run(async move { unreachable.authorization(Duration::from_secs(10)).await }).expect_err("nothing listens");
        assert!(error.starts_with(&format!("oauth2: cannot fetch token from http://127.0.0.1:{port}/token: cannot connect")), "{error}");
    }

    fn source_with_url(url: &str) -> TokenSource {
        TokenSource::new(Settings { client_id: "c".into(), client_secret: Secret::Inline("s".into()), scopes: vec![], token_url: url.into(), endpoint_params: vec![], tls: Err("no TLS".into()), proxy: ProxyChoice::Direct }).expect("settings")
    }

    #[test]
    fn errors_in_answers_are_named_as_go_names_them() {
        let (port, thread) = token_server(vec![
            answer("200 OK", "application/json", r#"{"error":"invalid_scope","error_description":"no such scope"}"#),
            answer("400 Bad Request", "application/x-www-form-urlencoded", "error=invalid_request"),
            answer("503 Service Unavailable", "text/html", "<h1>down</h1>"),
            answer("503 Service Unavailable", "text/html", "<h1>still down</h1>"),
        ]);
        let source = source(port, Secret::Inline("s".into()), &[], &[]);
        // Each answer is an error: the header's request, then the form's, twice (nothing
        // was learnt); each call tells the form's answer.
        let errors = run(async {
            let first = source.authorization(Duration::from_secs(10)).await;
            let second = source.authorization(Duration::from_secs(10)).await;
            (first, second)
        });
        let url = format!("http://127.0.0.1:{port}/oauth/token?tenant=a");
        assert_eq!(errors.0, Err(format!("oauth2: cannot fetch token from {url}: \"invalid_request\"")), "the form's answer after the header's");
        assert_eq!(errors.1, Err(format!("oauth2: cannot fetch token from {url}: 503 Service Unavailable; response: \"<h1>still down</h1>\"")));
        thread.join().expect("server");
    }

    #[test]
    fn settings_are_checked() {
        let settings = |client_id: &str, token_url: &str, scopes: Vec<String>, params: Vec<(String, String)>| Settings { client_id: client_id.into(), client_secret: Secret::Inline(String::new()), scopes, token_url: token_url.into(), endpoint_params: params, tls: Err("no TLS".into()), proxy: ProxyChoice::Direct };
        let error = |s: Settings| TokenSource::new(s).expect_err("refused");
        assert_eq!(error(settings("", "http://t/", vec![], vec![])), "oauth2 client_id must be configured");
        assert_eq!(error(settings("c", "", vec![], vec![])), "oauth2 token_url must be configured");
        assert!(error(settings("c", "ftp://t/", vec![], vec![])).starts_with("oauth2 token_url: "));
        assert!(error(settings("c", "http://t/", vec!["a".into()], vec![("scope".into(), "b".into())])).contains("cannot overwrite parameter \"scope\""));
        assert!(TokenSource::new(settings("c", "http://t/", vec![], vec![("scope".into(), "b".into())])).is_ok(), "scope from endpoint_params alone");
    }

    #[test]
    fn token_responses_read_as_go_reads_them() {
        let now = Instant::now();
        let token = token_from(Fields { access_token: "x".into(), token_type: "Custom".into(), expires_in: Some(60), ..Fields::default() }, now).expect("token");
        assert_eq!((token.header.as_str(), token.renew_at), ("Custom x", Some(now + Duration::from_secs(50))));
        let token = token_from(Fields { access_token: "x".into(), token_type: String::new(), expires_in: None, ..Fields::default() }, now).expect("token");
        assert_eq!((token.header.as_str(), token.renew_at), ("Bearer x", None));
        assert_eq!(json_fields(br#"{"access_token":"a","expires_in":12.0}"#).map(|f| f.expires_in), Ok(Some(12)));
        assert!(json_fields(b"<html>").expect_err("not JSON").contains("cannot parse"));
        assert_eq!(form_fields(b"access_token=a%20b&expires_in=7&other=1").map(|f| (f.access_token, f.expires_in)), Ok(("a b".to_string(), Some(7))));
        assert_eq!(form_fields(b"access_token=a&expires_in=soon").map(|f| f.expires_in), Ok(None), "not a number: no expiry");
        let expired = token_from(Fields { access_token: "x".into(), expires_in: Some(-5), ..Fields::default() }, now).expect("token");
        assert!(expired.renew_at.is_some_and(|at| at <= now), "a negative expires_in is expired");
        assert!(!form_fields(b"access_token=s3cr%zzet").expect_err("bad escape").contains("s3cr"), "the token stays out of the message");
    }
}
