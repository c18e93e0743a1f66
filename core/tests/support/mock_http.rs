//! HTTP servers on 127.0.0.1 for the clients under test: an Alertmanager that keeps the alerts
//! it is sent, and a mock API answering each request as a test's function says.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// One request a mock API saw: method, path (without the query), query, headers (names in
/// lower case) and body.
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }
}

/// A mock Alertmanager (on `mock_api`): records the path and body of every POST and
/// answers 200.
pub struct MockAlertmanager {
    pub port: u16,
    posts: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl MockAlertmanager {
    pub fn start() -> MockAlertmanager {
        let posts: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
        let recorded = posts.clone();
        let port = mock_api(move |_, request| {
            if request.method == "POST" {
                recorded.lock().map(|mut r| r.push((request.path.clone(), request.body.clone()))).ok();
            }
            Some((200, Vec::new(), String::new()))
        });
        MockAlertmanager { port, posts }
    }

    /// Every alert posted so far to `path`, in the order received.
    pub fn alerts(&self, path: &str) -> Vec<serde_json::Value> {
        let posts = self.posts.lock().map(|p| p.clone()).unwrap_or_default();
        posts.iter().filter(|(at, _)| at == path).filter_map(|(_, body)| serde_json::from_str::<serde_json::Value>(body).ok()).flat_map(|b| b.as_array().cloned().unwrap_or_default()).collect()
    }
}

/// A mock answer: status, extra header lines (`Name: value`) and body.
pub type Answer = (u16, Vec<String>, String);

/// A mock API on a loopback port (HTTP/1.1, kept alive, bodies read by their length): each
/// request is answered by `answer(own port, request)`, 404 where it answers None. Unlike
/// `Exporter`, it sees methods and bodies and ignores the query unless `answer` looks at it,
/// for APIs asked differently by the two clients (Consul's blocking parameters, Docker's
/// negotiated version prefix, AWS' POSTed actions). Its threads end with the test process.
pub fn mock_api(answer: impl Fn(u16, &Request) -> Option<Answer> + Send + Sync + 'static) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind mock API");
    let port = listener.local_addr().expect("mock API address").port();
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let answer = answer.clone();
            std::thread::spawn(move || serve_mock(stream, port, &*answer));
        }
    });
    port
}

fn serve_mock(stream: std::net::TcpStream, port: u16, answer: &dyn Fn(u16, &Request) -> Option<Answer>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(read_half) = stream.try_clone() else { return };
    let (mut reader, mut stream) = (BufReader::new(read_half), stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.trim_end().split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let length: usize = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let request = Request { method, path: path.to_string(), query: query.to_string(), headers, body: String::from_utf8_lossy(&body).into_owned() };
        let (status, extra, text) = answer(port, &request).unwrap_or((404, Vec::new(), format!("no mock answer for {} {}", request.method, target)));
        let extra: String = extra.iter().map(|h| format!("{h}\r\n")).collect();
        // A HEAD answer (Docker's client pings with one) has the length but not the body.
        let body = if request.method == "HEAD" { "" } else { text.as_str() };
        let reply = format!("HTTP/1.1 {status} Mock\r\n{extra}Content-Length: {}\r\n\r\n{body}", text.len());
        if stream.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
