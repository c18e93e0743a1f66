//! A target to scrape: an HTTP server on 127.0.0.1 (or a Unix socket) answering a body, or set answers per path
//! and query, and recording the request heads it gets.

use std::io::{BufReader, Write};
use std::time::{Duration, Instant};

use super::read_request_head;

/// A scrape target on a loopback port (or a Unix socket): answers every GET (HTTP/1.1, kept alive) with
/// `body`'s text at that moment, or with the answer `route` set for the request's path and
/// query, and records each request's head. Its threads end with the test process.
pub struct Exporter {
    pub port: u16,
    pub body: std::sync::Arc<std::sync::Mutex<String>>,
    pub requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    routes: Routes,
}

/// A connected socket an exporter reads requests from and writes answers to, through two
/// handles.
trait Connection: std::io::Read + Write + Send + Sized + 'static {
    fn duplicate(&self) -> std::io::Result<Self>;
}

impl Connection for std::net::TcpStream {
    fn duplicate(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

impl Connection for std::os::unix::net::UnixStream {
    fn duplicate(&self) -> std::io::Result<Self> {
        self.try_clone()
    }
}

/// An exporter's set answers: path and query → (status, extra header lines, body).
type Routes = std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (u16, String, Vec<u8>)>>>;

impl Exporter {
    pub fn start(initial: &str) -> Exporter {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind exporter");
        let port = listener.local_addr().expect("exporter address").port();
        Exporter::serving(port, initial, move || listener.accept().map(|(stream, _)| stream))
    }

    /// The same target on the Unix socket at `path` (its `port` is 0).
    pub fn start_on_unix_socket(path: &std::path::Path, initial: &str) -> Exporter {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind exporter socket");
        Exporter::serving(0, initial, move || listener.accept().map(|(stream, _)| stream))
    }

    /// An exporter answering each connection `accept` gives, on a thread of its own.
    fn serving<S: Connection>(port: u16, initial: &str, mut accept: impl FnMut() -> std::io::Result<S> + Send + 'static) -> Exporter {
        use std::sync::{Arc, Mutex};
        let body = Arc::new(Mutex::new(initial.to_string()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let routes: Routes = Arc::default();
        let (served, recorded, routed) = (body.clone(), requests.clone(), routes.clone());
        std::thread::spawn(move || loop {
            let Ok(stream) = accept() else { continue };
            let (served, recorded, routed) = (served.clone(), recorded.clone(), routed.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(match stream.duplicate() {
                    Ok(s) => s,
                    Err(_) => return,
                });
                let mut stream = stream;
                while let Some(head) = read_request_head(&mut reader) {
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    recorded.lock().map(|mut r| r.push(head)).ok();
                    // A routed path and query also answers requests that add query
                    // parameters after it (a Consul blocking query's index and wait).
                    let route = routed.lock().ok().and_then(|r| r.get(&path).cloned().or_else(|| r.iter().find(|(key, _)| key.contains('?') && path.strip_prefix(key.as_str()).is_some_and(|rest| rest.starts_with('&'))).map(|(_, v)| v.clone())));
                    let answer = match route {
                        Some((status, headers, body)) => [format!("HTTP/1.1 {status} Routed\r\n{headers}Content-Length: {}\r\n\r\n", body.len()).into_bytes(), body].concat(),
                        None => {
                            let text = served.lock().map(|b| b.clone()).unwrap_or_default();
                            format!("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{text}", text.len()).into_bytes()
                        }
                    };
                    if stream.write_all(&answer).is_err() {
                        return;
                    }
                }
            });
        });
        Exporter { port, body, requests, routes }
    }

    /// Answers GETs of `path_and_query` (and of it with more query parameters after it) with
    /// `status`, `headers` (each `Name: value`) and `body`.
    pub fn route(&self, path_and_query: &str, status: u16, headers: &[&str], body: &str) {
        self.route_bytes(path_and_query, status, headers, body.as_bytes());
    }

    /// `route` with a body that need not be text (a protobuf answer).
    pub fn route_bytes(&self, path_and_query: &str, status: u16, headers: &[&str], body: &[u8]) {
        let header_lines: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
        if let Ok(mut routes) = self.routes.lock() {
            routes.insert(path_and_query.to_string(), (status, header_lines, body.to_vec()));
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set_body(&self, text: &str) {
        if let Ok(mut body) = self.body.lock() {
            *body = text.to_string();
        }
    }

    /// The heads of the requests seen so far.
    pub fn request_heads(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// How many requests so far began with `prefix` (`"GET /v1/x "`).
    pub fn times_asked(&self, prefix: &str) -> usize {
        self.request_heads().iter().filter(|h| h.starts_with(prefix)).count()
    }

    /// Waits until `more` requests beginning with `prefix` came after the `before` counted
    /// (`times_asked`); fails after `limit`.
    pub fn wait_asked(&self, prefix: &str, before: usize, more: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.times_asked(prefix) < before + more {
            assert!(Instant::now() < deadline, "{prefix:?} not asked {more} more times within {limit:?}: {:?}", self.request_heads());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
